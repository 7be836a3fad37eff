/*
 * fuzz_warnd.c — what redsink-warnd does with a request before it reaches a
 * page, a header or Redis (tools/warnd/warnd_text.c, tools/warnd/warnd_page.c):
 * the request target (as warnd_http.c parses it) and the Host header
 * (wd_host_parse), Accept-Language (wd_accept_language, wd_lang_choose,
 * wd_templates_choose), regions and counter fields, dates, URLs, HTML
 * escaping, template sections and page rendering.
 *
 * The request target and Host go through warnd's own parser (wd_http_parse,
 * warnd_http.c; fuzzed on its own by fuzz_http.c) in a request of their own,
 * and the host it takes (an absolute-form authority wins) through
 * wd_host_parse. The rendered-page cache (wd_page_cached) must answer
 * exactly what wd_page_render writes, on a miss and on a hit.
 *
 * Input: NUL-separated strings, missing ones are NULL:
 *   0 request target   1 Host header   2 Accept-Language   3 country
 *   4 subdivision      5 a template    6 order id   7 reason   8 url
 *   9 issued date
 *
 * Invariants checked:
 *  - wd_host_parse: WD_HOST_NAME gives a canonical name (rs_name_canon of it
 *    is itself), every other kind gives "";
 *  - wd_accept_language: at most max ranges, q in 1..1000, highest first,
 *    tags of 1..WD_TAG_MAX octets, lowercase letters, digits, '-' or "*";
 *  - wd_templates_choose never returns NULL, and the page it returns exists;
 *  - a page rendered from a template of placeholders only holds none of
 *    < > " ' except from the template, and is valid UTF-8 (values escaped);
 *    wd_html_escape output has no raw < > " ' and is valid UTF-8;
 *  - wd_url_ok accepts only http(s):// (any case), <= 2048 octets, no space or < > " \ ` { } | ^;
 *  - wd_date_part: "" or YYYY-MM-DD.
 *  - address-triggered pages (issue 13): a canonical host (WD_HOST_NAME) is
 *    a name in the module's discovered form (lib/disc.h), so the HGET of the
 *    discovered-names index can find it; wd_disc_value (strings 6 and 7 as
 *    index values) accepts only a valid order id and a canonical prefix that
 *    formats back to itself; the prefix (as {prefix}) is escaped like every
 *    value. (The name and field readers themselves: fuzz_disc.c.)
 */
#include "fuzz_common.h"

#include <ctype.h>

#include "disc.h"
#include "name.h"
#include "order.h"
#include "prefix.h"
#include "text.h"
#include "warnd_http.h"
#include "warnd_page.h"
#include "warnd_text.h"

#define NSTR 10

/* The host of a request with this target and Host, as the server takes it
 * (warnd_http.c: an absolute-form target's authority wins); NULL when the
 * request is refused or has none. */
static const char *host_of_target(const char *target, const char *host, char *buf, size_t bufsz)
{
	struct rs_buf req = { 0 };
	struct wd_http_req r;
	const char *h = NULL;

	buf[0] = '\0';
	rs_buf_adds(&req, "GET ");
	rs_buf_adds(&req, target);
	rs_buf_adds(&req, " HTTP/1.1\r\n");
	if (host) {
		rs_buf_adds(&req, "Host: ");
		rs_buf_adds(&req, host);
		rs_buf_adds(&req, "\r\n");
	}
	rs_buf_adds(&req, "\r\n");
	if (!req.oom && wd_http_parse(req.s, req.len, &r) == 0 && r.host) {
		snprintf(buf, bufsz, "%s", r.host);
		h = buf;
	}
	free(req.s);
	return h;
}

static void check_host(const char *raw)
{
	char canon[RS_NAME_MAX + 1], again[RS_NAME_MAX + 1];
	enum wd_host k = wd_host_parse(raw, canon);

	FZ_CHECK(k >= WD_HOST_NONE && k <= WD_HOST_BAD);
	FZ_CHECK(memchr(canon, '\0', sizeof(canon)) != NULL);
	if (k == WD_HOST_NAME) {
		int n = rs_name_canon(canon, strlen(canon), again);
		FZ_CHECK(n > 0 && (size_t)n == strlen(canon) && strcmp(again, canon) == 0);
	} else {
		FZ_CHECK(canon[0] == '\0');
	}
	if (!raw || !*raw)
		FZ_CHECK(k == WD_HOST_NONE);
}

static void check_accept_language(const char *hdr)
{
	struct wd_lang_pref p[WD_PREFS_MAX];
	int n = wd_accept_language(hdr, p, WD_PREFS_MAX);

	FZ_CHECK(n >= 0 && n <= WD_PREFS_MAX);
	for (int i = 0; i < n; i++) {
		size_t len = strnlen(p[i].tag, sizeof(p[i].tag));
		FZ_CHECK(len >= 1 && len <= WD_TAG_MAX);
		FZ_CHECK(p[i].q >= 1 && p[i].q <= 1000);
		if (i > 0)
			FZ_CHECK(p[i].q <= p[i - 1].q);
		if (strcmp(p[i].tag, "*") != 0)
			for (size_t k = 0; k < len; k++)
				FZ_CHECK(islower((unsigned char)p[i].tag[k]) || isdigit((unsigned char)p[i].tag[k]) ||
					 p[i].tag[k] == '-');
	}
	/* a small max is respected */
	FZ_CHECK(wd_accept_language(hdr, p, 1) <= 1);
}

