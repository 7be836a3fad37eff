/*
 * fuzz_disc.c — the discovered-names contract (lib/disc.c): the module's
 * name writer (rs_disc_name) and the readers redsink-stats and redsink-warnd
 * use on hostile Redis data (rs_disc_name_parse, rs_disc_field_parse,
 * rs_disc_value_parse), and the registrable-domain approximation
 * (rs_disc_base) of the collateral alarm.
 *
 * Input: one mode octet, then the rest.
 *   mode bit 0 clear  the rest is text (cut at the first NUL octet): a name,
 *                     a discovered field and an index value;
 *   mode bit 0 set    the rest is a wire name (any octets) for the writer.
 *
 * Invariants checked:
 *  - writer: a non-empty result is printable ASCII without '|' or space,
 *    at most RS_DISC_NAME_MAX octets, and the reader gives back the wire
 *    name, lowercased, octet for octet; an empty result only for the root or
 *    a malformed wire name;
 *  - reader: what it accepts, the writer writes again exactly (one spelling
 *    per name), and its wire length is that of a well-formed name;
 *  - fields: an accepted field is "<name>|<order>|<prefix>" rebuilt exactly
 *    by rs_disc_field from its parts (name accepted by the reader, order id
 *    valid, prefix canonical); a value likewise "<order>|<prefix>";
 *  - base: the offset starts a label of the name, and the base has at most
 *    three labels.
 */
#include "fuzz_common.h"

#include "disc.h"
#include "name.h"
#include "order.h"
#include "prefix.h"

static size_t labels_from(const uint8_t *w, size_t len, size_t off, bool *at_label)
{
	size_t n = 0;

	*at_label = false;
	for (size_t p = 0; p < len && w[p]; p += 1 + (size_t)w[p]) {
		if (p == off)
			*at_label = true;
		if (p >= off)
			n++;
	}
	if (off == 0)
		*at_label = true;
	return n;
}

static void check_writer(const uint8_t *w, size_t len)
{
	char out[RS_DISC_NAME_MAX + 1], again[RS_DISC_NAME_MAX + 1];
	uint8_t back[RS_WIRE_MAX];
	size_t n = rs_disc_name(w, len, out);
	int wl;

	FZ_CHECK(strlen(out) == n && n <= RS_DISC_NAME_MAX);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		FZ_CHECK(out[i] > ' ' && out[i] < 0x7f && out[i] != '|' && !(out[i] >= 'A' && out[i] <= 'Z'));
	wl = rs_disc_name_parse(out, n, back);
	FZ_CHECK(wl > 1 && wl <= RS_WIRE_MAX && (size_t)wl <= len);
	for (int i = 0; i < wl; i++) {
		uint8_t c = w[i] >= 'A' && w[i] <= 'Z' ? (uint8_t)(w[i] + 32) : w[i];
		FZ_CHECK(back[i] == c); /* a length octet (<= 63) is never a letter */
	}
	FZ_CHECK(rs_disc_name(back, (size_t)wl, again) == n && memcmp(again, out, n) == 0);
	{
		bool at;
		size_t b = rs_disc_base(back, (size_t)wl);
		FZ_CHECK(b < (size_t)wl);
		FZ_CHECK(labels_from(back, (size_t)wl, b, &at) <= 3 && at);
	}
}

static void check_text(const char *s)
{
	uint8_t w[RS_WIRE_MAX];
	char out[RS_DISC_NAME_MAX + 1], buf[RS_DISC_NAME_MAX + RS_ORDER_ID_MAX + RS_PREFIX_TEXT_MAX + 4];
	struct rs_disc_field f;
	size_t len = strlen(s);
	int wl = rs_disc_name_parse(s, len, w);

	if (wl >= 0) {
		FZ_CHECK(wl > 1 && wl <= RS_WIRE_MAX && w[wl - 1] == 0);
		FZ_CHECK(rs_disc_name(w, (size_t)wl, out) == len && memcmp(out, s, len) == 0);
	}
	if (rs_disc_field_parse(s, len, &f) == 0) {
		FZ_CHECK(rs_disc_name_parse(f.name, strlen(f.name), NULL) > 0);
		FZ_CHECK(rs_order_id_ok(f.order));
		FZ_CHECK(rs_disc_field(buf, sizeof(buf), f.name, f.order, f.prefix) == len);
		FZ_CHECK(strcmp(buf, s) == 0);
	}
	if (rs_disc_value_parse(s, len, &f) == 0) {
		char text[RS_PREFIX_TEXT_MAX];
		FZ_CHECK(rs_order_id_ok(f.order));
		rs_prefix_format(&f.p, text, sizeof(text));
		FZ_CHECK(strcmp(text, f.prefix) == 0);
		FZ_CHECK(strlen(f.order) + 1 + strlen(f.prefix) == len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size == 0)
		return 0;
	fz_quiet();
	if (data[0] & 1) {
		check_writer(data + 1, size - 1);
		return 0;
	}
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	check_text(s);
	free(s);
	return 0;
}
