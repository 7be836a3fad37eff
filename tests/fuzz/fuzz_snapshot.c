/*
 * fuzz_snapshot.c — the snapshot reader (module/snapshot.c, rs_snapshot_read),
 * and the write/read round trip of whatever it accepted.
 *
 * Input: one mode octet, then the rest.
 *   mode bit 0 set    the rest is the whole file (header included): this
 *                     fuzzes the header checks (magic, version, lengths,
 *                     checksum);
 *   mode bit 0 clear  the rest is the payload: the harness writes a valid
 *                     header for it (bit 1: version 1, bit 2: version 2,
 *                     bit 3: version 5, bit 4: version 6, else the current
 *                     version) with the right length and checksum, so
 *                     the fuzzer reaches the record parser instead of
 *                     failing the checksum.
 * The file is read from a memory file (fz_memfile).
 *
 * Invariants checked:
 *  - a read either fails with a message and no list, or returns a list with
 *    last_id and dataset NUL-terminated; every order in it holds
 *    fz_check_order; every listed name is in canonical wire form (else it
 *    could never match a query);
 *  - round trip: the list written with rs_snapshot_write (to a private
 *    directory under /dev/shm or $TMPDIR) reads back with the same stream id,
 *    dataset, numbers of domains, protected names, prefixes, protected
 *    prefixes and orders, no record skipped, and the same verdict for every
 *    listed name and for the first and last address of every prefix;
 *  - every prefix read is valid (rs_prefix_valid) and the table is committed;
 *    so is every suspended prefix (version 5), and they read back the same;
 *  - version 7 serves the file's entries in place: whatever the arena and
 *    table hold, a read never faults and every lookup above ends;
 *  - the protected set's manifest (version 6), when kept, is a parsed
 *    protected manifest (text NUL-terminated, its hash and counts) and reads
 *    back the same.
 * tests/fuzz/seed_snapshot.c writes the valid seeds with rs_snapshot_write.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <sys/stat.h>

#include "fuzz_order_check.h"
#include "list.h"
#include "snapshot.h"

#define HDR_LEN 32

static struct rs_conf conf;
static char dir[256], tmpfile_path[300];

static void cleanup(void)
{
	unlink(tmpfile_path);
	rmdir(dir);
}

static void init_once(void)
{
	const char *base;

	if (dir[0])
		return;
	conf.ede_format = RS_EDE_JSON;
	conf.language = "en";
	conf.jurisdiction = "IT";
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof(dir), "%s/redsink-fuzz-snapshot-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/snap", dir);
	atexit(cleanup);
}

struct cmp {
	const struct rs_list *a, *b;
};

/* The same verdict for one listed name in both lists. */
static int same_verdict(const struct rs_entry *e, void *arg)
{
	const struct cmp *c = arg;
	struct rs_qname q;
	struct rs_match ma, mb;
	enum rs_verdict va, vb;

	if (rs_qname_prepare(rs_entry_wire(e), e->wlen, &q) < 0)
		return 0;
	va = rs_list_match(c->a, &q, 1700000000, &ma);
	vb = rs_list_match(c->b, &q, 1700000000, &mb);
	FZ_CHECK(va == vb);
	if (va == RS_BLOCKED)
		FZ_CHECK(strcmp(ma.order->id, mb.order->id) == 0);
	return 0;
}

/* A listed name is in the list's canonical wire form (lowercase, labels of
 * [a-z0-9-_]): anything else can never match a query (queries are lowercased
 * before the lookup), so a name read that way is silently not blocked. */
static int canonical_entry(const struct rs_entry *e, void *arg)
{
	char text[4 * RS_WIRE_MAX + 2], canon[RS_NAME_MAX + 1];
	uint8_t wire[RS_WIRE_MAX];
	size_t tl = rs_wire_to_text(rs_entry_wire(e), e->wlen, text, sizeof(text));
	int n = rs_name_canon(text, tl, canon);

	if (n < 0 || rs_name_to_wire(canon, (size_t)n, wire) != e->wlen ||
	    memcmp(wire, rs_entry_wire(e), e->wlen) != 0) {
		fprintf(stderr, "snapshot: listed name '%s' is not canonical\n", text);
		FZ_CHECK(!"every listed name is canonical");
	}
	return 0;
}

