/*
 * conf.c — the redsink.conf parser: one table of directives, one loop.
 *
 * Every row names a directive, its type, where the value is stored (offsetof
 * into struct rs_conf), its default, its limits and whether it is required.
 * Every error names the file, the line and the directive.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "order.h"
#include "rs_err.h"
#include "sentinel.h"

enum dtype {
	T_STR,      /* any non-empty text */
	T_TOKEN,    /* text without spaces */
	T_INT,      /* integer within [min, max] */
	T_ENDPOINT, /* host:port, unix:/path or sentinel:... (fills struct rs_endpoint) */
	T_PWFILE,   /* path of a file whose first line is a password */
	T_SPWFILE,  /* the same, for the sentinels of a sentinel: endpoint */
	T_IPV4,
	T_IPV6,
	T_CC,       /* ISO 3166-1 alpha-2 */
	T_LANG,     /* RFC 5646 language tag (shape only) */
	T_ENUM,     /* one of enumv[] (stored as int index) */
	T_URILIST,  /* repeatable mailto:/tel:/https: URI */
	T_NAME,     /* resolver name: [A-Za-z0-9._-]{1,64} */
	T_LISTEN,   /* host:port to listen on (fills struct rs_endpoint) */
	T_TRUSTKEY, /* repeatable "<label> ed25519:<base64>" (struct rs_pubkey) */
	T_KEYID,    /* repeatable key id: 16 lowercase hex digits */
};

/* Directive types that may be given more than once (each adds a value). */
static bool repeatable(int type)
{
	return type == T_URILIST || type == T_TRUSTKEY || type == T_KEYID;
}

struct directive {
	const char *name;
	enum dtype type;
	size_t off;         /* offsetof(struct rs_conf, ...) */
	const char *def;    /* default as text (NULL = none) */
	long min, max;      /* T_INT limits */
	bool required;
	const char *const *enumv;
	const char *help;
};

#define OFF(f) offsetof(struct rs_conf, f)
static const char *const ede_formats[] = { "json", "text", "off", NULL };
static const char *const ede_clients[] = { "all", "sde-option", NULL };
static const char *const collateral_actions[] = { "report", "suspend", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };

