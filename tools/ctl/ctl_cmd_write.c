/*
 * ctl_cmd_write.c — the commands that change the list: order add/update/
 * revoke, push, withdraw, protect add/remove, expire.
 *
 * Every change follows one pattern: WATCH the keys it reads (the order, the
 * orders in force, the protected set, the order's domains), read and check
 * everything, then one MULTI/EXEC with the data changes and their `changes`
 * stream entries (doc/redis-schema.md). Nothing is written when a check
 * fails; a concurrent change aborts the transaction (EXEC returns nil) and is
 * reported. Entries carry `by` (--by or $USER) and `why` (--why / --reason).
 * With --sign-key, every change of an order is also signed, in the same
 * transaction, by hooks in ctl_order_load, ctl_queue_change* and
 * ctl_tx_exec (ctl_sign.h): no command here signs by itself.
 */
#include <err.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_input.h"
#include "ctl_ip.h"
#include "ctl_name.h"
#include "ctl_safety.h"
#include "ctl_sign.h"
#include "order.h"
#include "rs_err.h"

/* ---- order add / update / revoke ---- */

static const char order_usage[] =
	"Usage: redsink-ctl order add|update|show|list|revoke ...\n"
	"\n"
	"  order add ID --authority TEXT --reference TEXT --scope SCOPE [FIELDS]\n"
	"  order update ID [FIELDS]\n"
	"  order show ID [--domains] [--json]\n"
	"  order list [--all] [--json]\n"
	"  order revoke ID [--why TEXT] [--dry-run] [--json]\n"
	"\n"
	"redsink-ctl order SUBCOMMAND --help describes each.\n";

static const char order_add_usage[] =
	"Usage: redsink-ctl order add ID --authority TEXT --reference TEXT --scope SCOPE [OPTIONS]\n"
	"       redsink-ctl order update ID [OPTIONS]\n"
	"\n"
	"add creates an order: its hash, its place among the orders in force and an\n"
	"`order` change, in one transaction. update changes the fields given (an\n"
	"empty value clears an optional field); resolvers reload the order at once.\n"
	"Then push its domains: redsink-ctl push ID FILE...\n"
	"\n"
	"  --authority TEXT  the court or regulator (required)\n"
	"  --reference TEXT  case or decision number (required)\n"
	"  --scope SCOPE     '*' (every jurisdiction) or ISO 3166-1 codes: IT, \"IT SM VA\" (required)\n"
	"  --action ACTION   sinkhole (default), nxdomain, nodata or refused\n"
	"  --issued DATE     RFC 3339 date-time or YYYY-MM-DD (default for add: now);\n"
	"                    dates are stored in UTC (2026-05-01T10:00:00Z)\n"
	"  --expires DATE    when the order stops applying (default: never)\n"
	"  --reason TEXT     the reason shown to users (EDE, warning page)\n"
	"  --url URL         more information (http:// or https://)\n"
	"  --lang TAG        language of the texts (BCP 47: it, en, pt-BR)\n"
	"  --why TEXT        recorded in the change stream with --by\n"
	"\n"
	"ID: 1-128 printable ASCII characters, no space and no ':'.\n";

static const char order_revoke_usage[] =
	"Usage: redsink-ctl order revoke ID [--why TEXT] [--dry-run] [--json]\n"
	"\n"
	"Withdraw an order and, with it, all its domains, in one atomic change: the id\n"
	"leaves the orders in force and one `revoke` entry tells every resolver to\n"
	"drop the order's domains. The order's hash and domain set are kept, for the\n"
	"record (order show ID still shows them); a revoked order cannot be changed\n"
	"or pushed to again: create a new one.\n"
	"\n"
	"  --why TEXT   recorded in the change stream with --by\n"
	"  -n, --dry-run  say what would be revoked, write nothing\n"
	"  --json         the receipt (or the dry run) as one JSON object (typed values)\n";

enum { O_FIELD = 300, O_WHY = O_FIELD + F_COUNT, O_DRY_RUN, O_DOMAINS, O_JSON };

static const struct option order_field_opts[] = {
	{ "authority", required_argument, NULL, O_FIELD + F_AUTHORITY },
	{ "reference", required_argument, NULL, O_FIELD + F_REFERENCE },
	{ "issued", required_argument, NULL, O_FIELD + F_ISSUED },
	{ "expires", required_argument, NULL, O_FIELD + F_EXPIRES },
	{ "scope", required_argument, NULL, O_FIELD + F_SCOPE },
	{ "action", required_argument, NULL, O_FIELD + F_ACTION },
	{ "reason", required_argument, NULL, O_FIELD + F_REASON },
	{ "url", required_argument, NULL, O_FIELD + F_URL },
	{ "lang", required_argument, NULL, O_FIELD + F_LANG },
	{ "why", required_argument, NULL, O_WHY },
	{ NULL, 0, NULL, 0 },
};

/* Normalise and check one field value into out (CTL_TEXT_MAX + 1). NULL or the complaint. */
static const char *check_field(int f, const char *v, char *out)
{
	const char *why;

	snprintf(out, CTL_TEXT_MAX + 1, "%s", v);
	if (!ctl_text_ok(v, CTL_TEXT_MAX, &why))
		return why;
	switch (f) {
	case F_AUTHORITY:
	case F_REFERENCE:
		return *v ? NULL : "must not be empty";
	case F_ACTION:
		for (int a = 0; a <= RS_ACT_REFUSED; a++)
			if (strcasecmp(v, rs_action_name(a)) == 0) {
				strcpy(out, rs_action_name(a));
				return NULL;
			}
		return "must be sinkhole, nxdomain, nodata or refused";
	case F_SCOPE: {
		size_t o = 0, ncodes = 0;
		bool star = false;
		const char *p = v;
		while (*p) {
			size_t n;
			while (*p == ' ' || *p == ',')
				p++;
			n = strcspn(p, " ,");
			if (n == 0)
				break;
			if (n == 1 && *p == '*') {
				star = true;
			} else if (n == 2 && ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') &&
				   ((p[1] | 0x20) >= 'a' && (p[1] | 0x20) <= 'z')) {
				if (o)
					out[o++] = ' ';
				out[o++] = (char)(p[0] & ~0x20);
				out[o++] = (char)(p[1] & ~0x20);
				ncodes++;
			} else {
				return "must be '*' or ISO 3166-1 alpha-2 country codes (\"IT\", \"IT SM VA\")";
			}
			p += n;
		}
		out[o] = '\0';
		if (star && ncodes)
			return "'*' already means every jurisdiction: do not add country codes";
		if (star)
			strcpy(out, "*");
		else if (!ncodes)
			return "must not be empty: '*' or country codes";
		return NULL;
	}
	case F_ISSUED:
	case F_EXPIRES: {
		/* stored normalised, UTC: 2026-05-01T12:00:00+02:00 -> 2026-05-01T10:00:00Z */
		int64_t t;
		char buf[32];
		if (*v && rs_rfc3339_parse(v, &t))
			return "is not an RFC 3339 date-time (2026-05-01T00:00:00Z) or a date (2026-05-01)";
		if (*v && t > 0)
			snprintf(out, CTL_TEXT_MAX + 1, "%s", ctl_fmt_time(t, buf));
		return NULL;
	}
	case F_URL:
		if (*v && strncasecmp(v, "https://", 8) != 0 && strncasecmp(v, "http://", 7) != 0)
			return "must start with https:// or http://";
		if (strchr(v, ' '))
			return "must not contain spaces";
		return NULL;
	case F_LANG: {
		const char *p = v;
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
		if (!*v)
			return NULL;
		if (n < 2 || n > 8)
			return "is not a language tag (it, en, pt-BR)";
		p += n;
		while (*p == '-') {
			n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
			if (n < 1 || n > 8)
				return "is not a language tag (it, en, pt-BR)";
			p += 1 + n;
		}
		return *p ? "is not a language tag (it, en, pt-BR)" : NULL;
	}
	}
	return NULL;
}

