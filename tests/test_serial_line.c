// SPDX-License-Identifier: MIT
/* Unit tests for serial/config.c, line.c, lock.c, registry.c and the
 * termios backend, on real pseudo-terminals from openpty(): port names and
 * baud rates, a line's settings read back from the tty, non-blocking I/O
 * and hang-up, UUCP lock files (ours, live, stale, garbage), a device busy
 * through flock or TIOCEXCL (with the holder named), permission and
 * missing-device errors, and one line shared by several channels. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pty.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serial/line.h"

/* Children still to kill, should a test fail before it does. */
static pid_t holders[8];

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++)
		if (holders[i] == pid)
			holders[i] = 0;
}

struct fixture {
	int master;
	char slave[64];
	char lock_dir[64];
	char lock_file[128];
	char err[512];
	struct serial_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int slave;
	const char *base;

	if (!f || openpty(&f->master, &slave, f->slave, NULL, NULL) < 0)
		return -1;
	close(slave);	/* the line opens it by name, as a user would */
	snprintf(f->lock_dir, sizeof(f->lock_dir), "/tmp/ringside-lock.XXXXXX");
	if (!mkdtemp(f->lock_dir))
		return -1;
	base = strrchr(f->slave, '/') + 1;
	snprintf(f->lock_file, sizeof(f->lock_file), "%s/LCK..%s", f->lock_dir, base);
	f->cfg.path = f->slave;
	f->cfg.baud = 115200;
	f->cfg.lock_dir = f->lock_dir;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++)
		if (holders[i])
			reap(holders[i]);
	if (f->master >= 0)
		close(f->master);
	unlink(f->lock_file);
	rmdir(f->lock_dir);
	free(f);
	return 0;
}

/* A child that runs FN(ARG) and then waits to be killed; returns its pid
 * once FN has run. */
static pid_t child_holding(void (*fn)(const char *), const char *arg)
{
	int p[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "holder");
		fn(arg);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++)
		if (!holders[i]) {
			holders[i] = pid;
			break;
		}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void nothing(const char *arg)
{
}

static void flock_path(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY);

	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		_exit(1);
}

/* Holds PATH at 2400 baud with a flock, as picocom would. */
static void flock_path_2400(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY);
	struct termios t;

	if (fd < 0 || tcgetattr(fd, &t) < 0)
		_exit(1);
	cfsetspeed(&t, B2400);
	if (tcsetattr(fd, TCSANOW, &t) < 0 || flock(fd, LOCK_EX) < 0)
		_exit(1);
}

/* Holds PATH with TIOCEXCL only. */
static void excl_path(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY);

	if (fd < 0 || ioctl(fd, TIOCEXCL) < 0)
		_exit(1);
}

/* Lowers this process's effective capabilities by CAP. */
static void drop_cap(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		_exit(90);
	data[cap / 32].effective &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &hdr, data) < 0)
		_exit(91);
}

/* ---- names and settings ------------------------------------------------- */

