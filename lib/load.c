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
#include "sign.h"

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
		       struct rs_setdigest *dig, struct rs_load_stats *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < page->elements; i++) {
		const redisReply *m = page->element[i];
		uint8_t wire[RS_WIRE_MAX];
		int rc = m->type == REDIS_REPLY_STRING ? rs_domain_wire(m->str, m->len, wire) : RS_EINVAL;
		/* signed mode: every member read counts in the digest, whatever
		 * the list makes of it (a member SSCAN returns twice counts once:
		 * rs_setdigest_finish dedupes) */
		if (dig && m->type == REDIS_REPLY_STRING && rs_setdigest_add(dig, m->str, m->len)) {
			snprintf(err, errlen, "out of memory loading order '%s'", id);
			return RS_ENOMEM;
		}
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
			struct rs_setdigest *dig, struct rs_load_stats *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < page->elements; i++) {
		const redisReply *m = page->element[i];
		struct rs_prefix p;
		char why[160];
		int rc = member_prefix(m, &p, why, sizeof(why));
		if (dig && m->type == REDIS_REPLY_STRING && rs_setdigest_add(dig, m->str, m->len)) {
			snprintf(err, errlen, "out of memory loading order '%s'", id);
			return RS_ENOMEM;
		}
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
	/* signed mode */
	struct rs_manifest *m;             /* the verified manifest, until the digests are compared */
	struct rs_setdigest *dig[NSETS];   /* digests of the members read */
	bool set_bad;                      /* a set could not be read whole: its digest cannot match */
	bool failed;                       /* refused (alarm raised): prev's state is carried */
	bool revoked;                      /* the verified manifest says revoked: not enforced */
};

/* Signed mode's state of one load (NULL in unsigned mode). */
struct sigctx {
	const struct rs_list *prev;  /* what the resolver verified before, or NULL */
	struct rs_sigalarm *alarm;   /* may be NULL */
	char **failed;               /* ids refused (copies): carried from prev when it has them */
	size_t nfailed, capfailed;
	size_t ntomb;                /* of them, prev's tombstones (revoked orders) carried without alarm */
	bool oom;
};

static void sig_failed(struct sigctx *sg, const char *id)
{
	char **nv;

	if (sg->nfailed == sg->capfailed) {
		size_t cap = sg->capfailed ? sg->capfailed * 2 : 16;
		if (!(nv = realloc(sg->failed, cap * sizeof(*nv)))) {
			sg->oom = true;
			return;
		}
		sg->failed = nv;
		sg->capfailed = cap;
	}
	if (!(sg->failed[sg->nfailed] = strdup(id))) {
		sg->oom = true;
		return;
	}
	sg->nfailed++;
}

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
		p->set_bad = true;
		return 0;
	}
	if (!p->loaded)
		return 0; /* the order itself was skipped: its domains and prefixes block nothing */
	snprintf(cursor, sizeof(p->cursor[set]), "%s", r->element[0]->str);
	if (set == SET_IPS)
		return add_prefixes(r->element[1], l, p->id, p->idx, p->dig[set], st, err, errlen);
	return add_domains(r->element[1], l, p->id, p->idx, p->dig[set], st, err, errlen);
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


/* ---- signed mode (doc/signing.md) ---- */

/* "order '<id>'", or "the protected set" (RS_PROTECTED_ALARM): three %s. */
#define alarm_label(id)                                                                                             \
	strcmp(id, RS_PROTECTED_ALARM) == 0 ? "the protected set" : "order '",                                      \
		strcmp(id, RS_PROTECTED_ALARM) == 0 ? "" : id, strcmp(id, RS_PROTECTED_ALARM) == 0 ? "" : "'"

void rs_sigalarm_raise(struct rs_sigalarm *a, const char *id, const char *reason, const char *fmt, ...)
{
	struct rs_sigalarm_ent *e = NULL;
	char detail[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!a) {
		rs_log(RS_LOG_ERR, "signature alarm: %s%s%s: %s: %s", alarm_label(id), reason, detail);
		return;
	}
	a->failures++;
	for (size_t i = 0; i < a->n && !e; i++)
		if (strcmp(a->v[i].id, id) == 0)
			e = &a->v[i];
	if (e && strcmp(e->reason, reason) == 0) {
		e->seen = true;
		return; /* logged already */
	}
	rs_log(RS_LOG_ERR, "signature alarm: %s%s%s: %s: %s", alarm_label(id), reason, detail);
	if (!e) {
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 8;
			struct rs_sigalarm_ent *nv = realloc(a->v, cap * sizeof(*nv));
			if (!nv)
				return; /* counted and logged; not tracked */
			a->v = nv;
			a->cap = cap;
		}
		e = &a->v[a->n++];
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->seen = true;
}

void rs_sigalarm_clear(struct rs_sigalarm *a, const char *id)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (strcmp(a->v[i].id, id) == 0) {
			rs_log(RS_LOG_INFO, "signature alarm cleared: %s%s%s is verified again", alarm_label(id));
			a->v[i] = a->v[--a->n];
			return;
		}
}

void rs_sigalarm_begin(struct rs_sigalarm *a)
{
	for (size_t i = 0; a && i < a->n; i++)
		a->v[i].seen = false;
}

void rs_sigalarm_end(struct rs_sigalarm *a)
{
	for (size_t i = 0; a && i < a->n;)
		if (!a->v[i].seen)
			a->v[i] = a->v[--a->n];
		else
			i++;
}

void rs_sigalarm_free(struct rs_sigalarm *a)
{
	free(a->v);
	rs_protsig_clear(&a->prot);
	memset(a, 0, sizeof(*a));
}

int rs_protsig_set(struct rs_protsig *ps, const struct rs_manifest *m, const char *sig)
{
	char *t = malloc(m->len + 1);

	if (!t)
		return RS_ENOMEM;
	memcpy(t, m->text, m->len);
	t[m->len] = '\0';
	free(ps->text);
	ps->text = t;
	ps->len = m->len;
	ps->version = m->version;
	rs_sha256_hex(m->text, m->len, ps->hash);
	snprintf(ps->key, sizeof(ps->key), "%s", m->key);
	snprintf(ps->sig, sizeof(ps->sig), "%s", sig ? sig : "");
	ps->names = m->names;
	ps->prefixes = m->prefixes;
	return 0;
}

