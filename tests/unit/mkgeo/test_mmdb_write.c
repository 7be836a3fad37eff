/* test_mmdb_write.c — redsink-mkgeo's MaxMind DB writer (tools/mkgeo/mmdb_write.c):
 * the prefix tree (the longest prefix wins in any insertion order, the IPv4
 * aliases, compaction) and the file, read back with libmaxminddb (MMDB_open,
 * MMDB_lookup_string, the metadata), for 24- and 28-bit records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <maxminddb.h>

#include "mmdb_write.h"
#include "rs_err.h"

/* key and depth of "10.0.0.0/8" or "2001:db8::/32" */
static unsigned net(const char *text, uint8_t key[16])
{
	char addr[64];
	const char *slash = strchr(text, '/');
	unsigned len;

	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - text), text);
	len = (unsigned)atoi(slash + 1);
	memset(key, 0, 16);
	if (strchr(addr, ':')) {
		assert_int_equal(inet_pton(AF_INET6, addr, key), 1);
		return len;
	}
	assert_int_equal(inet_pton(AF_INET, addr, key + 12), 1);
	return 96 + len;
}

static int insert(struct mw_tree *t, const char *text, uint32_t data)
{
	uint8_t key[16];
	unsigned depth = net(text, key);

	return mw_insert(t, key, depth, data);
}

static long lookup(const struct mw_tree *t, const char *ip)
{
	uint8_t a[16] = { 0 };

	if (strchr(ip, ':'))
		assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
	else
		assert_int_equal(inet_pton(AF_INET, ip, a + 12), 1);
	return mw_lookup(t, a);
}

static void test_longest_prefix_wins_in_any_order(void **state)
{
	static const char *plan[] = { "0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25",
				      "2001:db8::/32", "2001:db8:1::/48" };
	static const char *ip[] = { "9.9.9.9", "10.200.0.1", "10.1.9.9", "10.1.2.3", "10.1.2.200", "2001:db8:9::1",
				    "2001:db8:1::1", "2001:db9::1" };
	static const long want[] = { 0, 1, 2, 3, 4, 5, 6, -1 };
	static const int orders[][7] = { { 0, 1, 2, 3, 4, 5, 6 }, { 6, 5, 4, 3, 2, 1, 0 }, { 3, 0, 6, 2, 4, 1, 5 } };

	for (size_t o = 0; o < 3; o++) {
		struct mw_tree *t = mw_tree_new();

		assert_non_null(t);
		for (size_t i = 0; i < 7; i++)
			assert_int_equal(insert(t, plan[orders[o][i]], (uint32_t)orders[o][i]), 0);
		for (size_t i = 0; i < 8; i++)
			if (lookup(t, ip[i]) != want[i])
				fail_msg("order %zu: %s is %ld, want %ld", o, ip[i], lookup(t, ip[i]), want[i]);
		mw_tree_free(t);
	}
}

