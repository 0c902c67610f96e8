/* natsprobe.c: a small JetStream client for the NATS test environment
 * (tests/integration/natsenv.py) and the cluster test: it creates a stream,
 * publishes numbered messages de-duplicated by message id, and reads a
 * stream back checking that every number arrives exactly once and in order.
 * It exists so that the environment can be checked (a replicas-3 stream
 * survives a node kill) without the feature under test.
 *
 *   natsprobe URLS create STREAM SUBJECT REPLICAS
 *   natsprobe URLS publish SUBJECT FIRST COUNT
 *   natsprobe URLS check SUBJECT COUNT [SECONDS]
 *   natsprobe URLS info STREAM
 *
 * URLS is a comma-separated list (nats://10.77.0.1:4222,...): the client
 * fails over between them.  Every wait is bounded; exit 0 means success,
 * 1 a failed check, 2 a usage or connection error. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#define MAX_URLS 8
/* How long one publish keeps retrying the same message id: a replicas-3
 * stream elects a new leader within a few seconds of losing one. */
#define PUBLISH_RETRY_MS 20000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: natsprobe URLS create STREAM SUBJECT REPLICAS\n"
			"       natsprobe URLS publish SUBJECT FIRST COUNT\n"
			"       natsprobe URLS check SUBJECT COUNT [SECONDS]\n"
			"       natsprobe URLS info STREAM\n");
	exit(2);
}

static uint64_t number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "natsprobe: %s: want a number, got '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static natsConnection *connect_to(char *urls)
{
	const char *list[MAX_URLS];
	int n = 0;
	for (char *save = NULL, *u = strtok_r(urls, ",", &save); u && n < MAX_URLS;
	     u = strtok_r(NULL, ",", &save))
		list[n++] = u;
	natsOptions *opts;
	natsConnection *nc = NULL;
	if (natsOptions_Create(&opts) != NATS_OK)
		exit(2);
	natsOptions_SetServers(opts, list, n);
	natsOptions_SetTimeout(opts, 2000);
	natsOptions_SetMaxReconnect(opts, 60);
	natsOptions_SetReconnectWait(opts, 250);
	natsStatus s = natsConnection_Connect(&nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		fprintf(stderr, "natsprobe: connect %s: %s\n", list[0], natsStatus_GetText(s));
		exit(2);
	}
	return nc;
}

static int cmd_create(jsCtx *js, const char *stream, const char *subject, int replicas)
{
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	cfg.Name = stream;
	cfg.Subjects = &subject;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = replicas;
	cfg.Duplicates = (int64_t)120 * 1000000000;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	/* Right after the cluster formed, the meta leader may not be elected. */
	natsStatus s = NATS_ERR;
	for (int64_t end = now_ms() + 20000; now_ms() < end;) {
		s = js_AddStream(&si, js, &cfg, NULL, &jerr);
		if (s == NATS_OK)
			break;
		nats_Sleep(250);
	}
	if (s != NATS_OK) {
		fprintf(stderr, "natsprobe: create %s: %s (jetstream error %d)\n", stream,
			natsStatus_GetText(s), (int)jerr);
		return 1;
	}
	printf("created %s replicas=%d leader=%s\n", stream, replicas,
	       si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "-");
	jsStreamInfo_Destroy(si);
	return 0;
}

static int cmd_publish(jsCtx *js, const char *subject, uint64_t first, uint64_t count)
{
	uint64_t dups = 0, retries = 0;
	for (uint64_t i = first; i < first + count; i++) {
		char body[32], id[48];
		int len = snprintf(body, sizeof body, "%" PRIu64, i);
		snprintf(id, sizeof id, "%s-%" PRIu64, subject, i);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MsgId = id;
		po.MaxWait = 2000;
		int64_t end = now_ms() + PUBLISH_RETRY_MS;
		for (;;) {
			jsPubAck *pa = NULL;
			jsErrCode jerr = 0;
			natsStatus s = js_Publish(&pa, js, subject, body, len, &po, &jerr);
			if (s == NATS_OK) {
				dups += pa->Duplicate;
				jsPubAck_Destroy(pa);
				break;
			}
			if (now_ms() > end) {
				fprintf(stderr, "natsprobe: publish %" PRIu64 ": %s (jetstream error %d)\n", i,
					natsStatus_GetText(s), (int)jerr);
				return 1;
			}
			retries++;
			nats_Sleep(100);
		}
	}
	printf("published %" PRIu64 " duplicates=%" PRIu64 " retries=%" PRIu64 "\n", count, dups, retries);
	return 0;
}

