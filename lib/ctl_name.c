/* ctl_name.c — canonical domain names from human input (see ctl_name.h). */
#include "ctl_name.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_err.h"

/* ---- UTF-8 ---- */

/* Decode one code point at s[0..n); its length, or 0 when s is not valid
 * UTF-8 (overlong forms, surrogates and values over U+10FFFF are invalid). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Invisible or direction-changing characters: never shown raw in a message. */
static bool cp_invisible(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0xad || c == 0x34f || c == 0x61c || (c >= 0x115f && c <= 0x1160) ||
	       (c >= 0x180b && c <= 0x180f) || (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2060 && c <= 0x206f) || c == 0x3164 || (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff ||
	       c == 0xffa0 || (c >= 0xfff0 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe0fff);
}

char *ctl_show(const char *s, size_t len, size_t max, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, shown = 0;

	if (outsz == 0)
		return out;
	while (i < len) {
		char tmp[16];
		size_t tl;
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);

		if (shown == max) {
			snprintf(tmp, sizeof(tmp), "...");
			tl = 3;
		} else if (n == 0) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			n = 1;
		} else if (cp < 0x20 || cp == 0x7f) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned)cp);
		} else if (cp == '\\') {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\\\");
		} else if (cp_invisible(cp)) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\u{%x}", (unsigned)cp);
		} else {
			memcpy(tmp, p + i, n);
			tl = n;
		}
		if (o + tl + 1 > outsz)
			break;
		memcpy(out + o, tmp, tl);
		o += tl;
		if (shown++ == max)
			break;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* ---- scripts (a small UTS #24 table: the scripts IDNs are written in) ---- */

enum script {
	SC_COMMON = 0, SC_LATIN, SC_GREEK, SC_CYRILLIC, SC_ARMENIAN, SC_HEBREW, SC_ARABIC,
	SC_SYRIAC, SC_THAANA, SC_DEVANAGARI, SC_BENGALI, SC_GURMUKHI, SC_GUJARATI, SC_ORIYA,
	SC_TAMIL, SC_TELUGU, SC_KANNADA, SC_MALAYALAM, SC_SINHALA, SC_THAI, SC_LAO, SC_TIBETAN,
	SC_MYANMAR, SC_GEORGIAN, SC_HANGUL, SC_ETHIOPIC, SC_KHMER, SC_MONGOLIAN, SC_HIRAGANA,
	SC_KATAKANA, SC_BOPOMOFO, SC_HAN, SC_OTHER
};

static const char *const script_names[] = {
	"Common", "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Syriac", "Thaana",
	"Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada",
	"Malayalam", "Sinhala", "Thai", "Lao", "Tibetan", "Myanmar", "Georgian", "Hangul", "Ethiopic",
	"Khmer", "Mongolian", "Hiragana", "Katakana", "Bopomofo", "Han", "another script"
};

static const struct {
	uint32_t lo, hi;
	uint8_t sc;
} script_ranges[] = {
	{ 0x0030, 0x0039, SC_COMMON }, { 0x002d, 0x002d, SC_COMMON }, { 0x005f, 0x005f, SC_COMMON },
	{ 0x0041, 0x005a, SC_LATIN }, { 0x0061, 0x007a, SC_LATIN }, { 0x00aa, 0x00aa, SC_LATIN },
	{ 0x00b7, 0x00b7, SC_COMMON }, { 0x00ba, 0x00ba, SC_LATIN }, { 0x00c0, 0x00d6, SC_LATIN },
	{ 0x00d8, 0x00f6, SC_LATIN }, { 0x00f8, 0x024f, SC_LATIN }, { 0x0250, 0x02af, SC_LATIN },
	{ 0x02b0, 0x02ff, SC_COMMON }, { 0x0300, 0x036f, SC_COMMON }, /* combining marks: inherited */
	{ 0x0370, 0x03ff, SC_GREEK }, { 0x0400, 0x052f, SC_CYRILLIC }, { 0x0530, 0x058f, SC_ARMENIAN },
	{ 0x0590, 0x05ff, SC_HEBREW }, { 0x0600, 0x06ff, SC_ARABIC }, { 0x0700, 0x074f, SC_SYRIAC },
	{ 0x0750, 0x077f, SC_ARABIC }, { 0x0780, 0x07bf, SC_THAANA }, { 0x08a0, 0x08ff, SC_ARABIC },
	{ 0x0900, 0x097f, SC_DEVANAGARI }, { 0x0980, 0x09ff, SC_BENGALI }, { 0x0a00, 0x0a7f, SC_GURMUKHI },
	{ 0x0a80, 0x0aff, SC_GUJARATI }, { 0x0b00, 0x0b7f, SC_ORIYA }, { 0x0b80, 0x0bff, SC_TAMIL },
	{ 0x0c00, 0x0c7f, SC_TELUGU }, { 0x0c80, 0x0cff, SC_KANNADA }, { 0x0d00, 0x0d7f, SC_MALAYALAM },
	{ 0x0d80, 0x0dff, SC_SINHALA }, { 0x0e00, 0x0e7f, SC_THAI }, { 0x0e80, 0x0eff, SC_LAO },
	{ 0x0f00, 0x0fff, SC_TIBETAN }, { 0x1000, 0x109f, SC_MYANMAR }, { 0x10a0, 0x10ff, SC_GEORGIAN },
	{ 0x1100, 0x11ff, SC_HANGUL }, { 0x1200, 0x139f, SC_ETHIOPIC }, { 0x1780, 0x17ff, SC_KHMER },
	{ 0x1800, 0x18af, SC_MONGOLIAN }, { 0x19e0, 0x19ff, SC_KHMER }, { 0x1ab0, 0x1aff, SC_COMMON },
	{ 0x1c80, 0x1c8f, SC_CYRILLIC }, { 0x1c90, 0x1cbf, SC_GEORGIAN }, { 0x1d00, 0x1d7f, SC_LATIN },
	{ 0x1dc0, 0x1dff, SC_COMMON }, { 0x1e00, 0x1eff, SC_LATIN }, { 0x1f00, 0x1fff, SC_GREEK },
	{ 0x20d0, 0x20ff, SC_COMMON }, { 0x2c60, 0x2c7f, SC_LATIN }, { 0x2d00, 0x2d2f, SC_GEORGIAN },
	{ 0x2d80, 0x2ddf, SC_ETHIOPIC }, { 0x2de0, 0x2dff, SC_CYRILLIC }, { 0x3000, 0x303f, SC_COMMON },
	{ 0x3040, 0x309f, SC_HIRAGANA }, { 0x30a0, 0x30fb, SC_KATAKANA }, { 0x30fc, 0x30fc, SC_COMMON },
	{ 0x30fd, 0x30ff, SC_KATAKANA }, { 0x3100, 0x312f, SC_BOPOMOFO }, { 0x3130, 0x318f, SC_HANGUL },
	{ 0x31a0, 0x31bf, SC_BOPOMOFO }, { 0x31f0, 0x31ff, SC_KATAKANA }, { 0x3400, 0x4dbf, SC_HAN },
	{ 0x4e00, 0x9fff, SC_HAN }, { 0xa640, 0xa69f, SC_CYRILLIC }, { 0xa720, 0xa7ff, SC_LATIN },
	{ 0xa960, 0xa97f, SC_HANGUL }, { 0xab30, 0xab6f, SC_LATIN }, { 0xac00, 0xd7ff, SC_HANGUL },
	{ 0xf900, 0xfaff, SC_HAN }, { 0xfb00, 0xfb06, SC_LATIN }, { 0xfb1d, 0xfb4f, SC_HEBREW },
	{ 0xfb50, 0xfdff, SC_ARABIC }, { 0xfe20, 0xfe2f, SC_COMMON }, { 0xfe70, 0xfeff, SC_ARABIC },
	{ 0x20000, 0x3ffff, SC_HAN },
};

static int script_of(uint32_t c)
{
	/* the table is small: a linear scan is plenty (names are checked once) */
	for (size_t i = 0; i < sizeof(script_ranges) / sizeof(script_ranges[0]); i++)
		if (c >= script_ranges[i].lo && c <= script_ranges[i].hi)
			return script_ranges[i].sc;
	return SC_OTHER;
}

/* Cyrillic and Greek lowercase letters that look like Latin ones. */
static bool looks_latin(uint32_t c)
{
	static const uint32_t lookalikes[] = {
		0x0430, 0x0435, 0x043e, 0x0440, 0x0441, 0x0443, 0x0445, 0x0455, 0x0456, 0x0458, 0x04bb,
		0x04cf, 0x0501, 0x051b, 0x051d, 0x0457, 0x0475, 0x03b1, 0x03b9, 0x03ba, 0x03bd, 0x03bf,
		0x03c1, 0x03c5, 0x03c7, 0x03f2, 0x03f3,
	};
	for (size_t i = 0; i < sizeof(lookalikes) / sizeof(lookalikes[0]); i++)
		if (c == lookalikes[i])
			return true;
	return false;
}

#define BIT(s) (1ULL << (s))

/*
 * Check one U-label (UTF-8). 0, CTL_NAME_MIXED or CTL_NAME_WHOLE with a
 * message naming the scripts. ascii_tld: the name's top-level label is ASCII.
 */
static int check_label_scripts(const char *label, size_t len, bool ascii_tld, char *msg, size_t msglen)
{
	const unsigned char *p = (const unsigned char *)label;
	uint64_t set = 0;
	size_t i = 0, letters = 0, alike = 0;
	static const uint64_t jpan = BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_HIRAGANA) | BIT(SC_KATAKANA);
	static const uint64_t hanb = BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_BOPOMOFO);
	static const uint64_t kore = BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_HANGUL);

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);
		int sc;
		if (n == 0)
			return 0; /* cannot happen: libidn2 produced it */
		sc = script_of(cp);
		if (sc != SC_COMMON) {
			set |= BIT(sc);
			letters++;
			if ((sc == SC_CYRILLIC || sc == SC_GREEK) && looks_latin(cp))
				alike++;
		}
		i += n;
	}
	if (set & (set - 1)) { /* more than one script */
		char names[160] = "";
		if ((set & ~jpan) == 0 || (set & ~hanb) == 0 || (set & ~kore) == 0)
			return 0;
		for (int s = 1; s <= SC_OTHER; s++) {
			if (!(set & BIT(s)))
				continue;
			if (names[0])
				strncat(names, " + ", sizeof(names) - strlen(names) - 1);
			strncat(names, script_names[s], sizeof(names) - strlen(names) - 1);
		}
		snprintf(msg, msglen, "label '%.*s' mixes scripts (%s): confusable", (int)len, label, names);
		return CTL_NAME_MIXED;
	}
	if (ascii_tld && letters > 0 && alike == letters) {
		snprintf(msg, msglen, "label '%.*s' is written in %s letters that look Latin: confusable", (int)len,
			 label, (set & BIT(SC_CYRILLIC)) ? "Cyrillic" : "Greek");
		return CTL_NAME_WHOLE;
	}
	return 0;
}

