/* sync.c — the background sync thread (see sync.h). */
#define _GNU_SOURCE
#include "sync.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "ebr.h"
#include "replinfo.h"
#include "rs_err.h"
#include "snapshot.h"
#include "text.h"

#ifdef REDSINK_VERSION
#define RS_VERSION_STR REDSINK_VERSION /* configure.ac's AC_INIT (Makefile.am) */
#else
#define RS_VERSION_STR "0.12.0"
#endif
#define TICK_MS 250
#define HEARTBEAT_MS 5000
#define HEARTBEAT_TTL_S 30
#define RECEIPTS_MAX 100000 /* entries kept in receipts:<name> (XADD MAXLEN ~) */
#define SNAPSHOT_MS 5000
#define XREAD_BLOCK_MS 1000
#define SETTLE_WAIT_MS 1000 /* settle_image: at most this long after the start for a first query */
#define WATCHDOG_MS (XREAD_BLOCK_MS + 4000)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define PROBE_MS 5000 /* how often the dataset identity is checked (rs_sync_opts.probe_ms) */
#define RESYNC_JITTER_MS 3000 /* a held list's full load after a trimmed stream waits 0..this (on_xinfo) */
#define POSITIONS_MAX 120     /* positions kept for the divergence check: one a second ... */
#define POSITIONS_KEEP_MS 120000 /* ... for two minutes */

/* A whole list replaced by a resync, waiting like any retired memory (list.h). */
struct retired_list {
	struct retired_list *next;
	struct rs_list *l;
	int64_t when_ms;
	uint64_t epoch; /* rs_ebr_tag() after it was unpublished */
};

struct rs_sync {
	atomic_bool serving; /* a query reached the module (rs_sync_serving) */
	const struct rs_conf *conf;
	_Atomic(struct rs_list *) *listp;
	struct rs_sync_hooks hooks;
	struct rs_sync_opts opts; /* probe_ms and flush_ms resolved (never 0) */
	struct rs_sync_info info;
	pthread_t thread;
	int wake[2]; /* deinit writes to wake[1] to stop the loop */
	struct event_base *base;
	struct event *wake_ev, *tick_ev;

	redisAsyncContext *rd; /* follows the stream */
	redisAsyncContext *wr; /* heartbeats */
	redisContext *fetch;   /* blocking: order hashes, full loads */
	int rd_backoff, wr_backoff;
	int64_t rd_next_ms, wr_next_ms;
	int64_t rd_last_reply_ms;

	char last_id[RS_STREAM_ID_MAX]; /* "" = need a full load */
	char dataset[RS_DATASET_ID_LEN + 1]; /* identity of the dataset the list came from ("" = none) */
	const char *alarm;  /* "" or why the list does not follow Redis: "vanished", "foreign", "malformed" */
	bool paused;        /* in alarm: the stream is not followed until the dataset is ours again */
	bool resume;        /* the stream must be checked again (XINFO) when the pending XREAD returns */
	bool rd_busy;       /* an XREAD or XINFO is in flight on rd */
	int64_t last_probe_ms;
	struct rs_dataset probe; /* what the last judge_redis saw */
	char probe_newest[RS_STREAM_ID_MAX]; /* and the stream's newest id */
	struct position {
		char id[RS_STREAM_ID_MAX];
		int64_t at_ms; /* mono_ms() when the list reached it */
	} pos[POSITIONS_MAX]; /* recent positions, oldest first (check_positions) */
	size_t npos;
	/* what the last probe_tick saw of the read endpoint (heartbeat read_*, lag_ms; doc/redis-schema.md) */
	char read_node[300];                  /* host:port or socket path of the fetch connection ("" unknown) */
	struct rs_replinfo repl;              /* its INFO replication */
	bool repl_valid;                      /* repl holds an answer of the last probe */
	bool repl_probed;                     /* the last probe got its replies (else lag_ms is unknown) */
	bool repl_refused_logged;             /* INFO refused (ACL): logged once until it works */
	char repl_unapplied[RS_STREAM_ID_MAX]; /* the first entry after last_id on it at the probe ("" none) */
	bool alarm_by_load; /* the alarm was raised by a failed load: only a load clears it */
	pthread_mutex_t alarm_mu; /* guards alarm_text (read by any thread: rs_sync_dataset_alarm) */
	char alarm_text[600];     /* "" or "<why>: <detail>; keeping N orders, M domains" */
	int retry_backoff;  /* a change that could not be applied: XREAD again after a delay */
	int64_t retry_next_ms;
	bool retry_due;
	bool resync_due;      /* restart_stream at resync_at_ms: a jittered full load (on_xinfo) */
	bool resync_waited;   /* no (more) jitter: set after the first stream check since start */
	int64_t resync_at_ms;
	struct rs_apply ap;
	size_t ap_bad_seen; /* ap.bad already added to info.bad */
	struct rs_sigalarm sigalarm; /* signed mode: orders in signature alarm (load.h) */
	bool dirty; /* changed since the last snapshot */
	uint64_t susp_gen; /* the collateral suspended set (stats.h) the last snapshot request saw */
	/* live-event windows and expiry (order.h): when an order's applicability next changes */
	int64_t win_next;  /* Unix seconds: the earliest rs_order_next_transition of the list, 0 = none */
	int64_t win_from;  /* the time win_next was computed at */
	bool win_stale;    /* the orders changed since: compute again at the next tick */
	bool commit_pending; /* a batch's prefix changes are not published yet (out of memory): the tick
			      * retries the commit, then purges with the change set kept meanwhile */
	int64_t last_snapshot_ms, last_heartbeat_ms;
	/*
	 * The snapshot writer (write_snapshot): its own thread, so that a change
	 * never waits for a write. The sync thread posts a request and never
	 * waits; a request posted while a write is in progress replaces any
	 * older one (only the newest state matters). `mu` guards the fields
	 * below; the writer holds it only to take a request, never across a
	 * write. The list of the pending and of the current write is pinned:
	 * reclaim_lists does not free it even when a resync retired it.
	 */
	struct snap_writer {
		pthread_t thread;
		bool started;
		pthread_mutex_t mu;
		pthread_cond_t cv;
		bool pending;              /* a request waits */
		bool quit;                 /* rs_sync_stop: write what is pending, then exit */
		const struct rs_list *req; /* the pending request: list, position, identity */
		char req_id[RS_STREAM_ID_MAX];
		char req_dataset[RS_DATASET_ID_LEN + 1];
		struct rs_protsig req_prot; /* signed mode: the verified protected set (owned copy) */
		const struct rs_list *writing; /* the list being encoded (NULL: idle, or writing the image) */
		atomic_bool failed;        /* a write failed: the sync thread marks the list dirty again */
	} snap;
	char receipt_id[RS_STREAM_ID_MAX]; /* the position the last acknowledged receipt gave */
	bool receipt_inflight;
	struct retired_list *retired;
	bool stopping;

	struct rs_stats *stats;
	struct rs_hit_batch inflight; /* hits being flushed (one flush at a time) */
	bool flushing;
	bool refused_logged; /* a flush refused by Redis was logged (until one is accepted) */
	bool confirmed_bad_logged; /* confirmed-ips is not a set: logged (until it is one) */
	int64_t last_flush_ms;
	struct evhttp *http; /* metrics endpoint, or NULL */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t batch_hits(const struct rs_hit_batch *b);

static struct rs_list *cur(struct rs_sync *s)
{
	return atomic_load_explicit(s->listp, memory_order_relaxed);
}

/* Stream ids "ms-seq": compare numerically. */
static int id_cmp(const char *a, const char *b)
{
	unsigned long long am = 0, as = 0, bm = 0, bs = 0;

	sscanf(a, "%llu-%llu", &am, &as);
	sscanf(b, "%llu-%llu", &bm, &bs);
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

/* ---- the blocking fetch connection ---- */

static redisContext *fetch_conn(struct rs_sync *s)
{
	char err[256];

	if (s->fetch && s->fetch->err) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
	if (!s->fetch && rs_redis_connect(&s->conf->read, s->conf->redis_timeout_ms, &s->fetch, err, sizeof(err)))
		s->fetch = NULL;
	return s->fetch;
}

static int fetch_order(void *arg, const char *id, struct rs_order **out)
{
	struct rs_sync *s = arg;
	redisContext *c = fetch_conn(s);
	redisReply *mem = NULL, *h = NULL;
	char why[256];
	int rc = RS_EIO;

	*out = NULL;
	if (!c)
		return RS_EIO;
	redisAppendCommand(c, "SISMEMBER %sorders %s", s->conf->prefix, id);
	redisAppendCommand(c, "HGETALL %sorder:%s", s->conf->prefix, id);
	if (redisGetReply(c, (void **)&mem) != REDIS_OK || redisGetReply(c, (void **)&h) != REDIS_OK)
		goto out;
	/* An error about the server's state is retried; any other error reply
	 * or junk is a malformed order, skipped like any other (never retried
	 * in a loop). */
	if ((mem->type == REDIS_REPLY_ERROR && rs_redis_error_transient(mem->str)) ||
	    (h->type == REDIS_REPLY_ERROR && rs_redis_error_transient(h->str))) {
		rs_log(RS_LOG_WARN, "fetching order '%s': %s", id, mem->type == REDIS_REPLY_ERROR ? mem->str : h->str);
		rc = RS_EIO;
		goto out;
	}
	if (mem->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "order '%s': %sorders: %.100s", id, s->conf->prefix, mem->str);
		rc = RS_EINVAL;
	} else if (mem->type != REDIS_REPLY_INTEGER || mem->integer == 0 ||
		   (h->type == REDIS_REPLY_ARRAY && h->elements == 0)) {
		rc = RS_ENOENT;
		goto out;
	} else if (h->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "order '%s': %sorder:%s: %.100s", id, s->conf->prefix, id, h->str);
		rc = RS_EINVAL;
	} else {
		const char **kv;
		size_t n;
		rc = rs_hash_kv(h, &kv, &n);
		if (rc == RS_ENOMEM)
			goto out;
		if (rc)
			snprintf(why, sizeof(why), "order '%s': %sorder:%s is not a hash of text fields", id,
				 s->conf->prefix, id);
		else
			rc = rs_order_parse(s->conf, id, kv, n, out, why, sizeof(why));
		if (rc == 0 && (*out)->warnings)
			rs_log(RS_LOG_WARN, "%s", why); /* fields replaced or shortened: the order loads */
		free(kv);
	}
	if (rc) {
		atomic_fetch_add_explicit(&s->info.bad, 1, memory_order_relaxed);
		rs_log(RS_LOG_WARN, "skipping malformed order: %s", why);
		rc = RS_EINVAL;
	}
out:
	if (rc == RS_EIO && c->err) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
	freeReplyObject(mem);
	freeReplyObject(h);
	return rc;
}

/* Signed mode: the publish of the signature alarm counters (any thread reads them). */
static void sig_publish(struct rs_sync *s)
{
	atomic_store_explicit(&s->info.signature_alarm, (int64_t)s->sigalarm.n, memory_order_relaxed);
	atomic_store_explicit(&s->info.signature_failures, (int64_t)s->sigalarm.failures, memory_order_relaxed);
}

/* Signed mode: reload one order with full verification (apply.h's reload);
 * id "": the protected set (load.h). */
static int reload_order(void *arg, const char *id)
{
	struct rs_sync *s = arg;
	redisContext *c = fetch_conn(s);
	char err[512];
	int rc;

	if (!c)
		return RS_EIO;
	rc = rs_load_order_signed(c, s->conf, cur(s), id, &s->sigalarm, err, sizeof(err));
	if (rc)
		rs_log(RS_LOG_WARN, "reloading %s%s%s: %s", *id ? "order '" : "the protected set", id, *id ? "'" : "", err);
	if (rc == RS_EIO && c->err) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
	return rc;
}