static int order_write(struct ctl *x, int argc, char **argv, bool add)
{
	char val[F_COUNT][CTL_TEXT_MAX + 1], k[CTL_KEY_MAX], k2[CTL_KEY_MAX];
	bool given[F_COUNT] = { false };
	const char *why = "", *id, *complaint, *argvv[2 + 2 * F_COUNT];
	size_t lens[2 + 2 * F_COUNT];
	struct ctl_order o;
	struct ctl_tx t;
	redisReply *r;
	int c, ex, argcc = 0, rc;
	int64_t issued = 0, expires = 0;
	char fields[F_COUNT * 12] = "", names[F_COUNT * 2][24], *oldv[F_COUNT] = { NULL };
	const char *extra[4 * F_COUNT];
	size_t nextra = 0, nnames = 0;
	bool issued_default = false; /* order add without --issued: now */

	x->usage = order_add_usage;
	while ((c = ctl_getopt(x, argc, argv, "", order_field_opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c >= O_FIELD && c < O_FIELD + F_COUNT) {
			int f = c - O_FIELD;
			complaint = check_field(f, optarg, val[f]);
			if (complaint) {
				char shown[600]; /* control characters escaped, never echoed raw */
				return ctl_usage_error(x, "--%s: '%s' %s", ctl_order_fields[f],
						       ctl_show(optarg, strlen(optarg), 60, shown, sizeof(shown)), complaint);
			}
			given[f] = true;
		} else if (c == O_WHY) {
			why = optarg;
		}
	}
	if (optind + 1 != argc)
		return ctl_usage_error(x, "expected one order ID");
	id = argv[optind];
	if (!rs_order_id_ok(id))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, id);
	if (!ctl_text_ok(why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why %s", complaint);
	if (add) {
		static const int required[] = { F_AUTHORITY, F_REFERENCE, F_SCOPE };
		for (size_t i = 0; i < 3; i++)
			if (!given[required[i]])
				return ctl_usage_error(x, "--%s is required", ctl_order_fields[required[i]]);
		if (!given[F_ACTION]) {
			strcpy(val[F_ACTION], "sinkhole");
			given[F_ACTION] = true;
		}
		if (!given[F_ISSUED] || !*val[F_ISSUED]) { /* the warning page shows a date: default to now */
			char tb[32];
			snprintf(val[F_ISSUED], sizeof(val[F_ISSUED]), "%s", ctl_fmt_time((int64_t)time(NULL), tb));
			given[F_ISSUED] = true;
			issued_default = true;
		}
		for (int f = 0; f < F_COUNT; f++)
			if (!given[f]) {
				val[f][0] = '\0';
				given[f] = true; /* every field is written, empty when unset */
			}
	} else {
		bool any = false;
		for (int f = 0; f < F_COUNT; f++)
			any |= given[f];
		if (!any)
			return ctl_usage_error(x, "nothing to update: give at least one field option");
	}
	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s", ctl_key(x, k, "order:%s", id), ctl_key(x, k2, "orders"));
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_order_load(x, id, false, &o)))
		return ex;
	if (add && o.exists) {
		if (o.in_force)
			warnx("order '%s' already exists: change it with 'redsink-ctl order update'", id);
		else
			warnx("order '%s' exists and was revoked: give the new order another ID", id);
		ctl_order_clear(&o);
		return CTL_EXIT_ERROR;
	}
	if (!add && !o.exists) {
		warnx("no order '%s': create it with 'redsink-ctl order add'", id);
		ctl_order_clear(&o);
		return CTL_EXIT_ERROR;
	}
	if (!add && !o.in_force) {
		warnx("order '%s' was revoked: a revoked order cannot be changed; create a new one", id);
		ctl_order_clear(&o);
		return CTL_EXIT_ERROR;
	}
	/* the order as it will be */
	for (int f = 0; f < F_COUNT; f++)
		if (!given[f])
			snprintf(val[f], sizeof(val[f]), "%s", o.f[f]);
	if (!add) {
		static const int required[] = { F_AUTHORITY, F_REFERENCE, F_SCOPE, F_ACTION };
		for (size_t i = 0; i < 4; i++)
			if (!*val[required[i]]) {
				ctl_order_clear(&o);
				return ctl_usage_error(x, "--%s cannot be cleared", ctl_order_fields[required[i]]);
			}
	}
	if (*val[F_ISSUED])
		rs_rfc3339_parse(val[F_ISSUED], &issued);
	if (*val[F_EXPIRES])
		rs_rfc3339_parse(val[F_EXPIRES], &expires);
	if (*val[F_ISSUED] && *val[F_EXPIRES] && expires <= issued && !issued_default) {
		ctl_order_clear(&o);
		return ctl_usage_error(x, "--expires %s is not after --issued %s", val[F_EXPIRES], val[F_ISSUED]);
	}
	if (*val[F_EXPIRES] && expires <= (int64_t)time(NULL)) {
		if (add) {
			ctl_order_clear(&o);
			warnx("--expires %s has already passed: the order would never apply", val[F_EXPIRES]);
			return CTL_EXIT_ERROR;
		}
		warnx("warning: --expires %s has passed: the order stops applying now (revoke it with 'redsink-ctl expire')",
		      val[F_EXPIRES]);
	}
	argvv[argcc++] = "HSET";
	argvv[argcc++] = ctl_key(x, k, "order:%s", id);
	/*
	 * The stream entry records what changed (doc/redis-schema.md): `fields`
	 * lists the fields set ("scope,action"), `new.FIELD` each new value and,
	 * for an update, `old.FIELD` the value it replaced; empty fields of a new
	 * order are not listed.
	 */
	for (int f = 0; f < F_COUNT; f++)
		if (given[f] && (add || strcmp(val[f], o.f[f]) != 0)) {
			argvv[argcc++] = ctl_order_fields[f];
			argvv[argcc++] = val[f];
			if (add && !*val[f])
				continue;
			if (fields[0])
				strcat(fields, ",");
			strcat(fields, ctl_order_fields[f]);
			snprintf(names[nnames], sizeof(names[nnames]), "new.%s", ctl_order_fields[f]);
			extra[nextra++] = names[nnames++];
			extra[nextra++] = val[f];
			if (!add) {
				snprintf(names[nnames], sizeof(names[nnames]), "old.%s", ctl_order_fields[f]);
				extra[nextra++] = names[nnames++];
				extra[nextra++] = oldv[f] = strdup(o.f[f]);
				if (!oldv[f])
					errx(CTL_EXIT_ERROR, "out of memory");
			}
		}
	ctl_order_clear(&o);
	if (argcc == 2) {
		r = ctl_cmd(&x->conn, "UNWATCH", "UNWATCH");
		freeReplyObject(r);
		if (!x->quiet)
			printf("order %s: nothing changed\n", id);
		return 0;
	}
	for (int i = 0; i < argcc; i++)
		lens[i] = strlen(argvv[i]);
	ctl_tx_begin(&t, &x->conn);
	ctl_tx_argv(&t, argcc, argvv, lens);
	if (add) {
		const char *sadd[3] = { "SADD", ctl_key(x, k2, "orders"), id };
		size_t sl[3] = { 4, strlen(sadd[1]), strlen(id) };
		ctl_tx_argv(&t, 3, sadd, sl);
	}
	{
		const char *fx[2 + 4 * F_COUNT] = { "fields", fields };
		for (size_t i = 0; i < nextra; i++)
			fx[2 + i] = extra[i];
		ctl_queue_change_extra(x, &t, "order", id, "", why, NULL, fx, 2 + nextra);
	}
	rc = ctl_tx_exec(&t, &r);
	for (int f = 0; f < F_COUNT; f++)
		free(oldv[f]);
	if (rc == CTL_TX_CONFLICT) {
		warnx("order '%s' was changed by someone else meanwhile: nothing written; run the command again", id);
		return CTL_EXIT_ERROR;
	}
	if (rc)
		return ctl_redis_failed(x);
	if (!x->quiet)
		printf("order %s %s (change %s)%s%s\n", id, add ? "created" : "updated",
		       r->element[r->elements - 1]->type == REDIS_REPLY_STRING ? r->element[r->elements - 1]->str : "?",
		       add ? "" : ": ", add ? "" : fields);
	freeReplyObject(r);
	return 0;
}

/* A string, or null when s is NULL or empty. */
static void json_str_or_null(const char *s)
{
	if (s && *s)
		ctl_json_str(stdout, s);
	else
		fputs("null", stdout);
}

/*
 * What order revoke did (or would do), for --json: the shape of the push and
 * withdraw receipts (order, op, dry_run, written, counts, change ids, exit).
 */
static void print_revoke_receipt(const struct ctl_order *o, bool dry, const char *why, const char *change)
{
	char tbuf[32];

	printf("{\"order\":");
	ctl_json_str(stdout, o->id);
	printf(",\"op\":\"revoke\",\"dry_run\":%s,\"written\":%s,\"authority\":", dry ? "true" : "false",
	       change ? "true" : "false");
	ctl_json_str(stdout, o->f[F_AUTHORITY]);
	printf(",\"reference\":");
	ctl_json_str(stdout, o->f[F_REFERENCE]);
	printf(",\"expires\":"); /* RFC 3339 UTC; as stored when it is not a date */
	json_str_or_null(o->expires ? ctl_fmt_time(o->expires, tbuf) : o->f[F_EXPIRES]);
	printf(",\"domains\":%lld,\"why\":", o->ndomains < 0 ? 0 : o->ndomains);
	ctl_json_str(stdout, why);
	printf(",\"change\":");
	json_str_or_null(change);
	printf(",\"exit\":0}\n");
}

static int order_revoke(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "why", required_argument, NULL, O_WHY },
		{ "reason", required_argument, NULL, O_WHY },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	char k[CTL_KEY_MAX], k2[CTL_KEY_MAX];
	const char *why = "", *id, *complaint;
	bool dry = false, json = false;
	struct ctl_order o;
	struct ctl_tx t;
	redisReply *r;
	int c, ex, rc;

	x->usage = order_revoke_usage;
	while ((c = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_WHY)
			why = optarg;
		else if (c == 'n')
			dry = true;
		else if (c == O_JSON)
			json = true;
	}
	if (optind + 1 != argc)
		return ctl_usage_error(x, "expected one order ID");
	id = argv[optind];
	if (!rs_order_id_ok(id))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, id);
	if (!ctl_text_ok(why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why %s", complaint);
	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s", ctl_key(x, k, "order:%s", id), ctl_key(x, k2, "orders"));
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_order_load(x, id, true, &o)))
		return ex;
	if (!o.in_force) {
		warnx(o.exists ? "order '%s' is not in force (already revoked)" : "no order '%s'", id);
		ctl_order_clear(&o);
		return CTL_EXIT_ERROR;
	}
	if (dry) {
		if (json)
			print_revoke_receipt(&o, true, why, NULL);
		else
			printf("would revoke order %s (%s, %s): %lld domains would no longer be blocked\n", id,
			       o.f[F_AUTHORITY], o.f[F_REFERENCE], o.ndomains);
		ctl_order_clear(&o);
		r = ctl_cmd(&x->conn, "UNWATCH", "UNWATCH");
		freeReplyObject(r);
		return 0;
	}
	ctl_tx_begin(&t, &x->conn);
	{
		const char *srem[3] = { "SREM", ctl_key(x, k2, "orders"), id };
		size_t sl[3] = { 4, strlen(srem[1]), strlen(id) };
		ctl_tx_argv(&t, 3, srem, sl);
	}
	ctl_queue_change(x, &t, "revoke", id, "", why, NULL);
	rc = ctl_tx_exec(&t, &r);
	if (rc == CTL_TX_CONFLICT) {
		warnx("order '%s' was changed by someone else meanwhile: nothing written; run the command again", id);
		ctl_order_clear(&o);
		return CTL_EXIT_ERROR;
	}
	if (rc) {
		ctl_order_clear(&o);
		return ctl_redis_failed(x);
	}
	if (json)
		print_revoke_receipt(&o, false, why,
				     r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : NULL);
	else if (!x->quiet)
		printf("order %s revoked (change %s): its %lld domains are no longer blocked by it\n", id,
		       r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?", o.ndomains);
	freeReplyObject(r);
	ctl_order_clear(&o);
	return 0;
}

