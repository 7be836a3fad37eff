/*
 * cli.h — the one command-line interface of the redsink tools (issue 11):
 * redsink-ctl, redsink-stats and redsink-warnd link this file (redsink-mkgeo,
 * which has no Redis options, uses its exit codes, CLI_EXIT_TEXT and CLI_VERSION).
 *
 * What every tool shares:
 * - the Redis endpoint syntax: "host:port", "[v6]:port", "unix:/path[?db=N]"
 *   (or "/path"), "redis://[user@]host[:port][/db]", and through Sentinel
 *   "sentinel:HOST:PORT[,HOST:PORT...]/NAME[?role=primary|replica][&db=N]"
 *   (lib/sentinel.h; the tools' default role is primary), filled into the
 *   module's struct rs_endpoint (conf.h) so the tools connect with the
 *   module's rs_redis_connect;
 * - the sentinels' credentials, from the environment only and read where the
 *   endpoint is parsed: $REDSINK_SENTINEL_PASSWORD, else the file
 *   $REDSINK_SENTINEL_AUTH_FILE (mode 600, "PASSWORD" or "USER PASSWORD"),
 *   user $REDSINK_SENTINEL_USER;
 * - the environment: $REDSINK_REDIS, $REDSINK_PREFIX, $REDSINK_REDIS_USER,
 *   $REDSINK_REDIS_PASSWORD, $REDSINK_REDIS_AUTH_FILE;
 * - the credential file: mode 600 (no group or other bits) or it is refused;
 *   its first line is "PASSWORD" or "USER PASSWORD". A password is never taken
 *   from the command line (ps shows it to every user);
 * - the common options (--redis, --prefix, --user, --auth-file, --db,
 *   --timeout, --json, --version, -h/--help), accepted before or after a
 *   command word;
 * - one exit-code scheme (enum cli_exit, CLI_EXIT_TEXT for --help, the same
 *   words in every man page's EXIT STATUS);
 * - one version string: PACKAGE_VERSION of configure.ac's AC_INIT.
 *
 * Old spellings stay as deprecated aliases with a warning on standard error:
 * --password-file and --redis-password-file for --auth-file, --redis-db for
 * --db, --redis-user for --user, --redis-timeout for --timeout, and
 * $REDSINK_PASSWORD for $REDSINK_REDIS_PASSWORD.
 *
 * Precedence of credentials: --auth-file, then $REDSINK_REDIS_PASSWORD (or
 * the deprecated $REDSINK_PASSWORD), then $REDSINK_REDIS_AUTH_FILE. The ACL
 * user: --user, then the URL's user@, then $REDSINK_REDIS_USER, then the
 * auth file's USER.
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "rs_config.h"
#include "conf.h"

#if defined(REDSINK_VERSION)
#define CLI_VERSION REDSINK_VERSION /* configure.ac's AC_INIT, also the module's */
#elif defined(PACKAGE_VERSION)
#define CLI_VERSION PACKAGE_VERSION
#else
#define CLI_VERSION "0.12.0"
#endif

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,   /* an error, or (status --check) not compliant */
	CLI_EXIT_USAGE = 2,   /* bad command line */
	CLI_EXIT_REFUSED = 3, /* refused by a safety check */
	CLI_EXIT_REDIS = 4,   /* Redis unreachable, authentication or ACL refused, bad credential file */
	CLI_EXIT_DATA = 5,    /* input data invalid (a file, a template, a CSV) */
};

/* The exit status, in the same words in every --help and man page. */
#define CLI_EXIT_TEXT                                                                                          \
	"Exit status: 0 ok; 1 error, or not compliant; 2 usage; 3 refused by a safety check;\n"              \
	"4 Redis unreachable, authentication or ACL refused; 5 input data invalid.\n"

/* The Redis options' help, the same in every tool. */
#define CLI_REDIS_HELP                                                                                         \
	"  --redis URL       redis://[USER@]HOST[:PORT][/DB], HOST:PORT, [V6]:PORT, unix:/PATH or\n"          \
	"                    sentinel:HOST:PORT[,HOST:PORT...]/NAME[?role=replica]\n"                         \
	"                    (default $REDSINK_REDIS, else 127.0.0.1:6379)\n"                                  \
	"  --prefix P        key prefix (default $REDSINK_PREFIX, else redsink:)\n"                            \
	"  --user NAME       Redis ACL user (default $REDSINK_REDIS_USER)\n"                                   \
	"  --auth-file FILE  mode 600, first line \"PASSWORD\" or \"USER PASSWORD\" (default\n"                 \
	"                    $REDSINK_REDIS_AUTH_FILE; or $REDSINK_REDIS_PASSWORD).\n"                         \
	"                    Never a password on the command line.\n"                                          \
	"  --db N            Redis database number (default 0, or the URL's /DB)\n"                            \
	"  --timeout MS      connect and command timeout in milliseconds\n"                                    \
	"  --version         print the version and exit\n"

