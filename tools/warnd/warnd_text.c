/* warnd_text.c — escaping, Host, Accept-Language, sections, regions (see warnd_text.h). */
#define _GNU_SOURCE /* memmem */
#include "warnd_text.h"

#include "disc.h"
#include "order.h"
#include "prefix.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rs_err.h"

/* ---- HTML ---- */

/* Length of the valid UTF-8 sequence at s (n octets available), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool wd_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0, l; i < n; i += l)
		if ((l = utf8_len(s + i, n - i)) == 0)
			return false;
	return true;
}

void wd_html_escape(struct rs_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0; /* octets copied as they are, pending */

	while (run < n) {
		const char *ent = NULL;
		size_t l = utf8_len(s + run, n - run);

		if (l == 0)
			ent = "\xef\xbf\xbd";
		else if (l == 1) {
			switch (s[run]) {
			case '&': ent = "&amp;"; break;
			case '<': ent = "&lt;"; break;
			case '>': ent = "&gt;"; break;
			case '"': ent = "&quot;"; break;
			case '\'': ent = "&#39;"; break;
			case '\t': case '\n': case '\r': break;
			default:
				if (s[run] < 0x20 || s[run] == 0x7f)
					ent = "\xef\xbf\xbd";
			}
		}
		if (!ent) {
			run += l;
			continue;
		}
		rs_buf_add(b, (const char *)s, run);
		rs_buf_adds(b, ent);
		s += run + (l ? l : 1);
		n -= run + (l ? l : 1);
		run = 0;
	}
	rs_buf_add(b, (const char *)s, run);
}

/* ---- Host ---- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

enum wd_host wd_host_parse(const char *raw, char canon[RS_NAME_MAX + 1])
{
	char tmp[64];
	const char *end, *colon;
	size_t n;

	canon[0] = '\0';
	if (!raw)
		return WD_HOST_NONE;
	while (*raw == ' ' || *raw == '\t')
		raw++;
	n = strlen(raw);
	while (n > 0 && (raw[n - 1] == ' ' || raw[n - 1] == '\t'))
		n--;
	if (n == 0)
		return WD_HOST_NONE;
	end = raw + n;
	if (raw[0] == '[') { /* [IPv6]:port */
		const char *close = memchr(raw, ']', n);
		struct in6_addr a6;
		size_t alen;
		if (!close)
			return WD_HOST_BAD;
		alen = (size_t)(close - raw - 1);
		if (close + 1 != end && !(close[1] == ':' && all_digits(close + 2, (size_t)(end - close - 2))))
			return WD_HOST_BAD;
		if (alen == 0 || alen >= sizeof(tmp))
			return WD_HOST_BAD;
		memcpy(tmp, raw + 1, alen);
		tmp[alen] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1 ? WD_HOST_ADDR : WD_HOST_BAD;
	}
	colon = memchr(raw, ':', n);
	if (colon) {
		if (memchr(colon + 1, ':', (size_t)(end - colon - 1)) || !all_digits(colon + 1, (size_t)(end - colon - 1)))
			return WD_HOST_BAD; /* a bare IPv6 address, or a bad port */
		n = (size_t)(colon - raw);
	}
	if (n > 0 && n < sizeof(tmp)) {
		struct in_addr a4;
		memcpy(tmp, raw, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, &a4) == 1)
			return WD_HOST_ADDR;
	}
	if (n == 0 || rs_name_canon(raw, n, canon) < 0) {
		canon[0] = '\0';
		return WD_HOST_BAD;
	}
	return WD_HOST_NAME;
}

