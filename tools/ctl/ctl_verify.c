/*
 * ctl_verify.c — `redsink-ctl verify`: an offline audit of the signed
 * orders (issue 14, doc/signing.md), of a Redis or of an export.
 *
 * For every order in force (`orders`, or the orders of an `export --json`
 * file) it checks: a manifest is there; its key is trusted (--trusted FILE
 * with redsink.conf's trusted-key: / revoked-key: lines, or --key) and not
 * revoked; the signature verifies; it is this order's; its fields are the
 * order hash's; its state is the order's (active: in force); its set digests
 * and counts are those of order:<id>:domains and order:<id>:ips as they are.
 * From a Redis it also walks the `op=signed` entries still in the `changes`
 * stream for each order: each verifies, versions go up by one, each prev is
 * the SHA-256 of the text before it, and the last is the manifest stored.
 * From a Redis, the protected set too (doc/signing.md, "The signed protected
 * set"): protected-manifest signed by a protect-key (--trusted FILE's
 * protect-key: lines, or --key), stating the protected names and prefixes as
 * they are, and its op=signed-protected chain; reported as "(protected set)".
 *
 * Nothing is written. Exit 0 when every order verifies, 1 when any check
 * fails (each failure named: order, check, detail).
 */
#include <err.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_input.h"
#include "ctl_name.h"
#include "ctl_sign.h"
#include "order.h"
#include "rs_err.h"

static const char verify_usage[] =
	"Usage: redsink-ctl verify [--trusted FILE] [--key PUBKEY]... [--from-export FILE] [--json]\n"
	"\n"
	"Check every order in force against the authorities' keys, offline: its\n"
	"manifest is signed by a trusted key that is not revoked, the signature\n"
	"verifies, and the manifest states the order as it is (fields, state, the\n"
	"digests of its names and address prefixes); from a Redis, the signed\n"
	"versions still in the change stream also form an unbroken chain (each\n"
	"version +1, each prev the SHA-256 of the one before, the last one stored).\n"
	"Nothing is written.\n"
	"\n"
	"  --trusted FILE      trusted-key:, protect-key: and revoked-key: lines, as in\n"
	"                      redsink.conf (other directives are ignored): give the\n"
	"                      resolvers' file. From a Redis the signed protected set\n"
	"                      (protected-manifest) is checked too, against protect-key:\n"
	"  --key PUBKEY        a trusted key, ed25519:BASE64 or LABEL=ed25519:BASE64\n"
	"                      (repeatable)\n"
	"  --from-export FILE  check an 'export --json' file instead of Redis ('-':\n"
	"                      standard input); no chain check\n"
	"  --json              the report as one JSON object\n"
	"\n"
	"Exit status: 0 every order verifies, 1 a check failed (or an error), 2 usage.\n";

enum { O_V_TRUSTED = 960, O_V_KEY, O_V_EXPORT, O_V_JSON }; /* below the common options (1000..) */

/* ---- the result of one order ---- */

struct vres {
	char *id;
	bool has_manifest;
	uint64_t version;
	char key[RS_KEYID_LEN + 1];
	int64_t signed_at;
	size_t nchain; /* signed entries seen in the stream */
	char **fail;   /* "check: detail" */
	size_t nfail;
};

