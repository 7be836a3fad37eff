/* test_order.c — order parsing, dates, scopes, and the texts of answers (TXT, EDE JSON). */
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

/* One id rule for module and tools: ':' and '|' would make keys and counter
 * fields ambiguous. */
static void test_order_id(void **state)
{
	char longest[RS_ORDER_ID_MAX + 2];

	(void)state;
	assert_true(rs_order_id_ok("AGCOM-2026-117"));
	assert_true(rs_order_id_ok("a"));
	assert_false(rs_order_id_ok(""));
	assert_false(rs_order_id_ok("a b"));
	assert_false(rs_order_id_ok("a:domains"));
	assert_false(rs_order_id_ok("a|b"));
	assert_false(rs_order_id_ok("caf\xc3\xa9"));
	assert_false(rs_order_id_ok("a\x7f"));
	memset(longest, 'x', RS_ORDER_ID_MAX);
	longest[RS_ORDER_ID_MAX] = '\0';
	assert_true(rs_order_id_ok(longest));
	longest[RS_ORDER_ID_MAX] = 'x';
	longest[RS_ORDER_ID_MAX + 1] = '\0';
	assert_false(rs_order_id_ok(longest));
}

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
	/* control characters become spaces at parse time, trailing ones go */
	assert_string_equal(o->reference, "\"quoted\"  ref");
	assert_string_equal(o->reason, "Diritto d'autore \xe2\x80\x94");
	assert_true(o->warnings & RS_OW_CUT);
	assert_string_equal(o->txt, "Order \"quoted\"  ref (AGCOM) https://agcom.example/o/1 {unknown}");
	assert_int_equal(o->ede.n, 4);
	assert_string_equal(o->ede.text[0],
			    "{\"c\":[\"mailto:a@isp.example\",\"tel:+39061\"],"
			    "\"j\":\"Order \\\"quoted\\\"  ref: Diritto d'autore \xe2\x80\x94 https://agcom.example/o/1\","
			    "\"o\":\"AGCOM\",\"l\":\"it\"}");
	assert_string_equal(o->ede.text[1], "{\"c\":[\"mailto:a@isp.example\",\"tel:+39061\"],\"o\":\"AGCOM\",\"l\":\"it\"}");
	assert_string_equal(o->ede.text[2], "{\"c\":[\"mailto:a@isp.example\",\"tel:+39061\"]}");
	assert_string_equal(o->ede.text[3], "");
	assert_int_equal(o->ede_plain.n, 0);
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


/* The fields of a parsed order as a Redis hash would hold them. */
static void fields_of(const struct rs_order *o, const char *kv[20])
{
	const char *v[20] = { "authority", o->authority, "reference", o->reference, "scope", o->scope,
			      "action", rs_action_name(o->action), "expires", o->expires_text, "issued", o->issued,
			      "reason", o->reason, "url", o->url, "lang", o->lang, "windows", o->windows };
	memcpy(kv, v, sizeof(v));
}

static void assert_same_order(const struct rs_order *a, const struct rs_order *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->authority, b->authority);
	assert_string_equal(a->reference, b->reference);
	assert_string_equal(a->scope, b->scope);
	assert_string_equal(a->reason, b->reason);
	assert_string_equal(a->url, b->url);
	assert_string_equal(a->lang, b->lang);
	assert_string_equal(a->issued, b->issued);
	assert_string_equal(a->expires_text, b->expires_text);
	assert_true(a->expires == b->expires);
	assert_string_equal(a->windows, b->windows);
	assert_int_equal(a->nwin, b->nwin);
	for (unsigned i = 0; i < 2u * a->nwin; i++)
		assert_true(a->win[i] == b->win[i]);
	assert_int_equal(a->action, b->action);
	assert_int_equal(a->in_scope, b->in_scope);
	assert_string_equal(a->txt, b->txt);
	assert_int_equal(a->ede.n, b->ede.n);
	for (unsigned i = 0; i < a->ede.n; i++)
		assert_string_equal(a->ede.text[i], b->ede.text[i]);
	assert_int_equal(a->ede_plain.n, b->ede_plain.n);
	for (unsigned i = 0; i < a->ede_plain.n; i++)
		assert_string_equal(a->ede_plain.text[i], b->ede_plain.text[i]);
}

