/*
 * fuzz_prefix.c — address prefixes (lib/prefix.c) and the list's prefix
 * table (lib/list.c: rs_list_prefix_*, rs_list_commit, rs_list_match_addr).
 *
 * Input: one mode octet, then the rest.
 *   mode bit 0 clear  the rest is text for rs_prefix_parse (cut at the first
 *                     NUL octet);
 *   mode bit 0 set    the rest is a program of list operations, records of
 *                     op (1), length (1), order (1) and address (4 or 16
 *                     octets, by op bit 0x10): add, delete, protect,
 *                     unprotect, commit, remove an order (and sweep it);
 *                     the length is taken modulo the family's width + 1 and
 *                     the address masked to it. After the program, a
 *                     commit, then lookups.
 *
 * Invariants checked:
 *  - parse: success gives a valid prefix (rs_prefix_valid) whose canonical
 *    text (rs_prefix_format, < RS_PREFIX_TEXT_MAX octets, of [0-9a-f:./])
 *    parses back to the same prefix and formats to the same text; the prefix
 *    contains itself and holds its own address; failure says why ("'...':
 *    ...", NUL-terminated) and zeroes the prefix;
 *  - list: for addresses taken from the input and for the first and last
 *    address of every prefix and their neighbours, rs_list_match_addr gives
 *    what a brute-force oracle over the operations gives (protected if any
 *    protected prefix holds the address; else the longest prefix with an
 *    applying order; else pass), the blocking prefix holds the address and
 *    lists the order returned; rs_list_has_prefixes is true exactly when a
 *    prefix is live; stats count the live prefixes. Uncommitted changes are
 *    invisible: before the final commit the verdicts are those of the last
 *    commit.
 */
#include "fuzz_common.h"

#include "list.h"
#include "prefix.h"

/* ---- the parser ---- */

static void fuzz_parse(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[128], text[RS_PREFIX_TEXT_MAX], text2[RS_PREFIX_TEXT_MAX];
	struct rs_prefix p, q;
	size_t n;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(err, 'x', sizeof(err));
	if (rs_prefix_parse(s, &p, err, sizeof(err)) != 0) {
		static const struct rs_prefix zero;
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FZ_CHECK(err[0] == '\'');
		FZ_CHECK(memcmp(&p, &zero, sizeof(p)) == 0);
		free(s);
		return;
	}
	FZ_CHECK(rs_prefix_valid(&p));
	FZ_CHECK(strlen(s) < RS_PREFIX_TEXT_MAX);
	n = rs_prefix_format(&p, text, sizeof(text));
	FZ_CHECK(n > 0 && n < RS_PREFIX_TEXT_MAX && strlen(text) == n);
	FZ_CHECK(strspn(text, "0123456789abcdef:./") == n);
	FZ_CHECK(strchr(text, '/') != NULL);
	FZ_CHECK(rs_prefix_parse(text, &q, err, sizeof(err)) == 0);
	FZ_CHECK(rs_prefix_equal(&p, &q));
	FZ_CHECK(rs_prefix_format(&q, text2, sizeof(text2)) == n && strcmp(text, text2) == 0);
	FZ_CHECK(rs_prefix_contains(&p, &q) && rs_prefix_overlaps(&p, &q));
	FZ_CHECK(rs_prefix_has_addr(&p, p.family, p.addr));
	FZ_CHECK(!rs_prefix_has_addr(&p, p.family == 4 ? 6 : 4, p.addr));
	/* a cut buffer is still terminated and a prefix of the text */
	for (size_t cap = 0; cap < 8; cap++) {
		char small[8];
		memset(small, 'x', sizeof(small));
		FZ_CHECK(rs_prefix_format(&p, small, cap) == n);
		if (cap)
			FZ_CHECK(strlen(small) == (n < cap ? n : cap - 1) && strncmp(small, text, strlen(small)) == 0);
	}
	free(s);
}

/* ---- the list against an oracle ---- */

enum { MAXP = 64, NORD = 4 };

struct model {
	struct rs_prefix p;
	bool prot;
	bool ord[NORD];
};

struct oracle {
	struct model m[MAXP];
	size_t n;
	bool order_live[NORD];
};

static const bool order_applies[NORD] = { true, true, false, false }; /* o2 out of scope, o3 expired */

