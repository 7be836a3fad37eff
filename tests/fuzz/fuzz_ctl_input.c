/*
 * fuzz_ctl_input.c — the input formats of redsink-ctl (tools/ctl/ctl_input.c:
 * plain lists, CSV, Piracy-Shield JSON, RPZ; UTF-8/UTF-16 BOMs, line ends)
 * and the name canonicalisation under them (lib/ctl_name.c, libidn2).
 *
 * Input: two option octets, then the file's contents.
 *   bits 0-2  format: 0 auto (detected from the contents), 1 plain, 2 csv,
 *             3 json, 4 rpz, 5 auto with a ".csv" file name, 6 auto with
 *             ".json", 7 auto with ".rpz"
 *   bit 3     CTL_ALLOW_CONFUSABLE      bit 4  CTL_NO_REDUCE
 *   bit 5     RPZ origin "rpz.test"     bit 6  CSV column "site"
 *   bit 7     also run ctl_name_canon on the whole contents as one token
 * Second octet (address prefixes, issue 13):
 *   bits 0-1  b.want: 0 names, 1 prefixes, 2 names and prefixes, 3 the same
 *   bit 2     format piracy-shield instead of the first octet's
 *   bit 3     also run ctl_rpz_ip_to_text on the whole contents as an owner
 * The contents are passed NUL-terminated, as ctl_read_file returns them.
 *
 * Invariants checked:
 *  - ctl_parse returns 0, RS_EINVAL (then no name is kept) or RS_ENOMEM;
 *  - every kept name is canonical (name.h), kept once, found by
 *    ctl_batch_find at its index, and canonicalises to itself again with
 *    ctl_name_canon without a warning;
 *  - diagnostics: at most CTL_DIAG_MAX kept, counted in nerrors/nwarnings,
 *    each a NUL-terminated valid UTF-8 text (input is shown escaped);
 *  - every kept prefix is canonical (rs_prefix_parse of it formats back to
 *    it), kept once, found by ctl_batch_find_prefix at its index, and its
 *    rpz-ip owner (ctl_rpz_ip_owner) reads back to the same prefix;
 *  - RS_EINVAL keeps no prefix either;
 *  - ctl_detect never returns CTL_FMT_AUTO.
 */
#include "fuzz_common.h"

#include "ctl_input.h"
#include "ctl_name.h"
#include "name.h"
#include "prefix.h"

static void progress(void *arg, size_t done, size_t total)
{
	FZ_CHECK(done <= total);
}

static void check_name_again(const char *name, unsigned flags)
{
	struct ctl_name_res r;
	char canon[RS_NAME_MAX + 1];
	size_t n = strlen(name);

	FZ_CHECK(rs_name_canon(name, n, canon) == (int)n && strcmp(canon, name) == 0);
	FZ_CHECK(ctl_name_canon(name, n, flags, &r) == 0);
	FZ_CHECK(strcmp(r.name, name) == 0);
}

