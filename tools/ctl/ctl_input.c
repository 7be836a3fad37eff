/* ctl_input.c — reading plain, CSV, JSON and RPZ domain lists, and the
 * address prefixes in them (see ctl_input.h). */
#include "ctl_input.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_name.h"
#include "prefix.h"
#include "rs_err.h"
#include "text.h"

#define ITEM_WILD_ONLY 0x01 /* RPZ: seen only as "*.name" so far */
#define ITEM_RPZ 0x02       /* came from an RPZ file (same-owner records are not duplicates) */

/* ---- arena for the names ---- */

struct ctl_arena {
	struct ctl_arena *next;
	size_t used, size;
	char data[];
};

static char *arena_dup(struct ctl_batch *b, const char *s, size_t n)
{
	struct ctl_arena *a = b->arena;
	char *p;

	if (!a || a->size - a->used < n + 1) {
		size_t sz = n + 1 > 1 << 20 ? n + 1 : 1 << 20;
		a = malloc(sizeof(*a) + sz);
		if (!a)
			return NULL;
		a->next = b->arena;
		a->used = 0;
		a->size = sz;
		b->arena = a;
	}
	p = a->data + a->used;
	memcpy(p, s, n);
	p[n] = '\0';
	a->used += n + 1;
	return p;
}

void ctl_batch_init(struct ctl_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void ctl_batch_free(struct ctl_batch *b)
{
	struct ctl_arena *a = b->arena;

	while (a) {
		struct ctl_arena *next = a->next;
		free(a);
		a = next;
	}
	for (size_t i = 0; i < b->ndiags; i++)
		free(b->diags[i].text);
	free(b->diags);
	free(b->items);
	free(b->slots);
	free(b->pitems);
	free(b->pslots);
	memset(b, 0, sizeof(*b));
}

/* ---- the set of names ---- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* One set of the batch (names, or prefixes): the items and their slot table. */
struct set {
	struct ctl_item **items;
	size_t *n, *cap;
	uint32_t **slots;
	size_t *nslots;
};

static struct set names_of(struct ctl_batch *b)
{
	return (struct set){ &b->items, &b->n, &b->cap, &b->slots, &b->nslots };
}

static struct set prefixes_of(struct ctl_batch *b)
{
	return (struct set){ &b->pitems, &b->np, &b->pcap, &b->pslots, &b->npslots };
}

static long set_find(const struct ctl_item *items, const uint32_t *slots, size_t nslots, const char *key)
{
	size_t mask, i;

	if (nslots == 0)
		return -1;
	mask = nslots - 1;
	for (i = str_hash(key) & mask; slots[i]; i = (i + 1) & mask)
		if (strcmp(items[slots[i] - 1].name, key) == 0)
			return (long)slots[i] - 1;
	return -1;
}

long ctl_batch_find(const struct ctl_batch *b, const char *name)
{
	return set_find(b->items, b->slots, b->nslots, name);
}

long ctl_batch_find_prefix(const struct ctl_batch *b, const char *prefix)
{
	return set_find(b->pitems, b->pslots, b->npslots, prefix);
}

/* Rebuild the slot table of set st with n slots (n: a power of two). */
static int set_rehash(struct set st, size_t n)
{
	size_t mask = n - 1;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return RS_ENOMEM;
	for (size_t k = 0; k < *st.n; k++) {
		size_t i = str_hash((*st.items)[k].name) & mask;
		while (s[i])
			i = (i + 1) & mask;
		s[i] = (uint32_t)k + 1;
	}
	free(*st.slots);
	*st.slots = s;
	*st.nslots = n;
	return 0;
}

static int rehash(struct ctl_batch *b, size_t n)
{
	return set_rehash(names_of(b), n);
}

/* Insert a new canonical key into set st; its index, or RS_ENOMEM. */
static long set_insert(struct ctl_batch *b, struct set st, const char *name, const char *file, uint32_t line,
		       uint8_t flags)
{
	size_t mask, i;
	char *copy;

	if ((*st.n + 1) * 2 > *st.nslots && set_rehash(st, *st.nslots ? *st.nslots * 2 : 1024))
		return RS_ENOMEM;
	if (*st.n == *st.cap) {
		size_t cap = *st.cap ? *st.cap * 2 : 1024;
		struct ctl_item *it = realloc(*st.items, cap * sizeof(*it));
		if (!it)
			return RS_ENOMEM;
		*st.items = it;
		*st.cap = cap;
	}
	copy = arena_dup(b, name, strlen(name));
	if (!copy)
		return RS_ENOMEM;
	(*st.items)[*st.n] = (struct ctl_item){ copy, file, line, flags };
	mask = *st.nslots - 1;
	for (i = str_hash(name) & mask; (*st.slots)[i]; i = (i + 1) & mask)
		;
	(*st.slots)[i] = (uint32_t)*st.n + 1;
	return (long)(*st.n)++;
}

static long insert(struct ctl_batch *b, const char *name, const char *file, uint32_t line, uint8_t flags)
{
	return set_insert(b, names_of(b), name, file, line, flags);
}

/* ---- diagnostics ---- */

void ctl_batch_print_diags(const struct ctl_batch *b, FILE *f, bool errors, bool warnings, const char *pre)
{
	for (size_t i = 0; i < b->ndiags; i++) {
		const struct ctl_diag *d = &b->diags[i];
		if ((d->error && !errors) || (!d->error && !warnings))
			continue;
		fprintf(f, "%s%s:%u: %s: %s\n", pre, d->file, d->line, d->error ? "error" : "warning", d->text);
	}
	if (b->ndiags >= CTL_DIAG_MAX)
		fprintf(f, "%s... %zu more diagnostics not shown\n", pre, b->nerrors + b->nwarnings - b->ndiags);
}

/* s as a JSON string ("" when out of memory: a diagnostic is short). */
static void json_str(FILE *f, const char *s)
{
	struct rs_buf j = { 0 };

	rs_buf_json(&j, s ? s : "");
	fputs(j.oom || !j.s ? "\"\"" : j.s, f);
	free(j.s);
}

void ctl_batch_json_diags(const struct ctl_batch *b, FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < b->ndiags; i++) {
		fprintf(f, "%s{\"file\":", i ? "," : "");
		json_str(f, b->diags[i].file);
		fprintf(f, ",\"line\":%u,\"severity\":\"%s\",\"text\":", b->diags[i].line,
			b->diags[i].error ? "error" : "warning");
		json_str(f, b->diags[i].text);
		fputc('}', f);
	}
	fputc(']', f);
}

void ctl_batch_diag(struct ctl_batch *b, const char *file, uint32_t line, bool error, const char *what,
		    size_t wlen, const char *msg)
{
	char shown[400];
	size_t n;
	char *text;

	if (error)
		b->nerrors++;
	else
		b->nwarnings++;
	if (b->ndiags >= CTL_DIAG_MAX)
		return;
	if (b->ndiags == b->dcap) {
		size_t cap = b->dcap ? b->dcap * 2 : 64;
		struct ctl_diag *d = realloc(b->diags, cap * sizeof(*d));
		if (!d) {
			b->oom = true;
			return;
		}
		b->diags = d;
		b->dcap = cap;
	}
	if (wlen > 0)
		ctl_show(what, wlen, 80, shown, sizeof(shown));
	n = strlen(msg) + (wlen > 0 ? strlen(shown) + 5 : 0) + 1;
	text = malloc(n);
	if (!text) {
		b->oom = true;
		return;
	}
	if (wlen > 0)
		snprintf(text, n, "'%s': %s", shown, msg);
	else
		snprintf(text, n, "%s", msg);
	b->diags[b->ndiags++] = (struct ctl_diag){ file, line, error, text };
}

/* Add a token; rpz: same-file repeats are silent, wild: it was "*.name". */
static int add_token(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len, bool rpz,
		     bool wild)
{
	struct ctl_name_res r;
	long idx;
	int rc = ctl_name_canon(tok, len, b->name_flags, &r);

	if (rc == CTL_NAME_BLANK)
		return 0;
	if (rc < 0) {
		ctl_batch_diag(b, file, line, true, tok, len, r.err);
		return 0;
	}
	if (r.warn[0])
		ctl_batch_diag(b, file, line, false, tok, len, r.warn);
	idx = ctl_batch_find(b, r.name);
	if (idx >= 0) {
		struct ctl_item *it = &b->items[idx];
		if (rpz && (it->flags & ITEM_RPZ) && it->file == file) {
			if (!wild)
				it->flags &= (uint8_t)~ITEM_WILD_ONLY;
			return 0;
		}
		char msg[600];
		snprintf(msg, sizeof(msg), "duplicate of %s:%u ('%s')", it->file, it->line, it->name);
		ctl_batch_diag(b, file, line, false, tok, len, msg);
		return 0;
	}
	idx = insert(b, r.name, file, line, (uint8_t)((rpz ? ITEM_RPZ : 0) | (wild ? ITEM_WILD_ONLY : 0)));
	return idx < 0 ? (int)idx : 0;
}

