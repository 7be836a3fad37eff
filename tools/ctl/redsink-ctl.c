/*
 * redsink-ctl.c — the regulators' and operators' tool: main(), the common
 * options, and what every command shares (ctl.h).
 *
 * The commands live in ctl_cmd_write.c (order, push, withdraw, protect,
 * expire: everything that changes the list, each change in one MULTI/EXEC
 * with its stream entries) and ctl_cmd_read.c (status, export, log, order
 * show/list). Input parsing is in ctl_input.c / ctl_name.c, the safety checks
 * in ctl_safety.c, Redis in ctl_redis.c. The Redis schema is
 * doc/redis-schema.md; the manual is redsink-ctl(1).
 */
#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_ip.h"
#include "ctl_sign.h"

#include <err.h>
#include <hiredis/hiredis.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_name.h"
#include "order.h"
#include "rs_config.h"
#include "rs_err.h"
#include "text.h"

static const char main_usage[] =
	"Usage: redsink-ctl [OPTIONS] COMMAND [ARGS...]\n"
	"\n"
	"Regulators push court orders into redsink's Redis list; operators see which\n"
	"resolvers enforce them.\n"
	"\n"
	"Orders:\n"
	"  order add ID --authority A --reference R --scope S [...]  create an order\n"
	"  order update ID [--FIELD VALUE...]     change an order's fields\n"
	"  order show ID [--domains] [--json]     one order\n"
	"  order list [--all] [--json]            the orders in force\n"
	"  order revoke ID [--why TEXT] [--json]  withdraw an order and all its domains\n"
	"  window set ORDER START/END...          live-event windows: the order applies only inside them\n"
	"  window clear ORDER                     no windows: the order applies at any time again\n"
	"  window list [ORDER] [--json]           the windows, and whether each order is active now\n"
	"Domains:\n"
	"  push ORDER [FILE...]                   block the names in FILEs (or stdin) under ORDER\n"
	"  withdraw ORDER [FILE...]               unblock them\n"
	"  validate [FILE...]                     check a list or ticket offline (no Redis)\n"
	"  protect add|remove|list [NAME...]      the never-block list\n"
	"  expire [--dry-run] [--json]            revoke the orders whose expiry date has passed\n"
	"Address prefixes:\n"
	"  addip ORDER [PREFIX...] [--file F]     block names answering with an address in PREFIX\n"
	"  delip ORDER [PREFIX...] [--file F]     remove prefixes from ORDER\n"
	"  protect-ip [PREFIX...] [--why TEXT]   never trigger a block (shared infrastructure, CDNs)\n"
	"  unprotect-ip --why TEXT [PREFIX...]    remove that protection\n"
	"  confirm-ip [PREFIX...]                 a prefix suspended by the collateral guard blocks again\n"
	"  unconfirm-ip [PREFIX...]               withdraw that confirmation\n"
	"  ip list [ORDER] [--json]               the orders' prefixes and the protected ones\n"
	"  ticket import ORDER FILE...            a whole Piracy-Shield ticket: fqdn, ipv4, ipv6\n"
	"Reports:\n"
	"  check NAME... [--json]                 is NAME blocked here, by which order and entry, or why not\n"
	"  status [ORDER] [--json] [--check]      every resolver's heartbeat; with ORDER, who applied it;\n"
	"                                         --check: exit 1 unless healthy/compliant (monitoring)\n"
	"  fleet add|remove NAME [--jurisdiction CC]  the roster: resolvers that must enforce (down, not gone)\n"
	"  fleet list [--json]                    the roster and every resolver's state (up, stale, down)\n"
	"  receipts ORDER [--deadline 30m] [--json|--csv]  per item and resolver: when it was enforced\n"
	"  export --rpz|--csv|--json [-o FILE]    the list as an RPZ zone, or for audits\n"
	"  log [--order ID] [--domain D] [--since T] [--follow] ...  the audit trail\n"
	"  verify --trusted FILE [--from-export FILE] [--json]  check the signed orders, offline\n"
	"Dataset:\n"
	"  dataset show [--json]                  the dataset identity, and which one each resolver holds\n"
	"  dataset new --why TEXT [--supersedes ID...]  start a new dataset (Redis lost its data, start over)\n"
	"Signing keys (no Redis):\n"
	"  key generate --out FILE [--label L]    a new Ed25519 signing key (mode 0600) and its public key\n"
	"  key show FILE                          the public key and key id of a private key file\n"
	"  key fingerprint PUBKEY|FILE            the key id of a public key\n"
	"\n"
	"Common options (before or after the command):\n"
	"  --redis URL       redis://[USER@]HOST[:PORT][/DB], HOST:PORT or unix:/PATH\n"
	"                    (default $REDSINK_REDIS, else 127.0.0.1:6379)\n"
	"  --prefix P        key prefix (default $REDSINK_PREFIX, else redsink:)\n"
	"  --user NAME       Redis ACL user (default $REDSINK_REDIS_USER)\n"
	"  --auth-file FILE  mode 600, first line \"PASSWORD\" or \"USER PASSWORD\" (default\n"
	"                    $REDSINK_REDIS_AUTH_FILE; or $REDSINK_REDIS_PASSWORD).\n"
	"                    Never a password on the command line.\n"
	"  --db N            Redis database number (default 0, or the URL's /DB)\n"
	"  --timeout MS      connect and command timeout (default 5000)\n"
	"  --by NAME         who makes the change (default $USER)\n"
	"  --sign-key FILE   sign every change of an order with this Ed25519 key (default\n"
	"                    $REDSINK_SIGN_KEY; mode 600; see SIGNING in redsink-ctl(1))\n"
	"  --unsigned        write to a signed order without a key (it is then not\n"
	"                    enforced by resolvers requiring signatures)\n"
	"  --trusted FILE    signing: trusted-key: lines (as in redsink.conf) of the other\n"
	"                    keys whose manifests a signed change may continue\n"
	"  --resign-current-state  signing: sign an order as Redis holds it even where it\n"
	"                    differs from its last signed version (recorded)\n"
	"  -q, --quiet       no progress bar and no summary\n"
	"  -h, --help        this help; redsink-ctl COMMAND --help for a command\n"
	"  --version         print the version and exit\n"
	"\n"
	CLI_EXIT_TEXT
	"See redsink-ctl(1).\n";

