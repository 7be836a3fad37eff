/*
 * mkgeo_parse.c — one line of redsink-mkgeo's address plan into a network,
 * a country and a subdivision, or the reason it is refused (the messages of
 * redsink-mkgeo(1), ERRORS). See mkgeo_parse.h for the format.
 *
 * Field splitting follows what the first (Perl) redsink-mkgeo did, so that
 * the same plans are accepted: the comment is cut at the first '#', the line
 * and each field are trimmed of ASCII white space, and empty fields at the
 * end of the line do not count ("10.0.0.0/8,IT," is two fields). Addresses
 * go through inet_pton(3) and back through inet_ntop(3), so "::10.0.0.0",
 * leading zeros and other spellings are judged by the C library, as before.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mkgeo_parse.h"
#include "rs_err.h"

#define FIELDS_MAX 4 /* one more than allowed, to see that there are too many */
#define ADDR_TEXT_MAX 64

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_space((*s)[*len - 1]))
		(*len)--;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Append s[0..len) to dst (size dstlen, NUL-terminated), control octets as \xNN. */
static void put_shown(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t at = strlen(dst);

	for (size_t i = 0; i < len && at + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			if (at + 5 > dstlen)
				break;
			snprintf(dst + at, dstlen - at, "\\x%02x", c);
			at += 4;
		} else {
			dst[at++] = (char)c;
		}
	}
	dst[at] = '\0';
}

/*
 * why = fmt with each "%s" replaced by the next (pointer, length) pair,
 * shown escaped; "%d" takes an int. Only what the messages below need.
 */
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	size_t at;

	if (!why || whylen == 0)
		return RS_EINVAL;
	why[0] = '\0';
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		at = strlen(why);
		if (p[0] == '%' && p[1] == 's') {
			const char *s = va_arg(ap, const char *);
			size_t n = va_arg(ap, size_t);

			put_shown(why, whylen, s, n);
			p++;
		} else if (p[0] == '%' && p[1] == 'd') {
			snprintf(why + at, whylen - at, "%d", va_arg(ap, int));
			p++;
		} else if (at + 1 < whylen) {
			why[at] = *p;
			why[at + 1] = '\0';
		}
	}
	va_end(ap);
	return RS_EINVAL;
}

int mkgeo_parse_network(const char *text, size_t len, struct mkgeo_net *n, char *why, size_t whylen)
{
	char addr[ADDR_TEXT_MAX];
	uint8_t packed[16], net[16];
	size_t alen = 0, nlen;
	bool v6 = false;
	unsigned bits, plen;
	int af;

	/* ^([0-9A-Fa-f:.]+)(?:/(\d{1,3}))?$ */
	while (alen < len && (strchr("0123456789abcdefABCDEF:.", text[alen]) && text[alen] != '\0'))
		alen++;
	nlen = len - alen;
	if (alen == 0 || (nlen > 0 && (text[alen] != '/' || nlen < 2 || nlen > 4)))
		goto not_network;
	for (size_t i = alen + 1; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			goto not_network;
	v6 = memchr(text, ':', alen) != NULL;
	af = v6 ? AF_INET6 : AF_INET;
	bits = v6 ? 128 : 32;
	if (alen >= sizeof(addr) || (memcpy(addr, text, alen), addr[alen] = '\0', inet_pton(af, addr, packed) != 1))
		return fail(why, whylen, v6 ? "'%s': '%s' is not an IPv6 address" : "'%s': '%s' is not an IPv4 address",
			    text, len, text, alen);
	plen = bits;
	if (nlen > 0) {
		plen = 0;
		for (size_t i = alen + 1; i < len; i++)
			plen = plen * 10 + (unsigned)(text[i] - '0');
	}
	if (plen > bits)
		return fail(why, whylen, "'%s': the prefix length must be 0 to %d", text, len, (int)bits);
	memset(net, 0, sizeof(net));
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;

		net[i] = (uint8_t)(packed[i] & (uint8_t)(0xff00u >> keep));
	}
	if (!inet_ntop(af, net, addr, sizeof(addr)))
		return fail(why, whylen, "'%s' is not an IP network (address/length)", text, len);
	snprintf(n->canon, sizeof(n->canon), "%s/%u", addr, plen);
	if (memcmp(net, packed, bits / 8) != 0)
		return fail(why, whylen, "'%s' has host bits set (the network is %s)", text, len, n->canon,
			    strlen(n->canon));
	memset(n->key, 0, sizeof(n->key));
	memcpy(n->key + (v6 ? 0 : 12), net, bits / 8);
	n->depth = v6 ? plen : 96 + plen;
	return 0;

not_network:
	return fail(why, whylen, "'%s' is not an IP network (address/length)", text, len);
}

