/* SPDX-License-Identifier: MIT */
/*
 * The NATS thread (nats_bridge.h): everything that touches libnats.  Its
 * calls block (connects, JetStream requests and acknowledgements), which
 * is why they run here and never on the loop.  libnats' own threads run
 * the connection callbacks and the edge's message handler; those only set
 * flags or post to the channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "src/nats_bridge.h"

/* The loop is given at most this many bytes of records waiting before the
 * edge's message handler waits (and with it, the consumer's flow control). */
#define EDGE_EVENTS_MAX (4u << 20)
/* How long one publish may wait for JetStream's acknowledgement. */
#define PUBLISH_WAIT_MS 5000
/* How often the thread looks again while it waits for something. */
#define POLL_MS 200
/* How long stopping waits for libnats' threads to finish calling us. */
#define QUIET_WAIT_S 10
/* Retrying a stream that is not there (yet). */
#define RETRY_MS 1000
/* How long JetStream remembers a message id to drop a second copy (its default). */
#define DUP_WINDOW_NS (120ll * 1000000000)

struct nbridge {
	struct nbridge_params p;
	struct nats_subjects subj;
	struct nats_chan *ch;
	pthread_t thread;
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub_in, *sub_presence, *sub_v1, *sub_ask, *sub_out;
	int64_t v1_told_at;		/* origin: when older edges were last told of */
	atomic_bool bounced;		/* reconnected since we last looked */
	atomic_bool down_told;
	bool ready;			/* set up on this connection */

	/* origin */
	uint64_t expect;		/* where the next batch must start */
	bool in_batch, batch_ok;

	/* edge */
	pthread_mutex_t seq_mu;
	uint64_t next_seq;		/* the sequence the edge needs next; 0 at first */
	bool told_waiting;
	bool told_bad;

	/* libnats calls us from threads of its own (a connection's callbacks,
	 * each subscription's handler) until it says it is done: B and the
	 * channel are freed only once every connection made has reported its
	 * close and every subscription made its completion. */
	pthread_mutex_t quiet_mu;
	pthread_cond_t quiet_cv;
	unsigned conns_made, conns_closed;
	unsigned subs_made, subs_done;
	bool still_called;		/* libnats did not say it was done: B is never freed */
};

