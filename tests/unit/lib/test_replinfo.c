/* test_replinfo.c — INFO replication parsed defensively (lib/replinfo.c): real texts of a primary
 * and of replicas up, down and never linked, and hostile texts (junk, over-long lines, bad numbers,
 * hosts with spaces, NUL octets, too many replicas, no role). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replinfo.h"
#include "rs_err.h"

static int parse(const char *t, struct rs_replinfo *ri)
{
	return rs_replinfo_parse(t, strlen(t), ri);
}

/* As Redis 7.0 writes it on a primary with two replicas. */
static void test_primary(void **state)
{
	struct rs_replinfo ri;
	const char *t = "# Replication\r\n"
			"role:master\r\n"
			"connected_slaves:2\r\n"
			"slave0:ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0\r\n"
			"slave1:ip=::1,port=6381,state=wait_bgsave,offset=0,lag=7\r\n"
			"master_failover_state:no-failover\r\n"
			"master_replid:8c4a0e3e5b7c2b1f0d5a6e7f8a9b0c1d2e3f4a5b\r\n"
			"master_replid2:0000000000000000000000000000000000000000\r\n"
			"master_repl_offset:1234\r\n"
			"second_repl_offset:-1\r\n"
			"repl_backlog_active:1\r\n";

	(void)state;
	assert_int_equal(parse(t, &ri), 0);
	assert_int_equal(ri.role, RS_REPL_ROLE_MASTER);
	assert_string_equal(rs_repl_role_name(ri.role), "master");
	assert_int_equal(ri.connected, 2);
	assert_int_equal(ri.master_offset, 1234);
	assert_int_equal(ri.nreplicas, 2);
	assert_int_equal(ri.replicas_skipped, 0);
	assert_string_equal(ri.replicas[0].host, "127.0.0.1");
	assert_int_equal(ri.replicas[0].port, 6380);
	assert_string_equal(ri.replicas[0].state, "online");
	assert_int_equal(ri.replicas[0].offset, 1234);
	assert_int_equal(ri.replicas[0].lag, 0);
	assert_string_equal(ri.replicas[1].host, "::1");
	assert_string_equal(ri.replicas[1].state, "wait_bgsave");
	assert_int_equal(ri.replicas[1].lag, 7);
	assert_int_equal(ri.link, RS_REPL_LINK_UNKNOWN);
	assert_string_equal(rs_repl_link_name(ri.link), "");
	assert_int_equal(rs_replinfo_age(&ri), -1); /* a primary has no age */
}

static void test_replica_up(void **state)
{
	struct rs_replinfo ri;
	const char *t = "# Replication\n"
			"role:slave\n"
			"master_host:10.0.0.1\n"
			"master_port:6379\n"
			"master_link_status:up\n"
			"master_last_io_seconds_ago:3\n"
			"master_sync_in_progress:0\n"
			"slave_read_repl_offset:5000\n"
			"slave_repl_offset:5000\n"
			"slave_priority:100\n"
			"connected_slaves:0\n"
			"master_repl_offset:5000\n";

	(void)state;
	assert_int_equal(parse(t, &ri), 0);
	assert_int_equal(ri.role, RS_REPL_ROLE_SLAVE);
	assert_string_equal(rs_repl_role_name(ri.role), "slave");
	assert_string_equal(ri.master_host, "10.0.0.1");
	assert_int_equal(ri.master_port, 6379);
	assert_int_equal(ri.link, RS_REPL_LINK_UP);
	assert_string_equal(rs_repl_link_name(ri.link), "up");
	assert_int_equal(ri.io_age, 3);
	assert_int_equal(ri.down_since, -1);
	assert_false(ri.sync_in_progress);
	assert_int_equal(ri.slave_offset, 5000);
	assert_int_equal(rs_replinfo_age(&ri), 3);
	assert_int_equal(ri.nreplicas, 0);
}

