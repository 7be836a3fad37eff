/*
 * load.h — loading the whole list from Redis (schema in doc/redis-schema.md).
 *
 * Synchronous (hiredis blocking API with the configured timeout); used at start
 * and for a full resync. Malformed orders and domains are skipped, counted and
 * logged (the first RS_LOAD_LOG_MAX of each kind per load, then a summary);
 * they never stop the load and never block anything else.
 */
#ifndef RS_LOAD_H
#define RS_LOAD_H

#include <stddef.h>

#include "conf.h"
#include "dataset.h"
#include "list.h"

#define RS_LOAD_LOG_MAX 20
#define RS_STREAM_ID_MAX 48

struct redisContext;
struct redisAsyncContext;
struct redisReply;
struct event_base;

/*
 * Signature alarms (signed mode, doc/signing.md): the orders currently held
 * at their last verified state or refused, each with the reason of its last
 * failure, and the number of failures since start. Owned by the list's
 * writer thread. A failure is logged once per order and reason (while the
 * order stays in alarm); an order verified again leaves the alarm.
 * Reasons: "unsigned", "unknown-key", "revoked-key", "bad-signature",
 * "malformed", "mismatch", "replayed", "broken-chain", "digest", "fork".
 */
struct rs_sigalarm_ent {
	char id[RS_ORDER_ID_MAX + 1];
	char reason[16];
	bool seen; /* raised (again) since rs_sigalarm_begin */
};
/* The verified state of the signed protected set (doc/signing.md): its
 * manifest's version (0: none verified yet), the SHA-256 of its text and its
 * counts. The protected flags of the list are that state. The manifest
 * itself (text, sig) is kept for the snapshot (snapshot.h, version 6), which
 * seeds this state again after a restart: text is owned (rs_protsig_set,
 * rs_protsig_copy, rs_protsig_clear; rs_sigalarm_free clears prot), so a
 * struct copy must go through rs_protsig_copy. */
struct rs_protsig {
	uint64_t version;
	char hash[65]; /* "-" when version is 0 */
	char key[RS_KEYID_LEN + 1];
	size_t names, prefixes;
	char sig[89];  /* the verified manifest's signature (RS_SIG_B64_LEN), "" when none */
	char *text;    /* its text (NUL-terminated, len octets), NULL when none */
	size_t len;
};
struct rs_manifest;
/* ps becomes the verified manifest m (signature sig): version, hash, key,
 * counts, a copy of the text. 0, or RS_ENOMEM (ps unchanged). */
int rs_protsig_set(struct rs_protsig *ps, const struct rs_manifest *m, const char *sig);
/* A deep copy of src into dst (dst's own text is freed first). 0, or
 * RS_ENOMEM (dst cleared). */
int rs_protsig_copy(struct rs_protsig *dst, const struct rs_protsig *src);
/* Free the text and forget everything (version 0). */
void rs_protsig_clear(struct rs_protsig *ps);
struct rs_sigalarm {
	struct rs_sigalarm_ent *v;
	size_t n, cap;
	uint64_t failures; /* counter since start */
	struct rs_protsig prot; /* signed mode: the verified protected set (alarm id RS_PROTECTED_ALARM) */
};
/* The protected set's alarm id: not a valid order id (a leading space), so
 * that no order named "protected" shares it; logged as "the protected set". */
#define RS_PROTECTED_ALARM " protected"

/* Raise (or keep) order id's alarm for reason, count one failure, and log
 * "signature alarm: order 'id': <reason>: <detail>" unless this order is
 * already in alarm for this reason. a may be NULL: only logged. */