static const struct directive directives[] = {
	{ "read-redis", T_ENDPOINT, OFF(read), NULL, 0, 0, true, NULL,
	  "Redis to read the list from (a replica near the resolver): host:port, unix:/path or "
	  "sentinel:HOST:PORT[,HOST:PORT...]/NAME[?role=replica|primary] (default role: replica)" },
	{ "read-redis-db", T_INT, OFF(read.db), "0", 0, 65535, false, NULL, "database index of read-redis" },
	{ "read-redis-user", T_TOKEN, OFF(read.user), NULL, 0, 0, false, NULL, "ACL user for read-redis" },
	{ "read-redis-password-file", T_PWFILE, OFF(read), NULL, 0, 0, false, NULL,
	  "file whose first line is the password for read-redis" },
	{ "read-redis-sentinel-user", T_TOKEN, OFF(read.sentinel_user), NULL, 0, 0, false, NULL,
	  "ACL user towards the sentinels of a sentinel: read-redis" },
	{ "read-redis-sentinel-password-file", T_SPWFILE, OFF(read), NULL, 0, 0, false, NULL,
	  "file whose first line is the sentinels' password (sentinel: read-redis)" },
	{ "write-redis", T_ENDPOINT, OFF(write), NULL, 0, 0, false, NULL,
	  "Redis to write heartbeats and hits to (the primary): host:port, unix:/path or sentinel:...; "
	  "default: read-redis (through Sentinel: its primary)" },
	{ "write-redis-db", T_INT, OFF(write.db), NULL, 0, 65535, false, NULL, "database index of write-redis" },
	{ "write-redis-user", T_TOKEN, OFF(write.user), NULL, 0, 0, false, NULL, "ACL user for write-redis" },
	{ "write-redis-password-file", T_PWFILE, OFF(write), NULL, 0, 0, false, NULL,
	  "file whose first line is the password for write-redis" },
	{ "write-redis-sentinel-user", T_TOKEN, OFF(write.sentinel_user), NULL, 0, 0, false, NULL,
	  "ACL user towards the sentinels of write-redis; default: read-redis-sentinel-user" },
	{ "write-redis-sentinel-password-file", T_SPWFILE, OFF(write), NULL, 0, 0, false, NULL,
	  "the sentinels' password file for write-redis; default: read-redis-sentinel-password-file" },
	{ "key-prefix", T_TOKEN, OFF(prefix), "redsink:", 0, 0, false, NULL, "prefix of every Redis key" },
	{ "redis-timeout", T_INT, OFF(redis_timeout_ms), "1000", 10, 60000, false, NULL,
	  "connect and command timeout, milliseconds" },
	{ "resolver-name", T_NAME, OFF(resolver_name), NULL, 0, 0, false, NULL,
	  "this resolver's name in heartbeats; default: the host name" },
	{ "jurisdiction", T_CC, OFF(jurisdiction), NULL, 0, 0, false, NULL,
	  "ISO 3166-1 alpha-2 code: orders whose scope lists it apply; unset: only scope '*'" },
	{ "sinkhole-ipv4", T_IPV4, OFF(sinkhole4), NULL, 0, 0, true, NULL,
	  "address of A answers for blocked names (the warning-page server)" },
	{ "sinkhole-ipv6", T_IPV6, OFF(sinkhole6), NULL, 0, 0, false, NULL,
	  "address of AAAA answers; unset: AAAA gets NODATA" },
	{ "ttl", T_INT, OFF(ttl), "60", 0, 86400, false, NULL, "TTL of synthesised answers, seconds" },
	{ "txt-text", T_STR, OFF(txt_text),
	  "Blocked by order {reference} of {authority}. {url}", 0, 0, false, NULL,
	  "template of the TXT answer; placeholders {order} {authority} {reference} {reason} {url} {issued} {domain}" },
	{ "ede-format", T_ENUM, OFF(ede_format), "json", 0, 0, false, ede_formats,
	  "EDE 16 EXTRA-TEXT: json (structured DNS error), text (ede-text) or off (no EDE)" },
	{ "ede-text", T_STR, OFF(ede_text), "Blocked by order {reference} of {authority}", 0, 0, false, NULL,
	  "template of the EDE text when ede-format: text" },
	{ "ede-json-clients", T_ENUM, OFF(ede_json_clients), "all", 0, 0, false, ede_clients,
	  "who gets the structured error JSON: all EDNS clients, or only those that send the SDE option "
	  "(sde-option-code); the others get the ede-text template" },
	{ "sde-option-code", T_INT, OFF(sde_option_code), "65001", 1, 65535, false, NULL,
	  "EDNS option code a client sends to ask for the structured error (no IANA code yet)" },
	{ "contact", T_URILIST, OFF(contacts), NULL, 0, 0, false, NULL,
	  "contact URI for the structured error's \"c\" (mailto:, tel:, https:); repeatable" },
	{ "language", T_LANG, OFF(language), "en", 0, 0, false, NULL,
	  "language tag of texts for orders that name none" },
	{ "snapshot-file", T_STR, OFF(snapshot_file), NULL, 0, 0, false, NULL,
	  "file the list is persisted to, loaded at start when Redis is unreachable" },
	{ "geoip-database", T_STR, OFF(geoip_database), NULL, 0, 0, false, NULL,
	  "MaxMind-format database (GeoIP2/GeoLite2 Country or City, DB-IP lite, redsink-mkgeo) for hit regions" },
	{ "geoip-country-field", T_TOKEN, OFF(geoip_country_field), "country.iso_code", 0, 0, false, NULL,
	  "lookup path of the ISO 3166-1 country code in the database" },
	{ "geoip-subdivision-field", T_TOKEN, OFF(geoip_subdivision_field), "subdivisions.0.iso_code", 0, 0, false,
	  NULL, "lookup path of the ISO 3166-2 subdivision code, or 'none'" },
	{ "stats-flush-interval", T_INT, OFF(stats_flush_interval), "10", 1, 3600, false, NULL,
	  "seconds between two writes of hit counts to Redis" },
	{ "stats-retention", T_INT, OFF(stats_retention), "90", 1, 3650, false, NULL,
	  "days the hourly hit counters are kept in Redis" },
	{ "stats-max-pending", T_INT, OFF(stats_max_pending), "100000", 100, 10000000, false, NULL,
	  "distinct hit counters kept in memory while Redis is unreachable; hits beyond are counted as dropped" },
	{ "metrics-listen", T_LISTEN, OFF(metrics), NULL, 0, 0, false, NULL,
	  "address:port of the Prometheus metrics endpoint (/metrics); unset: none" },
	{ "collateral-threshold", T_INT, OFF(collateral_threshold), "50", 0, 100000, false, NULL,
	  "distinct names an address prefix may block in one UTC hour before the collateral alarm; 0: no alarm" },
	{ "collateral-action", T_ENUM, OFF(collateral_action), "report", 0, 0, false, collateral_actions,
	  "a prefix over collateral-threshold is reported (report), or also stops triggering until it is "
	  "confirmed in the confirmed-ips set (suspend)" },
	{ "trusted-key", T_TRUSTKEY, OFF(trusted_keys), NULL, 0, 0, false, NULL,
	  "an authority's public key: LABEL ed25519:BASE64 (redsink-ctl key show); repeatable (several "
	  "authorities, key rotation)" },
	{ "protect-key", T_TRUSTKEY, OFF(trusted_keys), NULL, 0, 0, false, NULL,
	  "a key trusted to sign the protected set (never-block names and prefixes): LABEL ed25519:BASE64; "
	  "repeatable; may also be a trusted-key (doc/signing.md)" },
	{ "revoked-key", T_KEYID, OFF(revoked_keys), NULL, 0, 0, false, NULL,
	  "key id (16 hex digits) whose signatures are never accepted, even when trusted; repeatable" },
	{ "require-signatures", T_ENUM, OFF(require_signatures), "no", 0, 0, false, yes_no,
	  "yes: enforce only orders and changes signed by a trusted, unrevoked key (doc/signing.md)" },
};
#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

