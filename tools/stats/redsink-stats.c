/*
 * redsink-stats.c — the researchers' tool: statistics of blocked answers
 * (and warning-page views) from the hourly counters redsink keeps in Redis.
 *
 *   redsink-stats top|series|regions|export|report [options]
 *   redsink-stats discovered|collateral [options]   (names caught by address
 *                                                   triggers: stats_disc.c)
 *
 * This file is the command line and the Redis side only: it parses options
 * (getopt_long; --help on each command), reads exactly the hour keys inside
 * the window (generated names, HGETALL pipelined; never KEYS or SCAN), the
 * reference and authority of the orders it shows (HMGET), and hands the
 * records to stats_core.c (the one suppressed table of hour cells every
 * output is derived from: see PRIVACY in the man page), stats_out.c
 * (table, CSV, JSON) and stats_html.c (the HTML report). The man page
 * redsink-stats(1) is the reference.
 *
 * Options and exit codes are the tools' one interface (cli.h): the common
 * options may come before or after the command word.
 */
#define _GNU_SOURCE /* asprintf */
#include "rs_config.h"

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <idn2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "load.h"
#include "name.h"
#include "order.h"
#include "rs_err.h"
#include "stats_core.h"
#include "stats_disc.h"
#include "stats_html.h"
#include "stats_out.h"

#define EXIT_USAGE CLI_EXIT_USAGE
#define EXIT_REDIS CLI_EXIT_REDIS
#define PIPELINE 128          /* HGETALLs in flight */
#define DEFAULT_TIMEOUT_MS 10000
#define AUTO_HOURLY_MAX 48    /* windows up to this many hours are shown per hour */

enum cmd { CMD_TOP, CMD_SERIES, CMD_REGIONS, CMD_EXPORT, CMD_REPORT, CMD_DISCOVERED, CMD_COLLATERAL, NCMD };

static const char *const cmd_names[NCMD] = { "top", "series", "regions", "export", "report", "discovered",
					     "collateral" };

enum {
	O_PASSWORD = 256, O_SOURCE, O_FROM, O_TO, O_LAST,
	O_BY, O_ORDER, O_DOMAIN, O_REGION, O_GRAN, O_PERREGION, O_MIN, O_NOSUPP, O_FORMAT, O_CSV, O_JSON, O_HTML,
	O_THRESHOLD,
};

#define C(x) (1u << (x))
#define HITS (C(CMD_TOP) | C(CMD_SERIES) | C(CMD_REGIONS) | C(CMD_EXPORT) | C(CMD_REPORT))
#define DISC (C(CMD_DISCOVERED) | C(CMD_COLLATERAL)) /* discovered:<hour>, not hits: */
#define ALL (HITS | DISC)
#define DEFAULT_THRESHOLD 50 /* collateral: distinct registrable domains per prefix and hour */

/* Which command takes which option. */
static const struct optrow {
	struct option o;
	unsigned cmds;
} optrows[] = {
	{ { "password", required_argument, NULL, O_PASSWORD }, ALL },
	{ { "source", required_argument, NULL, O_SOURCE }, HITS },
	{ { "from", required_argument, NULL, O_FROM }, ALL },
	{ { "to", required_argument, NULL, O_TO }, ALL },
	{ { "last", required_argument, NULL, O_LAST }, ALL },
	{ { "order", required_argument, NULL, O_ORDER }, ALL },
	{ { "domain", required_argument, NULL, O_DOMAIN }, HITS },
	{ { "region", required_argument, NULL, O_REGION }, HITS },
	{ { "min-count", required_argument, NULL, O_MIN }, HITS },
	{ { "no-suppression", no_argument, NULL, O_NOSUPP }, HITS },
	{ { "quiet", no_argument, NULL, 'q' }, ALL },
	{ { "help", no_argument, NULL, 'h' }, ALL },
	{ { "by", required_argument, NULL, O_BY }, C(CMD_TOP) | C(CMD_REGIONS) },
	{ { "per-region", no_argument, NULL, O_PERREGION }, C(CMD_TOP) },
	{ { "limit", required_argument, NULL, 'l' }, C(CMD_TOP) | C(CMD_REGIONS) | C(CMD_REPORT) },
	{ { "granularity", required_argument, NULL, O_GRAN }, C(CMD_SERIES) | C(CMD_REPORT) },
	{ { "format", required_argument, NULL, O_FORMAT }, C(CMD_TOP) | C(CMD_SERIES) | C(CMD_REGIONS) | C(CMD_EXPORT) | DISC },
	{ { "csv", no_argument, NULL, O_CSV }, C(CMD_TOP) | C(CMD_SERIES) | C(CMD_REGIONS) | C(CMD_EXPORT) | DISC },
	{ { "json", no_argument, NULL, O_JSON }, C(CMD_TOP) | C(CMD_SERIES) | C(CMD_REGIONS) | C(CMD_EXPORT) | DISC },
	{ { "output", required_argument, NULL, 'o' }, C(CMD_TOP) | C(CMD_SERIES) | C(CMD_REGIONS) | C(CMD_EXPORT) | DISC },
	{ { "html", required_argument, NULL, O_HTML }, C(CMD_REPORT) },
	{ { "threshold", required_argument, NULL, O_THRESHOLD }, C(CMD_COLLATERAL) },
};
#define NOPTS (sizeof(optrows) / sizeof(optrows[0]))