int rs_protsig_copy(struct rs_protsig *dst, const struct rs_protsig *src)
{
	char *t = NULL;

	if (dst == src)
		return 0;
	if (src->text && !(t = malloc(src->len + 1))) {
		rs_protsig_clear(dst);
		return RS_ENOMEM;
	}
	if (t)
		memcpy(t, src->text, src->len + 1);
	free(dst->text);
	*dst = *src;
	dst->text = t;
	return 0;
}

void rs_protsig_clear(struct rs_protsig *ps)
{
	free(ps->text);
	memset(ps, 0, sizeof(*ps));
}

/* The part both verifications share: k is the key looked up for key id
 * `key` in the role's directive (NULL: unknown or revoked, `role` says
 * which directive), the signature over text, then the manifest's parse. */
static int verify_signed_text(const struct rs_pubkey *k, bool revoked, const char *role, const char *text,
			      size_t len, const char *sig, const char *key, struct rs_manifest **out, char reason[16],
			      char *why, size_t whylen)
{
	int rc;

	*out = NULL;
	if (!rs_keyid_ok(key)) {
		snprintf(reason, 16, "malformed");
		snprintf(why, whylen, "key id '%.40s' is not 16 lowercase hex digits", key);
		return RS_EINVAL;
	}
	if (!k) {
		snprintf(reason, 16, revoked ? "revoked-key" : "unknown-key");
		snprintf(why, whylen, "signed by %s key %s", revoked ? "revoked" : role, key);
		return RS_EINVAL;
	}
	if (strlen(sig) != RS_SIG_B64_LEN || rs_sig_verify(k, text, len, sig) != 0) {
		snprintf(reason, 16, "bad-signature");
		snprintf(why, whylen, "the signature does not verify with key %s (%s)", key, k->label);
		return RS_EINVAL;
	}
	rc = rs_manifest_parse(text, len, out, why, whylen);
	if (rc)
		snprintf(reason, 16, "malformed");
	return rc;
}

int rs_manifest_verify(const struct rs_conf *c, const char *id, const char *text, size_t len, const char *sig,
		       const char *key, struct rs_manifest **out, char reason[16], char *why, size_t whylen)
{
	bool revoked = false;
	const struct rs_pubkey *k = rs_keyid_ok(key) ? rs_conf_key(c, key, &revoked) : NULL;
	int rc = verify_signed_text(k, revoked, "unknown (not trusted)", text, len, sig, key, out, reason, why,
				    whylen);

	if (rc)
		return rc;
	if (strcmp((*out)->order, id) != 0 || strcmp((*out)->key, key) != 0) {
		snprintf(reason, 16, "mismatch");
		snprintf(why, whylen, "the manifest is for order '%s' with key %s, found for order '%s' with key %s",
			 (*out)->order, (*out)->key, id, key);
		rs_manifest_free(*out);
		*out = NULL;
		return RS_EINVAL;
	}
	return 0;
}

int rs_protected_verify(const struct rs_conf *c, const char *text, size_t len, const char *sig, const char *key,
			struct rs_manifest **out, char reason[16], char *why, size_t whylen)
{
	bool revoked = false;
	const struct rs_pubkey *k = rs_keyid_ok(key) ? rs_conf_protect_key(c, key, &revoked) : NULL;
	int rc = verify_signed_text(k, revoked, "unknown (not a protect-key)", text, len, sig, key, out, reason,
				    why, whylen);

	if (rc)
		return rc;
	if (strcmp((*out)->order, RS_PROTECTED_ID) != 0 || strcmp((*out)->key, key) != 0 || (*out)->nfields ||
	    (*out)->revoked) {
		snprintf(reason, 16, "mismatch");
		snprintf(why, whylen, "not a protected set's manifest (order '%s', key %s, %zu fields, state %s), "
			 "found with key %s", (*out)->order, (*out)->key, (*out)->nfields,
			 (*out)->revoked ? "revoked" : "active", key);
		rs_manifest_free(*out);
		*out = NULL;
		return RS_EINVAL;
	}
	return 0;
}

int rs_order_from_manifest(const struct rs_conf *c, const struct rs_manifest *m, const char *sig,
			   struct rs_order **out, char *why, size_t whylen)
{
	const char *kv[2 * 16];
	struct rs_order_sig *g;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < m->nfields && i < 16; i++) {
		kv[2 * i] = m->field_name[i];
		kv[2 * i + 1] = m->field_value[i];
	}
	rc = rs_order_parse(c, m->order, kv, m->nfields < 16 ? m->nfields : 16, out, why, whylen);
	if (rc)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->text = malloc(m->len + 1))) {
		free(g);
		rs_order_free(*out);
		*out = NULL;
		return RS_ENOMEM;
	}
	memcpy(g->text, m->text, m->len);
	g->text[m->len] = '\0';
	g->len = m->len;
	snprintf(g->sig, sizeof(g->sig), "%s", sig);
	snprintf(g->key, sizeof(g->key), "%s", m->key);
	g->version = m->version;
	rs_sha256_hex(m->text, m->len, g->hash);
	g->names = m->names;
	g->prefixes = m->prefixes;
	g->revoked = m->revoked;
	{
		bool rv;
		const struct rs_pubkey *k = rs_conf_key(c, m->key, &rv);
		snprintf(g->label, sizeof(g->label), "%s", k ? k->label : "");
	}
	(*out)->sig = g;
	if (m->revoked)
		(*out)->in_scope = false; /* a tombstone: never applies */
	if (rs_order_texts(c, *out)) { /* {signer} and {signer_key} of the TXT / EDE templates */
		rs_order_free(*out);
		*out = NULL;
		return RS_ENOMEM;
	}
	return 0;
}

/* A copy of order src (fields parsed again, as the snapshot does; its
 * verified manifest copied). 0, RS_EINVAL, RS_ENOMEM. */
