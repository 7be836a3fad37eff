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
 *    and finish at module 0 (a listed name's answer is stored in the message
 *    cache, see RS_CACHED_MARK); else pass to the next module.
 *  - moddone: match the name again (it may have been listed meanwhile) and the
 *    owners and targets of the CNAME/DNAME chain in the answer, then (when
 *    the list holds address prefixes) every A/AAAA address of the answer; if
 *    blocked, remove the real answer from the message cache (for an address
 *    block, the messages of every address type of the names: A, AAAA, ANY,
 *    SVCB, HTTPS) and, for a query this module passed on, replace it with
 *    the blocked answer. An address block is remembered (addr_memo.h: the
 *    names of the chain, the address, the answer's TTL).
 *  - first visit (and moddone), when the list holds prefixes: the memo is
 *    looked up and a remembered address matched again against the list, so
 *    a name blocked by its address, whose messages moddone removed, is
 *    blocked again without an upstream query.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
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

#include "addr_memo.h"
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
#define RS_VERSION "0.12.0"
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
	bool cache_cb;          /* the cache reply callback too: blocked answers are stored (see below) */
	atomic_uint purge_gen;  /* bumped as each purge starts (store_blocked checks it) */
	atomic_bool cached_any; /* a blocked answer may have been stored since the last purge took it */
	size_t initial_bad;     /* records the initial load or snapshot skipped */
	struct purge_door *door; /* cache purges run on a worker (see "cache purge") */
	unsigned gen;           /* this module generation (one per init) */
	struct rs_addr_memo *memo; /* names an answer address blocked (addr_memo.h); NULL: none */
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

/* The memo of names an answer address blocked (addr_memo.h), handed from
 * deinit to the next init of a reload: it holds no list pointer and every
 * entry is matched again against the list in force, so the names a reload
 * does not change stay blocked without an upstream query. Main thread only. */
static struct rs_addr_memo *memo_kept;

/*
 * The memo for a new module generation: its size follows Unbound's
 * msg-cache-size (the names it holds are names whose messages were removed
 * from that cache): one entry per 512 octets (8,192 entries, about 2.4 MB,
 * for the 4m default), between RS_ADDR_MEMO_SLOTS (about 1.2 MB) and
 * RS_ADDR_MEMO_SLOTS_MAX (about 80 MB, from a 128m cache). The memo kept
 * over a reload is reused when its size is still the one wanted, else
 * dropped (its names then cost one upstream query each).
 * NULL when out of memory: no memo.
 */
static struct rs_addr_memo *memo_take(const struct module_env *env)
{
	size_t want = env->cfg ? env->cfg->msg_cache_size / 512 : 0;
	struct rs_addr_memo *mm = memo_kept;

	if (want < RS_ADDR_MEMO_SLOTS)
		want = RS_ADDR_MEMO_SLOTS;
	if (want > RS_ADDR_MEMO_SLOTS_MAX)
		want = RS_ADDR_MEMO_SLOTS_MAX;
	memo_kept = NULL;
	if (mm && rs_addr_memo_slots(mm) == rs_addr_memo_slots_for(want))
		return mm;
	rs_addr_memo_free(mm);
	return rs_addr_memo_new(want);
}

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

/*
 * Blocked answers in the message cache (doc/architecture.md, "Blocked answers
 * from the cache"). The answer of a listed name is stored in Unbound's message
 * cache, so that a repeated query is a cache hit; the cache reply callback
 * (on_cache_reply) counts each such reply and adds the EDE. Stored answers
 * carry two marks no answer of Unbound's own has:
 *  - the message: reply_info.reason_bogus == RS_CACHED_MARK (Unbound's
 *    dns_cache_store copies messages with reply_info_copy, which resets it to
 *    LDNS_EDE_NONE, and reads it only for bogus answers): the callback's one
 *    compare for every cache hit;
 *  - its RRsets: the private key flag RS_CACHED_FLAG (below).
 * The message-cache key has no flags: the iterator's own queries (a name
 * server's address) can find a stored message; moddone restarts them without
 * the message cache (from_stored).
 * Every purge removes every stored answer (purge_now); sync.c calls the purge
 * hook on every change it applies and at every window or expiry transition.
 */
#define RS_CACHED_MARK ((sldns_ede_code)0x72736b31) /* "rsk1" */
/*
 * RS_CACHED_FLAG: the RRsets of a stored answer carry this bit in rk.flags,
 * as RPZ marks its synthesised RRsets with PACKED_RRSET_RPZ, and for the same
 * reason. The flags are part of the RRset cache key (rrset_key_hash,
 * ub_rrset_compare), so a stored sinkhole A of ns1.<listed domain> is another
 * entry than its real A: the iterator's lookups (flags 0, PARENT_SIDE,
 * NSEC_AT_APEX, SOA_NEG: the name server addresses of unlisted zones it
 * serves, CNAME/DNAME synthesis, negative answers) never see it and the real
 * RRset is neither replaced nor hidden, while the stored message references
 * its RRsets directly (rep->ref) and a purge finds them by the bit even when
 * their message was evicted first. Why the bit is safe (Unbound 1.17.1): it
 * is none of PACKED_RRSET_NSEC_AT_APEX 0x1, PARENT_SIDE 0x2, SOA_NEG 0x4,
 * RPZ 0x8, FIXEDTTL 0x80000000, and far from the low bits from which new
 * flags are allocated (check again when Unbound is upgraded); no code masks
 * the flags or asserts on unknown bits: they are compared whole (cache key,
 * iter_utils and val_sigcrypt RRset equality) or tested for one known bit
 * (msgencode FIXEDTTL, cachedump, validator NSEC_AT_APEX, remote.c
 * PARENT_SIDE); respip and dns64 never see a stored answer (it ends at this
 * module, first in the chain). Only this module sets it, so
 * the RRsets keep the answer's ordinary trust (rrset_trust_prim_noglue):
 * rrset_cache_update only ever compares one of them with another stored
 * answer's (the newer data wins, an equal one is shared), and the message
 * cache hit path reads no trust. unbound-control dump_cache/load_cache does
 * not keep the bit, so a loaded message cannot find its RRsets and is
 * dropped (it would have lost RS_CACHED_MARK anyway).
 */
#define RS_CACHED_FLAG 0x40000000u
#define RS_CACHED_TTL_MAX 86400
/*
 * What a stored answer keeps of the match that blocked it, so that its
 * replies from the cache need no second match (cached_reply): the list's
 * change counter read before that match (rs_list_change_gen), the time until
 * which no order it passed over can start to apply (rs_match.until), the
 * order, the listed entry, and the query name (lowercase wire). It follows
 * the message's RRset pointer array, in the message's own allocation
 * (store_blocked).
 * Unbound's code keeps to the layout it knows (rrset_ref array, then the
 * pointer array: cachedump.c copies exactly that much) and frees a message
 * with one free(); its size estimate (msgreply_sizefunc) does not see these
 * octets. Nothing marks which messages have it, so it is believed only when
 * (stored_of): the message is the cache's own (absolute TTLs: a copy made for
 * a reply holds relative ones) and has Unbound's one-allocation layout (a
 * copy into a region, as tomsg makes, has its pointer array at ref[0]), the
 * allocation is big enough to hold it (malloc_usable_size: Unbound's own
 * copies end at the pointer array, and octets of a freed message of ours may
 * linger in their slack), the name is the query's, and the counter is the
 * list's now. Then it is a match of that very name in the list as it is
 * (until `until`, and while its order applies), whichever message it came
 * with: the counter starts at a random 64-bit value per list, and nothing was
 * changed or retired since it was read (list.h).
 */
struct rs_stored {
	uint64_t gen;
	int64_t until; /* rs_match.until */
	const struct rs_order *order;
	const struct rs_entry *entry;
	uint8_t qlen;
	uint8_t qname[]; /* lowercase wire, qlen octets */
};
/* purge_caches' job for the hook's NULL: only the stored blocked answers */
static const char purge_ours_tag;
#define PURGE_OURS ((const struct rs_list *)(const void *)&purge_ours_tag)

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
 * the identity of its dataset ("" = none), prot (signed mode) the verified
 * protected set the list holds (version 0: none), for the sync thread.
 */
static struct rs_list *initial_list(struct rs_module *m, char last_id[RS_STREAM_ID_MAX],
				    char dataset[RS_DATASET_ID_LEN + 1], bool *snapshot_due, struct rs_prefix **susp,
				    size_t *nsusp, struct rs_protsig *prot)
{
	char err[512];
	struct rs_load_stats st;
	struct rs_sigalarm sa = { .n = 0 };
	struct timespec t0;
	redisContext *rc;
	struct rs_list *l = NULL;
	int r;

	last_id[0] = dataset[0] = '\0';
	*snapshot_due = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (handover) {
		size_t skipped;
		r = rs_snapshot_decode_owned(handover, handover_len, "the list handed over by the reload", true, &m->conf,
					     &l, last_id, dataset, susp, nsusp, prot, &skipped, err, sizeof(err));
		handover = NULL; /* freed, or the list's block now */
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
		r = rs_snapshot_read_image(m->conf.snapshot_file, true, &m->conf, &l, last_id, dataset, susp, nsusp, prot,
					   &skipped, err, sizeof(err));
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
	/* signed mode: the verified protected set goes to the sync thread (prot) */
	if (l && rs_load_all_signed(rc, &m->conf, l, NULL, &sa, &st, err, sizeof(err)) == 0) {
		redisFree(rc);
		rs_protsig_clear(prot);
		*prot = sa.prot;
		memset(&sa.prot, 0, sizeof(sa.prot));
		rs_sigalarm_free(&sa);
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
	rs_sigalarm_free(&sa);
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
 * prefixes too. The first such address wins (mt; *hit, when hit is not
 * NULL, points to it in d). RDATA of another length is ignored.
 */
static bool rdata_addr_blocked(const struct rs_module *m, const struct rs_list *cur, const struct rs_list *within,
			       uint16_t t, const struct packed_rrset_data *d, time_t now, struct rs_match *mt,
			       const uint8_t **hit)
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
		if (addr_verdict(cur, family, a, now, m, mt) == RS_BLOCKED) {
			if (hit)
				*hit = a;
			return true;
		}
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
	bool ours;         /* every stored blocked answer goes too (its message and RRsets) */
	bool msg;          /* the traversal pushes message-cache keys */
	bool lost;         /* a key could not be kept (out of memory) */
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
		if (!nk) {
			p->lost = true; /* purge_now: the stored answers' flag is set again */
			return; /* the moddone check still catches what is missed here */
		}
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
	struct purge_ctx *p = arg;
	struct query_info *k = e->key;
	const struct reply_info *rep = e->data;

	if ((p->ours && rep && rep->reason_bogus == RS_CACHED_MARK) ||
	    (p->match && purge_wanted(p, k->qname, k->qname_len)))
		purge_push(p, e->hash, k->qname, k->qname_len, k->qtype, k->qclass, 0);
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
	       rdata_addr_blocked(p->m, p->cur, p->match, ntohs(k->rk.type), d, p->now, &mt, NULL);
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
		if (!no) {
			p->lost = true;
			return; /* its other messages stay: the first visit still blocks on a miss */
		}
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

	if (p->ours && (k->rk.flags & RS_CACHED_FLAG)) {
		purge_push(p, e->hash, k->rk.dname, k->rk.dname_len, ntohs(k->rk.type), ntohs(k->rk.rrset_class),
			   k->rk.flags);
		return;
	}
	if (!p->match)
		return;
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
	/* Every purge takes the stored blocked answers too: whatever made
	 * this purge (a batch of changes, a window, a full load) may have
	 * changed one. First the generation, then the flag (store_blocked). */
	atomic_fetch_add(&m->purge_gen, 1);
	p.ours = atomic_exchange(&m->cached_any, false);
	if (match == PURGE_OURS) {
		if (!p.ours)
			return;
		p.match = match = NULL;
	}
	p.has_prefixes = match && rs_list_has_prefixes(match) && rs_list_has_prefixes(p.cur);
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
			"and addresses%s", nmsg, p.n - nmsg, p.ours ? " and of stored blocked answers" : "");
	if (p.ours && p.lost)
		atomic_store(&m->cached_any, true); /* missed stored answers: the next purge looks again */
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

	if (!match)
		match = PURGE_OURS; /* the hook's NULL: only the stored blocked answers (sync.h) */
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
 * because the sync thread observes the readers before it drains (list.h). Replies of
 * stored blocked answers from the message cache are counted by on_cache_reply.
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

static int on_cache_reply(struct query_info *qinfo, struct module_qstate *qs, struct reply_info *rep, int rcode,
			  struct edns_data *edns, struct edns_option **opt_list_out, struct comm_reply *repinfo,
			  struct regional *region, struct timeval *start_time, int id, void *cb_arg);

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
		struct rs_prefix *susp = NULL; /* the collateral alarm's suspensions the snapshot kept */
		size_t nsusp = 0;
		struct rs_protsig prot = { .version = 0 }; /* signed mode: the verified protected set */
		struct rs_list *l = initial_list(m, last_id, dataset, &snapshot_due, &susp, &nsusp, &prot);
		if (!l) {
			log_err("redsink: out of memory");
			rs_protsig_clear(&prot);
			rs_conf_free(&m->conf);
			free(m);
			return 0;
		}
		atomic_init(&m->list, l);
		m->env = env;
		m->gen = ++generation;
		m->memo = memo_take(env);
		m->door = purge_door_new();
		if (!m->door)
			log_warn("redsink: cannot create the purge door: cache purges run on the sync thread, "
				 "which is not safe during a reload that changes cache sizes");
		m->stats = rs_stats_new(&m->conf, NULL); /* hits:<hour> */
		rs_stats_suspend_restore(m->stats, susp, nsusp);
		free(susp);
		if (m->stats && de->inplace_cb_register_wrapped((void *)on_reply, inplace_cb_reply, m, env, id))
			m->reply_cb = true;
		else
			log_err("redsink: cannot register the reply callback: blocked answers are not counted");
		/* blocked answers are stored in the message cache only when their
		 * cache replies can be counted (see RS_CACHED_MARK) */
		if (m->reply_cb && de->inplace_cb_register_wrapped((void *)on_cache_reply, inplace_cb_reply_cache, m, env,
								  id))
			m->cache_cb = true;
		else if (m->reply_cb)
			log_warn("redsink: cannot register the cache reply callback: blocked answers are not cached");
		/* answers a reload kept in the caches (reload_keep_cache) may have
		 * been stored under another configuration: the first worker purges */
		atomic_init(&m->purge_gen, 0);
		atomic_init(&m->cached_any, true);
		if (m->door)
			atomic_store(&m->door->everything, true);
		if (rs_sync_start(&m->sync, &m->conf, &m->list, last_id, dataset, snapshot_due, &hooks,
				  m->reply_cb ? m->stats : NULL, NULL /* a resolver: heartbeat */, &prot) != 0)
			log_err("redsink: cannot start the sync thread: the list will not follow Redis until restart");
		rs_protsig_clear(&prot);
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
	if (m->cache_cb)
		de->inplace_cb_delete_wrapped(env, inplace_cb_reply_cache, id);
	purge_door_close(m->door); /* a sync thread waiting for a purge gives up */
	{
		char last_id[RS_STREAM_ID_MAX] = "", dataset[RS_DATASET_ID_LEN + 1] = "";
		struct rs_protsig prot = { .version = 0 };
		struct rs_list *l;
		rs_sync_stop(m->sync, last_id, dataset, &prot); /* joined before dlclose; drains and flushes the hits */
		/* after the join: a full load the thread finished meanwhile replaced
		 * (and freed) the list that was published before */
		l = atomic_load_explicit(&m->list, memory_order_acquire);
		free(handover);
		handover = NULL;
		struct rs_prefix *susp = NULL;
		size_t nsusp = 0;
		if (rs_stats_suspended_get(m->stats, &susp, &nsusp)) /* NULL, 0: hand the list over without */
			log_err("redsink: out of memory keeping the suspended prefixes for a reload: they trigger "
				"again until suspended again");
		if (rs_snapshot_settle(l, "the list", NULL) ||
		    rs_snapshot_encode(l, last_id, dataset, susp, nsusp, &prot, &handover, &handover_len))
			log_err("redsink: out of memory keeping the list for a reload");
		free(susp);
		rs_protsig_clear(&prot);
		rs_list_free(l);
	}
	purge_door_free(m->door);
	rs_addr_memo_free(memo_kept);
	memo_kept = m->memo; /* for the next init of a reload (see above) */
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
 * (rdata_addr_blocked; *hit: the address)? */
static bool addr_rrset_blocked(const struct rs_module *m, const struct rs_list *l, const struct ub_packed_rrset_key *k,
			       time_t now, struct rs_match *mt, const uint8_t **hit)
{
	return ntohs(k->rk.rrset_class) == LDNS_RR_CLASS_IN &&
	       rdata_addr_blocked(m, l, NULL, ntohs(k->rk.type), k->entry.data, now, mt, hit);
}

/*
 * The memo of names an answer address blocked (addr_memo.h): is the prepared
 * name q remembered, and is its address blocked by the list l now (mt)? The
 * address is matched again as for an answer (addr_verdict: protection,
 * suspension, windows and withdrawals count at once), so the memo itself
 * never blocks: it holds no list pointer and needs no emptying when the list
 * changes. Any worker thread, inside the operate() section.
 */
static bool memo_blocked(const struct rs_module *m, const struct rs_list *l, const struct rs_qname *q, time_t now,
			 struct rs_match *mt)
{
	uint8_t a[16];
	int family;

	return rs_list_has_prefixes(l) &&
	       rs_addr_memo_get(m->memo, q->wire, q->len, q->hash[0], (int64_t)now, &family, a) &&
	       addr_verdict(l, family, a, now, m, mt) == RS_BLOCKED;
}

/* Are the wire names a and b (any case) the same? */
static bool same_name(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && query_dname_compare((uint8_t *)a, (uint8_t *)b) == 0;
}

/*
 * The answer rep was blocked by the address addr (family 4 or 6) of one of
 * its A/AAAA RRsets: remember the query name q (prepared; NULL: the root,
 * never remembered) and the owner of every CNAME,
 * A and AAAA RRset of its answer section (the chain that led to the
 * address), until the shortest TTL of that section runs out (at most
 * cache-max-ttl), so that the first visit of the next query for any of them,
 * of any type, is blocked without asking upstream (the answer's cached
 * messages are removed; its RRsets may stay or go). Not for a bogus answer.
 * The TTLs of a returned message are relative (Unbound copies cached RRsets
 * out with `now` subtracted).
 */
static void memo_fill(struct module_qstate *qs, const struct rs_module *m, const struct rs_qname *q,
		      struct reply_info *rep, time_t now, int family, const uint8_t *addr)
{
	time_t ttl = qs->env->cfg ? (time_t)qs->env->cfg->max_ttl : 86400;
	size_t n = rep->an_numrrsets < rep->rrset_count ? rep->an_numrrsets : rep->rrset_count;

	if (!m->memo || rep->security == sec_status_bogus)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct packed_rrset_data *d = rep->rrsets[i]->entry.data;
		if (d && d->ttl < ttl)
			ttl = d->ttl;
	}
	if (ttl <= 0)
		return;
	if (q)
		rs_addr_memo_put(m->memo, q->wire, q->len, q->hash[0], family, addr, (int64_t)now + ttl);
	for (size_t i = 0; i < n; i++) {
		const struct ub_packed_rrset_key *k = rep->rrsets[i];
		uint16_t t = ntohs(k->rk.type);
		struct rs_qname o;
		if ((t != LDNS_RR_TYPE_CNAME && t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA) ||
		    same_name(k->rk.dname, k->rk.dname_len, qs->qinfo.qname, qs->qinfo.qname_len) ||
		    rs_qname_prepare(k->rk.dname, k->rk.dname_len, &o) <= 0)
			continue;
		rs_addr_memo_put(m->memo, o.wire, o.len, o.hash[0], family, addr, (int64_t)now + ttl);
	}
}

/*
 * The verdict for a finished answer: the query name, then the owners and the
 * targets of the CNAME/DNAME records of the answer section, then (when the
 * list holds prefixes) the addresses of its A/AAAA records (after the chain),
 * then (class IN) the memo (a name an address blocked meanwhile: the AAAA
 * query of a dual-stack client that passed its first visit just before its
 * A was blocked). A protected query name is never blocked; the first blocked
 * name wins, and names go before addresses. A block by an answer address is
 * remembered (memo_fill).
 */
static enum rs_verdict match_answer(struct module_qstate *qs, const struct rs_module *m, time_t now,
				    struct rs_match *mt, bool *chain)
{
	struct reply_info *rep = qs->return_msg ? qs->return_msg->rep : NULL;
	const struct rs_list *l = list_of(m);
	struct rs_qname q;
	enum rs_verdict v;
	const uint8_t *hit = NULL;
	bool named = rs_qname_prepare(qs->qinfo.qname, qs->qinfo.qname_len, &q) > 0; /* not the root */

	*chain = false;
	v = named ? rs_list_match(l, &q, (int64_t)now, mt) : RS_PASS;
	if (v != RS_PASS || !rep)
		return v;
	for (size_t i = 0; i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		struct ub_packed_rrset_key *k = rep->rrsets[i];
		struct packed_rrset_data *d = k->entry.data;
		uint16_t t = ntohs(k->rk.type);

		/* the owner: unless it is the query name, matched above */
		if (!same_name(k->rk.dname, k->rk.dname_len, qs->qinfo.qname, qs->qinfo.qname_len) &&
		    match_name(m, k->rk.dname, k->rk.dname_len, now, mt) == RS_BLOCKED) {
			*chain = true;
			return RS_BLOCKED;
		}
		if ((t == LDNS_RR_TYPE_CNAME || t == LDNS_RR_TYPE_DNAME) && d && d->count > 0 && d->rr_len[0] > 2 &&
		    match_name(m, d->rr_data[0] + 2, d->rr_len[0] - 2, now, mt) == RS_BLOCKED) {
			*chain = true;
			return RS_BLOCKED;
		}
	}
	if (!rs_list_has_prefixes(l))
		return RS_PASS;
	for (size_t i = 0; i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		const struct ub_packed_rrset_key *k = rep->rrsets[i];
		if (addr_rrset_blocked(m, l, k, now, mt, &hit)) {
			memo_fill(qs, m, named ? &q : NULL, rep, now, ntohs(k->rk.type) == LDNS_RR_TYPE_A ? 4 : 6, hit);
			*chain = true;
			return RS_BLOCKED;
		}
	}
	if (named && qs->qinfo.qclass == LDNS_RR_CLASS_IN && memo_blocked(m, l, &q, now, mt))
		return RS_BLOCKED;
	return RS_PASS;
}

/*
 * The verdict at a query's first visit: its name, then (class IN) the memo
 * of names an answer address blocked (memo_blocked): a name blocked by its
 * address, whose messages moddone removed, is blocked again without an
 * upstream query, for every type (TXT gets the order's text, as for a listed
 * name). One name preparation serves both; with no listed prefix the memo
 * costs one test.
 */
static enum rs_verdict first_visit(struct module_qstate *qs, const struct rs_module *m, time_t now,
				   struct rs_match *mt)
{
	const struct rs_list *l = list_of(m);
	struct rs_qname q;
	enum rs_verdict v;

	if (rs_qname_prepare(qs->qinfo.qname, qs->qinfo.qname_len, &q) <= 0)
		return RS_PASS;
	v = rs_list_match(l, &q, (int64_t)now, mt);
	if (v == RS_PASS && qs->qinfo.qclass == LDNS_RR_CLASS_IN && memo_blocked(m, l, &q, now, mt))
		return RS_BLOCKED;
	return v;
}

/*
 * An address block was decided for a name (the query name or a name of its
 * chain): remove its cached messages of every type an address answers
 * (A, AAAA, ANY, SVCB, HTTPS; both CD variants), not only the asked one. A
 * dual-stack client asks A and AAAA at once: the AAAA (an unlisted IPv6
 * address) passes and is cached while the A is blocked; without this the
 * AAAA stays a message-cache hit, which never reaches the module. Once gone,
 * the next AAAA is a miss and its first visit finds the name in the memo.
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

/* Remove the message-cache entries of qinfo (both hash variants). */
static void purge_msg(struct module_qstate *qs, struct query_info *qi)
{
	msg_cache_remove(qs->env, qi->qname, qi->qname_len, qi->qtype, qi->qclass, 0);
	msg_cache_remove(qs->env, qi->qname, qi->qname_len, qi->qtype, qi->qclass, BIT_CD);
}

/* Purge what the iterator cached for this query and for each name of its
 * answer section (a CNAME target that is blocked must not be answered from the
 * message cache either); a name is purged once (the owner of the answer's
 * first RRset is usually the query name). */
static void purge_answer(struct module_qstate *qs, bool by_addr)
{
	struct reply_info *rep = qs->return_msg ? qs->return_msg->rep : NULL;
	const uint8_t *prev = qs->qinfo.qname;
	size_t prevlen = qs->qinfo.qname_len;

	purge_msg(qs, &qs->qinfo);
	if (by_addr)
		purge_addr_msgs(qs, qs->qinfo.qname, qs->qinfo.qname_len);
	for (size_t i = 0; rep && i < rep->an_numrrsets && i < rep->rrset_count; i++) {
		struct query_info qi = qs->qinfo;
		qi.qname = rep->rrsets[i]->rk.dname;
		qi.qname_len = rep->rrsets[i]->rk.dname_len;
		if (same_name(qi.qname, qi.qname_len, prev, prevlen) ||
		    same_name(qi.qname, qi.qname_len, qs->qinfo.qname, qs->qinfo.qname_len))
			continue;
		prev = qi.qname;
		prevlen = qi.qname_len;
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

	if (m && worker_gen != m->gen) { /* this worker's first query of this generation */
		purge_door_open(m, qs->env);
		rs_sync_serving(m->sync);
	}
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

/* ---- blocked answers in the message cache (see RS_CACHED_MARK) ---- */

/* ASCII lowercase (as Unbound compares names), no locale. */
static inline uint8_t lc(uint8_t c)
{
	return (uint8_t)((unsigned)c - 'A' < 26u ? c + ('a' - 'A') : c);
}

/* Where a struct rs_stored of rep would start. */
static size_t stored_at(const struct reply_info *rep)
{
	return offsetof(struct reply_info, ref) + rep->rrset_count * (sizeof(struct rrset_ref) + sizeof(*rep->rrsets));
}

/* Unbound's debugging allocators put a header before each block (config.h
 * then maps malloc and free to them): malloc_usable_size cannot measure their
 * blocks, so no message gets the record and its replies match again. */
#if defined(UNBOUND_ALLOC_STATS) || defined(UNBOUND_ALLOC_LITE)
#define RS_STORED_RECORD 0
#else
#define RS_STORED_RECORD 1
#endif

/* The struct rs_stored of a message for the query name (any case), if it
 * has one (see there; its counter is the caller's to compare). now: a copy
 * made for the reply (tomsg) holds TTLs relative to now, the cache's own
 * message absolute times. */
static const struct rs_stored *stored_of(const struct reply_info *rep, const uint8_t *qname, size_t qlen, time_t now)
{
	const struct rs_stored *st;
	size_t at;

	if (!RS_STORED_RECORD || rep->rrset_count == 0 || rep->rrset_count > RR_COUNT_MAX || rep->ttl < now / 2)
		return NULL; /* a relative TTL: a copy (of a region, maybe), never measured */
	at = stored_at(rep);
	if ((const char *)rep->rrsets != (const char *)rep + at - rep->rrset_count * sizeof(*rep->rrsets))
		return NULL; /* not a message of one allocation */
	if (malloc_usable_size((void *)rep) < at + sizeof(*st) + qlen)
		return NULL;
	st = (const struct rs_stored *)(const void *)((const char *)rep + at);
	if (st->qlen != qlen)
		return NULL;
	if (memcmp(st->qname, qname, qlen) == 0)
		return st; /* the usual case: a lowercase query */
	for (size_t i = 0; i < qlen; i++)
		if (st->qname[i] != lc(qname[i]))
			return NULL;
	return st;
}

/*
 * rep (a reply_info_copy without a region: one allocation, its RRsets not
 * in it) moved into an allocation that also holds a struct rs_stored for
 * the query name qname (lowercased here), mt and lgen. Without the memory
 * for it, rep as it is: its replies then match the name again. NULL only for
 * a NULL rep.
 */
static struct reply_info *with_stored(struct reply_info *rep, const uint8_t *qname, size_t qlen,
				      const struct rs_match *mt, uint64_t lgen)
{
	struct reply_info *t;
	struct rs_stored *st;
	size_t at;

	if (!RS_STORED_RECORD || !rep || qlen > RS_WIRE_MAX)
		return rep;
	at = stored_at(rep);
	t = malloc(at + sizeof(*st) + qlen);
	if (!t)
		return rep;
	memcpy(t, rep, at); /* the header, the rrset_ref array and the pointer array */
	t->rrsets = (struct ub_packed_rrset_key **)(void *)((char *)t + at - t->rrset_count * sizeof(*t->rrsets));
	st = (struct rs_stored *)(void *)((char *)t + at);
	st->gen = lgen;
	st->until = mt->until;
	st->order = mt->order;
	st->entry = mt->entry;
	st->qlen = (uint8_t)qlen;
	for (size_t i = 0; i < qlen; i++)
		st->qname[i] = lc(qname[i]);
	free(rep); /* the block only: its RRsets are t's now */
	return t;
}

/*
 * Store the blocked answer just built for a listed name (first visit, this
 * module first in module-config) in the message cache, its RRsets in the
 * RRset cache, as dns_cache_store would, with the two marks (the RRset keys
 * get RS_CACHED_FLAG: never in place of real data). Its TTL is the
 * answer's, cut at the order's next transition (expiry, window end), at the
 * first time another order may win (rs_match.until) and at RS_CACHED_TTL_MAX,
 * so that a missed purge cannot outlive the match. Not
 * stored: other classes, REFUSED (no records), TTL 0, queries that must not
 * be cached (no_cache_store), and when the cache callback is missing (the
 * replies could not be counted). gen: purge_gen read before the match; if a
 * purge started since, it may have missed this entry: it is removed again.
 * lgen: the list's change counter read before the match (struct rs_stored).
 * Worker thread, inside operate().
 */
static void store_blocked(struct module_qstate *qs, struct rs_module *m, const struct rs_match *mt, unsigned gen,
			  uint64_t lgen)
{
	struct module_env *env = qs->env;
	struct reply_info *src = qs->return_msg ? qs->return_msg->rep : NULL, *rep;
	struct msgreply_entry *e;
	struct query_info qi;
	time_t now = *env->now, ttl = m->conf.ttl;
	int64_t next = rs_order_next_transition(mt->order, (int64_t)now);
	hashvalue_type h;

	if (!m->cache_cb || !src || src->rrset_count == 0 || qs->qinfo.qclass != LDNS_RR_CLASS_IN ||
	    qs->no_cache_store || !env->msg_cache || !env->rrset_cache || !env->alloc)
		return;
	if (next > 0 && next - (int64_t)now < (int64_t)ttl)
		ttl = (time_t)(next - (int64_t)now);
	if (mt->until - (int64_t)now < (int64_t)ttl) /* an order passed over may start then */
		ttl = (time_t)(mt->until - (int64_t)now);
	if (ttl > RS_CACHED_TTL_MAX)
		ttl = RS_CACHED_TTL_MAX;
	if (ttl <= 0)
		return;
	rep = with_stored(reply_info_copy(src, env->alloc, NULL), qs->qinfo.qname, qs->qinfo.qname_len, mt, lgen);
	if (!rep)
		return;
	rep->ttl = ttl;
	rep->prefetch_ttl = PREFETCH_TTL_CALC(ttl);
	rep->serve_expired_ttl = ttl + (env->cfg ? env->cfg->serve_expired_ttl : 0);
	rep->reason_bogus = RS_CACHED_MARK;
	for (size_t i = 0; i < rep->rrset_count; i++) {
		struct ub_packed_rrset_key *k = rep->rrsets[i];
		struct packed_rrset_data *d = k->entry.data;
		k->rk.flags |= RS_CACHED_FLAG; /* a key of its own: see RS_CACHED_FLAG */
		k->entry.hash = rrset_key_hash(&k->rk); /* the synthesised key has none */
		d->ttl = ttl;
		for (size_t j = 0; j < d->count + d->rrsig_count; j++)
			d->rr_ttl[j] = ttl;
		rep->ref[i].key = k;
		rep->ref[i].id = k->id;
	}
	reply_info_set_ttls(rep, now);
	for (size_t i = 0; i < rep->rrset_count; i++) {
		/* 1, 2: an equal RRset of ours was cached already: use it */
		if (rrset_cache_update(env->rrset_cache, &rep->ref[i], env->alloc, now) != 0)
			rep->rrsets[i] = rep->ref[i].key;
	}
	reply_info_sortref(rep);
	qi = qs->qinfo;
	qi.local_alias = NULL;
	h = query_info_hash(&qi, qs->query_flags); /* the same name: hashed before the copy */
	qi.qname = memdup(qs->qinfo.qname, qs->qinfo.qname_len);
	e = qi.qname ? query_info_entrysetup(&qi, rep, h) : NULL;
	if (!e) {
		free(qi.qname);
		free(rep); /* its RRsets belong to the RRset cache now */
		return;
	}
	atomic_store(&m->cached_any, true);
	slabhash_insert(env->msg_cache, h, &e->entry, rep, env->alloc); /* rep is the cache's from here on */
	if (atomic_load(&m->purge_gen) != gen) {
		/* a purge ran meanwhile and may have passed this entry's bin */
		msg_cache_remove(env, qs->qinfo.qname, qs->qinfo.qname_len, qs->qinfo.qtype, qs->qinfo.qclass,
				 qs->query_flags);
		for (size_t i = 0; i < src->rrset_count; i++) {
			const struct ub_packed_rrset_key *k = src->rrsets[i];
			rrset_cache_remove(env->rrset_cache, k->rk.dname, k->rk.dname_len, ntohs(k->rk.type),
					   ntohs(k->rk.rrset_class), k->rk.flags | RS_CACHED_FLAG);
		}
	}
}

/* Is the answer of this state a stored blocked answer (found by the
 * iterator's message-cache lookup; only once per state: no_cache_lookup)? */
static bool from_stored(const struct module_qstate *qs)
{
	return !qs->no_cache_lookup && qs->return_msg && qs->return_msg->rep &&
	       qs->return_msg->rep->reason_bogus == RS_CACHED_MARK;
}

/*
 * The EDNS buffer size of the client of a cache reply. answer_from_cache has
 * already put Unbound's own size into edns->udp_size, so it is read again
 * from the query, which is still in the buffer (Unbound accepts at most one
 * additional record, the OPT), and bounded as worker_handle_request does. TCP
 * and other streams: 65535. Anything unexpected: 512, the least a client
 * can have.
 */
static size_t cache_client_udp(const struct rs_module *m, const struct comm_reply *repinfo)
{
	const struct config_file *cfg = m->env ? m->env->cfg : NULL;
	const uint8_t *p;
	size_t n, pos = LDNS_HEADER_SIZE, u;

	if (!repinfo->c || repinfo->c->type != comm_udp)
		return 65535;
	p = sldns_buffer_begin(repinfo->c->buffer);
	n = sldns_buffer_limit(repinfo->c->buffer);
	if (n < LDNS_HEADER_SIZE || LDNS_ANCOUNT(p) != 0 || LDNS_NSCOUNT(p) != 0 || LDNS_ARCOUNT(p) != 1)
		return 512;
	while (pos < n && p[pos] != 0) {
		if (p[pos] & 0xc0)
			return 512;
		pos += p[pos] + 1;
	}
	pos += 1 + 4; /* the root label, QTYPE, QCLASS */
	if (pos + 11 > n || p[pos] != 0 || sldns_read_uint16(p + pos + 1) != LDNS_RR_TYPE_OPT)
		return 512;
	u = sldns_read_uint16(p + pos + 3);
	if (cfg && u < 512 && cfg->harden_short_bufsize)
		u = 512;
	if (cfg && u > cfg->max_udp_size)
		u = cfg->max_udp_size;
	return u < LDNS_HEADER_SIZE ? 512 : u;
}

/*
 * A stored blocked answer goes out from the cache: count it and add the EDE
 * (EDNS clients only, fitted to the client's buffer), from the order that
 * blocks the name now. While the list has not changed since the answer was
 * stored and its order still applies, that is the order and entry kept with
 * it (struct rs_stored: no second match, the common case); otherwise (a
 * change since, whose purge also removes the answer; a copy of the message
 * without them) the name is matched again, so a change is followed at once.
 * Not listed any more (the purge of the change is on its way): neither
 * counted nor marked.
 * Worker thread, the message and its RRsets read-locked by Unbound.
 */
__attribute__((noinline, cold)) static void cached_reply(struct rs_module *m, struct query_info *qinfo,
							  struct reply_info *rep, struct edns_data *edns,
							  struct edns_option **opt_list_out, struct comm_reply *repinfo,
							  struct regional *region, time_t now)
{
	const struct rs_stored *st = stored_of(rep, qinfo->qname, qinfo->qname_len, now);
	struct rs_match mt;
	bool blocked;

	rs_ebr_enter();
	if (st && st->gen == rs_list_change_gen(list_of(m)) && (int64_t)now < st->until &&
	    rs_order_applies(st->order, (int64_t)now)) {
		/* nothing changed since the match: its order and entry stand */
		mt.order = st->order;
		mt.entry = st->entry;
		blocked = true;
	} else {
		blocked = match_name(m, qinfo->qname, qinfo->qname_len, now, &mt) == RS_BLOCKED && mt.entry;
	}
	if (blocked) {
		rs_stats_record(m->stats, mt.order, mt.entry, (const struct sockaddr *)&repinfo->client_addr,
				repinfo->client_addrlen, now);
		if (edns && edns->edns_present && opt_list_out) {
			const struct rs_conf *c = &m->conf;
			const char *ede;
			bool sde = edns_opt_list_find(edns->opt_list_in, (uint16_t)c->sde_option_code) != NULL;
			size_t opts = 0;
			for (const struct edns_option *o = edns->opt_list_out; o; o = o->next)
				opts += 4 + o->opt_len;
			for (const struct edns_option *o = *opt_list_out; o; o = o->next)
				opts += 4 + o->opt_len;
			ede = rs_answer_ede_text(c, mt.order, qinfo->qname_len, rs_answer_rrs_size(rep), opts,
						 cache_client_udp(m, repinfo), sde);
			if (ede && !edns_opt_list_append_ede(opt_list_out, region, LDNS_EDE_CENSORED, ede))
				log_err("redsink: out of memory adding the EDE to a cached blocked answer");
		}
	}
	rs_ebr_leave();
}

/*
 * Called by Unbound for every reply from the message cache: one compare for
 * every answer not stored by this module (RS_CACHED_MARK).
 */
static int on_cache_reply(struct query_info *qinfo, struct module_qstate *qs, struct reply_info *rep, int rcode,
			  struct edns_data *edns, struct edns_option **opt_list_out, struct comm_reply *repinfo,
			  struct regional *region, struct timeval *start_time, int id, void *cb_arg)
{
	if (__builtin_expect(rep != NULL && rep->reason_bogus == RS_CACHED_MARK, 0) && cb_arg && qinfo && repinfo)
		cached_reply(cb_arg, qinfo, rep, edns, opt_list_out, repinfo, region,
			     start_time ? (time_t)start_time->tv_sec : time(NULL));
	return 1;
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
		/* both before the match: store_blocked */
		unsigned gen = atomic_load(&m->purge_gen);
		uint64_t lgen = rs_list_change_gen(list_of(m));
		mt.until = 0; /* kept only as rs_list_match sets it */
		if (first_visit(qs, m, now, &mt) == RS_BLOCKED) {
			blocked(qs, id, m, &mt);
			if (id == 0 && mt.entry && qs->ext_state[id] == module_finished)
				store_blocked(qs, m, &mt, gen, lgen); /* a listed name: the next query is a cache hit */
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
		if (from_stored(qs) && !(q && q->kind == RS_Q_BLOCKED) &&
		    ((!q && (qs->is_valrec || !has_clients(qs))) || !m ||
		     match_answer(qs, m, now, &mt, &chain) != RS_BLOCKED)) {
			/*
			 * The iterator's message-cache lookup answered this state
			 * with a stored blocked answer (tomsg copies the mark):
			 *  - a state the module never saw and no client waits for
			 *    (the iterator's own: a name server's address, a DS or
			 *    DNSKEY of the validator): the sinkhole must not become
			 *    a name server's address;
			 *  - any other state whose name is not blocked any more (a
			 *    withdrawal whose purge has not run yet): the sinkhole
			 *    would go out unmarked and uncounted.
			 * (A client state still blocked is replaced below.)
			 * Once, again from the validator down, without the
			 * message cache: it resolves as before issue 15. The RRset
			 * cache needs nothing (RS_CACHED_FLAG).
			 */
			qs->no_cache_lookup = 1;
			qs->return_msg = NULL;
			qs->return_rcode = LDNS_RCODE_NOERROR;
			qs->ext_state[id] = module_restart_next;
			return;
		}
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
	return sizeof(*m) + st.mem_bytes + rs_addr_memo_mem(m->memo);
}