struct parse {
	const char *path;
	int line;
	char *err;
	bool seen[NDIRECTIVES];
};

static int fail(struct parse *p, const char *fmt, ...)
{
	char msg[RS_CONF_ERRLEN - 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->line > 0)
		snprintf(p->err, RS_CONF_ERRLEN, "%s:%d: %s", p->path, p->line, msg);
	else
		snprintf(p->err, RS_CONF_ERRLEN, "%s: %s", p->path, msg);
	return RS_ECONF;
}

static void *field(struct rs_conf *c, const struct directive *d)
{
	return (char *)c + d->off;
}

static int set_str(struct parse *p, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return fail(p, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_endpoint(struct parse *p, const struct directive *d, struct rs_endpoint *e, const char *v)
{
	char *host = NULL, *end;
	const char *colon;
	long port;
	const char *forms = d->type == T_LISTEN ? "host:port" : "host:port, unix:/path or sentinel:HOST:PORT/NAME";

	if (d->type == T_ENDPOINT && strncasecmp(v, "sentinel:", 9) == 0) {
		char msg[RS_CONF_ERRLEN - 200];
		int rc = rs_sentinel_parse(v, false, e, msg, sizeof(msg));
		if (rc == RS_ENOMEM)
			return fail(p, "out of memory");
		if (rc)
			return fail(p, "%s: %s", d->name, msg);
		return 0;
	}
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/')
			return fail(p, "%s: '%s': a unix socket needs an absolute path (unix:/path)", d->name, v);
		if (set_str(p, &e->unix_path, v + 5) || set_str(p, &e->addr, v))
			return RS_ECONF;
		return 0;
	}
	colon = strrchr(v, ':');
	if (!colon || colon == v)
		return fail(p, "%s: '%s' is not %s", d->name, v, forms);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return fail(p, "%s: '%s': port must be 1..65535", d->name, v);
	if (v[0] == '[') { /* [v6]:port */
		if (colon[-1] != ']')
			return fail(p, "%s: '%s' is not %s", d->name, v, forms);
		host = strndup(v + 1, (size_t)(colon - v - 2));
	} else {
		host = strndup(v, (size_t)(colon - v));
	}
	if (!host)
		return fail(p, "out of memory");
	free(e->host);
	e->host = host;
	e->port = (int)port;
	return set_str(p, &e->addr, v);
}

static int read_password(struct parse *p, const struct directive *d, struct rs_endpoint *e, const char *path,
			 bool sentinel)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return fail(p, "%s: cannot read '%s': %s", d->name, path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0)
		return fail(p, "%s: '%s' is empty: the first line must be the password", d->name, path);
	if (sentinel ? set_str(p, &e->sentinel_password, buf) || set_str(p, &e->sentinel_password_file, path)
		     : set_str(p, &e->password, buf) || set_str(p, &e->password_file, path))
		return RS_ECONF;
	memset(buf, 0, sizeof(buf));
	return 0;
}

