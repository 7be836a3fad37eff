/*
 * ctl_dataset.c — the dataset identity (doc/dataset.md): `redsink-ctl dataset
 * show|new`, and the check every write command makes before it writes.
 *
 * One Redis holds one dataset, named by the `dataset` hash under the prefix
 * (id, generation, supersedes, created, by, why; lib/dataset.h parses it).
 * Resolvers remember the id their list came from and report it in their
 * heartbeat (`dataset`, and `dataset_alarm` when Redis no longer holds it);
 * they never adopt an empty or foreign dataset unless it says it supersedes
 * theirs. So:
 *
 *  - a write on a Redis without identity creates one (generation 1) in the
 *    same MULTI/EXEC as the write, silently — unless resolvers report a
 *    dataset: then this Redis lost its data (or is not the one they follow)
 *    and writing into it would build a foreign dataset; the write is refused.
 *  - `dataset new` is the deliberate way to start over: a new random id that
 *    supersedes the current one and every one the resolvers report, with a
 *    `changes` entry op=dataset so that readers re-check at once.
 *
 * Only commands of the `regulator` ACL role are used (HGETALL, HSET, SCAN,
 * WATCH, XADD: doc/acl.md); that role cannot DEL, so a `dataset` key of the
 * wrong type must be removed by an administrator.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_fleet.h"
#include "ctl_name.h"
#include "dataset.h"
#include "rs_err.h"

/* ---- reading ---- */

static char *dup_or_die(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		errx(CTL_EXIT_ERROR, "out of memory");
	return d;
}

void ctl_dataset_cur_clear(struct ctl_dataset_cur *c)
{
	free(c->id);
	free(c->generation);
	free(c->supersedes);
	free(c->created);
	free(c->by);
	free(c->why);
	memset(c, 0, sizeof(*c));
}

/* What is wrong with a present, invalid identity (for messages). */
static void explain(struct ctl_dataset_cur *c)
{
	const char *p;
	size_t n = 0;

	if (c->wrongtype) {
		snprintf(c->why_bad, sizeof(c->why_bad), "the key is not a hash");
		return;
	}
	if (!*c->id) {
		snprintf(c->why_bad, sizeof(c->why_bad), "it has no id field");
		return;
	}
	if (!rs_dataset_id_ok(c->id)) {
		snprintf(c->why_bad, sizeof(c->why_bad), "its id is not %d lowercase hex digits", RS_DATASET_ID_LEN);
		return;
	}
	{
		const char *kv[] = { "id", c->id, "generation", c->generation };
		struct rs_dataset d;
		rs_dataset_parse(kv, 2, &d);
		if (!d.valid) {
			snprintf(c->why_bad, sizeof(c->why_bad), "its generation is not a positive number");
			return;
		}
	}
	for (p = c->supersedes; *p;) {
		size_t k;
		char id[RS_DATASET_ID_LEN + 2];
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		k = strcspn(p, " \t");
		snprintf(id, sizeof(id), "%.*s", (int)(k < sizeof(id) - 1 ? k : sizeof(id) - 1), p);
		if (k != RS_DATASET_ID_LEN || !rs_dataset_id_ok(id)) {
			snprintf(c->why_bad, sizeof(c->why_bad), "its supersedes field holds something that is not an id");
			return;
		}
		n++;
		p += k;
	}
	if (n > RS_DATASET_SUPERSEDES_MAX) {
		snprintf(c->why_bad, sizeof(c->why_bad), "it supersedes more than %d datasets",
			 RS_DATASET_SUPERSEDES_MAX);
		return;
	}
	snprintf(c->why_bad, sizeof(c->why_bad), "a field appears twice or holds binary data");
}

