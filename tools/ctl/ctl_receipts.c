/*
 * ctl_receipts.c — `redsink-ctl receipts ORDER`: per item, per resolver, when
 * it was enforced (issue 12; doc/fleet.md, "Receipts").
 *
 * An item is one change-stream entry of the order: `add` (block a domain) or
 * `del` (unblock it). Its stream id carries the primary's clock when it was
 * pushed. Every resolver appends a receipt to receipts:<name> on the primary
 * each time its list moved (changes applied and their cached answers purged,
 * or a full load): the entry's id is the primary's clock at that moment, its
 * field `applied` the last stream id the list reflects. So resolver R
 * processed item E at the time of the first receipt whose `applied` is E's
 * id or later — both times on the primary's clock, whatever the resolvers'
 * clocks say. (Receipts are trimmed to a bounded length; a time found in a
 * trimmed history is the first receipt left: later, never earlier.)
 *
 * An item a resolver has not processed is unprocessed, with a reason: the
 * order is out of the resolver's jurisdiction (not due), the name is
 * protected (the resolvers refuse to block it; not due), the resolver is down
 * (rostered, no heartbeat), or not yet applied. The fleet-wide state of an
 * item is processed when every resolver it is due on processed it, at the
 * time of the slowest. The resolvers are the roster, or when the roster is
 * empty every resolver with a heartbeat.
 *
 * Reading: the order's entries of the stream since --since (XRANGE pages),
 * every resolver's receipts from the first item's time on (XRANGE pages).
 * Matching: the receipts' running maximum of `applied` is non-decreasing, so
 * each item's first receipt is a binary search.
 */
#include <ctype.h>
#include <err.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_name.h"
#include "ctl_safety.h"
#include "ctl_sign.h"
#include "order.h"
#include "rs_err.h"

static const char receipts_usage[] =
	"Usage: redsink-ctl receipts ORDER [--since TIME] [--deadline DURATION] [--json | --csv]\n"
	"\n"
	"Proof of enforcement: for every item of the order (a domain blocked or\n"
	"unblocked, one change-stream entry) and every resolver, when the resolver\n"
	"enforced it, from the receipts the resolvers write on the primary; per item\n"
	"the fleet-wide state and time (the slowest resolver). States: processed, or\n"
	"unprocessed with a reason: not yet applied, resolver down, protected name\n"
	"refused, out of this resolver's jurisdiction. Times are the primary's clock.\n"
	"Also whether the order applies now (live-event windows, expiry) and when that\n"
	"changes, as `status ORDER` shows it.\n"
	"\n"
	"  --since TIME         items pushed since TIME (RFC 3339, a date, -30d, -12h,\n"
	"                       -15m; default: every item still in the stream)\n"
	"  --deadline DURATION  exit 1 and list every late item on stderr: processed\n"
	"                       later than DURATION after it was pushed, or still\n"
	"                       unprocessed (and due) DURATION after (30m, 90s, 2h)\n"
	"  --json               JSON (typed values; per item also the Piracy Shield\n"
	"                       status and reason, doc/fleet.md)\n"
	"  --csv                CSV, one row per item and resolver\n"
	"  --trusted FILE       trusted-key: lines (as in redsink.conf): name the\n"
	"                       authority that signed each item (the SIGNED column)\n";

enum { O_RC_SINCE = 900, O_RC_DEADLINE, O_RC_JSON, O_RC_CSV, O_RC_TRUSTED };

/* A signed version of the order (an op=signed entry): who signed the items before it. */
struct sver {
	char id[RS_STREAM_ID_MAX];
	unsigned long long version;
	char key[RS_KEYID_LEN + 1];
};

/* Why an item is not processed on a resolver (or R_PROCESSED). */
enum rstate { R_PROCESSED, R_PENDING, R_DOWN, R_PROTECTED, R_OUT_OF_SCOPE };
static const char *const rstate_reason[] = { "", "not yet applied", "resolver down", "protected name refused",
					     "out of this resolver's jurisdiction" };
static const char *const rstate_code[] = { "", "not_applied", "resolver_down", "protected", "out_of_jurisdiction" };

