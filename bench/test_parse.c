/* test_parse.c: cmocka tests of the harness's parsing: record format, the
 * per-client line scanner (split reads, "\r\n", long lines), line
 * classification (records, end markers, gap markers, stats, RESP framing),
 * command-line options and /proc/net/netstat counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

/* Collects classified lines from the scanner. */
struct seen {
	int n;
	struct line_info li[64];
	uint64_t len[64];
};

static void collect(void *arg, const char *head, size_t hlen, uint64_t len)
{
	struct seen *s = arg;
	if (s->n < 64) {
		classify_line(head, hlen, len, &s->li[s->n]);
		s->len[s->n] = len;
		s->n++;
	}
}

static void test_record_format(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(record_format(buf, 64, 42, 1234567890123ull), 64);
	assert_memory_equal(buf, "@RS 42 1234567890123 x", 22);
	assert_int_equal(buf[63], '\n');
	assert_int_equal(buf[62], 'x');
	assert_null(memchr(buf, '\n', 63));
	/* too small for two 20-digit numbers: refused rather than truncated */
	assert_int_equal(record_format(buf, 16, 1, 1), 0);
}

static void test_scan_roundtrip_split(void **state)
{
	(void)state;
	/* 3 records of 1 KiB through a pty ("\r\n"), fed 1..7 bytes at a time */
	size_t S = 1024;
	char *stream = malloc(3 * (S + 1));
	size_t len = 0;
	for (uint64_t i = 0; i < 3; i++) {
		record_format(stream + len, S, i, 1000 + i);
		stream[len + S - 1] = '\r';
		stream[len + S] = '\n';
		len += S + 1;
	}
	struct linescan ls;
	struct seen s = {0};
	ls_init(&ls);
	for (size_t off = 0, step = 1; off < len; off += step, step = step % 7 + 1)
		ls_feed(&ls, stream + off, off + step > len ? len - off : step, collect, &s);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s.li[i].kind, LK_RECORD);
		assert_int_equal(s.li[i].seq, (uint64_t)i);
		assert_int_equal(s.li[i].t_ns, 1000 + (uint64_t)i);
		assert_int_equal(s.li[i].rec_len, S - 1);   /* "\r" stripped */
	}
	free(stream);
}

static void test_scan_cr_split_across_reads(void **state)
{
	(void)state;
	struct linescan ls;
	struct seen s = {0};
	ls_init(&ls);
	ls_feed(&ls, "abc\r", 4, collect, &s);
	ls_feed(&ls, "\r", 1, collect, &s);
	ls_feed(&ls, "\n\n", 2, collect, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.len[0], 3);
	assert_int_equal(s.len[1], 0);
	/* a '\r' in the middle is data, not a line end */
	ls_feed(&ls, "a\rb\n", 4, collect, &s);
	assert_int_equal(s.len[2], 3);
}

static void test_classify_noise(void **state)
{
	(void)state;
	struct linescan ls;
	struct seen s = {0};
	const char *txt =
		"box\\root (tcp 127.0.0.1:40000) connected at Wed Dec 19 06:23:07 2018\r\n"
		"go 100 200 1\r\n"
		"ringside stats: clients=1000 sends=5 bytes_sent=10 gaps=0 copied=0\r\n"
		"[ringside: 123456 bytes skipped]\r\n"
		"@RE 3 4567\r\n"
		"subscribe\r\n"
		"@SYNC\n"
		"@RS garbage\n"
		"naive stats: clients=7 disconnected=0\n";
	ls_init(&ls);
	ls_feed(&ls, txt, strlen(txt), collect, &s);
	assert_int_equal(s.n, 9);
	assert_int_equal(s.li[0].kind, LK_OTHER);
	assert_false(s.li[0].has_gap);
	assert_int_equal(s.li[1].kind, LK_OTHER);
	assert_int_equal(s.li[2].kind, LK_STATS);
	assert_int_equal(s.li[2].clients, 1000);
	assert_int_equal(s.li[3].kind, LK_OTHER);
	assert_true(s.li[3].has_gap);
	assert_int_equal(s.li[3].gap_bytes, 123456);
	assert_int_equal(s.li[4].kind, LK_END);
	assert_int_equal(s.li[4].phase, 3);
	assert_int_equal(s.li[4].next_seq, 4567);
	assert_int_equal(s.li[5].kind, LK_SUBSCRIBE);
	assert_int_equal(s.li[6].kind, LK_SYNC);
	assert_int_equal(s.li[7].kind, LK_OTHER);    /* magic without numbers */
	assert_int_equal(s.li[8].kind, LK_STATS);
	assert_int_equal(s.li[8].clients, 7);
}

