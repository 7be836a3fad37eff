/* list.c — the lock-free-read domain list (see list.h for the invariants). */
#include "list.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
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
enum { R_MEM, R_ORDER, R_MAP };

/* A file mapping handed to reclamation (R_MAP): munmap'd when freed. */
struct mapping {
	void *addr;
	size_t len;
};

struct rs_list {
	_Atomic(struct rs_tab *) tab;
	_Atomic(struct rs_ordtab *) ords;
	_Atomic uint32_t nords;  /* indexes handed out (never reused); written by the writer only,
				  * read by the snapshot writer thread too (rs_list_order_count) */
	_Atomic uint64_t walk_gen; /* bumped by each insert over a tombstone while not quiescent
				    * (rs_list_walk_gen) */
	_Atomic uint64_t change_gen; /* random at creation, bumped before every change readers can
				      * see and every retirement (rs_list_change_gen) */
	/* writer-only state */
	uint32_t *omap;          /* order id -> index + 1 (0 free, OMAP_TOMB removed): open addressing */
	size_t omask, oused;     /* omap capacity - 1; non-free slots */
	struct retired *retired; /* newest first */
	size_t nretired;
	bool quiescent;
	int64_t floor_ms;        /* time floor for reclamation; 0 = RS_LIST_GRACE_MS */
	size_t domains, protected_n, orders, name_bytes, mem_bytes;
	/* prefixes: the published table (readers), the writer's set (below) */
	_Atomic(struct ptab *) ptab; /* NULL when no prefix is committed */
	struct pw **pbuck;           /* the writer's records: chained hash, pmask + 1 buckets */
	size_t pmask, npw;
	bool pdirty;                 /* the set changed since the last commit */
	size_t prefixes, protected_prefixes, prefix_bytes;
	/* entries served in place from a snapshot image (rs_list_image): never
	 * freed one by one, the block goes with the list */
	uint8_t *block;
	size_t block_len;
	bool block_mapped; /* mmap'd (a file's pages), not malloc'd */
	_Atomic(struct rs_list_image *) img; /* the image's own table, until rs_list_adopt */
};

/* The writer's record of one prefix (never seen by readers). */
struct pw {
	struct pw *next; /* hash chain */
	struct rs_prefix prefix;
	uint8_t flags;   /* RS_ENT_PROTECTED */
	uint16_t nord, cap;
	uint32_t *ord;
};

/* Elementary intervals of the published table: [start, next start) is held
 * by pe (the innermost prefix entry; NULL: none); covered: some prefix
 * holding it (pe or an enclosing one) is protected. */
struct piv4 {
	uint32_t start;
	uint32_t covered;
	const struct rs_pentry *pe;
};
struct piv6 {
	uint64_t hi, lo;
	const struct rs_pentry *pe;
	uint64_t covered;
};

/* The published prefix table: one allocation holding this header, the
 * interval arrays, the entry pointers and the entries. */
struct ptab {
	size_t n4, n6, npe;
	size_t nlisted; /* entries with at least one order (rs_list_has_prefixes) */
	const struct piv4 *iv4;
	const struct piv6 *iv6;
	const struct rs_pentry *const *pe; /* every entry, sorted (family, address, length) */
};

static void pset_free(struct rs_list *l);

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
	if (kind == R_ORDER) {
		rs_order_free(p);
	} else if (kind == R_MAP) {
		munmap(((struct mapping *)p)->addr, ((struct mapping *)p)->len);
		free(p);
	} else {
		free(p);
	}
}

/* The block of entries served in place (rs_list_image), released now or,
 * with readers, retired. On out of memory for the bookkeeping it is kept
 * (leaked) rather than freed under a reader. */
static void block_drop(struct rs_list *l, bool now);

/* Is p inside the adopted block (an entry served in place)? */
static bool in_block(const struct rs_list *l, const void *p)
{
	return l->block && (const uint8_t *)p >= l->block && (const uint8_t *)p < l->block + l->block_len;
}

/* Before anything readers can see changes, and before anything is retired
 * (seq_cst: ordered before the stores that follow; rs_list_change_gen). */