struct args {
	int cmd;
	struct cli_common cc;    /* --redis, --prefix, --user, --auth-file, --db, --timeout */
	const char *prefix, *source;
	const char *from, *to, *last;
	int by;                  /* enum st_dim, ST_D_NONE: the command's default */
	bool per_region;
	char *order, *domain;
	char region[ST_REGION_MAX];
	int gran;                /* enum st_gran, ST_G_NONE: automatic */
	size_t limit;
	bool limit_set;
	uint64_t min;
	bool min_set, no_supp;
	int fmt;
	bool fmt_set;
	const char *html, *output;
	bool quiet;
	uint64_t threshold;      /* collateral */
};

/* ---- usage ---- */

static const char *const synopsis[NCMD] = {
	"top [--by order|domain|region|country] [--per-region] [--limit N] [--format table|csv|json]\n"
	"Most-hit orders, domains, regions or countries over the window, overall or per region.\n"
	"  --by DIM           what to rank: order (default), domain, region or country\n"
	"  --per-region       rank within each region: the top N of every region\n"
	"  -l, --limit N      rows (per region with --per-region); 0 = all; default 10\n",

	"series [--granularity hour|day] [--format table|csv|json]\n"
	"Hits per hour or per day over the window, for an order, a domain, a region (filters) or all.\n"
	"  --granularity G    hour or day (default: hour for windows up to 48 hours, else day)\n",

	"regions [--by region|country] [--limit N] [--format table|csv|json]\n"
	"Hits by region (ISO 3166-2 subdivision or country; ZZ = unknown) for an order or domain.\n"
	"  --by region|country  regions as counted (default), or added up per country\n"
	"  -l, --limit N      rows; 0 = all (default)\n",

	"export --csv|--json\n"
	"The hourly counts of the window, one row per hour, order, domain and region, for analysis\n"
	"elsewhere. Cells below the minimum count are suppressed here too.\n"
	"  --csv, --json      the format (default csv; also --format csv|json)\n",

	"report --html FILE [--granularity hour|day] [--limit N]\n"
	"One self-contained HTML page: charts of hits over time, by region, top domains and top\n"
	"orders, each with its table (inline CSS and SVG, no script, no external asset).\n"
	"  --html FILE        where to write the page ('-': standard output)\n"
	"  --granularity G    of the time chart: hour or day (default: hour up to 48 hours)\n"
	"  -l, --limit N      rows of the top domains and orders; 0 = all; default 15\n",

	"discovered [--order ID] [--format table|csv|json]\n"
	"Names caught by an address trigger (a listed IPv4/IPv6 prefix in their answer): per name,\n"
	"order and prefix, the blocked replies, the first and last hour seen. The hops of a pirate\n"
	"server from domain to domain. From the discovered:<hour> counters; no client data.\n",

	"collateral [--threshold N] [--order ID] [--format table|csv|json]\n"
	"Prefixes that blocked names of more than N distinct registrable domains in one hour: the\n"
	"signature of a shared address (a CDN, a hosting platform), where an address trigger blocks\n"
	"the innocent too. The unit of the resolvers' collateral alarm (rs_disc_base: the last\n"
	"two labels, three under co.uk-like second levels), so rand1.pirate.example and\n"
	"rand2.pirate.example count once; the distinct names are shown too. Counted over the\n"
	"whole fleet, where each resolver's alarm counts only the names it blocked itself.\n"
	"  --threshold N      distinct registrable domains per prefix and hour (default 50)\n",
};

static const char disc_help[] =
	"Window (UTC; default: the 7 days up to the end of the current hour):\n"
	"  --from TIME        start: RFC 3339 (2026-11-28T19:00:00Z) or a date (2026-11-28)\n"
	"  --to TIME          end, excluded; a date means the end of that day\n"
	"  --last N{h|d}      the N hours or days up to --to (24h, 7d, 30d)\n"
	"Filters:\n"
	"  --order ID         only names this order's prefixes caught\n"
	"Privacy: these counters are about servers (names on a listed address), not people;\n"
	"no small-count suppression applies (see PRIVACY in redsink-stats(1)).\n"
	"Other:\n"
	"  -q, --quiet        no notes on standard error\n"
	"Common options (before or after the command; --timeout default 10000):\n"
	CLI_REDIS_HELP
	CLI_EXIT_TEXT
	"See redsink-stats(1).\n";

static const char output_help[] =
	"Output:\n"
	"  --format FMT       table (default), csv or json; --csv and --json are short for it\n"
	"  -o, --output FILE  write to FILE (replaced when complete) instead of standard output\n";

static const char common_help[] =
	"Window (UTC; default: the 7 days up to the end of the current hour):\n"
	"  --from TIME        start: RFC 3339 (2026-11-28T19:00:00Z) or a date (2026-11-28)\n"
	"  --to TIME          end, excluded; a date means the end of that day\n"
	"  --last N{h|d}      the N hours or days up to --to (24h, 7d, 30d)\n"
	"Filters:\n"
	"  --order ID         only this order's hits\n"
	"  --domain NAME      only this listed domain (Unicode names are converted to A-labels)\n"
	"  --region R         a country (IT: IT and IT-*) or a subdivision (IT-25); ZZ = unknown\n"
	"Privacy:\n"
	"  --min-count N      withhold hour cells below N (default 10; at least 2)\n"
	"  --no-suppression   show every count, small ones included (warned and recorded\n"
	"                     in the output; only for data that is not about people)\n"
	"Other:\n"
	"  --source dns|views blocked DNS answers (hits: keys, default) or warning-page views\n"
	"  -q, --quiet        no notes on standard error\n"
	"Common options (before or after the command; --timeout default 10000):\n"
	CLI_REDIS_HELP
	CLI_EXIT_TEXT
	"See redsink-stats(1).\n";

