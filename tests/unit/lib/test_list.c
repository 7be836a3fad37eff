/*
 * test_list.c — matching semantics and the list's add/remove/protect/orders,
 * and lock-free readers running while the writer grows, rehashes, replaces
 * and shrinks the table (scripts/test.sh also builds this file with
 * -fsanitize=thread and -fsanitize=address to check the memory ordering and
 * the deferred reclamation); the same for address prefixes: nesting,
 * protection, orders that do not apply, a brute-force oracle, and readers
 * during commits.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "conf.h"
#include "ebr.h"
#include "list.h"
#include "load.h"
#include "rs_err.h"

static struct rs_conf conf = { .jurisdiction = "IT", .language = "en" };

static struct rs_order *order(const char *id, const char *scope, const char *expires)
{
	const char *kv[] = { "authority", "Court", "reference", id, "scope", scope, "action", "sinkhole",
			     "expires", expires };
	struct rs_order *o;
	char err[256];

	assert_int_equal(rs_order_parse(&conf, id, kv, 5, &o, err, sizeof(err)), 0);
	return o;
}

static uint32_t add_order(struct rs_list *l, const char *id, const char *scope, const char *expires)
{
	uint32_t idx;

	assert_int_equal(rs_list_order_set(l, order(id, scope, expires), &idx), 0);
	return idx;
}

static int add(struct rs_list *l, const char *name, uint32_t idx)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	assert_true(n > 0);
	return rs_list_add(l, w, (size_t)n, idx);
}

static int del(struct rs_list *l, const char *name, uint32_t idx)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	return rs_list_del(l, w, (size_t)n, idx);
}

static int prot(struct rs_list *l, const char *name, bool on)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	return rs_list_protect(l, w, (size_t)n, on);
}

/* Match a text query name (converted to wire without validation: '\x' raw octets allowed). */
static enum rs_verdict match_wire(struct rs_list *l, const uint8_t *wire, size_t len, struct rs_match *m)
{
	struct rs_qname q;
	struct rs_match tmp;

	if (!m)
		m = &tmp;
	if (rs_qname_prepare(wire, len, &q) <= 0)
		return RS_PASS;
	return rs_list_match(l, &q, 1800000000, m);
}

static enum rs_verdict match(struct rs_list *l, const char *name, const char **order_id)
{
	uint8_t w[RS_WIRE_MAX];
	size_t o = 0;
	struct rs_match m;
	enum rs_verdict v;

	/* plain dotted text to wire, keeping case */
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, ".");
		w[o++] = (uint8_t)n;
		memcpy(w + o, p, n);
		o += n;
		p += n;
		if (*p == '.')
			p++;
	}
	w[o++] = 0;
	v = match_wire(l, w, o, &m);
	if (order_id)
		*order_id = v == RS_BLOCKED ? m.order->id : NULL;
	return v;
}

static void test_name_and_below(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t o = add_order(l, "o1", "*", "");
	const char *id;

	assert_int_equal(add(l, "pirate.example", o), 0);
	assert_int_equal(add(l, "pirate.example", o), RS_EEXIST);
	assert_int_equal(match(l, "pirate.example", &id), RS_BLOCKED);
	assert_string_equal(id, "o1");
	assert_int_equal(match(l, "www.pirate.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "a.b.c.d.pirate.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "WwW.PiRaTe.ExAmPlE", NULL), RS_BLOCKED);
	/* label-exact */
	assert_int_equal(match(l, "notpirate.example", NULL), RS_PASS);
	assert_int_equal(match(l, "pirate.example.com", NULL), RS_PASS);
	assert_int_equal(match(l, "example", NULL), RS_PASS);
	/* a label holding a dot or a NUL octet is not two labels */
	assert_int_equal(match_wire(l, (const uint8_t *)"\016pirate.example\000", 16, NULL), RS_PASS);
	assert_int_equal(match_wire(l, (const uint8_t *)"\003a\000b\006pirate\007example\000", 20,
				    &(struct rs_match){ 0 }), RS_BLOCKED);
	/* root */
	assert_int_equal(match_wire(l, (const uint8_t *)"\000", 1, NULL), RS_PASS);
	rs_list_free(l);
}

static void test_protected_wins(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t o = add_order(l, "o1", "*", "");

	assert_int_equal(add(l, "pirate2.example", o), 0);
	assert_int_equal(prot(l, "good.pirate2.example", true), 0);
	assert_int_equal(prot(l, "good.pirate2.example", true), RS_EEXIST);
	assert_int_equal(match(l, "pirate2.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "other.pirate2.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "good.pirate2.example", NULL), RS_PROTECTED);
	assert_int_equal(match(l, "x.good.pirate2.example", NULL), RS_PROTECTED);
	/* protecting a parent of a listed name protects it */
	assert_int_equal(add(l, "drive.big.example", o), 0);
	assert_int_equal(prot(l, "big.example", true), 0);
	assert_int_equal(match(l, "drive.big.example", NULL), RS_PROTECTED);
	assert_int_equal(prot(l, "big.example", false), 0);
	assert_int_equal(prot(l, "big.example", false), RS_ENOENT);
	assert_int_equal(match(l, "drive.big.example", NULL), RS_BLOCKED);
	rs_list_free(l);
}

static void test_scope_and_expiry(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t fr = add_order(l, "fr", "FR", "");
	uint32_t it = add_order(l, "it", "FR it", "");
	uint32_t old = add_order(l, "old", "*", "2020-01-01T00:00:00Z");
	uint32_t later = add_order(l, "later", "*", "2099-01-01");
	const char *id;

	add(l, "fr-only.example", fr);
	add(l, "expired.example", old);
	add(l, "future.example", later);
	assert_int_equal(match(l, "fr-only.example", NULL), RS_PASS);
	assert_int_equal(match(l, "expired.example", NULL), RS_PASS);
	assert_int_equal(match(l, "future.example", NULL), RS_BLOCKED);
	/* listed by an out-of-scope order and an in-scope one: the in-scope one blocks */
	add(l, "both.example", fr);
	add(l, "both.example", it);
	assert_int_equal(match(l, "both.example", &id), RS_BLOCKED);
	assert_string_equal(id, "it");
	/* an out-of-scope child does not hide an in-scope parent */
	add(l, "parent.example", it);
	add(l, "child.parent.example", fr);
	assert_int_equal(match(l, "x.child.parent.example", &id), RS_BLOCKED);
	assert_string_equal(id, "it");
	rs_list_free(l);
}

static void test_del_and_orders(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", ""), b = add_order(l, "b", "*", "");
	struct rs_list_stats st;

	add(l, "x.example", a);
	add(l, "x.example", b);
	assert_int_equal(del(l, "x.example", a), 0);
	assert_int_equal(del(l, "x.example", a), RS_ENOENT);
	assert_int_equal(match(l, "x.example", NULL), RS_BLOCKED);
	assert_int_equal(del(l, "x.example", b), 0);
	assert_int_equal(match(l, "x.example", NULL), RS_PASS);
	assert_int_equal(del(l, "nothere.example", b), RS_ENOENT);
	/* removing an order unblocks its domains; its index is never reused */
	add(l, "y.example", a);
	assert_int_equal(rs_list_order_remove(l, "a"), 0);
	assert_int_equal(rs_list_order_remove(l, "a"), RS_ENOENT);
	assert_int_equal(match(l, "y.example", NULL), RS_PASS);
	assert_int_equal(rs_list_order_find(l, "b"), b);
	assert_int_equal(add_order(l, "c", "*", ""), 2);
	rs_list_stats(l, &st);
	assert_int_equal(st.orders, 2);
	assert_int_equal(st.domains, 1);
	rs_list_free(l);
}

