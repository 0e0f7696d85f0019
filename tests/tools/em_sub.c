/*
 * em-sub: a long-lived controller subscriber for the tests and benchmarks.
 * It subscribes like a daemon, keeps a replica, and prints one line per
 * event, each ending in t=<CLOCK_REALTIME ns>:
 *
 *	connected
 *	synced version=V services=N endpoints=N peers=N gateways=N self=N
 *	add|change|delete <topic> <key> [summary]
 *	state <topic> <key> <summary>          (with -d, after each full sync)
 *	disconnected <reason>
 *
 * A snapshot after a reconnect reports only what differs from what the
 * replica had.  On any error it reconnects (every 100 ms) and resyncs.
 *
 *	em-sub -c FILE [-t services,endpoints,peers,gateways,self] [-d] [-1] [-q]
 *	  -d  dump the whole state after each full sync
 *	  -1  exit 0 after the first full sync (and dump)
 *	  -q  no add/change/delete lines during a snapshot (big registries)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "replica.h"

#define SUMMARY_MAX 8192

static int quiet_snapshot, in_snapshot;

static unsigned long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* A one-line summary of an object, stable for grep. */
static void
summarize(const struct em_object *o, char *buf, size_t len)
{
	size_t n = 0, i;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (n < len)                                                                       \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);                      \
	} while (0)
	buf[0] = '\0';
	switch (o->topic) {
	case EM_TOPIC_SERVICES: {
		const struct em_service *s = o->u.svc;

		ADD("ip=%s ports=", s->cluster_ip[0] ? s->cluster_ip : "-");
		for (i = 0; i < s->nports; i++)
			ADD("%s%s%s%u/%s", i ? "," : "", s->ports[i].name,
			    s->ports[i].name[0] ? ":" : "", s->ports[i].port,
			    em_proto_name(s->ports[i].proto));
		ADD(" lb=%s", em_lb_name(s->lb));
		break;
	}
	case EM_TOPIC_ENDPOINTS: {
		const struct em_endpoints *e = o->u.eps;

		ADD("ports=");
		for (i = 0; i < e->nports; i++)
			ADD("%s%u", i ? "," : "", e->ports[i].port);
		ADD(" eps=");
		for (i = 0; i < e->neps; i++)
			ADD("%s%s/%s/%s", i ? "," : "", e->eps[i].ip,
			    e->eps[i].ready ? "ready" : "notready",
			    e->eps[i].node[0] ? e->eps[i].node : "-");
		break;
	}
	case EM_TOPIC_PEERS: {
		const struct em_peer *p = o->u.peer;

		ADD("addrs=");
		for (i = 0; i < p->naddrs; i++)
			ADD("%s%s", i ? "," : "", p->addrs[i]);
		ADD(" relay=%d", p->relay);
		break;
	}
	case EM_TOPIC_GATEWAYS:
		ADD("servers=%zu routes=%zu", o->u.gw->nservers, o->u.gw->nroutes);
		break;
	case EM_TOPIC_SELF:
		ADD("node=%s domain=%s", o->u.self->node, o->u.self->domain);
		break;
	default:
		break;
	}
#undef ADD
}

static void
on_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
	  const struct em_object *cur)
{
	static char a[SUMMARY_MAX], b[SUMMARY_MAX];

	if (quiet_snapshot && in_snapshot)
		return; /* not even summarized: the snapshot costs what a daemon's does */
	if (cur != NULL)
		summarize(cur, b, sizeof(b));
	if (old != NULL && cur != NULL) {
		summarize(old, a, sizeof(a));
		if (strcmp(a, b) == 0)
			return; /* a resync repeating what we had */
	}
	if (cur == NULL)
		printf("delete %s %s t=%llu\n", em_topic_name(t), key, now_ns());
	else
		printf("%s %s %s %s t=%llu\n", old == NULL ? "add" : "change", em_topic_name(t),
		       key, b, now_ns());
}

static void
dump(const struct replica *r, uint32_t topics)
{
	static char s[SUMMARY_MAX];
	struct replica_iter it;
	const struct em_object *o;
	char key[EM_KEY_LEN];
	int t;

	for (t = 0; t < EM_TOPIC_COUNT; t++) {
		if (!(topics & EM_TOPIC_BIT(t)))
			continue;
		replica_iter_init(&it);
		while (replica_next(r, (enum em_topic)t, &it, &o)) {
			summarize(o, s, sizeof(s));
			printf("state %s %s %s\n", em_topic_name((enum em_topic)t),
			       em_object_key(o, key, sizeof(key)), s);
		}
	}
}

static int
send_msg(int fd, uint16_t type, msgpack_sbuffer *sb)
{
	int rc = ipc_write_frame(fd, type, sb->data, sb->size, -1);

	msgpack_sbuffer_clear(sb);
	return rc;
}

