/* test_conf.c — redsink.conf: values, defaults, and every error path with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "rs_err.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	strcpy(path, "/tmp/rs-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* Load text; return the error message ("" on success). */
static const char *load(const char *text, struct rs_conf *c)
{
	static char err[RS_CONF_ERRLEN];
	static char msg[RS_CONF_ERRLEN];

	write_file(text, strlen(text));
	if (rs_conf_load(path, c, err) == 0)
		return "";
	/* strip the temporary path: "PATH:LINE: msg" -> ":LINE: msg" */
	assert_memory_equal(err, path, strlen(path));
	snprintf(msg, sizeof(msg), "%s", err + strlen(path));
	return msg;
}

#define MIN "read-redis: 127.0.0.1:6379\nsinkhole-ipv4: 192.0.2.1\n"

static void test_minimal_and_defaults(void **state)
{
	struct rs_conf c;

	assert_string_equal(load(MIN, &c), "");
	assert_string_equal(c.read.host, "127.0.0.1");
	assert_int_equal(c.read.port, 6379);
	assert_string_equal(c.write.addr, "127.0.0.1:6379"); /* write defaults to read */
	assert_string_equal(c.prefix, "redsink:");
	assert_int_equal(c.ttl, 60);
	assert_int_equal(c.redis_timeout_ms, 1000);
	assert_int_equal(c.ede_format, RS_EDE_JSON);
	assert_string_equal(c.language, "en");
	assert_string_equal(c.geoip_country_field, "country.iso_code");
	assert_string_equal(c.geoip_subdivision_field, "subdivisions.0.iso_code");
	assert_int_equal(c.stats_flush_interval, 10);
	assert_int_equal(c.stats_retention, 90);
	assert_int_equal(c.collateral_threshold, 50);
	assert_int_equal(c.collateral_action, RS_COLLATERAL_REPORT);
	assert_null(c.metrics.host);
	assert_null(c.jurisdiction);
	assert_false(c.have_sinkhole6);
	assert_true(c.have_sinkhole4);
	assert_memory_equal(c.sinkhole4, "\xc0\x00\x02\x01", 4);
	assert_non_null(c.resolver_name); /* the host name */
	assert_int_equal(c.require_signatures, 0); /* unsigned mode by default */
	assert_int_equal(c.ntrusted, 0);
	assert_int_equal(c.nrevoked, 0);
	rs_conf_free(&c);
}

#define K1 "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=" /* key id 34750f98bd59fcfc */
#define K2 "ed25519:gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=" /* key id 6a3803d5f059902a */

