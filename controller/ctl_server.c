/*
 * controller.sock: daemons and the CLI say HELLO, then SUBSCRIBE (answered
 * with a snapshot per topic, then deltas), HEALTH, or STATUS_REQ.  A peer
 * that is not allowed, speaks another version, or sends a malformed
 * message is dropped; the others do not notice.
 * A STATUS_REQ or METRICS_REQ asks every daemon of our build for its health
 * now (HEALTH_REQ) and is answered when all have reported, or after
 * REFRESH_WAIT: the answer shows what just happened, not what was true at
 * the last periodic report (2 s).  Requests that come meanwhile share it.
 */
#include <sys/socket.h>

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "log.h"

#define MAX_CLIENTS  64
#define MAX_STORED   128
#define N_KNOWN	     5
#define HEALTH_STALE 10	 /* seconds without a health report: not live */
#define REFRESH_WAIT 0.2 /* seconds a status request waits for fresh reports */
#define WANT_STATUS  1
#define WANT_METRICS 2

/* Listening sockets daemons keep here so a restart refuses no connection. */
struct stored_fd {
	char name[32]; /* the daemon that stored it */
	uid_t uid;     /* only this uid gets it back */
	char key[64];
	int fd;
	ev_tstamp expires; /* key "NAME~N": closed N seconds after, if not fetched; else 0 */
};

struct client {
	struct server *srv;
	struct ipc_conn *conn;
	int hello;
	struct ipc_hello h;
	uint32_t topics;
	struct ipc_health health;
	time_t health_at;
	struct em_samples samples; /* its latest METRICS */
	int want;		   /* WANT_*: answered when the refresh ends */
	int refreshing;		   /* asked for HEALTH_REQ, its METRICS not in yet */
};

struct server {
	struct em_daemon *d;
	struct state *state;
	char registry[64];
	int fd;
	ev_io accept_w;
	struct client *clients[MAX_CLIENTS];
	/* the last known status of daemons that went away */
	struct ipc_status_row gone[IPC_STATUS_MAX];
	size_t ngone;
	struct stored_fd stored[MAX_STORED];
	size_t nstored;
	unsigned starts[N_KNOWN];   /* processes per known daemon since we started */
	uint32_t last_pid[N_KNOWN]; /* the newest of them */
	registry_health_fn registry_health;
	int (*registry_ready)(void *);
	void *registry_arg;
	ev_timer expire_w; /* stored fds with a time limit */
	ev_timer trim;	   /* after a big snapshot: give its buffers' pages back */
	ev_timer refresh;  /* a status request waits for fresh reports */
};

static const char *known_daemons[N_KNOWN] = {"dnsd", "proxyd", "tunneld", "socksd", "gatewayd"};
/* Metrics merge in this order: the bulky per-service sets after the facts doctor reads. */
static const char *const merge_order[N_KNOWN] = {"tunneld", "dnsd", "socksd", "proxyd", "gatewayd"};

/* Bytes still queued after a snapshot that make it worth a malloc_trim() later. */
#define TRIM_AFTER (1u << 20)

static void controller_dispatch_client(struct ipc_conn *, struct ipc_msg *, void *);
static void send_metrics(struct server *, struct client *);

static int
known_index(const char *name)
{
	int k;

	for (k = 0; k < N_KNOWN; k++)
		if (strcmp(known_daemons[k], name) == 0)
			return k;
	return -1;
}
static void client_closed(struct ipc_conn *, const char *, void *);

static void
client_remove(struct server *srv, struct client *c)
{
	int i;

	for (i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i] == c)
			srv->clients[i] = NULL;
	metrics_free(&c->samples);
	free(c);
}

/* -1: the peer was dropped (its client is freed): touch nothing of it. */
static int
send_packed(struct ipc_conn *conn, uint16_t type, msgpack_sbuffer *sb)
{
	int rc = ipc_conn_send_sbuf(conn, type, sb, -1);

	msgpack_sbuffer_clear(sb);
	return rc;
}

