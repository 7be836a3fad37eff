/*
 * test_addr_memo.c — the memo of names blocked by an answer address
 * (lib/addr_memo.[ch]): a name is found with its address until its expiry,
 * never another name (a full key compare, even on a hash collision), a bucket
 * keeps RS_ADDR_MEMO_WAYS names and pushes out the entry that expires first,
 * invalid input is ignored, and a stress run of threads
 * putting and getting on a small table never returns a torn entry (meant to
 * run under ASan and TSan too).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "addr_memo.h"
#include "name.h"

/* The lowercase wire form and hash of a text name, as the module prepares it. */
struct nm {
	uint8_t wire[RS_WIRE_MAX];
	size_t len;
	uint64_t hash;
};

static struct nm name_of(const char *text)
{
	char canon[RS_NAME_MAX + 1];
	struct nm n;
	int l = rs_name_canon(text, strlen(text), canon);

	assert_true(l > 0);
	n.len = (size_t)rs_name_to_wire(canon, (size_t)l, n.wire);
	n.hash = rs_wire_hash(n.wire, n.len);
	return n;
}

static const uint8_t A4[4] = { 203, 0, 113, 66 };
static const uint8_t A6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66 };

static void test_found_until_expiry(void **state)
{
	struct rs_addr_memo *mm = rs_addr_memo_new(64);
	struct nm a = name_of("mirror1.example"), b = name_of("mirror2.example");
	uint8_t got[16];
	int fam = 0;

	(void)state;
	assert_non_null(mm);
	assert_false(rs_addr_memo_get(mm, a.wire, a.len, a.hash, 100, &fam, got));
	rs_addr_memo_put(mm, a.wire, a.len, a.hash, 4, A4, 160);
	rs_addr_memo_put(mm, b.wire, b.len, b.hash, 6, A6, 200);
	assert_true(rs_addr_memo_get(mm, a.wire, a.len, a.hash, 100, &fam, got));
	assert_int_equal(fam, 4);
	assert_memory_equal(got, A4, 4);
	assert_true(rs_addr_memo_get(mm, a.wire, a.len, a.hash, 159, &fam, got));
	assert_false(rs_addr_memo_get(mm, a.wire, a.len, a.hash, 160, &fam, got)); /* expiry is exclusive */
	assert_true(rs_addr_memo_get(mm, b.wire, b.len, b.hash, 160, &fam, got));
	assert_int_equal(fam, 6);
	assert_memory_equal(got, A6, 16);
	/* a newer put for the same name replaces the address and the expiry */
	rs_addr_memo_put(mm, a.wire, a.len, a.hash, 6, A6, 400);
	assert_true(rs_addr_memo_get(mm, a.wire, a.len, a.hash, 300, &fam, got));
	assert_int_equal(fam, 6);
	assert_memory_equal(got, A6, 16);
	assert_true(rs_addr_memo_mem(mm) >= 64 * 296);
	rs_addr_memo_free(mm);
}

/* One bucket: every name shares it. RS_ADDR_MEMO_WAYS names are all kept
 * (the direct-mapped table of the first version kept only the last one), a
 * name is never taken for another one with its hash, and a put for a name
 * already held replaces its entry instead of taking another one. */
static void test_bucket_holds_its_ways_never_confuses(void **state)
{
	struct rs_addr_memo *mm = rs_addr_memo_new(1);
	struct nm n[RS_ADDR_MEMO_WAYS], c = name_of("N0.example"), x = name_of("extra.example");
	uint8_t got[16], a[4] = { 192, 0, 2, 0 };
	char text[32];
	int fam;

	(void)state;
	assert_int_equal(rs_addr_memo_slots(mm), RS_ADDR_MEMO_WAYS);
	for (int i = 0; i < RS_ADDR_MEMO_WAYS; i++) {
		snprintf(text, sizeof(text), "n%d.example", i);
		n[i] = name_of(text);
		a[3] = (uint8_t)i;
		rs_addr_memo_put(mm, n[i].wire, n[i].len, n[i].hash, 4, a, 1000);
	}
	for (int i = 0; i < RS_ADDR_MEMO_WAYS; i++) {
		assert_true(rs_addr_memo_get(mm, n[i].wire, n[i].len, n[i].hash, 1, &fam, got));
		assert_int_equal(got[3], i);
	}
	assert_true(rs_addr_memo_get(mm, c.wire, c.len, c.hash, 1, &fam, got)); /* canonical: case folded */
	/* a put for a held name replaces it: all others stay */
	rs_addr_memo_put(mm, n[3].wire, n[3].len, n[3].hash, 6, A6, 2000);
	for (int i = 0; i < RS_ADDR_MEMO_WAYS; i++)
		assert_true(rs_addr_memo_get(mm, n[i].wire, n[i].len, n[i].hash, 1, &fam, got));
	assert_true(rs_addr_memo_get(mm, n[3].wire, n[3].len, n[3].hash, 1500, &fam, got));
	assert_int_equal(fam, 6);
	assert_memory_equal(got, A6, 16);
	/* same hash and length, other octets: no */
	assert_false(rs_addr_memo_get(mm, n[1].wire, n[1].len, n[2].hash, 1, &fam, got));
	/* same hash, other length: no */
	assert_false(rs_addr_memo_get(mm, n[1].wire, n[1].len - 1, n[1].hash, 1, &fam, got));
	/* the bucket is full: a new name pushes out the entry that expires first */
	rs_addr_memo_put(mm, n[5].wire, n[5].len, n[5].hash, 4, A4, 500);
	rs_addr_memo_put(mm, x.wire, x.len, x.hash, 4, A4, 3000);
	assert_true(rs_addr_memo_get(mm, x.wire, x.len, x.hash, 1, &fam, got));
	assert_false(rs_addr_memo_get(mm, n[5].wire, n[5].len, n[5].hash, 1, &fam, got));
	for (int i = 0; i < RS_ADDR_MEMO_WAYS; i++)
		if (i != 5)
			assert_true(rs_addr_memo_get(mm, n[i].wire, n[i].len, n[i].hash, 1, &fam, got));
	rs_addr_memo_free(mm);
}

