/* apply.c — one stream entry at a time (see apply.h). */
#include "apply.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "rs_err.h"
#include "sign.h"

static struct rs_list *changed_new(uint32_t *idx)
{
	static struct rs_conf any = { 0 };
	const char *kv[] = { "authority", "-", "reference", "-", "scope", "*", "action", "sinkhole" };
	struct rs_list *l = rs_list_new(64);
	struct rs_order *o;
	char err[128];

	if (!l)
		return NULL;
	if (rs_order_parse(&any, "changed", kv, 4, &o, err, sizeof(err)) || rs_list_order_set(l, o, idx)) {
		rs_list_free(l);
		return NULL;
	}
	return l;
}

int rs_apply_init(struct rs_apply *a, struct rs_list *l, rs_fetch_order_fn fetch, void *arg)
{
	memset(a, 0, sizeof(*a));
	a->list = l;
	a->fetch = fetch;
	a->fetch_arg = arg;
	a->changed = changed_new(&a->changed_order);
	return a->changed ? 0 : RS_ENOMEM;
}

int rs_apply_reset(struct rs_apply *a)
{
	struct rs_list_stats st;

	a->purge_all = false;
	rs_list_stats(a->changed, &st);
	if (st.domains == 0 && st.prefixes == 0)
		return 0;
	rs_list_free(a->changed);
	a->changed = changed_new(&a->changed_order);
	return a->changed ? 0 : RS_ENOMEM;
}

void rs_apply_signed(struct rs_apply *a, const struct rs_conf *c, rs_reload_order_fn reload, struct rs_sigalarm *alarm)
{
	a->conf = c;
	a->reload = reload;
	a->alarm = alarm;
}

void rs_apply_free(struct rs_apply *a)
{
	rs_list_free(a->changed);
	a->changed = NULL;
}

static bool prefix_op(const char *op)
{
	return strcmp(op, "addip") == 0 || strcmp(op, "delip") == 0 || strcmp(op, "protectip") == 0 ||
	       strcmp(op, "unprotectip") == 0;
}

static void bad(struct rs_apply *a, const struct rs_change *ch, const char *why)
{
	a->bad++;
	if (prefix_op(ch->op) || (ch->prefix[0] && !ch->domain[0]))
		rs_log(RS_LOG_WARN, "skipping malformed change %s (op '%s', order '%s', prefix '%s'): %s", ch->id, ch->op,
		       ch->order, ch->prefix, why);
	else
		rs_log(RS_LOG_WARN, "skipping malformed change %s (op '%s', order '%s', domain '%.80s'): %s", ch->id,
		       ch->op, ch->order, ch->domain, why);
}

/* The list index of ch->order, fetching the order when it is not known yet.
 * >= 0, or RS_ENOENT / RS_EINVAL (skip) / RS_EIO / RS_ENOMEM. */
static int64_t order_index(struct rs_apply *a, const char *id)
{
	int64_t i = rs_list_order_find(a->list, id);
	struct rs_order *o;
	uint32_t idx;
	int rc;

	if (i >= 0)
		return i;
	rc = a->fetch(a->fetch_arg, id, &o);
	if (rc)
		return rc;
	rc = rs_list_order_set(a->list, o, &idx);
	if (rc)
		return rc;
	a->purge_all = true;
	return idx;
}

static int revoke(struct rs_apply *a, const char *id)
{
	int64_t i = rs_list_order_find(a->list, id);

	if (i < 0)
		return 0;
	rs_list_order_remove(a->list, id);
	return rs_list_order_sweep(a->list, (uint32_t)i) == RS_ENOMEM ? RS_ENOMEM : 0;
}

