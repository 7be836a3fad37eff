/*
 * sign.c — the verifying side of signed orders: Ed25519 public keys and
 * signatures, SHA-256, set digests and the strict manifest parser/builder
 * (the format and its rules are in sign.h; the design in doc/signing.md).
 *
 * Crypto is OpenSSL 3 EVP only (no deprecated low-level calls). The parser
 * accepts exactly the texts the builder writes, and the builder checks its
 * own output with the parser before returning it, so a signer can never sign
 * a text a resolver refuses.
 */
#include "sign.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "name.h"
#include "order.h"
#include "prefix.h"
#include "rs_err.h"

const char *const rs_manifest_fields[RS_MANIFEST_NFIELDS] = {
	"authority", "reference", "issued", "expires", "scope", "action", "reason", "url", "lang", "windows",
};

/* ---- base64 (standard alphabet, strict) ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rs_b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rs_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
	size_t pad = (3 - outlen % 3) % 3, o = 0;

	if (inlen != 4 * ((outlen + 2) / 3))
		return RS_EINVAL;
	for (size_t i = 0; i < inlen; i += 4) {
		bool last = i + 4 == inlen;
		size_t npad = last ? pad : 0;
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			int d;
			if (j >= 4 - npad) {
				if (in[i + j] != '=')
					return RS_EINVAL;
				d = 0;
			} else if ((d = b64val((unsigned char)in[i + j])) < 0) {
				return RS_EINVAL;
			}
			v = v << 6 | (uint32_t)d;
		}
		/* the unused bits of the last quantum must be zero (one text per value) */
		if ((npad == 1 && (v & 0xff)) || (npad == 2 && (v & 0xffff)))
			return RS_EINVAL;
		out[o++] = (uint8_t)(v >> 16);
		if (npad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (npad < 1)
			out[o++] = (uint8_t)v;
	}
	return o == outlen ? 0 : RS_EINVAL;
}

/* ---- hashes, keys, signatures ---- */

static const char hexd[] = "0123456789abcdef";

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[in[i] >> 4];
		out[2 * i + 1] = hexd[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool lowerhex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int rs_sha256(const void *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(msg, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		memset(out, 0, 32);
		return RS_ENOMEM;
	}
	return 0;
}

void rs_sha256_hex(const void *msg, size_t len, char out[65])
{
	uint8_t d[32];

	rs_sha256(msg, len, d);
	hex(d, 32, out);
}

void rs_keyid(const uint8_t raw[32], char out[RS_KEYID_LEN + 1])
{
	uint8_t d[32];

	rs_sha256(raw, 32, d);
	hex(d, RS_KEYID_LEN / 2, out);
}

bool rs_keyid_ok(const char *s)
{
	return s && strlen(s) == RS_KEYID_LEN && lowerhex(s, RS_KEYID_LEN);
}

bool rs_key_label_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > RS_KEY_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int rs_pubkey_parse(const char *text, struct rs_pubkey *k, char *err, size_t errlen)
{
	size_t n = text ? strlen(text) : 0;

	memset(k, 0, sizeof(*k));
	if (n < 8 || memcmp(text, "ed25519:", 8) != 0) {
		snprintf(err, errlen, "public key: want ed25519:<base64 of 32 octets>");
		return RS_EINVAL;
	}
	if (n != RS_PUBKEY_TEXT_LEN || rs_b64_decode(text + 8, n - 8, k->raw, 32) != 0) {
		memset(k, 0, sizeof(*k));
		snprintf(err, errlen, "public key: not 44 characters of standard base64 of 32 octets after 'ed25519:'");
		return RS_EINVAL;
	}
	rs_keyid(k->raw, k->id);
	return 0;
}

void rs_pubkey_format(const struct rs_pubkey *k, char *buf, size_t n)
{
	char b[45];

	rs_b64_encode(k->raw, 32, b);
	snprintf(buf, n, "ed25519:%s", b);
}

int rs_pubkey_prepare(struct rs_pubkey *k)
{
	if (!k->pkey)
		k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->raw, 32);
	if (k->pkey)
		return 0;
	ERR_clear_error();
	return RS_ENOMEM;
}

