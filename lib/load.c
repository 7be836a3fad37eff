/*
 * load.c — every Redis connection of the module and the tools (plain, unix
 * or through Sentinel: discovery at every connect, lib/sentinel.h), and the
 * full load of the list from Redis (see load.h).
 */
#include "load.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rs_err.h"
#include "sentinel.h"

int rs_domain_wire(const char *name, size_t len, uint8_t wire[RS_WIRE_MAX])
{
	char canon[RS_NAME_MAX + 1];
	int n = rs_name_canon(name, len, canon);

	if (n < 0)
		return n;
	return rs_name_to_wire(canon, (size_t)n, wire);
}

/*
 * Connect to one node (TCP host:port, or unix_path) with e's credentials and
 * database; label names the node in messages.
 */
static int node_connect(const struct rs_endpoint *e, const char *host, int port, const char *unix_path,
			const char *label, int timeout_ms, redisContext **out, char *err, size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c;
	redisReply *r;

	*out = NULL;
	c = unix_path ? redisConnectUnixWithTimeout(unix_path, tv) : redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect to Redis %s: %s", label, c ? c->errstr : "out of memory");
		redisFree(c);
		return RS_EIO;
	}
	redisSetTimeout(c, tv);
	if (e->password) {
		r = e->user ? redisCommand(c, "AUTH %s %s", e->user, e->password)
			    : redisCommand(c, "AUTH %s", e->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis %s: authentication%s%s failed: %s", label,
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
			snprintf(err, errlen, "Redis %s: SELECT %d failed: %s", label, e->db, r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return RS_EIO;
		}
		freeReplyObject(r);
	}
	*out = c;
	return 0;
}

/* "host:port" or "[v6]:port" of a discovered node. */
static void node_label(char *buf, size_t len, const char *host, int port)
{
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

int rs_role_verdict(const redisReply *r, int want, char *why, size_t whylen)
{
	const char *role;

	if (!r) {
		snprintf(why, whylen, "no reply to ROLE");
		return RS_EIO;
	}
	if (r->type == REDIS_REPLY_ERROR)
		return 0; /* ROLE not allowed to this ACL user: cannot check; READONLY still guards writes */
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(why, whylen, "unexpected reply to ROLE");
		return RS_EPROTO;
	}
	role = r->element[0]->str;
	if (strcmp(role, "master") == 0)
		return 0; /* a primary serves reads too (a replica promoted, or no healthy replica) */
	if (strcmp(role, "slave") == 0) {
		if (want == RS_ROLE_PRIMARY) {
			if (r->elements >= 3 && r->element[1]->type == REDIS_REPLY_STRING &&
			    r->element[2]->type == REDIS_REPLY_INTEGER)
				snprintf(why, whylen, "is a replica of %s:%lld, not the primary", r->element[1]->str,
					 r->element[2]->integer);
			else
				snprintf(why, whylen, "is a replica, not the primary");
			return RS_EPROTO;
		}
		if (r->elements >= 4 && r->element[3]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[3]->str, "connected") != 0) {
			snprintf(why, whylen, "is a replica not in step with its primary (link %s)", r->element[3]->str);
			return RS_EPROTO;
		}
		return 0;
	}
	snprintf(why, whylen, "is a %s, not a Redis %s", role, rs_role_name(want));
	return RS_EPROTO;
}

/*
 * Discovery through Sentinel, then a connection to the node found, checked
 * with ROLE. Sentinels in the order written; each one's candidates in turn.
 * When a sentinel answered but no candidate would do (a failover under
 * way), one more round after a pause. *used gets the node (may be NULL).
 */