int ctl_batch_add(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len)
{
	return add_token(b, file, line, tok, len, false, false);
}

/* ---- address prefixes ---- */

static bool wants_names(const struct ctl_batch *b)
{
	return b->want == 0 || (b->want & CTL_WANT_NAMES);
}

static bool wants_prefixes(const struct ctl_batch *b)
{
	return (b->want & CTL_WANT_PREFIXES) != 0;
}

int ctl_batch_add_prefix(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len)
{
	char text[RS_PREFIX_TEXT_MAX + 16], canon[RS_PREFIX_TEXT_MAX], err[200];
	const char *s = tok;
	struct rs_prefix p;
	size_t n = len;
	long idx;

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return 0;
	if (n >= sizeof(text) || memchr(s, '\0', n)) {
		ctl_batch_diag(b, file, line, true, tok, len, "not an IPv4 or IPv6 address or prefix");
		return 0;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	if (rs_prefix_parse(text, &p, err, sizeof(err))) {
		/* the reason quotes the input already ("'10.0.0.1/8': host bits set") */
		if (err[0] == '\'')
			ctl_batch_diag(b, file, line, true, NULL, 0, err);
		else
			ctl_batch_diag(b, file, line, true, tok, len, err[0] ? err : "not an IPv4 or IPv6 address or prefix");
		return 0;
	}
	rs_prefix_format(&p, canon, sizeof(canon));
	idx = ctl_batch_find_prefix(b, canon);
	if (idx >= 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "duplicate of %s:%u ('%s')", b->pitems[idx].file, b->pitems[idx].line,
			 b->pitems[idx].name);
		ctl_batch_diag(b, file, line, false, tok, len, msg);
		return 0;
	}
	if (strcmp(canon, text) != 0 && strchr(text, '/')) {
		char msg[200];
		snprintf(msg, sizeof(msg), "written as %s", canon);
		ctl_batch_diag(b, file, line, false, tok, len, msg);
	}
	idx = set_insert(b, prefixes_of(b), canon, file, line, 0);
	return idx < 0 ? (int)idx : 0;
}

/* Does tok[0..len) look like an address or prefix rather than a name (hex
 * digits, '.', ':' and '/', with a ':' or else only decimal digits and dots)? */
static bool looks_like_addr(const char *tok, size_t len)
{
	bool colon = false, alpha = false, any = false;

	while (len > 0 && (*tok == ' ' || *tok == '\t'))
		tok++, len--;
	while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t' || tok[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		char c = tok[i];
		if (c == ':')
			colon = true;
		else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			alpha = true;
		else if (!((c >= '0' && c <= '9') || c == '.' || c == '/'))
			return false;
		any = true;
	}
	return any && (colon || !alpha);
}

/* A token of a plain list or a CSV cell that may be either: a prefix when
 * only prefixes are wanted, or when it looks like one; else a name. */
static int add_any(struct ctl_batch *b, const char *file, uint32_t line, const char *tok, size_t len)
{
	if (wants_prefixes(b) && (!wants_names(b) || looks_like_addr(tok, len)))
		return ctl_batch_add_prefix(b, file, line, tok, len);
	return add_token(b, file, line, tok, len, false, false);
}

/* ---- formats ---- */

const char *ctl_format_name(enum ctl_format f)
{
	switch (f) {
	case CTL_FMT_PLAIN: return "plain";
	case CTL_FMT_CSV: return "csv";
	case CTL_FMT_JSON: return "json";
	case CTL_FMT_RPZ: return "rpz";
	case CTL_FMT_PSHIELD: return "piracy-shield";
	default: return "auto";
	}
}

int ctl_format_parse(const char *s)
{
	static const char *const names[] = { "auto", "plain", "csv", "json", "rpz", "piracy-shield" };

	for (int i = 0; i < 6; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "piracyshield") == 0 || strcasecmp(s, "piracy_shield") == 0)
		return CTL_FMT_PSHIELD;
	if (strcasecmp(s, "txt") == 0 || strcasecmp(s, "list") == 0)
		return CTL_FMT_PLAIN;
	if (strcasecmp(s, "zone") == 0)
		return CTL_FMT_RPZ;
	return -1;
}

static const char *const csv_columns[] = {
	"domain", "domains", "domain name", "domain_name", "domainname", "fqdn", "hostname", "host", "name",
	"url", "site", "website", "dominio", "nome a dominio", "domaine", "nom de domaine", NULL
};

/* The headers of the columns address prefixes are read from. */
static const char *const csv_addr_columns[] = {
	"ip", "ips", "ipv4", "ipv6", "ip address", "ip_address", "ipaddress", "address", "addresses", "addr",
	"prefix", "prefixes", "cidr", "network", "subnet", "range", "indirizzo ip", "indirizzo", "adresse ip",
	NULL
};

static bool column_in(const char *const *list, const char *f, size_t n)
{
	while (n > 0 && (*f == ' ' || *f == '"'))
		f++, n--;
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '"' || f[n - 1] == '\r'))
		n--;
	for (int i = 0; list[i]; i++)
		if (strlen(list[i]) == n && strncasecmp(f, list[i], n) == 0)
			return true;
	return false;
}

/* Is f[0..n) (trimmed) a header we read domains from? */
static bool known_column(const char *f, size_t n)
{
	return column_in(csv_columns, f, n);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* The first line of buf[0..len) that is neither blank nor a comment: its
 * text from the first non-blank octet, without the line end; false if none. */
static bool first_line(const char *p, const char *end, const char **ls, size_t *ll)
{
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p)), *q = p;
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		while (q < p + n && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < p + n && *q != '#') {
			*ls = q;
			*ll = (size_t)(p + n - q);
			while (*ll > 0 && q[*ll - 1] == '\r')
				(*ll)--;
			return true;
		}
		p = e ? e + 1 : end;
	}
	return false;
}

/*
 * A .txt or .list file is a plain list unless it is a table: what Excel saves
 * as "Unicode text" or "Text (tab delimited)" — TAB-separated columns, whose
 * first row is a header. A table: the first line has a TAB between two
 * non-blank fields (before any '#'), or is a single known column header.
 */
static bool txt_is_table(const char *p, const char *end)
{
	const char *ls, *hash, *tab;
	size_t ll;

	if (!first_line(p, end, &ls, &ll))
		return false;
	if ((hash = memchr(ls, '#', ll)) != NULL)
		ll = (size_t)(hash - ls);
	tab = memchr(ls, '\t', ll);
	if (tab) {
		for (const char *q = tab; q < ls + ll; q++)
			if (*q != ' ' && *q != '\t')
				return true;
		return false; /* "name<TAB># comment" or trailing white space */
	}
	return known_column(ls, ll);
}

enum ctl_format ctl_detect(const char *file, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	int lines = 0;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	if (file && strcmp(file, "-") != 0) {
		if (has_suffix(file, ".csv") || has_suffix(file, ".tsv"))
			return CTL_FMT_CSV;
		if (has_suffix(file, ".json"))
			return CTL_FMT_JSON;
		if (has_suffix(file, ".rpz") || has_suffix(file, ".zone"))
			return CTL_FMT_RPZ;
		if (has_suffix(file, ".txt") || has_suffix(file, ".list"))
			return txt_is_table(p, end) ? CTL_FMT_CSV : CTL_FMT_PLAIN;
	}
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p < end && (*p == '{' || *p == '['))
		return CTL_FMT_JSON;
	/* RPZ: a $ORIGIN/$TTL directive or an SOA/CNAME record among the first lines */
	for (const char *l = p; l < end && lines < 50; lines++) {
		const char *e = memchr(l, '\n', (size_t)(end - l));
		size_t n = e ? (size_t)(e - l) : (size_t)(end - l);
		if ((n >= 7 && strncasecmp(l, "$ORIGIN", 7) == 0) || (n >= 4 && strncasecmp(l, "$TTL", 4) == 0))
			return CTL_FMT_RPZ;
		for (size_t i = 0; i + 6 < n; i++)
			if ((l[i] == ' ' || l[i] == '\t') &&
			    ((strncasecmp(l + i + 1, "SOA", 3) == 0 && (l[i + 4] == ' ' || l[i + 4] == '\t')) ||
			     (strncmp(l + i + 1, "CNAME", 5) == 0 && (l[i + 6] == ' ' || l[i + 6] == '\t'))))
				return CTL_FMT_RPZ;
		l = e ? e + 1 : end;
	}
	/* CSV: the first line that is not a comment has a separator */
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		const char *q = p;
		while (q < p + n && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == p + n || *q == '#') {
			p = e ? e + 1 : end;
			continue;
		}
		if (memchr(p, ',', n) || memchr(p, ';', n) || memchr(q, '\t', (size_t)(p + n - q)))
			return CTL_FMT_CSV;
		return known_column(q, (size_t)(p + n - q)) ? CTL_FMT_CSV : CTL_FMT_PLAIN;
	}
	return CTL_FMT_PLAIN;
}

