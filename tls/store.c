/* SPDX-License-Identifier: MIT */
/*
 * Certificate stores as WinDbg's certuser=/machuser= name them: a file
 * stem or a SHA-1 thumbprint, looked up in ~/.config/ringside/certs/ or
 * /etc/ringside/certs/, checked for what a TLS server certificate needs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tls/tls_internal.h"

#include <wolfssl/openssl/x509v3.h>

#define TLS_MACHINE_STORE "/etc/ringside/certs/"
#define TLS_USER_STORE ".config/ringside/certs/"

int tls_store_dir(enum tls_store which, char *buf, size_t len)
{
	const char *home;
	int n;

	if (which == TLS_STORE_MACHINE) {
		n = snprintf(buf, len, "%s", TLS_MACHINE_STORE);
	} else {
		home = getenv("HOME");
		if (!home || !*home)
			return -ENOENT;
		n = snprintf(buf, len, "%s%s%s", home,
			     home[strlen(home) - 1] == '/' ? "" : "/", TLS_USER_STORE);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A thumbprint as WinDbg users paste it, e.g. "a9 09 50 2d ...". */
static bool parse_thumbprint(const char *s, uint8_t out[TLS_SHA1_LEN])
{
	return tls_unhex(s, " ", out, TLS_SHA1_LEN) == 0;
}

/* Loads PATH and fills in its hashes.  NULL if it is not a certificate. */
static WOLFSSL_X509 *load_cert(const char *path, struct tls_cert_found *f)
{
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
	const unsigned char *der;
	int len = 0;

	if (!x)
		return NULL;
	der = wolfSSL_X509_get_der(x, &len);
	if (!der || len <= 0 || tls_sha1(der, (size_t)len, f->sha1) ||
	    tls_sha256(der, (size_t)len, f->sha256)) {
		wolfSSL_X509_free(x);
		return NULL;
	}
	return x;
}

/* What a server certificate must be: current, and meant for servers. */
static int check_cert(WOLFSSL_X509 *x, const char *path, char *err, size_t errlen)
{
	if (wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notBefore(x)) >= 0) {
		tls_seterr(err, errlen, "certificate %s is not valid yet", path);
		return -EKEYEXPIRED;
	}
	if (wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notAfter(x)) <= 0) {
		tls_seterr(err, errlen, "certificate %s has expired", path);
		return -EKEYEXPIRED;
	}
	if (wolfSSL_X509_get_ext_by_NID(x, NID_ext_key_usage, -1) >= 0 &&
	    !(wolfSSL_X509_get_extended_key_usage(x) &
	      (XKU_SSL_SERVER | XKU_ANYEKU))) {
		tls_seterr(err, errlen, "certificate %s does not allow server "
			   "authentication (its extended key usage lacks serverAuth)",
			   path);
		return -EPERM;
	}
	return 0;
}