static void client_error(struct client *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
client_error(struct client *c, const char *fmt, ...)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warnx("dropping local client %s (pid %d): %s", c->hello ? c->h.name : "?",
		  (int)ipc_conn_pid(c->conn), reason);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_error(&pk, reason);
	/* best effort, and only where it cannot interleave with queued frames */
	if (ipc_conn_queued(c->conn) == 0)
		(void)ipc_write_frame(ipc_conn_fd(c->conn), IPC_ERROR, sb.data, sb.size, -1);
	msgpack_sbuffer_destroy(&sb);
	ipc_conn_drop(c->conn, reason);
}

static int
send_upsert(struct ipc_conn *conn, enum em_topic t, uint64_t version, const char *key,
	    const struct pub *p, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	ipc_pack_upsert_head(&pk, t, version, key);
	msgpack_sbuffer_write(sb, p->packed, p->packed_len);
	return send_packed(conn, IPC_UPSERT, sb);
}

static int
send_snapshot(struct server *srv, struct client *c, enum em_topic t)
{
	struct hmap_iter it;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *key;
	void *v;
	uint64_t version = state_version(srv->state);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_snapmark(&pk, t, version);
	if (send_packed(c->conn, IPC_SNAPSHOT_BEGIN, &sb) == -1)
		goto dropped;
	hmap_iter_init(&it);
	while (hmap_next(state_topic(srv->state, t), &it, &key, &v))
		if (send_upsert(c->conn, t, ((struct pub *)v)->version, key, v, &sb) == -1)
			goto dropped;
	ipc_pack_snapmark(&pk, t, version);
	if (send_packed(c->conn, IPC_SNAPSHOT_END, &sb) == -1)
		goto dropped;
	msgpack_sbuffer_destroy(&sb);
	return 0;
dropped:
	msgpack_sbuffer_destroy(&sb);
	return -1;
}

void
server_emit(void *arg, enum em_topic t, uint64_t version, const char *key, const struct pub *p)
{
	struct server *srv = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct client *c;
	int i;

	log_debug("%s %s %s version %llu", p ? "upsert" : "delete", em_topic_name(t), key,
		  (unsigned long long)version);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < MAX_CLIENTS; i++) {
		if ((c = srv->clients[i]) == NULL || !(c->topics & EM_TOPIC_BIT(t)))
			continue;
		if (p != NULL) {
			send_upsert(c->conn, t, version, key, p, &sb);
		} else {
			ipc_pack_delete(&pk, t, version, key);
			send_packed(c->conn, IPC_DELETE, &sb);
		}
	}
	msgpack_sbuffer_destroy(&sb);
}

/* Live: a health report in the last HEALTH_STALE seconds. */
static int
client_live(const struct client *c)
{
	return c->health_at != 0 && time(NULL) - c->health_at <= HEALTH_STALE;
}

static void
status_row_fill(struct ipc_status_row *row, const struct client *c)
{
	memset(row, 0, sizeof(*row));
	snprintf(row->name, sizeof(row->name), "%s", c->h.name);
	row->connected = 1;
	snprintf(row->build, sizeof(row->build), "%s", c->h.build);
	row->pid = c->h.pid;
	row->uptime = c->health.uptime + (c->health_at ? (uint64_t)(time(NULL) - c->health_at) : 0);
	row->state_version = c->health.state_version;
	snprintf(row->state, sizeof(row->state), "%s", c->health.state[0] ? c->health.state : "?");
	snprintf(row->detail, sizeof(row->detail), "%s", c->health.detail);
	row->rss_kb = c->health.rss_kb;
	if (!client_live(c)) { /* connected, but hung: what a liveness probe is for */
		snprintf(row->state, sizeof(row->state), "stale");
		snprintf(row->detail, sizeof(row->detail), "no health report for %d s",
			 HEALTH_STALE);
	}
}