#define CLI_DEFAULT_REDIS "127.0.0.1:6379"
#define CLI_DEFAULT_PREFIX "redsink:"

/* getopt_long values of the common options (above any tool's own). */
enum {
	CLI_O_REDIS = 3000,
	CLI_O_PREFIX,
	CLI_O_USER,
	CLI_O_AUTH_FILE,
	CLI_O_DB,
	CLI_O_TIMEOUT,
	CLI_O_JSON,
	CLI_O_VERSION,
	CLI_O_PASSWORD_FILE,       /* deprecated: --password-file (redsink-stats) */
	CLI_O_REDIS_PASSWORD_FILE, /* deprecated: --redis-password-file (redsink-warnd) */
	CLI_O_LAST
};

/* The common long options, terminated by a zero row. */
extern const struct option cli_common_options[];
#define CLI_NCOMMON 10

/* What the common options and the environment say. */
struct cli_common {
	const char *prog;      /* "redsink-ctl", for messages */
	const char *redis;     /* --redis, else $REDSINK_REDIS, else NULL */
	bool redis_from_argv;
	const char *prefix;    /* --prefix, else $REDSINK_PREFIX, else "redsink:" */
	const char *user;      /* --user, or NULL */
	const char *auth_file; /* --auth-file (or an alias), or NULL */
	int db;                /* --db, or -1 */
	int timeout_ms;        /* --timeout, or the tool's default */
	bool json;             /* --json */
};

/* Defaults and the environment ($REDSINK_REDIS, $REDSINK_PREFIX). */
void cli_common_init(struct cli_common *c, const char *prog, int timeout_ms);

/*
 * Handle getopt_long's value opt (with optarg arg) if it is a common option.
 * 0 handled; CLI_EXIT_USAGE after printing a one-line message naming prog;
 * -1 not a common option. --version prints "PROG VERSION" and exits 0.
 */
int cli_common_option(struct cli_common *c, int opt, const char *arg);

/* Print "PROG VERSION" on standard output. */
void cli_version(const char *prog);

/*
 * Parse an endpoint into e (strings allocated; free with cli_endpoint_free).
 * from_argv: it came from the command line, where a password is refused.
 * A sentinel: endpoint also gets the sentinels' credentials from the
 * environment ($REDSINK_SENTINEL_*). 0, or RS_EINVAL/RS_EIO/RS_ENOMEM with a
 * message in err.
 */
int cli_endpoint_parse(const char *url, bool from_argv, struct rs_endpoint *e, char *err, size_t errlen);
void cli_endpoint_free(struct rs_endpoint *e);

/*
 * Fill the credentials of e from auth_file (NULL: none given on the command
 * line) and the environment. 0, or RS_EIO/RS_EINVAL with a message in err
 * (a file that cannot be read, is readable by others, or is empty). warn
 * receives a deprecation warning or "".
 */
int cli_credentials(struct rs_endpoint *e, const char *auth_file, char *err, size_t errlen, char *warn,
		    size_t warnlen);

/*
 * The endpoint the common options describe: parse c->redis (default
 * 127.0.0.1:6379), apply --db and --user, then the credentials. 0, or the
 * exit code (CLI_EXIT_USAGE: a bad URL; CLI_EXIT_REDIS: credentials) with
 * a message "PROG: ..." printed on standard error.
 */
int cli_endpoint(const struct cli_common *c, struct rs_endpoint *e);

/* Print "warning: OLD is deprecated, use NEW" once per process and name. */
void cli_deprecated(const char *prog, const char *old, const char *new);

/*
 * The one line for an option getopt_long rejected (opterr 0 and a ':' leading
 * the short options, so that ch is '?' or ':'): "PROG: [CMD: ]unrecognized option
 * '--x' (see 'PROG [CMD ]--help')" on standard error. arg is argv[optind - 1];
 * shortopts and longopts what getopt_long was given. cmd may be NULL or "".
 */
void cli_bad_option(const char *prog, const char *cmd, int ch, const char *arg, const char *shortopts,
		    const struct option *longopts);

#endif
