/* warnd_disc.c — looking a host up in the discovered:<hour> counters (see warnd_disc.h). */
#include "warnd_disc.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "name.h"
#include "rs_err.h"

struct slot {
	char host[RS_NAME_MAX + 1];
	time_t until;
	bool found;
	struct wd_disc_hit hit;
};

struct wd_disc {
	char prefix[128];
	int timeout_ms;
	redisContext *c;
	time_t backoff_until;
	struct slot cache[WD_DISC_CACHE];
};

struct wd_disc *wd_disc_new(const char *key_prefix, int timeout_ms)
{
	struct wd_disc *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	snprintf(d->prefix, sizeof(d->prefix), "%s", key_prefix);
	d->timeout_ms = timeout_ms;
	return d;
}

void wd_disc_free(struct wd_disc *d)
{
	if (!d)
		return;
	if (d->c)
		redisFree(d->c);
	free(d);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void fail(struct wd_disc *d, time_t now)
{
	if (d->c)
		redisFree(d->c);
	d->c = NULL;
	d->backoff_until = now + WD_DISC_BACKOFF_S;
}

/* Scan one hour key; 1 found (best in *hit), 0 not, RS_EIO. */
static int scan_key(struct wd_disc *d, const char *key, const char *pattern, const char *host, struct wd_disc_hit *hit)
{
	char cursor[32] = "0";
	bool found = false;

	for (int calls = 0; calls < WD_DISC_CALLS; calls++) {
		redisReply *r = redisCommand(d->c, "HSCAN %s %s MATCH %s COUNT 1000", key, cursor, pattern);
		if (!r)
			return RS_EIO;
		if (r->type == REDIS_REPLY_ERROR) { /* WRONGTYPE and the like: hostile data, nothing found */
			bool server = strncmp(r->str, "WRONGTYPE", 9) != 0;
			freeReplyObject(r);
			return server ? RS_EIO : (found ? 1 : 0);
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY || r->element[0]->len >= sizeof(cursor)) {
			freeReplyObject(r);
			return found ? 1 : 0;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		for (size_t i = 0; i + 1 < r->element[1]->elements; i += 2) {
			const redisReply *f = r->element[1]->element[i], *v = r->element[1]->element[i + 1];
			struct wd_disc_hit h;
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			if (wd_disc_field(f->str, f->len, v->str, v->len, host, &h) && (!found || h.count > hit->count)) {
				*hit = h;
				found = true;
			}
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			break;
	}
	return found ? 1 : 0;
}

int wd_disc_lookup(struct wd_disc *d, const struct rs_endpoint *e, const char *host, time_t now,
		   struct wd_disc_hit *hit)
{
	struct slot *s = &d->cache[hash(host) % WD_DISC_CACHE];
	char pattern[2 * RS_NAME_MAX + 8], err[300];
	size_t n;
	int rc = 0;

	if (strcmp(s->host, host) == 0 && s->until > now) {
		if (s->found)
			*hit = s->hit;
		return s->found;
	}
	if (now < d->backoff_until)
		return 0;
	n = wd_glob_escape(host, pattern, sizeof(pattern) - 2);
	if (n == 0)
		return 0;
	memcpy(pattern + n, "|*", 3);
	if (!d->c && rs_redis_connect(e, d->timeout_ms, &d->c, err, sizeof(err))) {
		d->c = NULL;
		d->backoff_until = now + WD_DISC_BACKOFF_S;
		return RS_EIO;
	}
	for (int back = 0; back < 2 && rc == 0; back++) {
		char key[200], hour[32];
		time_t t = now - back * 3600;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(hour, sizeof(hour), "%Y-%m-%dT%H", &tm);
		snprintf(key, sizeof(key), "%sdiscovered:%s", d->prefix, hour);
		rc = scan_key(d, key, pattern, host, hit);
	}
	if (rc < 0) {
		fail(d, now);
		return rc;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->until = now + WD_DISC_CACHE_S;
	s->found = rc == 1;
	if (s->found)
		s->hit = *hit;
	return rc;
}
