/*
 * order.h — a court or regulator order as the module uses it.
 *
 * An order is parsed from its Redis hash (order:<id>) once, when it is loaded or
 * changed: every field is validated and bounded then, and stored exactly as
 * parsed, so that everything downstream (the evaluation of scope and expiry,
 * the snapshot, which writes these fields back and re-parses them, the JSON,
 * the warning page) sees the same value. rs_order_parse is idempotent on its
 * own output: parsing the stored fields of a parsed order gives the same order.
 * The texts of its answers (TXT, EDE variants) are expanded then too, so the
 * query path formats nothing: it only picks a precomputed EDE variant that
 * fits the client's buffer (answer.c).
 *
 * Fields and their limits (also in doc/redis-schema.md, "Orders"):
 *  - strict (a bad value makes the order malformed: skipped, blocks nothing):
 *    id (RS_ORDER_ID_MAX), authority and reference (required, non-empty after
 *    cleaning), action, scope ('*' or ISO 3166-1 alpha-2 codes, at most
 *    RS_SCOPE_CODES_MAX, stored upper-case and single-space separated),
 *    expires (RFC 3339 or empty, at most RS_DATE_MAX octets), windows
 *    (rs_windows_parse: live-event windows, at most RS_WINDOWS_MAX; stored
 *    single-space separated);
 *  - display texts, cleaned (rs_text_clean: control characters -> space,
 *    invalid UTF-8 -> U+FFFD, trimmed) and cut at a character boundary:
 *    authority RS_AUTHORITY_MAX, reference RS_REFERENCE_MAX, reason
 *    RS_REASON_MAX;
 *  - replaced when invalid (a warning, the order still loads): url (http:,
 *    https: or mailto:, no spaces, at most RS_URL_MAX; else ""), issued (RFC
 *    3339 or empty, at most RS_DATE_MAX; else ""), lang (BCP 47 syntax, at
 *    most RS_LANG_MAX; else the resolver's `language`).
 *
 * A struct rs_order is immutable after rs_order_parse and may be read by any
 * thread; it is freed by the list's deferred reclamation (list.h), never while
 * a reader may hold it.
 */
#ifndef RS_ORDER_H
#define RS_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum rs_action { RS_ACT_SINKHOLE = 0, RS_ACT_NXDOMAIN, RS_ACT_NODATA, RS_ACT_REFUSED };

#define RS_ORDER_ID_MAX 128
#define RS_AUTHORITY_MAX 256
#define RS_REFERENCE_MAX 128
#define RS_REASON_MAX 512
#define RS_URL_MAX 512
#define RS_LANG_MAX 35
#define RS_DATE_MAX 64          /* issued, expires (as text) */
#define RS_SCOPE_CODES_MAX 300
#define RS_TXT_MAX 1020         /* TXT answer: at most 4 character-strings */
#define RS_EDE_MAX 1024         /* EDE EXTRA-TEXT, JSON escaping included */
#define RS_EDE_SHORT 160        /* the shortened plain text variant */
#define RS_EDE_CONTACTS_MAX 400 /* the JSON's "c":[...] part */
#define RS_WINDOWS_MAX 64       /* live-event windows of one order */
/* the longest stored windows text: RS_WINDOWS_MAX "START/END" of at most
 * RS_DATE_MAX octets each end, single-space separated (NUL included) */
#define RS_WINDOWS_TEXT_MAX (RS_WINDOWS_MAX * (2 * RS_DATE_MAX + 2))

/* o->warnings: fields replaced or shortened at parse time (the order loads). */
#define RS_OW_LANG 0x01   /* lang invalid: the resolver's language used */
#define RS_OW_URL 0x02    /* url invalid: "" */
#define RS_OW_ISSUED 0x04 /* issued invalid: "" */
#define RS_OW_CUT 0x08    /* a display text was cleaned or cut */