/* ---- replacing the whole list ---- */

static void retire_list(struct rs_sync *s, struct rs_list *l)
{
	struct retired_list *r = malloc(sizeof(*r));

	if (!r)
		return; /* leak rather than free under a reader */
	r->l = l;
	r->when_ms = mono_ms();
	r->epoch = rs_ebr_tag();
	r->next = s->retired;
	s->retired = r;
}

/* Free the replaced lists tagged below safe (rs_ebr_observe()) and older
 * than the floor, except the one the snapshot writer holds or will write
 * (pinned: the writer's ebr.h section covers only what was retired after it
 * entered); all of them when no reader can exist any more (stop, after the
 * writer was joined). */
static void reclaim_lists(struct rs_sync *s, uint64_t safe, bool all)
{
	struct retired_list **pp = &s->retired, *r;
	int64_t limit = mono_ms() - RS_LIST_FLOOR_MS;
	const struct rs_list *pin1 = NULL, *pin2 = NULL;

	if (!s->retired)
		return;
	if (s->snap.started && !all) {
		pthread_mutex_lock(&s->snap.mu);
		pin1 = s->snap.pending ? s->snap.req : NULL;
		pin2 = s->snap.writing;
		/* only this thread posts requests: the writer can hold no other list until we return */
		pthread_mutex_unlock(&s->snap.mu);
	}
	while ((r = *pp) != NULL) {
		if (all || (r->when_ms <= limit && r->epoch < safe && r->l != pin1 && r->l != pin2)) {
			*pp = r->next;
			rs_list_free(r->l);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void publish_list(struct rs_sync *s, struct rs_list *l)
{
	struct rs_list *old = cur(s);

	rs_list_set_quiescent(l, false);
	rs_list_set_floor(l, RS_LIST_FLOOR_MS); /* every reader of the module uses ebr.h sections */
	atomic_store_explicit(s->listp, l, memory_order_release);
	rs_apply_set_list(&s->ap, l); /* and forgets the failed reloads (apply.h) */
	retire_list(s, old);
	s->win_stale = true;
}

/* ---- lag: the node we read (doc/fleet.md, "Lag") ---- */

/* The probe saw nothing of the read endpoint (no link): its fields become unknown. */
static void repl_forget(struct rs_sync *s)
{
	s->repl_valid = s->repl_probed = false;
	s->repl_unapplied[0] = '\0';
	s->read_node[0] = '\0';
}

/*
 * Queue, after the dataset probe's commands on the blocking connection c,
 * INFO replication and XRANGE changes (last_id + COUNT 1: what the node we
 * read is, and the first change on it the list has not applied. Their
 * replies follow the probe's (repl_recv), in the same round trip.
 */
static void repl_send(struct rs_sync *s, redisContext *c)
{
	char start[RS_STREAM_ID_MAX + 1];

	repl_forget(s);
	if (c->connection_type == REDIS_CONN_UNIX && c->unix_sock.path)
		snprintf(s->read_node, sizeof(s->read_node), "%s", c->unix_sock.path);
	else if (c->connection_type == REDIS_CONN_TCP && c->tcp.host)
		snprintf(s->read_node, sizeof(s->read_node), strchr(c->tcp.host, ':') ? "[%s]:%d" : "%s:%d", c->tcp.host,
			 c->tcp.port);
	snprintf(start, sizeof(start), "(%s", s->last_id[0] ? s->last_id : "0-0");
	redisAppendCommand(c, "INFO replication");
	redisAppendCommand(c, "XRANGE %schanges %s + COUNT 1", s->conf->prefix, start);
}

/*
 * Read the two replies repl_send queued. A lost connection leaves the fields
 * unknown (the caller drops the connection: c->err). INFO refused (an ACL
 * without +info) leaves the replica's fields unknown (""), logged once; the
 * lag is still measured.
 */
static void repl_recv(struct rs_sync *s, redisContext *c)
{
	redisReply *info = NULL, *next = NULL;
	const redisReply *id;

	if (redisGetReply(c, (void **)&info) != REDIS_OK || redisGetReply(c, (void **)&next) != REDIS_OK) {
		repl_forget(s);
		goto out;
	}
	s->repl_probed = true;
	if (info->type == REDIS_REPLY_STRING && rs_replinfo_parse(info->str, info->len, &s->repl) == 0) {
		s->repl_valid = true;
		s->repl_refused_logged = false;
	} else if (!s->repl_refused_logged) {
		rs_log(RS_LOG_WARN, "INFO replication at %s: %.200s: the replica's state is not reported (grant +info)",
		       s->conf->read.addr, info->type == REDIS_REPLY_ERROR ? info->str : "no role in the reply");
		s->repl_refused_logged = true;
	}
	if (next->type == REDIS_REPLY_ARRAY && next->elements == 1 && next->element[0]->type == REDIS_REPLY_ARRAY &&
	    next->element[0]->elements >= 1) {
		id = next->element[0]->element[0];
		if (id->type == REDIS_REPLY_STRING && id->len > 0 && id->len < sizeof(s->repl_unapplied) &&
		    strspn(id->str, "0123456789-") == id->len)
			snprintf(s->repl_unapplied, sizeof(s->repl_unapplied), "%s", id->str);
	}
out:
	freeReplyObject(info);
	freeReplyObject(next);
}

/* How long (ms, our clock against the id's, which is the primary's) the
 * oldest change the node we read held at the last probe, and the list has
 * not applied, has existed; 0 when there was none or it has been applied
 * since. */
static long long lag_ms(struct rs_sync *s)
{
	unsigned long long ms = 0;
	int64_t now = wall_ms();

	if (!s->repl_unapplied[0] || (s->last_id[0] && id_cmp(s->repl_unapplied, s->last_id) <= 0))
		return 0;
	if (sscanf(s->repl_unapplied, "%llu", &ms) != 1 || (int64_t)ms >= now)
		return 0;
	return (long long)(now - (int64_t)ms);
}

/* ---- the dataset identity (dataset.h) ---- */

static bool holding(struct rs_sync *s)
{
	struct rs_list_stats st;

	rs_list_stats(cur(s), &st);
	return st.orders > 0 || st.domains > 0 || st.protected_n > 0;
}

/*
 * Enter (why != "") or leave (why == "") the alarm state; logged once per
 * change. Without a heartbeat redsink-ctl cannot learn which dataset we hold,
 * so the log names the --supersedes a deliberate new dataset needs.
 */
static void set_alarm(struct rs_sync *s, const char *why, const char *detail)
{
	struct rs_list_stats st;

	rs_list_stats(cur(s), &st);
	pthread_mutex_lock(&s->alarm_mu);
	if (*why)
		snprintf(s->alarm_text, sizeof(s->alarm_text), "%s: %s; keeping %zu orders, %zu domains", why, detail,
			 st.orders, st.domains);
	else
		s->alarm_text[0] = '\0';
	pthread_mutex_unlock(&s->alarm_mu);
	if (strcmp(s->alarm, why) == 0)
		return;
	s->alarm_by_load = false; /* the caller sets it again for an alarm only a load may clear */
	if (*why)
		rs_log(RS_LOG_ERR,
		       "dataset alarm (%s): %s; keeping the list of dataset %s (%zu orders, %zu domains) and not "
		       "following Redis until the dataset is ours again or `redsink-ctl dataset new%s%s` supersedes it",
		       why, detail, *s->dataset ? s->dataset : "(no identity)", st.orders, st.domains,
		       !s->opts.heartbeat && *s->dataset ? " --supersedes " : "", s->opts.heartbeat ? "" : s->dataset);
	else
		rs_log(RS_LOG_INFO, "dataset alarm cleared: %s", detail);
	s->alarm = why;
	s->paused = *why != '\0';
	atomic_store_explicit(&s->info.dataset_alarm, *why != '\0', memory_order_relaxed);
}

/*
 * Judge what Redis holds against the list: RS_DS_SAME / RS_DS_ADOPT (go on),
 * or an alarm verdict (alarm set, stream paused), or -1 when Redis could not
 * be asked (RS_EIO). With repl (the periodic probe) the lag probe of the
 * node we read rides in the same round trip (repl_send).
 */
static int judge_redis_ex(struct rs_sync *s, bool repl)
{
	struct rs_probe p;
	char err[256], detail[400];
	redisContext *c = fetch_conn(s);
	enum rs_dataset_verdict v;
	int rc;

	if (!c) {
		if (repl)
			repl_forget(s);
		return -1;
	}
	rs_load_probe_send(c, s->conf);
	if (repl)
		repl_send(s, c);
	rc = rs_load_probe_recv(c, &p, err, sizeof(err));
	if (repl)
		repl_recv(s, c); /* its replies follow the probe's, read even when the probe failed */
	if (rc) {
		rs_log(RS_LOG_WARN, "%s", err);
		if (c->err) {
			redisFree(s->fetch);
			s->fetch = NULL;
		}
		return -1;
	}
	s->probe = p.ds;
	snprintf(s->probe_newest, sizeof(s->probe_newest), "%s", p.newest_id);
	v = rs_dataset_judge(s->dataset, holding(s), &p.ds, p.has_data);
	if (v == RS_DS_SAME || v == RS_DS_ADOPT) {
		if (*s->alarm && !s->alarm_by_load)
			set_alarm(s, "", p.ds.valid ? p.ds.id : "Redis holds the dataset again");
		return (int)v;
	}
	if (v == RS_DS_VANISHED)
		snprintf(detail, sizeof(detail), "Redis %s no longer holds dataset %s (it has %s)", s->conf->read.addr,
			 *s->dataset ? s->dataset : "(a list without identity)",
			 p.has_data ? "data but no dataset identity" : "no dataset, no orders and no change stream");
	else if (v == RS_DS_FOREIGN)
		snprintf(detail, sizeof(detail), "Redis %s holds dataset %s, which does not supersede ours (%s)",
			 s->conf->read.addr, p.ds.id, *s->dataset ? s->dataset : "without identity");
	else
		snprintf(detail, sizeof(detail), "%sdataset at %s is not a well-formed identity (ours: %s)",
			 s->conf->prefix, s->conf->read.addr, *s->dataset ? s->dataset : "without identity");
	set_alarm(s, rs_dataset_verdict_name(v), detail);
	return (int)v;
}

static int judge_redis(struct rs_sync *s)
{
	return judge_redis_ex(s, false);
}

/*
 * Load everything from Redis into a new list and publish it, unless what was
 * loaded is a dataset the list must not adopt (dataset.h), or an unexplained
 * emptying of the same dataset (every order gone at once while we hold
 * some): then the list is kept and the alarm raised. RS_EIO, RS_ENOMEM,
 * RS_EINVAL (alarm), 0.
 */
/* A scratch copy of the signature alarms for a full load (review item 12):
 * a load that is not published must not change them. NULL on out of memory
 * (the load then works on the alarms themselves, as before). */
static struct rs_sigalarm *sigalarm_scratch(const struct rs_sigalarm *a, struct rs_sigalarm *out)
{
	*out = *a;
	out->v = NULL;
	out->cap = a->n;
	out->prot.text = NULL; /* a deep copy: the load may replace it */
	if (rs_protsig_copy(&out->prot, &a->prot))
		return NULL;
	if (a->n) {
		out->v = malloc(a->n * sizeof(*out->v));
		if (!out->v) {
			rs_protsig_clear(&out->prot);
			return NULL;
		}
		memcpy(out->v, a->v, a->n * sizeof(*out->v));
	}
	return out;
}

/* The full load's alarms: kept (published) or discarded; a discarded load's
 * failures still count. */
static void sigalarm_settle(struct rs_sync *s, struct rs_sigalarm *scratch, bool keep)
{
	if (scratch && scratch != &s->sigalarm) {
		if (keep) {
			rs_sigalarm_free(&s->sigalarm);
			s->sigalarm = *scratch; /* the apply state points at s->sigalarm: still valid */
		} else {
			s->sigalarm.failures = scratch->failures;
			rs_sigalarm_free(scratch);
		}
	}
	sig_publish(s);
}

static int full_load(struct rs_sync *s)
{
	struct rs_sigalarm scratch_, *scratch;
	struct rs_load_stats st;
	struct rs_list *l;
	struct rs_list_stats held;
	char err[512];
	redisContext *c = fetch_conn(s);
	int64_t t0 = mono_ms();
	enum rs_dataset_verdict v;
	int rc;

	if (!c)
		return RS_EIO;
	l = rs_list_new(1 << 16);
	if (!l)
		return RS_ENOMEM;
	/* signed mode: verified against what the current list verified (load.h) */
	scratch = sigalarm_scratch(&s->sigalarm, &scratch_);
	if (!scratch)
		scratch = &s->sigalarm;
	rc = rs_load_all_signed(c, s->conf, l, cur(s), scratch, &st, err, sizeof(err));
	if (rc) {
		sigalarm_settle(s, scratch, false);
		rs_list_free(l);
		rs_log(RS_LOG_ERR, "full reload from %s failed: %s: keeping the current list", s->conf->read.addr, err);
		if (c->err) {
			redisFree(s->fetch);
			s->fetch = NULL;
		}
		if (rc == RS_EPROTO) {
			set_alarm(s, "malformed", err);
			s->alarm_by_load = true;
		}
		return rc == RS_ENOMEM ? rc : RS_EIO;
	}
	rs_list_stats(cur(s), &held);
	v = rs_dataset_judge(s->dataset, holding(s), &st.ds, st.has_data);
	if (v == RS_DS_SAME && st.orders == 0 && held.orders > 0) {
		sigalarm_settle(s, scratch, false);
		rs_list_free(l);
		set_alarm(s, "vanished", "every order is gone at once from Redis without a change in the stream");
		s->alarm_by_load = true; /* cleared by a load that finds orders, or a superseding dataset */
		return RS_EINVAL;
	}
	if (v != RS_DS_SAME && v != RS_DS_ADOPT) {
		sigalarm_settle(s, scratch, false);
		rs_list_free(l);
		(void)judge_redis(s); /* raises the alarm with the details */
		if (!*s->alarm)
			set_alarm(s, rs_dataset_verdict_name(v), "the dataset changed during the load");
		return RS_EINVAL;
	}
	if (v == RS_DS_ADOPT && *s->dataset && st.ds.valid)
		rs_log(RS_LOG_WARN, "adopting dataset %s (generation %llu), which supersedes dataset %s", st.ds.id,
		       (unsigned long long)st.ds.generation, s->dataset);
	else if (!st.ds.valid && st.has_data)
		rs_log(RS_LOG_WARN, "Redis %s has no dataset identity yet (redsink-ctl creates one with its next change)",
		       s->conf->read.addr);
	snprintf(s->dataset, sizeof(s->dataset), "%s", st.ds.valid ? st.ds.id : "");
	s->alarm_by_load = false;
	if (*s->alarm)
		set_alarm(s, "", "a full load adopted what Redis holds");
	sigalarm_settle(s, scratch, true);
	publish_list(s, l);
	snprintf(s->last_id, sizeof(s->last_id), "%s", st.last_id);
	s->npos = 0; /* a new list: what the old one followed does not matter */
	atomic_fetch_add_explicit(&s->info.resyncs, 1, memory_order_release); /* after publish_list: rs_sync_info */
	atomic_fetch_add_explicit(&s->info.bad, (int64_t)(st.bad_orders + st.bad_domains + st.bad_prefixes), memory_order_relaxed);
	atomic_store_explicit(&s->info.last_applied_ms, wall_ms(), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->info.bad, (int64_t)st.bad_keys, memory_order_relaxed);
	s->last_heartbeat_ms = 0;
	s->dirty = true;
	rs_log(RS_LOG_INFO, "full load: %zu orders, %zu domains, %zu protected in %lld ms (stream at %s, dataset %s)",
	       st.orders, st.domains, st.protected_n, (long long)(mono_ms() - t0), s->last_id,
	       *s->dataset ? s->dataset : "without identity");
	if (s->conf->require_signatures)
		rs_log(st.sig_held + st.sig_refused ? RS_LOG_WARN : RS_LOG_INFO,
		       "full load: signatures verified; %zu orders kept at their verified version, %zu not enforced "
		       "(signature alarm: %zu orders)",
		       st.sig_held, st.sig_refused, s->sigalarm.n);
	if (s->hooks.purge)
		s->hooks.purge(s->hooks.arg, l);
	return 0;
}

/* ---- following the stream ---- */

/* Double the delay (BACKOFF_MIN_MS..BACKOFF_MAX_MS) and schedule the next try. */
static void backoff(int *delay_ms, int64_t *next_ms)
{
	*delay_ms = *delay_ms ? *delay_ms * 2 : BACKOFF_MIN_MS;
	if (*delay_ms > BACKOFF_MAX_MS)
		*delay_ms = BACKOFF_MAX_MS;
	*next_ms = mono_ms() + *delay_ms;
}

static void rd_connect(struct rs_sync *s);
static void xread(struct rs_sync *s);
static void restart_stream(struct rs_sync *s);
static void remember_position(struct rs_sync *s);

static void rd_lost(struct rs_sync *s, const char *why)
{
	if (atomic_load_explicit(&s->info.link_up, memory_order_relaxed) || s->rd_backoff == 0)
		rs_log(RS_LOG_WARN, "lost the change stream at %s (%s): keeping the current list, retrying",
		       s->conf->read.addr, why);
	atomic_store_explicit(&s->info.link_up, 0, memory_order_relaxed);
	s->rd = NULL;
	s->rd_busy = s->resume = s->retry_due = s->resync_due = false;
	/* The blocking connection went to the same server: after a restart it
	 * is dead without knowing it, and the first judge of the next connection
	 * would fail on it and double the backoff (30 s soon). Connect afresh. */
	if (s->fetch) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
	backoff(&s->rd_backoff, &s->rd_next_ms);
}

static void rd_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rs_sync *s = ac->data;

	if (s->rd == ac)
		rd_lost(s, status == REDIS_OK ? "closed" : ac->errstr);
}

static void rd_on_connect(const redisAsyncContext *ac, int status)
{
	struct rs_sync *s = ac->data;

	if (status != REDIS_OK && s->rd == ac)
		rd_lost(s, ac->errstr); /* hiredis frees the context after this */
}

static void purge_changed(struct rs_sync *s)
{
	struct rs_list_stats st;

	rs_list_stats(s->ap.changed, &st);
	if (s->hooks.purge && s->ap.purge_all)
		s->hooks.purge(s->hooks.arg, cur(s));
	else if (s->hooks.purge && (st.domains > 0 || st.prefixes > 0)) /* prefixes: addip (doc/architecture.md) */
		s->hooks.purge(s->hooks.arg, s->ap.changed);
	else if (s->hooks.purge)
		s->hooks.purge(s->hooks.arg, NULL); /* a withdrawal, a protection: the stored blocked answers */
	if (s->ap.purge_all)
		s->win_stale = true; /* an order changed: its windows or expiry may have */
	if (s->commit_pending)
		return; /* the prefixes are not published: the change set is kept for the purge after the retry */
	if (rs_apply_reset(&s->ap))
		rs_log(RS_LOG_ERR, "out of memory resetting the change set");
}

static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;
	bool progressed = false;

	if (!r || s->stopping || s->rd != ac)
		return; /* disconnecting: the disconnect callback does the rest */
	s->rd_last_reply_ms = mono_ms();
	s->rd_busy = false;
	if (r->type == REDIS_REPLY_ERROR) {
		rs_log(RS_LOG_ERR, "XREAD %schanges: %s", s->conf->prefix, r->str);
		redisAsyncDisconnect(ac); /* reconnects with backoff (reset only by a good XREAD) */
		return;
	}
	atomic_store_explicit(&s->info.link_up, 1, memory_order_relaxed);
	s->rd_backoff = 0;
	if (s->paused)
		return; /* in alarm: entries are not applied; the tick probes the dataset */
	if (s->resume) {
		restart_stream(s); /* the list changed under this XREAD: read again from where it stands */
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->element[1]->elements > 0) {
		const redisReply *entries = r->element[0]->element[1];
		/* Whose entries are these? A database swapped or flushed under
		 * this connection must not feed another dataset's changes into
		 * the list (an `order` entry for an order that dataset lacks
		 * would revoke ours): one pipelined look before each batch. */
		int v = judge_redis(s);
		if (v < 0) {
			backoff(&s->retry_backoff, &s->retry_next_ms);
			s->retry_due = true;
			return;
		}
		if (s->paused)
			return;
		if (v == RS_DS_ADOPT && *s->dataset) {
			if (full_load(s) == 0 || !s->paused)
				restart_stream(s);
			return;
		}
		for (size_t i = 0; i < entries->elements; i++) {
			struct rs_change ch;
			int rc;
			if (!rs_change_parse(entries->element[i], &ch))
				continue;
			rc = rs_apply_change(&s->ap, &ch);
			if (rc == RS_EIO || rc == RS_ENOMEM) {
				/* stop here; the same entry is read again after a backoff */
				if (s->retry_backoff == 0)
					rs_log(RS_LOG_WARN, "change %s not applied yet: %s: retrying with backoff", ch.id,
					       rs_strerror(rc));
				backoff(&s->retry_backoff, &s->retry_next_ms);
				s->retry_due = true;
				break;
			}
			s->retry_backoff = 0;
			snprintf(s->last_id, sizeof(s->last_id), "%s", ch.id);
			progressed = true;
			if (s->ap.dataset_changed)
				break; /* what follows belongs to the dataset judged below */
		}
	}
	if (progressed) {
		sig_publish(s);
		atomic_store_explicit(&s->info.applied, (int64_t)s->ap.applied, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->info.bad, (int64_t)(s->ap.bad - s->ap_bad_seen), memory_order_relaxed);
		s->ap_bad_seen = s->ap.bad;
		atomic_store_explicit(&s->info.last_applied_ms, wall_ms(), memory_order_relaxed);
		s->dirty = true;
		s->last_heartbeat_ms = 0; /* tell the fleet at the next tick, not in up to 5 s */
		/* the batch's prefix changes reach the readers here, in one rebuild,
		 * before the purge looks for what they hold (list.h) */
		if (rs_list_commit(cur(s)) != 0) {
			rs_log(RS_LOG_ERR, "out of memory publishing prefix changes: tried again at the next tick");
			s->commit_pending = true; /* names are purged now, addresses after the retry */
		} else {
			s->commit_pending = false; /* this batch's commit published the earlier ones too */
		}
		if (rs_list_commit(s->ap.changed) != 0)
			rs_log(RS_LOG_ERR, "out of memory listing changed prefixes: their cached answers stay");
		purge_changed(s);
		remember_position(s);
	}
	if (s->ap.dataset_changed) {
		s->ap.dataset_changed = false;
		rs_log(RS_LOG_INFO, "change %s: the dataset identity changed: checking it", s->last_id);
		if (judge_redis(s) == RS_DS_ADOPT && full_load(s) == RS_EIO) {
			redisAsyncDisconnect(ac);
			return;
		}
		if (s->paused)
			return;
	}
	if (!s->retry_due)
		xread(s);
}

static void xread(struct rs_sync *s)
{
	if (!s->rd || s->stopping || s->rd_busy)
		return; /* one command at a time on rd: its callback issues the next */
	s->retry_due = false;
	s->rd_busy = true;
	redisAsyncCommand(s->rd, on_xread, NULL, "XREAD COUNT 1000 BLOCK %d STREAMS %schanges %s", XREAD_BLOCK_MS,
			  s->conf->prefix, s->last_id[0] ? s->last_id : "0-0");
}

/*
 * After (re)connecting: can the stream still give us every entry after our id?
 * Trimming removes entries from the head: if our own entry is still there, so is
 * everything after it. If it is gone and newer entries were generated, some of
 * those may be gone too. A stream whose newest id is older than ours was rolled
 * back (a failover to a lagging replica, a restore from a backup): what we hold
 * is not what Redis holds. Each case is a full resync; the reason is returned
 * for the log, or NULL when the stream can be followed.
 */
static const char *stream_lost_entries(const redisReply *r, const char *last_id)
{
	const char *first = NULL, *maxdel = NULL, *lastgen = NULL;
	long long length = -1, added = -1;

	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "max-deleted-entry-id") == 0 && v->type == REDIS_REPLY_STRING)
			maxdel = v->str;
		else if (strcmp(k->str, "last-generated-id") == 0 && v->type == REDIS_REPLY_STRING)
			lastgen = v->str;
		else if (strcmp(k->str, "length") == 0 && v->type == REDIS_REPLY_INTEGER)
			length = v->integer;
		else if (strcmp(k->str, "entries-added") == 0 && v->type == REDIS_REPLY_INTEGER)
			added = v->integer;
		else if (strcmp(k->str, "first-entry") == 0 && v->type == REDIS_REPLY_ARRAY && v->elements >= 1 &&
			 v->element[0]->type == REDIS_REPLY_STRING)
			first = v->element[0]->str;
	}
	if (strcmp(last_id, "0-0") == 0)
		return (added >= 0 ? added > length : first != NULL) ? "the stream was trimmed" : NULL;
	if (lastgen && id_cmp(lastgen, last_id) < 0)
		return "rollback: the stream's newest id is older than the list's";
	if (maxdel && id_cmp(maxdel, last_id) > 0)
		return "entries after the list's position were deleted (XDEL)";
	if (lastgen && id_cmp(lastgen, last_id) == 0)
		return NULL; /* nothing new since our entry */
	return (!first || id_cmp(first, last_id) > 0) ? "the stream was trimmed past the list's position" : NULL;
}

