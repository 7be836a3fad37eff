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

	if (n > 65535)
		n = 65535;
	put_le(b, n, 2);
	rs_buf_add(b, s, n);
}

struct wctx {
	struct rs_buf *b;
	const uint32_t *pos; /* list index -> file position, UINT32_MAX: absent */
	uint32_t nidx;
	uint32_t count;
};

static int count_entry(const struct rs_entry *e, void *arg)
{
	((struct wctx *)arg)->count++;
	return 0;
}

static int put_entry(const struct rs_entry *e, void *arg)
{
	struct wctx *w = arg;
	uint16_t n = 0;

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

int rs_snapshot_write(const char *path, const struct rs_list *l, const char *last_id, char *err, size_t errlen)
{
	struct rs_buf b = { 0 };
	uint32_t nidx = rs_list_order_count(l), norders = 0;
	uint32_t *pos = malloc((nidx + 1) * sizeof(*pos));
	struct wctx w = { &b, pos, nidx, 0 };
	char tmp[4096];
	uint8_t hdr[HDR_LEN];
	int fd = -1, rc = RS_EIO;

	if (!pos) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	rs_buf_add(&b, "", 0);
	put_str(&b, last_id);
	for (uint32_t i = 0; i < nidx; i++)
		pos[i] = rs_list_order_get(l, i) ? norders++ : UINT32_MAX;
	put_le(&b, norders, 4);
	for (uint32_t i = 0; i < nidx; i++) {
		const struct rs_order *o = rs_list_order_get(l, i);
		if (!o)
			continue;
		put_str(&b, o->id);
		put_le(&b, 9, 2);
		put_str(&b, "authority"), put_str(&b, o->authority);
		put_str(&b, "reference"), put_str(&b, o->reference);
		put_str(&b, "scope"), put_str(&b, o->scope);
		put_str(&b, "action"), put_str(&b, rs_action_name(o->action));
		put_str(&b, "expires"), put_str(&b, o->expires_text);
		put_str(&b, "issued"), put_str(&b, o->issued);
		put_str(&b, "reason"), put_str(&b, o->reason);
		put_str(&b, "url"), put_str(&b, o->url);
		put_str(&b, "lang"), put_str(&b, o->lang);
	}
	rs_list_foreach(l, count_entry, &w);
	put_le(&b, w.count, 4);
	rs_list_foreach(l, put_entry, &w);
	free(pos);
	if (b.oom) {
		free(b.s);
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	memcpy(hdr, magic, 8);
	for (int i = 0; i < 4; i++) {
		hdr[8 + i] = (uint8_t)(RS_SNAPSHOT_VERSION >> (8 * i));
		hdr[12 + i] = (uint8_t)(HDR_LEN >> (8 * i));
	}
	for (int i = 0; i < 8; i++) {
		hdr[16 + i] = (uint8_t)((uint64_t)b.len >> (8 * i));
		hdr[24 + i] = (uint8_t)(fnv64((const uint8_t *)b.s, b.len) >> (8 * i));
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	{
		const char *parts[2] = { (const char *)hdr, b.s };
		size_t lens[2] = { HDR_LEN, b.len };
		for (int p = 0; p < 2; p++) {
			size_t off = 0;
			while (off < lens[p]) {
				ssize_t n = write(fd, parts[p] + off, lens[p] - off);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					snprintf(err, errlen, "writing %s: %s", tmp, n < 0 ? strerror(errno) : "short write");
					goto out_unlink;
				}
				off += (size_t)n;
			}
		}
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
	free(b.s);
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

/* A string copied into buf (NUL-terminated; at most bufsz - 1 octets, else bad). */
static const char *get_str(struct rd *r, char *buf, size_t bufsz)
{
	size_t n = (size_t)get_le(r, 2);

	if (r->bad || (size_t)(r->end - r->p) < n || n >= bufsz || memchr(r->p, 0, n)) {
		r->bad = true;
		buf[0] = '\0';
		return buf;
	}
	memcpy(buf, r->p, n);
	buf[n] = '\0';
	r->p += n;
	return buf;
}

int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out,
		     char last_id[RS_STREAM_ID_MAX], char *err, size_t errlen)
{
	struct rs_list *l = NULL;
	uint8_t *data = NULL;
	uint32_t *idx = NULL, norders = 0, nentries;
	struct stat st;
	struct rd r;
	size_t got = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? RS_ENOENT : RS_EIO;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > MAX_FILE) {
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
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); rc = RS_EINVAL; goto out; } while (0)
	if (got < HDR_LEN)
		BAD("%s: truncated (%zu octets, no complete header)", path, got);
	if (memcmp(data, magic, 8) != 0)
		BAD("%s: not a redsink snapshot (bad magic)", path);
	r = (struct rd){ data + 8, data + HDR_LEN, false };
	{
		uint32_t version = (uint32_t)get_le(&r, 4), hlen = (uint32_t)get_le(&r, 4);
		uint64_t plen = get_le(&r, 8), sum = get_le(&r, 8);
		if (version != RS_SNAPSHOT_VERSION)
			BAD("%s: version %u, this module reads version %d", path, version, RS_SNAPSHOT_VERSION);
		if (hlen != HDR_LEN)
			BAD("%s: bad header length %u", path, hlen);
		if (plen != got - HDR_LEN)
			BAD("%s: truncated or padded (payload %llu octets, header says %llu)", path,
			    (unsigned long long)(got - HDR_LEN), (unsigned long long)plen);
		if (fnv64(data + HDR_LEN, (size_t)plen) != sum)
			BAD("%s: checksum mismatch (corrupted)", path);
	}
	r = (struct rd){ data + HDR_LEN, data + got, false };
	get_str(&r, last_id, RS_STREAM_ID_MAX);
	norders = (uint32_t)get_le(&r, 4);
	if (r.bad || norders > (size_t)(r.end - r.p) / 4)
		BAD("%s: malformed order count", path);
	idx = malloc((norders + 1) * sizeof(*idx));
	l = rs_list_new(0);
	if (!idx || !l)
		BAD("out of memory");
	for (uint32_t i = 0; i < norders; i++) {
		char id[RS_ORDER_ID_MAX + 1], why[256];
		char vals[32][512];
		const char *kv[32];
		struct rs_order *o;
		uint16_t nf;

		get_str(&r, id, sizeof(id));
		nf = (uint16_t)get_le(&r, 2);
		if (r.bad || nf > 16)
			BAD("%s: malformed order %u", path, i);
		for (uint16_t f = 0; f < nf; f++) {
			kv[2 * f] = get_str(&r, vals[2 * f], sizeof(vals[0]));
			kv[2 * f + 1] = get_str(&r, vals[2 * f + 1], sizeof(vals[0]));
		}
		if (r.bad)
			BAD("%s: malformed order %u", path, i);
		if (rs_order_parse(c, id, kv, nf, &o, why, sizeof(why)) != 0)
			BAD("%s: %s", path, why);
		if (rs_list_order_set(l, o, &idx[i]) != 0)
			BAD("%s: out of memory", path);
	}
	nentries = (uint32_t)get_le(&r, 4);
	if (r.bad || nentries > (size_t)(r.end - r.p) / 5 || rs_list_reserve(l, nentries))
		BAD("%s: malformed entry count", path);
	for (uint32_t i = 0; i < nentries && !r.bad; i++) {
		uint8_t wlen = (uint8_t)get_le(&r, 1), flags;
		const uint8_t *wire = r.p;
		struct rs_qname q;
		uint16_t nord;

		if (r.bad || wlen < 2 || r.end - r.p < wlen)
			BAD("%s: malformed entry %u", path, i);
		r.p += wlen;
		if (rs_qname_prepare(wire, wlen, &q) <= 0 || q.len != wlen)
			BAD("%s: entry %u: bad name", path, i);
		flags = (uint8_t)get_le(&r, 1);
		nord = (uint16_t)get_le(&r, 2);
		if ((flags & RS_ENT_PROTECTED) && rs_list_protect(l, wire, wlen, true) == RS_ENOMEM)
			BAD("out of memory");
		for (uint16_t k = 0; k < nord && !r.bad; k++) {
			uint32_t p = (uint32_t)get_le(&r, 4);
			if (p >= norders)
				BAD("%s: entry %u: order position %u out of range", path, i, p);
			if (rs_list_add(l, wire, wlen, idx[p]) == RS_ENOMEM)
				BAD("out of memory");
		}
	}
	if (r.bad)
		BAD("%s: malformed entries", path);
	if (r.p != r.end)
		BAD("%s: %zu octets of trailing garbage", path, (size_t)(r.end - r.p));
	*out = l;
	l = NULL;
	rc = 0;
#undef BAD
out:
	rs_list_free(l);
	free(idx);
	free(data);
	return rc;
}
