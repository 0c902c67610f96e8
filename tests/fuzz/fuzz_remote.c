/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the client's side of the native protocol
 * (src/remote_link.c): arbitrary server bytes, in pieces, against the
 * handshake state machine and the record checks.  The first byte picks
 * whether a password is held or can be asked for, whether the connection
 * breaks and resumes halfway, and the piece size.  Checked on every call
 * out of the link: nothing from the server is shown before the link is
 * live, text from others is shown without a control character, a
 * connection sends at most one PROOF and only after a CHALLENGE, and
 * memory is released (ASan and LeakSanitizer watch).  In relay mode (a
 * repeater's connection, protocol version 3: the first byte's two low bits
 * both set, a combination that means nothing more than "password held"
 * otherwise) the transcript comes out as records that continue exactly
 * where the last one (or a gap) ended, only while live, and nothing of it
 * is shown.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/proto.h"
#include "src/remote_link.h"
#include "src/visible.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct harness {
	struct remote_link l;
	bool give_password;
	unsigned proofs;	/* on this connection */
	size_t sent;		/* bytes on this connection */
	uint8_t hdr[PROTO_HEADER_SIZE];	/* parsing what the link sends */
	size_t hdr_got, skip;
	uint64_t mirror_end;	/* relay: where the next record must start */
};

static struct harness *of(struct remote_link *l)
{
	return (struct harness *)((char *)l - offsetof(struct harness, l));
}

/* Follow the record boundaries of what the link sends. */
static void op_send(struct remote_link *l, const uint8_t *p, size_t n)
{
	struct harness *h = of(l);

	for (size_t i = 0; i < n; i++, h->sent++) {
		if (h->sent < PROTO_PREAMBLE_SIZE) {
			assert(p[i] == (h->sent == PROTO_PREAMBLE_SIZE - 1 && l->relay ?
					PROTO_VERSION_RELAY : proto_preamble[h->sent]));
			continue;
		}
		if (h->skip) {
			h->skip--;
			continue;
		}
		h->hdr[h->hdr_got++] = p[i];
		if (h->hdr_got == PROTO_HEADER_SIZE) {
			struct proto_header rec;

			assert(proto_header_decode(h->hdr, &rec) == 0);
			if (rec.type == PROTO_PROOF) {
				assert(h->l.salt_len && h->l.srp_b_len);
				assert(++h->proofs == 1);
			} else {
				assert(rec.type == PROTO_HELLO);
			}
			h->skip = rec.length;
			h->hdr_got = 0;
		}
	}
}

static void assert_inert(const char *p, size_t n)
{
	const uint8_t *s = (const uint8_t *)p;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = visible_utf8_decode(s + i, n - i, &cp);

		assert(len > 0);
		if (cp == '\r') {
			assert(i + 1 < n && s[i + 1] == '\n');
		} else if (cp != '\t' && cp != '\n') {
			assert(!visible_is_control(cp));
		}
		i += len;
	}
}

static void op_show(struct remote_link *l, enum rlink_show kind, const char *p, size_t n)
{
	/* A relay's transcript goes to its records, never to the screen. */
	assert(!l->relay || kind == RLINK_SAY || kind == RLINK_PRIVATE);
	switch (kind) {
	case RLINK_OUTPUT:
		assert(rlink_live(l));
		break;
	case RLINK_NOTICE:
		/* A character held back across records may be let out by the
		 * ACCEPT of a new session, before the state says live. */
		assert(rlink_live(l) || l->state == RLINK_ACCEPT);
		assert_inert(p, n);
		break;
	case RLINK_PRIVATE:
		assert(rlink_live(l));
		assert_inert(p, n);
		break;
	case RLINK_SAY:
		/* Our own words, with the server's text fields in them:
		 * those are checked text, so no control either. */
		assert_inert(p, n);
		break;
	}
}

