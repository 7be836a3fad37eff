/*
 * stats.h — counting blocked answers (or warning-page views), by order, domain
 * and client region.
 *
 * Worker side (hot path): rs_stats_record() appends one record to the calling
 * thread's own single-producer/single-consumer ring: no lock, no syscall, no
 * allocation after the thread's first hit. A full ring drops the record and
 * counts the drop.
 *
 * Sync-thread side: rs_stats_drain() empties every ring, looks the client
 * address up in the GeoIP database (libmaxminddb) to get a region, and adds
 * the hit to the pending counts keyed by hour and "order|domain|region". The
 * client address is used for that lookup only: it is never stored, logged or
 * sent anywhere. rs_stats_take() hands the pending counts to the flusher; a
 * failed flush gives them back with rs_stats_restore(). Pending memory is
 * bounded (stats-max-pending keys); hits beyond it are counted as dropped.
 *
 * Lifetime: a record holds pointers to an order and a list entry, written by
 * a worker inside a read-side section (ebr.h; the blocked marker's section,
 * see redsink.c) but read after the worker left it. So the sync thread
 * reclaims in this order (sync.c on_tick, list.h): (1) rs_ebr_observe(),
 * (2) rs_stats_drain(), which copies everything it needs out of the records,
 * (3) free only what (1) found unreachable. A record the worker wrote before
 * (1) saw it outside is visible to (2); one written later belongs to a section
 * (1) saw, whose memory (3) keeps. Any thread that records is a "worker": in
 * the module Unbound's workers, in redsink-warnd its HTTP thread, which records
 * a page view inside the section it reads the list in (redsink-warnd.c).
 *
 * Roles (struct rs_stats_opts): the module counts DNS hits into
 * <prefix>hits:<hour>; redsink-warnd counts page views into <prefix>views:<hour>,
 * with the same fields, the same rings, regions and bounds. The key name is
 * the only difference; the sync thread's flusher asks rs_stats_key().
 *
 * Address triggers (a reply blocked because an answer address lies in an
 * order's prefix): rs_stats_record_addr() writes to a second, smaller ring per
 * thread (allocated at the thread's first address hit, so name-block records
 * stay as small as before) whose records carry a copy of the prefix and of the
 * query name. The drain counts such a hit under hits:<hour> as
 * "order|prefix|region" and the name under discovered:<hour> as
 * "name|order|prefix" (lib/disc.h: lowercase presentation text, no trailing
 * dot, '|' written \124); both go out in the same flush (rs_hit_row.kind).
 * rs_stats_take adds, per discovered row, a row of the index
 * discovered-names:<hour> (name -> "order|prefix", rs_hit_row.value: HSET,
 * not HINCRBY) that redsink-warnd reads with HGET; index rows are never
 * restored (rs_stats_restore drops them: the discovered rows rebuild them).
 *
 * Collateral alarm (collateral-threshold, collateral-action): the drain keeps,
 * per prefix, the distinct registrable domains (approximated: rs_disc_base,
 * lib/disc.h) of the query names it blocked this UTC hour, so a wildcard on
 * the blocked party's own address cannot trip it with made-up names (at most
 * threshold + 1 per prefix, COLLATERAL_PREFIXES prefixes and
 * COLLATERAL_NAMES names in all; reset when the hour changes). A prefix over
 * the threshold is logged once per hour and listed by rs_stats_collateral();
 * with collateral-action: suspend it is also added to the suspended set
 * unless it is confirmed (rs_stats_confirm, the confirmed-ips set). Workers
 * test that set with rs_stats_suspended() inside a read-side section (ebr.h):
 * the sync thread publishes it as a sorted array with a release store and
 * frees a replaced array only once rs_ebr_safe() says no reader holds it.
 * A suspended prefix stays suspended (past the hour) until it is confirmed;
 * the snapshot file keeps the suspended set over a restart (snapshot.h,
 * rs_stats_suspended_get / rs_stats_suspend_restore).
 *
 * GeoIP: the database is read by the sync thread (drain) and, through
 * rs_stats_region(), by any thread; rs_stats_geo_open() replaces it under a
 * read-write lock (readers: one drain, one lookup; the hot path
 * rs_stats_record() never takes it).
 */
#ifndef RS_STATS_H
#define RS_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "conf.h"
#include "list.h"
#include "order.h"
#include "prefix.h"

#define RS_REGION_MAX 16 /* "CC-SUBDIV" and NUL, with room */

struct rs_stats;

/* Pending hits, as handed to the flusher: one row per (hour, field). */
struct rs_hit_row {
	const char *kind; /* the key: <prefix><kind>:<hour>; "hits" (or "views") or "discovered" */
	char hour[16];  /* yyyy-mm-ddThh (UTC) */
	char *field;    /* order|domain|region, order|prefix|region, or (discovered) name|order|prefix */
	uint64_t count;
	/* NULL: HINCRBY field count. Else (kind "discovered-names", count 0):
	 * HSET field value, field a name, value "order|prefix" (lib/disc.h) */
	const char *value;
};

struct rs_hit_batch {
	struct rs_hit_row *rows;
	size_t n;
};

/* Counters for metrics and the heartbeat (cumulative since start). */
struct rs_stats_counters {
	uint64_t by_action[RS_ACT_REFUSED + 1];
	uint64_t dropped;      /* ring full or pending memory full */
	uint64_t pending;      /* hits waiting to be flushed */
	uint64_t flushed;      /* hits written to Redis */
	uint64_t collateral;   /* prefixes over collateral-threshold this hour */
	uint64_t suspended;    /* prefixes suspended (collateral-action: suspend) */
};