/* ---- Accept-Language ---- */

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse one language range r[0..n) ("en-US", "*") into tag; false if malformed. */
static bool parse_range(const char *r, size_t n, char tag[WD_TAG_MAX + 1])
{
	size_t sub = 0;
	bool first = true;

	if (n == 1 && r[0] == '*') {
		strcpy(tag, "*");
		return true;
	}
	if (n == 0 || n > WD_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r[i];
		if (c == '-') {
			if (sub == 0)
				return false;
			sub = 0;
			first = false;
		} else if ((first ? isalpha(c) : isalnum(c)) && c < 0x80 && ++sub <= 8) {
			tag[i] = (char)tolower(c);
			continue;
		} else {
			return false;
		}
		tag[i] = '-';
	}
	if (sub == 0)
		return false;
	tag[n] = '\0';
	return true;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as 0..1000; -1 if malformed. */
static int parse_q(const char *s, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

int wd_accept_language(const char *hdr, struct wd_lang_pref *out, int max)
{
	int count = 0;

	if (!hdr)
		return 0;
	while (*hdr && count < max) {
		const char *item = hdr, *iend = strchr(hdr, ','), *p, *semi;
		struct wd_lang_pref pref;
		size_t rlen;
		bool ok;

		if (!iend)
			iend = hdr + strlen(hdr);
		hdr = *iend ? iend + 1 : iend;
		while (item < iend && ows(*item))
			item++;
		semi = memchr(item, ';', (size_t)(iend - item));
		rlen = (size_t)((semi ? semi : iend) - item);
		while (rlen > 0 && ows(item[rlen - 1]))
			rlen--;
		if (rlen == 0)
			continue; /* empty list element */
		ok = parse_range(item, rlen, pref.tag);
		pref.q = 1000;
		/* parameters: only q matters */
		for (p = semi; ok && p && p < iend;) {
			const char *pe = memchr(p + 1, ';', (size_t)(iend - p - 1)), *v;
			const char *pend = pe ? pe : iend;
			v = p + 1;
			while (v < pend && ows(*v))
				v++;
			if (pend - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
				size_t vl = (size_t)(pend - v - 2);
				while (vl > 0 && ows(v[2 + vl - 1]))
					vl--;
				pref.q = parse_q(v + 2, vl);
				ok = pref.q >= 0;
			}
			p = pe;
		}
		if (!ok || pref.q == 0)
			continue;
		/* insertion sort, stable: after every range of equal or higher q */
		{
			int i = count;
			while (i > 0 && out[i - 1].q < pref.q) {
				out[i] = out[i - 1];
				i--;
			}
			out[i] = pref;
			count++;
		}
	}
	return count;
}

static const struct {
	const char cc[3];
	const char *lang;
} country_langs[] = {
	{ "AR", "es" }, { "AT", "de" }, { "AU", "en" }, { "BG", "bg" }, { "BR", "pt" }, { "CL", "es" },
	{ "CN", "zh" }, { "CO", "es" }, { "CZ", "cs" }, { "DE", "de" }, { "DK", "da" }, { "EE", "et" },
	{ "ES", "es" }, { "FI", "fi" }, { "FR", "fr" }, { "GB", "en" }, { "GR", "el" }, { "HR", "hr" },
	{ "HU", "hu" }, { "ID", "id" }, { "IE", "en" }, { "IL", "he" }, { "IN", "en" }, { "IR", "fa" },
	{ "IT", "it" }, { "JP", "ja" }, { "KP", "ko" }, { "KR", "ko" }, { "LT", "lt" }, { "LV", "lv" },
	{ "MX", "es" }, { "NL", "nl" }, { "NO", "nb" }, { "NZ", "en" }, { "PE", "es" }, { "PL", "pl" },
	{ "PT", "pt" }, { "RO", "ro" }, { "RS", "sr" }, { "RU", "ru" }, { "SA", "ar" }, { "SE", "sv" },
	{ "SI", "sl" }, { "SK", "sk" }, { "TH", "th" }, { "TR", "tr" }, { "TW", "zh" }, { "UA", "uk" },
	{ "US", "en" }, { "VN", "vi" }, { "ZA", "en" },
};

const char *wd_country_lang(const char *cc)
{
	if (!cc || strlen(cc) != 2)
		return NULL;
	for (size_t i = 0; i < sizeof(country_langs) / sizeof(country_langs[0]); i++)
		if (toupper((unsigned char)cc[0]) == country_langs[i].cc[0] &&
		    toupper((unsigned char)cc[1]) == country_langs[i].cc[1])
			return country_langs[i].lang;
	return NULL;
}

const char *wd_lang_choose(const char *accept_language, const char *country, wd_lang_find_fn find, void *arg,
			   const char *def)
{
	struct wd_lang_pref prefs[WD_PREFS_MAX];
	int n = wd_accept_language(accept_language, prefs, WD_PREFS_MAX);
	const char *l;

	for (int i = 0; i < n; i++) {
		const char *tag = prefs[i].tag;
		if (strcmp(tag, "*") == 0)
			continue;
		if ((l = find(tag, strlen(tag), arg)) != NULL)
			return l;
		if (strchr(tag, '-') && (l = find(tag, strcspn(tag, "-"), arg)) != NULL)
			return l;
	}
	l = wd_country_lang(country);
	if (l && (l = find(l, strlen(l), arg)) != NULL)
		return l;
	return def;
}

/* ---- template sections ---- */

#define SECTION_DEPTH 8

/* Copy t[0..n) to out, resolving sections. */
static void sections(struct rs_buf *out, const char *t, size_t n, wd_nonempty_fn nonempty, void *arg, int depth)
{
	const char *end = t + n;

	while (t < end) {
		const char *open = memchr(t, '{', (size_t)(end - t)), *close, *body, *stop;
		char endtag[80];
		size_t nlen;
		bool keep;

		if (!open) {
			rs_buf_add(out, t, (size_t)(end - t));
			return;
		}
		rs_buf_add(out, t, (size_t)(open - t));
		t = open;
		close = open + 2 < end ? memchr(open + 2, '}', (size_t)(end - open - 2)) : NULL;
		nlen = close ? (size_t)(close - open - 2) : 0;
		if (depth >= SECTION_DEPTH || !close || (open[1] != '?' && open[1] != '!') || nlen == 0 ||
		    nlen + 4 > sizeof(endtag) || memchr(open + 2, '{', nlen)) {
			rs_buf_add(out, "{", 1);
			t = open + 1;
			continue;
		}
		snprintf(endtag, sizeof(endtag), "{/%.*s}", (int)nlen, open + 2);
		body = close + 1;
		/* the first end tag of that name: a section does not contain another
		 * section of the same name */
		stop = memmem(body, (size_t)(end - body), endtag, strlen(endtag));
		if (!stop) {
			rs_buf_add(out, "{", 1);
			t = open + 1;
			continue;
		}
		keep = nonempty(open + 2, nlen, arg);
		if (open[1] == '!')
			keep = !keep;
		if (keep)
			sections(out, body, (size_t)(stop - body), nonempty, arg, depth + 1);
		t = stop + strlen(endtag);
	}
}

int wd_template_sections(struct rs_buf *out, const char *tmpl, wd_nonempty_fn nonempty, void *arg)
{
	sections(out, tmpl, strlen(tmpl), nonempty, arg, 0);
	if (!out->s)
		rs_buf_add(out, "", 0);
	return out->oom ? RS_ENOMEM : 0;
}

bool wd_url_ok(const char *url)
{
	size_t n;

	if (!url)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		n = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		n = 7;
	else
		return false;
	if (url[n] == '\0' || url[n] == '/' || strlen(url) > 2048)
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("<>\"\\`{}|^", *p))
			return false;
	return true;
}

void wd_date_part(const char *s, char out[11])
{
	out[0] = '\0';
	if (!s || strlen(s) < 10)
		return;
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (dash ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return;
	}
	if (s[10] != '\0' && s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return;
	memcpy(out, s, 10);
	out[10] = '\0';
}

/* ---- address-triggered blocks ---- */

bool wd_disc_value(const char *v, size_t vlen, struct wd_disc_hit *hit)
{
	struct rs_disc_field f;

	if (rs_disc_value_parse(v, vlen, &f) != 0)
		return false;
	snprintf(hit->order, sizeof(hit->order), "%s", f.order);
	snprintf(hit->prefix, sizeof(hit->prefix), "%s", f.prefix);
	return true;
}

bool wd_bucket_take(struct wd_bucket *b, time_t now, unsigned rate, unsigned burst)
{
	if (!b->started) {
		b->tokens = burst;
		b->last = now;
		b->started = true;
	} else if (now < b->last) { /* the clock went back: no refill */
		b->last = now;
	} else if (now > b->last) {
		uint64_t add = (uint64_t)(now - b->last) * rate;
		b->tokens = add >= burst - b->tokens ? burst : b->tokens + (unsigned)add;
		b->last = now;
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}
