/*
 * ctl_name.h — turning what people write into canonical domain names.
 *
 * Courts, regulators and spreadsheets name domains in many ways: Unicode
 * ("bücher.example"), fullwidth forms, URLs ("https://x.example/path"),
 * wildcards ("*.x.example"), upper case, a trailing dot, invisible spaces.
 * ctl_name_canon turns one such token into the Redis schema's canonical form
 * (lowercase A-labels, no trailing dot; lib/name.h) or says exactly why it
 * cannot:
 *
 *   - Unicode names go through IDNA2008 with UTS #46 non-transitional mapping
 *     (libidn2); a name that Unicode mapping changed into plain ASCII, and a
 *     URL or wildcard reduced to its domain, are accepted with a warning;
 *   - IP addresses, names with a NUL byte, invalid UTF-8, invalid A-labels,
 *     numeric top-level labels and over-long input are rejected;
 *   - a label that mixes scripts (Latin with Cyrillic or Greek, ...; UTS #39
 *     "highly restrictive", which allows Latin with the CJK scripts) or that
 *     is written entirely in Cyrillic or Greek letters that look Latin, under
 *     an ASCII top-level domain, is rejected as confusable unless
 *     CTL_ALLOW_CONFUSABLE is given (then it is a warning); so is an A-label
 *     that is valid punycode but not IDNA2008 (emoji domains).
 *
 * Everything here is pure and thread-safe apart from libidn2's own
 * allocations, which are freed before returning.
 */
#ifndef CTL_NAME_H
#define CTL_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "name.h"

/* Longest token looked at (a URL may carry a long path); longer is rejected. */
#define CTL_TOKEN_MAX 4096
#define CTL_MSG_MAX 320

enum ctl_name_flags {
	CTL_ALLOW_CONFUSABLE = 1 << 0, /* mixed-script, confusable, non-IDNA2008 labels: warn only */
	CTL_NO_REDUCE = 1 << 1,        /* URLs and wildcards are errors, not reduced */
};

/* Rejections (negative, beside lib/rs_err.h's RS_ENAME_* from rs_name_canon). */
enum ctl_name_err {
	CTL_NAME_BLANK = 1,       /* nothing but white space: not a name, not an error */
	CTL_NAME_IP = -100,       /* an IPv4/IPv6 address or network */
	CTL_NAME_NUL = -101,      /* a NUL byte */
	CTL_NAME_UTF8 = -102,     /* invalid UTF-8 */
	CTL_NAME_IDNA = -103,     /* IDNA2008 / UTS #46 conversion failed */
	CTL_NAME_MIXED = -104,    /* a label mixes scripts */
	CTL_NAME_WHOLE = -105,    /* whole-script confusable with a Latin label */
	CTL_NAME_WILDCARD = -106, /* '*' other than a leading "*." */
	CTL_NAME_NUMERIC = -107,  /* numeric top-level label */
	CTL_NAME_URL = -108,      /* a URL without a host */
	CTL_NAME_TOOLONG = -109,  /* token longer than CTL_TOKEN_MAX */
	CTL_NAME_ALABEL = -110,   /* an xn-- label that is not valid punycode */
	CTL_NAME_SPACE = -111,    /* white space inside the name */
};

struct ctl_name_res {
	char name[RS_NAME_MAX + 1]; /* canonical name when the result is 0 */
	char warn[CTL_MSG_MAX];     /* "" or a warning (reduced URL, wildcard, mapping) */
	char err[CTL_MSG_MAX];      /* the reason, when the result is negative */
};

/*
 * Canonicalise the token in[0..len) (surrounding white space, including
 * no-break, zero-width and ideographic spaces and a BOM, is ignored).
 * Returns 0 (r->name set; r->warn may be set), CTL_NAME_BLANK, or a negative
 * CTL_NAME_* / RS_ENAME_* code with the reason in r->err.
 */
int ctl_name_canon(const char *in, size_t len, unsigned flags, struct ctl_name_res *r);

/*
 * Write s[0..len) into out (outsz bytes, NUL terminated) for a message: valid
 * printable UTF-8 is kept; control octets, invalid UTF-8 and invisible or
 * bidirectional format characters are escaped (\x00, \u{202e}); at most max
 * characters are shown, then "...". Returns out.
 */
char *ctl_show(const char *s, size_t len, size_t max, char *out, size_t outsz);

/* Is s an IPv4 or IPv6 address, optionally with a /prefix? */
bool ctl_is_ip(const char *s, size_t len);

/*
 * The other direction, for people to read. A canonical name (lib/name.h:
 * lowercase A-labels) is shown to a user who typed "münchen.example" as
 * "münchen.example", not "xn--mnchen-3ya.example".
 *
 * ctl_name_unicode writes the Unicode form of name into out (outsz octets,
 * CTL_UNAME_MAX is always enough): every xn-- label decoded with libidn2 —
 * but only when every xn-- label of the name is a valid IDNA2008 A-label
 * (it round-trips), its U-label neither mixes scripts nor is made of
 * Cyrillic or Greek letters that look Latin (what ctl_name_canon rejects
 * without CTL_ALLOW_CONFUSABLE: such a name would read as another one), and
 * it holds no control, invisible or bidirectional format character.
 * Otherwise, and for anything that is not a canonical name, out is a copy of
 * name (cut to fit). Returns true when out differs from name.
 *
 * ctl_name_display writes "münchen.example (xn--mnchen-3ya.example)" into out
 * (CTL_DNAME_MAX is always enough), or just name when it has no Unicode
 * form. Returns out. Both are pure and thread-safe; the result is valid UTF-8
 * but not escaped for HTML, JSON or a terminal (the caller does that).
 */
#define CTL_UNAME_MAX 1024
#define CTL_DNAME_MAX (CTL_UNAME_MAX + RS_NAME_MAX + 4)
bool ctl_name_unicode(const char *name, char *out, size_t outsz);
const char *ctl_name_display(const char *name, char *out, size_t outsz);

/*
 * A name given on the command line to look something up (log --domain, ...):
 * Unicode or A-labels, as push accepts it, but no URL or wildcard reduction
 * and confusable labels allowed (looking up is harmless). 0 with the
 * canonical name in out (RS_NAME_MAX + 1 octets), else a negative
 * CTL_NAME_* / RS_ENAME_* code.
 */
int ctl_name_arg(const char *s, char out[RS_NAME_MAX + 1]);

#endif