int cmd_order(struct ctl *x, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	x->usage = order_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(order_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "add") == 0) {
		x->cmd = "order add";
		return order_write(x, argc - 1, argv + 1, true);
	}
	if (strcmp(sub, "update") == 0) {
		x->cmd = "order update";
		return order_write(x, argc - 1, argv + 1, false);
	}
	if (strcmp(sub, "revoke") == 0) {
		x->cmd = "order revoke";
		return order_revoke(x, argc - 1, argv + 1);
	}
	if (strcmp(sub, "show") == 0) {
		x->cmd = "order show";
		return cmd_order_show(x, argc - 1, argv + 1);
	}
	if (strcmp(sub, "list") == 0) {
		x->cmd = "order list";
		return cmd_order_list(x, argc - 1, argv + 1);
	}
	x->cmd = "order";
	return ctl_usage_error(x, "unknown subcommand 'order %.40s'", sub);
}

/* ---- reading the input of push / withdraw / protect ---- */

struct input_opts {
	enum ctl_format fmt;
	const char *column, *origin;
	unsigned name_flags;
};

static void parse_progress(void *arg, size_t done, size_t total)
{
	struct ctl_progress *p = arg;

	p->total = total;
	ctl_progress_set(p, done);
}

/* Read FILEs ("-" or none: stdin) into b. 0 or an exit code. */
static int read_inputs(struct ctl *x, struct ctl_batch *b, const struct input_opts *io, char **files, int nfiles)
{
	static char *dash[] = { (char *)"-" };
	struct ctl_progress p;

	b->name_flags = io->name_flags;
	b->column = io->column;
	b->origin = io->origin;
	if (nfiles == 0) {
		files = dash;
		nfiles = 1;
	}
	for (int i = 0; i < nfiles; i++)
		if (strcmp(files[i], "-") == 0 && isatty(STDIN_FILENO))
			fprintf(stderr, "redsink-ctl: reading names from the terminal; end with Ctrl-D\n");
	ctl_progress_start(x, &p, "reading", 0);
	b->progress = parse_progress;
	b->progress_arg = &p;
	for (int i = 0; i < nfiles; i++) {
		char *buf, err[600];
		size_t len;
		const char *name = strcmp(files[i], "-") == 0 ? "<stdin>" : files[i];
		int rc = ctl_read_file(files[i], &buf, &len, err, sizeof(err));
		if (rc) {
			ctl_progress_end(&p);
			warnx("%s", err);
			return CTL_EXIT_ERROR;
		}
		rc = ctl_parse(b, name, buf, len, io->fmt);
		free(buf);
		if (rc == RS_ENOMEM) {
			ctl_progress_end(&p);
			warnx("out of memory reading %s", name);
			return CTL_EXIT_ERROR;
		}
	}
	ctl_progress_end(&p);
	if (b->oom) {
		warnx("out of memory");
		return CTL_EXIT_ERROR;
	}
	return 0;
}

/* Print the batch's diagnostics to f: errors (with_errors) and warnings (with_warnings). */

/* ---- push / withdraw ---- */

static const char push_usage[] =
	"Usage: redsink-ctl push ORDER [OPTIONS] [FILE...]\n"
	"       redsink-ctl withdraw ORDER [OPTIONS] [FILE...]\n"
	"\n"
	"push blocks the domain names in FILEs (standard input when none or '-') under\n"
	"ORDER; withdraw unblocks them. Formats (detected, or --format): plain list (one\n"
	"name per line, '#' comments), CSV with a header, a Piracy-Shield-style JSON\n"
	"ticket (\"fqdn\" array), an RPZ zone file. --format piracy-shield imports a\n"
	"whole ticket: its \"ipv4\"/\"ipv6\" prefixes too, as addip adds them, in the same\n"
	"transaction (refused when they overlap a protected prefix or are shorter than\n"
	"/24 or /48, unless --override). Unicode names become A-labels\n"
	"(IDNA2008/UTS#46); URLs and '*.' prefixes are reduced to the domain (warning);\n"
	"IP addresses, invalid and confusable names are rejected with file and line.\n"
	"\n"
	"The whole batch is checked first and written in one transaction with its\n"
	"change-stream entries: all or nothing. A push is refused (exit 3) when a name\n"
	"is protected, below or above a protected name, a public suffix (com, co.uk),\n"
	"or when it would block more than --max-batch new names.\n"
	"\n"
	"  -n, --dry-run            print the diff (+ added, = already present,\n"
	"                           ! refused or rejected); write nothing\n"
	"  --format FMT             auto (default), plain, csv, json, rpz or piracy-shield\n"
	"  --override               piracy-shield: add refused prefixes anyway (needs\n"
	"                           --reason; recorded)\n"
	"  --column NAME            CSV column holding the names (default: detected)\n"
	"  --origin NAME            RPZ zone origin when the file has no $ORIGIN or SOA\n"
	"  --why TEXT, --reason TEXT  recorded in every change-stream entry\n"
	"  --override-protected     push protected names anyway (needs --reason; recorded)\n"
	"  --allow-public-suffix    push public suffixes anyway (needs --reason; recorded)\n"
	"  --allow-confusable       accept mixed-script / confusable labels (warning)\n"
	"  --max-batch N            most new names in one push (default $REDSINK_MAX_BATCH,\n"
	"                           else 10000; 0 = no limit)\n"
	"  --skip-invalid           write the valid names even if some lines are rejected\n"
	"  --psl-file FILE          public suffix list to use (default: libpsl's newest)\n"
	"  --offline                with --dry-run: check the files without Redis (as\n"
	"                           'redsink-ctl validate'); never connects\n"
	"  --json                   the receipt (or the dry run, or the offline report)\n"
	"                           as one JSON object, typed values\n";

static const char validate_usage[] =
	"Usage: redsink-ctl validate [OPTIONS] [FILE...]\n"
	"\n"
	"Check a ticket or list file with no Redis at all (never connects): the checks\n"
	"of 'push --dry-run' that need no Redis. Parsing (format detection, file:line\n"
	"diagnostics), canonicalisation (Unicode to A-labels, URLs and '*.' reduced),\n"
	"confusable and mixed-script labels, IP addresses, public suffixes and the\n"
	"batch size (counting every name as new). Not checked, because they need\n"
	"Redis, and said so in the report: the protected list, the names already\n"
	"listed, and whether the order exists, is in force and has not expired.\n"
	"Same as 'push ORDER --dry-run --offline FILE...'.\n"
	"\n"
	"  --format, --column, --origin, --allow-confusable, --allow-public-suffix,\n"
	"  --max-batch, --skip-invalid, --psl-file   as for push\n"
	"  --json                   the report as one JSON object (typed values)\n"
	"\n"
	"Exit status: 0 the file would pass these checks, 1 lines rejected (unless\n"
	"--skip-invalid) or the file is unreadable, 2 usage, 3 refused by a safety\n"
	"check (public suffix, batch size).\n";

enum {
	O_FORMAT = 400, O_COLUMN, O_ORIGIN, O_OVERRIDE_PROT, O_ALLOW_PSL, O_ALLOW_CONF, O_MAX_BATCH, O_SKIP_INVALID,
	O_PSL_FILE, O_FILE, O_NOW, O_OFFLINE, O_PJSON, O_OVERRIDE_IP
};

enum item_state {
	ST_NEW = 0,   /* to add / to remove */
	ST_PRESENT,   /* push: already listed; withdraw: not listed */
	ST_PROTECTED, /* refused */
	ST_PSL,       /* refused */
};

/* Membership of every name of b in set key (SMISMEMBER, pipelined). in[i] = 1 when a member. */
/* Queue `cmd key name...` (SADD / SREM) on t, CTL_CHUNK names per command. */
static void queue_members(struct ctl_tx *t, const char *cmd, const char *key, const char *const *names, size_t nn)
{
	const char **argv = malloc((CTL_CHUNK + 2) * sizeof(*argv));
	size_t *lens = malloc((CTL_CHUNK + 2) * sizeof(*lens));

	if (!argv || !lens)
		errx(CTL_EXIT_ERROR, "out of memory");
	argv[0] = cmd;
	argv[1] = key;
	lens[0] = strlen(cmd);
	lens[1] = strlen(key);
	for (size_t i = 0; i < nn; i += CTL_CHUNK) {
		size_t m = nn - i < CTL_CHUNK ? nn - i : CTL_CHUNK;
		for (size_t j = 0; j < m; j++) {
			argv[2 + j] = names[i + j];
			lens[2 + j] = strlen(names[i + j]);
		}
		ctl_tx_argv(t, (int)m + 2, argv, lens);
	}
	free(argv);
	free(lens);
}

static int members(struct ctl *x, const char *key, const struct ctl_batch *b, uint8_t *in, const char *label)
{
	const char **argv = malloc((CTL_CHUNK + 2) * sizeof(*argv));
	size_t *lens = malloc((CTL_CHUNK + 2) * sizeof(*lens));
	size_t sent = 0, got = 0, inflight = 0;
	struct ctl_progress p;
	int ex = 0;

	if (!argv || !lens)
		errx(CTL_EXIT_ERROR, "out of memory");
	ctl_progress_start(x, &p, label, b->n);
	while (got < b->n) {
		while (sent < b->n && inflight < 32) {
			size_t m = b->n - sent < CTL_CHUNK ? b->n - sent : CTL_CHUNK;
			argv[0] = "SMISMEMBER";
			argv[1] = key;
			lens[0] = 10;
			lens[1] = strlen(key);
			for (size_t j = 0; j < m; j++) {
				argv[2 + j] = b->items[sent + j].name;
				lens[2 + j] = strlen(argv[2 + j]);
			}
			redisAppendCommandArgv(x->conn.c, (int)m + 2, argv, lens);
			sent += m;
			inflight++;
		}
		redisReply *r = NULL;
		if (redisGetReply(x->conn.c, (void **)&r) != REDIS_OK || !r) {
			ctl_fail(&x->conn, "SMISMEMBER", NULL);
			ex = ctl_redis_failed(x);
			break;
		}
		inflight--;
		if (r->type == REDIS_REPLY_ERROR) {
			ctl_fail(&x->conn, "SMISMEMBER", r->str);
			freeReplyObject(r);
			ex = ctl_redis_failed(x);
			break;
		}
		for (size_t j = 0; r->type == REDIS_REPLY_ARRAY && j < r->elements && got + j < b->n; j++)
			in[got + j] = r->element[j]->type == REDIS_REPLY_INTEGER && r->element[j]->integer == 1;
		got += r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		freeReplyObject(r);
		ctl_progress_set(&p, got);
	}
	ctl_progress_end(&p);
	free(argv);
	free(lens);
	if (ex) { /* the pipeline is out of step: drop the connection */
		ctl_disconnect(&x->conn);
		x->connected = false;
	}
	return ex;
}

