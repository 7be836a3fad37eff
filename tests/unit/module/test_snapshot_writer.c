/* test_snapshot_writer.c — the snapshot encoded by another thread (the
 * snapshot writer, sync.c) inside an ebr.h section while the list's writer
 * changes it: every image decodes (the counts match what was written), the
 * names that never change are all in it, and nothing the changes replace is
 * freed under the encoder (run under ASan and TSan too: the memory ordering of
 * the handover and of the walk). Before issue 15 the encoder counted in one
 * pass and wrote in another: an image taken during changes could carry a
 * count that did not match its records and be rejected (or misread) on load. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ebr.h"
#include "list.h"
#include "load.h"
#include "rs_err.h"
#include "snapshot.h"

#define STABLE 2000 /* names never changed: every image holds them all */
#define CHURN 3000  /* names added and removed (rehashes the table both ways) */
#define IMAGES 40   /* images the encoder thread takes */

static struct rs_conf conf = { .jurisdiction = "IT", .language = "en", .txt_text = "{reference}" };

static struct rs_order *mkorder(const char *id, const char *reason)
{
	const char *kv[] = { "authority", "Court of X", "reference", id, "scope", "*", "action", "sinkhole",
			     "reason", reason };
	struct rs_order *o;
	char err[256];

	assert_int_equal(rs_order_parse(&conf, id, kv, 5, &o, err, sizeof(err)), 0);
	return o;
}

static uint32_t set_order(struct rs_list *l, const char *id, const char *reason)
{
	uint32_t idx;

	assert_int_equal(rs_list_order_set(l, mkorder(id, reason), &idx), 0);
	return idx;
}

/* The wire form of "<label><i>.example". */
static int wire(const char *label, int i, uint8_t w[RS_WIRE_MAX])
{
	char name[64];

	snprintf(name, sizeof(name), "%s%d.example", label, i);
	return rs_domain_wire(name, strlen(name), w);
}

struct enc {
	struct rs_list *l;
	atomic_int done;
	int images, bad, missing;
	char why[256];
};

/* The snapshot writer's part: encode inside a section, then decode. */
static void *encoder(void *arg)
{
	struct enc *e = arg;

	for (int k = 0; k < IMAGES; k++) {
		uint8_t *img;
		size_t len;
		struct rs_list *back;
		char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
		int rc;

		rs_ebr_enter();
		rc = rs_snapshot_encode(e->l, "5-5", "", NULL, 0, NULL, &img, &len);
		rs_ebr_leave();
		if (rc != 0) {
			e->bad++;
			continue;
		}
		rc = rs_snapshot_decode(img, len, "image", &conf, &back, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err));
		free(img);
		if (rc != 0) {
			if (!e->bad++)
				snprintf(e->why, sizeof(e->why), "%s", err);
			continue;
		}
		e->images++;
		for (int i = 0; i < STABLE; i++) {
			uint8_t w[RS_WIRE_MAX];
			struct rs_qname q;
			struct rs_match m;
			int n = wire("stable", i, w);
			if (rs_qname_prepare(w, (size_t)n, &q) <= 0 || rs_list_match(back, &q, 0, &m) != RS_BLOCKED)
				e->missing++;
		}
		rs_list_free(back);
	}
	atomic_store(&e->done, 1);
	return NULL;
}

static void encode_during_changes(void **state)
{
	struct rs_list *l = rs_list_new(STABLE);
	struct enc e = { .l = l };
	struct rs_prefix p4;
	char err[128];
	uint32_t keep, churn;
	pthread_t th;
	int round = 0;

	assert_non_null(l);
	keep = set_order(l, "keep", "kept");
	for (int i = 0; i < STABLE; i++) {
		uint8_t w[RS_WIRE_MAX];
		int n = wire("stable", i, w);
		assert_int_equal(rs_list_add(l, w, (size_t)n, keep), 0);
	}
	assert_int_equal(rs_prefix_parse("198.51.100.0/24", &p4, err, sizeof(err)), 0);
	assert_int_equal(rs_list_prefix_add(l, &p4, keep), 0);
	assert_int_equal(rs_list_commit(l), 0);
	rs_list_set_quiescent(l, false); /* readers exist: retire, never free at once */
	rs_list_set_floor(l, 1);

	assert_int_equal(pthread_create(&th, NULL, encoder, &e), 0);
	while (!atomic_load(&e.done)) {
		/* the sync thread's part: orders come and go, names are added,
		 * replaced, removed (growth and shrinking), prefixes committed */
		char id[32], reason[32];
		snprintf(id, sizeof(id), "churn%d", round % 3);
		snprintf(reason, sizeof(reason), "round %d", round);
		churn = set_order(l, id, reason);
		for (int i = 0; i < CHURN; i++) {
			uint8_t w[RS_WIRE_MAX];
			int n = wire("churn", i, w);
			int rc = rs_list_add(l, w, (size_t)n, churn);
			assert_true(rc == 0 || rc == RS_EEXIST);
			if (i % 7 == 0)
				(void)rs_list_protect(l, w, (size_t)n, round % 2 == 0);
		}
		if (round % 2) {
			struct rs_prefix p;
			snprintf(reason, sizeof(reason), "203.0.113.%d/32", round % 200);
			assert_int_equal(rs_prefix_parse(reason, &p, err, sizeof(err)), 0);
			(void)rs_list_prefix_add(l, &p, churn);
			(void)rs_list_commit(l);
		}
		for (int i = 0; i < CHURN; i++) {
			uint8_t w[RS_WIRE_MAX];
			int n = wire("churn", i, w);
			(void)rs_list_del(l, w, (size_t)n, churn);
		}
		if (round % 3 == 2) {
			assert_int_equal(rs_list_order_remove(l, id), 0);
			assert_true(rs_list_order_sweep(l, churn) >= 0);
			(void)rs_list_commit(l);
		}
		rs_list_reclaim(l);
		round++;
	}
	pthread_join(th, NULL);
	print_message("%d images during %d rounds of changes\n", e.images, round);
	if (e.bad)
		fail_msg("%d of %d images did not decode: %s", e.bad, IMAGES, e.why);
	assert_int_equal(e.missing, 0);
	assert_int_equal(e.images, IMAGES);
	rs_list_set_quiescent(l, true);
	rs_list_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encode_during_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
