/*
 * stats_html.c — the self-contained HTML report with inline SVG charts (see
 * stats_html.h). Charts are drawn in a fixed viewBox and scale with the page.
 */
#include "stats_html.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_name.h"
#include "rs_err.h"
#include "text.h"

#define TABLE_OPEN_MAX 40 /* longer tables are folded in a <details> */
#define LABEL_MAX 44      /* octets of a bar label before it is shortened */
#define REGION_BARS 30    /* bars in the region chart (the table lists all) */

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t len;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return len;
}

void st_html_esc(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t l = utf8_len(s);
		if (l == 0) {
			fputs("\xef\xbf\xbd", out);
			s++;
			continue;
		}
		if (l > 1)
			fwrite(s, 1, l, out);
		else if (*s == '&')
			fputs("&amp;", out);
		else if (*s == '<')
			fputs("&lt;", out);
		else if (*s == '>')
			fputs("&gt;", out);
		else if (*s == '"')
			fputs("&quot;", out);
		else if (*s == '\'')
			fputs("&#39;", out);
		else if ((*s < 0x20 && *s != '\t' && *s != '\n') || *s == 0x7f)
			fputs("\xef\xbf\xbd", out);
		else
			fputc(*s, out);
		s += l;
	}
}

/* s shortened to LABEL_MAX octets (on a character boundary) with an ellipsis. */
static void esc_label(FILE *out, const char *s)
{
	size_t n = strlen(s), k;
	char *cut;

	if (n <= LABEL_MAX) {
		st_html_esc(out, s);
		return;
	}
	k = rs_utf8_prefix(s, n, LABEL_MAX - 1);
	cut = strndup(s, k);
	st_html_esc(out, cut ? cut : "");
	fputs("\xe2\x80\xa6", out); /* … */
	free(cut);
}

const char *st_num_group(uint64_t v, char *buf, size_t len)
{
	char digits[32];
	size_t n = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), o = 0;

	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

void st_nice_scale(uint64_t max, uint64_t *top, uint64_t *step)
{
	static const uint64_t m[] = { 1, 2, 5 };
	uint64_t p = 1;

	if (max == 0)
		max = 1;
	for (;;) {
		for (int i = 0; i < 3; i++) {
			uint64_t s = m[i] * p;
			if (s * 5 >= max) { /* at most five steps */
				*step = s;
				*top = (max + s - 1) / s * s;
				return;
			}
		}
		p *= 10;
	}
}

static const char *marker(const struct st_table *t, const struct st_cell *c, char *buf, size_t len)
{
	const char *m = st_supp_marker(t, c, buf, len);

	return m ? m : "";
}

/* ---- charts ---- */

/* Horizontal grid lines and their labels for a vertical axis. */
static void y_grid(FILE *out, uint64_t top, uint64_t step, int x0, int x1, int y0, double ph)
{
	char num[32];

	for (uint64_t v = 0; v <= top; v += step) {
		double y = y0 + ph - (double)v * ph / (double)top;
		fprintf(out, "<line class=\"%s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", v ? "grid" : "axis", x0, y,
			x1, y);
		fprintf(out, "<text class=\"muted\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">%s</text>\n",
			x0 - 8, y, st_num_group(v, num, sizeof(num)));
	}
}

/* Hours between two x-axis labels: at most eight labels over n buckets. */
static int64_t label_stride(size_t n, int gran)
{
	static const int64_t strides[] = { 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2160, 4320, 8760, 87600 };
	int64_t unit = gran == ST_G_DAY ? 24 : 1;

	for (size_t i = 0; i < sizeof(strides) / sizeof(strides[0]); i++)
		if (strides[i] % unit == 0 && (int64_t)n * unit / strides[i] <= 8)
			return strides[i];
	return 87600;
}

static void bucket_title(FILE *out, const struct st_table *t, const struct st_cell *c)
{
	char lab[32], num[32];

	st_time_label(c->t, t->spec.gran, lab, sizeof(lab));
	fprintf(out, "<title>%s: ", lab);
	st_html_esc(out, c->supp ? marker(t, c, num, sizeof(num)) : st_num_group(c->count, num, sizeof(num)));
	fputs("</title>", out);
}

/* The name of string dimension 0 of cell c as people read it: a domain
 * with a Unicode form as "münchen.example (xn--mnchen-3ya.example)". */