/* addip, delip, protectip, unprotectip (p parsed, order checked). */
static int apply_prefix(struct rs_apply *a, const struct rs_change *ch, const struct rs_prefix *p)
{
	int64_t idx;
	int rc;

	if (strcmp(ch->op, "addip") == 0) {
		idx = order_index(a, ch->order);
		if (idx == RS_ENOENT || idx == RS_EINVAL)
			return 0; /* order not in force or malformed: logged by fetch */
		if (idx < 0)
			return (int)idx;
		rc = rs_list_prefix_add(a->list, p, (uint32_t)idx);
		if (rc == RS_ENOMEM)
			return rc;
		rc = rs_list_prefix_add(a->changed, p, a->changed_order);
		return rc == RS_ENOMEM ? rc : 0;
	}
	if (strcmp(ch->op, "delip") == 0) {
		idx = rs_list_order_find(a->list, ch->order);
		if (idx >= 0 && rs_list_prefix_del(a->list, p, (uint32_t)idx) == RS_ENOMEM)
			return RS_ENOMEM;
		return 0;
	}
	if (strcmp(ch->op, "protectip") == 0) {
		rc = rs_list_prefix_protect(a->list, p, true);
		return rc == RS_ENOMEM ? rc : 0;
	}
	/* unprotectip: addresses under it may be blocked again */
	rc = rs_list_prefix_protect(a->list, p, false);
	if (rc == RS_ENOMEM)
		return rc;
	rc = rs_list_prefix_add(a->changed, p, a->changed_order);
	return rc == RS_ENOMEM ? rc : 0;
}


/* Signed mode: reload order id whole (a gap in its versions, counts off). */
static int reload(struct rs_apply *a, const char *id)
{
	int rc;

	if (!a->reload)
		return 0;
	rc = a->reload(a->fetch_arg, id);
	if (rc == 0) {
		a->reloads++;
		a->purge_all = true; /* names and fields may have changed */
	}
	return rc;
}

void rs_apply_set_list(struct rs_apply *a, struct rs_list *l)
{
	a->list = l;
	a->nfailed = 0;
	a->failed_next = 0;
}

/* The verified version of order id ("": the protected set) after a reload. */
static uint64_t verified_version(const struct rs_apply *a, const char *id)
{
	const struct rs_order *o;
	int64_t i;

	if (!*id)
		return a->alarm ? a->alarm->prot.version : 0;
	i = rs_list_order_find(a->list, id);
	o = i >= 0 ? rs_list_order_get(a->list, (uint32_t)i) : NULL;
	return o && o->sig ? o->sig->version : 0;
}

/*
 * Signed mode: reload id ("": the protected set) for the verified entry of
 * version `version` (text SHA-256 hash). Skipped when a reload for this
 * version or a newer one (or this very text) failed already since the list
 * was loaded: a copy of the entry proves nothing new, and each reload reads
 * the whole order or set. A reload that does not reach `version` is
 * remembered (the last RS_APPLY_FAILED_MAX ids).
 */
static struct rs_reload_failed *failed_find(struct rs_apply *a, const char *id)
{
	for (size_t k = 0; k < a->nfailed; k++)
		if (strcmp(a->failed[k].id, id) == 0)
			return &a->failed[k];
	return NULL;
}

/* Would reload_for skip this reload? */
static bool reload_skipped(struct rs_apply *a, const char *id, uint64_t version, const char *hash)
{
	struct rs_reload_failed *f = failed_find(a, id);

	return f && (version < f->version || (version == f->version && strcmp(hash, f->hash) == 0));
}

static int reload_for(struct rs_apply *a, const char *id, uint64_t version, const char *hash)
{
	struct rs_reload_failed *f = failed_find(a, id);
	int rc;

	if (reload_skipped(a, id, version, hash)) {
		a->reloads_skipped++;
		return 0; /* its alarm is up already */
	}
	rc = reload(a, id);
	if (rc || !a->reload || verified_version(a, id) >= version) {
		if (rc == 0 && f)
			*f = a->failed[--a->nfailed]; /* reached: forget the failure */
		return rc;
	}
	if (!f) {
		if (a->nfailed < RS_APPLY_FAILED_MAX)
			f = &a->failed[a->nfailed++];
		else
			f = &a->failed[a->failed_next++ % RS_APPLY_FAILED_MAX];
	}
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->version = version;
	snprintf(f->hash, sizeof(f->hash), "%s", hash);
	return 0;
}

