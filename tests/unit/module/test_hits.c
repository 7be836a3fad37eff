/* test_hits.c — counting blocked answers (and warnd's page views): regions, hour keys, rings,
 * aggregation, restore, the key option, the pending-full warning; address hits, discovered
 * names and the collateral alarm (report and suspend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "disc.h"
#include "list.h"
#include "load.h"
#include "prefix.h"
#include "rs_err.h"
#include "stats.h"

static void region(const char *cc, const char *sub, const char *want)
{
	char out[RS_REGION_MAX];

	rs_region_format(cc, cc ? strlen(cc) : 0, sub, sub ? strlen(sub) : 0, out);
	assert_string_equal(out, want);
}

static void test_region_format(void **state)
{
	region("IT", NULL, "IT");
	region("kr", "11", "KR-11");
	region("KR", "KR-11", "KR-11");
	region("US", "CA", "US-CA");
	region("FR", "", "FR");
	region("FR", "toolong", "FR");      /* not an ISO 3166-2 suffix: country only */
	region("FR", "7<", "FR");
	region("ITA", "25", "ZZ");
	region("1T", NULL, "ZZ");
	region(NULL, NULL, "ZZ");
	region("", NULL, "ZZ");
}

static void test_hour_key(void **state)
{
	char h[16];

	rs_hour_key(1795869015, h); /* 2026-11-28T12:30:15Z */
	assert_string_equal(h, "2026-11-28T12");
	rs_hour_key(0, h);
	assert_string_equal(h, "1970-01-01T00");
}

struct fixture {
	struct rs_list *l;
	const struct rs_order *o;
	const struct rs_entry *e;
};

static void setup_list(struct fixture *f)
{
	static struct rs_conf c = { .language = "en" };
	const char *kv[] = { "authority", "Court", "reference", "R", "scope", "*", "action", "nxdomain" };
	uint8_t w[RS_WIRE_MAX];
	struct rs_order *o;
	struct rs_qname q;
	struct rs_match m;
	char err[64];
	uint32_t idx;
	int n;

	f->l = rs_list_new(0);
	assert_int_equal(rs_order_parse(&c, "o1", kv, 4, &o, err, sizeof(err)), 0);
	assert_int_equal(rs_list_order_set(f->l, o, &idx), 0);
	n = rs_domain_wire("pirate.example", 14, w);
	assert_int_equal(rs_list_add(f->l, w, (size_t)n, idx), 0);
	rs_qname_prepare(w, (size_t)n, &q);
	assert_int_equal(rs_list_match(f->l, &q, 0, &m), RS_BLOCKED);
	f->o = m.order;
	f->e = m.entry;
}

static void test_record_drain_take_restore(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct fixture f;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct rs_stats_counters sc;
	struct rs_hit_batch b;

	setup_list(&f);
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	for (int i = 0; i < 5; i++)
		rs_stats_record(s, f.o, f.e, (struct sockaddr *)&sin, sizeof(sin), 1795869015);
	rs_stats_record(s, f.o, f.e, (struct sockaddr *)&sin, sizeof(sin), 1795869015 + 3600);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.by_action[RS_ACT_NXDOMAIN], 6);
	assert_int_equal(sc.pending, 6);
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 2);
	for (size_t i = 0; i < b.n; i++) {
		assert_string_equal(b.rows[i].field, "o1|pirate.example|ZZ"); /* no database: ZZ */
		assert_int_equal(b.rows[i].count, strcmp(b.rows[i].hour, "2026-11-28T12") == 0 ? 5 : 1);
	}
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 0);
	rs_stats_restore(s, &b); /* the flush failed: the counts come back */
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 6);
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 2);
	rs_stats_flushed(s, 6, 0);
	rs_hit_batch_free(&b);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.flushed, 6);
	assert_int_equal(sc.dropped, 0);
	rs_stats_free(s);
	rs_list_free(f.l);
}

static void test_pending_is_bounded(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct fixture f;

	setup_list(&f);
	/* 150 distinct hours: 100 keys kept, 50 hits dropped and counted */
	for (int i = 0; i < 150; i++)
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 100);
	assert_int_equal(sc.dropped, 50);
	rs_stats_free(s);
	rs_list_free(f.l);
}

