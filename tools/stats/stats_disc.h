/*
 * stats_disc.h — names discovered by address triggers (issue 13): the logic
 * of `redsink-stats discovered` and `redsink-stats collateral` that needs
 * neither Redis nor a terminal.
 *
 * The module counts, per UTC hour, every blocked reply to a name that an
 * answer address caught in the hash discovered:<yyyy-mm-ddThh>, field
 * "<name>|<order>|<prefix>" -> replies (doc/redis-schema.md). This is data
 * about servers (which names live on a listed address), not about users: no
 * client address, no region; so no small-count suppression applies here
 * (PRIVACY in redsink-stats(1)).
 *
 *  - discovered: one row per (name, order, prefix) over the window: replies,
 *    first and last hour seen, hours seen; sorted by first hour, then name.
 *  - collateral: one row per (hour, prefix) whose distinct registrable
 *    domains exceed a threshold: the signature of a shared address (a CDN, a
 *    hosting platform): every name on it is blocked. The unit is the
 *    module's (module/stats.c): the approximate registrable domain of each
 *    name (lib/disc.h, rs_disc_base), so a blocked party's wildcard on its
 *    own address (rand1.pirate.example, rand2...) counts once. The unit is
 *    the same, the population is not: discovered:<hour> holds what every
 *    resolver of the fleet blocked, so the tool counts the union over the
 *    fleet, while each resolver's alarm (collateral-threshold) counts only
 *    the names that resolver blocked. A prefix can be over the threshold
 *    here with no resolver alarmed (its names spread over several
 *    resolvers); a resolver alarmed is over it here too, unless its counts
 *    did not reach Redis (dropped, or not flushed yet).
 *
 * Everything read from Redis is hostile: a field is kept only when it is
 * exactly what the module writes (lib/disc.h, rs_disc_field_parse): exactly
 * two '|', a name in the module's form (lowercase presentation text, no
 * trailing dot, odd octets as \DDD: printable ASCII), a valid order id and a
 * canonical prefix (lib/prefix.h); a count is a decimal 0..INT64_MAX.
 * Anything else is counted as malformed (the first one remembered, shown
 * escaped). Sums saturate at UINT64_MAX.
 *
 * Ownership: a struct sd_data owns its strings and records; rows returned by
 * sd_discovered / sd_collateral are malloc'ed (free them) and refer to the
 * data's string ids. Nothing here is shared between threads.
 */
#ifndef ST_DISC_H
#define ST_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "disc.h"
#include "prefix.h"
#include "stats_core.h"

/* Fields are parsed with rs_disc_field_parse (lib/disc.h): the reader of
 * exactly what the module writes. */

struct sd_rec {
	int64_t hour;
	uint32_t name, order, prefix; /* string ids */
	uint32_t base;                /* string id: the name's registrable domain (rs_disc_base) */
	uint64_t count;
};

struct sd_data {
	struct st_strtab str;
	struct sd_rec *rec;
	size_t n, cap;
	size_t malformed;
	char first_bad[160];
};

/* Add the field/value of hour h when it passes the order filter (NULL: all).
 * A zero count is ignored. 0, RS_EINVAL (malformed: counted) or RS_ENOMEM. */
int sd_data_add(struct sd_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen,
		const char *order);
void sd_data_free(struct sd_data *d);

struct sd_row {
	uint32_t name, order, prefix;
	uint64_t replies;
	int64_t first, last; /* hours */
	uint32_t hours;      /* distinct hours seen */
};

/* The discovered names of d: rows (malloc'ed) and their count. 0 or RS_ENOMEM. */
int sd_discovered(const struct sd_data *d, struct sd_row **rows, size_t *n);

struct sd_coll {
	int64_t hour;
	uint32_t prefix;
	uint32_t domains; /* distinct registrable domains (rs_disc_base): compared with the threshold */
	uint32_t names;   /* distinct names */
	uint32_t orders;  /* distinct orders listing it that blocked them */
	uint64_t replies;
};

/* Prefixes with more than threshold distinct registrable domains in one
 * hour, sorted by hour, then domains and names (most first), then prefix.
 * 0 or RS_ENOMEM. */
int sd_collateral(const struct sd_data *d, uint64_t threshold, struct sd_coll **rows, size_t *n);

/* What the outputs say about themselves. */
struct sd_meta {
	struct st_window w;
	const char *order;  /* --order, or NULL */
	uint64_t threshold; /* collateral */
	size_t malformed;
};

/* Render (fmt: enum st_fmt of stats_out.h). 0 or RS_EIO. */
int sd_render_discovered(FILE *out, int fmt, const struct sd_meta *m, const struct sd_data *d,
			 const struct sd_row *rows, size_t n);
int sd_render_collateral(FILE *out, int fmt, const struct sd_meta *m, const struct sd_data *d,
			 const struct sd_coll *rows, size_t n);

#endif