/* trusted-key, revoked-key, require-signatures (signed orders, issue 14). */
static void test_signatures(void **state)
{
	struct rs_conf c;
	const struct rs_pubkey *k;
	bool revoked;

	assert_string_equal(load(MIN "require-signatures: yes\ntrusted-key: AGCOM " K1 "\n"
				     "trusted-key:\tAGCOM-2026\t" K2 "   # rotation\nrevoked-key: 0123456789abcdef\n",
				 &c),
			    "");
	assert_int_equal(c.require_signatures, 1);
	assert_int_equal(c.ntrusted, 2);
	assert_string_equal(c.trusted_keys[0].label, "AGCOM");
	assert_string_equal(c.trusted_keys[0].id, "34750f98bd59fcfc");
	assert_string_equal(c.trusted_keys[1].label, "AGCOM-2026");
	assert_string_equal(c.trusted_keys[1].id, "6a3803d5f059902a");
	/* one OpenSSL key object per key, built at load, freed by rs_conf_free */
	assert_non_null(c.trusted_keys[0].pkey);
	assert_non_null(c.trusted_keys[1].pkey);
	assert_int_equal(c.nrevoked, 1);
	k = rs_conf_key(&c, "6a3803d5f059902a", &revoked);
	assert_non_null(k);
	assert_false(revoked);
	assert_string_equal(k->label, "AGCOM-2026");
	assert_null(rs_conf_key(&c, "0123456789abcdef", &revoked));
	assert_true(revoked);
	assert_null(rs_conf_key(&c, "fedcba9876543210", &revoked));
	assert_false(revoked);
	rs_conf_free(&c);

	/* a revoked trusted key is never used: */
	assert_string_equal(load(MIN "trusted-key: A " K1 "\nrevoked-key: 34750f98bd59fcfc\n", &c), "");
	assert_null(rs_conf_key(&c, "34750f98bd59fcfc", &revoked));
	assert_true(revoked);
	rs_conf_free(&c);
	/* ... so signed mode needs another */
	assert_string_equal(load(MIN "require-signatures: yes\ntrusted-key: A " K1 "\nrevoked-key: 34750f98bd59fcfc\n",
				 &c),
			    ":5: require-signatures: yes needs at least one trusted-key that is not revoked");
	assert_string_equal(load(MIN "require-signatures: yes\n", &c),
			    ":3: require-signatures: yes needs at least one trusted-key that is not revoked");
	assert_string_equal(load(MIN "require-signatures: no\n", &c), "");
	assert_int_equal(c.require_signatures, 0);
	rs_conf_free(&c);

	assert_string_equal(load(MIN "require-signatures: maybe\n", &c),
			    ":3: require-signatures: 'maybe' is not one of no, yes");
	assert_string_equal(load(MIN "trusted-key: " K1 "\n", &c),
			    ":3: trusted-key: '" K1 "' is not 'LABEL ed25519:BASE64'");
	assert_string_equal(load(MIN "trusted-key: A B " K1 "\n", &c),
			    ":3: trusted-key: 'A B " K1 "' is not 'LABEL ed25519:BASE64'");
	assert_string_equal(load(MIN "trusted-key: A/B " K1 "\n", &c),
			    ":3: trusted-key: label 'A/B' must be 1-64 letters, digits, '.', '_' or '-'");
	assert_string_equal(load(MIN "trusted-key: A " K1 "\ntrusted-key: B " K1 "\n", &c),
			    ":4: trusted-key: key 34750f98bd59fcfc is given twice (as 'A' and 'B')");
	assert_string_equal(load(MIN "revoked-key: 34750F98BD59FCFC\n", &c),
			    ":3: revoked-key: '34750F98BD59FCFC' is not a key id (16 lowercase hex digits, redsink-ctl key "
			    "fingerprint)");
	assert_string_equal(load(MIN "revoked-key: 34750f98bd59fcfc\nrevoked-key: 34750f98bd59fcfc\n", &c),
			    ":4: revoked-key: 34750f98bd59fcfc given twice");
	/* a key that is not a key: what rs_pubkey_parse says, after the directive */
	if (!strstr(load(MIN "trusted-key: A ed25519:AAAA\n", &c), ":3: trusted-key: "))
		fail_msg("a short key is refused with the directive named");
	if (!strstr(load(MIN "trusted-key: A rsa:" K1 "\n", &c), ":3: trusted-key: "))
		fail_msg("another algorithm is refused with the directive named");
	assert_null(c.path);
	/* protect-key: trusted for the protected set only; the same key as a
	 * trusted-key (same label) holds both roles */
	assert_string_equal(load(MIN "trusted-key: AGCOM " K1 "\nprotect-key: ISP " K2 "\nprotect-key: AGCOM " K1 "\n",
				 &c),
			    "");
	assert_int_equal(c.ntrusted, 2);
	assert_non_null(rs_conf_key(&c, "34750f98bd59fcfc", &revoked));
	assert_non_null(rs_conf_protect_key(&c, "34750f98bd59fcfc", &revoked));
	assert_null(rs_conf_key(&c, "6a3803d5f059902a", &revoked));
	assert_false(revoked);
	k = rs_conf_protect_key(&c, "6a3803d5f059902a", &revoked);
	assert_non_null(k);
	assert_string_equal(k->label, "ISP");
	rs_conf_free(&c);
	assert_string_equal(load(MIN "protect-key: ISP " K2 "\nrevoked-key: 6a3803d5f059902a\n", &c), "");
	assert_null(rs_conf_protect_key(&c, "6a3803d5f059902a", &revoked));
	assert_true(revoked);
	rs_conf_free(&c);
	assert_string_equal(load(MIN "trusted-key: A " K1 "\nprotect-key: B " K1 "\n", &c),
			    ":4: protect-key: key 34750f98bd59fcfc is given twice (as 'A' and 'B')");
	assert_string_equal(load(MIN "protect-key: A " K1 "\nprotect-key: A " K1 "\n", &c),
			    ":4: protect-key: key 34750f98bd59fcfc is given twice (as 'A' and 'A')");
	/* a protect-key alone does not make signed mode possible */
	assert_string_equal(load(MIN "require-signatures: yes\nprotect-key: ISP " K2 "\n", &c),
			    ":4: require-signatures: yes needs at least one trusted-key that is not revoked");
}

