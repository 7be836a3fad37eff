/*
 * ctl_fleet.h — the resolvers as redsink-ctl sees them: their heartbeats.
 *
 * Every resolver writes a heartbeat hash, <prefix>resolver:<name>
 * (doc/redis-schema.md), every few seconds with a 30 s expiry. `status`,
 * `status --check` and `check` (the jurisdiction the fleet reports) read them
 * all with ctl_heartbeats(): one SCAN + HGETALL per key, each known field
 * kept as a string ("" when absent), sorted by resolver name.
 */
#ifndef CTL_FLEET_H
#define CTL_FLEET_H

#include <stddef.h>

struct ctl;

enum ctl_hb_field {
	HB_LAST_ID, HB_LAST_APPLIED, HB_SEEN, HB_ENTRIES, HB_ORDERS, HB_LINK, HB_VERSION, HB_JURIS, HB_APPLIED,
	HB_BAD, HB_RESYNCS, HB_DATASET, HB_DATASET_ALARM, HB_NFIELDS
};

/* The heartbeat field names, by enum ctl_hb_field. */
extern const char *const ctl_hb_fields[HB_NFIELDS];

struct ctl_hb {
	char *name;            /* the resolver's name (the key without prefix and "resolver:") */
	char *f[HB_NFIELDS];   /* every field, "" when the heartbeat lacks it */
};

/* Read every heartbeat; a key that is not a hash, or gone meanwhile, is
 * skipped. 0, or the exit code of a Redis failure (reported). Free with
 * ctl_heartbeats_free. */
int ctl_heartbeats(struct ctl *x, struct ctl_hb **out, size_t *n);
void ctl_heartbeats_free(struct ctl_hb *h, size_t n);

#endif
