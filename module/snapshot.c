/* snapshot.c — writing and reading the snapshot file (format in snapshot.h). */
#include "snapshot.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_err.h"
#include "sign.h"
#include "text.h"

static const char magic[8] = { 'R', 'S', 'S', 'N', 'A', 'P', '\r', '\n' };
#define HDR_LEN 32
#define MAX_FILE (1ULL << 34) /* 16 GiB: anything larger is not ours */
#define IMAGE_RUN_MAX 4096    /* longest run of used slots of a table served in place */

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static uint64_t le64at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/*
 * The checksum of version 7: four independent 64-bit lanes over 32-octet
 * blocks (several octets a cycle, where FNV-1a takes one: a 1M-name file is
 * checked in a few ms), the tail with FNV-1a, all folded with the length.
 * Each step is a bijection of its lane, so a change within one block always
 * changes the sum. Like FNV-1a it detects damage; it is no MAC (the file is
 * the resolver's own).
 */
static uint64_t sum64(const uint8_t *p, size_t n)
{
	uint64_t h[4] = { 0x9e3779b97f4a7c15ULL, 0xbf58476d1ce4e5b9ULL, 0x94d049bb133111ebULL, 0x2545f4914f6cdd1dULL };
	uint64_t out;
	size_t i = 0;

	for (; n - i >= 32; i += 32)
		for (int j = 0; j < 4; j++) {
			uint64_t x = (h[j] ^ le64at(p + i + 8 * (size_t)j)) * 0xff51afd7ed558ccdULL;
			h[j] = (x << 29) | (x >> 35);
		}
	out = fnv64(p + i, n - i) ^ (uint64_t)n;
	for (int j = 0; j < 4; j++) {
		out = (out ^ h[j]) * 0xc4ceb9fe1a85ec53ULL;
		out ^= out >> 33;
	}
	return out;
}

uint64_t rs_snapshot_checksum(uint32_t version, const uint8_t *payload, size_t len)
{
	return version >= 7 ? sum64(payload, len) : fnv64(payload, len);
}

static void put_le(struct rs_buf *b, uint64_t v, int n)
{
	char o[8];

	for (int i = 0; i < n; i++)
		o[i] = (char)(v >> (8 * i));
	rs_buf_add(b, o, (size_t)n);
}

static void put_str(struct rs_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX)
		n = UINT32_MAX; /* unreachable: order fields are bounded at parse time */
	put_le(b, n, 4);
	rs_buf_add(b, s, n);
}

struct wctx {
	struct rs_buf *b;
	const uint32_t *pos; /* list index -> file position, UINT32_MAX: absent */
	uint32_t nidx;
	uint32_t count;
};

/* Overwrite the u32 placeholder at offset at with v. */
static void patch_le32(struct rs_buf *b, size_t at, uint32_t v)
{
	if (b->oom || at + 4 > b->len)
		return;
	for (int i = 0; i < 4; i++)
		b->s[at + i] = (char)(uint8_t)(v >> (8 * i));
}

/* Version 7's entry section (snapshot.h): the entries in struct rs_entry
 * layout (order positions of this file) go straight into the image (the
 * arena), and for each its offset there and its hash, to lay out the probe
 * table after it. */
struct ectx {
	struct wctx *w;
	struct rs_buf *b;
	size_t at; /* where the arena starts in b */
	struct { uint64_t hash; size_t off; } *ref;
	size_t n, cap;
};

static int put_entry(const struct rs_entry *e, void *arg)
{
	static const char zero[4];
	struct ectx *x = arg;
	struct wctx *w = x->w;
	const uint8_t *wire = rs_entry_wire(e);
	uint16_t n = 0;

	for (uint16_t k = 0; k < e->nord; k++)
		if (e->ord[k] < w->nidx && w->pos[e->ord[k]] != UINT32_MAX)
			n++;
	if (n == 0 && !(e->flags & RS_ENT_PROTECTED))
		return 0; /* only under orders that are gone: nothing to keep */
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 1024;
		void *nr = realloc(x->ref, cap * sizeof(*x->ref));
		if (!nr) {
			x->b->oom = true;
			return 1; /* stop the walk: the encoding fails */
		}
		x->ref = nr;
		x->cap = cap;
	}
	x->ref[x->n].hash = rs_wire_hash(wire, e->wlen);
	x->ref[x->n++].off = x->b->len - x->at;
	w->count++;
	put_le(x->b, x->ref[x->n - 1].hash >> 32, 4);
	put_le(x->b, e->wlen, 1);
	put_le(x->b, e->flags, 1);
	put_le(x->b, n, 2);
	for (uint16_t k = 0; k < e->nord; k++)
		if (e->ord[k] < w->nidx && w->pos[e->ord[k]] != UINT32_MAX)
			put_le(x->b, w->pos[e->ord[k]], 4);
	rs_buf_add(x->b, (const char *)wire, e->wlen);
	rs_buf_add(x->b, zero, (4 - (x->b->len - x->at) % 4) % 4);
	return 0;
}

/* The entry section of version 7: counts (patched in after the walk), the
 * arena (4-aligned in the image), then the table: each entry at the first
 * free slot from its hash, as rs_list probes; at least a quarter of the
 * slots stay empty. */
