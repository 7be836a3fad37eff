/*
 * replinfo.c — INFO replication, parsed defensively (see replinfo.h).
 *
 * The text is split into lines; each line is "key:value". Only the keys
 * below are read, each with the exact syntax Redis writes; anything else
 * (other sections, comments, unknown keys, junk, a value that does not
 * parse, an over-long line) leaves the field unknown. Nothing is copied
 * before it has been checked, so a result string is always printable ASCII.
 */
#include "replinfo.h"

#include <string.h>

#include "rs_err.h"

/* A decimal that Redis would write: an optional '-', 1..18 digits, nothing
 * else. false leaves *v alone. */
static bool num(const char *s, size_t n, long long *v)
{
	long long x = 0;
	bool neg = false;
	size_t i = 0;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (n - i < 1 || n - i > 18)
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = neg ? -x : x;
	return true;
}

/* A host as Redis announces it: a name, an IPv4 or IPv6 address. */
static bool host_copy(const char *s, size_t n, char out[RS_REPL_HOST_MAX])
{
	if (n < 1 || n >= RS_REPL_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == ':' || c == '-' || c == '_' || c == '%' || c == '[' || c == ']'))
			return false;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static bool port_of(const char *s, size_t n, int *port)
{
	long long v;

	if (!num(s, n, &v) || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

static bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* A replica's state: lowercase letters and '_' ("online", "wait_bgsave"). */
static bool state_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

/* "ip=H,port=P,state=S,offset=O,lag=L" (any order, unknown pairs ignored).
 * Kept when ip and port are valid. */
static bool replica_line(const char *v, size_t n, struct rs_repl_replica *r)
{
	const char *end = v + n;

	memset(r, 0, sizeof(*r));
	r->offset = r->lag = -1;
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *pe = comma ? comma : end, *eqs = memchr(v, '=', (size_t)(pe - v));
		if (eqs) {
			const char *k = v, *val = eqs + 1;
			size_t kn = (size_t)(eqs - v), vn = (size_t)(pe - val);
			long long x;
			if (eq(k, kn, "ip"))
				(void)host_copy(val, vn, r->host);
			else if (eq(k, kn, "port"))
				(void)port_of(val, vn, &r->port);
			else if (eq(k, kn, "state") && vn >= 1 && vn < RS_REPL_STATE_MAX && state_ok(val, vn)) {
				memcpy(r->state, val, vn);
				r->state[vn] = '\0';
			} else if (eq(k, kn, "offset") && num(val, vn, &x) && x >= 0)
				r->offset = x;
			else if (eq(k, kn, "lag") && num(val, vn, &x) && x >= 0)
				r->lag = x;
		}
		v = comma ? comma + 1 : end;
	}
	return r->host[0] && r->port;
}

/* Is k "slave" followed by 1..4 digits? */
static bool replica_key(const char *k, size_t n)
{
	if (n < 6 || n > 9 || memcmp(k, "slave", 5) != 0)
		return false;
	for (size_t i = 5; i < n; i++)
		if (k[i] < '0' || k[i] > '9')
			return false;
	return true;
}

static void line(const char *l, size_t n, struct rs_replinfo *ri)
{
	const char *colon = memchr(l, ':', n);
	const char *k = l, *v;
	size_t kn, vn;
	long long x;

	if (!colon || memchr(l, '\0', n))
		return;
	kn = (size_t)(colon - l);
	v = colon + 1;
	vn = n - kn - 1;
	if (eq(k, kn, "role")) {
		if (eq(v, vn, "master"))
			ri->role = RS_REPL_ROLE_MASTER;
		else if (eq(v, vn, "slave"))
			ri->role = RS_REPL_ROLE_SLAVE;
	} else if (eq(k, kn, "master_host")) {
		(void)host_copy(v, vn, ri->master_host);
	} else if (eq(k, kn, "master_port")) {
		(void)port_of(v, vn, &ri->master_port);
	} else if (eq(k, kn, "master_link_status")) {
		if (eq(v, vn, "up"))
			ri->link = RS_REPL_LINK_UP;
		else if (eq(v, vn, "down"))
			ri->link = RS_REPL_LINK_DOWN;
	} else if (eq(k, kn, "master_last_io_seconds_ago")) {
		if (num(v, vn, &x) && x >= -1)
			ri->io_age = x;
	} else if (eq(k, kn, "master_link_down_since_seconds")) {
		if (num(v, vn, &x) && x >= -1)
			ri->down_since = x;
	} else if (eq(k, kn, "master_sync_in_progress")) {
		if (eq(v, vn, "1"))
			ri->sync_in_progress = true;
	} else if (eq(k, kn, "slave_repl_offset")) {
		if (num(v, vn, &x) && x >= 0)
			ri->slave_offset = x;
	} else if (eq(k, kn, "master_repl_offset")) {
		if (num(v, vn, &x) && x >= 0)
			ri->master_offset = x;
	} else if (eq(k, kn, "connected_slaves")) {
		if (num(v, vn, &x) && x >= 0)
			ri->connected = x;
	} else if (replica_key(k, kn)) {
		struct rs_repl_replica r;
		if (ri->nreplicas < RS_REPL_REPLICAS_MAX && replica_line(v, vn, &r))
			ri->replicas[ri->nreplicas++] = r;
		else
			ri->replicas_skipped++;
	}
}

int rs_replinfo_parse(const char *t, size_t len, struct rs_replinfo *ri)
{
	const char *p = t, *end = t + len;

	memset(ri, 0, sizeof(*ri));
	ri->io_age = ri->down_since = ri->slave_offset = ri->master_offset = ri->connected = -1;
	while (t && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n <= RS_REPL_LINE_MAX)
			line(p, n, ri);
		p = nl ? nl + 1 : end;
	}
	return ri->role == RS_REPL_ROLE_UNKNOWN ? RS_EINVAL : 0;
}

long long rs_replinfo_age(const struct rs_replinfo *ri)
{
	if (ri->role != RS_REPL_ROLE_SLAVE)
		return -1;
	if (ri->link == RS_REPL_LINK_DOWN)
		return ri->down_since >= 0 ? ri->down_since : -1;
	if (ri->link == RS_REPL_LINK_UP)
		return ri->io_age >= 0 ? ri->io_age : -1;
	return -1;
}

const char *rs_repl_role_name(enum rs_repl_role r)
{
	return r == RS_REPL_ROLE_MASTER ? "master" : r == RS_REPL_ROLE_SLAVE ? "slave" : "";
}

const char *rs_repl_link_name(enum rs_repl_link l)
{
	return l == RS_REPL_LINK_UP ? "up" : l == RS_REPL_LINK_DOWN ? "down" : "";
}
