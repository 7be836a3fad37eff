/* test_ctl_input.c — redsink-ctl's input formats (plain, CSV, JSON ticket, RPZ;
 * and the address prefixes in them: plain, CSV address columns, Piracy-Shield
 * ipv4/ipv6 arrays, RPZ rpz-ip triggers and back)
 * with hostile files: BOM, UTF-16, CRLF and CR, NUL bytes, 10,000-character
 * lines, mixed scripts, broken quoting and syntax, empty files. Every
 * diagnostic is asserted with its file, line and exact text. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl_input.h"
#include "ctl_name.h"
#include "prefix.h"
#include "rs_err.h"

static struct ctl_batch b;

static int setup(void **state)
{
	ctl_batch_init(&b);
	return 0;
}

static int teardown(void **state)
{
	ctl_batch_free(&b);
	return 0;
}

static int parse_len(const char *file, const char *text, size_t len, enum ctl_format fmt)
{
	return ctl_parse(&b, file, text, len, fmt);
}

static int parse(const char *file, const char *text, enum ctl_format fmt)
{
	return parse_len(file, text, strlen(text), fmt);
}

static void names_are(const char *const *want, size_t n)
{
	assert_int_equal(b.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(b.items[i].name, want[i]);
}

/* Diagnostic i is "file:line: E|W: text". */
static void diag_is(size_t i, const char *file, uint32_t line, bool error, const char *text)
{
	assert_true(i < b.ndiags);
	assert_string_equal(b.diags[i].file, file);
	assert_int_equal(b.diags[i].line, line);
	assert_int_equal(b.diags[i].error, error);
	assert_string_equal(b.diags[i].text, text);
}

/* ---- plain ---- */

static void test_plain(void **state)
{
	static const char *const want[] = { "pirate.example", "xn--bcher-kva.example", "www.pirate2.example" };

	assert_int_equal(parse("l.txt",
			       "# court order 12/2026\n"
			       "\n"
			       "Pirate.Example   # the main site\n"
			       "bücher.example\n"
			       "https://www.pirate2.example/live\n"
			       "pirate.example\n"
			       "192.0.2.7\n",
			       CTL_FMT_AUTO),
			 0);
	names_are(want, 3);
	assert_int_equal(b.ndiags, 3);
	diag_is(0, "l.txt", 5, false,
		"'https://www.pirate2.example/live': URL reduced to its host 'www.pirate2.example'");
	diag_is(1, "l.txt", 6, false, "'pirate.example': duplicate of l.txt:3 ('pirate.example')");
	diag_is(2, "l.txt", 7, true, "'192.0.2.7': an IP address: redsink blocks names, not addresses");
	assert_int_equal(b.nerrors, 1);
	assert_int_equal(b.items[1].line, 4);
}

static void test_plain_line_ends_and_bom(void **state)
{
	static const char *const want[] = { "a1.example", "a2.example", "a3.example", "a4.example" };

	/* BOM, CRLF, a lone CR (old Mac), and no final newline */
	assert_int_equal(parse("w.txt", "\xef\xbb\xbf" "a1.example\r\na2.example\ra3.example\r\n\r\na4.example",
			       CTL_FMT_PLAIN),
			 0);
	names_are(want, 4);
	assert_int_equal(b.ndiags, 0);
	assert_int_equal(b.items[3].line, 5);
}

static void test_plain_nul_and_long_lines(void **state)
{
	static const char text[] = "a1.example\npir\0ate.example\na2.example\n";
	static const char *const want[] = { "a1.example", "a2.example", "a3.example", "b.example" };
	size_t n = 20000;
	char *big = malloc(n + 64);

	assert_int_equal(parse_len("n.txt", text, sizeof(text) - 1, CTL_FMT_PLAIN), 0);
	diag_is(0, "n.txt", 2, true, "'pir\\x00ate.example': contains a NUL byte");
	/* a 10,000-character line between two good ones: one error, shown truncated */
	strcpy(big, "a3.example\n");
	memset(big + 11, 'x', 10000);
	strcpy(big + 10011, ".example\nb.example\n");
	assert_int_equal(parse("n.txt", big, CTL_FMT_PLAIN), 0);
	names_are(want, 4);
	assert_int_equal(b.ndiags, 2);
	assert_true(b.diags[1].error);
	assert_int_equal(b.diags[1].line, 2);
	assert_non_null(strstr(b.diags[1].text, "...': 10008 octets: far too long for a domain name"));
	assert_true(strlen(b.diags[1].text) < 200);
	free(big);
}

