/*
 * fuzz_change.c — stream entries (lib/apply.c): rs_change_parse on reply
 * trees built by hiredis' own reader from the input's RESP octets, then
 * rs_apply_change of every parsed entry on a small list.
 *
 * Input: RESP2 octets (what Redis sends for XREAD/XRANGE), any number of
 * replies back to back; parsing stops at the first protocol error. Every
 * array node of every reply is tried as a stream entry [id, [field, value,
 * ...]], so an XREAD reply [[stream, [[id, fields], ...]]] yields its entries
 * and the fuzzer also gets to nest arrays (hiredis 0.14 caps nesting at 7).
 *
 * The fetch function returns, for an order id, a fixed valid order with that
 * id, except ids beginning "enoent", "einval" or "eio", which return that
 * error (the order is not in force / malformed / Redis unreachable).
 *
 * Invariants checked:
 *  - rs_change_parse leaves id, op, order and domain NUL-terminated inside
 *    their arrays; an entry it rejects (false) has no id;
 *  - rs_apply_change returns 0, RS_EIO (only when fetch said so) or RS_ENOMEM;
 *  - after an applied "add" of a valid name and an order that fetch
 *    returns, the name matches (blocked, or protected); after "protect" it
 *    is protected; after "revoke" the order is gone; after "order" the order
 *    is present (or, for "enoent...", gone);
 *  - the same for prefixes once committed: after "addip" the prefix's first
 *    and last addresses are blocked (by a prefix holding them) or protected,
 *    after "protectip" protected.
 *
 * Every entry is applied a second time to another list in signed mode
 * (require-signatures: yes, one trusted key whose private key nobody has):
 * rs_apply_change returns 0 or RS_ENOMEM, and no order ever comes into that
 * list (add/order/... are not applied by themselves, and an op=signed entry
 * cannot carry a valid signature), whatever the input.
 */
#include "fuzz_common.h"

#include <hiredis/hiredis.h>

#include "apply.h"
#include "fuzz_order_check.h"
#include "list.h"
#include "load.h"
#include "name.h"
#include "sign.h"

#define MAX_ENTRIES 256

static struct rs_conf conf;
static struct rs_conf sconf; /* signed mode */
static struct rs_apply *signed_apply;
static size_t entries;

/* The public key of a private key nobody has (32 octets of 0x5a as the public key). */
#define NOBODY_KEY "ed25519:WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="

static int no_reload(void *arg, const char *id)
{
	(void)arg;
	(void)id;
	return 0;
}

