// SPDX-License-Identifier: MIT
/* Unit tests for serial/backend_sp.c and serial/list.c without hardware:
 * every libserialport call they make is wrapped at link time
 * (-Wl,--wrap=sp_..., see the Makefile) and lands in the fake below.  The
 * fake "device" is a real pty, opened the way sp_open() opens a port, so
 * what the line does with the fd afterwards (flags, VMIN, flock, reads,
 * hang-up) is real.  The tests prove the configuration a line asks for
 * (115200 8N1, flow control, read back), the fallback to termios, and the
 * errors: device gone, busy, permission denied, settings refused, the
 * device hung up while open; and the -serial-list text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libserialport.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serial/line.h"

/* ---- the fake libserialport --------------------------------------------- */

struct sp_port {
	char name[128];
	char description[128];
	enum sp_transport transport;
	int vid, pid;
	const char *manufacturer, *product, *serial, *bt;
	int fd;
};

struct sp_port_config {
	int baud, bits, stopbits;
	enum sp_parity parity;
	enum sp_flowcontrol flow;
	bool flow_set;
};

static struct {
	/* injected */
	enum sp_return by_name;		/* what sp_get_port_by_name returns */
	int open_errno;			/* sp_open fails with this errno */
	bool no_modem_lines;		/* sp_open fails as on a pty: TIOCMGET */
	enum sp_return set_config;	/* what sp_set_config returns */
	int set_config_errno;
	int reports_baud;		/* baud read back; 0: as set */
	enum sp_return list;
	struct sp_port *ports;
	size_t nports;
	/* observed */
	struct sp_port_config applied;
	int ports_alive, configs_alive, lists_alive, messages_alive;
	int opens, closes, get_configs;
	int last_errno;
} fake;

static void fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
}

static enum sp_return fail_errno(int e)
{
	fake.last_errno = e;
	return SP_ERR_FAIL;
}

enum sp_return __wrap_sp_get_port_by_name(const char *name, struct sp_port **out);
enum sp_return __wrap_sp_get_port_by_name(const char *name, struct sp_port **out)
{
	struct sp_port *p;

	if (fake.by_name != SP_OK)
		return fake.by_name;
	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->fd = -1;
	fake.ports_alive++;
	*out = p;
	return SP_OK;
}

void __wrap_sp_free_port(struct sp_port *p);
void __wrap_sp_free_port(struct sp_port *p)
{
	assert_int_equal(p->fd, -1);	/* closed before freed */
	free(p);
	fake.ports_alive--;
}

enum sp_return __wrap_sp_open(struct sp_port *p, enum sp_mode mode);
enum sp_return __wrap_sp_open(struct sp_port *p, enum sp_mode mode)
{
	struct termios t;

