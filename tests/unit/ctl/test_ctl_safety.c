/* test_ctl_safety.c — redsink-ctl's safety checks (protected names, public
 * suffixes) and its Redis connection settings (URL, credentials, error classes). */
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

#include "ctl_redis.h"
#include "ctl_safety.h"
#include "prefix.h"
#include "rs_err.h"

static void test_protected(void **state)
{
	struct ctl_prot p;
	const char *which;

	assert_int_equal(ctl_prot_init(&p), 0);
	assert_int_equal(ctl_prot_check(&p, "google.com", &which), CTL_PROT_NONE);
	assert_int_equal(ctl_prot_add(&p, "drive.google.com"), 0);
	assert_int_equal(ctl_prot_add(&p, "good.pirate2.example"), 0);
	assert_int_equal(ctl_prot_add(&p, "drive.google.com"), 0); /* twice: once */
	assert_int_equal(p.n, 2);

	assert_int_equal(ctl_prot_check(&p, "drive.google.com", &which), CTL_PROT_SAME);
	assert_string_equal(which, "drive.google.com");
	assert_int_equal(ctl_prot_check(&p, "a.b.drive.google.com", &which), CTL_PROT_BELOW);
	assert_string_equal(which, "drive.google.com");
	assert_int_equal(ctl_prot_check(&p, "google.com", &which), CTL_PROT_PARENT);
	assert_string_equal(which, "drive.google.com");
	assert_int_equal(ctl_prot_check(&p, "com", &which), CTL_PROT_PARENT);
	assert_int_equal(ctl_prot_check(&p, "pirate2.example", &which), CTL_PROT_PARENT);
	assert_string_equal(which, "good.pirate2.example");
	/* label-exact: a shared suffix string is not a parent or a child */
	assert_int_equal(ctl_prot_check(&p, "notdrive.google.com", &which), CTL_PROT_NONE);
	assert_int_equal(ctl_prot_check(&p, "oogle.com", &which), CTL_PROT_NONE);
	assert_int_equal(ctl_prot_check(&p, "docs.google.com", &which), CTL_PROT_NONE);
	assert_int_equal(ctl_prot_check(&p, "other.pirate2.example", &which), CTL_PROT_NONE);
	assert_null(which);
	ctl_prot_free(&p);
}

static void test_public_suffix(void **state)
{
	char err[200];
	const struct psl_ctx_st *psl = ctl_psl_open(NULL, err, sizeof(err));

	assert_non_null(psl);
	assert_true(ctl_is_public_suffix(psl, "com"));
	assert_true(ctl_is_public_suffix(psl, "co.uk"));
	assert_true(ctl_is_public_suffix(psl, "gov.it"));
	assert_true(ctl_is_public_suffix(psl, "github.io"));    /* private section */
	assert_true(ctl_is_public_suffix(psl, "blogspot.com")); /* private section */
	assert_true(ctl_is_public_suffix(psl, "xn--p1ai"));     /* .рф */
	assert_true(ctl_is_public_suffix(psl, "example"));      /* any single label */
	assert_false(ctl_is_public_suffix(psl, "google.com"));
	assert_false(ctl_is_public_suffix(psl, "drive.google.com"));
	assert_false(ctl_is_public_suffix(psl, "pirate.example"));
	assert_false(ctl_is_public_suffix(psl, "user.github.io"));
	ctl_psl_close(psl);
	assert_null(ctl_psl_open("/nonexistent/psl.dat", err, sizeof(err)));
	assert_string_equal(err, "cannot load the public suffix list /nonexistent/psl.dat");
}

static void test_strmap(void **state)
{
	struct ctl_strmap *m = ctl_strmap_new();
	char key[32];
	bool found;

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ctl_strmap_put(m, key, (void *)(intptr_t)(i + 1)), 1);
	}
	assert_int_equal(ctl_strmap_put(m, "k7", NULL), 0);
	assert_int_equal(ctl_strmap_count(m), 5000);
	assert_int_equal((intptr_t)ctl_strmap_get(m, "k4999", &found), 5000);
	assert_true(found);
	assert_null(ctl_strmap_get(m, "k5000", &found));
	assert_false(found);
	ctl_strmap_free(m);
}

