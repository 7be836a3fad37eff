/*
 * test_stats_core.c — redsink-stats' pure logic (tools/stats/stats_core.c): hour
 * keys and windows, counter-field parsing, region extraction and matching,
 * aggregation into cells, privacy suppression (primary and complementary),
 * ranking order, and the --redis address parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order.h"
#include "rs_err.h"
#include "stats_core.h"

/* Hour number of an RFC 3339 time. */
static int64_t H(const char *s)
{
	int64_t t;

	assert_int_equal(rs_rfc3339_parse(s, &t), 0);
	return t / 3600;
}

/* ---- time ---- */

static void test_hour_names(void **state)
{
	char buf[32];
	int64_t h = H("2026-11-28T19:00:00Z");

	(void)state;
	st_hour_key(h, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T19");
	st_hour_iso(h, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T19:00:00Z");
	st_day_label(h, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28");
	st_hour_key(H("2028-02-29T00:00:00Z"), buf, sizeof(buf));
	assert_string_equal(buf, "2028-02-29T00");
	st_hour_key(H("2026-12-31T23:59:59Z"), buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-31T23");
	assert_int_equal(st_bucket(H("2026-11-28T19:00:00Z"), ST_G_DAY), H("2026-11-28T00:00:00Z"));
	assert_int_equal(st_bucket(H("2026-11-28T19:00:00Z"), ST_G_HOUR), H("2026-11-28T19:00:00Z"));
}

static void test_parse_time(void **state)
{
	int64_t h;

	(void)state;
	/* a plain date: midnight as a start, the end of the day as an end */
	assert_int_equal(st_parse_time("2026-11-28", false, &h), 0);
	assert_int_equal(h, H("2026-11-28T00:00:00Z"));
	assert_int_equal(st_parse_time("2026-11-28", true, &h), 0);
	assert_int_equal(h, H("2026-11-29T00:00:00Z"));
	/* a time inside an hour: the start rounds down, the end rounds up */
	assert_int_equal(st_parse_time("2026-11-28T19:30:00Z", false, &h), 0);
	assert_int_equal(h, H("2026-11-28T19:00:00Z"));
	assert_int_equal(st_parse_time("2026-11-28T19:30:00Z", true, &h), 0);
	assert_int_equal(h, H("2026-11-28T20:00:00Z"));
	assert_int_equal(st_parse_time("2026-11-28T19:00:00Z", true, &h), 0);
	assert_int_equal(h, H("2026-11-28T19:00:00Z"));
	/* offsets and fractions */
	assert_int_equal(st_parse_time("2026-11-28T20:00:00+01:00", false, &h), 0);
	assert_int_equal(h, H("2026-11-28T19:00:00Z"));
	assert_int_equal(st_parse_time("2026-11-28T19:00:00.5Z", true, &h), 0);
	assert_int_equal(h, H("2026-11-28T20:00:00Z"));
	/* not times */
	assert_int_equal(st_parse_time("2026-13-01", false, &h), RS_EINVAL);
	assert_int_equal(st_parse_time("2026-02-30", false, &h), RS_EINVAL);
	assert_int_equal(st_parse_time("2026-11-28T19", false, &h), RS_EINVAL);
	assert_int_equal(st_parse_time("yesterday", false, &h), RS_EINVAL);
	assert_int_equal(st_parse_time("", false, &h), RS_EINVAL);
	assert_int_equal(st_parse_time(NULL, false, &h), RS_EINVAL);
}

static void test_parse_last(void **state)
{
	int64_t n;

	(void)state;
	assert_int_equal(st_parse_last("24h", &n), 0);
	assert_int_equal(n, 24);
	assert_int_equal(st_parse_last("7d", &n), 0);
	assert_int_equal(n, 168);
	assert_int_equal(st_parse_last("30d", &n), 0);
	assert_int_equal(n, 720);
	assert_int_equal(st_parse_last("1h", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st_parse_last("3660d", &n), 0);
	assert_int_equal(st_parse_last("3661d", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("0h", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("7", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("d", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("7w", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("-1d", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("7dd", &n), RS_EINVAL);
	assert_int_equal(st_parse_last(" 7d", &n), RS_EINVAL);
	assert_int_equal(st_parse_last("99999999999999999999h", &n), RS_EINVAL);
}

static void test_window(void **state)
{
	struct st_window w;
	char err[256];
	int64_t now = H("2026-11-28T19:00:00Z") * 3600 + 1234; /* 19:20:34 */

	(void)state;
	/* default: the 7 days up to the end of the current hour */
	assert_int_equal(st_window_resolve(NULL, NULL, NULL, now, &w, err, sizeof(err)), 0);
	assert_int_equal(w.h1, H("2026-11-28T20:00:00Z"));
	assert_int_equal(w.h1 - w.h0, 168);
	assert_int_equal(st_window_resolve(NULL, NULL, "24h", now, &w, err, sizeof(err)), 0);
	assert_int_equal(w.h0, H("2026-11-27T20:00:00Z"));
	assert_int_equal(st_window_resolve(NULL, "2026-11-20", "2d", now, &w, err, sizeof(err)), 0);
	assert_int_equal(w.h0, H("2026-11-19T00:00:00Z"));
	assert_int_equal(w.h1, H("2026-11-21T00:00:00Z"));
	assert_int_equal(st_window_resolve("2026-11-01", "2026-11-30", NULL, now, &w, err, sizeof(err)), 0);
	assert_int_equal(w.h0, H("2026-11-01T00:00:00Z"));
	assert_int_equal(w.h1, H("2026-12-01T00:00:00Z"));
	assert_int_equal(w.h1 - w.h0, 30 * 24);
	/* --from alone: up to now */
	assert_int_equal(st_window_resolve("2026-11-28T10:00:00Z", NULL, NULL, now, &w, err, sizeof(err)), 0);
	assert_int_equal(w.h1 - w.h0, 10);
	/* errors, with the reason */
	assert_int_equal(st_window_resolve("2026-11-01", NULL, "7d", now, &w, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "--from and --last"));
	assert_int_equal(st_window_resolve("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", NULL, now, &w, err,
					   sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "empty window"));
	assert_int_equal(st_window_resolve("2000-01-01", "2026-01-01", NULL, now, &w, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "longer than"));
	assert_int_equal(st_window_resolve("soon", NULL, NULL, now, &w, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "--from 'soon'"));
	assert_int_equal(st_window_resolve(NULL, NULL, "7x", now, &w, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "--last '7x'"));
}

/* ---- regions ---- */

static void test_region_norm(void **state)
{
	char r[ST_REGION_MAX];
	static const char *const bad[] = { "", "I", "ITA", "IT-", "IT_25", "IT-ABCD", "1T", "I-25", "IT-2 ",
					   "IT--5", "IT25", "\xc3\x84T" };

	(void)state;
	assert_int_equal(st_region_norm("it", 2, r), 0);
	assert_string_equal(r, "IT");
	assert_int_equal(st_region_norm("it-25", 5, r), 0);
	assert_string_equal(r, "IT-25");
	assert_int_equal(st_region_norm("KR-11", 5, r), 0);
	assert_string_equal(r, "KR-11");
	assert_int_equal(st_region_norm("gb-eng", 6, r), 0);
	assert_string_equal(r, "GB-ENG");
	assert_int_equal(st_region_norm("ZZ", 2, r), 0);
	assert_string_equal(r, "ZZ");
	assert_int_equal(st_region_norm("FR-6", 4, r), 0);
	assert_string_equal(r, "FR-6");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(st_region_norm(bad[i], strlen(bad[i]), r), RS_EINVAL);
}

static void test_region_country(void **state)
{
	char c[3];

	(void)state;
	st_region_country("IT-25", c);
	assert_string_equal(c, "IT");
	st_region_country("KR-11", c);
	assert_string_equal(c, "KR");
	st_region_country("GB-ENG", c);
	assert_string_equal(c, "GB");
	st_region_country("ZZ", c);
	assert_string_equal(c, "ZZ");
	st_region_country("DE", c);
	assert_string_equal(c, "DE");
}

static void test_region_match(void **state)
{
	(void)state;
	/* a country matches itself and its subdivisions */
	assert_true(st_region_match("IT", "IT"));
	assert_true(st_region_match("IT", "IT-25"));
	assert_true(st_region_match("IT", "IT-21"));
	assert_false(st_region_match("IT", "GB"));
	assert_false(st_region_match("IT", "GB-ENG"));
	assert_false(st_region_match("IT", "ZZ"));
	/* a subdivision only itself */
	assert_true(st_region_match("IT-25", "IT-25"));
	assert_false(st_region_match("IT-25", "IT"));
	assert_false(st_region_match("IT-25", "IT-21"));
	assert_false(st_region_match("IT-2", "IT-25"));
	assert_true(st_region_match("ZZ", "ZZ"));
}

/* ---- fields ---- */

static void test_field_parse(void **state)
{
	struct st_field f;
	char longid[160];
	static const char *const bad[] = {
		"", "a", "a|b", "a|b.example|IT|x", "|b.example|IT", "a||IT", "a|b.example|", "a b|b.example|IT",
		"a|b..example|IT", "a|b.example|ITALY", "a|b.example|I", "a|b example|IT", "a|-|IT-", "a|.|IT",
		"a\x01|b.example|IT", "a|b.ex\xc3\xa4mple|IT",
	};

	(void)state;
	assert_int_equal(st_field_parse("RG-1|example.com|IT-25", strlen("RG-1|example.com|IT-25"), &f), 0);
	assert_string_equal(f.order, "RG-1");
	assert_string_equal(f.domain, "example.com");
	assert_string_equal(f.region, "IT-25");
	/* domain and region are normalised */
	assert_int_equal(st_field_parse("RG-1|Example.COM.|it", strlen("RG-1|Example.COM.|it"), &f), 0);
	assert_string_equal(f.domain, "example.com");
	assert_string_equal(f.region, "IT");
	assert_int_equal(st_field_parse("x|xn--bcher-kva.example|ZZ", strlen("x|xn--bcher-kva.example|ZZ"), &f), 0);
	assert_string_equal(f.domain, "xn--bcher-kva.example");
	/* order ids may hold any printable character but '|' and space */
	assert_int_equal(st_field_parse("UK<1>&\"x\"|a.example|GB-ENG", strlen("UK<1>&\"x\"|a.example|GB-ENG"), &f), 0);
	assert_string_equal(f.order, "UK<1>&\"x\"");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(st_field_parse(bad[i], strlen(bad[i]), &f), RS_EINVAL);
	/* a NUL inside the field (Redis fields are binary) */
	assert_int_equal(st_field_parse("a|b.exa\0mple|IT", sizeof("a|b.exa\0mple|IT") - 1, &f), RS_EINVAL);
	/* order ids of 128 octets at most */
	memset(longid, 'o', 128);
	strcpy(longid + 128, "|a.example|IT");
	assert_int_equal(st_field_parse(longid, strlen(longid), &f), 0);
	memset(longid, 'o', 129);
	strcpy(longid + 129, "|a.example|IT");
	assert_int_equal(st_field_parse(longid, strlen(longid), &f), RS_EINVAL);
}

/* Address-triggered hits carry the listed prefix in the domain position
 * (order|<prefix>|region): a canonical prefix is a domain for counting;
 * anything the module would not write is malformed. */
static void test_field_parse_prefix(void **state)
{
	struct st_field f;
	static const char *const bad[] = {
		"o1|198.51.100.1/24|IT",  /* host bits */
		"o1|198.51.100.0/33|IT", "o1|2001:DB8::/48|IT", "o1|2001:db8:0::/48|IT", "o1|::ffff:1.2.3.4|IT",
		"o1|198.51.100.0/024|IT", "o1|198.51.100.0 /24|IT", "o1|fe80::/10%eth0|IT",
		"o1|2001:0db8:0000:0000:0000:0000:0000:0000/128|IT",
	};

	(void)state;
	assert_int_equal(st_field_parse("o1|198.51.100.0/24|IT-25", strlen("o1|198.51.100.0/24|IT-25"), &f), 0);
	assert_string_equal(f.order, "o1");
	assert_string_equal(f.domain, "198.51.100.0/24");
	assert_string_equal(f.region, "IT-25");
	assert_int_equal(st_field_parse("o1|2001:db8:7::/48|ZZ", strlen("o1|2001:db8:7::/48|ZZ"), &f), 0);
	assert_string_equal(f.domain, "2001:db8:7::/48");
	assert_int_equal(st_field_parse("o1|198.51.100.7/32|ZZ", strlen("o1|198.51.100.7/32|ZZ"), &f), 0);
	assert_string_equal(f.domain, "198.51.100.7/32");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (st_field_parse(bad[i], strlen(bad[i]), &f) != RS_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_count_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(st_count_parse("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(st_count_parse("42", 2, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(st_count_parse("9223372036854775807", 19, &v), 0);
	assert_true(v == (uint64_t)INT64_MAX);
	assert_int_equal(st_count_parse("9223372036854775808", 19, &v), RS_EINVAL);
	assert_int_equal(st_count_parse("-1", 2, &v), RS_EINVAL);
	assert_int_equal(st_count_parse("", 0, &v), RS_EINVAL);
	assert_int_equal(st_count_parse("1.5", 3, &v), RS_EINVAL);
	assert_int_equal(st_count_parse("12a", 3, &v), RS_EINVAL);
	assert_int_equal(st_count_parse(" 1", 2, &v), RS_EINVAL);
	assert_int_equal(st_count_parse("12345678901234567890", 20, &v), RS_EINVAL);
}

/* ---- records ---- */

static int add(struct st_data *d, const char *hour, const char *field, const char *value, const struct st_filter *f)
{
	char iso[40];

	snprintf(iso, sizeof(iso), "%s:00:00Z", hour);
	return st_data_add(d, H(iso), field, strlen(field), value, strlen(value), f);
}

static void test_data_add(void **state)
{
	struct st_data d = { 0 };
	struct st_filter it = { .region = "IT" }, ord = { .order = "B" }, dom = { .domain = "b.example" };

	(void)state;
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|IT-25", "5", NULL), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(st_str(&d.str, d.rec[0].order), "A");
	assert_string_equal(st_str(&d.str, d.rec[0].domain), "a.example");
	assert_string_equal(st_str(&d.str, d.rec[0].region), "IT-25");
	assert_string_equal(st_str(&d.str, d.rec[0].country), "IT");
	assert_true(d.rec[0].count == 5);
	assert_int_equal(d.rec[0].hour, H("2026-11-28T19:00:00Z"));
	/* zero counts are not records */
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|IT", "0", NULL), 0);
	assert_int_equal(d.n, 1);
	/* filters */
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|GB", "3", &it), 0);
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|IT", "3", &it), 0);
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|IT-21", "3", &it), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(add(&d, "2026-11-28T19", "A|b.example|IT", "3", &ord), 0);
	assert_int_equal(add(&d, "2026-11-28T19", "B|b.example|IT", "3", &ord), 0);
	assert_int_equal(d.n, 4);
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example|IT", "3", &dom), 0);
	assert_int_equal(add(&d, "2026-11-28T19", "A|B.Example.|IT", "3", &dom), 0);
	assert_int_equal(d.n, 5);
	/* interned: one string per distinct value */
	assert_int_equal(d.rec[4].domain, d.rec[3].domain);
	/* malformed: counted, the first remembered, nothing added */
	assert_int_equal(add(&d, "2026-11-28T19", "A|a.example", "3", NULL), RS_EINVAL);
	assert_int_equal(add(&d, "2026-11-28T20", "A|a.example|IT", "x", NULL), RS_EINVAL);
	assert_int_equal(add(&d, "2026-11-28T20", "A|a.example|IT", "-4", NULL), RS_EINVAL);
	assert_int_equal(d.n, 5);
	assert_int_equal(d.malformed, 3);
	assert_string_equal(d.first_bad, "hour 2026-11-28T19, field 'A|a.example' = '3'");
	st_data_free(&d);
}

/* A small data set: hours of 2026-11-20 and 21, two orders, three domains, regions in IT, KR, GB and ZZ. */
static void fill(struct st_data *d)
{
	static const char *const rows[][3] = {
		{ "2026-11-20T00", "RG-1|stream.example|IT-25", "100" },
		{ "2026-11-20T00", "RG-1|stream.example|IT-21", "40" },
		{ "2026-11-20T00", "RG-1|tiny.example|IT-25", "3" },
		{ "2026-11-20T01", "RG-1|stream.example|IT-25", "60" },
		{ "2026-11-20T01", "KC-7|toon.example|KR-11", "200" },
		{ "2026-11-20T01", "KC-7|toon.example|KR", "12" },
		{ "2026-11-21T05", "KC-7|toon.example|KR-11", "50" },
		{ "2026-11-21T05", "RG-1|stream.example|ZZ", "4" },
		{ "2026-11-21T05", "RG-1|stream.example|GB-ENG", "25" },
		{ "2026-11-22T00", "RG-1|stream.example|IT-25", "1000" }, /* outside the window below */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(add(d, rows[i][0], rows[i][1], rows[i][2], NULL), 0);
}

static const struct st_cell *find(const struct st_table *t, const struct st_strtab *s, const char *k0,
				  const char *k1)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(st_str(s, t->c[i].k[0]), k0) == 0 && (!k1 || strcmp(st_str(s, t->c[i].k[1]), k1) == 0))
			return &t->c[i];
	fail_msg("no cell %s/%s", k0, k1 ? k1 : "");
	return NULL;
}

static void test_aggregate(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-22T00:00:00Z") };
	struct st_spec by_region = { .dim = { ST_D_REGION } }, by_country = { .dim = { ST_D_COUNTRY } };
	struct st_spec by_domain = { .dim = { ST_D_DOMAIN } }, per_region = { .dim = { ST_D_REGION, ST_D_DOMAIN }, .group = 1 };
	struct st_spec daily = { .gran = ST_G_DAY, .fill = true }, hourly = { .gran = ST_G_HOUR, .fill = true };
	struct st_spec raw = { .gran = ST_G_HOUR, .dim = { ST_D_ORDER, ST_D_DOMAIN, ST_D_REGION } };
	struct st_table t;
	uint64_t sum = 0;

	(void)state;
	fill(&d);
	assert_int_equal(st_aggregate(&d, &w, &by_region, &t), 0);
	assert_int_equal(t.n, 6); /* IT-25 IT-21 KR-11 KR ZZ GB-ENG */
	assert_true(find(&t, &d.str, "IT-25", NULL)->count == 163);
	assert_true(find(&t, &d.str, "IT-21", NULL)->count == 40);
	assert_true(find(&t, &d.str, "KR-11", NULL)->count == 250);
	assert_true(find(&t, &d.str, "KR", NULL)->count == 12);
	assert_true(find(&t, &d.str, "ZZ", NULL)->count == 4);
	assert_true(find(&t, &d.str, "GB-ENG", NULL)->count == 25);
	for (size_t i = 0; i < t.n; i++)
		sum += t.c[i].count;
	assert_true(sum == 494); /* the 2026-11-22 hour is outside */
	st_table_free(&t);

	assert_int_equal(st_aggregate(&d, &w, &by_country, &t), 0);
	assert_int_equal(t.n, 4);
	assert_true(find(&t, &d.str, "IT", NULL)->count == 203);
	assert_true(find(&t, &d.str, "KR", NULL)->count == 262);
	assert_true(find(&t, &d.str, "GB", NULL)->count == 25);
	st_table_free(&t);

	assert_int_equal(st_aggregate(&d, &w, &by_domain, &t), 0);
	assert_int_equal(t.n, 3);
	assert_true(find(&t, &d.str, "stream.example", NULL)->count == 229);
	assert_true(find(&t, &d.str, "toon.example", NULL)->count == 262);
	assert_true(find(&t, &d.str, "tiny.example", NULL)->count == 3);
	st_table_free(&t);

	assert_int_equal(st_aggregate(&d, &w, &per_region, &t), 0);
	assert_true(find(&t, &d.str, "IT-25", "stream.example")->count == 160);
	assert_true(find(&t, &d.str, "IT-25", "tiny.example")->count == 3);
	st_table_free(&t);

	/* days: every day of the window, empty ones included */
	assert_int_equal(st_aggregate(&d, &w, &daily, &t), 0);
	st_sort_time(&t, &d.str);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.c[0].t, H("2026-11-20T00:00:00Z"));
	assert_true(t.c[0].count == 415);
	assert_true(t.c[1].count == 79);
	st_table_free(&t);

	assert_int_equal(st_aggregate(&d, &w, &hourly, &t), 0);
	st_sort_time(&t, &d.str);
	assert_int_equal(t.n, 48);
	assert_true(t.c[0].count == 143);
	assert_true(t.c[1].count == 272);
	assert_true(t.c[2].count == 0);
	assert_true(t.c[29].count == 79);
	st_table_free(&t);

	/* a window that does not start at midnight still has whole-day buckets */
	w.h0 = H("2026-11-20T01:00:00Z");
	assert_int_equal(st_aggregate(&d, &w, &daily, &t), 0);
	st_sort_time(&t, &d.str);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.c[0].t, H("2026-11-20T00:00:00Z"));
	assert_true(t.c[0].count == 272);
	st_table_free(&t);

	w.h0 = H("2026-11-20T00:00:00Z");
	assert_int_equal(st_aggregate(&d, &w, &raw, &t), 0);
	st_sort_time(&t, &d.str);
	assert_int_equal(t.n, 9);
	assert_int_equal(t.c[0].t, H("2026-11-20T00:00:00Z"));
	assert_string_equal(st_str(&d.str, t.c[0].k[1]), "stream.example");
	assert_string_equal(st_str(&d.str, t.c[0].k[2]), "IT-21");
	st_table_free(&t);
	st_data_free(&d);
}

/* Build a one-dimension table from name=count pairs. */
static void mk(struct st_data *d, struct st_table *t, const char *const *names, const uint64_t *counts, size_t n)
{
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-20T01:00:00Z") };
	struct st_spec sp = { .dim = { ST_D_DOMAIN } };

	for (size_t i = 0; i < n; i++) {
		char f[128], v[32];
		snprintf(f, sizeof(f), "O|%s|IT", names[i]);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)counts[i]);
		assert_int_equal(add(d, "2026-11-20T00", f, v, NULL), 0);
	}
	assert_int_equal(st_aggregate(d, &w, &sp, t), 0);
}

static uint8_t supp_of(const struct st_table *t, const struct st_strtab *s, const char *name)
{
	return find(t, s, name, NULL)->supp;
}

static void test_suppress_primary_and_complementary(void **state)
{
	static const char *const names[] = { "a.example", "b.example", "c.example", "d.example" };
	static const uint64_t counts[] = { 50, 3, 12, 30 };
	struct st_data d = { 0 };
	struct st_table t;

	(void)state;
	mk(&d, &t, names, counts, 4);
	st_suppress(&t, 10, &d.str);
	assert_int_equal(supp_of(&t, &d.str, "b.example"), ST_SUPP_MIN);
	/* b alone below 10: the smallest other cell (c, 12) is withheld too */
	assert_int_equal(supp_of(&t, &d.str, "c.example"), ST_SUPP_COMPL);
	assert_int_equal(supp_of(&t, &d.str, "a.example"), ST_SHOWN);
	assert_int_equal(supp_of(&t, &d.str, "d.example"), ST_SHOWN);
	assert_int_equal(t.n_min, 1);
	assert_int_equal(t.n_compl, 1);
	assert_true(t.total_shown == 80); /* a + d: neither b nor c can be recomputed from it */
	assert_true(t.min_count == 10);

	/* the minimum itself is not suppressed; 9 is */
	st_suppress(&t, 3, &d.str);
	assert_int_equal(t.n_min, 0);
	assert_int_equal(t.n_compl, 0);
	assert_true(t.total_shown == 95);
	st_suppress(&t, 4, &d.str);
	assert_int_equal(t.n_min, 1);
	assert_int_equal(t.n_compl, 1);
	/* 0 and 1 disable suppression */
	st_suppress(&t, 0, &d.str);
	assert_int_equal(t.n_min + t.n_compl, 0);
	assert_true(t.total_shown == 95);
	st_suppress(&t, 1, &d.str);
	assert_int_equal(t.n_min + t.n_compl, 0);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_suppress_two_need_no_complement(void **state)
{
	static const char *const names[] = { "a.example", "b.example", "c.example", "d.example" };
	static const uint64_t counts[] = { 50, 3, 9, 30 };
	struct st_data d = { 0 };
	struct st_table t;

	(void)state;
	mk(&d, &t, names, counts, 4);
	st_suppress(&t, 10, &d.str);
	assert_int_equal(t.n_min, 2);
	assert_int_equal(t.n_compl, 0);
	assert_int_equal(supp_of(&t, &d.str, "a.example"), ST_SHOWN);
	assert_int_equal(supp_of(&t, &d.str, "d.example"), ST_SHOWN);
	assert_true(t.total_shown == 80);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_suppress_ties_and_lonely_cell(void **state)
{
	static const char *const names[] = { "z.example", "y.example", "x.example" };
	static const uint64_t counts[] = { 5, 20, 20 };
	static const char *const one[] = { "only.example" };
	static const uint64_t onec[] = { 7 };
	struct st_data d = { 0 }, d1 = { 0 };
	struct st_table t;

	(void)state;
	mk(&d, &t, names, counts, 3);
	st_suppress(&t, 10, &d.str);
	/* ties between candidates: the first by name */
	assert_int_equal(supp_of(&t, &d.str, "x.example"), ST_SUPP_COMPL);
	assert_int_equal(supp_of(&t, &d.str, "y.example"), ST_SHOWN);
	st_table_free(&t);
	st_data_free(&d);

	/* a table with one cell below the minimum and nothing else */
	mk(&d1, &t, one, onec, 1);
	st_suppress(&t, 10, &d1.str);
	assert_int_equal(t.n_min, 1);
	assert_int_equal(t.n_compl, 0);
	assert_true(t.total_shown == 0);
	st_table_free(&t);
	st_data_free(&d1);
}

static void test_suppress_groups(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-22T00:00:00Z") };
	struct st_spec per_region = { .dim = { ST_D_REGION, ST_D_DOMAIN }, .group = 1 };
	struct st_table t;

	(void)state;
	fill(&d);
	assert_int_equal(add(&d, "2026-11-20T00", "RG-1|other.example|IT-25", "15", NULL), 0);
	assert_int_equal(st_aggregate(&d, &w, &per_region, &t), 0);
	st_suppress(&t, 10, &d.str);
	/* IT-25: stream 160, other 15, tiny 3 -> tiny suppressed, other withheld */
	assert_int_equal(find(&t, &d.str, "IT-25", "tiny.example")->supp, ST_SUPP_MIN);
	assert_int_equal(find(&t, &d.str, "IT-25", "other.example")->supp, ST_SUPP_COMPL);
	assert_int_equal(find(&t, &d.str, "IT-25", "stream.example")->supp, ST_SHOWN);
	/* ZZ: a lone 4, nothing to withhold beside it; other groups untouched */
	assert_int_equal(find(&t, &d.str, "ZZ", "stream.example")->supp, ST_SUPP_MIN);
	assert_int_equal(find(&t, &d.str, "KR-11", "toon.example")->supp, ST_SHOWN);
	assert_int_equal(find(&t, &d.str, "KR", "toon.example")->supp, ST_SHOWN);
	assert_int_equal(t.n_min, 2);
	assert_int_equal(t.n_compl, 1);
	assert_true(t.total_shown == 160 + 40 + 250 + 12 + 25);
	st_table_free(&t);
	st_data_free(&d);
}

/*
 * The two attacks of issue 11 on the figures of st_fine_build/st_derive: the
 * hourly series of everything minus the series of order A, and the total of
 * country IT minus its regions, must not give the 5 hits of order B (in
 * region IT-21, one hour) that are withheld.
 */
static void test_fine_differencing(void **state)
{
	static const char *const rows[][3] = {
		{ "2026-11-20T00", "A|a.example|IT-25", "100" },
		{ "2026-11-20T01", "A|a.example|IT-25", "80" },
		{ "2026-11-20T02", "A|a.example|IT-25", "60" },
		{ "2026-11-20T01", "B|b.example|IT-21", "5" },
	};
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-20T06:00:00Z") };
	struct st_spec hourly = { .gran = ST_G_HOUR, .fill = true, .fill_to = H("2026-11-20T04:00:00Z") };
	struct st_spec by_order = { .dim = { ST_D_ORDER } }, by_region = { .dim = { ST_D_REGION } };
	struct st_spec by_country = { .dim = { ST_D_COUNTRY } };
	struct st_filter only_a = { .order = "A" };
	struct st_table fine, all, a, ord, reg, ctry;
	uint64_t regions_shown = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(add(&d, rows[i][0], rows[i][1], rows[i][2], NULL), 0);
	assert_int_equal(st_fine_build(&d, &w, 10, &fine), 0);
	/* B's cell below 10; all withheld cells in one hour: the smallest shown
	 * cell of another hour (A at 02, 60) is withheld too */
	assert_int_equal(fine.n_min, 1);
	assert_int_equal(fine.n_compl, 1);
	assert_true(fine.total_shown == 180);

	assert_int_equal(st_derive(&fine, &d, NULL, &w, &hourly, &all), 0);
	assert_int_equal(st_derive(&fine, &d, &only_a, &w, &hourly, &a), 0);
	st_sort_time(&all, &d.str);
	st_sort_time(&a, &d.str);
	/* hours 00..03: the future (fill_to) is absent, not zero */
	assert_int_equal(all.n, 4);
	assert_int_equal(a.n, 4);
	for (size_t i = 0; i < all.n; i++) {
		assert_true(all.c[i].t == a.c[i].t);
		assert_int_equal(all.c[i].supp, a.c[i].supp);
		/* everything minus A is 0 in every hour: B's 5 is in neither */
		assert_true(all.c[i].count == a.c[i].count);
	}
	assert_true(all.c[1].count == 80 && all.c[1].supp == ST_SHOWN && all.c[1].withheld == 1);
	assert_int_equal(all.c[2].supp, ST_SUPP_COMPL);
	assert_true(all.c[3].count == 0 && all.c[3].supp == ST_SHOWN);
	assert_true(all.total_shown == 180 && all.fine_min == 1 && all.fine_compl == 1);
	assert_true(a.fine_min == 0 && a.fine_compl == 1);

	assert_int_equal(st_derive(&fine, &d, NULL, &w, &by_order, &ord), 0);
	assert_int_equal(find(&ord, &d.str, "B", NULL)->supp, ST_SUPP_MIN);
	assert_true(find(&ord, &d.str, "A", NULL)->count == 180);

	assert_int_equal(st_derive(&fine, &d, NULL, &w, &by_region, &reg), 0);
	assert_int_equal(st_derive(&fine, &d, NULL, &w, &by_country, &ctry), 0);
	assert_int_equal(find(&reg, &d.str, "IT-21", NULL)->supp, ST_SUPP_MIN);
	for (size_t i = 0; i < reg.n; i++)
		if (reg.c[i].supp == ST_SHOWN)
			regions_shown += reg.c[i].count;
	/* the country is the sum of its published regions, not the raw 245 */
	assert_true(find(&ctry, &d.str, "IT", NULL)->count == regions_shown);
	assert_true(regions_shown == 180);

	/* no suppression: everything, and the same for every command */
	st_table_free(&fine);
	st_table_free(&ctry);
	assert_int_equal(st_fine_build(&d, &w, 0, &fine), 0);
	assert_true(fine.total_shown == 245 && fine.n_min == 0 && fine.n_compl == 0);
	assert_int_equal(st_derive(&fine, &d, NULL, &w, &by_country, &ctry), 0);
	assert_true(ctry.c[0].count == 245 && ctry.min_count == 0);

	st_table_free(&fine);
	st_table_free(&all);
	st_table_free(&a);
	st_table_free(&ord);
	st_table_free(&reg);
	st_table_free(&ctry);
	st_data_free(&d);
}

/* Complementary suppression spreads withheld cells over two entries of every breakdown that has two. */
static void test_fine_complement_every_breakdown(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-22T00:00:00Z") };
	struct st_table fine;

	(void)state;
	fill(&d);
	assert_int_equal(st_fine_build(&d, &w, 10, &fine), 0);
	/* below 10: tiny@20T00 (3) and ZZ@21T05 (4): two hours, days, domains,
	 * regions, countries, but both of order RG-1: the smallest shown cell of
	 * another order (KC-7, KR, 12) is withheld */
	assert_int_equal(fine.n_min, 2);
	assert_int_equal(fine.n_compl, 1);
	for (size_t i = 0; i < fine.n; i++)
		if (fine.c[i].supp == ST_SUPP_COMPL)
			assert_string_equal(st_str(&d.str, fine.c[i].k[2]), "KR");
	st_table_free(&fine);
	st_data_free(&d);
}

static void test_sort_rank(void **state)
{
	static const char *const names[] = { "e.example", "b.example", "c.example", "a.example", "d.example",
					     "f.example" };
	static const uint64_t counts[] = { 40, 3, 40, 8, 100, 55 };
	struct st_data d = { 0 };
	struct st_table t;
	static const char *const want[] = { "d.example", "f.example", "c.example", "e.example", "a.example",
					    "b.example" };

	(void)state;
	mk(&d, &t, names, counts, 6);
	st_suppress(&t, 10, &d.str);
	st_sort_rank(&t, &d.str);
	/* shown cells by count (ties by name), then suppressed ones by name */
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(st_str(&d.str, t.c[i].k[0]), want[i]);
	assert_int_equal(t.c[4].supp, ST_SUPP_MIN);
	assert_int_equal(t.c[5].supp, ST_SUPP_MIN);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_dims(void **state)
{
	(void)state;
	assert_int_equal(st_dim_parse("order"), ST_D_ORDER);
	assert_int_equal(st_dim_parse("domain"), ST_D_DOMAIN);
	assert_int_equal(st_dim_parse("region"), ST_D_REGION);
	assert_int_equal(st_dim_parse("country"), ST_D_COUNTRY);
	assert_int_equal(st_dim_parse("client"), ST_D_NONE);
	assert_string_equal(st_dim_name(ST_D_COUNTRY), "country");
	assert_string_equal(st_dim_name(ST_D_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hour_names),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_last),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_region_norm),
		cmocka_unit_test(test_region_country),
		cmocka_unit_test(test_region_match),
		cmocka_unit_test(test_field_parse),
		cmocka_unit_test(test_field_parse_prefix),
		cmocka_unit_test(test_count_parse),
		cmocka_unit_test(test_data_add),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_suppress_primary_and_complementary),
		cmocka_unit_test(test_suppress_two_need_no_complement),
		cmocka_unit_test(test_suppress_ties_and_lonely_cell),
		cmocka_unit_test(test_suppress_groups),
		cmocka_unit_test(test_fine_differencing),
		cmocka_unit_test(test_fine_complement_every_breakdown),
		cmocka_unit_test(test_sort_rank),
		cmocka_unit_test(test_dims),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
