/* test_warnd_page.c — redsink-warnd's templates: loading a directory (and
 * refusing a bad one), choosing a language, rendering with hostile values.
 * The shipped templates (tools/warnd/templates) are rendered too, so a template
 * edit that leaves a placeholder unknown or a section unclosed fails here. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rs_err.h"
#include "warnd_page.h"

static char tmpdir[64];

static void put_file(const char *name, const char *body, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(body, 1, len, f), len);
	fclose(f);
}
#define PUT(name, body) put_file((name), (body), strlen(body))

static void rm_files(void)
{
	static const char *const names[] = { "en.html", "neutral-en.html", "ko.html", "neutral-ko.html",
					     "fr.html", "README.html", "notes.txt", "KO-kr.html", "bad.html" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
}

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_warnd_page.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	rm_files();
	rmdir(tmpdir);
	return 0;
}

static char *render(const struct wd_tmpl *t, enum wd_page_kind kind, const struct wd_page_vals *v)
{
	struct rs_buf b = { 0 };

	assert_int_equal(wd_page_render(t, kind, v, &b), 0);
	return b.s; /* caller frees */
}

/* No placeholder or section marker survives rendering. */
static void assert_expanded(const char *page)
{
	for (const char *const *p = wd_placeholders; *p; p++) {
		char ph[64];
		snprintf(ph, sizeof(ph), "{%s}", *p);
		if (strstr(page, ph))
			fail_msg("placeholder %s left in the page", ph);
	}
	if (strstr(page, "{?") || strstr(page, "{!") || strstr(page, "{/"))
		fail_msg("section marker left in the page:\n%s", page);
}

static const struct wd_page_vals hostile = {
	.domain = "<script>alert(1)</script>",
	.listed = "pirate.example",
	.order = "o\"1",
	.authority = "Court <b>&</b>",
	.reference = "RG 1234/2026 '\"><img src=x onerror=alert(1)>",
	.reason = "</dd><script>x</script>",
	.scope = "*",
	.issued = "2026-01-10",
	.url = "https://orders.example.org/1?a=1&b=\"2\"",
	.reason_lang = "it\" onload=\"x",
};

static void test_shipped_templates(void **state)
{
	struct wd_templates ts;
	char err[256];
	const struct wd_tmpl *t;
	char *page;

	assert_int_equal(wd_templates_load(WD_SHIPPED_TEMPLATES, "en", &ts, err, sizeof(err)), 0);
	assert_int_equal(ts.n, 2);
	assert_string_equal(ts.def->lang, "en");
	for (size_t i = 0; i < ts.n; i++) {
		struct wd_page_vals none = { 0 }, unavail = { .unavailable = "yes" }, named = { .domain = "ok.example" };
		t = &ts.t[i];
		assert_non_null(t->page[WD_PAGE_BLOCKED]);
		assert_non_null(t->page[WD_PAGE_NEUTRAL]);

		page = render(t, WD_PAGE_BLOCKED, &hostile);
		assert_expanded(page);
		assert_null(strstr(page, "<script"));
		assert_null(strstr(page, "<img"));
		assert_null(strstr(page, "<b>"));
		assert_non_null(strstr(page, "RG 1234/2026 &#39;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
		assert_non_null(strstr(page, "href=\"https://orders.example.org/1?a=1&amp;b=&quot;2&quot;\""));
		assert_non_null(strstr(page, "lang=\"it&quot; onload=&quot;x\""));
		assert_non_null(strstr(page, "2026-01-10"));
		free(page);

		/* without url the page says whom to ask instead of linking */
		{
			struct wd_page_vals v = hostile;
			v.url = NULL;
			page = render(t, WD_PAGE_BLOCKED, &v);
			assert_expanded(page);
			assert_null(strstr(page, "<a href"));
			free(page);
		}
		page = render(t, WD_PAGE_NEUTRAL, &none);
		assert_expanded(page);
		free(page);
		page = render(t, WD_PAGE_NEUTRAL, &unavail);
		assert_expanded(page);
		free(page);
		page = render(t, WD_PAGE_NEUTRAL, &named);
		assert_expanded(page);
		assert_non_null(strstr(page, "ok.example"));
		free(page);
		page = render(t, WD_PAGE_NEUTRAL, &hostile);
		assert_null(strstr(page, "<script"));
		assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
		free(page);
	}
	/* the Korean page is in Korean */
	t = wd_templates_find(&ts, "ko", 2, WD_PAGE_BLOCKED);
	assert_non_null(t);
	page = render(t, WD_PAGE_BLOCKED, &hostile);
	assert_non_null(strstr(page, "이 웹사이트는 이용할 수 없습니다"));
	assert_non_null(strstr(page, "<html lang=\"ko\">"));
	free(page);

	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_BLOCKED, "ko-KR,ko;q=0.9", NULL)->lang, "ko");
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_BLOCKED, NULL, "KR")->lang, "ko");
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_NEUTRAL, NULL, "IT")->lang, "en");
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_NEUTRAL, "de, fr", NULL)->lang, "en");
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_NEUTRAL, "en;q=0.5, ko", "IT")->lang, "ko");
	wd_templates_free(&ts);
}

