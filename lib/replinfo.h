/*
 * replinfo.h — the "# Replication" section of Redis' INFO, parsed
 * defensively (doc/fleet.md, "Lag").
 *
 * The module reads INFO replication of the node it reads the list from (its
 * replica) and reports the replica's state in its heartbeat; redsink-ctl
 * status reads it of the node it is connected to (the primary) to list the
 * primary's replicas. Both treat the text as hostile input: a line longer
 * than RS_REPL_LINE_MAX octets, a key it does not know, a value that is not
 * what Redis would write (a number with junk, a host with spaces or control
 * characters, a state not made of letters) is ignored and the field stays
 * unknown; at most RS_REPL_REPLICAS_MAX replicas are kept (the others are
 * counted in replicas_skipped). Every string in the result is
 * NUL-terminated, printable ASCII and bounded by its array.
 *
 * No state, no allocation: callable from any thread.
 */
#ifndef RS_REPLINFO_H
#define RS_REPLINFO_H

#include <stdbool.h>
#include <stddef.h>

#define RS_REPL_LINE_MAX 1024     /* longer lines are skipped whole */
#define RS_REPL_REPLICAS_MAX 64   /* slaveN lines kept */
#define RS_REPL_HOST_MAX 256      /* host text, with its NUL */
#define RS_REPL_STATE_MAX 24      /* a replica's state= ("online", "wait_bgsave", ...), with its NUL */

enum rs_repl_role { RS_REPL_ROLE_UNKNOWN = 0, RS_REPL_ROLE_MASTER, RS_REPL_ROLE_SLAVE };
enum rs_repl_link { RS_REPL_LINK_UNKNOWN = 0, RS_REPL_LINK_UP, RS_REPL_LINK_DOWN };

/* One "slaveN:ip=...,port=...,state=...,offset=...,lag=..." line of a primary. */
struct rs_repl_replica {
	char host[RS_REPL_HOST_MAX]; /* "" unknown */
	int port;                    /* 0 unknown, else 1..65535 */
	char state[RS_REPL_STATE_MAX]; /* "" unknown */
	long long offset;            /* -1 unknown */
	long long lag;               /* seconds since its last REPLCONF ACK; -1 unknown */
};

struct rs_replinfo {
	enum rs_repl_role role;      /* role: master / slave */
	/* a replica (role slave): its primary and the link to it */
	char master_host[RS_REPL_HOST_MAX]; /* "" unknown */
	int master_port;                    /* 0 unknown */
	enum rs_repl_link link;             /* master_link_status up / down */
	long long io_age;           /* master_last_io_seconds_ago (-1: unknown; Redis writes -1 when down) */
	long long down_since;       /* master_link_down_since_seconds (-1: unknown or up) */
	bool sync_in_progress;      /* master_sync_in_progress:1 */
	long long slave_offset;     /* slave_repl_offset (-1 unknown) */
	/* any node */
	long long master_offset;    /* master_repl_offset (-1 unknown) */
	long long connected;        /* connected_slaves (-1 unknown) */
	size_t nreplicas;           /* slaveN lines kept in replicas[] */
	size_t replicas_skipped;    /* slaveN lines beyond RS_REPL_REPLICAS_MAX or malformed */
	struct rs_repl_replica replicas[RS_REPL_REPLICAS_MAX];
};

/*
 * Parse the INFO text t[0..len) (any sections; only the replication fields
 * are read; lines end in "\r\n" or "\n"; NUL octets end nothing and make
 * their line junk). 0 with *out filled, or RS_EINVAL when no valid "role:"
 * line was found (then *out holds whatever else was read; role unknown).
 */
int rs_replinfo_parse(const char *t, size_t len, struct rs_replinfo *out);

/* The age of the replica's view of its primary, in seconds: io_age while the
 * link is up, down_since when it is down (-1 when unknown or a primary). */
long long rs_replinfo_age(const struct rs_replinfo *ri);

/* "master", "slave" or "" (unknown). */
const char *rs_repl_role_name(enum rs_repl_role r);

/* "up", "down" or "" (unknown, or a primary). */
const char *rs_repl_link_name(enum rs_repl_link l);

#endif
