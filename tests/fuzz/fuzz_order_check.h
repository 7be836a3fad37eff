/*
 * fuzz_order_check.h — the invariants every parsed order must hold, shared by
 * the harnesses that produce orders (order, conf, change, snapshot).
 *
 * What is checked is what the answer path and the snapshot rely on
 * (module/answer.c, module/snapshot.c, the limits of order.h):
 *  - the TXT text fits the TXT rdata buffer of 4 character-strings:
 *    txt_len <= 1020, strlen(txt) == txt_len, and the encoding into
 *    255-octet strings (as answer.c's txt_rdata does) stays within 4 * 256;
 *  - the EDE variants: none exactly when ede-format is off; otherwise each
 *    is NUL-terminated valid UTF-8 with len[i] == strlen(text[i]) <=
 *    RS_EDE_MAX (FUZZ_EDE_MAX), longest first, the last one ""; with
 *    ede-format json every non-empty variant is one JSON object of strings
 *    and arrays of strings (a structured DNS error);
 *  - every field is a NUL-terminated string within its documented limit;
 *    lang is a BCP 47 tag; an expiring order has expires != 0;
 *  - the windows: at most RS_WINDOWS_MAX, each end after its start, sorted and
 *    not overlapping, the text canonical (single spaces) and empty exactly
 *    when there is none; rs_order_applies agrees with a linear scan of the
 *    windows at every boundary, and rs_order_next_transition returns a later
 *    time up to which the applicability does not change;
 *  - parsing the stored fields again gives the same order (order.h: "idempotent
 *    on its own output"), which is what a snapshot round trip does.
 */
#ifndef FUZZ_ORDER_CHECK_H
#define FUZZ_ORDER_CHECK_H

#include "fuzz_common.h"
#include "order.h"

#ifndef FUZZ_TXT_MAX
#define FUZZ_TXT_MAX RS_TXT_MAX
#endif
#ifndef FUZZ_EDE_MAX
#define FUZZ_EDE_MAX RS_EDE_MAX
#endif

/* A minimal JSON reader for what build_json emits: an object whose values are
 * strings or arrays of strings. Returns the position after the value, or NULL. */
static inline const char *fz_json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p))
				return NULL;
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static inline bool fz_json_object(const char *p)
{
	if (*p++ != '{')
		return false;
	if (*p == '}')
		return p[1] == '\0';
	for (;;) {
		if (!(p = fz_json_string(p)) || *p++ != ':')
			return false;
		if (*p == '[') {
			p++;
			if (*p != ']') {
				for (;;) {
					if (!(p = fz_json_string(p)))
						return false;
					if (*p == ',') {
						p++;
						continue;
					}
					break;
				}
			}
			if (*p++ != ']')
				return false;
		} else if (!(p = fz_json_string(p))) {
			return false;
		}
		if (*p == ',') {
			p++;
			continue;
		}
		return *p == '}' && p[1] == '\0';
	}
}

static inline void fz_check_ede(const struct rs_ede *e, bool json)
{
	FZ_CHECK(e->n <= RS_EDE_NVAR);
	for (unsigned i = 0; i < e->n; i++) {
		FZ_CHECK(e->text[i] != NULL);
		FZ_CHECK(e->len[i] == strlen(e->text[i]));
		FZ_CHECK(e->len[i] <= FUZZ_EDE_MAX);
		FZ_CHECK(fz_utf8_ok(e->text[i], e->len[i]));
		if (i > 0)
			FZ_CHECK(e->len[i] <= e->len[i - 1]);
		if (json && e->len[i] > 0)
			FZ_CHECK(fz_json_object(e->text[i]));
	}
	if (e->n > 0) {
		FZ_CHECK(e->len[e->n - 1] == 0);
		FZ_CHECK(rs_ede_pick(e, 0) == e->n - 1u);
		FZ_CHECK(e->len[rs_ede_pick(e, 512)] <= 512 || rs_ede_pick(e, 512) == e->n - 1u);
	}
}

/* The windows win[0..2n) with their text: bounded, sorted, canonical. */
static inline void fz_check_windows(const char *text, const int64_t *win, uint16_t n)
{
	size_t len = strlen(text), spaces = 0;

	FZ_CHECK(n <= RS_WINDOWS_MAX);
	FZ_CHECK(len < RS_WINDOWS_TEXT_MAX);
	FZ_CHECK((n == 0) == (len == 0) && (n == 0) == (win == NULL));
	FZ_CHECK(strchr(text, '\t') == NULL && strstr(text, "  ") == NULL);
	FZ_CHECK(len == 0 || (text[0] != ' ' && text[len - 1] != ' '));
	for (const char *p = text; *p; p++)
		spaces += *p == ' ';
	FZ_CHECK(n == 0 || spaces + 1 == n);
	for (uint16_t i = 0; i < n; i++) {
		FZ_CHECK(win[2 * i] < win[2 * i + 1]);
		if (i > 0)
			FZ_CHECK(win[2 * i] >= win[2 * i - 1]);
	}
}

/* rs_order_applies by a linear scan of the definition. */
static inline bool fz_applies_slow(const struct rs_order *o, int64_t now)
{
	bool in = o->nwin == 0;

	for (uint16_t i = 0; i < o->nwin; i++)
		in |= o->win[2 * i] <= now && now < o->win[2 * i + 1];
	return o->in_scope && (o->expires == 0 || now < o->expires) && in;
}

