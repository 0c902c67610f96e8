/* SPDX-License-Identifier: MIT */
/*
 * Meta-commands ringside answers itself (.server, .servers, .endsrv,
 * .clients, .echo, .stats), with WinDbg's wording where WinDbg documents it.
 * Their output goes into the transcript, so every client sees it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/meta.h"
#include "src/native.h"
#include "src/nats_publish.h"
#include "src/server.h"
#include "src/spec.h"
#include "src/writer.h"

struct meta_cmd {
	const char *name;
	void (*run)(struct hub *s, const char *arg, size_t len);
};

void meta_format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%a %b %d %H:%M:%S %Y", &tm);
}

void meta_print_banner(struct hub *s)
{
	writer_emitf(s, "Server started.  Client can connect with any of these command lines");
	for (unsigned i = 0; i < s->nservers; i++) {
		const struct server *srv = s->servers[i];
		char remote[SPEC_TEXT_MAX];

		if (srv->state != SERVER_ACTIVE)
			continue;
		if (srv->spec.transport == SPEC_COM && srv->spec.raw) {
			/* No -remote for a raw line: a terminal is its client. */
			writer_emitf(s, "%u: a serial terminal (picocom, minicom, screen) at %u baud "
				     "on the other end of %s", srv->id, srv->spec.baud,
				     srv->spec.com_name);
			continue;
		}
		spec_format(&srv->spec, SPEC_STYLE_REMOTE, s->host, remote, sizeof(remote));
		writer_emitf(s, "%u: ringside -remote %s", srv->id, remote);
	}
}

static void cmd_server(struct hub *s, const char *arg, size_t len)
{
	char spec[SPEC_TEXT_MAX], err[512];

	if (len == 0) {
		writer_emitf(s, "ringside: .server: expected a spec, e.g. .server tcp:port=5006");
		return;
	}
	if (len >= sizeof(spec)) {
		writer_emitf(s, "ringside: .server: the spec is longer than %zu characters",
			      sizeof(spec) - 1);
		return;
	}
	memcpy(spec, arg, len);
	spec[len] = '\0';
	if (server_start(s, spec, err, sizeof(err)) < 0) {
		writer_emitf(s, "ringside: .server: %s", err);
		return;
	}
	meta_print_banner(s);
}

int meta_server_line(const struct hub *s, unsigned i, char *buf, size_t len)
{
	const struct server *srv = s->servers[i];
	char listing[SPEC_TEXT_MAX];

	if (srv->state == SERVER_ENDED)
		return snprintf(buf, len, "%u - <Disabled, exit pending>", srv->id);
	spec_format(&srv->spec, SPEC_STYLE_LISTING, s->host, listing, sizeof(listing));
	return snprintf(buf, len, "%u - Debugger Server - %s", srv->id, listing);
}

static void cmd_servers(struct hub *s, const char *arg, size_t len)
{
	char line[SPEC_TEXT_MAX + 64];

	if (s->fed_from)
		writer_emitf(s, "This edge is fed from %s", s->fed_from);
	if (s->nservers == 0) {
		writer_emitf(s, "No servers are running.");
		return;
	}
	for (unsigned i = 0; i < s->nservers; i++) {
		meta_server_line(s, i, line, sizeof(line));
		writer_emitf(s, "%s", line);
	}
}

static void cmd_endsrv(struct hub *s, const char *arg, size_t len)
{
	unsigned long long id = 0;
	size_t i;
	int res;

	/* Decimal only: "-1", "0x1" or an id past UINT_MAX must not end a
	 * server by accident. */
	for (i = 0; i < len && arg[i] >= '0' && arg[i] <= '9' && id <= UINT_MAX; i++)
		id = id * 10 + (unsigned)(arg[i] - '0');
	if (len == 0 || i != len || id > UINT_MAX) {
		writer_emitf(s, "ringside: .endsrv: expected a server id from .servers");
		return;
	}
	res = server_end(s, (unsigned)id);
	if (res == -ENOENT) {
		writer_emitf(s, "ringside: .endsrv: there is no server %llu (see .servers)", id);
		return;
	}
	if (res == -EALREADY) {
		writer_emitf(s, "ringside: .endsrv: server %llu has already ended", id);
		return;
	}
	writer_emitf(s, "Server told to exit.  Actual exit may be delayed until\r\n"
			 "the next connection attempt.");
}

static void cmd_clients(struct hub *s, const char *arg, size_t len)
{
	char when[64];
	unsigned n = 0;

	if (s->console) {
		meta_format_time(s->console_active ? s->console_active : s->console->connected_at,
				 when, sizeof(when));
		writer_emitf(s, "%s, last active %s (console, read-write, %llu bytes behind)",
			      s->console_ident, when,
			      (unsigned long long)(s->tr.head - s->console->cursor));
	}
	/* Oldest first: the list is kept newest first. */
	struct client *c = s->clients;

	while (c && c->next)
		c = c->next;
	for (; c; c = c->prev) {
		if (client_is_console(c) || c->state != CLIENT_LIVE)
			continue;
		/* A repeater's connection: itself and the clients behind it. */
		if (native_relay_clients(s, c)) {
			n++;
			continue;
		}
		meta_format_time(c->last_active, when, sizeof(when));
		writer_emitf(s, "%s, last active %s (%s, %s, %llu bytes behind)", CLIENT_IDENT(c), when,
			      c->native ? "native" : "raw", c->readonly ? "read-only" : "read-write",
			      (unsigned long long)(s->tr.head - c->cursor));
		n++;
	}
	/* Edges' clients, as their edges last listed them. */
	n += nats_pub_clients(s);
	if (!s->console && n == 0)
		writer_emitf(s, "No clients are connected.");
}