static void put_entries(struct rs_buf *b, const struct rs_list *l, struct wctx *w)
{
	static const char zero[4];
	struct ectx x = { .w = w, .b = b };
	size_t cap = 16, head = b->len, alen;
	uint32_t *slot = NULL;

	w->count = 0;
	rs_buf_add(b, zero, 4);
	rs_buf_add(b, zero, 4);
	rs_buf_add(b, (const char[8]){ 0 }, 8);
	rs_buf_add(b, zero, (4 - b->len % 4) % 4);
	x.at = b->len;
	if (rs_list_foreach(l, put_entry, &x) != 0 || b->oom)
		goto oom;
	alen = b->len - x.at;
	while (cap < x.n + x.n / 3 + 1)
		cap <<= 1;
	if (cap > UINT32_MAX || alen / 4 >= UINT32_MAX - 1 || !(slot = calloc(cap, sizeof(*slot))))
		goto oom;
	for (size_t i = 0; i < x.n; i++) {
		size_t j = (size_t)x.ref[i].hash & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = htole32((uint32_t)(x.ref[i].off / 4 + 1));
	}
	rs_buf_add(b, (const char *)slot, cap * sizeof(*slot));
	patch_le32(b, head, (uint32_t)x.n);
	patch_le32(b, head + 4, (uint32_t)cap);
	patch_le32(b, head + 8, (uint32_t)alen);
	patch_le32(b, head + 12, (uint32_t)((uint64_t)alen >> 32));
	goto out;
oom:
	b->oom = true;
out:
	free(slot);
	free(x.ref);
}

/* A prefix's fixed-size record head: u8 family, u8 length, 16 octets. */
static void put_prefix_head(struct rs_buf *b, const struct rs_prefix *p)
{
	put_le(b, p->family, 1);
	put_le(b, p->len, 1);
	rs_buf_add(b, (const char *)p->addr, 16);
}

static int put_prefix(const struct rs_pentry *pe, void *arg)
{
	struct wctx *w = arg;
	uint16_t n = 0;

	w->count++;

	for (uint16_t k = 0; k < pe->nord; k++)
		if (pe->ord[k] < w->nidx && w->pos[pe->ord[k]] != UINT32_MAX)
			n++;
	put_prefix_head(w->b, &pe->prefix);
	put_le(w->b, pe->flags, 1);
	put_le(w->b, n, 2);
	for (uint16_t k = 0; k < pe->nord; k++)
		if (pe->ord[k] < w->nidx && w->pos[pe->ord[k]] != UINT32_MAX)
			put_le(w->b, w->pos[pe->ord[k]], 4);
	return 0;
}

int rs_snapshot_encode(const struct rs_list *l, const char *last_id, const char *dataset, const struct rs_prefix *susp,
		       size_t nsusp, const struct rs_protsig *prot, uint8_t **out, size_t *outlen)
{
	struct rs_buf b = { 0 };
	int rc = rs_snapshot_encode_buf(l, last_id, dataset, susp, nsusp, prot, &b);

	if (rc) {
		free(b.s);
		*out = NULL;
		*outlen = 0;
		return rc;
	}
	*out = (uint8_t *)b.s;
	*outlen = b.len;
	return 0;
}

int rs_snapshot_encode_buf(const struct rs_list *l, const char *last_id, const char *dataset,
			   const struct rs_prefix *susp, size_t nsusp, const struct rs_protsig *prot, struct rs_buf *out)
{
	struct rs_buf b = { .s = out->s, .cap = out->cap };
	uint32_t nidx = rs_list_order_count(l), norders = 0;
	uint32_t *pos = malloc((nidx + 1) * sizeof(*pos));
	struct wctx w = { &b, pos, nidx, 0 };
	uint8_t *hdr;
	uint64_t plen, sum;
	size_t at;

	out->len = 0;
	if (!pos)
		return RS_ENOMEM;
	if (rs_list_image_get(l)) {
		free(pos);
		return RS_EINVAL; /* not checked yet (rs_snapshot_settle): its entries are not walked */
	}
	rs_buf_add(&b, (const char[HDR_LEN]){ 0 }, HDR_LEN); /* the header, filled in below */
	put_str(&b, last_id);
	put_str(&b, dataset ? dataset : "");
	/* Each count is patched in after the one pass over what it counts:
	 * the snapshot writer thread (sync.c) encodes while the sync thread
	 * changes the list, so two passes could disagree. */
	at = b.len;
	put_le(&b, 0, 4);
	for (uint32_t i = 0; i < nidx; i++) {
		const struct rs_order *o = rs_list_order_get(l, i);
		pos[i] = o ? norders++ : UINT32_MAX;
		if (!o)
			continue;
		put_str(&b, o->id);
		put_le(&b, 10, 2);
		put_str(&b, "authority"), put_str(&b, o->authority);
		put_str(&b, "reference"), put_str(&b, o->reference);
		put_str(&b, "scope"), put_str(&b, o->scope);
		put_str(&b, "action"), put_str(&b, rs_action_name(o->action));
		put_str(&b, "expires"), put_str(&b, o->expires_text);
		put_str(&b, "issued"), put_str(&b, o->issued);
		put_str(&b, "reason"), put_str(&b, o->reason);
		put_str(&b, "url"), put_str(&b, o->url);
		put_str(&b, "lang"), put_str(&b, o->lang);
		put_str(&b, "windows"), put_str(&b, o->windows ? o->windows : "");
		/* version 4: the verified manifest (signed mode), or three "" */
		put_str(&b, o->sig ? o->sig->text : "");
		put_str(&b, o->sig ? o->sig->sig : "");
		put_str(&b, o->sig ? o->sig->key : "");
	}
	patch_le32(&b, at, norders);
	put_entries(&b, l, &w);
	w.count = 0;
	at = b.len;
	put_le(&b, 0, 4);
	rs_list_prefix_foreach(l, put_prefix, &w);
	patch_le32(&b, at, w.count);
	/* version 5: the prefixes the collateral alarm suspended */
	put_le(&b, nsusp, 4);
	for (size_t i = 0; i < nsusp; i++)
		put_prefix_head(&b, &susp[i]);
	/* version 6: the verified protected set's manifest, or three "" */
	put_str(&b, prot && prot->text ? prot->text : "");
	put_str(&b, prot && prot->text ? prot->sig : "");
	put_str(&b, prot && prot->text ? prot->key : "");
	free(pos);
	out->s = b.s; /* what it grew to, also after a failure */
	out->cap = b.cap;
	out->len = 0;
	if (b.oom)
		return RS_ENOMEM;
	hdr = (uint8_t *)b.s;
	plen = b.len - HDR_LEN;
	memcpy(hdr, magic, 8);
	for (int i = 0; i < 4; i++) {
		hdr[8 + i] = (uint8_t)(RS_SNAPSHOT_VERSION >> (8 * i));
		hdr[12 + i] = (uint8_t)(HDR_LEN >> (8 * i));
	}
	sum = rs_snapshot_checksum(RS_SNAPSHOT_VERSION, hdr + HDR_LEN, (size_t)plen);
	for (int i = 0; i < 8; i++) {
		hdr[16 + i] = (uint8_t)(plen >> (8 * i));
		hdr[24 + i] = (uint8_t)(sum >> (8 * i));
	}
	out->len = b.len;
	return 0;
}

