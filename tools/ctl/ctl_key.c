/*
 * ctl_key.c — redsink-ctl key generate|show|fingerprint: an authority's
 * Ed25519 signing key (doc/signing.md). No Redis.
 *
 *  - generate --out FILE [--label L]: a new key in a new PEM PKCS#8 file
 *    (mode 0600, never overwritten), and its public key text to paste into
 *    redsink.conf as `trusted-key: LABEL ed25519:...`;
 *  - show FILE: the public key text and key id of a private key file;
 *  - fingerprint PUBKEY|FILE: the key id of a public key text
 *    ("ed25519:..."), of a file holding one (a trusted-key line is fine), of
 *    a PEM public key, or of a private key file.
 *
 * Private keys are read only from files nobody else can read (lib/sign_key.h).
 * Exit codes: a key file others can read, or an existing --out file, is
 * refused by a safety check (3); a file that is not a key is invalid input
 * (5); one that cannot be read or written is an error (1).
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ctl.h"
#include "rs_err.h"
#include "sign.h"
#include "sign_key.h"

static const char key_usage[] =
	"Usage: redsink-ctl key generate --out FILE [--label LABEL] [--json]\n"
	"       redsink-ctl key show FILE [--label LABEL] [--json]\n"
	"       redsink-ctl key fingerprint PUBKEY|FILE [--json]\n"
	"\n"
	"An authority's Ed25519 signing key (signed orders, see redsink-ctl(1), KEYS).\n"
	"\n"
	"  generate      write a new private key to FILE (PEM PKCS#8, mode 0600; an\n"
	"                existing FILE is never overwritten) and print its public key\n"
	"  show          the public key text and key id of the private key in FILE\n"
	"  fingerprint   the key id of a public key (ed25519:BASE64), of a file that\n"
	"                holds one, of a PEM public key or of a private key file\n"
	"\n"
	"  -o, --out FILE  the new key file (generate)\n"
	"  --label LABEL   the authority's label in the trusted-key line (1-64 of\n"
	"                  letters, digits, '.', '_', '-'; default: the key file's, else AUTHORITY)\n"
	"  --json          {\"key_id\": ..., \"public_key\": ..., \"label\": ...}\n"
	"\n"
	"A private key is read only from a regular file that neither group nor others\n"
	"can read (chmod 600), never from the command line.\n";

enum { O_KEY_LABEL = 500, O_KEY_JSON };

/* The exit code of a failed rs_privkey_load / write. */
static int key_exit(int rc)
{
	switch (rc) {
	case RS_EPERM:
	case RS_EEXIST:
		return CTL_EXIT_REFUSED;
	case RS_EINVAL:
		return CTL_EXIT_DATA;
	default:
		return CTL_EXIT_ERROR;
	}
}

/* The label written in a key file ("# redsink signing key: LABEL"), or "". */
static void file_label(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	char line[256];
	static const char tag[] = "# redsink signing key: ";

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, tag, sizeof(tag) - 1) == 0) {
			char *v = line + sizeof(tag) - 1;
			v[strcspn(v, "\r\n")] = '\0';
			if (rs_key_label_ok(v) && strlen(v) < n)
				memcpy(out, v, strlen(v) + 1);
			break;
		}
		if (line[0] != '#')
			break;
	}
	fclose(f);
}

static void print_key(const struct rs_pubkey *pub, const char *label, const char *file, bool json)
{
	char text[RS_PUBKEY_TEXT_LEN + 1];

	rs_pubkey_format(pub, text, sizeof(text));
	if (json) {
		printf("{\"key_id\":\"%s\",\"public_key\":\"%s\",\"label\":", pub->id, text);
		ctl_json_str(stdout, label);
		if (file) {
			printf(",\"file\":");
			ctl_json_str(stdout, file);
		}
		printf("}\n");
		return;
	}
	printf("key id:      %s\n", pub->id);
	printf("public key:  %s\n", text);
	printf("redsink.conf:\n    trusted-key: %s %s\n", label, text);
}

static int key_generate(struct ctl *x, const char *out, const char *label, bool json)
{
	struct rs_privkey *k;
	struct rs_pubkey pub;
	char err[600];
	int rc;

	if (!out)
		return ctl_usage_error(x, "--out FILE is required (the new key file)");
	if ((rc = rs_privkey_generate(&k, err, sizeof(err)))) {
		warnx("key generate: %s", err);
		return CTL_EXIT_ERROR;
	}
	if ((rc = rs_privkey_write(k, out, label, err, sizeof(err)))) {
		warnx("key generate: %s", err);
		rs_privkey_free(k);
		return key_exit(rc);
	}
	rs_privkey_public(k, &pub);
	rs_privkey_free(k);
	print_key(&pub, label ? label : "AUTHORITY", out, json);
	if (!json && !x->quiet)
		fprintf(stderr, "redsink-ctl: key generate: private key written to %s (mode 0600): keep it offline, "
				"back it up, never share it\n",
			out);
	return 0;
}