/* Do two orders state the same fields that decide what is blocked? */
static bool same_effect(const struct rs_order *a, const struct rs_order *b)
{
	return a->action == b->action && strcmp(a->scope, b->scope) == 0 &&
	       strcmp(a->expires_text, b->expires_text) == 0 &&
	       strcmp(a->windows ? a->windows : "", b->windows ? b->windows : "") == 0;
}

/* One delta line onto order idx (undo: its inverse); *changed: the list
 * changed (an add of a name not listed yet, a del of one listed), then
 * *dn / *dp move by one. 0, RS_EINVAL (a line the parser let through but
 * this list cannot take), RS_ENOMEM. */
static int apply_delta(struct rs_apply *a, const struct rs_delta *d, bool undo, uint32_t idx, long *dn, long *dp,
		       bool *changed)
{
	uint8_t wire[RS_WIRE_MAX];
	struct rs_prefix p;
	char why[160];
	bool add = (d->op == RS_D_ADD || d->op == RS_D_ADDIP) != undo;
	int rc, w;

	*changed = false;
	if (d->op == RS_D_ADD || d->op == RS_D_DEL) {
		w = rs_domain_wire(d->item, strlen(d->item), wire);
		if (w < 0)
			return RS_EINVAL;
		if (!add) {
			rc = rs_list_del(a->list, wire, (size_t)w, idx);
			*changed = rc == 0;
			*dn -= rc == 0;
			return rc == RS_ENOMEM ? rc : 0;
		}
		rc = rs_list_add(a->list, wire, (size_t)w, idx);
		if (rc == RS_ENOMEM || rc == RS_EFULL)
			return RS_ENOMEM;
		*changed = rc == 0;
		*dn += rc == 0;
		rc = rs_list_add(a->changed, wire, (size_t)w, a->changed_order);
		return rc == RS_ENOMEM ? rc : 0;
	}
	if (rs_prefix_parse(d->item, &p, why, sizeof(why)) != 0)
		return RS_EINVAL;
	if (!add) {
		rc = rs_list_prefix_del(a->list, &p, idx);
		*changed = rc == 0;
		*dp -= rc == 0;
		return rc == RS_ENOMEM ? rc : 0;
	}
	rc = rs_list_prefix_add(a->list, &p, idx);
	if (rc == RS_ENOMEM || rc == RS_EFULL)
		return RS_ENOMEM;
	*changed = rc == 0;
	*dp += rc == 0;
	rc = rs_list_prefix_add(a->changed, &p, a->changed_order);
	return rc == RS_ENOMEM ? rc : 0;
}

/*
 * The delta of m onto order idx, then the counts check: base + changes must
 * equal the manifest's names and prefixes. 0 (applied), RS_EINVAL (the
 * counts are off or a line does not apply: every change undone, the order's
 * names and prefixes are as before), RS_ENOMEM.
 */
static int apply_deltas(struct rs_apply *a, const struct rs_manifest *m, uint32_t idx, size_t base_n, size_t base_p,
			long *dn, long *dp)
{
	bool *done = calloc(m->ndelta + 1, sizeof(*done));
	size_t k;
	int rc = 0;

	if (!done)
		return RS_ENOMEM;
	for (k = 0; k < m->ndelta && rc == 0; k++)
		rc = apply_delta(a, &m->delta[k], false, idx, dn, dp, &done[k]);
	if (rc == 0 && (long)base_n + *dn == (long)m->names && (long)base_p + *dp == (long)m->prefixes) {
		free(done);
		return 0;
	}
	if (rc != RS_ENOMEM)
		rc = RS_EINVAL;
	{
		long un = 0, up = 0;
		bool ch;
		while (k-- > 0)
			if (done[k] && apply_delta(a, &m->delta[k], true, idx, &un, &up, &ch) == RS_ENOMEM)
				rc = RS_ENOMEM;
	}
	free(done);
	return rc;
}

