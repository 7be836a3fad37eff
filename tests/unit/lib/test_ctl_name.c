/* test_ctl_name.c — redsink-ctl's canonicalisation of one name, with hostile input
 * (NUL, invalid UTF-8, 10,000-octet tokens, IPs, mixed and confusable scripts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl_name.h"
#include "rs_err.h"

static struct ctl_name_res res;

static int canon(const char *s, unsigned flags)
{
	return ctl_name_canon(s, strlen(s), flags, &res);
}

#define OK(in, want)                                       \
	do {                                               \
		assert_int_equal(canon(in, 0), 0);         \
		assert_string_equal(res.name, want);       \
		assert_string_equal(res.warn, "");         \
	} while (0)

#define BAD(in, code, msg)                                 \
	do {                                               \
		assert_int_equal(canon(in, 0), code);      \
		assert_string_equal(res.err, msg);         \
		assert_string_equal(res.name, "");         \
	} while (0)

static void test_ascii(void **state)
{
	OK("Pirate.EXAMPLE", "pirate.example");
	OK("pirate.example.", "pirate.example");
	OK("  pirate.example\t\r\n", "pirate.example");
	OK("_dmarc.x-y.example", "_dmarc.x-y.example");
	/* reserved hyphens are fine in ASCII names (r3---sn-x.googlevideo.com) */
	OK("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com");
	OK("xn--bcher-kva.example", "xn--bcher-kva.example");
	OK("XN--BCHER-KVA.Example", "xn--bcher-kva.example");
	assert_int_equal(canon("", 0), CTL_NAME_BLANK);
	assert_int_equal(canon(" \t ", 0), CTL_NAME_BLANK);
}

static void test_invisible_spaces_trimmed(void **state)
{
	OK("\xef\xbb\xbfpirate.example", "pirate.example");     /* BOM */
	OK("\xc2\xa0pirate.example\xc2\xa0", "pirate.example"); /* no-break spaces (spreadsheets) */
	OK("pirate.example\xe2\x80\x8b", "pirate.example");     /* zero-width space */
	OK("\xe3\x80\x80pirate.example", "pirate.example");     /* ideographic space */
	BAD("pirate\xc2\xa0site.example", CTL_NAME_SPACE, "white space inside the name");
	BAD("pirate site.example", CTL_NAME_SPACE, "white space or a control character inside the name");
	BAD("pirate\x01.example", CTL_NAME_SPACE, "white space or a control character inside the name");
}

static void test_unicode(void **state)
{
	OK("Bücher.example", "xn--bcher-kva.example");
	OK("bücher.example.", "xn--bcher-kva.example");
	OK("bücher。example", "xn--bcher-kva.example"); /* ideographic full stop */
	OK("straße.de", "xn--strae-oqa.de");              /* IDNA2008: ß kept (non-transitional) */
	OK("παράδειγμα.δοκιμή", "xn--hxajbheg2az3al.xn--jxalpdlp");
	OK("пример.рф", "xn--e1afmkfd.xn--p1ai");
	OK("例え.テスト", "xn--r8jz45g.xn--zckzah");
	/* Latin with the CJK scripts is normal in Japanese names */
	OK("abcひらがな漢字.example", "xn--abc-r73b4fvb9jq026a6htb.example");
	OK("_dmarc.bücher.de", "_dmarc.xn--bcher-kva.de");
}

static void test_unicode_mapped_to_ascii_warns(void **state)
{
	/* fullwidth letters: UTS #46 maps them to plain ASCII */
	assert_int_equal(canon("ｅｘａｍｐｌｅ．ｃｏｍ", 0), 0);
	assert_string_equal(res.name, "example.com");
	assert_string_equal(res.warn, "Unicode mapping turned the name into plain 'example.com'");
	/* a soft hyphen is mapped to nothing */
	assert_int_equal(canon("exa\xc2\xadmple.com", 0), 0);
	assert_string_equal(res.name, "example.com");
	assert_string_equal(res.warn, "Unicode mapping turned the name into plain 'example.com'");
}

