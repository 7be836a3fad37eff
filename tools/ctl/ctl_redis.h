/*
 * ctl_redis.h — redsink-ctl's side of Redis: where to connect, with which
 * credentials, what a failure means, and batches written in one MULTI/EXEC.
 *
 * Connection: the endpoint syntax, environment and credential files are the
 * tools' one interface (cli.h; ctl_url_parse and ctl_credentials are its
 * cli_endpoint_parse and cli_credentials): "redis://[user@]host[:port][/db]",
 * "host[:port]", "[v6]:port", "unix:/path[?db=N]" or "/path". A password is
 * never taken from the command line (anyone can read it with ps): it comes
 * from --auth-file, $REDSINK_REDIS_PASSWORD or $REDSINK_REDIS_AUTH_FILE (mode
 * 600, "PASSWORD" or "USER PASSWORD" on the first line); the ACL user from
 * --user, the URL, $REDSINK_REDIS_USER or that file.
 *
 * Failures are classified into exit codes (CTL_EXIT_*): Redis unreachable, a
 * failed AUTH, a missing ACL permission (NOPERM), a read-only replica are
 * CTL_EXIT_REDIS; anything else CTL_EXIT_ERROR. Every message names the
 * server and says what to do.
 *
 * Batches (struct ctl_tx): commands are appended and pipelined inside one
 * MULTI/EXEC; replies to the queued commands are read as they come so memory
 * stays bounded. Keys read before MULTI are WATCHed by the caller, so a
 * concurrent change makes EXEC return nothing and the whole batch is dropped
 * (CTL_TX_CONFLICT). A command refused while queueing (NOPERM, OOM, a syntax
 * error) makes Redis discard the whole transaction (EXECABORT): nothing is
 * written.
 */
#ifndef CTL_REDIS_H
#define CTL_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "conf.h"

/* The tools' one exit-code scheme (cli.h), by redsink-ctl's names. */
enum ctl_exit {
	CTL_EXIT_OK = CLI_EXIT_OK,
	CTL_EXIT_ERROR = CLI_EXIT_ERROR,     /* invalid input, unknown order, a conflict, ... */
	CTL_EXIT_USAGE = CLI_EXIT_USAGE,     /* bad command line */
	CTL_EXIT_REFUSED = CLI_EXIT_REFUSED, /* refused by a safety check (protected, public suffix, batch size) */
	CTL_EXIT_REDIS = CLI_EXIT_REDIS,     /* Redis unreachable, authentication failed, permission denied */
	CTL_EXIT_DATA = CLI_EXIT_DATA,       /* input data invalid */
};

#define CTL_TX_PRE_MAX 2

struct redisContext;
struct redisReply;
struct ctl_tx;

struct ctl_conn {
	struct redisContext *c;
	struct rs_endpoint ep;
	const char *prefix;
	int timeout_ms;
	int exit;       /* CTL_EXIT_* of the last failure */
	char err[1024]; /* its message */
	bool unreplicated; /* a committed batch no replica acknowledged (see ctl_tx_exec) */
	/* Commands queued first in the next transaction, right after MULTI (the
	 * dataset identity a first write creates: ctl_dataset.c); copies. */
	int npre;
	int pre_argc[CTL_TX_PRE_MAX];
	char **pre_argv[CTL_TX_PRE_MAX];
	/* Called by ctl_tx_exec right before EXEC (redsink-ctl's signing step,
	 * ctl_sign.h): it may queue more commands, whose replies ctl_tx_exec
	 * removes from the array it returns (like npre's). Nonzero: the
	 * transaction is discarded and ctl_tx_exec returns that code, with exit
	 * and err set by the hook. NULL: none. */
	int (*before_exec)(struct ctl_tx *t, void *arg);
	void *before_exec_arg;
};

/*
 * Parse url into e (strings allocated; free with ctl_endpoint_free).
 * from_argv: the URL came from the command line, where a password is refused.
 * 0, or RS_EINVAL with a message in err.
 */
