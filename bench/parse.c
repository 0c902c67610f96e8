/* parse.c: record format, per-client line scanner, line classification and
 * the harness's option parsing (see parse.h). */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t record_format(char *buf, size_t size, uint64_t seq, uint64_t t_ns)
{
	if (size < REC_MIN_SIZE || size > REC_MAX_SIZE)
		return 0;
	int h = snprintf(buf, size, REC_MAGIC "%llu %llu ", (unsigned long long)seq,
			 (unsigned long long)t_ns);
	if (h < 0 || (size_t)h >= size)
		return 0;
	memset(buf + h, 'x', size - 1 - (size_t)h);
	buf[size - 1] = '\n';
	return size;
}

void ls_init(struct linescan *ls)
{
	ls->len = 0;
	ls->cr_tail = 0;
	ls->hlen = 0;
}

/* Appends a segment that contains no '\n' to the current line. */
static void ls_append(struct linescan *ls, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (ls->hlen < LS_HEAD) {
		size_t room = LS_HEAD - ls->hlen;
		size_t k = n < room ? n : room;
		memcpy(ls->head + ls->hlen, p, k);
		ls->hlen += (uint32_t)k;
	}
	ls->len += n;
	size_t cr = 0;
	while (cr < n && p[n - 1 - cr] == '\r')
		cr++;
	ls->cr_tail = cr == n ? ls->cr_tail + (uint32_t)cr : (uint32_t)cr;
}

void ls_feed(struct linescan *ls, const char *buf, size_t n, line_fn fn, void *arg)
{
	const char *p = buf, *end = buf + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			ls_append(ls, p, (size_t)(end - p));
			return;
		}
		if (ls->len == 0) {
			/* Whole line inside this buffer (the common case): classify it
			 * in place instead of copying its head. */
			size_t n0 = (size_t)(nl - p), cr = 0;
			while (cr < n0 && p[n0 - 1 - cr] == '\r')
				cr++;
			size_t len0 = n0 - cr;
			fn(arg, p, len0 < LS_HEAD ? len0 : LS_HEAD, len0);
			p = nl + 1;
			continue;
		}
		ls_append(ls, p, (size_t)(nl - p));
		uint64_t len = ls->len - ls->cr_tail;
		size_t hl = ls->hlen < len ? ls->hlen : (size_t)len;
		fn(arg, ls->head, hl, len);
		ls_init(ls);
		p = nl + 1;
	}
}

/* The value of the 8 ASCII digits at P in *V, or false if one is not a
 * digit.  One 64-bit load: the first digit is the lowest byte.  A byte is a
 * digit when its high nibble is 3 and adding 6 leaves it 3.  Then digits are
 * joined in place: pairs (10 a + b) in every other byte, fours (100 ab + cd)
 * in 16-bit lanes, and the two fours (10000 abcd + efgh). */
static bool eight_digits(const char *p, uint64_t *v)
{
	const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull;
	uint64_t x;

	memcpy(&x, p, 8);
	if (((x & hi) | (((x + 0x0606060606060606ull) & hi) >> 4)) != 0x3333333333333333ull)
		return false;
	x -= 0x3030303030303030ull;
	x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFull;
	x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFull;
	*v = (x * 10000 + (x >> 32)) & 0xFFFFFFFFull;
	return true;
}

/* Parses an unsigned decimal at *p (within end); advances *p.  The harness
 * runs this twice per delivery (tens of millions a second at the ceiling):
 * eight digits at a time while there are, no isdigit() (a locale table per
 * call), and no overflow check for the first 19 digits, which always fit. */
static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p, *safe = end - q > 19 ? q + 19 : end;
	uint64_t v = 0, x;
	unsigned d;

	if (q >= end || (unsigned)(*q - '0') > 9)
		return false;
	for (int k = 0; k < 2 && end - q >= 8 && eight_digits(q, &x); k++) {
		v = v * 100000000u + x;
		q += 8;
	}
	while (q < safe && (d = (unsigned)(*q - '0')) <= 9) {
		v = v * 10 + d;
		q++;
	}
	while (q < end && (d = (unsigned)(*q - '0')) <= 9) {
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		q++;
	}
	*p = q;
	*out = v;
	return true;
}

