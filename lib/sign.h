/*
 * sign.h — the verifying side of signed orders (issue 14, doc/signing.md):
 * Ed25519 public keys and signatures, SHA-256, the set digest of an order's
 * names or prefixes, and the manifest: the canonical text an authority signs
 * for each version of an order.
 *
 * Crypto is OpenSSL 3 libcrypto (EVP; Unbound links the same library, so the
 * module adds no dependency). Nothing here holds a private key: signing lives
 * in the tools (lib/sign_key.h, libtoolcore).
 *
 * Keys: Ed25519. The key id is the first 8 octets of SHA-256 of the raw
 * 32-octet public key, as 16 lowercase hex digits. The public key text is
 * "ed25519:" followed by the standard base64 (with padding, 44 characters) of
 * the 32 raw octets. A signature is the standard base64 of the 64 octets
 * (88 characters). Base64 is parsed strictly: exactly that length, the
 * standard alphabet, the padding, and zero unused bits (one text per value).
 *
 * The manifest text (UTF-8, every line ends in "\n", fixed order):
 *
 *   redsink-manifest 1
 *   order <id>                       rs_order_id_ok
 *   version <n>                      decimal 1.., no leading zero
 *   prev <64 hex>|-                  SHA-256 of version n-1's text; "-" iff n == 1
 *   key <keyid>                      16 lowercase hex
 *   signed-at <YYYY-MM-DDTHH:MM:SSZ> RFC 3339 UTC, seconds
 *   state active|revoked
 *   field <name> <value>             0..10 lines, names in RS_MANIFEST_FIELDS order,
 *                                    each at most once, value not empty, escaped:
 *                                    '\\' -> "\\\\", LF -> "\\n", other C0 and
 *                                    DEL -> "\\xHH" (lowercase hex); nothing else
 *                                    escaped; valid UTF-8
 *   names <count> <64 hex>           set digest of order:<id>:domains
 *   prefixes <count> <64 hex>        set digest of order:<id>:ips
 *   delta <count>                    0..RS_MANIFEST_DELTA_MAX
 *   + <domain>                       the delta lines, grouped in this order:
 *   - <domain>                       "+ ", "- ", "+ip ", "-ip ", each group
 *   +ip <prefix>                     sorted by item (byte order), no duplicate;
 *   -ip <prefix>                     an item is never both added and deleted
 *
 * Domains are canonical (rs_name_canon gives them back unchanged), prefixes
 * too (rs_prefix_parse then rs_prefix_format gives them back unchanged).
 * Lowercase hex everywhere. Nothing else: no empty line, no CR, no trailing
 * text. The parser accepts exactly the texts the builder writes, so
 * rs_manifest_build(rs_manifest_parse(t)) == t octet for octet.
 *
 * Set digest: SHA-256 of the concatenation, in ascending byte order, of
 * SHA-256(member canonical text) of every member (32 octets each); the empty
 * set's digest is SHA-256 of the empty string.
 *
 * Threads: every function is reentrant; a struct rs_manifest or rs_setdigest
 * belongs to its caller (one thread at a time).
 */
#ifndef RS_SIGN_H
#define RS_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_KEYID_LEN 16
#define RS_SIG_B64_LEN 88
#define RS_PUBKEY_TEXT_LEN (8 + 44) /* "ed25519:" + base64 of 32 octets */
#define RS_KEY_LABEL_MAX 64         /* 1-64 of [A-Za-z0-9._-] (rs_key_label_ok) */
#define RS_MANIFEST_MAX (64 * 1024 + 10000 * 300) /* bound on a manifest text */
#define RS_MANIFEST_DELTA_MAX 10000 /* delta lines of one version */
#define RS_MANIFEST_VALUE_MAX 16384 /* a field's escaped value, octets */
#define RS_MANIFEST_NFIELDS 10

/* The order fields a manifest may carry, in manifest order. */
extern const char *const rs_manifest_fields[RS_MANIFEST_NFIELDS];
/* "authority reference issued expires scope action reason url lang windows" */

struct rs_pubkey {
	uint8_t raw[32];
	char id[RS_KEYID_LEN + 1];
	char label[65]; /* the authority's label from the config ("" when none) */
	uint8_t roles;  /* what the config trusts it for: RS_KEY_ORDERS, RS_KEY_PROTECT; 0 (rs_pubkey_parse's)
			 * counts as RS_KEY_ORDERS (rs_key_roles) */
	struct evp_pkey_st *pkey; /* the OpenSSL key object (EVP_PKEY) of raw, built once by
				   * rs_pubkey_prepare (the config's keys: rs_conf_free releases
				   * them); NULL: rs_sig_verify builds a temporary one per call.
				   * A copy of the struct shares it: only its owner releases it */
};

/* Build k->pkey from k->raw (a configured key: once, at config load), so that
 * rs_sig_verify does not build an EVP_PKEY per signature. Read-only after
 * that: several threads may verify with it at once (rs_sig_verify). 0, or
 * RS_ENOMEM (k->pkey stays NULL: verifying still works, slower). */
int rs_pubkey_prepare(struct rs_pubkey *k);
/* Free k->pkey (NULL allowed) and set it NULL. */
void rs_pubkey_release(struct rs_pubkey *k);

/* Key roles (redsink.conf): trusted-key signs orders, protect-key the protected set. */
#define RS_KEY_ORDERS 0x01
#define RS_KEY_PROTECT 0x02
static inline uint8_t rs_key_roles(const struct rs_pubkey *k)
{
	return k->roles ? k->roles : RS_KEY_ORDERS;
}