static struct model *find(struct oracle *o, const struct rs_prefix *p)
{
	for (size_t i = 0; i < o->n; i++)
		if (rs_prefix_equal(&o->m[i].p, p))
			return &o->m[i];
	return NULL;
}

static bool live(const struct model *m)
{
	if (m->prot)
		return true;
	for (int k = 0; k < NORD; k++)
		if (m->ord[k])
			return true;
	return false;
}

/* Listed by an order (what rs_list_has_prefixes counts). */
static bool listed(const struct model *m)
{
	for (int k = 0; k < NORD; k++)
		if (m->ord[k])
			return true;
	return false;
}

static enum rs_verdict oracle_match(const struct oracle *o, int family, const uint8_t *a, struct rs_prefix *best)
{
	int bl = -1;

	for (size_t i = 0; i < o->n; i++) {
		const struct model *m = &o->m[i];
		bool applies = false;
		if (!live(m) || !rs_prefix_has_addr(&m->p, family, a))
			continue;
		if (m->prot)
			return RS_PROTECTED;
		for (int k = 0; k < NORD; k++)
			applies |= m->ord[k] && o->order_live[k] && order_applies[k];
		if (applies && m->p.len > bl) {
			bl = m->p.len;
			*best = m->p;
		}
	}
	return bl >= 0 ? RS_BLOCKED : RS_PASS;
}

static void check_addr(const struct rs_list *l, const struct oracle *o, int family, const uint8_t *a)
{
	struct rs_prefix best;
	struct rs_match m;
	enum rs_verdict want = oracle_match(o, family, a, &best), got;

	memset(&m, 0, sizeof(m));
	got = rs_list_match_addr(l, family, a, 1700000000, &m);
	if (got != want)
		fprintf(stderr, "verdict %d, oracle %d\n", got, want);
	FZ_CHECK(got == want);
	if (got == RS_BLOCKED) {
		bool listed = false;
		FZ_CHECK(m.entry == NULL && m.label == -1 && m.prefix && m.order);
		FZ_CHECK(rs_prefix_equal(&m.prefix->prefix, &best));
		FZ_CHECK(rs_prefix_has_addr(&m.prefix->prefix, family, a));
		for (uint16_t k = 0; k < m.prefix->nord; k++)
			listed |= rs_list_order_get(l, m.prefix->ord[k]) == m.order;
		FZ_CHECK(listed);
		FZ_CHECK(rs_order_applies(m.order, 1700000000));
	}
}

/* Every address around every prefix of o, and the given ones. */
static void check_all(const struct rs_list *l, const struct oracle *o, const uint8_t *extra, size_t nextra)
{
	size_t listed_n = 0;

	for (size_t i = 0; i < o->n; i++) {
		const struct rs_prefix *p = &o->m[i].p;
		int n = p->family == 4 ? 4 : 16;
		listed_n += listed(&o->m[i]);
		for (int kind = 0; kind < 4; kind++) {
			uint8_t a[16];
			memcpy(a, p->addr, 16);
			if (kind & 1)
				for (int b = p->len; b < n * 8; b++)
					a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
			if (kind == 2)
				for (int j = n - 1; j >= 0 && a[j]-- == 0; j--)
					;
			if (kind == 3)
				for (int j = n - 1; j >= 0 && ++a[j] == 0; j--)
					;
			check_addr(l, o, p->family, a);
		}
	}
	for (size_t i = 0; i + 16 <= nextra; i += 16) {
		check_addr(l, o, 4, extra + i);
		check_addr(l, o, 6, extra + i);
	}
	FZ_CHECK(rs_list_has_prefixes(l) == (listed_n > 0)); /* protected prefixes alone do not count */
}

static struct rs_order *make_order(int k)
{
	static struct rs_conf conf = { .language = "en", .jurisdiction = "IT" };
	static const char *const ids[NORD] = { "o0", "o1", "o2", "o3" };
	const char *kv[] = { "authority", "A", "reference", ids[k], "scope", k == 2 ? "FR" : "*", "action", "sinkhole",
			     "expires", k == 3 ? "2001-01-01" : "" };
	struct rs_order *o = NULL;
	char err[128];

	FZ_CHECK(rs_order_parse(&conf, ids[k], kv, 5, &o, err, sizeof(err)) == 0);
	return o;
}

