/*
 * sign_key.c — Ed25519 private keys for the tools: generation, the PEM
 * PKCS#8 key file (written new with mode 0600, loaded only when nobody else
 * can read it) and signing. See sign_key.h; the module never links this.
 */
#include "sign_key.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "rs_err.h"

#define KEYFILE_MAX 16384 /* a PEM Ed25519 key is ~120 octets; comments included */

struct rs_privkey {
	EVP_PKEY *pk;
};

static int wrap(EVP_PKEY *pk, struct rs_privkey **out)
{
	struct rs_privkey *k;

	if (!pk)
		return RS_ENOMEM;
	if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		return RS_EINVAL;
	}
	if (!(k = calloc(1, sizeof(*k)))) {
		EVP_PKEY_free(pk);
		return RS_ENOMEM;
	}
	k->pk = pk;
	*out = k;
	return 0;
}

int rs_privkey_generate(struct rs_privkey **out, char *err, size_t errlen)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	*out = NULL;
	if (!pk) {
		snprintf(err, errlen, "cannot generate an Ed25519 key (libcrypto failed)");
		return RS_ENOMEM;
	}
	return wrap(pk, out);
}

int rs_privkey_from_seed(const uint8_t seed[32], struct rs_privkey **out)
{
	*out = NULL;
	return wrap(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32), out);
}

void rs_privkey_free(struct rs_privkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pk); /* OpenSSL clears the key material it frees */
	free(k);
}

void rs_privkey_public(const struct rs_privkey *k, struct rs_pubkey *pub)
{
	size_t n = 32;

	memset(pub, 0, sizeof(*pub));
	if (EVP_PKEY_get_raw_public_key(k->pk, pub->raw, &n) != 1 || n != 32)
		memset(pub->raw, 0, sizeof(pub->raw));
	rs_keyid(pub->raw, pub->id);
}

int rs_sign(const struct rs_privkey *k, const void *msg, size_t len, char out_b64[RS_SIG_B64_LEN + 1])
{
	uint8_t sig[64];
	size_t n = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	out_b64[0] = '\0';
	if (!msg)
		msg = "";
	if (ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) == 1)
		ok = EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == sizeof(sig);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return RS_ENOMEM;
	rs_b64_encode(sig, sizeof(sig), out_b64);
	return 0;
}

int rs_privkey_write(const struct rs_privkey *k, const char *path, const char *label, char *err, size_t errlen)
{
	BIO *mem = NULL;
	char *pem = NULL, head[256];
	long pemlen;
	struct rs_pubkey pub;
	int fd = -1, rc = RS_EIO;
	size_t hn = 0;
	struct stat mine;
	bool created = false;

	if (label && !rs_key_label_ok(label)) {
		snprintf(err, errlen, "label '%.70s': 1-64 of letters, digits, '.', '_', '-'", label);
		return RS_EINVAL;
	}
	rs_privkey_public(k, &pub);
	if (label)
		hn = (size_t)snprintf(head, sizeof(head), "# redsink signing key: %s\n# key id: %s\n", label, pub.id);
	else
		hn = (size_t)snprintf(head, sizeof(head), "# redsink signing key\n# key id: %s\n", pub.id);
	mem = BIO_new(BIO_s_mem());
	if (!mem || PEM_write_bio_PrivateKey(mem, k->pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pemlen = BIO_get_mem_data(mem, &pem)) <= 0) {
		snprintf(err, errlen, "cannot encode the key (libcrypto failed)");
		BIO_free(mem);
		return RS_ENOMEM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e), e == EEXIST ? " (a key file is never overwritten)" : "");
		BIO_free_all(mem);
		return e == EEXIST ? RS_EEXIST : RS_EIO;
	}
	created = fstat(fd, &mine) == 0; /* what a failure may remove: this file only */
	/* the umask may have taken bits away, never added: make it exactly 0600 */
	if (!created || fchmod(fd, 0600) != 0 || write(fd, head, hn) != (ssize_t)hn ||
	    write(fd, pem, (size_t)pemlen) != (ssize_t)pemlen || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	rc = 0;
out:
	if (rc) { /* remove what we created, never a file swapped in at path meanwhile */
		struct stat b;
		if (created && lstat(path, &b) == 0 && b.st_dev == mine.st_dev && b.st_ino == mine.st_ino)
			unlink(path);
	}
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(pem, (size_t)pemlen);
	BIO_free_all(mem);
	return rc;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* no passphrase: decryption fails */
}

