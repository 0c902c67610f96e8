/* SPDX-License-Identifier: MIT */
/*
 * Trust on first use for clients without a shared certificate:
 * ~/.config/ringside/known_servers, ssh's known_hosts idea with the
 * SHA-256 fingerprint of the server certificate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/tls_internal.h"

#define TLS_KNOWN_FILE ".config/ringside/known_servers"
#define FP_PREFIX "sha256:"

void tls_fp_format(const uint8_t sha256[TLS_SHA256_LEN], char out[TLS_FP_STR_LEN])
{
	memcpy(out, FP_PREFIX, 7);
	tls_hex(sha256, TLS_SHA256_LEN, out + 7);
}

int tls_fp_parse(const char *s, uint8_t out[TLS_SHA256_LEN])
{
	if (!strncasecmp(s, FP_PREFIX, 7))
		s += 7;
	return tls_unhex(s, ": ", out, TLS_SHA256_LEN);
}

int tls_known_path(char *buf, size_t len)
{
	const char *home = getenv("HOME");
	int n;

	if (!home || !*home)
		return -ENOENT;
	n = snprintf(buf, len, "%s/%s", home, TLS_KNOWN_FILE);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool host_ok(const char *h)
{
	if (!h || !*h)
		return false;
	for (; *h; h++)
		if ((unsigned char)*h <= ' ' || *h == 0x7f)
			return false;
	return true;
}

int tls_known_check(const char *path, const char *host_port,
		    const uint8_t sha256[TLS_SHA256_LEN], struct tls_known_result *res)
{
	char line[512];
	unsigned lineno = 0;
	bool changed = false;
	FILE *f;

	memset(res, 0, sizeof(*res));
	res->state = TLS_KNOWN_UNKNOWN;
	if (!host_ok(host_port))
		return -EINVAL;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		char host[256], fp[160];
		uint8_t got[TLS_SHA256_LEN];

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			/* An overlong line: skip the rest of it. */
			int ch;

			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (line[0] == '#' ||
		    sscanf(line, "%255s %159s", host, fp) != 2 ||
		    strncmp(fp, FP_PREFIX, 7) || tls_fp_parse(fp, got) ||
		    strcasecmp(host, host_port))
			continue;
		if (!memcmp(got, sha256, TLS_SHA256_LEN)) {
			res->state = TLS_KNOWN_MATCH;
			res->line = lineno;
			fclose(f);
			return 0;
		}
		if (!changed) {
			changed = true;
			memcpy(res->old_sha256, got, TLS_SHA256_LEN);
			res->line = lineno;
		}
	}
	fclose(f);
	if (changed)
		res->state = TLS_KNOWN_CHANGED;
	return 0;
}

/* Creates each missing directory on the way to PATH's directory, 0700. */
static int make_parents(const char *path)
{
	char dir[4096];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int copy_fd(int from, int to)
{
	char buf[8192];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(to, buf + done, (size_t)(n - done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
	}
	return 0;
}

int tls_known_add(const char *path, const char *host_port,
		  const uint8_t sha256[TLS_SHA256_LEN])
{
	char tmp[4096 + 16], line[600], fp[TLS_FP_STR_LEN];
	int fd, old, res, n;

	if (!host_ok(host_port) || strlen(host_port) > 255)
		return -EINVAL;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	res = make_parents(path);
	if (res)
		return res;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	/* mkstemp already makes 0600; say it anyway, the umask never widens it. */
	res = fchmod(fd, 0600) ? -errno : 0;
	old = open(path, O_RDONLY | O_CLOEXEC);
	if (!res && old >= 0) {
		res = copy_fd(old, fd);
		/* A last line without '\n' must not swallow ours. */
		if (!res) {
			char last;
			off_t end = lseek(old, 0, SEEK_END);

			if (end > 0 && pread(old, &last, 1, end - 1) == 1 && last != '\n')
				res = write(fd, "\n", 1) == 1 ? 0 : -EIO;
		}
	} else if (!res && errno != ENOENT) {
		res = -errno;
	}
	if (old >= 0)
		close(old);
	if (!res) {
		tls_fp_format(sha256, fp);
		n = snprintf(line, sizeof(line), "%s %s\n", host_port, fp);
		res = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	}
	if (!res && fsync(fd))
		res = -errno;
	if (close(fd) && !res)
		res = -errno;
	if (!res && rename(tmp, path))
		res = -errno;
	if (res)
		unlink(tmp);
	return res;
}
