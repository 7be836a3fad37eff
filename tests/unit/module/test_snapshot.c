/* test_snapshot.c — the snapshot file: round trip (names, prefixes, orders),
 * damaged files rejected whole, bad records skipped, older versions read. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "list.h"
#include "load.h"
#include "rs_err.h"
#include "sign.h"
#include "snapshot.h"
#include "text.h"

static struct rs_conf conf = { .jurisdiction = "IT", .language = "en", .txt_text = "{reference}" };
static char path[64];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/rs-snap-test-%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static uint32_t order(struct rs_list *l, const char *id, const char *scope, const char *action)
{
	const char *kv[] = { "authority", "Court of X", "reference", id, "scope", scope, "action", action,
			     "reason", "r\xc3\xa9" "ason", "url", "https://x.example/o", "expires", "2099-01-01T00:00:00Z" };
	struct rs_order *o;
	uint32_t idx;
	char err[256];

	assert_int_equal(rs_order_parse(&conf, id, kv, 7, &o, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(l, o, &idx), 0);
	return idx;
}

static void add(struct rs_list *l, const char *name, uint32_t idx)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	assert_int_equal(rs_list_add(l, w, (size_t)n, idx), 0);
}

static enum rs_verdict match(struct rs_list *l, const char *name, const char **ref)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);
	struct rs_qname q;
	struct rs_match m;
	enum rs_verdict v;

	rs_qname_prepare(w, (size_t)n, &q);
	v = rs_list_match(l, &q, 1800000000, &m);
	if (ref)
		*ref = v == RS_BLOCKED ? m.order->reference : NULL;
	return v;
}

static struct rs_prefix pfx(const char *text)
{
	struct rs_prefix p;

	assert_int_equal(rs_prefix_parse(text, &p, NULL, 0), 0);
	return p;
}

static void padd(struct rs_list *l, const char *text, uint32_t idx)
{
	struct rs_prefix p = pfx(text);

	assert_int_equal(rs_list_prefix_add(l, &p, idx), 0);
}

static enum rs_verdict amatch(struct rs_list *l, const char *addr, const char **ref)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? 6 : 4;
	struct rs_match m;
	enum rs_verdict v;

	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, addr, a), 1);
	v = rs_list_match_addr(l, family, a, 1800000000, &m);
	if (ref)
		*ref = v == RS_BLOCKED ? m.order->reference : NULL;
	return v;
}

/* A list with two orders (one removed), shared domains and a protected name;
 * with prefixes: listed by one or two orders, one only by the removed
 * order, nested, and protected. */
static struct rs_list *sample_with(bool prefixes)
{
	struct rs_list *l = rs_list_new(0);
	uint32_t a = order(l, "a", "*", "sinkhole"), gone = order(l, "gone", "*", "sinkhole"),
		 b = order(l, "b", "it", "nxdomain");
	uint8_t w[RS_WIRE_MAX];
	int n;

	add(l, "pirate.example", a);
	add(l, "both.example", a);
	add(l, "both.example", b);
	add(l, "only-gone.example", gone);
	add(l, "pirate2.example", b);
	n = rs_domain_wire("good.pirate2.example", 20, w);
	assert_int_equal(rs_list_protect(l, w, (size_t)n, true), 0);
	if (prefixes) {
		struct rs_prefix p = pfx("192.0.2.128/25");
		padd(l, "192.0.2.0/24", a);
		padd(l, "192.0.2.0/24", b);
		padd(l, "198.51.100.0/24", b);
		padd(l, "203.0.113.0/24", gone);
		padd(l, "2001:db8::/32", a);
		padd(l, "2001:db8:1::/48", b);
		assert_int_equal(rs_list_prefix_protect(l, &p, true), 0);
		assert_int_equal(rs_list_commit(l), 0);
	}
	assert_int_equal(rs_list_order_remove(l, "gone"), 0);
	return l;
}

static struct rs_list *sample(void)
{
	return sample_with(true);
}

static void write_sample(void)
{
	struct rs_list *l = sample();
	char err[256];

	assert_int_equal(rs_snapshot_write(path, l, "1795893918112-7", "0123456789abcdef0123456789abcdef", NULL, 0, NULL, err, sizeof(err)), 0);
	rs_list_free(l);
}

static void test_round_trip(void **state)
{
	struct rs_list *l;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	const char *ref;

	write_sample();
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(last, "1795893918112-7");
	assert_string_equal(ds, "0123456789abcdef0123456789abcdef");
	assert_int_equal(match(l, "www.pirate.example", &ref), RS_BLOCKED);
	assert_string_equal(ref, "a");
	assert_int_equal(match(l, "both.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "only-gone.example", NULL), RS_PASS);
	assert_int_equal(match(l, "x.pirate2.example", &ref), RS_BLOCKED);
	assert_string_equal(ref, "b");
	assert_int_equal(match(l, "good.pirate2.example", NULL), RS_PROTECTED);
	assert_int_equal(rs_list_order_get(l, 1)->action, RS_ACT_NXDOMAIN);
	assert_string_equal(rs_list_order_get(l, 1)->reason, "r\xc3\xa9" "ason");
	assert_true(rs_list_order_get(l, 0)->expires > 0);
	rs_list_stats(l, &st);
	assert_int_equal(st.orders, 2);
	assert_int_equal(st.domains, 3);
	assert_int_equal(st.protected_n, 1);
	/* prefixes: committed by the read, same verdicts */
	assert_true(rs_list_has_prefixes(l));
	assert_int_equal(st.prefixes, 4); /* 203.0.113.0/24 was listed only by the removed order */
	assert_int_equal(st.protected_prefixes, 1);
	assert_int_equal(amatch(l, "192.0.2.1", &ref), RS_BLOCKED);
	assert_string_equal(ref, "a");
	assert_int_equal(amatch(l, "192.0.2.129", NULL), RS_PROTECTED);
	assert_int_equal(amatch(l, "198.51.100.9", &ref), RS_BLOCKED);
	assert_string_equal(ref, "b");
	assert_int_equal(amatch(l, "203.0.113.1", NULL), RS_PASS);
	assert_int_equal(amatch(l, "2001:db8:1::1", &ref), RS_BLOCKED);
	assert_string_equal(ref, "b");
	assert_int_equal(amatch(l, "2001:db8:2::1", &ref), RS_BLOCKED);
	assert_string_equal(ref, "a");
	rs_list_free(l);
}

/* The order's windows survive the round trip (an order with windows must
 * not come back from a restart applying at all times). */
static void test_windows_round_trip(void **state)
{
	const char *kv[] = { "authority", "Court", "reference", "w", "scope", "*", "action", "sinkhole", "windows",
			     "2030-01-01T20:00:00Z/2030-01-01T22:00:00Z" };
	struct rs_list *l = rs_list_new(0), *back;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	struct rs_order *o;
	uint32_t idx;

	assert_int_equal(rs_order_parse(&conf, "w", kv, 5, &o, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(l, o, &idx), 0);
	assert_int_equal(rs_snapshot_write(path, l, "1-1", "", NULL, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(rs_list_order_get(back, 0)->windows, o->windows);
	assert_int_equal(rs_list_order_get(back, 0)->nwin, 1);
	rs_list_free(back);
	rs_list_free(l);
}

static void rewrite(void (*damage)(uint8_t *data, size_t *len))
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = malloc(1 << 16);
	size_t len;

	assert_non_null(f);
	len = fread(data, 1, 1 << 16, f);
	fclose(f);
	damage(data, &len);
	f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	free(data);
}

static void truncate_tail(uint8_t *d, size_t *len) { *len -= 3; }
static void truncate_header(uint8_t *d, size_t *len) { *len = 20; }
static void flip_bit(uint8_t *d, size_t *len) { d[*len / 2] ^= 0x10; }
static void bad_version(uint8_t *d, size_t *len) { d[8] = 8; }
static void version_zero(uint8_t *d, size_t *len) { d[8] = 0; }
static void bad_magic(uint8_t *d, size_t *len) { d[0] = 'X'; }
static void appended(uint8_t *d, size_t *len) { d[(*len)++] = 0; }

static void expect_rejected(void (*damage)(uint8_t *, size_t *), const char *what)
{
	struct rs_list *l = (struct rs_list *)1;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];

	write_sample();
	rewrite(damage);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), RS_EINVAL);
	assert_null(l);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not say \"%s\"", err, what);
}

