/* warnd_views.c — page-view counters, batched into Redis (see warnd_views.h). */
#include "warnd_views.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "rs_err.h"
#include "warnd_text.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000

struct counter {
	struct counter *next;
	struct batch *batch; /* while in flight */
	uint64_t hash;
	int64_t n;
	char *key, *field;
};

/* One flush: its counters, freed when every reply has come back. */
struct batch {
	struct wd_views *v;
	struct counter *list;
	int pending;
};

struct wd_views {
	const struct wd_views_conf *c;
	struct event_base *base;
	struct event *flush_ev;
	redisAsyncContext *ac;
	int backoff_ms;
	struct timeval next_connect;
	struct counter **bucket;
	size_t nbuckets, n;
	uint64_t dropped;
	bool drop_logged, down_logged, closing;
};

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 0x100000001b3ULL;
	h = (h ^ '|') * 0x100000001b3ULL;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 0x100000001b3ULL;
	return h;
}

static void counter_free(struct counter *c)
{
	free(c->key);
	free(c->field);
	free(c);
}

static void grow(struct wd_views *v)
{
	size_t nb = v->nbuckets * 2;
	struct counter **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < v->nbuckets; i++) {
		struct counter *c = v->bucket[i], *next;
		for (; c; c = next) {
			next = c->next;
			c->next = b[c->hash & (nb - 1)];
			b[c->hash & (nb - 1)] = c;
		}
	}
	free(v->bucket);
	v->bucket = b;
	v->nbuckets = nb;
}

/* Add n to the counter key/field (created when missing). */
static void add(struct wd_views *v, const char *key, const char *field, int64_t n)
{
	uint64_t h = hash2(key, field);
	struct counter **pp = &v->bucket[h & (v->nbuckets - 1)], *c;

	for (c = *pp; c; c = c->next) {
		if (c->hash == h && strcmp(c->key, key) == 0 && strcmp(c->field, field) == 0) {
			c->n += n;
			return;
		}
	}
	if (v->n >= v->c->max_counters || !(c = calloc(1, sizeof(*c))) || !(c->key = strdup(key)) ||
	    !(c->field = strdup(field))) {
		if (c)
			counter_free(c);
		v->dropped += (uint64_t)n;
		if (!v->drop_logged)
			rs_log(RS_LOG_WARN, "page-view counters full (%zu): dropping views until Redis takes them",
			       v->c->max_counters);
		v->drop_logged = true;
		return;
	}
	c->hash = h;
	c->n = n;
	c->next = *pp;
	*pp = c;
	if (++v->n > 2 * v->nbuckets)
		grow(v);
}

void wd_views_count(struct wd_views *v, time_t t, const char *order, const char *domain, const char *region)
{
	char key[256], field[RS_ORDER_ID_MAX + RS_NAME_MAX + WD_REGION_MAX + 4];

	if (wd_views_key(key, sizeof(key), v->c->prefix, t) < 0 ||
	    wd_views_field(field, sizeof(field), order, domain, region) < 0)
		return;
	add(v, key, field, 1);
}

size_t wd_views_pending(const struct wd_views *v)
{
	return v->n;
}

uint64_t wd_views_dropped(const struct wd_views *v)
{
	return v->dropped;
}

/* Take every counter out of the table as one list. */
static struct counter *take_all(struct wd_views *v)
{
	struct counter *all = NULL;

	for (size_t i = 0; i < v->nbuckets; i++) {
		struct counter *c = v->bucket[i], *next;
		for (; c; c = next) {
			next = c->next;
			c->next = all;
			all = c;
		}
		v->bucket[i] = NULL;
	}
	v->n = 0;
	return all;
}

/* ---- the async connection ---- */