/* ---- helpers ---- */

/* Length of an invisible space at s[0..n) (NBSP, zero-width space, narrow
 * NBSP, word joiner, ideographic space, BOM), else 0. */
static size_t space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n' || s[0] == '\v' || s[0] == '\f'))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
		return 2;
	if (n >= 3 && ((s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0x8b || s[2] == 0xaf)) ||
		       (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0xa0) || (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) ||
		       (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)))
		return 3;
	return 0;
}

/* Same, for the invisible space that ends at s[n-1]. */
static size_t space_before(const unsigned char *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++)
		if (space_at(s + n - k, k) == k)
			return k;
	return 0;
}

bool ctl_is_ip(const char *s, size_t len)
{
	char buf[64];
	unsigned char addr[16];
	const char *slash;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash) {
		const char *d = slash + 1;
		if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 3)
			return false;
		buf[slash - buf] = '\0';
	}
	if (buf[0] == '[' && buf[strlen(buf) - 1] == ']') {
		memmove(buf, buf + 1, strlen(buf));
		buf[strlen(buf) - 1] = '\0';
	}
	return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* Reduce a URL to its host: *h, *hl. 0, or CTL_NAME_URL / CTL_NAME_IP. */
static int url_host(const char *s, size_t len, const char **h, size_t *hl)
{
	const char *sep = NULL, *p, *end = s + len, *host, *hend;

	for (p = s; p + 3 <= end; p++)
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			sep = p;
			break;
		}
	if (!sep) { /* "x.example/path": no scheme, a path */
		host = s;
	} else {
		for (p = s; p < sep; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
				return CTL_NAME_URL;
		if (sep == s)
			return CTL_NAME_URL;
		host = sep + 3;
	}
	for (hend = host; hend < end && *hend != '/' && *hend != '?' && *hend != '#'; hend++)
		;
	for (p = hend; p > host; p--) /* user:password@ */
		if (p[-1] == '@') {
			host = p;
			break;
		}
	if (host < hend && *host == '[')
		return CTL_NAME_IP;
	for (p = hend; p > host; p--) /* :port */
		if (p[-1] == ':') {
			const char *q = p;
			while (q < hend && *q >= '0' && *q <= '9')
				q++;
			if (q == hend)
				hend = p - 1;
			break;
		}
	if (host == hend)
		return CTL_NAME_URL;
	*h = host;
	*hl = (size_t)(hend - host);
	return 0;
}

