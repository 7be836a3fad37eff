/* warnd_conn.c — connection lifetime and count limits for evhttp (see warnd_conn.h). */
#include "warnd_conn.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdlib.h>

struct conn {
	struct conn *prev, *next; /* accept order: oldest first */
	struct wd_conns *cs;
	struct bufferevent *bev;  /* our reference keeps it valid until release() */
	struct event *attach_ev, *deadline_ev;
	bool dropping;
};

struct wd_conns {
	struct event_base *base;
	struct conn *head, *tail;
	size_t n;    /* tracked connections */
	size_t live; /* of which not being dropped */
	size_t max;
	struct timeval lifetime;
	uint64_t expired, evicted;
};

static void unlink_conn(struct wd_conns *cs, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		cs->tail = c->prev;
	c->prev = c->next = NULL;
	cs->n--;
}

static void release(struct conn *c)
{
	if (!c->dropping)
		c->cs->live--;
	unlink_conn(c->cs, c);
	event_free(c->attach_ev);
	event_free(c->deadline_ev);
	bufferevent_decref(c->bev); /* evhttp still holds its own reference */
	free(c);
}

/* Make evhttp drop the connection as on a read timeout (deferred: never
 * inside one of evhttp's own callbacks). */
static void drop(struct conn *c)
{
	if (c->dropping)
		return;
	c->dropping = true;
	c->cs->live--;
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, BEV_TRIG_DEFER_CALLBACKS);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	release(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->cs->expired++;
	drop(c);
}

static void on_attach(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct wd_conns *cs = c->cs;
	bufferevent_event_cb eventcb = NULL;
	void *evcon = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &evcon);
	if (!eventcb || !evcon) {
		/* evhttp already let go of it (it failed to set the connection
		 * up, or the client was served and gone in the meantime) */
		release(c);
		return;
	}
	evhttp_connection_set_closecb(evcon, on_close, c);
	evtimer_add(c->deadline_ev, &cs->lifetime);
	/* over the limit: the oldest connections make room */
	for (struct conn *o = cs->head; o && cs->live > cs->max; o = o->next) {
		if (o != c && !o->dropping) {
			cs->evicted++;
			drop(o);
		}
	}
}

/* evhttp_set_bevcb: called for every accepted connection. */
static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
	struct wd_conns *cs = arg;
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL; /* evhttp makes its own: that connection is just not tracked */
	c->cs = cs;
	c->bev = bufferevent_socket_new(base, -1, 0); /* the options evhttp itself uses */
	c->attach_ev = event_new(base, -1, 0, on_attach, c);
	c->deadline_ev = evtimer_new(base, on_deadline, c);
	if (!c->bev || !c->attach_ev || !c->deadline_ev) {
		if (c->bev)
			bufferevent_free(c->bev);
		if (c->attach_ev)
			event_free(c->attach_ev);
		if (c->deadline_ev)
			event_free(c->deadline_ev);
		free(c);
		return NULL;
	}
	bufferevent_incref(c->bev);
	c->prev = cs->tail;
	if (cs->tail)
		cs->tail->next = c;
	else
		cs->head = c;
	cs->tail = c;
	cs->n++;
	cs->live++;
	/* evhttp attaches its connection after this returns */
	event_active(c->attach_ev, EV_TIMEOUT, 1);
	return c->bev;
}

struct wd_conns *wd_conns_new(struct event_base *base, struct evhttp *http, size_t max, int lifetime_s)
{
	struct wd_conns *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->base = base;
	cs->max = max ? max : 1;
	cs->lifetime.tv_sec = lifetime_s;
	evhttp_set_bevcb(http, new_bev, cs);
	return cs;
}

void wd_conns_free(struct wd_conns *cs)
{
	if (!cs)
		return;
	while (cs->head)
		release(cs->head); /* only those evhttp never attached remain */
	free(cs);
}

size_t wd_conns_count(const struct wd_conns *cs)
{
	return cs->n;
}

uint64_t wd_conns_expired(const struct wd_conns *cs)
{
	return cs->expired;
}

uint64_t wd_conns_evicted(const struct wd_conns *cs)
{
	return cs->evicted;
}
