/* warnd_page.c — loading templates, choosing one, rendering a page (see warnd_page.h). */
#include "warnd_page.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_name.h"
#include "rs_err.h"

const char *const wd_placeholders[] = { "domain", "listed", "order", "authority", "reference", "issued",
					"expires", "reason", "reason_lang", "url", "scope", "lang",
					"unavailable", "prefix", "signer", "signer_key", NULL };

static const char *const prefix_of[2] = { "", "neutral-" };

/* Is s[0..n) a language tag as a file name gives it: an ISO 639 code of 2
 * or 3 letters, then alphanumeric subtags of 1-8 ("ko", "pt-br", "zh-hant")?
 * Other .html files (README.html) are not templates. */
static bool tag_ok(const char *s, size_t n)
{
	size_t sub = 0, first = 0;

	if (n == 0 || n > WD_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '-') {
			if (sub == 0)
				return false;
			if (first == 0)
				first = sub;
			sub = 0;
		} else if (!isalnum((unsigned char)s[i]) || ++sub > 8 || (first == 0 && !isalpha((unsigned char)s[i]))) {
			return false;
		}
	}
	if (first == 0)
		first = sub;
	return sub > 0 && first >= 2 && first <= 3;
}

/* Read the template file path into *out. */
static int read_template(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > WD_TEMPLATE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d octets", path, WD_TEMPLATE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return RS_ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "file shrank while read");
			goto fail;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (strlen(buf) != got) {
		snprintf(err, errlen, "%s: NUL octet in template", path);
		goto fail;
	}
	if (!wd_utf8_valid(buf, got)) {
		snprintf(err, errlen, "%s: not valid UTF-8", path);
		goto fail;
	}
	close(fd);
	*out = buf;
	return 0;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return RS_ECONF;
}

static struct wd_tmpl *slot(struct wd_templates *ts, const char *lang, size_t len)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strlen(ts->t[i].lang) == len && memcmp(ts->t[i].lang, lang, len) == 0)
			return &ts->t[i];
	if (ts->n == WD_LANGS_MAX)
		return NULL;
	memset(&ts->t[ts->n], 0, sizeof(ts->t[0]));
	memcpy(ts->t[ts->n].lang, lang, len);
	ts->t[ts->n].lang[len] = '\0';
	return &ts->t[ts->n++];
}

int wd_templates_load(const char *dir, const char *def_lang, struct wd_templates *out, char *err, size_t errlen)
{
	struct wd_templates ts = { 0 };
	struct dirent *de;
	DIR *d;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "template directory %s: %s", dir, strerror(errno));
		return RS_ECONF;
	}
	ts.dir = strdup(dir);
	ts.t = calloc(WD_LANGS_MAX, sizeof(*ts.t));
	if (!ts.dir || !ts.t) {
		snprintf(err, errlen, "out of memory");
		rc = RS_ENOMEM;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name, *lang;
		size_t n = strlen(name), llen;
		int kind = strncmp(name, "neutral-", 8) == 0 ? WD_PAGE_NEUTRAL : WD_PAGE_BLOCKED;
		char path[4096], low[WD_TAG_MAX + 1];
		struct wd_tmpl *t;

		if (n < 6 || strcmp(name + n - 5, ".html") != 0 || name[0] == '.')
			continue;
		lang = name + strlen(prefix_of[kind]);
		llen = (size_t)(name + n - 5 - lang);
		if (!tag_ok(lang, llen))
			continue; /* not a template: README.html, etc. */
		for (size_t i = 0; i < llen; i++)
			low[i] = (char)tolower((unsigned char)lang[i]);
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
			snprintf(err, errlen, "%s/%s: path too long", dir, name);
			rc = RS_ECONF;
			goto out;
		}
		t = slot(&ts, low, llen);
		if (!t) {
			snprintf(err, errlen, "%s: more than %d languages", dir, WD_LANGS_MAX);
			rc = RS_ECONF;
			goto out;
		}
		free(t->page[kind]);
		t->page[kind] = NULL;
		rc = read_template(path, &t->page[kind], err, errlen);
		if (rc)
			goto out;
	}
	ts.def = wd_templates_find(&ts, def_lang, strlen(def_lang), WD_PAGE_BLOCKED);
	if (!ts.def || !ts.def->page[WD_PAGE_NEUTRAL]) {
		snprintf(err, errlen, "%s: the default language '%s' needs both %s.html and neutral-%s.html", dir,
			 def_lang, def_lang, def_lang);
		rc = RS_ECONF;
		goto out;
	}
