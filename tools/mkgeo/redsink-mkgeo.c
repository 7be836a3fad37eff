/*
 * redsink-mkgeo — build a small MaxMind DB (GeoIP2 City layout) from a CSV
 * address plan of networks, countries and subdivisions, for redsink's region
 * statistics (redsink-warnd page views, the module's DNS hits) and their
 * tests. The manual is redsink-mkgeo(1).
 *
 * Input, one network per line (mkgeo_parse.h): network,country[,subdivision],
 * e.g. "10.1.0.0/16,IT,IT-25". Records carry country.iso_code and, when
 * given, subdivisions[0].iso_code ("25": stored without the "IT-" prefix, as
 * MaxMind does). Reserved networks are accepted on purpose: tests use them.
 *
 * The steps:
 * 1. read and check every line of every input (stdin without CSV); each
 *    error is reported as FILE:LINE and counted; the same network twice with
 *    different data is an error, with the same data a warning (kept once);
 * 2. insert the networks into the tree (mmdb_write.h) from the shortest
 *    prefix to the longest: the tree itself lets the longest prefix win
 *    whatever the order, the order only fixes the order of the messages
 *    about the IPv4 aliases (::ffff:0:0/96, 2001::/32, 2002::/16), which
 *    cannot be given;
 * 3. any error: "N errors; nothing written", exit 5, OUT untouched;
 *    else write OUT.tmp and rename it over OUT (a reader sees the old file or
 *    the new one).
 *
 * The command line, messages and exit codes are those of the Perl script it
 * replaces (issue 11): the redsink tools' one scheme (lib/cli.h): 0 written,
 * 1 an input cannot be read or OUT cannot be written, 2 usage, 5 input data
 * invalid.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mkgeo_parse.h"
#include "mmdb_write.h"
#include "rs_err.h"

#define PROG "redsink-mkgeo"
#define DEFAULT_OUT "redsink-geo.mmdb"
#define DEFAULT_TYPE "redsink-GeoIP2-City"
#define DESCRIPTION "redsink test regions (redsink-mkgeo)"

/* One network of the plan, where it was read. */
struct net {
	struct mkgeo_net n;
	const char *file; /* the name shown in messages ("(stdin)") */
	unsigned long line;
	size_t order;  /* input order */
	uint32_t data; /* data id: networks with equal data share one record */
};

/* Every distinct network (the first line that gave it), and a hash of them. */
struct plan {
	struct net *nets;
	size_t n, cap;
	size_t *slots; /* index + 1 into nets, 0 empty */
	size_t nslots;
	unsigned errors;
};

static void usage(FILE *f)
{
	fputs("usage: " PROG " [-o OUT.mmdb] [--type NAME] [CSV...]\n"
	      "\n"
	      "Build a MaxMind DB (GeoIP2 City layout: country.iso_code, subdivisions.0.iso_code)\n"
	      "from CSV lines \"network,country[,subdivision]\" (files, or stdin when none), e.g.\n"
	      "\n"
	      "    10.0.0.0/8,IT\n"
	      "    10.1.0.0/16,IT,IT-25\n"
	      "    127.0.0.2/32,KR\n"
	      "\n"
	      "The longest prefix wins, whatever the order of the lines. Host bits set\n"
	      "(10.0.0.1/8) and the same network twice with different data are errors:\n"
	      "nothing is written (exit 5).\n"
	      "\n"
	      "  -o, --output FILE   database to write (default " DEFAULT_OUT ")\n"
	      "  -t, --type NAME     database_type in the metadata (default " DEFAULT_TYPE ")\n"
	      "  -h, --help          this text\n"
	      "      --version       print the version and exit\n"
	      "\n" CLI_EXIT_TEXT "\n"
	      "Reserved networks (loopback, private) are accepted. Check the result with\n"
	      "mmdblookup --file OUT.mmdb --ip 10.1.2.3\n"
	      "See " PROG "(1).\n",
	      f);
}

/* s on stderr, control octets as \xNN (file names and options come from users). */
static void put_shown(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
}

/*
 * One line per rejected option, as the Perl script's Getopt::Long said it
 * ("unknown option: x"), naming the help and the manual. getopt_long leaves
 * optopt 0 for an unknown long option, the option's value for a long one
 * given a value it does not take or missing its value, and the letter for
 * a short one; only a long option has moved optind past itself for sure
 * (a letter may sit inside a bundle such as -xh).
 */