#define URL_OK(url, host_, port_, unix_, db_, user_)                                       \
	do {                                                                                \
		struct rs_endpoint ue;                                                      \
		assert_int_equal(ctl_url_parse(url, true, &ue, err, sizeof(err)), 0);       \
		if (host_)                                                                  \
			assert_string_equal(ue.host, (const char *)(host_));                 \
		else                                                                        \
			assert_null(ue.host);                                                \
		assert_int_equal(ue.port, port_);                                            \
		if (unix_)                                                                  \
			assert_string_equal(ue.unix_path, (const char *)(unix_));            \
		assert_int_equal(ue.db, db_);                                                \
		if (user_)                                                                  \
			assert_string_equal(ue.user, (const char *)(user_));                 \
		else                                                                        \
			assert_null(ue.user);                                                \
		assert_null(ue.password);                                                    \
		ctl_endpoint_free(&ue);                                                      \
	} while (0)

#define URL_BAD(url, argv, msg)                                                             \
	do {                                                                                \
		struct rs_endpoint ue;                                                      \
		assert_int_equal(ctl_url_parse(url, argv, &ue, err, sizeof(err)), RS_EINVAL); \
		assert_string_equal(err, msg);                                              \
	} while (0)

static void test_url(void **state)
{
	char err[600];
	struct rs_endpoint e;

	URL_OK("127.0.0.1:6380", "127.0.0.1", 6380, NULL, 0, NULL);
	URL_OK("redis.example", "redis.example", 6379, NULL, 0, NULL);
	URL_OK("redis://regulator@10.0.0.1:7000/3", "10.0.0.1", 7000, NULL, 3, "regulator");
	URL_OK("redis://[::1]:6390", "::1", 6390, NULL, 0, NULL);
	URL_OK("[2001:db8::5]", "2001:db8::5", 6379, NULL, 0, NULL);
	URL_OK("unix:/run/redis/redis.sock?db=2", NULL, 0, "/run/redis/redis.sock", 2, NULL);
	URL_OK("unix:///run/redis.sock", NULL, 0, "/run/redis.sock", 0, NULL);
	URL_OK("/run/redis.sock", NULL, 0, "/run/redis.sock", 0, NULL);
	assert_int_equal(ctl_url_parse("redis://[::1]:6390", true, &e, err, sizeof(err)), 0);
	assert_string_equal(e.addr, "[::1]:6390");
	ctl_endpoint_free(&e);

	/* a password on the command line is refused; from the environment it is taken */
	URL_BAD("redis://regulator:s3cret@10.0.0.1", true,
		"a password in --redis is visible to every user of this machine (ps): put it in a file (--auth-file, "
		"$REDSINK_REDIS_AUTH_FILE) or $REDSINK_REDIS_PASSWORD");
	assert_int_equal(ctl_url_parse("redis://regulator:s3cret@10.0.0.1", false, &e, err, sizeof(err)), 0);
	assert_string_equal(e.password, "s3cret");
	ctl_endpoint_free(&e);

	URL_BAD("rediss://x:1", true, "'rediss://x:1': TLS (rediss://) is not supported; use a TLS tunnel or a unix socket");
	URL_BAD("http://x:1", true, "'http://x:1': expected redis://host:port/db, host:port or unix:/path");
	URL_BAD("x:0", true, "'x:0': bad port");
	URL_BAD("x:65536", true, "'x:65536': bad port");
	URL_BAD("x:", true, "'x:': bad port");
	URL_BAD("redis://x/abc", true, "'redis://x/abc': the database after '/' must be a number");
	URL_BAD("::1", true, "'::1': write an IPv6 address in brackets: [::1]:6379");
	URL_BAD("unix:relative.sock", true, "'unix:relative.sock': a unix socket path must be absolute");
	URL_BAD("", true, "'': no host");
}