/* An op `signed` entry in signed mode (apply.h). */
static int apply_signed(struct rs_apply *a, const struct rs_change *ch)
{
	char reason[16], why[600];
	struct rs_manifest *m = NULL;
	struct rs_order *o = NULL;
	const struct rs_order *cur;
	uint64_t verified = 0;
	size_t base_n = 0, base_p = 0;
	char hash[65] = "-";
	bool fields_changed;
	long dn = 0, dp = 0;
	uint32_t idx;
	int64_t i;
	int rc;

	if (ch->truncated || !ch->text || !rs_order_id_ok(ch->order)) {
		bad(a, ch, ch->truncated ? "a field is too long" : !ch->text ? "no manifest text" : "missing or invalid order id");
		if (rs_order_id_ok(ch->order))
			rs_sigalarm_raise(a->alarm, ch->order, "malformed", "change %s: a malformed signed entry: refused",
					  ch->id);
		return 0;
	}
	rc = rs_manifest_verify(a->conf, ch->order, ch->text, ch->text_len, ch->sig, ch->key, &m, reason, why,
				sizeof(why));
	if (rc == RS_ENOMEM)
		return rc;
	if (rc) {
		rs_sigalarm_raise(a->alarm, ch->order, reason, "change %s: %s: refused, the order keeps its verified state",
				  ch->id, why);
		return 0;
	}
	a->applied++;
	i = rs_list_order_find(a->list, ch->order);
	cur = i >= 0 ? rs_list_order_get(a->list, (uint32_t)i) : NULL;
	if (cur && !cur->sig) {
		/* an order without a verified manifest (left from unsigned
		 * mode) is absent in signed mode: none of its names may survive
		 * under the signed version */
		rc = revoke(a, ch->order);
		if (rc) {
			rs_manifest_free(m);
			return rc;
		}
		cur = NULL;
		i = -1;
		a->purge_all = true; /* its names no longer block */
	}
	if (cur && cur->sig) {
		verified = cur->sig->version;
		snprintf(hash, sizeof(hash), "%s", cur->sig->hash);
		if (!cur->sig->revoked) { /* a tombstone lists nothing */
			base_n = cur->sig->names;
			base_p = cur->sig->prefixes;
		}
	}
	if (m->version <= verified) {
		char h[65];
		rs_sha256_hex(m->text, m->len, h);
		if (m->version == verified && strcmp(h, hash) == 0) {
			rs_manifest_free(m);
			return 0; /* read again after a full load that saw it already */
		}
		rs_sigalarm_raise(a->alarm, ch->order, "replayed",
				  "change %s: version %llu is not newer than the verified version %llu: refused", ch->id,
				  (unsigned long long)m->version, (unsigned long long)verified);
		rs_manifest_free(m);
		return 0;
	}
	if (m->version > verified + 1) {
		rs_sha256_hex(m->text, m->len, hash);
		if (!reload_skipped(a, ch->order, m->version, hash))
			rs_log(RS_LOG_INFO, "order '%s': change %s is version %llu, the verified one %llu: reloading "
			       "the order", ch->order, ch->id, (unsigned long long)m->version, (unsigned long long)verified);
		rc = reload_for(a, ch->order, m->version, hash);
		rs_manifest_free(m);
		return rc;
	}
	if (strcmp(m->prev, hash) != 0) {
		rs_sigalarm_raise(a->alarm, ch->order, "broken-chain",
				  "change %s: version %llu does not follow the verified version %llu (prev %.16s..., "
				  "verified %.16s...): refused",
				  ch->id, (unsigned long long)m->version, (unsigned long long)verified, m->prev, hash);
		rs_sha256_hex(m->text, m->len, hash);
		rc = reload_for(a, ch->order, m->version, hash); /* the full load's checks decide (they still apply) */
		rs_manifest_free(m);
		return rc;
	}
	rc = rs_order_from_manifest(a->conf, m, ch->sig, &o, why, sizeof(why));
	if (rc == RS_ENOMEM) {
		rs_manifest_free(m);
		return rc;
	}
	if (rc) {
		rs_sigalarm_raise(a->alarm, ch->order, "malformed", "change %s: %s: refused", ch->id, why);
		rs_manifest_free(m);
		return 0;
	}
	if (m->revoked) {
		/* withdrawn: the order becomes a tombstone (never applies, lists
		 * nothing) that keeps the version, so an older manifest replayed
		 * cannot bring it back */
		rs_manifest_free(m);
		rs_sigalarm_clear(a->alarm, ch->order);
		rc = rs_list_order_set(a->list, o, &idx);
		if (rc)
			return rc;
		return rs_list_order_sweep(a->list, idx) == RS_ENOMEM ? RS_ENOMEM : 0;
	}
	fields_changed = !cur || !same_effect(cur, o);
	if (!cur) {
		/* a new order needs its index first; undone by removing it */
		rc = rs_list_order_set(a->list, o, &idx);
		o = NULL;
	} else {
		idx = (uint32_t)i; /* the verified order stays in force until the delta checks */
	}
	if (rc == 0)
		rc = apply_deltas(a, m, idx, base_n, base_p, &dn, &dp);
	if (rc == 0 && o)
		rc = rs_list_order_set(a->list, o, &idx), o = NULL; /* cur is retired from here on */
	rs_order_free(o);
	if (rc == RS_EINVAL) {
		if (!cur && revoke(a, ch->order) == RS_ENOMEM)
			rc = RS_ENOMEM;
		if (rc != RS_ENOMEM) {
			rs_log(RS_LOG_WARN, "order '%s': change %s (version %llu) does not apply to the %zu names and %zu "
			       "prefixes held (the manifest says %zu and %zu after it): reloading the order",
			       ch->order, ch->id, (unsigned long long)m->version, base_n, base_p, m->names, m->prefixes);
			rs_sha256_hex(m->text, m->len, hash);
			rc = reload_for(a, ch->order, m->version, hash);
			rs_manifest_free(m);
			return rc;
		}
	}
	rs_manifest_free(m);
	if (rc)
		return rc;
	if (fields_changed)
		a->purge_all = true; /* scope, action or expiry may now block more names */
	rs_sigalarm_clear(a->alarm, ch->order);
	return 0;
}

