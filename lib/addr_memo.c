/*
 * addr_memo.c — the names an answer address blocked (addr_memo.h).
 *
 * A bucket holds RS_ADDR_MEMO_WAYS entries ("ways"). Every way is a sequence
 * lock over atomic words (the seqlock of Boehm, "Can seqlocks get along with
 * programming language memory models?", 2012: relaxed payload accesses
 * ordered by fences). The words are laid out by kind so that a lookup of a
 * name the bucket does not hold reads one word:
 *   tags:      byte w a tag of way w's hash (the filter a reader reads first;
 *              never 0 for a used way), changed with an atomic RMW
 *   hash[w]:   the name's hash
 *   expiry[w]: Unix seconds (0: empty; the writer's victim choice reads it)
 *   seq[w]:    odd while a writer holds the way
 *   e[w].w[0]: name length (bits 0-15; 0 = empty), family (bits 16-23)
 *   e[w].w[1-2]: the address (16 octets)
 *   e[w].w[3-34]: the name (256 octets; only the words of its length are written)
 * tags, hash and expiry are payload words too: written only while the way's
 * sequence is odd, read outside the lock only as hints (a reader's filter,
 * a writer's victim choice), the decision always on a validated copy.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "addr_memo.h"

#define W_META 0
#define W_ADDR 1
#define W_NAME 3
#define NAME_WORDS 32 /* 256 octets >= RS_WIRE_MAX */
#define ENTRY_WORDS (W_NAME + NAME_WORDS)
#define NAME_MAX_LEN 255
#define WAYS RS_ADDR_MEMO_WAYS

struct entry {
	_Atomic uint64_t w[ENTRY_WORDS];
};

struct bucket {
	_Atomic uint64_t tags; /* byte w: tag_of(hash) of way w, 0 while empty */
	_Atomic uint64_t hash[WAYS];
	_Atomic uint64_t expiry[WAYS];
	_Atomic uint64_t seq[WAYS];
	struct entry e[WAYS];
};

struct rs_addr_memo {
	size_t mask; /* buckets - 1 */
	uint64_t seed; /* random: which names share a bucket is not known outside */
	struct bucket b[];
};

/* The buckets of a memo of at least slots entries. */
static size_t buckets_for(size_t slots)
{
	size_t n = 1;

	while (n * WAYS < slots && n < ((size_t)1 << 27))
		n <<= 1;
	return n;
}

size_t rs_addr_memo_slots_for(size_t slots)
{
	return buckets_for(slots) * WAYS;
}

struct rs_addr_memo *rs_addr_memo_new(size_t slots)
{
	struct rs_addr_memo *mm;
	size_t n = buckets_for(slots);

	/* calloc: all-zero is a valid atomic state (empty ways, sequence 0);
	 * the pages are touched only as buckets are used */
	mm = calloc(1, sizeof(*mm) + n * sizeof(struct bucket));
	if (!mm)
		return NULL;
	mm->mask = n - 1;
	if (getrandom(&mm->seed, sizeof(mm->seed), GRND_NONBLOCK) != (ssize_t)sizeof(mm->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts); /* no entropy yet: better than a constant */
		mm->seed = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)mm;
	}
	return mm;
}

void rs_addr_memo_free(struct rs_addr_memo *mm)
{
	free(mm);
}

size_t rs_addr_memo_mem(const struct rs_addr_memo *mm)
{
	return mm ? sizeof(*mm) + (mm->mask + 1) * sizeof(struct bucket) : 0;
}

size_t rs_addr_memo_slots(const struct rs_addr_memo *mm)
{
	return mm ? (mm->mask + 1) * WAYS : 0;
}

/*
 * The bucket of hash (a reader only loads from it: the const goes for the
 * atomics' sake). The name's hash is public (rs_wire_hash has no key): mixed
 * with the memo's random seed, a client cannot pick names that fill the
 * bucket of a name it wants pushed out, only flood the whole table.
 */
static struct bucket *bucket_of(const struct rs_addr_memo *mm, uint64_t hash)
{
	uint64_t h = hash ^ mm->seed;

	h ^= h >> 33; /* MurmurHash3's finaliser, as in name.c */
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (struct bucket *)&mm->b[h & mm->mask];
}

/*
 * Does way w of b hold the name (any expiry)? A seqlock read: true with
 * *expiry, *meta and a[2] copied from one write; false also when a writer
 * holds or changed the way meanwhile.
 */
static bool way_holds(struct bucket *b, int w, const uint8_t *wire, size_t len, uint64_t hash, uint64_t *expiry,
		      uint64_t *meta, uint64_t a[2])
{
	uint64_t name[NAME_WORDS], seq;
	size_t nwords = (len + 7) / 8;

	seq = atomic_load_explicit(&b->seq[w], memory_order_acquire);
	if (seq & 1)
		return false;
	if (atomic_load_explicit(&b->hash[w], memory_order_relaxed) != hash)
		return false;
	*meta = atomic_load_explicit(&b->e[w].w[W_META], memory_order_relaxed);
	if ((*meta & 0xffff) != len)
		return false;
	*expiry = atomic_load_explicit(&b->expiry[w], memory_order_relaxed);
	for (size_t i = 0; i < nwords; i++)
		name[i] = atomic_load_explicit(&b->e[w].w[W_NAME + i], memory_order_relaxed);
	a[0] = atomic_load_explicit(&b->e[w].w[W_ADDR], memory_order_relaxed);
	a[1] = atomic_load_explicit(&b->e[w].w[W_ADDR + 1], memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire); /* the payload loads before the second sequence load */
	if (atomic_load_explicit(&b->seq[w], memory_order_relaxed) != seq)
		return false; /* a writer changed the way meanwhile */
	return memcmp(name, wire, len) == 0;
}

