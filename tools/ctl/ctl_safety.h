/*
 * ctl_safety.h — the checks that stand between a wrong line and a country
 * without Google Drive.
 *
 *   - the protected (never-block) list: a push may not block a protected name,
 *     a name below one (it would never be blocked anyway: the list is wrong),
 *     or a parent of one (it would take the protected name down with it);
 *   - public suffixes (libpsl, ICANN and private sections: "com", "co.uk",
 *     "github.io"): blocking one blocks every registrant below it.
 *
 * A struct ctl_prot is an in-memory index of the protected set: every
 * protected name, and every parent of one (mapped to the protected name it
 * leads to). Built once per command, read-only afterwards; the caller owns it.
 */
#ifndef CTL_SAFETY_H
#define CTL_SAFETY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_strmap;

struct ctl_prot {
	struct ctl_strmap *names;   /* protected name -> itself */
	struct ctl_strmap *parents; /* parent of a protected name -> that name */
	size_t n;
};

enum ctl_prot_hit {
	CTL_PROT_NONE = 0,
	CTL_PROT_SAME = 1,   /* the name itself is protected */
	CTL_PROT_BELOW = 2,  /* the name is below a protected name */
	CTL_PROT_PARENT = 3, /* the name is a parent of a protected name */
};

int ctl_prot_init(struct ctl_prot *p);
/* Add a canonical protected name. 0 or RS_ENOMEM. */
int ctl_prot_add(struct ctl_prot *p, const char *name);
/* Would listing the canonical name touch a protected name? *which: that name. */
int ctl_prot_check(const struct ctl_prot *p, const char *name, const char **which);
void ctl_prot_free(struct ctl_prot *p);

struct psl_ctx_st;

/*
 * Open the public suffix list: file (a .dat or .dafsa file), else the newest
 * of libpsl's built-in list and the system's (/usr/share/publicsuffix).
 * NULL with a message in err on failure. Free with ctl_psl_close.
 */
const struct psl_ctx_st *ctl_psl_open(const char *file, char *err, size_t errlen);
void ctl_psl_close(const struct psl_ctx_st *psl);
/* Is the canonical name a public suffix (any single label is)? */
bool ctl_is_public_suffix(const struct psl_ctx_st *psl, const char *name);

/* ---- address prefixes (issue 13) ----
 *
 * A prefix may not be listed when it overlaps a protected prefix (either
 * holds the other: listing it would block shared infrastructure, or could
 * never block anything there), or when it is shorter than /24 (IPv4) or /48
 * (IPv6): such a prefix holds whole networks of unrelated sites. Both can
 * be overridden with a recorded reason.
 */
#define CTL_PREFIX_MIN4 24
#define CTL_PREFIX_MIN6 48

struct rs_prefix;

struct ctl_pprot {
	struct rs_prefix *v; /* the protected prefixes */
	char **text;         /* as stored */
	size_t n, cap;
};

void ctl_pprot_init(struct ctl_pprot *pp);
/* Add a protected prefix (its text is copied). 0 or RS_ENOMEM. */
int ctl_pprot_add(struct ctl_pprot *pp, const struct rs_prefix *p, const char *text);
/* The index of the first protected prefix overlapping p, or -1. */
long ctl_pprot_check(const struct ctl_pprot *pp, const struct rs_prefix *p);
void ctl_pprot_free(struct ctl_pprot *pp);
/* Is p shorter than CTL_PREFIX_MIN4 / CTL_PREFIX_MIN6? */
bool ctl_prefix_too_short(const struct rs_prefix *p);

/*
 * A heartbeat's `collateral` field: space-separated "<prefix>=<n>", the
 * prefixes that blocked more than the threshold of distinct names this hour
 * (doc/redis-schema.md). Stores at most max entries with a canonical prefix
 * and a decimal count of at most 15 digits; every other token (and those
 * past max) is counted in *bad. Returns the number stored.
 */
struct ctl_collat {
	char prefix[56];
	uint64_t names;
};
size_t ctl_collateral_parse(const char *s, struct ctl_collat *out, size_t max, size_t *bad);

/* ---- a small string map (also used by the commands) ---- */

struct ctl_strmap *ctl_strmap_new(void);
void ctl_strmap_free(struct ctl_strmap *m);
/* Insert key (copied) with value (not copied) unless present. 1 inserted,
 * 0 present, RS_ENOMEM. */
int ctl_strmap_put(struct ctl_strmap *m, const char *key, void *value);
/* The value stored for key (NULL when absent or stored as NULL); found says which. */
void *ctl_strmap_get(const struct ctl_strmap *m, const char *key, bool *found);
size_t ctl_strmap_count(const struct ctl_strmap *m);
/* Call fn for every entry, in no particular order. */
void ctl_strmap_each(const struct ctl_strmap *m, void (*fn)(void *arg, const char *key, void *value), void *arg);

#endif