static int sentinel_connect(const struct rs_endpoint *e, int timeout_ms, redisContext **out, struct rs_node *used,
			    char *err, size_t errlen)
{
	int stmo = timeout_ms < RS_SENTINEL_TIMEOUT_MS ? timeout_ms : RS_SENTINEL_TIMEOUT_MS;
	int want = rs_endpoint_role(e);
	struct rs_node cand[RS_SENTINEL_CAND_MAX];
	char last[600] = "no sentinel", label[300], why[200];

	*out = NULL;
	for (int pass = 0; pass < 2; pass++) {
		bool answered = false;
		for (size_t i = 0; i < e->nsentinels; i++) {
			int n = rs_sentinel_candidates(e, i, stmo, cand, RS_SENTINEL_CAND_MAX, last, sizeof(last));
			if (n < 0)
				continue;
			answered = true;
			for (int j = 0; j < n; j++) {
				redisContext *c;
				redisReply *r;
				int rc;
				node_label(label, sizeof(label), cand[j].host, cand[j].port);
				if (node_connect(e, cand[j].host, cand[j].port, NULL, label, timeout_ms, &c, last,
						 sizeof(last)))
					continue;
				r = redisCommand(c, "ROLE");
				rc = rs_role_verdict(r, want, why, sizeof(why));
				freeReplyObject(r);
				if (rc) {
					snprintf(last, sizeof(last), "Redis %s %s", label, why);
					redisFree(c);
					continue;
				}
				*out = c;
				if (used)
					*used = cand[j];
				return 0;
			}
		}
		if (!answered)
			break;
		if (pass == 0) /* a failover under way: the sentinels may know better soon */
			usleep((useconds_t)(timeout_ms < 1000 ? timeout_ms : 1000) * 1000);
	}
	snprintf(err, errlen, "Redis %s: no %s of '%s' found through %zu sentinel%s (last: %s)", e->addr,
		 rs_role_name(want), e->master_name, e->nsentinels, e->nsentinels == 1 ? "" : "s", last);
	return RS_EIO;
}

int rs_redis_connect(const struct rs_endpoint *e, int timeout_ms, struct redisContext **out,
		     char *err, size_t errlen)
{
	if (rs_endpoint_is_sentinel(e))
		return sentinel_connect(e, timeout_ms, out, NULL, err, errlen);
	return node_connect(e, e->host, e->port, e->unix_path, e->addr, timeout_ms, out, err, errlen);
}

/*
 * The READONLY hook of asynchronous Sentinel connections: the reply reader's
 * functions are hiredis' defaults with createString wrapped. An error reply
 * READONLY (the node was demoted under a live connection) shuts the socket
 * down: its owner then sees an ordinary connection loss (every pending
 * callback gets a NULL reply, then the disconnect callback), and its
 * reconnect asks the sentinels again. The reply itself is still delivered.
 */
static redisReplyObjectFunctions ro_fns;
static void *(*ro_create_string)(const redisReadTask *, char *, size_t);
static pthread_mutex_t ro_mu = PTHREAD_MUTEX_INITIALIZER;

static void *ro_string(const redisReadTask *t, char *str, size_t len)
{
	if (t->type == REDIS_REPLY_ERROR && len >= 8 && memcmp(str, "READONLY", 8) == 0 && t->privdata) {
		redisAsyncContext *ac = t->privdata;
		rs_log(RS_LOG_WARN, "Redis %s:%d: READONLY: the node is no longer the primary; dropping the connection to "
		       "ask the sentinels again", ac->c.tcp.host ? ac->c.tcp.host : "?", ac->c.tcp.port);
		shutdown(ac->c.fd, SHUT_RDWR);
	}
	return ro_create_string(t, str, len);
}

static void ro_install(redisAsyncContext *ac)
{
	pthread_mutex_lock(&ro_mu);
	if (!ro_create_string) {
		ro_fns = *ac->c.reader->fn;
		ro_create_string = ro_fns.createString;
		ro_fns.createString = ro_string;
	}
	pthread_mutex_unlock(&ro_mu);
	if (ac->c.reader->fn->createString == ro_create_string) {
		ac->c.reader->fn = &ro_fns;
		ac->c.reader->privdata = ac;
	}
}

/* The ROLE check of an asynchronous Sentinel connection (want in priv): a
 * wrong node is dropped like a lost connection, to be discovered again. */
static void on_role(redisAsyncContext *ac, void *reply, void *priv)
{
	char why[200];

	if (!reply)
		return; /* the connection is going away anyway */
	if (rs_role_verdict(reply, (int)(intptr_t)priv, why, sizeof(why)) == RS_EPROTO) {
		rs_log(RS_LOG_WARN, "Redis %s:%d %s: dropping the connection to ask the sentinels again",
		       ac->c.tcp.host ? ac->c.tcp.host : "?", ac->c.tcp.port, why);
		shutdown(ac->c.fd, SHUT_RDWR);
	}
}

/* Ask the sentinels (in order) for the node to connect to asynchronously:
 * the first candidate of the first that answers. A failure is logged when it
 * differs from this thread's last one (the caller retries with backoff). */
