/* SPDX-License-Identifier: MIT */
/*
 * The NATS message format (PROTOCOL.md 12) as plain key/value pairs, and
 * the -publish / -edge spec.  Every value read here came over the network
 * from whoever can publish in the NATS account: nothing is trusted beyond
 * its syntax, and every number is range-checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/nats_msg.h"

/*
 * The spec.
 */

bool nats_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return i >= 1 && i <= NATS_NAME_MAX;
}

void nats_name_from(const char *text, char *out, size_t len)
{
	size_t i;

	if (!len)
		return;
	for (i = 0; text[i] && i + 1 < len && i < NATS_NAME_MAX; i++) {
		char ch = text[i];

		out[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '-' ? ch : '_';
	}
	out[i] = '\0';
}

/* An error that may quote what was typed or received: control bytes are
 * shown as '?', so that it stays one line and cannot steer a terminal. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; errlen && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

static int parse_u64(const char *v, size_t vlen, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;

	if (vlen == 0 || vlen > 20)
		return -EINVAL;
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static int copy_value(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	if (vlen == 0 || vlen >= dstlen || memchr(v, '\0', vlen))
		return -EINVAL;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

int nats_conf_parse(struct nats_conf *c, const char *text, char *err, size_t errlen)
{
	const char *p = text, *comma, *colon;
	size_t len;

	memset(c, 0, sizeof(*c));
	c->max_bytes = NATS_DEFAULT_MAX_BYTES;
	c->max_age_s = NATS_DEFAULT_MAX_AGE_S;
	comma = strchr(p, ',');
	len = comma ? (size_t)(comma - p) : strlen(p);
	if (!(len > 7 && strncasecmp(p, "nats://", 7) == 0) &&
	    !(len > 6 && strncasecmp(p, "tls://", 6) == 0))
		return fail(err, errlen, "expected nats://HOST:PORT first");
	if (len >= sizeof(c->url))
		return fail(err, errlen, "the server address is too long");
	memcpy(c->url, p, len);
	c->url[len] = '\0';
	/* HOST:PORT with no user:password@ (those belong in passfile=). */
	if (strchr(c->url, '@'))
		return fail(err, errlen, "no user or password in the address: use user= and "
			    "passfile=, or creds=");
	colon = strrchr(c->url, ':');
	if (!colon || colon < c->url + 7 || !colon[1] || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1) || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return fail(err, errlen, "expected nats://HOST:PORT with a port from 1 to 65535");
	while (comma) {
		const char *key = comma + 1, *eq, *v;
		size_t klen, vlen;
		uint64_t n;

		comma = strchr(key, ',');
		len = comma ? (size_t)(comma - key) : strlen(key);
		eq = memchr(key, '=', len);
		if (!eq)
			return fail(err, errlen, "expected KEY=VALUE after a comma");
		klen = (size_t)(eq - key);
		v = eq + 1;
		vlen = len - klen - 1;
#define KEY(name) (klen == sizeof(name) - 1 && strncasecmp(key, name, klen) == 0)
		if (KEY("session") || KEY("name")) {
			char *dst = KEY("session") ? c->session : c->name;

			if (copy_value(dst, NATS_NAME_MAX + 1, v, vlen) < 0 || !nats_name_ok(dst))
				return fail(err, errlen, "%.*s= takes 1 to %d letters, digits, '-' or "
					    "'_'", (int)klen, key, NATS_NAME_MAX);
			if (KEY("session"))
				c->has_session = true;
		} else if (KEY("creds") || KEY("passfile") || KEY("ca")) {
			char *dst = KEY("creds") ? c->creds : KEY("ca") ? c->ca : c->passfile;

			if (copy_value(dst, NATS_PATH_MAX, v, vlen) < 0)
				return fail(err, errlen, "%.*s= takes a file name", (int)klen, key);
		} else if (KEY("user")) {
			if (copy_value(c->user, sizeof(c->user), v, vlen) < 0)
				return fail(err, errlen, "user= takes 1 to %d bytes", NATS_NAME_MAX);
		} else if (KEY("password") || KEY("pass")) {
			return fail(err, errlen, "no password on the command line: put it in a file "
				    "and give passfile=FILE");
		} else if (KEY("maxbytes")) {
			if (parse_u64(v, vlen, 1 << 20, 1ull << 50, &n) < 0)
				return fail(err, errlen, "maxbytes= takes a byte count from 1048576");
			c->max_bytes = n;
		} else if (KEY("maxage")) {
			if (parse_u64(v, vlen, 1, 10ull * 365 * 86400, &n) < 0)
				return fail(err, errlen, "maxage= takes seconds, at least 1");
			c->max_age_s = n;
		} else if (KEY("replicas")) {
			if (parse_u64(v, vlen, 1, NATS_REPLICAS_MAX, &n) < 0)
				return fail(err, errlen, "replicas= takes a number from 1 to %d",
					    NATS_REPLICAS_MAX);
			c->replicas = (unsigned)n;
		} else {
			return fail(err, errlen, "unknown key '%.*s' (session, name, creds, user, "
				    "passfile, ca, maxbytes, maxage, replicas)", (int)(klen > 32 ? 32 : klen),
				    key);
		}
#undef KEY
	}
	if (c->user[0] && !c->passfile[0])
		return fail(err, errlen, "user= needs passfile=FILE");
	if (c->passfile[0] && !c->user[0])
		return fail(err, errlen, "passfile= needs user=");
	if (c->creds[0] && c->user[0])
		return fail(err, errlen, "creds= or user=/passfile=, not both");
	return 0;
}

