/*
 * test_disc.c — the discovered-names contract (lib/disc.c): the name writer
 * and its exact reader (every name the writer writes reads back, nothing
 * else does), the field and index-value readers, and the registrable-domain
 * approximation of the collateral alarm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "disc.h"
#include "rs_err.h"

/* Wire form of a dotted name of plain labels ("" : the root). */
static size_t wire(const char *s, uint8_t *w)
{
	size_t n = 0;

	while (*s) {
		size_t l = strcspn(s, ".");
		w[n++] = (uint8_t)l;
		memcpy(w + n, s, l);
		n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	w[n++] = 0;
	return n;
}

static void test_writer(void **state)
{
	char out[RS_DISC_NAME_MAX + 1];
	uint8_t w[RS_WIRE_MAX];
	/* "A.b|c", "x y", "\\", 0xff as the first label of example */
	static const uint8_t odd[] = { 5, 'A', '.', 'b', '|', 'c', 3, 'x', ' ', 'y', 2, '\\', 0xff, 7, 'e', 'x', 'a',
				       'm', 'p', 'l', 'e', 0 };

	(void)state;

	assert_int_equal(rs_disc_name(w, wire("WWW.Pirate.Example", w), out), 18);
	assert_string_equal(out, "www.pirate.example");
	assert_int_equal(rs_disc_name(odd, sizeof(odd), out), 35);
	assert_string_equal(out, "a\\046b\\124c.x\\032y.\\092\\255.example");
	assert_int_equal(rs_disc_name(w, wire("", w), out), 0); /* the root */
	assert_string_equal(out, "");
	assert_int_equal(rs_disc_name(odd, sizeof(odd) - 1, out), 0); /* runs past len */
	w[0] = 64;
	assert_int_equal(rs_disc_name(w, sizeof(w), out), 0); /* label over 63 */
}

static void test_reader_exact(void **state)
{
	static const char *ok[] = { "pirate.example", "a\\046b\\124c.x\\032y.\\092\\255.example", "_sip._tcp.example",
				    "x", "a\\000b", "\\060script\\062.example" };
	static const char *bad[] = { "", ".", "pirate.example.", "Pirate.example", "a..b", ".a", "a\\",
				     "a\\1", "a\\12", "a\\256", "a\\065", /* 'A': the writer writes 'a' */
				     "a\\097", /* 'a' escaped: the writer does not */
				     "a|b", "a\\|b", "a b", "a\\-b", "a\\.b", "a\\\\b", "<script>.example", "a*b",
				     "a\\045b" /* '-' escaped */, "\\046" /* a label "." is fine ... */ };
	uint8_t w[RS_WIRE_MAX], w2[RS_WIRE_MAX];
	char out[RS_DISC_NAME_MAX + 1];

	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int n = rs_disc_name_parse(ok[i], strlen(ok[i]), w);
		if (n <= 0)
			fail_msg("'%s' refused", ok[i]);
		assert_int_equal(rs_disc_name(w, (size_t)n, out), strlen(ok[i]));
		assert_string_equal(out, ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) - 1; i++) /* all but the last */
		if (rs_disc_name_parse(bad[i], strlen(bad[i]), NULL) != RS_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	/* ... the label "." is written "\046" and reads back */
	assert_int_equal(rs_disc_name_parse("\\046", 4, w), 3);
	assert_memory_equal(w, "\001.\000", 3);
	/* a canonical name (lib/name.h) is its own disc name */
	assert_int_equal(rs_disc_name_parse("a-1.b_2.example", 15, w), rs_name_to_wire("a-1.b_2.example", 15, w2));
	assert_memory_equal(w, w2, 17);
}

/* The longest names: 255 wire octets read back; one more octet does not. */
static void test_reader_limits(void **state)
{
	uint8_t w[RS_WIRE_MAX + 8];
	char out[RS_DISC_NAME_MAX + 8];
	size_t n = 0;

	(void)state;

	/* one label of 63 0xff octets, three of them, one of 61: 64*3 + 62 + 1 = 255 */
	for (int l = 0; l < 4; l++) {
		size_t len = l < 3 ? 63 : 61;
		w[n++] = (uint8_t)len;
		memset(w + n, 0xff, len);
		n += len;
	}
	w[n++] = 0;
	assert_int_equal(n, 255);
	assert_int_equal(rs_disc_name(w, n, out), 63 * 4 * 3 + 61 * 4 + 3);
	assert_int_equal(rs_disc_name_parse(out, strlen(out), NULL), 255);
	/* one octet more in the last label: 256 wire octets */
	w[n - 1 - 62] = 62;
	w[n - 1] = 0xff;
	w[n] = 0;
	assert_int_equal(rs_disc_name(w, n + 1, out), 0);
	/* and its text (the reader counts too) */
	memset(out, 'a', 254);
	out[63] = out[127] = out[191] = '.'; /* 63, 63, 63 and 61 octets: 253 characters */
	assert_int_equal(rs_disc_name_parse(out, 253, NULL), 255);
	assert_int_equal(rs_disc_name_parse(out, 254, NULL), RS_EINVAL);
	/* a 64-octet label as text */
	memset(out, 'a', 64);
	assert_int_equal(rs_disc_name_parse(out, 64, NULL), RS_EINVAL);
	assert_int_equal(rs_disc_name_parse(out, 63, NULL), 65);
}

static void test_fields(void **state)
{
	struct rs_disc_field f;
	char buf[RS_DISC_NAME_MAX + 200];
	const char *good = "a\\124b.pirate.example|AGCOM-2026/17|198.51.100.0/24";

	(void)state;

	assert_int_equal(rs_disc_field(buf, sizeof(buf), "a\\124b.pirate.example", "AGCOM-2026/17", "198.51.100.0/24"),
			 strlen(good));
	assert_string_equal(buf, good);
	assert_int_equal(rs_disc_field_parse(good, strlen(good), &f), 0);
	assert_string_equal(f.name, "a\\124b.pirate.example");
	assert_string_equal(f.order, "AGCOM-2026/17");
	assert_string_equal(f.prefix, "198.51.100.0/24");
	assert_int_equal(f.p.len, 24);
	/* the writer refuses what the reader would */
	assert_int_equal(rs_disc_field(buf, sizeof(buf), "A.example", "o", "192.0.2.1/32"), 0);
	assert_int_equal(rs_disc_field(buf, 10, "a.example", "o", "192.0.2.1/32"), 0);

	static const char *bad[] = { "a.example|o|192.0.2.1", /* not canonical: no /32 */
				     "a.example|o|192.0.2.1/24", "a.example|o|2001:DB8::/32", "a.example|o",
				     "a.example|o|192.0.2.1/32|x", "a.example||192.0.2.1/32", "|o|192.0.2.1/32",
				     "A.example|o|192.0.2.1/32", "a b.example|o|192.0.2.1/32",
				     "a.example|o o|192.0.2.1/32" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rs_disc_field_parse(bad[i], strlen(bad[i]), &f) != RS_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(rs_disc_field_parse("a.example|o\0|192.0.2.1/32", 25, &f), RS_EINVAL);

	assert_int_equal(rs_disc_value_parse("o1|2001:db8::/48", 16, &f), 0);
	assert_string_equal(f.order, "o1");
	assert_string_equal(f.prefix, "2001:db8::/48");
	assert_int_equal(rs_disc_value_parse("o1|2001:db8::/48|x", 18, &f), RS_EINVAL);
	assert_int_equal(rs_disc_value_parse("o1", 2, &f), RS_EINVAL);
	assert_int_equal(rs_disc_value_parse("|192.0.2.1/32", 13, &f), RS_EINVAL);
}

static const char *base(const char *name)
{
	static uint8_t w[RS_WIRE_MAX];
	static char out[RS_DISC_NAME_MAX + 1];
	size_t n = wire(name, w), b = rs_disc_base(w, n);

	rs_disc_name(w + b, n - b, out);
	return out;
}

static void test_base(void **state)
{
	(void)state;
	assert_string_equal(base("rand1.pirate.example"), "pirate.example");
	assert_string_equal(base("a.b.c.pirate.example"), "pirate.example");
	assert_string_equal(base("pirate.example"), "pirate.example");
	assert_string_equal(base("example"), "example");
	assert_string_equal(base("a.b.example.co.uk"), "example.co.uk");
	assert_string_equal(base("example.co.uk"), "example.co.uk");
	assert_string_equal(base("co.uk"), "co.uk");
	assert_string_equal(base("www.example.com.br"), "example.com.br");
	assert_string_equal(base("x.example.gob.mx"), "example.gob.mx");
	assert_string_equal(base("x.example.ne.jp"), "example.ne.jp");
	assert_string_equal(base("x.example.sch.uk"), "example.sch.uk");
	assert_string_equal(base("x.example.it"), "example.it");          /* a two-letter TLD, no generic SLD */
	assert_string_equal(base("x.blogspot.co.it"), "blogspot.co.it");
	assert_string_equal(base("x.example.co.museum"), "co.museum");    /* not a two-letter TLD */
	assert_string_equal(base("x.example.com"), "example.com");
	assert_int_equal(rs_disc_base((const uint8_t *)"", 1), 0);        /* the root */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_reader_exact),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_base),
	};
	return cmocka_run_group_tests_name("disc", tests, NULL, NULL);
}
