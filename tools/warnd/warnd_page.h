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

/* The values of a page; NULL means "". None of them is trusted. A domain or
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
};

/* Render the page of kind in template t into out. 0 or RS_ENOMEM. */
int wd_page_render(const struct wd_tmpl *t, enum wd_page_kind kind, const struct wd_page_vals *v,
		   struct rs_buf *out);

/* The placeholder names, for documentation checks; NULL-terminated. */
extern const char *const wd_placeholders[];

#endif
