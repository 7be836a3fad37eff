/* ctl_sign.c — the signing step of every write, manifests as stored, trusted keys (see ctl_sign.h). */
#include "ctl_sign.h"

#include <err.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "name.h"
#include "order.h"
#include "prefix.h"
#include "rs_err.h"
#include "sign_key.h"

/* The hashes of a set's members, sorted ascending: the set digest's input. */
struct hashes {
	uint8_t (*h)[32];
	size_t n, cap;
};

/* One pending delta line. */
struct dline {
	uint8_t op; /* RS_D_* */
	char *item;
};

enum smode {
	S_PLAIN,    /* no key, never signed: written as before */
	S_SIGN,     /* signed with our key */
	S_OVERRIDE, /* no key, signed before, --unsigned */
	S_REFUSE,   /* no key, signed before: refused */
};

/* An order prepared for a signed change (one per ctl_order_load of a write command). */
struct sorder {
	char id[160]; /* struct ctl_order's; RS_PROTECTED_ID for the protected set (prot) */
	bool prot;    /* the protected set (ctl_sign_prepare_protected), not an order */
	enum smode mode;
	bool used;            /* noted in a transaction already executed: prepare again */
	struct ctl_tx *t;     /* the transaction its pending changes are in */
	char *prev_text;      /* the latest version's text (NULL: none yet) */
	size_t prev_len;
	uint64_t version;     /* of prev_text (0: none) */
	char prev_names[65], prev_prefixes[65]; /* its set digests ("" none): what the sets should be now */
	char *field[RS_MANIFEST_NFIELDS]; /* as the next version states them ("" unset) */
	bool revoked;
	char *unsound;        /* why its manifest cannot be continued (refused at its first change), or NULL */
	int unsound_exit;     /* and the exit code of that refusal */
	char *drift;          /* how order:<id> differs from its manifest (refused at its first change), or NULL */
	bool resigned;        /* --resign-current-state signed a state differing from its manifest: recorded */
	bool check_stream;    /* no key, exists without manifest: is it signed in the stream? (at its first change) */
	size_t prev_nnames, prev_nprefixes; /* the counts of the last version */
	char *rotation;       /* the warning of a key rotation (said at its first change), or NULL */
	bool noted;
	bool sets_loaded;
	struct hashes names, prefixes;
	bool dirty;           /* a change is pending (maybe without delta lines) */
	struct dline *pend;
	size_t npend, cappend;
};

struct ctl_signer {
	struct rs_privkey *key;
	struct rs_pubkey pub;
	bool key_tried;
	struct sorder **o;
	size_t no;
	struct sorder *prot;   /* the protected set, when a protect command prepared it */
	struct ctl_conn conn2; /* reads while the main connection is inside MULTI */
	bool conn2_open;
	int fail_exit;         /* the first failure of the signing step (0: none) */
	struct ctl_trust trust; /* --trusted FILE: other keys whose manifests may be continued */
	bool trust_loaded;
	char fail[1024];
};

static struct ctl_signer *signer(struct ctl *x)
{
	if (!x->sign) {
		x->sign = calloc(1, sizeof(*x->sign));
		if (!x->sign)
			errx(CTL_EXIT_ERROR, "out of memory");
	}
	return x->sign;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		errx(CTL_EXIT_ERROR, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	return d;
}

static void sfail(struct ctl_signer *s, int ex, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfail(struct ctl_signer *s, int ex, const char *fmt, ...)
{
	va_list ap;

	if (s->fail_exit)
		return; /* the first one says what went wrong */
	s->fail_exit = ex;
	va_start(ap, fmt);
	vsnprintf(s->fail, sizeof(s->fail), fmt, ap);
	va_end(ap);
}

static void sorder_free(struct sorder *o)
{
	if (!o)
		return;
	free(o->prev_text);
	free(o->unsound);
	free(o->drift);
	free(o->rotation);
	for (int i = 0; i < RS_MANIFEST_NFIELDS; i++)
		free(o->field[i]);
	free(o->names.h);
	free(o->prefixes.h);
	for (size_t i = 0; i < o->npend; i++)
		free(o->pend[i].item);
	free(o->pend);
	free(o);
}

void ctl_sign_free(struct ctl *x)
{
	struct ctl_signer *s = x->sign;

	if (!s)
		return;
	for (size_t i = 0; i < s->no; i++)
		sorder_free(s->o[i]);
	free(s->o);
	sorder_free(s->prot);
	rs_privkey_free(s->key);
	ctl_trust_free(&s->trust);
	if (s->conn2_open) {
		s->conn2.ep = (struct rs_endpoint){ 0 }; /* borrowed from x->conn */
		ctl_disconnect(&s->conn2);
	}
	free(s);
	x->sign = NULL;
}

static struct sorder *find(struct ctl_signer *s, const char *id)
{
	for (size_t i = 0; s && i < s->no; i++)
		if (strcmp(s->o[i]->id, id) == 0)
			return s->o[i];
	return NULL;
}

/* ---- manifests as stored ---- */

void ctl_manifest_clear(struct ctl_manifest *mf)
{
	free(mf->text);
	free(mf->sig);
	free(mf->key);
	rs_manifest_free(mf->m);
	memset(mf, 0, sizeof(*mf));
}

void ctl_manifest_set(struct ctl_manifest *mf, const char *text, size_t len, const char *sig, const char *key)
{
	memset(mf, 0, sizeof(*mf));
	mf->present = true;
	mf->text = malloc(len + 1);
	if (!mf->text)
		errx(CTL_EXIT_ERROR, "out of memory");
	memcpy(mf->text, text, len);
	mf->text[len] = '\0';
	mf->len = len;
	mf->sig = xstrdup(sig);
	mf->key = xstrdup(key);
	if (rs_manifest_parse(mf->text, mf->len, &mf->m, mf->err, sizeof(mf->err)))
		mf->m = NULL;
}

static int manifest_read_on(struct ctl *x, struct ctl_conn *c, const char *id, struct ctl_manifest *mf)
{
	char k[CTL_KEY_MAX];
	const char *text = NULL, *sig = "", *key = "";
	size_t len = 0;
	redisReply *r;

	memset(mf, 0, sizeof(*mf));
	if (id)
		ctl_key(x, k, "manifest:%s", id);
	else
		ctl_key(x, k, "protected-manifest");
	r = ctl_cmd(c, "HGETALL", "HGETALL %s", k);
	if (!r) {
		warnx("%s", c->err);
		return c->exit ? c->exit : CTL_EXIT_ERROR;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		freeReplyObject(r);
		return 0;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->str, "text") == 0)
			text = v->str, len = v->len;
		else if (strcmp(f->str, "sig") == 0)
			sig = v->str;
		else if (strcmp(f->str, "key") == 0)
			key = v->str;
	}
	ctl_manifest_set(mf, text ? text : "", text ? len : 0, sig, key);
	if (!text)
		snprintf(mf->err, sizeof(mf->err), "%.300s has no text", k);
	freeReplyObject(r);
	return 0;
}