static void test_port_names(void **state)
{
	char path[SERIAL_PATH_MAX], err[256], longpath[400];

	assert_int_equal(serial_port_path("COM1", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/dev/ttyS0");
	assert_int_equal(serial_port_path("com12", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/dev/ttyS11");
	assert_int_equal(serial_port_path("3", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/dev/ttyS2");
	assert_int_equal(serial_port_path("COM256", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/dev/ttyS255");
	assert_int_equal(serial_port_path("/dev/serial/by-id/usb-FTDI", path, sizeof(path), err,
					  sizeof(err)), 0);
	assert_string_equal(path, "/dev/serial/by-id/usb-FTDI");

	static const char *const bad[] = { "COM0", "COM257", "0", "", "COM", "COMx", "COM01", "-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(serial_port_path(bad[i], path, sizeof(path), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "is not COMn, a number 1-256 or a device path"));
	}
	/* A bare name that exists under /dev gets a hint. */
	assert_int_equal(serial_port_path("null", path, sizeof(path), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "did you mean /dev/null?"));
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(serial_port_path(longpath, path, sizeof(path), err, sizeof(err)),
			 -ENAMETOOLONG);
}

static void test_baud_and_flow(void **state)
{
	char err[512];
	enum serial_flow flow = SERIAL_FLOW_NONE;

	assert_int_equal(serial_baud_check(115200, err, sizeof(err)), 0);
	assert_int_equal(serial_baud_check(50, err, sizeof(err)), 0);
	assert_int_equal(serial_baud_check(4000000, err, sizeof(err)), 0);
	assert_int_equal(serial_baud_check(12345, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unsupported baud rate 12345 (expected one of 50, 75, 110,"));
	assert_non_null(strstr(err, ", 115200, 230400,"));
	assert_non_null(strstr(err, ", 4000000)"));
	assert_int_equal(serial_baud_check(0, NULL, 0), -EINVAL);

	assert_int_equal(serial_flow_parse("RtsCts", &flow, err, sizeof(err)), 0);
	assert_int_equal(flow, SERIAL_FLOW_RTSCTS);
	assert_int_equal(serial_flow_parse("xonxoff", &flow, err, sizeof(err)), 0);
	assert_int_equal(flow, SERIAL_FLOW_XONXOFF);
	assert_int_equal(serial_flow_parse("hw", &flow, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown flow control \"hw\" (expected none, rtscts or xonxoff)");
	assert_string_equal(serial_backend_name(SERIAL_BACKEND_TERMIOS), "termios");
	assert_string_equal(serial_backend_name(SERIAL_BACKEND_LIBSERIALPORT), "libserialport");
}

/* ---- opening a pty ------------------------------------------------------ */

static void test_open_pty_settings(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct termios t;
	char text[256];

	/* Auto: libserialport refuses a pty, termios takes it. */
	f->cfg.name = "pty";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(l->backend, SERIAL_BACKEND_TERMIOS);
	assert_null(l->sp);
	assert_int_equal(serial_line_describe(l, text, sizeof(text)), 0);
	assert_true(strstr(text, " 115200 8N1 flow=none (termios)") != NULL);
	assert_true(strncmp(l->name, "pty (/dev/pts/", 14) == 0);

	assert_int_equal(tcgetattr(serial_line_fd(l), &t), 0);
	assert_int_equal(cfgetospeed(&t), B115200);
	assert_int_equal(cfgetispeed(&t), B115200);
	assert_int_equal(t.c_cflag & CSIZE, CS8);
	assert_int_equal(t.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
	assert_true(t.c_cflag & CLOCAL);
	assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
	assert_int_equal(t.c_iflag & (IXON | IXOFF | ICRNL), 0);
	assert_int_equal(t.c_oflag & OPOST, 0);
	assert_int_equal(t.c_cc[VMIN], 1);
	assert_int_equal(t.c_cc[VTIME], 0);
	assert_true(fcntl(serial_line_fd(l), F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(serial_line_fd(l), F_GETFD) & FD_CLOEXEC);
	/* The framing state is ready, with frames sized for the baud. */
	assert_int_equal(l->out.frame_payload, 230);
	serial_line_close(l);

	f->cfg.baud = 9600;
	f->cfg.flow = SERIAL_FLOW_RTSCTS;
	f->cfg.backend = SERIAL_BACKEND_TERMIOS;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(tcgetattr(serial_line_fd(l), &t), 0);
	assert_int_equal(cfgetospeed(&t), B9600);
	assert_true(t.c_cflag & CRTSCTS);
	serial_line_close(l);

	f->cfg.baud = 4000000;
	f->cfg.flow = SERIAL_FLOW_XONXOFF;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(tcgetattr(serial_line_fd(l), &t), 0);
	assert_int_equal(cfgetospeed(&t), B4000000);
	assert_int_equal(t.c_iflag & (IXON | IXOFF), IXON | IXOFF);
	assert_false(t.c_cflag & CRTSCTS);
	serial_line_close(l);
}

/* libserialport forced on a pty: a clear refusal, nothing left behind. */
static void test_libserialport_refuses_pty(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct stat st;

	f->cfg.backend = SERIAL_BACKEND_LIBSERIALPORT;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOTSUP);
	assert_non_null(strstr(f->err, "libserialport cannot drive it"));
	assert_non_null(strstr(f->err, "the termios backend can"));
	assert_int_equal(stat(f->lock_file, &st), -1);
}

static void test_io_and_hangup(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char buf[64];

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	/* Nothing waiting: EAGAIN, not 0 (which would look like a hang-up). */
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(write(f->master, "\xFE\x52\x00\xFF", 4), 4);
	usleep(20000);
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "\xFE\x52\x00\xFF", 4);	/* raw: nothing translated */
	assert_int_equal(serial_line_write(l, "out\r\n", 5), 5);
	usleep(20000);
	assert_int_equal(read(f->master, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "out\r\n", 5);

	/* The far end goes away. */
	close(f->master);
	f->master = -1;
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), -EIO);
	serial_line_io_error(l, -EIO, f->err, sizeof(f->err));
	assert_non_null(strstr(f->err, " hung up: the device was unplugged or the other end closed"));
	assert_true(serial_line_write(l, "x", 1) < 0);
	serial_line_close(l);
}

/* A tty hung up under us (what a USB adapter's unplugging does): reads
 * and writes fail, and poll says POLLHUP, so the loop hears of it. */
static void test_vhangup_is_unplug(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct pollfd pfd;
	char buf[16];
	int other;

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	other = open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(other >= 0);
	assert_int_equal(ioctl(other, TIOCVHANGUP), 0);
	close(other);
	pfd.fd = serial_line_fd(l);
	pfd.events = POLLIN | POLLOUT;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLHUP);
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), -EIO);
	assert_int_equal(serial_line_write(l, "x", 1), -EIO);
	serial_line_close(l);
}

/* ---- errors opening ----------------------------------------------------- */

static void test_missing_and_not_a_tty(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;

	f->cfg.path = "/dev/ttyRINGSIDE-NONE";
	f->cfg.name = "COM9";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOENT);
	assert_string_equal(f->err, "COM9 (/dev/ttyRINGSIDE-NONE): no such device "
				    "(ringside -serial-list shows the ports found)");
	f->cfg.name = NULL;
	f->cfg.path = "/dev/null";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOTTY);
	assert_string_equal(f->err, "/dev/null is not a serial port or terminal");
	f->cfg.path = "/etc/passwd";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOTTY);
	f->cfg.path = "ttyS0";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EINVAL);
	f->cfg.path = f->slave;
	f->cfg.baud = 12345;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "unsupported baud rate 12345"));
}

/* Opens the line as nobody and checks the message; exits with a code. */
static void open_as_nobody(struct fixture *f, const char *want)
{
	struct serial_line *l;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		_exit(80);
	if (serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)) != -EACCES)
		_exit(81);
	_exit(strstr(f->err, want) ? 0 : 82);
}

