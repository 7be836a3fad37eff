/*
 * seed_snapshot.c — writes the valid seeds of tests/fuzz/corpus/snapshot/
 * with the module's own rs_snapshot_write, in the harness's input format
 * (fuzz_snapshot.c: a mode octet, then the payload or the whole file).
 *
 * Usage (run.sh does not need it; rerun after a format change):
 *   build/fuzz/bin/seed_snapshot tests/fuzz/corpus/snapshot
 */
#include "fuzz_common.h"

#include <errno.h>

#include "list.h"
#include "load.h"
#include "sign.h"
#include "snapshot.h"

static struct rs_conf conf = { .ede_format = RS_EDE_JSON, .language = "en", .jurisdiction = "IT" };

static uint32_t add_order(struct rs_list *l, const char *id, const char *const *kv, size_t npairs)
{
	struct rs_order *o;
	char err[256];
	uint32_t idx;

	if (rs_order_parse(&conf, id, kv, npairs, &o, err, sizeof(err)) || rs_list_order_set(l, o, &idx)) {
		fprintf(stderr, "order %s: %s\n", id, err);
		exit(1);
	}
	return idx;
}

static void add_name(struct rs_list *l, const char *name, uint32_t idx, bool protect)
{
	uint8_t wire[RS_WIRE_MAX];
	int wl = rs_domain_wire(name, strlen(name), wire);

	if (wl < 0 || (protect ? rs_list_protect(l, wire, (size_t)wl, true) : rs_list_add(l, wire, (size_t)wl, idx))) {
		fprintf(stderr, "name %s\n", name);
		exit(1);
	}
}

static void add_prefix(struct rs_list *l, const char *text, uint32_t idx, bool protect)
{
	struct rs_prefix p;
	char err[128];

	if (rs_prefix_parse(text, &p, err, sizeof(err)) ||
	    (protect ? rs_list_prefix_protect(l, &p, true) : rs_list_prefix_add(l, &p, idx)) || rs_list_commit(l)) {
		fprintf(stderr, "prefix %s: %s\n", text, err);
		exit(1);
	}
}

/* The collateral alarm's suspended prefixes the next seeds carry (version 5). */
static struct rs_prefix susp[2];
static size_t nsusp;
/* The verified protected set's manifest the next seeds carry (version 6; NULL: none). */
static const struct rs_protsig *seed_prot;

/* Write l, then store it as seed "<dir>/<name>" (payload form) and
 * "<dir>/<name>-file" (whole-file form). */
