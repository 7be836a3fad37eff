/*
 * stats_core.h — the logic of redsink-stats that needs neither Redis nor a
 * terminal: time windows and hour-key names, parsing the counter fields
 * "<order>|<domain>|<region>", region matching, aggregation into the cells of
 * an output, and the privacy suppression of small cells.
 *
 * Data flow: redsink-stats reads the hour keys of the window (HGETALL,
 * pipelined) and feeds every field to st_data_add(), which validates it and
 * stores one record (strings interned; the tool passes no filter, so that
 * suppression is decided on the whole window). st_fine_build aggregates the
 * records into the one table of hour cells (hour, order, domain, region) and
 * suppresses it; every output is then derived from that table (st_derive:
 * filter, add up the shown hour cells) and sorted (st_sort_*), and
 * stats_out.c or stats_html.c renders it. st_aggregate and st_suppress, the
 * per-table building blocks, remain for tests and other callers.
 *
 * Times are whole UTC hours counted from the Unix epoch ("hour numbers",
 * Unix time / 3600); a day bucket starts at a multiple of 24 of them.
 *
 * Ownership: a struct st_data owns its string table and records; a struct
 * st_table owns its cells only (its string ids refer to the st_data it was
 * built from, which must outlive it). Free with st_data_free / st_table_free.
 * Nothing here is shared between threads.
 */
#ifndef ST_CORE_H
#define ST_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define ST_REGION_MAX 7       /* "CC-SSS" and its NUL */
#define ST_WINDOW_MAX_HOURS (3660 * 24) /* ten years: beyond any retention */
#define ST_HOURKEY_LEN 13     /* "2026-11-28T19" */
#define ST_NONE UINT32_MAX    /* string id of an absent dimension */

/* ---- time ---- */

/* A window of whole hours [h0, h1) (hour numbers). */
struct st_window {
	int64_t h0, h1;
};

/* Write the hour key suffix of hour h ("2026-11-28T19") into buf (>= 16 bytes). */
void st_hour_key(int64_t h, char *buf, size_t len);
/* "2026-11-28T19:00:00Z" (buf >= 24 bytes). */
void st_hour_iso(int64_t h, char *buf, size_t len);
/* "2026-11-28" for the day holding hour h (buf >= 16 bytes). */
void st_day_label(int64_t h, char *buf, size_t len);

/*
 * Parse a --from/--to value: RFC 3339 ("2026-11-28T19:30:00Z", offsets and
 * fractions allowed) or a plain date ("2026-11-28", UTC). A start is rounded
 * down to its hour; an end is rounded up, and a plain date as an end means the
 * end of that day (the day is included). 0 with *hour set, or RS_EINVAL.
 */
int st_parse_time(const char *s, bool is_end, int64_t *hour);

/* Parse a --last value: N followed by 'h' or 'd' ("24h", "7d"). 0 with the
 * length in hours, or RS_EINVAL (also for 0 or more than ST_WINDOW_MAX_HOURS). */
int st_parse_last(const char *s, int64_t *hours);

/*
 * Work out the window from --from, --to, --last (each NULL when not given)
 * and the current Unix time. Defaults: the end is the end of the current hour
 * (the current hour is included), the length 7 days. --from and --last
 * together are an error. RS_EINVAL with a message in err for a bad value, an
 * empty window or one longer than ST_WINDOW_MAX_HOURS.
 */
int st_window_resolve(const char *from, const char *to, const char *last, int64_t now, struct st_window *w,
		      char *err, size_t errlen);

/* ---- regions ---- */

/*
 * Normalise a region ("it-25" -> "IT-25") into out (ST_REGION_MAX bytes).
 * A region is "CC" (two ASCII letters, ISO 3166-1 alpha-2, "ZZ" = unknown) or
 * "CC-SUB" (ISO 3166-2: one to three letters or digits). 0 or RS_EINVAL.
 */
int st_region_norm(const char *in, size_t len, char out[ST_REGION_MAX]);

/* The country part of a normalised region ("IT-25" -> "IT") into out (3 bytes). */
void st_region_country(const char *region, char out[3]);