static void
send_status(struct server *srv, struct client *to)
{
	struct ipc_status st;
	struct ipc_status_row *row;
	struct client *c;
	size_t k, j;
	int i, found;

	memset(&st, 0, sizeof(st));
	st.version = state_version(srv->state);
	snprintf(st.registry, sizeof(st.registry), "%s", srv->registry);
	row = &st.rows[st.nrows++];
	snprintf(row->name, sizeof(row->name), "controller");
	row->connected = 1;
	snprintf(row->build, sizeof(row->build), "%s", EM_BUILD_VERSION);
	row->pid = (uint32_t)getpid();
	row->uptime = (uint64_t)(time(NULL) - srv->d->started);
	row->state_version = st.version;
	if (srv->registry_ready == NULL || srv->registry_ready(srv->registry_arg))
		snprintf(row->state, sizeof(row->state), "ok");
	else {
		snprintf(row->state, sizeof(row->state), "starting");
		snprintf(row->detail, sizeof(row->detail), "the registry has not synced yet");
	}
	row->rss_kb = proc_rss_kb();
	for (k = 0; k < sizeof(known_daemons) / sizeof(known_daemons[0]); k++) {
		found = 0;
		for (i = 0; i < MAX_CLIENTS && st.nrows < IPC_STATUS_MAX; i++) {
			c = srv->clients[i];
			if (c == NULL || !c->hello || strcmp(c->h.name, known_daemons[k]) != 0)
				continue;
			status_row_fill(&st.rows[st.nrows++], c);
			found = 1;
		}
		if (found || st.nrows == IPC_STATUS_MAX)
			continue;
		row = &st.rows[st.nrows++];
		memset(row, 0, sizeof(*row));
		snprintf(row->name, sizeof(row->name), "%s", known_daemons[k]);
		snprintf(row->state, sizeof(row->state), "down");
		for (j = 0; j < srv->ngone; j++)
			if (strcmp(srv->gone[j].name, known_daemons[k]) == 0)
				snprintf(row->detail, sizeof(row->detail), "last seen: pid %u, %s",
					 srv->gone[j].pid, srv->gone[j].detail);
	}
	IPC_SEND(to->conn, IPC_STATUS, ipc_pack_status, &st);
}

/* The refresh is over: answer every request that waited for it. */
static void
refresh_done(struct server *srv)
{
	struct client *c;
	int i, want;

	ev_timer_stop(srv->d->loop, &srv->refresh);
	for (i = 0; i < MAX_CLIENTS; i++) {
		if ((c = srv->clients[i]) == NULL)
			continue;
		c->refreshing = 0;
		if ((want = c->want) == 0)
			continue;
		c->want = 0;
		if (want & WANT_STATUS)
			send_status(srv, c);
		if ((want & WANT_METRICS) && srv->clients[i] == c) /* a failed send frees it */
			send_metrics(srv, c);
	}
}

static void
refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	refresh_done(w->data);
}

/* A report came in or a daemon left: done once no daemon is still asked. */
static void
refresh_check(struct server *srv)
{
	int i;

	if (!ev_is_active(&srv->refresh))
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i] != NULL && srv->clients[i]->refreshing)
			return;
	refresh_done(srv);
}

/* req asks for a status or the metrics: ask the daemons first (one round at a time). */
static void
refresh_ask(struct server *srv, struct client *req, int want)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct client *c;
	int i;

	req->want |= want;
	if (ev_is_active(&srv->refresh))
		return; /* answered with the round in progress */
	ev_timer_set(&srv->refresh, REFRESH_WAIT, 0.);
	ev_timer_start(srv->d->loop, &srv->refresh);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_empty(&pk); /* one body, sent to each */
	for (i = 0; i < MAX_CLIENTS; i++) {
		c = srv->clients[i];
		/* daemons of another build may not know HEALTH_REQ (an upgrade in progress) */
		if (c == NULL || !c->hello || known_index(c->h.name) == -1 ||
		    strcmp(c->h.build, EM_BUILD_VERSION) != 0)
			continue;
		c->refreshing = 1;
		ipc_conn_send_sbuf(c->conn, IPC_HEALTH_REQ, &sb, -1);
	}
	msgpack_sbuffer_destroy(&sb);
	refresh_check(srv); /* no daemon to ask, or every send failed */
}

