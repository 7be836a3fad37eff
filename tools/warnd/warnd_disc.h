/*
 * warnd_disc.h — why a host that is not a listed name was sent to the
 * sinkhole: an address trigger (issue 13). The module counts every name an
 * answer address caught in discovered:<yyyy-mm-ddThh> ("<name>|<order>|
 * <prefix>" -> replies); redsink-warnd looks the host up there, for the
 * current and the previous UTC hour, to render the order's page with the
 * prefix.
 *
 * Bounded work on hostile data: one HSCAN ... MATCH <host, glob-escaped>|*
 * COUNT 1000 at a time, at most WD_DISC_CALLS calls per hour key; every field
 * is checked (wd_disc_field); a lookup is only made when the served list
 * holds prefixes. The connection is synchronous, on the HTTP thread, with
 * the --timeout of every Redis command; after a failure no lookup is tried
 * for WD_DISC_BACKOFF_S seconds (the page is then the neutral one). Results
 * (found or not) are kept WD_DISC_CACHE_S seconds in a small cache, so a
 * browser's many requests cost one lookup.
 *
 * Used by the HTTP thread only; the caller owns the struct.
 */
#ifndef WD_DISC_H
#define WD_DISC_H

#include <stdbool.h>
#include <time.h>

#include "conf.h"
#include "warnd_text.h"

#define WD_DISC_CALLS 16     /* HSCAN calls per hour key */
#define WD_DISC_BACKOFF_S 10 /* no lookup after a Redis failure for this long */
#define WD_DISC_CACHE_S 30   /* a result is reused this long */
#define WD_DISC_CACHE 256    /* cache slots */

struct wd_disc;

/* key_prefix: "redsink:"; timeout_ms: connect and command timeout. NULL when out of memory. */
struct wd_disc *wd_disc_new(const char *key_prefix, int timeout_ms);
void wd_disc_free(struct wd_disc *d);

/*
 * Look the canonical host up in discovered:<hour> of now and of the hour
 * before, on endpoint e. 1 with *hit (the field with the most replies),
 * 0 not found (or not looked up: backoff, a name too long), < 0 a Redis
 * failure (logged by the caller; backoff starts).
 */
int wd_disc_lookup(struct wd_disc *d, const struct rs_endpoint *e, const char *host, time_t now,
		   struct wd_disc_hit *hit);

#endif
