/* SPDX-License-Identifier: MIT */
/*
 * Servers: one listening endpoint per spec, accepting with a multishot
 * accept, refusing clearly when a limit is reached, and ending on .endsrv
 * without disturbing the clients it already admitted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/client.h"
#include "src/clicon.h"
#include "src/com.h"
#include "src/discovery.h"
#include "src/hub.h"
#include "src/server.h"
#include "src/spec.h"
#include "src/writer.h"
#include "tls/tls.h"

/* Bursts of connecting clients must not find a short queue (research:
 * a backlog of 10 leaves clients half-open); the kernel caps it at somaxconn. */
#define LISTEN_BACKLOG 65535

static void arm_accept(struct server *srv);

/* The listening socket goes; a pipe's socket file goes with it (but only
 * if it is still ours: npipe_unlisten). */
static void close_listener(struct server *srv)
{
	if (srv->fd < 0)
		return;
	if (srv->link_kind == LINK_UNIX)
		npipe_unlisten(&srv->pipe);
	else
		close(srv->fd);
	srv->fd = -1;
}

static void log_refusal(struct hub *s, const char *why)
{
	time_t now = time(NULL);

	s->stats.refused++;
	/* One line per second at most, however hard clients knock. */
	if (now == s->last_refusal_log) {
		s->refusals_unlogged++;
		return;
	}
	if (s->refusals_unlogged)
		hub_log(s, "refused a connection: %s (and %u more in the last second)", why,
			    s->refusals_unlogged);
	else
		hub_log(s, "refused a connection: %s", why);
	s->last_refusal_log = now;
	s->refusals_unlogged = 0;
}

/* The last resort: one line of text, then close.  A native client reads it
 * as a reset, so this is only for when even a refusing client cannot be had. */
static void refuse_now(struct hub *s, int fd, const char *why)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "ringside: connection refused: %s\r\n", why);

	if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* Nothing more to say to a peer that cannot take one line. */
	}
	close(fd);
}

/* Tell the peer why in its own language (a REFUSE record for a native
 * client, a line for a raw one), then close without a reset. */
static void refuse(struct server *srv, int fd, const struct sockaddr_storage *peer,
		   const char *why)
{
	struct hub *s = srv->hub;

	log_refusal(s, why);
	if (srv->tls) {
		/* Telling a TLS peer anything takes a handshake, the very
		 * work a refusal is there to spare: it is only closed. */
		close(fd);
		return;
	}
	if (!peer || !client_new_refusing(s, srv, fd, peer, why))
		refuse_now(s, fd, why);
}

/* Out of descriptors: free the spare one for a moment so the waiting peer
 * is told why instead of hanging in the accept queue. */
static void refuse_without_fds(struct server *srv)
{
	struct hub *s = srv->hub;
	int fd;

	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
	}
	fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0) {
		log_refusal(s, "the server is out of file descriptors");
		refuse_now(s, fd, "the server is out of file descriptors");
	}
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void server_admit(struct server *srv, int fd)
{
	struct hub *s = srv->hub;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	bool auth_held = false;
	char why[128];

	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0) {
		close(fd);
		return;
	}
	if (s->nclients >= s->max_clients) {
		snprintf(why, sizeof(why), "the session is full (%u clients)", s->max_clients);
		refuse(srv, fd, &peer, why);
		return;
	}
	if (srv->link_kind == LINK_UNIX) {
		struct npipe_peer who;

		/* The directory keeps other users out; the peer's credentials
		 * are a second wall, and the one allow= opens. */
		if (npipe_peer(fd, &who) < 0) {
			refuse(srv, fd, &peer, "cannot tell who is connecting");
			return;
		}
		if (!npipe_allowed(&srv->allow, geteuid(), &who)) {
			npipe_refusal(srv->spec.pipe, &who, why, sizeof(why));
			refuse(srv, fd, &peer, why);
			return;
		}
	}
	if (srv->spec.has_password && client_source_wait(s, &peer, why, sizeof(why))) {
		refuse(srv, fd, &peer, why);
		return;
	}
	/* A password check or a TLS handshake costs the loop CPU: both
	 * count against -maxauth. */
	if ((srv->spec.has_password || srv->tls) &&
	    !client_claim_auth(s, srv, &peer, &auth_held, why, sizeof(why))) {
		refuse(srv, fd, &peer, why);
		return;
	}
	s->stats.accepted++;
	if (!client_new(s, srv, fd, &peer, auth_held)) {
		penalty_pending_done(&s->penalties, &peer, &auth_held);
		refuse(srv, fd, NULL, "out of memory");
	}
}

