/*
 * fuzz_mkgeo.c — libFuzzer harness for redsink-mkgeo's address-plan parser
 * (tools/mkgeo/mkgeo_parse.c) and MaxMind DB writer (tools/mkgeo/mmdb_write.c).
 *
 * Input: a plan, lines separated by '\n' (any octets). Every line goes
 * through mkgeo_parse_line; the networks it accepts (at most 64) are inserted
 * into a tree in input order, and the tree is written as a file.
 *
 * Invariants beyond "no crash, no leak, no UB":
 * - a line is a network, skipped, or refused with a non-empty message that
 *   holds no control octet (the input is shown escaped);
 * - an accepted network has no host bits, depth <= 128 (IPv4: >= 96 with the
 *   ::/96 prefix), a country of two capitals, a subdivision of 0-3 capitals
 *   or digits, data "CC" or "CC-SUB", and its canonical text parses back to
 *   the same key and depth;
 * - insertion fails only for a network equal to or inside one of the IPv4
 *   aliases (::ffff:0:0/96, 2001::/32, 2002::/16);
 * - for the first and last address of every inserted network, mw_lookup and
 *   a walk of the written file's search tree both give the data of the
 *   longest inserted prefix covering it (the later one for equal prefixes),
 *   aliases mapped to the IPv4 address they embed.
 */
#include "fuzz_common.h"

#include "mkgeo_parse.h"
#include "mmdb_write.h"

#define NETS_MAX 64

struct ins {
	uint8_t key[16];
	unsigned depth;
};

