/* ctl_redis.c — connection, credentials, failures and transactions (see ctl_redis.h). */
#include "ctl_redis.h"

#include <err.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "load.h"
#include "rs_err.h"

#define TX_DRAIN_EVERY 256
#define EXEC_TIMEOUT_MS 300000 /* a million-domain EXEC takes seconds, not minutes */

/* The endpoint syntax, environment and credential files are the tools' one
 * interface (cli.c); these names stay for the callers in redsink-ctl. */
void ctl_endpoint_free(struct rs_endpoint *e)
{
	cli_endpoint_free(e);
}

int ctl_url_parse(const char *url, bool from_argv, struct rs_endpoint *e, char *err, size_t errlen)
{
	return cli_endpoint_parse(url, from_argv, e, err, errlen);
}

int ctl_credentials(struct rs_endpoint *e, const char *auth_file, char *err, size_t errlen, char *warn,
		    size_t warnlen)
{
	return cli_credentials(e, auth_file, err, errlen, warn, warnlen);
}

int ctl_error_exit(const char *s)
{
	static const char *const redis_side[] = { "NOPERM", "NOAUTH", "WRONGPASS", "READONLY", "LOADING",
						  "MASTERDOWN", "BUSY", "NOREPLICAS", NULL };
	if (!s)
		return CTL_EXIT_REDIS;
	for (int i = 0; redis_side[i]; i++)
		if (strncmp(s, redis_side[i], strlen(redis_side[i])) == 0)
			return CTL_EXIT_REDIS;
	return CTL_EXIT_ERROR;
}

void ctl_fail(struct ctl_conn *x, const char *what, const char *e)
{
	const char *addr = x->ep.addr ? x->ep.addr : "?";
	const char *hint = "";
	char user[200] = "";

	x->exit = ctl_error_exit(e);
	if (x->ep.user)
		snprintf(user, sizeof(user), " (ACL user '%s')", x->ep.user);
	if (!e) {
		snprintf(x->err, sizeof(x->err), "Redis %s unreachable during %s: %s", addr, what,
			 x->c && x->c->errstr[0] ? x->c->errstr : "connection lost");
		return;
	}
	if (strncmp(e, "NOPERM", 6) == 0)
		hint = "; the Redis ACL does not allow this: see ACLS in redsink-ctl(1) and doc/acl.md";
	else if (strncmp(e, "NOAUTH", 6) == 0)
		hint = "; give credentials: $REDSINK_REDIS_USER and $REDSINK_REDIS_PASSWORD or an auth file";
	else if (strncmp(e, "WRONGPASS", 9) == 0)
		hint = "; check the ACL user and password";
	else if (strncmp(e, "READONLY", 8) == 0)
		hint = "; this is a read-only replica: point --redis at the primary";
	snprintf(x->err, sizeof(x->err), "Redis %s%s: %s refused: %s%s", addr, user, what, e, hint);
}

int ctl_connect(struct ctl_conn *x)
{
	char err[600];
	redisReply *r;
	int rc = rs_redis_connect(&x->ep, x->timeout_ms, &x->c, err, sizeof(err));

	if (rc) {
		x->exit = CTL_EXIT_REDIS;
		snprintf(x->err, sizeof(x->err), "%s", err);
		return rc;
	}
	r = ctl_cmd(x, "PING", "PING");
	if (!r) {
		ctl_disconnect(x);
		return RS_EIO;
	}
	freeReplyObject(r);
	return 0;
}

void ctl_disconnect(struct ctl_conn *x)
{
	ctl_tx_pre_clear(x);
	if (x->c)
		redisFree(x->c);
	x->c = NULL;
}

