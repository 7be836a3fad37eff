/*
 * name.h — domain names: canonical text form, wire form, and the per-query
 * preparation that makes matching a name and all its parents cheap.
 *
 * Canonical form (the Redis schema's): lowercase, no trailing dot, labels of
 * 1–63 octets of [a-z0-9-_], 253 octets at most. The list stores names in
 * lowercase wire form (length-prefixed labels, root label included), so a
 * match is label-exact by construction: a label "a.b" (wire \003a.b) never
 * matches the two labels "a" "b".
 *
 * Hashing: a name's hash is FNV-1a over its wire octets taken from the LAST
 * octet backwards, then mixed. Going backwards means one pass over a query name
 * yields the hash of every suffix (every parent domain) at once.
 *
 * All functions are pure and thread-safe; nothing here allocates.
 */
#ifndef RS_NAME_H
#define RS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_NAME_MAX 253   /* canonical text, no trailing dot */
#define RS_WIRE_MAX 255   /* wire form, root label included */
#define RS_LABELS_MAX 128 /* labels in a wire name, root excluded */

/*
 * Canonicalise the text name in[0..len) into out (RS_NAME_MAX+1 bytes, NUL
 * terminated). One trailing dot is accepted; ASCII letters are lowercased.
 * Returns the length of out (>= 1) or a negative RS_ENAME_* code.
 * The root (".") and "" are RS_ENAME_EMPTY: the root can never be listed.
 */
int rs_name_canon(const char *in, size_t len, char *out);

/*
 * Convert a canonical name (as produced by rs_name_canon) to wire form in
 * wire (RS_WIRE_MAX bytes). Returns the wire length (len + 2).
 */
int rs_name_to_wire(const char *canon, size_t len, uint8_t *wire);

/* Hash of a complete lowercase wire name (root label included). */
uint64_t rs_wire_hash(const uint8_t *wire, size_t len);
/* Is wire[0..wlen) exactly the wire form of a canonical name (labels of 1
 * to 63 of a-z 0-9 - _, then the root label; what the list holds)? */
bool rs_wire_canonical(const uint8_t *wire, size_t wlen);

/*
 * A query name prepared for matching: lowercased copy, label offsets and the
 * hash of every suffix. suffix i starts at off[i]; i = 0 is the whole name,
 * i = nlabels - 1 the top-level domain. The root itself is not a suffix.
 */
struct rs_qname {
	uint8_t wire[RS_WIRE_MAX];
	uint16_t len;
	uint16_t nlabels;
	uint8_t off[RS_LABELS_MAX];
	uint64_t hash[RS_LABELS_MAX];
};

/*
 * Prepare the wire name qname (at most maxlen octets available) into q.
 * Rejects (returns a negative code) a name that runs past maxlen, has a label
 * over 63 octets (or a compression pointer), or is longer than 255 octets.
 * Returns the number of labels (0 for the root).
 */
int rs_qname_prepare(const uint8_t *qname, size_t maxlen, struct rs_qname *q);

/*
 * Write wire name as presentation text into out (outsz bytes, NUL terminated,
 * truncated if needed), escaping '.', '\\' and non-printable octets as \DDD.
 * No trailing dot; the root is ".". Returns the text length.
 */
size_t rs_wire_to_text(const uint8_t *wire, size_t len, char *out, size_t outsz);

#endif