	assert_int_equal(mode, SP_MODE_READ_WRITE);
	assert_int_equal(p->fd, -1);
	if (fake.open_errno)
		return fail_errno(fake.open_errno);
	/* As libserialport does it. */
	p->fd = open(p->name, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (p->fd < 0)
		return fail_errno(errno);
	if (fake.no_modem_lines) {
		close(p->fd);
		p->fd = -1;
		return fail_errno(ENOTTY);
	}
	/* libserialport leaves a port raw, with VMIN=0 and VTIME=0. */
	tcgetattr(p->fd, &t);
	cfmakeraw(&t);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	tcsetattr(p->fd, TCSANOW, &t);
	fake.opens++;
	return SP_OK;
}

enum sp_return __wrap_sp_close(struct sp_port *p);
enum sp_return __wrap_sp_close(struct sp_port *p)
{
	assert_true(p->fd >= 0);
	close(p->fd);
	p->fd = -1;
	fake.closes++;
	return SP_OK;
}

enum sp_return __wrap_sp_get_port_handle(const struct sp_port *p, void *out);
enum sp_return __wrap_sp_get_port_handle(const struct sp_port *p, void *out)
{
	*(int *)out = p->fd;
	return SP_OK;
}

enum sp_return __wrap_sp_new_config(struct sp_port_config **c);
enum sp_return __wrap_sp_new_config(struct sp_port_config **c)
{
	*c = calloc(1, sizeof(**c));
	assert_non_null(*c);
	(*c)->baud = (*c)->bits = (*c)->stopbits = -1;
	(*c)->parity = SP_PARITY_INVALID;
	fake.configs_alive++;
	return SP_OK;
}

void __wrap_sp_free_config(struct sp_port_config *c);
void __wrap_sp_free_config(struct sp_port_config *c)
{
	free(c);
	fake.configs_alive--;
}

#define SETTER(name, field, type)                                                    \
	enum sp_return __wrap_sp_set_config_##name(struct sp_port_config *c, type v); \
	enum sp_return __wrap_sp_set_config_##name(struct sp_port_config *c, type v)  \
	{                                                                            \
		c->field = v;                                                        \
		return SP_OK;                                                        \
	}
SETTER(baudrate, baud, int)
SETTER(bits, bits, int)
SETTER(stopbits, stopbits, int)
SETTER(parity, parity, enum sp_parity)

enum sp_return __wrap_sp_set_config_flowcontrol(struct sp_port_config *c, enum sp_flowcontrol f);
enum sp_return __wrap_sp_set_config_flowcontrol(struct sp_port_config *c, enum sp_flowcontrol f)
{
	c->flow = f;
	c->flow_set = true;
	return SP_OK;
}

enum sp_return __wrap_sp_set_config(struct sp_port *p, const struct sp_port_config *c);
enum sp_return __wrap_sp_set_config(struct sp_port *p, const struct sp_port_config *c)
{
	assert_true(p->fd >= 0);
	if (fake.set_config != SP_OK)
		return fake.set_config == SP_ERR_FAIL ? fail_errno(fake.set_config_errno) :
							 fake.set_config;
	fake.applied = *c;
	return SP_OK;
}

enum sp_return __wrap_sp_get_config(struct sp_port *p, struct sp_port_config *c);
enum sp_return __wrap_sp_get_config(struct sp_port *p, struct sp_port_config *c)
{
	assert_true(p->fd >= 0);
	*c = fake.applied;
	if (fake.reports_baud)
		c->baud = fake.reports_baud;
	fake.get_configs++;
	return SP_OK;
}

enum sp_return __wrap_sp_get_config_baudrate(const struct sp_port_config *c, int *baud);
enum sp_return __wrap_sp_get_config_baudrate(const struct sp_port_config *c, int *baud)
{
	*baud = c->baud;
	return SP_OK;
}

int __wrap_sp_last_error_code(void);
int __wrap_sp_last_error_code(void)
{
	return fake.last_errno;
}

char *__wrap_sp_last_error_message(void);
char *__wrap_sp_last_error_message(void)
{
	fake.messages_alive++;
	return strdup(strerror(fake.last_errno));
}

void __wrap_sp_free_error_message(char *m);
void __wrap_sp_free_error_message(char *m)
{
	free(m);
	fake.messages_alive--;
}

enum sp_return __wrap_sp_list_ports(struct sp_port ***out);
enum sp_return __wrap_sp_list_ports(struct sp_port ***out)
{
	struct sp_port **list;

