/*
 * apply.h — applying one entry of the `changes` stream to the list.
 *
 * Work is proportional to the change: one entry replaced for add/del/protect/
 * unprotect, one prefix record for addip/delip/protectip/unprotectip, one
 * order for order; revoke also sweeps the order's index out of the entries
 * and prefixes. Malformed entries are skipped, logged (each stream entry is
 * seen once) and counted; they never stop the stream.
 *
 * Prefix changes reach readers only when the caller commits the list
 * (rs_list_commit, once per batch); the changed prefixes go into `changed`
 * too, which the caller commits as well before purging with it.
 *
 * Signed mode (rs_apply_signed; require-signatures: yes, doc/signing.md):
 * add/del/addip/delip/order/revoke and protect/unprotect/protectip/
 * unprotectip entries are not applied by themselves (skipped, not
 * malformed: rs_apply.unsigned_skipped); an op `signed` entry
 * carries the next version of an order's manifest: verified (trusted key,
 * not revoked, signature, order, version == verified + 1, prev == SHA-256 of
 * the verified text), then its fields, state and delta lines are applied and
 * the resulting counts checked. A gap in the versions, or counts that do not
 * match, reload that order alone (the reload callback: rs_load_order_signed).
 * Anything else is refused: the order keeps its last verified state and the
 * alarm is raised (rs_sigalarm). An op `signed-protected` entry is the
 * same for the protected set (a protect-key; its delta protects and
 * unprotects; a gap reloads it: the reload callback with id ""; its
 * verified state is rs_sigalarm.prot). dataset entries apply as in
 * unsigned mode.
 * In unsigned mode op `signed` and `signed-protected` entries are ignored
 * (not malformed).
 *
 * Runs on the list's writer thread only.
 */
#ifndef RS_APPLY_H
#define RS_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "list.h"
#include "load.h"

#define RS_APPLY_FAILED_MAX 8 /* failed reloads remembered (rs_apply.failed) */

struct rs_change {
	char id[RS_STREAM_ID_MAX];
	char op[24]; /* the longest op: signed-protected */
	char order[RS_ORDER_ID_MAX + 1];
	char domain[RS_NAME_MAX + 2];
	char prefix[RS_PREFIX_TEXT_MAX]; /* addip, delip, protectip, unprotectip */
	bool truncated; /* a field did not fit: the entry is malformed */
	/* op signed: the manifest text (points into the stream reply: valid while
	 * it is; NULL when absent), its signature and key id */
	const char *text;
	size_t text_len;
	char sig[RS_SIG_B64_LEN + 1];
	char key[RS_KEYID_LEN + 1];
};

/* Signed mode: reload order id alone with full verification (sync.c calls
 * rs_load_order_signed on its blocking connection). 0 (reloaded or refused:
 * alarm), RS_EIO (retry later), RS_ENOMEM. */
typedef int (*rs_reload_order_fn)(void *arg, const char *id);

/*
 * Fetch order id from Redis. 0 with *out (the order is in force and valid),
 * RS_ENOENT (not in force / no hash), RS_EINVAL (malformed; reason logged),
 * RS_EIO (Redis unreachable: the change must be retried later).
 */
typedef int (*rs_fetch_order_fn)(void *arg, const char *id, struct rs_order **out);

struct rs_apply {
	struct rs_list *list;
	rs_fetch_order_fn fetch;
	void *fetch_arg;
	struct rs_list *changed; /* names and prefixes whose cached answers must go (see purge) */
	uint32_t changed_order;  /* the always-applying order of `changed` */
	bool purge_all;          /* an order changed: check every cached name */
	bool dataset_changed;    /* an op `dataset` entry: the identity must be checked again */
	size_t bad;              /* malformed entries skipped */
	size_t applied;
	/* signed mode (rs_apply_signed), else conf == NULL */
	const struct rs_conf *conf;
	rs_reload_order_fn reload;
	struct rs_sigalarm *alarm;
	size_t unsigned_skipped; /* add/del/... entries not applied by themselves */
	size_t reloads;          /* orders reloaded whole (a gap, counts off) */
	/* signed mode: reloads that did not reach the version asking for them
	 * (id, version, text hash; "" the protected set): a copy of that entry,
	 * or an older version, does not reload again until a newer version
	 * arrives or the list is replaced (rs_apply_set_list) — copies appended
	 * by someone with Redis write access would otherwise each cost a full
	 * read of the order or set (doc/signing.md) */
	struct rs_reload_failed {
		char id[RS_ORDER_ID_MAX + 1];
		uint64_t version;
		char hash[65];
	} failed[RS_APPLY_FAILED_MAX];
	size_t nfailed, failed_next;
	size_t reloads_skipped;
};

/* The list a applies to is now l (a full load or a start replaced it): the
 * failed reloads are forgotten. */
void rs_apply_set_list(struct rs_apply *a, struct rs_list *l);

/* Switch a to signed mode: conf (keys, and the orders' texts), reload (its
 * argument is the fetch argument), alarm (the sync thread's). */
void rs_apply_signed(struct rs_apply *a, const struct rs_conf *c, rs_reload_order_fn reload, struct rs_sigalarm *alarm);

/* Prepare a (with its own `changed` list). 0 or RS_ENOMEM. */
int rs_apply_init(struct rs_apply *a, struct rs_list *l, rs_fetch_order_fn fetch, void *arg);
/* Empty the `changed` list and purge_all, after the caller purged caches. 0 or RS_ENOMEM. */
int rs_apply_reset(struct rs_apply *a);
void rs_apply_free(struct rs_apply *a);

/* Copy one XREAD stream entry [id, [field, value, ...]] into ch: op, order,
 * domain and prefix; a value too long for its field sets ch->truncated. false
 * when the entry has no id (it cannot even be skipped by id). */
struct redisReply;
bool rs_change_parse(const struct redisReply *e, struct rs_change *ch);

/* Apply one change. 0 (applied or skipped), RS_EIO (retry later), RS_ENOMEM.
 * An op `dataset` entry changes nothing in the list: it sets dataset_changed,
 * and the caller stops the batch there and checks the identity again. */
int rs_apply_change(struct rs_apply *a, const struct rs_change *ch);

#endif