static void test_ring_full_counts_drops(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct fixture f;

	setup_list(&f);
	for (int i = 0; i < 9000; i++) /* the ring holds 8192 between drains */
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 8192);
	assert_int_equal(sc.dropped, 9000 - 8192);
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* redsink-warnd's role: the same counters under views:<hour>. */
static void test_key_from_options(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats_opts views = { .key = "views" };
	struct rs_stats *h = rs_stats_new(&c, NULL), *v = rs_stats_new(&c, &views);

	assert_string_equal(rs_stats_key(h), "hits");
	assert_string_equal(rs_stats_key(v), "views");
	rs_stats_free(h);
	rs_stats_free(v);
}

/* The synchronous lookup warnd uses for a page's language: "ZZ" without a
 * database; a database that cannot be opened is an error, and the one in use
 * (here none) stays. */
static void test_region_lookup_without_database(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char r[RS_REGION_MAX], err[256];

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	rs_stats_region(s, (struct sockaddr *)&sin, sizeof(sin), r);
	assert_string_equal(r, "ZZ");
	rs_stats_region(s, NULL, 0, r);
	assert_string_equal(r, "ZZ");
	assert_int_equal(rs_stats_geo_open(s, "/nonexistent/regions.mmdb", err, sizeof(err)), RS_ECONF);
	assert_non_null(strstr(err, "/nonexistent/regions.mmdb"));
	rs_stats_region(s, (struct sockaddr *)&sin, sizeof(sin), r);
	assert_string_equal(r, "ZZ");
	rs_stats_free(s);
}

static int warnings;
static void count_warnings(int level, const char *msg)
{
	if (level == RS_LOG_WARN && strstr(msg, "dropping counts"))
		warnings++;
}

/* Pending full: logged once, not once per drain, until a flush is answered. */
static void test_pending_full_logged_once(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	rs_log_fn saved = rs_log_hook;
	struct fixture f;

	setup_list(&f);
	rs_log_hook = count_warnings;
	warnings = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 150; i++)
			rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
		rs_stats_drain(s);
	}
	assert_int_equal(warnings, 1);
	rs_stats_flushed(s, 0, 0);
	for (int i = 0; i < 150; i++)
		rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015 + 3600 * i);
	rs_stats_drain(s);
	assert_int_equal(warnings, 2);
	rs_log_hook = saved;
	rs_stats_free(s);
	rs_list_free(f.l);
}


/* ---- address triggers ---- */

static struct rs_prefix pfx(const char *text)
{
	struct rs_prefix p;

	assert_int_equal(rs_prefix_parse(text, &p, NULL, 0), 0);
	return p;
}

/* A text name to wire (no escapes; tests only). */
static size_t wire(const char *name, uint8_t *out)
{
	size_t o = 0;
	const char *l = name;

	while (*l) {
		const char *dot = strchr(l, '.');
		size_t n = dot ? (size_t)(dot - l) : strlen(l);
		out[o++] = (uint8_t)n;
		memcpy(out + o, l, n);
		o += n;
		l += n + (dot ? 1 : 0);
	}
	out[o++] = 0;
	return o;
}

static void record_addr(struct rs_stats *s, const struct fixture *f, const char *prefix, const char *name, time_t t)
{
	struct rs_prefix p = pfx(prefix);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint8_t w[RS_WIRE_MAX];
	size_t n = wire(name, w);

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	rs_stats_record_addr(s, f->o, &p, w, n, (struct sockaddr *)&sin, sizeof(sin), t);
}

static uint64_t row(const struct rs_hit_batch *b, const char *kind, const char *hour, const char *field)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->rows[i].kind, kind) == 0 && strcmp(b->rows[i].hour, hour) == 0 &&
		    strcmp(b->rows[i].field, field) == 0)
			return b->rows[i].count;
	return 0;
}

/* The value of an index row (discovered-names:<hour>, HSET), or NULL. */
static const char *index_value(const struct rs_hit_batch *b, const char *hour, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->rows[i].kind, "discovered-names") == 0 && strcmp(b->rows[i].hour, hour) == 0 &&
		    strcmp(b->rows[i].field, name) == 0) {
			assert_int_equal(b->rows[i].count, 0);
			return b->rows[i].value;
		}
	return NULL;
}

/* An address hit counts under hits:<hour> as order|prefix|region, and the
 * query name (lowercase) under discovered:<hour> as name|order|prefix; both
 * survive a failed flush (restore) with their kind. No client address.
 * Every discovered row comes with an index row discovered-names:<hour>
 * name -> order|prefix (HSET, count 0), rebuilt (not doubled) after a
 * restore. */