static bool uri_ok(const char *v)
{
	if (strncmp(v, "mailto:", 7) == 0 || strncmp(v, "tel:", 4) == 0)
		return strlen(v) > (v[0] == 'm' ? 7u : 4u);
	if (strncmp(v, "https://", 8) == 0)
		return strlen(v) > 8;
	return false;
}

/* BCP 47 syntax, the rule orders' lang follows (order.c, rs_lang_ok). */
static bool lang_ok(const char *v)
{
	return rs_lang_ok(v);
}

/* trusted-key, protect-key: "<label> ed25519:<base64>" (spaces or tabs
 * between). A key given by both directives (same label) holds both roles. */
static int add_trusted(struct parse *p, struct rs_conf *c, const struct directive *d, const char *v)
{
	char label[RS_KEY_LABEL_MAX + 1], why[200];
	size_t n = strcspn(v, " \t");
	const char *key = v + n;
	struct rs_pubkey k, *nv;

	key += strspn(key, " \t");
	if (!*key || strpbrk(key, " \t"))
		return fail(p, "%s: '%s' is not 'LABEL ed25519:BASE64'", d->name, v);
	if (n > RS_KEY_LABEL_MAX)
		return fail(p, "%s: label '%.*s...' is longer than %d characters", d->name, 20, v, RS_KEY_LABEL_MAX);
	memcpy(label, v, n);
	label[n] = '\0';
	if (!rs_key_label_ok(label))
		return fail(p, "%s: label '%s' must be 1-64 letters, digits, '.', '_' or '-'", d->name, label);
	if (rs_pubkey_parse(key, &k, why, sizeof(why)))
		return fail(p, "%s: %s", d->name, why);
	snprintf(k.label, sizeof(k.label), "%s", label);
	k.roles = strcmp(d->name, "protect-key") == 0 ? RS_KEY_PROTECT : RS_KEY_ORDERS;
	for (size_t i = 0; i < c->ntrusted; i++)
		if (strcmp(c->trusted_keys[i].id, k.id) == 0) {
			if ((c->trusted_keys[i].roles & k.roles) || strcmp(c->trusted_keys[i].label, label) != 0)
				return fail(p, "%s: key %s is given twice (as '%s' and '%s')", d->name, k.id,
					    c->trusted_keys[i].label, label);
			c->trusted_keys[i].roles |= k.roles;
			return 0;
		}
	nv = realloc(c->trusted_keys, (c->ntrusted + 1) * sizeof(*nv));
	if (!nv)
		return fail(p, "out of memory");
	c->trusted_keys = nv;
	if (rs_pubkey_prepare(&k)) /* one EVP_PKEY per key, freed by rs_conf_free */
		return fail(p, "out of memory");
	nv[c->ntrusted++] = k;
	return 0;
}

static const struct rs_pubkey *conf_key(const struct rs_conf *c, const char *id, bool *revoked, uint8_t role)
{
	*revoked = false;
	for (size_t i = 0; i < c->nrevoked; i++)
		if (strcmp(c->revoked_keys[i], id) == 0) {
			*revoked = true;
			return NULL;
		}
	for (size_t i = 0; i < c->ntrusted; i++)
		if (strcmp(c->trusted_keys[i].id, id) == 0)
			return (rs_key_roles(&c->trusted_keys[i]) & role) ? &c->trusted_keys[i] : NULL;
	return NULL;
}

const struct rs_pubkey *rs_conf_key(const struct rs_conf *c, const char *id, bool *revoked)
{
	return conf_key(c, id, revoked, RS_KEY_ORDERS);
}

const struct rs_pubkey *rs_conf_protect_key(const struct rs_conf *c, const char *id, bool *revoked)
{
	return conf_key(c, id, revoked, RS_KEY_PROTECT);
}