static void help_main(FILE *f)
{
	fprintf(f, "usage: redsink-stats [options] COMMAND [options]\n"
		   "Hit statistics of redsink's court-ordered blocks, from the hourly counters in Redis.\n\n"
		   "Commands:\n"
		   "  top       most-hit orders, domains or regions over a time window\n"
		   "  series    hits per hour or day for an order, domain or region\n"
		   "  regions   hits by region for an order or domain\n"
		   "  export    the raw hourly counts of a window as CSV or JSON\n"
		   "  report    a self-contained HTML page with charts and tables\n"
		   "  discovered  names caught by address triggers (name, order, prefix, replies)\n"
		   "  collateral  prefixes that blocked names of many distinct domains in an hour (shared addresses)\n\n"
		   "'redsink-stats COMMAND --help' lists a command's options; see redsink-stats(1).\n"
		   "Hourly counts below --min-count (default 10) are withheld in every output, and every\n"
		   "figure is a sum of published hourly counts (see PRIVACY in the man page).\n\n"
		   "Common options (before or after the command):\n" CLI_REDIS_HELP CLI_EXIT_TEXT);
}

static void help_cmd(int cmd)
{
	printf("usage: redsink-stats %s\n%s%s", synopsis[cmd], cmd == CMD_REPORT ? "" : output_help,
	       cmd >= CMD_DISCOVERED ? disc_help : common_help);
}

static void __attribute__((noreturn, format(printf, 2, 3))) usage_err(int cmd, const char *fmt, ...)
{
	va_list ap;

	/* one line: "redsink-stats: top: MESSAGE (usage: ...; see 'redsink-stats top --help')" */
	fprintf(stderr, "redsink-stats: %s%s", cmd >= 0 ? cmd_names[cmd] : "", cmd >= 0 ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (usage: redsink-stats [options] %s%s[options]; see 'redsink-stats %s%s--help')\n",
		cmd >= 0 ? cmd_names[cmd] : "COMMAND", " ", cmd >= 0 ? cmd_names[cmd] : "", cmd >= 0 ? " " : "");
	exit(EXIT_USAGE);
}