int ctl_manifest_read(struct ctl *x, const char *id, struct ctl_manifest *mf)
{
	return manifest_read_on(x, &x->conn, id, mf);
}

int ctl_protected_manifest_read(struct ctl *x, struct ctl_manifest *mf)
{
	return manifest_read_on(x, &x->conn, NULL, mf);
}

/* ---- the key ---- */

static int load_key(struct ctl *x, struct ctl_signer *s)
{
	char err[600];
	int rc;

	if (s->key_tried)
		return s->key ? 0 : (x->sign_key ? CTL_EXIT_ERROR : 0);
	s->key_tried = true;
	if (!x->sign_key || !*x->sign_key)
		return 0;
	rc = rs_privkey_load(x->sign_key, &s->key, err, sizeof(err));
	if (rc) {
		warnx("%s", err);
		s->key = NULL;
		return rc == RS_EPERM ? CTL_EXIT_REFUSED : rc == RS_EINVAL ? CTL_EXIT_DATA : CTL_EXIT_ERROR;
	}
	rs_privkey_public(s->key, &s->pub);
	return 0;
}

/* ---- prepare ---- */

/* The latest op=signed entry of order id in the stream, into mf (present) if any.
 * 0, or the exit code after printing the failure. Scans the stream from its end:
 * only for an order that exists without a manifest (review of issue 14, item 5). */
static int stream_last_signed(struct ctl *x, struct ctl_conn *conn, const char *id, struct ctl_manifest *mf)
{
	char k[CTL_KEY_MAX], end[64] = "+";

	memset(mf, 0, sizeof(*mf));
	ctl_key(x, k, "changes");
	for (;;) {
		redisReply *r = ctl_cmd(conn, "XREVRANGE", "XREVRANGE %s %s - COUNT 1000", k, end);
		size_t n;
		if (!r) {
			warnx("%s", conn->err);
			return conn->exit ? conn->exit : CTL_EXIT_REDIS;
		}
		n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		for (size_t i = 0; i < n; i++) {
			const redisReply *e = r->element[i], *f;
			const char *op = NULL, *order = NULL, *text = NULL, *sig = "", *key = "";
			size_t len = 0;
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
				continue;
			snprintf(end, sizeof(end), "(%s", e->element[0]->str);
			f = e->element[1];
			for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
				const redisReply *a = f->element[j], *b = f->element[j + 1];
				if (a->type != REDIS_REPLY_STRING || b->type != REDIS_REPLY_STRING)
					continue;
				if (strcmp(a->str, "op") == 0)
					op = b->str;
				else if (strcmp(a->str, "order") == 0)
					order = b->str;
				else if (strcmp(a->str, "text") == 0)
					text = b->str, len = b->len;
				else if (strcmp(a->str, "sig") == 0)
					sig = b->str;
				else if (strcmp(a->str, "key") == 0)
					key = b->str;
			}
			if (op && order && text && strcmp(op, "signed") == 0 && strcmp(order, id) == 0) {
				ctl_manifest_set(mf, text, len, sig, key);
				freeReplyObject(r);
				return 0;
			}
		}
		freeReplyObject(r);
		if (n < 1000)
			return 0;
	}
}

/*
 * Can the chain continue from manifest mf (of order id, or of the protected
 * set when prot)? It must parse, be for id (the protected set: no field,
 * active), its key line must be its key field, and it must be signed by our
 * key or by a key of --trusted (for the protected set a protect-key there),
 * not revoked there, with a signature that verifies. "" in why when it can;
 * else why, and the exit code returned (3: a key we do not trust, else 1).
 */
static int sound_check(struct ctl *x, struct ctl_signer *s, const struct ctl_manifest *mf, const char *id, bool prot,
		       char *why, size_t whylen)
{
	const struct rs_pubkey *tk = NULL;
	int uex = CTL_EXIT_ERROR;

	*why = '\0';
	if (!mf->m)
		snprintf(why, whylen, "%s", mf->err);
	else if (strcmp(mf->m->order, id) != 0)
		snprintf(why, whylen, "it is the manifest of order '%s'", mf->m->order);
	else if (prot && (mf->m->nfields || mf->m->revoked))
		snprintf(why, whylen, "it has order fields or a revoked state: not a protected set's manifest");
	else if (strcmp(mf->m->key, mf->key) != 0)
		snprintf(why, whylen, "its key line says %s, its key field %s", mf->m->key, mf->key);
	else if (strcmp(mf->key, s->pub.id) == 0 && rs_sig_verify(&s->pub, mf->text, mf->len, mf->sig))
		snprintf(why, whylen, "its signature does not verify with this key (%s)", s->pub.id);
	else if (strcmp(mf->key, s->pub.id) != 0 && ctl_trust_revoked(&s->trust, mf->key))
		uex = CTL_EXIT_REFUSED,
		snprintf(why, whylen, "it is signed by key %s, revoked in %s", mf->key, x->sign_trusted);
	else if (strcmp(mf->key, s->pub.id) != 0 &&
		 (!(tk = ctl_trust_find(&s->trust, mf->key)) || !(rs_key_roles(tk) & (prot ? RS_KEY_PROTECT : RS_KEY_ORDERS))))
		uex = CTL_EXIT_REFUSED,
		snprintf(why, whylen, "it is signed by key %s, neither this key (%s) nor a %s of --trusted FILE", mf->key,
			 s->pub.id, prot ? "protect-key" : "key");
	else if (tk && rs_sig_verify(tk, mf->text, mf->len, mf->sig))
		snprintf(why, whylen, "its signature does not verify with key %s", mf->key);
	return uex;
}

/* Does order:<id> (fields, state) as read differ from its verified manifest m?
 * Noted in so (refused at its first change), or accepted with --resign-current-state. */
/* The chain continues from the stored manifest mf: so takes its text (mf
 * lets go of it) and, when it parsed, its version, digests and counts. */
static void take_prev(struct sorder *so, struct ctl_manifest *mf)
{
	so->prev_text = mf->text;
	so->prev_len = mf->len;
	if (mf->m) {
		so->version = mf->m->version;
		memcpy(so->prev_names, mf->m->names_digest, 65);
		memcpy(so->prev_prefixes, mf->m->prefixes_digest, 65);
		so->prev_nnames = mf->m->names;
		so->prev_nprefixes = mf->m->prefixes;
	}
	mf->text = NULL;
}

