/* stats_disc.c — discovered names and collateral alarms (see stats_disc.h). */
#include "stats_disc.h"

#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "order.h"
#include "rs_err.h"
#include "stats_out.h"
#include "text.h"

/* ---- fields ---- */

static void note_bad(struct sd_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen)
{
	char key[32];
	size_t o;

	if (d->malformed++ > 0)
		return;
	st_hour_key(h, key, sizeof(key));
	o = (size_t)snprintf(d->first_bad, sizeof(d->first_bad), "hour %s, field '", key);
	for (size_t i = 0; i < flen && o + 40 < sizeof(d->first_bad); i++)
		d->first_bad[o++] = field[i] > ' ' && field[i] < 0x7f ? field[i] : '?';
	o += (size_t)snprintf(d->first_bad + o, sizeof(d->first_bad) - o, "' = '");
	for (size_t i = 0; i < vlen && o + 3 < sizeof(d->first_bad); i++)
		d->first_bad[o++] = value[i] > ' ' && value[i] < 0x7f ? value[i] : '?';
	snprintf(d->first_bad + o, sizeof(d->first_bad) - o, "'");
}

int sd_data_add(struct sd_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen,
		const char *order)
{
	struct rs_disc_field fl;
	struct sd_rec r;
	uint64_t count;

	if (rs_disc_field_parse(field, flen, &fl) || st_count_parse(value, vlen, &count)) {
		note_bad(d, h, field, flen, value, vlen);
		return RS_EINVAL;
	}
	if (count == 0 || (order && strcmp(order, fl.order) != 0))
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct sd_rec *p = realloc(d->rec, cap * sizeof(*p));
		if (!p)
			return RS_ENOMEM;
		d->rec = p;
		d->cap = cap;
	}
	r.hour = h;
	r.count = count;
	{ /* the collateral unit, as the module counts it: the registrable domain (rs_disc_base) */
		uint8_t wire[RS_WIRE_MAX];
		char base[RS_DISC_NAME_MAX + 1];
		int wl = rs_disc_name_parse(fl.name, strlen(fl.name), wire);
		size_t off = wl > 0 ? rs_disc_base(wire, (size_t)wl) : 0;
		size_t bl = wl > 0 ? rs_disc_name(wire + off, (size_t)wl - off, base) : 0;
		if (bl == 0) /* unreachable: rs_disc_field_parse accepted the name */
			snprintf(base, sizeof(base), "%s", fl.name), bl = strlen(base);
		if (st_intern(&d->str, base, bl, &r.base))
			return RS_ENOMEM;
	}
	if (st_intern(&d->str, fl.name, strlen(fl.name), &r.name) ||
	    st_intern(&d->str, fl.order, strlen(fl.order), &r.order) ||
	    st_intern(&d->str, fl.prefix, strlen(fl.prefix), &r.prefix))
		return RS_ENOMEM;
	d->rec[d->n++] = r;
	return 0;
}

