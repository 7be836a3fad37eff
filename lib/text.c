/* text.c — buffer, JSON escaping, templates, UTF-8 truncation (see text.h). */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_err.h"

void rs_buf_add(struct rs_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->s + b->len, s, n); /* s may be NULL when n is 0 */
	b->len += n;
	b->s[b->len] = '\0';
}

void rs_buf_adds(struct rs_buf *b, const char *s)
{
	rs_buf_add(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n octets), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void rs_buf_json(struct rs_buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);

	rs_buf_add(b, "\"", 1);
	while (n > 0) {
		size_t l = utf8_seq(s, n);
		if (l == 0) {
			rs_buf_adds(b, "\xef\xbf\xbd"); /* U+FFFD */
			l = 1;
		} else if (*s == '"' || *s == '\\') {
			rs_buf_add(b, "\\", 1);
			rs_buf_add(b, (const char *)s, 1);
		} else if (*s < 0x20 || *s == 0x7f) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			rs_buf_adds(b, esc);
		} else {
			rs_buf_add(b, (const char *)s, l);
		}
		s += l;
		n -= l;
	}
	rs_buf_add(b, "\"", 1);
}

int rs_template_expand(struct rs_buf *b, const char *t, rs_lookup_fn lookup, void *arg)
{
	while (*t) {
		const char *open = strchr(t, '{'), *close;
		if (!open) {
			rs_buf_adds(b, t);
			break;
		}
		rs_buf_add(b, t, (size_t)(open - t));
		close = strchr(open + 1, '}');
		if (close) {
			const char *v = lookup(open + 1, (size_t)(close - open - 1), arg);
			if (v) {
				rs_buf_adds(b, v);
				t = close + 1;
				continue;
			}
		}
		rs_buf_add(b, "{", 1);
		t = open + 1;
	}
	if (!b->s)
		rs_buf_add(b, "", 0);
	return b->oom ? RS_ENOMEM : 0;
}

size_t rs_utf8_prefix(const char *str, size_t n, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		size_t l = utf8_seq(s + i, n - i);
		if (l == 0)
			l = 1;
		if (i + l > max)
			break;
		i += l;
	}
	return i;
}

/* The JSON form of one character (the valid UTF-8 sequence or invalid octet
 * at s, l octets): written to out (at least 8 octets), its length returned. */
static size_t json_char(const unsigned char *s, size_t l, char *out)
{
	if (l == 0) {
		memcpy(out, "\xef\xbf\xbd", 3); /* U+FFFD */
		return 3;
	}
	if (*s == '"' || *s == '\\') {
		out[0] = '\\';
		out[1] = (char)*s;
		return 2;
	}
	if (*s < 0x20 || *s == 0x7f)
		return (size_t)snprintf(out, 8, "\\u%04x", *s);
	memcpy(out, s, l);
	return l;
}

void rs_buf_json_max(struct rs_buf *b, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), used = 2;

	if (max < 2)
		return;
	rs_buf_add(b, "\"", 1);
	while (n > 0) {
		char one[8];
		size_t l = utf8_seq(s, n), k = json_char(s, l, one);
		if (used + k > max)
			break;
		rs_buf_add(b, one, k);
		used += k;
		l = l ? l : 1;
		s += l;
		n -= l;
	}
	rs_buf_add(b, "\"", 1);
}

char *rs_text_clean(const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), a = 0, z;
	struct rs_buf b = { 0 };

	rs_buf_add(&b, "", 0);
	while (n > 0) {
		size_t l = utf8_seq(s, n);
		if (l == 0) {
			rs_buf_adds(&b, "\xef\xbf\xbd");
			l = 1;
		} else if (*s < 0x20 || *s == 0x7f || (l == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
			rs_buf_add(&b, " ", 1); /* C0, DEL, C1 (U+0080..U+009F) */
		} else {
			rs_buf_add(&b, (const char *)s, l);
		}
		s += l;
		n -= l;
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	while (b.s[a] == ' ')
		a++;
	z = rs_utf8_prefix(b.s + a, b.len - a, max);
	while (z > 0 && b.s[a + z - 1] == ' ')
		z--;
	memmove(b.s, b.s + a, z);
	b.s[z] = '\0';
	return b.s;
}