static void field_drift(struct ctl *x, struct sorder *so, const struct rs_manifest *m)
{
	char diff[900] = "", msg[1400];
	size_t n = 0;

	for (int i = 0; i < RS_MANIFEST_NFIELDS; i++) {
		const char *signed_v = "";
		for (size_t j = 0; j < m->nfields; j++)
			if (strcmp(m->field_name[j], rs_manifest_fields[i]) == 0)
				signed_v = m->field_value[j];
		if (strcmp(signed_v, so->field[i] ? so->field[i] : "") != 0 && n < sizeof(diff))
			n += (size_t)snprintf(diff + n, sizeof(diff) - n, "%s%s ('%.60s' signed, '%.60s' in Redis)",
					      n ? ", " : "", rs_manifest_fields[i], signed_v, so->field[i]);
	}
	if (m->revoked != so->revoked && n < sizeof(diff))
		n += (size_t)snprintf(diff + n, sizeof(diff) - n, "%sstate (%s signed, %s in Redis)", n ? ", " : "",
				      m->revoked ? "revoked" : "active", so->revoked ? "revoked" : "active");
	if (!n)
		return;
	if (x->resign_current) {
		so->resigned = true;
		if (!x->quiet)
			warnx("warning: order '%s': its %s differ from signed version %llu: --resign-current-state: the "
			      "new version signs them as they are (recorded)", so->id, diff,
			      (unsigned long long)m->version);
		return;
	}
	snprintf(msg, sizeof(msg), "order '%s': order:%s differs from its signed version %llu: %s (changed without "
		 "signing, or behind redsink-ctl's back). Nothing written: check it ('redsink-ctl verify', 'order "
		 "show'); --resign-current-state signs the order as Redis holds it", so->id, so->id,
		 (unsigned long long)m->version, diff);
	so->drift = xstrdup(msg);
}

int ctl_sign_prepare(struct ctl *x, const struct ctl_order *o)
{
	struct ctl_signer *s = signer(x);
	struct ctl_manifest mf;
	struct sorder *so;
	char k1[CTL_KEY_MAX], k2[CTL_KEY_MAX], k3[CTL_KEY_MAX];
	redisReply *r;
	bool check_stream = false;
	int ex, orphan = 0; /* order:<id> exists without manifest:<id>: 1, and the stream has a signed version: 2 */

	if ((ex = load_key(x, s)))
		return ex;
	if (s->key && x->sign_trusted && *x->sign_trusted && !s->trust_loaded) {
		if ((ex = ctl_trust_load(&s->trust, x->sign_trusted)))
			return ex;
		s->trust_loaded = true;
	}
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s %s", ctl_key(x, k1, "manifest:%s", o->id),
		    ctl_key(x, k2, "order:%s:domains", o->id), ctl_key(x, k3, "order:%s:ips", o->id));
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_manifest_read(x, o->id, &mf)))
		return ex;
	if (!mf.present && o->exists && !s->key) {
		check_stream = true; /* signed before? Read the stream only if the order is changed (below) */
	} else if (!mf.present && o->exists) { /* deleted manifest, or never signed: never restart a chain silently */
		struct ctl_manifest st;
		if ((ex = stream_last_signed(x, &x->conn, o->id, &st)))
			return ex;
		orphan = st.present ? 2 : 1;
		if (st.present && (s->key ? x->resign_current : true)) {
			ctl_manifest_clear(&mf); /* continue the chain from it (re-anchor), or refuse without a key */
			mf = st;
		} else {
			ctl_manifest_clear(&st);
		}
	}
	so = find(s, o->id);
	if (so) { /* loaded again: start over */
		for (size_t i = 0; i < s->no; i++)
			if (s->o[i] == so)
				s->o[i] = s->o[--s->no];
		sorder_free(so);
	}
	so = xcalloc(1, sizeof(*so));
	snprintf(so->id, sizeof(so->id), "%s", o->id);
	for (int i = 0; i < F_COUNT; i++)
		so->field[i] = xstrdup(o->f[i]); /* ctl_order_fields: the manifest's first nine, same order */
	so->field[F_COUNT] = xstrdup(o->windows);
	so->revoked = o->exists && !o->in_force;
	if (s->key)
		so->mode = S_SIGN;
	else if (mf.present)
		so->mode = x->unsigned_ok ? S_OVERRIDE : S_REFUSE;
	else
		so->mode = S_PLAIN;
	so->check_stream = check_stream;
	if (orphan && s->key && !x->resign_current) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "order '%s' exists but has no manifest (manifest:%s): %s. Nothing written: "
			 "--resign-current-state signs the order as Redis holds it (recorded), %s", o->id, o->id,
			 orphan == 2 ? "its signed versions are in the stream (the manifest was deleted?)"
				     : "it was never signed (or its manifest was deleted)",
			 orphan == 2 ? "continuing the chain from the last signed version in the stream"
				     : "as version 1 (resolvers that verified a later version refuse it)");
		so->unsound = xstrdup(msg);
		so->unsound_exit = CTL_EXIT_REFUSED;
	} else if (orphan && s->key) {
		so->resigned = true;
	}
	if (mf.present && s->key) {
		char why[600] = "";
		int uex = sound_check(x, s, &mf, o->id, false, why, sizeof(why));
		if (*why) { /* refused when the order is changed (expire loads orders it does not change) */
			char msg[1200];
			snprintf(msg, sizeof(msg), "order '%s': its manifest (manifest:%s) is not sound: %s. Nothing "
				 "written: the chain of signed versions cannot continue from it; check with 'redsink-ctl "
				 "verify'", o->id, o->id, why);
			so->unsound = xstrdup(msg);
			so->unsound_exit = uex;
		} else if (strcmp(mf.key, s->pub.id) != 0) {
			char msg[600];
			snprintf(msg, sizeof(msg), "warning: order '%s': version %llu was signed by key %s, not by this "
				 "key (%s): the chain continues with this key (key rotation)",
				 o->id, (unsigned long long)mf.m->version, mf.key, s->pub.id);
			so->rotation = xstrdup(msg);
		}
		if (!*why)
			field_drift(x, so, mf.m);
		take_prev(so, &mf);
	}
	ctl_manifest_clear(&mf);
	if (s->no % 16 == 0) {
		struct sorder **nv = realloc(s->o, (s->no + 16) * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		s->o = nv;
	}
	s->o[s->no++] = so;
	return 0;
}

