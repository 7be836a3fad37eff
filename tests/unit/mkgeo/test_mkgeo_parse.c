/* test_mkgeo_parse.c — redsink-mkgeo's CSV line parser (tools/mkgeo/mkgeo_parse.c):
 * what is a network, a country and a subdivision, what is skipped, and the
 * exact message of every rejection (redsink-mkgeo(1), ERRORS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mkgeo_parse.h"
#include "rs_err.h"

static struct mkgeo_net net;
static char why[MKGEO_WHY_MAX];

static int parse(const char *line)
{
	return mkgeo_parse_line(line, strlen(line), &net, why, sizeof(why));
}

/* the line is refused with exactly this message */
static void refused(const char *line, const char *message)
{
	int rc = parse(line);

	if (rc != RS_EINVAL || strcmp(why, message) != 0)
		fail_msg("%s: got %d '%s', want '%s'", line, rc, why, message);
}

static void test_ipv4_network(void **state)
{
	static const uint8_t key[16] = { [12] = 10, [13] = 1 };

	assert_int_equal(parse("10.1.0.0/16,IT,IT-25"), MKGEO_LINE_NET);
	assert_memory_equal(net.key, key, 16);
	assert_int_equal(net.depth, 96 + 16);
	assert_string_equal(net.canon, "10.1.0.0/16");
	assert_string_equal(net.cc, "IT");
	assert_string_equal(net.sub, "25");
	assert_string_equal(net.data, "IT-25");
}

static void test_ipv6_and_bare_addresses(void **state)
{
	assert_int_equal(parse("2001:DB8:1::/48,fr,idf"), MKGEO_LINE_NET);
	assert_int_equal(net.depth, 48);
	assert_string_equal(net.canon, "2001:db8:1::/48");
	assert_string_equal(net.data, "FR-IDF");
	assert_int_equal(net.key[0], 0x20);
	assert_int_equal(net.key[5], 0x01);

	assert_int_equal(parse("127.0.0.2,KR"), MKGEO_LINE_NET);
	assert_int_equal(net.depth, 128);
	assert_string_equal(net.canon, "127.0.0.2/32");
	assert_string_equal(net.data, "KR");
	assert_string_equal(net.sub, "");

	assert_int_equal(parse("::1,KR"), MKGEO_LINE_NET);
	assert_int_equal(net.depth, 128);
	assert_string_equal(net.canon, "::1/128");
	assert_int_equal(parse("0.0.0.0/0,ZZ"), MKGEO_LINE_NET);
	assert_int_equal(net.depth, 96);
	assert_int_equal(parse("::/0,ZZ"), MKGEO_LINE_NET);
	assert_int_equal(net.depth, 0);
}

static void test_ipv4_is_its_ipv6_form(void **state)
{
	struct mkgeo_net a;

	assert_int_equal(parse("10.0.0.0/8,IT"), MKGEO_LINE_NET);
	a = net;
	assert_int_equal(parse("::10.0.0.0/104,IT"), MKGEO_LINE_NET);
	assert_memory_equal(a.key, net.key, 16);
	assert_int_equal(a.depth, net.depth);
	assert_string_equal(net.canon, "::10.0.0.0/104"); /* as inet_ntop writes it */
}

static void test_skipped_lines(void **state)
{
	const char *skip[] = { "", "   ", "\r\n", "# a comment", "  # indented comment", "network,country,subdivision",
			       "NETWORK", "Network;Country", "network-x,IT" };

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		assert_int_equal(parse(skip[i]), MKGEO_LINE_SKIP);
	/* "network" followed by a word character is not the header */
	refused("networks,IT", "'networks' is not an IP network (address/length)");
	refused("network_x,IT", "'network_x' is not an IP network (address/length)");
}

static void test_spaces_comments_and_trailing_commas(void **state)
{
	assert_int_equal(parse(" 10.0.0.0/8 ,\tit , it-25 # Lombardy\r\n"), MKGEO_LINE_NET);
	assert_string_equal(net.data, "IT-25");
	assert_int_equal(parse("10.0.0.0/8,IT,"), MKGEO_LINE_NET);
	assert_string_equal(net.data, "IT");
	assert_int_equal(parse("10.0.0.0/8,IT,,,,,,"), MKGEO_LINE_NET); /* empty fields at the end do not count */
	assert_string_equal(net.data, "IT");
	assert_int_equal(parse("10.0.0.0/8,IT, ,"), MKGEO_LINE_NET); /* a blank subdivision is none */
	assert_string_equal(net.data, "IT");
	assert_int_equal(parse("10.0.0.0/8,IT,21#x,y"), MKGEO_LINE_NET);
	assert_string_equal(net.data, "IT-21");
}