static void bad_option(int ch, const char *arg, const struct option *longopts)
{
	bool known = false, is_long;
	char name[128];

	for (const struct option *o = longopts; o->name; o++)
		known |= optopt != 0 && optopt == o->val;
	if (ch == ':') /* a missing value: its option ended the argument, optind moved past it */
		is_long = strncmp(arg, "--", 2) == 0;
	else /* unknown long (optopt 0), a long one given a value (known), or an unknown letter */
		is_long = optopt == 0 || known;
	if (is_long) {
		size_t n = strcspn(arg + 2, "=");

		snprintf(name, sizeof(name), "%.*s", (int)(n < 100 ? n : 100), arg + 2);
		/* an abbreviation names the option it stands for */
		for (const struct option *o = longopts; o->name; o++)
			if (n > 0 && strncmp(o->name, name, n) == 0) {
				snprintf(name, sizeof(name), "%s", o->name);
				break;
			}
	} else {
		snprintf(name, sizeof(name), "%c", optopt);
	}
	fprintf(stderr, PROG ": ");
	if (ch == ':') {
		fprintf(stderr, "option ");
		put_shown(name);
		fprintf(stderr, " requires an argument");
	} else if (is_long && optopt) {
		fprintf(stderr, "option ");
		put_shown(name);
		fprintf(stderr, " does not take an argument");
	} else {
		fprintf(stderr, "unknown option: ");
		put_shown(name);
	}
	fprintf(stderr, " (see " PROG " --help or man " PROG ")\n");
}

static bool same_key(const struct mkgeo_net *a, const struct mkgeo_net *b)
{
	return a->depth == b->depth && memcmp(a->key, b->key, sizeof(a->key)) == 0;
}

static size_t hash_key(const struct mkgeo_net *n)
{
	uint64_t h = 1469598103934665603ull ^ n->depth;

	for (size_t i = 0; i < sizeof(n->key); i++)
		h = (h ^ n->key[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The network of the plan with n's key, or NULL. */
static struct net *plan_find(const struct plan *p, const struct mkgeo_net *n)
{
	if (!p->nslots)
		return NULL;
	for (size_t i = hash_key(n) & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
		if (!p->slots[i])
			return NULL;
		if (same_key(&p->nets[p->slots[i] - 1].n, n))
			return &p->nets[p->slots[i] - 1];
	}
}

static int plan_add(struct plan *p, const struct net *e)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct net *nets = realloc(p->nets, cap * sizeof(*nets));

		if (!nets)
			return RS_ENOMEM;
		p->nets = nets;
		p->cap = cap;
	}
	if (2 * (p->n + 1) > p->nslots) {
		size_t nslots = p->nslots ? p->nslots * 2 : 128;
		size_t *slots = calloc(nslots, sizeof(*slots));

		if (!slots)
			return RS_ENOMEM;
		free(p->slots);
		p->slots = slots;
		p->nslots = nslots;
		for (size_t k = 0; k < p->n; k++) {
			size_t i = hash_key(&p->nets[k].n) & (nslots - 1);

			while (slots[i])
				i = (i + 1) & (nslots - 1);
			slots[i] = k + 1;
		}
	}
	p->nets[p->n] = *e;
	{
		size_t i = hash_key(&e->n) & (p->nslots - 1);

		while (p->slots[i])
			i = (i + 1) & (p->nslots - 1);
		p->slots[i] = p->n + 1;
	}
	p->n++;
	return 0;
}

/* Step 1 for one input: every line checked, errors counted. 0, or CLI_EXIT_ERROR. */
static int read_input(struct plan *p, const char *path)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "(stdin)" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	char *line = NULL, why[MKGEO_WHY_MAX];
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int rc = 0;

	if (!f) {
		fprintf(stderr, PROG ": ");
		put_shown(path);
		fprintf(stderr, ": %s\n", strerror(errno));
		return CLI_EXIT_ERROR;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct net e = { .file = name, .line = ++lineno, .order = p->n };
		struct net *first;
		int r = mkgeo_parse_line(line, (size_t)len, &e.n, why, sizeof(why));

		if (r == MKGEO_LINE_SKIP)
			continue;
		if (r < 0) {
			fprintf(stderr, PROG ": ");
			put_shown(name);
			fprintf(stderr, ":%lu: %s\n", lineno, why);
			p->errors++;
			continue;
		}
		first = plan_find(p, &e.n);
		if (first) {
			fprintf(stderr, PROG ": ");
			put_shown(name);
			if (strcmp(first->n.data, e.n.data) != 0) {
				fprintf(stderr, ":%lu: %s is %s here but %s at ", lineno, e.n.canon, e.n.data,
					first->n.data);
				p->errors++;
			} else {
				fprintf(stderr, ":%lu: %s repeats ", lineno, e.n.canon);
			}
			put_shown(first->file);
			fprintf(stderr, ":%lu%s\n", first->line,
				strcmp(first->n.data, e.n.data) != 0 ? "" : " (same data, kept once)");
			continue;
		}
		if (plan_add(p, &e) < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			rc = CLI_EXIT_ERROR;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, PROG ": ");
		put_shown(path);
		fprintf(stderr, ": %s\n", strerror(errno));
		rc = CLI_EXIT_ERROR;
	}
	free(line);
	if (!is_stdin)
		fclose(f);
	return rc;
}