int ctl_url_parse(const char *url, bool from_argv, struct rs_endpoint *e, char *err, size_t errlen);
void ctl_endpoint_free(struct rs_endpoint *e);

/*
 * Fill the credentials of e from the environment and auth_file (NULL: from
 * $REDSINK_REDIS_AUTH_FILE if set). 0, or RS_EIO/RS_EINVAL with a message.
 * warn receives a warning (a file readable by others) or "".
 */
int ctl_credentials(struct rs_endpoint *e, const char *auth_file, char *err, size_t errlen, char *warn,
		    size_t warnlen);

/* Connect x->ep (AUTH, SELECT) and check with PING. 0, or x->exit/x->err set. */
int ctl_connect(struct ctl_conn *x);
void ctl_disconnect(struct ctl_conn *x);

/*
 * Run a command (hiredis format). The reply, or NULL with x->exit and x->err
 * set (connection lost, or an error reply: NOPERM, WRONGTYPE, ...). what
 * names the operation for the message.
 */
struct redisReply *ctl_cmd(struct ctl_conn *x, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct redisReply *ctl_cmd_argv(struct ctl_conn *x, const char *what, int argc, const char **argv,
				const size_t *lens);

/* Exit code for a Redis error reply text (NOPERM, NOAUTH, ... → CTL_EXIT_REDIS). */
int ctl_error_exit(const char *redis_err);
/* Record a failure: x->exit from the reply text (or a lost connection when
 * redis_err is NULL) and a message "what: redis_err (hint)". */
void ctl_fail(struct ctl_conn *x, const char *what, const char *redis_err);

/* ---- transactions ---- */

#define CTL_TX_CONFLICT 1 /* ctl_tx_exec: a WATCHed key changed; nothing was written */

struct ctl_tx {
	struct ctl_conn *x;
	size_t pending; /* replies not read yet */
	size_t queued;  /* commands queued (MULTI excluded) */
	int npre;       /* of which the first npre came from ctl_tx_pre_add */
	bool failed;    /* a command was refused while queueing */
	size_t npost;   /* of which the last npost came from before_exec */
	char first_err[512];
	int first_exit;
};

void ctl_tx_begin(struct ctl_tx *t, struct ctl_conn *x);
/* Queue one command (its argv is copied by hiredis). */
void ctl_tx_argv(struct ctl_tx *t, int argc, const char **argv, const size_t *lens);
/* Read the replies queued so far (called by ctl_tx_argv every few hundred). 0 or RS_EIO. */
int ctl_tx_drain(struct ctl_tx *t);
/*
 * EXEC. 0 with *reply (the array of results; every element checked for an
 * error), CTL_TX_CONFLICT, or a negative code with x->exit / x->err set (a
 * command refused while queueing: nothing written; a lost connection: the
 * outcome is unknown and the message says so).
 *
 * Replication is asynchronous: a batch the primary committed is lost if the
 * primary fails before a replica has it (a Sentinel failover then promotes
 * a replica without it). So when the primary has replicas (ROLE), a
 * committed batch waits (WAIT 1, up to the timeout) until one acknowledged
 * it; if none did, the batch stays written, the user is told it may not
 * survive a failover, and x->unreplicated makes redsink-ctl exit 4.
 */
int ctl_tx_exec(struct ctl_tx *t, struct redisReply **reply);
/* Give up a transaction begun with ctl_tx_begin (DISCARD) and UNWATCH. */
void ctl_tx_discard(struct ctl_tx *t);

/*
 * Queue a command (copied) to go first into the next transaction begun on x,
 * right after MULTI. ctl_tx_exec removes their replies from the array it
 * returns (callers index only their own commands) and forgets them once the
 * transaction succeeded. 0 or RS_EFULL / RS_ENOMEM.
 */
int ctl_tx_pre_add(struct ctl_conn *x, int argc, const char *const *argv);
void ctl_tx_pre_clear(struct ctl_conn *x);

#endif