/* ---- options ---- */

enum { O_REDIS = 1000, O_PREFIX, O_AUTH_FILE, O_TIMEOUT, O_BY, O_VERSION, O_USER, O_DB, O_PASSWORD_FILE, O_SIGN_KEY,
       O_UNSIGNED, O_SIGN_TRUSTED, O_RESIGN };

/* --user and --db of the common options (cli.h), applied by ctl_open */
static const char *opt_user;
static int opt_db = -1;

static const struct option common_opts[] = {
	{ "redis", required_argument, NULL, O_REDIS },
	{ "prefix", required_argument, NULL, O_PREFIX },
	{ "auth-file", required_argument, NULL, O_AUTH_FILE },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "by", required_argument, NULL, O_BY },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ "user", required_argument, NULL, O_USER },
	{ "db", required_argument, NULL, O_DB },
	{ "sign-key", required_argument, NULL, O_SIGN_KEY },
	{ "unsigned", no_argument, NULL, O_UNSIGNED },
	{ "trusted", required_argument, NULL, O_SIGN_TRUSTED }, /* verify, order show, receipts: their own */
	{ "resign-current-state", no_argument, NULL, O_RESIGN },
	/* deprecated spellings of --auth-file (redsink-stats, redsink-warnd) */
	{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "redis-password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ NULL, 0, NULL, 0 },
};

int ctl_usage_error(struct ctl *x, const char *fmt, ...)
{
	va_list ap;
	char msg[4096];

	fprintf(stderr, "redsink-ctl: %s%s", x->cmd && *x->cmd ? x->cmd : "", x->cmd && *x->cmd ? ": " : "");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the message may quote what was typed: never echo a control character raw */
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	/* one line, as the other tools write it */
	fprintf(stderr, " (see 'redsink-ctl %s%s--help')\n", x->cmd ? x->cmd : "", x->cmd && *x->cmd ? " " : "");
	return CTL_EXIT_USAGE;
}