static void test_damaged(void **state)
{
	expect_rejected(truncate_tail, "truncated");
	expect_rejected(truncate_header, "truncated");
	expect_rejected(flip_bit, "checksum mismatch");
	expect_rejected(bad_version, "version 8, this module reads versions 1 to 7");
	expect_rejected(version_zero, "version 0, this module reads versions 1 to 7");
	expect_rejected(bad_magic, "not a redsink snapshot");
	expect_rejected(appended, "truncated or padded");
}

/* Recompute the header's checksum after editing the payload. */
static void reseal(uint8_t *d, size_t len)
{
	uint64_t h = rs_snapshot_checksum(d[8], d + 32, len - 32);

	for (int i = 0; i < 8; i++)
		d[24 + i] = (uint8_t)(h >> (8 * i));
}

/* Order "b"'s action becomes invalid ("nxdomaiN"), checksum intact: that
 * order's record is skipped, everything else loads. */
static void break_order_b(uint8_t *d, size_t *len)
{
	for (size_t i = 32; i + 8 <= *len; i++)
		if (memcmp(d + i, "nxdomain", 8) == 0)
			d[i + 7] = 'N';
	reseal(d, *len);
}

/* The first entry's wire name gets an over-long label, checksum intact. */
static void break_first_name(uint8_t *d, size_t *len)
{
	uint32_t norders = 0;
	size_t p = 32;

	p += 4 + (d[p] | d[p + 1] << 8 | (size_t)d[p + 2] << 16); /* last_id (u32 length) */
	p += 4 + (d[p] | d[p + 1] << 8 | (size_t)d[p + 2] << 16); /* dataset */
	norders = d[p] | d[p + 1] << 8;
	p += 4;
	for (uint32_t o = 0; o < norders; o++) {
		uint16_t nf;
		p += 4 + (d[p] | d[p + 1] << 8 | (size_t)d[p + 2] << 16);
		nf = (uint16_t)(d[p] | d[p + 1] << 8);
		p += 2;
		for (int f = 0; f < 2 * nf + 3; f++) /* the fields, then the manifest (version 4) */
			p += 4 + (d[p] | d[p + 1] << 8 | (size_t)d[p + 2] << 16);
	}
	p += 4 + 4 + 8; /* nentries, cap, arena length */
	p = (p + 3) & ~(size_t)3;
	p += 8 + 4 * (size_t)(d[p + 6] | d[p + 7] << 8); /* the first entry's head and order positions */
	d[p] = 100;                                      /* its first label length */
	reseal(d, *len);
}

/* Find the prefix record of family/len/addr (its first 18 octets) in the
 * payload; its offset, or fail. */
static size_t find_prefix(const uint8_t *d, size_t len, const char *text)
{
	struct rs_prefix p = pfx(text);
	uint8_t rec[18];

	rec[0] = p.family;
	rec[1] = p.len;
	memcpy(rec + 2, p.addr, 16);
	for (size_t i = 32; i + sizeof(rec) <= len; i++)
		if (memcmp(d + i, rec, sizeof(rec)) == 0)
			return i;
	fail_msg("prefix record %s not found", text);
	return 0;
}

/* 198.51.100.0/24 becomes /20: host bits set; checksum intact. */
static void break_prefix_len(uint8_t *d, size_t *len)
{
	d[find_prefix(d, *len, "198.51.100.0/24") + 1] = 20;
	reseal(d, *len);
}

/* 192.0.2.128/25 (protected) gets family 5; checksum intact. */
static void break_prefix_family(uint8_t *d, size_t *len)
{
	d[find_prefix(d, *len, "192.0.2.128/25")] = 5;
	reseal(d, *len);
}

/* 2001:db8::/32 gets the last bit of its address set (a host bit);
 * checksum intact. */
static void break_prefix_host_bits(uint8_t *d, size_t *len)
{
	d[find_prefix(d, *len, "2001:db8::/32") + 17] = 1;
	reseal(d, *len);
}

/* The order position of 198.51.100.0/24 points past the orders. */
static void break_prefix_position(uint8_t *d, size_t *len)
{
	size_t at = find_prefix(d, *len, "198.51.100.0/24") + 18 + 1 + 2;

	d[at] = 9;
	reseal(d, *len);
}

static size_t str_len(const uint8_t *d, size_t p)
{
	return d[p] | d[p + 1] << 8 | (size_t)d[p + 2] << 16 | (size_t)d[p + 3] << 24;
}

/* The header's payload length after an edit. */
static void set_plen(uint8_t *d, size_t len)
{
	for (int i = 0; i < 8; i++)
		d[16 + i] = (uint8_t)((uint64_t)(len - 32) >> (8 * i));
}

/* Skip the order records of a payload from p (at the order count). */
static size_t skip_orders(const uint8_t *d, size_t p)
{
	uint32_t norders = (uint32_t)str_len(d, p);

	p += 4;
	for (uint32_t o = 0; o < norders; o++) {
		uint16_t nf;
		p += 4 + str_len(d, p);
		nf = (uint16_t)(d[p] | d[p + 1] << 8);
		p += 2;
		for (int f = 0; f < 2 * nf + 3; f++) /* the fields, then the manifest */
			p += 4 + str_len(d, p);
	}
	return p;
}

/* A version 6 file from a version 7 one: the entry section (arena and
 * table) rewritten as version 6 records, the checksum FNV-1a again. */
