// SPDX-License-Identifier: MIT
/* Unit tests for src/nats_msg.c: the -publish/-edge spec (defaults, every key, every refusal),
 * subjects, and the three message kinds' headers round-tripping, with every malformed header
 * refused rather than half-read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/nats_msg.h"

static void test_conf_defaults(void **state)
{
	struct nats_conf c;
	char err[256];

	assert_int_equal(nats_conf_parse(&c, "nats://127.0.0.1:4222", err, sizeof(err)), 0);
	assert_string_equal(c.url, "nats://127.0.0.1:4222");
	assert_false(c.has_session);
	assert_int_equal(c.max_bytes, NATS_DEFAULT_MAX_BYTES);
	assert_int_equal(c.max_age_s, NATS_DEFAULT_MAX_AGE_S);
	/* Not given: an existing stream keeps its replicas. */
	assert_int_equal(c.replicas, 0);
	assert_string_equal(c.creds, "");
}

static void test_conf_every_key(void **state)
{
	struct nats_conf c;
	char err[256], shown[512];

	assert_int_equal(nats_conf_parse(&c, "nats://h:1,session=dbg-1,name=east,user=bob,"
					 "passfile=/p,ca=/ca.pem,maxbytes=2097152,maxage=60,"
					 "replicas=3", err, sizeof(err)), 0);
	assert_true(c.has_session);
	assert_string_equal(c.session, "dbg-1");
	assert_string_equal(c.name, "east");
	assert_string_equal(c.user, "bob");
	assert_string_equal(c.passfile, "/p");
	assert_string_equal(c.ca, "/ca.pem");
	assert_int_equal(c.max_bytes, 2097152);
	assert_int_equal(c.max_age_s, 60);
	assert_int_equal(c.replicas, 3);
	/* What may be shown names neither the user nor the files. */
	nats_conf_describe(&c, shown, sizeof(shown));
	assert_string_equal(shown, "nats://h:1 session dbg-1 (authenticated)");
	assert_int_equal(nats_conf_parse(&c, "tls://h:1,creds=/u.creds", err, sizeof(err)), 0);
	assert_string_equal(c.creds, "/u.creds");
	assert_int_equal(nats_conf_parse(&c, "nats://h:1,replicas=1", err, sizeof(err)), 0);
	assert_int_equal(c.replicas, 1);
	assert_int_equal(nats_conf_parse(&c, "nats://h:1,REPLICAS=5", err, sizeof(err)), 0);
	assert_int_equal(c.replicas, 5);
}

static void test_conf_refusals(void **state)
{
	static const struct {
		const char *spec, *why;
	} bad[] = {
		{ "127.0.0.1:4222", "expected nats://" },
		{ "nats://h", "port from 1 to 65535" },
		{ "nats://h:0", "port from 1 to 65535" },
		{ "nats://h:70000", "port from 1 to 65535" },
		{ "nats://h:12x", "port from 1 to 65535" },
		{ "nats://u:pw@h:1", "no user or password in the address" },
		{ "nats://h:1,session=a.b", "session= takes" },
		{ "nats://h:1,session=", "session= takes" },
		{ "nats://h:1,session=a*", "session= takes" },
		{ "nats://h:1,name=x y", "name= takes" },
		{ "nats://h:1,password=x", "passfile=FILE" },
		{ "nats://h:1,user=u", "user= needs passfile" },
		{ "nats://h:1,passfile=/p", "passfile= needs user" },
		{ "nats://h:1,creds=/c,user=u,passfile=/p", "not both" },
		{ "nats://h:1,maxbytes=10", "maxbytes=" },
		{ "nats://h:1,maxage=0", "maxage=" },
		{ "nats://h:1,maxage=99999999999999999999999", "maxage=" },
		{ "nats://h:1,replicas=0", "replicas= takes a number from 1 to 5" },
		{ "nats://h:1,replicas=6", "replicas= takes a number from 1 to 5" },
		{ "nats://h:1,replicas=", "replicas= takes" },
		{ "nats://h:1,replicas=-1", "replicas= takes" },
		{ "nats://h:1,replicas=3x", "replicas= takes" },
		{ "nats://h:1,bogus=1", "unknown key 'bogus'" },
		{ "nats://h:1,session", "KEY=VALUE" },
		/* What was typed is quoted with its control bytes shown as
		 * '?': the error stays one line (found by fuzz_config). */
		{ "nats://h:1,a\nb\x1b=1", "unknown key 'a?b?'" },
	};
	struct nats_conf c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nats_conf_parse(&c, bad[i].spec, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: said '%s', expected '%s'", bad[i].spec, err, bad[i].why);
	}
}

