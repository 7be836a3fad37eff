/* warnd_conn.c — the HTTP/1.1 server of redsink-warnd (see warnd_conn.h). */
#define _GNU_SOURCE /* accept4 */
#include "warnd_conn.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

#define MAX_LISTENERS 32
#define IN_FIRST 2048 /* a connection's first input buffer; it grows to max_head + 1 */
#define FIELDS_MAX 4096

struct conn {
	struct conn *prev, *next; /* accept order: oldest first */
	struct wd_server *s;
	int fd;
	struct event *ev;    /* EV_READ, or EV_WRITE while an answer waits for the socket */
	struct event *timer; /* inactivity and lifetime */
	char *in;
	size_t start, len, cap, scanned; /* the unparsed input is in[start..len) */
	uint64_t skip;       /* body octets still to be skipped */
	size_t blank;        /* octets of empty lines skipped before the next request line */
	char *out;           /* what could not be written at once */
	size_t outoff, outlen;
	bool writing, closing, dead;
	int64_t born_ms, last_ms;
	struct sockaddr_storage peer;
	socklen_t peerlen;
};

struct wd_reply {
	struct wd_server *s;
	struct conn *c;
	const struct wd_http_req *req;
	bool close, sent;
};

/* A listening socket: HTTP, or TLS-reset (accepted, then reset at once). */
struct listener {
	struct wd_server *s;
	int fd;
	struct event *ev;
	bool reset;
};

struct wd_server {
	struct event_base *base;
	struct wd_server_opts o;
	wd_handler h;
	void *arg;
	struct conn *head, *tail;
	size_t n;
	struct listener l[MAX_LISTENERS];
	size_t nl;
	struct event *resume; /* listening again after a pause (out of descriptors or memory) */
	bool paused_logged;   /* the pause was logged in this episode */
	char fields[FIELDS_MAX]; /* the header fields of the answer being built */
	size_t nfields;
	bool fields_full;
	char date[64];
	time_t date_at;
	struct wd_server_counts counts;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void close_conn(struct conn *c)
{
	struct wd_server *s = c->s;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	s->n--;
	event_free(c->ev);
	event_free(c->timer);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Arm the timer for the nearer of the inactivity timeout and the end of the lifetime. */
static void arm(struct conn *c, int64_t now)
{
	int64_t idle = c->last_ms + (int64_t)c->s->o.idle_s * 1000, life = c->born_ms + (int64_t)c->s->o.lifetime_s * 1000;
	int64_t at = idle < life ? idle : life, d = at > now ? at - now : 0;
	struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 + 1000 };

	evtimer_add(c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int64_t now = now_ms();

	if (now >= c->born_ms + (int64_t)c->s->o.lifetime_s * 1000) {
		c->s->counts.expired++;
		close_conn(c);
	} else if (now >= c->last_ms + (int64_t)c->s->o.idle_s * 1000) {
		close_conn(c);
	} else {
		arm(c, now); /* activity since: not yet */
	}
}

/* Switch the connection's event between reading and writing. */
static void want(struct conn *c, bool writing)
{
	if (c->writing == writing)
		return;
	event_del(c->ev);
	event_assign(c->ev, c->s->base, c->fd, (writing ? EV_WRITE : EV_READ) | EV_PERSIST, on_event, c);
	event_add(c->ev, NULL);
	c->writing = writing;
}

/* Write iov[0..n) now; keep what the socket does not take. */
static void put(struct conn *c, struct iovec *iov, int n)
{
	size_t total = 0, done = 0;
	ssize_t w = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (c->dead)
		return;
	if (c->outlen == c->outoff) {
		do
			w = writev(c->fd, iov, n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			c->dead = true; /* the client is gone */
			return;
		}
		done = w > 0 ? (size_t)w : 0;
		if (done == total)
			return;
	}
	/* the rest waits for the socket */
	{
		size_t rest = total - done, keep = c->outlen - c->outoff;
		char *o = malloc(keep + rest);
		if (!o) {
			c->dead = true;
			return;
		}
		if (keep)
			memcpy(o, c->out + c->outoff, keep);
		for (int i = 0; i < n; i++) {
			size_t l = iov[i].iov_len;
			if (done >= l) {
				done -= l;
				continue;
			}
			memcpy(o + keep, (char *)iov[i].iov_base + done, l - done);
			keep += l - done;
			done = 0;
		}
		free(c->out);
		c->out = o;
		c->outoff = 0;
		c->outlen = keep;
		want(c, true);
	}
}

static void date(struct wd_server *s)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != s->date_at || !s->date[0]) {
		s->date_at = ts.tv_sec;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	}
}

void wd_reply_header(struct wd_reply *r, const char *name, const char *value)
{
	struct wd_server *s = r->s;
	size_t nl = strlen(name), vl = strlen(value);

	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return; /* never split a field */
	if (s->nfields + nl + vl + 4 > FIELDS_MAX) {
		s->fields_full = true;
		return;
	}
	memcpy(s->fields + s->nfields, name, nl);
	memcpy(s->fields + s->nfields + nl, ": ", 2);
	memcpy(s->fields + s->nfields + nl + 2, value, vl);
	memcpy(s->fields + s->nfields + nl + 2 + vl, "\r\n", 2);
	s->nfields += nl + vl + 4;
}

