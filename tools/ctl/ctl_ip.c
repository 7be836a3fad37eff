/*
 * ctl_ip.c — address prefixes in orders: addip, delip, protect-ip,
 * unprotect-ip, ip list, ticket import, and the prefix half of a push of a
 * whole Piracy-Shield ticket (see ctl_ip.h).
 *
 * The pattern is the name commands' (ctl_cmd_write.c): WATCH what is read
 * (the orders in force, the order, its prefix set, the protected prefixes),
 * read and check everything, then one MULTI/EXEC with the set change and one
 * `changes` entry per prefix (ctl_queue_changes_field, field `prefix`).
 * Nothing is written when a check fails.
 */
#include "ctl_ip.h"

#include <err.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_name.h"
#include "ctl_sign.h"
#include "order.h"
#include "prefix.h"
#include "rs_err.h"

/* ---- the prefixes of a batch ---- */

void ctl_ip_init(struct ctl *x, struct ctl_ipset *s, const struct ctl_batch *b, const char *order, bool del,
		 bool override)
{
	memset(s, 0, sizeof(*s));
	s->b = b;
	s->del = del;
	s->override = override;
	if (order)
		ctl_key(x, s->kset, "order:%s:ips", order);
	ctl_key(x, s->kprot, "protected-ips");
	ctl_pprot_init(&s->prot);
}

void ctl_ip_free(struct ctl_ipset *s)
{
	ctl_pprot_free(&s->prot);
	free(s->st);
	free(s->why);
	free(s->hit);
	ctl_free_strings(s->mem, s->nmem);
	free(s->alt_mem);
	free(s->alt_of);
	s->st = s->why = NULL;
	s->hit = NULL;
	s->mem = NULL;
	s->alt_mem = s->alt_of = NULL;
	s->nmem = s->nalt = 0;
}

int ctl_ip_watch(struct ctl *x, struct ctl_ipset *s)
{
	redisReply *r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s", s->kset, s->kprot);

	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	return 0;
}

/*
 * The members of set key as the resolvers read them (lib/load.c: rs_prefix_parse,
 * lenient about the text). For each member that parses, fn(arg, j, &p, canon)
 * with its canonical text; the others are skipped with a warning (the first 5).
 * *mem, *n: the members (ctl_set_members), set before fn runs (fn reads
 * (*mem)[j]), for the caller to free. 0 or the exit code.
 */
static int ip_read_set(struct ctl *x, const char *key, char ***mem, size_t *n,
		       int (*fn)(void *arg, size_t j, const struct rs_prefix *p, const char *canon), void *arg)
{
	size_t bad = 0;
	int ex;

	if ((ex = ctl_set_members(x, key, mem, n)))
		return ex;
	for (size_t j = 0; j < *n; j++) {
		struct rs_prefix p;
		char canon[RS_PREFIX_TEXT_MAX], shown[200];
		if (rs_prefix_parse((*mem)[j], &p, NULL, 0)) {
			if (bad++ < 5)
				warnx("warning: %s: skipping '%s': not an address prefix (the resolvers skip it too)", key,
				      ctl_show((*mem)[j], strlen((*mem)[j]), 60, shown, sizeof(shown)));
			continue;
		}
		rs_prefix_format(&p, canon, sizeof(canon));
		if ((ex = fn(arg, j, &p, canon)))
			return ex;
	}
	return 0;
}

struct load_arg {
	const char *key;
	char **mem;
	struct ctl_pprot *pp;
	struct ctl_strmap *seen; /* canonical texts added */
};

static int load_one(void *arg, size_t j, const struct rs_prefix *p, const char *canon)
{
	struct load_arg *a = arg;
	const char *m = a->mem[j];
	int rc;

	if (strcmp(canon, m) != 0) {
		char shown[200];
		warnx("warning: %s: '%s' is not in canonical form; the resolvers enforce it as %s (delip or "
		      "unprotect-ip with that prefix removes it)", a->key, ctl_show(m, strlen(m), 60, shown, sizeof(shown)),
		      canon);
	}
	if ((rc = ctl_strmap_put(a->seen, canon, NULL)) == RS_ENOMEM || (rc == 1 && ctl_pprot_add(a->pp, p, canon)))
		errx(CTL_EXIT_ERROR, "out of memory");
	return 0;
}

int ctl_ip_load_set(struct ctl *x, const char *key, struct ctl_pprot *pp)
{
	struct load_arg a = { .key = key, .pp = pp, .seen = ctl_strmap_new() };
	size_t n = 0;
	int ex;

	if (!a.seen)
		errx(CTL_EXIT_ERROR, "out of memory");
	ex = ip_read_set(x, key, &a.mem, &n, load_one, &a);
	if (!ex)
		ctl_free_strings(a.mem, n);
	ctl_strmap_free(a.seen);
	return ex;
}

struct stored_arg {
	struct ctl_ipset *s;
	struct ctl_strmap *want; /* canonical text of a prefix of the batch -> its index + 1 */
	uint8_t *in;
	size_t cap;
};

static int stored_one(void *arg, size_t j, const struct rs_prefix *p, const char *canon)
{
	struct stored_arg *a = arg;
	struct ctl_ipset *s = a->s;
	bool found;
	size_t i = (size_t)(uintptr_t)ctl_strmap_get(a->want, canon, &found);

	(void)p;
	if (!found)
		return 0;
	a->in[i - 1] = 1;
	if (strcmp(canon, s->mem[j]) == 0)
		return 0;
	if (s->nalt == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		size_t *m = realloc(s->alt_mem, cap * sizeof(*m)), *o;
		if (!m)
			errx(CTL_EXIT_ERROR, "out of memory");
		s->alt_mem = m;
		if (!(o = realloc(s->alt_of, cap * sizeof(*o))))
			errx(CTL_EXIT_ERROR, "out of memory");
		s->alt_of = o;
		a->cap = cap;
	}
	s->alt_mem[s->nalt] = j;
	s->alt_of[s->nalt++] = i - 1;
	return 0;
}

