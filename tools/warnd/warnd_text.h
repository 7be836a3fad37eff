/*
 * warnd_text.h — the pure text logic of redsink-warnd: HTML escaping, the
 * Host header, Accept-Language negotiation, template sections, regions and
 * the page-view counter keys.
 *
 * Nothing here does I/O, allocates outside a caller's struct rs_buf, or keeps
 * state: every function is thread-safe and unit-tested on its own
 * (tests/unit/warnd/test_warnd_text.c). Everything that comes from a request passes
 * through here before it reaches a page, a header or Redis.
 */
#ifndef WD_TEXT_H
#define WD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "name.h"
#include "text.h"

/* ---- HTML ---- */

/*
 * Append s[0..n) to b as HTML text that is safe both between tags and inside
 * a double- or single-quoted attribute: & < > " ' become entities; C0 control
 * characters other than TAB, LF and CR, DEL, and octets that are not valid
 * UTF-8 become U+FFFD. NUL ends nothing (it is replaced too).
 */
void wd_html_escape(struct rs_buf *b, const char *s, size_t n);

/* Is s[0..n) valid UTF-8 (no overlong forms, surrogates, or code points
 * past U+10FFFF)? */
bool wd_utf8_valid(const char *s, size_t n);

/* ---- Host ---- */

enum wd_host {
	WD_HOST_NONE = 0, /* no Host header, or an empty one */
	WD_HOST_NAME,     /* a domain name: canon holds it in canonical form */
	WD_HOST_ADDR,     /* an IPv4 or IPv6 address literal (never blocked) */
	WD_HOST_BAD,      /* anything else (shown escaped, never looked up) */
};

#define WD_HOST_SHOW_MAX 253 /* octets of a raw Host shown on a page */

/*
 * Classify the Host header value raw (NULL allowed). An optional ":port" is
 * removed, one trailing dot is accepted, letters are lowercased; a name is
 * canonical per name.h (A-labels only: browsers send IDNs as punycode).
 * canon (RS_NAME_MAX + 1 octets) receives the canonical name for
 * WD_HOST_NAME, and "" otherwise.
 */
enum wd_host wd_host_parse(const char *raw, char canon[RS_NAME_MAX + 1]);

/* ---- Accept-Language (RFC 9110 section 12.5.4) ---- */

#define WD_TAG_MAX 35   /* longest language tag kept (RFC 5646's practical limit) */
#define WD_PREFS_MAX 32 /* language ranges read from one header */

struct wd_lang_pref {
	char tag[WD_TAG_MAX + 1]; /* lowercase language range, or "*" */
	int q;                    /* quality, 1..1000 */
};

/*
 * Parse an Accept-Language value into at most max ranges, highest quality
 * first (ties keep the header's order). Ranges with q=0, malformed ranges and
 * malformed q-values are skipped. Returns the number of ranges stored.
 */
int wd_accept_language(const char *hdr, struct wd_lang_pref *out, int max);

/* Look up a language (tag[0..len), lowercase): the stored name when it is
 * available, else NULL. */
typedef const char *(*wd_lang_find_fn)(const char *tag, size_t len, void *arg);

/*
 * Choose the page language: the first Accept-Language range (or its primary
 * subtag: "ko-kr" -> "ko") that find() knows, else the usual language of
 * country (ISO 3166-1 alpha-2, may be NULL or ""), else def. Returns what
 * find() returned, or def.
 */
const char *wd_lang_choose(const char *accept_language, const char *country, wd_lang_find_fn find, void *arg,
			   const char *def);

/* The main language of a country ("KR" -> "ko"), or NULL when the table has
 * none (or the country has no single main language). */
const char *wd_country_lang(const char *cc);

/* ---- templates ---- */

/* Is the value of placeholder name[0..len) non-empty? (unknown: false) */
typedef bool (*wd_nonempty_fn)(const char *name, size_t len, void *arg);

/*
 * Resolve the sections of a (trusted) template into out:
 *   {?name}...{/name}  kept when the value of name is non-empty,
 *   {!name}...{/name}  kept when it is empty.
 * Sections of different names nest (up to 8 deep); a section cannot hold one
 * of its own name; a section without its end is copied as it is.
 * Placeholders are left for rs_template_expand. 0 or RS_ENOMEM.
 */
int wd_template_sections(struct rs_buf *out, const char *tmpl, wd_nonempty_fn nonempty, void *arg);

/*
 * Is url fit for an href and a Link header: http:// or https://, 2048
 * octets at most, printable ASCII without space, < > " \ ` { } | ^?
 */
bool wd_url_ok(const char *url);

/* ---- address-triggered blocks (discovered-names:<hour>, doc/redis-schema.md) ---- */

/* What the discovered-names index says about a host. */
struct wd_disc_hit {
	char order[129];   /* RS_ORDER_ID_MAX + 1 */
	char prefix[50];   /* RS_PREFIX_TEXT_MAX: canonical */
};

/*
 * Is v[0..vlen) (the index value "<order>|<prefix>", hostile) exactly what
 * the module writes (lib/disc.h rs_disc_value_parse: a valid order id, a
 * canonical prefix)? Fills *hit when true.
 */
bool wd_disc_value(const char *v, size_t vlen, struct wd_disc_hit *hit);

/*
 * A token bucket for Redis lookups of hosts not in the cache (hostile Host
 * headers choose them): rate tokens a second, at most burst kept; a bucket
 * of zeros is full at its first use. wd_bucket_take: may one lookup be made
 * at now (a token taken)?
 */
struct wd_bucket {
	unsigned tokens;
	time_t last;
	bool started;
};
bool wd_bucket_take(struct wd_bucket *b, time_t now, unsigned rate, unsigned burst);

/* The date of an RFC 3339 time or date for display ("2026-01-10T00:00:00Z" ->
 * "2026-01-10"), into out (11 octets); "" when s does not start with a date. */
void wd_date_part(const char *s, char out[11]);

#endif