static int async_discover(const struct rs_endpoint *e, struct rs_node *node)
{
	static __thread char last_logged[400];
	struct rs_node cand[RS_SENTINEL_CAND_MAX];
	char err[400] = "no sentinel";

	for (size_t i = 0; i < e->nsentinels; i++) {
		if (rs_sentinel_candidates(e, i, RS_SENTINEL_TIMEOUT_MS, cand, RS_SENTINEL_CAND_MAX, err, sizeof(err)) > 0) {
			char label[300];
			*node = cand[0];
			node_label(label, sizeof(label), node->host, node->port);
			rs_log(RS_LOG_INFO, "Redis %s: connecting to %s %s", e->addr,
			       node->primary ? "the primary" : "replica", label);
			last_logged[0] = '\0';
			return 0;
		}
	}
	if (strcmp(err, last_logged) != 0) {
		rs_log(RS_LOG_WARN, "Redis %s: no %s of '%s' found through the sentinels (last: %s); retrying", e->addr,
		       rs_role_name(rs_endpoint_role(e)), e->master_name, err);
		snprintf(last_logged, sizeof(last_logged), "%s", err);
	}
	return RS_EIO;
}

redisAsyncContext *rs_redis_async_connect(const struct rs_endpoint *e, struct event_base *base, void *data,
					  void (*on_conn)(const redisAsyncContext *, int),
					  void (*on_disc)(const redisAsyncContext *, int))
{
	struct rs_node node;
	redisAsyncContext *ac;

	if (rs_endpoint_is_sentinel(e)) {
		if (async_discover(e, &node))
			return NULL;
		ac = redisAsyncConnect(node.host, node.port);
	} else {
		ac = e->unix_path ? redisAsyncConnectUnix(e->unix_path) : redisAsyncConnect(e->host, e->port);
	}
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
	if (rs_endpoint_is_sentinel(e))
		ro_install(ac);
	if (e->password) {
		if (e->user)
			redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", e->user, e->password);
		else
			redisAsyncCommand(ac, NULL, NULL, "AUTH %s", e->password);
	}
	if (e->db)
		redisAsyncCommand(ac, NULL, NULL, "SELECT %d", e->db);
	if (rs_endpoint_is_sentinel(e))
		redisAsyncCommand(ac, on_role, (void *)(intptr_t)rs_endpoint_role(e), "ROLE");
	return ac;
}

bool rs_redis_error_transient(const char *msg)
{
	static const char *const transient[] = { "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
						 "NOAUTH", "NOPERM", "WRONGPASS", "READONLY", "NOREPLICAS" };

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strncmp(msg, transient[i], strlen(transient[i])) == 0)
			return true;
	return strstr(msg, "max number of clients") != NULL;
}

int rs_hash_kv(const redisReply *r, const char ***kvp, size_t *npairs)
{
	const char **kv;

	*kvp = NULL;
	*npairs = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return RS_EINVAL;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING || strlen(r->element[i]->str) != r->element[i]->len)
			return RS_EINVAL;
	kv = calloc(r->elements + 1, sizeof(*kv));
	if (!kv)
		return RS_ENOMEM;
	for (size_t i = 0; i < r->elements; i++)
		kv[i] = r->element[i]->str;
	*kvp = kv;
	*npairs = r->elements / 2;
	return 0;
}

/* A reply for a key: NULL -> RS_EIO (connection), transient error -> RS_EIO,
 * other error -> RS_EINVAL (the key is malformed), else 0. */
static int reply_class(redisContext *c, const redisReply *r, const char *what, char *err, size_t errlen)
{
	if (!r) {
		snprintf(err, errlen, "Redis: %s: %s", what, c->errstr[0] ? c->errstr : "connection lost");
		return RS_EIO;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis: %s: %.200s", what, r->str);
		return rs_redis_error_transient(r->str) ? RS_EIO : RS_EINVAL;
	}
	return 0;
}

static redisReply *get_reply(redisContext *c)
{
	void *r = NULL;

	if (redisGetReply(c, &r) != REDIS_OK)
		return NULL;
	return r;
}

