/*
 * redsink.c — the Unbound glue: the six dynlib entry points.
 *
 * Thin by design: it translates Unbound's calls into the list (list.h),
 * configuration (conf.h), Redis loading (load.h) and answer (answer.h) APIs.
 *
 * Threads: init/deinit run on Unbound's main thread while no worker exists;
 * operate/clear/inform_super run on the worker that owns the query; get_mem on
 * any thread. Per-module state lives in dynlibmod_env.dyn_env (never in
 * env->modinfo[id], which the dynlib wrapper owns); per-query state in
 * qstate->minfo[id], allocated in the query's region.
 *
 * Decision points of a query (see doc/architecture.md):
 *  - first visit (new/pass with no minfo): match the name; blocked -> answer
 *    and finish at module 0 (never cached); else pass to the next module.
 *  - moddone: match the name again (it may have been listed meanwhile) and the
 *    owners and targets of the CNAME/DNAME chain in the answer, then (when
 *    the list holds address prefixes) every A/AAAA address of the answer; if
 *    blocked, remove the real answer from the message cache (for an address
 *    block, the messages of every address type of the names: A, AAAA, ANY,
 *    SVCB, HTTPS) and, for a query this module passed on, replace it with
 *    the blocked answer.
 *  - first visit, when the list holds prefixes: the A/AAAA RRsets the
 *    RRset cache holds for the name (following cached CNAMEs) are matched, so a
 *    name blocked by its address, whose message moddone removed but whose
 *    RRsets stay cached, is blocked again without an upstream query.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dynlibmod/dynlibmod.h"
#include "services/cache/dns.h"
#include "services/mesh.h"
#include "sldns/rrdef.h"
#include "util/data/dname.h"
#include "util/data/msgreply.h"
#include "util/log.h"
#include "util/module.h"
#include "util/net_help.h"
#include "util/netevent.h"
#include "util/regional.h"
#include "util/ub_event.h"

#include "answer.h"
#include "conf.h"
#include "ebr.h"
#include "list.h"
#include "load.h"
#include "name.h"
#include "prefix.h"
#include "rs_err.h"
#include "snapshot.h"
#include "stats.h"
#include "sync.h"
#include "services/cache/rrset.h"
#include "util/storage/slabhash.h"

#define EXPORT __attribute__((visibility("default")))

#ifdef REDSINK_VERSION
#define RS_VERSION REDSINK_VERSION /* configure.ac's AC_INIT (Makefile.am) */
#else
#define RS_VERSION "0.1.0"
#endif

/* Module-wide state: dynlibmod_env.dyn_env. */
struct rs_module {
	struct rs_conf conf;
	/* The list readers use: replaced as a whole only by the sync thread on a
	 * full resync (release store); workers load it with acquire. */
	_Atomic(struct rs_list *) list;
	struct rs_sync *sync;
	struct rs_stats *stats;
	struct module_env *env; /* daemon->env: its cache pointers are re-read for every purge */
	bool reply_cb;          /* the inplace reply callback is registered */
	size_t initial_bad;     /* records the initial load or snapshot skipped */
	struct purge_door *door; /* cache purges run on a worker (see "cache purge") */
	unsigned gen;           /* this module generation (one per init) */
};

static struct rs_list *list_of(const struct rs_module *m)
{
	return atomic_load_explicit(&((struct rs_module *)m)->list, memory_order_acquire);
}

/*
 * The configuration the module last ran with, handed from deinit to the next
 * init of a reload, so that a reload with a broken redsink.conf keeps running
 * on it (DESIGN.md). Unbound dlclose()s the module on every reload; init pins
 * the library with RTLD_NODELETE so that these statics survive. Main thread
 * only (init/deinit).
 */
static struct rs_conf last_good;
static bool have_last_good;

/*
 * The list the module was enforcing, handed from deinit to the next init of a
 * reload as a snapshot image (snapshot.h; parsed again with the new
 * configuration). A reload must never trade the list for whatever Redis holds
 * at that instant (an emptied or foreign Redis, a broken `orders` key): the
 * next generation starts from this list, with its stream position and
 * dataset identity, and its sync thread judges Redis as on any reconnect.
 * Main thread only.
 */
static uint8_t *handover;
static size_t handover_len;

/* Per-query marker in qstate->minfo[id]. For a blocked query it keeps the
 * order and the listed entry (a name block) or prefix entry (an address
 * block) for counting (valid for the query's lifetime, see list.h on
 * reclamation). */
enum rs_qstate_kind { RS_Q_PASSED = 1, RS_Q_BLOCKED = 2 };
struct rs_qstate {
	int kind;
	const struct rs_order *order;
	const struct rs_entry *entry;
	const struct rs_pentry *prefix;
};

static void log_bridge(int level, const char *msg)
{
	if (level == RS_LOG_ERR)
		log_err("redsink: %s", msg);
	else if (level == RS_LOG_WARN)
		log_warn("redsink: %s", msg);
	else
		log_info("redsink: %s", msg);
}

static struct rs_module *module_of(struct module_env *env, int id)
{
	struct dynlibmod_env *de = env->modinfo[id];

	return de ? de->dyn_env : NULL;
}