static void conn_lost(struct wd_views *v, const char *why)
{
	if (!v->down_logged && !v->closing)
		rs_log(RS_LOG_WARN, "page views: Redis %s: %s; keeping the counts, retrying", v->c->redis->addr, why);
	v->down_logged = true;
	v->ac = NULL;
	v->backoff_ms = v->backoff_ms ? v->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (v->backoff_ms > BACKOFF_MAX_MS)
		v->backoff_ms = BACKOFF_MAX_MS;
	event_base_gettimeofday_cached(v->base, &v->next_connect);
	v->next_connect.tv_sec += v->backoff_ms / 1000;
	v->next_connect.tv_usec += (v->backoff_ms % 1000) * 1000;
	if (v->next_connect.tv_usec >= 1000000) {
		v->next_connect.tv_sec++;
		v->next_connect.tv_usec -= 1000000;
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct wd_views *v = ac->data;

	if (v->ac == ac)
		conn_lost(v, status == REDIS_OK ? "closed" : ac->errstr);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct wd_views *v = ac->data;

	if (status != REDIS_OK && v->ac == ac)
		conn_lost(v, ac->errstr);
}

static bool connect_now(struct wd_views *v)
{
	const struct rs_endpoint *e = v->c->redis;
	struct timeval now;
	redisAsyncContext *ac;

	if (v->ac)
		return true;
	event_base_gettimeofday_cached(v->base, &now);
	if (timercmp(&now, &v->next_connect, <))
		return false;
	ac = rs_redis_async_connect(e, v->base, v, on_connect, on_disconnect);
	if (!ac) {
		conn_lost(v, "cannot create the connection");
		return false;
	}
	v->ac = ac;
	return true;
}

/* ---- flushing ---- */

static void batch_done(struct batch *b)
{
	if (--b->pending > 0)
		return;
	while (b->list) {
		struct counter *c = b->list;
		b->list = c->next;
		counter_free(c);
	}
	free(b);
}

static void on_hincrby(redisAsyncContext *ac, void *reply, void *priv)
{
	struct counter *c = priv;
	struct batch *b = c->batch;
	struct wd_views *v = b->v;
	redisReply *r = reply;

	if (r && r->type == REDIS_REPLY_ERROR && !rs_redis_error_transient(r->str)) {
		/* the key is not a hash (or the field not a number): malformed data,
		 * never retried in a loop; counted as dropped */
		if (!v->drop_logged)
			rs_log(RS_LOG_WARN, "page views: HINCRBY %s: %s: dropped", c->key, r->str);
		v->drop_logged = true;
		v->dropped += (uint64_t)c->n;
	} else if (!r || r->type == REDIS_REPLY_ERROR) {
		if (r)
			rs_log(RS_LOG_WARN, "page views: HINCRBY %s: %s", c->key, r->str);
		add(v, c->key, c->field, c->n); /* sent again with the next batch */
	} else if (v->down_logged) {
		rs_log(RS_LOG_INFO, "page views: writing to Redis %s again", v->c->redis->addr);
		v->down_logged = false;
		v->drop_logged = false;
		v->backoff_ms = 0;
	}
	batch_done(b);
}

static void on_expire(redisAsyncContext *ac, void *reply, void *priv)
{
	batch_done(priv);
}

static void flush(struct wd_views *v)
{
	struct batch *b;
	struct counter *c;
	char ttl[16];

	if (v->n == 0 || !connect_now(v))
		return;
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	b->v = v;
	b->list = take_all(v);
	b->pending = 1; /* held until every command is queued */
	snprintf(ttl, sizeof(ttl), "%d", v->c->retention_s);
	for (c = b->list; c; c = c->next) {
		char n[24];
		const char *argv[] = { "HINCRBY", c->key, c->field, n };
		snprintf(n, sizeof(n), "%lld", (long long)c->n);
		c->batch = b;
		if (v->ac && redisAsyncCommandArgv(v->ac, on_hincrby, c, 4, argv, NULL) == REDIS_OK)
			b->pending++;
		else
			add(v, c->key, c->field, c->n);
	}
	/* one EXPIRE per hour key in the batch */
	for (c = b->list; c; c = c->next) {
		const struct counter *d;
		for (d = b->list; d != c && strcmp(d->key, c->key) != 0; d = d->next)
			;
		if (d != c)
			continue;
		{
			const char *argv[] = { "EXPIRE", c->key, ttl };
			if (v->ac && redisAsyncCommandArgv(v->ac, on_expire, b, 3, argv, NULL) == REDIS_OK)
				b->pending++;
		}
	}
	batch_done(b);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

int wd_views_new(struct wd_views **out, struct event_base *base, const struct wd_views_conf *c)
{
	struct wd_views *v = calloc(1, sizeof(*v));
	struct timeval iv = { c->flush_ms / 1000, (c->flush_ms % 1000) * 1000 };

	*out = NULL;
	if (!v)
		return RS_ENOMEM;
	v->c = c;
	v->base = base;
	v->nbuckets = 1024;
	v->bucket = calloc(v->nbuckets, sizeof(*v->bucket));
	v->flush_ev = event_new(base, -1, EV_PERSIST, on_flush, v);
	if (!v->bucket || !v->flush_ev || event_add(v->flush_ev, &iv)) {
		if (v->flush_ev)
			event_free(v->flush_ev);
		free(v->bucket);
		free(v);
		return RS_ENOMEM;
	}
	*out = v;
	return 0;
}

uint64_t wd_views_close(struct wd_views *v)
{
	char err[256], ttl[16];
	redisContext *rc = NULL;
	struct counter *all, *c;
	uint64_t lost = 0;
	size_t sent = 0;

	if (!v)
		return 0;
	v->closing = true;
	event_free(v->flush_ev);
	if (v->ac) {
		redisAsyncContext *ac = v->ac;
		v->ac = NULL;
		redisAsyncFree(ac); /* unanswered HINCRBYs come back into the table */
	}
	all = take_all(v);
	snprintf(ttl, sizeof(ttl), "%d", v->c->retention_s);
	if (all && rs_redis_connect(v->c->redis, v->c->timeout_ms, &rc, err, sizeof(err)) == 0) {
		for (c = all; c; c = c->next) {
			char n[24];
			const char *argv[] = { "HINCRBY", c->key, c->field, n };
			const char *eargv[] = { "EXPIRE", c->key, ttl };
			snprintf(n, sizeof(n), "%lld", (long long)c->n);
			redisAppendCommandArgv(rc, 4, argv, NULL);
			redisAppendCommandArgv(rc, 3, eargv, NULL);
		}
		for (c = all; c; c = c->next) {
			redisReply *r1 = NULL, *r2 = NULL;
			if (redisGetReply(rc, (void **)&r1) != REDIS_OK || redisGetReply(rc, (void **)&r2) != REDIS_OK ||
			    r1->type == REDIS_REPLY_ERROR)
				lost += (uint64_t)c->n;
			else
				sent += (size_t)c->n;
			freeReplyObject(r1);
			freeReplyObject(r2);
		}
		redisFree(rc);
	} else {
		for (c = all; c; c = c->next)
			lost += (uint64_t)c->n;
		if (all)
			rs_log(RS_LOG_WARN, "page views: %s", err);
	}
	while (all) {
		c = all;
		all = c->next;
		counter_free(c);
	}
	lost += v->dropped;
	if (lost)
		rs_log(RS_LOG_WARN, "page views: %llu views could not be written to Redis", (unsigned long long)lost);
	free(v->bucket);
	free(v);
	return lost;
}
