/*
 * ctl_fleet.c — reading the resolvers' heartbeats (ctl_fleet.h).
 */
#include <ctype.h>
#include <err.h>
#include <stdbool.h>
#include <stdio.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_name.h"

const char *const ctl_hb_fields[HB_NFIELDS] = { "last_id", "last_applied_at", "seen_at", "entries", "orders",
						"link", "version", "jurisdiction", "applied", "malformed_skipped",
						"resyncs", "dataset", "dataset_alarm", "read", "read_role",
						"read_link", "read_io_age_s", "read_newest", "lag_ms", "collateral",
						"collateral_suspended", "signature_alarm", "signature_failures" };

size_t ctl_print_signature_alarms(const struct ctl_hb *hbs, size_t n)
{
	size_t shown = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ctl_hb *h = &hbs[i];
		char name[200];
		char *end;
		unsigned long long a = strtoull(h->f[HB_SIG_ALARM], &end, 10), f;
		if (!h->f[HB_SIG_ALARM][0] || *end || a == 0)
			continue;
		f = strtoull(h->f[HB_SIG_FAILURES], &end, 10);
		ctl_show(h->name, strlen(h->name), 60, name, sizeof(name));
		printf("SIGNATURE ALARM: resolver %s: %llu order%s held at an older verified version or not enforced "
		       "(%llu verification failures since start; its log says which and why, doc/signing.md)\n",
		       name, a, a == 1 ? "" : "s", *end ? 0ULL : f);
		shown++;
	}
	return shown;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	return d;
}

/* Append the heartbeat of resolver name (HGETALL reply h; NULL: none) to the array. */
static void add_heartbeat(struct ctl_hb **v, size_t *n, size_t *cap, const char *name, const redisReply *h)
{
	struct ctl_hb *hb;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		struct ctl_hb *nv = realloc(*v, *cap * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		*v = nv;
	}
	hb = &(*v)[(*n)++];
	memset(hb, 0, sizeof(*hb));
	hb->name = xstrdup(name);
	hb->beating = h != NULL;
	hb->roster_juris = xstrdup("");
	for (size_t j = 0; h && j + 1 < h->elements; j += 2) {
		if (h->element[j]->type != REDIS_REPLY_STRING || h->element[j + 1]->type != REDIS_REPLY_STRING)
			continue;
		for (int f = 0; f < HB_NFIELDS; f++)
			if (strcmp(h->element[j]->str, ctl_hb_fields[f]) == 0 && !hb->f[f])
				hb->f[f] = xstrdup(h->element[j + 1]->str);
	}
	for (int f = 0; f < HB_NFIELDS; f++)
		if (!hb->f[f])
			hb->f[f] = xstrdup("");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ctl_hb *)a)->name, ((const struct ctl_hb *)b)->name);
}

static bool known(const struct ctl_hb *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

int ctl_heartbeats(struct ctl *x, struct ctl_hb **out, size_t *np)
{
	char pat[CTL_KEY_MAX], cursor[32] = "0";
	size_t n = 0, cap = 0, plen = strlen(x->prefix) + strlen("resolver:");
	struct ctl_hb *v = NULL;
	int ex = 0;

	*out = NULL;
	*np = 0;
	ctl_key(x, pat, "resolver:*");
	do {
		redisReply *r = ctl_cmd(&x->conn, "SCAN", "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (!r) {
			ex = ctl_redis_failed(x);
			goto fail;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			warnx("Redis %s: SCAN %s: unexpected reply", x->conn.ep.addr, pat);
			ex = CTL_EXIT_ERROR;
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];
			redisReply *h;
			if (k->type != REDIS_REPLY_STRING || k->len <= plen || known(v, n, k->str + plen))
				continue; /* SCAN may return a key twice */
			h = redisCommand(x->conn.c, "HGETALL %s", k->str);
			if (!h) { /* the connection, not the key */
				freeReplyObject(r);
				ctl_fail(&x->conn, "HGETALL", NULL);
				ex = ctl_redis_failed(x);
				goto fail;
			}
			/* not a hash (WRONGTYPE), or gone meanwhile: not a heartbeat */
			if (h->type == REDIS_REPLY_ARRAY && h->elements > 0)
				add_heartbeat(&v, &n, &cap, k->str + plen, h);
			freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	if (n > 1)
		qsort(v, n, sizeof(*v), by_name);
	*out = v;
	*np = n;
	return 0;
fail:
	ctl_heartbeats_free(v, n);
	return ex;
}

void ctl_heartbeats_free(struct ctl_hb *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].roster_juris);
		for (int j = 0; j < HB_NFIELDS; j++)
			free(h[i].f[j]);
	}
	free(h);
}

