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