/* The order id of the protected set's manifest (doc/signing.md, "The signed
 * protected set"): its text has "order protected", no field line and its
 * delta lines protect (+, +ip) and unprotect (-, -ip). Stored in Redis as the
 * hash protected-manifest, never as manifest:<id>, so it cannot be taken for
 * an order's (nor an order's for it: an order has fields). */
#define RS_PROTECTED_ID "protected"

/* Parse "ed25519:<b64>" (exactly RS_PUBKEY_TEXT_LEN octets, strict base64)
 * into k (raw and id set, label ""). 0, or RS_EINVAL with why in err. */
int rs_pubkey_parse(const char *text, struct rs_pubkey *k, char *err, size_t errlen);

/* "ed25519:<b64>" of k into buf (n >= RS_PUBKEY_TEXT_LEN + 1, else cut like snprintf). */
void rs_pubkey_format(const struct rs_pubkey *k, char *buf, size_t n);

/* The key id of a raw public key: 16 lowercase hex digits + NUL. */
void rs_keyid(const uint8_t raw[32], char out[RS_KEYID_LEN + 1]);

/* Is s a key id (exactly 16 lowercase hex digits)? */
bool rs_keyid_ok(const char *s);

/* Is s an authority label: 1-64 of [A-Za-z0-9._-]? */
bool rs_key_label_ok(const char *s);

/* Verify an Ed25519 signature (base64 text) over msg. 0 ok, RS_EINVAL bad/invalid. */
int rs_sig_verify(const struct rs_pubkey *k, const void *msg, size_t len, const char *sig_b64);

/* SHA-256 of msg as 64 lowercase hex digits + NUL. */
void rs_sha256_hex(const void *msg, size_t len, char out[65]);
/* SHA-256 of msg, 32 octets. 0 or RS_ENOMEM (libcrypto failed). */
int rs_sha256(const void *msg, size_t len, uint8_t out[32]);

/* Set digest: feed members (canonical text) in any order, then finish (sorts the member hashes). */
struct rs_setdigest; /* opaque */
/* NULL when out of memory. */
struct rs_setdigest *rs_setdigest_new(void);
/* 0 or RS_ENOMEM (d stays usable: finish or free it). */
int rs_setdigest_add(struct rs_setdigest *d, const char *member, size_t len);
/* The digest (64 hex + NUL) and the number of members added; frees d.
 * A member added twice counts twice (the caller feeds a set). */
void rs_setdigest_finish(struct rs_setdigest *d, char hex[65], size_t *count);
/* Free d without a result (NULL allowed). */
void rs_setdigest_free(struct rs_setdigest *d);

/* Delta line operations, in their canonical order. */
enum { RS_D_ADD = 0, RS_D_DEL = 1, RS_D_ADDIP = 2, RS_D_DELIP = 3 };

struct rs_delta {
	uint8_t op; /* RS_D_ADD, RS_D_DEL, RS_D_ADDIP, RS_D_DELIP */
	const char *item;
};

/*
 * Parsed manifest (points into a copy it owns).
 * From rs_manifest_parse: text is an exact copy of the input (NUL added at
 * text[len]), field_name[i] point to rs_manifest_fields' strings (compare
 * pointers or strcmp), field_value[i] and the delta items point into one
 * buffer the manifest owns (never free them one by one); free everything
 * with rs_manifest_free.
 * For rs_manifest_build the caller fills the struct with its own pointers
 * (text and len are ignored) and frees them itself.
 */
struct rs_manifest {
	char *text;
	size_t len; /* owned copy */
	char order[129];
	uint64_t version;
	char prev[65]; /* 64 hex, or "-" for version 1 */
	char key[RS_KEYID_LEN + 1];
	int64_t signed_at; /* Unix seconds */
	bool revoked;
	size_t nfields;
	const char *field_name[16];
	char *field_value[16]; /* unescaped, owned */
	size_t names, prefixes;
	char names_digest[65], prefixes_digest[65];
	size_t ndelta;
	struct rs_delta *delta;
};

/* Parse strictly (every line, order, escapes, bounds: RS_MANIFEST_MAX, counts, canonical delta sorting).
 * 0, or RS_EINVAL with "manifest of order 'x': line 7: ..." in err ("manifest: line 1: ..."
 * before the order line), or RS_ENOMEM. */
int rs_manifest_parse(const char *text, size_t len, struct rs_manifest **out, char *err, size_t errlen);
/* NULL allowed. Only for what rs_manifest_parse made. */
void rs_manifest_free(struct rs_manifest *m);

/*
 * Build the canonical text (the signer's side); returns malloc'd text (NUL
 * terminated, *len octets without the NUL) or NULL. The builder puts the
 * fields in RS_MANIFEST_FIELDS order and sorts the delta lines itself (the
 * caller's arrays are not changed); it leaves out fields whose value is NULL
 * or "". It returns NULL (never a text the parser would refuse) for anything
 * else that is not canonical: unknown or repeated field, bad order id, key id,
 * prev, digest, version, signed_at outside 1970-9999, invalid UTF-8, a
 * non-canonical domain or prefix, a duplicate delta item, more than
 * RS_MANIFEST_DELTA_MAX delta lines, a text over RS_MANIFEST_MAX.
 */
char *rs_manifest_build(const struct rs_manifest *m, size_t *len);
/* The same, with the reason for NULL in err. */
char *rs_manifest_build_err(const struct rs_manifest *m, size_t *len, char *err, size_t errlen);

/* Strict standard base64 (padding required, no whitespace, zero unused bits).
 * rs_b64_decode: exactly outlen octets must result, else RS_EINVAL.
 * rs_b64_encode writes 4 * ceil(len / 3) characters and a NUL into out. */
int rs_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);
void rs_b64_encode(const uint8_t *in, size_t len, char *out);

#endif