static void vfail(struct vres *v, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void vfail(struct vres *v, const char *check, const char *fmt, ...)
{
	char detail[900], *s;
	va_list ap;
	char **nv;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	s = malloc(strlen(check) + strlen(detail) + 3);
	if (!s)
		errx(CTL_EXIT_ERROR, "out of memory");
	sprintf(s, "%s: %s", check, detail);
	nv = realloc(v->fail, (v->nfail + 1) * sizeof(*nv));
	if (!nv)
		errx(CTL_EXIT_ERROR, "out of memory");
	v->fail = nv;
	v->fail[v->nfail++] = s;
}

/* What an order is, as read from Redis or an export. */
struct vorder {
	const char *id;
	const char *field[RS_MANIFEST_NFIELDS]; /* "" unset */
	bool in_force;
	char names_hex[65], prefixes_hex[65];
	size_t names, prefixes;
};

/* The key and signature of a text signed with key id keyid. NULL ok, else what failed (check name in *check). */
static const char *check_sig(const struct ctl_trust *tr, const char *keyid, const char *text, size_t len,
			     const char *sig, const char **check, bool prot)
{
	const struct rs_pubkey *k = ctl_trust_find(tr, keyid);

	if (ctl_trust_revoked(tr, keyid)) {
		*check = "revoked";
		return "signed by a revoked key";
	}
	if (!k || !(rs_key_roles(k) & (prot ? RS_KEY_PROTECT : RS_KEY_ORDERS))) {
		*check = "key";
		return prot ? "signed by a key that is not a trusted protect-key" : "signed by a key that is not trusted";
	}
	if (rs_sig_verify(k, text, len, sig)) {
		*check = "signature";
		return "the signature does not verify";
	}
	return NULL;
}

static void check_order(const struct ctl_trust *tr, const struct vorder *o, const struct ctl_manifest *mf,
			struct vres *v)
{
	const struct rs_manifest *m = mf->m;
	const char *check, *why;

	if (!mf->present) {
		vfail(v, "manifest", "no manifest (the order is not signed)");
		return;
	}
	v->has_manifest = true;
	if (!m) {
		vfail(v, "manifest", "%s", mf->err);
		return;
	}
	v->version = m->version;
	v->signed_at = m->signed_at;
	snprintf(v->key, sizeof(v->key), "%s", m->key);
	if (strcmp(m->order, o->id) != 0)
		vfail(v, "manifest", "it is the manifest of order '%s'", m->order);
	if (strcmp(m->key, mf->key) != 0)
		vfail(v, "key", "the manifest names key %s, the stored key field %s", m->key, mf->key);
	if ((why = check_sig(tr, m->key, mf->text, mf->len, mf->sig, &check, false)))
		vfail(v, check, "key %s: %s", m->key, why);
	for (int f = 0; f < RS_MANIFEST_NFIELDS; f++) {
		const char *signed_v = "";
		for (size_t i = 0; i < m->nfields; i++)
			if (strcmp(m->field_name[i], rs_manifest_fields[f]) == 0)
				signed_v = m->field_value[i];
		if (strcmp(signed_v, o->field[f]) != 0)
			vfail(v, "fields", "%s is '%.100s', signed '%.100s'", rs_manifest_fields[f], o->field[f], signed_v);
	}
	if (m->revoked == o->in_force)
		vfail(v, "state", "the order is %s, signed %s", o->in_force ? "in force" : "not in force",
		      m->revoked ? "revoked" : "active");
	if (m->names != o->names || strcmp(m->names_digest, o->names_hex) != 0)
		vfail(v, "names", "%zu names (digest %.16s...), signed %zu (digest %.16s...)", o->names, o->names_hex,
		      m->names, m->names_digest);
	if (m->prefixes != o->prefixes || strcmp(m->prefixes_digest, o->prefixes_hex) != 0)
		vfail(v, "prefixes", "%zu prefixes (digest %.16s...), signed %zu (digest %.16s...)", o->prefixes,
		      o->prefixes_hex, m->prefixes, m->prefixes_digest);
}

/* The protected set: its manifest against the sets as they are (o: names and prefixes only). */
static void check_protected(const struct ctl_trust *tr, const struct vorder *o, const struct ctl_manifest *mf,
			    struct vres *v)
{
	const struct rs_manifest *m = mf->m;
	const char *check, *why;

	if (!mf->present) {
		vfail(v, "manifest", "no manifest (protected-manifest): the protected set is not signed, resolvers "
		      "requiring signatures protect nothing");
		return;
	}
	v->has_manifest = true;
	if (!m) {
		vfail(v, "manifest", "%s", mf->err);
		return;
	}
	v->version = m->version;
	v->signed_at = m->signed_at;
	snprintf(v->key, sizeof(v->key), "%s", m->key);
	if (strcmp(m->order, RS_PROTECTED_ID) != 0 || m->nfields || m->revoked)
		vfail(v, "manifest", "not a protected set's manifest (order '%s', %zu fields, %s)", m->order, m->nfields,
		      m->revoked ? "revoked" : "active");
	if (strcmp(m->key, mf->key) != 0)
		vfail(v, "key", "the manifest names key %s, the stored key field %s", m->key, mf->key);
	if ((why = check_sig(tr, m->key, mf->text, mf->len, mf->sig, &check, true)))
		vfail(v, check, "key %s: %s", m->key, why);
	if (m->names != o->names || strcmp(m->names_digest, o->names_hex) != 0)
		vfail(v, "names", "%zu protected names (digest %.16s...), signed %zu (digest %.16s...)", o->names,
		      o->names_hex, m->names, m->names_digest);
	if (m->prefixes != o->prefixes || strcmp(m->prefixes_digest, o->prefixes_hex) != 0)
		vfail(v, "prefixes", "%zu protected prefixes (digest %.16s...), signed %zu (digest %.16s...)",
		      o->prefixes, o->prefixes_hex, m->prefixes, m->prefixes_digest);
}

static void digest_of(char *const *members, size_t n, char hex[65], size_t *count)
{
	struct rs_setdigest *d = rs_setdigest_new();

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (rs_setdigest_add(d, members[i], strlen(members[i])))
			errx(CTL_EXIT_ERROR, "out of memory");
	rs_setdigest_finish(d, hex, count);
}

/* ---- the chain in the stream ----
 *
 * The stream is read page by page and each op=signed entry is checked at once
 * against the previous one of its order: memory holds one text per order (the
 * last version seen) and its failures (at most CHAIN_FAIL_MAX), never the
 * whole stream; orders are found through a hash index (review of issue 14,
 * item 10: it kept every text and searched the orders linearly). */

#define CHAIN_FAIL_MAX 100
#define PROT_CHAIN " protected" /* the chain of op=signed-protected entries */

struct chain {
	char *order;
	char *text;         /* the last version parsed (NULL: none yet) */
	size_t len;
	uint64_t version;
	char id[48];        /* its entry */
	size_t n;           /* op=signed entries seen */
	char **fail;        /* details of the failed checks */
	size_t nfail, nmore;
};

struct chains {
	const struct ctl_trust *tr;
	struct chain *c;
	size_t n, cap;
	size_t *idx;        /* open addressing: chain index + 1, 0 empty */
	size_t idxcap;      /* a power of two, at least twice n */
};

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static void index_put(struct chains *cs, size_t i)
{
	size_t m = cs->idxcap - 1, h = hash_str(cs->c[i].order) & m;

	while (cs->idx[h])
		h = (h + 1) & m;
	cs->idx[h] = i + 1;
}

static struct chain *chain_find(const struct chains *cs, const char *order)
{
	size_t m, h;

	if (!cs->idxcap)
		return NULL;
	m = cs->idxcap - 1;
	for (h = hash_str(order) & m; cs->idx[h]; h = (h + 1) & m)
		if (strcmp(cs->c[cs->idx[h] - 1].order, order) == 0)
			return &cs->c[cs->idx[h] - 1];
	return NULL;
}

static struct chain *chain_of(struct chains *cs, const char *order)
{
	struct chain *c = chain_find(cs, order);

	if (c)
		return c;
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 16;
		struct chain *nv = realloc(cs->c, cs->cap * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		cs->c = nv;
	}
	if ((cs->n + 1) * 2 > cs->idxcap) {
		size_t cap = cs->idxcap ? cs->idxcap * 2 : 64;
		free(cs->idx);
		if (!(cs->idx = calloc(cap, sizeof(*cs->idx))))
			errx(CTL_EXIT_ERROR, "out of memory");
		cs->idxcap = cap;
		for (size_t i = 0; i < cs->n; i++)
			index_put(cs, i);
	}
	memset(&cs->c[cs->n], 0, sizeof(cs->c[0]));
	if (!(cs->c[cs->n].order = strdup(order)))
		errx(CTL_EXIT_ERROR, "out of memory");
	index_put(cs, cs->n);
	return &cs->c[cs->n++];
}

static void chains_free(struct chains *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->c[i].text);
		for (size_t j = 0; j < cs->c[i].nfail; j++)
			free(cs->c[i].fail[j]);
		free(cs->c[i].fail);
		free(cs->c[i].order);
	}
	free(cs->c);
	free(cs->idx);
}