/* A common option: 0 handled, else the exit code. */
static int common_opt(struct ctl *x, int c, const char *arg)
{
	char *end;
	long v;

	switch (c) {
	case O_REDIS:
		x->url = arg;
		x->url_from_argv = true;
		return 0;
	case O_PREFIX:
		x->prefix = arg;
		return 0;
	case O_PASSWORD_FILE:
		cli_deprecated("redsink-ctl", "--password-file", "--auth-file");
		/* fall through */
	case O_AUTH_FILE:
		x->auth_file = arg;
		return 0;
	case O_USER:
		opt_user = arg;
		return 0;
	case O_DB:
		v = strtol(arg, &end, 10);
		if (*end || end == arg || v < 0 || v > 1000000)
			return ctl_usage_error(x, "--db: '%s' is not a database number", arg);
		opt_db = (int)v;
		return 0;
	case O_TIMEOUT:
		v = strtol(arg, &end, 10);
		if (*end || v < 1 || v > 3600000)
			return ctl_usage_error(x, "--timeout: '%s' is not a number of milliseconds", arg);
		x->timeout_ms = (int)v;
		return 0;
	case O_BY:
		x->by = arg;
		return 0;
	case O_SIGN_KEY:
		x->sign_key = arg;
		return 0;
	case O_UNSIGNED:
		x->unsigned_ok = true;
		return 0;
	case O_SIGN_TRUSTED:
		x->sign_trusted = arg;
		return 0;
	case O_RESIGN:
		x->resign_current = true;
		return 0;
	case 'q':
		x->quiet = true;
		return 0;
	case O_VERSION:
		cli_version("redsink-ctl");
		return -1;
	}
	return CTL_EXIT_USAGE;
}

int ctl_getopt(struct ctl *x, int argc, char **argv, const char *shortopts, const struct option *own, int *exitp)
{
	static struct option merged[112];
	static const struct option *merged_for;
	static char shorts[96];
	static char **last_argv;
	int c;

	if (merged_for != own || last_argv != argv) {
		size_t n = 0;
		for (const struct option *o = own; o && o->name && n < 80; o++)
			merged[n++] = *o;
		for (const struct option *o = common_opts; o->name; o++)
			merged[n++] = *o;
		memset(&merged[n], 0, sizeof(merged[n]));
		/* ':' first: a missing value is ':', and getopt prints nothing
		 * (opterr 0): the message is one line of ours (cli_bad_option) */
		snprintf(shorts, sizeof(shorts), ":%sqh", shortopts ? shortopts : "");
		merged_for = own;
		last_argv = argv;
		optind = 0;
		opterr = 0;
	}
	for (;;) {
		c = getopt_long(argc, argv, shorts, merged, NULL);
		if (c == 'h') {
			fputs(x->usage ? x->usage : main_usage, stdout);
			*exitp = 0;
			return CTL_OPT_EXIT;
		}
		if (c == '?' || c == ':') {
			cli_bad_option("redsink-ctl", x->cmd, c, argv[optind - 1], shorts, merged);
			*exitp = CTL_EXIT_USAGE;
			return CTL_OPT_EXIT;
		}
		if (c == 'q' || c >= O_REDIS) {
			int rc = common_opt(x, c, optarg);
			if (rc) {
				*exitp = rc < 0 ? 0 : rc;
				return CTL_OPT_EXIT;
			}
			continue;
		}
		return c;
	}
}

/* ---- Redis ---- */

const char *ctl_key(const struct ctl *x, char *buf, const char *fmt, ...)
{
	va_list ap;
	size_t n = (size_t)snprintf(buf, CTL_KEY_MAX, "%s", x->prefix);

	va_start(ap, fmt);
	vsnprintf(buf + n, CTL_KEY_MAX - n, fmt, ap);
	va_end(ap);
	return buf;
}

int ctl_redis_failed(struct ctl *x)
{
	warnx("%s", x->conn.err);
	return x->conn.exit ? x->conn.exit : CTL_EXIT_ERROR;
}