static void test_addr_hits_and_discovered(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct rs_hit_batch b;
	struct fixture f;

	setup_list(&f);
	for (int i = 0; i < 3; i++)
		record_addr(s, &f, "198.51.100.0/24", "Mirror1.EXAMPLE", 1795869015);
	record_addr(s, &f, "198.51.100.0/24", "mirror2.example", 1795869015);
	record_addr(s, &f, "2001:db8:7::/48", "mirror2.example", 1795869015 + 3600);
	rs_stats_record(s, f.o, f.e, NULL, 0, 1795869015); /* a name block beside them */
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.by_action[RS_ACT_NXDOMAIN], 6);
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 6 + 3);
	assert_string_equal(index_value(&b, "2026-11-28T12", "mirror1.example"), "o1|198.51.100.0/24");
	assert_string_equal(index_value(&b, "2026-11-28T12", "mirror2.example"), "o1|198.51.100.0/24");
	assert_string_equal(index_value(&b, "2026-11-28T13", "mirror2.example"), "o1|2001:db8:7::/48");
	assert_null(index_value(&b, "2026-11-28T12", "pirate.example")); /* name blocks: no index */
	for (size_t i = 0; i < b.n; i++)
		if (strcmp(b.rows[i].kind, "discovered-names") != 0)
			assert_null(b.rows[i].value);
	assert_int_equal(row(&b, "hits", "2026-11-28T12", "o1|198.51.100.0/24|ZZ"), 4);
	assert_int_equal(row(&b, "hits", "2026-11-28T13", "o1|2001:db8:7::/48|ZZ"), 1);
	assert_int_equal(row(&b, "hits", "2026-11-28T12", "o1|pirate.example|ZZ"), 1);
	assert_int_equal(row(&b, "discovered", "2026-11-28T12", "mirror1.example|o1|198.51.100.0/24"), 3);
	assert_int_equal(row(&b, "discovered", "2026-11-28T12", "mirror2.example|o1|198.51.100.0/24"), 1);
	assert_int_equal(row(&b, "discovered", "2026-11-28T13", "mirror2.example|o1|2001:db8:7::/48"), 1);
	for (size_t i = 0; i < b.n; i++)
		assert_null(strstr(b.rows[i].field, "192.0.2.7"));
	rs_stats_restore(s, &b);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.pending, 4 + 1 + 1 + 3 + 1 + 1); /* index rows are not pending counts */
	rs_stats_take(s, &b);
	assert_int_equal(b.n, 6 + 3);
	assert_string_equal(index_value(&b, "2026-11-28T13", "mirror2.example"), "o1|2001:db8:7::/48");
	assert_int_equal(row(&b, "discovered", "2026-11-28T12", "mirror1.example|o1|198.51.100.0/24"), 3);
	assert_int_equal(row(&b, "hits", "2026-11-28T12", "o1|198.51.100.0/24|ZZ"), 4);
	rs_hit_batch_free(&b);
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* A hostile query name cannot forge fields: every octet but letters,
 * digits, '-' and '_' becomes \DDD ('|' \124, a '.' inside a label \046). */
static void test_discovered_name_escaped(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_prefix p = pfx("198.51.100.7/32");
	const uint8_t w[] = "\005a|B\001.\003x.y\007example";
	struct rs_hit_batch b;
	struct fixture f;

	setup_list(&f);
	rs_stats_record_addr(s, f.o, &p, w, sizeof(w), NULL, 0, 1795869015);
	rs_stats_drain(s);
	rs_stats_take(s, &b);
	assert_int_equal(row(&b, "discovered", "2026-11-28T12", "a\\124b\\001\\046.x\\046y.example|o1|198.51.100.7/32"), 1);
	assert_string_equal(index_value(&b, "2026-11-28T12", "a\\124b\\001\\046.x\\046y.example"), "o1|198.51.100.7/32");
	/* what the module writes is what the readers (redsink-stats, redsink-warnd) accept: lib/disc.h */
	for (size_t i = 0; i < b.n; i++) {
		struct rs_disc_field df;
		if (strcmp(b.rows[i].kind, "discovered") == 0)
			assert_int_equal(rs_disc_field_parse(b.rows[i].field, strlen(b.rows[i].field), &df), 0);
		if (strcmp(b.rows[i].kind, "discovered-names") == 0) {
			assert_true(rs_disc_name_parse(b.rows[i].field, strlen(b.rows[i].field), NULL) > 0);
			assert_int_equal(rs_disc_value_parse(b.rows[i].value, strlen(b.rows[i].value), &df), 0);
		}
	}
	rs_hit_batch_free(&b);
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* The address ring is bounded like the name ring: drops are counted. */
static void test_addr_ring_full_counts_drops(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_stats_counters sc;
	struct fixture f;

	setup_list(&f);
	for (int i = 0; i < 1100; i++)
		record_addr(s, &f, "198.51.100.0/24", "m.example", 1795869015);
	rs_stats_drain(s);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.dropped, 1100 - 1024);
	assert_int_equal(sc.pending, 2 * 1024); /* a hit and a discovered count each */
	rs_stats_free(s);
	rs_list_free(f.l);
}