static bool covers(const uint8_t *key, unsigned depth, const uint8_t a[16])
{
	for (unsigned i = 0; i < depth; i++)
		if (((key[i / 8] ^ a[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

/* The address the tree really looks up (an alias leads to the IPv4 subtree). */
static void unalias(const uint8_t a[16], uint8_t out[16])
{
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t teredo[16] = { 0x20, 0x01 };
	static const uint8_t six[16] = { 0x20, 0x02 };

	memset(out, 0, 16);
	if (covers(mapped, 96, a))
		memcpy(out + 12, a + 12, 4);
	else if (covers(teredo, 32, a))
		memcpy(out + 12, a + 4, 4);
	else if (covers(six, 16, a))
		memcpy(out + 12, a + 2, 4);
	else
		memcpy(out, a, 16);
}

static long expected(const struct ins *nets, size_t n, const uint8_t a[16])
{
	uint8_t u[16];
	long best = -1;
	unsigned depth = 0;

	unalias(a, u);
	for (size_t i = 0; i < n; i++)
		if (covers(nets[i].key, nets[i].depth, u) && (best < 0 || nets[i].depth >= depth)) {
			best = (long)i;
			depth = nets[i].depth;
		}
	return best;
}

static bool in_alias(const uint8_t *key, unsigned depth)
{
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t teredo[16] = { 0x20, 0x01 };
	static const uint8_t six[16] = { 0x20, 0x02 };

	return (depth >= 96 && covers(mapped, 96, key)) || (depth >= 32 && covers(teredo, 32, key)) ||
	       (depth >= 16 && covers(six, 16, key));
}

static uint32_t be(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* Walk the file's tree for a: the data id its record names ("d<id>"), or -1. */
static long file_lookup(const uint8_t *f, size_t len, uint32_t nodes, const uint8_t a[16])
{
	size_t m = len;
	unsigned rs, nb;
	uint32_t cur = 0;
	const uint8_t *data;

	/* record size: the last metadata key, a uint16 of one octet (24, 28 or 32) */
	FZ_CHECK(len > 16 && f[len - 2] == 0xa1);
	rs = f[len - 1];
	FZ_CHECK(rs == 24 || rs == 28 || rs == 32);
	nb = rs / 4;
	data = f + (size_t)nodes * nb + 16;
	(void)m;
	for (unsigned i = 0; i < 128; i++) {
		const uint8_t *nd = f + (size_t)cur * nb;
		int bit = (a[i / 8] >> (7 - i % 8)) & 1;
		uint32_t r;

		if (rs == 24)
			r = be(nd + 3 * bit, 3);
		else if (rs == 28)
			r = bit ? (uint32_t)(nd[3] & 0x0f) << 24 | be(nd + 4, 3) : (uint32_t)(nd[3] & 0xf0) << 20 | be(nd, 3);
		else
			r = be(nd + 4 * bit, 4);
		if (r == nodes)
			return -1;
		if (r > nodes) {
			const uint8_t *v = data + (r - nodes - 16);
			unsigned n = v[0] & 0x1f;

			FZ_CHECK((v[0] >> 5) == 2 && n >= 2 && n < 29 && v[1] == 'd'); /* a short string "d<id>" */
			return strtol((const char *)v + 2, NULL, 10);
		}
		cur = r;
	}
	FZ_CHECK(!"128 levels without a leaf");
	return -1;
}

static void check_net(const struct mkgeo_net *n)
{
	struct mkgeo_net again;
	char why[MKGEO_WHY_MAX];

	FZ_CHECK(n->depth <= 128);
	for (unsigned i = n->depth; i < 128; i++)
		FZ_CHECK(((n->key[i / 8] >> (7 - i % 8)) & 1) == 0);
	if (!strchr(n->canon, ':')) {
		static const uint8_t zero[12];

		FZ_CHECK(n->depth >= 96 && memcmp(n->key, zero, 12) == 0);
	}
	FZ_CHECK(strlen(n->cc) == 2 && n->cc[0] >= 'A' && n->cc[0] <= 'Z' && n->cc[1] >= 'A' && n->cc[1] <= 'Z');
	FZ_CHECK(strlen(n->sub) <= 3);
	for (const char *s = n->sub; *s; s++)
		FZ_CHECK((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'));
	if (n->sub[0]) {
		char want[MKGEO_DATA_MAX];

		snprintf(want, sizeof(want), "%s-%s", n->cc, n->sub);
		FZ_CHECK(strcmp(n->data, want) == 0);
	} else {
		FZ_CHECK(strcmp(n->data, n->cc) == 0);
	}
	FZ_CHECK(mkgeo_parse_network(n->canon, strlen(n->canon), &again, why, sizeof(why)) == 0);
	FZ_CHECK(again.depth == n->depth && memcmp(again.key, n->key, 16) == 0);
	FZ_CHECK(strcmp(again.canon, n->canon) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const langs[] = { "en" };
	static const char *const desc[] = { "en", "fuzz" };
	const struct mw_meta meta = { .database_type = "fuzz", .languages = langs, .nlanguages = 1,
				      .description = desc, .ndescription = 1 };
	struct mw_tree *t = mw_tree_new();
	struct ins nets[NETS_MAX];
	char names[NETS_MAX][16];
	struct mw_value values[NETS_MAX];
	size_t n = 0, pos = 0;
	uint8_t *file = NULL;
	size_t flen = 0;
	uint32_t nodes = 0;
	int rc;

	FZ_CHECK(t != NULL);
	while (pos < size) {
		const char *line = (const char *)data + pos;
		const char *nl = memchr(line, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - line) : size - pos;
		struct mkgeo_net net;
		char why[MKGEO_WHY_MAX];

		pos += len + (nl ? 1 : 0);
		memset(why, 0x55, sizeof(why));
		rc = mkgeo_parse_line(line, len, &net, why, sizeof(why));
		FZ_CHECK(rc == MKGEO_LINE_NET || rc == MKGEO_LINE_SKIP || rc == RS_EINVAL);
		if (rc == RS_EINVAL) {
			FZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0');
			for (const char *s = why; *s; s++)
				FZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
			continue;
		}
		if (rc != MKGEO_LINE_NET)
			continue;
		check_net(&net);
		if (n == NETS_MAX)
			continue;
		rc = mw_insert(t, net.key, net.depth, (uint32_t)n);
		if (in_alias(net.key, net.depth)) {
			FZ_CHECK(rc == MW_EALIAS_INSIDE || rc == MW_EALIAS_OVERWRITE);
			continue;
		}
		FZ_CHECK(rc == 0);
		memcpy(nets[n].key, net.key, 16);
		nets[n].depth = net.depth;
		snprintf(names[n], sizeof(names[n]), "d%zu", n);
		values[n] = (struct mw_value){ .type = MW_STRING, .s = names[n] };
		n++;
	}
	/* the tree before and the file after compaction answer the same */
	for (size_t i = 0; i < n; i++) {
		uint8_t last[16];

		memcpy(last, nets[i].key, 16);
		for (unsigned b = nets[i].depth; b < 128; b++)
			last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		FZ_CHECK(mw_lookup(t, nets[i].key) == expected(nets, n, nets[i].key));
		FZ_CHECK(mw_lookup(t, last) == expected(nets, n, last));
	}
	rc = mw_serialize(t, values, n, &meta, &file, &flen, &nodes);
	FZ_CHECK(rc == 0 && file && flen > 16);
	for (size_t i = 0; i < n; i++) {
		uint8_t last[16];

		memcpy(last, nets[i].key, 16);
		for (unsigned b = nets[i].depth; b < 128; b++)
			last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		FZ_CHECK(file_lookup(file, flen, nodes, nets[i].key) == expected(nets, n, nets[i].key));
		FZ_CHECK(file_lookup(file, flen, nodes, last) == expected(nets, n, last));
	}
	free(file);
	mw_tree_free(t);
	return 0;
}
