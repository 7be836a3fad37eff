/*
 * ctl_fleet.h — the resolvers as redsink-ctl sees them: their heartbeats.
 *
 * Every resolver writes a heartbeat hash, <prefix>resolver:<name>
 * (doc/redis-schema.md), every few seconds with a 30 s expiry. `status`,
 * `dataset` and `check` (the jurisdiction the fleet reports) read them all
 * with ctl_heartbeats(): one SCAN + HGETALL per key, each known field kept
 * as a string ("" when absent), sorted by resolver name.
 *
 * The roster (<prefix>roster, a hash: resolver name -> the jurisdiction it
 * enforces, "" for none given) lists the resolvers that must enforce: one on
 * the roster with no heartbeat is down, not forgotten. ctl_fleet() is the
 * heartbeats and the roster together; `fleet add|remove|list` edit and show
 * the roster.
 */
#ifndef CTL_FLEET_H
#define CTL_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;
struct ctl_hb;

enum ctl_hb_field {
	HB_LAST_ID, HB_LAST_APPLIED, HB_SEEN, HB_ENTRIES, HB_ORDERS, HB_LINK, HB_VERSION, HB_JURIS, HB_APPLIED,
	HB_BAD, HB_RESYNCS, HB_DATASET, HB_DATASET_ALARM,
	/* the node it reads and its replication (doc/redis-schema.md, doc/fleet.md "Lag") */
	HB_READ, HB_READ_ROLE, HB_READ_LINK, HB_READ_IO_AGE, HB_READ_NEWEST, HB_LAG_MS,
	/* address prefixes over the collateral threshold this hour: "<prefix>=<names> ..." (issue 13) */
	HB_COLLATERAL, HB_COLLATERAL_SUSPENDED,
	/* signed orders (issue 14): orders held at an older verified state or refused, failures since start */
	HB_SIG_ALARM, HB_SIG_FAILURES, HB_NFIELDS
};

/* The heartbeat field names, by enum ctl_hb_field. */
extern const char *const ctl_hb_fields[HB_NFIELDS];

/* "SIGNATURE ALARM: resolver R: N orders ..." for every heartbeat in hbs
 * with a non-zero signature_alarm (require-signatures: yes, doc/signing.md);
 * the number of such resolvers. */
size_t ctl_print_signature_alarms(const struct ctl_hb *hbs, size_t n);

struct ctl_hb {
	char *name;            /* the resolver's name (the key without prefix and "resolver:") */
	char *f[HB_NFIELDS];   /* every field, "" when the heartbeat lacks it */
	bool beating;          /* it has a heartbeat (false: on the roster only) */
	bool rostered;         /* it is on the roster */
	char *roster_juris;    /* the jurisdiction the roster gives ("" none or not rostered) */
};

/* Read every heartbeat; a key that is not a hash, or gone meanwhile, is
 * skipped. 0, or the exit code of a Redis failure (reported). Free with
 * ctl_heartbeats_free. */
int ctl_heartbeats(struct ctl *x, struct ctl_hb **out, size_t *n);
void ctl_heartbeats_free(struct ctl_hb *h, size_t n);

/* The heartbeats and the roster: every resolver with a heartbeat, and every
 * rostered one without (beating false, fields ""). Same result codes. */
int ctl_fleet(struct ctl *x, struct ctl_hb **out, size_t *n);

/* Is name usable as a resolver name (1-64 of [A-Za-z0-9._-], as the
 * module's resolver-name)? */
bool ctl_resolver_name_ok(const char *name);

/* "up", "stale" (no heartbeat for stale seconds), "down" (rostered, no
 * heartbeat) or "unlisted" (a heartbeat, not on the roster). */
const char *ctl_fleet_state(const struct ctl_hb *h, int64_t now, long stale);

int cmd_fleet(struct ctl *x, int argc, char **argv);
int cmd_receipts(struct ctl *x, int argc, char **argv);

#endif