int rs_snapshot_write(const char *path, const struct rs_list *l, const char *last_id, const char *dataset,
		      const struct rs_prefix *susp, size_t nsusp, const struct rs_protsig *prot, char *err,
		      size_t errlen)
{
	uint8_t *img;
	size_t len;
	int rc;

	if (rs_snapshot_encode(l, last_id, dataset, susp, nsusp, prot, &img, &len)) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	rc = rs_snapshot_write_image(path, img, len, err, errlen);
	free(img);
	return rc;
}

/*
 * The image goes to the file RS_SNAPSHOT_WRITE_CHUNK octets per write(). With
 * one write() of the whole image (40 MB at 1M names; 130 ms from there to the
 * rename) a worker or the sync thread woken on the writer's core waited 5.4-5.8
 * ms at each hop, 16-19 ms for one change, on a 6.18 kernel running without
 * preemption (PREEMPT_DYNAMIC in "none" mode, HZ=250); with 64 KiB writes no
 * such wait shows (RESULTS.md, "The cause: one write() of the whole image").
 * The likely mechanism: no preemption inside the system call until a tick;
 * each return to user space between chunks is where a woken thread gets the
 * core.
 */
int rs_snapshot_write_image(const char *path, const uint8_t *img, size_t len, char *err, size_t errlen)
{
	char tmp[4096];
	int fd = -1, rc = RS_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		size_t want = len - off < RS_SNAPSHOT_WRITE_CHUNK ? len - off : RS_SNAPSHOT_WRITE_CHUNK;
		ssize_t n = write(fd, img + off, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "writing %s: %s", tmp, n < 0 ? strerror(errno) : "short write");
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
		goto out_unlink;
	}
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- reading: a bounds-checked cursor ---- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get_le(struct rd *r, int n)
{
	uint64_t v = 0;

	if (r->bad || r->end - r->p < n) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

/* A string of the file (u16 length in version 1, u32 since) in a new
 * NUL-terminated copy; NULL when the framing is broken (r->bad) or out of
 * memory. *nul: the string holds a NUL octet (a bad record, not a bad file). */
static char *get_str(struct rd *r, int lenw, bool *nul)
{
	size_t n = (size_t)get_le(r, lenw);
	char *s;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	if (nul && memchr(r->p, 0, n))
		*nul = true;
	s = malloc(n + 1);
	if (!s) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	return s;
}

/* A prefix record's head (put_prefix_head) into *p, not validated; false
 * when the framing is broken (r->bad). */
static bool get_prefix_head(struct rd *r, struct rs_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)get_le(r, 1);
	p->len = (uint8_t)get_le(r, 1);
	if (r->bad || r->end - r->p < 16) {
		r->bad = true;
		return false;
	}
	memcpy(p->addr, r->p, 16);
	r->p += 16;
	return true;
}

/* Copy a string of at most cap - 1 octets into buf; anything else is bad. */
static bool get_small(struct rd *r, int lenw, char *buf, size_t cap)
{
	bool nul = false;
	char *s = get_str(r, lenw, &nul);
	bool ok = s && !nul && strlen(s) < cap;

	snprintf(buf, cap, "%s", ok ? s : "");
	free(s);
	return ok;
}

/* Read one order record into the list: 0 (loaded, or skipped with *pos =
 * UINT32_MAX and the reason logged), RS_EINVAL (the framing is broken),
 * RS_ENOMEM. */
/* The verified manifest of a version 4 order record (text, sig, key; text
 * "" = none) as o->sig. A manifest that no longer parses is dropped with a
 * warning (the order then has no verified version: its next signed change
 * reloads it whole). In signed mode (c->require_signatures) the manifest is
 * verified again against the current keys (trusted, not revoked, the
 * signature): one that fails is dropped the same way, and the caller then
 * does not enforce the order (doc/signing.md, the snapshot's trust
 * boundary). 0 or RS_ENOMEM. */
