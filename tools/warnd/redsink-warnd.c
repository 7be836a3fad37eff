/*
 * redsink-warnd.c — the warning page on the sinkhole address.
 *
 * A browser sent to the sinkhole address by redsink.so asks this server for
 * the blocked site. The server takes the Host of the request, looks it up in
 * its own copy of the list, and answers with a page that says which order
 * blocks the name, issued by whom and when, why, and where to learn more or
 * appeal: 451 Unavailable For Legal Reasons (RFC 7725) with a
 * `Link: <url>; rel="blocked-by"` header. Any other host gets a neutral page.
 * Page views are counted by order, domain and region; no client address is
 * kept. A host that is not listed but was caught by an address trigger (an
 * order's prefix held its address: the module indexed it in
 * discovered-names:<hour>) gets the order's page with the prefix (warnd_disc.c).
 *
 * The list and the counters are the module's own code (module/librsmodule.la),
 * not copies: module/sync.c's thread loads the list, follows the `changes`
 * stream, judges the dataset identity and flushes the counters, in the role
 * of a server that is not a resolver (no heartbeat, no snapshot, no cache
 * purge; /metrics only with --metrics-listen); module/stats.c counts the views (key views:<hour>) in a
 * ring the HTTP thread writes like an Unbound worker, and gives the region of
 * a client (GeoIP) for the page's language too.
 *
 * This file is the glue: options, sockets, privileges, logging, the HTTP
 * handlers. The page logic lives in warnd_text (escaping, Host, languages),
 * warnd_page (templates) and warnd_conn (connection limits).
 */
#include "rs_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "list.h"
#include "ebr.h"
#include "load.h"
#include "name.h"
#include "order.h"
#include "rs_err.h"
#include "stats.h"
#include "sign_key.h"
#include "sync.h"
#include "text.h"
#include "warnd_conn.h"
#include "warnd_disc.h"
#include "warnd_page.h"
#include "warnd_text.h"

#ifndef WD_TEMPLATE_DIR
#define WD_TEMPLATE_DIR "/usr/share/redsink/templates"
#endif

#define PROG "redsink-warnd"
/* The tools' one exit-code scheme (cli.h) under the names this file used
 * when it followed sysexits(3) (64 usage, 66 no input, ...: before issue 11). */
#define EX_USAGE CLI_EXIT_USAGE
#define EX_CONFIG CLI_EXIT_DATA
#define EX_NOINPUT CLI_EXIT_ERROR
#define EX_NOUSER CLI_EXIT_ERROR
#define EX_OSERR CLI_EXIT_ERROR
#define EX_CANTCREAT CLI_EXIT_ERROR
#define MAX_LISTEN 16
#define SEE_HELP "see " PROG " --help or man 8 " PROG
/* /healthz says "degraded" once the change stream has been down this long
 * with a list loaded (a reconnect, or the first XREAD after a load, is not) */
#define DEGRADED_AFTER_MS 3000
#define HEALTH_POLL_MS 500
/* the dataset identity is checked every 2 s while the stream is idle (the
 * module's resolvers: 5 s; redsink-warnd(8), DATASET IDENTITY) */
#define DATASET_PROBE_MS 2000
#define CSP "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; " \
	    "form-action 'none'; frame-ancestors 'none'"

/* ---- options ---- */