static struct stored_fd *
stored_find(struct server *srv, const char *name, const char *key)
{
	size_t i;

	for (i = 0; i < srv->nstored; i++)
		if (strcmp(srv->stored[i].name, name) == 0 && strcmp(srv->stored[i].key, key) == 0)
			return &srv->stored[i];
	return NULL;
}

/* Stored fds nobody fetched in time: closed (a stop with no start). */
static void
expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;
	ev_tstamp now = ev_now(loop);
	size_t i;
	int more = 0;

	for (i = 0; i < srv->nstored;) {
		struct stored_fd *sf = &srv->stored[i];

		if (sf->expires > 0 && sf->expires <= now) {
			log_info("%s's %s was not fetched in time: closed", sf->name, sf->key);
			close(sf->fd);
			*sf = srv->stored[--srv->nstored];
			continue;
		}
		more |= sf->expires > 0;
		i++;
	}
	if (!more)
		ev_timer_stop(loop, w);
}

static void
fd_store_expiry(struct server *srv, struct stored_fd *sf)
{
	const char *tl = strrchr(sf->key, '~');
	char *end;
	long secs;

	sf->expires = 0;
	if (tl == NULL || (secs = strtol(tl + 1, &end, 10)) < 1 || secs > 3600 || *end != '\0')
		return;
	sf->expires = ev_now(srv->d->loop) + (ev_tstamp)secs;
	if (!ev_is_active(&srv->expire_w)) {
		ev_timer_init(&srv->expire_w, expire_cb, 0.5, 0.5);
		srv->expire_w.data = srv;
		ev_timer_start(srv->d->loop, &srv->expire_w);
	}
}

static void
fd_store(struct server *srv, struct client *c, struct ipc_msg *m)
{
	struct stored_fd *sf;
	char key[64], err[256];
	int fd;

	if (ipc_unpack_fd_key(m, key, sizeof(key), err, sizeof(err)) == -1) {
		client_error(c, "%s", err);
		return;
	}
	fd = ipc_msg_take_fd(m);
	if ((sf = stored_find(srv, c->h.name, key)) != NULL) {
		close(sf->fd);
	} else if (srv->nstored == MAX_STORED) {
		close(fd);
		client_error(c, "FD_STORE: %d sockets stored already", MAX_STORED);
		return;
	} else {
		sf = &srv->stored[srv->nstored++];
		snprintf(sf->name, sizeof(sf->name), "%s", c->h.name);
		snprintf(sf->key, sizeof(sf->key), "%s", key);
	}
	sf->fd = fd;
	sf->uid = ipc_conn_uid(c->conn);
	fd_store_expiry(srv, sf);
	log_debug("keeping %s's %s socket", c->h.name, key);
}