struct item {
	char id[RS_STREAM_ID_MAX];
	bool add;
	char *domain;
	int64_t ms;      /* pushed: the id's time */
	bool protected_; /* add of a protected name (or one below) */
	/* fleet-wide */
	bool processed;  /* on every resolver it is due on */
	int64_t done_ms; /* the slowest resolver's time (processed) */
	int due;         /* resolvers it is due on */
	bool late;
};

struct receipt {
	char applied[RS_STREAM_ID_MAX]; /* the running maximum up to this receipt */
	int64_t ms;
};

struct rres {
	const struct ctl_hb *hb;
	const char *juris; /* the roster's, else the reported one ("" none) */
	bool in_scope;
	struct receipt *r;
	size_t n, cap;
};

struct receipts {
	struct ctl *x;
	const char *order;
	int64_t since_ms, deadline_ms, now_ms;
	bool json, csv;
	struct ctl_order o;
	struct item *items;
	size_t nitems, capitems;
	char first_id[RS_STREAM_ID_MAX]; /* the stream's first entry ("" empty) */
	struct ctl_hb *hbs;
	size_t nhbs;
	struct rres *res;
	size_t nres;
	size_t nlate;
	struct sver *sv; /* the order's signed versions, in stream order */
	size_t nsv;
	struct ctl_trust tr;
};

/* "30m", "90s", "2h", "1d", or plain seconds. Milliseconds, or -1. */
static int64_t parse_duration(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t unit = 1000;

	if (!isdigit((unsigned char)*s) || v <= 0 || v > 366LL * 86400)
		return -1;
	if (*end == 'm')
		unit = 60000;
	else if (*end == 'h')
		unit = 3600000;
	else if (*end == 'd')
		unit = 86400000;
	else if (*end != 's' && *end != '\0')
		return -1;
	if (*end && end[1])
		return -1;
	return (int64_t)v * unit;
}

static int64_t id_ms(const char *id)
{
	return atoll(id);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	return d;
}

/* Is s a stream id, "<ms>-<seq>" in digits? */
static bool stream_id_ok(const char *s)
{
	size_t ms = strspn(s, "0123456789"), seq;

	if (ms == 0 || s[ms] != '-')
		return false;
	seq = strspn(s + ms + 1, "0123456789");
	return seq > 0 && s[ms + 1 + seq] == '\0' && ms + 1 + seq < RS_STREAM_ID_MAX;
}

/*
 * Call fn for every entry of stream key from id start on (XRANGE pages of
 * 10,000; the next page starts after the last entry's id, whatever the
 * entries hold, so junk cannot make it read a page again). fn gets the entry
 * as Redis gave it ([id, [field, value, ...]], shape unchecked). 0, or the
 * exit code of a Redis failure (reported).
 */
static int each_entry(struct ctl *x, const char *key, const char *start,
		      void (*fn)(void *arg, const redisReply *e), void *arg)
{
	char from[RS_STREAM_ID_MAX + 2];

	snprintf(from, sizeof(from), "%s", start);
	for (;;) {
		redisReply *r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s %s + COUNT 10000", key, from);
		size_t m;
		const redisReply *last;
		if (!r)
			return ctl_redis_failed(x);
		m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		for (size_t i = 0; i < m; i++)
			fn(arg, r->element[i]);
		last = m ? r->element[m - 1] : NULL;
		if (m < 10000 || last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
		    last->element[0]->type != REDIS_REPLY_STRING || !stream_id_ok(last->element[0]->str)) {
			freeReplyObject(r);
			return 0;
		}
		snprintf(from, sizeof(from), "(%s", last->element[0]->str);
		freeReplyObject(r);
	}
}

