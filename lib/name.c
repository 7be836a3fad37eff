/* name.c — canonical names, wire names and suffix hashing (see name.h). */
#include "name.h"

#include <string.h>

#include "rs_err.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t mix64(uint64_t h)
{
	/* MurmurHash3 finaliser: spreads FNV's weak low bits for the table index. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static inline int name_char_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int rs_name_canon(const char *in, size_t len, char *out)
{
	size_t i, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return RS_ENAME_EMPTY;
	if (len > RS_NAME_MAX)
		return RS_ENAME_LEN;
	for (i = 0; i < len; i++) {
		uint8_t c = lower((uint8_t)in[i]);
		if (c == '.') {
			if (label == 0)
				return RS_ENAME_LABEL;
			label = 0;
		} else {
			if (!name_char_ok(c))
				return RS_ENAME_CHAR;
			if (++label > 63)
				return RS_ENAME_LABELLEN;
		}
		out[i] = (char)c;
	}
	if (label == 0) /* "a..": the single trailing dot was already removed */
		return RS_ENAME_LABEL;
	out[len] = '\0';
	return (int)len;
}

int rs_name_to_wire(const char *canon, size_t len, uint8_t *wire)
{
	size_t i, lenpos = 0;
	uint8_t n = 0;

	for (i = 0; i < len; i++) {
		if (canon[i] == '.') {
			wire[lenpos] = n;
			lenpos = i + 1;
			n = 0;
		} else {
			wire[i + 1] = (uint8_t)canon[i];
			n++;
		}
	}
	wire[lenpos] = n;
	wire[len + 1] = 0;
	return (int)len + 2;
}

bool rs_wire_canonical(const uint8_t *wire, size_t wlen)
{
	size_t i = 0;

	if (wlen < 2 || wlen > RS_WIRE_MAX)
		return false;
	while (i < wlen && wire[i] != 0) {
		size_t n = wire[i++];
		if (n > 63 || n >= wlen - i)
			return false;
		for (size_t k = 0; k < n; k++, i++)
			if (!name_char_ok(wire[i]))
				return false;
	}
	return i == wlen - 1 && i > 0;
}

uint64_t rs_wire_hash(const uint8_t *wire, size_t len)
{
	uint64_t h = FNV_OFFSET;

	while (len > 0)
		h = (h ^ wire[--len]) * FNV_PRIME;
	return mix64(h);
}

/* ASCII lowercase table: one load per octet on the query path. */
static const uint8_t lc_table[256] = {
#define R(i) [i] = (i >= 'A' && i <= 'Z') ? i + 32 : i
#define R4(i) R(i), R(i + 1), R(i + 2), R(i + 3)
#define R16(i) R4(i), R4(i + 4), R4(i + 8), R4(i + 12)
#define R64(i) R16(i), R16(i + 16), R16(i + 32), R16(i + 48)
	R64(0), R64(64), R64(128), R64(192)
#undef R64
#undef R16
#undef R4
#undef R
};

int rs_qname_prepare(const uint8_t *qname, size_t maxlen, struct rs_qname *q)
{
	size_t pos = 0, end;
	uint16_t n = 0;
	uint64_t h = FNV_OFFSET;

	if (maxlen > RS_WIRE_MAX)
		maxlen = RS_WIRE_MAX;
	/* Forward: validate, copy lowercased, note where each label starts. */
	for (;;) {
		uint8_t l;
		if (pos >= maxlen)
			return RS_ENAME_LEN;
		l = qname[pos];
		if (l > 63)
			return RS_ENAME_LABELLEN; /* also rejects compression pointers */
		if (l == 0)
			break;
		if (pos + 1 + l >= maxlen)
			return RS_ENAME_LEN;
		q->off[n++] = (uint8_t)pos;
		q->wire[pos] = l;
		for (size_t i = pos + 1, e = pos + 1 + l; i < e; i++)
			q->wire[i] = lc_table[qname[i]];
		pos += 1 + (size_t)l;
	}
	q->wire[pos] = 0;
	q->len = (uint16_t)(pos + 1);
	q->nlabels = n;

	/* Backward, a label at a time: after label i (with its length octet),
	 * h is the (unmixed) hash of the suffix that starts at label i. */
	h = (h ^ 0) * FNV_PRIME; /* the root label */
	end = pos;
	for (int i = (int)n - 1; i >= 0; i--) {
		const uint8_t *w = q->wire;
		for (size_t p = end; p > q->off[i];) {
			p--;
			h = (h ^ w[p]) * FNV_PRIME;
		}
		q->hash[i] = mix64(h);
		end = q->off[i];
	}
	return n;
}

size_t rs_wire_to_text(const uint8_t *wire, size_t len, char *out, size_t outsz)
{
	size_t pos = 0, o = 0;

	if (outsz == 0)
		return 0;
#define PUT(c) do { if (o + 1 < outsz) out[o++] = (char)(c); } while (0)
	if (len == 0 || wire[0] == 0) {
		PUT('.');
	}
	while (pos < len && wire[pos] != 0) {
		uint8_t l = wire[pos++];
		if (o > 0)
			PUT('.');
		for (uint8_t i = 0; i < l && pos < len; i++, pos++) {
			uint8_t c = wire[pos];
			if (c == '.' || c == '\\') {
				PUT('\\');
				PUT(c);
			} else if (c <= 0x20 || c >= 0x7f) {
				PUT('\\');
				PUT('0' + c / 100);
				PUT('0' + (c / 10) % 10);
				PUT('0' + c % 10);
			} else {
				PUT(c);
			}
		}
	}
#undef PUT
	out[o] = '\0';
	return o;
}
