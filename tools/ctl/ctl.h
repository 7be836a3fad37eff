/*
 * ctl.h — what redsink-ctl's commands share: the context built from the
 * common options, option parsing, keys, orders as stored in Redis, output
 * helpers (times, tables, JSON, progress) and the change-stream script.
 *
 * Every command is a function `int cmd_x(struct ctl *x, int argc, char **argv)`
 * that returns an exit code (CTL_EXIT_*, ctl_redis.h) and prints its own
 * messages with warnx(3). argv[0] is the command's name; options may come
 * before or after the operands.
 */
#ifndef CTL_H
#define CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl_redis.h"
#include "dataset.h"

struct ctl_signer;

#define CTL_PREFIX_DEFAULT "redsink:"
#define CTL_MAX_BATCH_DEFAULT 10000
#define CTL_CHUNK 1000    /* names per SADD / SREM / SMISMEMBER / script call */
#define CTL_TEXT_MAX 2000 /* octets of a why / reason / authority text */
#define CTL_BY_MAX 128

struct ctl {
	/* common options */
	const char *url;     /* --redis or $REDSINK_REDIS; NULL: 127.0.0.1:6379 */
	bool url_from_argv;
	const char *prefix;  /* --prefix or $REDSINK_PREFIX */
	const char *auth_file;
	int timeout_ms;
	const char *by;      /* --by, $USER, $LOGNAME, the login name */
	bool quiet;
	bool tty;            /* stderr is a terminal and not --quiet: progress bars */
	const char *cmd;     /* "push", "order add": for messages and help */
	const char *usage;   /* the command's help text */

	struct ctl_conn conn;
	bool connected;

	/* signed orders (ctl_sign.h) */
	const char *sign_key;    /* --sign-key FILE or $REDSINK_SIGN_KEY: sign every change of an order */
	bool unsigned_ok;        /* --unsigned: write to a signed order without a key */
	const char *sign_trusted; /* --trusted FILE: keys whose manifests the signer continues (besides its own) */
	bool resign_current;     /* --resign-current-state: sign an order's state even where it differs from its manifest */
	bool writing;            /* a write command (ctl_dataset_ensure ran): orders loaded are prepared for signing */
	struct ctl_signer *sign; /* the signing step's state (ctl_sign.c) */
};

/* Keys: buffers of CTL_KEY_MAX octets. */
#define CTL_KEY_MAX 512
const char *ctl_key(const struct ctl *x, char *buf, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * getopt_long over the command's own options plus the common ones (handled
 * here). Returns the next own option, -1 at the end of the options, or
 * CTL_OPT_EXIT with *exitp set (--help printed: 0; a bad option: 2).
 */