/* An expired entry goes before any live one, whatever its place. */
static void test_expired_entry_is_replaced_first(void **state)
{
	struct rs_addr_memo *mm = rs_addr_memo_new(RS_ADDR_MEMO_WAYS);
	struct nm n[RS_ADDR_MEMO_WAYS + 1];
	uint8_t got[16];
	char text[32];
	int fam;

	(void)state;
	for (int i = 0; i <= RS_ADDR_MEMO_WAYS; i++) {
		snprintf(text, sizeof(text), "e%d.example", i);
		n[i] = name_of(text);
	}
	/* all live at 100 but e6 (expired at 50) */
	for (int i = 0; i < RS_ADDR_MEMO_WAYS; i++)
		rs_addr_memo_put(mm, n[i].wire, n[i].len, n[i].hash, 4, A4, i == 6 ? 50 : 200 + i);
	rs_addr_memo_put(mm, n[8].wire, n[8].len, n[8].hash, 4, A4, 150);
	for (int i = 0; i <= RS_ADDR_MEMO_WAYS; i++)
		assert_int_equal(rs_addr_memo_get(mm, n[i].wire, n[i].len, n[i].hash, 100, &fam, got), i != 6);
	rs_addr_memo_free(mm);
}

/* The reviewer's case (issue 13 review): mirror7.example and mirror101.example
 * shared a slot of the 4,096-slot direct-mapped table and pushed each other
 * out; of 1,000 names on one address 120 were lost so. Now the buckets are
 * chosen with a random seed: which names share one differs from run to run,
 * so the bounds below hold with a margin whatever the seed. */
static void test_many_names_are_kept(void **state)
{
	static struct nm n[1000];
	uint8_t got[16];
	char text[32];
	int fam;

	(void)state;
	for (size_t i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "mirror%zu.example", i + 1);
		n[i] = name_of(text);
	}
	for (size_t k = 0; k < 2; k++) {
		/* the module's table for a 4m msg-cache-size (8,192 entries): 1,000
		 * names are all kept (some name lost: p < 1e-3; three: p < 1e-9);
		 * then a full table (1,024 entries for 1,000 names): about 875 kept,
		 * where a direct-mapped one keeps about 640 */
		size_t size = k == 0 ? 8192 : 1024, kept = 0;
		struct rs_addr_memo *mm = rs_addr_memo_new(size);
		assert_int_equal(rs_addr_memo_slots(mm), size);
		for (size_t i = 0; i < 1000; i++)
			rs_addr_memo_put(mm, n[i].wire, n[i].len, n[i].hash, 4, A4, 1000);
		for (size_t i = 0; i < 1000; i++)
			kept += rs_addr_memo_get(mm, n[i].wire, n[i].len, n[i].hash, 1, &fam, got);
		assert_true(kept >= (k == 0 ? 998 : 800));
		if (k == 0) {
			/* the pair of the review, put again in turn: both stay */
			rs_addr_memo_put(mm, n[6].wire, n[6].len, n[6].hash, 4, A4, 1000);
			rs_addr_memo_put(mm, n[100].wire, n[100].len, n[100].hash, 4, A4, 1000);
			assert_true(rs_addr_memo_get(mm, n[6].wire, n[6].len, n[6].hash, 1, &fam, got));
			assert_true(rs_addr_memo_get(mm, n[100].wire, n[100].len, n[100].hash, 1, &fam, got));
		}
		rs_addr_memo_free(mm);
	}
	assert_int_equal(rs_addr_memo_slots_for(1), RS_ADDR_MEMO_WAYS);
	assert_int_equal(rs_addr_memo_slots_for(RS_ADDR_MEMO_SLOTS + 1), 2 * RS_ADDR_MEMO_SLOTS);
}

