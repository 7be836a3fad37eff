/*
 * fuzz_replinfo.c — INFO replication (lib/replinfo.c, rs_replinfo_parse),
 * which the module reads from the node it reads the list from and
 * redsink-ctl status from the primary (doc/fleet.md, "Lag").
 *
 * Input: the INFO text, raw octets (NULs, CR, anything), as Redis' bulk
 * reply would hand it over.
 *
 * Invariants checked:
 *  - the result is 0 with a known role, or RS_EINVAL with the role unknown;
 *  - every string (master_host, each replica's host and state) is
 *    NUL-terminated inside its array, non-empty only with the characters
 *    the parser allows (printable, no space, no ',' '=' or control);
 *  - ports are 0 or 1..65535; numbers are -1 or more; at most
 *    RS_REPL_REPLICAS_MAX replicas, each with a host and a port;
 *  - rs_replinfo_age is -1 for anything but a replica, else one of its
 *    io_age / down_since; the role and link names are "", or the words;
 *  - parsing the same octets again gives the same result (deterministic,
 *    no state).
 */
#include "fuzz_common.h"

#include "replinfo.h"

static void check_str(const char *s, size_t cap, const char *extra)
{
	const char *nul = memchr(s, '\0', cap);

	FZ_CHECK(nul != NULL);
	for (const char *p = s; p < nul; p++)
		FZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			 strchr(extra, *p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rs_replinfo a, b;
	int rc;

	fz_quiet();
	rc = rs_replinfo_parse((const char *)data, size, &a);
	FZ_CHECK(rc == 0 || rc == RS_EINVAL);
	FZ_CHECK((rc == 0) == (a.role != RS_REPL_ROLE_UNKNOWN));
	FZ_CHECK(a.role == RS_REPL_ROLE_UNKNOWN || a.role == RS_REPL_ROLE_MASTER || a.role == RS_REPL_ROLE_SLAVE);
	FZ_CHECK(a.link == RS_REPL_LINK_UNKNOWN || a.link == RS_REPL_LINK_UP || a.link == RS_REPL_LINK_DOWN);
	check_str(a.master_host, sizeof(a.master_host), ".:-_%[]");
	FZ_CHECK(a.master_port >= 0 && a.master_port <= 65535);
	FZ_CHECK(a.io_age >= -1 && a.down_since >= -1 && a.slave_offset >= -1 && a.master_offset >= -1 &&
		 a.connected >= -1);
	FZ_CHECK(a.nreplicas <= RS_REPL_REPLICAS_MAX);
	for (size_t i = 0; i < a.nreplicas; i++) {
		const struct rs_repl_replica *r = &a.replicas[i];
		check_str(r->host, sizeof(r->host), ".:-_%[]");
		check_str(r->state, sizeof(r->state), "_");
		FZ_CHECK(r->host[0] && r->port >= 1 && r->port <= 65535);
		FZ_CHECK(r->offset >= -1 && r->lag >= -1);
	}
	if (a.role != RS_REPL_ROLE_SLAVE)
		FZ_CHECK(rs_replinfo_age(&a) == -1);
	else
		FZ_CHECK(rs_replinfo_age(&a) == -1 || rs_replinfo_age(&a) == a.io_age ||
			 rs_replinfo_age(&a) == a.down_since);
	FZ_CHECK(strlen(rs_repl_role_name(a.role)) <= 6 && strlen(rs_repl_link_name(a.link)) <= 4);
	FZ_CHECK(rs_replinfo_parse((const char *)data, size, &b) == rc);
	FZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	return 0;
}