void classify_line(const char *head, size_t hlen, uint64_t len, struct line_info *li)
{
	memset(li, 0, sizeof *li);
	const char *end = head + hlen;

	/* Fast path: a record at the start of its line, the bulk of all lines. */
	if (hlen > 4 && memcmp(head, REC_MAGIC, 4) == 0) {
		const char *q = head + 4;
		uint64_t seq, t;
		if (parse_u64(&q, end, &seq) && q < end && *q == ' ' && (q++, parse_u64(&q, end, &t)) &&
		    q < end && *q == ' ') {
			li->kind = LK_RECORD;
			li->seq = seq;
			li->t_ns = t;
			li->rec_len = len;
			return;
		}
	}

	/* A gap marker may share its line with the start of the next record when
	 * the skip lands on a line boundary, so look for it first and go on. */
	const char *g = memmem(head, hlen, GAP_PREFIX, sizeof GAP_PREFIX - 1);
	if (g) {
		const char *q = g + sizeof GAP_PREFIX - 1;
		uint64_t n;
		if (parse_u64(&q, end, &n) && (size_t)(end - q) >= sizeof GAP_SUFFIX - 1 &&
		    memcmp(q, GAP_SUFFIX, sizeof GAP_SUFFIX - 1) == 0) {
			li->has_gap = true;
			li->gap_bytes = n;
		}
	}

	const char *r = memmem(head, hlen, REC_MAGIC, sizeof REC_MAGIC - 1);
	if (r) {
		const char *q = r + sizeof REC_MAGIC - 1;
		uint64_t seq, t;
		if (parse_u64(&q, end, &seq) && q < end && *q == ' ' && (q++, parse_u64(&q, end, &t)) &&
		    q < end && *q == ' ') {
			li->kind = LK_RECORD;
			li->seq = seq;
			li->t_ns = t;
			li->rec_len = len - (uint64_t)(r - head);
			return;
		}
	}

	const char *e = memmem(head, hlen, END_MAGIC, sizeof END_MAGIC - 1);
	if (e) {
		const char *q = e + sizeof END_MAGIC - 1;
		uint64_t ph, nx;
		if (parse_u64(&q, end, &ph) && q < end && *q == ' ' && (q++, parse_u64(&q, end, &nx))) {
			li->kind = LK_END;
			li->phase = ph;
			li->next_seq = nx;
			return;
		}
	}

	if (hlen == 9 && memcmp(head, "subscribe", 9) == 0) {
		li->kind = LK_SUBSCRIBE;
		return;
	}
	if (memmem(head, hlen, SYNC_MAGIC, sizeof SYNC_MAGIC - 1)) {
		li->kind = LK_SYNC;
		return;
	}
	const char *s = memmem(head, hlen, "stats:", 6);
	if (s) {
		const char *c = memmem(s, (size_t)(end - s), "clients=", 8);
		if (c) {
			const char *q = c + 8;
			uint64_t n;
			if (parse_u64(&q, end, &n)) {
				li->kind = LK_STATS;
				li->clients = (long)n;
			}
		}
	}
}