static const char *dim0_display(const struct st_table *t, const struct st_strtab *s, const struct st_cell *c,
				char *buf, size_t len)
{
	const char *name = st_str(s, c->k[0]);

	return t->spec.dim[0] == ST_D_DOMAIN ? ctl_name_display(name, buf, len) : name;
}

int st_svg_time(FILE *out, const struct st_table *t, const struct st_window *win, const char *id, const char *label)
{
	const int W = 960, H = 300, ml = 76, mr = 16, mt = 14, mb = 44;
	const double pw = W - ml - mr, ph = H - mt - mb;
	uint64_t max = 0, top, step;
	double slot = t->n ? pw / (double)t->n : pw;
	bool bars = t->n <= 62;
	int64_t stride = label_stride(t->n, t->spec.gran);

	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].supp == ST_SHOWN && t->c[i].count > max)
			max = t->c[i].count;
	st_nice_scale(max, &top, &step);
	fprintf(out, "<svg class=\"chart time\" id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"%s-title\">\n"
		     "<title id=\"%s-title\">", id, W, H, id, id);
	st_html_esc(out, label);
	fputs("</title>\n", out);
	y_grid(out, top, step, ml, W - mr, mt, ph);
	if (bars) {
		for (size_t i = 0; i < t->n; i++) {
			const struct st_cell *c = &t->c[i];
			double x = ml + (double)i * slot + slot * 0.12, w = slot * 0.76;
			if (c->supp) {
				fprintf(out, "<rect class=\"supp\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"6\">", x, mt + ph - 6, w);
			} else if (c->count > 0) {
				double h = (double)c->count * ph / (double)top;
				bool part = win && t->spec.gran == ST_G_DAY && st_bucket_hours(c->t, t->spec.gran, win) < 24;
				fprintf(out, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">",
					part ? " part" : "", x, mt + ph - h, w, h < 1 ? 1 : h);
			} else {
				continue;
			}
			bucket_title(out, t, c);
			fputs("</rect>\n", out);
		}
	} else {
		size_t i = 0;
		while (i < t->n) {
			size_t j;
			if (t->c[i].supp) {
				double x = ml + ((double)i + 0.5) * slot;
				fprintf(out, "<rect class=\"supp\" x=\"%.1f\" y=\"%.1f\" width=\"3\" height=\"6\">", x - 1.5, mt + ph - 6);
				bucket_title(out, t, &t->c[i]);
				fputs("</rect>\n", out);
				i++;
				continue;
			}
			for (j = i; j < t->n && !t->c[j].supp; j++)
				;
			/* cells i..j-1 are shown: one stretch of line with its area */
			fputs("<path class=\"area\" d=\"", out);
			for (size_t k = i; k < j; k++)
				fprintf(out, "%s%.1f %.1f ", k == i ? "M" : "L", ml + ((double)k + 0.5) * slot,
					mt + ph - (double)t->c[k].count * ph / (double)top);
			fprintf(out, "L%.1f %.1f L%.1f %.1f Z\"/>\n", ml + ((double)j - 0.5) * slot, mt + ph,
				ml + ((double)i + 0.5) * slot, mt + ph);
			if (j - i == 1) {
				fprintf(out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\">", ml + ((double)i + 0.5) * slot,
					mt + ph - (double)t->c[i].count * ph / (double)top);
				bucket_title(out, t, &t->c[i]);
				fputs("</circle>\n", out);
			} else {
				fputs("<path class=\"line\" d=\"", out);
				for (size_t k = i; k < j; k++)
					fprintf(out, "%s%.1f %.1f ", k == i ? "M" : "L", ml + ((double)k + 0.5) * slot,
						mt + ph - (double)t->c[k].count * ph / (double)top);
				fputs("\"/>\n", out);
			}
			i = j;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		char key[32];
		double x = ml + ((double)i + 0.5) * slot;
		int64_t tm = t->c[i].t;
		if (((tm % stride) + stride) % stride != 0)
			continue;
		st_hour_key(tm, key, sizeof(key)); /* 2026-11-28T19 */
		fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, mt + ph, x, mt + ph + 5);
		if (stride < 24)
			fprintf(out, "<text class=\"muted\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.5s %.2s:00</text>\n", x,
				mt + ph + 20, key + 5, key + 11);
		else
			fprintf(out, "<text class=\"muted\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.5s</text>\n", x,
				mt + ph + 20, key + 5);
	}
	fputs("</svg>\n", out);
	return ferror(out) ? RS_EIO : 0;
}