static void test_full(void **state)
{
	struct rs_conf c;
	char pw[] = "/tmp/rs-pw-XXXXXX";
	char text[1024];
	int fd = mkstemp(pw);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\nignored\n", 15), 15);
	close(fd);
	snprintf(text, sizeof(text),
		 "# comment\n"
		 "  read-redis : unix:/run/redis.sock   # trailing comment\n"
		 "read-redis-db: 3\n"
		 "read-redis-user: resolver\n"
		 "read-redis-password-file: %s\n"
		 "write-redis: [::1]:6380\n"
		 "key-prefix: rs:\n"
		 "resolver-name: res-1.mil\n"
		 "jurisdiction: it\n"
		 "sinkhole-ipv4: 192.0.2.1\r\n"
		 "sinkhole-ipv6: 2001:db8::1\n"
		 "ttl: 0\n"
		 "txt-text: \"  {reference} # not a comment \"\n"
		 "ede-format: text\n"
		 "contact: mailto:a@b.example\n"
		 "contact: tel:+390612345\n"
		 "language: pt-BR\n"
		 "collateral-threshold: 0\n"
		 "collateral-action: suspend\n",
		 pw);
	assert_string_equal(load(text, &c), "");
	unlink(pw);
	assert_string_equal(c.read.unix_path, "/run/redis.sock");
	assert_null(c.read.host);
	assert_int_equal(c.read.db, 3);
	assert_string_equal(c.read.password, "s3cret");
	assert_string_equal(c.write.host, "::1");
	assert_int_equal(c.write.port, 6380);
	assert_int_equal(c.write.db, 0);
	assert_null(c.write.user); /* an explicit write-redis does not inherit credentials */
	assert_string_equal(c.prefix, "rs:");
	assert_string_equal(c.jurisdiction, "IT");
	assert_int_equal(c.ttl, 0);
	assert_string_equal(c.txt_text, "  {reference} # not a comment ");
	assert_int_equal(c.ede_format, RS_EDE_TEXT);
	assert_int_equal(c.ncontacts, 2);
	assert_string_equal(c.contacts[1], "tel:+390612345");
	assert_string_equal(c.language, "pt-BR");
	assert_int_equal(c.collateral_threshold, 0);
	assert_int_equal(c.collateral_action, RS_COLLATERAL_SUSPEND);
	rs_conf_free(&c);
}

static void test_write_inherits_read(void **state)
{
	struct rs_conf c;

	assert_string_equal(load(MIN "read-redis-db: 2\nread-redis-user: u\nwrite-redis-db: 5\n", &c), "");
	assert_int_equal(c.write.db, 5);
	assert_string_equal(c.write.user, "u");
	assert_int_equal(c.write.port, 6379);
	rs_conf_free(&c);
}