static void test_names(void **state)
{
	char out[NATS_NAME_MAX + 1];
	char longname[200];

	assert_true(nats_name_ok("a"));
	assert_true(nats_name_ok("Ab_9-z"));
	assert_false(nats_name_ok(""));
	assert_false(nats_name_ok("a.b"));
	assert_false(nats_name_ok("a>"));
	nats_name_from("box.example-1/x", out, sizeof(out));
	assert_string_equal(out, "box_example-1_x");
	assert_true(nats_name_ok(out));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	nats_name_from(longname, out, sizeof(out));
	assert_int_equal(strlen(out), NATS_NAME_MAX);
	assert_true(nats_name_ok(out));
}

static void test_subjects(void **state)
{
	struct nats_subjects s;

	nats_subjects_of("dbg", &s);
	assert_string_equal(s.stream, "RINGSIDE_dbg");
	assert_string_equal(s.out, "ringside.dbg.out");
	assert_string_equal(s.in, "ringside.dbg.in");
	assert_string_equal(s.presence, "ringside.dbg.presence.v2");
	assert_string_equal(s.presence_v1, "ringside.dbg.presence");
	assert_string_equal(s.ask, "ringside.dbg.presence.v2.ask");
}

static const uint8_t SID[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xff };

static void test_record_round_trip(void **state)
{
	static const enum nats_kind kinds[] = { NATS_OUTPUT, NATS_NOTICE, NATS_TYPED };
	struct nats_rec r = { 0 }, back;
	struct nats_hdrs h;
	char err[128];

	memcpy(r.session, SID, 16);
	for (size_t i = 0; i < 3; i++) {
		r.kind = kinds[i];
		r.offset = 1234567890123ull;
		r.end = r.offset + 10;
		assert_int_equal(nats_rec_encode(&r, 10, &h), 0);
		assert_string_equal(nats_hdr_get(h.h, h.n, "nats-msg-id"),
				    "deadbeef0102030405060708090a0bff-1234567890123");
		assert_int_equal(nats_rec_decode(&back, h.h, h.n, 10, err, sizeof(err)), 0);
		assert_int_equal(back.kind, kinds[i]);
		assert_int_equal(back.offset, r.offset);
		assert_int_equal(back.end, r.offset + 10);
		assert_memory_equal(back.session, SID, 16);
	}
	/* The data's length decides the end, not a header. */
	r.kind = NATS_OUTPUT;
	r.end = r.offset + 3;
	assert_int_equal(nats_rec_encode(&r, 10, &h), -EINVAL);
}