/* Which prefixes of s->b set key holds, by value (in[i]), as the resolvers
 * read the set: a member in another text ("198.51.100.9" for 198.51.100.9/32)
 * counts, and is noted in s (alt_mem, alt_of) for a removal to remove the text
 * stored. The batch's prefixes are canonical and distinct (ctl_batch_add_prefix). */
static int ip_stored(struct ctl *x, struct ctl_ipset *s, const char *key, uint8_t *in)
{
	const struct ctl_batch *b = s->b;
	struct stored_arg a = { .s = s, .want = ctl_strmap_new(), .in = in };
	int ex;

	if (!a.want)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < b->np; i++)
		if (ctl_strmap_put(a.want, b->pitems[i].name, (void *)(uintptr_t)(i + 1)) == RS_ENOMEM)
			errx(CTL_EXIT_ERROR, "out of memory");
	ex = ip_read_set(x, key, &s->mem, &s->nmem, stored_one, &a);
	ctl_strmap_free(a.want);
	return ex;
}

/* " (stored as 'TEXT')" for each member holding prefix i in another text, to f. */
static void print_alts(const struct ctl_ipset *s, size_t i, FILE *f)
{
	char shown[200];

	for (size_t k = 0; k < s->nalt; k++)
		if (s->alt_of[k] == i)
			fprintf(f, "  (stored as '%s')",
				ctl_show(s->mem[s->alt_mem[k]], strlen(s->mem[s->alt_mem[k]]), 60, shown, sizeof(shown)));
}

int ctl_ip_classify(struct ctl *x, struct ctl_ipset *s)
{
	const struct ctl_batch *b = s->b;
	uint8_t *in;
	int ex;

	s->st = calloc(b->np + 1, 1);
	s->why = calloc(b->np + 1, 1);
	s->hit = calloc(b->np + 1, sizeof(*s->hit));
	in = calloc(b->np + 1, 1);
	if (!s->st || !s->why || !s->hit || !in)
		errx(CTL_EXIT_ERROR, "out of memory");
	if (!s->del && (ex = ctl_ip_load_set(x, s->kprot, &s->prot)))
		goto out;
	if ((ex = ip_stored(x, s, s->kset, in)))
		goto out;
	for (size_t i = 0; i < b->np; i++) {
		struct rs_prefix p;
		s->hit[i] = -1;
		if (!s->del && rs_prefix_parse(b->pitems[i].name, &p, NULL, 0) == 0) {
			s->hit[i] = ctl_pprot_check(&s->prot, &p);
			if (s->hit[i] >= 0)
				s->why[i] |= CTL_IP_OVR_PROT;
			if (ctl_prefix_too_short(&p))
				s->why[i] |= CTL_IP_OVR_SHORT;
		}
		if (s->del ? !in[i] : in[i]) {
			s->st[i] = CTL_IP_PRESENT;
			s->npresent++;
		} else if (s->why[i] && !s->override) {
			s->st[i] = CTL_IP_REFUSED;
			s->nrefused++;
		} else {
			s->st[i] = CTL_IP_NEW;
			s->nnew++;
			if (s->why[i])
				s->novr++;
		}
	}
	ex = 0;
out:
	free(in);
	return ex;
}

/* Why prefix i is refused (or what was overridden), into buf. */
static const char *refusal(const struct ctl_ipset *s, size_t i, char *buf, size_t len)
{
	const struct ctl_item *it = &s->b->pitems[i];
	size_t o = 0;

	buf[0] = '\0';
	if (s->why[i] & CTL_IP_OVR_PROT)
		o += (size_t)snprintf(buf + o, len - o, "'%s' overlaps the protected prefix %s", it->name,
				      s->prot.text[s->hit[i]]);
	if ((s->why[i] & CTL_IP_OVR_SHORT) && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%s'%s' is shorter than /%d: it holds whole networks of "
				      "unrelated sites", o ? "; " : "", it->name,
				      strchr(it->name, ':') ? CTL_PREFIX_MIN6 : CTL_PREFIX_MIN4);
	return buf;
}

void ctl_ip_print(const struct ctl_ipset *s, bool dry, FILE *f, const char *pre)
{
	const struct ctl_batch *b = s->b;
	char why[400];

	for (size_t i = 0; i < b->np; i++) {
		const struct ctl_item *it = &b->pitems[i];
		switch (s->st[i]) {
		case CTL_IP_NEW:
			if (dry) {
				printf("%c %s%s%s%s", s->del ? '-' : '+', it->name, s->why[i] ? "  (override: " : "",
				       s->why[i] ? refusal(s, i, why, sizeof(why)) : "", s->why[i] ? ")" : "");
				print_alts(s, i, stdout);
				putchar('\n');
			}
			break;
		case CTL_IP_PRESENT:
			if (dry) {
				printf("= %s  %s", it->name, s->del ? "not listed by this order" : "already listed");
				print_alts(s, i, stdout);
				putchar('\n');
			}
			break;
		case CTL_IP_REFUSED:
			fprintf(f, "%s%s:%u: refused: %s (--override --why TEXT to list it anyway)\n", pre, it->file,
				it->line, refusal(s, i, why, sizeof(why)));
			break;
		}
	}
}

/* The `override` value of a group of CTL_IP_OVR_* bits. */
static const char *const ovr_text[] = { "", "protected-ip", "short-prefix", "protected-ip,short-prefix" };