/* One entry of the change stream: an item when it is an add/del of the order. */
static void add_item(void *arg, const redisReply *e)
{
	struct receipts *rc = arg;
	struct rs_change ch;
	struct item *it;

	if (!rs_change_parse(e, &ch) || ch.truncated || strcmp(ch.order, rc->order) != 0 || !stream_id_ok(ch.id))
		return;
	if (strcmp(ch.op, "signed") == 0) { /* a signed version: its version and key (not checked here: verify) */
		const redisReply *f = e->element[1];
		struct sver v = { .version = 0 };
		snprintf(v.id, sizeof(v.id), "%s", ch.id);
		for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
			const redisReply *fk = f->element[j], *fv = f->element[j + 1];
			const char *ver;
			if (fk->type != REDIS_REPLY_STRING || fv->type != REDIS_REPLY_STRING)
				continue;
			if (strcmp(fk->str, "key") == 0 && rs_keyid_ok(fv->str))
				snprintf(v.key, sizeof(v.key), "%s", fv->str);
			else if (strcmp(fk->str, "text") == 0 && (ver = strstr(fv->str, "\nversion ")))
				v.version = strtoull(ver + 9, NULL, 10);
		}
		struct sver *nv = realloc(rc->sv, (rc->nsv + 1) * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		rc->sv = nv;
		rc->sv[rc->nsv++] = v;
		return;
	}
	if (strcmp(ch.op, "add") != 0 && strcmp(ch.op, "del") != 0)
		return;
	if (rc->nitems == rc->capitems) {
		rc->capitems = rc->capitems ? rc->capitems * 2 : 256;
		struct item *nv = realloc(rc->items, rc->capitems * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		rc->items = nv;
	}
	it = &rc->items[rc->nitems++];
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", ch.id);
	it->add = ch.op[0] == 'a';
	it->domain = xstrdup(ch.domain);
	it->ms = id_ms(ch.id);
}

/* The order's add/del entries since --since, in stream order. */
static int read_items(struct receipts *rc)
{
	struct ctl *x = rc->x;
	char k[CTL_KEY_MAX], start[RS_STREAM_ID_MAX + 2];
	redisReply *r;

	ctl_key(x, k, "changes");
	r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s - + COUNT 1", k);
	if (!r)
		return ctl_redis_failed(x);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
		snprintf(rc->first_id, sizeof(rc->first_id), "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	snprintf(start, sizeof(start), "%lld-0", (long long)rc->since_ms);
	return each_entry(x, k, start, add_item, rc);
}

/* The signed version that covers item it: the first op=signed entry after it, or NULL (unsigned). */
static const struct sver *item_signer(const struct receipts *rc, const struct item *it)
{
	size_t lo = 0, hi = rc->nsv;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ctl_id_cmp(rc->sv[mid].id, it->id) > 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < rc->nsv ? &rc->sv[lo] : NULL;
}

/* "v3 KEYID (LABEL)" or "unsigned". */
static const char *signer_text(const struct receipts *rc, const struct item *it, char *buf, size_t len)
{
	const struct sver *v = item_signer(rc, it);
	char who[160];

	if (!v) {
		snprintf(buf, len, "unsigned");
		return buf;
	}
	snprintf(buf, len, "v%llu %s", v->version, ctl_signer_text(&rc->tr, v->key, who, sizeof(who)));
	return buf;
}

/* A signed protected set whose stored names are not its manifest's (the set
 * digest and count; with --trusted, also a protect-key there, not revoked,
 * and the signature) is not trusted to label names (someone with Redis write
 * access may have added them): -1 after a warning. 0: trusted (or never
 * signed); else the exit code after printing why. */
static int protected_unverified(struct receipts *rc, char *const *names, size_t n)
{
	const struct rs_pubkey *tk;
	struct ctl_manifest mf;
	struct rs_setdigest *d;
	char hex[65], why[600] = "";
	size_t cnt;
	int ex;

	if ((ex = ctl_protected_manifest_read(rc->x, &mf)))
		return ex;
	if (!mf.present) {
		ctl_manifest_clear(&mf);
		return 0;
	}
	if (!(d = rs_setdigest_new()))
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (rs_setdigest_add(d, names[i], strlen(names[i])))
			errx(CTL_EXIT_ERROR, "out of memory");
	rs_setdigest_finish(d, hex, &cnt);
	if (!mf.m)
		snprintf(why, sizeof(why), "%s", mf.err);
	else if (cnt != mf.m->names || strcmp(hex, mf.m->names_digest) != 0)
		snprintf(why, sizeof(why), "its %zu names do not match signed version %llu (%zu names)", cnt,
			 (unsigned long long)mf.m->version, mf.m->names);
	else if (rc->tr.n && (!(tk = ctl_trust_find(&rc->tr, mf.key)) || !(rs_key_roles(tk) & RS_KEY_PROTECT) ||
			      ctl_trust_revoked(&rc->tr, mf.key) || rs_sig_verify(tk, mf.text, mf.len, mf.sig)))
		snprintf(why, sizeof(why), "its manifest is not signed by a protect-key of --trusted FILE (key %s), "
			 "or its signature does not verify", mf.key);
	ctl_manifest_clear(&mf);
	if (!*why)
		return 0;
	warnx("warning: the protected set is not verified (%s): no name is reported as protected", why);
	return -1;
}

/* Mark the adds of protected names (or names below one): the resolvers refuse them. */
static int mark_protected(struct receipts *rc)
{
	struct ctl *x = rc->x;
	struct ctl_prot p;
	char k[CTL_KEY_MAX], **names;
	size_t n;
	int ex;

	if ((ex = ctl_set_members(x, ctl_key(x, k, "protected"), &names, &n)))
		return ex;
	if ((ex = protected_unverified(rc, names, n))) {
		ctl_free_strings(names, n);
		return ex < 0 ? 0 : ex; /* unverified: no add is labelled protected */
	}
	if (ctl_prot_init(&p))
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (ctl_prot_add(&p, names[i]))
			errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < rc->nitems; i++) {
		const char *which;
		int hit = rc->items[i].add ? ctl_prot_check(&p, rc->items[i].domain, &which) : CTL_PROT_NONE;
		rc->items[i].protected_ = hit == CTL_PROT_SAME || hit == CTL_PROT_BELOW;
	}
	ctl_prot_free(&p);
	ctl_free_strings(names, n);
	return 0;
}

/* The resolvers: the roster, or when it is empty every one with a heartbeat
 * (then a resolver that stopped is forgotten when its heartbeat expires: the
 * roster is what makes it count as down). */
static void pick_resolvers(struct receipts *rc)
{
	bool roster = false;

	for (size_t i = 0; i < rc->nhbs; i++)
		roster |= rc->hbs[i].rostered;
	rc->res = calloc(rc->nhbs ? rc->nhbs : 1, sizeof(*rc->res));
	if (!rc->res)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < rc->nhbs; i++) {
		const struct ctl_hb *h = &rc->hbs[i];
		struct rres *r;
		if (roster && !h->rostered)
			continue;
		r = &rc->res[rc->nres++];
		r->hb = h;
		r->juris = h->roster_juris[0] ? h->roster_juris : h->f[HB_JURIS];
		r->in_scope = rs_scope_includes(rc->o.f[F_SCOPE], r->juris[0] ? r->juris : NULL);
	}
}