/* parse(fields of parse(x)) == parse(x); returns the first parse. */
static struct rs_order *parse_twice(const struct rs_conf *c, const char *const *kv, size_t n)
{
	struct rs_order *o, *o2;
	const char *kv2[20];
	char err[512];

	assert_int_equal(rs_order_parse(c, "idem", kv, n, &o, err, sizeof(err)), 0);
	fields_of(o, kv2);
	assert_int_equal(rs_order_parse(c, "idem", kv2, 10, &o2, err, sizeof(err)), 0);
	assert_same_order(o, o2);
	assert_int_equal(o2->warnings & ~RS_OW_CUT, 0); /* nothing left to replace */
	rs_order_free(o2);
	return o;
}

static char *rep(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* The JSON object parses as far as this test needs: balanced, quoted keys,
 * no raw control characters; returns whether key ("\"j\":") is present. */
static bool has_key(const char *json, const char *key)
{
	return strstr(json, key) != NULL;
}

static void test_limits_and_idempotence(void **state)
{
	char *big = rep('x', 70000), *q300 = rep('"', 300), *a300 = rep('a', 300);
	char *lang35 = strdup("de-DE-1901-abcdefgh-abcdefgh-abcdef"); /* 35 octets */
	char *scope301;
	const char *kv[18] = { "authority", q300, "reference", a300, "scope", "it, fr\tDE", "action", "sinkhole",
			       "reason", a300, "url", "https://x.example/", "lang", big, "issued", "yesterday",
			       "expires", " 2099-01-01 " };
	struct rs_order *o;
	char err[512];

	o = parse_twice(&conf, kv, 9);
	assert_string_equal(o->scope, "IT FR DE");
	assert_true(o->in_scope);
	assert_int_equal(strlen(o->authority), RS_AUTHORITY_MAX);
	assert_int_equal(strlen(o->reference), RS_REFERENCE_MAX);
	assert_string_equal(o->lang, "it"); /* invalid: the resolver's language */
	assert_string_equal(o->issued, "");
	assert_string_equal(o->expires_text, "2099-01-01");
	assert_true(o->warnings & RS_OW_LANG);
	assert_true(o->warnings & RS_OW_ISSUED);
	assert_true(o->warnings & RS_OW_CUT);
	for (unsigned i = 0; i < o->ede.n; i++)
		assert_true(o->ede.len[i] <= RS_EDE_MAX && strlen(o->ede.text[i]) == o->ede.len[i]);
	assert_true(has_key(o->ede.text[0], "\"j\":") && has_key(o->ede.text[0], "\"l\":"));
	assert_false(has_key(o->ede.text[1], "\"j\":"));
	assert_true(has_key(o->ede.text[1], "\"o\":") && has_key(o->ede.text[1], "\"l\":"));
	assert_false(has_key(o->ede.text[2], "\"o\":") || has_key(o->ede.text[2], "\"l\":"));
	assert_true(o->txt_len <= RS_TXT_MAX);
	rs_order_free(o);

	/* valid lang of 35 octets is kept; 36 is not */
	kv[13] = lang35;
	o = parse_twice(&conf, kv, 9);
	assert_string_equal(o->lang, lang35);
	rs_order_free(o);
	assert_true(rs_lang_ok("pt-BR") && rs_lang_ok("zh-Hant-TW") && rs_lang_ok("sr-Latn"));
	assert_false(rs_lang_ok("e") || rs_lang_ok("1a") || rs_lang_ok("en--us") || rs_lang_ok("en-") ||
		     rs_lang_ok("abcdefghi") || rs_lang_ok("en_US") || rs_lang_ok("de-DE-1901-abcdefgh-abcdefgh-abcdefg"));

	/* bad url, mailto url */
	kv[11] = "javascript:alert(1)";
	o = parse_twice(&conf, kv, 9);
	assert_string_equal(o->url, "");
	assert_true(o->warnings & RS_OW_URL);
	rs_order_free(o);
	kv[11] = "mailto:court@example.org";
	o = parse_twice(&conf, kv, 9);
	assert_string_equal(o->url, "mailto:court@example.org");
	rs_order_free(o);

	/* scope: strict, evaluated from the stored value */
	kv[5] = "XX";
	o = parse_twice(&conf, kv, 9);
	assert_false(o->in_scope);
	rs_order_free(o);
	scope301 = malloc(301 * 3 + 1);
	scope301[0] = '\0';
	for (int i = 0; i < 300; i++)
		strcat(scope301, "XX ");
	strcat(scope301, "IT");
	kv[5] = scope301;
	assert_int_equal(rs_order_parse(&conf, "o", kv, 9, &o, err, sizeof(err)), RS_EINVAL);
	assert_null(o);
	scope301[3] = '\0'; /* "XX " */
	strcat(scope301, "IT");
	o = parse_twice(&conf, kv, 9);
	assert_true(o->in_scope);
	rs_order_free(o);
	kv[5] = "IT ITA";
	assert_int_equal(rs_order_parse(&conf, "o", kv, 9, &o, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "order 'o': scope 'IT ITA' is not '*' or at most 300 ISO 3166-1 alpha-2 codes");
	kv[5] = " , ";
	assert_int_equal(rs_order_parse(&conf, "o", kv, 9, &o, err, sizeof(err)), RS_EINVAL);
	kv[5] = "*";

	/* expires: strict, bounded */
	kv[17] = big;
	assert_int_equal(rs_order_parse(&conf, "o", kv, 9, &o, err, sizeof(err)), RS_EINVAL);
	kv[17] = "";
	/* authority that is only control characters: missing */
	kv[1] = "\x01\x02 ";
	assert_int_equal(rs_order_parse(&conf, "o", kv, 9, &o, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "order 'o': missing field 'authority'");
	free(big);
	free(q300);
	free(a300);
	free(lang35);
	free(scope301);
}

static void test_text_clean(void **state)
{
	char *t = rs_text_clean("  a\tb\xc2\x85" "c\xff \x7f ", 100);

	assert_string_equal(t, "a b c\xef\xbf\xbd");
	free(t);
	t = rs_text_clean("ab\xc3\xa9", 3); /* never inside a character */
	assert_string_equal(t, "ab");
	free(t);
	t = rs_text_clean("abc  def", 4); /* no trailing space after a cut */
	assert_string_equal(t, "abc");
	free(t);
}

static void test_json_max(void **state)
{
	struct rs_buf b = { 0 };

	rs_buf_json_max(&b, "ab\"cd", 5); /* "ab" + \" would exceed */
	assert_string_equal(b.s, "\"ab\"");
	b.len = 0;
	rs_buf_json_max(&b, "ab\"cd", 6);
	assert_string_equal(b.s, "\"ab\\\"\"");
	b.len = 0;
	rs_buf_json_max(&b, "\xc3\xa9\xc3\xa9", 5);
	assert_string_equal(b.s, "\"\xc3\xa9\"");
	free(b.s);
}

static void test_ede_modes(void **state)
{
	struct rs_conf c = conf;
	const char *kv[] = { "authority", "AGCOM", "reference", "R1", "scope", "*", "action", "nxdomain" };
	struct rs_order *o;

	c.ncontacts = 0;
	c.ede_json_clients = RS_EDE_CLIENTS_SDE;
	c.ede_text = "Blocked: {reference}";
	o = parse_twice(&c, kv, 4);
	assert_int_equal(o->ede.n, 3); /* no contacts: full, without j, "" */
	assert_string_equal(o->ede.text[0], "{\"j\":\"Order R1\",\"o\":\"AGCOM\",\"l\":\"it\"}");
	assert_string_equal(o->ede.text[1], "{\"o\":\"AGCOM\",\"l\":\"it\"}");
	assert_int_equal(o->ede_plain.n, 2); /* full == short: deduplicated */
	assert_string_equal(o->ede_plain.text[0], "Blocked: R1");
	assert_string_equal(o->ede_plain.text[1], "");
	assert_int_equal(rs_ede_pick(&o->ede, 1000), 0);
	assert_int_equal(rs_ede_pick(&o->ede, 30), 1);
	assert_int_equal(rs_ede_pick(&o->ede, 10), 2);
	rs_order_free(o);
	c.ede_format = RS_EDE_OFF;
	o = parse_twice(&c, kv, 4);
	assert_int_equal(o->ede.n, 0);
	rs_order_free(o);
}

/* Live-event windows: strict parse, canonical text, in-window evaluation. */
static void test_windows(void **state)
{
	const char *kv[] = { "authority", "Ofcom", "reference", "Live-1", "scope", "*", "action", "nxdomain",
			     "windows", "  2026-05-01T18:00:00Z/2026-05-01T20:00:00Z\t2026-05-02T20:00:00+02:00/2026-05-02T19:00:00Z   "
			     "2026-05-03/2026-05-04 " };
	struct rs_order *o;
	int64_t t0, t1;

	(void)state;
	o = parse_twice(&conf, kv, 5);
	assert_string_equal(o->windows, "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z "
					"2026-05-02T20:00:00+02:00/2026-05-02T19:00:00Z 2026-05-03/2026-05-04");
	assert_int_equal(o->nwin, 3);
	assert_int_equal(rs_rfc3339_parse("2026-05-01T18:00:00Z", &t0), 0);
	assert_int_equal(rs_rfc3339_parse("2026-05-01T20:00:00Z", &t1), 0);
	assert_true(o->win[0] == t0 && o->win[1] == t1);
	assert_true(o->win[2] == t0 + 86400); /* 20:00+02:00 is 18:00Z */
	/* [start, end) */
	assert_false(rs_order_applies(o, t0 - 1));
	assert_true(rs_order_applies(o, t0));
	assert_true(rs_order_applies(o, t1 - 1));
	assert_false(rs_order_applies(o, t1));
	assert_false(rs_order_applies(o, t0 + 86400 - 1));
	assert_true(rs_order_applies(o, t0 + 86400));
	assert_true(rs_order_applies(o, t0 + 86400 + 3599));
	assert_false(rs_order_applies(o, t0 + 86400 + 3600));
	assert_true(rs_order_applies(o, o->win[4]));
	assert_true(rs_order_applies(o, o->win[5] - 1));
	assert_false(rs_order_applies(o, o->win[5]));
	assert_false(rs_order_applies(o, INT64_MIN));
	assert_false(rs_order_applies(o, INT64_MAX));
	/* the next transition: each boundary in turn, then none */
	assert_true(rs_order_next_transition(o, 0) == t0);
	assert_true(rs_order_next_transition(o, t0 - 1) == t0);
	assert_true(rs_order_next_transition(o, t0) == t1);
	assert_true(rs_order_next_transition(o, t1) == t0 + 86400);
	assert_true(rs_order_next_transition(o, o->win[4]) == o->win[5]);
	assert_true(rs_order_next_transition(o, o->win[5]) == 0);
	rs_order_free(o);

	/* expires cuts the windows: the expiry is the last transition */
	{
		const char *kv2[] = { "authority", "Ofcom", "reference", "Live-1", "scope", "*", "action", "nxdomain",
				      "windows", "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z 2026-05-02T18:00:00Z/2026-05-02T20:00:00Z",
				      "expires", "2026-05-01T19:00:00Z" };
		o = parse_twice(&conf, kv2, 6);
		assert_true(rs_order_applies(o, t0));
		assert_false(rs_order_applies(o, t0 + 3600));
		assert_false(rs_order_applies(o, t0 + 86400));
		assert_true(rs_order_next_transition(o, t0) == t0 + 3600);
		assert_true(rs_order_next_transition(o, t0 + 3600) == 0);
		rs_order_free(o);
		/* adjacent windows (an end equal to the next start) are allowed */
		kv2[9] = "2026-05-01T18:00:00Z/2026-05-01T19:00:00Z 2026-05-01T19:00:00Z/2026-05-01T20:00:00Z";
		kv2[11] = "";
		o = parse_twice(&conf, kv2, 6);
		assert_int_equal(o->nwin, 2);
		assert_true(rs_order_applies(o, t0 + 3600));
		assert_false(rs_order_applies(o, t1));
		rs_order_free(o);
		/* out of scope: never applies, no transition */
		kv2[5] = "FR";
		o = parse_twice(&conf, kv2, 6);
		assert_false(rs_order_applies(o, t0));
		assert_true(rs_order_next_transition(o, 0) == 0);
		rs_order_free(o);
	}

	/* no windows, blank windows: always (until expires) */
	kv[9] = " \t ";
	o = parse_twice(&conf, kv, 5);
	assert_string_equal(o->windows, "");
	assert_int_equal(o->nwin, 0);
	assert_null(o->win);
	assert_true(rs_order_applies(o, 0) && rs_order_applies(o, t0));
	assert_true(rs_order_next_transition(o, t0) == 0);
	rs_order_free(o);
	o = parse_twice(&conf, kv, 4);
	assert_string_equal(o->windows, "");
	assert_true(rs_order_applies(o, t0));
	rs_order_free(o);
}

static void test_windows_errors(void **state)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{ "2026-05-01T20:00:00Z/2026-05-01T18:00:00Z",
		  "window 1 '2026-05-01T20:00:00Z/2026-05-01T18:00:00Z': the end is not after the start" },
		{ "2026-05-01T20:00:00Z/2026-05-01T20:00:00Z",
		  "window 1 '2026-05-01T20:00:00Z/2026-05-01T20:00:00Z': the end is not after the start" },
		{ "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z 2026-05-01T19:00:00Z/2026-05-01T21:00:00Z",
		  "window 2 '2026-05-01T19:00:00Z/2026-05-01T21:00:00Z' overlaps window 1 "
		  "'2026-05-01T18:00:00Z/2026-05-01T20:00:00Z'" },
		{ "2026-05-02T18:00:00Z/2026-05-02T20:00:00Z 2026-05-01T18:00:00Z/2026-05-01T20:00:00Z",
		  "window 2 '2026-05-01T18:00:00Z/2026-05-01T20:00:00Z' starts before window 1 "
		  "'2026-05-02T18:00:00Z/2026-05-02T20:00:00Z' (windows must be in time order)" },
		{ "2026-05-01T18:00:00Z", "window 1 '2026-05-01T18:00:00Z': not START/END (two RFC 3339 date-times joined by '/')" },
		{ "2026-05-01T18:00:00Z/PT2H",
		  "window 1 '2026-05-01T18:00:00Z/PT2H': the end 'PT2H' is not an RFC 3339 date-time (2026-05-01T18:00:00Z) or date" },
		{ "tomorrow/2026-05-01", "window 1 'tomorrow/2026-05-01': the start 'tomorrow' is not an RFC 3339 date-time "
					 "(2026-05-01T18:00:00Z) or date" },
		{ "/2026-05-01", "window 1 '/2026-05-01': the start is missing (START/END, e.g. "
				 "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z)" },
		{ "2026-05-01/", "window 1 '2026-05-01/': the end is missing (START/END, e.g. "
				 "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z)" },
		{ "2026-05-01/2026-05-02/2026-05-03", "window 1 '2026-05-01/2026-05-02/2026-05-03': more than one '/' (START/END)" },
		{ "2026-05-01T18:00:00Z/2026-05-01T20:00:00", /* no zone */
		  "window 1 '2026-05-01T18:00:00Z/2026-05-01T20:00:00': the end '2026-05-01T20:00:00' is not an RFC 3339 "
		  "date-time (2026-05-01T18:00:00Z) or date" },
		{ "2026-05-01T18:00:00Z/2026-05-01T20:00:00Z,2026-05-02T18:00:00Z/2026-05-02T20:00:00Z",
		  "window 1 '2026-05-01T18:00:00Z/2026-05-01T20:00:00Z,2026-05-02T18:00:00Z/2026-05-02T20:00:00Z': more than "
		  "one '/' (START/END)" },
	};
	const char *kv[] = { "authority", "a", "reference", "r", "scope", "*", "action", "sinkhole", "windows", "" };
	struct rs_order *o;
	char err[512], *canon;
	int64_t *win;
	uint16_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rs_windows_parse(cases[i].in, &canon, &win, &n, err, sizeof(err)), RS_EINVAL);
		assert_string_equal(err, cases[i].msg);
		assert_null(canon);
		assert_null(win);
		assert_int_equal(n, 0);
	}
	/* in an order: malformed, with the field named */
	kv[9] = cases[0].in;
	assert_int_equal(rs_order_parse(&conf, "o", kv, 5, &o, err, sizeof(err)), RS_EINVAL);
	assert_null(o);
	assert_string_equal(err, "order 'o': windows: window 1 '2026-05-01T20:00:00Z/2026-05-01T18:00:00Z': the end is "
				 "not after the start");

	/* at most RS_WINDOWS_MAX, each end at most RS_DATE_MAX octets */
	{
		char *many = malloc((RS_WINDOWS_MAX + 1) * 32), *p = many;
		for (int i = 0; i <= RS_WINDOWS_MAX; i++)
			p += sprintf(p, "%s%04d-01-01/%04d-06-01", i ? " " : "", 2100 + i, 2100 + i);
		assert_int_equal(rs_windows_parse(many, &canon, &win, &n, err, sizeof(err)), RS_EINVAL);
		assert_string_equal(err, "more than 64 windows");
		*strrchr(many, ' ') = '\0'; /* 64: accepted */
		kv[9] = many;
		o = parse_twice(&conf, kv, 5);
		assert_int_equal(o->nwin, RS_WINDOWS_MAX);
		assert_string_equal(o->windows, many);
		assert_true(strlen(o->windows) < RS_WINDOWS_TEXT_MAX);
		rs_order_free(o);
		free(many);
	}
	{
		char lng[2 * RS_DATE_MAX + 40];
		/* a date padded with a fraction to 65 octets, then to 64 */
		snprintf(lng, sizeof(lng), "2026-05-01T18:00:00.%0*dZ/2026-05-02", RS_DATE_MAX - 20, 0);
		assert_int_equal(rs_windows_parse(lng, NULL, NULL, &n, err, sizeof(err)), RS_EINVAL);
		assert_non_null(strstr(err, "the start is longer than 64 characters"));
		snprintf(lng, sizeof(lng), "2026-05-01T18:00:00.%0*dZ/2026-05-02", RS_DATE_MAX - 21, 0);
		assert_int_equal(rs_windows_parse(lng, NULL, NULL, &n, err, sizeof(err)), 0);
		assert_int_equal(n, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_order_id),
		cmocka_unit_test(test_parse_and_texts),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_limits_and_idempotence),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_json_max),
		cmocka_unit_test(test_ede_modes),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_windows_errors),
	};
	return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