/* Path of redsink.conf: $REDSINK_CONF, else in Unbound's directory:. */
static int conf_path(struct module_env *env, char *out, size_t outsz)
{
	const char *p = getenv("REDSINK_CONF");
	const char *dir = env->cfg && env->cfg->directory && *env->cfg->directory ? env->cfg->directory : ".";

	if (p && *p)
		return snprintf(out, outsz, "%s", p) < (int)outsz ? 0 : RS_EINVAL;
	return snprintf(out, outsz, "%s/redsink.conf", dir) < (int)outsz ? 0 : RS_EINVAL;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * The list at start: the snapshot file when there is one (fast, works with
 * Redis down; the sync thread then catches up from its stream id), else a
 * full load from Redis, else an empty list that the sync thread fills once
 * Redis answers. Never fails: resolution must come up in any case.
 * last_id receives the list's stream position ("" = not from Redis), dataset
 * the identity of its dataset ("" = none).
 */
static struct rs_list *initial_list(struct rs_module *m, char last_id[RS_STREAM_ID_MAX],
				    char dataset[RS_DATASET_ID_LEN + 1], bool *snapshot_due)
{
	char err[512];
	struct rs_load_stats st;
	struct timespec t0;
	redisContext *rc;
	struct rs_list *l = NULL;
	int r;

	last_id[0] = dataset[0] = '\0';
	*snapshot_due = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (handover) {
		size_t skipped;
		r = rs_snapshot_decode(handover, handover_len, "the list handed over by the reload", &m->conf, &l, last_id,
				       dataset, &skipped, err, sizeof(err));
		free(handover);
		handover = NULL;
		if (r == 0) {
			struct rs_list_stats ls;
			rs_list_stats(l, &ls);
			log_info("redsink: kept the running list over the reload: %zu orders, %zu domains, %zu protected "
				 "(stream at %s, dataset %s)",
				 ls.orders, ls.domains, ls.protected_n, *last_id ? last_id : "-",
				 *dataset ? dataset : "without identity");
			*snapshot_due = false;
			m->initial_bad = skipped;
			if (m->conf.require_signatures)
				last_id[0] = '\0'; /* signed mode: the decoder kept only what the current keys
						     * verify; the first full load checks Redis against it */
			return l;
		}
		log_err("redsink: %s", err);
		last_id[0] = dataset[0] = '\0';
	}
	if (m->conf.snapshot_file) {
		size_t skipped;
		r = rs_snapshot_read(m->conf.snapshot_file, &m->conf, &l, last_id, dataset, &skipped, err, sizeof(err));
		if (r == 0) {
			struct rs_list_stats ls;
			rs_list_stats(l, &ls);
			log_info("redsink: loaded the snapshot %s in %.3f s: %zu orders, %zu domains, %zu protected "
				 "(stream at %s, dataset %s; %zu records skipped)",
				 m->conf.snapshot_file, elapsed(&t0), ls.orders, ls.domains, ls.protected_n, last_id,
				 *dataset ? dataset : "without identity", skipped);
			*snapshot_due = skipped > 0; /* rewrite it without the bad records */
			m->initial_bad = skipped;
			if (m->conf.require_signatures)
				last_id[0] = '\0'; /* signed mode: the sync thread's first full load verifies
						     * Redis against the snapshot's verified versions */
			return l;
		}
		if (r == RS_ENOENT)
			log_info("redsink: no snapshot yet (%s)", err);
		else
			log_err("redsink: snapshot rejected: %s", err);
		last_id[0] = dataset[0] = '\0';
	}
	if (rs_redis_connect(&m->conf.read, m->conf.redis_timeout_ms, &rc, err, sizeof(err))) {
		log_err("redsink: %s: starting with an empty list; it is loaded when Redis answers", err);
		return rs_list_new(16);
	}
	l = rs_list_new(1 << 16);
	if (l && rs_load_all(rc, &m->conf, l, &st, err, sizeof(err)) == 0) {
		redisFree(rc);
		snprintf(last_id, RS_STREAM_ID_MAX, "%s", st.last_id);
		snprintf(dataset, RS_DATASET_ID_LEN + 1, "%s", st.ds.valid ? st.ds.id : "");
		m->initial_bad = st.bad_orders + st.bad_domains + st.bad_prefixes + st.bad_keys;
		log_info("redsink: loaded %zu orders, %zu domains, %zu protected, %zu prefixes, %zu protected "
			 "prefixes from %s in %.3f s (skipped %zu malformed orders, %zu malformed domains, %zu "
			 "malformed prefixes, %zu malformed keys; stream at %s, dataset %s)",
			 st.orders, st.domains, st.protected_n, st.prefixes, st.protected_prefixes, m->conf.read.addr,
			 elapsed(&t0), st.bad_orders, st.bad_domains, st.bad_prefixes, st.bad_keys, st.last_id,
			 *dataset ? dataset : "without identity");
		if (m->conf.require_signatures && st.sig_held + st.sig_refused > 0)
			last_id[0] = '\0'; /* signed mode: the sync thread loads again and tracks the alarms */
		return l;
	}
	redisFree(rc);
	log_err("redsink: loading the list from %s failed: %s: starting with an empty list", m->conf.read.addr,
		l ? err : "out of memory");
	rs_list_free(l);
	return rs_list_new(16);
}

/* ---- answer addresses (query path and cache purge) ---- */

/* A prefix the collateral alarm suspended (stats.h) is passed over: a wider
 * listed prefix holding it still blocks (list.h, rs_list_match_addr_skip). */
static bool suspended_skip(const struct rs_pentry *pe, void *arg)
{
	const struct rs_module *m = arg;

	return rs_stats_suspended(m->stats, &pe->prefix);
}

/* The IPv4 address an IPv6 address embeds, or NULL: IPv4-mapped
 * (::ffff:0:0/96) and the NAT64 well-known prefix (64:ff9b::/96, RFC 6052),
 * so that an AAAA cannot carry a listed IPv4 address past its prefix. */
static const uint8_t *embedded_v4(const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

	return memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 ? a + 12 : NULL;
}

/* The verdict of l for one answer address; an IPv6 address embedding an
 * IPv4 one is matched as both (protection in either form wins). skip: as
 * rs_list_match_addr_skip. */
static enum rs_verdict addr_verdict(const struct rs_list *l, int family, const uint8_t *a, time_t now,
				    const struct rs_module *skip_of, struct rs_match *mt)
{
	bool (*skip)(const struct rs_pentry *, void *) = skip_of ? suspended_skip : NULL;
	enum rs_verdict v = rs_list_match_addr_skip(l, family, a, (int64_t)now, skip, (void *)skip_of, mt), w;
	const uint8_t *v4 = family == 6 ? embedded_v4(a) : NULL;
	struct rs_match m4;

	if (!v4 || v == RS_PROTECTED)
		return v;
	w = rs_list_match_addr_skip(l, 4, v4, (int64_t)now, skip, (void *)skip_of, &m4);
	if (w == RS_PROTECTED || v == RS_BLOCKED)
		return w == RS_PROTECTED ? RS_PROTECTED : v;
	if (w == RS_BLOCKED)
		*mt = m4;
	return w;
}

/*
 * Does an address of the A/AAAA RRset data d (type t, class IN) trigger a
 * block? Blocked by the module's current list cur (a prefix the collateral
 * alarm suspended is passed over for the enclosing ones; an address in a
 * protected prefix does not trigger, the other addresses still may) and,
 * when within is another list (a purge's change set), inside one of its
 * prefixes too. The first such address wins (mt). RDATA of another length
 * is ignored.
 */
static bool rdata_addr_blocked(const struct rs_module *m, const struct rs_list *cur, const struct rs_list *within,
			       uint16_t t, const struct packed_rrset_data *d, time_t now, struct rs_match *mt)
{
	size_t alen = t == LDNS_RR_TYPE_A ? 4 : t == LDNS_RR_TYPE_AAAA ? 16 : 0;
	int family = alen == 4 ? 4 : 6;
	struct rs_match wm;

	if (!alen || !d)
		return false;
	for (size_t j = 0; j < d->count; j++) {
		const uint8_t *a = d->rr_data[j] + 2;
		if (d->rr_len[j] != 2 + alen)
			continue;
		if (within && within != cur && addr_verdict(within, family, a, now, NULL, &wm) != RS_BLOCKED)
			continue; /* not inside a changed prefix */
		if (addr_verdict(cur, family, a, now, m, mt) == RS_BLOCKED)
			return true;
	}
	return false;
}

/* ---- cache purge (sync thread) ---- */

struct purge_key {
	hashvalue_type hash;
	bool msg; /* a message-cache entry, else an RRset */
	uint16_t type, klass;
	uint32_t flags;
	size_t len;
	uint8_t name[LDNS_MAX_DOMAINLEN + 1];
};

/* An owner name (lowercase wire form) of an A/AAAA RRset removed for its
 * address: every cached message for it goes too (any type). */
struct purge_owner {
	size_t len;
	uint8_t name[LDNS_MAX_DOMAINLEN + 1];
};

struct purge_ctx {
	const struct rs_module *m;
	const struct rs_list *match;
	const struct rs_list *cur; /* the module's list: what is blocked now (protection, applicability) */
	bool has_prefixes; /* match and cur hold listed prefixes: A/AAAA RRsets are looked at */
	bool msg;          /* the traversal pushes message-cache keys */
	time_t now;
	struct purge_key *keys;
	size_t n, cap;
	struct purge_owner *owners;
	size_t nown, owncap;
};

static bool purge_wanted(struct purge_ctx *p, const uint8_t *name, size_t len)
{
	struct rs_qname q;
	struct rs_match mt;

	return rs_qname_prepare(name, len, &q) > 0 && rs_list_match(p->match, &q, (int64_t)p->now, &mt) == RS_BLOCKED;
}

static void purge_push(struct purge_ctx *p, hashvalue_type hash, const uint8_t *name, size_t len, uint16_t type,
		       uint16_t klass, uint32_t flags)
{
	struct purge_key *k;

	if (len > LDNS_MAX_DOMAINLEN + 1)
		return;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct purge_key *nk = realloc(p->keys, cap * sizeof(*nk));
		if (!nk)
			return; /* the moddone check still catches what is missed here */
		p->keys = nk;
		p->cap = cap;
	}
	k = &p->keys[p->n++];
	k->hash = hash;
	k->msg = p->msg;
	k->type = type;
	k->klass = klass;
	k->flags = flags;
	k->len = len;
	memcpy(k->name, name, len);
}