/* One receipt: kept with the running maximum of `applied` (a receipt
 * without a valid `applied` is malformed: skipped). */
static void add_receipt(void *arg, const redisReply *e)
{
	struct rres *res = arg;
	const redisReply *f;
	const char *applied = NULL;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
	    !stream_id_ok(e->element[0]->str))
		return;
	f = e->element[1];
	for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2)
		if (f->element[j]->type == REDIS_REPLY_STRING && f->element[j + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(f->element[j]->str, "applied") == 0)
			applied = f->element[j + 1]->str;
	if (!applied || !stream_id_ok(applied))
		return;
	if (res->n == res->cap) {
		res->cap = res->cap ? res->cap * 2 : 64;
		struct receipt *nv = realloc(res->r, res->cap * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		res->r = nv;
	}
	if (res->n == 0 || ctl_id_cmp(applied, res->r[res->n - 1].applied) > 0)
		snprintf(res->r[res->n].applied, RS_STREAM_ID_MAX, "%s", applied);
	else
		memcpy(res->r[res->n].applied, res->r[res->n - 1].applied, RS_STREAM_ID_MAX);
	res->r[res->n++].ms = id_ms(e->element[0]->str);
}

/* The receipts of one resolver from the first item's time on. */
static int read_receipts(struct receipts *rc, struct rres *res)
{
	char k[CTL_KEY_MAX], start[RS_STREAM_ID_MAX + 2];

	if (rc->nitems == 0)
		return 0;
	ctl_key(rc->x, k, "receipts:%s", res->hb->name);
	snprintf(start, sizeof(start), "%lld-0", (long long)rc->items[0].ms);
	return each_entry(rc->x, k, start, add_receipt, res);
}

/* What resolver res did with item it; *ms: when (processed). */
static enum rstate judge(const struct receipts *rc, const struct rres *res, const struct item *it, int64_t *ms)
{
	size_t lo = 0, hi = res->n;

	*ms = 0;
	if (!res->in_scope)
		return R_OUT_OF_SCOPE;
	if (it->protected_)
		return R_PROTECTED;
	while (lo < hi) { /* the first receipt whose running maximum reaches the item */
		size_t mid = (lo + hi) / 2;
		if (ctl_id_cmp(res->r[mid].applied, it->id) >= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < res->n) {
		*ms = res->r[lo].ms;
		return R_PROCESSED;
	}
	(void)rc;
	return res->hb->beating ? R_PENDING : R_DOWN;
}

/* Fleet-wide state of every item, and lateness. */
static void judge_items(struct receipts *rc)
{
	for (size_t i = 0; i < rc->nitems; i++) {
		struct item *it = &rc->items[i];
		it->processed = true;
		for (size_t j = 0; j < rc->nres; j++) {
			int64_t ms;
			enum rstate st = judge(rc, &rc->res[j], it, &ms);
			if (st == R_OUT_OF_SCOPE || st == R_PROTECTED)
				continue;
			it->due++;
			if (st != R_PROCESSED)
				it->processed = false;
			else if (ms > it->done_ms)
				it->done_ms = ms;
		}
		if (it->due == 0) /* nobody must enforce it: nothing done */
			it->processed = false;
		/* late: due somewhere (or no resolver at all: nobody enforces it) */
		if (rc->deadline_ms > 0 && (it->due > 0 || rc->nres == 0))
			it->late = it->processed ? it->done_ms - it->ms > rc->deadline_ms
						 : rc->now_ms - it->ms > rc->deadline_ms;
		rc->nlate += it->late;
	}
}

/* The item's state for people: "processed", or "unprocessed: reasons". */
static const char *item_reason(const struct receipts *rc, const struct item *it, char *buf, size_t len)
{
	bool seen[5] = { false };

	buf[0] = '\0';
	if (it->processed)
		return "";
	if (rc->nres == 0)
		return "no resolver (no roster, no heartbeat)";
	if (it->due == 0)
		return it->protected_ ? rstate_reason[R_PROTECTED] : rstate_reason[R_OUT_OF_SCOPE];
	for (size_t j = 0; j < rc->nres; j++) {
		int64_t ms;
		enum rstate st = judge(rc, &rc->res[j], it, &ms);
		if (st == R_PENDING || st == R_DOWN) {
			size_t used = strlen(buf);
			if (!seen[st])
				snprintf(buf + used, len - used, "%s%s: %s", used ? "; " : "", rstate_reason[st],
					 rc->res[j].hb->name);
			else
				snprintf(buf + used, len - used, ", %s", rc->res[j].hb->name);
			seen[st] = true;
		}
	}
	return buf;
}

/* Piracy Shield's item vocabulary (doc/fleet.md): processed / unblocked /
 * unprocessed with ALREADY_BLOCKED, UNDEFINED or UNKNOWN. */
static const char *ps_status(const struct item *it)
{
	if (!it->processed)
		return "unprocessed";
	return it->add ? "processed" : "unblocked";
}

static const char *ps_reason(const struct receipts *rc, const struct item *it)
{
	if (it->processed)
		return NULL;
	return it->due == 0 && rc->nres > 0 ? "UNDEFINED" : "UNKNOWN";
}

static void json_ms(const char *k, int64_t ms)
{
	char tb[40], id[32];

	if (!ms) {
		printf(",\"%s\":null,\"%s_ms\":null", k, k);
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)ms);
	printf(",\"%s\":\"%s\",\"%s_ms\":%lld", k, ctl_fmt_id_time(id, tb), k, (long long)ms);
}

static void print_json(const struct receipts *rc)
{
	char reason[1024], tb[32];

	printf("{\"order\":");
	ctl_json_str(stdout, rc->order);
	printf(",\"generated_at_ms\":%lld,\"deadline_ms\":", (long long)rc->now_ms);
	if (rc->deadline_ms)
		printf("%lld", (long long)rc->deadline_ms);
	else
		printf("null");
	printf(",\"order_state\":\"%s\",\"active\":%s,\"next_change\":", ctl_order_state(&rc->o),
	       rc->o.active ? "true" : "false");
	if (rc->o.next_change)
		ctl_json_str(stdout, ctl_fmt_time(rc->o.next_change, tb));
	else
		printf("null");
	printf(",\"stream_first_id\":");
	ctl_json_str(stdout, rc->first_id);
	printf(",\"resolvers\":[");
	for (size_t j = 0; j < rc->nres; j++) {
		printf("%s{\"name\":", j ? "," : "");
		ctl_json_str(stdout, rc->res[j].hb->name);
		printf(",\"jurisdiction\":");
		ctl_json_str(stdout, rc->res[j].juris);
		printf(",\"rostered\":%s,\"up\":%s,\"receipts\":%zu}", rc->res[j].hb->rostered ? "true" : "false",
		       rc->res[j].hb->beating ? "true" : "false", rc->res[j].n);
	}
	printf("],\"items\":[");
	for (size_t i = 0; i < rc->nitems; i++) {
		const struct item *it = &rc->items[i];
		const char *ps = ps_reason(rc, it);
		printf("%s{\"id\":", i ? "," : "");
		ctl_json_str(stdout, it->id);
		printf(",\"op\":\"%s\",\"domain\":", it->add ? "block" : "unblock");
		ctl_json_str(stdout, it->domain);
		json_ms("pushed_at", it->ms);
		printf(",\"state\":\"%s\",\"reason\":", it->processed ? "processed" : "unprocessed");
		ctl_json_str(stdout, item_reason(rc, it, reason, sizeof(reason)));
		json_ms("processed_at", it->processed ? it->done_ms : 0);
		if (it->processed)
			printf(",\"latency_ms\":%lld", (long long)(it->done_ms - it->ms));
		else
			printf(",\"latency_ms\":null");
		printf(",\"late\":%s,\"piracy_shield\":{\"value\":", it->late ? "true" : "false");
		ctl_json_str(stdout, it->domain);
		printf(",\"status\":\"%s\",\"reason\":", ps_status(it));
		if (ps)
			printf("\"%s\"", ps);
		else
			printf("null");
		json_ms("timestamp", it->processed ? it->done_ms : 0);
		{
			const struct sver *sv = item_signer(rc, it);
			const struct rs_pubkey *k = sv ? ctl_trust_find(&rc->tr, sv->key) : NULL;
			printf("},\"signed\":");
			if (sv) {
				printf("{\"version\":%llu,\"key\":", sv->version);
				ctl_json_str(stdout, sv->key);
				printf(",\"label\":");
				if (k && *k->label)
					ctl_json_str(stdout, k->label);
				else
					printf("null");
				printf(",\"change\":");
				ctl_json_str(stdout, sv->id);
				putchar('}');
			} else {
				printf("null");
			}
		}
		printf(",\"resolvers\":[");
		for (size_t j = 0; j < rc->nres; j++) {
			int64_t ms;
			enum rstate st = judge(rc, &rc->res[j], it, &ms);
			printf("%s{\"name\":", j ? "," : "");
			ctl_json_str(stdout, rc->res[j].hb->name);
			printf(",\"state\":\"%s\",\"reason\":", st == R_PROCESSED ? "processed" : "unprocessed");
			if (st == R_PROCESSED)
				printf("null");
			else
				printf("\"%s\"", rstate_code[st]);
			json_ms("processed_at", ms);
			if (st == R_PROCESSED)
				printf(",\"latency_ms\":%lld}", (long long)(ms - it->ms));
			else
				printf(",\"latency_ms\":null}");
		}
		printf("]}");
	}
	printf("],\"late\":%zu}\n", rc->nlate);
}

/* One CSV field, quoted when needed (RFC 4180). */
static void csv_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	putchar(last ? '\n' : ',');
}

