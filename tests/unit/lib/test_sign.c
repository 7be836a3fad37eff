/*
 * test_sign.c — the crypto core of signed orders (lib/sign.c, lib/sign_key.c):
 * the RFC 8032 section 7.1 Ed25519 vectors (signing reproduces the published
 * signature, verification accepts it and refuses a flipped bit in message,
 * signature and key), strict base64 and public key text, key ids, SHA-256,
 * the set digest (known answers, order independence, the empty set, 1,000,000
 * members timed in a printout), the manifest (round trip, the builder's
 * canonical ordering, malformed texts refused with the reason) and the key
 * file (mode 0600, never overwritten, refused when others can read it).
 * The vectors: TEST 1, 2, 3 and TEST 1024 (a 1023-octet message).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "rs_err.h"
#include "sign.h"
#include "sign_key.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* ---- RFC 8032, 7.1 ---- */

struct vec {
	const char *name, *secret, *public, *msg, *sig;
};

static const struct vec vectors[] = {
	{ "TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	{ "TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
	  "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
	  "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
	  "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
	  "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
	  "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
	  "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
	  "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
	  "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
	  "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
	  "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
	  "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
	  "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
	  "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
	  "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
	  "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
	  "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
	  "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
	  "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
	  "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
	  "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
	  "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
	  "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
	  "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
	  "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
	  "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
	  "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
	  "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
	  "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
	  "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
	  "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
	  "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
	  "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
	  "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
	  "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03" },
};

static void test_rfc8032(void **state)
{
	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		const struct vec *t = &vectors[v];
		uint8_t seed[32], pub[32], sig[64], msg[1024];
		size_t mlen = strlen(t->msg) / 2;
		char want[RS_SIG_B64_LEN + 1], got[RS_SIG_B64_LEN + 1], bad[RS_SIG_B64_LEN + 1];
		struct rs_privkey *k;
		struct rs_pubkey pk, pk2;

		unhex(t->secret, seed, 32);
		unhex(t->public, pub, 32);
		unhex(t->sig, sig, 64);
		assert_true(mlen <= sizeof(msg));
		if (strcmp(t->name, "TEST 1024") == 0)
			assert_int_equal(mlen, 1023);
		unhex(t->msg, msg, mlen);
		rs_b64_encode(sig, 64, want);
		assert_int_equal(strlen(want), RS_SIG_B64_LEN);

		assert_int_equal(rs_privkey_from_seed(seed, &k), 0);
		rs_privkey_public(k, &pk);
		assert_memory_equal(pk.raw, pub, 32);
		assert_int_equal(rs_sign(k, msg, mlen, got), 0);
		if (strcmp(got, want) != 0)
			fail_msg("%s: signature %s, want %s", t->name, got, want);
		rs_privkey_free(k);

		assert_int_equal(rs_sig_verify(&pk, msg, mlen, want), 0);
		/* a flipped bit in the message (TEST 1's is empty: one octet more) */
		if (mlen) {
			msg[0] ^= 1;
			assert_int_equal(rs_sig_verify(&pk, msg, mlen, want), RS_EINVAL);
			msg[0] ^= 1;
		} else {
			assert_int_equal(rs_sig_verify(&pk, "\0", 1, want), RS_EINVAL);
		}
		/* in the signature: every octet, one bit each */
		for (size_t i = 0; i < 64; i++) {
			sig[i] ^= (uint8_t)(1u << (i % 8));
			rs_b64_encode(sig, 64, bad);
			assert_int_equal(rs_sig_verify(&pk, msg, mlen, bad), RS_EINVAL);
			sig[i] ^= (uint8_t)(1u << (i % 8));
		}
		/* in the key */
		for (size_t i = 0; i < 32; i++) {
			pk2 = pk;
			pk2.raw[i] ^= (uint8_t)(1u << (i % 8));
			assert_int_equal(rs_sig_verify(&pk2, msg, mlen, want), RS_EINVAL);
		}
		/* not base64 of 64 octets */
		assert_int_equal(rs_sig_verify(&pk, msg, mlen, ""), RS_EINVAL);
		assert_int_equal(rs_sig_verify(&pk, msg, mlen, NULL), RS_EINVAL);
		strcpy(bad, want);
		bad[10] = '*';
		assert_int_equal(rs_sig_verify(&pk, msg, mlen, bad), RS_EINVAL);
	}
}

