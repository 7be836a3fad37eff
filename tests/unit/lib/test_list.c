/*
 * test_list.c — matching semantics and the list's add/remove/protect/orders,
 * and lock-free readers running while the writer grows, rehashes, replaces
 * and shrinks the table (scripts/test.sh also builds this file with
 * -fsanitize=thread and -fsanitize=address to check the memory ordering and
 * the deferred reclamation).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conf.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_and_below),
		cmocka_unit_test(test_protected_wins),
		cmocka_unit_test(test_scope_and_expiry),
		cmocka_unit_test(test_del_and_orders),
		cmocka_unit_test(test_scale_and_memory),
		cmocka_unit_test(test_readers_during_growth),
	};
	return cmocka_run_group_tests_name("list", tests, NULL, NULL);
}