static const char *prot_text(int hit)
{
	switch (hit) {
	case CTL_PROT_SAME: return "is protected";
	case CTL_PROT_BELOW: return "is below the protected name";
	case CTL_PROT_PARENT: return "is a parent of the protected name";
	}
	return "";
}

/* The checks that need Redis, which an offline check skips. */
static const char *const offline_skipped[] = { "order", "protected", "already-listed" };

/*
 * The offline check of a batch (validate, push --dry-run --offline): what
 * push --dry-run says without Redis. Nothing here connects. Returns the exit
 * code push --dry-run would give for these checks.
 */
static int offline_report(struct ctl *x, const struct ctl_batch *b, const struct psl_ctx_st *psl, const char *id,
			  bool withdraw, bool allow_psl, long max_batch, bool skip_invalid, bool json)
{
	size_t npsl = 0, novr = 0;
	bool over, invalid = b->nerrors > 0 && !skip_invalid;
	int ex;

	for (size_t i = 0; !withdraw && i < b->n; i++)
		if (ctl_is_public_suffix(psl, b->items[i].name))
			allow_psl ? novr++ : npsl++;
	over = !withdraw && max_batch > 0 && (long)(b->n - npsl) > max_batch;
	ex = npsl || over ? CTL_EXIT_REFUSED : invalid ? CTL_EXIT_ERROR : CTL_EXIT_OK;
	if (json) {
		char uni[CTL_UNAME_MAX];
		printf("{\"offline\":true,\"order\":");
		if (id)
			ctl_json_str(stdout, id);
		else
			fputs("null", stdout);
		printf(",\"names\":[");
		for (size_t i = 0; i < b->n; i++) {
			const struct ctl_item *it = &b->items[i];
			bool ps = !withdraw && ctl_is_public_suffix(psl, it->name);
			printf("%s{\"name\":", i ? "," : "");
			ctl_json_str(stdout, it->name);
			printf(",\"unicode\":");
			if (ctl_name_unicode(it->name, uni, sizeof(uni)))
				ctl_json_str(stdout, uni);
			else
				fputs("null", stdout);
			printf(",\"file\":");
			ctl_json_str(stdout, it->file);
			printf(",\"line\":%u,\"status\":\"%s\"}", it->line,
			       !ps ? "ok" : allow_psl ? "public suffix (allowed)" : "refused: public suffix");
		}
		printf("],\"diagnostics\":");
		ctl_batch_json_diags(b, stdout);
		printf(",\"accepted\":%zu,\"rejected\":%zu,\"warnings\":%zu,\"public_suffixes\":%zu,"
		       "\"over_max_batch\":%s,\"max_batch\":%ld,\"skipped_checks\":[",
		       b->n - npsl, b->nerrors, b->nwarnings, npsl, over ? "true" : "false", max_batch);
		for (size_t i = 0; i < sizeof(offline_skipped) / sizeof(offline_skipped[0]); i++)
			printf("%s\"%s\"", i ? "," : "", offline_skipped[i]);
		printf("],\"ok\":%s,\"exit\":%d}\n", ex == 0 ? "true" : "false", ex);
		return ex;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct ctl_item *it = &b->items[i];
		char disp[CTL_DNAME_MAX];
		const char *shown = ctl_name_display(it->name, disp, sizeof(disp));
		bool ps = !withdraw && ctl_is_public_suffix(psl, it->name);
		if (ps && !allow_psl)
			printf("! %s:%u: refused: '%s' is a public suffix: blocking it blocks every domain registered "
			       "under it\n", it->file, it->line, it->name);
		else
			printf("%c %s%s\n", withdraw ? '-' : '+', shown, ps ? "  (override: a public suffix)" : "");
	}
	ctl_batch_print_diags(b, stdout, true, true, "! ");
	if (over)
		printf("! the batch would block up to %zu new names at once, more than the limit of %ld "
		       "(--max-batch N or $REDSINK_MAX_BATCH to allow more)\n", b->n - npsl, max_batch);
	printf("offline check%s%s: %zu names accepted, %zu refused, %zu rejected lines, %zu warnings; "
	       "not checked (they need Redis): the order (exists, in force, not expired), protected names, "
	       "names already listed; nothing written\n",
	       id ? ", order " : "", id ? id : "", b->n - npsl, npsl + (over ? 1 : 0), b->nerrors, b->nwarnings);
	(void)x;
	return ex;
}

/* What a push or withdraw did (or would do), for --json. */
struct receipt {
	const char *id;
	bool withdraw, dry, written, over;
	size_t nnew, npresent, nprot, npsl, novr;
	const char *first_change, *last_change; /* NULL: none */
	const struct ctl_ipset *ip; /* the ticket's prefixes (push --format piracy-shield), or NULL */
};

/* The receipt of push / withdraw as one JSON object (typed values). */
static void print_receipt(const struct receipt *rc, const struct ctl_batch *b, const uint8_t *st, int ex)
{
	static const char *const state[] = { "new", "present", "refused: protected", "refused: public suffix" };
	char uni[CTL_UNAME_MAX];

	printf("{\"order\":");
	ctl_json_str(stdout, rc->id);
	printf(",\"op\":\"%s\",\"dry_run\":%s,\"written\":%s,\"%s\":%zu,\"%s\":%zu,\"protected\":%zu,"
	       "\"public_suffixes\":%zu,\"over_max_batch\":%s,\"overrides\":%zu,\"rejected\":%zu,\"warnings\":%zu,"
	       "\"first_change\":",
	       rc->withdraw ? "withdraw" : "push", rc->dry ? "true" : "false", rc->written ? "true" : "false",
	       rc->withdraw ? "withdrawn" : "added", rc->written || rc->dry ? rc->nnew : 0,
	       rc->withdraw ? "not_listed" : "already_present", rc->npresent, rc->nprot, rc->npsl,
	       rc->over ? "true" : "false", rc->novr, b->nerrors, b->nwarnings);
	if (rc->first_change)
		ctl_json_str(stdout, rc->first_change);
	else
		fputs("null", stdout);
	printf(",\"last_change\":");
	if (rc->last_change)
		ctl_json_str(stdout, rc->last_change);
	else
		fputs("null", stdout);
	printf(",\"names\":[");
	for (size_t i = 0; st && i < b->n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		ctl_json_str(stdout, b->items[i].name);
		printf(",\"unicode\":");
		if (ctl_name_unicode(b->items[i].name, uni, sizeof(uni)))
			ctl_json_str(stdout, uni);
		else
			fputs("null", stdout);
		printf(",\"file\":");
		ctl_json_str(stdout, b->items[i].file);
		printf(",\"line\":%u,\"status\":\"%s\"}", b->items[i].line,
		       st[i] == ST_PRESENT && rc->withdraw ? "not listed" : state[st[i]]);
	}
	printf("],\"diagnostics\":");
	ctl_batch_json_diags(b, stdout);
	if (rc->ip && rc->ip->b->np)
		ctl_ip_json(rc->ip, stdout);
	printf(",\"exit\":%d}\n", ex);
}

/* Everything one push / withdraw / validate run works with, shared by its steps. */
struct pw {
	struct ctl *x;
	bool withdraw, validate, offline, json, dry, override_prot, allow_psl, skip_invalid, first, override_ip;
	const char *why, *id, *psl_file;
	const struct psl_ctx_st *psl;
	long max_batch;
	struct input_opts io;
	char k[CTL_KEY_MAX], kd[CTL_KEY_MAX], ko[CTL_KEY_MAX], kp[CTL_KEY_MAX];
	struct ctl_batch b;
	struct ctl_prot prot;
	struct ctl_order o;
	uint8_t *st, *in, *ovr; /* per name: item_state, listed by the order, override bits (1 prot, 2 psl) */
	const char **names;
	size_t nnew, npresent, nprot, npsl, novr;
	struct ctl_ipset ip; /* the prefixes of a piracy-shield ticket (b.np of them) */
	char why_ticket[CTL_TEXT_MAX + 1];
};