int ctl_dataset_read(struct ctl *x, struct ctl_dataset_cur *c)
{
	char k[CTL_KEY_MAX];
	const char **kv = NULL;
	redisReply *r;
	size_t npairs = 0;

	memset(c, 0, sizeof(*c));
	r = redisCommand(x->conn.c, "HGETALL %s", ctl_key(x, k, "dataset"));
	if (!r) {
		ctl_fail(&x->conn, "HGETALL", NULL);
		return ctl_redis_failed(x);
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (strncmp(r->str, "WRONGTYPE", 9) != 0) {
			ctl_fail(&x->conn, "HGETALL", r->str);
			freeReplyObject(r);
			return ctl_redis_failed(x);
		}
		c->wrongtype = true;
		c->d.present = true;
	} else if (r->type == REDIS_REPLY_ARRAY) {
		npairs = r->elements / 2;
		kv = calloc(2 * npairs + 1, sizeof(*kv));
		if (!kv)
			errx(CTL_EXIT_ERROR, "out of memory");
		for (size_t i = 0; i < 2 * npairs; i++) {
			const redisReply *e = r->element[i];
			/* a value with a NUL inside is junk: an invalid id, or ignored */
			kv[i] = e->type == REDIS_REPLY_STRING && strlen(e->str) == e->len ? e->str : "\x01";
		}
		rs_dataset_parse(kv, npairs, &c->d);
		for (size_t i = 0; i < npairs; i++) {
			const char *f = kv[2 * i], *v = kv[2 * i + 1];
			char **slot = strcmp(f, "id") == 0	    ? &c->id
				      : strcmp(f, "generation") == 0 ? &c->generation
				      : strcmp(f, "supersedes") == 0 ? &c->supersedes
				      : strcmp(f, "created") == 0    ? &c->created
				      : strcmp(f, "by") == 0	    ? &c->by
				      : strcmp(f, "why") == 0	    ? &c->why
								    : NULL;
			if (slot && !*slot)
				*slot = dup_or_die(v);
		}
		free(kv);
	}
	freeReplyObject(r);
	c->id = c->id ? c->id : dup_or_die("");
	c->generation = c->generation ? c->generation : dup_or_die("");
	c->supersedes = c->supersedes ? c->supersedes : dup_or_die("");
	c->created = c->created ? c->created : dup_or_die("");
	c->by = c->by ? c->by : dup_or_die("");
	c->why = c->why ? c->why : dup_or_die("");
	if (c->d.present && !c->d.valid)
		explain(c);
	return 0;
}

/* ---- writing ---- */

