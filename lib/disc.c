/* disc.c — the discovered-names writer and readers (see disc.h). */
#include "disc.h"

#include <string.h>

#include "rs_err.h"

size_t rs_disc_name(const uint8_t *w, size_t len, char *out)
{
	size_t o = 0, p = 0;

	while (p < len && w[p] != 0) {
		uint8_t l = w[p++];
		if (l > 63 || p + l > len || p + l + 1 > RS_WIRE_MAX) /* + 1: the root label */
			return out[0] = '\0', 0;
		if (o)
			out[o++] = '.';
		for (uint8_t i = 0; i < l; i++, p++) {
			uint8_t c = w[p];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + (c / 10) % 10);
				out[o++] = (char)('0' + c % 10);
			} else {
				out[o++] = (char)c;
			}
		}
	}
	if (p >= len) /* no root label within len */
		o = 0;
	out[o] = '\0';
	return o;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

int rs_disc_name_parse(const char *s, size_t len, uint8_t *wire)
{
	uint8_t w[RS_WIRE_MAX];
	char back[RS_DISC_NAME_MAX + 1];
	size_t wl = 1, lab = 0; /* w[lab] is the current label's length octet */

	if (len == 0 || len > RS_DISC_NAME_MAX)
		return RS_EINVAL;
	w[0] = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)s[i];
		if (c == '.') {
			if (w[lab] == 0)
				return RS_EINVAL;
			lab = wl++;
			if (wl >= RS_WIRE_MAX)
				return RS_EINVAL;
			w[lab] = 0;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= len)
				return RS_EINVAL;
			if (digit(s[i + 1])) {
				if (i + 3 >= len || !digit(s[i + 2]) || !digit(s[i + 3]))
					return RS_EINVAL;
				c = (unsigned)(s[i + 1] - '0') * 100 + (unsigned)(s[i + 2] - '0') * 10 +
				    (unsigned)(s[i + 3] - '0');
				if (c > 255)
					return RS_EINVAL;
				i += 3;
			} else {
				c = (unsigned char)s[++i];
			}
		}
		if (w[lab] == 63 || wl + 1 >= RS_WIRE_MAX) /* + 1: the root label */
			return RS_EINVAL;
		w[wl++] = (uint8_t)c;
		w[lab]++;
	}
	if (w[lab] == 0)
		return RS_EINVAL;
	w[wl++] = 0;
	/* exactly the writer's text: one spelling per name */
	if (rs_disc_name(w, wl, back) != len || memcmp(back, s, len) != 0)
		return RS_EINVAL;
	if (wire)
		memcpy(wire, w, wl);
	return (int)wl;
}

size_t rs_disc_field(char *out, size_t n, const char *name, const char *order, const char *prefix)
{
	size_t nl = strlen(name), ol = strlen(order), pl = strlen(prefix);

	if (n == 0 || nl + ol + pl + 3 > n || rs_disc_name_parse(name, nl, NULL) < 0)
		return n ? (out[0] = '\0', 0) : 0;
	memcpy(out, name, nl);
	out[nl] = '|';
	memcpy(out + nl + 1, order, ol);
	out[nl + 1 + ol] = '|';
	memcpy(out + nl + ol + 2, prefix, pl);
	out[nl + ol + pl + 2] = '\0';
	return nl + ol + pl + 2;
}

int rs_disc_value_parse(const char *v, size_t len, struct rs_disc_field *out)
{
	const char *bar = memchr(v, '|', len);
	size_t ol, pl;
	char text[RS_PREFIX_TEXT_MAX];

	if (!bar || memchr(bar + 1, '|', len - (size_t)(bar - v) - 1) || memchr(v, '\0', len))
		return RS_EINVAL;
	ol = (size_t)(bar - v);
	pl = len - ol - 1;
	if (ol == 0 || ol > RS_ORDER_ID_MAX || pl == 0 || pl >= sizeof(text))
		return RS_EINVAL;
	memcpy(out->order, v, ol);
	out->order[ol] = '\0';
	memcpy(text, bar + 1, pl);
	text[pl] = '\0';
	if (!rs_order_id_ok(out->order) || rs_prefix_parse(text, &out->p, NULL, 0) != 0 ||
	    !rs_prefix_format(&out->p, out->prefix, sizeof(out->prefix)) || strcmp(out->prefix, text) != 0)
		return RS_EINVAL;
	return 0;
}

int rs_disc_field_parse(const char *f, size_t len, struct rs_disc_field *out)
{
	const char *bar = memchr(f, '|', len);
	size_t nl;

	if (!bar)
		return RS_EINVAL;
	nl = (size_t)(bar - f);
	if (rs_disc_name_parse(f, nl, NULL) < 0 || rs_disc_value_parse(bar + 1, len - nl - 1, out) != 0)
		return RS_EINVAL;
	memcpy(out->name, f, nl);
	out->name[nl] = '\0';
	return 0;
}

/* Generic second-level labels under a two-letter top-level domain. */
static bool generic_sld(const uint8_t *l, size_t n)
{
	static const char *const sld[] = { "co", "com", "net", "org", "gov", "edu", "ac", "or",
					   "ne", "go", "gob", "nic", "ltd", "plc", "sch", "mil" };

	for (size_t i = 0; i < sizeof(sld) / sizeof(sld[0]); i++)
		if (strlen(sld[i]) == n && memcmp(sld[i], l, n) == 0)
			return true;
	return false;
}

size_t rs_disc_base(const uint8_t *w, size_t len)
{
	size_t off[RS_LABELS_MAX], n = 0;

	for (size_t p = 0; p < len && w[p] != 0 && n < RS_LABELS_MAX; p += 1 + (size_t)w[p])
		off[n++] = p;
	if (n <= 2)
		return 0;
	if (w[off[n - 1]] == 2 && generic_sld(w + off[n - 2] + 1, w[off[n - 2]]))
		return off[n - 3];
	return off[n - 2];
}
