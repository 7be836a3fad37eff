/* snapshot.c — writing and reading the snapshot file (format in snapshot.h). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_err.h"
#include "sign.h"
#include "text.h"

static const char magic[8] = { 'R', 'S', 'S', 'N', 'A', 'P', '\r', '\n' };
#define HDR_LEN 32
#define MAX_FILE (1ULL << 34) /* 16 GiB: anything larger is not ours */

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
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

static int put_entry(const struct rs_entry *e, void *arg)
{
	struct wctx *w = arg;
	uint16_t n = 0;

	w->count++;

	for (uint16_t k = 0; k < e->nord; k++)
		if (e->ord[k] < w->nidx && w->pos[e->ord[k]] != UINT32_MAX)
			n++;
	put_le(w->b, e->wlen, 1);
	rs_buf_add(w->b, (const char *)rs_entry_wire(e), e->wlen);
	put_le(w->b, e->flags, 1);
	put_le(w->b, n, 2);
	for (uint16_t k = 0; k < e->nord; k++)
		if (e->ord[k] < w->nidx && w->pos[e->ord[k]] != UINT32_MAX)
			put_le(w->b, w->pos[e->ord[k]], 4);
	return 0;
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
	uint32_t nidx = rs_list_order_count(l), norders = 0;
	uint32_t *pos = malloc((nidx + 1) * sizeof(*pos));
	struct wctx w = { &b, pos, nidx, 0 };
	uint8_t *hdr;
	uint64_t plen;
	size_t at;

	*out = NULL;
	*outlen = 0;
	if (!pos)
		return RS_ENOMEM;
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
	at = b.len;
	put_le(&b, 0, 4);
	rs_list_foreach(l, put_entry, &w);
	patch_le32(&b, at, w.count);
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
	if (b.oom) {
		free(b.s);
		return RS_ENOMEM;
	}
	hdr = (uint8_t *)b.s;
	plen = b.len - HDR_LEN;
	memcpy(hdr, magic, 8);
	for (int i = 0; i < 4; i++) {
		hdr[8 + i] = (uint8_t)(RS_SNAPSHOT_VERSION >> (8 * i));
		hdr[12 + i] = (uint8_t)(HDR_LEN >> (8 * i));
	}
	for (int i = 0; i < 8; i++) {
		hdr[16 + i] = (uint8_t)(plen >> (8 * i));
		hdr[24 + i] = (uint8_t)(fnv64(hdr + HDR_LEN, (size_t)plen) >> (8 * i));
	}
	*out = hdr;
	*outlen = b.len;
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
		ssize_t n = write(fd, img + off, len - off);
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

/* Is wire exactly the wire form of a canonical domain (doc/redis-schema.md:
 * lowercase letters, digits, '-', '_')? The list holds nothing else. */
static bool wire_canonical(const uint8_t *wire, size_t wlen)
{
	char text[RS_NAME_MAX * 4 + 8];
	uint8_t again[RS_WIRE_MAX];
	size_t n = rs_wire_to_text(wire, wlen, text, sizeof(text));
	int w = rs_domain_wire(text, n, again);

	return w > 0 && (size_t)w == wlen && memcmp(again, wire, wlen) == 0;
}

int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out, char last_id[RS_STREAM_ID_MAX],
		     char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp, size_t *nsusp,
		     struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t got = 0;
	int fd, rc;

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
	rc = rs_snapshot_decode(data, got, path, c, out, last_id, dataset, susp, nsusp, prot, skipped, err, errlen);
	free(data);
	return rc;
}

int rs_snapshot_decode(const uint8_t *data, size_t got, const char *path, const struct rs_conf *c, struct rs_list **out,
		       char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp,
		       size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen)
{
	struct rs_list *l = NULL;
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
		if (fnv64(data + HDR_LEN, (size_t)plen) != sum)
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
	nentries = (uint32_t)get_le(&r, 4);
	if (r.bad || nentries > (size_t)(r.end - r.p) / 5 || rs_list_reserve(l, nentries))
		BAD("%s: malformed entry count", path);
	for (uint32_t i = 0; i < nentries && !r.bad; i++) {
		uint8_t wlen = (uint8_t)get_le(&r, 1), flags;
		const uint8_t *wire = r.p;
		struct rs_qname q;
		uint16_t nord;
		bool name_ok;

		if (r.bad || r.end - r.p < wlen)
			BAD("%s: malformed entry %u", path, i);
		r.p += wlen;
		name_ok = wlen >= 2 && rs_qname_prepare(wire, wlen, &q) > 0 && q.len == wlen && wire_canonical(wire, wlen);
		flags = (uint8_t)get_le(&r, 1);
		nord = (uint16_t)get_le(&r, 2);
		if (!name_ok) {
			nskip++;
			rs_log(RS_LOG_WARN, "%s: skipping entry %u: not a wire-format name", path, i);
		} else if ((flags & RS_ENT_PROTECTED) && rs_list_protect(l, wire, wlen, true) == RS_ENOMEM) {
			BAD("out of memory");
		}
		for (uint16_t k = 0; k < nord && !r.bad; k++) {
			uint32_t p = (uint32_t)get_le(&r, 4);
			if (!name_ok || r.bad)
				continue;
			if (p >= norders) {
				nskip++;
				rs_log(RS_LOG_WARN, "%s: entry %u: order position %u out of range: skipped", path, i, p);
				continue;
			}
			if (idx[p] == UINT32_MAX)
				continue; /* its order was skipped */
			if (rs_list_add(l, wire, wlen, idx[p]) == RS_ENOMEM)
				BAD("out of memory");
		}
	}
	if (r.bad)
		BAD("%s: malformed entries", path);
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
	if (rs_list_commit(l) == RS_ENOMEM)
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
	rs_list_free(l);
	free(idx);
	free(sp);
	return rc;
}
