/* SPDX-License-Identifier: MIT */
/*
 * -remote tcp:clicon=SERVERHOST,port=P: the client listens and the server
 * dials in (clicon.c is the other side).  Only SERVERHOST's addresses are
 * accepted; anyone else is refused and said so.  Each accepted connection
 * then goes through what a connect would (remote_conn.c), so TLS, the
 * password's proof and resuming after a drop work as they do outbound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/remote_internal.h"

/* An IPv4-mapped IPv6 address (what a dual-stack listener sees) as IPv4. */
static void unmap(struct sockaddr_storage *a)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;
	struct sockaddr_in in = { .sin_family = AF_INET };

	if (a->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	in.sin_port = in6->sin6_port;
	memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(*a));
	memcpy(a, &in, sizeof(in));
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return a->ss_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

static void show_addr(const struct sockaddr_storage *a, char *buf, size_t len)
{
	if (a->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, buf, (socklen_t)len);
	else if (a->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "?");
}

/* Every address SERVERHOST has, resolved once at start. */
static int resolve_server(struct remote *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list, *ai;
	int res;

	if (r->spec.ipversion == 6)
		hints.ai_family = AF_INET6;
	res = getaddrinfo(r->spec.clicon, NULL, &hints, &list);
	if (res != 0) {
		fprintf(stderr, "ringside: -remote: clicon=%s: %s\n", r->spec.clicon,
			gai_strerror(res));
		return -EINVAL;
	}
	r->nallowed = 0;
	for (ai = list; ai && r->nallowed < REMOTE_ALLOWED_MAX; ai = ai->ai_next) {
		struct sockaddr_storage *a = &r->allowed[r->nallowed];

		memset(a, 0, sizeof(*a));
		memcpy(a, ai->ai_addr, ai->ai_addrlen);
		unmap(a);
		r->nallowed++;
	}
	freeaddrinfo(list);
	return r->nallowed ? 0 : -EINVAL;
}

/* Listen on the first free port of the range, dual-stack where possible. */
static int listen_port(struct remote *r)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd, one = 1, v6only = r->spec.ipversion == 6, err = 0;
	bool v6 = true;
	unsigned port;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		v6 = false;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		fprintf(stderr, "ringside: -remote: socket: %s\n", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	for (port = r->spec.port_lo; port <= r->spec.port_hi; port++) {
		int res;

		in6.sin6_port = in.sin_port = htons((uint16_t)port);
		res = v6 ? bind(fd, (struct sockaddr *)&in6, sizeof(in6)) :
			   bind(fd, (struct sockaddr *)&in, sizeof(in));
		if (res == 0) {
			err = 0;
			break;
		}
		err = errno;
		/* A range takes the first free port, as a server's does. */
		if (err != EADDRINUSE && err != EACCES)
			break;
	}
	if (err) {
		if (r->spec.port_lo == r->spec.port_hi)
			fprintf(stderr, "ringside: -remote: cannot listen on port %u: %s\n",
				r->spec.port_lo, strerror(err));
		else
			fprintf(stderr, "ringside: -remote: no port of %u:%u to listen on: %s\n",
				r->spec.port_lo, r->spec.port_hi, strerror(err));
		close(fd);
		return -err;
	}
	if (listen(fd, 4) < 0) {
		err = errno;
		fprintf(stderr, "ringside: -remote: listen on port %u: %s\n", port, strerror(err));
		close(fd);
		return -err;
	}
	r->listen_fd = fd;
	r->listen_port = port;
	snprintf(r->where, sizeof(r->where), "%s (dialing in to port %u)", r->spec.clicon, port);
	return 0;
}

int rlisten_setup(struct remote *r)
{
	int res = resolve_server(r);

	return res < 0 ? res : listen_port(r);
}

int rlisten_arm(struct remote *r)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&r->ring, &r->conn.connect_op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_accept(sqe, r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	ring_sqe_set_op(sqe, &r->conn.connect_op);
	if (!r->told_waiting) {
		remote_say(r, "ringside: waiting for %s to connect to port %u", r->spec.clicon,
			   r->listen_port);
		r->told_waiting = true;
	}
	return 0;
}

bool rlisten_allowed(struct remote *r, int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	char shown[INET6_ADDRSTRLEN];

	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return false;
	unmap(&peer);
	for (unsigned i = 0; i < r->nallowed; i++)
		if (same_host(&peer, &r->allowed[i]))
			return true;
	show_addr(&peer, shown, sizeof(shown));
	remote_say(r, "ringside: refused a connection from %s: only %s may connect", shown,
		   r->spec.clicon);
	return false;
}

void rlisten_close(struct remote *r)
{
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	r->listen_fd = -1;
}
