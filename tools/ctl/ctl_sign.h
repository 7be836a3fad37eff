/*
 * ctl_sign.h — redsink-ctl signs every change of an order (issue 14,
 * doc/signing.md): the signing step shared by every write command, the
 * manifests as stored, and the trusted keys of `verify`, `order show` and
 * `receipts`.
 *
 * Signing on write. Every command that changes an order follows one
 * pattern (ctl_cmd_write.c): WATCH the order, load it (ctl_order_load), then
 * one MULTI/EXEC with the data changes and their `changes` entries, queued
 * through ctl_queue_change* (redsink-ctl.c). The signing step hooks those
 * three places once, so no command signs by itself:
 *
 *  - ctl_order_load of a write command (x->writing, set by
 *    ctl_dataset_ensure) calls ctl_sign_prepare: WATCH manifest:<id>,
 *    order:<id>:domains and order:<id>:ips, read manifest:<id> and check it:
 *    it must be signed by our key or by a key of --trusted FILE (a rotation,
 *    said with a warning), not revoked there, and verify; order:<id>'s
 *    fields and state must be the manifest's. An order that exists without
 *    a manifest is refused with a key (re-anchored from its last op=signed
 *    entry in the stream, or at version 1, only with
 *    --resign-current-state); without a key, it is a signed order when the
 *    stream holds a signed version of it (read at its first change, on the
 *    second connection). The private key (--sign-key FILE or
 *    $REDSINK_SIGN_KEY) and --trusted FILE are loaded here, once.
 *  - every queued entry is noted (ctl_sign_note): its op and item go into
 *    the order's next version. The sets themselves are read then, at the
 *    first change of the order, on a second connection (the main one is
 *    inside MULTI): the WATCH above makes EXEC fail if they change
 *    meanwhile, so what was read is what the transaction changes. Every
 *    member must be canonical (exit 5 otherwise) and the sets' digests must
 *    be the manifest's (exit 3 otherwise). Any difference from the manifest
 *    is signed only with --resign-current-state, recorded as `override
 *    resign-current-state` in the op=signed entry. A version
 *    holds at most RS_MANIFEST_DELTA_MAX delta lines: when one is full it is
 *    signed at once, so its `op=signed` entry follows its own entries in the
 *    stream; ctl_sign_room tells ctl_queue_changes_field where to cut.
 *  - ctl_tx_exec calls ctl_sign_before_exec (struct ctl_conn's before_exec)
 *    right before EXEC: the last version of each changed order is built,
 *    signed and queued (HSET manifest:<id> text sig key, then XADD changes
 *    op=signed order text sig key); their replies are not shown to the
 *    command. A failure of the signing step (a refusal, Redis, a manifest
 *    that cannot be built) discards the whole transaction: nothing written.
 *
 * Without a key, an order that has a manifest is refused (exit 3) unless
 * --unsigned: then its entries record `override` "unsigned" and the
 * manifest stays as it was (resolvers in signed mode keep its last signed
 * state). Orders never signed are written exactly as before.
 *
 * Ownership: the signer belongs to struct ctl (x->sign), freed by
 * ctl_sign_free at exit. Single-threaded.
 */
#ifndef CTL_SIGN_H
#define CTL_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

struct ctl;
struct ctl_tx;
struct ctl_order;

/* ---- signing on write ---- */

/* Prepare order o (just loaded by a write command) for its signed change.
 * 0, or the exit code after printing why (key unreadable or unsafe,
 * manifest unreadable or not verifying with our key, Redis). */
int ctl_sign_prepare(struct ctl *x, const struct ctl_order *o);

/*
 * Prepare the protected set (protected, protected-ips) for a signed change:
 * a protect command calls it after its own WATCH and before MULTI. WATCH
 * protected-manifest and both sets, read protected-manifest and check it as
 * an order's (signed by our key or by a protect-key of --trusted FILE, not
 * revoked, verifying). Its protect/unprotect/protectip/unprotectip entries
 * (order "") are then noted like an order's changes and signed as the next
 * version of the protected set's manifest (RS_PROTECTED_ID; stored as
 * protected-manifest, stream entry op=signed-protected). Without a key, a
 * signed protected set is refused (exit 3) unless --unsigned. 0, or the exit
 * code after printing why.
 */
int ctl_sign_prepare_protected(struct ctl *x);

/*
 * May a write command trust the protected names (the members of `protected`,
 * read by the caller) for its safety check? With a key in use and a signed
 * protected set, only when protected-manifest is sound (as for
 * ctl_sign_prepare_protected: signed by this key or a protect-key of
 * --trusted FILE, not revoked, verifying) and the names' set digest and
 * count are its own; else why says what is wrong and the names are
 * unverified (someone with Redis write access may have added them). Without
 * a key, or never signed: trusted, why "". 0, or the exit code after
 * printing why (Redis, the key).
 */
