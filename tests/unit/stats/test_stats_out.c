/*
 * test_stats_out.c — redsink-stats' text table, CSV and JSON renderings
 * (tools/stats/stats_out.c): suppressed cells never show their count in any
 * format, the suppression is stated, ranks skip suppressed rows, --limit per
 * group, CSV quoting, terminal-safe text.
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
#include "stats_out.h"

static int64_t H(const char *s)
{
	int64_t t;

	assert_int_equal(rs_rfc3339_parse(s, &t), 0);
	return t / 3600;
}

struct fixture {
	struct st_data d;
	struct st_window w;
	struct st_orders o;
	char *auth[16], *ref[16];
};

static void put(struct st_data *d, const char *hour, const char *field, const char *value)
{
	char iso[40];

	snprintf(iso, sizeof(iso), "%s:00:00Z", hour);
	assert_int_equal(st_data_add(d, H(iso), field, strlen(field), value, strlen(value), NULL), 0);
}

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	put(&x->d, "2026-11-20T00", "RG-1|stream.example|IT-25", "120");
	put(&x->d, "2026-11-20T00", "RG-1|tiny.example|IT-25", "7");
	put(&x->d, "2026-11-20T01", "RG-1|mid.example|IT-21", "25");
	put(&x->d, "2026-11-20T01", "KC-7|toon.example|KR-11", "300");
	put(&x->d, "2026-11-20T02", "KC-7|toon.example|KR-11", "45");
	x->w.h0 = H("2026-11-20T00:00:00Z");
	x->w.h1 = H("2026-11-20T03:00:00Z");
	x->o.n = x->d.str.n;
	x->o.authority = calloc(x->o.n, sizeof(char *));
	x->o.reference = calloc(x->o.n, sizeof(char *));
	for (uint32_t i = 0; i < x->d.str.n; i++) {
		if (strcmp(st_str(&x->d.str, i), "RG-1") == 0) {
			x->o.authority[i] = strdup("Tribunale di Milano");
			x->o.reference[i] = strdup("RG 1234/2026");
		}
		if (strcmp(st_str(&x->d.str, i), "KC-7") == 0) {
			x->o.authority[i] = strdup("\xeb\xb0\xa9\xec\x86\xa1\xed\x86\xb5\xec\x8b\xa0\xec\x8b\xac\xec\x9d\x98"
						   "\xec\x9c\x84\xec\x9b\x90\xed\x9a\x8c\x1b[31m"); /* KCSC + ESC */
			x->o.reference[i] = strdup("2026-\"123\", b");
		}
	}
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	for (uint32_t i = 0; i < x->o.n; i++) {
		free(x->o.authority[i]);
		free(x->o.reference[i]);
	}
	free(x->o.authority);
	free(x->o.reference);
	st_data_free(&x->d);
	free(x);
	return 0;
}