struct seen {
	char text[512];
	size_t n;
};

static void collect(const char *prefix, unsigned names, bool suspended, void *arg)
{
	struct seen *sn = arg;
	size_t l = strlen(sn->text);

	snprintf(sn->text + l, sizeof(sn->text) - l, "%s%s=%u%s", l ? " " : "", prefix, names, suspended ? "!" : "");
	sn->n++;
}

static int alarms;
static void count_alarms(int level, const char *msg)
{
	if (strstr(msg, "collateral alarm: address prefix"))
		alarms++;
}

/* Distinct names per prefix per hour: a repeated name counts once, a prefix
 * over the threshold is listed (counted up to threshold + 1) and logged once;
 * the next hour starts from zero. */
static void test_collateral_report(void **state)
{
	struct rs_conf c = { .stats_max_pending = 1000, .collateral_threshold = 3 };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	rs_log_fn saved = rs_log_hook;
	struct rs_stats_counters sc;
	struct seen sn = { "", 0 };
	struct fixture f;
	char name[32];
	time_t t = time(NULL); /* rs_stats_counters shows the current hour */

	setup_list(&f);
	rs_log_hook = count_alarms;
	alarms = 0;
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, t);
		record_addr(s, &f, "198.51.100.0/24", name, t); /* again: the same name */
	}
	record_addr(s, &f, "203.0.113.9/32", "pirate1.example", t);
	record_addr(s, &f, "203.0.113.9/32", "PIRATE1.example", t); /* case does not make a new name */
	rs_stats_drain(s);
	assert_int_equal(rs_stats_collateral(s, t, collect, &sn), 0);
	assert_int_equal(alarms, 0);
	for (int i = 3; i < 10; i++) {
		snprintf(name, sizeof(name), "site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, t);
	}
	rs_stats_drain(s);
	assert_int_equal(rs_stats_collateral(s, t, collect, &sn), 1);
	assert_string_equal(sn.text, "198.51.100.0/24=4"); /* report mode: not suspended */
	assert_int_equal(alarms, 1);
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.collateral, 1);
	assert_int_equal(sc.suspended, 0);
	assert_false(rs_stats_suspended(s, &(struct rs_prefix){ 0 }));
	{
		struct rs_prefix p = pfx("198.51.100.0/24");
		assert_false(rs_stats_suspended(s, &p));
	}
	/* the next hour: nothing shown until it is over the threshold again */
	assert_int_equal(rs_stats_collateral(s, t + 3600, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, t + 3600);
	}
	record_addr(s, &f, "198.51.100.0/24", "late.example", t); /* a record of the past hour: not counted */
	rs_stats_drain(s);
	assert_int_equal(rs_stats_collateral(s, t + 3600, NULL, NULL), 1);
	assert_int_equal(alarms, 2);
	rs_log_hook = saved;
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* The alarm counts distinct registrable domains (lib/disc.h rs_disc_base),
 * not names: made-up names under one domain (a wildcard on the blocked
 * party's own listed address) count once, so they cannot switch the block
 * off; names of distinct domains still do. */
static void test_collateral_counts_domains_not_names(void **state)
{
	struct rs_conf c = { .stats_max_pending = 100000, .collateral_threshold = 50,
			     .collateral_action = RS_COLLATERAL_SUSPEND };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_prefix own = pfx("203.0.113.9/32"), shared = pfx("198.51.100.0/24");
	rs_log_fn saved = rs_log_hook;
	struct seen sn = { "", 0 };
	struct fixture f;
	char name[64];
	time_t t = time(NULL);

	setup_list(&f);
	rs_log_hook = count_alarms;
	alarms = 0;
	for (int i = 1; i <= 51; i++) {
		snprintf(name, sizeof(name), "rand%d.pirate.example", i);
		record_addr(s, &f, "203.0.113.9/32", name, t);
		snprintf(name, sizeof(name), "x%d.Pirate.CO.UK", i);   /* one registrable domain too */
		record_addr(s, &f, "203.0.113.9/32", name, t);
	}
	rs_stats_drain(s);
	assert_false(rs_stats_suspended(s, &own));
	assert_int_equal(rs_stats_collateral(s, t, NULL, NULL), 0);
	assert_int_equal(alarms, 0);
	/* 51 sites on a shared address: over the threshold */
	for (int i = 1; i <= 51; i++) {
		snprintf(name, sizeof(name), "www.site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, t);
	}
	rs_stats_drain(s);
	assert_true(rs_stats_suspended(s, &shared));
	assert_false(rs_stats_suspended(s, &own));
	assert_int_equal(rs_stats_collateral(s, t, collect, &sn), 1);
	assert_string_equal(sn.text, "198.51.100.0/24=51!");
	assert_int_equal(alarms, 1);
	rs_log_hook = saved;
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* collateral-threshold: 0 turns the alarm off. */
static void test_collateral_off(void **state)
{
	struct rs_conf c = { .stats_max_pending = 1000, .collateral_threshold = 0,
			     .collateral_action = RS_COLLATERAL_SUSPEND };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_prefix p = pfx("198.51.100.0/24");
	struct fixture f;
	char name[32];

	setup_list(&f);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, 1795869015);
	}
	rs_stats_drain(s);
	assert_int_equal(rs_stats_collateral(s, 1795869015, NULL, NULL), 0);
	assert_false(rs_stats_suspended(s, &p));
	rs_stats_free(s);
	rs_list_free(f.l);
}

/* collateral-action: suspend: a prefix over the threshold stops triggering
 * until it is confirmed; a confirmed prefix is never suspended; taking the
 * confirmation back suspends it again at its next blocked name. */
static void test_collateral_suspend_and_confirm(void **state)
{
	struct rs_conf c = { .stats_max_pending = 1000, .collateral_threshold = 2,
			     .collateral_action = RS_COLLATERAL_SUSPEND };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	struct rs_prefix shared = pfx("198.51.100.0/24"), other = pfx("2001:db8:9::/48"), dedicated = pfx("203.0.113.9/32");
	rs_log_fn saved = rs_log_hook;
	struct rs_stats_counters sc;
	struct seen sn = { "", 0 };
	struct fixture f;
	time_t t = time(NULL); /* rs_stats_counters shows the current hour */

	setup_list(&f);
	rs_log_hook = count_alarms;
	rs_stats_confirm(s, &other, 1); /* confirmed before it ever crossed */
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "site%d.example", i);
		record_addr(s, &f, "198.51.100.0/24", name, t);
		record_addr(s, &f, "2001:db8:9::/48", name, t);
	}
	record_addr(s, &f, "203.0.113.9/32", "pirate.example", t);
	rs_stats_drain(s);
	assert_true(rs_stats_suspended(s, &shared));
	assert_false(rs_stats_suspended(s, &other));
	assert_false(rs_stats_suspended(s, &dedicated));
	assert_int_equal(rs_stats_collateral(s, t, collect, &sn), 2);
	assert_non_null(strstr(sn.text, "198.51.100.0/24=3!"));
	assert_non_null(strstr(sn.text, "2001:db8:9::/48=3"));
	assert_null(strstr(sn.text, "2001:db8:9::/48=3!"));
	rs_stats_counters(s, &sc);
	assert_int_equal(sc.suspended, 1);
	/* the next hour: still suspended (listed with 0 names) */
	sn.text[0] = '\0';
	assert_int_equal(rs_stats_collateral(s, t + 3600, collect, &sn), 0);
	assert_string_equal(sn.text, "198.51.100.0/24=0!");
	/* a person confirms it: it triggers again */
	{
		struct rs_prefix both[2] = { shared, other };
		rs_stats_confirm(s, both, 2);
	}
	assert_false(rs_stats_suspended(s, &shared));
	record_addr(s, &f, "198.51.100.0/24", "site9.example", t);
	rs_stats_drain(s);
	assert_false(rs_stats_suspended(s, &shared));
	/* the confirmation is taken back: the next blocked name suspends it again */
	rs_stats_confirm(s, NULL, 0);
	record_addr(s, &f, "198.51.100.0/24", "site0.example", t);
	rs_stats_drain(s);
	assert_true(rs_stats_suspended(s, &shared));
	rs_log_hook = saved;
	rs_stats_free(s);
	rs_list_free(f.l);
}

