/*
 * test_ebr.c — epoch-based reclamation (lib/ebr.[ch]) and the list's use
 * of it: a reader inside a section keeps what it may hold from being freed,
 * leaving lets it go, nested sections keep the older epoch, threads that come
 * and go reuse their slots, a thread without a slot makes everything wait,
 * and a stress run of readers (some of them stopping mid-lookup for longer
 * than the time floor) against a writer that rehashes and reclaims all the
 * time (meant to run under ASan too: a use-after-free is a report there).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "ebr.h"
#include "list.h"
#include "load.h"
#include "rs_err.h"

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

/* ---- a reader thread driven step by step ---- */

enum { R_IDLE, R_ENTER, R_INSIDE, R_LEAVE, R_OUTSIDE, R_EXIT };

struct stepper {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, state;
	pthread_t th;
};

static void *stepper_main(void *arg)
{
	struct stepper *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->want == s->state)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->want == R_EXIT)
			break;
		if (s->want == R_ENTER) {
			rs_ebr_enter();
			s->state = R_ENTER;
		} else if (s->want == R_LEAVE) {
			rs_ebr_leave();
			s->state = R_LEAVE;
		}
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void step(struct stepper *s, int want)
{
	pthread_mutex_lock(&s->mu);
	s->want = want;
	pthread_cond_broadcast(&s->cv);
	while (want != R_EXIT && s->state != want)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void stepper_start(struct stepper *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	assert_int_equal(pthread_create(&s->th, NULL, stepper_main, s), 0);
}

static void stepper_stop(struct stepper *s)
{
	step(s, R_EXIT);
	pthread_join(s->th, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

static void test_reader_blocks_until_it_leaves(void **state)
{
	struct stepper r;
	uint64_t tag;

	stepper_start(&r);
	step(&r, R_ENTER);
	tag = rs_ebr_tag(); /* something unpublished while the reader is inside */
	assert_false(rs_ebr_safe(tag));
	assert_false(rs_ebr_safe(tag)); /* observing again changes nothing */
	step(&r, R_LEAVE);
	assert_true(rs_ebr_safe(tag));
	stepper_stop(&r);
}

static void test_later_readers_do_not_block(void **state)
{
	struct stepper r;
	uint64_t tag = rs_ebr_tag();

	(void)rs_ebr_observe(); /* the writer's pass after unpublishing */
	stepper_start(&r);
	step(&r, R_ENTER); /* enters after: cannot hold what was tagged */
	assert_true(rs_ebr_safe(tag));
	assert_false(rs_ebr_safe(rs_ebr_tag())); /* but what is unpublished now waits */
	step(&r, R_LEAVE);
	stepper_stop(&r);
}

static void test_nested_sections_keep_the_older_epoch(void **state)
{
	uint64_t t1, t2;

	rs_ebr_enter();
	t1 = rs_ebr_tag();
	(void)rs_ebr_observe();
	rs_ebr_enter(); /* e.g. a blocked marker's hold inside operate() */
	t2 = rs_ebr_tag();
	assert_int_equal(rs_ebr_depth(), 2);
	rs_ebr_leave();
	assert_false(rs_ebr_safe(t1));
	assert_false(rs_ebr_safe(t2));
	rs_ebr_leave();
	assert_int_equal(rs_ebr_depth(), 0);
	assert_true(rs_ebr_safe(t1));
	assert_true(rs_ebr_safe(t2));
	rs_ebr_leave(); /* unbalanced: ignored */
	assert_int_equal(rs_ebr_depth(), 0);
	assert_true(rs_ebr_safe(rs_ebr_tag()));
}

static void *enter_leave(void *arg)
{
	rs_ebr_enter();
	rs_ebr_leave();
	return NULL;
}

static void *exit_inside(void *arg)
{
	rs_ebr_enter(); /* a worker that ends with a section open */
	return NULL;
}

static void test_thread_churn_reuses_slots(void **state)
{
	unsigned before = rs_ebr_registered();

	for (int i = 0; i < 2000; i++) { /* far more threads than slots */
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, (i % 10) ? enter_leave : exit_inside, NULL), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	assert_true(rs_ebr_registered() <= before + 1);
	/* a thread that exited inside a section does not block anyone */
	assert_true(rs_ebr_safe(rs_ebr_tag()));
}

/* All slots taken: the next thread goes to the overflow counter. */
struct hog {
	pthread_barrier_t *registered, *release;
};

static void *hog_main(void *arg)
{
	struct hog *h = arg;

	rs_ebr_enter();
	rs_ebr_leave();
	pthread_barrier_wait(h->registered);
	pthread_barrier_wait(h->release);
	return NULL;
}

static void test_without_a_slot_everything_waits(void **state)
{
	enum { N = RS_EBR_SLOTS };
	pthread_t *th = calloc(N, sizeof(*th));
	pthread_barrier_t reg, rel;
	struct hog h = { &reg, &rel };
	struct stepper late;
	pthread_attr_t at;
	uint64_t tag;

	assert_non_null(th);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	pthread_barrier_init(&reg, NULL, N + 1);
	pthread_barrier_init(&rel, NULL, N + 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], &at, hog_main, &h), 0);
	pthread_barrier_wait(&reg);
	assert_int_equal(rs_ebr_registered(), RS_EBR_SLOTS);
	stepper_start(&late);
	step(&late, R_ENTER); /* no slot left for it */
	tag = rs_ebr_tag();
	(void)rs_ebr_observe();
	assert_false(rs_ebr_safe(tag)); /* conservative: an unknown reader is inside */
	step(&late, R_LEAVE);
	assert_true(rs_ebr_safe(tag));
	stepper_stop(&late);
	pthread_barrier_wait(&rel);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&reg);
	pthread_barrier_destroy(&rel);
	pthread_attr_destroy(&at);
	free(th);
	assert_true(rs_ebr_registered() < RS_EBR_SLOTS);
}