static void test_plain_empty_files(void **state)
{
	assert_int_equal(parse("e.txt", "", CTL_FMT_AUTO), 0);
	assert_int_equal(parse("e.txt", "\n\n   \n# only comments\n", CTL_FMT_AUTO), 0);
	assert_int_equal(parse("e.txt", "\xef\xbb\xbf", CTL_FMT_AUTO), 0);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.ndiags, 0);
}

static void test_plain_mixed_scripts(void **state)
{
	static const char *const want[] = { "xn--80aswg.xn--p1ai" };

	assert_int_equal(parse("m.txt", "сайт.рф\nраураl.com\nɡoogle.com\nexample.соm\nехоре.com\n", CTL_FMT_PLAIN), 0);
	assert_int_equal(b.nerrors, 3);
	diag_is(0, "m.txt", 2, true, "'раураl.com': label 'раураl' mixes scripts (Latin + Cyrillic): confusable");
	/* ɡ (U+0261, Latin small script g) is Latin: not mixed */
	assert_int_equal(b.n, 2);
	diag_is(1, "m.txt", 4, true, "'example.соm': label 'соm' mixes scripts (Latin + Cyrillic): confusable");
	diag_is(2, "m.txt", 5, true, "'ехоре.com': label 'ехоре' is written in Cyrillic letters that look Latin: confusable");
	assert_string_equal(b.items[0].name, want[0]);
}

static void test_utf16(void **state)
{
	/* "a1.example\r\nbü.example\n" in UTF-16LE with a BOM (as Excel saves "Unicode text") */
	static const char *const want[] = { "a1.example", "xn--b-eha.example" };
	const char *s = "a1.example\r\nb\xc3\xbc.example\n";
	char buf[128];
	size_t n = 2;

	buf[0] = (char)0xff;
	buf[1] = (char)0xfe;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned cp = *p;
		if (*p == 0xc3) {
			cp = 0xfc;
			p++;
		}
		buf[n++] = (char)(cp & 0xff);
		buf[n++] = (char)(cp >> 8);
	}
	assert_int_equal(parse_len("u16.txt", buf, n, CTL_FMT_AUTO), 0);
	names_are(want, 2);
	diag_is(0, "u16.txt", 1, false, "UTF-16 file converted to UTF-8");
	assert_int_equal(b.items[1].line, 2);
}

/* UTF-8 s (BMP only) as UTF-16: big-endian or not, with a BOM or not. */
static size_t utf16(const char *s, bool be, bool bom, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (bom) {
		out[n++] = (char)(be ? 0xfe : 0xff);
		out[n++] = (char)(be ? 0xff : 0xfe);
	}
	while (*p) {
		unsigned cp = *p++;
		if (cp >= 0xe0) {
			cp = (cp & 0x0f) << 12 | (unsigned)(p[0] & 0x3f) << 6 | (p[1] & 0x3f);
			p += 2;
		} else if (cp >= 0xc0) {
			cp = (cp & 0x1f) << 6 | (p[0] & 0x3f);
			p++;
		}
		out[n++] = (char)(be ? cp >> 8 : cp & 0xff);
		out[n++] = (char)(be ? cp & 0xff : cp >> 8);
	}
	return n;
}

/* Excel's "Unicode text" saved as .txt (issue 11): UTF-16LE with a BOM, TAB
 * separated columns, CRLF; a header row names the domain column. */
static void test_excel_unicode_text(void **state)
{
	static const char *const want[] = { "xn--mnchen-stream-wob.example", "pirate.example" };
	static const char *const sheet = "Dominio\tOrdine\tNote\r\n"
					 "m\xc3\xbc" "nchen-stream.example\t12/2026\tlive, calcio\r\n"
					 "pirate.example\t12/2026\t\r\n";
	char buf[512];
	size_t n = utf16(sheet, false, true, buf);

	assert_int_equal(parse_len("lista.txt", buf, n, CTL_FMT_AUTO), 0);
	names_are(want, 2);
	assert_int_equal(b.nerrors, 0);
	assert_int_equal(b.ndiags, 1);
	diag_is(0, "lista.txt", 1, false, "UTF-16 file converted to UTF-8");
	assert_int_equal(b.items[1].line, 3);

	/* big-endian without a BOM: recognised by its NULs */
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	n = utf16(sheet, true, false, buf);
	assert_int_equal(parse_len("be.txt", buf, n, CTL_FMT_AUTO), 0);
	names_are(want, 2);
	diag_is(0, "be.txt", 1, false, "no byte-order mark, but every other octet is NUL: read as UTF-16BE");

	/* no header row: the columns are named, and the hint says what is missing */
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	n = utf16("m\xc3\xbcnchen-stream.example\t12/2026\r\n", false, false, buf);
	assert_int_equal(parse_len("nh.txt", buf, n, CTL_FMT_AUTO), RS_EINVAL);
	diag_is(0, "nh.txt", 1, false, "no byte-order mark, but every other octet is NUL: read as UTF-16LE");
	diag_is(1, "nh.txt", 1, true,
		"no domain column in the tab-separated header (columns: m\xc3\xbcnchen-stream.example, 12/2026); "
		"choose one with --column, or add a header row naming the column 'domain': the first row looks "
		"like data");
	assert_int_equal(b.n, 0);

	/* a plain .txt list stays a list, even with a TAB before a comment */
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	assert_int_equal(parse("p.txt", "a1.example\t# first\na2.example\n", CTL_FMT_AUTO), 0);
	assert_int_equal(b.n, 2);
	assert_int_equal(ctl_detect("x.txt", "domain\r\nx.example\r\n", 20), CTL_FMT_CSV);
	assert_int_equal(ctl_detect("x.txt", "x.example\ty\n", 12), CTL_FMT_CSV);
	assert_int_equal(ctl_detect("x.txt", "x.example, y.example\n", 21), CTL_FMT_PLAIN);
}