int mkgeo_parse_line(const char *line, size_t len, struct mkgeo_net *n, char *why, size_t whylen)
{
	const char *f[FIELDS_MAX];
	size_t fl[FIELDS_MAX];
	size_t nf = 0, start = 0;
	const char *hash = memchr(line, '#', len);
	const char *cc, *sub;
	size_t sublen;
	int rc;

	if (why && whylen)
		why[0] = '\0';
	memset(n, 0, sizeof(*n));
	if (hash)
		len = (size_t)(hash - line);
	trim(&line, &len);
	if (len == 0)
		return MKGEO_LINE_SKIP;
	/* /^network\b/i: "network" not followed by a word character */
	if (len >= 7 && strncasecmp(line, "network", 7) == 0 &&
	    (len == 7 || !(line[7] == '_' || (line[7] >= '0' && line[7] <= '9') ||
			   (upper(line[7]) >= 'A' && upper(line[7]) <= 'Z'))))
		return MKGEO_LINE_SKIP;

	/* empty fields at the end do not count (Perl's split): drop trailing commas */
	while (len > 0 && line[len - 1] == ',')
		len--;
	/* split on ',' (at most FIELDS_MAX kept: more is an error anyway) */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ',')
			continue;
		if (nf < FIELDS_MAX) {
			f[nf] = line + start;
			fl[nf] = i - start;
		}
		nf++;
		start = i + 1;
	}
	if (len == 0)
		nf = 0;
	if (nf > 3 || nf < 2)
		return fail(why, whylen, "want network,country[,subdivision]");
	for (size_t i = 0; i < nf; i++)
		trim(&f[i], &fl[i]);

	rc = mkgeo_parse_network(f[0], fl[0], n, why, whylen);
	if (rc < 0)
		return rc;

	cc = f[1];
	if (fl[1] != 2 || upper(cc[0]) < 'A' || upper(cc[0]) > 'Z' || upper(cc[1]) < 'A' || upper(cc[1]) > 'Z')
		return fail(why, whylen, "'%s' is not an ISO 3166-1 alpha-2 code", cc, fl[1]);
	n->cc[0] = upper(cc[0]);
	n->cc[1] = upper(cc[1]);
	n->cc[2] = '\0';

	if (nf == 3 && fl[2] > 0) {
		char up[MKGEO_WHY_MAX];
		size_t k = 0;

		sub = f[2];
		sublen = fl[2];
		/* uc, then without "CC-" */
		if (sublen >= 3 && upper(sub[0]) == n->cc[0] && upper(sub[1]) == n->cc[1] && sub[2] == '-') {
			sub += 3;
			sublen -= 3;
		}
		for (size_t i = 0; i < sublen && k + 1 < sizeof(up); i++)
			up[k++] = upper(sub[i]);
		if (sublen < 1 || sublen > 3)
			goto bad_sub;
		for (size_t i = 0; i < sublen; i++)
			if (!((up[i] >= 'A' && up[i] <= 'Z') || (up[i] >= '0' && up[i] <= '9')))
				goto bad_sub;
		memcpy(n->sub, up, sublen);
		n->sub[sublen] = '\0';
		snprintf(n->data, sizeof(n->data), "%s-%s", n->cc, n->sub);
		return MKGEO_LINE_NET;
bad_sub:
		return fail(why, whylen, "'%s' is not an ISO 3166-2 subdivision of %s", up, k, n->cc, (size_t)2);
	}
	snprintf(n->data, sizeof(n->data), "%s", n->cc);
	return MKGEO_LINE_NET;
}