struct rs_stats_opts {
	const char *key; /* counter keys <prefix><key>:<hour>: "hits" (NULL, the module) or "views" */
};

/* Create (NULL when out of memory); o NULL: the module's defaults. The GeoIP
 * database is opened when the configuration names one; a database that
 * cannot be opened is logged and every region is then "ZZ". */
struct rs_stats *rs_stats_new(const struct rs_conf *c, const struct rs_stats_opts *o);
void rs_stats_free(struct rs_stats *s);

/* "hits" or "views" (the options' key). */
const char *rs_stats_key(const struct rs_stats *s);

/* Any thread: open the GeoIP database at path and use it from now on (the one
 * in use is closed). 0, or RS_ECONF with a message in err and the database in
 * use kept. */
int rs_stats_geo_open(struct rs_stats *s, const char *path, char *err, size_t errlen);

/* Any thread: the region of the client at sa, exactly as a drain computes it
 * for a record of that client ("KR", "IT-25"; "ZZ" when unknown or without a
 * database). The address is used for the lookup only. */
void rs_stats_region(struct rs_stats *s, const struct sockaddr *sa, socklen_t salen, char out[RS_REGION_MAX]);

/* Worker thread: count one blocked reply to the client at sa. */
void rs_stats_record(struct rs_stats *s, const struct rs_order *o, const struct rs_entry *e,
		     const struct sockaddr *sa, socklen_t salen, time_t now);

/* Worker thread: count one reply blocked by an address trigger: o the order,
 * p the listed prefix that holds the answer address, qname the query name
 * (wire, any case, at most qlen octets; copied). */
void rs_stats_record_addr(struct rs_stats *s, const struct rs_order *o, const struct rs_prefix *p,
			  const uint8_t *qname, size_t qlen, const struct sockaddr *sa, socklen_t salen, time_t now);

/* Any thread inside a read-side section (ebr.h): does p stop triggering
 * (collateral-action: suspend, over the threshold, not confirmed)? One
 * acquire load, and a binary search when something is suspended. */
bool rs_stats_suspended(const struct rs_stats *s, const struct rs_prefix *p);

/* Sync thread: the prefixes confirmed by a person (the confirmed-ips set, in
 * full): they are never suspended, and those suspended now trigger again.
 * Returns how many stopped being suspended (the caller then purges the
 * caches: answers into them were cached while they did not trigger). */
size_t rs_stats_confirm(struct rs_stats *s, const struct rs_prefix *p, size_t n);

/* Any thread inside a read-side section (ebr.h), or the sync thread: a copy
 * of the suspended set, sorted, in *p
 * (free() it; NULL when *n is 0). 0 or RS_ENOMEM. */
int rs_stats_suspended_get(const struct rs_stats *s, struct rs_prefix **p, size_t *n);
/* Sync thread: a number that changes whenever the suspended set changes (a
 * snapshot that reflects an older one is due). */
uint64_t rs_stats_suspended_gen(const struct rs_stats *s);
/* Before the sync thread starts: suspend the n prefixes a snapshot kept
 * (with collateral-action: suspend and a threshold; otherwise they are
 * dropped, logged). Invalid prefixes are skipped; the first confirmed-ips
 * read releases those confirmed meanwhile. */
void rs_stats_suspend_restore(struct rs_stats *s, const struct rs_prefix *p, size_t n);

/* Sync thread: call fn for every prefix over the threshold this UTC hour
 * (names: the distinct registrable domains of its blocked names, counted up
 * to threshold + 1; suspended: whether it stopped triggering), then for
 * every suspended prefix not over
 * the threshold this hour (names 0). Returns how many were over the threshold. */
size_t rs_stats_collateral(struct rs_stats *s, time_t now,
			   void (*fn)(const char *prefix, unsigned names, bool suspended, void *arg), void *arg);

/* Sync thread: move every ring's records into the pending counts. */
void rs_stats_drain(struct rs_stats *s);
/* Sync thread: take all pending counts (the caller frees the batch with
 * rs_hit_batch_free after a successful flush, or gives it back). */
void rs_stats_take(struct rs_stats *s, struct rs_hit_batch *b);
void rs_stats_restore(struct rs_stats *s, struct rs_hit_batch *b);
void rs_hit_batch_free(struct rs_hit_batch *b);
/* A flush was answered: hits were sent, of which `rejected` were refused by
 * Redis (the hits:<hour> or discovered:<hour> key is not a hash): those are counted as dropped,
 * never retried in a loop. A flush also re-arms the "pending full" warning,
 * which a drain logs once when it has to drop counts. */
void rs_stats_flushed(struct rs_stats *s, uint64_t hits, uint64_t rejected);

/* Sync thread (the fields are its own): a snapshot of the counters; by_country through a callback. */
void rs_stats_counters(struct rs_stats *s, struct rs_stats_counters *out);
void rs_stats_countries(struct rs_stats *s, void (*fn)(const char *cc, uint64_t n, void *arg), void *arg);

/* Pure helpers (unit-tested). */
/* Region code from a country and an optional subdivision code: "IT",
 * "IT-25"; a subdivision already prefixed ("KR-11") is kept; anything that is
 * not a 2-letter country gives "ZZ". */
void rs_region_format(const char *country, size_t clen, const char *sub, size_t slen, char out[RS_REGION_MAX]);
/* "yyyy-mm-ddThh" of a Unix time, UTC. */
void rs_hour_key(time_t t, char out[16]);

#endif
