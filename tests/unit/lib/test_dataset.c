/* test_dataset.c — the dataset identity: parsing the `dataset` hash and every rule of rs_dataset_judge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataset.h"

#define A "0123456789abcdef0123456789abcdef"
#define B "fedcba9876543210fedcba9876543210"
#define C "00000000000000000000000000000001"
#define U "0123456789ABCDEF0123456789ABCDEF"

#define PARSE(d, ...)                                                                   \
	do {                                                                            \
		const char *kv_[] = { __VA_ARGS__ };                                    \
		rs_dataset_parse(kv_, sizeof(kv_) / sizeof(kv_[0]) / 2, (d));           \
	} while (0)

static void test_id_ok(void **state)
{
	(void)state;
	assert_true(rs_dataset_id_ok(A));
	assert_true(rs_dataset_id_ok(B));
	assert_false(rs_dataset_id_ok(U));                                   /* uppercase hex */
	assert_false(rs_dataset_id_ok("0123456789abcdef0123456789abcdeF")); /* one uppercase */
	assert_false(rs_dataset_id_ok("0123456789abcdef0123456789abcde"));  /* 31 */
	assert_false(rs_dataset_id_ok(A "0"));                               /* 33 */
	assert_false(rs_dataset_id_ok("0123456789abcdef0123456789abcdeg"));
	assert_false(rs_dataset_id_ok("0123456789abcdef 123456789abcdef"));
	assert_false(rs_dataset_id_ok(""));
	assert_false(rs_dataset_id_ok(NULL));
}

static void test_parse_absent(void **state)
{
	struct rs_dataset d;

	(void)state;
	memset(&d, 0x5a, sizeof(d));
	rs_dataset_parse(NULL, 0, &d);
	assert_false(d.present);
	assert_false(d.valid);
	assert_string_equal(d.id, "");
	assert_int_equal(d.nsupersedes, 0);
}

static void test_parse_full(void **state)
{
	struct rs_dataset d;

	(void)state;
	PARSE(&d, "id", A, "generation", "7", "supersedes", B " " C, "created", "2026-05-01T00:00:00Z", "by",
	      "alice", "why", "restore", "future-field", "whatever");
	assert_true(d.present);
	assert_true(d.valid);
	assert_string_equal(d.id, A);
	assert_true(d.generation == 7);
	assert_int_equal(d.nsupersedes, 2);
	assert_string_equal(d.supersedes[0], B);
	assert_string_equal(d.supersedes[1], C);
}

static void test_parse_minimal_and_spacing(void **state)
{
	struct rs_dataset d;

	(void)state;
	PARSE(&d, "generation", "1", "id", A); /* no supersedes: none */
	assert_true(d.valid);
	assert_int_equal(d.nsupersedes, 0);

	PARSE(&d, "id", A, "generation", "1", "supersedes", "");
	assert_true(d.valid);
	assert_int_equal(d.nsupersedes, 0);

	PARSE(&d, "id", A, "generation", "18446744073709551615", "supersedes", "  " B "\t\t" C "  " B " ");
	assert_true(d.valid);
	assert_true(d.generation == UINT64_MAX);
	assert_int_equal(d.nsupersedes, 2); /* the duplicate kept once */
}

static void expect_invalid(const char *const *kv, size_t npairs)
{
	struct rs_dataset d;

	rs_dataset_parse(kv, npairs, &d);
	assert_true(d.present);
	assert_false(d.valid);
	assert_int_equal(d.nsupersedes, 0);
	assert_true(d.generation == 0);
}

static void test_parse_junk(void **state)
{
	(void)state;
	{ /* no id */
		const char *kv[] = { "generation", "1" };
		expect_invalid(kv, 1);
	}
	{ /* no generation */
		const char *kv[] = { "id", A };
		expect_invalid(kv, 1);
	}
	{ /* uppercase id */
		const char *kv[] = { "id", U, "generation", "1" };
		expect_invalid(kv, 2);
	}
	{ /* short id */
		const char *kv[] = { "id", "abc", "generation", "1" };
		expect_invalid(kv, 2);
	}
	{ /* binary junk in the id */
		const char *kv[] = { "id", "\xff\xfe\x01", "generation", "1" };
		expect_invalid(kv, 2);
	}
	{ /* field names are case-sensitive: ID is not id */
		const char *kv[] = { "ID", A, "generation", "1" };
		expect_invalid(kv, 2);
	}
	{ /* generation 0, negative, signed, leading zero, hex, empty, overflow, trailing junk */
		static const char *const bad[] = { "0", "-1", "+1", "01", "0x1", "", "18446744073709551616",
						   "1 ", " 1", "1a", "99999999999999999999999" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const char *kv[] = { "id", A, "generation", bad[i] };
			expect_invalid(kv, 2);
		}
	}
	{ /* a bad id in supersedes */
		const char *kv[] = { "id", A, "generation", "2", "supersedes", B " xyz" };
		expect_invalid(kv, 3);
	}
	{ /* an uppercase id in supersedes */
		const char *kv[] = { "id", A, "generation", "2", "supersedes", U };
		expect_invalid(kv, 3);
	}
	{ /* ids glued with a comma */
		const char *kv[] = { "id", A, "generation", "2", "supersedes", B "," C };
		expect_invalid(kv, 3);
	}
	{ /* a field twice */
		const char *kv[] = { "id", A, "generation", "2", "id", B };
		expect_invalid(kv, 3);
	}
	{ /* NULL value */
		const char *kv[] = { "id", A, "generation", NULL };
		expect_invalid(kv, 2);
	}
}

