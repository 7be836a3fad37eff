/*
 * test_stats_html.c — the HTML report of redsink-stats (tools/stats/stats_html.c):
 * escaping, number grouping, axis scales, the SVG charts (columns, line,
 * bars; suppressed cells drawn without their counts), and a whole page that
 * is self-contained (no script, no external reference).
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
#include "stats_html.h"

static int64_t H(const char *s)
{
	int64_t t;

	assert_int_equal(rs_rfc3339_parse(s, &t), 0);
	return t / 3600;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_escape(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	st_html_esc(out, "<a href='x'>&\"</a>");
	fputc('|', out);
	st_html_esc(out, "bad \xff utf8 \xc3");
	fputc('|', out);
	st_html_esc(out, "ctl\x01\x1b tab\t");
	fputc('|', out);
	st_html_esc(out, "\xeb\xb0\xa9\xec\x86\xa1 caf\xc3\xa9");
	fclose(out);
	assert_string_equal(buf, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;|"
				 "bad \xef\xbf\xbd utf8 \xef\xbf\xbd|"
				 "ctl\xef\xbf\xbd\xef\xbf\xbd tab\t|"
				 "\xeb\xb0\xa9\xec\x86\xa1 caf\xc3\xa9");
	free(buf);
}

static void test_numbers(void **state)
{
	char buf[32];
	uint64_t top, step;

	(void)state;
	assert_string_equal(st_num_group(0, buf, sizeof(buf)), "0");
	assert_string_equal(st_num_group(999, buf, sizeof(buf)), "999");
	assert_string_equal(st_num_group(1000, buf, sizeof(buf)), "1,000");
	assert_string_equal(st_num_group(1234567, buf, sizeof(buf)), "1,234,567");
	st_nice_scale(0, &top, &step);
	assert_true(top == 1 && step == 1);
	st_nice_scale(7, &top, &step);
	assert_true(top == 8 && step == 2);
	st_nice_scale(100, &top, &step);
	assert_true(top == 100 && step == 20);
	st_nice_scale(101, &top, &step);
	assert_true(top == 150 && step == 50);
	st_nice_scale(12345, &top, &step);
	assert_true(top == 15000 && step == 5000);
}

/* A time table of n hours from 2026-11-20T00 with the given counts (suppressed below 10). */
static void time_table(struct st_data *d, struct st_table *t, size_t n, const uint64_t *counts, int gran)
{
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-20T00:00:00Z") + (int64_t)n };
	struct st_spec sp = { .gran = gran, .fill = true };

	for (size_t i = 0; i < n; i++) {
		char v[32];
		if (!counts[i])
			continue;
		snprintf(v, sizeof(v), "%llu", (unsigned long long)counts[i]);
		assert_int_equal(st_data_add(d, w.h0 + (int64_t)i, "O|a.example|IT", 14, v, strlen(v), NULL), 0);
	}
	assert_int_equal(st_aggregate(d, &w, &sp, t), 0);
	st_suppress(t, 10, &d->str);
	st_sort_time(t, &d->str);
}

static char *svg_time(const struct st_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_int_equal(st_svg_time(out, t, NULL, "chart-time", "Hits <per> hour"), 0);
	fclose(out);
	return buf;
}

