/*
 * order.c — parsing orders: every field validated, bounded and stored once, and
 * the answer texts (TXT, EDE variants) expanded then (see order.h).
 */
#include "order.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_err.h"
#include "text.h"

static const char *const action_names[] = { "sinkhole", "nxdomain", "nodata", "refused" };

const char *rs_action_name(int action)
{
	if (action < 0 || action > RS_ACT_REFUSED)
		return "?";
	return action_names[action];
}

bool rs_order_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > RS_ORDER_ID_MAX)
		return false;
	for (; *id; id++)
		if (*id <= ' ' || *id >= 0x7f || *id == ':' || *id == '|')
			return false;
	return true;
}

bool rs_lang_ok(const char *v)
{
	size_t n = 0, first = 0, total = strlen(v);
	bool alpha = true;

	if (total == 0 || total > RS_LANG_MAX)
		return false;
	for (; *v; v++) {
		if (*v == '-') {
			if (n == 0 || (first == 0 && (!alpha || n == 1)))
				return false;
			if (first == 0)
				first = n;
			n = 0;
		} else if (isalnum((unsigned char)*v) && ++n <= 8) {
			if (first == 0 && !isalpha((unsigned char)*v))
				alpha = false;
		} else {
			return false;
		}
	}
	if (n == 0)
		return false;
	return first != 0 || (alpha && n >= 2);
}

bool rs_scope_includes(const char *scope, const char *j)
{
	const char *p = scope;

	while (*p) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 1 && *p == '*')
			return true;
		if (j && n == strlen(j) && strncasecmp(p, j, n) == 0)
			return true;
		p += n;
	}
	return false;
}