static int attach_sig(struct rs_order *o, char *const sg[3], const struct rs_conf *c, const char *path, uint32_t i)
{
	struct rs_manifest *m = NULL;
	struct rs_order_sig *g;
	char why[300], reason[16];
	int rc;

	if (!sg[0] || !*sg[0])
		return 0;
	if (c->require_signatures)
		rc = rs_manifest_verify(c, o->id, sg[0], strlen(sg[0]), sg[1], sg[2], &m, reason, why, sizeof(why));
	else
		rc = rs_manifest_parse(sg[0], strlen(sg[0]), &m, why, sizeof(why));
	if (rc == RS_ENOMEM)
		return rc;
	if (rc || strcmp(m->order, o->id) != 0 || strlen(sg[1]) != RS_SIG_B64_LEN || strcmp(m->key, sg[2]) != 0) {
		rs_log(RS_LOG_WARN, "%s: order record %u (order '%s'): dropping its manifest: %s%s%s", path, i,
		       o->id, rc && c->require_signatures ? reason : "", rc && c->require_signatures ? ": " : "",
		       rc ? why : "it does not belong to the order");
		rs_manifest_free(m);
		return 0;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->text = strdup(sg[0]))) {
		free(g);
		rs_manifest_free(m);
		return RS_ENOMEM;
	}
	g->len = m->len;
	snprintf(g->sig, sizeof(g->sig), "%s", sg[1]);
	snprintf(g->key, sizeof(g->key), "%s", sg[2]);
	g->version = m->version;
	rs_sha256_hex(m->text, m->len, g->hash);
	g->names = m->names;
	g->prefixes = m->prefixes;
	g->revoked = m->revoked;
	{
		bool rv;
		const struct rs_pubkey *k = rs_conf_key(c, m->key, &rv);
		snprintf(g->label, sizeof(g->label), "%s", k ? k->label : "");
	}
	o->sig = g;
	if (m->revoked)
		o->in_scope = false; /* a tombstone (load.h): never applies */
	rs_manifest_free(m);
	/* the texts were expanded before o->sig was set: {signer} and
	 * {signer_key} of the TXT / EDE templates need it (order.h) */
	return rs_order_texts(c, o);
}

static int read_order(struct rd *r, int lenw, uint32_t version, const struct rs_conf *c, struct rs_list *l,
		      const char *path, uint32_t i, uint32_t *pos, size_t *skipped)
{
	char *sg[3] = { NULL, NULL, NULL };
	char *strs[2 * 32 + 1] = { NULL };
	const char *kv[2 * 32];
	char why[512];
	struct rs_order *o = NULL;
	bool nul = false;
	uint16_t nf;
	int rc = 0;

	*pos = UINT32_MAX;
	strs[2 * 32] = get_str(r, lenw, &nul); /* id */
	nf = (uint16_t)get_le(r, 2);
	if (r->bad || nf > 32) {
		r->bad = true;
		rc = RS_EINVAL;
		goto out;
	}
	for (uint16_t f = 0; f < 2 * nf; f++) {
		strs[f] = get_str(r, lenw, &nul);
		if (!strs[f]) {
			rc = RS_EINVAL;
			goto out;
		}
		kv[f] = strs[f];
	}
	for (int k = 0; version >= 4 && k < 3; k++) {
		sg[k] = get_str(r, lenw, &nul);
		if (!sg[k]) {
			rc = RS_EINVAL;
			goto out;
		}
	}
	if (nul)
		snprintf(why, sizeof(why), "a field holds a NUL octet");
	else if (rs_order_parse(c, strs[2 * 32], kv, nf, &o, why, sizeof(why)) == 0) {
		rc = attach_sig(o, sg, c, path, i);
		if (rc == 0 && c->require_signatures && !o->sig) {
			/* signed mode: an order without a verified manifest (left
			 * from unsigned mode, an older format, or one whose
			 * manifest no longer verifies) is not enforced; the first
			 * full load raises its alarm */
			snprintf(why, sizeof(why), "order '%s' has no verified manifest (require-signatures: yes)",
				 o->id);
			rs_order_free(o);
			o = NULL;
		} else {
			if (rc == 0)
				rc = rs_list_order_set(l, o, pos);
			else
				rs_order_free(o);
			if (rc)
				*pos = UINT32_MAX;
			goto out;
		}
	}
	(*skipped)++;
	rs_log(RS_LOG_WARN, "%s: skipping order record %u: %s", path, i, why);
out:
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
		free(strs[k]);
	for (int k = 0; k < 3; k++)
		free(sg[k]);
	return rc == RS_ENOMEM || rc == RS_EINVAL ? rc : (rc ? RS_ENOMEM : 0);
}

/* The version 6 record of the verified protected set (str text, sig, key;
 * text "" = none) into *ps. In signed mode it is verified again against the
 * current keys (a protect-key, not revoked, the signature: rs_protected_verify);
 * otherwise parsed only. One that fails is dropped with a warning and
 * counted in *nskip (*ps stays empty: the first full load verifies Redis
 * without it). 0, RS_EINVAL (the framing is broken), RS_ENOMEM. */
