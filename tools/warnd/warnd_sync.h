/*
 * warnd_sync.h — redsink-warnd's copy of the list, kept current from Redis.
 *
 * One thread with its own libevent loop: it loads the whole list
 * (rs_load_all, over a blocking hiredis connection) whenever it (re)connects,
 * then follows the `changes` stream with XREAD BLOCK over an async hiredis
 * connection and applies each entry with rs_apply_change (orders are fetched
 * over the blocking connection). It is the list's only writer; the HTTP
 * thread reads the published list with no lock (list.h). A reload builds a
 * new list and swaps it in; the old one is freed after the list's grace
 * period. Unlike the module's sync thread it writes nothing to Redis (no
 * resolver heartbeat: redsink-warnd is not a resolver).
 *
 * Dataset identity (doc/dataset.md): the list remembers the dataset it was
 * loaded from. Every full load, every batch of changes and, while idle, a
 * check every 2 s compare it with what Redis holds (rs_dataset_judge): a
 * Redis that lost the dataset, holds another one or an unreadable identity
 * is not followed; the list stays, the alarm is logged once and shown on
 * /healthz, and the identity is checked every 2 s until Redis holds our
 * dataset again or one that supersedes it (then the list is reloaded).
 *
 * Faults: Redis down at start or later is retried with exponential backoff
 * (0.25 s to 30 s); the last list stays in use meanwhile. Until the first
 * load the list is NULL (the server then answers "unavailable").
 */
#ifndef WD_SYNC_H
#define WD_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "list.h"

struct wd_sync;

/* Start the thread for the Redis endpoint, prefix and jurisdiction of c
 * (c must outlive the thread). 0 or a negative RS_E* code. */
int wd_sync_start(struct wd_sync **out, const struct rs_conf *c);

/* Stop and join the thread, free every list. */
void wd_sync_stop(struct wd_sync *s);

/* The current list (acquire), or NULL before the first load. Readers use it
 * for the duration of one request only. */
const struct rs_list *wd_sync_list(const struct wd_sync *s);

/* Is the change-stream connection up? */
bool wd_sync_link_up(const struct wd_sync *s);

/*
 * Is there a dataset alarm (doc/dataset.md): Redis no longer holds the
 * dataset our list came from (vanished), holds another one that does not
 * supersede it (foreign), or an unreadable identity (malformed)? Then the
 * list is kept and the stream is not followed; buf receives one line saying
 * which ("vanished: ..."). Any thread.
 */
bool wd_sync_dataset_alarm(const struct wd_sync *s, char *buf, size_t len);

#endif