static int set_value(struct parse *p, struct rs_conf *c, const struct directive *d, const char *v)
{
	void *f = field(c, d);

	switch (d->type) {
	case T_STR:
		if (!*v)
			return fail(p, "%s: empty value", d->name);
		return set_str(p, f, v);
	case T_TOKEN:
		if (!*v || strpbrk(v, " \t"))
			return fail(p, "%s: '%s' must be one word without spaces", d->name, v);
		return set_str(p, f, v);
	case T_NAME:
		if (!*v || strlen(v) > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(v))
			return fail(p, "%s: '%s' must be 1-64 letters, digits, '.', '_' or '-'", d->name, v);
		return set_str(p, f, v);
	case T_INT: {
		char *end;
		long n;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || !*v || *end)
			return fail(p, "%s: '%s' is not an integer", d->name, v);
		if (n < d->min || n > d->max)
			return fail(p, "%s: %ld is out of range %ld..%ld", d->name, n, d->min, d->max);
		*(int *)f = (int)n;
		return 0;
	}
	case T_ENDPOINT:
		return parse_endpoint(p, d, f, v);
	case T_LISTEN:
		if (strncmp(v, "unix:", 5) == 0)
			return fail(p, "%s: '%s': the metrics endpoint listens on TCP host:port", d->name, v);
		return parse_endpoint(p, d, f, v);
	case T_PWFILE:
	case T_SPWFILE:
		return read_password(p, d, f, v, d->type == T_SPWFILE);
	case T_IPV4:
		if (inet_pton(AF_INET, v, c->sinkhole4) != 1)
			return fail(p, "%s: '%s' is not an IPv4 address", d->name, v);
		c->have_sinkhole4 = true;
		return 0;
	case T_IPV6:
		if (inet_pton(AF_INET6, v, c->sinkhole6) != 1)
			return fail(p, "%s: '%s' is not an IPv6 address", d->name, v);
		c->have_sinkhole6 = true;
		return 0;
	case T_CC: {
		char cc[3];
		if (strlen(v) != 2 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1]))
			return fail(p, "%s: '%s' is not an ISO 3166-1 alpha-2 code", d->name, v);
		cc[0] = (char)toupper((unsigned char)v[0]);
		cc[1] = (char)toupper((unsigned char)v[1]);
		cc[2] = '\0';
		return set_str(p, f, cc);
	}
	case T_LANG:
		if (!lang_ok(v))
			return fail(p, "%s: '%s' is not a language tag (e.g. en, it, pt-BR)", d->name, v);
		return set_str(p, f, v);
	case T_ENUM:
		for (int i = 0; d->enumv[i]; i++) {
			if (strcmp(v, d->enumv[i]) == 0) {
				*(int *)f = i;
				return 0;
			}
		}
		{
			char all[128] = "";
			for (int i = 0; d->enumv[i]; i++) {
				if (i)
					strncat(all, ", ", sizeof(all) - strlen(all) - 1);
				strncat(all, d->enumv[i], sizeof(all) - strlen(all) - 1);
			}
			return fail(p, "%s: '%s' is not one of %s", d->name, v, all);
		}
	case T_URILIST: {
		char **nv;
		if (strlen(v) > 256)
			return fail(p, "%s: longer than 256 characters", d->name);
		if (!uri_ok(v))
			return fail(p, "%s: '%s' is not a mailto:, tel: or https:// URI", d->name, v);
		nv = realloc(c->contacts, (c->ncontacts + 1) * sizeof(*nv));
		if (!nv)
			return fail(p, "out of memory");
		c->contacts = nv;
		if (!(nv[c->ncontacts] = strdup(v)))
			return fail(p, "out of memory");
		c->ncontacts++;
		return 0;
	}
	case T_TRUSTKEY:
		return add_trusted(p, c, d, v);
	case T_KEYID: {
		char(*nv)[RS_KEYID_LEN + 1];
		if (!rs_keyid_ok(v))
			return fail(p, "%s: '%s' is not a key id (16 lowercase hex digits, redsink-ctl key fingerprint)",
				    d->name, v);
		for (size_t i = 0; i < c->nrevoked; i++)
			if (strcmp(c->revoked_keys[i], v) == 0)
				return fail(p, "%s: %s given twice", d->name, v);
		nv = realloc(c->revoked_keys, (c->nrevoked + 1) * sizeof(*nv));
		if (!nv)
			return fail(p, "out of memory");
		c->revoked_keys = nv;
		snprintf(nv[c->nrevoked++], RS_KEYID_LEN + 1, "%s", v);
		return 0;
	}
	}
	return fail(p, "%s: internal error: unknown type", d->name);
}

/* Split one line into directive and value; returns 1 for a directive line,
 * 0 for a blank/comment line, RS_ECONF on a syntax error. */