static void test_ipv4_aliases(void **state)
{
	struct mw_tree *t = mw_tree_new();

	assert_non_null(t);
	assert_int_equal(insert(t, "10.0.0.0/8", 7), 0);
	assert_int_equal(lookup(t, "::ffff:10.1.2.3"), 7); /* IPv4-mapped */
	assert_int_equal(lookup(t, "2002:a01:203::1"), 7); /* 6to4 */
	assert_int_equal(lookup(t, "2001:0:a01:203::1"), 7); /* Teredo: the server address */
	assert_int_equal(lookup(t, "::10.1.2.3"), 7);
	assert_int_equal(insert(t, "::ffff:10.0.0.0/104", 1), MW_EALIAS_INSIDE);
	assert_int_equal(insert(t, "::ffff:0:0/96", 1), MW_EALIAS_OVERWRITE);
	assert_int_equal(insert(t, "2002::/16", 1), MW_EALIAS_OVERWRITE);
	assert_int_equal(insert(t, "2002:a00::/24", 1), MW_EALIAS_INSIDE);
	assert_int_equal(insert(t, "2001::/32", 1), MW_EALIAS_OVERWRITE);
	assert_int_equal(insert(t, "2001:0:1::/48", 1), MW_EALIAS_INSIDE);
	assert_string_equal(mw_strerror(MW_EALIAS_INSIDE), "Attempted to insert into an aliased network.");
	/* a network holding an alias leaves it in place */
	assert_int_equal(insert(t, "2000::/3", 2), 0);
	assert_int_equal(insert(t, "::/0", 3), 0);
	assert_int_equal(lookup(t, "2002:a01:203::1"), 7);
	assert_int_equal(lookup(t, "2003::1"), 2);
	assert_int_equal(lookup(t, "2001:1::1"), 2);
	assert_int_equal(lookup(t, "::1:2:3:4"), 3);
	assert_int_equal(lookup(t, "9.9.9.9"), 3); /* ::/0 covers ::/96 too */
	assert_int_equal(lookup(t, "::ffff:9.9.9.9"), 3);
	assert_int_equal(insert(t, "0.0.0.0/0", 4), 0);
	assert_int_equal(lookup(t, "::ffff:9.9.9.9"), 4);
	assert_int_equal(lookup(t, "2002:909:909::"), 4);
	mw_tree_free(t);
}

static void test_bad_arguments(void **state)
{
	struct mw_tree *t = mw_tree_new();
	uint8_t key[16] = { 0 };

	assert_int_equal(mw_insert(t, key, 129, 0), RS_EINVAL);
	assert_int_equal(mw_insert(t, key, 8, MW_DATA_MAX + 1), RS_EINVAL);
	mw_tree_free(t);
}

/* ---- the file, read back with libmaxminddb ---- */

struct rec {
	struct mw_value top[4], country[2], subs, sub[2];
};

static struct mw_value record(struct rec *r, const char *cc, const char *sub)
{
	r->country[0] = (struct mw_value){ .type = MW_STRING, .s = "iso_code" };
	r->country[1] = (struct mw_value){ .type = MW_STRING, .s = cc };
	r->top[0] = (struct mw_value){ .type = MW_STRING, .s = "country" };
	r->top[1] = (struct mw_value){ .type = MW_MAP, .n = 1, .items = r->country };
	r->sub[0] = (struct mw_value){ .type = MW_STRING, .s = "iso_code" };
	r->sub[1] = (struct mw_value){ .type = MW_STRING, .s = sub };
	r->subs = (struct mw_value){ .type = MW_MAP, .n = 1, .items = r->sub };
	r->top[2] = (struct mw_value){ .type = MW_STRING, .s = "subdivisions" };
	r->top[3] = (struct mw_value){ .type = MW_ARRAY, .n = 1, .items = &r->subs };
	return (struct mw_value){ .type = MW_MAP, .n = sub ? 2 : 1, .items = r->top };
}

static const char *const languages[] = { "en" };
static const char *const description[] = { "en", "unit test" };
static const struct mw_meta meta = { .database_type = "test-City", .languages = languages, .nlanguages = 1,
				     .description = description, .ndescription = 1, .build_epoch = 1234567890 };

/* Write t to a temporary file and open it. */
static void open_db(struct mw_tree *t, const struct mw_value *v, size_t nv, MMDB_s *db, char *path,
		    uint32_t *nodes)
{
	uint8_t *buf;
	size_t len;
	int fd;

	assert_int_equal(mw_serialize(t, v, nv, &meta, &buf, &len, nodes), 0);
	strcpy(path, "/tmp/test_mmdb_write.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
	assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, db), MMDB_SUCCESS);
}