struct opts {
	const char *listen[MAX_LISTEN], *tls[MAX_LISTEN];
	size_t nlisten, ntls;
	const char *redis, *write_redis, *redis_user, *password_file, *prefix, *jurisdiction;
	int redis_db, redis_timeout_ms;
	const char *templates, *lang, *geoip;
	int retention_days, flush_ms;
	long max_header, max_body;
	int idle_timeout, conn_timeout;
	long max_conns, max_counters;
	const char *user, *pidfile;
	const char *metrics; /* --metrics-listen HOST:PORT, or NULL */
	const char *trusted; /* --trusted FILE: signed mode (trusted-key, protect-key, revoked-key lines), or NULL */
	bool daemon, syslog, verbose, check;
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "tls-reset", required_argument, NULL, 't' },
	{ "metrics-listen", required_argument, NULL, 1014 },
	{ "trusted", required_argument, NULL, 1015 },
	{ "redis", required_argument, NULL, 'r' },
	{ "write-redis", required_argument, NULL, 'w' },
	{ "redis-db", required_argument, NULL, 1000 },
	{ "redis-user", required_argument, NULL, 1001 },
	{ "redis-password-file", required_argument, NULL, 1002 },
	{ "redis-timeout", required_argument, NULL, 1003 },
	{ "auth-file", required_argument, NULL, 1013 },
	{ "db", required_argument, NULL, 1000 },
	{ "timeout", required_argument, NULL, 1003 },
	{ "prefix", required_argument, NULL, 'P' },
	{ "jurisdiction", required_argument, NULL, 'j' },
	{ "templates", required_argument, NULL, 'T' },
	{ "lang", required_argument, NULL, 'L' },
	{ "geoip", required_argument, NULL, 'g' },
	{ "retention", required_argument, NULL, 1004 },
	{ "flush-interval", required_argument, NULL, 1005 },
	{ "max-header-size", required_argument, NULL, 1006 },
	{ "max-body-size", required_argument, NULL, 1007 },
	{ "idle-timeout", required_argument, NULL, 1008 },
	{ "conn-timeout", required_argument, NULL, 1009 },
	{ "max-connections", required_argument, NULL, 1010 },
	{ "max-counters", required_argument, NULL, 1011 },
	{ "user", required_argument, NULL, 'u' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "daemon", no_argument, NULL, 'd' },
	{ "syslog", no_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "check", no_argument, NULL, 1012 },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"\n"
		"The warning page on redsink's sinkhole address: answers every request for a\n"
		"blocked name with 451 and a page naming the order, and any other host with a\n"
		"neutral page. See redsink-warnd(8).\n"
		"\n"
		"Listening:\n"
		"  -l, --listen ADDR:PORT     HTTP address (repeatable; default 0.0.0.0:80 and [::]:80)\n"
		"  -t, --tls-reset ADDR:PORT  accept TLS connections and reset them at once (repeatable)\n"
		"      --metrics-listen ADDR:PORT  Prometheus /metrics (default: none; keep it private)\n"
		"Redis:\n"
		"  -r, --redis URL            redis://[USER@]HOST[:PORT][/DB], HOST:PORT, [V6]:PORT or\n"
		"                             unix:/PATH of the list ($REDSINK_REDIS, else 127.0.0.1:6379)\n"
		"  -w, --write-redis URL      where page views are counted (default: --redis)\n"
		"      --db N                 database index (default 0; also --redis-db)\n"
		"      --redis-user USER      Redis ACL user (default $REDSINK_REDIS_USER; --user is the\n"
		"                             process user here)\n"
		"      --auth-file FILE       mode 600, first line \"PASSWORD\" or \"USER PASSWORD\" (default\n"
		"                             $REDSINK_REDIS_AUTH_FILE; or $REDSINK_REDIS_PASSWORD)\n"
		"      --timeout MS           connect and command timeout (default 1000; also --redis-timeout)\n"
		"  -P, --prefix PREFIX        key prefix ($REDSINK_PREFIX, else redsink:)\n"
		"  -j, --jurisdiction CC      orders scoped to CC apply too (default: only scope *)\n"
		"      --trusted FILE         signed orders: the resolvers' trusted-key:, protect-key: and\n"
		"                             revoked-key: lines (redsink.conf syntax); pages only for\n"
		"                             verified orders, naming who signed them (default: unsigned)\n"
		"Pages:\n"
		"  -T, --templates DIR        template directory (default " WD_TEMPLATE_DIR ")\n"
		"  -L, --lang TAG             default language (default en)\n"
		"  -g, --geoip FILE           MaxMind DB for regions and the language fallback\n"
		"      --retention DAYS       keep page-view counters this long (default 90)\n"
		"      --flush-interval SEC   write page views every SEC seconds (default 10)\n"
		"      --max-counters N       counters kept while Redis is away (default 100000)\n"
		"Limits:\n"
		"      --max-header-size N    octets of request line + headers (default 8192)\n"
		"      --max-body-size N      octets of a request body (default 4096)\n"
		"      --idle-timeout SEC     inactivity timeout (default 5)\n"
		"      --conn-timeout SEC     lifetime of a connection (default 15)\n"
		"      --max-connections N    open connections; the oldest make room (default 1024)\n"
		"Process:\n"
		"  -u, --user USER            drop privileges to USER after binding\n"
		"  -p, --pidfile FILE         write the process id to FILE\n"
		"  -f, --foreground           stay in the foreground (default)\n"
		"  -d, --daemon               detach (logs go to syslog)\n"
		"  -s, --syslog               log to syslog instead of stderr\n"
		"  -v, --verbose              log every request (never the client's address)\n"
		"      --check                load the templates and the GeoIP DB, then exit\n"
		"  -h, --help                 this text\n"
		"  -V, --version              the version\n"
		"\n"
		"Exit status 0: stopped by SIGTERM/SIGINT, or --check passed.\n"
		CLI_EXIT_TEXT
		"(Here 1 is also an unreadable file, an unknown --user, cannot listen or fork;\n"
		"5 bad templates. Redis down is not an exit: /healthz says degraded.)\n");
}

/* ---- logging ---- */

static bool log_syslog;

static void logv(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO };
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_syslog)
		syslog(prio[level < 0 || level > 2 ? 0 : level], "%s", msg);
	else
		fprintf(stderr, PROG ": %s\n", msg);
}

static void logmsg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logv(level, fmt, ap);
	va_end(ap);
}

static void rs_hook(int level, const char *msg)
{
	logmsg(level, "%s", msg);
}

/* ---- option values ---- */

static long num(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max)
		errx(EX_USAGE, "--%s: '%s' is not a number from %ld to %ld", opt, v, min, max);
	return n;
}

/* An endpoint in the tools' one syntax (cli.h) into e (owned strings). */
static void endpoint(const char *opt, const char *v, struct rs_endpoint *e)
{
	char msg[600];

	if (cli_endpoint_parse(v, true, e, msg, sizeof(msg)))
		errx(EX_USAGE, "--%s: %s (" SEE_HELP ")", opt, msg);
}

/* --metrics-listen: a TCP host:port (the sync thread serves /metrics there, as
 * a resolver's metrics-listen; doc/monitoring.md), into e (owned strings). */
static void metrics_endpoint(const char *v, struct rs_endpoint *e)
{
	const char *colon = strrchr(v, ':');
	/* the port is not optional here (a Redis endpoint defaults to 6379) */
	bool port = colon && colon[1] && (v[0] == '[' ? colon[-1] == ']' : strchr(v, ':') == colon);

	endpoint("metrics-listen", v, e);
	if (!port || !e->host || e->nsentinels || strstr(v, "://")) {
		cli_endpoint_free(e);
		errx(EX_USAGE, "--metrics-listen: '%s' is not ADDR:PORT (" SEE_HELP ")", v);
	}
}

/* ---- sockets ---- */

/* Bind and listen on "ADDR:PORT" / "[ADDR]:PORT". -1 with errno when the
 * address cannot be used. */
