/*
 * test_prefix.c — address prefixes (lib/prefix.c): the text form accepted
 * and refused (with the exact reason), the canonical text, and containment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "prefix.h"
#include "rs_err.h"

static struct rs_prefix P(const char *s)
{
	struct rs_prefix p;
	char err[128];

	if (rs_prefix_parse(s, &p, err, sizeof(err)) != 0)
		fail_msg("'%s' does not parse: %s", s, err);
	return p;
}

/* s parses, and its canonical text is canon. */
static void canon(const char *s, const char *want)
{
	struct rs_prefix p = P(s), again;
	char buf[RS_PREFIX_TEXT_MAX];
	size_t n = rs_prefix_format(&p, buf, sizeof(buf));

	if (strcmp(buf, want) != 0)
		fail_msg("'%s' formats as '%s', want '%s'", s, buf, want);
	assert_int_equal(n, strlen(want));
	/* the canonical text parses back to the same prefix */
	assert_int_equal(rs_prefix_parse(buf, &again, NULL, 0), 0);
	assert_true(rs_prefix_equal(&p, &again));
}

static void test_canonical(void **state)
{
	canon("192.0.2.0/24", "192.0.2.0/24");
	canon("192.0.2.1", "192.0.2.1/32");
	canon("0.0.0.0/0", "0.0.0.0/0");
	canon("255.255.255.255/32", "255.255.255.255/32");
	canon("10.0.0.0/8", "10.0.0.0/8");
	canon("2001:db8::/48", "2001:db8::/48");
	canon("2001:DB8:0:0::/64", "2001:db8::/64");
	canon("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128");
	canon("2001:db8:0:1:0:0:0:1/128", "2001:db8:0:1::1/128"); /* RFC 5952: the longest zero run */
	canon("2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128"); /* the first of equal runs */
	canon("2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128"); /* one zero group is not "::" */
	canon("::/0", "::/0");
	canon("::1", "::1/128");
	canon("::", "::/128");
	canon("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	/* IPv4-mapped: an IPv6 prefix, written in mixed notation */
	canon("::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120");
	canon("::ffff:0:0/96", "::ffff:0.0.0.0/96");
	canon("::FFFF:1.2.3.4", "::ffff:1.2.3.4/128");
	canon("2001:db8::/32", "2001:db8::/32");
	/* the longest accepted input */
	canon("0000:0000:0000:0000:0000:ffff:255.255.255.255/128", "::ffff:255.255.255.255/128");
}

static void test_fields(void **state)
{
	struct rs_prefix p = P("192.0.2.128/25");

	assert_int_equal(p.family, 4);
	assert_int_equal(p.len, 25);
	assert_int_equal(p.addr[0], 192);
	assert_int_equal(p.addr[3], 128);
	for (int i = 4; i < 16; i++)
		assert_int_equal(p.addr[i], 0);
	p = P("2001:db8::/32");
	assert_int_equal(p.family, 6);
	assert_int_equal(p.len, 32);
	assert_int_equal(p.addr[0], 0x20);
	assert_int_equal(p.addr[3], 0xb8);
	p = P("::ffff:1.2.3.4");
	assert_int_equal(p.family, 6);
	assert_int_equal(p.len, 128);
}

static void refused(const char *s, const char *why)
{
	struct rs_prefix p;
	char err[128], want[200];

	memset(&p, 0xaa, sizeof(p));
	if (rs_prefix_parse(s, &p, err, sizeof(err)) != RS_EINVAL)
		fail_msg("'%s' parses", s);
	snprintf(want, sizeof(want), "'%s': %s", s, why);
	if (strcmp(err, want) != 0)
		fail_msg("'%s': error \"%s\", want \"%s\"", s, err, want);
	assert_int_equal(p.family, 0); /* zeroed */
}

static void test_refused(void **state)
{
	struct rs_prefix p;
	char err[128], long_in[200];

	refused("", "empty prefix");
	refused("10.0.0.1/8", "host bits set");
	refused("192.0.2.1/24", "host bits set");
	refused("2001:db8::1/64", "host bits set");
	refused("::ffff:1.2.3.4/96", "host bits set");
	refused("128.0.0.0/0", "host bits set");
	refused("1.2.3.4/33", "prefix length over 32");
	refused("::/129", "prefix length over 128");
	refused("1.2.3.4/", "missing prefix length after '/'");
	refused("/24", "missing address");
	refused("1.2.3.0/024", "leading zero in the prefix length");
	refused("1.2.3.0/00", "leading zero in the prefix length");
	refused("1.2.3.0/+24", "not an IPv4 or IPv6 prefix");
	refused("1.2.3.0/-1", "not an IPv4 or IPv6 prefix");
	refused("1.2.3.0/1000", "the prefix length is not a decimal number");
	refused("1.2.3.0/24/24", "the prefix length is not a decimal number");
	refused("1.2.3.0/2a", "the prefix length is not a decimal number");
	refused("010.0.0.0/8", "leading zero in an IPv4 address part");
	refused("10.0.0.01", "leading zero in an IPv4 address part");
	refused("::ffff:1.2.3.04", "leading zero in the IPv4 part");
	refused("1.2.3", "not an IPv4 address");
	refused("1.2.3.4.5", "not an IPv4 address");
	refused("256.0.0.0/8", "not an IPv4 address");
	refused("1..2.3", "not an IPv4 address");
	refused("0x1.2.3.4", "not an IPv4 or IPv6 prefix");
	refused("2001:db8:::/48", "not an IPv6 address");
	refused("2001:db8::1::1", "not an IPv6 address");
	refused("12345::", "not an IPv6 address");
	refused("1:2:3:4:5:6:7:8:9", "not an IPv6 address");
	refused("fe80::1%eth0", "zone ids are not allowed");
	refused(" 1.2.3.4", "spaces are not allowed");
	refused("1.2.3.4 ", "spaces are not allowed");
	refused("1.2.3.0/ 24", "spaces are not allowed");
	refused("example.com", "not an IPv4 or IPv6 prefix");
	/* over-long input: refused before any parsing, the quote is cut */
	memset(long_in, '1', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	assert_int_equal(rs_prefix_parse(long_in, &p, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "...': too long for a prefix"));
	/* 50 octets: one too many */
	assert_int_equal(rs_prefix_parse("0000:0000:0000:0000:0000:ffff:255.255.255.255/1280", &p, NULL, 0), RS_EINVAL);
	/* non-printable octets are not echoed */
	assert_int_equal(rs_prefix_parse("1.2.3.0\t/24", &p, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'1.2.3.0?/24': spaces are not allowed");
	assert_int_equal(rs_prefix_parse("1.2.3.4\n", &p, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'1.2.3.4?': spaces are not allowed");
	assert_int_equal(rs_prefix_parse("1.2.3.4\x01", &p, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'1.2.3.4?': not an IPv4 or IPv6 prefix");
	/* NULL input, no error buffer */
	assert_int_equal(rs_prefix_parse(NULL, &p, NULL, 0), RS_EINVAL);
	/* a small error buffer is cut, still terminated */
	assert_int_equal(rs_prefix_parse("10.0.0.1/8", &p, err, 8), RS_EINVAL);
	assert_string_equal(err, "'10.0.0");
}

static void test_format_small_buffer(void **state)
{
	struct rs_prefix p = P("2001:db8::/48"), bad;
	char buf[8];

	assert_int_equal(rs_prefix_format(&p, buf, sizeof(buf)), strlen("2001:db8::/48"));
	assert_string_equal(buf, "2001:db");
	assert_int_equal(rs_prefix_format(&p, NULL, 0), 13);
	/* an invalid struct formats as nothing */
	bad = P("10.0.0.0/8");
	bad.len = 7;
	bad.addr[0] = 11;
	assert_false(rs_prefix_valid(&bad));
	assert_int_equal(rs_prefix_format(&bad, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	bad = P("10.0.0.0/8");
	bad.family = 5;
	assert_false(rs_prefix_valid(&bad));
	bad = P("10.0.0.0/8");
	bad.addr[7] = 1; /* beyond the IPv4 address */
	assert_false(rs_prefix_valid(&bad));
	bad = P("10.0.0.0/8");
	bad.len = 33;
	assert_false(rs_prefix_valid(&bad));
}

static void test_contains_overlaps(void **state)
{
	struct rs_prefix all4 = P("0.0.0.0/0"), all6 = P("::/0"), net = P("192.0.2.0/24"), half = P("192.0.2.128/25"),
			 host = P("192.0.2.200"), other = P("198.51.100.0/24"), v6 = P("2001:db8::/32"),
			 v6in = P("2001:db8:1::/48"), v6host = P("2001:db8:1::1"), mapped = P("::ffff:192.0.2.0/120"),
			 lower;

	assert_true(rs_prefix_contains(&net, &net));
	assert_true(rs_prefix_contains(&net, &half));
	assert_false(rs_prefix_contains(&half, &net));
	assert_true(rs_prefix_contains(&half, &host));
	assert_true(rs_prefix_contains(&all4, &host));
	assert_true(rs_prefix_contains(&all4, &other));
	assert_false(rs_prefix_contains(&net, &other));
	assert_true(rs_prefix_overlaps(&net, &half));
	assert_true(rs_prefix_overlaps(&half, &net));
	assert_false(rs_prefix_overlaps(&net, &other));
	assert_true(rs_prefix_overlaps(&all4, &other));
	assert_true(rs_prefix_contains(&v6, &v6in));
	assert_true(rs_prefix_contains(&v6in, &v6host));
	assert_true(rs_prefix_contains(&all6, &v6host));
	/* the families never overlap, not even ::/0 and 0.0.0.0/0, nor a mapped prefix */
	assert_false(rs_prefix_overlaps(&all4, &all6));
	assert_false(rs_prefix_overlaps(&all6, &net));
	assert_false(rs_prefix_overlaps(&mapped, &net));
	assert_false(rs_prefix_contains(&all6, &host));
	assert_true(rs_prefix_contains(&all6, &mapped));
	/* /25 boundaries: the bit after the length decides */
	lower = P("192.0.2.0/25");
	assert_false(rs_prefix_overlaps(&half, &lower));
	assert_true(rs_prefix_overlaps(&net, &lower));
}

static void test_has_addr(void **state)
{
	const uint8_t a4[4] = { 192, 0, 2, 200 }, b4[4] = { 192, 0, 2, 127 }, c4[4] = { 192, 0, 3, 0 };
	const uint8_t ones4[4] = { 255, 255, 255, 255 }, zero4[4] = { 0 };
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1 }, ones6[16], m6[16] = { 0 };
	struct rs_prefix half = P("192.0.2.128/25"), host = P("192.0.2.200/32"), all4 = P("0.0.0.0/0"),
			 top = P("255.255.255.255"), all6 = P("::/0"), v6 = P("2001:db8:1::/48"),
			 h6 = P("2001:db8:1::/128"), top6 = P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			 mapped = P("::ffff:192.0.2.200");

	memset(ones6, 0xff, sizeof(ones6));
	assert_true(rs_prefix_has_addr(&half, 4, a4));
	assert_false(rs_prefix_has_addr(&half, 4, b4));
	assert_false(rs_prefix_has_addr(&half, 4, c4));
	assert_true(rs_prefix_has_addr(&host, 4, a4));
	assert_false(rs_prefix_has_addr(&host, 4, b4));
	assert_true(rs_prefix_has_addr(&all4, 4, zero4));
	assert_true(rs_prefix_has_addr(&all4, 4, ones4));
	assert_true(rs_prefix_has_addr(&top, 4, ones4));
	assert_false(rs_prefix_has_addr(&top, 4, a4));
	assert_true(rs_prefix_has_addr(&v6, 6, a6));
	assert_true(rs_prefix_has_addr(&h6, 6, a6));
	a6[15] = 1;
	assert_false(rs_prefix_has_addr(&h6, 6, a6));
	assert_true(rs_prefix_has_addr(&all6, 6, ones6));
	assert_true(rs_prefix_has_addr(&top6, 6, ones6));
	assert_false(rs_prefix_has_addr(&top6, 6, a6));
	/* families: an IPv4 address is never in an IPv6 prefix, mapped or not */
	assert_false(rs_prefix_has_addr(&all6, 4, a4));
	assert_false(rs_prefix_has_addr(&all4, 6, ones6));
	m6[10] = m6[11] = 0xff;
	memcpy(m6 + 12, a4, 4);
	assert_true(rs_prefix_has_addr(&mapped, 6, m6));
	assert_false(rs_prefix_has_addr(&host, 6, m6));
	assert_false(rs_prefix_has_addr(&mapped, 4, a4));
	assert_false(rs_prefix_has_addr(&all4, 0, a4));
}

/* Every length of a random address: parse(format(p)) == p, and contains
 * agrees with has_addr. */
static void test_round_trip_random(void **state)
{
	srand(13);
	for (int iter = 0; iter < 20000; iter++) {
		struct rs_prefix p = { .family = (iter & 1) ? 6 : 4 }, q;
		unsigned bits = p.family == 4 ? 32 : 128;
		uint8_t a[16] = { 0 };
		char buf[RS_PREFIX_TEXT_MAX];

		for (unsigned i = 0; i < bits / 8; i++)
			a[i] = (uint8_t)(rand() >> 7);
		if (iter % 5 == 0) /* runs of zero groups */
			for (unsigned i = 0; i < bits / 8; i++)
				if ((rand() & 3) != 0)
					a[i] = 0;
		p.len = (uint8_t)(rand() % (bits + 1));
		for (unsigned i = 0; i < bits / 8; i++) {
			unsigned lo = i * 8;
			uint8_t mask = p.len >= lo + 8 ? 0xff : p.len <= lo ? 0 : (uint8_t)(0xff00u >> (p.len - lo));
			p.addr[i] = a[i] & mask;
		}
		assert_true(rs_prefix_valid(&p));
		assert_true(rs_prefix_format(&p, buf, sizeof(buf)) < RS_PREFIX_TEXT_MAX);
		if (rs_prefix_parse(buf, &q, NULL, 0) != 0 || !rs_prefix_equal(&p, &q))
			fail_msg("'%s' does not round-trip", buf);
		assert_true(rs_prefix_has_addr(&p, p.family, a));
		assert_true(rs_prefix_contains(&p, &p));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_contains_overlaps),
		cmocka_unit_test(test_has_addr),
		cmocka_unit_test(test_round_trip_random),
	};
	return cmocka_run_group_tests_name("prefix", tests, NULL, NULL);
}