static int order_dup(const struct rs_conf *c, const struct rs_order *src, struct rs_order **out)
{
	const char *kv[] = { "authority", src->authority, "reference", src->reference, "scope", src->scope,
			     "action", rs_action_name(src->action), "expires", src->expires_text, "issued", src->issued,
			     "reason", src->reason, "url", src->url, "lang", src->lang,
			     "windows", src->windows ? src->windows : "" };
	char why[512];
	int rc = rs_order_parse(c, src->id, kv, 10, out, why, sizeof(why));

	if (rc || !src->sig)
		return rc;
	(*out)->sig = malloc(sizeof(*(*out)->sig));
	if ((*out)->sig) {
		*(*out)->sig = *src->sig;
		(*out)->sig->text = malloc(src->sig->len + 1);
		if ((*out)->sig->text) {
			memcpy((*out)->sig->text, src->sig->text, src->sig->len + 1);
			if (src->sig->revoked)
				(*out)->in_scope = false;
			if (rs_order_texts(c, *out) == 0) /* {signer}, {signer_key} */
				return 0;
		}
	}
	rs_order_free(*out);
	*out = NULL;
	return RS_ENOMEM;
}

/* The verified manifest prev holds for order id, or NULL. */
static const struct rs_order_sig *prev_sig(const struct rs_list *prev, const char *id)
{
	int64_t i = prev ? rs_list_order_find(prev, id) : -1;
	const struct rs_order *o = i >= 0 ? rs_list_order_get(prev, (uint32_t)i) : NULL;

	return o ? o->sig : NULL;
}

/* A manifest:<id> hash reply: its text, sig and key (pointing into r). 0, or
 * RS_EINVAL / RS_ENOENT (no hash) with the reason. */
static int manifest_fields(const redisReply *r, const char **text, size_t *len, const char **sig, const char **key,
			   char reason[16], char *why, size_t whylen)
{
	*text = *sig = *key = NULL;
	*len = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
		snprintf(reason, 16, "unsigned");
		snprintf(why, whylen, "no signed manifest");
		return RS_ENOENT;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		snprintf(reason, 16, "malformed");
		snprintf(why, whylen, "the manifest is not a hash");
		return RS_EINVAL;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "text") == 0 && v->len <= RS_MANIFEST_MAX)
			*text = v->str, *len = v->len;
		else if (strcmp(k->str, "sig") == 0 && strlen(v->str) == v->len)
			*sig = v->str;
		else if (strcmp(k->str, "key") == 0 && strlen(v->str) == v->len)
			*key = v->str;
	}
	if (!*text || !*sig || !*key) {
		snprintf(reason, 16, "malformed");
		snprintf(why, whylen, "the manifest lacks its %s", !*text ? "text" : !*sig ? "sig" : "key");
		return RS_EINVAL;
	}
	return 0;
}

/* The HGETALL manifest:<id> reply of one order (signed mode): verify it,
 * check it against what prev verified, and put the order it states into the
 * list (its sets follow; their digests are compared in signed_finish). */
static int signed_reply(redisContext *c, redisReply *r, const struct rs_conf *conf, struct rs_list *l,
			struct pending *p, struct sigctx *sg, struct rs_load_stats *st, char *err, size_t errlen)
{
	const struct rs_order_sig *pv = prev_sig(sg->prev, p->id);
	char what[300], why[600], reason[16] = "malformed", hash[65];
	const char *text, *sig, *key;
	struct rs_manifest *m = NULL;
	struct rs_order *o = NULL;
	size_t len;
	int rc;