#define CTL_OPT_EXIT (-2)
int ctl_getopt(struct ctl *x, int argc, char **argv, const char *shortopts, const struct option *own, int *exitp);
/* Print "redsink-ctl CMD: msg" and the hint to use --help; returns CTL_EXIT_USAGE. */
int ctl_usage_error(struct ctl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connect (once). 0, or prints the reason and returns its exit code. */
int ctl_open(struct ctl *x);
/* Print x->conn's failure and return its exit code. */
int ctl_redis_failed(struct ctl *x);

/* ---- orders in Redis ---- */

enum { F_AUTHORITY, F_REFERENCE, F_ISSUED, F_EXPIRES, F_SCOPE, F_ACTION, F_REASON, F_URL, F_LANG, F_COUNT };
extern const char *const ctl_order_fields[F_COUNT];

struct ctl_order {
	char id[160];
	char *f[F_COUNT];   /* values ("" when unset) */
	bool exists;        /* the hash exists */
	bool in_force;      /* listed in `orders` */
	bool expired;       /* expires is set and has passed */
	bool bad_expires;   /* expires is not a date */
	int64_t expires;    /* Unix seconds, 0 = never */
	long long ndomains; /* SCARD of its domains, -1 when not asked */
	/* live-event windows (ctl_window.c, doc/redis-schema.md "Orders") */
	char *windows;       /* the `windows` field as stored ("" when unset) */
	bool bad_windows;    /* windows is not valid (rs_windows_parse): resolvers skip this order */
	int64_t *win;        /* 2 * nwin: start, end of each window (NULL when none or bad) */
	uint16_t nwin;
	bool active;         /* applies now, scope aside: in force, not expired, inside a window or without any */
	int64_t next_change; /* when `active` changes next (a window opens or closes, the expiry); 0 = never */
};

/* Load order id (hash, membership in `orders`, and with_count: SCARD). 0, or
 * the exit code after printing the failure. */
int ctl_order_load(struct ctl *x, const char *id, bool with_count, struct ctl_order *o);
void ctl_order_clear(struct ctl_order *o);
const char *ctl_order_state(const struct ctl_order *o);
/* "yes", "yes, until 2026-05-01T20:00:00Z", "no, from 2026-05-01T18:00:00Z",
 * "no": whether the order applies now and when that changes. buf: 64. */
const char *ctl_order_active_text(const struct ctl_order *o, char *buf);

/* ---- validation ---- */

/* Is s acceptable as free text of at most max octets (valid UTF-8, no control
 * characters)? When not, *why says what is wrong. */
bool ctl_text_ok(const char *s, size_t max, const char **why);

/* ---- output ---- */

/* Sort an array of C strings (qsort with strcmp). */
void ctl_sort_strings(const char **v, size_t n);
/* Every member of a set (SSCAN), sorted; *out malloc'ed, strings strdup'ed.
 * 0, or the exit code after printing the failure. */
int ctl_set_members(struct ctl *x, const char *key, char ***out, size_t *n);
void ctl_free_strings(char **v, size_t n);
/* A JSON string literal of s on f. */
void ctl_json_str(FILE *f, const char *s);

/* "2026-05-01T10:00:00Z" (UTC); "-" for 0. buf: 32 octets. */
char *ctl_fmt_time(int64_t unix_s, char *buf);
/* The time in a stream id ("1714557600123-0") with milliseconds. buf: 40. */
char *ctl_fmt_id_time(const char *id, char *buf);
/* "3s ago", "2h ago", "in 4d". buf: 32. */
char *ctl_fmt_age(int64_t unix_s, int64_t now, char *buf);
/* Compare two stream ids ("ms-seq"): <0, 0, >0. */
int ctl_id_cmp(const char *a, const char *b);
/* Parse a time for --since/--until/--now: RFC 3339 or a date, "now", or
 * "-30d" / "-12h" / "-15m" relative to now. 0 or RS_EINVAL. */
int ctl_parse_when(const char *s, int64_t now, int64_t *out);

/* A table printed with aligned columns. */
struct ctl_table {
	size_t ncols, nrows, cap;
	char **cells; /* row-major, strdup'ed */
};
void ctl_table_row(struct ctl_table *t, size_t ncols, ...);
void ctl_table_print(struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);

/* Progress bar on stderr (only when x->tty). */
struct ctl_progress {
	bool on;
	const char *label;
	size_t total;
	double last;
};
void ctl_progress_start(struct ctl *x, struct ctl_progress *p, const char *label, size_t total);
void ctl_progress_set(struct ctl_progress *p, size_t done);
void ctl_progress_end(struct ctl_progress *p);

/* ---- the change stream ---- */

/*
 * Queue change-stream entries `op order domain by why [override]` for
 * names[0..n) into t: the first as a plain XADD (so an ACL without XADD on the
 * stream aborts the whole transaction while queueing), the others through one
 * Lua script call per CTL_CHUNK names. override may be NULL.
 */
struct ctl_tx;
void ctl_queue_changes(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char **names,
		       size_t n, const char *why, const char *override, bool *first);

/* Queue one entry (no domain for order/revoke: pass ""). */
void ctl_queue_change(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *domain,
		      const char *why, const char *override);
/* The same with extra field/value pairs extra[0..nextra) (nextra even, at most
 * 2 + 4 * F_COUNT strings): the field names and old/new values of an `order` entry. */
void ctl_queue_change_extra(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *domain,
			    const char *why, const char *override, const char *const *extra, size_t nextra);
/* The same with another field than `domain` for the name: `prefix` for the
 * address ops (addip, delip, protectip, unprotectip). */
void ctl_queue_changes_field(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *field,
			     const char **values, size_t n, const char *why, const char *override, bool *first);
void ctl_queue_change_field(struct ctl *x, struct ctl_tx *t, const char *op, const char *order, const char *field,
			    const char *value, const char *why, const char *override, const char *const *extra,
			    size_t nextra);
/* The ops of the change stream (doc/redis-schema.md), NULL terminated. */
extern const char *const ctl_stream_ops[];

/* ---- the dataset identity (ctl_dataset.c, doc/dataset.md) ---- */

struct ctl_dataset_cur {
	struct rs_dataset d;  /* parsed (present / valid) */
	bool wrongtype;       /* the key exists and is not a hash */
	char why_bad[160];    /* what is wrong, when present and not valid */
	char *id, *generation, *supersedes, *created, *by, *why; /* as stored ("" when unset) */
};

/* Read the `dataset` hash. 0, or the exit code after printing the failure. */
int ctl_dataset_read(struct ctl *x, struct ctl_dataset_cur *c);
void ctl_dataset_cur_clear(struct ctl_dataset_cur *c);
/*
 * Every write command calls this after ctl_open, before its transaction: it
 * WATCHes the identity; when there is none and no resolver reports a dataset,
 * it queues the new identity into the command's transaction (first use).
 * 0, or the exit code after printing why nothing may be written (no identity
 * while resolvers enforce one; an unreadable identity).
 */
int ctl_dataset_ensure(struct ctl *x);

/* ---- the commands ---- */

int cmd_order(struct ctl *x, int argc, char **argv);
int cmd_order_show(struct ctl *x, int argc, char **argv);
int cmd_order_list(struct ctl *x, int argc, char **argv);
int cmd_window(struct ctl *x, int argc, char **argv);
int cmd_push(struct ctl *x, int argc, char **argv);
int cmd_withdraw(struct ctl *x, int argc, char **argv);
int cmd_protect(struct ctl *x, int argc, char **argv);
int cmd_expire(struct ctl *x, int argc, char **argv);
int cmd_status(struct ctl *x, int argc, char **argv);
int cmd_export(struct ctl *x, int argc, char **argv);
int cmd_log(struct ctl *x, int argc, char **argv);
int cmd_dataset(struct ctl *x, int argc, char **argv);
int cmd_check(struct ctl *x, int argc, char **argv);
int cmd_validate(struct ctl *x, int argc, char **argv);
int cmd_verify(struct ctl *x, int argc, char **argv); /* ctl_verify.c */
int cmd_key(struct ctl *x, int argc, char **argv);    /* ctl_key.c */

#endif