bool ctl_resolver_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int ctl_fleet(struct ctl *x, struct ctl_hb **out, size_t *np)
{
	char k[CTL_KEY_MAX];
	size_t cap;
	redisReply *r;
	int ex;

	if ((ex = ctl_heartbeats(x, out, np)))
		return ex;
	cap = *np;
	r = ctl_cmd(&x->conn, "HGETALL", "HGETALL %s", ctl_key(x, k, "roster"));
	if (!r) {
		ctl_heartbeats_free(*out, *np);
		*out = NULL;
		*np = 0;
		return ctl_redis_failed(x);
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const redisReply *name = r->element[i], *j = r->element[i + 1];
		struct ctl_hb *hb = NULL;
		if (name->type != REDIS_REPLY_STRING || j->type != REDIS_REPLY_STRING ||
		    !ctl_resolver_name_ok(name->str)) {
			warnx("warning: %s: field '%.60s' is not a resolver name: ignored", k, name->str ? name->str : "?");
			continue;
		}
		for (size_t h = 0; h < *np && !hb; h++)
			if (strcmp((*out)[h].name, name->str) == 0)
				hb = &(*out)[h];
		if (!hb) {
			add_heartbeat(out, np, &cap, name->str, NULL);
			hb = &(*out)[*np - 1];
		}
		hb->rostered = true;
		free(hb->roster_juris);
		hb->roster_juris = xstrdup(j->str);
	}
	freeReplyObject(r);
	if (*np > 1)
		qsort(*out, *np, sizeof(**out), by_name);
	return 0;
}

/* ---- fleet add | remove | list ---- */

static const char fleet_usage[] =
	"Usage: redsink-ctl fleet add NAME [--jurisdiction CC] [--json]\n"
	"       redsink-ctl fleet remove NAME [--json]\n"
	"       redsink-ctl fleet list [--json]\n"
	"\n"
	"The roster: the resolvers that must enforce. A resolver on the roster with\n"
	"no heartbeat is reported as down by 'status' (and 'status --check' fails),\n"
	"instead of vanishing when its heartbeat expires. NAME is the resolver's\n"
	"resolver-name (1-64 letters, digits, '.', '_' or '-').\n"
	"\n"
	"  add              put NAME on the roster (again: update its jurisdiction)\n"
	"  remove           take NAME off the roster (a decommissioned resolver)\n"
	"  list             the roster and every resolver with a heartbeat: state\n"
	"                   (up, stale, down: rostered without a heartbeat, or\n"
	"                   unlisted: a heartbeat but not on the roster)\n"
	"  --jurisdiction CC  the ISO 3166-1 code the resolver enforces (its\n"
	"                   jurisdiction setting); 'status' flags a heartbeat that\n"
	"                   reports another one\n"
	"  --stale SECONDS  list: no heartbeat for this long is stale (default 12)\n"
	"  --json           JSON (typed values)\n";

enum { O_FL_JSON = 800, O_FL_JURIS, O_FL_STALE };

/* The state list and status show for a resolver. */
const char *ctl_fleet_state(const struct ctl_hb *h, int64_t now, long stale)
{
	if (!h->beating)
		return "down";
	if (now - atoll(h->f[HB_SEEN]) > stale)
		return "stale";
	return h->rostered ? "up" : "unlisted";
}

static int fleet_edit(struct ctl *x, bool add, const char *name, const char *cc, bool json)
{
	char k[CTL_KEY_MAX];
	redisReply *r;
	long long n;
	int ex;

	if ((ex = ctl_open(x)))
		return ex;
	ctl_key(x, k, "roster");
	r = add ? ctl_cmd(&x->conn, "HSET", "HSET %s %s %s", k, name, cc)
		: ctl_cmd(&x->conn, "HDEL", "HDEL %s %s", k, name);
	if (!r)
		return ctl_redis_failed(x);
	n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (!add && n == 0) {
		warnx("fleet remove: '%s' is not on the roster", name);
		return CTL_EXIT_ERROR;
	}
	if (json) {
		printf("{\"resolver\":");
		ctl_json_str(stdout, name);
		printf(",\"rostered\":%s,\"jurisdiction\":", add ? "true" : "false");
		ctl_json_str(stdout, add ? cc : "");
		printf(",\"changed\":%s}\n", add && n == 0 ? "false" : "true");
	} else if (!x->quiet) {
		printf(add ? (n ? "%s is on the roster%s%s\n" : "%s was on the roster: jurisdiction now %s%s\n")
			   : "%s is off the roster\n",
		       name, add && n ? (*cc ? ", jurisdiction " : "") : "", add ? (*cc ? cc : (n ? "" : "none")) : "");
	}
	return 0;
}