static void print_csv(const struct receipts *rc)
{
	char tb[40], tb2[40], ms_s[32], lat[32];
	const char *active = rc->o.active ? "yes" : "no";

	printf("item_id,order,op,domain,pushed_at,resolver,jurisdiction,state,reason,processed_at,latency_ms,"
	       "order_active\n");
	for (size_t i = 0; i < rc->nitems; i++) {
		const struct item *it = &rc->items[i];
		for (size_t j = 0; j < rc->nres; j++) {
			int64_t ms;
			enum rstate st = judge(rc, &rc->res[j], it, &ms);
			csv_field(it->id, false);
			csv_field(rc->order, false);
			csv_field(it->add ? "block" : "unblock", false);
			csv_field(it->domain, false);
			csv_field(ctl_fmt_id_time(it->id, tb), false);
			csv_field(rc->res[j].hb->name, false);
			csv_field(rc->res[j].juris, false);
			csv_field(st == R_PROCESSED ? "processed" : "unprocessed", false);
			csv_field(rstate_code[st], false);
			snprintf(ms_s, sizeof(ms_s), "%lld", (long long)ms);
			csv_field(st == R_PROCESSED ? ctl_fmt_id_time(ms_s, tb2) : "", false);
			snprintf(lat, sizeof(lat), "%lld", (long long)(ms - it->ms));
			csv_field(st == R_PROCESSED ? lat : "", false);
			csv_field(active, true);
		}
	}
}

