/* test_order.c — order parsing, dates, scopes, and the texts of answers (TXT, EDE JSON). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "order.h"
#include "rs_err.h"
#include "text.h"

static void test_rfc3339(void **state)
{
	int64_t t;

	assert_int_equal(rs_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_true(t == 0);
	assert_int_equal(rs_rfc3339_parse("2026-11-28T12:30:15Z", &t), 0);
	assert_true(t == 1795869015);
	assert_int_equal(rs_rfc3339_parse("2026-11-28T14:30:15.250+02:00", &t), 0);
	assert_true(t == 1795869015);
	assert_int_equal(rs_rfc3339_parse("2026-11-28", &t), 0);
	assert_true(t == 1795824000);
	assert_int_equal(rs_rfc3339_parse("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(rs_rfc3339_parse("2025-02-29T00:00:00Z", &t), RS_EINVAL);
	assert_int_equal(rs_rfc3339_parse("2026-13-01T00:00:00Z", &t), RS_EINVAL);
	assert_int_equal(rs_rfc3339_parse("2026-11-28T25:00:00Z", &t), RS_EINVAL);
	assert_int_equal(rs_rfc3339_parse("2026-11-28T12:00:00", &t), RS_EINVAL); /* no zone */
	assert_int_equal(rs_rfc3339_parse("28/11/2026", &t), RS_EINVAL);
	assert_int_equal(rs_rfc3339_parse("2026-11-28Tjunk", &t), RS_EINVAL);
	assert_int_equal(rs_rfc3339_parse("", &t), RS_EINVAL);
}

static void test_scope(void **state)
{
	assert_true(rs_scope_includes("*", NULL));
	assert_true(rs_scope_includes("IT FR", "IT"));
	assert_true(rs_scope_includes("fr,it", "IT"));
	assert_false(rs_scope_includes("IT", NULL));
	assert_false(rs_scope_includes("ITA FR", "IT"));
	assert_false(rs_scope_includes("", "IT"));
}

static struct rs_conf conf = {
	.jurisdiction = "IT", .language = "it", .txt_text = "Order {reference} ({authority}) {url} {unknown}",
	.contacts = (char *[]){ "mailto:a@isp.example", "tel:+39061" }, .ncontacts = 2,
};

static void test_parse_and_texts(void **state)
{
	const char *kv[] = { "authority", "AGCOM", "reference", "\"quoted\"\n ref", "scope", "IT", "action",
			     "nxdomain", "reason", "Diritto d'autore \xe2\x80\x94 \x01", "url", "https://agcom.example/o/1",
			     "expires", "2099-01-01T00:00:00Z" };
	struct rs_order *o;
	char err[256];

	assert_int_equal(rs_order_parse(&conf, "agcom-1", kv, 7, &o, err, sizeof(err)), 0);
	assert_int_equal(o->action, RS_ACT_NXDOMAIN);
	assert_true(o->in_scope);
	assert_true(rs_order_applies(o, 1800000000));
	assert_false(rs_order_applies(o, 4200000000LL));
	assert_string_equal(o->lang, "it");
	assert_string_equal(o->txt, "Order \"quoted\"\n ref (AGCOM) https://agcom.example/o/1 {unknown}");
	assert_string_equal(o->ede,
			    "{\"c\":[\"mailto:a@isp.example\",\"tel:+39061\"],"
			    "\"j\":\"Order \\\"quoted\\\"\\u000a ref: Diritto d'autore \xe2\x80\x94 \\u0001 https://agcom.example/o/1\","
			    "\"o\":\"AGCOM\",\"l\":\"it\"}");
	rs_order_free(o);
}

static void test_parse_errors(void **state)
{
	struct {
		const char *kv[8];
		const char *msg;
	} cases[] = {
		{ { "reference", "r", "scope", "*", "action", "sinkhole", "x", "" }, "order 'o': missing field 'authority'" },
		{ { "authority", "a", "scope", "*", "action", "sinkhole", "x", "" }, "order 'o': missing field 'reference'" },
		{ { "authority", "a", "reference", "r", "action", "sinkhole", "x", "" }, "order 'o': missing field 'scope'" },
		{ { "authority", "a", "reference", "r", "scope", "*", "x", "" }, "order 'o': missing field 'action'" },
		{ { "authority", "a", "reference", "r", "scope", "*", "action", "block" },
		  "order 'o': action 'block' is not sinkhole, nxdomain, nodata or refused" },
	};
	const char *kv_exp[] = { "authority", "a", "reference", "r", "scope", "*", "action", "sinkhole", "expires", "soon" };
	struct rs_order *o;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rs_order_parse(&conf, "o", cases[i].kv, 4, &o, err, sizeof(err)), RS_EINVAL);
		assert_string_equal(err, cases[i].msg);
		assert_null(o);
	}
	assert_int_equal(rs_order_parse(&conf, "o", kv_exp, 5, &o, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "order 'o': expires 'soon' is not an RFC 3339 date");
	assert_int_equal(rs_order_parse(&conf, "has space", kv_exp, 4, &o, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "order id is empty, too long or has spaces or control characters");
}

static void test_json_escape(void **state)
{
	struct rs_buf b = { 0 };

	rs_buf_json(&b, "a\"b\\c\td\xff\xc3\xa9");
	assert_string_equal(b.s, "\"a\\\"b\\\\c\\u0009d\xef\xbf\xbd\xc3\xa9\"");
	free(b.s);
	assert_int_equal(rs_utf8_prefix("ab\xc3\xa9", 4, 3), 2);
	assert_int_equal(rs_utf8_prefix("ab\xc3\xa9", 4, 4), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_parse_and_texts),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_json_escape),
	};
	return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
