/*
 * ctl_cmd_read.c — the commands that only read: order show/list, status (the
 * fleet and the compliance report), export (RPZ, CSV, JSON) and log (the
 * audit trail from the change stream).
 *
 * Nothing here writes to Redis. Output to a terminal is aligned tables;
 * --json gives machine-readable output (JSON, or JSON lines for log).
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_input.h"
#include "ctl_ip.h"
#include "ctl_name.h"
#include "ctl_safety.h"
#include "ctl_sign.h"
#include "name.h"
#include "order.h"
#include "prefix.h"
#include "replinfo.h"
#include "rs_err.h"

enum { O_JSON = 500, O_DOMAINS, O_ALL, O_RPZ, O_CSV, O_ORIGIN, O_JURIS, O_SINK4, O_SINK6, O_ORDER, O_DOMAIN,
       O_BY_FILTER, O_OP, O_SINCE, O_UNTIL, O_LIMIT, O_STALE, O_TTL, O_CHECK, O_FOLLOW,
       O_MAX_LAG, O_TRUSTED };

/* ---- order show / list ---- */

static const char order_show_usage[] =
	"Usage: redsink-ctl order show ID [--domains] [--trusted FILE] [--json]\n"
	"\n"
	"Show an order: its fields, its state (in force, expired, revoked) and the\n"
	"number of its domains; --domains lists them (sorted). A signed order shows\n"
	"who signed its latest version (key id), which version and when;\n"
	"--trusted FILE (trusted-key: lines, as in redsink.conf) adds the\n"
	"authority's label and whether the signature verifies.\n";

static const char order_list_usage[] =
	"Usage: redsink-ctl order list [--all] [--json]\n"
	"\n"
	"The orders in force, with their domain counts; --all adds revoked orders\n"
	"(whose hash is kept for the record).\n";

/* extra: JSON members to add (each starting with ','), or NULL. */
static void json_order(FILE *f, const struct ctl_order *o, char **domains, size_t nd, bool with_domains,
		       const char *extra)
{
	fputs("{\"id\":", f);
	ctl_json_str(f, o->id);
	fputs(",\"state\":", f);
	ctl_json_str(f, ctl_order_state(o));
	for (int i = 0; i < F_COUNT; i++) {
		fprintf(f, ",\"%s\":", ctl_order_fields[i]);
		ctl_json_str(f, o->f[i]);
	}
	fputs(",\"windows\":", f);
	ctl_json_str(f, o->windows);
	fprintf(f, ",\"active\":%s,\"next_change\":", o->active ? "true" : "false");
	if (o->next_change) {
		char tb[32];
		ctl_json_str(f, ctl_fmt_time(o->next_change, tb));
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\"domain_count\":%lld", o->ndomains);
	if (with_domains) {
		fputs(",\"domains\":[", f);
		for (size_t i = 0; i < nd; i++) {
			if (i)
				fputc(',', f);
			ctl_json_str(f, domains[i]);
		}
		fputc(']', f);
	}
	if (extra)
		fputs(extra, f);
	fputc('}', f);
}

int cmd_order_show(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domains", no_argument, NULL, O_DOMAINS },
		{ "json", no_argument, NULL, O_JSON },
		{ "trusted", required_argument, NULL, O_TRUSTED },
		{ NULL, 0, NULL, 0 },
	};
	bool with_domains = false, json = false;
	struct ctl_order o;
	struct ctl_trust tr = { 0 };
	struct ctl_manifest mf;
	char **d = NULL, k[CTL_KEY_MAX], sline[400];
	size_t nd = 0;
	int c, ex;

	x->usage = order_show_usage;
	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_DOMAINS) {
			with_domains = true;
		} else if (c == O_JSON) {
			json = true;
		} else if (c == O_TRUSTED && (ex = ctl_trust_load(&tr, optarg))) {
			ctl_trust_free(&tr);
			return ex;
		}
	}
	if (optind + 1 != argc) {
		ctl_trust_free(&tr);
		return ctl_usage_error(x, "expected one order ID");
	}
	if (!rs_order_id_ok(argv[optind])) {
		ctl_trust_free(&tr);
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, argv[optind]);
	}
	if ((ex = ctl_open(x)) || (ex = ctl_order_load(x, argv[optind], true, &o))) {
		ctl_trust_free(&tr);
		return ex;
	}
	if (!o.exists) {
		warnx("no order '%s'", argv[optind]);
		ctl_order_clear(&o);
		ctl_trust_free(&tr);
		return CTL_EXIT_ERROR;
	}
	if ((ex = ctl_manifest_read(x, o.id, &mf))) {
		ctl_order_clear(&o);
		ctl_trust_free(&tr);
		return ex;
	}
	if (with_domains && (ex = ctl_set_members(x, ctl_key(x, k, "order:%s:domains", o.id), &d, &nd))) {
		ctl_order_clear(&o);
		ctl_manifest_clear(&mf);
		ctl_trust_free(&tr);
		return ex;
	}
	if (json) {
		char *sj = ctl_sign_json(&mf, &tr, false);
		json_order(stdout, &o, d, nd, with_domains, sj);
		free(sj);
		putchar('\n');
	} else {
		struct ctl_table t = { 0 };
		char n[64];
		ctl_table_row(&t, 2, "order:", o.id);
		ctl_table_row(&t, 2, "state:", ctl_order_state(&o));
		for (int i = 0; i < F_COUNT; i++) {
			char label[32];
			snprintf(label, sizeof(label), "%s:", ctl_order_fields[i]);
			ctl_table_row(&t, 2, label, i == F_EXPIRES && !*o.f[i] ? "never" : o.f[i]);
		}
		if (o.bad_windows) {
			ctl_table_row(&t, 2, "windows:", o.windows);
		} else if (o.nwin == 0) {
			ctl_table_row(&t, 2, "windows:", "none (applies at any time)");
		} else {
			for (uint16_t i = 0; i < o.nwin; i++) {
				char w[80], tb[32], tb2[32];
				snprintf(w, sizeof(w), "%s/%s", ctl_fmt_time(o.win[2 * i], tb), ctl_fmt_time(o.win[2 * i + 1], tb2));
				ctl_table_row(&t, 2, i ? "" : "windows:", w);
			}
		}
		ctl_table_row(&t, 2, "active now:", ctl_order_active_text(&o, n));
		snprintf(n, sizeof(n), "%lld", o.ndomains);
		ctl_table_row(&t, 2, "domains:", n);
		ctl_table_row(&t, 2, "signed:", ctl_sign_line(&mf, &tr, sline, sizeof(sline)));
		ctl_table_print(&t, stdout);
		ctl_table_free(&t);
		if (o.bad_expires)
			printf("warning: expires is not a date: resolvers skip this order\n");
		if (o.bad_windows)
			printf("warning: windows are not valid: resolvers skip this order (redsink-ctl window set)\n");
		for (size_t i = 0; i < nd; i++) {
			char shown[1200], disp[CTL_DNAME_MAX];
			const char *name = ctl_name_display(d[i], disp, sizeof(disp));
			printf("  %s\n", ctl_show(name, strlen(name), 300, shown, sizeof(shown)));
		}
	}
	ctl_free_strings(d, nd);
	ctl_order_clear(&o);
	ctl_manifest_clear(&mf);
	ctl_trust_free(&tr);
	return 0;
}

/* Ids of every order hash (SCAN), for --all. */
static int all_order_ids(struct ctl *x, char ***out, size_t *np)
{
	char cursor[32] = "0", pat[CTL_KEY_MAX];
	size_t plen = strlen(x->prefix) + strlen("order:"), n = 0, cap = 0;
	char **v = NULL;

	ctl_key(x, pat, "order:*");
	do {
		redisReply *r = ctl_cmd(&x->conn, "SCAN", "SCAN %s MATCH %s COUNT 1000 TYPE hash", cursor, pat);
		if (!r)
			return ctl_redis_failed(x);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return ctl_redis_failed(x);
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;
			if (strlen(key) <= plen)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				char **nv = realloc(v, cap * sizeof(*nv));
				if (!nv)
					errx(CTL_EXIT_ERROR, "out of memory");
				v = nv;
			}
			v[n++] = strdup(key + plen);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	ctl_sort_strings((const char **)v, n);
	*out = v;
	*np = n;
	return 0;
}

int cmd_order_list(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, O_ALL },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false, json = false;
	char **ids = NULL, k[CTL_KEY_MAX];
	size_t n = 0;
	int c, ex;
	struct ctl_table t = { 0 };

	x->usage = order_list_usage;
	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_ALL)
			all = true;
		else if (c == O_JSON)
			json = true;
	}
	if (optind != argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	if ((ex = ctl_open(x)))
		return ex;
	ex = all ? all_order_ids(x, &ids, &n) : ctl_set_members(x, ctl_key(x, k, "orders"), &ids, &n);
	if (ex)
		return ex;
	if (json)
		putchar('[');
	else
		ctl_table_row(&t, 9, "ID", "STATE", "ACTIVE", "DOMAINS", "ACTION", "SCOPE", "EXPIRES", "AUTHORITY",
			      "REFERENCE");
	for (size_t i = 0; i < n; i++) {
		struct ctl_order o;
		char nd[32];
		if ((ex = ctl_order_load(x, ids[i], true, &o)))
			break;
		if (json) {
			if (i)
				putchar(',');
			json_order(stdout, &o, NULL, 0, false, NULL);
		} else {
			snprintf(nd, sizeof(nd), "%lld", o.ndomains);
			ctl_table_row(&t, 9, o.id, ctl_order_state(&o), o.active ? "yes" : "no", nd, o.f[F_ACTION],
				      o.f[F_SCOPE], *o.f[F_EXPIRES] ? o.f[F_EXPIRES] : "never", o.f[F_AUTHORITY],
				      o.f[F_REFERENCE]);
		}
		ctl_order_clear(&o);
	}
	if (json)
		puts("]");
	else if (!ex)
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	ctl_free_strings(ids, n);
	return ex;
}

/* ---- status ---- */

static const char status_usage[] =
	"Usage: redsink-ctl status [ORDER] [--json] [--stale SECONDS] [--max-lag SECONDS] [--check]\n"
	"\n"
	"The fleet: every resolver's heartbeat (resolver:<name>) with its name,\n"
	"jurisdiction, link to Redis, the last change it applied and how far it is\n"
	"behind the change stream, its entry and order counts, and when it was last\n"
	"seen. With ORDER, the compliance report: for each resolver, whether it has\n"
	"applied the order's latest change (and so enforces it), whether the order is\n"
	"in its jurisdiction, and when it last applied a change. A resolver that has\n"
	"not sent a heartbeat for --stale seconds (default 12, about two heartbeat\n"
	"periods) is shown as stale (\"last seen N s ago\"), not as linked; a heartbeat\n"
	"expires 30 s after the last one: a resolver on the roster (redsink-ctl fleet)\n"
	"is then shown as DOWN, one that is not disappears.\n"
	"With ORDER, exits 1 when no resolver has sent a heartbeat (nobody is known to\n"
	"enforce the order).\n"
	"\n"
	"Lag (doc/fleet.md): the head lists the replicas of the node status reads (INFO\n"
	"replication: state, offset, seconds since their last acknowledgement); READS\n"
	"shows the node each resolver reads, its role and its link to the primary. A\n"
	"resolver whose replica lost its primary link, or last heard from it more than\n"
	"--stale seconds ago, is flagged \"replica stale\"; one whose oldest change not\n"
	"applied (on the primary's stream) is older than --max-lag seconds (default:\n"
	"--stale) is flagged \"lagging\"; a replica of the primary that is not online\n"
	"or lags more than --stale seconds is flagged too.\n"
	"\n"
	"  --check  for monitoring: exit 1 (and say why on stderr) unless the fleet is\n"
	"           healthy: at least one resolver, none down or stale, none in a\n"
	"           dataset alarm, none reporting another jurisdiction than the roster,\n"
	"           none with a list still loading, a resync pending, a stale replica\n"
	"           or a change older than --max-lag seconds not yet applied, no\n"
	"           replica of the primary flagged; with ORDER also: the order is\n"
	"           in force and every resolver has applied its latest change (so every\n"
	"           resolver in its scope enforces it). 0 when healthy; 2, 4 errors.\n";

