/* ctl_safety.c — protected-list index, public suffixes, protected prefixes, a string map (see ctl_safety.h). */
#include "ctl_safety.h"

#include <libpsl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"
#include "rs_err.h"

/* ---- string map: open addressing, keys copied ---- */

struct ctl_strmap {
	char **keys;
	void **values;
	size_t n, size; /* size: power of two */
};

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h ^ (h >> 31);
}

struct ctl_strmap *ctl_strmap_new(void)
{
	struct ctl_strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->size = 64;
	m->keys = calloc(m->size, sizeof(*m->keys));
	m->values = calloc(m->size, sizeof(*m->values));
	if (!m->keys || !m->values) {
		ctl_strmap_free(m);
		return NULL;
	}
	return m;
}

void ctl_strmap_free(struct ctl_strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->keys && i < m->size; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->values);
	free(m);
}

static size_t slot(const struct ctl_strmap *m, const char *key)
{
	size_t i = hash(key) & (m->size - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->size - 1);
	return i;
}

static int grow(struct ctl_strmap *m)
{
	struct ctl_strmap n = { 0 };

	n.size = m->size * 2;
	n.keys = calloc(n.size, sizeof(*n.keys));
	n.values = calloc(n.size, sizeof(*n.values));
	if (!n.keys || !n.values) {
		free(n.keys);
		free(n.values);
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < m->size; i++)
		if (m->keys[i]) {
			size_t j = slot(&n, m->keys[i]);
			n.keys[j] = m->keys[i];
			n.values[j] = m->values[i];
		}
	free(m->keys);
	free(m->values);
	m->keys = n.keys;
	m->values = n.values;
	m->size = n.size;
	return 0;
}

int ctl_strmap_put(struct ctl_strmap *m, const char *key, void *value)
{
	size_t i;

	if ((m->n + 1) * 2 > m->size && grow(m))
		return RS_ENOMEM;
	i = slot(m, key);
	if (m->keys[i])
		return 0;
	m->keys[i] = strdup(key);
	if (!m->keys[i])
		return RS_ENOMEM;
	m->values[i] = value;
	m->n++;
	return 1;
}

void *ctl_strmap_get(const struct ctl_strmap *m, const char *key, bool *found)
{
	size_t i = slot(m, key);

	if (found)
		*found = m->keys[i] != NULL;
	return m->keys[i] ? m->values[i] : NULL;
}

size_t ctl_strmap_count(const struct ctl_strmap *m)
{
	return m->n;
}

void ctl_strmap_each(const struct ctl_strmap *m, void (*fn)(void *arg, const char *key, void *value), void *arg)
{
	for (size_t i = 0; i < m->size; i++)
		if (m->keys[i])
			fn(arg, m->keys[i], m->values[i]);
}

/* ---- the protected index ---- */

int ctl_prot_init(struct ctl_prot *p)
{
	memset(p, 0, sizeof(*p));
	p->names = ctl_strmap_new();
	p->parents = ctl_strmap_new();
	if (!p->names || !p->parents) {
		ctl_prot_free(p);
		return RS_ENOMEM;
	}
	return 0;
}

void ctl_prot_free(struct ctl_prot *p)
{
	ctl_strmap_free(p->names);
	ctl_strmap_free(p->parents);
	memset(p, 0, sizeof(*p));
}

int ctl_prot_add(struct ctl_prot *p, const char *name)
{
	int rc = ctl_strmap_put(p->names, name, NULL);
	const char *stored;

	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0;
	p->n++;
	/* the value of a parent points at the map's copy of the protected name */
	stored = p->names->keys[slot(p->names, name)];
	for (const char *d = strchr(name, '.'); d; d = strchr(d + 1, '.'))
		if (ctl_strmap_put(p->parents, d + 1, (void *)stored) < 0)
			return RS_ENOMEM;
	return 0;
}