/* A new random id: RS_DATASET_ID_LEN lowercase hex digits. */
static void new_id(char out[RS_DATASET_ID_LEN + 1])
{
	unsigned char b[RS_DATASET_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
			if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
				err(CTL_EXIT_ERROR, "no random numbers for a dataset id (getrandom, /dev/urandom)");
			close(fd);
			break;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void now_rfc3339(char buf[32])
{
	ctl_fmt_time((int64_t)time(NULL), buf);
}

/* The HSET that writes a whole identity (every field, so nothing stale stays). */
#define DS_HSET_ARGC 14
static void hset_argv(const char **argv, const char *key, const char *id, const char *gen, const char *sup,
		      const char *created, const char *by, const char *why)
{
	const char *v[DS_HSET_ARGC] = { "HSET",	      key, "id",      id, "generation", gen, "supersedes",
					sup,	      "created", created, "by", by, "why", why };

	memcpy(argv, v, sizeof(v));
}

/* The refusal message's list of the resolvers that hold a dataset. */
static void holders(const struct ctl_hb *h, size_t n, char *names, size_t nsz, char *ids, size_t isz)
{
	names[0] = ids[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		char shown[200];
		if (!*h[i].f[HB_DATASET])
			continue;
		ctl_show(h[i].name, strlen(h[i].name), 60, shown, sizeof(shown));
		if (strlen(names) + strlen(shown) + 8 < nsz)
			snprintf(names + strlen(names), nsz - strlen(names), "%s%s", *names ? ", " : "", shown);
		for (size_t j = 0; j < i; j++)
			seen |= *h[j].f[HB_DATASET] && strcmp(h[j].f[HB_DATASET], h[i].f[HB_DATASET]) == 0;
		if (seen)
			continue;
		ctl_show(h[i].f[HB_DATASET], strlen(h[i].f[HB_DATASET]), 40, shown, sizeof(shown));
		if (strlen(ids) + strlen(shown) + 8 < isz)
			snprintf(ids + strlen(ids), isz - strlen(ids), "%s%s", *ids ? ", " : "", shown);
	}
}

int ctl_dataset_ensure(struct ctl *x)
{
	char k[CTL_KEY_MAX], id[RS_DATASET_ID_LEN + 1], created[32];
	struct ctl_dataset_cur c;
	struct ctl_hb *h = NULL;
	size_t nh = 0, nheld = 0;
	redisReply *r;
	int ex;

	x->writing = true; /* every write command comes here first: orders it loads are prepared for signing (ctl_sign.h) */
	ctl_key(x, k, "dataset");
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", k);
	if (!r)
		return ctl_redis_failed(x);
	freeReplyObject(r);
	if ((ex = ctl_dataset_read(x, &c)))
		return ex;
	if (c.d.valid) {
		ctl_dataset_cur_clear(&c);
		return 0;
	}
	if (c.d.present) {
		warnx("Redis %s: the dataset identity %s is unreadable: %s. Nothing written: resolvers holding a list "
		      "ignore this Redis until its identity is sound. %s (doc/dataset.md)",
		      x->conn.ep.addr, k, c.why_bad,
		      c.wrongtype ? "An administrator must delete the key (redis-cli DEL), then run 'redsink-ctl "
				    "dataset new --why TEXT'."
				  : "Start a new dataset with 'redsink-ctl dataset new --why TEXT'.");
		ctl_dataset_cur_clear(&c);
		return CTL_EXIT_ERROR;
	}
	ctl_dataset_cur_clear(&c);
	if ((ex = ctl_heartbeats(x, &h, &nh)))
		return ex;
	for (size_t i = 0; i < nh; i++)
		nheld += *h[i].f[HB_DATASET] != '\0';
	if (nheld > 0) {
		char names[600], ids[600];
		holders(h, nh, names, sizeof(names), ids, sizeof(ids));
		warnx("Redis %s has no dataset identity (%s), but resolver%s %s enforce%s dataset %s: this Redis lost "
		      "its data, or is not the one they follow. Nothing written. Restore it from a backup; or, to "
		      "make what it holds now the list every resolver enforces, start a new dataset with "
		      "'redsink-ctl dataset new --why TEXT' (doc/dataset.md)",
		      x->conn.ep.addr, k, nheld == 1 ? "" : "s", names, nheld == 1 ? "s" : "", ids);
		ctl_heartbeats_free(h, nh);
		return CTL_EXIT_ERROR;
	}
	ctl_heartbeats_free(h, nh);
	/* first use: the identity goes into the caller's transaction */
	{
		const char *argv[DS_HSET_ARGC];
		new_id(id);
		now_rfc3339(created);
		hset_argv(argv, k, id, "1", "", created, x->by, "first write to this Redis");
		if (ctl_tx_pre_add(&x->conn, DS_HSET_ARGC, argv))
			errx(CTL_EXIT_ERROR, "out of memory");
	}
	return 0;
}

/* ---- dataset show / new ---- */

static const char dataset_usage[] =
	"Usage: redsink-ctl dataset show [--json]\n"
	"       redsink-ctl dataset new --why TEXT [--supersedes ID]... [--without-resolvers]\n"
	"                               [--dry-run]\n"
	"\n"
	"The dataset identity (doc/dataset.md): which dataset this Redis holds, and\n"
	"which dataset each resolver enforces. A resolver never adopts an empty or\n"
	"foreign dataset on its own: when Redis lost its data, or is another Redis,\n"
	"it keeps its list and raises an alarm (dataset_alarm in its heartbeat).\n"
	"\n"
	"  show               the identity and every resolver's dataset and alarm\n"
	"  new                start a new dataset: what this Redis holds now becomes\n"
	"                     the list every resolver enforces. It supersedes the\n"
	"                     current dataset, every dataset the resolvers' heartbeats\n"
	"                     report and the --supersedes ones (at most 16).\n"
	"  --why TEXT         why (required for new; recorded in the identity and the\n"
	"                     change stream)\n"
	"  --supersedes ID    also supersede dataset ID (e.g. the one redsink-warnd\n"
	"                     reports, or a resolver that is down); repeatable\n"
	"  --without-resolvers  do not supersede the datasets the resolvers report:\n"
	"                     they keep their lists (alarm 'foreign') while you\n"
	"                     rebuild this Redis; a later 'dataset new' hands it over\n"
	"  -n, --dry-run      new: say what would be written, write nothing\n"
	"  --json             show: JSON\n";

enum { O_DS_JSON = 700, O_DS_WHY, O_DS_SUPERSEDES, O_DS_WITHOUT };

static void json_kv(const char *k, const char *v, bool comma)
{
	printf("%s\"%s\":", comma ? "," : "", k);
	ctl_json_str(stdout, v);
}

static void show_text(const char *label, const char *s)
{
	char shown[1200];

	ctl_show(s, strlen(s), 300, shown, sizeof(shown));
	printf("%s%s\n", label, shown);
}

static int dataset_show(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_DS_JSON },
		{ NULL, 0, NULL, 0 },
	};
	char k[CTL_KEY_MAX];
	struct ctl_dataset_cur c;
	struct ctl_hb *h = NULL;
	size_t nh = 0;
	bool json = false;
	int ch, ex;

	while ((ch = ctl_getopt(x, argc, argv, "", opts, &ex)) != -1) {
		if (ch == CTL_OPT_EXIT)
			return ex;
		if (ch == O_DS_JSON)
			json = true;
	}
	if (optind < argc)
		return ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
	if ((ex = ctl_open(x)))
		return ex;
	ctl_key(x, k, "dataset");
	if ((ex = ctl_dataset_read(x, &c)))
		return ex;
	if ((ex = ctl_heartbeats(x, &h, &nh))) {
		ctl_dataset_cur_clear(&c);
		return ex;
	}
	if (json) {
		printf("{");
		json_kv("key", k, false);
		printf(",\"present\":%s,\"valid\":%s", c.d.present ? "true" : "false", c.d.valid ? "true" : "false");
		json_kv("error", c.d.present && !c.d.valid ? c.why_bad : "", true);
		json_kv("id", c.d.valid ? c.d.id : c.id, true);
		printf(",\"generation\":%llu,\"supersedes\":[", (unsigned long long)c.d.generation);
		for (size_t i = 0; i < c.d.nsupersedes; i++) {
			if (i)
				putchar(',');
			ctl_json_str(stdout, c.d.supersedes[i]);
		}
		printf("]");
		json_kv("created", c.created, true);
		json_kv("by", c.by, true);
		json_kv("why", c.why, true);
		printf(",\"resolvers\":[");
		for (size_t i = 0; i < nh; i++) {
			printf("%s{", i ? "," : "");
			json_kv("name", h[i].name, false);
			json_kv("dataset", h[i].f[HB_DATASET], true);
			json_kv("dataset_alarm", h[i].f[HB_DATASET_ALARM], true);
			printf(",\"same\":%s}", c.d.valid && strcmp(h[i].f[HB_DATASET], c.d.id) == 0 ? "true" : "false");
		}
		printf("]}\n");
	} else {
		struct ctl_table t = { 0 };
		if (c.d.valid) {
			printf("dataset %s, generation %llu (%s)\n", c.d.id, (unsigned long long)c.d.generation, k);
			show_text("  created: ", c.created);
			show_text("  by:      ", c.by);
			show_text("  why:     ", c.why);
			printf("  supersedes:");
			for (size_t i = 0; i < c.d.nsupersedes; i++)
				printf(" %s", c.d.supersedes[i]);
			printf("%s\n", c.d.nsupersedes ? "" : " (none)");
		} else if (c.d.present) {
			printf("dataset identity %s is UNREADABLE: %s\n", k, c.why_bad);
		} else {
			printf("no dataset identity (%s): %s\n", k,
			       nh ? "the next write creates one, unless resolvers enforce a dataset"
				  : "the next write creates one");
		}
		if (nh == 0) {
			printf("no resolver has sent a heartbeat in the last 30 s\n");
		} else {
			ctl_table_row(&t, 3, "RESOLVER", "DATASET", "ALARM");
			for (size_t i = 0; i < nh; i++)
				ctl_table_row(&t, 3, h[i].name, *h[i].f[HB_DATASET] ? h[i].f[HB_DATASET] : "-",
					      *h[i].f[HB_DATASET_ALARM] ? h[i].f[HB_DATASET_ALARM] : "-");
			ctl_table_print(&t, stdout);
			ctl_table_free(&t);
		}
	}
	ctl_dataset_cur_clear(&c);
	ctl_heartbeats_free(h, nh);
	return 0;
}

