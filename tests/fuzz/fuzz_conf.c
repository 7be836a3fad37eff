/*
 * fuzz_conf.c — the redsink.conf parser (lib/conf.c, rs_conf_load).
 *
 * Input: the whole file. It is read through a memory file (fz_memfile). An
 * input that names a path under /dev, /proc or /sys is skipped: the
 * *-password-file directives open the path they are given, and a harness
 * must not read a terminal or block on a pipe.
 *
 * Invariants checked after a successful load: the required directives are
 * set (read endpoint, sinkhole-ipv4), the write endpoint defaults to the read
 * one, every default is filled, values are within their documented ranges,
 * and an order parsed with this configuration holds fz_check_order (so the
 * fuzzed txt-text / ede-text templates and contacts reach the answer texts).
 * After a failed load the error message names the file and *c is empty.
 */
#include "fuzz_common.h"
#include "fuzz_order_check.h"

#include <ctype.h>

#include "conf.h"
#include "sentinel.h"

static void check_endpoint(const struct rs_endpoint *e)
{
	FZ_CHECK(e->addr != NULL);
	if (e->nsentinels) {
		/* sentinel: form (lib/sentinel.h): no address of its own, a
		 * master name, every sentinel a host and a port, a role decided */
		FZ_CHECK(e->host == NULL && e->unix_path == NULL);
		FZ_CHECK(e->nsentinels <= RS_SENTINEL_MAX);
		FZ_CHECK(e->master_name != NULL && e->master_name[0] != '\0');
		FZ_CHECK(strlen(e->master_name) <= RS_MASTER_NAME_MAX);
		for (size_t i = 0; i < e->nsentinels; i++) {
			FZ_CHECK(e->sentinels[i].host != NULL && e->sentinels[i].host[0] != '\0');
			FZ_CHECK(e->sentinels[i].port >= 1 && e->sentinels[i].port <= 65535);
		}
		FZ_CHECK(e->role == RS_ROLE_PRIMARY || e->role == RS_ROLE_REPLICA);
		FZ_CHECK(e->db >= 0 && e->db <= 65535);
		return;
	}
	FZ_CHECK(e->master_name == NULL && e->sentinel_password == NULL && e->sentinel_user == NULL);
	FZ_CHECK((e->host != NULL) != (e->unix_path != NULL));
	if (e->host)
		FZ_CHECK(e->port >= 1 && e->port <= 65535);
	if (e->unix_path)
		FZ_CHECK(e->unix_path[0] == '/');
	FZ_CHECK(e->db >= 0 && e->db <= 65535);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kv[] = { "authority", "AGCOM", "reference", "42/25/CSP", "scope", "*",
					   "action", "sinkhole", "reason", "Copyright", "url",
					   "https://example.org/o/42", "lang", "it" };
	struct rs_conf c, zero = { 0 };
	char err[RS_CONF_ERRLEN];
	const char *path;
	struct rs_order *o;
	char why[256];
	int rc;

	fz_quiet();
	if (memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) || memmem(data, size, "/sys", 4))
		return 0;
	path = fz_memfile(data, size);
	if (!path)
		return 0;
	rc = rs_conf_load(path, &c, err);
	FZ_CHECK(memchr(err, '\0', RS_CONF_ERRLEN) != NULL);
	if (rc != 0) {
		FZ_CHECK(rc == RS_ECONF);
		FZ_CHECK(strncmp(err, path, strlen(path)) == 0);
		FZ_CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
		rs_conf_free(&c);
		return 0;
	}
	FZ_CHECK(c.path && strcmp(c.path, path) == 0);
	check_endpoint(&c.read);
	check_endpoint(&c.write);
	if (c.write.nsentinels) /* writes go to the primary, never a replica */
		FZ_CHECK(c.write.role == RS_ROLE_PRIMARY);
	if (c.metrics.addr)
		FZ_CHECK(c.metrics.host && c.metrics.port >= 1);
	FZ_CHECK(c.have_sinkhole4);
	FZ_CHECK(c.prefix && *c.prefix && !strpbrk(c.prefix, " \t"));
	FZ_CHECK(c.redis_timeout_ms >= 10 && c.redis_timeout_ms <= 60000);
	FZ_CHECK(c.resolver_name && *c.resolver_name);
	if (c.jurisdiction)
		FZ_CHECK(strlen(c.jurisdiction) == 2 && isupper((unsigned char)c.jurisdiction[0]) &&
			 isupper((unsigned char)c.jurisdiction[1]));
	FZ_CHECK(c.ttl >= 0 && c.ttl <= 86400);
	FZ_CHECK(c.txt_text && *c.txt_text && c.ede_text && *c.ede_text);
	FZ_CHECK(c.ede_format >= RS_EDE_JSON && c.ede_format <= RS_EDE_OFF);
	FZ_CHECK(c.language && isalpha((unsigned char)c.language[0]));
	for (size_t i = 0; i < c.ncontacts; i++)
		FZ_CHECK(c.contacts[i] && (strncmp(c.contacts[i], "mailto:", 7) == 0 ||
					   strncmp(c.contacts[i], "tel:", 4) == 0 ||
					   strncmp(c.contacts[i], "https://", 8) == 0));
	FZ_CHECK(c.geoip_country_field != NULL);
	FZ_CHECK(c.stats_flush_interval >= 1 && c.stats_retention >= 1 && c.stats_max_pending >= 100);

	rc = rs_order_parse(&c, "o-1", kv, sizeof(kv) / sizeof(kv[0]) / 2, &o, why, sizeof(why));
	if (rc == 0) {
		fz_check_order(&c, o);
		rs_order_free(o);
	}
	rs_conf_free(&c);
	FZ_CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
	return 0;
}
