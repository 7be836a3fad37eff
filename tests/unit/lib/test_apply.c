/* test_apply.c — applying stream entries, including malformed ones. */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
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

static int applyip(struct rs_apply *a, const char *op, const char *order, const char *prefix)
{
	struct rs_change ch = { .id = "2-1" };

	snprintf(ch.op, sizeof(ch.op), "%s", op);
	snprintf(ch.order, sizeof(ch.order), "%s", order);
	snprintf(ch.prefix, sizeof(ch.prefix), "%s", prefix);
	return rs_apply_change(a, &ch);
}

/* The verdict for an address, after committing l. */
static enum rs_verdict amatch(struct rs_list *l, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? 6 : 4;
	struct rs_match m;

	assert_int_equal(rs_list_commit(l), 0);
	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, addr, a), 1);
	return rs_list_match_addr(l, family, a, 1800000000, &m);
}

static void test_prefix_ops(void **state)
{
	struct rs_list *l = rs_list_new(0);
	struct rs_apply a;
	struct rs_list_stats st;

	fetch_result = 0;
	fetch_calls = 0;
	assert_int_equal(rs_apply_init(&a, l, fake_fetch, NULL), 0);
	/* addip of an order not known yet: fetched, as for add */
	assert_int_equal(applyip(&a, "addip", "o1", "192.0.2.0/24"), 0);
	assert_int_equal(fetch_calls, 1);
	assert_true(a.purge_all);
	assert_false(rs_list_has_prefixes(l)); /* the caller commits once per batch */
	assert_int_equal(amatch(l, "192.0.2.7"), RS_BLOCKED);
	assert_int_equal(amatch(a.changed, "192.0.2.7"), RS_BLOCKED); /* to purge */
	assert_int_equal(amatch(a.changed, "192.0.3.7"), RS_PASS);
	assert_int_equal(rs_apply_reset(&a), 0);
	assert_false(rs_list_has_prefixes(a.changed));
	assert_int_equal(amatch(a.changed, "192.0.2.7"), RS_PASS);
	/* canonical or not, the same prefix */
	assert_int_equal(applyip(&a, "addip", "o1", "2001:DB8:0::/48"), 0);
	assert_int_equal(applyip(&a, "addip", "o1", "2001:db8::/48"), 0); /* again: harmless */
	assert_int_equal(fetch_calls, 1);                                 /* known order: no fetch */
	assert_int_equal(amatch(l, "2001:db8::1"), RS_BLOCKED);
	rs_list_stats(a.changed, &st);
	assert_int_equal(st.prefixes, 1);
	assert_int_equal(rs_apply_reset(&a), 0);
	/* protectip / unprotectip; the order field is ignored */
	assert_int_equal(applyip(&a, "protectip", "", "192.0.2.128/25"), 0);
	assert_int_equal(amatch(l, "192.0.2.130"), RS_PROTECTED);
	assert_int_equal(amatch(l, "192.0.2.7"), RS_BLOCKED);
	assert_int_equal(applyip(&a, "protectip", "whatever", "192.0.2.128/25"), 0); /* twice: harmless */
	assert_int_equal(applyip(&a, "unprotectip", "", "192.0.2.128/25"), 0);
	assert_int_equal(amatch(l, "192.0.2.130"), RS_BLOCKED);
	assert_int_equal(amatch(a.changed, "192.0.2.130"), RS_BLOCKED); /* blocked again: purge */
	assert_int_equal(applyip(&a, "unprotectip", "", "192.0.2.128/25"), 0); /* twice: harmless */
	assert_int_equal(rs_apply_reset(&a), 0);
	/* delip */
	assert_int_equal(applyip(&a, "delip", "o1", "192.0.2.0/24"), 0);
	assert_int_equal(amatch(l, "192.0.2.7"), RS_PASS);
	assert_int_equal(applyip(&a, "delip", "o1", "192.0.2.0/24"), 0);   /* twice: harmless */
	assert_int_equal(applyip(&a, "delip", "o9", "2001:db8::/48"), 0);  /* an order we do not hold */
	assert_int_equal(amatch(l, "2001:db8::1"), RS_BLOCKED);
	/* revoke sweeps the order out of its prefixes */
	assert_int_equal(applyip(&a, "addip", "o2", "2001:db8::/48"), 0);
	assert_int_equal(applyip(&a, "addip", "o2", "198.51.100.0/24"), 0);
	assert_int_equal(apply(&a, "revoke", "o1", ""), 0);
	assert_int_equal(amatch(l, "2001:db8::1"), RS_BLOCKED); /* still listed by o2 */
	assert_int_equal(apply(&a, "revoke", "o2", ""), 0);
	assert_int_equal(amatch(l, "2001:db8::1"), RS_PASS);
	assert_int_equal(amatch(l, "198.51.100.1"), RS_PASS);
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, 0);
	assert_false(rs_list_has_prefixes(l));
	assert_int_equal(a.bad, 0);
	rs_apply_free(&a);
	rs_list_free(l);
}

