/* warnd_sync.c — the thread that keeps redsink-warnd's list current (see warnd_sync.h). */
#define _GNU_SOURCE /* pipe2 */
#include "warnd_sync.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "dataset.h"
#include "ebr.h"
#include "load.h"
#include "rs_err.h"

#define TICK_MS 250
#define XREAD_BLOCK_MS 1000
#define WATCHDOG_MS (XREAD_BLOCK_MS + 4000)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define DATASET_CHECK_MS 2000 /* how often the identity is checked while idle or in alarm */
#define LOAD_ALARM 1          /* Redis does not hold our dataset: the list is kept, not followed */
#define CHECK_RELOAD 2        /* Redis holds a dataset we adopt: reload */

struct old_list {
	struct old_list *next;
	struct rs_list *l;
	int64_t when_ms;
	uint64_t epoch; /* rs_ebr_tag() when it was replaced */
};

struct wd_sync {
	const struct rs_conf *conf;
	_Atomic(struct rs_list *) list; /* published; NULL before the first load */
	atomic_int link_up;
	pthread_t thread;
	int wake[2]; /* wd_sync_stop writes to wake[1] */
	struct event_base *base;
	struct event *wake_ev, *tick_ev;

	/* thread-only state */
	redisAsyncContext *rd; /* follows the stream */
	redisContext *fetch;   /* blocking: full loads, order hashes */
	int backoff_ms;
	int64_t next_ms, last_reply_ms;
	char last_id[RS_STREAM_ID_MAX];
	struct rs_apply ap;
	struct old_list *old;
	bool stopping, down_logged;

