/* stats.c — per-thread hit rings, regions and pending counts (see stats.h). */
#include "stats.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disc.h"
#include "ebr.h"
#include "name.h"
#include "rs_err.h"

#define RING_SIZE 8192 /* records per worker thread between two drains (250 ms) */
#define ARING_SIZE 1024 /* address-hit records per worker thread between two drains */
#define PATH_MAX_PARTS 8
#define COLLATERAL_PREFIXES 4096 /* prefixes tracked per hour (power of two) */
#define COLLATERAL_NAMES (1u << 20) /* distinct names kept in all, per hour */
#define SUSPENDED_MAX 4096
#define KIND_HIT '0'        /* pending key "<kind>hour\0field": the options' key (hits/views) */
#define KIND_DISCOVERED '1' /* discovered:<hour> */

static const char discovered_kind[] = "discovered";
static const char names_kind[] = "discovered-names"; /* the index, built by rs_stats_take */

struct rec {
	const struct rs_order *o;
	const struct rs_entry *e;
	uint32_t t;
	uint8_t family; /* 4 or 6 (0: unknown) */
	uint8_t addr[16];
};

struct ring {
	struct ring *next;
	_Atomic uint32_t head; /* written by the worker */
	_Atomic uint32_t tail; /* written by the sync thread */
	_Atomic uint64_t dropped;
	struct rec r[RING_SIZE];
};

/* An address hit: the prefix and the query name are copies (the name is read
 * long after the query's memory is gone). */
struct arec {
	const struct rs_order *o;
	uint32_t t;
	uint8_t family; /* client address, as in struct rec */
	uint8_t addr[16];
	struct rs_prefix p;
	uint8_t nlen;
	uint8_t name[RS_WIRE_MAX];
};

struct aring {
	struct aring *next;
	_Atomic uint32_t head;
	_Atomic uint32_t tail;
	_Atomic uint64_t dropped;
	struct arec r[ARING_SIZE];
};

/* Collateral: one prefix's distinct names this hour (sorted name hashes). */
struct coll {
	struct rs_prefix p;
	bool used;
	bool logged; /* over the threshold: logged this hour */
	uint32_t n;
	uint64_t *names; /* up to threshold + 1 */
};

/* The published suspended set: sorted, immutable once published. */
struct susp {
	size_t n;
	struct rs_prefix p[];
};

struct susp_retired {
	struct susp_retired *next;
	struct susp *set;
	uint64_t tag;
};

/* One drain's distinct (order, entry, hour, client) tuples, so that the
 * GeoIP lookup and the key formatting happen once per tuple, not per hit. */
struct agg {
	const struct rs_order *o;
	const struct rs_entry *e;
	uint32_t hour; /* Unix time / 3600 */
	uint8_t family;
	uint8_t addr[16];
	uint64_t count;
};
#define AGG_SLOTS 16384 /* power of two; a fuller drain is done in several rounds */

struct pend {
	char *key; /* "yyyy-mm-ddThh\0order|domain|region" */
	size_t klen;
	uint64_t count;
};

struct rs_stats {
	uint64_t gen;
	pthread_mutex_t lock; /* guards `rings` (taken once per thread, at its first hit) */
	struct ring *_Atomic rings;
	char key[16];              /* "hits" or "views" (rs_stats_opts) */
	pthread_rwlock_t geo_lock; /* guards have_geo and mmdb: read by lookups, written by rs_stats_geo_open */
	_Atomic bool have_geo;     /* also read without the lock by agg_add (a hint: any value is safe) */
	MMDB_s mmdb;
	const char *cpath[PATH_MAX_PARTS + 1], *spath[PATH_MAX_PARTS + 1];
	char *cpath_buf, *spath_buf;
	size_t max_pending;
	/* sync thread only: */
	struct pend *tab;
	size_t cap, n;
	uint64_t pending, flushed, dropped, by_action[RS_ACT_REFUSED + 1];
	uint64_t by_cc[26 * 26];
	bool full_logged; /* a drop for want of pending room was logged (until the next flush) */
	struct agg *agg; /* AGG_SLOTS, reused by every drain */
	uint16_t *used;  /* indexes of the occupied agg slots */
	size_t nagg;
	uint32_t hour_cached; /* the hour whose key text is in hour_text */
	char hour_text[16];
	/* address hits (stats.h) */
	struct aring *_Atomic arings;
	int threshold;            /* collateral-threshold (0: off) */
	bool suspend;             /* collateral-action: suspend */
	struct coll *coll;        /* COLLATERAL_PREFIXES slots, sync thread only */
	uint32_t coll_hour;       /* the UTC hour (Unix time / 3600) coll counts */
	size_t coll_n, coll_names;
	bool coll_full_logged;
	_Atomic(struct susp *) suspended; /* workers read it (acquire) */
	uint64_t susp_gen;                /* sync thread: bumped whenever suspended changes */
	struct susp_retired *retired;
	struct rs_prefix *confirmed; /* sync thread only: the last confirmed-ips */
	size_t nconfirmed;
};

static _Atomic uint64_t generations;
static __thread struct ring *tls_ring;
static __thread uint64_t tls_gen;
static __thread struct aring *tls_aring;
static __thread uint64_t tls_agen;

