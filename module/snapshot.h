/*
 * snapshot.h — the list persisted on disk, so that Unbound restarted while
 * Redis is unreachable blocks the same names from its first query.
 *
 * File format (version 7, all integers little-endian):
 *   header (32 octets): magic "RSSNAP\r\n", u32 version, u32 header length,
 *                       u64 payload length, u64 checksum of the payload
 *                       (version 7: sum64, four 64-bit lanes; before:
 *                       FNV-1a-64)
 *   payload:  str last_id, str dataset (the identity, dataset.h; "" = none)
 *             u32 norders, then per order: str id, u16 nfields, (str key, str value)*,
 *                             str manifest text, str sig, str key id (signed mode:
 *                             the order's verified manifest; "" when none)
 *             u32 nentries, u32 cap, u64 arena length, zero octets up to
 *                             a multiple of 4 (from the file's start), the
 *                             arena: per entry, as struct rs_entry (list.h)
 *                             holds it: u32 high half of rs_wire_hash, u8
 *                             wlen, u8 flags, u16 nord, u32 order position
 *                             (in this file)*, wire name, zero octets to a
 *                             multiple of 4; then the table: cap (a power of
 *                             two) u32 slots, 0 empty, else 1 + the entry's
 *                             offset in the arena / 4, each entry at the
 *                             first free slot from its hash as list.c probes
 *                             (before version 7: per entry u8 wlen, wire
 *                             name, u8 flags, u16 nord, u32 order position*)
 *             u32 nprefixes, then per prefix: u8 family (4, 6), u8 length,
 *                             16 octets of address (IPv4 in the first 4, the
 *                             rest zero), u8 flags, u16 nord, u32 order position*
 *             u32 nsuspended, then per prefix: u8 family, u8 length, 16
 *                             octets of address (as above): the prefixes the
 *                             collateral alarm suspended (stats.h), kept over
 *                             a restart until a person confirms them
 *             str text, str sig, str key id: the verified manifest of the
 *                             signed protected set (signed mode; three ""
 *                             when none)
 *   str = u32 length + octets (version 1: u16 length, and no dataset;
 *   versions 1 and 2: no prefixes; versions 1 to 3: no manifests; versions 1
 *   to 4: no suspended prefixes; versions 1 to 5: no protected manifest).
 * The protected manifest seeds the sync thread's verification state of the
 * protected set (load.h, struct rs_protsig) after a restart, so that a Redis
 * rolled back to an older protected version, or a tampered protected set, is
 * refused and the protection the file holds kept. Unlike the orders' it is
 * verified again on load in signed mode (a protect-key, not revoked, the
 * signature): one that fails is dropped (logged, counted as skipped) and
 * the first full load then verifies Redis without it, as before version 6.
 * The version, hash and counts are those of the text, not stored apart.
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
 * Version 7 is served in place (rs_snapshot_read_image): the module maps
 * the file and, after the header and checksum, one O(cap) pass over the
 * table (at least one free slot; the longest run of used slots bounds every
 * probe), serves lookups from the file's own table (rs_list_image; every
 * slot and entry bounds-checked as it is read) — no entry is allocated or
 * hashed at start. rs_snapshot_settle (the sync thread, before any change)
 * then copies the arena and table out of the mapping, checks each entry
 * once and places the valid ones in a table of the list's own
 * (rs_list_adopt); the mapping goes once no reader can hold one of its
 * entries. When the file's order positions are not the list's indexes (an
 * order record was skipped) or the host is big-endian, the entries are
 * added one by one instead, as before version 7.
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

struct rs_buf;

#define RS_SNAPSHOT_VERSION 7

/* Write list l (writer thread), the stream id it reflects, the identity of
 * its dataset, the nsusp suspended prefixes susp (NULL when 0) and the
 * verified protected set prot (NULL, or no text: none) to path.
 * 0 or < 0 with err. */
int rs_snapshot_write(const char *path, const struct rs_list *l, const char *last_id, const char *dataset,
		      const struct rs_prefix *susp, size_t nsusp, const struct rs_protsig *prot, char *err,
		      size_t errlen);

/* The header's checksum of a payload of len octets for a file of version
 * `version` (tests and tools that edit a file reseal it with this). */