/* Files that are neither UTF-8 nor UTF-16 are refused as a whole, saying what
 * they look like and how to save them. */
static void test_not_text(void **state)
{
	static const char utf32[] = "\xff\xfe\0\0a\0\0\0.\0\0\0e\0\0\0x\0\0\0\n\0\0\0";
	static const char nobom32[] = "a\0\0\0.\0\0\0e\0\0\0x\0\0\0\n\0\0\0";
	char buf[128];
	size_t n = utf16("a1.example\n", false, false, buf);

	assert_int_equal(parse_len("odd.txt", buf, n - 1, CTL_FMT_AUTO), RS_EINVAL);
	diag_is(0, "odd.txt", 1, true,
		"looks like UTF-16 without a byte-order mark, but has an odd number of octets (cut short?): "
		"save it as 'CSV UTF-8' or 'Unicode text' (UTF-16), or convert it to UTF-8");
	assert_int_equal(parse_len("w.txt", "PK\3\4\x14\0\6\0", 8, CTL_FMT_AUTO), RS_EINVAL);
	diag_is(1, "w.txt", 1, true,
		"a ZIP archive (an Excel .xlsx or OpenDocument workbook?), not a text file: save it as 'CSV UTF-8' "
		"or 'Unicode text' (UTF-16), or convert it to UTF-8");
	assert_int_equal(parse_len("n32.txt", nobom32, sizeof(nobom32) - 1, CTL_FMT_AUTO), RS_EINVAL);
	assert_non_null(strstr(b.diags[2].text, "NUL octets all through: not UTF-8 or UTF-16 text"));
	assert_int_equal(b.n, 0);
	/* UTF-32 with its BOM is converted */
	assert_int_equal(parse_len("u32.txt", utf32, sizeof(utf32) - 1, CTL_FMT_AUTO), 0);
	diag_is(3, "u32.txt", 1, false, "UTF-32 file converted to UTF-8");
	assert_string_equal(b.items[0].name, "a.ex");

	/* Latin-1 / Windows-1252 ("ANSI"): each line says why, the file is refused */
	assert_int_equal(parse("l1.txt", "a1.example\nm\xfcnchen.example\na2.example\n", CTL_FMT_AUTO), RS_EINVAL);
	diag_is(4, "l1.txt", 2, true, "'m\\xfcnchen.example': invalid UTF-8 at octet 2");
	diag_is(5, "l1.txt", 2, true,
		"the file is not UTF-8 or UTF-16 (invalid UTF-8 from this line on; saved as ANSI, Windows-1252 or "
		"Latin-1?): save it as 'CSV UTF-8' or 'Unicode text' (UTF-16), or convert it to UTF-8");
	assert_int_equal(b.n, 1); /* only u32.txt's name */
}

/* ---- CSV ---- */

static void test_csv(void **state)
{
	static const char *const want[] = { "pirate.example", "www.pirate.example", "bücher" };

	assert_int_equal(parse("o.csv",
			       "\xef\xbb\xbf" "id,Domain Name,notes\r\n"
			       "1,pirate.example,\"live, football\"\r\n"
			       "2,\"www.pirate.example\",\"two\r\nlines\"\r\n"
			       "3,,empty\r\n"
			       "4\r\n"
			       "5,\"192.0.2.1\",ip\r\n"
			       "6,\"a \"\"quoted\"\" name\",x\r\n",
			       CTL_FMT_AUTO),
			 0);
	names_are(want, 2);
	assert_int_equal(b.ndiags, 4);
	diag_is(0, "o.csv", 5, false, "empty domain field");
	diag_is(1, "o.csv", 6, true, "record has no field for the domain column");
	diag_is(2, "o.csv", 7, true, "'192.0.2.1': an IP address: redsink blocks names, not addresses");
	diag_is(3, "o.csv", 8, true,
		"'a \"quoted\" name': white space or a control character inside the name");
}