static void test_confusables(void **state)
{
	/* Cyrillic а (U+0430) among Latin letters */
	BAD("pаypal.com", CTL_NAME_MIXED, "label 'pаypal' mixes scripts (Latin + Cyrillic): confusable");
	/* the same, already as an A-label */
	BAD("xn--pypal-4ve.com", CTL_NAME_MIXED, "label 'pаypal' mixes scripts (Latin + Cyrillic): confusable");
	/* Greek omicron in a Latin label */
	BAD("gοogle.com", CTL_NAME_MIXED, "label 'gοogle' mixes scripts (Latin + Greek): confusable");
	/* whole-script: every letter Cyrillic and Latin-looking, under .com */
	BAD("аррӏе.com", CTL_NAME_WHOLE, "label 'аррӏе' is written in Cyrillic letters that look Latin: confusable");
	BAD("xn--80ak6aa92e.com", CTL_NAME_WHOLE,
	    "label 'аррӏе' is written in Cyrillic letters that look Latin: confusable");
	/* under a Cyrillic TLD the same letters are ordinary Russian */
	OK("сосо.рф", "xn--n1aahb.xn--p1ai");
	/* --allow-confusable: accepted, with the reason as a warning */
	assert_int_equal(canon("pаypal.com", CTL_ALLOW_CONFUSABLE), 0);
	assert_string_equal(res.name, "xn--pypal-4ve.com");
	assert_string_equal(res.warn, "label 'pаypal' mixes scripts (Latin + Cyrillic): confusable");
}

static void test_urls_and_wildcards(void **state)
{
	assert_int_equal(canon("https://Www.Pirate.example/path/x?y=1#z", 0), 0);
	assert_string_equal(res.name, "www.pirate.example");
	assert_string_equal(res.warn, "URL reduced to its host 'Www.Pirate.example'");
	assert_int_equal(canon("http://user:pw@pirate.example:8080/", 0), 0);
	assert_string_equal(res.name, "pirate.example");
	assert_int_equal(canon("pirate.example/live/stream", 0), 0);
	assert_string_equal(res.name, "pirate.example");
	assert_string_equal(res.warn, "URL reduced to its host 'pirate.example'");
	assert_int_equal(canon("https://bücher.example/", 0), 0);
	assert_string_equal(res.name, "xn--bcher-kva.example");
	assert_int_equal(canon("*.pirate.example", 0), 0);
	assert_string_equal(res.name, "pirate.example");
	assert_string_equal(res.warn,
			    "wildcard reduced to 'pirate.example', which blocks the name and every name below it");
	BAD("a.*.example", CTL_NAME_WILDCARD, "'*' is only allowed as a leading '*.' label");
	BAD("*pirate.example", CTL_NAME_WILDCARD, "'*' is only allowed as a leading '*.' label");
	BAD("https:///path", CTL_NAME_URL, "a URL without a host name");
	BAD("http://[2001:db8::1]/x", CTL_NAME_IP, "a URL with an IP address: redsink blocks names, not addresses");
	assert_int_equal(canon("https://x.example/", CTL_NO_REDUCE), CTL_NAME_URL);
	assert_int_equal(canon("*.x.example", CTL_NO_REDUCE), CTL_NAME_WILDCARD);
}

static void test_addresses(void **state)
{
	const char *msg = "an IP address: redsink blocks names, not addresses";

	BAD("192.0.2.1", CTL_NAME_IP, msg);
	BAD("192.0.2.0/24", CTL_NAME_IP, msg);
	BAD("2001:db8::1", CTL_NAME_IP, msg);
	BAD("[2001:db8::1]", CTL_NAME_IP, msg);
	BAD("https://192.0.2.1/x", CTL_NAME_IP, msg);
	BAD("1.2.3", CTL_NAME_NUMERIC, "the top-level label '3' is numeric (an IP address?)");
	BAD("999.999.999.999", CTL_NAME_NUMERIC, "the top-level label '999' is numeric (an IP address?)");
	assert_true(ctl_is_ip("::ffff:192.0.2.1", 16));
	assert_false(ctl_is_ip("192.0.2.1/", 10));
	assert_false(ctl_is_ip("pirate.example", 14));
}