/* "CC" or "CC-SUB" of ip, "" when not found; its prefix length in *netmask */
static const char *look(MMDB_s *db, const char *ip, uint16_t *netmask)
{
	static char out[64];
	int gai, err;
	MMDB_lookup_result_s r = MMDB_lookup_string(db, ip, &gai, &err);
	MMDB_entry_data_s cc, sub;

	assert_int_equal(gai, 0);
	assert_int_equal(err, MMDB_SUCCESS);
	if (netmask)
		*netmask = r.netmask;
	if (!r.found_entry)
		return "";
	assert_int_equal(MMDB_get_value(&r.entry, &cc, "country", "iso_code", NULL), MMDB_SUCCESS);
	assert_true(cc.has_data && cc.type == MMDB_DATA_TYPE_UTF8_STRING);
	if (MMDB_get_value(&r.entry, &sub, "subdivisions", "0", "iso_code", NULL) == MMDB_SUCCESS && sub.has_data)
		snprintf(out, sizeof(out), "%.*s-%.*s", (int)cc.data_size, cc.utf8_string, (int)sub.data_size,
			 sub.utf8_string);
	else
		snprintf(out, sizeof(out), "%.*s", (int)cc.data_size, cc.utf8_string);
	return out;
}

static void test_file_read_back(void **state)
{
	struct mw_tree *t = mw_tree_new();
	struct rec r[3];
	struct mw_value v[3] = { record(&r[0], "IT", NULL), record(&r[1], "IT", "25"), record(&r[2], "FR", "IDF") };
	MMDB_entry_data_list_s *list;
	char path[64];
	uint32_t nodes;
	uint16_t mask;
	MMDB_s db;

	assert_int_equal(insert(t, "10.0.0.0/8", 0), 0);
	assert_int_equal(insert(t, "10.1.0.0/16", 1), 0);
	assert_int_equal(insert(t, "10.2.0.0/16", 1), 0); /* the same record, written once */
	assert_int_equal(insert(t, "2001:db8::/32", 2), 0);
	open_db(t, v, 3, &db, path, &nodes);
	assert_string_equal(look(&db, "10.200.0.1", &mask), "IT");
	assert_int_equal(mask, 96 + 9); /* 10.128.0.0/9, counted in the IPv6 tree */
	assert_string_equal(look(&db, "10.1.2.3", NULL), "IT-25");
	assert_string_equal(look(&db, "10.2.2.3", NULL), "IT-25");
	assert_string_equal(look(&db, "::ffff:10.1.2.3", NULL), "IT-25");
	assert_string_equal(look(&db, "2002:a01:203::", NULL), "IT-25");
	assert_string_equal(look(&db, "2001:db8::1", NULL), "FR-IDF");
	assert_string_equal(look(&db, "11.0.0.1", NULL), "");
	assert_string_equal(look(&db, "2001:db9::1", NULL), "");
	{
		int gai, err;
		MMDB_lookup_result_s a = MMDB_lookup_string(&db, "10.1.0.1", &gai, &err);
		MMDB_lookup_result_s b = MMDB_lookup_string(&db, "10.2.0.1", &gai, &err);

		assert_int_equal(a.entry.offset, b.entry.offset);
	}
	/* the metadata */
	assert_int_equal(db.metadata.node_count, nodes);
	assert_int_equal(db.metadata.record_size, 24);
	assert_int_equal(db.metadata.ip_version, 6);
	assert_int_equal(db.metadata.binary_format_major_version, 2);
	assert_int_equal(db.metadata.binary_format_minor_version, 0);
	assert_int_equal(db.metadata.build_epoch, 1234567890);
	assert_string_equal(db.metadata.database_type, "test-City");
	assert_int_equal(db.metadata.languages.count, 1);
	assert_string_equal(db.metadata.languages.names[0], "en");
	assert_int_equal(db.metadata.description.count, 1);
	assert_string_equal(db.metadata.description.descriptions[0]->language, "en");
	assert_string_equal(db.metadata.description.descriptions[0]->description, "unit test");
	assert_int_equal(MMDB_get_metadata_as_entry_data_list(&db, &list), MMDB_SUCCESS);
	MMDB_free_entry_data_list(list);
	MMDB_close(&db);
	unlink(path);
	mw_tree_free(t);
}