/* Internationalised names (issue 11): the user who typed münchen-stream.example
 * reads that name, with the stored A-label beside it; a confusable or invalid
 * A-label, or a raw Host, stays as it is; everything is still escaped. */
static void test_idn_names(void **state)
{
	struct wd_templates ts;
	char err[256], *page;
	const struct wd_tmpl *t;

	assert_int_equal(wd_templates_load(WD_SHIPPED_TEMPLATES, "en", &ts, err, sizeof(err)), 0);
	t = wd_templates_find(&ts, "en", 2, WD_PAGE_BLOCKED);
	assert_non_null(t);
	{
		struct wd_page_vals v = hostile;
		v.domain = "www.xn--mnchen-stream-wob.example";
		v.listed = "xn--mnchen-stream-wob.example";
		page = render(t, WD_PAGE_BLOCKED, &v);
		assert_expanded(page);
		assert_non_null(strstr(page, "<strong class=\"domain\">www.m\xc3\xbcnchen-stream.example "
					     "(www.xn--mnchen-stream-wob.example)</strong>"));
		assert_non_null(strstr(page, "<dd class=\"domain\">m\xc3\xbcnchen-stream.example "
					     "(xn--mnchen-stream-wob.example)</dd>"));
		free(page);
		/* whole-script confusable ("apple" in Cyrillic), bad punycode, a raw Host */
		v.domain = "xn--80ak6aa92e.com";
		v.listed = "xn--zz.example";
		page = render(t, WD_PAGE_BLOCKED, &v);
		assert_non_null(strstr(page, "<strong class=\"domain\">xn--80ak6aa92e.com</strong>"));
		assert_non_null(strstr(page, "<dd class=\"domain\">xn--zz.example</dd>"));
		free(page);
		v.domain = "<i>xn--mnchen-stream-wob.example";
		page = render(t, WD_PAGE_NEUTRAL, &v);
		assert_null(strstr(page, "<i>"));
		assert_non_null(strstr(page, "&lt;i&gt;xn--mnchen-stream-wob.example"));
		free(page);
	}
	/* the Korean page: a Korean name reads in Hangul */
	t = wd_templates_find(&ts, "ko", 2, WD_PAGE_NEUTRAL);
	assert_non_null(t);
	{
		struct wd_page_vals v = { .domain = "xn--vv4b11d.xn--3e0b707e" };
		page = render(t, WD_PAGE_NEUTRAL, &v);
		assert_non_null(strstr(page, "\xec\x98\x88\xec\x8b\x9c.\xed\x95\x9c\xea\xb5\xad "
					     "(xn--vv4b11d.xn--3e0b707e)"));
		free(page);
	}
	wd_templates_free(&ts);
}