/* Many adds and deletes through growth and tombstones; memory stays within budget. */
static void test_scale_and_memory(void **state)
{
	enum { N = 200000 };
	struct rs_list *l = rs_list_new(0); /* deliberately undersized: exercises growth */
	uint32_t o = add_order(l, "big", "*", "");
	struct rs_list_stats st;
	char name[64];

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "site%d-stream.example", i);
		assert_int_equal(add(l, name, o), 0);
	}
	/* budget: 64 bytes per domain beyond the names, table included */
	rs_list_stats(l, &st);
	assert_int_equal(st.domains, N);
	assert_true(st.mem_bytes - st.name_bytes <= 64 * st.domains);
	for (int i = 0; i < N; i += 2) {
		snprintf(name, sizeof(name), "site%d-stream.example", i);
		assert_int_equal(del(l, name, o), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "www.site%d-stream.example", i);
		assert_int_equal(match(l, name, NULL), (i % 2) ? RS_BLOCKED : RS_PASS);
	}
	rs_list_stats(l, &st);
	assert_int_equal(st.domains, N / 2);
	/* deleting down to a fraction of the table shrinks it again */
	for (int i = 1; i < N - 100; i += 2) {
		snprintf(name, sizeof(name), "site%d-stream.example", i);
		assert_int_equal(del(l, name, o), 0);
	}
	rs_list_stats(l, &st);
	assert_int_equal(st.domains, 50);
	assert_true(st.slots <= 1024);
	snprintf(name, sizeof(name), "www.site%d-stream.example", N - 1);
	assert_int_equal(match(l, name, NULL), RS_BLOCKED);
	rs_list_free(l);
}

/*
 * Readers during growth: reader threads match names while the writer adds
 * enough names to rehash the table several times, replaces entries (a second
 * order on a name), deletes and shrinks again. A name listed before the
 * readers start must be BLOCKED on every lookup, a name never listed must
 * PASS; churned names may be either but must never crash or read freed
 * memory (TSan/ASan builds). Retired memory is only reclaimed after the
 * readers are gone, as the grace period guarantees in the module.
 */
enum { MT_READERS = 3, MT_STABLE = 64, MT_CHURN = 60000 };

struct mt_shared {
	struct rs_list *l;
	atomic_bool stop;
	atomic_long lookups;
	atomic_long wrong;
};

static void mt_name(char *buf, size_t len, const char *kind, int i)
{
	snprintf(buf, len, "%s%d.example", kind, i);
}

static void *mt_reader(void *arg)
{
	struct mt_shared *sh = arg;
	char name[64];
	long n = 0;

	while (!atomic_load(&sh->stop)) {
		for (int i = 0; i < MT_STABLE; i++) {
			const char *id = NULL;

			mt_name(name, sizeof(name), "www.stable", i);
			if (match(sh->l, name, &id) != RS_BLOCKED || strcmp(id, "stable") != 0)
				atomic_fetch_add(&sh->wrong, 1);
			mt_name(name, sizeof(name), "never", i);
			if (match(sh->l, name, NULL) != RS_PASS)
				atomic_fetch_add(&sh->wrong, 1);
			mt_name(name, sizeof(name), "churn", (int)(n * 7919 % MT_CHURN));
			(void)match(sh->l, name, NULL); /* either answer; must not crash */
			n += 3;
		}
	}
	atomic_fetch_add(&sh->lookups, n);
	return NULL;
}

static void test_readers_during_growth(void **state)
{
	struct mt_shared sh = { .l = rs_list_new(0) }; /* undersized: grows many times */
	uint32_t stable = add_order(sh.l, "stable", "*", ""), churn = add_order(sh.l, "churn", "*", "");
	uint32_t other = add_order(sh.l, "other", "*", "");
	pthread_t th[MT_READERS];
	struct rs_list_stats st;
	char name[64];
	size_t slots_before;

	for (int i = 0; i < MT_STABLE; i++) {
		mt_name(name, sizeof(name), "stable", i);
		assert_int_equal(add(sh.l, name, stable), 0);
	}
	rs_list_stats(sh.l, &st);
	slots_before = st.slots;
	rs_list_set_quiescent(sh.l, false); /* readers exist from now on */
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mt_reader, &sh), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MT_CHURN; i++) { /* growth: several rehashes */
			mt_name(name, sizeof(name), "churn", i);
			assert_int_equal(add(sh.l, name, churn), 0);
		}
		for (int i = 0; i < MT_CHURN; i += 3) { /* copy-on-write replacement */
			mt_name(name, sizeof(name), "churn", i);
			assert_int_equal(add(sh.l, name, other), 0);
		}
		for (int i = 0; i < MT_STABLE; i += 2) { /* a stable name gains and loses an order */
			mt_name(name, sizeof(name), "stable", i);
			assert_int_equal(add(sh.l, name, other), 0);
			assert_int_equal(del(sh.l, name, other), 0);
		}
		for (int i = 0; i < MT_CHURN; i++) { /* tombstones, then shrink */
			mt_name(name, sizeof(name), "churn", i);
			assert_int_equal(del(sh.l, name, churn), 0);
			if (i % 3 == 0)
				assert_int_equal(del(sh.l, name, other), 0);
		}
	}
	rs_list_stats(sh.l, &st);
	atomic_store(&sh.stop, true);
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_true(st.retired > 0); /* nothing was freed under the readers */
	assert_int_equal(st.domains, MT_STABLE);
	assert_true(atomic_load(&sh.lookups) > 0);
	assert_int_equal(atomic_load(&sh.wrong), 0);
	printf("readers: %ld lookups during growth (%zu -> %zu slots at the end)\n", atomic_load(&sh.lookups),
	       slots_before, st.slots);
	rs_list_set_quiescent(sh.l, true); /* readers gone: frees the retired memory */
	rs_list_stats(sh.l, &st);
	assert_int_equal(st.retired, 0);
	rs_list_free(sh.l);
}

/* ---- address prefixes ---- */

static struct rs_prefix pfx(const char *text)
{
	struct rs_prefix p;
	char err[128];

	if (rs_prefix_parse(text, &p, err, sizeof(err)))
		fail_msg("%s", err);
	return p;
}

static int padd(struct rs_list *l, const char *text, uint32_t idx)
{
	struct rs_prefix p = pfx(text);

	return rs_list_prefix_add(l, &p, idx);
}

static int pdel(struct rs_list *l, const char *text, uint32_t idx)
{
	struct rs_prefix p = pfx(text);

	return rs_list_prefix_del(l, &p, idx);
}

static int pprot(struct rs_list *l, const char *text, bool on)
{
	struct rs_prefix p = pfx(text);

	return rs_list_prefix_protect(l, &p, on);
}

/* Match an address text at time now; *order_id and *prefix (canonical text,
 * static) when blocked. */
static enum rs_verdict amatch_at(const struct rs_list *l, const char *addr, int64_t now, const char **order_id,
				 const char **prefix)
{
	static char text[RS_PREFIX_TEXT_MAX];
	uint8_t a[16];
	int family = strchr(addr, ':') ? 6 : 4;
	struct rs_match m = { 0 };
	enum rs_verdict v;

	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, addr, a), 1);
	v = rs_list_match_addr(l, family, a, now, &m);
	if (v == RS_BLOCKED) {
		assert_null(m.entry);
		assert_int_equal(m.label, -1);
		assert_non_null(m.prefix);
		assert_non_null(m.order);
		rs_prefix_format(&m.prefix->prefix, text, sizeof(text));
	}
	if (order_id)
		*order_id = v == RS_BLOCKED ? m.order->id : NULL;
	if (prefix)
		*prefix = v == RS_BLOCKED ? text : NULL;
	return v;
}

static enum rs_verdict amatch(const struct rs_list *l, const char *addr, const char **order_id, const char **prefix)
{
	return amatch_at(l, addr, 1800000000, order_id, prefix);
}

/*
 * An image served in place (rs_list_image: a snapshot's entries and probe
 * table, as snapshot.c reads them), then adopted while readers match names
 * (rs_list_adopt with a copy, as the settle of a mapped file does), then
 * changed: a stable name is BLOCKED on every lookup throughout, a name never
 * listed PASSes, and nothing is freed under the readers (TSan/ASan builds).
 */
