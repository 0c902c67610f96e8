// SPDX-License-Identifier: MIT
/* Unit tests for src/discovery.c: records written and replaced atomically,
 * listed only while their process lives and their endpoint listens, dead
 * sessions' records pruned, malformed ones left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/discovery.h"

struct fixture {
	char dir[64];
	const char *dirs[2];
	int tcp_fd, unix_fd;
	unsigned port;
	char sock_path[96];
	char out[8192];
};

static int tcp_listener(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int unix_listener(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0)
		return -1;
	return fd;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ringside-disc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->dirs[0] = f->dir;
	snprintf(f->sock_path, sizeof(f->sock_path), "%s/pipe", f->dir);
	f->tcp_fd = tcp_listener(&f->port);
	f->unix_fd = unix_listener(f->sock_path);
	if (f->tcp_fd < 0 || f->unix_fd < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct dirent *e;
	DIR *d = opendir(f->dir);

	close(f->tcp_fd);
	close(f->unix_fd);
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' || e->d_name[1] == 's')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* What -QR prints for the fixture's directory. */
static const char *list(struct fixture *f)
{
	FILE *out = fmemopen(f->out, sizeof(f->out) - 1, "w");

	assert_non_null(out);
	memset(f->out, 0, sizeof(f->out));
	assert_int_equal(discovery_list(out, "box", f->dirs), 0);
	fclose(out);
	return f->out;
}

static unsigned count_records(struct fixture *f)
{
	struct dirent *e;
	DIR *d = opendir(f->dir);
	unsigned n = 0;

	while ((e = readdir(d)))
		n += strncmp(e->d_name, ".session-", 9) == 0;
	closedir(d);
	return n;
}

static void write_file(struct fixture *f, const char *name, const char *text)
{
	char path[256];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

static void test_discovery_publish_list_withdraw(void **state)
{
	struct fixture *f = *state;
	struct discovery d = { 0 };
	struct discovery_server srv[2] = {
		{ .kind = DISCOVERY_TCP, .port = f->port, .listing = "tcp:Port=X" },
		{ .kind = DISCOVERY_UNIX, .path = f->sock_path, .listing = "npipe:Pipe=pipe,Password=*" },
	};
	char err[256], want[512];
	struct stat st;

	snprintf(d.dir, sizeof(d.dir), "%s", f->dir);
	assert_int_equal(discovery_publish(&d, "box", srv, 2, err, sizeof(err)), 0);
	assert_int_equal(stat(d.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(want, sizeof(want), "Servers on \\\\box:\n"
		 "Debugger Server - tcp:Port=X,Server=box\n"
		 "Debugger Server - npipe:Pipe=pipe,Password=*,Server=box\n");
	assert_string_equal(list(f), want);

	/* Replaced whole: one server left, still one record. */
	assert_int_equal(discovery_publish(&d, "box", srv + 1, 1, err, sizeof(err)), 0);
	assert_string_equal(list(f), "Servers on \\\\box:\n"
			    "Debugger Server - npipe:Pipe=pipe,Password=*,Server=box\n");
	assert_int_equal(count_records(f), 1);

	/* No servers: no record. */
	assert_int_equal(discovery_publish(&d, "box", NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(count_records(f), 0);
	assert_string_equal(list(f), "Servers on \\\\box:\n");
	discovery_withdraw(&d);		/* twice is harmless */
}

static void test_discovery_endpoint_not_listening_is_not_listed(void **state)
{
	struct fixture *f = *state;
	struct discovery d = { 0 };
	struct discovery_server srv = { .kind = DISCOVERY_TCP, .port = f->port, .listing = "tcp:x" };
	char err[256];

	snprintf(d.dir, sizeof(d.dir), "%s", f->dir);
	assert_int_equal(discovery_publish(&d, "box", &srv, 1, err, sizeof(err)), 0);
	close(f->tcp_fd);
	f->tcp_fd = socket(AF_INET, SOCK_STREAM, 0);	/* for teardown */
	assert_string_equal(list(f), "Servers on \\\\box:\n");
	/* Its process lives: the record stays. */
	assert_int_equal(count_records(f), 1);
	discovery_withdraw(&d);
}

static void test_discovery_dead_process_is_pruned(void **state)
{
	struct fixture *f = *state;
	char text[512];
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	waitpid(child, NULL, 0);
	/* A session killed with SIGKILL left this behind. */
	snprintf(text, sizeof(text), "ringside-discovery 1\npid %d 12345\nhost box\ntcp\t%u\ttcp:dead\n",
		 (int)child, f->port);
	write_file(f, ".session-1-0", text);
	/* Our own pid with another start time: a reused pid. */
	snprintf(text, sizeof(text), "ringside-discovery 1\npid %d 1\nhost box\ntcp\t%u\ttcp:reused\n",
		 (int)getpid(), f->port);
	write_file(f, ".session-2-0", text);
	assert_string_equal(list(f), "Servers on \\\\box:\n");
	assert_int_equal(count_records(f), 0);
}

static void test_discovery_malformed_records_are_left_alone(void **state)
{
	struct fixture *f = *state;

	write_file(f, ".session-3-0", "something else\npid 1 2\n");
	write_file(f, ".session-4-0", "ringside-discovery 1\npid x y\ntcp\t1\ttcp:bad\n");
	write_file(f, ".session-5-0", "ringside-discovery 1\ntcp\t1\ttcp:no-pid-first\n");
	write_file(f, "pipe-name", "ringside-discovery 1\n");
	assert_string_equal(list(f), "Servers on \\\\box:\n");
	assert_int_equal(count_records(f), 3);
}

static void test_discovery_fields_with_tabs_or_newlines_are_skipped(void **state)
{
	struct fixture *f = *state;
	struct discovery d = { 0 };
	struct discovery_server srv[2] = {
		{ .kind = DISCOVERY_TCP, .port = f->port, .listing = "tcp:Port=1\nDebugger Server - fake" },
		{ .kind = DISCOVERY_TCP, .port = f->port, .listing = "tcp:Port=good" },
	};
	char err[256];

	snprintf(d.dir, sizeof(d.dir), "%s", f->dir);
	assert_int_equal(discovery_publish(&d, "box", srv, 2, err, sizeof(err)), 0);
	assert_string_equal(list(f), "Servers on \\\\box:\n"
			    "Debugger Server - tcp:Port=good,Server=box\n");
	discovery_withdraw(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discovery_publish_list_withdraw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery_endpoint_not_listening_is_not_listed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery_dead_process_is_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery_malformed_records_are_left_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discovery_fields_with_tabs_or_newlines_are_skipped,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