/* ---- the list: readers against a writer that rehashes and reclaims ---- */

static struct rs_conf conf = { .jurisdiction = "IT", .language = "en" };

static uint32_t add_order(struct rs_list *l, const char *id)
{
	const char *kv[] = { "authority", "Court", "reference", id, "scope", "*", "action", "sinkhole" };
	struct rs_order *o;
	char err[256];
	uint32_t idx;

	assert_int_equal(rs_order_parse(&conf, id, kv, 4, &o, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(l, o, &idx), 0);
	return idx;
}

static int name_op(struct rs_list *l, const char *name, uint32_t idx, bool add)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	assert_true(n > 0);
	return add ? rs_list_add(l, w, (size_t)n, idx) : rs_list_del(l, w, (size_t)n, idx);
}

struct stress {
	_Atomic(struct rs_list *) l;
	atomic_bool stop;
	atomic_long lookups, wrong, stalls;
};

#define STABLE 200
#define CHURN 3000

static enum rs_verdict lookup(struct rs_list *l, const char *name, struct rs_match *m)
{
	uint8_t w[RS_WIRE_MAX];
	struct rs_qname q;
	int n = rs_domain_wire(name, strlen(name), w);

	if (n <= 0 || rs_qname_prepare(w, (size_t)n, &q) < 0)
		return RS_PASS;
	return rs_list_match(l, &q, 0, m);
}

static void *stress_reader(void *arg)
{
	struct stress *st = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	char name[64];
	long n = 0;

	while (!atomic_load(&st->stop)) {
		struct rs_match m;
		struct rs_list *l;
		rs_ebr_enter();
		l = atomic_load_explicit(&st->l, memory_order_acquire);
		snprintf(name, sizeof(name), "www.s%d.example", rand_r(&seed) % STABLE);
		if (lookup(l, name, &m) != RS_BLOCKED)
			atomic_fetch_add(&st->wrong, 1);
		else if (m.order->id[0] != 's' || m.entry->wlen < 4)
			atomic_fetch_add(&st->wrong, 1); /* read through the pointers */
		if (rand_r(&seed) % 200 == 0) {
			/* stop mid-use, well past the (test) floor, pointers in hand */
			sleep_ms(20);
			atomic_fetch_add(&st->stalls, 1);
			if (m.order->id[0] != 's' || rs_entry_wire(m.entry)[1] != 's')
				atomic_fetch_add(&st->wrong, 1);
		}
		snprintf(name, sizeof(name), "c%d.example", rand_r(&seed) % CHURN);
		(void)lookup(l, name, &m); /* either answer */
		rs_ebr_leave();
		n += 2;
	}
	atomic_fetch_add(&st->lookups, n);
	return NULL;
}