int ctl_prot_check(const struct ctl_prot *p, const char *name, const char **which)
{
	bool found;
	void *v;

	*which = NULL;
	if (p->n == 0)
		return CTL_PROT_NONE;
	if (ctl_strmap_get(p->names, name, &found), found) {
		*which = name;
		return CTL_PROT_SAME;
	}
	for (const char *d = strchr(name, '.'); d; d = strchr(d + 1, '.')) {
		(void)ctl_strmap_get(p->names, d + 1, &found);
		if (found) {
			*which = d + 1;
			return CTL_PROT_BELOW;
		}
	}
	v = ctl_strmap_get(p->parents, name, &found);
	if (found) {
		*which = v;
		return CTL_PROT_PARENT;
	}
	return CTL_PROT_NONE;
}

/* ---- public suffixes ---- */

const struct psl_ctx_st *ctl_psl_open(const char *file, char *err, size_t errlen)
{
	psl_ctx_t *psl = file ? psl_load_file(file) : psl_latest(NULL);

	if (!psl)
		psl = file ? NULL : (psl_ctx_t *)psl_builtin();
	if (!psl)
		snprintf(err, errlen, "cannot load the public suffix list%s%s", file ? " " : "", file ? file : "");
	return psl;
}

void ctl_psl_close(const struct psl_ctx_st *psl)
{
	if (psl && psl != psl_builtin())
		psl_free((psl_ctx_t *)psl);
}

bool ctl_is_public_suffix(const struct psl_ctx_st *psl, const char *name)
{
	if (!strchr(name, '.'))
		return true; /* a top-level domain, listed or not */
	return psl_is_public_suffix2(psl, name, PSL_TYPE_ANY) != 0;
}

/* ---- address prefixes ---- */

void ctl_pprot_init(struct ctl_pprot *pp)
{
	memset(pp, 0, sizeof(*pp));
}

int ctl_pprot_add(struct ctl_pprot *pp, const struct rs_prefix *p, const char *text)
{
	char *copy;

	if (pp->n == pp->cap) {
		size_t cap = pp->cap ? pp->cap * 2 : 64;
		struct rs_prefix *v = realloc(pp->v, cap * sizeof(*v));
		char **t;
		if (!v)
			return RS_ENOMEM;
		pp->v = v;
		t = realloc(pp->text, cap * sizeof(*t));
		if (!t)
			return RS_ENOMEM;
		pp->text = t;
		pp->cap = cap;
	}
	if (!(copy = strdup(text)))
		return RS_ENOMEM;
	pp->v[pp->n] = *p;
	pp->text[pp->n++] = copy;
	return 0;
}

long ctl_pprot_check(const struct ctl_pprot *pp, const struct rs_prefix *p)
{
	for (size_t i = 0; i < pp->n; i++)
		if (rs_prefix_overlaps(&pp->v[i], p))
			return (long)i;
	return -1;
}

void ctl_pprot_free(struct ctl_pprot *pp)
{
	for (size_t i = 0; i < pp->n; i++)
		free(pp->text[i]);
	free(pp->text);
	free(pp->v);
	memset(pp, 0, sizeof(*pp));
}

bool ctl_prefix_too_short(const struct rs_prefix *p)
{
	return p->len < (p->family == 4 ? CTL_PREFIX_MIN4 : CTL_PREFIX_MIN6);
}

size_t ctl_collateral_parse(const char *s, struct ctl_collat *out, size_t max, size_t *bad)
{
	size_t n = 0;

	*bad = 0;
	while (s && *s) {
		const char *t, *eq;
		size_t len;
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		t = s;
		len = strcspn(t, " ");
		s += len;
		eq = memchr(t, '=', len);
		if (eq && n < max) {
			size_t pl = (size_t)(eq - t), dl = len - pl - 1;
			char text[RS_PREFIX_TEXT_MAX], canon[RS_PREFIX_TEXT_MAX];
			struct rs_prefix p;
			if (pl > 0 && pl < sizeof(text) && dl > 0 && dl <= 15 && strspn(eq + 1, "0123456789") >= dl) {
				memcpy(text, t, pl);
				text[pl] = '\0';
				if (rs_prefix_parse(text, &p, NULL, 0) == 0 && rs_prefix_format(&p, canon, sizeof(canon)) &&
				    strcmp(canon, text) == 0) {
					snprintf(out[n].prefix, sizeof(out[n].prefix), "%s", canon);
					out[n].names = strtoull(eq + 1, NULL, 10);
					n++;
					continue;
				}
			}
		}
		(*bad)++;
	}
	return n;
}