static void test_longest_name_and_invalid_input(void **state)
{
	struct rs_addr_memo *mm = rs_addr_memo_new(16);
	uint8_t wire[RS_WIRE_MAX + 1], got[16];
	size_t len = 0;
	int fam;

	(void)state;
	/* 255 octets: 3 labels of 63, one of 61, the root */
	for (int l = 0; l < 4; l++) {
		int n = l < 3 ? 63 : 61;
		wire[len++] = (uint8_t)n;
		memset(wire + len, 'a' + l, (size_t)n);
		len += (size_t)n;
	}
	wire[len++] = 0;
	assert_int_equal(len, 255);
	rs_addr_memo_put(mm, wire, len, 7, 4, A4, 10);
	assert_true(rs_addr_memo_get(mm, wire, len, 7, 0, &fam, got));
	wire[len] = 0;
	rs_addr_memo_put(mm, wire, len + 1, 8, 4, A4, 10); /* too long */
	assert_false(rs_addr_memo_get(mm, wire, len + 1, 8, 0, &fam, got));
	rs_addr_memo_put(mm, wire, 0, 9, 4, A4, 10); /* empty */
	assert_false(rs_addr_memo_get(mm, wire, 0, 9, 0, &fam, got));
	rs_addr_memo_put(mm, wire, 1, 10, 5, A4, 10); /* family */
	assert_false(rs_addr_memo_get(mm, wire, 1, 10, 0, &fam, got));
	rs_addr_memo_put(NULL, wire, 1, 10, 4, A4, 10);
	assert_false(rs_addr_memo_get(NULL, wire, 1, 10, 0, &fam, got));
	assert_int_equal(rs_addr_memo_mem(NULL), 0);
	rs_addr_memo_free(NULL);
	rs_addr_memo_free(mm);
}

/* ---- threads: writers and readers on one bucket of 8 entries ---- */

#define NNAMES 64
#define ROUNDS 200000

static struct nm names[NNAMES];
static struct rs_addr_memo *shared;
static atomic_long hits, torn;

/* Every name has its own address (its index in every octet) and expiry
 * (1000 + index): a get that mixes two writes shows. */
static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int r = 0; r < ROUNDS; r++) {
		int i;
		uint8_t a[16], got[16];
		int fam;
		seed = seed * 1103515245u + 12345u;
		i = (int)(seed >> 16) % NNAMES;
		if ((seed >> 8) & 1) {
			memset(a, i, sizeof(a));
			rs_addr_memo_put(shared, names[i].wire, names[i].len, names[i].hash, i & 1 ? 6 : 4, a,
					 1000 + i);
		} else if (rs_addr_memo_get(shared, names[i].wire, names[i].len, names[i].hash, 1000 + i - 1, &fam,
					    got)) {
			uint8_t want[16];
			memset(want, i, sizeof(want));
			atomic_fetch_add(&hits, 1);
			if (fam != (i & 1 ? 6 : 4) || memcmp(got, want, i & 1 ? 16 : 4) != 0)
				atomic_fetch_add(&torn, 1);
			/* one second later the entry has expired: never found */
			if (rs_addr_memo_get(shared, names[i].wire, names[i].len, names[i].hash, 1000 + i, &fam, got))
				atomic_fetch_add(&torn, 1);
		}
	}
	return NULL;
}

static void test_threads_never_see_a_torn_entry(void **state)
{
	pthread_t t[4];
	char text[64];

	(void)state;
	for (int i = 0; i < NNAMES; i++) {
		snprintf(text, sizeof(text), "n%d.%s.example", i, i % 3 ? "long-enough-to-span-words" : "x");
		names[i] = name_of(text);
	}
	shared = rs_addr_memo_new(8);
	assert_non_null(shared);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
	for (size_t i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&hits) > 0);
	assert_int_equal(atomic_load(&torn), 0);
	rs_addr_memo_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_until_expiry),
		cmocka_unit_test(test_bucket_holds_its_ways_never_confuses),
		cmocka_unit_test(test_expired_entry_is_replaced_first),
		cmocka_unit_test(test_many_names_are_kept),
		cmocka_unit_test(test_longest_name_and_invalid_input),
		cmocka_unit_test(test_threads_never_see_a_torn_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