static int cmd_check(jsCtx *js, const char *subject, uint64_t count, int64_t secs)
{
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverAll;
	natsSubscription *sub = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_ERR;
	int64_t end = now_ms() + secs * 1000;
	/* Just after a node died the stream may still be electing its leader,
	 * which has to make the consumer. */
	while (now_ms() < end) {
		s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
		if (s == NATS_OK)
			break;
		nats_Sleep(250);
	}
	if (s != NATS_OK) {
		fprintf(stderr, "natsprobe: subscribe %s: %s (jetstream error %d)\n", subject,
			natsStatus_GetText(s), (int)jerr);
		return 1;
	}
	uint64_t want = 1, stream_seq = 0;
	int rc = 0;
	while (want <= count) {
		int64_t left = end - now_ms();
		natsMsg *m = NULL;
		if (left <= 0 || (s = natsSubscription_NextMsg(&m, sub, left)) != NATS_OK) {
			fprintf(stderr, "natsprobe: check %s: got 1..%" PRIu64 " of %" PRIu64 " in %" PRId64 " s\n",
				subject, want - 1, count, secs);
			rc = 1;
			break;
		}
		char body[32];
		int len = natsMsg_GetDataLength(m);
		snprintf(body, sizeof body, "%.*s", len < 31 ? len : 31, natsMsg_GetData(m));
		uint64_t got = strtoull(body, NULL, 10);
		jsMsgMetaData *meta = NULL;
		if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
			if (meta->Sequence.Stream <= stream_seq) {
				fprintf(stderr, "natsprobe: check %s: stream sequence %" PRIu64 " after %" PRIu64 "\n",
					subject, meta->Sequence.Stream, stream_seq);
				rc = 1;
			}
			stream_seq = meta->Sequence.Stream;
			jsMsgMetaData_Destroy(meta);
		}
		natsMsg_Destroy(m);
		if (got != want) {
			fprintf(stderr, "natsprobe: check %s: message %" PRIu64 " where %" PRIu64 " was due\n", subject,
				got, want);
			rc = 1;
			break;
		}
		want++;
	}
	/* Nothing beyond COUNT: a repeat at the end would otherwise pass. */
	if (rc == 0) {
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
			fprintf(stderr, "natsprobe: check %s: a message after the last (%.*s)\n", subject,
				natsMsg_GetDataLength(m), natsMsg_GetData(m));
			natsMsg_Destroy(m);
			rc = 1;
		}
	}
	natsSubscription_Destroy(sub);
	if (rc == 0)
		printf("checked %" PRIu64 " in order, last stream sequence %" PRIu64 "\n", count, stream_seq);
	return rc;
}

static int cmd_info(jsCtx *js, const char *stream)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "natsprobe: info %s: %s (jetstream error %d)\n", stream, natsStatus_GetText(s),
			(int)jerr);
		return 1;
	}
	int current = 0, replicas = 0;
	if (si->Cluster) {
		replicas = si->Cluster->ReplicasLen;
		for (int i = 0; i < si->Cluster->ReplicasLen; i++)
			current += si->Cluster->Replicas[i]->Current && !si->Cluster->Replicas[i]->Offline;
	}
	printf("stream=%s replicas=%" PRId64 " leader=%s followers=%d current=%d msgs=%" PRIu64 " last=%" PRIu64 "\n",
	       stream, si->Config->Replicas,
	       si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "-", replicas, current,
	       si->State.Msgs, si->State.LastSeq);
	jsStreamInfo_Destroy(si);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	const char *cmd = argv[2];
	natsConnection *nc = connect_to(argv[1]);
	jsCtx *js = NULL;
	if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		fprintf(stderr, "natsprobe: no JetStream context\n");
		return 2;
	}
	int rc;
	if (!strcmp(cmd, "create") && argc == 6)
		rc = cmd_create(js, argv[3], argv[4], (int)number(argv[5], "REPLICAS"));
	else if (!strcmp(cmd, "publish") && argc == 6)
		rc = cmd_publish(js, argv[3], number(argv[4], "FIRST"), number(argv[5], "COUNT"));
	else if (!strcmp(cmd, "check") && (argc == 5 || argc == 6))
		rc = cmd_check(js, argv[3], number(argv[4], "COUNT"),
			       argc == 6 ? (int64_t)number(argv[5], "SECONDS") : 30);
	else if (!strcmp(cmd, "info") && argc == 4)
		rc = cmd_info(js, argv[3]);
	else
		usage();
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