static int by_depth(const void *a, const void *b)
{
	const struct net *x = a, *y = b;

	if (x->n.depth != y->n.depth)
		return x->n.depth < y->n.depth ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* One data record per distinct data: {country: {iso_code}, subdivisions: [{iso_code}]}. */
struct record {
	struct mw_value top[4], country[2], subs, sub[2];
	char cc[sizeof(((struct mkgeo_net *)0)->cc)], sub_code[sizeof(((struct mkgeo_net *)0)->sub)];
};

static void record_fill(struct record *r, struct mw_value *v, const struct mkgeo_net *n)
{
	r->country[0] = (struct mw_value){ .type = MW_STRING, .s = "iso_code" };
	memcpy(r->cc, n->cc, sizeof(r->cc)); /* the plan is sorted later: copies */
	memcpy(r->sub_code, n->sub, sizeof(r->sub_code));
	r->country[1] = (struct mw_value){ .type = MW_STRING, .s = r->cc };
	r->top[0] = (struct mw_value){ .type = MW_STRING, .s = "country" };
	r->top[1] = (struct mw_value){ .type = MW_MAP, .n = 1, .items = r->country };
	r->sub[0] = (struct mw_value){ .type = MW_STRING, .s = "iso_code" };
	r->sub[1] = (struct mw_value){ .type = MW_STRING, .s = r->sub_code };
	r->subs = (struct mw_value){ .type = MW_MAP, .n = 1, .items = r->sub };
	r->top[2] = (struct mw_value){ .type = MW_STRING, .s = "subdivisions" };
	r->top[3] = (struct mw_value){ .type = MW_ARRAY, .n = 1, .items = &r->subs };
	*v = (struct mw_value){ .type = MW_MAP, .n = n->sub[0] ? 2 : 1, .items = r->top };
}

/* Data ids: equal data strings, one id (the plan's networks point into p). */
static int assign_data(struct plan *p, struct record **records, struct mw_value **values, size_t *nvalues)
{
	struct plan ids = { 0 }; /* reuses the hash on a key made of the data string */
	size_t k = 0;

	*records = calloc(p->n ? p->n : 1, sizeof(**records));
	*values = calloc(p->n ? p->n : 1, sizeof(**values));
	if (!*records || !*values)
		return RS_ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		struct net e = { 0 };
		struct net *have;

		/* key: the data string in the key octets (at most 7 octets) */
		memcpy(e.n.key, p->nets[i].n.data, sizeof(p->nets[i].n.data));
		have = plan_find(&ids, &e.n);
		if (have) {
			p->nets[i].data = have->data;
			continue;
		}
		e.data = (uint32_t)k;
		if (plan_add(&ids, &e) < 0) {
			free(ids.nets);
			free(ids.slots);
			return RS_ENOMEM;
		}
		record_fill(&(*records)[k], &(*values)[k], &p->nets[i].n);
		p->nets[i].data = (uint32_t)k++;
	}
	free(ids.nets);
	free(ids.slots);
	*nvalues = k;
	return 0;
}

static uint64_t build_epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH"); /* reproducible builds */
	char *end;
	unsigned long long v;

	if (s && *s) {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return v;
	}
	return (uint64_t)time(NULL);
}