int ctl_sign_prepare_protected(struct ctl *x)
{
	struct ctl_signer *s = signer(x);
	struct ctl_manifest mf;
	struct sorder *so;
	char k1[CTL_KEY_MAX], k2[CTL_KEY_MAX], k3[CTL_KEY_MAX];
	redisReply *r;
	int ex;

	if ((ex = load_key(x, s)))
		return ex;
	if (s->key && x->sign_trusted && *x->sign_trusted && !s->trust_loaded) {
		if ((ex = ctl_trust_load(&s->trust, x->sign_trusted)))
			return ex;
		s->trust_loaded = true;
	}
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s %s", ctl_key(x, k1, "protected-manifest"),
		    ctl_key(x, k2, "protected"), ctl_key(x, k3, "protected-ips"));
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_protected_manifest_read(x, &mf)))
		return ex;
	sorder_free(s->prot);
	so = s->prot = xcalloc(1, sizeof(*so));
	snprintf(so->id, sizeof(so->id), "%s", RS_PROTECTED_ID);
	so->prot = true;
	if (s->key)
		so->mode = S_SIGN;
	else if (mf.present)
		so->mode = x->unsigned_ok ? S_OVERRIDE : S_REFUSE;
	else
		so->mode = S_PLAIN;
	if (mf.present && s->key) {
		char why[600];
		int uex = sound_check(x, s, &mf, RS_PROTECTED_ID, true, why, sizeof(why));
		if (*why) {
			char msg[1200];
			snprintf(msg, sizeof(msg), "the protected set: its manifest (protected-manifest) is not sound: %s. "
				 "Nothing written: the chain of signed versions cannot continue from it; check with "
				 "'redsink-ctl verify'", why);
			so->unsound = xstrdup(msg);
			so->unsound_exit = uex;
		} else if (strcmp(mf.key, s->pub.id) != 0) {
			char msg[600];
			snprintf(msg, sizeof(msg), "warning: the protected set: version %llu was signed by key %s, not by "
				 "this key (%s): the chain continues with this key (key rotation)",
				 (unsigned long long)mf.m->version, mf.key, s->pub.id);
			so->rotation = xstrdup(msg);
		}
		take_prev(so, &mf);
	}
	ctl_manifest_clear(&mf);
	return 0;
}

int ctl_sign_protected_trust(struct ctl *x, char *const *names, size_t n, char *why, size_t whylen)
{
	struct ctl_signer *s = signer(x);
	struct ctl_manifest mf;
	struct rs_setdigest *d;
	char hex[65];
	size_t cnt;
	int ex;

	*why = '\0';
	if ((ex = load_key(x, s)))
		return ex;
	if (!s->key)
		return 0; /* no key: the set is taken as it is (an unsigned push) */
	if (x->sign_trusted && *x->sign_trusted && !s->trust_loaded) {
		if ((ex = ctl_trust_load(&s->trust, x->sign_trusted)))
			return ex;
		s->trust_loaded = true;
	}
	if ((ex = ctl_protected_manifest_read(x, &mf)))
		return ex;
	if (!mf.present) {
		ctl_manifest_clear(&mf);
		return 0; /* never signed */
	}
	sound_check(x, s, &mf, RS_PROTECTED_ID, true, why, whylen);
	if (!*why) {
		if (!(d = rs_setdigest_new()))
			errx(CTL_EXIT_ERROR, "out of memory");
		for (size_t i = 0; i < n; i++)
			if (rs_setdigest_add(d, names[i], strlen(names[i])))
				errx(CTL_EXIT_ERROR, "out of memory");
		rs_setdigest_finish(d, hex, &cnt);
		if (cnt != mf.m->names || strcmp(hex, mf.m->names_digest) != 0)
			snprintf(why, whylen, "its %zu names do not match signed version %llu (%zu names)", cnt,
				 (unsigned long long)mf.m->version, mf.m->names);
	}
	ctl_manifest_clear(&mf);
	return 0;
}

/* ---- sets as hashes ---- */

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void hashes_reserve(struct hashes *h, size_t n)
{
	if (n <= h->cap)
		return;
	size_t cap = h->cap ? h->cap : 1024;
	while (cap < n)
		cap *= 2;
	void *nv = realloc(h->h, cap * 32);
	if (!nv)
		errx(CTL_EXIT_ERROR, "out of memory");
	h->h = nv;
	h->cap = cap;
}

/* SHA-256 of one member: a fetched digest and one context for the millions of
 * members of a big push (EVP_Digest fetches SHA-256 again on every call). */
static void hash_item(const char *s, uint8_t out[32])
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;
	unsigned int n = 0;

	if (!md && (!(md = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(ctx = EVP_MD_CTX_new())))
		errx(CTL_EXIT_ERROR, "SHA-256 unavailable (libcrypto)");
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, s, strlen(s)) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
		errx(CTL_EXIT_ERROR, "SHA-256 failed (libcrypto)");
}

static bool hashes_has(const struct hashes *h, const uint8_t k[32])
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(h->h[mid], k, 32);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Add the sorted, distinct hashes a[0..k) (merge from the back). */
static void hashes_merge(struct hashes *h, uint8_t (*a)[32], size_t k)
{
	size_t m = 0, i, j, w;

	for (size_t q = 0; q < k; q++) /* keep only the new ones */
		if (!hashes_has(h, a[q]))
			memmove(a[m++], a[q], 32);
	if (m == 0)
		return;
	hashes_reserve(h, h->n + m);
	i = h->n;
	j = m;
	w = h->n + m;
	while (j > 0) {
		if (i > 0 && memcmp(h->h[i - 1], a[j - 1], 32) > 0)
			memcpy(h->h[--w], h->h[--i], 32);
		else
			memcpy(h->h[--w], a[--j], 32);
	}
	h->n += m;
}

/* Remove the sorted hashes a[0..k). */
static void hashes_remove(struct hashes *h, uint8_t (*a)[32], size_t k)
{
	size_t w = 0, j = 0;

	for (size_t i = 0; i < h->n; i++) {
		while (j < k && memcmp(a[j], h->h[i], 32) < 0)
			j++;
		if (j < k && memcmp(a[j], h->h[i], 32) == 0)
			continue;
		if (w != i)
			memcpy(h->h[w], h->h[i], 32);
		w++;
	}
	h->n = w;
}

/* Is m the canonical text of a name (or of a prefix, ip)? Else its canonical form in canon ("" none). */
static bool member_canonical(const char *m, bool ip, char *canon, size_t len)
{
	*canon = '\0';
	if (ip) {
		struct rs_prefix p;
		char err[200];
		if (rs_prefix_parse(m, &p, err, sizeof(err)) == 0)
			rs_prefix_format(&p, canon, len);
	} else {
		char c[RS_NAME_MAX + 1];
		if (rs_name_canon(m, strlen(m), c) > 0)
			snprintf(canon, len, "%s", c);
	}
	return strcmp(m, canon) == 0;
}