/* Entries that signed mode applies only through op `signed` (orders) and
 * op `signed-protected` (the protected set). */
static bool signed_only(const char *op)
{
	return strcmp(op, "add") == 0 || strcmp(op, "del") == 0 || strcmp(op, "addip") == 0 ||
	       strcmp(op, "delip") == 0 || strcmp(op, "order") == 0 || strcmp(op, "revoke") == 0 ||
	       strcmp(op, "protect") == 0 || strcmp(op, "unprotect") == 0 || strcmp(op, "protectip") == 0 ||
	       strcmp(op, "unprotectip") == 0;
}

/* One delta line of the protected set's manifest (undo: its inverse): +
 * protect, - unprotect (the name may be blocked again: into `changed`), +ip /
 * -ip the same for a prefix. *changed: the list changed, then *dn / *dp move
 * by one. 0, RS_EINVAL (a line the list cannot take), RS_ENOMEM. */
static int protect_delta(struct rs_apply *a, const struct rs_delta *d, bool undo, long *dn, long *dp, bool *changed)
{
	bool on = (d->op == RS_D_ADD || d->op == RS_D_ADDIP) != undo;
	uint8_t wire[RS_WIRE_MAX];
	struct rs_prefix p;
	char why[160];
	int rc, w;

	*changed = false;
	if (d->op == RS_D_ADD || d->op == RS_D_DEL) {
		w = rs_domain_wire(d->item, strlen(d->item), wire);
		if (w < 0)
			return RS_EINVAL;
		rc = rs_list_protect(a->list, wire, (size_t)w, on);
		if (rc == RS_ENOMEM)
			return rc;
		*changed = rc == 0;
		*dn += rc == 0 ? (on ? 1 : -1) : 0;
		if (on)
			return 0;
		rc = rs_list_add(a->changed, wire, (size_t)w, a->changed_order);
		return rc == RS_ENOMEM ? rc : 0;
	}
	if (rs_prefix_parse(d->item, &p, why, sizeof(why)) != 0)
		return RS_EINVAL;
	rc = rs_list_prefix_protect(a->list, &p, on);
	if (rc == RS_ENOMEM)
		return rc;
	*changed = rc == 0;
	*dp += rc == 0 ? (on ? 1 : -1) : 0;
	if (on)
		return 0;
	rc = rs_list_prefix_add(a->changed, &p, a->changed_order);
	return rc == RS_ENOMEM ? rc : 0;
}

