/*
 * sign_key.h — the signing side of signed orders (issue 14, doc/signing.md):
 * Ed25519 private keys, for the tools only (libtoolcore; the module never
 * links this file and never sees a private key).
 *
 * A private key lives in a PEM PKCS#8 file ("-----BEGIN PRIVATE KEY-----",
 * what `openssl genpkey -algorithm ed25519` writes too), written by
 * rs_privkey_write: a new file (O_EXCL: never overwritten), mode 0600. It is
 * loaded only from a regular file that neither group nor others can access
 * (mode & 077 == 0, the rule of the tools' credential files, lib/cli.c),
 * never from the command line or the environment.
 *
 * A struct rs_privkey belongs to its caller; rs_privkey_free wipes it.
 */
#ifndef RS_SIGN_KEY_H
#define RS_SIGN_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "sign.h"

struct rs_privkey; /* opaque (an OpenSSL EVP_PKEY) */

/* A new random Ed25519 key. 0, or RS_ENOMEM with why in err. */
int rs_privkey_generate(struct rs_privkey **out, char *err, size_t errlen);

/*
 * Write k as PEM PKCS#8 to a NEW file path (O_CREAT|O_EXCL, mode 0600, then
 * fsync). label (NULL: none) is written as a comment line before the PEM
 * block ("# redsink signing key: LABEL", then "# key id: ID"): PEM readers
 * skip it. 0; RS_EEXIST when path exists (nothing written); RS_EIO with why
 * in err (the partial file is removed); RS_EINVAL for a bad label.
 */
int rs_privkey_write(const struct rs_privkey *k, const char *path, const char *label, char *err, size_t errlen);

/*
 * Load an Ed25519 private key from path. 0;
 * RS_EIO: cannot open or read it ("signing key FILE: No such file or directory");
 * RS_EPERM: not a regular file, or group or others may access it ("signing key
 *   FILE can be read by other users: refused (chmod 600 FILE)");
 * RS_EINVAL: not a PEM Ed25519 private key ("signing key FILE: not a PEM
 *   Ed25519 private key (PKCS#8)"); RS_ENOMEM.
 */
int rs_privkey_load(const char *path, struct rs_privkey **out, char *err, size_t errlen);

/* Wipe and free (NULL allowed). */
void rs_privkey_free(struct rs_privkey *k);

/* The public key of k (raw and id; label ""). */
void rs_privkey_public(const struct rs_privkey *k, struct rs_pubkey *pub);

/* Make a key from the 32-octet RFC 8032 secret (seed) — for tests and
 * known-answer checks. 0 or RS_EINVAL/RS_ENOMEM. */
int rs_privkey_from_seed(const uint8_t seed[32], struct rs_privkey **out);

/*
 * The keys of a redsink.conf-syntax file (tools: `redsink-ctl --trusted`,
 * `verify --trusted`, `redsink-warnd --trusted`): its `trusted-key:` lines
 * (role RS_KEY_ORDERS), `protect-key:` lines (RS_KEY_PROTECT; the same key
 * under the same label in both holds both roles) and `revoked-key:` lines;
 * other lines are ignored. Values as redsink.conf has them (a comment cut,
 * double quotes removed). Appended to *keys / *revoked (realloc'd; the
 * caller frees them, also on failure). 0; RS_EIO ("FILE: why"); RS_EINVAL
 * ("FILE:LINE: trusted-key: why"); RS_ENOMEM.
 */
int rs_trust_file_load(const char *path, struct rs_pubkey **keys, size_t *nkeys, char (**revoked)[RS_KEYID_LEN + 1],
		       size_t *nrevoked, char *err, size_t errlen);

/* Sign msg with k: the base64 signature (RS_SIG_B64_LEN characters + NUL).
 * 0, or RS_ENOMEM when libcrypto fails. Ed25519 is deterministic: the same
 * key and message give the same signature. */
int rs_sign(const struct rs_privkey *k, const void *msg, size_t len, char out_b64[RS_SIG_B64_LEN + 1]);

#endif
