/*
 * warnd_http.h — the HTTP/1.1 request head, as redsink-warnd reads it.
 *
 * A strict, bounded parser of a request line and its header fields (RFC
 * 9112), for a server that answers every request with a page and never
 * needs a request's body: it parses in place (NULs are written into the
 * buffer), allocates nothing, and keeps only what the page depends on (the
 * method, the target's path, the host, Accept-Language) and what framing
 * needs (Content-Length, Connection, Expect). Anything it does not
 * understand exactly is refused with a status, never guessed at: a bare CR,
 * a control character, an obsolete line folding, a header name that is not
 * a token, two Host fields, two different Content-Lengths, a
 * Transfer-Encoding (the page needs no body: such a request cannot be framed
 * here), a version other than HTTP/1.0 and HTTP/1.1.
 *
 * Pure: no I/O, any thread; fuzzed by tests/fuzz/fuzz_http.c, unit-tested
 * by tests/unit/warnd/test_warnd_http.c.
 */
#ifndef WD_HTTP_H
#define WD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wd_method {
	WD_M_GET, WD_M_HEAD, WD_M_POST, WD_M_PUT, WD_M_DELETE, WD_M_OPTIONS, WD_M_PATCH,
	WD_M_OTHER /* TRACE, CONNECT, or any other token: answered 405 */
};

struct wd_http_req {
	enum wd_method method;
	int minor;                   /* HTTP/1.<minor>: 0 or 1 */
	const char *path;            /* the target's path (no query), "*", or the target of
				      * another form for WD_M_OTHER; never NULL */
	const char *host;            /* an absolute-form target's authority, else the Host
				      * field's value; NULL when neither (as sent: wd_host_parse) */
	const char *accept_language; /* the first Accept-Language field, or NULL */
	uint64_t content_length;     /* octets of body that follow the head */
	bool keep_alive;             /* the connection stays open after the answer */
	bool expect_continue;        /* Expect: 100-continue */
};

/*
 * The end of the request head in buf[0..len): the offset just past its
 * empty line (CRLF CRLF, or LF LF as RFC 9112 lets a recipient accept), or 0
 * when it is not there yet. *scanned carries where the search got to
 * between calls for the same buffer (start with 0).
 */
size_t wd_http_head_end(const char *buf, size_t len, size_t *scanned);

/*
 * Parse the request head buf[0..n) (n from wd_http_head_end), writing NULs
 * into it; req's strings point into buf. 0, or the status to answer with:
 * 400 (malformed), 501 (a Transfer-Encoding).
 */
int wd_http_parse(char *buf, size_t n, struct wd_http_req *req);

#endif
