/*
 * cli.c — the tools' one command-line interface: endpoints, environment,
 * credential files, common options, exit codes, version (see cli.h).
 *
 * The endpoint parser here is the one redsink-ctl has used since issue 5
 * (moved from ctl_redis.c): a superset of the module's redsink.conf syntax
 * (lib/conf.c accepts "host:port", "[v6]:port" and "unix:/path"; the
 * tools also take redis:// URLs with a user and a database) that fills the
 * same struct rs_endpoint, so every tool connects with rs_redis_connect.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rs_err.h"
#include "sentinel.h"

const struct option cli_common_options[] = {
	{ "redis", required_argument, NULL, CLI_O_REDIS },
	{ "prefix", required_argument, NULL, CLI_O_PREFIX },
	{ "user", required_argument, NULL, CLI_O_USER },
	{ "auth-file", required_argument, NULL, CLI_O_AUTH_FILE },
	{ "db", required_argument, NULL, CLI_O_DB },
	{ "timeout", required_argument, NULL, CLI_O_TIMEOUT },
	{ "json", no_argument, NULL, CLI_O_JSON },
	{ "version", no_argument, NULL, CLI_O_VERSION },
	{ "password-file", required_argument, NULL, CLI_O_PASSWORD_FILE },
	{ "redis-password-file", required_argument, NULL, CLI_O_REDIS_PASSWORD_FILE },
	{ NULL, 0, NULL, 0 },
};

void cli_version(const char *prog)
{
	printf("%s %s\n", prog, CLI_VERSION);
}

void cli_deprecated(const char *prog, const char *old, const char *new)
{
	fprintf(stderr, "%s: warning: %s is deprecated, use %s\n", prog, old, new);
}

void cli_common_init(struct cli_common *c, const char *prog, int timeout_ms)
{
	const char *env;

	memset(c, 0, sizeof(*c));
	c->prog = prog;
	env = getenv("REDSINK_REDIS");
	c->redis = env && *env ? env : NULL;
	env = getenv("REDSINK_PREFIX");
	c->prefix = env && *env ? env : CLI_DEFAULT_PREFIX;
	c->db = -1;
	c->timeout_ms = timeout_ms;
}

static int parse_num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_common_option(struct cli_common *c, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case CLI_O_REDIS:
		c->redis = arg;
		c->redis_from_argv = true;
		return 0;
	case CLI_O_PREFIX:
		if (!*arg || strlen(arg) > 100 || strpbrk(arg, " \t\r\n")) {
			fprintf(stderr, "%s: --prefix: '%s' is empty, too long or has white space\n", c->prog, arg);
			return CLI_EXIT_USAGE;
		}
		c->prefix = arg;
		return 0;
	case CLI_O_USER:
		c->user = arg;
		return 0;
	case CLI_O_PASSWORD_FILE:
		cli_deprecated(c->prog, "--password-file", "--auth-file");
		c->auth_file = arg;
		return 0;
	case CLI_O_REDIS_PASSWORD_FILE:
		cli_deprecated(c->prog, "--redis-password-file", "--auth-file");
		c->auth_file = arg;
		return 0;
	case CLI_O_AUTH_FILE:
		c->auth_file = arg;
		return 0;
	case CLI_O_DB:
		if (parse_num(arg, 0, 1000000, &v)) {
			fprintf(stderr, "%s: --db: '%s' is not a database number\n", c->prog, arg);
			return CLI_EXIT_USAGE;
		}
		c->db = (int)v;
		return 0;
	case CLI_O_TIMEOUT:
		if (parse_num(arg, 1, 3600000, &v)) {
			fprintf(stderr, "%s: --timeout: '%s' is not a number of milliseconds (1..3600000)\n", c->prog,
				arg);
			return CLI_EXIT_USAGE;
		}
		c->timeout_ms = (int)v;
		return 0;
	case CLI_O_JSON:
		c->json = true;
		return 0;
	case CLI_O_VERSION:
		cli_version(c->prog);
		exit(CLI_EXIT_OK);
	}
	return -1;
}

void cli_endpoint_free(struct rs_endpoint *e)
{
	free(e->addr);
	free(e->host);
	free(e->unix_path);
	free(e->user);
	if (e->password) {
		memset(e->password, 0, strlen(e->password));
		free(e->password);
	}
	free(e->password_file);
	rs_sentinel_free(e);
	memset(e, 0, sizeof(*e));
}

static int sentinel_credentials(struct rs_endpoint *e, char *err, size_t errlen);

static int parse_db(const char *s, int *db)
{
	char *end;
	long v;

	if (!*s)
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 1000000)
		return RS_EINVAL;
	*db = (int)v;
	return 0;
}

/* "unix:/path[?db=N]" or "/path" (p past "unix:"). */
static int parse_unix(const char *url, char *p, struct rs_endpoint *e, char *err, size_t errlen)
{
	char addr[600], *q;

	while (p[0] == '/' && p[1] == '/')
		p++;
	q = strchr(p, '?');
	if (q) {
		*q++ = '\0';
		if (strncmp(q, "db=", 3) != 0 || parse_db(q + 3, &e->db)) {
			snprintf(err, errlen, "'%s': expected unix:/path or unix:/path?db=N", url);
			return RS_EINVAL;
		}
	}
	if (p[0] != '/') {
		snprintf(err, errlen, "'%s': a unix socket path must be absolute", url);
		return RS_EINVAL;
	}
	e->unix_path = strdup(p);
	snprintf(addr, sizeof(addr), "unix:%s", p);
	e->addr = strdup(addr);
	return e->unix_path && e->addr ? 0 : RS_ENOMEM;
}