/* Validate the xn-- label a[0..n): decode it into u (UTF-8) and, unless
 * from_idna (libidn2 just produced it), check that it round-trips through
 * IDNA2008. 0, 1 (valid punycode but not IDNA2008), or CTL_NAME_ALABEL. */
static int alabel_check(const char *a, size_t n, bool from_idna, char *u, size_t usz, char *msg, size_t msglen)
{
	char label[64], *dec = NULL, *enc = NULL;
	int rc;

	memcpy(label, a, n);
	label[n] = '\0';
	rc = idn2_to_unicode_8z8z(label, &dec, 0);
	if (rc != IDN2_OK || !dec || !*dec || strlen(dec) >= usz) {
		snprintf(msg, msglen, "label '%s' is not a valid A-label (bad punycode)", label);
		free(dec);
		return CTL_NAME_ALABEL;
	}
	for (const unsigned char *p = (const unsigned char *)dec; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '.') {
			snprintf(msg, msglen, "label '%s' is not a valid A-label (decodes to control characters)", label);
			free(dec);
			return CTL_NAME_ALABEL;
		}
	if (strspn(dec, "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(dec)) {
		snprintf(msg, msglen, "label '%s' is not a valid A-label (decodes to plain ASCII)", label);
		free(dec);
		return CTL_NAME_ALABEL;
	}
	snprintf(u, usz, "%s", dec);
	if (from_idna) { /* libidn2 made it from Unicode input: valid by construction */
		free(dec);
		return 0;
	}
	rc = idn2_to_ascii_8z(dec, &enc, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	free(dec);
	if (rc != IDN2_OK) {
		snprintf(msg, msglen, "label '%s' is valid punycode but not IDNA2008 (%s)", label, idn2_strerror(rc));
		free(enc);
		return 1;
	}
	rc = strcmp(enc, label) == 0 ? 0 : CTL_NAME_ALABEL;
	if (rc)
		snprintf(msg, msglen, "label '%s' is not a valid A-label (does not round-trip: '%s')", label, enc);
	free(enc);
	return rc;
}

/* Cut s before a UTF-8 sequence that a bounded snprintf left incomplete. */
static void utf8_cut_tail(char *s)
{
	size_t n = strlen(s), i = n, need;

	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return;
	i--; /* the lead octet */
	need = ((unsigned char)s[i] & 0xe0) == 0xc0 ? 2 : ((unsigned char)s[i] & 0xf0) == 0xe0 ? 3
	     : ((unsigned char)s[i] & 0xf8) == 0xf0 ? 4 : 1;
	if (n - i < need)
		s[i] = '\0';
}

static void add_warn(struct ctl_name_res *r, const char *msg)
{
	size_t n = strlen(r->warn);
	char w[CTL_MSG_MAX];

	snprintf(w, sizeof(w), "%s", msg);
	utf8_cut_tail(w); /* msg itself may have been cut to fit */
	if (n == 0)
		snprintf(r->warn, sizeof(r->warn), "%s", w);
	else if (n + 2 + strlen(w) < sizeof(r->warn)) { /* whole warnings only */
		memcpy(r->warn + n, "; ", 2);
		memcpy(r->warn + n + 2, w, strlen(w) + 1);
	}
	else if (n + 5 < sizeof(r->warn) && (n < 5 || strcmp(r->warn + n - 5, "; ...") != 0))
		snprintf(r->warn + n, sizeof(r->warn) - n, "; ...");
}

static int canon(const char *in, size_t len, unsigned flags, struct ctl_name_res *r);

int ctl_name_canon(const char *in, size_t len, unsigned flags, struct ctl_name_res *r)
{
	int rc = canon(in, len, flags, r);

	/* messages quote labels; one cut to fit its buffer must not end mid-character */
	utf8_cut_tail(r->warn);
	utf8_cut_tail(r->err);
	return rc;
}

/* ---- the whole name ---- */

static int canon(const char *in, size_t len, unsigned flags, struct ctl_name_res *r)
{
	const unsigned char *s = (const unsigned char *)in;
	const char *h;
	size_t hl, k, i;
	bool ascii = true;
	char buf[1100], shown[120], msg[CTL_MSG_MAX];
	int rc;

	r->name[0] = r->warn[0] = r->err[0] = '\0';
	while (len > 0 && (k = space_at(s, len)) > 0)
		s += k, len -= k;
	while (len > 0 && (k = space_before(s, len)) > 0)
		len -= k;
	if (len == 0)
		return CTL_NAME_BLANK;
	in = (const char *)s;
	if (memchr(in, '\0', len)) {
		snprintf(r->err, sizeof(r->err), "contains a NUL byte");
		return CTL_NAME_NUL;
	}
	if (len > CTL_TOKEN_MAX) {
		snprintf(r->err, sizeof(r->err), "%zu octets: far too long for a domain name", len);
		return CTL_NAME_TOOLONG;
	}
	for (i = 0; i < len; i++) {
		if (s[i] >= 0x80)
			ascii = false;
		else if (s[i] == ' ' || s[i] == '\t' || s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(r->err, sizeof(r->err), "white space or a control character inside the name");
			return CTL_NAME_SPACE;
		}
	}
	for (i = 0; !ascii && i < len;) {
		uint32_t cp;
		size_t n = utf8_next(s + i, len - i, &cp);
		if (n == 0) {
			snprintf(r->err, sizeof(r->err), "invalid UTF-8 at octet %zu", i + 1);
			return CTL_NAME_UTF8;
		}
		if (space_at(s + i, len - i) > 0 && cp != 0xfeff && cp != 0x200b && cp != 0x2060) {
			snprintf(r->err, sizeof(r->err), "white space inside the name");
			return CTL_NAME_SPACE;
		}
		i += n;
	}

	/* URLs and paths: keep the host */
	h = in;
	hl = len;
	if (memchr(in, '/', len)) {
		rc = url_host(in, len, &h, &hl);
		if (rc == CTL_NAME_IP) {
			snprintf(r->err, sizeof(r->err), "a URL with an IP address: redsink blocks names, not addresses");
			return rc;
		}
		if (rc) {
			snprintf(r->err, sizeof(r->err), "a URL without a host name");
			return rc;
		}
		if (flags & CTL_NO_REDUCE) {
			snprintf(r->err, sizeof(r->err), "a URL, not a domain name");
			return CTL_NAME_URL;
		}
		snprintf(msg, sizeof(msg), "URL reduced to its host '%s'", ctl_show(h, hl, 80, shown, sizeof(shown)));
		add_warn(r, msg);
	}
	if (ctl_is_ip(h, hl)) {
		snprintf(r->err, sizeof(r->err), "an IP address: redsink blocks names, not addresses");
		return CTL_NAME_IP;
	}
	if (hl >= 2 && h[0] == '*' && h[1] == '.') {
		if (flags & CTL_NO_REDUCE) {
			snprintf(r->err, sizeof(r->err), "a wildcard, not a domain name");
			return CTL_NAME_WILDCARD;
		}
		h += 2, hl -= 2;
		snprintf(msg, sizeof(msg), "wildcard reduced to '%s', which blocks the name and every name below it",
			 ctl_show(h, hl, 80, shown, sizeof(shown)));
		add_warn(r, msg);
	}
	if (memchr(h, '*', hl)) {
		snprintf(r->err, sizeof(r->err), "'*' is only allowed as a leading '*.' label");
		return CTL_NAME_WILDCARD;
	}
	if (hl > sizeof(buf) - 1) {
		snprintf(r->err, sizeof(r->err), "%s", rs_strerror(RS_ENAME_LEN));
		return RS_ENAME_LEN;
	}
	memcpy(buf, h, hl);
	buf[hl] = '\0';

	if (!ascii) {
		char *out = NULL;
		rc = idn2_to_ascii_8z(buf, &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK) {
			snprintf(r->err, sizeof(r->err), "not a valid internationalised name (IDNA2008/UTS#46: %s)",
				 idn2_strerror(rc));
			free(out);
			return CTL_NAME_IDNA;
		}
		rc = rs_name_canon(out, strlen(out), r->name);
		free(out);
	} else {
		rc = rs_name_canon(buf, hl, r->name);
	}
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "%s", rs_strerror(rc));
		r->name[0] = '\0';
		return rc;
	}

	/* every xn-- label: valid punycode, and its scripts */
	{
		const char *lab = r->name, *tld = strrchr(r->name, '.');
		bool ascii_tld, any_alabel = false;
		tld = tld ? tld + 1 : r->name;
		ascii_tld = strncmp(tld, "xn--", 4) != 0;
		if (strspn(tld, "0123456789") == strlen(tld)) {
			snprintf(r->err, sizeof(r->err), "the top-level label '%s' is numeric (an IP address?)", tld);
			r->name[0] = '\0';
			return CTL_NAME_NUMERIC;
		}
		while (*lab) {
			size_t n = strcspn(lab, ".");
			if (n >= 4 && strncmp(lab, "xn--", 4) == 0) {
				char u[256];
				any_alabel = true;
				rc = alabel_check(lab, n, !ascii, u, sizeof(u), msg, sizeof(msg));
				if (rc < 0) {
					snprintf(r->err, sizeof(r->err), "%s", msg);
					r->name[0] = '\0';
					return rc;
				}
				if (rc == 1) { /* emoji domains and the like */
					if (!(flags & CTL_ALLOW_CONFUSABLE)) {
						snprintf(r->err, sizeof(r->err), "%s", msg);
						r->name[0] = '\0';
						return CTL_NAME_ALABEL;
					}
					add_warn(r, msg);
				}
				rc = check_label_scripts(u, strlen(u), ascii_tld, msg, sizeof(msg));
				if (rc < 0) {
					if (!(flags & CTL_ALLOW_CONFUSABLE)) {
						snprintf(r->err, sizeof(r->err), "%s", msg);
						r->name[0] = '\0';
						return rc;
					}
					add_warn(r, msg);
				}
			}
			lab += n;
			if (*lab == '.')
				lab++;
		}
		if (!ascii && !any_alabel) {
			snprintf(msg, sizeof(msg), "Unicode mapping turned the name into plain '%s'", r->name);
			add_warn(r, msg);
		}
	}
	return 0;
}

