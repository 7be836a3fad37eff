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
 * purge, no metrics); module/stats.c counts the views (key views:<hour>) in a
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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
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
	bool daemon, syslog, verbose, check;
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "tls-reset", required_argument, NULL, 't' },
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
	struct evhttp *http;
	struct wd_conns *conns;
	struct rs_sync *sync;   /* module/sync.c: the only writer of list */
	struct rs_stats *stats; /* module/stats.c: views:<hour>, and the GeoIP database */
	struct wd_disc *disc;   /* discovered-names:<hour> lookups (HTTP thread) */
	unsigned long long disc_limited; /* rate-limited lookups already logged */
	time_t disc_limited_logged;
	_Atomic(struct rs_list *) list; /* published by sync; empty until its first full load */
	struct wd_templates tmpl;
	struct rs_conf rc;
	struct evconnlistener *tls[MAX_LISTEN];
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

static void common_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
}

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	common_headers(req, "text/plain; charset=utf-8");
	if (b)
		evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

/*
 * /healthz: 503 "unavailable" before the first list; "ok" while the list
 * follows Redis; 200 but "degraded: ..." while a list is served that may be
 * stale (Redis unreachable for DEGRADED_AFTER_MS or more) or during a dataset
 * alarm. Degraded stays 200: every server of the fleet sees the same Redis,
 * and a load balancer must keep sending users to the page. The header
 * X-Redsink-Health (ok, degraded, unavailable) is for monitoring.
 */
static void health(struct server *sv, struct evhttp_request *req)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
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
		evhttp_add_header(oh, "X-Redsink-Dataset-Alarm",
				  alarm[0] == 'v' ? "vanished" : alarm[0] == 'f' ? "foreign" : "malformed");
		evhttp_add_header(oh, "X-Redsink-Health", "degraded");
		send_text(req, 200, "OK", text);
	} else if (served_list(sv) && !link_up(sv) && down_ms >= DEGRADED_AFTER_MS) {
		/* no client learns the Redis address here: the page is public */
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&sv->contact_wall));
		snprintf(text, sizeof(text), "degraded: Redis unreachable for %lld s; list from %s, may be stale\n",
			 (long long)(down_ms / 1000), when);
		evhttp_add_header(oh, "X-Redsink-Health", "degraded");
		send_text(req, 200, "OK", text);
	} else if (served_list(sv)) {
		evhttp_add_header(oh, "X-Redsink-Health", "ok");
		send_text(req, 200, "OK", "ok\n");
	} else {
		evhttp_add_header(oh, "X-Redsink-Health", "unavailable");
		send_text(req, 503, "Service Unavailable", "unavailable: no list loaded from Redis yet\n");
	}
}

/* The methods that get the page (redsink-warnd(8), ANSWERS). GET and
 * HEAD are the page's own; POST, PUT, DELETE, OPTIONS and PATCH get it too,
 * so that a form or a script sent to a blocked site shows the reason. */
static bool page_method(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
	case EVHTTP_REQ_POST:
	case EVHTTP_REQ_PUT:
	case EVHTTP_REQ_DELETE:
	case EVHTTP_REQ_OPTIONS:
	case EVHTTP_REQ_PATCH:
		return true;
	default:
		return false;
	}
}

/* The request's host: the authority of an absolute-form target wins over the
 * Host header (RFC 9112 section 3.2.2). */
static const char *request_host(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *h = uri ? evhttp_uri_get_host(uri) : NULL;

	if (h && *h)
		return h;
	return evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
}