/* ---- pure helpers ---- */

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

void rs_region_format(const char *country, size_t clen, const char *sub, size_t slen, char out[RS_REGION_MAX])
{
	size_t o = 2;

	if (!country || clen != 2 || !is_alpha(country[0]) || !is_alpha(country[1])) {
		strcpy(out, "ZZ");
		return;
	}
	out[0] = upper(country[0]);
	out[1] = upper(country[1]);
	if (sub && slen > 0) {
		/* "KR-11" as some databases give it, or "11" as MaxMind does */
		if (slen > 3 && upper(sub[0]) == out[0] && upper(sub[1]) == out[1] && sub[2] == '-') {
			sub += 3;
			slen -= 3;
		}
		if (slen >= 1 && slen <= 3) {
			bool ok = true;
			for (size_t i = 0; i < slen; i++)
				ok = ok && (is_alpha(sub[i]) || (sub[i] >= '0' && sub[i] <= '9'));
			if (ok) {
				out[o++] = '-';
				for (size_t i = 0; i < slen; i++)
					out[o++] = upper(sub[i]);
			}
		}
	}
	out[o] = '\0';
}

void rs_hour_key(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 16, "%Y-%m-%dT%H", &tm) == 0)
		strcpy(out, "0000-00-00T00");
}

/* ---- lifecycle ---- */

static char *split_path(const char *spec, const char **parts)
{
	char *buf = strdup(spec ? spec : ""), *p, *save = NULL;
	int n = 0;

	if (!buf)
		return NULL;
	for (p = strtok_r(buf, ".", &save); p && n < PATH_MAX_PARTS; p = strtok_r(NULL, ".", &save))
		parts[n++] = p;
	parts[n] = NULL;
	return buf;
}

struct rs_stats *rs_stats_new(const struct rs_conf *c, const struct rs_stats_opts *o)
{
	struct rs_stats *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->gen = atomic_fetch_add(&generations, 1) + 1;
	snprintf(s->key, sizeof(s->key), "%s", o && o->key ? o->key : "hits");
	pthread_mutex_init(&s->lock, NULL);
	pthread_rwlock_init(&s->geo_lock, NULL);
	s->agg = calloc(AGG_SLOTS, sizeof(*s->agg));
	s->used = calloc(AGG_SLOTS, sizeof(*s->used));
	if (!s->agg || !s->used) {
		free(s->agg);
		free(s->used);
		free(s);
		return NULL;
	}
	s->max_pending = c->stats_max_pending > 0 ? (size_t)c->stats_max_pending : 100000;
	s->threshold = c->collateral_threshold > 0 ? c->collateral_threshold : 0;
	s->suspend = c->collateral_action == RS_COLLATERAL_SUSPEND;
	s->cpath_buf = split_path(c->geoip_country_field, s->cpath);
	s->spath_buf = split_path(c->geoip_subdivision_field, s->spath);
	if (c->geoip_database) {
		int rc = MMDB_open(c->geoip_database, MMDB_MODE_MMAP, &s->mmdb);
		if (rc == MMDB_SUCCESS)
			s->have_geo = true;
		else
			rs_log(RS_LOG_ERR, "cannot open the GeoIP database %s: %s: every region is ZZ", c->geoip_database,
			       MMDB_strerror(rc));
	}
	return s;
}

void rs_stats_free(struct rs_stats *s)
{
	struct ring *r, *next;

	if (!s)
		return;
	for (r = atomic_load(&s->rings); r; r = next) {
		next = r->next;
		free(r);
	}
	for (struct aring *a = atomic_load(&s->arings), *an; a; a = an) {
		an = a->next;
		free(a);
	}
	if (s->coll)
		for (size_t i = 0; i < COLLATERAL_PREFIXES; i++)
			free(s->coll[i].names);
	free(s->coll);
	free(atomic_load(&s->suspended));
	for (struct susp_retired *sr = s->retired, *sn; sr; sr = sn) {
		sn = sr->next;
		free(sr->set);
		free(sr);
	}
	free(s->confirmed);
	for (size_t i = 0; i < s->cap; i++)
		free(s->tab[i].key);
	free(s->tab);
	free(s->agg);
	free(s->used);
	if (s->have_geo)
		MMDB_close(&s->mmdb);
	free(s->cpath_buf);
	free(s->spath_buf);
	pthread_rwlock_destroy(&s->geo_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *rs_stats_key(const struct rs_stats *s)
{
	return s->key;
}

int rs_stats_geo_open(struct rs_stats *s, const char *path, char *err, size_t errlen)
{
	MMDB_s db;
	int rc = MMDB_open(path, MMDB_MODE_MMAP, &db);

	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "GeoIP database %s: %s", path, MMDB_strerror(rc));
		return RS_ECONF;
	}
	pthread_rwlock_wrlock(&s->geo_lock);
	if (s->have_geo)
		MMDB_close(&s->mmdb);
	s->mmdb = db;
	s->have_geo = true;
	pthread_rwlock_unlock(&s->geo_lock);
	return 0;
}

/* ---- worker side ---- */