static void test_permission_denied(void **state)
{
	struct fixture *f = *state;
	struct group *dialout = getgrnam("dialout");
	char want[256];
	int status;
	pid_t pid;

	/* Root's device: just the fact. */
	assert_int_equal(chown(f->slave, 0, 0), 0);
	assert_int_equal(chmod(f->slave, 0600), 0);
	snprintf(want, sizeof(want), "%s: permission denied", f->slave);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		open_as_nobody(f, want);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* A group's device, as serial ports are: which group to join. */
	assert_non_null(dialout);
	assert_int_equal(chown(f->slave, 0, dialout->gr_gid), 0);
	assert_int_equal(chmod(f->slave, 0660), 0);
	snprintf(want, sizeof(want), "%s: permission denied; the device belongs to group dialout: "
		 "add yourself to it (usermod -aG dialout USER) and log in again", f->slave);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		open_as_nobody(f, want);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- exclusive use ------------------------------------------------------ */

static void test_lock_file(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char text[32], want[64];
	struct stat st;
	int fd;
	ssize_t n;

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_string_equal(l->lock_path, f->lock_file);
	fd = open(f->lock_file, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_int_equal(n, 11);
	text[n] = '\0';
	snprintf(want, sizeof(want), "%10ld\n", (long)getpid());
	assert_string_equal(text, want);
	serial_line_close(l);
	assert_int_equal(stat(f->lock_file, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* By default, where FHS puts them. */
	f->cfg.lock_dir = NULL;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	snprintf(want, sizeof(want), "/var/lock/LCK..%s", strrchr(f->slave, '/') + 1);
	assert_string_equal(l->lock_path, want);
	assert_int_equal(stat(want, &st), 0);
	serial_line_close(l);
	assert_int_equal(stat(want, &st), -1);
}

static void write_lock(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_lock_file_held_or_stale(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char text[32], want[256];
	pid_t pid;

	/* A live process holds it: busy, and it is named. */
	pid = child_holding(nothing, NULL);
	snprintf(text, sizeof(text), "%10ld\n", (long)pid);
	write_lock(f->lock_file, text);
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EBUSY);
	snprintf(want, sizeof(want), " is busy: locked by holder (pid %ld, lock file %s)",
		 (long)pid, f->lock_file);
	assert_non_null(strstr(f->err, want));
	reap(pid);

	/* Now it is gone: the lock is stale, replaced by ours. */
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	serial_line_close(l);

	/* Garbage is not a lock either; nor is the old binary format of a
	 * dead pid. */
	write_lock(f->lock_file, "not a pid\n");
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	serial_line_close(l);

	/* Ours, from another registry of this process. */
	snprintf(text, sizeof(text), "%10ld\n", (long)getpid());
	write_lock(f->lock_file, text);
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "this process already has it open"));
	unlink(f->lock_file);

	/* A lock directory that does not exist is an error, not a silent
	 * skip: it was asked for. */
	f->cfg.lock_dir = "/nonexistent-ringside-lock-dir";
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "cannot write lock file /nonexistent-ringside-lock-dir/"));
}