static void make_v6(uint8_t *d, size_t *len)
{
	uint8_t *out = malloc(*len + 64);
	size_t p = 32, q, n, alen, cap, a;

	assert_int_equal(d[8], 7);
	p += 4 + str_len(d, p); /* last_id */
	p += 4 + str_len(d, p); /* dataset */
	p = skip_orders(d, p);
	memcpy(out, d, p);
	q = p;
	n = str_len(d, p);
	cap = str_len(d, p + 4);
	alen = str_len(d, p + 8); /* u64: the high half is 0 here */
	a = (p + 16 + 3) & ~(size_t)3;
	memcpy(out + q, d + p, 4);
	q += 4;
	for (size_t off = 0; off < alen;) {
		const uint8_t *e = d + a + off;
		uint8_t wlen = e[4];
		uint16_t nord = (uint16_t)(e[6] | e[7] << 8);
		out[q++] = wlen;
		memcpy(out + q, e + 8 + 4 * (size_t)nord, wlen);
		q += wlen;
		out[q++] = e[5];
		memcpy(out + q, e + 6, 2 + 4 * (size_t)nord);
		q += 2 + 4 * (size_t)nord;
		off += (8 + 4 * (size_t)nord + wlen + 3) & ~(size_t)3;
		n--;
	}
	assert_int_equal(n, 0);
	p = a + alen + 4 * cap;
	memcpy(out + q, d + p, *len - p);
	*len = q + (*len - p);
	memcpy(d, out, *len);
	free(out);
	d[8] = 6;
	set_plen(d, *len);
	reseal(d, *len);
}

/* A version 5 file from a version 6 one written without a protected
 * manifest: its three empty strings (3 * u32 0) taken out. */
static void make_v5(uint8_t *d, size_t *len)
{
	make_v6(d, len);
	assert_int_equal(d[8], 6);
	for (size_t i = 1; i <= 12; i++)
		assert_int_equal(d[*len - i], 0);
	*len -= 12;
	d[8] = 5;
	set_plen(d, *len);
	reseal(d, *len);
}

/* A version 4 file from a version 6 one written without suspended prefixes
 * nor protected manifest: the empty suspended section (u32 0) taken out too. */
static void make_v4(uint8_t *d, size_t *len)
{
	make_v5(d, len);
	assert_int_equal(d[8], 5);
	assert_true(d[*len - 4] == 0 && d[*len - 3] == 0 && d[*len - 2] == 0 && d[*len - 1] == 0);
	*len -= 4;
	d[8] = 4;
	set_plen(d, *len);
	reseal(d, *len);
}

/* A version 3 file from a version 6 one: the three manifest strings of each
 * order record (all "" in an unsigned list) taken out. */
static void make_v3(uint8_t *d, size_t *len)
{
	uint32_t norders;
	size_t p = 32;

	make_v4(d, len);
	assert_int_equal(d[8], 4);
	p += 4 + str_len(d, p); /* last_id */
	p += 4 + str_len(d, p); /* dataset */
	norders = (uint32_t)str_len(d, p);
	p += 4;
	for (uint32_t o = 0; o < norders; o++) {
		uint16_t nf;
		p += 4 + str_len(d, p);
		nf = (uint16_t)(d[p] | d[p + 1] << 8);
		p += 2;
		for (int f = 0; f < 2 * nf; f++)
			p += 4 + str_len(d, p);
		for (int k = 0; k < 3; k++)
			assert_int_equal(str_len(d, p + 4 * k), 0);
		memmove(d + p, d + p + 12, *len - p - 12);
		*len -= 12;
	}
	d[8] = 3;
	for (int i = 0; i < 8; i++)
		d[16 + i] = (uint8_t)((uint64_t)(*len - 32) >> (8 * i));
	reseal(d, *len);
}

/* A version 2 file (no prefix section) from a list without prefixes. */
static void make_v2(uint8_t *d, size_t *len)
{
	make_v3(d, len);
	assert_true(d[*len - 4] == 0 && d[*len - 3] == 0 && d[*len - 2] == 0 && d[*len - 1] == 0);
	*len -= 4;
	d[8] = 2;
	for (int i = 0; i < 8; i++)
		d[16 + i] = (uint8_t)((uint64_t)(*len - 32) >> (8 * i));
	reseal(d, *len);
}

static void test_bad_prefix_records_are_skipped(void **state)
{
	struct rs_list *l;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped;

	write_sample();
	rewrite(break_prefix_len);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(amatch(l, "198.51.100.9", NULL), RS_PASS);
	assert_int_equal(amatch(l, "192.0.2.1", NULL), RS_BLOCKED);
	assert_int_equal(amatch(l, "192.0.2.129", NULL), RS_PROTECTED);
	rs_list_stats(l, &st);
	assert_int_equal(st.prefixes, 3);
	assert_int_equal(st.domains, 3);
	rs_list_free(l);

	write_sample();
	rewrite(break_prefix_family);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(amatch(l, "192.0.2.129", NULL), RS_BLOCKED); /* no longer protected */
	rs_list_stats(l, &st);
	assert_int_equal(st.protected_prefixes, 0);
	assert_int_equal(st.prefixes, 4);
	rs_list_free(l);

	write_sample();
	rewrite(break_prefix_host_bits);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(amatch(l, "2001:db8:2::1", NULL), RS_PASS);
	assert_int_equal(amatch(l, "2001:db8:1::1", NULL), RS_BLOCKED);
	rs_list_free(l);

	write_sample();
	rewrite(break_prefix_position);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(amatch(l, "198.51.100.9", NULL), RS_PASS);
	rs_list_free(l);
}

static void test_reads_version_2(void **state)
{
	struct rs_list *l = sample_with(false), *back;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	const char *ref;
	size_t skipped;

	assert_int_equal(rs_snapshot_write(path, l, "7-7", "0123456789abcdef0123456789abcdef", NULL, 0, NULL, err, sizeof(err)), 0);
	rs_list_free(l);
	rewrite(make_v2);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 0);
	assert_string_equal(last, "7-7");
	assert_int_equal(match(back, "www.pirate.example", &ref), RS_BLOCKED);
	assert_string_equal(ref, "a");
	rs_list_stats(back, &st);
	assert_int_equal(st.domains, 3);
	assert_int_equal(st.prefixes, 0);
	assert_false(rs_list_has_prefixes(back));
	rs_list_free(back);
}

/* The collateral alarm's suspended prefixes (version 5): kept over a
 * restart; a bad record is skipped and counted; older files have none. */
static struct rs_prefix *susp_back;
static size_t nsusp_back;

static void break_suspended_host_bits(uint8_t *d, size_t *len)
{
	/* the last record is 2001:db8:1::/48 (sorted after the IPv4 one), before
	 * the empty protected manifest (12 octets): set a host bit */
	d[*len - 12 - 1] = 1;
	reseal(d, *len);
}

static void suspended_count_too_big(uint8_t *d, size_t *len)
{
	d[*len - 12 - 2 * 18 - 4] = 3; /* 3 records announced, 2 present */
	reseal(d, *len);
}