static void collect_msg(struct lruhash_entry *e, void *arg)
{
	struct query_info *k = e->key;

	if (purge_wanted(arg, k->qname, k->qname_len))
		purge_push(arg, e->hash, k->qname, k->qname_len, k->qtype, k->qclass, 0);
}

/* Does the A/AAAA RRset hold an address inside a prefix of `match` that the
 * module's list blocks now (a protected or suspended prefix inside a pushed
 * one keeps its cached answers; so does everything an unprotectip widens,
 * unless listed)? */
static bool purge_addr_wanted(struct purge_ctx *p, const struct ub_packed_rrset_key *k,
			      const struct packed_rrset_data *d)
{
	struct rs_match mt;

	return p->has_prefixes && ntohs(k->rk.rrset_class) == LDNS_RR_CLASS_IN &&
	       rdata_addr_blocked(p->m, p->cur, p->match, ntohs(k->rk.type), d, p->now, &mt);
}

static void lower_name(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i];
}

static void note_owner(struct purge_ctx *p, const uint8_t *name, size_t len)
{
	if (len > LDNS_MAX_DOMAINLEN + 1)
		return;
	if (p->nown == p->owncap) {
		size_t cap = p->owncap ? p->owncap * 2 : 16;
		struct purge_owner *no = realloc(p->owners, cap * sizeof(*no));
		if (!no)
			return; /* its other messages stay: the first visit still blocks on a miss */
		p->owners = no;
		p->owncap = cap;
	}
	p->owners[p->nown].len = len;
	lower_name(p->owners[p->nown].name, name, len);
	p->nown++;
}