void rs_pubkey_release(struct rs_pubkey *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

int rs_sig_verify(const struct rs_pubkey *k, const void *msg, size_t len, const char *sig_b64)
{
	uint8_t sig[64];
	EVP_PKEY *pk, *tmp = NULL;
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (!k || !sig_b64 || strlen(sig_b64) != RS_SIG_B64_LEN ||
	    rs_b64_decode(sig_b64, RS_SIG_B64_LEN, sig, sizeof(sig)) != 0)
		return RS_EINVAL;
	if (!msg)
		msg = "";
	/*
	 * A configured key's EVP_PKEY (rs_pubkey_prepare) is shared by every
	 * thread that verifies (the sync thread, a reload's loader). It is
	 * never modified after it was built, and each call has its own
	 * EVP_MD_CTX (the per-operation state, EVP_DigestVerifyInit makes its
	 * own EVP_PKEY_CTX). openssl-threads(7) (OpenSSL 3): "Objects are
	 * thread-safe as long as the API's being invoked don't modify the
	 * object"; what is unsafe is to "mutate an object, such as setting
	 * elements of a private or public key, while another thread is using
	 * that object, such as verifying a signature" — nobody does here (the
	 * key is freed with the config, after its threads stopped). Without
	 * one (a key the tools parsed), build a temporary key as before.
	 */
	pk = k->pkey;
	if (!pk)
		pk = tmp = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->raw, 32);
	if (pk) {
		ctx = EVP_MD_CTX_new();
		if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
			ok = EVP_DigestVerify(ctx, sig, sizeof(sig), msg, len) == 1;
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(tmp);
	}
	/* a refused signature leaves errors on this thread's OpenSSL error
	 * queue: clear them, so that no later libcrypto/libssl user in the
	 * process (Unbound's TLS) mistakes them for its own */
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : RS_EINVAL;
}

/* ---- set digest ---- */

struct rs_setdigest {
	uint8_t (*h)[32];
	size_t n, cap;
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	bool failed; /* libcrypto failed: the digest would be wrong */
};

struct rs_setdigest *rs_setdigest_new(void)
{
	struct rs_setdigest *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ctx = EVP_MD_CTX_new();
	d->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!d->ctx || !d->md) {
		rs_setdigest_free(d);
		return NULL;
	}
	return d;
}

void rs_setdigest_free(struct rs_setdigest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	EVP_MD_free(d->md);
	free(d->h);
	free(d);
}

int rs_setdigest_add(struct rs_setdigest *d, const char *member, size_t len)
{
	unsigned int n = 0;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 1024;
		void *h = realloc(d->h, cap * sizeof(*d->h));
		if (!h)
			return RS_ENOMEM;
		d->h = h;
		d->cap = cap;
	}
	if (EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1 || EVP_DigestUpdate(d->ctx, member, len) != 1 ||
	    EVP_DigestFinal_ex(d->ctx, d->h[d->n], &n) != 1 || n != 32) {
		d->failed = true;
		return RS_ENOMEM;
	}
	d->n++;
	return 0;
}