	if (fake.list != SP_OK)
		return fake.list == SP_ERR_FAIL ? fail_errno(EACCES) : fake.list;
	list = calloc(fake.nports + 1, sizeof(*list));
	assert_non_null(list);
	for (size_t i = 0; i < fake.nports; i++)
		list[i] = &fake.ports[i];
	fake.lists_alive++;
	*out = list;
	return SP_OK;
}

void __wrap_sp_free_port_list(struct sp_port **list);
void __wrap_sp_free_port_list(struct sp_port **list)
{
	free(list);
	fake.lists_alive--;
}

char *__wrap_sp_get_port_name(const struct sp_port *p);
char *__wrap_sp_get_port_name(const struct sp_port *p)
{
	return (char *)p->name;
}

char *__wrap_sp_get_port_description(const struct sp_port *p);
char *__wrap_sp_get_port_description(const struct sp_port *p)
{
	return (char *)p->description;
}

enum sp_transport __wrap_sp_get_port_transport(const struct sp_port *p);
enum sp_transport __wrap_sp_get_port_transport(const struct sp_port *p)
{
	return p->transport;
}

enum sp_return __wrap_sp_get_port_usb_vid_pid(const struct sp_port *p, int *vid, int *pid);
enum sp_return __wrap_sp_get_port_usb_vid_pid(const struct sp_port *p, int *vid, int *pid)
{
	if (p->transport != SP_TRANSPORT_USB)
		return SP_ERR_ARG;
	*vid = p->vid;
	*pid = p->pid;
	return SP_OK;
}

#define GETTER(name, field)                                            \
	char *__wrap_sp_get_port_##name(const struct sp_port *p);      \
	char *__wrap_sp_get_port_##name(const struct sp_port *p)       \
	{                                                              \
		return (char *)p->field;                               \
	}
GETTER(usb_manufacturer, manufacturer)
GETTER(usb_product, product)
GETTER(usb_serial, serial)
GETTER(bluetooth_address, bt)

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
	int master;
	char slave[64];
	char lock_dir[64];
	char err[512];
	struct serial_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int slave;

	if (!f || openpty(&f->master, &slave, f->slave, NULL, NULL) < 0)
		return -1;
	close(slave);
	snprintf(f->lock_dir, sizeof(f->lock_dir), "/tmp/ringside-lock.XXXXXX");
	if (!mkdtemp(f->lock_dir))
		return -1;
	f->cfg.path = f->slave;
	f->cfg.name = "COM7";
	f->cfg.baud = 115200;
	f->cfg.lock_dir = f->lock_dir;
	fake_reset();
	*state = f;
	return 0;
}

/* Nothing libserialport handed out is left over, and no lock file. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	int leaks = fake.ports_alive | fake.configs_alive | fake.lists_alive |
		    fake.messages_alive;

	char lock[128];

	if (f->master >= 0)
		close(f->master);
	/* A lock file left behind is a leak too; clean it up all the same. */
	snprintf(lock, sizeof(lock), "%s/LCK..%s", f->lock_dir, strrchr(f->slave, '/') + 1);
	if (unlink(lock) == 0)
		leaks = -1;
	if (rmdir(f->lock_dir) < 0)
		leaks = -1;
	free(f);
	return leaks ? -1 : 0;
}

static void assert_opens_with_sp(struct fixture *f, struct serial_line **l)
{
	assert_int_equal(serial_line_open(&f->cfg, l, f->err, sizeof(f->err)), 0);
	assert_int_equal((*l)->backend, SERIAL_BACKEND_LIBSERIALPORT);
	assert_non_null((*l)->sp);
	assert_int_equal(fake.opens, 1);
}

/* ---- opening and configuring -------------------------------------------- */