/*
 * The EDE 16 EXTRA-TEXT variants of an order, longest first; n == 0 means no
 * EDE (ede-format: off). The last variant is always "" (EDE 16 without text),
 * which fits any EDNS buffer. For the structured error (ede-format: json) the
 * variants follow draft-ietf-dnsop-structured-dns-error: the full object
 * (c, j, o, l), then without j, then c alone, then "". Each is NUL-terminated
 * valid UTF-8 of len[i] <= RS_EDE_MAX octets.
 */
#define RS_EDE_NVAR 4
struct rs_ede {
	uint8_t n;
	char *text[RS_EDE_NVAR];
	uint16_t len[RS_EDE_NVAR];
};

/*
 * Signed mode (require-signatures: yes, doc/signing.md): the verified
 * manifest an order was built from, owned by the order (freed with it):
 * the text as signed, its signature and key id, its version and the SHA-256
 * of the text (the next version's prev). The next version of the order is
 * accepted only if it chains onto this one.
 */
struct rs_order_sig {
	char *text;       /* the manifest text (NUL-terminated; len octets) */
	size_t len;
	char sig[89];     /* base64 Ed25519 signature over text (RS_SIG_B64_LEN) */
	char key[17];     /* key id (RS_KEYID_LEN) */
	uint64_t version;
	char hash[65];    /* SHA-256 of text, lowercase hex */
	char label[65];   /* the label of the trusted-key that verified it (RS_KEY_LABEL_MAX), "" none */
	size_t names, prefixes; /* the manifest's counts: the order's verified set sizes */
	bool revoked;     /* the verified state is revoked: the order is a tombstone that never
			   * applies (in_scope false, no names or prefixes), kept so that an
			   * older manifest replayed cannot bring it back */
};

struct rs_order {
	char *id;
	char *authority, *reference, *reason, *url, *lang, *scope;
	char *issued;      /* RFC 3339 as given (trimmed), or "" */
	char *expires_text; /* RFC 3339 as given (trimmed), or "" */
	int64_t expires;   /* Unix seconds; 0 = never */
	char *windows;     /* the live-event windows as stored (canonical, rs_windows_parse), or "" */
	int64_t *win;      /* 2 * nwin Unix seconds: start, end of each window, sorted, end > start,
			    * non-overlapping (end <= next start); NULL when nwin == 0 */
	uint16_t nwin;     /* 0: no windows (the order applies at any time) */
	uint8_t action;    /* enum rs_action */
	uint8_t warnings;  /* RS_OW_* */
	bool in_scope;     /* the stored scope is '*' or lists the resolver's jurisdiction */
	char *txt;         /* TXT answer text (<= RS_TXT_MAX octets) */
	size_t txt_len;
	struct rs_ede ede;       /* as ede-format says */
	struct rs_ede ede_plain; /* ede-json-clients: sde-option: for clients without
				  * the SDE option (the ede-text template); else n == 0 */
	struct rs_order_sig *sig; /* signed mode: the verified manifest (owned), set by the
				   * writer before rs_list_order_set; NULL in unsigned mode */
};

/*
 * Build an order from the field/value pairs kv[0..2*npairs) of order:<id>.
 * Required fields: authority, reference, scope, action; issued, expires,
 * windows, reason, url, lang are optional. On a malformed order returns RS_EINVAL and
 * writes the reason ("order 'x': bad action 'y'") to err. On success err holds
 * "" or, when o->warnings is set, what was replaced ("order 'x': lang '...'
 * is not a BCP 47 tag: using 'it'").
 */
int rs_order_parse(const struct rs_conf *c, const char *id, const char *const *kv, size_t npairs,
		   struct rs_order **out, char *err, size_t errlen);

void rs_order_free(struct rs_order *o);

/* Expand the answer texts (TXT, EDE variants) of o again, after o->sig was
 * set: the placeholders {signer} (the label of the key that signed the
 * verified manifest) and {signer_key} (its key id) are "" before. 0 or
 * RS_ENOMEM (o keeps its previous texts). */
int rs_order_texts(const struct rs_conf *c, struct rs_order *o);