static struct rs_list *stress_list(uint32_t *churn)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t stable = add_order(l, "stable");
	char name[64];

	*churn = add_order(l, "churn");
	for (int i = 0; i < STABLE; i++) {
		snprintf(name, sizeof(name), "s%d.example", i);
		assert_int_equal(name_op(l, name, stable, true), 0);
	}
	rs_list_set_quiescent(l, false);
	rs_list_set_floor(l, 1); /* far shorter than a reader's stall: only the epochs protect */
	return l;
}

/* rs_list_reclaim(), returning how many retired allocations it freed. */
static size_t reclaim(struct rs_list *l)
{
	struct rs_list_stats before, after;

	rs_list_stats(l, &before);
	rs_list_reclaim(l);
	rs_list_stats(l, &after);
	return before.retired - after.retired;
}

static void test_stress_readers_and_rehash(void **state)
{
	enum { READERS = 3 };
	struct stress st = { 0 };
	pthread_t th[READERS];
	uint32_t churn;
	struct rs_list *old = NULL;
	char name[64];
	size_t freed_some = 0;

	atomic_init(&st.l, stress_list(&churn));
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, stress_reader, &st), 0);
	for (int round = 0; round < 6; round++) {
		struct rs_list *l = atomic_load(&st.l);
		for (int i = 0; i < CHURN; i++) { /* growth: rehashes */
			snprintf(name, sizeof(name), "c%d.example", i);
			assert_int_equal(name_op(l, name, churn, true), 0);
			if (i % 64 == 0)
				freed_some += reclaim(l);
			if (i % 256 == 0)
				sleep_ms(2); /* let the floor pass now and then */
		}
		for (int i = 0; i < CHURN; i++) { /* deletion: tombstones, then shrinking */
			snprintf(name, sizeof(name), "c%d.example", i);
			assert_int_equal(name_op(l, name, churn, false), 0);
			if (i % 64 == 0)
				freed_some += reclaim(l);
			if (i % 256 == 0)
				sleep_ms(2);
		}
		if (round % 2 == 1) { /* a resync: the whole list replaced, the old one retired */
			uint64_t tag;
			struct rs_list *nl = stress_list(&churn);
			atomic_store_explicit(&st.l, nl, memory_order_release);
			tag = rs_ebr_tag();
			if (old)
				rs_list_free(old); /* the previous one: its tag was observed safe below */
			old = l;
			while (!rs_ebr_safe(tag))
				sleep_ms(1);
		}
	}
	atomic_store(&st.stop, true);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	printf("stress: %ld lookups, %ld stalls inside a section, %zu retired allocations freed meanwhile\n",
	       atomic_load(&st.lookups), atomic_load(&st.stalls), freed_some);
	assert_int_equal(atomic_load(&st.wrong), 0);
	assert_true(atomic_load(&st.lookups) > 0);
	assert_true(freed_some > 0); /* reclamation did run while readers were active */
	rs_list_free(old);
	rs_list_free(atomic_load(&st.l));
}

/* A reader stopped mid-lookup keeps the table it loaded alive past the floor. */
static void test_stopped_reader_outlives_the_floor(void **state)
{
	struct rs_list *l;
	struct stepper r;
	struct rs_list_stats ls;
	uint32_t churn;
	char name[64];

	l = stress_list(&churn);
	stepper_start(&r);
	step(&r, R_ENTER);
	for (int i = 0; i < 5000; i++) { /* several rehashes while it is inside */
		snprintf(name, sizeof(name), "c%d.example", i);
		assert_int_equal(name_op(l, name, churn, true), 0);
	}
	sleep_ms(20);
	rs_list_reclaim(l);
	rs_list_stats(l, &ls);
	assert_true(ls.retired > 0); /* floor passed, reader inside: nothing freed */
	step(&r, R_LEAVE);
	rs_list_reclaim(l);
	rs_list_stats(l, &ls);
	assert_int_equal(ls.retired, 0);
	stepper_stop(&r);
	rs_list_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_blocks_until_it_leaves),
		cmocka_unit_test(test_later_readers_do_not_block),
		cmocka_unit_test(test_nested_sections_keep_the_older_epoch),
		cmocka_unit_test(test_thread_churn_reuses_slots),
		cmocka_unit_test(test_without_a_slot_everything_waits),
		cmocka_unit_test(test_stopped_reader_outlives_the_floor),
		cmocka_unit_test(test_stress_readers_and_rehash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
