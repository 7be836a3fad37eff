/* test_warnd_http.c — redsink-warnd's request heads (warnd_http.c: the end of
 * a head, strict parsing, what a page depends on) and its rendered-page cache
 * (warnd_page.c: a page is the rendering of exactly its values). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "warnd_http.h"
#include "warnd_page.h"

/* Parse s (a complete head) in a copy; the status, req filled. */
static int parse(const char *s, char *buf, size_t bufsz, struct wd_http_req *req)
{
	size_t scanned = 0, n = strlen(s), end;

	assert_true(n < bufsz);
	memcpy(buf, s, n + 1);
	end = wd_http_head_end(buf, n, &scanned);
	assert_int_equal(end, n);
	return wd_http_parse(buf, end, req);
}

static void test_head_end(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
	size_t scanned = 0;

	/* incomplete, at every length; then complete, with the next request after it */
	for (size_t n = 0; n < 27; n++) {
		scanned = 0;
		assert_int_equal(wd_http_head_end(s, n, &scanned), 0);
	}
	scanned = 0;
	assert_int_equal(wd_http_head_end(s, 20, &scanned), 0);
	assert_int_equal(wd_http_head_end(s, strlen(s), &scanned), 27); /* resumed */
	scanned = 0;
	assert_int_equal(wd_http_head_end("GET / HTTP/1.0\n\n", 16, &scanned), 16);
	scanned = 0;
	assert_int_equal(wd_http_head_end("\r\n\r\n\r\n", 6, &scanned), 2);
	scanned = 0;
	assert_int_equal(wd_http_head_end("\x16\x03\x01\x00\x00", 5, &scanned), 0); /* waits: no line end */
}

