/*
 * snapshot.h — the list persisted on disk, so that Unbound restarted while
 * Redis is unreachable blocks the same names from its first query.
 *
 * File format (version 4, all integers little-endian):
 *   header (32 octets): magic "RSSNAP\r\n", u32 version, u32 header length,
 *                       u64 payload length, u64 FNV-1a-64 of the payload
 *   payload:  str last_id, str dataset (the identity, dataset.h; "" = none)
 *             u32 norders, then per order: str id, u16 nfields, (str key, str value)*,
 *                             str manifest text, str sig, str key id (signed mode:
 *                             the order's verified manifest; "" when none)
 *             u32 nentries, then per entry: u8 wlen, wire name, u8 flags,
 *                             u16 nord, u32 order position (in this file)*
 *             u32 nprefixes, then per prefix: u8 family (4, 6), u8 length,
 *                             16 octets of address (IPv4 in the first 4, the
 *                             rest zero), u8 flags, u16 nord, u32 order position*
 *   str = u32 length + octets (version 1: u16 length, and no dataset;
 *   versions 1 and 2: no prefixes; versions 1 to 3: no manifests).
 * The manifests let a restart know the versions it verified: a Redis rolled
 * back to older signed versions is refused (doc/signing.md). They are parsed
 * again on load (not verified again: the file is the resolver's own).
 * Orders are stored as their fields exactly as parsed (order.h: parsing its
 * own output gives the same order) and parsed again on load, so the texts
 * follow the current redsink.conf and scope is evaluated from the same value.
 * A prefix record has a fixed size, so a bad one (family, length, host bits:
 * rs_prefix_valid) never breaks the framing. The prefixes written are those
 * of the committed table (rs_list_prefix_foreach): the writer commits before.
 *
 * Writing is atomic: a temporary file in the same directory, fsync, rename.
 * Reading checks the magic, version, lengths and checksum: a file that fails
 * them is rejected whole. Within a file that passes, a record that does not
 * parse (an order, an entry's name, a prefix, an order position) is skipped,
 * logged and counted; the rest loads.
 */
#ifndef RS_SNAPSHOT_H
#define RS_SNAPSHOT_H

#include <stddef.h>

#include "conf.h"
#include "list.h"
#include "load.h"

#define RS_SNAPSHOT_VERSION 4

/* Write list l (writer thread), the stream id it reflects and the identity of
 * its dataset to path. 0 or < 0 with err. */
int rs_snapshot_write(const char *path, const struct rs_list *l, const char *last_id, const char *dataset, char *err,
		      size_t errlen);

/* The file's image (header and payload) in a new buffer (free() it). 0 or
 * RS_ENOMEM. rs_snapshot_write writes it; a reload hands it to the next init
 * in memory (redsink.c). */
int rs_snapshot_encode(const struct rs_list *l, const char *last_id, const char *dataset, uint8_t **out,
		       size_t *outlen);

/* Decode an image (as read from a file, or from rs_snapshot_encode) of len
 * octets; `what` names it in messages. As rs_snapshot_read. */
int rs_snapshot_decode(const uint8_t *data, size_t len, const char *what, const struct rs_conf *c, struct rs_list **out,
		       char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], size_t *skipped, char *err,
		       size_t errlen);

/* Read path (version 1 to 4) into a new list (quiescent, its prefixes
 * committed), last_id and dataset ("" when the file has none); *skipped (may
 * be NULL) counts the records skipped. 0, RS_ENOENT (no file), or another error with the reason in err
 * ("truncated", "checksum mismatch", ...). */
int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out, char last_id[RS_STREAM_ID_MAX],
		     char dataset[RS_DATASET_ID_LEN + 1], size_t *skipped, char *err, size_t errlen);

#endif
