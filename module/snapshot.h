/*
 * snapshot.h — the list persisted on disk, so that Unbound restarted while
 * Redis is unreachable blocks the same names from its first query.
 *
 * File format (version 1, all integers little-endian):
 *   header (32 octets): magic "RSSNAP\r\n", u32 version, u32 header length,
 *                       u64 payload length, u64 FNV-1a-64 of the payload
 *   payload:  str last_id
 *             u32 norders, then per order: str id, u16 nfields, (str key, str value)*
 *             u32 nentries, then per entry: u8 wlen, wire name, u8 flags,
 *                             u16 nord, u32 order position (in this file)*
 *   str = u16 length + octets.
 * Orders are stored as their Redis fields and parsed again on load, so the
 * texts follow the current redsink.conf.
 *
 * Writing is atomic: a temporary file in the same directory, fsync, rename.
 * Reading validates everything (magic, version, lengths, checksum, every
 * bound) before the list is used: a damaged file is rejected whole.
 */
#ifndef RS_SNAPSHOT_H
#define RS_SNAPSHOT_H

#include <stddef.h>

#include "conf.h"
#include "list.h"
#include "load.h"

#define RS_SNAPSHOT_VERSION 1

/* Write list l (writer thread) and the stream id it reflects to path. 0 or < 0 with err. */
int rs_snapshot_write(const char *path, const struct rs_list *l, const char *last_id, char *err, size_t errlen);

/* Read path into a new list (quiescent) and last_id. 0, RS_ENOENT (no file), or
 * another error with the reason in err ("truncated", "checksum mismatch", ...). */
int rs_snapshot_read(const char *path, const struct rs_conf *c, struct rs_list **out,
		     char last_id[RS_STREAM_ID_MAX], char *err, size_t errlen);

#endif