static int listen_on(const char *spec, char *why, size_t whylen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	int fd = -1, one = 1, rc;
	size_t hl;

	if (!colon || colon == spec) {
		snprintf(why, whylen, "'%s' is not ADDR:PORT", spec);
		errno = EINVAL;
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[') {
		if (hl < 3 || spec[hl - 1] != ']') {
			snprintf(why, whylen, "'%s' is not [ADDR]:PORT", spec);
			errno = EINVAL;
			return -1;
		}
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(why, whylen, "'%s': address too long", spec);
		errno = EINVAL;
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		snprintf(why, whylen, "'%s': %s", spec, gai_strerror(rc));
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
		goto fail;
	freeaddrinfo(ai);
	return fd;
fail:
	{
		int e = errno;
		snprintf(why, whylen, "%s: %s", spec, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		errno = e;
	}
	return -1;
}

/* ---- the server ---- */

struct server {
	struct opts *o;
	struct event_base *base;
	struct wd_server *http; /* warnd_conn.c: connections, requests, answers */
	struct rs_sync *sync;   /* module/sync.c: the only writer of list */
	struct rs_stats *stats; /* module/stats.c: views:<hour>, and the GeoIP database */
	struct wd_disc *disc;   /* discovered-names:<hour> lookups (HTTP thread) */
	unsigned long long disc_limited; /* rate-limited lookups already logged */
	time_t disc_limited_logged;
	_Atomic(struct rs_list *) list; /* published by sync; empty until its first full load */
	struct wd_templates tmpl;
	struct wd_page_cache *pages; /* rendered pages (warnd_page.h); cleared with a template reload */
	struct rs_conf rc;
	size_t ntls;
	uint64_t requests, blocked, failed;

	/* the last time the list was known current (HTTP thread only): the
	 * change stream was up, or a full load published a list; see health() */
	struct event *health_ev;
	int64_t seen_loads;  /* rs_sync_info's resyncs when last looked at */
	int64_t contact_ms;  /* CLOCK_MONOTONIC */
	time_t contact_wall;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The list to serve, or NULL before the first full load (the sync thread
 * starts from an empty list: "not loaded yet" is not "nothing blocked"). The
 * count of full loads is incremented with release after the list is
 * published, so a list read after it is at least the first loaded one.
 * Call inside a read-side section (ebr.h): the list is freed by the sync
 * thread once no section can hold it. */
static const struct rs_list *served_list(struct server *sv)
{
	if (atomic_load_explicit(&rs_sync_info(sv->sync)->resyncs, memory_order_acquire) == 0)
		return NULL;
	return atomic_load_explicit(&sv->list, memory_order_acquire);
}

static bool link_up(struct server *sv)
{
	return atomic_load_explicit(&rs_sync_info(sv->sync)->link_up, memory_order_relaxed) != 0;
}

/* Note a contact with Redis: the stream is followed, or a full load
 * published a list. Called every HEALTH_POLL_MS and by health(). */
static void health_observe(struct server *sv)
{
	int64_t loads = atomic_load_explicit(&rs_sync_info(sv->sync)->resyncs, memory_order_relaxed);

	if (link_up(sv) || loads != sv->seen_loads) {
		sv->contact_ms = mono_ms();
		sv->contact_wall = time(NULL);
	}
	sv->seen_loads = loads;
}

static void on_health_tick(evutil_socket_t fd, short what, void *arg)
{
	health_observe(arg);
}

static void common_headers(struct wd_reply *rep, const char *type)
{
	wd_reply_header(rep, "Content-Type", type);
	wd_reply_header(rep, "Content-Security-Policy", CSP);
	wd_reply_header(rep, "X-Content-Type-Options", "nosniff");
	wd_reply_header(rep, "Referrer-Policy", "no-referrer");
	wd_reply_header(rep, "Cache-Control", "no-store");
}

static void send_text(struct wd_reply *rep, int code, const char *reason, const char *text)
{
	common_headers(rep, "text/plain; charset=utf-8");
	wd_reply_send(rep, code, reason, text, strlen(text));
}

/*
 * /healthz: 503 "unavailable" before the first list; "ok" while the list
 * follows Redis; 200 but "degraded: ..." while a list is served that may be
 * stale (Redis unreachable for DEGRADED_AFTER_MS or more) or during a dataset
 * alarm. Degraded stays 200: every server of the fleet sees the same Redis,
 * and a load balancer must keep sending users to the page. The header
 * X-Redsink-Health (ok, degraded, unavailable) is for monitoring.
 */
static void health(struct server *sv, struct wd_reply *rep)
{
	char alarm[600], text[700], when[32];
	int64_t down_ms;

	health_observe(sv);
	down_ms = mono_ms() - sv->contact_ms;
	if (rs_sync_dataset_alarm(sv->sync, alarm, sizeof(alarm))) {
		/*
		 * 200: the pages are still served from the kept list, and every
		 * redsink-warnd of the fleet is in the same alarm (a load balancer
		 * must not drop them all). Monitoring sees the body, which is not
		 * "ok", and the header. The operator must act (doc/dataset.md).
		 */
		snprintf(text, sizeof(text), "dataset alarm: %s\n", alarm);
		wd_reply_header(rep, "X-Redsink-Dataset-Alarm",
				  alarm[0] == 'v' ? "vanished" : alarm[0] == 'f' ? "foreign" : "malformed");
		wd_reply_header(rep, "X-Redsink-Health", "degraded");
		send_text(rep, 200, "OK", text);
	} else if (served_list(sv) && !link_up(sv) && down_ms >= DEGRADED_AFTER_MS) {
		/* no client learns the Redis address here: the page is public */
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&sv->contact_wall));
		snprintf(text, sizeof(text), "degraded: Redis unreachable for %lld s; list from %s, may be stale\n",
			 (long long)(down_ms / 1000), when);
		wd_reply_header(rep, "X-Redsink-Health", "degraded");
		send_text(rep, 200, "OK", text);
	} else if (served_list(sv)) {
		wd_reply_header(rep, "X-Redsink-Health", "ok");
		send_text(rep, 200, "OK", "ok\n");
	} else {
		wd_reply_header(rep, "X-Redsink-Health", "unavailable");
		send_text(rep, 503, "Service Unavailable", "unavailable: no list loaded from Redis yet\n");
	}
}

/* The methods that get the page (redsink-warnd(8), ANSWERS). GET and
 * HEAD are the page's own; POST, PUT, DELETE, OPTIONS and PATCH get it too,
 * so that a form or a script sent to a blocked site shows the reason. */
static bool page_method(enum wd_method cmd)
{
	switch (cmd) {
	case WD_M_GET:
	case WD_M_HEAD:
	case WD_M_POST:
	case WD_M_PUT:
	case WD_M_DELETE:
	case WD_M_OPTIONS:
	case WD_M_PATCH:
		return true;
	default:
		return false;
	}
}

/* The page for a host (the request's host: the authority of an absolute-form
 * target wins over the Host header, RFC 9112 section 3.2.2; warnd_http.c). */
static void page(struct server *sv, const struct wd_http_req *req, const struct sockaddr *sa, socklen_t salen,
		 struct wd_reply *rep)
{
	const char *raw = req->host;
	char canon[RS_NAME_MAX + 1], listed[RS_NAME_MAX + 8], shown[WD_HOST_SHOW_MAX + 1];
	char country[3] = "", region[RS_REGION_MAX], issued[11], expires[11];
	enum wd_host hk = wd_host_parse(raw, canon);
	const struct rs_list *list = served_list(sv);
	const struct rs_order *order = NULL;
	const struct rs_entry *entry = NULL;
	const struct rs_pentry *pentry = NULL; /* an address-triggered block */
	char ptext[RS_PREFIX_TEXT_MAX] = "";
	const struct wd_tmpl *t;
	struct wd_page_vals v = { 0 };
	const char *out;
	size_t outlen;
	enum wd_page_kind kind;
	enum wd_method cmd = req->method;
	const char *url = NULL;
	int code;
	time_t now = time(NULL);

	sv->requests++;
	if (hk == WD_HOST_NAME && list) {
		uint8_t wire[RS_WIRE_MAX];
		struct rs_qname q;
		struct rs_match m;
		int wl = rs_domain_wire(canon, strlen(canon), wire);
		if (wl > 0 && rs_qname_prepare(wire, (size_t)wl, &q) >= 0 &&
		    rs_list_match(list, &q, (int64_t)now, &m) == RS_BLOCKED) {
			order = m.order;
			entry = m.entry;
			rs_wire_to_text(rs_entry_wire(m.entry), m.entry->wlen, listed, sizeof(listed));
		}
	}
	/*
	 * Not a listed name: was it caught by an address trigger? Only when the
	 * list holds prefixes; the prefix found must still block (it may have
	 * been withdrawn since the name was counted).
	 */
	if (!order && hk == WD_HOST_NAME && list && sv->disc && rs_list_has_prefixes(list)) {
		struct wd_disc_hit hit;
		int rc = wd_disc_lookup(sv->disc, &sv->rc.read, canon, now, &hit);
		struct rs_prefix p;
		struct rs_match am;
		if (rc < 0)
			logmsg(RS_LOG_WARN, "discovered names: Redis %s unreachable: hosts blocked by their address get "
			       "the neutral page for %d s", sv->rc.read.addr, WD_DISC_BACKOFF_S);
		if (wd_disc_limited(sv->disc) > sv->disc_limited && now >= sv->disc_limited_logged + 60) {
			logmsg(RS_LOG_WARN, "discovered names: %llu lookups over the limit (%d a second) since the start: "
			       "those hosts got the neutral page (logged at most once a minute)",
			       wd_disc_limited(sv->disc), WD_DISC_RATE);
			sv->disc_limited = wd_disc_limited(sv->disc);
			sv->disc_limited_logged = now;
		}
		if (rc == 1 && rs_prefix_parse(hit.prefix, &p, NULL, 0) == 0 &&
		    rs_list_match_addr(list, p.family, p.addr, (int64_t)now, &am) == RS_BLOCKED && am.prefix) {
			order = am.order;
			pentry = am.prefix;
			if (strcmp(am.order->id, hit.order) == 0)
				snprintf(ptext, sizeof(ptext), "%s", hit.prefix);
			else
				rs_prefix_format(&am.prefix->prefix, ptext, sizeof(ptext));
		}
	}
	rs_stats_region(sv->stats, sa, salen, region); /* the same lookup as the view's count */
	if (strcmp(region, "ZZ") != 0)
		memcpy(country, region, 2);
	kind = order ? WD_PAGE_BLOCKED : WD_PAGE_NEUTRAL;
	t = wd_templates_choose(&sv->tmpl, kind, req->accept_language, country);

	if (hk == WD_HOST_NAME) {
		v.domain = canon;
	} else if (raw) {
		size_t n = rs_utf8_prefix(raw, strlen(raw), WD_HOST_SHOW_MAX);
		memcpy(shown, raw, n);
		shown[n] = '\0';
		v.domain = shown;
	}
	if (order) {
		wd_date_part(order->issued, issued);
		wd_date_part(order->expires_text, expires);
		url = wd_url_ok(order->url) ? order->url : NULL;
		v.listed = pentry ? NULL : listed;
		v.prefix = pentry ? ptext : NULL;
		v.order = order->id;
		v.authority = order->authority;
		v.reference = order->reference;
		v.reason = order->reason;
		v.scope = order->scope;
		v.issued = issued;
		v.expires = expires;
		v.url = url;
		v.reason_lang = order->lang;
		/* signed mode (--trusted): the authority whose key signed the verified version */
		v.signer = order->sig ? order->sig->label : NULL;
		v.signer_key = order->sig ? order->sig->key : NULL;
		code = 451;
	} else {
		code = list ? 404 : 503;
		v.unavailable = list ? NULL : "yes";
	}
	/* rendered once per template and values (warnd_page.h), then copied */
	if (wd_page_cached(sv->pages, t, kind, &v, &out, &outlen) != 0) {
		sv->failed++;
		send_text(rep, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	common_headers(rep, "text/html; charset=utf-8");
	wd_reply_header(rep, "Content-Language", t->lang);
	if (url) {
		struct rs_buf link = { 0 };
		rs_buf_adds(&link, "<");
		rs_buf_adds(&link, url);
		rs_buf_adds(&link, ">; rel=\"blocked-by\"");
		if (!link.oom)
			wd_reply_header(rep, "Link", link.s);
		free(link.s);
	}
	if (code == 503)
		wd_reply_header(rep, "Retry-After", "30");
	wd_reply_send(rep, code,
			  code == 451 ? "Unavailable For Legal Reasons" : code == 404 ? "Not Found" : "Service Unavailable",
			  out, outlen);
	if (order) {
		sv->blocked++;
		/*
		 * One record in this thread's ring (stats.h), like an Unbound
		 * worker's hit. It holds the order and entry pointers, not copies:
		 * we are inside on_request's read-side section, and the sync thread
		 * drains the rings after observing the readers and before freeing
		 * (sync.c on_tick), so what a record points to outlives it. The
		 * region is looked up again by the drain (no address is kept).
		 */
		if ((cmd == WD_M_GET || cmd == WD_M_POST) && pentry) {
			static const uint8_t none[1]; /* no name: a view, not a discovered name */
			rs_stats_record_addr(sv->stats, order, &pentry->prefix, none, 0, sa, salen, now);
		} else if (cmd == WD_M_GET || cmd == WD_M_POST) {
			rs_stats_record(sv->stats, order, entry, sa, salen, now);
		}
	}
	if (sv->o->verbose)
		logmsg(RS_LOG_INFO, "%d %s lang=%s region=%s%s%s%s%s", code,
		       hk == WD_HOST_NAME ? canon : hk == WD_HOST_NONE ? "(no host)" : "(not a name)", t->lang, region,
		       order ? " order=" : "", order ? order->id : "", pentry ? " prefix=" : "", pentry ? ptext : "");
}

static void on_request(const struct wd_http_req *req, const struct sockaddr *sa, socklen_t salen,
		       struct wd_reply *rep, void *arg)
{
	struct server *sv = arg;
	const char *path = req->path;

	if (!page_method(req->method)) {
		wd_reply_header(rep, "Allow", "GET, HEAD");
		send_text(rep, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	/* the list, its orders and entries are read (and a view recorded) inside
	 * one section: the sync thread frees nothing this request may still hold
	 * (ebr.h, stats.h) */
	rs_ebr_enter();
	if (strcmp(path, "/healthz") == 0)
		health(sv, rep);
	else if (strcmp(path, "/favicon.ico") == 0)
		send_text(rep, 404, "Not Found", "");
	else if (strcmp(path, "/robots.txt") == 0)
		send_text(rep, 200, "OK", "User-agent: *\nDisallow: /\n");
	else
		page(sv, req, sa, salen, rep);
	rs_ebr_leave();
}

/* Accepting failed for want of descriptors or memory: the listeners pause
 * for 100 ms (warnd_conn.c); logged once per episode. */
static void on_accept_pause(int err, void *arg)
{
	logmsg(RS_LOG_WARN, "cannot accept connections: %s; pausing the listeners for 100 ms at a time", strerror(err));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *sv = arg;

	if (sig == SIGHUP) {
		struct wd_templates nt;
		char e[512];
		if (wd_templates_load(sv->tmpl.dir, sv->o->lang, &nt, e, sizeof(e)) == 0) {
			wd_page_cache_clear(sv->pages); /* its keys hold the old templates' addresses */
			wd_templates_free(&sv->tmpl);
			sv->tmpl = nt;
			logmsg(RS_LOG_INFO, "reloaded %zu template languages from %s", nt.n, nt.dir);
		} else {
			logmsg(RS_LOG_ERR, "reload: %s; keeping the templates in use", e);
		}
		if (sv->o->geoip && rs_stats_geo_open(sv->stats, sv->o->geoip, e, sizeof(e)) != 0)
			logmsg(RS_LOG_ERR, "reload: %s; keeping the database in use", e);
		return;
	}
	{
		struct wd_server_counts sc;
		uint64_t hits, misses;
		wd_server_counts(sv->http, &sc);
		wd_page_cache_stats(sv->pages, &hits, &misses);
		logmsg(RS_LOG_INFO, "stopping (signal %d): %llu requests, %llu blocked pages; %llu pages rendered, "
		       "%llu from the cache; %llu connections, %llu refused requests, %llu closed at --conn-timeout, "
		       "%llu to make room", (int)sig, (unsigned long long)sv->requests, (unsigned long long)sv->blocked,
		       (unsigned long long)misses, (unsigned long long)hits, (unsigned long long)sc.conns,
		       (unsigned long long)sc.refused, (unsigned long long)sc.expired, (unsigned long long)sc.evicted);
	}
	event_base_loopbreak(sv->base);
}

/* ---- process ---- */

#define SHORTOPTS ":l:t:r:w:P:j:T:L:g:u:p:fdsvhV"

/*
 * getopt_long failed (ch '?' or ':', opterr 0): one line naming the option,
 * then exit EX_USAGE. optopt is the bad letter of a short option, 0 for an
 * unknown or ambiguous long one, the option's val when a long option lacks its
 * value or has one it does not take; arg (argv[optind - 1]) is the long option
 * as typed, or the short one's cluster when the letter was its last.
 */
static void bad_option(int ch, const char *arg) __attribute__((noreturn));
static void bad_option(int ch, const char *arg)
{
	bool letter = optopt > 0 && optopt < 128 && isprint(optopt);
	int n = (int)strcspn(arg, "="), matches = 0;

	for (const struct option *o = longopts; o->name && n > 2; o++)
		matches += strncmp(o->name, arg + 2, (size_t)n - 2) == 0;
	if (ch == '?' && letter && !strchr(SHORTOPTS, optopt))
		fprintf(stderr, PROG ": unknown option '-%c' (" SEE_HELP ")\n", optopt);
	else if (arg[0] == '-' && arg[1] == '-')
		fprintf(stderr, PROG ": %s option '%.*s' (" SEE_HELP ")\n",
			ch == ':' ? "missing value for" : optopt ? "no value allowed for" :
			matches > 1 ? "ambiguous" : "unknown", n, arg);
	else if (letter)
		fprintf(stderr, PROG ": missing value for option '-%c' (" SEE_HELP ")\n", optopt);
	else
		fprintf(stderr, PROG ": bad option '%s' (" SEE_HELP ")\n", arg);
	exit(EX_USAGE);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int ch;
	double fl;
	char *end;

	opterr = 0; /* one line of our own, not getopt's and the whole help */
	while ((ch = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (o->nlisten == MAX_LISTEN)
				errx(EX_USAGE, "--listen: at most %d addresses", MAX_LISTEN);
			o->listen[o->nlisten++] = optarg;
			break;
		case 't':
			if (o->ntls == MAX_LISTEN)
				errx(EX_USAGE, "--tls-reset: at most %d addresses", MAX_LISTEN);
			o->tls[o->ntls++] = optarg;
			break;
		case 'r': /* checked here: a bad endpoint is a usage error before anything else */
		case 'w': {
			struct rs_endpoint e;
			endpoint(ch == 'r' ? "redis" : "write-redis", optarg, &e);
			cli_endpoint_free(&e);
			*(ch == 'r' ? &o->redis : &o->write_redis) = optarg;
			break;
		}
		case 1000: o->redis_db = (int)num("redis-db", optarg, 0, 65535); break;
		case 1001: o->redis_user = optarg; break;
		case 1002:
			cli_deprecated(PROG, "--redis-password-file", "--auth-file");
			o->password_file = optarg;
			break;
		case 1013: o->password_file = optarg; break;
		case 1014: {
			struct rs_endpoint e;
			metrics_endpoint(optarg, &e);
			cli_endpoint_free(&e);
			o->metrics = optarg;
			break;
		}
		case 1003: o->redis_timeout_ms = (int)num("redis-timeout", optarg, 10, 60000); break;
		case 1015: o->trusted = optarg; break;
		case 'P':
			if (!*optarg || strpbrk(optarg, " \t\r\n"))
				errx(EX_USAGE, "--prefix: '%s' must be non-empty, without spaces", optarg);
			o->prefix = optarg;
			break;
		case 'j':
			if (strlen(optarg) != 2 || !isalpha((unsigned char)optarg[0]) || !isalpha((unsigned char)optarg[1]))
				errx(EX_USAGE, "--jurisdiction: '%s' is not an ISO 3166-1 alpha-2 code", optarg);
			o->jurisdiction = optarg;
			break;
		case 'T': o->templates = optarg; break;
		case 'L': o->lang = optarg; break;
		case 'g': o->geoip = optarg; break;
		case 1004: o->retention_days = (int)num("retention", optarg, 1, 3660); break;
		case 1005:
			errno = 0;
			fl = strtod(optarg, &end);
			if (errno || *end || end == optarg || fl < 0.05 || fl > 3600)
				errx(EX_USAGE, "--flush-interval: '%s' is not a number of seconds from 0.05 to 3600", optarg);
			o->flush_ms = (int)(fl * 1000 + 0.5);
			break;
		case 1006: o->max_header = num("max-header-size", optarg, 256, 1 << 20); break;
		case 1007: o->max_body = num("max-body-size", optarg, 0, 1 << 24); break;
		case 1008: o->idle_timeout = (int)num("idle-timeout", optarg, 1, 3600); break;
		case 1009: o->conn_timeout = (int)num("conn-timeout", optarg, 1, 86400); break;
		case 1010: o->max_conns = num("max-connections", optarg, 1, 1000000); break;
		case 1011: o->max_counters = num("max-counters", optarg, 1, 100000000); break;
		case 'u': o->user = optarg; break;
		case 'p': o->pidfile = optarg; break;
		case 'f': o->daemon = false; break;
		case 'd': o->daemon = true; break;
		case 's': o->syslog = true; break;
		case 'v': o->verbose = true; break;
		case 1012: o->check = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': cli_version(PROG); exit(0);
		default: bad_option(ch, argv[optind - 1]);
		}
	}
	if (optind < argc)
		errx(EX_USAGE, "unexpected argument '%s' (" SEE_HELP ")", argv[optind]);
}

/* Log (to syslog once detached) and exit. */
static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logv(RS_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}

/* Switch to pw's user and group, without supplementary groups. */
static void drop_privileges(const struct passwd *pw)
{
	if (setgroups(0, NULL) != 0)
		die(EX_OSERR, "--user %s: setgroups: %s", pw->pw_name, strerror(errno));
	if (setgid(pw->pw_gid) != 0)
		die(EX_OSERR, "--user %s: setgid %lu: %s", pw->pw_name, (unsigned long)pw->pw_gid, strerror(errno));
	if (setuid(pw->pw_uid) != 0)
		die(EX_OSERR, "--user %s: setuid %lu: %s", pw->pw_name, (unsigned long)pw->pw_uid, strerror(errno));
	if (pw->pw_uid != 0 && setuid(0) == 0)
		die(EX_OSERR, "--user %s: could still regain root after dropping privileges", pw->pw_name);
}

static void daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		err(EX_OSERR, "fork");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		err(EX_OSERR, "setsid");
	pid = fork(); /* never a session leader again: no controlling terminal */
	if (pid < 0)
		err(EX_OSERR, "fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		err(EX_OSERR, "chdir /");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* The listening sockets, opened before dropping privileges. */
struct sockets {
	int http[MAX_LISTEN], tls[MAX_LISTEN], nhttp;
};

/*
 * Load the templates and the GeoIP database: everything in the configuration
 * that can be wrong, before any socket. The database belongs to the view
 * counters (module/stats.c: regions of views, and of the page's language):
 * the same field paths as a resolver's defaults, country.iso_code and
 * subdivisions.0.iso_code (GeoIP2/GeoLite2, redsink-mkgeo).
 */
static void load_config(const struct opts *o, struct server *sv, char *tdir)
{
	struct rs_stats_opts so = { .key = "views" };
	char e[512];

	if (!realpath(o->templates, tdir))
		err(EX_NOINPUT, "--templates %s", o->templates);
	if (wd_templates_load(tdir, o->lang, &sv->tmpl, e, sizeof(e)))
		errx(EX_CONFIG, "%s", e);
	sv->rc.geoip_country_field = (char *)"country.iso_code";
	sv->rc.geoip_subdivision_field = (char *)"subdivisions.0.iso_code";
	sv->rc.stats_max_pending = (int)o->max_counters;
	sv->rc.stats_retention = o->retention_days;
	sv->rc.stats_flush_interval = o->flush_ms < 1000 ? 1 : o->flush_ms / 1000; /* rs_sync_opts.flush_ms rules */
	sv->stats = rs_stats_new(&sv->rc, &so); /* rc.geoip_database stays NULL: opened just below, or on SIGHUP */
	if (!sv->stats)
		errx(EX_OSERR, "out of memory");
	sv->disc = wd_disc_new(o->prefix, o->redis_timeout_ms);
	if (!sv->disc)
		errx(EX_OSERR, "out of memory");
	if (o->geoip && rs_stats_geo_open(sv->stats, o->geoip, e, sizeof(e)))
		errx(EX_NOINPUT, "%s", e);
}

/* The Redis connections: the list is read from --redis; views go to --write-redis with the same database and credentials. */
static void config_redis(const struct opts *o, struct server *sv)
{
	char e[512], pw_warn[300];

	endpoint("redis", o->redis, &sv->rc.read);
	endpoint("write-redis", o->write_redis ? o->write_redis : o->redis, &sv->rc.write);
	if (o->redis_db >= 0)
		sv->rc.read.db = sv->rc.write.db = o->redis_db;
	if (o->redis_user) {
		free(sv->rc.read.user);
		if (!(sv->rc.read.user = strdup(o->redis_user)))
			err(EX_OSERR, "strdup");
	}
	if (cli_credentials(&sv->rc.read, o->password_file, e, sizeof(e), pw_warn, sizeof(pw_warn)))
		errx(CLI_EXIT_REDIS, "%s", e);
	if (pw_warn[0])
		warnx("warning: %s", pw_warn);
	free(sv->rc.write.user);
	sv->rc.write.user = NULL;
	if ((sv->rc.read.user && !(sv->rc.write.user = strdup(sv->rc.read.user))) ||
	    (sv->rc.read.password && !(sv->rc.write.password = strdup(sv->rc.read.password))))
		err(EX_OSERR, "strdup");
	sv->rc.prefix = (char *)o->prefix;
	sv->rc.redis_timeout_ms = o->redis_timeout_ms;
	if (o->trusted) {
		/* signed mode, as a resolver's (doc/signing.md): the key lines of
		 * a redsink.conf (sign_key.h; other directives ignored) */
		bool revoked;
		size_t usable = 0;
		if (rs_trust_file_load(o->trusted, &sv->rc.trusted_keys, &sv->rc.ntrusted, &sv->rc.revoked_keys,
				       &sv->rc.nrevoked, e, sizeof(e)))
			errx(EX_CONFIG, "--trusted: %s", e);
		for (size_t i = 0; i < sv->rc.ntrusted; i++)
			usable += rs_conf_key(&sv->rc, sv->rc.trusted_keys[i].id, &revoked) != NULL;
		if (usable == 0)
			errx(EX_CONFIG, "--trusted %s: no trusted-key line that is not revoked", o->trusted);
		sv->rc.require_signatures = 1;
	}
	if (o->jurisdiction) {
		sv->rc.jurisdiction = strdup(o->jurisdiction);
		for (char *p = sv->rc.jurisdiction; p && *p; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	sv->rc.language = (char *)o->lang;
	sv->rc.ede_format = RS_EDE_OFF;
	if (o->metrics)
		metrics_endpoint(o->metrics, &sv->rc.metrics);
}

/* Open the HTTP and TLS-reset sockets, while we may still bind to port 80. */
static void open_sockets(const struct opts *o, struct sockets *s)
{
	static const char *const default_listen[] = { "0.0.0.0:80", "[::]:80" };
	char e[512];

	s->nhttp = 0;
	if (o->nlisten == 0) {
		for (size_t i = 0; i < 2; i++) {
			int fd = listen_on(default_listen[i], e, sizeof(e));
			if (fd >= 0)
				s->http[s->nhttp++] = fd;
			else if (i == 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
				errx(EX_OSERR, "cannot listen: %s", e);
		}
	}
	for (size_t i = 0; i < o->nlisten; i++)
		if ((s->http[s->nhttp++] = listen_on(o->listen[i], e, sizeof(e))) < 0)
			errx(EX_OSERR, "cannot listen: %s", e);
	for (size_t i = 0; i < o->ntls; i++)
		if ((s->tls[i] = listen_on(o->tls[i], e, sizeof(e))) < 0)
			errx(EX_OSERR, "cannot listen: %s", e);
}

/* Become the daemon: syslog, background, pid file, the --user's privileges, no SIGPIPE. */
static void detach(const struct opts *o, struct passwd *pw)
{
	if (o->daemon || o->syslog) {
		openlog(PROG, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = true;
	}
	if (o->daemon)
		daemonize();
	if (o->pidfile) {
		FILE *f = fopen(o->pidfile, "w");
		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
			die(EX_CANTCREAT, "--pidfile %s: %s", o->pidfile, strerror(errno));
	}
	if (pw)
		drop_privileges(pw);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The connections the descriptor limit leaves room for: HTTP connections
 * must never take the descriptors the sync thread needs (reconnecting to
 * Redis, --metrics-listen, a template reload). The soft limit is raised
 * toward the hard one as far as --max-connections and a reserve need; if
 * that is not enough, the connections are capped (logged).
 */
#define FD_RESERVE 64
static long conn_budget(long max_conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_conns + FD_RESERVE, reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return max_conns;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return max_conns;
	/* a tiny limit: keep half of it for the rest */
	reserve = rl.rlim_cur < 2 * FD_RESERVE ? rl.rlim_cur / 2 : FD_RESERVE;
	logmsg(RS_LOG_WARN, "--max-connections %ld: the descriptor limit is %llu (hard limit %llu); at most %llu "
	       "connections, %llu descriptors kept for Redis and the rest", max_conns, (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max, (unsigned long long)(rl.rlim_cur - reserve), (unsigned long long)reserve);
	return rl.rlim_cur - reserve > 0 ? (long)(rl.rlim_cur - reserve) : 1;
}

/* The event loop and the HTTP server on the sockets; false (logged) when it cannot be set up. */
static bool start_http(struct server *sv, const struct sockets *s)
{
	const struct opts *o = sv->o;
	struct wd_server_opts so = {
		.max_head = (size_t)o->max_header, .max_body = (size_t)o->max_body,
		.max_conns = (size_t)conn_budget(o->max_conns),
		.idle_s = o->idle_timeout, .lifetime_s = o->conn_timeout, .log_pause = on_accept_pause,
	};

	sv->base = event_base_new();
	sv->http = sv->base ? wd_server_new(sv->base, &so, on_request, sv) : NULL;
	sv->pages = wd_page_cache_new();
	if (!sv->http || !sv->pages) {
		logmsg(RS_LOG_ERR, "cannot create the event loop: out of memory");
		return false;
	}
	for (int i = 0; i < s->nhttp; i++) {
		if (wd_server_listen(sv->http, s->http[i], false) != 0) {
			logmsg(RS_LOG_ERR, "cannot accept HTTP connections");
			return false;
		}
	}
	for (size_t i = 0; i < o->ntls; i++) {
		/* the same accept policy as HTTP's (out of descriptors: the
		 * oldest HTTP connection makes room, else a pause) */
		if (wd_server_listen(sv->http, s->tls[i], true) != 0) {
			logmsg(RS_LOG_ERR, "cannot accept TLS connections");
			return false;
		}
		sv->ntls++;
	}
	return true;
}

/*
 * Follow the list with the module's sync thread, in the role of a server
 * that is not a resolver: no heartbeat, no snapshot (rc has no
 * snapshot-file), no cache purge (no hooks); /metrics with --metrics-listen
 * (the resolver's page: its blocked-answer counts are page views here).
 * It starts from an empty list that no load has filled ("" last id: load it
 * all when Redis is up), and flushes the views every --flush-interval.
 */
static bool start_sync(struct server *sv)
{
	struct rs_sync_opts so = { .heartbeat = false, .probe_ms = DATASET_PROBE_MS, .flush_ms = sv->o->flush_ms };
	struct rs_list *l = rs_list_new(0);

	if (!l)
		return false;
	atomic_init(&sv->list, l);
	if (rs_sync_start(&sv->sync, &sv->rc, &sv->list, "", "", false, NULL, sv->stats, &so, NULL) != 0) {
		atomic_store(&sv->list, NULL);
		rs_list_free(l);
		return false;
	}
	return true;
}

/* Signals, following the list and counting page views, and the health tick; false (logged) when one cannot start. */
static bool start_services(struct server *sv, struct event *sigs[3])
{
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };

	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(sv->base, signums[i], on_signal, sv);
		if (!sigs[i] || event_add(sigs[i], NULL)) {
			logmsg(RS_LOG_ERR, "cannot handle signals");
			return false;
		}
	}
	if (!start_sync(sv)) {
		logmsg(RS_LOG_ERR, "cannot start: out of memory or threads");
		return false;
	}
	sv->contact_ms = mono_ms();
	sv->contact_wall = time(NULL);
	sv->health_ev = event_new(sv->base, -1, EV_PERSIST, on_health_tick, sv);
	if (!sv->health_ev ||
	    event_add(sv->health_ev, &(struct timeval){ .tv_usec = HEALTH_POLL_MS * 1000 })) {
		logmsg(RS_LOG_ERR, "cannot start: out of memory");
		return false;
	}
	return true;
}

/* After the loop: close the connections, write the last views, stop following, free everything. */
static void shut_down(struct server *sv, struct event *sigs[3])
{
	wd_server_free(sv->http); /* closes every connection and listening socket */
	wd_page_cache_free(sv->pages);
	event_free(sv->health_ev);
	/* no request records a view any more: the sync thread drains the last
	 * ones and writes them (for at most the Redis timeout; logs what could
	 * not be written), then the lists are freed */
	rs_sync_stop(sv->sync, NULL, NULL, NULL);
	rs_list_free(atomic_load(&sv->list));
	rs_stats_free(sv->stats);
	wd_disc_free(sv->disc);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(sv->base);
	wd_templates_free(&sv->tmpl);
	if (sv->o->pidfile)
		unlink(sv->o->pidfile); /* may fail after dropping privileges: harmless */
	cli_endpoint_free(&sv->rc.read);
	cli_endpoint_free(&sv->rc.write);
	cli_endpoint_free(&sv->rc.metrics);
	free(sv->rc.jurisdiction);
	free(sv->rc.trusted_keys); /* --trusted */
	free(sv->rc.revoked_keys);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.redis = "127.0.0.1:6379", .prefix = "redsink:", .redis_timeout_ms = 1000, .redis_db = -1,
		.templates = WD_TEMPLATE_DIR, .lang = "en", .retention_days = 90, .flush_ms = 10000,
		.max_header = 8192, .max_body = 4096, .idle_timeout = 5, .conn_timeout = 15,
		.max_conns = 1024, .max_counters = 100000,
	};
	struct server sv = { .o = &o };
	struct sockets socks;
	struct passwd *pw = NULL;
	char tdir[PATH_MAX];
	struct event *sigs[3];

	if (getenv("REDSINK_REDIS") && *getenv("REDSINK_REDIS"))
		o.redis = getenv("REDSINK_REDIS");
	if (getenv("REDSINK_PREFIX") && *getenv("REDSINK_PREFIX"))
		o.prefix = getenv("REDSINK_PREFIX");
	parse_args(argc, argv, &o);
	rs_log_hook = rs_hook;

	load_config(&o, &sv, tdir);
	if (o.check) {
		printf(PROG ": %zu template languages in %s (default %s)%s%s\n", sv.tmpl.n, tdir, sv.tmpl.def->lang,
		       o.geoip ? ", GeoIP " : "", o.geoip ? o.geoip : "");
		rs_stats_free(sv.stats);
		wd_disc_free(sv.disc);
		wd_templates_free(&sv.tmpl);
		return 0;
	}
	if (o.user && !(pw = getpwnam(o.user)))
		errx(EX_NOUSER, "--user: no user '%s'", o.user);
	config_redis(&o, &sv);
	open_sockets(&o, &socks);
	detach(&o, pw);
	if (!start_http(&sv, &socks) || !start_services(&sv, sigs))
		return EX_OSERR;
	logmsg(RS_LOG_INFO, "serving %d HTTP and %zu TLS-reset addresses; list from %s; %zu template languages",
	       socks.nhttp, sv.ntls, sv.rc.read.addr, sv.tmpl.n);
	event_base_dispatch(sv.base);
	shut_down(&sv, sigs);
	return 0;
}
