/*
 * stats_html.h — the self-contained HTML report of redsink-stats: one page
 * with inline CSS and inline SVG charts drawn here (hits over time, hits by
 * region, top domains, top orders), the table behind each chart under it, and
 * the privacy statement. No JavaScript, no external font, image or style
 * sheet: the file can be mailed or archived and opens the same anywhere.
 *
 * Every string that comes from Redis is HTML-escaped (st_html_esc). Suppressed
 * cells (stats_core.h) are drawn as grey stubs labelled "<MIN" / "withheld",
 * never with their count.
 *
 * The functions write to a FILE and return 0, RS_ENOMEM or RS_EIO.
 */
#ifndef ST_HTML_H
#define ST_HTML_H

#include <stdio.h>

#include "stats_core.h"
#include "stats_out.h"

struct st_report {
	const struct st_meta *meta;      /* title, source, window, filter, orders' metadata */
	const struct st_strtab *s;
	const struct st_table *time;     /* buckets of the window (filled), sorted by time */
	const struct st_table *regions;  /* by region, sorted by rank */
	const struct st_table *domains;  /* by domain, sorted by rank */
	const struct st_table *orders;   /* by order, sorted by rank */
	size_t limit;                    /* bars and rows of the top domains and orders (0: all) */
	int64_t generated;               /* Unix time the report was made */
	const char *version;
};

/* Write s HTML-escaped (& < > " '); invalid UTF-8 and control characters
 * other than tab and newline become U+FFFD. */
void st_html_esc(FILE *out, const char *s);

/* "12,345" into buf (>= 32 bytes). */
const char *st_num_group(uint64_t v, char *buf, size_t len);

/* A round axis maximum >= max and its tick step (1, 2 or 5 times a power of ten). */
void st_nice_scale(uint64_t max, uint64_t *top, uint64_t *step);

/* The SVG chart of a time table: columns up to 62 buckets, a line beyond.
 * With w, a column of a day only partly inside w is drawn lighter. */
int st_svg_time(FILE *out, const struct st_table *t, const struct st_window *w, const char *id, const char *label);

/* A horizontal bar chart of the first limit rows (0: all) of a ranked table of one dimension. */
int st_svg_bars(FILE *out, const struct st_table *t, const struct st_strtab *s, size_t limit, const char *id,
		const char *label);

/* The whole page. */
int st_html_report(FILE *out, const struct st_report *r);

#endif