void ctl_ip_queue(struct ctl *x, struct ctl_tx *t, struct ctl_ipset *s, const char *order, const char *why,
		  bool *first)
{
	const struct ctl_batch *b = s->b;
	const char **v = malloc((b->np + s->nalt + 1) * sizeof(*v));
	const char **argv = malloc((CTL_CHUNK + 2) * sizeof(*argv));
	size_t *lens = malloc((CTL_CHUNK + 2) * sizeof(*lens));
	size_t nn = 0, nv;

	if (!v || !argv || !lens)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (int g = 0; g < 4; g++)
		for (size_t i = 0; i < b->np; i++)
			if (s->st[i] == CTL_IP_NEW && s->why[i] == g)
				v[nn++] = b->pitems[i].name;
	/* a removal also removes the members holding a removed prefix in another
	 * text (v[nn..nv)); the entries name the canonical prefix only (v[0..nn)) */
	nv = nn;
	for (size_t k = 0; s->del && k < s->nalt; k++)
		if (s->st[s->alt_of[k]] == CTL_IP_NEW)
			v[nv++] = s->mem[s->alt_mem[k]];
	argv[0] = s->del ? "SREM" : "SADD";
	argv[1] = s->kset;
	lens[0] = 4;
	lens[1] = strlen(s->kset);
	s->nsets = 0;
	for (size_t i = 0; i < nv; i += CTL_CHUNK) {
		size_t m = nv - i < CTL_CHUNK ? nv - i : CTL_CHUNK;
		for (size_t j = 0; j < m; j++) {
			argv[2 + j] = v[i + j];
			lens[2 + j] = strlen(v[i + j]);
		}
		ctl_tx_argv(t, (int)m + 2, argv, lens);
		s->nsets++;
	}
	for (int g = 0, at = 0; g < 4; g++) {
		size_t cnt = 0;
		for (size_t i = 0; i < b->np; i++)
			cnt += s->st[i] == CTL_IP_NEW && s->why[i] == g;
		ctl_queue_changes_field(x, t, s->del ? "delip" : "addip", order, "prefix", v + at, cnt, why, ovr_text[g],
					first);
		at += (int)cnt;
	}
	free(v);
	free(argv);
	free(lens);
}

size_t ctl_ip_offline(const struct ctl_ipset *s, bool allow_short, bool json)
{
	const struct ctl_batch *b = s->b;
	size_t nshort = 0;

	for (size_t i = 0; i < b->np; i++) {
		struct rs_prefix p;
		bool sh = rs_prefix_parse(b->pitems[i].name, &p, NULL, 0) == 0 && ctl_prefix_too_short(&p);
		if (sh && !allow_short) {
			nshort++;
			if (!json)
				printf("! %s:%u: refused: '%s' is shorter than /%d: it holds whole networks of unrelated "
				       "sites\n", b->pitems[i].file, b->pitems[i].line, b->pitems[i].name,
				       p.family == 4 ? CTL_PREFIX_MIN4 : CTL_PREFIX_MIN6);
		} else if (!json) {
			printf("+ %s%s\n", b->pitems[i].name, sh ? "  (override: shorter than /24 or /48)" : "");
		}
	}
	if (!json)
		printf("offline check: %zu address prefixes accepted, %zu refused; not checked (it needs Redis): the "
		       "protected prefixes\n", b->np - nshort, nshort);
	return nshort;
}

void ctl_ip_json(const struct ctl_ipset *s, FILE *f)
{
	const struct ctl_batch *b = s->b;
	char why[400];

	fprintf(f, ",\"prefixes_%s\":%zu,\"prefixes_%s\":%zu,\"prefixes_refused\":%zu,\"prefix_overrides\":%zu,"
		   "\"prefixes\":[",
		s->del ? "withdrawn" : "added", s->nnew, s->del ? "not_listed" : "already_present", s->npresent,
		s->nrefused, s->novr);
	for (size_t i = 0; i < b->np; i++) {
		static const char *const st[] = { "new", "present", "refused" };
		fprintf(f, "%s{\"prefix\":", i ? "," : "");
		ctl_json_str(f, b->pitems[i].name);
		fprintf(f, ",\"file\":");
		ctl_json_str(f, b->pitems[i].file);
		fprintf(f, ",\"line\":%u,\"status\":\"%s\"", b->pitems[i].line,
			s->st ? (s->st[i] == CTL_IP_PRESENT && s->del ? "not listed" : st[s->st[i]]) : "new");
		if (s->st && s->why && s->why[i]) {
			fprintf(f, ",\"%s\":", s->st[i] == CTL_IP_REFUSED ? "refused_because" : "override");
			ctl_json_str(f, refusal(s, i, why, sizeof(why)));
		}
		fputc('}', f);
	}
	fputc(']', f);
}

/* ---- reading prefixes: the command line, files ---- */

struct ipin {
	const char *files[64];
	int nfiles;
	enum ctl_format fmt;
	const char *column, *origin;
};

/* Arguments and --file inputs into b (prefixes only). 0 or an exit code. */
static int ip_read(struct ctl *x, struct ctl_batch *b, const struct ipin *in, char **args, int nargs)
{
	b->want = CTL_WANT_PREFIXES;
	b->column = in->column;
	b->origin = in->origin;
	for (int i = 0; i < nargs; i++)
		if (ctl_batch_add_prefix(b, "<command line>", (uint32_t)(i + 1), args[i], strlen(args[i])))
			errx(CTL_EXIT_ERROR, "out of memory");
	for (int i = 0; i < in->nfiles; i++) {
		const char *name = strcmp(in->files[i], "-") == 0 ? "<stdin>" : in->files[i];
		char *buf, err[600];
		size_t len;
		int rc;
		if (strcmp(in->files[i], "-") == 0 && isatty(STDIN_FILENO))
			fprintf(stderr, "redsink-ctl: reading prefixes from the terminal; end with Ctrl-D\n");
		if ((rc = ctl_read_file(in->files[i], &buf, &len, err, sizeof(err)))) {
			warnx("%s", err);
			return CTL_EXIT_ERROR;
		}
		rc = ctl_parse(b, name, buf, len, in->fmt);
		free(buf);
		if (rc == RS_ENOMEM)
			errx(CTL_EXIT_ERROR, "out of memory reading %s", name);
	}
	if (b->oom)
		errx(CTL_EXIT_ERROR, "out of memory");
	(void)x;
	return 0;
}

/* ---- addip / delip ---- */