static void post_log(struct nbridge *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void post_log(struct nbridge *b, const char *fmt, ...)
{
	char text[512];
	struct nats_item *it;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	it = nats_item_new(NEV_LOG, (size_t)n);
	if (!it)
		return;
	memcpy(it->data, text, (size_t)n);
	nats_chan_post(b->ch, it);
}

static void post_simple(struct nbridge *b, enum nats_item_type type, uint64_t a)
{
	struct nats_item *it = nats_item_new(type, 0);

	if (!it)
		return;
	it->a = a;
	nats_chan_post(b->ch, it);
}

static const char *last_error(natsStatus s)
{
	const char *text = nats_GetLastError(NULL);

	return text && text[0] ? text : natsStatus_GetText(s);
}

/*
 * The connection.
 */

static void on_disconnected(natsConnection *nc, void *arg)
{
	struct nbridge *b = arg;

	if (!atomic_exchange(&b->down_told, true))
		post_simple(b, NEV_DOWN, 0);
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	struct nbridge *b = arg;

	atomic_store(&b->bounced, true);
}

/* The last callback libnats makes for a connection. */
static void on_closed(natsConnection *nc, void *arg)
{
	struct nbridge *b = arg;

	pthread_mutex_lock(&b->quiet_mu);
	b->conns_closed++;
	pthread_cond_broadcast(&b->quiet_cv);
	pthread_mutex_unlock(&b->quiet_mu);
}

/* A subscription's handler has returned for the last time. */
static void on_sub_done(void *arg)
{
	struct nbridge *b = arg;

	pthread_mutex_lock(&b->quiet_mu);
	b->subs_done++;
	pthread_cond_broadcast(&b->quiet_cv);
	pthread_mutex_unlock(&b->quiet_mu);
}

/* SUB's handler is one of libnats' callers into B until on_sub_done(). */
static void track_sub(struct nbridge *b, natsSubscription *sub)
{
	if (natsSubscription_SetOnCompleteCB(sub, on_sub_done, b) != NATS_OK)
		return;
	pthread_mutex_lock(&b->quiet_mu);
	b->subs_made++;
	pthread_mutex_unlock(&b->quiet_mu);
}

/* After the last disconnect: wait (bounded) until libnats has no call into
 * B left to make.  False if it still had after QUIET_WAIT_S. */
static bool wait_quiet(struct nbridge *b)
{
	struct timespec until;
	bool quiet;
	int res = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += QUIET_WAIT_S;
	pthread_mutex_lock(&b->quiet_mu);
	/* Looked at once more after a timeout: the last call may have come
	 * just then. */
	while (!(quiet = b->conns_closed >= b->conns_made && b->subs_done >= b->subs_made) &&
	       res != ETIMEDOUT)
		res = pthread_cond_timedwait(&b->quiet_cv, &b->quiet_mu, &until);
	pthread_mutex_unlock(&b->quiet_mu);
	return quiet;
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
	struct nbridge *b = arg;

	/* Slow consumers and the like: the edge resubscribes where it is. */
	if (sub && sub == b->sub_out)
		atomic_store(&b->bounced, true);
	post_log(b, "NATS: %s", natsStatus_GetText(err));
}

/* The password is read when connecting, and wiped once libnats has its copy. */
static int read_passfile(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "passfile=%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!fgets(out, (int)len, f)) {
		fclose(f);
		snprintf(err, errlen, "passfile=%s: empty", path);
		return -EINVAL;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return 0;
}

static int make_options(struct nbridge *b, char *err, size_t errlen)
{
	const struct nats_conf *c = &b->p.conf;
	char name[NATS_NAME_MAX * 2 + 32];
	natsStatus s;

	s = natsOptions_Create(&b->opts);
	if (s != NATS_OK)
		goto fail;
	snprintf(name, sizeof(name), "ringside %s %s%s%s",
		 b->p.role == NBRIDGE_ORIGIN ? "origin" : "edge", c->session,
		 c->name[0] ? " " : "", c->name);
	s = natsOptions_SetURL(b->opts, c->url);
	if (s == NATS_OK)
		s = natsOptions_SetName(b->opts, name);
	/* Forever: an outage costs remote watchers only, and it ends. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(b->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(b->opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(b->opts, 2000);
	/* A dead peer behind a live socket is found within seconds. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(b->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(b->opts, 2);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(b->opts, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(b->opts, on_reconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(b->opts, on_async_error, b);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(b->opts, on_closed, b);
	if (s != NATS_OK)
		goto fail;
	if (c->creds[0]) {
		s = natsOptions_SetUserCredentialsFromFiles(b->opts, c->creds, NULL);
		if (s != NATS_OK) {
			snprintf(err, errlen, "creds=%s: %s", c->creds, last_error(s));
			return -EINVAL;
		}
	}
	if (c->user[0]) {
		char pw[512];
		int res = read_passfile(c->passfile, pw, sizeof(pw), err, errlen);

		if (res < 0)
			return res;
		s = natsOptions_SetUserInfo(b->opts, c->user, pw);
		explicit_bzero(pw, sizeof(pw));
		if (s != NATS_OK)
			goto fail;
	}
	if (c->ca[0]) {
		s = natsOptions_SetSecure(b->opts, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(b->opts, c->ca);
		if (s != NATS_OK) {
			snprintf(err, errlen, "ca=%s: %s", c->ca, last_error(s));
			return -EINVAL;
		}
	}
	return 0;
fail:
	snprintf(err, errlen, "NATS options: %s", last_error(s));
	return -EINVAL;
}

static bool connected(struct nbridge *b)
{
	return b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* The headers of MSG that we read, as key/value pairs (valid while MSG is). */
static unsigned headers_of(natsMsg *msg, struct nats_hdr *h)
{
	static const char *const keys[] = {
		"Ringside-Session", "Ringside-Kind", "Ringside-Offset", "Ringside-End",
		"Ringside-State", "Ringside-Program", "Ringside-Who", "Ringside-Edge",
		"Ringside-Role", "Ringside-Presence", "Ringside-Epoch", "Ringside-Seq",
		"Ringside-Count", "Ringside-Part", "Ringside-Parts",
	};
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && n < NATS_HDR_MAX + 1; i++) {
		const char *v = NULL;

		if (natsMsgHeader_Get(msg, keys[i], &v) == NATS_OK && v) {
			h[n].key = keys[i];
			h[n].value = v;
			n++;
		}
	}
	return n;
}

static natsStatus set_headers(natsMsg *m, const struct nats_hdrs *hd)
{
	natsStatus s = NATS_OK;

	for (unsigned i = 0; i < hd->n && s == NATS_OK; i++)
		s = natsMsgHeader_Set(m, hd->h[i].key, hd->h[i].value);
	return s;
}

/*
 * Origin.
 */

static void on_input(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	struct nbridge *b = arg;
	struct nats_hdr h[NATS_HDR_MAX + 2];
	unsigned n = headers_of(msg, h);
	int len = natsMsg_GetDataLength(msg);
	struct nats_item *it;
	char err[128];

	if (sub == b->sub_in) {
		struct nats_input in;

		if (nats_input_decode(&in, h, n, err, sizeof(err)) < 0 || len < 0 ||
		    len > 1 << 20) {
			post_log(b, "NATS: input on %s refused: %s", b->subj.in,
				 len > 1 << 20 ? "too long" : err);
			goto out;
		}
		it = nats_item_new(NEV_INPUT, (size_t)len);
		if (!it)
			goto out;
		it->in = in;
	} else if (sub == b->sub_v1) {
		/* An older edge's whole lists: refused, and said so now and
		 * then (they come every few seconds), rather than misread. */
		const char *edge = nats_hdr_get(h, n, "Ringside-Edge");
		int64_t now = nats_Now();

		if (!b->v1_told_at || now - b->v1_told_at >= 60000) {
			b->v1_told_at = now;
			post_log(b, "NATS: edge %s sends client lists in presence version 1 (an "
				 "older ringside); they are ignored: its clients are not listed here. "
				 "Run the same ringside version at the origin and its edges",
				 edge && nats_name_ok(edge) ? edge : "?");
		}
		goto out;
	} else {
		struct nats_pres pres;

		/* Version 2 is checked here, so that nothing else is ever read
		 * as a presence message. */
		if (nats_pres_decode(&pres, h, n, err, sizeof(err)) < 0 || len < 0 ||
		    len > NATS_PRES_CHUNK) {
			int64_t now = nats_Now();

			if (!b->v1_told_at || now - b->v1_told_at >= 60000) {
				b->v1_told_at = now;
				post_log(b, "NATS: presence on %s refused: %s", b->subj.presence,
					 len > NATS_PRES_CHUNK ? "too long" : err);
			}
			goto out;
		}
		it = nats_item_new(sub == b->sub_ask ? NEV_PRESENCE_ASK : NEV_PRESENCE,
				   (size_t)len);
		if (!it)
			goto out;
		it->pres = pres;
	}
	memcpy(it->data, natsMsg_GetData(msg), (size_t)len);
	nats_chan_post(b->ch, it);
out:
	natsMsg_Destroy(msg);
}

static int ensure_stream(struct nbridge *b)
{
	const char *subjects[] = { b->subj.out };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	jsStreamConfig_Init(&cfg);
	cfg.Name = b->subj.stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.MaxBytes = (int64_t)b->p.conf.max_bytes;
	cfg.MaxAge = (int64_t)b->p.conf.max_age_s * 1000000000ll;
	cfg.MaxMsgSize = NATS_REC_MAX + 4096;
	cfg.Duplicates = DUP_WINDOW_NS;
	cfg.Discard = js_DiscardOld;
	cfg.Replicas = b->p.conf.replicas ? (int64_t)b->p.conf.replicas : 1;
	s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNameExistErr) {
		/* An update sets every field: without replicas= the stream keeps
		 * the replicas it has (an operator may have scaled it), rather
		 * than being cut down to one. */
		if (!b->p.conf.replicas) {
			s = js_GetStreamInfo(&si, b->js, b->subj.stream, NULL, &jerr);
			if (s == NATS_OK && si->Config->Replicas > 0)
				cfg.Replicas = si->Config->Replicas;
			jsStreamInfo_Destroy(si);
			si = NULL;
		}
		if (s == NATS_OK)
			s = js_UpdateStream(&si, b->js, &cfg, NULL, &jerr);
	}
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		post_log(b, "NATS: stream %s: %s (JetStream error %d)", b->subj.stream,
			 last_error(s), (int)jerr);
		return -EIO;
	}
	return 0;
}