/* ---- option values ---- */

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* Canonical form of a domain as written (Unicode converted to A-labels). 0 or -1. */
static int canon_domain(const char *in, char out[RS_NAME_MAX + 1])
{
	char *ascii = NULL;
	int n;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p >= 0x80) {
			if (idn2_to_ascii_8z(in, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
				return -1;
			break;
		}
	}
	n = rs_name_canon(ascii ? ascii : in, strlen(ascii ? ascii : in), out);
	free(ascii);
	return n < 0 ? -1 : 0;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	struct option longopts[NOPTS + CLI_NCOMMON + 1];
	uint64_t v;
	int c;

	memset(longopts, 0, sizeof(longopts));
	for (size_t i = 0; i < NOPTS; i++)
		longopts[i] = optrows[i].o;
	for (size_t i = 0; i < CLI_NCOMMON; i++)
		longopts[NOPTS + i] = cli_common_options[i];
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hqn:l:o:", longopts, NULL)) != -1) {
		if (c >= CLI_O_REDIS && c < CLI_O_LAST && c != CLI_O_JSON) {
			if (cli_common_option(&a->cc, c, optarg))
				exit(EXIT_USAGE); /* the message is printed */
			continue;
		}
		if (c == CLI_O_JSON)
			c = O_JSON;
		if (c == 'n')
			usage_err(a->cmd, "-n is --dry-run in the redsink tools; the row limit is -l or --limit");
		const char *name = NULL;
		for (size_t i = 0; i < NOPTS; i++) {
			if (optrows[i].o.val == c) {
				name = optrows[i].o.name;
				if (!(optrows[i].cmds & C(a->cmd)))
					usage_err(a->cmd, "%s does not take --%s", cmd_names[a->cmd], name);
			}
		}
		switch (c) {
		case 'h':
			help_cmd(a->cmd);
			exit(0);
		case 'q': a->quiet = true; break;
		case O_PASSWORD:
			usage_err(a->cmd, "no password on the command line: use --auth-file or REDSINK_REDIS_PASSWORD "
					  "(formerly --password-file or REDSINK_PASSWORD)");
		case O_SOURCE:
			if (strcmp(optarg, "dns") && strcmp(optarg, "views"))
				usage_err(a->cmd, "--source '%s': expected dns or views", optarg);
			a->source = optarg;
			break;
		case O_FROM: a->from = optarg; break;
		case O_TO: a->to = optarg; break;
		case O_LAST: a->last = optarg; break;
		case O_BY:
			a->by = st_dim_parse(optarg);
			if (a->by == ST_D_NONE)
				usage_err(a->cmd, "--by '%s': expected order, domain, region or country", optarg);
			break;
		case O_PERREGION: a->per_region = true; break;
		case O_ORDER:
			if (!rs_order_id_ok(optarg))
				usage_err(a->cmd, "--order '%s': " RS_ORDER_ID_RULE, optarg);
			a->order = optarg;
			break;
		case O_DOMAIN:
			free(a->domain);
			a->domain = malloc(RS_NAME_MAX + 1);
			if (!a->domain)
				err(1, "out of memory");
			if (canon_domain(optarg, a->domain))
				usage_err(a->cmd, "--domain '%s': not a domain name", optarg);
			break;
		case O_REGION:
			if (st_region_norm(optarg, strlen(optarg), a->region))
				usage_err(a->cmd, "--region '%s': expected a country (IT) or subdivision (IT-25), ISO 3166",
					  optarg);
			break;
		case O_GRAN:
			if (strcmp(optarg, "hour") == 0)
				a->gran = ST_G_HOUR;
			else if (strcmp(optarg, "day") == 0)
				a->gran = ST_G_DAY;
			else
				usage_err(a->cmd, "--granularity '%s': expected hour or day", optarg);
			break;
		case 'l':
			if (!parse_uint(optarg, 1000000, &v))
				usage_err(a->cmd, "--limit '%s': expected a number of rows (0 = all)", optarg);
			a->limit = (size_t)v;
			a->limit_set = true;
			break;
		case O_MIN:
			if (!parse_uint(optarg, (uint64_t)INT64_MAX, &v))
				usage_err(a->cmd, "--min-count '%s': expected a number, at least 2", optarg);
			/* A minimum of 0 or 1 suppresses nothing: turning suppression
			 * off must be explicit, not a side effect of a number. */
			if (v < 2)
				usage_err(a->cmd, "--min-count %s would suppress nothing: use --no-suppression to "
					  "turn suppression off", optarg);
			a->min = v;
			a->min_set = true;
			break;
		case O_NOSUPP: a->no_supp = true; break;
		case O_FORMAT:
		case O_CSV:
		case O_JSON: {
			int f = c == O_CSV ? ST_FMT_CSV : c == O_JSON ? ST_FMT_JSON : -1;
			if (c == O_FORMAT)
				f = strcmp(optarg, "table") == 0 ? ST_FMT_TABLE : strcmp(optarg, "csv") == 0 ? ST_FMT_CSV
						: strcmp(optarg, "json") == 0 ? ST_FMT_JSON : -1;
			if (f < 0)
				usage_err(a->cmd, "--format '%s': expected table, csv or json", optarg);
			if (a->fmt_set && a->fmt != f)
				usage_err(a->cmd, "more than one output format given");
			a->fmt = f;
			a->fmt_set = true;
			break;
		}
		case 'o': a->output = optarg; break;
		case O_HTML: a->html = optarg; break;
		case O_THRESHOLD:
			if (!parse_uint(optarg, 1000000000, &v))
				usage_err(a->cmd, "--threshold '%s': expected a number of distinct registrable domains", optarg);
			a->threshold = v;
			break;
		case ':':
			usage_err(a->cmd, "option %s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_err(a->cmd, "unknown option -%c", optopt);
			usage_err(a->cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_err(a->cmd, "unexpected argument '%s'", argv[optind]);

	a->prefix = a->cc.prefix;
	{ /* a bad endpoint is a usage error, found before any connection */
		struct rs_endpoint e;
		char msg[600];
		if (cli_endpoint_parse(a->cc.redis ? a->cc.redis : CLI_DEFAULT_REDIS, a->cc.redis_from_argv, &e, msg,
				       sizeof(msg)))
			usage_err(a->cmd, "%s%s", a->cc.redis_from_argv ? "--redis: " : "$REDSINK_REDIS: ", msg);
		cli_endpoint_free(&e);
	}
	/* Per-command checks and defaults. */
	if (a->cmd == CMD_TOP && a->per_region && (a->by == ST_D_REGION || a->by == ST_D_COUNTRY))
		usage_err(a->cmd, "--per-region ranks orders or domains, not --by %s", st_dim_name(a->by));
	if (a->cmd == CMD_REGIONS && a->by != ST_D_NONE && a->by != ST_D_REGION && a->by != ST_D_COUNTRY)
		usage_err(a->cmd, "regions --by takes region or country");
	if (a->cmd == CMD_EXPORT) {
		if (a->fmt_set && a->fmt == ST_FMT_TABLE)
			usage_err(a->cmd, "export writes csv or json");
		if (!a->fmt_set)
			a->fmt = ST_FMT_CSV;
	}
	if (a->cmd == CMD_REPORT && !a->html)
		usage_err(a->cmd, "report needs --html FILE");
	if (a->no_supp && a->min_set)
		usage_err(a->cmd, "--no-suppression and --min-count exclude each other");
	if (a->no_supp)
		a->min = 0;
	if (!a->limit_set)
		a->limit = a->cmd == CMD_TOP ? 10 : a->cmd == CMD_REPORT ? 15 : 0;
}

/* ---- Redis ---- */

static const char *redis_addr; /* the address in use, for messages */

static redisContext *connect_redis(const struct args *a)
{
	static char addr[600];
	struct rs_endpoint e;
	redisContext *c;
	char msg[512];
	int rc = cli_endpoint(&a->cc, &e);

	if (rc)
		exit(rc);
	snprintf(addr, sizeof(addr), "%s", e.addr);
	redis_addr = addr;
	if (rs_redis_connect(&e, a->cc.timeout_ms, &c, msg, sizeof(msg))) {
		cli_endpoint_free(&e);
		warnx("%s", msg);
		exit(EXIT_REDIS);
	}
	cli_endpoint_free(&e);
	return c;
}

/* An error reply that means we may not read at all: exit 4. */
static bool auth_error(const redisReply *r)
{
	return strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "NOPERM", 6) == 0 ||
	       strncmp(r->str, "WRONGPASS", 9) == 0;
}

static void __attribute__((noreturn)) redis_lost(redisContext *c)
{
	warnx("Redis %s: %s", redis_addr, c->errstr[0] ? c->errstr : "connection lost");
	exit(EXIT_REDIS);
}

/* Read the hour keys of w (and only those) into d. */
static void fetch_hits(redisContext *c, const struct args *a, const struct st_window *w, const struct st_filter *f,
		       struct st_data *d)
{
	const char *src = strcmp(a->source, "views") == 0 ? "views" : "hits";
	size_t badkeys = 0;

	for (int64_t h = w->h0; h < w->h1; h += PIPELINE) {
		int64_t n = w->h1 - h < PIPELINE ? w->h1 - h : PIPELINE;
		char key[32];
		for (int64_t i = 0; i < n; i++) {
			st_hour_key(h + i, key, sizeof(key));
			if (redisAppendCommand(c, "HGETALL %s%s:%s", a->prefix, src, key) != REDIS_OK)
				redis_lost(c);
		}
		for (int64_t i = 0; i < n; i++) {
			redisReply *r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
				redis_lost(c);
			if (r->type == REDIS_REPLY_ERROR) {
				if (auth_error(r))
					errx(EXIT_REDIS, "Redis: HGETALL refused: %s", r->str);
				st_hour_key(h + i, key, sizeof(key));
				if (badkeys++ < 5 && !a->quiet)
					warnx("skipping %s%s:%s: %s", a->prefix, src, key, r->str);
			} else if (r->type == REDIS_REPLY_ARRAY) {
				for (size_t j = 0; j + 1 < r->elements; j += 2) {
					redisReply *k = r->element[j], *v = r->element[j + 1];
					int rc;
					if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
						d->malformed++;
						continue;
					}
					rc = st_data_add(d, h + i, k->str, k->len, v->str, v->len, f);
					if (rc == RS_ENOMEM)
						errx(1, "out of memory reading %s", key);
				}
			}
			freeReplyObject(r);
		}
	}
	if (badkeys > 5 && !a->quiet)
		warnx("skipped %zu keys that are not hashes", badkeys);
}

/* Reference and authority of every order in d (missing orders stay NULL). */
static void fetch_orders(redisContext *c, const struct args *a, const struct st_data *d, struct st_orders *o)
{
	bool *is_order = calloc(d->str.n + 1, sizeof(*is_order));
	uint32_t *ids;
	size_t n = 0;

	o->n = d->str.n;
	o->authority = calloc(d->str.n + 1, sizeof(char *));
	o->reference = calloc(d->str.n + 1, sizeof(char *));
	ids = calloc(d->str.n + 1, sizeof(*ids));
	if (!is_order || !o->authority || !o->reference || !ids)
		err(1, "out of memory");
	for (size_t i = 0; i < d->n; i++) {
		if (!is_order[d->rec[i].order]) {
			is_order[d->rec[i].order] = true;
			ids[n++] = d->rec[i].order;
		}
	}
	for (size_t b = 0; b < n; b += PIPELINE) {
		size_t m = n - b < PIPELINE ? n - b : PIPELINE;
		for (size_t i = 0; i < m; i++)
			if (redisAppendCommand(c, "HMGET %sorder:%s reference authority", a->prefix,
					       st_str(&d->str, ids[b + i])) != REDIS_OK)
				redis_lost(c);
		for (size_t i = 0; i < m; i++) {
			redisReply *r = NULL;
			uint32_t id = ids[b + i];
			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
				redis_lost(c);
			if (r->type == REDIS_REPLY_ERROR && auth_error(r))
				errx(EXIT_REDIS, "Redis: HMGET refused: %s", r->str);
			if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
				if (r->element[0]->type == REDIS_REPLY_STRING && !(o->reference[id] = strdup(r->element[0]->str)))
					err(1, "out of memory");
				if (r->element[1]->type == REDIS_REPLY_STRING && !(o->authority[id] = strdup(r->element[1]->str)))
					err(1, "out of memory");
			}
			freeReplyObject(r);
		}
	}
	free(ids);
	free(is_order);
}

