/* SPDX-License-Identifier: MIT */
/*
 * `ringside -repeater -c CLIENTSPEC -s SERVERSPEC... [-p]` (WinDbg's
 * dbengprx): one native client of a session upstream, a server of that
 * session to any number of local clients downstream, so that one hop of a
 * slow or far link carries each byte once however many watch.  This part
 * sets up, runs the loop that joins the two halves (see
 * repeater_internal.h), and leads the local session's life: it starts at
 * the origin's WELCOME (with the origin's SESSION, so clients resume here
 * exactly as there), survives the upstream connection dropping, and ends
 * when the origin's session does, or, with -p, is started again for the
 * origin's next session.  Its servers are always hidden.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "src/repeater.h"
#include "src/repeater_internal.h"
#include "src/server.h"
#include "src/writer.h"

void repeater_log(struct repeater *rep, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* stderr is written only when it can take it (remote_out.c). */
	outq_put(&rep->up.err, "ringside: ", 10);
	outq_put(&rep->up.err, buf, (size_t)n);
	outq_put(&rep->up.err, "\n", 1);
}

static void session_log(void *arg, const char *line)
{
	repeater_log(arg, "%s", line);
}

/*
 * The local session's life.
 */

/* Servers are checked before anything connects: a bad spec ends the
 * repeater at once rather than at the origin's WELCOME.  Each is hidden:
 * a repeater is never listed by -QR (WinDbg's is not either). */