int st_svg_bars(FILE *out, const struct st_table *t, const struct st_strtab *s, size_t limit, const char *id,
		const char *label)
{
	const int W = 960, lw = 300, x0 = 310, vw = 90, rh = 26, mt = 6, mb = 30;
	const double bw = W - x0 - vw;
	size_t rows = limit && limit < t->n ? limit : t->n;
	int H = mt + (int)rows * rh + mb;
	uint64_t max = 0, top, step;
	char num[32];

	for (size_t i = 0; i < rows; i++)
		if (t->c[i].supp == ST_SHOWN && t->c[i].count > max)
			max = t->c[i].count;
	st_nice_scale(max, &top, &step);
	fprintf(out, "<svg class=\"chart bars\" id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"%s-title\">\n"
		     "<title id=\"%s-title\">", id, W, H, id, id);
	st_html_esc(out, label);
	fputs("</title>\n", out);
	for (uint64_t v = 0; v <= top; v += step) {
		double x = x0 + (double)v * bw / (double)top;
		fprintf(out, "<line class=\"%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", v ? "grid" : "axis", x, mt, x,
			H - mb);
		fprintf(out, "<text class=\"muted\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, H - mb + 18,
			st_num_group(v, num, sizeof(num)));
	}
	for (size_t i = 0; i < rows; i++) {
		const struct st_cell *c = &t->c[i];
		char dname[CTL_DNAME_MAX];
		const char *name = dim0_display(t, s, c, dname, sizeof(dname));
		int y = mt + (int)i * rh;
		fprintf(out, "<g class=\"row\"><title>");
		st_html_esc(out, name);
		fputs(": ", out);
		st_html_esc(out, c->supp ? marker(t, c, num, sizeof(num)) : st_num_group(c->count, num, sizeof(num)));
		fputs("</title>", out);
		fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" dominant-baseline=\"central\">", lw, y + rh / 2);
		esc_label(out, name);
		fputs("</text>", out);
		if (c->supp) {
			fprintf(out, "<rect class=\"supp\" x=\"%d\" y=\"%d\" width=\"8\" height=\"%d\"/>", x0, y + 4, rh - 8);
			fprintf(out, "<text class=\"muted\" x=\"%d\" y=\"%d\" dominant-baseline=\"central\">", x0 + 14, y + rh / 2);
			st_html_esc(out, marker(t, c, num, sizeof(num)));
			fputs("</text>", out);
		} else {
			double w = (double)c->count * bw / (double)top;
			fprintf(out, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", x0, y + 4, w < 1 ? 1 : w,
				rh - 8);
			fprintf(out, "<text class=\"val\" x=\"%.1f\" y=\"%d\" dominant-baseline=\"central\">%s</text>", x0 + w + 6,
				y + rh / 2, st_num_group(c->count, num, sizeof(num)));
		}
		fputs("</g>\n", out);
	}
	fputs("</svg>\n", out);
	return ferror(out) ? RS_EIO : 0;
}

/* ---- the page ---- */