#define BYTES_1 0x0101010101010101ULL
#define BYTES_80 0x8080808080808080ULL

/* The tag of a hash in the bucket's tags word: its top 7 bits (the bucket
 * index comes from the seeded mix of all 64), the high bit set: never 0. */
static uint64_t tag_of(uint64_t hash)
{
	return (hash >> 56) | 0x80;
}

/* Bit 8w+7 set for (at least) every way w whose tag is t (SWAR "has zero
 * byte": a set bit above a real match may be false; callers check). */
static uint64_t tag_matches(uint64_t tags, uint64_t t)
{
	uint64_t x = tags ^ (t * BYTES_1);

	return (x - BYTES_1) & ~x & BYTES_80;
}

void rs_addr_memo_put(struct rs_addr_memo *mm, const uint8_t *wire, size_t len, uint64_t hash, int family,
		      const uint8_t *addr, int64_t expiry)
{
	uint64_t buf[ENTRY_WORDS] = { 0 }, e, meta, a[2], low = UINT64_MAX;
	size_t alen = family == 4 ? 4 : family == 6 ? 16 : 0;
	size_t nwords = W_NAME + (len + 7) / 8;
	struct bucket *b;
	uint64_t seq;
	int v = 0;

	if (!mm || !wire || !addr || !alen || len == 0 || len > NAME_MAX_LEN)
		return;
	buf[W_META] = (uint64_t)len | (uint64_t)family << 16;
	memcpy(&buf[W_ADDR], addr, alen);
	memcpy(&buf[W_NAME], wire, len);
	b = bucket_of(mm, hash);
	/* the victim: the way holding the name already, else the way that
	 * expires first (an empty way has expiry 0, an expired one is older
	 * than any live one). The reads are hints: another writer may take
	 * the way meanwhile, and the CAS below then drops this put (a lost
	 * insert costs one upstream query; a torn entry is never published). */
	for (int w = 0; w < WAYS; w++) {
		if (atomic_load_explicit(&b->hash[w], memory_order_relaxed) == hash &&
		    way_holds(b, w, wire, len, hash, &e, &meta, a)) {
			v = w;
			break;
		}
		e = atomic_load_explicit(&b->expiry[w], memory_order_relaxed);
		if (e < low) {
			low = e;
			v = w;
		}
	}
	seq = atomic_load_explicit(&b->seq[v], memory_order_relaxed);
	/* acquire on success, as a seqlock writer: the previous writer's
	 * stores (published by its release) come before ours */
	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&b->seq[v], &seq, seq + 1, memory_order_acquire,
								  memory_order_relaxed))
		return; /* another writer holds the way */
	atomic_thread_fence(memory_order_release); /* the odd sequence before any payload word */
	{
		uint64_t old = atomic_load_explicit(&b->tags, memory_order_relaxed), nw;
		do /* other writers change other ways' bytes */
			nw = (old & ~((uint64_t)0xff << 8 * v)) | tag_of(hash) << 8 * v;
		while (!atomic_compare_exchange_weak_explicit(&b->tags, &old, nw, memory_order_relaxed,
							      memory_order_relaxed));
	}
	atomic_store_explicit(&b->hash[v], hash, memory_order_relaxed);
	atomic_store_explicit(&b->expiry[v], (uint64_t)expiry, memory_order_relaxed);
	for (size_t i = 0; i < nwords; i++)
		atomic_store_explicit(&b->e[v].w[i], buf[i], memory_order_relaxed);
	atomic_store_explicit(&b->seq[v], seq + 2, memory_order_release);
}

bool rs_addr_memo_get(const struct rs_addr_memo *mm, const uint8_t *wire, size_t len, uint64_t hash, int64_t now,
		      int *family, uint8_t addr[16])
{
	uint64_t a[2], meta, expiry, m;
	struct bucket *b;

	if (!mm || !wire || len == 0 || len > NAME_MAX_LEN)
		return false;
	b = bucket_of(mm, hash);
	/* the common case, a name the bucket does not hold: one load, and
	 * about one in 16 misses checks one way's hash */
	m = tag_matches(atomic_load_explicit(&b->tags, memory_order_relaxed), tag_of(hash));
	for (; m; m &= m - 1) {
		int w = __builtin_ctzll(m) / 8;
		if (atomic_load_explicit(&b->hash[w], memory_order_relaxed) != hash)
			continue;
		/* an expired copy of the name may sit before a live one (two
		 * writers raced): look on */
		if (!way_holds(b, w, wire, len, hash, &expiry, &meta, a) || (int64_t)expiry <= now)
			continue;
		*family = (int)(meta >> 16 & 0xff);
		memcpy(addr, a, 16);
		return true;
	}
	return false;
}