static inline void fz_check_applies_at(const struct rs_order *o, int64_t now)
{
	int64_t t;

	FZ_CHECK(rs_order_applies(o, now) == fz_applies_slow(o, now));
	t = rs_order_next_transition(o, now);
	if (t == 0) {
		/* nothing changes any more: the same far ahead */
		if (now < INT64_MAX / 2)
			FZ_CHECK(rs_order_applies(o, now) == rs_order_applies(o, INT64_MAX / 2));
		return;
	}
	FZ_CHECK(t > now);
	FZ_CHECK(rs_order_applies(o, t - 1) == rs_order_applies(o, now));
}

/* The applicability at and around every boundary of o. */
static inline void fz_check_applies(const struct rs_order *o)
{
	fz_check_applies_at(o, INT64_MIN / 2);
	fz_check_applies_at(o, 0);
	fz_check_applies_at(o, 1700000000);
	if (o->expires) {
		fz_check_applies_at(o, o->expires - 1);
		fz_check_applies_at(o, o->expires);
	}
	for (uint16_t i = 0; i < 2 * o->nwin; i++) {
		fz_check_applies_at(o, o->win[i] - 1);
		fz_check_applies_at(o, o->win[i]);
		fz_check_applies_at(o, o->win[i] + 1);
	}
}

static inline void fz_check_order_fields(const struct rs_conf *c, const struct rs_order *o)
{
	size_t enc = 0, n;

	FZ_CHECK(o != NULL);
	FZ_CHECK(o->id && o->authority && o->reference && o->scope && o->reason && o->url && o->lang &&
		 o->issued && o->expires_text);
	FZ_CHECK(rs_order_id_ok(o->id));
	FZ_CHECK(*o->authority && strlen(o->authority) <= RS_AUTHORITY_MAX);
	FZ_CHECK(*o->reference && strlen(o->reference) <= RS_REFERENCE_MAX);
	FZ_CHECK(strlen(o->reason) <= RS_REASON_MAX);
	FZ_CHECK(strlen(o->url) <= RS_URL_MAX);
	FZ_CHECK(strlen(o->issued) <= RS_DATE_MAX && strlen(o->expires_text) <= RS_DATE_MAX);
	FZ_CHECK(rs_lang_ok(o->lang));
	FZ_CHECK(fz_utf8_ok(o->authority, strlen(o->authority)) && fz_utf8_ok(o->reference, strlen(o->reference)) &&
		 fz_utf8_ok(o->reason, strlen(o->reason)));
	FZ_CHECK(o->action <= RS_ACT_REFUSED);
	FZ_CHECK(*o->expires_text == '\0' || o->expires != 0);
	/* a signed-mode tombstone (order.h, rs_order_sig.revoked) never applies */
	FZ_CHECK(o->in_scope == (rs_scope_includes(o->scope, c->jurisdiction) && !(o->sig && o->sig->revoked)));
	FZ_CHECK(o->windows != NULL);
	fz_check_windows(o->windows, o->win, o->nwin);
	fz_check_applies(o);
	/* TXT */
	FZ_CHECK(o->txt != NULL);
	FZ_CHECK(o->txt_len <= FUZZ_TXT_MAX);
	FZ_CHECK(strlen(o->txt) == o->txt_len);
	n = o->txt_len;
	do { /* as answer.c's txt_rdata */
		size_t k = n > 255 ? 255 : n;
		enc += 1 + k;
		n -= k;
	} while (n > 0);
	FZ_CHECK(enc <= 4 * 256);
	/* EDE */
	if (c->ede_format == RS_EDE_OFF)
		FZ_CHECK(o->ede.n == 0);
	else
		FZ_CHECK(o->ede.n >= 1);
	fz_check_ede(&o->ede, c->ede_format == RS_EDE_JSON);
	fz_check_ede(&o->ede_plain, false);
}

static inline bool fz_ede_same(const struct rs_ede *a, const struct rs_ede *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || strcmp(a->text[i], b->text[i]) != 0)
			return false;
	return true;
}

/* Check o, then parse its stored fields again (as the snapshot does) and
 * check that the result is the same order. */
static inline void fz_check_order(const struct rs_conf *c, const struct rs_order *o)
{
	const char *kv[] = { "authority", o->authority, "reference", o->reference, "scope", o->scope,
			     "action", rs_action_name(o->action), "expires", o->expires_text,
			     "issued", o->issued, "reason", o->reason, "url", o->url, "lang", o->lang,
			     "windows", o->windows };
	struct rs_order *p = NULL;
	char err[512];

	fz_check_order_fields(c, o);
	FZ_CHECK(rs_order_parse(c, o->id, kv, sizeof(kv) / sizeof(kv[0]) / 2, &p, err, sizeof(err)) == 0);
	FZ_CHECK(strcmp(p->id, o->id) == 0 && strcmp(p->authority, o->authority) == 0 &&
		 strcmp(p->reference, o->reference) == 0 && strcmp(p->scope, o->scope) == 0 &&
		 strcmp(p->reason, o->reason) == 0 && strcmp(p->url, o->url) == 0 &&
		 strcmp(p->lang, o->lang) == 0 && strcmp(p->issued, o->issued) == 0 &&
		 strcmp(p->expires_text, o->expires_text) == 0);
	FZ_CHECK(p->expires == o->expires && p->action == o->action &&
		 p->in_scope == (o->in_scope || (o->sig && o->sig->revoked && rs_scope_includes(o->scope, c->jurisdiction))));
	FZ_CHECK(strcmp(p->windows, o->windows) == 0 && p->nwin == o->nwin &&
		 (o->nwin == 0 || memcmp(p->win, o->win, 2 * o->nwin * sizeof(*o->win)) == 0));
	FZ_CHECK(p->txt_len == o->txt_len && strcmp(p->txt, o->txt) == 0);
	FZ_CHECK(fz_ede_same(&p->ede, &o->ede) && fz_ede_same(&p->ede_plain, &o->ede_plain));
	rs_order_free(p);
}

#endif