static inline void changed(struct rs_list *l)
{
	atomic_fetch_add(&l->change_gen, 1);
}

/* Hand p to reclamation. If even the bookkeeping cannot be allocated, leak p
 * rather than free memory a reader may still use. An entry inside the
 * adopted block is simply dropped: the block lives as long as the list. */
static void retire(struct rs_list *l, int kind, void *p)
{
	struct retired *r;

	if (!p || (kind == R_MEM && in_block(l, p)))
		return;
	changed(l);
	if (kind == R_MEM)
		l->mem_bytes -= alloc_size(p);
	else if (kind == R_MAP)
		l->mem_bytes -= ((struct mapping *)p)->len;
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

/* A starting point for change_gen that no other list of this process (or of
 * an earlier load of this code) is likely to share: 64 random bits. */
static uint64_t random_gen(void)
{
	uint64_t g;
	struct timespec ts;

	if (getrandom(&g, sizeof(g), GRND_NONBLOCK) == (ssize_t)sizeof(g))
		return g;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)(uintptr_t)&g << 16);
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
	atomic_init(&l->change_gen, random_gen());
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
		if (e && e != TOMB && !in_block(l, e))
			free(e);
	}
	free(t);
	free(atomic_load_explicit(&l->img, memory_order_relaxed));
	block_drop(l, true);
	o = atomic_load_explicit(&l->ords, memory_order_relaxed);
	for (uint32_t i = 0; i < o->cap; i++)
		rs_order_free(atomic_load_explicit(&o->o[i], memory_order_relaxed));
	free(o);
	free(l->omap);
	pset_free(l);
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

const struct rs_entry *rs_list_image_entry(const struct rs_list_image *im, uint32_t v)
{
	uint64_t o = ((uint64_t)v - 1) * 4;
	const struct rs_entry *e;

	if (v == 0 || o >= im->alen || im->alen - o < sizeof(*e))
		return NULL;
	e = (const struct rs_entry *)(const void *)(im->arena + o);
	return im->alen - o - sizeof(*e) >= 4 * (size_t)e->nord + e->wlen ? e : NULL;
}

/* The same in a snapshot image's own table (rs_list_image), before
 * rs_list_adopt: every slot and entry is bounds-checked, the probe ends
 * after the table's longest run of used slots (snapshot.c checked that one
 * is empty), and a name found must be canonical as the list's are (so a
 * query with other octets in a label never matches a crafted entry).
 * Entries are in host order (images are served in place only on
 * little-endian hosts). */
