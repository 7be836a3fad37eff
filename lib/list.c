/* list.c — the lock-free-read domain list (see list.h for the invariants). */
#include "list.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ebr.h"
#include "rs_err.h"

struct rs_tab {
	size_t mask;  /* capacity - 1 (capacity is a power of two) */
	size_t used;  /* non-NULL slots: entries + tombstones (writer only) */
	_Atomic(struct rs_entry *) slot[];
};

struct rs_ordtab {
	uint32_t cap;
	_Atomic(struct rs_order *) o[];
};

/* Something unpublished, waiting for the readers that may hold it (ebr.h)
 * and for the time floor before it is freed. */
struct retired {
	struct retired *next;
	int64_t when_ms;
	uint64_t epoch; /* rs_ebr_tag() at retirement */
	int kind; /* R_MEM: free(p); R_ORDER: rs_order_free(p) */
	void *p;
};
enum { R_MEM, R_ORDER };

struct rs_list {
	_Atomic(struct rs_tab *) tab;
	_Atomic(struct rs_ordtab *) ords;
	/* writer-only state */
	uint32_t nords;          /* indexes handed out (never reused) */
	uint32_t *omap;          /* order id -> index + 1 (0 free, OMAP_TOMB removed): open addressing */
	size_t omask, oused;     /* omap capacity - 1; non-free slots */
	struct retired *retired; /* newest first */
	size_t nretired;
	bool quiescent;
	int64_t floor_ms;        /* time floor for reclamation; 0 = RS_LIST_GRACE_MS */
	size_t domains, protected_n, orders, name_bytes, mem_bytes;
};

/* A slot that held an entry that was removed; probing continues past it. */
static struct rs_entry tombstone_entry;
#define TOMB (&tombstone_entry)

