/*
 * rs_err.h — redsink's one error convention.
 *
 * Actions return 0 on success or a negative RS_E* code; predicates return bool.
 * rs_strerror() turns a code into words. Codes from Unbound (1/0) and hiredis
 * (REDIS_OK/REDIS_ERR) are converted at the boundary where they are called.
 */
#ifndef RS_ERR_H
#define RS_ERR_H

enum rs_err {
	RS_OK = 0,
	RS_ENOMEM = -1,         /* out of memory */
	RS_EINVAL = -2,         /* invalid argument or value */
	RS_ENAME_EMPTY = -3,    /* empty name */
	RS_ENAME_LABEL = -4,    /* empty label (two dots, leading dot) */
	RS_ENAME_LABELLEN = -5, /* label longer than 63 octets */
	RS_ENAME_LEN = -6,      /* name longer than 253 octets */
	RS_ENAME_CHAR = -7,     /* octet outside letters, digits, '-', '_' */
	RS_EEXIST = -8,         /* already present */
	RS_ENOENT = -9,         /* not present */
	RS_EFULL = -10,         /* a fixed limit was reached */
	RS_EIO = -11,           /* I/O or connection failure */
	RS_EPROTO = -12,        /* unexpected reply from Redis */
	RS_ECONF = -13,         /* configuration error (details in the error buffer) */
	RS_EPERM = -14,         /* refused: unsafe file permissions or type (a private key others can read) */
};

/* A static English description of code (never NULL). */
const char *rs_strerror(int code);

/*
 * Logging for code that must not depend on the host: the module points
 * rs_log_hook at Unbound's log functions; unit tests and tools keep the
 * default (stderr). level: RS_LOG_ERR, RS_LOG_WARN, RS_LOG_INFO.
 * Messages are written with the fixed prefix "redsink: ".
 */
enum { RS_LOG_ERR = 0, RS_LOG_WARN = 1, RS_LOG_INFO = 2 };
typedef void (*rs_log_fn)(int level, const char *msg);
extern rs_log_fn rs_log_hook;
void rs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