static int
say_hello(int fd, uint32_t topics)
{
	struct ipc_hello h;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	ipc_hello_init(&h, "em-sub");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_hello(&pk, &h);
	rc = send_msg(fd, IPC_HELLO, &sb);
	if (rc == 0) {
		ipc_pack_subscribe(&pk, topics);
		rc = send_msg(fd, IPC_SUBSCRIBE, &sb);
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Read and apply messages until the connection fails; *err says why. */
static void
session(int fd, struct replica *r, uint32_t topics, int dumpit, int once, char *err, size_t errlen)
{
	struct ipc_hdr h;
	struct ipc_msg m;
	uint8_t *payload;
	uint32_t pending = topics; /* topics whose snapshot has not ended yet */
	char reason[256];
	int rfd, t;

	for (;;) {
		if (ipc_read_frame(fd, IPC_MAX_CONTROL, &h, &payload, &rfd, err, errlen) == -1)
			return;
		if (rfd != -1)
			close(rfd);
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		if (ipc_msg_parse(&m, h.type, payload, h.len, err, errlen) == -1) {
			free(payload);
			return;
		}
		m.owned = payload;
		if (m.type == IPC_ERROR) {
			if (ipc_unpack_error(&m, reason, sizeof(reason), err, errlen) == 0)
				snprintf(err, errlen, "refused: %s", reason);
			ipc_msg_clear(&m);
			return;
		}
		if (m.type == IPC_SNAPSHOT_BEGIN)
			in_snapshot = 1;
		if (replica_apply(r, &m, err, errlen) == -1) {
			ipc_msg_clear(&m);
			return;
		}
		if (m.type == IPC_SNAPSHOT_END) {
			enum em_topic tp;
			uint64_t v;

			if (ipc_unpack_snapmark(&m, &tp, &v, err, errlen) == 0)
				pending &= ~EM_TOPIC_BIT(tp);
			if (pending == 0 && in_snapshot) {
				in_snapshot = 0;
				printf("synced version=%llu",
				       (unsigned long long)replica_version(r));
				for (t = 0; t < EM_TOPIC_COUNT; t++)
					if (topics & EM_TOPIC_BIT(t))
						printf(" %s=%zu", em_topic_name((enum em_topic)t),
						       replica_count(r, (enum em_topic)t));
				printf(" t=%llu\n", now_ns());
				if (dumpit)
					dump(r, topics);
				if (once) {
					ipc_msg_clear(&m);
					exit(0);
				}
			}
		}
		ipc_msg_clear(&m);
	}
}

static uint32_t
parse_topics(const char *s)
{
	static const char *names[EM_TOPIC_COUNT] = {"services", "endpoints", "peers", "gateways",
						    "self"};
	char buf[256], *tok, *save = NULL;
	uint32_t topics = 0;
	int t;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (t = 0; t < EM_TOPIC_COUNT; t++)
			if (strcmp(tok, names[t]) == 0)
				topics |= EM_TOPIC_BIT(t);
		if (topics == 0) {
			fprintf(stderr, "em-sub: unknown topic %s\n", tok);
			exit(2);
		}
	}
	return topics;
}

int
main(int argc, char **argv)
{
	struct em_config cfg;
	struct replica *r;
	const char *path = NULL;
	uint32_t topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct timespec pause = {0, 100 * 1000 * 1000};
	char err[1024];
	int ch, dumpit = 0, once = 0, fd, was_down = 1;

	log_init("em-sub", 0);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt(argc, argv, "c:t:d1q")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			topics = parse_topics(optarg);
			break;
		case 'd':
			dumpit = 1;
			break;
		case '1':
			once = 1;
			break;
		case 'q':
			quiet_snapshot = 1;
			break;
		default:
			fprintf(stderr, "usage: em-sub -c FILE [-t topics] [-d] [-1] [-q]\n");
			return 2;
		}
	}
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	r = replica_new(on_change, NULL);
	for (;;) {
		if ((fd = ipc_connect(cfg.runtime_dir, IPC_CONTROLLER_SOCK)) == -1) {
			if (was_down == 1) {
				fprintf(stderr, "em-sub: %s/%s: %s; retrying\n", cfg.runtime_dir,
					IPC_CONTROLLER_SOCK, strerror(errno));
				was_down = 2;
			}
			nanosleep(&pause, NULL);
			continue;
		}
		was_down = 0;
		printf("connected t=%llu\n", now_ns());
		if (say_hello(fd, topics) == -1)
			snprintf(err, sizeof(err), "hello: %s", strerror(errno));
		else
			session(fd, r, topics, dumpit, once, err, sizeof(err));
		close(fd);
		in_snapshot = 0;
		printf("disconnected %s t=%llu\n", err, now_ns());
		was_down = 1;
		nanosleep(&pause, NULL);
	}
}