static int fetch(void *arg, const char *id, struct rs_order **out)
{
	const char *kv[] = { "authority", "AGCOM", "reference", "1/25", "scope", "*", "action", "nxdomain" };
	char err[256];

	*out = NULL;
	if (strncmp(id, "enoent", 6) == 0)
		return RS_ENOENT;
	if (strncmp(id, "einval", 6) == 0)
		return RS_EINVAL;
	if (strncmp(id, "eio", 3) == 0)
		return RS_EIO;
	FZ_CHECK(rs_order_parse(&conf, id, kv, 4, out, err, sizeof(err)) == 0);
	return 0;
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_after(struct rs_apply *a, const struct rs_change *ch, int rc)
{
	uint8_t wire[RS_WIRE_MAX];
	struct rs_qname q;
	struct rs_match m;
	int wl;

	FZ_CHECK(rc == 0 || rc == RS_EIO || rc == RS_ENOMEM);
	if (rc == RS_EIO)
		FZ_CHECK(strncmp(ch->order, "eio", 3) == 0);
	if (rc != 0 || ch->truncated)
		return;
	if (strcmp(ch->op, "revoke") == 0 && rs_order_id_ok(ch->order))
		FZ_CHECK(rs_list_order_find(a->list, ch->order) < 0);
	if (strcmp(ch->op, "order") == 0 && rs_order_id_ok(ch->order)) {
		if (strncmp(ch->order, "enoent", 6) == 0)
			FZ_CHECK(rs_list_order_find(a->list, ch->order) < 0);
		else if (strncmp(ch->order, "einval", 6) != 0)
			FZ_CHECK(rs_list_order_find(a->list, ch->order) >= 0);
	}
	if (strcmp(ch->op, "addip") == 0 || strcmp(ch->op, "protectip") == 0) {
		struct rs_prefix p;
		bool fetched = rs_order_id_ok(ch->order) && strncmp(ch->order, "enoent", 6) != 0 &&
			       strncmp(ch->order, "einval", 6) != 0;
		if (rs_prefix_parse(ch->prefix, &p, NULL, 0) != 0 || (ch->op[0] == 'a' && !fetched))
			return;
		FZ_CHECK(rs_list_commit(a->list) == 0);
		for (int last = 0; last < 2; last++) {
			int n = p.family == 4 ? 4 : 16;
			uint8_t addr[16];
			enum rs_verdict v;
			memcpy(addr, p.addr, 16);
			if (last)
				for (int b = p.len; b < n * 8; b++)
					addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
			v = rs_list_match_addr(a->list, p.family, addr, 1700000000, &m);
			if (ch->op[0] == 'p')
				FZ_CHECK(v == RS_PROTECTED);
			else
				FZ_CHECK(v == RS_PROTECTED || (v == RS_BLOCKED && m.prefix &&
							      rs_prefix_has_addr(&m.prefix->prefix, p.family, addr)));
		}
		return;
	}
	wl = rs_domain_wire(ch->domain, strlen(ch->domain), wire);
	if (wl < 0 || rs_qname_prepare(wire, (size_t)wl, &q) < 0)
		return;
	if (strcmp(ch->op, "protect") == 0)
		FZ_CHECK(rs_list_match(a->list, &q, 1700000000, &m) == RS_PROTECTED);
	if (strcmp(ch->op, "add") == 0 && rs_order_id_ok(ch->order) && strncmp(ch->order, "enoent", 6) != 0 &&
	    strncmp(ch->order, "einval", 6) != 0) {
		enum rs_verdict v = rs_list_match(a->list, &q, 1700000000, &m);
		FZ_CHECK(v == RS_BLOCKED || v == RS_PROTECTED);
		if (v == RS_BLOCKED)
			FZ_CHECK(m.order != NULL && m.entry != NULL);
	}
}

static void walk(struct rs_apply *a, const redisReply *r, int depth)
{
	struct rs_change ch;
	bool ok;

	if (r->type != REDIS_REPLY_ARRAY || entries >= MAX_ENTRIES)
		return;
	entries++;
	ok = rs_change_parse(r, &ch);
	FZ_CHECK(terminated(ch.id, sizeof(ch.id)) && terminated(ch.op, sizeof(ch.op)) &&
		 terminated(ch.order, sizeof(ch.order)) && terminated(ch.domain, sizeof(ch.domain)) &&
		 terminated(ch.prefix, sizeof(ch.prefix)));
	if (!ok) {
		FZ_CHECK(ch.id[0] == '\0');
	} else {
		int rc = rs_apply_change(a, &ch);
		check_after(a, &ch, rc);
		rc = rs_apply_change(signed_apply, &ch);
		FZ_CHECK(rc == 0 || rc == RS_ENOMEM);
		FZ_CHECK(rs_list_order_count(signed_apply->list) == 0);
	}
	for (size_t i = 0; i < r->elements; i++)
		walk(a, r->element[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rs_pubkey key;
	redisReader *rd;
	struct rs_list *l, *sl;
	struct rs_apply a, sa;
	void *reply;
	char err[128];

	if (fz_resp_huge_length(data, size, 1000000))
		return 0;
	fz_quiet();
	conf.ede_format = RS_EDE_JSON;
	conf.language = "en";
	entries = 0;
	if (!sconf.require_signatures) {
		FZ_CHECK(rs_pubkey_parse(NOBODY_KEY, &key, err, sizeof(err)) == 0);
		sconf = conf;
		sconf.trusted_keys = &key;
		sconf.ntrusted = 1;
		sconf.require_signatures = 1;
	}
	l = rs_list_new(16);
	sl = rs_list_new(16);
	if (!l || !sl) {
		rs_list_free(l);
		rs_list_free(sl);
		return 0;
	}
	if (rs_apply_init(&a, l, fetch, NULL) != 0) {
		rs_list_free(l);
		rs_list_free(sl);
		return 0;
	}
	if (rs_apply_init(&sa, sl, fetch, NULL) != 0) {
		rs_apply_free(&a);
		rs_list_free(l);
		rs_list_free(sl);
		return 0;
	}
	rs_apply_signed(&sa, &sconf, no_reload, NULL);
	signed_apply = &sa;
	rd = redisReaderCreate();
	if (!rd)
		goto out;
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
		for (int n = 0; n < 64; n++) {
			reply = NULL;
			if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
				break;
			walk(&a, reply, 0);
			freeReplyObject(reply);
		}
	}
	redisReaderFree(rd);
	if (a.bad + a.applied > 0)
		FZ_CHECK(a.bad + a.applied <= entries);
	(void)rs_apply_reset(&a);
out:
	rs_apply_free(&a);
	rs_list_free(l);
	rs_apply_free(&sa);
	rs_list_free(sl);
	return 0;
}
