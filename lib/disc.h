/*
 * disc.h — the discovered-names contract (issue 13; doc/redis-schema.md):
 * one writer and one reader for the text the module stores about names an
 * address trigger caught, shared by the module (module/stats.c, the writer),
 * redsink-stats (tools/stats/stats_disc.c) and redsink-warnd
 * (tools/warnd/warnd_disc.c), so that the readers accept exactly what the
 * writer writes.
 *
 * The name form ("disc name"): the query name in lowercase presentation
 * text, no trailing dot; the octets of a label that are letters, digits, '-'
 * or '_' as themselves (letters lowercased), every other octet as \DDD
 * (three decimal digits: '.' inside a label is \046, '|' \124, '<' \060).
 * So a canonical name (lib/name.h: [a-z0-9-_] labels) is its own disc name,
 * a field splits on '|', and a disc name is safe as it is in a terminal, CSV,
 * JSON or HTML ([a-z0-9-_.\\] only). The root is never a disc name.
 *
 * Keys (prefix "redsink:" as usual):
 *   discovered:<hour>        field "<disc name>|<order>|<prefix>" -> replies
 *   discovered-names:<hour>  field "<disc name>" -> "<order>|<prefix>" (last writer wins)
 * <order> is a valid order id (rs_order_id_ok), <prefix> canonical
 * (lib/prefix.h: rs_prefix_format of its own parse).
 *
 * Registrable domain (the collateral alarm's unit, doc/configuration.md):
 * the module cannot link libpsl, so rs_disc_base() approximates: the last
 * two labels, or the last three when the top-level label has two letters and
 * the second-level label is a common generic second level (co, com, net, org,
 * gov, edu, ac, or, ne, go, gob, nic, ltd, plc, sch, mil): a.b.example.co.uk
 * -> example.co.uk, rand1.pirate.example -> pirate.example.
 *
 * All functions are pure and thread-safe; nothing here allocates.
 */
#ifndef RS_DISC_H
#define RS_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "order.h"
#include "prefix.h"

/* A disc name's text: at most 4 characters per name octet (253 octets in a
 * one-label name of a 255-octet wire name), no NUL. */
#define RS_DISC_NAME_MAX 1012

/* Writer: the disc name of the wire name w (at most len octets; any case)
 * into out (RS_DISC_NAME_MAX + 1 octets, NUL terminated). Returns its length,
 * or 0 ("" in out) for the root or a malformed wire name (a label over 63
 * octets, past len, or a name over 255 octets). */
size_t rs_disc_name(const uint8_t *w, size_t len, char *out);

/* Reader: is s[0..len) exactly a disc name rs_disc_name writes? When wire is
 * not NULL (RS_WIRE_MAX octets) it receives the wire form. Returns the wire
 * length, or RS_EINVAL. */
int rs_disc_name_parse(const char *s, size_t len, uint8_t *wire);

/* A parsed discovered field or index value (copies, canonical). */
struct rs_disc_field {
	char name[RS_DISC_NAME_MAX + 1];   /* "" for an index value */
	char order[RS_ORDER_ID_MAX + 1];
	char prefix[RS_PREFIX_TEXT_MAX];   /* canonical text */
	struct rs_prefix p;
};

/* Writer: "<name>|<order>|<prefix>" into out (n octets). Returns its length,
 * or 0 when it does not fit or name is not a disc name. */
size_t rs_disc_field(char *out, size_t n, const char *name, const char *order, const char *prefix);

/* Readers, for hostile text: a discovered field "<name>|<order>|<prefix>"
 * (exactly two '|', a disc name, a valid order id, a canonical prefix) and an
 * index value "<order>|<prefix>" (exactly one '|'). 0 or RS_EINVAL. */
int rs_disc_field_parse(const char *f, size_t len, struct rs_disc_field *out);
int rs_disc_value_parse(const char *v, size_t len, struct rs_disc_field *out);

/* The approximate registrable domain (see above) of the lowercase wire name
 * w (len octets, well-formed, root label included): the offset in w where it
 * starts (0 for a name of at most two labels, and for the root). */
size_t rs_disc_base(const uint8_t *w, size_t len);

#endif