/* The client address of a record (family 0: none or not IP). */
static inline void rec_addr(struct rec *rec, const struct sockaddr *sa, socklen_t salen)
{
	rec->family = 0;
	if (sa && sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		rec->family = 4;
		memcpy(rec->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		rec->family = 6;
		memcpy(rec->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static struct ring *my_ring(struct rs_stats *s)
{
	struct ring *r;

	if (tls_gen == s->gen)
		return tls_ring;
	r = calloc(1, sizeof(*r)); /* once per worker thread */
	if (!r)
		return NULL;
	pthread_mutex_lock(&s->lock);
	r->next = atomic_load_explicit(&s->rings, memory_order_relaxed);
	atomic_store_explicit(&s->rings, r, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	tls_ring = r;
	tls_gen = s->gen;
	return r;
}

void rs_stats_record(struct rs_stats *s, const struct rs_order *o, const struct rs_entry *e,
		     const struct sockaddr *sa, socklen_t salen, time_t now)
{
	struct ring *r = my_ring(s);
	uint32_t head, tail;
	struct rec *rec;

	if (!r)
		return;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail >= RING_SIZE) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return;
	}
	rec = &r->r[head % RING_SIZE];
	rec->o = o;
	rec->e = e;
	rec->t = (uint32_t)now;
	rec_addr(rec, sa, salen);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

static struct aring *my_aring(struct rs_stats *s)
{
	struct aring *r;

	if (tls_agen == s->gen)
		return tls_aring;
	r = calloc(1, sizeof(*r)); /* once per worker thread, at its first address hit */
	if (!r)
		return NULL;
	pthread_mutex_lock(&s->lock);
	r->next = atomic_load_explicit(&s->arings, memory_order_relaxed);
	atomic_store_explicit(&s->arings, r, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	tls_aring = r;
	tls_agen = s->gen;
	return r;
}

void rs_stats_record_addr(struct rs_stats *s, const struct rs_order *o, const struct rs_prefix *p,
			  const uint8_t *qname, size_t qlen, const struct sockaddr *sa, socklen_t salen, time_t now)
{
	struct aring *r = my_aring(s);
	uint32_t head, tail;
	struct arec *rec;
	struct rec ca = { .family = 0 };

	if (!r)
		return;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail >= ARING_SIZE) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return;
	}
	rec = &r->r[head % ARING_SIZE];
	rec->o = o;
	rec->t = (uint32_t)now;
	rec_addr(&ca, sa, salen);
	rec->family = ca.family;
	memcpy(rec->addr, ca.addr, sizeof(rec->addr));
	rec->p = *p;
	if (qlen > RS_WIRE_MAX)
		qlen = RS_WIRE_MAX;
	rec->nlen = (uint8_t)qlen;
	memcpy(rec->name, qname, qlen);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

bool rs_stats_suspended(const struct rs_stats *s, const struct rs_prefix *p)
{
	const struct susp *set;
	size_t lo = 0, hi;

	if (!s)
		return false;
	set = atomic_load_explicit(&((struct rs_stats *)s)->suspended, memory_order_acquire);
	if (!set)
		return false;
	hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(&set->p[mid], p, sizeof(*p));
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ---- sync-thread side ---- */

static uint64_t key_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ (uint8_t)*k++) * 0x100000001b3ULL;
	return h;
}

static bool pend_grow(struct rs_stats *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	struct pend *t = calloc(cap, sizeof(*t));

	if (!t)
		return false;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;
		if (!s->tab[i].key)
			continue;
		for (j = key_hash(s->tab[i].key, s->tab[i].klen) & (cap - 1); t[j].key; j = (j + 1) & (cap - 1))
			;
		t[j] = s->tab[i];
	}
	free(s->tab);
	s->tab = t;
	s->cap = cap;
	return true;
}

/* Add count to the pending key "hour\0field" (klen octets). false when it had to be dropped. */
static bool pend_add_key(struct rs_stats *s, const char *key, size_t klen, uint64_t count)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap && !pend_grow(s))
		return false;
	for (i = key_hash(key, klen) & (s->cap - 1); s->tab[i].key; i = (i + 1) & (s->cap - 1)) {
		if (s->tab[i].klen == klen && memcmp(s->tab[i].key, key, klen) == 0) {
			s->tab[i].count += count;
			s->pending += count;
			return true;
		}
	}
	if (s->n >= s->max_pending)
		return false;
	s->tab[i].key = malloc(klen + 1);
	if (!s->tab[i].key)
		return false;
	memcpy(s->tab[i].key, key, klen);
	s->tab[i].key[klen] = '\0';
	s->tab[i].klen = klen;
	s->tab[i].count = count;
	s->n++;
	s->pending += count;
	return true;
}

/* pending key: kind octet, hour, NUL, field; a discovered field holds a name
 * in presentation text (up to 4 octets per name octet) */
#define KEY_MAX (1 + 16 + RS_ORDER_ID_MAX + 4 * RS_WIRE_MAX + RS_PREFIX_TEXT_MAX + RS_REGION_MAX + 8)

static bool pend_add(struct rs_stats *s, char kind, const char *hour, const char *field, uint64_t count)
{
	char key[KEY_MAX];
	size_t hl = strlen(hour), fl = strlen(field);

	if (1 + hl + 1 + fl >= sizeof(key))
		return false;
	key[0] = kind;
	memcpy(key + 1, hour, hl + 1);
	memcpy(key + 1 + hl + 1, field, fl);
	return pend_add_key(s, key, 1 + hl + 1 + fl, count);
}

