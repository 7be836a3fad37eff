/* load.c — full load of the list from Redis (see load.h). */
#include "load.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rs_err.h"

int rs_domain_wire(const char *name, size_t len, uint8_t wire[RS_WIRE_MAX])
{
	char canon[RS_NAME_MAX + 1];
	int n = rs_name_canon(name, len, canon);

	if (n < 0)
		return n;
	return rs_name_to_wire(canon, (size_t)n, wire);
}

int rs_redis_connect(const struct rs_endpoint *e, int timeout_ms, struct redisContext **out,
		     char *err, size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c;
	redisReply *r;

	*out = NULL;
	c = e->unix_path ? redisConnectUnixWithTimeout(e->unix_path, tv)
			 : redisConnectWithTimeout(e->host, e->port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect to Redis %s: %s", e->addr, c ? c->errstr : "out of memory");
		redisFree(c);
		return RS_EIO;
	}
	redisSetTimeout(c, tv);
	if (e->password) {
		r = e->user ? redisCommand(c, "AUTH %s %s", e->user, e->password)
			    : redisCommand(c, "AUTH %s", e->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis %s: authentication%s%s failed: %s", e->addr,
				 e->user ? " as " : "", e->user ? e->user : "", r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return RS_EIO;
		}
		freeReplyObject(r);
	}
	if (e->db) {
		r = redisCommand(c, "SELECT %d", e->db);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis %s: SELECT %d failed: %s", e->addr, e->db, r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return RS_EIO;
		}
		freeReplyObject(r);
	}
	*out = c;
	return 0;
}