static void test_parse_ok(void **state)
{
	char buf[512];
	struct wd_http_req r;

	assert_int_equal(parse("GET /a/b?q=1#f HTTP/1.1\r\nhost: Pirate.Example:8080\r\n"
			       "Accept-Language: ko, en;q=0.5\r\nAccept-Language: fr\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_int_equal(r.method, WD_M_GET);
	assert_int_equal(r.minor, 1);
	assert_string_equal(r.path, "/a/b");
	assert_string_equal(r.host, "Pirate.Example:8080");
	assert_string_equal(r.accept_language, "ko, en;q=0.5");
	assert_true(r.keep_alive);
	assert_int_equal(r.content_length, 0);

	/* absolute-form: its authority wins over Host; the path keeps its '/' */
	assert_int_equal(parse("HEAD http://pirate.example/x?y HTTP/1.1\r\nHost: ok.example\r\n\r\n", buf,
			       sizeof(buf), &r), 0);
	assert_int_equal(r.method, WD_M_HEAD);
	assert_string_equal(r.host, "pirate.example");
	assert_string_equal(r.path, "/x");
	assert_int_equal(parse("GET HTTPS://h.example:81 HTTP/1.1\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_string_equal(r.host, "h.example:81");
	assert_string_equal(r.path, "/");

	/* HTTP/1.0: closed unless keep-alive; Connection tokens in any case */
	assert_int_equal(parse("POST / HTTP/1.0\n\n", buf, sizeof(buf), &r), 0);
	assert_false(r.keep_alive);
	assert_null(r.host);
	assert_int_equal(parse("POST / HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 12\r\n"
			       "Content-Length: 12\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_true(r.keep_alive);
	assert_int_equal(r.content_length, 12);
	assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\nExpect: 100-continue\r\n\r\n", buf,
			       sizeof(buf), &r), 0);
	assert_false(r.keep_alive);
	assert_true(r.expect_continue);

	/* methods without a page are parsed (answered 405), whatever their target */
	assert_int_equal(parse("CONNECT pirate.example:443 HTTP/1.1\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_int_equal(r.method, WD_M_OTHER);
	assert_int_equal(parse("BREW / HTTP/1.1\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_int_equal(r.method, WD_M_OTHER);
	assert_int_equal(parse("get / HTTP/1.1\r\n\r\n", buf, sizeof(buf), &r), 0); /* case-sensitive */
	assert_int_equal(r.method, WD_M_OTHER);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n\r\n", buf, sizeof(buf), &r), 0);
	assert_string_equal(r.path, "*");
}

static void test_parse_refused(void **state)
{
	static const struct {
		const char *head;
		int status;
	} cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
		{ "GET / HTTP/9.9\r\n\r\n", 400 },
		{ "GET / HTTP/1.1 \r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / http/1.1\r\n\r\n", 400 },
		{ "G(T / HTTP/1.1\r\n\r\n", 400 },
		{ "GET /a\tb HTTP/1.1\r\n\r\n", 400 },
		{ "GET a HTTP/1.1\r\n\r\n", 400 },
		{ "GET http://u@h/ HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost pirate.example\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nA B: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nA: x\r\n b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nA: x\x7fy\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 9999999999999999\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
	};
	char buf[512];
	struct wd_http_req r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].head), scanned = 0, end;
		memcpy(buf, cases[i].head, n + 1);
		end = wd_http_head_end(buf, n, &scanned);
		assert_true(end > 0);
		if (wd_http_parse(buf, end, &r) != cases[i].status)
			fail_msg("case %zu: %s", i, cases[i].head);
	}
	/* a NUL anywhere */
	memcpy(buf, "GET /\0 HTTP/1.1\r\n\r\n", 20);
	assert_int_equal(wd_http_parse(buf, 19, &r), 400);
}

static void test_page_cache(void **state)
{
	struct wd_tmpl t = { .lang = "en" };
	struct wd_page_cache *c = wd_page_cache_new();
	struct wd_page_vals v = { .domain = "pirate.example", .order = "o1", .reason = "Piracy" };
	const char *body, *again;
	size_t len, len2;
	uint64_t hits, misses;
	char reason[32];

	t.page[WD_PAGE_BLOCKED] = (char *)"<p>{domain}|{order}|{reason}|{lang}</p>";
	t.page[WD_PAGE_NEUTRAL] = (char *)"<p>not {domain}</p>";
	assert_non_null(c);
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>pirate.example|o1|Piracy|en</p>");
	assert_int_equal(len, strlen(body));
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &again, &len2), 0);
	assert_ptr_equal(again, body); /* the same stored page */
	wd_page_cache_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 1);
	/* any value, the kind: another page; a value's content counts, not its address */
	snprintf(reason, sizeof(reason), "Piracy!");
	v.reason = reason;
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>pirate.example|o1|Piracy!|en</p>");
	reason[6] = '\0';
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>pirate.example|o1|Piracy|en</p>");
	v.domain = "www.pirate.example";
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>www.pirate.example|o1|Piracy|en</p>");
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_NEUTRAL, &v, &body, &len), 0);
	assert_string_equal(body, "<p>not www.pirate.example</p>");
	/* a value moved from one field to another is another page too */
	v = (struct wd_page_vals){ .domain = "a", .order = "" };
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>a|||en</p>");
	v = (struct wd_page_vals){ .domain = "", .order = "a" };
	assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
	assert_string_equal(body, "<p>|a||en</p>");
	/* many pages: slots are reused, every answer still exact */
	for (int i = 0; i < 3 * WD_CACHE_SLOTS; i++) {
		char d[32], want[64];
		snprintf(d, sizeof(d), "h%d.example", i % (WD_CACHE_SLOTS + 7));
		v = (struct wd_page_vals){ .domain = d, .order = "o1", .reason = "R" };
		assert_int_equal(wd_page_cached(c, &t, WD_PAGE_BLOCKED, &v, &body, &len), 0);
		snprintf(want, sizeof(want), "<p>%s|o1|R|en</p>", d);
		assert_string_equal(body, want);
	}
	wd_page_cache_clear(c);
	wd_page_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_page_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
