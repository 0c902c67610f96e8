/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the native protocol codec: the input after its first
 * byte is a byte stream fed to a record reader in pieces whose size that
 * first byte picks (0: all at once), so header and payload splits get
 * explored; every TLV body is decoded (version 3's relay records and fields
 * included), and whatever decodes must survive encode -> decode unchanged.
 * A reader restricted to one side's types (as the relay's peers use it)
 * must stop at exactly the first record of another.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void assert_same(const struct proto_msg *a, const struct proto_msg *b)
{
#define SAME_NUM(f) \
	assert(a->has_##f == b->has_##f); \
	if (a->has_##f) \
		assert(a->f == b->f)
#define SAME_TEXT(f) \
	assert(a->has_##f == b->has_##f); \
	if (a->has_##f) \
		assert(strcmp(a->f, b->f) == 0)
#define SAME_BYTES(f) \
	assert(a->f##_len == b->f##_len); \
	assert(memcmp(a->f, b->f, a->f##_len) == 0)
	SAME_NUM(version);
	SAME_NUM(role);
	SAME_NUM(code);
	SAME_NUM(auth);
	SAME_NUM(state);
	SAME_NUM(status);
	SAME_NUM(resume);
	SAME_NUM(start);
	SAME_NUM(from);
	SAME_NUM(to);
	SAME_NUM(relay);
	SAME_NUM(locked);
	SAME_NUM(rejoin);
	assert(a->has_session == b->has_session);
	if (a->has_session)
		assert(memcmp(a->session, b->session, sizeof(a->session)) == 0);
	SAME_TEXT(identity);
	SAME_TEXT(reason);
	SAME_TEXT(host);
	SAME_TEXT(program);
	SAME_TEXT(text);
	SAME_BYTES(salt);
	SAME_BYTES(srp_b);
	SAME_BYTES(srp_a);
	SAME_BYTES(srp_m1);
	SAME_BYTES(srp_m2);
	SAME_BYTES(ticket);
#undef SAME_NUM
#undef SAME_TEXT
#undef SAME_BYTES
}

/* Decode BODY; if it is valid, re-encode it and check nothing changed. */
static void check_body(const uint8_t *body, size_t n)
{
	static uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	struct proto_msg m, again;
	struct proto_header h;
	int len;

	if (proto_msg_decode(body, n, &m) < 0)
		return;
	/* Decoded fields are always encodable, and fit one control record. */
	len = proto_msg_encode(&m, buf, PROTO_MAX_CONTROL);
	assert(len >= 0 && (size_t)len <= n);
	assert(proto_msg_decode(buf, (size_t)len, &again) == 0);
	assert_same(&m, &again);
	/* One byte short of the exact size is always -ENOSPC. */
	if (len > 0)
		assert(proto_msg_encode(&m, buf, (size_t)len - 1) == -ENOSPC);

	len = proto_record_encode(PROTO_STATE, 0, &m, buf, sizeof(buf));
	assert(len >= PROTO_HEADER_SIZE);
	assert(proto_header_decode(buf, &h) == 0);
	assert(h.type == PROTO_STATE && h.length == (uint32_t)len - PROTO_HEADER_SIZE);
}

static void check_record(const struct proto_reader *r)
{
	uint8_t hdr[PROTO_HEADER_SIZE];

	assert(r->complete && r->payload_got == r->h.length);
	assert(r->h.length == 0 || (r->payload && r->payload_cap >= r->h.length));
	/* A header that was accepted re-encodes to the very same bytes. */
	proto_header_encode(&r->h, hdr);
	assert(memcmp(hdr, r->hdr, sizeof(hdr)) == 0);
	assert(strcmp(proto_type_name(r->h.type), "UNKNOWN") != 0);
	if (proto_type_tlv(r->h.type))
		check_body(r->payload, r->h.length);
}

/* Record types, in order, that an unrestricted reader takes from the
 * stream before its first error or the end: at most MAX_SEEN of them. */
#define MAX_SEEN 64

/*
 * A reader that takes only ALLOWED (as a relay's peers set it for each
 * side) must give the same records as the unrestricted one up to the first
 * type outside ALLOWED, and refuse exactly that one, before its payload.
 */
static void check_restricted(const uint8_t *data, size_t size, uint64_t allowed,
			     const uint8_t *seen, size_t nseen, int err)
{
	struct proto_reader r;
	size_t k = 0, off = 0;

	proto_reader_init(&r);
	r.allowed = allowed;
	while (off < size && k < nseen) {
		size_t used = SIZE_MAX;
		int rc = proto_reader_feed(&r, data + off, size - off, &used);

		off += used;
		if (!(allowed & PROTO_TYPE_BIT(seen[k]))) {
			assert(rc == -EPROTO && r.h.type == seen[k] && r.payload_got == 0);
			proto_reader_free(&r);
			return;
		}
		if (rc != 1)
			break;
		assert(r.h.type == seen[k]);
		k++;
		proto_reader_next(&r);
	}
	/* Every record allowed and no error in the whole stream: what is
	 * left is an unfinished record, refused only for its type. */
	if (k == nseen && nseen < MAX_SEEN && err == 0 && off < size) {
		size_t used;
		int rc = proto_reader_feed(&r, data + off, size - off, &used);

		assert(rc >= 0 || (rc == -EPROTO && !(allowed & PROTO_TYPE_BIT(r.h.type)) &&
				   r.payload_got == 0));
	}
	proto_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_reader r;
	uint8_t seen[MAX_SEEN];
	size_t piece, nseen = 0;
	int err = 0;

	if (size == 0)
		return 0;
	piece = data[0] ? data[0] : size;
	data++;
	size--;

	/* The same bytes taken as one TLV body reach the decoder without
	 * needing a valid header first. */
	check_body(data, size);

	proto_reader_init(&r);
	for (size_t off = 0; off < size && !err;) {
		size_t n = size - off < piece ? size - off : piece;
		const uint8_t *p = data + off;

		off += n;
		while (n > 0) {
			size_t used = SIZE_MAX;
			int rc = proto_reader_feed(&r, p, n, &used);

			assert(used <= n);
			if (rc < 0) {
				assert(rc == -EPROTO || rc == -EMSGSIZE || rc == -ENOMEM);
				err = rc;
				break;
			}
			p += used;
			n -= used;
			if (rc == 0) {
				assert(n == 0);
			} else {
				assert(rc == 1);
				check_record(&r);
				if (nseen < MAX_SEEN)
					seen[nseen++] = r.h.type;
				proto_reader_next(&r);
			}
		}
	}
	if (err) {
		size_t used = SIZE_MAX;

		/* Errors stick, and consume nothing. */
		assert(proto_reader_feed(&r, data, size, &used) == err && used == 0);
	}
	proto_reader_free(&r);
	/* What each side of a relay connection lets through. */
	check_restricted(data, size, PROTO_SERVER_TYPES, seen, nseen, err);
	check_restricted(data, size, PROTO_RELAY_TYPES, seen, nseen, err);
	return 0;
}