/* ---- the Unicode form, for people to read ---- */

/* Does the U-label u hold only characters that show as themselves (no
 * control, invisible, joiner or bidirectional format character)? */
static bool shows_plain(const char *u)
{
	const unsigned char *p = (const unsigned char *)u;
	size_t n = strlen(u), i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k = utf8_next(p + i, n - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f || cp_invisible(cp))
			return false;
		i += k;
	}
	return true;
}

bool ctl_name_unicode(const char *name, char *out, size_t outsz)
{
	char canon_name[RS_NAME_MAX + 1], u[CTL_UNAME_MAX], msg[CTL_MSG_MAX];
	const char *lab, *tld;
	size_t o = 0;
	bool any = false, ascii_tld;

	if (outsz == 0)
		return false;
	snprintf(out, outsz, "%s", name);
	/* only canonical names: lowercase A-labels, as stored */
	if (!strstr(name, "xn--") || rs_name_canon(name, strlen(name), canon_name) < 0 ||
	    strcmp(canon_name, name) != 0)
		return false;
	tld = strrchr(name, '.');
	tld = tld ? tld + 1 : name;
	ascii_tld = strncmp(tld, "xn--", 4) != 0;
	for (lab = name; *lab;) {
		size_t n = strcspn(lab, "."), pl = n;
		const char *piece = lab;
		char ul[256];

		if (n >= 4 && strncmp(lab, "xn--", 4) == 0) {
			/* valid IDNA2008 (round-trips), not confusable, nothing hidden */
			if (alabel_check(lab, n, false, ul, sizeof(ul), msg, sizeof(msg)) != 0 ||
			    check_label_scripts(ul, strlen(ul), ascii_tld, msg, sizeof(msg)) != 0 || !shows_plain(ul))
				return false;
			piece = ul;
			pl = strlen(ul);
			any = true;
		}
		if (o + pl + 2 > sizeof(u))
			return false;
		memcpy(u + o, piece, pl);
		o += pl;
		lab += n;
		if (*lab == '.') {
			u[o++] = '.';
			lab++;
		}
	}
	u[o] = '\0';
	if (!any || o + 1 > outsz)
		return false;
	memcpy(out, u, o + 1);
	return true;
}

const char *ctl_name_display(const char *name, char *out, size_t outsz)
{
	char u[CTL_UNAME_MAX];

	if (outsz == 0)
		return out;
	if (ctl_name_unicode(name, u, sizeof(u)) && (size_t)snprintf(out, outsz, "%s (%s)", u, name) < outsz)
		return out;
	snprintf(out, outsz, "%s", name);
	return out;
}

int ctl_name_arg(const char *s, char out[RS_NAME_MAX + 1])
{
	struct ctl_name_res r;
	int rc = ctl_name_canon(s, strlen(s), CTL_NO_REDUCE | CTL_ALLOW_CONFUSABLE, &r);

	out[0] = '\0';
	if (rc == CTL_NAME_BLANK)
		return RS_ENAME_EMPTY;
	if (rc < 0)
		return rc;
	memcpy(out, r.name, strlen(r.name) + 1);
	return 0;
}
