/*
 * ctl_fleet.c — reading the resolvers' heartbeats (ctl_fleet.h).
 */
#include <err.h>
#include <stdbool.h>
#include <stdio.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_fleet.h"

const char *const ctl_hb_fields[HB_NFIELDS] = { "last_id", "last_applied_at", "seen_at", "entries", "orders",
						"link", "version", "jurisdiction", "applied", "malformed_skipped",
						"resyncs", "dataset", "dataset_alarm" };

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	return d;
}

/* Append the heartbeat of resolver name (HGETALL reply h) to the array. */
static void add_heartbeat(struct ctl_hb **v, size_t *n, size_t *cap, const char *name, const redisReply *h)
{
	struct ctl_hb *hb;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		struct ctl_hb *nv = realloc(*v, *cap * sizeof(*nv));
		if (!nv)
			errx(CTL_EXIT_ERROR, "out of memory");
		*v = nv;
	}
	hb = &(*v)[(*n)++];
	memset(hb, 0, sizeof(*hb));
	hb->name = xstrdup(name);
	for (size_t j = 0; j + 1 < h->elements; j += 2) {
		if (h->element[j]->type != REDIS_REPLY_STRING || h->element[j + 1]->type != REDIS_REPLY_STRING)
			continue;
		for (int f = 0; f < HB_NFIELDS; f++)
			if (strcmp(h->element[j]->str, ctl_hb_fields[f]) == 0 && !hb->f[f])
				hb->f[f] = xstrdup(h->element[j + 1]->str);
	}
	for (int f = 0; f < HB_NFIELDS; f++)
		if (!hb->f[f])
			hb->f[f] = xstrdup("");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ctl_hb *)a)->name, ((const struct ctl_hb *)b)->name);
}

static bool known(const struct ctl_hb *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

int ctl_heartbeats(struct ctl *x, struct ctl_hb **out, size_t *np)
{
	char pat[CTL_KEY_MAX], cursor[32] = "0";
	size_t n = 0, cap = 0, plen = strlen(x->prefix) + strlen("resolver:");
	struct ctl_hb *v = NULL;
	int ex = 0;

	*out = NULL;
	*np = 0;
	ctl_key(x, pat, "resolver:*");
	do {
		redisReply *r = ctl_cmd(&x->conn, "SCAN", "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (!r) {
			ex = ctl_redis_failed(x);
			goto fail;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			warnx("Redis %s: SCAN %s: unexpected reply", x->conn.ep.addr, pat);
			ex = CTL_EXIT_ERROR;
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];
			redisReply *h;
			if (k->type != REDIS_REPLY_STRING || k->len <= plen || known(v, n, k->str + plen))
				continue; /* SCAN may return a key twice */
			h = redisCommand(x->conn.c, "HGETALL %s", k->str);
			if (!h) { /* the connection, not the key */
				freeReplyObject(r);
				ctl_fail(&x->conn, "HGETALL", NULL);
				ex = ctl_redis_failed(x);
				goto fail;
			}
			/* not a hash (WRONGTYPE), or gone meanwhile: not a heartbeat */
			if (h->type == REDIS_REPLY_ARRAY && h->elements > 0)
				add_heartbeat(&v, &n, &cap, k->str + plen, h);
			freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	if (n > 1)
		qsort(v, n, sizeof(*v), by_name);
	*out = v;
	*np = n;
	return 0;
fail:
	ctl_heartbeats_free(v, n);
	return ex;
}

void ctl_heartbeats_free(struct ctl_hb *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		for (int j = 0; j < HB_NFIELDS; j++)
			free(h[i].f[j]);
	}
	free(h);
}