static int split_line(struct parse *p, char *s, char **key, char **val)
{
	char *colon, *v, *e;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	colon = strchr(s, ':');
	if (!colon)
		return fail(p, "syntax error: expected 'directive: value'");
	for (e = colon; e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	*key = s;
	v = colon + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (*v == '"') {
		char *q = strchr(v + 1, '"');
		if (!q)
			return fail(p, "%s: unterminated quoted value", *key);
		*q = '\0';
		for (e = q + 1; isspace((unsigned char)*e); e++)
			;
		if (*e && *e != '#')
			return fail(p, "%s: text after the closing quote", *key);
		*val = v + 1;
		return 1;
	}
	e = strchr(v, '#');
	if (!e)
		e = v + strlen(v);
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	*val = v;
	return 1;
}

static const struct directive *find_directive(const char *name)
{
	for (size_t i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].name, name) == 0)
			return &directives[i];
	return NULL;
}

static void endpoint_free(struct rs_endpoint *e)
{
	free(e->addr);
	free(e->host);
	free(e->unix_path);
	free(e->user);
	if (e->password)
		memset(e->password, 0, strlen(e->password));
	free(e->password);
	free(e->password_file);
	rs_sentinel_free(e);
	memset(e, 0, sizeof(*e));
}

void rs_conf_free(struct rs_conf *c)
{
	endpoint_free(&c->read);
	endpoint_free(&c->write);
	free(c->path);
	free(c->prefix);
	free(c->resolver_name);
	free(c->jurisdiction);
	free(c->txt_text);
	free(c->ede_text);
	for (size_t i = 0; i < c->ncontacts; i++)
		free(c->contacts[i]);
	free(c->contacts);
	free(c->language);
	free(c->snapshot_file);
	free(c->geoip_database);
	free(c->geoip_country_field);
	free(c->geoip_subdivision_field);
	endpoint_free(&c->metrics);
	for (size_t i = 0; i < c->ntrusted; i++)
		rs_pubkey_release(&c->trusted_keys[i]);
	free(c->trusted_keys);
	free(c->revoked_keys);
	memset(c, 0, sizeof(*c));
}

/*
 * Sentinel endpoints: roles (read-redis: a replica unless role= says
 * otherwise; write-redis: the primary, never a replica), the sentinels'
 * credentials (write-redis inherits read-redis'), and credentials given for
 * an endpoint that is not a sentinel: one.
 */
static int sentinel_finish(struct parse *p, struct rs_conf *c)
{
	struct rs_endpoint *r = &c->read, *w = &c->write;
	static const char *const names[2][2] = { { "read-redis-sentinel-user", "read-redis-sentinel-password-file" },
						 { "write-redis-sentinel-user", "write-redis-sentinel-password-file" } };
	struct rs_endpoint *ep[2] = { r, w };

	for (int i = 0; i < 2; i++) {
		if (rs_endpoint_is_sentinel(ep[i]))
			continue;
		if (ep[i]->sentinel_user || ep[i]->sentinel_password)
			return fail(p, "%s: %s is not a sentinel: endpoint (%s)",
				    names[i][ep[i]->sentinel_user ? 0 : 1], i ? "write-redis" : "read-redis",
				    ep[i]->addr ? ep[i]->addr : "unset");
	}
	if (rs_endpoint_is_sentinel(r) && r->role == RS_ROLE_DEFAULT)
		r->role = RS_ROLE_REPLICA;
	if (!rs_endpoint_is_sentinel(w))
		return 0;
	if (w->role == RS_ROLE_REPLICA)
		return fail(p, "write-redis: '%s': role=replica: heartbeats and hit counts are written to the primary",
			    w->addr);
	w->role = RS_ROLE_PRIMARY;
	if (!w->sentinel_user && r->sentinel_user && set_str(p, &w->sentinel_user, r->sentinel_user))
		return RS_ECONF;
	if (!w->sentinel_password && r->sentinel_password &&
	    (set_str(p, &w->sentinel_password, r->sentinel_password) ||
	     set_str(p, &w->sentinel_password_file, r->sentinel_password_file)))
		return RS_ECONF;
	return 0;
}