static void print_table(const struct receipts *rc)
{
	struct ctl_table t = { 0 };
	char tb[40], tb2[40], ms_s[32], lat[32], reason[1024], shown[300], sg[200], act[64];
	size_t nproc = 0;

	ctl_table_row(&t, 8, "ITEM", "OP", "DOMAIN", "PUSHED", "STATE", "ENFORCED BY ALL", "AFTER", "SIGNED");
	for (size_t i = 0; i < rc->nitems; i++) {
		const struct item *it = &rc->items[i];
		char state[1100];
		nproc += it->processed;
		if (it->processed)
			snprintf(state, sizeof(state), "processed%s", it->late ? " (LATE)" : "");
		else
			snprintf(state, sizeof(state), "%sunprocessed: %s", it->late ? "LATE " : "",
				 item_reason(rc, it, reason, sizeof(reason)));
		snprintf(ms_s, sizeof(ms_s), "%lld", (long long)it->done_ms);
		snprintf(lat, sizeof(lat), "%.3f s", (double)(it->done_ms - it->ms) / 1000.0);
		ctl_table_row(&t, 8, it->id, it->add ? "block" : "unblock",
			      ctl_name_display(it->domain, shown, sizeof(shown)), ctl_fmt_id_time(it->id, tb), state,
			      it->processed ? ctl_fmt_id_time(ms_s, tb2) : "-", it->processed ? lat : "-",
			      signer_text(rc, it, sg, sizeof(sg)));
	}
	printf("order %s: %zu items, %zu processed by every resolver they are due on; resolvers:", rc->order,
	       rc->nitems, nproc);
	for (size_t j = 0; j < rc->nres; j++)
		printf(" %s%s", rc->res[j].hb->name, rc->res[j].in_scope ? "" : " (out of scope)");
	printf("%s\n", rc->nres ? "" : " none (no roster, no heartbeat)");
	printf("order %s (%s): active now: %s\n", rc->order, ctl_order_state(&rc->o),
	       ctl_order_active_text(&rc->o, act));
	if (rc->first_id[0] && rc->since_ms < id_ms(rc->first_id))
		printf("the stream starts at %s: older items were trimmed and are not shown\n", rc->first_id);
	if (rc->nitems)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
}