/* The same verdict in both lists for the first and last address of a prefix. */
static int same_addr_verdict(const struct rs_pentry *pe, void *arg)
{
	const struct cmp *c = arg;
	int n = pe->prefix.family == 4 ? 4 : 16;

	FZ_CHECK(rs_prefix_valid(&pe->prefix));
	for (int last = 0; last < 2; last++) {
		uint8_t a[16];
		struct rs_match ma, mb;
		enum rs_verdict va, vb;
		memcpy(a, pe->prefix.addr, 16);
		if (last)
			for (int b = pe->prefix.len; b < n * 8; b++)
				a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
		va = rs_list_match_addr(c->a, pe->prefix.family, a, 1700000000, &ma);
		vb = rs_list_match_addr(c->b, pe->prefix.family, a, 1700000000, &mb);
		FZ_CHECK(va == vb);
		if (va == RS_BLOCKED)
			FZ_CHECK(strcmp(ma.order->id, mb.order->id) == 0 && rs_prefix_equal(&ma.prefix->prefix, &mb.prefix->prefix));
	}
	return 0;
}

/* Version 7 served in place, before rs_snapshot_settle: look up the name
 * each slot of the image's table seems to hold (whatever octets lie there,
 * bounded by the arena), and a name that is not there. Every lookup ends. */
static void probe_image(const struct rs_list *l)
{
	const struct rs_list_image *im = rs_list_image_get(l);
	struct rs_qname q;
	struct rs_match m;

	for (size_t i = 0; i < im->cap; i++) {
		const struct rs_entry *e = rs_list_image_entry(im, im->slot[i]);
		if (e && rs_qname_prepare(rs_entry_wire(e), e->wlen, &q) > 0)
			(void)rs_list_match(l, &q, 1700000000, &m);
	}
	if (rs_qname_prepare((const uint8_t *)"\7example\0", 9, &q) > 0)
		(void)rs_list_match(l, &q, 1700000000, &m);
}

