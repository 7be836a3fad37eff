/*
 * test_stats_disc.c — redsink-stats discovered / collateral (tools/stats/
 * stats_disc.c): parsing the hostile "<name>|<order>|<prefix>" fields of the
 * discovered:<hour> hashes and their counts, the per-name rows, the distinct
 * names per prefix and hour, and the three outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "disc.h"
#include "rs_err.h"
#include "stats_disc.h"
#include "stats_out.h"

static int parse(const char *f, struct rs_disc_field *out)
{
	return rs_disc_field_parse(f, strlen(f), out);
}

static void test_field_ok(void **state)
{
	struct rs_disc_field f;

	(void)state;
	assert_int_equal(parse("mirror1.example|o-1|192.0.2.0/24", &f), 0);
	assert_string_equal(f.name, "mirror1.example");
	assert_string_equal(f.order, "o-1");
	assert_string_equal(f.prefix, "192.0.2.0/24");
	assert_int_equal(parse("www.mirror.example|o|2001:db8::/48", &f), 0);
	assert_string_equal(f.prefix, "2001:db8::/48");
	/* what the module writes for odd names (lib/disc.h): read as written */
	assert_int_equal(parse("a\\124b\\001\\046.x\\046y.example|o1|198.51.100.7/32", &f), 0);
	assert_string_equal(f.name, "a\\124b\\001\\046.x\\046y.example");
}

static void test_field_hostile(void **state)
{
	static const char *const bad[] = {
		"",                                   /* nothing */
		"a.example|o",                        /* one '|' */
		"a.example|o|192.0.2.0/24|x",         /* three */
		"a.example||192.0.2.0/24",            /* empty order */
		"|o|192.0.2.0/24",                    /* empty name */
		"a.example|o|",                       /* empty prefix */
		"a.example|o|10.0.0.1/8",             /* host bits set */
		"a.example|o|192.0.2.0/33",           /* length */
		"a.example|o|not-a-prefix",
		"a.example|o|192.0.2.0/24 ",          /* space */
		"a..example|o|192.0.2.0/24",          /* empty label */
		"a example|o|192.0.2.0/24",           /* space in the name */
		"a.example|o:1|192.0.2.0/24",         /* ':' in an order id */
		"a.example|o 1|192.0.2.0/24",         /* space in an order id */
		"a.example|o|fe80::1%eth0",           /* zone id */
		"a.example|o|192.0.2.0/24\n",
		/* not what the module writes: the readers take exactly its form */
		"WWW.Mirror.EXAMPLE|o|2001:db8::/48", /* upper case */
		"a.example.|o|192.0.2.0/24",          /* trailing dot */
		"a.example|o|2001:DB8:0::/48",        /* a prefix not in canonical text */
		"a.example|o|198.51.100.7",           /* no /len */
		"a\\065.example|o|192.0.2.0/24",      /* an escape the module does not write */
		"a\\12.example|o|192.0.2.0/24",       /* a short escape */
		"a\\.b.example|o|192.0.2.0/24",       /* the module writes \046 */
		"<b>.example|o|192.0.2.0/24",         /* the module writes \060b\062 */
	};
	struct rs_disc_field f;
	char big[1200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &f), RS_EINVAL);
	/* a NUL inside the field */
	assert_int_equal(rs_disc_field_parse("a.example|o\0x|192.0.2.0/24", 26, &f), RS_EINVAL);
	/* an over-long order id and name */
	memset(big, 'x', sizeof(big));
	memcpy(big, "a.example|", 10);
	snprintf(big + 10 + 200, sizeof(big) - 210, "|192.0.2.0/24");
	assert_int_equal(parse(big, &f), RS_EINVAL);
	memset(big, 'a', 1020);
	snprintf(big + 1020, sizeof(big) - 1020, "|o|192.0.2.0/24");
	assert_int_equal(parse(big, &f), RS_EINVAL);
}

