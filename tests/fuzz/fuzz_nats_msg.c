// SPDX-License-Identifier: MIT
/* libFuzzer target for src/nats_msg.c and src/nats_presence.c: what comes over NATS (headers
 * and data of records, input lines and presence messages, from anyone who may publish in the
 * account) and the -publish/-edge spec.  The input is "Key: Value" lines, an empty line, then
 * the data; the first line is also tried as a spec.  Whatever is accepted must be within its
 * rules, and a record, input or presence message accepted must encode back to headers that
 * decode to the same thing.  Accepted presence messages are also fed, with the data, to an
 * origin's state kept across inputs, whose picture must stay consistent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/nats_msg.h"
#include "src/nats_presence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();					\
		}							\
	} while (0)

static void entry(void *arg, const struct nats_presence_entry *e)
{
	size_t *n = arg;

	CHECK(e->id >= 1);
	CHECK(memchr(e->who, '\0', sizeof(e->who)) != NULL);
	CHECK(e->leave ? e->who[0] == '\0' : e->who[0] != '\0');
	for (const char *p = e->who; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	(*n)++;
}

static void member(void *arg, const char *edge, const struct nats_pres_member *m)
{
	CHECK(nats_name_ok(edge) && m->id >= 1 && m->who && m->who[0]);
}

/* One origin's picture across inputs, as a long-lived origin's is; bounded by the clock. */
static struct nats_pres_origin origin;
static bool origin_made;
static uint32_t clock_now;

static void check_presence(const struct nats_hdr *h, unsigned n, const char *body, size_t len)
{
	struct nats_pres m, back;
	struct nats_hdrs out;
	char err[256];

	if (nats_pres_decode(&m, h, n, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(nats_name_ok(m.edge) && m.kind <= NATS_PRES_ASK);
	CHECK(m.kind == NATS_PRES_ASK || m.epoch != 0);
	CHECK(m.kind != NATS_PRES_SNAPSHOT || m.part < m.parts);
	CHECK(nats_pres_encode(&m, &out) == 0);
	CHECK(nats_pres_decode(&back, out.h, out.n, err, sizeof(err)) == 0);
	CHECK(back.kind == m.kind && back.epoch == m.epoch && back.seq == m.seq &&
	      back.count == m.count && back.part == m.part && back.parts == m.parts &&
	      strcmp(back.edge, m.edge) == 0 && memcmp(back.session, m.session, 16) == 0);
	if (!origin_made) {
		nats_pres_origin_init(&origin, m.session);
		origin_made = true;
	}
	/* Every message is for the origin's session, so that it is heard. */
	memcpy(m.session, origin.session, 16);
	nats_pres_origin_hear(&origin, &m, body, len, clock_now);
	clock_now += 1;
	if (nats_pres_origin_expire(&origin, clock_now) || origin.nedges > 64)
		nats_pres_origin_free(&origin);
	nats_pres_origin_each(&origin, member, NULL);
	for (unsigned i = 0; i < origin.nedges; i++) {
		const struct nats_pres_edge *e = &origin.edges[i];

		CHECK(e->members.n <= e->members.used && e->members.used <= e->members.cap);
	}
}

static void check_conf(const char *text)
{
	struct nats_conf c;
	char err[256];

	if (nats_conf_parse(&c, text, err, sizeof(err)) < 0) {
		CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		return;
	}
	CHECK(memchr(c.url, '\0', sizeof(c.url)) != NULL);
	CHECK(!c.has_session || nats_name_ok(c.session));
	CHECK(!c.name[0] || nats_name_ok(c.name));
	CHECK(!c.user[0] == !c.passfile[0]);
	CHECK(c.max_bytes >= (1u << 20) && c.max_age_s >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *p, *body;
	struct nats_hdr h[NATS_HDR_MAX + 4];
	unsigned n = 0;
	size_t len, count = 0;
	struct nats_rec r, back;
	struct nats_input in, in2;
	struct nats_hdrs out;
	char err[256];
	int res;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* The first line as a spec. */
	p = strchr(text, '\n');
	if (p) {
		*p = '\0';
		check_conf(text);
		*p = '\n';
	} else {
		check_conf(text);
	}
	/* Headers up to an empty line; the rest is data. */
	p = text;
	body = text + strlen(text);
	while (*p && n < sizeof(h) / sizeof(h[0])) {
		char *nl = strchr(p, '\n'), *colon;

		if (!nl)
			break;
		*nl = '\0';
		if (p == nl) {
			body = nl + 1;
			break;
		}
		colon = strstr(p, ": ");
		if (colon) {
			*colon = '\0';
			h[n].key = p;
			h[n].value = colon + 2;
			n++;
		}
		p = nl + 1;
	}
	len = (size_t)(text + size - body);
	if (body > text + size)
		len = 0;

	res = nats_rec_decode(&r, h, n, len, err, sizeof(err));
	if (res == 0) {
		CHECK(r.kind <= NATS_GAP);
		CHECK(r.end >= r.offset);
		CHECK(r.kind == NATS_GAP ? r.end > r.offset && len == 0 : r.end == r.offset + len);
		CHECK(memchr(r.program, '\0', sizeof(r.program)) != NULL);
		if (nats_rec_encode(&r, len, &out) == 0) {
			CHECK(nats_rec_decode(&back, out.h, out.n, len, err, sizeof(err)) == 0);
			CHECK(back.kind == r.kind && back.offset == r.offset && back.end == r.end);
			CHECK(memcmp(back.session, r.session, 16) == 0);
			CHECK(back.ended == r.ended && back.status == r.status);
		}
	} else {
		CHECK(err[0] != '\0');
	}
	if (nats_input_decode(&in, h, n, err, sizeof(err)) == 0) {
		CHECK(in.who[0] && nats_name_ok(in.edge));
		for (const char *q = in.who; *q; q++)
			CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
		CHECK(nats_input_encode(&in, &out) == 0);
		CHECK(nats_input_decode(&in2, out.h, out.n, err, sizeof(err)) == 0);
		CHECK(strcmp(in.who, in2.who) == 0 && in.readonly == in2.readonly &&
		      in.interrupt == in2.interrupt);
	}
	check_presence(h, n, body, len);
	res = nats_presence_parse(body, len, false, entry, &count);
	CHECK(res < 0 || (size_t)res == count);
	count = 0;
	res = nats_presence_parse(body, len, true, entry, &count);
	CHECK(res < 0 || (size_t)res == count);
	free(text);
	return 0;
}