/* Count stream entries after id, up to cap (returns cap + 1 when more). */
static long long entries_after(struct ctl *x, const char *key, const char *id, long long cap, int *ex)
{
	char start[64];
	long long n = 0;

	snprintf(start, sizeof(start), "(%s", id && *id ? id : "0-0");
	if (!id || !*id || strcmp(id, "0-0") == 0)
		snprintf(start, sizeof(start), "-");
	while (n <= cap) {
		redisReply *r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s %s + COUNT 10000", key, start);
		size_t m;
		if (!r) {
			*ex = ctl_redis_failed(x);
			return -1;
		}
		m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		n += (long long)m;
		if (m > 0)
			snprintf(start, sizeof(start), "(%s", r->element[m - 1]->element[0]->str);
		freeReplyObject(r);
		if (m < 10000)
			break;
	}
	return n;
}

/* The id of the latest change to order id (XREVRANGE pages), "" when none is in the stream. */
static int order_last_change(struct ctl *x, const char *key, const char *id, char *out, size_t outsz)
{
	char end[64] = "+";

	out[0] = '\0';
	for (;;) {
		redisReply *r = ctl_cmd(&x->conn, "XREVRANGE", "XREVRANGE %s %s - COUNT 10000", key, end);
		size_t m;
		if (!r)
			return ctl_redis_failed(x);
		m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		for (size_t i = 0; i < m; i++) {
			redisReply *e = r->element[i], *f = e->element[1];
			for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2)
				if (strcmp(f->element[j]->str, "order") == 0 && strcmp(f->element[j + 1]->str, id) == 0) {
					snprintf(out, outsz, "%s", e->element[0]->str);
					freeReplyObject(r);
					return 0;
				}
		}
		if (m > 0)
			snprintf(end, sizeof(end), "(%s", r->element[m - 1]->element[0]->str);
		freeReplyObject(r);
		if (m < 10000)
			return 0;
	}
}

/* Heartbeat fields that are numbers (JSON numbers, null when absent or not a number). */
static bool hb_numeric(int f)
{
	return f == HB_LAST_APPLIED || f == HB_SEEN || f == HB_ENTRIES || f == HB_ORDERS || f == HB_APPLIED ||
	       f == HB_BAD || f == HB_RESYNCS || f == HB_READ_IO_AGE || f == HB_LAG_MS;
}

static void json_int_or_null(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		fputs("null", stdout);
	else
		printf("%lld", v);
}

/* A heartbeat field that is a number >= 0, else -1. */
static long long hb_num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	return !*s || *end || errno || v < 0 ? -1 : v;
}

/*
 * How old (s, on the primary's clock: TIME against the entry's id) the
 * oldest change after id is (the first entry of the stream at key after
 * id); 0 when there is none. -1 when Redis failed (*ex set).
 */
static long long oldest_unapplied_age(struct ctl *x, const char *key, const char *id, int64_t now, int *ex)
{
	char start[80];
	redisReply *r;
	long long age = 0;

	snprintf(start, sizeof(start), "(%s", id && *id ? id : "0-0");
	r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s %s + COUNT 1", key, start);
	if (!r) {
		*ex = ctl_redis_failed(x);
		return -1;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
		age = now - atoll(r->element[0]->element[0]->str) / 1000;
	freeReplyObject(r);
	return age < 0 ? 0 : age;
}

/*
 * "replica stale: ..." when the node resolver h reads is a replica whose
 * link to its primary is down, or that last heard from its primary more than
 * stale seconds ago (doc/fleet.md, "Lag"); NULL otherwise. Into buf.
 */
static const char *replica_stale(const struct ctl_hb *h, long stale, char *buf, size_t len)
{
	long long age = hb_num(h->f[HB_READ_IO_AGE]);
	char node[200];

	if (strcmp(h->f[HB_READ_ROLE], "slave") != 0)
		return NULL;
	ctl_show(h->f[HB_READ][0] ? h->f[HB_READ] : "?", strlen(h->f[HB_READ][0] ? h->f[HB_READ] : "?"), 60, node,
		 sizeof(node));
	if (strcmp(h->f[HB_READ_LINK], "down") == 0) {
		if (age >= 0)
			snprintf(buf, len, "replica stale: %s lost the link to its primary %lld s ago", node, age);
		else
			snprintf(buf, len, "replica stale: %s has no link to its primary", node);
		return buf;
	}
	if (age > stale) {
		snprintf(buf, len, "replica stale: %s last heard from its primary %lld s ago (--stale %ld)", node, age,
			 stale);
		return buf;
	}
	return NULL;
}

/*
 * What keeps a resolver from being healthy (status --check), or NULL. lag is
 * the number of stream entries after its position, behind the age (s) of the
 * oldest of them; a lag is a problem only when that entry is older than
 * max_lag seconds (a push in progress is not an alarm). The text is in a
 * static buffer.
 */
static const char *resolver_problem(const struct ctl_hb *h, bool is_stale, bool trimmed, bool loaded, long long lag,
				    long long behind, long stale, long max_lag, int64_t now, const char *applied,
				    bool with_order)
{
	static char buf[400];

	if (is_stale) {
		snprintf(buf, sizeof(buf), "stale: no heartbeat for %lld s", (long long)(now - atoll(h->f[HB_SEEN])));
		return buf;
	}
	if (h->rostered && h->roster_juris[0] && strcasecmp(h->roster_juris, h->f[HB_JURIS]) != 0) {
		snprintf(buf, sizeof(buf), "jurisdiction: it reports '%.8s', the roster says %s", h->f[HB_JURIS],
			 h->roster_juris);
		return buf;
	}
	if (h->f[HB_DATASET_ALARM][0]) {
		char a[80];
		ctl_show(h->f[HB_DATASET_ALARM], strlen(h->f[HB_DATASET_ALARM]), 20, a, sizeof(a));
		snprintf(buf, sizeof(buf), "dataset alarm '%s' (redsink-ctl dataset show)", a);
		return buf;
	}
	if (!loaded)
		return "its list is not loaded yet";
	if (trimmed)
		return "resync pending: its position is older than the stream's first entry";
	if (lag > 100000) {
		snprintf(buf, sizeof(buf), "lagging: more than 100000 changes not applied, the oldest %lld s old", behind);
		return buf;
	}
	if (replica_stale(h, stale, buf, sizeof(buf)))
		return buf;
	if (lag > 0 && behind > max_lag) {
		snprintf(buf, sizeof(buf), "lagging: %lld changes not applied, the oldest %lld s old (--max-lag %ld)", lag,
			 behind, max_lag);
		return buf;
	}
	if (with_order && strncmp(applied, "applied", 7) != 0) {
		snprintf(buf, sizeof(buf), "has not applied the order's latest change (%s)", applied);
		return buf;
	}
	return NULL;
}

/* Everything one status run works with, shared by its steps. */
struct status {
	struct ctl *x;
	bool json, check;
	long stale, max_lag; /* --stale, --max-lag (0: not given, --stale) */
	int64_t primary_now; /* TIME of the node status reads (the stream ids' clock), else now */
	struct rs_replinfo repl; /* its INFO replication */
	bool repl_ok;            /* repl was read */
	char repl_why[160];      /* else why not */
	char node[300];          /* the node status reads, host:port */
	size_t nbad_replicas;    /* replicas flagged */
	const char *order; /* NULL: the fleet */
	char kc[CTL_KEY_MAX], first_id[64], last_id[64], order_change[64];
	long long length;
	struct ctl_hb *hbs;
	size_t nhb, nbad, nbeating; /* heartbeats and rostered resolvers; unhealthy; with a heartbeat */
	struct ctl_order o;
	struct ctl_dataset_cur ds;
	int64_t now;
};

/* Parse the options and the order ID; -1 to go on, or the exit code of the command. */
static int status_options(struct status *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "stale", required_argument, NULL, O_STALE },
		{ "max-lag", required_argument, NULL, O_MAX_LAG },
		{ "order", required_argument, NULL, O_ORDER },
		{ "check", no_argument, NULL, O_CHECK },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = s->x;
	int c, ex = 0;

	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_JSON)
			s->json = true;
		else if (c == O_ORDER)
			s->order = optarg;
		else if (c == O_CHECK)
			s->check = true;
		else if (c == O_STALE) {
			char *end;
			s->stale = strtol(optarg, &end, 10);
			if (*end || s->stale < 1)
				return ctl_usage_error(x, "--stale: '%s' is not a number of seconds", optarg);
		} else if (c == O_MAX_LAG) {
			char *end;
			s->max_lag = strtol(optarg, &end, 10);
			if (*end || s->max_lag < 1)
				return ctl_usage_error(x, "--max-lag: '%s' is not a number of seconds", optarg);
		}
	}
	if (s->max_lag == 0)
		s->max_lag = s->stale;
	if (optind < argc && !s->order)
		s->order = argv[optind++];
	if (optind < argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	if (s->order && !rs_order_id_ok(s->order))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, s->order);
	return -1;
}

/* The change stream: its length and first and last IDs (none when it does not exist). */
static int status_stream(struct status *s)
{
	struct ctl *x = s->x;
	redisReply *r = redisCommand(x->conn.c, "XINFO STREAM %s", s->kc);

	if (!r) {
		ctl_fail(&x->conn, "XINFO STREAM", NULL);
		return ctl_redis_failed(x);
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "ERR no such key", 15) != 0) {
		ctl_fail(&x->conn, "XINFO STREAM", r->str);
		freeReplyObject(r);
		return ctl_redis_failed(x);
	}
	if (r->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			const char *k = r->element[i]->str;
			redisReply *v = r->element[i + 1];
			if (strcmp(k, "length") == 0)
				s->length = v->integer;
			else if (strcmp(k, "last-generated-id") == 0)
				snprintf(s->last_id, sizeof(s->last_id), "%s", v->str);
			else if (strcmp(k, "first-entry") == 0 && v->type == REDIS_REPLY_ARRAY && v->elements == 2)
				snprintf(s->first_id, sizeof(s->first_id), "%s", v->element[0]->str);
		}
	}
	freeReplyObject(r);
	return 0;
}

/*
 * The node status reads: its clock (TIME: the clock of the stream ids the
 * lag is measured against) and its replicas (INFO replication). A refused
 * command (an ACL without +time or +info) is not an error: the local clock
 * is used, the replicas are not listed (said so). A lost connection is.
 */