	snprintf(what, sizeof(what), "HGETALL %smanifest:%s", conf->prefix, p->id);
	rc = reply_class(c, r, what, err, errlen);
	if (rc == RS_EIO)
		return rc;
	if (rc) {
		snprintf(why, sizeof(why), "%s", err);
		goto fail;
	}
	rc = manifest_fields(r, &text, &len, &sig, &key, reason, why, sizeof(why));
	if (rc)
		goto fail;
	rc = rs_manifest_verify(conf, p->id, text, len, sig, key, &m, reason, why, sizeof(why));
	if (rc == RS_ENOMEM)
		return rc;
	if (rc)
		goto fail;
	if (pv && m->version < pv->version) {
		snprintf(reason, sizeof(reason), "replayed");
		snprintf(why, sizeof(why), "version %llu is older than the verified version %llu (a rollback or a replay)",
			 (unsigned long long)m->version, (unsigned long long)pv->version);
		goto fail;
	}
	if (pv && m->version == pv->version) {
		rs_sha256_hex(m->text, m->len, hash);
		if (strcmp(hash, pv->hash) != 0) {
			snprintf(reason, sizeof(reason), "fork");
			snprintf(why, sizeof(why), "version %llu differs from the verified version %llu",
				 (unsigned long long)m->version, (unsigned long long)pv->version);
			goto fail;
		}
	}
	rc = rs_order_from_manifest(conf, m, sig, &o, why, sizeof(why));
	if (rc == 0 && m->revoked) {
		/* withdrawn by its authority: a tombstone (never applies, lists
		 * nothing) that remembers the version */
		rs_manifest_free(m);
		p->revoked = true;
		rs_sigalarm_clear(sg->alarm, p->id);
		rc = rs_list_order_set(l, o, &p->idx);
		if (rc)
			snprintf(err, errlen, "order '%s': %s", p->id, rs_strerror(rc));
		return rc;
	}
	if (rc == RS_ENOMEM) {
		rs_manifest_free(m);
		return rc;
	}
	if (rc)
		goto fail;
	rc = rs_list_order_set(l, o, &p->idx);
	if (rc) {
		rs_manifest_free(m);
		snprintf(err, errlen, "order '%s': %s", p->id, rs_strerror(rc));
		return rc;
	}
	p->dig[SET_DOMAINS] = rs_setdigest_new();
	p->dig[SET_IPS] = rs_setdigest_new();
	if (!p->dig[SET_DOMAINS] || !p->dig[SET_IPS]) {
		rs_manifest_free(m);
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	p->m = m;
	p->loaded = true;
	st->orders++;
	return 0;
fail:
	rs_manifest_free(m);
	p->failed = true;
	rs_sigalarm_raise(sg->alarm, p->id, reason, "%s%s", why,
			  pv ? ": keeping its verified version" : ": not enforced");
	sig_failed(sg, p->id);
	return 0;
}

/* After a batch's sets were read: compare each signed order's digests with
 * its manifest; an order whose stored sets do not match is taken out again
 * (prev's state is carried later). */
static void signed_finish(const struct rs_conf *conf, struct rs_list *l, struct pending *b, size_t n,
			  struct sigctx *sg, struct rs_load_stats *st)
{
	(void)conf;
	for (size_t i = 0; i < n; i++) {
		struct pending *p = &b[i];
		char hex[NSETS][65];
		size_t cnt[NSETS];
		bool ok;
		if (!p->m)
			continue;
		for (int k = 0; k < NSETS; k++) {
			rs_setdigest_finish(p->dig[k], hex[k], &cnt[k]);
			p->dig[k] = NULL;
		}
		ok = !p->set_bad && cnt[SET_DOMAINS] == p->m->names && strcmp(hex[SET_DOMAINS], p->m->names_digest) == 0 &&
		     cnt[SET_IPS] == p->m->prefixes && strcmp(hex[SET_IPS], p->m->prefixes_digest) == 0;
		if (ok) {
			rs_sigalarm_clear(sg->alarm, p->id);
			continue;
		}
		if (rs_list_order_remove(l, p->id) == 0 && rs_list_order_sweep(l, p->idx) == RS_ENOMEM)
			sg->oom = true;
		p->loaded = false;
		p->failed = true;
		st->orders--;
		rs_sigalarm_raise(sg->alarm, p->id, "digest",
				  "the stored sets do not match version %llu (%zu names and %zu prefixes read, %zu and "
				  "%zu signed)%s",
				  (unsigned long long)p->m->version, cnt[SET_DOMAINS], cnt[SET_IPS], p->m->names,
				  p->m->prefixes,
				  prev_sig(sg->prev, p->id) ? ": keeping its verified version" : ": not enforced");
		sig_failed(sg, p->id);
	}
}

/* Carrying orders from prev into l: prev index -> l index. */
struct carry {
	struct rs_list *l;
	uint32_t *map; /* prev index -> l index + 1 (0: not carried) */
	uint32_t nmap;
	int rc;
};

static int carry_entry(const struct rs_entry *e, void *arg)
{
	struct carry *cy = arg;

	for (uint16_t k = 0; k < e->nord; k++)
		if (e->ord[k] < cy->nmap && cy->map[e->ord[k]] &&
		    rs_list_add(cy->l, rs_entry_wire(e), e->wlen, cy->map[e->ord[k]] - 1) == RS_ENOMEM)
			return cy->rc = RS_ENOMEM;
	return 0;
}

static int carry_prefix(const struct rs_pentry *pe, void *arg)
{
	struct carry *cy = arg;

	for (uint16_t k = 0; k < pe->nord; k++)
		if (pe->ord[k] < cy->nmap && cy->map[pe->ord[k]] &&
		    rs_list_prefix_add(cy->l, &pe->prefix, cy->map[pe->ord[k]] - 1) == RS_ENOMEM)
			return cy->rc = RS_ENOMEM;
	return 0;
}

/* Copy the orders ids[0..n) that prev holds (verified), with their names
 * and prefixes, into l. A verified state whose key the configuration no
 * longer trusts (revoked-key, or gone from trusted-key) is not carried: not
 * enforced, alarm (a tombstone is carried whatever its key: it enforces
 * nothing and keeps replays out). *held counts those carried. 0 or
 * RS_ENOMEM. */
static int carry_orders(const struct rs_conf *conf, struct rs_list *l, const struct rs_list *prev, char **ids,
			size_t n, struct rs_sigalarm *alarm, size_t *held)
{
	struct carry cy = { l, NULL, prev ? rs_list_order_count(prev) : 0, 0 };
	size_t carried = 0;

	if (!prev || !n)
		return 0;
	cy.map = calloc(cy.nmap + 1, sizeof(*cy.map));
	if (!cy.map)
		return RS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t pi = rs_list_order_find(prev, ids[i]);
		const struct rs_order *po = pi >= 0 ? rs_list_order_get(prev, (uint32_t)pi) : NULL;
		struct rs_order *o;
		uint32_t idx;
		bool revoked = false;
		if (!po || !po->sig || cy.map[pi])
			continue;
		if (!po->sig->revoked && !rs_conf_key(conf, po->sig->key, &revoked)) {
			rs_sigalarm_raise(alarm, po->id, revoked ? "revoked-key" : "unknown-key",
					  "its verified version %llu is signed by %s key %s: not enforced",
					  (unsigned long long)po->sig->version, revoked ? "revoked" : "unknown (not trusted)",
					  po->sig->key);
			continue;
		}
		if (order_dup(conf, po, &o) || rs_list_order_set(l, o, &idx)) {
			free(cy.map);
			return RS_ENOMEM;
		}
		cy.map[pi] = idx + 1;
		carried++;
	}
	if (carried) {
		rs_list_foreach(prev, carry_entry, &cy);
		if (cy.rc == 0)
			rs_list_prefix_foreach(prev, carry_prefix, &cy);
	}
	free(cy.map);
	*held += carried;
	return cy.rc;
}

/* Orders prev enforced (verified) that the load did not find in `orders`:
 * gone without a signed revocation is a tampering (an order taken out of
 * `orders` behind the authority's back), kept with an alarm; a verified
 * newer revoked manifest withdraws it. */