static int receipts_options(struct receipts *rc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, O_RC_SINCE },
		{ "deadline", required_argument, NULL, O_RC_DEADLINE },
		{ "json", no_argument, NULL, O_RC_JSON },
		{ "csv", no_argument, NULL, O_RC_CSV },
		{ "trusted", required_argument, NULL, O_RC_TRUSTED },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = rc->x;
	int ch, ex;
	int64_t t;

	while ((ch = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (ch == CTL_OPT_EXIT)
			return ex;
		if (ch == O_RC_SINCE) {
			if (ctl_parse_when(optarg, rc->now_ms / 1000, &t))
				return ctl_usage_error(x, "--since '%.40s': not a time (RFC 3339, a date, -30d, -12h)",
						       optarg);
			rc->since_ms = t * 1000;
		} else if (ch == O_RC_DEADLINE) {
			if ((rc->deadline_ms = parse_duration(optarg)) < 0)
				return ctl_usage_error(x, "--deadline '%.40s': a duration (30m, 90s, 2h, 1d)", optarg);
		} else if (ch == O_RC_JSON) {
			rc->json = true;
		} else if (ch == O_RC_CSV) {
			rc->csv = true;
		} else if (ch == O_RC_TRUSTED && (ex = ctl_trust_load(&rc->tr, optarg))) {
			return ex;
		}
	}
	if (rc->json && rc->csv)
		return ctl_usage_error(x, "--json or --csv, not both");
	if (optind + 1 != argc)
		return ctl_usage_error(x, "expected one order ID");
	rc->order = argv[optind];
	if (!rs_order_id_ok(rc->order))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, rc->order);
	return -1;
}