/* "[user[:password]@]host[:port]" or "[v6]:port" (p past "redis://", "/db" cut). */
static int parse_tcp(const char *url, bool from_argv, char *p, struct rs_endpoint *e, char *err, size_t errlen)
{
	char addr[600], *at, *colon, *host;

	at = strrchr(p, '@');
	if (at) {
		*at = '\0';
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			if (from_argv) {
				snprintf(err, errlen,
					 "a password in --redis is visible to every user of this machine (ps): put it in "
					 "a file (--auth-file, $REDSINK_REDIS_AUTH_FILE) or $REDSINK_REDIS_PASSWORD");
				return RS_EINVAL;
			}
			e->password = strdup(colon + 1);
		}
		if (*p)
			e->user = strdup(p);
		p = at + 1;
	}
	host = p;
	e->port = 6379;
	if (*p == '[') {
		char *close = strchr(p, ']');
		if (!close) {
			snprintf(err, errlen, "'%s': missing ']' after an IPv6 address", url);
			return RS_EINVAL;
		}
		*close = '\0';
		host = p + 1;
		p = close + 1;
		if (*p && *p != ':') {
			snprintf(err, errlen, "'%s': unexpected text after ']'", url);
			return RS_EINVAL;
		}
		colon = *p == ':' ? p : NULL;
	} else {
		colon = strrchr(p, ':');
		if (colon && strchr(p, ':') != colon) {
			snprintf(err, errlen, "'%s': write an IPv6 address in brackets: [::1]:6379", url);
			return RS_EINVAL;
		}
		if (colon)
			*colon = '\0';
	}
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (*end || port < 1 || port > 65535 || colon[1] == '\0') {
			snprintf(err, errlen, "'%s': bad port", url);
			return RS_EINVAL;
		}
		e->port = (int)port;
	}
	if (!*host) {
		snprintf(err, errlen, "'%s': no host", url);
		return RS_EINVAL;
	}
	e->host = strdup(host);
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, e->port);
	e->addr = strdup(addr);
	return e->host && e->addr ? 0 : RS_ENOMEM;
}

int cli_endpoint_parse(const char *url, bool from_argv, struct rs_endpoint *e, char *err, size_t errlen)
{
	char *copy = strdup(url), *p, *slash;
	int rc = RS_EINVAL;

	memset(e, 0, sizeof(*e));
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	p = copy;
	if (strncasecmp(p, "rediss://", 9) == 0) {
		snprintf(err, errlen, "'%s': TLS (rediss://) is not supported; use a TLS tunnel or a unix socket", url);
		goto out;
	}
	if (strncasecmp(p, "sentinel:", 9) == 0) {
		rc = rs_sentinel_parse(url, true, e, err, errlen);
		if (rc == 0)
			rc = sentinel_credentials(e, err, errlen);
		goto out;
	}
	if (strncasecmp(p, "unix:", 5) == 0 || p[0] == '/') {
		rc = parse_unix(url, p + (p[0] == '/' ? 0 : 5), e, err, errlen);
		goto out;
	}
	if (strncasecmp(p, "redis://", 8) == 0)
		p += 8;
	else if (strstr(p, "://")) {
		snprintf(err, errlen, "'%s': expected redis://host:port/db, host:port or unix:/path", url);
		goto out;
	}
	slash = strchr(p, '/');
	if (slash) {
		*slash = '\0';
		if (parse_db(slash + 1, &e->db)) {
			snprintf(err, errlen, "'%s': the database after '/' must be a number", url);
			goto out;
		}
	}
	rc = parse_tcp(url, from_argv, p, e, err, errlen);
out:
	free(copy);
	if (rc)
		cli_endpoint_free(e);
	return rc;
}

