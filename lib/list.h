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
 */
#ifndef RS_LIST_H
#define RS_LIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "order.h"

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

struct rs_list;

enum rs_verdict { RS_PASS = 0, RS_BLOCKED, RS_PROTECTED };

struct rs_match {
	const struct rs_order *order;  /* the order that blocks */
	const struct rs_entry *entry;  /* the listed domain (the name or a parent) */
	int label;                     /* suffix index in the rs_qname that matched */
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

/* List the wire domain under order idx. 0, RS_EEXIST (already), RS_ENOMEM, RS_EFULL. */
int rs_list_add(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx);
/* Unlist the wire domain from order idx. 0 or RS_ENOENT. */
int rs_list_del(struct rs_list *l, const uint8_t *wire, size_t wlen, uint32_t idx);
/* Mark (on) or unmark the wire domain as protected. 0, RS_EEXIST/RS_ENOENT, RS_ENOMEM. */
int rs_list_protect(struct rs_list *l, const uint8_t *wire, size_t wlen, bool on);

/* Remove order index idx from every entry (after rs_list_order_remove, so
 * that its domains do not linger). Walks the whole table. Returns the number
 * of entries changed, or RS_ENOMEM. */
long rs_list_order_sweep(struct rs_list *l, uint32_t idx);

/* Call fn for every entry (writer thread; the list must not change meanwhile).
 * Stops early when fn returns non-zero, and returns that value. */
int rs_list_foreach(const struct rs_list *l, int (*fn)(const struct rs_entry *e, void *arg), void *arg);

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
};
void rs_list_stats(const struct rs_list *l, struct rs_list_stats *st);

#endif
