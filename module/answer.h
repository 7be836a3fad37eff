/*
 * answer.h — synthesising blocked answers as Unbound messages.
 *
 * Everything is allocated in the query's region (freed with the query) and
 * marked sec_status_insecure with RA=1, AD=0. Nothing here stores anything in
 * Unbound's caches; redsink.c stores the answers of listed names in the
 * message cache (doc/architecture.md, "Blocked answers from the cache"), where
 * the EDE is added per reply (rs_answer_ede_text).
 */
#ifndef RS_ANSWER_H
#define RS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct module_qstate;
struct reply_info;
struct rs_conf;
struct rs_order;

/*
 * Set qstate->return_msg / return_rcode to the answer that order o gives for
 * qstate->qinfo (see doc/answers.md), and attach the order's EDE 16 to the
 * replies of this query (sent only to clients that used EDNS).
 * Class IN and ANY get the order's action (records of class IN); any other
 * class (CH, HS, ...) gets REFUSED (doc/architecture.md, "A query").
 * The EDE text is one of the order's precomputed variants (order.h): the
 * longest that fits, beside the answer, in the smallest EDNS buffer of the
 * clients waiting on the query (TCP clients: any variant, at most
 * RS_EDE_MAX octets), so that Unbound never drops the OPT record; with
 * ede-json-clients: sde-option the JSON goes only when every waiting EDNS
 * client sent the SDE option, the plain text otherwise.
 * zone/zone_len: the owner of the synthesised SOA (wire): the listed domain
 * for a name block, the query name for a block by an answer address.
 * Returns 0, or RS_ENOMEM (the caller then answers SERVFAIL).
 */
int rs_answer_blocked(struct module_qstate *qstate, const struct rs_conf *c, const struct rs_order *o,
		      const uint8_t *zone, size_t zone_len);

/* Upper bound of the encoded size of the records of rep (no compression). */
size_t rs_answer_rrs_size(const struct reply_info *rep);

/*
 * The EDE text of order o for one reply: the longest variant that fits, beside
 * an answer of body octets (rs_answer_rrs_size) for a query name of qname_len
 * octets and opts octets of other EDNS options, in a client buffer of udp
 * octets (65535 for TCP); sde: every EDNS client concerned sent the SDE option
 * (with ede-json-clients: sde-option the JSON goes only then). NULL: no EDE.
 */
const char *rs_answer_ede_text(const struct rs_conf *c, const struct rs_order *o, size_t qname_len, size_t body,
			       size_t opts, size_t udp, bool sde);

#endif