/* Where publishing goes on: just after the stream's last record of ours.
 * A stream another session left behind is emptied first. */
static int find_resume(struct nbridge *b)
{
	natsMsg *last = NULL;
	jsErrCode jerr = 0;
	struct nats_hdr h[NATS_HDR_MAX + 2];
	struct nats_rec rec;
	char err[128];
	natsStatus s;

	s = js_GetLastMsg(&last, b->js, b->subj.stream, b->subj.out, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
		b->expect = 0;
		return 0;
	}
	if (s != NATS_OK) {
		post_log(b, "NATS: reading the stream's last record: %s", last_error(s));
		return -EIO;
	}
	if (nats_rec_decode(&rec, h, headers_of(last, h),
			    (size_t)natsMsg_GetDataLength(last), err, sizeof(err)) == 0 &&
	    memcmp(rec.session, b->p.session, sizeof(rec.session)) == 0) {
		b->expect = rec.kind == NATS_STATE ? rec.offset : rec.end;
		natsMsg_Destroy(last);
		return 0;
	}
	natsMsg_Destroy(last);
	/* Another session's records (an earlier run under this name): its
	 * edges learn it ended from ours, which start afresh. */
	s = js_PurgeStream(b->js, b->subj.stream, NULL, &jerr);
	if (s != NATS_OK) {
		post_log(b, "NATS: purging stream %s: %s", b->subj.stream, last_error(s));
		return -EIO;
	}
	b->expect = 0;
	return 0;
}