static int status_replication(struct status *s)
{
	redisContext *c = s->x->conn.c;
	redisReply *t, *r;

	if (c->connection_type == REDIS_CONN_UNIX && c->unix_sock.path)
		snprintf(s->node, sizeof(s->node), "%s", c->unix_sock.path);
	else if (c->tcp.host)
		snprintf(s->node, sizeof(s->node), strchr(c->tcp.host, ':') ? "[%s]:%d" : "%s:%d", c->tcp.host,
			 c->tcp.port);
	s->primary_now = s->now;
	redisAppendCommand(c, "TIME");
	redisAppendCommand(c, "INFO replication");
	if (redisGetReply(c, (void **)&t) != REDIS_OK)
		goto lost;
	if (redisGetReply(c, (void **)&r) != REDIS_OK) {
		freeReplyObject(t);
		goto lost;
	}
	if (t->type == REDIS_REPLY_ARRAY && t->elements == 2 && t->element[0]->type == REDIS_REPLY_STRING &&
	    atoll(t->element[0]->str) > 0)
		s->primary_now = atoll(t->element[0]->str);
	if (r->type == REDIS_REPLY_STRING && rs_replinfo_parse(r->str, r->len, &s->repl) == 0)
		s->repl_ok = true;
	else
		snprintf(s->repl_why, sizeof(s->repl_why), "INFO replication: %.120s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "no role in the reply");
	freeReplyObject(t);
	freeReplyObject(r);
	return 0;
lost:
	ctl_fail(&s->x->conn, "INFO", NULL);
	return ctl_redis_failed(s->x);
}

/* Why replica i of the node status reads is flagged (not online, or no
 * acknowledgement for more than --stale seconds), or NULL. Into buf. */
static const char *replica_problem(const struct status *s, size_t i, char *buf, size_t len)
{
	const struct rs_repl_replica *r = &s->repl.replicas[i];

	if (strcmp(r->state, "online") != 0)
		snprintf(buf, len, "state %s", r->state[0] ? r->state : "unknown");
	else if (r->lag > s->stale)
		snprintf(buf, len, "stale: last acknowledged %lld s ago (--stale %ld)", r->lag, s->stale);
	else
		return NULL;
	return buf;
}

/* The replicas of the node status reads: text lines or the "replication" JSON member. */
static void status_print_replication(struct status *s)
{
	const struct rs_replinfo *ri = &s->repl;
	char why[160];

	if (s->json) {
		printf(",\"replication\":");
		if (!s->repl_ok) {
			fputs("null", stdout);
			return;
		}
		printf("{\"node\":");
		ctl_json_str(stdout, s->node);
		printf(",\"role\":");
		ctl_json_str(stdout, rs_repl_role_name(ri->role));
		printf(",\"offset\":");
		ri->master_offset >= 0 ? printf("%lld", ri->master_offset) : fputs("null", stdout);
		if (ri->role == RS_REPL_ROLE_SLAVE) {
			printf(",\"master\":");
			ctl_json_str(stdout, ri->master_host);
			printf(",\"master_port\":%d,\"link\":", ri->master_port);
			ctl_json_str(stdout, rs_repl_link_name(ri->link));
			printf(",\"io_age_s\":");
			rs_replinfo_age(ri) >= 0 ? printf("%lld", rs_replinfo_age(ri)) : fputs("null", stdout);
		}
		printf(",\"replicas_skipped\":%zu,\"replicas\":[", ri->replicas_skipped);
		for (size_t i = 0; i < ri->nreplicas; i++) {
			const struct rs_repl_replica *r = &ri->replicas[i];
			const char *p = replica_problem(s, i, why, sizeof(why));
			printf("%s{\"host\":", i ? "," : "");
			ctl_json_str(stdout, r->host);
			printf(",\"port\":%d,\"state\":", r->port);
			ctl_json_str(stdout, r->state);
			printf(",\"offset\":");
			r->offset >= 0 ? printf("%lld", r->offset) : fputs("null", stdout);
			printf(",\"behind_bytes\":");
			r->offset >= 0 && ri->master_offset >= r->offset ? printf("%lld", ri->master_offset - r->offset)
									  : fputs("null", stdout);
			printf(",\"lag_s\":");
			r->lag >= 0 ? printf("%lld", r->lag) : fputs("null", stdout);
			printf(",\"healthy\":%s,\"problem\":", p ? "false" : "true");
			p ? ctl_json_str(stdout, p) : (void)fputs("null", stdout);
			putchar('}');
		}
		printf("]}");
		return;
	}
	if (!s->repl_ok) {
		printf("replication: not known (%s)\n", s->repl_why);
		return;
	}
	if (ri->role == RS_REPL_ROLE_SLAVE) {
		long long age = rs_replinfo_age(ri);
		printf("redis %s: a replica of %s:%d, link %s", s->node, ri->master_host[0] ? ri->master_host : "?",
		       ri->master_port, ri->link == RS_REPL_LINK_UNKNOWN ? "?" : rs_repl_link_name(ri->link));
		if (age >= 0)
			printf(ri->link == RS_REPL_LINK_DOWN ? " for %lld s" : ", last I/O %lld s ago", age);
		printf(" (status reads a replica: the lag below is measured against it)\n");
	} else {
		printf("redis %s: primary, %zu replica%s, offset %lld\n", s->node, ri->nreplicas + ri->replicas_skipped,
		       ri->nreplicas + ri->replicas_skipped == 1 ? "" : "s", ri->master_offset);
	}
	for (size_t i = 0; i < ri->nreplicas; i++) {
		const struct rs_repl_replica *r = &ri->replicas[i];
		const char *p = replica_problem(s, i, why, sizeof(why));
		printf("  replica %s:%d: %s, offset %lld (%lld behind), last ack %lld s ago%s%s\n", r->host, r->port,
		       r->state[0] ? r->state : "?", r->offset, r->offset >= 0 && ri->master_offset >= r->offset ?
		       ri->master_offset - r->offset : -1LL, r->lag, p ? ": FLAGGED: " : "", p ? p : "");
	}
	if (ri->replicas_skipped)
		printf("  (%zu more replicas not shown: malformed or beyond %d)\n", ri->replicas_skipped,
		       RS_REPL_REPLICAS_MAX);
}

/* Count the flagged replicas and, with --check, say which. */
static void status_judge_replicas(struct status *s)
{
	char why[160];

	for (size_t i = 0; s->repl_ok && i < s->repl.nreplicas; i++) {
		const char *p = replica_problem(s, i, why, sizeof(why));
		if (!p)
			continue;
		s->nbad_replicas++;
		if (s->check)
			warnx("status --check: replica %s:%d: %s", s->repl.replicas[i].host, s->repl.replicas[i].port, p);
	}
}

/* The order asked about, and the ID of its latest change in the stream. */
static int status_order(struct status *s)
{
	int ex;

	if ((ex = ctl_order_load(s->x, s->order, true, &s->o)))
		return ex;
	if (!s->o.exists) {
		warnx("no order '%s'", s->order);
		return CTL_EXIT_ERROR;
	}
	return order_last_change(s->x, s->kc, s->order, s->order_change, sizeof(s->order_change));
}

/* The stream, the dataset and the order: the opening of the JSON object, or the text lines above the table. */
static void status_print_head(struct status *s)
{
	const struct ctl_order *o = &s->o;
	char tb[40];

	if (s->json) {
		printf("{\"stream\":{\"length\":%lld,\"first_id\":", s->length);
		ctl_json_str(stdout, s->first_id);
		printf(",\"last_id\":");
		ctl_json_str(stdout, s->last_id);
		printf("},\"dataset\":{\"present\":%s,\"valid\":%s,\"id\":", s->ds.d.present ? "true" : "false",
		       s->ds.d.valid ? "true" : "false");
		ctl_json_str(stdout, s->ds.d.valid ? s->ds.d.id : s->ds.id);
		printf(",\"generation\":%llu}", (unsigned long long)s->ds.d.generation);
		status_print_replication(s);
		if (s->order) {
			printf(",\"order\":{\"id\":");
			ctl_json_str(stdout, s->order);
			printf(",\"state\":");
			ctl_json_str(stdout, ctl_order_state(o));
			printf(",\"scope\":");
			ctl_json_str(stdout, o->f[F_SCOPE]);
			printf(",\"last_change\":");
			if (s->order_change[0])
				ctl_json_str(stdout, s->order_change);
			else
				fputs("null", stdout);
			printf(",\"last_change_at\":");
			if (s->order_change[0])
				ctl_json_str(stdout, ctl_fmt_id_time(s->order_change, tb));
			else
				fputs("null", stdout);
			printf(",\"in_force\":%s,\"expired\":%s,\"active\":%s,\"next_change\":", o->in_force ? "true" : "false",
			       o->expired ? "true" : "false", o->active ? "true" : "false");
			if (o->next_change)
				ctl_json_str(stdout, ctl_fmt_time(o->next_change, tb));
			else
				fputs("null", stdout);
			printf(",\"domains\":%lld}", o->ndomains);
		}
		printf(",\"resolvers\":[");
		return;
	}
	printf("change stream: %lld entries", s->length);
	if (s->last_id[0] && s->length > 0)
		printf(", last %s at %s", s->last_id, ctl_fmt_id_time(s->last_id, tb));
	printf("\n");
	if (s->ds.d.valid)
		printf("dataset: %s, generation %llu\n", s->ds.d.id, (unsigned long long)s->ds.d.generation);
	else
		printf("dataset: %s\n", s->ds.d.present ? "UNREADABLE identity (redsink-ctl dataset show)" : "no identity");
	status_print_replication(s);
	if (s->order) {
		char act[64];
		printf("order %s (%s, scope %s, active now: %s): ", s->order, ctl_order_state(o), o->f[F_SCOPE],
		       ctl_order_active_text(o, act));
		if (s->order_change[0])
			printf("last change %s at %s\n", s->order_change, ctl_fmt_id_time(s->order_change, tb));
		else
			printf("no change in the stream (older than its first entry %s)\n",
			       s->first_id[0] ? s->first_id : "-");
	}
	if (s->nbeating == 0)
		printf("no resolver has sent a heartbeat in the last 30 s\n");
}

/* What one resolver has done with the order asked about: "applied: ..." or NOT YET .... */
static const char *status_applied(const struct status *s, const struct ctl_hb *h, bool loaded)
{
	bool in_scope = rs_scope_includes(s->o.f[F_SCOPE], h->f[HB_JURIS][0] ? h->f[HB_JURIS] : NULL);
	bool done = loaded && (!s->order_change[0] ||
			       (h->f[HB_LAST_ID][0] && ctl_id_cmp(h->f[HB_LAST_ID], s->order_change) >= 0));

	return !loaded		  ? "NOT YET LOADED"
	       : !done		  ? "NOT YET APPLIED"
	       : !s->o.in_force	  ? "applied: revoked"
	       : s->o.expired	  ? "applied: expired"
	       : !in_scope	  ? "applied: not in scope"
				  : "applied: enforced";
}

/* One resolver as a JSON object (its heartbeat fields, then what status makes of them). */
static void status_print_json_resolver(const struct status *s, size_t i, bool is_stale, bool trimmed, long long lag,
				       long long behind, bool rstale, const char *applied, const char *problem)
{
	const struct ctl_hb *h = &s->hbs[i];

	if (i)
		putchar(',');
	printf("{\"name\":");
	ctl_json_str(stdout, h->name);
	for (int f = 0; f < HB_NFIELDS; f++) {
		printf(",\"%s\":", f == HB_LINK ? "reported_link" : ctl_hb_fields[f]);
		if (hb_numeric(f))
			json_int_or_null(h->f[f]);
		else
			ctl_json_str(stdout, h->f[f]);
	}
	printf(",\"link\":");
	ctl_json_str(stdout, is_stale ? "stale" : h->f[HB_LINK]);
	printf(",\"lag\":");
	if (lag > 100000)
		fputs("null", stdout);
	else
		printf("%lld", lag);
	printf(",\"behind_s\":");
	if (behind >= 0)
		printf("%lld", behind);
	else
		fputs("null", stdout);
	printf(",\"lagging\":%s,\"replica_stale\":%s", lag > 0 && behind > s->max_lag ? "true" : "false",
	       rstale ? "true" : "false");
	printf(",\"rostered\":%s,\"roster_jurisdiction\":", h->rostered ? "true" : "false");
	ctl_json_str(stdout, h->roster_juris);
	printf(",\"state\":\"%s\"", ctl_fleet_state(h, s->now, s->stale));
	printf(",\"seen_ago\":%lld,\"resync_needed\":%s,\"stale\":%s", (long long)(s->now - atoll(h->f[HB_SEEN])),
	       trimmed ? "true" : "false", is_stale ? "true" : "false");
	if (s->order)
		printf(",\"order_applied\":%s,\"order_status\":\"%s\"",
		       strncmp(applied, "applied", 7) == 0 ? "true" : "false", applied);
	printf(",\"healthy\":%s,\"problem\":", problem ? "false" : "true");
	if (problem)
		ctl_json_str(stdout, problem);
	else
		fputs("null", stdout);
	{ /* the collateral alarm, parsed: a warning, not a failure of health */
		struct ctl_collat c[64];
		size_t bad, n = ctl_collateral_parse(h->f[HB_COLLATERAL], c, 64, &bad);
		printf(",\"collateral_alarm\":[");
		for (size_t k = 0; k < n; k++)
			printf("%s{\"prefix\":\"%s\",\"names\":%llu}", k ? "," : "", c[k].prefix,
			       (unsigned long long)c[k].names);
		putchar(']');
	}
	putchar('}');
}

/* A rostered resolver with no heartbeat: down (a JSON object or a table row). */
static void status_down(struct status *s, size_t i, struct ctl_table *t)
{
	const struct ctl_hb *h = &s->hbs[i];
	const char *problem = "down: on the roster, no heartbeat in the last 30 s";
	const char *juris = h->roster_juris[0] ? h->roster_juris : "-";

	s->nbad++;
	if (s->check) {
		char name[200];
		ctl_show(h->name, strlen(h->name), 60, name, sizeof(name));
		warnx("status --check: resolver %s: %s", name, problem);
	}
	if (s->json) {
		printf("%s{\"name\":", i ? "," : "");
		ctl_json_str(stdout, h->name);
		for (int f = 0; f < HB_NFIELDS; f++)
			printf(",\"%s\":null", f == HB_LINK ? "reported_link" : ctl_hb_fields[f]);
		printf(",\"rostered\":true,\"roster_jurisdiction\":");
		ctl_json_str(stdout, h->roster_juris);
		printf(",\"state\":\"down\",\"link\":\"down\",\"lag\":null,\"behind_s\":null,\"lagging\":false,"
		       "\"replica_stale\":false,\"seen_ago\":null,"
		       "\"resync_needed\":false,\"stale\":true");
		if (s->order)
			printf(",\"order_applied\":false,\"order_status\":\"NOT APPLIED: down\"");
		printf(",\"healthy\":false,\"problem\":");
		ctl_json_str(stdout, problem);
		putchar('}');
	} else if (s->order) {
		ctl_table_row(t, 7, h->name, juris, "DOWN", "no heartbeat", "NOT APPLIED: down", "-", "-");
	} else {
		ctl_table_row(t, 10, h->name, juris, "DOWN", "-", "no heartbeat", "-", "-", "-", "-", "-");
	}
}

/* The READS cell: the node a resolver reads, its role and its link ("-" unknown). */
static void status_read_cell(const struct ctl_hb *h, bool rstale, char *buf, size_t len)
{
	char node[200];
	long long age = hb_num(h->f[HB_READ_IO_AGE]);

	if (!h->f[HB_READ][0] && !h->f[HB_READ_ROLE][0]) {
		snprintf(buf, len, "-");
		return;
	}
	ctl_show(h->f[HB_READ][0] ? h->f[HB_READ] : "?", strlen(h->f[HB_READ][0] ? h->f[HB_READ] : "?"), 60, node,
		 sizeof(node));
	if (strcmp(h->f[HB_READ_ROLE], "master") == 0)
		snprintf(buf, len, "%s primary", node);
	else if (strcmp(h->f[HB_READ_ROLE], "slave") != 0)
		snprintf(buf, len, "%s", node); /* INFO not allowed to the resolver: role unknown */
	else if (strcmp(h->f[HB_READ_LINK], "down") == 0)
		snprintf(buf, len, "%s replica, link DOWN%s", node, rstale ? " (STALE)" : "");
	else if (age >= 0)
		snprintf(buf, len, "%s replica, io %lld s%s", node, age, rstale ? " (STALE)" : "");
	else
		snprintf(buf, len, "%s replica%s", node, rstale ? " (STALE)" : "");
}

/* Judge and show resolver i (a JSON object or a table row); false when Redis failed (*ex set). */
static bool status_resolver(struct status *s, size_t i, struct ctl_table *t, int *ex)
{
	struct ctl_hb *h = &s->hbs[i];
	int64_t seen = atoll(h->f[HB_SEEN]), applied_at = atoll(h->f[HB_LAST_APPLIED]);
	bool is_stale = s->now - seen > s->stale;
	bool trimmed = s->first_id[0] && h->f[HB_LAST_ID][0] && ctl_id_cmp(h->f[HB_LAST_ID], s->first_id) < 0 &&
		       s->length > 0;
	long long lag = h->beating ? entries_after(s->x, s->kc, h->f[HB_LAST_ID], 100000, ex) : 0;
	long long behind = 0;
	char lagbuf[48], seenbuf[48], appbuf[80], linkbuf[64], tb[40], tb2[40], readbuf[300], rsbuf[400];
	bool rstale;
	const char *applied = "", *link = h->f[HB_LINK][0] ? h->f[HB_LINK] : "?";
	bool loaded = applied_at > 0 || h->f[HB_LAST_ID][0];
	const char *problem;

	if (!h->beating) {
		status_down(s, i, t);
		return true;
	}
	if (lag < 0)
		return false;
	if (lag > 0 && (behind = oldest_unapplied_age(s->x, s->kc, h->f[HB_LAST_ID], s->primary_now, ex)) < 0)
		return false;
	rstale = replica_stale(h, s->stale, rsbuf, sizeof(rsbuf)) != NULL;
	status_read_cell(h, rstale, readbuf, sizeof(readbuf));
	if (is_stale) {
		/* no heartbeat for two periods: its own "link up" is old news */
		snprintf(linkbuf, sizeof(linkbuf), "STALE: last seen %lld s ago", (long long)(s->now - seen));
		link = linkbuf;
	}
	if (lag > 100000)
		snprintf(lagbuf, sizeof(lagbuf), ">100000, %lld s", behind);
	else if (lag > 0)
		snprintf(lagbuf, sizeof(lagbuf), "%lld, %lld s%s", lag, behind, behind > s->max_lag ? " LAGGING" : "");
	else
		snprintf(lagbuf, sizeof(lagbuf), "0");
	if (trimmed)
		snprintf(lagbuf, sizeof(lagbuf), "resync");
	if (s->order)
		applied = status_applied(s, h, loaded);
	problem = resolver_problem(h, is_stale, trimmed, loaded, lag, behind, s->stale, s->max_lag, s->now, applied,
				   s->order != NULL);
	if (problem) {
		s->nbad++;
		if (s->check) {
			char name[200];
			ctl_show(h->name, strlen(h->name), 60, name, sizeof(name));
			warnx("status --check: resolver %s: %s", name, problem);
		}
	}
	ctl_fmt_age(seen, s->now, seenbuf);
	if (is_stale)
		strncat(seenbuf, " (stale)", sizeof(seenbuf) - strlen(seenbuf) - 1);
	if (applied_at > 0)
		snprintf(appbuf, sizeof(appbuf), "%s (%s)", ctl_fmt_time(applied_at, tb),
			 ctl_fmt_age(applied_at, s->now, tb2));
	else /* a module that loaded its list reports the load: 0 is "still loading" */
		snprintf(appbuf, sizeof(appbuf), "- (%s)", loaded ? "not reported" : "list not loaded yet");
	if (s->json)
		status_print_json_resolver(s, i, is_stale, trimmed, lag, behind, rstale, applied, problem);
	else if (s->order)
		ctl_table_row(t, 7, h->name, h->f[HB_JURIS][0] ? h->f[HB_JURIS] : "-", link, seenbuf, applied, appbuf,
			      h->f[HB_LAST_ID]);
	else
		ctl_table_row(t, 10, h->name, h->f[HB_JURIS][0] ? h->f[HB_JURIS] : "-", link, readbuf, seenbuf,
			      h->f[HB_LAST_ID], lagbuf, h->f[HB_ENTRIES], h->f[HB_ORDERS], appbuf);
	return true;
}

/* Every resolver, then the verdict; returns whether the fleet (and the order) is healthy. */
static bool status_resolvers(struct status *s, int *ex)
{
	struct ctl_table t = { 0 };
	bool healthy;

	if (!s->json && s->nhb > 0) {
		if (s->order)
			ctl_table_row(&t, 7, "RESOLVER", "JURISDICTION", "LINK", "SEEN", "ORDER", "LAST APPLIED",
				      "LAST CHANGE");
		else
			ctl_table_row(&t, 10, "RESOLVER", "JURISDICTION", "LINK", "READS", "SEEN", "LAST CHANGE", "LAG",
				      "ENTRIES", "ORDERS", "LAST APPLIED");
	}
	for (size_t i = 0; i < s->nhb; i++)
		if (!status_resolver(s, i, &t, ex))
			break;
	healthy = s->nbad == 0 && s->nbad_replicas == 0 && s->nhb > 0 &&
		  (!s->order || (s->o.in_force && !s->o.expired));
	if (s->json)
		printf("],\"healthy\":%s}\n", healthy ? "true" : "false");
	else
		ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	return healthy;
}

/* status --check: say why the fleet or the order is not compliant. */
static void status_not_compliant(const struct status *s)
{
	if (s->nbeating == 0)
		warnx("status --check: no resolver has sent a heartbeat in the last 30 s");
	if (s->order && !s->o.in_force)
		warnx("status --check: order %s is not in force (%s)", s->order, ctl_order_state(&s->o));
	else if (s->order && s->o.expired)
		warnx("status --check: order %s has expired", s->order);
	if (s->nbad)
		warnx("status --check: %zu of %zu resolvers not healthy", s->nbad, s->nhb);
	if (s->nbad_replicas)
		warnx("status --check: %zu of %zu replicas flagged", s->nbad_replicas, s->repl.nreplicas);
}

/*
 * Collateral alarms: prefixes that blocked more distinct names this hour than
 * the resolver's threshold, the signature of a shared address (issue 13). A
 * warning, also with --check: the resolver enforces what it was told; a
 * person must decide (protect-ip or delip, redsink-stats collateral).
 */
static void status_print_collateral(const struct status *s)
{
	for (size_t i = 0; i < s->nhb; i++) {
		const struct ctl_hb *h = &s->hbs[i];
		struct ctl_collat c[64];
		char name[200], shown[200];
		size_t bad, n = ctl_collateral_parse(h->f[HB_COLLATERAL], c, 64, &bad);
		ctl_show(h->name, strlen(h->name), 60, name, sizeof(name));
		for (size_t k = 0; k < n; k++) {
			if (!s->json)
				printf("COLLATERAL ALARM: resolver %s: prefix %s blocked %llu distinct names this hour "
				       "(a shared address? 'redsink-stats collateral', 'redsink-stats discovered'; "
				       "protect-ip or delip)\n", name, c[k].prefix, (unsigned long long)c[k].names);
			if (s->check)
				warnx("status --check: warning: resolver %s: collateral alarm: prefix %s blocked %llu "
				      "distinct names this hour", name, c[k].prefix, (unsigned long long)c[k].names);
		}
		if (bad && !s->json)
			printf("warning: resolver %s: %zu malformed collateral entr%s in its heartbeat ('%s')\n", name, bad,
			       bad == 1 ? "y" : "ies",
			       ctl_show(h->f[HB_COLLATERAL], strlen(h->f[HB_COLLATERAL]), 60, shown, sizeof(shown)));
		/* collateral-action: suspend: prefixes that stopped triggering until a person confirms them */
		for (const char *p = h->f[HB_COLLATERAL_SUSPENDED]; !s->json && *p;) {
			size_t len = strcspn(p, " ");
			struct rs_prefix px;
			char text[RS_PREFIX_TEXT_MAX];
			if (len > 0 && len < sizeof(text)) {
				memcpy(text, p, len);
				text[len] = '\0';
				if (rs_prefix_parse(text, &px, NULL, 0) == 0)
					printf("COLLATERAL SUSPENDED: resolver %s: prefix %s no longer triggers blocks until "
					       "confirmed ('redsink-ctl confirm-ip %s')\n", name, text, text);
			}
			p += len;
			while (*p == ' ')
				p++;
		}
	}
}

/* Resolvers that keep their list because this Redis does not hold its dataset. */
static void status_print_dataset_alarms(const struct status *s)
{
	for (size_t i = 0; i < s->nhb; i++) {
		const struct ctl_hb *h = &s->hbs[i];
		char held[80], alarm[80], name[200];
		if (!h->f[HB_DATASET_ALARM][0])
			continue;
		ctl_show(h->f[HB_DATASET], strlen(h->f[HB_DATASET]), 40, held, sizeof(held));
		ctl_show(h->f[HB_DATASET_ALARM], strlen(h->f[HB_DATASET_ALARM]), 20, alarm, sizeof(alarm));
		ctl_show(h->name, strlen(h->name), 60, name, sizeof(name));
		printf("DATASET ALARM: resolver %s: %s: it keeps enforcing dataset %s (see 'redsink-ctl dataset show', "
		       "doc/dataset.md)\n",
		       name, alarm, held[0] ? held : "(none)");
	}
}

int cmd_status(struct ctl *x, int argc, char **argv)
{
	struct status s = { .x = x, .stale = 12, .now = (int64_t)time(NULL) };
	bool healthy;
	int ex;

	x->usage = status_usage;
	if ((ex = status_options(&s, argc, argv)) >= 0)
		return ex;
	if ((ex = ctl_open(x)))
		return ex;
	ctl_key(x, s.kc, "changes");
	if ((ex = status_stream(&s)) || (ex = ctl_dataset_read(x, &s.ds)) || (ex = status_replication(&s)))
		return ex;
	status_judge_replicas(&s);
	if ((s.order && (ex = status_order(&s))) || (ex = ctl_fleet(s.x, &s.hbs, &s.nhb)))
		goto out;
	for (size_t i = 0; i < s.nhb; i++)
		s.nbeating += s.hbs[i].beating;
	status_print_head(&s);
	if (s.order && s.nbeating == 0) {
		/* a compliance report with nobody to report on is not a success */
		warnx("order %s: no resolver has sent a heartbeat in the last 30 s: nobody is known to enforce it",
		      s.order);
		ex = CTL_EXIT_ERROR;
	}
	healthy = status_resolvers(&s, &ex);
	if (s.check && !healthy && (ex == 0 || ex == CTL_EXIT_ERROR)) {
		status_not_compliant(&s);
		ex = CTL_EXIT_ERROR; /* not compliant */
	}
	if (!s.json) {
		status_print_dataset_alarms(&s);
		ctl_print_signature_alarms(s.hbs, s.nhb); /* signed orders: ctl_fleet.c */
	}
	status_print_collateral(&s);
out:
	ctl_heartbeats_free(s.hbs, s.nhb);
	ctl_order_clear(&s.o);
	ctl_dataset_cur_clear(&s.ds);
	return ex;
}

/* ---- export ---- */

static const char export_usage[] =
	"Usage: redsink-ctl export --rpz|--csv|--json [-o FILE] [OPTIONS]\n"
	"\n"
	"--rpz writes the list as a Response Policy Zone, so resolvers that are not\n"
	"Unbound with redsink (BIND, PowerDNS Recursor, Knot Resolver, Unbound's own\n"
	"rpz:) enforce the same orders: for each domain, `name` and `*.name` with the\n"
	"order's action (nxdomain: CNAME .; nodata: CNAME *.; sinkhole: the addresses\n"
	"of --sinkhole-ipv4/-ipv6 and a TXT with the order's reference, else NXDOMAIN;\n"
	"refused has no RPZ equivalent and becomes NXDOMAIN), and rpz-passthru for the\n"
	"protected names. Like the module, it includes the orders that apply in\n"
	"--jurisdiction (without it: only scope '*' orders) and have not expired, and\n"
	"leaves out names at or below a protected name.\n"
	"--csv and --json write every order in force (or those applying in\n"
	"--jurisdiction) with their domains and address prefixes, for audits. The CSV\n"
	"has one row per order and domain (column prefix empty), then one per order\n"
	"and address prefix (column domain empty, prefix last): `push ORDER FILE`\n"
	"reads its domains back and `addip ORDER FILE` its prefixes (with --order,\n"
	"the file holds that order only).\n"
	"\n"
	"  --order ID            only order ID (no output but the header when it is not\n"
	"                        exported)\n"
	"  -o, --output FILE     write FILE (atomically: a temporary file, then rename)\n"
	"  --origin NAME         the RPZ zone's name (default rpz.redsink.); it must be\n"
	"                        the name the resolver's configuration gives the zone\n"
	"  --jurisdiction CC     the orders that apply in CC (ISO 3166-1 alpha-2)\n"
	"  --sinkhole-ipv4 ADDR  RPZ answer for sinkhole orders (A)\n"
	"  --sinkhole-ipv6 ADDR  RPZ answer for sinkhole orders (AAAA)\n"
	"  --ttl SECONDS         TTL of the RPZ records (default 60)\n";

struct xorder {
	struct ctl_order o;
	struct ctl_manifest mf; /* its signed manifest (--json: for 'verify --from-export') */
	char **domains;
	size_t nd;
	struct ctl_pprot ips; /* its address prefixes (order:<id>:ips), as resolvers read them */
};

/* Quote a TXT string for a zone file. */
static void zone_txt(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\%03u", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* A CSV field: quoted when needed; a leading = + - @ is neutralised with a
 * quote character so a spreadsheet does not run it as a formula. */
static void csv_field(FILE *f, const char *s, bool last, bool text)
{
	bool guard = text && s[0] && strchr("=+-@", s[0]);
	bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', f);
	if (guard)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	if (quote)
		fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

/* Would the module accept this order? Asked of the module's own parser
 * (order.c, rs_order_parse), so the two can never disagree. */
static bool order_valid(const struct ctl_order *o)
{
	static const struct rs_conf conf = { .language = "en" };
	const char *kv[2 * F_COUNT];
	struct rs_order *parsed;
	char why[256];
	bool ok;

	for (int i = 0; i < F_COUNT; i++) {
		kv[2 * i] = ctl_order_fields[i];
		kv[2 * i + 1] = o->f[i] ? o->f[i] : "";
	}
	ok = rs_order_parse(&conf, o->id, kv, F_COUNT, &parsed, why, sizeof(why)) == 0;
	rs_order_free(ok ? parsed : NULL);
	return ok;
}

/*
 * Keep the canonical form of each name of v[0..n) read from Redis, dropping
 * (with a warning) what is not a domain name: like the module, never export a
 * malformed member (a newline in a name would forge records in a zone file).
 * Returns the new count.
 */
static size_t canon_members(char **v, size_t n, const char *where)
{
	size_t k = 0, bad = 0;

	for (size_t i = 0; i < n; i++) {
		char canon[RS_NAME_MAX + 1], shown[200];
		if (rs_name_canon(v[i], strlen(v[i]), canon) < 0) {
			if (bad++ < 5)
				warnx("warning: %s: skipping '%s': not a canonical domain name", where,
				      ctl_show(v[i], strlen(v[i]), 60, shown, sizeof(shown)));
			free(v[i]);
			continue;
		}
		strcpy(v[i], canon); /* never longer */
		v[k++] = v[i];
	}
	if (bad > 5)
		warnx("warning: %s: %zu malformed names skipped in all", where, bad);
	return k;
}

/* Everything one export run works with, shared by its steps. */
struct export {
	struct ctl *x;
	int fmt; /* O_RPZ, O_CSV or O_JSON */
	const char *out, *origin, *juris, *sink4, *sink6;
	const char *order; /* --order: only this order */
	long ttl;
	char juris_uc[3], tmp[4200];
	char **ids, **prot;
	size_t nids, nprot, nx;
	struct ctl_pprot prot_ips; /* protected-ips */
	struct xorder *xo; /* the orders exported, nx of them */
	FILE *f;
	int64_t now;
};

/* Parse the options; -1 to go on, or the exit code of the command. */
static int export_options(struct export *e, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rpz", no_argument, NULL, O_RPZ },
		{ "csv", no_argument, NULL, O_CSV },
		{ "json", no_argument, NULL, O_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "jurisdiction", required_argument, NULL, O_JURIS },
		{ "sinkhole-ipv4", required_argument, NULL, O_SINK4 },
		{ "sinkhole-ipv6", required_argument, NULL, O_SINK6 },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "order", required_argument, NULL, O_ORDER },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = e->x;
	const char *juris;
	int c, ex = 0;

	while ((c = ctl_getopt(x, argc, argv, "o:", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ex;
		case O_RPZ:
		case O_CSV:
		case O_JSON:
			if (e->fmt && e->fmt != c)
				return ctl_usage_error(x, "choose one of --rpz, --csv, --json");
			e->fmt = c;
			break;
		case 'o':
			e->out = optarg;
			break;
		case O_ORDER:
			if (!rs_order_id_ok(optarg))
				return ctl_usage_error(x, "--order '%.60s': " RS_ORDER_ID_RULE, optarg);
			e->order = optarg;
			break;
		case O_ORIGIN:
			e->origin = optarg;
			break;
		case O_JURIS:
			juris = optarg;
			if (strlen(juris) != 2 || !((juris[0] | 0x20) >= 'a' && (juris[0] | 0x20) <= 'z') ||
			    !((juris[1] | 0x20) >= 'a' && (juris[1] | 0x20) <= 'z'))
				return ctl_usage_error(x, "--jurisdiction: '%s' is not an ISO 3166-1 alpha-2 code", juris);
			e->juris_uc[0] = (char)(juris[0] & ~0x20);
			e->juris_uc[1] = (char)(juris[1] & ~0x20);
			e->juris = e->juris_uc;
			break;
		case O_SINK4: {
			unsigned char a[16];
			if (inet_pton(AF_INET, optarg, a) != 1)
				return ctl_usage_error(x, "--sinkhole-ipv4: '%s' is not an IPv4 address", optarg);
			e->sink4 = optarg;
			break;
		}
		case O_SINK6: {
			unsigned char a[16];
			if (inet_pton(AF_INET6, optarg, a) != 1)
				return ctl_usage_error(x, "--sinkhole-ipv6: '%s' is not an IPv6 address", optarg);
			e->sink6 = optarg;
			break;
		}
		case O_TTL: {
			char *end;
			e->ttl = strtol(optarg, &end, 10);
			if (*end || e->ttl < 0 || e->ttl > 86400)
				return ctl_usage_error(x, "--ttl: '%s' is not a number of seconds", optarg);
			break;
		}
		}
	}
	if (!e->fmt)
		return ctl_usage_error(x, "choose --rpz, --csv or --json");
	if (optind < argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	if (e->fmt == O_RPZ) {
		char canon[RS_NAME_MAX + 1];
		if (rs_name_canon(e->origin, strlen(e->origin), canon) < 0)
			return ctl_usage_error(x, "--origin: '%s' is not a domain name", e->origin);
	}
	return -1;
}

/* Load order ids[i] into xo[nx] with its domains when the export includes it (nx grows), else leave it out. */
static int export_load_order(struct export *e, size_t i)
{
	struct ctl *x = e->x;
	struct xorder *xo = &e->xo[e->nx];
	const char *id = e->ids[i];
	char k[CTL_KEY_MAX];
	bool in_scope;
	int ex;

	if (e->order && strcmp(id, e->order) != 0)
		return 0;
	if (!rs_order_id_ok(id)) {
		char shown[200];
		warnx("warning: orders: skipping '%s': not an order id", ctl_show(id, strlen(id), 60, shown, sizeof(shown)));
		return 0;
	}
	if ((ex = ctl_order_load(x, id, false, &xo->o)))
		return ex;
	in_scope = e->juris ? rs_scope_includes(xo->o.f[F_SCOPE], e->juris)
			    : e->fmt != O_RPZ || strcmp(xo->o.f[F_SCOPE], "*") == 0;
	if (e->fmt == O_RPZ && xo->o.exists && !order_valid(&xo->o)) {
		warnx("warning: order '%s' is malformed (resolvers skip it): left out", id);
		ctl_order_clear(&xo->o);
		return 0;
	}
	if (!xo->o.exists || !in_scope || (e->fmt == O_RPZ && (xo->o.expired || xo->o.bad_expires || !xo->o.active))) {
		ctl_order_clear(&xo->o);
		return 0;
	}
	if (e->fmt == O_RPZ && xo->o.nwin) { /* an RPZ cannot say "only during a window" */
		char when[32];
		warnx("warning: order '%s' has live-event windows: exported as it stands now (applies); export again "
		      "when its window closes (%s)", id, xo->o.next_change ? ctl_fmt_time(xo->o.next_change, when) : "never");
	}
	if ((ex = ctl_set_members(x, ctl_key(x, k, "order:%s:domains", id), &xo->domains, &xo->nd))) {
		ctl_order_clear(&xo->o);
		return ex;
	}
	xo->nd = canon_members(xo->domains, xo->nd, k);
	ctl_pprot_init(&xo->ips);
	e->nx++;
	if (e->fmt == O_JSON && (ex = ctl_manifest_read(x, id, &xo->mf)))
		return ex;
	if ((ex = ctl_ip_load_set(x, ctl_key(x, k, "order:%s:ips", id), &xo->ips)))
		return ex;
	return 0;
}

/* Read the protected names and the orders to export (with their domains). */
static int export_load(struct export *e)
{
	struct ctl *x = e->x;
	char k[CTL_KEY_MAX];
	int ex;

	if ((ex = ctl_set_members(x, ctl_key(x, k, "orders"), &e->ids, &e->nids)))
		return ex;
	if ((ex = ctl_set_members(x, ctl_key(x, k, "protected"), &e->prot, &e->nprot)))
		return ex;
	e->nprot = canon_members(e->prot, e->nprot, "protected");
	if ((ex = ctl_ip_load_set(x, ctl_key(x, k, "protected-ips"), &e->prot_ips)))
		return ex;
	e->xo = calloc(e->nids ? e->nids : 1, sizeof(*e->xo));
	if (!e->xo)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < e->nids; i++)
		if ((ex = export_load_order(e, i)))
			return ex;
	return 0;
}

/* With -o, open the temporary file the export is written to (renamed over FILE when complete). */
static int export_open_output(struct export *e)
{
	if (!e->out)
		return 0;
	snprintf(e->tmp, sizeof(e->tmp), "%s.tmp.%ld", e->out, (long)getpid());
	e->f = fopen(e->tmp, "w");
	if (!e->f) {
		/* name the user's path: the temporary file is ours */
		warnx("%s: %s", e->out, strerror(errno));
		e->f = stdout;
		return CTL_EXIT_ERROR;
	}
	return 0;
}

/* The RPZ records of domain d (and *.d) for an order with action act. */
static void export_rpz_domain(const struct export *e, const struct xorder *xo, const char *d, int act)
{
	FILE *f = e->f;

	for (int w = 0; w < 2; w++) {
		const char *pre = w ? "*." : "";
		if (act == RS_ACT_NODATA) {
			fprintf(f, "%s%s CNAME *.\n", pre, d);
		} else if (act == RS_ACT_SINKHOLE && (e->sink4 || e->sink6)) {
			if (e->sink4)
				fprintf(f, "%s%s A %s\n", pre, d, e->sink4);
			if (e->sink6)
				fprintf(f, "%s%s AAAA %s\n", pre, d, e->sink6);
			fprintf(f, "%s%s TXT ", pre, d);
			char txt[CTL_TEXT_MAX + 40];
			snprintf(txt, sizeof(txt), "Order %s", xo->o.f[F_REFERENCE]);
			zone_txt(f, txt);
			fputc('\n', f);
		} else {
			fprintf(f, "%s%s CNAME .\n", pre, d);
		}
	}
}

/*
 * The rpz-ip triggers of an order's prefixes, with the action of its names
 * (no TXT: Unbound's respip takes address records as local data). A prefix
 * inside a protected prefix is left out (in Unbound the longer prefix would
 * win; in redsink the protected one does), and one listed by an earlier
 * order too (its action wins).
 */
static void export_rpz_prefixes(const struct export *e, const struct xorder *xo, int act, struct ctl_strmap *seen,
				size_t *nrec, size_t *nskipped)
{
	FILE *f = e->f;

	for (size_t j = 0; j < xo->ips.n; j++) {
		char owner[128];
		bool inside = false;
		for (size_t k = 0; k < e->prot_ips.n && !inside; k++)
			inside = rs_prefix_contains(&e->prot_ips.v[k], &xo->ips.v[j]);
		if (inside) {
			(*nskipped)++;
			continue;
		}
		if (ctl_strmap_put(seen, xo->ips.text[j], NULL) != 1 ||
		    !ctl_rpz_ip_owner(&xo->ips.v[j], owner, sizeof(owner)))
			continue;
		if (act == RS_ACT_NODATA) {
			fprintf(f, "%s CNAME *.\n", owner);
		} else if (act == RS_ACT_SINKHOLE && (e->sink4 || e->sink6)) {
			if (e->sink4)
				fprintf(f, "%s A %s\n", owner, e->sink4);
			if (e->sink6)
				fprintf(f, "%s AAAA %s\n", owner, e->sink6);
		} else {
			fprintf(f, "%s CNAME .\n", owner);
		}
		(*nrec)++;
	}
}

/* One order in the RPZ: a comment, then its domains not protected nor listed by an earlier order. */
static void export_rpz_order(const struct export *e, const struct xorder *xo, const struct ctl_prot *pi,
			     struct ctl_strmap *seen, bool *warned, size_t *nrec, size_t *nskipped)
{
	FILE *f = e->f;
	int act = RS_ACT_SINKHOLE;
	char sa[400], sr[400];

	for (int a = 0; a <= RS_ACT_REFUSED; a++)
		if (strcmp(xo->o.f[F_ACTION], rs_action_name(a)) == 0)
			act = a;
	fprintf(f, "; order %s: %s, %s (%s)\n", xo->o.id,
		ctl_show(xo->o.f[F_AUTHORITY], strlen(xo->o.f[F_AUTHORITY]), 80, sa, sizeof(sa)),
		ctl_show(xo->o.f[F_REFERENCE], strlen(xo->o.f[F_REFERENCE]), 80, sr, sizeof(sr)), rs_action_name(act));
	if (act == RS_ACT_REFUSED)
		fprintf(f, "; refused has no RPZ action: NXDOMAIN instead\n");
	if (act == RS_ACT_SINKHOLE && !e->sink4 && !e->sink6) {
		fprintf(f, "; no --sinkhole-ipv4/-ipv6 given: NXDOMAIN instead of the sinkhole\n");
		if (!*warned)
			warnx("warning: sinkhole orders exported as NXDOMAIN: give --sinkhole-ipv4 / --sinkhole-ipv6");
		*warned = true;
	}
	for (size_t j = 0; j < xo->nd; j++) {
		const char *d = xo->domains[j], *which;
		if (ctl_prot_check(pi, d, &which) == CTL_PROT_SAME || ctl_prot_check(pi, d, &which) == CTL_PROT_BELOW) {
			(*nskipped)++;
			continue;
		}
		if (ctl_strmap_put(seen, d, NULL) != 1)
			continue; /* listed by an earlier order: its action wins */
		export_rpz_domain(e, xo, d, act);
		(*nrec)++;
	}
	export_rpz_prefixes(e, xo, act, seen, nrec, nskipped);
}

/* --rpz: the zone, protected names as rpz-passthru first, then every order. */
static void export_rpz(const struct export *e)
{
	struct ctl *x = e->x;
	FILE *f = e->f;
	struct ctl_prot pi;
	struct ctl_strmap *seen = ctl_strmap_new();
	size_t nrec = 0, nskipped = 0;
	bool warned = false;
	char tb[40];

	if (!seen || ctl_prot_init(&pi))
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < e->nprot; i++)
		ctl_prot_add(&pi, e->prot[i]);
	fprintf(f, "; redsink RPZ export: generated %s by redsink-ctl from Redis %s (prefix %s)\n",
		ctl_fmt_time(e->now, tb), x->conn.ep.addr, x->prefix);
	fprintf(f, "; orders applying %s%s, not expired: %zu; protected names: %zu\n",
		e->juris ? "in " : "everywhere (scope '*')", e->juris ? e->juris : "", e->nx, e->nprot);
	fprintf(f, "$ORIGIN %s%s\n$TTL %ld\n", e->origin, e->origin[strlen(e->origin) - 1] == '.' ? "" : ".", e->ttl);
	fprintf(f, "@ SOA localhost. hostmaster.localhost. %lld 3600 600 86400 %ld\n", (long long)e->now, e->ttl);
	fprintf(f, "@ NS localhost.\n");
	if (e->nprot)
		fprintf(f, "; protected: never blocked\n");
	for (size_t i = 0; i < e->nprot; i++)
		fprintf(f, "%s CNAME rpz-passthru.\n*.%s CNAME rpz-passthru.\n", e->prot[i], e->prot[i]);
	if (e->prot_ips.n)
		fprintf(f, "; protected address prefixes: never trigger a block\n");
	for (size_t i = 0; i < e->prot_ips.n; i++) {
		char owner[128];
		if (ctl_rpz_ip_owner(&e->prot_ips.v[i], owner, sizeof(owner)))
			fprintf(f, "%s CNAME rpz-passthru.\n", owner);
	}
	for (size_t i = 0; i < e->nx; i++)
		export_rpz_order(e, &e->xo[i], &pi, seen, &warned, &nrec, &nskipped);
	fprintf(f, "; %zu domains and address prefixes; %zu left out (at or below a protected name, or inside a "
		   "protected prefix)\n", nrec, nskipped);
	ctl_strmap_free(seen);
	ctl_prot_free(&pi);
}

/* One --csv row: the order's fields with a domain or (last column) a prefix. */
static void export_csv_row(FILE *f, const struct ctl_order *o, const char *domain, const char *prefix)
{
	csv_field(f, o->id, false, true);
	csv_field(f, domain, false, false);
	csv_field(f, o->f[F_AUTHORITY], false, true);
	csv_field(f, o->f[F_REFERENCE], false, true);
	csv_field(f, o->f[F_ISSUED], false, true);
	csv_field(f, o->f[F_EXPIRES], false, true);
	csv_field(f, o->f[F_SCOPE], false, true);
	csv_field(f, o->f[F_ACTION], false, true);
	csv_field(f, ctl_order_state(o), false, false);
	csv_field(f, prefix, true, false);
}

/* --csv: one row per order and domain (prefix empty), then one per order and
 * address prefix (domain empty), so that push reads the domain column and
 * addip the prefix column of the same file. */
static void export_csv(const struct export *e)
{
	static const char *const head[] = { "order", "domain", "authority", "reference", "issued", "expires",
					    "scope", "action", "state", "prefix" };
	FILE *f = e->f;

	for (int i = 0; i < 10; i++)
		csv_field(f, head[i], i == 9, false);
	for (size_t i = 0; i < e->nx; i++) {
		for (size_t j = 0; j < e->xo[i].nd; j++)
			export_csv_row(f, &e->xo[i].o, e->xo[i].domains[j], "");
		for (size_t j = 0; j < e->xo[i].ips.n; j++)
			export_csv_row(f, &e->xo[i].o, "", e->xo[i].ips.text[j]);
	}
}

/* --json: one object with the orders (and their domains) and the protected names. */
static void export_json(struct export *e)
{
	FILE *f = e->f;
	char tb[40];

	fprintf(f, "{\"generated\":\"%s\",\"prefix\":", ctl_fmt_time(e->now, tb));
	ctl_json_str(f, e->x->prefix);
	fprintf(f, ",\"jurisdiction\":");
	if (e->juris)
		ctl_json_str(f, e->juris);
	else
		fputs("null", f);
	fputs(",\"orders\":[", f);
	for (size_t i = 0; i < e->nx; i++) {
		if (i)
			fputc(',', f);
		char *sj = ctl_sign_json(&e->xo[i].mf, NULL, true);
		e->xo[i].o.ndomains = (long long)e->xo[i].nd;
		json_order(f, &e->xo[i].o, e->xo[i].domains, e->xo[i].nd, true, sj);
		free(sj);
	}
	fputs("],\"protected\":[", f);
	for (size_t i = 0; i < e->nprot; i++) {
		if (i)
			fputc(',', f);
		ctl_json_str(f, e->prot[i]);
	}
	/* address prefixes: per order, and the protected ones */
	fputs("],\"prefixes\":{", f);
	for (size_t i = 0, shown = 0; i < e->nx; i++) {
		if (!e->xo[i].ips.n)
			continue;
		if (shown++)
			fputc(',', f);
		ctl_json_str(f, e->xo[i].o.id);
		fputs(":[", f);
		for (size_t j = 0; j < e->xo[i].ips.n; j++) {
			if (j)
				fputc(',', f);
			ctl_json_str(f, e->xo[i].ips.text[j]);
		}
		fputc(']', f);
	}
	fputs("},\"protected_prefixes\":[", f);
	for (size_t i = 0; i < e->prot_ips.n; i++) {
		if (i)
			fputc(',', f);
		ctl_json_str(f, e->prot_ips.text[i]);
	}
	fputs("]}\n", f);
}

/* Make the export durable: flush, fsync and rename the temporary file over FILE (or flush stdout). */
static int export_finish_output(struct export *e)
{
	if (e->out) {
		bool bad = fflush(e->f) || ferror(e->f) || fsync(fileno(e->f));
		int err = errno;
		if (fclose(e->f) && !bad) {
			bad = true;
			err = errno;
		}
		e->f = stdout;
		if (bad) {
			warnx("%s: %s", e->out, strerror(err));
			unlink(e->tmp);
			return CTL_EXIT_ERROR;
		}
		if (rename(e->tmp, e->out)) {
			warnx("%s: %s", e->out, strerror(errno));
			unlink(e->tmp);
			return CTL_EXIT_ERROR;
		}
	} else if (fflush(stdout) || ferror(stdout)) {
		warnx("standard output: %s", strerror(errno));
		return CTL_EXIT_ERROR;
	}
	return 0;
}

int cmd_export(struct ctl *x, int argc, char **argv)
{
	struct export e = { .x = x, .origin = "rpz.redsink.", .ttl = 60, .f = stdout, .now = (int64_t)time(NULL) };
	int ex;

	x->usage = export_usage;
	if ((ex = export_options(&e, argc, argv)) >= 0)
		return ex;
	if ((ex = ctl_open(x)))
		return ex;
	if ((ex = export_load(&e)) || (ex = export_open_output(&e)))
		goto out;
	if (e.fmt == O_RPZ)
		export_rpz(&e);
	else if (e.fmt == O_CSV)
		export_csv(&e);
	else
		export_json(&e);
	ex = export_finish_output(&e);
out:
	if (e.f != stdout) {
		fclose(e.f);
		unlink(e.tmp);
	}
	for (size_t i = 0; i < e.nx; i++) {
		ctl_order_clear(&e.xo[i].o);
		ctl_manifest_clear(&e.xo[i].mf);
		ctl_free_strings(e.xo[i].domains, e.xo[i].nd);
		ctl_pprot_free(&e.xo[i].ips);
	}
	ctl_pprot_free(&e.prot_ips);
	free(e.xo);
	ctl_free_strings(e.ids, e.nids);
	ctl_free_strings(e.prot, e.nprot);
	return ex;
}

/* ---- log ---- */

static const char log_usage[] =
	"Usage: redsink-ctl log [--order ID] [--domain NAME] [--by WHO] [--op OP]\n"
	"                       [--since TIME] [--until TIME] [--limit N] [--json]\n"
	"                       [--follow]\n"
	"\n"
	"The audit trail: the change stream's entries (who changed what, when and\n"
	"why), oldest first. --domain matches the name and the names below it.\n"
	"TIME: RFC 3339 (2026-05-01T10:00:00Z), a date, or relative (-7d, -12h, -30m).\n"
	"--limit N shows the N most recent matching entries. Note: --by here filters\n"
	"by author (it does not set who you are).\n"
	"\n"
	"Output: one line per entry: TIME ID op=OP order=ID domain=NAME by=WHO why=\"...\"\n"
	"(--json: one JSON object per line).\n"
	"\n"
	"--follow (-f): after the entries so far, print new entries as they arrive\n"
	"(XREAD BLOCK, the same filters) until interrupted (SIGINT, SIGTERM: exit 0)\n"
	"or the connection is lost (exit 4). Not with --until.\n";

struct entry_view {
	const char *id, *op, *order, *domain, *by, *why, *override, *dataset;
	const char *prefix;       /* the address ops (addip, delip, protectip, unprotectip) */
	const char *fields;       /* op order: the fields set or changed ("scope,action") */
	const redisReply *all;    /* every field, for old.FIELD / new.FIELD */
};

static void view_of(const redisReply *e, struct entry_view *v)
{
	const redisReply *f = e->element[1];

	memset(v, 0, sizeof(*v));
	v->id = e->element[0]->str;
	v->all = f;
	for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
		const char *k = f->element[j]->str, *val = f->element[j + 1]->str;
		if (strcmp(k, "op") == 0)
			v->op = val;
		else if (strcmp(k, "order") == 0)
			v->order = val;
		else if (strcmp(k, "domain") == 0)
			v->domain = val;
		else if (strcmp(k, "by") == 0)
			v->by = val;
		else if (strcmp(k, "why") == 0)
			v->why = val;
		else if (strcmp(k, "override") == 0)
			v->override = val;
		else if (strcmp(k, "dataset") == 0)
			v->dataset = val;
		else if (strcmp(k, "prefix") == 0)
			v->prefix = val;
		else if (strcmp(k, "fields") == 0)
			v->fields = val;
	}
}

/* The value of field `which`.`name` (old.scope) in the entry, or NULL. */
static const char *entry_extra(const struct entry_view *v, const char *which, const char *name, size_t nlen)
{
	size_t wl = strlen(which);

	for (size_t j = 0; v->all && v->all->type == REDIS_REPLY_ARRAY && j + 1 < v->all->elements; j += 2) {
		const char *k = v->all->element[j]->str;
		if (strncmp(k, which, wl) == 0 && k[wl] == '.' && strlen(k + wl + 1) == nlen &&
		    strncmp(k + wl + 1, name, nlen) == 0)
			return v->all->element[j + 1]->str;
	}
	return NULL;
}

/* The next name of a comma-separated list at *cur (its length in *len), or NULL at the end. */
static const char *next_field(const char **cur, size_t *len)
{
	const char *s = *cur;

	if (!s || !*s)
		return NULL;
	*len = strcspn(s, ",");
	*cur = s[*len] ? s + *len + 1 : s + *len;
	return s;
}

struct log_filter {
	const char *order, *domain, *by, *op;
};

static bool matches(const struct log_filter *fl, const struct entry_view *v)
{
	if (fl->order && (!v->order || strcmp(v->order, fl->order) != 0))
		return false;
	if (fl->by && (!v->by || strcmp(v->by, fl->by) != 0))
		return false;
	if (fl->op && (!v->op || strcmp(v->op, fl->op) != 0))
		return false;
	if (fl->domain) {
		size_t n, m;
		if (!v->domain)
			return false;
		n = strlen(v->domain);
		m = strlen(fl->domain);
		if (!(n == m && strcmp(v->domain, fl->domain) == 0) &&
		    !(n > m && v->domain[n - m - 1] == '.' && strcmp(v->domain + n - m, fl->domain) == 0))
			return false;
	}
	return true;
}

/* Print one value for log: bare when safe, else quoted, with control,
 * invisible and bidi characters escaped (texts in the stream may come from
 * any writer). */
static void log_value(const char *s)
{
	bool bare = *s && !strpbrk(s, " \t\"\\=");
	char *shown;
	size_t n = strlen(s);

	for (const unsigned char *p = (const unsigned char *)s; bare && *p; p++)
		if (*p < 0x21 || *p >= 0x7f)
			bare = false;
	if (bare) {
		fputs(s, stdout);
		return;
	}
	shown = malloc(n * 8 + 16);
	if (!shown)
		errx(CTL_EXIT_ERROR, "out of memory");
	ctl_show(s, n, n + 1, shown, n * 8 + 16);
	putchar('"');
	for (const char *p = shown; *p; p++) {
		if (*p == '"')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
	free(shown);
}

static void print_entry(const struct entry_view *v, bool json)
{
	char tb[40];

	if (json) {
		printf("{\"id\":");
		ctl_json_str(stdout, v->id);
		printf(",\"time\":");
		ctl_json_str(stdout, ctl_fmt_id_time(v->id, tb));
		printf(",\"op\":");
		ctl_json_str(stdout, v->op);
		printf(",\"order\":");
		ctl_json_str(stdout, v->order);
		printf(",\"domain\":");
		ctl_json_str(stdout, v->domain);
		if (v->prefix) {
			printf(",\"prefix\":");
			ctl_json_str(stdout, v->prefix);
		}
		printf(",\"by\":");
		ctl_json_str(stdout, v->by);
		printf(",\"why\":");
		ctl_json_str(stdout, v->why);
		if (v->override) {
			printf(",\"override\":");
			ctl_json_str(stdout, v->override);
		}
		if (v->dataset) {
			printf(",\"dataset\":");
			ctl_json_str(stdout, v->dataset);
		}
		if (v->fields) {
			/* "fields":["scope"],"old":{"scope":"IT"},"new":{"scope":"FR"} */
			static const char *const which[2] = { "old", "new" };
			const char *cur = v->fields, *name;
			size_t nlen;
			printf(",\"fields\":[");
			while ((name = next_field(&cur, &nlen))) {
				char buf[64];
				snprintf(buf, sizeof(buf), "%.*s", (int)(nlen < 63 ? nlen : 63), name);
				if (name != v->fields)
					putchar(',');
				ctl_json_str(stdout, buf);
			}
			putchar(']');
			for (int w = 0; w < 2; w++) {
				bool first = true;
				printf(",\"%s\":{", which[w]);
				cur = v->fields;
				while ((name = next_field(&cur, &nlen))) {
					const char *val = entry_extra(v, which[w], name, nlen);
					char buf[64];
					if (!val)
						continue;
					snprintf(buf, sizeof(buf), "%.*s", (int)(nlen < 63 ? nlen : 63), name);
					if (!first)
						putchar(',');
					first = false;
					ctl_json_str(stdout, buf);
					putchar(':');
					ctl_json_str(stdout, val);
				}
				putchar('}');
			}
		}
		printf("}\n");
		return;
	}
	printf("%s %s op=", ctl_fmt_id_time(v->id, tb), v->id);
	log_value(v->op ? v->op : "");
	if (v->order && *v->order) {
		printf(" order=");
		log_value(v->order);
	}
	if (v->prefix && *v->prefix) {
		printf(" prefix=");
		log_value(v->prefix);
	}
	if (v->domain && *v->domain) {
		printf(" domain=");
		log_value(v->domain);
	}
	if (v->dataset && *v->dataset) {
		printf(" dataset=");
		log_value(v->dataset);
	}
	printf(" by=");
	log_value(v->by ? v->by : "");
	if (v->why && *v->why) {
		printf(" why=");
		log_value(v->why);
	}
	if (v->override) {
		printf(" override=");
		log_value(v->override);
	}
	if (v->fields) {
		/* fields=scope,action old.scope=IT new.scope="IT FR" ... */
		const char *cur = v->fields, *name;
		size_t nlen;
		printf(" fields=");
		log_value(v->fields);
		while ((name = next_field(&cur, &nlen))) {
			static const char *const which[2] = { "old", "new" };
			for (int w = 0; w < 2; w++) {
				const char *val = entry_extra(v, which[w], name, nlen);
				char buf[64];
				if (!val)
					continue;
				snprintf(buf, sizeof(buf), "%.*s", (int)(nlen < 63 ? nlen : 63), name);
				printf(" %s.", which[w]);
				log_value(buf);
				putchar('=');
				log_value(val);
			}
		}
	}
	putchar('\n');
}

static volatile sig_atomic_t follow_stop;

static void on_follow_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

/* Print the entries after id that match fl as they arrive, until a signal. */
static int follow(struct ctl *x, const char *key, const char *id, const struct log_filter *fl, bool json)
{
	struct sigaction sa = { 0 };
	char last[64];
	int block = x->timeout_ms > 2000 ? 1000 : x->timeout_ms / 2 > 0 ? x->timeout_ms / 2 : 1;

	sa.sa_handler = on_follow_signal; /* no SA_RESTART: a blocked read returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	snprintf(last, sizeof(last), "%s", id);
	while (!follow_stop) {
		redisReply *r = redisCommand(x->conn.c, "XREAD COUNT 1000 BLOCK %d STREAMS %s %s", block, key, last);
		if (follow_stop) {
			freeReplyObject(r);
			break;
		}
		if (!r || r->type == REDIS_REPLY_ERROR) {
			ctl_fail(&x->conn, "XREAD", r ? r->str : NULL);
			freeReplyObject(r);
			return ctl_redis_failed(x);
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2) {
			const redisReply *es = r->element[0]->element[1];
			for (size_t i = 0; i < es->elements; i++) {
				struct entry_view v;
				view_of(es->element[i], &v);
				if (matches(fl, &v))
					print_entry(&v, json);
				snprintf(last, sizeof(last), "%s", es->element[i]->element[0]->str);
			}
		}
		freeReplyObject(r);
		if (fflush(stdout) || ferror(stdout)) {
			warnx("standard output: %s", strerror(errno));
			return CTL_EXIT_ERROR;
		}
	}
	return 0;
}

int cmd_log(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "order", required_argument, NULL, O_ORDER },
		{ "domain", required_argument, NULL, O_DOMAIN },
		{ "author", required_argument, NULL, O_BY_FILTER },
		{ "op", required_argument, NULL, O_OP },
		{ "since", required_argument, NULL, O_SINCE },
		{ "until", required_argument, NULL, O_UNTIL },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "json", no_argument, NULL, O_JSON },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_filter fl = { 0 };
	bool json = false, by_filter = false, follow_on = false;
	char tail[64] = "0-0";
	long limit = 0;
	int64_t now = (int64_t)time(NULL), since = 0, until = 0;
	char k[CTL_KEY_MAX], start[64] = "-", end[64] = "+", dom[RS_NAME_MAX + 1];
	int c, ex = 0;
	const char *by_before = x->by;

	x->usage = log_usage;
	while ((c = ctl_getopt(x, argc, argv, "f", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ex;
		case 'f':
			follow_on = true;
			break;
		case O_ORDER:
			fl.order = optarg;
			break;
		case O_DOMAIN: {
			if (ctl_name_arg(optarg, dom) < 0)
				return ctl_usage_error(x, "--domain: '%s' is not a domain name", optarg);
			fl.domain = dom;
			break;
		}
		case O_BY_FILTER:
			fl.by = optarg;
			break;
		case O_OP: {
			size_t i;
			for (i = 0; ctl_stream_ops[i] && strcmp(optarg, ctl_stream_ops[i]) != 0; i++)
				;
			if (!ctl_stream_ops[i]) {
				char shown[200];
				return ctl_usage_error(x, "--op: '%s' is not an op (order, revoke, add, del, protect, "
						       "unprotect, dataset)", ctl_show(optarg, strlen(optarg), 40, shown, sizeof(shown)));
			}
			fl.op = optarg;
			break;
		}
		case O_SINCE:
			if (ctl_parse_when(optarg, now, &since))
				return ctl_usage_error(x, "--since: '%s' is not a time", optarg);
			snprintf(start, sizeof(start), "%lld", (long long)since * 1000);
			break;
		case O_UNTIL:
			if (ctl_parse_when(optarg, now, &until))
				return ctl_usage_error(x, "--until: '%s' is not a time", optarg);
			snprintf(end, sizeof(end), "%lld", (long long)until * 1000 - 1);
			break;
		case O_LIMIT: {
			char *e;
			limit = strtol(optarg, &e, 10);
			if (*e || limit < 1)
				return ctl_usage_error(x, "--limit: '%s' is not a positive number", optarg);
			break;
		}
		case O_JSON:
			json = true;
			break;
		}
	}
	/* `log --by WHO` filters by author: the common --by set x->by */
	if (x->by != by_before) {
		fl.by = x->by;
		by_filter = true;
	}
	(void)by_filter;
	if (optind < argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	if (since && until && until <= since)
		return ctl_usage_error(x, "--until is not after --since");
	if (follow_on && until)
		return ctl_usage_error(x, "--follow and --until exclude each other");
	if ((ex = ctl_open(x)))
		return ex;
	ctl_key(x, k, "changes");
	if (follow_on) {
		/* the history up to the newest entry now, then what comes after it */
		redisReply *r = ctl_cmd(&x->conn, "XREVRANGE", "XREVRANGE %s + - COUNT 1", k);
		if (!r)
			return ctl_redis_failed(x);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
			snprintf(tail, sizeof(tail), "%s", r->element[0]->element[0]->str);
		freeReplyObject(r);
		snprintf(end, sizeof(end), "%s", tail);
	}
	if (follow_on && strcmp(tail, "0-0") == 0) {
		/* an empty stream: nothing before */
	} else if (limit) {
		/* newest first, keep the limit, print oldest first */
		redisReply **keep = calloc((size_t)limit, sizeof(*keep));
		struct entry_view *views = calloc((size_t)limit, sizeof(*views));
		redisReply **pages = NULL;
		size_t npages = 0, nkeep = 0;
		char hi[64];
		snprintf(hi, sizeof(hi), "%s", end);
		if (!keep || !views)
			errx(CTL_EXIT_ERROR, "out of memory");
		while (nkeep < (size_t)limit) {
			redisReply *r = ctl_cmd(&x->conn, "XREVRANGE", "XREVRANGE %s %s %s COUNT 10000", k, hi, start);
			size_t m;
			if (!r) {
				ex = ctl_redis_failed(x);
				break;
			}
			m = r->elements;
			redisReply **np = realloc(pages, (npages + 1) * sizeof(*np));
			if (!np)
				errx(CTL_EXIT_ERROR, "out of memory");
			pages = np;
			pages[npages++] = r;
			for (size_t i = 0; i < m && nkeep < (size_t)limit; i++) {
				view_of(r->element[i], &views[nkeep]);
				if (matches(&fl, &views[nkeep]))
					nkeep++;
			}
			if (m < 10000)
				break;
			snprintf(hi, sizeof(hi), "(%s", r->element[m - 1]->element[0]->str);
		}
		for (size_t i = nkeep; i > 0; i--)
			print_entry(&views[i - 1], json);
		for (size_t i = 0; i < npages; i++)
			freeReplyObject(pages[i]);
		free(pages);
		free(keep);
		free(views);
		if (ex)
			return ex;
	} else {
	for (;;) {
		redisReply *r = ctl_cmd(&x->conn, "XRANGE", "XRANGE %s %s %s COUNT 10000", k, start, end);
		size_t m;
		if (!r)
			return ctl_redis_failed(x);
		m = r->elements;
		for (size_t i = 0; i < m; i++) {
			struct entry_view v;
			view_of(r->element[i], &v);
			if (matches(&fl, &v))
				print_entry(&v, json);
		}
		if (m > 0)
			snprintf(start, sizeof(start), "(%s", r->element[m - 1]->element[0]->str);
		freeReplyObject(r);
		if (m < 10000)
			break;
	}
	}
	if (fflush(stdout) || ferror(stdout)) {
		warnx("standard output: %s", strerror(errno));
		return CTL_EXIT_ERROR;
	}
	return follow_on ? follow(x, k, tail, &fl, json) : 0;
}