static void fuzz_list(const uint8_t *data, size_t size)
{
	static struct oracle o, committed;
	struct rs_list *l = rs_list_new(0);
	struct rs_list_stats st;
	uint32_t idx[NORD];
	size_t i = 0, listed = 0, prot = 0;

	if (!l)
		return;
	memset(&o, 0, sizeof(o));
	for (int k = 0; k < NORD; k++) {
		FZ_CHECK(rs_list_order_set(l, make_order(k), &idx[k]) == 0);
		o.order_live[k] = true;
	}
	committed = o;
	while (i + 3 <= size) {
		uint8_t op = data[i], len = data[i + 1], ok = data[i + 2] % NORD;
		int family = (op & 0x10) ? 6 : 4, n = family == 4 ? 4 : 16;
		struct rs_prefix p = { .family = (uint8_t)family };
		struct model *m;
		int rc;

		i += 3;
		if ((op & 7) == 4) { /* commit */
			FZ_CHECK(rs_list_commit(l) == 0);
			committed = o;
			continue;
		}
		if ((op & 7) == 5) { /* remove an order (it never comes back: indexes are not reused) */
			if (o.order_live[ok]) {
				char id[4];
				snprintf(id, sizeof(id), "o%d", ok);
				FZ_CHECK(rs_list_order_remove(l, id) == 0);
				FZ_CHECK(rs_list_order_sweep(l, idx[ok]) >= 0);
				o.order_live[ok] = false;
				committed.order_live[ok] = false; /* the slot reads NULL at once */
				for (size_t j = 0; j < o.n; j++)
					o.m[j].ord[ok] = false;
			}
			continue;
		}
		if (i + (size_t)n > size)
			break;
		p.len = (uint8_t)(len % (n * 8 + 1));
		for (int b = 0; b < p.len; b++)
			if (data[i + b / 8] & (0x80u >> (b % 8)))
				p.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
		i += (size_t)n;
		FZ_CHECK(rs_prefix_valid(&p));
		m = find(&o, &p);
		if (!m && o.n < MAXP && ((op & 7) == 0 || (op & 7) == 2)) {
			m = &o.m[o.n++];
			memset(m, 0, sizeof(*m));
			m->p = p;
		}
		switch (op & 7) {
		case 0: /* add */
			rc = rs_list_prefix_add(l, &p, idx[ok]);
			if (!m) { /* the model is full: undo */
				FZ_CHECK(rc == 0);
				FZ_CHECK(rs_list_prefix_del(l, &p, idx[ok]) == 0);
				break;
			}
			/* under a removed order's index too: listed, blocks nothing */
			FZ_CHECK(rc == (m->ord[ok] ? RS_EEXIST : 0));
			m->ord[ok] = true;
			break;
		case 1: /* delete */
			rc = rs_list_prefix_del(l, &p, idx[ok]);
			FZ_CHECK(rc == (m && m->ord[ok] ? 0 : RS_ENOENT));
			if (m)
				m->ord[ok] = false;
			break;
		case 2: /* protect */
			rc = rs_list_prefix_protect(l, &p, true);
			if (!m) {
				FZ_CHECK(rc == 0);
				FZ_CHECK(rs_list_prefix_protect(l, &p, false) == 0);
				break;
			}
			FZ_CHECK(rc == (m->prot ? RS_EEXIST : 0));
			m->prot = true;
			break;
		default: /* unprotect */
			rc = rs_list_prefix_protect(l, &p, false);
			FZ_CHECK(rc == (m && m->prot ? 0 : RS_ENOENT));
			if (m)
				m->prot = false;
			break;
		}
	}
	/* before the final commit: what the last commit published */
	check_all(l, &committed, data, size);
	FZ_CHECK(rs_list_commit(l) == 0);
	check_all(l, &o, data, size);
	for (size_t j = 0; j < o.n; j++) {
		bool any = false;
		for (int k = 0; k < NORD; k++)
			any |= o.m[j].ord[k];
		listed += any;
		prot += o.m[j].prot;
	}
	rs_list_stats(l, &st);
	FZ_CHECK(st.prefixes == listed && st.protected_prefixes == prot);
	rs_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_quiet();
	if (data[0] & 1)
		fuzz_list(data + 1, size - 1);
	else
		fuzz_parse(data + 1, size - 1);
	return 0;
}