/* Is now inside one of the order's windows [start, end)? false when it has
 * none (binary search: no allocation, any thread). */
static inline bool rs_order_in_window(const struct rs_order *o, int64_t now)
{
	size_t lo = 0, hi = o->nwin; /* the first window starting after now is in [lo, hi] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->win[2 * mid] <= now)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && now < o->win[2 * (lo - 1) + 1];
}

/* Does the order apply at time now (in scope, not expired, inside a window
 * when it has any)? */
static inline bool rs_order_applies(const struct rs_order *o, int64_t now)
{
	return o->in_scope && (o->expires == 0 || now < o->expires) && (o->nwin == 0 || rs_order_in_window(o, now));
}

/*
 * The next time after now at which rs_order_applies(o, ·) may change: the
 * first window start or end after now, or expires, whichever comes first;
 * 0 when nothing changes any more (out of scope, expired, no window ahead and
 * no expiry). The applicability is constant on [now, result).
 */
int64_t rs_order_next_transition(const struct rs_order *o, int64_t now);

/*
 * Parse a `windows` value: space-separated (spaces or tabs) intervals
 * START/END, each end an RFC 3339 date-time or date (rs_rfc3339_parse) of at
 * most RS_DATE_MAX octets, END after START, sorted by time and not
 * overlapping (an END may equal the next START), at most RS_WINDOWS_MAX.
 * Empty or blank: no windows (*nwin = 0, *win = NULL).
 * On success *canon (malloc'ed, NULL allowed: not wanted) is the stored text:
 * the intervals as given, joined by one space; *win (malloc'ed, NULL allowed)
 * holds 2 * *nwin times. Parsing *canon again gives the same result.
 * RS_EINVAL with what, where and why in err ("window 2
 * '2026-05-01T12:00:00Z/2026-05-01T10:00:00Z': the end is not after the
 * start"), or RS_ENOMEM.
 */
int rs_windows_parse(const char *s, char **canon, int64_t **win, uint16_t *nwin, char *err, size_t errlen);

/* One interval START/END of len octets (no spaces), as rs_windows_parse
 * checks it: 0, or RS_EINVAL with why in err ("the end is not after the
 * start", "'x': not an RFC 3339 date-time"). */
int rs_window_parse(const char *s, size_t len, int64_t *start, int64_t *end, char *err, size_t errlen);

/* Index of the longest variant of e of at most room octets (the last, "",
 * when none fits). e->n must be > 0. */
static inline unsigned rs_ede_pick(const struct rs_ede *e, size_t room)
{
	unsigned i = 0;

	while (i + 1 < e->n && e->len[i] > room)
		i++;
	return i;
}

/* Parse an RFC 3339 date-time ("2026-01-31T12:00:00Z", offsets, fractions) or a
 * plain date ("2026-01-31", midnight UTC) into Unix seconds. 0 or RS_EINVAL. */
int rs_rfc3339_parse(const char *s, int64_t *out);

/* Does a space-separated scope ("*", "IT FR") include the jurisdiction
 * (NULL = none: only "*" applies)? Case-insensitive. */
bool rs_scope_includes(const char *scope, const char *jurisdiction);

/* Is tag a BCP 47 language tag by syntax (RS_LANG_MAX octets at most,
 * alphanumeric subtags of 1-8 joined by '-', the first 2-3 or 4-8 letters)? */
bool rs_lang_ok(const char *tag);

/*
 * Is id usable as an order id: 1-128 printable ASCII octets, no space, no ':'
 * and no '|'? ':' would make keys ambiguous (the hash of order "a:domains" is
 * the key of order a's domain set), '|' the fields of the hit and view
 * counters (order|domain|region). One rule for the module, every tool and
 * every stream entry.
 */
bool rs_order_id_ok(const char *id);
#define RS_ORDER_ID_RULE "1-128 printable ASCII characters, no space, ':' or '|'"

const char *rs_action_name(int action);

#endif
