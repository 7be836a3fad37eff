/*
 * warnd_conn.h — the HTTP/1.1 server of redsink-warnd: connections, their
 * limits, reading requests and writing answers (issue 15).
 *
 * Until issue 15 this was libevent's evhttp plus the limits it lacks. Under
 * load evhttp spent more time in its own allocations, header lists, printf
 * and epoll_ctl calls (it disables and enables a connection's events around
 * every request) than the page itself took; the server here reads with one
 * read() per batch of requests and writes an answer with one writev() of its
 * head and the (cached) page, straight from the read callback. A
 * connection's event stays registered for reading and is switched to
 * writing only when the socket's buffer is full.
 *
 * The requests are parsed by warnd_http (strict, bounded, in place). The
 * limits: a request head of at most max_head octets (431 beyond), a body of
 * at most max_body (413 beyond; a body is never kept, only skipped), an
 * inactivity timeout (idle_s: no octet read or written, the connection is
 * closed without an answer), a lifetime (lifetime_s from the accept: a
 * slowloris client that sends one byte every few seconds never trips the
 * inactivity timeout), and at most max_conns connections: the oldest makes
 * room for a new one (refusing the newest would let a flood of slow
 * connections lock out clients that finish in milliseconds); when accept()
 * fails for want of descriptors the oldest makes room too, and when that
 * cannot help (no connection, or out of memory) every listener pauses for
 * 100 ms (a listening socket is level-triggered: retrying at once would spin).
 * Empty lines before a request line are skipped (RFC 9112 section 2.2), up to
 * max_head octets of them. A malformed request gets 400 and the connection
 * is closed; so is one that asks to close, an HTTP/1.0 one without
 * keep-alive, and one with Expect: 100-continue (answered at once; its body
 * is not waited for).
 *
 * Threads: the HTTP thread only (the event base's).
 */
#ifndef WD_CONN_H
#define WD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "warnd_http.h"

struct event_base;
struct wd_server;
struct wd_reply;

struct wd_server_opts {
	size_t max_head, max_body, max_conns;
	int idle_s, lifetime_s;
	/* Called (with errno and the handler's arg) when accepting fails for
	 * want of descriptors or memory and the listeners pause for 100 ms:
	 * once per episode (until an accept succeeds again). May be NULL. */
	void (*log_pause)(int err, void *arg);
};

/* One request: called with the parsed head, the client's address (for the
 * GeoIP lookup only) and the answer to fill; must call wd_reply_send once. */
typedef void (*wd_handler)(const struct wd_http_req *req, const struct sockaddr *peer, socklen_t peerlen,
			   struct wd_reply *rep, void *arg);

/* NULL when out of memory. */
struct wd_server *wd_server_new(struct event_base *base, const struct wd_server_opts *o, wd_handler h, void *arg);

/* Accept connections on the listening socket fd (non-blocking; closed by
 * wd_server_free). With reset, every connection is reset at once (RST: a
 * TLS client gets no answer and no timeout), under the same accept policy
 * as HTTP's (out of descriptors: the oldest HTTP connection makes room).
 * 0, or -1 when out of memory. */
int wd_server_listen(struct wd_server *s, int fd, bool reset);

/* Close every connection and listening socket. */
void wd_server_free(struct wd_server *s);

/* Add a header field to the answer (name and value are copied; no CR/LF). */
void wd_reply_header(struct wd_reply *r, const char *name, const char *value);

/* Send the answer: status, the fields added, Date, Content-Length, and the
 * body (not for HEAD). body is copied when it cannot be written at once. */
void wd_reply_send(struct wd_reply *r, int code, const char *reason, const char *body, size_t len);

struct wd_server_counts {
	uint64_t conns, requests, expired, evicted, refused; /* refused: 4xx/5xx of the server itself */
	size_t open;
};
void wd_server_counts(const struct wd_server *s, struct wd_server_counts *out);

#endif