static size_t put(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	return n;
}

/* "hour\0order|domain|region" of a tuple; list entries are canonical names,
 * so the wire form converts to text by copying labels. */
static size_t tuple_key(struct rs_stats *s, const struct agg *a, const char *region, char key[KEY_MAX])
{
	const uint8_t *w = rs_entry_wire(a->e);
	size_t k = 0, idlen = strlen(a->o->id);

	if (s->hour_cached != a->hour || !s->hour_text[0]) {
		rs_hour_key((time_t)a->hour * 3600, s->hour_text);
		s->hour_cached = a->hour;
	}
	key[0] = KIND_HIT;
	k = strlen(s->hour_text) + 1;
	memcpy(key + 1, s->hour_text, k);
	k++;
	if (idlen > RS_ORDER_ID_MAX)
		idlen = RS_ORDER_ID_MAX;
	k += put(key + k, a->o->id, idlen);
	key[k++] = '|';
	for (size_t p = 0; p < a->e->wlen && w[p]; p += 1 + (size_t)w[p]) {
		if (p)
			key[k++] = '.';
		k += put(key + k, (const char *)w + p + 1, w[p]);
	}
	key[k++] = '|';
	k += put(key + k, region, strlen(region));
	return k;
}

/* The region of rec's client; the caller holds geo_lock for reading. */
static void region_of(struct rs_stats *s, const struct rec *rec, char out[RS_REGION_MAX])
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	const struct sockaddr *sa;
	MMDB_lookup_result_s res;
	MMDB_entry_data_s cc, sub;
	int merr;

	strcpy(out, "ZZ");
	if (!s->have_geo || rec->family == 0)
		return;
	if (rec->family == 4) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, rec->addr, 4);
		sa = (const struct sockaddr *)&sin;
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, rec->addr, 16);
		sa = (const struct sockaddr *)&sin6;
	}
	res = MMDB_lookup_sockaddr(&s->mmdb, sa, &merr);
	if (merr != MMDB_SUCCESS || !res.found_entry)
		return;
	if (!s->cpath[0] || MMDB_aget_value(&res.entry, &cc, s->cpath) != MMDB_SUCCESS || !cc.has_data ||
	    cc.type != MMDB_DATA_TYPE_UTF8_STRING)
		return;
	if (!s->spath[0] || MMDB_aget_value(&res.entry, &sub, s->spath) != MMDB_SUCCESS || !sub.has_data ||
	    sub.type != MMDB_DATA_TYPE_UTF8_STRING)
		sub.data_size = 0;
	rs_region_format(cc.utf8_string, cc.data_size, sub.data_size ? sub.utf8_string : NULL, sub.data_size, out);
}

/* Count one hit of rec into the drain's tuple table. false: table full. */
static bool agg_add(struct rs_stats *s, const struct rec *rec)
{
	struct agg k = { .o = rec->o, .e = rec->e, .hour = rec->t / 3600 };
	uint64_t h;
	size_t i;

	if (atomic_load_explicit(&s->have_geo, memory_order_relaxed)) {
		/* without a database the address makes no difference */
		k.family = rec->family;
		memcpy(k.addr, rec->addr, sizeof(k.addr));
	}
	h = ((uintptr_t)k.o * 0x9e3779b97f4a7c15ULL) ^ ((uintptr_t)k.e * 0xc2b2ae3d27d4eb4fULL) ^ k.hour;
	h = key_hash((const char *)k.addr, sizeof(k.addr)) ^ (h * 0x100000001b3ULL);
	for (i = h & (AGG_SLOTS - 1); s->agg[i].count; i = (i + 1) & (AGG_SLOTS - 1)) {
		struct agg *a = &s->agg[i];
		if (a->o == k.o && a->e == k.e && a->hour == k.hour && a->family == k.family &&
		    memcmp(a->addr, k.addr, sizeof(k.addr)) == 0) {
			a->count++;
			return true;
		}
	}
	if (s->nagg * 4 >= AGG_SLOTS * 3)
		return false;
	k.count = 1;
	s->agg[i] = k;
	s->used[s->nagg++] = (uint16_t)i;
	return true;
}

void rs_stats_region(struct rs_stats *s, const struct sockaddr *sa, socklen_t salen, char out[RS_REGION_MAX])
{
	struct rec rec;

	rec_addr(&rec, sa, salen);
	pthread_rwlock_rdlock(&s->geo_lock);
	region_of(s, &rec, out);
	pthread_rwlock_unlock(&s->geo_lock);
}