static void test_field_count(void **state)
{
	refused("10.0.0.0/8", "want network,country[,subdivision]");
	refused("10.0.0.0/8,IT,25,x", "want network,country[,subdivision]");
	refused("10.0.0.0/8,IT,25,,x", "want network,country[,subdivision]");
	refused(",,,", "want network,country[,subdivision]");
	refused(",", "want network,country[,subdivision]");
	refused(",IT", "'' is not an IP network (address/length)");
}

static void test_bad_networks(void **state)
{
	refused("10.0.0.1/8,IT", "'10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)");
	refused("2001:db8::1/32,FR", "'2001:db8::1/32' has host bits set (the network is 2001:db8::/32)");
	refused("192.0.2.0/33,IT", "'192.0.2.0/33': the prefix length must be 0 to 32");
	refused("::/129,IT", "'::/129': the prefix length must be 0 to 128");
	refused("10.0.0.0/0128,IT", "'10.0.0.0/0128' is not an IP network (address/length)");
	refused("10.0.0.0/,IT", "'10.0.0.0/' is not an IP network (address/length)");
	refused("10.0.0.0/8/8,IT", "'10.0.0.0/8/8' is not an IP network (address/length)");
	refused("10.0.0.0 /8,IT", "'10.0.0.0 /8' is not an IP network (address/length)");
	refused("10.0.0.300/32,IT", "'10.0.0.300/32': '10.0.0.300' is not an IPv4 address");
	refused("10.0.0,IT", "'10.0.0': '10.0.0' is not an IPv4 address");
	refused("gggg::/16,IT", "'gggg::/16' is not an IP network (address/length)");
	refused(":::/16,IT", "':::/16': ':::' is not an IPv6 address");
	/* a leading zero in a prefix length is read as decimal */
	assert_int_equal(parse("10.0.0.0/012,IT"), MKGEO_LINE_NET);
	assert_string_equal(net.canon, "10.0.0.0/12");
}

static void test_bad_countries_and_subdivisions(void **state)
{
	refused("10.0.0.0/8,ITA", "'ITA' is not an ISO 3166-1 alpha-2 code");
	refused("10.0.0.0/8,I", "'I' is not an ISO 3166-1 alpha-2 code");
	refused("10.0.0.0/8,I1", "'I1' is not an ISO 3166-1 alpha-2 code");
	refused("10.0.0.0/8,IT,2555", "'2555' is not an ISO 3166-2 subdivision of IT");
	refused("10.0.0.0/8,IT,IT-", "'' is not an ISO 3166-2 subdivision of IT");
	refused("10.0.0.0/8,IT,fr-25", "'FR-25' is not an ISO 3166-2 subdivision of IT"); /* shown in capitals */
	refused("10.0.0.0/8,IT,a b", "'A B' is not an ISO 3166-2 subdivision of IT");
}

static void test_control_octets_are_shown_escaped(void **state)
{
	static const char line[] = "10.0.0.0/8\0,IT";

	assert_int_equal(mkgeo_parse_line(line, sizeof(line) - 1, &net, why, sizeof(why)), RS_EINVAL);
	assert_string_equal(why, "'10.0.0.0/8\\x00' is not an IP network (address/length)");
	refused("10.0.0.0/8,I\x1b[2JT", "'I\\x1b[2JT' is not an ISO 3166-1 alpha-2 code");
}

static void test_long_lines_are_cut_not_overflowed(void **state)
{
	char line[8192], small[16];

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	line[10] = ',';
	assert_int_equal(parse(line), RS_EINVAL);
	assert_true(strlen(why) < sizeof(why));
	assert_int_equal(mkgeo_parse_line(line, strlen(line), &net, small, sizeof(small)), RS_EINVAL);
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(mkgeo_parse_line("10.0.0.1/8,IT", 13, &net, small, sizeof(small)), RS_EINVAL);
	assert_true(strlen(small) == sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_network),
		cmocka_unit_test(test_ipv6_and_bare_addresses),
		cmocka_unit_test(test_ipv4_is_its_ipv6_form),
		cmocka_unit_test(test_skipped_lines),
		cmocka_unit_test(test_spaces_comments_and_trailing_commas),
		cmocka_unit_test(test_field_count),
		cmocka_unit_test(test_bad_networks),
		cmocka_unit_test(test_bad_countries_and_subdivisions),
		cmocka_unit_test(test_control_octets_are_shown_escaped),
		cmocka_unit_test(test_long_lines_are_cut_not_overflowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