static int key_show(struct ctl *x, const char *file, const char *label, bool json)
{
	struct rs_privkey *k;
	struct rs_pubkey pub;
	char err[600], flabel[RS_KEY_LABEL_MAX + 1];
	int rc;

	if ((rc = rs_privkey_load(file, &k, err, sizeof(err)))) {
		warnx("key show: %s", err);
		return key_exit(rc);
	}
	rs_privkey_public(k, &pub);
	rs_privkey_free(k);
	file_label(file, flabel, sizeof(flabel));
	print_key(&pub, label ? label : *flabel ? flabel : "AUTHORITY", NULL, json);
	return 0;
}

/* The public key of a file: "ed25519:..." text somewhere in it (a bare key
 * or a trusted-key line), a PEM public key, or a private key file. */
static int key_of_file(const char *file, struct rs_pubkey *pub)
{
	char buf[4096], err[600], *p;
	FILE *f = fopen(file, "r");
	size_t n;
	BIO *bio;
	EVP_PKEY *pk;

	if (!f) {
		warnx("key fingerprint: %s: %s", file, strerror(errno));
		return CTL_EXIT_ERROR;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strstr(buf, "PRIVATE KEY-----")) {
		struct rs_privkey *k;
		int rc = rs_privkey_load(file, &k, err, sizeof(err));
		if (rc) {
			warnx("key fingerprint: %s", err);
			return key_exit(rc);
		}
		rs_privkey_public(k, pub);
		rs_privkey_free(k);
		return 0;
	}
	if (strstr(buf, "-----BEGIN PUBLIC KEY-----")) {
		size_t len = 32;
		bio = BIO_new_mem_buf(buf, (int)n);
		pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
		    EVP_PKEY_get_raw_public_key(pk, pub->raw, &len) != 1 || len != 32) {
			EVP_PKEY_free(pk);
			warnx("key fingerprint: %s: not a PEM Ed25519 public key", file);
			return CTL_EXIT_DATA;
		}
		EVP_PKEY_free(pk);
		memset(pub->label, 0, sizeof(pub->label));
		rs_keyid(pub->raw, pub->id);
		return 0;
	}
	if ((p = strstr(buf, "ed25519:"))) {
		p[strcspn(p, " \t\r\n#")] = '\0';
		if (rs_pubkey_parse(p, pub, err, sizeof(err))) {
			warnx("key fingerprint: %s: %s", file, err);
			return CTL_EXIT_DATA;
		}
		return 0;
	}
	warnx("key fingerprint: %s: no public key (ed25519:BASE64), PEM public key or PEM private key", file);
	return CTL_EXIT_DATA;
}

static int key_fingerprint(struct ctl *x, const char *arg, bool json)
{
	struct rs_pubkey pub;
	char err[600];
	int ex;

	if (strncmp(arg, "ed25519:", 8) == 0) {
		if (rs_pubkey_parse(arg, &pub, err, sizeof(err))) {
			warnx("key fingerprint: %s", err);
			return CTL_EXIT_DATA;
		}
	} else if ((ex = key_of_file(arg, &pub))) {
		return ex;
	}
	if (json) {
		char text[RS_PUBKEY_TEXT_LEN + 1];
		rs_pubkey_format(&pub, text, sizeof(text));
		printf("{\"key_id\":\"%s\",\"public_key\":\"%s\"}\n", pub.id, text);
	} else {
		printf("%s\n", pub.id);
	}
	return 0;
}

int cmd_key(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "label", required_argument, NULL, O_KEY_LABEL },
		{ "json", no_argument, NULL, O_KEY_JSON },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc > 1 ? argv[1] : NULL, *out = NULL, *label = NULL;
	bool json = false;
	int c, ex = 0;

	x->usage = key_usage;
	if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(key_usage, sub ? stdout : stderr);
		return sub ? 0 : CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "generate") == 0)
		x->cmd = "key generate";
	else if (strcmp(sub, "show") == 0)
		x->cmd = "key show";
	else if (strcmp(sub, "fingerprint") == 0)
		x->cmd = "key fingerprint";
	else
		return ctl_usage_error(x, "unknown subcommand 'key %.40s' (generate, show, fingerprint)", sub);
	argc--, argv++;
	while ((c = ctl_getopt(x, argc, argv, "o:", opts, &ex)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ex;
		if (c == 'o')
			out = optarg;
		else if (c == O_KEY_LABEL)
			label = optarg;
		else if (c == O_KEY_JSON)
			json = true;
	}
	if (label && !rs_key_label_ok(label))
		return ctl_usage_error(x, "--label '%.70s': 1-64 of letters, digits, '.', '_', '-'", label);
	if (strcmp(sub, "generate") == 0) {
		if (optind < argc)
			return ctl_usage_error(x, "unexpected argument '%.60s' (the file is --out FILE)", argv[optind]);
		return key_generate(x, out, label, json);
	}
	if (out)
		return ctl_usage_error(x, "--out is for key generate");
	if (argc - optind != 1)
		return ctl_usage_error(x, "expected one %s", strcmp(sub, "show") == 0 ? "FILE" : "PUBKEY or FILE");
	if (strcmp(sub, "show") == 0)
		return key_show(x, argv[optind], label, json);
	if (label)
		return ctl_usage_error(x, "--label is for key generate and key show");
	return key_fingerprint(x, argv[optind], json);
}
