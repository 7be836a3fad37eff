/*
 * fuzz_http.c — redsink-warnd's own HTTP/1.1 request heads (issue 15):
 * tools/warnd/warnd_http.c, wd_http_head_end and wd_http_parse, which read
 * every request a client sends to the sinkhole address, before anything else
 * sees it.
 *
 * Input: a split octet, then the octets a client sent. The head's end is
 * searched for twice: over the whole input at once, and resumed (as a
 * connection does while the head arrives in pieces) with the input cut at the
 * split point; then the head is parsed in a buffer of exactly its size (so
 * ASan sees any read past it) and again in a copy (parsing is deterministic).
 *
 * Invariants checked:
 *  - the end found in pieces is the end found at once; an end is within the
 *    input and just after an LF;
 *  - wd_http_parse returns 0, 400 or 501;
 *  - on 0: the method is one of the enum, minor 0 or 1; path, host and
 *    accept_language (when set) are NUL-terminated strings inside the head
 *    (or path the literal "/"), free of CR, LF and NUL; the path of a page
 *    method starts with '/' or is "*" and holds no '?' or '#'; a host holds
 *    no control octet but HTAB; content_length < 10^15; a head with a
 *    Transfer-Encoding field is never accepted;
 *  - a second parse of the same octets gives the same answer.
 */
#include "fuzz_common.h"

#include <strings.h>

#include "warnd_http.h"

static bool inside(const char *p, const char *buf, size_t n)
{
	return p >= buf && p < buf + n && memchr(p, '\0', (size_t)(buf + n - p)) != NULL;
}

static void check_str(const char *p, const char *buf, size_t n)
{
	FZ_CHECK(inside(p, buf, n));
	FZ_CHECK(strpbrk(p, "\r\n") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split, n, end, end2, scanned = 0, scanned2 = 0;
	const char *in;
	char *buf, *copy;
	struct wd_http_req req, req2;
	int rc, rc2;

	if (size < 1)
		return 0;
	n = size - 1;
	split = n ? data[0] % (n + 1) : 0;
	in = (const char *)data + 1;

	end = wd_http_head_end(in, n, &scanned);
	FZ_CHECK(end <= n);
	(void)wd_http_head_end(in, split, &scanned2);
	end2 = wd_http_head_end(in, n, &scanned2);
	FZ_CHECK(end2 == end);
	if (end == 0)
		return 0;
	FZ_CHECK(in[end - 1] == '\n');

	buf = malloc(end);
	copy = malloc(end);
	if (!buf || !copy) {
		free(buf);
		free(copy);
		return 0;
	}
	memcpy(buf, in, end);
	memcpy(copy, in, end);
	rc = wd_http_parse(buf, end, &req);
	FZ_CHECK(rc == 0 || rc == 400 || rc == 501);
	if (rc == 0) {
		FZ_CHECK(req.method >= WD_M_GET && req.method <= WD_M_OTHER);
		FZ_CHECK(req.minor == 0 || req.minor == 1);
		FZ_CHECK(req.path != NULL);
		if (strcmp(req.path, "/") != 0 || inside(req.path, buf, end))
			check_str(req.path, buf, end);
		if (req.method != WD_M_OTHER) {
			FZ_CHECK(req.path[0] == '/' || strcmp(req.path, "*") == 0);
			FZ_CHECK(strpbrk(req.path, "?#") == NULL);
		}
		if (req.host) {
			check_str(req.host, buf, end);
			for (const char *p = req.host; *p; p++)
				FZ_CHECK(((unsigned char)*p >= 0x20 || *p == '\t') && *p != 0x7f);
		}
		if (req.accept_language)
			check_str(req.accept_language, buf, end);
		FZ_CHECK(req.content_length < 1000000000000000ULL);
		/* no field line of the head is a Transfer-Encoding */
		for (const char *l = memchr(in, '\n', end); l && (size_t)(l + 1 - in) < end;
		     l = memchr(l + 1, '\n', end - (size_t)(l + 1 - in)))
			FZ_CHECK(end - (size_t)(l + 1 - in) < 18 || strncasecmp(l + 1, "transfer-encoding:", 18) != 0);
	}
	/* deterministic */
	rc2 = wd_http_parse(copy, end, &req2);
	FZ_CHECK(rc2 == rc);
	if (rc == 0) {
		FZ_CHECK(req2.method == req.method && req2.minor == req.minor && req2.keep_alive == req.keep_alive &&
			 req2.content_length == req.content_length && req2.expect_continue == req.expect_continue);
		FZ_CHECK(strcmp(req2.path, req.path) == 0);
		FZ_CHECK((req.host == NULL) == (req2.host == NULL) && (!req.host || strcmp(req.host, req2.host) == 0));
	}
	free(buf);
	free(copy);
	return 0;
}