/* Does the stream still hold the entry at id? 1, 0, or -1 (ask again later).
 * XREVRANGE: the `resolver` ACL role has it (doc/acl.md). */
static int entry_exists(struct rs_sync *s, const char *id)
{
	redisContext *c = fetch_conn(s);
	redisReply *r;
	int rc;

	if (!c)
		return -1;
	r = redisCommand(c, "XREVRANGE %schanges %s %s COUNT 1", s->conf->prefix, id, id);
	if (!r) {
		redisFree(s->fetch);
		s->fetch = NULL;
		return -1;
	}
	if (r->type == REDIS_REPLY_ARRAY)
		rc = r->elements > 0;
	else
		rc = r->type == REDIS_REPLY_ERROR && !rs_redis_error_transient(r->str) ? 0 : -1;
	freeReplyObject(r);
	return rc;
}

static void on_xinfo(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;
	const char *why = s->last_id[0] == '\0' ? "the list does not come from this Redis" : NULL;
	int v;

	if (!r || s->stopping || s->rd != ac)
		return;
	s->rd_last_reply_ms = mono_ms();
	s->rd_busy = false;
	if (s->resume) {
		restart_stream(s); /* the list changed while this XINFO was in flight */
		return;
	}
	s->last_probe_ms = mono_ms();
	v = judge_redis(s);
	if (v < 0) {
		redisAsyncDisconnect(ac);
		return;
	}
	atomic_store_explicit(&s->info.link_up, 1, memory_order_relaxed);
	if (v != RS_DS_SAME && v != RS_DS_ADOPT)
		return; /* alarm: keep the list; the tick probes again */
	if (v == RS_DS_ADOPT && *s->dataset)
		why = "a new dataset supersedes the list's";
	if (s->alarm_by_load)
		why = "the last full load failed";
	if (r->type == REDIS_REPLY_ERROR) {
		if (strncmp(r->str, "WRONGTYPE", 9) == 0) {
			rs_log(RS_LOG_ERR, "%schanges at %s is not a stream: keeping the current list", s->conf->prefix,
			       s->conf->read.addr);
			atomic_fetch_add_explicit(&s->info.bad, 1, memory_order_relaxed);
			redisAsyncDisconnect(ac); /* retried with backoff */
			return;
		}
		/* no stream at all: fine if we never saw one */
		if (!why && strcmp(s->last_id, "0-0") != 0)
			why = "the change stream is gone";
	} else if (r->type == REDIS_REPLY_ARRAY && !why) {
		why = stream_lost_entries(r, s->last_id);
		if (!why && strcmp(s->last_id, "0-0") != 0) {
			int e = entry_exists(s, s->last_id);
			if (e < 0) {
				redisAsyncDisconnect(ac);
				return;
			}
			if (e == 0)
				why = "divergent history: the stream does not hold the list's own entry (a failover to a "
				      "replica that missed it?)";
		}
	}
	if (why && strstr(why, "trimmed") && s->last_id[0] && strcmp(s->last_id, "0-0") != 0 && !s->resync_waited) {
		/* A restart storm: every resolver of a site starts at once from a
		 * snapshot the stream has been trimmed past. The list they hold is
		 * enforced meanwhile, so each waits a random 0..RESYNC_JITTER_MS
		 * before its full load instead of loading from the replica at
		 * the same moment as the others. Only the first stream check
		 * after a start: a resync while running is not delayed. */
		int64_t wait = (int64_t)(((uint64_t)getpid() * 2654435761u ^ (uint64_t)mono_ms() * 40503u) %
					 RESYNC_JITTER_MS);
		rs_log(RS_LOG_INFO, "%s (list at %s): full load from %s in %lld ms (jitter)", why, s->last_id,
		       s->conf->read.addr, (long long)wait);
		s->resync_waited = true;
		s->resync_due = true;
		s->resync_at_ms = mono_ms() + wait;
		return;
	}
	s->resync_waited = true;
	if (why) {
		if (s->last_id[0])
			rs_log(RS_LOG_WARN, "full resync from %s: %s (list at %s)", s->conf->read.addr, why, s->last_id);
		int rc = full_load(s);
		if (rc == RS_EINVAL)
			return; /* alarm raised: the list is kept */
		if (rc != 0) {
			redisAsyncDisconnect(ac);
			return;
		}
	}
	else if (v == RS_DS_ADOPT && s->probe.valid) {
		/* the list has no identity yet but follows this stream: take it */
		snprintf(s->dataset, sizeof(s->dataset), "%s", s->probe.id);
		s->dirty = true;
		rs_log(RS_LOG_INFO, "the list now carries the identity of dataset %s", s->dataset);
	}
	atomic_store_explicit(&s->info.link_up, 1, memory_order_relaxed);
	if (s->rd_backoff || why)
		rs_log(RS_LOG_INFO, "following the change stream at %s from %s", s->conf->read.addr, s->last_id);
	xread(s);
}

