/*
 * fuzz_common.h — helpers shared by the libFuzzer harnesses of tests/fuzz/.
 *
 * Each harness is one .c file that defines LLVMFuzzerTestOneInput; run.sh
 * builds it with clang -fsanitize=fuzzer,address,undefined against the
 * project's sources. The helpers here are header-only (static) so that every
 * harness stays a single translation unit.
 *
 * Inputs that carry several strings separate them with NUL octets: none of
 * the parsers under test can see a NUL inside a C string anyway.
 *
 * Files: parsers that take a path read the input from an anonymous memory
 * file (memfd) through /proc/self/fd/N, so a campaign never touches the disk.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rs_err.h"

/* A failed invariant: print it and abort, so that libFuzzer saves the input. */
#define FZ_CHECK(cond)                                                                            \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,   \
				__LINE__);                                                        \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

/* Logging from the code under test is noise at a million executions a second. */
static void fz_quiet_log(int level, const char *msg)
{
	(void)level;
	(void)msg;
}

static inline void fz_quiet(void)
{
	rs_log_hook = fz_quiet_log;
}

/*
 * Split data[0..size) at NUL octets into at most max strings, copied into one
 * NUL-terminated allocation (*store, freed by the caller). The last string
 * runs to the end of the input. Returns the number of strings.
 */
static inline size_t fz_split(const uint8_t *data, size_t size, char **out, size_t max, char **store)
{
	char *s = malloc(size + 1);
	size_t n = 0, start = 0;

	*store = s;
	if (!s || max == 0)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i <= size && n < max; i++) {
		if (i == size || s[i] == '\0') {
			out[n++] = s + start;
			start = i + 1;
		}
	}
	return n;
}

/*
 * Put data[0..size) into a memory file and return a path that opens it
 * ("/proc/self/fd/N"; static storage). NULL when memfd is unavailable.
 * The same memfd is reused by every call.
 */
static inline const char *fz_memfile(const void *data, size_t size)
{
	static int fd = -1;
	static char path[64];

	if (fd < 0) {
		fd = memfd_create("fuzz-input", MFD_CLOEXEC);
		if (fd < 0)
			return NULL;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		return NULL;
	return path;
}

/* Is s[0..n) valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF)? */
static inline bool fz_utf8_ok(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned int cp;
		size_t len;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			len = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			len = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			len = 4, cp = s[i] & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/*
 * Does the input announce an aggregate or bulk string of more than max
 * elements/octets? hiredis 0.14 (Debian 12) allocates an array's element
 * pointers from the announced count before any element arrives ("*600000000"
 * is a 4.8 GB calloc), which is hiredis', not redsink's, to bound: such
 * inputs are skipped so that a campaign is not stopped by it (see README.md,
 * Findings).
 */
static inline bool fz_resp_huge_length(const uint8_t *data, size_t size, unsigned long max)
{
	for (size_t i = 0; i < size; i++) {
		unsigned long n = 0;
		size_t k;
		if (data[i] != '*' && data[i] != '$')
			continue;
		for (k = i + 1; k < size && data[k] >= '0' && data[k] <= '9'; k++) {
			n = n * 10 + (unsigned long)(data[k] - '0');
			if (n > max)
				return true;
		}
	}
	return false;
}

#endif
