/* floor.c: the cost no fan-out server can beat on this machine.
 *
 * A bare loop: accept exactly N connections, start the producer on a pipe,
 * then for every chunk the producer writes, send that chunk to all N sockets
 * and wait until every send is done before reading the next chunk.  No
 * per-client state beyond the socket, no buffering, no slow-client policy
 * (a client that stops reading stalls everyone: the floor assumes all read).
 *
 *   --mode send   one blocking send() per client per chunk
 *   --mode uring  one io_uring SEND SQE per client per chunk (fixed files,
 *                 SINGLE_ISSUER|DEFER_TASKRUN), one submit-and-wait per chunk
 *
 *   --unix PATH   listen on a Unix socket instead of 127.0.0.1:PORT
 *   --greet       send each client a short line as soon as it is accepted
 *                 (send() or an io_uring SEND, as the mode says): the floor
 *                 of the join-storm cell, where a client counts as registered
 *                 at its first byte from the server
 *   --pty         the producer writes to a terminal (the floor reads its
 *                 master side), as a debugger hosted by a server does: what
 *                 reading a pty instead of a pipe costs, with nothing else
 *   --tls-cert C --tls-key K   (send mode only) TLS with OpenSSL: a blocking
 *                 handshake per accepted connection, then one SSL_write()
 *                 per client per chunk: every TLS server must encrypt each
 *                 chunk once per client (each session has its own keys), so
 *                 this is the TLS floor for servers using OpenSSL's AES-GCM
 *
 * Lines client 0 sends are forwarded to the producer's stdin, which is how
 * the harness says "go" (same as typing into ringside). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int nclients;
static int *fds;
static SSL **ssls;            /* per client with --tls-cert, else NULL */
static bool *dead;
static struct io_uring ring;
static unsigned rot;          /* rotating start index: nobody is always last */

static void bcast_send(const char *buf, size_t len)
{
	for (int k = 0; k < nclients; k++) {
		int i = (int)((rot + (unsigned)k) % (unsigned)nclients);
		if (dead[i])
			continue;
		if (ssls) {
			/* Blocking socket, no partial writes: all of it or an error. */
			if (SSL_write(ssls[i], buf, (int)len) <= 0) {
				ERR_clear_error();
				dead[i] = true;
			}
			continue;
		}
		size_t off = 0;
		while (off < len) {
			ssize_t r = send(fds[i], buf + off, len - off, MSG_NOSIGNAL);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				dead[i] = true;
				break;
			}
			off += (size_t)r;
		}
	}
	rot++;
}

static void bcast_uring(const char *buf, size_t len)
{
	int inflight = 0;
	for (int k = 0; k < nclients; k++) {
		int i = (int)((rot + (unsigned)k) % (unsigned)nclients);
		if (dead[i])
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (!sqe) {
			io_uring_submit(&ring);
			sqe = io_uring_get_sqe(&ring);
		}
		/* MSG_WAITALL: the kernel retries short sends of a stream socket
		 * itself, so one CQE means the whole chunk went out (or an error). */
		io_uring_prep_send(sqe, i, buf, len, MSG_NOSIGNAL | MSG_WAITALL);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, ((uint64_t)(unsigned)i << 32));
		inflight++;
	}
	rot++;
	while (inflight > 0) {
		int r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR) {
			errno = -r;
			die("io_uring_submit_and_wait");
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int i = (int)(ud >> 32);
			uint32_t done = (uint32_t)ud;
			if (cqe->res < 0) {
				dead[i] = true;
				inflight--;
				continue;
			}
			done += (uint32_t)cqe->res;
			if (done < len) { /* should not happen with WAITALL; resubmit the rest */
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				if (!sqe) {
					io_uring_submit(&ring);
					sqe = io_uring_get_sqe(&ring);
				}
				io_uring_prep_send(sqe, i, buf + done, len - done, MSG_NOSIGNAL | MSG_WAITALL);
				sqe->flags |= IOSQE_FIXED_FILE;
				io_uring_sqe_set_data64(sqe, ((uint64_t)(unsigned)i << 32) | done);
				continue;
			}
			inflight--;
		}
		io_uring_cq_advance(&ring, seen);
	}
}

static pid_t child;

#define GREETING "floor: hello\n"

/* The greeting of a just-accepted client: blocking send(), or one io_uring
 * SEND (waited for at once: a storm's accepts are the floor's only work). */