/* Check the stream from where the list stands (XINFO, then XREAD), once no
 * XREAD is in flight on rd (its reply is then dropped). */
static void restart_stream(struct rs_sync *s)
{
	if (s->rd_busy) {
		s->resume = true;
		return;
	}
	s->resume = false;
	s->retry_due = false;
	s->rd_last_reply_ms = mono_ms();
	s->rd_busy = true;
	redisAsyncCommand(s->rd, on_xinfo, NULL, "XINFO STREAM %schanges", s->conf->prefix);
}

/*
 * Divergent history on a live connection. A failover to a replica that
 * missed the last changes we applied leaves our replica, once it re-syncs
 * from the new primary, with a shorter history — without breaking our
 * connection. If the new primary's stream then grows past our position
 * before the probe sees it, neither "the newest id is older than ours" nor
 * "our own entry is missing" (the last one we applied is a new entry)
 * catches it. So the list remembers the positions it reached (one a second,
 * for two minutes) and the probe checks that the stream still holds each: a
 * missing one that was not trimmed away means the history we followed is
 * not Redis' any more, and only a full load gives the truth.
 */
static void remember_position(struct rs_sync *s)
{
	int64_t now = mono_ms();

	if (s->npos > 0 && now - s->pos[s->npos - 1].at_ms < 1000) {
		snprintf(s->pos[s->npos - 1].id, RS_STREAM_ID_MAX, "%s", s->last_id); /* same second: newest wins */
		return;
	}
	if (s->npos == POSITIONS_MAX) {
		memmove(s->pos, s->pos + 1, (POSITIONS_MAX - 1) * sizeof(s->pos[0]));
		s->npos--;
	}
	snprintf(s->pos[s->npos].id, RS_STREAM_ID_MAX, "%s", s->last_id);
	s->pos[s->npos++].at_ms = now;
}

/* A remembered position the stream lost (not trimmed), or NULL; NULL also
 * when Redis could not be asked (the next probe asks again). Pipelined: one
 * XREVRANGE per position and the stream's first entry, one round trip. */
static const char *lost_position(struct rs_sync *s, char out[RS_STREAM_ID_MAX])
{
	redisContext *c = fetch_conn(s);
	int64_t now = mono_ms();
	const char *lost = NULL;
	char first[RS_STREAM_ID_MAX] = "";
	size_t keep = 0;
	redisReply *r;

	while (keep < s->npos && now - s->pos[keep].at_ms > POSITIONS_KEEP_MS)
		keep++;
	memmove(s->pos, s->pos + keep, (s->npos - keep) * sizeof(s->pos[0]));
	s->npos -= keep;
	if (!c || s->npos == 0)
		return NULL;
	redisAppendCommand(c, "XRANGE %schanges - + COUNT 1", s->conf->prefix);
	for (size_t i = 0; i < s->npos; i++)
		redisAppendCommand(c, "XREVRANGE %schanges %s %s COUNT 1", s->conf->prefix, s->pos[i].id, s->pos[i].id);
	for (size_t i = 0; i <= s->npos; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			redisFree(s->fetch);
			s->fetch = NULL;
			return NULL;
		}
		if (i == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
			snprintf(first, sizeof(first), "%s", r->element[0]->element[0]->str);
		else if (i > 0 && !lost && r->type == REDIS_REPLY_ARRAY && r->elements == 0 && first[0] &&
			 id_cmp(s->pos[i - 1].id, first) >= 0) {
			snprintf(out, RS_STREAM_ID_MAX, "%s", s->pos[i - 1].id);
			lost = out;
		}
		freeReplyObject(r);
	}
	return lost;
}

/*
 * Every PROBE_MS: is Redis still holding our dataset? Catches a FLUSHALL, a
 * replica that came back empty or a database swapped under a live connection,
 * and, in alarm, notices when the dataset is ours again (or superseded).
 */