static void test_credentials(void **state)
{
	char path[] = "/tmp/test_ctl_auth.XXXXXX", err[600], warn[600];
	struct rs_endpoint e = { 0 };
	FILE *f;
	int fd = mkstemp(path);

	unsetenv("REDSINK_REDIS_PASSWORD");
	unsetenv("REDSINK_REDIS_USER");
	unsetenv("REDSINK_REDIS_AUTH_FILE");
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("regulator  s3cret pw\n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(e.user, "regulator");
	assert_string_equal(e.password, "s3cret pw");
	assert_string_equal(warn, "");
	ctl_endpoint_free(&e);

	/* a file others can read is refused (issue 11: mode 600 or refused) */
	f = fopen(path, "w");
	fputs("onlypw\r\n", f);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), RS_EINVAL);
	assert_non_null(strstr(err, "can be read by other users: refused (chmod 600"));
	ctl_endpoint_free(&e);

	/* a password alone; the environment user wins */
	chmod(path, 0600);
	setenv("REDSINK_REDIS_USER", "ops", 1);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(e.user, "ops");
	assert_string_equal(e.password, "onlypw");
	assert_string_equal(warn, "");
	ctl_endpoint_free(&e);

	/* --auth-file wins over $REDSINK_REDIS_PASSWORD; the deprecated $REDSINK_PASSWORD warns */
	setenv("REDSINK_REDIS_PASSWORD", "envpw", 1);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(e.password, "onlypw");
	ctl_endpoint_free(&e);
	unsetenv("REDSINK_REDIS_PASSWORD");
	setenv("REDSINK_PASSWORD", "oldpw", 1);
	assert_int_equal(ctl_credentials(&e, NULL, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(e.password, "oldpw");
	assert_non_null(strstr(warn, "$REDSINK_PASSWORD is deprecated"));
	ctl_endpoint_free(&e);
	unsetenv("REDSINK_PASSWORD");

	/* a user without any password */
	assert_int_equal(ctl_credentials(&e, NULL, err, sizeof(err), warn, sizeof(warn)), RS_EINVAL);
	assert_non_null(strstr(err, "ACL user 'ops' given without a password"));
	ctl_endpoint_free(&e);
	setenv("REDSINK_REDIS_PASSWORD", "envpw", 1);
	assert_int_equal(ctl_credentials(&e, NULL, err, sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(e.password, "envpw");
	ctl_endpoint_free(&e);
	unsetenv("REDSINK_REDIS_USER");
	unsetenv("REDSINK_REDIS_PASSWORD");

	/* empty and missing files */
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), RS_EINVAL);
	assert_non_null(strstr(err, "the first line is empty"));
	ctl_endpoint_free(&e);
	unlink(path);
	assert_int_equal(ctl_credentials(&e, path, err, sizeof(err), warn, sizeof(warn)), RS_EIO);
	assert_non_null(strstr(err, "No such file or directory"));
	ctl_endpoint_free(&e);
}

static void test_error_classes(void **state)
{
	assert_int_equal(ctl_error_exit("NOPERM User regulator has no permissions to run the 'flushall' command"),
			 CTL_EXIT_REDIS);
	assert_int_equal(ctl_error_exit("NOAUTH Authentication required."), CTL_EXIT_REDIS);
	assert_int_equal(ctl_error_exit("WRONGPASS invalid username-password pair or user is disabled."),
			 CTL_EXIT_REDIS);
	assert_int_equal(ctl_error_exit("READONLY You can't write against a read only replica."), CTL_EXIT_REDIS);
	assert_int_equal(ctl_error_exit(NULL), CTL_EXIT_REDIS);
	assert_int_equal(ctl_error_exit("WRONGTYPE Operation against a key holding the wrong kind of value"),
			 CTL_EXIT_ERROR);
	assert_int_equal(ctl_error_exit("OOM command not allowed when used memory > 'maxmemory'."), CTL_EXIT_ERROR);
}

static void test_fail_messages(void **state)
{
	struct ctl_conn x = { 0 };

	x.ep.addr = (char *)"127.0.0.1:6379";
	x.ep.user = (char *)"resolver";
	ctl_fail(&x, "the batch (nothing was written)",
		 "NOPERM User resolver has no permissions to run the 'sadd' command");
	assert_int_equal(x.exit, CTL_EXIT_REDIS);
	assert_string_equal(x.err, "Redis 127.0.0.1:6379 (ACL user 'resolver'): the batch (nothing was written) refused: "
				   "NOPERM User resolver has no permissions to run the 'sadd' command; the Redis ACL does "
				   "not allow this: see ACLS in redsink-ctl(1) and doc/acl.md");
	ctl_fail(&x, "PING", NULL);
	assert_int_equal(x.exit, CTL_EXIT_REDIS);
	assert_string_equal(x.err, "Redis 127.0.0.1:6379 unreachable during PING: connection lost");
}

/* ---- address prefixes: protected overlap, too short, the heartbeat's collateral field ---- */

static struct rs_prefix P(const char *s)
{
	struct rs_prefix p;

	assert_int_equal(rs_prefix_parse(s, &p, NULL, 0), 0);
	return p;
}

static void test_prefix_guards(void **state)
{
	struct ctl_pprot pp;
	struct rs_prefix p;

	(void)state;
	ctl_pprot_init(&pp);
	p = P("104.16.0.0/13");
	assert_int_equal(ctl_pprot_add(&pp, &p, "104.16.0.0/13"), 0);
	p = P("2606:4700::/32");
	assert_int_equal(ctl_pprot_add(&pp, &p, "2606:4700::/32"), 0);
	p = P("104.16.1.1");            /* inside */
	assert_int_equal(ctl_pprot_check(&pp, &p), 0);
	p = P("104.0.0.0/8");           /* around */
	assert_int_equal(ctl_pprot_check(&pp, &p), 0);
	p = P("104.24.0.0/24");         /* beside */
	assert_int_equal(ctl_pprot_check(&pp, &p), -1);
	p = P("2606:4700:10::/48");
	assert_int_equal(ctl_pprot_check(&pp, &p), 1);
	p = P("::ffff:104.16.0.1");     /* IPv6 never overlaps IPv4 */
	assert_int_equal(ctl_pprot_check(&pp, &p), -1);
	ctl_pprot_free(&pp);
	p = P("192.0.2.0/24");
	assert_false(ctl_prefix_too_short(&p));
	p = P("192.0.2.0/23");
	assert_true(ctl_prefix_too_short(&p));
	p = P("2001:db8::/48");
	assert_false(ctl_prefix_too_short(&p));
	p = P("2001:db8::/47");
	assert_true(ctl_prefix_too_short(&p));
}

static void test_collateral_field(void **state)
{
	struct ctl_collat c[4];
	size_t bad, n;

	(void)state;
	n = ctl_collateral_parse("104.16.0.0/24=812  2001:db8::/48=77", c, 4, &bad);
	assert_int_equal(n, 2);
	assert_int_equal(bad, 0);
	assert_string_equal(c[0].prefix, "104.16.0.0/24");
	assert_true(c[0].names == 812);
	assert_string_equal(c[1].prefix, "2001:db8::/48");
	n = ctl_collateral_parse("", c, 4, &bad);
	assert_int_equal(n + bad, 0);
	/* hostile: no '=', empty sides, not canonical, host bits, not a number, too long, too many */
	n = ctl_collateral_parse("x 1.2.3.0/24= =5 2001:DB8::/48=1 10.0.0.1/8=3 1.2.3.0/24=1e3 1.2.3.0/24=9999999999999999 "
				 "1.2.3.4/32=1 1.2.3.5/32=1 1.2.3.6/32=1 1.2.3.7/32=1 1.2.3.8/32=1",
				 c, 4, &bad);
	assert_int_equal(n, 4);
	assert_int_equal(bad, 8);
	assert_string_equal(c[3].prefix, "1.2.3.7/32");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protected),    cmocka_unit_test(test_public_suffix),
		cmocka_unit_test(test_strmap),       cmocka_unit_test(test_url),
		cmocka_unit_test(test_credentials),  cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_fail_messages),
		cmocka_unit_test(test_prefix_guards), cmocka_unit_test(test_collateral_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