static void test_configures_8n1(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct termios t;
	char text[256];

	assert_opens_with_sp(f, &l);
	assert_int_equal(fake.applied.baud, 115200);
	assert_int_equal(fake.applied.bits, 8);
	assert_int_equal(fake.applied.parity, SP_PARITY_NONE);
	assert_int_equal(fake.applied.stopbits, 1);
	assert_true(fake.applied.flow_set);
	assert_int_equal(fake.applied.flow, SP_FLOWCONTROL_NONE);
	assert_int_equal(fake.get_configs, 1);		/* read back */
	assert_int_equal(serial_line_describe(l, text, sizeof(text)), 0);
	assert_true(strstr(text, " 115200 8N1 flow=none (libserialport)") != NULL);
	/* The fd libserialport owns is set up for the loop. */
	assert_true(fcntl(serial_line_fd(l), F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(serial_line_fd(l), F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tcgetattr(serial_line_fd(l), &t), 0);
	assert_int_equal(t.c_cc[VMIN], 1);
	serial_line_close(l);
	assert_int_equal(fake.closes, 1);
	assert_int_equal(fake.ports_alive, 0);
}

static void test_flow_control(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;

	f->cfg.flow = SERIAL_FLOW_RTSCTS;
	f->cfg.baud = 921600;
	assert_opens_with_sp(f, &l);
	assert_int_equal(fake.applied.flow, SP_FLOWCONTROL_RTSCTS);
	assert_int_equal(fake.applied.baud, 921600);
	serial_line_close(l);
	f->cfg.flow = SERIAL_FLOW_XONXOFF;
	fake.opens = 0;
	assert_opens_with_sp(f, &l);
	assert_int_equal(fake.applied.flow, SP_FLOWCONTROL_XONXOFF);
	serial_line_close(l);
}

/* What libserialport does not know (no /sys entry) or cannot open (no
 * modem lines) goes to termios in auto mode, and is an error when
 * libserialport was asked for. */
static void test_falls_back_to_termios(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;

	fake.by_name = SP_ERR_ARG;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(l->backend, SERIAL_BACKEND_TERMIOS);
	serial_line_close(l);

	fake.by_name = SP_OK;
	fake.no_modem_lines = true;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(l->backend, SERIAL_BACKEND_TERMIOS);
	assert_int_equal(fake.ports_alive, 0);
	serial_line_close(l);

	f->cfg.backend = SERIAL_BACKEND_LIBSERIALPORT;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOTSUP);
	assert_non_null(strstr(f->err, "COM7 ("));
	assert_non_null(strstr(f->err, "libserialport cannot drive it"));
}

/* ---- errors ------------------------------------------------------------- */

static void test_device_gone(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char want[160];

	/* Unplugged between the check and the open. */
	fake.open_errno = ENOENT;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -ENOENT);
	snprintf(want, sizeof(want), "COM7 (%s): no such device", f->slave);
	assert_non_null(strstr(f->err, want));
	/* A legacy port with no UART behind it. */
	fake.open_errno = EIO;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EIO);
	assert_non_null(strstr(f->err, "no serial hardware answers"));
	assert_int_equal(fake.ports_alive, 0);
}

static void hold(const char *path)
{
	if (open(path, O_RDWR | O_NOCTTY) < 0)
		_exit(1);
}

static void test_busy(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	char want[96];
	int p[2], res;
	ssize_t n;
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "minicom");
		hold(f->slave);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	n = read(p[0], &c, 1);
	close(p[0]);
	close(p[1]);
	/* What sp_open reports when another program has TIOCEXCL. */
	fake.open_errno = EBUSY;
	res = n == 1 ? serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)) : 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(n, 1);
	assert_int_equal(res, -EBUSY);
	snprintf(want, sizeof(want), " is busy: in use by minicom (pid %ld)", (long)pid);
	assert_non_null(strstr(f->err, want));
	assert_int_equal(fake.ports_alive, 0);
}

static void test_permission_denied(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct group *dialout = getgrnam("dialout");

	assert_non_null(dialout);
	assert_int_equal(chown(f->slave, 0, dialout->gr_gid), 0);
	fake.open_errno = EACCES;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EACCES);
	assert_non_null(strstr(f->err, ": permission denied; the device belongs to group dialout: "
				       "add yourself to it (usermod -aG dialout USER)"));
}

static void test_settings_refused(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;

	fake.set_config = SP_ERR_FAIL;
	fake.set_config_errno = EINVAL;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "COM7 ("));
	assert_non_null(strstr(f->err, "libserialport could not apply the configuration for "
				       "115200 baud 8N1 flow=none: Invalid argument"));
	assert_int_equal(fake.closes, 1);	/* opened, then closed again */
	assert_int_equal(fake.ports_alive, 0);

	/* Taken without complaint, but the device runs at another rate. */
	fake_reset();
	fake.reports_baud = 9600;
	assert_int_equal(serial_line_open(&f->cfg, &l, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "did not accept 115200 baud: it reports 9600 after setting it"));
	assert_int_equal(fake.closes, 1);
	assert_int_equal(fake.ports_alive, 0);
}

/* Unplugged while serving: the kernel hangs the tty up.  Reads and writes
 * fail with -EIO, poll says POLLHUP, the message says what happened. */