static void test_sentinel(void **state)
{
	struct rs_conf c;
	char text[1024];

	/* read-redis through Sentinel: a replica unless said otherwise; IPv6
	 * in brackets; the default port; write-redis inherits the sentinels,
	 * asked for the primary, with the sentinels' credentials */
	snprintf(text, sizeof(text),
		 "read-redis: sentinel:10.0.0.1:26379,[2001:db8::7]:26380,s3.example/redsink\n"
		 "read-redis-sentinel-user: watcher\n"
		 "read-redis-sentinel-password-file: %s\n"
		 "read-redis-db: 2\n"
		 "sinkhole-ipv4: 192.0.2.1\n", path);
	assert_string_equal(load(text, &c), "");
	assert_int_equal(c.read.nsentinels, 3);
	assert_null(c.read.host);
	assert_null(c.read.unix_path);
	assert_string_equal(c.read.sentinels[0].host, "10.0.0.1");
	assert_int_equal(c.read.sentinels[0].port, 26379);
	assert_string_equal(c.read.sentinels[1].host, "2001:db8::7");
	assert_int_equal(c.read.sentinels[1].port, 26380);
	assert_string_equal(c.read.sentinels[2].host, "s3.example");
	assert_int_equal(c.read.sentinels[2].port, 26379);
	assert_string_equal(c.read.master_name, "redsink");
	assert_int_equal(c.read.role, RS_ROLE_REPLICA);
	assert_int_equal(c.read.db, 2);
	assert_string_equal(c.read.sentinel_user, "watcher");
	/* the password file is the configuration file itself: its first line */
	assert_string_equal(c.read.sentinel_password, "read-redis: sentinel:10.0.0.1:26379,[2001:db8::7]:26380,s3.example/redsink");
	assert_null(c.read.password);
	assert_int_equal(c.write.nsentinels, 3);
	assert_string_equal(c.write.sentinels[1].host, "2001:db8::7");
	assert_string_equal(c.write.master_name, "redsink");
	assert_int_equal(c.write.role, RS_ROLE_PRIMARY);
	assert_int_equal(c.write.db, 2);
	assert_string_equal(c.write.sentinel_user, "watcher");
	assert_string_equal(c.write.sentinel_password, c.read.sentinel_password);
	rs_conf_free(&c);

	/* role=primary for reads; a write-redis of its own (another master
	 * name) with the primary by default; case of the scheme ignored */
	assert_string_equal(load("read-redis: SENTINEL:h1:1/a?role=primary\n"
				 "write-redis: sentinel:h2:2/b\n"
				 "write-redis-db: 4\n"
				 "sinkhole-ipv4: 192.0.2.1\n", &c), "");
	assert_int_equal(c.read.role, RS_ROLE_PRIMARY);
	assert_string_equal(c.read.addr, "SENTINEL:h1:1/a?role=primary");
	assert_string_equal(c.write.master_name, "b");
	assert_int_equal(c.write.sentinels[0].port, 2);
	assert_int_equal(c.write.role, RS_ROLE_PRIMARY);
	assert_int_equal(c.write.db, 4);
	assert_null(c.write.sentinel_password);
	rs_conf_free(&c);

	/* a plain read endpoint and a write endpoint through Sentinel */
	assert_string_equal(load(MIN "write-redis: sentinel:h/m?role=master\n", &c), "");
	assert_int_equal(c.read.nsentinels, 0);
	assert_null(c.read.master_name);
	assert_int_equal(c.write.role, RS_ROLE_PRIMARY);
	rs_conf_free(&c);
}

struct bad {
	const char *text;
	const char *msg;
};

