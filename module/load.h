/*
 * load.h — loading the whole list from Redis (schema in doc/redis-schema.md).
 *
 * Synchronous (hiredis blocking API with the configured timeout); used at start
 * and for a full resync. Malformed orders and domains are skipped, counted and
 * logged (the first RS_LOAD_LOG_MAX of each kind per load, then a summary);
 * they never stop the load and never block anything else.
 */
#ifndef RS_LOAD_H
#define RS_LOAD_H

#include <stddef.h>

#include "conf.h"
#include "list.h"

#define RS_LOAD_LOG_MAX 20
#define RS_STREAM_ID_MAX 48

struct redisContext;
struct redisAsyncContext;
struct event_base;

struct rs_load_stats {
	size_t orders, domains, protected_n;
	size_t bad_orders, bad_domains;
	char last_id[RS_STREAM_ID_MAX]; /* newest changes id when the load began ("0-0": none) */
};

/*
 * Connect to endpoint e (timeout ms), authenticate and SELECT its db.
 * 0 with *out set, or RS_EIO / RS_EPROTO with a message in err.
 */
int rs_redis_connect(const struct rs_endpoint *e, int timeout_ms, struct redisContext **out,
		     char *err, size_t errlen);

/*
 * Start an asynchronous connection to endpoint e on the libevent base, with
 * data in ac->data and the connect/disconnect callbacks set; AUTH and SELECT
 * are queued first. NULL when it cannot even be created (the caller then
 * backs off as for a lost connection). on_conn/on_disc have hiredis'
 * redisConnectCallback/redisDisconnectCallback type.
 */
struct redisAsyncContext *rs_redis_async_connect(const struct rs_endpoint *e, struct event_base *base, void *data,
						  void (*on_conn)(const struct redisAsyncContext *, int),
						  void (*on_disc)(const struct redisAsyncContext *, int));

/*
 * Load every order in force, its domains and the protected set into the empty
 * list l. 0, or RS_EIO/RS_EPROTO/RS_ENOMEM with a message in err (l may then
 * hold part of the list: the caller discards it).
 */
int rs_load_all(struct redisContext *rc, const struct rs_conf *c, struct rs_list *l,
		struct rs_load_stats *st, char *err, size_t errlen);

/* Canonicalise the text name[0..len) and convert it to wire form: the wire
 * length, or a negative RS_ENAME_* code. */
int rs_domain_wire(const char *name, size_t len, uint8_t wire[RS_WIRE_MAX]);

#endif
