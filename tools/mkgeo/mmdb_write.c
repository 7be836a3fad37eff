/*
 * mmdb_write.c — the MaxMind DB writer of redsink-mkgeo: the prefix tree
 * (insert with longest-prefix precedence, IPv4 aliases, compaction) and the
 * file layout (search tree, separator, data section, metadata), written from
 * the format's public specification (https://maxmind.github.io/MaxMind-DB/).
 * See mmdb_write.h for the contract.
 *
 * Tree records are tagged: a child node, a data id (with the prefix length
 * that set it, so that a shorter prefix inserted later never overwrites a
 * longer one), empty, or an alias of the IPv4 root. Node 0 is the root.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mmdb_write.h"
#include "rs_err.h"

enum rec_kind { R_EMPTY = 0, R_NODE, R_DATA, R_ALIAS };

struct rec {
	uint32_t v;    /* R_NODE: node index; R_DATA: data id */
	uint8_t kind;  /* enum rec_kind */
	uint8_t plen;  /* R_DATA: the prefix length of the network that set it */
};

struct node {
	struct rec r[2];
	uint32_t num; /* number in the file (mw_serialize) */
	bool live;    /* still in the tree after compaction */
};

struct mw_tree {
	struct node *nodes;
	size_t n, cap;
	uint32_t v4root; /* the node of ::/96 */
	bool sealed;     /* compacted and written: no more inserts */
};

static int bit_of(const uint8_t key[16], unsigned i)
{
	return (key[i / 8] >> (7 - i % 8)) & 1;
}

static int node_new(struct mw_tree *t, uint32_t *idx)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct node *p;

		if (cap > MW_DATA_MAX)
			return RS_EFULL;
		p = realloc(t->nodes, cap * sizeof(*p));
		if (!p)
			return RS_ENOMEM;
		t->nodes = p;
		t->cap = cap;
	}
	memset(&t->nodes[t->n], 0, sizeof(t->nodes[t->n]));
	t->nodes[t->n].live = true;
	*idx = (uint32_t)t->n++;
	return 0;
}

/* The record of prefix key/depth (depth >= 1), creating nodes on the way;
 * data leaves crossed are pushed down (both children keep their data). */
static int walk_to(struct mw_tree *t, const uint8_t key[16], unsigned depth, struct rec **out)
{
	uint32_t cur = 0;

	for (unsigned i = 0; i + 1 < depth; i++) {
		struct rec *r = &t->nodes[cur].r[bit_of(key, i)];
		uint32_t idx;
		int rc;

		if (r->kind == R_ALIAS)
			return MW_EALIAS_INSIDE;
		if (r->kind == R_NODE) {
			cur = r->v;
			continue;
		}
		rc = node_new(t, &idx); /* may move t->nodes */
		if (rc < 0)
			return rc;
		r = &t->nodes[cur].r[bit_of(key, i)];
		t->nodes[idx].r[0] = *r;
		t->nodes[idx].r[1] = *r;
		r->kind = R_NODE;
		r->v = idx;
		r->plen = 0;
		cur = idx;
	}
	*out = &t->nodes[cur].r[bit_of(key, depth - 1)];
	return 0;
}

/* Give every record under r that a prefix shorter than plen set (or none) the data. */
static void fill(struct mw_tree *t, struct rec *r, uint32_t data, unsigned plen)
{
	if (r->kind == R_NODE) {
		uint32_t v = r->v;

		fill(t, &t->nodes[v].r[0], data, plen);
		fill(t, &t->nodes[v].r[1], data, plen);
	} else if (r->kind == R_EMPTY || (r->kind == R_DATA && r->plen <= plen)) {
		r->kind = R_DATA;
		r->v = data;
		r->plen = (uint8_t)plen;
	}
}

/* Make the record of key/depth an alias of the IPv4 root. */
static int alias(struct mw_tree *t, const uint8_t key[16], unsigned depth)
{
	struct rec *r;
	int rc = walk_to(t, key, depth, &r);

	if (rc < 0)
		return rc;
	r->kind = R_ALIAS;
	r->v = t->v4root;
	return 0;
}

