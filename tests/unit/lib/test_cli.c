/* test_cli.c — the tools' one interface (lib/cli.c): endpoints, the
 * environment, credential files, common options, exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli.h"
#include "rs_err.h"
#include "sentinel.h"

static void clear_env(void)
{
	static const char *const vars[] = { "REDSINK_REDIS", "REDSINK_PREFIX", "REDSINK_REDIS_USER",
					    "REDSINK_REDIS_PASSWORD", "REDSINK_REDIS_AUTH_FILE", "REDSINK_PASSWORD",
					    "REDSINK_SENTINEL_PASSWORD", "REDSINK_SENTINEL_AUTH_FILE",
					    "REDSINK_SENTINEL_USER", NULL };
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static void test_endpoints(void **state)
{
	struct rs_endpoint e;
	char err[600];

	(void)state;
	/* the module's syntax (conf.c) ... */
	assert_int_equal(cli_endpoint_parse("127.0.0.1:6380", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.host, "127.0.0.1");
	assert_int_equal(e.port, 6380);
	assert_string_equal(e.addr, "127.0.0.1:6380");
	cli_endpoint_free(&e);
	assert_int_equal(cli_endpoint_parse("[::1]:6379", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.host, "::1");
	assert_string_equal(e.addr, "[::1]:6379");
	cli_endpoint_free(&e);
	assert_int_equal(cli_endpoint_parse("unix:/run/redis.sock", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.unix_path, "/run/redis.sock");
	assert_null(e.host);
	cli_endpoint_free(&e);
	/* ... and URLs with a user and a database, in every tool */
	assert_int_equal(cli_endpoint_parse("redis://ops@10.0.0.5:6390/3", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.user, "ops");
	assert_int_equal(e.port, 6390);
	assert_int_equal(e.db, 3);
	assert_null(e.password);
	cli_endpoint_free(&e);
	assert_int_equal(cli_endpoint_parse("redis://ops:pw@h/1", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "visible to every user"));
	assert_int_equal(cli_endpoint_parse("unix:run/redis.sock", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_int_equal(cli_endpoint_parse("h:0", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_int_equal(cli_endpoint_parse("[::1:6379", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_int_equal(cli_endpoint_parse("ftp://h", true, &e, err, sizeof(err)), RS_EINVAL);
}

static void test_common_options_and_environment(void **state)
{
	struct cli_common c;
	struct rs_endpoint e;
	char path[] = "/tmp/test_cli_auth.XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	clear_env();
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("alice s3cret\n", f);
	fclose(f);
	chmod(path, 0600);

	setenv("REDSINK_REDIS", "redis://127.0.0.1:6400/2", 1);
	setenv("REDSINK_PREFIX", "other:", 1);
	cli_common_init(&c, "test", 1000);
	assert_string_equal(c.prefix, "other:");
	assert_int_equal(cli_common_option(&c, CLI_O_DB, "5"), 0);
	assert_int_equal(cli_common_option(&c, CLI_O_TIMEOUT, "250"), 0);
	assert_int_equal(cli_common_option(&c, CLI_O_AUTH_FILE, path), 0);
	assert_int_equal(cli_common_option(&c, CLI_O_DB, "x"), CLI_EXIT_USAGE);
	assert_int_equal(cli_common_option(&c, CLI_O_PREFIX, "a b"), CLI_EXIT_USAGE);
	assert_int_equal(cli_common_option(&c, 'q', NULL), -1);
	assert_int_equal(c.timeout_ms, 250);
	assert_int_equal(cli_endpoint(&c, &e), 0);
	assert_int_equal(e.port, 6400);
	assert_int_equal(e.db, 5); /* --db wins over the URL's /2 */
	assert_string_equal(e.user, "alice");
	assert_string_equal(e.password, "s3cret");
	cli_endpoint_free(&e);

	/* --user wins over the file's user; a file others can read: exit 4 */
	assert_int_equal(cli_common_option(&c, CLI_O_USER, "bob"), 0);
	assert_int_equal(cli_endpoint(&c, &e), 0);
	assert_string_equal(e.user, "bob");
	cli_endpoint_free(&e);
	chmod(path, 0640);
	assert_int_equal(cli_endpoint(&c, &e), CLI_EXIT_REDIS);
	/* a bad endpoint: usage */
	c.redis = "ftp://x";
	assert_int_equal(cli_endpoint(&c, &e), CLI_EXIT_USAGE);
	unlink(path);
	clear_env();
}

static void test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(CLI_EXIT_OK, 0);
	assert_int_equal(CLI_EXIT_ERROR, 1);
	assert_int_equal(CLI_EXIT_USAGE, 2);
	assert_int_equal(CLI_EXIT_REFUSED, 3);
	assert_int_equal(CLI_EXIT_REDIS, 4);
	assert_int_equal(CLI_EXIT_DATA, 5);
	assert_non_null(strstr(CLI_EXIT_TEXT, "5 input data invalid"));
	assert_non_null(cli_common_options[CLI_NCOMMON - 1].name);
	assert_null(cli_common_options[CLI_NCOMMON].name);
}

/* The Sentinel form, the same in every tool (lib/sentinel.c). */
static void test_sentinel_endpoints(void **state)
{
	struct rs_endpoint e;
	char err[600];

	(void)state;
	clear_env();
	assert_int_equal(cli_endpoint_parse("sentinel:10.0.0.1:26379,[::1]:26380,s3/redsink?role=replica&db=3", true,
					    &e, err, sizeof(err)), 0);
	assert_int_equal(e.nsentinels, 3);
	assert_string_equal(e.sentinels[0].host, "10.0.0.1");
	assert_int_equal(e.sentinels[0].port, 26379);
	assert_string_equal(e.sentinels[1].host, "::1");
	assert_int_equal(e.sentinels[1].port, 26380);
	assert_string_equal(e.sentinels[2].host, "s3");
	assert_int_equal(e.sentinels[2].port, RS_SENTINEL_PORT);
	assert_string_equal(e.master_name, "redsink");
	assert_int_equal(e.role, RS_ROLE_REPLICA);
	assert_int_equal(e.db, 3);
	assert_null(e.host);
	assert_null(e.unix_path);
	assert_null(e.sentinel_password);
	assert_string_equal(e.addr, "sentinel:10.0.0.1:26379,[::1]:26380,s3/redsink?role=replica&db=3");
	cli_endpoint_free(&e);
	assert_null(e.sentinels);
	/* the tools' default role: the primary (they write) */
	assert_int_equal(cli_endpoint_parse("sentinel://h:1/m", true, &e, err, sizeof(err)), 0);
	assert_int_equal(e.role, RS_ROLE_DEFAULT);
	assert_int_equal(rs_endpoint_role(&e), RS_ROLE_PRIMARY);
	assert_true(rs_endpoint_is_sentinel(&e));
	cli_endpoint_free(&e);

	/* bad forms: the message quotes the text and says what is wrong */
	assert_int_equal(cli_endpoint_parse("sentinel:h1:26379", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'sentinel:h1:26379': no master name: write sentinel:HOST:PORT[,HOST:PORT...]/NAME");
	assert_int_equal(cli_endpoint_parse("sentinel:h:0/m", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'sentinel:h:0/m': sentinel 1 ('h:0'): the port must be a number 1..65535");
	assert_int_equal(cli_endpoint_parse("sentinel:h/m?db=x", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'sentinel:h/m?db=x': db 'x' is not a database number 0..65535");
	assert_int_equal(cli_endpoint_parse("sentinel:h/m?db=70000", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_int_equal(cli_endpoint_parse("sentinel:h/m?role=leader", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'sentinel:h/m?role=leader': role 'leader' is not primary or replica");
	assert_int_equal(cli_endpoint_parse("sentinel:u@h/m", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'sentinel:u@h/m': sentinel 1: the host has a character that no host name has");
	assert_int_equal(cli_endpoint_parse("sentinel:h/m y", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_null(e.sentinels);
	assert_null(e.addr);
}

/* The sentinels' credentials: from the environment, never from argv. */
static void test_sentinel_credentials(void **state)
{
	struct cli_common c;
	struct rs_endpoint e;
	char err[600];
	char path[] = "/tmp/test_cli_sauth.XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	clear_env();
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("watcher s-pw\n", f);
	fclose(f);
	chmod(path, 0600);

	setenv("REDSINK_SENTINEL_PASSWORD", "env-pw", 1);
	assert_int_equal(cli_endpoint_parse("sentinel:h/m", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.sentinel_password, "env-pw");
	assert_null(e.sentinel_user);
	assert_null(e.password); /* Redis' own password is apart */
	cli_endpoint_free(&e);
	/* not for other forms */
	assert_int_equal(cli_endpoint_parse("h:1", true, &e, err, sizeof(err)), 0);
	assert_null(e.sentinel_password);
	cli_endpoint_free(&e);

	unsetenv("REDSINK_SENTINEL_PASSWORD");
	setenv("REDSINK_SENTINEL_AUTH_FILE", path, 1);
	assert_int_equal(cli_endpoint_parse("sentinel:h/m", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.sentinel_user, "watcher");
	assert_string_equal(e.sentinel_password, "s-pw");
	assert_string_equal(e.sentinel_password_file, path);
	cli_endpoint_free(&e);
	setenv("REDSINK_SENTINEL_USER", "other", 1);
	assert_int_equal(cli_endpoint_parse("sentinel:h/m", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.sentinel_user, "other");
	cli_endpoint_free(&e);

	/* a file others can read is refused, naming the variable */
	chmod(path, 0644);
	assert_int_equal(cli_endpoint_parse("sentinel:h/m", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_non_null(strstr(err, "$REDSINK_SENTINEL_AUTH_FILE: auth file"));
	assert_non_null(strstr(err, "can be read by other users"));
	assert_null(e.sentinels);
	unsetenv("REDSINK_SENTINEL_AUTH_FILE");
	/* a user without a password */
	assert_int_equal(cli_endpoint_parse("sentinel:h/m", true, &e, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "sentinel ACL user 'other' given without a password: set $REDSINK_SENTINEL_PASSWORD "
				 "or $REDSINK_SENTINEL_AUTH_FILE");
	unsetenv("REDSINK_SENTINEL_USER");

	/* through the common options: --db and Redis' credentials apply to
	 * the node, the sentinels' to the sentinels */
	setenv("REDSINK_REDIS", "sentinel:127.0.0.1:26379/redsink", 1);
	setenv("REDSINK_REDIS_PASSWORD", "node-pw", 1);
	setenv("REDSINK_SENTINEL_PASSWORD", "s-pw", 1);
	cli_common_init(&c, "test", 1000);
	assert_int_equal(cli_common_option(&c, CLI_O_DB, "7"), 0);
	assert_int_equal(cli_endpoint(&c, &e), 0);
	assert_int_equal(e.db, 7);
	assert_string_equal(e.password, "node-pw");
	assert_string_equal(e.sentinel_password, "s-pw");
	cli_endpoint_free(&e);
	unlink(path);
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_sentinel_endpoints),
		cmocka_unit_test(test_sentinel_credentials),
		cmocka_unit_test(test_common_options_and_environment),
		cmocka_unit_test(test_exit_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