static void test_load_directory(void **state)
{
	struct wd_templates ts;
	char err[256];
	const struct wd_tmpl *t;
	char *page;

	rm_files();
	PUT("en.html", "<p>{reference} {domain} {nope} {?url}<a href=\"{url}\">{url}</a>{/url}</p>");
	PUT("neutral-en.html", "<p>none: {domain}</p>");
	PUT("KO-kr.html", "<p>{reference}</p>"); /* a blocked page only */
	PUT("README.html", "not a template");
	PUT("notes.txt", "ignored");
	assert_int_equal(wd_templates_load(tmpdir, "en", &ts, err, sizeof(err)), 0);
	assert_int_equal(ts.n, 2);
	t = wd_templates_find(&ts, "ko-kr", 5, WD_PAGE_BLOCKED);
	assert_non_null(t);
	assert_null(wd_templates_find(&ts, "ko-kr", 5, WD_PAGE_NEUTRAL));
	/* a neutral page for a ko-KR reader falls back to the default language */
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_NEUTRAL, "ko-KR", NULL)->lang, "en");
	assert_string_equal(wd_templates_choose(&ts, WD_PAGE_BLOCKED, "ko-KR", NULL)->lang, "ko-kr");

	page = render(ts.def, WD_PAGE_BLOCKED, &hostile);
	/* an unknown placeholder is kept as written (the file is trusted) */
	assert_string_equal(page, "<p>RG 1234/2026 &#39;&quot;&gt;&lt;img src=x onerror=alert(1)&gt; "
				  "&lt;script&gt;alert(1)&lt;/script&gt; {nope} <a href=\"https://orders.example.org/1?a=1&amp;b=&quot;2&quot;\">"
				  "https://orders.example.org/1?a=1&amp;b=&quot;2&quot;</a></p>");
	free(page);
	{
		/* a value that looks like a placeholder or a section is not expanded again */
		struct wd_page_vals v = { .reference = "{domain}{?url}x{/url}", .domain = "d.example",
					  .url = "https://u.example/" };
		page = render(ts.def, WD_PAGE_BLOCKED, &v);
		assert_string_equal(page, "<p>{domain}{?url}x{/url} d.example {nope} <a href=\"https://u.example/\">"
					  "https://u.example/</a></p>");
		free(page);
	}
	wd_templates_free(&ts);
}

static void test_load_errors(void **state)
{
	struct wd_templates ts;
	char err[256];

	rm_files();
	assert_int_equal(wd_templates_load("/nonexistent/templates", "en", &ts, err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "/nonexistent/templates"));

	PUT("en.html", "<p>{reference}</p>");
	assert_int_equal(wd_templates_load(tmpdir, "en", &ts, err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "needs both en.html and neutral-en.html"));

	PUT("neutral-en.html", "<p>ok</p>");
	assert_int_equal(wd_templates_load(tmpdir, "ko", &ts, err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "default language 'ko'"));

	put_file("fr.html", "<p>a\0b</p>", 9);
	assert_int_equal(wd_templates_load(tmpdir, "en", &ts, err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "fr.html: NUL octet"));

	PUT("fr.html", "<p>caf\xe9</p>"); /* Latin-1, not UTF-8 */
	assert_int_equal(wd_templates_load(tmpdir, "en", &ts, err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "fr.html: not valid UTF-8"));

	PUT("fr.html", "<p>café</p>");
	assert_int_equal(wd_templates_load(tmpdir, "en", &ts, err, sizeof(err)), 0);
	assert_int_equal(ts.n, 2);
	wd_templates_free(&ts);
}

/* Every placeholder the code knows is documented in redsink-warnd(8). */
static void test_placeholders_documented(void **state)
{
	static char man[64 * 1024];
	FILE *f = fopen(WD_MAN_PAGE, "r");
	size_t n;

	assert_non_null(f);
	n = fread(man, 1, sizeof(man) - 1, f);
	fclose(f);
	man[n] = '\0';
	for (const char *const *p = wd_placeholders; *p; p++) {
		char ph[64];
		snprintf(ph, sizeof(ph), ".B {%s}", *p);
		if (!strstr(man, ph)) {
			snprintf(ph, sizeof(ph), " {%s}", *p);
			if (!strstr(man, ph))
				fail_msg("placeholder {%s} is not documented in %s", *p, WD_MAN_PAGE);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders_documented),
		cmocka_unit_test(test_shipped_templates),
		cmocka_unit_test(test_idn_names),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
