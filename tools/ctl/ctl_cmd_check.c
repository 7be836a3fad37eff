/*
 * ctl_cmd_check.c — `redsink-ctl check NAME...`: is this name blocked here,
 * by which order and listed entry, or protected, or listed by orders that do
 * not apply (out of scope, expired, not in force, malformed)?
 *
 * The verdict is the module's own: the tool loads into an rs_list (list.h)
 * exactly the orders and entries that can concern the names asked about —
 * every order hash parsed with rs_order_parse (so scope and expiry are judged
 * by rs_order_applies / rs_scope_includes), and for each suffix of each name
 * its membership in each order's domain set and in `protected` (pipelined
 * SISMEMBER, which every ACL role of doc/acl.md that may read the list has) —
 * and asks rs_list_match, as the module does for a query. The tool and the
 * module therefore cannot disagree about the same data and jurisdiction; the
 * tool reads Redis now, a resolver may be a few changes behind (status).
 *
 * The jurisdiction is --jurisdiction, else the one every live resolver
 * reports in its heartbeat (several different: the tool asks for
 * --jurisdiction), else none (only orders of scope '*' apply).
 *
 * Exit (the family's scheme, lib/cli.h): 0 when no name is blocked, 1 when
 * at least one is ("not compliant" with "reachable"; other errors that give 1
 * print a message on stderr), 2 usage, 4 Redis; the same with --json, so a
 * monitoring script needs no parsing.
 */
#include <ctype.h>
#include <err.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_name.h"
#include "list.h"
#include "load.h"
#include "name.h"
#include "order.h"
#include "rs_err.h"

static const char check_usage[] =
	"Usage: redsink-ctl check NAME... [--jurisdiction CC] [--now TIME] [--json]\n"
	"\n"
	"Is NAME blocked here, and why? For each NAME (Unicode or A-labels): blocked\n"
	"(by which order, and which listed entry: the name itself or a parent),\n"
	"protected (by which protected entry), or not blocked; and every order that\n"
	"lists the name or a parent but does not apply (out of scope, expired, not in\n"
	"force, malformed). The verdict is computed with the module's own matching\n"
	"code on the orders and entries now in Redis.\n"
	"\n"
	"  --jurisdiction CC  judge scopes for this ISO 3166-1 code (default: the\n"
	"                     jurisdiction the live resolvers report; none: only\n"
	"                     scope '*' applies)\n"
	"  --now TIME         judge expiry at TIME (RFC 3339, a date, -30d) instead of now\n"
	"  --json             one JSON object, typed values\n"
	"\n"
	"Exit status: 0 no NAME is blocked, 1 at least one is blocked (or an error,\n"
	"said on standard error), 2 usage, 4 Redis unreachable (also with --json).\n";

enum { O_CJSON = 600, O_CJURIS, O_CNOW };

/* One name asked about: its canonical form and its suffixes. */
struct cname {
	const char *arg;
	char canon[RS_NAME_MAX + 1];
	const char *suf[RS_LABELS_MAX]; /* pointers into canon: suf[0] = canon, last = TLD */
	int nsuf;
};

/* One order: its parsed form (NULL when malformed) and in-force flag. */
struct corder {
	char *id;
	bool in_force;
	bool exists;
	struct rs_order *o; /* owned until handed to the list */
	const struct rs_order *lo;
	char why[300];      /* why it is malformed */
	int64_t expires;
	bool in_scope;
	uint8_t *member;    /* member[k]: suffix k (of all names) listed by this order */
};

struct check {
	struct cname *names;
	size_t nnames;
	const char **sufs; /* every suffix of every name (with duplicates) */
	size_t nsufs;
	struct corder *ord;
	size_t nord;
	uint8_t *prot;     /* prot[k]: suffix k is protected */
	char *juris;       /* NULL: none */
	int64_t now;
};

static int redis_reply(struct ctl *x, redisReply **out, const char *what)
{
	void *r = NULL;

	if (redisGetReply(x->conn.c, &r) != REDIS_OK || !r) {
		ctl_fail(&x->conn, what, NULL);
		return ctl_redis_failed(x);
	}
	*out = r;
	return 0;
}

static int corder_cmp(const void *a, const void *b)
{
	return strcmp(((const struct corder *)a)->id, ((const struct corder *)b)->id);
}