static const char css[] =
	":root{color-scheme:light}\n"
	"body{font-family:system-ui,\"Segoe UI\",Roboto,\"Noto Sans\",\"DejaVu Sans\",sans-serif;margin:0;"
	"background:#f5f6f8;color:#1f2937;line-height:1.45}\n"
	"main{max-width:1000px;margin:0 auto;padding:20px 24px}\n"
	"h1{font-size:1.55rem;margin:.2rem 0 .2rem}\n"
	"h2{font-size:1.2rem;margin:0 0 .5rem}\n"
	".window{font-size:1.05rem;margin:0 0 .8rem;color:#374151}\n"
	"dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 .8rem}\n"
	"dl.meta dt{font-weight:600;color:#4b5563}dl.meta dd{margin:0}\n"
	".privacy{background:#fff7ed;border-left:4px solid #f59e0b;padding:.55rem .9rem;margin:.8rem 0}\n"
	".cards{display:flex;flex-wrap:wrap;gap:12px;margin:1rem 0}\n"
	".card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:.6rem 1rem;min-width:130px}\n"
	".card .v{font-size:1.45rem;font-weight:700;font-variant-numeric:tabular-nums}\n"
	".card .k{color:#6b7280;font-size:.85rem}\n"
	"section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:1rem 1.2rem;margin:1.1rem 0}\n"
	"svg.chart{display:block;width:100%;height:auto;margin:.3rem 0 .8rem}\n"
	"svg .bar{fill:#2563eb}svg .bar.part{fill-opacity:.45}svg .supp{fill:#9ca3af}svg .dot{fill:#2563eb}\n"
	"svg .area{fill:#2563eb;fill-opacity:.15;stroke:none}\n"
	"svg .line{fill:none;stroke:#2563eb;stroke-width:2;stroke-linejoin:round}\n"
	"svg .grid{stroke:#e5e7eb;stroke-width:1}svg .axis{stroke:#6b7280;stroke-width:1}\n"
	"svg text{font-size:12px;fill:#374151}svg text.val{fill:#111827}svg text.muted{fill:#6b7280}\n"
	"table{border-collapse:collapse;width:100%;font-size:.92rem}\n"
	"th,td{padding:.28rem .6rem;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}\n"
	"th{background:#f3f4f6;font-weight:600}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	"td.s{color:#6b7280;font-style:italic}td.name{word-break:break-all}th.rank,td.rank{width:3em}\n"
	"tfoot td{font-weight:600;border-top:2px solid #d1d5db}\n"
	"summary{cursor:pointer;color:#1d4ed8;margin:.3rem 0}\n"
	"p.note{color:#4b5563;font-size:.88rem;margin:.5rem 0 0}\n"
	".empty{color:#6b7280;font-style:italic}\n"
	"footer{color:#6b7280;font-size:.85rem;margin:1.5rem 0 2rem}\n"
	"@media print{body{background:#fff}section{break-inside:avoid}}\n";

static void hits_td(FILE *out, const struct st_table *t, const struct st_cell *c)
{
	char num[32];

	if (c->supp) {
		fputs("<td class=\"n s\">", out);
		st_html_esc(out, marker(t, c, num, sizeof(num)));
		fputs("</td>", out);
	} else {
		fprintf(out, "<td class=\"n\">%s</td>", st_num_group(c->count, num, sizeof(num)));
	}
}

static void note_p(FILE *out, const struct st_table *t)
{
	char stmt[320], num[32];

	st_supp_statement(t, stmt, sizeof(stmt));
	fprintf(out, "<p class=\"note\">Total of shown cells: %s. Privacy: ", st_num_group(t->total_shown, num, sizeof(num)));
	st_html_esc(out, stmt);
	fputs(".</p>\n", out);
}

static void table_open(FILE *out, size_t rows)
{
	if (rows > TABLE_OPEN_MAX)
		fprintf(out, "<details><summary>The table behind the chart (%zu rows)</summary>\n", rows);
}

static void table_close(FILE *out, size_t rows)
{
	if (rows > TABLE_OPEN_MAX)
		fputs("</details>\n", out);
}

static void section_time(FILE *out, const struct st_report *r)
{
	const struct st_table *t = r->time;
	bool day = t->spec.gran == ST_G_DAY;
	char lab[32], title[96];

	snprintf(title, sizeof(title), "Hits over time, per %s (UTC)", day ? "day" : "hour");
	fputs("<section id=\"time\">\n<h2>", out);
	st_html_esc(out, title);
	fputs("</h2>\n", out);
	st_svg_time(out, t, &r->meta->w, "chart-time", title);
	if (r->time->total_shown == 0 && t->n_min == 0 && t->n_compl == 0)
		fputs("<p class=\"empty\">No hits in this window.</p>\n", out);
	if (t->n_min || t->n_compl)
		fputs("<p class=\"note\">Grey marks on the axis: suppressed counts.</p>\n", out);
	if (day && t->n && (st_bucket_hours(t->c[0].t, t->spec.gran, &r->meta->w) < 24 ||
			    st_bucket_hours(t->c[t->n - 1].t, t->spec.gran, &r->meta->w) < 24))
		fprintf(out, "<p class=\"note\">Lighter columns: days only partly inside the window (the first has %d "
			     "hours of it, the last %d).</p>\n",
			st_bucket_hours(t->c[0].t, t->spec.gran, &r->meta->w),
			st_bucket_hours(t->c[t->n - 1].t, t->spec.gran, &r->meta->w));
	table_open(out, t->n);
	fprintf(out, "<table class=\"data\" id=\"table-time\"><thead><tr><th>%s (UTC)</th><th class=\"n\">Hits</th>%s</tr></thead><tbody>\n",
		day ? "Day" : "Hour", day ? "<th class=\"n\">Hours in window</th>" : "");
	for (size_t i = 0; i < t->n; i++) {
		st_time_label(t->c[i].t, t->spec.gran, lab, sizeof(lab));
		fprintf(out, "<tr><td>%s</td>", lab);
		hits_td(out, t, &t->c[i]);
		if (day)
			fprintf(out, "<td class=\"n\">%d</td>", st_bucket_hours(t->c[i].t, t->spec.gran, &r->meta->w));
		fputs("</tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
	table_close(out, t->n);
	note_p(out, t);
	fputs("</section>\n", out);
}

/* A ranked section: chart of the first rows, then the table. kind: "region", "domain", "order". */
static void section_ranked(FILE *out, const struct st_report *r, const struct st_table *t, const char *id,
			   const char *heading, const char *colname, bool order, size_t chart_limit, size_t limit)
{
	size_t rows = limit && limit < t->n ? limit : t->n, rank = 0;
	char cid[48], num[32];

	fprintf(out, "<section id=\"%s\">\n<h2>", id);
	st_html_esc(out, heading);
	fputs("</h2>\n", out);
	if (t->n == 0) {
		fputs("<p class=\"empty\">No hits in this window.</p>\n</section>\n", out);
		return;
	}
	snprintf(cid, sizeof(cid), "chart-%s", id);
	st_svg_bars(out, t, r->s, chart_limit, cid, heading);
	table_open(out, rows);
	fprintf(out, "<table class=\"data\" id=\"table-%s\"><thead><tr><th class=\"n rank\">#</th><th>%s</th>", id, colname);
	if (order)
		fputs("<th>Reference</th><th>Authority</th>", out);
	fputs("<th class=\"n\">Hits</th></tr></thead><tbody>\n", out);
	for (size_t i = 0; i < rows; i++) {
		const struct st_cell *c = &t->c[i];
		if (c->supp == ST_SHOWN)
			fprintf(out, "<tr><td class=\"n rank\">%zu</td><td class=\"name\">", ++rank);
		else
			fputs("<tr><td class=\"n rank\">&#8211;</td><td class=\"name\">", out);
		char dname[CTL_DNAME_MAX];
		st_html_esc(out, dim0_display(t, r->s, c, dname, sizeof(dname)));
		fputs("</td>", out);
		if (order) {
			const struct st_orders *o = r->meta->orders;
			const char *ref = o && c->k[0] < o->n ? o->reference[c->k[0]] : NULL;
			const char *auth = o && c->k[0] < o->n ? o->authority[c->k[0]] : NULL;
			fputs("<td>", out);
			st_html_esc(out, ref ? ref : "");
			fputs("</td><td>", out);
			st_html_esc(out, auth ? auth : "");
			fputs("</td>", out);
		}
		hits_td(out, t, c);
		fputs("</tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
	table_close(out, rows);
	if (rows < t->n)
		fprintf(out, "<p class=\"note\">%s more not listed (the first %zu are shown).</p>\n",
			st_num_group(t->n - rows, num, sizeof(num)), rows);
	note_p(out, t);
	fputs("</section>\n", out);
}

static void card(FILE *out, const char *value, const char *key)
{
	fprintf(out, "<div class=\"card\"><div class=\"v\">%s</div><div class=\"k\">%s</div></div>\n", value, key);
}

int st_html_report(FILE *out, const struct st_report *r)
{
	const struct st_meta *m = r->meta;
	const struct st_table *tabs[4] = { r->time, r->regions, r->domains, r->orders };
	char from[32], to[32], gen[32], num[32];
	size_t n_min = 0, n_compl = 0;
	uint64_t min = r->time->min_count, shown = 0;
	time_t g = (time_t)r->generated;
	struct tm tm;

	for (int i = 0; i < 4; i++) {
		n_min += tabs[i]->n_min;
		n_compl += tabs[i]->n_compl;
	}
	st_hour_iso(m->w.h0, from, sizeof(from));
	st_hour_iso(m->w.h1, to, sizeof(to));
	gmtime_r(&g, &tm);
	strftime(gen, sizeof(gen), "%Y-%m-%dT%H:%M:%SZ", &tm);

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n", out);
	fprintf(out, "<meta name=\"generator\" content=\"redsink-stats %s\">\n<title>", r->version);
	st_html_esc(out, m->title);
	fprintf(out, ", %.10s %.5s to %.10s %.5s UTC</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<header>\n<h1>",
		from, from + 11, to, to + 11, css);
	st_html_esc(out, m->title);
	fprintf(out, "</h1>\n<p class=\"window\">%.10s %.5s to %.10s %.5s UTC (%lld hours, end excluded)</p>\n", from,
		from + 11, to, to + 11, (long long)(m->w.h1 - m->w.h0));
	fputs("<dl class=\"meta\">\n", out);
	fprintf(out, "<dt>Source</dt><dd>%s</dd>\n",
		strcmp(m->source, "views") == 0 ? "warning-page views (views:&lt;hour&gt; keys)"
						 : "blocked DNS answers (hits:&lt;hour&gt; keys)");
	if (m->filter && (m->filter->order || m->filter->domain || m->filter->region)) {
		fputs("<dt>Filter</dt><dd>", out);
		if (m->filter->order) {
			fputs("order ", out);
			st_html_esc(out, m->order_label ? m->order_label : m->filter->order);
			fputs(" ", out);
		}
		if (m->filter->domain) {
			char dname[CTL_DNAME_MAX];
			fputs("domain ", out);
			st_html_esc(out, ctl_name_display(m->filter->domain, dname, sizeof(dname)));
			fputs(" ", out);
		}
		if (m->filter->region) {
			fputs("region ", out);
			st_html_esc(out, m->filter->region);
			if (strlen(m->filter->region) == 2)
				fputs(" (with its subdivisions)", out);
		}
		fputs("</dd>\n", out);
	}
	fprintf(out, "<dt>Minimum count</dt><dd>%llu</dd>\n<dt>Generated</dt><dd>%s by redsink-stats %s</dd>\n</dl>\n",
		(unsigned long long)min, gen, r->version);
	fputs("<p class=\"privacy\" id=\"privacy\">", out);
	if (min <= 1) {
		fputs("<strong>Warning: small-count suppression is OFF</strong> (--no-suppression): every count is "
		      "shown, small ones included. Do not publish this report if the counts can be about people.", out);
	} else if (r->time->fine_min + r->time->fine_compl + n_min + n_compl == 0) {
		fprintf(out, "Privacy: a count from 1 to %llu in one hour, order, domain and region would not be shown; "
			     "no count in this report is that small, so nothing is withheld.",
			(unsigned long long)(min - 1));
	} else {
		fprintf(out, "Privacy: every figure in this report is a sum of published hourly counts (per hour, order, "
			     "domain and region). An hourly count from 1 to %llu is withheld (%zu in this report), and "
			     "%zu more are withheld so that no withheld count can be worked out from a total; a row with "
			     "nothing published shows &#8220;&lt;%llu&#8221; or &#8220;withheld&#8221; (%zu row%s). Totals "
			     "count published cells only.",
			(unsigned long long)(min - 1), r->time->fine_min, r->time->fine_compl, (unsigned long long)min,
			n_min + n_compl, n_min + n_compl == 1 ? "" : "s");
	}
	fputs("</p>\n</header>\n", out);

	/* Every table covers the same hits: the largest total of shown cells is
	 * the best figure that discloses nothing beyond the tables themselves. */
	for (int i = 0; i < 4; i++)
		if (tabs[i]->total_shown > shown)
			shown = tabs[i]->total_shown;
	fputs("<div class=\"cards\">\n", out);
	card(out, st_num_group(shown, num, sizeof(num)), "hits (shown cells)");
	card(out, st_num_group(r->orders->n, num, sizeof(num)), "orders");
	card(out, st_num_group(r->domains->n, num, sizeof(num)), "domains");
	card(out, st_num_group(r->regions->n, num, sizeof(num)), "regions");
	fputs("</div>\n", out);

	section_time(out, r);
	section_ranked(out, r, r->regions, "regions", "Hits by region", "Region", false, REGION_BARS, 0);
	section_ranked(out, r, r->domains, "domains", "Top domains", "Domain", false, r->limit, r->limit);
	section_ranked(out, r, r->orders, "orders", "Top orders", "Order", true, r->limit, r->limit);

	fputs("<footer>\n<p>Counts are per UTC hour, order, domain and region (ISO 3166-1 or 3166-2; ZZ: unknown); "
	      "redsink stores no client address. Regions and domains are ranked by their shown counts; suppressed "
	      "rows follow in alphabetical order, so their place says nothing about their counts.</p>\n</footer>\n"
	      "</main>\n</body>\n</html>\n", out);
	return ferror(out) ? RS_EIO : 0;
}
