/*
 * order.h — a court or regulator order as the module uses it.
 *
 * An order is parsed from its Redis hash (order:<id>) once, when it is loaded or
 * changed; the texts of its answers (TXT, EDE) are expanded then, so the query
 * path formats nothing. A struct rs_order is immutable after rs_order_parse and
 * may be read by any thread; it is freed by the list's deferred reclamation
 * (list.h), never while a reader may hold it.
 */
#ifndef RS_ORDER_H
#define RS_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum rs_action { RS_ACT_SINKHOLE = 0, RS_ACT_NXDOMAIN, RS_ACT_NODATA, RS_ACT_REFUSED };

#define RS_ORDER_ID_MAX 128

struct rs_order {
	char *id;
	char *authority, *reference, *reason, *url, *lang, *scope;
	char *issued;      /* as given (RFC 3339), or "" */
	char *expires_text; /* as given, or "" */
	int64_t expires;   /* Unix seconds; 0 = never */
	uint8_t action;    /* enum rs_action */
	bool in_scope;     /* scope is '*' or lists the resolver's jurisdiction */
	char *txt;         /* TXT answer text */
	char *ede;         /* EDE 16 EXTRA-TEXT, or NULL when ede-format: off */
	size_t txt_len, ede_len;
};

/*
 * Build an order from the field/value pairs kv[0..2*npairs) of order:<id>.
 * Required fields: authority, reference, scope, action; issued, expires,
 * reason, url, lang are optional. On a malformed order returns RS_EINVAL and
 * writes the reason ("order 'x': bad action 'y'") to err.
 */
int rs_order_parse(const struct rs_conf *c, const char *id, const char *const *kv, size_t npairs,
		   struct rs_order **out, char *err, size_t errlen);

void rs_order_free(struct rs_order *o);

/* Does the order apply at time now (in scope, not expired)? */
static inline bool rs_order_applies(const struct rs_order *o, int64_t now)
{
	return o->in_scope && (o->expires == 0 || now < o->expires);
}

/* Parse an RFC 3339 date-time ("2026-01-31T12:00:00Z", offsets, fractions) or a
 * plain date ("2026-01-31", midnight UTC) into Unix seconds. 0 or RS_EINVAL. */
int rs_rfc3339_parse(const char *s, int64_t *out);

/* Does a space-separated scope ("*", "IT FR") include the jurisdiction
 * (NULL = none: only "*" applies)? Case-insensitive. */
bool rs_scope_includes(const char *scope, const char *jurisdiction);

/* Is id usable as an order id (1-128 printable ASCII octets, no space)? */
bool rs_order_id_ok(const char *id);

const char *rs_action_name(int action);

#endif
