/*
 * ctl_window.c — live-event windows: window set, clear and list.
 *
 * An order's optional `windows` field (doc/redis-schema.md, "Orders") lists
 * the intervals START/END inside which it applies (and before `expires`):
 * the UK "live blocking" orders that apply only while matches are played.
 * The module parses it with rs_windows_parse (lib/order.c); this file uses the
 * same parser, so what it writes is what every resolver accepts.
 *
 * window set checks every interval (both ends RFC 3339, the end after the
 * start), sorts them, refuses overlaps and more than RS_WINDOWS_MAX, stores
 * each end in UTC, and writes the field with its `order` change-stream entry
 * (fields=windows, new.windows, old.windows, by, why) in one MULTI/EXEC, as
 * `order update` writes a field. Invalid input writes nothing: exit 5.
 */
#include <err.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_name.h"
#include "order.h"
#include "rs_err.h"
#include "text.h"

static const char window_usage[] =
	"Usage: redsink-ctl window set ORDER START/END... [--why TEXT]\n"
	"       redsink-ctl window clear ORDER [--why TEXT]\n"
	"       redsink-ctl window list [ORDER] [--json]\n"
	"\n"
	"Live-event windows: an order with windows applies only inside one of them\n"
	"(and before its expiry), e.g. while matches are played. When a window opens,\n"
	"resolvers purge what they cached of the order's names: the first query in the\n"
	"window is blocked; when it closes, the names resolve again at once.\n"
	"\n"
	"  window set ORDER START/END...  replace the order's windows. START and END are\n"
	"                 RFC 3339 date-times (2026-05-01T18:00:00Z, offsets allowed) or\n"
	"                 dates (midnight UTC); END after START; at most 64 windows, in any\n"
	"                 order, not overlapping (an END may equal the next START). Stored\n"
	"                 in UTC, sorted. Several windows may also be given in one\n"
	"                 argument, separated by spaces.\n"
	"  window clear ORDER  remove the windows: the order applies at any time again\n"
	"  window list [ORDER]  each order in force (or ORDER): its windows, whether it is\n"
	"                 active now (scope aside) and when that changes next\n"
	"\n"
	"  --why TEXT     recorded in the change stream with --by\n"
	"  --json         list: a JSON array (typed values)\n"
	"\n"
	"Invalid windows (a bad date, an END not after its START, an overlap, too many)\n"
	"are reported one per line, naming the interval; nothing is written (exit 5).\n";

enum { O_W_WHY = 700, O_W_JSON }; /* below the common options (O_REDIS = 1000) */

/* One interval of the command line. */
struct interval {
	int64_t start, end;
	const char *text; /* as given (into an argument) */
	size_t len;
	int pos;          /* 1-based, in the order given */
};

static int cmp_interval(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->pos - y->pos;
}

/* A time as stored: UTC "2026-05-01T18:00:00Z"; the text given when UTC
 * cannot say it in four-digit years (it still parses to t). */
static void put_time(struct rs_buf *b, int64_t t, const char *given, size_t glen)
{
	char s[40];
	struct tm tm;
	time_t tt = (time_t)t;
	int64_t back;

	if (gmtime_r(&tt, &tm) && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999) {
		snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (rs_rfc3339_parse(s, &back) == 0 && back == t) {
			rs_buf_adds(b, s);
			return;
		}
	}
	rs_buf_add(b, given, glen);
}

static void shown(const char *s, size_t len, char *out, size_t outsz)
{
	ctl_show(s, len, 140, out, outsz);
}

/*
 * Parse, check and normalise the intervals of args[0..n) into *text (malloc'ed,
 * "" for none). Prints every problem; 0 or CTL_EXIT_DATA.
 */
