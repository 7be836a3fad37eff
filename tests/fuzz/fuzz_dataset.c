/*
 * fuzz_dataset.c — the dataset identity read from Redis (lib/dataset.c):
 * rs_dataset_parse on fuzzed field/value pairs (what HGETALL of the
 * `dataset` key returns), then rs_dataset_judge against held identities.
 *
 * Input: one flag octet (bit 0: our list holds something, bit 1: Redis has
 * data, bit 2: the held id is the parsed id, bit 3: the held id is the first
 * superseded id, else a fixed id or "" by bit 4), then NUL-separated
 * field, value, field, value, ...
 *
 * Invariants checked (dataset.h):
 *  - no pairs: not present; valid implies present and a well-formed id,
 *    generation and at most RS_DATASET_SUPERSEDES_MAX well-formed superseded
 *    ids; every string NUL-terminated inside its array;
 *  - judge: held X and d.id == X (valid) -> SAME; held X, d absent ->
 *    VANISHED; held X, d present but invalid -> MALFORMED; ADOPT with held X
 *    only when X is in d.supersedes; a held list is never given up for an
 *    invalid or absent identity (no ADOPT unless valid or held is "").
 */
#include "fuzz_common.h"

#include "dataset.h"

#define MAX_STRINGS 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char fixed[] = "0123456789abcdef0123456789abcdef";
	char *s[MAX_STRINGS], *store, held[RS_DATASET_ID_LEN + 1];
	const char *kv[MAX_STRINGS];
	struct rs_dataset d;
	enum rs_dataset_verdict v;
	size_t n, npairs;
	bool holding, has_data, listed = false;
	uint8_t flags;

	if (size < 1)
		return 0;
	fz_quiet();
	flags = data[0];
	n = size > 1 ? fz_split(data + 1, size - 1, s, MAX_STRINGS, &store) : (store = NULL, 0);
	npairs = n / 2;
	for (size_t i = 0; i < 2 * npairs; i++)
		kv[i] = s[i];
	memset(&d, 0xa5, sizeof(d));
	rs_dataset_parse(kv, npairs, &d);
	if (npairs == 0)
		FZ_CHECK(!d.present && !d.valid);
	if (d.valid) {
		FZ_CHECK(d.present);
		FZ_CHECK(rs_dataset_id_ok(d.id));
		FZ_CHECK(d.nsupersedes <= RS_DATASET_SUPERSEDES_MAX);
		for (size_t i = 0; i < d.nsupersedes; i++)
			FZ_CHECK(rs_dataset_id_ok(d.supersedes[i]));
	}
	if (d.present && d.valid)
		FZ_CHECK(memchr(d.id, '\0', sizeof(d.id)) != NULL);

	holding = flags & 1;
	has_data = flags & 2;
	if ((flags & 4) && d.valid)
		snprintf(held, sizeof(held), "%s", d.id);
	else if ((flags & 8) && d.valid && d.nsupersedes > 0)
		snprintf(held, sizeof(held), "%s", d.supersedes[0]);
	else
		snprintf(held, sizeof(held), "%s", (flags & 16) ? fixed : "");
	for (size_t i = 0; d.valid && i < d.nsupersedes; i++)
		if (strcmp(d.supersedes[i], held) == 0)
			listed = true;
	v = rs_dataset_judge(held, holding, &d, has_data);
	FZ_CHECK(v >= RS_DS_SAME && v <= RS_DS_MALFORMED);
	FZ_CHECK(rs_dataset_verdict_name(v) != NULL);
	if (held[0]) {
		if (d.valid && strcmp(d.id, held) == 0)
			FZ_CHECK(v == RS_DS_SAME);
		else if (!d.present)
			FZ_CHECK(v == RS_DS_VANISHED);
		else if (!d.valid)
			FZ_CHECK(v == RS_DS_MALFORMED);
		else if (listed)
			FZ_CHECK(v == RS_DS_ADOPT);
		else
			FZ_CHECK(v == RS_DS_FOREIGN);
	} else if (holding && !d.valid) {
		FZ_CHECK(v != RS_DS_SAME);
		if (v == RS_DS_ADOPT)
			FZ_CHECK(has_data); /* a Redis from before identities */
	}
	free(store);
	return 0;
}