uint64_t rs_snapshot_checksum(uint32_t version, const uint8_t *payload, size_t len);

/* Write an image (rs_snapshot_encode) to path: a temporary file written
 * RS_SNAPSHOT_WRITE_CHUNK octets per write() (snapshot.c says why), fsync,
 * rename over path (the old file stays on failure). 0 or RS_EIO with err. */
#define RS_SNAPSHOT_WRITE_CHUNK (64 * 1024)
int rs_snapshot_write_image(const char *path, const uint8_t *img, size_t len, char *err, size_t errlen);

/* The file's image (header and payload) in a new buffer (free() it). 0,
 * RS_ENOMEM, or RS_EINVAL for a list still serving a snapshot image (settle
 * it first). rs_snapshot_write writes it; a reload hands it to the next init
 * in memory (redsink.c). */
int rs_snapshot_encode(const struct rs_list *l, const char *last_id, const char *dataset, const struct rs_prefix *susp,
		       size_t nsusp, const struct rs_protsig *prot, uint8_t **out, size_t *outlen);
/* The same into out, whose memory (out->s, out->cap: empty, or a buffer an
 * earlier call grew) it reuses and grows; out->len is the image's length, 0
 * after a failure. The caller frees out->s, also after a failure. */
int rs_snapshot_encode_buf(const struct rs_list *l, const char *last_id, const char *dataset,
			   const struct rs_prefix *susp, size_t nsusp, const struct rs_protsig *prot, struct rs_buf *out);

/* Decode an image (as read from a file, or from rs_snapshot_encode) of len
 * octets; `what` names it in messages. As rs_snapshot_read. */
int rs_snapshot_decode(const uint8_t *data, size_t len, const char *what, const struct rs_conf *c, struct rs_list **out,
		       char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp,
		       size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen);

/* The same, taking over data (malloc'd, len octets): freed, or kept by the
 * list as the block its entries are served from (version 7). image: the
 * list may come back still serving the image's own table (rs_list_image):
 * call rs_snapshot_settle before any change to it; false: settled here. */
int rs_snapshot_decode_owned(uint8_t *data, size_t len, const char *what, bool image, const struct rs_conf *c,
			     struct rs_list **out, char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1],
			     struct rs_prefix **susp, size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err,
			     size_t errlen);

/* Read path (version 1 to 7) into a new list (quiescent, its prefixes
 * committed), last_id and dataset ("" when the file has none); *susp (a new
 * array, free() it; NULL and *nsusp 0 when none or before version 5) the
 * suspended prefixes, when susp is not NULL (an invalid one is skipped and
 * counted); *prot (when prot is not NULL; rs_protsig_clear it) the verified
 * protected set (version 0 when none, before version 6, or dropped);
 * *skipped (may be NULL) counts the records skipped. 0, RS_ENOENT
 * (no file), or another error with the reason in err ("truncated",
 * "checksum mismatch", ...). */
int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out, char last_id[RS_STREAM_ID_MAX],
		     char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp, size_t *nsusp,
		     struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen);

/* As rs_snapshot_read; image as for rs_snapshot_decode_owned (the module's
 * start: blocking from the image at once, the sync thread settles it). */
int rs_snapshot_read_image(const char *path, bool image, const struct rs_conf *c, struct rs_list **out,
			   char last_id[RS_STREAM_ID_MAX], char dataset[RS_DATASET_ID_LEN + 1], struct rs_prefix **susp,
			   size_t *nsusp, struct rs_protsig *prot, size_t *skipped, char *err, size_t errlen);

/*
 * Check the image a list was read with (rs_snapshot_read_image) and make the
 * list's own table from it (rs_list_adopt): each slot's entry must lie in the
 * arena, once, be a live entry of a canonical name whose order indexes exist
 * and whose stored hash is its name's; each is placed afresh from its hash,
 * the same name only once. What fails is skipped, logged (what names the
 * source) and added to *skipped (may be NULL). Nothing to do without an
 * image. The writer thread, before any change: 0 or RS_ENOMEM (the image
 * is still served; try again).
 */
int rs_snapshot_settle(struct rs_list *l, const char *what, size_t *skipped);

#endif