static void test_csv_semicolon_and_column(void **state)
{
	static const char *const want[] = { "a1.example", "a2.example" };

	/* a European spreadsheet: ';' separated, the domain column named by the caller */
	b.column = "sito";
	assert_int_equal(parse("s.csv", "n;sito;data\n1;a1.example;01/02/2026\n2;A2.EXAMPLE;03/02/2026\n", CTL_FMT_CSV), 0);
	names_are(want, 2);
	assert_int_equal(b.ndiags, 0);
}

static void test_csv_no_column(void **state)
{
	assert_int_equal(parse("x.csv", "id,target,notes\n1,a1.example,x\n", CTL_FMT_CSV), RS_EINVAL);
	diag_is(0, "x.csv", 1, true,
		"no domain column in the CSV header (columns: id, target, notes); choose one with --column");
	assert_int_equal(b.n, 0);
	assert_int_equal(parse("y.csv", "", CTL_FMT_CSV), RS_EINVAL);
	diag_is(1, "y.csv", 1, true, "empty CSV file: no header row");
}

static void test_csv_unterminated_quote(void **state)
{
	static const char *const want[] = { "a1.example" };

	assert_int_equal(parse("q.csv", "domain\na1.example\n\"a2.example\nrest of the file\n", CTL_FMT_CSV), 0);
	names_are(want, 1);
	diag_is(0, "q.csv", 3, true, "unterminated quoted field");
}

/* ---- JSON ---- */

static void test_json_ticket(void **state)
{
	static const char *const want[] = { "pirate.example", "xn--bcher-kva.example", "xn--ls8h" };

	assert_int_equal(parse("t.json",
			       "{\n"
			       "  \"ticket_id\": \"PS-2026-0042\",\n"
			       "  \"fqdn\": [\n"
			       "    \"pirate.example\",\n"
			       "    \"b\\u00fccher.example\",\n"
			       "    \"\\ud83d\\ude00.example\",\n"
			       "    42\n"
			       "  ],\n"
			       "  \"ipv4\": [\"192.0.2.1\"],\n"
			       "  \"meta\": {\"nested\": [1, 2.5e3, true, null]}\n"
			       "}\n",
			       CTL_FMT_AUTO),
			 0);
	names_are(want, 2);
	assert_int_equal(b.ndiags, 3);
	diag_is(0, "t.json", 6, true,
		"'\xf0\x9f\x98\x80.example': not a valid internationalised name (IDNA2008/UTS#46: string contains a "
		"disallowed character)");
	diag_is(1, "t.json", 7, true, "'42': not a string");
	diag_is(2, "t.json", 9, false, "'192.0.2.1': IP address ignored: this command takes names (add prefixes with "
				       "'redsink-ctl addip', or import the whole ticket with --format piracy-shield)");
}

static void test_json_shapes(void **state)
{
	static const char *const want[] = { "a1.example", "a2.example", "a3.example" };

	assert_int_equal(parse("a.json", "[\"a1.example\", \"a2.example\"]", CTL_FMT_JSON), 0);
	assert_int_equal(parse("n.json", "{\"data\": {\"fqdn\": [\"a3.example\"]}}", CTL_FMT_JSON), 0);
	names_are(want, 3);
	assert_int_equal(parse("e.json", "{\"ticket\": 1}", CTL_FMT_JSON), RS_EINVAL);
	diag_is(0, "e.json", 1, true, "no \"fqdn\" array in the JSON ticket");
	assert_int_equal(parse("z.json", "", CTL_FMT_JSON), RS_EINVAL);
	diag_is(1, "z.json", 1, true, "empty JSON file");
}