static void test_svg_columns(void **state)
{
	static const uint64_t counts[] = { 120, 0, 7, 300, 45, 60 };
	struct st_data d = { 0 };
	struct st_table t;
	char *s;

	(void)state;
	time_table(&d, &t, 6, counts, ST_G_HOUR);
	s = svg_time(&t);
	assert_true(strncmp(s, "<svg class=\"chart time\" id=\"chart-time\" viewBox=\"0 0 960 300\"", 60) == 0);
	assert_non_null(strstr(s, "<title id=\"chart-time-title\">Hits &lt;per&gt; hour</title>"));
	/* four bars (the empty hour has none), one grey stub for the 7, withheld 45 (complement) also grey */
	assert_int_equal(count(s, "<rect class=\"bar\""), 3);
	assert_int_equal(count(s, "<rect class=\"supp\""), 2);
	assert_non_null(strstr(s, "<title>2026-11-20T02:00:00Z: &lt;10</title>"));
	assert_non_null(strstr(s, "<title>2026-11-20T04:00:00Z: withheld</title>"));
	assert_null(strstr(s, ": 7<"));
	assert_null(strstr(s, ": 45<"));
	assert_non_null(strstr(s, "<title>2026-11-20T03:00:00Z: 300</title>"));
	/* hour labels on the axis */
	assert_non_null(strstr(s, ">11-20 00:00</text>"));
	assert_non_null(strstr(s, "</svg>\n"));
	free(s);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_svg_line(void **state)
{
	uint64_t counts[168];
	struct st_data d = { 0 };
	struct st_table t;
	char *s;

	(void)state;
	for (size_t i = 0; i < 168; i++)
		counts[i] = 100 + (i % 24) * 10;
	counts[50] = 3; /* suppressed: the line breaks there */
	time_table(&d, &t, 168, counts, ST_G_HOUR);
	s = svg_time(&t);
	assert_int_equal(count(s, "<rect class=\"bar\""), 0);
	assert_int_equal(count(s, "<path class=\"line\""), 2);
	assert_int_equal(count(s, "<path class=\"area\""), 2);
	assert_int_equal(count(s, "<rect class=\"supp\""), 2); /* the 3, and the smallest other (100) withheld */
	/* day labels only, at most eight */
	assert_non_null(strstr(s, ">11-20</text>"));
	assert_true(count(s, "text-anchor=\"middle\"") <= 8);
	free(s);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_svg_bars(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-20T01:00:00Z") };
	struct st_spec sp = { .dim = { ST_D_DOMAIN } };
	struct st_table t;
	static const char *const f[] = {
		"O|stream.example|IT", "O|tiny.example|IT", "O|mid.example|IT", "O|toon.example|IT",
		"O|a-very-long-domain-name-that-goes-on-and-on.for-ever.example|IT",
	};
	static const char *const v[] = { "120", "7", "25", "345", "80" };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(st_data_add(&d, w.h0, f[i], strlen(f[i]), v[i], strlen(v[i]), NULL), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp, &t), 0);
	st_suppress(&t, 10, &d.str);
	st_sort_rank(&t, &d.str);
	out = open_memstream(&buf, &len);
	assert_int_equal(st_svg_bars(out, &t, &d.str, 4, "chart-domains", "Top domains"), 0);
	fclose(out);
	/* four rows of five: toon, stream, the long one, then the suppressed rows by name (mid) */
	assert_int_equal(count(buf, "<g class=\"row\">"), 4);
	assert_int_equal(count(buf, "<rect class=\"bar\""), 3);
	assert_int_equal(count(buf, "<rect class=\"supp\""), 1);
	assert_non_null(strstr(buf, "<title>toon.example: 345</title>"));
	assert_non_null(strstr(buf, ">345</text>"));
	assert_non_null(strstr(buf, "<title>mid.example: withheld</title>"));
	assert_null(strstr(buf, "tiny.example"));
	/* long labels shortened with an ellipsis, the full name in the tooltip */
	assert_non_null(strstr(buf, ">a-very-long-domain-name-that-goes-on-and-on\xe2\x80\xa6</text>"));
	assert_non_null(strstr(buf, "<title>a-very-long-domain-name-that-goes-on-and-on.for-ever.example: 80</title>"));
	free(buf);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_report(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-23T00:00:00Z") };
	struct st_spec sp_t = { .gran = ST_G_DAY, .fill = true }, sp_r = { .dim = { ST_D_REGION } };
	struct st_spec sp_d = { .dim = { ST_D_DOMAIN } }, sp_o = { .dim = { ST_D_ORDER } };
	struct st_table tt, tr, td, to;
	struct st_filter flt = { 0 };
	struct st_orders orders = { 0 };
	struct st_meta m = { .command = "report", .source = "dns", .title = "redsink: DNS hits", .w = w,
			     .filter = &flt, .orders = &orders };
	struct st_report r = { .meta = &m, .s = &d.str, .time = &tt, .regions = &tr, .domains = &td, .orders = &to,
			       .limit = 15, .generated = 1795000000, .version = "0.1.0" };
	static const char *const rows[][3] = {
		{ "2026-11-20T00:00:00Z", "RG-1|stream.example|IT-25", "120" },
		{ "2026-11-20T05:00:00Z", "RG-1|tiny.example|IT-25", "7" },
		{ "2026-11-21T01:00:00Z", "UK<b>&amp;|evil<script>.example|GB-ENG", "1" }, /* not a domain: skipped */
		{ "2026-11-21T01:00:00Z", "UK<b>&x|films.example|GB-ENG", "64" },
		{ "2026-11-22T09:00:00Z", "KC-7|toon.example|KR-11", "345" },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		st_data_add(&d, H(rows[i][0]), rows[i][1], strlen(rows[i][1]), rows[i][2], strlen(rows[i][2]), NULL);
	assert_int_equal(d.malformed, 1);
	orders.n = d.str.n;
	orders.authority = calloc(d.str.n, sizeof(char *));
	orders.reference = calloc(d.str.n, sizeof(char *));
	for (uint32_t i = 0; i < d.str.n; i++)
		if (strcmp(st_str(&d.str, i), "UK<b>&x") == 0)
			orders.authority[i] = strdup("High Court <Chancery> & Co");
	assert_int_equal(st_aggregate(&d, &w, &sp_t, &tt), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_r, &tr), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_d, &td), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_o, &to), 0);
	st_suppress(&tt, 10, &d.str);
	st_sort_time(&tt, &d.str);
	st_suppress(&tr, 10, &d.str);
	st_sort_rank(&tr, &d.str);
	st_suppress(&td, 10, &d.str);
	st_sort_rank(&td, &d.str);
	st_suppress(&to, 10, &d.str);
	st_sort_rank(&to, &d.str);

	out = open_memstream(&buf, &len);
	assert_int_equal(st_html_report(out, &r), 0);
	fclose(out);
	assert_true(strncmp(buf, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
	assert_non_null(strstr(buf, "<title>redsink: DNS hits, 2026-11-20 00:00 to 2026-11-23 00:00 UTC</title>"));
	assert_non_null(strstr(buf, "<meta charset=\"utf-8\">"));
	/* the four charts, each followed by its table */
	assert_non_null(strstr(buf, "id=\"chart-time\""));
	assert_non_null(strstr(buf, "id=\"chart-regions\""));
	assert_non_null(strstr(buf, "id=\"chart-domains\""));
	assert_non_null(strstr(buf, "id=\"chart-orders\""));
	assert_true(strstr(buf, "id=\"chart-time\"") < strstr(buf, "id=\"table-time\""));
	assert_true(strstr(buf, "id=\"chart-regions\"") < strstr(buf, "id=\"table-regions\""));
	assert_true(strstr(buf, "id=\"chart-domains\"") < strstr(buf, "id=\"table-domains\""));
	assert_true(strstr(buf, "id=\"chart-orders\"") < strstr(buf, "id=\"table-orders\""));
	/* self-contained: no script, no external reference of any kind */
	assert_null(strstr(buf, "<script"));
	assert_null(strstr(buf, "http:"));
	assert_null(strstr(buf, "https:"));
	assert_null(strstr(buf, "src="));
	assert_null(strstr(buf, "href="));
	assert_null(strstr(buf, "@import"));
	assert_null(strstr(buf, "url("));
	/* data escaped */
	assert_non_null(strstr(buf, "UK&lt;b&gt;&amp;x"));
	assert_null(strstr(buf, "UK<b>"));
	assert_non_null(strstr(buf, "High Court &lt;Chancery&gt; &amp; Co"));
	/* privacy stated, the 7 never shown */
	assert_non_null(strstr(buf, "id=\"privacy\""));
	assert_non_null(strstr(buf, "&lt;10"));
	assert_non_null(strstr(buf, "tiny.example: &lt;10"));
	assert_null(strstr(buf, "tiny.example: 7"));
	assert_non_null(strstr(buf, "Total of shown cells: 536."));
	assert_non_null(strstr(buf, "Total of shown cells: 465."));
	free(buf);
	st_table_free(&tt);
	st_table_free(&tr);
	st_table_free(&td);
	st_table_free(&to);
	for (uint32_t i = 0; i < orders.n; i++) {
		free(orders.authority[i]);
		free(orders.reference[i]);
	}
	free(orders.authority);
	free(orders.reference);
	st_data_free(&d);
}

static void test_partial_days(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T12:00:00Z"), H("2026-11-23T06:00:00Z") };
	struct st_spec sp = { .gran = ST_G_DAY, .fill = true };
	struct st_table t;
	static const char *const at[] = { "2026-11-20T13:00:00Z", "2026-11-21T13:00:00Z", "2026-11-22T13:00:00Z",
					  "2026-11-23T01:00:00Z" };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(st_data_add(&d, H(at[i]), "O|a.example|IT", 14, "50", 2, NULL), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp, &t), 0);
	st_suppress(&t, 10, &d.str);
	st_sort_time(&t, &d.str);
	out = open_memstream(&buf, &len);
	assert_int_equal(st_svg_time(out, &t, &w, "chart-time", "days"), 0);
	fclose(out);
	/* the first (12 hours) and last (6 hours) days are lighter */
	assert_int_equal(count(buf, "<rect class=\"bar part\""), 2);
	assert_int_equal(count(buf, "<rect class=\"bar\""), 2);
	free(buf);
	st_table_free(&t);
	st_data_free(&d);
}

static void test_report_without_suppression_or_hits(void **state)
{
	struct st_data d = { 0 };
	struct st_window w = { H("2026-11-20T00:00:00Z"), H("2026-11-21T00:00:00Z") };
	struct st_spec sp_t = { .gran = ST_G_HOUR, .fill = true }, sp_r = { .dim = { ST_D_REGION } };
	struct st_table tt, tr, td, to;
	struct st_meta m = { .command = "report", .source = "views", .title = "views", .w = w };
	struct st_report r = { .meta = &m, .s = &d.str, .time = &tt, .regions = &tr, .domains = &td, .orders = &to,
			       .generated = 1795000000, .version = "0.1.0" };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_int_equal(st_aggregate(&d, &w, &sp_t, &tt), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_r, &tr), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_r, &td), 0);
	assert_int_equal(st_aggregate(&d, &w, &sp_r, &to), 0);
	st_suppress(&tt, 10, &d.str);
	st_suppress(&tr, 10, &d.str);
	st_suppress(&td, 10, &d.str);
	st_suppress(&to, 10, &d.str);
	out = open_memstream(&buf, &len);
	assert_int_equal(st_html_report(out, &r), 0);
	fclose(out);
	assert_non_null(strstr(buf, "no count in this report is that small, so nothing is withheld"));
	assert_non_null(strstr(buf, "warning-page views (views:&lt;hour&gt; keys)"));
	assert_int_equal(count(buf, "No hits in this window."), 4);
	assert_non_null(strstr(buf, "id=\"chart-time\""));
	assert_non_null(strstr(buf, "</html>\n"));
	free(buf);
	st_table_free(&tt);
	st_table_free(&tr);
	st_table_free(&td);
	st_table_free(&to);
	st_data_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_svg_columns),
		cmocka_unit_test(test_svg_line),
		cmocka_unit_test(test_svg_bars),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_partial_days),
		cmocka_unit_test(test_report_without_suppression_or_hits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