/* Turn the drain's tuples into pending counts: one region lookup and one key per tuple. */
static void agg_flush(struct rs_stats *s)
{
	uint64_t dropped = 0;

	if (s->nagg == 0)
		return;
	pthread_rwlock_rdlock(&s->geo_lock); /* once per drain round: uncontended but for a reopen */
	for (size_t u = 0; u < s->nagg; u++) {
		struct agg *a = &s->agg[s->used[u]];
		struct rec rec;
		char region[RS_REGION_MAX], key[KEY_MAX];
		size_t klen;

		rec.family = a->family;
		memcpy(rec.addr, a->addr, sizeof(rec.addr));
		region_of(s, &rec, region);
		klen = tuple_key(s, a, region, key);
		if (a->o->action <= RS_ACT_REFUSED)
			s->by_action[a->o->action] += a->count;
		s->by_cc[(region[0] - 'A') * 26 + (region[1] - 'A')] += a->count;
		if (!pend_add_key(s, key, klen, a->count))
			dropped += a->count;
		memset(a, 0, sizeof(*a));
	}
	pthread_rwlock_unlock(&s->geo_lock);
	s->nagg = 0;
	s->dropped += dropped;
	if (dropped && !s->full_logged) {
		rs_log(RS_LOG_WARN, "%s counters: %zu kept while Redis does not take them: dropping counts until a flush "
		       "succeeds", s->key, s->max_pending);
		s->full_logged = true;
	}
}

/* ---- address hits, discovered names, collateral ---- */

static uint64_t prefix_hash(const struct rs_prefix *p)
{
	return key_hash((const char *)p, sizeof(*p));
}

/* The collateral alarm's unit: the hash of the name's approximate
 * registrable domain (rs_disc_base: rand1.pirate.example and
 * rand2.pirate.example count once), so that a blocked party's wildcard on
 * its own listed address cannot trip the alarm with made-up names. The
 * wire name w (any case) is well-formed: rs_disc_name accepted it. */
static uint64_t base_hash(const uint8_t *w, size_t len)
{
	uint8_t low[RS_WIRE_MAX];
	size_t n = 0, b;

	while (n < len && n < sizeof(low) && w[n] != 0) { /* lowercase the labels, not the length octets */
		size_t l = w[n];
		low[n++] = (uint8_t)l;
		for (size_t i = 0; i < l && n < sizeof(low); i++, n++)
			low[n] = w[n] >= 'A' && w[n] <= 'Z' ? (uint8_t)(w[n] + 32) : w[n];
	}
	if (n < sizeof(low))
		low[n++] = 0;
	b = rs_disc_base(low, n);
	return key_hash((const char *)low + b, n - b);
}

static void coll_reset(struct rs_stats *s, uint32_t hour)
{
	if (s->coll)
		for (size_t i = 0; i < COLLATERAL_PREFIXES; i++) {
			free(s->coll[i].names);
			memset(&s->coll[i], 0, sizeof(s->coll[i]));
		}
	s->coll_hour = hour;
	s->coll_n = s->coll_names = 0;
	s->coll_full_logged = false;
}

static int prefix_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rs_prefix));
}

static bool confirmed(const struct rs_stats *s, const struct rs_prefix *p)
{
	return s->nconfirmed && bsearch(p, s->confirmed, s->nconfirmed, sizeof(*p), prefix_cmp);
}

/* Retire the published set (replaced) and free what no reader holds. */
static void susp_publish(struct rs_stats *s, struct susp *set)
{
	struct susp *old = atomic_exchange_explicit(&s->suspended, set, memory_order_acq_rel);
	struct susp_retired *sr;

	s->susp_gen++;

	if (old) {
		sr = malloc(sizeof(*sr));
		if (sr) {
			sr->set = old;
			sr->tag = rs_ebr_tag();
			sr->next = s->retired;
			s->retired = sr;
		} /* else: leaked, never freed under a reader */
	}
}

static void susp_reclaim(struct rs_stats *s)
{
	struct susp_retired **pp = &s->retired;
	uint64_t safe;

	if (!s->retired)
		return;
	safe = rs_ebr_observe();
	while (*pp) {
		struct susp_retired *sr = *pp;
		if (sr->tag < safe) {
			*pp = sr->next;
			free(sr->set);
			free(sr);
		} else {
			pp = &sr->next;
		}
	}
}

/* Add p to the suspended set (sorted copy). */
static void suspend(struct rs_stats *s, const struct rs_prefix *p, const char *text)
{
	const struct susp *old = atomic_load_explicit(&s->suspended, memory_order_relaxed);
	size_t n = old ? old->n : 0, i = 0;
	struct susp *set;

	if (rs_stats_suspended(s, p))
		return;
	if (n >= SUSPENDED_MAX) {
		rs_log(RS_LOG_ERR, "collateral alarm: %s not suspended: %d prefixes are suspended already", text,
		       SUSPENDED_MAX);
		return;
	}
	set = malloc(sizeof(*set) + (n + 1) * sizeof(set->p[0]));
	if (!set) {
		rs_log(RS_LOG_ERR, "collateral alarm: %s not suspended: out of memory", text);
		return;
	}
	while (i < n && memcmp(&old->p[i], p, sizeof(*p)) < 0) {
		set->p[i] = old->p[i];
		i++;
	}
	set->p[i] = *p;
	for (; i < n; i++)
		set->p[i + 1] = old->p[i];
	set->n = n + 1;
	susp_publish(s, set);
}

