/*
 * fuzz_manifest.c — the verifying side of signed orders (lib/sign.c): the
 * manifest parser and builder, the public key text, signature verification
 * and the set digest, on hostile input (what a resolver reads from Redis).
 *
 * Input: one mode octet (taken modulo 4), then the rest.
 *   0  the rest is a manifest text for rs_manifest_parse;
 *   1  the rest is a public key text for rs_pubkey_parse (cut at a NUL);
 *   2  the rest is: 32 octets of a public key, 64 octets of a signature,
 *      the message; rs_sig_verify with the signature as base64 and with the
 *      raw octets as the (invalid) text;
 *   3  the rest is set members separated by NUL octets: the set digest in
 *      the given order and in reverse order.
 *
 * Invariants checked:
 *  - parse never crashes; on failure *out is NULL and err is a NUL-terminated
 *    "manifest..." message; on success rs_manifest_build gives back the input
 *    octet for octet, and the parsed fields hold their bounds (version >= 1,
 *    prev "-" iff version 1, ndelta <= RS_MANIFEST_DELTA_MAX, field names
 *    from the fixed list in order);
 *  - pubkey: success means the text is exactly the canonical text of the key
 *    (rs_pubkey_format gives it back) and the id is rs_keyid of the raw key;
 *  - verify: returns 0 or RS_EINVAL, never crashes (a random signature is
 *    never accepted in practice: not checked);
 *  - set digest: the same digest and count for both orders.
 */
#include "fuzz_common.h"

#include "sign.h"

static void fuzz_parse(const uint8_t *data, size_t size)
{
	struct rs_manifest *m = (struct rs_manifest *)1;
	char err[320], *t;
	size_t len = 0;
	int rc;

	memset(err, 'x', sizeof(err));
	rc = rs_manifest_parse((const char *)data, size, &m, err, sizeof(err));
	if (rc != 0) {
		FZ_CHECK(rc == RS_EINVAL || rc == RS_ENOMEM);
		FZ_CHECK(m == NULL);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FZ_CHECK(rc == RS_ENOMEM || strncmp(err, "manifest", 8) == 0);
		return;
	}
	FZ_CHECK(m->len == size && memcmp(m->text, data, size) == 0);
	FZ_CHECK(m->version >= 1);
	FZ_CHECK((m->version == 1) == (strcmp(m->prev, "-") == 0));
	FZ_CHECK(m->ndelta <= RS_MANIFEST_DELTA_MAX);
	FZ_CHECK(m->nfields <= RS_MANIFEST_NFIELDS);
	for (size_t i = 0, k = 0; i < m->nfields; i++, k++) {
		while (k < RS_MANIFEST_NFIELDS && m->field_name[i] != rs_manifest_fields[k])
			k++;
		FZ_CHECK(k < RS_MANIFEST_NFIELDS); /* from the list, in its order, once */
		FZ_CHECK(m->field_value[i] && *m->field_value[i]);
	}
	for (size_t i = 0; i < m->ndelta; i++)
		FZ_CHECK(m->delta[i].op <= RS_D_DELIP && m->delta[i].item && *m->delta[i].item);
	t = rs_manifest_build_err(m, &len, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "build refused a parsed manifest: %s\n", err);
		FZ_CHECK(t != NULL);
	}
	FZ_CHECK(len == size && memcmp(t, data, size) == 0);
	free(t);
	rs_manifest_free(m);
}

static void fuzz_pubkey(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[128], back[RS_PUBKEY_TEXT_LEN + 1], id[RS_KEYID_LEN + 1];
	struct rs_pubkey k;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (rs_pubkey_parse(s, &k, err, sizeof(err)) == 0) {
		rs_pubkey_format(&k, back, sizeof(back));
		FZ_CHECK(strcmp(back, s) == 0);
		rs_keyid(k.raw, id);
		FZ_CHECK(strcmp(id, k.id) == 0 && rs_keyid_ok(id));
	} else {
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	}
	free(s);
}

static void fuzz_verify(const uint8_t *data, size_t size)
{
	struct rs_pubkey k;
	char sig[RS_SIG_B64_LEN + 1], raw[RS_SIG_B64_LEN + 1];
	int rc;

	if (size < 96)
		return;
	memset(&k, 0, sizeof(k));
	memcpy(k.raw, data, 32);
	rs_keyid(k.raw, k.id);
	rs_b64_encode(data + 32, 64, sig);
	FZ_CHECK(strlen(sig) == RS_SIG_B64_LEN);
	rc = rs_sig_verify(&k, data + 96, size - 96, sig);
	FZ_CHECK(rc == 0 || rc == RS_EINVAL);
	/* the octets themselves as the text: almost never base64 */
	memcpy(raw, data + 8, RS_SIG_B64_LEN);
	raw[RS_SIG_B64_LEN] = '\0';
	rc = rs_sig_verify(&k, data + 96, size - 96, raw);
	FZ_CHECK(rc == 0 || rc == RS_EINVAL);
}

static void fuzz_setdigest(const uint8_t *data, size_t size)
{
	const char *m[256];
	size_t len[256], n = 0, c1, c2;
	struct rs_setdigest *a, *b;
	char h1[65], h2[65];

	for (size_t i = 0; i < size && n < 256;) {
		const uint8_t *z = memchr(data + i, 0, size - i);
		size_t l = z ? (size_t)(z - (data + i)) : size - i;
		m[n] = (const char *)data + i;
		len[n++] = l;
		i += l + 1;
	}
	a = rs_setdigest_new();
	b = rs_setdigest_new();
	if (!a || !b) {
		rs_setdigest_free(a);
		rs_setdigest_free(b);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		FZ_CHECK(rs_setdigest_add(a, m[i], len[i]) == 0);
		FZ_CHECK(rs_setdigest_add(b, m[n - 1 - i], len[n - 1 - i]) == 0);
	}
	rs_setdigest_finish(a, h1, &c1);
	rs_setdigest_finish(b, h2, &c2);
	{ /* a set: members given twice count once */
		size_t distinct = 0;
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < i && !(len[j] == len[i] && memcmp(m[j], m[i], len[i]) == 0))
				j++;
			distinct += j == i;
		}
		FZ_CHECK(c1 == distinct && c2 == distinct);
	}
	FZ_CHECK(strcmp(h1, h2) == 0 && strlen(h1) == 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_parse(data + 1, size - 1);
		break;
	case 1:
		fuzz_pubkey(data + 1, size - 1);
		break;
	case 2:
		fuzz_verify(data + 1, size - 1);
		break;
	default:
		fuzz_setdigest(data + 1, size - 1);
		break;
	}
	return 0;
}