/* Parse the options and the order ID; -1 to go on, or the exit code of the command. */
static int pw_options(struct pw *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "column", required_argument, NULL, O_COLUMN },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "why", required_argument, NULL, O_WHY },
		{ "reason", required_argument, NULL, O_WHY },
		{ "override-protected", no_argument, NULL, O_OVERRIDE_PROT },
		{ "allow-public-suffix", no_argument, NULL, O_ALLOW_PSL },
		{ "allow-confusable", no_argument, NULL, O_ALLOW_CONF },
		{ "max-batch", required_argument, NULL, O_MAX_BATCH },
		{ "skip-invalid", no_argument, NULL, O_SKIP_INVALID },
		{ "psl-file", required_argument, NULL, O_PSL_FILE },
		{ "offline", no_argument, NULL, O_OFFLINE },
		{ "json", no_argument, NULL, O_PJSON },
		{ "override", no_argument, NULL, O_OVERRIDE_IP },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = p->x;
	const char *complaint, *env;
	int c, rc, ex = 0;

	env = getenv("REDSINK_MAX_BATCH");
	if (env && *env) {
		char *end;
		p->max_batch = strtol(env, &end, 10);
		if (*end || p->max_batch < 0)
			return ctl_usage_error(x, "$REDSINK_MAX_BATCH: '%s' is not a number", env);
	}
	while ((c = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ex;
		case 'n':
			p->dry = true;
			break;
		case O_FORMAT:
			if ((rc = ctl_format_parse(optarg)) < 0)
				return ctl_usage_error(x, "--format: '%s' is not auto, plain, csv, json, rpz or piracy-shield",
						       optarg);
			p->io.fmt = (enum ctl_format)rc;
			break;
		case O_COLUMN:
			p->io.column = optarg;
			break;
		case O_ORIGIN:
			p->io.origin = optarg;
			break;
		case O_OVERRIDE_IP:
			p->override_ip = true;
			break;
		case O_WHY:
			p->why = optarg;
			break;
		case O_OVERRIDE_PROT:
			p->override_prot = true;
			break;
		case O_ALLOW_PSL:
			p->allow_psl = true;
			break;
		case O_ALLOW_CONF:
			p->io.name_flags |= CTL_ALLOW_CONFUSABLE;
			break;
		case O_MAX_BATCH: {
			char *end;
			p->max_batch = strtol(optarg, &end, 10);
			if (*end || p->max_batch < 0)
				return ctl_usage_error(x, "--max-batch: '%s' is not a number", optarg);
			break;
		}
		case O_SKIP_INVALID:
			p->skip_invalid = true;
			break;
		case O_PSL_FILE:
			p->psl_file = optarg;
			break;
		case O_OFFLINE:
			p->offline = true;
			break;
		case O_PJSON:
			p->json = true;
			break;
		}
	}
	if (p->offline && !p->dry)
		return ctl_usage_error(x, "--offline checks without writing: it needs --dry-run (or use 'validate')");
	if (!p->validate) {
		if (optind >= argc)
			return ctl_usage_error(x, "expected an order ID, then files");
		p->id = argv[optind++];
		if (!rs_order_id_ok(p->id))
			return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, p->id);
	}
	if (!ctl_text_ok(p->why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why/--reason %s", complaint);
	if ((p->override_prot || p->allow_psl) && !*p->why)
		return ctl_usage_error(x, "--%s needs --reason TEXT: the reason is recorded with the change",
				       p->override_prot ? "override-protected" : "allow-public-suffix");
	if (p->withdraw && (p->override_prot || p->allow_psl || p->override_ip))
		return ctl_usage_error(x, "--override-protected, --allow-public-suffix and --override are for push");
	if (p->override_ip && !*p->why)
		return ctl_usage_error(x, "--override needs --reason TEXT: the reason is recorded with the change");
	return -1;
}

/* Read the input files, refuse an empty batch, and open the public suffix list when needed. */
static int pw_read(struct pw *p, char **files, int nfiles)
{
	char err[300];
	int ex;

	if (p->io.fmt == CTL_FMT_PSHIELD) /* a whole ticket: names and address prefixes */
		p->b.want = CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	if ((ex = read_inputs(p->x, &p->b, &p->io, files, nfiles)))
		return ex;
	if (!*p->why && p->b.ntickets) { /* the ticket is the reason, unless one is given */
		size_t o = (size_t)snprintf(p->why_ticket, sizeof(p->why_ticket), "piracy-shield ticket%s",
					    p->b.ntickets > 1 ? "s" : "");
		for (size_t i = 0; i < p->b.ntickets && o < sizeof(p->why_ticket); i++)
			o += (size_t)snprintf(p->why_ticket + o, sizeof(p->why_ticket) - o, "%s%s", i ? ", " : " ",
					      p->b.tickets[i]);
		p->why = p->why_ticket;
	}
	if (p->b.n == 0 && p->b.np == 0 && !p->offline) {
		ctl_batch_print_diags(&p->b, stderr, true, true, "redsink-ctl: ");
		warnx("no domain names in the input: nothing to %s", p->withdraw ? "withdraw" : "push");
		return CTL_EXIT_ERROR;
	}
	if (!p->withdraw || p->offline) {
		p->psl = ctl_psl_open(p->psl_file, err, sizeof(err));
		if (!p->psl) {
			warnx("%s", err);
			return CTL_EXIT_ERROR;
		}
	}
	return 0;
}

/* No Redis at all: what can be checked without it, and what was not. */
static int pw_offline(struct pw *p)
{
	int ex = offline_report(p->x, &p->b, p->psl, p->id, p->withdraw, p->allow_psl, p->max_batch, p->skip_invalid,
				p->json);

	if (p->b.np) { /* a ticket's prefixes: the checks that need no Redis (not the protected prefixes) */
		size_t nshort = ctl_ip_offline(&p->ip, p->withdraw || p->override_ip, p->json);
		if (nshort && ex == 0)
			ex = CTL_EXIT_REFUSED;
		if (ex == 0 && p->b.n == 0)
			return 0;
	}
	if (p->b.n == 0 && ex == 0) {
		warnx("no domain names in the input");
		ex = CTL_EXIT_ERROR;
	}
	return ex;
}

/* Connect, WATCH the order, its set and the protected list, and check the order takes changes. */
static int pw_watch_order(struct pw *p)
{
	struct ctl *x = p->x;
	redisReply *r;
	int ex;

	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	ctl_key(x, p->kd, "order:%s:domains", p->id);
	ctl_key(x, p->ko, "order:%s", p->id);
	ctl_key(x, p->k, "orders");
	ctl_key(x, p->kp, "protected");
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s %s %s", p->k, p->ko, p->kd, p->kp);
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_order_load(x, p->id, false, &p->o)))
		return ex;
	if (!p->o.exists || !p->o.in_force) {
		warnx(p->o.exists ? "order '%s' was revoked: nothing %s"
				  : "no order '%s': create it first with 'redsink-ctl order add' (nothing %s)",
		      p->id, p->withdraw ? "withdrawn" : "pushed");
		return CTL_EXIT_ERROR;
	}
	if (!p->withdraw && p->o.expired) {
		warnx("order '%s' expired at %s: nothing pushed (extend it with 'redsink-ctl order update --expires')",
		      p->id, p->o.f[F_EXPIRES]);
		return CTL_EXIT_ERROR;
	}
	if (p->b.np) /* the ticket's prefixes: the order's prefix set and the protected prefixes */
		return ctl_ip_watch(x, &p->ip);
	return 0;
}

/* Safety of a push: mark protected names and public suffixes refused, or overridden. */
static int pw_check_safety(struct pw *p)
{
	char **pm, unverified[600];
	size_t npm;
	int ex;

	if ((ex = ctl_set_members(p->x, p->kp, &pm, &npm)))
		return ex;
	/* a signed protected set counts only as signed: names added behind the
	 * tool's back must not refuse an authority's push (doc/signing.md) */
	if ((ex = ctl_sign_protected_trust(p->x, pm, npm, unverified, sizeof(unverified)))) {
		ctl_free_strings(pm, npm);
		return ex;
	}
	if (ctl_prot_init(&p->prot))
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < npm; i++)
		if (ctl_prot_add(&p->prot, pm[i]))
			errx(CTL_EXIT_ERROR, "out of memory");
	ctl_free_strings(pm, npm);
	for (size_t i = 0; i < p->b.n; i++) {
		const char *which;
		if (ctl_prot_check(&p->prot, p->b.items[i].name, &which) == CTL_PROT_NONE) {
			/* not protected */
		} else if (*unverified) {
			warnx("warning: %s: '%s' is in the protected set, which is not verified (%s): not refused "
			      "(the resolvers refuse it if their verified protected set holds it)",
			      p->b.items[i].name, which, unverified);
		} else if (p->override_prot) {
			p->ovr[i] |= 1;
		} else {
			p->st[i] = ST_PROTECTED;
			p->nprot++;
			continue;
		}
		if (ctl_is_public_suffix(p->psl, p->b.items[i].name)) {
			if (p->allow_psl) {
				p->ovr[i] |= 2;
			} else {
				p->st[i] = ST_PSL;
				p->npsl++;
			}
		}
	}
	return 0;
}

/* Give every name its state: refused, new (to add / remove) or present (nothing to do). */
static int pw_classify(struct pw *p)
{
	const struct ctl_batch *b = &p->b;
	int ex;

	p->st = calloc(b->n, 1);
	p->in = calloc(b->n, 1);
	p->ovr = calloc(b->n, 1);
	p->names = malloc(b->n * sizeof(*p->names));
	if (!p->st || !p->in || !p->ovr || !p->names)
		errx(CTL_EXIT_ERROR, "out of memory");
	if (!p->withdraw && (ex = pw_check_safety(p)))
		return ex;
	if ((ex = members(p->x, p->kd, b, p->in, "checking")))
		return ex;
	if (b->np && (ex = ctl_ip_classify(p->x, &p->ip)))
		return ex;
	for (size_t i = 0; i < b->n; i++) {
		if (p->st[i] == ST_PROTECTED || p->st[i] == ST_PSL)
			continue;
		if (p->withdraw ? !p->in[i] : p->in[i]) {
			p->st[i] = ST_PRESENT;
			p->npresent++;
		} else {
			p->st[i] = ST_NEW;
			p->nnew++;
			if (p->ovr[i])
				p->novr++;
		}
	}
	return 0;
}