static void orders_free(struct st_orders *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		free(o->authority[i]);
		free(o->reference[i]);
	}
	free(o->authority);
	free(o->reference);
}

/* ---- output files ---- */

struct outfile {
	FILE *f;
	const char *path; /* NULL: standard output */
	char *tmp;
};

static void out_open(struct outfile *o, const char *path)
{
	mode_t mask;
	int fd;

	memset(o, 0, sizeof(*o));
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return;
	}
	o->path = path;
	if (asprintf(&o->tmp, "%s.XXXXXX", path) < 0)
		err(1, "out of memory");
	fd = mkstemp(o->tmp);
	if (fd < 0)
		err(1, "%s", o->tmp);
	/* mkstemp makes the file 0600: give it the mode a new file would get. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask))
		err(1, "%s", o->tmp);
	o->f = fdopen(fd, "w");
	if (!o->f)
		err(1, "%s", o->tmp);
}

/* Finish the output: rename the temporary file into place. 0 or 1 (reported). */
static int out_close(struct outfile *o, int rc)
{
	if (!o->path) {
		if (fflush(stdout) || ferror(stdout)) {
			warn("standard output");
			return 1;
		}
		return rc ? 1 : 0;
	}
	if (fflush(o->f) || ferror(o->f) || fsync(fileno(o->f)))
		rc = rc ? rc : RS_EIO;
	if (fclose(o->f))
		rc = rc ? rc : RS_EIO;
	if (rc == 0 && rename(o->tmp, o->path) == 0) {
		free(o->tmp);
		return 0;
	}
	warn("%s", o->path);
	unlink(o->tmp);
	free(o->tmp);
	return 1;
}