/* Append order id to k->ord (capacity *cap). */
static void add_order(struct check *k, const char *id, size_t *cap)
{
	struct corder *o;

	if (k->nord == *cap) {
		struct corder *nv;
		*cap = *cap ? *cap * 2 : 64;
		nv = realloc(k->ord, *cap * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		k->ord = nv;
	}
	o = &k->ord[k->nord];
	memset(o, 0, sizeof(*o));
	o->id = strdup(id);
	o->member = calloc(k->nsufs ? k->nsufs : 1, 1);
	if (!o->id || !o->member)
		errx(CTL_EXIT_ERROR, "out of memory");
	k->nord++;
}

/* The ids of every order hash (and of `orders`), which are in force, their
 * parsed hashes and which suffixes each lists; which suffixes are protected. */
static int read_orders(struct ctl *x, struct check *k)
{
	char pat[CTL_KEY_MAX], key[CTL_KEY_MAX], cursor[32] = "0";
	size_t plen = strlen(x->prefix) + strlen("order:"), cap = 0;
	redisReply *r;
	int ex;

	ctl_key(x, pat, "order:*");
	do {
		r = ctl_cmd(&x->conn, "SCAN", "SCAN %s MATCH %s COUNT 1000 TYPE hash", cursor, pat);
		if (!r)
			return ctl_redis_failed(x);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return ctl_redis_failed(x);
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *id = r->element[1]->element[i]->str + plen;
			if (strlen(r->element[1]->element[i]->str) <= plen || !rs_order_id_ok(id))
				continue;
			add_order(k, id, &cap);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);

	/* an id in `orders` without its hash: the module skips it; show it as malformed */
	{
		char **ids;
		size_t nids;
		if ((ex = ctl_set_members(x, ctl_key(x, key, "orders"), &ids, &nids)))
			return ex;
		for (size_t i = 0; i < nids; i++) {
			bool known = false;
			for (size_t j = 0; j < k->nord && !known; j++)
				known = strcmp(k->ord[j].id, ids[i]) == 0;
			if (known || !rs_order_id_ok(ids[i]))
				continue;
			add_order(k, ids[i], &cap);
		}
		ctl_free_strings(ids, nids);
	}

	qsort(k->ord, k->nord, sizeof(*k->ord), corder_cmp); /* a stable report */

	/* in force? the hash; the suffixes' memberships: one pipeline */
	ctl_key(x, key, "orders");
	for (size_t i = 0; i < k->nord; i++) {
		char dk[CTL_KEY_MAX], hk[CTL_KEY_MAX];
		redisAppendCommand(x->conn.c, "SISMEMBER %s %s", key, k->ord[i].id);
		redisAppendCommand(x->conn.c, "HGETALL %s", ctl_key(x, hk, "order:%s", k->ord[i].id));
		ctl_key(x, dk, "order:%s:domains", k->ord[i].id);
		for (size_t s = 0; s < k->nsufs; s++)
			redisAppendCommand(x->conn.c, "SISMEMBER %s %s", dk, k->sufs[s]);
	}
	ctl_key(x, key, "protected");
	for (size_t s = 0; s < k->nsufs; s++)
		redisAppendCommand(x->conn.c, "SISMEMBER %s %s", key, k->sufs[s]);

	ex = 0;
	for (size_t i = 0; i < k->nord; i++) {
		struct corder *o = &k->ord[i];
		const char **kv = NULL;
		size_t npairs = 0;
		struct rs_conf conf = { .language = (char *)"en", .jurisdiction = k->juris };
		if ((ex = redis_reply(x, &r, "SISMEMBER orders")))
			return ex;
		o->in_force = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
		freeReplyObject(r);
		if ((ex = redis_reply(x, &r, "HGETALL")))
			return ex;
		o->exists = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
		/* exactly as the module loads it (load.c, order_reply) */
		if (!o->exists)
			snprintf(o->why, sizeof(o->why), "the order's hash is gone");
		else if (rs_hash_kv(r, &kv, &npairs) != 0)
			snprintf(o->why, sizeof(o->why), "not a hash of text fields");
		else if (rs_order_parse(&conf, o->id, kv, npairs, &o->o, o->why, sizeof(o->why)) != 0)
			o->o = NULL;
		else
			o->why[0] = '\0';
		free(kv);
		freeReplyObject(r);
		if (o->o) {
			o->expires = o->o->expires;
			o->in_scope = o->o->in_scope;
		}
		for (size_t s = 0; s < k->nsufs; s++) {
			if ((ex = redis_reply(x, &r, "SISMEMBER")))
				return ex;
			o->member[s] = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
			freeReplyObject(r);
		}
	}
	for (size_t s = 0; s < k->nsufs; s++) {
		if ((ex = redis_reply(x, &r, "SISMEMBER protected")))
			return ex;
		k->prot[s] = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
		freeReplyObject(r);
	}
	return 0;
}

/* The jurisdiction the live resolvers report: 0 with *out (NULL: none or
 * no resolver), or a usage error when they disagree. */
static int fleet_jurisdiction(struct ctl *x, char **out, bool *from_fleet)
{
	struct ctl_hb *hbs;
	size_t n;
	const char *j = NULL;
	int ex;

	*out = NULL;
	*from_fleet = false;
	if ((ex = ctl_heartbeats(x, &hbs, &n)))
		return ex;
	for (size_t i = 0; i < n; i++) {
		if (j && strcasecmp(j, hbs[i].f[HB_JURIS]) != 0) {
			ctl_heartbeats_free(hbs, n);
			return ctl_usage_error(x, "the live resolvers report different jurisdictions: say which with "
						  "--jurisdiction");
		}
		j = hbs[i].f[HB_JURIS];
	}
	*from_fleet = n > 0;
	if (j && *j && !(*out = strdup(j)))
		errx(CTL_EXIT_ERROR, "out of memory");
	ctl_heartbeats_free(hbs, n);
	return 0;
}

/* Why an order that lists a suffix does or does not apply. */
static const char *order_state(const struct check *k, const struct corder *o)
{
	if (!o->in_force)
		return "not in force";
	if (!o->o)
		return "malformed";
	if (!o->in_scope)
		return "out of scope";
	if (o->expires && k->now >= o->expires)
		return "expired";
	if (o->o->nwin && !rs_order_in_window(o->o, k->now))
		return "outside its windows";
	return "applies";
}

static void json_str_or_null(const char *s)
{
	if (s)
		ctl_json_str(stdout, s);
	else
		fputs("null", stdout);
}

/* Report one name (index n; its suffixes start at index base in k->sufs). */
static void report(const struct check *k, size_t n, size_t base, enum rs_verdict v, const struct rs_match *m,
		   bool json)
{
	const struct cname *c = &k->names[n];
	char uni[CTL_UNAME_MAX], disp[CTL_DNAME_MAX], ent[CTL_DNAME_MAX];
	const char *prot = NULL, *blocked_entry = NULL, *blocked_order = NULL;
	bool has_uni = ctl_name_unicode(c->canon, uni, sizeof(uni));
	bool first = true;

	for (int s = 0; s < c->nsuf && !prot; s++)
		if (k->prot[base + s])
			prot = c->suf[s];
	if (v == RS_BLOCKED) {
		blocked_order = m->order->id;
		blocked_entry = c->suf[m->label];
	}
	ctl_name_display(c->canon, disp, sizeof(disp));
	if (json) {
		if (n)
			putchar(',');
		printf("{\"input\":");
		ctl_json_str(stdout, c->arg);
		printf(",\"name\":");
		ctl_json_str(stdout, c->canon);
		printf(",\"unicode\":");
		json_str_or_null(has_uni ? uni : NULL);
		printf(",\"verdict\":\"%s\",\"blocked\":%s,\"order\":",
		       v == RS_BLOCKED ? "blocked" : v == RS_PROTECTED ? "protected" : "not blocked",
		       v == RS_BLOCKED ? "true" : "false");
		json_str_or_null(blocked_order);
		printf(",\"entry\":");
		json_str_or_null(blocked_entry);
		printf(",\"action\":");
		json_str_or_null(v == RS_BLOCKED ? rs_action_name(m->order->action) : NULL);
		printf(",\"protected_by\":");
		json_str_or_null(prot);
		printf(",\"listed\":[");
	} else {
		if (v == RS_BLOCKED)
			printf("%s: BLOCKED by order %s (%s), listed entry %s\n", disp, blocked_order,
			       rs_action_name(m->order->action), ctl_name_display(blocked_entry, ent, sizeof(ent)));
		else if (v == RS_PROTECTED)
			printf("%s: PROTECTED by entry %s: never blocked\n", disp, ctl_name_display(prot, ent, sizeof(ent)));
		else
			printf("%s: not blocked\n", disp);
	}
	for (int s = 0; s < c->nsuf; s++)
		for (size_t i = 0; i < k->nord; i++) {
			const struct corder *o = &k->ord[i];
			const char *st;
			if (!o->member[base + s])
				continue;
			st = order_state(k, o);
			if (json) {
				if (!first)
					putchar(',');
				printf("{\"order\":");
				ctl_json_str(stdout, o->id);
				printf(",\"entry\":");
				ctl_json_str(stdout, c->suf[s]);
				printf(",\"parent\":%s,\"applies\":%s,\"state\":\"%s\",\"in_force\":%s,\"in_scope\":%s,"
				       "\"expired\":%s,\"scope\":",
				       s ? "true" : "false", strcmp(st, "applies") == 0 ? "true" : "false", st,
				       o->in_force ? "true" : "false", o->o && o->in_scope ? "true" : "false",
				       o->o && o->expires && k->now >= o->expires ? "true" : "false");
				json_str_or_null(o->o ? o->o->scope : NULL);
				printf(",\"expires\":");
				json_str_or_null(o->o && o->o->expires_text[0] ? o->o->expires_text : NULL);
				printf(",\"problem\":");
				json_str_or_null(o->why[0] && !o->o ? o->why : NULL);
				putchar('}');
			} else {
				printf("  listed as %s by order %s: %s", ctl_name_display(c->suf[s], ent, sizeof(ent)), o->id,
				       st);
				if (strcmp(st, "out of scope") == 0)
					printf(" (scope %s, jurisdiction %s)", o->o->scope, k->juris ? k->juris : "none");
				else if (strcmp(st, "expired") == 0)
					printf(" (expired %s)", o->o->expires_text);
				else if (strcmp(st, "malformed") == 0)
					printf(" (%s)", o->why);
				else if (strcmp(st, "applies") == 0 && (v != RS_BLOCKED || s != m->label ||
									 strcmp(o->id, m->order->id) != 0))
					printf(v == RS_PROTECTED ? " (overridden: protected)" : " (also)");
				putchar('\n');
			}
			first = false;
		}
	if (json)
		printf("]}");
}

static void check_free(struct check *k)
{
	for (size_t i = 0; i < k->nord; i++) {
		free(k->ord[i].id);
		free(k->ord[i].member);
		rs_order_free(k->ord[i].o);
	}
	free(k->ord);
	free(k->names);
	free(k->sufs);
	free(k->prot);
	free(k->juris);
}

/* Load what concerns the names into a list and match each name, as the
 * module does. Returns the number of names blocked, or a negative code. */
static int judge(struct check *k, bool json)
{
	struct rs_list *l = rs_list_new(k->nsufs + 16);
	uint32_t *idx;
	size_t base = 0;
	int nblocked = 0;

	idx = calloc(k->nord + 1, sizeof(*idx));
	if (!l || !idx)
		errx(CTL_EXIT_ERROR, "out of memory");
	/* the module loads only the orders in `orders` that parse */
	for (size_t i = 0; i < k->nord; i++) {
		struct corder *o = &k->ord[i];
		struct rs_order *copy;
		if (!o->in_force || !o->o)
			continue;
		copy = o->o; /* the list takes ownership */
		o->o = NULL;
		if (rs_list_order_set(l, copy, &idx[i]) != 0)
			errx(CTL_EXIT_ERROR, "out of memory");
		o->lo = rs_list_order_get(l, idx[i]);
		o->o = (struct rs_order *)o->lo; /* borrowed now: not freed by check_free */
		for (size_t s = 0; s < k->nsufs; s++) {
			uint8_t wire[RS_WIRE_MAX];
			int wl;
			if (!o->member[s])
				continue;
			wl = rs_domain_wire(k->sufs[s], strlen(k->sufs[s]), wire);
			if (wl > 0 && rs_list_add(l, wire, (size_t)wl, idx[i]) == RS_ENOMEM)
				errx(CTL_EXIT_ERROR, "out of memory");
		}
	}
	for (size_t s = 0; s < k->nsufs; s++) {
		uint8_t wire[RS_WIRE_MAX];
		int wl;
		if (!k->prot[s])
			continue;
		wl = rs_domain_wire(k->sufs[s], strlen(k->sufs[s]), wire);
		if (wl > 0 && rs_list_protect(l, wire, (size_t)wl, true) == RS_ENOMEM)
			errx(CTL_EXIT_ERROR, "out of memory");
	}
	for (size_t n = 0; n < k->nnames; n++) {
		struct cname *c = &k->names[n];
		uint8_t wire[RS_WIRE_MAX];
		struct rs_qname q;
		struct rs_match m = { 0 };
		enum rs_verdict v = RS_PASS;
		int wl = rs_domain_wire(c->canon, strlen(c->canon), wire);
		if (wl > 0 && rs_qname_prepare(wire, (size_t)wl, &q) >= 0)
			v = rs_list_match(l, &q, k->now, &m);
		if (v == RS_BLOCKED)
			nblocked++;
		report(k, n, base, v, &m, json);
		base += (size_t)c->nsuf;
	}
	/* the borrowed orders belong to the list */
	for (size_t i = 0; i < k->nord; i++)
		if (k->ord[i].lo)
			k->ord[i].o = NULL;
	rs_list_free(l);
	free(idx);
	return nblocked;
}

int cmd_check(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_CJSON },
		{ "jurisdiction", required_argument, NULL, O_CJURIS },
		{ "now", required_argument, NULL, O_CNOW },
		{ NULL, 0, NULL, 0 },
	};
	struct check k = { 0 };
	const char *juris = NULL;
	bool json = false, from_fleet = false;
	int c, ex = 0, nb;

	x->usage = check_usage;
	k.now = (int64_t)time(NULL);
	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_CJSON)
			json = true;
		else if (c == O_CJURIS)
			juris = optarg;
		else if (c == O_CNOW && ctl_parse_when(optarg, k.now, &k.now) != 0)
			return ctl_usage_error(x, "--now: '%s' is not a time", optarg);
	}
	if (optind >= argc)
		return ctl_usage_error(x, "which name? (redsink-ctl check NAME...)");
	if (juris && !(strlen(juris) == 2 && isalpha((unsigned char)juris[0]) && isalpha((unsigned char)juris[1])))
		return ctl_usage_error(x, "--jurisdiction: '%s' is not an ISO 3166-1 alpha-2 code", juris);

	/* the names and their suffixes */
	k.nnames = (size_t)(argc - optind);
	k.names = calloc(k.nnames, sizeof(*k.names));
	k.sufs = calloc(k.nnames * RS_LABELS_MAX, sizeof(*k.sufs));
	if (!k.names || !k.sufs)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t n = 0; n < k.nnames; n++) {
		struct cname *cn = &k.names[n];
		int rc;
		cn->arg = argv[optind + (int)n];
		rc = ctl_name_arg(cn->arg, cn->canon);
		if (rc < 0) {
			char shown[200];
			ctl_show(cn->arg, strlen(cn->arg), 80, shown, sizeof(shown));
			ex = ctl_usage_error(x, "'%s' is not a domain name: %s", shown, rs_strerror(rc));
			goto out;
		}
		for (char *p = cn->canon; p && cn->nsuf < RS_LABELS_MAX; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
			cn->suf[cn->nsuf++] = p;
			k.sufs[k.nsufs++] = p;
		}
	}
	k.prot = calloc(k.nsufs, 1);
	if (!k.prot)
		errx(CTL_EXIT_ERROR, "out of memory");

	if ((ex = ctl_open(x)))
		goto out;
	if (juris) {
		k.juris = strdup(juris);
		for (char *p = k.juris; *p; p++)
			*p = (char)(*p & ~0x20);
	} else if ((ex = fleet_jurisdiction(x, &k.juris, &from_fleet))) {
		goto out;
	}
	if ((ex = read_orders(x, &k)))
		goto out;

	if (json) {
		char tb[32];
		printf("{\"now\":");
		ctl_json_str(stdout, ctl_fmt_time(k.now, tb));
		printf(",\"jurisdiction\":");
		json_str_or_null(k.juris);
		printf(",\"jurisdiction_from\":\"%s\",\"names\":[",
		       juris ? "option" : from_fleet ? "resolvers" : "none");
	} else if (!x->quiet) {
		if (k.juris)
			printf("jurisdiction: %s%s\n", k.juris, juris ? "" : " (as the live resolvers report)");
		else
			printf("jurisdiction: none (%s): only orders of scope '*' apply\n",
			       from_fleet ? "the live resolvers report none" : "no --jurisdiction and no live resolver");
	}
	nb = judge(&k, json);
	if (json)
		printf("],\"blocked\":%d}\n", nb);
	ex = nb > 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK; /* 1: blocked, see above */
out:
	check_free(&k);
	return ex;
}