static int signed_missing(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct sigctx *sg)
{
	uint32_t n = sg->prev ? rs_list_order_count(sg->prev) : 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct rs_order *po = rs_list_order_get(sg->prev, i);
		char why[600], reason[16] = "malformed";
		const char *text, *sig, *key;
		struct rs_manifest *m = NULL;
		redisReply *r;
		size_t len;
		bool listed = false;
		int rc;
		if (!po || !po->sig || rs_list_order_find(l, po->id) >= 0)
			continue;
		for (size_t k = 0; k < sg->nfailed && !listed; k++)
			listed = strcmp(sg->failed[k], po->id) == 0;
		if (listed)
			continue;
		if (po->sig->revoked) { /* a tombstone stays one: carried without alarm */
			sig_failed(sg, po->id);
			sg->ntomb++;
			continue;
		}
		r = redisCommand(c, "HGETALL %smanifest:%s", conf->prefix, po->id);
		if (!r)
			return RS_EIO;
		if (r->type == REDIS_REPLY_ERROR) {
			rc = rs_redis_error_transient(r->str) ? RS_EIO : RS_EINVAL;
			snprintf(why, sizeof(why), "%.200s", r->str);
		} else {
			rc = manifest_fields(r, &text, &len, &sig, &key, reason, why, sizeof(why));
			if (rc == 0)
				rc = rs_manifest_verify(conf, po->id, text, len, sig, key, &m, reason, why, sizeof(why));
		}
		if (rc == RS_EIO || rc == RS_ENOMEM) {
			freeReplyObject(r);
			return rc;
		}
		if (rc == 0 && m->revoked && m->version > po->sig->version) {
			struct rs_order *o;
			uint32_t idx;
			rs_sigalarm_clear(sg->alarm, po->id); /* withdrawn by its authority: a tombstone */
			rc = rs_order_from_manifest(conf, m, sig, &o, why, sizeof(why));
			if (rc == 0)
				rc = rs_list_order_set(l, o, &idx);
			if (rc == RS_ENOMEM || rc == RS_EFULL) {
				rs_manifest_free(m);
				freeReplyObject(r);
				return RS_ENOMEM;
			}
		} else {
			if (rc == 0) {
				snprintf(reason, sizeof(reason), "withdrawn");
				snprintf(why, sizeof(why), "no longer in %sorders without a signed revocation", conf->prefix);
			}
			rs_sigalarm_raise(sg->alarm, po->id, reason, "%s: keeping its verified version", why);
			sig_failed(sg, po->id);
		}
		rs_manifest_free(m);
		freeReplyObject(r);
	}
	return 0;
}

#define LOAD_BATCH 256

static int load_batch_read(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct pending *b,
			   size_t n, struct sigctx *sg, struct rs_load_stats *st, char *err, size_t errlen);

/* Load a batch of orders: HGETALL and the first SSCAN page of each set of
 * each in one round trip, then the further SSCAN pages of those that have
 * more. */
static int load_batch(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct pending *b, size_t n,
		      struct sigctx *sg, struct rs_load_stats *st, char *err, size_t errlen)
{
	int rc = load_batch_read(c, conf, l, b, n, sg, st, err, errlen);

	if (sg && rc == 0)
		signed_finish(conf, l, b, n, sg, st);
	for (size_t i = 0; i < n; i++) {
		rs_manifest_free(b[i].m);
		b[i].m = NULL;
		for (int k = 0; k < NSETS; k++) {
			rs_setdigest_free(b[i].dig[k]);
			b[i].dig[k] = NULL;
		}
	}
	return rc;
}

static int load_batch_read(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct pending *b,
			   size_t n, struct sigctx *sg, struct rs_load_stats *st, char *err, size_t errlen)
{
	int rc = 0;
	size_t more;

	for (size_t i = 0; i < n; i++) {
		redisAppendCommand(c, sg ? "HGETALL %smanifest:%s" : "HGETALL %sorder:%s", conf->prefix, b[i].id);
		for (int k = 0; k < NSETS; k++)
			redisAppendCommand(c, "SSCAN %sorder:%s:%s 0 COUNT 1000", conf->prefix, b[i].id, set_name[k]);
	}
	/* read every reply even after an error, so the connection stays in step */
	for (size_t i = 0; i < n; i++) {
		redisReply *h = get_reply(c), *s;
		int r1 = h ? (rc ? 0
				 : sg	? signed_reply(c, h, conf, l, &b[i], sg, st, err, errlen)
					: order_reply(c, h, conf, l, &b[i], st, err, errlen))
			   : RS_EIO;
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

/* The protected set and prefixes (SMEMBERS replies rn, rp) into l. 0 or RS_ENOMEM. */
static int load_protected(const struct rs_conf *conf, struct rs_list *l, const redisReply *rn, const redisReply *rp,
			  struct rs_load_stats *st, char *err, size_t errlen)
{
	if (rn->type == REDIS_REPLY_ERROR)
		bad_key(st, "%sprotected is not a set (%.100s): nothing is protected", conf->prefix, rn->str);
	for (size_t i = 0; rn->type == REDIS_REPLY_ARRAY && i < rn->elements; i++) {
		redisReply *m = rn->element[i];
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
			return n;
		}
		if (n == 0)
			st->protected_n++;
	}

	if (rp->type == REDIS_REPLY_ERROR)
		bad_key(st, "%sprotected-ips is not a set (%.100s): no prefix is protected", conf->prefix, rp->str);
	for (size_t i = 0; rp->type == REDIS_REPLY_ARRAY && i < rp->elements; i++) {
		struct rs_prefix p;
		char why[160];
		int n = member_prefix(rp->element[i], &p, why, sizeof(why));
		if (n < 0) {
			if (st->bad_prefixes++ < RS_LOAD_LOG_MAX)
				rs_log(RS_LOG_WARN, "skipping malformed protected prefix: %s", why);
			continue;
		}
		n = rs_list_prefix_protect(l, &p, true);
		if (n == RS_ENOMEM) {
			snprintf(err, errlen, "out of memory loading the protected prefixes");
			return n;
		}
		if (n == 0)
			st->protected_prefixes++;
	}
	return 0;
}

/* The set digest of the string members of an SMEMBERS reply (an error or a
 * non-array reply is the empty set). false: out of memory. */
static bool members_digest(const redisReply *r, char hex[65], size_t *count)
{
	struct rs_setdigest *d = rs_setdigest_new();

	if (!d)
		return false;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    rs_setdigest_add(d, r->element[i]->str, r->element[i]->len) != 0) {
			rs_setdigest_free(d);
			return false;
		}
	rs_setdigest_finish(d, hex, count);
	return true;
}

struct carry_prot {
	struct rs_list *l;
	struct rs_load_stats *st;
	int rc;
};

static int carry_prot_entry(const struct rs_entry *e, void *arg)
{
	struct carry_prot *cp = arg;
	int rc;

	if (!(e->flags & RS_ENT_PROTECTED))
		return 0;
	rc = rs_list_protect(cp->l, rs_entry_wire(e), e->wlen, true);
	if (rc == RS_ENOMEM)
		return cp->rc = rc;
	cp->st->protected_n += rc == 0;
	return 0;
}