static void late_report(const struct receipts *rc)
{
	char tb[40], reason[1024];

	for (size_t i = 0; i < rc->nitems; i++) {
		const struct item *it = &rc->items[i];
		if (!it->late)
			continue;
		if (it->processed)
			warnx("late: %s %s %s (pushed %s): enforced by all after %.3f s", it->id,
			      it->add ? "block" : "unblock", it->domain, ctl_fmt_id_time(it->id, tb),
			      (double)(it->done_ms - it->ms) / 1000.0);
		else
			warnx("late: %s %s %s (pushed %s): unprocessed: %s", it->id, it->add ? "block" : "unblock",
			      it->domain, ctl_fmt_id_time(it->id, tb), item_reason(rc, it, reason, sizeof(reason)));
	}
	warnx("receipts --deadline: %zu of %zu items late", rc->nlate, rc->nitems);
}

int cmd_receipts(struct ctl *x, int argc, char **argv)
{
	struct receipts rc = { .x = x };
	struct timespec ts;
	int ex;

	x->usage = receipts_usage;
	clock_gettime(CLOCK_REALTIME, &ts);
	rc.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if ((ex = receipts_options(&rc, argc, argv)) >= 0)
		return ex;
	if ((ex = ctl_open(x)) || (ex = ctl_order_load(x, rc.order, false, &rc.o)))
		return ex;
	if (!rc.o.exists) {
		warnx("no order '%s'", rc.order);
		ex = CTL_EXIT_ERROR;
		goto out;
	}
	if ((ex = read_items(&rc)) || (ex = mark_protected(&rc)) || (ex = ctl_fleet(x, &rc.hbs, &rc.nhbs)))
		goto out;
	pick_resolvers(&rc);
	for (size_t j = 0; j < rc.nres; j++)
		if ((ex = read_receipts(&rc, &rc.res[j])))
			goto out;
	judge_items(&rc);
	if (rc.json)
		print_json(&rc);
	else if (rc.csv)
		print_csv(&rc);
	else
		print_table(&rc);
	if (rc.nlate) {
		late_report(&rc);
		ex = CTL_EXIT_ERROR;
	}
out:
	for (size_t i = 0; i < rc.nitems; i++)
		free(rc.items[i].domain);
	free(rc.items);
	for (size_t j = 0; j < rc.nres; j++)
		free(rc.res[j].r);
	free(rc.res);
	ctl_heartbeats_free(rc.hbs, rc.nhbs);
	ctl_order_clear(&rc.o);
	free(rc.sv);
	ctl_trust_free(&rc.tr);
	return ex;
}