int rs_privkey_load(const char *path, struct rs_privkey **out, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	BIO *bio;
	EVP_PKEY *pk;
	ssize_t r;
	size_t n = 0;
	int fd, rc;
	bool encrypted;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			snprintf(err, errlen, "signing key %s is a symbolic link: refused (give the file itself)", path);
			return RS_EPERM;
		}
		snprintf(err, errlen, "signing key %s: %s", path, strerror(errno));
		return RS_EIO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "signing key %s: %s", path, strerror(errno));
		close(fd);
		return RS_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "signing key %s is not a regular file: refused", path);
		close(fd);
		return RS_EPERM;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "signing key %s belongs to another user (uid %u): refused (a key file is the "
			 "signer's own)", path, (unsigned)st.st_uid);
		close(fd);
		return RS_EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "signing key %s can be read by other users: refused (chmod 600 %s)", path, path);
		close(fd);
		return RS_EPERM;
	}
	if (st.st_size > KEYFILE_MAX) {
		snprintf(err, errlen, "signing key %s: not a PEM Ed25519 private key (PKCS#8)", path);
		close(fd);
		return RS_EINVAL;
	}
	if (!(buf = malloc(KEYFILE_MAX + 1))) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return RS_ENOMEM;
	}
	while (n < KEYFILE_MAX && (r = read(fd, buf + n, KEYFILE_MAX - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "signing key %s: %s", path, strerror(errno));
			OPENSSL_cleanse(buf, n);
			free(buf);
			close(fd);
			return RS_EIO;
		}
		n += (size_t)r;
	}
	close(fd);
	rc = RS_EINVAL;
	bio = BIO_new_mem_buf(buf, (int)n);
	/* a callback giving no passphrase: an encrypted key is refused (even one encrypted
	 * with an empty passphrase), never prompted for */
	pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	buf[n] = '\0';
	encrypted = !pk && strstr(buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL;
	OPENSSL_cleanse(buf, n);
	free(buf);
	if (pk && (rc = wrap(pk, out)) == 0)
		return 0;
	ERR_clear_error();
	if (encrypted)
		snprintf(err, errlen, "signing key %s is encrypted: refused (redsink-ctl reads unencrypted PKCS#8 "
			 "keys only, protected by the file's mode 600)", path);
	else
		snprintf(err, errlen, "signing key %s: not a PEM Ed25519 private key (PKCS#8)", path);
	return rc == RS_ENOMEM ? RS_ENOMEM : RS_EINVAL;
}

/* ---- trusted keys from a file ---- */

/* A value as redsink.conf has it: trimmed, a comment cut, double quotes removed. */
static char *conf_value(char *v)
{
	char *end;

	v += strspn(v, " \t");
	if (*v == '"') {
		end = strchr(v + 1, '"');
		if (end)
			*end = '\0';
		return v + 1;
	}
	end = strchr(v, '#');
	if (end)
		*end = '\0';
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return v;
}

/* Add k (roles set) to keys: a key given again under the same label with another role gains it. */
static int trust_add(struct rs_pubkey **keys, size_t *n, const struct rs_pubkey *k, char *err, size_t errlen)
{
	struct rs_pubkey *nv;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*keys)[i].id, k->id) == 0) {
			if (!((*keys)[i].roles & k->roles) && strcmp((*keys)[i].label, k->label) == 0) {
				(*keys)[i].roles |= k->roles;
				return 0;
			}
			snprintf(err, errlen, "key %s is given twice", k->id);
			return RS_EINVAL;
		}
	nv = realloc(*keys, (*n + 1) * sizeof(*nv));
	if (!nv) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	*keys = nv;
	nv[(*n)++] = *k;
	return 0;
}

int rs_trust_file_load(const char *path, struct rs_pubkey **keys, size_t *nkeys, char (**revoked)[RS_KEYID_LEN + 1],
		       size_t *nrevoked, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4200], why[300];
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return RS_EIO;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t"), *v;
		lineno++;
		if (strncmp(p, "trusted-key:", 12) == 0 || strncmp(p, "protect-key:", 12) == 0) {
			uint8_t role = p[0] == 't' ? RS_KEY_ORDERS : RS_KEY_PROTECT;
			const char *dir = role == RS_KEY_ORDERS ? "trusted-key" : "protect-key";
			struct rs_pubkey k;
			size_t n;
			char *key;
			v = conf_value(p + 12);
			n = strcspn(v, " \t");
			key = v + n;
			key += strspn(key, " \t");
			v[n] = '\0';
			if (!rs_key_label_ok(v) || !*key) {
				snprintf(err, errlen, "%s:%u: %s: expected 'LABEL ed25519:BASE64'", path, lineno, dir);
				rc = RS_EINVAL;
			} else if (rs_pubkey_parse(key, &k, why, sizeof(why))) {
				snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, dir, why);
				rc = RS_EINVAL;
			} else {
				snprintf(k.label, sizeof(k.label), "%s", v);
				k.roles = role;
				rc = trust_add(keys, nkeys, &k, why, sizeof(why));
				if (rc)
					snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, dir, why);
			}
		} else if (strncmp(p, "revoked-key:", 12) == 0) {
			void *nv;
			v = conf_value(p + 12);
			if (!rs_keyid_ok(v)) {
				snprintf(err, errlen, "%s:%u: revoked-key: '%.40s' is not a key id (16 lowercase hex digits)",
					 path, lineno, v);
				rc = RS_EINVAL;
			} else if (!(nv = realloc(*revoked, (*nrevoked + 1) * sizeof(**revoked)))) {
				snprintf(err, errlen, "out of memory");
				rc = RS_ENOMEM;
			} else {
				*revoked = nv;
				snprintf((*revoked)[(*nrevoked)++], RS_KEYID_LEN + 1, "%s", v);
			}
		}
	}
	fclose(f);
	return rc;
}