static void isort32(uint8_t (*a)[32], size_t n)
{
	uint8_t t[32];

	for (size_t i = 1; i < n; i++) {
		size_t j = i;
		if (memcmp(a[j - 1], a[j], 32) <= 0)
			continue;
		memcpy(t, a[i], 32);
		while (j > 0 && memcmp(a[j - 1], t, 32) > 0) {
			memcpy(a[j], a[j - 1], 32);
			j--;
		}
		memcpy(a[j], t, 32);
	}
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Sort n 32-octet keys: one counting pass on the first 16 bits (SHA-256
 * output is uniform, so the buckets are small), then each bucket by
 * insertion sort. Falls back to qsort without the scratch memory. */
static void sort32(uint8_t (*a)[32], size_t n)
{
	uint8_t (*tmp)[32];
	size_t *start;

	if (n < 2)
		return;
	if (n < 4096) {
		qsort(a, n, 32, cmp32);
		return;
	}
	tmp = malloc(n * 32);
	start = calloc(65537, sizeof(*start));
	if (!tmp || !start) {
		free(tmp);
		free(start);
		qsort(a, n, 32, cmp32);
		return;
	}
	for (size_t i = 0; i < n; i++)
		start[((size_t)a[i][0] << 8 | a[i][1]) + 1]++;
	for (size_t b = 1; b <= 65536; b++)
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++) {
		size_t b = (size_t)a[i][0] << 8 | a[i][1];
		memcpy(tmp[start[b]++], a[i], 32);
	}
	/* start[b] is now the end of bucket b */
	for (size_t b = 0, s = 0; b < 65536; b++) {
		size_t e = start[b];
		if (e - s > 64)
			qsort(tmp + s, e - s, 32, cmp32);
		else if (e - s > 1)
			isort32(tmp + s, e - s);
		s = e;
	}
	memcpy(a, tmp, n * 32);
	free(tmp);
	free(start);
}

void rs_setdigest_finish(struct rs_setdigest *d, char hexout[65], size_t *count)
{
	uint8_t out[32];
	unsigned int n = 0;

	sort32(d->h, d->n);
	/* a set: identical member hashes (the same member fed twice) count once */
	if (d->n > 1) {
		size_t w = 1;
		for (size_t r = 1; r < d->n; r++)
			if (memcmp(d->h[r], d->h[w - 1], 32) != 0) {
				if (w != r)
					memcpy(d->h[w], d->h[r], 32);
				w++;
			}
		d->n = w;
	}
	if (count)
		*count = d->n;
	if (d->failed || EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1 ||
	    (d->n && EVP_DigestUpdate(d->ctx, d->h, d->n * 32) != 1) || EVP_DigestFinal_ex(d->ctx, out, &n) != 1) {
		/* never a valid-looking digest after a failure: it will not match */
		memset(hexout, 'x', 64);
		hexout[64] = '\0';
	} else {
		hex(out, 32, hexout);
	}
	rs_setdigest_free(d);
}

/* ---- manifest ---- */

/* Is s[0..n) valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF)? */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

struct mimpl {
	struct rs_manifest m; /* first: rs_manifest_free casts back */
	char *buf;            /* the text with '\n' -> NUL; items and values point here */
};

struct pctx {
	const char *order; /* "" until the order line */
	size_t line;
	char *err;
	size_t errlen;
};

static int perr(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct pctx *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->order[0])
		snprintf(c->err, c->errlen, "manifest of order '%s': line %zu: %s", c->order, c->line, msg);
	else
		snprintf(c->err, c->errlen, "manifest: line %zu: %s", c->line, msg);
	return RS_EINVAL;
}

/* Decimal without sign or leading zero, at most 19 digits. */
static bool parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

