/*
 * mmdb_write.h — a MaxMind DB (format 2.0, https://maxmind.github.io/MaxMind-DB/)
 * writer for redsink-mkgeo: an IPv6 prefix tree whose leaves are data ids,
 * and a data section of maps, arrays, UTF-8 strings and unsigned integers.
 *
 * The tree (struct mw_tree):
 * - holds 128-bit keys; IPv4 lives at ::a.b.c.d/(96+len), and three networks
 *   are aliases of that IPv4 subtree, as MaxMind's own databases (and the
 *   Perl MaxMind::DB::Writer that redsink-mkgeo used before) have them:
 *   ::ffff:0:0/96 (IPv4-mapped), 2001::/32 (Teredo: the server address) and
 *   2002::/16 (6to4). An alias cannot be inserted into or overwritten
 *   (MW_EALIAS_INSIDE, MW_EALIAS_OVERWRITE); a network containing one leaves
 *   it in place;
 * - gives every address the data of the LONGEST inserted prefix covering it,
 *   whatever the order of the inserts (each leaf remembers the length of the
 *   prefix that set it); inserting the same prefix again replaces its data;
 * - is compacted when written: a node whose two children are the same leaf
 *   becomes that leaf (the IPv4 root stays a node: the aliases point to it).
 * The caller owns the tree; nothing is shared; not thread-safe.
 *
 * The file (mw_serialize): nodes numbered in depth-first order (left first),
 * records of 24, 28 or 32 bits (the smallest that fits), 16 zero octets,
 * the data section (each data id's value once, in tree order; a string, map
 * or array equal to one written before becomes a pointer to it when that is
 * shorter), then "\xAB\xCD\xEFMaxMind.com" and the metadata map.
 */
#ifndef MMDB_WRITE_H
#define MMDB_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* Errors of mw_insert beyond the RS_E* codes. */
enum {
	MW_EALIAS_INSIDE = -100,    /* the network is inside an alias */
	MW_EALIAS_OVERWRITE = -101, /* the network is an alias */
};

#define MW_DATA_MAX 0x3fffffffu /* the largest data id */

/* A value of the data section. */
enum mw_type { MW_STRING, MW_MAP, MW_ARRAY, MW_UINT16, MW_UINT32, MW_UINT64 };
struct mw_value {
	enum mw_type type;
	const char *s;                /* MW_STRING: NUL-terminated UTF-8 */
	uint64_t u;                   /* MW_UINT* */
	size_t n;                     /* MW_MAP: pairs; MW_ARRAY: items */
	const struct mw_value *items; /* MW_MAP: key (MW_STRING), value, key, ...; MW_ARRAY: the items */
};

/* What the metadata says besides the tree's own numbers. */
struct mw_meta {
	const char *database_type;
	const char *const *languages; /* nlanguages strings */
	size_t nlanguages;
	const char *const *description; /* ndescription pairs: language, text */
	size_t ndescription;
	uint64_t build_epoch;
};

struct mw_tree;

/* A tree holding only the IPv4 aliases, or NULL (out of memory). */
struct mw_tree *mw_tree_new(void);
void mw_tree_free(struct mw_tree *t);

/*
 * Give the network key/depth (host bits beyond depth ignored, depth 0-128)
 * the data id data (0..MW_DATA_MAX). 0, MW_EALIAS_INSIDE,
 * MW_EALIAS_OVERWRITE, RS_EINVAL (depth or data out of range) or RS_ENOMEM.
 * Not allowed after mw_serialize.
 */
int mw_insert(struct mw_tree *t, const uint8_t key[16], unsigned depth, uint32_t data);

/*
 * The data id of the longest prefix covering addr, or -1 when none does
 * (an alias is followed). For tests.
 */
long mw_lookup(const struct mw_tree *t, const uint8_t addr[16]);

/*
 * Compact the tree and write the whole file into a buffer (*out, *outlen;
 * free(3) it). values[id] is the value of data id id; every id in the tree
 * must be < nvalues. 0, RS_EINVAL (an id without a value, a key that is not
 * a string, a string or container too long), RS_EFULL (more than 4 GB) or
 * RS_ENOMEM. *node_count (if not NULL) receives the number of nodes.
 */
int mw_serialize(struct mw_tree *t, const struct mw_value *values, size_t nvalues, const struct mw_meta *meta,
		 uint8_t **out, size_t *outlen, uint32_t *node_count);

/* Words for MW_EALIAS_*, else rs_strerror(code). */
const char *mw_strerror(int code);

#endif
