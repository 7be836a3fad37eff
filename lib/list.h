/*
 * list.h — the in-memory list of blocked and protected domains.
 *
 * Structure: an open-addressing hash table (linear probing) of pointers to
 * immutable entries, keyed by the domain's lowercase wire form, plus a table
 * of orders indexed by a small integer. An entry names the orders that list
 * its domain (by index) and whether the domain is protected.
 *
 * Threads and ordering (the invariants everything else relies on):
 *  - ONE writer at a time (the thread that loads or syncs the list); any number
 *    of readers (Unbound's worker threads) with no lock and no allocation.
 *  - Entries, orders and table arrays are never modified after they are
 *    published. The writer publishes with a release store (a slot, the table
 *    pointer, the order table pointer); readers load with acquire.
 *  - A change replaces a pointer (copy-on-write of one entry), or turns a slot
 *    into a tombstone; readers see either the old or the new state, never a mix.
 *  - Replaced memory is "retired": tagged with the reclamation epoch (ebr.h)
 *    and the time, and freed by rs_list_reclaim() only when BOTH no reader can
 *    still hold it (every reader that was inside a section when it was
 *    unpublished has left) AND the time floor has passed. Readers that hold
 *    list pointers must do so inside rs_ebr_enter()/rs_ebr_leave(): the module
 *    opens a section for each operate() call and keeps it open while a
 *    query's blocked marker holds an order and an entry (until clear(), after
 *    the reply callbacks have read it; redsink.c). The floor is only a floor:
 *    a reader stopped for minutes (SIGSTOP, a frozen cgroup, swap) delays
 *    reclamation, it never reads freed memory.
 *  - The floor is RS_LIST_GRACE_MS by default, for readers that do not
 *    announce themselves (redsink-warnd's HTTP thread reads without sections:
 *    for it the floor is the only protection); lists whose readers all use
 *    sections set RS_LIST_FLOOR_MS with rs_list_set_floor().
 *  - Whoever copies list pointers elsewhere keeps them valid by the same rule.
 *    The stats rings (stats.h) hold order/entry pointers after the reader has
 *    left, so the sync thread reclaims in this order: (1) rs_ebr_observe(),
 *    (2) drain the rings, (3) rs_list_reclaim_before(bound of (1)). A record
 *    written before its worker left is visible to (2) once (1) saw the worker
 *    outside; one written later comes from a section (1) saw, whose memory (3)
 *    does not free.
 *  - Before any reader exists (rs_list_set_quiescent(l, true), the default),
 *    retired memory is freed at once.
 *  - Order indexes are never reused during the list's lifetime, so an entry can
 *    keep a stale index: a removed order's slot reads as NULL and is skipped.
 *
 * Memory: one pointer slot per 0.375-0.75 domains, one allocation per entry of
 * 8 octets + 4 per order + the wire name (name length + 2).
 *
 * Address prefixes (orders' `ips`, the protected prefixes; prefix.h) live in
 * the same list, in a structure of their own:
 *  - The writer keeps a private, mutable set of prefix records (a hash of
 *    the prefix -> flags and order indexes). rs_list_prefix_add/_del/_protect
 *    and rs_list_order_sweep change only that set and mark it dirty; readers
 *    do not see it.
 *  - rs_list_commit() rebuilds, from the whole set, one immutable table in a
 *    single allocation and publishes it with a release store (NULL when the
 *    set is empty); the table it replaces is retired like any other memory
 *    (above). One rebuild per batch of changes: O(n log n) for n prefixes,
 *    a few ms for 10,000. Until the commit, readers see the previous table
 *    whole; a failed commit (out of memory) leaves it in force and the set
 *    dirty, so the next commit tries again.
 *  - The table: per family, the address space cut into elementary intervals
 *    (at most 2n + 1, sorted), each naming the innermost prefix entry that
 *    holds it (or none) and whether a protected prefix holds it; every entry
 *    links to the next enclosing one (parent). A lookup is a binary search
 *    plus a walk up the parents: lock-free, no allocation, and pointers into
 *    the table (m->prefix) stay valid while the reader's ebr.h section lasts.
 *  - Prefixes of the two families never overlap; an IPv4-mapped IPv6 prefix
 *    is an IPv6 prefix (prefix.h).
 */
#ifndef RS_LIST_H
#define RS_LIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "order.h"
#include "prefix.h"