/*
 * An op `signed-protected` entry in signed mode: the next version of the
 * protected set (doc/signing.md). Verified like an order's (a protect-key,
 * version == verified + 1, prev == SHA-256 of the verified text), then its
 * delta applied. A replay is refused (alarm); a gap (a missed version, or
 * the first change after a start) reloads the protected set whole, verified
 * (the reload callback with id ""); so do a broken chain and counts that
 * do not match after the delta (the list's protection differed from the
 * verified state: the delta is undone first, the verified state stays),
 * after their alarm; a reload that failed is not repeated for copies of the
 * entry (reload_for). ps: the verified state (the alarm
 * structure's, or the caller's local one).
 */
static int protected_apply(struct rs_apply *a, const struct rs_change *ch, struct rs_protsig *ps)
{
	char reason[16], why[600], hash[65];
	struct rs_manifest *m = NULL;
	long dn = 0, dp = 0;
	bool *done;
	size_t k;
	int rc = 0;

	if (ch->truncated || !ch->text) {
		bad(a, ch, ch->truncated ? "a field is too long" : "no manifest text");
		rs_sigalarm_raise(a->alarm, RS_PROTECTED_ALARM, "malformed",
				  "change %s: a malformed signed-protected entry: refused", ch->id);
		return 0;
	}
	rc = rs_protected_verify(a->conf, ch->text, ch->text_len, ch->sig, ch->key, &m, reason, why, sizeof(why));
	if (rc == RS_ENOMEM)
		return rc;
	if (rc) {
		rs_sigalarm_raise(a->alarm, RS_PROTECTED_ALARM, reason,
				  "change %s: %s: refused, the verified protection stays", ch->id, why);
		return 0;
	}
	a->applied++;
	rs_sha256_hex(m->text, m->len, hash);
	if (m->version <= ps->version) {
		if (!(m->version == ps->version && strcmp(hash, ps->hash) == 0))
			rs_sigalarm_raise(a->alarm, RS_PROTECTED_ALARM, "replayed",
					  "change %s: version %llu is not newer than the verified "
					  "version %llu: refused", ch->id, (unsigned long long)m->version,
					  (unsigned long long)ps->version);
		rs_manifest_free(m);
		return 0;
	}
	if (m->version > ps->version + 1) {
		/* a missed version, or the first change after a start (the
		 * resolver's first load verified the set without this state) */
		if (!reload_skipped(a, "", m->version, hash))
			rs_log(RS_LOG_INFO, "the protected set: change %s is version %llu, the verified one %llu: "
			       "reloading it", ch->id, (unsigned long long)m->version, (unsigned long long)ps->version);
		rc = reload_for(a, "", m->version, hash); /* rs_load_order_signed: "" is the protected set */
		rs_manifest_free(m);
		return rc;
	}
	if (strcmp(m->prev, ps->version ? ps->hash : "-") != 0) {
		rs_sigalarm_raise(a->alarm, RS_PROTECTED_ALARM, "broken-chain",
				  "change %s: version %llu does not follow the verified version %llu: "
				  "refused", ch->id, (unsigned long long)m->version, (unsigned long long)ps->version);
		rc = reload_for(a, "", m->version, hash); /* the full check decides */
		rs_manifest_free(m);
		return rc;
	}
	done = calloc(m->ndelta + 1, sizeof(*done));
	if (!done) {
		rs_manifest_free(m);
		return RS_ENOMEM;
	}
	for (k = 0; k < m->ndelta && rc != RS_ENOMEM; k++)
		rc = protect_delta(a, &m->delta[k], false, &dn, &dp, &done[k]);
	dn += (long)ps->names; /* the counts held after the delta */
	dp += (long)ps->prefixes;
	if (rc != RS_ENOMEM && (dn != (long)m->names || dp != (long)m->prefixes)) {
		/* the list's protection differed from the verified state: the
		 * delta is undone, the verified state stays, the set is reloaded
		 * whole (its digests decide) */
		long un = 0, up = 0;
		bool ch2;
		rs_sigalarm_raise(a->alarm, RS_PROTECTED_ALARM, "mismatch",
				  "change %s (version %llu): %zu names and %zu prefixes held after it, "
				  "%zu and %zu signed: reloading the set", ch->id, (unsigned long long)m->version,
				  (size_t)dn, (size_t)dp, m->names, m->prefixes);
		while (k-- > 0)
			if (done[k] && protect_delta(a, &m->delta[k], true, &un, &up, &ch2) == RS_ENOMEM)
				rc = RS_ENOMEM;
		if (rc != RS_ENOMEM)
			rc = reload_for(a, "", m->version, hash);
		free(done);
		rs_manifest_free(m);
		return rc;
	}
	free(done);
	/* the new verified state, with its text (the snapshot keeps it) */
	if (rc == RS_ENOMEM || rs_protsig_set(ps, m, ch->sig)) {
		rs_manifest_free(m);
		return RS_ENOMEM;
	}
	rs_sigalarm_clear(a->alarm, RS_PROTECTED_ALARM);
	rs_manifest_free(m);
	return 0;
}