static const struct rs_entry *img_find(const struct rs_list_image *im, const uint8_t *wire, size_t wlen,
				       uint64_t hash)
{
	uint32_t h32 = (uint32_t)(hash >> 32);
	size_t mask = im->cap - 1, i = (size_t)hash & mask;

	for (size_t n = 0; n <= im->run; n++, i = (i + 1) & mask) {
		const struct rs_entry *e = rs_list_image_entry(im, im->slot[i]);
		if (im->slot[i] == 0)
			return NULL;
		if (e && e->hash == h32 && e->wlen == wlen && memcmp(rs_entry_wire(e), wire, wlen) == 0)
			return rs_wire_canonical(wire, wlen) ? e : NULL;
	}
	return NULL;
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
	const struct rs_list_image *im = atomic_load_explicit(&l->img, memory_order_acquire);
	const struct rs_tab *t = atomic_load_explicit(&l->tab, memory_order_acquire);
	const struct rs_ordtab *ot = NULL;
	bool blocked = false;
	int64_t until = INT64_MAX; /* the first change of an order passed over, see rs_match */

#ifdef RS_TEST_HOOKS
	test_stall(q);
#endif
	for (int i = 0; i < q->nlabels; i++) {
		const struct rs_entry *e = im ? img_find(im, q->wire + q->off[i], q->len - q->off[i], q->hash[i])
					      : tab_find(t, q->wire + q->off[i], q->len - q->off[i], q->hash[i]);
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
				m->prefix = NULL;
				m->until = until;
				blocked = true;
				break;
			}
			if (o) {
				int64_t next = rs_order_next_transition(o, now);
				if (next > 0 && next < until)
					until = next;
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

static void block_drop(struct rs_list *l, bool now)
{
	uint8_t *b = l->block;
	size_t len = l->block_len;
	struct mapping *mp;

	l->block = NULL; /* first: retire() keeps its hands off the block's own range */
	l->block_len = 0;
	if (!b)
		return;
	if (!l->block_mapped) {
		if (now)
			free(b);
		else
			retire(l, R_MEM, b);
	} else if (now) {
		munmap(b, len);
	} else if ((mp = malloc(sizeof(*mp))) != NULL) {
		mp->addr = b;
		mp->len = len;
		retire(l, R_MAP, mp);
	}
}

int rs_list_image(struct rs_list *l, uint8_t *block, size_t len, bool mapped, const uint8_t *arena, size_t alen,
		  const uint32_t *slot, size_t cap, size_t run, size_t nentries)
{
	struct rs_list_image *im;

	if (l->block || l->domains || l->protected_n || cap < 16 || (cap & (cap - 1)))
		return RS_EINVAL;
	im = malloc(sizeof(*im));
	if (!im)
		return RS_ENOMEM;
	*im = (struct rs_list_image){ block, arena, alen, slot, cap, run, mapped };
	l->block = block;
	l->block_len = len;
	l->block_mapped = mapped;
	l->mem_bytes += (mapped ? len : alloc_size(block)) + alloc_size(im);
	l->domains = nentries; /* until rs_list_adopt counts them */
	changed(l);
	atomic_store_explicit(&l->img, im, memory_order_release);
	return 0;
}

const struct rs_list_image *rs_list_image_get(const struct rs_list *l)
{
	return atomic_load_explicit(&l->img, memory_order_acquire);
}

int rs_list_adopt(struct rs_list *l, uint8_t *copy, size_t copy_len, const uint32_t *slot, size_t cap,
		  const struct rs_list_stats *counts)
{
	struct rs_list_image *im = atomic_load_explicit(&l->img, memory_order_relaxed);
	struct rs_tab *t, *old = wtab(l);
	const uint8_t *base = copy ? copy : l->block;

	if (!im || cap < 16 || (cap & (cap - 1)))
		return RS_EINVAL;
	t = tab_new(l, cap);
	if (!t)
		return RS_ENOMEM;
	for (size_t i = 0; i < cap; i++) {
		struct rs_entry *e = slot[i] == 0 ? NULL
				     : slot[i] == UINT32_MAX ? TOMB
				     : (struct rs_entry *)(void *)(base + (size_t)(slot[i] - 1) * 4);
		if (e)
			t->used++;
		atomic_init(&t->slot[i], e);
	}
	l->domains = counts->domains;
	l->protected_n = counts->protected_n;
	l->name_bytes = counts->name_bytes;
	/* the table first, then no image: a reader that sees no image sees it */
	changed(l);
	atomic_store_explicit(&l->tab, t, memory_order_release);
	atomic_store_explicit(&l->img, NULL, memory_order_release);
	retire(l, R_MEM, old);
	retire(l, R_MEM, im);
	if (copy) {
		/* readers of the image may still hold its entries: the block
		 * goes when they have left (a mapping is munmap'd then) */
		block_drop(l, l->quiescent);
		l->block = copy;
		l->block_len = copy_len;
		l->block_mapped = false;
		l->mem_bytes += alloc_size(copy);
	}
	if ((t->used + 1) * 4 > (t->mask + 1) * 3)
		(void)rehash(l); /* a table without its free quarter; on failure it serves as it is */
	return 0;
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
	changed(l);
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
		} else if (!l->quiescent) {
			/* over a tombstone: maybe a name removed meanwhile coming
			 * back into a slot a concurrent walk already passed
			 * (seq_cst, before the store: rs_list_walk_gen) */
			atomic_fetch_add(&l->walk_gen, 1);
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

	changed(l);
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
	changed(l);
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
	st->prefixes = l->prefixes;
	st->protected_prefixes = l->protected_prefixes;
	st->prefix_bytes = l->prefix_bytes;
}

uint32_t rs_list_order_count(const struct rs_list *l)
{
	return atomic_load_explicit(&l->nords, memory_order_acquire);
}

uint64_t rs_list_change_gen(const struct rs_list *l)
{
	return atomic_load(&l->change_gen);
}

uint64_t rs_list_walk_gen(const struct rs_list *l)
{
	atomic_thread_fence(memory_order_seq_cst); /* after the walk's loads */
	return atomic_load(&l->walk_gen);
}

int rs_list_foreach(const struct rs_list *l, int (*fn)(const struct rs_entry *e, void *arg), void *arg)
{
	/* acquire: a reader inside a section may walk too (the snapshot writer) */
	const struct rs_tab *t = atomic_load_explicit(&l->tab, memory_order_acquire);

	for (size_t i = 0; i <= t->mask; i++) {
		const struct rs_entry *e = atomic_load_explicit(&t->slot[i], memory_order_acquire);
		int rc;
		if (!e || e == TOMB)
			continue;
		if ((rc = fn(e, arg)) != 0)
			return rc;
	}
	return 0;
}

static long prefix_sweep(struct rs_list *l, uint32_t idx);

long rs_list_order_sweep(struct rs_list *l, uint32_t idx)
{
	const struct rs_tab *t = wtab(l);
	long changed = prefix_sweep(l, idx);
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

/* ---- prefixes (list.h: the writer's set, the published table) ---- */

/* Prefix memory counts in both mem_bytes and prefix_bytes. */
static void pmem(struct rs_list *l, void *p, int sign)
{
	size_t n = alloc_size(p);

	l->mem_bytes += (size_t)sign * n;
	l->prefix_bytes += (size_t)sign * n;
}

static uint64_t prefix_hash(const struct rs_prefix *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = (h ^ p->family) * 0x100000001b3ULL;
	h = (h ^ p->len) * 0x100000001b3ULL;
	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* Where the record of p is (or would be linked): the pointer to it. */
static struct pw **pw_slot(const struct rs_list *l, const struct rs_prefix *p)
{
	struct pw **pp;

	if (!l->pbuck)
		return NULL;
	for (pp = &l->pbuck[prefix_hash(p) & l->pmask]; *pp; pp = &(*pp)->next)
		if (rs_prefix_equal(&(*pp)->prefix, p))
			break;
	return pp;
}

static struct pw *pw_find(const struct rs_list *l, const struct rs_prefix *p)
{
	struct pw **pp = pw_slot(l, p);

	return pp ? *pp : NULL;
}

/* Rehash the records into cap buckets (a power of two). 0 or RS_ENOMEM. */
static int pw_rehash(struct rs_list *l, size_t cap)
{
	struct pw **nb = calloc(cap, sizeof(*nb));

	if (!nb)
		return RS_ENOMEM;
	for (size_t i = 0; l->pbuck && i <= l->pmask; i++) {
		struct pw *r = l->pbuck[i], *next;
		for (; r; r = next) {
			size_t j = prefix_hash(&r->prefix) & (cap - 1);
			next = r->next;
			r->next = nb[j];
			nb[j] = r;
		}
	}
	pmem(l, l->pbuck, -1);
	free(l->pbuck);
	l->pbuck = nb;
	l->pmask = cap - 1;
	pmem(l, nb, +1);
	return 0;
}

static void pw_count(struct rs_list *l, const struct pw *r, int sign)
{
	if (r->nord)
		l->prefixes += (size_t)sign;
	if (r->flags & RS_ENT_PROTECTED)
		l->protected_prefixes += (size_t)sign;
}

/* The record of p, created (empty) when absent. NULL when out of memory. */
static struct pw *pw_get(struct rs_list *l, const struct rs_prefix *p)
{
	struct pw **pp, *r;

	if (!l->pbuck || l->npw + 1 > l->pmask + 1) {
		if (pw_rehash(l, l->pbuck ? 2 * (l->pmask + 1) : 64))
			return NULL;
	}
	pp = pw_slot(l, p);
	if (*pp)
		return *pp;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->prefix = *p;
	*pp = r;
	l->npw++;
	pmem(l, r, +1);
	return r;
}

/* Drop r (found at *pp) when it carries neither an order nor protection. */
static void pw_drop_if_empty(struct rs_list *l, struct pw **pp)
{
	struct pw *r = *pp;

	if (r->nord || r->flags)
		return;
	*pp = r->next;
	pmem(l, r->ord, -1);
	pmem(l, r, -1);
	free(r->ord);
	free(r);
	l->npw--;
	if (l->pmask >= 1024 && l->npw * 8 < l->pmask + 1)
		(void)pw_rehash(l, (l->pmask + 1) / 2); /* on failure the bigger table simply stays */
}

int rs_list_prefix_add(struct rs_list *l, const struct rs_prefix *p, uint32_t idx)
{
	struct pw *r;

	if (!rs_prefix_valid(p))
		return RS_EINVAL;
	r = pw_find(l, p);
	for (uint16_t k = 0; r && k < r->nord; k++)
		if (r->ord[k] == idx)
			return RS_EEXIST;
	if (r && r->nord == UINT16_MAX)
		return RS_EFULL;
	if (!r && !(r = pw_get(l, p)))
		return RS_ENOMEM;
	if (r->nord == r->cap) {
		uint32_t ncap = r->cap ? 2u * r->cap : 2u;
		uint32_t *v;
		if (ncap > UINT16_MAX)
			ncap = UINT16_MAX;
		v = malloc(ncap * sizeof(*v));
		if (!v) {
			pw_drop_if_empty(l, pw_slot(l, p));
			return RS_ENOMEM;
		}
		if (r->nord)
			memcpy(v, r->ord, r->nord * sizeof(*v));
		pmem(l, r->ord, -1);
		free(r->ord);
		r->ord = v;
		r->cap = (uint16_t)ncap;
		pmem(l, v, +1);
	}
	pw_count(l, r, -1);
	r->ord[r->nord++] = idx;
	pw_count(l, r, +1);
	l->pdirty = true;
	return 0;
}

int rs_list_prefix_del(struct rs_list *l, const struct rs_prefix *p, uint32_t idx)
{
	struct pw **pp, *r;

	if (!rs_prefix_valid(p))
		return RS_EINVAL;
	pp = pw_slot(l, p);
	if (!pp || !(r = *pp))
		return RS_ENOENT;
	for (uint16_t k = 0; k < r->nord; k++) {
		if (r->ord[k] != idx)
			continue;
		pw_count(l, r, -1);
		memmove(r->ord + k, r->ord + k + 1, (size_t)(r->nord - k - 1) * sizeof(r->ord[0]));
		r->nord--;
		pw_count(l, r, +1);
		l->pdirty = true;
		pw_drop_if_empty(l, pp);
		return 0;
	}
	return RS_ENOENT;
}

int rs_list_prefix_protect(struct rs_list *l, const struct rs_prefix *p, bool on)
{
	struct pw **pp, *r;

	if (!rs_prefix_valid(p))
		return RS_EINVAL;
	pp = pw_slot(l, p);
	r = pp ? *pp : NULL;
	if (on == (r && (r->flags & RS_ENT_PROTECTED)))
		return on ? RS_EEXIST : RS_ENOENT;
	if (!r && !(r = pw_get(l, p)))
		return RS_ENOMEM;
	pw_count(l, r, -1);
	r->flags = on ? (uint8_t)(r->flags | RS_ENT_PROTECTED) : (uint8_t)(r->flags & ~RS_ENT_PROTECTED);
	pw_count(l, r, +1);
	l->pdirty = true;
	if (!on)
		pw_drop_if_empty(l, pw_slot(l, p));
	return 0;
}

static long prefix_sweep(struct rs_list *l, uint32_t idx)
{
	long changed = 0;

	for (size_t i = 0; l->pbuck && i <= l->pmask; i++) {
		struct pw **pp = &l->pbuck[i];
		while (*pp) {
			struct pw *r = *pp;
			uint16_t n = 0;
			for (uint16_t k = 0; k < r->nord; k++)
				if (r->ord[k] != idx)
					r->ord[n++] = r->ord[k];
			if (n == r->nord) {
				pp = &r->next;
				continue;
			}
			pw_count(l, r, -1);
			r->nord = n;
			pw_count(l, r, +1);
			changed++;
			l->pdirty = true;
			if (r->nord || r->flags) {
				pp = &r->next;
				continue;
			}
			*pp = r->next; /* no rehash while walking the buckets */
			pmem(l, r->ord, -1);
			pmem(l, r, -1);
			free(r->ord);
			free(r);
			l->npw--;
		}
	}
	return changed;
}

/* Free the writer's set and the published table (no reader may remain). */
static void pset_free(struct rs_list *l)
{
	for (size_t i = 0; l->pbuck && i <= l->pmask; i++) {
		struct pw *r = l->pbuck[i], *next;
		for (; r; r = next) {
			next = r->next;
			free(r->ord);
			free(r);
		}
	}
	free(l->pbuck);
	free(atomic_load_explicit(&l->ptab, memory_order_relaxed));
}

/* An address as a 128-bit key: IPv4 in the low 32 bits. */
struct pkey {
	uint64_t hi, lo;
};

static uint64_t be64(const uint8_t *a)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | a[i];
	return v;
}

static uint32_t be32(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static struct pkey pkey_start(const struct rs_prefix *p)
{
	if (p->family == 4)
		return (struct pkey){ 0, be32(p->addr) };
	return (struct pkey){ be64(p->addr), be64(p->addr + 8) };
}

/* The last address of p. */
static struct pkey pkey_end(const struct rs_prefix *p)
{
	struct pkey k = pkey_start(p);

	if (p->family == 4) {
		k.lo |= p->len >= 32 ? 0 : 0xffffffffu >> p->len;
	} else if (p->len < 64) {
		k.hi |= p->len == 0 ? UINT64_MAX : UINT64_MAX >> p->len;
		k.lo = UINT64_MAX;
	} else if (p->len < 128) {
		k.lo |= UINT64_MAX >> (p->len - 64);
	}
	return k;
}

static int pkey_cmp(struct pkey a, struct pkey b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* k + 1 within the family's space; false when k is its last address. */
static bool pkey_next(struct pkey *k, int family)
{
	if (family == 4) {
		if (k->lo == 0xffffffffu)
			return false;
		k->lo++;
		return true;
	}
	if (k->lo == UINT64_MAX && k->hi == UINT64_MAX)
		return false;
	if (++k->lo == 0)
		k->hi++;
	return true;
}

/* Sort order of the build: family, address, then length (outer first). */
static int pw_cmp(const void *a, const void *b)
{
	const struct pw *x = *(const struct pw *const *)a, *y = *(const struct pw *const *)b;
	int c;

	if (x->prefix.family != y->prefix.family)
		return x->prefix.family < y->prefix.family ? -1 : 1;
	c = memcmp(x->prefix.addr, y->prefix.addr, 16);
	if (c)
		return c;
	return (int)x->prefix.len - (int)y->prefix.len;
}

/* Appends intervals of one family; an interval starting where the last one
 * did replaces it (the inner prefix, or the end of several at once). */
struct pemitter {
	int family;
	struct piv4 *iv4;
	struct piv6 *iv6;
	size_t n;
	struct pkey last;
};

static void pemit(struct pemitter *e, struct pkey start, const struct rs_pentry *pe, bool covered)
{
	size_t i = e->n && pkey_cmp(e->last, start) == 0 ? e->n - 1 : e->n++;

	e->last = start;
	if (e->family == 4)
		e->iv4[i] = (struct piv4){ (uint32_t)start.lo, covered, pe };
	else
		e->iv6[i] = (struct piv6){ start.hi, start.lo, pe, covered };
}

/*
 * The intervals of one family from its entries pe[0..n) (sorted by address,
 * then length: an enclosing prefix comes before those it holds). A stack of
 * the prefixes holding the sweep position (at most 33 or 129 deep: nested
 * prefixes have distinct lengths); each entry's parent is the stack's top
 * when it is reached. Returns the number of intervals (<= 2n + 1).
 */
static size_t sweep_family(int family, struct rs_pentry **pe, size_t n, struct piv4 *iv4, struct piv6 *iv6)
{
	struct rs_pentry *stack[130];
	bool cov[130];
	struct pemitter e = { family, iv4, iv6, 0, { 0, 0 } };
	size_t d = 0;

	if (n == 0)
		return 0;
	pemit(&e, (struct pkey){ 0, 0 }, NULL, false);
	for (size_t i = 0; i <= n; i++) {
		struct pkey s = i < n ? pkey_start(&pe[i]->prefix) : (struct pkey){ UINT64_MAX, UINT64_MAX };
		/* close the prefixes that end before s (all of them at the end) */
		while (d > 0 && (i == n || pkey_cmp(pkey_end(&stack[d - 1]->prefix), s) < 0)) {
			struct pkey after = pkey_end(&stack[--d]->prefix);
			if (pkey_next(&after, family))
				pemit(&e, after, d ? stack[d - 1] : NULL, d ? cov[d - 1] : false);
		}
		if (i == n)
			break;
		pe[i]->parent = d ? stack[d - 1] : NULL;
		cov[d] = (pe[i]->flags & RS_ENT_PROTECTED) || (d && cov[d - 1]);
		pemit(&e, s, pe[i], cov[d]);
		stack[d++] = pe[i];
	}
	return e.n;
}

#define PALIGN(x) (((x) + 7) & ~(size_t)7)

/* A new table from the writer's set (npw > 0), or NULL when out of memory. */
static struct ptab *ptab_build(const struct rs_list *l)
{
	struct pw **recs = malloc(l->npw * sizeof(*recs));
	size_t n4 = 0, n6 = 0, k = 0, size, off;
	struct rs_pentry **pe;
	struct piv4 *iv4;
	struct piv6 *iv6;
	struct ptab *t;
	char *base;

	if (!recs)
		return NULL;
	for (size_t i = 0; i <= l->pmask; i++)
		for (struct pw *r = l->pbuck[i]; r; r = r->next)
			recs[k++] = r;
	qsort(recs, k, sizeof(*recs), pw_cmp);
	for (size_t i = 0; i < k; i++)
		*(recs[i]->prefix.family == 4 ? &n4 : &n6) += 1;
	size = PALIGN(sizeof(*t)) + (n4 ? (2 * n4 + 1) * sizeof(*iv4) : 0) + (n6 ? (2 * n6 + 1) * sizeof(*iv6) : 0) +
	       PALIGN(k * sizeof(*pe));
	for (size_t i = 0; i < k; i++)
		size += PALIGN(sizeof(struct rs_pentry) + recs[i]->nord * sizeof(uint32_t));
	base = malloc(size);
	if (!base) {
		free(recs);
		return NULL;
	}
	t = (struct ptab *)base;
	off = PALIGN(sizeof(*t));
	iv4 = (struct piv4 *)(base + off);
	off += n4 ? (2 * n4 + 1) * sizeof(*iv4) : 0;
	iv6 = (struct piv6 *)(base + off);
	off += n6 ? (2 * n6 + 1) * sizeof(*iv6) : 0;
	pe = (struct rs_pentry **)(base + off);
	off += PALIGN(k * sizeof(*pe));
	for (size_t i = 0; i < k; i++) {
		const struct pw *r = recs[i];
		pe[i] = (struct rs_pentry *)(base + off);
		off += PALIGN(sizeof(struct rs_pentry) + r->nord * sizeof(uint32_t));
		pe[i]->prefix = r->prefix;
		pe[i]->flags = r->flags;
		pe[i]->nord = r->nord;
		pe[i]->parent = NULL;
		if (r->nord)
			memcpy(pe[i]->ord, r->ord, r->nord * sizeof(uint32_t));
	}
	free(recs);
	t->nlisted = 0;
	for (size_t i = 0; i < k; i++)
		t->nlisted += pe[i]->nord > 0;
	t->npe = k;
	t->pe = (const struct rs_pentry *const *)pe;
	t->n4 = sweep_family(4, pe, n4, iv4, NULL);
	t->n6 = sweep_family(6, pe + n4, n6, NULL, iv6);
	t->iv4 = iv4;
	t->iv6 = iv6;
	return t;
}

int rs_list_commit(struct rs_list *l)
{
	struct ptab *old = atomic_load_explicit(&l->ptab, memory_order_relaxed), *t = NULL;

	if (!l->pdirty)
		return 0;
	if (l->npw) {
		t = ptab_build(l);
		if (!t)
			return RS_ENOMEM;
		pmem(l, t, +1);
	}
	changed(l);
	atomic_store_explicit(&l->ptab, t, memory_order_release);
	if (old)
		l->prefix_bytes -= alloc_size(old); /* retire() takes it off mem_bytes */
	retire(l, R_MEM, old);
	l->pdirty = false;
	return 0;
}

bool rs_list_has_prefixes(const struct rs_list *l)
{
	const struct ptab *t = atomic_load_explicit(&l->ptab, memory_order_acquire);

	return t && t->nlisted > 0; /* protected prefixes alone never block: no address to look at */
}

int rs_list_prefix_foreach(const struct rs_list *l, int (*fn)(const struct rs_pentry *pe, void *arg), void *arg)
{
	const struct ptab *t = atomic_load_explicit(&l->ptab, memory_order_acquire);

	for (size_t i = 0; t && i < t->npe; i++) {
		int rc = fn(t->pe[i], arg);
		if (rc)
			return rc;
	}
	return 0;
}

enum rs_verdict rs_list_match_addr(const struct rs_list *l, int family, const uint8_t *addr, int64_t now,
				   struct rs_match *m)
{
	return rs_list_match_addr_skip(l, family, addr, now, NULL, NULL, m);
}

enum rs_verdict rs_list_match_addr_skip(const struct rs_list *l, int family, const uint8_t *addr, int64_t now,
					bool (*skip)(const struct rs_pentry *pe, void *arg), void *arg,
					struct rs_match *m)
{
	const struct ptab *t = atomic_load_explicit(&l->ptab, memory_order_acquire);
	const struct rs_pentry *pe;
	const struct rs_ordtab *ot;
	bool covered;
	size_t lo = 0, hi;

	if (!t)
		return RS_PASS;
	if (family == 4) {
		uint32_t a = be32(addr);
		if (!(hi = t->n4))
			return RS_PASS;
		while (hi - lo > 1) { /* t->iv4[lo].start <= a < t->iv4[hi].start */
			size_t mid = lo + (hi - lo) / 2;
			if (t->iv4[mid].start <= a)
				lo = mid;
			else
				hi = mid;
		}
		pe = t->iv4[lo].pe;
		covered = t->iv4[lo].covered;
	} else if (family == 6) {
		struct pkey a = { be64(addr), be64(addr + 8) };
		if (!(hi = t->n6))
			return RS_PASS;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (pkey_cmp((struct pkey){ t->iv6[mid].hi, t->iv6[mid].lo }, a) <= 0)
				lo = mid;
			else
				hi = mid;
		}
		pe = t->iv6[lo].pe;
		covered = t->iv6[lo].covered;
	} else {
		return RS_PASS;
	}
	if (!pe)
		return RS_PASS;
	if (covered)
		return RS_PROTECTED;
	ot = atomic_load_explicit(&l->ords, memory_order_acquire);
	for (; pe; pe = pe->parent) {
		for (uint16_t k = 0; k < pe->nord; k++) {
			const struct rs_order *o;
			if (pe->ord[k] >= ot->cap)
				continue;
			o = atomic_load_explicit(&ot->o[pe->ord[k]], memory_order_acquire);
			if (o && rs_order_applies(o, now)) {
				if (skip && skip(pe, arg))
					break; /* passed over: the enclosing prefix may still block */
				m->order = o;
				m->entry = NULL;
				m->label = -1;
				m->prefix = pe;
				return RS_BLOCKED;
			}
		}
	}
	return RS_PASS;
}
