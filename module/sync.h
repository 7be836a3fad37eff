/*
 * sync.h — the background thread that keeps the list in step with Redis.
 *
 * One thread per module instance, with its own libevent loop and hiredis
 * async connections: one follows the `changes` stream (XREAD BLOCK from the
 * last applied id), one writes the heartbeat to the write endpoint. Order
 * hashes and full resyncs are fetched over a third, blocking connection from
 * the same thread. The thread is the list's only writer (list.h).
 *
 * Faults: a lost connection is retried with exponential backoff (0.25 s to
 * 30 s); the stream is resumed from the last applied id; if the stream was
 * trimmed past that id (or deleted), the whole list is reloaded into a new
 * list that replaces the old one atomically. Resolution never waits for any
 * of this.
 *
 * Statistics: the thread drains the workers' hit rings (stats.h) every tick,
 * before it reclaims retired memory, flushes the counts to the write endpoint
 * every stats-flush-interval seconds (MULTI/EXEC of HINCRBY + EXPIRE; a failed
 * flush is kept and retried), and serves the Prometheus endpoint when
 * metrics-listen is set.
 *
 * Lifetime: rs_sync_start in init; rs_sync_stop in deinit joins the thread
 * before returning (deinit is followed by dlclose).
 *
 * Snapshot: with a snapshot-file, a second thread writes it (at most every
 * 5 s after a change, and at stop), so that no change waits for a write. The
 * sync thread only posts requests (the newest replaces one still waiting);
 * the writer reads the list inside an ebr.h section (doc/architecture.md,
 * "Snapshot"); rs_sync_stop joins it after the final write.
 *
 * Roles (struct rs_sync_opts): the same thread keeps redsink-warnd's list
 * and writes its page views. A resolver writes the resolver:<name>
 * heartbeat; redsink-warnd is not a resolver and writes none (so a dataset
 * alarm's log names the id `redsink-ctl dataset new --supersedes` needs).
 * Snapshot, cache purge and metrics follow the configuration and the hooks
 * (redsink-warnd: no snapshot-file, no metrics-listen, no purge hook).
 */
#ifndef RS_SYNC_H
#define RS_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "list.h"
#include "load.h"
#include "stats.h"

struct rs_sync;

struct rs_sync_opts {
	bool heartbeat; /* write resolver:<name> (a resolver); false: redsink-warnd */
	int probe_ms;   /* how often the dataset identity is checked (0: 5000) */
	int flush_ms;   /* how often counts are flushed (0: stats-flush-interval seconds) */
};

struct rs_sync_hooks {
	/* Remove cached answers for every name that `match` blocks, and the
	 * blocked answers the module stored (called on the sync thread after
	 * changes were applied and at window transitions); match NULL: only
	 * the stored blocked answers (a withdrawal, a window that closed). */
	void (*purge)(void *arg, const struct rs_list *match);
	void *arg;
};

/* Counters shown in the heartbeat (and, later, metrics). Written by the sync
 * thread, read by anyone (relaxed). */
struct rs_sync_info {
	_Atomic int64_t applied;    /* changes applied */
	_Atomic int64_t bad;        /* malformed changes / orders / domains skipped */
	_Atomic int64_t resyncs;    /* full loads; incremented (release) after the list was published */
	_Atomic int64_t last_applied_ms; /* wall clock of the last applied change */
	_Atomic int link_up;        /* the stream connection is up */
	_Atomic int dataset_alarm;  /* the list is kept: Redis does not hold its dataset (dataset.h) */
	_Atomic int64_t signature_alarm;    /* signed mode: orders held at an older verified state or refused */
	_Atomic int64_t signature_failures; /* signed mode: verification failures since start */
};

/*
 * Start the thread. listp: the module's published list pointer (the thread
 * may replace the list on a full resync); last_id: where the list stands in
 * the stream ("" = the list is not from Redis: load it all when Redis is up);
 * dataset: the identity of the dataset it came from ("" = none, dataset.h).
 * opts: NULL for a resolver's defaults (heartbeat on). stats: the counters
 * to drain and flush, or NULL. prot (signed mode; NULL: none): the verified
 * protected set the list holds (from the snapshot, a reload's hand-over or
 * the first load; copied): the thread's verification state starts from it,
 * so that a Redis rolled back to an older protected version is refused and
 * the next signed-protected change applies without a reload.
 * 0 or a negative code (the module then runs without live updates).
 */
int rs_sync_start(struct rs_sync **out, const struct rs_conf *c, _Atomic(struct rs_list *) *listp,
		  const char *last_id, const char *dataset, bool snapshot_due, const struct rs_sync_hooks *hooks,
		  struct rs_stats *stats, const struct rs_sync_opts *opts, const struct rs_protsig *prot);

/* Stop and join the thread, write the snapshot if the list changed (and join
 * the writer thread), free the retired lists. The current list stays with the caller; last_id and dataset
 * (may be NULL) receive where it stands in the stream and its identity, prot
 * (may be NULL; rs_protsig_clear it) the verified protected set. */
void rs_sync_stop(struct rs_sync *s, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
		  struct rs_protsig *prot);

const struct rs_sync_info *rs_sync_info(const struct rs_sync *s);
/* A query has reached the module (a worker's first): Unbound is serving, the
 * sync thread may check a snapshot's image now (sync.c, settle_image). Any
 * thread; s may be NULL. */
void rs_sync_serving(struct rs_sync *s);

/* Any thread: is there a dataset alarm? buf then receives one line,
 * "<vanished|foreign|malformed>: <what Redis holds>; keeping N orders, M domains". */
bool rs_sync_dataset_alarm(struct rs_sync *s, char *buf, size_t len);

/* Add n to the malformed counter (what init's own load skipped). Any thread. */
void rs_sync_note_bad(struct rs_sync *s, size_t n);

#endif
