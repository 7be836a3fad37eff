/* test_apply.c — applying stream entries, including malformed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apply.h"
#include "list.h"
#include "load.h"
#include "rs_err.h"

static struct rs_conf conf = { .language = "en" };
static int fetch_calls;
static int fetch_result; /* what the fake Redis answers */

/* Fake Redis: orders "o1", "o2" exist with action sinkhole; "bad" is malformed. */
static int fake_fetch(void *arg, const char *id, struct rs_order **out)
{
	const char *kv[] = { "authority", "Court", "reference", id, "scope", "*", "action",
			     strcmp(id, "bad") == 0 ? "explode" : strcmp(id, "o2") == 0 ? "nxdomain" : "sinkhole" };
	char err[128];

	fetch_calls++;
	if (fetch_result)
		return fetch_result;
	if (strcmp(id, "o1") && strcmp(id, "o2") && strcmp(id, "bad"))
		return RS_ENOENT;
	return rs_order_parse(&conf, id, kv, 4, out, err, sizeof(err)) ? RS_EINVAL : 0;
}

static int apply(struct rs_apply *a, const char *op, const char *order, const char *domain)
{
	struct rs_change ch = { .id = "1-1" };

	snprintf(ch.op, sizeof(ch.op), "%s", op);
	snprintf(ch.order, sizeof(ch.order), "%s", order);
	snprintf(ch.domain, sizeof(ch.domain), "%s", domain);
	return rs_apply_change(a, &ch);
}

static enum rs_verdict match(struct rs_list *l, const char *name)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);
	struct rs_qname q;
	struct rs_match m;

	rs_qname_prepare(w, (size_t)n, &q);
	return rs_list_match(l, &q, 1800000000, &m);
}

static void test_ops(void **state)
{
	struct rs_list *l = rs_list_new(0);
	struct rs_apply a;
	struct rs_list_stats st;

	fetch_result = 0;
	assert_int_equal(rs_apply_init(&a, l, fake_fetch, NULL), 0);
	assert_int_equal(apply(&a, "add", "o1", "Pirate.Example."), 0);
	assert_int_equal(match(l, "www.pirate.example"), RS_BLOCKED);
	assert_int_equal(match(a.changed, "www.pirate.example"), RS_BLOCKED); /* to purge */
	assert_true(a.purge_all); /* a new order was fetched */
	assert_int_equal(rs_apply_reset(&a), 0);
	assert_false(a.purge_all);
	assert_int_equal(match(a.changed, "www.pirate.example"), RS_PASS);
	fetch_calls = 0;
	assert_int_equal(apply(&a, "add", "o1", "a.example"), 0);
	assert_int_equal(fetch_calls, 0); /* known order: no fetch */
	assert_int_equal(apply(&a, "protect", "", "www.pirate.example"), 0);
	assert_int_equal(match(l, "www.pirate.example"), RS_PROTECTED);
	assert_int_equal(apply(&a, "unprotect", "", "www.pirate.example"), 0);
	assert_int_equal(match(l, "www.pirate.example"), RS_BLOCKED);
	assert_int_equal(apply(&a, "del", "o1", "pirate.example"), 0);
	assert_int_equal(match(l, "pirate.example"), RS_PASS);
	assert_int_equal(apply(&a, "del", "o1", "pirate.example"), 0); /* twice: harmless */
	/* order update: fetched again */
	assert_int_equal(apply(&a, "add", "o2", "a.example"), 0);
	assert_int_equal(apply(&a, "revoke", "o1", ""), 0);
	assert_int_equal(match(l, "a.example"), RS_BLOCKED); /* still listed by o2 */
	assert_int_equal(apply(&a, "revoke", "o2", ""), 0);
	assert_int_equal(match(l, "a.example"), RS_PASS);
	rs_list_stats(l, &st);
	assert_int_equal(st.domains, 0); /* the sweep removed the revoked orders' domains */
	assert_int_equal(a.bad, 0);
	rs_apply_free(&a);
	rs_list_free(l);
}

static void test_malformed(void **state)
{
	struct rs_list *l = rs_list_new(0);
	struct rs_apply a;
	struct rs_change trunc = { .id = "1-2", .op = "add", .order = "o1", .domain = "x.example", .truncated = true };

	fetch_result = 0;
	assert_int_equal(rs_apply_init(&a, l, fake_fetch, NULL), 0);
	assert_int_equal(apply(&a, "add", "o1", "bad..name"), 0);
	assert_int_equal(apply(&a, "add", "o1", ""), 0);
	assert_int_equal(apply(&a, "add", "o1", "."), 0);
	assert_int_equal(apply(&a, "add", "", "x.example"), 0);
	assert_int_equal(apply(&a, "add", "has space", "x.example"), 0);
	assert_int_equal(apply(&a, "explode", "o1", "x.example"), 0);
	assert_int_equal(apply(&a, "", "", ""), 0);
	assert_int_equal(rs_apply_change(&a, &trunc), 0);
	assert_int_equal(a.bad, 8);
	/* an order that is malformed or not in force blocks nothing; nothing else changes */
	assert_int_equal(apply(&a, "add", "bad", "y.example"), 0);
	assert_int_equal(apply(&a, "add", "missing", "z.example"), 0);
	assert_int_equal(match(l, "y.example"), RS_PASS);
	assert_int_equal(match(l, "z.example"), RS_PASS);
	assert_int_equal(match(l, "x.example"), RS_PASS);
	assert_int_equal(match(l, "example"), RS_PASS);
	rs_apply_free(&a);
	rs_list_free(l);
}

static void test_redis_unreachable_is_retried(void **state)
{
	struct rs_list *l = rs_list_new(0);
	struct rs_apply a;

	assert_int_equal(rs_apply_init(&a, l, fake_fetch, NULL), 0);
	fetch_result = RS_EIO;
	assert_int_equal(apply(&a, "add", "o1", "x.example"), RS_EIO);
	assert_int_equal(apply(&a, "order", "o1", ""), RS_EIO);
	fetch_result = 0;
	assert_int_equal(apply(&a, "add", "o1", "x.example"), 0);
	assert_int_equal(match(l, "x.example"), RS_BLOCKED);
	rs_apply_free(&a);
	rs_list_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_redis_unreachable_is_retried),
	};
	return cmocka_run_group_tests_name("apply", tests, NULL, NULL);
}