	/* the dataset identity (doc/dataset.md) */
	char held[RS_DATASET_ID_LEN + 1]; /* dataset of the published list; "" none */
	int64_t next_check_ms;
	char alarm_key[2 * RS_DATASET_ID_LEN + 16]; /* the alarm last logged: verdict + ids */
	atomic_int alarm;                           /* an alarm verdict, or RS_DS_SAME (none) */
	pthread_mutex_t alarm_mu;                   /* guards alarm_text (read by the HTTP thread) */
	char alarm_text[400];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rs_list *cur(struct wd_sync *s)
{
	return atomic_load_explicit(&s->list, memory_order_relaxed);
}

/* ---- the blocking connection ---- */

static redisContext *fetch_conn(struct wd_sync *s, char *err, size_t errlen)
{
	if (s->fetch && s->fetch->err) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
	if (!s->fetch && rs_redis_connect(&s->conf->read, s->conf->redis_timeout_ms, &s->fetch, err, errlen))
		s->fetch = NULL;
	return s->fetch;
}

static void fetch_drop(struct wd_sync *s)
{
	if (s->fetch) {
		redisFree(s->fetch);
		s->fetch = NULL;
	}
}

/* rs_fetch_order_fn: order id if it is in force and well-formed. */
static int fetch_order(void *arg, const char *id, struct rs_order **out)
{
	struct wd_sync *s = arg;
	char err[256], why[256];
	redisReply *mem = NULL, *h = NULL;
	redisContext *c = fetch_conn(s, err, sizeof(err));
	const char **kv;
	int rc = RS_EIO;

	*out = NULL;
	if (!c)
		return RS_EIO;
	redisAppendCommand(c, "SISMEMBER %sorders %s", s->conf->prefix, id);
	redisAppendCommand(c, "HGETALL %sorder:%s", s->conf->prefix, id);
	if (redisGetReply(c, (void **)&mem) != REDIS_OK || redisGetReply(c, (void **)&h) != REDIS_OK) {
		fetch_drop(s);
		goto out;
	}
	if (mem->type != REDIS_REPLY_INTEGER || h->type != REDIS_REPLY_ARRAY || h->elements % 2)
		goto out;
	if (mem->integer == 0 || h->elements == 0) {
		rc = RS_ENOENT;
		goto out;
	}
	kv = calloc(h->elements + 1, sizeof(*kv));
	if (!kv) {
		rc = RS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < h->elements; i++)
		kv[i] = h->element[i]->type == REDIS_REPLY_STRING ? h->element[i]->str : "";
	rc = rs_order_parse(s->conf, id, kv, h->elements / 2, out, why, sizeof(why));
	free(kv);
	if (rc) {
		rs_log(RS_LOG_WARN, "skipping malformed order: %s", why);
		rc = RS_EINVAL;
	}
out:
	freeReplyObject(mem);
	freeReplyObject(h);
	return rc;
}

/* ---- lists ---- */

/* Free the replaced lists no reader can hold any more (the HTTP thread reads
 * inside rs_ebr_enter/leave: redsink-warnd.c on_request) and older than the
 * floor; all of them at stop. */
static void reclaim_old(struct wd_sync *s, uint64_t safe, bool all)
{
	struct old_list **pp = &s->old, *o;
	int64_t limit = mono_ms() - RS_LIST_FLOOR_MS;

	while ((o = *pp) != NULL) {
		if (all || (o->when_ms <= limit && o->epoch < safe)) {
			*pp = o->next;
			rs_list_free(o->l);
			free(o);
		} else {
			pp = &o->next;
		}
	}
}

static void publish(struct wd_sync *s, struct rs_list *l)
{
	struct rs_list *old = cur(s);

	rs_list_set_quiescent(l, false); /* the HTTP thread reads it from now on */
	rs_list_set_floor(l, RS_LIST_FLOOR_MS); /* its reads are ebr.h sections */
	atomic_store_explicit(&s->list, l, memory_order_release);
	s->ap.list = l;
	if (old) {
		struct old_list *o = malloc(sizeof(*o));
		if (!o)
			return; /* leak it rather than free it under a reader */
		o->l = old;
		o->when_ms = mono_ms();
		o->epoch = rs_ebr_tag();
		o->next = s->old;
		s->old = o;
	}
}

/* ---- the dataset identity ---- */

static bool is_alarm(enum rs_dataset_verdict v)
{
	return v == RS_DS_VANISHED || v == RS_DS_FOREIGN || v == RS_DS_MALFORMED;
}

static bool holding(struct wd_sync *s)
{
	struct rs_list_stats st;

	if (!cur(s))
		return false;
	rs_list_stats(cur(s), &st);
	return st.orders > 0 || st.domains > 0 || st.protected_n > 0;
}

/* Enter (or stay in) alarm v: the list is kept; logged once per state. */
static void set_alarm(struct wd_sync *s, enum rs_dataset_verdict v, const struct rs_dataset *d)
{
	char key[sizeof(s->alarm_key)], text[300];
	const char *held = s->held[0] ? s->held : "(a list without identity)";
	struct rs_list_stats st = { 0 };

	snprintf(key, sizeof(key), "%d %s %s", (int)v, s->held, d->valid ? d->id : "");
	if (cur(s))
		rs_list_stats(cur(s), &st);
	if (v == RS_DS_VANISHED)
		snprintf(text, sizeof(text), "vanished: Redis %s no longer holds dataset %s (%s)", s->conf->read.addr,
			 held, d->present ? "no identity" : "no identity and no data");
	else if (v == RS_DS_FOREIGN)
		snprintf(text, sizeof(text), "foreign: Redis %s holds dataset %s, which does not supersede ours (%s)",
			 s->conf->read.addr, d->id, held);
	else
		snprintf(text, sizeof(text), "malformed: the dataset identity %sdataset in Redis %s is unreadable (ours: %s)",
			 s->conf->prefix, s->conf->read.addr, held);
	pthread_mutex_lock(&s->alarm_mu);
	snprintf(s->alarm_text, sizeof(s->alarm_text), "%s; keeping %zu orders, %zu domains", text, st.orders,
		 st.domains);
	pthread_mutex_unlock(&s->alarm_mu);
	atomic_store_explicit(&s->alarm, (int)v, memory_order_release);
	if (strcmp(key, s->alarm_key) != 0) {
		rs_log(RS_LOG_ERR,
		       "dataset alarm: %s: keeping the current list (%zu orders, %zu domains) and not following this "
		       "Redis; if what it holds now is right, run 'redsink-ctl dataset new --why TEXT%s%s' "
		       "(doc/dataset.md)",
		       text, st.orders, st.domains, s->held[0] ? " --supersedes " : "", s->held);
		snprintf(s->alarm_key, sizeof(s->alarm_key), "%s", key);
	}
}

static void clear_alarm(struct wd_sync *s)
{
	if (atomic_load_explicit(&s->alarm, memory_order_relaxed) == RS_DS_SAME)
		return;
	atomic_store_explicit(&s->alarm, RS_DS_SAME, memory_order_release);
	s->alarm_key[0] = '\0';
	rs_log(RS_LOG_INFO, "dataset alarm cleared: Redis %s holds our dataset again, or one that supersedes it",
	       s->conf->read.addr);
}

/*
 * What to do about the identity Redis holds now (d, has_data), as the stream
 * is followed: 0 keep following; reload (a deliberate successor, or a first
 * identity: CHECK_RELOAD); LOAD_ALARM stop following and keep the list
 * (alarm set).
 */
static int dataset_action(struct wd_sync *s, const struct rs_dataset *d, bool has_data)
{
	enum rs_dataset_verdict v = rs_dataset_judge(s->held, holding(s), d, has_data);

	if (is_alarm(v)) {
		set_alarm(s, v, d);
		return LOAD_ALARM;
	}
	if (v == RS_DS_ADOPT && d->valid && strcmp(d->id, s->held) != 0)
		return CHECK_RELOAD;
	return 0;
}

/* A cheap look at the identity (rs_load_probe): dataset_action's answer, or
 * RS_EIO when Redis cannot be asked. */
static int dataset_check(struct wd_sync *s)
{
	char err[512];
	struct rs_probe p;
	redisContext *c = fetch_conn(s, err, sizeof(err));

	s->next_check_ms = mono_ms() + DATASET_CHECK_MS;
	if (!c)
		return RS_EIO;
	if (rs_load_probe(c, s->conf, &p, err, sizeof(err))) {
		fetch_drop(s);
		return RS_EIO;
	}
	return dataset_action(s, &p.ds, p.has_data);
}

/* Load everything into a new list and publish it; s->last_id becomes the
 * stream id the load reflects. LOAD_ALARM when Redis does not hold the
 * dataset of our list (rs_dataset_judge): the list is kept, the alarm set. */
static int full_load(struct wd_sync *s)
{
	struct rs_load_stats st;
	char err[512];
	int64_t t0 = mono_ms();
	redisContext *c = fetch_conn(s, err, sizeof(err));
	struct rs_list *l;

	if (!c) {
		if (!s->down_logged)
			rs_log(RS_LOG_WARN, "%s; serving the %s page, retrying", err,
			       cur(s) ? "last list's" : "neutral");
		s->down_logged = true;
		return RS_EIO;
	}
	l = rs_list_new(1024);
	if (!l)
		return RS_ENOMEM;
	if (rs_load_all(c, s->conf, l, &st, err, sizeof(err))) {
		rs_list_free(l);
		rs_log(RS_LOG_ERR, "loading the list from %s failed: %s", s->conf->read.addr, err);
		fetch_drop(s);
		return RS_EIO;
	}
	s->down_logged = false;
	s->next_check_ms = mono_ms() + DATASET_CHECK_MS;
	{
		enum rs_dataset_verdict v = rs_dataset_judge(s->held, holding(s), &st.ds, st.has_data);
		if (is_alarm(v)) {
			rs_list_free(l);
			set_alarm(s, v, &st.ds);
			return LOAD_ALARM;
		}
		if (v == RS_DS_ADOPT && s->held[0] && st.ds.valid)
			rs_log(RS_LOG_WARN, "adopting dataset %s (generation %llu), which supersedes ours (%s)", st.ds.id,
			       (unsigned long long)st.ds.generation, s->held);
		else if (v == RS_DS_ADOPT && !st.ds.valid && st.has_data && holding(s))
			rs_log(RS_LOG_WARN, "Redis %s has no dataset identity (from before identities): following it; "
			       "the first redsink-ctl write creates one", s->conf->read.addr);
		clear_alarm(s);
		snprintf(s->held, sizeof(s->held), "%s", st.ds.valid ? st.ds.id : "");
	}
	publish(s, l);
	snprintf(s->last_id, sizeof(s->last_id), "%s", st.last_id);
	rs_log(RS_LOG_INFO, "loaded %zu orders, %zu domains, %zu protected from %s in %lld ms (stream at %s, dataset %s)",
	       st.orders, st.domains, st.protected_n, s->conf->read.addr, (long long)(mono_ms() - t0), s->last_id,
	       s->held[0] ? s->held : "-");
	return 0;
}

/* ---- following the stream ---- */

static void xread(struct wd_sync *s);

static void lost(struct wd_sync *s, const char *why)
{
	if (atomic_load_explicit(&s->link_up, memory_order_relaxed))
		rs_log(RS_LOG_WARN, "lost the change stream at %s (%s): keeping the current list, retrying",
		       s->conf->read.addr, why);
	atomic_store_explicit(&s->link_up, 0, memory_order_relaxed);
	s->rd = NULL;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->next_ms = mono_ms() + s->backoff_ms;
}

/* Drop the stream connection on purpose: reconnect (and reload) after
 * delay_ms; why: logged as a lost link, or NULL (a dataset decision). */
static void stop_following(struct wd_sync *s, int delay_ms, const char *why)
{
	redisAsyncContext *ac = s->rd;

	if (why) {
		lost(s, why);
	} else {
		atomic_store_explicit(&s->link_up, 0, memory_order_relaxed);
		s->rd = NULL;
		s->next_ms = mono_ms() + delay_ms;
	}
	/* Freed now, not after the pending XREAD BLOCK returns: the thread may be
	 * stopped before that. Inside one of its callbacks hiredis defers the free
	 * until the callback returns. s->rd != ac now: on_disconnect does nothing. */
	if (ac)
		redisAsyncFree(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct wd_sync *s = ac->data;

	if (s->rd == ac)
		lost(s, status == REDIS_OK ? "closed" : ac->errstr);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct wd_sync *s = ac->data;

	if (status != REDIS_OK && s->rd == ac)
		lost(s, ac->errstr); /* hiredis frees the context after this */
}

static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wd_sync *s = ac->data;
	redisReply *r = reply;

	if (!r || s->stopping || s->rd != ac)
		return; /* disconnecting: on_disconnect does the rest */
	s->last_reply_ms = mono_ms();
	if (r->type == REDIS_REPLY_ERROR) {
		rs_log(RS_LOG_ERR, "XREAD %schanges: %s", s->conf->prefix, r->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (!atomic_load_explicit(&s->link_up, memory_order_relaxed))
		rs_log(RS_LOG_INFO, "following the change stream at %s from %s", s->conf->read.addr, s->last_id);
	atomic_store_explicit(&s->link_up, 1, memory_order_relaxed);
	s->backoff_ms = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
		const redisReply *entries = r->element[0]->element[1];
		/* Is this still our dataset? (A flushed Redis refilled by other
		 * writers, a `dataset new`: never mix another dataset's changes
		 * into our list.) */
		int act = entries->elements ? dataset_check(s) : 0;
		if (act != 0) {
			stop_following(s, act == CHECK_RELOAD ? 0 : DATASET_CHECK_MS, act < 0 ? "probe failed" : NULL);
			return;
		}
		for (size_t i = 0; i < entries->elements; i++) {
			struct rs_change ch;
			int rc;
			if (!rs_change_parse(entries->element[i], &ch))
				continue;
			rc = rs_apply_change(&s->ap, &ch);
			if (rc == RS_EIO || rc == RS_ENOMEM) {
				/* stop here: the same entry is read again by the next XREAD */
				rs_log(RS_LOG_WARN, "change %s not applied yet: %s", ch.id, rs_strerror(rc));
				break;
			}
			snprintf(s->last_id, sizeof(s->last_id), "%s", ch.id);
		}
		if (rs_apply_reset(&s->ap))
			rs_log(RS_LOG_ERR, "out of memory resetting the change set");
	}
	xread(s);
}

static void xread(struct wd_sync *s)
{
	if (!s->rd || s->stopping)
		return;
	redisAsyncCommand(s->rd, on_xread, NULL, "XREAD COUNT 1000 BLOCK %d STREAMS %schanges %s", XREAD_BLOCK_MS,
			  s->conf->prefix, s->last_id);
}

/*
 * (Re)connect: load the whole list (a reconnect may have missed changes,
 * or the stream may have been trimmed meanwhile: reloading is always right),
 * then follow the stream from the id the load reflects.
 */
static void rd_connect(struct wd_sync *s)
{
	const struct rs_endpoint *e = &s->conf->read;
	redisAsyncContext *ac;

	int rc;

	if (atomic_load_explicit(&s->alarm, memory_order_relaxed) != RS_DS_SAME) {
		/* in alarm: a cheap look first, the full load only when it may succeed */
		rc = dataset_check(s);
		if (rc == LOAD_ALARM) {
			s->next_ms = mono_ms() + DATASET_CHECK_MS;
			return;
		}
		if (rc == RS_EIO) {
			lost(s, "cannot read the dataset identity");
			return;
		}
	}
	rc = full_load(s);
	if (rc == LOAD_ALARM) {
		s->next_ms = mono_ms() + DATASET_CHECK_MS;
		return;
	}
	if (rc != 0) {
		lost(s, "full load failed");
		return;
	}
	ac = rs_redis_async_connect(e, s->base, s, on_connect, on_disconnect);
	if (!ac) {
		lost(s, "cannot create the connection");
		return;
	}
	s->rd = ac;
	s->last_reply_ms = mono_ms();
	xread(s);
}

/* ---- the loop ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wd_sync *s = arg;
	int64_t now = mono_ms();

	if (s->stopping)
		return;
	if (!s->rd && now >= s->next_ms) {
		rd_connect(s);
	} else if (s->rd && atomic_load_explicit(&s->link_up, memory_order_relaxed) && now >= s->next_check_ms) {
		/* a Redis flushed or replaced under an open connection sends no change */
		int act = dataset_check(s);
		if (act == CHECK_RELOAD || act == LOAD_ALARM)
			stop_following(s, act == CHECK_RELOAD ? 0 : DATASET_CHECK_MS, NULL);
	} else if (s->rd && now - s->last_reply_ms > WATCHDOG_MS) {
		/* a silent connection (a dead peer without RST, a stuck server) */
		redisAsyncContext *ac = s->rd;
		lost(s, "no reply");
		redisAsyncFree(ac);
	}
	{
		uint64_t safe = rs_ebr_observe();
		if (cur(s))
			rs_list_reclaim_before(cur(s), safe);
		reclaim_old(s, safe, false);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct wd_sync *s = arg;
	char buf[16];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	s->stopping = true;
	event_base_loopbreak(s->base);
}

static void *thread_main(void *arg)
{
	struct wd_sync *s = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL); /* signals belong to the HTTP thread */
	rd_connect(s);
	event_base_dispatch(s->base);
	s->stopping = true;
	if (s->rd) {
		redisAsyncContext *ac = s->rd;
		s->rd = NULL;
		redisAsyncFree(ac);
	}
	return NULL;
}