void wd_reply_send(struct wd_reply *r, int code, const char *reason, const char *body, size_t len)
{
	struct wd_server *s = r->s;
	char status[128], tail[192];
	struct iovec iov[4];
	int ns, nt;
	const char *conn = r->close ? "Connection: close\r\n" :
			   r->req && r->req->minor == 0 ? "Connection: keep-alive\r\n" : "";

	if (r->sent)
		return;
	r->sent = true;
	if (s->fields_full) {
		/* a programming error, not input: answer without a partial header */
		s->nfields = 0;
		s->fields_full = false;
		code = 500;
		reason = "Internal Server Error";
		body = "";
		len = 0;
	}
	date(s);
	ns = snprintf(status, sizeof(status), "HTTP/1.1 %d %s\r\n", code, reason);
	nt = snprintf(tail, sizeof(tail), "Date: %s\r\nContent-Length: %zu\r\n%s\r\n", s->date, len, conn);
	iov[0] = (struct iovec){ status, (size_t)ns };
	iov[1] = (struct iovec){ s->fields, s->nfields };
	iov[2] = (struct iovec){ tail, (size_t)nt };
	iov[3] = (struct iovec){ (void *)body, len };
	put(r->c, iov, r->req && r->req->method == WD_M_HEAD ? 3 : 4);
	s->nfields = 0;
}

/* The server's own answer to a request it cannot take; the connection is closed after it. */
static void refuse(struct conn *c, int code)
{
	struct wd_reply r = { .s = c->s, .c = c, .close = true };
	const char *reason = code == 413 ? "Payload Too Large" : code == 431 ? "Request Header Fields Too Large" :
			     code == 501 ? "Not Implemented" : "Bad Request";
	char text[80];
	int n = snprintf(text, sizeof(text), "%d %s\n", code, reason);

	c->s->counts.refused++;
	c->s->nfields = 0;
	wd_reply_header(&r, "Content-Type", "text/plain; charset=utf-8");
	wd_reply_send(&r, code, reason, text, (size_t)n);
	c->closing = true;
}

/* Answer every complete request in the input, in order, until one must wait. */
static void serve(struct conn *c)
{
	struct wd_server *s = c->s;

	while (!c->closing && !c->dead && !c->writing) {
		size_t avail = c->len - c->start, end;
		struct wd_http_req req;
		int rc;

		if (c->skip) {
			size_t n = avail < c->skip ? avail : (size_t)c->skip;
			c->start += n;
			c->skip -= n;
			if (c->skip)
				break;
			avail -= n;
		}
		/* empty lines before a request line are ignored (RFC 9112
		 * section 2.2: a client may send a CRLF after a POST's body), as
		 * long as they would fit in a head */
		while (avail > 0 && (c->in[c->start] == '\n' || (c->in[c->start] == '\r' && avail > 1 && c->in[c->start + 1] == '\n'))) {
			size_t n = c->in[c->start] == '\n' ? 1 : 2;
			c->start += n;
			c->blank += n;
			c->scanned = 0;
			avail -= n;
		}
		if (c->blank > s->o.max_head) {
			refuse(c, 400);
			break;
		}
		if (avail == 0 || (avail == 1 && c->in[c->start] == '\r'))
			break; /* more to come (a CR may be an empty line's) */
		end = wd_http_head_end(c->in + c->start, avail, &c->scanned);
		if (end == 0) {
			if (avail > s->o.max_head)
				refuse(c, 431);
			break;
		}
		if (end > s->o.max_head) {
			refuse(c, 431);
			break;
		}
		rc = wd_http_parse(c->in + c->start, end, &req);
		if (rc == 0 && req.content_length > s->o.max_body)
			rc = 413;
		if (rc) {
			refuse(c, rc);
			break;
		}
		{
			struct wd_reply r = { .s = s, .c = c, .req = &req };
			r.close = !req.keep_alive || req.expect_continue;
			s->counts.requests++;
			s->nfields = 0;
			s->h(&req, (const struct sockaddr *)&c->peer, c->peerlen, &r, s->arg);
			if (!r.sent)
				wd_reply_send(&r, 500, "Internal Server Error", "", 0);
			c->closing = r.close;
		}
		c->start += end;
		c->scanned = 0;
		c->blank = 0;
		c->skip = req.content_length;
	}
	if (c->start == c->len)
		c->start = c->len = 0;
}

/* Done with c? Then it is closed and false returned. */
static bool settle(struct conn *c)
{
	if (c->dead || (c->closing && c->outoff == c->outlen)) {
		close_conn(c);
		return false;
	}
	return true;
}