#define RS_LIST_GRACE_MS 5000 /* time floor when readers are not tracked (see above) */
#define RS_LIST_FLOOR_MS 1000 /* time floor when every reader uses ebr.h sections */
#define RS_ENT_PROTECTED 0x01

struct rs_entry {
	uint32_t hash;  /* high half of the name's 64-bit hash */
	uint8_t wlen;   /* wire length, root label included */
	uint8_t flags;  /* RS_ENT_* */
	uint16_t nord;  /* number of order indexes in ord[] */
	uint32_t ord[]; /* order indexes, then the wire name */
};

static inline const uint8_t *rs_entry_wire(const struct rs_entry *e)
{
	return (const uint8_t *)(e->ord + e->nord);
}

/* A listed or protected prefix in the published table: immutable once
 * published, valid while the reader's ebr.h section lasts. */
struct rs_pentry {
	struct rs_prefix prefix;
	uint8_t flags;                  /* RS_ENT_PROTECTED */
	uint16_t nord;                  /* number of order indexes in ord[] */
	const struct rs_pentry *parent; /* the next enclosing prefix entry, or NULL */
	uint32_t ord[];                 /* order indexes */
};

struct rs_list;

enum rs_verdict { RS_PASS = 0, RS_BLOCKED, RS_PROTECTED };

struct rs_match {
	const struct rs_order *order;   /* the order that blocks */
	const struct rs_entry *entry;   /* the listed domain (the name or a parent); NULL for an address */
	int label;                      /* suffix index in the rs_qname that matched; -1 for an address */
	const struct rs_pentry *prefix; /* the listed prefix holding the address; NULL for a name */
	/* rs_list_match: the first time at which an order it passed over on its
	 * way to this one (a more specific entry's, one listed before it on the
	 * same entry: not applying now) may start to apply, INT64_MAX when none
	 * can; until then, and while the list does not change and order applies,
	 * this is the match of the name (a stored answer relies on it) */
	int64_t until;
};

/* A new, empty list sized for about expected domains; NULL when out of memory. */
struct rs_list *rs_list_new(size_t expected);
/* Free the list and everything it owns (no reader may remain). */
void rs_list_free(struct rs_list *l);
/* true: no reader exists, free retired memory at once; false: defer. */
void rs_list_set_quiescent(struct rs_list *l, bool quiescent);
/* The time floor of reclamation in ms (RS_LIST_GRACE_MS when never set or
 * <= 0). Set RS_LIST_FLOOR_MS only when every reader uses ebr.h sections. */
void rs_list_set_floor(struct rs_list *l, int64_t floor_ms);

/* ---- readers (any thread, lock-free, no allocation) ---- */

/*
 * Match a prepared query name at time now (Unix seconds). RS_PROTECTED when the
 * name or a parent is protected; else RS_BLOCKED (with *m filled) for the most
 * specific listed suffix that has an order applying now; else RS_PASS.
 */
enum rs_verdict rs_list_match(const struct rs_list *l, const struct rs_qname *q, int64_t now,
			      struct rs_match *m);

/*
 * Match an answer address (addr: 4 octets for family 4, 16 for family 6) at
 * time now. RS_PROTECTED when the address is inside any protected prefix;
 * else RS_BLOCKED (m->order, m->prefix set, m->entry NULL, m->label -1) for
 * the most specific listed prefix holding the address with an order that
 * applies at now (an enclosing prefix blocks when the orders of the inner
 * ones do not apply); else RS_PASS. Sees the last committed table.
 */
enum rs_verdict rs_list_match_addr(const struct rs_list *l, int family, const uint8_t *addr, int64_t now,
				   struct rs_match *m);
/* The same, passing over every listed prefix for which skip(pe, arg) is true
 * (called only for a prefix that would block): the enclosing prefixes are
 * looked at instead, so a prefix the collateral alarm suspended does not
 * disable a wider listed prefix holding it. skip NULL: rs_list_match_addr. */
enum rs_verdict rs_list_match_addr_skip(const struct rs_list *l, int family, const uint8_t *addr, int64_t now,
					bool (*skip)(const struct rs_pentry *pe, void *arg), void *arg,
					struct rs_match *m);

/* Does the committed table hold a prefix with at least one order (protected
 * prefixes alone do not count: they never trigger)? One atomic load and a
 * test: the fast test before looking at the addresses of an answer. */
bool rs_list_has_prefixes(const struct rs_list *l);

/* ---- writer (one thread at a time) ---- */