/* m for a message: at most 100 octets, control characters and non-ASCII as \xHH. */
static const char *shown(const char *m, char *buf, size_t len)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)m; *p && n + 5 < len && p - (const unsigned char *)m < 100;
	     p++)
		n += (size_t)(*p < 0x20 || *p >= 0x7f ? snprintf(buf + n, len - n, "\\x%02x", *p)
						       : snprintf(buf + n, len - n, "%c", *p));
	buf[n] = '\0';
	return buf;
}

/* Read one set on the second connection into h. 0, or the failure recorded. A member
 * not in canonical form is refused (exit 5): resolvers digest what they would enforce. */
static int load_set(struct ctl *x, struct ctl_signer *s, const char *key, struct hashes *h, const char *order,
		    bool ip)
{
	struct ctl y = *x;
	char **m;
	size_t n;
	int ex;

	y.conn = s->conn2;
	if ((ex = ctl_set_members(&y, key, &m, &n))) {
		sfail(s, ex, "reading %s for the signed manifest failed", key);
		return ex;
	}
	for (size_t i = 0; i < n; i++) {
		char canon[RS_NAME_MAX + 8], b1[520], b2[520];
		if (member_canonical(m[i], ip, canon, sizeof(canon)))
			continue;
		sfail(s, CTL_EXIT_DATA, "order '%s': %s holds '%s', not %s in canonical form%s%s%s: nothing written: "
		      "replace it (remove it and add it again with redsink-ctl) before signing", order, key,
		      shown(m[i], b1, sizeof(b1)), ip ? "an address prefix" : "a domain name", *canon ? " ('" : "",
		      *canon ? shown(canon, b2, sizeof(b2)) : "", *canon ? "')" : "");
		ctl_free_strings(m, n);
		return CTL_EXIT_DATA;
	}
	hashes_reserve(h, n);
	for (size_t i = 0; i < n; i++)
		hash_item(m[i], h->h[i]);
	h->n = n;
	if (n > 1)
		qsort(h->h, n, 32, cmp32);
	ctl_free_strings(m, n);
	return 0;
}

/* The second connection (the main one may be inside MULTI). 0, or -1 with the failure recorded. */
static int conn2(struct ctl *x, struct ctl_signer *s)
{
	if (s->conn2_open)
		return 0;
	s->conn2.ep = x->conn.ep; /* borrowed: never freed through conn2 */
	s->conn2.prefix = x->conn.prefix;
	s->conn2.timeout_ms = x->conn.timeout_ms;
	if (ctl_connect(&s->conn2)) {
		sfail(s, s->conn2.exit ? s->conn2.exit : CTL_EXIT_REDIS, "%s", s->conn2.err);
		s->conn2.ep = (struct rs_endpoint){ 0 };
		return -1;
	}
	s->conn2_open = true;
	return 0;
}

/* Without a key, an order that exists without a manifest: if the stream holds a signed
 * version of it, it is a signed order (its manifest deleted?): refused without --unsigned. */
static void stream_check(struct ctl *x, struct ctl_signer *s, struct sorder *so)
{
	struct ctl_manifest st;
	int ex;

	if (!so->check_stream)
		return;
	so->check_stream = false;
	if (conn2(x, s))
		return;
	if ((ex = stream_last_signed(x, &s->conn2, so->id, &st))) {
		sfail(s, ex, "order '%s': reading the stream failed", so->id);
		return;
	}
	if (st.present && so->mode == S_PLAIN)
		so->mode = x->unsigned_ok ? S_OVERRIDE : S_REFUSE;
	ctl_manifest_clear(&st);
}

static int load_sets(struct ctl *x, struct ctl_signer *s, struct sorder *so)
{
	char k[CTL_KEY_MAX];

	if (so->sets_loaded)
		return 0;
	if (conn2(x, s))
		return -1;
	if (so->prot ? load_set(x, s, ctl_key(x, k, "protected"), &so->names, so->id, false) ||
			       load_set(x, s, ctl_key(x, k, "protected-ips"), &so->prefixes, so->id, true)
		     : load_set(x, s, ctl_key(x, k, "order:%s:domains", so->id), &so->names, so->id, false) ||
			       load_set(x, s, ctl_key(x, k, "order:%s:ips", so->id), &so->prefixes, so->id, true))
		return -1;
	so->sets_loaded = true;
	if (so->prot && !so->prev_text && (so->names.n || so->prefixes.n) && so->mode == S_SIGN) {
		/* never signed, but not empty: signing it would vouch for what
		 * anyone may have added (as an order without a manifest) */
		if (!x->resign_current) {
			sfail(s, CTL_EXIT_REFUSED, "the protected set holds %zu names and %zu prefixes but was never signed "
			      "(no protected-manifest). Nothing written: check them ('protect list', 'ip list'); "
			      "--resign-current-state signs them as they are (recorded)", so->names.n, so->prefixes.n);
			return -1;
		}
		so->resigned = true;
		if (!x->quiet)
			warnx("warning: the protected set was never signed: --resign-current-state: its first version "
			      "signs its %zu names and %zu prefixes as they are (recorded)", so->names.n, so->prefixes.n);
	}
	if (so->prev_names[0]) { /* changed behind redsink-ctl's back (or by --unsigned) since the last version? */
		char dn[65], dp[65];
		rs_sha256_hex(so->names.h ? (const void *)so->names.h : "", so->names.n * 32, dn);
		rs_sha256_hex(so->prefixes.h ? (const void *)so->prefixes.h : "", so->prefixes.n * 32, dp);
		if (strcmp(dn, so->prev_names) || strcmp(dp, so->prev_prefixes)) {
			bool nm = strcmp(dn, so->prev_names) != 0;
			char what[200];
			snprintf(what, sizeof(what), "its %s (%zu in Redis, %zu signed)", nm ? "names" : "address prefixes",
				 nm ? so->names.n : so->prefixes.n, nm ? so->prev_nnames : so->prev_nprefixes);
			if (!x->resign_current && so->prot) {
				sfail(s, CTL_EXIT_REFUSED, "the protected set: %s no longer match signed version %llu "
				      "(changed without signing: --unsigned, or behind redsink-ctl's back). Nothing written: "
				      "check them ('redsink-ctl verify', 'protect list', 'ip list'); --resign-current-state "
				      "signs them as they are", what, (unsigned long long)so->version);
				return -1;
			}
			if (!x->resign_current) {
				sfail(s, CTL_EXIT_REFUSED, "order '%s': %s no longer match signed version %llu (changed "
				      "without signing: --unsigned, or behind redsink-ctl's back). Nothing written: check "
				      "them ('redsink-ctl verify', 'order show --domains'); --resign-current-state signs "
				      "them as they are", so->id, what, (unsigned long long)so->version);
				return -1;
			}
			so->resigned = true;
			if (!x->quiet)
				warnx("warning: order '%s': %s no longer match signed version %llu: "
				      "--resign-current-state: the new version signs them as they are (recorded)",
				      so->id, what, (unsigned long long)so->version);
		}
	}
	return 0;
}