static char *render(struct fixture *x, int fmt, const struct st_table *t, const struct st_col *cols, size_t ncols,
		    size_t limit, const struct st_filter *f)
{
	struct st_meta m = {
		.command = "top", .source = "dns", .title = "DNS hits by domain", .w = x->w, .filter = f,
		.by = "domain", .limit = limit, .orders = &x->o,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(st_render(out, fmt, &m, t, &x->d.str, cols, ncols), 0);
	fclose(out);
	return buf;
}

static void by_domain(struct fixture *x, struct st_table *t, uint64_t min)
{
	struct st_spec sp = { .dim = { ST_D_DOMAIN } };

	assert_int_equal(st_aggregate(&x->d, &x->w, &sp, t), 0);
	st_suppress(t, min, &x->d.str);
	st_sort_rank(t, &x->d.str);
}

static const struct st_col dom_cols[] = {
	{ ST_C_RANK, 0, "rank" }, { ST_C_DIM, 0, "domain" }, { ST_C_HITS, 0, "hits" },
};

static void test_statement(void **state)
{
	struct st_table t = { .min_count = 10, .n_min = 3, .n_compl = 0 };
	char buf[320];

	(void)state;
	st_supp_statement(&t, buf, sizeof(buf));
	assert_string_equal(buf, "3 cells below 10 suppressed; totals count shown cells only");
	t.n_min = 1;
	t.n_compl = 1;
	st_supp_statement(&t, buf, sizeof(buf));
	assert_string_equal(buf, "1 cell below 10 suppressed, and 1 more withheld so that it cannot be worked out "
				 "from a total; totals count shown cells only");
	t.n_min = 0;
	t.n_compl = 0;
	st_supp_statement(&t, buf, sizeof(buf));
	assert_string_equal(buf, "no hour cell below 10: nothing suppressed");
	/* a table derived from hour cells (st_derive) speaks of them */
	t.fine_min = 4;
	t.fine_compl = 1;
	t.n_min = 1;
	st_supp_statement(&t, buf, sizeof(buf));
	assert_string_equal(buf, "4 hour cells below 10 withheld, and 1 more withheld so that none can be worked out "
				 "from a total; 1 row without a count; every figure is a sum of published hour cells only");
	t.min_count = 0;
	st_supp_statement(&t, buf, sizeof(buf));
	assert_string_equal(buf, "SUPPRESSION OFF (--no-suppression): every count is shown, small ones included");
}

static void test_table(void **state)
{
	struct fixture *x = *state;
	struct st_table t;
	struct st_filter f = { .region = "IT" };
	char *s;

	by_domain(x, &t, 10);
	s = render(x, ST_FMT_TABLE, &t, dom_cols, 3, 0, &f);
	assert_non_null(strstr(s, "DNS hits by domain\n"));
	assert_non_null(strstr(s, "window: 2026-11-20T00:00:00Z to 2026-11-20T03:00:00Z (3 hours, UTC; end excluded)\n"));
	assert_non_null(strstr(s, "filter: region IT (with its subdivisions)\n"));
	assert_non_null(strstr(s, "  toon.example "));
	assert_non_null(strstr(s, "  stream.example "));
	/* tiny (7) below 10; mid (25) withheld as its complement; no rank, no count */
	assert_non_null(strstr(s, "   -  mid.example"));
	assert_non_null(strstr(s, "tiny.example"));
	assert_null(strstr(s, " 7\n"));
	assert_null(strstr(s, "25"));
	assert_non_null(strstr(s, "total of shown cells: 465\n"));
	assert_non_null(strstr(s, "privacy: 1 cell below 10 suppressed, and 1 more withheld"));
	assert_non_null(strstr(s, "(<10: below the minimum count; withheld: complementary suppression)"));
	free(s);

	/* --limit: rows left out are stated */
	s = render(x, ST_FMT_TABLE, &t, dom_cols, 3, 2, NULL);
	assert_non_null(strstr(s, "2 more rows not shown (--limit 2)\n"));
	assert_null(strstr(s, "tiny.example"));
	free(s);
	st_table_free(&t);
}

static void test_table_exact_layout(void **state)
{
	struct fixture *x = *state;
	struct st_table t;
	char *s;
	const char *want = "   1  toon.example         345\n"
			   "   2  stream.example       120\n"
			   "   -  mid.example     withheld\n"
			   "   -  tiny.example         <10\n";

	by_domain(x, &t, 10);
	s = render(x, ST_FMT_TABLE, &t, dom_cols, 3, 0, NULL);
	assert_non_null(strstr(s, "RANK  DOMAIN              HITS\n"));
	assert_non_null(strstr(s, want));
	free(s);
	st_table_free(&t);
}

static void test_csv(void **state)
{
	struct fixture *x = *state;
	struct st_table t;
	char *s;

	by_domain(x, &t, 10);
	s = render(x, ST_FMT_CSV, &t, dom_cols, 3, 0, NULL);
	assert_string_equal(s, "rank,domain,hits,note\r\n"
			       "1,toon.example,345,\r\n"
			       "2,stream.example,120,\r\n"
			       ",mid.example,,withheld: complementary suppression\r\n"
			       ",tiny.example,,suppressed: below 10\r\n");
	free(s);
	st_table_free(&t);
}

static void test_json(void **state)
{
	struct fixture *x = *state;
	struct st_table t;
	char *s;

	by_domain(x, &t, 10);
	s = render(x, ST_FMT_JSON, &t, dom_cols, 3, 0, NULL);
	assert_non_null(strstr(s, "\"command\": \"top\""));
	assert_non_null(strstr(s, "\"window\": {\"from\": \"2026-11-20T00:00:00Z\", \"to\": \"2026-11-20T03:00:00Z\", \"hours\": 3}"));
	assert_non_null(strstr(s, "{\"rank\": 1, \"domain\": \"toon.example\", \"hits\": 345, \"suppressed\": false}"));
	assert_non_null(strstr(s, "{\"rank\": null, \"domain\": \"tiny.example\", \"hits\": null, \"suppressed\": true, "
				  "\"suppression\": \"below_minimum\"}"));
	assert_non_null(strstr(s, "{\"rank\": null, \"domain\": \"mid.example\", \"hits\": null, \"suppressed\": true, "
				  "\"suppression\": \"complementary\"}"));
	assert_non_null(strstr(s, "\"total_shown\": 465"));
	assert_non_null(strstr(s, "\"suppression\": {\"min_count\": 10, \"off\": false, \"below_minimum\": 1, \"complementary\": 1"));
	assert_non_null(strstr(s, "\"filter\": {\"order\": null, \"domain\": null, \"region\": null}"));
	assert_null(strstr(s, ": 7"));
	assert_null(strstr(s, ": 25"));
	free(s);
	st_table_free(&t);
}

static void test_orders_and_escaping(void **state)
{
	struct fixture *x = *state;
	struct st_spec sp = { .dim = { ST_D_ORDER } };
	struct st_col cols[] = {
		{ ST_C_RANK, 0, "rank" }, { ST_C_DIM, 0, "order" }, { ST_C_REFERENCE, 0, "reference" },
		{ ST_C_AUTHORITY, 0, "authority" }, { ST_C_HITS, 0, "hits" },
	};
	struct st_table t;
	char *s;

	assert_int_equal(st_aggregate(&x->d, &x->w, &sp, &t), 0);
	st_suppress(&t, 10, &x->d.str);
	st_sort_rank(&t, &x->d.str);
	/* table: the escape character never reaches the terminal; wide characters
	 * (nine Hangul syllables: 18 columns) keep the columns aligned */
	s = render(x, ST_FMT_TABLE, &t, cols, 5, 0, NULL);
	assert_null(strchr(s, '\x1b'));
	assert_non_null(strstr(s, "?[31m"));
	assert_non_null(strstr(s, "   2  RG-1   RG 1234/2026   Tribunale di Milano       152\n"));
	free(s);
	/* CSV: quoted as RFC 4180 wants */
	s = render(x, ST_FMT_CSV, &t, cols, 5, 0, NULL);
	assert_non_null(strstr(s, "1,KC-7,\"2026-\"\"123\"\", b\","));
	assert_non_null(strstr(s, "2,RG-1,RG 1234/2026,Tribunale di Milano,152,\r\n"));
	free(s);
	/* JSON: escaped, and the orders' metadata listed */
	s = render(x, ST_FMT_JSON, &t, cols, 5, 0, NULL);
	assert_non_null(strstr(s, "\"reference\": \"2026-\\\"123\\\", b\""));
	assert_non_null(strstr(s, "\\u001b[31m"));
	assert_non_null(strstr(s, "\"orders\": {"));
	assert_non_null(strstr(s, "\"RG-1\": {\"reference\": \"RG 1234/2026\", \"authority\": \"Tribunale di Milano\"}"));
	free(s);
	st_table_free(&t);
}

static void test_groups_and_limit(void **state)
{
	struct fixture *x = *state;
	struct st_spec sp = { .dim = { ST_D_REGION, ST_D_DOMAIN }, .group = 1 };
	struct st_col cols[] = {
		{ ST_C_DIM, 0, "region" }, { ST_C_RANK, 0, "rank" }, { ST_C_DIM, 1, "domain" }, { ST_C_HITS, 0, "hits" },
	};
	struct st_table t;
	char *s;

	assert_int_equal(st_aggregate(&x->d, &x->w, &sp, &t), 0);
	st_suppress(&t, 10, &x->d.str);
	st_sort_rank(&t, &x->d.str);
	s = render(x, ST_FMT_CSV, &t, cols, 4, 1, NULL);
	/* the first row of each region; ranks restart per region. In IT-25 the 7
	 * is suppressed and its only companion withheld, so nothing is ranked. */
	assert_string_equal(s, "region,rank,domain,hits,note\r\n"
			       "IT-21,1,mid.example,25,\r\n"
			       "IT-25,,stream.example,,withheld: complementary suppression\r\n"
			       "KR-11,1,toon.example,345,\r\n");
	free(s);
	st_table_free(&t);
}

static void test_empty(void **state)
{
	struct fixture *x = *state;
	struct st_table t;
	struct st_window w = x->w;
	struct st_spec sp = { .dim = { ST_D_DOMAIN } };
	char *s;

	x->w.h0 = H("2027-01-01T00:00:00Z");
	x->w.h1 = H("2027-01-02T00:00:00Z");
	assert_int_equal(st_aggregate(&x->d, &x->w, &sp, &t), 0);
	st_suppress(&t, 10, &x->d.str);
	s = render(x, ST_FMT_TABLE, &t, dom_cols, 3, 0, NULL);
	assert_non_null(strstr(s, "no hits in this window\n"));
	assert_non_null(strstr(s, "total of shown cells: 0\n"));
	free(s);
	s = render(x, ST_FMT_JSON, &t, dom_cols, 3, 0, NULL);
	assert_non_null(strstr(s, "\"rows\": [],"));
	free(s);
	s = render(x, ST_FMT_CSV, &t, dom_cols, 3, 0, NULL);
	assert_string_equal(s, "rank,domain,hits,note\r\n");
	free(s);
	st_table_free(&t);
	x->w = w;
}

static void test_csv_field(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	st_csv_field(out, "plain");
	fputc('|', out);
	st_csv_field(out, "a,b");
	fputc('|', out);
	st_csv_field(out, "say \"hi\"");
	fputc('|', out);
	st_csv_field(out, "two\nlines");
	fputc('|', out);
	st_csv_field(out, " padded ");
	fputc('|', out);
	st_csv_field(out, "");
	fclose(out);
	assert_string_equal(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\" padded \"|");
	free(buf);
}

static void test_width_and_labels(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(st_text_width("abc"), 3);
	assert_int_equal(st_text_width("\xeb\xb0\xa9\xec\x86\xa1"), 4); /* two Hangul syllables */
	assert_int_equal(st_text_width("caf\xc3\xa9"), 4);
	st_time_label(H("2026-11-20T05:00:00Z"), ST_G_HOUR, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-20T05:00:00Z");
	st_time_label(H("2026-11-20T00:00:00Z"), ST_G_DAY, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-20");
}

static void test_bucket_hours(void **state)
{
	struct st_window w = { H("2026-11-20T12:00:00Z"), H("2026-11-22T05:00:00Z") };

	(void)state;
	assert_int_equal(st_bucket_hours(H("2026-11-20T00:00:00Z"), ST_G_DAY, &w), 12);
	assert_int_equal(st_bucket_hours(H("2026-11-21T00:00:00Z"), ST_G_DAY, &w), 24);
	assert_int_equal(st_bucket_hours(H("2026-11-22T00:00:00Z"), ST_G_DAY, &w), 5);
	assert_int_equal(st_bucket_hours(H("2026-11-23T00:00:00Z"), ST_G_DAY, &w), 0);
	assert_int_equal(st_bucket_hours(H("2026-11-21T07:00:00Z"), ST_G_HOUR, &w), 1);
}

static void test_series_hours_column(void **state)
{
	struct fixture *x = *state;
	struct st_spec sp = { .gran = ST_G_DAY, .fill = true };
	struct st_col cols[] = { { ST_C_TIME, 0, "day" }, { ST_C_HITS, 0, "hits" }, { ST_C_HOURS, 0, "hours" } };
	struct st_table t;
	char *s;

	x->w.h0 = H("2026-11-19T22:00:00Z");
	x->w.h1 = H("2026-11-20T02:00:00Z");
	assert_int_equal(st_aggregate(&x->d, &x->w, &sp, &t), 0);
	st_suppress(&t, 10, &x->d.str);
	st_sort_time(&t, &x->d.str);
	s = render(x, ST_FMT_CSV, &t, cols, 3, 0, NULL);
	/* 2026-11-20T00 and T01 are inside: 127 + 325; the 19th has two empty hours */
	assert_string_equal(s, "day,hits,hours,note\r\n2026-11-19,0,2,\r\n2026-11-20,452,2,\r\n");
	free(s);
	s = render(x, ST_FMT_JSON, &t, cols, 3, 0, NULL);
	assert_non_null(strstr(s, "{\"day\": \"2026-11-20\", \"hits\": 452, \"hours\": 2, \"suppressed\": false}"));
	assert_non_null(strstr(s, "\"granularity\": \"day\""));
	free(s);
	st_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statement),
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_exact_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_and_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test(test_csv_field),
		cmocka_unit_test(test_width_and_labels),
		cmocka_unit_test(test_bucket_hours),
		cmocka_unit_test_setup_teardown(test_series_hours_column, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