static int check_key(struct tls_cert_found *f, char *err, size_t errlen)
{
	struct stat st;

	if (stat(f->key, &st)) {
		int e = errno;

		tls_seterr(err, errlen, "private key %s for certificate %s: %s",
			   f->key, f->crt, strerror(e));
		return -e;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		snprintf(f->warning, sizeof(f->warning), "warning: private key %s "
			 "is accessible by group or others (mode %04o); it "
			 "should be mode 600", f->key, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Fills F->crt and F->key for stem STEM (NAME.crt / NAME.key) in DIR. */
static int set_paths(struct tls_cert_found *f, const char *dir, const char *slash,
		     const char *stem, size_t stemlen, bool need_key)
{
	int n = snprintf(f->crt, sizeof(f->crt), "%s%s%.*s.crt", dir, slash,
			 (int)stemlen, stem);
	int m = snprintf(f->key, sizeof(f->key), "%s%s%.*s.key", dir, slash,
			 (int)stemlen, stem);

	if (!need_key)
		f->key[0] = '\0';
	return n < 0 || m < 0 || (size_t)n >= sizeof(f->crt) ||
	       (size_t)m >= sizeof(f->key) ? -ENAMETOOLONG : 0;
}

static int finish(struct tls_cert_found *f, WOLFSSL_X509 *x, bool need_key,
		  char *err, size_t errlen)
{
	int res = check_cert(x, f->crt, err, errlen);

	wolfSSL_X509_free(x);
	if (!res && need_key)
		res = check_key(f, err, errlen);
	return res;
}

/* Every *.crt in DIR whose SHA-1 is WANT. */
static int scan_thumbprint(const char *dir, const char *slash,
			   const uint8_t want[TLS_SHA1_LEN], bool need_key,
			   struct tls_cert_found *f, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int res = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		WOLFSSL_X509 *x;

		if (len <= 4 || strcmp(de->d_name + len - 4, ".crt") ||
		    de->d_name[0] == '.')
			continue;
		if (set_paths(f, dir, slash, de->d_name, len - 4, need_key))
			continue;
		x = load_cert(f->crt, f);
		if (!x)
			continue;
		if (!memcmp(f->sha1, want, TLS_SHA1_LEN)) {
			res = finish(f, x, need_key, err, errlen);
			break;
		}
		wolfSSL_X509_free(x);
	}
	closedir(d);
	return res;
}

int tls_store_find_in(const char *dir, const char *name, bool need_key,
		      struct tls_cert_found *f, char *err, size_t errlen)
{
	const char *slash = *dir && dir[strlen(dir) - 1] == '/' ? "" : "/";
	uint8_t thumb[TLS_SHA1_LEN];
	WOLFSSL_X509 *x;
	struct stat st;
	int res;

	memset(f, 0, sizeof(*f));
	tls_seterr(err, errlen, "%s", "");
	res = tls_lib_init(err, errlen);
	if (res)
		return res;
	if (!name || !*name || strchr(name, '/') || name[0] == '.') {
		tls_seterr(err, errlen, "certificate name \"%s\" must be a file stem "
			   "in %s or a SHA-1 thumbprint", name ? name : "", dir);
		return -EINVAL;
	}
	res = set_paths(f, dir, slash, name, strlen(name), need_key);
	if (res) {
		tls_seterr(err, errlen, "certificate name \"%s\" is too long", name);
		return res;
	}
	if (!stat(f->crt, &st)) {
		x = load_cert(f->crt, f);
		if (!x) {
			tls_seterr(err, errlen, "%s is not a PEM certificate", f->crt);
			return -EBADMSG;
		}
		return finish(f, x, need_key, err, errlen);
	}
	if (parse_thumbprint(name, thumb)) {
		char crt[sizeof(f->crt)];

		snprintf(crt, sizeof(crt), "%s", f->crt);
		res = scan_thumbprint(dir, slash, thumb, need_key, f, err, errlen);
		if (res != -ENOENT || (err && *err))
			return res;
		memset(f, 0, sizeof(*f));
		tls_seterr(err, errlen, "certificate \"%s\" not found: no %s, and no "
			   "%s%s*.crt has that SHA-1 thumbprint", name, crt, dir, slash);
		return -ENOENT;
	}
	tls_seterr(err, errlen, "certificate \"%s\" not found: no %s", name, f->crt);
	memset(f, 0, sizeof(*f));
	return -ENOENT;
}

int tls_store_find(enum tls_store which, const char *name, bool need_key,
		   struct tls_cert_found *f, char *err, size_t errlen)
{
	char dir[sizeof(f->crt) - 64];
	int res = tls_store_dir(which, dir, sizeof(dir));

	if (res) {
		memset(f, 0, sizeof(*f));
		tls_seterr(err, errlen, "no %s certificate store: %s",
			   which == TLS_STORE_USER ? "user" : "machine",
			   res == -ENOENT ? "$HOME is not set" : "path too long");
		return res;
	}
	return tls_store_find_in(dir, name, need_key, f, err, errlen);
}