static void probe_tick(struct rs_sync *s)
{
	bool was_paused = s->paused, restarted = false;
	char lost[RS_STREAM_ID_MAX];
	int v;

	s->last_probe_ms = mono_ms();
	if (!s->rd || !atomic_load_explicit(&s->info.link_up, memory_order_relaxed)) {
		repl_forget(s);
		return; /* (re)connecting judges anyway */
	}
	v = judge_redis_ex(s, true);
	if ((v == RS_DS_SAME || v == RS_DS_ADOPT) && s->alarm_by_load) {
		/* the last load failed or found every order gone: try again */
		if (full_load(s) == 0)
			restart_stream(s), restarted = true;
	} else if (v == RS_DS_SAME && !s->paused && *s->probe_newest && *s->last_id &&
	    id_cmp(s->probe_newest, s->last_id) < 0) {
		rs_log(RS_LOG_WARN, "full resync from %s: rollback: the stream's newest id %s is older than the list's %s",
		       s->conf->read.addr, s->probe_newest, s->last_id);
		if (full_load(s) == 0)
			restart_stream(s), restarted = true;
	} else if (v == RS_DS_SAME && !s->paused && lost_position(s, lost)) {
		rs_log(RS_LOG_WARN, "full resync from %s: divergent history: the stream no longer holds %s, a position "
		       "the list reached (a failover to a replica that missed it?)", s->conf->read.addr, lost);
		if (full_load(s) == 0)
			restart_stream(s), restarted = true;
	} else if (v == RS_DS_ADOPT && *s->dataset) {
		if (full_load(s) == 0)
			restart_stream(s), restarted = true;
	} else if (v == RS_DS_ADOPT && s->probe.valid) {
		restart_stream(s), restarted = true; /* the XINFO path checks the stream before taking the identity */
	}
	if (was_paused && !s->paused && !restarted)
		restart_stream(s);
}

static void rd_connect(struct rs_sync *s)
{
	s->rd = rs_redis_async_connect(&s->conf->read, s->base, s, rd_on_connect, rd_on_disconnect);
	if (!s->rd) {
		rd_lost(s, "cannot create connection");
		return;
	}
	s->rd_last_reply_ms = mono_ms();
	s->rd_busy = true;
	redisAsyncCommand(s->rd, on_xinfo, NULL, "XINFO STREAM %schanges", s->conf->prefix);
}

/* ---- heartbeat ---- */

static void wr_lost(struct rs_sync *s)
{
	s->wr = NULL;
	backoff(&s->wr_backoff, &s->wr_next_ms);
}

static void wr_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rs_sync *s = ac->data;

	if (s->wr == ac)
		wr_lost(s);
}

static void wr_on_connect(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		wr_on_disconnect(ac, status);
}

static void on_heartbeat(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;

	if (r && r->type == REDIS_REPLY_ERROR && !s->stopping)
		rs_log(RS_LOG_WARN, "heartbeat to %s: %s", s->conf->write.addr, r->str);
	else if (r)
		s->wr_backoff = 0;
}

/*
 * Receipts (doc/fleet.md): whenever the list stands at a new stream position
 * (changes applied and their cached answers purged, or a full load), one
 * XADD receipts:<name> on the write endpoint says so: `applied` the position,
 * `dataset`, and `at_ms` our own clock (for information: the entry's id is
 * the primary's clock, the time redsink-ctl receipts reports). Written with
 * the heartbeat that follows the change (the next tick); a receipt that got
 * no reply (connection lost, an error) is written again with the next
 * heartbeat: late, never lost.
 */
static void on_receipt(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;
	char *applied = priv;

	s->receipt_inflight = false;
	if (r && r->type == REDIS_REPLY_ERROR && !s->stopping)
		rs_log(RS_LOG_WARN, "receipt to %s: %s: written again with the next heartbeat", s->conf->write.addr,
		       r->str);
	else if (r)
		snprintf(s->receipt_id, sizeof(s->receipt_id), "%s", applied);
	free(applied);
}

static void receipt(struct rs_sync *s)
{
	char key[512], max[32], at[32];
	char *applied;

	if (!s->last_id[0] || s->receipt_inflight || strcmp(s->last_id, s->receipt_id) == 0)
		return;
	if (!(applied = strdup(s->last_id)))
		return;
	snprintf(key, sizeof(key), "%sreceipts:%s", s->conf->prefix, s->conf->resolver_name);
	snprintf(max, sizeof(max), "%d", RECEIPTS_MAX);
	snprintf(at, sizeof(at), "%lld", (long long)atomic_load_explicit(&s->info.last_applied_ms, memory_order_relaxed));
	{
		const char *argv[] = { "XADD", key, "MAXLEN", "~", max, "*", "applied", applied,
				       "dataset", s->dataset, "at_ms", at };
		if (redisAsyncCommandArgv(s->wr, on_receipt, applied, (int)(sizeof(argv) / sizeof(argv[0])), argv,
					  NULL) != REDIS_OK) {
			free(applied);
			return;
		}
	}
	s->receipt_inflight = true;
}

/* ---- collateral alarm (stats.h) ---- */

/* heartbeat `collateral` ("<prefix>=<names> ...", prefixes over the threshold
 * this hour) and `collateral_suspended` ("<prefix> ...") */
struct coll_text {
	char *over, *susp;
	size_t olen, slen, ocap, scap;
};

static void text_add(char **buf, size_t *len, size_t *cap, const char *add)
{
	size_t n = strlen(add);

	if (*len + n + 2 > *cap) {
		size_t c = (*len + n + 2) * 2;
		char *b = realloc(*buf, c);
		if (!b)
			return;
		*buf = b;
		*cap = c;
	}
	if (*len)
		(*buf)[(*len)++] = ' ';
	memcpy(*buf + *len, add, n + 1);
	*len += n;
}

static void coll_add(const char *prefix, unsigned names, bool suspended, void *arg)
{
	struct coll_text *t = arg;
	char one[RS_PREFIX_TEXT_MAX + 16];

	if (names) {
		snprintf(one, sizeof(one), "%s=%u", prefix, names);
		text_add(&t->over, &t->olen, &t->ocap, one);
	}
	if (suspended)
		text_add(&t->susp, &t->slen, &t->scap, prefix);
}

/* The confirmed-ips set (collateral-action: suspend), read with the heartbeat
 * from the write endpoint (where people confirm). A reply that is not a set
 * keeps the confirmations known so far; a member that is not a prefix is
 * skipped. A prefix that triggers again has its cached answers purged (with
 * the whole list as the match, as at a window start). */
static void on_confirmed(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;
	struct rs_prefix *p;
	size_t n = 0;

	if (!r || !s->stats)
		return;
	if (r->type != REDIS_REPLY_ARRAY) {
		if (r->type == REDIS_REPLY_ERROR && !s->confirmed_bad_logged)
			rs_log(RS_LOG_WARN, "%sconfirmed-ips: %s: keeping the confirmations read before", s->conf->prefix,
			       r->str);
		s->confirmed_bad_logged = true;
		return;
	}
	p = calloc(r->elements ? r->elements : 1, sizeof(*p));
	if (!p)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		if (e->type == REDIS_REPLY_STRING && e->len < RS_PREFIX_TEXT_MAX && strlen(e->str) == e->len &&
		    rs_prefix_parse(e->str, &p[n], NULL, 0) == 0)
			n++;
	}
	s->confirmed_bad_logged = false;
	if (rs_stats_confirm(s->stats, p, n) > 0 && s->hooks.purge && !s->stopping)
		s->hooks.purge(s->hooks.arg, cur(s)); /* their answers were cached while they did not trigger */
	free(p);
}

static void heartbeat(struct rs_sync *s)
{
	struct rs_list_stats st;
	char key[512], entries[32], orders[32], applied_at[32], applied[32], bad[32], resyncs[32];
	char pending[32], dropped[32], io_age[32], lag[32], sig_alarm[32], sig_fail[32];
	struct rs_stats_counters sc = { 0 };
	long long age = s->repl_valid ? rs_replinfo_age(&s->repl) : -1;

	struct coll_text ct = { 0 };

	if (!s->wr || !s->opts.heartbeat)
		return;
	if (s->stats) {
		rs_stats_counters(s->stats, &sc);
		rs_stats_collateral(s->stats, time(NULL), coll_add, &ct);
		if (s->conf->collateral_action == RS_COLLATERAL_SUSPEND)
			redisAsyncCommand(s->wr, on_confirmed, NULL, "SMEMBERS %sconfirmed-ips", s->conf->prefix);
	}
	snprintf(pending, sizeof(pending), "%llu", (unsigned long long)(sc.pending + batch_hits(&s->inflight)));
	snprintf(dropped, sizeof(dropped), "%llu", (unsigned long long)sc.dropped);
	rs_list_stats(cur(s), &st);
	snprintf(key, sizeof(key), "%sresolver:%s", s->conf->prefix, s->conf->resolver_name);
	snprintf(entries, sizeof(entries), "%zu", st.domains);
	snprintf(orders, sizeof(orders), "%zu", st.orders);
	snprintf(applied_at, sizeof(applied_at), "%lld",
		 (long long)atomic_load_explicit(&s->info.last_applied_ms, memory_order_relaxed) / 1000);
	snprintf(applied, sizeof(applied), "%lld", (long long)atomic_load_explicit(&s->info.applied, memory_order_relaxed));
	snprintf(bad, sizeof(bad), "%lld", (long long)atomic_load_explicit(&s->info.bad, memory_order_relaxed));
	snprintf(resyncs, sizeof(resyncs), "%lld", (long long)atomic_load_explicit(&s->info.resyncs, memory_order_relaxed));
	if (age >= 0)
		snprintf(io_age, sizeof(io_age), "%lld", age);
	else
		io_age[0] = '\0';
	snprintf(sig_alarm, sizeof(sig_alarm), "%lld",
		 (long long)atomic_load_explicit(&s->info.signature_alarm, memory_order_relaxed));
	snprintf(sig_fail, sizeof(sig_fail), "%lld",
		 (long long)atomic_load_explicit(&s->info.signature_failures, memory_order_relaxed));
	if (s->repl_probed)
		snprintf(lag, sizeof(lag), "%lld", lag_ms(s));
	else
		lag[0] = '\0'; /* no probe since the link came up: unknown */
	{
		const char *argv[] = { "HSET", key,
				       "last_id", s->last_id[0] ? s->last_id : "",
				       "last_applied_at", applied_at,
				       "seen_at", NULL,
				       "entries", entries,
				       "orders", orders,
				       "version", RS_VERSION_STR,
				       "link", atomic_load_explicit(&s->info.link_up, memory_order_relaxed) ? "up" : "down",
				       "jurisdiction", s->conf->jurisdiction ? s->conf->jurisdiction : "",
				       "applied", applied,
				       "malformed_skipped", bad,
				       "resyncs", resyncs,
				       "hits_pending", pending,
				       "hits_dropped", dropped,
				       "dataset", s->dataset,
				       "dataset_alarm", s->alarm,
				       "read", s->read_node,
				       "read_role", s->repl_valid ? rs_repl_role_name(s->repl.role) : "",
				       "read_link", s->repl_valid ? rs_repl_link_name(s->repl.link) : "",
				       "read_io_age_s", io_age,
				       "read_newest", s->probe_newest,
				       "lag_ms", lag,
				       "collateral", ct.over ? ct.over : "",
				       "collateral_suspended", ct.susp ? ct.susp : "",
				       "signature_alarm", sig_alarm,
				       "signature_failures", sig_fail };
		char now[32];
		snprintf(now, sizeof(now), "%lld", (long long)(wall_ms() / 1000));
		argv[7] = now;
		redisAsyncCommandArgv(s->wr, on_heartbeat, NULL, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
	}
	redisAsyncCommand(s->wr, on_heartbeat, NULL, "EXPIRE %s %d", key, HEARTBEAT_TTL_S);
	free(ct.over);
	free(ct.susp);
	receipt(s);
}

/* ---- hit counts ---- */

static uint64_t batch_hits(const struct rs_hit_batch *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->n; i++)
		n += b->rows[i].count;
	return n;
}

/*
 * The hits an EXEC reply refused: a HINCRBY answered with an error (the
 * hits:<hour> key is not a hash, or its field not an integer). Its elements
 * follow the order queue_flush sent: per row a HINCRBY, and an EXPIRE after
 * the first row of each hour.
 */
