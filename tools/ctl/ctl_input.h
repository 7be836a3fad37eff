/*
 * ctl_input.h — the domain lists regulators hand over, read into one batch.
 *
 * Formats (chosen with --format or detected by file name, then content):
 *   plain  one name per line; '#' starts a comment (whole line or trailing);
 *   csv    RFC 4180 with a header row: ',', ';' or TAB separated (detected
 *          from the header), quoted fields (also across lines); the domain
 *          column is named by the caller or found among well-known headers
 *          (domain, fqdn, hostname, host, name, url, site, website, ...);
 *   json   a Piracy-Shield-style ticket: every "fqdn" array of strings, at any
 *          depth ("ipv4"/"ipv6" arrays are noted and ignored); a top-level
 *          array of strings is accepted too;
 *   rpz    an RPZ zone file (RFC 1035 master format): QNAME triggers become
 *          domains relative to the zone origin ($ORIGIN, the SOA owner, or the
 *          caller's origin); "*.x" with "x" is one domain; rpz-passthru rules
 *          and IP / NS triggers are noted and ignored.
 * Every format: a UTF-8 BOM is skipped; UTF-16 and UTF-32 with a BOM, and
 * UTF-16 without one (recognised by its NULs), are converted; a file that is
 * neither UTF-8 nor UTF-16 (invalid UTF-8, a workbook, NULs all through) is
 * refused as a whole with a hint; CRLF and CR line ends are accepted. A .txt
 * or .list file with TAB-separated columns (Excel's "Unicode text") is read
 * as csv. Each name goes through ctl_name_canon.
 *
 * Address prefixes (b->want holds CTL_WANT_PREFIXES; issue 13): a batch also
 * collects IPv4/IPv6 prefixes, canonicalised by rs_prefix_parse/format
 * (lib/prefix.h: "192.0.2.0/24", a bare address as /32 or /128), into
 * pitems[0..np), each once, with its file and line:
 *   plain  one prefix or address per line ('#' comments); with names wanted
 *          too, a line that is an address or prefix is one, else a name;
 *   csv    the address columns: the one named by the caller (column), else
 *          every column with a well-known address header (ip, ipv4, ipv6,
 *          address, prefix, cidr, network, subnet, range, indirizzo ip, ...);
 *          with names wanted too, the domain column as well;
 *   json / piracy-shield   the "ipv4" and "ipv6" arrays of every ticket
 *          object ("ticket_id" is noted in tickets[]); piracy-shield is json
 *          where the top level must be a ticket object or an array of them;
 *   rpz    rpz-ip triggers ("24.0.2.0.192.rpz-ip", "48.zz.db8.2001.rpz-ip").
 * Names found when only prefixes are wanted (and prefixes when only names
 * are) are noted with a warning and left out.
 *
 * A batch keeps each distinct canonical name once (with the file and line it
 * first came from) and a diagnostic for every line that was rejected (an
 * error) or changed or repeated (a warning), in input order. The caller owns
 * the batch; ctl_batch_free releases everything. File names are not copied:
 * they must outlive the batch.
 */
#ifndef CTL_INPUT_H
#define CTL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ctl_format { CTL_FMT_AUTO = 0, CTL_FMT_PLAIN, CTL_FMT_CSV, CTL_FMT_JSON, CTL_FMT_RPZ, CTL_FMT_PSHIELD };

/* What a batch collects (b->want); 0 means names only. */
#define CTL_WANT_NAMES 0x1
#define CTL_WANT_PREFIXES 0x2
/* Ticket ids kept per batch (json / piracy-shield "ticket_id"). */
#define CTL_TICKETS_MAX 64

/* Diagnostics kept per batch; past this they are only counted. */
#define CTL_DIAG_MAX 10000
/* Largest input file read (octets). */
#define CTL_FILE_MAX ((size_t)1 << 30)

struct ctl_item {
	const char *name; /* canonical; owned by the batch */
	const char *file;
	uint32_t line;
	uint8_t flags; /* internal (RPZ wildcard bookkeeping) */
};

struct ctl_diag {
	const char *file;
	uint32_t line;
	bool error; /* false: a warning */
	char *text; /* "'what was written': why" */
};

struct ctl_arena;

struct ctl_batch {
	/* set by the caller before parsing */
	unsigned name_flags; /* ctl_name_canon flags (CTL_ALLOW_CONFUSABLE, ...) */
	const char *column;  /* CSV column name, or NULL to detect */
	const char *origin;  /* RPZ origin, or NULL ($ORIGIN / SOA owner) */
	unsigned want;       /* CTL_WANT_* (0: names) */
	void (*progress)(void *arg, size_t done, size_t total); /* parse progress (octets) */
	void *progress_arg;

