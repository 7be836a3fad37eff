/* test_warnd_text.c — redsink-warnd's text logic: HTML escaping, the Host
 * header, Accept-Language negotiation, template sections, URLs, regions and
 * the page-view counter keys. Hostile inputs are asserted byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <stdbool.h>

#include "rs_err.h"
#include "warnd_text.h"

static char *esc(const char *s, size_t n)
{
	static char out[4096];
	struct rs_buf b = { 0 };

	wd_html_escape(&b, s, n);
	assert_false(b.oom);
	snprintf(out, sizeof(out), "%s", b.s ? b.s : "");
	free(b.s);
	return out;
}
#define ESC(s) esc((s), strlen(s))

static void test_escape_markup(void **state)
{
	assert_string_equal(ESC("<script>alert(\"x\")</script>"),
			    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
	assert_string_equal(ESC("a'b&c"), "a&#39;b&amp;c");
	assert_string_equal(ESC("\" onmouseover='x'"), "&quot; onmouseover=&#39;x&#39;");
	assert_string_equal(ESC("&amp;"), "&amp;amp;"); /* never "already escaped" */
	assert_string_equal(ESC("plain text"), "plain text");
	assert_string_equal(ESC(""), "");
}

static void test_escape_bytes(void **state)
{
	/* Korean (3-octet sequences) and an emoji (4 octets) pass through */
	assert_string_equal(ESC("법원 \xf0\x9f\x98\x80"), "법원 \xf0\x9f\x98\x80");
	/* tab, LF, CR stay; other controls and DEL become U+FFFD */
	assert_string_equal(ESC("a\tb\nc\rd"), "a\tb\nc\rd");
	assert_string_equal(ESC("a\x01" "b\x1b" "c\x7f"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd");
	/* a NUL inside the given length is replaced, not a terminator */
	assert_string_equal(esc("a\0<", 3), "a\xef\xbf\xbd&lt;");
	/* invalid UTF-8: lone continuation, truncated sequence, overlong '<', surrogate, > U+10FFFF */
	assert_string_equal(ESC("\x80"), "\xef\xbf\xbd");
	assert_string_equal(ESC("x\xe2\x82"), "x\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(ESC("\xc0\xbc"), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(ESC("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(ESC("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_true(wd_utf8_valid("법원", strlen("법원")));
	assert_false(wd_utf8_valid("\xc0\xbc", 2));
}

static void test_host(void **state)
{
	char c[RS_NAME_MAX + 1];

	assert_int_equal(wd_host_parse("www.Pirate.Example", c), WD_HOST_NAME);
	assert_string_equal(c, "www.pirate.example");
	assert_int_equal(wd_host_parse("pirate.example.:8080", c), WD_HOST_NAME);
	assert_string_equal(c, "pirate.example");
	assert_int_equal(wd_host_parse("  pirate.example\t", c), WD_HOST_NAME);
	assert_string_equal(c, "pirate.example");
	assert_int_equal(wd_host_parse("xn--bcher-kva.example", c), WD_HOST_NAME);
	assert_int_equal(wd_host_parse(NULL, c), WD_HOST_NONE);
	assert_string_equal(c, "");
	assert_int_equal(wd_host_parse("", c), WD_HOST_NONE);
	assert_int_equal(wd_host_parse("   ", c), WD_HOST_NONE);
	assert_int_equal(wd_host_parse("192.0.2.1", c), WD_HOST_ADDR);
	assert_int_equal(wd_host_parse("192.0.2.1:80", c), WD_HOST_ADDR);
	assert_int_equal(wd_host_parse("[2001:db8::1]", c), WD_HOST_ADDR);
	assert_int_equal(wd_host_parse("[2001:db8::1]:8080", c), WD_HOST_ADDR);
	assert_int_equal(wd_host_parse("2001:db8::1", c), WD_HOST_BAD); /* unbracketed */
	assert_int_equal(wd_host_parse("[2001:db8::1]x", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse("[nope]", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse("pirate.example:http", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse("pirate.example:", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse("<script>alert(1)</script>", c), WD_HOST_BAD);
	assert_string_equal(c, "");
	assert_int_equal(wd_host_parse("a\"b.example", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse("bücher.example", c), WD_HOST_BAD); /* browsers send A-labels */
	assert_int_equal(wd_host_parse("a..example", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse(".", c), WD_HOST_BAD);
	assert_int_equal(wd_host_parse(":80", c), WD_HOST_BAD);
}

static void test_accept_language(void **state)
{
	struct wd_lang_pref p[WD_PREFS_MAX];
	int n;

	n = wd_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", p, WD_PREFS_MAX);
	assert_int_equal(n, 4);
	assert_string_equal(p[0].tag, "ko-kr");
	assert_int_equal(p[0].q, 1000);
	assert_string_equal(p[1].tag, "ko");
	assert_int_equal(p[1].q, 900);
	assert_string_equal(p[3].tag, "en");
	assert_int_equal(p[3].q, 700);

	/* sorted by q, ties in header order; q=0 excluded; spaces and case tolerated */
	n = wd_accept_language(" fr;q=0.5 , de ; Q=0.9,it;q=0,  EN  ,es;q=0.9", p, WD_PREFS_MAX);
	assert_int_equal(n, 4);
	assert_string_equal(p[0].tag, "en");
	assert_string_equal(p[1].tag, "de");
	assert_string_equal(p[2].tag, "es");
	assert_string_equal(p[3].tag, "fr");

	/* malformed ranges and q-values are skipped, the rest is kept */
	n = wd_accept_language("en;q=2,fr;q=0.1234,de;q=1.5,x_y,-en,en-,;,,ko;q=1.000,ja;q=0.", p, WD_PREFS_MAX);
	assert_int_equal(n, 1); /* "ja;q=0." is a valid q of 0: excluded */
	assert_string_equal(p[0].tag, "ko");
	assert_int_equal(p[0].q, 1000);

	n = wd_accept_language("*;q=0.1,zh-Hant-TW", p, WD_PREFS_MAX);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].tag, "zh-hant-tw");
	assert_string_equal(p[1].tag, "*");

	assert_int_equal(wd_accept_language(NULL, p, WD_PREFS_MAX), 0);
	assert_int_equal(wd_accept_language("", p, WD_PREFS_MAX), 0);
	assert_int_equal(wd_accept_language("<script>", p, WD_PREFS_MAX), 0);
	assert_int_equal(wd_accept_language("abcdefghi", p, WD_PREFS_MAX), 0); /* subtag > 8 */
	assert_int_equal(wd_accept_language("en,fr,de", p, 2), 2);
}

static const char *find_en_ko(const char *tag, size_t len, void *arg)
{
	static const char *const have[] = { "en", "ko", "pt-br" };

	for (size_t i = 0; i < 3; i++)
		if (strlen(have[i]) == len && strncmp(have[i], tag, len) == 0)
			return have[i];
	return NULL;
}

static void test_lang_choose(void **state)
{
	assert_string_equal(wd_lang_choose("ko-KR,ko;q=0.9", NULL, find_en_ko, NULL, "en"), "ko");
	assert_string_equal(wd_lang_choose("fr, ko;q=0.5", "IT", find_en_ko, NULL, "en"), "ko");
	assert_string_equal(wd_lang_choose("pt-BR", NULL, find_en_ko, NULL, "en"), "pt-br");
	/* nothing acceptable: the country, then the default */
	assert_string_equal(wd_lang_choose("fr, de", "KR", find_en_ko, NULL, "en"), "ko");
	assert_string_equal(wd_lang_choose(NULL, "kr", find_en_ko, NULL, "en"), "ko");
	assert_string_equal(wd_lang_choose(NULL, "IT", find_en_ko, NULL, "en"), "en"); /* no Italian page */
	assert_string_equal(wd_lang_choose("*", "KR", find_en_ko, NULL, "en"), "ko");
	assert_string_equal(wd_lang_choose("ko;q=0", "", find_en_ko, NULL, "en"), "en");
	assert_string_equal(wd_lang_choose("en", "KR", find_en_ko, NULL, "ko"), "en"); /* the header wins */
	assert_string_equal(wd_country_lang("KR"), "ko");
	assert_null(wd_country_lang("ZZ"));
	assert_null(wd_country_lang("CH")); /* several languages: none chosen */
	assert_null(wd_country_lang(NULL));
}

/* placeholders "a" = "x", "b" = "" */
static bool nonempty(const char *name, size_t len, void *arg)
{
	return len == 1 && name[0] == 'a';
}

static char *sec(const char *t)
{
	static char out[1024];
	struct rs_buf b = { 0 };

	assert_int_equal(wd_template_sections(&b, t, nonempty, NULL), 0);
	snprintf(out, sizeof(out), "%s", b.s);
	free(b.s);
	return out;
}

static void test_sections(void **state)
{
	assert_string_equal(sec("1{?a}2{/a}3"), "123");
	assert_string_equal(sec("1{?b}2{/b}3"), "13");
	assert_string_equal(sec("1{!b}2{/b}3{!a}4{/a}"), "123");
	assert_string_equal(sec("{?a}<{a}>{/a}"), "<{a}>"); /* placeholders stay for rs_template_expand */
	assert_string_equal(sec("{?a}x{?b}y{/b}z{!b}w{/b}{/a}"), "xzw"); /* nesting */
	assert_string_equal(sec("{?unknown}gone{/unknown}!"), "!");
	/* not sections: copied as they are (CSS, stray braces, a section without its end) */
	assert_string_equal(sec("body { margin: 0 } p{color:red}"), "body { margin: 0 } p{color:red}");
	assert_string_equal(sec("{?a}never closed"), "{?a}never closed");
	assert_string_equal(sec("{?}x{/}"), "{?}x{/}");
	assert_string_equal(sec("{"), "{");
	assert_string_equal(sec(""), "");
}

static void test_url(void **state)
{
	assert_true(wd_url_ok("https://orders.example.org/1"));
	assert_true(wd_url_ok("http://agcom.example/delibere?id=12&x=%20"));
	assert_false(wd_url_ok("javascript:alert(1)"));
	assert_false(wd_url_ok("data:text/html,x"));
	assert_false(wd_url_ok("https://"));
	assert_false(wd_url_ok("https:///x"));
	assert_false(wd_url_ok("https://a.example/>; rel=\"x\""));
	assert_false(wd_url_ok("https://a.example/\r\nSet-Cookie: x"));
	assert_false(wd_url_ok("https://a.example/ b"));
	assert_false(wd_url_ok("https://bücher.example/"));
	assert_false(wd_url_ok(""));
	assert_false(wd_url_ok(NULL));
}

static void test_date_part(void **state)
{
	char d[11];

	wd_date_part("2026-01-10T00:00:00Z", d);
	assert_string_equal(d, "2026-01-10");
	wd_date_part("2026-01-10", d);
	assert_string_equal(d, "2026-01-10");
	wd_date_part("2026-01-10 12:00", d);
	assert_string_equal(d, "2026-01-10");
	wd_date_part("2026-1-10", d);
	assert_string_equal(d, "");
	wd_date_part("2026-01-100", d);
	assert_string_equal(d, "");
	wd_date_part("", d);
	assert_string_equal(d, "");
	wd_date_part(NULL, d);
	assert_string_equal(d, "");
}

/* ---- address-triggered blocks: the discovered-names:<hour> lookup ---- */

static bool value(const char *v, struct wd_disc_hit *h)
{
	return wd_disc_value(v, strlen(v), h);
}

/* The index value is read exactly as the module writes it (lib/disc.h). */
static void test_disc_value(void **state)
{
	struct wd_disc_hit h;

	(void)state;
	assert_true(value("o-1|198.51.100.0/24", &h));
	assert_string_equal(h.order, "o-1");
	assert_string_equal(h.prefix, "198.51.100.0/24");
	assert_true(value("o|2001:db8::/48", &h));
	assert_string_equal(h.prefix, "2001:db8::/48");
	/* hostile values */
	assert_false(value("", &h));
	assert_false(value("o", &h));
	assert_false(value("o|198.51.100.0/24|x", &h));
	assert_false(value("|198.51.100.0/24", &h));
	assert_false(value("o:x|198.51.100.0/24", &h));
	assert_false(value("o|198.51.100.1/24", &h));
	assert_false(value("o|2001:DB8::/48", &h));  /* not canonical */
	assert_false(value("o|198.51.100.7", &h));   /* no /len */
	assert_false(value("o|<script>", &h));
	assert_false(wd_disc_value("o\0|198.51.100.0/24", 18, &h));
}

/* The lookup rate limit: burst at once, then rate a second; no refill when
 * the clock goes back. */
static void test_bucket(void **state)
{
	struct wd_bucket b = { 0 };
	int n = 0;

	(void)state;
	while (wd_bucket_take(&b, 1000, 20, 40))
		n++;
	assert_int_equal(n, 40);
	assert_false(wd_bucket_take(&b, 1000, 20, 40));
	for (n = 0; wd_bucket_take(&b, 1001, 20, 40); n++)
		;
	assert_int_equal(n, 20);
	for (n = 0; wd_bucket_take(&b, 1100, 20, 40); n++) /* a long pause: the burst, no more */
		;
	assert_int_equal(n, 40);
	assert_false(wd_bucket_take(&b, 900, 20, 40)); /* back in time */
	assert_false(wd_bucket_take(&b, 900, 20, 40));
	assert_true(wd_bucket_take(&b, 901, 20, 40));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disc_value),    cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_escape_markup), cmocka_unit_test(test_escape_bytes),
		cmocka_unit_test(test_host),          cmocka_unit_test(test_accept_language),
		cmocka_unit_test(test_lang_choose),   cmocka_unit_test(test_sections),
		cmocka_unit_test(test_url),           cmocka_unit_test(test_date_part),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