static void test_suspended_round_trip(void **state)
{
	struct rs_prefix susp[2] = { pfx("198.51.100.0/24"), pfx("2001:db8:1::/48") };
	struct rs_list *l = sample(), *back;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped;

	assert_int_equal(rs_snapshot_write(path, l, "9-1", "", susp, 2, NULL, err, sizeof(err)), 0);
	rs_list_free(l);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, &susp_back, &nsusp_back, NULL, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 0);
	assert_int_equal(nsusp_back, 2);
	assert_memory_equal(susp_back, susp, sizeof(susp));
	assert_int_equal(amatch(back, "198.51.100.9", NULL), RS_BLOCKED); /* the list is unchanged */
	rs_list_stats(back, &st);
	assert_int_equal(st.prefixes, 4);
	rs_list_free(back);
	free(susp_back);
	/* a reader that does not ask for them still reads the file */
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	rs_list_free(back);

	/* a bad record is skipped and counted, the rest loads */
	rewrite(break_suspended_host_bits);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, &susp_back, &nsusp_back, NULL, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(nsusp_back, 1);
	assert_memory_equal(&susp_back[0], &susp[0], sizeof(susp[0]));
	rs_list_free(back);
	free(susp_back);

	/* a count beyond the file breaks the framing: rejected whole */
	l = sample();
	assert_int_equal(rs_snapshot_write(path, l, "9-1", "", susp, 2, NULL, err, sizeof(err)), 0);
	rs_list_free(l);
	rewrite(suspended_count_too_big);
	back = (struct rs_list *)1;
	susp_back = (struct rs_prefix *)1;
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, &susp_back, &nsusp_back, NULL, NULL, err,
					  sizeof(err)), RS_EINVAL);
	assert_null(back);
	assert_null(susp_back);
	assert_non_null(strstr(err, "suspended"));

	/* the in-memory image (a reload's hand-over) carries them too */
	{
		uint8_t *img;
		size_t len;
		l = sample();
		assert_int_equal(rs_snapshot_encode(l, "9-2", "", susp, 2, NULL, &img, &len), 0);
		assert_int_equal(rs_snapshot_decode(img, len, "image", &conf, &back, last, ds, &susp_back, &nsusp_back, NULL,
						    &skipped, err, sizeof(err)), 0);
		assert_int_equal(nsusp_back, 2);
		assert_memory_equal(susp_back, susp, sizeof(susp));
		free(img);
		free(susp_back);
		rs_list_free(back);
		rs_list_free(l);
	}
}

/* A version 4 file (before suspended prefixes) still reads: no suspension. */
static void test_reads_version_4(void **state)
{
	struct rs_list *l = sample(), *back;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	const char *ref;
	size_t skipped;

	assert_int_equal(rs_snapshot_write(path, l, "8-8", "0123456789abcdef0123456789abcdef", NULL, 0, NULL, err,
					   sizeof(err)), 0);
	rs_list_free(l);
	rewrite(make_v4);
	susp_back = (struct rs_prefix *)1;
	nsusp_back = 7;
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, &susp_back, &nsusp_back, NULL, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 0);
	assert_null(susp_back);
	assert_int_equal(nsusp_back, 0);
	assert_string_equal(last, "8-8");
	assert_int_equal(amatch(back, "198.51.100.9", &ref), RS_BLOCKED);
	assert_string_equal(ref, "b");
	assert_int_equal(match(back, "www.pirate.example", &ref), RS_BLOCKED);
	rs_list_free(back);
}

static void test_bad_records_are_skipped(void **state)
{
	struct rs_list *l;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped;

	write_sample();
	rewrite(break_order_b);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(match(l, "www.pirate.example", NULL), RS_BLOCKED);
	assert_int_equal(match(l, "x.pirate2.example", NULL), RS_PASS);
	rs_list_stats(l, &st);
	assert_int_equal(st.orders, 1);
	rs_list_free(l);

	write_sample();
	rewrite(break_first_name);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	rs_list_stats(l, &st);
	assert_int_equal(st.orders, 2);
	/* 4 loaded without damage (3 domains, 1 protected); the broken entry may
	 * be only-gone.example, which loads as nothing anyway */
	assert_true(st.domains + st.protected_n == 3 || st.domains + st.protected_n == 4);
	rs_list_free(l);
}

/* Version 7 is served in place: a list read from it changes like any
 * other (entries of the block are replaced, deleted, protected, swept and
 * rehashed; none is freed alone — ASan checks), and a version 6 file of
 * the same list reads the same. */
static void del(struct rs_list *l, const char *name, uint32_t idx)
{
	uint8_t w[RS_WIRE_MAX];
	int n = rs_domain_wire(name, strlen(name), w);

	assert_int_equal(rs_list_del(l, w, (size_t)n, idx), 0);
}

static struct rs_list *read_image(size_t *skipped);

static void test_in_place_changes(void **state)
{
	struct rs_list *l;
	struct rs_list_stats st;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256], name[64];
	const char *ref;
	uint32_t a, b;
	size_t skipped;

	for (int v6 = 0; v6 < 2; v6++) {
		write_sample();
		skipped = 0;
		if (v6) {
			rewrite(make_v6);
			assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err,
							  sizeof(err)), 0);
		} else {
			l = read_image(&skipped); /* mapped, served, then checked and copied out */
		}
		assert_int_equal(skipped, 0);
		rs_list_stats(l, &st);
		assert_int_equal(st.domains, 3);
		assert_int_equal(st.protected_n, 1);
		assert_int_equal(st.name_bytes, strlen("pirate.example") + strlen("both.example") +
						strlen("pirate2.example") + strlen("good.pirate2.example"));
		a = (uint32_t)rs_list_order_find(l, "a");
		b = (uint32_t)rs_list_order_find(l, "b");
		assert_int_equal(match(l, "www.both.example", &ref), RS_BLOCKED);
		rs_list_set_quiescent(l, false); /* retire, as with readers */
		del(l, "both.example", a);
		assert_int_equal(match(l, "www.both.example", &ref), RS_BLOCKED);
		assert_string_equal(ref, "b");
		del(l, "both.example", b);
		assert_int_equal(match(l, "www.both.example", NULL), RS_PASS);
		add(l, "pirate.example", b);
		assert_int_equal(rs_list_order_remove(l, "a"), 0);
		assert_true(rs_list_order_sweep(l, a) >= 1);
		assert_int_equal(match(l, "pirate.example", &ref), RS_BLOCKED);
		assert_string_equal(ref, "b");
		for (int i = 0; i < 200; i++) { /* grows the table: a rehash moves the block's entries */
			snprintf(name, sizeof(name), "n%d.example", i);
			add(l, name, b);
		}
		assert_int_equal(match(l, "x.n199.example", NULL), RS_BLOCKED);
		assert_int_equal(match(l, "www.good.pirate2.example", NULL), RS_PROTECTED);
		assert_int_equal(match(l, "www.pirate2.example", NULL), RS_BLOCKED);
		{
			uint8_t w[RS_WIRE_MAX];
			int n = rs_domain_wire("good.pirate2.example", 20, w);
			assert_int_equal(rs_list_protect(l, w, (size_t)n, false), 0); /* the file's entry, dropped */
			assert_int_equal(match(l, "www.good.pirate2.example", NULL), RS_BLOCKED);
			n = rs_domain_wire("pirate.example", 14, w);
			assert_int_equal(rs_list_protect(l, w, (size_t)n, true), 0);
			assert_int_equal(match(l, "x.pirate.example", NULL), RS_PROTECTED);
		}
		rs_list_set_quiescent(l, true);
		rs_list_free(l);
	}
}

