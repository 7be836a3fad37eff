/*
 * text.h — small text helpers: a growable buffer, JSON string escaping,
 * template expansion with {placeholders}, UTF-8-safe truncation.
 * Used when an order is loaded (never on the query path).
 */
#ifndef RS_TEXT_H
#define RS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A growable NUL-terminated buffer. Zero-initialise; free s with free(). */
struct rs_buf {
	char *s;
	size_t len, cap;
	bool oom; /* set on allocation failure; further appends are ignored */
};

void rs_buf_add(struct rs_buf *b, const char *s, size_t n);
void rs_buf_adds(struct rs_buf *b, const char *s);
/* Append s as a JSON string literal (quotes included); control characters
 * escaped, invalid UTF-8 replaced by U+FFFD. */
void rs_buf_json(struct rs_buf *b, const char *s);

/* Look up a placeholder's value by name (NULL: unknown placeholder). */
typedef const char *(*rs_lookup_fn)(const char *name, size_t len, void *arg);

/*
 * Expand "{name}" placeholders of tmpl through lookup into b. An unknown
 * placeholder is copied literally. Returns 0 or RS_ENOMEM.
 */
int rs_template_expand(struct rs_buf *b, const char *tmpl, rs_lookup_fn lookup, void *arg);

/* Length of the longest prefix of s (length n) that is at most max octets and
 * does not end inside a UTF-8 sequence. */
size_t rs_utf8_prefix(const char *s, size_t n, size_t max);

/*
 * Append s as a JSON string literal of at most max octets, quotes included
 * (max >= 2): the escaped text is cut after the last whole character (never
 * inside an escape sequence or a UTF-8 sequence) that fits.
 */
void rs_buf_json_max(struct rs_buf *b, const char *s, size_t max);

/*
 * A display text as orders store it (malloc'd, NULL when out of memory):
 * control characters (C0, DEL, C1) replaced by a space, invalid UTF-8 by
 * U+FFFD, leading and trailing spaces removed, cut at a character boundary to
 * at most max octets. Idempotent: rs_text_clean(rs_text_clean(s)) == the same.
 */
char *rs_text_clean(const char *s, size_t max);

#endif