static int not_suspended_logs;

static void count_not_suspended(int level, const char *msg)
{
	if (strstr(msg, "not suspended"))
		not_suspended_logs++;
}

/* Restoring the suspended set a snapshot kept (hostile input: repeats,
 * invalid records, more than the cap): one sorted, deduplicated set capped
 * at 4096, published once (not one copy of the whole set per record), the
 * excess logged once. Merged with a set suspended already. */
static void test_suspend_restore_once_capped(void **state)
{
	struct rs_conf c = { .stats_max_pending = 1000, .collateral_threshold = 10,
			     .collateral_action = RS_COLLATERAL_SUSPEND };
	struct rs_stats *s = rs_stats_new(&c, NULL);
	enum { MAX = 4096, N = MAX + 100 };
	static struct rs_prefix in[2 * N + 1];
	struct rs_prefix *got, a = pfx("192.0.2.0/24"), b = pfx("198.51.100.0/24");
	rs_log_fn saved = rs_log_hook;
	size_t n = 0, ngot;
	uint64_t gen;

	assert_non_null(s);
	for (int i = N - 1; i >= 0; i--) { /* unsorted, each twice */
		struct rs_prefix p = { .family = 6, .len = 128 };
		p.addr[0] = 0x20, p.addr[1] = 0x01, p.addr[14] = (uint8_t)(i >> 8), p.addr[15] = (uint8_t)i;
		in[n++] = p;
		in[n++] = p;
	}
	in[n++] = (struct rs_prefix){ .family = 9 }; /* invalid: skipped */
	rs_log_hook = count_not_suspended;
	not_suspended_logs = 0;
	gen = rs_stats_suspended_gen(s);
	rs_stats_suspend_restore(s, in, n);
	assert_int_equal(rs_stats_suspended_gen(s), gen + 1); /* one set published */
	assert_int_equal(not_suspended_logs, 1);               /* the excess, once */
	assert_int_equal(rs_stats_suspended_get(s, &got, &ngot), 0);
	assert_int_equal(ngot, MAX);
	for (size_t i = 1; i < ngot; i++)
		assert_true(memcmp(&got[i - 1], &got[i], sizeof(*got)) < 0); /* sorted, no repeats */
	for (size_t i = 0; i < ngot; i++)
		assert_true(rs_stats_suspended(s, &got[i]));
	free(got);
	rs_stats_free(s);

	/* merged with what is suspended already; repeats of it add nothing */
	s = rs_stats_new(&c, NULL);
	assert_non_null(s);
	rs_stats_suspend_restore(s, &a, 1);
	gen = rs_stats_suspended_gen(s);
	in[0] = b, in[1] = a, in[2] = b;
	not_suspended_logs = 0;
	rs_stats_suspend_restore(s, in, 3);
	assert_int_equal(rs_stats_suspended_gen(s), gen + 1);
	assert_int_equal(not_suspended_logs, 0);
	assert_int_equal(rs_stats_suspended_get(s, &got, &ngot), 0);
	assert_int_equal(ngot, 2);
	assert_true(rs_stats_suspended(s, &a) && rs_stats_suspended(s, &b));
	free(got);
	rs_stats_free(s);
	rs_log_hook = saved;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_format),
		cmocka_unit_test(test_hour_key),
		cmocka_unit_test(test_record_drain_take_restore),
		cmocka_unit_test(test_pending_is_bounded),
		cmocka_unit_test(test_ring_full_counts_drops),
		cmocka_unit_test(test_key_from_options),
		cmocka_unit_test(test_region_lookup_without_database),
		cmocka_unit_test(test_pending_full_logged_once),
		cmocka_unit_test(test_addr_hits_and_discovered),
		cmocka_unit_test(test_discovered_name_escaped),
		cmocka_unit_test(test_addr_ring_full_counts_drops),
		cmocka_unit_test(test_collateral_report),
		cmocka_unit_test(test_collateral_counts_domains_not_names),
		cmocka_unit_test(test_collateral_off),
		cmocka_unit_test(test_collateral_suspend_and_confirm),
		cmocka_unit_test(test_suspend_restore_once_capped),
	};
	return cmocka_run_group_tests_name("hits", tests, NULL, NULL);
}