static redisReply *checked(struct ctl_conn *x, const char *what, redisReply *r)
{
	if (!r) {
		ctl_fail(x, what, NULL);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		ctl_fail(x, what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

redisReply *ctl_cmd(struct ctl_conn *x, const char *what, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(x->c, fmt, ap);
	va_end(ap);
	return checked(x, what, r);
}

redisReply *ctl_cmd_argv(struct ctl_conn *x, const char *what, int argc, const char **argv, const size_t *lens)
{
	return checked(x, what, redisCommandArgv(x->c, argc, argv, lens));
}

/* ---- transactions ---- */

void ctl_tx_begin(struct ctl_tx *t, struct ctl_conn *x)
{
	memset(t, 0, sizeof(*t));
	t->x = x;
	redisAppendCommand(x->c, "MULTI");
	t->pending = 1;
	for (int i = 0; i < x->npre; i++) {
		size_t lens[64];
		for (int j = 0; j < x->pre_argc[i]; j++)
			lens[j] = strlen(x->pre_argv[i][j]);
		ctl_tx_argv(t, x->pre_argc[i], (const char **)x->pre_argv[i], lens);
	}
	t->npre = x->npre;
}

int ctl_tx_pre_add(struct ctl_conn *x, int argc, const char *const *argv)
{
	char **v;

	if (x->npre == CTL_TX_PRE_MAX || argc < 1 || argc > 64)
		return RS_EFULL;
	v = calloc((size_t)argc + 1, sizeof(*v));
	if (!v)
		return RS_ENOMEM;
	for (int i = 0; i < argc; i++)
		if (!(v[i] = strdup(argv[i]))) {
			while (i-- > 0)
				free(v[i]);
			free(v);
			return RS_ENOMEM;
		}
	x->pre_argv[x->npre] = v;
	x->pre_argc[x->npre++] = argc;
	return 0;
}

void ctl_tx_pre_clear(struct ctl_conn *x)
{
	for (int i = 0; i < x->npre; i++) {
		for (int j = 0; j < x->pre_argc[i]; j++)
			free(x->pre_argv[i][j]);
		free(x->pre_argv[i]);
		x->pre_argv[i] = NULL;
	}
	x->npre = 0;
}

int ctl_tx_drain(struct ctl_tx *t)
{
	while (t->pending > 0) {
		redisReply *r = NULL;
		if (redisGetReply(t->x->c, (void **)&r) != REDIS_OK || !r) {
			ctl_fail(t->x, "writing the batch", NULL);
			return RS_EIO;
		}
		t->pending--;
		if (r->type == REDIS_REPLY_ERROR && !t->failed) {
			t->failed = true;
			t->first_exit = ctl_error_exit(r->str);
			snprintf(t->first_err, sizeof(t->first_err), "%s", r->str);
		}
		freeReplyObject(r);
	}
	return 0;
}

void ctl_tx_argv(struct ctl_tx *t, int argc, const char **argv, const size_t *lens)
{
	redisAppendCommandArgv(t->x->c, argc, argv, lens);
	t->pending++;
	t->queued++;
	if (t->pending >= TX_DRAIN_EVERY)
		(void)ctl_tx_drain(t); /* a lost connection shows again at EXEC */
}

/* Does a primary without online replicas (ROLE lists only those) have one
 * connected that is still syncing? INFO replication lists every replica
 * link as "slaveN:ip=...,port=P,state=..."; a backup (redis-cli --rdb) is
 * one too, but it never announces a port (port=0) and never acknowledges,
 * so it does not count. Such a replica does not hold the batch either. An
 * INFO refused or unreadable: no. (RESP2: INFO is a plain string.) */
static bool replica_syncing(struct ctl_conn *x)
{
	redisReply *r = redisCommand(x->c, "INFO replication");
	const char *p = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
	bool yes = false;

	while (p && !yes && (p = strstr(p, "\nslave")) != NULL) {
		const char *end = strchr(++p, '\n'), *port = strstr(p, ",port=");
		if (port && (!end || port < end) && strtol(port + 6, NULL, 10) > 0)
			yes = true;
	}
	freeReplyObject(r);
	return yes;
}

/* After a committed batch: wait until a replica has it, when there are any
 * (ctl_tx_exec's comment), online or still syncing. A ROLE or WAIT refused
 * (an ACL without them) is said once: durability cannot be checked then. */
static void tx_wait_replica(struct ctl_conn *x)
{
	static bool told;
	redisReply *r = redisCommand(x->c, "ROLE");
	long long want = 0;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 && r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0 && r->element[2]->type == REDIS_REPLY_ARRAY)
		want = r->element[2]->elements > 0 || replica_syncing(x);
	if (r && r->type == REDIS_REPLY_ERROR && !told) {
		warnx("warning: Redis %s: ROLE refused (%s): cannot check that a replica has the batch (doc/acl.md)",
		      x->ep.addr, r->str);
		told = true;
	}
	freeReplyObject(r);
	if (!want)
		return;
	r = redisCommand(x->c, "WAIT 1 %d", x->timeout_ms);
	if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
		freeReplyObject(r);
		return;
	}
	warnx("Redis %s: the batch is written on the primary, but no replica acknowledged it within %d ms%s%s: "
	      "if the primary fails now, a failover may lose it; check with 'redsink-ctl log' once the fleet is "
	      "healthy, and push again what is missing",
	      x->ep.addr, x->timeout_ms, r && r->type == REDIS_REPLY_ERROR ? ": " : "",
	      r && r->type == REDIS_REPLY_ERROR ? r->str : "");
	freeReplyObject(r);
	x->unreplicated = true;
}

int ctl_tx_exec(struct ctl_tx *t, redisReply **reply)
{
	struct timeval slow = { EXEC_TIMEOUT_MS / 1000, 0 };
	struct timeval normal = { t->x->timeout_ms / 1000, (t->x->timeout_ms % 1000) * 1000 };
	redisReply *r;

	*reply = NULL;
	if (t->x->before_exec) {
		size_t queued = t->queued;
		int rc = t->x->before_exec(t, t->x->before_exec_arg);
		if (rc) {
			ctl_tx_discard(t);
			return rc;
		}
		t->npost = t->queued - queued;
	}
	if (ctl_tx_drain(t))
		return RS_EIO;
	redisSetTimeout(t->x->c, slow);
	r = redisCommand(t->x->c, "EXEC");
	redisSetTimeout(t->x->c, normal);
	if (!r) {
		snprintf(t->x->err, sizeof(t->x->err),
			 "Redis %s: connection lost while committing the batch: it was written completely or not at "
			 "all; check with 'redsink-ctl log' before running it again",
			 t->x->ep.addr);
		t->x->exit = CTL_EXIT_REDIS;
		return RS_EIO;
	}
	if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0 && t->queued > 0)) {
		freeReplyObject(r);
		return CTL_TX_CONFLICT;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* EXECABORT: a queued command was refused; the transaction was discarded */
		ctl_fail(t->x, "the batch (nothing was written)", t->failed ? t->first_err : r->str);
		freeReplyObject(r);
		return RS_EPROTO;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(t->x->err, sizeof(t->x->err), "Redis %s: unexpected reply to EXEC", t->x->ep.addr);
		t->x->exit = CTL_EXIT_ERROR;
		freeReplyObject(r);
		return RS_EPROTO;
	}
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_ERROR) {
			snprintf(t->x->err, sizeof(t->x->err),
				 "Redis %s: command %zu of the batch failed inside the transaction: %s — the batch may "
				 "be partly written; check with 'redsink-ctl log'",
				 t->x->ep.addr, i + 1, r->element[i]->str);
			t->x->exit = ctl_error_exit(r->element[i]->str);
			freeReplyObject(r);
			return RS_EPROTO;
		}
	tx_wait_replica(t->x);
	/* the caller sees only the replies to its own commands */
	if (t->npre > 0 && r->elements >= (size_t)t->npre) {
		for (int i = 0; i < t->npre; i++)
			freeReplyObject(r->element[i]);
		memmove(r->element, r->element + t->npre, (r->elements - (size_t)t->npre) * sizeof(*r->element));
		r->elements -= (size_t)t->npre;
		ctl_tx_pre_clear(t->x); /* done: the next transaction need not repeat them */
	}
	if (t->npost > 0 && r->elements >= t->npost) { /* before_exec's own commands */
		for (size_t i = r->elements - t->npost; i < r->elements; i++)
			freeReplyObject(r->element[i]);
		r->elements -= t->npost;
	}
	*reply = r;
	return 0;
}

void ctl_tx_discard(struct ctl_tx *t)
{
	redisReply *r;

	(void)ctl_tx_drain(t);
	r = redisCommand(t->x->c, "DISCARD");
	freeReplyObject(r);
	r = redisCommand(t->x->c, "UNWATCH");
	freeReplyObject(r);
}