/* Log the first RS_LOAD_LOG_MAX problems of a load; count them all. */
static void bad_key(struct rs_load_stats *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_key(struct rs_load_stats *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (st->bad_keys++ + st->bad_orders >= RS_LOAD_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs_log(RS_LOG_WARN, "%s", msg);
}

static void read_dataset(const redisReply *r, struct rs_dataset *ds)
{
	const char **kv;
	size_t n;

	memset(ds, 0, sizeof(*ds));
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
		return; /* no key */
	if (rs_hash_kv(r, &kv, &n) != 0) {
		ds->present = true; /* wrong type or junk: valid stays false */
		return;
	}
	rs_dataset_parse(kv, n, ds);
	free(kv);
}

int rs_load_probe(redisContext *c, const struct rs_conf *conf, struct rs_probe *p, char *err, size_t errlen)
{
	rs_load_probe_send(c, conf);
	return rs_load_probe_recv(c, p, err, errlen);
}

void rs_load_probe_send(redisContext *c, const struct rs_conf *conf)
{
	/* only commands the `resolver` ACL role has (doc/acl.md) */
	redisAppendCommand(c, "HGETALL %sdataset", conf->prefix);
	redisAppendCommand(c, "SSCAN %sorders 0 COUNT 1", conf->prefix);
	redisAppendCommand(c, "XREVRANGE %schanges + - COUNT 1", conf->prefix);
	redisAppendCommand(c, "PING");
}

int rs_load_probe_recv(redisContext *c, struct rs_probe *p, char *err, size_t errlen)
{
	redisReply *r[4] = { NULL, NULL, NULL, NULL };
	int rc = 0;

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 4; i++)
		r[i] = get_reply(c);
	for (int i = 0; i < 4 && rc == 0; i++)
		if (reply_class(c, r[i], "probing the dataset", err, errlen) == RS_EIO)
			rc = RS_EIO;
	if (rc == 0) {
		if (r[0]->type == REDIS_REPLY_ERROR) {
			memset(&p->ds, 0, sizeof(p->ds));
			p->ds.present = true;
		} else {
			read_dataset(r[0], &p->ds);
		}
		/* a key of another type counts as data too: it is not an empty Redis */
		p->has_data = r[1]->type == REDIS_REPLY_ERROR || r[2]->type == REDIS_REPLY_ERROR ||
			      (r[1]->type == REDIS_REPLY_ARRAY && r[1]->elements == 2 &&
			       ((r[1]->element[0]->type == REDIS_REPLY_STRING && strcmp(r[1]->element[0]->str, "0") != 0) ||
				(r[1]->element[1]->type == REDIS_REPLY_ARRAY && r[1]->element[1]->elements > 0))) ||
			      (r[2]->type == REDIS_REPLY_ARRAY && r[2]->elements > 0);
		if (r[2]->type == REDIS_REPLY_ARRAY && r[2]->elements == 1 && r[2]->element[0]->type == REDIS_REPLY_ARRAY &&
		    r[2]->element[0]->elements >= 1 && r[2]->element[0]->element[0]->type == REDIS_REPLY_STRING &&
		    r[2]->element[0]->element[0]->len < sizeof(p->newest_id))
			snprintf(p->newest_id, sizeof(p->newest_id), "%s", r[2]->element[0]->element[0]->str);
	}
	for (int i = 0; i < 4; i++)
		freeReplyObject(r[i]);
	return rc;
}

/* Add the members of one SSCAN page of order id's domains. */
static int add_domains(const redisReply *page, struct rs_list *l, const char *id, uint32_t idx,
		       struct rs_load_stats *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < page->elements; i++) {
		const redisReply *m = page->element[i];
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
			snprintf(err, errlen, "out of memory loading order '%s'", id);
			return rc;
		}
		if (rc == 0)
			st->domains++;
	}
	return 0;
}

/* A member of order:<id>:ips or protected-ips as a prefix: 0, or RS_EINVAL
 * with the reason in why (a value that is not text, holds a NUL octet or
 * does not parse). */
static int member_prefix(const redisReply *m, struct rs_prefix *p, char *why, size_t whylen)
{
	if (m->type != REDIS_REPLY_STRING || strlen(m->str) != m->len) {
		snprintf(why, whylen, "%s", m->type == REDIS_REPLY_STRING ? "holds a NUL octet" : "not a string");
		return RS_EINVAL;
	}
	return rs_prefix_parse(m->str, p, why, whylen);
}

