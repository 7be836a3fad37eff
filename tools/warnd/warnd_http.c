/* warnd_http.c — the HTTP/1.1 request head (see warnd_http.h). */
#include "warnd_http.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 section 5.6.2 */
static bool tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value's octet: VCHAR, SP, HTAB or obs-text. */
static bool vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t wd_http_head_end(const char *buf, size_t len, size_t *scanned)
{
	size_t i = *scanned;

	/* a head that starts with its empty line (no request line): malformed,
	 * refused once it is complete */
	if (len >= 1 && buf[0] == '\n')
		return 1;
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 2;
	/* an LF, then an optional CR, then an LF: the empty line */
	for (; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
		if (i + 2 >= len)
			break; /* look at this LF again when more has come */
	}
	*scanned = i;
	return 0;
}

/* Does the comma-separated list v hold the token tok (any case)? */
static bool has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);

	while (*v) {
		size_t n;
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		n = strcspn(v, ", \t");
		if (n == tl && strncasecmp(v, tok, tl) == 0)
			return true;
		v += n;
	}
	return false;
}

static enum wd_method method_of(const char *m, size_t n)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(names[i], m, n) == 0)
			return (enum wd_method)i;
	return WD_M_OTHER;
}

/* The request target t (NUL-terminated, in the buffer): path and host. */
static int target(char *t, struct wd_http_req *req)
{
	char *path = NULL;

	if (t[0] == '/' || (t[0] == '*' && t[1] == '\0')) {
		path = t;
	} else if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
		/* absolute-form: the authority is the host (RFC 9112 section
		 * 3.2.2); it is moved one octet left over the second '/' of "//"
		 * so that it ends with a NUL while the path keeps its '/' */
		char *a = strchr(t, '/') + 2, *end = a + strcspn(a, "/?#");
		size_t n = (size_t)(end - a);
		if (memchr(a, '@', n))
			return 400; /* userinfo: not in an HTTP target (RFC 9110 section 4.2.4) */
		if (n > 0) { /* else the Host field's value stays */
			memmove(a - 1, a, n);
			a[n - 1] = '\0';
			req->host = a - 1;
		}
		if (*end == '/')
			path = end;
		else
			req->path = "/";
	} else if (req->method == WD_M_OTHER) {
		req->path = t; /* CONNECT's authority-form, and the like: answered 405 */
	} else {
		return 400;
	}
	if (path) {
		path[strcspn(path, "?#")] = '\0'; /* the path without its query or fragment */
		req->path = path;
	}
	return 0;
}

int wd_http_parse(char *buf, size_t n, struct wd_http_req *req)
{
	char *line = buf, *end = buf + n, *sp1, *sp2, *t;
	bool have_cl = false, close = false, keep = false, host_field = false;
	int rc;

	memset(req, 0, sizeof(*req));
	/* every line ends with LF, a CR only just before it; no NUL, no other CTL
	 * in the request line (values are checked below) */
	for (char *p = buf; p < end; p++) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n'))
			return 400;
		if (*p == '\0')
			return 400;
	}
	/* the request line: method SP target SP version */
	{
		char *lf = memchr(line, '\n', (size_t)(end - line));
		if (!lf)
			return 400;
		*lf = '\0';
		if (lf > line && lf[-1] == '\r')
			lf[-1] = '\0';
		sp1 = strchr(line, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' '))
			return 400;
		for (char *p = line; p < sp1; p++)
			if (!tchar((unsigned char)*p))
				return 400;
		for (char *p = sp1 + 1; p < sp2; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				return 400;
		if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
			req->minor = 1;
		else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
			req->minor = 0;
		else
			return 400;
		req->method = method_of(line, (size_t)(sp1 - line));
		*sp2 = '\0';
		t = sp1 + 1;
		line = lf + 1;
	}
	/* the fields, up to the empty line */
	while (line < end) {
		char *lf = memchr(line, '\n', (size_t)(end - line)), *colon, *v, *ve, *next;
		if (!lf)
			return 400;
		next = lf + 1;
		*lf = '\0';
		if (lf > line && lf[-1] == '\r')
			*--lf = '\0';
		if (lf == line)
			break; /* the empty line */
		if (*line == ' ' || *line == '\t')
			return 400; /* obs-fold */
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400;
		for (char *p = line; p < colon; p++)
			if (!tchar((unsigned char)*p))
				return 400;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (ve = lf; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		*ve = '\0';
		for (char *p = v; p < ve; p++)
			if (!vchar((unsigned char)*p))
				return 400;
		if (strcasecmp(line, "Host") == 0) {
			if (host_field)
				return 400; /* RFC 9112 section 3.2 */
			host_field = true;
			if (!req->host)
				req->host = v;
		} else if (strcasecmp(line, "Accept-Language") == 0) {
			if (!req->accept_language)
				req->accept_language = v;
		} else if (strcasecmp(line, "Content-Length") == 0) {
			uint64_t cl = 0;
			size_t digits = strspn(v, "0123456789");
			if (digits == 0 || digits > 15 || v[digits] != '\0')
				return 400;
			for (size_t i = 0; i < digits; i++)
				cl = cl * 10 + (uint64_t)(v[i] - '0');
			if (have_cl && cl != req->content_length)
				return 400;
			have_cl = true;
			req->content_length = cl;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			return 501;
		} else if (strcasecmp(line, "Connection") == 0) {
			close |= has_token(v, "close");
			keep |= has_token(v, "keep-alive");
		} else if (strcasecmp(line, "Expect") == 0) {
			req->expect_continue |= strcasecmp(v, "100-continue") == 0;
		}
		line = next;
	}
	/* an absolute-form target's authority replaces the Host field's value
	 * (RFC 9112 section 3.2.2) */
	if ((rc = target(t, req)) != 0)
		return rc;
	req->keep_alive = !close && (req->minor == 1 || keep);
	return 0;
}