static int carry_prot_prefix(const struct rs_pentry *pe, void *arg)
{
	struct carry_prot *cp = arg;
	int rc;

	if (!(pe->flags & RS_ENT_PROTECTED))
		return 0;
	rc = rs_list_prefix_protect(cp->l, &pe->prefix, true);
	if (rc == RS_ENOMEM)
		return cp->rc = rc;
	cp->st->protected_prefixes += rc == 0;
	return 0;
}

/*
 * Signed mode: the protected set (doc/signing.md, "The signed protected
 * set"). rm: HGETALL protected-manifest, rn/rp: SCARD protected and
 * protected-ips. The manifest is verified first (a protect-key, the
 * signature, not older than the verified version), then the set sizes are
 * compared with its counts: only when they match are the members read
 * (SMEMBERS on c) and their set digests compared, so a set inflated behind
 * the tool's back costs one SCARD, not a read and a hash of every member.
 * Verified: loaded, and the new verified state noted in *ps. Else alarm: the
 * protection prev held under a verified state is carried (none when nothing
 * was verified yet). No manifest and both sets empty: nothing to protect, no
 * alarm. 0, RS_EIO (reading the members failed: err), RS_ENOMEM.
 */
static int signed_protected(redisContext *c, const struct rs_conf *conf, struct rs_list *l, const redisReply *rm,
			    const redisReply *rn, const redisReply *rp, struct sigctx *sg, struct rs_protsig *ps,
			    struct rs_load_stats *st, char *err, size_t errlen)
{
	static const char *const what[2] = { "SMEMBERS protected", "SMEMBERS protected-ips" };
	char reason[16] = "malformed", why[600], hex[2][65], hash[65];
	const char *text, *sig, *key;
	struct rs_manifest *m = NULL;
	redisReply *mem[2] = { NULL, NULL };
	size_t len, cnt[2], card[2];
	int rc;

	/* SCARD: an error (not a set) counts as empty, as SMEMBERS' digest of it */
	card[0] = rn->type == REDIS_REPLY_INTEGER && rn->integer > 0 ? (size_t)rn->integer : 0;
	card[1] = rp->type == REDIS_REPLY_INTEGER && rp->integer > 0 ? (size_t)rp->integer : 0;
	if (rm->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%sprotected-manifest is not a hash: %.100s", conf->prefix, rm->str);
		goto fail;
	}
	rc = manifest_fields(rm, &text, &len, &sig, &key, reason, why, sizeof(why));
	if (rc == RS_ENOENT && card[0] == 0 && card[1] == 0 && ps->version == 0) {
		rs_sigalarm_clear(sg->alarm, RS_PROTECTED_ALARM);
		return 0; /* never signed, nothing protected */
	}
	if (rc)
		goto fail;
	rc = rs_protected_verify(conf, text, len, sig, key, &m, reason, why, sizeof(why));
	if (rc == RS_ENOMEM)
		goto oom;
	if (rc)
		goto fail;
	rs_sha256_hex(m->text, m->len, hash);
	if (m->version < ps->version || (m->version == ps->version && strcmp(hash, ps->hash) != 0)) {
		snprintf(reason, sizeof(reason), m->version < ps->version ? "replayed" : "fork");
		snprintf(why, sizeof(why), "version %llu %s the verified version %llu", (unsigned long long)m->version,
			 m->version < ps->version ? "is older than" : "differs from", (unsigned long long)ps->version);
		goto fail;
	}
	if (card[0] != m->names || card[1] != m->prefixes) {
		snprintf(reason, sizeof(reason), "digest");
		snprintf(why, sizeof(why), "the stored sets do not match version %llu (%zu names and %zu prefixes held, "
			 "%zu and %zu signed; not read)", (unsigned long long)m->version, card[0], card[1], m->names,
			 m->prefixes);
		goto fail;
	}
	redisAppendCommand(c, "SMEMBERS %sprotected", conf->prefix);
	redisAppendCommand(c, "SMEMBERS %sprotected-ips", conf->prefix);
	for (int i = 0; i < 2; i++)
		mem[i] = get_reply(c);
	for (int i = 0; i < 2; i++)
		if (reply_class(c, mem[i], what[i], err, errlen) == RS_EIO) {
			rc = RS_EIO;
			goto out;
		}
	if (!members_digest(mem[0], hex[0], &cnt[0]) || !members_digest(mem[1], hex[1], &cnt[1]))
		goto oom;
	if (cnt[0] != m->names || strcmp(hex[0], m->names_digest) != 0 || cnt[1] != m->prefixes ||
	    strcmp(hex[1], m->prefixes_digest) != 0) {
		snprintf(reason, sizeof(reason), "digest");
		snprintf(why, sizeof(why), "the stored sets do not match version %llu (%zu names and %zu prefixes read, "
			 "%zu and %zu signed)", (unsigned long long)m->version, cnt[0], cnt[1], m->names, m->prefixes);
		goto fail;
	}
	rc = load_protected(conf, l, mem[0], mem[1], st, err, errlen);
	if (rc == 0 && rs_protsig_set(ps, m, sig) == RS_ENOMEM) { /* with its text: the snapshot keeps it */
		snprintf(err, errlen, "out of memory loading the protected set");
		rc = RS_ENOMEM;
	}
	if (rc == 0)
		rs_sigalarm_clear(sg->alarm, RS_PROTECTED_ALARM);
	goto out;
fail:
	rs_sigalarm_raise(sg->alarm, RS_PROTECTED_ALARM, reason, "%s%s", why,
			  ps->version ? ": keeping its verified version" : ": nothing is protected");
	st->sig_refused++; /* counted as one refused: a resolver's first load makes the sync thread load again */
	rc = 0;
	if (ps->version && sg->prev) {
		struct carry_prot cp = { l, st, 0 };
		rs_list_foreach(sg->prev, carry_prot_entry, &cp);
		if (cp.rc == 0)
			rs_list_prefix_foreach(sg->prev, carry_prot_prefix, &cp);
		if (cp.rc)
			goto oom;
	}
	goto out;
oom:
	snprintf(err, errlen, "out of memory loading the protected set");
	rc = RS_ENOMEM;
out:
	rs_manifest_free(m);
	freeReplyObject(mem[0]);
	freeReplyObject(mem[1]);
	return rc;
}

int rs_load_all(redisContext *c, const struct rs_conf *conf, struct rs_list *l, struct rs_load_stats *st,
		char *err, size_t errlen)
{
	return rs_load_all_signed(c, conf, l, NULL, NULL, st, err, errlen);
}

