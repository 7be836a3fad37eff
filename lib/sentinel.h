/*
 * sentinel.h — Redis Sentinel endpoints: parsing and discovery (doc/fleet.md).
 *
 * An endpoint may name a Redis through Sentinel instead of an address:
 *
 *	sentinel:HOST[:PORT][,HOST[:PORT]...]/NAME[?role=primary|replica][&db=N]
 *
 * HOST is a name, an IPv4 address or an IPv6 address in brackets; PORT
 * defaults to 26379; at most RS_SENTINEL_MAX sentinels; NAME is the master
 * name the sentinels monitor. role=primary connects to the primary;
 * role=replica to a healthy replica, the same for every connection of a
 * process and spread over the replicas between processes (the primary when
 * no replica is healthy). Which role applies when none is written depends on
 * the endpoint's use (doc/configuration.md): read-redis replica, write-redis
 * and the tools' --redis primary.
 *
 * Discovery (rs_sentinel_candidates) runs at every (re)connect, in
 * lib/load.c: the sentinels are asked in the order written, each with a short
 * timeout, and the first that answers gives the candidates. The connection to
 * a candidate is then checked with ROLE (a primary demoted to a replica must
 * not take writes); on failure the next candidate, then the next sentinel,
 * is tried.
 *
 * Ownership: the sentinel parts of struct rs_endpoint (conf.h) are owned by
 * the endpoint; rs_sentinel_free releases them (conf.c and cli.c call it from
 * their endpoint free functions). The functions here keep no state and may be
 * called from any thread.
 */
#ifndef RS_SENTINEL_H
#define RS_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define RS_SENTINEL_MAX 16          /* sentinels in one endpoint */
#define RS_SENTINEL_PORT 26379      /* default port of a sentinel */
#define RS_SENTINEL_TIMEOUT_MS 500  /* connect and command timeout towards one sentinel */
#define RS_SENTINEL_CAND_MAX 17     /* candidates from one answer: replicas and the primary */
#define RS_MASTER_NAME_MAX 128

/* A node a sentinel named. */
struct rs_node {
	char host[256];
	int port;
	bool primary; /* the primary itself (else a replica) */
};

/* Is e a Sentinel endpoint? */
static inline bool rs_endpoint_is_sentinel(const struct rs_endpoint *e)
{
	return e->nsentinels > 0;
}

/* The role e asks for, RS_ROLE_DEFAULT resolved to primary. */
static inline int rs_endpoint_role(const struct rs_endpoint *e)
{
	return e->role == RS_ROLE_REPLICA ? RS_ROLE_REPLICA : RS_ROLE_PRIMARY;
}

/* "primary" or "replica". */
const char *rs_role_name(int role);

/*
 * Parse spec (which starts with "sentinel:", any case) into the sentinel
 * parts of e and e->addr (the spec as written). allow_db: whether "db=N" may
 * be given (redsink.conf has read-redis-db instead). The sentinel credentials
 * are not touched. 0, or RS_EINVAL with a message in err that quotes spec
 * and says which part is wrong and why; RS_ENOMEM. On error e's sentinel
 * parts are freed.
 */
int rs_sentinel_parse(const char *spec, bool allow_db, struct rs_endpoint *e, char *err, size_t errlen);

/* Free the sentinel parts of e (list, name, sentinel credentials) and
 * clear them. */
void rs_sentinel_free(struct rs_endpoint *e);

/* Copy the sentinel list, master name and sentinel credentials of src into
 * dst (whose own sentinel parts must be empty). 0 or RS_ENOMEM. */
int rs_sentinel_copy(struct rs_endpoint *dst, const struct rs_endpoint *src);

/*
 * Ask sentinel number i of e where its nodes are: for role primary the
 * primary; for role replica the healthy replicas (not s_down, o_down or
 * disconnected, master-link-status ok), starting with this process's pick
 * (the same replica for every connection of one process while the set is
 * unchanged; another for another resolver), then the primary.
 * Fills at most max nodes into out; the count (>= 1), or RS_EIO (sentinel
 * unreachable, refused, or knows no such master) / RS_EPROTO (a reply of
 * the wrong shape), with a message in err.
 */
int rs_sentinel_candidates(const struct rs_endpoint *e, size_t i, int timeout_ms, struct rs_node *out, size_t max,
			   char *err, size_t errlen);

#endif
