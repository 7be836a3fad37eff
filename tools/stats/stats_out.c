/*
 * stats_out.c — text table, CSV and JSON renderings of a table of cells, with
 * the privacy statement (see stats_out.h).
 */
#include "stats_out.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_name.h"
#include "rs_err.h"
#include "text.h"

/* ---- small helpers ---- */

void st_supp_statement(const struct st_table *t, char *buf, size_t len)
{
	unsigned long long min = (unsigned long long)t->min_count;
	size_t fine = t->fine_min + t->fine_compl, o;

	if (min <= 1) {
		snprintf(buf, len, "SUPPRESSION OFF (--no-suppression): every count is shown, small ones included");
		return;
	}
	if (fine == 0 && t->n_min == 0 && t->n_compl == 0) {
		snprintf(buf, len, "no hour cell below %llu: nothing suppressed", min);
		return;
	}
	/* Tables built by st_suppress alone (no hour cells) speak of their cells. */
	if (fine == 0) {
		o = (size_t)snprintf(buf, len, "%zu cell%s below %llu suppressed", t->n_min, t->n_min == 1 ? "" : "s", min);
		if (o < len && t->n_compl)
			o += (size_t)snprintf(buf + o, len - o,
					      ", and %zu more withheld so that %s cannot be worked out from a total", t->n_compl,
					      t->n_min == 1 ? "it" : "they");
		if (o < len)
			snprintf(buf + o, len - o, "; totals count shown cells only");
		return;
	}
	o = (size_t)snprintf(buf, len, "%zu hour cell%s below %llu withheld", t->fine_min, t->fine_min == 1 ? "" : "s",
			     min);
	if (o < len && t->fine_compl)
		o += (size_t)snprintf(buf + o, len - o, ", and %zu more withheld so that none can be worked out from a total",
				      t->fine_compl);
	if (o < len && (t->n_min || t->n_compl))
		o += (size_t)snprintf(buf + o, len - o, "; %zu row%s without a count", t->n_min + t->n_compl,
				      t->n_min + t->n_compl == 1 ? "" : "s");
	if (o < len)
		snprintf(buf + o, len - o, "; every figure is a sum of published hour cells only");
}

const char *st_supp_marker(const struct st_table *t, const struct st_cell *c, char *buf, size_t len)
{
	if (c->supp == ST_SUPP_MIN) {
		snprintf(buf, len, "<%llu", (unsigned long long)t->min_count);
		return buf;
	}
	if (c->supp == ST_SUPP_COMPL)
		return "withheld";
	return NULL;
}

void st_time_label(int64_t t, int gran, char *buf, size_t len)
{
	if (gran == ST_G_DAY)
		st_day_label(t, buf, len);
	else
		st_hour_iso(t, buf, len);
}

int st_bucket_hours(int64_t b, int gran, const struct st_window *w)
{
	int64_t end = b + (gran == ST_G_DAY ? 24 : 1);

	if (b < w->h0)
		b = w->h0;
	if (end > w->h1)
		end = w->h1;
	return end > b ? (int)(end - b) : 0;
}

/* Length of the UTF-8 sequence at s and its code point (1 and the octet when invalid). */
static size_t utf8_next(const unsigned char *s, unsigned int *cp)
{
	size_t len, i;

	if (s[0] < 0x80 || (s[0] & 0xe0) == 0x80 || s[0] >= 0xf8) {
		*cp = s[0];
		return 1;
	}
	len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	*cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = s[0];
			return 1;
		}
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return len;
}