/* Step 3: OUT.tmp, then renamed over OUT. 0, or CLI_EXIT_ERROR after a message. */
static int write_file(const char *out, const uint8_t *db, size_t len)
{
	size_t tl = strlen(out) + 5;
	char *tmp = malloc(tl);
	FILE *f;
	int rc = CLI_EXIT_ERROR;
	const char *failed;

	if (!tmp) {
		fprintf(stderr, PROG ": out of memory\n");
		return CLI_EXIT_ERROR;
	}
	snprintf(tmp, tl, "%s.tmp", out);
	failed = tmp;
	f = fopen(tmp, "wb");
	if (!f)
		goto fail;
	/* on disk before the rename, so that a crash leaves the old file or the new one */
	if (fwrite(db, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int e = errno;

		fclose(f);
		errno = e;
		goto fail_unlink;
	}
	if (fclose(f) != 0)
		goto fail_unlink;
	failed = out;
	if (rename(tmp, out) != 0)
		goto fail_unlink;
	free(tmp);
	return 0;

fail_unlink: {
	int e = errno;

	unlink(tmp);
	errno = e;
}
fail:
	fprintf(stderr, PROG ": ");
	put_shown(failed);
	fprintf(stderr, ": %s\n", strerror(errno));
	free(tmp);
	return rc;
}

/* Step 2: the tree. 0, CLI_EXIT_DATA (alias errors, reported), CLI_EXIT_ERROR. */
static int build_tree(struct plan *p, struct mw_tree *t)
{
	qsort(p->nets, p->n, sizeof(*p->nets), by_depth); /* the hash is stale from here on */
	free(p->slots);
	p->slots = NULL;
	p->nslots = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct net *e = &p->nets[i];
		int rc = mw_insert(t, e->n.key, e->n.depth, e->data);

		if (rc == RS_ENOMEM || rc == RS_EFULL) {
			fprintf(stderr, PROG ": %s\n", mw_strerror(rc));
			return CLI_EXIT_ERROR;
		}
		if (rc < 0) {
			fprintf(stderr, PROG ": ");
			put_shown(e->file);
			fprintf(stderr, ":%lu: %s: %s (when inserting %s)\n", e->line, e->n.canon, mw_strerror(rc),
				e->n.canon);
			p->errors++;
		}
	}
	return p->errors ? CLI_EXIT_DATA : 0;
}

static int nothing_written(unsigned errors)
{
	fprintf(stderr, PROG ": %u error%s; nothing written\n", errors, errors == 1 ? "" : "s");
	return CLI_EXIT_DATA;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const languages[] = { "en" };
	static const char *const description[] = { "en", DESCRIPTION };
	const char *out = DEFAULT_OUT, *type = DEFAULT_TYPE;
	bool help = false, version = false, bad = false;
	struct plan p = { 0 };
	struct mw_tree *t = NULL;
	struct record *records = NULL;
	struct mw_value *values = NULL;
	size_t nvalues = 0, dblen = 0;
	uint8_t *db = NULL;
	int c, rc = CLI_EXIT_ERROR;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			version = true;
			break;
		default: /* '?' or ':' — every bad option is reported, then exit 2 */
			bad_option(c, argv[optind - 1], longopts);
			bad = true;
		}
	}
	if (bad)
		return CLI_EXIT_USAGE;
	if (help) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (version) {
		printf(PROG " %s\n", CLI_VERSION);
		return CLI_EXIT_OK;
	}

	/* 1. read and check every line of every input */
	if (optind == argc) {
		rc = read_input(&p, "-");
		if (rc)
			goto out;
	}
	for (int i = optind; i < argc; i++) {
		rc = read_input(&p, argv[i]);
		if (rc)
			goto out;
	}
	if (p.errors) {
		rc = nothing_written(p.errors);
		goto out;
	}

	/* 2. the tree, the longest prefix winning */
	t = mw_tree_new();
	if (!t || assign_data(&p, &records, &values, &nvalues) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	rc = build_tree(&p, t);
	if (rc == CLI_EXIT_DATA)
		rc = nothing_written(p.errors);
	if (rc)
		goto out;

	/* 3. OUT.tmp, then renamed over OUT */
	{
		struct mw_meta meta = { .database_type = type, .languages = languages, .nlanguages = 1,
					.description = description, .ndescription = 1, .build_epoch = build_epoch() };
		int r = mw_serialize(t, values, nvalues, &meta, &db, &dblen, NULL);

		if (r < 0) {
			fprintf(stderr, PROG ": %s\n", mw_strerror(r));
			rc = CLI_EXIT_ERROR;
			goto out;
		}
	}
	rc = write_file(out, db, dblen);
	if (rc)
		goto out;
	fprintf(stderr, PROG ": %zu network%s written to ", p.n, p.n == 1 ? "" : "s");
	put_shown(out);
	fputc('\n', stderr);
	rc = CLI_EXIT_OK;
out:
	free(db);
	free(records);
	free(values);
	mw_tree_free(t);
	free(p.nets);
	free(p.slots);
	return rc;
}