static void check_list(const struct rs_list *l)
{
	uint32_t n = rs_list_order_count(l);

	rs_list_foreach(l, canonical_entry, NULL);

	for (uint32_t i = 0; i < n; i++) {
		const struct rs_order *o = rs_list_order_get(l, i);
		if (o)
			fz_check_order(&conf, o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char last_id[RS_STREAM_ID_MAX], dataset[RS_DATASET_ID_LEN + 1], err[512];
	char last_id2[RS_STREAM_ID_MAX], dataset2[RS_DATASET_ID_LEN + 1];
	struct rs_list *l = NULL, *l2 = NULL;
	struct rs_prefix *susp = NULL, *susp2 = NULL;
	size_t nsusp = 0, nsusp2 = 0;
	struct rs_list_stats s1, s2;
	struct rs_protsig ps = { .version = 0 }, ps2 = { .version = 0 };
	const char *path;
	uint8_t *file = NULL;
	size_t skipped = 0, skipped2 = 0;
	int rc;

	if (size < 1)
		return 0;
	fz_quiet();
	init_once();
	if (data[0] & 1) {
		path = fz_memfile(data + 1, size - 1);
	} else {
		size_t plen = size - 1;
		uint32_t version = (data[0] & 2)    ? 1
				   : (data[0] & 4)  ? 2
				   : (data[0] & 8)  ? 5
				   : (data[0] & 16) ? 6
						    : RS_SNAPSHOT_VERSION;
		uint64_t sum = rs_snapshot_checksum(version, data + 1, plen);
		file = malloc(HDR_LEN + plen);
		if (!file)
			return 0;
		memcpy(file, "RSSNAP\r\n", 8);
		for (int i = 0; i < 4; i++) {
			file[8 + i] = (uint8_t)(version >> (8 * i));
			file[12 + i] = (uint8_t)(HDR_LEN >> (8 * i));
		}
		for (int i = 0; i < 8; i++) {
			file[16 + i] = (uint8_t)((uint64_t)plen >> (8 * i));
			file[24 + i] = (uint8_t)(sum >> (8 * i));
		}
		memcpy(file + HDR_LEN, data + 1, plen);
		path = fz_memfile(file, HDR_LEN + plen);
		free(file);
	}
	if (!path)
		return 0;
	err[0] = '\0';
	rc = rs_snapshot_read_image(path, true, &conf, &l, last_id, dataset, &susp, &nsusp, &ps, &skipped, err,
				    sizeof(err));
	if (rc == 0 && rs_list_image_get(l)) {
		probe_image(l);
		FZ_CHECK(rs_snapshot_settle(l, "fuzz", &skipped) == 0 && !rs_list_image_get(l));
	}
	if (rc != 0) {
		FZ_CHECK(l == NULL && susp == NULL && nsusp == 0 && ps.text == NULL && ps.version == 0);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0] != '\0');
		return 0;
	}
	FZ_CHECK(l != NULL);
	FZ_CHECK(memchr(last_id, '\0', sizeof(last_id)) && memchr(dataset, '\0', sizeof(dataset)));
	check_list(l);
	FZ_CHECK((susp == NULL) == (nsusp == 0));
	for (size_t i = 0; i < nsusp; i++)
		FZ_CHECK(rs_prefix_valid(&susp[i]));
	FZ_CHECK((ps.text == NULL) == (ps.version == 0));
	if (ps.text) {
		char h[65];
		FZ_CHECK(strlen(ps.text) == ps.len && strlen(ps.sig) == 88 && strlen(ps.key) == 16);
		rs_sha256_hex(ps.text, ps.len, h);
		FZ_CHECK(strcmp(h, ps.hash) == 0);
	}

	/* Round trip. */
	rc = rs_snapshot_write(tmpfile_path, l, last_id, dataset, susp, nsusp, &ps, err, sizeof(err));
	FZ_CHECK(rc == 0);
	rc = rs_snapshot_read(tmpfile_path, &conf, &l2, last_id2, dataset2, &susp2, &nsusp2, &ps2, &skipped2, err,
			      sizeof(err));
	if (rc != 0)
		fprintf(stderr, "round trip: %s\n", err);
	FZ_CHECK(rc == 0);
	FZ_CHECK(skipped2 == 0);
	FZ_CHECK(strcmp(last_id, last_id2) == 0 && strcmp(dataset, dataset2) == 0);
	FZ_CHECK(nsusp == nsusp2 && (!nsusp || memcmp(susp, susp2, nsusp * sizeof(*susp)) == 0));
	FZ_CHECK(ps.version == ps2.version && strcmp(ps.hash, ps2.hash) == 0 && ps.names == ps2.names &&
		 ps.prefixes == ps2.prefixes && strcmp(ps.sig, ps2.sig) == 0 && strcmp(ps.key, ps2.key) == 0);
	rs_list_stats(l, &s1);
	rs_list_stats(l2, &s2);
	FZ_CHECK(s1.domains == s2.domains && s1.protected_n == s2.protected_n && s1.orders == s2.orders);
	FZ_CHECK(s1.prefixes == s2.prefixes && s1.protected_prefixes == s2.protected_prefixes);
	FZ_CHECK(rs_list_has_prefixes(l) == (s1.prefixes > 0)); /* prefixes with an order */
	{
		struct cmp c = { l, l2 }, d = { l2, l };
		rs_list_foreach(l, same_verdict, &c);
		rs_list_foreach(l2, same_verdict, &d);
		rs_list_prefix_foreach(l, same_addr_verdict, &c);
		rs_list_prefix_foreach(l2, same_addr_verdict, &d);
	}
	unlink(tmpfile_path);
	rs_list_free(l2);
	rs_list_free(l);
	free(susp);
	free(susp2);
	rs_protsig_clear(&ps);
	rs_protsig_clear(&ps2);
	return 0;
}
