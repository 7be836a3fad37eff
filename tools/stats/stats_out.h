/*
 * stats_out.h — rendering one table of cells (stats_core.h) as an aligned
 * text table, CSV (RFC 4180) or JSON, with the privacy statement.
 *
 * Suppressed cells (enum st_supp) never show their count:
 *   table  "<MIN" (below the minimum) or "withheld" (complementary)
 *   CSV    empty hits, and the "note" column says why
 *   JSON   "hits": null, "suppressed": true, "suppression": "below_minimum"
 *          or "complementary"
 * and every output states how many cells were suppressed and that totals
 * count shown cells only (CSV: in the note column of those rows; the caller
 * also writes st_supp_statement to stderr).
 *
 * The renderers write to a FILE (unit tests use open_memstream) and return 0
 * or RS_EIO when writing failed.
 */
#ifndef ST_OUT_H
#define ST_OUT_H

#include <stdio.h>

#include "stats_core.h"

enum st_fmt { ST_FMT_TABLE = 0, ST_FMT_CSV, ST_FMT_JSON };

/* What a column shows. */
enum st_colkind {
	ST_C_RANK,      /* rank of a shown cell inside its group (1, 2, ...); none when suppressed */
	ST_C_TIME,      /* the cell's bucket: hour ("2026-11-28T19:00:00Z") or day ("2026-11-28") */
	ST_C_DIM,       /* string dimension number arg */
	ST_C_REFERENCE, /* the reference of the order in dimension arg */
	ST_C_AUTHORITY, /* the authority of the order in dimension arg */
	ST_C_HITS,      /* the count, or the suppression marker */
	ST_C_HOURS,     /* hours of the cell's bucket inside the window (a day at an edge has fewer than 24) */
};

struct st_col {
	int kind;         /* enum st_colkind */
	int arg;          /* dimension number for ST_C_DIM / _REFERENCE / _AUTHORITY */
	const char *name; /* header (table: upper-cased), CSV header, JSON key */
};

/* Reference and authority of orders, indexed by string id (NULL: unknown). */
struct st_orders {
	char **authority, **reference;
	uint32_t n;
};

/* What the output is about (the header lines, the JSON metadata). */
struct st_meta {
	const char *command;          /* "top", "series", ... */
	const char *source;           /* "dns" or "views" */
	const char *title;            /* one line: "DNS hits by domain" */
	struct st_window w;
	const struct st_filter *filter;
	const char *by;               /* dimension name, or NULL */
	int gran;                     /* enum st_gran */
	size_t limit;                 /* rows per group, 0 = all */
	size_t malformed;             /* counter fields skipped as malformed */
	const char *order_label;      /* "RG-1 (RG 1234/2026, Tribunale di Milano)" with --order, or NULL */
	const struct st_orders *orders; /* or NULL */
};

/* The statement about suppression in t ("3 cells below 10 suppressed ..."). */
void st_supp_statement(const struct st_table *t, char *buf, size_t len);

/* The suppression marker of a cell in text outputs ("<10", "withheld"), or
 * NULL for a shown cell. buf >= 32 bytes. */
const char *st_supp_marker(const struct st_table *t, const struct st_cell *c, char *buf, size_t len);

/* Label of a cell's time bucket under granularity gran into buf (>= 24). */
void st_time_label(int64_t t, int gran, char *buf, size_t len);

/* Hours of the bucket starting at hour b (granularity gran) inside window w. */
int st_bucket_hours(int64_t b, int gran, const struct st_window *w);

/* Columns of display on a terminal (UTF-8; East Asian wide characters count 2). */
size_t st_text_width(const char *s);

/* Write s as one CSV field (quoted when needed). */
void st_csv_field(FILE *out, const char *s);

/*
 * Render table t (already suppressed and sorted) with columns cols[0..ncols)
 * in format fmt. At most m->limit rows per group are written (0: all); the
 * number left out is stated. 0 or RS_EIO.
 */
int st_render(FILE *out, int fmt, const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
	      const struct st_col *cols, size_t ncols);

#endif