static void on_readable(struct conn *c)
{
	struct wd_server *s = c->s;
	ssize_t r;

	if (c->start > 0 && c->start < c->len) {
		memmove(c->in, c->in + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	if (c->len == c->cap) {
		/* grow up to a full head and one octet more (a head of more
		 * than max_head is refused), plus a read's worth */
		size_t cap = c->cap ? c->cap * 2 : IN_FIRST, lim = s->o.max_head + 1 + IN_FIRST;
		char *n;
		if (cap > lim)
			cap = lim;
		if (cap <= c->cap || !(n = realloc(c->in, cap))) {
			close_conn(c); /* cannot happen with a head within limits: serve() refused it */
			return;
		}
		c->in = n;
		c->cap = cap;
	}
	do
		r = read(c->fd, c->in + c->len, c->cap - c->len);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) {
		close_conn(c); /* the client closed (or reset) */
		return;
	}
	c->len += (size_t)r;
	c->last_ms = now_ms();
	serve(c);
	settle(c);
}

static void on_writable(struct conn *c)
{
	ssize_t w;

	do
		w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (w <= 0) {
		close_conn(c);
		return;
	}
	c->outoff += (size_t)w;
	c->last_ms = now_ms();
	if (c->outoff < c->outlen)
		return;
	free(c->out);
	c->out = NULL;
	c->outoff = c->outlen = 0;
	if (!settle(c))
		return;
	want(c, false);
	serve(c); /* requests that came meanwhile */
	settle(c);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (what & EV_WRITE)
		on_writable(c);
	else
		on_readable(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct wd_server *s = arg;

	for (size_t i = 0; i < s->nl; i++)
		event_add(s->l[i].ev, NULL);
}

/* Stop accepting for 100 ms (the listening sockets are level-triggered:
 * a failing accept would be retried at once, at full CPU). Logged once per
 * episode: until an accept succeeds again. */
static void pause_listening(struct wd_server *s, int err)
{
	struct timeval pause = { 0, 100000 };

	if (!s->paused_logged) {
		s->paused_logged = true;
		if (s->o.log_pause)
			s->o.log_pause(err, s->arg);
	}
	for (size_t i = 0; i < s->nl; i++)
		event_del(s->l[i].ev);
	evtimer_add(s->resume, &pause);
}

/* A TLS client on a TLS-reset listener: reset at once (RST, no FIN). */
static void reset_now(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	struct wd_server *s = l->s;

	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			int err = errno;
			if ((err == EMFILE || err == ENFILE) && s->head) {
				/* out of descriptors: the oldest connection makes room */
				s->counts.evicted++;
				close_conn(s->head);
				continue;
			}
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				pause_listening(s, err); /* closing a connection would not help */
			return; /* EAGAIN, or a connection aborted before its accept */
		}
		s->paused_logged = false;
		if (l->reset) {
			reset_now(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->s = s;
		c->fd = fd;
		memcpy(&c->peer, &ss, sizeof(ss));
		c->peerlen = sl;
		c->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_event, c);
		c->timer = evtimer_new(s->base, on_timer, c);
		if (!c->ev || !c->timer || event_add(c->ev, NULL) != 0) {
			if (c->ev)
				event_free(c->ev);
			if (c->timer)
				event_free(c->timer);
			close(fd);
			free(c);
			return;
		}
		c->born_ms = c->last_ms = now_ms();
		arm(c, c->born_ms);
		c->prev = s->tail;
		if (s->tail)
			s->tail->next = c;
		else
			s->head = c;
		s->tail = c;
		s->n++;
		s->counts.conns++;
		/* over the limit: the oldest connections make room */
		while (s->n > s->o.max_conns && s->head != c) {
			s->counts.evicted++;
			close_conn(s->head);
		}
	}
}

struct wd_server *wd_server_new(struct event_base *base, const struct wd_server_opts *o, wd_handler h, void *arg)
{
	struct wd_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base = base;
	s->o = *o;
	if (s->o.max_conns == 0)
		s->o.max_conns = 1;
	s->h = h;
	s->arg = arg;
	s->resume = evtimer_new(base, on_resume, s);
	if (!s->resume) {
		free(s);
		return NULL;
	}
	return s;
}

int wd_server_listen(struct wd_server *s, int fd, bool reset)
{
	struct listener *l = &s->l[s->nl];

	if (s->nl == MAX_LISTENERS)
		return -1;
	l->s = s;
	l->fd = fd;
	l->reset = reset;
	l->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, l);
	if (!l->ev || event_add(l->ev, NULL) != 0) {
		if (l->ev)
			event_free(l->ev);
		return -1;
	}
	s->nl++;
	return 0;
}

void wd_server_free(struct wd_server *s)
{
	if (!s)
		return;
	while (s->head)
		close_conn(s->head);
	for (size_t i = 0; i < s->nl; i++) {
		event_free(s->l[i].ev);
		close(s->l[i].fd);
	}
	event_free(s->resume);
	free(s);
}

void wd_server_counts(const struct wd_server *s, struct wd_server_counts *out)
{
	*out = s->counts;
	out->open = s->n;
}