static uint64_t rejected_hits(struct rs_sync *s, const redisReply *r)
{
	const char *last_hour = "", *last_kind = "";
	uint64_t n = 0;
	size_t e = 0;

	for (size_t i = 0; i < s->inflight.n && e < r->elements; i++) {
		const struct rs_hit_row *row = &s->inflight.rows[i];
		if (r->element[e++]->type == REDIS_REPLY_ERROR) {
			if (n == 0 && !s->refused_logged)
				rs_log(RS_LOG_WARN, "%s%s:%s refused counts (%s): dropped (logged once until a flush is "
				       "accepted)", s->conf->prefix, row->kind, row->hour, r->element[e - 1]->str);
			n += row->count;
		}
		if (strcmp(last_hour, row->hour) != 0 || last_kind != row->kind) {
			e++; /* its EXPIRE */
			last_hour = row->hour;
			last_kind = row->kind;
		}
	}
	return n;
}

static void on_flush(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs_sync *s = ac->data;
	redisReply *r = reply;

	s->flushing = false;
	if (r && r->type == REDIS_REPLY_ARRAY) {
		uint64_t rejected = rejected_hits(s, r);
		rs_stats_flushed(s->stats, batch_hits(&s->inflight), rejected);
		s->refused_logged = rejected > 0;
		rs_hit_batch_free(&s->inflight);
		return;
	}
	if (r && r->type == REDIS_REPLY_ERROR && !s->stopping)
		rs_log(RS_LOG_WARN, "writing %s counts to %s: %s: kept for the next try", rs_stats_key(s->stats),
		       s->conf->write.addr, r->str);
	rs_stats_restore(s->stats, &s->inflight); /* not written: keep them */
}

/* Queue "MULTI, HINCRBY..., EXPIRE per hour, EXEC" for the batch on ac. */
static void queue_flush(struct rs_sync *s, redisAsyncContext *ac, redisCallbackFn *done)
{
	char key[600];
	const char *last_hour = "", *last_kind = "";

	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	for (size_t i = 0; i < s->inflight.n; i++) {
		const struct rs_hit_row *row = &s->inflight.rows[i];
		snprintf(key, sizeof(key), "%s%s:%s", s->conf->prefix, row->kind, row->hour);
		if (row->value) /* the discovered-names index (stats.h) */
			redisAsyncCommand(ac, NULL, NULL, "HSET %s %s %s", key, row->field, row->value);
		else
			redisAsyncCommand(ac, NULL, NULL, "HINCRBY %s %s %llu", key, row->field,
					  (unsigned long long)row->count);
		if (strcmp(last_hour, row->hour) != 0 || last_kind != row->kind) {
			redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %lld", key, (long long)s->conf->stats_retention * 86400);
			last_hour = row->hour;
			last_kind = row->kind;
		}
	}
	redisAsyncCommand(ac, done, NULL, "EXEC");
}

static void flush_hits(struct rs_sync *s)
{
	if (s->flushing || !s->wr || !s->stats)
		return;
	rs_stats_take(s->stats, &s->inflight);
	if (s->inflight.n == 0)
		return;
	s->flushing = true;
	queue_flush(s, s->wr, on_flush);
}

/* At stop: one last, blocking flush, so a reload or shutdown loses nothing
 * while Redis is reachable. */
static void final_flush(struct rs_sync *s)
{
	char err[256], key[600];
	redisContext *c;
	size_t sent = 0;

	if (!s->stats)
		return;
	if (s->flushing) /* its reply will never come: the connection is gone */
		rs_stats_restore(s->stats, &s->inflight);
	s->flushing = false;
	rs_stats_drain(s->stats);
	rs_stats_take(s->stats, &s->inflight);
	if (s->inflight.n == 0)
		return;
	if (rs_redis_connect(&s->conf->write, s->conf->redis_timeout_ms, &c, err, sizeof(err)) == 0) {
		redisAppendCommand(c, "MULTI");
		for (size_t i = 0; i < s->inflight.n; i++) {
			const struct rs_hit_row *row = &s->inflight.rows[i];
			snprintf(key, sizeof(key), "%s%s:%s", s->conf->prefix, row->kind, row->hour);
			if (row->value) /* the discovered-names index (stats.h) */
				redisAppendCommand(c, "HSET %s %s %s", key, row->field, row->value);
			else
				redisAppendCommand(c, "HINCRBY %s %s %llu", key, row->field, (unsigned long long)row->count);
			redisAppendCommand(c, "EXPIRE %s %lld", key, (long long)s->conf->stats_retention * 86400);
			sent += 2;
		}
		redisAppendCommand(c, "EXEC");
		for (size_t i = 0; i < sent + 2; i++) {
			redisReply *r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK) {
				snprintf(err, sizeof(err), "%s", c->errstr);
				break;
			}
			if (i == sent + 1 && r && r->type == REDIS_REPLY_ARRAY) {
				rs_stats_flushed(s->stats, batch_hits(&s->inflight), 0);
				rs_hit_batch_free(&s->inflight);
			}
			freeReplyObject(r);
		}
		redisFree(c);
	}
	if (s->inflight.n)
		rs_log(RS_LOG_WARN, "%llu %s counts could not be written at stop (%s)",
		       (unsigned long long)batch_hits(&s->inflight), rs_stats_key(s->stats), err);
	rs_hit_batch_free(&s->inflight);
}

/* ---- Prometheus metrics ---- */

static void metric_cc(const char *cc, uint64_t n, void *arg)
{
	evbuffer_add_printf(arg, "redsink_blocked_answers_by_country_total{country=\"%s\"} %llu\n", cc,
			    (unsigned long long)n);
}

static void metric_collateral(const char *prefix, unsigned names, bool suspended, void *arg)
{
	if (names)
		evbuffer_add_printf(arg, "redsink_collateral_names{prefix=\"%s\"} %u\n", prefix, names);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct rs_sync *s = arg;
	struct evbuffer *b = evbuffer_new();
	struct rs_list_stats ls;
	struct rs_stats_counters sc = { 0 };
	int64_t applied = atomic_load_explicit(&s->info.last_applied_ms, memory_order_relaxed);

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	rs_list_stats(cur(s), &ls);
	if (s->stats)
		rs_stats_counters(s->stats, &sc);
#define G(name, help, type, fmt, v) \
	evbuffer_add_printf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " " fmt "\n", v)
	G("redsink_list_entries", "Domains listed by at least one order.", "gauge", "%zu", ls.domains);
	G("redsink_list_orders", "Orders in the list.", "gauge", "%zu", ls.orders);
	G("redsink_list_protected", "Protected domains.", "gauge", "%zu", ls.protected_n);
	G("redsink_list_memory_bytes", "Memory of the list.", "gauge", "%zu", ls.mem_bytes);
	G("redsink_last_applied_change_timestamp_seconds", "When the last change was applied.", "gauge", "%.3f",
	  (double)applied / 1000);
	G("redsink_last_applied_change_age_seconds", "Seconds since the last change was applied.", "gauge", "%.3f",
	  applied ? (double)(wall_ms() - applied) / 1000 : -1.0);
	evbuffer_add_printf(b, "# HELP redsink_last_applied_change_info The last applied change id.\n"
			       "# TYPE redsink_last_applied_change_info gauge\nredsink_last_applied_change_info{id=\"%s\"} 1\n",
			    s->last_id);
	/* the millisecond part of that id (Redis's clock when the change was
	 * written): compared across servers for the lag (doc/monitoring.md);
	 * 0 without a list */
	G("redsink_last_change_id_ms", "Millisecond part of the last applied change id.", "gauge", "%llu",
	  strtoull(s->last_id, NULL, 10));
	G("redsink_redis_link_up", "1 while the change stream connection is up.", "gauge", "%d",
	  atomic_load_explicit(&s->info.link_up, memory_order_relaxed));
	G("redsink_changes_applied_total", "Changes applied from the stream.", "counter", "%lld",
	  (long long)atomic_load_explicit(&s->info.applied, memory_order_relaxed));
	G("redsink_resyncs_total", "Full reloads of the list.", "counter", "%lld",
	  (long long)atomic_load_explicit(&s->info.resyncs, memory_order_relaxed));
	G("redsink_malformed_skipped_total", "Malformed orders, domains and changes skipped.", "counter", "%lld",
	  (long long)atomic_load_explicit(&s->info.bad, memory_order_relaxed));
	G("redsink_dataset_alarm", "1 while the list is kept because Redis does not hold its dataset (vanished, "
	  "foreign or malformed).", "gauge", "%d", atomic_load_explicit(&s->info.dataset_alarm, memory_order_relaxed));
	G("redsink_signature_alarm", "Orders held at an older verified state or not enforced because their signed "
	  "manifest failed verification (require-signatures: yes).", "gauge", "%lld",
	  (long long)atomic_load_explicit(&s->info.signature_alarm, memory_order_relaxed));
	G("redsink_signature_failures_total", "Signature verification failures (refused signed entries and orders).",
	  "counter", "%lld", (long long)atomic_load_explicit(&s->info.signature_failures, memory_order_relaxed));
	evbuffer_add_printf(b, "# HELP redsink_blocked_answers_total Blocked answers, by action.\n"
			       "# TYPE redsink_blocked_answers_total counter\n");
	for (int a = 0; a <= RS_ACT_REFUSED; a++)
		evbuffer_add_printf(b, "redsink_blocked_answers_total{action=\"%s\"} %llu\n", rs_action_name(a),
				    (unsigned long long)sc.by_action[a]);
	evbuffer_add_printf(b, "# HELP redsink_blocked_answers_by_country_total Blocked answers, by client country.\n"
			       "# TYPE redsink_blocked_answers_by_country_total counter\n");
	if (s->stats)
		rs_stats_countries(s->stats, metric_cc, b);
	G("redsink_hits_pending_flush", "Hit counts waiting to be written to Redis.", "gauge", "%llu",
	  (unsigned long long)(sc.pending + batch_hits(&s->inflight)));
	G("redsink_hits_flushed_total", "Hit counts written to Redis.", "counter", "%llu",
	  (unsigned long long)sc.flushed);
	G("redsink_hits_dropped_total", "Hits not counted (a worker's ring or the pending memory was full).",
	  "counter", "%llu", (unsigned long long)sc.dropped);
	G("redsink_collateral_prefixes", "Address prefixes that blocked more than collateral-threshold registrable "
	  "domains this UTC hour.", "gauge", "%llu", (unsigned long long)sc.collateral);
	G("redsink_collateral_suspended_prefixes", "Address prefixes that stopped triggering until confirmed "
	  "(collateral-action: suspend).", "gauge", "%llu", (unsigned long long)sc.suspended);
	evbuffer_add_printf(b, "# HELP redsink_collateral_names Registrable domains blocked this UTC hour by a prefix "
			       "over collateral-threshold (counted up to the threshold + 1).\n"
			       "# TYPE redsink_collateral_names gauge\n");
	if (s->stats)
		rs_stats_collateral(s->stats, time(NULL), metric_collateral, b);
#undef G
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void on_http_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "see /metrics");
}

/* ---- the loop ---- */

#ifdef RS_TEST_HOOKS
/*
 * Test builds only (configure --enable-sanitizers): REDSINK_TEST_SNAPSHOT_STALL=MS
 * makes the first snapshot write sleep MS milliseconds inside its read-side
 * section, before it encodes the list, as the encoding of a huge list
 * would (tests/integration/test_snapshot_writer.py).
 */