int netstat_value(const char *text, const char *group, const char *field, uint64_t *out)
{
	size_t gl = strlen(group), fl = strlen(field);
	const char *p = text;

	while ((p = strstr(p, group))) {
		/* A group's name line starts the file or a line, and ends in ':'. */
		if ((p != text && p[-1] != '\n') || p[gl] != ':') {
			p += gl;
			continue;
		}
		const char *names = p + gl + 1, *nl = strchr(names, '\n');
		if (!nl)
			return -1;
		const char *vals = nl + 1;
		if (strncmp(vals, group, gl) || vals[gl] != ':')
			return -1;
		vals += gl + 1;
		/* Walk names and values together, one space-separated token each. */
		const char *n = names;
		for (;;) {
			while (*n == ' ')
				n++;
			while (*vals == ' ')
				vals++;
			if (n >= nl || *n == '\n' || !*vals || *vals == '\n')
				return -1;
			size_t k = strcspn(n, " \n");
			if (k == fl && !memcmp(n, field, fl)) {
				const char *q = vals;
				return parse_u64(&q, q + strcspn(q, " \n"), out) ? 0 : -1;
			}
			n += k;
			vals += strcspn(vals, " \n");
		}
	}
	return -1;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	/* Binary multiples, as the "1 KiB, 16 KiB" mean. */
	const char *u = end;
	uint64_t mul = 1;
	if (*u == 'k' || *u == 'K') {
		mul = 1024;
		u++;
	} else if (*u == 'm' || *u == 'M') {
		mul = 1024 * 1024;
		u++;
	}
	if (mul > 1 && (u[0] == 'i' || u[0] == 'I') && (u[1] == 'B' || u[1] == 'b'))
		u += 2;
	else if (*u == 'B' || *u == 'b')
		u++;
	if (*u)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

enum {
	O_LABEL = 256, O_PORT, O_CLIENTS, O_SIZE, O_READY, O_GO, O_SERVER_PID, O_WARM, O_RATE,
	O_SECS, O_TPUT, O_TPUT_START, O_TPUT_FACTOR, O_TPUT_SECS, O_TPUT_MAX, O_TPUT_STEPS,
	O_SLOW, O_STALL_FRAC, O_STALL_AT, O_STALL_SECS, O_SLOW_SECS, O_STALL_RCVBUF, O_TIMEOUT,
	O_BATCH, O_PAUSE, O_UNIX, O_TLS, O_TLS_CA, O_TLS_SUITES, O_STORM, O_SETTLE, O_PROBE_MS,
	O_IDLE, O_WARM_CLIENTS,
};

static const struct option longopts[] = {
	{"label", required_argument, 0, O_LABEL},
	{"port", required_argument, 0, O_PORT},
	{"clients", required_argument, 0, O_CLIENTS},
	{"size", required_argument, 0, O_SIZE},
	{"ready", required_argument, 0, O_READY},
	{"go", required_argument, 0, O_GO},
	{"server-pid", required_argument, 0, O_SERVER_PID},
	{"warm-secs", required_argument, 0, O_WARM},
	{"rate", required_argument, 0, O_RATE},
	{"secs", required_argument, 0, O_SECS},
	{"tput", no_argument, 0, O_TPUT},
	{"tput-start", required_argument, 0, O_TPUT_START},
	{"tput-factor", required_argument, 0, O_TPUT_FACTOR},
	{"tput-secs", required_argument, 0, O_TPUT_SECS},
	{"tput-max-deliv", required_argument, 0, O_TPUT_MAX},
	{"tput-max-steps", required_argument, 0, O_TPUT_STEPS},
	{"slow", no_argument, 0, O_SLOW},
	{"stall-frac", required_argument, 0, O_STALL_FRAC},
	{"stall-at", required_argument, 0, O_STALL_AT},
	{"stall-secs", required_argument, 0, O_STALL_SECS},
	{"slow-secs", required_argument, 0, O_SLOW_SECS},
	{"stall-rcvbuf", required_argument, 0, O_STALL_RCVBUF},
	{"timeout", required_argument, 0, O_TIMEOUT},
	{"connect-batch", required_argument, 0, O_BATCH},
	{"connect-pause-ms", required_argument, 0, O_PAUSE},
	{"unix", required_argument, 0, O_UNIX},
	{"tls", no_argument, 0, O_TLS},
	{"tls-ca", required_argument, 0, O_TLS_CA},
	{"tls-suites", required_argument, 0, O_TLS_SUITES},
	{"storm", no_argument, 0, O_STORM},
	{"settle-secs", required_argument, 0, O_SETTLE},
	{"probe-ms", required_argument, 0, O_PROBE_MS},
	{"idle", no_argument, 0, O_IDLE},
	{"warm-clients", required_argument, 0, O_WARM_CLIENTS},
	{0, 0, 0, 0},
};

int harness_parse_args(int argc, char **argv, struct harness_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->label = "?";
	o->clients = 1;
	o->size = 64;
	o->ready = READY_NONE;
	o->go = GO_CLIENT0;
	o->warm_secs = 0.5;
	o->lat_rate = 1000;
	o->lat_secs = 2;
	o->tput_start = 0;           /* 0 = twice the latency rate */
	o->tput_factor = 2;
	o->tput_secs = 1.5;
	o->tput_max_deliv = 2e6;
	o->tput_max_steps = 10;
	o->stall_frac = 0.01;
	o->stall_at = 2;
	o->stall_secs = 10;
	o->slow_secs = 15;
	o->stall_rcvbuf = 65536;
	o->timeout = 120;
	o->connect_batch = 256;
	o->tls_suites = TLS_SUITES_DEFAULT;
	o->settle_secs = 0.5;
	o->probe_ms = 10;
	o->warm_clients = 50;

	optind = 1;
	opterr = 0;
	int c;
	double d;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		const char *a = optarg;
		switch (c) {
		case O_LABEL: o->label = a; break;
		case O_PORT:
			if (num(a, 1, 65535, &d)) return errf(err, errlen, "--port: want 1..65535, got '%s'", a);
			o->port = (int)d; break;
		case O_CLIENTS:
			if (num(a, 1, 100000, &d) || d != (int)d)
				return errf(err, errlen, "--clients: want an integer 1..100000, got '%s'", a);
			o->clients = (int)d; break;
		case O_SIZE:
			if (parse_size(a, &o->size) || o->size < REC_MIN_SIZE || o->size > REC_MAX_SIZE)
				return errf(err, errlen, "--size: want %u..%u bytes (k/M suffix ok), got '%s'",
					    REC_MIN_SIZE, REC_MAX_SIZE, a);
			break;
		case O_READY:
			if (!strcmp(a, "none")) o->ready = READY_NONE;
			else if (!strcmp(a, "stats")) o->ready = READY_STATS;
			else if (!strcmp(a, "subscribe")) o->ready = READY_SUBSCRIBE;
			else if (!strcmp(a, "sync")) o->ready = READY_SYNC;
			else if (!strcmp(a, "first")) o->ready = READY_FIRST;
			else return errf(err, errlen, "--ready: want none|stats|subscribe|sync|first, got '%s'", a);
			break;
		case O_GO:
			if (!strcmp(a, "client0")) o->go = GO_CLIENT0;
			else if (!strcmp(a, "producer")) o->go = GO_PRODUCER;
			else return errf(err, errlen, "--go: want client0|producer, got '%s'", a);
			break;
		case O_SERVER_PID:
			if (num(a, 0, 1e9, &d)) return errf(err, errlen, "--server-pid: bad pid '%s'", a);
			o->server_pid = (pid_t)d; break;
		case O_WARM:
			if (num(a, 0, 60, &d)) return errf(err, errlen, "--warm-secs: want 0..60, got '%s'", a);
			o->warm_secs = d; break;
		case O_RATE:
			if (num(a, 0.01, 1e7, &d)) return errf(err, errlen, "--rate: want 0.01..1e7 records/s, got '%s'", a);
			o->lat_rate = d; break;
		case O_SECS:
			if (num(a, 0.1, 600, &d)) return errf(err, errlen, "--secs: want 0.1..600, got '%s'", a);
			o->lat_secs = d; break;
		case O_TPUT: o->tput = true; break;
		case O_TPUT_START:
			if (num(a, 0, 1e7, &d)) return errf(err, errlen, "--tput-start: want 0..1e7, got '%s'", a);
			o->tput_start = d; break;
		case O_TPUT_FACTOR:
			if (num(a, 1.05, 16, &d)) return errf(err, errlen, "--tput-factor: want 1.05..16, got '%s'", a);
			o->tput_factor = d; break;
		case O_TPUT_SECS:
			if (num(a, 0.1, 600, &d)) return errf(err, errlen, "--tput-secs: want 0.1..600, got '%s'", a);
			o->tput_secs = d; break;
		case O_TPUT_MAX:
			if (num(a, 1, 1e9, &d)) return errf(err, errlen, "--tput-max-deliv: want 1..1e9, got '%s'", a);
			o->tput_max_deliv = d; break;
		case O_TPUT_STEPS:
			if (num(a, 1, 100, &d)) return errf(err, errlen, "--tput-max-steps: want 1..100, got '%s'", a);
			o->tput_max_steps = (int)d; break;
		case O_SLOW: o->slow = true; break;
		case O_STALL_FRAC:
			if (num(a, 0, 0.5, &d)) return errf(err, errlen, "--stall-frac: want 0..0.5, got '%s'", a);
			o->stall_frac = d; break;
		case O_STALL_AT:
			if (num(a, 0, 600, &d)) return errf(err, errlen, "--stall-at: want 0..600, got '%s'", a);
			o->stall_at = d; break;
		case O_STALL_SECS:
			if (num(a, 0, 600, &d)) return errf(err, errlen, "--stall-secs: want 0..600, got '%s'", a);
			o->stall_secs = d; break;
		case O_SLOW_SECS:
			if (num(a, 0.1, 600, &d)) return errf(err, errlen, "--slow-secs: want 0.1..600, got '%s'", a);
			o->slow_secs = d; break;
		case O_STALL_RCVBUF:
			if (num(a, 0, 1 << 30, &d)) return errf(err, errlen, "--stall-rcvbuf: bad size '%s'", a);
			o->stall_rcvbuf = (int)d; break;
		case O_TIMEOUT:
			if (num(a, 1, 7200, &d)) return errf(err, errlen, "--timeout: want 1..7200 s, got '%s'", a);
			o->timeout = d; break;
		case O_BATCH:
			if (num(a, 1, 100000, &d)) return errf(err, errlen, "--connect-batch: want 1..100000, got '%s'", a);
			o->connect_batch = (int)d; break;
		case O_PAUSE:
			if (num(a, 0, 10000, &d)) return errf(err, errlen, "--connect-pause-ms: want 0..10000, got '%s'", a);
			o->connect_pause_ms = (int)d; break;
		case O_UNIX:
			/* sun_path holds 108 bytes including the NUL */
			if (!*a || strlen(a) > 107)
				return errf(err, errlen, "--unix: want a socket path of 1..107 bytes, got '%s'", a);
			o->unix_path = a; break;
		case O_TLS: o->tls = true; break;
		case O_TLS_CA: o->tls_ca = a; break;
		case O_TLS_SUITES:
			if (!*a) return errf(err, errlen, "--tls-suites: empty");
			o->tls_suites = a; break;
		case O_STORM: o->storm = true; break;
		case O_SETTLE:
			if (num(a, 0, 60, &d)) return errf(err, errlen, "--settle-secs: want 0..60, got '%s'", a);
			o->settle_secs = d; break;
		case O_PROBE_MS:
			if (num(a, 1, 1000, &d)) return errf(err, errlen, "--probe-ms: want 1..1000, got '%s'", a);
			o->probe_ms = (int)d; break;
		case O_IDLE: o->idle = true; break;
		case O_WARM_CLIENTS:
			if (num(a, 1, 100000, &d) || d != (int)d)
				return errf(err, errlen, "--warm-clients: want an integer 1..100000, got '%s'", a);
			o->warm_clients = (int)d; break;
		default:
			return errf(err, errlen, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (o->port == 0 && !o->unix_path)
		return errf(err, errlen, "--port or --unix is required");
	if (o->port && o->unix_path)
		return errf(err, errlen, "--port and --unix exclude each other");
	if (o->tls && !o->tls_ca)
		return errf(err, errlen, "--tls needs --tls-ca FILE (the server certificate to trust)");
	if (!o->tls && o->tls_ca)
		return errf(err, errlen, "--tls-ca without --tls");
	if (optind < argc && o->go != GO_PRODUCER)
		return errf(err, errlen, "unexpected argument '%s'", argv[optind]);
	o->producer_argv = optind < argc ? &argv[optind] : NULL;
	if (o->go == GO_PRODUCER && !o->producer_argv)
		return errf(err, errlen, "--go producer needs the producer command after --");
	if (o->storm + o->idle + o->slow + o->tput > 1)
		return errf(err, errlen, "--storm, --idle, --slow and --tput exclude each other");
	if (o->storm && o->tls)
		return errf(err, errlen, "--storm: TLS handshakes are not part of the join storm (use TCP or --unix)");
	if (o->storm && (o->ready == READY_NONE || o->ready == READY_STATS))
		return errf(err, errlen, "--storm needs a per-client registration signal: --ready first|subscribe|sync");
	if (o->idle && o->warm_clients >= o->clients)
		return errf(err, errlen, "--idle: --warm-clients (%d) must be below --clients (%d)",
			    o->warm_clients, o->clients);
	if (o->slow && o->stall_at + o->stall_secs >= o->slow_secs)
		return errf(err, errlen, "--slow-secs (%.1f) must exceed --stall-at + --stall-secs (%.1f)",
			    o->slow_secs, o->stall_at + o->stall_secs);
	return 0;
}