#define SIGNED_AT_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static void fmt_time(int64_t t, char out[21])
{
	int64_t days = t / 86400, secs = t % 86400;
	/* civil_from_days */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	y += m <= 2;
	char tmp[64]; /* callers keep t in [0, SIGNED_AT_MAX]: always 20 characters */

	snprintf(tmp, sizeof(tmp), "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000, m, d,
		 (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
	memcpy(out, tmp, 20);
	out[20] = '\0';
}

static bool parse_time(const char *s, size_t n, int64_t *out)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned v[6];
	static const size_t pos[6] = { 0, 5, 8, 11, 14, 17 }, wid[6] = { 4, 2, 2, 2, 2, 2 };
	char back[21];

	if (n != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return false;
	for (size_t i = 0; i < 6; i++) {
		v[i] = 0;
		for (size_t j = 0; j < wid[i]; j++) {
			char c = s[pos[i] + j];
			if (c < '0' || c > '9')
				return false;
			v[i] = v[i] * 10 + (unsigned)(c - '0');
		}
	}
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[3] > 23 || v[4] > 59 || v[5] > 59)
		return false;
	unsigned md = mdays[v[1] - 1];
	if (v[1] == 2 && (v[0] % 4 == 0 && (v[0] % 100 != 0 || v[0] % 400 == 0)))
		md = 29;
	if (v[2] > md)
		return false;
	*out = days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
	fmt_time(*out, back);
	return memcmp(back, s, 20) == 0;
}

/* Check and unescape a field value s[0..n) in place (the result is NUL
 * terminated, never longer). NULL on success, else why. */
static const char *unescape(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return "a control character not escaped";
		if (c != '\\') {
			s[o++] = (char)c;
			continue;
		}
		if (i + 1 >= n)
			return "'\\' at the end of the value";
		c = (unsigned char)s[++i];
		if (c == '\\') {
			s[o++] = '\\';
		} else if (c == 'n') {
			s[o++] = '\n';
		} else if (c == 'x') {
			unsigned v;
			if (i + 2 >= n)
				return "'\\x' without two hex digits";
			if (!lowerhex(s + i + 1, 2))
				return "'\\x' without two lowercase hex digits";
			v = (unsigned)((strchr(hexd, s[i + 1]) - hexd) << 4 | (strchr(hexd, s[i + 2]) - hexd));
			if (v == 0)
				return "'\\x00' (a NUL) in a value";
			if (v == '\n')
				return "'\\x0a' where '\\n' is the escape";
			if (!(v < 0x20 || v == 0x7f))
				return "'\\x' escape of a character that is not a control character";
			s[o++] = (char)v;
			i += 2;
		} else {
			return "unknown escape (only \\\\, \\n and \\xHH)";
		}
	}
	s[o] = '\0';
	return NULL;
}

/* Is s[0..n) the canonical text of a domain? */
static bool canon_domain(const char *s, size_t n)
{
	char out[RS_NAME_MAX + 1];

	return n >= 1 && n <= RS_NAME_MAX && rs_name_canon(s, n, out) == (int)n && memcmp(out, s, n) == 0;
}

/* Is the NUL-terminated s the canonical text of a prefix? */
static bool canon_prefix(const char *s, size_t n)
{
	struct rs_prefix p;
	char out[RS_PREFIX_TEXT_MAX];

	if (n == 0 || n >= RS_PREFIX_TEXT_MAX || rs_prefix_parse(s, &p, NULL, 0) != 0)
		return false;
	return rs_prefix_format(&p, out, sizeof(out)) == n && memcmp(out, s, n) == 0;
}

static const char *const dprefix[4] = { "+ ", "- ", "+ip ", "-ip " };

static int delta_cmp(const struct rs_delta *a, const struct rs_delta *b)
{
	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	return strcmp(a->item, b->item);
}

/* Is an item in both sorted groups [a0, a1) and [b0, b1)? */
static const char *both(const struct rs_delta *d, size_t a0, size_t a1, size_t b0, size_t b1)
{
	while (a0 < a1 && b0 < b1) {
		int c = strcmp(d[a0].item, d[b0].item);
		if (c == 0)
			return d[a0].item;
		if (c < 0)
			a0++;
		else
			b0++;
	}
	return NULL;
}

/* The lines of the buffer copy (each ended by a NUL that was '\n'). */
struct lines {
	char *p, *end; /* in the buffer copy */
	char *cur;
	size_t curlen;
};

static bool next_line(struct lines *L)
{
	char *nl;

	if (L->p >= L->end)
		return false;
	nl = memchr(L->p, '\0', (size_t)(L->end - L->p));
	/* the buffer's lines end in NUL (was '\n'); the text ends in '\n' so nl exists */
	L->cur = L->p;
	L->curlen = (size_t)(nl - L->p);
	L->p = nl + 1;
	return true;
}

/* Does the current line start with key (with its trailing space)? *v, *vn: the rest. */
static bool starts(const struct lines *L, const char *key, const char **v, size_t *vn)
{
	size_t k = strlen(key);

	if (L->curlen < k || memcmp(L->cur, key, k) != 0)
		return false;
	*v = L->cur + k;
	*vn = L->curlen - k;
	return true;
}