static void test_gap_and_state(void **state)
{
	struct nats_rec r = { .kind = NATS_GAP, .offset = 100, .end = 5000 }, back;
	struct nats_hdrs h;
	char err[128];

	memcpy(r.session, SID, 16);
	assert_int_equal(nats_rec_encode(&r, 0, &h), 0);
	assert_string_equal(nats_hdr_get(h.h, h.n, "Ringside-End"), "5000");
	assert_int_equal(nats_rec_decode(&back, h.h, h.n, 0, err, sizeof(err)), 0);
	assert_int_equal(back.kind, NATS_GAP);
	assert_int_equal(back.end, 5000);
	/* A gap with data, or going nowhere, is refused either way. */
	assert_int_equal(nats_rec_decode(&back, h.h, h.n, 5, err, sizeof(err)), -EINVAL);
	r.end = 100;
	assert_int_equal(nats_rec_encode(&r, 0, &h), -EINVAL);

	memset(&r, 0, sizeof(r));
	memcpy(r.session, SID, 16);
	r.kind = NATS_STATE;
	r.offset = r.end = 77;
	strcpy(r.program, "gdb");
	assert_int_equal(nats_rec_encode(&r, 0, &h), 0);
	assert_string_equal(nats_hdr_get(h.h, h.n, "Nats-Msg-Id"),
			    "deadbeef0102030405060708090a0bff-77-start");
	assert_int_equal(nats_rec_decode(&back, h.h, h.n, 0, err, sizeof(err)), 0);
	assert_false(back.ended);
	assert_string_equal(back.program, "gdb");
	r.ended = true;
	r.status = 3;
	assert_int_equal(nats_rec_encode(&r, 0, &h), 0);
	assert_string_equal(nats_hdr_get(h.h, h.n, "Ringside-State"), "ended 3");
	/* The end and the start at one offset are two messages, not a duplicate. */
	assert_string_equal(nats_hdr_get(h.h, h.n, "Nats-Msg-Id"),
			    "deadbeef0102030405060708090a0bff-77-end");
	assert_int_equal(nats_rec_decode(&back, h.h, h.n, 0, err, sizeof(err)), 0);
	assert_true(back.ended);
	assert_int_equal(back.status, 3);
}

static void test_record_refusals(void **state)
{
	static const struct {
		const char *session, *kind, *offset, *why;
	} bad[] = {
		{ NULL, "output", "1", "Ringside-Session" },
		{ "deadbeef", "output", "1", "Ringside-Session" },
		{ "zzadbeef0102030405060708090a0bff", "output", "1", "Ringside-Session" },
		{ "deadbeef0102030405060708090a0bff", "bytes", "1", "Ringside-Kind" },
		{ "deadbeef0102030405060708090a0bff", NULL, "1", "Ringside-Kind" },
		{ "deadbeef0102030405060708090a0bff", "output", "-1", "Ringside-Offset" },
		{ "deadbeef0102030405060708090a0bff", "output", "", "Ringside-Offset" },
		{ "deadbeef0102030405060708090a0bff", "output", "99999999999999999999",
		  "Ringside-Offset" },
		/* Offsets stay below 2^62, so that offset + length never wraps. */
		{ "deadbeef0102030405060708090a0bff", "output", "4611686018427387905",
		  "Ringside-Offset" },
		{ "deadbeef0102030405060708090a0bff", "output", "1x", "Ringside-Offset" },
		{ "deadbeef0102030405060708090a0bff", "state", "1", "Ringside-State" },
	};
	struct nats_rec r;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nats_hdr h[3] = {
			{ "Ringside-Session", bad[i].session },
			{ "Ringside-Kind", bad[i].kind },
			{ "Ringside-Offset", bad[i].offset },
		};

		err[0] = '\0';
		assert_int_equal(nats_rec_decode(&r, h, 3, 0, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: said '%s'", i, err);
	}
	{
		struct nats_hdr h[3] = {
			{ "Ringside-Session", "deadbeef0102030405060708090a0bff" },
			{ "Ringside-Kind", "output" },
			{ "Ringside-Offset", "5" },
		};

		assert_int_equal(nats_rec_decode(&r, h, 3, NATS_REC_MAX + 1, err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(nats_rec_decode(&r, h, 3, NATS_REC_MAX, err, sizeof(err)), 0);
	}
}

static void test_input_round_trip(void **state)
{
	struct nats_input in = { 0 }, back;
	struct nats_hdrs h;
	char err[128];

	memcpy(in.session, SID, 16);
	strcpy(in.who, "BOX\\bob (tcp 10.1.2.3:5555)");
	strcpy(in.edge, "east");
	assert_int_equal(nats_input_encode(&in, &h), 0);
	assert_int_equal(nats_input_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_string_equal(back.who, in.who);
	assert_string_equal(back.edge, "east");
	assert_false(back.readonly);
	assert_false(back.interrupt);
	in.readonly = in.interrupt = true;
	assert_int_equal(nats_input_encode(&in, &h), 0);
	assert_int_equal(nats_input_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_true(back.readonly);
	assert_true(back.interrupt);
}

static void test_input_refusals(void **state)
{
	struct nats_hdr h[5] = {
		{ "Ringside-Session", "deadbeef0102030405060708090a0bff" },
		{ "Ringside-Kind", "line" },
		{ "Ringside-Who", "bob" },
		{ "Ringside-Edge", "east" },
		{ "Ringside-Role", "read-write" },
	};
	struct nats_input in;
	char err[128];

	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), 0);
	assert_false(in.readonly);
	/* Without a role, or with any other, it is read-only. */
	assert_int_equal(nats_input_decode(&in, h, 4, err, sizeof(err)), 0);
	assert_true(in.readonly);
	h[4].value = "READ-WRITE";
	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), 0);
	assert_true(in.readonly);
	h[4].value = "read-write";
	/* A name shown to everyone carries no control bytes. */
	h[2].value = "bob\033[2J";
	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), -EINVAL);
	h[2].value = "";
	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), -EINVAL);
	h[2].value = "bob";
	h[3].value = "a.b";
	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), -EINVAL);
	h[3].value = "east";
	h[1].value = "shell";
	assert_int_equal(nats_input_decode(&in, h, 5, err, sizeof(err)), -EINVAL);
}