int ctl_sign_protected_trust(struct ctl *x, char *const *names, size_t n, char *why, size_t whylen);
/* Delta lines the current version of order may still take (>= 1), or
 * SIZE_MAX when its changes are not signed. */
size_t ctl_sign_room(struct ctl *x, const char *order);

/*
 * Note entries just queued on t: op for order with the items values[0..n)
 * (domains or prefixes; none for `order` / `revoke`), and for `order` the
 * entry's extra pairs (new.FIELD values). Orders "" (protected lists) are not
 * signed. Failures are kept and make ctl_sign_before_exec discard t.
 */
void ctl_sign_note(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *const *values,
		   size_t n, const char *const *extra, size_t nextra);

/* The `override` field of order's entries: override itself, or with
 * "unsigned" added when a signed order is written without a key
 * (--unsigned). buf: 64 octets at least. */
const char *ctl_sign_override(struct ctl *x, const char *order, const char *override, char *buf, size_t len);

/* struct ctl_conn's before_exec (arg: the struct ctl). 0, or a negative
 * code with t->x->exit and t->x->err set. */
int ctl_sign_before_exec(struct ctl_tx *t, void *arg);

void ctl_sign_free(struct ctl *x);

/* ---- manifests as stored ---- */

struct ctl_manifest {
	bool present;          /* manifest:<id> exists */
	char *text, *sig, *key; /* as stored ("" when a field is missing) */
	size_t len;            /* of text */
	struct rs_manifest *m; /* parsed, or NULL (err says why) */
	char err[400];
};

/* Read manifest:<id> (HGETALL). 0, or the exit code after printing the failure. */
int ctl_manifest_read(struct ctl *x, const char *id, struct ctl_manifest *mf);
/* Read protected-manifest (the protected set's, doc/signing.md). As ctl_manifest_read. */
int ctl_protected_manifest_read(struct ctl *x, struct ctl_manifest *mf);
/* The same from values already at hand (an export); copies them. */
void ctl_manifest_set(struct ctl_manifest *mf, const char *text, size_t len, const char *sig, const char *key);
void ctl_manifest_clear(struct ctl_manifest *mf);

/* ---- trusted keys (verify, order show, receipts) ---- */

struct ctl_trust {
	struct rs_pubkey *keys; /* label set ("" for --key without one); roles: trusted-key (orders),
				 * protect-key (the protected set), both for --key */
	size_t n;
	char (*revoked)[RS_KEYID_LEN + 1];
	size_t nrevoked;
};

/* Read the trusted-key: and revoked-key: lines of a file in redsink.conf
 * syntax (other directives ignored). 0, or the exit code after printing why. */
int ctl_trust_load(struct ctl_trust *t, const char *path);
/* Add "ed25519:B64" or "LABEL=ed25519:B64". 0 or RS_EINVAL with why in err. */
int ctl_trust_add(struct ctl_trust *t, const char *text, char *err, size_t errlen);
/* The trusted key with this id, or NULL. */
const struct rs_pubkey *ctl_trust_find(const struct ctl_trust *t, const char *keyid);
bool ctl_trust_revoked(const struct ctl_trust *t, const char *keyid);
void ctl_trust_free(struct ctl_trust *t);

/*
 * The signer of a manifest for people: "KEYID (LABEL)" when t knows the key,
 * "KEYID (unknown key)" / "(revoked key)" when t has keys and this one is not
 * trusted, else "KEYID". buf: 128 octets.
 */
const char *ctl_signer_text(const struct ctl_trust *t, const char *keyid, char *buf, size_t len);

/* ---- showing who signed (order show, export, receipts) ---- */

/*
 * JSON members for an order's object, each starting with ',':
 * "signature": {"version", "key", "label", "signed_at", "verified"} or null
 * (verified: true/false when tr has keys, else null), and with_manifest
 * "manifest": {"text", "sig", "key"} or null (what `verify --from-export`
 * checks). malloc'ed.
 */
char *ctl_sign_json(const struct ctl_manifest *mf, const struct ctl_trust *tr, bool with_manifest);
/* "version 3 by KEYID (LABEL) at 2026-...Z", "version 3 ...: does not verify (...)", or "no (unsigned)". */
const char *ctl_sign_line(const struct ctl_manifest *mf, const struct ctl_trust *tr, char *buf, size_t len);

/* ---- the command ---- */

int cmd_verify(struct ctl *x, int argc, char **argv);

#endif