static int read_protected(struct rd *r, const struct rs_conf *c, const char *path, struct rs_protsig *ps,
			  size_t *nskip)
{
	char *sg[3] = { NULL, NULL, NULL };
	struct rs_manifest *m = NULL;
	char why[600], reason[16] = "";
	bool nul = false;
	int rc = 0;

	for (int k = 0; k < 3; k++)
		if (!(sg[k] = get_str(r, 4, &nul))) {
			rc = RS_EINVAL;
			goto out;
		}
	if (!*sg[0] && !*sg[1] && !*sg[2])
		goto out; /* none */
	if (nul) {
		snprintf(why, sizeof(why), "a field holds a NUL octet");
		rc = RS_EINVAL;
	} else if (c->require_signatures) {
		rc = rs_protected_verify(c, sg[0], strlen(sg[0]), sg[1], sg[2], &m, reason, why, sizeof(why));
	} else {
		rc = rs_manifest_parse(sg[0], strlen(sg[0]), &m, why, sizeof(why));
		if (rc == 0 && (strcmp(m->order, RS_PROTECTED_ID) != 0 || m->nfields || m->revoked ||
				strcmp(m->key, sg[2]) != 0 || strlen(sg[1]) != RS_SIG_B64_LEN)) {
			snprintf(why, sizeof(why), "not a protected set's manifest");
			rc = RS_EINVAL;
		}
	}
	if (rc == 0)
		rc = rs_protsig_set(ps, m, sg[1]);
	else if (rc != RS_ENOMEM) {
		(*nskip)++;
		rs_log(RS_LOG_WARN, "%s: dropping the verified protected set's manifest: %s%s%s", path, reason,
		       *reason ? ": " : "", why);
		rc = 0;
	}
out:
	rs_manifest_free(m);
	for (int k = 0; k < 3; k++)
		free(sg[k]);
	return rc;
}


static int decode(uint8_t *data, size_t got, bool mapped, const char *path, bool image, const struct rs_conf *c,
		  struct rs_list **out, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
		  struct rs_prefix **susp, size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err,
		  size_t errlen);

int rs_snapshot_read_image(const char *path, bool image, const struct rs_conf *c, struct rs_list **out,
			   char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp,
			   size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t got = 0;
	int fd;

	*out = NULL;
	last_id[0] = dataset[0] = '\0';
	if (susp)
		*susp = NULL, *nsusp = 0;
	if (skipped)
		*skipped = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? RS_ENOENT : RS_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE) {
		snprintf(err, errlen, "%s: not a regular file of sane size", path);
		close(fd);
		return RS_EINVAL;
	}
	if (image && st.st_size > 0) {
		/* served in place: the file's pages themselves, not a copy
		 * (rs_snapshot_settle moves the entries out later) */
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		close(fd);
		if (map == MAP_FAILED) {
			snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
			return RS_EIO;
		}
		return decode(map, (size_t)st.st_size, true, path, true, c, out, last_id, dataset, susp, nsusp, prot,
			      skipped, err, errlen);
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return decode(data, got, false, path, image, c, out, last_id, dataset, susp, nsusp, prot, skipped, err, errlen);
}

int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out, char last_id[RS_STREAM_ID_MAX],
		     char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp, size_t *nsusp,
		     struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen)
{
	return rs_snapshot_read_image(path, false, c, out, last_id, dataset, susp, nsusp, prot, skipped, err, errlen);
}

int rs_snapshot_decode(const uint8_t *data, size_t got, const char *path, const struct rs_conf *c, struct rs_list **out,
		       char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp,
		       size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen)
{
	uint8_t *copy = malloc(got + 1);

	*out = NULL;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	memcpy(copy, data, got);
	return rs_snapshot_decode_owned(copy, got, path, false, c, out, last_id, dataset, susp, nsusp, prot, skipped,
					err, errlen);
}

/* A name the list may hold: canonical (rs_wire_canonical, lib/name.c) and a query name. */
static bool entry_name_ok(const uint8_t *wire, size_t wlen)
{
	struct rs_qname q;

	return rs_wire_canonical(wire, wlen) && rs_qname_prepare(wire, wlen, &q) > 0 && q.len == wlen;
}

/* One entry record (versions before 7, and version 7 when its entries
 * cannot be served in place) into the list: the name, protected when flags
 * say so, under the orders at the nord little-endian u32 file positions pos
 * (mapped through idx; an order that was skipped is left out). A bad name
 * or position is skipped, counted and logged. 0 or RS_ENOMEM. */
static int add_entry(struct rs_list *l, const uint8_t *wire, size_t wlen, uint8_t flags, uint16_t nord,
		     const uint8_t *pos, uint32_t norders, const uint32_t *idx, const char *path, size_t i,
		     size_t *nskip)
{
	if (!entry_name_ok(wire, wlen)) {
		(*nskip)++;
		rs_log(RS_LOG_WARN, "%s: skipping entry %zu: not a wire-format name", path, i);
		return 0;
	}
	if ((flags & RS_ENT_PROTECTED) && rs_list_protect(l, wire, wlen, true) == RS_ENOMEM)
		return RS_ENOMEM;
	for (uint16_t k = 0; k < nord; k++) {
		uint32_t p = le32at(pos + 4 * (size_t)k);
		if (p >= norders) {
			(*nskip)++;
			rs_log(RS_LOG_WARN, "%s: entry %zu: order position %u out of range: skipped", path, i, p);
		} else if (idx[p] != UINT32_MAX && rs_list_add(l, wire, wlen, idx[p]) == RS_ENOMEM) {
			return RS_ENOMEM;
		}
	}
	return 0;
}