static void on_accept(struct ring_op *op, int res, unsigned flags)
{
	struct server *srv = container_of(op, struct server, accept_op);
	struct hub *s = srv->hub;

	if (!(flags & IORING_CQE_F_MORE))
		srv->accept_inflight = false;
	if (res >= 0) {
		if (srv->state == SERVER_ACTIVE && !s->draining)
			server_admit(srv, res);
		else
			close(res);
	} else if (res == -EMFILE || res == -ENFILE) {
		refuse_without_fds(srv);
	} else if (res != -ECANCELED) {
		hub_log(s, "server %u: accept: %s", srv->id, strerror(-res));
	}
	if (srv->accept_inflight)
		return;
	if (srv->state == SERVER_ACTIVE && !s->draining)
		arm_accept(srv);
	else
		close_listener(srv);
}

static void arm_accept(struct server *srv)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&srv->hub->ring, &srv->accept_op);

	if (!sqe) {
		hub_log(srv->hub, "server %u: no submission slot for accept", srv->id);
		return;
	}
	io_uring_prep_multishot_accept(sqe, srv->fd, NULL, NULL, SOCK_CLOEXEC);
	ring_sqe_set_op(sqe, &srv->accept_op);
	srv->accept_inflight = true;
}

/* Fill ADDR for the spec's bind rule; PORT is set by the caller. */
static int choose_address(const struct spec *sp, struct sockaddr_storage *addr,
			  socklen_t *len, char *err, size_t errlen)
{
	struct sockaddr_in *in = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

	memset(addr, 0, sizeof(*addr));
	if (sp->bind[0]) {
		if (inet_pton(AF_INET, sp->bind, &in->sin_addr) == 1 && sp->ipversion != 6) {
			in->sin_family = AF_INET;
			*len = sizeof(*in);
			return 0;
		}
		if (inet_pton(AF_INET6, sp->bind, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			*len = sizeof(*in6);
			return 0;
		}
		snprintf(err, errlen, "tcp: bind=%s: expected a numeric IPv%s address", sp->bind,
			 sp->ipversion == 6 ? "6" : "4 or IPv6");
		return -EINVAL;
	}
	/* Without a password (or TLS) only this machine may connect. */
	if (sp->ipversion == 6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = sp->has_password ? in6addr_any : in6addr_loopback;
		*len = sizeof(*in6);
	} else {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(sp->has_password ? INADDR_ANY : INADDR_LOOPBACK);
		*len = sizeof(*in);
	}
	return 0;
}

static int listen_tcp(struct server *srv, char *err, size_t errlen)
{
	struct spec *sp = &srv->spec;
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, one = 1, res = 0;
	unsigned port;
	const char *tname = spec_transport_name(sp->transport);

	if (choose_address(sp, &addr, &len, err, errlen) < 0)
		return -EINVAL;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		res = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return res;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A port range takes the first free port, as WinDbg does. */
	for (port = sp->port_lo; port <= sp->port_hi; port++) {
		if (addr.ss_family == AF_INET)
			((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&addr, len) == 0) {
			res = 0;
			break;
		}
		res = -errno;
		if (errno != EADDRINUSE && errno != EACCES)
			break;
	}
	if (port > sp->port_hi || res < 0) {
		if (sp->port_lo == sp->port_hi)
			snprintf(err, errlen, "%s: port=%u: %s", tname, sp->port_lo, strerror(-res));
		else if (port > sp->port_hi)
			snprintf(err, errlen, "%s: port=%u:%u: no free port in the range",
				 tname, sp->port_lo, sp->port_hi);
		else
			snprintf(err, errlen, "%s: port=%u: %s", tname, port, strerror(-res));
		close(fd);
		return res < 0 ? res : -EADDRINUSE;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		res = -errno;
		snprintf(err, errlen, "%s: listen on port %u: %s", tname, port, strerror(errno));
		close(fd);
		return res;
	}
	sp->port_lo = (uint16_t)port;
	if (addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, srv->address,
			  sizeof(srv->address));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, srv->address,
			  sizeof(srv->address));
	srv->fd = fd;
	return 0;
}

/*
 * npipe: a Unix socket in the private runtime directory (npipe.c), named
 * after the spec with %d/%x expanded; the spec then shows the actual name,
 * as a tcp spec shows the port actually bound.
 */