/* Without an alarm structure (a fuzzer) the verified state is this entry's
 * only, as rs_load_order_signed does: nothing static, shared or kept. */
static int apply_protected(struct rs_apply *a, const struct rs_change *ch)
{
	struct rs_protsig none = { .version = 0 };
	int rc;

	if (a->alarm)
		return protected_apply(a, ch, &a->alarm->prot);
	rc = protected_apply(a, ch, &none);
	rs_protsig_clear(&none);
	return rc;
}

int rs_apply_change(struct rs_apply *a, const struct rs_change *ch)
{
	uint8_t wire[RS_WIRE_MAX];
	bool needs_domain = strcmp(ch->op, "add") == 0 || strcmp(ch->op, "del") == 0 ||
			    strcmp(ch->op, "protect") == 0 || strcmp(ch->op, "unprotect") == 0;
	bool needs_prefix = prefix_op(ch->op);
	bool needs_order = strcmp(ch->op, "add") == 0 || strcmp(ch->op, "del") == 0 ||
			   strcmp(ch->op, "order") == 0 || strcmp(ch->op, "revoke") == 0 ||
			   strcmp(ch->op, "addip") == 0 || strcmp(ch->op, "delip") == 0;
	struct rs_prefix p;
	char why[160];
	int wlen = 0, rc;
	int64_t idx;

	if (!ch->truncated && strcmp(ch->op, "dataset") == 0) {
		a->dataset_changed = true;
		return 0;
	}
	if (strcmp(ch->op, "signed") == 0)
		return a->conf ? apply_signed(a, ch) : 0; /* unsigned mode: ignored, not malformed */
	if (strcmp(ch->op, "signed-protected") == 0)
		return a->conf ? apply_protected(a, ch) : 0; /* the same */
	if (a->conf && signed_only(ch->op)) {
		a->unsigned_skipped++;
		return 0; /* signed mode: only the signed manifest changes an order */
	}
	if (ch->truncated) {
		bad(a, ch, "a field is too long");
		return 0;
	}
	if (strcmp(ch->op, "confirmip") == 0 || strcmp(ch->op, "unconfirmip") == 0)
		return 0; /* the record of a confirmed-ips change: that set is read directly (heartbeat) */
	if (!needs_domain && !needs_prefix && !needs_order) {
		bad(a, ch, "unknown op");
		return 0;
	}
	if (needs_order && !rs_order_id_ok(ch->order)) {
		bad(a, ch, "missing or invalid order id");
		return 0;
	}
	if (needs_domain) {
		wlen = rs_domain_wire(ch->domain, strlen(ch->domain), wire);
		if (wlen < 0) {
			bad(a, ch, rs_strerror(wlen));
			return 0;
		}
	}
	if (needs_prefix && rs_prefix_parse(ch->prefix, &p, why, sizeof(why)) != 0) {
		bad(a, ch, why);
		return 0;
	}
	a->applied++;
	if (needs_prefix)
		return apply_prefix(a, ch, &p);
	if (strcmp(ch->op, "add") == 0) {
		idx = order_index(a, ch->order);
		if (idx == RS_ENOENT || idx == RS_EINVAL)
			return 0; /* order not in force or malformed: logged by fetch */
		if (idx < 0)
			return (int)idx;
		rc = rs_list_add(a->list, wire, (size_t)wlen, (uint32_t)idx);
		if (rc == RS_ENOMEM)
			return rc;
		rc = rs_list_add(a->changed, wire, (size_t)wlen, a->changed_order);
		return rc == RS_ENOMEM ? rc : 0;
	}
	if (strcmp(ch->op, "del") == 0) {
		idx = rs_list_order_find(a->list, ch->order);
		if (idx >= 0 && rs_list_del(a->list, wire, (size_t)wlen, (uint32_t)idx) == RS_ENOMEM)
			return RS_ENOMEM;
		return 0;
	}
	if (strcmp(ch->op, "order") == 0) {
		struct rs_order *o;
		uint32_t nidx;
		rc = a->fetch(a->fetch_arg, ch->order, &o);
		if (rc == RS_ENOENT)
			return revoke(a, ch->order);
		if (rc == RS_EINVAL)
			return 0; /* malformed update: the previous version stays */
		if (rc)
			return rc;
		rc = rs_list_order_set(a->list, o, &nidx);
		if (rc)
			return rc;
		a->purge_all = true; /* scope or expiry may now block more names */
		return 0;
	}
	if (strcmp(ch->op, "revoke") == 0)
		return revoke(a, ch->order);
	if (strcmp(ch->op, "protect") == 0) {
		rc = rs_list_protect(a->list, wire, (size_t)wlen, true);
		return rc == RS_ENOMEM ? rc : 0;
	}
	/* unprotect: names under it may be blocked again */
	rc = rs_list_protect(a->list, wire, (size_t)wlen, false);
	if (rc == RS_ENOMEM)
		return rc;
	rc = rs_list_add(a->changed, wire, (size_t)wlen, a->changed_order);
	return rc == RS_ENOMEM ? rc : 0;
}