size_t rs_stats_confirm(struct rs_stats *s, const struct rs_prefix *p, size_t n)
{
	const struct susp *old = atomic_load_explicit(&s->suspended, memory_order_relaxed);
	struct rs_prefix *c = NULL;
	size_t kept = 0;

	if (n) {
		c = malloc(n * sizeof(*c));
		if (!c)
			return 0; /* keep the previous confirmations */
		memcpy(c, p, n * sizeof(*c));
		qsort(c, n, sizeof(*c), prefix_cmp);
	}
	free(s->confirmed);
	s->confirmed = c;
	s->nconfirmed = n;
	if (!old)
		return 0;
	for (size_t i = 0; i < old->n; i++)
		kept += !confirmed(s, &old->p[i]);
	if (kept == old->n)
		return 0;
	{
		struct susp *set = kept ? malloc(sizeof(*set) + kept * sizeof(set->p[0])) : NULL;
		char text[RS_PREFIX_TEXT_MAX];
		if (kept && !set)
			return 0;
		if (set)
			set->n = 0;
		for (size_t i = 0; i < old->n; i++) {
			if (!confirmed(s, &old->p[i])) {
				set->p[set->n++] = old->p[i];
				continue;
			}
			rs_prefix_format(&old->p[i], text, sizeof(text));
			rs_log(RS_LOG_WARN, "collateral alarm: %s was confirmed (confirmed-ips): it triggers again", text);
		}
		susp_publish(s, set);
		return old->n - kept;
	}
}

int rs_stats_suspended_get(const struct rs_stats *s, struct rs_prefix **p, size_t *n)
{
	const struct susp *set = s ? atomic_load_explicit(&((struct rs_stats *)s)->suspended, memory_order_acquire)
				   : NULL;

	*p = NULL;
	*n = 0;
	if (!set || set->n == 0)
		return 0;
	*p = malloc(set->n * sizeof(**p));
	if (!*p)
		return RS_ENOMEM;
	memcpy(*p, set->p, set->n * sizeof(**p));
	*n = set->n;
	return 0;
}

uint64_t rs_stats_suspended_gen(const struct rs_stats *s)
{
	return s ? s->susp_gen : 0;
}