static int listen_pipe(struct server *srv, char *err, size_t errlen)
{
	struct spec *sp = &srv->spec;
	char dir[NPIPE_PATH_MAX + 1], name[NPIPE_NAME_MAX + 1];
	unsigned flags = NPIPE_DIR_CREATE;
	int dirfd = -1, res;

	srv->pipe.fd = srv->pipe.dirfd = -1;
	if (sp->allow[0]) {
		res = npipe_allow_parse(sp->allow, &srv->allow, err, errlen);
		if (res < 0)
			return res;
		/* Others must reach the socket: the owner opens the directory
		 * for search (chmod 711); SO_PEERCRED is the gate. */
		flags |= NPIPE_DIR_SHARED;
	}
	res = npipe_name_expand(sp->pipe, getpid(), gettid(), name, sizeof(name), err, errlen);
	if (res == 0)
		res = npipe_dir(dir, sizeof(dir), flags, &dirfd, err, errlen);
	if (res == 0)
		res = npipe_listen(dir, dirfd, name, sp->allow[0] ? NPIPE_SHARED_MODE :
					NPIPE_SOCKET_MODE, LISTEN_BACKLOG, &srv->pipe, err, errlen);
	if (dirfd >= 0)
		close(dirfd);
	if (res < 0)
		return res;
	snprintf(sp->pipe, sizeof(sp->pipe), "%s", name);
	srv->fd = srv->pipe.fd;
	return 0;
}

/*
 * ssl, spipe: the certificate named by certuser=/machuser= (a file stem or a
 * thumbprint) with its key, loaded once; every connection shares it.
 */
static int load_certificate(struct server *srv, char *err, size_t errlen)
{
	struct hub *s = srv->hub;
	const struct spec *sp = &srv->spec;
	enum tls_store store = sp->cert_store == SPEC_CERT_MACHINE ? TLS_STORE_MACHINE :
								      TLS_STORE_USER;
	const char *tname = spec_transport_name(sp->transport);
	struct tls_cert_found *found = malloc(sizeof(*found));
	char why[SPEC_TEXT_MAX];
	int res;

	if (!found) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = tls_store_find(store, sp->cert, true, found, why, sizeof(why));
	if (res == 0) {
		if (found->warning[0])
			writer_emitf(s, "ringside: %s: %s", tname, found->warning);
		res = tls_server_config_new(found->crt, found->key, &srv->tls, why, sizeof(why));
	}
	if (res < 0)
		snprintf(err, errlen, "%s: %s=%s: %s", tname,
			 sp->cert_store == SPEC_CERT_MACHINE ? "machuser" : "certuser", sp->cert, why);
	explicit_bzero(found, sizeof(*found));
	free(found);
	return res;
}

static void server_free(struct server *srv)
{
	clicon_free(srv);
	com_server_free(srv);
	if (srv->tls)
		tls_config_put(srv->tls);
	if (srv->verifier)
		explicit_bzero(srv->verifier, sizeof(*srv->verifier));
	free(srv->verifier);
	free(srv);
}

/*
 * The session's discovery record lists its active servers, except hidden
 * ones, those that dial out, and com servers: -QR answers where on this
 * machine a client can connect, and a com server is reached from the far
 * end of its cable (it has no listener: srv->fd < 0).  Rewritten whenever
 * the list changes.
 */
static void publish(struct hub *s)
{
	struct discovery_server *list = calloc(s->nservers + 1, sizeof(*list));
	char (*listing)[SPEC_TEXT_MAX] = calloc(s->nservers + 1, sizeof(*listing));
	char err[512];
	unsigned n = 0;

	if (!list || !listing) {
		free(list);
		free(listing);
		return;
	}
	for (unsigned i = 0; i < s->nservers; i++) {
		const struct server *srv = s->servers[i];

		if (srv->state != SERVER_ACTIVE || srv->spec.hidden || srv->spec.clicon[0] ||
		    srv->fd < 0)
			continue;
		spec_format(&srv->spec, SPEC_STYLE_LISTING, s->host, listing[n], sizeof(listing[n]));
		list[n].listing = listing[n];
		if (srv->link_kind == LINK_UNIX) {
			list[n].kind = DISCOVERY_UNIX;
			list[n].path = srv->pipe.path;
		} else {
			list[n].kind = DISCOVERY_TCP;
			list[n].port = srv->spec.port_lo;
		}
		n++;
	}
	if (discovery_publish(&s->discovery, s->host, list, n, err, sizeof(err)) < 0 &&
	    !s->discovery_failed) {
		s->discovery_failed = true;
		hub_log(s, "-QR will not list this session: %s", err);
	}
	free(list);
	free(listing);
}