/* The first line of a credential file (mode 600): "PASSWORD" or "USER PASSWORD",
 * into *user (unless set already or user_set), *password and *file. */
static int read_cred_file(char **user, char **password, char **file, const char *path, bool user_set, char *err,
			  size_t errlen)
{
	char line[1024], *sp, *pw;
	FILE *f = fopen(path, "r");
	struct stat st;
	size_t n;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "auth file %s: %s", path, strerror(errno));
		return RS_EIO;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		snprintf(err, errlen, "auth file %s can be read by other users: refused (chmod 600 %s)", path, path);
		fclose(f);
		return RS_EINVAL;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "auth file %s: the first line is empty (want PASSWORD or USER PASSWORD)", path);
		return RS_EINVAL;
	}
	pw = line;
	sp = strpbrk(line, " \t");
	if (sp) {
		*sp = '\0';
		pw = sp + 1;
		while (*pw == ' ' || *pw == '\t')
			pw++;
		if (!*user && !user_set && !(*user = strdup(line)))
			rc = RS_ENOMEM;
	}
	if (*password)
		memset(*password, 0, strlen(*password));
	free(*password);
	free(*file);
	*file = NULL;
	*password = strdup(pw);
	if (!*password || !(*file = strdup(path)))
		rc = RS_ENOMEM;
	memset(line, 0, sizeof(line));
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static int read_auth_file(struct rs_endpoint *e, const char *path, bool user_set, char *err, size_t errlen)
{
	return read_cred_file(&e->user, &e->password, &e->password_file, path, user_set, err, errlen);
}

/*
 * The sentinels' credentials of a sentinel: endpoint, from the environment
 * only (they are read where the endpoint is parsed, so that every endpoint of
 * every tool gets them): $REDSINK_SENTINEL_PASSWORD, else the file
 * $REDSINK_SENTINEL_AUTH_FILE (mode 600, "PASSWORD" or "USER PASSWORD");
 * the user $REDSINK_SENTINEL_USER, else the file's.
 */
static int sentinel_credentials(struct rs_endpoint *e, char *err, size_t errlen)
{
	const char *pw = getenv("REDSINK_SENTINEL_PASSWORD"), *file = getenv("REDSINK_SENTINEL_AUTH_FILE");
	const char *user = getenv("REDSINK_SENTINEL_USER");
	bool user_set = user && *user;
	int rc;

	if (pw && *pw) {
		if (!(e->sentinel_password = strdup(pw)))
			goto nomem;
	} else if (file && *file) {
		rc = read_cred_file(&e->sentinel_user, &e->sentinel_password, &e->sentinel_password_file, file,
				    user_set, err, errlen);
		if (rc) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "$REDSINK_SENTINEL_AUTH_FILE: %s", msg);
			return rc;
		}
	}
	if (user_set && !(e->sentinel_user = strdup(user)))
		goto nomem;
	if (e->sentinel_user && !e->sentinel_password) {
		snprintf(err, errlen, "sentinel ACL user '%s' given without a password: set $REDSINK_SENTINEL_PASSWORD "
			 "or $REDSINK_SENTINEL_AUTH_FILE", e->sentinel_user);
		return RS_EINVAL;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return RS_ENOMEM;
}