static const char addip_usage[] =
	"Usage: redsink-ctl addip ORDER [OPTIONS] [PREFIX...] [--file FILE...]\n"
	"       redsink-ctl delip ORDER [OPTIONS] [PREFIX...] [--file FILE...]\n"
	"\n"
	"addip lists IPv4/IPv6 address prefixes under ORDER: any name whose answer\n"
	"holds an address inside one is blocked with the order's action; delip removes\n"
	"them. PREFIX: 192.0.2.0/24, 2001:db8::/48, or an address (192.0.2.1 = /32).\n"
	"Everything is written in canonical form (RFC 5952) in one transaction with one\n"
	"change-stream entry per prefix (ops addip / delip, field prefix). A member\n"
	"stored in another text (say '192.0.2.1', written with redis-cli) is the prefix\n"
	"the resolvers read from it: addip finds it present, delip removes that text.\n"
	"\n"
	"addip refuses (exit 3) a prefix overlapping a protected prefix (protect-ip), or\n"
	"shorter than /24 (IPv4) or /48 (IPv6), unless --override --why TEXT (recorded).\n"
	"\n"
	"  --file FILE          read prefixes from FILE ('-': standard input); repeatable\n"
	"  --format FMT         auto (default), plain (one prefix or address a line, '#'\n"
	"                       comments), csv (the ip/ipv4/ipv6/prefix/cidr columns, or\n"
	"                       --column), json or piracy-shield (the \"ipv4\" and \"ipv6\"\n"
	"                       arrays of a ticket), rpz (rpz-ip triggers)\n"
	"  --column NAME        CSV column holding the prefixes\n"
	"  --origin NAME        RPZ zone origin when the file has no $ORIGIN or SOA\n"
	"  --why TEXT, --reason TEXT  recorded in every change-stream entry\n"
	"  --override           list refused prefixes anyway (needs --why; recorded)\n"
	"  --skip-invalid       write the valid prefixes even if some lines are rejected\n"
	"  -n, --dry-run        print the diff (+ added, = already present, ! refused);\n"
	"                       write nothing\n"
	"  --json               the receipt (or the dry run) as one JSON object\n"
	"\n"
	"Exit status: 0 written (or nothing to do), 1 error, 2 usage, 3 refused by a\n"
	"guard, 4 Redis, 5 rejected input lines (unless --skip-invalid).\n";

enum { O_FILE = 600, O_FORMAT, O_COLUMN, O_ORIGIN, O_WHY, O_OVERRIDE, O_SKIP, O_JSON };

struct ipcmd {
	struct ctl *x;
	const char *id, *why;
	bool del, dry, json, override, skip;
	struct ipin in;
	struct ctl_batch b;
	struct ctl_ipset s;
	struct ctl_order o;
	bool first;
};

static int ipcmd_options(struct ipcmd *c, int argc, char **argv, bool with_order, int *first_arg)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, O_FILE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "column", required_argument, NULL, O_COLUMN },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "why", required_argument, NULL, O_WHY },
		{ "reason", required_argument, NULL, O_WHY },
		{ "override", no_argument, NULL, O_OVERRIDE },
		{ "skip-invalid", no_argument, NULL, O_SKIP },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl *x = c->x;
	const char *complaint;
	int ch, ex = 0, rc;

	while ((ch = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		switch (ch) {
		case CTL_OPT_EXIT:
			return ex;
		case O_FILE:
			if (c->in.nfiles == 64)
				return ctl_usage_error(x, "too many --file options");
			c->in.files[c->in.nfiles++] = optarg;
			break;
		case O_FORMAT:
			if ((rc = ctl_format_parse(optarg)) < 0)
				return ctl_usage_error(x, "--format: '%s' is not auto, plain, csv, json, piracy-shield or rpz",
						       optarg);
			c->in.fmt = (enum ctl_format)rc;
			break;
		case O_COLUMN:
			c->in.column = optarg;
			break;
		case O_ORIGIN:
			c->in.origin = optarg;
			break;
		case O_WHY:
			c->why = optarg;
			break;
		case O_OVERRIDE:
			c->override = true;
			break;
		case O_SKIP:
			c->skip = true;
			break;
		case 'n':
			c->dry = true;
			break;
		case O_JSON:
			c->json = true;
			break;
		}
	}
	if (with_order) {
		if (optind >= argc)
			return ctl_usage_error(x, "expected an order ID, then prefixes or --file FILE");
		c->id = argv[optind++];
		if (!rs_order_id_ok(c->id))
			return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, c->id);
	}
	if (!ctl_text_ok(c->why, CTL_TEXT_MAX, &complaint))
		return ctl_usage_error(x, "--why/--reason %s", complaint);
	if (c->override && !*c->why)
		return ctl_usage_error(x, "--override needs --why TEXT: the reason is recorded with the change");
	if (c->override && c->del)
		return ctl_usage_error(x, "--override is for adding prefixes");
	if (optind >= argc && c->in.nfiles == 0)
		return ctl_usage_error(x, "expected prefixes or --file FILE ('-': standard input)");
	*first_arg = optind;
	return -1;
}

/* Read, report the rejected lines; -1 to go on, or the exit code. */
static int ipcmd_read(struct ipcmd *c, char **args, int nargs)
{
	int ex;

	if ((ex = ip_read(c->x, &c->b, &c->in, args, nargs)))
		return ex;
	if (!c->json)
		ctl_batch_print_diags(&c->b, stderr, true, true, "redsink-ctl: ");
	if (c->b.nerrors && !c->skip) {
		if (c->json) {
			printf("{\"order\":");
			ctl_json_str(stdout, c->id ? c->id : "");
			printf(",\"op\":\"%s\",\"dry_run\":%s,\"written\":false,\"rejected\":%zu,\"warnings\":%zu",
			       c->del ? "delip" : "addip", c->dry ? "true" : "false", c->b.nerrors, c->b.nwarnings);
			printf(",\"diagnostics\":");
			ctl_batch_json_diags(&c->b, stdout);
			printf(",\"exit\":%d}\n", CTL_EXIT_DATA);
		}
		warnx("%zu line%s rejected: nothing written (fix them, or --skip-invalid)", c->b.nerrors,
		      c->b.nerrors == 1 ? "" : "s");
		return CTL_EXIT_DATA;
	}
	if (c->b.np == 0) {
		warnx("no address prefixes in the input: nothing to %s", c->del ? "remove" : "add");
		return CTL_EXIT_DATA;
	}
	return -1;
}