out:
	closedir(d);
	if (rc) {
		wd_templates_free(&ts);
		return rc;
	}
	*out = ts;
	return 0;
}

void wd_templates_free(struct wd_templates *ts)
{
	for (size_t i = 0; ts->t && i < ts->n; i++) {
		free(ts->t[i].page[0]);
		free(ts->t[i].page[1]);
	}
	free(ts->t);
	free(ts->dir);
	memset(ts, 0, sizeof(*ts));
}

const struct wd_tmpl *wd_templates_find(const struct wd_templates *ts, const char *lang, size_t len,
					enum wd_page_kind kind)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strlen(ts->t[i].lang) == len && strncasecmp(ts->t[i].lang, lang, len) == 0)
			return ts->t[i].page[kind] ? &ts->t[i] : NULL;
	return NULL;
}

struct find_arg {
	const struct wd_templates *ts;
	enum wd_page_kind kind;
};

static const char *find_lang(const char *tag, size_t len, void *arg)
{
	const struct find_arg *fa = arg;
	const struct wd_tmpl *t = wd_templates_find(fa->ts, tag, len, fa->kind);

	return t ? t->lang : NULL;
}

const struct wd_tmpl *wd_templates_choose(const struct wd_templates *ts, enum wd_page_kind kind,
					  const char *accept_language, const char *country)
{
	struct find_arg fa = { ts, kind };
	const char *lang = wd_lang_choose(accept_language, country, find_lang, &fa, ts->def->lang);
	const struct wd_tmpl *t = wd_templates_find(ts, lang, strlen(lang), kind);

	return t ? t : ts->def;
}

/* ---- rendering ---- */

struct render {
	const char *name[20];
	const char *raw[20];      /* values as given ("" for NULL) */
	struct rs_buf esc[20];    /* HTML-escaped values */
	size_t n;
};

static void put(struct render *r, const char *name, const char *v)
{
	r->name[r->n] = name;
	r->raw[r->n] = v ? v : "";
	r->n++;
}

static int lookup_index(const struct render *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->name[i]) == len && memcmp(r->name[i], name, len) == 0)
			return (int)i;
	return -1;
}

static bool nonempty(const char *name, size_t len, void *arg)
{
	const struct render *r = arg;
	int i = lookup_index(r, name, len);

	return i >= 0 && r->raw[i][0] != '\0';
}

static const char *lookup(const char *name, size_t len, void *arg)
{
	struct render *r = arg;
	int i = lookup_index(r, name, len);

	if (i < 0)
		return NULL; /* not a placeholder (CSS, a brace in text): copied as it is */
	return r->esc[i].s ? r->esc[i].s : "";
}

/*
 * Every value a page shows, by placeholder name, as given: the one list both
 * the renderer and the cache key (wd_page_cached) are made of, so a value
 * added here is part of the key by construction. {domain} and {listed} are
 * shown through ctl_name_display by the renderer (a function of the name).
 */
static void collect(struct render *r, const struct wd_tmpl *t, const struct wd_page_vals *v)
{
	put(r, "domain", v->domain);
	put(r, "listed", v->listed);
	put(r, "order", v->order);
	put(r, "authority", v->authority);
	put(r, "reference", v->reference);
	put(r, "issued", v->issued);
	put(r, "expires", v->expires);
	put(r, "reason", v->reason);
	put(r, "reason_lang", v->reason_lang);
	put(r, "url", v->url);
	put(r, "scope", v->scope);
	put(r, "lang", t->lang);
	put(r, "unavailable", v->unavailable);
	put(r, "prefix", v->prefix);
	put(r, "signer", v->signer);
	put(r, "signer_key", v->signer_key);
}

int wd_page_render(const struct wd_tmpl *t, enum wd_page_kind kind, const struct wd_page_vals *v,
		   struct rs_buf *out)
{
	struct render r = { .n = 0 };
	struct rs_buf body = { 0 };
	char domain[CTL_DNAME_MAX], listed[CTL_DNAME_MAX];
	int rc;

	collect(&r, t, v);
	/* internationalised names as the user typed them, with the stored A-label
	 * form beside them: "münchen.example (xn--mnchen-3ya.example)" */
	if (v->domain)
		r.raw[lookup_index(&r, "domain", 6)] = ctl_name_display(v->domain, domain, sizeof(domain));
	if (v->listed)
		r.raw[lookup_index(&r, "listed", 6)] = ctl_name_display(v->listed, listed, sizeof(listed));
	for (size_t i = 0; i < r.n; i++)
		wd_html_escape(&r.esc[i], r.raw[i], strlen(r.raw[i]));
	rc = wd_template_sections(&body, t->page[kind], nonempty, &r);
	if (rc == 0)
		rc = rs_template_expand(out, body.s, lookup, &r);
	for (size_t i = 0; i < r.n; i++) {
		if (r.esc[i].oom)
			rc = RS_ENOMEM;
		free(r.esc[i].s);
	}
	free(body.s);
	return rc;
}