void sd_data_free(struct sd_data *d)
{
	for (uint32_t i = 0; i < d->str.n; i++)
		free(d->str.s[i]);
	free(d->str.s);
	free(d->str.slot);
	free(d->rec);
	memset(d, 0, sizeof(*d));
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- discovered ---- */

static const struct st_strtab *sort_str; /* for the comparators (one thread) */

static int cmp_by_key(const void *a, const void *b)
{
	const struct sd_rec *x = a, *y = b;

	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct sd_row *x = a, *y = b;
	int c;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if ((c = strcmp(st_str(sort_str, x->name), st_str(sort_str, y->name))))
		return c;
	if ((c = strcmp(st_str(sort_str, x->order), st_str(sort_str, y->order))))
		return c;
	return strcmp(st_str(sort_str, x->prefix), st_str(sort_str, y->prefix));
}

int sd_discovered(const struct sd_data *d, struct sd_row **rows, size_t *n)
{
	struct sd_rec *r = malloc((d->n + 1) * sizeof(*r));
	struct sd_row *out = malloc((d->n + 1) * sizeof(*out));
	size_t k = 0;

	*rows = NULL;
	*n = 0;
	if (!r || !out) {
		free(r);
		free(out);
		return RS_ENOMEM;
	}
	if (d->n) /* d->rec is NULL when nothing was read */
		memcpy(r, d->rec, d->n * sizeof(*r));
	qsort(r, d->n, sizeof(*r), cmp_by_key);
	for (size_t i = 0; i < d->n; i++) {
		struct sd_row *o = k ? &out[k - 1] : NULL;
		if (o && o->name == r[i].name && o->order == r[i].order && o->prefix == r[i].prefix) {
			o->replies = sat_add(o->replies, r[i].count);
			if (r[i].hour != o->last) /* sorted by hour within a key */
				o->hours++;
			o->last = r[i].hour;
			continue;
		}
		out[k++] = (struct sd_row){ r[i].name, r[i].order, r[i].prefix, r[i].count, r[i].hour, r[i].hour, 1 };
	}
	free(r);
	sort_str = &d->str;
	qsort(out, k, sizeof(*out), cmp_rows);
	*rows = out;
	*n = k;
	return 0;
}

/* ---- collateral ---- */

static int cmp_by_prefix(const void *a, const void *b)
{
	const struct sd_rec *x = a, *y = b;

	if (x->hour != y->hour)
		return x->hour < y->hour ? -1 : 1;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_coll(const void *a, const void *b)
{
	const struct sd_coll *x = a, *y = b;

	if (x->hour != y->hour)
		return x->hour < y->hour ? -1 : 1;
	if (x->domains != y->domains)
		return x->domains > y->domains ? -1 : 1;
	if (x->names != y->names)
		return x->names > y->names ? -1 : 1;
	return strcmp(st_str(sort_str, x->prefix), st_str(sort_str, y->prefix));
}

int sd_collateral(const struct sd_data *d, uint64_t threshold, struct sd_coll **rows, size_t *n)
{
	struct sd_rec *r = malloc((d->n + 1) * sizeof(*r));
	struct sd_coll *out = malloc((d->n + 1) * sizeof(*out));
	size_t k = 0;

	*rows = NULL;
	*n = 0;
	if (!r || !out) {
		free(r);
		free(out);
		return RS_ENOMEM;
	}
	if (d->n) /* d->rec is NULL when nothing was read */
		memcpy(r, d->rec, d->n * sizeof(*r));
	qsort(r, d->n, sizeof(*r), cmp_by_prefix);
	for (size_t i = 0; i < d->n;) {
		struct sd_coll c = { .hour = r[i].hour, .prefix = r[i].prefix };
		uint32_t *ords = NULL;
		size_t j = i, nords = 0;
		for (; j < d->n && r[j].hour == c.hour && r[j].prefix == c.prefix; j++) {
			bool seen = false;
			if (j == i || r[j].base != r[j - 1].base)
				c.domains++;
			if (j == i || r[j].name != r[j - 1].name)
				c.names++;
			c.replies = sat_add(c.replies, r[j].count);
			for (size_t q = 0; q < nords && !seen; q++)
				seen = ords[q] == r[j].order;
			if (!seen) {
				uint32_t *no = realloc(ords, (nords + 1) * sizeof(*no));
				if (!no) {
					free(ords);
					free(r);
					free(out);
					return RS_ENOMEM;
				}
				ords = no;
				ords[nords++] = r[j].order;
			}
		}
		free(ords);
		c.orders = (uint32_t)nords;
		if (c.domains > threshold)
			out[k++] = c;
		i = j;
	}
	free(r);
	sort_str = &d->str;
	qsort(out, k, sizeof(*out), cmp_coll);
	*rows = out;
	*n = k;
	return 0;
}

/* ---- output ---- */

static void json_s(FILE *out, const char *s)
{
	struct rs_buf b = { 0 };

	rs_buf_json(&b, s);
	fputs(b.oom || !b.s ? "\"\"" : b.s, out);
	free(b.s);
}

/* A CSV field that a spreadsheet never runs as a formula (order ids are free text). */
static void csv_text(FILE *out, const char *s)
{
	if (s[0] && strchr("=+-@", s[0])) {
		char *g = malloc(strlen(s) + 2);
		if (g) {
			g[0] = '\'';
			strcpy(g + 1, s);
			st_csv_field(out, g);
			free(g);
			return;
		}
	}
	st_csv_field(out, s);
}

static void json_head(FILE *out, const char *command, const struct sd_meta *m)
{
	char a[32], b[32];

	st_hour_iso(m->w.h0, a, sizeof(a));
	st_hour_iso(m->w.h1, b, sizeof(b));
	fprintf(out, "{\"command\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"order\":", command, a, b);
	if (m->order)
		json_s(out, m->order);
	else
		fputs("null", out);
	fprintf(out, ",\"malformed\":%zu", m->malformed);
}

int sd_render_discovered(FILE *out, int fmt, const struct sd_meta *m, const struct sd_data *d,
			 const struct sd_row *rows, size_t n)
{
	const struct st_strtab *s = &d->str;
	char f1[32], f2[32];

	if (fmt == ST_FMT_JSON) {
		json_head(out, "discovered", m);
		fputs(",\"rows\":[", out);
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].first, f1, sizeof(f1));
			st_hour_iso(rows[i].last, f2, sizeof(f2));
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_s(out, st_str(s, rows[i].name));
			fputs(",\"order\":", out);
			json_s(out, st_str(s, rows[i].order));
			fprintf(out, ",\"prefix\":\"%s\",\"replies\":%llu,\"first_hour\":\"%s\",\"last_hour\":\"%s\","
				     "\"hours\":%u}",
				st_str(s, rows[i].prefix), (unsigned long long)rows[i].replies, f1, f2, rows[i].hours);
		}
		fputs("]}\n", out);
	} else if (fmt == ST_FMT_CSV) {
		fputs("name,order,prefix,replies,first_hour,last_hour,hours\r\n", out);
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].first, f1, sizeof(f1));
			st_hour_iso(rows[i].last, f2, sizeof(f2));
			st_csv_field(out, st_str(s, rows[i].name));
			fputc(',', out);
			csv_text(out, st_str(s, rows[i].order));
			fprintf(out, ",%s,%llu,%s,%s,%u\r\n", st_str(s, rows[i].prefix),
				(unsigned long long)rows[i].replies, f1, f2, rows[i].hours);
		}
	} else {
		size_t w[3] = { 4, 5, 6 };
		char a[32], b[32];
		st_hour_iso(m->w.h0, a, sizeof(a));
		st_hour_iso(m->w.h1, b, sizeof(b));
		fprintf(out, "Names discovered by address triggers, %s to %s%s%s (%zu)\n", a, b,
			m->order ? ", order " : "", m->order ? m->order : "", n);
		for (size_t i = 0; i < n; i++) {
			size_t l[3] = { strlen(st_str(s, rows[i].name)), strlen(st_str(s, rows[i].order)),
					strlen(st_str(s, rows[i].prefix)) };
			for (int k = 0; k < 3; k++)
				if (l[k] > w[k])
					w[k] = l[k];
		}
		fprintf(out, "%-*s  %-*s  %-*s  %12s  %-20s  %-20s  %s\n", (int)w[0], "NAME", (int)w[1], "ORDER",
			(int)w[2], "PREFIX", "REPLIES", "FIRST HOUR", "LAST HOUR", "HOURS");
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].first, f1, sizeof(f1));
			st_hour_iso(rows[i].last, f2, sizeof(f2));
			/* names and order ids are printable ASCII (checked when read): safe on a terminal */
			fprintf(out, "%-*s  %-*s  %-*s  %12llu  %-20s  %-20s  %u\n", (int)w[0], st_str(s, rows[i].name),
				(int)w[1], st_str(s, rows[i].order), (int)w[2], st_str(s, rows[i].prefix),
				(unsigned long long)rows[i].replies, f1, f2, rows[i].hours);
		}
		if (m->malformed)
			fprintf(out, "(%zu malformed fields skipped)\n", m->malformed);
	}
	return ferror(out) ? RS_EIO : 0;
}