/* One line per name for people: the dry-run diff, and the refusals and warnings. */
static void pw_print_names(const struct pw *p, FILE *diff, const char *pre)
{
	for (size_t i = 0; i < p->b.n; i++) {
		const struct ctl_item *it = &p->b.items[i];
		char disp[CTL_DNAME_MAX]; /* "münchen.example (xn--...)" where people read */
		const char *which, *shown = ctl_name_display(it->name, disp, sizeof(disp));
		int hit;
		switch (p->st[i]) {
		case ST_NEW:
			if (!p->dry)
				break;
			if (p->ovr[i]) {
				hit = ctl_prot_check(&p->prot, it->name, &which);
				printf("%c %s  (override: %s%s%s%s%s)\n", p->withdraw ? '-' : '+', shown,
				       hit ? prot_text(hit) : "", hit ? " '" : "", hit ? which : "", hit ? "'" : "",
				       (p->ovr[i] & 2) ? (hit ? "; a public suffix" : "a public suffix") : "");
			} else {
				printf("%c %s\n", p->withdraw ? '-' : '+', shown);
			}
			break;
		case ST_PRESENT:
			if (p->dry)
				printf("= %s  %s\n", shown, p->withdraw ? "not listed by this order" : "already listed");
			else if (p->withdraw)
				warnx("%s:%u: warning: '%s' is not listed by order '%s'", it->file, it->line, it->name,
				      p->id);
			break;
		case ST_PROTECTED:
			hit = ctl_prot_check(&p->prot, it->name, &which);
			fprintf(diff, "%s%s:%u: refused: '%s' %s%s%s%s\n", pre, it->file, it->line, it->name,
				prot_text(hit), hit == CTL_PROT_SAME ? "" : " '", hit == CTL_PROT_SAME ? "" : which,
				hit == CTL_PROT_SAME ? "" : "'");
			break;
		case ST_PSL:
			fprintf(diff, "%s%s:%u: refused: '%s' is a public suffix: blocking it blocks every "
				      "domain registered under it\n",
				pre, it->file, it->line, it->name);
			break;
		}
	}
}

/* Report what the batch does; true when nothing is to be written (dry run, refused, invalid, nothing new). */
static bool pw_report(const struct pw *p, int *ex)
{
	const struct ctl_batch *b = &p->b;
	bool over = !p->withdraw && p->max_batch > 0 && (long)p->nnew > p->max_batch;
	bool refused = p->nprot > 0 || p->npsl > 0 || over || p->ip.nrefused > 0;
	bool invalid = b->nerrors > 0 && !p->skip_invalid;
	FILE *diff = p->dry ? stdout : stderr;
	const char *pre = p->dry ? "! " : "redsink-ctl: ";

	*ex = 0;
	if (p->json && (p->dry || refused || invalid)) {
		struct receipt rcp = { p->id, p->withdraw, p->dry, false, over, p->nnew, p->npresent, p->nprot, p->npsl,
				       p->novr, NULL, NULL, &p->ip };
		ctl_batch_print_diags(b, stderr, true, true, "redsink-ctl: ");
		if (b->np && p->ip.nrefused)
			ctl_ip_print(&p->ip, false, stderr, "redsink-ctl: ");
		*ex = refused ? CTL_EXIT_REFUSED : invalid ? CTL_EXIT_ERROR : 0;
		if (refused && !p->dry)
			warnx("push refused, nothing written (see the receipt)");
		else if (invalid && !p->dry)
			warnx("%zu line%s rejected: nothing written", b->nerrors, b->nerrors == 1 ? "" : "s");
		print_receipt(&rcp, b, p->st, *ex);
		return true;
	}
	ctl_batch_print_diags(b, stderr, !p->dry, true, "redsink-ctl: ");
	pw_print_names(p, diff, pre);
	if (b->np)
		ctl_ip_print(&p->ip, p->dry, diff, pre);
	if (p->dry)
		ctl_batch_print_diags(b, stdout, true, false, "! ");
	if (over)
		fprintf(diff, "%sthe batch would block %zu new names at once, more than the limit of %ld "
			      "(--max-batch N or $REDSINK_MAX_BATCH to allow more)\n",
			pre, p->nnew, p->max_batch);
	if (p->dry) {
		printf("dry run, order %s: %zu to %s, %zu %s, %zu refused, %zu rejected", p->id,
		       p->nnew, p->withdraw ? "withdraw" : "add", p->npresent,
		       p->withdraw ? "not listed" : "already present", p->nprot + p->npsl + (over ? 1 : 0), b->nerrors);
		if (b->np)
			printf("; address prefixes: %zu to %s, %zu %s, %zu refused", p->ip.nnew,
			       p->withdraw ? "withdraw" : "add", p->ip.npresent,
			       p->withdraw ? "not listed" : "already present", p->ip.nrefused);
		printf("; nothing written\n");
		*ex = refused ? CTL_EXIT_REFUSED : invalid ? CTL_EXIT_ERROR : 0;
		return true;
	}
	if (refused) {
		char why_refused[400] = "";
		if (p->nprot)
			strcat(why_refused, "; protected names (--override-protected --reason TEXT to push them anyway)");
		if (p->npsl)
			strcat(why_refused, "; public suffixes (--allow-public-suffix --reason TEXT)");
		if (p->ip.nrefused)
			strcat(why_refused, "; address prefixes overlapping a protected prefix or too short "
					    "(--override --reason TEXT)");
		if (over)
			strcat(why_refused, "; too many names at once (--max-batch N)");
		warnx("push refused, nothing written: %s", why_refused + 2);
		*ex = CTL_EXIT_REFUSED;
		return true;
	}
	if (invalid) {
		warnx("%zu line%s rejected: nothing written (fix them, or --skip-invalid to %s the others)", b->nerrors,
		      b->nerrors == 1 ? "" : "s", p->withdraw ? "withdraw" : "push");
		*ex = CTL_EXIT_ERROR;
		return true;
	}
	if (p->nnew == 0 && p->ip.nnew == 0 && p->json) {
		struct receipt rcp = { p->id, p->withdraw, false, false, false, 0, p->npresent, 0, 0, 0, NULL, NULL,
				       &p->ip };
		print_receipt(&rcp, b, p->st, 0);
		return true;
	}
	if (p->nnew == 0 && p->ip.nnew == 0) {
		if (!p->x->quiet)
			printf("order %s: nothing to %s (%zu %s)\n", p->id, p->withdraw ? "withdraw" : "add", p->npresent,
			       p->withdraw ? "not listed" : "already listed");
		return true;
	}
	return false;
}

/* Queue the set change and its stream entries, grouped by override; returns how many names were queued. */
static size_t pw_queue(struct pw *p, struct ctl_tx *t)
{
	static const char *const ovr_text[] = { "", "protected", "public-suffix", "protected,public-suffix" };
	struct ctl_progress prog;
	size_t nn = 0, done = 0;

	ctl_progress_start(p->x, &prog, p->withdraw ? "withdrawing" : "pushing", p->nnew);
	/* names grouped by override (0 first): each group has its own `override` field */
	for (int g = 0; g < 4; g++)
		for (size_t i = 0; i < p->b.n; i++)
			if (p->st[i] == ST_NEW && p->ovr[i] == g)
				p->names[nn++] = p->b.items[i].name;
	queue_members(t, p->withdraw ? "SREM" : "SADD", p->kd, p->names, nn);
	for (int g = 0, at = 0; g < 4; g++) {
		size_t cnt = 0;
		for (size_t i = 0; i < p->b.n; i++)
			cnt += p->st[i] == ST_NEW && p->ovr[i] == g;
		for (size_t i = 0; i < cnt; i += CTL_CHUNK) {
			size_t m = cnt - i < CTL_CHUNK ? cnt - i : CTL_CHUNK;
			ctl_queue_changes(p->x, t, p->withdraw ? "del" : "add", p->id, p->names + at + i, m, p->why,
					  ovr_text[g], &p->first);
			done += m;
			ctl_progress_set(&prog, done);
		}
		at += (int)cnt;
	}
	ctl_progress_end(&prog);
	if (p->b.np)
		ctl_ip_queue(p->x, t, &p->ip, p->id, p->why, &p->first);
	return nn;
}

/* The receipt of a written batch: JSON, or one line with the first and last change IDs. */
static void pw_print_written(const struct pw *p, const redisReply *r, size_t nn)
{
	/* the set commands come first: the names' (when there are names), else the prefixes' */
	size_t sets = nn ? (nn + CTL_CHUNK - 1) / CTL_CHUNK : p->ip.nsets;
	const redisReply *last = r->element[r->elements - 1];

	if (p->json) {
		struct receipt rcp = { p->id, p->withdraw, false, true, false, p->nnew, p->npresent, 0, 0, p->novr, NULL,
				       NULL, &p->ip };
		rcp.first_change = r->elements > sets && r->element[sets]->type == REDIS_REPLY_STRING
					   ? r->element[sets]->str : NULL;
		rcp.last_change = last->type == REDIS_REPLY_STRING ? last->str : rcp.first_change;
		print_receipt(&rcp, &p->b, p->st, 0);
	} else if (!p->x->quiet) {
		const char *firstid = r->elements > sets && r->element[sets]->type == REDIS_REPLY_STRING
					      ? r->element[sets]->str : "?";
		printf("order %s: %zu %s, %zu %s%s%s (changes %s .. %s)\n", p->id, p->nnew,
		       p->withdraw ? "withdrawn" : "added", p->npresent, p->withdraw ? "not listed" : "already present",
		       p->novr ? ", overrides recorded: " : "",
		       p->novr ? (p->override_prot ? "protected" : "public-suffix") : "", firstid,
		       last->type == REDIS_REPLY_STRING ? last->str : firstid);
		if (p->b.np)
			printf("order %s: %zu address prefix%s %s, %zu %s%s\n", p->id, p->ip.nnew,
			       p->ip.nnew == 1 ? "" : "es", p->withdraw ? "withdrawn" : "added", p->ip.npresent,
			       p->withdraw ? "not listed" : "already present",
			       p->ip.novr ? ", overrides recorded" : "");
		if (p->b.nerrors)
			printf("order %s: %zu rejected lines skipped (--skip-invalid)\n", p->id, p->b.nerrors);
	}
}