void nats_conf_describe(const struct nats_conf *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s session %s%s", c->url, c->session,
		 c->creds[0] || c->user[0] ? " (authenticated)" : "");
}

void nats_subjects_of(const char *session, struct nats_subjects *s)
{
	snprintf(s->stream, sizeof(s->stream), "RINGSIDE_%s", session);
	snprintf(s->out, sizeof(s->out), "ringside.%s.out", session);
	snprintf(s->in, sizeof(s->in), "ringside.%s.in", session);
	snprintf(s->presence, sizeof(s->presence), "ringside.%s.presence.v2", session);
	snprintf(s->presence_v1, sizeof(s->presence_v1), "ringside.%s.presence", session);
	snprintf(s->ask, sizeof(s->ask), "ringside.%s.presence.v2.ask", session);
}

/*
 * Headers.
 */

const char *nats_hdr_get(const struct nats_hdr *h, unsigned n, const char *key)
{
	for (unsigned i = 0; i < n; i++)
		if (h[i].key && h[i].value && strcasecmp(h[i].key, key) == 0)
			return h[i].value;
	return NULL;
}

static int hdr_add(struct nats_hdrs *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hdr_add(struct nats_hdrs *o, const char *key, const char *fmt, ...)
{
	size_t room = sizeof(o->store) - o->used;
	va_list ap;
	int n;

	if (o->n == NATS_HDR_MAX)
		return -EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(o->store + o->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return -EINVAL;
	/* A header value is one line. */
	if (strpbrk(o->store + o->used, "\r\n"))
		return -EINVAL;
	o->h[o->n].key = key;
	o->h[o->n].value = o->store + o->used;
	o->n++;
	o->used += (size_t)n + 1;
	return 0;
}

void nats_hex16(const uint8_t id[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[32] = '\0';
}

static int unhex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int nats_unhex16(const char *s, uint8_t id[16])
{
	if (!s || strlen(s) != 32)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char *const kind_names[] = {
	[NATS_OUTPUT] = "output", [NATS_NOTICE] = "notice", [NATS_TYPED] = "typed",
	[NATS_STATE] = "state", [NATS_GAP] = "gap",
};

const char *nats_kind_name(enum nats_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

int nats_rec_encode(const struct nats_rec *r, size_t len, struct nats_hdrs *o)
{
	char sid[33];
	int res = 0;

	memset(o, 0, sizeof(*o));
	if ((unsigned)r->kind > NATS_GAP || len > NATS_REC_MAX)
		return -EINVAL;
	if ((r->kind == NATS_STATE || r->kind == NATS_GAP) && len)
		return -EINVAL;
	if (r->kind == NATS_GAP ? r->end <= r->offset : r->end != r->offset + len)
		return -EINVAL;
	nats_hex16(r->session, sid);
	/* JetStream drops a second message with the same id (within its
	 * duplicate window): a batch published twice across a reconnect is
	 * stored once.  A state's id says which state, as two can share an
	 * offset. */
	if (r->kind == NATS_STATE)
		res |= hdr_add(o, "Nats-Msg-Id", "%s-%" PRIu64 "-%s", sid, r->offset,
			       r->ended ? "end" : "start");
	else
		res |= hdr_add(o, "Nats-Msg-Id", "%s-%" PRIu64, sid, r->offset);
	res |= hdr_add(o, "Ringside-Session", "%s", sid);
	res |= hdr_add(o, "Ringside-Kind", "%s", kind_names[r->kind]);
	res |= hdr_add(o, "Ringside-Offset", "%" PRIu64, r->offset);
	if (r->kind == NATS_GAP)
		res |= hdr_add(o, "Ringside-End", "%" PRIu64, r->end);
	if (r->kind == NATS_STATE) {
		if (r->ended)
			res |= hdr_add(o, "Ringside-State", "ended %d", r->status);
		else
			res |= hdr_add(o, "Ringside-State", "running");
		if (r->program[0])
			res |= hdr_add(o, "Ringside-Program", "%s", r->program);
	}
	return res ? -EINVAL : 0;
}

/* Offsets stay below 2^62, so that offset + length never wraps. */
#define OFFSET_MAX (1ull << 62)

static int get_u64(const struct nats_hdr *h, unsigned n, const char *key, uint64_t *out)
{
	const char *v = nats_hdr_get(h, n, key);

	return v ? parse_u64(v, strlen(v), 0, OFFSET_MAX, out) : -EINVAL;
}

int nats_rec_decode(struct nats_rec *r, const struct nats_hdr *h, unsigned n, size_t len,
		    char *err, size_t errlen)
{
	const char *kind = nats_hdr_get(h, n, "Ringside-Kind");
	unsigned k;

	memset(r, 0, sizeof(*r));
	if (nats_unhex16(nats_hdr_get(h, n, "Ringside-Session"), r->session) < 0)
		return fail(err, errlen, "no valid Ringside-Session header");
	for (k = 0; kind && k <= NATS_GAP; k++)
		if (strcmp(kind, kind_names[k]) == 0)
			break;
	if (!kind || k > NATS_GAP)
		return fail(err, errlen, "no valid Ringside-Kind header");
	r->kind = (enum nats_kind)k;
	if (get_u64(h, n, "Ringside-Offset", &r->offset) < 0)
		return fail(err, errlen, "no valid Ringside-Offset header");
	if (len > NATS_REC_MAX)
		return fail(err, errlen, "a record of %zu bytes (at most %d)", len, NATS_REC_MAX);
	r->end = r->offset + len;
	if (r->kind == NATS_GAP) {
		if (len || get_u64(h, n, "Ringside-End", &r->end) < 0 || r->end <= r->offset)
			return fail(err, errlen, "a gap needs Ringside-End past its offset, no data");
	} else if (r->kind == NATS_STATE) {
		const char *st = nats_hdr_get(h, n, "Ringside-State");
		const char *prog = nats_hdr_get(h, n, "Ringside-Program");

		if (len)
			return fail(err, errlen, "a state record carries no data");
		if (st && strcmp(st, "running") == 0) {
			r->ended = false;
		} else if (st && strncmp(st, "ended ", 6) == 0) {
			uint64_t status;
			const char *num = st + 6;
			bool neg = *num == '-';

			if (parse_u64(num + neg, strlen(num + neg), 0, 255, &status) < 0)
				return fail(err, errlen, "a bad exit status in Ringside-State");
			r->ended = true;
			r->status = neg ? -(int)status : (int)status;
		} else {
			return fail(err, errlen, "no valid Ringside-State header");
		}
		if (prog)
			snprintf(r->program, sizeof(r->program), "%s", prog);
	}
	return 0;
}

/*
 * Input from edges.
 */

int nats_input_encode(const struct nats_input *in, struct nats_hdrs *o)
{
	char sid[33];
	int res = 0;

	memset(o, 0, sizeof(*o));
	nats_hex16(in->session, sid);
	res |= hdr_add(o, "Ringside-Session", "%s", sid);
	res |= hdr_add(o, "Ringside-Kind", "%s", in->interrupt ? "interrupt" : "line");
	res |= hdr_add(o, "Ringside-Who", "%s", in->who);
	res |= hdr_add(o, "Ringside-Edge", "%s", in->edge);
	res |= hdr_add(o, "Ringside-Role", "%s", in->readonly ? "read-only" : "read-write");
	return res ? -EINVAL : 0;
}

/* Text from the network that will be shown to everyone: printable only. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int nats_input_decode(struct nats_input *in, const struct nats_hdr *h, unsigned n, char *err,
		      size_t errlen)
{
	const char *kind = nats_hdr_get(h, n, "Ringside-Kind");
	const char *who = nats_hdr_get(h, n, "Ringside-Who");
	const char *edge = nats_hdr_get(h, n, "Ringside-Edge");
	const char *role = nats_hdr_get(h, n, "Ringside-Role");

	memset(in, 0, sizeof(*in));
	if (nats_unhex16(nats_hdr_get(h, n, "Ringside-Session"), in->session) < 0)
		return fail(err, errlen, "no valid Ringside-Session header");
	if (!kind || (strcmp(kind, "line") && strcmp(kind, "interrupt")))
		return fail(err, errlen, "no valid Ringside-Kind header");
	in->interrupt = kind[0] == 'i';
	if (!who || !who[0] || strlen(who) >= sizeof(in->who) || !printable(who))
		return fail(err, errlen, "no valid Ringside-Who header");
	if (!edge || !nats_name_ok(edge))
		return fail(err, errlen, "no valid Ringside-Edge header");
	/* Anything but an explicit read-write is read-only. */
	in->readonly = !role || strcmp(role, "read-write") != 0;
	strcpy(in->who, who);
	strcpy(in->edge, edge);
	return 0;
}

/*
 * Presence.
 */

static const char *const pres_kind_names[] = {
	[NATS_PRES_DELTA] = "delta", [NATS_PRES_HEARTBEAT] = "heartbeat",
	[NATS_PRES_SNAPSHOT] = "snapshot", [NATS_PRES_ASK] = "ask",
};

const char *nats_pres_kind_name(enum nats_pres_kind k)
{
	return (unsigned)k <= NATS_PRES_ASK ? pres_kind_names[k] : "?";
}

int nats_pres_encode(const struct nats_pres *m, struct nats_hdrs *o)
{
	char sid[33];
	int res = 0;

	memset(o, 0, sizeof(*o));
	if ((unsigned)m->kind > NATS_PRES_ASK || !nats_name_ok(m->edge))
		return -EINVAL;
	if (m->kind != NATS_PRES_ASK && (!m->epoch || m->seq > OFFSET_MAX))
		return -EINVAL;
	if ((m->kind == NATS_PRES_HEARTBEAT || m->kind == NATS_PRES_SNAPSHOT) &&
	    m->count > NATS_PRES_COUNT_MAX)
		return -EINVAL;
	if (m->kind == NATS_PRES_SNAPSHOT &&
	    (m->parts < 1 || m->parts > NATS_PRES_PARTS_MAX || m->part >= m->parts))
		return -EINVAL;
	nats_hex16(m->session, sid);
	res |= hdr_add(o, "Ringside-Presence", "%d", NATS_PRES_VERSION);
	res |= hdr_add(o, "Ringside-Session", "%s", sid);
	res |= hdr_add(o, "Ringside-Kind", "%s", pres_kind_names[m->kind]);
	res |= hdr_add(o, "Ringside-Edge", "%s", m->edge);
	if (m->kind != NATS_PRES_ASK) {
		res |= hdr_add(o, "Ringside-Epoch", "%016" PRIx64, m->epoch);
		res |= hdr_add(o, "Ringside-Seq", "%" PRIu64, m->seq);
	}
	if (m->kind == NATS_PRES_HEARTBEAT || m->kind == NATS_PRES_SNAPSHOT)
		res |= hdr_add(o, "Ringside-Count", "%" PRIu32, m->count);
	if (m->kind == NATS_PRES_SNAPSHOT) {
		res |= hdr_add(o, "Ringside-Part", "%" PRIu32, m->part);
		res |= hdr_add(o, "Ringside-Parts", "%" PRIu32, m->parts);
	}
	return res ? -EINVAL : 0;
}

static int get_u32(const struct nats_hdr *h, unsigned n, const char *key, uint64_t min,
		   uint64_t max, uint32_t *out)
{
	const char *v = nats_hdr_get(h, n, key);
	uint64_t x;

	if (!v || parse_u64(v, strlen(v), min, max, &x) < 0)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

int nats_pres_decode(struct nats_pres *m, const struct nats_hdr *h, unsigned n, char *err,
		     size_t errlen)
{
	const char *ver = nats_hdr_get(h, n, "Ringside-Presence");
	const char *kind = nats_hdr_get(h, n, "Ringside-Kind");
	const char *edge = nats_hdr_get(h, n, "Ringside-Edge");
	const char *epoch = nats_hdr_get(h, n, "Ringside-Epoch");
	unsigned k;

	memset(m, 0, sizeof(*m));
	/* A version we do not speak is refused whole, never half-read. */
	if (!ver)
		return fail(err, errlen, "no Ringside-Presence header (presence version 1, "
			    "from an older ringside?)");
	if (strcmp(ver, "2") != 0)
		return fail(err, errlen, "presence version %.16s (this ringside speaks %d)", ver,
			    NATS_PRES_VERSION);
	if (nats_unhex16(nats_hdr_get(h, n, "Ringside-Session"), m->session) < 0)
		return fail(err, errlen, "no valid Ringside-Session header");
	for (k = 0; kind && k <= NATS_PRES_ASK; k++)
		if (strcmp(kind, pres_kind_names[k]) == 0)
			break;
	if (!kind || k > NATS_PRES_ASK)
		return fail(err, errlen, "no valid Ringside-Kind header");
	m->kind = (enum nats_pres_kind)k;
	if (!edge || !nats_name_ok(edge))
		return fail(err, errlen, "no valid Ringside-Edge header");
	strcpy(m->edge, edge);
	if (m->kind == NATS_PRES_ASK)
		return 0;
	m->epoch = 0;
	if (!epoch || strlen(epoch) != 16)
		return fail(err, errlen, "no valid Ringside-Epoch header");
	for (int i = 0; i < 16; i++) {
		int d = unhex(epoch[i]);

		if (d < 0)
			return fail(err, errlen, "no valid Ringside-Epoch header");
		m->epoch = m->epoch << 4 | (uint64_t)d;
	}
	if (!m->epoch)
		return fail(err, errlen, "no valid Ringside-Epoch header");
	if (get_u64(h, n, "Ringside-Seq", &m->seq) < 0)
		return fail(err, errlen, "no valid Ringside-Seq header");
	if ((m->kind == NATS_PRES_HEARTBEAT || m->kind == NATS_PRES_SNAPSHOT) &&
	    get_u32(h, n, "Ringside-Count", 0, NATS_PRES_COUNT_MAX, &m->count) < 0)
		return fail(err, errlen, "no valid Ringside-Count header");
	if (m->kind == NATS_PRES_SNAPSHOT &&
	    (get_u32(h, n, "Ringside-Parts", 1, NATS_PRES_PARTS_MAX, &m->parts) < 0 ||
	     get_u32(h, n, "Ringside-Part", 0, m->parts - 1, &m->part) < 0))
		return fail(err, errlen, "no valid Ringside-Part/Ringside-Parts headers");
	return 0;
}

int nats_presence_line(const struct nats_presence_entry *e, bool delta, char *buf, size_t len)
{
	int n;

	if (!e->id || e->id > OFFSET_MAX || (e->leave && !delta))
		return -EINVAL;
	if (e->leave)
		n = snprintf(buf, len, "-%" PRIu64 "\n", e->id);
	else
		n = snprintf(buf, len, "%s%" PRIu64 " %s %s %s\n", delta ? "+" : "", e->id,
			     e->readonly ? "ro" : "rw", e->native ? "native" : "raw", e->who);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* One line L (no LF) into E; 0 or -EINVAL. */
static int presence_entry(const char *p, size_t l, bool delta, struct nats_presence_entry *e)
{
	size_t i = 0, who, digits;

	memset(e, 0, sizeof(*e));
	if (delta) {
		if (l < 1 || (p[0] != '+' && p[0] != '-'))
			return -EINVAL;
		e->leave = p[0] == '-';
		i = 1;
	}
	digits = 0;
	while (i + digits < l && p[i + digits] >= '0' && p[i + digits] <= '9')
		digits++;
	if (parse_u64(p + i, digits, 1, OFFSET_MAX, &e->id) < 0)
		return -EINVAL;
	i += digits;
	if (e->leave)
		return i == l ? 0 : -EINVAL;
	if (l - i > 4 && memcmp(p + i, " ro ", 4) == 0)
		e->readonly = true;
	else if (!(l - i > 4 && memcmp(p + i, " rw ", 4) == 0))
		return -EINVAL;
	i += 4;
	if (l - i > 7 && memcmp(p + i, "native ", 7) == 0) {
		e->native = true;
		who = i + 7;
	} else if (l - i > 4 && memcmp(p + i, "raw ", 4) == 0) {
		who = i + 4;
	} else {
		return -EINVAL;
	}
	if (l - who >= sizeof(e->who) || memchr(p + who, '\0', l - who))
		return -EINVAL;
	memcpy(e->who, p + who, l - who);
	e->who[l - who] = '\0';
	return printable(e->who) ? 0 : -EINVAL;
}

int nats_presence_parse(const char *p, size_t len, bool delta,
			void (*fn)(void *arg, const struct nats_presence_entry *e), void *arg)
{
	struct nats_presence_entry e;
	int count = 0;

	/* Checked whole first: a list is taken entirely or not at all. */
	for (int pass = 0; pass < (fn ? 2 : 1); pass++) {
		const char *q = p;
		size_t left = len;

		count = 0;
		while (left) {
			const char *nl = memchr(q, '\n', left);
			size_t l = nl ? (size_t)(nl - q) : left;

			if (!nl || presence_entry(q, l, delta, &e) < 0)
				return -EINVAL;
			if (pass == 1)
				fn(arg, &e);
			count++;
			left -= l + 1;
			q += l + 1;
		}
	}
	return count;
}
