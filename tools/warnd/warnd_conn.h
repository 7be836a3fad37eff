/*
 * warnd_conn.h — per-connection limits that evhttp 2.1 does not have: a total
 * lifetime (a slowloris client that sends one byte every few seconds never
 * trips evhttp's inactivity timeout) and a maximum number of connections.
 *
 * How: evhttp_set_bevcb lets us create each incoming connection's
 * bufferevent; we keep a reference to it, and once evhttp has attached its
 * connection (the bufferevent's callback argument, as in every evhttp
 * since 2.0) we register a close callback and a deadline. At the deadline, or
 * when the newest connection would exceed the maximum and this is the oldest
 * one, the connection gets the event evhttp's own read timeout would give it
 * (BEV_EVENT_READING|BEV_EVENT_TIMEOUT), so evhttp drops it through its
 * normal path; nothing of evhttp is freed here. Dropping the oldest rather
 * than refusing the newest keeps a flood of slow connections from locking
 * out clients that finish their request in milliseconds.
 *
 * Threads: the HTTP thread only.
 */
#ifndef WD_CONN_H
#define WD_CONN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct wd_conns;

/* Track the connections of http: at most max at a time, each at most
 * lifetime_s seconds. NULL when out of memory. */
struct wd_conns *wd_conns_new(struct event_base *base, struct evhttp *http, size_t max, int lifetime_s);

/* After evhttp_free (which closes every connection). */
void wd_conns_free(struct wd_conns *cs);

size_t wd_conns_count(const struct wd_conns *cs);
/* Connections closed for exceeding their lifetime, or evicted. */
uint64_t wd_conns_expired(const struct wd_conns *cs);
uint64_t wd_conns_evicted(const struct wd_conns *cs);

#endif
