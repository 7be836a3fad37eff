/*
 * ebr.c — epoch-based reclamation (see ebr.h for the contract and the
 * ordering argument). Pure C11 atomics and pthreads; no Unbound.
 */
#include "ebr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct slot {
	_Atomic uint64_t epoch; /* 0: outside; else the epoch read at the outermost enter */
	atomic_int used;        /* claimed by a live thread */
	char pad[64 - sizeof(uint64_t) - sizeof(int)]; /* one cache line per reader */
};

static struct {
	_Atomic uint64_t epoch;  /* starts at 1 (0 means "outside" in a slot) */
	_Atomic long overflow;   /* readers inside that have no slot */
	atomic_uint hwm;         /* slots [0, hwm) were ever claimed */
	struct slot slot[RS_EBR_SLOTS];
} g = { .epoch = 1 };

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static bool key_ok;

static __thread struct slot *my_slot;
static __thread unsigned my_depth;
static __thread bool my_overflow; /* the current outermost section is in g.overflow */
static __thread bool my_tried;    /* registration attempted (do not retry on every enter) */

/* Thread exit: give the slot back (outside first, then free). */
static void release_slot(void *p)
{
	struct slot *s = p;

	atomic_store_explicit(&s->epoch, 0, memory_order_release);
	atomic_store_explicit(&s->used, 0, memory_order_release);
	my_slot = NULL;
	my_depth = 0;
	my_tried = false;
}

static void make_key(void)
{
	key_ok = pthread_key_create(&key, release_slot) == 0;
}

static void register_thread(void)
{
	my_tried = true;
	pthread_once(&key_once, make_key);
	for (unsigned i = 0; i < RS_EBR_SLOTS; i++) {
		int free_ = 0;
		unsigned h;
		if (atomic_load_explicit(&g.slot[i].used, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&g.slot[i].used, &free_, 1))
			continue;
		h = atomic_load(&g.hwm);
		while (h < i + 1 && !atomic_compare_exchange_weak(&g.hwm, &h, i + 1))
			;
		if (key_ok && pthread_setspecific(key, &g.slot[i]) != 0) {
			/* no destructor would free it: do not leak it, use the overflow path */
			atomic_store(&g.slot[i].used, 0);
			return;
		}
		my_slot = &g.slot[i];
		return;
	}
}

void rs_ebr_enter(void)
{
	if (my_depth++ > 0)
		return; /* nested: keep the older epoch */
	if (!my_slot && !my_tried)
		register_thread();
	if (my_slot) {
		atomic_store(&my_slot->epoch, atomic_load(&g.epoch));
	} else {
		atomic_fetch_add(&g.overflow, 1);
		my_overflow = true;
	}
	atomic_thread_fence(memory_order_seq_cst); /* before any shared pointer is loaded */
}

void rs_ebr_leave(void)
{
	if (my_depth == 0 || --my_depth > 0)
		return;
	if (my_overflow) {
		my_overflow = false;
		atomic_fetch_sub_explicit(&g.overflow, 1, memory_order_release);
	} else if (my_slot) {
		atomic_store_explicit(&my_slot->epoch, 0, memory_order_release);
	}
}

unsigned rs_ebr_depth(void)
{
	return my_depth;
}

uint64_t rs_ebr_tag(void)
{
	return atomic_load(&g.epoch);
}

uint64_t rs_ebr_observe(void)
{
	uint64_t min = atomic_fetch_add(&g.epoch, 1) + 1;
	unsigned n;

	atomic_thread_fence(memory_order_seq_cst); /* after the caller's unpublishing stores */
	if (atomic_load(&g.overflow) > 0)
		return 0;
	n = atomic_load(&g.hwm);
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = atomic_load_explicit(&g.slot[i].epoch, memory_order_acquire);
		if (e && e < min)
			min = e;
	}
	return min;
}

bool rs_ebr_safe(uint64_t tag)
{
	return tag < rs_ebr_observe();
}

unsigned rs_ebr_registered(void)
{
	unsigned n = 0, hwm = atomic_load(&g.hwm);

	for (unsigned i = 0; i < hwm; i++)
		n += atomic_load_explicit(&g.slot[i].used, memory_order_relaxed) != 0;
	return n;
}