static int digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*s)++) {
		if (!isdigit((unsigned char)**s))
			return RS_EINVAL;
		v = v * 10 + (**s - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int rs_rfc3339_parse(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0, sign = 0;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' || digits(&s, 2, &d))
		return RS_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return RS_EINVAL;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return RS_EINVAL;
	if (*s) {
		if (*s != 'T' && *s != 't' && *s != ' ')
			return RS_EINVAL;
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &se))
			return RS_EINVAL;
		if (h > 23 || mi > 59 || se > 60)
			return RS_EINVAL;
		if (*s == '.') {
			s++;
			if (!isdigit((unsigned char)*s))
				return RS_EINVAL;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s++ == '+' ? 1 : -1;
			if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
				return RS_EINVAL;
		} else {
			return RS_EINVAL;
		}
		if (*s)
			return RS_EINVAL;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - sign * (oh * 3600 + om * 60);
	return 0;
}


/* ---- live-event windows ---- */

/* One end of an interval: e[0..n) as a date, named what for the message. */
static int window_end(const char *e, size_t n, const char *what, int64_t *t, char *err, size_t errlen)
{
	char buf[RS_DATE_MAX + 1];

	if (n == 0) {
		snprintf(err, errlen, "the %s is missing (START/END, e.g. 2026-05-01T18:00:00Z/2026-05-01T20:00:00Z)",
			 what);
		return RS_EINVAL;
	}
	if (n > RS_DATE_MAX) {
		snprintf(err, errlen, "the %s is longer than %d characters", what, RS_DATE_MAX);
		return RS_EINVAL;
	}
	memcpy(buf, e, n);
	buf[n] = '\0';
	if (rs_rfc3339_parse(buf, t)) {
		snprintf(err, errlen, "the %s '%.40s' is not an RFC 3339 date-time (2026-05-01T18:00:00Z) or date", what,
			 buf);
		return RS_EINVAL;
	}
	return 0;
}

int rs_window_parse(const char *s, size_t len, int64_t *start, int64_t *end, char *err, size_t errlen)
{
	const char *slash = memchr(s, '/', len);

	if (errlen)
		err[0] = '\0';
	if (!slash) {
		snprintf(err, errlen, "not START/END (two RFC 3339 date-times joined by '/')");
		return RS_EINVAL;
	}
	if (memchr(slash + 1, '/', len - (size_t)(slash + 1 - s))) {
		snprintf(err, errlen, "more than one '/' (START/END)");
		return RS_EINVAL;
	}
	if (window_end(s, (size_t)(slash - s), "start", start, err, errlen) ||
	    window_end(slash + 1, len - (size_t)(slash + 1 - s), "end", end, err, errlen))
		return RS_EINVAL;
	if (*end <= *start) {
		snprintf(err, errlen, "the end is not after the start");
		return RS_EINVAL;
	}
	return 0;
}

int rs_windows_parse(const char *s, char **canon, int64_t **win, uint16_t *nwin, char *err, size_t errlen)
{
	int64_t w[2 * RS_WINDOWS_MAX];
	const char *tok[RS_WINDOWS_MAX];
	size_t toklen[RS_WINDOWS_MAX], n = 0, total = 0;
	char why[200];

	if (canon)
		*canon = NULL;
	if (win)
		*win = NULL;
	*nwin = 0;
	if (errlen)
		err[0] = '\0';
	for (const char *p = s;;) {
		size_t k;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		k = strcspn(p, " \t");
		if (n == RS_WINDOWS_MAX) {
			snprintf(err, errlen, "more than %d windows", RS_WINDOWS_MAX);
			return RS_EINVAL;
		}
		if (rs_window_parse(p, k, &w[2 * n], &w[2 * n + 1], why, sizeof(why))) {
			snprintf(err, errlen, "window %zu '%.*s': %s", n + 1, k > 130 ? 130 : (int)k, p, why);
			return RS_EINVAL;
		}
		if (n > 0 && w[2 * n] < w[2 * n - 1]) {
			bool before = w[2 * n] < w[2 * n - 2];
			snprintf(err, errlen, "window %zu '%.*s' %s window %zu '%.*s'%s", n + 1, k > 130 ? 130 : (int)k, p,
				 before ? "starts before" : "overlaps", n, toklen[n - 1] > 130 ? 130 : (int)toklen[n - 1],
				 tok[n - 1], before ? " (windows must be in time order)" : "");
			return RS_EINVAL;
		}
		tok[n] = p;
		toklen[n] = k;
		total += k + 1;
		n++;
		p += k;
	}
	if (canon) {
		char *c = malloc(total ? total : 1), *q = c;
		if (!c)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			if (i)
				*q++ = ' ';
			memcpy(q, tok[i], toklen[i]);
			q += toklen[i];
		}
		*q = '\0';
		*canon = c;
	}
	if (win && n) {
		if (!(*win = malloc(2 * n * sizeof(**win))))
			goto oom;
		memcpy(*win, w, 2 * n * sizeof(**win));
	}
	*nwin = (uint16_t)n;
	return 0;
oom:
	if (canon) {
		free(*canon);
		*canon = NULL;
	}
	snprintf(err, errlen, "out of memory");
	return RS_ENOMEM;
}

int64_t rs_order_next_transition(const struct rs_order *o, int64_t now)
{
	int64_t next = 0;
	size_t lo = 0, hi = 2 * (size_t)o->nwin;

	if (!o->in_scope || (o->expires && o->expires <= now))
		return 0;
	/* win[] is non-decreasing: the first boundary after now */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->win[mid] <= now)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < 2 * (size_t)o->nwin)
		next = o->win[lo];
	if (o->expires && (next == 0 || o->expires < next))
		next = o->expires;
	return next;
}


static const char *kv_get(const char *const *kv, size_t npairs, const char *name)
{
	for (size_t i = 0; i < npairs; i++)
		if (strcmp(kv[2 * i], name) == 0)
			return kv[2 * i + 1];
	return NULL;
}