/* Add the members of one SSCAN page of order id's prefixes. */
static int add_prefixes(const redisReply *page, struct rs_list *l, const char *id, uint32_t idx,
			struct rs_load_stats *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < page->elements; i++) {
		struct rs_prefix p;
		char why[160];
		int rc = member_prefix(page->element[i], &p, why, sizeof(why));
		if (rc < 0) {
			if (st->bad_prefixes++ < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed prefix of order '%s': %s", id, why);
			continue;
		}
		rc = rs_list_prefix_add(l, &p, idx);
		if (rc == RS_ENOMEM) {
			snprintf(err, errlen, "out of memory loading order '%s'", id);
			return rc;
		}
		if (rc == 0)
			st->prefixes++;
	}
	return 0;
}

/* The sets of an order read with SSCAN: its domains, its prefixes. */
enum { SET_DOMAINS, SET_IPS, NSETS };
static const char *const set_name[NSETS] = { "domains", "ips" };

/* An order of a batch being loaded: its list index and its SSCAN cursors. */
struct pending {
	const char *id;
	uint32_t idx;
	bool loaded; /* the order parsed and is in the list */
	char cursor[NSETS][32];
};

/*
 * The SSCAN reply for one set of one order: 0 (cursor updated, "0" when
 * done), RS_EIO / RS_ENOMEM, or a skipped malformed key (cursor set to "0").
 */
static int sscan_reply(redisContext *c, redisReply *r, const struct rs_conf *conf, struct rs_list *l,
		       struct pending *p, int set, struct rs_load_stats *st, char *err, size_t errlen)
{
	char what[300], *cursor = p->cursor[set];
	int rc;

	snprintf(what, sizeof(what), "SSCAN %sorder:%s:%s", conf->prefix, p->id, set_name[set]);
	rc = reply_class(c, r, what, err, errlen);
	snprintf(cursor, sizeof(p->cursor[set]), "0");
	if (rc == RS_EIO)
		return rc;
	if (rc == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
			r->element[1]->type != REDIS_REPLY_ARRAY || r->element[0]->len >= sizeof(p->cursor[set]))) {
		snprintf(err, errlen, "%s: unexpected reply", what);
		rc = RS_EINVAL;
	}
	if (rc == RS_EINVAL) {
		bad_key(st, "skipping the %s of order '%s': %s", set_name[set], p->id, err);
		return 0;
	}
	if (!p->loaded)
		return 0; /* the order itself was skipped: its domains and prefixes block nothing */
	snprintf(cursor, sizeof(p->cursor[set]), "%s", r->element[0]->str);
	if (set == SET_IPS)
		return add_prefixes(r->element[1], l, p->id, p->idx, st, err, errlen);
	return add_domains(r->element[1], l, p->id, p->idx, st, err, errlen);
}

/* The HGETALL reply of one order: parse it into the list, or skip it. */
static int order_reply(redisContext *c, redisReply *r, const struct rs_conf *conf, struct rs_list *l,
		       struct pending *p, struct rs_load_stats *st, char *err, size_t errlen)
{
	char what[300], why[512];
	struct rs_order *o = NULL;
	const char **kv = NULL;
	size_t n = 0;
	int rc;

	snprintf(what, sizeof(what), "HGETALL %sorder:%s", conf->prefix, p->id);
	rc = reply_class(c, r, what, err, errlen);
	if (rc == RS_EIO)
		return rc;
	if (rc == RS_EINVAL)
		snprintf(why, sizeof(why), "order '%s': %s", p->id, err);
	else if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
		snprintf(why, sizeof(why), "order '%s' is in the orders set but %sorder:%s does not exist", p->id,
			 conf->prefix, p->id);
	else if ((rc = rs_hash_kv(r, &kv, &n)) == RS_ENOMEM)
		return rc;
	else if (rc)
		snprintf(why, sizeof(why), "order '%s': %sorder:%s is not a hash of text fields", p->id, conf->prefix,
			 p->id);
	else
		rc = rs_order_parse(conf, p->id, kv, n, &o, why, sizeof(why));
	free(kv);
	if (rc == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements == 0))
		rc = RS_EINVAL;
	if (rc) {
		if (st->bad_orders++ + st->bad_keys < RS_LOAD_LOG_MAX)
			rs_log(RS_LOG_WARN, "skipping malformed order: %s", why);
		return 0;
	}
	if (o->warnings && st->bad_orders + st->bad_keys < RS_LOAD_LOG_MAX)
		rs_log(RS_LOG_WARN, "%s", why); /* fields replaced or shortened: the order loads */
	rc = rs_list_order_set(l, o, &p->idx);
	if (rc) {
		snprintf(err, errlen, "order '%s': %s", p->id, rs_strerror(rc));
		return rc;
	}
	p->loaded = true;
	st->orders++;
	return 0;
}