/* Read the discovered:<hour> hashes of w (and only those) into d. */
static void fetch_discovered(redisContext *c, const struct args *a, const struct st_window *w, struct sd_data *d)
{
	size_t badkeys = 0;

	for (int64_t h = w->h0; h < w->h1; h += PIPELINE) {
		int64_t n = w->h1 - h < PIPELINE ? w->h1 - h : PIPELINE;
		char key[32];
		for (int64_t i = 0; i < n; i++) {
			st_hour_key(h + i, key, sizeof(key));
			if (redisAppendCommand(c, "HGETALL %sdiscovered:%s", a->prefix, key) != REDIS_OK)
				redis_lost(c);
		}
		for (int64_t i = 0; i < n; i++) {
			redisReply *r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
				redis_lost(c);
			if (r->type == REDIS_REPLY_ERROR) {
				if (auth_error(r))
					errx(EXIT_REDIS, "Redis: HGETALL refused: %s", r->str);
				st_hour_key(h + i, key, sizeof(key));
				if (badkeys++ < 5 && !a->quiet)
					warnx("skipping %sdiscovered:%s: %s", a->prefix, key, r->str);
			} else if (r->type == REDIS_REPLY_ARRAY) {
				for (size_t j = 0; j + 1 < r->elements; j += 2) {
					redisReply *k = r->element[j], *v = r->element[j + 1];
					if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
						d->malformed++;
						continue;
					}
					if (sd_data_add(d, h + i, k->str, k->len, v->str, v->len, a->order) == RS_ENOMEM)
						errx(1, "out of memory reading %s", key);
				}
			}
			freeReplyObject(r);
		}
	}
	if (badkeys > 5 && !a->quiet)
		warnx("skipped %zu keys that are not hashes", badkeys);
}

/* discovered, collateral: the discovered:<hour> counters, no suppression (data about servers). */
static int run_disc(const struct args *a, const struct st_window *w)
{
	struct sd_meta m = { .w = *w, .order = a->order, .threshold = a->threshold };
	struct sd_data d = { 0 };
	struct outfile o;
	redisContext *c = connect_redis(a);
	int rc;

	fetch_discovered(c, a, w, &d);
	redisFree(c);
	m.malformed = d.malformed;
	if (d.malformed && !a->quiet)
		warnx("skipped %zu malformed discovered field%s (the first: %s)", d.malformed, d.malformed == 1 ? "" : "s",
		      d.first_bad[0] ? d.first_bad : "not a string");
	out_open(&o, a->output);
	if (a->cmd == CMD_DISCOVERED) {
		struct sd_row *rows;
		size_t n;
		if (sd_discovered(&d, &rows, &n))
			errx(1, "out of memory");
		rc = sd_render_discovered(o.f, a->fmt, &m, &d, rows, n);
		free(rows);
	} else {
		struct sd_coll *rows;
		size_t n;
		if (sd_collateral(&d, a->threshold, &rows, &n))
			errx(1, "out of memory");
		rc = sd_render_collateral(o.f, a->fmt, &m, &d, rows, n);
		free(rows);
	}
	sd_data_free(&d);
	return out_close(&o, rc);
}

/* ---- commands ---- */

struct ctx {
	struct args *a;
	struct st_window w;
	struct st_filter f;
	struct st_data d;
	struct st_orders orders;
	char *order_label; /* "ID (reference, authority)" with --order */
	struct st_table fine; /* hour cells of the window, unfiltered, suppressed */
	int64_t now_h;     /* the current hour: later ones are the future */
};

static const char *source_words(const struct args *a)
{
	return strcmp(a->source, "views") == 0 ? "Warning-page views" : "DNS hits";
}

static void table_build(struct ctx *x, const struct st_spec *sp, struct st_table *t)
{
	/* Every output from the one suppressed table of hour cells: see st_derive. */
	if (st_derive(&x->fine, &x->d, &x->f, &x->w, sp, t))
		errx(1, "out of memory");
}

/* Render t (suppressed and sorted) to the output; 0 or the exit status 1. */
static int emit(struct ctx *x, const struct st_table *t, const char *title, const char *by, const struct st_col *cols,
		size_t ncols)
{
	struct args *a = x->a;
	struct st_meta m = {
		.command = cmd_names[a->cmd],
		.source = a->source,
		.title = title,
		.w = x->w,
		.filter = &x->f,
		.by = by,
		.gran = t->spec.gran,
		.limit = a->limit,
		.malformed = x->d.malformed,
		.order_label = x->order_label,
		.orders = &x->orders,
	};
	struct outfile o;
	int rc;

	out_open(&o, a->output);
	rc = st_render(o.f, a->fmt, &m, t, &x->d.str, cols, ncols);
	if (rc == RS_ENOMEM)
		errx(1, "out of memory");
	if (out_close(&o, rc))
		return 1;
	if (a->fmt != ST_FMT_TABLE && !a->quiet) {
		char stmt[320];
		st_supp_statement(t, stmt, sizeof(stmt));
		warnx("privacy: %s", stmt);
	}
	return 0;
}

