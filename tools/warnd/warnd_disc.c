/* warnd_disc.c — looking a host up in the discovered-names:<hour> index (see warnd_disc.h). */
#include "warnd_disc.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disc.h"
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
	struct wd_bucket bucket;
	unsigned long long limited;
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

unsigned long long wd_disc_limited(const struct wd_disc *d)
{
	return d->limited;
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

/* One HGET reply: 1 a value the module writes (in *hit), 0 none (nil, a
 * hostile value, WRONGTYPE), RS_EIO (no reply, another server error). */
static int hget_reply(struct wd_disc *d, struct wd_disc_hit *hit)
{
	redisReply *r = NULL;
	int rc = 0;

	if (redisGetReply(d->c, (void **)&r) != REDIS_OK || !r)
		return RS_EIO;
	if (r->type == REDIS_REPLY_ERROR) /* WRONGTYPE: hostile data, nothing found */
		rc = strncmp(r->str, "WRONGTYPE", 9) == 0 ? 0 : RS_EIO;
	else if (r->type == REDIS_REPLY_STRING && wd_disc_value(r->str, r->len, hit))
		rc = 1;
	freeReplyObject(r);
	return rc;
}

int wd_disc_lookup(struct wd_disc *d, const struct rs_endpoint *e, const char *host, time_t now,
		   struct wd_disc_hit *hit)
{
	struct slot *s = &d->cache[hash(host) % WD_DISC_CACHE];
	struct wd_disc_hit h[2];
	char err[300];
	int rc[2];

	if (strcmp(s->host, host) == 0 && s->until > now) {
		if (s->found)
			*hit = s->hit;
		return s->found;
	}
	if (now < d->backoff_until || strlen(host) > RS_NAME_MAX || rs_disc_name_parse(host, strlen(host), NULL) < 0)
		return 0;
	if (!wd_bucket_take(&d->bucket, now, WD_DISC_RATE, WD_DISC_BURST)) {
		d->limited++;
		return 0; /* not cached: the host is looked up once the rate allows */
	}
	if (!d->c && rs_redis_connect(e, d->timeout_ms, &d->c, err, sizeof(err))) {
		d->c = NULL;
		d->backoff_until = now + WD_DISC_BACKOFF_S;
		return RS_EIO;
	}
	for (int back = 0; back < 2; back++) {
		char key[200], hour[32];
		time_t t = now - back * 3600;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(hour, sizeof(hour), "%Y-%m-%dT%H", &tm);
		snprintf(key, sizeof(key), "%sdiscovered-names:%s", d->prefix, hour);
		redisAppendCommand(d->c, "HGET %s %s", key, host);
	}
	rc[0] = hget_reply(d, &h[0]);
	rc[1] = rc[0] < 0 ? rc[0] : hget_reply(d, &h[1]);
	if (rc[0] < 0 || rc[1] < 0) {
		fail(d, now);
		return RS_EIO;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->until = now + WD_DISC_CACHE_S;
	s->found = rc[0] == 1 || rc[1] == 1;
	if (s->found)
		*hit = s->hit = rc[0] == 1 ? h[0] : h[1];
	return s->found;
}