static void test_classify_resp_message(void **state)
{
	(void)state;
	/* Redis delivers the record inside RESP framing: the record is its own
	 * line, followed by the framing's "\r\n" as an empty line */
	char rec[64], msg[256];
	record_format(rec, 64, 9, 77);
	int m = snprintf(msg, sizeof msg, "*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$64\r\n%.*s\r\n", 64, rec);
	struct linescan ls;
	struct seen s = {0};
	ls_init(&ls);
	ls_feed(&ls, msg, (size_t)m, collect, &s);
	int recs = 0;
	for (int i = 0; i < s.n; i++)
		if (s.li[i].kind == LK_RECORD) {
			recs++;
			assert_int_equal(s.li[i].seq, 9);
			assert_int_equal(s.li[i].rec_len, 63);
		}
	assert_int_equal(recs, 1);
}

static void test_classify_gap_then_record(void **state)
{
	(void)state;
	/* a skip that lands on a line start can put the marker and the next
	 * record on one line: both must be seen, and the record's length is
	 * measured from its magic */
	char line[200];
	int h = snprintf(line, sizeof line, "[ringside: 4096 bytes skipped]");
	record_format(line + h, 64, 5, 6);
	struct line_info li;
	classify_line(line, (size_t)h + 63, (uint64_t)h + 63, &li);
	assert_true(li.has_gap);
	assert_int_equal(li.gap_bytes, 4096);
	assert_int_equal(li.kind, LK_RECORD);
	assert_int_equal(li.seq, 5);
	assert_int_equal(li.rec_len, 63);
	/* a truncated marker is not a gap */
	classify_line("[ringside: 12 bytes", 19, 19, &li);
	assert_false(li.has_gap);
}

static void test_long_line_head_only(void **state)
{
	(void)state;
	/* 16 KiB records: only LS_HEAD bytes are kept, the length is still exact */
	size_t S = 16384;
	char *r = malloc(S);
	record_format(r, S, 123, 456);
	struct linescan ls;
	struct seen s = {0};
	ls_init(&ls);
	ls_feed(&ls, r, S, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.li[0].kind, LK_RECORD);
	assert_int_equal(s.li[0].rec_len, S - 1);
	assert_true(ls.hlen == 0 && ls.len == 0);
	free(r);
}