static void cfail(struct chain *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfail(struct chain *c, const char *fmt, ...)
{
	char detail[900];
	va_list ap;
	char **nv;

	if (c->nfail >= CHAIN_FAIL_MAX) {
		c->nmore++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	nv = realloc(c->fail, (c->nfail + 1) * sizeof(*nv));
	if (!nv || !(nv[c->nfail] = strdup(detail)))
		errx(CTL_EXIT_ERROR, "out of memory");
	c->fail = nv;
	c->nfail++;
}

/* Check one op=signed entry against the previous version of its order. */
static void add_signed(struct chains *cs, const redisReply *e)
{
	const redisReply *f;
	const char *op = NULL, *order = NULL, *text = "", *sig = "", *key = "", *eid, *check, *why;
	size_t len = 0;
	struct chain *c;
	struct rs_manifest *m;
	char err[400], hex[65];
	bool prot = false;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	eid = e->element[0]->str;
	f = e->element[1];
	for (size_t j = 0; j + 1 < f->elements; j += 2) {
		const redisReply *k = f->element[j], *v = f->element[j + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "op") == 0)
			op = v->str;
		else if (strcmp(k->str, "order") == 0)
			order = v->str;
		else if (strcmp(k->str, "text") == 0)
			text = v->str, len = v->len;
		else if (strcmp(k->str, "sig") == 0)
			sig = v->str;
		else if (strcmp(k->str, "key") == 0)
			key = v->str;
	}
	if (op && strcmp(op, "signed-protected") == 0)
		order = PROT_CHAIN, prot = true; /* no order id has a space */
	else if (!op || strcmp(op, "signed") != 0 || !order)
		return;
	c = chain_of(cs, order);
	c->n++;
	if (rs_manifest_parse(text, len, &m, err, sizeof(err))) {
		cfail(c, "entry %.40s: %s", eid, err);
		return;
	}
	if (strcmp(m->order, prot ? RS_PROTECTED_ID : order) != 0)
		cfail(c, "entry %.40s: the manifest of order '%s'", eid, m->order);
	if (strcmp(m->key, key) != 0)
		cfail(c, "entry %.40s: the manifest names key %s, the entry %.40s", eid, m->key, key);
	if ((why = check_sig(cs->tr, m->key, text, len, sig, &check, prot)))
		cfail(c, "entry %.40s (version %llu): key %s: %s", eid, (unsigned long long)m->version, m->key, why);
	if (c->text) {
		rs_sha256_hex(c->text, c->len, hex);
		if (m->version != c->version + 1)
			cfail(c, "entry %.40s: version %llu follows version %llu", eid, (unsigned long long)m->version,
			      (unsigned long long)c->version);
		else if (strcmp(m->prev, hex) != 0)
			cfail(c, "entry %.40s (version %llu): prev is not the SHA-256 of version %llu", eid,
			      (unsigned long long)m->version, (unsigned long long)c->version);
	}
	free(c->text);
	if (!(c->text = malloc(len + 1)))
		errx(CTL_EXIT_ERROR, "out of memory");
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	c->len = len;
	c->version = m->version;
	snprintf(c->id, sizeof(c->id), "%s", eid);
	rs_manifest_free(m);
}

/* Every op=signed entry of the stream, checked per order in stream order. */
static int read_chains(struct ctl *x, struct chains *cs)
{
	char k[CTL_KEY_MAX], from[64] = "-";

	ctl_key(x, k, "changes");
	for (;;) {
		redisReply *r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s %s + COUNT 2000", k, from);
		const redisReply *last;
		size_t m;
		if (!r)
			return ctl_redis_failed(x);
		m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		for (size_t i = 0; i < m; i++)
			add_signed(cs, r->element[i]);
		last = m ? r->element[m - 1] : NULL;
		if (m < 2000 || last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
		    last->element[0]->type != REDIS_REPLY_STRING || strlen(last->element[0]->str) > 40) {
			freeReplyObject(r);
			return 0;
		}
		snprintf(from, sizeof(from), "(%s", last->element[0]->str);
		freeReplyObject(r);
	}
}

static void check_chain(const struct chain *c, const struct ctl_manifest *mf, struct vres *v)
{
	if (!c)
		return;
	v->nchain = c->n;
	for (size_t i = 0; i < c->nfail; i++)
		vfail(v, "chain", "%s", c->fail[i]);
	if (c->nmore)
		vfail(v, "chain", "%zu more failures of the chain not shown", c->nmore);
	if (c->text && mf->present && (c->len != mf->len || memcmp(c->text, mf->text, mf->len) != 0))
		vfail(v, "chain", "the stored manifest is not the last signed version in the stream (entry %s)", c->id);
}

/* ---- a minimal JSON reader, for export files ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype t;
	bool b;
	char *s; /* J_STR (NUL-terminated; len) */
	size_t len;
	struct jval *v; /* J_ARR: items; J_OBJ: values */
	char **k;       /* J_OBJ: keys */
	size_t n;
};