int cli_credentials(struct rs_endpoint *e, const char *auth_file, char *err, size_t errlen, char *warn,
		    size_t warnlen)
{
	const char *envpw = getenv("REDSINK_REDIS_PASSWORD");
	const char *envuser = getenv("REDSINK_REDIS_USER");
	const char *envfile = getenv("REDSINK_REDIS_AUTH_FILE");
	bool user_set = envuser && *envuser;
	int rc;

	warn[0] = '\0';
	if (!envpw || !*envpw) {
		envpw = getenv("REDSINK_PASSWORD");
		if (envpw && *envpw)
			snprintf(warn, warnlen, "$REDSINK_PASSWORD is deprecated, use $REDSINK_REDIS_PASSWORD");
	}
	if (auth_file && *auth_file) {
		/* the command line wins over the environment */
		if ((rc = read_auth_file(e, auth_file, user_set, err, errlen)))
			return rc;
	} else if (envpw && *envpw) {
		free(e->password);
		if (!(e->password = strdup(envpw))) {
			snprintf(err, errlen, "out of memory");
			return RS_ENOMEM;
		}
	} else if (envfile && *envfile) {
		if ((rc = read_auth_file(e, envfile, user_set, err, errlen)))
			return rc;
	}
	if (user_set && !e->user && !(e->user = strdup(envuser))) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	if (e->user && !e->password) {
		snprintf(err, errlen,
			 "ACL user '%s' given without a password: use --auth-file, $REDSINK_REDIS_AUTH_FILE or "
			 "$REDSINK_REDIS_PASSWORD",
			 e->user);
		return RS_EINVAL;
	}
	return 0;
}

int cli_endpoint(const struct cli_common *c, struct rs_endpoint *e)
{
	const char *url = c->redis ? c->redis : CLI_DEFAULT_REDIS;
	char err[700], warn[300];

	if (cli_endpoint_parse(url, c->redis_from_argv, e, err, sizeof(err))) {
		fprintf(stderr, "%s: %s%s\n", c->prog, c->redis_from_argv ? "--redis: " : "$REDSINK_REDIS: ", err);
		return CLI_EXIT_USAGE;
	}
	if (c->db >= 0)
		e->db = c->db;
	if (c->user) {
		free(e->user);
		if (!(e->user = strdup(c->user))) {
			fprintf(stderr, "%s: out of memory\n", c->prog);
			cli_endpoint_free(e);
			return CLI_EXIT_ERROR;
		}
	}
	if (cli_credentials(e, c->auth_file, err, sizeof(err), warn, sizeof(warn))) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		cli_endpoint_free(e);
		return CLI_EXIT_REDIS;
	}
	if (warn[0])
		fprintf(stderr, "%s: warning: %s\n", c->prog, warn);
	return 0;
}

/* s (at most n bytes) with control characters as \xNN: never echo them raw. */
static void put_sanitized(FILE *f, const char *s, size_t n)
{
	for (const unsigned char *p = (const unsigned char *)s; n-- && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
}

void cli_bad_option(const char *prog, const char *cmd, int ch, const char *arg, const char *shortopts,
		    const struct option *longopts)
{
	bool letter = optopt > 0x20 && optopt < 0x7f;
	bool has_cmd = cmd && *cmd;
	size_t n = strcspn(arg, "=");
	int matches = 0;

	/* an abbreviation of more than one long option is "ambiguous" */
	for (const struct option *o = longopts; o && o->name && n > 2; o++)
		matches += strncmp(o->name, arg + 2, n - 2) == 0;
	if (n > 80)
		n = 80;
	fprintf(stderr, "%s: %s%s", prog, has_cmd ? cmd : "", has_cmd ? ": " : "");
	/*
	 * optopt: the bad letter of a short option; 0 for an unknown or
	 * ambiguous long one; the option's value when a long option lacks its
	 * value or has one it does not take (then a letter only if that option
	 * also has a short form, which getopt did not complain about).
	 */
	if (ch == '?' && letter && !strchr(shortopts, optopt)) {
		fprintf(stderr, "unrecognized option '-");
		put_sanitized(stderr, (const char *)&(char){ (char)optopt }, 1);
		fputc('\'', stderr);
	} else if (arg[0] == '-' && arg[1] == '-') {
		fprintf(stderr, "%s option '", ch == ':' ? "missing value for" : optopt ? "no value allowed for" :
						 matches > 1 ? "ambiguous" : "unrecognized");
		put_sanitized(stderr, arg, n);
		fputc('\'', stderr);
	} else if (letter) {
		fprintf(stderr, "missing value for option '-%c'", optopt);
	} else {
		fprintf(stderr, "bad option '");
		put_sanitized(stderr, arg, 80);
		fputc('\'', stderr);
	}
	fprintf(stderr, " (see '%s %s%s--help')\n", prog, has_cmd ? cmd : "", has_cmd ? " " : "");
}