int sd_render_collateral(FILE *out, int fmt, const struct sd_meta *m, const struct sd_data *d,
			 const struct sd_coll *rows, size_t n)
{
	const struct st_strtab *s = &d->str;
	char h[32];

	if (fmt == ST_FMT_JSON) {
		json_head(out, "collateral", m);
		fprintf(out, ",\"threshold\":%llu,\"rows\":[", (unsigned long long)m->threshold);
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].hour, h, sizeof(h));
			fprintf(out,
				"%s{\"hour\":\"%s\",\"prefix\":\"%s\",\"domains\":%u,\"names\":%u,\"orders\":%u,"
				"\"replies\":%llu}",
				i ? "," : "", h, st_str(s, rows[i].prefix), rows[i].domains, rows[i].names, rows[i].orders,
				(unsigned long long)rows[i].replies);
		}
		fputs("]}\n", out);
	} else if (fmt == ST_FMT_CSV) {
		fputs("hour,prefix,domains,names,orders,replies\r\n", out);
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].hour, h, sizeof(h));
			fprintf(out, "%s,%s,%u,%u,%u,%llu\r\n", h, st_str(s, rows[i].prefix), rows[i].domains,
				rows[i].names, rows[i].orders, (unsigned long long)rows[i].replies);
		}
	} else {
		char a[32], b[32];
		st_hour_iso(m->w.h0, a, sizeof(a));
		st_hour_iso(m->w.h1, b, sizeof(b));
		fprintf(out, "Prefixes that blocked names of more than %llu distinct registrable domains in an hour "
			     "(the module's collateral unit: rand1.pirate.example and rand2.pirate.example count once), "
			     "%s to %s (%zu)\n",
			(unsigned long long)m->threshold, a, b, n);
		fprintf(out, "%-20s  %-43s  %8s  %8s  %6s  %12s\n", "HOUR", "PREFIX", "DOMAINS", "NAMES", "ORDERS",
			"REPLIES");
		for (size_t i = 0; i < n; i++) {
			st_hour_iso(rows[i].hour, h, sizeof(h));
			fprintf(out, "%-20s  %-43s  %8u  %8u  %6u  %12llu\n", h, st_str(s, rows[i].prefix),
				rows[i].domains, rows[i].names, rows[i].orders, (unsigned long long)rows[i].replies);
		}
		if (m->malformed)
			fprintf(out, "(%zu malformed fields skipped)\n", m->malformed);
	}
	return ferror(out) ? RS_EIO : 0;
}
