/*
 * dataset.h — the identity of the dataset a list was loaded from.
 *
 * One Redis (and its replicas) holds one dataset: the `dataset` hash under the
 * key prefix, written by redsink-ctl (doc/redis-schema.md):
 *
 *   id          32 lowercase hex digits, random, made when the dataset is born
 *   generation  1, 2, ...: one more for every `redsink-ctl dataset new`
 *   supersedes  space-separated ids of the datasets this one deliberately
 *               replaces (at most RS_DATASET_SUPERSEDES_MAX)
 *   created, by, why   for people (not read by the module)
 *
 * A reader (the module, redsink-warnd) remembers the id of the dataset its
 * list came from, and never silently adopts an empty or foreign dataset:
 * rs_dataset_judge() says what to do with what Redis holds now. Pure logic,
 * no I/O; any thread.
 */
#ifndef RS_DATASET_H
#define RS_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_DATASET_ID_LEN 32
#define RS_DATASET_SUPERSEDES_MAX 16

/* The `dataset` hash as read from Redis. */
struct rs_dataset {
	bool present; /* the key exists (of any type) */
	bool valid;   /* it is a hash with a well-formed id (and generation, supersedes) */
	char id[RS_DATASET_ID_LEN + 1];
	uint64_t generation;
	size_t nsupersedes;
	char supersedes[RS_DATASET_SUPERSEDES_MAX][RS_DATASET_ID_LEN + 1];
};

enum rs_dataset_verdict {
	RS_DS_SAME = 0,  /* the dataset we hold: follow it */
	RS_DS_ADOPT,     /* a dataset we may take over (nothing held, first identity, or a deliberate successor) */
	RS_DS_VANISHED,  /* Redis lost the dataset we hold (no identity, or nothing at all): keep ours, alarm */
	RS_DS_FOREIGN,   /* another dataset that does not supersede ours: keep ours, alarm */
	RS_DS_MALFORMED, /* the identity key is unreadable: keep ours, alarm */
};

/*
 * Parse an HGETALL-style reply: npairs field/value pairs in kv[0..2*npairs)
 * (values NUL-terminated). present=false when npairs is 0 (no key). Never
 * fails: anything wrong gives valid=false.
 */
void rs_dataset_parse(const char *const *kv, size_t npairs, struct rs_dataset *out);

/* Is s a well-formed dataset id (RS_DATASET_ID_LEN lowercase hex digits)? */
bool rs_dataset_id_ok(const char *s);

/*
 * What to do with what Redis holds (d), given the id of the dataset our list
 * came from (held: "" = the list has no identity: empty, or from before
 * identities existed), whether our list holds anything, and whether Redis holds
 * any order or a change stream at all:
 *  - held "": ADOPT if we hold nothing, or d is valid, or Redis has data
 *    (a Redis from before identities: logged by the caller); VANISHED when we
 *    hold a list and Redis has no identity and no data; MALFORMED when d is
 *    present and invalid and we hold a list.
 *  - held X: SAME when d.id == X; ADOPT when X is in d.supersedes; VANISHED
 *    when d is absent; MALFORMED when d is present but invalid; else FOREIGN.
 */
enum rs_dataset_verdict rs_dataset_judge(const char *held, bool holding, const struct rs_dataset *d,
					 bool redis_has_data);

/* "same", "adopt", "vanished", "foreign", "malformed". */
const char *rs_dataset_verdict_name(enum rs_dataset_verdict v);

#endif