/* Add or replace the order with o->id; takes ownership of o. *idx receives
 * its index. 0 or RS_ENOMEM / RS_EFULL (o is then freed). */
int rs_list_order_set(struct rs_list *l, struct rs_order *o, uint32_t *idx);
/* Remove the order id (its domains stop being blocked by it). 0 or RS_ENOENT. */
int rs_list_order_remove(struct rs_list *l, const char *id);
/* Index of order id, or -1. */
int64_t rs_list_order_find(const struct rs_list *l, const char *id);
/* The order at idx, or NULL. */
const struct rs_order *rs_list_order_get(const struct rs_list *l, uint32_t idx);

/*
 * Entries served in place (the snapshot's start, snapshot.h version 7).
 *
 * rs_list_image: block (malloc'd, or mmap'd when mapped; len octets) is
 * taken over and released with the list; the entries inside it are never
 * freed one by one (a change drops them, the block stays). Until rs_list_adopt, readers look names up
 * in the image's own table: slot[cap] (cap a power of two, at least 16; 0
 * empty, else 1 + an entry's offset in arena / 4), each entry an aligned
 * struct rs_entry in host order whose order indexes are the list's, at the
 * first free slot from rs_wire_hash() as the list probes; run: the longest
 * run of used slots (the caller has checked that at least one slot is
 * empty). Nothing else of it is trusted: each lookup bounds-checks what it
 * reads. The list holds no entry
 * yet (orders may be set); its domain count is nentries until adopted. No
 * writer call but rs_list_adopt may run before it. 0, RS_EINVAL, RS_ENOMEM
 * (block not taken).
 *
 * rs_list_adopt (the writer, once it has checked the image: snapshot.c,
 * rs_snapshot_settle): the list's own table becomes slot[cap] (0 empty,
 * UINT32_MAX a tombstone, else 1 + the entry's offset / 4 in copy, or in the
 * block when copy is NULL), with these counts (domains, protected_n,
 * name_bytes); the image's table is no longer read. copy (malloc'd,
 * copy_len octets; may be NULL): the entries' new home, taken over; the
 * block goes once no reader can hold it (a mapping of a file that someone
 * truncates faults: only the first moments after a start read one). 0,
 * RS_EINVAL (no image), RS_ENOMEM (the image stays, copy is not taken).
 */
struct rs_list_image {
	const uint8_t *block, *arena;
	size_t alen;
	const uint32_t *slot;
	size_t cap;
	size_t run; /* the longest run of used slots (a lookup probes no further) */
	bool mapped;
};
struct rs_list_stats;
int rs_list_image(struct rs_list *l, uint8_t *block, size_t len, bool mapped, const uint8_t *arena, size_t alen,
		  const uint32_t *slot, size_t cap, size_t run, size_t nentries);
/* The entry a slot value v of an image's table names (1 + offset / 4), or
 * NULL when v is 0 or the entry does not lie whole inside the arena. */
const struct rs_entry *rs_list_image_entry(const struct rs_list_image *im, uint32_t v);
/* The image still served (NULL once adopted, or never one). */
const struct rs_list_image *rs_list_image_get(const struct rs_list *l);
int rs_list_adopt(struct rs_list *l, uint8_t *copy, size_t copy_len, const uint32_t *slot, size_t cap,
		  const struct rs_list_stats *counts);

/* List the wire domain under order idx. 0, RS_EEXIST (already), RS_ENOMEM, RS_EFULL. */
int rs_list_add(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx);
/* Unlist the wire domain from order idx. 0 or RS_ENOENT. */
int rs_list_del(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx);
/* Mark (on) or unmark the wire domain as protected. 0, RS_EEXIST/RS_ENOENT, RS_ENOMEM. */
int rs_list_protect(struct rs_list *l, const uint8_t *wire, size_t wlen, bool on);

/* Remove order index idx from every entry and every prefix (after
 * rs_list_order_remove, so that its domains and prefixes do not linger).
 * Walks the whole table and the prefix set. Returns the number of entries and
 * prefixes changed, or RS_ENOMEM. The prefix changes need rs_list_commit
 * (until then the removed order's slot is NULL: its prefixes block nothing). */
long rs_list_order_sweep(struct rs_list *l, uint32_t idx);

/*
 * Prefixes (writer). A change is visible to readers only after the next
 * rs_list_commit (one rebuild per batch). p must be valid (rs_prefix_valid,
 * as rs_prefix_parse makes it): else RS_EINVAL.
 */