static void test_readers_while_an_image_is_adopted(void **state)
{
	struct mt_shared sh = { .l = rs_list_new(0) };
	uint32_t stable = add_order(sh.l, "stable", "*", ""), other = add_order(sh.l, "other", "*", "");
	struct rs_list_stats cnt = { 0 }, st;
	size_t cap = 16, alen = 0, off[MT_STABLE], len[MT_STABLE];
	uint8_t wire[MT_STABLE][RS_WIRE_MAX], *block, *copy;
	uint32_t *slot, *table;
	pthread_t th[MT_READERS];
	char name[64];

	for (int i = 0; i < MT_STABLE; i++) {
		mt_name(name, sizeof(name), "stable", i);
		len[i] = (size_t)rs_domain_wire(name, strlen(name), wire[i]);
		off[i] = alen;
		alen += (sizeof(struct rs_entry) + 4 + len[i] + 3) & ~(size_t)3;
	}
	while (cap < MT_STABLE + MT_STABLE / 3 + 1)
		cap <<= 1;
	block = calloc(1, alen + 4 * cap);
	table = calloc(cap, sizeof(*table));
	assert_non_null(block);
	assert_non_null(table);
	slot = (uint32_t *)(void *)(block + alen);
	for (int i = 0; i < MT_STABLE; i++) {
		struct rs_entry *e = (struct rs_entry *)(void *)(block + off[i]);
		uint64_t h = rs_wire_hash(wire[i], len[i]);
		size_t j = (size_t)h & (cap - 1);
		e->hash = (uint32_t)(h >> 32);
		e->wlen = (uint8_t)len[i];
		e->nord = 1;
		e->ord[0] = stable;
		memcpy(e->ord + 1, wire[i], len[i]);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = (uint32_t)(off[i] / 4 + 1);
		cnt.domains++;
		cnt.name_bytes += len[i] - 2;
	}
	memcpy(table, slot, cap * sizeof(*table)); /* the settle's table: the same offsets, in the copy */
	assert_int_equal(rs_list_image(sh.l, block, alen + 4 * cap, false, block, alen, slot, cap, MT_STABLE,
				       MT_STABLE), 0);
	rs_list_set_quiescent(sh.l, false);
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mt_reader, &sh), 0);
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL); /* lookups in the image */
	copy = malloc(alen);
	assert_non_null(copy);
	memcpy(copy, block, alen);
	assert_int_equal(rs_list_adopt(sh.l, copy, alen, table, cap, &cnt), 0);
	assert_null(rs_list_image_get(sh.l));
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < MT_STABLE; i += 2) { /* entries of the copy, replaced and back */
			mt_name(name, sizeof(name), "stable", i);
			assert_int_equal(add(sh.l, name, other), 0);
			assert_int_equal(del(sh.l, name, other), 0);
		}
		for (int i = 0; i < 2000; i++) { /* growth: rehashes move the copy's entries */
			mt_name(name, sizeof(name), "churn", i);
			assert_int_equal(add(sh.l, name, other), 0);
		}
		for (int i = 0; i < 2000; i++) {
			mt_name(name, sizeof(name), "churn", i);
			assert_int_equal(del(sh.l, name, other), 0);
		}
	}
	atomic_store(&sh.stop, true);
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	rs_list_stats(sh.l, &st);
	assert_int_equal(st.domains, MT_STABLE);
	assert_true(atomic_load(&sh.lookups) > 0);
	assert_int_equal(atomic_load(&sh.wrong), 0);
	free(table);
	rs_list_set_quiescent(sh.l, true);
	rs_list_free(sh.l);
}