static void test_json_hostile(void **state)
{
	char *deep = malloc(20001);
	static const char nul[] = "{\"fqdn\": [\"a\0b.example\"]}";

	assert_int_equal(parse("s.json", "{\"fqdn\": [\"a1.example\",\n\n \"a2.example\" \"x\"]}", CTL_FMT_JSON), RS_EINVAL);
	diag_is(0, "s.json", 3, true, "JSON syntax error: expected ',' or ']' in an array");
	assert_int_equal(b.n, 0); /* a file with a syntax error contributes no name */
	assert_int_equal(parse("u.json", "{\"fqdn\": [\"a1.example", CTL_FMT_JSON), RS_EINVAL);
	diag_is(1, "u.json", 1, true, "JSON syntax error: unterminated string");
	assert_int_equal(parse("c.json", "{\"fqdn\": [\"a1.\nexample\"]}", CTL_FMT_JSON), RS_EINVAL);
	diag_is(2, "c.json", 1, true, "JSON syntax error: newline inside a string");
	/* a raw NUL inside a string is a control character; an escaped one is a NUL in a name */
	assert_int_equal(parse_len("r.json", nul, sizeof(nul) - 1, CTL_FMT_JSON), RS_EINVAL);
	diag_is(3, "r.json", 1, true, "JSON syntax error: control character inside a string");
	assert_int_equal(parse("v.json", "{\"fqdn\": [\"a\\u0000b.example\"]}", CTL_FMT_JSON), 0);
	diag_is(4, "v.json", 1, true, "'a\\x00b.example': contains a NUL byte");
	/* 10,000 nested arrays: refused, not a stack overflow */
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	assert_int_equal(parse("d.json", deep, CTL_FMT_JSON), RS_EINVAL);
	diag_is(5, "d.json", 1, true, "JSON syntax error: nested too deeply");
	assert_int_equal(parse("g.json", "{\"fqdn\": []} trailing", CTL_FMT_JSON), RS_EINVAL);
	diag_is(6, "g.json", 1, true, "JSON syntax error: text after the JSON value");
	assert_int_equal(b.n, 0);
	free(deep);
}

/* ---- RPZ ---- */

static void test_rpz(void **state)
{
	static const char *const want[] = { "pirate.example", "www.other.example", "nodata.example", "wild.example",
					    "abs.example" };

	assert_int_equal(parse("p.rpz",
			       "$TTL 60\n"
			       "$ORIGIN rpz.test.\n"
			       "@ IN SOA localhost. root.localhost. (\n"
			       "        1 ; serial\n"
			       "        3600 600 86400 60 )\n"
			       "  IN NS localhost.\n"
			       "pirate.example CNAME .\n"
			       "*.pirate.example CNAME .\n"
			       "www.other.example 300 IN A 192.0.2.1\n"
			       "                  IN AAAA 2001:db8::1\n"
			       "nodata.example CNAME *.\n"
			       "*.wild.example CNAME .\n"
			       "good.example CNAME rpz-passthru.\n"
			       "32.1.2.0.192.rpz-ip CNAME .\n"
			       "ns.evil.rpz-nsdname CNAME .\n"
			       "abs.example.rpz.test. CNAME . ; absolute\n"
			       "elsewhere.example. CNAME .\n",
			       CTL_FMT_AUTO),
			 0);
	names_are(want, 5);
	assert_int_equal(b.nerrors, 1);
	diag_is(0, "p.rpz", 13, false,
		"'good.example': passthru rule ignored (use 'redsink-ctl protect add' for names that must never be blocked)");
	diag_is(1, "p.rpz", 14, false,
		"'32.1.2.0.192.rpz-ip': IP trigger ignored: add address prefixes with 'redsink-ctl addip --format rpz'");
	diag_is(2, "p.rpz", 15, false,
		"'ns.evil.rpz-nsdname': IP, name-server or client trigger ignored: redsink blocks query names");
	diag_is(3, "p.rpz", 17, true, "'elsewhere.example.': not under the zone's origin 'rpz.test.'");
	diag_is(4, "p.rpz", 12, false,
		"only '*.wild.example' is listed: redsink blocks 'wild.example' and every name below it");
}