struct seen {
	int n;
	struct nats_presence_entry e[4];
};

static void collect(void *arg, const struct nats_presence_entry *e)
{
	struct seen *s = arg;

	if (s->n < 4)
		s->e[s->n] = *e;
	s->n++;
}

static void test_presence_lines(void **state)
{
	struct nats_presence_entry e = { .id = 7, .native = true };
	struct seen s = { 0 };
	char buf[256];
	int n;

	strcpy(e.who, "BOX\\bob (tcp 1.2.3.4:5)");
	n = nats_presence_line(&e, false, buf, sizeof(buf));
	assert_string_equal(buf, "7 rw native BOX\\bob (tcp 1.2.3.4:5)\n");
	e.id = 12;
	e.readonly = true;
	e.native = false;
	strcpy(e.who, "eve");
	assert_int_equal(nats_presence_line(&e, false, buf + n, sizeof(buf) - (size_t)n), 14);
	assert_int_equal(nats_presence_parse(buf, strlen(buf), false, collect, &s), 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.e[0].id, 7);
	assert_true(s.e[0].native);
	assert_false(s.e[0].readonly);
	assert_string_equal(s.e[0].who, "BOX\\bob (tcp 1.2.3.4:5)");
	assert_int_equal(s.e[1].id, 12);
	assert_true(s.e[1].readonly);
	assert_string_equal(s.e[1].who, "eve");
	/* A snapshot line is no delta line, and the other way round. */
	assert_int_equal(nats_presence_parse(buf, strlen(buf), true, NULL, NULL), -EINVAL);

	/* Deltas: a join carries the entry, a leave only the id. */
	n = nats_presence_line(&e, true, buf, sizeof(buf));
	assert_string_equal(buf, "+12 ro raw eve\n");
	e.leave = true;
	assert_int_equal(nats_presence_line(&e, true, buf + n, sizeof(buf) - (size_t)n), 4);
	assert_string_equal(buf, "+12 ro raw eve\n-12\n");
	assert_int_equal(nats_presence_line(&e, false, buf, sizeof(buf)), -EINVAL);
	e.id = 0;
	assert_int_equal(nats_presence_line(&e, true, buf, sizeof(buf)), -EINVAL);
	memset(&s, 0, sizeof(s));
	assert_int_equal(nats_presence_parse("+12 ro raw eve\n-12\n", 19, true, collect, &s), 2);
	assert_false(s.e[0].leave);
	assert_true(s.e[1].leave);
	assert_int_equal(s.e[1].id, 12);
	assert_int_equal(nats_presence_parse("", 0, true, NULL, NULL), 0);

	/* Malformed anywhere: refused whole, and nothing was called. */
	static const char *const bad_snap[] = {
		"1 rw raw x", "1 xx raw x\n", "1 rw odd x\n", "1 rw raw \n", "1 rw raw a\033b\n",
		"rw raw x\n", "0 rw raw x\n", "x1 rw raw x\n", "1rw raw x\n",
		"99999999999999999999 rw raw x\n", "1 rw raw ok\n2 rw raw a\177\n",
	};
	static const char *const bad_delta[] = {
		"12 rw raw x\n", "+12\n", "-12 rw raw x\n", "-\n", "-0\n", "*1 rw raw x\n",
		"+1 rw raw ok\n-x\n", "-1",
	};
	for (size_t i = 0; i < sizeof(bad_snap) / sizeof(bad_snap[0]); i++) {
		memset(&s, 0, sizeof(s));
		if (nats_presence_parse(bad_snap[i], strlen(bad_snap[i]), false, collect, &s) !=
		    -EINVAL || s.n)
			fail_msg("snapshot line accepted: %s", bad_snap[i]);
	}
	for (size_t i = 0; i < sizeof(bad_delta) / sizeof(bad_delta[0]); i++) {
		memset(&s, 0, sizeof(s));
		if (nats_presence_parse(bad_delta[i], strlen(bad_delta[i]), true, collect, &s) !=
		    -EINVAL || s.n)
			fail_msg("delta line accepted: %s", bad_delta[i]);
	}
	assert_int_equal(nats_presence_parse("1 rw raw a\0b\n", 13, false, NULL, NULL), -EINVAL);
}