int server_start(struct hub *s, const char *spec_text, char *err, size_t errlen)
{
	struct server *srv, **grown;
	int res;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = spec_parse(spec_text, SPEC_SERVER, &srv->spec, err, errlen);
	if (res < 0)
		goto fail;
	if (srv->spec.password_warning[0])
		writer_emitf(s, "ringside: %s", srv->spec.password_warning);
	srv->hub = s;
	srv->fd = -1;
	if (srv->spec.has_password) {
		/* Native clients prove the password without sending it: keep
		 * only a verifier (one modular exponentiation, here, once). */
		srv->verifier = malloc(sizeof(*srv->verifier));
		if (!srv->verifier || auth_verifier_make(srv->spec.password, srv->verifier) < 0) {
			snprintf(err, errlen, "cannot prepare password authentication");
			res = -ENOMEM;
			goto fail;
		}
	}
	if (srv->spec.transport == SPEC_SSL || srv->spec.transport == SPEC_SPIPE) {
		res = load_certificate(srv, err, errlen);
		if (res < 0)
			goto fail;
	}
	srv->accept_op.cb = on_accept;
	srv->link_kind = srv->spec.transport == SPEC_NPIPE || srv->spec.transport == SPEC_SPIPE ?
				 LINK_UNIX : LINK_TCP;
	if (srv->spec.transport == SPEC_COM) {
		/* No listener: its clients come over a channel of a line. */
		srv->link_kind = LINK_SERIAL;
		res = com_server_start(srv, err, errlen);
		if (res < 0)
			goto fail;
	} else if (!srv->spec.clicon[0]) {
		res = srv->link_kind == LINK_UNIX ? listen_pipe(srv, err, errlen) :
						     listen_tcp(srv, err, errlen);
		if (res < 0)
			goto fail;
	}
	grown = realloc(s->servers, (s->nservers + 1) * sizeof(*grown));
	if (!grown) {
		close_listener(srv);
		snprintf(err, errlen, "out of memory");
		res = -ENOMEM;
		goto fail;
	}
	s->servers = grown;
	srv->id = s->nservers;
	s->servers[s->nservers++] = srv;
	if (srv->spec.clicon[0]) {
		res = clicon_start(srv, err, errlen);
		if (res < 0) {
			s->nservers--;
			goto fail;
		}
		srv->client_closed = clicon_client_closed;
	} else if (srv->com) {
		com_server_run(srv);
	} else {
		arm_accept(srv);
	}
	publish(s);
	if (srv->link_kind == LINK_TCP && !srv->spec.has_password && !srv->spec.bind[0] &&
	    !srv->spec.clicon[0]) {
		char listing[SPEC_TEXT_MAX];

		spec_format(&srv->spec, SPEC_STYLE_LISTING, s->host, listing, sizeof(listing));
		writer_emitf(s, "ringside: %s accepts connections from this machine only (%s); "
			      "it has no password, add bind=ADDR to listen elsewhere",
			      listing, srv->address);
	}
	if (srv->spec.icf_enable)
		writer_emitf(s, "ringside: IcfEnable has no effect on Linux; open the port in "
			      "your firewall if clients are remote");
	return 0;
fail:
	server_free(srv);
	return res;
}

int server_end(struct hub *s, unsigned id)
{
	struct server *srv;

	if (id >= s->nservers)
		return -ENOENT;
	srv = s->servers[id];
	if (srv->state == SERVER_ENDED)
		return -EALREADY;
	srv->state = SERVER_ENDED;
	clicon_stop(srv);
	com_server_end(srv);
	if (srv->accept_inflight)
		ring_cancel(&s->ring, &srv->accept_op);
	else
		close_listener(srv);
	publish(s);
	return 0;
}

void server_close_all(struct hub *s)
{
	for (unsigned i = 0; i < s->nservers; i++)
		server_end(s, i);
	discovery_withdraw(&s->discovery);
}

void server_free_all(struct hub *s)
{
	com_free_all(s);
	for (unsigned i = 0; i < s->nservers; i++)
		server_free(s->servers[i]);
	free(s->servers);
	s->servers = NULL;
	s->nservers = 0;
}

unsigned server_active_count(const struct hub *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nservers; i++)
		n += s->servers[i]->state == SERVER_ACTIVE;
	return n;
}