static void test_hostile_bytes(void **state)
{
	char *big;

	assert_int_equal(ctl_name_canon("pirate\0.example", 15, 0, &res), CTL_NAME_NUL);
	assert_string_equal(res.err, "contains a NUL byte");
	BAD("pi\xc3rate.example", CTL_NAME_UTF8, "invalid UTF-8 at octet 3");
	BAD("\xc0\xafpirate.example", CTL_NAME_UTF8, "invalid UTF-8 at octet 1");           /* overlong '/' */
	BAD("pirate\xed\xa0\x80.example", CTL_NAME_UTF8, "invalid UTF-8 at octet 7");       /* a surrogate */
	BAD("pirate\xf4\x90\x80\x80.example", CTL_NAME_UTF8, "invalid UTF-8 at octet 7");   /* > U+10FFFF */
	/* 10,000 octets on one line */
	big = malloc(10001);
	memset(big, 'a', 10000);
	big[10000] = '\0';
	BAD(big, CTL_NAME_TOOLONG, "10000 octets: far too long for a domain name");
	/* 2,000: short enough to look at, far too long for a name */
	big[2000] = '\0';
	BAD(big, RS_ENAME_LEN, "name longer than 253 octets");
	/* a 64-octet label, in Unicode */
	memset(big, 'a', 60);
	strcpy(big + 60, "üüüü.example");
	assert_true(canon(big, 0) < 0);
	free(big);
	BAD("a..example", RS_ENAME_LABEL, "empty label");
	BAD(".", RS_ENAME_EMPTY, "empty name");
	BAD("pirate!.example", RS_ENAME_CHAR, "character not allowed in a domain (letters, digits, '-', '_')");
}

static void test_idna_rejections(void **state)
{
	/* zero-width joiner outside its CONTEXTJ rule */
	BAD("a\xe2\x80\x8d" "b.com", CTL_NAME_IDNA,
	    "not a valid internationalised name (IDNA2008/UTS#46: string contains a forbidden context-j character)");
	/* a right-to-left override */
	assert_true(canon("pirate\xe2\x80\xae" "elpmaxe.com", 0) < 0);
	/* emoji are not IDNA2008 */
	BAD("\xf0\x9f\x98\x80.com", CTL_NAME_IDNA,
	    "not a valid internationalised name (IDNA2008/UTS#46: string contains a disallowed character)");
	/* broken punycode */
	BAD("xn--zz.example", CTL_NAME_ALABEL, "label 'xn--zz' is not a valid A-label (bad punycode)");
	BAD("xn--abc.example", CTL_NAME_ALABEL,
	    "label 'xn--abc' is valid punycode but not IDNA2008 (string contains a disallowed character)");
	/* an existing emoji domain given as an A-label: only with --allow-confusable, and a warning */
	BAD("xn--ls8h.la", CTL_NAME_ALABEL,
	    "label 'xn--ls8h' is valid punycode but not IDNA2008 (string contains a disallowed character)");
	assert_int_equal(canon("xn--ls8h.la", CTL_ALLOW_CONFUSABLE), 0);
	assert_string_equal(res.name, "xn--ls8h.la");
	assert_string_equal(res.warn,
			    "label 'xn--ls8h' is valid punycode but not IDNA2008 (string contains a disallowed character)");
	/* an A-label with nothing encoded in it */
	BAD("xn--pirate-.example", CTL_NAME_ALABEL, "label 'xn--pirate-' is not a valid A-label (bad punycode)");
}

static void test_show(void **state)
{
	char out[200];

	assert_string_equal(ctl_show("a\0b", 3, 80, out, sizeof(out)), "a\\x00b");
	assert_string_equal(ctl_show("a\xe2\x80\xae" "b", 5, 80, out, sizeof(out)), "a\\u{202e}b");
	assert_string_equal(ctl_show("bücher", 7, 80, out, sizeof(out)), "bücher");
	assert_string_equal(ctl_show("\xff\x1b[31m", 6, 80, out, sizeof(out)), "\\xff\\x1b[31m");
	assert_string_equal(ctl_show("abcdef", 6, 3, out, sizeof(out)), "abc...");
	assert_string_equal(ctl_show("a\\b", 3, 80, out, sizeof(out)), "a\\\\b");
	assert_string_equal(ctl_show("abcdef", 6, 80, out, 4), "abc");
}

/* The Unicode form shown to people (issue 11): both forms where people read,
 * but never a confusable, invalid or non-canonical one. */