static void check_prefix_again(const char *text)
{
	struct rs_prefix p, q;
	char canon[RS_PREFIX_TEXT_MAX], owner[128], back[128];

	FZ_CHECK(rs_prefix_parse(text, &p, NULL, 0) == 0);
	FZ_CHECK(rs_prefix_format(&p, canon, sizeof(canon)) > 0 && strcmp(canon, text) == 0);
	FZ_CHECK(ctl_rpz_ip_owner(&p, owner, sizeof(owner)) > 0);
	FZ_CHECK(ctl_rpz_ip_to_text(owner, strlen(owner), back, sizeof(back)) == 0);
	FZ_CHECK(rs_prefix_parse(back, &q, NULL, 0) == 0 && rs_prefix_equal(&p, &q));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const files[] = { "list", "list.txt", "list.csv", "ticket.json", "zone.rpz",
					     "x.csv", "x.json", "x.rpz" };
	static const enum ctl_format fmts[] = { CTL_FMT_AUTO, CTL_FMT_PLAIN, CTL_FMT_CSV, CTL_FMT_JSON,
						CTL_FMT_RPZ, CTL_FMT_AUTO, CTL_FMT_AUTO, CTL_FMT_AUTO };
	struct ctl_batch b;
	const char *file;
	size_t len, nerr = 0, nwarn = 0;
	uint8_t opt, opt2;
	char *buf;
	int rc;

	if (size < 2)
		return 0;
	fz_quiet();
	opt = data[0];
	opt2 = data[1];
	len = size - 2;
	buf = malloc(len + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 2, len);
	buf[len] = '\0';
	file = files[opt & 7];

	FZ_CHECK(ctl_detect(file, buf, len) != CTL_FMT_AUTO);
	ctl_batch_init(&b);
	b.name_flags = ((opt & 8) ? CTL_ALLOW_CONFUSABLE : 0) | ((opt & 16) ? CTL_NO_REDUCE : 0);
	b.origin = (opt & 32) ? "rpz.test" : NULL;
	b.column = (opt & 64) ? "site" : NULL;
	b.progress = progress;
	b.want = (opt2 & 3) == 0 ? 0 : (opt2 & 3) == 1 ? CTL_WANT_PREFIXES : CTL_WANT_NAMES | CTL_WANT_PREFIXES;
	rc = ctl_parse(&b, file, buf, len, (opt2 & 4) ? CTL_FMT_PSHIELD : fmts[opt & 7]);
	FZ_CHECK(rc == 0 || rc == RS_EINVAL || rc == RS_ENOMEM);
	if (rc == RS_EINVAL)
		FZ_CHECK(b.n == 0 && b.np == 0);
	if (!(b.want & CTL_WANT_PREFIXES))
		FZ_CHECK(b.np == 0);
	if (rc == 0 && !b.oom)
		for (size_t i = 0; i < b.np; i++) {
			FZ_CHECK(ctl_batch_find_prefix(&b, b.pitems[i].name) == (long)i);
			check_prefix_again(b.pitems[i].name);
		}
	FZ_CHECK(b.ntickets <= CTL_TICKETS_MAX);
	for (size_t i = 0; i < b.ntickets; i++)
		FZ_CHECK(b.tickets[i] && strlen(b.tickets[i]) <= 128);
	if (rc == 0 && !b.oom) {
		for (size_t i = 0; i < b.n; i++) {
			FZ_CHECK(b.items[i].name != NULL);
			FZ_CHECK(ctl_batch_find(&b, b.items[i].name) == (long)i);
			check_name_again(b.items[i].name, b.name_flags);
		}
	}
	FZ_CHECK(b.ndiags <= CTL_DIAG_MAX);
	for (size_t i = 0; i < b.ndiags; i++) {
		const struct ctl_diag *d = &b.diags[i];
		FZ_CHECK(d->text != NULL);
		FZ_CHECK(fz_utf8_ok(d->text, strlen(d->text)));
		if (d->error)
			nerr++;
		else
			nwarn++;
	}
	FZ_CHECK(nerr <= b.nerrors && nwarn <= b.nwarnings);
	ctl_batch_free(&b);

	if (opt2 & 8) {
		char out[128];
		struct rs_prefix p;
		if (ctl_rpz_ip_to_text(buf, len, out, sizeof(out)) == 0)
			FZ_CHECK(strlen(out) < sizeof(out) && (rs_prefix_parse(out, &p, NULL, 0) == 0 ||
								  rs_prefix_parse(out, &p, NULL, 0) == RS_EINVAL));
	}
	if (opt & 128) {
		struct ctl_name_res r;
		int n = ctl_name_canon(buf, len, b.name_flags, &r);
		FZ_CHECK(n == 0 || n == CTL_NAME_BLANK || n < 0);
		if (n == 0)
			check_name_again(r.name, b.name_flags);
		else if (n < 0)
			FZ_CHECK(memchr(r.err, '\0', sizeof(r.err)) && r.err[0] != '\0' &&
				 fz_utf8_ok(r.err, strlen(r.err)));
	}
	free(buf);
	return 0;
}