/* Hostile version 7 tables, checksum intact. Served from the image before
 * rs_snapshot_settle, every lookup ends without a fault; settling skips and
 * counts what is not a valid entry, once each. */
static size_t entry_section(const uint8_t *d)
{
	size_t p = 32;

	p += 4 + str_len(d, p);
	p += 4 + str_len(d, p);
	return skip_orders(d, p);
}

/* The offset of the image's table, and its capacity. */
static size_t table_at(const uint8_t *d, size_t *cap)
{
	size_t p = entry_section(d);

	*cap = str_len(d, p + 4);
	return ((p + 16 + 3) & ~(size_t)3) + str_len(d, p + 8);
}

static void slots_into_entries(uint8_t *d, size_t *len)
{
	size_t cap, t = table_at(d, &cap);

	for (size_t i = 0; i < cap; i++)
		if (str_len(d, t + 4 * i) != 0)
			d[t + 4 * i] += 1; /* 4 octets further: inside the entry */
	reseal(d, *len);
}

/* Every free slot but keep of them names the first entry. */
static void fill_table(uint8_t *d, size_t *len, size_t keep)
{
	size_t cap, t = table_at(d, &cap);

	for (size_t i = 0; i < cap; i++)
		if (str_len(d, t + 4 * i) == 0 && keep-- == 0)
			d[t + 4 * i] = 1, keep = 0;
	reseal(d, *len);
}

static void table_full(uint8_t *d, size_t *len) { fill_table(d, len, 0); }
static void table_all_but_one(uint8_t *d, size_t *len) { fill_table(d, len, 1); }

/* The first entry of the arena with at least one order: its offset. */
static size_t entry_with_order(const uint8_t *d)
{
	size_t cap, a = (entry_section(d) + 16 + 3) & ~(size_t)3, end = table_at(d, &cap);

	while (a < end && (d[a + 6] | d[a + 7] << 8) == 0)
		a += (8 + 4 * (size_t)(d[a + 6] | d[a + 7] << 8) + d[a + 4] + 3) & ~(size_t)3;
	assert_true(a < end);
	return a;
}

static void wrong_hash(uint8_t *d, size_t *len)
{
	d[entry_with_order(d)] ^= 1;
	reseal(d, *len);
}

static void order_out_of_range(uint8_t *d, size_t *len)
{
	d[entry_with_order(d) + 8] = 9; /* its first order position */
	reseal(d, *len);
}

static void uppercase_name(uint8_t *d, size_t *len)
{
	size_t e = entry_with_order(d);

	d[e + 8 + 4 * (size_t)(d[e + 6] | d[e + 7] << 8) + 1] = 'P'; /* the first octet of its first label */
	reseal(d, *len);
}

static void arena_framing(uint8_t *d, size_t *len)
{
	d[((entry_section(d) + 16 + 3) & ~(size_t)3) + 4] = 250; /* the first entry's wlen runs past the arena */
	reseal(d, *len);
}

/* Read with the image served, look up, settle: returns the list. */
static struct rs_list *read_image(size_t *skipped)
{
	struct rs_list *l;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];

	assert_int_equal(rs_snapshot_read_image(path, true, &conf, &l, last, ds, NULL, NULL, NULL, skipped, err,
						sizeof(err)), 0);
	assert_non_null(rs_list_image_get(l));
	assert_int_equal(match(l, "unlisted.example", NULL), RS_PASS); /* a miss ends */
	(void)match(l, "www.pirate.example", NULL);
	(void)match(l, "www.good.pirate2.example", NULL);
	assert_int_equal(rs_snapshot_settle(l, "test", skipped), 0);
	assert_null(rs_list_image_get(l));
	return l;
}

static void test_in_place_hostile(void **state)
{
	struct rs_list *l;
	struct rs_list_stats st;
	uint8_t *img;
	size_t skipped, len;

	/* the sample: the same verdicts from the image and once settled; an
	 * image is not encoded before it is settled */
	write_sample();
	{
		char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
		assert_int_equal(rs_snapshot_read_image(path, true, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err,
							sizeof(err)), 0);
		assert_int_equal(match(l, "www.pirate.example", NULL), RS_BLOCKED);
		assert_int_equal(match(l, "www.good.pirate2.example", NULL), RS_PROTECTED);
		assert_int_equal(match(l, "x.only-gone.example", NULL), RS_PASS);
		assert_int_equal(rs_snapshot_encode(l, "1-1", "", NULL, 0, NULL, &img, &len), RS_EINVAL);
		assert_int_equal(rs_snapshot_settle(l, "test", &skipped), 0);
		assert_int_equal(skipped, 0);
		assert_int_equal(match(l, "www.pirate.example", NULL), RS_BLOCKED);
		assert_int_equal(match(l, "www.good.pirate2.example", NULL), RS_PROTECTED);
		rs_list_stats(l, &st);
		assert_int_equal(st.domains, 3);
		assert_int_equal(st.protected_n, 1);
		rs_list_free(l);
	}

	write_sample();
	rewrite(slots_into_entries);
	l = read_image(&skipped);
	assert_int_equal(skipped, 4);
	assert_int_equal(match(l, "pirate.example", NULL), RS_PASS);
	add(l, "pirate.example", (uint32_t)rs_list_order_find(l, "a"));
	assert_int_equal(match(l, "pirate.example", NULL), RS_BLOCKED);
	rs_list_free(l);

	/* one entry named by every slot: each slot's entry is looked at once */
	write_sample();
	rewrite(table_all_but_one);
	l = read_image(&skipped);
	assert_true(skipped > 4);
	rs_list_stats(l, &st);
	assert_int_equal(st.domains + st.protected_n, 4);
	assert_int_equal(match(l, "www.pirate.example", NULL), RS_BLOCKED);
	rs_list_free(l);

	/* no free slot: a lookup could not end; rejected */
	write_sample();
	rewrite(table_full);
	{
		char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
		l = (struct rs_list *)1;
		assert_int_equal(rs_snapshot_read_image(path, true, &conf, &l, last, ds, NULL, NULL, NULL, &skipped, err,
							sizeof(err)), RS_EINVAL);
		assert_null(l);
		assert_non_null(strstr(err, "no free slot"));
	}

	/* an entry whose stored hash, order index or name is not valid: skipped */
	void (*bad[])(uint8_t *, size_t *) = { wrong_hash, order_out_of_range, uppercase_name };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		write_sample();
		rewrite(bad[k]);
		l = read_image(&skipped);
		assert_int_equal(skipped, 1);
		rs_list_stats(l, &st);
		assert_int_equal(st.domains + st.protected_n, 3);
		rs_list_free(l);
	}

	write_sample();
	rewrite(arena_framing);
	l = read_image(&skipped);
	assert_int_equal(skipped, 1);
	rs_list_stats(l, &st);
	assert_int_equal(st.domains + st.protected_n, 3);
	rs_list_free(l);
}