static void test_unicode_display(void **state)
{
	char u[CTL_UNAME_MAX], d[CTL_DNAME_MAX], small[8], n[RS_NAME_MAX + 1];

	(void)state;
	assert_true(ctl_name_unicode("xn--mnchen-stream-wob.example", u, sizeof(u)));
	assert_string_equal(u, "m\xc3\xbcnchen-stream.example");
	assert_string_equal(ctl_name_display("xn--mnchen-stream-wob.example", d, sizeof(d)),
			    "m\xc3\xbcnchen-stream.example (xn--mnchen-stream-wob.example)");
	assert_true(ctl_name_unicode("xn--vv4b11d.xn--3e0b707e", u, sizeof(u)));
	assert_string_equal(u, "\xec\x98\x88\xec\x8b\x9c.\xed\x95\x9c\xea\xb5\xad");
	assert_true(ctl_name_unicode("www.xn--hxargifdar.gr", u, sizeof(u)));
	/* plain names, and what must stay an A-label */
	assert_false(ctl_name_unicode("pirate.example", u, sizeof(u)));
	assert_string_equal(u, "pirate.example");
	assert_string_equal(ctl_name_display("pirate.example", d, sizeof(d)), "pirate.example");
	assert_false(ctl_name_unicode("xn--80ak6aa92e.com", u, sizeof(u))); /* whole-script "apple" */
	assert_string_equal(u, "xn--80ak6aa92e.com");
	assert_string_equal(ctl_name_display("xn--80ak6aa92e.com", d, sizeof(d)), "xn--80ak6aa92e.com");
	assert_false(ctl_name_unicode("xn--pple-43d.com", u, sizeof(u)));    /* mixed scripts */
	assert_false(ctl_name_unicode("xn--ls8h.la", u, sizeof(u)));         /* emoji: not IDNA2008 */
	assert_false(ctl_name_unicode("xn--zz.example", u, sizeof(u)));      /* bad punycode */
	assert_false(ctl_name_unicode("xn--pirate-.example", u, sizeof(u))); /* decodes to ASCII */
	assert_false(ctl_name_unicode("XN--MNCHEN-STREAM-WOB.example", u, sizeof(u))); /* not canonical */
	assert_false(ctl_name_unicode("xn--mnchen-stream-wob.example.", u, sizeof(u)));
	assert_false(ctl_name_unicode("<b>xn--mnchen-stream-wob.example", u, sizeof(u)));
	assert_false(ctl_name_unicode("xn--mnchen-stream-wob.xn--zz.example", u, sizeof(u))); /* all or none */
	assert_string_equal(u, "xn--mnchen-stream-wob.xn--zz.example");
	/* a buffer too small keeps (a cut copy of) the name, never half a character */
	assert_false(ctl_name_unicode("xn--mnchen-stream-wob.example", small, sizeof(small)));
	assert_string_equal(small, "xn--mnc");
	assert_string_equal(ctl_name_display("xn--mnchen-stream-wob.example", small, sizeof(small)), "xn--mnc");

	/* looking a name up: Unicode like push, no reduction */
	assert_int_equal(ctl_name_arg("M\xc3\xbcnchen-Stream.example", n), 0);
	assert_string_equal(n, "xn--mnchen-stream-wob.example");
	assert_int_equal(ctl_name_arg("xn--mnchen-stream-wob.example.", n), 0);
	assert_string_equal(n, "xn--mnchen-stream-wob.example");
	assert_int_equal(ctl_name_arg("\xd0\xb0pple.com", n), 0); /* confusable: still searchable */
	assert_string_equal(n, "xn--pple-43d.com");
	assert_int_equal(ctl_name_arg("*.x.example", n), CTL_NAME_WILDCARD);
	assert_int_equal(ctl_name_arg("https://x.example/", n), CTL_NAME_URL);
	assert_int_equal(ctl_name_arg(" ", n), RS_ENAME_EMPTY);
	assert_string_equal(n, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii),
		cmocka_unit_test(test_invisible_spaces_trimmed),
		cmocka_unit_test(test_unicode),
		cmocka_unit_test(test_unicode_mapped_to_ascii_warns),
		cmocka_unit_test(test_confusables),
		cmocka_unit_test(test_urls_and_wildcards),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_idna_rejections),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_unicode_display),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