static int cmd_top(struct ctx *x)
{
	struct args *a = x->a;
	int by = a->by ? a->by : ST_D_ORDER, kd = 0;
	struct st_spec sp = { 0 };
	struct st_col cols[6];
	struct st_table t;
	size_t nc = 0;
	char title[160];
	int rc;

	if (a->per_region) {
		sp.dim[0] = ST_D_REGION;
		sp.dim[1] = by;
		sp.group = 1;
		cols[nc++] = (struct st_col){ ST_C_DIM, 0, "region" };
		kd = 1;
	} else {
		sp.dim[0] = by;
	}
	table_build(x, &sp, &t);
	st_sort_rank(&t, &x->d.str);
	cols[nc++] = (struct st_col){ ST_C_RANK, 0, "rank" };
	cols[nc++] = (struct st_col){ ST_C_DIM, kd, st_dim_name(by) };
	if (by == ST_D_ORDER) {
		cols[nc++] = (struct st_col){ ST_C_REFERENCE, kd, "reference" };
		cols[nc++] = (struct st_col){ ST_C_AUTHORITY, kd, "authority" };
	}
	cols[nc++] = (struct st_col){ ST_C_HITS, 0, "hits" };
	snprintf(title, sizeof(title), "%s by %s%s", source_words(a), st_dim_name(by),
		 a->per_region ? ", ranked within each region" : "");
	rc = emit(x, &t, title, st_dim_name(by), cols, nc);
	st_table_free(&t);
	return rc;
}

static int auto_gran(const struct ctx *x)
{
	if (x->a->gran)
		return x->a->gran;
	return x->w.h1 - x->w.h0 <= AUTO_HOURLY_MAX ? ST_G_HOUR : ST_G_DAY;
}

static int cmd_series(struct ctx *x)
{
	struct st_spec sp = { .gran = auto_gran(x), .fill = true, .fill_to = x->now_h + 1 };
	/* Days: how many of their hours are inside the window (the first and
	 * last day of a window that does not start at midnight are partial). */
	struct st_col cols[3] = { { ST_C_TIME, 0, sp.gran == ST_G_DAY ? "day" : "hour" }, { ST_C_HITS, 0, "hits" },
				  { ST_C_HOURS, 0, "hours" } };
	struct st_table t;
	char title[160];
	int rc;

	table_build(x, &sp, &t);
	st_sort_time(&t, &x->d.str);
	snprintf(title, sizeof(title), "%s per %s", source_words(x->a), sp.gran == ST_G_DAY ? "day" : "hour");
	rc = emit(x, &t, title, NULL, cols, sp.gran == ST_G_DAY ? 3 : 2);
	st_table_free(&t);
	return rc;
}

static int cmd_regions(struct ctx *x)
{
	int by = x->a->by ? x->a->by : ST_D_REGION;
	struct st_spec sp = { .dim = { by } };
	struct st_col cols[2] = { { ST_C_DIM, 0, st_dim_name(by) }, { ST_C_HITS, 0, "hits" } };
	struct st_table t;
	char title[160];
	int rc;

	table_build(x, &sp, &t);
	st_sort_rank(&t, &x->d.str);
	snprintf(title, sizeof(title), "%s by %s", source_words(x->a), st_dim_name(by));
	rc = emit(x, &t, title, st_dim_name(by), cols, 2);
	st_table_free(&t);
	return rc;
}

static int cmd_export(struct ctx *x)
{
	struct st_spec sp = { .gran = ST_G_HOUR, .dim = { ST_D_ORDER, ST_D_DOMAIN, ST_D_REGION } };
	struct st_col cols[5] = {
		{ ST_C_TIME, 0, "hour" }, { ST_C_DIM, 0, "order" }, { ST_C_DIM, 1, "domain" },
		{ ST_C_DIM, 2, "region" }, { ST_C_HITS, 0, "hits" },
	};
	struct st_table t;
	char title[160];
	int rc;

	table_build(x, &sp, &t);
	st_sort_time(&t, &x->d.str);
	snprintf(title, sizeof(title), "%s per hour, order, domain and region", source_words(x->a));
	rc = emit(x, &t, title, NULL, cols, 5);
	st_table_free(&t);
	return rc;
}

static int cmd_report(struct ctx *x)
{
	struct args *a = x->a;
	struct st_spec sp_time = { .gran = auto_gran(x), .fill = true, .fill_to = x->now_h + 1 };
	struct st_spec sp_reg = { .dim = { ST_D_REGION } }, sp_dom = { .dim = { ST_D_DOMAIN } };
	struct st_spec sp_ord = { .dim = { ST_D_ORDER } };
	struct st_table tt, tr, td, to;
	char title[160], stmt[320];
	struct st_meta m = {
		.command = "report", .source = a->source, .title = title, .w = x->w, .filter = &x->f,
		.malformed = x->d.malformed, .order_label = x->order_label, .orders = &x->orders,
	};
	struct st_report r = {
		.meta = &m, .s = &x->d.str, .time = &tt, .regions = &tr, .domains = &td, .orders = &to,
		.limit = a->limit, .generated = (int64_t)time(NULL), .version = PACKAGE_VERSION,
	};
	struct outfile o;
	int rc;

	snprintf(title, sizeof(title), "redsink: %s on court-ordered blocks",
		 strcmp(a->source, "views") == 0 ? "warning-page views" : "DNS hits");
	table_build(x, &sp_time, &tt);
	st_sort_time(&tt, &x->d.str);
	table_build(x, &sp_reg, &tr);
	st_sort_rank(&tr, &x->d.str);
	table_build(x, &sp_dom, &td);
	st_sort_rank(&td, &x->d.str);
	table_build(x, &sp_ord, &to);
	st_sort_rank(&to, &x->d.str);
	out_open(&o, a->html);
	rc = st_html_report(o.f, &r);
	rc = out_close(&o, rc);
	if (rc == 0 && !a->quiet) {
		st_supp_statement(&tt, stmt, sizeof(stmt));
		if (o.path)
			warnx("wrote %s (privacy: %s)", o.path, stmt);
	}
	st_table_free(&tt);
	st_table_free(&tr);
	st_table_free(&td);
	st_table_free(&to);
	return rc;
}