int wd_sync_start(struct wd_sync **out, const struct rs_conf *c)
{
	struct wd_sync *s = calloc(1, sizeof(*s));
	struct timeval tick = { 0, TICK_MS * 1000 };
	int rc = RS_ENOMEM;

	*out = NULL;
	if (!s)
		return RS_ENOMEM;
	s->conf = c;
	s->wake[0] = s->wake[1] = -1;
	strcpy(s->last_id, "0-0");
	atomic_init(&s->list, NULL);
	atomic_init(&s->link_up, 0);
	atomic_init(&s->alarm, RS_DS_SAME);
	pthread_mutex_init(&s->alarm_mu, NULL);
	if (rs_apply_init(&s->ap, NULL, fetch_order, s))
		goto err;
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
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		rc = RS_EIO;
		goto err;
	}
	*out = s;
	return 0;
err:
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
	pthread_mutex_destroy(&s->alarm_mu);
	free(s);
	return rc;
}

void wd_sync_stop(struct wd_sync *s)
{
	if (!s)
		return;
	while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	event_free(s->wake_ev);
	event_free(s->tick_ev);
	event_base_free(s->base);
	close(s->wake[0]);
	close(s->wake[1]);
	fetch_drop(s);
	rs_apply_free(&s->ap);
	reclaim_old(s, 0, true);
	rs_list_free(cur(s));
	pthread_mutex_destroy(&s->alarm_mu);
	free(s);
}

const struct rs_list *wd_sync_list(const struct wd_sync *s)
{
	return atomic_load_explicit(&((struct wd_sync *)s)->list, memory_order_acquire);
}

bool wd_sync_link_up(const struct wd_sync *s)
{
	return atomic_load_explicit(&((struct wd_sync *)s)->link_up, memory_order_relaxed) != 0;
}

bool wd_sync_dataset_alarm(const struct wd_sync *cs, char *buf, size_t len)
{
	struct wd_sync *s = (struct wd_sync *)cs;

	if (atomic_load_explicit(&s->alarm, memory_order_acquire) == RS_DS_SAME)
		return false;
	pthread_mutex_lock(&s->alarm_mu);
	snprintf(buf, len, "%s", s->alarm_text);
	pthread_mutex_unlock(&s->alarm_mu);
	return true;
}
