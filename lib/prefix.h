/*
 * prefix.h — IPv4 and IPv6 address prefixes (CIDR), as orders list them and
 * as the protected set holds them (doc/redis-schema.md, "Address prefixes").
 *
 * Text form (what rs_prefix_parse accepts):
 *  - an IPv4 address in dotted-decimal (four parts, each 0-255 without a
 *    leading zero: "010.0.0.1" is refused, it could be read as octal), or an
 *    IPv6 address as inet_pton(3) reads it (hex digits in either case, "::",
 *    a dotted IPv4 tail); then optionally "/" and the length, decimal 0-32
 *    (IPv4) or 0-128 (IPv6) without sign or leading zero ("/08" is refused);
 *    no length means a single address (/32, /128);
 *  - the bits after the length must be zero ("10.0.0.1/8" is refused, never
 *    "repaired" into 10.0.0.0/8: a typo must not block a whole network);
 *  - nothing else: no spaces anywhere, no zone id ("fe80::1%eth0"), at most
 *    RS_PREFIX_TEXT_MAX - 1 octets.
 *  - An IPv4-mapped or -compatible IPv6 prefix ("::ffff:192.0.2.0/120") is
 *    an IPv6 prefix: it holds IPv6 addresses only (an AAAA record), never
 *    the IPv4 address it embeds. The two families never overlap.
 *
 * Canonical text (rs_prefix_format, what Redis holds): the address as
 * inet_ntop(3) writes it (RFC 5952 for IPv6: lowercase, no leading zeros,
 * the longest run of two or more zero groups as "::"), "/" and the length,
 * always. Parsing the canonical text gives the same prefix back.
 *
 * A struct rs_prefix is plain data: any thread, no ownership.
 */
#ifndef RS_PREFIX_H
#define RS_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_PREFIX_TEXT_MAX 50 /* canonical text incl. "/128" and NUL; also the longest input + 1 */

struct rs_prefix {
	uint8_t family;   /* 4 or 6 */
	uint8_t len;      /* 0-32 or 0-128 */
	uint8_t addr[16]; /* network address, host bits zero; IPv4 in addr[0..3], rest zero */
};

/*
 * Parse the text s (rules above) into *p. 0, or RS_EINVAL with the reason in
 * err ("'10.0.0.1/8': host bits set"; the input is quoted cut to 60 octets
 * with non-printable octets shown as '?'). err may be NULL when errlen is 0.
 * *p is zeroed on failure.
 */
int rs_prefix_parse(const char *s, struct rs_prefix *p, char *err, size_t errlen);

/* The canonical text of p (always with "/len") into buf of n octets, cut and
 * NUL-terminated like snprintf when it does not fit (n == 0: nothing written).
 * Returns the length of the whole text (< RS_PREFIX_TEXT_MAX), or 0 when p is
 * not a valid prefix (rs_prefix_valid). */
size_t rs_prefix_format(const struct rs_prefix *p, char *buf, size_t n);

/* Is p well formed: family 4 or 6, len within the family, host bits and the
 * unused octets of an IPv4 prefix zero? (What rs_prefix_parse makes.) */
bool rs_prefix_valid(const struct rs_prefix *p);

/* Does outer hold every address of inner (same family, outer->len <=
 * inner->len, the first outer->len bits equal)? A prefix contains itself. */
bool rs_prefix_contains(const struct rs_prefix *outer, const struct rs_prefix *inner);

/* Do a and b share an address (one contains the other: prefixes are either
 * nested or disjoint)? Never across families. */
bool rs_prefix_overlaps(const struct rs_prefix *a, const struct rs_prefix *b);

/* Is the address addr (4 octets for family 4, 16 for family 6) inside p?
 * false for another family. */
bool rs_prefix_has_addr(const struct rs_prefix *p, int family, const uint8_t *addr);

/* Same prefix (family, length and address)? */
bool rs_prefix_equal(const struct rs_prefix *a, const struct rs_prefix *b);

#endif