int rs_snapshot_settle(struct rs_list *l, const char *what, size_t *skipped)
{
	const struct rs_list_image *served = rs_list_image_get(l), *im = served;
	struct rs_list_image view;
	uint32_t norders = rs_list_order_count(l), *out = NULL;
	struct rs_list_stats cnt = { 0 };
	size_t used = 0, cap = 16, skip = 0, base;
	uint8_t *seen = NULL, *copy = NULL;
	int rc = RS_ENOMEM;

	if (!im)
		return 0;
	if (im->mapped) {
		/* a mapped file: the arena and the table (one after the other)
		 * move to memory of their own first, and only the copy is read:
		 * what the file holds later does not matter (and a file truncated
		 * under a mapping faults); offsets are then the copy's */
		size_t n = im->alen + 4 * im->cap;
		if (!(copy = malloc(n)))
			return RS_ENOMEM;
		memcpy(copy, im->arena, n);
		view = *im;
		view.arena = copy;
		view.slot = (const uint32_t *)(const void *)(copy + im->alen);
		im = &view;
	}
	base = copy ? 0 : (size_t)(im->arena - im->block) / 4;
	for (size_t i = 0; i < im->cap; i++)
		used += im->slot[i] != 0;
	while (cap < used + used / 3 + 1)
		cap <<= 1;
	out = calloc(cap, sizeof(*out));
	seen = calloc(im->alen / 32 + 1, 1);
	if (!out || !seen)
		goto done;
	for (size_t i = 0; i < im->cap; i++) {
		uint32_t v = im->slot[i];
		const struct rs_entry *e = rs_list_image_entry(im, v), *f;
		uint64_t q = (uint64_t)v - 1, h = 0;
		const char *why = NULL;
		size_t j = 0;

		if (v == 0)
			continue;
		if (!e)
			why = "outside the arena";
		else if (seen[q / 8] >> (q % 8) & 1)
			why = "named by another slot"; /* each entry is looked at once */
		if (e && !why) {
			seen[q / 8] |= (uint8_t)(1u << (q % 8));
			if (!e->nord && !e->flags)
				why = "no order";
			else if (e->flags & ~RS_ENT_PROTECTED)
				why = "unknown flags";
			else if (!entry_name_ok(rs_entry_wire(e), e->wlen))
				why = "not a canonical name";
			else if (base + q + 1 >= UINT32_MAX)
				why = "too far";
		}
		for (uint16_t k = 0; !why && k < e->nord; k++)
			if (e->ord[k] >= norders)
				why = "an order index out of range";
		if (!why) {
			h = rs_wire_hash(rs_entry_wire(e), e->wlen);
			if (e->hash != (uint32_t)(h >> 32))
				why = "its stored hash is not its name's";
		}
		for (j = (size_t)h & (cap - 1); !why && out[j]; j = (j + 1) & (cap - 1)) {
			f = (const struct rs_entry *)(const void *)((copy ? copy : im->block) + ((size_t)out[j] - 1) * 4);
			if (f->hash == e->hash && f->wlen == e->wlen && memcmp(rs_entry_wire(f), rs_entry_wire(e), e->wlen) == 0)
				why = "the same name twice";
		}
		if (why) {
			if (skip++ < 20)
				rs_log(RS_LOG_WARN, "%s: skipping the entry of table slot %zu: %s", what, i, why);
			continue;
		}
		out[j] = (uint32_t)(base + q + 1);
		cnt.domains += e->nord > 0;
		cnt.protected_n += e->flags != 0;
		cnt.name_bytes += (size_t)e->wlen - 2;
	}
	rc = rs_list_adopt(l, copy, served->alen, out, cap, &cnt);
	if (rc == 0)
		copy = NULL; /* the list's */
	if (skip > 20)
		rs_log(RS_LOG_WARN, "%s: %zu entries skipped in all", what, skip);
	if (skipped)
		*skipped += skip;
done:
	free(copy);
	free(out);
	free(seen);
	return rc;
}

/*
 * The entry section of version 7 (snapshot.h). When the file's order
 * positions are the list's indexes (every order loaded) on a little-endian
 * host, the entries are served in place: data becomes the list's block and
 * its table is used as it is (rs_list_image) — nothing is walked here;
 * rs_snapshot_settle checks it all later. Otherwise each entry is walked
 * and added as before version 7. 0 (*image: data belongs to l now),
 * RS_EINVAL (err), RS_ENOMEM.
 */
static int read_entries_v7(struct rd *r, uint8_t *data, size_t got, bool mapped, uint32_t norders, const uint32_t *idx,
			   struct rs_list *l, const char *path, size_t *nskip, bool *image, char *err, size_t errlen)
{
	uint32_t nentries = (uint32_t)get_le(r, 4), cap = (uint32_t)get_le(r, 4);
	uint64_t alen = get_le(r, 8);
	size_t at = (size_t)(r->p - data), pad = (4 - at % 4) % 4, room = (size_t)(r->end - r->p), n = 0;
	bool same = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && rs_list_order_count(l) == norders;
	const uint32_t *slot;
	size_t longest = 0;
	uint8_t *arena;
	int rc;