static int windows_from_args(struct ctl *x, char **args, int n, char **text)
{
	struct interval *iv = NULL;
	size_t niv = 0, cap = 0;
	int bad = 0, given = 0;
	struct rs_buf b = { 0 };
	char why[300], s1[800], s2[2400];
	uint16_t nwin;

	*text = NULL;
	for (int a = 0; a < n; a++) {
		for (const char *p = args[a];;) {
			size_t k;
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p)
				break;
			k = strcspn(p, " \t");
			if (niv == cap) {
				cap = cap ? cap * 2 : 16;
				if (!(iv = realloc(iv, cap * sizeof(*iv))))
					errx(CTL_EXIT_ERROR, "out of memory");
			}
			iv[niv] = (struct interval){ .text = p, .len = k, .pos = ++given };
			if (rs_window_parse(p, k, &iv[niv].start, &iv[niv].end, why, sizeof(why)) == 0) {
				niv++; /* checked for overlaps below */
			} else { /* the text typed, control characters escaped (why quotes it too) */
				shown(p, k, s1, sizeof(s1));
				ctl_show(why, strlen(why), sizeof(why), s2, sizeof(s2));
				warnx("%s: window %d '%s': %s", x->cmd, given, s1, s2);
				bad++;
			}
			p += k;
		}
	}
	if (given == 0) {
		warnx("%s: no window given (START/END, e.g. 2026-05-01T18:00:00Z/2026-05-01T20:00:00Z; "
		      "'window clear' removes the windows)", x->cmd);
		bad++;
	}
	if (given > RS_WINDOWS_MAX) {
		warnx("%s: %d windows: at most %d per order", x->cmd, given, RS_WINDOWS_MAX);
		bad++;
	} else if (niv > 1) {
		/* the valid ones, sorted: each overlap is reported */
		qsort(iv, niv, sizeof(*iv), cmp_interval);
		for (size_t i = 1; i < niv; i++) {
			/* after sorting, an overlap is with the window before: the
			 * one ending last among those before, for the message */
			size_t j = i - 1;
			for (size_t k = 0; k < i; k++)
				if (iv[k].end > iv[j].end)
					j = k;
			if (iv[i].start < iv[j].end) {
				shown(iv[i].text, iv[i].len, s1, sizeof(s1));
				shown(iv[j].text, iv[j].len, s2, sizeof(s2));
				warnx("%s: window %d '%s' overlaps window %d '%s'", x->cmd,
				      iv[i].pos > iv[j].pos ? iv[i].pos : iv[j].pos, iv[i].pos > iv[j].pos ? s1 : s2,
				      iv[i].pos > iv[j].pos ? iv[j].pos : iv[i].pos, iv[i].pos > iv[j].pos ? s2 : s1);
				bad++;
			}
		}
	}
	if (bad) {
		free(iv);
		warnx("%s: %d problem%s in the windows: nothing written", x->cmd, bad, bad == 1 ? "" : "s");
		return CTL_EXIT_DATA;
	}
	for (size_t i = 0; i < niv; i++) {
		const char *slash = memchr(iv[i].text, '/', iv[i].len);
		if (i)
			rs_buf_add(&b, " ", 1);
		put_time(&b, iv[i].start, iv[i].text, (size_t)(slash - iv[i].text));
		rs_buf_add(&b, "/", 1);
		put_time(&b, iv[i].end, slash + 1, iv[i].len - (size_t)(slash + 1 - iv[i].text));
	}
	free(iv);
	if (b.oom)
		errx(CTL_EXIT_ERROR, "out of memory");
	/* what the resolvers will parse: the same parser, the last word */
	if (rs_windows_parse(b.s, NULL, NULL, &nwin, why, sizeof(why))) {
		warnx("%s: %s: nothing written", x->cmd, why);
		free(b.s);
		return CTL_EXIT_DATA;
	}
	*text = b.s;
	return 0;
}

