/* SPDX-License-Identifier: MIT */
/*
 * libringside's public API (include/ringside.h): argument checks and the
 * mapping onto the session.  Only what is declared there is exported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/ringside.h"
#include "src/meta.h"
#include "src/nats_publish.h"
#include "src/session.h"
#include "src/server.h"
#include "src/writer.h"

#define API __attribute__((visibility("default")))

struct ringside {
	struct session s;
};

/* ERR may be NULL: messages then go to a scratch buffer. */
#define ERRBUF(err, errlen, scratch) \
	do { \
		if (!(err) || !(errlen)) { \
			(err) = (scratch); \
			(errlen) = sizeof(scratch); \
		} \
		(err)[0] = '\0'; \
	} while (0)

API const char *ringside_version(void)
{
	return RINGSIDE_VERSION;
}

API void ringside_params_init(struct ringside_params *p)
{
	memset(p, 0, sizeof(*p));
	p->ring_bytes = 8u << 20;
	p->history_bytes = 64u << 10;
	p->max_auth = 128;
	p->line_max = 4096;
	p->peer_timeout_s = 60;
	p->flush_ms = 2000;
	p->notice_ms = 100;
}

API int ringside_new(struct ringside **out, const struct ringside_params *params,
		     const struct ringside_callbacks *cb, void *arg, char *err, size_t errlen)
{
	struct ringside_params defaults;
	struct ringside *r;
	char scratch[256];
	int res;

	ERRBUF(err, errlen, scratch);
	if (!params) {
		ringside_params_init(&defaults);
		params = &defaults;
	}
	if (!out) {
		snprintf(err, errlen, "no place for the session");
		return -EINVAL;
	}
	*out = NULL;
	r = malloc(sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = session_init(&r->s, params, cb, arg, err, errlen);
	if (res < 0) {
		session_destroy(&r->s);
		free(r);
		return res;
	}
	*out = r;
	return 0;
}

API int ringside_spawn(struct ringside *r, char *const argv[], char *err, size_t errlen)
{
	char scratch[256];

	ERRBUF(err, errlen, scratch);
	session_poke(&r->s);
	return session_spawn(&r->s, argv, err, errlen);
}

API int ringside_console(struct ringside *r, int in_fd, int out_fd, char *err, size_t errlen)
{
	char scratch[256];

	ERRBUF(err, errlen, scratch);
	session_poke(&r->s);
	return session_console(&r->s, in_fd, out_fd, err, errlen);
}

API int ringside_server_start(struct ringside *r, const char *spec, unsigned *id, char *err,
			      size_t errlen)
{
	char scratch[512];

	ERRBUF(err, errlen, scratch);
	if (!spec) {
		snprintf(err, errlen, "no spec");
		return -EINVAL;
	}
	session_poke(&r->s);
	return session_server_start(&r->s, spec, id, err, errlen);
}

API int ringside_server_end(struct ringside *r, unsigned id)
{
	session_poke(&r->s);
	return server_end(&r->s.hub, id);
}

API int ringside_servers(struct ringside *r, char *buf, size_t len)
{
	const struct hub *h = &r->s.hub;
	size_t total = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < h->nservers; i++) {
		size_t room = total < len ? len - total : 0;
		int n = meta_server_line(h, i, room ? buf + total : NULL, room);

		if (n < 0)
			return -EINVAL;
		total += (size_t)n;
		if (total + 1 < len) {
			buf[total] = '\n';
			buf[total + 1] = '\0';
		} else if (len) {
			buf[len - 1] = '\0';
		}
		total++;
	}
	return (int)total;
}

API ssize_t ringside_write(struct ringside *r, const void *buf, size_t n)
{
	if (r->s.hub.draining)
		return -EPIPE;
	if (r->s.prog.pid > 0)
		return -EBUSY;
	session_poke(&r->s);
	return writer_output(&r->s.hub, buf, n);
}

API int ringside_publish(struct ringside *r, const char *spec, char *err, size_t errlen)
{
	char scratch[256];

	ERRBUF(err, errlen, scratch);
	if (!spec) {
		snprintf(err, errlen, "no spec");
		return -EINVAL;
	}
	session_poke(&r->s);
	return nats_pub_start(&r->s.hub, spec, &nbridge_nats, err, errlen);
}

API void ringside_end(struct ringside *r, int status)
{
	session_poke(&r->s);
	session_end(&r->s, status);
}

API int ringside_take_process(struct ringside *r, unsigned what, char *err, size_t errlen)
{
	char scratch[256];
	unsigned known = RINGSIDE_PROCESS_SIGNALS | RINGSIDE_PROCESS_SIGPIPE |
			 RINGSIDE_PROCESS_NOFILE;

	ERRBUF(err, errlen, scratch);
	if (what & ~known) {
		snprintf(err, errlen, "unknown process set-up 0x%x", what & ~known);
		return -EINVAL;
	}
	return session_take_process(&r->s, what, err, errlen);
}

API int ringside_fd(struct ringside *r)
{
	return session_event_fd(&r->s);
}

API int ringside_run_once(struct ringside *r, int timeout_ms)
{
	return session_run_once(&r->s, timeout_ms);
}

API int ringside_run(struct ringside *r)
{
	int res = session_run(&r->s);

	return res < 0 ? res : r->s.exit_status;
}

API void ringside_destroy(struct ringside *r)
{
	if (!r)
		return;
	session_destroy(&r->s);
	free(r);
}
