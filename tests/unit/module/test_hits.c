/* test_hits.c — counting blocked answers (and warnd's page views): regions, hour keys, rings,
 * aggregation, restore, the key option, the pending-full warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "list.h"
#include "load.h"
#include "rs_err.h"
#include "stats.h"

static void region(const char *cc, const char *sub, const char *want)
{
	char out[RS_REGION_MAX];

	rs_region_format(cc, cc ? strlen(cc) : 0, sub, sub ? strlen(sub) : 0, out);
	assert_string_equal(out, want);
}

static void test_region_format(void **state)
{
	region("IT", NULL, "IT");
	region("kr", "11", "KR-11");
	region("KR", "KR-11", "KR-11");
	region("US", "CA", "US-CA");
	region("FR", "", "FR");
	region("FR", "toolong", "FR");      /* not an ISO 3166-2 suffix: country only */
	region("FR", "7<", "FR");
	region("ITA", "25", "ZZ");
	region("1T", NULL, "ZZ");
	region(NULL, NULL, "ZZ");
	region("", NULL, "ZZ");
}

static void test_hour_key(void **state)
{
	char h[16];

	rs_hour_key(1795869015, h); /* 2026-11-28T12:30:15Z */
	assert_string_equal(h, "2026-11-28T12");
	rs_hour_key(0, h);
	assert_string_equal(h, "1970-01-01T00");
}

struct fixture {
	struct rs_list *l;
	const struct rs_order *o;
	const struct rs_entry *e;
};

static void setup_list(struct fixture *f)
{
	static struct rs_conf c = { .language = "en" };
	const char *kv[] = { "authority", "Court", "reference", "R", "scope", "*", "action", "nxdomain" };
	uint8_t w[RS_WIRE_MAX];
	struct rs_order *o;
	struct rs_qname q;
	struct rs_match m;
	char err[64];
	uint32_t idx;
	int n;

	f->l = rs_list_new(0);
	assert_int_equal(rs_order_parse(&c, "o1", kv, 4, &o, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(f->l, o, &idx), 0);
	n = rs_domain_wire("pirate.example", 14, w);
	assert_int_equal(rs_list_add(f->l, w, (size_t)n, idx), 0);
	rs_qname_prepare(w, (size_t)n, &q);
	assert_int_equal(rs_list_match(f->l, &q, 0, &m), RS_BLOCKED);
	f->o = m.order;
	f->e = m.entry;
}

static void test_record_drain_take_restore(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct fixture f;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct rs_stats_counters sc;
	struct rs_hit_batch b;

	setup_list(&f);
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	for (int i = 0; i < 5; i++)
		rs_stats_record(s, f.o, f.e, (struct sockaddr *)&sin, sizeof(sin), 1795869015);
	rs_stats_record(s, f.o, f.e, (struct sockaddr *)&sin, sizeof(sin), 1795869015 + 3600);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.by_action[RS_ACT_NXDOMAIN], 6);
	assert_int_equal(sc.pending, 6);
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 2);
	for (size_t i = 0; i < b.n; i++) {
		assert_string_equal(b.rows[i].field, "o1|pirate.example|ZZ"); /* no database: ZZ */
		assert_int_equal(b.rows[i].count, strcmp(b.rows[i].hour, "2026-11-28T12") == 0 ? 5 : 1);
	}
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 0);
	rs_stats_restore(s, &b); /* the flush failed: the counts come back */
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 6);
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 2);
	rs_stats_flushed(s, 6, 0);
	rs_hit_batch_free(&b);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.flushed, 6);
	assert_int_equal(sc.dropped, 0);
	rs_stats_free(s);
	rs_list_free(f.l);
}

static void test_pending_is_bounded(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct fixture f;

	setup_list(&f);
	/* 150 distinct hours: 100 keys kept, 50 hits dropped and counted */
	for (int i = 0; i < 150; i++)
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 100);
	assert_int_equal(sc.dropped, 50);
	rs_stats_free(s);
	rs_list_free(f.l);
}

static void test_ring_full_counts_drops(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct fixture f;

	setup_list(&f);
	for (int i = 0; i < 9000; i++) /* the ring holds 8192 between drains */
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 8192);
	assert_int_equal(sc.dropped, 9000 - 8192);
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* redsink-warnd's role: the same counters under views:<hour>. */
static void test_key_from_options(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats_opts views = { .key = "views" };
	struct rs_stats *h = rs_stats_new(&c, NULL), *v = rs_stats_new(&c, &views);

	assert_string_equal(rs_stats_key(h), "hits");
	assert_string_equal(rs_stats_key(v), "views");
	rs_stats_free(h);
	rs_stats_free(v);
}

/* The synchronous lookup warnd uses for a page's language: "ZZ" without a
 * database; a database that cannot be opened is an error, and the one in use
 * (here none) stays. */
static void test_region_lookup_without_database(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char r[RS_REGION_MAX], err[256];

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	rs_stats_region(s, (struct sockaddr *)&sin, sizeof(sin), r);
	assert_string_equal(r, "ZZ");
	rs_stats_region(s, NULL, 0, r);
	assert_string_equal(r, "ZZ");
	assert_int_equal(rs_stats_geo_open(s, "/nonexistent/regions.mmdb", err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "/nonexistent/regions.mmdb"));
	rs_stats_region(s, (struct sockaddr *)&sin, sizeof(sin), r);
	assert_string_equal(r, "ZZ");
	rs_stats_free(s);
}

static int warnings;
static void count_warnings(int level, const char *msg)
{
	if (level == RS_LOG_WARN && strstr(msg, "dropping counts"))
		warnings++;
}

/* Pending full: logged once, not once per drain, until a flush is answered. */
static void test_pending_full_logged_once(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	rs_log_fn saved = rs_log_hook;
	struct fixture f;

	setup_list(&f);
	rs_log_hook = count_warnings;
	warnings = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 150; i++)
			rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
		rs_stats_drain(s);
	}
	assert_int_equal(warnings, 1);
	rs_stats_flushed(s, 0, 0);
	for (int i = 0; i < 150; i++)
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
	rs_stats_drain(s);
	assert_int_equal(warnings, 2);
	rs_log_hook = saved;
	rs_stats_free(s);
	rs_list_free(f.l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_format),
		cmocka_unit_test(test_hour_key),
		cmocka_unit_test(test_record_drain_take_restore),
		cmocka_unit_test(test_pending_is_bounded),
		cmocka_unit_test(test_ring_full_counts_drops),
		cmocka_unit_test(test_key_from_options),
		cmocka_unit_test(test_region_lookup_without_database),
		cmocka_unit_test(test_pending_full_logged_once),
	};
	return cmocka_run_group_tests_name("hits", tests, NULL, NULL);
}