/* The client's address and its length, for the GeoIP lookup only. */
static socklen_t client_addr(struct evhttp_request *req, const struct sockaddr **sa)
{
	*sa = evhttp_connection_get_addr(evhttp_request_get_connection(req));
	if (*sa && (*sa)->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (*sa && (*sa)->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6); /* IPv6 sockets are IPv6-only: never ::ffff:a.b.c.d */
	return 0;
}

static void page(struct server *sv, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *raw = request_host(req);
	char canon[RS_NAME_MAX + 1], listed[RS_NAME_MAX + 8], shown[WD_HOST_SHOW_MAX + 1];
	char country[3] = "", region[RS_REGION_MAX], issued[11], expires[11];
	enum wd_host hk = wd_host_parse(raw, canon);
	const struct rs_list *list = served_list(sv);
	const struct rs_order *order = NULL;
	const struct rs_entry *entry = NULL;
	const struct rs_pentry *pentry = NULL; /* an address-triggered block */
	char ptext[RS_PREFIX_TEXT_MAX] = "";
	const struct sockaddr *sa;
	socklen_t salen = client_addr(req, &sa);
	const struct wd_tmpl *t;
	struct wd_page_vals v = { 0 };
	struct rs_buf out = { 0 };
	struct evbuffer *body;
	enum wd_page_kind kind;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
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
	t = wd_templates_choose(&sv->tmpl, kind, evhttp_find_header(in, "Accept-Language"), country);

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
		code = 451;
	} else {
		code = list ? 404 : 503;
		v.unavailable = list ? NULL : "yes";
	}
	if (wd_page_render(t, kind, &v, &out) != 0 || !(body = evbuffer_new())) {
		free(out.s);
		sv->failed++;
		send_text(req, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	evbuffer_add(body, out.s, out.len);
	free(out.s);
	common_headers(req, "text/html; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Language", t->lang);
	if (url) {
		struct rs_buf link = { 0 };
		rs_buf_adds(&link, "<");
		rs_buf_adds(&link, url);
		rs_buf_adds(&link, ">; rel=\"blocked-by\"");
		if (!link.oom)
			evhttp_add_header(evhttp_request_get_output_headers(req), "Link", link.s);
		free(link.s);
	}
	if (code == 503)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "30");
	evhttp_send_reply(req, code,
			  code == 451 ? "Unavailable For Legal Reasons" : code == 404 ? "Not Found" : "Service Unavailable",
			  body);
	evbuffer_free(body);
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
		if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_POST) && pentry) {
			static const uint8_t none[1]; /* no name: a view, not a discovered name */
			rs_stats_record_addr(sv->stats, order, &pentry->prefix, none, 0, sa, salen, now);
		} else if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_POST) {
			rs_stats_record(sv->stats, order, entry, sa, salen, now);
		}
	}
	if (sv->o->verbose)
		logmsg(RS_LOG_INFO, "%d %s lang=%s region=%s%s%s%s%s", code,
		       hk == WD_HOST_NAME ? canon : hk == WD_HOST_NONE ? "(no host)" : "(not a name)", t->lang, region,
		       order ? " order=" : "", order ? order->id : "", pentry ? " prefix=" : "", pentry ? ptext : "");
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *sv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!page_method(evhttp_request_get_command(req))) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		send_text(req, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	/* the list, its orders and entries are read (and a view recorded) inside
	 * one section: the sync thread frees nothing this request may still hold
	 * (ebr.h, stats.h) */
	rs_ebr_enter();
	if (path && strcmp(path, "/healthz") == 0)
		health(sv, req);
	else if (path && strcmp(path, "/favicon.ico") == 0)
		send_text(req, 404, "Not Found", "");
	else if (path && strcmp(path, "/robots.txt") == 0)
		send_text(req, 200, "OK", "User-agent: *\nDisallow: /\n");
	else
		page(sv, req);
	rs_ebr_leave();
}

/* A TLS client: reset at once (see redsink-warnd(8), "HTTPS"). */
static void on_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	evutil_closesocket(fd);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *sv = arg;

	if (sig == SIGHUP) {
		struct wd_templates nt;
		char e[512];
		if (wd_templates_load(sv->tmpl.dir, sv->o->lang, &nt, e, sizeof(e)) == 0) {
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
	logmsg(RS_LOG_INFO, "stopping (signal %d): %llu requests, %llu blocked pages", (int)sig,
	       (unsigned long long)sv->requests, (unsigned long long)sv->blocked);
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
		case 1003: o->redis_timeout_ms = (int)num("redis-timeout", optarg, 10, 60000); break;
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
	if (o->jurisdiction) {
		sv->rc.jurisdiction = strdup(o->jurisdiction);
		for (char *p = sv->rc.jurisdiction; p && *p; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	sv->rc.language = (char *)o->lang;
	sv->rc.ede_format = RS_EDE_OFF;
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

/* The event loop and the HTTP server on the sockets; false (logged) when it cannot be set up. */
static bool start_http(struct server *sv, const struct sockets *s)
{
	const struct opts *o = sv->o;

	sv->base = event_base_new();
	sv->http = sv->base ? evhttp_new(sv->base) : NULL;
	if (!sv->http) {
		logmsg(RS_LOG_ERR, "cannot create the event loop");
		return false;
	}
	evhttp_set_max_headers_size(sv->http, o->max_header);
	evhttp_set_max_body_size(sv->http, o->max_body);
	evhttp_set_timeout(sv->http, o->idle_timeout);
	/* every method reaches on_request, which answers 405 to those without a
	 * page (libevent would answer 501 itself, also to unknown methods) */
	evhttp_set_allowed_methods(sv->http, 0xffff);
	evhttp_set_default_content_type(sv->http, "text/html; charset=utf-8");
	evhttp_set_gencb(sv->http, on_request, sv);
	sv->conns = wd_conns_new(sv->base, sv->http, (size_t)o->max_conns, o->conn_timeout);
	if (!sv->conns) {
		logmsg(RS_LOG_ERR, "out of memory");
		return false;
	}
	for (int i = 0; i < s->nhttp; i++) {
		if (!evhttp_accept_socket_with_handle(sv->http, s->http[i])) {
			logmsg(RS_LOG_ERR, "cannot accept HTTP connections");
			return false;
		}
	}
	for (size_t i = 0; i < o->ntls; i++) {
		sv->tls[i] = evconnlistener_new(sv->base, on_tls, sv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
						s->tls[i]);
		if (!sv->tls[i]) {
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
 * snapshot-file), no cache purge (no hooks), no metrics (no metrics-listen).
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
	if (rs_sync_start(&sv->sync, &sv->rc, &sv->list, "", "", false, NULL, sv->stats, &so) != 0) {
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
	for (size_t i = 0; i < sv->ntls; i++)
		evconnlistener_free(sv->tls[i]);
	evhttp_free(sv->http); /* closes every connection */
	wd_conns_free(sv->conns);
	event_free(sv->health_ev);
	/* no request records a view any more: the sync thread drains the last
	 * ones and writes them (for at most the Redis timeout; logs what could
	 * not be written), then the lists are freed */
	rs_sync_stop(sv->sync, NULL, NULL);
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
	free(sv->rc.jurisdiction);
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
