/* test_name.c — canonicalisation, wire form and query-name preparation with hostile names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "name.h"
#include "rs_err.h"

static int canon(const char *in, char *out)
{
	return rs_name_canon(in, strlen(in), out);
}

static void test_canon_ok(void **state)
{
	char out[RS_NAME_MAX + 1];

	assert_int_equal(canon("Pirate.EXAMPLE", out), 14);
	assert_string_equal(out, "pirate.example");
	assert_int_equal(canon("pirate.example.", out), 14);
	assert_string_equal(out, "pirate.example");
	assert_int_equal(canon("_dmarc.x-y.example", out), 18);
	assert_int_equal(canon("com", out), 3);
}

static void test_canon_hostile(void **state)
{
	char out[RS_NAME_MAX + 1], buf[600];

	assert_int_equal(canon("", out), RS_ENAME_EMPTY);
	assert_int_equal(canon(".", out), RS_ENAME_EMPTY); /* the root can never be listed */
	assert_int_equal(canon("a..example", out), RS_ENAME_LABEL);
	assert_int_equal(canon(".example", out), RS_ENAME_LABEL);
	assert_int_equal(canon("example..", out), RS_ENAME_LABEL);
	assert_int_equal(canon("pi rate.example", out), RS_ENAME_CHAR);
	assert_int_equal(canon("pirate.example/path", out), RS_ENAME_CHAR);
	assert_int_equal(rs_name_canon("a\0b.example", 11, out), RS_ENAME_CHAR);
	assert_int_equal(canon("p\xc3\xadrate.example", out), RS_ENAME_CHAR); /* U-label: needs IDNA first */
	assert_int_equal(canon("a\\.b.example", out), RS_ENAME_CHAR);
	/* 63-octet label ok, 64 not */
	memset(buf, 'a', 63);
	strcpy(buf + 63, ".example");
	assert_int_equal(canon(buf, out), 71);
	memset(buf, 'a', 64);
	strcpy(buf + 64, ".example");
	assert_int_equal(canon(buf, out), RS_ENAME_LABELLEN);
	/* 253 octets ok, 254 not (with or without a trailing dot) */
	for (int i = 0; i < 253; i++)
		buf[i] = (i % 2) ? '.' : 'a';
	buf[253] = '\0';
	assert_int_equal(canon(buf, out), 253);
	buf[253] = '.';
	buf[254] = '\0';
	assert_int_equal(canon(buf, out), 253);
	buf[253] = 'a';
	assert_int_equal(canon(buf, out), RS_ENAME_LEN);
}

static void test_wire_roundtrip(void **state)
{
	uint8_t wire[RS_WIRE_MAX];
	char text[1100];
	int n = rs_name_to_wire("www.pirate.example", 18, wire);

	assert_int_equal(n, 20);
	assert_memory_equal(wire, "\003www\006pirate\007example\000", 20);
	rs_wire_to_text(wire, (size_t)n, text, sizeof(text));
	assert_string_equal(text, "www.pirate.example");
	rs_wire_to_text((const uint8_t *)"\003a.b\000", 5, text, sizeof(text));
	assert_string_equal(text, "a\\.b");
	rs_wire_to_text((const uint8_t *)"\002a\000\000", 4, text, sizeof(text));
	assert_string_equal(text, "a\\000");
	rs_wire_to_text((const uint8_t *)"\000", 1, text, sizeof(text));
	assert_string_equal(text, ".");
}

static void test_qname_suffix_hashes(void **state)
{
	struct rs_qname q;
	const uint8_t *name = (const uint8_t *)"\003WWW\006Pirate\007EXAMPLE\000";

	assert_int_equal(rs_qname_prepare(name, 20, &q), 3);
	assert_int_equal(q.len, 20);
	assert_memory_equal(q.wire, "\003www\006pirate\007example\000", 20);
	assert_int_equal(q.off[0], 0);
	assert_int_equal(q.off[1], 4);
	assert_int_equal(q.off[2], 11);
	/* every suffix hash equals the hash of that suffix on its own */
	assert_true(q.hash[0] == rs_wire_hash(q.wire, 20));
	assert_true(q.hash[1] == rs_wire_hash((const uint8_t *)"\006pirate\007example\000", 16));
	assert_true(q.hash[2] == rs_wire_hash((const uint8_t *)"\007example\000", 9));
	assert_true(q.hash[0] != q.hash[1]);
}

static void test_qname_hostile(void **state)
{
	struct rs_qname q;
	uint8_t buf[300];

	assert_int_equal(rs_qname_prepare((const uint8_t *)"\000", 1, &q), 0); /* root */
	/* runs past the buffer */
	assert_true(rs_qname_prepare((const uint8_t *)"\007example", 8, &q) < 0);
	/* compression pointer / label over 63 */
	assert_int_equal(rs_qname_prepare((const uint8_t *)"\300\014", 2, &q), RS_ENAME_LABELLEN);
	assert_int_equal(rs_qname_prepare((const uint8_t *)"\100aaaa", 5, &q), RS_ENAME_LABELLEN);
	/* NUL and dot inside labels are kept as octets: label-exact */
	assert_int_equal(rs_qname_prepare((const uint8_t *)"\003a.b\007example\000", 14, &q), 2);
	assert_true(q.hash[1] == rs_wire_hash((const uint8_t *)"\007example\000", 9));
	assert_int_equal(rs_qname_prepare((const uint8_t *)"\003a\000b\007example\000", 14, &q), 2);
	/* 255-octet wire name is the maximum; 257 is rejected */
	for (int i = 0; i < 127; i++) {
		buf[2 * i] = 1;
		buf[2 * i + 1] = 'a';
	}
	buf[254] = 0;
	assert_int_equal(rs_qname_prepare(buf, sizeof(buf), &q), 127);
	for (int i = 0; i < 128; i++) {
		buf[2 * i] = 1;
		buf[2 * i + 1] = 'a';
	}
	buf[256] = 0;
	assert_true(rs_qname_prepare(buf, sizeof(buf), &q) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_ok),
		cmocka_unit_test(test_canon_hostile),
		cmocka_unit_test(test_wire_roundtrip),
		cmocka_unit_test(test_qname_suffix_hashes),
		cmocka_unit_test(test_qname_hostile),
	};
	return cmocka_run_group_tests_name("name", tests, NULL, NULL);
}