#define LOAD_BATCH 256

/* Load a batch of orders: HGETALL and the first SSCAN page of each set of
 * each in one round trip, then the further SSCAN pages of those that have
 * more. */
static int load_batch(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct pending *b, size_t n,
		      struct rs_load_stats *st, char *err, size_t errlen)
{
	int rc = 0;
	size_t more;

	for (size_t i = 0; i < n; i++) {
		redisAppendCommand(c, "HGETALL %sorder:%s", conf->prefix, b[i].id);
		for (int k = 0; k < NSETS; k++)
			redisAppendCommand(c, "SSCAN %sorder:%s:%s 0 COUNT 1000", conf->prefix, b[i].id, set_name[k]);
	}
	/* read every reply even after an error, so the connection stays in step */
	for (size_t i = 0; i < n; i++) {
		redisReply *h = get_reply(c), *s;
		int r1 = h ? (rc ? 0 : order_reply(c, h, conf, l, &b[i], st, err, errlen)) : RS_EIO;
		freeReplyObject(h);
		if (r1 && !rc)
			rc = r1;
		if (!h) {
			snprintf(err, errlen, "Redis: HGETALL: %s", c->errstr[0] ? c->errstr : "connection lost");
			return RS_EIO;
		}
		for (int k = 0; k < NSETS; k++) {
			s = get_reply(c);
			if (!s) {
				snprintf(err, errlen, "Redis: SSCAN: %s", c->errstr[0] ? c->errstr : "connection lost");
				return RS_EIO;
			}
			r1 = rc ? 0 : sscan_reply(c, s, conf, l, &b[i], k, st, err, errlen);
			if (rc)
				snprintf(b[i].cursor[k], sizeof(b[i].cursor[k]), "0");
			freeReplyObject(s);
			if (r1 && !rc)
				rc = r1;
		}
	}
	while (rc == 0) {
		more = 0;
		for (size_t i = 0; i < n; i++)
			for (int k = 0; k < NSETS; k++)
				if (strcmp(b[i].cursor[k], "0") != 0) {
					redisAppendCommand(c, "SSCAN %sorder:%s:%s %s COUNT 10000", conf->prefix, b[i].id,
							   set_name[k], b[i].cursor[k]);
					more++;
				}
		if (!more)
			break;
		for (size_t i = 0; i < n; i++) {
			for (int k = 0; k < NSETS; k++) {
				redisReply *s;
				int r1;
				if (strcmp(b[i].cursor[k], "0") == 0)
					continue;
				s = get_reply(c);
				if (!s) {
					snprintf(err, errlen, "Redis: SSCAN: %s",
						 c->errstr[0] ? c->errstr : "connection lost");
					return RS_EIO;
				}
				r1 = rc ? 0 : sscan_reply(c, s, conf, l, &b[i], k, st, err, errlen);
				if (rc)
					snprintf(b[i].cursor[k], sizeof(b[i].cursor[k]), "0");
				freeReplyObject(s);
				if (r1 && !rc)
					rc = r1;
			}
		}
	}
	return rc;
}