static void ipcmd_receipt(const struct ipcmd *c, const redisReply *r, int ex)
{
	const char *first = NULL, *last = NULL;

	if (r && r->elements > c->s.nsets) {
		const redisReply *f = r->element[c->s.nsets], *l = r->element[r->elements - 1];
		first = f->type == REDIS_REPLY_STRING ? f->str : NULL;
		last = l->type == REDIS_REPLY_STRING ? l->str : first;
	}
	printf("{\"order\":");
	ctl_json_str(stdout, c->id);
	printf(",\"op\":\"%s\",\"dry_run\":%s,\"written\":%s,\"overrides\":%zu,\"rejected\":%zu,\"warnings\":%zu",
	       c->del ? "delip" : "addip", c->dry ? "true" : "false", r ? "true" : "false", c->s.novr, c->b.nerrors,
	       c->b.nwarnings);
	printf(",\"first_change\":");
	if (first)
		ctl_json_str(stdout, first);
	else
		fputs("null", stdout);
	printf(",\"last_change\":");
	if (last)
		ctl_json_str(stdout, last);
	else
		fputs("null", stdout);
	ctl_ip_json(&c->s, stdout);
	printf(",\"diagnostics\":");
	ctl_batch_json_diags(&c->b, stdout);
	printf(",\"exit\":%d}\n", ex);
}

/* Connect, WATCH the order and the sets, check the order takes changes. 0 or the exit code. */
static int ipcmd_watch(struct ipcmd *c)
{
	struct ctl *x = c->x;
	char k[CTL_KEY_MAX], ko[CTL_KEY_MAX];
	redisReply *r;
	int ex;

	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		return ex;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s %s", ctl_key(x, k, "orders"), ctl_key(x, ko, "order:%s", c->id));
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_ip_watch(x, &c->s)) || (ex = ctl_order_load(x, c->id, false, &c->o)))
		return ex;
	if (!c->o.exists || !c->o.in_force) {
		warnx(c->o.exists ? "order '%s' was revoked: nothing %s"
				  : "no order '%s': create it first with 'redsink-ctl order add' (nothing %s)",
		      c->id, c->del ? "removed" : "added");
		return CTL_EXIT_ERROR;
	}
	if (!c->del && c->o.expired) {
		warnx("order '%s' expired at %s: nothing added (extend it with 'redsink-ctl order update --expires')",
		      c->id, c->o.f[F_EXPIRES]);
		return CTL_EXIT_ERROR;
	}
	return 0;
}

static int addip_or_delip(struct ctl *x, int argc, char **argv, bool del)
{
	struct ipcmd c = { .x = x, .why = "", .del = del, .first = true };
	struct ctl_tx t;
	redisReply *r = NULL;
	int ex, at, rc;

	x->usage = addip_usage;
	if ((ex = ipcmd_options(&c, argc, argv, true, &at)) >= 0)
		return ex;
	ctl_batch_init(&c.b);
	ctl_ip_init(x, &c.s, &c.b, c.id, del, c.override);
	if ((ex = ipcmd_read(&c, argv + at, argc - at)) >= 0)
		goto out;
	if ((ex = ipcmd_watch(&c)) || (ex = ctl_ip_classify(x, &c.s)))
		goto out;
	if (c.json && (c.dry || c.s.nrefused || c.s.nnew == 0)) {
		ex = c.s.nrefused ? CTL_EXIT_REFUSED : 0;
		ipcmd_receipt(&c, NULL, ex);
		if (c.s.nrefused)
			ctl_ip_print(&c.s, false, stderr, "redsink-ctl: ");
		freeReplyObject(ctl_cmd(&x->conn, "UNWATCH", "UNWATCH"));
		goto out;
	}
	ctl_ip_print(&c.s, c.dry, c.dry ? stdout : stderr, c.dry ? "! " : "redsink-ctl: ");
	if (c.dry || c.s.nrefused || c.s.nnew == 0) {
		freeReplyObject(ctl_cmd(&x->conn, "UNWATCH", "UNWATCH"));
		if (c.dry)
			printf("dry run, order %s: %zu to %s, %zu %s, %zu refused, %zu rejected; nothing written\n", c.id,
			       c.s.nnew, del ? "remove" : "add", c.s.npresent, del ? "not listed" : "already present",
			       c.s.nrefused, c.b.nerrors);
		if (c.s.nrefused) {
			warnx("%s refused, nothing written: %zu prefix%s overlapping a protected prefix or shorter than "
			      "/24 (IPv4) or /48 (IPv6) (--override --why TEXT)", del ? "delip" : "addip", c.s.nrefused,
			      c.s.nrefused == 1 ? "" : "es");
			ex = CTL_EXIT_REFUSED;
		} else if (!c.dry && !x->quiet) {
			printf("order %s: nothing to %s (%zu %s)\n", c.id, del ? "remove" : "add", c.s.npresent,
			       del ? "not listed" : "already listed");
		}
		goto out;
	}
	ctl_tx_begin(&t, &x->conn);
	ctl_ip_queue(x, &t, &c.s, c.id, c.why, &c.first);
	rc = ctl_tx_exec(&t, &r);
	if (rc == CTL_TX_CONFLICT) {
		warnx("order '%s' or the protected prefixes changed while the batch was being checked: nothing "
		      "written; run the command again", c.id);
		ex = CTL_EXIT_ERROR;
		goto out;
	}
	if (rc) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	if (c.json) {
		ipcmd_receipt(&c, r, 0);
	} else if (!x->quiet) {
		const redisReply *f = r->elements > c.s.nsets ? r->element[c.s.nsets] : NULL;
		const redisReply *l = r->elements ? r->element[r->elements - 1] : NULL;
		printf("order %s: %zu prefix%s %s, %zu %s%s (changes %s .. %s)\n", c.id, c.s.nnew,
		       c.s.nnew == 1 ? "" : "es", del ? "removed" : "added", c.s.npresent,
		       del ? "not listed" : "already present", c.s.novr ? ", overrides recorded" : "",
		       f && f->type == REDIS_REPLY_STRING ? f->str : "?", l && l->type == REDIS_REPLY_STRING ? l->str : "?");
	}
	freeReplyObject(r);
	ex = 0;
out:
	ctl_order_clear(&c.o);
	ctl_ip_free(&c.s);
	ctl_batch_free(&c.b);
	return ex;
}