/* List p under order idx. 0, RS_EEXIST (already), RS_ENOMEM, RS_EFULL, RS_EINVAL. */
int rs_list_prefix_add(struct rs_list *l, const struct rs_prefix *p, uint32_t idx);
/* Unlist p from order idx. 0 or RS_ENOENT (RS_EINVAL). */
int rs_list_prefix_del(struct rs_list *l, const struct rs_prefix *p, uint32_t idx);
/* Mark (on) or unmark p as protected. 0, RS_EEXIST/RS_ENOENT, RS_ENOMEM (RS_EINVAL). */
int rs_list_prefix_protect(struct rs_list *l, const struct rs_prefix *p, bool on);
/* Publish the pending prefix changes (nothing to do when none). 0, or
 * RS_ENOMEM: the previous table stays in force and the changes pending. */
int rs_list_commit(struct rs_list *l);
/* Call fn for every prefix entry of the committed table (the writer, or a
 * reader inside an ebr.h section: it walks the table it loaded once),
 * sorted by family, address, then length. Stops early when fn returns
 * non-zero, and returns that value. */
int rs_list_prefix_foreach(const struct rs_list *l, int (*fn)(const struct rs_pentry *pe, void *arg), void *arg);

/* Call fn for every entry. The writer; or a reader inside an ebr.h section
 * (the snapshot writer thread, sync.c) while the writer changes the list: it
 * then sees each slot old or new (never freed memory), walks the table it
 * loaded once (a rehash meanwhile publishes a new one: changes after it are
 * not seen), and may see a name twice or miss one that was removed and added
 * again meanwhile: the add can land in a slot the walk already passed (see
 * rs_list_walk_gen). Stops early when fn returns non-zero, and returns that
 * value. */
int rs_list_foreach(const struct rs_list *l, int (*fn)(const struct rs_entry *e, void *arg), void *arg);
/*
 * A counter the writer bumps (seq_cst) before every change readers can see
 * (an entry, an order, the image, the prefix table) and before it retires
 * anything; it starts at a random value, so two lists (a full resync's new
 * one, a reloaded module's) practically never share a value. A reader that
 * read it inside an ebr.h section, matched, and later, inside a section
 * again, reads the same value, may use the order and entry of that match:
 * nothing was retired or changed in between (a section open when it was read
 * covers everything retired after it). What depends on the time alone
 * (rs_order_applies) is not covered.
 */
uint64_t rs_list_change_gen(const struct rs_list *l);
/* A counter the writer bumps whenever an entry lands in a deleted slot (a
 * tombstone), while the list is not quiescent. A concurrent walk that sees it
 * unchanged across the walk (read before and after) missed no name listed
 * both when it started and when it ended: a name only leaves its slot by a
 * removal, and comes back only by such an insert (the slots of its probe
 * chain before its old one were all taken when it was first inserted: they
 * can be tombstones since, never empty, and its old one is a tombstone).
 * New names that land in empty slots leave it as it is. */
uint64_t rs_list_walk_gen(const struct rs_list *l);

/* Number of order indexes handed out so far (indexes are < this). */
uint32_t rs_list_order_count(const struct rs_list *l);

/* Make room for n more domains without growing step by step. 0 or RS_ENOMEM. */
int rs_list_reserve(struct rs_list *l, size_t n);

/* Free retired memory that no reader can hold any more (rs_ebr_observe())
 * and that is older than the time floor; all of it when quiescent. */
void rs_list_reclaim(struct rs_list *l);
/* The same with a bound the caller observed earlier (rs_ebr_observe()): frees
 * what was tagged below safe and is older than the floor. For callers that
 * must drain copies of list pointers between observing and freeing (above). */
void rs_list_reclaim_before(struct rs_list *l, uint64_t safe);

struct rs_list_stats {
	size_t domains;     /* entries with at least one order */
	size_t protected_n; /* protected entries */
	size_t orders;      /* orders present */
	size_t name_bytes;  /* sum of the canonical text lengths of all entries */
	size_t mem_bytes;   /* bytes allocated for the table, entries and orders */
	size_t slots;       /* table capacity */
	size_t retired;     /* allocations waiting for reclamation */
	size_t prefixes;           /* prefixes with at least one order (pending changes included) */
	size_t protected_prefixes; /* protected prefixes (pending changes included) */
	size_t prefix_bytes;       /* bytes of the prefix set and its published table (in mem_bytes too) */
};
void rs_list_stats(const struct rs_list *l, struct rs_list_stats *st);

#endif