/* window set / clear: write the field and its change entry. */
static int window_write(struct ctl *x, int argc, char **argv, bool clear)
{
	static const struct option opts[] = {
		{ "why", required_argument, NULL, O_W_WHY },
		{ NULL, 0, NULL, 0 },
	};
	const char *why = "", *id, *complaint;
	char *text = NULL, k[CTL_KEY_MAX], k2[CTL_KEY_MAX], *old = NULL, active[64];
	struct ctl_order o;
	struct ctl_tx t;
	redisReply *r;
	int c, ex;

	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_W_WHY)
			why = optarg;
	}
	if (optind >= argc)
		return ctl_usage_error(x, "expected an order ID");
	if (clear && optind + 1 != argc)
		return ctl_usage_error(x, "expected one order ID");
	if (!clear && optind + 1 == argc)
		return ctl_usage_error(x, "expected windows after the order ID: START/END...");
	id = argv[optind];
	if (!rs_order_id_ok(id))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, id);
	if (!ctl_text_ok(why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why %s", complaint);
	if (clear)
		text = strdup("");
	else if ((ex = windows_from_args(x, argv + optind + 1, argc - optind - 1, &text)))
		return ex;
	if (!text)
		errx(CTL_EXIT_ERROR, "out of memory");
	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		goto out;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s", ctl_key(x, k, "order:%s", id), ctl_key(x, k2, "orders"));
	if (!r) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	freeReplyObject(r);
	if ((ex = ctl_order_load(x, id, false, &o)))
		goto out;
	if (!o.exists || !o.in_force) {
		warnx(!o.exists ? "%s: no order '%s': create it with 'redsink-ctl order add'"
				: "%s: order '%s' was revoked: a revoked order cannot be changed; create a new one",
		      x->cmd, id);
		ex = CTL_EXIT_ERROR;
		goto unwatch;
	}
	if (strcmp(o.windows, text) == 0) {
		if (!x->quiet)
			printf("order %s: windows unchanged\n", id);
		ex = 0;
		goto unwatch;
	}
	old = o.windows;
	o.windows = NULL;
	ctl_order_clear(&o);
	ctl_tx_begin(&t, &x->conn);
	{
		const char *hset[4] = { "HSET", k, "windows", text };
		size_t lens[4] = { 4, strlen(k), 7, strlen(text) };
		const char *fx[6] = { "fields", "windows", "new.windows", text, "old.windows", old };
		ctl_tx_argv(&t, 4, hset, lens);
		ctl_queue_change_extra(x, &t, "order", id, "", why, NULL, fx, 6);
	}
	c = ctl_tx_exec(&t, &r);
	if (c == CTL_TX_CONFLICT) {
		warnx("%s: order '%s' was changed by someone else meanwhile: nothing written; run the command again",
		      x->cmd, id);
		ex = CTL_EXIT_ERROR;
		goto out;
	}
	if (c) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	if (!x->quiet)
		printf("order %s: %s (change %s)\n", id, clear ? "windows cleared: it applies at any time" : "windows set",
		       r->element[r->elements - 1]->type == REDIS_REPLY_STRING ? r->element[r->elements - 1]->str : "?");
	freeReplyObject(r);
	/* how it stands now, and what may surprise */
	if ((ex = ctl_order_load(x, id, false, &o)))
		goto out;
	if (!x->quiet)
		printf("order %s: active now: %s\n", id, ctl_order_active_text(&o, active));
	if (o.nwin && o.win[2 * o.nwin - 1] <= (int64_t)time(NULL))
		warnx("warning: %s: every window of order %s has ended: it does not apply (until new windows are set)",
		      x->cmd, id);
	else if (o.nwin && o.expires && o.win[0] >= o.expires)
		warnx("warning: %s: order %s expires (%s) before its first window opens: it will not apply", x->cmd, id,
		      o.f[F_EXPIRES]);
	ctl_order_clear(&o);
	ex = 0;
	goto out;
unwatch:
	ctl_order_clear(&o);
	r = ctl_cmd(&x->conn, "UNWATCH", "UNWATCH");
	freeReplyObject(r);
out:
	free(text);
	free(old);
	return ex;
}

/* The state of window i of o at now: "ended", "open", "upcoming". */
static const char *window_state(const struct ctl_order *o, uint16_t i, int64_t now)
{
	if (o->win[2 * i + 1] <= now)
		return "ended";
	return o->win[2 * i] <= now ? "open" : "upcoming";
}

static void json_time_or_null(int64_t t)
{
	char tb[32];

	if (t)
		ctl_json_str(stdout, ctl_fmt_time(t, tb));
	else
		fputs("null", stdout);
}

static void window_json(const struct ctl_order *o, int64_t now, bool first)
{
	char tb[32];

	printf("%s{\"order\":", first ? "" : ",");
	ctl_json_str(stdout, o->id);
	printf(",\"state\":");
	ctl_json_str(stdout, ctl_order_state(o));
	printf(",\"active\":%s,\"next_change\":", o->active ? "true" : "false");
	json_time_or_null(o->next_change);
	printf(",\"expires\":");
	json_time_or_null(o->bad_expires ? 0 : o->expires);
	printf(",\"windows_valid\":%s,\"windows_text\":", o->bad_windows ? "false" : "true");
	ctl_json_str(stdout, o->windows);
	printf(",\"windows\":[");
	for (uint16_t i = 0; i < o->nwin; i++) {
		printf("%s{\"start\":", i ? "," : "");
		ctl_json_str(stdout, ctl_fmt_time(o->win[2 * i], tb));
		printf(",\"end\":");
		ctl_json_str(stdout, ctl_fmt_time(o->win[2 * i + 1], tb));
		printf(",\"state\":\"%s\"}", window_state(o, i, now));
	}
	printf("]}");
}

static void window_rows(struct ctl_table *t, const struct ctl_order *o, int64_t now)
{
	char active[64], tb[32], tb2[32], w[80];
	const char *state = o->in_force && !o->expired ? "" : ctl_order_state(o);

	snprintf(active, sizeof(active), "%s%s%s", o->active ? "yes" : "no", *state ? " " : "", *state ? state : "");
	if (o->bad_windows) {
		ctl_table_row(t, 5, o->id, "no", "-", o->windows, "INVALID: resolvers skip this order");
		return;
	}
	if (o->nwin == 0) {
		ctl_table_row(t, 5, o->id, active, o->next_change ? ctl_fmt_time(o->next_change, tb) : "never", "-",
			      "none: applies at any time");
		return;
	}
	for (uint16_t i = 0; i < o->nwin; i++) {
		snprintf(w, sizeof(w), "%s/%s", ctl_fmt_time(o->win[2 * i], tb), ctl_fmt_time(o->win[2 * i + 1], tb2));
		if (i == 0)
			ctl_table_row(t, 5, o->id, active, o->next_change ? ctl_fmt_time(o->next_change, tb) : "never", w,
				      window_state(o, i, now));
		else
			ctl_table_row(t, 5, "", "", "", w, window_state(o, i, now));
	}
}

static int window_list(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_W_JSON },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	char **ids = NULL, k[CTL_KEY_MAX];
	size_t n = 0;
	int c, ex;
	int64_t now = (int64_t)time(NULL);
	struct ctl_table t = { 0 };

	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_W_JSON)
			json = true;
	}
	if (optind + 1 < argc)
		return ctl_usage_error(x, "unexpected argument '%.60s'", argv[optind + 1]);
	if (optind < argc && !rs_order_id_ok(argv[optind]))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, argv[optind]);
	if ((ex = ctl_open(x)))
		return ex;
	if (optind < argc) {
		if (!(ids = malloc(sizeof(*ids))) || !(ids[0] = strdup(argv[optind])))
			errx(CTL_EXIT_ERROR, "out of memory");
		n = 1;
	} else if ((ex = ctl_set_members(x, ctl_key(x, k, "orders"), &ids, &n))) {
		return ex;
	}
	if (json)
		putchar('[');
	else
		ctl_table_row(&t, 5, "ORDER", "ACTIVE", "NEXT CHANGE", "WINDOW", "WINDOW STATE");
	for (size_t i = 0; i < n; i++) {
		struct ctl_order o;
		if ((ex = ctl_order_load(x, ids[i], false, &o)))
			break;
		if (!o.exists) {
			warnx("%s: no order '%s'", x->cmd, ids[i]);
			ctl_order_clear(&o);
			ex = CTL_EXIT_ERROR;
			break;
		}
		if (json)
			window_json(&o, now, i == 0);
		else
			window_rows(&t, &o, now);
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

int cmd_window(struct ctl *x, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	x->usage = window_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(window_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "set") == 0 || strcmp(sub, "clear") == 0) {
		x->cmd = strcmp(sub, "set") == 0 ? "window set" : "window clear";
		return window_write(x, argc - 1, argv + 1, strcmp(sub, "clear") == 0);
	}
	if (strcmp(sub, "list") == 0) {
		x->cmd = "window list";
		return window_list(x, argc - 1, argv + 1);
	}
	x->cmd = "window";
	return ctl_usage_error(x, "unknown subcommand 'window %.40s'", sub);
}