int cmd_addip(struct ctl *x, int argc, char **argv)
{
	return addip_or_delip(x, argc, argv, false);
}

int cmd_delip(struct ctl *x, int argc, char **argv)
{
	return addip_or_delip(x, argc, argv, true);
}

/* ---- protect-ip / unprotect-ip ---- */

static const char protect_ip_usage[] =
	"Usage: redsink-ctl protect-ip [--why TEXT] [PREFIX...] [--file FILE...]\n"
	"       redsink-ctl unprotect-ip --why TEXT [PREFIX...] [--file FILE...]\n"
	"\n"
	"The protected prefixes: shared infrastructure (CDN ranges, big platforms). An\n"
	"answer address inside one never triggers a block, and addip refuses a prefix\n"
	"overlapping one. Prefixes are read like addip reads them. Removing protection\n"
	"needs a reason. One transaction with one change-stream entry per prefix (ops\n"
	"protectip / unprotectip, field prefix).\n"
	"\n"
	"  --why TEXT, --reason TEXT  recorded in the change stream\n"
	"  --file FILE          read prefixes from FILE ('-': standard input)\n"
	"  --format FMT         format of the files (as for addip)\n"
	"  -n, --dry-run        say what would change, write nothing\n"
	"  --json               the receipt as one JSON object\n";

static const char confirm_ip_usage[] =
	"Usage: redsink-ctl confirm-ip --why TEXT [PREFIX...] [--file FILE...]\n"
	"       redsink-ctl unconfirm-ip [--why TEXT] [PREFIX...] [--file FILE...]\n"
	"\n"
	"The prefixes a person confirmed after a collateral alarm (the set confirmed-ips):\n"
	"with collateral-action: suspend, a resolver stops a prefix that blocked more\n"
	"distinct names in an hour than its collateral-threshold from triggering until\n"
	"it is confirmed here; a confirmed prefix is never suspended. Resolvers read\n"
	"the set with every heartbeat (5 s). Give the prefix exactly as the order lists\n"
	"it. Confirming needs a reason (blocks by a possibly shared address resume).\n"
	"One transaction with one change-stream entry per prefix, for the record (ops\n"
	"confirmip / unconfirmip, field prefix, with by and why; resolvers ignore them).\n"
	"\n"
	"  --why TEXT, --reason TEXT  recorded in the change stream\n"
	"  --file FILE          read prefixes from FILE ('-': standard input)\n"
	"  --format FMT         format of the files (as for addip)\n"
	"  -n, --dry-run        say what would change, write nothing\n"
	"  --json               the receipt as one JSON object\n";