/* Defaults, the write endpoint's inheritance and required directives. */
static int finish(struct parse *p, struct rs_conf *c)
{
	int last = p->line;

	p->line = 0;
	for (size_t i = 0; i < NDIRECTIVES; i++) {
		const struct directive *d = &directives[i];
		if (p->seen[i])
			continue;
		if (d->required) {
			p->line = last > 0 ? last : 1;
			return fail(p, "missing required directive '%s'", d->name);
		}
		if (d->def && set_value(p, c, d, d->def))
			return RS_ECONF;
	}
	if (!c->write.addr) {
		/* write-redis unset: write to the read endpoint, with the read
		 * endpoint's db and credentials unless write-redis-* say otherwise. */
		struct rs_endpoint *w = &c->write, *r = &c->read;
		if ((r->addr && !(w->addr = strdup(r->addr))) ||
		    (r->host && !(w->host = strdup(r->host))) ||
		    (r->unix_path && !(w->unix_path = strdup(r->unix_path))))
			return fail(p, "out of memory");
		w->port = r->port;
		if (!p->seen[find_directive("write-redis-db") - directives])
			w->db = r->db;
		if (!w->user && r->user && set_str(p, &w->user, r->user))
			return RS_ECONF;
		if (!w->password && r->password &&
		    (set_str(p, &w->password, r->password) || set_str(p, &w->password_file, r->password_file)))
			return RS_ECONF;
		if (rs_endpoint_is_sentinel(r)) {
			/* the same sentinels, asked for the primary; sentinel
			 * credentials inherited below when not given */
			char *su = w->sentinel_user, *sp = w->sentinel_password, *sf = w->sentinel_password_file;
			struct rs_endpoint tmp = { 0 };
			if (rs_sentinel_copy(&tmp, r))
				return fail(p, "out of memory");
			free(tmp.sentinel_user);
			free(tmp.sentinel_password);
			free(tmp.sentinel_password_file);
			w->sentinels = tmp.sentinels;
			w->nsentinels = tmp.nsentinels;
			w->master_name = tmp.master_name;
			w->sentinel_user = su;
			w->sentinel_password = sp;
			w->sentinel_password_file = sf;
			w->role = RS_ROLE_PRIMARY;
		}
	}
	if (sentinel_finish(p, c) < 0)
		return RS_ECONF;
	if (c->require_signatures) {
		size_t usable = 0;
		bool revoked;
		for (size_t i = 0; i < c->ntrusted; i++)
			usable += rs_conf_key(c, c->trusted_keys[i].id, &revoked) != NULL;
		if (usable == 0) {
			p->line = last > 0 ? last : 1;
			return fail(p, "require-signatures: yes needs at least one trusted-key that is not revoked");
		}
	}
	if (c->geoip_subdivision_field && strcmp(c->geoip_subdivision_field, "none") == 0) {
		free(c->geoip_subdivision_field);
		c->geoip_subdivision_field = NULL;
	}
	if (!c->resolver_name) {
		char host[256];
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "resolver");
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, " \t")] = '\0';
		if (set_str(p, &c->resolver_name, host))
			return RS_ECONF;
	}
	return set_str(p, &c->path, p->path);
}

int rs_conf_load(const char *path, struct rs_conf *c, char err[RS_CONF_ERRLEN])
{
	struct parse p = { .path = path, .line = 0, .err = err };
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	f = fopen(path, "r");
	if (!f) {
		fail(&p, "cannot open: %s", strerror(errno));
		return RS_ECONF;
	}
	while ((n = getline(&buf, &cap, f)) >= 0) {
		const struct directive *d;
		char *key = NULL, *val = NULL;

		p.line++;
		if (n > 4096) {
			rc = fail(&p, "line longer than 4096 characters");
			goto out;
		}
		if (strlen(buf) != (size_t)n) {
			rc = fail(&p, "NUL byte in line");
			goto out;
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		rc = split_line(&p, buf, &key, &val);
		if (rc < 0)
			goto out;
		if (rc == 0)
			continue;
		d = find_directive(key);
		if (!d) {
			rc = fail(&p, "unknown directive '%s'", key);
			goto out;
		}
		if (p.seen[d - directives] && !repeatable(d->type)) {
			rc = fail(&p, "%s: given twice", d->name);
			goto out;
		}
		p.seen[d - directives] = true;
		rc = set_value(&p, c, d, val);
		if (rc < 0)
			goto out;
	}
	if (ferror(f)) {
		rc = fail(&p, "read error: %s", strerror(errno));
		goto out;
	}
	rc = finish(&p, c);
out:
	free(buf);
	fclose(f);
	if (rc < 0) {
		rs_conf_free(c);
		return RS_ECONF;
	}
	return 0;
}