static int origin_prepare(struct nbridge *b)
{
	natsStatus s;

	if (!b->js && natsConnection_JetStream(&b->js, b->nc, NULL) != NATS_OK)
		return -EIO;
	if (ensure_stream(b) < 0 || find_resume(b) < 0)
		return -EIO;
	/* Core subscriptions survive reconnects (libnats makes them again). */
	if (!b->sub_in) {
		s = natsConnection_Subscribe(&b->sub_in, b->nc, b->subj.in, on_input, b);
		if (s != NATS_OK)
			return -EIO;
		track_sub(b, b->sub_in);
	}
	if (!b->sub_presence) {
		s = natsConnection_Subscribe(&b->sub_presence, b->nc, b->subj.presence, on_input, b);
		if (s != NATS_OK)
			return -EIO;
		track_sub(b, b->sub_presence);
	}
	if (!b->sub_v1) {
		s = natsConnection_Subscribe(&b->sub_v1, b->nc, b->subj.presence_v1, on_input, b);
		if (s != NATS_OK)
			return -EIO;
		track_sub(b, b->sub_v1);
	}
	return 0;
}

static bool publish_one(struct nbridge *b, const struct nats_item *it)
{
	struct nats_hdrs hd;
	jsPubOptions po;
	jsPubAck *ack = NULL;
	jsErrCode jerr = 0;
	natsMsg *m = NULL;
	natsStatus s;

	if (nats_rec_encode(&it->rec, it->len, &hd) < 0) {
		post_log(b, "NATS: a record at %" PRIu64 " could not be encoded", it->rec.offset);
		return false;
	}
	s = natsMsg_Create(&m, b->subj.out, NULL, it->data, (int)it->len);
	if (s == NATS_OK)
		s = set_headers(m, &hd);
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MaxWait = PUBLISH_WAIT_MS;
		s = js_PublishMsg(&ack, b->js, m, &po, &jerr);
	}
	natsMsg_Destroy(m);
	jsPubAck_Destroy(ack);
	return s == NATS_OK;
}

