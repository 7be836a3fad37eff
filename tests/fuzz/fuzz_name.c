/*
 * fuzz_name.c — name canonicalisation and wire forms (lib/name.c).
 *
 * Input: any octets. They are tried as a text name (rs_name_canon, then
 * rs_name_to_wire and back with rs_wire_to_text) and as a wire name
 * (rs_qname_prepare, rs_wire_to_text, every output buffer size).
 *
 * Invariants checked:
 *  - a canonical name is 1..253 octets of [a-z0-9-_.], labels 1..63;
 *    canonicalising it again gives the same text (idempotent);
 *  - its wire form is len + 2 octets, prepares to the same octets with the
 *    same number of labels, and the per-suffix hashes equal rs_wire_hash of
 *    each suffix; rs_wire_to_text gives the canonical text back;
 *  - rs_qname_prepare never reads past maxlen and accepts only names that
 *    fit in 255 octets, with lowercase copies; rs_wire_to_text always
 *    NUL-terminates inside outsz.
 */
#include "fuzz_common.h"

#include <ctype.h>

#include "name.h"

static void check_canon(const char *canon, int n)
{
	char again[RS_NAME_MAX + 1], text[4 * RS_WIRE_MAX + 2];
	uint8_t wire[RS_WIRE_MAX];
	struct rs_qname q;
	int labels = 1, wl, nl;
	size_t tl;

	FZ_CHECK(n >= 1 && n <= RS_NAME_MAX);
	FZ_CHECK(strlen(canon) == (size_t)n);
	for (int i = 0; i < n; i++) {
		char c = canon[i];
		FZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
		if (c == '.')
			labels++;
	}
	FZ_CHECK(canon[0] != '.' && canon[n - 1] != '.' && !strstr(canon, ".."));
	/* idempotent */
	FZ_CHECK(rs_name_canon(canon, (size_t)n, again) == n);
	FZ_CHECK(memcmp(canon, again, (size_t)n + 1) == 0);
	/* wire round trip */
	wl = rs_name_to_wire(canon, (size_t)n, wire);
	FZ_CHECK(wl == n + 2 && wl <= RS_WIRE_MAX);
	FZ_CHECK(wire[wl - 1] == 0);
	nl = rs_qname_prepare(wire, (size_t)wl, &q);
	FZ_CHECK(nl == labels);
	FZ_CHECK(q.len == wl && memcmp(q.wire, wire, (size_t)wl) == 0);
	for (int i = 0; i < nl; i++)
		FZ_CHECK(q.hash[i] == rs_wire_hash(wire + q.off[i], (size_t)wl - q.off[i]));
	tl = rs_wire_to_text(wire, (size_t)wl, text, sizeof(text));
	FZ_CHECK(tl == (size_t)n && strcmp(text, canon) == 0);
}

static void check_wire(const uint8_t *data, size_t size)
{
	struct rs_qname q;
	char text[4 * RS_WIRE_MAX + 2];
	int nl = rs_qname_prepare(data, size, &q);
	size_t tl;

	if (nl >= 0) {
		size_t pos = 0;
		FZ_CHECK(q.len >= 1 && q.len <= RS_WIRE_MAX && q.len <= size);
		FZ_CHECK(q.nlabels == nl && nl < RS_LABELS_MAX);
		FZ_CHECK(q.wire[q.len - 1] == 0);
		for (int i = 0; i < nl; i++) {
			FZ_CHECK(q.off[i] == pos);
			FZ_CHECK(q.wire[pos] >= 1 && q.wire[pos] <= 63);
			for (size_t k = 1; k <= q.wire[pos]; k++) {
				FZ_CHECK(q.wire[pos + k] == (uint8_t)tolower(data[pos + k]) ||
					 data[pos + k] >= 0x80);
				FZ_CHECK(!(q.wire[pos + k] >= 'A' && q.wire[pos + k] <= 'Z'));
			}
			FZ_CHECK(q.hash[i] == rs_wire_hash(q.wire + pos, q.len - pos));
			pos += 1 + q.wire[pos];
		}
		FZ_CHECK(pos + 1 == q.len);
		/* A wire name that is all canonical characters prints as its canonical text. */
		tl = rs_wire_to_text(q.wire, q.len, text, sizeof(text));
		FZ_CHECK(tl == strlen(text));
		if (nl > 0) {
			char canon[RS_NAME_MAX + 1];
			int n = rs_name_canon(text, tl, canon);
			if (n > 0) {
				uint8_t wire[RS_WIRE_MAX];
				FZ_CHECK(rs_name_to_wire(canon, (size_t)n, wire) == q.len);
				FZ_CHECK(memcmp(wire, q.wire, q.len) == 0);
			}
		}
	}
	/* rs_wire_to_text on arbitrary octets, every small buffer size. */
	for (size_t outsz = 0; outsz < 8; outsz++) {
		char small[8];
		memset(small, 'x', sizeof(small));
		tl = rs_wire_to_text(data, size, small, outsz);
		if (outsz > 0) {
			FZ_CHECK(tl < outsz && small[tl] == '\0');
			FZ_CHECK(strlen(small) == tl);
		} else {
			FZ_CHECK(tl == 0);
		}
	}
	tl = rs_wire_to_text(data, size, text, sizeof(text));
	FZ_CHECK(tl < sizeof(text) && strlen(text) == tl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char canon[RS_NAME_MAX + 1];
	uint8_t *copy;
	int n;

	/* As text. The exact-size copy lets ASan catch a read past len. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	n = rs_name_canon((const char *)copy, size, canon);
	if (n >= 0)
		check_canon(canon, n);
	else
		FZ_CHECK(n == RS_ENAME_EMPTY || n == RS_ENAME_LABEL || n == RS_ENAME_LABELLEN ||
			 n == RS_ENAME_LEN || n == RS_ENAME_CHAR);
	/* As wire. */
	check_wire(copy, size);
	free(copy);
	return 0;
}