int ctl_open(struct ctl *x)
{
	char err[600], warn[600];
	const char *url = x->url ? x->url : "127.0.0.1:6379";

	const char *why;

	if (x->connected)
		return 0;
	if (!*x->by || !ctl_text_ok(x->by, CTL_BY_MAX, &why)) {
		char shown[600];
		warnx("--by: '%s' %s", ctl_show(x->by, strlen(x->by), 60, shown, sizeof(shown)), *x->by ? why : "is empty");
		return CTL_EXIT_USAGE;
	}
	if (ctl_url_parse(url, x->url_from_argv, &x->conn.ep, err, sizeof(err))) {
		warnx("%s%s", x->url_from_argv ? "--redis: " : x->url ? "$REDSINK_REDIS: " : "", err);
		return CTL_EXIT_USAGE;
	}
	if (opt_db >= 0)
		x->conn.ep.db = opt_db;
	if (opt_user) {
		free(x->conn.ep.user);
		if (!(x->conn.ep.user = strdup(opt_user))) {
			warnx("out of memory");
			return CTL_EXIT_ERROR;
		}
	}
	if (ctl_credentials(&x->conn.ep, x->auth_file, err, sizeof(err), warn, sizeof(warn))) {
		warnx("%s", err);
		return CTL_EXIT_REDIS;
	}
	if (warn[0])
		warnx("warning: %s", warn);
	x->conn.prefix = x->prefix;
	x->conn.timeout_ms = x->timeout_ms;
	if (ctl_connect(&x->conn))
		return ctl_redis_failed(x);
	x->connected = true;
	return 0;
}

/* ---- orders ---- */

const char *const ctl_order_fields[F_COUNT] = { "authority", "reference", "issued", "expires", "scope",
						 "action",    "reason",    "url",    "lang" };

void ctl_order_clear(struct ctl_order *o)
{
	for (int i = 0; i < F_COUNT; i++)
		free(o->f[i]);
	free(o->windows);
	free(o->win);
	memset(o, 0, sizeof(*o));
}

const char *ctl_order_state(const struct ctl_order *o)
{
	if (!o->exists)
		return "unknown";
	if (!o->in_force)
		return "revoked";
	if (o->expired)
		return "expired";
	return "in force";
}

const char *ctl_order_active_text(const struct ctl_order *o, char *buf)
{
	char tb[32];

	if (!o->next_change)
		return o->active ? "yes" : "no";
	snprintf(buf, 64, "%s, %s %s", o->active ? "yes" : "no", o->active ? "until" : "from",
		 ctl_fmt_time(o->next_change, tb));
	return buf;
}

/* The windows of o, and whether it applies now (order.h, scope aside). */
static void order_windows(struct ctl_order *o, const char *windows)
{
	struct rs_order ro = { .in_scope = true };
	int64_t now = (int64_t)time(NULL);
	char why[400];
	int rc;

	if (!(o->windows = strdup(windows ? windows : "")))
		errx(CTL_EXIT_ERROR, "out of memory");
	rc = rs_windows_parse(o->windows, NULL, &o->win, &o->nwin, why, sizeof(why));
	if (rc == RS_ENOMEM)
		errx(CTL_EXIT_ERROR, "out of memory");
	o->bad_windows = rc != 0;
	if (!o->in_force || o->bad_expires || o->bad_windows)
		return;
	ro.expires = o->expires;
	ro.win = o->win;
	ro.nwin = o->nwin;
	o->active = rs_order_applies(&ro, now);
	o->next_change = rs_order_next_transition(&ro, now);
}

int ctl_order_load(struct ctl *x, const char *id, bool with_count, struct ctl_order *o)
{
	char k[CTL_KEY_MAX], *windows = NULL;
	redisReply *r;

	memset(o, 0, sizeof(*o));
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->ndomains = -1;
	r = ctl_cmd(&x->conn, "HGETALL", "HGETALL %s", ctl_key(x, k, "order:%s", id));
	if (!r)
		return ctl_redis_failed(x);
	if (r->type == REDIS_REPLY_ARRAY) {
		size_t step = 2;
		o->exists = r->elements > 0;
		for (size_t i = 0; i + 1 < r->elements; i += step)
			for (int f = 0; f < F_COUNT; f++)
				if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, ctl_order_fields[f]) == 0 &&
				    r->element[i + 1]->type == REDIS_REPLY_STRING && !o->f[f])
					o->f[f] = strdup(r->element[i + 1]->str);
		for (size_t i = 0; i + 1 < r->elements && !windows; i += 2)
			if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, "windows") == 0 &&
			    r->element[i + 1]->type == REDIS_REPLY_STRING && !(windows = strdup(r->element[i + 1]->str)))
				errx(CTL_EXIT_ERROR, "out of memory");
	}
	freeReplyObject(r);
	for (int f = 0; f < F_COUNT; f++)
		if (!o->f[f] && !(o->f[f] = strdup("")))
			errx(CTL_EXIT_ERROR, "out of memory");
	r = ctl_cmd(&x->conn, "SISMEMBER", "SISMEMBER %s %s", ctl_key(x, k, "orders"), id);
	if (!r) {
		free(windows);
		return ctl_redis_failed(x);
	}
	o->in_force = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (*o->f[F_EXPIRES]) {
		if (rs_rfc3339_parse(o->f[F_EXPIRES], &o->expires)) {
			o->bad_expires = true;
		} else {
			if (o->expires == 0)
				o->expires = 1;
			o->expired = o->expires <= (int64_t)time(NULL);
		}
	}
	order_windows(o, windows);
	free(windows);
	if (with_count) {
		r = ctl_cmd(&x->conn, "SCARD", "SCARD %s", ctl_key(x, k, "order:%s:domains", id));
		if (!r)
			return ctl_redis_failed(x);
		o->ndomains = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
		freeReplyObject(r);
	}
	if (x->writing) { /* a write command: its change of this order is signed (ctl_sign.h) */
		int ex = ctl_sign_prepare(x, o);
		if (ex)
			ctl_order_clear(o); /* callers free nothing after a failed load */
		return ex;
	}
	return 0;
}

