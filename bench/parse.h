/* parse.h: the harness's stream and command-line parsing, kept apart from its
 * event loop so both can be unit-tested (bench/test_parse.c).
 *
 * Records travel as text lines because, for ringside, the producer writes to a
 * pty (which turns "\n" into "\r\n" and would mangle binary):
 *     @RS <seq> <t_sched_ns> <padding 'x'...>\n      total S bytes incl. "\n"
 *     @RE <phase> <next_seq>\n                        end of a phase
 * Every other line (join notices, typed-command echo, RESP framing, stats,
 * gap markers) is classified or ignored.  Lines may end in "\n" or "\r\n". */
#ifndef BENCH_PARSE_H
#define BENCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REC_MAGIC   "@RS "
#define END_MAGIC   "@RE "
#define SYNC_MAGIC  "@SYNC"
#define GAP_PREFIX  "[ringside: "
#define GAP_SUFFIX  " bytes skipped]"
#define REC_MIN_SIZE 48       /* room for magic, two 20-digit numbers, spaces, "\n" */
#define REC_MAX_SIZE (1u << 20)

/* Formats one record of exactly size bytes (incl. the final "\n") into buf
 * (which must hold size bytes); returns size, or 0 if size is too small. */
size_t record_format(char *buf, size_t size, uint64_t seq, uint64_t t_ns);

/* ---- line scanner: O(1) memory per client whatever the record size ---- */
#define LS_HEAD 512           /* first bytes of a line kept (a full ringside stats line) */

struct linescan {
	uint64_t len;         /* bytes in the current line so far */
	uint32_t cr_tail;     /* trailing '\r' bytes of the current line so far */
	uint32_t hlen;        /* bytes kept in head (<= LS_HEAD) */
	char head[LS_HEAD];
};

/* Called per complete line: head = its first min(len, LS_HEAD) bytes,
 * len = line length without "\n" and without trailing "\r"s. */
typedef void (*line_fn)(void *arg, const char *head, size_t hlen, uint64_t len);

void ls_init(struct linescan *ls);
void ls_feed(struct linescan *ls, const char *buf, size_t n, line_fn fn, void *arg);

/* ---- line classification ---- */
enum line_kind {
	LK_OTHER = 0,
	LK_RECORD,            /* seq, t_ns, rec_len valid */
	LK_END,               /* phase, next_seq valid */
	LK_STATS,             /* clients valid ("... stats: ... clients=N ...") */
	LK_SUBSCRIBE,         /* Redis: the line "subscribe" of a SUBSCRIBE reply */
	LK_SYNC,              /* ncat readiness probe */
};

struct line_info {
	enum line_kind kind;
	uint64_t seq, t_ns;
	uint64_t rec_len;     /* bytes from the magic to the end of line (no EOL) */
	uint64_t phase, next_seq;
	long clients;
	bool has_gap;         /* a "[ringside: N bytes skipped]" marker is on the line */
	uint64_t gap_bytes;
};

void classify_line(const char *head, size_t hlen, uint64_t len, struct line_info *li);

/* ---- command line ---- */
/* How the harness tells that the server has registered a client:
 *   none       at once (the floor without --greet)
 *   stats      ringside's / the naive server's ".stats" says clients=N
 *   subscribe  Redis confirmed the client's SUBSCRIBE
 *   sync       ncat relayed client 0's "@SYNC" line to it
 *   first      the first byte from the server reached it (ringside's history,
 *              a greeting) */
enum ready_mode { READY_NONE, READY_STATS, READY_SUBSCRIBE, READY_SYNC, READY_FIRST };
enum go_mode { GO_CLIENT0, GO_PRODUCER };

struct harness_opts {
	const char *label;
	int port;
	int clients;
	uint64_t size;
	enum ready_mode ready;
	enum go_mode go;
	pid_t server_pid;         /* 0 = no server accounting */
	double warm_secs;         /* warm-up phase, discarded */
	double lat_rate;          /* records/s in latency mode */
	double lat_secs;
	bool tput;                /* throughput stepping after the latency phase */
	double tput_start;        /* first step, records/s */
	double tput_factor;
	double tput_secs;
	double tput_max_deliv;    /* stop stepping above this many deliveries/s offered */
	int tput_max_steps;
	bool slow;                /* slow-client scenario instead of lat/tput */
	double stall_frac, stall_at, stall_secs, slow_secs;
	int stall_rcvbuf;         /* SO_RCVBUF of stalled clients (0 = default) */
	double timeout;           /* hard bound on the whole run */
	int connect_batch;
	int connect_pause_ms;     /* pause between connect batches (tiny listen backlogs) */
	const char *unix_path;    /* connect to this Unix socket instead of 127.0.0.1:port */
	bool tls;                 /* TLS (OpenSSL) over the TCP or Unix stream */
	const char *tls_ca;       /* the server certificate the harness trusts (required with --tls) */
	const char *tls_suites;   /* TLS 1.3 suites offered, OpenSSL syntax */
	bool storm;               /* join storm instead of phases (storm.c) */
	double settle_secs;       /* storm: bytes still counted this long after the last registration */
	int probe_ms;             /* storm, ready sync: the probe's "@SYNC" interval */
	bool idle;                /* idle memory per client instead of phases */
	int warm_clients;         /* idle: connected first; RSS growth counts from them */
	char **producer_argv;     /* after "--", for GO_PRODUCER */
};

#define TLS_SUITES_DEFAULT "TLS_AES_128_GCM_SHA256"

/* Parses argv into o (defaults first).  Returns 0, or -1 with a message in err. */
int harness_parse_args(int argc, char **argv, struct harness_opts *o, char *err, size_t errlen);

/* One counter of /proc/net/netstat or /proc/net/snmp (TEXT: the file's
 * contents), e.g. group "TcpExt", field "ListenOverflows".  Each group is a
 * line of names followed by a line of values.  Returns 0, or -1 if absent. */
int netstat_value(const char *text, const char *group, const char *field, uint64_t *out);

/* "64", "1k", "1KiB", "16K", "2M" -> bytes.  Returns 0 or -1. */
int parse_size(const char *s, uint64_t *out);

#endif