/* Next line of buf from *pos: [*ls, *ls + *ll), without its end (LF, CRLF
 * or a lone CR); false at the end of buf. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **ls, size_t *ll)
{
	size_t i = *pos;

	if (i >= len)
		return false;
	*ls = buf + i;
	while (i < len && buf[i] != '\n' && buf[i] != '\r')
		i++;
	*ll = i - *pos;
	if (i < len && buf[i] == '\r') {
		i++;
		if (i < len && buf[i] == '\n')
			i++;
	} else if (i < len) {
		i++;
	}
	*pos = i;
	return true;
}

static void progress(struct ctl_batch *b, size_t done, size_t total)
{
	if (b->progress)
		b->progress(b->progress_arg, done, total);
}

static int parse_plain(struct ctl_batch *b, const char *file, const char *buf, size_t len)
{
	size_t pos = 0, ll;
	const char *ls;
	uint32_t line = 0;

	while (next_line(buf, len, &pos, &ls, &ll)) {
		const char *hash = memchr(ls, '#', ll);
		line++;
		if (hash)
			ll = (size_t)(hash - ls);
		if (add_any(b, file, line, ls, ll))
			return RS_ENOMEM;
		if ((line & 0xffff) == 0)
			progress(b, pos, len);
	}
	return b->oom ? RS_ENOMEM : 0;
}

/* ---- CSV ---- */

struct csv {
	const char *buf;
	size_t len, pos;
	uint32_t line;
	char delim;
	struct rs_buf field; /* current field, unquoted */
};

/*
 * Read one field into c->field. Returns 1 when more fields follow on the
 * record, 0 at the end of the record, -1 at the end of input (no field), -2
 * on an unterminated quote (the rest of the input is consumed).
 */
static int csv_field(struct csv *c)
{
	bool quoted = false;

	c->field.len = 0;
	if (c->field.s)
		c->field.s[0] = '\0';
	if (c->pos >= c->len)
		return -1;
	if (c->buf[c->pos] == '"') {
		quoted = true;
		c->pos++;
	}
	while (c->pos < c->len) {
		char ch = c->buf[c->pos];
		if (quoted) {
			if (ch == '"') {
				if (c->pos + 1 < c->len && c->buf[c->pos + 1] == '"') {
					rs_buf_add(&c->field, "\"", 1);
					c->pos += 2;
					continue;
				}
				quoted = false;
				c->pos++;
				continue;
			}
			if (ch == '\n')
				c->line++;
			rs_buf_add(&c->field, &ch, 1);
			c->pos++;
			continue;
		}
		if (ch == c->delim) {
			c->pos++;
			return 1;
		}
		if (ch == '\r' || ch == '\n') {
			if (ch == '\r' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n')
				c->pos++;
			c->pos++;
			c->line++;
			return 0;
		}
		rs_buf_add(&c->field, &ch, 1);
		c->pos++;
	}
	return quoted ? -2 : 0;
}

static int parse_csv(struct ctl_batch *b, const char *file, const char *buf, size_t len)
{
	struct csv c = { buf, len, 0, 1, ',', { 0 } };
	size_t hl, col = (size_t)-1, ncols = 0;
	uint64_t acols = 0; /* address columns (the first 64 columns) */
	uint64_t hcols = 0; /* columns with an address header, read or not */
	size_t naddr_rows = 0; /* names only: rows holding just an address (export --csv prefix rows) */
	uint32_t addr_row_line = 0;
	bool names = wants_names(b), pfx = wants_prefixes(b);
	int counts[3] = { 0, 0, 0 }, rc = 0;
	const char *hs, *seps = ",;\t";
	struct rs_buf names_s = { 0 };
	bool inq = false, names_cut = false, data_row = false;

	/* skip leading blank and comment lines, then the header picks the separator */
	for (;;) {
		size_t save = c.pos;
		if (!next_line(buf, len, &c.pos, &hs, &hl)) {
			ctl_batch_diag(b, file, c.line, true, NULL, 0, "empty CSV file: no header row");
			return RS_EINVAL;
		}
		const char *q = hs;
		while (q < hs + hl && (*q == ' ' || *q == '\t'))
			q++;
		if (q < hs + hl && *q != '#') {
			c.pos = save;
			break;
		}
		c.line++;
	}
	for (size_t i = 0; i < hl; i++) {
		if (hs[i] == '"')
			inq = !inq;
		else if (!inq && hs[i] != '\0' && strchr(seps, hs[i])) /* strchr finds the NUL too */
			counts[strchr(seps, hs[i]) - seps]++;
	}
	/* on a tie TAB wins: Excel's tab-delimited text does not quote a comma */
	c.delim = counts[1] > counts[0] && counts[1] >= counts[2] ? ';'
		: counts[2] > 0 && counts[2] >= counts[0] ? '\t' : ',';
	{
		uint32_t hline = c.line;
		for (size_t i = 0;; i++) {
			int more = csv_field(&c);
			const char *f = c.field.s ? c.field.s : "";
			size_t fl = c.field.len, s = 0;
			if (more == -2)
				break;
			if (more == -1)
				break;
			if (i == 0 && fl >= 3 && memcmp(f, "\xef\xbb\xbf", 3) == 0)
				s = 3;
			if (i == 0 && fl > s) { /* a list without a header row? */
				struct ctl_name_res r;
				data_row = ctl_name_canon(f + s, fl - s, CTL_NO_REDUCE, &r) == 0 && strchr(r.name, '.');
			}
			if (names && col == (size_t)-1 &&
			    (b->column ? (strlen(b->column) == fl - s && strncasecmp(f + s, b->column, fl - s) == 0)
				       : known_column(f + s, fl - s)))
				col = i;
			/* prefixes: the column named (when only prefixes are wanted), else every address column */
			if (pfx && i < 64 &&
			    (!names && b->column ? (strlen(b->column) == fl - s && strncasecmp(f + s, b->column, fl - s) == 0)
						 : column_in(csv_addr_columns, f + s, fl - s)))
				acols |= (uint64_t)1 << i;
			if (i < 64 && column_in(csv_addr_columns, f + s, fl - s))
				hcols |= (uint64_t)1 << i;
			if (names_s.len < 300) { /* shown escaped, like every input in a diagnostic */
				char shown[200];
				if (names_s.len)
					rs_buf_adds(&names_s, ", ");
				rs_buf_adds(&names_s, ctl_show(f + s, fl - s, 40, shown, sizeof(shown)));
			} else if (!names_cut) {
				rs_buf_adds(&names_s, ", ...");
				names_cut = true;
			}
			ncols++;
			if (more == 0)
				break;
		}
		if (col == (size_t)-1 && pfx && acols) {
			/* addresses only: no domain column needed */
		} else if (col == (size_t)-1 && pfx && !names) {
			char msg[800], wanted[200];
			if (b->column)
				ctl_show(b->column, strlen(b->column), 40, wanted, sizeof(wanted));
			snprintf(msg, sizeof(msg), "no %s%s%s column in the %s header (columns: %s); choose one with --column",
				 b->column ? "'" : "address (ip, ipv4, ipv6, prefix, cidr)", b->column ? wanted : "",
				 b->column ? "'" : "", c.delim == '\t' ? "tab-separated" : "CSV", names_s.s ? names_s.s : "");
			ctl_batch_diag(b, file, hline, true, NULL, 0, msg);
			free(names_s.s);
			free(c.field.s);
			return RS_EINVAL;
		} else if (col == (size_t)-1) {
			char msg[800], wanted[200];
			if (b->column)
				ctl_show(b->column, strlen(b->column), 40, wanted, sizeof(wanted));
			snprintf(msg, sizeof(msg), "no %s%s%s column in the %s header (columns: %s); choose one with --column%s",
				 b->column ? "'" : "domain", b->column ? wanted : "", b->column ? "'" : "",
				 c.delim == '\t' ? "tab-separated" : "CSV", names_s.s ? names_s.s : "",
				 data_row ? ", or add a header row naming the column 'domain': the first row looks like data" : "");
			ctl_batch_diag(b, file, hline, true, NULL, 0, msg);
			free(names_s.s);
			free(c.field.s);
			return RS_EINVAL;
		}
	}
	free(names_s.s);
	/* the records */
	while (c.pos < c.len) {
		uint32_t line = c.line;
		size_t i = 0;
		bool got = false, blank = true, dom_empty = false, addr_filled = false;
		for (;; i++) {
			int more = csv_field(&c);
			if (more == -1)
				break;
			if (c.field.len)
				blank = false;
			if (more == -2) {
				ctl_batch_diag(b, file, line, true, NULL, 0, "unterminated quoted field");
				break;
			}
			if (i < 64 && (hcols >> i & 1) && c.field.len && strspn(c.field.s, " \t") != c.field.len)
				addr_filled = true;
			if (i == col) {
				got = true;
				if (c.field.len == 0 || strspn(c.field.s, " \t") == c.field.len) {
					if (!blank || more == 1)
						dom_empty = true; /* warned below, unless the row holds an address */
				} else if (add_token(b, file, line, c.field.s, c.field.len, false, false)) {
					rc = RS_ENOMEM;
					goto out;
				}
			} else if (i < 64 && (acols >> i & 1)) {
				/* an address cell may hold several: "192.0.2.1 198.51.100.0/24" */
				const char *q = c.field.s ? c.field.s : "", *e = q + c.field.len;
				got = true;
				while (q < e) {
					size_t n = 0;
					while (q < e && (*q == ' ' || *q == '\t' || *q == ',' || *q == ';'))
						q++;
					/* bounded by the field, not by a NUL: a NUL octet is part of a (bad) token */
					while (q + n < e && q[n] != ' ' && q[n] != '\t' && q[n] != ',' && q[n] != ';')
						n++;
					if (n && ctl_batch_add_prefix(b, file, line, q, n)) {
						rc = RS_ENOMEM;
						goto out;
					}
					q += n;
				}
			}
			if (more == 0)
				break;
		}
		if (dom_empty && addr_filled && !pfx) {
			if (naddr_rows++ == 0)
				addr_row_line = line;
		} else if (dom_empty && !(addr_filled && pfx)) {
			ctl_batch_diag(b, file, line, false, NULL, 0, "empty domain field");
		}
		if (!got && !blank)
			ctl_batch_diag(b, file, line, true, NULL, 0, "record has no field for the domain column");
		if ((line & 0xffff) == 0)
			progress(b, c.pos, c.len);
	}
	if (naddr_rows) {
		char msg[160];
		snprintf(msg, sizeof(msg), "%zu row%s with an address prefix and no domain left out (addip reads them)",
			 naddr_rows, naddr_rows == 1 ? "" : "s");
		ctl_batch_diag(b, file, addr_row_line, false, NULL, 0, msg);
	}
out:
	free(c.field.s);
	return rc ? rc : b->oom || c.field.oom ? RS_ENOMEM : 0;
}

/* ---- JSON ---- */

#define JSON_DEPTH_MAX 64

struct json {
	const char *s, *end, *file;
	uint32_t line;
	struct ctl_batch *b;
	int found; /* "fqdn" (and, with prefixes wanted, "ipv4" / "ipv6") arrays seen */
	char err[200];
	struct rs_buf str;
};

enum { J_IGNORE, J_NAMES, J_ADDRS };

static void jws(struct json *j)
{
	while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\r' || *j->s == '\n')) {
		if (*j->s == '\n')
			j->line++;
		j->s++;
	}
}