static void
fd_fetch(struct server *srv, struct client *c, struct ipc_msg *m)
{
	struct stored_fd *sf;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char key[64], err[256];
	int fd = -1;

	if (ipc_unpack_fd_key(m, key, sizeof(key), err, sizeof(err)) == -1) {
		client_error(c, "%s", err);
		return;
	}
	/*
	 * The socket moves back to its daemon, which parks it again if it keeps
	 * it: to the uid that parked it, or to root (a daemon started as root asks
	 * before it switches to its own user; root could open the socket anyway).
	 */
	if ((sf = stored_find(srv, c->h.name, key)) != NULL &&
	    (sf->uid == ipc_conn_uid(c->conn) || ipc_conn_uid(c->conn) == 0)) {
		fd = sf->fd;
		*sf = srv->stored[--srv->nstored];
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_fd_key(&pk, key);
	ipc_conn_send_sbuf(c->conn, IPC_FD_RETURN, &sb, fd);
	msgpack_sbuffer_destroy(&sb);
	if (fd != -1)
		log_info("handed %s its %s socket back", c->h.name, key);
}

static void
controller_dispatch_client(struct ipc_conn *conn, struct ipc_msg *m, void *arg)
{
	struct client *c = arg;
	struct server *srv = c->srv;
	char err[512];
	int t;

	if (!c->hello && m->type != IPC_HELLO) {
		client_error(c, "expected HELLO first, got %s", ipc_type_name(m->type));
		return;
	}
	switch (m->type) {
	case IPC_HELLO:
		if (ipc_unpack_hello(m, &c->h, err, sizeof(err)) == -1) {
			client_error(c, "%s", err);
			return;
		}
		if (c->h.version != IPC_VERSION) {
			snprintf(err, sizeof(err), "protocol version %u, we speak %u", c->h.version,
				 IPC_VERSION);
			client_error(c, "%s", err);
			return;
		}
		c->hello = 1;
		/* a new process, not another connection of the same one (FD_FETCH) */
		if ((t = known_index(c->h.name)) != -1 && srv->last_pid[t] != c->h.pid) {
			srv->starts[t]++;
			srv->last_pid[t] = c->h.pid;
		}
		log_info("%s connected (pid %u, version %s)", c->h.name, c->h.pid, c->h.build);
		break;
	case IPC_SUBSCRIBE:
		if (ipc_unpack_subscribe(m, &c->topics, err, sizeof(err)) == -1) {
			client_error(c, "%s", err);
			return;
		}
		for (t = 0; t < EM_TOPIC_COUNT; t++)
			if ((c->topics & EM_TOPIC_BIT(t)) &&
			    send_snapshot(srv, c, (enum em_topic)t) == -1)
				return; /* dropped: c is gone */
		if (ipc_conn_queued(c->conn) > TRIM_AFTER && !ev_is_active(&srv->trim)) {
			ev_timer_set(&srv->trim, 0.05, 0.);
			ev_timer_start(srv->d->loop, &srv->trim);
		}
		break;
	case IPC_HEALTH:
		if (ipc_unpack_health(m, &c->health, err, sizeof(err)) == -1) {
			client_error(c, "%s", err);
			return;
		}
		c->health_at = time(NULL);
		break;
	case IPC_METRICS:
		if (ipc_unpack_metrics(m, &c->samples, err, sizeof(err)) == -1) {
			client_error(c, "%s", err);
			return;
		}
		if (c->refreshing) { /* it follows HEALTH: the daemon's report is whole */
			c->refreshing = 0;
			refresh_check(srv);
		}
		break;
	case IPC_STATUS_REQ:
	case IPC_METRICS_REQ:
		if (ipc_unpack_empty(m, err, sizeof(err)) == -1) {
			client_error(c, "%s", err);
			return;
		}
		refresh_ask(srv, c, m->type == IPC_STATUS_REQ ? WANT_STATUS : WANT_METRICS);
		break;
	case IPC_FD_STORE:
		fd_store(srv, c, m);
		break;
	case IPC_FD_FETCH:
		fd_fetch(srv, c, m);
		break;
	default:
		client_error(c, "unexpected %s on controller.sock", ipc_type_name(m->type));
		return;
	}
}

static void
client_closed(struct ipc_conn *conn, const char *why, void *arg)
{
	struct client *c = arg;
	struct server *srv = c->srv;
	struct ipc_status_row *row;
	size_t i;

	if (c->hello && strcmp(c->h.name, "edgemeshctl") != 0) {
		log_info("%s disconnected: %s", c->h.name, why);
		for (i = 0; i < srv->ngone; i++)
			if (strcmp(srv->gone[i].name, c->h.name) == 0)
				break;
		if (i == srv->ngone && srv->ngone < IPC_STATUS_MAX)
			srv->ngone++;
		if (i < IPC_STATUS_MAX) {
			row = &srv->gone[i];
			status_row_fill(row, c);
			snprintf(row->detail, sizeof(row->detail), "disconnected: %s", why);
		}
	}
	client_remove(srv, c);
	refresh_check(srv);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = w->data;
	struct client *c;
	int fd, i;

	if ((fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept on controller.sock");
		return;
	}
	if (!daemon_peer_allowed(srv->d, fd)) {
		close(fd);
		return;
	}
	for (i = 0; i < MAX_CLIENTS && srv->clients[i] != NULL; i++)
		;
	if (i == MAX_CLIENTS) {
		log_warnx("controller.sock: %d clients already; refusing one more", MAX_CLIENTS);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->conn =
	    ipc_conn_new(loop, fd, IPC_MAX_CONTROL, controller_dispatch_client, client_closed, c);
	srv->clients[i] = c;
}

static struct client *
server_find(struct server *srv, const char *name)
{
	int i;

	for (i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i] != NULL && srv->clients[i]->hello &&
		    strcmp(srv->clients[i]->h.name, name) == 0)
			return srv->clients[i];
	return NULL;
}

/*
 * Live: connected, with a health report in the last HEALTH_STALE seconds.
 * Ready: live, and the daemon says "ok" (its state is in, its listeners are
 * bound; tunneld: its peers are known).  The controller: live while it
 * answers, ready once its registry has synced.  `edgemeshctl health` reads
 * the same from the status rows (state "stale", "ok").
 */
int
server_daemon_health(struct server *srv, const char *name, int ready, char *why, size_t len)
{
	struct client *c;

	if (strcmp(name, "controller") == 0) {
		if (ready && srv->registry_ready != NULL &&
		    !srv->registry_ready(srv->registry_arg)) {
			snprintf(why, len, "controller: the registry has not synced yet");
			return -1;
		}
		snprintf(why, len, "controller is %s", ready ? "ready" : "live");
		return 0;
	}
	if (known_index(name) == -1) {
		snprintf(why, len, "no daemon is called %s", name);
		return -1;
	}
	if ((c = server_find(srv, name)) == NULL) {
		snprintf(why, len, "%s is not connected to the controller", name);
		return -1;
	}
	if (!client_live(c)) {
		snprintf(why, len, "%s sent no health report for %d s", name, HEALTH_STALE);
		return -1;
	}
	if (ready && strcmp(c->health.state, "ok") != 0) {
		snprintf(why, len, "%s is %s: %s", name, c->health.state, c->health.detail);
		return -1;
	}
	snprintf(why, len, "%s is %s", name, ready ? "ready" : "live");
	return 0;
}

/* The controller's own samples and its view of each daemon. */
static void
server_own_samples(struct server *srv, struct em_samples *ss)
{
	static const enum em_topic topics[] = {EM_TOPIC_SERVICES, EM_TOPIC_ENDPOINTS,
					       EM_TOPIC_PEERS, EM_TOPIC_GATEWAYS};
	char why[256], rerr[80]; /* rerr: a label, kept short */
	size_t i;
	int k, up, istio;

	for (k = 0; k < N_KNOWN; k++) {
		if (srv->starts[k] == 0)
			continue; /* never seen: not run on this node */
		metrics_add(ss, EM_M_DAEMON_UP, server_find(srv, known_daemons[k]) != NULL,
			    "daemon", known_daemons[k], NULL);
		metrics_add(ss, EM_M_DAEMON_READY,
			    server_daemon_health(srv, known_daemons[k], 1, why, sizeof(why)) == 0,
			    "daemon", known_daemons[k], NULL);
		metrics_add(ss, EM_M_DAEMON_RESTARTS, srv->starts[k] - 1, "daemon",
			    known_daemons[k], NULL);
	}
	if (srv->registry_health != NULL) {
		up = srv->registry_health(srv->registry_arg, rerr, sizeof(rerr), &istio);
		metrics_add(ss, EM_M_REGISTRY_UP, up, "source", srv->registry, "error", rerr, NULL);
		if (istio != -1)
			metrics_add(ss, EM_M_ISTIO_CRDS, !istio, NULL);
	}
	if (srv->state == NULL)
		return;
	metrics_add(ss, EM_M_STATE_VERSION, (double)state_version(srv->state), NULL);
	for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		metrics_add(ss, EM_M_REGISTRY_OBJECTS,
			    (double)hmap_count(state_topic(srv->state, topics[i])), "topic",
			    em_topic_name(topics[i]), NULL);
}

/*
 * Every sample of the node, each daemon's with daemon="..." (merged), up to
 * all->max, daemons in merge_order.
 */
static void
server_samples(struct server *srv, struct em_samples *all)
{
	struct em_samples base = {0};
	struct client *c;
	size_t j;
	int i, k;

	server_own_samples(srv, all);
	daemon_base_samples(srv->d, &base);
	for (j = 0; j < base.n; j++)
		metrics_add_from(all, &base.s[j], "controller");
	metrics_free(&base);
	for (k = 0; k < N_KNOWN; k++)
		for (i = 0; i < MAX_CLIENTS; i++)
			if ((c = srv->clients[i]) != NULL && c->hello &&
			    strcmp(c->h.name, merge_order[k]) == 0)
				for (j = 0; j < c->samples.n; j++)
					metrics_add_from(all, &c->samples.s[j], c->h.name);
}

/* The node's metrics: each family once, every daemon's samples under it. */
void
server_metrics(struct server *srv, struct em_textbuf *tb)
{
	struct em_samples all = {.max = SIZE_MAX}; /* each report is bounded already */
	int id;

	server_samples(srv, &all);
	for (id = 0; id < EM_M__COUNT; id++) {
		metrics_render_head(tb, (enum em_metric)id);
		metrics_render(tb, NULL, &all, (enum em_metric)id);
	}
	metrics_free(&all);
}

/* METRICS_REQ (edgemeshctl doctor): the same samples over IPC. */
static void
send_metrics(struct server *srv, struct client *to)
{
	struct em_samples all = {0}; /* one METRICS message: EM_SAMPLES_MAX */

	server_samples(srv, &all);
	IPC_SEND(to->conn, IPC_METRICS, ipc_pack_metrics, &all);
	metrics_free(&all);
}

void
server_set_registry(struct server *srv, registry_health_fn fn, int (*ready)(void *), void *arg)
{
	srv->registry_health = fn;
	srv->registry_ready = ready;
	srv->registry_arg = arg;
}

void
server_set_state(struct server *srv, struct state *st)
{
	srv->state = st;
}

/* Once every big snapshot went out: hand the pages of its buffers back. */
static void
trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;
	int i;

	for (i = 0; i < MAX_CLIENTS; i++) {
		if (srv->clients[i] != NULL && ipc_conn_queued(srv->clients[i]->conn) > 0) {
			ev_timer_set(w, 0.05, 0.);
			ev_timer_start(loop, w);
			return;
		}
	}
	malloc_trim(0);
}

struct server *
server_new(struct em_daemon *d, const char *registry_desc)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	char err[512];

	srv->d = d;
	snprintf(srv->registry, sizeof(srv->registry), "%s", registry_desc);
	if ((srv->fd = ipc_listen(d->cfg.runtime_dir, IPC_CONTROLLER_SOCK, err, sizeof(err))) == -1)
		fatalx("cannot listen: %s", err);
	ev_io_init(&srv->accept_w, accept_cb, srv->fd, EV_READ);
	srv->accept_w.data = srv;
	ev_io_start(d->loop, &srv->accept_w);
	ev_timer_init(&srv->trim, trim_cb, 0.05, 0.);
	srv->trim.data = srv;
	ev_timer_init(&srv->refresh, refresh_cb, REFRESH_WAIT, 0.);
	srv->refresh.data = srv;
	return srv;
}

void
server_free(struct server *srv)
{
	int i;

	if (srv == NULL)
		return;
	ev_timer_stop(srv->d->loop, &srv->trim);
	ev_timer_stop(srv->d->loop, &srv->refresh);
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (srv->clients[i] != NULL) {
			ipc_conn_free(srv->clients[i]->conn);
			metrics_free(&srv->clients[i]->samples);
			free(srv->clients[i]);
		}
	}
	for (i = 0; i < (int)srv->nstored; i++)
		close(srv->stored[i].fd);
	ev_timer_stop(srv->d->loop, &srv->expire_w);
	ev_io_stop(srv->d->loop, &srv->accept_w);
	close(srv->fd);
	free(srv);
}

/* The first sample id from daemon's last METRICS report, NULL if none. */
const struct em_sample *
server_daemon_sample(struct server *srv, const char *daemon, int id)
{
	struct client *c = server_find(srv, daemon);
	size_t i;

	for (i = 0; c != NULL && i < c->samples.n; i++)
		if (c->samples.s[i].id == id)
			return &c->samples.s[i];
	return NULL;
}