/* Placeholder lookup for the TXT / EDE templates. */
static const char *order_field(const char *name, size_t len, void *arg)
{
	const struct rs_order *o = arg;
#define F(n, v) if (len == sizeof(n) - 1 && memcmp(name, n, len) == 0) return (v)
	F("order", o->id);
	F("authority", o->authority);
	F("reference", o->reference);
	F("reason", o->reason);
	F("url", o->url);
	F("issued", o->issued);
	F("action", rs_action_name(o->action));
	F("signer", o->sig ? o->sig->label : ""); /* signed mode: who signed the verified version */
	F("signer_key", o->sig ? o->sig->key : "");
#undef F
	return NULL;
}

/* s without leading and trailing ASCII white space, malloc'd. */
static char *trim_dup(const char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/*
 * The scope as stored: "*" and ISO 3166-1 alpha-2 codes, upper-case, joined by
 * one space, in the order given (separators: spaces, tabs, commas). NULL with
 * *bad set when a token is anything else or there are too many.
 */
static char *scope_norm(const char *s, bool *bad)
{
	struct rs_buf b = { 0 };
	size_t ncodes = 0;

	*bad = false;
	while (*s) {
		size_t n;
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		n = strcspn(s, " \t,");
		if (n == 0)
			break;
		if (++ncodes > RS_SCOPE_CODES_MAX ||
		    !((n == 1 && *s == '*') || (n == 2 && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1])))) {
			*bad = true;
			free(b.s);
			return NULL;
		}
		if (b.len)
			rs_buf_add(&b, " ", 1);
		if (n == 1) {
			rs_buf_add(&b, "*", 1);
		} else {
			char cc[2] = { (char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]) };
			rs_buf_add(&b, cc, 2);
		}
		s += n;
	}
	if (ncodes == 0 || b.oom) {
		*bad = ncodes == 0;
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* http:, https: or mailto: (any case), something after it, no space, bounded. */
static bool url_ok(const char *u)
{
	size_t n = strlen(u), k;

	if (n > RS_URL_MAX || strpbrk(u, " \"<>\\^`{|}"))
		return false;
	if (strncasecmp(u, "https://", 8) == 0)
		k = 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		k = 7;
	else if (strncasecmp(u, "mailto:", 7) == 0)
		k = 7;
	else
		return false;
	return n > k;
}

/* A cleaned display text; sets RS_OW_CUT when it differs from the input. */
static char *clean(struct rs_order *o, const char *s, size_t max)
{
	char *t = rs_text_clean(s ? s : "", max);
	char *u = s ? trim_dup(s) : NULL;

	if (t && s && (!u || strcmp(t, u) != 0))
		o->warnings |= RS_OW_CUT;
	free(u);
	return t;
}

/* Store text as variant k of e (skipped when equal to the previous one). */
static int ede_add(struct rs_ede *e, const char *text, size_t len)
{
	if (e->n > 0 && e->len[e->n - 1] == len && memcmp(e->text[e->n - 1], text, len) == 0)
		return 0;
	if (e->n == RS_EDE_NVAR || len > RS_EDE_MAX)
		return RS_EINVAL;
	if (!(e->text[e->n] = strndup(text, len)))
		return RS_ENOMEM;
	e->len[e->n++] = (uint16_t)len;
	return 0;
}

static void ede_free(struct rs_ede *e)
{
	for (unsigned i = 0; i < e->n; i++)
		free(e->text[i]);
	e->n = 0;
}

/* The "c":[...] member (without a separator): the contacts, in order, while
 * the member stays within RS_EDE_CONTACTS_MAX octets. */
static void json_contacts(struct rs_buf *b, const struct rs_conf *c)
{
	size_t start = b->len, n = 0;

	rs_buf_adds(b, "\"c\":[");
	for (size_t i = 0; i < c->ncontacts; i++) {
		size_t before = b->len;
		if (n)
			rs_buf_add(b, ",", 1);
		rs_buf_json(b, c->contacts[i]);
		if (b->oom)
			return;
		if (b->len - start + 1 > RS_EDE_CONTACTS_MAX) {
			b->len = before;
			b->s[b->len] = '\0';
			break;
		}
		n++;
	}
	rs_buf_add(b, "]", 1);
}

/*
 * The structured DNS error variants (draft-ietf-dnsop-structured-dns-error):
 * minified I-JSON {"c":[contacts],"j":justification,"o":organisation,
 * "l":language}, then without "j", then "c" alone, then "". "l" is present
 * exactly when "j" or "o" is; "s" is never sent (it goes with EDE 17, not 16);
 * "c" is omitted when no contact is configured. The full object is kept
 * within RS_EDE_MAX octets by cutting the escaped "j".
 */
static int build_json(struct rs_ede *e, const struct rs_conf *c, const struct rs_order *o)
{
	struct rs_buf j = { 0 }, full = { 0 }, noj = { 0 }, conly = { 0 };
	int rc = RS_ENOMEM;

	rs_buf_adds(&j, "Order ");
	rs_buf_adds(&j, o->reference);
	if (*o->reason) {
		rs_buf_adds(&j, ": ");
		rs_buf_adds(&j, o->reason);
	}
	if (*o->url) {
		rs_buf_adds(&j, " ");
		rs_buf_adds(&j, o->url);
	}
	/* without j: {"c":[..],"o":..,"l":..} */
	rs_buf_add(&noj, "{", 1);
	if (c->ncontacts > 0) {
		json_contacts(&noj, c);
		rs_buf_add(&noj, ",", 1);
	}
	rs_buf_adds(&noj, "\"o\":");
	rs_buf_json(&noj, o->authority);
	rs_buf_adds(&noj, ",\"l\":");
	rs_buf_json(&noj, o->lang);
	rs_buf_add(&noj, "}", 1);
	/* full: the same with "j" before "o", cut to fit RS_EDE_MAX */
	rs_buf_add(&full, "{", 1);
	if (c->ncontacts > 0) {
		json_contacts(&full, c);
		rs_buf_add(&full, ",", 1);
	}
	if (!j.oom && !noj.oom && noj.len + 6 + 2 <= RS_EDE_MAX) {
		rs_buf_adds(&full, "\"j\":");
		rs_buf_json_max(&full, j.s, RS_EDE_MAX - noj.len - 5);
		rs_buf_add(&full, ",", 1);
	}
	rs_buf_adds(&full, "\"o\":");
	rs_buf_json(&full, o->authority);
	rs_buf_adds(&full, ",\"l\":");
	rs_buf_json(&full, o->lang);
	rs_buf_add(&full, "}", 1);
	if (c->ncontacts > 0) {
		rs_buf_add(&conly, "{", 1);
		json_contacts(&conly, c);
		rs_buf_add(&conly, "}", 1);
	}
	if (j.oom || full.oom || noj.oom || conly.oom)
		goto out;
	if ((rc = ede_add(e, full.s, full.len)) || (rc = ede_add(e, noj.s, noj.len)) ||
	    (conly.s && (rc = ede_add(e, conly.s, conly.len))) || (rc = ede_add(e, "", 0)))
		goto out;
	rc = 0;
out:
	free(j.s);
	free(full.s);
	free(noj.s);
	free(conly.s);
	return rc;
}

static int build_text(struct rs_ede *e, const struct rs_conf *c, const struct rs_order *o);

/* The answer texts of o: TXT, the EDE variants. 0 or RS_ENOMEM (o->txt may be NULL then). */
static int order_texts(const struct rs_conf *c, struct rs_order *o)
{
	struct rs_buf txt = { 0 };

	if (rs_template_expand(&txt, c->txt_text ? c->txt_text : "{reference}", order_field, o)) {
		free(txt.s);
		return RS_ENOMEM;
	}
	o->txt = rs_text_clean(txt.s, RS_TXT_MAX);
	free(txt.s);
	if (!o->txt)
		return RS_ENOMEM;
	o->txt_len = strlen(o->txt);
	if (c->ede_format == RS_EDE_JSON) {
		if (build_json(&o->ede, c, o))
			return RS_ENOMEM;
		if (c->ede_json_clients == RS_EDE_CLIENTS_SDE && build_text(&o->ede_plain, c, o))
			return RS_ENOMEM;
	} else if (c->ede_format == RS_EDE_TEXT) {
		if (build_text(&o->ede, c, o))
			return RS_ENOMEM;
	}
	return 0;
}

int rs_order_texts(const struct rs_conf *c, struct rs_order *o)
{
	struct rs_order n = *o; /* the texts built aside: o keeps its own on failure */
	int rc;

	n.txt = NULL;
	memset(&n.ede, 0, sizeof(n.ede));
	memset(&n.ede_plain, 0, sizeof(n.ede_plain));
	rc = order_texts(c, &n);
	if (rc) {
		free(n.txt);
		ede_free(&n.ede);
		ede_free(&n.ede_plain);
		return rc;
	}
	free(o->txt);
	ede_free(&o->ede);
	ede_free(&o->ede_plain);
	o->txt = n.txt;
	o->txt_len = n.txt_len;
	o->ede = n.ede;
	o->ede_plain = n.ede_plain;
	return 0;
}

/* Plain-text variants: the ede-text template (bounded), a short cut, "". */
static int build_text(struct rs_ede *e, const struct rs_conf *c, const struct rs_order *o)
{
	struct rs_buf t = { 0 };
	char *full = NULL, *shrt = NULL;
	int rc = RS_ENOMEM;

	if (rs_template_expand(&t, c->ede_text ? c->ede_text : "Blocked by order {reference} of {authority}",
			       order_field, (void *)o))
		goto out;
	full = rs_text_clean(t.s, RS_EDE_MAX);
	shrt = rs_text_clean(t.s, RS_EDE_SHORT);
	if (!full || !shrt)
		goto out;
	if ((rc = ede_add(e, full, strlen(full))) || (rc = ede_add(e, shrt, strlen(shrt))) || (rc = ede_add(e, "", 0)))
		goto out;
	rc = 0;
out:
	free(t.s);
	free(full);
	free(shrt);
	return rc;
}

int rs_order_parse(const struct rs_conf *c, const char *id, const char *const *kv, size_t npairs,
		   struct rs_order **out, char *err, size_t errlen)
{
	const char *authority = kv_get(kv, npairs, "authority");
	const char *reference = kv_get(kv, npairs, "reference");
	const char *scope = kv_get(kv, npairs, "scope");
	const char *action = kv_get(kv, npairs, "action");
	const char *expires = kv_get(kv, npairs, "expires");
	const char *windows = kv_get(kv, npairs, "windows");
	const char *issued = kv_get(kv, npairs, "issued");
	const char *lang = kv_get(kv, npairs, "lang");
	const char *url = kv_get(kv, npairs, "url");
	const char *deflang = c->language && rs_lang_ok(c->language) ? c->language : "en";
	struct rs_buf txt = { 0 };
	struct rs_order *o;
	bool badscope;
	int act = -1;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return RS_EINVAL; } while (0)
#define BADO(...) do { snprintf(err, errlen, __VA_ARGS__); rs_order_free(o); return RS_EINVAL; } while (0)
	if (!rs_order_id_ok(id))
		BAD("order id is empty, too long or has spaces or control characters");
	if (!authority)
		BAD("order '%s': missing field 'authority'", id);
	if (!reference)
		BAD("order '%s': missing field 'reference'", id);
	if (!scope)
		BAD("order '%s': missing field 'scope'", id);
	if (!action)
		BAD("order '%s': missing field 'action'", id);
	for (int i = 0; i <= RS_ACT_REFUSED; i++)
		if (strcmp(action, action_names[i]) == 0)
			act = i;
	if (act < 0)
		BAD("order '%s': action '%.40s' is not sinkhole, nxdomain, nodata or refused", id, action);
	o = calloc(1, sizeof(*o));
	if (!o)
		BAD("out of memory");
	o->action = (uint8_t)act;
	if (!(o->id = strdup(id)))
		goto oom;

	/* strict fields */
	if (!(o->expires_text = trim_dup(expires ? expires : "")))
		goto oom;
	if (*o->expires_text &&
	    (strlen(o->expires_text) > RS_DATE_MAX || rs_rfc3339_parse(o->expires_text, &o->expires)))
		BADO("order '%s': expires '%.40s' is not an RFC 3339 date", id, o->expires_text);
	if (*o->expires_text && o->expires == 0)
		o->expires = 1; /* 1970-01-01T00:00:00Z: long expired, not "never" */
	{
		char why[400];
		int rc = rs_windows_parse(windows ? windows : "", &o->windows, &o->win, &o->nwin, why, sizeof(why));
		if (rc == RS_ENOMEM)
			goto oom;
		if (rc)
			BADO("order '%s': windows: %s", id, why);
	}
	o->scope = scope_norm(scope, &badscope);
	if (!o->scope && badscope)
		BADO("order '%s': scope '%.40s' is not '*' or at most %d ISO 3166-1 alpha-2 codes", id, scope,
		     RS_SCOPE_CODES_MAX);
	if (!o->scope)
		goto oom;
	o->in_scope = rs_scope_includes(o->scope, c->jurisdiction);

	/* display texts */
	o->authority = clean(o, authority, RS_AUTHORITY_MAX);
	o->reference = clean(o, reference, RS_REFERENCE_MAX);
	o->reason = clean(o, kv_get(kv, npairs, "reason"), RS_REASON_MAX);
	if (!o->authority || !o->reference || !o->reason)
		goto oom;
	if (!*o->authority)
		BADO("order '%s': missing field 'authority'", id);
	if (!*o->reference)
		BADO("order '%s': missing field 'reference'", id);

	/* replaced when invalid */
	if (!(o->url = trim_dup(url ? url : "")) || !(o->issued = trim_dup(issued ? issued : "")) ||
	    !(o->lang = trim_dup(lang ? lang : "")))
		goto oom;
	if (*o->url && !url_ok(o->url)) {
		o->warnings |= RS_OW_URL;
		o->url[0] = '\0';
	}
	if (*o->issued) {
		int64_t t;
		if (strlen(o->issued) > RS_DATE_MAX || rs_rfc3339_parse(o->issued, &t)) {
			o->warnings |= RS_OW_ISSUED;
			o->issued[0] = '\0';
		}
	}
	if (!rs_lang_ok(o->lang)) {
		if (*o->lang)
			o->warnings |= RS_OW_LANG;
		free(o->lang);
		if (!(o->lang = strdup(deflang)))
			goto oom;
	}

	if (order_texts(c, o))
		goto oom;
	if (o->warnings && errlen) {
		snprintf(err, errlen, "order '%s':%s%s%s%s", id,
			 o->warnings & RS_OW_LANG ? " lang is not a BCP 47 tag (using the resolver's language);" : "",
			 o->warnings & RS_OW_URL ? " url is not an http(s) or mailto URL (dropped);" : "",
			 o->warnings & RS_OW_ISSUED ? " issued is not an RFC 3339 date (dropped);" : "",
			 o->warnings & RS_OW_CUT ? " a text was cleaned or shortened;" : "");
		err[strlen(err) - 1] = '\0';
	}
	*out = o;
	return 0;
oom:
	free(txt.s);
	rs_order_free(o);
	BAD("out of memory");
#undef BAD
#undef BADO
}

void rs_order_free(struct rs_order *o)
{
	if (!o)
		return;
	free(o->id);
	free(o->authority);
	free(o->reference);
	free(o->reason);
	free(o->url);
	free(o->lang);
	free(o->scope);
	free(o->issued);
	free(o->expires_text);
	free(o->windows);
	free(o->win);
	free(o->txt);
	ede_free(&o->ede);
	ede_free(&o->ede_plain);
	if (o->sig)
		free(o->sig->text);
	free(o->sig);
	free(o);
}