static int jfail(struct json *j, const char *what)
{
	if (!j->err[0])
		snprintf(j->err, sizeof(j->err), "JSON syntax error: %s", what);
	return RS_EINVAL;
}

static void put_utf8(struct rs_buf *b, uint32_t c)
{
	char u[4];
	size_t n;

	if (c < 0x80)
		u[0] = (char)c, n = 1;
	else if (c < 0x800)
		u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3f)), n = 2;
	else if (c < 0x10000)
		u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3f)), u[2] = (char)(0x80 | (c & 0x3f)), n = 3;
	else
		u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3f)), u[2] = (char)(0x80 | ((c >> 6) & 0x3f)),
		u[3] = (char)(0x80 | (c & 0x3f)), n = 4;
	rs_buf_add(b, u, n);
}

static int hex4(const char *s, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* A string (at '"') into j->str. */
static int jstring(struct json *j)
{
	j->str.len = 0;
	rs_buf_add(&j->str, "", 0);
	j->s++;
	while (j->s < j->end) {
		unsigned char c = (unsigned char)*j->s;
		if (c == '"') {
			j->s++;
			if (!j->str.s)
				rs_buf_add(&j->str, "", 0);
			return j->str.oom ? RS_ENOMEM : 0;
		}
		if (c < 0x20)
			return jfail(j, c == '\n' ? "newline inside a string" : "control character inside a string");
		if (c != '\\') {
			rs_buf_add(&j->str, j->s++, 1);
			continue;
		}
		if (j->end - j->s < 2)
			return jfail(j, "unterminated string");
		j->s++;
		switch (*j->s) {
		case '"': rs_buf_add(&j->str, "\"", 1); break;
		case '\\': rs_buf_add(&j->str, "\\", 1); break;
		case '/': rs_buf_add(&j->str, "/", 1); break;
		case 'b': rs_buf_add(&j->str, "\b", 1); break;
		case 'f': rs_buf_add(&j->str, "\f", 1); break;
		case 'n': rs_buf_add(&j->str, "\n", 1); break;
		case 'r': rs_buf_add(&j->str, "\r", 1); break;
		case 't': rs_buf_add(&j->str, "\t", 1); break;
		case 'u': {
			uint32_t v, lo;
			if (j->end - j->s < 5 || hex4(j->s + 1, &v))
				return jfail(j, "bad \\u escape");
			j->s += 4;
			if (v >= 0xd800 && v <= 0xdbff && j->end - j->s >= 7 && j->s[1] == '\\' && j->s[2] == 'u' &&
			    hex4(j->s + 3, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
				v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
				j->s += 6;
			} else if (v >= 0xd800 && v <= 0xdfff) {
				v = 0xfffd; /* a lone surrogate: shown, then rejected as a name */
			}
			put_utf8(&j->str, v);
			break;
		}
		default:
			return jfail(j, "bad escape in a string");
		}
		j->s++;
	}
	return jfail(j, "unterminated string");
}

static int jvalue(struct json *j, int depth, int ctx);
static int jobject(struct json *j, int depth);

/* One string of an "fqdn" (J_NAMES) or "ipv4" / "ipv6" (J_ADDRS) array, in j->str. */
static int jmember(struct json *j, uint32_t line, int ctx)
{
	struct ctl_batch *b = j->b;

	if (ctx == J_NAMES && wants_names(b))
		return add_token(b, j->file, line, j->str.s, j->str.len, false, false) ? RS_ENOMEM : 0;
	if (ctx == J_ADDRS && wants_prefixes(b))
		return ctl_batch_add_prefix(b, j->file, line, j->str.s, j->str.len) ? RS_ENOMEM : 0;
	ctl_batch_diag(b, j->file, line, false, j->str.s, j->str.len,
		       ctx == J_NAMES ? "name ignored: this command takes address prefixes (push the names, or "
					"import the whole ticket with --format piracy-shield)"
				      : "IP address ignored: this command takes names (add prefixes with 'redsink-ctl "
					"addip', or import the whole ticket with --format piracy-shield)");
	return 0;
}

/* "ticket_id": a string or a number, noted (at most CTL_TICKETS_MAX, 128 octets each). */
static int jticket(struct json *j, uint32_t line)
{
	struct ctl_batch *b = j->b;
	const char *at = j->s;
	int rc;
	char *copy;
	size_t n;
	const char *v;

	if (j->s < j->end && *j->s == '"') {
		if ((rc = jstring(j)))
			return rc;
		v = j->str.s;
		n = j->str.len;
	} else {
		if ((rc = jvalue(j, 1, J_IGNORE)))
			return rc;
		v = at;
		n = (size_t)(j->s - at);
		if (n == 0 || !(*at == '-' || (*at >= '0' && *at <= '9'))) {
			ctl_batch_diag(b, j->file, line, false, at, n, "ticket_id is not a string or a number: ignored");
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f || n > 128) {
			ctl_batch_diag(b, j->file, line, false, v, n, "ticket_id too long or with control characters: ignored");
			return 0;
		}
	for (size_t i = 0; i < b->ntickets; i++)
		if (strlen(b->tickets[i]) == n && memcmp(b->tickets[i], v, n) == 0)
			return 0;
	if (b->ntickets >= CTL_TICKETS_MAX || n == 0)
		return 0;
	copy = arena_dup(b, v, n);
	if (!copy)
		return RS_ENOMEM;
	b->tickets[b->ntickets++] = copy;
	return 0;
}

static int jarray(struct json *j, int depth, int ctx)
{
	j->s++;
	jws(j);
	if (j->s < j->end && *j->s == ']') {
		j->s++;
		return 0;
	}
	for (;;) {
		int rc;
		jws(j);
		if (j->s >= j->end)
			return jfail(j, "unterminated array");
		if (ctx != J_IGNORE && *j->s == '"') {
			uint32_t line = j->line;
			if ((rc = jstring(j)))
				return rc;
			if ((rc = jmember(j, line, ctx)))
				return rc;
		} else if (ctx == J_NAMES && depth == 1 && *j->s == '{') {
			/* a top-level array of ticket objects */
			if ((rc = jobject(j, depth + 1)))
				return rc;
		} else if (ctx == J_NAMES ? wants_names(j->b) : ctx == J_ADDRS && wants_prefixes(j->b)) {
			uint32_t line = j->line;
			const char *at = j->s;
			if ((rc = jvalue(j, depth + 1, J_IGNORE)))
				return rc;
			ctl_batch_diag(j->b, j->file, line, true, at, (size_t)(j->s - at), "not a string");
		} else if ((rc = jvalue(j, depth + 1, J_IGNORE))) {
			return rc;
		}
		jws(j);
		if (j->s >= j->end)
			return jfail(j, "unterminated array");
		if (*j->s == ']') {
			j->s++;
			return 0;
		}
		if (*j->s != ',')
			return jfail(j, "expected ',' or ']' in an array");
		j->s++;
	}
}

static int jobject(struct json *j, int depth)
{
	j->s++;
	jws(j);
	if (j->s < j->end && *j->s == '}') {
		j->s++;
		return 0;
	}
	for (;;) {
		int rc, ctx = J_IGNORE;
		jws(j);
		if (j->s >= j->end || *j->s != '"')
			return jfail(j, "expected a member name");
		if ((rc = jstring(j)))
			return rc;
		bool ticket = strcmp(j->str.s, "ticket_id") == 0;
		if (strcmp(j->str.s, "fqdn") == 0)
			ctx = J_NAMES;
		else if (strcmp(j->str.s, "ipv4") == 0 || strcmp(j->str.s, "ipv6") == 0)
			ctx = J_ADDRS;
		jws(j);
		if (j->s >= j->end || *j->s != ':')
			return jfail(j, "expected ':' after a member name");
		j->s++;
		jws(j);
		if (ctx != J_IGNORE && j->s < j->end && *j->s == '[') {
			if (ctx == J_NAMES ? wants_names(j->b) : wants_prefixes(j->b))
				j->found++;
			rc = depth + 1 > JSON_DEPTH_MAX ? jfail(j, "nested too deeply") : jarray(j, depth + 1, ctx);
		} else if (ctx != J_IGNORE && j->s < j->end && *j->s == '"') {
			uint32_t line = j->line; /* "fqdn": "one.example", "ipv4": "192.0.2.1" */
			if (ctx == J_NAMES ? wants_names(j->b) : wants_prefixes(j->b))
				j->found++;
			if ((rc = jstring(j)) == 0)
				rc = jmember(j, line, ctx);
		} else if (ticket) {
			rc = jticket(j, j->line);
		} else {
			rc = jvalue(j, depth + 1, J_IGNORE);
		}
		if (rc)
			return rc;
		jws(j);
		if (j->s >= j->end)
			return jfail(j, "unterminated object");
		if (*j->s == '}') {
			j->s++;
			return 0;
		}
		if (*j->s != ',')
			return jfail(j, "expected ',' or '}' in an object");
		j->s++;
	}
}

static int jvalue(struct json *j, int depth, int ctx)
{
	static const char *const lits[] = { "true", "false", "null" };

	if (depth > JSON_DEPTH_MAX)
		return jfail(j, "nested too deeply");
	jws(j);
	if (j->s >= j->end)
		return jfail(j, "unexpected end of input");
	switch (*j->s) {
	case '{': return jobject(j, depth);
	case '[': return jarray(j, depth, ctx);
	case '"': return jstring(j);
	}
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(lits[i]);
		if ((size_t)(j->end - j->s) >= n && memcmp(j->s, lits[i], n) == 0) {
			j->s += n;
			return 0;
		}
	}
	if (*j->s == '-' || (*j->s >= '0' && *j->s <= '9')) {
		const char *p = j->s;
		if (*p == '-')
			p++;
		if (p >= j->end || !(*p >= '0' && *p <= '9'))
			return jfail(j, "bad number");
		while (p < j->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-'))
			p++;
		j->s = p;
		return 0;
	}
	return jfail(j, "unexpected character");
}

/* Does the top-level array at s hold objects (a Piracy-Shield export of several tickets)? */
static bool array_of_objects(const char *s, const char *end)
{
	for (s++; s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'); s++)
		;
	return s < end && *s == '{';
}

/* strict: a Piracy-Shield ticket: an object, or an array of objects. */
static int parse_json(struct ctl_batch *b, const char *file, const char *buf, size_t len, bool strict)
{
	struct json j = { buf, buf + len, file, 1, b, 0, "", { 0 } };
	int rc;
	bool top_array;

	jws(&j);
	top_array = j.s < j.end && *j.s == '[';
	if (j.s >= j.end) {
		ctl_batch_diag(b, file, j.line, true, NULL, 0, "empty JSON file");
		return RS_EINVAL;
	}
	if (strict && !(*j.s == '{' || (top_array && array_of_objects(j.s, j.end)))) {
		ctl_batch_diag(b, file, j.line, true, NULL, 0,
			       "not a Piracy-Shield ticket: expected a ticket object ({\"fqdn\": [...], \"ipv4\": [...], "
			       "\"ipv6\": [...]}) or an array of them");
		return RS_EINVAL;
	}
	if (top_array && array_of_objects(j.s, j.end))
		top_array = false; /* an array of tickets: fqdn/ipv4/ipv6 arrays are looked for in them */
	rc = *j.s == '[' ? jarray(&j, 1, top_array ? J_NAMES : J_IGNORE) : jvalue(&j, 1, J_IGNORE);
	if (rc == 0) {
		jws(&j);
		if (j.s < j.end)
			rc = jfail(&j, "text after the JSON value");
	}
	free(j.str.s);
	if (rc == RS_ENOMEM)
		return rc;
	if (rc) {
		ctl_batch_diag(b, file, j.line, true, NULL, 0, j.err);
		return rc;
	}
	if (!top_array && j.found == 0) {
		ctl_batch_diag(b, file, 1, true, NULL, 0,
			       !wants_prefixes(b) ? "no \"fqdn\" array in the JSON ticket"
			       : wants_names(b)   ? "no \"fqdn\", \"ipv4\" or \"ipv6\" array in the JSON ticket"
						  : "no \"ipv4\" or \"ipv6\" array in the JSON ticket");
		return RS_EINVAL;
	}
	return b->oom ? RS_ENOMEM : 0;
}

/* ---- RPZ zone files ---- */

struct rpz_tok {
	const char *s;
	size_t n;
};

#define RPZ_TOKS 16

static bool tok_is(const struct rpz_tok *t, const char *w)
{
	return t->n == strlen(w) && strncasecmp(t->s, w, t->n) == 0;
}

static bool is_ttl(const struct rpz_tok *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i] == '\0' || !strchr("0123456789smhdwSMHDW", t->s[i]))
			return false;
	return t->n > 0 && t->s[0] >= '0' && t->s[0] <= '9';
}

static bool is_class(const struct rpz_tok *t)
{
	return tok_is(t, "IN") || tok_is(t, "CH") || tok_is(t, "HS") || tok_is(t, "CS");
}

/* Lowercase name text a[0..n) equal to b (ASCII case-insensitive)? */
static bool name_eq(const char *a, size_t n, const char *b)
{
	return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* Where parse_rpz is in one RPZ file, shared by its steps. */
struct rpz_parse {
	struct ctl_batch *b;
	const char *file, *buf;
	size_t len, pos;
	uint32_t line;
	char origin[300], owner[300]; /* owner: of the last record, for blank owners */
	bool soa_at;		      /* an SOA owned by '@' while the origin was unknown */
};

/* One record: its tokens, the line it starts on, and whether its owner is blank (the previous one's). */
struct rpz_rec {
	struct rpz_tok t[RPZ_TOKS];
	int nt;
	uint32_t start;
	bool blank_owner;
};

/* Cut the record starting at line (ls, ll) into tokens, continued across lines inside parentheses. */
static void rpz_tokenize(struct rpz_parse *rp, const char *ls, size_t ll, struct rpz_rec *r)
{
	int depth = 0;
	const char *p, *e;

	r->nt = 0;
	r->start = ++rp->line;
	r->blank_owner = ll > 0 && (ls[0] == ' ' || ls[0] == '\t');
	for (;;) {
		bool inq = false;
		p = ls;
		e = ls + ll;
		while (p < e) {
			if (!inq && *p == ';')
				break;
			if (!inq && (*p == ' ' || *p == '\t')) {
				p++;
				continue;
			}
			if (!inq && *p == '(') {
				depth++;
				p++;
				continue;
			}
			if (!inq && *p == ')') {
				depth--;
				p++;
				continue;
			}
			const char *q = p;
			if (*p == '"') {
				q++;
				while (q < e && *q != '"')
					q += *q == '\\' && q + 1 < e ? 2 : 1;
				if (q < e)
					q++;
			} else {
				while (q < e && *q != ' ' && *q != '\t' && *q != ';' && *q != '(' && *q != ')')
					q += *q == '\\' && q + 1 < e ? 2 : 1;
			}
			if (r->nt < RPZ_TOKS)
				r->t[r->nt++] = (struct rpz_tok){ p, (size_t)(q - p) };
			p = q;
		}
		if (depth <= 0 || !next_line(rp->buf, rp->len, &rp->pos, &ls, &ll))
			break;
		rp->line++;
	}
}

/* A $ directive: $ORIGIN sets the origin, $TTL is ignored, any other is an error. */
static void rpz_directive(struct rpz_parse *rp, const struct rpz_rec *r)
{
	const struct rpz_tok *t = r->t;
	char *origin = rp->origin;
	size_t osz = sizeof(rp->origin);

	if (tok_is(&t[0], "$ORIGIN") && r->nt >= 2) {
		int n = t[1].n < osz ? (int)t[1].n : (int)osz;
		if (t[1].s[t[1].n - 1] == '.') {
			if ((size_t)snprintf(origin, osz, "%.*s", n, t[1].s) >= osz)
				ctl_batch_diag(rp->b, rp->file, r->start, true, t[1].s, t[1].n, "origin too long");
		} else {
			char rel[sizeof(rp->origin)];
			snprintf(rel, sizeof(rel), "%s", origin);
			if ((size_t)snprintf(origin, osz, "%.*s.%s", n, t[1].s, rel) >= osz)
				ctl_batch_diag(rp->b, rp->file, r->start, true, t[1].s, t[1].n, "origin too long");
		}
	} else if (!tok_is(&t[0], "$TTL")) {
		ctl_batch_diag(rp->b, rp->file, r->start, true, t[0].s, t[0].n, "directive not supported");
	}
}

/* Take the record's owner (or keep the last one) and find its type token *k; false when there is nothing to list. */
static bool rpz_owner(struct rpz_parse *rp, const struct rpz_rec *r, int *k)
{
	const struct rpz_tok *t = r->t;

	*k = 0;
	if (!r->blank_owner) {
		if (t[0].n >= sizeof(rp->owner)) {
			ctl_batch_diag(rp->b, rp->file, r->start, true, t[0].s, t[0].n, rs_strerror(RS_ENAME_LEN));
			rp->owner[0] = '\0';
			return false;
		}
		snprintf(rp->owner, sizeof(rp->owner), "%.*s", (int)t[0].n, t[0].s);
		*k = 1;
	}
	while (*k < r->nt && (is_ttl(&t[*k]) || is_class(&t[*k])))
		(*k)++;
	if (*k >= r->nt) {
		ctl_batch_diag(rp->b, rp->file, r->start, true, NULL, 0, "record without a type");
		return false;
	}
	return rp->owner[0] != '\0';
}

/* The owner relative to the origin in *rl (it starts rp->owner); false for the apex or an owner outside the zone. */
static bool rpz_relative(struct rpz_parse *rp, const struct rpz_rec *r, int k, size_t *rl)
{
	const char *owner = rp->owner;
	char *origin = rp->origin;

	*rl = strlen(owner);
	if (strcmp(owner, "@") == 0) {
		if (tok_is(&r->t[k], "SOA"))
			rp->soa_at = true; /* an SOA, but its owner names no origin */
		return false;
	}
	if (owner[*rl - 1] != '.')
		return true;
	if (!origin[0] && tok_is(&r->t[k], "SOA")) {
		snprintf(origin, sizeof(rp->origin), "%s", owner);
		return false;
	}
	if (!origin[0]) {
		ctl_batch_diag(rp->b, rp->file, r->start, true, owner, *rl,
			       rp->soa_at ? "absolute name, but the zone's origin is unknown (the SOA's owner is '@' "
					    "and there is no $ORIGIN): give the zone's name with --origin"
					  : "absolute name, but the zone's origin is unknown (no $ORIGIN or SOA): use --origin");
		return false;
	}
	if (strcasecmp(owner, origin) == 0)
		return false;
	size_t ol = strlen(origin);
	if (*rl > ol + 1 && strcasecmp(owner + *rl - ol, origin) == 0 && owner[*rl - ol - 1] == '.') {
		*rl -= ol + 1;
		return true;
	}
	char msg[400], shown[200];
	snprintf(msg, sizeof(msg), "not under the zone's origin '%s'", /* escaped */
		 ctl_show(origin, strlen(origin), 80, shown, sizeof(shown)));
	ctl_batch_diag(rp->b, rp->file, r->start, true, owner, *rl, msg);
	return false;
}

/* Records that are not names to block (zone records, IP/NS/client triggers, passthru); warns and returns true. */
static bool rpz_ignored(struct rpz_parse *rp, const struct rpz_rec *r, int k, const char *rel, size_t rl)
{
	const struct rpz_tok *t = r->t;
	const char *last = rel + rl;

	if (tok_is(&t[k], "SOA") || tok_is(&t[k], "NS") || tok_is(&t[k], "DNAME") || tok_is(&t[k], "DS")) {
		ctl_batch_diag(rp->b, rp->file, r->start, false, rel, rl, "SOA/NS/DNAME/DS record below the apex ignored");
		return true;
	}
	/* IP, name-server and client triggers are not names to block */
	while (last > rel && last[-1] != '.')
		last--;
	size_t lastn = (size_t)(rel + rl - last);
	if (name_eq(last, lastn, "rpz-ip") || name_eq(last, lastn, "rpz-nsip") || name_eq(last, lastn, "rpz-client-ip") ||
	    name_eq(last, lastn, "rpz-nsdname")) {
		ctl_batch_diag(rp->b, rp->file, r->start, false, rel, rl,
			       "IP, name-server or client trigger ignored: redsink blocks query names");
		return true;
	}
	if (tok_is(&t[k], "CNAME") && k + 1 < r->nt && tok_is(&t[k + 1], "rpz-passthru.")) {
		ctl_batch_diag(rp->b, rp->file, r->start, false, rel, rl,
			       "passthru rule ignored (use 'redsink-ctl protect add' for names that must never be blocked)");
		return true;
	}
	return false;
}

int ctl_rpz_ip_to_text(const char *owner, size_t len, char *out, size_t outlen)
{
	const char *lab[40];
	size_t ll[40], nl = 0, o = 0;
	const char *p = owner, *e = owner + len;
	unsigned long plen;
	bool v6 = false;
	int zz = -1;

	if (outlen < 64) {
		if (outlen)
			out[0] = '\0';
		return RS_EINVAL;
	}
	while (p <= e && nl < 40) {
		const char *d = memchr(p, '.', (size_t)(e - p));
		if (!d)
			d = e;
		lab[nl] = p;
		ll[nl++] = (size_t)(d - p);
		p = d + 1;
	}
	if (p <= e) {
		snprintf(out, outlen, "too many labels for an rpz-ip trigger");
		return RS_EINVAL;
	}
	if (nl > 0 && name_eq(lab[nl - 1], ll[nl - 1], "rpz-ip"))
		nl--;
	if (nl < 2 || ll[0] == 0 || ll[0] > 3 || strspn(lab[0], "0123456789") < ll[0]) {
		snprintf(out, outlen, "an rpz-ip trigger starts with the prefix length (24.0.2.0.192.rpz-ip)");
		return RS_EINVAL;
	}
	plen = strtoul(lab[0], NULL, 10);
	for (size_t i = 1; i < nl; i++) {
		if (ll[i] == 0 || ll[i] > 4) {
			snprintf(out, outlen, "label %zu of the rpz-ip trigger is not an address part", i + 1);
			return RS_EINVAL;
		}
		if (name_eq(lab[i], ll[i], "zz")) {
			if (zz >= 0) {
				snprintf(out, outlen, "more than one 'zz' in the rpz-ip trigger");
				return RS_EINVAL;
			}
			zz = (int)i;
			v6 = true;
			continue;
		}
		for (size_t k = 0; k < ll[i]; k++) {
			char c = lab[i][k];
			if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
				v6 = true;
			else if (!(c >= '0' && c <= '9')) {
				snprintf(out, outlen, "label %zu of the rpz-ip trigger is not an address part", i + 1);
				return RS_EINVAL;
			}
		}
	}
	if (!v6 && nl - 1 == 4) {
		for (size_t i = nl - 1; i >= 1; i--)
			o += (size_t)snprintf(out + o, outlen - o, "%.*s%s", (int)ll[i], lab[i], i > 1 ? "." : "");
	} else {
		if (nl - 1 > 8 || (zz < 0 && nl - 1 != 8)) {
			snprintf(out, outlen, "an IPv6 rpz-ip trigger has 8 groups, or fewer with one 'zz'");
			return RS_EINVAL;
		}
		/* the groups in address order, joined by ':'; 'zz' is the "::" */
		for (size_t i = nl - 1; i >= 1; i--) {
			bool isz = (int)i == zz;
			if (isz && i == nl - 1)
				o += (size_t)snprintf(out + o, outlen - o, ":"); /* leading "::" */
			if (!isz)
				o += (size_t)snprintf(out + o, outlen - o, "%.*s", (int)ll[i], lab[i]);
			if (i > 1 || isz)
				o += (size_t)snprintf(out + o, outlen - o, ":");
		}
	}
	snprintf(out + o, outlen - o, "/%lu", plen);
	return 0;
}

size_t ctl_rpz_ip_owner(const struct rs_prefix *p, char *out, size_t outlen)
{
	size_t o;

	if (outlen < 80 || !rs_prefix_valid(p)) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	o = (size_t)snprintf(out, outlen, "%u", p->len);
	if (p->family == 4) {
		o += (size_t)snprintf(out + o, outlen - o, ".%u.%u.%u.%u", p->addr[3], p->addr[2], p->addr[1], p->addr[0]);
	} else {
		unsigned g[8];
		int best = -1, bestn = 0;
		for (int i = 0; i < 8; i++)
			g[i] = (unsigned)p->addr[2 * i] << 8 | p->addr[2 * i + 1];
		for (int i = 0; i < 8;) { /* the longest run of two or more zero groups (the first on a tie) */
			int n = 0;
			while (i + n < 8 && g[i + n] == 0)
				n++;
			if (n >= 2 && n > bestn)
				best = i, bestn = n;
			i += n ? n : 1;
		}
		for (int i = 7; i >= 0; i--) {
			if (best >= 0 && i >= best && i < best + bestn) {
				if (i == best)
					o += (size_t)snprintf(out + o, outlen - o, ".zz");
				continue;
			}
			o += (size_t)snprintf(out + o, outlen - o, ".%x", g[i]);
		}
	}
	o += (size_t)snprintf(out + o, outlen - o, ".rpz-ip");
	return o;
}

/* An rpz-ip trigger of this file: a prefix when prefixes are wanted, else noted. */
static int rpz_ip(struct rpz_parse *rp, const struct rpz_rec *r, int k, const char *rel, size_t rl)
{
	char text[128];

	if (tok_is(&r->t[k], "CNAME") && k + 1 < r->nt && tok_is(&r->t[k + 1], "rpz-passthru.")) {
		ctl_batch_diag(rp->b, rp->file, r->start, false, rel, rl,
			       "passthru rule ignored (use 'redsink-ctl protect-ip' for addresses that must never "
			       "trigger a block)");
		return 0;
	}
	if (!wants_prefixes(rp->b)) {
		ctl_batch_diag(rp->b, rp->file, r->start, false, rel, rl,
			       "IP trigger ignored: add address prefixes with 'redsink-ctl addip --format rpz'");
		return 0;
	}
	if (ctl_rpz_ip_to_text(rel, rl, text, sizeof(text))) {
		ctl_batch_diag(rp->b, rp->file, r->start, true, rel, rl, text);
		return 0;
	}
	return ctl_batch_add_prefix(rp->b, rp->file, r->start, text, strlen(text));
}

/* Warn about names listed only as '*.name' in this file (items from first on): redsink blocks name too. */
static void rpz_warn_wild_only(struct ctl_batch *b, const char *file, size_t first)
{
	for (size_t i = first; i < b->n; i++)
		if ((b->items[i].flags & ITEM_WILD_ONLY) && b->items[i].file == file) {
			char msg[400];
			snprintf(msg, sizeof(msg),
				 "only '*.%s' is listed: redsink blocks '%s' and every name below it", b->items[i].name,
				 b->items[i].name);
			ctl_batch_diag(b, file, b->items[i].line, false, NULL, 0, msg);
		}
}

static int parse_rpz(struct ctl_batch *b, const char *file, const char *buf, size_t len)
{
	struct rpz_parse rp = { .b = b, .file = file, .buf = buf, .len = len };
	struct rpz_rec r;
	size_t first = b->n, ll, rl;
	const char *ls;
	int k;

	if (b->origin) {
		snprintf(rp.origin, sizeof(rp.origin), "%s%s", b->origin, b->origin[0] && b->origin[strlen(b->origin) - 1] == '.' ? "" : ".");
	}
	while (next_line(buf, len, &rp.pos, &ls, &ll)) {
		rpz_tokenize(&rp, ls, ll, &r);
		if (r.nt == 0)
			continue;
		if (r.t[0].n > 0 && r.t[0].s[0] == '$') {
			rpz_directive(&rp, &r);
			continue;
		}
		if (!rpz_owner(&rp, &r, &k) || !rpz_relative(&rp, &r, k, &rl))
			continue;
		if (rl > 7 && name_eq(rp.owner + rl - 7, 7, ".rpz-ip")) {
			if (rpz_ip(&rp, &r, k, rp.owner, rl))
				return RS_ENOMEM;
			continue;
		}
		if (rpz_ignored(&rp, &r, k, rp.owner, rl))
			continue;
		if (!wants_names(b)) {
			if (!tok_is(&r.t[k], "TXT")) /* a sinkhole's TXT beside its A: one note is enough */
				ctl_batch_diag(b, file, r.start, false, rp.owner, rl,
					       "name trigger ignored: this command takes address prefixes (rpz-ip)");
			continue;
		}
		bool wild = rl >= 2 && rp.owner[0] == '*' && rp.owner[1] == '.';
		if (add_token(b, file, r.start, wild ? rp.owner + 2 : rp.owner, wild ? rl - 2 : rl, true, wild))
			return RS_ENOMEM;
		if ((rp.line & 0xffff) == 0)
			progress(b, rp.pos, len);
	}
	rpz_warn_wild_only(b, file, first);
	return b->oom ? RS_ENOMEM : 0;
}

/* ---- encodings ---- */

/*
 * What a file is encoded in, from its first octets. Spreadsheets save
 * "Unicode text" as UTF-16LE with a BOM; other tools write UTF-16 without
 * one (recognised by its NUL octets: every other octet of ASCII text is 0),
 * or UTF-32. Files that are no text at all (a workbook, a PDF, NULs all
 * through) are named, so that the user knows to save the file again.
 */
struct encoding {
	const char *iconv; /* NULL: UTF-8 */
	size_t skip;       /* octets of byte-order mark */
	size_t unit;       /* octets per code unit */
	const char *note;  /* a warning, or NULL */
	const char *reject; /* the whole file is refused with this, or NULL */
};

#define SAVE_AS "save it as 'CSV UTF-8' or 'Unicode text' (UTF-16), or convert it to UTF-8"

static void sniff_encoding(const char *buf, size_t len, struct encoding *en)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t n = len < 65536 ? len : 65536, z_even = 0, z_odd = 0;

	memset(en, 0, sizeof(*en));
	if (len >= 4 && memcmp(u, "\xff\xfe\0\0", 4) == 0) {
		*en = (struct encoding){ "UTF-32LE", 4, 4, "UTF-32 file converted to UTF-8", NULL };
	} else if (len >= 4 && memcmp(u, "\0\0\xfe\xff", 4) == 0) {
		*en = (struct encoding){ "UTF-32BE", 4, 4, "UTF-32 file converted to UTF-8", NULL };
	} else if (len >= 2 && u[0] == 0xff && u[1] == 0xfe) {
		*en = (struct encoding){ "UTF-16LE", 2, 2, "UTF-16 file converted to UTF-8", NULL };
	} else if (len >= 2 && u[0] == 0xfe && u[1] == 0xff) {
		*en = (struct encoding){ "UTF-16BE", 2, 2, "UTF-16 file converted to UTF-8", NULL };
	} else if (len >= 4 && memcmp(u, "PK\3\4", 4) == 0) {
		en->reject = "a ZIP archive (an Excel .xlsx or OpenDocument workbook?), not a text file: " SAVE_AS;
	} else if (len >= 8 && memcmp(u, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0) {
		en->reject = "an Excel 97-2003 workbook (.xls) or another OLE document, not a text file: " SAVE_AS;
	} else if (len >= 5 && memcmp(u, "%PDF-", 5) == 0) {
		en->reject = "a PDF document, not a text file: copy the names into a text file";
	} else {
		n &= ~(size_t)1;
		for (size_t i = 0; i < n; i++)
			if (u[i] == 0)
				(i & 1) ? z_odd++ : z_even++;
		/* UTF-16 without a BOM: many NULs, nearly all at odd (LE) or even (BE)
		 * offsets; a stray NUL is left to the line it is on */
		if (z_odd * 4 >= n / 2 && z_odd > 0 && z_even * 50 <= z_odd) {
			*en = (struct encoding){ "UTF-16LE", 0, 2,
						 "no byte-order mark, but every other octet is NUL: read as UTF-16LE", NULL };
		} else if (z_even * 4 >= n / 2 && z_even > 0 && z_odd * 50 <= z_even) {
			*en = (struct encoding){ "UTF-16BE", 0, 2,
						 "no byte-order mark, but every other octet is NUL: read as UTF-16BE", NULL };
		} else if ((z_even + z_odd) * 8 >= n && n > 0) {
			en->reject = "NUL octets all through: not UTF-8 or UTF-16 text (UTF-32 without a byte-order mark, "
				     "a spreadsheet, a document?): " SAVE_AS;
		}
		if (en->iconv && (len & 1)) {
			en->iconv = NULL;
			en->note = NULL;
			en->reject = "looks like UTF-16 without a byte-order mark, but has an odd number of octets "
				     "(cut short?): " SAVE_AS;
		}
	}
}

/* buf[en->skip..len) in en->iconv → a new UTF-8 buffer (line numbers are
 * kept; a code unit that cannot be converted becomes U+FFFD). */
static int to_utf8(const char *buf, size_t len, const struct encoding *en, char **out, size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", en->iconv);
	char *in = (char *)buf + en->skip, *o, *res;
	size_t inl = len - en->skip, cap = inl * 2 + 16, ol = cap;

	if (cd == (iconv_t)-1)
		return RS_EINVAL;
	res = o = malloc(cap);
	if (!res) {
		iconv_close(cd);
		return RS_ENOMEM;
	}
	while (inl > 0) {
		if (iconv(cd, &in, &inl, &o, &ol) == (size_t)-1) {
			if (errno == EILSEQ || errno == EINVAL) { /* keep going: U+FFFD */
				if (ol < 3)
					break;
				memcpy(o, "\xef\xbf\xbd", 3);
				o += 3, ol -= 3;
				in += en->unit < inl ? en->unit : inl;
				inl = inl >= en->unit ? inl - en->unit : 0;
				continue;
			}
			break;
		}
	}
	iconv_close(cd);
	*out = res;
	*outlen = cap - ol;
	return 0;
}

/* Offset of the first octet of buf[0..len) that is not valid UTF-8, or len. */
static size_t utf8_invalid_at(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		size_t l;
		uint32_t c;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			l = 2, c = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			l = 3, c = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			l = 4, c = s[i] & 0x07;
		else
			return i;
		if (len - i < l)
			return i;
		for (size_t k = 1; k < l; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if ((l == 3 && c < 0x800) || (l == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
			return i;
		i += l;
	}
	return len;
}

/* The line (1-based; LF, CRLF or CR ends) of offset off in buf. */
static uint32_t line_of(const char *buf, size_t off)
{
	uint32_t line = 1;

	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n' || (buf[i] == '\r' && buf[i + 1] != '\n'))
			line++;
	return line;
}

int ctl_parse(struct ctl_batch *b, const char *file, const char *buf, size_t len, enum ctl_format fmt)
{
	struct encoding en;
	char *conv = NULL;
	size_t first, firstp, bad;
	int rc;

	sniff_encoding(buf, len, &en);
	if (en.reject) {
		ctl_batch_diag(b, file, 1, true, NULL, 0, en.reject);
		return RS_EINVAL;
	}
	if (en.iconv) {
		size_t n;
		rc = to_utf8(buf, len, &en, &conv, &n);
		if (rc) {
			ctl_batch_diag(b, file, 1, true, NULL, 0, "cannot convert this file from UTF-16/32: save it as UTF-8");
			return rc;
		}
		ctl_batch_diag(b, file, 1, false, NULL, 0, en.note);
		buf = conv;
		len = n;
	}
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		buf += 3, len -= 3;
	bad = utf8_invalid_at(buf, len);
	if (fmt == CTL_FMT_AUTO)
		fmt = ctl_detect(file, buf, len);
	first = b->n;
	firstp = b->np;
	switch (fmt) {
	case CTL_FMT_CSV: rc = parse_csv(b, file, buf, len); break;
	case CTL_FMT_JSON: rc = parse_json(b, file, buf, len, false); break;
	case CTL_FMT_PSHIELD: rc = parse_json(b, file, buf, len, true); break;
	case CTL_FMT_RPZ: rc = parse_rpz(b, file, buf, len); break;
	default: rc = parse_plain(b, file, buf, len); break;
	}
	if (rc == 0 && bad < len) {
		/* the lines were read (and those with the octets rejected, each with
		 * its reason), but a file in another encoding is not half-read */
		char msg[300];
		snprintf(msg, sizeof(msg),
			 "the file is not UTF-8 or UTF-16 (invalid UTF-8 from this line on; saved as ANSI, "
			 "Windows-1252 or Latin-1?): %s", SAVE_AS);
		ctl_batch_diag(b, file, line_of(buf, bad), true, NULL, 0, msg);
		rc = RS_EINVAL;
	}
	if (rc == RS_EINVAL && b->n > first) {
		/* the file as a whole is unreadable: none of its names count */
		b->n = first;
		if (rehash(b, b->nslots))
			rc = RS_ENOMEM;
	}
	if (rc == RS_EINVAL && b->np > firstp) { /* nor its prefixes */
		b->np = firstp;
		if (set_rehash(prefixes_of(b), b->npslots))
			rc = RS_ENOMEM;
	}
	progress(b, len, len);
	free(conv);
	return rc;
}

int ctl_read_file(const char *path, char **bufp, size_t *lenp, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 1 << 16, len = 0;
	char *buf;

	*bufp = NULL;
	*lenp = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return RS_EIO;
	}
	buf = malloc(cap);
	if (!buf)
		goto oom;
	for (;;) {
		size_t n;
		if (len + 1 >= cap) {
			char *nb;
			if (cap >= CTL_FILE_MAX) {
				snprintf(err, errlen, "%s: larger than %zu octets", path, (size_t)CTL_FILE_MAX);
				free(buf);
				if (f != stdin)
					fclose(f);
				return RS_EFULL;
			}
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto oom;
			buf = nb;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		if (f != stdin)
			fclose(f);
		return RS_EIO;
	}
	if (f != stdin)
		fclose(f);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
oom:
	free(buf);
	if (f != stdin)
		fclose(f);
	snprintf(err, errlen, "%s: out of memory", path);
	return RS_ENOMEM;
}