/* Does the normalised region match the normalised pattern? A country ("IT")
 * matches itself and all its subdivisions ("IT-25"); a subdivision matches
 * only itself. */
bool st_region_match(const char *pattern, const char *region);

/* ---- counter fields ---- */

/* One parsed field "<order>|<domain>|<region>"; the strings are copies. */
struct st_field {
	char order[129];
	char domain[254];
	char region[ST_REGION_MAX];
};

/*
 * Parse the field f[0..len): exactly two '|', an order id (1-128 printable
 * ASCII octets, no space), a domain (canonicalised: lowercased, one trailing
 * dot dropped; lib/name.h) or, for a hit an answer address triggered, the
 * listed prefix in canonical text (lib/prefix.h: exactly its own format;
 * counted like a domain), and a region (st_region_norm). 0 or RS_EINVAL.
 */
int st_field_parse(const char *f, size_t len, struct st_field *out);

/* Parse a counter value: a decimal integer 0..INT64_MAX. 0 or RS_EINVAL. */
int st_count_parse(const char *s, size_t len, uint64_t *out);

/* ---- interned strings ---- */

struct st_strtab {
	char **s;        /* id -> string (owned) */
	uint32_t n, cap;
	uint32_t *slot;  /* open addressing: id + 1, 0 = empty */
	uint32_t nslot;  /* a power of two */
};

/* The id of s[0..len), added if new. 0 or RS_ENOMEM. */
int st_intern(struct st_strtab *t, const char *s, size_t len, uint32_t *id);
/* The string of id ("" for ST_NONE). */
const char *st_str(const struct st_strtab *t, uint32_t id);

/* ---- records ---- */

/* What to keep: each member NULL (anything) or a normalised value. */
struct st_filter {
	const char *order;  /* order id, exact */
	const char *domain; /* canonical domain, exact */
	const char *region; /* "IT" (IT and IT-*) or "IT-25" (exactly) */
};

struct st_rec {
	int64_t hour;
	uint32_t order, domain, region, country; /* string ids */
	uint64_t count;
};

struct st_data {
	struct st_strtab str;
	struct st_rec *rec;
	size_t n, cap;
	size_t malformed;    /* fields skipped as malformed */
	char first_bad[160]; /* the first of them, for the message */
};

/*
 * Add the field/value pair of hour h (from the hash of hour key h) if it
 * passes the filter f (NULL: keep everything). A zero count is ignored.
 * Returns 0 (added or filtered out), RS_EINVAL (malformed field or value:
 * counted in d->malformed, the first one remembered) or RS_ENOMEM.
 */
int st_data_add(struct st_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen,
		const struct st_filter *f);

void st_data_free(struct st_data *d);

/* ---- aggregation into cells ---- */

enum st_dim { ST_D_NONE = 0, ST_D_ORDER, ST_D_DOMAIN, ST_D_REGION, ST_D_COUNTRY };
enum st_gran { ST_G_NONE = 0, ST_G_HOUR, ST_G_DAY };
enum st_supp { ST_SHOWN = 0, ST_SUPP_MIN = 1, ST_SUPP_COMPL = 2 };

#define ST_DIMS 3

/* The cells of one output: a time bucket and/or up to three string dimensions. */
struct st_spec {
	int gran;          /* enum st_gran: bucket the hours, or not */
	int dim[ST_DIMS];  /* enum st_dim, ST_D_NONE after the last */
	int group;         /* the first `group` dims form a suppression group (0: one group) */
	bool fill;         /* with gran and no dims: a cell for every bucket of the window */
	int64_t fill_to;   /* with fill: no empty bucket starting at or after this hour (the future is
			    * absent, not zero); 0: the end of the window */
};

struct st_cell {
	int64_t t;            /* bucket start (hour number), 0 without gran */
	uint32_t k[ST_DIMS];  /* string ids (ST_NONE for unused dims) */
	uint64_t count;
	uint8_t supp;         /* enum st_supp */
	uint32_t withheld;    /* st_derive: hour cells withheld inside this cell (not in count) */
};