static void test_presence_headers(void **state)
{
	struct nats_pres m = {
		.kind = NATS_PRES_SNAPSHOT, .epoch = 0xfeedULL << 40, .seq = 41, .count = 70000,
		.part = 2, .parts = 3,
	}, back;
	struct nats_hdrs h;
	struct nats_hdr copy[NATS_HDR_MAX];
	char err[256];

	memcpy(m.session, SID, 16);
	strcpy(m.edge, "east");
	assert_int_equal(nats_pres_encode(&m, &h), 0);
	assert_string_equal(nats_hdr_get(h.h, h.n, "Ringside-Presence"), "2");
	assert_string_equal(nats_hdr_get(h.h, h.n, "Ringside-Epoch"), "00feed0000000000");
	assert_int_equal(nats_pres_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_int_equal(back.kind, NATS_PRES_SNAPSHOT);
	assert_memory_equal(back.session, SID, 16);
	assert_string_equal(back.edge, "east");
	assert_true(back.epoch == m.epoch);
	assert_int_equal(back.seq, 41);
	assert_int_equal(back.count, 70000);
	assert_int_equal(back.part, 2);
	assert_int_equal(back.parts, 3);
	/* Each kind round-trips; a heartbeat has no parts, an ask no numbers. */
	m.kind = NATS_PRES_HEARTBEAT;
	assert_int_equal(nats_pres_encode(&m, &h), 0);
	assert_null(nats_hdr_get(h.h, h.n, "Ringside-Part"));
	assert_int_equal(nats_pres_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_int_equal(back.kind, NATS_PRES_HEARTBEAT);
	assert_int_equal(back.count, 70000);
	m.kind = NATS_PRES_ASK;
	assert_int_equal(nats_pres_encode(&m, &h), 0);
	assert_null(nats_hdr_get(h.h, h.n, "Ringside-Seq"));
	assert_int_equal(nats_pres_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_int_equal(back.kind, NATS_PRES_ASK);
	assert_string_equal(back.edge, "east");
	m.kind = NATS_PRES_DELTA;
	assert_int_equal(nats_pres_encode(&m, &h), 0);
	assert_int_equal(nats_pres_decode(&back, h.h, h.n, err, sizeof(err)), 0);
	assert_int_equal(back.kind, NATS_PRES_DELTA);
	assert_int_equal(back.seq, 41);

	/* What cannot be encoded. */
	m.epoch = 0;
	assert_int_equal(nats_pres_encode(&m, &h), -EINVAL);
	m.epoch = 1;
	strcpy(m.edge, "a.b");
	assert_int_equal(nats_pres_encode(&m, &h), -EINVAL);
	strcpy(m.edge, "east");
	m.kind = NATS_PRES_SNAPSHOT;
	m.part = 3;
	assert_int_equal(nats_pres_encode(&m, &h), -EINVAL);
	m.part = 0;
	m.parts = NATS_PRES_PARTS_MAX + 1;
	assert_int_equal(nats_pres_encode(&m, &h), -EINVAL);
	m.parts = 1;

	/* Refusals, each named; version mismatches first of all. */
	assert_int_equal(nats_pres_encode(&m, &h), 0);
	static const struct {
		const char *key, *value, *why;
	} bad[] = {
		{ "Ringside-Presence", NULL, "presence version 1" },
		{ "Ringside-Presence", "3", "presence version 3 (this ringside speaks 2)" },
		{ "Ringside-Presence", "02", "presence version 02" },
		{ "Ringside-Session", "xyz", "Ringside-Session" },
		{ "Ringside-Kind", "list", "Ringside-Kind" },
		{ "Ringside-Edge", "a b", "Ringside-Edge" },
		{ "Ringside-Epoch", "0000000000000000", "Ringside-Epoch" },
		{ "Ringside-Epoch", "12", "Ringside-Epoch" },
		{ "Ringside-Epoch", "000000000000000g", "Ringside-Epoch" },
		{ "Ringside-Seq", "-1", "Ringside-Seq" },
		{ "Ringside-Seq", NULL, "Ringside-Seq" },
		{ "Ringside-Count", "16777217", "Ringside-Count" },
		{ "Ringside-Parts", "0", "Ringside-Part" },
		{ "Ringside-Parts", "4097", "Ringside-Part" },
		{ "Ringside-Part", "1", "Ringside-Part" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned n = 0;

		for (unsigned k = 0; k < h.n; k++) {
			if (strcasecmp(h.h[k].key, bad[i].key) == 0) {
				if (!bad[i].value)
					continue;
				copy[n].key = h.h[k].key;
				copy[n++].value = bad[i].value;
			} else {
				copy[n++] = h.h[k];
			}
		}
		err[0] = '\0';
		assert_int_equal(nats_pres_decode(&back, copy, n, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: %s: said '%s', expected '%s'", bad[i].key,
				 bad[i].value ? bad[i].value : "(none)", err, bad[i].why);
	}
}

static void test_header_values_are_one_line(void **state)
{
	struct nats_input in = { 0 };
	struct nats_hdrs h;

	strcpy(in.who, "bob\r\nRingside-Role: read-write");
	strcpy(in.edge, "east");
	assert_int_equal(nats_input_encode(&in, &h), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_defaults),
		cmocka_unit_test(test_conf_every_key),
		cmocka_unit_test(test_conf_refusals),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_gap_and_state),
		cmocka_unit_test(test_record_refusals),
		cmocka_unit_test(test_input_round_trip),
		cmocka_unit_test(test_input_refusals),
		cmocka_unit_test(test_presence_lines),
		cmocka_unit_test(test_presence_headers),
		cmocka_unit_test(test_header_values_are_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