int rs_load_all(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct rs_load_stats *st,
		char *err, size_t errlen)
{
	static const char *const what[5] = { "XREVRANGE changes", "HGETALL dataset", "SMEMBERS orders",
					     "SMEMBERS protected", "SMEMBERS protected-ips" };
	redisReply *r[5] = { NULL, NULL, NULL, NULL, NULL };
	struct pending *b = NULL;
	size_t nb = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	strcpy(st->last_id, "0-0");
	/* Note the stream position first: a change made during the load is then
	 * applied again afterwards, which is harmless (changes are idempotent). */
	redisAppendCommand(c, "XREVRANGE %schanges + - COUNT 1", conf->prefix);
	redisAppendCommand(c, "HGETALL %sdataset", conf->prefix);
	redisAppendCommand(c, "SMEMBERS %sorders", conf->prefix);
	redisAppendCommand(c, "SMEMBERS %sprotected", conf->prefix);
	redisAppendCommand(c, "SMEMBERS %sprotected-ips", conf->prefix);
	for (int i = 0; i < 5; i++)
		r[i] = get_reply(c);
	for (int i = 0; i < 5 && rc == 0; i++)
		if (reply_class(c, r[i], what[i], err, errlen) == RS_EIO)
			rc = RS_EIO;
	if (rc)
		goto out;

	if (r[0]->type == REDIS_REPLY_ERROR) {
		bad_key(st, "%schanges is not a stream (%.100s): the list cannot follow it", conf->prefix, r[0]->str);
		st->has_data = true;
	} else if (r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 1 && r[0]->element[0]->type == REDIS_REPLY_ARRAY &&
		   r[0]->element[0]->elements >= 1 && r[0]->element[0]->element[0]->type == REDIS_REPLY_STRING &&
		   r[0]->element[0]->element[0]->len < sizeof(st->last_id)) {
		snprintf(st->last_id, sizeof(st->last_id), "%s", r[0]->element[0]->element[0]->str);
		st->has_data = true;
	}
	if (r[1]->type == REDIS_REPLY_ERROR) {
		st->ds.present = true;
		bad_key(st, "%sdataset is not a hash: %.100s", conf->prefix, r[1]->str);
	} else {
		read_dataset(r[1], &st->ds);
	}
	if (r[2]->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "%sorders is not a set (%.100s): nothing can be loaded", conf->prefix,
			 r[2]->type == REDIS_REPLY_ERROR ? r[2]->str : "unexpected reply");
		rc = RS_EPROTO;
		goto out;
	}
	if (r[2]->elements)
		st->has_data = true;
	b = calloc(LOAD_BATCH, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		rc = RS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r[2]->elements && rc == 0; i++) {
		redisReply *m = r[2]->element[i];
		if (m->type != REDIS_REPLY_STRING || strlen(m->str) != m->len || !rs_order_id_ok(m->str)) {
			if (st->bad_orders++ + st->bad_keys < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed order id '%.*s' in %sorders",
				       m->type == REDIS_REPLY_STRING ? (int)(m->len > 80 ? 80 : m->len) : 0,
				       m->type == REDIS_REPLY_STRING ? m->str : "", conf->prefix);
			continue;
		}
		b[nb] = (struct pending){ .id = m->str };
		if (++nb == LOAD_BATCH) {
			rc = load_batch(c, conf, l, b, nb, st, err, errlen);
			nb = 0;
		}
	}
	if (rc == 0 && nb)
		rc = load_batch(c, conf, l, b, nb, st, err, errlen);
	if (rc)
		goto out;

	if (r[3]->type == REDIS_REPLY_ERROR)
		bad_key(st, "%sprotected is not a set (%.100s): nothing is protected", conf->prefix, r[3]->str);
	for (size_t i = 0; r[3]->type == REDIS_REPLY_ARRAY && i < r[3]->elements; i++) {
		redisReply *m = r[3]->element[i];
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
			snprintf(err, errlen, "out of memory loading the protected set");
			rc = n;
			goto out;
		}
		if (n == 0)
			st->protected_n++;
	}

	if (r[4]->type == REDIS_REPLY_ERROR)
		bad_key(st, "%sprotected-ips is not a set (%.100s): no prefix is protected", conf->prefix, r[4]->str);
	for (size_t i = 0; r[4]->type == REDIS_REPLY_ARRAY && i < r[4]->elements; i++) {
		struct rs_prefix p;
		char why[160];
		int n = member_prefix(r[4]->element[i], &p, why, sizeof(why));
		if (n < 0) {
			if (st->bad_prefixes++ < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed protected prefix: %s", why);
			continue;
		}
		n = rs_list_prefix_protect(l, &p, true);
		if (n == RS_ENOMEM) {
			snprintf(err, errlen, "out of memory loading the protected prefixes");
			rc = n;
			goto out;
		}
		if (n == 0)
			st->protected_prefixes++;
	}
	if (rs_list_commit(l) == RS_ENOMEM) {
		snprintf(err, errlen, "out of memory building the prefix table");
		rc = RS_ENOMEM;
		goto out;
	}
	if (st->bad_orders + st->bad_keys > RS_LOAD_LOG_MAX || st->bad_domains > RS_LOAD_LOG_MAX ||
	    st->bad_prefixes > RS_LOAD_LOG_MAX)
		rs_log(RS_LOG_WARN,
		       "skipped %zu malformed orders, %zu malformed domains, %zu malformed prefixes and %zu malformed "
		       "keys in all",
		       st->bad_orders, st->bad_domains, st->bad_prefixes, st->bad_keys);
out:
	free(b);
	for (int i = 0; i < 5; i++)
		freeReplyObject(r[i]);
	return rc;
}