static void send_presence(struct nbridge *b, const char *subj, const struct nats_item *it)
{
	struct nats_hdrs hd;
	natsMsg *m = NULL;

	if (b->ready && nats_pres_encode(&it->pres, &hd) == 0 &&
	    natsMsg_Create(&m, subj, NULL, it->len ? it->data : NULL, (int)it->len) == NATS_OK &&
	    set_headers(m, &hd) == NATS_OK)
		natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
}

static void origin_command(struct nbridge *b, struct nats_item *it)
{
	if (it->type == NCMD_PRESENCE_ASK) {
		char subj[NATS_SUBJECT_MAX + NATS_NAME_MAX + 2];

		snprintf(subj, sizeof(subj), "%s.%s", b->subj.ask, it->pres.edge);
		send_presence(b, subj, it);
	} else if (it->type == NCMD_RECORD) {
		if (!b->in_batch) {
			b->in_batch = true;
			/* A batch cut for an offset we no longer expect (crossed
			 * with a reconnect) is answered, not published. */
			b->batch_ok = b->ready && it->rec.offset == b->expect;
		}
		if (b->batch_ok && !publish_one(b, it)) {
			b->batch_ok = false;
			b->ready = false;
			if (!atomic_exchange(&b->down_told, true))
				post_simple(b, NEV_DOWN, 0);
		}
	} else if (it->type == NCMD_BATCH_END) {
		if (b->batch_ok)
			b->expect = it->a;
		if (b->ready)
			post_simple(b, NEV_WANT, b->expect);
		b->in_batch = false;
	}
	free(it);
}

/*
 * Edge.
 */

/* The offset of record SEQ (its start), or -1 when it cannot be read. */
static int64_t offset_at(struct nbridge *b, uint64_t seq, struct nats_rec *rec)
{
	struct nats_hdr h[NATS_HDR_MAX + 2];
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	char err[64];
	int64_t off = -1;

	if (js_GetMsg(&m, b->js, b->subj.stream, seq, NULL, &jerr) != NATS_OK)
		return -1;
	if (nats_rec_decode(rec, h, headers_of(m, h), (size_t)natsMsg_GetDataLength(m), err,
			    sizeof(err)) == 0)
		off = (int64_t)rec->offset;
	natsMsg_Destroy(m);
	return off;
}

/* The first sequence whose record starts at or after TARGET (records are
 * in offset order), between FIRST and LAST. */