static void test_missing(void **state)
{
	struct rs_list *l;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];

	unlink(path);
	assert_int_equal(rs_snapshot_read(path, &conf, &l, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), RS_ENOENT);
	l = sample();
	assert_int_equal(rs_snapshot_write("/nonexistent-dir/x.snap", l, "1-0", "", NULL, 0, NULL, err, sizeof(err)), RS_EIO);
	assert_non_null(strstr(err, "cannot create /nonexistent-dir/x.snap.tmp."));
	rs_list_free(l);
}


/* Signed mode: each order's verified manifest (text, sig, key) survives the
 * round trip, so a restart knows the versions it verified; an older file
 * (version 3) has none. */
static void test_manifest_round_trip(void **state)
{
	const char *kv[] = { "authority", "Court", "reference", "s", "scope", "*", "action", "sinkhole" };
	struct rs_manifest m = { 0 };
	struct rs_list *l = rs_list_new(0), *back;
	struct rs_order *o;
	struct rs_order_sig *g;
	struct rs_setdigest *d;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256], *text;
	const struct rs_order *r;
	size_t len, cnt;
	uint32_t idx;

	snprintf(m.order, sizeof(m.order), "s");
	m.version = 7;
	memset(m.prev, 'a', 64);
	snprintf(m.key, sizeof(m.key), "0123456789abcdef");
	m.nfields = 4;
	for (int i = 0; i < 4; i++)
		m.field_name[i] = kv[2 * i], m.field_value[i] = (char *)kv[2 * i + 1];
	d = rs_setdigest_new();
	rs_setdigest_add(d, "a.example", 9);
	rs_setdigest_finish(d, m.names_digest, &m.names);
	rs_setdigest_finish(rs_setdigest_new(), m.prefixes_digest, &cnt);
	text = rs_manifest_build_err(&m, &len, err, sizeof(err));
	if (!text)
		fail_msg("%s", err);
	assert_int_equal(rs_order_parse(&conf, "s", kv, 4, &o, err, sizeof(err)), 0);
	g = calloc(1, sizeof(*g));
	g->text = text;
	g->len = len;
	memset(g->sig, 'A', 86);
	memcpy(g->sig + 86, "==", 3);
	snprintf(g->key, sizeof(g->key), "0123456789abcdef");
	g->version = 7;
	rs_sha256_hex(text, len, g->hash);
	g->names = 1;
	o->sig = g;
	assert_int_equal(rs_list_order_set(l, o, &idx), 0);
	add(l, "a.example", idx);
	assert_int_equal(rs_snapshot_write(path, l, "9-9", "", NULL, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	r = rs_list_order_get(back, 0);
	assert_non_null(r->sig);
	assert_int_equal(r->sig->version, 7);
	assert_int_equal(r->sig->len, len);
	assert_memory_equal(r->sig->text, text, len);
	assert_string_equal(r->sig->hash, g->hash);
	assert_string_equal(r->sig->sig, g->sig);
	assert_string_equal(r->sig->key, "0123456789abcdef");
	assert_int_equal(r->sig->names, 1);
	assert_int_equal(match(back, "a.example", NULL), RS_BLOCKED);
	rs_list_free(back);
	rs_list_free(l);
}

/* ---- signed mode: the snapshot's manifests are verified again ---- */

static EVP_PKEY *skey[2];
static struct rs_pubkey spub[2];

static void skeys_init(void)
{
	for (int i = 0; i < 2; i++) {
		uint8_t seed[32], raw[32];
		size_t n = 32;
		char text[80] = "ed25519:", err[128];
		memset(seed, 0x21 * (i + 1), 32);
		skey[i] = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
		assert_non_null(skey[i]);
		assert_int_equal(EVP_PKEY_get_raw_public_key(skey[i], raw, &n), 1);
		rs_b64_encode(raw, 32, text + 8);
		assert_int_equal(rs_pubkey_parse(text, &spub[i], err, sizeof(err)), 0);
		snprintf(spub[i].label, sizeof(spub[i].label), "Court-%d", i);
	}
}

/* Order id listing name, with a version 1 manifest signed by key k (its
 * signature made over another text when tamper). */
static void signed_order(struct rs_list *l, const char *id, const char *name, int k, bool tamper)
{
	const char *kv[] = { "authority", "Court", "reference", id, "scope", "*", "action", "sinkhole" };
	struct rs_manifest m = { 0 };
	struct rs_order *o;
	struct rs_order_sig *g;
	struct rs_setdigest *d;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[64];
	size_t len, cnt, n = sizeof(sig);
	char err[256], *text;
	uint32_t idx;

	snprintf(m.order, sizeof(m.order), "%s", id);
	m.version = 1;
	snprintf(m.prev, sizeof(m.prev), "-");
	snprintf(m.key, sizeof(m.key), "%s", spub[k].id);
	m.signed_at = 1800000000;
	m.nfields = 4;
	for (int i = 0; i < 4; i++)
		m.field_name[i] = kv[2 * i], m.field_value[i] = (char *)kv[2 * i + 1];
	d = rs_setdigest_new();
	rs_setdigest_add(d, name, strlen(name));
	rs_setdigest_finish(d, m.names_digest, &m.names);
	rs_setdigest_finish(rs_setdigest_new(), m.prefixes_digest, &cnt);
	text = rs_manifest_build_err(&m, &len, err, sizeof(err));
	if (!text)
		fail_msg("%s", err);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, skey[k]), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const uint8_t *)(tamper ? "other" : text), tamper ? 5 : len), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(rs_order_parse(&conf, id, kv, 4, &o, err, sizeof(err)), 0);
	g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->text = text;
	g->len = len;
	rs_b64_encode(sig, 64, g->sig);
	snprintf(g->key, sizeof(g->key), "%s", spub[k].id);
	g->version = 1;
	rs_sha256_hex(text, len, g->hash);
	g->names = 1;
	o->sig = g;
	assert_int_equal(rs_list_order_set(l, o, &idx), 0);
	add(l, name, idx);
}

/* Signed mode (review items 3, 2, 6): an order without a manifest is not
 * enforced from a snapshot (nor from a list handed over by a reload: the
 * same decoder), nor one signed by a key revoked or no longer trusted since,
 * nor one whose signature does not verify; unsigned mode keeps them all. */