int rs_load_all_signed(redisContext *c, const struct rs_conf *conf, struct rs_list *l, const struct rs_list *prev,
		       struct rs_sigalarm *alarm, struct rs_load_stats *st, char *err, size_t errlen)
{
	struct sigctx sgs = { .prev = prev, .alarm = alarm }, *sg = conf->require_signatures ? &sgs : NULL;
	static const char *const what[6] = { "XREVRANGE changes", "HGETALL dataset", "SMEMBERS orders",
					     "SMEMBERS protected", "SMEMBERS protected-ips", "HGETALL protected-manifest" };
	redisReply *r[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
	int nr = sg ? 6 : 5;
	struct rs_protsig ps0 = { .version = 0 }; /* signed without an alarm: nothing verified before */
	struct pending *b = NULL;
	size_t nb = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	strcpy(st->last_id, "0-0");
	if (sg)
		rs_sigalarm_begin(alarm);
	/* Note the stream position first: a change made during the load is then
	 * applied again afterwards, which is harmless (changes are idempotent). */
	redisAppendCommand(c, "XREVRANGE %schanges + - COUNT 1", conf->prefix);
	redisAppendCommand(c, "HGETALL %sdataset", conf->prefix);
	redisAppendCommand(c, "SMEMBERS %sorders", conf->prefix);
	/* signed mode: the sizes first, the members once the manifest allows them */
	redisAppendCommand(c, sg ? "SCARD %sprotected" : "SMEMBERS %sprotected", conf->prefix);
	redisAppendCommand(c, sg ? "SCARD %sprotected-ips" : "SMEMBERS %sprotected-ips", conf->prefix);
	if (sg)
		redisAppendCommand(c, "HGETALL %sprotected-manifest", conf->prefix);
	for (int i = 0; i < nr; i++)
		r[i] = get_reply(c);
	for (int i = 0; i < nr && rc == 0; i++)
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
			rc = load_batch(c, conf, l, b, nb, sg, st, err, errlen);
			nb = 0;
		}
	}
	if (rc == 0 && nb)
		rc = load_batch(c, conf, l, b, nb, sg, st, err, errlen);
	if (rc == 0 && sg)
		rc = signed_missing(c, conf, l, sg);
	if (rc == 0 && sg && (sg->oom || carry_orders(conf, l, prev, sg->failed, sg->nfailed, sg->alarm, &st->sig_held))) {
		snprintf(err, errlen, "out of memory keeping the verified orders");
		rc = RS_ENOMEM;
	}
	if (rc == 0 && sg) {
		st->sig_held -= sg->ntomb < st->sig_held ? sg->ntomb : st->sig_held;
		st->sig_refused = sg->nfailed - sg->ntomb - st->sig_held;
		st->orders += st->sig_held; /* enforced, at their verified version */
	}
	if (rc)
		goto out;

	if (sg)
		rc = signed_protected(c, conf, l, r[5], r[3], r[4], sg, alarm ? &alarm->prot : &ps0, st, err, errlen);
	else
		rc = load_protected(conf, l, r[3], r[4], st, err, errlen);
	if (rc)
		goto out;
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
	if (sg) {
		if (rc == 0)
			rs_sigalarm_end(alarm);
		for (size_t i = 0; i < sg->nfailed; i++)
			free(sg->failed[i]);
		free(sg->failed);
	}
	rs_protsig_clear(&ps0);
	free(b);
	for (int i = 0; i < 6; i++)
		freeReplyObject(r[i]);
	return rc;
}

/* Replace what l holds of order id by the order, names and prefixes of t
 * (a list holding that one order, committed). 0 or RS_ENOMEM. */
static int replace_order(const struct rs_conf *conf, struct rs_list *l, const struct rs_list *t, const char *id)
{
	int64_t old = rs_list_order_find(l, id), ti = rs_list_order_find(t, id);
	struct carry cy = { l, NULL, rs_list_order_count(t), 0 };
	struct rs_order *o;
	uint32_t idx;

	if (old >= 0) {
		rs_list_order_remove(l, id);
		if (rs_list_order_sweep(l, (uint32_t)old) == RS_ENOMEM)
			return RS_ENOMEM;
	}
	if (ti < 0)
		return 0; /* not in t */
	if (order_dup(conf, rs_list_order_get(t, (uint32_t)ti), &o) || rs_list_order_set(l, o, &idx))
		return RS_ENOMEM;
	cy.map = calloc(cy.nmap + 1, sizeof(*cy.map));
	if (!cy.map)
		return RS_ENOMEM;
	cy.map[ti] = idx + 1;
	rs_list_foreach(t, carry_entry, &cy);
	if (cy.rc == 0)
		rs_list_prefix_foreach(t, carry_prefix, &cy);
	free(cy.map);
	return cy.rc;
}

/* Copies of the protected names or prefixes of a list (rs_list_foreach /
 * rs_list_prefix_foreach), to change another list after the walk. */
struct prot_copy {
	uint8_t (*wire)[RS_WIRE_MAX];
	uint8_t *wlen;
	struct rs_prefix *pfx;
	size_t n, cap;
	bool oom;
};

static bool prot_copy_room(struct prot_copy *pc, bool ip)
{
	if (pc->n < pc->cap)
		return true;
	size_t cap = pc->cap ? pc->cap * 2 : 64;
	if (ip) {
		void *nv = realloc(pc->pfx, cap * sizeof(*pc->pfx));
		if (!nv)
			return false;
		pc->pfx = nv;
	} else {
		void *nw = realloc(pc->wire, cap * sizeof(*pc->wire)), *nl;
		if (!nw)
			return false;
		pc->wire = nw;
		if (!(nl = realloc(pc->wlen, cap)))
			return false;
		pc->wlen = nl;
	}
	pc->cap = cap;
	return true;
}

static int prot_copy_entry(const struct rs_entry *e, void *arg)
{
	struct prot_copy *pc = arg;

	if (!(e->flags & RS_ENT_PROTECTED))
		return 0;
	if (!prot_copy_room(pc, false)) {
		pc->oom = true;
		return -1;
	}
	memcpy(pc->wire[pc->n], rs_entry_wire(e), e->wlen);
	pc->wlen[pc->n++] = e->wlen;
	return 0;
}