static const struct bad bad[] = {
	{ MIN "bogus: 1\n", ":3: unknown directive 'bogus'" },
	{ MIN "ttl 60\n", ":3: syntax error: expected 'directive: value'" },
	{ MIN "ttl: sixty\n", ":3: ttl: 'sixty' is not an integer" },
	{ MIN "ttl: \n", ":3: ttl: '' is not an integer" },
	{ MIN "ttl: 86401\n", ":3: ttl: 86401 is out of range 0..86400" },
	{ MIN "ttl: -1\n", ":3: ttl: -1 is out of range 0..86400" },
	{ MIN "ttl: 99999999999999999999\n", ":3: ttl: '99999999999999999999' is not an integer" },
	{ MIN "ttl: 5\nttl: 6\n", ":4: ttl: given twice" },
	{ "read-redis: localhost\n", ":1: read-redis: 'localhost' is not host:port, unix:/path or sentinel:HOST:PORT/NAME" },
	{ "read-redis: localhost:0\n", ":1: read-redis: 'localhost:0': port must be 1..65535" },
	{ "read-redis: localhost:65536\n", ":1: read-redis: 'localhost:65536': port must be 1..65535" },
	{ "read-redis: unix:relative.sock\n", ":1: read-redis: 'unix:relative.sock': a unix socket needs an absolute path (unix:/path)" },
	{ "read-redis: [::1:6379\n", ":1: read-redis: '[::1:6379' is not host:port, unix:/path or sentinel:HOST:PORT/NAME" },
	/* sentinel: endpoints (lib/sentinel.c): what, where and why */
	{ "read-redis: sentinel:h1:26379\n",
	  ":1: read-redis: 'sentinel:h1:26379': no master name: write sentinel:HOST:PORT[,HOST:PORT...]/NAME" },
	{ "read-redis: sentinel:/redsink\n", ":1: read-redis: 'sentinel:/redsink': no sentinel before '/NAME'" },
	{ "read-redis: sentinel:h1/\n", ":1: read-redis: 'sentinel:h1/': the master name after '/' is empty" },
	{ "read-redis: sentinel:h1:99999/m\n",
	  ":1: read-redis: 'sentinel:h1:99999/m': sentinel 1 ('h1:99999'): the port must be a number 1..65535" },
	{ "read-redis: sentinel:h1,h2:x/m\n",
	  ":1: read-redis: 'sentinel:h1,h2:x/m': sentinel 2 ('h2:x'): the port must be a number 1..65535" },
	{ "read-redis: sentinel:h1,,h2/m\n",
	  ":1: read-redis: 'sentinel:h1,,h2/m': sentinel 2 is empty (HOST:PORT expected between the commas)" },
	{ "read-redis: sentinel:::1:26379/m\n",
	  ":1: read-redis: 'sentinel:::1:26379/m': sentinel 1 ('::1:26379'): write an IPv6 address in brackets: [::1]:26379" },
	{ "read-redis: sentinel:[::1:26379/m\n",
	  ":1: read-redis: 'sentinel:[::1:26379/m': sentinel 1 ('[::1:26379'): missing ']' after an IPv6 address" },
	{ "read-redis: sentinel:[::1]x/m\n",
	  ":1: read-redis: 'sentinel:[::1]x/m': sentinel 1 ('[::1]x'): unexpected text after ']'" },
	{ "read-redis: sentinel::26379/m\n", ":1: read-redis: 'sentinel::26379/m': sentinel 1 (':26379'): no host" },
	{ "read-redis: sentinel:h/m?role=boss\n", ":1: read-redis: 'sentinel:h/m?role=boss': role 'boss' is not primary or replica" },
	{ "read-redis: sentinel:h/m?db=2\n",
	  ":1: read-redis: 'sentinel:h/m?db=2': db= is not taken here: give the database with its own directive "
	  "(read-redis-db, write-redis-db)" },
	{ "read-redis: sentinel:h/m?tls=1\n",
	  ":1: read-redis: 'sentinel:h/m?tls=1': unknown option 'tls' (role=primary|replica, db=N)" },
	{ "read-redis: sentinel:h/m?role\n",
	  ":1: read-redis: 'sentinel:h/m?role': option 'role' is not NAME=VALUE (role=primary|replica, db=N)" },
	{ "read-redis: sentinel:h/m/2\n",
	  ":1: read-redis: 'sentinel:h/m/2': master name 'm/2': only letters, digits, '.', '_' and '-' are allowed "
	  "(a database is given with ?db=N)" },
	{ "read-redis: sentinel:a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/m\n",
	  ":1: read-redis: 'sentinel:a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/m': 17 sentinels: at most 16" },
	{ "read-redis: sentinel:h/m\nwrite-redis: sentinel:h/m?role=replica\nsinkhole-ipv4: 192.0.2.1\n",
	  ": write-redis: 'sentinel:h/m?role=replica': role=replica: heartbeats and hit counts are written to the primary" },
	{ MIN "read-redis-sentinel-user: rs\n",
	  ": read-redis-sentinel-user: read-redis is not a sentinel: endpoint (127.0.0.1:6379)" },
	{ "read-redis: sentinel:h/m\nwrite-redis: 127.0.0.1:6379\nwrite-redis-sentinel-user: rs\nsinkhole-ipv4: 192.0.2.1\n",
	  ": write-redis-sentinel-user: write-redis is not a sentinel: endpoint (127.0.0.1:6379)" },
	{ MIN "metrics-listen: sentinel:h/m\n", ":3: metrics-listen: 'sentinel:h/m': port must be 1..65535" },
	{ MIN "read-redis-db: 70000\n", ":3: read-redis-db: 70000 is out of range 0..65535" },
	{ MIN "read-redis-user: a b\n", ":3: read-redis-user: 'a b' must be one word without spaces" },
	{ MIN "read-redis-password-file: /nonexistent/pw\n",
	  ":3: read-redis-password-file: cannot read '/nonexistent/pw': No such file or directory" },
	{ MIN "read-redis-password-file: /dev/null\n",
	  ":3: read-redis-password-file: '/dev/null' is empty: the first line must be the password" },
	{ MIN "redis-timeout: 5\n", ":3: redis-timeout: 5 is out of range 10..60000" },
	{ MIN "resolver-name: bad name!\n", ":3: resolver-name: 'bad name!' must be 1-64 letters, digits, '.', '_' or '-'" },
	{ MIN "jurisdiction: ITA\n", ":3: jurisdiction: 'ITA' is not an ISO 3166-1 alpha-2 code" },
	{ MIN "jurisdiction: 1T\n", ":3: jurisdiction: '1T' is not an ISO 3166-1 alpha-2 code" },
	{ "read-redis: a:1\nsinkhole-ipv4: 300.1.1.1\n", ":2: sinkhole-ipv4: '300.1.1.1' is not an IPv4 address" },
	{ "read-redis: a:1\nsinkhole-ipv4: 2001:db8::1\n", ":2: sinkhole-ipv4: '2001:db8::1' is not an IPv4 address" },
	{ MIN "sinkhole-ipv6: 192.0.2.1\n", ":3: sinkhole-ipv6: '192.0.2.1' is not an IPv6 address" },
	{ MIN "ede-format: xml\n", ":3: ede-format: 'xml' is not one of json, text, off" },
	{ MIN "collateral-threshold: -1\n", ":3: collateral-threshold: -1 is out of range 0..100000" },
	{ MIN "collateral-action: block\n", ":3: collateral-action: 'block' is not one of report, suspend" },
	{ MIN "contact: abuse@isp.example\n", ":3: contact: 'abuse@isp.example' is not a mailto:, tel: or https:// URI" },
	{ MIN "contact: http://isp.example\n", ":3: contact: 'http://isp.example' is not a mailto:, tel: or https:// URI" },
	{ MIN "language: english_uk\n", ":3: language: 'english_uk' is not a language tag (e.g. en, it, pt-BR)" },
	{ MIN "txt-text: \"unterminated\n", ":3: txt-text: unterminated quoted value" },
	{ MIN "txt-text: \"a\" b\n", ":3: txt-text: text after the closing quote" },
	{ MIN "txt-text:\n", ":3: txt-text: empty value" },
	{ MIN "metrics-listen: unix:/run/m.sock\n",
	  ":3: metrics-listen: 'unix:/run/m.sock': the metrics endpoint listens on TCP host:port" },
	{ MIN "stats-flush-interval: 0\n", ":3: stats-flush-interval: 0 is out of range 1..3600" },
	{ MIN "geoip-country-field: country iso\n", ":3: geoip-country-field: 'country iso' must be one word without spaces" },
	{ "sinkhole-ipv4: 192.0.2.1\n", ":1: missing required directive 'read-redis'" },
	{ "read-redis: a:1\n\n# end\n", ":3: missing required directive 'sinkhole-ipv4'" },
	{ "", ":1: missing required directive 'read-redis'" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rs_conf c;
		const char *msg = load(bad[i].text, &c);
		if (strcmp(msg, bad[i].msg) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, bad[i].msg);
		assert_null(c.path); /* nothing left allocated */
	}
}

static void test_hostile_bytes(void **state)
{
	struct rs_conf c;
	static char err[RS_CONF_ERRLEN];
	char *big = malloc(5000);

	write_file("ttl: 6\0000\n", 7);
	assert_int_equal(rs_conf_load(path, &c, err), RS_ECONF);
	assert_non_null(strstr(err, ":1: NUL byte in line"));
	memset(big, 'x', 4999);
	big[4999] = '\n';
	write_file(big, 5000);
	assert_int_equal(rs_conf_load(path, &c, err), RS_ECONF);
	assert_non_null(strstr(err, ":1: line longer than 4096 characters"));
	free(big);
	assert_int_equal(rs_conf_load("/nonexistent/redsink.conf", &c, err), RS_ECONF);
	assert_string_equal(err, "/nonexistent/redsink.conf: cannot open: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_minimal_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_inherits_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sentinel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signatures, setup, teardown),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