static void test_signed_mode_verifies(void **state)
{
	static struct rs_pubkey trusted[2];
	static char revoked[1][RS_KEYID_LEN + 1];
	struct rs_conf sconf = conf;
	struct rs_list *l = rs_list_new(0), *back;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped = 0;

	skeys_init();
	add(l, "u.example", order(l, "u", "*", "sinkhole")); /* unsigned */
	signed_order(l, "s", "s.example", 0, false);
	signed_order(l, "r", "r.example", 1, false); /* its key is revoked below */
	signed_order(l, "t", "t.example", 0, true);  /* a bad signature */
	assert_int_equal(rs_snapshot_write(path, l, "9-9", "", NULL, 0, NULL, err, sizeof(err)), 0);

	/* unsigned mode: everything as written */
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(match(back, "u.example", NULL), RS_BLOCKED);
	assert_int_equal(match(back, "r.example", NULL), RS_BLOCKED);
	assert_int_equal(match(back, "t.example", NULL), RS_BLOCKED);
	rs_list_free(back);

	trusted[0] = spub[0];
	trusted[1] = spub[1];
	snprintf(revoked[0], sizeof(revoked[0]), "%s", spub[1].id);
	sconf.trusted_keys = trusted;
	sconf.ntrusted = 2;
	sconf.revoked_keys = revoked;
	sconf.nrevoked = 1;
	sconf.require_signatures = 1;
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(match(back, "s.example", NULL), RS_BLOCKED);
	assert_non_null(rs_list_order_get(back, (uint32_t)rs_list_order_find(back, "s"))->sig);
	assert_int_equal(match(back, "u.example", NULL), RS_PASS); /* no manifest */
	assert_int_equal(match(back, "r.example", NULL), RS_PASS); /* revoked key */
	assert_int_equal(match(back, "t.example", NULL), RS_PASS); /* bad signature */
	assert_true(rs_list_order_find(back, "u") < 0);
	assert_true(rs_list_order_find(back, "r") < 0);
	assert_true(rs_list_order_find(back, "t") < 0);
	assert_int_equal(skipped, 3);
	rs_list_free(back);

	/* a key no longer trusted at all: not enforced either */
	sconf.ntrusted = 1;
	sconf.nrevoked = 0;
	trusted[0] = spub[1];
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, NULL, &skipped, err, sizeof(err)), 0);
	assert_int_equal(match(back, "s.example", NULL), RS_PASS);
	assert_int_equal(match(back, "r.example", NULL), RS_BLOCKED);
	rs_list_free(back);
	rs_list_free(l);
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(skey[i]);
}

/* ---- the verified protected set (version 6) ---- */

/* ps becomes version `version` of the protected set (names safe.example and
 * good.pirate2.example, prefix 192.0.2.128/25: sample()'s protection),
 * signed by key k (over another text when tamper). */
static void protected_manifest(struct rs_protsig *ps, uint64_t version, int k, bool tamper)
{
	struct rs_manifest m = { 0 }, *pm = NULL;
	struct rs_setdigest *dn = rs_setdigest_new(), *dp = rs_setdigest_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[64];
	size_t len, n = sizeof(sig);
	char err[256], *text, b64[89];

	snprintf(m.order, sizeof(m.order), "%s", RS_PROTECTED_ID);
	m.version = version;
	snprintf(m.prev, sizeof(m.prev), version == 1 ? "-" : "%064d", 0);
	snprintf(m.key, sizeof(m.key), "%s", spub[k].id);
	m.signed_at = 1800000000;
	rs_setdigest_add(dn, "good.pirate2.example", 20);
	rs_setdigest_finish(dn, m.names_digest, &m.names);
	rs_setdigest_add(dp, "192.0.2.128/25", 14);
	rs_setdigest_finish(dp, m.prefixes_digest, &m.prefixes);
	text = rs_manifest_build_err(&m, &len, err, sizeof(err));
	if (!text)
		fail_msg("%s", err);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, skey[k]), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const uint8_t *)(tamper ? "other" : text), tamper ? 5 : len), 1);
	EVP_MD_CTX_free(ctx);
	rs_b64_encode(sig, 64, b64);
	assert_int_equal(rs_manifest_parse(text, len, &pm, err, sizeof(err)), 0);
	assert_int_equal(rs_protsig_set(ps, pm, b64), 0);
	rs_manifest_free(pm);
	free(text);
}

static void assert_same_prot(const struct rs_protsig *a, const struct rs_protsig *b)
{
	assert_int_equal(a->version, b->version);
	assert_string_equal(a->hash, b->hash);
	assert_string_equal(a->key, b->key);
	assert_string_equal(a->sig, b->sig);
	assert_int_equal(a->names, b->names);
	assert_int_equal(a->prefixes, b->prefixes);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->text, b->text, a->len + 1);
}

/* The verified protected set's manifest survives the file and the reload's
 * image; in signed mode it is verified again against the current keys: a
 * protect-key, not revoked, the signature; one that fails is dropped and
 * counted (the list itself loads). A record whose framing is broken rejects
 * the file. */