static size_t alloc_size(void *p)
{
	return p ? malloc_usable_size(p) + sizeof(size_t) : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release(int kind, void *p)
{
	if (kind == R_ORDER)
		rs_order_free(p);
	else
		free(p);
}

/* Hand p to reclamation. If even the bookkeeping cannot be allocated, leak p
 * rather than free memory a reader may still use. */
static void retire(struct rs_list *l, int kind, void *p)
{
	struct retired *r;

	if (!p)
		return;
	if (kind == R_MEM)
		l->mem_bytes -= alloc_size(p);
	if (l->quiescent) {
		release(kind, p);
		return;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return;
	r->next = l->retired;
	r->when_ms = now_ms();
	r->epoch = rs_ebr_tag(); /* p is unpublished: later readers cannot reach it */
	r->kind = kind;
	r->p = p;
	l->retired = r;
	l->nretired++;
}

void rs_list_reclaim_before(struct rs_list *l, uint64_t safe)
{
	int64_t limit = now_ms() - (l->floor_ms ? l->floor_ms : RS_LIST_GRACE_MS);
	struct retired **pp = &l->retired, *r;

	/*
	 * Newest first, and both the time and the tag grow towards the head: skip
	 * the ones still too young or still reachable by a reader inside a section
	 * (tag >= safe), free the whole rest of the chain.
	 */
	while ((r = *pp) != NULL && !l->quiescent && (r->when_ms > limit || r->epoch >= safe))
		pp = &r->next;
	while ((r = *pp) != NULL) {
		*pp = r->next;
		release(r->kind, r->p);
		free(r);
		l->nretired--;
	}
}

void rs_list_reclaim(struct rs_list *l)
{
	rs_list_reclaim_before(l, l->quiescent ? UINT64_MAX : rs_ebr_observe());
}

void rs_list_set_quiescent(struct rs_list *l, bool q)
{
	l->quiescent = q;
	if (q)
		rs_list_reclaim(l);
}

void rs_list_set_floor(struct rs_list *l, int64_t floor_ms)
{
	l->floor_ms = floor_ms > 0 ? floor_ms : RS_LIST_GRACE_MS;
}

static struct rs_tab *tab_new(struct rs_list *l, size_t cap)
{
	struct rs_tab *t = calloc(1, sizeof(*t) + cap * sizeof(t->slot[0]));

	if (!t)
		return NULL;
	t->mask = cap - 1;
	l->mem_bytes += alloc_size(t);
	return t;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;

	while (c < n)
		c <<= 1;
	return c;
}

struct rs_list *rs_list_new(size_t expected)
{
	struct rs_list *l = calloc(1, sizeof(*l));
	struct rs_tab *t;
	struct rs_ordtab *o;

	if (!l)
		return NULL;
	l->quiescent = true;
	t = tab_new(l, pow2_at_least(expected + expected / 3 + 1));
	o = calloc(1, sizeof(*o) + 16 * sizeof(o->o[0]));
	if (!t || !o) {
		free(t);
		free(o);
		free(l);
		return NULL;
	}
	o->cap = 16;
	l->mem_bytes += alloc_size(o);
	atomic_init(&l->tab, t);
	atomic_init(&l->ords, o);
	return l;
}

void rs_list_free(struct rs_list *l)
{
	struct rs_tab *t;
	struct rs_ordtab *o;

	if (!l)
		return;
	l->quiescent = true;
	rs_list_reclaim(l);
	t = atomic_load_explicit(&l->tab, memory_order_relaxed);
	for (size_t i = 0; i <= t->mask; i++) {
		struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		if (e && e != TOMB)
			free(e);
	}
	free(t);
	o = atomic_load_explicit(&l->ords, memory_order_relaxed);
	for (uint32_t i = 0; i < o->cap; i++)
		rs_order_free(atomic_load_explicit(&o->o[i], memory_order_relaxed));
	free(o);
	free(l->omap);
	free(l);
}

/* ---- readers ---- */

static inline const struct rs_entry *tab_find(const struct rs_tab *t, const uint8_t *wire, size_t wlen,
					      uint64_t hash)
{
	uint32_t h32 = (uint32_t)(hash >> 32);
	size_t i = (size_t)hash & t->mask;

	for (;;) {
		const struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (!e)
			return NULL;
		if (e != TOMB && e->hash == h32 && e->wlen == wlen && memcmp(rs_entry_wire(e), wire, wlen) == 0)
			return e;
		i = (i + 1) & t->mask;
	}
}

#ifdef RS_TEST_HOOKS
/*
 * Test builds only (configure --enable-sanitizers): REDSINK_TEST_STALL=NAME:MS
 * makes the first lookup of NAME sleep MS milliseconds between loading the
 * table pointer and probing it, as a worker frozen mid-lookup would
 * (tests/integration/test_freeze.py).
 */
static void test_stall(const struct rs_qname *q)
{
	static atomic_int done;
	const char *env = getenv("REDSINK_TEST_STALL"), *colon;
	char text[RS_WIRE_MAX * 4 + 1];
	size_t n;
	long ms;

	if (!env || atomic_load(&done) || !(colon = strrchr(env, ':')))
		return;
	n = rs_wire_to_text(q->wire, q->len, text, sizeof(text));
	if (n != (size_t)(colon - env) || strncasecmp(text, env, n) != 0 || atomic_exchange(&done, 1))
		return;
	ms = strtol(colon + 1, NULL, 10);
	rs_log(RS_LOG_INFO, "test hook: stalling the lookup of %s for %ld ms", text, ms);
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
	rs_log(RS_LOG_INFO, "test hook: the lookup of %s goes on", text);
}
#endif

enum rs_verdict rs_list_match(const struct rs_list *l, const struct rs_qname *q, int64_t now,
			      struct rs_match *m)
{
	const struct rs_tab *t = atomic_load_explicit(&l->tab, memory_order_acquire);
	const struct rs_ordtab *ot = NULL;
	bool blocked = false;

#ifdef RS_TEST_HOOKS
	test_stall(q);
#endif
	for (int i = 0; i < q->nlabels; i++) {
		const struct rs_entry *e = tab_find(t, q->wire + q->off[i], q->len - q->off[i], q->hash[i]);
		if (!e)
			continue;
		if (e->flags & RS_ENT_PROTECTED)
			return RS_PROTECTED;
		if (blocked)
			continue; /* keep walking up only to look for protection */
		if (!ot)
			ot = atomic_load_explicit(&l->ords, memory_order_acquire);
		for (uint16_t k = 0; k < e->nord; k++) {
			const struct rs_order *o;
			if (e->ord[k] >= ot->cap)
				continue;
			o = atomic_load_explicit(&ot->o[e->ord[k]], memory_order_acquire);
			if (o && rs_order_applies(o, now)) {
				m->order = o;
				m->entry = e;
				m->label = i;
				blocked = true;
				break;
			}
		}
	}
	return blocked ? RS_BLOCKED : RS_PASS;
}

/* ---- writer ---- */

static inline struct rs_tab *wtab(const struct rs_list *l)
{
	return atomic_load_explicit(&l->tab, memory_order_relaxed);
}

/* Find the slot of wire (or -1) and the first free slot of its probe chain. */
static ssize_t slot_of(const struct rs_tab *t, const uint8_t *wire, size_t wlen, uint64_t hash, ssize_t *freeslot)
{
	uint32_t h32 = (uint32_t)(hash >> 32);
	size_t i = (size_t)hash & t->mask;

	*freeslot = -1;
	for (;;) {
		struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		if (!e) {
			if (*freeslot < 0)
				*freeslot = (ssize_t)i;
			return -1;
		}
		if (e == TOMB) {
			if (*freeslot < 0)
				*freeslot = (ssize_t)i;
		} else if (e->hash == h32 && e->wlen == wlen && memcmp(rs_entry_wire(e), wire, wlen) == 0) {
			return (ssize_t)i;
		}
		i = (i + 1) & t->mask;
	}
}

/* Rehash into a table sized for the live entries (drops tombstones): on
 * growth, and when deletions leave the table mostly empty. */
static int rehash_to(struct rs_list *l, size_t want)
{
	struct rs_tab *old = wtab(l), *t;

	t = tab_new(l, pow2_at_least(want));
	if (!t)
		return RS_ENOMEM;
	for (size_t i = 0; i <= old->mask; i++) {
		struct rs_entry *e = atomic_load_explicit(&old->slot[i], memory_order_relaxed);
		size_t j;
		uint64_t h;
		if (!e || e == TOMB)
			continue;
		h = rs_wire_hash(rs_entry_wire(e), e->wlen);
		for (j = (size_t)h & t->mask; atomic_load_explicit(&t->slot[j], memory_order_relaxed);
		     j = (j + 1) & t->mask)
			;
		atomic_store_explicit(&t->slot[j], e, memory_order_relaxed);
		t->used++;
	}
	atomic_store_explicit(&l->tab, t, memory_order_release);
	retire(l, R_MEM, old);
	return 0;
}

static int rehash(struct rs_list *l)
{
	size_t live = l->domains + l->protected_n; /* upper bound: an entry may be both */

	return rehash_to(l, 2 * (live + 1));
}

int rs_list_reserve(struct rs_list *l, size_t n)
{
	size_t need = l->domains + l->protected_n + n;

	if ((need + 1) * 4 <= (wtab(l)->mask + 1) * 3)
		return 0;
	return rehash_to(l, need + need / 3 + 1);
}

static struct rs_entry *entry_make(struct rs_list *l, uint64_t hash, const uint8_t *wire, size_t wlen,
				   uint8_t flags, const uint32_t *ord, uint16_t nord)
{
	struct rs_entry *e = malloc(sizeof(*e) + nord * sizeof(uint32_t) + wlen);

	if (!e)
		return NULL;
	e->hash = (uint32_t)(hash >> 32);
	e->wlen = (uint8_t)wlen;
	e->flags = flags;
	e->nord = nord;
	if (nord)
		memcpy(e->ord, ord, nord * sizeof(uint32_t));
	memcpy(e->ord + nord, wire, wlen);
	l->mem_bytes += alloc_size(e);
	return e;
}

static void count(struct rs_list *l, const struct rs_entry *e, int sign)
{
	if (!e)
		return;
	if (e->nord)
		l->domains += (size_t)sign;
	if (e->flags & RS_ENT_PROTECTED)
		l->protected_n += (size_t)sign;
	l->name_bytes += (size_t)sign * (size_t)(e->wlen - 2);
}

/*
 * Replace the entry for wire with one that has the given flags and orders (or
 * remove it when it would carry neither). old is the current entry or NULL.
 */
static int entry_replace(struct rs_list *l, const uint8_t *wire, size_t wlen, uint64_t hash,
			 uint8_t flags, const uint32_t *ord, uint16_t nord)
{
	struct rs_tab *t = wtab(l);
	ssize_t freeslot, s = slot_of(t, wire, wlen, hash, &freeslot);
	struct rs_entry *old = s >= 0 ? atomic_load_explicit(&t->slot[s], memory_order_relaxed) : NULL;
	struct rs_entry *e = NULL;

	if (nord || flags) {
		e = entry_make(l, hash, wire, wlen, flags, ord, nord);
		if (!e)
			return RS_ENOMEM;
	}
	if (s >= 0) {
		atomic_store_explicit(&t->slot[s], e ? e : TOMB, memory_order_release);
	} else if (e) {
		if (atomic_load_explicit(&t->slot[freeslot], memory_order_relaxed) == NULL) {
			if ((t->used + 1) * 4 > (t->mask + 1) * 3) {
				int rc = rehash(l);
				if (rc) {
					l->mem_bytes -= alloc_size(e);
					free(e);
					return rc;
				}
				t = wtab(l);
				slot_of(t, wire, wlen, hash, &freeslot);
			}
			t->used++;
		}
		atomic_store_explicit(&t->slot[freeslot], e, memory_order_release);
	}
	count(l, old, -1);
	count(l, e, +1);
	retire(l, R_MEM, old);
	if (!e && t->mask >= 1024 && (l->domains + l->protected_n) * 8 < t->mask + 1)
		(void)rehash(l); /* shrink; on failure the bigger table simply stays */
	return 0;
}

static const struct rs_entry *entry_get(const struct rs_list *l, const uint8_t *wire, size_t wlen, uint64_t hash)
{
	return tab_find(wtab(l), wire, wlen, hash);
}

int rs_list_add(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx)
{
	uint64_t h = rs_wire_hash(wire, wlen);
	const struct rs_entry *e = entry_get(l, wire, wlen, h);
	uint32_t ord[64], *v = ord;
	uint16_t n = e ? e->nord : 0;
	int rc;

	if (wlen < 2 || wlen > RS_WIRE_MAX)
		return RS_EINVAL;
	for (uint16_t k = 0; k < n; k++)
		if (e->ord[k] == idx)
			return RS_EEXIST;
	if (n == UINT16_MAX)
		return RS_EFULL;
	if (n + 1u > sizeof(ord) / sizeof(ord[0]) && !(v = malloc((n + 1u) * sizeof(*v))))
		return RS_ENOMEM;
	if (n)
		memcpy(v, e->ord, n * sizeof(*v));
	v[n] = idx;
	rc = entry_replace(l, wire, wlen, h, e ? e->flags : 0, v, (uint16_t)(n + 1));
	if (v != ord)
		free(v);
	return rc;
}

int rs_list_del(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx)
{
	uint64_t h = rs_wire_hash(wire, wlen);
	const struct rs_entry *e = entry_get(l, wire, wlen, h);
	uint32_t ord[64], *v = ord;
	uint16_t n = 0;
	bool found = false;
	int rc;

	if (!e)
		return RS_ENOENT;
	if (e->nord > sizeof(ord) / sizeof(ord[0]) && !(v = malloc(e->nord * sizeof(*v))))
		return RS_ENOMEM;
	for (uint16_t k = 0; k < e->nord; k++) {
		if (e->ord[k] == idx)
			found = true;
		else
			v[n++] = e->ord[k];
	}
	rc = found ? entry_replace(l, wire, wlen, h, e->flags, v, n) : RS_ENOENT;
	if (v != ord)
		free(v);
	return rc;
}

int rs_list_protect(struct rs_list *l, const uint8_t *wire, size_t wlen, bool on)
{
	uint64_t h = rs_wire_hash(wire, wlen);
	const struct rs_entry *e = entry_get(l, wire, wlen, h);
	uint8_t flags = e ? e->flags : 0;

	if (wlen < 2 || wlen > RS_WIRE_MAX)
		return RS_EINVAL;
	if (on == !!(flags & RS_ENT_PROTECTED))
		return on ? RS_EEXIST : RS_ENOENT;
	flags = on ? (uint8_t)(flags | RS_ENT_PROTECTED) : (uint8_t)(flags & ~RS_ENT_PROTECTED);
	return entry_replace(l, wire, wlen, h, flags, e ? e->ord : NULL, e ? e->nord : 0);
}

/* ---- the order id index (writer only): O(1) lookups by id ---- */

#define OMAP_TOMB UINT32_MAX

static uint64_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 0x100000001b3ULL;
	/* FNV's low bits cluster for ids that differ only at the end ("o1",
	 * "o2", ...): mix them in before they index a linear-probing table */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* The omap slot holding id, or -1; *freeslot: where id would go. */
static ssize_t omap_slot(const struct rs_list *l, const char *id, ssize_t *freeslot)
{
	const struct rs_ordtab *ot = atomic_load_explicit(&l->ords, memory_order_relaxed);
	size_t i;

	*freeslot = -1;
	if (!l->omap)
		return -1;
	for (i = (size_t)id_hash(id) & l->omask;; i = (i + 1) & l->omask) {
		uint32_t v = l->omap[i];
		const struct rs_order *o;
		if (v == 0) {
			if (*freeslot < 0)
				*freeslot = (ssize_t)i;
			return -1;
		}
		if (v == OMAP_TOMB) {
			if (*freeslot < 0)
				*freeslot = (ssize_t)i;
			continue;
		}
		o = atomic_load_explicit(&ot->o[v - 1], memory_order_relaxed);
		if (o && strcmp(o->id, id) == 0)
			return (ssize_t)i;
	}
}

/* Rebuild the index for at least `want` live orders (drops tombstones). */
static int omap_rebuild(struct rs_list *l, size_t want)
{
	const struct rs_ordtab *ot = atomic_load_explicit(&l->ords, memory_order_relaxed);
	size_t cap = 16;
	uint32_t *m;

	while (cap < 2 * want + 2)
		cap <<= 1;
	m = calloc(cap, sizeof(*m));
	if (!m)
		return RS_ENOMEM;
	for (uint32_t k = 0; k < l->nords; k++) {
		const struct rs_order *o = atomic_load_explicit(&ot->o[k], memory_order_relaxed);
		size_t i;
		if (!o)
			continue;
		for (i = (size_t)id_hash(o->id) & (cap - 1); m[i]; i = (i + 1) & (cap - 1))
			;
		m[i] = k + 1;
	}
	l->mem_bytes -= alloc_size(l->omap);
	free(l->omap);
	l->omap = m;
	l->omask = cap - 1;
	l->oused = l->orders;
	l->mem_bytes += alloc_size(m);
	return 0;
}

int64_t rs_list_order_find(const struct rs_list *l, const char *id)
{
	ssize_t freeslot, s = omap_slot(l, id, &freeslot);

	return s < 0 ? -1 : (int64_t)l->omap[s] - 1;
}

const struct rs_order *rs_list_order_get(const struct rs_list *l, uint32_t idx)
{
	const struct rs_ordtab *ot = atomic_load_explicit(&l->ords, memory_order_acquire);

	return idx < ot->cap ? atomic_load_explicit(&ot->o[idx], memory_order_acquire) : NULL;
}

int rs_list_order_set(struct rs_list *l, struct rs_order *o, uint32_t *idx)
{
	struct rs_ordtab *ot = atomic_load_explicit(&l->ords, memory_order_relaxed);
	int64_t i = rs_list_order_find(l, o->id);

	if (i >= 0) {
		struct rs_order *old = atomic_load_explicit(&ot->o[i], memory_order_relaxed);
		atomic_store_explicit(&ot->o[i], o, memory_order_release);
		retire(l, R_ORDER, old);
		*idx = (uint32_t)i;
		return 0;
	}
	if (l->nords == UINT32_MAX) {
		rs_order_free(o);
		return RS_EFULL;
	}
	if (l->nords == ot->cap) {
		struct rs_ordtab *nt = calloc(1, sizeof(*nt) + 2 * (size_t)ot->cap * sizeof(nt->o[0]));
		if (!nt) {
			rs_order_free(o);
			return RS_ENOMEM;
		}
		nt->cap = 2 * ot->cap;
		for (uint32_t k = 0; k < ot->cap; k++)
			atomic_init(&nt->o[k], atomic_load_explicit(&ot->o[k], memory_order_relaxed));
		l->mem_bytes += alloc_size(nt);
		atomic_store_explicit(&l->ords, nt, memory_order_release);
		retire(l, R_MEM, ot);
		ot = nt;
	}
	if (!l->omap || (l->oused + 1) * 2 > l->omask + 1) {
		if (omap_rebuild(l, l->orders + 1)) {
			rs_order_free(o);
			return RS_ENOMEM;
		}
	}
	{
		ssize_t freeslot;
		(void)omap_slot(l, o->id, &freeslot);
		if (l->omap[freeslot] == 0)
			l->oused++;
		l->omap[freeslot] = l->nords + 1;
	}
	atomic_store_explicit(&ot->o[l->nords], o, memory_order_release);
	*idx = l->nords++;
	l->orders++;
	return 0;
}

int rs_list_order_remove(struct rs_list *l, const char *id)
{
	struct rs_ordtab *ot = atomic_load_explicit(&l->ords, memory_order_relaxed);
	ssize_t freeslot, slot = omap_slot(l, id, &freeslot);
	int64_t i = slot < 0 ? -1 : (int64_t)l->omap[slot] - 1;
	struct rs_order *old;

	if (i < 0)
		return RS_ENOENT;
	l->omap[slot] = OMAP_TOMB;
	old = atomic_load_explicit(&ot->o[i], memory_order_relaxed);
	atomic_store_explicit(&ot->o[i], NULL, memory_order_release);
	retire(l, R_ORDER, old);
	l->orders--;
	return 0;
}

void rs_list_stats(const struct rs_list *l, struct rs_list_stats *st)
{
	st->domains = l->domains;
	st->protected_n = l->protected_n;
	st->orders = l->orders;
	st->name_bytes = l->name_bytes;
	st->mem_bytes = l->mem_bytes;
	st->slots = wtab(l)->mask + 1;
	st->retired = l->nretired;
}

uint32_t rs_list_order_count(const struct rs_list *l)
{
	return l->nords;
}

int rs_list_foreach(const struct rs_list *l, int (*fn)(const struct rs_entry *e, void *arg), void *arg)
{
	const struct rs_tab *t = wtab(l);

	for (size_t i = 0; i <= t->mask; i++) {
		const struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		int rc;
		if (!e || e == TOMB)
			continue;
		if ((rc = fn(e, arg)) != 0)
			return rc;
	}
	return 0;
}

long rs_list_order_sweep(struct rs_list *l, uint32_t idx)
{
	const struct rs_tab *t = wtab(l);
	long changed = 0;
	size_t i = 0;

	while (i <= t->mask) {
		const struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		bool has = false;
		if (e && e != TOMB)
			for (uint16_t k = 0; k < e->nord && !has; k++)
				has = e->ord[k] == idx;
		if (!has) {
			i++;
			continue;
		}
		{
			uint8_t wire[RS_WIRE_MAX];
			size_t wlen = e->wlen;
			memcpy(wire, rs_entry_wire(e), wlen);
			if (rs_list_del(l, wire, wlen, idx) == RS_ENOMEM)
				return RS_ENOMEM;
		}
		changed++;
		if (wtab(l) != t) { /* the deletion shrank the table: start over in the new one */
			t = wtab(l);
			i = 0;
		}
		/* else slot i now holds the entry without idx, or a tombstone */
	}
	return changed;
}