/* ---- the rendered-page cache ---- */

struct cache_slot {
	uint64_t hash, used; /* used: the cache's clock at the last hit, 0 when empty */
	char *key, *body;
	size_t klen, blen;
};

struct wd_page_cache {
	struct cache_slot slot[WD_CACHE_SLOTS];
	struct rs_buf key;  /* the key being looked up (kept: no allocation per page) */
	struct rs_buf page; /* a page rendered but not kept (too big, or no memory) */
	uint64_t clock, hits, misses;
};

struct wd_page_cache *wd_page_cache_new(void)
{
	return calloc(1, sizeof(struct wd_page_cache));
}

void wd_page_cache_clear(struct wd_page_cache *c)
{
	for (size_t i = 0; i < WD_CACHE_SLOTS; i++) {
		free(c->slot[i].key);
		free(c->slot[i].body);
		memset(&c->slot[i], 0, sizeof(c->slot[i]));
	}
}

void wd_page_cache_free(struct wd_page_cache *c)
{
	if (!c)
		return;
	wd_page_cache_clear(c);
	free(c->key.s);
	free(c->page.s);
	free(c);
}

void wd_page_cache_stats(const struct wd_page_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}

/* A 64-bit hash of s[0..n), 8 octets at a time (not keyed: a collision costs
 * a comparison of the keys, never a wrong page). */
static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

int wd_page_cached(struct wd_page_cache *c, const struct wd_tmpl *t, enum wd_page_kind kind,
		   const struct wd_page_vals *v, const char **body, size_t *len)
{
	struct render r = { .n = 0 };
	struct cache_slot *s, *victim;
	uint64_t h;
	size_t i;
	uint8_t k = (uint8_t)kind;

	/* the key: the template (its identity: the cache is cleared when the
	 * templates are replaced), the kind, and every value with its length */
	collect(&r, t, v);
	c->key.len = 0;
	c->key.oom = false;
	rs_buf_add(&c->key, (const char *)&t, sizeof(t));
	rs_buf_add(&c->key, (const char *)&k, 1);
	for (i = 0; i < r.n; i++) {
		uint32_t n = (uint32_t)strlen(r.raw[i]);
		rs_buf_add(&c->key, (const char *)&n, sizeof(n));
		rs_buf_add(&c->key, r.raw[i], n);
	}
	if (c->key.oom)
		return RS_ENOMEM;
	h = hash(c->key.s, c->key.len);
	/* two ways: the slot of the hash and its neighbour */
	i = (size_t)(h % WD_CACHE_SLOTS) & ~(size_t)1;
	c->clock++;
	for (size_t w = 0; w < 2; w++) {
		s = &c->slot[i + w];
		if (s->used && s->hash == h && s->klen == c->key.len && memcmp(s->key, c->key.s, s->klen) == 0) {
			s->used = c->clock;
			c->hits++;
			*body = s->body;
			*len = s->blen;
			return 0;
		}
	}
	c->misses++;
	c->page.len = 0;
	c->page.oom = false;
	if (wd_page_render(t, kind, v, &c->page) != 0 || c->page.oom)
		return RS_ENOMEM;
	*body = c->page.s;
	*len = c->page.len;
	if (c->page.len > WD_CACHE_BODY_MAX)
		return 0; /* served, not kept */
	victim = c->slot[i].used <= c->slot[i + 1].used ? &c->slot[i] : &c->slot[i + 1];
	free(victim->key);
	free(victim->body);
	memset(victim, 0, sizeof(*victim));
	victim->key = malloc(c->key.len);
	victim->body = malloc(c->page.len + 1);
	if (!victim->key || !victim->body) {
		free(victim->key);
		free(victim->body);
		memset(victim, 0, sizeof(*victim));
		return 0; /* served, not kept */
	}
	memcpy(victim->key, c->key.s, c->key.len);
	memcpy(victim->body, c->page.s, c->page.len + 1);
	victim->klen = c->key.len;
	victim->blen = c->page.len;
	victim->hash = h;
	victim->used = c->clock;
	*body = victim->body;
	return 0;
}