/* protect-ip / unprotect-ip (confirm false), confirm-ip / unconfirm-ip (confirm true). */
static int protect_ip(struct ctl *x, int argc, char **argv, bool add, bool confirm)
{
	struct ipcmd c = { .x = x, .why = "", .del = !add, .first = true };
	const char **v = NULL;
	uint8_t *in = NULL;
	struct ctl_tx t;
	redisReply *r = NULL;
	size_t nn = 0, nv;
	int ex, at, rc;

	x->usage = confirm ? confirm_ip_usage : protect_ip_usage;
	if ((ex = ipcmd_options(&c, argc, argv, false, &at)) >= 0)
		return ex;
	if (c.override)
		return ctl_usage_error(x, "--override is for addip");
	if (!add && !confirm && !*c.why)
		return ctl_usage_error(x, "unprotect-ip needs --why TEXT: addresses may trigger blocks again");
	if (add && confirm && !*c.why)
		return ctl_usage_error(x, "confirm-ip needs --why TEXT: a prefix with the signature of a shared "
				       "address may trigger blocks again");
	ctl_batch_init(&c.b);
	ctl_ip_init(x, &c.s, &c.b, NULL, !add, false);
	if (confirm)
		ctl_key(x, c.s.kprot, "confirmed-ips");
	if ((ex = ipcmd_read(&c, argv + at, argc - at)) >= 0)
		goto out;
	if ((ex = ctl_open(x)) || (ex = ctl_dataset_ensure(x)))
		goto out;
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", c.s.kprot);
	if (!r) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	freeReplyObject(r);
	r = NULL;
	if (!confirm && (ex = ctl_sign_prepare_protected(x))) /* the signed protected set (ctl_sign.h) */
		goto out;
	in = calloc(c.b.np + 1, 1);
	if (!in)
		errx(CTL_EXIT_ERROR, "out of memory");
	if ((ex = ip_stored(x, &c.s, c.s.kprot, in)))
		goto out;
	if (!(v = malloc((c.b.np + c.s.nalt + 1) * sizeof(*v))))
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < c.b.np; i++) {
		if (add == !!in[i]) {
			if (!x->quiet || c.dry) {
				printf("= %s  %s%s", c.b.pitems[i].name, add ? "already " : "not ",
				       confirm ? "confirmed" : "protected");
				print_alts(&c.s, i, stdout);
				putchar('\n');
			}
			continue;
		}
		v[nn++] = c.b.pitems[i].name;
		if (c.dry) {
			printf("%c %s", add ? '+' : '-', c.b.pitems[i].name);
			print_alts(&c.s, i, stdout);
			putchar('\n');
		}
	}
	/* removing: the members holding a removed prefix in another text too
	 * (v[nn..nv); every alt is of a prefix the set holds); the entries name
	 * the canonical prefixes (v[0..nn)) */
	nv = nn;
	for (size_t k = 0; !add && k < c.s.nalt; k++)
		v[nv++] = c.s.mem[c.s.alt_mem[k]];
	if (c.dry || nn == 0) {
		freeReplyObject(ctl_cmd(&x->conn, "UNWATCH", "UNWATCH"));
		if (c.dry)
			printf("dry run: %zu to %s%s; nothing written\n", nn, add ? "" : "un", confirm ? "confirm" : "protect");
		else if (!x->quiet)
			printf("nothing to change\n");
		ex = 0;
		goto out;
	}
	ctl_tx_begin(&t, &x->conn);
	{
		const char **argvv = malloc((CTL_CHUNK + 2) * sizeof(*argvv));
		size_t *lens = malloc((CTL_CHUNK + 2) * sizeof(*lens));
		if (!argvv || !lens)
			errx(CTL_EXIT_ERROR, "out of memory");
		argvv[0] = add ? "SADD" : "SREM";
		argvv[1] = c.s.kprot;
		lens[0] = 4;
		lens[1] = strlen(c.s.kprot);
		for (size_t i = 0; i < nv; i += CTL_CHUNK) {
			size_t m = nv - i < CTL_CHUNK ? nv - i : CTL_CHUNK;
			for (size_t j = 0; j < m; j++) {
				argvv[2 + j] = v[i + j];
				lens[2 + j] = strlen(v[i + j]);
			}
			ctl_tx_argv(&t, (int)m + 2, argvv, lens);
		}
		free(argvv);
		free(lens);
	}
	/* confirmed-ips is read by the resolvers directly (heartbeat): its entries
	 * are the audit record only, which resolvers ignore */
	ctl_queue_changes_field(x, &t, confirm ? (add ? "confirmip" : "unconfirmip") : add ? "protectip" : "unprotectip",
				"", "prefix", v, nn, c.why, NULL, &c.first);
	rc = ctl_tx_exec(&t, &r);
	if (rc == CTL_TX_CONFLICT) {
		warnx("the %s prefixes (%s) changed meanwhile: nothing written; run the command again",
		      confirm ? "confirmed" : "protected", c.s.kprot);
		ex = CTL_EXIT_ERROR;
		goto out;
	}
	if (rc) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	if (c.json) {
		printf("{\"op\":\"%s\",\"written\":true,\"prefixes\":[",
		       confirm ? (add ? "confirmip" : "unconfirmip") : add ? "protectip" : "unprotectip");
		for (size_t i = 0; i < nn; i++) {
			if (i)
				putchar(',');
			ctl_json_str(stdout, v[i]);
		}
		printf("],\"exit\":0}\n");
	} else if (!x->quiet) {
		for (size_t i = 0; i < nn; i++)
			printf("%s%s %s\n", add ? "" : "un", confirm ? "confirmed" : "protected", v[i]);
	}
	freeReplyObject(r);
	ex = 0;
out:
	free(in);
	free(v);
	ctl_ip_free(&c.s);
	ctl_batch_free(&c.b);
	return ex;
}

int cmd_protect_ip(struct ctl *x, int argc, char **argv)
{
	return protect_ip(x, argc, argv, true, false);
}

int cmd_unprotect_ip(struct ctl *x, int argc, char **argv)
{
	return protect_ip(x, argc, argv, false, false);
}

int cmd_confirm_ip(struct ctl *x, int argc, char **argv)
{
	return protect_ip(x, argc, argv, true, true);
}

int cmd_unconfirm_ip(struct ctl *x, int argc, char **argv)
{
	return protect_ip(x, argc, argv, false, true);
}

/* ---- ip list ---- */

static const char ip_usage[] =
	"Usage: redsink-ctl ip list [ORDER] [--json]\n"
	"\n"
	"The address prefixes of every order in force (or of ORDER, in force or not),\n"
	"and the protected prefixes, as the resolvers read them: a member written in\n"
	"another text than the canonical one (say '198.51.100.9' with redis-cli) is\n"
	"enforced, and shown as its prefix with \"(stored as 'TEXT': not canonical)\";\n"
	"delip / unprotect-ip with the prefix remove it. Members that are no prefix are\n"
	"skipped with a warning (resolvers skip them too).\n"
	"\n"
	"  --json   one JSON object: {\"orders\": {ID: [PREFIX...]}, \"protected\": [...]},\n"
	"           and \"not_canonical\": [{\"set\", \"stored\", \"prefix\"}...] when any\n";

/* One member of a listed set: its prefix and, when it is written otherwise, its text. */
struct list_ent {
	char *canon;
	const char *stored; /* NULL: canonical */
};

struct list_arg {
	char **mem;
	struct list_ent *e;
	size_t n, cap;
};

static int list_one(void *arg, size_t j, const struct rs_prefix *p, const char *canon)
{
	struct list_arg *a = arg;

	(void)p;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct list_ent *e = realloc(a->e, cap * sizeof(*e));
		if (!e)
			errx(CTL_EXIT_ERROR, "out of memory");
		a->e = e;
		a->cap = cap;
	}
	if (!(a->e[a->n].canon = strdup(canon)))
		errx(CTL_EXIT_ERROR, "out of memory");
	a->e[a->n++].stored = strcmp(canon, a->mem[j]) ? a->mem[j] : NULL;
	return 0;
}

static int list_cmp(const void *pa, const void *pb)
{
	const struct list_ent *a = pa, *b = pb;
	int c = strcmp(a->canon, b->canon);

	if (c || a->stored == b->stored)
		return c;
	if (!a->stored || !b->stored)
		return a->stored ? 1 : -1;
	return strcmp(a->stored, b->stored);
}

