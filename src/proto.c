/* SPDX-License-Identifier: MIT */
/*
 * The native protocol's codec (src/PROTOCOL.md).  Multi-byte fields are
 * assembled byte by byte so the code never depends on host byte order or
 * alignment, and every length is checked before the bytes it covers are read.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "src/proto.h"
#include "src/visible.h"

const uint8_t proto_preamble[PROTO_PREAMBLE_SIZE] = {
	0x00, 'R', 'I', 'N', 'G', 'S', 'D', PROTO_VERSION,
};

void proto_preamble_of(uint8_t version, uint8_t out[PROTO_PREAMBLE_SIZE])
{
	memcpy(out, proto_preamble, PROTO_PREAMBLE_SIZE - 1);
	out[PROTO_PREAMBLE_SIZE - 1] = version;
}

/* The first payload allocation; smaller control records never realloc. */
#define READER_MIN_CAP 256
/* proto_reader_next() drops a buffer bigger than this, so one large output
 * record does not keep megabytes allocated for an idle connection. */
#define READER_KEEP_CAP (64u << 10)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The largest payload a record of TYPE may carry, or 0 for an unknown type
 * (so this one switch is also the list of valid types). */
static uint32_t type_limit(uint8_t type)
{
	switch (type) {
	case PROTO_OUTPUT:
	case PROTO_NOTICE:
	case PROTO_TYPED:
	case PROTO_PRIVATE:
	case PROTO_SUB_PRIVATE:
		return PROTO_MAX_OUTPUT;
	case PROTO_WELCOME:
	case PROTO_CHALLENGE:
	case PROTO_ACCEPT:
	case PROTO_REFUSE:
	case PROTO_GAP:
	case PROTO_STATE:
	case PROTO_HELLO:
	case PROTO_PROOF:
	case PROTO_INPUT:
	case PROTO_INTERRUPT:
	case PROTO_BYE:
	case PROTO_HEARTBEAT:
	case PROTO_HEARTBEAT_ACK:
	case PROTO_SUB_CHALLENGE:
	case PROTO_SUB_ACCEPT:
	case PROTO_SUB_REFUSE:
	case PROTO_SUB_HELLO:
	case PROTO_SUB_PROOF:
	case PROTO_SUB_INPUT:
	case PROTO_SUB_INTERRUPT:
	case PROTO_SUB_BYE:
		return PROTO_MAX_CONTROL;
	default:
		return 0;
	}
}

bool proto_type_tlv(uint8_t type)
{
	switch (type) {
	case PROTO_OUTPUT:
	case PROTO_NOTICE:
	case PROTO_TYPED:
	case PROTO_PRIVATE:
	case PROTO_INPUT:
	case PROTO_SUB_PRIVATE:
	case PROTO_SUB_INPUT:
		return false;
	default:
		return type_limit(type) != 0;
	}
}

const char *proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_WELCOME: return "WELCOME";
	case PROTO_CHALLENGE: return "CHALLENGE";
	case PROTO_ACCEPT: return "ACCEPT";
	case PROTO_REFUSE: return "REFUSE";
	case PROTO_OUTPUT: return "OUTPUT";
	case PROTO_NOTICE: return "NOTICE";
	case PROTO_TYPED: return "TYPED";
	case PROTO_GAP: return "GAP";
	case PROTO_STATE: return "STATE";
	case PROTO_PRIVATE: return "PRIVATE";
	case PROTO_HELLO: return "HELLO";
	case PROTO_PROOF: return "PROOF";
	case PROTO_INPUT: return "INPUT";
	case PROTO_INTERRUPT: return "INTERRUPT";
	case PROTO_BYE: return "BYE";
	case PROTO_HEARTBEAT: return "HEARTBEAT";
	case PROTO_HEARTBEAT_ACK: return "HEARTBEAT_ACK";
	case PROTO_SUB_CHALLENGE: return "SUB_CHALLENGE";
	case PROTO_SUB_ACCEPT: return "SUB_ACCEPT";
	case PROTO_SUB_REFUSE: return "SUB_REFUSE";
	case PROTO_SUB_PRIVATE: return "SUB_PRIVATE";
	case PROTO_SUB_HELLO: return "SUB_HELLO";
	case PROTO_SUB_PROOF: return "SUB_PROOF";
	case PROTO_SUB_INPUT: return "SUB_INPUT";
	case PROTO_SUB_INTERRUPT: return "SUB_INTERRUPT";
	case PROTO_SUB_BYE: return "SUB_BYE";
	default: return "UNKNOWN";
	}
}

void proto_header_encode(const struct proto_header *h, uint8_t out[PROTO_HEADER_SIZE])
{
	out[0] = h->type;
	out[1] = h->flags;
	out[2] = 0;
	out[3] = 0;
	put32(out + 4, h->length);
	put64(out + 8, h->seq);
}

