/* SPDX-License-Identifier: MIT */
/*
 * The ringside command: parse the command line, blank the passwords in it,
 * then join a session (-remote), relay one (-repeater), serve a published one
 * from NATS (-edge), or host one (and maybe publish it) through
 * libringside's public API, asking it for what only a whole process may do:
 * signals, SIGPIPE, the open-file limit, and the terminal on fds 0 and 1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/ringside.h"
#include "src/config.h"
#include "src/discovery.h"
#include "src/nats_edge.h"
#include "src/remote.h"
#include "src/repeater.h"

static void log_line(void *arg, const char *line)
{
	fprintf(stderr, "ringside: %s\n", line);
}

/* The console gets its own open file descriptions, so making them
 * non-blocking does not change the terminal or pipe for the parent shell. */
static int reopen_std(int fd, int flags)
{
	struct stat st;
	char path[32];
	int nfd;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return fcntl(fd, F_DUPFD_CLOEXEC, 3);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd < 0)
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return nfd;
}

static int start(struct ringside *s, const struct config *cfg)
{
	char err[512];
	int res;

	res = ringside_take_process(s, RINGSIDE_PROCESS_SIGNALS | RINGSIDE_PROCESS_SIGPIPE |
				       RINGSIDE_PROCESS_NOFILE, err, sizeof(err));
	if (res < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		return res;
	}
	/* Servers first: a bad spec stops everything before the program runs. */
	for (unsigned i = 0; i < cfg->nservers; i++) {
		res = ringside_server_start(s, cfg->servers[i], NULL, err, sizeof(err));
		if (res < 0) {
			char shown[1024];

			config_redact_spec(cfg->servers[i], shown, sizeof(shown));
			fprintf(stderr, "ringside: -server %s: %s\n", shown, err);
			return res;
		}
	}
	res = ringside_spawn(s, cfg->argv, err, sizeof(err));
	if (res < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		return res;
	}
	if (cfg->publish) {
		res = ringside_publish(s, cfg->publish, err, sizeof(err));
		if (res < 0) {
			fprintf(stderr, "ringside: -publish: %s\n", err);
			return res;
		}
	}
	if (!cfg->noio) {
		int in = reopen_std(0, O_RDONLY), out = reopen_std(1, O_WRONLY);

		if (in < 0 || out < 0 || ringside_console(s, in, out, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringside: no usable stdin/stdout for the console; use -noio\n");
			if (in >= 0)
				close(in);
			if (out >= 0)
				close(out);
			return -1;
		}
	}
	return 0;
}

/* The session's limits, from the options. */
static void params_of(const struct config *cfg, struct ringside_params *p)
{
	ringside_params_init(p);
	p->ring_bytes = cfg->ring_bytes;
	p->history_bytes = cfg->history_bytes;
	p->history_lines = cfg->clines;
	p->lag_bytes = cfg->lag_bytes;
	p->max_clients = cfg->max_clients;
	p->max_auth = cfg->max_auth;
	p->line_max = cfg->line_max;
	p->peer_timeout_s = cfg->peer_timeout_s;
	p->flush_ms = cfg->flush_ms;
	p->notice_ms = cfg->notice_ms;
}

static int host(const struct config *cfg)
{
	struct ringside_callbacks cb = { .log = log_line };
	struct ringside_params p;
	struct ringside *s;
	char err[512];
	int res;

	params_of(cfg, &p);
	res = ringside_new(&s, &p, &cb, NULL, err, sizeof(err));
	if (res < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		return 1;
	}
	res = start(s, cfg);
	if (res == 0)
		res = ringside_run(s);
	ringside_destroy(s);
	return res < 0 ? 1 : res;
}

static int run(const struct config *cfg)
{
	if (cfg->help) {
		config_usage(stdout, "ringside");
		return 0;
	}
	if (cfg->version) {
		printf("ringside %s\n", ringside_version());
		return 0;
	}
	if (cfg->remote) {
		struct remote_options opt = { .quiet_ms = cfg->quiet_ms };

		return ringside_remote(cfg->remote, &opt);
	}
	if (cfg->query_servers)
		return ringside_query_servers(cfg->query_host);
	if (cfg->repeater) {
		struct repeater_options ro = {
			.upstream = cfg->upstream,
			.servers = cfg->servers,
			.nservers = cfg->nservers,
			.persist = cfg->persist,
		};

		params_of(cfg, &ro.params);
		return ringside_repeater(&ro);
	}
	if (cfg->edge) {
		struct edge_options eo = {
			.nats = cfg->edge,
			.servers = cfg->servers,
			.nservers = cfg->nservers,
			.persist = cfg->persist,
		};

		params_of(cfg, &eo.params);
		return ringside_edge(&eo);
	}
	return host(cfg);
}

int main(int argc, char *argv[])
{
	struct config cfg;
	char err[512];
	int code;

	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	/* Other local users can read our command line in /proc until now. */
	config_scrub_argv(argc, argv);
	code = run(&cfg);
	config_free(&cfg);
	return code;
}