static void cmd_publish(struct hub *s, const char *arg, size_t len)
{
	char spec[1024], err[256];

	if (s->fed_from) {
		if (len == 0) {
			writer_emitf(s, "This edge is fed from %s", s->fed_from);
			return;
		}
		writer_emitf(s, "ringside: .publish: an edge serves a published session; it does "
			     "not publish one");
		return;
	}
	if (len == 0) {
		nats_pub_show(s);
		return;
	}
	if (len == 3 && strncasecmp(arg, "off", 3) == 0) {
		if (!s->pub) {
			writer_emitf(s, "ringside: .publish: the session is not published");
			return;
		}
		nats_pub_stop(s);
		writer_emitf(s, "ringside: publishing stopped");
		return;
	}
	if (len >= sizeof(spec)) {
		writer_emitf(s, "ringside: .publish: the spec is too long");
		return;
	}
	memcpy(spec, arg, len);
	spec[len] = '\0';
	if (nats_pub_start(s, spec, &nbridge_nats, err, sizeof(err)) < 0) {
		writer_emitf(s, "ringside: .publish: %s", err);
		return;
	}
	nats_pub_show(s);
}

static void cmd_echo(struct hub *s, const char *arg, size_t len)
{
	writer_emit(s, arg, len);
}

static void cmd_stats(struct hub *s, const char *arg, size_t len)
{
	const struct hub_stats *st = &s->stats;
	unsigned carried = 0;

	/* Walked only here: .stats is typed, not a hot path. */
	for (const struct client *c = s->clients; c; c = c->next)
		if (c->state == CLIENT_LIVE)
			carried += native_relay_carried(c);
	writer_emitf(s,
		      "ringside stats: clients=%u sends=%llu bytes_sent=%llu gaps=%llu "
		      "skipped=%llu copied=%llu private=%llu accepted=%llu refused=%llu "
		      "head=%llu ring=%zu lag_budget=%zu inflight=%u cq_overflow=%llu "
		      "behind_repeaters=%u edge_clients=%u",
		      s->nclients, (unsigned long long)st->sends,
		      (unsigned long long)st->bytes_sent, (unsigned long long)st->gaps,
		      (unsigned long long)st->skipped_bytes, (unsigned long long)st->copied,
		      (unsigned long long)st->private_bytes, (unsigned long long)st->accepted,
		      (unsigned long long)st->refused, (unsigned long long)s->tr.head, s->tr.cap,
		      s->lag_budget, s->ring.inflight,
		      (unsigned long long)s->ring.stats.cq_overflow, carried,
		      nats_pub_edge_clients(s));
}

static const struct meta_cmd commands[] = {
	{ "server", cmd_server },
	{ "servers", cmd_servers },
	{ "endsrv", cmd_endsrv },
	{ "clients", cmd_clients },
	{ "echo", cmd_echo },
	{ "stats", cmd_stats },
	{ "publish", cmd_publish },
};

/* Show who asked, like any command (the console asks anonymously), with
 * passwords masked: the transcript is replayed to everyone who joins. */
static void echo_command(struct hub *s, struct client *c, const char *line, size_t len)
{
	char text[SPEC_TEXT_MAX + 64], shown[SPEC_TEXT_MAX + 64];

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, line, len);
	text[len] = '\0';
	spec_redact(text, shown, sizeof(shown));
	if (c && !client_is_console(c))
		writer_typedf(s, "%s: %s", CLIENT_IDENT(c), shown);
	else
		writer_emit_as(s, TRANSCRIPT_TYPED, shown, strlen(shown));
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

bool meta_execute(struct hub *s, struct client *c, const char *line, size_t len)
{
	size_t i = 0, word, arg;

	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] != '.')
		return false;
	word = ++i;
	while (i < len && !is_space(line[i]))
		i++;
	arg = i;
	while (arg < len && is_space(line[arg]))
		arg++;
	while (len > arg && is_space(line[len - 1]))
		len--;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		const struct meta_cmd *m = &commands[k];

		if (strlen(m->name) != i - word || strncasecmp(m->name, line + word, i - word))
			continue;
		if (c && c->readonly) {
			/* They manage the session; a read-only client only
			 * gets here when its lines go to the host. */
			s->stats.lines_refused++;
			client_private(c, "ringside: this is a read-only connection; "
					  "commands are not accepted\r\n");
			return true;
		}
		echo_command(s, c, line, len);
		m->run(s, line + arg, len - arg);
		return true;
	}
	return false;
}
