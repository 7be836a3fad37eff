/* prefix.c — parsing, formatting and comparing address prefixes (see prefix.h). */
#include "prefix.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rs_err.h"

/* The input quoted for a message: at most 60 octets, non-printables as '?'. */
static void quote(const char *s, char *q, size_t qlen)
{
	size_t i = 0;

	for (; s[i] && i < 60 && i + 1 < qlen; i++)
		q[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	q[i] = '\0';
	if (s[i] && qlen > 64)
		strcat(q, "...");
}

static int fail(const char *s, struct rs_prefix *p, char *err, size_t errlen, const char *why)
{
	char q[64 + 4];

	memset(p, 0, sizeof(*p));
	if (err && errlen) {
		quote(s, q, sizeof(q));
		snprintf(err, errlen, "'%s': %s", q, why);
	}
	return RS_EINVAL;
}

/* Dotted-decimal parts (s[0..n)) without leading zeros: "010" is octal to
 * some parsers (inet_aton), so it is refused rather than guessed. */
static bool dotted_leading_zero(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '0' && (i == 0 || s[i - 1] == '.') && s[i + 1] >= '0' && s[i + 1] <= '9')
			return true;
	return false;
}

int rs_prefix_parse(const char *s, struct rs_prefix *p, char *err, size_t errlen)
{
	char addr[RS_PREFIX_TEXT_MAX];
	const char *slash;
	size_t alen, n;
	unsigned len, max;
	uint8_t bin[16];

	if (!s || !*s)
		return fail(s ? s : "", p, err, errlen, "empty prefix");
	n = strnlen(s, RS_PREFIX_TEXT_MAX);
	if (n >= RS_PREFIX_TEXT_MAX)
		return fail(s, p, err, errlen, "too long for a prefix");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
			return fail(s, p, err, errlen, "spaces are not allowed");
		if (c == '%')
			return fail(s, p, err, errlen, "zone ids are not allowed");
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
		      c == '.' || c == '/'))
			return fail(s, p, err, errlen, "not an IPv4 or IPv6 prefix");
	}
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : n;
	if (alen == 0)
		return fail(s, p, err, errlen, "missing address");
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(p, 0, sizeof(*p));
	if (memchr(addr, ':', alen)) {
		const char *tail = strrchr(addr, ':') + 1; /* where a dotted IPv4 part would be */

		p->family = 6;
		max = 128;
		if (strchr(tail, '.') && dotted_leading_zero(tail, strlen(tail)))
			return fail(s, p, err, errlen, "leading zero in the IPv4 part");
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return fail(s, p, err, errlen, "not an IPv6 address");
		memcpy(p->addr, bin, 16);
	} else {
		p->family = 4;
		max = 32;
		if (dotted_leading_zero(addr, alen))
			return fail(s, p, err, errlen, "leading zero in an IPv4 address part");
		if (inet_pton(AF_INET, addr, bin) != 1)
			return fail(s, p, err, errlen, "not an IPv4 address");
		memcpy(p->addr, bin, 4);
	}
	len = max;
	if (slash) {
		const char *d = slash + 1;
		size_t dl = strlen(d);
		if (dl == 0)
			return fail(s, p, err, errlen, "missing prefix length after '/'");
		if (dl > 3 || strspn(d, "0123456789") != dl)
			return fail(s, p, err, errlen, "the prefix length is not a decimal number");
		if (dl > 1 && d[0] == '0')
			return fail(s, p, err, errlen, "leading zero in the prefix length");
		len = 0;
		for (size_t i = 0; i < dl; i++)
			len = len * 10 + (unsigned)(d[i] - '0');
		if (len > max)
			return fail(s, p, err, errlen, max == 32 ? "prefix length over 32" : "prefix length over 128");
	}
	p->len = (uint8_t)len;
	if (!rs_prefix_valid(p))
		return fail(s, p, err, errlen, "host bits set");
	return 0;
}

/* Are the bits of a[0..16) from bit `from` on all zero (below `to`)? */
static bool zero_from(const uint8_t *a, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to;) {
		if (i % 8 == 0 && i + 8 <= to) {
			if (a[i / 8])
				return false;
			i += 8;
			continue;
		}
		if (a[i / 8] & (0x80u >> (i % 8)))
			return false;
		i++;
	}
	return true;
}

bool rs_prefix_valid(const struct rs_prefix *p)
{
	if (p->family == 4)
		return p->len <= 32 && zero_from(p->addr, p->len, 128);
	if (p->family == 6)
		return p->len <= 128 && zero_from(p->addr, p->len, 128);
	return false;
}

size_t rs_prefix_format(const struct rs_prefix *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN], t[RS_PREFIX_TEXT_MAX];
	int w;

	if (!rs_prefix_valid(p) || !inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a))) {
		if (n)
			buf[0] = '\0';
		return 0;
	}
	w = snprintf(t, sizeof(t), "%s/%u", a, (unsigned)p->len);
	if (n)
		snprintf(buf, n, "%s", t);
	return (size_t)w;
}

/* Do the first bits of a and b agree? */
static bool same_bits(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool rs_prefix_contains(const struct rs_prefix *outer, const struct rs_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       same_bits(outer->addr, inner->addr, outer->len);
}

bool rs_prefix_overlaps(const struct rs_prefix *a, const struct rs_prefix *b)
{
	return rs_prefix_contains(a, b) || rs_prefix_contains(b, a);
}

bool rs_prefix_has_addr(const struct rs_prefix *p, int family, const uint8_t *addr)
{
	return (family == 4 || family == 6) && p->family == family && same_bits(p->addr, addr, p->len);
}

bool rs_prefix_equal(const struct rs_prefix *a, const struct rs_prefix *b)
{
	return a->family == b->family && a->len == b->len && memcmp(a->addr, b->addr, 16) == 0;
}
