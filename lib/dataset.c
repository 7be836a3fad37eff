/*
 * dataset.c — the identity of the dataset a list was loaded from (see dataset.h).
 *
 * rs_dataset_parse() turns the `dataset` hash into a struct rs_dataset and is
 * strict: a hash redsink-ctl did not write exactly as doc/redis-schema.md says
 * (an id that is not 32 lowercase hex digits, a generation that is not a
 * positive decimal, a `supersedes` with a bad id or more than
 * RS_DATASET_SUPERSEDES_MAX of them, a field given twice) is not valid. An
 * invalid identity never lets a reader adopt anything: rs_dataset_judge() then
 * says MALFORMED to a reader that holds a list. Fields other than id,
 * generation and supersedes (created, by, why, anything added later) are
 * ignored.
 */
#include "dataset.h"

#include <string.h>

bool rs_dataset_id_ok(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < RS_DATASET_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false; /* also stops at the NUL of a short string */
	return s[i] == '\0';
}

/* A positive decimal without sign, leading zero or anything else, that fits. */
static bool parse_generation(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || s[0] < '1' || s[0] > '9')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Space-separated ids (spaces or tabs, any number, leading and trailing
 * allowed; "" is none). Duplicates are kept once. */
static bool parse_supersedes(const char *s, struct rs_dataset *out)
{
	const char *p = s;

	if (!s)
		return false;
	while (*p) {
		char id[RS_DATASET_ID_LEN + 1];
		size_t n;
		bool dup = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t");
		if (n != RS_DATASET_ID_LEN)
			return false;
		memcpy(id, p, n);
		id[n] = '\0';
		p += n;
		if (!rs_dataset_id_ok(id))
			return false;
		for (size_t i = 0; i < out->nsupersedes; i++)
			if (strcmp(out->supersedes[i], id) == 0)
				dup = true;
		if (dup)
			continue;
		if (out->nsupersedes == RS_DATASET_SUPERSEDES_MAX)
			return false;
		memcpy(out->supersedes[out->nsupersedes++], id, sizeof(id));
	}
	return true;
}

void rs_dataset_parse(const char *const *kv, size_t npairs, struct rs_dataset *out)
{
	const char *id = NULL, *gen = NULL, *sup = NULL;
	bool bad = false;

	memset(out, 0, sizeof(*out));
	if (npairs == 0 || !kv)
		return;
	out->present = true;
	for (size_t i = 0; i < npairs; i++) {
		const char *k = kv[2 * i], *v = kv[2 * i + 1];
		const char **slot = NULL;

		if (!k || !v) {
			bad = true;
			continue;
		}
		if (strcmp(k, "id") == 0)
			slot = &id;
		else if (strcmp(k, "generation") == 0)
			slot = &gen;
		else if (strcmp(k, "supersedes") == 0)
			slot = &sup;
		if (!slot)
			continue;
		if (*slot)
			bad = true; /* a field twice: not a hash reply */
		*slot = v;
	}
	if (bad || !rs_dataset_id_ok(id) || !parse_generation(gen, &out->generation) ||
	    (sup && !parse_supersedes(sup, out))) {
		out->generation = 0;
		out->nsupersedes = 0;
		memset(out->supersedes, 0, sizeof(out->supersedes));
		return;
	}
	memcpy(out->id, id, RS_DATASET_ID_LEN + 1);
	out->valid = true;
}

static bool supersedes(const struct rs_dataset *d, const char *id)
{
	for (size_t i = 0; i < d->nsupersedes && i < RS_DATASET_SUPERSEDES_MAX; i++)
		if (strcmp(d->supersedes[i], id) == 0)
			return true;
	return false;
}

enum rs_dataset_verdict rs_dataset_judge(const char *held, bool holding, const struct rs_dataset *d,
					 bool redis_has_data)
{
	if (!held || !*held) {
		/* A list without identity: empty, or from before identities. */
		if (!holding)
			return RS_DS_ADOPT;
		if (d->present && !d->valid)
			return RS_DS_MALFORMED;
		if (d->valid || redis_has_data)
			return RS_DS_ADOPT;
		return RS_DS_VANISHED;
	}
	if (!d->present)
		return RS_DS_VANISHED;
	if (!d->valid)
		return RS_DS_MALFORMED;
	if (strcmp(d->id, held) == 0)
		return RS_DS_SAME;
	if (supersedes(d, held))
		return RS_DS_ADOPT;
	return RS_DS_FOREIGN;
}

const char *rs_dataset_verdict_name(enum rs_dataset_verdict v)
{
	switch (v) {
	case RS_DS_SAME:
		return "same";
	case RS_DS_ADOPT:
		return "adopt";
	case RS_DS_VANISHED:
		return "vanished";
	case RS_DS_FOREIGN:
		return "foreign";
	case RS_DS_MALFORMED:
		return "malformed";
	}
	return "?";
}