const char *const ctl_stream_ops[] = { "order", "revoke", "add", "del", "protect", "unprotect", "dataset",
				       "addip", "delip", "protectip", "unprotectip", "confirmip", "unconfirmip", "signed",
				       "signed-protected",
				       NULL };

/* ---- validation ---- */

bool ctl_text_ok(const char *s, size_t max, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n > max) {
		*why = "too long";
		return false;
	}
	while (*p) {
		int len;
		uint32_t c;
		if (*p < 0x20 || *p == 0x7f) {
			*why = "contains a control character (newline, tab, ...)";
			return false;
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		len = (*p >= 0xc2 && *p <= 0xdf) ? 2 : (*p >= 0xe0 && *p <= 0xef) ? 3 : (*p >= 0xf0 && *p <= 0xf4) ? 4 : 0;
		if (!len)
			goto bad;
		c = *p & (0x7f >> len);
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				goto bad;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
			goto bad;
		if ((c >= 0x80 && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) {
			*why = "contains a control or bidirectional-override character";
			return false;
		}
		p += len;
	}
	return true;
bad:
	*why = "is not valid UTF-8";
	return false;
}

/* ---- output ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ctl_sort_strings(const char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
}

void ctl_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int ctl_set_members(struct ctl *x, const char *key, char ***out, size_t *np)
{
	char cursor[32] = "0";
	char **v = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*np = 0;
	do {
		redisReply *r = ctl_cmd(&x->conn, "SSCAN", "SSCAN %s %s COUNT 10000", key, cursor);
		if (!r) {
			ctl_free_strings(v, n);
			return ctl_redis_failed(x);
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			ctl_free_strings(v, n);
			warnx("Redis %s: SSCAN %s: unexpected reply", x->conn.ep.addr, key);
			return CTL_EXIT_ERROR;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *m = r->element[1]->element[i];
			if (m->type != REDIS_REPLY_STRING)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				char **nv = realloc(v, cap * sizeof(*nv));
				if (!nv)
					errx(CTL_EXIT_ERROR, "out of memory");
				v = nv;
			}
			if (!(v[n++] = strdup(m->str)))
				errx(CTL_EXIT_ERROR, "out of memory");
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	ctl_sort_strings((const char **)v, n);
	if (n > 1) { /* SSCAN may return a member twice */
		size_t k = 1;
		for (size_t i = 1; i < n; i++) {
			if (strcmp(v[i], v[k - 1]) == 0)
				free(v[i]);
			else
				v[k++] = v[i];
		}
		n = k;
	}
	*out = v;
	*np = n;
	return 0;
}

void ctl_json_str(FILE *f, const char *s)
{
	struct rs_buf b = { 0 };

	rs_buf_json(&b, s ? s : "");
	if (b.oom)
		errx(CTL_EXIT_ERROR, "out of memory");
	fputs(b.s, f);
	free(b.s);
}