/* Write: the set change and the stream entries, in one MULTI/EXEC under the WATCH. */
static int pw_write(struct pw *p)
{
	struct ctl *x = p->x;
	struct ctl_tx t;
	redisReply *r;
	size_t nn;
	int rc;

	ctl_tx_begin(&t, &x->conn);
	nn = pw_queue(p, &t);
	if (x->tty)
		fprintf(stderr, "committing %zu changes...", p->nnew);
	rc = ctl_tx_exec(&t, &r);
	if (x->tty)
		fprintf(stderr, "\r\033[K");
	if (rc == CTL_TX_CONFLICT) {
		warnx("order '%s' or the protected list changed while the batch was being checked: nothing "
		      "written; run the command again",
		      p->id);
		return CTL_EXIT_ERROR;
	}
	if (rc)
		return ctl_redis_failed(x);
	pw_print_written(p, r, nn);
	freeReplyObject(r);
	return 0;
}

static int push_or_withdraw(struct ctl *x, int argc, char **argv, bool withdraw, bool validate)
{
	struct pw p = { .x = x, .withdraw = withdraw, .validate = validate, .offline = validate, .dry = validate,
			.first = true, .why = "", .max_batch = CTL_MAX_BATCH_DEFAULT,
			.io = { CTL_FMT_AUTO, NULL, NULL, 0 } };
	int ex;

	x->usage = validate ? validate_usage : push_usage;
	if ((ex = pw_options(&p, argc, argv)) >= 0)
		return ex;
	ctl_batch_init(&p.b);
	ctl_ip_init(x, &p.ip, &p.b, p.id, withdraw, p.override_ip);
	if ((ex = pw_read(&p, argv + optind, argc - optind)))
		goto out;
	if (p.offline) {
		ex = pw_offline(&p);
		goto out;
	}
	if ((ex = pw_watch_order(&p)) || (ex = pw_classify(&p)))
		goto out;
	if (pw_report(&p, &ex))
		freeReplyObject(ctl_cmd(&x->conn, "UNWATCH", "UNWATCH"));
	else
		ex = pw_write(&p);
out:
	ctl_ip_free(&p.ip);
	ctl_order_clear(&p.o);
	ctl_prot_free(&p.prot);
	ctl_psl_close(p.psl);
	ctl_batch_free(&p.b);
	free(p.st);
	free(p.in);
	free(p.ovr);
	free(p.names);
	return ex;
}

int cmd_push(struct ctl *x, int argc, char **argv)
{
	return push_or_withdraw(x, argc, argv, false, false);
}

int cmd_validate(struct ctl *x, int argc, char **argv)
{
	return push_or_withdraw(x, argc, argv, false, true);
}

int cmd_withdraw(struct ctl *x, int argc, char **argv)
{
	return push_or_withdraw(x, argc, argv, true, false);
}

/* ---- protect ---- */

static const char protect_usage[] =
	"Usage: redsink-ctl protect add [--why TEXT] [--file FILE]... [NAME...]\n"
	"       redsink-ctl protect remove --why TEXT [--file FILE]... [NAME...]\n"
	"       redsink-ctl protect list [--json]\n"
	"\n"
	"The never-block list: a protected name, and every name below it, is never\n"
	"blocked by any resolver, whatever the orders say; and a push that would block\n"
	"a protected name or a parent of one is refused. Names are read like push\n"
	"reads them (files in any format, Unicode, URLs). Removing protection needs\n"
	"a reason. Every change is one transaction with its change-stream entries.\n"
	"\n"
	"  --why TEXT, --reason TEXT  recorded in the change stream\n"
	"  --file FILE                read names from FILE ('-': standard input)\n"
	"  --format FMT               format of the files (default: detected)\n"
	"  --allow-public-suffix      protect a public suffix (needs --why)\n"
	"  -n, --dry-run              say what would change, write nothing\n"
	"  --json                     protect list: a JSON array\n";

/* Everything one protect add / remove / list run works with, shared by its steps. */
struct protect {
	struct ctl *x;
	const char *sub, *why, *files[64];
	bool add, dry, allow_psl, json, first;
	enum ctl_format fmt;
	int nfiles, nnames;
	char **cmdline_names; /* the names given as arguments */
	char kp[CTL_KEY_MAX];
	struct ctl_batch b;
	uint8_t *in;	    /* per name: in the protected set */
	const char **names; /* the nn names to change */
	size_t nn;
};

/* Parse the subcommand and the options; -1 to go on, or the exit code of the command. */
static int protect_options(struct protect *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "why", required_argument, NULL, O_WHY },
		{ "reason", required_argument, NULL, O_WHY },
		{ "file", required_argument, NULL, O_FILE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "allow-public-suffix", no_argument, NULL, O_ALLOW_PSL },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = p->x;
	const char *sub = argc > 1 ? argv[1] : NULL;
	int c, ex = 0, rc;

	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(protect_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "add") && strcmp(sub, "remove") && strcmp(sub, "list"))
		return ctl_usage_error(x, "unknown subcommand 'protect %.40s'", sub);
	x->cmd = strcmp(sub, "add") == 0 ? "protect add" : strcmp(sub, "remove") == 0 ? "protect remove" : "protect list";
	p->sub = sub;
	p->add = strcmp(sub, "add") == 0;
	argc--, argv++;
	while ((c = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ex;
		case O_WHY:
			p->why = optarg;
			break;
		case O_FILE:
			if (p->nfiles == 64)
				return ctl_usage_error(x, "too many --file options");
			p->files[p->nfiles++] = optarg;
			break;
		case O_FORMAT:
			if ((rc = ctl_format_parse(optarg)) < 0)
				return ctl_usage_error(x, "--format: '%s' is not auto, plain, csv, json or rpz", optarg);
			p->fmt = (enum ctl_format)rc;
			break;
		case O_ALLOW_PSL:
			p->allow_psl = true;
			break;
		case 'n':
			p->dry = true;
			break;
		case O_JSON:
			p->json = true;
			break;
		}
	}
	p->cmdline_names = argv + optind;
	p->nnames = argc - optind;
	return -1;
}

/* protect list: the protected names, one a line or as a JSON array. */
static int protect_list(struct protect *p)
{
	char **m;
	size_t n;
	int ex;

	if (p->nnames > 0)
		return ctl_usage_error(p->x, "protect list takes no names");
	if ((ex = ctl_open(p->x)) || (ex = ctl_set_members(p->x, p->kp, &m, &n)))
		return ex;
	if (p->json) {
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			ctl_json_str(stdout, m[i]);
		}
		puts("]");
	} else {
		for (size_t i = 0; i < n; i++)
			puts(m[i]);
	}
	ctl_free_strings(m, n);
	return 0;
}

/* The reason and the names a change needs; -1 to go on, or the exit code of the command. */
static int protect_check_args(struct protect *p)
{
	const char *complaint;

	if (!ctl_text_ok(p->why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(p->x, "--why %s", complaint);
	if (!p->add && !*p->why)
		return ctl_usage_error(p->x, "protect remove needs --why TEXT: names may become blockable again");
	if (p->allow_psl && !*p->why)
		return ctl_usage_error(p->x, "--allow-public-suffix needs --why TEXT");
	if (p->nnames == 0 && p->nfiles == 0)
		return ctl_usage_error(p->x, "expected names or --file FILE");
	return -1;
}

/* Read the names of the command line and of the --file inputs; any rejected name stops the change. */
static int protect_read(struct protect *p)
{
	struct ctl_batch *b = &p->b;
	int ex;

	for (int i = 0; i < p->nnames; i++)
		if (ctl_batch_add(b, "<command line>", (uint32_t)(i + 1), p->cmdline_names[i],
				  strlen(p->cmdline_names[i])))
			errx(CTL_EXIT_ERROR, "out of memory");
	if (p->nfiles) {
		struct input_opts io = { p->fmt, NULL, NULL, 0 };
		if ((ex = read_inputs(p->x, b, &io, (char **)p->files, p->nfiles)))
			return ex;
	}
	ctl_batch_print_diags(b, stderr, true, true, "redsink-ctl: ");
	if (b->nerrors) {
		warnx("%zu name%s rejected: nothing written", b->nerrors, b->nerrors == 1 ? "" : "s");
		return CTL_EXIT_ERROR;
	}
	if (b->n == 0) {
		warnx("no names given");
		return CTL_EXIT_ERROR;
	}
	return 0;
}

/* protect add: refuse public suffixes (unless --allow-public-suffix). */
static int protect_refuse_psl(const struct protect *p)
{
	const struct ctl_batch *b = &p->b;
	char err[300];
	const struct psl_ctx_st *psl;
	size_t bad = 0;

	if (!p->add || p->allow_psl)
		return 0;
	psl = ctl_psl_open(NULL, err, sizeof(err));
	if (!psl) {
		warnx("%s", err);
		return CTL_EXIT_ERROR;
	}
	for (size_t i = 0; i < b->n; i++)
		if (ctl_is_public_suffix(psl, b->items[i].name)) {
			warnx("%s:%u: refused: '%s' is a public suffix: protecting it would stop every order for "
			      "the domains below it (--allow-public-suffix --why TEXT)",
			      b->items[i].file, b->items[i].line, b->items[i].name);
			bad++;
		}
	ctl_psl_close(psl);
	return bad ? CTL_EXIT_REFUSED : 0;
}

/* Connect, WATCH the protected set, and collect the names to change (printing the others, and the dry run). */
static int protect_select(struct protect *p)
{
	struct ctl *x = p->x;
	const struct ctl_batch *b = &p->b;
	redisReply *r;
	int ex;

	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", p->kp);
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_sign_prepare_protected(x))) /* signed like an order's change (ctl_sign.h) */
		return ex;
	p->in = calloc(b->n, 1);
	p->names = malloc(b->n * sizeof(*p->names));
	if (!p->in || !p->names)
		errx(CTL_EXIT_ERROR, "out of memory");
	if ((ex = members(x, p->kp, b, p->in, "checking")))
		return ex;
	for (size_t i = 0; i < b->n; i++) {
		if (p->add == !!p->in[i]) {
			if (!x->quiet || p->dry)
				printf("= %s  %s\n", b->items[i].name, p->add ? "already protected" : "not protected");
			continue;
		}
		p->names[p->nn++] = b->items[i].name;
		if (p->dry)
			printf("%c %s\n", p->add ? '+' : '-', b->items[i].name);
	}
	return 0;
}