/* ---- building and signing a version ---- */

static int cmp_dline(const void *a, const void *b)
{
	const struct dline *x = a, *y = b;

	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return strcmp(x->item, y->item);
}

/* Apply the delta lines of op (sorted, distinct) to h. */
static void apply_lines(struct hashes *h, const struct dline *d, size_t n, uint8_t op, bool add)
{
	uint8_t (*a)[32] = xcalloc(n, 32);
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (d[i].op == op)
			hash_item(d[i].item, a[k++]);
	if (k > 1)
		qsort(a, k, 32, cmp32);
	if (add)
		hashes_merge(h, a, k);
	else
		hashes_remove(h, a, k);
	free(a);
}

static void queue_argv(struct ctl_tx *t, int argc, const char **argv)
{
	size_t lens[20];

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	ctl_tx_argv(t, argc, argv, lens);
}

/* Sign the pending changes of so as its next version and queue it on t. 0 or -1 (failure recorded). */
static int flush(struct ctl *x, struct ctl_signer *s, struct sorder *so, struct ctl_tx *t)
{
	struct rs_manifest m;
	struct rs_delta *delta = NULL;
	char err[300], sig[RS_SIG_B64_LEN + 1], km[CTL_KEY_MAX], kc[CTL_KEY_MAX];
	size_t len, nd = 0;
	char *text;

	if (load_sets(x, s, so))
		return -1;
	if (so->npend > 1)
		qsort(so->pend, so->npend, sizeof(*so->pend), cmp_dline);
	for (size_t i = 0; i < so->npend; i++) { /* distinct; an item both added and deleted cannot be one version */
		if (nd && cmp_dline(&so->pend[nd - 1], &so->pend[i]) == 0) {
			free(so->pend[i].item);
			continue;
		}
		so->pend[nd++] = so->pend[i];
	}
	so->npend = nd;
	for (size_t i = 0; i < nd; i++) {
		uint8_t other = so->pend[i].op ^ 1; /* ADD<->DEL, ADDIP<->DELIP */
		struct dline key = { other, so->pend[i].item };
		if (nd > 1 && bsearch(&key, so->pend, nd, sizeof(*so->pend), cmp_dline)) {
			sfail(s, CTL_EXIT_ERROR, "order '%s': '%s' is both added and removed in one change: nothing written",
			      so->id, so->pend[i].item);
			return -1;
		}
	}
	apply_lines(&so->names, so->pend, nd, RS_D_ADD, true);
	apply_lines(&so->names, so->pend, nd, RS_D_DEL, false);
	apply_lines(&so->prefixes, so->pend, nd, RS_D_ADDIP, true);
	apply_lines(&so->prefixes, so->pend, nd, RS_D_DELIP, false);
	memset(&m, 0, sizeof(m));
	snprintf(m.order, sizeof(m.order), "%.128s", so->id); /* rs_order_id_ok: at most 128 */
	m.version = so->version + 1;
	if (so->prev_text)
		rs_sha256_hex(so->prev_text, so->prev_len, m.prev);
	else
		strcpy(m.prev, "-");
	snprintf(m.key, sizeof(m.key), "%s", s->pub.id);
	m.signed_at = (int64_t)time(NULL);
	m.revoked = so->revoked;
	for (int i = 0; i < RS_MANIFEST_NFIELDS; i++)
		if (so->field[i] && *so->field[i]) {
			m.field_name[m.nfields] = rs_manifest_fields[i];
			m.field_value[m.nfields++] = so->field[i];
		}
	m.names = so->names.n;
	rs_sha256_hex(so->names.h ? (const void *)so->names.h : "", so->names.n * 32, m.names_digest);
	m.prefixes = so->prefixes.n;
	rs_sha256_hex(so->prefixes.h ? (const void *)so->prefixes.h : "", so->prefixes.n * 32, m.prefixes_digest);
	delta = xcalloc(nd, sizeof(*delta));
	for (size_t i = 0; i < nd; i++) {
		delta[i].op = so->pend[i].op;
		delta[i].item = so->pend[i].item;
	}
	m.ndelta = nd;
	m.delta = delta;
	text = rs_manifest_build_err(&m, &len, err, sizeof(err));
	free(delta);
	if (!text) {
		sfail(s, CTL_EXIT_DATA, "%s%s%s: cannot build its signed manifest: %s: nothing written",
		      so->prot ? "the protected set" : "order '", so->prot ? "" : so->id, so->prot ? "" : "'", err);
		return -1;
	}
	if (rs_sign(s->key, text, len, sig)) {
		free(text);
		sfail(s, CTL_EXIT_ERROR, "order '%s': signing failed (libcrypto): nothing written", so->id);
		return -1;
	}
	if (so->prot) {
		/* the protected set: its own hash and op (doc/signing.md) */
		const char *hset[] = { "HSET", ctl_key(x, km, "protected-manifest"), "text", text, "sig", sig, "key",
				       s->pub.id };
		const char *xadd[] = { "XADD", ctl_key(x, kc, "changes"), "*", "op", "signed-protected", "text", text,
				       "sig", sig, "key", s->pub.id, "by", x->by, "override", "resign-current-state" };
		queue_argv(t, 8, hset);
		queue_argv(t, so->resigned ? 15 : 13, xadd);
	} else {
		const char *hset[] = { "HSET", ctl_key(x, km, "manifest:%s", so->id), "text", text, "sig", sig, "key",
				       s->pub.id };
		/* the contract's fields, and `by` for the audit trail ('redsink-ctl log') */
		const char *xadd[] = { "XADD", ctl_key(x, kc, "changes"), "*", "op", "signed", "order", so->id,
				       "text", text, "sig", sig, "key", s->pub.id, "by", x->by,
				       "override", "resign-current-state" };
		queue_argv(t, 8, hset);
		queue_argv(t, so->resigned ? 17 : 15, xadd); /* the override recorded with the version it signed */
	}
	free(so->prev_text);
	so->prev_text = text;
	so->prev_len = len;
	so->version++;
	for (size_t i = 0; i < so->npend; i++)
		free(so->pend[i].item);
	so->npend = 0;
	so->dirty = false;
	return 0;
}