char *ctl_fmt_time(int64_t t, char *buf)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0) {
		strcpy(buf, "-");
		return buf;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *ctl_fmt_id_time(const char *id, char *buf)
{
	long long ms = atoll(id);
	struct tm tm;
	time_t tt = (time_t)(ms / 1000);

	gmtime_r(&tt, &tm);
	strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), 40 - strlen(buf), ".%03lldZ", ms % 1000);
	return buf;
}

char *ctl_fmt_age(int64_t t, int64_t now, char *buf)
{
	int64_t d = now - t, a = d < 0 ? -d : d;
	const char *u = "s";

	if (t == 0) {
		strcpy(buf, "never");
		return buf;
	}
	if (a >= 2 * 86400)
		a /= 86400, u = "d";
	else if (a >= 2 * 3600)
		a /= 3600, u = "h";
	else if (a >= 120)
		a /= 60, u = "m";
	snprintf(buf, 32, d < 0 ? "in %lld%s" : "%lld%s ago", (long long)a, u);
	return buf;
}

int ctl_id_cmp(const char *a, const char *b)
{
	unsigned long long ams = strtoull(a, NULL, 10), bms = strtoull(b, NULL, 10), as = 0, bs = 0;
	const char *da = strchr(a, '-'), *db = strchr(b, '-');

	if (da)
		as = strtoull(da + 1, NULL, 10);
	if (db)
		bs = strtoull(db + 1, NULL, 10);
	if (ams != bms)
		return ams < bms ? -1 : 1;
	if (as != bs)
		return as < bs ? -1 : 1;
	return 0;
}

int ctl_parse_when(const char *s, int64_t now, int64_t *out)
{
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (s[0] == '-' || s[0] == '+') {
		char *end;
		long long v = strtoll(s + 1, &end, 10);
		int64_t mul = 0;
		if (end == s + 1 || v < 0)
			return RS_EINVAL;
		if (strcmp(end, "d") == 0)
			mul = 86400;
		else if (strcmp(end, "h") == 0)
			mul = 3600;
		else if (strcmp(end, "m") == 0)
			mul = 60;
		else if (strcmp(end, "s") == 0 || !*end)
			mul = 1;
		else
			return RS_EINVAL;
		*out = now + (s[0] == '-' ? -1 : 1) * (int64_t)v * mul;
		return 0;
	}
	return rs_rfc3339_parse(s, out);
}

void ctl_table_row(struct ctl_table *t, size_t ncols, ...)
{
	va_list ap;

	if (t->ncols == 0)
		t->ncols = ncols;
	if ((t->nrows + 1) * t->ncols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : t->ncols * 32;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (!c)
			errx(CTL_EXIT_ERROR, "out of memory");
		t->cells = c;
		t->cap = cap;
	}
	va_start(ap, ncols);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = i < ncols ? va_arg(ap, const char *) : "";
		char shown[1200];
		/* texts from Redis may hold anything: never send control or bidi characters to a terminal */
		ctl_show(s ? s : "", s ? strlen(s) : 0, 200, shown, sizeof(shown));
		t->cells[t->nrows * t->ncols + i] = strdup(shown);
	}
	va_end(ap);
	t->nrows++;
}

/* Display width: code points (good enough for the Latin/Cyrillic texts of orders). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void ctl_table_print(struct ctl_table *t, FILE *f)
{
	size_t w[32] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols && c < 32; c++) {
			size_t n = width(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols) {
				fprintf(f, "%s\n", s);
			} else {
				fputs(s, f);
				for (size_t k = width(s); k < w[c] + 2; k++)
					fputc(' ', f);
			}
		}
	}
}

void ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ctl_progress_start(struct ctl *x, struct ctl_progress *p, const char *label, size_t total)
{
	p->on = x->tty;
	p->label = label;
	p->total = total;
	p->last = 0;
	ctl_progress_set(p, 0);
}

void ctl_progress_set(struct ctl_progress *p, size_t done)
{
	double now;
	int pct, bar;

	if (!p->on)
		return;
	now = mono();
	if (now - p->last < 0.1 && done < p->total)
		return;
	p->last = now;
	pct = p->total ? (int)(done * 100 / p->total) : 100;
	bar = pct * 30 / 100;
	fprintf(stderr, "\r%-10s [%.*s%*s] %3d%%  %zu/%zu", p->label, bar, "##############################",
		30 - bar, "", pct, done, p->total);
	fflush(stderr);
}

void ctl_progress_end(struct ctl_progress *p)
{
	if (!p->on)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	p->on = false;
}

/* ---- the change stream ---- */