static void test_protected_round_trip(void **state)
{
	static struct rs_pubkey trusted[2];
	static char revoked[1][RS_KEYID_LEN + 1];
	struct rs_conf sconf = conf;
	struct rs_protsig ps = { .version = 0 }, back_ps = { .version = 0 };
	struct rs_list *l = sample(), *back;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped = 9;

	skeys_init();
	protected_manifest(&ps, 3, 0, false);
	assert_int_equal(rs_snapshot_write(path, l, "9-3", "", NULL, 0, &ps, err, sizeof(err)), 0);

	/* unsigned mode: parsed, kept as written */
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, &back_ps, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 0);
	assert_same_prot(&ps, &back_ps);
	assert_int_equal(back_ps.version, 3);
	assert_int_equal(back_ps.names, 1);
	assert_int_equal(back_ps.prefixes, 1);
	rs_list_free(back);

	/* signed mode, key 0 a protect-key: verified, kept */
	trusted[0] = spub[0];
	trusted[0].roles = RS_KEY_PROTECT;
	trusted[1] = spub[1];
	sconf.trusted_keys = trusted;
	sconf.ntrusted = 2;
	sconf.revoked_keys = revoked;
	sconf.nrevoked = 0;
	sconf.require_signatures = 1;
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, &back_ps, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 2); /* sample()'s two unsigned orders */
	assert_same_prot(&ps, &back_ps);
	assert_int_equal(match(back, "good.pirate2.example", NULL), RS_PROTECTED); /* the list's protection */
	rs_list_free(back);

	/* key 0 trusted for orders only (not a protect-key): dropped, counted */
	trusted[0].roles = RS_KEY_ORDERS;
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, &back_ps, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 3); /* and the manifest */
	assert_int_equal(back_ps.version, 0);
	assert_null(back_ps.text);
	rs_list_free(back);

	/* a protect-key since revoked: dropped */
	trusted[0].roles = RS_KEY_PROTECT;
	snprintf(revoked[0], sizeof(revoked[0]), "%s", spub[0].id);
	sconf.nrevoked = 1;
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, &back_ps, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 3); /* and the manifest */
	assert_int_equal(back_ps.version, 0);
	rs_list_free(back);
	sconf.nrevoked = 0;

	/* a signature that does not verify: dropped in signed mode */
	protected_manifest(&ps, 4, 0, true);
	assert_int_equal(rs_snapshot_write(path, l, "9-4", "", NULL, 0, &ps, err, sizeof(err)), 0);
	assert_int_equal(rs_snapshot_read(path, &sconf, &back, last, ds, NULL, NULL, &back_ps, &skipped, err,
					  sizeof(err)), 0);
	assert_int_equal(skipped, 3); /* and the manifest */
	assert_int_equal(back_ps.version, 0);
	rs_list_free(back);

	/* the in-memory image (a reload's hand-over) carries it too */
	protected_manifest(&ps, 5, 0, false);
	{
		uint8_t *img;
		size_t len;
		assert_int_equal(rs_snapshot_encode(l, "9-5", "", NULL, 0, &ps, &img, &len), 0);
		assert_int_equal(rs_snapshot_decode(img, len, "image", &sconf, &back, last, ds, NULL, NULL, &back_ps,
						    &skipped, err, sizeof(err)), 0);
		assert_int_equal(skipped, 2);
		assert_same_prot(&ps, &back_ps);
		rs_list_free(back);
		/* the record's last string cut short: the framing breaks, rejected whole */
		img[8] = RS_SNAPSHOT_VERSION;
		len -= 3;
		for (int i = 0; i < 8; i++)
			img[16 + i] = (uint8_t)((uint64_t)(len - 32) >> (8 * i));
		reseal(img, len);
		back = (struct rs_list *)1;
		assert_int_equal(rs_snapshot_decode(img, len, "image", &sconf, &back, last, ds, NULL, NULL, &back_ps,
						    &skipped, err, sizeof(err)), RS_EINVAL);
		assert_null(back);
		assert_null(back_ps.text);
		assert_non_null(strstr(err, "protected manifest"));
		free(img);
	}
	rs_protsig_clear(&ps);
	rs_protsig_clear(&back_ps);
	rs_list_free(l);
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(skey[i]);
}

/* A version 5 file (before the protected manifest) still reads: no
 * verified protected state, nothing skipped, its suspended prefixes kept. */
static void test_reads_version_5(void **state)
{
	struct rs_prefix susp[1] = { pfx("198.51.100.0/24") };
	struct rs_protsig back_ps = { .version = 0 };
	struct rs_list *l = sample(), *back;
	char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	size_t skipped = 9;

	assert_int_equal(rs_snapshot_write(path, l, "8-5", "", susp, 1, NULL, err, sizeof(err)), 0);
	rs_list_free(l);
	rewrite(make_v5);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, &susp_back, &nsusp_back, &back_ps, &skipped,
					  err, sizeof(err)), 0);
	assert_int_equal(skipped, 0);
	assert_string_equal(last, "8-5");
	assert_int_equal(nsusp_back, 1);
	assert_int_equal(back_ps.version, 0);
	assert_null(back_ps.text);
	assert_int_equal(match(back, "www.pirate.example", NULL), RS_BLOCKED);
	rs_list_free(back);
	free(susp_back);
}

/* rs_snapshot_encode_buf into a buffer that an earlier, bigger image grew
 * (as the writer thread keeps it): the same octets as a fresh encoding, the
 * buffer reused, and len 0 after a failure. */
static void test_encode_into_a_kept_buffer(void **state)
{
	struct rs_list *big = sample(), *small = sample_with(false);
	uint32_t o = order(big, "many", "*", "sinkhole");
	struct rs_buf b = { 0 };
	uint8_t *fresh;
	size_t len;
	char name[64];
	void *first;

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "n%d.many.example", i);
		add(big, name, o);
	}
	assert_int_equal(rs_snapshot_encode_buf(big, "1-1", "", NULL, 0, NULL, &b), 0);
	assert_true(b.len > 5000 * 16);
	first = b.s;
	assert_int_equal(rs_snapshot_encode_buf(small, "2-2", "ds", NULL, 0, NULL, &b), 0);
	assert_ptr_equal(b.s, first); /* smaller: no new allocation */
	assert_int_equal(rs_snapshot_encode(small, "2-2", "ds", NULL, 0, NULL, &fresh, &len), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.s, fresh, len);
	free(fresh);
	/* a list still serving an image is refused: nothing to write */
	{
		struct rs_list *img;
		size_t skipped = 0;
		char last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
		write_sample();
		assert_int_equal(rs_snapshot_read_image(path, true, &conf, &img, last, ds, NULL, NULL, NULL, &skipped, err,
							sizeof(err)), 0);
		assert_non_null(rs_list_image_get(img));
		assert_int_equal(rs_snapshot_encode_buf(img, "3-3", "", NULL, 0, NULL, &b), RS_EINVAL);
		assert_int_equal(b.len, 0);
		rs_list_free(img);
	}
	free(b.s);
	rs_list_free(big);
	rs_list_free(small);
}

/* An image of many chunks and a partial last one (rs_snapshot_write_image
 * writes RS_SNAPSHOT_WRITE_CHUNK octets per write()): the file holds exactly
 * the image, and reads back whole. */
static void test_write_image_in_chunks(void **state)
{
	struct rs_list *l = rs_list_new(0), *back;
	uint32_t o = order(l, "big", "*", "sinkhole");
	char name[64], last[RS_STREAM_ID_MAX], ds[RS_DATASET_ID_LEN + 1], err[256];
	uint8_t *img, *file;
	size_t len, got;
	const char *ref;
	FILE *f;

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "w%d.chunked.example", i);
		add(l, name, o);
	}
	assert_int_equal(rs_snapshot_encode(l, "5-5", "", NULL, 0, NULL, &img, &len), 0);
	assert_true(len > 8 * RS_SNAPSHOT_WRITE_CHUNK);      /* many chunks */
	assert_int_not_equal(len % RS_SNAPSHOT_WRITE_CHUNK, 0); /* and a partial last one */
	assert_int_equal(rs_snapshot_write_image(path, img, len, err, sizeof(err)), 0);
	file = malloc(len + 1);
	assert_non_null(f = fopen(path, "rb"));
	got = fread(file, 1, len + 1, f);
	fclose(f);
	assert_int_equal(got, len);
	assert_memory_equal(file, img, len);
	assert_int_equal(rs_snapshot_read(path, &conf, &back, last, ds, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(last, "5-5");
	for (int i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "www.w%d.chunked.example", i);
		assert_int_equal(match(back, name, &ref), RS_BLOCKED);
		assert_string_equal(ref, "big");
	}
	assert_int_equal(match(back, "w20000.chunked.example", NULL), RS_PASS);
	rs_list_free(back);
	rs_list_free(l);
	free(file);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_prefix_records_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_version_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_version_4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspended_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windows_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_mode_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protected_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_version_5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_into_a_kept_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_image_in_chunks, setup, teardown),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
