/*
 * warnd_views.h — page views by order, domain and region, counted into Redis.
 *
 * Views are counted in memory (one counter per hour, order, listed domain and
 * region) and written in batches: every flush interval, one pipeline of
 * HINCRBY <prefix>views:<yyyy-mm-ddThh> <order>|<domain>|<region> <n>, plus
 * an EXPIRE of each hour's key to the retention period, over an async hiredis
 * connection in the HTTP thread's event loop. This is the layout of the DNS
 * hit counters (hits:<hour>), under another name. No client address is ever
 * stored, logged or sent: the region is all that is kept of it.
 *
 * Faults: a counter whose HINCRBY got no reply (Redis down, connection lost)
 * is added back and sent again with the next batch (a reply lost in flight
 * may thus count a view twice, never zero times). While Redis is unreachable
 * counts accumulate up to max_counters distinct counters; views beyond that
 * are dropped and counted (and logged once per outage).
 *
 * Threads: everything here runs in the HTTP thread.
 */
#ifndef WD_VIEWS_H
#define WD_VIEWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"

struct event_base;
struct wd_views;

struct wd_views_conf {
	const struct rs_endpoint *redis; /* the write endpoint */
	const char *prefix;
	int timeout_ms;
	int retention_s;     /* EXPIRE of each hour's key */
	int flush_ms;        /* batch interval */
	size_t max_counters; /* distinct counters kept while Redis is away */
};

/* 0 or RS_ENOMEM. c (and what it points to) must outlive v. */
int wd_views_new(struct wd_views **out, struct event_base *base, const struct wd_views_conf *c);

/* Count one view now (t: the time of the view). */
void wd_views_count(struct wd_views *v, time_t t, const char *order, const char *domain, const char *region);

/* Counters waiting to be written, and views dropped since the start. */
size_t wd_views_pending(const struct wd_views *v);
uint64_t wd_views_dropped(const struct wd_views *v);

/*
 * At exit: close the async connection and write what is left over a blocking
 * connection (c->timeout_ms). Returns the number of views that could not be
 * written (logged), then frees v.
 */
uint64_t wd_views_close(struct wd_views *v);

#endif