/* ---- noting the changes ---- */

/* The protected set's sorder for an entry of op with order "" (prepared by a
 * protect command, not yet used), else NULL. */
static struct sorder *prot_for(struct ctl_signer *s, const char *op)
{
	if (!s || !s->prot || s->prot->used)
		return NULL;
	if (op && strcmp(op, "protect") != 0 && strcmp(op, "unprotect") != 0 && strcmp(op, "protectip") != 0 &&
	    strcmp(op, "unprotectip") != 0)
		return NULL;
	return s->prot;
}

size_t ctl_sign_room(struct ctl *x, const char *order)
{
	struct sorder *so = *order ? find(x->sign, order) : prot_for(x->sign, NULL);

	if (!so || so->mode != S_SIGN)
		return SIZE_MAX;
	return so->npend < RS_MANIFEST_DELTA_MAX ? RS_MANIFEST_DELTA_MAX - so->npend : 1;
}

const char *ctl_sign_override(struct ctl *x, const char *order, const char *override, char *buf, size_t len)
{
	struct sorder *so = *order ? find(x->sign, order) : prot_for(x->sign, NULL);
	const char *add;

	if (so)
		stream_check(x, x->sign, so);
	add = !so ? NULL : so->mode == S_OVERRIDE ? "unsigned" :
			  so->mode == S_SIGN && so->resigned ? "resign-current-state" : NULL;

	if (!add || (override && strstr(override, add)))
		return override;
	snprintf(buf, len, "%s%s%s", override ? override : "", override && *override ? "," : "", add);
	return buf;
}

void ctl_sign_note(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *const *values,
		   size_t n, const char *const *extra, size_t nextra)
{
	struct ctl_signer *s = signer(x);
	struct sorder *so = NULL;
	int dop = -1;

	if (!order)
		return;
	if (!*order) { /* the protected set, when a protect command prepared it */
		so = prot_for(s, op);
		if (!so)
			return;
		dop = op[0] == 'p' ? (strcmp(op, "protect") == 0 ? RS_D_ADD : RS_D_ADDIP)
				   : (strcmp(op, "unprotect") == 0 ? RS_D_DEL : RS_D_DELIP);
		if (so->mode == S_REFUSE) {
			sfail(s, CTL_EXIT_REFUSED, "the protected set is signed: give --sign-key, or --unsigned to write "
			      "without signing (resolvers requiring signatures will not apply it)");
			return;
		}
	} else if (strcmp(op, "add") == 0)
		dop = RS_D_ADD;
	else if (strcmp(op, "del") == 0)
		dop = RS_D_DEL;
	else if (strcmp(op, "addip") == 0)
		dop = RS_D_ADDIP;
	else if (strcmp(op, "delip") == 0)
		dop = RS_D_DELIP;
	else if (strcmp(op, "order") != 0 && strcmp(op, "revoke") != 0)
		return; /* not a change of the order itself */
	if (*order)
		so = find(s, order);
	if (!so || so->used) {
		sfail(s, CTL_EXIT_ERROR, "order '%s' changed without being read first (redsink-ctl bug): nothing written",
		      order);
		return;
	}
	stream_check(x, s, so);
	if (so->mode == S_REFUSE) {
		sfail(s, CTL_EXIT_REFUSED, "order %s is signed: give --sign-key, or --unsigned to write without signing "
					   "(resolvers requiring signatures will not enforce it)", order);
		return;
	}
	if (so->mode != S_SIGN)
		return;
	if (so->t && so->t != t) {
		sfail(s, CTL_EXIT_ERROR, "order '%s' changed in two transactions (redsink-ctl bug): nothing written", order);
		return;
	}
	if (so->unsound) {
		sfail(s, so->unsound_exit ? so->unsound_exit : CTL_EXIT_ERROR, "%s", so->unsound);
		return;
	}
	if (so->drift) {
		sfail(s, CTL_EXIT_REFUSED, "%s", so->drift);
		return;
	}
	if (!so->noted && so->rotation && !x->quiet)
		warnx("%s", so->rotation);
	so->noted = true;
	so->t = t;
	so->dirty = true;
	if (dop < 0) {
		if (op[0] == 'r') {
			so->revoked = true;
			return;
		}
		for (size_t i = 0; i + 1 < nextra; i += 2) /* new.FIELD */
			if (strncmp(extra[i], "new.", 4) == 0)
				for (int f = 0; f < RS_MANIFEST_NFIELDS; f++)
					if (strcmp(extra[i] + 4, rs_manifest_fields[f]) == 0) {
						free(so->field[f]);
						so->field[f] = xstrdup(extra[i + 1]);
					}
		return;
	}
	if (!so->sets_loaded && load_sets(x, s, so))
		return;
	for (size_t i = 0; i < n; i++) {
		if (so->npend == so->cappend) {
			so->cappend = so->cappend ? so->cappend * 2 : 256;
			struct dline *nv = realloc(so->pend, so->cappend * sizeof(*nv));
			if (!nv)
				errx(CTL_EXIT_ERROR, "out of memory");
			so->pend = nv;
		}
		so->pend[so->npend].op = (uint8_t)dop;
		so->pend[so->npend++].item = xstrdup(values[i]);
		if (so->npend >= RS_MANIFEST_DELTA_MAX && flush(x, s, so, t))
			return;
	}
}

int ctl_sign_before_exec(struct ctl_tx *t, void *arg)
{
	struct ctl *x = arg;
	struct ctl_signer *s = x->sign;

	if (!s)
		return 0;
	for (size_t i = 0; i <= s->no && !s->fail_exit; i++) {
		struct sorder *so = i < s->no ? s->o[i] : s->prot;
		if (!so || so->t != t)
			continue;
		if (so->dirty || so->npend)
			(void)flush(x, s, so, t);
		so->used = true;
	}
	if (s->fail_exit) {
		snprintf(t->x->err, sizeof(t->x->err), "%s", s->fail);
		t->x->exit = s->fail_exit;
		s->fail_exit = 0;
		return RS_EINVAL;
	}
	return 0;
}

/* ---- trusted keys ---- */

void ctl_trust_free(struct ctl_trust *t)
{
	free(t->keys);
	free(t->revoked);
	memset(t, 0, sizeof(*t));
}