static void test_unplugged_while_open(void **state)
{
	struct fixture *f = *state;
	struct serial_line *l;
	struct pollfd pfd;
	char buf[16];
	int other;

	assert_opens_with_sp(f, &l);
	assert_int_equal(write(f->master, "hi", 2), 2);
	usleep(20000);
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), 2);
	other = open(f->slave, O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(other >= 0);
	assert_int_equal(ioctl(other, TIOCVHANGUP), 0);
	close(other);
	pfd.fd = serial_line_fd(l);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLHUP);
	assert_int_equal(serial_line_read(l, buf, sizeof(buf)), -EIO);
	assert_int_equal(serial_line_write(l, "x", 1), -EIO);
	serial_line_io_error(l, -EIO, f->err, sizeof(f->err));
	assert_non_null(strstr(f->err, "COM7 ("));
	assert_non_null(strstr(f->err, ") hung up: the device was unplugged or the other end closed"));
	serial_line_close(l);
	assert_int_equal(fake.closes, 1);
}

/* ---- -serial-list ------------------------------------------------------- */

static char *list_text(void)
{
	struct serial_port_info *ports;
	size_t n, len;
	char *text = NULL, err[128];
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(serial_list(&ports, &n, err, sizeof(err)), 0);
	assert_int_equal(serial_list_print(out, ports, n), 0);
	fclose(out);
	free(ports);
	return text;
}

static void test_list(void **state)
{
	struct sp_port ports[] = {
		{ .name = "/dev/ttyUSB0", .description = "FT232R USB UART",
		  .transport = SP_TRANSPORT_USB, .vid = 0x0403, .pid = 0x6001,
		  .manufacturer = "FTDI", .product = "FT232R USB UART", .serial = "A50285BI" },
		{ .name = "/dev/ttyS10", .description = "ttyS10", .transport = SP_TRANSPORT_NATIVE },
		{ .name = "/dev/ttyS2", .description = "ttyS2", .transport = SP_TRANSPORT_NATIVE },
		{ .name = "/dev/rfcomm0", .description = "rfcomm0",
		  .transport = SP_TRANSPORT_BLUETOOTH, .bt = "00:1A:7D:DA:71:13" },
		{ .name = "/dev/ttyACM0", .description = "",
		  .transport = SP_TRANSPORT_USB, .vid = 0x2341, .pid = 0x0043,
		  .manufacturer = "Arduino (www.arduino.cc)", .product = "Uno" },
	};
	char *text;

	fake.ports = ports;
	fake.nports = sizeof(ports) / sizeof(ports[0]);
	text = list_text();
	assert_string_equal(text,
		"PORT          ALIAS  TYPE       VID:PID    DESCRIPTION\n"
		"/dev/rfcomm0  -      bluetooth  -          rfcomm0 (00:1A:7D:DA:71:13)\n"
		"/dev/ttyACM0  -      usb        2341:0043  Uno (Arduino (www.arduino.cc))\n"
		"/dev/ttyS2    COM3   native     -          ttyS2\n"
		"/dev/ttyS10   COM11  native     -          ttyS10\n"
		"/dev/ttyUSB0  -      usb        0403:6001  FT232R USB UART (FTDI, serial A50285BI)\n");
	free(text);
	assert_int_equal(fake.lists_alive, 0);
}

static void test_list_empty_and_failing(void **state)
{
	struct serial_port_info *ports;
	size_t n;
	char *text, err[128];

	text = list_text();
	assert_string_equal(text, "No serial ports found.  (Pseudo-terminals are not listed; "
				  "com:port= takes any tty's path.)\n");
	free(text);
	fake.list = SP_ERR_FAIL;
	assert_int_equal(serial_list(&ports, &n, err, sizeof(err)), -EACCES);
	assert_string_equal(err, "cannot list serial ports: Permission denied");
	assert_null(ports);
	assert_int_equal(n, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_configures_8n1),
		T(test_flow_control),
		T(test_falls_back_to_termios),
		T(test_device_gone),
		T(test_busy),
		T(test_permission_denied),
		T(test_settings_refused),
		T(test_unplugged_while_open),
		T(test_list),
		T(test_list_empty_and_failing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