static void check_disc(const char *v, const char *raw_host)
{
	char host[RS_NAME_MAX + 1], text[RS_PREFIX_TEXT_MAX];
	struct wd_disc_hit h;
	struct rs_prefix p;

	if (wd_host_parse(raw_host, host) == WD_HOST_NAME)
		FZ_CHECK(rs_disc_name_parse(host, strlen(host), NULL) == (int)strlen(host) + 2);
	if (!v || !wd_disc_value(v, strlen(v), &h))
		return;
	FZ_CHECK(strchr(v, '|') && !strchr(strchr(v, '|') + 1, '|'));
	FZ_CHECK(rs_order_id_ok(h.order));
	FZ_CHECK(rs_prefix_parse(h.prefix, &p, NULL, 0) == 0);
	rs_prefix_format(&p, text, sizeof(text));
	FZ_CHECK(strcmp(text, h.prefix) == 0);
	FZ_CHECK(strlen(h.order) + 1 + strlen(h.prefix) == strlen(v));
}

static void check_escaped(const char *s, size_t n)
{
	FZ_CHECK(fz_utf8_ok(s, n));
	for (size_t i = 0; i < n; i++)
		FZ_CHECK(s[i] != '<' && s[i] != '>' && s[i] != '"' && s[i] != '\'' && s[i] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char en_b[] = "<p>{domain} {listed} {order} {authority} {reference} {issued} {expires} {reason} "
			     "{reason_lang} {url} {scope} {lang} {unavailable}</p>";
	static char en_n[] = "{?unavailable}down{/unavailable}{!unavailable}{domain}{/unavailable}";
	static char it_b[] = "it {domain}", ptbr_n[] = "pt-br {domain}";
	static char vals_only[] = "{domain}|{listed}|{order}|{authority}|{reference}|{issued}|{expires}|"
				  "{reason}|{reason_lang}|{url}|{scope}|{unavailable}|{prefix}";
	static struct wd_tmpl tt[3] = {
		{ "en", { en_b, en_n } }, { "it", { it_b, NULL } }, { "pt-br", { NULL, ptbr_n } }
	};
	struct wd_templates ts = { "/nonexistent", tt, 3, &tt[0] };
	char *s[NSTR] = { NULL }, *store, hostbuf[1024], date[11];
	struct wd_page_vals v = { 0 };
	struct rs_buf out = { 0 }, esc = { 0 };
	size_t n;

	fz_quiet();
	n = fz_split(data, size, s, NSTR, &store);
	if (n == 0) {
		free(store);
		return 0;
	}
	/* request target and Host, as the server takes them */
	if (s[0])
		check_host(host_of_target(s[0], s[1], hostbuf, sizeof(hostbuf)));
	check_host(s[0]);
	check_host(s[1]);
	check_host(NULL);
	check_disc(s[6], s[1]);
	check_disc(s[7], s[0]);
	if (s[2])
		check_accept_language(s[2]);
	for (int kind = 0; kind <= 1; kind++) {
		const struct wd_tmpl *t = wd_templates_choose(&ts, (enum wd_page_kind)kind, s[2], s[3]);
		FZ_CHECK(t != NULL && t->page[kind] != NULL);
	}
	(void)wd_country_lang(s[3] ? s[3] : "");
	if (s[9]) {
		memset(date, 'x', sizeof(date));
		wd_date_part(s[9], date);
		FZ_CHECK(date[0] == '\0' || (strlen(date) == 10 && date[4] == '-' && date[7] == '-'));
	}
	if (s[8] && wd_url_ok(s[8])) {
		FZ_CHECK(strncasecmp(s[8], "http://", 7) == 0 || strncasecmp(s[8], "https://", 8) == 0);
		FZ_CHECK(strlen(s[8]) <= 2048 && !strpbrk(s[8], " <>\"\\`{}|^"));
	}
	/* escaping */
	for (size_t i = 0; i < n; i++) {
		esc.len = 0;
		wd_html_escape(&esc, s[i], strlen(s[i]));
		if (esc.s)
			check_escaped(esc.s, esc.len);
	}
	free(esc.s);
	/* a page of values only: nothing from a value can open a tag or close an attribute */
	{
		struct wd_tmpl t = { "en", { vals_only, vals_only } };
		v.domain = s[1];
		v.listed = s[0];
		v.order = s[6];
		v.authority = s[7];
		v.reference = s[2];
		v.reason = s[7];
		v.url = s[8];
		v.issued = s[9];
		v.expires = s[4];
		v.scope = s[3];
		v.reason_lang = s[4];
		v.unavailable = s[5];
		v.prefix = s[6];
		FZ_CHECK(wd_page_render(&t, WD_PAGE_BLOCKED, &v, &out) == 0);
		check_escaped(out.s, out.len);
		/* the rendered-page cache answers exactly the rendering, missed and hit */
		{
			struct wd_page_cache *pc = wd_page_cache_new();
			const char *cb;
			size_t cl;
			for (int k = 0; pc && k < 2; k++) {
				FZ_CHECK(wd_page_cached(pc, &t, WD_PAGE_BLOCKED, &v, &cb, &cl) == 0);
				FZ_CHECK(cl == out.len && memcmp(cb, out.s, cl) == 0);
			}
			wd_page_cache_free(pc);
		}
		free(out.s);
		out = (struct rs_buf){ 0 };
	}
	/* a fuzzed template (trusted in real life; must still not crash) */
	if (s[5]) {
		struct wd_tmpl t = { "en", { s[5], s[5] } };
		(void)wd_page_render(&t, WD_PAGE_NEUTRAL, &v, &out);
		free(out.s);
	}
	free(store);
	return 0;
}