static void test_rpz_origin(void **state)
{
	static const char *const want[] = { "a1.example", "a2.example" };

	/* the SOA owner is the origin */
	assert_int_equal(parse("s.zone", "rpz.test. SOA a. b. 1 2 3 4 5\na1.example.rpz.test. CNAME .\n", CTL_FMT_RPZ), 0);
	/* no origin at all: relative names are fine, absolute ones cannot be placed */
	assert_int_equal(parse("n.zone", "a2.example CNAME .\na3.example.rpz.test. CNAME .\n", CTL_FMT_RPZ), 0);
	names_are(want, 2);
	diag_is(0, "n.zone", 2, true,
		"'a3.example.rpz.test.': absolute name, but the zone's origin is unknown (no $ORIGIN or SOA): use --origin");
	/* an SOA owned by '@' (issue 11): relative names are read, and an absolute
	 * one is not blamed on a missing SOA */
	assert_int_equal(parse("at.zone",
			       "$TTL 300\n"
			       "@ IN SOA localhost. root.localhost. ( 1 3600 600 86400 300 )\n"
			       "  IN NS localhost.\n"
			       "a5.example CNAME .\n"
			       "a6.example.rpz.test. CNAME .\n",
			       CTL_FMT_AUTO),
			 0);
	assert_int_equal(b.n, 3);
	assert_string_equal(b.items[2].name, "a5.example");
	diag_is(1, "at.zone", 5, true,
		"'a6.example.rpz.test.': absolute name, but the zone's origin is unknown (the SOA's owner is '@' and "
		"there is no $ORIGIN): give the zone's name with --origin");
	b.origin = "rpz.test";
	assert_int_equal(parse("at2.zone", "@ SOA a. b. 1 2 3 4 5\na7.example.rpz.test. CNAME .\n", CTL_FMT_AUTO), 0);
	assert_string_equal(b.items[3].name, "a7.example");
	b.origin = NULL;
	/* the caller's origin */
	b.origin = "rpz.test";
	assert_int_equal(parse("o.zone", "a4.example.rpz.test. CNAME .\n$INCLUDE other.zone\n", CTL_FMT_RPZ), 0);
	assert_string_equal(b.items[4].name, "a4.example");
	diag_is(2, "o.zone", 2, true, "'$INCLUDE': directive not supported");
}

/* ---- detection and files ---- */

static void test_detect(void **state)
{
	assert_int_equal(ctl_detect("x.CSV", "", 0), CTL_FMT_CSV);
	assert_int_equal(ctl_detect("x.json", "", 0), CTL_FMT_JSON);
	assert_int_equal(ctl_detect("x.rpz", "", 0), CTL_FMT_RPZ);
	assert_int_equal(ctl_detect("x.zone", "", 0), CTL_FMT_RPZ);
	assert_int_equal(ctl_detect("x.txt", "{", 1), CTL_FMT_PLAIN);
	assert_int_equal(ctl_detect("-", " \n{\"fqdn\":[]}", 12), CTL_FMT_JSON);
	assert_int_equal(ctl_detect("-", "$ORIGIN rpz.\n", 13), CTL_FMT_RPZ);
	assert_int_equal(ctl_detect("-", "x.example CNAME .\n", 18), CTL_FMT_RPZ);
	assert_int_equal(ctl_detect("-", "# list\ndomain\nx.example\n", 24), CTL_FMT_CSV);
	assert_int_equal(ctl_detect("-", "# list\nid;url\n1;x\n", 18), CTL_FMT_CSV);
	assert_int_equal(ctl_detect("-", "x.example\ny.example\n", 20), CTL_FMT_PLAIN);
	assert_int_equal(ctl_detect("-", "", 0), CTL_FMT_PLAIN);
	assert_int_equal(ctl_format_parse("RPZ"), CTL_FMT_RPZ);
	assert_int_equal(ctl_format_parse("xml"), -1);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/test_ctl_input.XXXXXX", *buf, err[300];
	size_t len;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a\0b\n", 4), 4);
	close(fd);
	assert_int_equal(ctl_read_file(path, &buf, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "a\0b\n", 5);
	free(buf);
	unlink(path);
	assert_int_equal(ctl_read_file(path, &buf, &len, err, sizeof(err)), RS_EIO);
	assert_non_null(strstr(err, "No such file or directory"));
}

static void test_many_names(void **state)
{
	/* 200,000 names: the set grows, duplicates are found, lines stay right */
	size_t n = 200000;
	char *text = malloc(n * 24 + 64), *p = text;

	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "d%zu.example\n", i);
	p += sprintf(p, "d77.example\n");
	assert_int_equal(parse("big.txt", text, CTL_FMT_PLAIN), 0);
	assert_int_equal(b.n, n);
	assert_int_equal(ctl_batch_find(&b, "d199999.example"), 199999);
	assert_int_equal(ctl_batch_find(&b, "d200000.example"), -1);
	diag_is(0, "big.txt", 200001, false, "'d77.example': duplicate of big.txt:78 ('d77.example')");
	free(text);
}

/* ---- address prefixes (issue 13) ---- */