/* Appends the stream entries of a batch; it runs inside the caller's MULTI/EXEC,
 * so it is atomic with the set changes queued beside it. */
static const char change_script[] =
	"#!lua\n"
	"-- redsink-ctl: one `changes` entry per domain (doc/redis-schema.md)\n"
	"-- KEYS[1]: the stream; ARGV: op, order, by, why, override ('' = none), field, value...\n"
	"-- (field: 'domain', or 'prefix' for the address ops)\n"
	"local last\n"
	"for i = 7, #ARGV do\n"
	"  if ARGV[5] == '' then\n"
	"    last = redis.call('XADD', KEYS[1], '*', 'op', ARGV[1], 'order', ARGV[2], ARGV[6], ARGV[i],\n"
	"                      'by', ARGV[3], 'why', ARGV[4])\n"
	"  else\n"
	"    last = redis.call('XADD', KEYS[1], '*', 'op', ARGV[1], 'order', ARGV[2], ARGV[6], ARGV[i],\n"
	"                      'by', ARGV[3], 'why', ARGV[4], 'override', ARGV[5])\n"
	"  end\n"
	"end\n"
	"return last\n";

void ctl_queue_change(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *domain,
		      const char *why, const char *override)
{
	ctl_queue_change_extra(x, t, op, order, domain, why, override, NULL, 0);
}

void ctl_queue_change_extra(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *domain,
			    const char *why, const char *override, const char *const *extra, size_t nextra)
{
	ctl_queue_change_field(x, t, op, order, "domain", domain, why, override, extra, nextra);
}