static void test_counts(void **state)
{
	struct sd_data d = { 0 };
	struct sd_row *rows;
	size_t n;

	(void)state;
	assert_int_equal(sd_data_add(&d, 10, "a.example|o|192.0.2.0/24", 24, "9223372036854775807", 19, NULL), 0);
	assert_int_equal(sd_data_add(&d, 11, "a.example|o|192.0.2.0/24", 24, "9223372036854775807", 19, NULL), 0);
	assert_int_equal(sd_data_add(&d, 12, "a.example|o|192.0.2.0/24", 24, "9223372036854775807", 19, NULL), 0);
	/* huge, negative, not a number, empty: malformed */
	assert_int_equal(sd_data_add(&d, 10, "b.example|o|192.0.2.0/24", 24, "9223372036854775808", 19, NULL), RS_EINVAL);
	assert_int_equal(sd_data_add(&d, 10, "b.example|o|192.0.2.0/24", 24, "-1", 2, NULL), RS_EINVAL);
	assert_int_equal(sd_data_add(&d, 10, "b.example|o|192.0.2.0/24", 24, "1e3", 3, NULL), RS_EINVAL);
	assert_int_equal(sd_data_add(&d, 10, "b.example|o|192.0.2.0/24", 24, "", 0, NULL), RS_EINVAL);
	assert_int_equal(d.malformed, 4);
	assert_non_null(strstr(d.first_bad, "b.example|o|192.0.2.0/24"));
	/* zero: ignored, not malformed */
	assert_int_equal(sd_data_add(&d, 10, "c.example|o|192.0.2.0/24", 24, "0", 1, NULL), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(sd_discovered(&d, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_true(rows[0].replies == UINT64_MAX); /* saturates */
	assert_int_equal(rows[0].hours, 3);
	assert_int_equal(rows[0].first, 10);
	assert_int_equal(rows[0].last, 12);
	free(rows);
	sd_data_free(&d);
}

static void add(struct sd_data *d, int64_t h, const char *f, const char *v, const char *order)
{
	int rc = sd_data_add(d, h, f, strlen(f), v, strlen(v), order);
	assert_true(rc == 0);
}

static void test_discovered_rows(void **state)
{
	struct sd_data d = { 0 };
	struct sd_row *rows;
	size_t n;

	(void)state;
	add(&d, 5, "new2.example|o1|192.0.2.0/24", "3", NULL);
	add(&d, 4, "new1.example|o1|192.0.2.0/24", "2", NULL);
	add(&d, 5, "new1.example|o1|192.0.2.0/24", "5", NULL);
	add(&d, 5, "other.example|o2|198.51.100.0/24", "1", "o1"); /* filtered out by --order */
	assert_int_equal(d.n, 3);
	assert_int_equal(sd_discovered(&d, &rows, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d.str.s[rows[0].name], "new1.example");
	assert_int_equal(rows[0].replies, 7);
	assert_int_equal(rows[0].first, 4);
	assert_int_equal(rows[0].hours, 2);
	assert_string_equal(d.str.s[rows[1].name], "new2.example");
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct sd_meta m = { .w = { 4, 6 } };
		assert_int_equal(sd_render_discovered(f, ST_FMT_CSV, &m, &d, rows, n), 0);
		fclose(f);
		assert_string_equal(buf, "name,order,prefix,replies,first_hour,last_hour,hours\r\n"
					 "new1.example,o1,192.0.2.0/24,7,1970-01-01T04:00:00Z,1970-01-01T05:00:00Z,2\r\n"
					 "new2.example,o1,192.0.2.0/24,3,1970-01-01T05:00:00Z,1970-01-01T05:00:00Z,1\r\n");
		free(buf);
	}
	free(rows);
	sd_data_free(&d);
}

static void test_collateral(void **state)
{
	struct sd_data d = { 0 };
	struct sd_coll *rows;
	size_t n;
	char f[100];

	(void)state;
	/* a shared address: 60 names in hour 7; a dedicated one: 2 names; one name under two orders counts once */
	for (int i = 0; i < 60; i++) {
		snprintf(f, sizeof(f), "site%d.example|o1|104.16.0.0/24", i);
		add(&d, 7, f, "1", NULL);
	}
	add(&d, 7, "site0.example|o2|104.16.0.0/24", "4", NULL);
	add(&d, 7, "pirate.example|o1|198.51.100.20/32", "9", NULL);
	add(&d, 7, "www.pirate.example|o1|198.51.100.20/32", "9", NULL);
	add(&d, 8, "site1.example|o1|104.16.0.0/24", "1", NULL);
	assert_int_equal(sd_collateral(&d, 50, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].hour, 7);
	assert_string_equal(d.str.s[rows[0].prefix], "104.16.0.0/24");
	assert_int_equal(rows[0].domains, 60);
	assert_int_equal(rows[0].names, 60);
	assert_int_equal(rows[0].orders, 2);
	assert_int_equal(rows[0].replies, 64);
	free(rows);
	/* threshold 1: the dedicated prefix has 2 names of one registrable domain (the module's unit,
	 * rs_disc_base): not more than 1 */
	assert_int_equal(sd_collateral(&d, 1, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].names, 60);
	free(rows);
	/* threshold 0: it is listed, 1 domain, 2 names */
	assert_int_equal(sd_collateral(&d, 0, &rows, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(d.str.s[rows[1].prefix], "198.51.100.20/32");
	assert_int_equal(rows[1].domains, 1);
	assert_int_equal(rows[1].names, 2);
	free(rows);
	/* a wildcard on the blocked party's own address: many names, one domain; under co.uk, three labels */
	for (int i = 0; i < 60; i++) {
		snprintf(f, sizeof(f), "rand%d.pirate.example|o1|203.0.113.5/32", i);
		add(&d, 7, f, "1", NULL);
		snprintf(f, sizeof(f), "x%d.pirate.co.uk|o1|203.0.113.5/32", i);
		add(&d, 7, f, "1", NULL);
	}
	add(&d, 7, "other.co.uk|o1|203.0.113.5/32", "1", NULL);
	assert_int_equal(sd_collateral(&d, 3, &rows, &n), 0);
	assert_int_equal(n, 1); /* only the shared 104.16.0.0/24: 121 names, 3 domains */
	free(rows);
	assert_int_equal(sd_collateral(&d, 2, &rows, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d.str.s[rows[1].prefix], "203.0.113.5/32");
	assert_int_equal(rows[1].domains, 3); /* pirate.example, pirate.co.uk, other.co.uk */
	assert_int_equal(rows[1].names, 121);
	free(rows);
	assert_int_equal(sd_collateral(&d, 0, &rows, &n), 0);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&buf, &len);
		struct sd_meta m = { .w = { 7, 9 }, .threshold = 0 };
		assert_int_equal(sd_render_collateral(fp, ST_FMT_JSON, &m, &d, rows, n), 0);
		fclose(fp);
		assert_non_null(strstr(buf, "\"threshold\":0,\"rows\":[{\"hour\":\"1970-01-01T07:00:00Z\","
					    "\"prefix\":\"104.16.0.0/24\",\"domains\":60,\"names\":60,\"orders\":2,"
					    "\"replies\":64}"));
		free(buf);
	}
	free(rows);
	sd_data_free(&d);
}

static void test_csv_formula_guard(void **state)
{
	struct sd_data d = { 0 };
	struct sd_row *rows;
	size_t n;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct sd_meta m = { .w = { 1, 2 } };

	(void)state;
	add(&d, 1, "a.example|=cmd()|192.0.2.0/24", "1", NULL);
	assert_int_equal(sd_discovered(&d, &rows, &n), 0);
	f = open_memstream(&buf, &len);
	assert_int_equal(sd_render_discovered(f, ST_FMT_CSV, &m, &d, rows, n), 0);
	fclose(f);
	assert_non_null(strstr(buf, "a.example,'=cmd(),192.0.2.0/24"));
	free(buf);
	free(rows);
	sd_data_free(&d);
}

static void test_empty(void **state)
{
	struct sd_data d = { 0 };
	struct sd_row *rows;
	struct sd_coll *coll;
	size_t n;

	(void)state;
	assert_int_equal(sd_discovered(&d, &rows, &n), 0);
	assert_int_equal(n, 0);
	free(rows);
	assert_int_equal(sd_collateral(&d, 0, &coll, &n), 0);
	assert_int_equal(n, 0);
	free(coll);
	sd_data_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_ok),	cmocka_unit_test(test_field_hostile),
		cmocka_unit_test(test_counts),		cmocka_unit_test(test_discovered_rows),
		cmocka_unit_test(test_collateral),	cmocka_unit_test(test_csv_formula_guard),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