static void test_replica_down(void **state)
{
	struct rs_replinfo ri;
	const char *t = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:1\r\nmaster_link_status:down\r\n"
			"master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\n"
			"master_link_down_since_seconds:42\r\n";

	(void)state;
	assert_int_equal(parse(t, &ri), 0);
	assert_int_equal(ri.link, RS_REPL_LINK_DOWN);
	assert_string_equal(rs_repl_link_name(ri.link), "down");
	assert_int_equal(ri.io_age, -1);
	assert_int_equal(ri.down_since, 42);
	assert_int_equal(rs_replinfo_age(&ri), 42); /* down: the time since it went down */
}

/* Redis 7 writes -1 for a replica that never reached its primary. */
static void test_replica_never_linked(void **state)
{
	struct rs_replinfo ri;

	(void)state;
	assert_int_equal(parse("role:slave\nmaster_link_status:down\nmaster_link_down_since_seconds:-1\n"
			       "master_sync_in_progress:1\n", &ri), 0);
	assert_int_equal(ri.link, RS_REPL_LINK_DOWN);
	assert_true(ri.sync_in_progress);
	assert_int_equal(rs_replinfo_age(&ri), -1);
}

static void test_no_role(void **state)
{
	struct rs_replinfo ri;

	(void)state;
	assert_int_equal(parse("", &ri), RS_EINVAL);
	assert_int_equal(ri.role, RS_REPL_ROLE_UNKNOWN);
	assert_int_equal(parse("# Replication\r\nconnected_slaves:0\r\n", &ri), RS_EINVAL);
	assert_int_equal(ri.connected, 0);
	assert_int_equal(parse("role:primary\n", &ri), RS_EINVAL);  /* not a value Redis writes */
	assert_int_equal(parse("role: master\n", &ri), RS_EINVAL);  /* no space allowed */
	assert_int_equal(parse("ROLE:master\n", &ri), RS_EINVAL);   /* keys are exact */
	assert_int_equal(parse("role:masterx\n", &ri), RS_EINVAL);
	assert_int_equal(rs_replinfo_parse(NULL, 0, &ri), RS_EINVAL);
	assert_int_equal(rs_replinfo_parse("role:master", 4, &ri), RS_EINVAL); /* length is honoured */
	assert_int_equal(rs_replinfo_parse("role:master", 11, &ri), 0);      /* no final newline */
}

static void test_bad_numbers_ignored(void **state)
{
	struct rs_replinfo ri;
	const char *t = "role:slave\n"
			"master_port:70000\n"
			"master_last_io_seconds_ago:3x\n"
			"master_link_down_since_seconds:99999999999999999999\n"
			"slave_repl_offset:-5\n"
			"connected_slaves:\n"
			"master_repl_offset: 12\n"
			"master_link_status:UP\n";

	(void)state;
	assert_int_equal(parse(t, &ri), 0);
	assert_int_equal(ri.master_port, 0);
	assert_int_equal(ri.io_age, -1);
	assert_int_equal(ri.down_since, -1);
	assert_int_equal(ri.slave_offset, -1);
	assert_int_equal(ri.connected, -1);
	assert_int_equal(ri.master_offset, -1);
	assert_int_equal(ri.link, RS_REPL_LINK_UNKNOWN);
	assert_int_equal(rs_replinfo_age(&ri), -1);
}

static void test_hostile_hosts_and_replicas(void **state)
{
	struct rs_replinfo ri;
	const char *t = "role:master\n"
			"master_host:evil host\n"
			"slave0:ip=1.2.3.4 ;rm,port=6380,state=online,offset=1,lag=0\n" /* bad ip: skipped */
			"slave1:ip=10.0.0.2,port=0,state=online\n"                       /* bad port: skipped */
			"slave2:ip=10.0.0.3,port=6390,state=<b>,offset=x,lag=-3,junk,=,a=b\n"
			"slaveX:ip=10.0.0.4,port=6391\n"                                 /* not slaveN: ignored */
			"slave12345:ip=10.0.0.5,port=6392\n";                            /* N too long: ignored */

	(void)state;
	assert_int_equal(parse(t, &ri), 0);
	assert_string_equal(ri.master_host, "");
	assert_int_equal(ri.nreplicas, 1);
	assert_int_equal(ri.replicas_skipped, 2);
	assert_string_equal(ri.replicas[0].host, "10.0.0.3");
	assert_int_equal(ri.replicas[0].port, 6390);
	assert_string_equal(ri.replicas[0].state, ""); /* not letters: unknown */
	assert_int_equal(ri.replicas[0].offset, -1);
	assert_int_equal(ri.replicas[0].lag, -1);
}