/* ---- base64, public keys, key ids, SHA-256 ---- */

static void test_pubkey_text(void **state)
{
	struct rs_pubkey k;
	char err[128], buf[64];
	uint8_t raw[32], out[2];

	assert_int_equal(rs_pubkey_parse("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", &k, err, sizeof(err)), 0);
	unhex(vectors[0].public, raw, 32);
	assert_memory_equal(k.raw, raw, 32);
	/* key id: the first 8 octets of SHA-256 of the raw key (known answer) */
	assert_string_equal(k.id, "21fe31dfa154a261");
	assert_string_equal(k.label, "");
	rs_pubkey_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	assert_true(rs_keyid_ok(k.id));

	static const char *const bad[] = {
		"",
		"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",          /* no prefix */
		"ED25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",  /* prefix case */
		"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",   /* no padding */
		"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo==", /* too long */
		"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",  /* unused bits set */
		"ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",  /* url alphabet */
		"ed25519: 1qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",  /* space */
		"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR==",  /* 31 octets */
		"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= ", /* trailing space */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rs_pubkey_parse(bad[i], &k, err, sizeof(err)) != RS_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(strstr(err, "public key") != NULL);
	}
	assert_int_equal(rs_b64_decode("AA==", 4, out, 1), 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(rs_b64_decode("AB==", 4, out, 1), RS_EINVAL); /* unused bits */
	assert_int_equal(rs_b64_decode("AAA=", 4, out, 2), 0);
	assert_int_equal(rs_b64_decode("AAB=", 4, out, 2), RS_EINVAL);
	assert_int_equal(rs_b64_decode("A===", 4, out, 1), RS_EINVAL);
	assert_int_equal(rs_b64_decode("AAA=", 4, out, 1), RS_EINVAL); /* wrong length */
	assert_int_equal(rs_b64_decode("=AAA", 4, out, 2), RS_EINVAL);

	assert_false(rs_keyid_ok("21FE31DFA154A261"));
	assert_false(rs_keyid_ok("21fe31dfa154a26"));
	assert_false(rs_keyid_ok("21fe31dfa154a2611"));
	assert_true(rs_key_label_ok("agcom.it-2026_a"));
	assert_false(rs_key_label_ok(""));
	assert_false(rs_key_label_ok("a b"));
	assert_false(rs_key_label_ok("a:b"));
	{
		char lab[80];
		memset(lab, 'a', 65);
		lab[65] = '\0';
		assert_false(rs_key_label_ok(lab));
		lab[64] = '\0';
		assert_true(rs_key_label_ok(lab));
	}
}

static void test_sha256(void **state)
{
	char h[65];

	rs_sha256_hex("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rs_sha256_hex("", 0, h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- set digest ---- */

static void digest_of(const char *const *m, size_t n, char hex[65], size_t *count)
{
	struct rs_setdigest *d = rs_setdigest_new();

	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rs_setdigest_add(d, m[i], strlen(m[i])), 0);
	rs_setdigest_finish(d, hex, count);
}

static void test_setdigest(void **state)
{
	static const char *const ab[] = { "example.com", "b.example" }, *const ba[] = { "b.example", "example.com" };
	static const char *const pfx[] = { "10.0.0.0/8" };
	char h1[65], h2[65];
	size_t n = 99;

	digest_of(NULL, 0, h1, &n);
	assert_int_equal(n, 0);
	assert_string_equal(h1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_of(ab, 2, h1, &n);
	assert_int_equal(n, 2);
	digest_of(ba, 2, h2, NULL);
	assert_string_equal(h1, h2);
	assert_string_equal(h1, "95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1");
	digest_of(pfx, 1, h1, &n);
	assert_string_equal(h1, "7fbe58f8c1248ef5dca1e5f6b1ada0a760d9ea7d05383108c9aa7581b422eed7");
	{
		/* a set: a member fed twice (SSCAN may return it twice) counts once */
		static const char *const abab[] = { "example.com", "b.example", "example.com", "b.example",
						     "b.example" };
		digest_of(abab, 5, h2, &n);
		assert_int_equal(n, 2);
		assert_string_equal(h2, "95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1");
	}
	rs_setdigest_free(rs_setdigest_new());
	rs_setdigest_free(NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1,000,000 members in two orders give the same digest (the radix sort path);
 * the time is printed, not asserted (shared machines). */
static void test_setdigest_million(void **state)
{
	enum { N = 1000000 };
	struct rs_setdigest *a = rs_setdigest_new(), *b = rs_setdigest_new();
	char (*names)[32] = malloc((size_t)N * 32), h1[65], h2[65];
	size_t n1, n2, *lens = malloc(N * sizeof(size_t));
	double t0, t1, t2;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(names);
	assert_non_null(lens);
	for (unsigned i = 0; i < N; i++)
		lens[i] = (size_t)snprintf(names[i], 32, "name-%u.example", i);
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(rs_setdigest_add(a, names[i], lens[i]), 0);
	t1 = now_s();
	rs_setdigest_finish(a, h1, &n1);
	t2 = now_s();
	for (unsigned i = N; i-- > 0;)
		assert_int_equal(rs_setdigest_add(b, names[i], lens[i]), 0);
	rs_setdigest_finish(b, h2, &n2);
	assert_int_equal(n1, N);
	assert_int_equal(n2, N);
	assert_string_equal(h1, h2);
	printf("set digest of 1,000,000 names: %.3f s (hash %.3f s, sort and digest %.3f s)\n", t2 - t0, t1 - t0,
	       t2 - t1);
	free(names);
	free(lens);
}

/* The per-change cost of a resolver: one verification (printed, not asserted). */
static void test_verify_speed(void **state)
{
	struct rs_privkey *k;
	struct rs_pubkey pk;
	char sig[RS_SIG_B64_LEN + 1], text[2048];
	double t0;
	enum { N = 2000 };

	memset(text, 'a', sizeof(text));
	assert_int_equal(rs_privkey_generate(&k, text, 0), 0);
	rs_privkey_public(k, &pk);
	assert_int_equal(rs_sign(k, text, sizeof(text), sig), 0);
	t0 = now_s();
	for (int i = 0; i < N; i++)
		assert_int_equal(rs_sig_verify(&pk, text, sizeof(text), sig), 0);
	printf("Ed25519 verification of a 2 KB manifest: %.1f us\n", (now_s() - t0) / N * 1e6);
	rs_privkey_free(k);
}

/* A configured key's EVP_PKEY (rs_pubkey_prepare): built once, shared
 * read-only by threads verifying at once, each with its own EVP_MD_CTX; the
 * same answers as a key without one (built per call); released. */
struct vctx {
	const struct rs_pubkey *pk;
	const char *text, *sig, *bad;
	int fails;
};

static void *verify_many(void *arg)
{
	struct vctx *v = arg;

	for (int i = 0; i < 200; i++)
		v->fails += rs_sig_verify(v->pk, v->text, strlen(v->text), v->sig) != 0 ||
			    rs_sig_verify(v->pk, v->text, strlen(v->text), v->bad) != RS_EINVAL;
	return NULL;
}

static void test_prepared_key(void **state)
{
	struct rs_privkey *k;
	struct rs_pubkey pk, copy;
	char sig[RS_SIG_B64_LEN + 1], bad[RS_SIG_B64_LEN + 1], err[128];
	const char *text = "redsink-manifest 1\norder x\n";
	struct vctx v[4];
	pthread_t t[4];
	void *pkey;

	assert_int_equal(rs_privkey_generate(&k, err, sizeof(err)), 0);
	rs_privkey_public(k, &pk);
	assert_null(pk.pkey);
	assert_int_equal(rs_sign(k, text, strlen(text), sig), 0);
	assert_int_equal(rs_sign(k, "other", 5, bad), 0);
	assert_int_equal(rs_sig_verify(&pk, text, strlen(text), sig), 0); /* without: built per call */
	assert_int_equal(rs_pubkey_prepare(&pk), 0);
	assert_non_null(pk.pkey);
	pkey = pk.pkey;
	assert_int_equal(rs_pubkey_prepare(&pk), 0); /* once */
	assert_ptr_equal(pk.pkey, pkey);
	assert_int_equal(rs_sig_verify(&pk, text, strlen(text), sig), 0);
	assert_int_equal(rs_sig_verify(&pk, text, strlen(text), bad), RS_EINVAL);
	assert_int_equal(rs_sig_verify(&pk, text, strlen(text) - 1, sig), RS_EINVAL);
	/* a copy of the struct shares the object (its owner releases it) */
	copy = pk;
	assert_int_equal(rs_sig_verify(&copy, text, strlen(text), sig), 0);
	for (int i = 0; i < 4; i++) {
		v[i] = (struct vctx){ &pk, text, sig, bad, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, verify_many, &v[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(v[i].fails, 0);
	}
	rs_pubkey_release(&pk);
	assert_null(pk.pkey);
	rs_pubkey_release(&pk); /* NULL allowed */
	assert_int_equal(rs_sig_verify(&pk, text, strlen(text), sig), 0);
	rs_privkey_free(k);
}

/* ---- manifest ---- */

static const char good[] =
	"redsink-manifest 1\n"
	"order agcom-2026-17\n"
	"version 2\n"
	"prev 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	"key 21fe31dfa154a261\n"
	"signed-at 2026-05-01T10:00:00Z\n"
	"state active\n"
	"field authority AGCOM\n"
	"field reference Delibera 17/26/CONS\n"
	"field expires 2027-01-01T00:00:00Z\n"
	"field scope IT\n"
	"field action sinkhole\n"
	"field reason line one\\nline two \\\\ tab\\x09end caf\xc3\xa9\n"
	"names 3 95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1\n"
	"prefixes 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
	"delta 5\n"
	"+ a.example\n"
	"+ b.example\n"
	"- c.example\n"
	"+ip 10.0.0.0/8\n"
	"-ip 2001:db8::/32\n";

static struct rs_manifest *parse_ok(const char *t, size_t len)
{
	struct rs_manifest *m;
	char err[320];

	if (rs_manifest_parse(t, len, &m, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	return m;
}

static void test_manifest_parse(void **state)
{
	struct rs_manifest *m = parse_ok(good, strlen(good));
	char *t;
	size_t len;

	assert_int_equal(m->len, strlen(good));
	assert_memory_equal(m->text, good, m->len);
	assert_string_equal(m->order, "agcom-2026-17");
	assert_int_equal(m->version, 2);
	assert_string_equal(m->key, "21fe31dfa154a261");
	assert_int_equal(m->signed_at, 1777629600);
	assert_false(m->revoked);
	assert_int_equal(m->nfields, 6);
	assert_string_equal(m->field_name[0], "authority");
	assert_string_equal(m->field_value[1], "Delibera 17/26/CONS");
	assert_string_equal(m->field_name[5], "reason");
	assert_string_equal(m->field_value[5], "line one\nline two \\ tab\tend caf\xc3\xa9");
	assert_int_equal(m->names, 3);
	assert_int_equal(m->prefixes, 0);
	assert_string_equal(m->prefixes_digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(m->ndelta, 5);
	assert_int_equal(m->delta[0].op, RS_D_ADD);
	assert_string_equal(m->delta[0].item, "a.example");
	assert_int_equal(m->delta[2].op, RS_D_DEL);
	assert_int_equal(m->delta[3].op, RS_D_ADDIP);
	assert_string_equal(m->delta[4].item, "2001:db8::/32");
	assert_int_equal(m->delta[4].op, RS_D_DELIP);

	/* round trip, octet for octet */
	t = rs_manifest_build(m, &len);
	assert_non_null(t);
	assert_int_equal(len, strlen(good));
	assert_memory_equal(t, good, len);
	free(t);
	rs_manifest_free(m);
	rs_manifest_free(NULL);
}

/* The signer fills the struct in any order; the builder writes the canonical text. */
static void test_manifest_build(void **state)
{
	struct rs_delta d[] = {
		{ RS_D_DELIP, "2001:db8::/32" }, { RS_D_DEL, "c.example" }, { RS_D_ADD, "b.example" },
		{ RS_D_ADDIP, "10.0.0.0/8" },	 { RS_D_ADD, "a.example" },
	};
	struct rs_manifest m = { 0 }, *back;
	char *t, err[320];
	size_t len;

	strcpy(m.order, "agcom-2026-17");
	m.version = 2;
	strcpy(m.prev, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	strcpy(m.key, "21fe31dfa154a261");
	m.signed_at = 1777629600;
	m.field_name[0] = "reason";
	m.field_value[0] = "line one\nline two \\ tab\tend caf\xc3\xa9";
	m.field_name[1] = "scope";
	m.field_value[1] = "IT";
	m.field_name[2] = "authority";
	m.field_value[2] = "AGCOM";
	m.field_name[3] = "url";
	m.field_value[3] = ""; /* empty: left out */
	m.field_name[4] = "reference";
	m.field_value[4] = "Delibera 17/26/CONS";
	m.field_name[5] = "expires";
	m.field_value[5] = "2027-01-01T00:00:00Z";
	m.field_name[6] = "action";
	m.field_value[6] = "sinkhole";
	m.field_name[7] = "lang";
	m.field_value[7] = NULL; /* unset */
	m.nfields = 8;
	m.names = 3;
	strcpy(m.names_digest, "95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1");
	strcpy(m.prefixes_digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	m.delta = d;
	m.ndelta = 5;
	t = rs_manifest_build_err(&m, &len, err, sizeof(err));
	if (!t)
		fail_msg("build: %s", err);
	assert_string_equal(t, good);
	assert_int_equal(d[0].op, RS_D_DELIP); /* the caller's array is not sorted in place */
	back = parse_ok(t, len);
	rs_manifest_free(back);
	free(t);

	/* what the builder refuses (never a text a resolver would refuse) */
	d[1].item = "C.example"; /* not canonical */
	assert_null(rs_manifest_build_err(&m, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "not a canonical domain"));
	d[1].item = "a.example"; /* added and deleted */
	assert_null(rs_manifest_build_err(&m, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "both added and deleted"));
	d[1].item = "b.example";
	d[1].op = RS_D_ADD; /* twice */
	assert_null(rs_manifest_build_err(&m, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	d[1].op = RS_D_DEL;
	d[1].item = "c.example";
	d[3].item = "10.0.0.1/8";
	assert_null(rs_manifest_build(&m, &len));
	d[3].item = "10.0.0.0/8";
	m.field_name[3] = "colour";
	assert_null(rs_manifest_build_err(&m, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown field"));
	m.field_name[3] = "scope";
	assert_null(rs_manifest_build_err(&m, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	m.field_name[3] = "url";
	m.field_value[0] = "bad \xff utf-8";
	assert_null(rs_manifest_build(&m, &len));
	m.field_value[0] = "ok";
	strcpy(m.prev, "-");
	assert_null(rs_manifest_build(&m, &len)); /* "-" only for version 1 */
	m.version = 1;
	t = rs_manifest_build(&m, &len);
	assert_non_null(t);
	free(t);
	strcpy(m.key, "21FE31DFA154A261");
	assert_null(rs_manifest_build(&m, &len));
	strcpy(m.key, "21fe31dfa154a261");
	m.signed_at = -1;
	assert_null(rs_manifest_build(&m, &len));
	m.signed_at = 0;
	strcpy(m.order, "a:b");
	assert_null(rs_manifest_build(&m, &len));
}

/* good with line `line` (1-based) replaced by `repl` (NULL: removed) */
static char *edit(int line, const char *repl)
{
	static char out[65536];
	const char *p = good;
	size_t o = 0;

	for (int n = 1; *p; n++) {
		const char *nl = strchr(p, '\n');
		size_t l = (size_t)(nl - p) + 1;
		if (n == line) {
			if (repl) {
				memcpy(out + o, repl, strlen(repl));
				o += strlen(repl);
			}
		} else {
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
	}
	out[o] = '\0';
	return out;
}

static void refused(const char *text, size_t len, const char *why)
{
	struct rs_manifest *m = (void *)1;
	char err[320];

	if (rs_manifest_parse(text, len, &m, err, sizeof(err)) != RS_EINVAL)
		fail_msg("accepted (want '%s'):\n%.*s", why, (int)len, text);
	assert_null(m);
	if (!strstr(err, why))
		fail_msg("error '%s', want '%s'", err, why);
}

#define REFUSED(t, why) refused((t), strlen(t), (why))

static void test_manifest_malformed(void **state)
{
	char buf[4096];

	REFUSED("", "empty manifest");
	refused(good, strlen(good) - 1, "does not end in a newline");
	memcpy(buf, good, sizeof(good));
	buf[30] = '\0';
	refused(buf, strlen(good), "NUL");
	REFUSED(edit(1, "redsink-manifest 2\n"), "manifest: line 1: want 'redsink-manifest 1'");
	REFUSED(edit(1, NULL), "manifest: line 1");
	REFUSED(edit(2, "order a b\n"), "line 2: order id");
	REFUSED(edit(2, "order a:b\n"), "line 2: order id");
	REFUSED(edit(3, "version 02\n"), "manifest of order 'agcom-2026-17': line 3: version");
	REFUSED(edit(3, "version 0\n"), "line 3: version");
	REFUSED(edit(3, "version 1\n"), "line 4: prev: '-' for version 1");
	REFUSED(edit(3, "version +2\n"), "line 3: version");
	REFUSED(edit(4, "prev -\n"), "line 4: prev: 64 lowercase hex");
	REFUSED(edit(4, "prev 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n"), "line 4: prev");
	REFUSED(edit(5, "key 21fe31dfa154a26\n"), "line 5: key");
	REFUSED(edit(5, NULL), "line 5: want 'key <keyid>'");
	REFUSED(edit(6, "signed-at 2026-05-01T10:00:00+00:00\n"), "line 6: signed-at");
	REFUSED(edit(6, "signed-at 2026-02-29T10:00:00Z\n"), "line 6: signed-at");
	REFUSED(edit(6, "signed-at 2026-05-01T24:00:00Z\n"), "line 6: signed-at");
	REFUSED(edit(6, "signed-at 2026-05-01t10:00:00Z\n"), "line 6: signed-at");
	REFUSED(edit(7, "state withdrawn\n"), "line 7: state");
	REFUSED(edit(7, "state active \n"), "line 7: state");
	REFUSED(edit(8, "field Authority AGCOM\n"), "line 8: unknown field 'Authority'");
	REFUSED(edit(8, "field colour red\n"), "unknown field 'colour'");
	REFUSED(edit(9, "field authority again\n"), "line 9: field 'authority' out of order or repeated");
	REFUSED(edit(11, "field reference late\n"), "line 11: field 'reference' out of order");
	REFUSED(edit(8, "field authority \n"), "line 8: field 'authority': empty value");
	REFUSED(edit(8, "field authority\n"), "line 8: want 'field <name> <value>'");
	REFUSED(edit(12, "field reason a\\tb\n"), "line 12: field 'reason': unknown escape");
	REFUSED(edit(12, "field reason a\\x0Ab\n"), "lowercase hex");
	REFUSED(edit(12, "field reason a\\x0ab\n"), "'\\x0a' where '\\n'");
	REFUSED(edit(12, "field reason a\\x41b\n"), "not a control character");
	REFUSED(edit(12, "field reason a\\x00b\n"), "NUL");
	REFUSED(edit(12, "field reason a\\x4\n"), "two hex digits");
	REFUSED(edit(12, "field reason a\\\n"), "at the end of the value");
	REFUSED(edit(12, "field reason a\tb\n"), "control character not escaped");
	REFUSED(edit(12, "field reason a\rb\n"), "control character not escaped");
	REFUSED(edit(12, "field reason caf\xc3\n"), "not valid UTF-8");
	REFUSED(edit(12, "field reason \xc0\xaf\n"), "not valid UTF-8");
	REFUSED(edit(14, "names 03 95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1\n"), "line 14: names");
	REFUSED(edit(14, "names 3 95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc\n"), "line 14: names");
	REFUSED(edit(14, "names 3  95789091555b33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1\n"), "line 14");
	REFUSED(edit(14, "names 3 95789091555B33318b7d046711d566329324d6da25ccec97c3e182cee4280fc1\n"), "line 14");
	REFUSED(edit(15, NULL), "line 15: want 'prefixes ");
	REFUSED(edit(16, "delta 4\n"), "line 21: text after the 4 delta lines");
	REFUSED(edit(16, "delta 6\n"), "line 22: 5 delta lines, the count says 6");
	REFUSED(edit(16, "delta 10001\n"), "line 16: delta: a count from 0 to 10000");
	REFUSED(edit(16, "delta -1\n"), "line 16: delta");
	REFUSED(edit(17, "+ b.example\n"), "line 18: delta lines not sorted");
	REFUSED(edit(18, "+ a.example\n"), "line 18: delta lines not sorted");
	REFUSED(edit(17, "+ A.example\n"), "line 17: 'A.example' is not a canonical domain");
	REFUSED(edit(17, "+ a.example.\n"), "not a canonical domain");
	REFUSED(edit(17, "+ a..example\n"), "not a canonical domain");
	REFUSED(edit(17, "+  a.example\n"), "not a canonical domain");
	REFUSED(edit(17, "+ a.example \n"), "not a canonical domain");
	REFUSED(edit(17, "* a.example\n"), "line 17: a delta line");
	REFUSED(edit(17, "+ip 10.0.0.1/8\n"), "line 17: '10.0.0.1/8' is not a canonical prefix");
	REFUSED(edit(20, "+ip 10.0.0.1\n"), "line 20: '10.0.0.1' is not a canonical prefix");
	REFUSED(edit(21, "-ip 2001:DB8::/32\n"), "not a canonical prefix");
	REFUSED(edit(21, "-ip 2001:0db8::/32\n"), "not a canonical prefix");
	REFUSED(edit(20, "+ip 10.0.0.0/8\n+ 0.example\n"), "line 21: delta lines not sorted");
	REFUSED(edit(19, "- b.example\n"), "'b.example' is both added and deleted");
	REFUSED(edit(21, "-ip 10.0.0.0/8\n"), "'10.0.0.0/8' is both added and deleted");
	REFUSED(edit(21, "-ip 2001:db8::/32\n\n"), "line 22: text after");
	REFUSED(edit(21, "-ip 2001:db8::/32\r\n"), "not a canonical prefix");
	REFUSED(edit(8, "\n"), "line 8: want 'names <count> <64 hex>'");
	/* over-long */
	{
		char *big = malloc(RS_MANIFEST_MAX + 2);
		memset(big, 'a', RS_MANIFEST_MAX + 1);
		big[RS_MANIFEST_MAX] = '\n';
		refused(big, RS_MANIFEST_MAX + 1, "longer than");
		free(big);
	}
	/* an over-long field value */
	{
		char *v = malloc(RS_MANIFEST_VALUE_MAX + 64), *t = malloc(sizeof(good) + RS_MANIFEST_VALUE_MAX + 64);
		strcpy(v, "field reason ");
		memset(v + 13, 'x', RS_MANIFEST_VALUE_MAX + 1);
		strcpy(v + 13 + RS_MANIFEST_VALUE_MAX + 1, "\n");
		strcpy(t, edit(12, v));
		REFUSED(t, "value longer than");
		free(v);
		free(t);
	}
}

/* Version 1 with no fields and no delta, and a revoked order. */
static void test_manifest_minimal(void **state)
{
	static const char t1[] = "redsink-manifest 1\norder x\nversion 1\nprev -\nkey 0000000000000000\n"
				 "signed-at 1970-01-01T00:00:00Z\nstate revoked\n"
				 "names 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
				 "prefixes 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
				 "delta 0\n";
	struct rs_manifest *m = parse_ok(t1, strlen(t1));
	char *t;
	size_t len;

	assert_true(m->revoked);
	assert_int_equal(m->signed_at, 0);
	assert_int_equal(m->nfields, 0);
	assert_int_equal(m->ndelta, 0);
	assert_string_equal(m->prev, "-");
	t = rs_manifest_build(m, &len);
	assert_non_null(t);
	assert_string_equal(t, t1);
	free(t);
	rs_manifest_free(m);
}

/* The largest delta: 10,000 lines, parsed and rebuilt. */
static void test_manifest_big_delta(void **state)
{
	struct rs_delta *d = calloc(RS_MANIFEST_DELTA_MAX + 1, sizeof(*d));
	char (*names)[32] = calloc(RS_MANIFEST_DELTA_MAX + 1, 32);
	struct rs_manifest m = { 0 }, *p;
	char *t;
	size_t len;

	strcpy(m.order, "big");
	m.version = 1;
	strcpy(m.prev, "-");
	strcpy(m.key, "0123456789abcdef");
	strcpy(m.names_digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	strcpy(m.prefixes_digest, m.names_digest);
	for (int i = 0; i <= RS_MANIFEST_DELTA_MAX; i++) {
		snprintf(names[i], 32, "n%d.example", i);
		d[i].op = RS_D_ADD;
		d[i].item = names[i];
	}
	m.delta = d;
	m.ndelta = RS_MANIFEST_DELTA_MAX + 1;
	assert_null(rs_manifest_build(&m, &len));
	m.ndelta = RS_MANIFEST_DELTA_MAX;
	t = rs_manifest_build(&m, &len);
	assert_non_null(t);
	p = parse_ok(t, len);
	assert_int_equal(p->ndelta, RS_MANIFEST_DELTA_MAX);
	rs_manifest_free(p);
	free(t);
	free(d);
	free(names);
}

/* ---- key files ---- */

static void test_key_file(void **state)
{
	char dir[] = "/tmp/test_sign.XXXXXX", path[128], err[256], sig[RS_SIG_B64_LEN + 1];
	struct rs_privkey *k, *k2;
	struct rs_pubkey p1, p2;
	struct stat st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	assert_int_equal(rs_privkey_generate(&k, err, sizeof(err)), 0);
	umask(022);
	assert_int_equal(rs_privkey_write(k, path, "agcom", err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* never overwritten */
	assert_int_equal(rs_privkey_write(k, path, NULL, err, sizeof(err)), RS_EEXIST);
	assert_non_null(strstr(err, "never overwritten"));
	assert_int_equal(rs_privkey_write(k, "/tmp/x", "bad label", err, sizeof(err)), RS_EINVAL);

	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), 0);
	rs_privkey_public(k, &p1);
	rs_privkey_public(k2, &p2);
	assert_memory_equal(p1.raw, p2.raw, 32);
	assert_string_equal(p1.id, p2.id);
	assert_int_equal(rs_sign(k2, "hello", 5, sig), 0);
	assert_int_equal(rs_sig_verify(&p1, "hello", 5, sig), 0);
	assert_int_equal(rs_sig_verify(&p1, "hellO", 5, sig), RS_EINVAL);
	rs_privkey_free(k2);
	rs_privkey_free(k);

	/* others can read it: refused */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), RS_EPERM);
	assert_null(k2);
	assert_non_null(strstr(err, "can be read by other users: refused (chmod 600 "));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), RS_EPERM);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), 0);
	rs_privkey_free(k2);
	unlink(path);

	/* a directory, a missing file, not a key */
	assert_int_equal(rs_privkey_load(dir, &k2, err, sizeof(err)), RS_EPERM);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), RS_EIO);
	assert_non_null(strstr(err, "No such file"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(rs_privkey_load(path, &k2, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "not a PEM Ed25519 private key"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8032),
		cmocka_unit_test(test_pubkey_text),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_setdigest),
		cmocka_unit_test(test_setdigest_million),
		cmocka_unit_test(test_verify_speed),
		cmocka_unit_test(test_prepared_key),
		cmocka_unit_test(test_manifest_parse),
		cmocka_unit_test(test_manifest_build),
		cmocka_unit_test(test_manifest_malformed),
		cmocka_unit_test(test_manifest_minimal),
		cmocka_unit_test(test_manifest_big_delta),
		cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