static int prot_copy_prefix(const struct rs_pentry *pe, void *arg)
{
	struct prot_copy *pc = arg;

	if (!(pe->flags & RS_ENT_PROTECTED))
		return 0;
	if (!prot_copy_room(pc, true)) {
		pc->oom = true;
		return -1;
	}
	pc->pfx[pc->n++] = pe->prefix;
	return 0;
}

static void prot_copy_free(struct prot_copy *pc)
{
	free(pc->wire);
	free(pc->wlen);
	free(pc->pfx);
	memset(pc, 0, sizeof(*pc));
}

/*
 * Signed mode: reload the protected set alone (a gap in its chain, or the
 * first signed change after a start whose load verified it without the sync
 * thread's state): verified as at a full load, then l's protection is made
 * what it states (or, on failure, stays as it is: alarm). 0, RS_EIO, RS_ENOMEM.
 */
static int load_protected_signed(redisContext *c, const struct rs_conf *conf, struct rs_list *l,
				 struct rs_sigalarm *alarm, char *err, size_t errlen)
{
	static const char *const what[3] = { "HGETALL protected-manifest", "SCARD protected", "SCARD protected-ips" };
	struct rs_protsig none = { .version = 0 }, *ps = alarm ? &alarm->prot : &none;
	/* no prev: on failure t is dropped, l keeps its protection (no walk of l to carry it) */
	struct sigctx sg = { .prev = NULL, .alarm = alarm };
	struct prot_copy nw = { 0 }, np = { 0 }, ow = { 0 }, op = { 0 };
	redisReply *r[3] = { NULL, NULL, NULL };
	struct rs_load_stats st;
	struct rs_list *t = rs_list_new(0);
	uint64_t before = ps->version;
	int rc = 0;

	memset(&st, 0, sizeof(st));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	redisAppendCommand(c, "HGETALL %sprotected-manifest", conf->prefix);
	redisAppendCommand(c, "SCARD %sprotected", conf->prefix);
	redisAppendCommand(c, "SCARD %sprotected-ips", conf->prefix);
	for (int i = 0; i < 3; i++)
		r[i] = get_reply(c);
	for (int i = 0; i < 3 && rc == 0; i++)
		if (reply_class(c, r[i], what[i], err, errlen) == RS_EIO)
			rc = RS_EIO;
	if (rc == 0)
		rc = signed_protected(c, conf, t, r[0], r[1], r[2], &sg, ps, &st, err, errlen);
	if (rc || ps->version == before)
		goto out; /* failed (alarm; l keeps its protection), or nothing newer */
	if (rs_list_commit(t) == RS_ENOMEM)
		goto oom;
	/* l's protection becomes t's: protect the new first, then unprotect the rest */
	rs_list_foreach(t, prot_copy_entry, &nw);
	rs_list_prefix_foreach(t, prot_copy_prefix, &np);
	rs_list_foreach(l, prot_copy_entry, &ow);
	rs_list_prefix_foreach(l, prot_copy_prefix, &op);
	if (nw.oom || np.oom || ow.oom || op.oom)
		goto oom;
	for (size_t i = 0; i < nw.n; i++)
		if (rs_list_protect(l, nw.wire[i], nw.wlen[i], true) == RS_ENOMEM)
			goto oom;
	for (size_t i = 0; i < np.n; i++)
		if (rs_list_prefix_protect(l, &np.pfx[i], true) == RS_ENOMEM)
			goto oom;
	for (size_t i = 0; i < ow.n; i++) {
		int k = rs_list_protect(t, ow.wire[i], ow.wlen[i], true); /* t is scratch: 0 = not in t */
		if (k == RS_ENOMEM || (k == 0 && rs_list_protect(l, ow.wire[i], ow.wlen[i], false) == RS_ENOMEM))
			goto oom;
	}
	for (size_t i = 0; i < op.n; i++) {
		int k = rs_list_prefix_protect(t, &op.pfx[i], true);
		if (k == RS_ENOMEM || (k == 0 && rs_list_prefix_protect(l, &op.pfx[i], false) == RS_ENOMEM))
			goto oom;
	}
	rs_log(RS_LOG_INFO, "the protected set: reloaded and verified (version %llu: %zu names, %zu prefixes)",
	       (unsigned long long)ps->version, ps->names, ps->prefixes);
	goto out;
oom:
	snprintf(err, errlen, "out of memory reloading the protected set");
	rc = RS_ENOMEM;
out:
	prot_copy_free(&nw);
	prot_copy_free(&np);
	prot_copy_free(&ow);
	prot_copy_free(&op);
	for (int i = 0; i < 3; i++)
		freeReplyObject(r[i]);
	rs_list_free(t);
	rs_protsig_clear(&none);
	return rc;
}

int rs_load_order_signed(redisContext *c, const struct rs_conf *conf, struct rs_list *l, const char *id,
			 struct rs_sigalarm *alarm, char *err, size_t errlen)
{
	struct sigctx sg = { .prev = l, .alarm = alarm };
	struct pending p = { .id = id };
	struct rs_load_stats st;
	struct rs_list *t;
	int rc;

	if (!*id)
		return load_protected_signed(c, conf, l, alarm, err, errlen);
	t = rs_list_new(0);
	memset(&st, 0, sizeof(st));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	rc = load_batch(c, conf, t, &p, 1, &sg, &st, err, errlen);
	if (rc == 0 && !sg.oom && rs_list_commit(t) == RS_ENOMEM)
		sg.oom = true;
	if (rc == 0 && sg.oom) {
		snprintf(err, errlen, "out of memory reloading order '%s'", id);
		rc = RS_ENOMEM;
	}
	if (rc == 0 && !p.failed && (p.loaded || p.revoked)) {
		rc = replace_order(conf, l, t, id);
		if (rc)
			snprintf(err, errlen, "out of memory reloading order '%s'", id);
		else
			rs_log(RS_LOG_INFO, "order '%s': reloaded and verified (%s)", id,
			       p.revoked ? "revoked by its authority" : "signed state in force");
	}
	for (size_t i = 0; i < sg.nfailed; i++)
		free(sg.failed[i]);
	free(sg.failed);
	rs_list_free(t);
	return rc;
}