/* Write the set change and its stream entries in one MULTI/EXEC under the WATCH. */
static int protect_write(struct protect *p)
{
	struct ctl *x = p->x;
	struct ctl_tx t;
	redisReply *r;
	int rc;

	ctl_tx_begin(&t, &x->conn);
	queue_members(&t, p->add ? "SADD" : "SREM", p->kp, p->names, p->nn);
	ctl_queue_changes(x, &t, p->add ? "protect" : "unprotect", "", p->names, p->nn, p->why, NULL, &p->first);
	rc = ctl_tx_exec(&t, &r);
	if (rc == CTL_TX_CONFLICT) {
		warnx("the protected list changed meanwhile: nothing written; run the command again");
		return CTL_EXIT_ERROR;
	}
	if (rc)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if (!x->quiet)
		for (size_t i = 0; i < p->nn; i++)
			printf("%s %s\n", p->add ? "protected" : "unprotected", p->names[i]);
	return 0;
}

int cmd_protect(struct ctl *x, int argc, char **argv)
{
	struct protect p = { .x = x, .why = "", .first = true, .fmt = CTL_FMT_AUTO };
	int ex;

	x->usage = protect_usage;
	if ((ex = protect_options(&p, argc, argv)) >= 0)
		return ex;
	ctl_key(x, p.kp, "protected");
	if (strcmp(p.sub, "list") == 0)
		return protect_list(&p);
	if ((ex = protect_check_args(&p)) >= 0)
		return ex;
	ctl_batch_init(&p.b);
	if ((ex = protect_read(&p)) || (ex = protect_refuse_psl(&p)) || (ex = protect_select(&p)))
		goto out;
	if (p.dry || p.nn == 0) {
		if (p.dry)
			printf("dry run: %zu to %s; nothing written\n", p.nn, p.add ? "protect" : "unprotect");
		else if (!x->quiet)
			printf("nothing to change\n");
		freeReplyObject(ctl_cmd(&x->conn, "UNWATCH", "UNWATCH"));
		goto out;
	}
	ex = protect_write(&p);
out:
	ctl_batch_free(&p.b);
	free(p.in);
	free(p.names);
	return ex;
}

/* ---- expire ---- */

static const char expire_usage[] =
	"Usage: redsink-ctl expire [--dry-run] [--now TIME] [--why TEXT] [--json]\n"
	"\n"
	"Revoke every order in force whose `expires` date has passed, as 'order\n"
	"revoke' does, in one transaction (entries: op revoke, why \"expired at DATE\").\n"
	"Resolvers already stop applying an order at its expiry; this withdraws its\n"
	"domains for good. Run it from cron or a systemd timer (redsink-ctl(1), EXPIRY).\n"
	"\n"
	"  -n, --dry-run   list the orders that would be revoked\n"
	"  --now TIME      pretend it is TIME (RFC 3339, or -1d / +2h relative to now);\n"
	"                  a time in the future only with --dry-run\n"
	"  --why TEXT      added to the recorded reason\n"
	"  --json          the receipt (or the dry run) as one JSON object (typed values)\n";

/* The reason an expired order's `revoke` entry records. */
static const char *expired_why(const struct ctl_order *o, const char *why, char *buf, size_t len)
{
	char tbuf[32];

	snprintf(buf, len, "expired at %s%s%s", ctl_fmt_time(o->expires, tbuf), *why ? ": " : "", why);
	return buf;
}

/*
 * What expire did (or would do), for --json, in the shape of the push and
 * withdraw receipts: op, dry_run, written, the count, one row per order (with
 * its change id once written), first_change / last_change, exit. r: the
 * transaction's reply (SREM, XADD per order), or NULL when nothing was written.
 */
static void print_expire_receipt(const struct ctl_order *orders, size_t n, bool dry, int64_t now, int64_t real_now,
				 const char *why, const redisReply *r)
{
	char tbuf[32], why_buf[CTL_TEXT_MAX + 64];
	const char *first = NULL, *last = NULL;

	printf("{\"op\":\"expire\",\"dry_run\":%s,\"written\":%s,\"now\":\"%s\",\"revoked\":%zu,\"orders\":[",
	       dry ? "true" : "false", r ? "true" : "false", ctl_fmt_time(now, tbuf), n);
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = r && r->elements > 2 * i + 1 ? r->element[2 * i + 1] : NULL;
		const char *change = e && e->type == REDIS_REPLY_STRING ? e->str : NULL;
		if (change) {
			first = first ? first : change;
			last = change;
		}
		printf("%s{\"order\":", i ? "," : "");
		ctl_json_str(stdout, orders[i].id);
		printf(",\"authority\":");
		ctl_json_str(stdout, orders[i].f[F_AUTHORITY]);
		printf(",\"reference\":");
		ctl_json_str(stdout, orders[i].f[F_REFERENCE]);
		printf(",\"expires\":\"%s\",\"expired\":%s,\"domains\":%lld,\"why\":",
		       ctl_fmt_time(orders[i].expires, tbuf), orders[i].expires <= real_now ? "true" : "false",
		       orders[i].ndomains < 0 ? 0 : orders[i].ndomains);
		ctl_json_str(stdout, expired_why(&orders[i], why, why_buf, sizeof(why_buf)));
		printf(",\"change\":");
		json_str_or_null(change);
		putchar('}');
	}
	printf("],\"first_change\":");
	json_str_or_null(first);
	printf(",\"last_change\":");
	json_str_or_null(last);
	printf(",\"exit\":0}\n");
}

int cmd_expire(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "now", required_argument, NULL, O_NOW },
		{ "why", required_argument, NULL, O_WHY },
		{ "json", no_argument, NULL, O_PJSON },
		{ NULL, 0, NULL, 0 },
	};
	char k[CTL_KEY_MAX], ko[CTL_KEY_MAX], tbuf[32];
	const char *why = "", *complaint, *now_arg = "";
	int64_t real_now = (int64_t)time(NULL), now = real_now;
	bool dry = false, json = false;
	char **ids = NULL;
	size_t nids = 0, nexp = 0;
	int c, ex = 0, rc;
	struct ctl_order *orders = NULL;
	redisReply *r;

	x->usage = expire_usage;
	while ((c = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ex;
		case 'n':
			dry = true;
			break;
		case O_NOW:
			if (ctl_parse_when(optarg, now, &now))
				return ctl_usage_error(x, "--now: '%s' is not a time", optarg);
			now_arg = optarg;
			break;
		case O_WHY:
			why = optarg;
			break;
		case O_PJSON:
			json = true;
			break;
		}
	}
	if (optind < argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	/*
	 * A revocation is for good: revoking at a time still to come would end
	 * orders that are in force. A future --now only previews (--dry-run); a
	 * past one merely revokes fewer orders, each of which has really expired.
	 */
	if (now > real_now && !dry)
		return ctl_usage_error(x, "--now %s is in the future: orders still in force would be revoked for good "
				       "(use --dry-run to preview)", now_arg);
	if (!ctl_text_ok(why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why %s", complaint);
	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	ctl_key(x, k, "orders");
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", k);
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_set_members(x, k, &ids, &nids)))
		return ex;
	orders = calloc(nids ? nids : 1, sizeof(*orders));
	if (!orders)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < nids; i++) {
		struct ctl_order *o = &orders[nexp];
		r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", ctl_key(x, ko, "order:%s", ids[i]));
		if (!r) {
			ex = ctl_redis_failed(x);
			goto out;
		}
		freeReplyObject(r);
		if ((ex = ctl_order_load(x, ids[i], true, o)))
			goto out;
		if (o->bad_expires)
			warnx("warning: order '%s': expires '%s' is not a date (resolvers ignore this order)", ids[i],
			      o->f[F_EXPIRES]);
		if (o->expires && o->expires <= now)
			nexp++;
		else
			ctl_order_clear(o);
	}
	if (nexp == 0 || dry) {
		if (json)
			print_expire_receipt(orders, nexp, dry, now, real_now, why, NULL);
		for (size_t i = 0; !json && i < nexp; i++)
			printf("would revoke order %s (%s at %s): %lld domains\n", orders[i].id,
			       orders[i].expires <= real_now ? "expired" : "expires",
			       ctl_fmt_time(orders[i].expires, tbuf), orders[i].ndomains);
		if (!json && !x->quiet && nexp == 0)
			printf("no expired orders\n");
		r = ctl_cmd(&x->conn, "UNWATCH", "UNWATCH");
		freeReplyObject(r);
		goto out;
	}
	{
		struct ctl_tx t;
		char why_buf[CTL_TEXT_MAX + 64];
		ctl_tx_begin(&t, &x->conn);
		for (size_t i = 0; i < nexp; i++) {
			const char *srem[3] = { "SREM", k, orders[i].id };
			size_t sl[3] = { 4, strlen(k), strlen(orders[i].id) };
			ctl_tx_argv(&t, 3, srem, sl);
			ctl_queue_change(x, &t, "revoke", orders[i].id, "", expired_why(&orders[i], why, why_buf,
											 sizeof(why_buf)), NULL);
		}
		rc = ctl_tx_exec(&t, &r);
		if (rc == CTL_TX_CONFLICT) {
			warnx("the orders changed meanwhile: nothing written; run the command again");
			ex = CTL_EXIT_ERROR;
			goto out;
		}
		if (rc) {
			ex = ctl_redis_failed(x);
			goto out;
		}
		if (json)
			print_expire_receipt(orders, nexp, false, now, real_now, why, r);
		freeReplyObject(r);
		if (!json && !x->quiet)
			for (size_t i = 0; i < nexp; i++)
				printf("revoked order %s (expired at %s): %lld domains no longer blocked\n", orders[i].id,
				       ctl_fmt_time(orders[i].expires, tbuf), orders[i].ndomains);
	}
out:
	for (size_t i = 0; i < nids; i++)
		ctl_order_clear(&orders[i]);
	free(orders);
	ctl_free_strings(ids, nids);
	return ex;
}