static void test_parse_size(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("64", &v), 0);
	assert_int_equal(v, 64);
	assert_int_equal(parse_size("1k", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(parse_size("16KiB", &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(parse_size("2M", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(parse_size("100B", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_size("k", &v), -1);
	assert_int_equal(parse_size("12q", &v), -1);
	assert_int_equal(parse_size("-5", &v), -1);
	assert_int_equal(parse_size("1KiBx", &v), -1);
}

static int parse(struct harness_opts *o, char *err, const char *const *args)
{
	char *argv[64];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	return harness_parse_args(argc, argv, o, err, 256);
}

static void test_args_ok(void **state)
{
	(void)state;
	struct harness_opts o;
	char err[256];
	const char *a[] = {"fc", "--port", "7000", "--clients", "1000", "--size", "1KiB", "--ready", "stats",
			   "--rate", "20", "--secs", "3", "--tput", "--tput-factor", "1.5", "--label", "ringside",
			   "--server-pid", "1234", NULL};
	assert_int_equal(parse(&o, err, a), 0);
	assert_int_equal(o.port, 7000);
	assert_int_equal(o.clients, 1000);
	assert_int_equal(o.size, 1024);
	assert_int_equal(o.ready, READY_STATS);
	assert_int_equal(o.go, GO_CLIENT0);
	assert_true(o.lat_rate == 20 && o.lat_secs == 3 && o.tput && o.tput_factor == 1.5);
	assert_string_equal(o.label, "ringside");
	assert_int_equal(o.server_pid, 1234);
	assert_null(o.producer_argv);

	const char *b[] = {"fc", "--port", "6379", "--ready", "subscribe", "--go", "producer", "--",
			   "producer", "--out", "redis:6379", NULL};
	assert_int_equal(parse(&o, err, b), 0);
	assert_int_equal(o.go, GO_PRODUCER);
	assert_non_null(o.producer_argv);
	assert_string_equal(o.producer_argv[0], "producer");
	assert_string_equal(o.producer_argv[2], "redis:6379");
	assert_int_equal(o.clients, 1);   /* defaults restored between calls */
	assert_false(o.tput);
	assert_null(o.unix_path);
	assert_false(o.tls);
	assert_string_equal(o.tls_suites, TLS_SUITES_DEFAULT);
}

static void test_args_transport(void **state)
{
	(void)state;
	struct harness_opts o;
	char err[256];
	const char *u[] = {"fc", "--unix", "/tmp/x/sock", "--clients", "5", NULL};
	assert_int_equal(parse(&o, err, u), 0);
	assert_string_equal(o.unix_path, "/tmp/x/sock");
	assert_int_equal(o.port, 0);
	assert_false(o.tls);
	const char *t[] = {"fc", "--port", "443", "--tls", "--tls-ca", "c.pem", "--tls-suites",
			   "TLS_CHACHA20_POLY1305_SHA256", NULL};
	assert_int_equal(parse(&o, err, t), 0);
	assert_true(o.tls);
	assert_string_equal(o.tls_ca, "c.pem");
	assert_string_equal(o.tls_suites, "TLS_CHACHA20_POLY1305_SHA256");
	/* TLS over a Unix socket is allowed (ringside's spipe) */
	const char *ut[] = {"fc", "--unix", "/s", "--tls", "--tls-ca", "c.pem", NULL};
	assert_int_equal(parse(&o, err, ut), 0);
	assert_true(o.tls && o.unix_path);

	const char *both[] = {"fc", "--port", "1", "--unix", "/s", NULL};
	assert_int_equal(parse(&o, err, both), -1);
	assert_non_null(strstr(err, "exclude"));
	const char *noca[] = {"fc", "--port", "1", "--tls", NULL};
	assert_int_equal(parse(&o, err, noca), -1);
	assert_non_null(strstr(err, "--tls-ca"));
	const char *catls[] = {"fc", "--port", "1", "--tls-ca", "c.pem", NULL};
	assert_int_equal(parse(&o, err, catls), -1);
	char longp[200];
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = 0;
	const char *lp[] = {"fc", "--unix", longp, NULL};
	assert_int_equal(parse(&o, err, lp), -1);
	assert_non_null(strstr(err, "--unix"));
	const char *es[] = {"fc", "--port", "1", "--tls", "--tls-ca", "c", "--tls-suites", "", NULL};
	assert_int_equal(parse(&o, err, es), -1);
}

static void test_args_errors(void **state)
{
	(void)state;
	struct harness_opts o;
	char err[256];
	const char *nport[] = {"fc", "--clients", "3", NULL};
	assert_int_equal(parse(&o, err, nport), -1);
	assert_non_null(strstr(err, "--port or --unix"));
	const char *badn[] = {"fc", "--port", "1", "--clients", "0", NULL};
	assert_int_equal(parse(&o, err, badn), -1);
	assert_non_null(strstr(err, "--clients"));
	const char *bads[] = {"fc", "--port", "1", "--size", "8", NULL};
	assert_int_equal(parse(&o, err, bads), -1);
	assert_non_null(strstr(err, "--size"));
	const char *badr[] = {"fc", "--port", "1", "--ready", "maybe", NULL};
	assert_int_equal(parse(&o, err, badr), -1);
	const char *noprod[] = {"fc", "--port", "1", "--go", "producer", NULL};
	assert_int_equal(parse(&o, err, noprod), -1);
	assert_non_null(strstr(err, "producer"));
	const char *extra[] = {"fc", "--port", "1", "stray", NULL};
	assert_int_equal(parse(&o, err, extra), -1);
	const char *unk[] = {"fc", "--port", "1", "--bogus", NULL};
	assert_int_equal(parse(&o, err, unk), -1);
	assert_non_null(strstr(err, "--bogus"));
	const char *slow[] = {"fc", "--port", "1", "--slow", "--stall-at", "2", "--stall-secs", "10",
			      "--slow-secs", "11", NULL};
	assert_int_equal(parse(&o, err, slow), -1);
	assert_non_null(strstr(err, "--slow-secs"));
}

static void test_args_limit_modes(void **state)
{
	(void)state;
	struct harness_opts o;
	char err[256];
	const char *st[] = {"fc", "--port", "1", "--clients", "10000", "--storm", "--ready", "first",
			    "--settle-secs", "0.3", "--probe-ms", "20", NULL};
	assert_int_equal(parse(&o, err, st), 0);
	assert_true(o.storm && !o.idle);
	assert_int_equal(o.ready, READY_FIRST);
	assert_true(o.settle_secs == 0.3);
	assert_int_equal(o.probe_ms, 20);
	const char *id[] = {"fc", "--port", "1", "--clients", "100", "--idle", "--warm-clients", "20", NULL};
	assert_int_equal(parse(&o, err, id), 0);
	assert_true(o.idle && !o.storm);
	assert_int_equal(o.warm_clients, 20);
	assert_true(o.settle_secs == 0.5);   /* defaults restored */
	assert_int_equal(o.probe_ms, 10);

	/* A storm needs a signal per client: .stats counts, "none" says nothing. */
	const char *nosig[] = {"fc", "--port", "1", "--storm", "--ready", "stats", NULL};
	assert_int_equal(parse(&o, err, nosig), -1);
	assert_non_null(strstr(err, "registration signal"));
	const char *none[] = {"fc", "--port", "1", "--storm", NULL};
	assert_int_equal(parse(&o, err, none), -1);
	const char *tls[] = {"fc", "--port", "1", "--storm", "--ready", "first", "--tls", "--tls-ca", "c", NULL};
	assert_int_equal(parse(&o, err, tls), -1);
	assert_non_null(strstr(err, "TLS"));
	const char *two[] = {"fc", "--port", "1", "--storm", "--ready", "first", "--tput", NULL};
	assert_int_equal(parse(&o, err, two), -1);
	assert_non_null(strstr(err, "exclude"));
	const char *warm[] = {"fc", "--port", "1", "--clients", "50", "--idle", "--warm-clients", "50", NULL};
	assert_int_equal(parse(&o, err, warm), -1);
	assert_non_null(strstr(err, "--warm-clients"));
	const char *probe[] = {"fc", "--port", "1", "--probe-ms", "0", NULL};
	assert_int_equal(parse(&o, err, probe), -1);
}

/* Numbers at the edge of 64 bits: the fast path must not let an overflow
 * through, nor refuse the largest value. */
static void test_classify_u64_edges(void **state)
{
	(void)state;
	struct line_info li;
	const char *max = "@RS 18446744073709551615 1 xx";
	classify_line(max, strlen(max), strlen(max), &li);
	assert_int_equal(li.kind, LK_RECORD);
	assert_true(li.seq == UINT64_MAX);
	const char *over = "@RS 18446744073709551616 1 xx";
	classify_line(over, strlen(over), strlen(over), &li);
	assert_int_not_equal(li.kind, LK_RECORD);
	const char *big = "@RS 1 99999999999999999999 xx";
	classify_line(big, strlen(big), strlen(big), &li);
	assert_int_not_equal(li.kind, LK_RECORD);
	const char *nineteen = "@RS 9999999999999999999 1234567890123456789 xx";
	classify_line(nineteen, strlen(nineteen), strlen(nineteen), &li);
	assert_int_equal(li.kind, LK_RECORD);
	assert_true(li.seq == 9999999999999999999ull && li.t_ns == 1234567890123456789ull);
	/* eight at a time: runs of 8, 16 and 17 digits, and 8-byte windows that
	 * end in a byte just outside '0'..'9' (':' and '/') or hold a space */
	static const struct {
		const char *line;
		bool record;
		uint64_t seq, t;
	} cases[] = {
		{"@RS 12345678 87654321 x", true, 12345678, 87654321},
		{"@RS 1234567890123456 12345678901234567 x", true, 1234567890123456ull, 12345678901234567ull},
		{"@RS 1234567: 1 x", false, 0, 0},
		{"@RS 1234567/ 1 x", false, 0, 0},
		{"@RS 123 4567890 x", true, 123, 4567890},
		{"@RS 00000000000000000042 7 x", true, 42, 7},
		{"@RS 9876543210 0 x", true, 9876543210ull, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *l = cases[i].line;
		classify_line(l, strlen(l), strlen(l), &li);
		assert_int_equal(li.kind == LK_RECORD, cases[i].record);
		if (cases[i].record)
			assert_true(li.seq == cases[i].seq && li.t_ns == cases[i].t);
	}
	/* a digit run cut by the end of the kept head is a number that ends there */
	const char *cut = "@RS 12";
	classify_line(cut, 5, 6, &li);
	assert_int_not_equal(li.kind, LK_RECORD);
}

static void test_netstat_value(void **state)
{
	(void)state;
	const char *t =
		"TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPSynRetrans\n"
		"TcpExt: 3 0 4638 4640 3911\n"
		"IpExt: InNoRoutes ListenOverflows\n"
		"IpExt: 7 99\n";
	uint64_t v = 0;
	assert_int_equal(netstat_value(t, "TcpExt", "ListenOverflows", &v), 0);
	assert_int_equal(v, 4638);
	assert_int_equal(netstat_value(t, "TcpExt", "SyncookiesSent", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(netstat_value(t, "TcpExt", "TCPSynRetrans", &v), 0);
	assert_int_equal(v, 3911);
	/* the same name in another group is that group's */
	assert_int_equal(netstat_value(t, "IpExt", "ListenOverflows", &v), 0);
	assert_int_equal(v, 99);
	assert_int_equal(netstat_value(t, "TcpExt", "ListenDropsX", &v), -1);
	assert_int_equal(netstat_value(t, "Ext", "ListenOverflows", &v), -1);
	/* a names line without its values line */
	assert_int_equal(netstat_value("TcpExt: A B\n", "TcpExt", "B", &v), -1);
	assert_int_equal(netstat_value("TcpExt: A B\nTcpExt: 1\n", "TcpExt", "B", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_format),
		cmocka_unit_test(test_scan_roundtrip_split),
		cmocka_unit_test(test_scan_cr_split_across_reads),
		cmocka_unit_test(test_classify_noise),
		cmocka_unit_test(test_classify_resp_message),
		cmocka_unit_test(test_classify_gap_then_record),
		cmocka_unit_test(test_long_line_head_only),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_args_ok),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_transport),
		cmocka_unit_test(test_args_limit_modes),
		cmocka_unit_test(test_netstat_value),
		cmocka_unit_test(test_classify_u64_edges),
	};
	return cmocka_run_group_tests_name("bench_parse", tests, NULL, NULL);
}