void rs_stats_suspend_restore(struct rs_stats *s, const struct rs_prefix *p, size_t n)
{
	const struct susp *old;
	struct rs_prefix *c;
	struct susp *set;
	size_t m = 0, k = 0, nold, room, excess = 0;

	if (!s || n == 0)
		return;
	if (!s->suspend || s->threshold <= 0) {
		rs_log(RS_LOG_WARN, "collateral alarm: %zu prefixes were suspended before the restart; "
		       "collateral-action is not suspend (or collateral-threshold is 0): they trigger again", n);
		return;
	}
	/* one sorted, deduplicated, capped set published once (the file is
	 * hostile input: it may hold far more than SUSPENDED_MAX records) */
	old = atomic_load_explicit(&s->suspended, memory_order_relaxed);
	nold = old ? old->n : 0;
	if (!(c = malloc(n * sizeof(*c)))) {
		rs_log(RS_LOG_ERR, "collateral alarm: the %zu prefixes suspended before the restart trigger again: "
		       "out of memory", n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (rs_prefix_valid(&p[i]))
			c[m++] = p[i];
	qsort(c, m, sizeof(*c), prefix_cmp);
	for (size_t i = 0; i < m; i++) /* drop repeats and those suspended already */
		if ((k == 0 || prefix_cmp(&c[k - 1], &c[i]) != 0) &&
		    !(nold && bsearch(&c[i], old->p, nold, sizeof(*c), prefix_cmp)))
			c[k++] = c[i];
	room = nold < SUSPENDED_MAX ? SUSPENDED_MAX - nold : 0;
	if (k > room) {
		excess = k - room;
		k = room;
	}
	if (k) {
		size_t a = 0, b = 0, o = 0;
		if (!(set = malloc(sizeof(*set) + (nold + k) * sizeof(set->p[0])))) {
			rs_log(RS_LOG_ERR, "collateral alarm: the %zu prefixes suspended before the restart trigger "
			       "again: out of memory", k);
			free(c);
			return;
		}
		while (a < nold || b < k) /* merge: both sorted */
			set->p[o++] = b == k || (a < nold && prefix_cmp(&old->p[a], &c[b]) < 0) ? old->p[a++] : c[b++];
		set->n = o;
		susp_publish(s, set);
	}
	free(c);
	if (excess)
		rs_log(RS_LOG_ERR, "collateral alarm: %zu prefixes suspended before the restart are not suspended: "
		       "%d prefixes are suspended already", excess, SUSPENDED_MAX);
	rs_log(RS_LOG_WARN, "collateral alarm: %zu prefixes stay suspended from before the restart until they are "
	       "confirmed (confirmed-ips)", k);
}

/* Count the name (hash h) as blocked through prefix p in hour. */
static void coll_count(struct rs_stats *s, const struct rs_prefix *p, uint64_t h, uint32_t hour)
{
	struct coll *c;
	size_t i, lo = 0, hi;
	char text[RS_PREFIX_TEXT_MAX];

	if (s->threshold <= 0 || hour < s->coll_hour)
		return;
	if (!s->coll) {
		s->coll = calloc(COLLATERAL_PREFIXES, sizeof(*s->coll));
		if (!s->coll)
			return;
	}
	if (hour > s->coll_hour)
		coll_reset(s, hour);
	for (i = prefix_hash(p) & (COLLATERAL_PREFIXES - 1); s->coll[i].used; i = (i + 1) & (COLLATERAL_PREFIXES - 1))
		if (memcmp(&s->coll[i].p, p, sizeof(*p)) == 0)
			break;
	c = &s->coll[i];
	if (!c->used) {
		if (s->coll_n * 4 >= COLLATERAL_PREFIXES * 3) {
			if (!s->coll_full_logged)
				rs_log(RS_LOG_WARN, "collateral alarm: more than %d prefixes blocked names this hour: the "
				       "others are not counted until the next hour", COLLATERAL_PREFIXES * 3 / 4);
			s->coll_full_logged = true;
			return;
		}
		c->used = true;
		c->p = *p;
		s->coll_n++;
	}
	if (c->n <= (uint32_t)s->threshold) {
		hi = c->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (c->names[mid] == h)
				return; /* known: nothing changes */
			if (c->names[mid] < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (s->coll_names >= COLLATERAL_NAMES) {
			if (!s->coll_full_logged)
				rs_log(RS_LOG_WARN, "collateral alarm: %u distinct names counted this hour: the others are "
				       "not counted until the next hour", COLLATERAL_NAMES);
			s->coll_full_logged = true;
			return;
		}
		if (!c->names) {
			c->names = malloc(((size_t)s->threshold + 1) * sizeof(*c->names));
			if (!c->names)
				return;
		}
		memmove(&c->names[lo + 1], &c->names[lo], (c->n - lo) * sizeof(*c->names));
		c->names[lo] = h;
		c->n++;
		s->coll_names++;
	}
	if (c->n <= (uint32_t)s->threshold)
		return;
	rs_prefix_format(p, text, sizeof(text));
	if (!c->logged) {
		c->logged = true;
		rs_log(RS_LOG_WARN, "collateral alarm: address prefix %s blocked names of more than %d distinct domains "
		       "this hour (the signature of a shared address)%s", text, s->threshold,
		       !s->suspend ? "" : confirmed(s, p) ? "; it is confirmed (confirmed-ips) and keeps triggering"
		       : "; it stops triggering until a person confirms it (SADD confirmed-ips)");
	}
	if (s->suspend && !confirmed(s, p))
		suspend(s, p, text);
}

size_t rs_stats_collateral(struct rs_stats *s, time_t now,
			   void (*fn)(const char *prefix, unsigned names, bool suspended, void *arg), void *arg)
{
	const struct susp *set = atomic_load_explicit(&s->suspended, memory_order_relaxed);
	char text[RS_PREFIX_TEXT_MAX];
	size_t over = 0;
	/* counts of an hour that has passed are not shown (the next record resets them) */
	const struct coll *coll = s->coll && (uint32_t)(now / 3600) == s->coll_hour ? s->coll : NULL;

	for (size_t i = 0; coll && i < COLLATERAL_PREFIXES; i++) {
		const struct coll *c = &coll[i];
		if (!c->used || c->n <= (uint32_t)s->threshold)
			continue;
		over++;
		if (fn) {
			rs_prefix_format(&c->p, text, sizeof(text));
			fn(text, c->n, rs_stats_suspended(s, &c->p), arg);
		}
	}
	for (size_t i = 0; fn && set && i < set->n; i++) {
		bool listed = false;
		for (size_t j = prefix_hash(&set->p[i]) & (COLLATERAL_PREFIXES - 1); coll && coll[j].used;
		     j = (j + 1) & (COLLATERAL_PREFIXES - 1))
			if (memcmp(&coll[j].p, &set->p[i], sizeof(set->p[i])) == 0) {
				listed = coll[j].n > (uint32_t)s->threshold;
				break;
			}
		if (listed)
			continue;
		rs_prefix_format(&set->p[i], text, sizeof(text));
		fn(text, 0, true, arg);
	}
	return over;
}

/* Drain the address rings: hits, discovered names, collateral. */
static void drain_addr(struct rs_stats *s)
{
	struct aring *r = atomic_load_explicit(&s->arings, memory_order_acquire);
	uint64_t dropped = 0;
	bool locked = false;

	for (; r; r = r->next) {
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

		s->dropped += atomic_exchange_explicit(&r->dropped, 0, memory_order_relaxed);
		if (tail != head && !locked) {
			pthread_rwlock_rdlock(&s->geo_lock);
			locked = true;
		}
		for (; tail != head; tail++) {
			const struct arec *a = &r->r[tail % ARING_SIZE];
			struct rec rec = { .family = a->family };
			char hour[16], region[RS_REGION_MAX], ptext[RS_PREFIX_TEXT_MAX], ntext[RS_DISC_NAME_MAX + 1];
			char field[KEY_MAX];
			size_t idlen = strnlen(a->o->id, RS_ORDER_ID_MAX);
			int n;

			memcpy(rec.addr, a->addr, sizeof(rec.addr));
			region_of(s, &rec, region);
			rs_hour_key((time_t)(a->t / 3600) * 3600, hour);
			rs_prefix_format(&a->p, ptext, sizeof(ptext));
			if (a->o->action <= RS_ACT_REFUSED)
				s->by_action[a->o->action]++;
			s->by_cc[(region[0] - 'A') * 26 + (region[1] - 'A')]++;
			n = snprintf(field, sizeof(field), "%.*s|%s|%s", (int)idlen, a->o->id, ptext, region);
			if (n < 0 || (size_t)n >= sizeof(field) || !pend_add(s, KIND_HIT, hour, field, 1))
				dropped++;
			if (rs_disc_name(a->name, a->nlen, ntext) == 0)
				continue;
			if (!rs_disc_field(field, sizeof(field), ntext, a->o->id, ptext) ||
			    !pend_add(s, KIND_DISCOVERED, hour, field, 1))
				dropped++;
			coll_count(s, &a->p, base_hash(a->name, a->nlen), a->t / 3600);
		}
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	if (locked)
		pthread_rwlock_unlock(&s->geo_lock);
	s->dropped += dropped;
	if (dropped && !s->full_logged) {
		rs_log(RS_LOG_WARN, "%s counters: %zu kept while Redis does not take them: dropping counts until a flush "
		       "succeeds", s->key, s->max_pending);
		s->full_logged = true;
	}
	susp_reclaim(s);
}

void rs_stats_drain(struct rs_stats *s)
{
	struct ring *r;

	for (r = atomic_load_explicit(&s->rings, memory_order_acquire); r; r = r->next) {
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

		s->dropped += atomic_exchange_explicit(&r->dropped, 0, memory_order_relaxed);
		for (; tail != head; tail++) {
			if (!agg_add(s, &r->r[tail % RING_SIZE])) {
				agg_flush(s);
				agg_add(s, &r->r[tail % RING_SIZE]);
			}
		}
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	agg_flush(s);
	drain_addr(s);
}

void rs_stats_take(struct rs_stats *s, struct rs_hit_batch *b)
{
	b->rows = NULL;
	b->n = 0;
	if (s->n == 0)
		return;
	b->rows = calloc(2 * s->n, sizeof(*b->rows)); /* room for an index row per discovered row */
	if (!b->rows)
		return; /* try again at the next flush */
	for (size_t i = 0; i < s->cap; i++) {
		struct pend *p = &s->tab[i];
		size_t hl;
		if (!p->key)
			continue;
		b->rows[b->n].kind = p->key[0] == KIND_DISCOVERED ? discovered_kind : s->key;
		hl = strlen(p->key + 1);
		snprintf(b->rows[b->n].hour, sizeof(b->rows[b->n].hour), "%s", p->key + 1);
		b->rows[b->n].field = p->key; /* ownership moves to the batch: "<kind>hour\0field" */
		memmove(p->key, p->key + 1 + hl + 1, p->klen - hl - 1);
		b->rows[b->n].count = p->count;
		b->n++;
		p->key = NULL;
	}
	/* discovered-names:<hour>: the name -> "order|prefix" (last writer wins),
	 * flushed in the same MULTI/EXEC; never restored (rebuilt from the
	 * discovered rows it came from) */
	for (size_t i = 0, n = b->n; i < n; i++) {
		const struct rs_hit_row *d = &b->rows[i];
		size_t fl, nl;
		char *f;
		if (d->kind != discovered_kind)
			continue;
		fl = strlen(d->field);
		nl = strcspn(d->field, "|"); /* a disc name has no '|' (disc.h) */
		if (nl == fl || !(f = malloc(fl + 1)))
			continue;
		memcpy(f, d->field, fl + 1);
		f[nl] = '\0';
		b->rows[b->n] = (struct rs_hit_row){ .kind = names_kind, .field = f, .value = f + nl + 1, .count = 0 };
		memcpy(b->rows[b->n].hour, d->hour, sizeof(d->hour));
		b->n++;
	}
	memset(s->tab, 0, s->cap * sizeof(*s->tab));
	s->n = 0;
	s->pending = 0;
}

void rs_stats_restore(struct rs_stats *s, struct rs_hit_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->rows[i].kind != names_kind &&
		    !pend_add(s, b->rows[i].kind == discovered_kind ? KIND_DISCOVERED : KIND_HIT, b->rows[i].hour,
			      b->rows[i].field, b->rows[i].count))
			s->dropped += b->rows[i].count;
	rs_hit_batch_free(b);
}

void rs_hit_batch_free(struct rs_hit_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->rows[i].field);
	free(b->rows);
	b->rows = NULL;
	b->n = 0;
}

void rs_stats_flushed(struct rs_stats *s, uint64_t hits, uint64_t rejected)
{
	s->flushed += hits - rejected;
	s->dropped += rejected;
	s->full_logged = false;
}

void rs_stats_counters(struct rs_stats *s, struct rs_stats_counters *out)
{
	memcpy(out->by_action, s->by_action, sizeof(out->by_action));
	out->dropped = s->dropped;
	out->pending = s->pending;
	out->flushed = s->flushed;
	{
		const struct susp *set = atomic_load_explicit(&s->suspended, memory_order_relaxed);
		out->suspended = set ? set->n : 0;
	}
	out->collateral = rs_stats_collateral(s, time(NULL), NULL, NULL);
}

void rs_stats_countries(struct rs_stats *s, void (*fn)(const char *cc, uint64_t n, void *arg), void *arg)
{
	for (int i = 0; i < 26 * 26; i++) {
		char cc[3] = { (char)('A' + i / 26), (char)('A' + i % 26), '\0' };
		if (s->by_cc[i])
			fn(cc, s->by_cc[i], arg);
	}
}