/* List set key: text lines "LABEL PREFIX", or a JSON array of the distinct
 * prefixes; the members not in canonical form are flagged (text), or go to
 * nc as "not_canonical" objects (JSON). 0 or the exit code. */
static int list_set(struct ctl *x, const char *key, const char *label, bool json, FILE *nc, size_t *nnc)
{
	struct list_arg a = { 0 };
	size_t nmem = 0;
	char shown[200];
	int ex;

	if ((ex = ip_read_set(x, key, &a.mem, &nmem, list_one, &a)))
		return ex;
	if (a.n > 1)
		qsort(a.e, a.n, sizeof(*a.e), list_cmp);
	if (json)
		putchar('[');
	for (size_t j = 0, out = 0; j < a.n; j++) {
		const struct list_ent *e = &a.e[j];
		if (!json) {
			printf("%s %s", label, e->canon);
			if (e->stored)
				printf("  (stored as '%s': not canonical)",
				       ctl_show(e->stored, strlen(e->stored), 60, shown, sizeof(shown)));
			putchar('\n');
			continue;
		}
		if (e->stored) {
			fprintf(nc, "%s{\"set\":", (*nnc)++ ? "," : "");
			ctl_json_str(nc, key + strlen(x->prefix));
			fputs(",\"stored\":", nc);
			ctl_json_str(nc, e->stored);
			fputs(",\"prefix\":", nc);
			ctl_json_str(nc, e->canon);
			fputc('}', nc);
		}
		if (j && strcmp(e->canon, a.e[j - 1].canon) == 0)
			continue; /* the same prefix, in another text */
		if (out++)
			putchar(',');
		ctl_json_str(stdout, e->canon);
	}
	if (json)
		putchar(']');
	for (size_t j = 0; j < a.n; j++)
		free(a.e[j].canon);
	free(a.e);
	ctl_free_strings(a.mem, nmem);
	return 0;
}

int cmd_ip(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc > 1 ? argv[1] : NULL;
	char k[CTL_KEY_MAX], **ids = NULL, *ncbuf = NULL;
	size_t nids = 0, ncsize = 0, nnc = 0;
	FILE *nc = NULL;
	bool json = false;
	int c, ex = 0;

	x->usage = ip_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(ip_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "list") != 0)
		return ctl_usage_error(x, "unknown subcommand 'ip %.40s'", sub);
	x->cmd = "ip list";
	argc--, argv++;
	while ((c = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == O_JSON)
			json = true;
	}
	if (argc - optind > 1)
		return ctl_usage_error(x, "expected at most one order ID");
	if (optind < argc && !rs_order_id_ok(argv[optind]))
		return ctl_usage_error(x, "order ID '%.60s': " RS_ORDER_ID_RULE, argv[optind]);
	if ((ex = ctl_open(x)))
		return ex;
	if (optind < argc) {
		if (!(ids = malloc(sizeof(*ids))) || !(ids[0] = strdup(argv[optind])))
			errx(CTL_EXIT_ERROR, "out of memory");
		nids = 1;
	} else if ((ex = ctl_set_members(x, ctl_key(x, k, "orders"), &ids, &nids))) {
		return ex;
	}
	if (json) {
		if (!(nc = open_memstream(&ncbuf, &ncsize)))
			errx(CTL_EXIT_ERROR, "out of memory");
		printf("{\"orders\":{");
	}
	for (size_t i = 0, shown = 0; i < nids; i++) {
		if (!rs_order_id_ok(ids[i]))
			continue;
		if (json) {
			printf("%s", shown++ ? "," : "");
			ctl_json_str(stdout, ids[i]);
			putchar(':');
		}
		if ((ex = list_set(x, ctl_key(x, k, "order:%s:ips", ids[i]), ids[i], json, nc, &nnc)))
			goto out;
	}
	if (json)
		printf("},\"protected\":");
	if ((ex = list_set(x, ctl_key(x, k, "protected-ips"), "protected", json, nc, &nnc)))
		goto out;
	if (json) {
		fflush(nc);
		if (nnc)
			printf(",\"not_canonical\":[%s]", ncbuf);
		printf("}\n");
	}
out:
	if (nc)
		fclose(nc);
	free(ncbuf);
	ctl_free_strings(ids, nids);
	return ex;
}

/* ---- ticket import ---- */

static const char ticket_usage[] =
	"Usage: redsink-ctl ticket import ORDER [PUSH OPTIONS] FILE...\n"
	"\n"
	"Import whole Piracy-Shield tickets (a ticket object, or an array of them,\n"
	"with \"fqdn\", \"ipv4\" and \"ipv6\" arrays and a \"ticket_id\") under ORDER in\n"
	"one transaction: the names as push pushes them (public-suffix and protected-\n"
	"name guards), the addresses as addip adds them (protected-prefix and /24 / /48\n"
	"guards). The same as 'redsink-ctl push ORDER --format piracy-shield FILE...'.\n"
	"When no --why is given, the entries record \"piracy-shield ticket ID\".\n"
	"\n"
	"  --override   list refused prefixes anyway (needs --why; recorded)\n"
	"  other options: as for push (redsink-ctl push --help)\n";

int cmd_ticket(struct ctl *x, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	char **nargv;
	int n = 0, ex;

	x->usage = ticket_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(ticket_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "import") != 0)
		return ctl_usage_error(x, "unknown subcommand 'ticket %.40s'", sub);
	x->cmd = "ticket import";
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(ticket_usage, stdout);
			return 0;
		}
	nargv = calloc((size_t)argc + 4, sizeof(*nargv));
	if (!nargv)
		errx(CTL_EXIT_ERROR, "out of memory");
	nargv[n++] = (char *)"push";
	nargv[n++] = (char *)"--format"; /* before the user's arguments: after a "--" they would be files */
	nargv[n++] = (char *)"piracy-shield";
	for (int i = 2; i < argc; i++)
		nargv[n++] = argv[i];
	nargv[n] = NULL;
	ex = cmd_push(x, n, nargv);
	free(nargv);
	return ex;
}