static void prefixes_are(const char *const *want, size_t n)
{
	assert_int_equal(b.np, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(b.pitems[i].name, want[i]);
}

static void test_prefix_plain(void **state)
{
	static const char *const want[] = { "192.0.2.0/24", "198.51.100.7/32", "2001:db8::/48", "2001:db8::1/128" };

	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("p.txt",
			       "# pirate servers\n"
			       "192.0.2.0/24\n"
			       "198.51.100.7   # a bare address is /32\n"
			       "2001:DB8:0::/48\n"
			       "2001:db8::1\n"
			       "198.51.100.7/32\n"
			       "10.0.0.1/8\n"
			       "pirate.example\n"
			       "192.0.2.0/24 x\n",
			       CTL_FMT_PLAIN),
			 0);
	prefixes_are(want, 4);
	assert_int_equal(b.n, 0);
	diag_is(0, "p.txt", 4, false, "'2001:DB8:0::/48': written as 2001:db8::/48");
	diag_is(1, "p.txt", 6, false, "'198.51.100.7/32': duplicate of p.txt:3 ('198.51.100.7/32')");
	diag_is(2, "p.txt", 7, true, "'10.0.0.1/8': host bits set");
	assert_true(b.diags[3].error && b.diags[3].line == 8);
	assert_true(b.diags[4].error && b.diags[4].line == 9);
	assert_int_equal(b.nerrors, 3);
}

static void test_prefix_plain_both(void **state)
{
	static const char *const names[] = { "pirate.example", "cafe.example" };
	static const char *const pfx[] = { "192.0.2.1/32", "2001:db8::/32" };

	b.want = CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	assert_int_equal(parse("m.txt", "pirate.example\n192.0.2.1\ncafe.example\n2001:db8::/32\n", CTL_FMT_PLAIN), 0);
	names_are(names, 2);
	prefixes_are(pfx, 2);
}

static void test_prefix_csv(void **state)
{
	static const char *const pfx[] = { "192.0.2.9/32", "2001:db8::9/128", "198.51.100.0/24", "192.0.2.10/32" };
	static const char *const names[] = { "a.example", "b.example" };

	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.csv",
			       "fqdn,ipv4,ipv6,note\n"
			       "a.example,192.0.2.9,2001:db8::9,x\n"
			       "b.example,\"198.51.100.0/24, 192.0.2.10\",,y\n",
			       CTL_FMT_CSV),
			 0);
	prefixes_are(pfx, 4);
	assert_int_equal(b.n, 0);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	/* both: the domain column and the address columns */
	b.want = CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.csv", "fqdn,ipv4\na.example,192.0.2.9\nb.example,\n", CTL_FMT_CSV), 0);
	names_are(names, 2);
	assert_int_equal(b.np, 1);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	/* the column named, and no address column at all */
	b.want = CTL_WANT_PREFIXES;
	b.column = "server";
	assert_int_equal(parse("t.csv", "site,server\na.example,192.0.2.9\n", CTL_FMT_CSV), 0);
	assert_int_equal(b.np, 1);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	/* a NUL octet inside an address cell: that token is rejected, the others kept */
	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse_len("t.csv", "ip\n192.0.2.1 19\0002.0.2.2 192.0.2.3\n", 33, CTL_FMT_CSV), 0);
	assert_int_equal(b.np, 2);
	assert_int_equal(b.nerrors, 1);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.csv", "site,where\na.example,x\n", CTL_FMT_CSV), RS_EINVAL);
	assert_non_null(strstr(b.diags[0].text, "no address (ip, ipv4, ipv6, prefix, cidr) column"));
}

static void test_prefix_piracy_shield(void **state)
{
	static const char *const names[] = { "live-calcio.example", "www.live-calcio.example", "other.example" };
	static const char *const pfx[] = { "198.51.100.20/32", "192.0.2.128/25", "2001:db8:1::20/128",
					   "203.0.113.9/32" };

	b.want = CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.json",
			       "[{\"ticket_id\": \"PS-1\", \"fqdn\": [\"live-calcio.example\", \"www.live-calcio.example\"],\n"
			       "  \"ipv4\": [\"198.51.100.20\", \"192.0.2.128/25\"], \"ipv6\": [\"2001:db8:1::20\"]},\n"
			       " {\"ticket_id\": 17, \"fqdn\": [\"other.example\"], \"ipv4\": [\"203.0.113.9\", 5]}]\n",
			       CTL_FMT_PSHIELD),
			 0);
	names_are(names, 3);
	prefixes_are(pfx, 4);
	assert_int_equal(b.ntickets, 2);
	assert_string_equal(b.tickets[0], "PS-1");
	assert_string_equal(b.tickets[1], "17");
	diag_is(0, "t.json", 3, true, "'5': not a string");
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	/* a list of names is no ticket */
	b.want = CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.json", "[\"a.example\"]", CTL_FMT_PSHIELD), RS_EINVAL);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	/* addresses only: names noted and left out */
	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.json", "{\"fqdn\": [\"a.example\"], \"ipv4\": [\"192.0.2.1\"]}", CTL_FMT_JSON), 0);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.np, 1);
	assert_false(b.diags[0].error);
	ctl_batch_free(&b);
	ctl_batch_init(&b);
	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("t.json", "{\"fqdn\": [\"a.example\"]}", CTL_FMT_JSON), RS_EINVAL);
}