static void test_parse_supersedes_max(void **state)
{
	char buf[(RS_DATASET_ID_LEN + 1) * (RS_DATASET_SUPERSEDES_MAX + 2)];
	struct rs_dataset d;
	size_t off = 0;

	(void)state;
	for (int i = 0; i < RS_DATASET_SUPERSEDES_MAX; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%032x", i ? " " : "", i + 1);
	{
		const char *kv[] = { "id", A, "generation", "3", "supersedes", buf };
		rs_dataset_parse(kv, 3, &d);
		assert_true(d.valid);
		assert_int_equal(d.nsupersedes, RS_DATASET_SUPERSEDES_MAX);
		assert_string_equal(d.supersedes[RS_DATASET_SUPERSEDES_MAX - 1], "00000000000000000000000000000010");
	}
	/* one more: too many */
	snprintf(buf + off, sizeof(buf) - off, " %032x", 99);
	{
		const char *kv[] = { "id", A, "generation", "3", "supersedes", buf };
		expect_invalid(kv, 3);
	}
}

static struct rs_dataset valid(const char *id, const char *sup)
{
	struct rs_dataset d;
	const char *kv[] = { "id", id, "generation", "2", "supersedes", sup };

	rs_dataset_parse(kv, 3, &d);
	assert_true(d.valid);
	return d;
}

static struct rs_dataset absent(void)
{
	struct rs_dataset d;

	rs_dataset_parse(NULL, 0, &d);
	return d;
}

static struct rs_dataset malformed(void)
{
	struct rs_dataset d;
	const char *kv[] = { "id", "not-an-id", "generation", "1" };

	rs_dataset_parse(kv, 2, &d);
	assert_true(d.present);
	assert_false(d.valid);
	return d;
}

/* held "": a list without identity (empty, or from before identities). */
static void test_judge_no_identity_held(void **state)
{
	struct rs_dataset none = absent(), bad = malformed(), a = valid(A, "");

	(void)state;
	/* holding nothing: adopt anything, even nothing or junk */
	assert_int_equal(rs_dataset_judge("", false, &none, false), RS_DS_ADOPT);
	assert_int_equal(rs_dataset_judge("", false, &none, true), RS_DS_ADOPT);
	assert_int_equal(rs_dataset_judge("", false, &bad, false), RS_DS_ADOPT);
	assert_int_equal(rs_dataset_judge("", false, &a, false), RS_DS_ADOPT);
	assert_int_equal(rs_dataset_judge(NULL, false, &none, false), RS_DS_ADOPT);
	/* holding a list: a valid identity is adopted (the first identity) */
	assert_int_equal(rs_dataset_judge("", true, &a, false), RS_DS_ADOPT);
	assert_int_equal(rs_dataset_judge("", true, &a, true), RS_DS_ADOPT);
	/* holding a list: a Redis from before identities that has data */
	assert_int_equal(rs_dataset_judge("", true, &none, true), RS_DS_ADOPT);
	/* holding a list: Redis has nothing at all */
	assert_int_equal(rs_dataset_judge("", true, &none, false), RS_DS_VANISHED);
	assert_int_equal(rs_dataset_judge(NULL, true, &none, false), RS_DS_VANISHED);
	/* holding a list: an unreadable identity, with or without data */
	assert_int_equal(rs_dataset_judge("", true, &bad, false), RS_DS_MALFORMED);
	assert_int_equal(rs_dataset_judge("", true, &bad, true), RS_DS_MALFORMED);
}

/* held X: the list came from dataset X. */
static void test_judge_held(void **state)
{
	struct rs_dataset none = absent(), bad = malformed();
	struct rs_dataset same = valid(A, ""), same_sup = valid(A, B);
	struct rs_dataset succ = valid(B, C " " A), other = valid(B, C);

	(void)state;
	for (int holding = 0; holding < 2; holding++)
		for (int data = 0; data < 2; data++) {
			assert_int_equal(rs_dataset_judge(A, holding, &same, data), RS_DS_SAME);
			assert_int_equal(rs_dataset_judge(A, holding, &same_sup, data), RS_DS_SAME);
			assert_int_equal(rs_dataset_judge(A, holding, &succ, data), RS_DS_ADOPT);
			assert_int_equal(rs_dataset_judge(A, holding, &other, data), RS_DS_FOREIGN);
			assert_int_equal(rs_dataset_judge(A, holding, &none, data), RS_DS_VANISHED);
			assert_int_equal(rs_dataset_judge(A, holding, &bad, data), RS_DS_MALFORMED);
		}
	/* a successor of a successor does not adopt: only direct supersession counts */
	assert_int_equal(rs_dataset_judge(C, true, &same_sup, true), RS_DS_FOREIGN);
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(rs_dataset_verdict_name(RS_DS_SAME), "same");
	assert_string_equal(rs_dataset_verdict_name(RS_DS_ADOPT), "adopt");
	assert_string_equal(rs_dataset_verdict_name(RS_DS_VANISHED), "vanished");
	assert_string_equal(rs_dataset_verdict_name(RS_DS_FOREIGN), "foreign");
	assert_string_equal(rs_dataset_verdict_name(RS_DS_MALFORMED), "malformed");
	assert_string_equal(rs_dataset_verdict_name((enum rs_dataset_verdict)42), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_ok),
		cmocka_unit_test(test_parse_absent),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_minimal_and_spacing),
		cmocka_unit_test(test_parse_junk),
		cmocka_unit_test(test_parse_supersedes_max),
		cmocka_unit_test(test_judge_no_identity_held),
		cmocka_unit_test(test_judge_held),
		cmocka_unit_test(test_verdict_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