bool rs_change_parse(const struct redisReply *e, struct rs_change *ch)
{
	const redisReply *f;

	memset(ch, 0, sizeof(*ch));
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= sizeof(ch->id) || strlen(e->element[0]->str) != e->element[0]->len)
		return false;
	snprintf(ch->id, sizeof(ch->id), "%s", e->element[0]->str);
	f = e->element[1];
	if (f->type != REDIS_REPLY_ARRAY)
		return true; /* no fields: applied as malformed */
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		char *dst = NULL;
		size_t cap = 0;
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "op") == 0)
			dst = ch->op, cap = sizeof(ch->op);
		else if (strcmp(k->str, "order") == 0)
			dst = ch->order, cap = sizeof(ch->order);
		else if (strcmp(k->str, "domain") == 0)
			dst = ch->domain, cap = sizeof(ch->domain);
		else if (strcmp(k->str, "prefix") == 0)
			dst = ch->prefix, cap = sizeof(ch->prefix);
		else if (strcmp(k->str, "sig") == 0)
			dst = ch->sig, cap = sizeof(ch->sig);
		else if (strcmp(k->str, "key") == 0)
			dst = ch->key, cap = sizeof(ch->key);
		else if (strcmp(k->str, "text") == 0) {
			if (v->len > RS_MANIFEST_MAX)
				ch->truncated = true;
			else
				ch->text = v->str, ch->text_len = v->len;
			continue;
		}
		if (!dst)
			continue;
		if (v->len >= cap || strlen(v->str) != v->len)
			ch->truncated = true;
		else
			memcpy(dst, v->str, v->len + 1);
	}
	return true;
}