static void test_prefix_malformed(void **state)
{
	struct rs_list *l = rs_list_new(0);
	struct rs_apply a;
	struct rs_change trunc = { .id = "2-2", .op = "addip", .order = "o1", .prefix = "192.0.2.0/24",
				   .truncated = true };
	struct rs_list_stats st;

	fetch_result = 0;
	assert_int_equal(rs_apply_init(&a, l, fake_fetch, NULL), 0);
	assert_int_equal(applyip(&a, "addip", "o1", "10.0.0.1/8"), 0);   /* host bits */
	assert_int_equal(applyip(&a, "addip", "o1", ""), 0);             /* no prefix */
	assert_int_equal(applyip(&a, "addip", "o1", "pirate.example"), 0);
	assert_int_equal(applyip(&a, "addip", "o1", "1.2.3.4/33"), 0);
	assert_int_equal(applyip(&a, "addip", "o1", "fe80::1%eth0"), 0);
	assert_int_equal(applyip(&a, "addip", "", "192.0.2.0/24"), 0);   /* no order */
	assert_int_equal(applyip(&a, "delip", "a b", "192.0.2.0/24"), 0); /* bad order id */
	assert_int_equal(applyip(&a, "protectip", "", "192.0.2.0/"), 0);
	assert_int_equal(applyip(&a, "unprotectip", "", " 192.0.2.0/24"), 0);
	assert_int_equal(rs_apply_change(&a, &trunc), 0);
	/* a domain op with a prefix, a prefix op with a domain */
	assert_int_equal(apply(&a, "add", "o1", "192.0.2.0/24"), 0);
	assert_int_equal(apply(&a, "addip", "o1", "x.example"), 0);
	assert_int_equal(a.bad, 12);
	/* an order that is malformed or not in force blocks nothing */
	assert_int_equal(applyip(&a, "addip", "bad", "192.0.2.0/24"), 0);
	assert_int_equal(applyip(&a, "addip", "missing", "192.0.2.0/24"), 0);
	assert_int_equal(a.bad, 12);
	assert_int_equal(rs_list_commit(l), 0);
	assert_false(rs_list_has_prefixes(l));
	rs_list_stats(a.changed, &st);
	assert_int_equal(st.prefixes, 0);
	/* Redis unreachable while fetching the order: retried */
	fetch_result = RS_EIO;
	assert_int_equal(applyip(&a, "addip", "o1", "192.0.2.0/24"), RS_EIO);
	fetch_result = 0;
	assert_int_equal(applyip(&a, "addip", "o1", "192.0.2.0/24"), 0);
	assert_int_equal(amatch(l, "192.0.2.1"), RS_BLOCKED);
	rs_apply_free(&a);
	rs_list_free(l);
}

/* ---- rs_change_parse: the prefix field ---- */

static redisReply *rstr(const char *s)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = REDIS_REPLY_STRING;
	r->str = strdup(s);
	r->len = strlen(s);
	return r;
}

/* [id, [k1, v1, k2, v2, ...]] */
static redisReply *entry(const char *id, const char *const *kv, size_t n)
{
	redisReply *e = calloc(1, sizeof(*e)), *f = calloc(1, sizeof(*f));

	e->type = f->type = REDIS_REPLY_ARRAY;
	e->elements = 2;
	e->element = calloc(2, sizeof(*e->element));
	e->element[0] = rstr(id);
	e->element[1] = f;
	f->elements = n;
	f->element = calloc(n, sizeof(*f->element));
	for (size_t i = 0; i < n; i++)
		f->element[i] = rstr(kv[i]);
	return e;
}

static void test_parse_prefix_field(void **state)
{
	static const char *const ok[] = { "op", "addip", "order", "o1", "prefix", "2001:db8::/48", "by", "x" };
	static const char *const longp[] = { "op", "addip", "order", "o1", "prefix",
					     "0000:0000:0000:0000:0000:ffff:255.255.255.255/1280" };
	static const char *const longest[] = { "op", "addip", "order", "o1", "prefix",
					       "0000:0000:0000:0000:0000:ffff:255.255.255.255/128" };
	struct rs_change ch;
	redisReply *e;

	e = entry("5-1", ok, 8);
	assert_true(rs_change_parse(e, &ch));
	assert_string_equal(ch.op, "addip");
	assert_string_equal(ch.prefix, "2001:db8::/48");
	assert_string_equal(ch.domain, "");
	assert_false(ch.truncated);
	freeReplyObject(e);
	e = entry("5-2", longp, 6); /* 50 octets: does not fit, malformed */
	assert_true(rs_change_parse(e, &ch));
	assert_true(ch.truncated);
	freeReplyObject(e);
	e = entry("5-3", longest, 6); /* 49 octets: the longest text that parses */
	assert_true(rs_change_parse(e, &ch));
	assert_false(ch.truncated);
	assert_string_equal(ch.prefix, longest[5]);
	freeReplyObject(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_redis_unreachable_is_retried),
		cmocka_unit_test(test_prefix_ops),
		cmocka_unit_test(test_prefix_malformed),
		cmocka_unit_test(test_parse_prefix_field),
	};
	return cmocka_run_group_tests_name("apply", tests, NULL, NULL);
}