static void test_long_line_and_nul(void **state)
{
	struct rs_replinfo ri;
	size_t n = RS_REPL_LINE_MAX + 100;
	char *t = malloc(n + 64);
	char nul[] = "role:slave\nmaster_link_status:up\0junk\nmaster_last_io_seconds_ago:2\n";

	(void)state;
	assert_non_null(t);
	/* an over-long line is skipped whole, even when it starts like a key */
	strcpy(t, "master_host:");
	memset(t + 12, 'a', n - 12);
	strcpy(t + n, "\nrole:master\n");
	assert_int_equal(rs_replinfo_parse(t, strlen(t), &ri), 0);
	assert_string_equal(ri.master_host, "");
	assert_int_equal(ri.role, RS_REPL_ROLE_MASTER);
	/* a host of 256 octets does not fit */
	memcpy(t, "role:slave\nmaster_host:", 23);
	memset(t + 23, 'b', RS_REPL_HOST_MAX);
	strcpy(t + 23 + RS_REPL_HOST_MAX, "\n");
	assert_int_equal(rs_replinfo_parse(t, strlen(t), &ri), 0);
	assert_string_equal(ri.master_host, "");
	/* 255 octets do */
	t[23 + RS_REPL_HOST_MAX - 1] = '\n';
	t[23 + RS_REPL_HOST_MAX] = '\0';
	assert_int_equal(rs_replinfo_parse(t, strlen(t), &ri), 0);
	assert_int_equal(strlen(ri.master_host), RS_REPL_HOST_MAX - 1);
	free(t);
	/* a NUL makes its line junk, not the end of the text */
	assert_int_equal(rs_replinfo_parse(nul, sizeof(nul) - 1, &ri), 0);
	assert_int_equal(ri.link, RS_REPL_LINK_UNKNOWN);
	assert_int_equal(ri.io_age, 2);
}

static void test_too_many_replicas(void **state)
{
	struct rs_replinfo ri;
	size_t cap = (RS_REPL_REPLICAS_MAX + 10) * 80 + 32, off = 0;
	char *t = malloc(cap);

	(void)state;
	assert_non_null(t);
	off += (size_t)snprintf(t + off, cap - off, "role:master\n");
	for (int i = 0; i < RS_REPL_REPLICAS_MAX + 10; i++)
		off += (size_t)snprintf(t + off, cap - off, "slave%d:ip=10.0.%d.%d,port=%d,state=online,offset=5,lag=1\n",
					i, i / 256, i % 256, 7000 + i);
	assert_int_equal(rs_replinfo_parse(t, off, &ri), 0);
	assert_int_equal(ri.nreplicas, RS_REPL_REPLICAS_MAX);
	assert_int_equal(ri.replicas_skipped, 10);
	assert_int_equal(ri.replicas[RS_REPL_REPLICAS_MAX - 1].port, 7000 + RS_REPL_REPLICAS_MAX - 1);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary),
		cmocka_unit_test(test_replica_up),
		cmocka_unit_test(test_replica_down),
		cmocka_unit_test(test_replica_never_linked),
		cmocka_unit_test(test_no_role),
		cmocka_unit_test(test_bad_numbers_ignored),
		cmocka_unit_test(test_hostile_hosts_and_replicas),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_too_many_replicas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