static int trust_push(struct ctl_trust *t, const struct rs_pubkey *k, char *err, size_t errlen)
{
	struct rs_pubkey *nv;

	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->keys[i].id, k->id) == 0) {
			snprintf(err, errlen, "key %s is given twice", k->id);
			return RS_EINVAL;
		}
	nv = realloc(t->keys, (t->n + 1) * sizeof(*nv));
	if (!nv)
		errx(CTL_EXIT_ERROR, "out of memory");
	t->keys = nv;
	nv[t->n++] = *k;
	return 0;
}

int ctl_trust_add(struct ctl_trust *t, const char *text, char *err, size_t errlen)
{
	/* "ed25519:..." (its base64 ends in '='), or a label before '=' or a space */
	const char *eq = strncmp(text, "ed25519:", 8) == 0 ? NULL : text + strcspn(text, "= ");
	const char *keytext;

	if (eq && !*eq)
		eq = NULL;
	keytext = eq ? eq + 1 + strspn(eq + 1, " ") : text;
	struct rs_pubkey k;
	char label[RS_KEY_LABEL_MAX + 1] = "";

	if (eq) {
		size_t n = (size_t)(eq - text);
		if (n == 0 || n > RS_KEY_LABEL_MAX) {
			snprintf(err, errlen, "'%.80s': the label must be 1-%d characters", text, RS_KEY_LABEL_MAX);
			return RS_EINVAL;
		}
		memcpy(label, text, n);
		label[n] = '\0';
		if (!rs_key_label_ok(label)) {
			snprintf(err, errlen, "label '%s' must be letters, digits, '.', '_' or '-'", label);
			return RS_EINVAL;
		}
	}
	if (rs_pubkey_parse(keytext, &k, err, errlen))
		return RS_EINVAL;
	snprintf(k.label, sizeof(k.label), "%s", label);
	k.roles = RS_KEY_ORDERS | RS_KEY_PROTECT; /* --key: what the auditor trusts, for everything */
	return trust_push(t, &k, err, errlen);
}

int ctl_trust_load(struct ctl_trust *t, const char *path)
{
	char err[600];
	int rc = rs_trust_file_load(path, &t->keys, &t->n, &t->revoked, &t->nrevoked, err, sizeof(err));

	if (rc == RS_ENOMEM)
		errx(CTL_EXIT_ERROR, "out of memory");
	if (rc)
		warnx("%s%s", rc == RS_EIO ? "--trusted " : "", err);
	return rc == 0 ? 0 : rc == RS_EIO ? CTL_EXIT_ERROR : CTL_EXIT_DATA;
}

const struct rs_pubkey *ctl_trust_find(const struct ctl_trust *t, const char *keyid)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->keys[i].id, keyid) == 0)
			return &t->keys[i];
	return NULL;
}

bool ctl_trust_revoked(const struct ctl_trust *t, const char *keyid)
{
	for (size_t i = 0; t && i < t->nrevoked; i++)
		if (strcmp(t->revoked[i], keyid) == 0)
			return true;
	return false;
}

const char *ctl_signer_text(const struct ctl_trust *t, const char *keyid, char *buf, size_t len)
{
	const struct rs_pubkey *k = ctl_trust_find(t, keyid);

	if (ctl_trust_revoked(t, keyid))
		snprintf(buf, len, "%s (revoked key)", keyid);
	else if (k && *k->label)
		snprintf(buf, len, "%s (%s)", keyid, k->label);
	else if (!k && t && t->n)
		snprintf(buf, len, "%s (unknown key)", keyid);
	else
		snprintf(buf, len, "%s", keyid);
	return buf;
}

/* ---- showing who signed ---- */

/* NULL when the manifest verifies with a key of tr (and tr has keys), else why not. */
static const char *manifest_problem(const struct ctl_manifest *mf, const struct ctl_trust *tr)
{
	const struct rs_pubkey *k;

	if (!mf->m)
		return "unreadable manifest";
	if (ctl_trust_revoked(tr, mf->m->key))
		return "revoked key";
	if (!(k = ctl_trust_find(tr, mf->m->key)))
		return "key not trusted";
	if (strcmp(mf->key, mf->m->key) != 0 || rs_sig_verify(k, mf->text, mf->len, mf->sig))
		return "bad signature";
	return NULL;
}

const char *ctl_sign_line(const struct ctl_manifest *mf, const struct ctl_trust *tr, char *buf, size_t len)
{
	char who[160], tb[32];
	const char *bad;

	if (!mf->present) {
		snprintf(buf, len, "no (unsigned)");
		return buf;
	}
	if (!mf->m) {
		snprintf(buf, len, "unreadable manifest: %s", mf->err);
		return buf;
	}
	bad = tr && tr->n ? manifest_problem(mf, tr) : NULL;
	snprintf(buf, len, "version %llu by %s at %s%s%s", (unsigned long long)mf->m->version,
		 ctl_signer_text(tr, mf->m->key, who, sizeof(who)), ctl_fmt_time(mf->m->signed_at, tb),
		 bad ? ": DOES NOT VERIFY: " : tr && tr->n ? " (verified)" : "", bad ? bad : "");
	return buf;
}

char *ctl_sign_json(const struct ctl_manifest *mf, const struct ctl_trust *tr, bool with_manifest)
{
	char *out = NULL, tb[32];
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		errx(CTL_EXIT_ERROR, "out of memory");
	fputs(",\"signature\":", f);
	if (!mf->present || !mf->m) {
		fputs("null", f);
	} else {
		const struct rs_pubkey *k = ctl_trust_find(tr, mf->m->key);
		fprintf(f, "{\"version\":%llu,\"key\":", (unsigned long long)mf->m->version);
		ctl_json_str(f, mf->m->key);
		fputs(",\"label\":", f);
		if (k && *k->label)
			ctl_json_str(f, k->label);
		else
			fputs("null", f);
		fputs(",\"signed_at\":", f);
		ctl_json_str(f, ctl_fmt_time(mf->m->signed_at, tb));
		fprintf(f, ",\"verified\":%s}", tr && tr->n ? (manifest_problem(mf, tr) ? "false" : "true") : "null");
	}
	if (with_manifest) {
		fputs(",\"manifest\":", f);
		if (!mf->present) {
			fputs("null", f);
		} else {
			fputs("{\"text\":", f);
			ctl_json_str(f, mf->text);
			fputs(",\"sig\":", f);
			ctl_json_str(f, mf->sig);
			fputs(",\"key\":", f);
			ctl_json_str(f, mf->key);
			fputc('}', f);
		}
	}
	if (fclose(f) || !out)
		errx(CTL_EXIT_ERROR, "out of memory");
	return out;
}