static void test_prefix_nesting(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", ""), b = add_order(l, "b", "*", "");
	const char *id, *px;

	assert_false(rs_list_has_prefixes(l));
	assert_int_equal(amatch(l, "192.0.2.1", NULL, NULL), RS_PASS); /* no table at all */
	assert_int_equal(padd(l, "192.0.2.0/24", a), 0);
	assert_int_equal(padd(l, "192.0.2.0/24", a), RS_EEXIST);
	assert_int_equal(padd(l, "192.0.2.128/25", b), 0);
	assert_int_equal(padd(l, "192.0.2.200/32", a), 0);
	assert_int_equal(padd(l, "198.51.100.0/24", b), 0);
	assert_int_equal(padd(l, "2001:db8::/32", a), 0);
	assert_int_equal(padd(l, "2001:db8:1::/48", b), 0);
	assert_int_equal(padd(l, "::ffff:203.0.113.0/120", a), 0);
	assert_int_equal(padd(l, "255.255.255.255/32", b), 0);
	assert_false(rs_list_has_prefixes(l)); /* nothing visible before the commit */
	assert_int_equal(amatch(l, "192.0.2.1", NULL, NULL), RS_PASS);
	assert_int_equal(rs_list_commit(l), 0);
	assert_true(rs_list_has_prefixes(l));

	/* the most specific prefix wins */
	assert_int_equal(amatch(l, "192.0.2.1", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "a");
	assert_string_equal(px, "192.0.2.0/24");
	assert_int_equal(amatch(l, "192.0.2.127", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.0/24");
	assert_int_equal(amatch(l, "192.0.2.128", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "b");
	assert_string_equal(px, "192.0.2.128/25");
	assert_int_equal(amatch(l, "192.0.2.199", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.128/25");
	assert_int_equal(amatch(l, "192.0.2.200", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "a");
	assert_string_equal(px, "192.0.2.200/32");
	assert_int_equal(amatch(l, "192.0.2.201", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.128/25");
	assert_int_equal(amatch(l, "192.0.2.255", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.128/25");
	/* just outside, between and beyond */
	assert_int_equal(amatch(l, "192.0.1.255", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "192.0.3.0", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "0.0.0.0", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "198.51.100.77", &id, NULL), RS_BLOCKED);
	assert_string_equal(id, "b");
	assert_int_equal(amatch(l, "198.51.101.0", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "255.255.255.255", NULL, &px), RS_BLOCKED);
	assert_string_equal(px, "255.255.255.255/32");
	assert_int_equal(amatch(l, "255.255.255.254", NULL, NULL), RS_PASS);
	/* IPv6, and the families apart */
	assert_int_equal(amatch(l, "2001:db8:1::5", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "2001:db8:1::/48");
	assert_int_equal(amatch(l, "2001:db8:2::5", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "2001:db8::/32");
	assert_int_equal(amatch(l, "2001:db9::", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "::ffff:203.0.113.9", NULL, &px), RS_BLOCKED);
	assert_string_equal(px, "::ffff:203.0.113.0/120");
	assert_int_equal(amatch(l, "203.0.113.9", NULL, NULL), RS_PASS); /* mapped is IPv6 only */
	assert_int_equal(amatch(l, "::ffff:192.0.2.1", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, NULL), RS_PASS);
	assert_int_equal(rs_list_match_addr(l, 5, (const uint8_t *)"\0\0\0\0", 0, &(struct rs_match){ 0 }), RS_PASS);

	/* the parents as built */
	{
		const char *id2;
		struct rs_match m;
		uint8_t ad[4] = { 192, 0, 2, 200 };
		char t[RS_PREFIX_TEXT_MAX];
		assert_int_equal(rs_list_match_addr(l, 4, ad, 1800000000, &m), RS_BLOCKED);
		rs_prefix_format(&m.prefix->parent->prefix, t, sizeof(t));
		assert_string_equal(t, "192.0.2.128/25");
		rs_prefix_format(&m.prefix->parent->parent->prefix, t, sizeof(t));
		assert_string_equal(t, "192.0.2.0/24");
		assert_null(m.prefix->parent->parent->parent);
		(void)id2;
	}

	/* deletion: the enclosing prefix takes over */
	assert_int_equal(pdel(l, "192.0.2.128/25", b), 0);
	assert_int_equal(pdel(l, "192.0.2.128/25", b), RS_ENOENT);
	assert_int_equal(pdel(l, "192.0.2.0/24", b), RS_ENOENT); /* listed by a, not b */
	assert_int_equal(pdel(l, "10.0.0.0/8", b), RS_ENOENT);
	assert_int_equal(amatch(l, "192.0.2.130", NULL, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.128/25"); /* not committed yet */
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(amatch(l, "192.0.2.130", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "a");
	assert_string_equal(px, "192.0.2.0/24");
	/* /0 holds everything of its family */
	assert_int_equal(padd(l, "0.0.0.0/0", b), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(amatch(l, "8.8.8.8", &id, &px), RS_BLOCKED);
	assert_string_equal(px, "0.0.0.0/0");
	assert_int_equal(amatch(l, "255.255.255.254", NULL, &px), RS_BLOCKED);
	assert_string_equal(px, "0.0.0.0/0");
	assert_int_equal(amatch(l, "192.0.2.1", NULL, &px), RS_BLOCKED);
	assert_string_equal(px, "192.0.2.0/24");
	assert_int_equal(amatch(l, "2001:db9::", NULL, NULL), RS_PASS);
	/* an invalid struct is refused */
	{
		struct rs_prefix bad = pfx("10.0.0.0/8");
		bad.len = 4;
		assert_int_equal(rs_list_prefix_add(l, &bad, a), RS_EINVAL);
	}
	/* everything removed: no table */
	assert_int_equal(pdel(l, "0.0.0.0/0", b), 0);
	assert_int_equal(pdel(l, "192.0.2.0/24", a), 0);
	assert_int_equal(pdel(l, "192.0.2.200/32", a), 0);
	assert_int_equal(pdel(l, "198.51.100.0/24", b), 0);
	assert_int_equal(pdel(l, "2001:db8::/32", a), 0);
	assert_int_equal(pdel(l, "2001:db8:1::/48", b), 0);
	assert_int_equal(pdel(l, "::ffff:203.0.113.0/120", a), 0);
	assert_int_equal(pdel(l, "255.255.255.255/32", b), 0);
	assert_true(rs_list_has_prefixes(l));
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	assert_int_equal(amatch(l, "192.0.2.1", NULL, NULL), RS_PASS);
	rs_list_free(l);
}

/* Protected prefixes alone make no answer worth looking at: has_prefixes
 * counts only prefixes with an order (the fast test on every cache miss). */
static void test_prefix_has_prefixes_needs_an_order(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", "");

	assert_int_equal(pprot(l, "198.51.100.0/24", true), 0);
	assert_int_equal(pprot(l, "2001:db8::/32", true), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	assert_int_equal(amatch(l, "198.51.100.1", NULL, NULL), RS_PROTECTED); /* the table is there */
	assert_int_equal(padd(l, "192.0.2.0/24", a), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_true(rs_list_has_prefixes(l));
	/* protected and listed: counts */
	assert_int_equal(pdel(l, "192.0.2.0/24", a), 0);
	assert_int_equal(padd(l, "198.51.100.0/24", a), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_true(rs_list_has_prefixes(l));
	/* the order's last prefix goes: only protection is left */
	assert_int_equal(pdel(l, "198.51.100.0/24", a), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	/* the order removed (swept from its prefixes) */
	assert_int_equal(padd(l, "203.0.113.0/24", a), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_true(rs_list_has_prefixes(l));
	assert_int_equal(rs_list_order_remove(l, "a"), 0);
	assert_true(rs_list_order_sweep(l, a) >= 1);
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	rs_list_free(l);
}

static bool skip_text(const struct rs_pentry *pe, void *arg)
{
	char text[RS_PREFIX_TEXT_MAX];

	rs_prefix_format(&pe->prefix, text, sizeof(text));
	return strcmp(text, arg) == 0;
}

/* A prefix passed over (suspended by the collateral alarm) does not disable
 * the wider listed prefix holding it. */
static void test_prefix_match_skip_walks_up(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", ""), b = add_order(l, "b", "*", "");
	uint8_t ad[4] = { 192, 0, 2, 200 }, other[4] = { 198, 51, 100, 1 };
	struct rs_match m = { 0 };
	char text[RS_PREFIX_TEXT_MAX];

	assert_int_equal(padd(l, "192.0.2.0/24", a), 0);
	assert_int_equal(padd(l, "192.0.2.128/25", b), 0);
	assert_int_equal(padd(l, "192.0.2.200/32", b), 0);
	assert_int_equal(padd(l, "198.51.100.1/32", b), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(rs_list_match_addr_skip(l, 4, ad, 1800000000, skip_text, "192.0.2.200/32", &m), RS_BLOCKED);
	rs_prefix_format(&m.prefix->prefix, text, sizeof(text));
	assert_string_equal(text, "192.0.2.128/25");
	assert_string_equal(m.order->id, "b");
	assert_int_equal(rs_list_match_addr_skip(l, 4, ad, 1800000000, skip_text, "192.0.2.128/25", &m), RS_BLOCKED);
	rs_prefix_format(&m.prefix->prefix, text, sizeof(text));
	assert_string_equal(text, "192.0.2.200/32"); /* only the one passed over */
	assert_int_equal(rs_list_match_addr_skip(l, 4, other, 1800000000, skip_text, "198.51.100.1/32", &m), RS_PASS);
	assert_int_equal(rs_list_match_addr_skip(l, 4, ad, 1800000000, NULL, NULL, &m), RS_BLOCKED);
	rs_prefix_format(&m.prefix->prefix, text, sizeof(text));
	assert_string_equal(text, "192.0.2.200/32");
	rs_list_free(l);
}

static void test_prefix_protection(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", "");
	struct rs_list_stats st;

	assert_int_equal(padd(l, "192.0.2.0/24", a), 0);
	assert_int_equal(padd(l, "198.51.100.0/24", a), 0);
	assert_int_equal(padd(l, "2001:db8::/32", a), 0);
	/* an inner protected prefix: only its addresses are spared */
	assert_int_equal(pprot(l, "192.0.2.64/26", true), 0);
	assert_int_equal(pprot(l, "192.0.2.64/26", true), RS_EEXIST);
	/* an enclosing protected prefix spares everything listed inside */
	assert_int_equal(pprot(l, "198.51.0.0/16", true), 0);
	/* a protected prefix that is also listed */
	assert_int_equal(padd(l, "2001:db8:5::/48", a), 0);
	assert_int_equal(pprot(l, "2001:db8:5::/48", true), 0);
	/* protection deeper than the listed prefix, below a protected one */
	assert_int_equal(pprot(l, "2001:db8:5:1::/64", true), 0);
	assert_int_equal(rs_list_commit(l), 0);
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, 4);
	assert_int_equal(st.protected_prefixes, 4);
	assert_true(st.prefix_bytes > 0 && st.prefix_bytes <= st.mem_bytes);

	assert_int_equal(amatch(l, "192.0.2.63", NULL, NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "192.0.2.64", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "192.0.2.127", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "192.0.2.128", NULL, NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "198.51.100.1", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "198.51.7.1", NULL, NULL), RS_PROTECTED); /* protected, not listed */
	assert_int_equal(amatch(l, "2001:db8:5::1", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "2001:db8:5:1::1", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "2001:db8:6::1", NULL, NULL), RS_BLOCKED);
	/* unprotect: blocked again after the commit */
	assert_int_equal(pprot(l, "198.51.0.0/16", false), 0);
	assert_int_equal(pprot(l, "198.51.0.0/16", false), RS_ENOENT);
	assert_int_equal(pprot(l, "10.0.0.0/8", false), RS_ENOENT);
	assert_int_equal(amatch(l, "198.51.100.1", NULL, NULL), RS_PROTECTED);
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(amatch(l, "198.51.100.1", NULL, NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "198.51.7.1", NULL, NULL), RS_PASS);
	assert_int_equal(pprot(l, "2001:db8:5::/48", false), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(amatch(l, "2001:db8:5::1", NULL, NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "2001:db8:5:1::1", NULL, NULL), RS_PROTECTED);
	/* a protected prefix alone still makes a table (but no answer to look at) */
	assert_int_equal(pdel(l, "192.0.2.0/24", a), 0);
	assert_int_equal(pdel(l, "198.51.100.0/24", a), 0);
	assert_int_equal(pdel(l, "2001:db8::/32", a), 0);
	assert_int_equal(pdel(l, "2001:db8:5::/48", a), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, 0);
	assert_int_equal(st.protected_prefixes, 2);
	assert_int_equal(amatch(l, "192.0.2.64", NULL, NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "192.0.2.63", NULL, NULL), RS_PASS);
	rs_list_free(l);
}

static void test_prefix_orders_not_applying(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t fr = add_order(l, "fr", "FR", ""), it = add_order(l, "it", "IT", "");
	uint32_t old = add_order(l, "old", "*", "2020-01-01T00:00:00Z");
	uint32_t soon = add_order(l, "soon", "*", "2030-01-01T00:00:00Z");
	const char *id, *px;

	assert_int_equal(padd(l, "10.0.0.0/8", it), 0);
	assert_int_equal(padd(l, "10.1.0.0/16", fr), 0);     /* out of scope: the /8 blocks */
	assert_int_equal(padd(l, "10.2.0.0/16", old), 0);    /* expired: the /8 blocks */
	assert_int_equal(padd(l, "10.3.0.0/16", soon), 0);
	assert_int_equal(padd(l, "10.3.3.0/24", fr), 0);     /* out of scope inside an applying /16 */
	assert_int_equal(padd(l, "172.16.0.0/12", fr), 0);   /* nothing applies */
	assert_int_equal(padd(l, "172.16.0.0/12", old), 0);
	assert_int_equal(padd(l, "172.16.1.0/24", soon), 0); /* several orders on one prefix */
	assert_int_equal(padd(l, "172.16.1.0/24", fr), 0);
	assert_int_equal(rs_list_commit(l), 0);

	assert_int_equal(amatch(l, "10.1.2.3", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "it");
	assert_string_equal(px, "10.0.0.0/8");
	assert_int_equal(amatch(l, "10.2.2.3", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "it");
	assert_string_equal(px, "10.0.0.0/8");
	assert_int_equal(amatch(l, "10.3.3.3", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "soon");
	assert_string_equal(px, "10.3.0.0/16");
	assert_int_equal(amatch(l, "172.16.2.1", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "172.16.1.1", &id, &px), RS_BLOCKED);
	assert_string_equal(id, "soon");
	assert_string_equal(px, "172.16.1.0/24");
	/* after "soon" expires: the parent of 10.3.3.0/24 falls back to the /8 */
	assert_int_equal(amatch_at(l, "10.3.3.3", 1900000000, &id, &px), RS_BLOCKED);
	assert_string_equal(id, "it");
	assert_string_equal(px, "10.0.0.0/8");
	assert_int_equal(amatch_at(l, "172.16.1.1", 1900000000, NULL, NULL), RS_PASS);
	/* before "old" expired, it blocked its own /16 */
	assert_int_equal(amatch_at(l, "10.2.2.3", 1500000000, &id, &px), RS_BLOCKED);
	assert_string_equal(id, "old");
	assert_string_equal(px, "10.2.0.0/16");
	/* a removed order's slot reads as NULL, even before the sweep */
	assert_int_equal(rs_list_order_remove(l, "it"), 0);
	assert_int_equal(amatch(l, "10.1.2.3", NULL, NULL), RS_PASS);
	assert_int_equal(amatch(l, "10.3.3.3", &id, NULL), RS_BLOCKED);
	assert_string_equal(id, "soon");
	rs_list_free(l);
}

static int count_pe(const struct rs_pentry *pe, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static void test_prefix_sweep_and_foreach(void **state)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = add_order(l, "a", "*", ""), b = add_order(l, "b", "*", "");
	struct rs_list_stats st;
	size_t n = 0;

	assert_int_equal(add(l, "x.example", a), 0);
	assert_int_equal(padd(l, "192.0.2.0/24", a), 0);
	assert_int_equal(padd(l, "192.0.2.0/24", b), 0);
	assert_int_equal(padd(l, "198.51.100.0/24", a), 0);
	assert_int_equal(padd(l, "2001:db8::/32", a), 0);
	assert_int_equal(pprot(l, "2001:db8::/32", true), 0);
	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(rs_list_prefix_foreach(l, count_pe, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rs_list_order_remove(l, "a"), 0);
	/* one domain and three prefixes lose the order */
	assert_int_equal(rs_list_order_sweep(l, a), 4);
	assert_int_equal(rs_list_order_sweep(l, a), 0);
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, 1);
	assert_int_equal(st.protected_prefixes, 1);
	assert_int_equal(rs_list_commit(l), 0);
	n = 0;
	rs_list_prefix_foreach(l, count_pe, &n);
	assert_int_equal(n, 2); /* 192.0.2.0/24 (b), 2001:db8::/32 (protected) */
	assert_int_equal(amatch(l, "192.0.2.1", NULL, NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "198.51.100.1", NULL, NULL), RS_PASS);
	assert_int_equal(pdel(l, "198.51.100.0/24", a), RS_ENOENT);
	/* a commit with nothing pending keeps the table */
	assert_int_equal(rs_list_commit(l), 0);
	rs_list_free(l);
}

/*
 * 10,000 random prefixes (clustered, so that many nest), some protected,
 * under orders that apply or not, against a brute-force oracle on random
 * addresses and on every prefix's first and last address and their
 * neighbours; then half of them deleted, committed and checked again.
 */
enum { OR_N = 10000, OR_ORDERS = 8, OR_RANDOM = 6000, OR_EDGES = 2000 };

struct oracle {
	struct rs_prefix p[OR_N];
	uint32_t ord[OR_N]; /* the order index of p[i] */
	bool prot[OR_N], live[OR_N];
	bool applies[OR_ORDERS];
};

static enum rs_verdict oracle_match(const struct oracle *o, int family, const uint8_t *a, struct rs_prefix *best)
{
	int bl = -1;

	for (int i = 0; i < OR_N; i++) {
		if (!o->live[i] || !rs_prefix_has_addr(&o->p[i], family, a))
			continue;
		if (o->prot[i])
			return RS_PROTECTED;
		if (o->applies[o->ord[i]] && o->p[i].len > bl) {
			bl = o->p[i].len;
			*best = o->p[i];
		}
	}
	return bl >= 0 ? RS_BLOCKED : RS_PASS;
}

static void random_addr(int family, uint8_t *a)
{
	static const uint8_t pre4[][2] = { { 10, 0 }, { 10, 1 }, { 192, 0 }, { 203, 0 } };
	int n = family == 4 ? 4 : 16;

	for (int i = 0; i < n; i++)
		a[i] = (uint8_t)(rand() >> 5);
	if (rand() % 4) { /* mostly inside the clusters */
		if (family == 4) {
			memcpy(a, pre4[rand() % 4], 2);
		} else {
			a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[4] = (uint8_t)(rand() % 3);
		}
	}
}

static void check_oracle(const struct rs_list *l, const struct oracle *o)
{
	struct rs_prefix best;
	uint8_t a[16];
	struct rs_match m;
	int seen[3] = { 0 };

	for (int iter = 0; iter < OR_RANDOM + 4 * OR_EDGES; iter++) {
		int family;
		enum rs_verdict want, got;
		if (iter < OR_RANDOM) {
			family = (iter & 1) ? 6 : 4;
			random_addr(family, a);
		} else { /* the edges of prefixes and the addresses just outside */
			const struct rs_prefix *p = &o->p[(iter - OR_RANDOM) / 4 * (OR_N / OR_EDGES)];
			int n = p->family == 4 ? 4 : 16, bits = n * 8, kind = (iter - OR_RANDOM) % 4;
			family = p->family;
			memcpy(a, p->addr, 16);
			if (kind & 1) /* last address */
				for (int b = p->len; b < bits; b++)
					a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
			if (kind >= 2) { /* one before the first, one after the last */
				if (kind == 2)
					for (int i = n - 1; i >= 0 && a[i]-- == 0; i--)
						;
				else
					for (int i = n - 1; i >= 0 && ++a[i] == 0; i--)
						;
			}
		}
		want = oracle_match(o, family, a, &best);
		memset(&m, 0, sizeof(m));
		got = rs_list_match_addr(l, family, a, 1800000000, &m);
		if (got != want)
			fail_msg("iteration %d: verdict %d, oracle %d", iter, got, want);
		seen[got]++;
		if (got == RS_BLOCKED) {
			assert_true(rs_prefix_equal(&m.prefix->prefix, &best));
			assert_true(rs_prefix_has_addr(&m.prefix->prefix, family, a));
			/* one of the prefix's orders, and one that applies */
			assert_true(m.order == rs_list_order_get(l, (uint32_t)rs_list_order_find(l, m.order->id)));
			assert_true(o->applies[rs_list_order_find(l, m.order->id)]);
		}
	}
	printf("prefixes: oracle agrees: %d pass, %d blocked, %d protected\n", seen[RS_PASS], seen[RS_BLOCKED],
	       seen[RS_PROTECTED]);
	assert_true(seen[RS_PASS] > 500 && seen[RS_BLOCKED] > 500 && seen[RS_PROTECTED] > 100);
}

static void test_prefix_oracle(void **state)
{
	static struct oracle o;
	static const char *const ids[OR_ORDERS] = { "o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7" };
	struct rs_list *l = rs_list_new(0);
	struct rs_list_stats st;
	struct timespec t0, t1;
	size_t listed = 0, prot = 0;
	double ms;

	srand(4242);
	memset(&o, 0, sizeof(o));
	for (int k = 0; k < OR_ORDERS; k++) {
		/* o0..o5 apply; o6 is out of scope, o7 expired */
		uint32_t idx = add_order(l, ids[k], k == 6 ? "FR" : "*", k == 7 ? "2020-01-01" : "");
		assert_int_equal(idx, k);
		o.applies[k] = k < 6;
	}
	for (int i = 0; i < OR_N; i++) {
		struct rs_prefix *p = &o.p[i];
		int family = (i % 3) ? 4 : 6, bits = family == 4 ? 32 : 128, rc;
		uint8_t a[16] = { 0 };
		bool dup;
		do {
			random_addr(family, a);
			memset(p, 0, sizeof(*p));
			p->family = (uint8_t)family;
			/* lengths spread over the family, denser where clusters nest */
			p->len = (uint8_t)(family == 4 ? 8 + rand() % 25 : 16 + rand() % 113);
			for (int b = 0; b < bits; b++)
				if (b < p->len && (a[b / 8] & (0x80u >> (b % 8))))
					p->addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
			dup = false;
			for (int j = 0; j < i && !dup; j++)
				dup = rs_prefix_equal(&o.p[j], p);
		} while (dup);
		o.live[i] = true;
		o.prot[i] = rand() % 50 == 0;
		o.ord[i] = (uint32_t)(rand() % OR_ORDERS);
		if (o.prot[i]) {
			rc = rs_list_prefix_protect(l, p, true);
			prot++;
		} else {
			rc = rs_list_prefix_add(l, p, o.ord[i]);
			listed++;
		}
		assert_int_equal(rc, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rs_list_commit(l), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("prefixes: %d committed in %.2f ms\n", OR_N, ms);
	assert_true(ms < 1000); /* a few ms on a normal build; sanitizers are slower */
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, listed);
	assert_int_equal(st.protected_prefixes, prot);
	printf("prefixes: %zu bytes for %d (%.0f per prefix)\n", st.prefix_bytes, OR_N, (double)st.prefix_bytes / OR_N);
	check_oracle(l, &o);

	/* delete half (and unprotect), commit, check again */
	for (int i = 0; i < OR_N; i += 2) {
		o.live[i] = false;
		if (o.prot[i])
			assert_int_equal(rs_list_prefix_protect(l, &o.p[i], false), 0);
		else
			assert_int_equal(rs_list_prefix_del(l, &o.p[i], o.ord[i]), 0);
	}
	assert_int_equal(rs_list_commit(l), 0);
	check_oracle(l, &o);
	rs_list_free(l);
}

/*
 * Readers during commits: reader threads match addresses while the writer
 * adds and deletes prefixes and commits after every few changes. An address
 * in a prefix listed before the readers start is BLOCKED on every lookup
 * (by that prefix or a churned one inside it, never PROTECTED), an address
 * never listed PASSes; churned addresses may be either. Retired tables are
 * freed only after the readers are gone (TSan/ASan builds check both).
 */
enum { PMT_READERS = 3, PMT_ROUNDS = 300 };

struct pmt_shared {
	struct rs_list *l;
	atomic_bool stop;
	atomic_long lookups, wrong;
};

static void *pmt_reader(void *arg)
{
	struct pmt_shared *sh = arg;
	long n = 0;

	while (!atomic_load(&sh->stop)) {
		for (int i = 0; i < 256; i++) {
			uint8_t stable[4] = { 10, 0, (uint8_t)i, (uint8_t)(n & 0xff) }, never[4] = { 11, 0, (uint8_t)i, 1 };
			uint8_t churn[16] = { 0x20, 0x01, 0x0d, 0xb8, (uint8_t)i, (uint8_t)n };
			struct rs_match m;
			if (rs_list_match_addr(sh->l, 4, stable, 1800000000, &m) != RS_BLOCKED ||
			    !rs_prefix_has_addr(&m.prefix->prefix, 4, stable))
				atomic_fetch_add(&sh->wrong, 1);
			if (rs_list_match_addr(sh->l, 4, never, 1800000000, &m) != RS_PASS)
				atomic_fetch_add(&sh->wrong, 1);
			(void)rs_list_match_addr(sh->l, 6, churn, 1800000000, &m); /* either; must not crash */
			(void)rs_list_has_prefixes(sh->l);
			n++;
		}
	}
	atomic_fetch_add(&sh->lookups, n);
	return NULL;
}

static void test_prefix_readers_during_commits(void **state)
{
	struct pmt_shared sh = { .l = rs_list_new(0) };
	uint32_t stable = add_order(sh.l, "stable", "*", ""), churn = add_order(sh.l, "churn", "*", "");
	pthread_t th[PMT_READERS];
	struct rs_list_stats st;
	char text[64];

	assert_int_equal(padd(sh.l, "10.0.0.0/16", stable), 0);
	assert_int_equal(rs_list_commit(sh.l), 0);
	rs_list_set_quiescent(sh.l, false); /* readers exist from now on */
	for (int i = 0; i < PMT_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pmt_reader, &sh), 0);
	for (int round = 0; round < PMT_ROUNDS; round++) {
		for (int i = 0; i < 20; i++) { /* inside the stable prefix, and elsewhere */
			snprintf(text, sizeof(text), "10.0.%d.0/24", (round * 20 + i) % 256);
			(void)padd(sh.l, text, churn);
			snprintf(text, sizeof(text), "2001:db8:%x::/48", (round * 20 + i) % 256);
			(void)padd(sh.l, text, churn);
		}
		if (round % 3 == 0) /* protection that never covers the stable prefix */
			(void)pprot(sh.l, "2001:db8:1::/48", round % 2 == 0);
		assert_int_equal(rs_list_commit(sh.l), 0);
		for (int i = 0; i < 20; i += 2) {
			snprintf(text, sizeof(text), "10.0.%d.0/24", (round * 20 + i) % 256);
			(void)pdel(sh.l, text, churn);
			snprintf(text, sizeof(text), "2001:db8:%x::/48", (round * 20 + i) % 256);
			(void)pdel(sh.l, text, churn);
		}
		assert_int_equal(rs_list_commit(sh.l), 0);
	}
	rs_list_stats(sh.l, &st);
	atomic_store(&sh.stop, true);
	for (int i = 0; i < PMT_READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_true(st.retired > 0); /* nothing was freed under the readers */
	assert_true(atomic_load(&sh.lookups) > 0);
	assert_int_equal(atomic_load(&sh.wrong), 0);
	printf("readers: %ld address lookups during %d commits\n", atomic_load(&sh.lookups), 2 * PMT_ROUNDS);
	rs_list_set_quiescent(sh.l, true);
	rs_list_stats(sh.l, &st);
	assert_int_equal(st.retired, 0);
	rs_list_free(sh.l);
}

/* A walk (the snapshot writer's) during changes can miss a name listed before
 * and after it: removed and added again, the name lands in the first free or
 * deleted slot of its probe chain, possibly one the walk already passed. The
 * walk counter then changed (the writer encodes again, sync.c snap_encode);
 * a removal alone, an in-place update or no change leave it as it was.
 * (Single thread: the change runs from the walk's callback, between two
 * slots.) */
static struct {
	struct rs_list *l;
	uint8_t wire[RS_WIRE_MAX];
	int wlen, seen, calls, at, change; /* change: 0 del+add, 1 del, 2 add another order */
	uint32_t idx, idx2;
} wm;

static int walk_cb(const struct rs_entry *e, void *arg)
{
	wm.calls++;
	if (e->wlen == wm.wlen && memcmp(rs_entry_wire(e), wm.wire, wm.wlen) == 0)
		wm.seen++;
	if (wm.calls == wm.at) {
		if (wm.change <= 1)
			assert_int_equal(rs_list_del(wm.l, wm.wire, wm.wlen, wm.idx), 0);
		if (wm.change == 0)
			assert_int_equal(rs_list_add(wm.l, wm.wire, wm.wlen, wm.idx), 0);
		if (wm.change == 2)
			assert_int_equal(rs_list_add(wm.l, wm.wire, wm.wlen, wm.idx2), 0);
	}
	return 0;
}

static void test_walk_gen_tells_a_missed_name(void **state)
{
	int misses = 0;
	char name[64];

	for (int seed = 0; seed < 60; seed++)
	for (int target = 1; target < 20; target += 3)
	for (int change = 0; change < 3; change++)
	for (int at = 1; at < 16; at++) {
		uint64_t gen;
		wm.l = rs_list_new(16);
		assert_non_null(wm.l);
		rs_list_set_quiescent(wm.l, false);
		wm.idx = add_order(wm.l, "o1", "*", NULL);
		wm.idx2 = add_order(wm.l, "o2", "*", NULL);
		for (int i = 0; i < 23; i++) {
			snprintf(name, sizeof(name), "s%dn%d.example", seed, i);
			assert_int_equal(add(wm.l, name, wm.idx), 0);
		}
		for (int i = 0; i < 20; i += 3) { /* tombstones */
			snprintf(name, sizeof(name), "s%dn%d.example", seed, i);
			assert_int_equal(del(wm.l, name, wm.idx), 0);
		}
		snprintf(name, sizeof(name), "s%dn%d.example", seed, target);
		wm.wlen = rs_domain_wire(name, strlen(name), wm.wire);
		wm.seen = wm.calls = 0;
		wm.at = at;
		wm.change = change;
		gen = rs_list_walk_gen(wm.l);
		assert_int_equal(rs_list_foreach(wm.l, walk_cb, NULL), 0);
		if (change == 0 && wm.seen == 0) {
			misses++;
			assert_true(rs_list_walk_gen(wm.l) != gen);
		}
		if (change != 0 || at > wm.calls)
			assert_true(rs_list_walk_gen(wm.l) == gen); /* nothing moved */
		if (change == 2)
			assert_int_equal(wm.seen, 1);
		rs_list_set_quiescent(wm.l, true);
		rs_list_free(wm.l);
	}
	assert_true(misses > 0); /* the case exists (/tmp/rev-mw/walk_miss.c, issue 15 review) */
	/* new names into empty slots move nothing */
	wm.l = rs_list_new(16);
	rs_list_set_quiescent(wm.l, false);
	wm.idx = add_order(wm.l, "o1", "*", NULL);
	{
		uint64_t gen = rs_list_walk_gen(wm.l);
		for (int i = 0; i < 100; i++) { /* with rehashes */
			snprintf(name, sizeof(name), "new%d.example", i);
			assert_int_equal(add(wm.l, name, wm.idx), 0);
		}
		assert_true(rs_list_walk_gen(wm.l) == gen);
	}
	rs_list_set_quiescent(wm.l, true);
	rs_list_free(wm.l);
	/* a quiescent list has no concurrent walk: no counting */
	wm.l = rs_list_new(16);
	wm.idx = add_order(wm.l, "o1", "*", NULL);
	{
		uint64_t gen = rs_list_walk_gen(wm.l);
		assert_int_equal(add(wm.l, "a.example", wm.idx), 0);
		assert_true(rs_list_walk_gen(wm.l) == gen);
	}
	rs_list_free(wm.l);
}

/* A winner's `until`: the first time an order the match passed over may start
 * to apply (a more specific entry's window, an earlier order of the same
 * entry); INT64_MAX when none can (a stored answer keeps the match until then). */
static void test_match_until(void **state)
{
	struct rs_list *l = rs_list_new(16);
	const char *kv[] = { "authority", "Court", "reference", "live", "scope", "*", "action", "sinkhole",
			     "windows", "2027-01-01T00:00:00Z/2027-01-01T02:00:00Z" };
	struct rs_order *live;
	char err[256];
	int64_t start;
	uint32_t wide, ev, ev2;
	uint8_t w[RS_WIRE_MAX];
	struct rs_qname q;
	struct rs_match m;

	assert_int_equal(rs_rfc3339_parse("2027-01-01T00:00:00Z", &start), 0);
	wide = add_order(l, "wide", "*", NULL);
	assert_int_equal(rs_order_parse(&conf, "live", kv, 5, &live, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(l, live, &ev), 0);
	assert_int_equal(add(l, "example.com", wide), 0);
	assert_int_equal(add(l, "stream.example.com", ev), 0);
	assert_true(rs_qname_prepare(w, (size_t)rs_domain_wire("www.stream.example.com", 22, w), &q) > 0);
	/* before the window: the wide order, until the window opens */
	assert_int_equal(rs_list_match(l, &q, start - 5, &m), RS_BLOCKED);
	assert_string_equal(m.order->id, "wide");
	assert_true(m.until == start);
	/* in it: the more specific entry's order; nothing passed over */
	assert_int_equal(rs_list_match(l, &q, start + 5, &m), RS_BLOCKED);
	assert_string_equal(m.order->id, "live");
	assert_true(m.until == INT64_MAX);
	/* after it: the wide order again, nothing ahead */
	assert_int_equal(rs_list_match(l, &q, start + 3 * 3600, &m), RS_BLOCKED);
	assert_string_equal(m.order->id, "wide");
	assert_true(m.until == INT64_MAX);
	/* an earlier order of the same entry with a window: passed over too */
	kv[3] = "live2";
	assert_int_equal(rs_order_parse(&conf, "live2", kv, 5, &live, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(l, live, &ev2), 0);
	assert_int_equal(add(l, "other.com", ev2), 0);
	assert_int_equal(add(l, "other.com", wide), 0); /* other.com: live2, then wide */
	assert_true(rs_qname_prepare(w, (size_t)rs_domain_wire("other.com", 9, w), &q) > 0);
	assert_int_equal(rs_list_match(l, &q, start - 5, &m), RS_BLOCKED);
	assert_string_equal(m.order->id, "wide");
	assert_true(m.until == start);
	assert_int_equal(rs_list_match(l, &q, start + 5, &m), RS_BLOCKED);
	assert_string_equal(m.order->id, "live2");
	rs_list_free(l);
}

/* The change counter moves on every change readers can see and on nothing
 * else; two lists start far apart (rs_list_change_gen). */
static void test_change_gen(void **state)
{
	struct rs_list *l = rs_list_new(16), *l2 = rs_list_new(16);
	struct rs_prefix p = pfx("192.0.2.0/24");
	uint32_t o1, o2;
	uint64_t g;

#define MOVED(stmt)                                      \
	do {                                             \
		g = rs_list_change_gen(l);               \
		stmt;                                    \
		assert_true(rs_list_change_gen(l) != g); \
	} while (0)
#define STILL(stmt)                                      \
	do {                                             \
		g = rs_list_change_gen(l);               \
		stmt;                                    \
		assert_true(rs_list_change_gen(l) == g); \
	} while (0)
	assert_non_null(l);
	assert_non_null(l2);
	assert_true(rs_list_change_gen(l) != rs_list_change_gen(l2));
	rs_list_set_quiescent(l, false);
	MOVED(o1 = add_order(l, "o1", "*", NULL));
	MOVED(o2 = add_order(l, "o2", "*", NULL));
	MOVED(assert_int_equal(add(l, "a.example", o1), 0));
	MOVED(assert_int_equal(add(l, "a.example", o2), 0)); /* the entry replaced */
	MOVED(assert_int_equal(del(l, "a.example", o2), 0));
	MOVED(assert_int_equal(prot(l, "b.example", true), 0));
	MOVED(add_order(l, "o1", "*", "")); /* an order replaced */
	MOVED(assert_int_equal(rs_list_order_remove(l, "o2"), 0));
	MOVED(assert_int_equal(rs_list_prefix_add(l, &p, o1), 0); assert_int_equal(rs_list_commit(l), 0));
	MOVED(assert_int_equal(rs_list_order_sweep(l, o1) > 0, 1); assert_int_equal(rs_list_commit(l), 0));
	STILL(assert_int_equal(match(l, "www.a.example", NULL), RS_PASS));
	STILL(assert_int_equal(del(l, "never.example", o1), RS_ENOENT));
	STILL(assert_int_equal(rs_list_commit(l), 0)); /* nothing pending */
	STILL(rs_list_reclaim(l));
#undef MOVED
#undef STILL
	rs_list_set_quiescent(l, true);
	rs_list_free(l);
	rs_list_free(l2);
}

/*
 * A reader keeps the order and entry of a match with the change counter read
 * before it (as a stored blocked answer does, module/redsink.c) and uses them
 * in a later ebr.h section only while the counter is unchanged, while the
 * writer replaces, removes and re-adds those very names and reclaims with a
 * 1 ms floor between bursts: a kept match is always what a fresh match says
 * (when the counter stayed put across it too), and nothing it points to is
 * ever freed under it (TSan/ASan builds).
 */
enum { KG_NAMES = 32 };

static void *kg_reader(void *arg)
{
	struct mt_shared *sh = arg; /* lookups: the kept matches used */
	struct {
		uint64_t gen;
		struct rs_match m;
		bool have;
	} kept[KG_NAMES] = { 0 };
	char name[64];
	long uses = 0;

	for (unsigned n = 0; !atomic_load(&sh->stop); n++) {
		int i = (int)(n % KG_NAMES);
		uint8_t w[RS_WIRE_MAX];
		struct rs_qname q;
		struct rs_match m;
		uint64_t g;

		snprintf(name, sizeof(name), "www.kg%d.example", i);
		assert_true(rs_qname_prepare(w, (size_t)rs_domain_wire(name, strlen(name), w), &q) > 0);
		rs_ebr_enter();
		g = rs_list_change_gen(sh->l);
		if (kept[i].have && kept[i].gen == g) {
			/* read what the kept pointers point to */
			if (strncmp(kept[i].m.order->id, "kg", 2) != 0 || kept[i].m.entry->wlen != q.len - 4)
				atomic_fetch_add(&sh->wrong, 1);
			if (rs_list_match(sh->l, &q, 1800000000, &m) == RS_BLOCKED && rs_list_change_gen(sh->l) == g &&
			    (m.entry != kept[i].m.entry || m.order != kept[i].m.order))
				atomic_fetch_add(&sh->wrong, 1);
			uses++;
		} else {
			kept[i].have = rs_list_match(sh->l, &q, 1800000000, &kept[i].m) == RS_BLOCKED;
			kept[i].gen = g;
		}
		rs_ebr_leave();
	}
	atomic_fetch_add(&sh->lookups, uses);
	return NULL;
}

static void test_kept_matches_across_sections(void **state)
{
	struct mt_shared sh = { .l = rs_list_new(16) };
	pthread_t th[MT_READERS];
	uint32_t o[2];
	char name[64];

	assert_non_null(sh.l);
	o[0] = add_order(sh.l, "kg-a", "*", NULL);
	o[1] = add_order(sh.l, "kg-b", "*", NULL);
	for (int i = 0; i < KG_NAMES; i++) {
		snprintf(name, sizeof(name), "kg%d.example", i);
		assert_int_equal(add(sh.l, name, o[0]), 0);
	}
	rs_list_set_floor(sh.l, 1);
	rs_list_set_quiescent(sh.l, false);
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, kg_reader, &sh), 0);
	for (int round = 0; round < 300; round++) {
		int i = round % KG_NAMES;
		snprintf(name, sizeof(name), "kg%d.example", i);
		switch ((round / KG_NAMES) % 3) { /* each name in turn: replaced, back, gone and back */
		case 0: /* replaced: a second order */
			assert_int_equal(add(sh.l, name, o[1]), 0);
			break;
		case 1: /* replaced back */
			assert_int_equal(del(sh.l, name, o[1]), 0);
			break;
		default: /* gone, and back as a new entry */
			assert_int_equal(del(sh.l, name, o[0]), 0);
			assert_int_equal(add(sh.l, name, o[0]), 0);
		}
		if (round % 50 == 49) { /* an order replaced */
			uint32_t idx;
			assert_int_equal(rs_list_order_set(sh.l, order("kg-b", "*", ""), &idx), 0);
		}
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL); /* readers use what they kept */
		rs_list_reclaim(sh.l);
	}
	atomic_store(&sh.stop, true);
	for (int i = 0; i < MT_READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(atomic_load(&sh.wrong), 0);
	assert_true(atomic_load(&sh.lookups) > 0);
	rs_list_set_quiescent(sh.l, true);
	rs_list_free(sh.l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_and_below),
		cmocka_unit_test(test_walk_gen_tells_a_missed_name),
		cmocka_unit_test(test_protected_wins),
		cmocka_unit_test(test_scope_and_expiry),
		cmocka_unit_test(test_del_and_orders),
		cmocka_unit_test(test_scale_and_memory),
		cmocka_unit_test(test_readers_during_growth),
		cmocka_unit_test(test_readers_while_an_image_is_adopted),
		cmocka_unit_test(test_change_gen),
		cmocka_unit_test(test_match_until),
		cmocka_unit_test(test_kept_matches_across_sections),
		cmocka_unit_test(test_prefix_nesting),
		cmocka_unit_test(test_prefix_protection),
		cmocka_unit_test(test_prefix_has_prefixes_needs_an_order),
		cmocka_unit_test(test_prefix_match_skip_walks_up),
		cmocka_unit_test(test_prefix_orders_not_applying),
		cmocka_unit_test(test_prefix_sweep_and_foreach),
		cmocka_unit_test(test_prefix_oracle),
		cmocka_unit_test(test_prefix_readers_during_commits),
	};
	return cmocka_run_group_tests_name("list", tests, NULL, NULL);
}