static int fleet_list(struct ctl *x, bool json, long stale)
{
	struct ctl_table t = { 0 };
	struct ctl_hb *v;
	size_t n;
	int64_t now = (int64_t)time(NULL);
	char seen[48];
	int ex;

	if ((ex = ctl_open(x)) || (ex = ctl_fleet(x, &v, &n)))
		return ex;
	if (json)
		printf("{\"resolvers\":[");
	else
		ctl_table_row(&t, 5, "RESOLVER", "ROSTER", "JURISDICTION", "STATE", "SEEN");
	for (size_t i = 0; i < n; i++) {
		const struct ctl_hb *h = &v[i];
		const char *state = ctl_fleet_state(h, now, stale);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			ctl_json_str(stdout, h->name);
			printf(",\"rostered\":%s,\"roster_jurisdiction\":", h->rostered ? "true" : "false");
			ctl_json_str(stdout, h->roster_juris);
			printf(",\"reported_jurisdiction\":");
			ctl_json_str(stdout, h->f[HB_JURIS]);
			printf(",\"state\":\"%s\",\"seen_at\":", state);
			if (h->beating)
				printf("%lld}", (long long)atoll(h->f[HB_SEEN]));
			else
				printf("null}");
		} else {
			ctl_table_row(&t, 5, h->name, h->rostered ? "yes" : "no",
				      h->rostered ? (*h->roster_juris ? h->roster_juris : "-")
						  : (*h->f[HB_JURIS] ? h->f[HB_JURIS] : "-"),
				      state, h->beating ? ctl_fmt_age(atoll(h->f[HB_SEEN]), now, seen) : "never / expired");
		}
	}
	if (json) {
		printf("]}\n");
	} else if (n == 0) {
		printf("no resolver on the roster and none has sent a heartbeat in the last 30 s\n");
	} else {
		ctl_table_print(&t, stdout);
	}
	ctl_table_free(&t);
	ctl_heartbeats_free(v, n);
	return 0;
}

int cmd_fleet(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_FL_JSON },
		{ "jurisdiction", required_argument, NULL, O_FL_JURIS },
		{ "stale", required_argument, NULL, O_FL_STALE },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc > 1 ? argv[1] : NULL;
	char cc[3] = "";
	bool json = false, add, list;
	long stale = 12;
	int ch, ex;
	char *end;

	x->usage = fleet_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(fleet_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	add = strcmp(sub, "add") == 0;
	list = strcmp(sub, "list") == 0;
	if (!add && !list && strcmp(sub, "remove") != 0) {
		x->cmd = "fleet";
		return ctl_usage_error(x, "unknown subcommand 'fleet %.40s'", sub);
	}
	x->cmd = add ? "fleet add" : list ? "fleet list" : "fleet remove";
	argc--;
	argv++;
	while ((ch = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (ch == CTL_OPT_EXIT)
			return ex;
		if (ch == O_FL_JSON) {
			json = true;
		} else if (ch == O_FL_JURIS) {
			if (!add)
				return ctl_usage_error(x, "--jurisdiction goes with 'fleet add'");
			if (strlen(optarg) != 2 || !isalpha((unsigned char)optarg[0]) ||
			    !isalpha((unsigned char)optarg[1]))
				return ctl_usage_error(x, "--jurisdiction '%.20s' is not an ISO 3166-1 alpha-2 code", optarg);
			cc[0] = (char)toupper((unsigned char)optarg[0]);
			cc[1] = (char)toupper((unsigned char)optarg[1]);
			cc[2] = '\0';
		} else if (ch == O_FL_STALE) {
			stale = strtol(optarg, &end, 10);
			if (!*optarg || *end || stale < 1 || stale > 86400)
				return ctl_usage_error(x, "--stale '%.20s': seconds, 1 to 86400", optarg);
		}
	}
	if (list) {
		if (optind < argc)
			return ctl_usage_error(x, "unexpected argument '%.60s'", argv[optind]);
		return fleet_list(x, json, stale);
	}
	if (optind + 1 != argc)
		return ctl_usage_error(x, "expected one resolver name");
	if (!ctl_resolver_name_ok(argv[optind]))
		return ctl_usage_error(x, "resolver name '%.60s': 1-64 letters, digits, '.', '_' or '-'", argv[optind]);
	return fleet_edit(x, add, argv[optind], cc, json);
}