static void greet(int fd, bool uring)
{
	if (!uring) {
		if (send(fd, GREETING, sizeof GREETING - 1, MSG_NOSIGNAL) < 0)
			die("send greeting");
		return;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, fd, GREETING, sizeof GREETING - 1, MSG_NOSIGNAL | MSG_WAITALL);
	int r = io_uring_submit_and_wait(&ring, 1);
	struct io_uring_cqe *cqe;
	if (r < 0 || io_uring_peek_cqe(&ring, &cqe)) {
		errno = r < 0 ? -r : EIO;
		die("io_uring greeting");
	}
	io_uring_cqe_seen(&ring, cqe);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, 0, 'p'},
		{"clients", required_argument, 0, 'n'},
		{"mode", required_argument, 0, 'm'},
		{"cpu", required_argument, 0, 'c'},
		{"unix", required_argument, 0, 'u'},
		{"tls-cert", required_argument, 0, 'C'},
		{"tls-key", required_argument, 0, 'K'},
		{"greet", no_argument, 0, 'g'},
		{"pty", no_argument, 0, 'P'},
		{0, 0, 0, 0},
	};
	int port = 0, cpu = -1, c;
	bool greeting = false, pty = false;
	const char *mode = "send", *upath = NULL, *cert = NULL, *key = NULL;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'n': nclients = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'c': cpu = atoi(optarg); break;
		case 'u': upath = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'g': greeting = true; break;
		case 'P': pty = true; break;
		default: goto usage;
		}
	}
	bool uring = !strcmp(mode, "uring");
	if ((port <= 0) == !upath || nclients <= 0 || optind >= argc || (!uring && strcmp(mode, "send")) ||
	    !cert != !key || (cert && uring) || (cert && greeting)) {
usage:
		fprintf(stderr, "usage: floor {--port P|--unix PATH} --clients N [--mode send|uring] [--cpu C] [--greet] [--pty]\n"
				"             [--tls-cert CRT --tls-key KEY (send mode)] -- PRODUCER ARGS...\n");
		return 2;
	}
	SSL_CTX *tls = NULL;
	if (cert) {
		tls = SSL_CTX_new(TLS_server_method());
		if (!tls || !SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) ||
		    SSL_CTX_use_certificate_chain_file(tls, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(tls) != 1) {
			fprintf(stderr, "floor: cannot use %s / %s:\n", cert, key);
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_options(tls, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
		SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_OFF);
	}
	signal(SIGPIPE, SIG_IGN);
	exit_on_term(&child);
	if (pin_cpu(cpu))
		die("sched_setaffinity");
	if (raise_nofile() < nclients + 16) {
		fprintf(stderr, "floor: RLIMIT_NOFILE too small for %d clients\n", nclients);
		return 1;
	}
	/* The ring exists before we listen, so the harness's baseline RSS
	 * includes it and "RSS per client" is not charged with it. */
	if (uring) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
		p.cq_entries = 32768;
		int r = io_uring_queue_init_params(4096, &ring, &p);
		if (r < 0) {
			errno = -r;
			die("io_uring_queue_init");
		}
	}
	int lfd = upath ? listen_unix(upath, 4096) : listen_tcp(port, 4096);
	if (lfd < 0)
		die("listen");
	fds = calloc((size_t)nclients, sizeof *fds);
	dead = calloc((size_t)nclients, sizeof *dead);
	if (tls)
		ssls = calloc((size_t)nclients, sizeof *ssls);
	for (int i = 0; i < nclients; i++) {
		fds[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fds[i] < 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			die("accept");
		}
		int one = 1;
		if (!upath)
			setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (tls) {
			/* The harness retries a failed handshake: that
			 * connection does not count. */
			ssls[i] = SSL_new(tls);
			if (!ssls[i] || !SSL_set_fd(ssls[i], fds[i]) || SSL_accept(ssls[i]) != 1) {
				ERR_clear_error();
				SSL_free(ssls[i]);
				close(fds[i]);
				i--;
				continue;
			}
		}
		if (greeting)
			greet(fds[i], uring);
	}
	close(lfd);
	if (upath)
		unlink(upath);

	if (uring) {
		int r = io_uring_register_files(&ring, fds, (unsigned)nclients);
		if (r < 0) {
			errno = -r;
			die("io_uring_register_files");
		}
	}

	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC))
		die("pipe");
	if (pty) {
		/* out[0] the master, out[1] the terminal the producer writes to. */
		if (openpty(&out[0], &out[1], NULL, NULL, NULL) < 0)
			die("openpty");
		fcntl(out[0], F_SETFD, FD_CLOEXEC);
		fcntl(out[1], F_SETFD, FD_CLOEXEC);
	} else if (pipe2(out, O_CLOEXEC)) {
		die("pipe");
	}
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execvp(argv[optind], &argv[optind]);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);

	size_t cap = 1u << 20;
	char *buf = malloc(cap), cbuf[4096];
	struct pollfd pf[2] = {{.fd = out[0], .events = POLLIN}, {.fd = fds[0], .events = POLLIN}};
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pf[1].revents) {
			ssize_t k;
			if (ssls) {
				/* Readable: a whole record is on its way (the harness
				 * writes a line as one record); the blocking read is brief. */
				k = SSL_read(ssls[0], cbuf, sizeof cbuf);
				if (k <= 0) {
					ERR_clear_error();
					k = 0;
				}
			} else {
				k = recv(fds[0], cbuf, sizeof cbuf, MSG_DONTWAIT);
			}
			if (k > 0)
				write_all(in[1], cbuf, (size_t)k);
			else if (k == 0 || (errno != EAGAIN && errno != EINTR))
				pf[1].fd = -1; /* control client gone: keep serving the rest */
		}
		if (pf[0].revents) {
			ssize_t k = read(out[0], buf, cap);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break; /* producer exited (a pty says EIO) */
			if (uring)
				bcast_uring(buf, (size_t)k);
			else
				bcast_send(buf, (size_t)k);
		}
	}
	int st = 0;
	waitpid(child, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