static void test_busy_flock(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char want[64];
	struct stat st;
	pid_t pid = child_holding(flock_path, f->slave);

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EBUSY);
	snprintf(want, sizeof(want), " is busy: in use by holder (pid %ld)", (long)pid);
	assert_non_null(strstr(f->err, want));
	/* Nothing left behind: no lock file, and it opens once released. */
	assert_int_equal(stat(f->lock_file, &st), -1);
	reap(pid);
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	serial_line_close(l);
}

/* A device another program holds is refused before anything is changed:
 * its baud rate stays, and so does its TIOCEXCL, which root is told of
 * although the kernel would let root through. */
static void test_busy_device_left_alone(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct termios t;
	char want[64];
	int fd, excl = 0;
	pid_t pid = child_holding(flock_path_2400, f->slave);

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EBUSY);
	fd = open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(fd >= 0);
	assert_int_equal(tcgetattr(fd, &t), 0);
	assert_int_equal(cfgetospeed(&t), B2400);
	close(fd);
	reap(pid);

	pid = child_holding(excl_path, f->slave);
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EBUSY);
	snprintf(want, sizeof(want), " is busy: in use by holder (pid %ld)", (long)pid);
	assert_non_null(strstr(f->err, want));
	fd = open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, TIOCGEXCL, &excl), 0);
	assert_int_equal(excl, 1);
	close(fd);
	reap(pid);
}

/* Our line takes TIOCEXCL: another opener without CAP_SYS_ADMIN (which
 * overrides it) gets EBUSY from open(2) itself, and our message names us. */
static void test_busy_tiocexcl(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char msg[512] = "", want[64];
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char lock_dir[] = "/tmp/ringside-lock2.XXXXXX";
		struct serial_line *other;
		int fd, res;

		close(p[0]);
		drop_cap(CAP_SYS_ADMIN);
		fd = open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 || errno != EBUSY)
			_exit(70);
		/* Past the lock file (another directory), to open(2). */
		if (!mkdtemp(lock_dir))
			_exit(71);
		f->cfg.lock_dir = lock_dir;
		res = serial_line_open(&f->cfg, &other, f->err, sizeof(f->err));
		rmdir(lock_dir);
		if (write(p[1], f->err, strlen(f->err)) < 0)
			_exit(72);
		_exit(res == -EBUSY ? 0 : 73);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	msg[n] = '\0';
	snprintf(want, sizeof(want), " is busy: in use by test_serial_lin (pid %ld)", (long)getpid());
	assert_non_null(strstr(msg, want));
	serial_line_close(l);

	/* Released: TIOCEXCL went with our close. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		drop_cap(CAP_SYS_ADMIN);
		_exit(open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK) >= 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- one line per device ------------------------------------------------ */

static int fds_on(dev_t rdev)
{
	char path[64];
	struct stat st;
	int count = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev)
			count++;
	}
	return count;
}