struct jp {
	const char *p, *end;
	char err[200];
};

static void jfree(struct jval *j)
{
	if (!j)
		return;
	free(j->s);
	for (size_t i = 0; i < j->n; i++) {
		jfree(&j->v[i]);
		if (j->k)
			free(j->k[i]);
	}
	free(j->v);
	free(j->k);
}

static void jws(struct jp *p)
{
	while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
		p->p++;
}

static int jbad(struct jp *p, const char *what)
{
	if (!p->err[0])
		snprintf(p->err, sizeof(p->err), "%s", what);
	return -1;
}

static void put_utf8(char *o, size_t *n, unsigned c)
{
	if (c < 0x80) {
		o[(*n)++] = (char)c;
	} else if (c < 0x800) {
		o[(*n)++] = (char)(0xc0 | (c >> 6));
		o[(*n)++] = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		o[(*n)++] = (char)(0xe0 | (c >> 12));
		o[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*n)++] = (char)(0x80 | (c & 0x3f));
	} else {
		o[(*n)++] = (char)(0xf0 | (c >> 18));
		o[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3f));
		o[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*n)++] = (char)(0x80 | (c & 0x3f));
	}
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (unsigned)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int jstr(struct jp *p, char **out, size_t *outlen)
{
	const char *q = ++p->p;
	size_t n = 0;
	char *o;

	while (q < p->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= p->end)
		return jbad(p, "unterminated string");
	o = malloc((size_t)(q - p->p) + 1);
	if (!o)
		errx(CTL_EXIT_ERROR, "out of memory");
	while (p->p < q) {
		char c = *p->p++;
		unsigned u, lo;
		if (c != '\\') {
			o[n++] = c;
			continue;
		}
		c = *p->p++;
		switch (c) {
		case 'n': o[n++] = '\n'; break;
		case 't': o[n++] = '\t'; break;
		case 'r': o[n++] = '\r'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case '/': case '\\': case '"': o[n++] = c; break;
		case 'u':
			if (q - p->p < 4 || hex4(p->p, &u)) {
				free(o);
				return jbad(p, "bad \\u escape");
			}
			p->p += 4;
			if (u >= 0xd800 && u < 0xdc00 && q - p->p >= 6 && p->p[0] == '\\' && p->p[1] == 'u' &&
			    !hex4(p->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				p->p += 6;
			}
			put_utf8(o, &n, u);
			break;
		default:
			free(o);
			return jbad(p, "bad escape");
		}
	}
	p->p = q + 1;
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
}

static int jvalue(struct jp *p, struct jval *j, int depth)
{
	memset(j, 0, sizeof(*j));
	jws(p);
	if (p->p >= p->end)
		return jbad(p, "unexpected end");
	if (depth > 64)
		return jbad(p, "nested too deeply");
	if (*p->p == '"') {
		j->t = J_STR;
		return jstr(p, &j->s, &j->len);
	}
	if (*p->p == '[' || *p->p == '{') {
		bool obj = *p->p == '{';
		size_t cap = 0;
		j->t = obj ? J_OBJ : J_ARR;
		p->p++;
		jws(p);
		if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
			p->p++;
			return 0;
		}
		for (;;) {
			char *key = NULL;
			size_t kl;
			if (j->n == cap) {
				cap = cap ? cap * 2 : 8;
				void *nv = realloc(j->v, cap * sizeof(*j->v));
				void *nk = obj ? realloc(j->k, cap * sizeof(*j->k)) : NULL;
				if (!nv || (obj && !nk))
					errx(CTL_EXIT_ERROR, "out of memory");
				j->v = nv;
				if (obj)
					j->k = nk;
			}
			if (obj) {
				jws(p);
				if (p->p >= p->end || *p->p != '"' || jstr(p, &key, &kl))
					return jbad(p, "expected a key");
				jws(p);
				if (p->p >= p->end || *p->p != ':') {
					free(key);
					return jbad(p, "expected ':'");
				}
				p->p++;
				j->k[j->n] = key;
			}
			if (jvalue(p, &j->v[j->n], depth + 1)) {
				j->n++;
				return -1;
			}
			j->n++;
			jws(p);
			if (p->p < p->end && *p->p == ',') {
				p->p++;
				continue;
			}
			if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
				p->p++;
				return 0;
			}
			return jbad(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	}
	if (p->end - p->p >= 4 && memcmp(p->p, "null", 4) == 0) {
		p->p += 4;
		return 0;
	}
	if (p->end - p->p >= 4 && memcmp(p->p, "true", 4) == 0) {
		j->t = J_BOOL;
		j->b = true;
		p->p += 4;
		return 0;
	}
	if (p->end - p->p >= 5 && memcmp(p->p, "false", 5) == 0) {
		j->t = J_BOOL;
		p->p += 5;
		return 0;
	}
	if (*p->p == '-' || (*p->p >= '0' && *p->p <= '9')) {
		j->t = J_NUM;
		while (p->p < p->end && strchr("+-0123456789.eE", *p->p))
			p->p++;
		return 0;
	}
	return jbad(p, "unexpected character");
}

static const struct jval *jget(const struct jval *o, const char *key)
{
	for (size_t i = 0; o && o->t == J_OBJ && i < o->n; i++)
		if (strcmp(o->k[i], key) == 0)
			return &o->v[i];
	return NULL;
}

static const char *jstr_of(const struct jval *v)
{
	return v && v->t == J_STR ? v->s : "";
}

/* ---- the command ---- */

struct verify {
	struct ctl *x;
	struct ctl_trust tr;
	const char *export_file;
	bool json;
	struct vres *res;
	size_t nres;
};

static struct vres *new_res(struct verify *vf, const char *id)
{
	struct vres *nv = realloc(vf->res, (vf->nres + 1) * sizeof(*nv));

	if (!nv)
		errx(CTL_EXIT_ERROR, "out of memory");
	vf->res = nv;
	memset(&nv[vf->nres], 0, sizeof(*nv));
	if (!(nv[vf->nres].id = strdup(id)))
		errx(CTL_EXIT_ERROR, "out of memory");
	return &nv[vf->nres++];
}

static int verify_redis(struct verify *vf)
{
	struct ctl *x = vf->x;
	struct chains cs = { .tr = &vf->tr };
	char k[CTL_KEY_MAX], **ids = NULL;
	size_t nids = 0;
	int ex;

	if ((ex = ctl_open(x)) || (ex = ctl_set_members(x, ctl_key(x, k, "orders"), &ids, &nids)))
		return ex;
	if ((ex = read_chains(x, &cs)))
		goto out;
	for (size_t i = 0; i < nids; i++) {
		struct ctl_order o;
		struct ctl_manifest mf;
		struct vorder vo = { .id = ids[i] };
		struct vres *v = new_res(vf, ids[i]);
		char **m;
		size_t n;
		if ((ex = ctl_order_load(x, ids[i], false, &o)))
			goto out;
		if ((ex = ctl_manifest_read(x, ids[i], &mf))) {
			ctl_order_clear(&o);
			goto out;
		}
		for (int f = 0; f < F_COUNT; f++)
			vo.field[f] = o.f[f];
		vo.field[F_COUNT] = o.windows;
		vo.in_force = o.in_force;
		if ((ex = ctl_set_members(x, ctl_key(x, k, "order:%s:domains", ids[i]), &m, &n)))
			goto next_fail;
		digest_of(m, n, vo.names_hex, &vo.names);
		ctl_free_strings(m, n);
		if ((ex = ctl_set_members(x, ctl_key(x, k, "order:%s:ips", ids[i]), &m, &n)))
			goto next_fail;
		digest_of(m, n, vo.prefixes_hex, &vo.prefixes);
		ctl_free_strings(m, n);
		check_order(&vf->tr, &vo, &mf, v);
		check_chain(chain_find(&cs, ids[i]), &mf, v);
		ctl_manifest_clear(&mf);
		ctl_order_clear(&o);
		continue;
next_fail:
		ctl_manifest_clear(&mf);
		ctl_order_clear(&o);
		goto out;
	}
	{
		/* the protected set: checked when it is signed or holds anything */
		struct ctl_manifest mf;
		struct vorder vo = { .id = RS_PROTECTED_ID };
		char **m;
		size_t n;
		if ((ex = ctl_protected_manifest_read(x, &mf)))
			goto out;
		if ((ex = ctl_set_members(x, ctl_key(x, k, "protected"), &m, &n))) {
			ctl_manifest_clear(&mf);
			goto out;
		}
		digest_of(m, n, vo.names_hex, &vo.names);
		ctl_free_strings(m, n);
		if ((ex = ctl_set_members(x, ctl_key(x, k, "protected-ips"), &m, &n))) {
			ctl_manifest_clear(&mf);
			goto out;
		}
		digest_of(m, n, vo.prefixes_hex, &vo.prefixes);
		ctl_free_strings(m, n);
		if (mf.present || vo.names || vo.prefixes) {
			struct vres *v = new_res(vf, "(protected set)");
			check_protected(&vf->tr, &vo, &mf, v);
			check_chain(chain_find(&cs, PROT_CHAIN), &mf, v);
		}
		ctl_manifest_clear(&mf);
	}
out:
	chains_free(&cs);
	ctl_free_strings(ids, nids);
	return ex;
}

static int verify_export(struct verify *vf)
{
	struct jval root;
	struct jp p = { 0 };
	const struct jval *orders, *prefixes;
	char *buf, err[600];
	size_t len;
	int ex = 0;

	if (ctl_read_file(vf->export_file, &buf, &len, err, sizeof(err))) {
		warnx("%s", err);
		return CTL_EXIT_ERROR;
	}
	p.p = buf;
	p.end = buf + len;
	if (jvalue(&p, &root, 0) || (jws(&p), p.p != p.end) || root.t != J_OBJ) {
		warnx("--from-export %s: not an 'export --json' file: %s", vf->export_file,
		      p.err[0] ? p.err : "text after the JSON object, or not an object");
		jfree(&root);
		free(buf);
		return CTL_EXIT_DATA;
	}
	free(buf);
	orders = jget(&root, "orders");
	prefixes = jget(&root, "prefixes");
	if (!orders || orders->t != J_ARR) {
		warnx("--from-export %s: no \"orders\" array: not an 'export --json' file", vf->export_file);
		jfree(&root);
		return CTL_EXIT_DATA;
	}
	for (size_t i = 0; i < orders->n; i++) {
		const struct jval *jo = &orders->v[i], *d = jget(jo, "domains"), *mj = jget(jo, "manifest");
		const struct jval *ips = jget(prefixes, jstr_of(jget(jo, "id")));
		struct vorder vo = { .id = jstr_of(jget(jo, "id")) };
		struct ctl_manifest mf = { 0 };
		struct vres *v = new_res(vf, vo.id);
		struct rs_setdigest *sd;
		for (int f = 0; f < RS_MANIFEST_NFIELDS; f++)
			vo.field[f] = jstr_of(jget(jo, rs_manifest_fields[f]));
		vo.in_force = strcmp(jstr_of(jget(jo, "state")), "revoked") != 0;
		if (!(sd = rs_setdigest_new()))
			errx(CTL_EXIT_ERROR, "out of memory");
		for (size_t j = 0; d && d->t == J_ARR && j < d->n; j++)
			if (d->v[j].t == J_STR && rs_setdigest_add(sd, d->v[j].s, d->v[j].len))
				errx(CTL_EXIT_ERROR, "out of memory");
		rs_setdigest_finish(sd, vo.names_hex, &vo.names);
		if (!(sd = rs_setdigest_new()))
			errx(CTL_EXIT_ERROR, "out of memory");
		for (size_t j = 0; ips && ips->t == J_ARR && j < ips->n; j++)
			if (ips->v[j].t == J_STR && rs_setdigest_add(sd, ips->v[j].s, ips->v[j].len))
				errx(CTL_EXIT_ERROR, "out of memory");
		rs_setdigest_finish(sd, vo.prefixes_hex, &vo.prefixes);
		if (mj && mj->t == J_OBJ) {
			const struct jval *t = jget(mj, "text");
			ctl_manifest_set(&mf, t && t->t == J_STR ? t->s : "", t && t->t == J_STR ? t->len : 0,
					 jstr_of(jget(mj, "sig")), jstr_of(jget(mj, "key")));
		}
		check_order(&vf->tr, &vo, &mf, v);
		ctl_manifest_clear(&mf);
	}
	jfree(&root);
	return ex;
}

static void report(const struct verify *vf, size_t nbad)
{
	char tb[32], who[160];

	if (vf->json) {
		printf("{\"source\":");
		ctl_json_str(stdout, vf->export_file ? vf->export_file : "redis");
		printf(",\"orders\":[");
		for (size_t i = 0; i < vf->nres; i++) {
			const struct vres *v = &vf->res[i];
			const struct rs_pubkey *k = v->key[0] ? ctl_trust_find(&vf->tr, v->key) : NULL;
			printf("%s{\"order\":", i ? "," : "");
			ctl_json_str(stdout, v->id);
			printf(",\"ok\":%s,\"signed\":%s,\"version\":", v->nfail ? "false" : "true",
			       v->has_manifest ? "true" : "false");
			if (v->version)
				printf("%llu", (unsigned long long)v->version);
			else
				printf("null");
			printf(",\"key\":");
			if (v->key[0])
				ctl_json_str(stdout, v->key);
			else
				printf("null");
			printf(",\"label\":");
			if (k && *k->label)
				ctl_json_str(stdout, k->label);
			else
				printf("null");
			printf(",\"signed_at\":");
			if (v->signed_at)
				ctl_json_str(stdout, ctl_fmt_time(v->signed_at, tb));
			else
				printf("null");
			printf(",\"chain_entries\":%zu,\"failures\":[", v->nchain);
			for (size_t j = 0; j < v->nfail; j++) {
				const char *colon = strchr(v->fail[j], ':');
				char check[32];
				snprintf(check, sizeof(check), "%.*s", (int)(colon - v->fail[j]), v->fail[j]);
				printf("%s{\"check\":", j ? "," : "");
				ctl_json_str(stdout, check);
				printf(",\"detail\":");
				ctl_json_str(stdout, colon + 2);
				putchar('}');
			}
			printf("]}");
		}
		printf("],\"verified\":%zu,\"failed\":%zu,\"ok\":%s,\"exit\":%d}\n", vf->nres - nbad, nbad,
		       nbad ? "false" : "true", nbad ? CTL_EXIT_ERROR : 0);
		return;
	}
	for (size_t i = 0; i < vf->nres; i++) {
		const struct vres *v = &vf->res[i];
		char shown[300];
		ctl_show(v->id, strlen(v->id), 100, shown, sizeof(shown));
		if (!v->nfail) {
			printf("ok      %s: version %llu, signed by %s at %s%s\n", shown, (unsigned long long)v->version,
			       ctl_signer_text(&vf->tr, v->key, who, sizeof(who)), ctl_fmt_time(v->signed_at, tb),
			       v->nchain ? "" : " (no signed entry left in the stream)");
			continue;
		}
		for (size_t j = 0; j < v->nfail; j++) {
			char fshown[1200];
			printf("FAILED  %s: %s\n", shown, ctl_show(v->fail[j], strlen(v->fail[j]), 400, fshown, sizeof(fshown)));
		}
	}
	if (!vf->x->quiet)
		printf("%zu order%s verified, %zu failed%s\n", vf->nres - nbad, vf->nres - nbad == 1 ? "" : "s", nbad,
		       vf->export_file ? " (export: no chain check)" : "");
}

int cmd_verify(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trusted", required_argument, NULL, O_V_TRUSTED },
		{ "key", required_argument, NULL, O_V_KEY },
		{ "from-export", required_argument, NULL, O_V_EXPORT },
		{ "json", no_argument, NULL, O_V_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct verify vf = { .x = x };
	char err[300];
	size_t nbad = 0;
	int c, ex = 0;

	x->usage = verify_usage;
	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			goto out;
		case O_V_TRUSTED:
			if ((ex = ctl_trust_load(&vf.tr, optarg)))
				goto out;
			break;
		case O_V_KEY:
			if (ctl_trust_add(&vf.tr, optarg, err, sizeof(err))) {
				ex = ctl_usage_error(x, "--key: %s", err);
				goto out;
			}
			break;
		case O_V_EXPORT:
			vf.export_file = optarg;
			break;
		case O_V_JSON:
			vf.json = true;
			break;
		}
	}
	if (optind < argc) {
		ex = ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (vf.tr.n == 0) {
		ex = ctl_usage_error(x, "no trusted key: give --trusted FILE or --key ed25519:BASE64");
		goto out;
	}
	ex = vf.export_file ? verify_export(&vf) : verify_redis(&vf);
	if (ex)
		goto out;
	for (size_t i = 0; i < vf.nres; i++)
		nbad += vf.res[i].nfail > 0;
	report(&vf, nbad);
	ex = nbad ? CTL_EXIT_ERROR : 0;
out:
	for (size_t i = 0; i < vf.nres; i++) {
		ctl_free_strings(vf.res[i].fail, vf.res[i].nfail);
		free(vf.res[i].id);
	}
	free(vf.res);
	ctl_trust_free(&vf.tr);
	return ex;
}