void ctl_queue_change_field(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *field,
			    const char *value, const char *why, const char *override, const char *const *extra,
			    size_t nextra)
{
	char k[CTL_KEY_MAX], ovr[128];
	const char *argv[15 + 2 * (1 + 2 * F_COUNT)] = { "XADD", ctl_key(x, k, "changes"), "*", "op", op, "order", order,
							 field, value, "by", x->by, "why", why };
	size_t lens[sizeof(argv) / sizeof(argv[0])];
	int argc = 13;

	override = ctl_sign_override(x, order, override, ovr, sizeof(ovr));
	if (override && *override) {
		argv[argc++] = "override";
		argv[argc++] = override;
	}
	for (size_t i = 0; i + 1 < nextra && (size_t)argc + 2 <= sizeof(argv) / sizeof(argv[0]); i += 2) {
		argv[argc++] = extra[i];
		argv[argc++] = extra[i + 1];
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	ctl_tx_argv(t, argc, argv, lens);
	ctl_sign_note(x, t, op, order, &value, *value ? 1 : 0, extra, nextra);
}

void ctl_queue_changes(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char **names,
		       size_t n, const char *why, const char *override, bool *first)
{
	ctl_queue_changes_field(x, t, op, order, "domain", names, n, why, override, first);
}

void ctl_queue_changes_field(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *field,
			     const char **names, size_t n, const char *why, const char *override, bool *first)
{
	char k[CTL_KEY_MAX], ovr[128];
	const char **argv;
	size_t *lens, i = 0;

	if (n == 0)
		return;
	override = ctl_sign_override(x, order, override, ovr, sizeof(ovr));
	if (*first) {
		ctl_queue_change_field(x, t, op, order, field, names[0], why, override, NULL, 0);
		*first = false;
		i = 1;
	}
	argv = malloc((CTL_CHUNK + 10) * sizeof(*argv));
	lens = malloc((CTL_CHUNK + 10) * sizeof(*lens));
	if (!argv || !lens)
		errx(CTL_EXIT_ERROR, "out of memory");
	while (i < n) {
		size_t m = n - i < CTL_CHUNK ? n - i : CTL_CHUNK;
		size_t room = ctl_sign_room(x, order); /* a signed version ends here: its entry follows these */
		int argc = 0;
		if (m > room)
			m = room;
		argv[argc++] = "EVAL";
		argv[argc++] = change_script;
		argv[argc++] = "1";
		argv[argc++] = ctl_key(x, k, "changes");
		argv[argc++] = op;
		argv[argc++] = order;
		argv[argc++] = x->by;
		argv[argc++] = why;
		argv[argc++] = override ? override : "";
		argv[argc++] = field;
		for (size_t j = 0; j < m; j++)
			argv[argc++] = names[i + j];
		for (int j = 0; j < argc; j++)
			lens[j] = strlen(argv[j]);
		ctl_tx_argv(t, argc, argv, lens);
		ctl_sign_note(x, t, op, order, names + i, m, NULL, 0);
		i += m;
	}
	free(argv);
	free(lens);
}

/* ---- main ---- */

static const struct {
	const char *name;
	int (*fn)(struct ctl *x, int argc, char **argv);
} commands[] = {
	{ "order", cmd_order },	      { "push", cmd_push },	{ "withdraw", cmd_withdraw },
	{ "protect", cmd_protect },   { "expire", cmd_expire }, { "status", cmd_status },
	{ "export", cmd_export },     { "log", cmd_log },
	{ "dataset", cmd_dataset },
	{ "check", cmd_check },
	{ "validate", cmd_validate },
	{ "fleet", cmd_fleet },
	{ "window", cmd_window },
	{ "receipts", cmd_receipts },
	{ "addip", cmd_addip },
	{ "delip", cmd_delip },
	{ "protect-ip", cmd_protect_ip },
	{ "unprotect-ip", cmd_unprotect_ip },
	{ "confirm-ip", cmd_confirm_ip },
	{ "unconfirm-ip", cmd_unconfirm_ip },
	{ "ip", cmd_ip },
	{ "ticket", cmd_ticket },
	{ "key", cmd_key },
	{ "verify", cmd_verify },
};

static const char *default_by(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	u = getenv("LOGNAME");
	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

int main(int argc, char **argv)
{
	struct ctl x = { 0 };
	int c, rc = 0;

	x.url = getenv("REDSINK_REDIS");
	x.prefix = getenv("REDSINK_PREFIX") ? getenv("REDSINK_PREFIX") : CTL_PREFIX_DEFAULT;
	x.timeout_ms = 5000;
	x.sign_key = getenv("REDSINK_SIGN_KEY");
	x.conn.before_exec = ctl_sign_before_exec; /* the signing step of every write (ctl_sign.h) */
	x.conn.before_exec_arg = &x;
	x.usage = main_usage;
	x.cmd = "";

	/* common options before the command; a bad one is one line of ours */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qh", common_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(main_usage, stdout);
			return 0;
		}
		if (c == '?' || c == ':') {
			cli_bad_option("redsink-ctl", NULL, c, argv[optind - 1], "+:qh", common_opts);
			return CTL_EXIT_USAGE;
		}
		rc = common_opt(&x, c, optarg);
		if (rc)
			return rc < 0 ? 0 : rc;
	}
	if (optind >= argc) {
		fputs(main_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) { /* "help order add" is "order add --help" */
		static char *hargv[4];
		int n = 0;
		if (optind + 1 >= argc || strcmp(argv[optind + 1], "--help") == 0 ||
		    strcmp(argv[optind + 1], "-h") == 0) {
			fputs(main_usage, stdout);
			return 0;
		}
		hargv[n++] = argv[optind + 1];
		if (optind + 2 < argc)
			hargv[n++] = argv[optind + 2];
		hargv[n++] = (char *)"--help";
		hargv[n] = NULL;
		argv = hargv;
		argc = n;
		optind = 0;
	}
	if (!x.by)
		x.by = default_by();
	if (!*x.prefix || strlen(x.prefix) > 100 || strpbrk(x.prefix, " \t\r\n"))
		errx(CTL_EXIT_USAGE, "--prefix: '%s' is empty, too long or has white space", x.prefix);
	x.tty = !x.quiet && isatty(STDERR_FILENO);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			x.cmd = commands[i].name;
			/* --by may come after the command: validated by each writer */
			rc = commands[i].fn(&x, argc - optind, argv + optind);
			if (rc == 0 && x.conn.unreplicated)
				rc = CTL_EXIT_REDIS; /* written, but not yet safe from a failover */
			ctl_sign_free(&x);
			if (x.connected)
				ctl_disconnect(&x.conn);
			ctl_endpoint_free(&x.conn.ep);
			return rc;
		}
	return ctl_usage_error(&x, "unknown command '%.60s'", argv[optind]);
}