redisAsyncContext *rs_redis_async_connect(const struct rs_endpoint *e, struct event_base *base, void *data,
					  void (*on_conn)(const redisAsyncContext *, int),
					  void (*on_disc)(const redisAsyncContext *, int))
{
	redisAsyncContext *ac = e->unix_path ? redisAsyncConnectUnix(e->unix_path) : redisAsyncConnect(e->host, e->port);

	if (!ac)
		return NULL;
	if (ac->err) {
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = data;
	redisLibeventAttach(ac, base);
	redisAsyncSetConnectCallback(ac, on_conn);
	redisAsyncSetDisconnectCallback(ac, on_disc);
	if (e->password) {
		if (e->user)
			redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", e->user, e->password);
		else
			redisAsyncCommand(ac, NULL, NULL, "AUTH %s", e->password);
	}
	if (e->db)
		redisAsyncCommand(ac, NULL, NULL, "SELECT %d", e->db);
	return ac;
}

/* Run a command; NULL (with err set) on a connection error or an error reply. */
static redisReply *cmd(redisContext *c, char *err, size_t errlen, const char *what, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r) {
		snprintf(err, errlen, "Redis: %s: %s", what, c->errstr[0] ? c->errstr : "connection lost");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis: %s: %s", what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int load_domains(redisContext *c, const struct rs_conf *conf, struct rs_list *l, const char *id,
			uint32_t idx, struct rs_load_stats *st, char *err, size_t errlen)
{
	char cursor[32] = "0";

	do {
		redisReply *r = cmd(c, err, errlen, "SSCAN", "SSCAN %sorder:%s:domains %s COUNT 10000",
				    conf->prefix, id, cursor);
		if (!r)
			return RS_EIO;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "Redis: SSCAN %sorder:%s:domains: unexpected reply", conf->prefix, id);
			freeReplyObject(r);
			return RS_EPROTO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *m = r->element[1]->element[i];
			uint8_t wire[RS_WIRE_MAX];
			int rc = m->type == REDIS_REPLY_STRING ? rs_domain_wire(m->str, m->len, wire) : RS_EINVAL;
			if (rc < 0) {
				if (st->bad_domains++ < RS_LOAD_LOG_MAX)
					rs_log(RS_LOG_WARN, "skipping malformed domain '%.*s' of order '%s': %s",
					       m->type == REDIS_REPLY_STRING ? (int)(m->len > 80 ? 80 : m->len) : 0,
					       m->type == REDIS_REPLY_STRING ? m->str : "", id, rs_strerror(rc));
				continue;
			}
			rc = rs_list_add(l, wire, (size_t)rc, idx);
			if (rc == RS_ENOMEM) {
				freeReplyObject(r);
				snprintf(err, errlen, "out of memory loading order '%s'", id);
				return rc;
			}
			if (rc == 0)
				st->domains++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

static int load_order(redisContext *c, const struct rs_conf *conf, struct rs_list *l, const char *id,
		      struct rs_load_stats *st, char *err, size_t errlen)
{
	char why[256];
	struct rs_order *o;
	uint32_t idx;
	const char **kv;
	redisReply *r;
	int rc;

	r = cmd(c, err, errlen, "HGETALL", "HGETALL %sorder:%s", conf->prefix, id);
	if (!r)
		return RS_EIO;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		freeReplyObject(r);
		snprintf(err, errlen, "Redis: HGETALL %sorder:%s: unexpected reply", conf->prefix, id);
		return RS_EPROTO;
	}
	kv = calloc(r->elements + 1, sizeof(*kv));
	if (!kv) {
		freeReplyObject(r);
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < r->elements; i++)
		kv[i] = r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
	if (r->elements == 0) {
		snprintf(why, sizeof(why), "order '%s' is in the orders set but %sorder:%s does not exist", id,
			 conf->prefix, id);
		rc = RS_EINVAL;
	} else {
		rc = rs_order_parse(conf, id, kv, r->elements / 2, &o, why, sizeof(why));
	}
	free(kv);
	freeReplyObject(r);
	if (rc) {
		if (st->bad_orders++ < RS_LOAD_LOG_MAX)
			rs_log(RS_LOG_WARN, "skipping malformed order: %s", why);
		return 0;
	}
	rc = rs_list_order_set(l, o, &idx);
	if (rc) {
		snprintf(err, errlen, "order '%s': %s", id, rs_strerror(rc));
		return rc;
	}
	st->orders++;
	return load_domains(c, conf, l, id, idx, st, err, errlen);
}

int rs_load_all(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct rs_load_stats *st,
		char *err, size_t errlen)
{
	redisReply *r;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	strcpy(st->last_id, "0-0");
	/* Note the stream position first: a change made during the load is then
	 * applied again afterwards, which is harmless (changes are idempotent). */
	r = cmd(c, err, errlen, "XREVRANGE", "XREVRANGE %schanges + - COUNT 1", conf->prefix);
	if (!r)
		return RS_EIO;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
		snprintf(st->last_id, sizeof(st->last_id), "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);

	r = cmd(c, err, errlen, "SMEMBERS orders", "SMEMBERS %sorders", conf->prefix);
	if (!r)
		return RS_EIO;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && rc == 0; i++) {
		redisReply *m = r->element[i];
		if (m->type != REDIS_REPLY_STRING || !rs_order_id_ok(m->str) || strlen(m->str) != m->len) {
			if (st->bad_orders++ < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed order id in %sorders", conf->prefix);
			continue;
		}
		rc = load_order(c, conf, l, m->str, st, err, errlen);
	}
	freeReplyObject(r);
	if (rc)
		return rc;

	r = cmd(c, err, errlen, "SMEMBERS protected", "SMEMBERS %sprotected", conf->prefix);
	if (!r)
		return RS_EIO;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *m = r->element[i];
		uint8_t wire[RS_WIRE_MAX];
		int n = m->type == REDIS_REPLY_STRING ? rs_domain_wire(m->str, m->len, wire) : RS_EINVAL;
		if (n < 0) {
			if (st->bad_domains++ < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed protected domain '%.*s': %s",
				       m->type == REDIS_REPLY_STRING ? (int)(m->len > 80 ? 80 : m->len) : 0,
				       m->type == REDIS_REPLY_STRING ? m->str : "", rs_strerror(n));
			continue;
		}
		n = rs_list_protect(l, wire, (size_t)n, true);
		if (n == RS_ENOMEM) {
			freeReplyObject(r);
			snprintf(err, errlen, "out of memory loading the protected set");
			return n;
		}
		if (n == 0)
			st->protected_n++;
	}
	freeReplyObject(r);
	if (st->bad_orders > RS_LOAD_LOG_MAX || st->bad_domains > RS_LOAD_LOG_MAX)
		rs_log(RS_LOG_WARN, "skipped %zu malformed orders and %zu malformed domains in all", st->bad_orders,
		       st->bad_domains);
	return 0;
}