static bool wide(unsigned int cp)
{
	return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
	       (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	       (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd);
}

size_t st_text_width(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t w = 0;

	while (*s) {
		unsigned int cp;
		s += utf8_next(s, &cp);
		w += wide(cp) ? 2 : 1;
	}
	return w;
}

/* A copy of s safe for a terminal: C0/C1 controls and DEL become '?'. */
static char *term_safe(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	struct rs_buf b = { 0 };

	while (*s) {
		unsigned int cp;
		size_t l = utf8_next(s, &cp);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || (l == 1 && *s >= 0x80))
			rs_buf_add(&b, "?", 1);
		else
			rs_buf_add(&b, (const char *)s, l);
		s += l;
	}
	rs_buf_add(&b, "", 0);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

void st_csv_field(FILE *out, const char *s)
{
	if (s[strcspn(s, ",\"\r\n")] == '\0' && s[0] != ' ' && (s[0] == '\0' || s[strlen(s) - 1] != ' ')) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void json_str(FILE *out, const char *s)
{
	struct rs_buf b = { 0 };

	if (!s) {
		fputs("null", out);
		return;
	}
	rs_buf_json(&b, s);
	if (b.s)
		fwrite(b.s, 1, b.len, out);
	else
		fputs("\"\"", out);
	free(b.s);
}

static const char *order_meta(const struct st_meta *m, uint32_t id, bool authority)
{
	const struct st_orders *o = m->orders;

	if (!o || id >= o->n)
		return NULL;
	return authority ? o->authority[id] : o->reference[id];
}

/* Rows: which cells are written, and each one's rank. */
struct rowplan {
	size_t *idx;   /* cell indexes written */
	size_t *rank;  /* rank (0: none) */
	size_t n, omitted;
};

static bool same_group(const struct st_table *t, const struct st_cell *a, const struct st_cell *b)
{
	for (int i = 0; i < t->spec.group; i++)
		if (a->k[i] != b->k[i])
			return false;
	return true;
}

static int plan_rows(const struct st_table *t, size_t limit, struct rowplan *p)
{
	size_t in_group = 0, rank = 0;

	memset(p, 0, sizeof(*p));
	p->idx = calloc(t->n + 1, sizeof(*p->idx));
	p->rank = calloc(t->n + 1, sizeof(*p->rank));
	if (!p->idx || !p->rank) {
		free(p->idx);
		free(p->rank);
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (i == 0 || !same_group(t, &t->c[i - 1], &t->c[i]))
			in_group = rank = 0;
		if (t->c[i].supp == ST_SHOWN)
			rank++;
		if (limit && in_group >= limit) {
			p->omitted++;
			continue;
		}
		in_group++;
		p->idx[p->n] = i;
		p->rank[p->n++] = t->c[i].supp == ST_SHOWN ? rank : 0;
	}
	return 0;
}

static void plan_free(struct rowplan *p)
{
	free(p->idx);
	free(p->rank);
}

/* Text of one column of a row for the table and CSV outputs (NULL: empty). */
static const char *col_text(const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
			    const struct st_col *col, const struct st_cell *c, size_t rank, char *buf, size_t len)
{
	switch (col->kind) {
	case ST_C_RANK:
		if (!rank)
			return NULL;
		snprintf(buf, len, "%zu", rank);
		return buf;
	case ST_C_TIME:
		st_time_label(c->t, t->spec.gran, buf, len);
		return buf;
	case ST_C_DIM:
		return st_str(s, c->k[col->arg]);
	case ST_C_REFERENCE:
	case ST_C_AUTHORITY:
		return order_meta(m, c->k[col->arg], col->kind == ST_C_AUTHORITY);
	case ST_C_HITS:
		if (c->supp != ST_SHOWN)
			return NULL;
		snprintf(buf, len, "%llu", (unsigned long long)c->count);
		return buf;
	case ST_C_HOURS:
		snprintf(buf, len, "%d", st_bucket_hours(c->t, t->spec.gran, &m->w));
		return buf;
	}
	return NULL;
}

static void filter_text(const struct st_filter *f, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	if (!f)
		return;
	if (f->order && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%sorder %s", o ? ", " : "", f->order);
	if (f->domain && o < len) {
		char dname[CTL_DNAME_MAX];
		o += (size_t)snprintf(buf + o, len - o, "%sdomain %s", o ? ", " : "",
				      ctl_name_display(f->domain, dname, sizeof(dname)));
	}
	if (f->region && o < len)
		snprintf(buf + o, len - o, "%sregion %s%s", o ? ", " : "", f->region,
			 strlen(f->region) == 2 ? " (with its subdivisions)" : "");
}

/* ---- text table ---- */

static int render_table(FILE *out, const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
			const struct st_col *cols, size_t ncols, const struct rowplan *p)
{
	char from[32], to[32], buf[64], stmt[320], filt[CTL_DNAME_MAX + 400], dname[CTL_DNAME_MAX];
	char **cell = NULL;
	size_t *width = calloc(ncols, sizeof(*width));
	int rc = 0;

	if (!width)
		return RS_ENOMEM;
	st_hour_iso(m->w.h0, from, sizeof(from));
	st_hour_iso(m->w.h1, to, sizeof(to));
	fprintf(out, "%s\n", m->title);
	fprintf(out, "window: %s to %s (%lld hours, UTC; end excluded)\n", from, to, (long long)(m->w.h1 - m->w.h0));
	filter_text(m->filter, filt, sizeof(filt));
	if (filt[0])
		fprintf(out, "filter: %s\n", filt);
	if (m->order_label) {
		char *safe = term_safe(m->order_label);
		fprintf(out, "order: %s\n", safe ? safe : "");
		free(safe);
	}
	if (t->min_count <= 1)
		fprintf(out, "WARNING: small-count suppression is OFF (--no-suppression): small counts are shown\n");
	fputc('\n', out);
	if (p->n == 0) {
		fprintf(out, "no hits in this window\n");
		goto footer;
	}
	cell = calloc(p->n * ncols, sizeof(*cell));
	if (!cell) {
		rc = RS_ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < ncols; j++)
		width[j] = strlen(cols[j].name);
	for (size_t r = 0; r < p->n; r++) {
		const struct st_cell *c = &t->c[p->idx[r]];
		for (size_t j = 0; j < ncols; j++) {
			const char *v = col_text(m, t, s, &cols[j], c, p->rank[r], buf, sizeof(buf));
			/* People read the table: an IDN as "münchen.example (xn--...)". */
			if (v && cols[j].kind == ST_C_DIM && t->spec.dim[cols[j].arg] == ST_D_DOMAIN)
				v = ctl_name_display(v, dname, sizeof(dname));
			if (!v && cols[j].kind == ST_C_HITS)
				v = st_supp_marker(t, c, buf, sizeof(buf));
			if (!v)
				v = cols[j].kind == ST_C_RANK ? "-" : "";
			cell[r * ncols + j] = term_safe(v);
			if (!cell[r * ncols + j]) {
				rc = RS_ENOMEM;
				goto out;
			}
			if (st_text_width(cell[r * ncols + j]) > width[j])
				width[j] = st_text_width(cell[r * ncols + j]);
		}
	}
	for (size_t j = 0; j < ncols; j++) {
		bool right = cols[j].kind == ST_C_RANK || cols[j].kind == ST_C_HITS || cols[j].kind == ST_C_HOURS;
		size_t pad = width[j] - strlen(cols[j].name);
		if (right)
			fprintf(out, "%*s", (int)pad, "");
		for (const char *n = cols[j].name; *n; n++)
			fputc(*n >= 'a' && *n <= 'z' ? *n - 'a' + 'A' : *n, out);
		if (j + 1 < ncols)
			fprintf(out, "%*s", (int)(right ? 2 : pad + 2), "");
	}
	fputc('\n', out);
	for (size_t r = 0; r < p->n; r++) {
		for (size_t j = 0; j < ncols; j++) {
			const char *v = cell[r * ncols + j];
			bool right = cols[j].kind == ST_C_RANK || cols[j].kind == ST_C_HITS || cols[j].kind == ST_C_HOURS;
			size_t pad = width[j] - st_text_width(v);
			if (right)
				fprintf(out, "%*s%s", (int)pad, "", v);
			else if (j + 1 < ncols)
				fprintf(out, "%s%*s", v, (int)pad, "");
			else
				fputs(v, out);
			if (j + 1 < ncols)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
footer:
	fputc('\n', out);
	if (p->omitted)
		fprintf(out, "%zu more row%s not shown (--limit %zu)\n", p->omitted, p->omitted == 1 ? "" : "s",
			m->limit);
	fprintf(out, "total of shown cells: %llu\n", (unsigned long long)t->total_shown);
	st_supp_statement(t, stmt, sizeof(stmt));
	fprintf(out, "privacy: %s\n", stmt);
	if (t->n_min || t->n_compl)
		fprintf(out, "(<%llu: below the minimum count; withheld: complementary suppression)\n",
			(unsigned long long)t->min_count);
	if (m->malformed)
		fprintf(out, "note: %zu malformed counter field%s skipped\n", m->malformed, m->malformed == 1 ? "" : "s");
out:
	if (cell)
		for (size_t i = 0; i < p->n * ncols; i++)
			free(cell[i]);
	free(cell);
	free(width);
	return rc;
}

/* ---- CSV ---- */

static int render_csv(FILE *out, const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
		      const struct st_col *cols, size_t ncols, const struct rowplan *p)
{
	char buf[64], note[96];

	for (size_t j = 0; j < ncols; j++) {
		st_csv_field(out, cols[j].name);
		fputc(',', out);
	}
	fputs("note\r\n", out);
	for (size_t r = 0; r < p->n; r++) {
		const struct st_cell *c = &t->c[p->idx[r]];
		for (size_t j = 0; j < ncols; j++) {
			const char *v = col_text(m, t, s, &cols[j], c, p->rank[r], buf, sizeof(buf));
			st_csv_field(out, v ? v : "");
			fputc(',', out);
		}
		if (c->supp == ST_SUPP_MIN)
			snprintf(note, sizeof(note), "suppressed: below %llu", (unsigned long long)t->min_count);
		else if (c->supp == ST_SUPP_COMPL)
			snprintf(note, sizeof(note), "withheld: complementary suppression");
		else if (t->min_count <= 1)
			snprintf(note, sizeof(note), "suppression off (--no-suppression)");
		else
			note[0] = '\0';
		st_csv_field(out, note);
		fputs("\r\n", out);
	}
	return 0;
}

/* ---- JSON ---- */

static void json_filter(FILE *out, const struct st_filter *f)
{
	fputs("{\"order\": ", out);
	json_str(out, f ? f->order : NULL);
	fputs(", \"domain\": ", out);
	json_str(out, f ? f->domain : NULL);
	fputs(", \"region\": ", out);
	json_str(out, f ? f->region : NULL);
	fputc('}', out);
}

static int render_json(FILE *out, const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
		       const struct st_col *cols, size_t ncols, const struct rowplan *p)
{
	char from[32], to[32], buf[64], stmt[320];
	bool order_dim = false;

	st_hour_iso(m->w.h0, from, sizeof(from));
	st_hour_iso(m->w.h1, to, sizeof(to));
	fputs("{\n  \"tool\": \"redsink-stats\",\n  \"command\": ", out);
	json_str(out, m->command);
	fputs(",\n  \"source\": ", out);
	json_str(out, m->source);
	fputs(",\n  \"title\": ", out);
	json_str(out, m->title);
	fprintf(out, ",\n  \"window\": {\"from\": \"%s\", \"to\": \"%s\", \"hours\": %lld},\n  \"filter\": ", from, to,
		(long long)(m->w.h1 - m->w.h0));
	json_filter(out, m->filter);
	if (m->by) {
		fputs(",\n  \"by\": ", out);
		json_str(out, m->by);
	}
	if (t->spec.gran)
		fprintf(out, ",\n  \"granularity\": \"%s\"", t->spec.gran == ST_G_DAY ? "day" : "hour");
	fprintf(out, ",\n  \"min_count\": %llu,\n  \"suppression_off\": %s,\n  \"rows\": [",
		(unsigned long long)t->min_count, t->min_count <= 1 ? "true" : "false");
	for (size_t r = 0; r < p->n; r++) {
		const struct st_cell *c = &t->c[p->idx[r]];
		fputs(r ? ",\n    {" : "\n    {", out);
		for (size_t j = 0; j < ncols; j++) {
			const char *v = col_text(m, t, s, &cols[j], c, p->rank[r], buf, sizeof(buf));
			if (j)
				fputs(", ", out);
			json_str(out, cols[j].name);
			fputs(": ", out);
			if (cols[j].kind == ST_C_RANK || cols[j].kind == ST_C_HITS || cols[j].kind == ST_C_HOURS)
				fputs(v ? v : "null", out); /* numbers */
			else
				json_str(out, v);
			if (cols[j].kind == ST_C_DIM && t->spec.dim[cols[j].arg] == ST_D_ORDER)
				order_dim = true;
		}
		fprintf(out, ", \"suppressed\": %s", c->supp ? "true" : "false");
		if (c->supp)
			fprintf(out, ", \"suppression\": \"%s\"",
				c->supp == ST_SUPP_MIN ? "below_minimum" : "complementary");
		fputc('}', out);
	}
	fprintf(out, "%s],\n  \"rows_not_shown\": %zu,\n  \"total_shown\": %llu,\n", p->n ? "\n  " : "",
		p->omitted, (unsigned long long)t->total_shown);
	st_supp_statement(t, stmt, sizeof(stmt));
	fprintf(out, "  \"suppression\": {\"min_count\": %llu, \"off\": %s, \"below_minimum\": %zu, "
		     "\"complementary\": %zu, \"hour_cells_below_minimum\": %zu, \"hour_cells_complementary\": %zu, "
		     "\"statement\": ",
		(unsigned long long)t->min_count, t->min_count <= 1 ? "true" : "false", t->n_min, t->n_compl,
		t->fine_min, t->fine_compl);
	json_str(out, stmt);
	fprintf(out, "},\n  \"malformed_fields_skipped\": %zu", m->malformed);
	if (order_dim && m->orders) {
		bool first = true;
		uint32_t *seen = calloc(m->orders->n + 1, sizeof(*seen));
		if (!seen)
			return RS_ENOMEM;
		fputs(",\n  \"orders\": {", out);
		for (size_t r = 0; r < p->n; r++) {
			const struct st_cell *c = &t->c[p->idx[r]];
			for (size_t j = 0; j < ncols; j++) {
				uint32_t id;
				if (cols[j].kind != ST_C_DIM || t->spec.dim[cols[j].arg] != ST_D_ORDER)
					continue;
				id = c->k[cols[j].arg];
				if (id >= m->orders->n || seen[id])
					continue;
				seen[id] = 1;
				fputs(first ? "\n    " : ",\n    ", out);
				first = false;
				json_str(out, st_str(s, id));
				fputs(": {\"reference\": ", out);
				json_str(out, m->orders->reference[id]);
				fputs(", \"authority\": ", out);
				json_str(out, m->orders->authority[id]);
				fputc('}', out);
			}
		}
		fputs(first ? "}" : "\n  }", out);
		free(seen);
	}
	fputs("\n}\n", out);
	return 0;
}

int st_render(FILE *out, int fmt, const struct st_meta *m, const struct st_table *t, const struct st_strtab *s,
	      const struct st_col *cols, size_t ncols)
{
	struct rowplan p;
	int rc;

	if (plan_rows(t, m->limit, &p))
		return RS_ENOMEM;
	if (fmt == ST_FMT_CSV)
		rc = render_csv(out, m, t, s, cols, ncols, &p);
	else if (fmt == ST_FMT_JSON)
		rc = render_json(out, m, t, s, cols, ncols, &p);
	else
		rc = render_table(out, m, t, s, cols, ncols, &p);
	plan_free(&p);
	if (rc == 0 && ferror(out))
		rc = RS_EIO;
	return rc;
}
