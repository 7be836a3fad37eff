/*
 * ctl_fleet.c — reading the resolvers' heartbeats (ctl_fleet.h).
 */
#include <err.h>
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

/* Append one heartbeat hash (HGETALL reply h of key) to the array. */
static void add_heartbeat(struct ctl *x, struct ctl_hb **v, size_t *n, size_t *cap, const char *key,
			  const redisReply *h)
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
	hb->name = xstrdup(key + strlen(x->prefix) + strlen("resolver:"));
	for (size_t j = 0; j + 1 < h->elements; j += 2)
		for (int f = 0; f < HB_NFIELDS; f++)
			if (strcmp(h->element[j]->str, ctl_hb_fields[f]) == 0 && !hb->f[f])
				hb->f[f] = xstrdup(h->element[j + 1]->str);
	for (int f = 0; f < HB_NFIELDS; f++)
		if (!hb->f[f])
			hb->f[f] = xstrdup("");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ctl_hb *)a)->name, ((const struct ctl_hb *)b)->name);
}

int ctl_heartbeats(struct ctl *x, struct ctl_hb **out, size_t *n)
{
	char pat[CTL_KEY_MAX], cursor[32] = "0";
	struct ctl_hb *v = NULL;
	size_t cap = 0;
	redisReply *r;

	*n = 0;
	ctl_key(x, pat, "resolver:*");
	do {
		r = ctl_cmd(&x->conn, "SCAN", "SCAN %s MATCH %s COUNT 1000", cursor, pat);
		if (!r) {
			ctl_heartbeats_free(v, *n);
			*n = 0;
			return ctl_redis_failed(x);
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;
			redisReply *h = ctl_cmd(&x->conn, "HGETALL", "HGETALL %s", key);
			if (!h)
				continue; /* not a hash, or gone meanwhile */
			if (h->type == REDIS_REPLY_ARRAY && h->elements > 0)
				add_heartbeat(x, &v, n, &cap, key, h);
			freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), by_name);
	*out = v;
	return 0;
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
