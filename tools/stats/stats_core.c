/*
 * stats_core.c — windows, counter fields, regions, aggregation and privacy
 * suppression for redsink-stats (see stats_core.h). Pure: no Redis, no I/O.
 */
#define _GNU_SOURCE /* qsort_r */
#include "stats_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "name.h"
#include "prefix.h"
#include "order.h"
#include "rs_err.h"

/* ---- time ---- */

/* Floor division (hours before 1970 round down too). */
static int64_t fdiv(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void hour_tm(int64_t h, struct tm *tm)
{
	time_t t = (time_t)(h * 3600);

	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

void st_hour_key(int64_t h, char *buf, size_t len)
{
	struct tm tm;

	hour_tm(h, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

void st_hour_iso(int64_t h, char *buf, size_t len)
{
	struct tm tm;

	hour_tm(h, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:00:00Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour);
}

void st_day_label(int64_t h, char *buf, size_t len)
{
	struct tm tm;

	hour_tm(h, &tm);
	snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int st_parse_time(const char *s, bool is_end, int64_t *hour)
{
	int64_t t;

	if (!s || rs_rfc3339_parse(s, &t))
		return RS_EINVAL;
	if (strlen(s) == 10) { /* a plain date: the whole day */
		*hour = fdiv(t, 3600) + (is_end ? 24 : 0);
		return 0;
	}
	if (is_end) {
		/* rs_rfc3339_parse drops fractions of a second: an end a fraction
		 * past the hour still reaches into the next hour. */
		const char *frac = strchr(s, '.');
		if (frac && frac[1 + strspn(frac + 1, "0")] >= '1' && frac[1 + strspn(frac + 1, "0")] <= '9')
			t++;
		*hour = -fdiv(-t, 3600);
	} else {
		*hour = fdiv(t, 3600);
	}
	return 0;
}

int st_parse_last(const char *s, int64_t *hours)
{
	char *end;
	long long n;

	if (!s || *s < '0' || *s > '9')
		return RS_EINVAL;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0' || n <= 0)
		return RS_EINVAL;
	if (*end == 'd' && n <= ST_WINDOW_MAX_HOURS / 24)
		n *= 24;
	else if (*end != 'h')
		return RS_EINVAL;
	if (n > ST_WINDOW_MAX_HOURS)
		return RS_EINVAL;
	*hours = n;
	return 0;
}

int st_window_resolve(const char *from, const char *to, const char *last, int64_t now, struct st_window *w,
		      char *err, size_t errlen)
{
	int64_t len = 7 * 24;

	if (from && last) {
		snprintf(err, errlen, "--from and --last cannot be used together");
		return RS_EINVAL;
	}
	if (last && st_parse_last(last, &len)) {
		snprintf(err, errlen, "--last '%s': expected a number of hours or days (24h, 7d, 30d), at most %d days",
			 last, ST_WINDOW_MAX_HOURS / 24);
		return RS_EINVAL;
	}
	if (to) {
		if (st_parse_time(to, true, &w->h1)) {
			snprintf(err, errlen, "--to '%s': expected an RFC 3339 time (2026-11-28T19:00:00Z) or a date (2026-11-28)", to);
			return RS_EINVAL;
		}
	} else {
		w->h1 = fdiv(now, 3600) + 1;
	}
	if (from) {
		if (st_parse_time(from, false, &w->h0)) {
			snprintf(err, errlen, "--from '%s': expected an RFC 3339 time (2026-11-28T19:00:00Z) or a date (2026-11-28)", from);
			return RS_EINVAL;
		}
	} else {
		w->h0 = w->h1 - len;
	}
	if (w->h0 >= w->h1) {
		snprintf(err, errlen, "empty window: the start (--from) must be before the end (--to)");
		return RS_EINVAL;
	}
	if (w->h1 - w->h0 > ST_WINDOW_MAX_HOURS) {
		snprintf(err, errlen, "window of %lld hours is longer than %d days", (long long)(w->h1 - w->h0),
			 ST_WINDOW_MAX_HOURS / 24);
		return RS_EINVAL;
	}
	return 0;
}

/* ---- regions ---- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

int st_region_norm(const char *in, size_t len, char out[ST_REGION_MAX])
{
	if (len != 2 && (len < 4 || len > 6))
		return RS_EINVAL;
	if (!is_alpha(in[0]) || !is_alpha(in[1]))
		return RS_EINVAL;
	if (len > 2 && in[2] != '-')
		return RS_EINVAL;
	for (size_t i = 3; i < len; i++)
		if (!is_alnum(in[i]))
			return RS_EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = upper(in[i]);
	out[len] = '\0';
	return 0;
}

void st_region_country(const char *region, char out[3])
{
	out[0] = region[0];
	out[1] = region[0] ? region[1] : '\0';
	out[2] = '\0';
}

bool st_region_match(const char *pattern, const char *region)
{
	if (pattern[0] && pattern[1] && pattern[2] == '\0')
		return region[0] == pattern[0] && region[1] == pattern[1] && (region[2] == '\0' || region[2] == '-');
	return strcmp(pattern, region) == 0;
}

/* ---- counter fields ---- */

int st_field_parse(const char *f, size_t len, struct st_field *out)
{
	const char *p1 = memchr(f, '|', len), *p2, *end = f + len;
	size_t olen, dlen;
	int n;

	if (!p1)
		return RS_EINVAL;
	p2 = memchr(p1 + 1, '|', (size_t)(end - p1 - 1));
	if (!p2 || memchr(p2 + 1, '|', (size_t)(end - p2 - 1)))
		return RS_EINVAL;
	olen = (size_t)(p1 - f);
	if (olen == 0 || olen > RS_ORDER_ID_MAX)
		return RS_EINVAL;
	for (size_t i = 0; i < olen; i++)
		if (f[i] <= ' ' || f[i] >= 0x7f)
			return RS_EINVAL;
	memcpy(out->order, f, olen);
	out->order[olen] = '\0';
	dlen = (size_t)(p2 - p1 - 1);
	if (dlen > RS_NAME_MAX + 1 || memchr(p1 + 1, '\0', dlen))
		return RS_EINVAL;
	n = rs_name_canon(p1 + 1, dlen, out->domain);
	if (n < 0) {
		/* an address-triggered hit: the canonical prefix in the domain position */
		struct rs_prefix p;
		char text[RS_PREFIX_TEXT_MAX];
		if (dlen >= sizeof(text))
			return RS_EINVAL;
		memcpy(text, p1 + 1, dlen);
		text[dlen] = '\0';
		if (rs_prefix_parse(text, &p, NULL, 0) != 0 || !rs_prefix_format(&p, out->domain, sizeof(out->domain)) ||
		    strcmp(out->domain, text) != 0)
			return RS_EINVAL;
	}
	return st_region_norm(p2 + 1, (size_t)(end - p2 - 1), out->region);
}

int st_count_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return RS_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return RS_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return RS_EINVAL;
	*out = v;
	return 0;
}

/* ---- interned strings ---- */

static uint32_t str_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int strtab_grow(struct st_strtab *t)
{
	uint32_t nslot = t->nslot ? t->nslot * 2 : 64;
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return RS_ENOMEM;
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = str_hash(t->s[id], strlen(t->s[id])) & (nslot - 1);
		while (slot[i])
			i = (i + 1) & (nslot - 1);
		slot[i] = id + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

int st_intern(struct st_strtab *t, const char *s, size_t len, uint32_t *id)
{
	uint32_t i;
	char *copy;

	if ((uint64_t)(t->n + 1) * 2 > t->nslot && strtab_grow(t))
		return RS_ENOMEM;
	for (i = str_hash(s, len) & (t->nslot - 1); t->slot[i]; i = (i + 1) & (t->nslot - 1)) {
		const char *c = t->s[t->slot[i] - 1];
		if (strncmp(c, s, len) == 0 && c[len] == '\0') {
			*id = t->slot[i] - 1;
			return 0;
		}
	}
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		char **p = realloc(t->s, cap * sizeof(*p));
		if (!p)
			return RS_ENOMEM;
		t->s = p;
		t->cap = cap;
	}
	copy = strndup(s, len);
	if (!copy)
		return RS_ENOMEM;
	t->s[t->n] = copy;
	t->slot[i] = t->n + 1;
	*id = t->n++;
	return 0;
}

const char *st_str(const struct st_strtab *t, uint32_t id)
{
	return id < t->n ? t->s[id] : "";
}

static void strtab_free(struct st_strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ---- records ---- */

static void note_bad(struct st_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen)
{
	char key[32];
	size_t o;

	if (d->malformed++ > 0)
		return;
	st_hour_key(h, key, sizeof(key));
	o = (size_t)snprintf(d->first_bad, sizeof(d->first_bad), "hour %s, field '", key);
	/* Only printable ASCII of the field and value, shortened. */
	for (size_t i = 0; i < flen && o + 40 < sizeof(d->first_bad); i++)
		d->first_bad[o++] = field[i] > ' ' && field[i] < 0x7f ? field[i] : '?';
	o += (size_t)snprintf(d->first_bad + o, sizeof(d->first_bad) - o, "' = '");
	for (size_t i = 0; i < vlen && o + 3 < sizeof(d->first_bad); i++)
		d->first_bad[o++] = value[i] > ' ' && value[i] < 0x7f ? value[i] : '?';
	snprintf(d->first_bad + o, sizeof(d->first_bad) - o, "'");
}

int st_data_add(struct st_data *d, int64_t h, const char *field, size_t flen, const char *value, size_t vlen,
		const struct st_filter *f)
{
	struct st_field fl;
	struct st_rec r;
	char country[3];
	uint64_t count;

	if (st_field_parse(field, flen, &fl) || st_count_parse(value, vlen, &count)) {
		note_bad(d, h, field, flen, value, vlen);
		return RS_EINVAL;
	}
	if (count == 0)
		return 0;
	if (f && ((f->order && strcmp(f->order, fl.order) != 0) || (f->domain && strcmp(f->domain, fl.domain) != 0) ||
		  (f->region && !st_region_match(f->region, fl.region))))
		return 0;
	st_region_country(fl.region, country);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct st_rec *p = realloc(d->rec, cap * sizeof(*p));
		if (!p)
			return RS_ENOMEM;
		d->rec = p;
		d->cap = cap;
	}
	r.hour = h;
	r.count = count;
	if (st_intern(&d->str, fl.order, strlen(fl.order), &r.order) ||
	    st_intern(&d->str, fl.domain, strlen(fl.domain), &r.domain) ||
	    st_intern(&d->str, fl.region, strlen(fl.region), &r.region) ||
	    st_intern(&d->str, country, strlen(country), &r.country))
		return RS_ENOMEM;
	d->rec[d->n++] = r;
	return 0;
}

void st_data_free(struct st_data *d)
{
	strtab_free(&d->str);
	free(d->rec);
	memset(d, 0, sizeof(*d));
}

/* ---- aggregation ---- */

static const char *const dim_names[] = { "", "order", "domain", "region", "country" };

const char *st_dim_name(int dim)
{
	return dim > ST_D_NONE && dim <= ST_D_COUNTRY ? dim_names[dim] : "";
}

int st_dim_parse(const char *s)
{
	for (int i = ST_D_ORDER; i <= ST_D_COUNTRY; i++)
		if (strcmp(s, dim_names[i]) == 0)
			return i;
	return ST_D_NONE;
}

int64_t st_bucket(int64_t h, int gran)
{
	return gran == ST_G_DAY ? fdiv(h, 24) * 24 : h;
}

static uint32_t rec_dim(const struct st_rec *r, int dim)
{
	switch (dim) {
	case ST_D_ORDER: return r->order;
	case ST_D_DOMAIN: return r->domain;
	case ST_D_REGION: return r->region;
	case ST_D_COUNTRY: return r->country;
	}
	return ST_NONE;
}

static uint64_t cell_hash(int64_t t, const uint32_t k[ST_DIMS])
{
	uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < ST_DIMS; i++)
		h = (h ^ k[i]) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

struct cellmap {
	size_t *slot; /* cell index + 1, 0 = empty */
	size_t nslot;
};

static int cellmap_grow(struct cellmap *m, const struct st_table *t)
{
	size_t nslot = m->nslot ? m->nslot * 2 : 256;
	size_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return RS_ENOMEM;
	for (size_t c = 0; c < t->n; c++) {
		size_t i = cell_hash(t->c[c].t, t->c[c].k) & (nslot - 1);
		while (slot[i])
			i = (i + 1) & (nslot - 1);
		slot[i] = c + 1;
	}
	free(m->slot);
	m->slot = slot;
	m->nslot = nslot;
	return 0;
}

/* The cell for (tb, k), created with count 0 if new; NULL when out of memory. */
static struct st_cell *cell_get(struct cellmap *m, struct st_table *t, int64_t tb, const uint32_t k[ST_DIMS])
{
	size_t i;

	if ((t->n + 1) * 2 > m->nslot && cellmap_grow(m, t))
		return NULL;
	for (i = cell_hash(tb, k) & (m->nslot - 1); m->slot[i]; i = (i + 1) & (m->nslot - 1)) {
		struct st_cell *c = &t->c[m->slot[i] - 1];
		if (c->t == tb && memcmp(c->k, k, sizeof(c->k)) == 0)
			return c;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct st_cell *p = realloc(t->c, cap * sizeof(*p));
		if (!p)
			return NULL;
		t->c = p;
		t->cap = cap;
	}
	t->c[t->n] = (struct st_cell){ .t = tb, .count = 0, .supp = ST_SHOWN };
	memcpy(t->c[t->n].k, k, sizeof(t->c[t->n].k));
	m->slot[i] = t->n + 1;
	return &t->c[t->n++];
}

int st_aggregate(const struct st_data *d, const struct st_window *w, const struct st_spec *spec, struct st_table *t)
{
	struct cellmap m = { NULL, 0 };
	uint32_t k[ST_DIMS];

	memset(t, 0, sizeof(*t));
	t->spec = *spec;
	if (spec->gran && spec->fill && spec->dim[0] == ST_D_NONE) {
		int64_t step = spec->gran == ST_G_DAY ? 24 : 1;
		for (int i = 0; i < ST_DIMS; i++)
			k[i] = ST_NONE;
		int64_t end = spec->fill_to && spec->fill_to < w->h1 ? spec->fill_to : w->h1;
		for (int64_t b = st_bucket(w->h0, spec->gran); b < end; b += step)
			if (!cell_get(&m, t, b, k))
				goto oom;
	}
	for (size_t r = 0; r < d->n; r++) {
		const struct st_rec *rec = &d->rec[r];
		struct st_cell *c;
		bool end = false;
		if (rec->hour < w->h0 || rec->hour >= w->h1)
			continue;
		for (int i = 0; i < ST_DIMS; i++) {
			end = end || spec->dim[i] == ST_D_NONE;
			k[i] = end ? ST_NONE : rec_dim(rec, spec->dim[i]);
		}
		c = cell_get(&m, t, spec->gran ? st_bucket(rec->hour, spec->gran) : 0, k);
		if (!c)
			goto oom;
		c->count += rec->count;
	}
	free(m.slot);
	return 0;
oom:
	free(m.slot);
	st_table_free(t);
	return RS_ENOMEM;
}

void st_table_free(struct st_table *t)
{
	free(t->c);
	memset(t, 0, sizeof(*t));
}

/* ---- ordering ---- */

static int cmp_names(const struct st_cell *a, const struct st_cell *b, int from, int to,
		     const struct st_strtab *s)
{
	for (int i = from; i < to; i++) {
		int r;
		if (a->k[i] == b->k[i])
			continue;
		r = strcmp(st_str(s, a->k[i]), st_str(s, b->k[i]));
		if (r)
			return r;
	}
	return 0;
}

static int cmp_time_names(const struct st_cell *a, const struct st_cell *b, const struct st_strtab *s)
{
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return cmp_names(a, b, 0, ST_DIMS, s);
}

struct sortctx {
	const struct st_strtab *s;
	int group;
};

static int cmp_time(const void *x, const void *y, void *arg)
{
	const struct sortctx *ctx = arg;

	return cmp_time_names(x, y, ctx->s);
}

static int cmp_rank(const void *x, const void *y, void *arg)
{
	const struct sortctx *ctx = arg;
	const struct st_cell *a = x, *b = y;
	int r = cmp_names(a, b, 0, ctx->group, ctx->s);

	if (r)
		return r;
	if ((a->supp != ST_SHOWN) != (b->supp != ST_SHOWN))
		return a->supp != ST_SHOWN ? 1 : -1;
	if (a->supp == ST_SHOWN && a->count != b->count)
		return a->count > b->count ? -1 : 1;
	r = cmp_names(a, b, ctx->group, ST_DIMS, ctx->s);
	if (r)
		return r;
	return a->t != b->t ? (a->t < b->t ? -1 : 1) : 0;
}

static int cmp_group(const void *x, const void *y, void *arg)
{
	const struct sortctx *ctx = arg;
	int r = cmp_names(x, y, 0, ctx->group, ctx->s);

	return r ? r : cmp_time_names(x, y, ctx->s);
}

void st_sort_time(struct st_table *t, const struct st_strtab *s)
{
	struct sortctx ctx = { s, 0 };

	if (t->n > 1)
		qsort_r(t->c, t->n, sizeof(*t->c), cmp_time, &ctx);
}

void st_sort_rank(struct st_table *t, const struct st_strtab *s)
{
	struct sortctx ctx = { s, t->spec.group };

	if (t->n > 1)
		qsort_r(t->c, t->n, sizeof(*t->c), cmp_rank, &ctx);
}

/* ---- suppression ---- */

void st_suppress(struct st_table *t, uint64_t min, const struct st_strtab *s)
{
	struct sortctx ctx = { s, t->spec.group };
	size_t g0 = 0;

	t->min_count = min;
	t->n_min = t->n_compl = 0;
	t->total_shown = 0;
	for (size_t i = 0; i < t->n; i++)
		t->c[i].supp = t->c[i].count > 0 && t->c[i].count < min ? ST_SUPP_MIN : ST_SHOWN;
	/* Cells of a group next to each other, in a fixed order (ties below). */
	if (t->spec.group > 0 && t->n > 1)
		qsort_r(t->c, t->n, sizeof(*t->c), cmp_group, &ctx);
	while (g0 < t->n) {
		size_t g1 = g0 + 1, nmin = 0;
		struct st_cell *best = NULL;
		while (g1 < t->n && cmp_names(&t->c[g0], &t->c[g1], 0, t->spec.group, s) == 0)
			g1++;
		for (size_t i = g0; i < g1; i++)
			nmin += t->c[i].supp == ST_SUPP_MIN;
		if (nmin == 1) {
			for (size_t i = g0; i < g1; i++) {
				struct st_cell *c = &t->c[i];
				if (c->supp != ST_SHOWN || c->count == 0)
					continue;
				if (!best || c->count < best->count ||
				    (c->count == best->count && cmp_time_names(c, best, s) < 0))
					best = c;
			}
			if (best)
				best->supp = ST_SUPP_COMPL;
		}
		g0 = g1;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (t->c[i].supp == ST_SHOWN)
			t->total_shown += t->c[i].count;
		else if (t->c[i].supp == ST_SUPP_MIN)
			t->n_min++;
		else
			t->n_compl++;
	}
}

/* ---- the finest table ---- */

enum { FD_HOUR, FD_DAY, FD_ORDER, FD_DOMAIN, FD_REGION, FD_COUNTRY, FD_N };

/* Region id -> country id, from the records (ST_NONE for other strings). */
static uint32_t *country_map(const struct st_data *d)
{
	uint32_t *m = malloc(((size_t)d->str.n + 1) * sizeof(*m));

	if (!m)
		return NULL;
	for (uint32_t i = 0; i <= d->str.n; i++)
		m[i] = ST_NONE;
	for (size_t r = 0; r < d->n; r++)
		m[d->rec[r].region] = d->rec[r].country;
	return m;
}

/* The entry of hour cell c in breakdown fd (a number to compare). */
static int64_t fine_key(const struct st_cell *c, int fd, const uint32_t *ctry)
{
	switch (fd) {
	case FD_HOUR: return c->t;
	case FD_DAY: return st_bucket(c->t, ST_G_DAY);
	case FD_ORDER: return c->k[0];
	case FD_DOMAIN: return c->k[1];
	case FD_REGION: return c->k[2];
	}
	return ctry[c->k[2]];
}

/*
 * One pass of complementary suppression over breakdown fd: when every
 * withheld cell falls in one entry, withhold the smallest shown cell outside
 * it. true when a cell was withheld.
 */
static bool complement_pass(struct st_table *t, int fd, const uint32_t *ctry, const struct st_strtab *s)
{
	struct st_cell *best = NULL;
	bool any = false;
	int64_t entry = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->c[i].supp == ST_SHOWN || t->c[i].count == 0)
			continue;
		if (any && fine_key(&t->c[i], fd, ctry) != entry)
			return false; /* two entries or more: nothing to do */
		entry = fine_key(&t->c[i], fd, ctry);
		any = true;
	}
	if (!any)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		struct st_cell *c = &t->c[i];
		if (c->supp != ST_SHOWN || c->count == 0 || fine_key(c, fd, ctry) == entry)
			continue;
		if (!best || c->count < best->count || (c->count == best->count && cmp_time_names(c, best, s) < 0))
			best = c;
	}
	if (!best)
		return false; /* the breakdown has a single entry: its total is the grand total */
	best->supp = ST_SUPP_COMPL;
	return true;
}

int st_fine_build(const struct st_data *d, const struct st_window *w, uint64_t min, struct st_table *fine)
{
	struct st_spec sp = { .gran = ST_G_HOUR, .dim = { ST_D_ORDER, ST_D_DOMAIN, ST_D_REGION } };
	uint32_t *ctry;
	bool changed;

	if (st_aggregate(d, w, &sp, fine))
		return RS_ENOMEM;
	ctry = country_map(d);
	if (!ctry) {
		st_table_free(fine);
		return RS_ENOMEM;
	}
	fine->min_count = min;
	for (size_t i = 0; i < fine->n; i++)
		fine->c[i].supp = fine->c[i].count > 0 && fine->c[i].count < min ? ST_SUPP_MIN : ST_SHOWN;
	/* Each pass only adds withheld cells, so this ends (at worst all withheld). */
	do {
		changed = false;
		for (int fd = 0; fd < FD_N; fd++)
			changed |= complement_pass(fine, fd, ctry, &d->str);
	} while (changed);
	fine->total_shown = 0;
	for (size_t i = 0; i < fine->n; i++) {
		if (fine->c[i].supp == ST_SHOWN)
			fine->total_shown += fine->c[i].count;
		else if (fine->c[i].supp == ST_SUPP_MIN)
			fine->n_min++;
		else
			fine->n_compl++;
	}
	fine->fine_min = fine->n_min;
	fine->fine_compl = fine->n_compl;
	free(ctry);
	return 0;
}

int st_derive(const struct st_table *fine, const struct st_data *d, const struct st_filter *f,
	      const struct st_window *w, const struct st_spec *spec, struct st_table *t)
{
	struct cellmap m = { NULL, 0 };
	uint32_t k[ST_DIMS];
	uint8_t *has_min = NULL; /* per output cell: a withheld hour cell below the minimum */
	size_t hm_cap = 0;
	uint32_t *ctry = country_map(d);

	memset(t, 0, sizeof(*t));
	t->spec = *spec;
	t->min_count = fine->min_count;
	if (!ctry)
		return RS_ENOMEM;
	if (spec->gran && spec->fill && spec->dim[0] == ST_D_NONE) {
		int64_t step = spec->gran == ST_G_DAY ? 24 : 1;
		int64_t end = spec->fill_to && spec->fill_to < w->h1 ? spec->fill_to : w->h1;
		for (int i = 0; i < ST_DIMS; i++)
			k[i] = ST_NONE;
		for (int64_t b = st_bucket(w->h0, spec->gran); b < end; b += step)
			if (!cell_get(&m, t, b, k))
				goto oom;
	}
	for (size_t i = 0; i < fine->n; i++) {
		const struct st_cell *fc = &fine->c[i];
		const char *order = st_str(&d->str, fc->k[0]), *region = st_str(&d->str, fc->k[2]);
		struct st_cell *c;
		bool end = false;
		size_t ci;
		if (fc->t < w->h0 || fc->t >= w->h1 || fc->count == 0)
			continue;
		if (f && ((f->order && strcmp(f->order, order) != 0) ||
			  (f->domain && strcmp(f->domain, st_str(&d->str, fc->k[1])) != 0) ||
			  (f->region && !st_region_match(f->region, region))))
			continue;
		for (int j = 0; j < ST_DIMS; j++) {
			end = end || spec->dim[j] == ST_D_NONE;
			if (end)
				k[j] = ST_NONE;
			else if (spec->dim[j] == ST_D_COUNTRY)
				k[j] = ctry[fc->k[2]];
			else
				k[j] = fc->k[spec->dim[j] - ST_D_ORDER];
		}
		c = cell_get(&m, t, spec->gran ? st_bucket(fc->t, spec->gran) : 0, k);
		if (!c)
			goto oom;
		ci = (size_t)(c - t->c);
		if (ci >= hm_cap) {
			uint8_t *p = realloc(has_min, t->cap);
			if (!p)
				goto oom;
			memset(p + hm_cap, 0, t->cap - hm_cap);
			has_min = p;
			hm_cap = t->cap;
		}
		if (fc->supp == ST_SHOWN) {
			c->count += fc->count;
		} else {
			c->withheld++;
			if (fc->supp == ST_SUPP_MIN) {
				has_min[ci] = 1;
				t->fine_min++;
			} else {
				t->fine_compl++;
			}
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		struct st_cell *c = &t->c[i];
		if (c->count == 0 && c->withheld)
			c->supp = i < hm_cap && has_min[i] ? ST_SUPP_MIN : ST_SUPP_COMPL;
		if (c->supp == ST_SHOWN)
			t->total_shown += c->count;
		else if (c->supp == ST_SUPP_MIN)
			t->n_min++;
		else
			t->n_compl++;
	}
	free(has_min);
	free(ctry);
	free(m.slot);
	return 0;
oom:
	free(has_min);
	free(ctry);
	free(m.slot);
	st_table_free(t);
	return RS_ENOMEM;
}