	if (r->bad || cap < 16 || (cap & (cap - 1)) || alen % 4 || room < pad || room - pad < alen ||
	    (room - pad - alen) / 4 < cap || nentries > alen / 8 || nentries >= cap) {
		snprintf(err, errlen, "%s: malformed entry section", path);
		return RS_EINVAL;
	}
	arena = data + at + pad;
	slot = (const uint32_t *)(const void *)(arena + alen);
	r->p = arena + alen + 4 * (size_t)cap;
	for (uint32_t i = 0; same && i < norders; i++)
		same = idx[i] == i;
	if (same) {
		/* a lookup probes no further than the longest run of used slots
		 * (cyclic), and needs one empty slot to end at: O(cap), once. A
		 * table our writer made (at most 3/4 full) has runs of hundreds
		 * of slots at 10M names; a longer one is read entry by entry. */
		size_t z = 0, run = 0;
		while (z < cap && slot[z] != 0)
			z++;
		if (z == cap) {
			snprintf(err, errlen, "%s: malformed entry table (no free slot)", path);
			return RS_EINVAL;
		}
		for (size_t k = 1; k <= cap; k++) {
			/* without a branch: slots are used at random, and a
			 * branch on each mispredicted so often that this scan
			 * was most of a start's load (RESULTS.md) */
			size_t used = slot[(z + k) & (cap - 1)] != 0;
			run = (run + 1) & (0 - used);
			longest = run > longest ? run : longest;
		}
		same = longest <= IMAGE_RUN_MAX;
		if (!same)
			rs_log(RS_LOG_WARN, "%s: a run of %zu used slots in the entry table: read entry by entry", path,
			       longest);
	}
	if (same) {
		rc = rs_list_image(l, data, got, mapped, arena, (size_t)alen, slot, cap, longest, nentries);
		if (rc)
			snprintf(err, errlen, "out of memory");
		*image = rc == 0;
		return rc;
	}
	if (rs_list_reserve(l, nentries)) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t off = 0; off < alen; n++) {
		const uint8_t *p = arena + off;
		uint16_t nord;
		size_t size;

		if (alen - off < 8 || n >= nentries)
			goto framing;
		nord = (uint16_t)(p[6] | p[7] << 8);
		size = (8 + 4 * (size_t)nord + p[4] + 3) & ~(size_t)3;
		if (size > alen - off)
			goto framing;
		if (add_entry(l, p + 8 + 4 * (size_t)nord, p[4], p[5], nord, p + 8, norders, idx, path, n, nskip)) {
			snprintf(err, errlen, "out of memory");
			return RS_ENOMEM;
		}
		off += size;
	}
	if (n == nentries)
		return 0;
framing:
	snprintf(err, errlen, "%s: malformed entry %zu", path, n);
	return RS_EINVAL;
}

int rs_snapshot_decode_owned(uint8_t *data, size_t got, const char *path, bool image, const struct rs_conf *c,
			     struct rs_list **out, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
			     struct rs_prefix **susp, size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err,
			     size_t errlen)
{
	return decode(data, got, false, path, image, c, out, last_id, dataset, susp, nsusp, prot, skipped, err, errlen);
}

/* rs_snapshot_decode_owned; mapped: data is a read-only mapping of got
 * octets (munmap'd, or the list's block), else malloc'd. */