static int parse_count_digest(struct pctx *c, struct lines *L, const char *key, size_t *count, char digest[65])
{
	const char *v, *sp;
	size_t vn;
	uint64_t n;

	c->line++;
	if (!next_line(L) || !starts(L, key, &v, &vn))
		return perr(c, "want '%s<count> <64 hex>'", key);
	sp = memchr(v, ' ', vn);
	if (!sp || !parse_dec(v, (size_t)(sp - v), &n))
		return perr(c, "%sa count: decimal without leading zeros", key);
	if (vn - (size_t)(sp - v) - 1 != 64 || !lowerhex(sp + 1, 64))
		return perr(c, "%sthe digest: 64 lowercase hex digits", key);
	*count = (size_t)n;
	memcpy(digest, sp + 1, 64);
	digest[64] = '\0';
	return 0;
}

int rs_manifest_parse(const char *text, size_t len, struct rs_manifest **out, char *err, size_t errlen)
{
	struct pctx c = { .order = "", .line = 0, .err = err, .errlen = errlen };
	struct mimpl *mi;
	struct rs_manifest *m;
	struct lines L;
	const char *v;
	size_t vn, fi = 0;
	uint64_t n;
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!text || len == 0)
		return c.line = 1, perr(&c, "empty manifest");
	if (len > RS_MANIFEST_MAX)
		return c.line = 1, perr(&c, "manifest longer than %d octets", RS_MANIFEST_MAX);
	if (text[len - 1] != '\n')
		return c.line = 1, perr(&c, "the text does not end in a newline");
	if (memchr(text, '\0', len))
		return c.line = 1, perr(&c, "a NUL octet in the text");
	if (!utf8_ok((const unsigned char *)text, len))
		return c.line = 1, perr(&c, "the text is not valid UTF-8");
	mi = calloc(1, sizeof(*mi));
	if (!mi)
		return RS_ENOMEM;
	m = &mi->m;
	m->text = malloc(len + 1);
	mi->buf = malloc(len + 1);
	if (!m->text || !mi->buf) {
		rs_manifest_free(m);
		return RS_ENOMEM;
	}
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	memcpy(mi->buf, text, len);
	mi->buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (mi->buf[i] == '\n')
			mi->buf[i] = '\0';
	L.p = mi->buf;
	L.end = mi->buf + len;

	rc = RS_EINVAL;
	c.line = 1;
	if (!next_line(&L) || L.curlen != 18 || memcmp(L.cur, "redsink-manifest 1", 18) != 0) {
		perr(&c, "want 'redsink-manifest 1'");
		goto fail;
	}
	c.line++;
	if (!next_line(&L) || !starts(&L, "order ", &v, &vn)) {
		perr(&c, "want 'order <id>'");
		goto fail;
	}
	if (vn == 0 || vn > RS_ORDER_ID_MAX || !rs_order_id_ok(v)) {
		perr(&c, "order id: %s", RS_ORDER_ID_RULE);
		goto fail;
	}
	memcpy(m->order, v, vn + 1);
	c.order = m->order;
	c.line++;
	if (!next_line(&L) || !starts(&L, "version ", &v, &vn)) {
		perr(&c, "want 'version <n>'");
		goto fail;
	}
	if (!parse_dec(v, vn, &m->version) || m->version == 0) {
		perr(&c, "version: a decimal from 1, without leading zeros");
		goto fail;
	}
	c.line++;
	if (!next_line(&L) || !starts(&L, "prev ", &v, &vn)) {
		perr(&c, "want 'prev <64 hex>|-'");
		goto fail;
	}
	if (m->version == 1 ? !(vn == 1 && v[0] == '-') : !(vn == 64 && lowerhex(v, 64))) {
		perr(&c, m->version == 1 ? "prev: '-' for version 1" : "prev: 64 lowercase hex digits after version 1");
		goto fail;
	}
	memcpy(m->prev, v, vn + 1);
	c.line++;
	if (!next_line(&L) || !starts(&L, "key ", &v, &vn)) {
		perr(&c, "want 'key <keyid>'");
		goto fail;
	}
	if (!rs_keyid_ok(v)) {
		perr(&c, "key: 16 lowercase hex digits");
		goto fail;
	}
	memcpy(m->key, v, vn + 1);
	c.line++;
	if (!next_line(&L) || !starts(&L, "signed-at ", &v, &vn)) {
		perr(&c, "want 'signed-at <YYYY-MM-DDTHH:MM:SSZ>'");
		goto fail;
	}
	if (!parse_time(v, vn, &m->signed_at)) {
		perr(&c, "signed-at: a UTC time YYYY-MM-DDTHH:MM:SSZ from 1970 to 9999");
		goto fail;
	}
	c.line++;
	if (!next_line(&L) || !starts(&L, "state ", &v, &vn)) {
		perr(&c, "want 'state active|revoked'");
		goto fail;
	}
	if (strcmp(v, "active") == 0) {
		m->revoked = false;
	} else if (strcmp(v, "revoked") == 0) {
		m->revoked = true;
	} else {
		perr(&c, "state: 'active' or 'revoked'");
		goto fail;
	}
	for (;;) {
		const char *sp;
		size_t k;
		const char *why;

		c.line++;
		if (!next_line(&L)) {
			perr(&c, "want 'field ...' or 'names ...'");
			goto fail;
		}
		if (!starts(&L, "field ", &v, &vn))
			break;
		sp = memchr(v, ' ', vn);
		if (!sp) {
			perr(&c, "want 'field <name> <value>' (an empty field is left out)");
			goto fail;
		}
		for (k = 0; k < RS_MANIFEST_NFIELDS; k++)
			if (strlen(rs_manifest_fields[k]) == (size_t)(sp - v) &&
			    memcmp(rs_manifest_fields[k], v, (size_t)(sp - v)) == 0)
				break;
		if (k == RS_MANIFEST_NFIELDS) {
			perr(&c, "unknown field '%.*s'", (int)((sp - v) > 40 ? 40 : (sp - v)), v);
			goto fail;
		}
		if (m->nfields && k < fi) {
			perr(&c, "field '%s' out of order or repeated", rs_manifest_fields[k]);
			goto fail;
		}
		fi = k + 1;
		vn -= (size_t)(sp - v) + 1;
		if (vn == 0) {
			perr(&c, "field '%s': empty value (an empty field is left out)", rs_manifest_fields[k]);
			goto fail;
		}
		if (vn > RS_MANIFEST_VALUE_MAX) {
			perr(&c, "field '%s': value longer than %d octets", rs_manifest_fields[k], RS_MANIFEST_VALUE_MAX);
			goto fail;
		}
		if ((why = unescape((char *)sp + 1, vn))) {
			perr(&c, "field '%s': %s", rs_manifest_fields[k], why);
			goto fail;
		}
		m->field_name[m->nfields] = rs_manifest_fields[k];
		m->field_value[m->nfields++] = (char *)sp + 1;
	}
	c.line--;
	L.p = L.cur; /* the names line again */
	if ((rc = parse_count_digest(&c, &L, "names ", &m->names, m->names_digest)) ||
	    (rc = parse_count_digest(&c, &L, "prefixes ", &m->prefixes, m->prefixes_digest)))
		goto fail;
	rc = RS_EINVAL;
	c.line++;
	if (!next_line(&L) || !starts(&L, "delta ", &v, &vn)) {
		perr(&c, "want 'delta <count>'");
		goto fail;
	}
	if (!parse_dec(v, vn, &n) || n > RS_MANIFEST_DELTA_MAX) {
		perr(&c, "delta: a count from 0 to %d without leading zeros", RS_MANIFEST_DELTA_MAX);
		goto fail;
	}
	m->ndelta = (size_t)n;
	if (n && !(m->delta = calloc((size_t)n, sizeof(*m->delta)))) {
		rc = RS_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < m->ndelta; i++) {
		uint8_t op;
		struct rs_delta *d = &m->delta[i];

		c.line++;
		if (!next_line(&L)) {
			perr(&c, "%zu delta lines, the count says %zu", i, m->ndelta);
			goto fail;
		}
		for (op = 0; op < 4; op++)
			if (starts(&L, dprefix[op], &v, &vn))
				break;
		if (op == 4) {
			perr(&c, "a delta line: '+ ', '- ', '+ip ' or '-ip ' and the item");
			goto fail;
		}
		if (op <= RS_D_DEL ? !canon_domain(v, vn) : !canon_prefix(v, vn)) {
			perr(&c, "'%.*s' is not a canonical %s", (int)(vn > 60 ? 60 : vn), v,
			     op <= RS_D_DEL ? "domain" : "prefix");
			goto fail;
		}
		d->op = op;
		d->item = v;
		if (i > 0 && delta_cmp(&m->delta[i - 1], d) >= 0) {
			perr(&c, "delta lines not sorted ('+ ', '- ', '+ip ', '-ip ', then by item) or repeated");
			goto fail;
		}
	}
	if (L.p < L.end) {
		c.line++;
		perr(&c, "text after the %zu delta lines", m->ndelta);
		goto fail;
	}
	{
		size_t g[5] = { 0 }; /* group bounds */
		const char *x;
		for (size_t i = 0; i < m->ndelta; i++)
			g[m->delta[i].op + 1]++;
		for (int i = 1; i <= 4; i++)
			g[i] += g[i - 1];
		if ((x = both(m->delta, g[0], g[1], g[1], g[2])) || (x = both(m->delta, g[2], g[3], g[3], g[4]))) {
			c.line = 0;
			snprintf(err, errlen, "manifest of order '%s': '%.60s' is both added and deleted", m->order, x);
			goto fail;
		}
	}
	*out = m;
	return 0;
