/*
 * warnd_page.h — the operator's page templates and the rendering of a page.
 *
 * A template directory holds, per language, "<lang>.html" (the page for a
 * blocked name) and "neutral-<lang>.html" (any other host). The files are
 * trusted (the operator writes them); every value put into them is
 * HTML-escaped. Placeholders, sections and the list of names are documented
 * in redsink-warnd(8):
 *
 *   {domain} {listed} {order} {authority} {reference} {issued} {expires}
 *   {reason} {reason_lang} {url} {scope} {lang} {unavailable} {prefix}
 *   {?name}shown when name is not empty{/name}  {!name}...when empty{/name}
 *
 * Ownership: a struct wd_templates owns every string it holds; it is
 * immutable once loaded (a reload builds a new set and swaps it in), and is
 * used by the HTTP thread only.
 */
#ifndef WD_PAGE_H
#define WD_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text.h"
#include "warnd_text.h"

#define WD_TEMPLATE_MAX (256 * 1024) /* largest template file */
#define WD_LANGS_MAX 64              /* languages in one directory */

enum wd_page_kind { WD_PAGE_BLOCKED = 0, WD_PAGE_NEUTRAL = 1 };

struct wd_tmpl {
	char lang[WD_TAG_MAX + 1]; /* lowercase tag from the file name */
	char *page[2];             /* by enum wd_page_kind; NULL when the file is missing */
};

struct wd_templates {
	char *dir;
	struct wd_tmpl *t;
	size_t n;
	const struct wd_tmpl *def; /* the default language: has both pages */
};

/*
 * Load every template of dir. def_lang must have both pages. Other files
 * are ignored; an unreadable or oversized template, a NUL octet or invalid
 * UTF-8 is an error. 0, or RS_ECONF / RS_ENOMEM with a message in err.
 */
int wd_templates_load(const char *dir, const char *def_lang, struct wd_templates *out, char *err, size_t errlen);
void wd_templates_free(struct wd_templates *ts);

/* The template of lang[0..len) that has a page of kind, or NULL. */
const struct wd_tmpl *wd_templates_find(const struct wd_templates *ts, const char *lang, size_t len,
					enum wd_page_kind kind);

/*
 * Choose a language for a page of kind: Accept-Language, then the client's
 * country, then the default (wd_lang_choose). Never NULL.
 */
const struct wd_tmpl *wd_templates_choose(const struct wd_templates *ts, enum wd_page_kind kind,
					  const char *accept_language, const char *country);

/* The values of a page; NULL means "". None of them is trusted. Every one is
 * part of the cache key (warnd_page.c, collect()). A domain or
 * listed name with valid, non-confusable xn-- labels is shown in both forms,
 * "münchen.example (xn--mnchen-3ya.example)" (ctl_name_display). */
struct wd_page_vals {
	const char *domain;      /* the host asked for (canonical), or the raw Host */
	const char *listed;      /* the listed domain that blocks it */
	const char *order;       /* order id */
	const char *authority, *reference, *reason, *scope;
	const char *issued, *expires; /* dates (YYYY-MM-DD) */
	const char *url;         /* information URL (only when wd_url_ok) */
	const char *reason_lang; /* the order's language */
	const char *unavailable; /* non-empty when the list could not be read */
	const char *prefix;      /* an address-triggered block: the listed prefix holding the host's
				  * address ("198.51.100.0/24"); listed is then NULL */
	const char *signer;      /* signed mode: the label of the trusted key that signed the order */
	const char *signer_key;  /* and its key id (NULL both in unsigned mode) */
};

/* Render the page of kind in template t into out. 0 or RS_ENOMEM. */
int wd_page_render(const struct wd_tmpl *t, enum wd_page_kind kind, const struct wd_page_vals *v,
		   struct rs_buf *out);

/*
 * The rendered pages, kept: a page is rendered once per template, kind and
 * values (every value of struct wd_page_vals, so the host, the listed name,
 * every order field, the language) and then served from here. Nothing is
 * invalidated: a changed order, a withdrawn name or another host gives
 * another key, hence a page rendered anew; the least recently used of two
 * slots makes room. WD_CACHE_SLOTS pages of at most WD_CACHE_BODY_MAX octets
 * (a bigger page is rendered every time). Clear it when the templates are
 * replaced (the key holds the template's address). One thread.
 */
#define WD_CACHE_SLOTS 256
#define WD_CACHE_BODY_MAX (64 * 1024)
struct wd_page_cache;

struct wd_page_cache *wd_page_cache_new(void); /* NULL when out of memory */
void wd_page_cache_free(struct wd_page_cache *c);
void wd_page_cache_clear(struct wd_page_cache *c);
void wd_page_cache_stats(const struct wd_page_cache *c, uint64_t *hits, uint64_t *misses);

/* The page of kind in t for v, as wd_page_render would write it: *body and
 * *len (NUL-terminated) stay valid until the next call or clear. 0 or
 * RS_ENOMEM. */
int wd_page_cached(struct wd_page_cache *c, const struct wd_tmpl *t, enum wd_page_kind kind,
		   const struct wd_page_vals *v, const char **body, size_t *len);

/* The placeholder names, for documentation checks; NULL-terminated. */
extern const char *const wd_placeholders[];

#endif
