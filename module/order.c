/* order.c — parsing orders and expanding their answer texts (see order.h). */
#include "order.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_err.h"
#include "text.h"

/* Longest reason / justification kept in DNS texts: an answer with EDNS must
 * stay well inside a 1232-octet UDP payload. */
#define RS_TEXT_MAX 300

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
		if (*id <= ' ' || *id >= 0x7f)
			return false;
	return true;
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
#undef F
	return NULL;
}

static char *trimmed_dup(const char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	n = rs_utf8_prefix(s, n, RS_TEXT_MAX);
	return strndup(s, n);
}

/* The structured DNS error (draft-ietf-dnsop-structured-dns-error): minified
 * I-JSON with c (contact URIs), j (justification), o (organisation), l (lang). */
static int build_json(struct rs_buf *b, const struct rs_conf *c, const struct rs_order *o)
{
	struct rs_buf j = { 0 };

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
	rs_buf_add(b, "{", 1);
	if (c->ncontacts > 0) {
		rs_buf_adds(b, "\"c\":[");
		for (size_t i = 0; i < c->ncontacts; i++) {
			if (i)
				rs_buf_add(b, ",", 1);
			rs_buf_json(b, c->contacts[i]);
		}
		rs_buf_adds(b, "],");
	}
	rs_buf_adds(b, "\"j\":");
	rs_buf_json(b, j.oom ? "" : j.s);
	rs_buf_adds(b, ",\"o\":");
	rs_buf_json(b, o->authority);
	rs_buf_adds(b, ",\"l\":");
	rs_buf_json(b, o->lang);
	rs_buf_add(b, "}", 1);
	free(j.s);
	return (b->oom || j.oom) ? RS_ENOMEM : 0;
}

int rs_order_parse(const struct rs_conf *c, const char *id, const char *const *kv, size_t npairs,
		   struct rs_order **out, char *err, size_t errlen)
{
	const char *authority = kv_get(kv, npairs, "authority");
	const char *reference = kv_get(kv, npairs, "reference");
	const char *scope = kv_get(kv, npairs, "scope");
	const char *action = kv_get(kv, npairs, "action");
	const char *expires = kv_get(kv, npairs, "expires");
	const char *issued = kv_get(kv, npairs, "issued");
	const char *lang = kv_get(kv, npairs, "lang");
	struct rs_buf txt = { 0 }, ede = { 0 };
	struct rs_order *o;
	int act = -1;

	*out = NULL;
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return RS_EINVAL; } while (0)
	if (!rs_order_id_ok(id))
		BAD("order id is empty, too long or has spaces or control characters");
	if (!authority || !*authority)
		BAD("order '%s': missing field 'authority'", id);
	if (!reference || !*reference)
		BAD("order '%s': missing field 'reference'", id);
	if (!scope || !*scope)
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
	if (expires && *expires && rs_rfc3339_parse(expires, &o->expires)) {
		free(o);
		BAD("order '%s': expires '%.40s' is not an RFC 3339 date", id, expires);
	}
	if (expires && *expires && o->expires == 0)
		o->expires = 1; /* 1970-01-01T00:00:00Z: long expired, not "never" */
	o->action = (uint8_t)act;
	o->in_scope = rs_scope_includes(scope, c->jurisdiction);
	o->id = strdup(id);
	o->authority = trimmed_dup(authority);
	o->reference = trimmed_dup(reference);
	o->scope = trimmed_dup(scope);
	o->reason = trimmed_dup(kv_get(kv, npairs, "reason") ? kv_get(kv, npairs, "reason") : "");
	o->url = trimmed_dup(kv_get(kv, npairs, "url") ? kv_get(kv, npairs, "url") : "");
	o->issued = trimmed_dup(issued ? issued : "");
	o->expires_text = trimmed_dup(expires ? expires : "");
	o->lang = strdup(lang && *lang ? lang : c->language ? c->language : "en");
	if (!o->id || !o->authority || !o->reference || !o->scope || !o->reason || !o->url || !o->issued || !o->expires_text || !o->lang)
		goto oom;
	if (rs_template_expand(&txt, c->txt_text ? c->txt_text : "{reference}", order_field, o))
		goto oom;
	o->txt_len = rs_utf8_prefix(txt.s, txt.len, 4 * 255); /* at most 4 character-strings */
	txt.s[o->txt_len] = '\0';
	o->txt = txt.s;
	txt.s = NULL;
	if (c->ede_format == RS_EDE_JSON) {
		if (build_json(&ede, c, o))
			goto oom;
	} else if (c->ede_format == RS_EDE_TEXT) {
		if (rs_template_expand(&ede, c->ede_text ? c->ede_text : "{reference}", order_field, o))
			goto oom;
	}
	if (ede.s) {
		o->ede = ede.s;
		o->ede_len = ede.len;
		ede.s = NULL;
	}
	*out = o;
	return 0;
oom:
	free(txt.s);
	free(ede.s);
	rs_order_free(o);
	BAD("out of memory");
#undef BAD
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
	free(o->txt);
	free(o->ede);
	free(o);
}