static void test_snapshot_stall(void)
{
	static atomic_int done;
	const char *env = getenv("REDSINK_TEST_SNAPSHOT_STALL");
	long ms;

	if (!env || atomic_exchange(&done, 1))
		return;
	ms = strtol(env, NULL, 10);
	rs_log(RS_LOG_INFO, "test hook: stalling the snapshot write for %ld ms", ms);
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
	rs_log(RS_LOG_INFO, "test hook: the snapshot write goes on");
}
#endif

/* Encodings of one request before the write is given up (snap_encode). */
#define SNAP_ATTEMPTS 3

/*
 * Encode list l with the collateral alarm's suspended set (read as a worker
 * does), inside the writer's read-side section. A name removed and added
 * again during the walk can land in a slot the walk already passed, and be
 * missing from the image although listed before and after it: when an insert
 * over a tombstone happened meanwhile (rs_list_walk_gen), encode again, up to
 * SNAP_ATTEMPTS times; then give up (RS_EFULL): the sync thread asks again at the next tick
 * and the last good file stays. 0 with the image in *img (the writer's own
 * buffer, kept for the next write), or < 0 with err.
 */
static int snap_encode(struct rs_sync *s, const struct rs_list *l, const char *id, const char *dataset,
		       const struct rs_protsig *prot, struct rs_buf *img, char *err, size_t errlen)
{
	struct rs_prefix *susp;
	size_t nsusp;
	int rc = RS_EFULL;

	if (rs_stats_suspended_get(s->stats, &susp, &nsusp)) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	for (int i = 0; i < SNAP_ATTEMPTS; i++) {
		uint64_t gen = rs_list_walk_gen(l);
		if (rs_snapshot_encode_buf(l, id, dataset, susp, nsusp, prot, img)) {
			snprintf(err, errlen, "out of memory");
			rc = RS_ENOMEM;
			break;
		}
		if (rs_list_walk_gen(l) == gen) {
			rc = 0;
			break;
		}
	}
	if (rc == RS_EFULL)
		snprintf(err, errlen, "names were removed and added during each of %d walks of the list, one may "
			 "be missing (tried again at the next tick)", SNAP_ATTEMPTS);
	free(susp);
	return rc;
}

/*
 * Is a seccomp filter in force on this thread? Upstream Unbound's
 * unbound.service denies @resources (SystemCallFilter=), setpriority among
 * them, and a denied call kills the whole resolver (SIGSYS): the writer then
 * leaves its priority alone. Unknown (no /proc, e.g. in a chroot) counts as
 * filtered; no Seccomp: line (a kernel without seccomp) as not filtered.
 */
static bool seccomp_filtered(void)
{
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	bool filtered = false;

	if (!f)
		return true;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp:", 8) == 0) {
			filtered = strtol(line + 8, NULL, 10) != 0;
			break;
		}
	fclose(f);
	return filtered;
}

/*
 * Give the pages of the writer's image buffer back to the system but keep the
 * buffer for the next write. Freeing it (munmap: 40 MB at 1M names) and
 * growing a new one (mremap) hold the process's mmap_lock for writing, which
 * stalls every page fault of the workers and the sync thread meanwhile: that
 * showed as milliseconds in the tail of a change's enforcement (RESULTS.md).
 * MADV_DONTNEED takes the lock for reading only. Only whole pages strictly
 * inside the buffer (malloc's own bookkeeping lies outside it); their content
 * is not needed again (the next image overwrites it from the start).
 */
static void snap_release(struct rs_buf *b)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)b->s + pg - 1) & ~(pg - 1), e = ((uintptr_t)b->s + b->cap) & ~(pg - 1);

	b->len = 0;
	if (b->s && e > a)
		(void)madvise((void *)a, e - a, MADV_DONTNEED);
}

/*
 * The snapshot writer thread. It encodes the list like a worker reads it,
 * inside an ebr.h section, while the sync thread goes on changing it: the
 * memory the changes replace meanwhile is retired, not freed, until the
 * encoding is done (reclamation waits for it, a few hundred ms at 1M; nothing
 * is lost); it leaves the section before it writes the image, so that
 * reclamation never waits for the disk. The image holds every change up to
 * the position it names, except removals after it (and their re-adds when
 * the walk went on regardless: snap_encode), and may hold some later
 * changes: every name listed both at that position and when the walk ended
 * is in it. Resuming the stream from that position applies the later changes
 * again, which changes nothing (apply.c: an add of a listed name, a removal
 * of an absent one, an order fetched again are no-ops).
 */
static void *snap_main(void *arg)
{
	struct rs_sync *s = arg;
	struct snap_writer *w = &s->snap;
	sigset_t all;
	char id[RS_STREAM_ID_MAX], dataset[RS_DATASET_ID_LEN + 1], err[512];
	struct rs_protsig prot;
	struct rs_buf img = { 0 }; /* kept from write to write (snap_release) */

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL); /* signals belong to Unbound's main thread */
	/* The lowest priority (on Linux nice is per thread): on a core shared
	 * with the workers and the sync thread, a write must not delay a query
	 * or a change; it takes what they leave (at least ~1.5 % of a busy core).
	 * Not under a seccomp filter (seccomp_filtered). */
	(void)pthread_setname_np(pthread_self(), "redsink-snap");
	if (seccomp_filtered())
		rs_log(RS_LOG_INFO, "snapshot writer: a system call filter is in force (or /proc is not there): it "
		       "keeps the resolver's priority");
	else if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) != 0)
		rs_log(RS_LOG_WARN, "snapshot writer: could not lower its priority: %s", strerror(errno));
	pthread_mutex_lock(&w->mu);
	for (;;) {
		const struct rs_list *l;
		int rc;
		while (!w->pending && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->pending)
			break; /* quit, and nothing left to write */
		l = w->writing = w->req;
		memcpy(id, w->req_id, sizeof(id));
		memcpy(dataset, w->req_dataset, sizeof(dataset));
		prot = w->req_prot; /* taken over */
		memset(&w->req_prot, 0, sizeof(w->req_prot));
		w->pending = false;
		pthread_mutex_unlock(&w->mu);
		rs_ebr_enter();
#ifdef RS_TEST_HOOKS
		test_snapshot_stall();
#endif
		rc = snap_encode(s, l, id, dataset, &prot, &img, err, sizeof(err));
		rs_ebr_leave();
		pthread_mutex_lock(&w->mu);
		w->writing = NULL; /* l is not read any more: unpinned during the disk I/O */
		pthread_mutex_unlock(&w->mu);
		rs_protsig_clear(&prot);
		if (rc == 0) { /* the disk I/O, outside the section */
			rc = rs_snapshot_write_image(s->conf->snapshot_file, (const uint8_t *)img.s, img.len, err,
						     sizeof(err));
		}
		snap_release(&img);
		if (rc != 0) {
			rs_log(RS_LOG_ERR, "snapshot not written: %s", err);
			atomic_store(&w->failed, true);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	free(img.s);
	return NULL;
}

/* Start the writer when there is a file to write (rs_sync_start). When it
 * cannot start, syncing goes on without snapshots (write_snapshot does
 * nothing): a restart then needs Redis, which beats not syncing at all. */
static void snap_start(struct rs_sync *s)
{
	struct snap_writer *w = &s->snap;
	int rc;

	if (!s->conf->snapshot_file)
		return;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((rc = pthread_create(&w->thread, NULL, snap_main, s)) != 0) {
		rs_log(RS_LOG_ERR, "cannot start the snapshot writer thread: %s; no snapshot is written to %s "
		       "until the next restart or reload", strerror(rc), s->conf->snapshot_file);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return;
	}
	w->started = true;
}

/* Let the writer finish what it writes and what is pending (the final
 * snapshot the sync thread asked for as it stopped), and join it. */
static void snap_stop(struct rs_sync *s)
{
	struct snap_writer *w = &s->snap;

	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	rs_protsig_clear(&w->req_prot); /* NULL: the writer took the last request */
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->started = false;
}

/* Ask the writer for a snapshot of the current list when it changed since
 * the last one (sync thread; never waits for the write). */
static void write_snapshot(struct rs_sync *s)
{
	struct snap_writer *w = &s->snap;

	if (atomic_exchange(&w->failed, false))
		s->dirty = true; /* written again at the next request */
	if (rs_stats_suspended_gen(s->stats) != s->susp_gen) {
		s->dirty = true; /* the collateral alarm suspended or released a prefix */
		s->susp_gen = rs_stats_suspended_gen(s->stats);
	}
	if (!w->started || !s->dirty || !s->last_id[0] || rs_list_image_get(cur(s)))
		return; /* an image not checked yet (settle_image) is not written back */
	pthread_mutex_lock(&w->mu);
	w->req = cur(s);
	memcpy(w->req_id, s->last_id, sizeof(w->req_id));
	memcpy(w->req_dataset, s->dataset, sizeof(w->req_dataset));
	if (rs_protsig_copy(&w->req_prot, &s->sigalarm.prot))
		rs_log(RS_LOG_WARN, "out of memory: the snapshot is written without the verified protected set");
	w->pending = true; /* replaces a request the writer has not taken yet */
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	s->dirty = false;
	s->last_snapshot_ms = mono_ms();
}

/* The earliest time after now at which an order of the list starts or stops
 * applying (a window opens or closes, an order expires); 0 = none. A walk of
 * the order table: thousands of orders at most. */
static int64_t next_transition(const struct rs_list *l, int64_t now)
{
	uint32_t n = rs_list_order_count(l);
	int64_t next = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct rs_order *o = rs_list_order_get(l, i);
		int64_t t = o ? rs_order_next_transition(o, now) : 0;
		if (t && (next == 0 || t < next))
			next = t;
	}
	return next;
}

/*
 * Live-event windows (doc/redis-schema.md, "Orders"), checked every tick: when
 * the wall clock reaches the earliest transition, log each order whose
 * applicability changed and, when one started applying, purge the caches
 * with the whole list, so that the names (and addresses) of an order whose
 * window just opened are not answered from the cache: the first query in the
 * window is blocked (within a tick). When one stopped applying (a window
 * closed, an order expired), the stored blocked answers are purged (the hook's
 * NULL), so that its names resolve again at once.
 */
