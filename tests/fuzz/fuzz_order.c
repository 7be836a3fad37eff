/*
 * fuzz_order.c — order parsing and the answer texts (lib/order.c,
 * lib/text.c): rs_order_parse with fuzzed field/value pairs and a
 * configuration chosen by the input, then the invariants of
 * fuzz_order_check.h (TXT and EDE sizes, JSON well-formed, UTF-8).
 *
 * Input: one flag octet, then NUL-separated strings.
 *   flags bits 0-1  ede-format: 0 json, 1 text, 2 off, 3 json
 *         bit 2     jurisdiction "IT" (else none)
 *         bits 3-4  number of contact URIs (0-3)
 *         bit 5     the first two strings are the txt-text and ede-text
 *                   templates (else the defaults of redsink.conf)
 *         bit 6     no default language in the configuration
 *   strings         [txt-text, ede-text,] order id, field, value, field, value...
 * Also run on every value: rs_rfc3339_parse, rs_scope_includes, and
 * rs_windows_parse (its result checked as fz_check_windows says, and parsing
 * its canonical text again giving the same windows).
 */
#include "fuzz_common.h"
#include "fuzz_order_check.h"

#define MAX_STRINGS 64

/* rs_windows_parse on any text: a valid result is canonical and idempotent. */
static void fz_windows(const char *v)
{
	char err[512], *canon, *canon2;
	int64_t *win, *win2;
	uint16_t n, n2;
	int rc = rs_windows_parse(v, &canon, &win, &n, err, sizeof(err));

	if (rc) {
		FZ_CHECK(rc == RS_EINVAL && canon == NULL && win == NULL && n == 0);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0] != '\0');
		return;
	}
	fz_check_windows(canon, win, n);
	FZ_CHECK(rs_windows_parse(canon, &canon2, &win2, &n2, err, sizeof(err)) == 0);
	FZ_CHECK(strcmp(canon, canon2) == 0 && n == n2 && (n == 0 || memcmp(win, win2, 2 * n * sizeof(*win)) == 0));
	free(canon);
	free(canon2);
	free(win);
	free(win2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *contacts[] = { "mailto:noc@example.org", "tel:+39-06-1234",
				    "https://example.org/\"contact\"\\" };
	struct rs_conf c = { 0 };
	char *s[MAX_STRINGS], *store, err[256];
	const char *kv[MAX_STRINGS];
	struct rs_order *o = NULL;
	size_t n, first = 0, npairs;
	uint8_t flags;
	int rc;

	if (size < 1)
		return 0;
	fz_quiet();
	flags = data[0];
	n = fz_split(data + 1, size - 1, s, MAX_STRINGS, &store);
	c.ede_format = (flags & 3) == 3 ? RS_EDE_JSON : (flags & 3);
	c.jurisdiction = (flags & 4) ? "IT" : NULL;
	c.ncontacts = (flags >> 3) & 3;
	c.contacts = contacts;
	c.txt_text = "Blocked by order {reference} of {authority}. {url}";
	c.ede_text = "Blocked by order {reference} of {authority}";
	c.language = (flags & 64) ? NULL : "en";
	if ((flags & 32) && n >= 2) {
		c.txt_text = s[0];
		c.ede_text = s[1];
		first = 2;
	}
	if (n <= first) {
		free(store);
		return 0;
	}
	npairs = (n - first - 1) / 2;
	for (size_t i = 0; i < 2 * npairs; i++)
		kv[i] = s[first + 1 + i];
	for (size_t i = 0; i < npairs; i++) {
		int64_t t;
		if (rs_rfc3339_parse(kv[2 * i + 1], &t) == 0 && strlen(kv[2 * i + 1]) == 10)
			FZ_CHECK(t % 86400 == 0); /* a plain date is midnight UTC */
		(void)rs_scope_includes(kv[2 * i + 1], c.jurisdiction);
		fz_windows(kv[2 * i + 1]);
	}
	rc = rs_order_parse(&c, s[first], kv, npairs, &o, err, sizeof(err));
	if (rc == 0) {
		fz_check_order(&c, o);
		FZ_CHECK(strcmp(o->id, s[first]) == 0);
		(void)rs_order_applies(o, 1700000000);
		rs_order_free(o);
	} else {
		FZ_CHECK(rc == RS_EINVAL && o == NULL);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0] != '\0');
	}
	free(store);
	return 0;
}