static int owner_cmp(const void *a, const void *b)
{
	const struct purge_owner *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

static void collect_rrset(struct lruhash_entry *e, void *arg)
{
	struct purge_ctx *p = arg;
	struct ub_packed_rrset_key *k = e->key;

	if (purge_wanted(p, k->rk.dname, k->rk.dname_len)) {
		purge_push(p, e->hash, k->rk.dname, k->rk.dname_len, ntohs(k->rk.type), ntohs(k->rk.rrset_class),
			   k->rk.flags);
	} else if (purge_addr_wanted(p, k, e->data)) {
		purge_push(p, e->hash, k->rk.dname, k->rk.dname_len, ntohs(k->rk.type), ntohs(k->rk.rrset_class),
			   k->rk.flags);
		note_owner(p, k->rk.dname, k->rk.dname_len);
	}
}

/* Second look at the message cache: every message (any type) for an owner
 * of an RRset removed for its address. A message of another type (the AAAA
 * of a name whose A is listed) uses no removed RRset and would otherwise
 * stay a cache hit. */
static void collect_owner_msg(struct lruhash_entry *e, void *arg)
{
	struct purge_ctx *p = arg;
	struct query_info *k = e->key;
	struct purge_owner key;

	if (k->qname_len > sizeof(key.name))
		return;
	key.len = k->qname_len;
	lower_name(key.name, k->qname, k->qname_len);
	if (bsearch(&key, p->owners, p->nown, sizeof(*p->owners), owner_cmp))
		purge_push(p, e->hash, k->qname, k->qname_len, k->qtype, k->qclass, 0);
}

/*
 * Remove (not expire: serve-expired must not bring them back) every cached
 * message and RRset at or below a name that `match` blocks, and every cached
 * A/AAAA RRset holding an address inside a prefix of `match` that the
 * module's list blocks now (which invalidates every cached message using it:
 * Unbound checks the RRset ids of a message taken from the cache), and then
 * every cached message, of any type, for the owner names of those RRsets
 * (their other types use no removed RRset). Collect under a
 * read traversal, remove afterwards (removing inside the traversal would
 * deadlock on the table locks). Runs on a worker in its event loop (the purge
 * door below), or on the sync thread before any worker has opened the door;
 * the cache pointers are read afresh each time.
 */
static void purge_now(struct rs_module *m, const struct rs_list *match)
{
	struct module_env *env = m->env;
	struct purge_ctx p = { .m = m, .match = match, .cur = list_of(m), .now = time(NULL) };
	size_t nmsg = 0;

	if (!env->msg_cache || !env->rrset_cache)
		return;
	p.has_prefixes = rs_list_has_prefixes(match) && rs_list_has_prefixes(p.cur);
	p.msg = true;
	slabhash_traverse(env->msg_cache, 0, collect_msg, &p);
	p.msg = false;
	slabhash_traverse(&env->rrset_cache->table, 0, collect_rrset, &p);
	if (p.nown) {
		qsort(p.owners, p.nown, sizeof(*p.owners), owner_cmp);
		p.msg = true;
		slabhash_traverse(env->msg_cache, 0, collect_owner_msg, &p);
	}
	for (size_t i = 0; i < p.n; i++) {
		struct purge_key *k = &p.keys[i];
		nmsg += k->msg;
		if (k->msg) {
			struct query_info q = { 0 };
			q.qname = k->name;
			q.qname_len = k->len;
			q.qtype = k->type;
			q.qclass = k->klass;
			slabhash_remove(env->msg_cache, k->hash, &q);
		} else {
			rrset_cache_remove(env->rrset_cache, k->name, k->len, k->type, k->klass, k->flags);
		}
	}
	if (p.n)
		verbose(VERB_OPS, "redsink: removed %zu cached messages and %zu cached RRsets of newly blocked names "
			"and addresses", nmsg, p.n - nmsg);
	free(p.keys);
	free(p.owners);
}

/*
 * The purge door: purges run in a worker's own event loop, never on the sync
 * thread, because during a reload Unbound may delete and re-create the
 * message and RRset caches (daemon_apply_cfg, when their size or slabs
 * changed) before this module's deinit runs, and no module hook exists in
 * that window. A worker's loop has exited before Unbound touches the caches,
 * so a purge that runs inside one can never meet a cache being replaced.
 *
 * - On its first operate() of a module generation, each worker adds a
 *   persistent read event on the door's pipe to its own event base
 *   (ub_event on qs->env->worker_base).
 * - The sync thread's purge hook (purge_caches) posts the job (the list to
 *   match; the sync thread keeps it alive and unchanged because it waits),
 *   writes one octet, and waits until a worker has run it. Any worker can
 *   take it (the first to lock the door), so one busy or stopped worker does
 *   not hold the purge up.
 * - deinit closes the door first: a waiting sync thread gives up (the job is
 *   "lost" and the next generation purges everything its list blocks once a
 *   worker has opened its door), then the thread is joined.
 * - Before any worker has opened the door in this generation (no query has
 *   reached the module since the (re)start), nothing can run the purge: it
 *   is remembered, and the first worker to open the door purges everything
 *   the list blocks. Until then only cache hits are served, from caches
 *   that a reload emptied (unless `reload_keep_cache`): the one residual
 *   window, documented in doc/architecture.md.
 * - The events are never deleted from their bases: by deinit Unbound has freed
 *   the workers' bases (and with them their registrations); ub_event_free()
 *   of the libevent flavour is a plain free() of our struct event.
 */
struct purge_waker {
	struct purge_waker *next;
	struct ub_event *ev;
};

struct purge_door {
	int fd[2];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct rs_list *job; /* posted, not yet taken */
	bool done;                 /* the posted job ran */
	bool closed;               /* deinit: nothing runs any more */
	_Atomic(struct purge_waker *) wakers;
	atomic_bool everything;    /* the previous generation lost a purge: purge all once */
};

static unsigned generation;          /* main thread (init) */
static __thread unsigned worker_gen; /* the generation whose door this thread opened */
static atomic_bool purge_lost;       /* survives a reload (the library is pinned) */

static void on_purge_wake(int fd, short bits, void *arg)
{
	struct rs_module *m = arg;
	struct purge_door *d = m->door;
	const struct rs_list *job;
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (atomic_exchange(&d->everything, false)) {
		rs_ebr_enter(); /* the live list: the sync thread may change it meanwhile */
		purge_now(m, list_of(m));
		rs_ebr_leave();
	}
	pthread_mutex_lock(&d->mu);
	job = d->closed ? NULL : d->job;
	d->job = NULL;
	pthread_mutex_unlock(&d->mu);
	if (!job)
		return; /* another worker took it, or nothing was posted */
	rs_ebr_enter();
	purge_now(m, job);
	rs_ebr_leave();
	pthread_mutex_lock(&d->mu);
	d->done = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Worker thread, first operate() of this generation: open the door on this
 * worker's event loop. */
static void purge_door_open(struct rs_module *m, struct module_env *env)
{
	struct purge_door *d = m->door;
	struct purge_waker *w;

	worker_gen = m->gen;
	if (!d || !env->worker_base)
		return;
	w = calloc(1, sizeof(*w));
	if (!w)
		return;
	w->ev = ub_event_new(comm_base_internal(env->worker_base), d->fd[0], UB_EV_READ | UB_EV_PERSIST, on_purge_wake,
			     m);
	if (!w->ev || ub_event_add(w->ev, NULL) != 0) {
		ub_event_free(w->ev);
		free(w);
		return;
	}
	w->next = atomic_load(&d->wakers);
	while (!atomic_compare_exchange_weak(&d->wakers, &w->next, w))
		;
	if (atomic_load(&d->everything))
		(void)!write(d->fd[1], "e", 1);
}

/* The sync thread's purge hook. */
static void purge_caches(void *arg, const struct rs_list *match)
{
	struct rs_module *m = arg;
	struct purge_door *d = m->door;

	if (!d) {
		purge_now(m, match);
		return;
	}
	pthread_mutex_lock(&d->mu);
	if (!d->closed && !atomic_load(&d->wakers)) {
		/* No worker loop to run it yet: never on this thread (a reload may
		 * be replacing the caches right now). The first worker to open
		 * the door purges everything the list blocks (see above). */
		atomic_store(&d->everything, true);
		pthread_mutex_unlock(&d->mu);
		return;
	}
	if (!d->closed) {
		d->job = match;
		d->done = false;
		while (write(d->fd[1], "p", 1) < 0 && errno == EINTR)
			;
		while (!d->done && !d->closed)
			pthread_cond_wait(&d->cv, &d->mu);
		if (!d->done) {
			d->job = NULL;
			atomic_store(&purge_lost, true);
		}
	} else {
		atomic_store(&purge_lost, true);
	}
	pthread_mutex_unlock(&d->mu);
}

static struct purge_door *purge_door_new(void)
{
	struct purge_door *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (pipe2(d->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	atomic_store(&d->everything, atomic_exchange(&purge_lost, false));
	return d;
}

/* deinit: no worker loop runs any more; release a waiting sync thread. */
static void purge_door_close(struct purge_door *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->closed = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (atomic_load(&d->everything))
		atomic_store(&purge_lost, true); /* never ran: hand it on */
}

/* deinit, after the sync thread was joined. */
static void purge_door_free(struct purge_door *d)
{
	struct purge_waker *w;

	if (!d)
		return;
	while ((w = atomic_load(&d->wakers)) != NULL) {
		atomic_store(&d->wakers, w->next);
		ub_event_free(w->ev); /* a plain free(): the base is gone already */
		free(w);
	}
	close(d->fd[0]);
	close(d->fd[1]);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}

/*
 * Called by Unbound for every reply sent from the mesh, once per client
 * (aggregated clients included): count it when this module blocked the query.
 * Worker thread, hot path: a pointer test for unblocked replies; for blocked
 * ones one record into this thread's ring (stats.h). The marker's order and
 * entry are valid here: operate() left a read-side section open for them
 * that only clear() closes (see op_leave), and the ring record stays valid
 * because the sync thread observes the readers before it drains (list.h). Blocked answers are never
 * served from Unbound's cache, so there is no cache path to count.
 */
static int on_reply(struct query_info *qinfo, struct module_qstate *qs, struct reply_info *rep, int rcode,
		    struct edns_data *edns, struct edns_option **opt_list_out, struct comm_reply *repinfo,
		    struct regional *region, struct timeval *start_time, int id, void *cb_arg)
{
	struct rs_module *m = cb_arg;
	struct rs_qstate *q;

	if (!qs || !repinfo || !m)
		return 1;
	q = qs->minfo[id];
	if (q && q->kind == RS_Q_BLOCKED && q->order && q->prefix)
		rs_stats_record_addr(m->stats, q->order, &q->prefix->prefix, qs->qinfo.qname, qs->qinfo.qname_len,
				     (const struct sockaddr *)&repinfo->client_addr, repinfo->client_addrlen, *qs->env->now);
	else if (q && q->kind == RS_Q_BLOCKED && q->order)
		rs_stats_record(m->stats, q->order, q->entry, (const struct sockaddr *)&repinfo->client_addr,
				repinfo->client_addrlen, *qs->env->now);
	return 1;
}

EXPORT int init(struct module_env *env, int id)
{
	struct dynlibmod_env *de = env->modinfo[id];
	char path[4096], err[RS_CONF_ERRLEN];
	struct rs_module *m;

	rs_log_hook = log_bridge;
	if (conf_path(env, path, sizeof(path))) {
		log_err("redsink: configuration path too long");
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		log_err("redsink: out of memory");
		return 0;
	}
	if (rs_conf_load(path, &m->conf, err) < 0) {
		if (!have_last_good) { /* at start: refuse to start */
			log_err("redsink: %s", err);
			free(m);
			return 0;
		}
		log_err("redsink: %s: keeping the running configuration", err);
		m->conf = last_good;
	} else if (have_last_good) {
		rs_conf_free(&last_good);
	}
	have_last_good = false;
	memset(&last_good, 0, sizeof(last_good));
	if (!dlopen(de->fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE))
		log_warn("redsink: cannot pin %s in memory (%s): a reload with a broken redsink.conf will stop Unbound",
			 de->fname, dlerror());
	{
		char last_id[RS_STREAM_ID_MAX], dataset[RS_DATASET_ID_LEN + 1];
		bool snapshot_due;
		struct rs_sync_hooks hooks = { purge_caches, m };
		struct rs_list *l = initial_list(m, last_id, dataset, &snapshot_due);
		if (!l) {
			log_err("redsink: out of memory");
			rs_conf_free(&m->conf);
			free(m);
			return 0;
		}
		atomic_init(&m->list, l);
		m->env = env;
		m->gen = ++generation;
		m->door = purge_door_new();
		if (!m->door)
			log_warn("redsink: cannot create the purge door: cache purges run on the sync thread, "
				 "which is not safe during a reload that changes cache sizes");
		m->stats = rs_stats_new(&m->conf, NULL); /* hits:<hour> */
		if (m->stats && de->inplace_cb_register_wrapped((void *)on_reply, inplace_cb_reply, m, env, id))
			m->reply_cb = true;
		else
			log_err("redsink: cannot register the reply callback: blocked answers are not counted");
		if (rs_sync_start(&m->sync, &m->conf, &m->list, last_id, dataset, snapshot_due, &hooks,
				  m->reply_cb ? m->stats : NULL, NULL /* a resolver: heartbeat */) != 0)
			log_err("redsink: cannot start the sync thread: the list will not follow Redis until restart");
		rs_sync_note_bad(m->sync, m->initial_bad);
	}
	de->dyn_env = m;
#ifdef RS_TEST_HOOKS
	log_info("redsink: test hooks enabled (REDSINK_TEST_STALL); not for production");
#endif
	log_info("redsink: %s ready (configuration %s, resolver %s, jurisdiction %s)", RS_VERSION, path,
		 m->conf.resolver_name, m->conf.jurisdiction ? m->conf.jurisdiction : "none (only scope '*')");
	return 1;
}

EXPORT void deinit(struct module_env *env, int id)
{
	struct dynlibmod_env *de = env->modinfo[id];
	struct rs_module *m = de ? de->dyn_env : NULL;

	if (!m)
		return;
	de->dyn_env = NULL;
	if (m->reply_cb)
		de->inplace_cb_delete_wrapped(env, inplace_cb_reply, id);
	purge_door_close(m->door); /* a sync thread waiting for a purge gives up */
	{
		char last_id[RS_STREAM_ID_MAX] = "", dataset[RS_DATASET_ID_LEN + 1] = "";
		struct rs_list *l = atomic_load_explicit(&m->list, memory_order_relaxed);
		rs_sync_stop(m->sync, last_id, dataset); /* joined before dlclose; drains and flushes the hits */
		free(handover);
		handover = NULL;
		if (rs_snapshot_encode(l, last_id, dataset, &handover, &handover_len))
			log_err("redsink: out of memory keeping the list for a reload");
		rs_list_free(l);
	}
	purge_door_free(m->door);
	rs_stats_free(m->stats);
	last_good = m->conf; /* for the next init of a reload (see above) */
	have_last_good = true;
	free(m);
	rs_log_hook = NULL;
}

/* Match a wire name (any case) against the list. */
static enum rs_verdict match_name(const struct rs_module *m, const uint8_t *name, size_t maxlen, time_t now,
				  struct rs_match *mt)
{
	struct rs_qname q;

	if (rs_qname_prepare(name, maxlen, &q) <= 0)
		return RS_PASS;
	return rs_list_match(list_of(m), &q, (int64_t)now, mt);
}

/* Does an address of the A/AAAA RRset k (class IN) trigger a block
 * (rdata_addr_blocked)? */
static bool addr_rrset_blocked(const struct rs_module *m, const struct rs_list *l, const struct ub_packed_rrset_key *k,
			       time_t now, struct rs_match *mt)
{
	return ntohs(k->rk.rrset_class) == LDNS_RR_CLASS_IN &&
	       rdata_addr_blocked(m, l, NULL, ntohs(k->rk.type), k->entry.data, now, mt);
}

/*
 * The verdict for a finished answer: the query name, then the owners and the
 * targets of the CNAME/DNAME records of the answer section, then (when the
 * list holds prefixes) the addresses of its A/AAAA records (after the chain).
 * A protected query name is never blocked; the first blocked name wins, and
 * names go before addresses.
 */
static enum rs_verdict match_answer(struct module_qstate *qs, const struct rs_module *m, time_t now,
				    struct rs_match *mt, bool *chain)
{
	struct reply_info *rep = qs->return_msg ? qs->return_msg->rep : NULL;
	enum rs_verdict v = match_name(m, qs->qinfo.qname, qs->qinfo.qname_len, now, mt);

	*chain = false;
	if (v != RS_PASS || !rep)
		return v;
	for (size_t i = 0; i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		struct ub_packed_rrset_key *k = rep->rrsets[i];
		struct packed_rrset_data *d = k->entry.data;
		uint16_t t = ntohs(k->rk.type);

		if (match_name(m, k->rk.dname, k->rk.dname_len, now, mt) == RS_BLOCKED) {
			*chain = true;
			return RS_BLOCKED;
		}
		if ((t == LDNS_RR_TYPE_CNAME || t == LDNS_RR_TYPE_DNAME) && d && d->count > 0 && d->rr_len[0] > 2 &&
		    match_name(m, d->rr_data[0] + 2, d->rr_len[0] - 2, now, mt) == RS_BLOCKED) {
			*chain = true;
			return RS_BLOCKED;
		}
	}
	if (!rs_list_has_prefixes(list_of(m)))
		return RS_PASS;
	for (size_t i = 0; i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		if (addr_rrset_blocked(m, list_of(m), rep->rrsets[i], now, mt)) {
			*chain = true;
			return RS_BLOCKED;
		}
	}
	return RS_PASS;
}

#define CACHED_CHAIN_MAX 8 /* CNAME hops followed in the RRset cache */

/* Cached answer data (not glue, additional- or authority-section data, nor
 * bogus data): what the first visit trusts, for A/AAAA and CNAME alike. */
static bool answer_data(const struct packed_rrset_data *d)
{
	return d->trust >= rrset_trust_ans_noAA && d->trust != rrset_trust_glue && d->trust != rrset_trust_auth_AA &&
	       d->security != sec_status_bogus;
}

/*
 * An address block was decided for a name (the query name or a name of its
 * chain): remove its cached messages of every type an address answers
 * (A, AAAA, ANY, SVCB, HTTPS; both CD variants), not only the asked one. A
 * dual-stack client asks A and AAAA at once: the AAAA (an unlisted IPv6
 * address) passes and is cached while the A is blocked; without this the
 * AAAA stays a message-cache hit, which never reaches the module. Once gone,
 * the next AAAA is a miss and the first visit finds the blocked A in the
 * RRset cache.
 */
static void purge_addr_msgs(struct module_qstate *qs, const uint8_t *name, size_t len)
{
	static const uint16_t types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_SVCB,
					  LDNS_RR_TYPE_HTTPS };

	if (!qs->env->msg_cache)
		return;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		msg_cache_remove(qs->env, (uint8_t *)name, len, types[i], LDNS_RR_CLASS_IN, 0);
		msg_cache_remove(qs->env, (uint8_t *)name, len, types[i], LDNS_RR_CLASS_IN, BIT_CD);
	}
}

/*
 * First visit of a query of class IN while the list holds prefixes: does the
 * RRset cache know the name (following cached CNAMEs, at most
 * CACHED_CHAIN_MAX) to resolve into a listed prefix? The A and the AAAA
 * RRsets are looked at whatever the query type, so a name known to be on a
 * listed address is blocked for every type (TXT gets the order's text, as
 * for a listed name). Only answer data counts (not glue or additional-section
 * data, nor bogus data). A name blocked by its address keeps its RRsets cached
 * (moddone removes only its messages), so this is what answers a repeated
 * query without asking upstream. Worker thread, inside the operate()
 * section; each RRset is read under its own lock.
 */
static bool cached_addr_blocked(struct module_qstate *qs, const struct rs_module *m, time_t now, struct rs_match *mt)
{
	static const uint16_t types[2] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	uint8_t chain[CACHED_CHAIN_MAX + 1][LDNS_MAX_DOMAINLEN + 1]; /* the query name, then each CNAME target */
	size_t clen[CACHED_CHAIN_MAX + 1];
	size_t len = qs->qinfo.qname_len;
	const struct rs_list *l = list_of(m);

	if (qs->qinfo.qclass != LDNS_RR_CLASS_IN || !qs->env->rrset_cache || len > sizeof(chain[0]) ||
	    !rs_list_has_prefixes(l))
		return false;
	memcpy(chain[0], qs->qinfo.qname, len);
	clen[0] = len;
	for (int hop = 0; hop <= CACHED_CHAIN_MAX; hop++) {
		const uint8_t *name = chain[hop];
		struct ub_packed_rrset_key *k;
		struct packed_rrset_data *d;
		bool found = false, hit;

		len = clen[hop];
		for (int t = 0; t < 2; t++) {
			k = rrset_cache_lookup(qs->env->rrset_cache, (uint8_t *)name, len, types[t], LDNS_RR_CLASS_IN,
					       0, now, 0);
			if (!k)
				continue;
			found = true;
			d = k->entry.data;
			hit = answer_data(d) && addr_rrset_blocked(m, l, k, now, mt);
			lock_rw_unlock(&k->entry.lock);
			if (hit) {
				for (int i = 0; i <= hop; i++)
					purge_addr_msgs(qs, chain[i], clen[i]);
				return true;
			}
		}
		if (found || hop == CACHED_CHAIN_MAX)
			return false;
		k = rrset_cache_lookup(qs->env->rrset_cache, (uint8_t *)name, len, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN,
				       0, now, 0);
		if (!k)
			return false;
		d = k->entry.data;
		hit = d->count > 0 && d->rr_len[0] > 3 && d->rr_len[0] - 2 <= sizeof(chain[0]) && answer_data(d);
		if (hit) {
			clen[hop + 1] = d->rr_len[0] - 2;
			memcpy(chain[hop + 1], d->rr_data[0] + 2, clen[hop + 1]);
		}
		lock_rw_unlock(&k->entry.lock);
		if (!hit || dname_valid(chain[hop + 1], clen[hop + 1]) != clen[hop + 1])
			return false;
	}
	return false;
}

/* Remove the message-cache entries of qinfo (both hash variants). */
static void purge_msg(struct module_qstate *qs, struct query_info *qi)
{
	msg_cache_remove(qs->env, qi->qname, qi->qname_len, qi->qtype, qi->qclass, 0);
	msg_cache_remove(qs->env, qi->qname, qi->qname_len, qi->qtype, qi->qclass, BIT_CD);
}

/* Purge what the iterator cached for this query and for each name of its
 * answer section (a CNAME target that is blocked must not be answered from the
 * message cache either). */
static void purge_answer(struct module_qstate *qs, bool by_addr)
{
	struct reply_info *rep = qs->return_msg ? qs->return_msg->rep : NULL;

	purge_msg(qs, &qs->qinfo);
	if (by_addr)
		purge_addr_msgs(qs, qs->qinfo.qname, qs->qinfo.qname_len);
	for (size_t i = 0; rep && i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		struct query_info qi = qs->qinfo;
		qi.qname = rep->rrsets[i]->rk.dname;
		qi.qname_len = rep->rrsets[i]->rk.dname_len;
		purge_msg(qs, &qi);
		if (by_addr)
			purge_addr_msgs(qs, qi.qname, qi.qname_len);
	}
}

/* Priming and validator (DS/DNSKEY) queries: never answered by the module
 * (no client can wait on them: mesh_state_find keys them apart). */
static bool internal_state(const struct module_qstate *qs)
{
	return qs->is_priming || qs->is_valrec;
}

/* Do clients (or internal callbacks) wait for this state's answer? */
static bool has_clients(const struct module_qstate *qs)
{
	return qs->mesh_info && (qs->mesh_info->reply_list || qs->mesh_info->cb_list);
}

static void set_marker(struct module_qstate *qs, int id, int kind, const struct rs_match *mt)
{
	struct rs_qstate *q = qs->minfo[id];

	if (!q) {
		q = regional_alloc(qs->region, sizeof(*q));
		if (!q)
			return;
		qs->minfo[id] = q;
	}
	q->kind = kind;
	q->order = mt ? mt->order : NULL;
	q->entry = mt ? mt->entry : NULL;
	q->prefix = mt && !mt->entry ? mt->prefix : NULL;
}

/* Block the query with mt: a listed name (mt->entry: the owner of a
 * synthesised SOA is the listed domain) or an address prefix (mt->entry
 * NULL, mt->prefix set: the SOA owner is the query name). */
static void blocked(struct module_qstate *qs, int id, struct rs_module *m, const struct rs_match *mt)
{
	const uint8_t *zone = mt->entry ? rs_entry_wire(mt->entry) : qs->qinfo.qname;
	size_t zlen = mt->entry ? mt->entry->wlen : qs->qinfo.qname_len;

	if (rs_answer_blocked(qs, &m->conf, mt->order, zone, zlen) < 0) {
		log_err("redsink: out of memory building a blocked answer");
		qs->ext_state[id] = module_error;
		return;
	}
	if (verbosity >= VERB_QUERY) {
		char name[LDNS_MAX_DOMAINLEN * 4 + 1];
		char pfx[RS_PREFIX_TEXT_MAX] = "";
		rs_wire_to_text(qs->qinfo.qname, qs->qinfo.qname_len, name, sizeof(name));
		if (!mt->entry && mt->prefix)
			rs_prefix_format(&mt->prefix->prefix, pfx, sizeof(pfx));
		verbose(VERB_QUERY, "redsink: %s type %d class %d blocked by order %s (%s)%s%s", name, qs->qinfo.qtype,
			qs->qinfo.qclass, mt->order->id, rs_action_name(mt->order->action),
			*pfx ? ": an answer address is in " : "", pfx);
	}
	set_marker(qs, id, RS_Q_BLOCKED, mt);
	qs->ext_state[id] = module_finished;
}

/*
 * Reclamation (ebr.h, list.h): a worker uses list pointers only inside a
 * read-side section. operate() runs in one (op_enter/op_leave, a cleanup
 * guard, so that every return leaves). A run that leaves a marker holding an
 * order and an entry, which on_reply() reads after operate returned, keeps
 * the section open until clear() of that query. With dynlib first in
 * module-config that is synchronous: mesh_continue -> mesh_query_done ->
 * reply callbacks -> mesh_state_delete -> clear, before the worker returns to
 * its event loop; in other module orders the section lasts until the query
 * ends, which delays reclamation but never frees under a reader.
 */
struct op_guard {
	struct module_qstate *qs;
	int id;
	bool held; /* the marker held pointers when operate was entered */
};

static bool marker_holds(const struct module_qstate *qs, int id)
{
	const struct rs_qstate *q = qs->minfo[id];

	return q && (q->order || q->entry);
}

static inline struct op_guard op_enter(struct module_qstate *qs, int id)
{
	struct rs_module *m = module_of(qs->env, id);

	if (m && worker_gen != m->gen)
		purge_door_open(m, qs->env); /* this worker's first query of this generation */
	rs_ebr_enter();
	return (struct op_guard){ qs, id, marker_holds(qs, id) };
}

static inline void op_leave(struct op_guard *g)
{
	bool held = marker_holds(g->qs, g->id);

	if (held && !g->held)
		return; /* the new marker keeps this section: clear() leaves it */
	if (!held && g->held)
		rs_ebr_leave(); /* the marker let go of its pointers: its section too */
	rs_ebr_leave();
}

EXPORT void operate(struct module_qstate *qs, enum module_ev event, int id, struct outbound_entry *outbound)
{
	struct op_guard guard __attribute__((cleanup(op_leave))) = op_enter(qs, id);
	struct rs_module *m = module_of(qs->env, id);
	struct rs_qstate *q = qs->minfo[id];
	struct rs_match mt;
	time_t now = *qs->env->now;

	if (event == module_event_new || event == module_event_pass) {
		/* Every class: IN and ANY get the order's answer, other classes
		 * REFUSED (answer.c; doc/architecture.md, "A query"). */
		if (!m || q || internal_state(qs)) {
			qs->ext_state[id] = module_wait_module;
			return;
		}
		enum rs_verdict v = match_name(m, qs->qinfo.qname, qs->qinfo.qname_len, now, &mt);
		if (v == RS_BLOCKED || (v == RS_PASS && cached_addr_blocked(qs, m, now, &mt))) {
			blocked(qs, id, m, &mt);
			return;
		}
		set_marker(qs, id, RS_Q_PASSED, NULL);
		qs->ext_state[id] = module_wait_module;
		return;
	}
	if (event == module_event_moddone) {
		bool chain;
		/*
		 * Any class (the answer of an ANY-class query holds IN records).
		 * Replaced: a query this module passed on, and a state it never
		 * saw (started by the iterator, e.g. the IN sub-query of a class
		 * ANY query) that clients have joined meanwhile: a state with
		 * waiting clients is never answered unfiltered. Other internal
		 * states keep their answer (resolution of other domains must not
		 * break on a blocked name server name); their cache entries go.
		 */
		if (m && !qs->is_priming && match_answer(qs, m, now, &mt, &chain) == RS_BLOCKED) {
			purge_answer(qs, !mt.entry && mt.prefix); /* by address: the name's other types too */
			if ((q && q->kind == RS_Q_PASSED) || (!q && !qs->is_valrec && has_clients(qs))) {
				blocked(qs, id, m, &mt);
				return;
			}
		}
		qs->ext_state[id] = module_finished;
		return;
	}
	if (event == module_event_error) {
		qs->ext_state[id] = module_error;
		return;
	}
	log_err("redsink: unexpected module event %d", (int)event);
	qs->ext_state[id] = module_error;
}

EXPORT void inform_super(struct module_qstate *qs, int id, struct module_qstate *super)
{
	/* redsink starts no sub-queries */
}

/*
 * A module in front of this one may store the answer it got from here in
 * Unbound's caches: dns64 (doc/architecture.md, "Module orders") calls
 * dns_cache_store at its moddone and for the AAAA it synthesises from a
 * blocked A. A blocked answer must never be served from there (no EDE, not
 * counted, outliving the name's removal from the list; its RRsets' trust
 * would keep the real ones out), so when a blocked query ends, its message
 * and RRsets go from both caches. Only with a module in front (id > 0); worker
 * thread, no cache lock held (mesh_state_cleanup).
 */
static void purge_front_store(struct module_qstate *qs, int id)
{
	const struct rs_qstate *q = qs->minfo[id];
	struct reply_info *rep = qs->return_msg ? qs->return_msg->rep : NULL;

	if (id == 0 || !q || q->kind != RS_Q_BLOCKED || !qs->env || !qs->env->msg_cache || !qs->env->rrset_cache)
		return;
	purge_msg(qs, &qs->qinfo);
	for (size_t i = 0; rep && i < rep->rrset_count; i++) {
		const struct ub_packed_rrset_key *k = rep->rrsets[i];
		rrset_cache_remove(qs->env->rrset_cache, k->rk.dname, k->rk.dname_len, ntohs(k->rk.type),
				   ntohs(k->rk.rrset_class), k->rk.flags);
	}
}

EXPORT void clear(struct module_qstate *qs, int id)
{
	/* minfo lives in the query's region: nothing to free; a marker that held
	 * list pointers ends the section operate() left open for it */
	if (!qs)
		return;
	purge_front_store(qs, id);
	if (marker_holds(qs, id))
		rs_ebr_leave();
	qs->minfo[id] = NULL;
}

EXPORT size_t get_mem(struct module_env *env, int id)
{
	struct rs_module *m = module_of(env, id);
	struct rs_list_stats st;

	if (!m)
		return 0;
	rs_ebr_enter(); /* any thread: the list may be replaced meanwhile */
	rs_list_stats(list_of(m), &st);
	rs_ebr_leave();
	return sizeof(*m) + st.mem_bytes;
}