static void test_prefix_rpz(void **state)
{
	static const char *const pfx[] = { "192.0.2.0/24", "2001:db8::/48", "2001:db8:1::1/128", "2001:db8:1:2::/64",
					   "::/0", "::1/128" };

	b.want = CTL_WANT_PREFIXES;
	assert_int_equal(parse("z.rpz",
			       "$ORIGIN rpz.test.\n"
			       "@ SOA localhost. h.localhost. 1 3600 600 86400 60\n"
			       "24.0.2.0.192.rpz-ip CNAME .\n"
			       "48.zz.db8.2001.rpz-ip CNAME .\n"
			       "128.1.zz.1.db8.2001.rpz-ip CNAME .\n"
			       "64.zz.2.1.db8.2001.rpz-ip.rpz.test. CNAME .\n"
			       "0.zz.rpz-ip CNAME .\n"
			       "128.1.zz.rpz-ip CNAME .\n"
			       "pirate.example CNAME .\n"
			       "32.1.2.0.192.rpz-ip CNAME rpz-passthru.\n"
			       "24.1.2.0.192.rpz-ip CNAME .\n"
			       "24.x.2.0.192.rpz-ip CNAME .\n"
			       "24.zz.1.zz.rpz-ip CNAME .\n",
			       CTL_FMT_RPZ),
			 0);
	prefixes_are(pfx, 6);
	diag_is(0, "z.rpz", 9, false, "'pirate.example': name trigger ignored: this command takes address prefixes (rpz-ip)");
	assert_int_equal(b.nerrors, 3);
}

static void test_rpz_ip_round_trip(void **state)
{
	static const char *const cases[][2] = {
		{ "192.0.2.0/24", "24.0.2.0.192.rpz-ip" },     { "198.51.100.7/32", "32.7.100.51.198.rpz-ip" },
		{ "2001:db8::/48", "48.zz.db8.2001.rpz-ip" },   { "2001:db8:1::20/128", "128.20.zz.1.db8.2001.rpz-ip" },
		{ "::/0", "0.zz.rpz-ip" },                      { "::1/128", "128.1.zz.rpz-ip" },
		{ "2001:db8:0:1:0:0:0:1/128", "128.1.zz.1.0.db8.2001.rpz-ip" },
		{ "1:2:3:4:5:6:7:8/128", "128.8.7.6.5.4.3.2.1.rpz-ip" },
		{ "0.0.0.0/0", "0.0.0.0.0.rpz-ip" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rs_prefix p, q;
		char owner[128], text[128], canon[RS_PREFIX_TEXT_MAX];
		assert_int_equal(rs_prefix_parse(cases[i][0], &p, NULL, 0), 0);
		assert_true(ctl_rpz_ip_owner(&p, owner, sizeof(owner)) > 0);
		assert_string_equal(owner, cases[i][1]);
		assert_int_equal(ctl_rpz_ip_to_text(owner, strlen(owner), text, sizeof(text)), 0);
		assert_int_equal(rs_prefix_parse(text, &q, NULL, 0), 0);
		rs_prefix_format(&q, canon, sizeof(canon));
		assert_true(rs_prefix_equal(&p, &q));
	}
	{
		char text[128];
		assert_int_equal(ctl_rpz_ip_to_text("rpz-ip", 6, text, sizeof(text)), RS_EINVAL);
		assert_int_equal(ctl_rpz_ip_to_text("24", 2, text, sizeof(text)), RS_EINVAL);
		assert_int_equal(ctl_rpz_ip_to_text("1234.1.2.3.4", 12, text, sizeof(text)), RS_EINVAL);
		assert_int_equal(ctl_rpz_ip_to_text("24.12345.1.2.3", 14, text, sizeof(text)), RS_EINVAL);
		assert_int_equal(ctl_rpz_ip_to_text("64.1.2.3.4.5.6.7", 16, text, sizeof(text)), RS_EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_line_ends_and_bom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_nul_and_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_empty_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_mixed_scripts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf16, setup, teardown),
		cmocka_unit_test_setup_teardown(test_excel_unicode_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_semicolon_and_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_no_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_unterminated_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_ticket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_plain_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_piracy_shield, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_rpz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpz_ip_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
