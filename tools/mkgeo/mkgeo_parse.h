/*
 * mkgeo_parse.h — one line of redsink-mkgeo's address plan (CSV):
 *
 *   network,country[,subdivision]      e.g. 10.1.0.0/16,IT,IT-25
 *
 * '#' starts a comment; blank lines and a header starting with the word
 * "network" are skipped; spaces around the fields are ignored. The network
 * is IPv4 or IPv6 CIDR (a bare address is a /32 or /128) whose host bits
 * must be zero; country is ISO 3166-1 alpha-2 (stored in capitals);
 * subdivision is ISO 3166-2 with or without the "CC-" prefix (stored
 * without it). The rules and the messages are those of redsink-mkgeo(1),
 * ERRORS.
 *
 * An IPv4 network is the IPv6 network ::a.b.c.d/(96+len) of the MaxMind DB
 * tree: key and depth are the same for "10.0.0.0/8" and "::10.0.0.0/104".
 * Pure functions: no allocation, no global state (fuzzed by
 * tests/fuzz/fuzz_mkgeo.c).
 */
#ifndef MKGEO_PARSE_H
#define MKGEO_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define MKGEO_CANON_MAX 72 /* inet_ntop text (at most 45 octets), "/128", NUL */
#define MKGEO_WHY_MAX 512  /* a message quoting at most two fields, escaped */
#define MKGEO_DATA_MAX 8   /* "CC-SUB" */

/* One network of the plan. */
struct mkgeo_net {
	uint8_t key[16];             /* the network in the IPv6 tree, host bits zero */
	unsigned depth;              /* its prefix length there: 0-128 (IPv4: 96-128) */
	char canon[MKGEO_CANON_MAX]; /* as inet_ntop(3) writes it, "/len" */
	char cc[3];                  /* "IT" */
	char sub[4];                 /* "25", or "" when none */
	char data[MKGEO_DATA_MAX];   /* "IT-25" or "IT": equal data, equal records */
};

enum {
	MKGEO_LINE_NET = 0,  /* *n is filled */
	MKGEO_LINE_SKIP = 1, /* blank, comment or header */
};

/*
 * Parse line[0..len) (without or with its end of line; NUL octets are
 * ordinary octets). MKGEO_LINE_NET with *n filled, MKGEO_LINE_SKIP, or
 * RS_EINVAL with the reason in why (NUL-terminated, control octets of the
 * input shown as \xNN), e.g. "'10.0.0.1/8' has host bits set (the network
 * is 10.0.0.0/8)".
 */
int mkgeo_parse_line(const char *line, size_t len, struct mkgeo_net *n, char *why, size_t whylen);

/*
 * Parse a network alone ("10.0.0.0/8", "2001:db8::", no spaces): 0 and
 * key/depth/canon of *n, or RS_EINVAL with the reason in why.
 */
int mkgeo_parse_network(const char *text, size_t len, struct mkgeo_net *n, char *why, size_t whylen);

#endif