static void test_equal_halves_are_one_leaf(void **state)
{
	struct mw_tree *a = mw_tree_new(), *b = mw_tree_new();
	struct rec r;
	struct mw_value v = record(&r, "IT", NULL);
	uint8_t *buf;
	size_t len;
	uint32_t na, nb;

	assert_int_equal(insert(a, "10.0.0.0/8", 0), 0);
	assert_int_equal(insert(b, "10.0.0.0/9", 0), 0);
	assert_int_equal(insert(b, "10.128.0.0/9", 0), 0);
	assert_int_equal(mw_serialize(a, &v, 1, &meta, &buf, &len, &na), 0);
	free(buf);
	assert_int_equal(mw_serialize(b, &v, 1, &meta, &buf, &len, &nb), 0);
	free(buf);
	assert_int_equal(na, nb);
	/* the path to ::/96 (96), the IPv4 root's 8 levels, and the three aliases' paths */
	assert_int_equal(na, 149);
	assert_int_equal(insert(a, "127.0.0.0/8", 0), RS_EINVAL); /* sealed by mw_serialize */
	mw_tree_free(a);
	mw_tree_free(b);
}

static void test_missing_value_is_refused(void **state)
{
	struct mw_tree *t = mw_tree_new();
	struct rec r;
	struct mw_value v = record(&r, "IT", NULL);
	uint8_t *buf;
	size_t len;

	assert_int_equal(insert(t, "10.0.0.0/8", 1), 0);
	assert_int_equal(mw_serialize(t, &v, 1, &meta, &buf, &len, NULL), RS_EINVAL);
	assert_null(buf);
	mw_tree_free(t);
}

static void test_28_bit_records(void **state)
{
	/* a data section larger than 2^24 octets needs 28-bit records */
	size_t big = 16800000;
	char *s = malloc(big + 1);
	struct mw_tree *t = mw_tree_new();
	struct mw_value kv[4], v[2];
	MMDB_entry_data_s d;
	MMDB_lookup_result_s res;
	char path[64];
	int gai, err;
	MMDB_s db;

	assert_non_null(s);
	memset(s, 'x', big);
	s[big] = '\0';
	kv[0] = (struct mw_value){ .type = MW_STRING, .s = "blob" };
	kv[1] = (struct mw_value){ .type = MW_STRING, .s = s };
	kv[2] = (struct mw_value){ .type = MW_STRING, .s = "n" };
	kv[3] = (struct mw_value){ .type = MW_UINT32, .u = 70000 };
	v[0] = (struct mw_value){ .type = MW_MAP, .n = 2, .items = kv };
	v[1] = (struct mw_value){ .type = MW_MAP, .n = 1, .items = kv + 2 };
	assert_int_equal(insert(t, "10.0.0.0/8", 0), 0);
	assert_int_equal(insert(t, "11.0.0.0/8", 1), 0); /* written after the blob: offset > 2^24 */
	open_db(t, v, 2, &db, path, NULL);
	assert_int_equal(db.metadata.record_size, 28);
	res = MMDB_lookup_string(&db, "10.1.1.1", &gai, &err);
	assert_true(res.found_entry);
	assert_int_equal(MMDB_get_value(&res.entry, &d, "blob", NULL), MMDB_SUCCESS);
	assert_int_equal(d.data_size, big);
	res = MMDB_lookup_string(&db, "11.1.1.1", &gai, &err);
	assert_true(res.found_entry);
	assert_int_equal(MMDB_get_value(&res.entry, &d, "n", NULL), MMDB_SUCCESS);
	assert_int_equal(d.type, MMDB_DATA_TYPE_UINT32);
	assert_int_equal(d.uint32, 70000);
	MMDB_close(&db);
	unlink(path);
	mw_tree_free(t);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_prefix_wins_in_any_order),
		cmocka_unit_test(test_ipv4_aliases),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_file_read_back),
		cmocka_unit_test(test_equal_halves_are_one_leaf),
		cmocka_unit_test(test_missing_value_is_refused),
		cmocka_unit_test(test_28_bit_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
