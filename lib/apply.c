/* apply.c — one stream entry at a time (see apply.h). */
#include "apply.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "rs_err.h"

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
	if (ch->truncated) {
		bad(a, ch, "a field is too long");
		return 0;
	}
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
		if (!dst)
			continue;
		if (v->len >= cap || strlen(v->str) != v->len)
			ch->truncated = true;
		else
			memcpy(dst, v->str, v->len + 1);
	}
	return true;
}