struct st_table {
	struct st_spec spec;
	struct st_cell *c;
	size_t n, cap;
	uint64_t total_shown;  /* sum of the cells shown (st_suppress) */
	size_t n_min, n_compl; /* cells suppressed below the minimum, and complementary */
	uint64_t min_count;    /* the minimum applied */
	size_t fine_min, fine_compl; /* st_derive: hour cells withheld inside this table */
};

/* Short name of a dimension ("order", "domain", "region", "country"). */
const char *st_dim_name(int dim);
/* Parse a dimension name; ST_D_NONE when unknown. */
int st_dim_parse(const char *s);

/* Bucket start of hour h for granularity g. */
int64_t st_bucket(int64_t h, int gran);

/* Aggregate the records of d inside window w into t (zeroed first) by spec.
 * 0 or RS_ENOMEM (t is then empty). */
int st_aggregate(const struct st_data *d, const struct st_window *w, const struct st_spec *spec,
		 struct st_table *t);

/*
 * Privacy suppression of t's cells with minimum min (0 disables):
 *  - every cell with 0 < count < min is suppressed (ST_SUPP_MIN);
 *  - complementary: when a group (cells equal in the first spec.group dims)
 *    has exactly one such cell, its smallest other non-zero cell (ties: the
 *    first by name and time) is withheld too (ST_SUPP_COMPL), so that a total
 *    known from elsewhere (another table of the same hits) cannot give the
 *    suppressed cell back;
 *  - total_shown is the sum of the cells not suppressed.
 * s is d->str (names break ties).
 */
void st_suppress(struct st_table *t, uint64_t min, const struct st_strtab *s);

/*
 * The finest table and the figures derived from it: how every command of
 * redsink-stats suppresses (see PRIVACY in redsink-stats(1)).
 *
 * st_fine_build aggregates all records of d inside w (unfiltered) into hour
 * cells (hour, order, domain, region) and suppresses them:
 *  - primary: every hour cell with 0 < count < min (ST_SUPP_MIN); an hour
 *    cell does not depend on the window, the filters or the command, so the
 *    same cell is withheld in every output that covers its hour;
 *  - complementary: for each breakdown a user can ask for (hour, day, order,
 *    domain, region, country), the withheld cells must not all fall in one
 *    entry of it; when they do, the smallest shown cell outside that entry
 *    (ties: by time, then names) is withheld too (ST_SUPP_COMPL), repeated
 *    until every breakdown holds. So a true total learnt elsewhere, minus the
 *    published total, never gives the count of a single entry of a breakdown.
 * min 0 disables both. 0 or RS_ENOMEM (fine is then empty).
 *
 * st_derive builds the table of an output from fine: the hour cells that pass
 * filter f (NULL: all), added into cells by spec. A cell's count is the sum of
 * its SHOWN hour cells only, so every published figure, in every command,
 * filter and format over the same window, is a sum of published hour cells
 * and no difference of published figures contains a withheld one. A cell
 * with withheld hour cells and nothing shown is marked suppressed
 * (ST_SUPP_MIN when one of them is below the minimum, else ST_SUPP_COMPL);
 * one with a shown part shows that part. total_shown, n_min, n_compl count
 * the output cells, fine_min and fine_compl the hour cells withheld inside
 * the table. With spec.fill, buckets up to spec.fill_to (or the window's end)
 * are present even when empty. 0 or RS_ENOMEM.
 */
int st_fine_build(const struct st_data *d, const struct st_window *w, uint64_t min, struct st_table *fine);
int st_derive(const struct st_table *fine, const struct st_data *d, const struct st_filter *f,
	      const struct st_window *w, const struct st_spec *spec, struct st_table *t);

/* Sort for a listing by time: time, then dims by name. */
void st_sort_time(struct st_table *t, const struct st_strtab *s);
/* Sort for a ranking: by group (names), then shown cells by count (largest
 * first, ties by name), then suppressed cells by name, so their place says
 * nothing about their counts. */
void st_sort_rank(struct st_table *t, const struct st_strtab *s);

void st_table_free(struct st_table *t);

/* The Redis endpoint (host:port, [v6]:port, unix:/path, redis://...) is
 * parsed by the tools' one interface: cli_endpoint_parse in cli.h. */

#endif