/* Add id to the set sup[0..*n) unless there; false when it is full. */
static bool sup_add(char sup[][RS_DATASET_ID_LEN + 1], size_t *n, size_t max, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(sup[i], id) == 0)
			return true;
	if (*n == max)
		return false;
	memcpy(sup[(*n)++], id, RS_DATASET_ID_LEN + 1);
	return true;
}

static int dataset_new(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "why", required_argument, NULL, O_DS_WHY },
		{ "reason", required_argument, NULL, O_DS_WHY },
		{ "supersedes", required_argument, NULL, O_DS_SUPERSEDES },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "without-resolvers", no_argument, NULL, O_DS_WITHOUT },
		{ NULL, 0, NULL, 0 },
	};
	/* room for more than the limit, to say how many there would be */
	enum { ROOM = 4 * RS_DATASET_SUPERSEDES_MAX + 64 };
	char(*sup)[RS_DATASET_ID_LEN + 1] = calloc(ROOM, sizeof(*sup));
	char k[CTL_KEY_MAX], kc[CTL_KEY_MAX], id[RS_DATASET_ID_LEN + 1], gen[24], created[32];
	char *suptext = NULL;
	const char *why = NULL, *complaint, *given[RS_DATASET_SUPERSEDES_MAX + 1];
	size_t ngiven = 0, nsup = 0;
	struct ctl_dataset_cur c = { 0 };
	struct ctl_hb *h = NULL;
	size_t nh = 0;
	bool dry = false, have_cur = false, without = false;
	struct ctl_tx t;
	redisReply *r;
	int ch, ex, rc;

	if (!sup)
		errx(CTL_EXIT_ERROR, "out of memory");
	while ((ch = ctl_getopt(x, argc, argv, "n", opts, &ex)) != -1) {
		if (ch == CTL_OPT_EXIT)
			goto out;
		if (ch == O_DS_WHY) {
			why = optarg;
		} else if (ch == 'n') {
			dry = true;
		} else if (ch == O_DS_WITHOUT) {
			without = true;
		} else if (ch == O_DS_SUPERSEDES) {
			if (!rs_dataset_id_ok(optarg)) {
				ex = ctl_usage_error(x, "--supersedes: '%.60s' is not a dataset id (%d lowercase hex digits)",
						     optarg, RS_DATASET_ID_LEN);
				goto out;
			}
			if (ngiven == RS_DATASET_SUPERSEDES_MAX) {
				ex = ctl_usage_error(x, "--supersedes: at most %d", RS_DATASET_SUPERSEDES_MAX);
				goto out;
			}
			given[ngiven++] = optarg;
		}
	}
	if (optind < argc) {
		ex = ctl_usage_error(x, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!why || !*why) {
		ex = ctl_usage_error(x, "--why TEXT is required: it is recorded with the new dataset");
		goto out;
	}
	if (!ctl_text_ok(why, CTL_TEXT_MAX, &complaint)) {
		ex = ctl_usage_error(x, "--why %s", complaint);
		goto out;
	}
	if ((ex = ctl_open(x)))
		goto out;
	ctl_key(x, k, "dataset");
	ctl_key(x, kc, "changes");
	r = ctl_cmd(&x->conn, "WATCH", "WATCH %s", k);
	if (!r) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	freeReplyObject(r);
	if ((ex = ctl_dataset_read(x, &c)))
		goto out;
	have_cur = true;
	if (c.wrongtype) {
		warnx("Redis %s: %s is not a hash, and redsink-ctl cannot delete keys (doc/acl.md): an administrator "
		      "must delete it (redis-cli DEL %s), then run this command again. Nothing written.",
		      x->conn.ep.addr, k, k);
		ex = CTL_EXIT_ERROR;
		goto unwatch;
	}
	if ((ex = ctl_heartbeats(x, &h, &nh)))
		goto out;
	if (c.d.valid)
		sup_add(sup, &nsup, ROOM, c.d.id);
	for (size_t i = 0; i < nh && !without; i++) {
		if (!*h[i].f[HB_DATASET])
			continue;
		if (!rs_dataset_id_ok(h[i].f[HB_DATASET])) {
			warnx("warning: resolver '%s' reports a malformed dataset id; not superseded", h[i].name);
			continue;
		}
		sup_add(sup, &nsup, ROOM, h[i].f[HB_DATASET]);
	}
	for (size_t i = 0; i < ngiven; i++)
		sup_add(sup, &nsup, ROOM, given[i]);
	if (nsup > RS_DATASET_SUPERSEDES_MAX) {
		warnx("the new dataset would supersede %zu datasets (the current one, those the resolvers report and "
		      "--supersedes), more than %d: nothing written. Bring the resolvers onto fewer datasets first "
		      "(doc/dataset.md)",
		      nsup, RS_DATASET_SUPERSEDES_MAX);
		ex = CTL_EXIT_ERROR;
		goto unwatch;
	}
	suptext = calloc(nsup + 1, RS_DATASET_ID_LEN + 1);
	if (!suptext)
		errx(CTL_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < nsup; i++) {
		if (i)
			strcat(suptext, " ");
		strcat(suptext, sup[i]);
	}
	new_id(id);
	snprintf(gen, sizeof(gen), "%llu", c.d.valid ? (unsigned long long)c.d.generation + 1 : 1ULL);
	now_rfc3339(created);
	if (dry) {
		printf("would start dataset %s, generation %s, superseding: %s\nnothing written (dry run)\n", id, gen,
		       nsup ? suptext : "(none)");
		ex = 0;
		goto unwatch;
	}
	ctl_tx_begin(&t, &x->conn);
	{
		const char *hv[DS_HSET_ARGC];
		size_t lens[DS_HSET_ARGC];
		hset_argv(hv, k, id, gen, suptext, created, x->by, why);
		for (int i = 0; i < DS_HSET_ARGC; i++)
			lens[i] = strlen(hv[i]);
		ctl_tx_argv(&t, DS_HSET_ARGC, hv, lens);
	}
	{
		const char *xv[] = { "XADD", kc, "*", "op", "dataset", "dataset", id, "by", x->by, "why", why };
		size_t lens[sizeof(xv) / sizeof(xv[0])];
		for (size_t i = 0; i < sizeof(xv) / sizeof(xv[0]); i++)
			lens[i] = strlen(xv[i]);
		ctl_tx_argv(&t, (int)(sizeof(xv) / sizeof(xv[0])), xv, lens);
	}
	rc = ctl_tx_exec(&t, &r);
	if (rc == CTL_TX_CONFLICT) {
		warnx("the dataset identity changed meanwhile (another redsink-ctl?): nothing written; look with "
		      "'redsink-ctl dataset show' and run the command again");
		ex = CTL_EXIT_ERROR;
		goto out;
	}
	if (rc) {
		ex = ctl_redis_failed(x);
		goto out;
	}
	if (!x->quiet) {
		printf("dataset %s, generation %s, started (change %s)\n", id, gen,
		       r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
		printf("supersedes: %s\n", nsup ? suptext : "(none)");
		printf("%s\n", without ? "resolvers keep their lists until a 'dataset new' supersedes theirs"
				       : "resolvers holding a superseded dataset now adopt what this Redis holds");
	}
	freeReplyObject(r);
	ex = 0;
	goto out;
unwatch:
	r = ctl_cmd(&x->conn, "UNWATCH", "UNWATCH");
	freeReplyObject(r);
out:
	if (have_cur)
		ctl_dataset_cur_clear(&c);
	ctl_heartbeats_free(h, nh);
	free(suptext);
	free(sup);
	return ex;
}

int cmd_dataset(struct ctl *x, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	x->usage = dataset_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(dataset_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "show") == 0) {
		x->cmd = "dataset show";
		return dataset_show(x, argc - 1, argv + 1);
	}
	if (strcmp(sub, "new") == 0) {
		x->cmd = "dataset new";
		return dataset_new(x, argc - 1, argv + 1);
	}
	x->cmd = "dataset";
	return ctl_usage_error(x, "unknown subcommand 'dataset %.40s'", sub);
}