static void op_ask(struct remote_link *l)
{
	struct harness *h = of(l);

	assert(l->can_ask && !l->password && l->state == RLINK_PASSWORD);
	l->password = h->give_password ? "Sesame12" : NULL;
	rlink_password(l);
}

static void op_live(struct remote_link *l)
{
	struct harness *h = of(l);

	/* Only a verified proof leads to live when authentication was asked
	 * for; without it a held password must have been refused earlier. */
	assert(!l->password || l->auth_required);
	if (l->auth_required)
		assert(h->proofs == 1);
	h->mirror_end = l->shown;
}

static void op_jump(struct remote_link *l)
{
	assert(l->joined);
}

static void rop_welcome(struct remote_link *l, const struct proto_msg *m)
{
	assert(m->has_relay && m->relay == 1 && m->has_locked);
	assert(l->state == (m->locked ? RLINK_LOCKED : RLINK_ACCEPT));
}

static void rop_record(struct remote_link *l, uint8_t type, uint64_t seq, const uint8_t *p,
		       size_t n)
{
	struct harness *h = of(l);

	assert(rlink_live(l));
	assert(type == PROTO_OUTPUT || type == PROTO_NOTICE || type == PROTO_TYPED);
	assert(n > 0 && seq == h->mirror_end && seq + n == l->shown);
	h->mirror_end = seq + n;
}

static void rop_gap(struct remote_link *l, uint64_t from, uint64_t to)
{
	struct harness *h = of(l);

	assert(rlink_live(l) && from == h->mirror_end && to > from && to == l->shown);
	h->mirror_end = to;
}

static void rop_ended(struct remote_link *l, uint32_t status)
{
	assert(l->ended && rlink_live(l));
}

static void rop_sub(struct remote_link *l, uint8_t type, uint32_t sub, const struct proto_msg *m,
		    const uint8_t *p, size_t n)
{
	assert(rlink_relaying(l) && sub != 0);
	if (type == PROTO_SUB_PRIVATE)
		assert(!m && (p || n == 0));
	else
		assert(m && (type == PROTO_SUB_CHALLENGE || type == PROTO_SUB_ACCEPT ||
			     type == PROTO_SUB_REFUSE));
}

static void rop_lost(struct remote_link *l)
{
	assert(l->relay);
}

static const struct rlink_relay_ops relay_ops = {
	.welcome = rop_welcome,
	.record = rop_record,
	.gap = rop_gap,
	.ended = rop_ended,
	.sub = rop_sub,
	.lost = rop_lost,
};

static const struct rlink_ops ops = {
	.send = op_send,
	.show = op_show,
	.ask_password = op_ask,
	.live = op_live,
	.jump = op_jump,
};

static void start(struct harness *h)
{
	h->proofs = 0;
	h->sent = 0;
	h->hdr_got = 0;
	h->skip = 0;
	rlink_start(&h->l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	size_t piece, half;
	uint8_t mode;

	if (size == 0)
		return 0;
	mode = data[0];
	data++;
	size--;
	memset(&h, 0, sizeof(h));
	rlink_init(&h.l, &ops, "FUZZ\\user");
	if ((mode & 3) == 3) {
		h.l.relay = &relay_ops;		/* a relay holds no password */
	} else {
		if (mode & 1)
			h.l.password = "Sesame12";
		h.l.can_ask = mode & 2;
	}
	h.give_password = mode & 4;
	piece = mode >> 4 ? mode >> 4 : size;
	half = mode & 8 ? size / 2 : size;

	start(&h);
	for (size_t off = 0; off < size && !rlink_failed(&h.l);) {
		size_t n = size - off < piece ? size - off : piece;

		if (off < half && off + n > half)
			n = half - off;
		rlink_feed(&h.l, data + off, n);
		off += n;
		if (off == half && half < size) {
			/* The connection breaks; the next one resumes. */
			rlink_stop(&h.l);
			start(&h);
		}
	}
	rlink_free(&h.l);
	return 0;
}