/* "ID (reference, authority)" for --order, from its hash (or just ID). */
static char *order_label(redisContext *c, const struct args *a)
{
	redisReply *r = redisCommand(c, "HMGET %sorder:%s reference authority", a->prefix, a->order);
	char *label = NULL;

	if (!r)
		redis_lost(c);
	if (r->type == REDIS_REPLY_ERROR && auth_error(r))
		errx(EXIT_REDIS, "Redis: HMGET refused: %s", r->str);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		if (asprintf(&label, "%s (%s, %s)", a->order, r->element[0]->str, r->element[1]->str) < 0)
			label = NULL;
	} else if (asprintf(&label, "%s (no order:%s hash in Redis)", a->order, a->order) < 0) {
		label = NULL;
	}
	freeReplyObject(r);
	if (!label)
		err(1, "out of memory");
	return label;
}

/*
 * Where the command word is: the first argument that is neither an option
 * nor an option's value (a common option may come before the command). -1
 * when there is none.
 */
static int find_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (s[0] != '-' || s[1] == '\0')
			return i;
		if (s[1] == '-') { /* --name or --name=value: skip a separate value */
			size_t n = strcspn(s + 2, "=");
			if (s[2 + n] == '=')
				continue;
			for (size_t j = 0; j < NOPTS + CLI_NCOMMON; j++) {
				const struct option *o = j < NOPTS ? &optrows[j].o : &cli_common_options[j - NOPTS];
				if (strlen(o->name) == n && strncmp(o->name, s + 2, n) == 0) {
					if (o->has_arg == required_argument)
						i++;
					break;
				}
			}
		} else if (strchr("nlo", s[1]) && s[2] == '\0') { /* -l N, -o FILE */
			i++;
		}
	}
	return -1;
}

/* No command word: --help, --version, or a usage error. */
static int no_command(int argc, char **argv)
{
	struct cli_common cc;

	cli_common_init(&cc, "redsink-stats", DEFAULT_TIMEOUT_MS);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			help_main(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0)
			cli_common_option(&cc, CLI_O_VERSION, NULL);
	}
	usage_err(-1, "no command given (top, series, regions, export, report, discovered or collateral)");
}

int main(int argc, char **argv)
{
	static int (*const run[NCMD])(struct ctx *) = { cmd_top, cmd_series, cmd_regions, cmd_export, cmd_report };
	struct args a = {
		.cmd = -1, .prefix = "redsink:", .source = "dns", .min = 10, .threshold = DEFAULT_THRESHOLD,
	};
	struct ctx x = { .a = &a };
	redisContext *c;
	char msg[256];
	int rc, k;

	cli_common_init(&a.cc, "redsink-stats", DEFAULT_TIMEOUT_MS);
	if (argc > 0)
		argv[0] = (char *)"redsink-stats";
	k = find_command(argc, argv);
	if (k < 0)
		return no_command(argc, argv);
	if (strcmp(argv[k], "help") == 0) {
		for (int i = 0; k + 1 < argc && i < NCMD; i++) {
			if (strcmp(argv[k + 1], cmd_names[i]) == 0) {
				help_cmd(i);
				return 0;
			}
		}
		help_main(stdout);
		return 0;
	}
	for (int i = 0; i < NCMD; i++)
		if (strcmp(argv[k], cmd_names[i]) == 0)
			a.cmd = i;
	if (a.cmd < 0)
		usage_err(-1, "unknown command '%s'", argv[k]);
	/* the command word out; the options before and after it stay in order */
	memmove(&argv[k], &argv[k + 1], (size_t)(argc - k) * sizeof(argv[0]));
	parse_args(argc - 1, argv, &a);

	if (st_window_resolve(a.from, a.to, a.last, (int64_t)time(NULL), &x.w, msg, sizeof(msg)))
		usage_err(a.cmd, "%s", msg);
	if (a.cmd >= CMD_DISCOVERED)
		return run_disc(&a, &x.w);
	x.f.order = a.order;
	x.f.domain = a.domain;
	x.f.region = a.region[0] ? a.region : NULL;

	c = connect_redis(&a);
	/* All the window's hits, unfiltered: suppression is decided on the whole
	 * window, so a filter cannot change which cells are withheld. */
	fetch_hits(c, &a, &x.w, NULL, &x.d);
	fetch_orders(c, &a, &x.d, &x.orders);
	if (a.order)
		x.order_label = order_label(c, &a);
	redisFree(c);
	if (x.d.malformed && !a.quiet)
		warnx("skipped %zu malformed counter field%s (the first: %s)", x.d.malformed,
		      x.d.malformed == 1 ? "" : "s", x.d.first_bad[0] ? x.d.first_bad : "not a string");

	if (a.min == 0)
		warnx("warning: --no-suppression: small-count suppression is OFF; every count is shown, "
		      "and the output says so");
	x.now_h = (int64_t)time(NULL) / 3600;
	if (st_fine_build(&x.d, &x.w, a.min, &x.fine))
		errx(1, "out of memory");
	rc = run[a.cmd](&x);
	st_table_free(&x.fine);

	orders_free(&x.orders);
	st_data_free(&x.d);
	free(x.order_label);
	free(a.domain);
	return rc;
}