static int decode(uint8_t *data, size_t got, bool mapped, const char *path, bool image, const struct rs_conf *c,
		  struct rs_list **out, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
		  struct rs_prefix **susp, size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err,
		  size_t errlen)
{
	struct rs_list *l = NULL;
	bool adopted = false;
	struct rs_prefix *sp = NULL;
	uint32_t *idx = NULL, norders = 0, nentries, nprefixes = 0, nsp = 0, nsp_ok = 0, version = 0;
	struct rd r;
	struct rs_protsig ps = { .version = 0 };
	size_t nskip = 0;
	int rc, lenw;

	*out = NULL;
	last_id[0] = dataset[0] = '\0';
	if (susp)
		*susp = NULL, *nsusp = 0;
	if (prot)
		rs_protsig_clear(prot);
	if (skipped)
		*skipped = 0;
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); rc = RS_EINVAL; goto out; } while (0)
	if (got < HDR_LEN)
		BAD("%s: truncated (%zu octets, no complete header)", path, got);
	if (memcmp(data, magic, 8) != 0)
		BAD("%s: not a redsink snapshot (bad magic)", path);
	r = (struct rd){ data + 8, data + HDR_LEN, false };
	{
		uint32_t hlen;
		uint64_t plen, sum;
		version = (uint32_t)get_le(&r, 4);
		hlen = (uint32_t)get_le(&r, 4);
		plen = get_le(&r, 8);
		sum = get_le(&r, 8);
		if (version < 1 || version > RS_SNAPSHOT_VERSION)
			BAD("%s: version %u, this module reads versions 1 to %d", path, version, RS_SNAPSHOT_VERSION);
		if (hlen != HDR_LEN)
			BAD("%s: bad header length %u", path, hlen);
		if (plen != got - HDR_LEN)
			BAD("%s: truncated or padded (payload %llu octets, header says %llu)", path,
			    (unsigned long long)(got - HDR_LEN), (unsigned long long)plen);
		if (rs_snapshot_checksum(version, data + HDR_LEN, (size_t)plen) != sum)
			BAD("%s: checksum mismatch (corrupted)", path);
	}
	lenw = version == 1 ? 2 : 4;
	r = (struct rd){ data + HDR_LEN, data + got, false };
	if (!get_small(&r, lenw, last_id, RS_STREAM_ID_MAX)) {
		if (r.bad)
			BAD("%s: malformed stream id", path);
		last_id[0] = '\0'; /* unusable position: the sync thread loads everything */
	}
	if (version >= 2 && !get_small(&r, lenw, dataset, RS_DATASET_ID_LEN + 1)) {
		if (r.bad)
			BAD("%s: malformed dataset identity", path);
		dataset[0] = '\0';
	}
	norders = (uint32_t)get_le(&r, 4);
	if (r.bad || norders > (size_t)(r.end - r.p) / 4)
		BAD("%s: malformed order count", path);
	idx = malloc((norders + 1) * sizeof(*idx));
	l = rs_list_new(0);
	if (!idx || !l)
		BAD("out of memory");
	for (uint32_t i = 0; i < norders; i++) {
		rc = read_order(&r, lenw, version, c, l, path, i, &idx[i], &nskip);
		if (rc == RS_ENOMEM)
			BAD("out of memory");
		if (rc)
			BAD("%s: malformed order record %u", path, i);
	}
	if (version >= 7) {
		rc = read_entries_v7(&r, data, got, mapped, norders, idx, l, path, &nskip, &adopted, err, errlen);
		if (rc)
			goto out;
	} else {
		nentries = (uint32_t)get_le(&r, 4);
		if (r.bad || nentries > (size_t)(r.end - r.p) / 5 || rs_list_reserve(l, nentries))
			BAD("%s: malformed entry count", path);
		for (uint32_t i = 0; i < nentries; i++) {
			uint8_t wlen = (uint8_t)get_le(&r, 1), flags;
			const uint8_t *wire = r.p;
			uint16_t nord;

			if (r.bad || r.end - r.p < wlen)
				BAD("%s: malformed entry %u", path, i);
			r.p += wlen;
			flags = (uint8_t)get_le(&r, 1);
			nord = (uint16_t)get_le(&r, 2);
			if (r.bad || (size_t)(r.end - r.p) / 4 < nord)
				BAD("%s: malformed entries", path);
			if (add_entry(l, wire, wlen, flags, nord, r.p, norders, idx, path, i, &nskip))
				BAD("out of memory");
			r.p += 4 * (size_t)nord;
		}
	}
	if (version >= 3) {
		nprefixes = (uint32_t)get_le(&r, 4);
		if (r.bad || nprefixes > (size_t)(r.end - r.p) / 21)
			BAD("%s: malformed prefix count", path);
	}
	for (uint32_t i = 0; i < nprefixes && !r.bad; i++) {
		struct rs_prefix p;
		uint16_t nord;
		uint8_t flags;
		bool ok;

		if (!get_prefix_head(&r, &p))
			BAD("%s: malformed prefix %u", path, i);
		flags = (uint8_t)get_le(&r, 1);
		nord = (uint16_t)get_le(&r, 2);
		ok = rs_prefix_valid(&p);
		if (!ok) {
			nskip++;
			rs_log(RS_LOG_WARN, "%s: skipping prefix %u: not a valid prefix", path, i);
		} else if ((flags & RS_ENT_PROTECTED) && rs_list_prefix_protect(l, &p, true) == RS_ENOMEM) {
			BAD("out of memory");
		}
		for (uint16_t k = 0; k < nord && !r.bad; k++) {
			uint32_t pos = (uint32_t)get_le(&r, 4);
			if (!ok || r.bad)
				continue;
			if (pos >= norders) {
				nskip++;
				rs_log(RS_LOG_WARN, "%s: prefix %u: order position %u out of range: skipped", path, i, pos);
				continue;
			}
			if (idx[pos] == UINT32_MAX)
				continue; /* its order was skipped */
			if (rs_list_prefix_add(l, &p, idx[pos]) == RS_ENOMEM)
				BAD("out of memory");
		}
	}
	if (r.bad)
		BAD("%s: malformed prefixes", path);
	if (version >= 5) {
		nsp = (uint32_t)get_le(&r, 4);
		if (r.bad || nsp > (size_t)(r.end - r.p) / 18)
			BAD("%s: malformed suspended prefix count", path);
		if (nsp && !(sp = malloc(nsp * sizeof(*sp))))
			BAD("out of memory");
	}
	for (uint32_t i = 0; i < nsp; i++) {
		struct rs_prefix p;

		if (!get_prefix_head(&r, &p))
			BAD("%s: malformed suspended prefix %u", path, i);
		if (!rs_prefix_valid(&p)) {
			nskip++;
			rs_log(RS_LOG_WARN, "%s: skipping suspended prefix %u: not a valid prefix", path, i);
			continue;
		}
		sp[nsp_ok++] = p;
	}
	if (version >= 6) {
		rc = read_protected(&r, c, path, &ps, &nskip);
		if (rc == RS_ENOMEM)
			BAD("out of memory");
		if (rc)
			BAD("%s: malformed protected manifest record", path);
	}
	if (r.p != r.end)
		BAD("%s: %zu octets of trailing garbage", path, (size_t)(r.end - r.p));
	if (rs_list_commit(l) == RS_ENOMEM || (!image && rs_snapshot_settle(l, path, &nskip) == RS_ENOMEM))
		BAD("out of memory");
	*out = l;
	l = NULL;
	if (susp && nsp_ok) {
		*susp = sp;
		*nsusp = nsp_ok;
		sp = NULL;
	}
	if (skipped)
		*skipped = nskip;
	if (prot) {
		*prot = ps;
		memset(&ps, 0, sizeof(ps));
	}
	rc = 0;
#undef BAD
out:
	rs_protsig_clear(&ps);
	rs_list_free(l); /* with data when adopted */
	free(idx);
	free(sp);
	if (!adopted && mapped)
		munmap(data, got);
	else if (!adopted)
		free(data);
	return rc;
}
