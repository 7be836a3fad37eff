/*
 * warnd_disc.h — why a host that is not a listed name was sent to the
 * sinkhole: an address trigger (issue 13). Beside its discovered:<hour>
 * counts the module writes an index discovered-names:<yyyy-mm-ddThh>,
 * name -> "<order>|<prefix>" (lib/disc.h; same MULTI/EXEC, same expiry);
 * redsink-warnd looks the host up there with one HGET per hour key (the
 * current and the previous UTC hour, pipelined) to render the order's page
 * with the prefix.
 *
 * Bounded work on hostile Host headers: only a host that is a name in the
 * module's form (rs_disc_name_parse; a canonical name always is) is looked
 * up, and only when the served list holds prefixes; each lookup is two HGET,
 * whatever the size of the hour; a value is used only when it is exactly
 * what the module writes (wd_disc_value). Results (found or not) are kept
 * WD_DISC_CACHE_S seconds in a small cache, so a browser's many requests
 * cost one lookup; lookups the cache does not answer are limited to
 * WD_DISC_RATE a second (a burst of WD_DISC_BURST): beyond that the page is
 * the neutral one, not cached, so a flood of made-up hosts costs Redis at
 * most WD_DISC_RATE round trips a second. The connection is synchronous, on
 * the HTTP thread, with the --timeout of every Redis command; after a
 * failure no lookup is tried for WD_DISC_BACKOFF_S seconds.
 *
 * Used by the HTTP thread only; the caller owns the struct.
 */
#ifndef WD_DISC_H
#define WD_DISC_H

#include <stdbool.h>
#include <time.h>

#include "conf.h"
#include "warnd_text.h"

#define WD_DISC_RATE 20      /* lookups the cache did not answer, per second */
#define WD_DISC_BURST 40     /* ... and in a burst */
#define WD_DISC_BACKOFF_S 10 /* no lookup after a Redis failure for this long */
#define WD_DISC_CACHE_S 30   /* a result is reused this long */
#define WD_DISC_CACHE 256    /* cache slots */

struct wd_disc;

/* key_prefix: "redsink:"; timeout_ms: connect and command timeout. NULL when out of memory. */
struct wd_disc *wd_disc_new(const char *key_prefix, int timeout_ms);
void wd_disc_free(struct wd_disc *d);

/* Lookups refused by the rate limit since the start (for the log and tests). */
unsigned long long wd_disc_limited(const struct wd_disc *d);

/*
 * Look the canonical host up in discovered-names:<hour> of now and of the
 * hour before (the current hour wins), on endpoint e. 1 with *hit, 0 not
 * found (or not looked up: backoff, rate limit, not a name), < 0 a Redis
 * failure (logged by the caller; backoff starts).
 */
int wd_disc_lookup(struct wd_disc *d, const struct rs_endpoint *e, const char *host, time_t now,
		   struct wd_disc_hit *hit);

#endif