struct mw_tree *mw_tree_new(void)
{
	static const uint8_t zero[16];
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff }; /* ::ffff:0:0/96 */
	static const uint8_t teredo[16] = { 0x20, 0x01 };                /* 2001::/32 */
	static const uint8_t six_to_four[16] = { 0x20, 0x02 };           /* 2002::/16 */
	struct mw_tree *t = calloc(1, sizeof(*t));
	uint32_t root;
	struct rec *r;

	if (!t)
		return NULL;
	/* the path to ::/96 first, then its node (node_new may move the array) */
	if (node_new(t, &root) < 0 || walk_to(t, zero, 96, &r) < 0 || node_new(t, &t->v4root) < 0 ||
	    walk_to(t, zero, 96, &r) < 0)
		goto fail;
	r->kind = R_NODE;
	r->v = t->v4root;
	if (alias(t, mapped, 96) < 0 || alias(t, teredo, 32) < 0 || alias(t, six_to_four, 16) < 0)
		goto fail;
	return t;
fail:
	mw_tree_free(t);
	return NULL;
}

void mw_tree_free(struct mw_tree *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t);
}

int mw_insert(struct mw_tree *t, const uint8_t key[16], unsigned depth, uint32_t data)
{
	struct rec *r;
	int rc;

	if (depth > 128 || data > MW_DATA_MAX || t->sealed)
		return RS_EINVAL;
	if (depth == 0) { /* ::/0: both halves of the root */
		fill(t, &t->nodes[0].r[0], data, 0);
		fill(t, &t->nodes[0].r[1], data, 0);
		return 0;
	}
	rc = walk_to(t, key, depth, &r);
	if (rc < 0)
		return rc;
	if (r->kind == R_ALIAS)
		return MW_EALIAS_OVERWRITE;
	fill(t, r, data, depth);
	return 0;
}

long mw_lookup(const struct mw_tree *t, const uint8_t addr[16])
{
	uint32_t cur = 0;

	for (unsigned i = 0; i < 128; i++) {
		const struct rec *r = &t->nodes[cur].r[bit_of(addr, i)];

		if (r->kind == R_DATA)
			return (long)r->v;
		if (r->kind == R_EMPTY)
			return -1;
		cur = r->v;
	}
	return -1;
}

/* ---- compaction and numbering ---- */

static bool same_leaf(const struct rec *a, const struct rec *b)
{
	if (a->kind != b->kind)
		return false;
	return a->kind == R_EMPTY || (a->kind == R_DATA && a->v == b->v);
}

/* Post-order: a node whose children are one leaf becomes that leaf. */
static void compact(struct mw_tree *t, struct rec *r)
{
	struct node *nd;

	if (r->kind != R_NODE)
		return;
	compact(t, &t->nodes[r->v].r[0]);
	compact(t, &t->nodes[r->v].r[1]);
	nd = &t->nodes[r->v];
	if (r->v != t->v4root && same_leaf(&nd->r[0], &nd->r[1])) {
		nd->live = false;
		*r = nd->r[0];
	}
}

/* Depth-first, left first: the numbers of the file. */
static void number(struct mw_tree *t, uint32_t idx, uint32_t *next)
{
	t->nodes[idx].num = (*next)++;
	for (int s = 0; s < 2; s++)
		if (t->nodes[idx].r[s].kind == R_NODE)
			number(t, t->nodes[idx].r[s].v, next);
}

/* ---- the data section encoder ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put8(struct buf *b, unsigned v)
{
	uint8_t c = (uint8_t)v;

	put(b, &c, 1);
}

/* big-endian, n octets */
static void put_be(struct buf *b, uint64_t v, unsigned n)
{
	while (n-- > 0)
		put8(b, (unsigned)(v >> (8 * n)) & 0xff);
}

#define SIZE_MAX_FIELD 16843036u /* 65821 + 2^24 - 1 */

