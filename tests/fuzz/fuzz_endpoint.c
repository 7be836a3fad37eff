/*
 * fuzz_endpoint.c — Sentinel endpoints (lib/sentinel.c, rs_sentinel_parse)
 * and the ROLE check of every discovered node (lib/load.c, rs_role_verdict).
 *
 * Input: a flag octet (bit 0: db= allowed, as for the tools; else as in
 * redsink.conf), then the endpoint text up to the first NUL (prefixed with
 * "sentinel:" unless it starts with it), then RESP octets: every reply is
 * given to rs_role_verdict for both roles.
 *
 * Invariants checked:
 *  - a parsed endpoint: addr is the text, 1..RS_SENTINEL_MAX sentinels, each
 *    a non-empty host without spaces/controls/'/'/'@' and a port 1..65535, a
 *    master name of letters, digits, '.', '_', '-' (1..RS_MASTER_NAME_MAX),
 *    a role of the enum, db 0..65535 and unchanged (0) when db= is not allowed;
 *    parsing the same text again gives the same endpoint (deterministic);
 *  - a rejected text: RS_EINVAL with a non-empty message that quotes the
 *    text (or says it is too long), and nothing left allocated;
 *  - rs_role_verdict returns 0, RS_EPROTO or RS_EIO, says why on failure, and
 *    never passes a replica ("slave") for the primary.
 */
#include "fuzz_common.h"

#include <hiredis/hiredis.h>
#include <strings.h>

#include "load.h"
#include "sentinel.h"

static void check_parsed(const struct rs_endpoint *e, const char *text, bool allow_db)
{
	FZ_CHECK(e->addr && strcmp(e->addr, text) == 0);
	FZ_CHECK(e->nsentinels >= 1 && e->nsentinels <= RS_SENTINEL_MAX);
	for (size_t i = 0; i < e->nsentinels; i++) {
		const char *h = e->sentinels[i].host;
		FZ_CHECK(h && *h && strlen(h) <= 253);
		for (const char *p = h; *p; p++)
			FZ_CHECK((unsigned char)*p > ' ' && *p != 0x7f && *p != '/' && *p != '@' && *p != '?');
		FZ_CHECK(e->sentinels[i].port >= 1 && e->sentinels[i].port <= 65535);
	}
	FZ_CHECK(e->master_name && *e->master_name && strlen(e->master_name) <= RS_MASTER_NAME_MAX);
	FZ_CHECK(strspn(e->master_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
		 strlen(e->master_name));
	FZ_CHECK(e->role == RS_ROLE_DEFAULT || e->role == RS_ROLE_PRIMARY || e->role == RS_ROLE_REPLICA);
	FZ_CHECK(e->db >= 0 && e->db <= 65535);
	if (!allow_db)
		FZ_CHECK(e->db == 0);
	FZ_CHECK(!e->host && !e->unix_path && !e->sentinel_password && !e->sentinel_user);
}

static void free_endpoint(struct rs_endpoint *e)
{
	free(e->addr);
	rs_sentinel_free(e);
	memset(e, 0, sizeof(*e));
}

static void fuzz_parse(const char *text, bool allow_db)
{
	struct rs_endpoint e = { 0 }, again = { 0 };
	char err[600];
	int rc;

	err[0] = '\0';
	rc = rs_sentinel_parse(text, allow_db, &e, err, sizeof(err));
	FZ_CHECK(rc == 0 || rc == RS_EINVAL || rc == RS_ENOMEM);
	if (rc) {
		FZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		FZ_CHECK(!e.sentinels && !e.nsentinels && !e.master_name && !e.addr);
		return;
	}
	check_parsed(&e, text, allow_db);
	FZ_CHECK(rs_sentinel_parse(text, allow_db, &again, err, sizeof(err)) == 0);
	FZ_CHECK(again.nsentinels == e.nsentinels && again.role == e.role && again.db == e.db);
	FZ_CHECK(strcmp(again.master_name, e.master_name) == 0);
	for (size_t i = 0; i < e.nsentinels; i++)
		FZ_CHECK(strcmp(again.sentinels[i].host, e.sentinels[i].host) == 0 &&
			 again.sentinels[i].port == e.sentinels[i].port);
	free_endpoint(&again);
	free_endpoint(&e);
}

static void fuzz_role(const uint8_t *data, size_t size)
{
	redisReader *rd;
	void *reply;

	if (fz_resp_huge_length(data, size, 1000000))
		return; /* hiredis' allocation, not ours (fz_resp_huge_length) */
	if (!(rd = redisReaderCreate()))
		return;
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
		for (int n = 0; n < 64; n++) {
			reply = NULL;
			if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
				break;
			for (int want = RS_ROLE_PRIMARY; want <= RS_ROLE_REPLICA; want++) {
				char why[200] = "";
				const redisReply *r = reply;
				int rc = rs_role_verdict(r, want, why, sizeof(why));
				FZ_CHECK(rc == 0 || rc == RS_EPROTO || rc == RS_EIO);
				if (rc)
					FZ_CHECK(why[0] && memchr(why, '\0', sizeof(why)));
				if (want == RS_ROLE_PRIMARY && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
				    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "slave") == 0)
					FZ_CHECK(rc == RS_EPROTO);
			}
			freeReplyObject(reply);
		}
	}
	redisReaderFree(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	size_t tlen;
	char *text;
	bool allow_db;

	fz_quiet();
	if (size < 1)
		return 0;
	allow_db = data[0] & 1;
	data++;
	size--;
	nul = memchr(data, '\0', size);
	tlen = nul ? (size_t)(nul - data) : size;
	text = malloc(tlen + 10);
	if (!text)
		return 0;
	if (tlen >= 9 && strncasecmp((const char *)data, "sentinel:", 9) == 0) {
		memcpy(text, data, tlen);
		text[tlen] = '\0';
	} else {
		memcpy(text, "sentinel:", 9);
		memcpy(text + 9, data, tlen);
		text[tlen + 9] = '\0';
	}
	fuzz_parse(text, allow_db);
	free(text);
	if (nul)
		fuzz_role(nul + 1, size - tlen - 1);
	return 0;
}