static int check_servers(const struct repeater_options *opt, char ***out)
{
	char **specs = calloc(opt->nservers ? opt->nservers : 1, sizeof(*specs));
	char err[512];

	if (!specs)
		return -ENOMEM;
	for (unsigned i = 0; i < opt->nservers; i++) {
		struct spec sp;
		char shown[1024];
		size_t len;

		spec_redact(opt->servers[i], shown, sizeof(shown));
		if (spec_parse(opt->servers[i], SPEC_SERVER, &sp, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringside: -s %s: %s\n", shown, err);
			goto fail;
		}
		if (sp.has_password) {
			explicit_bzero(sp.password, sizeof(sp.password));
			fprintf(stderr, "ringside: -s %s: a repeater's servers take no password: "
				"its clients are asked for the session's own, which the origin "
				"checks\n", shown);
			goto fail;
		}
		len = strlen(opt->servers[i]) + sizeof(",hidden");
		specs[i] = malloc(len);
		if (!specs[i])
			goto fail;
		/* (clicon= servers are never listed, and refuse "hidden".) */
		snprintf(specs[i], len, "%s%s", opt->servers[i],
			 sp.hidden || sp.clicon[0] ? "" : ",hidden");
	}
	*out = specs;
	return 0;
fail:
	for (unsigned i = 0; i < opt->nservers; i++)
		free(specs[i]);
	free(specs);
	return -EINVAL;
}

static void free_specs(struct repeater *rep)
{
	for (unsigned i = 0; rep->specs && i < rep->opt->nservers; i++)
		free(rep->specs[i]);
	free(rep->specs);
	rep->specs = NULL;
}

/* The session id as the logs show it. */
static void format_id(const uint8_t id[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

int repeater_session_for(struct repeater *rep, const struct proto_msg *welcome)
{
	struct ringside_callbacks cb = { .log = session_log };
	struct ringside_params params = rep->opt->params;
	struct session *s = calloc(1, sizeof(*s));
	char err[512];
	struct hub *h;
	int res;

	if (!s)
		return -ENOMEM;
	snprintf(rep->program, sizeof(rep->program), "%s",
		 welcome->has_program ? welcome->program : "");
	params.program = rep->program[0] ? rep->program : NULL;
	res = session_init(s, &params, &cb, rep, err, sizeof(err));
	/* The upstream loop waits on the session's fd: made here, once. */
	if (res == 0 && (res = session_event_fd(s)) < 0)
		snprintf(err, sizeof(err), "cannot make the local session's fd: %s", strerror(-res));
	if (res < 0) {
		repeater_log(rep, "%s", err);
		session_destroy(s);
		free(s);
		return res;
	}
	h = &s->hub;
	/* The origin's session: its clients resume here by the same id. */
	memcpy(h->id, welcome->session, sizeof(h->id));
	rep->down = s;
	rep->based = false;
	rep->ending = false;
	rep->serving = false;
	rep->mirror.end = 0;
	repeater_down_attach(rep);
	rep->gate.need_password = welcome->auth == 1;
	return 0;
}

/*
 * Clients may come once there is something for them: at once on a session
 * with a password (one of them must prove it before anything is read), else
 * once the origin has said where its transcript starts.  Always before the
 * first jump there, so that what starting a server says into the transcript
 * is never at the origin's offsets.
 */
int repeater_serve(struct repeater *rep)
{
	struct hub *h = &rep->down->hub;
	char err[512], id[33];
	const char *p;
	size_t n;
	int res;

	if (rep->serving)
		return 0;
	rep->serving = true;
	for (unsigned i = 0; i < rep->opt->nservers; i++) {
		res = server_start(h, rep->specs[i], err, sizeof(err));
		if (res < 0) {
			char shown[1024];

			spec_redact(rep->opt->servers[i], shown, sizeof(shown));
			repeater_log(rep, "-s %s: %s", shown, err);
			return res;
		}
	}
	format_id(h->id, id);
	repeater_log(rep, "repeating session %s of %s (%s); clients can connect with any of "
		     "these command lines:", id, rep->up.where,
		     rep->program[0] ? rep->program : "no program");
	for (unsigned i = 0; i < h->nservers; i++) {
		char remote[SPEC_TEXT_MAX];

		spec_format(&h->servers[i]->spec, SPEC_STYLE_REMOTE, h->host, remote,
			    sizeof(remote));
		repeater_log(rep, "%u: ringside -remote %s", h->servers[i]->id, remote);
	}
	/* What starting the servers had to say went into the transcript,
	 * which is about to become the origin's: it is the operator's. */
	for (uint64_t off = transcript_oldest(&h->tr); off < h->tr.head; off += n) {
		n = transcript_span(&h->tr, off, &p);
		outq_put(&rep->up.err, p, n);
	}
	return 0;
}

void repeater_end(struct repeater *rep, int status, int code, const char *why)
{
	struct hub *h;

	if (why)
		repeater_log(rep, "%s", why);
	if (!rep->down) {
		if (!rep->opt->persist || rep->stopping || code) {
			rep->done = true;
			rep->exit_code = code;
		}
		return;
	}
	if (rep->ending)
		return;
	rep->ending = true;
	rep->end_code = code;
	h = &rep->down->hub;
	/* The session is over: nothing is resumed into what follows, so the
	 * mirror may take a line of ours. */
	if (why)
		writer_emitf(h, "ringside: %s", why);
	session_end(rep->down, status);
}

static void cancel_down_poll(struct repeater *rep)
{
	if (rep->down_inflight)
		ring_cancel(&rep->up.ring, &rep->down_op);
}

static void on_retry(struct ring_timer *t, int res)
{
	struct repeater *rep = container_of(t, struct repeater, retry);

	if (res == -ECANCELED || rep->done || rep->stopping || !rep->up_stopped)
		return;
	rep->up_stopped = false;
	rep->up.done = false;
	rep->up.exit_code = 0;
	conn_start(&rep->up);
}

/* The local session has drained: free it, and see what comes next. */
static void down_finished(struct repeater *rep)
{
	cancel_down_poll(rep);
	/* Its clients' gate.gone frees their entries while it is destroyed. */
	session_destroy(rep->down);
	free(rep->down);
	rep->down = NULL;
	rsub_free_all(rep);
	repeater_mirror_free(&rep->mirror);
	rep->up.relay_backlog = 0;
	rep->based = rep->ending = rep->serving = false;
	if (!rep->opt->persist || rep->stopping || rep->end_code) {
		rep->done = true;
		rep->exit_code = rep->end_code;
		return;
	}
	/* -p: the next session, from scratch: the link forgets this one. */
	conn_close(&rep->up);
	repeater_up_forget(rep);
	rep->new_session = false;
	rep->up_stopped = true;
	repeater_log(rep, "waiting for the origin's next session (-p)");
	ring_timer_arm(&rep->up.ring, &rep->retry, BACKOFF_FIRST_NS, on_retry);
}

/* The upstream client finished by itself (remote_finish()). */
static void up_finished(struct repeater *rep)
{
	struct remote_link *l = &rep->up.link;

	rep->up_stopped = true;
	if (rlink_failed(l)) {
		/* A refusal is final (PROTOCOL.md 8), -p or not. */
		repeater_end(rep, 0, 1, "the origin refused the repeater; ending");
		return;
	}
	if (l->ended) {
		/* STATE = 1 came, then the rest, then the end of the stream. */
		repeater_end(rep, rep->ended_status, 0, NULL);
		return;
	}
	if (!rep->opt->persist) {
		repeater_end(rep, 0, 1, "the repeater could not reach the session; ending");
		return;
	}
	/* -p: try again, for as long as it takes; the clients stay. */
	ring_timer_arm(&rep->up.ring, &rep->retry, PERSIST_RETRY_NS, on_retry);
}

static void on_tick(struct ring_timer *t, int res)
{
	struct repeater *rep = container_of(t, struct repeater, tick);

	if (res == -ECANCELED || rep->done)
		return;
	repeater_down_tick(rep);
	ring_timer_arm(&rep->up.ring, &rep->tick, NS_PER_SEC, on_tick);
}

/*
 * Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT end the repeater once its
 * clients have been told (and had the flush time).
 */

static void stop(struct repeater *rep, int sig)
{
	char why[96];
	uint8_t bye[PROTO_HEADER_SIZE];
	struct proto_header h = { .type = PROTO_BYE };

	if (rep->stopping)
		return;
	rep->stopping = true;
	rep->stop_signal = sig;
	/* The origin is told we leave on purpose. */
	if (rlink_relaying(&rep->up.link)) {
		proto_header_encode(&h, bye);
		repeater_up_send(rep, bye, sizeof(bye));
	}
	snprintf(why, sizeof(why), "the repeater is stopping (SIG%s)", sigabbrev_np(sig));
	repeater_end(rep, 128 + sig, 0, why);
}

static void on_signal(struct ring_op *op, int res, unsigned flags)
{
	struct repeater *rep = container_of(op, struct repeater, signal_op);
	struct signalfd_siginfo si;

	rep->signal_inflight = false;
	if (res < 0)
		return;
	while (read(rep->signal_fd, &si, sizeof(si)) == sizeof(si))
		stop(rep, (int)si.ssi_signo);
	if (!rep->done && ring_poll(&rep->up.ring, &rep->signal_op, rep->signal_fd, POLLIN) == 0)
		rep->signal_inflight = true;
}

static int take_process(struct repeater *rep)
{
	struct rlimit rl;
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	/* Each client is a descriptor: as many as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	rep->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (rep->signal_fd < 0) {
		fprintf(stderr, "ringside: signalfd: %s\n", strerror(errno));
		return -errno;
	}
	rep->signal_op.cb = on_signal;
	if (ring_poll(&rep->up.ring, &rep->signal_op, rep->signal_fd, POLLIN) == 0)
		rep->signal_inflight = true;
	return 0;
}

/*
 * The loop: the upstream ring waits; the local session's eventfd is one of
 * the things it waits for, and the session gets a turn on every wake.
 */

static void on_down_ready(struct ring_op *op, int res, unsigned flags)
{
	struct repeater *rep = container_of(op, struct repeater, down_op);

	rep->down_inflight = false;
}

static void arm_down_poll(struct repeater *rep)
{
	if (!rep->down || rep->down_inflight)
		return;
	if (ring_poll(&rep->up.ring, &rep->down_op, rep->down->event_fd, POLLIN) == 0)
		rep->down_inflight = true;
}

static void run(struct repeater *rep)
{
	while (!rep->done) {
		int res;

		outq_flush(&rep->up.err, &rep->up.ring);
		conn_resume_reading(&rep->up);
		arm_down_poll(rep);
		res = ring_run_once(&rep->up.ring, 0);
		if (res < 0 && res != -EINTR) {
			repeater_log(rep, "io_uring: %s", strerror(-res));
			rep->exit_code = 1;
			break;
		}
		if (rep->new_session && !rep->up_stopped) {
			/* Another session at the origin: ours has ended.  This
			 * connection is dropped; -p connects again once ours
			 * has drained. */
			rep->up_stopped = true;
			conn_close(&rep->up);
			if (rep->down)
				repeater_end(rep, 0, 0, "the session the repeater relayed has "
					     "ended (the origin now hosts another one)");
		}
		if (rep->up.done && !rep->up_stopped)
			up_finished(rep);
		if (rep->down) {
			res = session_run_once(rep->down, 0);
			if (res != 0)
				down_finished(rep);
		}
	}
}

int ringside_repeater(const struct repeater_options *opt)
{
	struct repeater *rep = calloc(1, sizeof(*rep));
	int code;

	if (!rep)
		return 1;
	rep->opt = opt;
	rep->signal_fd = -1;
	rep->down_op.cb = on_down_ready;
	if (check_servers(opt, &rep->specs) < 0) {
		free(rep);
		return 2;
	}
	if (repeater_up_setup(rep) < 0) {
		repeater_up_free(rep);
		free_specs(rep);
		free(rep);
		return 2;
	}
	if (take_process(rep) < 0) {
		code = 1;
		goto out;
	}
	ring_timer_arm(&rep->up.ring, &rep->tick, NS_PER_SEC, on_tick);
	conn_start(&rep->up);
	run(rep);
	code = rep->exit_code;
out:
	/* The session first (its clients' ends reach the subs table), then
	 * the connection. */
	if (rep->down) {
		cancel_down_poll(rep);
		session_destroy(rep->down);
		free(rep->down);
		rep->down = NULL;
	}
	rep->done = true;
	rsub_free_all(rep);
	repeater_mirror_free(&rep->mirror);
	conn_close(&rep->up);
	outq_drain(&rep->up.err, rep->signal_fd, 1000);
	ring_exit(&rep->up.ring);
	if (rep->signal_fd >= 0)
		close(rep->signal_fd);
	repeater_up_free(rep);
	free_specs(rep);
	free(rep);
	return code;
}