void rs_sigalarm_raise(struct rs_sigalarm *a, const char *id, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Order id was verified: it leaves the alarm (logged when it was in one). */
void rs_sigalarm_clear(struct rs_sigalarm *a, const char *id);
/* A full load starts: entries not raised again before rs_sigalarm_end go. */
void rs_sigalarm_begin(struct rs_sigalarm *a);
void rs_sigalarm_end(struct rs_sigalarm *a);
void rs_sigalarm_free(struct rs_sigalarm *a);

/*
 * Signed mode: verify a manifest as found in Redis (manifest:<id>) or in an
 * op=signed stream entry: key id trusted and not revoked, the signature over
 * text, the text parses, its order is id and its key line is key. 0 with *out,
 * or RS_EINVAL with the alarm reason in reason[16] and the detail in why;
 * RS_ENOMEM.
 */
struct rs_manifest;
int rs_manifest_verify(const struct rs_conf *c, const char *id, const char *text, size_t len, const char *sig,
		       const char *key, struct rs_manifest **out, char reason[16], char *why, size_t whylen);

/*
 * Signed mode: verify the protected set's manifest (protected-manifest, or an
 * op=signed-protected stream entry): key id trusted by a protect-key and not
 * revoked, the signature, the text parses, its order line is RS_PROTECTED_ID,
 * it has no field line, its state is active, its key line is key. As
 * rs_manifest_verify.
 */
int rs_protected_verify(const struct rs_conf *c, const char *text, size_t len, const char *sig, const char *key,
			struct rs_manifest **out, char reason[16], char *why, size_t whylen);

/* The order a verified manifest states (its field lines), carrying the
 * manifest (o->sig: text, sig, version, hash, counts). 0, RS_EINVAL (the
 * fields do not make a valid order: why), RS_ENOMEM. */
int rs_order_from_manifest(const struct rs_conf *c, const struct rs_manifest *m, const char *sig,
			   struct rs_order **out, char *why, size_t whylen);

struct rs_load_stats {
	size_t orders, domains, protected_n;
	size_t prefixes, protected_prefixes; /* prefixes listed (per order), protected prefixes */
	size_t bad_orders, bad_domains;
	size_t bad_prefixes;            /* malformed members of order:<id>:ips and protected-ips (skipped) */
	size_t bad_keys;                /* keys of the wrong type or unreadable (skipped) */
	char last_id[RS_STREAM_ID_MAX]; /* newest changes id when the load began ("0-0": none) */
	struct rs_dataset ds;           /* the dataset identity read with it */
	bool has_data;                  /* Redis holds orders or a change stream at all */
	size_t sig_held;                /* signed mode: orders kept at their previous verified state */
	size_t sig_refused;             /* signed mode: orders not enforced (no verified state); a
					 * protected set refused counts as one */
};

/* What a cheap look at Redis says about the dataset (rs_load_probe). */
struct rs_probe {
	struct rs_dataset ds;
	bool has_data;
	char newest_id[RS_STREAM_ID_MAX]; /* the stream's newest entry ("" = none or not a stream) */
};

/*
 * Connect to endpoint e (timeout ms), authenticate and SELECT its db.
 * 0 with *out set, or RS_EIO / RS_EPROTO with a message in err.
 *
 * A Sentinel endpoint (lib/sentinel.h) is discovered at every call: the
 * sentinels are asked in order (at most RS_SENTINEL_TIMEOUT_MS each), each
 * candidate is connected to and checked with ROLE (a replica never passes
 * for the primary); when a sentinel answered but no candidate would do (a
 * failover under way) one more round follows after a pause of up to 1 s.
 * The message then names the endpoint, the role and the last reason.
 */
int rs_redis_connect(const struct rs_endpoint *e, int timeout_ms, struct redisContext **out,
		     char *err, size_t errlen);

/*
 * Start an asynchronous connection to endpoint e on the libevent base, with
 * data in ac->data and the connect/disconnect callbacks set; AUTH and SELECT
 * are queued first. NULL when it cannot even be created (the caller then
 * backs off as for a lost connection). on_conn/on_disc have hiredis'
 * redisConnectCallback/redisDisconnectCallback type.
 *
 * A Sentinel endpoint is discovered first, blocking (at most
 * RS_SENTINEL_TIMEOUT_MS per sentinel; NULL when none answers). ROLE is then
 * queued after SELECT: a node of the wrong role, and any later READONLY
 * reply on the connection (a primary demoted under it), shut the socket
 * down, so that the owner sees an ordinary connection loss and its next
 * connect discovers again. The owner needs no Sentinel code of its own; its
 * callbacks get NULL replies for what was pending, as for any loss.
 */
struct redisAsyncContext *rs_redis_async_connect(const struct rs_endpoint *e, struct event_base *base, void *data,
						  void (*on_conn)(const struct redisAsyncContext *, int),
						  void (*on_disc)(const struct redisAsyncContext *, int));

/*
 * Load every order in force, its domains and prefixes, the protected set and
 * the protected prefixes into the empty list l, with the stream position and
 * the dataset identity, and commit the prefixes (rs_list_commit). Pipelined:
 * about one round trip per 256 orders. Keys of the wrong type, error replies
 * about a key and junk values are malformed data: skipped, logged (the first
 * RS_LOAD_LOG_MAX) and counted; the rest loads. 0, or RS_EIO (connection lost
 * or a transient server error), RS_EPROTO (the `orders` set itself is not a
 * set: nothing can be loaded) or RS_ENOMEM, with a message in err (l may then
 * hold part of the list: the caller discards it).
 */
int rs_load_all(struct redisContext *rc, const struct rs_conf *c, struct rs_list *l,
		struct rs_load_stats *st, char *err, size_t errlen);

/*
 * rs_load_all with, in signed mode (c->require_signatures), the list the
 * resolver enforced before (prev: its verified versions and state; NULL:
 * none) and the alarms to update (NULL: only logged). Per order in `orders`:
 * manifest:<id> is verified (rs_manifest_verify), its version must be at
 * least the version prev verified (and the same text when equal), the set
 * digests of the members read must equal the manifest's names/prefixes, and
 * the order's fields are the manifest's (order:<id> is not read). An order
 * that fails keeps prev's verified state (its order, names and prefixes
 * copied into l; st->sig_held) or, without one, is not enforced
 * (st->sig_refused); alarm either way. The protected set likewise
 * (protected-manifest, a protect-key, the digests of protected and
 * protected-ips, version not below alarm->prot's): loaded when it verifies
 * (alarm->prot updated), else prev's protection is kept when alarm->prot
 * had a verified version, none otherwise (alarm). Without signed mode prev
 * and alarm are unused.
 * This is where load-time verification costs: one signature per order, and
 * one SHA-256 per member read plus a sort of the member hashes per set
 * (load_batch/sscan_reply feed the digests; signed_finish compares them).
 */
int rs_load_all_signed(struct redisContext *rc, const struct rs_conf *c, struct rs_list *l,
		       const struct rs_list *prev, struct rs_sigalarm *alarm, struct rs_load_stats *st, char *err,
		       size_t errlen);

/*
 * Signed mode: reload the one order id into l with full verification (as
 * rs_load_all_signed does for each order; a gap in its version chain, or
 * counts that do not match after a change): on success the order, its names
 * and prefixes replace what l held of it; on failure l keeps what it held
 * (alarm). Prefix changes need rs_list_commit. 0 (reloaded or refused),
 * RS_EIO (retry later), RS_ENOMEM.
 */
/* id "": the protected set (its manifest, both sets; l's protection becomes
 * the verified one, or stays as it is with an alarm). */
int rs_load_order_signed(struct redisContext *rc, const struct rs_conf *c, struct rs_list *l, const char *id,
			 struct rs_sigalarm *alarm, char *err, size_t errlen);

/*
 * Read the dataset identity, whether Redis holds any data (orders or a
 * change stream) and the stream's newest id, in one round trip. 0, or RS_EIO (connection lost, or an
 * error reply about the server's state such as LOADING or NOPERM).
 */
int rs_load_probe(struct redisContext *rc, const struct rs_conf *c, struct rs_probe *p, char *err, size_t errlen);

/* rs_load_probe in two halves, for a caller that pipelines commands of its
 * own after the probe's (queued between the two, read after the second):
 * _send queues the probe's commands; _recv reads all their replies (every
 * one, unless the connection is lost) and judges them as rs_load_probe. */
void rs_load_probe_send(struct redisContext *rc, const struct rs_conf *c);
int rs_load_probe_recv(struct redisContext *rc, struct rs_probe *p, char *err, size_t errlen);

/*
 * Is ROLE's reply r right for a connection that wants role (enum rs_role)?
 * A primary always is (reads may use it); a replica only for reads and only
 * while linked to its primary. 0; RS_EPROTO (wrong role) or RS_EIO (no
 * reply) with the reason, "is a replica of H:P, not the primary", in why.
 * An error reply (ROLE not allowed to this ACL user) is 0: it cannot be
 * checked, and Redis' own READONLY still refuses writes on a replica.
 */
int rs_role_verdict(const struct redisReply *r, int want, char *why, size_t whylen);

/*
 * Is an error reply about the server's state (LOADING, BUSY, NOPERM, ...:
 * retry later, the data is not at fault) rather than about the data
 * (WRONGTYPE and anything else: the key is malformed, skip it)?
 */
bool rs_redis_error_transient(const char *msg);

/*
 * The field/value pairs of an HGETALL reply as NUL-terminated strings in a new
 * array (free it with free(); the strings point into r). RS_EINVAL when r is
 * not a flat array of strings or a value holds a NUL octet; RS_ENOMEM.
 */
int rs_hash_kv(const struct redisReply *r, const char ***kv, size_t *npairs);

/* Canonicalise the text name[0..len) and convert it to wire form: the wire
 * length, or a negative RS_ENAME_* code. */
int rs_domain_wire(const char *name, size_t len, uint8_t wire[RS_WIRE_MAX]);

#endif