/* Control byte(s) of a field of type type (1-15) and size size. */
static int put_ctrl(struct buf *b, unsigned type, size_t size)
{
	unsigned first = type <= 7 ? type << 5 : 0;

	if (size > SIZE_MAX_FIELD)
		return RS_EINVAL;
	if (size < 29)
		first |= (unsigned)size;
	else if (size < 285)
		first |= 29;
	else if (size < 65821)
		first |= 30;
	else
		first |= 31;
	put8(b, first);
	if (type > 7)
		put8(b, type - 7);
	if (size >= 65821)
		put_be(b, size - 65821, 3);
	else if (size >= 285)
		put_be(b, size - 285, 2);
	else if (size >= 29)
		put8(b, (unsigned)(size - 29));
	return 0;
}

static void put_pointer(struct buf *b, uint32_t off)
{
	if (off < 2048) {
		put8(b, 0x20 | (off >> 8));
		put8(b, off & 0xff);
	} else if (off < 2048 + 524288) {
		off -= 2048;
		put8(b, 0x28 | (off >> 16));
		put_be(b, off & 0xffff, 2);
	} else if (off < 526336u + 134217728u) {
		off -= 526336;
		put8(b, 0x30 | (off >> 24));
		put_be(b, off & 0xffffff, 3);
	} else {
		put8(b, 0x38);
		put_be(b, off, 4);
	}
}

static unsigned pointer_len(uint32_t off)
{
	return off < 2048 ? 2 : off < 2048 + 524288 ? 3 : off < 526336u + 134217728u ? 4 : 5;
}

/* Values written so far (their encoding without pointers -> offset). */
struct seen {
	uint8_t *bytes;
	size_t len;
	uint32_t off;
	struct seen *next;
};