	/* results */
	struct ctl_item *items;
	size_t n, cap;
	struct ctl_diag *diags;
	size_t ndiags, dcap;
	size_t nerrors, nwarnings; /* all of them, also those not kept */
	bool oom;
	struct ctl_item *pitems;   /* address prefixes: canonical text (CTL_WANT_PREFIXES) */
	size_t np, pcap;
	const char *tickets[CTL_TICKETS_MAX]; /* ticket ids seen, owned by the batch */
	size_t ntickets;

	/* internal */
	uint32_t *slots; /* open addressing: index + 1 into items, 0 = empty */
	size_t nslots;
	uint32_t *pslots; /* the same for pitems */
	size_t npslots;
	struct ctl_arena *arena;
};

void ctl_batch_init(struct ctl_batch *b);
void ctl_batch_free(struct ctl_batch *b);

/*
 * Parse buf[0..len) (the contents of file) in format fmt (CTL_FMT_AUTO:
 * detect) into b. 0, RS_EINVAL when the file as a whole cannot be read in
 * that format (not UTF-8/16 text, JSON syntax, CSV without a domain column;
 * the reason is a diagnostic, and none of the file's names are kept), or
 * RS_ENOMEM.
 */
int ctl_parse(struct ctl_batch *b, const char *file, const char *buf, size_t len, enum ctl_format fmt);

/* Add one token (what one line or field said). 0 or RS_ENOMEM; rejections
 * and warnings become diagnostics. */
int ctl_batch_add(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len);

/* Record a diagnostic. what[0..wlen) is shown (escaped, truncated) before msg
 * when wlen > 0. */
void ctl_batch_diag(struct ctl_batch *b, const char *file, uint32_t line, bool error, const char *what,
		    size_t wlen, const char *msg);

/* The diagnostics kept (errors and/or warnings) to f, one line each:
 * "<pre><file>:<line>: error|warning: <text>", then a line for those not
 * kept (over CTL_DIAG_MAX). */
void ctl_batch_print_diags(const struct ctl_batch *b, FILE *f, bool errors, bool warnings, const char *pre);
/* The diagnostics kept as a JSON array of {"file","line","severity","text"}. */
void ctl_batch_json_diags(const struct ctl_batch *b, FILE *f);

/* Index of name in b->items, or -1. */
long ctl_batch_find(const struct ctl_batch *b, const char *name);

/* Add one address prefix token (a line, a field, an array member): parsed
 * and canonicalised, kept once (a repeat is a warning), a bad one is an
 * error diagnostic. 0 or RS_ENOMEM. */
int ctl_batch_add_prefix(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len);
/* Index of the canonical prefix text in b->pitems, or -1. */
long ctl_batch_find_prefix(const struct ctl_batch *b, const char *prefix);

/*
 * An RPZ rpz-ip trigger's owner, relative to the zone ("24.0.2.0.192.rpz-ip",
 * "48.zz.db8.2001.rpz-ip", without or with the "rpz-ip" label), as prefix
 * text ("192.0.2.0/24", "2001:db8::/48") into out (at least 64 octets), for
 * rs_prefix_parse. 0, or RS_EINVAL with the reason in out.
 */
int ctl_rpz_ip_to_text(const char *owner, size_t len, char *out, size_t outlen);

/* The inverse: the rpz-ip trigger owner of a prefix, relative to the zone
 * ("24.0.2.0.192.rpz-ip", "48.zz.db8.2001.rpz-ip"; the longest run of two or
 * more zero groups is "zz"), into out (at least 80 octets). Its length, or 0
 * when p is not a valid prefix. */
struct rs_prefix;
size_t ctl_rpz_ip_owner(const struct rs_prefix *p, char *out, size_t outlen);

/* The format a file is in: by its name (.csv, .tsv, .json, .rpz, .zone; .txt
 * and .list are plain unless their first line has TAB-separated columns or is
 * a known column header), else by its contents. Never CTL_FMT_AUTO. */
enum ctl_format ctl_detect(const char *file, const char *buf, size_t len);

/* "plain", "csv", "json", "rpz", "piracy-shield", "auto"; and back (-1 when unknown). */
const char *ctl_format_name(enum ctl_format f);
int ctl_format_parse(const char *s);

/*
 * Read a whole file ("-": standard input) into a new NUL-terminated buffer.
 * 0, or RS_EIO / RS_EFULL / RS_ENOMEM with a message in err.
 */
int ctl_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif
