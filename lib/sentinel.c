/*
 * sentinel.c — Sentinel endpoints: the "sentinel:" syntax shared by
 * redsink.conf and the tools, and the question asked to one sentinel at
 * every (re)connect (see sentinel.h; the connection itself is lib/load.c's).
 */
#include "sentinel.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rs_err.h"

const char *rs_role_name(int role)
{
	return role == RS_ROLE_REPLICA ? "replica" : "primary";
}

void rs_sentinel_free(struct rs_endpoint *e)
{
	for (size_t i = 0; i < e->nsentinels; i++)
		free(e->sentinels[i].host);
	free(e->sentinels);
	free(e->master_name);
	free(e->sentinel_user);
	if (e->sentinel_password)
		memset(e->sentinel_password, 0, strlen(e->sentinel_password));
	free(e->sentinel_password);
	free(e->sentinel_password_file);
	e->sentinels = NULL;
	e->nsentinels = 0;
	e->master_name = NULL;
	e->role = RS_ROLE_DEFAULT;
	e->sentinel_user = e->sentinel_password = e->sentinel_password_file = NULL;
}

static int dup_opt(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : RS_ENOMEM;
}

int rs_sentinel_copy(struct rs_endpoint *dst, const struct rs_endpoint *src)
{
	dst->sentinels = calloc(src->nsentinels, sizeof(*dst->sentinels));
	if (!dst->sentinels)
		return RS_ENOMEM;
	for (size_t i = 0; i < src->nsentinels; i++) {
		dst->nsentinels++;
		dst->sentinels[i].port = src->sentinels[i].port;
		if (!(dst->sentinels[i].host = strdup(src->sentinels[i].host)))
			goto nomem;
	}
	if (dup_opt(&dst->master_name, src->master_name) || dup_opt(&dst->sentinel_user, src->sentinel_user) ||
	    dup_opt(&dst->sentinel_password, src->sentinel_password) ||
	    dup_opt(&dst->sentinel_password_file, src->sentinel_password_file))
		goto nomem;
	return 0;
nomem:
	rs_sentinel_free(dst);
	return RS_ENOMEM;
}

/* One "HOST[:PORT]" or "[V6][:PORT]" of the list (s: n bytes). */
static int parse_one(const char *spec, size_t idx, const char *s, size_t n, struct rs_sentinel_addr *a, char *err,
		     size_t errlen)
{
	const char *host = s, *port = NULL;
	size_t hlen = n;

	if (n == 0) {
		snprintf(err, errlen, "'%s': sentinel %zu is empty (HOST:PORT expected between the commas)", spec, idx);
		return RS_EINVAL;
	}
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close) {
			snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): missing ']' after an IPv6 address", spec, idx,
				 (int)n, s);
			return RS_EINVAL;
		}
		host = s + 1;
		hlen = (size_t)(close - s - 1);
		if (close + 1 < s + n) {
			if (close[1] != ':') {
				snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): unexpected text after ']'", spec, idx,
					 (int)n, s);
				return RS_EINVAL;
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon && memchr(colon + 1, ':', (size_t)(s + n - colon - 1))) {
			snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): write an IPv6 address in brackets: [::1]:26379",
				 spec, idx, (int)n, s);
			return RS_EINVAL;
		}
		if (colon) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		}
	}
	if (hlen == 0 || hlen > 253) {
		snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): %s host", spec, idx, (int)n, s,
			 hlen ? "too long a" : "no");
		return RS_EINVAL;
	}
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == '@' || host[i] == '/' || host[i] == '?' ||
		    (unsigned char)host[i] == 0x7f) {
			snprintf(err, errlen, "'%s': sentinel %zu: the host has a character that no host name has", spec,
				 idx);
			return RS_EINVAL;
		}
	a->port = RS_SENTINEL_PORT;
	if (port) {
		size_t plen = (size_t)(s + n - port);
		long v = 0;
		if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen) {
			snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): the port must be a number 1..65535", spec, idx,
				 (int)n, s);
			return RS_EINVAL;
		}
		for (size_t i = 0; i < plen; i++)
			v = v * 10 + (port[i] - '0');
		if (v < 1 || v > 65535) {
			snprintf(err, errlen, "'%s': sentinel %zu ('%.*s'): the port must be a number 1..65535", spec, idx,
				 (int)n, s);
			return RS_EINVAL;
		}
		a->port = (int)v;
	}
	a->host = strndup(host, hlen);
	return a->host ? 0 : RS_ENOMEM;
}

/* "role=...", "db=N" separated by '&'. */
static int parse_options(const char *spec, char *q, bool allow_db, struct rs_endpoint *e, char *err, size_t errlen)
{
	for (char *tok = strtok(q, "&"); tok; tok = strtok(NULL, "&")) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errlen, "'%s': option '%s' is not NAME=VALUE (role=primary|replica, db=N)", spec, tok);
			return RS_EINVAL;
		}
		*eq++ = '\0';
		if (strcmp(tok, "role") == 0) {
			if (strcmp(eq, "primary") == 0 || strcmp(eq, "master") == 0)
				e->role = RS_ROLE_PRIMARY;
			else if (strcmp(eq, "replica") == 0 || strcmp(eq, "slave") == 0)
				e->role = RS_ROLE_REPLICA;
			else {
				snprintf(err, errlen, "'%s': role '%s' is not primary or replica", spec, eq);
				return RS_EINVAL;
			}
		} else if (strcmp(tok, "db") == 0) {
			char *end;
			long v;
			if (!allow_db) {
				snprintf(err, errlen, "'%s': db= is not taken here: give the database with its own "
					 "directive (read-redis-db, write-redis-db)", spec);
				return RS_EINVAL;
			}
			v = strtol(eq, &end, 10);
			if (!*eq || *end || *eq < '0' || *eq > '9' || v > 65535) {
				snprintf(err, errlen, "'%s': db '%s' is not a database number 0..65535", spec, eq);
				return RS_EINVAL;
			}
			e->db = (int)v;
		} else {
			snprintf(err, errlen, "'%s': unknown option '%s' (role=primary|replica, db=N)", spec, tok);
			return RS_EINVAL;
		}
	}
	return 0;
}

int rs_sentinel_parse(const char *spec, bool allow_db, struct rs_endpoint *e, char *err, size_t errlen)
{
	char *copy = NULL, *list, *name, *q, *p;
	size_t n = 0;
	int rc = RS_EINVAL;

	if (strncasecmp(spec, "sentinel:", 9) != 0) {
		snprintf(err, errlen, "'%s' does not start with sentinel:", spec);
		return RS_EINVAL;
	}
	if (strlen(spec) > 2048) {
		snprintf(err, errlen, "a sentinel: endpoint is longer than 2048 characters");
		return RS_EINVAL;
	}
	if (!(copy = strdup(spec)))
		goto nomem;
	list = copy + 9;
	while (list[0] == '/' && list[1] == '/') /* sentinel://h:p/name */
		list += 2;
	name = strchr(list, '/');
	if (!name) {
		snprintf(err, errlen, "'%s': no master name: write sentinel:HOST:PORT[,HOST:PORT...]/NAME", spec);
		goto out;
	}
	*name++ = '\0';
	q = strchr(name, '?');
	if (q)
		*q++ = '\0';
	if (!*list) {
		snprintf(err, errlen, "'%s': no sentinel before '/NAME'", spec);
		goto out;
	}
	if (!*name || strlen(name) > RS_MASTER_NAME_MAX) {
		snprintf(err, errlen, "'%s': the master name after '/' is %s", spec, *name ? "too long" : "empty");
		goto out;
	}
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(name)) {
		snprintf(err, errlen, "'%s': master name '%s': only letters, digits, '.', '_' and '-' are allowed%s", spec,
			 name, strchr(name, '/') ? " (a database is given with ?db=N)" : "");
		goto out;
	}
	for (p = list; *p; p++)
		n += *p == ',';
	if (++n > RS_SENTINEL_MAX) {
		snprintf(err, errlen, "'%s': %zu sentinels: at most %d", spec, n, RS_SENTINEL_MAX);
		goto out;
	}
	if (!(e->sentinels = calloc(n, sizeof(*e->sentinels))))
		goto nomem;
	for (p = list; e->nsentinels < n;) {
		size_t len = strcspn(p, ",");
		rc = parse_one(spec, e->nsentinels + 1, p, len, &e->sentinels[e->nsentinels], err, errlen);
		if (rc == RS_ENOMEM)
			goto nomem;
		if (rc)
			goto out;
		e->nsentinels++;
		p += len + (p[len] == ',');
	}
	rc = RS_EINVAL;
	if (q && (rc = parse_options(spec, q, allow_db, e, err, errlen)))
		goto out;
	if (!(e->master_name = strdup(name)))
		goto nomem;
	free(e->addr);
	if (!(e->addr = strdup(spec)))
		goto nomem;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = RS_ENOMEM;
out:
	free(copy);
	if (rc)
		rs_sentinel_free(e);
	return rc;
}

/* ---- discovery ---- */

static redisReply *command(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	void *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	return r;
}

/* A flat array of field/value strings (one node of SENTINEL REPLICAS): the
 * value of field, or NULL. */
static const char *node_field(const redisReply *m, const char *field)
{
	if (m->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < m->elements; i += 2)
		if (m->element[i]->type == REDIS_REPLY_STRING && m->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(m->element[i]->str, field) == 0)
			return m->element[i + 1]->str;
	return NULL;
}

/* Is the replica described by m usable for reads? */
static bool replica_healthy(const redisReply *m)
{
	const char *flags = node_field(m, "flags"), *link = node_field(m, "master-link-status");

	if (!flags || strstr(flags, "s_down") || strstr(flags, "o_down") || strstr(flags, "disconnected"))
		return false;
	return link && strcmp(link, "ok") == 0;
}

static int set_node(struct rs_node *n, const char *host, const char *port, bool primary)
{
	char *end;
	long v = strtol(port, &end, 10);

	if (!*host || strlen(host) >= sizeof(n->host) || *end || v < 1 || v > 65535)
		return RS_EPROTO;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = (int)v;
	n->primary = primary;
	return 0;
}

/*
 * This process's pick among replicas: the same for every connection of the
 * process (the module's change stream and its fetches of orders must read
 * the same replica, or a fetch may miss an order the stream already named),
 * different between resolvers (host name and PID), so that a site's
 * resolvers spread over its replicas.
 */
static unsigned int process_seed(void)
{
	char host[256] = "";
	uint32_t h = 2166136261u;

	gethostname(host, sizeof(host) - 1);
	for (const char *p = host; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h ^ ((uint32_t)getpid() * 2654435761u);
}

static int node_cmp(const void *a, const void *b)
{
	const struct rs_node *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	return c ? c : (x->port > y->port) - (x->port < y->port);
}

/* The healthy replicas of SENTINEL REPLICAS' reply r into out: sorted, then
 * rotated to start at this process's pick (process_seed). */
static size_t replicas(const redisReply *r, struct rs_node *out, size_t max)
{
	struct rs_node tmp[RS_SENTINEL_CAND_MAX];
	size_t n = 0, first;

	if (r->type != REDIS_REPLY_ARRAY)
		return 0;
	if (max > RS_SENTINEL_CAND_MAX)
		max = RS_SENTINEL_CAND_MAX;
	for (size_t i = 0; i < r->elements && n < max; i++) {
		const char *ip = node_field(r->element[i], "ip"), *port = node_field(r->element[i], "port");
		if (ip && port && replica_healthy(r->element[i]) && set_node(&tmp[n], ip, port, false) == 0)
			n++;
	}
	if (n == 0)
		return 0;
	qsort(tmp, n, sizeof(tmp[0]), node_cmp);
	first = process_seed() % n;
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[(first + i) % n];
	return n;
}

int rs_sentinel_candidates(const struct rs_endpoint *e, size_t i, int timeout_ms, struct rs_node *out, size_t max,
			   char *err, size_t errlen)
{
	const struct rs_sentinel_addr *a = &e->sentinels[i];
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	char where[300];
	redisContext *c;
	redisReply *r = NULL;
	size_t n = 0;
	int rc = RS_EIO;

	snprintf(where, sizeof(where), strchr(a->host, ':') ? "sentinel [%s]:%d" : "sentinel %s:%d", a->host, a->port);
	c = redisConnectWithTimeout(a->host, a->port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "%s: %s", where, c ? c->errstr : "out of memory");
		redisFree(c);
		return RS_EIO;
	}
	redisSetTimeout(c, tv);
	if (e->sentinel_password) {
		r = e->sentinel_user ? command(c, "AUTH %s %s", e->sentinel_user, e->sentinel_password)
				     : command(c, "AUTH %s", e->sentinel_password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "%s: authentication%s%s failed: %s", where, e->sentinel_user ? " as " : "",
				 e->sentinel_user ? e->sentinel_user : "", r ? r->str : c->errstr);
			goto out;
		}
		freeReplyObject(r);
	}
	if (rs_endpoint_role(e) == RS_ROLE_REPLICA && max > 1) {
		r = command(c, "SENTINEL REPLICAS %s", e->master_name);
		if (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "nknown")) { /* before Redis 5 */
			freeReplyObject(r);
			r = command(c, "SENTINEL SLAVES %s", e->master_name);
		}
		if (!r) {
			snprintf(err, errlen, "%s: %s", where, c->errstr);
			goto out;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "%s: SENTINEL REPLICAS %s: %.200s", where, e->master_name, r->str);
			goto out;
		}
		n = replicas(r, out, max - 1);
		freeReplyObject(r);
	}
	r = command(c, "SENTINEL GET-MASTER-ADDR-BY-NAME %s", e->master_name);
	if (!r) {
		snprintf(err, errlen, "%s: %s", where, c->errstr);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "%s: %.200s", where, r->str);
		goto out;
	}
	if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0)) {
		snprintf(err, errlen, "%s does not monitor a master named '%s'", where, e->master_name);
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING || set_node(&out[n], r->element[0]->str, r->element[1]->str, true)) {
		snprintf(err, errlen, "%s: unexpected reply to SENTINEL GET-MASTER-ADDR-BY-NAME %s", where,
			 e->master_name);
		rc = RS_EPROTO;
		goto out;
	}
	rc = (int)++n;
out:
	freeReplyObject(r);
	redisFree(c);
	return rc;
}
