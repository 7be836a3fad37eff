/* test_sentinel.c — Sentinel endpoints (lib/sentinel.c) and the ROLE check of
 * every discovered node (lib/load.c, rs_role_verdict). The parser's error
 * messages are asserted in test_conf.c (redsink.conf) and test_cli.c (tools);
 * discovery against real Sentinels is tests/integration/test_sentinel.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "load.h"
#include "rs_err.h"
#include "sentinel.h"

/* The first reply of the RESP text resp (free with freeReplyObject). */
static redisReply *reply(const char *resp)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;

	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
	assert_non_null(r);
	redisReaderFree(rd);
	return r;
}

static int verdict(const char *resp, int want, char *why, size_t len)
{
	redisReply *r = reply(resp);
	int rc = rs_role_verdict(r, want, why, len);

	freeReplyObject(r);
	return rc;
}

#define MASTER "*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n"
#define SLAVE(state) "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$" state "\r\n:3129659\r\n"

static void test_role_verdict(void **state)
{
	char why[200];

	(void)state;
	/* a primary serves both */
	assert_int_equal(verdict(MASTER, RS_ROLE_PRIMARY, why, sizeof(why)), 0);
	assert_int_equal(verdict(MASTER, RS_ROLE_REPLICA, why, sizeof(why)), 0);
	/* a replica never passes for the primary (a demoted primary) */
	assert_int_equal(verdict(SLAVE("9\r\nconnected"), RS_ROLE_PRIMARY, why, sizeof(why)), RS_EPROTO);
	assert_string_equal(why, "is a replica of 127.0.0.1:9000, not the primary");
	/* a replica in step serves reads; one still syncing does not */
	assert_int_equal(verdict(SLAVE("9\r\nconnected"), RS_ROLE_REPLICA, why, sizeof(why)), 0);
	assert_int_equal(verdict(SLAVE("4\r\nsync"), RS_ROLE_REPLICA, why, sizeof(why)), RS_EPROTO);
	assert_string_equal(why, "is a replica not in step with its primary (link sync)");
	/* a sentinel given as a Redis */
	assert_int_equal(verdict("*2\r\n$8\r\nsentinel\r\n*0\r\n", RS_ROLE_PRIMARY, why, sizeof(why)), RS_EPROTO);
	assert_string_equal(why, "is a sentinel, not a Redis primary");
	/* ROLE refused to a restricted ACL user: not checked (READONLY guards writes) */
	assert_int_equal(verdict("-NOPERM this user has no permissions to run the 'role' command\r\n",
				 RS_ROLE_PRIMARY, why, sizeof(why)), 0);
	/* junk */
	assert_int_equal(verdict(":1\r\n", RS_ROLE_PRIMARY, why, sizeof(why)), RS_EPROTO);
	assert_string_equal(why, "unexpected reply to ROLE");
	assert_int_equal(verdict("*0\r\n", RS_ROLE_REPLICA, why, sizeof(why)), RS_EPROTO);
	assert_int_equal(rs_role_verdict(NULL, RS_ROLE_PRIMARY, why, sizeof(why)), RS_EIO);
}

static void test_parse_and_copy(void **state)
{
	struct rs_endpoint e = { 0 }, w = { 0 };
	char err[600];

	(void)state;
	assert_int_equal(rs_sentinel_parse("sentinel:a:1,[fe80::1]:2/m-1.x?db=9&role=slave", true, &e, err,
					   sizeof(err)), 0);
	assert_int_equal(e.db, 9);
	assert_int_equal(e.role, RS_ROLE_REPLICA);
	assert_string_equal(rs_role_name(e.role), "replica");
	assert_string_equal(e.master_name, "m-1.x");
	/* redsink.conf refuses db= (it has read-redis-db) */
	assert_int_equal(rs_sentinel_parse("sentinel:a/m?db=9", false, &w, err, sizeof(err)), RS_EINVAL);
	assert_null(w.sentinels);
	assert_int_equal(rs_sentinel_parse("redis://a/m", true, &w, err, sizeof(err)), RS_EINVAL);
	assert_string_equal(err, "'redis://a/m' does not start with sentinel:");
	/* copy: what write-redis inherits from read-redis */
	e.sentinel_user = strdup("u");
	e.sentinel_password = strdup("p");
	assert_int_equal(rs_sentinel_copy(&w, &e), 0);
	assert_int_equal(w.nsentinels, 2);
	assert_string_equal(w.sentinels[1].host, "fe80::1");
	assert_int_equal(w.sentinels[1].port, 2);
	assert_string_equal(w.master_name, "m-1.x");
	assert_string_equal(w.sentinel_user, "u");
	assert_string_equal(w.sentinel_password, "p");
	assert_null(w.sentinel_password_file);
	assert_int_equal(w.role, RS_ROLE_DEFAULT); /* the role is the caller's to decide */
	rs_sentinel_free(&w);
	assert_null(w.sentinels);
	assert_int_equal(w.nsentinels, 0);
	rs_sentinel_free(&e);
	free(e.addr);
	/* no sentinel at all answers: RS_EIO with the reason */
	{
		struct rs_endpoint d = { 0 };
		struct rs_node n[2];
		assert_int_equal(rs_sentinel_parse("sentinel:127.0.0.1:1/m", true, &d, err, sizeof(err)), 0);
		assert_int_equal(rs_sentinel_candidates(&d, 0, 200, n, 2, err, sizeof(err)), RS_EIO);
		assert_non_null(strstr(err, "sentinel 127.0.0.1:1: "));
		rs_sentinel_free(&d);
		free(d.addr);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_verdict),
		cmocka_unit_test(test_parse_and_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