static void emit(const char *dir, const char *name, struct rs_list *l, const char *last_id, const char *ds)
{
	char path[512], tmp[512], err[256];
	static uint8_t buf[1 << 20];
	uint8_t keep;
	FILE *f;
	size_t n;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-snapshot", dir);
	if (rs_snapshot_write(tmp, l, last_id, ds, susp, nsusp, seed_prot, err, sizeof(err))) {
		fprintf(stderr, "write: %s\n", err);
		exit(1);
	}
	f = fopen(tmp, "rb");
	n = fread(buf + 1, 1, sizeof(buf) - 1, f);
	fclose(f);
	unlink(tmp);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	keep = buf[32]; /* the header's last octet: the whole-file form needs it */
	buf[32] = 0;    /* mode 0: payload follows (the header is rebuilt) */
	fwrite(buf + 32, 1, n + 1 - 32, f);
	fclose(f);
	buf[32] = keep;
	snprintf(path, sizeof(path), "%s/%s-file", dir, name);
	f = fopen(path, "wb");
	buf[0] = 1; /* mode 1: the whole file */
	fwrite(buf, 1, n + 1, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const char *const k1[] = { "authority", "AGCOM", "reference", "42/25/CSP", "scope", "IT FR",
					   "action", "sinkhole", "issued", "2025-01-31", "expires",
					   "2030-01-01T00:00:00Z", "reason", "Copyright", "url",
					   "https://agcom.it/o/42", "lang", "it" };
	static const char *const k2[] = { "authority", "Court", "reference", "R-1", "scope", "*", "action",
					   "nxdomain" };
	static const char *const k3[] = { "authority", "Court", "reference", "R-2", "scope", "DE", "action",
					   "refused", "expires", "2001-01-01" };
	struct rs_list *l;
	uint32_t a, b, c;

	if (argc != 2) {
		fprintf(stderr, "usage: seed_snapshot DIR\n");
		return 2;
	}
	fz_quiet();
	l = rs_list_new(16);
	emit(argv[1], "empty", l, "0-0", "");
	a = add_order(l, "agcom-42", k1, 9);
	add_name(l, "pirate.example", a, false);
	add_name(l, "www.pirate.example", a, false);
	emit(argv[1], "one-order", l, "1700000000000-0", "0123456789abcdef0123456789abcdef");
	b = add_order(l, "court-1", k2, 4);
	c = add_order(l, "court-2", k3, 5);
	add_name(l, "pirate.example", b, false);
	add_name(l, "other.example", c, false);
	add_name(l, "ok.pirate.example", 0, true);
	add_name(l, "a_b-c.d0.example", b, false);
	emit(argv[1], "three-orders", l, "1700000000000-5", "0123456789abcdef0123456789abcdef");
	add_prefix(l, "192.0.2.0/24", a, false);
	add_prefix(l, "192.0.2.0/24", b, false);
	add_prefix(l, "192.0.2.128/25", c, false);
	add_prefix(l, "192.0.2.192/26", 0, true);
	add_prefix(l, "0.0.0.0/0", c, false);
	add_prefix(l, "2001:db8::/32", b, false);
	add_prefix(l, "2001:db8:1::1/128", a, false);
	add_prefix(l, "::ffff:198.51.100.0/120", a, false);
	add_prefix(l, "2001:db8:5::/48", 0, true);
	if (rs_prefix_parse("192.0.2.0/24", &susp[0], NULL, 0) || rs_prefix_parse("2001:db8::/32", &susp[1], NULL, 0))
		return 1;
	nsusp = 2; /* suspended by the collateral alarm */
	emit(argv[1], "prefixes", l, "1700000000000-6", "0123456789abcdef0123456789abcdef");
	nsusp = 0;
	rs_list_order_remove(l, "court-1");
	emit(argv[1], "removed-order", l, "1700000000001-0", ""); /* court-1's prefixes too */
	rs_list_free(l);

	/* version 4: an order carrying its verified manifest (signed mode), and a tombstone */
	l = rs_list_new(16);
	for (int revoked = 0; revoked < 2; revoked++) {
		struct rs_manifest m = { 0 };
		struct rs_setdigest *d = rs_setdigest_new();
		struct rs_order_sig *g = calloc(1, sizeof(*g));
		struct rs_order *o;
		size_t len, cnt;
		char err[256], *text;
		const char *id = revoked ? "signed-revoked" : "signed-1";
		snprintf(m.order, sizeof(m.order), "%s", id);
		m.version = revoked ? 3 : 1;
		snprintf(m.prev, sizeof(m.prev), revoked ? "%064d" : "-", 0);
		snprintf(m.key, sizeof(m.key), "0123456789abcdef");
		m.revoked = revoked;
		m.nfields = 4;
		for (int i = 0; i < 4; i++)
			m.field_name[i] = k2[2 * i], m.field_value[i] = (char *)k2[2 * i + 1];
		rs_setdigest_add(d, "signed.example", 14);
		rs_setdigest_finish(d, m.names_digest, &m.names);
		rs_setdigest_finish(rs_setdigest_new(), m.prefixes_digest, &cnt);
		text = rs_manifest_build_err(&m, &len, err, sizeof(err));
		if (!text || !g) {
			fprintf(stderr, "manifest: %s\n", err);
			return 1;
		}
		if (rs_order_parse(&conf, id, k2, 4, &o, err, sizeof(err))) {
			fprintf(stderr, "order %s: %s\n", id, err);
			return 1;
		}
		g->text = text;
		g->len = len;
		memset(g->sig, 'A', 86);
		memcpy(g->sig + 86, "==", 3);
		snprintf(g->key, sizeof(g->key), "0123456789abcdef");
		g->version = m.version;
		rs_sha256_hex(text, len, g->hash);
		g->names = m.names;
		g->revoked = m.revoked;
		o->sig = g;
		if (rs_list_order_set(l, o, &a)) {
			fprintf(stderr, "order %s: out of memory\n", id);
			return 1;
		}
		if (!revoked)
			add_name(l, "signed.example", a, false);
	}
	emit(argv[1], "signed", l, "1700000000002-0", "0123456789abcdef0123456789abcdef");

	/* version 6: the verified protected set's manifest, with the protected
	 * names and prefixes it states */
	{
		struct rs_manifest m = { 0 }, *pm = NULL;
		struct rs_setdigest *dn = rs_setdigest_new(), *dp = rs_setdigest_new();
		struct rs_delta delta[2] = { { RS_D_ADD, "safe.example" }, { RS_D_ADDIP, "192.0.2.192/26" } };
		static struct rs_protsig ps;
		char err[256], sig[89], *text;
		size_t len;

		snprintf(m.order, sizeof(m.order), "%s", RS_PROTECTED_ID);
		m.version = 2;
		snprintf(m.prev, sizeof(m.prev), "%064d", 0);
		snprintf(m.key, sizeof(m.key), "0123456789abcdef");
		rs_setdigest_add(dn, "safe.example", 12);
		rs_setdigest_add(dn, "ok.pirate.example", 17);
		rs_setdigest_finish(dn, m.names_digest, &m.names);
		rs_setdigest_add(dp, "192.0.2.192/26", 14);
		rs_setdigest_finish(dp, m.prefixes_digest, &m.prefixes);
		m.ndelta = 2;
		m.delta = delta;
		text = rs_manifest_build_err(&m, &len, err, sizeof(err));
		if (!text || rs_manifest_parse(text, len, &pm, err, sizeof(err))) {
			fprintf(stderr, "protected manifest: %s\n", err);
			return 1;
		}
		memset(sig, 'A', 86);
		memcpy(sig + 86, "==", 3);
		if (rs_protsig_set(&ps, pm, sig))
			return 1;
		add_name(l, "safe.example", 0, true);
		add_name(l, "ok.pirate.example", 0, true);
		add_prefix(l, "192.0.2.192/26", 0, true);
		seed_prot = &ps;
		emit(argv[1], "v6-protected", l, "1700000000003-0", "0123456789abcdef0123456789abcdef");
		seed_prot = NULL;
		rs_manifest_free(pm);
		free(text);
		rs_protsig_clear(&ps);
	}
	rs_list_free(l);
	return 0;
}