static void window_tick(struct rs_sync *s)
{
	int64_t now = (int64_t)time(NULL);
	const struct rs_list *l = cur(s);
	bool opened = false, closed = false;
	/* The wall clock stepped back past win_from: the transitions ahead of
	 * now were never looked for (win_next was computed from win_from), and
	 * an order may apply again (a window or an expiry now in the future).
	 * Nothing changed between win_from and the step (win_next was not due),
	 * so comparing each order at win_from and at now is exact. */
	bool back = s->win_from && now < s->win_from;

	if (!s->win_stale && !back && (s->win_next == 0 || now < s->win_next))
		return;
	if (back)
		rs_log(RS_LOG_WARN, "the wall clock stepped back %lld s: looking at every order's windows again",
		       (long long)(s->win_from - now));
	/* Due, or the orders changed (a transition may have passed since the
	 * last look, unseen by the purge of that change): which orders changed
	 * their applicability since win_from? None to compare with at start. */
	s->win_stale = false;
	for (uint32_t i = 0, n = s->win_from ? rs_list_order_count(l) : 0; i < n; i++) {
		const struct rs_order *o = rs_list_order_get(l, i);
		int64_t t = o && !back ? rs_order_next_transition(o, s->win_from) : 0;
		bool on;
		if (!o || (!back && (t == 0 || t > now)))
			continue;
		on = rs_order_applies(o, now);
		if (on == rs_order_applies(o, s->win_from))
			continue; /* a window closed and the next opened, or the reverse, since the last look */
		opened |= on;
		closed |= !on;
		rs_log(RS_LOG_INFO, "order %s: %s", o->id,
		       on ? "window opened: applies now"
			  : o->expires && now >= o->expires ? "expired: no longer applies" : "window closed: no longer applies");
	}
	if (opened && s->hooks.purge)
		s->hooks.purge(s->hooks.arg, l);
	else if (closed && s->hooks.purge)
		s->hooks.purge(s->hooks.arg, NULL);
	s->win_next = next_transition(l, now);
	s->win_from = now;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rs_sync *s = arg;
	int64_t now = mono_ms();
	uint64_t safe;

	if (s->stopping)
		return;
	if (!s->rd && now >= s->rd_next_ms)
		rd_connect(s);
	else if (s->rd && !s->paused && !s->retry_due && !s->resync_due && now - s->rd_last_reply_ms > WATCHDOG_MS) {
		/* a silent connection (e.g. a dead peer without RST) */
		redisAsyncContext *ac = s->rd;
		rd_lost(s, "no reply");
		redisAsyncFree(ac);
	}
	if (!s->wr && now >= s->wr_next_ms) {
		s->wr = rs_redis_async_connect(&s->conf->write, s->base, s, wr_on_connect, wr_on_disconnect);
		if (!s->wr)
			wr_lost(s);
		else
			s->last_heartbeat_ms = 0;
	}
	if (s->rd && s->resync_due && now >= s->resync_at_ms) {
		s->resync_due = false;
		restart_stream(s); /* XINFO again: the jitter is served, the full load follows */
	}
	if (s->rd && s->retry_due && now >= s->retry_next_ms) {
		s->retry_due = false;
		s->rd_last_reply_ms = now;
		xread(s);
	}
	if (now - s->last_probe_ms >= s->opts.probe_ms)
		probe_tick(s);
	if (now - s->last_heartbeat_ms >= HEARTBEAT_MS) {
		heartbeat(s);
		s->last_heartbeat_ms = now;
	}
	/* nothing to do unless a commit failed for want of memory; then the
	 * purge that batch could not do with its prefixes */
	if (rs_list_commit(cur(s)) == 0 && s->commit_pending) {
		s->commit_pending = false;
		(void)rs_list_commit(s->ap.changed);
		purge_changed(s);
	}
	if (now - s->last_snapshot_ms >= SNAPSHOT_MS)
		write_snapshot(s);
	window_tick(s);
	/*
	 * Reclamation, in this order (list.h, stats.h): (1) observe the readers,
	 * (2) drain the rings, whose records point into the list, (3) free only
	 * what (1) found unreachable.
	 */
	safe = rs_ebr_observe();
	if (s->stats) {
		rs_stats_drain(s->stats);
		if (now - s->last_flush_ms >= s->opts.flush_ms) {
			flush_hits(s);
			s->last_flush_ms = now;
		}
	}
	rs_list_reclaim_before(cur(s), safe);
	reclaim_lists(s, safe, false);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct rs_sync *s = arg;
	char buf[16];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	s->stopping = true;
	event_base_loopbreak(s->base);
}

/*
 * A list read from a version 7 snapshot is served from the file's own table
 * from the first query (snapshot.h); before anything changes it, check it
 * and give the list its own table. The check waits until a query has
 * reached the module, SETTLE_WAIT_MS at most: on a resolver whose threads
 * share one core it would otherwise slow Unbound's own start. Out of
 * memory, it is tried again every second, the list blocking as read
 * meanwhile (nothing else may change it, or walk it). false: stopped
 * before the list was settled.
 */
static bool settle_image(struct rs_sync *s)
{
	struct pollfd stop = { .fd = s->wake[0], .events = POLLIN };
	size_t skipped = 0;
	struct rs_list_stats st;
	int64_t t0;

	if (!rs_list_image_get(cur(s)))
		return true;
	for (int i = 0; i < SETTLE_WAIT_MS / 10 && !atomic_load(&s->serving); i++)
		if (poll(&stop, 1, 10) > 0)
			break;
	t0 = mono_ms();
	for (int tries = 0; rs_snapshot_settle(cur(s), s->conf->snapshot_file ? s->conf->snapshot_file : "the snapshot",
					       &skipped) != 0; tries++) {
		if (tries == 0)
			rs_log(RS_LOG_ERR, "out of memory checking the snapshot's list: it blocks as read, and changes "
			       "wait until it is checked (tried again every second)");
		if (poll(&stop, 1, 1000) > 0)
			return false;
		t0 = mono_ms();
	}
	rs_list_stats(cur(s), &st);
	atomic_fetch_add_explicit(&s->info.bad, (int64_t)skipped, memory_order_relaxed);
	if (skipped)
		s->dirty = true; /* written again without them */
	rs_log(skipped ? RS_LOG_WARN : RS_LOG_INFO, "checked the snapshot's table in %lld ms: %zu domains, %zu "
	       "protected (%zu entries skipped)", (long long)(mono_ms() - t0), st.domains, st.protected_n, skipped);
	return true;
}

static void *thread_main(void *arg)
{
	struct rs_sync *s = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL); /* signals belong to Unbound's main thread */
	(void)pthread_setname_np(pthread_self(), "redsink-sync"); /* for top -H, ps -L */
	if (settle_image(s)) {
		rd_connect(s);
		event_base_dispatch(s->base);
	}
	s->stopping = true;
	if (s->rd) {
		redisAsyncContext *ac = s->rd;
		s->rd = NULL;
		redisAsyncFree(ac);
	}
	if (s->wr) {
		redisAsyncContext *ac = s->wr;
		s->wr = NULL;
		redisAsyncFree(ac);
	}
	write_snapshot(s);
	final_flush(s);
	return NULL;
}

void rs_sync_serving(struct rs_sync *s)
{
	if (s)
		atomic_store(&s->serving, true);
}

int rs_sync_start(struct rs_sync **out, const struct rs_conf *c, _Atomic(struct rs_list *) *listp,
		  const char *last_id, const char *dataset, bool snapshot_due, const struct rs_sync_hooks *hooks,
		  struct rs_stats *stats, const struct rs_sync_opts *opts, const struct rs_protsig *prot)
{
	struct rs_sync *s = calloc(1, sizeof(*s));
	struct timeval tick = { 0, TICK_MS * 1000 };
	int rc = RS_ENOMEM;

	*out = NULL;
	if (!s)
		return RS_ENOMEM;
	s->conf = c;
	s->listp = listp;
	s->stats = stats;
	if (hooks)
		s->hooks = *hooks;
	s->opts = opts ? *opts : (struct rs_sync_opts){ .heartbeat = true };
	if (s->opts.probe_ms <= 0)
		s->opts.probe_ms = PROBE_MS;
	if (s->opts.flush_ms <= 0)
		s->opts.flush_ms = c->stats_flush_interval * 1000;
	pthread_mutex_init(&s->alarm_mu, NULL);
	s->wake[0] = s->wake[1] = -1;
	snprintf(s->last_id, sizeof(s->last_id), "%s", last_id ? last_id : "");
	snprintf(s->dataset, sizeof(s->dataset), "%s", dataset && rs_dataset_id_ok(dataset) ? dataset : "");
	s->alarm = "";
	if (s->last_id[0]) /* init loaded the list (Redis, snapshot or a reload's hand-over) */
		atomic_store_explicit(&s->info.last_applied_ms, wall_ms(), memory_order_relaxed);
	s->resync_waited = !s->last_id[0]; /* only a start with a list in hand may wait (on_xinfo) */
	s->dirty = snapshot_due;
	s->susp_gen = rs_stats_suspended_gen(stats); /* what the snapshot read at start holds */
	s->win_stale = true; /* the first tick finds the first window transition */
	if (rs_apply_init(&s->ap, cur(s), fetch_order, s))
		goto err;
	if (c->require_signatures) {
		rs_apply_signed(&s->ap, c, reload_order, &s->sigalarm);
		if (prot && prot->version && rs_protsig_copy(&s->sigalarm.prot, prot))
			rs_log(RS_LOG_WARN, "out of memory keeping the verified protected set (version %llu): the "
			       "first load verifies it without it", (unsigned long long)prot->version);
	}
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		rc = RS_EIO;
		goto err;
	}
	s->base = event_base_new();
	if (!s->base)
		goto err;
	s->wake_ev = event_new(s->base, s->wake[0], EV_READ | EV_PERSIST, on_wake, s);
	s->tick_ev = event_new(s->base, -1, EV_PERSIST, on_tick, s);
	if (!s->wake_ev || !s->tick_ev || event_add(s->wake_ev, NULL) || event_add(s->tick_ev, &tick))
		goto err;
	if (c->metrics.host) {
		s->http = evhttp_new(s->base);
		if (!s->http || evhttp_bind_socket(s->http, c->metrics.host, (ev_uint16_t)c->metrics.port) != 0) {
			rs_log(RS_LOG_ERR, "cannot listen for metrics on %s: %s", c->metrics.addr, strerror(errno));
			if (s->http)
				evhttp_free(s->http);
			s->http = NULL;
		} else {
			evhttp_set_cb(s->http, "/metrics", on_metrics, s);
			evhttp_set_gencb(s->http, on_http_other, s);
			evhttp_set_timeout(s->http, 5);
		}
	}
	snap_start(s);
	rs_list_set_quiescent(cur(s), false);
	rs_list_set_floor(cur(s), RS_LIST_FLOOR_MS);
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		rs_list_set_quiescent(cur(s), true);
		snap_stop(s);
		rc = RS_EIO;
		goto err;
	}
	*out = s;
	return 0;
err:
	if (s->http)
		evhttp_free(s->http);
	if (s->wake_ev)
		event_free(s->wake_ev);
	if (s->tick_ev)
		event_free(s->tick_ev);
	if (s->base)
		event_base_free(s->base);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	rs_apply_free(&s->ap);
	rs_sigalarm_free(&s->sigalarm);
	pthread_mutex_destroy(&s->alarm_mu);
	free(s);
	return rc;
}

void rs_sync_stop(struct rs_sync *s, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
		  struct rs_protsig *prot)
{
	if (!s)
		return;
	while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	snap_stop(s); /* after the sync thread's final request; before the list goes back to the caller */
	if (s->http)
		evhttp_free(s->http);
	event_free(s->wake_ev);
	event_free(s->tick_ev);
	event_base_free(s->base);
	close(s->wake[0]);
	close(s->wake[1]);
	if (s->fetch)
		redisFree(s->fetch);
	rs_apply_free(&s->ap);
	if (prot) { /* handed over, not copied */
		rs_protsig_clear(prot);
		*prot = s->sigalarm.prot;
		memset(&s->sigalarm.prot, 0, sizeof(s->sigalarm.prot));
	}
	rs_sigalarm_free(&s->sigalarm);
	reclaim_lists(s, UINT64_MAX, true);
	rs_list_set_quiescent(cur(s), true); /* no reader after deinit: free retired memory */
	if (last_id)
		snprintf(last_id, RS_STREAM_ID_MAX, "%s", s->last_id);
	if (dataset)
		snprintf(dataset, RS_DATASET_ID_LEN + 1, "%s", s->dataset);
	pthread_mutex_destroy(&s->alarm_mu);
	free(s);
}

void rs_sync_note_bad(struct rs_sync *s, size_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->info.bad, (int64_t)n, memory_order_relaxed);
}

const struct rs_sync_info *rs_sync_info(const struct rs_sync *s)
{
	return &s->info;
}

bool rs_sync_dataset_alarm(struct rs_sync *s, char *buf, size_t len)
{
	bool on;

	pthread_mutex_lock(&s->alarm_mu);
	on = s->alarm_text[0] != '\0';
	if (on)
		snprintf(buf, len, "%s", s->alarm_text);
	pthread_mutex_unlock(&s->alarm_mu);
	return on;
}