int proto_header_decode(const uint8_t in[PROTO_HEADER_SIZE], struct proto_header *h)
{
	uint32_t limit = type_limit(in[0]);

	h->type = in[0];
	h->flags = in[1];
	h->length = get32(in + 4);
	h->seq = get64(in + 8);
	/* No version defines flags yet: a peer setting one expects a meaning
	 * we do not have, so guessing would be worse than refusing. */
	if (limit == 0 || in[1] != 0 || in[2] != 0 || in[3] != 0)
		return -EPROTO;
	if (h->length > limit)
		return -EMSGSIZE;
	return 0;
}

void proto_reader_init(struct proto_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void proto_reader_free(struct proto_reader *r)
{
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

/* Make room for NEED payload bytes, doubling but never past the record's
 * length: memory follows the bytes that actually arrived. */
static int reader_reserve(struct proto_reader *r, size_t need)
{
	size_t cap = r->payload_cap ? r->payload_cap : READER_MIN_CAP;
	uint8_t *p;

	if (need <= r->payload_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > r->h.length)
		cap = r->h.length;
	p = realloc(r->payload, cap);
	if (!p)
		return -ENOMEM;
	r->payload = p;
	r->payload_cap = cap;
	return 0;
}

int proto_reader_feed(struct proto_reader *r, const uint8_t *data, size_t n, size_t *used)
{
	size_t off = 0, k;
	int err;

	*used = 0;
	if (r->error)
		return r->error;
	if (r->complete)
		return 1;
	if (r->hdr_got < PROTO_HEADER_SIZE) {
		k = PROTO_HEADER_SIZE - r->hdr_got;
		if (k > n)
			k = n;
		if (k > 0)
			memcpy(r->hdr + r->hdr_got, data, k);
		r->hdr_got += k;
		off = k;
		*used = off;
		if (r->hdr_got < PROTO_HEADER_SIZE)
			return 0;
		err = proto_header_decode(r->hdr, &r->h);
		if (err == 0 && r->allowed &&
		    (r->h.type >= 64 || !(r->allowed & PROTO_TYPE_BIT(r->h.type))))
			err = -EPROTO;
		if (err == 0 && r->max_length && r->h.length > r->max_length)
			err = -EMSGSIZE;
		if (err < 0)
			return r->error = err;
		r->payload_got = 0;
	}
	k = r->h.length - r->payload_got;
	if (k > n - off)
		k = n - off;
	if (k > 0) {
		err = reader_reserve(r, r->payload_got + k);
		if (err < 0)
			return r->error = err;
		memcpy(r->payload + r->payload_got, data + off, k);
		r->payload_got += k;
		off += k;
		*used = off;
	}
	if (r->payload_got < r->h.length)
		return 0;
	r->complete = true;
	return 1;
}

void proto_reader_next(struct proto_reader *r)
{
	r->hdr_got = 0;
	r->payload_got = 0;
	r->complete = false;
	memset(&r->h, 0, sizeof(r->h));
	if (r->payload_cap > READER_KEEP_CAP) {
		free(r->payload);
		r->payload = NULL;
		r->payload_cap = 0;
	}
}

/*
 * One table drives both directions, so encode and decode cannot disagree
 * about a field's kind or size.  It is indexed by tag - 1 and therefore
 * also gives the ascending encoding order.
 */
enum field_kind { F_U32, F_U64, F_ID, F_TEXT, F_BYTES };

struct field {
	uint16_t tag;
	uint8_t kind;
	size_t off;	/* the value in struct proto_msg */
	size_t cap;	/* F_BYTES: the array's size */
	size_t aux;	/* F_BYTES: its *_len; others: its has_* */
};

#define U32(t, name) { t, F_U32, offsetof(struct proto_msg, name), 0, \
		       offsetof(struct proto_msg, has_##name) }
#define U64(t, name) { t, F_U64, offsetof(struct proto_msg, name), 0, \
		       offsetof(struct proto_msg, has_##name) }
#define TEXT(t, name) { t, F_TEXT, offsetof(struct proto_msg, name), 0, \
			offsetof(struct proto_msg, has_##name) }
#define BYTES(t, name) { t, F_BYTES, offsetof(struct proto_msg, name), \
			 sizeof(((struct proto_msg *)0)->name), \
			 offsetof(struct proto_msg, name##_len) }

static const struct field fields[] = {
	U32(PROTO_T_VERSION, version),
	TEXT(PROTO_T_IDENTITY, identity),
	{ PROTO_T_SESSION, F_ID, offsetof(struct proto_msg, session),
	  sizeof(((struct proto_msg *)0)->session), offsetof(struct proto_msg, has_session) },
	U64(PROTO_T_RESUME, resume),
	BYTES(PROTO_T_SALT, salt),
	BYTES(PROTO_T_SRP_B, srp_b),
	BYTES(PROTO_T_SRP_A, srp_a),
	BYTES(PROTO_T_SRP_M1, srp_m1),
	BYTES(PROTO_T_SRP_M2, srp_m2),
	U32(PROTO_T_ROLE, role),
	U64(PROTO_T_START, start),
	U32(PROTO_T_CODE, code),
	TEXT(PROTO_T_REASON, reason),
	U64(PROTO_T_FROM, from),
	U64(PROTO_T_TO, to),
	U32(PROTO_T_AUTH, auth),
	TEXT(PROTO_T_HOST, host),
	TEXT(PROTO_T_PROGRAM, program),
	U32(PROTO_T_STATE, state),
	U32(PROTO_T_STATUS, status),
	TEXT(PROTO_T_TEXT, text),
	U32(PROTO_T_RELAY, relay),
	BYTES(PROTO_T_TICKET, ticket),
	U32(PROTO_T_LOCKED, locked),
	U32(PROTO_T_REJOIN, rejoin),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

_Static_assert(NFIELDS < 32, "the decoder's seen-mask is 32 bits");

static const struct field *field_of(unsigned tag)
{
	if (tag == 0 || tag > NFIELDS)
		return NULL;
	return &fields[tag - 1];
}

/* Text fields end up in terminals and logs: one line, nothing that could
 * move the cursor, retitle a window or fake output. */
bool proto_text_ok(const uint8_t *p, size_t n)
{
	return n > 0 && n <= PROTO_TEXT_MAX && visible_text_ok(p, n);
}

/*
 * The struct's members are reached through the table's offsets as bytes;
 * memcpy in and out keeps that free of pointer casts and their alignment
 * and aliasing assumptions.
 */
int proto_msg_encode(const struct proto_msg *m, uint8_t *buf, size_t cap)
{
	const uint8_t *base = (const uint8_t *)m;
	size_t pos = 0;

	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		const uint8_t *val = base + f->off;
		uint8_t num[8];
		size_t len;
		bool has;

		if (f->kind == F_BYTES) {
			memcpy(&len, base + f->aux, sizeof(len));
			if (len == 0)
				continue;
			if (len > f->cap)
				return -EINVAL;
		} else {
			memcpy(&has, base + f->aux, sizeof(has));
			if (!has)
				continue;
			if (f->kind == F_U32) {
				uint32_t v;

				memcpy(&v, val, sizeof(v));
				put32(num, v);
				val = num;
				len = 4;
			} else if (f->kind == F_U64) {
				uint64_t v;

				memcpy(&v, val, sizeof(v));
				put64(num, v);
				val = num;
				len = 8;
			} else if (f->kind == F_ID) {
				len = f->cap;
			} else {
				len = strnlen((const char *)val, PROTO_TEXT_MAX + 1);
				if (!proto_text_ok(val, len))
					return -EINVAL;
			}
		}
		if (cap - pos < 4 + len)
			return -ENOSPC;
		put16(buf + pos, f->tag);
		put16(buf + pos + 2, (uint16_t)len);
		memcpy(buf + pos + 4, val, len);
		pos += 4 + len;
	}
	return (int)pos;
}

int proto_msg_decode(const uint8_t *p, size_t n, struct proto_msg *m)
{
	static const bool yes = true;
	uint8_t *base = (uint8_t *)m;
	uint32_t seen = 0;
	size_t pos = 0;

	memset(m, 0, sizeof(*m));
	while (pos < n) {
		const struct field *f;
		const uint8_t *val;
		size_t len;

		if (n - pos < 4)
			return -EPROTO;
		len = get16(p + pos + 2);
		if (n - pos - 4 < len)
			return -EPROTO;
		f = field_of(get16(p + pos));
		val = p + pos + 4;
		pos += 4 + len;
		/* Unknown tags are how later versions add fields. */
		if (!f)
			continue;
		if (seen & (1u << f->tag))
			return -EPROTO;
		seen |= 1u << f->tag;
		switch (f->kind) {
		case F_U32: {
			uint32_t v;

			if (len != 4)
				return -EPROTO;
			v = get32(val);
			memcpy(base + f->off, &v, sizeof(v));
			break;
		}
		case F_U64: {
			uint64_t v;

			if (len != 8)
				return -EPROTO;
			v = get64(val);
			memcpy(base + f->off, &v, sizeof(v));
			break;
		}
		case F_ID:
			if (len != f->cap)
				return -EPROTO;
			memcpy(base + f->off, val, len);
			break;
		case F_TEXT:
			if (!proto_text_ok(val, len))
				return -EPROTO;
			memcpy(base + f->off, val, len);
			base[f->off + len] = '\0';
			break;
		default:
			if (len > f->cap)
				return -EPROTO;
			memcpy(base + f->off, val, len);
			memcpy(base + f->aux, &len, sizeof(len));
			continue;
		}
		memcpy(base + f->aux, &yes, sizeof(yes));
	}
	return 0;
}

int proto_record_encode(uint8_t type, uint64_t seq, const struct proto_msg *m, uint8_t *buf,
			size_t cap)
{
	struct proto_header h = { .type = type, .seq = seq };
	int len = 0;

	/* Raw-payload types (OUTPUT, INPUT...) would get a TLV body here that
	 * their receiver takes for text. */
	if (!proto_type_tlv(type))
		return -EINVAL;
	if (cap < PROTO_HEADER_SIZE)
		return -ENOSPC;
	if (m) {
		len = proto_msg_encode(m, buf + PROTO_HEADER_SIZE, cap - PROTO_HEADER_SIZE);
		if (len < 0)
			return len;
	}
	h.length = (uint32_t)len;
	proto_header_encode(&h, buf);
	return PROTO_HEADER_SIZE + len;
}