struct enc {
	struct buf data;
	struct seen **tab;
	size_t ntab;
	int err;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/*
 * Append v to b. dedup: pointers to equal values written before (in e),
 * where shorter; top: v is a record of the tree, always written in full.
 */
static int encode(struct enc *e, struct buf *b, const struct mw_value *v, bool dedup, bool top);

/* v's encoding without pointers, into plain */
static int encode_plain(const struct mw_value *v, struct buf *plain)
{
	return encode(NULL, plain, v, false, false);
}

static int encode(struct enc *e, struct buf *b, const struct mw_value *v, bool dedup, bool top)
{
	struct buf plain = { 0 };
	struct seen *s = NULL;
	size_t slot = 0;
	uint32_t here;
	int rc = 0;

	if (dedup && v->type != MW_UINT16 && v->type != MW_UINT32 && v->type != MW_UINT64) {
		rc = encode_plain(v, &plain);
		if (rc < 0 || plain.oom)
			goto out;
		slot = fnv(plain.p, plain.len) % e->ntab;
		for (s = e->tab[slot]; s; s = s->next)
			if (s->len == plain.len && memcmp(s->bytes, plain.p, plain.len) == 0)
				break;
		if (s && !top && pointer_len(s->off) < plain.len) {
			put_pointer(b, s->off);
			goto out;
		}
	}
	if (b->len > UINT32_MAX) {
		rc = RS_EFULL;
		goto out;
	}
	here = (uint32_t)b->len;
	switch (v->type) {
	case MW_STRING: {
		size_t n = v->s ? strlen(v->s) : 0;

		rc = put_ctrl(b, 2, n);
		if (rc == 0)
			put(b, v->s, n);
		break;
	}
	case MW_UINT16:
	case MW_UINT32:
	case MW_UINT64: {
		unsigned n = 0;
		uint64_t max = v->type == MW_UINT16 ? 0xffff : v->type == MW_UINT32 ? 0xffffffffull : UINT64_MAX;

		if (v->u > max) {
			rc = RS_EINVAL;
			break;
		}
		while (n < 8 && (v->u >> (8 * n)) != 0)
			n++;
		rc = put_ctrl(b, v->type == MW_UINT16 ? 5 : v->type == MW_UINT32 ? 6 : 9, n);
		if (rc == 0)
			put_be(b, v->u, n);
		break;
	}
	case MW_MAP:
		rc = put_ctrl(b, 7, v->n);
		for (size_t i = 0; rc == 0 && i < 2 * v->n; i++) {
			if (i % 2 == 0 && v->items[i].type != MW_STRING)
				rc = RS_EINVAL;
			else
				rc = encode(e, b, &v->items[i], dedup, false);
		}
		break;
	case MW_ARRAY:
		rc = put_ctrl(b, 11, v->n);
		for (size_t i = 0; rc == 0 && i < v->n; i++)
			rc = encode(e, b, &v->items[i], dedup, false);
		break;
	default:
		rc = RS_EINVAL;
	}
	if (rc == 0 && dedup && !s && plain.p) {
		s = malloc(sizeof(*s));
		if (!s) {
			rc = RS_ENOMEM;
			goto out;
		}
		s->bytes = plain.p;
		s->len = plain.len;
		s->off = here;
		s->next = e->tab[slot];
		e->tab[slot] = s;
		plain.p = NULL;
	}
out:
	if (rc == 0 && (plain.oom || b->oom))
		rc = RS_ENOMEM;
	free(plain.p);
	return rc;
}

static void enc_free(struct enc *e)
{
	for (size_t i = 0; e->tab && i < e->ntab; i++) {
		struct seen *s = e->tab[i];

		while (s) {
			struct seen *next = s->next;

			free(s->bytes);
			free(s);
			s = next;
		}
	}
	free(e->tab);
	free(e->data.p);
}

/* ---- the file ---- */

struct ser {
	struct mw_tree *t;
	const struct mw_value *values;
	size_t nvalues;
	struct enc enc;
	uint32_t *offset; /* data id -> offset in the data section, UINT32_MAX when not yet written */
	int err;
};

/* The data of every leaf, in tree order. */
static void write_data(struct ser *z, uint32_t idx)
{
	for (int s = 0; s < 2 && z->err == 0; s++) {
		const struct rec *r = &z->t->nodes[idx].r[s];

		if (r->kind == R_NODE) {
			write_data(z, r->v);
		} else if (r->kind == R_DATA) {
			if (r->v >= z->nvalues) {
				z->err = RS_EINVAL;
			} else if (z->offset[r->v] == UINT32_MAX) {
				if (z->enc.data.len > UINT32_MAX - 64) {
					z->err = RS_EFULL;
					return;
				}
				z->offset[r->v] = (uint32_t)z->enc.data.len;
				z->err = encode(&z->enc, &z->enc.data, &z->values[r->v], true, true);
			}
		}
	}
}

static uint64_t record_value(const struct ser *z, const struct rec *r, uint32_t node_count)
{
	switch (r->kind) {
	case R_NODE:
	case R_ALIAS:
		return z->t->nodes[r->v].num;
	case R_DATA:
		return (uint64_t)node_count + 16 + z->offset[r->v];
	default:
		return node_count;
	}
}

static void put_node(struct buf *b, uint64_t left, uint64_t right, unsigned record_size)
{
	if (record_size == 24) {
		put_be(b, left, 3);
		put_be(b, right, 3);
	} else if (record_size == 28) {
		put_be(b, left & 0xffffff, 3);
		put8(b, (unsigned)(((left >> 24) & 0x0f) << 4 | ((right >> 24) & 0x0f)));
		put_be(b, right & 0xffffff, 3);
	} else {
		put_be(b, left, 4);
		put_be(b, right, 4);
	}
}

static int put_metadata(struct buf *b, const struct mw_meta *m, uint32_t node_count, unsigned record_size)
{
	struct mw_value langs[64], desc[2 * 64], kv[18];
	struct mw_value meta;
	size_t k = 0;

	if (m->nlanguages > 64 || m->ndescription > 64)
		return RS_EINVAL;
	for (size_t i = 0; i < m->nlanguages; i++)
		langs[i] = (struct mw_value){ .type = MW_STRING, .s = m->languages[i] };
	for (size_t i = 0; i < 2 * m->ndescription; i++)
		desc[i] = (struct mw_value){ .type = MW_STRING, .s = m->description[i] };
	/* keys in alphabetical order */
#define KEY(name) kv[k++] = (struct mw_value){ .type = MW_STRING, .s = (name) }
	KEY("binary_format_major_version");
	kv[k++] = (struct mw_value){ .type = MW_UINT16, .u = 2 };
	KEY("binary_format_minor_version");
	kv[k++] = (struct mw_value){ .type = MW_UINT16, .u = 0 };
	KEY("build_epoch");
	kv[k++] = (struct mw_value){ .type = MW_UINT64, .u = m->build_epoch };
	KEY("database_type");
	kv[k++] = (struct mw_value){ .type = MW_STRING, .s = m->database_type ? m->database_type : "" };
	KEY("description");
	kv[k++] = (struct mw_value){ .type = MW_MAP, .n = m->ndescription, .items = desc };
	KEY("ip_version");
	kv[k++] = (struct mw_value){ .type = MW_UINT16, .u = 6 };
	KEY("languages");
	kv[k++] = (struct mw_value){ .type = MW_ARRAY, .n = m->nlanguages, .items = langs };
	KEY("node_count");
	kv[k++] = (struct mw_value){ .type = MW_UINT32, .u = node_count };
	KEY("record_size");
	kv[k++] = (struct mw_value){ .type = MW_UINT16, .u = record_size };
#undef KEY
	meta = (struct mw_value){ .type = MW_MAP, .n = k / 2, .items = kv };
	put(b, "\xAB\xCD\xEFMaxMind.com", 14);
	return encode(NULL, b, &meta, false, false);
}

int mw_serialize(struct mw_tree *t, const struct mw_value *values, size_t nvalues, const struct mw_meta *meta,
		 uint8_t **out, size_t *outlen, uint32_t *node_count_out)
{
	struct ser z = { .t = t, .values = values, .nvalues = nvalues };
	struct buf file = { 0 };
	uint32_t node_count = 0;
	unsigned record_size;
	uint64_t max;
	int rc;

	*out = NULL;
	*outlen = 0;
	/* compact below the root (the root itself stays a node) */
	if (!t->sealed) {
		compact(t, &t->nodes[0].r[0]);
		compact(t, &t->nodes[0].r[1]);
		t->sealed = true;
	}
	number(t, 0, &node_count);

	z.offset = malloc((nvalues ? nvalues : 1) * sizeof(*z.offset));
	z.enc.ntab = 4096;
	z.enc.tab = calloc(z.enc.ntab, sizeof(*z.enc.tab));
	if (!z.offset || !z.enc.tab) {
		rc = RS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nvalues; i++)
		z.offset[i] = UINT32_MAX;
	write_data(&z, 0);
	rc = z.err;
	if (rc < 0)
		goto out;

	max = (uint64_t)node_count + 16 + z.enc.data.len;
	record_size = max < (1ull << 24) ? 24 : max < (1ull << 28) ? 28 : max < (1ull << 32) ? 32 : 0;
	if (record_size == 0) {
		rc = RS_EFULL;
		goto out;
	}
	{
		/* the node of each number (compaction leaves only numbered nodes live) */
		uint32_t *by_num = malloc((node_count ? node_count : 1) * sizeof(*by_num));

		if (!by_num) {
			rc = RS_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < t->n; i++)
			if (t->nodes[i].live)
				by_num[t->nodes[i].num] = (uint32_t)i;
		for (uint32_t k = 0; k < node_count; k++) {
			const struct node *nd = &t->nodes[by_num[k]];

			put_node(&file, record_value(&z, &nd->r[0], node_count), record_value(&z, &nd->r[1], node_count),
				 record_size);
		}
		free(by_num);
	}
	for (int i = 0; i < 16; i++)
		put8(&file, 0);
	if (z.enc.data.len)
		put(&file, z.enc.data.p, z.enc.data.len);
	rc = put_metadata(&file, meta, node_count, record_size);
	if (rc == 0 && file.oom)
		rc = RS_ENOMEM;
	if (rc == 0) {
		*out = file.p;
		*outlen = file.len;
		file.p = NULL;
		if (node_count_out)
			*node_count_out = node_count;
	}
out:
	free(file.p);
	free(z.offset);
	enc_free(&z.enc);
	return rc;
}

const char *mw_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case MW_EALIAS_INSIDE:
		return "Attempted to insert into an aliased network.";
	case MW_EALIAS_OVERWRITE:
		return "Attempted to overwrite an aliased network.";
	case RS_ENOMEM:
		return "out of memory";
	case RS_EFULL:
		return "the database would be larger than the format allows (4 GB)";
	default:
		return "invalid value";
	}
}
