/* rs_err.c — descriptions for the RS_E* codes of rs_err.h. */
#include "rs_err.h"

#include <stdarg.h>
#include <stdio.h>

rs_log_fn rs_log_hook;

void rs_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rs_log_hook)
		rs_log_hook(level, msg);
	else
		fprintf(stderr, "redsink: %s\n", msg);
}

const char *rs_strerror(int code)
{
	switch (code) {
	case RS_OK: return "success";
	case RS_ENOMEM: return "out of memory";
	case RS_EINVAL: return "invalid value";
	case RS_ENAME_EMPTY: return "empty name";
	case RS_ENAME_LABEL: return "empty label";
	case RS_ENAME_LABELLEN: return "label longer than 63 octets";
	case RS_ENAME_LEN: return "name longer than 253 octets";
	case RS_ENAME_CHAR: return "character not allowed in a domain (letters, digits, '-', '_')";
	case RS_EEXIST: return "already present";
	case RS_ENOENT: return "not present";
	case RS_EFULL: return "limit reached";
	case RS_EIO: return "I/O or connection failure";
	case RS_EPROTO: return "unexpected reply";
	case RS_ECONF: return "configuration error";
	case RS_EPERM: return "refused: unsafe permissions";
	}
	return "unknown error";
}
