/*
 * addr_memo.h — the names an answer address blocked, remembered for the
 * first visit of the next query for them (issue 13).
 *
 * When the module blocks an answer because one of its A/AAAA addresses is in
 * a listed prefix, it removes the name's cached messages but the next query
 * for the name must not go upstream again: the module remembers here the
 * name (and every name of the CNAME chain that led to the address) with the
 * address that blocked it, until the answer's TTL runs out. At the first
 * visit of a query the name is looked up here, and the remembered address is
 * matched again against the list in force (so a withdrawal, a protection, a
 * suspension or a closed window counts at once: the memo decides nothing by
 * itself, it only says which address to look at).
 *
 * Structure: a fixed table of 2^k buckets of RS_ADDR_MEMO_WAYS entries
 * (set-associative by the name's hash), each entry one lowercase wire name,
 * one address and an expiry. A put replaces the entry of the same name, else
 * the bucket's entry that expires first (an empty or expired one before any
 * live one). So a live name is pushed out only when more than
 * RS_ADDR_MEMO_WAYS live names share its bucket (the table is about full, or
 * a flood of blocked names): it then costs one upstream query, whose answer
 * is blocked and remembered again. Keys are compared in full: a hash
 * collision never blocks another name.
 *
 * Threads: any number of readers and writers, lock-free, no allocation after
 * rs_addr_memo_new. Every entry is a sequence lock over atomic words: a
 * writer picks its victim from hints (relaxed loads), takes it by moving its
 * sequence from even to odd with an acquiring CAS (a put that meets another
 * writer on the same entry is dropped: it is a cache, a lost insert is
 * allowed, a torn entry never), writes, and publishes the next even value
 * with release; a reader reads the bucket's word of tags (a byte of each
 * entry's hash) and copies the words of a matching entry, keeping the copy only when the sequence was even and
 * unchanged around it.
 * The memo holds no pointer into the list or into Unbound's caches: nothing
 * in it needs reclamation (ebr.h), and it may outlive a list or a module
 * generation. rs_addr_memo_free only when no thread uses it any more.
 */
#ifndef RS_ADDR_MEMO_H
#define RS_ADDR_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_ADDR_MEMO_WAYS 8 /* entries per bucket */
#define RS_ADDR_MEMO_SLOTS 4096 /* the module's smallest table: about 1.2 MB, touched as used */
#define RS_ADDR_MEMO_SLOTS_MAX 262144 /* the module's largest table: about 80 MB */

struct rs_addr_memo;

/* A memo of at least `slots` entries (rounded up to a power of two of
 * buckets, at least one bucket); NULL when out of memory. */
struct rs_addr_memo *rs_addr_memo_new(size_t slots);
void rs_addr_memo_free(struct rs_addr_memo *mm);

/*
 * Remember that the name wire[0..len) (lowercase wire form, root label
 * included, 1..255 octets; hash: any hash of it, the same for put and get,
 * e.g. rs_qname.hash[0]) was blocked by the address addr (4 octets for
 * family 4, 16 for family 6) until expiry (Unix seconds, exclusive).
 * Replaces the name's entry, else the bucket's entry that expires first.
 * Ignored: a NULL memo, an invalid length or family, an entry another
 * writer holds at that instant.
 */
void rs_addr_memo_put(struct rs_addr_memo *mm, const uint8_t *wire, size_t len, uint64_t hash, int family,
		      const uint8_t *addr, int64_t expiry);

/*
 * Is the name remembered at now (now < expiry)? true with *family and addr
 * (16 octets; the first 4 for family 4) filled. false also for a NULL memo
 * and when a writer is changing the name's entry at that instant.
 */
bool rs_addr_memo_get(const struct rs_addr_memo *mm, const uint8_t *wire, size_t len, uint64_t hash, int64_t now,
		      int *family, uint8_t addr[16]);

/* Memory held by the memo (octets); its number of entries (0 for NULL). */
size_t rs_addr_memo_mem(const struct rs_addr_memo *mm);
size_t rs_addr_memo_slots(const struct rs_addr_memo *mm);
/* The number of entries rs_addr_memo_new(slots) makes. */
size_t rs_addr_memo_slots_for(size_t slots);

#endif