fail:
	rs_manifest_free(m);
	return rc;
}

void rs_manifest_free(struct rs_manifest *m)
{
	struct mimpl *mi = (struct mimpl *)m;

	if (!m)
		return;
	free(m->text);
	free(m->delta);
	free(mi->buf);
	free(mi);
}

/* ---- builder ---- */

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->n + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_add(b, tmp, n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n);
}

static void sb_escaped(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\') {
			sb_add(b, "\\\\", 2);
		} else if (c == '\n') {
			sb_add(b, "\\n", 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[4] = { '\\', 'x', hexd[c >> 4], hexd[c & 15] };
			sb_add(b, e, 4);
		} else {
			sb_add(b, s, 1);
		}
	}
}

static int dcmp_ptr(const void *a, const void *b)
{
	return delta_cmp(a, b);
}

char *rs_manifest_build_err(const struct rs_manifest *m, size_t *len, char *err, size_t errlen)
{
	struct sbuf b = { 0 };
	struct rs_delta *d = NULL;
	struct rs_manifest *check = NULL;
	char t[21], perrbuf[320];
	int fidx[RS_MANIFEST_NFIELDS];

	if (errlen)
		err[0] = '\0';
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)
	if (!m)
		BAD("no manifest");
	if (strnlen(m->order, sizeof(m->order)) >= sizeof(m->order) || !rs_order_id_ok(m->order))
		BAD("order id: %s", RS_ORDER_ID_RULE);
	if (m->version == 0 || m->version > UINT64_C(9999999999999999999))
		BAD("version: from 1");
	if (m->version == 1 ? strcmp(m->prev, "-") != 0
			    : !(strnlen(m->prev, sizeof(m->prev)) == 64 && lowerhex(m->prev, 64)))
		BAD("prev: '-' for version 1, else 64 lowercase hex digits");
	if (strnlen(m->key, sizeof(m->key)) != RS_KEYID_LEN || !rs_keyid_ok(m->key))
		BAD("key: 16 lowercase hex digits");
	if (m->signed_at < 0 || m->signed_at > SIGNED_AT_MAX)
		BAD("signed-at out of 1970-9999");
	if (m->nfields > 16)
		BAD("more than 16 fields");
	for (size_t k = 0; k < RS_MANIFEST_NFIELDS; k++)
		fidx[k] = -1;
	for (size_t i = 0; i < m->nfields; i++) {
		size_t k;
		if (!m->field_name[i])
			BAD("field %zu without a name", i);
		for (k = 0; k < RS_MANIFEST_NFIELDS; k++)
			if (strcmp(m->field_name[i], rs_manifest_fields[k]) == 0)
				break;
		if (k == RS_MANIFEST_NFIELDS)
			BAD("unknown field '%.40s'", m->field_name[i]);
		if (fidx[k] >= 0)
			BAD("field '%s' twice", rs_manifest_fields[k]);
		fidx[k] = (int)i;
		if (m->field_value[i] && !utf8_ok((const unsigned char *)m->field_value[i], strlen(m->field_value[i])))
			BAD("field '%s': not valid UTF-8", rs_manifest_fields[k]);
	}
	if (strnlen(m->names_digest, 65) != 64 || !lowerhex(m->names_digest, 64) ||
	    strnlen(m->prefixes_digest, 65) != 64 || !lowerhex(m->prefixes_digest, 64))
		BAD("names/prefixes digest: 64 lowercase hex digits");
	if (m->ndelta > RS_MANIFEST_DELTA_MAX)
		BAD("%zu delta lines, at most %d per version", m->ndelta, RS_MANIFEST_DELTA_MAX);
	if (m->ndelta) {
		if (!(d = malloc(m->ndelta * sizeof(*d))))
			BAD("out of memory");
		memcpy(d, m->delta, m->ndelta * sizeof(*d));
		for (size_t i = 0; i < m->ndelta; i++)
			if (d[i].op > RS_D_DELIP || !d[i].item)
				BAD("delta %zu: bad operation or no item", i);
		qsort(d, m->ndelta, sizeof(*d), dcmp_ptr);
		for (size_t i = 1; i < m->ndelta; i++)
			if (delta_cmp(&d[i - 1], &d[i]) == 0)
				BAD("'%s%.60s' twice in the delta", dprefix[d[i].op], d[i].item);
	}
	sb_str(&b, "redsink-manifest 1\norder ");
	sb_str(&b, m->order);
	sb_fmt(&b, "\nversion %llu\nprev %s\nkey %s\n", (unsigned long long)m->version, m->prev, m->key);
	fmt_time(m->signed_at, t);
	sb_fmt(&b, "signed-at %s\nstate %s\n", t, m->revoked ? "revoked" : "active");
	for (size_t k = 0; k < RS_MANIFEST_NFIELDS; k++) {
		const char *val = fidx[k] >= 0 ? m->field_value[fidx[k]] : NULL;
		if (!val || !*val)
			continue;
		sb_str(&b, "field ");
		sb_str(&b, rs_manifest_fields[k]);
		sb_str(&b, " ");
		sb_escaped(&b, val);
		sb_str(&b, "\n");
	}
	sb_fmt(&b, "names %zu %s\nprefixes %zu %s\ndelta %zu\n", m->names, m->names_digest, m->prefixes,
	       m->prefixes_digest, m->ndelta);
	for (size_t i = 0; i < m->ndelta; i++) {
		sb_str(&b, dprefix[d[i].op]);
		sb_str(&b, d[i].item);
		sb_str(&b, "\n");
		if (b.n > RS_MANIFEST_MAX)
			break;
	}
	if (b.oom)
		BAD("out of memory");
	if (b.n > RS_MANIFEST_MAX)
		BAD("manifest longer than %d octets", RS_MANIFEST_MAX);
	/* the parser is the definition of canonical: never hand out a text it refuses */
	if (rs_manifest_parse(b.p, b.n, &check, perrbuf, sizeof(perrbuf)) != 0)
		BAD("%s", perrbuf[0] ? perrbuf : "out of memory");
	rs_manifest_free(check);
	free(d);
	if (len)
		*len = b.n;
	return b.p;
fail:
#undef BAD
	free(d);
	free(b.p);
	return NULL;
}

char *rs_manifest_build(const struct rs_manifest *m, size_t *len)
{
	char err[320];

	return rs_manifest_build_err(m, len, err, sizeof(err));
}