static uint64_t find_start(struct nbridge *b, uint64_t first, uint64_t last, uint64_t target)
{
	uint64_t lo = first, hi = last;
	struct nats_rec rec;

	/* 64 requests at most: a binary search over 2^64 sequences. */
	for (int i = 0; i < 64 && lo < hi; i++) {
		uint64_t mid = lo + (hi - lo) / 2;
		int64_t off = offset_at(b, mid, &rec);

		if (off < 0)
			return first;
		if ((uint64_t)off < target)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void on_record(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	struct nbridge *b = arg;
	struct nats_hdr h[NATS_HDR_MAX + 2];
	jsMsgMetaData *meta = NULL;
	struct nats_item *it;
	struct nats_rec rec;
	uint64_t seq;
	char err[128];
	int len;

	if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
		natsMsg_Destroy(msg);
		return;
	}
	seq = meta->Sequence.Stream;
	jsMsgMetaData_Destroy(meta);
	pthread_mutex_lock(&b->seq_mu);
	if (seq < b->next_seq) {
		/* Already posted: a consumer made again from further back. */
		pthread_mutex_unlock(&b->seq_mu);
		natsMsg_Destroy(msg);
		return;
	}
	b->next_seq = seq + 1;
	pthread_mutex_unlock(&b->seq_mu);
	len = natsMsg_GetDataLength(msg);
	if (len < 0 || nats_rec_decode(&rec, h, headers_of(msg, h), (size_t)len, err,
				       sizeof(err)) < 0) {
		if (!b->told_bad)
			post_log(b, "NATS: a record at stream sequence %" PRIu64 " was skipped: %s",
				 seq, len < 0 ? "no data" : err);
		b->told_bad = true;
		natsMsg_Destroy(msg);
		return;
	}
	it = nats_item_new(NEV_RECORD, (size_t)len);
	if (it) {
		it->seq = seq;
		it->rec = rec;
		memcpy(it->data, natsMsg_GetData(msg), (size_t)len);
	}
	natsMsg_Destroy(msg);
	if (!it)
		return;
	/* The loop is behind: wait for it, and so hold the consumer back
	 * (its flow control), rather than queue without bound. */
	for (int i = 0; i < 600 && !nats_chan_wait_room(b->ch, EDGE_EVENTS_MAX, 100); i++)
		if (b->ch->stop)
			break;
	nats_chan_post(b->ch, it);
}

/*
 * DELETE: also delete the ordered consumer at the server now, rather than
 * leave it to the server once nobody is interested.  Not after a bounce:
 * libnats may be resetting that very consumer on its own thread then (it
 * frees the consumer's name that a delete reads: a use-after-free seen under
 * ASan), and a consumer of the old connection has no interest left anyway.
 */
static void edge_unsubscribe(struct nbridge *b, bool delete)
{
	if (b->sub_out) {
		if (delete)
			natsSubscription_Unsubscribe(b->sub_out);
		natsSubscription_Destroy(b->sub_out);
		b->sub_out = NULL;
	}
}

static int edge_prepare(struct nbridge *b)
{
	jsStreamInfo *si = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	struct nats_rec rec;
	struct nats_item *up;
	uint64_t start, first, last;
	natsStatus s;

	if (!b->js && natsConnection_JetStream(&b->js, b->nc, NULL) != NATS_OK)
		return -EIO;
	if (!b->sub_ask) {
		char subj[NATS_SUBJECT_MAX + NATS_NAME_MAX + 2];

		snprintf(subj, sizeof(subj), "%s.%s", b->subj.ask, b->p.conf.name);
		if (natsConnection_Subscribe(&b->sub_ask, b->nc, subj, on_input, b) != NATS_OK) {
			b->sub_ask = NULL;
			return -EIO;
		}
		track_sub(b, b->sub_ask);
	}
	s = js_GetStreamInfo(&si, b->js, b->subj.stream, NULL, &jerr);
	if (s != NATS_OK || si->State.Msgs == 0) {
		if (!b->told_waiting)
			post_log(b, "waiting for session %s to be published (stream %s: %s)",
				 b->p.conf.session, b->subj.stream,
				 s == NATS_OK ? "empty" : jerr == JSStreamNotFoundErr ?
				 "not found" : last_error(s));
		b->told_waiting = true;
		jsStreamInfo_Destroy(si);
		return -EAGAIN;
	}
	first = si->State.FirstSeq;
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (offset_at(b, last, &rec) < 0)
		return -EAGAIN;
	/* Where the edge's session is: the loop starts its session (or sees
	 * that another one has begun) from the newest record. */
	up = nats_item_new(NEV_UP, 0);
	if (!up)
		return -ENOMEM;
	up->rec = rec;
	up->seq = last;
	pthread_mutex_lock(&b->seq_mu);
	start = b->next_seq;
	pthread_mutex_unlock(&b->seq_mu);
	if (start == 0) {
		start = find_start(b, first, last,
				   rec.end > b->p.want_bytes ? rec.end - b->p.want_bytes : 0);
		pthread_mutex_lock(&b->seq_mu);
		b->next_seq = start;
		pthread_mutex_unlock(&b->seq_mu);
	}
	/* What the stream has dropped since is a gap the loop sees in the
	 * offsets: nothing to do here. */
	if (start < first)
		start = first;
	nats_chan_post(b->ch, up);
	jsSubOptions_Init(&so);
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverByStartSequence;
	so.Config.OptStartSeq = start;
	s = js_Subscribe(&b->sub_out, b->js, b->subj.out, on_record, b, NULL, &so, &jerr);
	if (s != NATS_OK) {
		post_log(b, "NATS: subscribing to %s: %s", b->subj.out, last_error(s));
		b->sub_out = NULL;
		return -EIO;
	}
	track_sub(b, b->sub_out);
	b->told_waiting = false;
	return 0;
}

static void edge_command(struct nbridge *b, struct nats_item *it)
{
	struct nats_hdrs hd;
	natsMsg *m = NULL;

	if (it->type == NCMD_PRESENCE) {
		/* Dropped while not connected: the origin sees the gap in the
		 * numbers and asks for a snapshot. */
		send_presence(b, b->subj.presence, it);
	} else if (nats_input_encode(&it->in, &hd) == 0 && b->ready &&
		   natsMsg_Create(&m, b->subj.in, NULL, it->data, (int)it->len) == NATS_OK &&
		   set_headers(m, &hd) == NATS_OK) {
		natsConnection_PublishMsg(b->nc, m);
	}
	natsMsg_Destroy(m);
	free(it);
}

/*
 * The thread.
 */

/* Drop the connection and everything made on it. */
static void disconnect(struct nbridge *b)
{
	edge_unsubscribe(b, b->ready && connected(b) && !atomic_load(&b->bounced));
	if (b->sub_in) {
		natsSubscription_Destroy(b->sub_in);
		b->sub_in = NULL;
	}
	if (b->sub_presence) {
		natsSubscription_Destroy(b->sub_presence);
		b->sub_presence = NULL;
	}
	if (b->sub_v1) {
		natsSubscription_Destroy(b->sub_v1);
		b->sub_v1 = NULL;
	}
	if (b->sub_ask) {
		natsSubscription_Destroy(b->sub_ask);
		b->sub_ask = NULL;
	}
	jsCtx_Destroy(b->js);
	b->js = NULL;
	if (b->nc) {
		natsConnection_Close(b->nc);
		natsConnection_Destroy(b->nc);
		b->nc = NULL;
	}
	b->ready = false;
	b->in_batch = false;
}

/*
 * The first connection is ours to retry (libnats' own retry of a failed
 * connect cannot be interrupted, and retries a refused login for ever
 * without a word); once connected, libnats reconnects by itself, and a
 * connection it gives up on (closed) is made again here.
 */
static void try_connect(struct nbridge *b, natsStatus *last)
{
	natsStatus s = natsConnection_Connect(&b->nc, b->opts);

	if (s == NATS_OK) {
		*last = NATS_OK;
		pthread_mutex_lock(&b->quiet_mu);
		b->conns_made++;
		pthread_mutex_unlock(&b->quiet_mu);
		return;
	}
	b->nc = NULL;
	if (s != *last)
		post_log(b, "NATS: cannot connect to %s: %s; trying again every second",
			 b->p.conf.url, last_error(s));
	*last = s;
}

static void *bridge_main(void *arg)
{
	struct nbridge *b = arg;
	natsStatus last = NATS_OK;
	bool stop = false;
	int64_t retry_at = 0, now;

	while (!stop) {
		struct nats_item *it;

		now = nats_Now();
		if (b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CLOSED) {
			disconnect(b);
			if (!atomic_exchange(&b->down_told, true))
				post_simple(b, NEV_DOWN, 0);
		}
		if (!b->nc && now >= retry_at) {
			try_connect(b, &last);
			if (!b->nc)
				retry_at = now + RETRY_MS;
		}
		if (atomic_exchange(&b->bounced, false)) {
			/* Whatever was set up belongs to the old connection. */
			b->ready = false;
			b->in_batch = false;
			if (b->p.role == NBRIDGE_EDGE)
				edge_unsubscribe(b, false);
			if (!atomic_exchange(&b->down_told, true))
				post_simple(b, NEV_DOWN, 0);
		}
		if (!b->ready && connected(b) && now >= retry_at) {
			int res = b->p.role == NBRIDGE_ORIGIN ? origin_prepare(b) : edge_prepare(b);

			if (res == 0) {
				b->ready = true;
				atomic_store(&b->down_told, false);
				if (b->p.role == NBRIDGE_ORIGIN) {
					post_simple(b, NEV_UP, 0);
					post_simple(b, NEV_WANT, b->expect);
				}
			} else {
				retry_at = now + RETRY_MS;
			}
		}
		it = nats_chan_next_cmd(b->ch, POLL_MS, &stop);
		if (!it)
			continue;
		if (b->p.role == NBRIDGE_ORIGIN)
			origin_command(b, it);
		else
			edge_command(b, it);
	}
	disconnect(b);
	if (!wait_quiet(b))
		b->still_called = true;
	return NULL;
}

static int bridge_start(struct nbridge **out, const struct nbridge_params *p, struct nats_chan *ch,
			char *err, size_t errlen)
{
	struct nbridge *b = calloc(1, sizeof(*b));
	sigset_t all, old;
	int res;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->p = *p;
	b->ch = ch;
	nats_subjects_of(p->conf.session, &b->subj);
	pthread_mutex_init(&b->seq_mu, NULL);
	pthread_mutex_init(&b->quiet_mu, NULL);
	pthread_cond_init(&b->quiet_cv, NULL);
	/* Signals are the loop's (a signalfd): no thread of ours or of
	 * libnats (all started from here or from ours) may take one, whether
	 * or not the caller has blocked them yet. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (nats_Open(-1) != NATS_OK) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		snprintf(err, errlen, "the NATS library could not start");
		res = -EIO;
		goto fail;
	}
	res = make_options(b, err, errlen);
	if (res < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto fail;
	}
	res = -pthread_create(&b->thread, NULL, bridge_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (res < 0) {
		snprintf(err, errlen, "cannot start the NATS thread: %s", strerror(-res));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	natsOptions_Destroy(b->opts);
	pthread_mutex_destroy(&b->seq_mu);
	pthread_mutex_destroy(&b->quiet_mu);
	pthread_cond_destroy(&b->quiet_cv);
	/* The credentials' file names go with it. */
	explicit_bzero(b, sizeof(*b));
	free(b);
	return res;
}

static void bridge_stop(struct nbridge *b)
{
	if (!b)
		return;
	nats_chan_stop(b->ch);
	pthread_join(b->thread, NULL);
	if (b->still_called) {
		/* Freeing B under a call still to come would be worse than
		 * keeping it: a handler stuck for QUIET_WAIT_S in libnats. */
		fprintf(stderr, "ringside: NATS: the client library did not finish its "
			"callbacks within %d s; its state is kept\n", QUIET_WAIT_S);
		return;
	}
	natsOptions_Destroy(b->opts);
	pthread_mutex_destroy(&b->seq_mu);
	pthread_mutex_destroy(&b->quiet_mu);
	pthread_cond_destroy(&b->quiet_cv);
	explicit_bzero(b, sizeof(*b));
	free(b);
}

const struct nbridge_impl nbridge_nats = {
	.start = bridge_start,
	.stop = bridge_stop,
};