static void test_registry_shares_a_line(void **state)
{
	struct fixture *f = *state;
	struct serial_registry reg = { 0 };
	struct serial_line *a, *b, *c, *d;
	char link_path[128], want[160];
	struct serial_config cfg = f->cfg;
	struct stat st;

	assert_int_equal(stat(f->slave, &st), 0);
	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, 1, &a, f->err, sizeof(f->err)), 0);
	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, 2, &b, f->err, sizeof(f->err)), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(serial_line_users(a), 2);
	assert_int_equal(fds_on(st.st_rdev), 1);

	/* The same device by another name is the same line. */
	snprintf(link_path, sizeof(link_path), "%s/ttyLINK", f->lock_dir);
	assert_int_equal(symlink(f->slave, link_path), 0);
	cfg.path = link_path;
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 3, &c, f->err, sizeof(f->err)), 0);
	assert_ptr_equal(c, a);
	assert_int_equal(fds_on(st.st_rdev), 1);

	/* The same channel twice is refused, by name. */
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 2, &d, f->err, sizeof(f->err)),
			 -EADDRINUSE);
	snprintf(want, sizeof(want), "channel 2 is already in use on %s", f->slave);
	assert_string_equal(f->err, want);
	/* So are other settings, a raw user, and channels out of range. */
	cfg.baud = 9600;
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 4, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "is already open at 115200 baud, not 9600"));
	cfg.baud = 115200;
	cfg.flow = SERIAL_FLOW_RTSCTS;
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 4, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "is already open with flow=none, not rtscts"));
	cfg.flow = SERIAL_FLOW_NONE;
	assert_int_equal(serial_registry_acquire(&reg, &cfg, SERIAL_CHANNEL_RAW, &d, f->err,
						 sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "carries framed channels already; a raw line carries one server only"));
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 255, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "channel 255 is out of range (expected 0-254)");
	cfg.flow = SERIAL_FLOW_XONXOFF;
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 5, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "flow=xonxoff cannot carry framed channels"));
	cfg.flow = SERIAL_FLOW_NONE;
	assert_int_equal(serial_line_users(a), 3);

	/* The last one out closes it. */
	serial_registry_release(&reg, a, 1);
	serial_registry_release(&reg, a, 3);
	assert_int_equal(fds_on(st.st_rdev), 1);
	assert_int_equal(serial_registry_acquire(&reg, &cfg, 1, &d, f->err, sizeof(f->err)), 0);
	assert_ptr_equal(d, a);
	serial_registry_release(&reg, a, 1);
	serial_registry_release(&reg, a, 2);
	assert_null(reg.lines);
	assert_int_equal(fds_on(st.st_rdev), 0);
	assert_int_equal(stat(f->lock_file, &st), -1);

	/* A raw line carries one user. */
	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, SERIAL_CHANNEL_RAW, &a, f->err,
						 sizeof(f->err)), 0);
	assert_true(a->raw);
	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, 0, &d, f->err, sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "carries a raw (unframed) server already"));
	serial_registry_release(&reg, a, SERIAL_CHANNEL_RAW);
	assert_null(reg.lines);
	unlink(link_path);
}

/* A line that fails to open is not registered, and the next try opens. */
static void test_registry_failed_open(void **state)
{
	struct fixture *f = *state;
	struct serial_registry reg = { 0 };
	struct serial_line *l;
	pid_t pid = child_holding(flock_path, f->slave);

	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, 1, &l, f->err, sizeof(f->err)), -EBUSY);
	assert_null(reg.lines);
	reap(pid);
	assert_int_equal(serial_registry_acquire(&reg, &f->cfg, 1, &l, f->err, sizeof(f->err)), 0);
	serial_registry_release(&reg, l, 1);
	assert_null(reg.lines);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_names),
		cmocka_unit_test(test_baud_and_flow),
		T(test_open_pty_settings),
		T(test_libserialport_refuses_pty),
		T(test_io_and_hangup),
		T(test_vhangup_is_unplug),
		T(test_missing_and_not_a_tty),
		T(test_permission_denied),
		T(test_lock_file),
		T(test_lock_file_held_or_stale),
		T(test_busy_flock),
		T(test_busy_device_left_alone),
		T(test_busy_tiocexcl),
		T(test_registry_shares_a_line),
		T(test_registry_failed_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
