/*
 * ebr.h — epoch-based reclamation: memory that readers may still hold is
 * freed only once every reader that could hold it has left.
 *
 * Readers (Unbound's worker threads, any number) bracket every use of shared,
 * replaceable memory (the list, its tables, entries and orders) with
 * rs_ebr_enter()/rs_ebr_leave(). Sections nest: the thread stays "inside" with
 * the epoch of its outermost enter until the matching last leave, so a
 * section can be extended past the call that opened it (the module keeps one
 * open for as long as a query's blocked marker holds list pointers, see
 * redsink.c). Enter and leave take no lock, make no syscall and allocate
 * nothing after the thread's first call.
 *
 * The writer (one thread per list, usually the sync thread) retires memory it
 * has unpublished with the tag rs_ebr_tag() returns, and later asks
 * rs_ebr_observe() for a bound: everything tagged strictly below it can no
 * longer be reached by any reader and may be freed.
 *
 * Invariants and ordering:
 *  - The global epoch starts at 1 and only grows; a reader slot holds 0
 *    (outside) or the epoch it read when it entered (inside).
 *  - enter: load the global epoch, store it in the thread's slot, full fence,
 *    and only then load shared pointers. observe: bump the global epoch, full
 *    fence, read every slot. Because both sides fence (seq_cst), a reader the
 *    observer saw as outside loads the pointers published before the observer's
 *    fence, never memory unpublished before it.
 *  - Memory unpublished and tagged T is safe once every slot is 0 or > T:
 *    rs_ebr_observe() returns min(global epoch after the bump, every non-zero
 *    slot), and tags below that bound are safe.
 *  - Slots: RS_EBR_SLOTS, claimed with a CAS on a thread's first enter and
 *    released (epoch 0, unused) by a thread-specific-data destructor when the
 *    thread exits, so Unbound re-creating its workers on every reload reuses
 *    them. A thread that finds no free slot is counted in a shared overflow
 *    counter instead; while that counter is non-zero nothing is safe (slow but
 *    never wrong).
 *  - The state is process-wide (static): the module library is pinned in
 *    memory (redsink.c), so it survives reloads together with the threads'
 *    slots.
 */
#ifndef RS_EBR_H
#define RS_EBR_H

#include <stdbool.h>
#include <stdint.h>

#define RS_EBR_SLOTS 256

/* ---- readers (any thread) ---- */

/* Enter a read-side section (nests). */
void rs_ebr_enter(void);
/* Leave the innermost section; the thread is outside after the outermost.
 * An unbalanced leave (depth already 0) is ignored. */
void rs_ebr_leave(void);
/* Nesting depth of the calling thread (0 = outside); for tests and asserts. */
unsigned rs_ebr_depth(void);

/* ---- the writer ---- */

/* The tag for memory the caller has just unpublished (no reader can find it
 * any more from now on, only those already inside may still hold it). */
uint64_t rs_ebr_tag(void);
/* Observe the readers: memory tagged strictly below the returned bound may be
 * freed. Costs one atomic increment and one pass over the used slots. */
uint64_t rs_ebr_observe(void);
/* rs_ebr_observe() and a test of one tag. */
bool rs_ebr_safe(uint64_t tag);

/* Slots in use (registered threads), for tests and diagnostics. */
unsigned rs_ebr_registered(void);

#endif
