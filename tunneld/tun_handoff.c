/*
 * tunnel.sock: proxyd, socksd and gatewayd hand tunneld connected client
 * fds (IPC_TUN_OPEN + fd), answered with IPC_TUN_RESULT once the far end
 * opened the target or refused it; edgemeshctl asks for IPC_PEERS.  UDP:
 * the opener passes a connected UDP socket per flow; each datagram is one
 * DATA frame.  Every client is checked with daemon_peer_allowed().
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <fcntl.h>
#include <pwd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tunneld.h"

#define HANDOFF_CLIENTS_MAX 64

/*
 * What an opener may ask for (DESIGN §2: each daemon only what its job
 * needs), known from its uid: socksd only node addresses on
 * allowedNodePorts, proxyd only service endpoints, gatewayd only the
 * endpoints of Services its gateway routes send to (tun_gwrights.c), root
 * (edgemeshctl trace, development) both.  A uid of no edgemesh-* user (one
 * in ipcUsers) gets what its HELLO name would, never both.
 */
enum opener_rights { RIGHTS_ENDPOINTS = 1, RIGHTS_NODE_PORTS = 2, RIGHTS_GW_ROUTES = 4 };

struct hclient {
	struct ipc_conn *c;
	uint64_t serial;
	unsigned rights; /* enum opener_rights bits */
	char user[40];	 /* for logs */
	char name[32];
	LIST_ENTRY(hclient) link;
};
static LIST_HEAD(, hclient) clients = LIST_HEAD_INITIALIZER(clients);
static size_t nclients;
static uint64_t next_serial = 1;

int
tun_handoff_listen(struct tunneld *t, char *err, size_t errlen)
{
	if ((t->hfd = ipc_listen(t->d->cfg.runtime_dir, IPC_TUNNEL_SOCK, err, errlen)) == -1)
		return -1;
	return 0;
}

static struct hclient *
client_find(uint64_t serial)
{
	struct hclient *h;

	LIST_FOREACH(h, &clients, link)
	if (h->serial == serial)
		return h;
	return NULL;
}

void
tun_handoff_result(struct tunneld *t, uint64_t serial, uint64_t id, int ok, const char *reason)
{
	struct ipc_tun_result r;
	struct hclient *h;

	if ((h = client_find(serial)) == NULL)
		return; /* the opener is gone */
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.ok = ok;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	IPC_SEND(h->c, IPC_TUN_RESULT, ipc_pack_tun_result, &r);
}

static void
handoff_rights(struct hclient *h)
{
	uid_t uid = ipc_conn_uid(h->c);
	struct passwd *pw = getpwuid(uid);
	const char *who = h->name;

	snprintf(h->user, sizeof(h->user), "%s", pw != NULL ? pw->pw_name : "?");
	if (uid == 0) {
		h->rights = RIGHTS_ENDPOINTS | RIGHTS_NODE_PORTS;
		return;
	}
	if (pw != NULL && strncmp(pw->pw_name, "edgemesh-", 9) == 0)
		who = pw->pw_name + 9; /* the uid says who it is, not its HELLO */
	h->rights = strcmp(who, "socksd") == 0 ? RIGHTS_NODE_PORTS : RIGHTS_ENDPOINTS;
	if (strcmp(who, "gatewayd") == 0)
		h->rights |= RIGHTS_GW_ROUTES;
}

/* May this opener ask for that target on node?  0 with why when not. */
static int
handoff_permits(struct tunneld *t, const struct hclient *h, const struct ipc_tun_open *o, char *why,
		size_t len)
{
	struct tun_open_req r;
	enum tun_target k;
	char what[200];

	if (h->rights == (RIGHTS_ENDPOINTS | RIGHTS_NODE_PORTS))
		return 1; /* root: the far end's allowlist decides */
	memset(&r, 0, sizeof(r));
	r.proto = o->proto;
	r.port = o->port;
	snprintf(r.ip, sizeof(r.ip), "%s", o->ip);
	k = tun_target_kind(t, o->peer, &r, what, sizeof(what));
	if (k == TUN_TGT_ENDPOINT && (h->rights & RIGHTS_GW_ROUTES) &&
	    !tun_gw_route_target(t, o->peer, &r, what, sizeof(what))) {
		snprintf(why, len,
			 "%s (uid %u, %s) may open only the destinations of its routes: %s",
			 h->name, (unsigned)ipc_conn_uid(h->c), h->user, what);
		return 0;
	}
	if ((k == TUN_TGT_ENDPOINT && (h->rights & RIGHTS_ENDPOINTS)) ||
	    (k == TUN_TGT_NODE_PORT && (h->rights & RIGHTS_NODE_PORTS)))
		return 1;
	snprintf(why, len, "%s (uid %u, %s) may open only %s: %s", h->name,
		 (unsigned)ipc_conn_uid(h->c), h->user,
		 h->rights == RIGHTS_NODE_PORTS ? "node addresses on allowedNodePorts"
						: "service endpoints",
		 k == TUN_TGT_NONE	 ? what
		 : k == TUN_TGT_ENDPOINT ? "that is a service endpoint"
					 : "that is a node port");
	return 0;
}

static void
handoff_open(struct tunneld *t, struct hclient *h, struct ipc_msg *m)
{
	struct ipc_tun_open o;
	struct tun_stream *st;
	struct tun_peer *p;
	char err[256];
	int fd, fl, one = 1;

	if (ipc_unpack_tun_open(m, &o, err, sizeof(err)) == -1) {
		ipc_conn_drop(h->c, err);
		return;
	}
	fd = ipc_msg_take_fd(m);
	if (fd == -1) {
		ipc_conn_drop(h->c, "TUN_OPEN without its fd");
		return;
	}
	/* the opener's file description may be blocking: ours never is (proxyd's
	 * accept4 made it non-blocking already: no second fcntl then) */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)) {
		close(fd);
		tun_handoff_result(t, h->serial, o.id, 0, "cannot make the fd non-blocking");
		return;
	}
	if (o.proto == EM_PROTO_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o.proto != EM_PROTO_TCP && o.proto != EM_PROTO_UDP) {
		close(fd);
		tun_handoff_result(t, h->serial, o.id, 0, "only TCP and UDP are tunneled");
		return;
	}
	if (strcmp(o.peer, t->d->cfg.node_name) == 0) {
		close(fd);
		tun_handoff_result(t, h->serial, o.id, 0,
				   "the target is on this node: connect "
				   "it directly");
		return;
	}
	if (!tun_peer_known(t, o.peer)) {
		close(fd);
		snprintf(err, sizeof(err), "unknown node %s (no Node object in the peers topic)",
			 o.peer);
		log_warnx_repeat("open from %s for %s:%u refused: %s", h->name, o.ip, o.port, err);
		tun_handoff_result(t, h->serial, o.id, 0, err);
		return;
	}
	if (!handoff_permits(t, h, &o, err, sizeof(err))) {
		close(fd);
		log_warnx_repeat("open for %s %s:%u on %s refused: %s", em_proto_name(o.proto),
				 o.ip, o.port, o.peer, err);
		tun_handoff_result(t, h->serial, o.id, 0, err);
		return;
	}
	{ /* a node still on EdgeMesh whose agent is connected to us */
		struct tun_open_req r = {.proto = o.proto, .port = o.port};

		snprintf(r.ip, sizeof(r.ip), "%s", o.ip);
		if (p2p_open(t, o.peer, fd, &r, o.reply, o.proto == EM_PROTO_TCP ? o.reply_len : 0,
			     h->serial, o.id))
			return;
	}
	p = tun_peer_get(t, o.peer, 1);
	st = tun_stream_new(NULL, p, fd, o.proto);
	st->local = 1;
	st->client_serial = h->serial;
	st->open_id = o.id;
	st->reply_len = o.proto == EM_PROTO_TCP ? o.reply_len : 0;
	memcpy(st->reply, o.reply, st->reply_len);
	st->req.proto = o.proto;
	st->req.port = o.port;
	snprintf(st->req.ip, sizeof(st->req.ip), "%s", o.ip);
	snprintf(st->req.client, sizeof(st->req.client), "%s", o.client);
	tun_peer_open(p, st);
}

/* The transport AEAD as the CLI names it: chachapoly, aesgcm. */
static void
peer_cipher(const struct tun_session *s, char *buf, size_t len)
{
	const char *n = noise_cipher_name(s->cs[0].cipher);
	size_t i;

	for (i = 0; n != NULL && n[i] != '\0' && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)n[i]);
	buf[i] = '\0';
}

static void
handoff_peers(struct tunneld *t, struct hclient *h, uint32_t row_fields)
{
	struct ipc_peers out;
	struct ipc_peer_row *row;
	struct replica_iter it;
	const struct em_object *o;
	struct tun_peer *p;
	size_t n;

	memset(&out, 0, sizeof(out));
	snprintf(out.self, sizeof(out.self), "%s", t->d->cfg.node_name);
	snprintf(out.fingerprint, sizeof(out.fingerprint), "%s", t->fp);
	n = replica_count(t->d->replica, EM_TOPIC_PEERS);
	if (n > IPC_PEERS_MAX)
		n = IPC_PEERS_MAX;
	out.rows = xcalloc(n + 1, sizeof(*out.rows));
	out.row_fields = row_fields;
	replica_iter_init(&it);
	while (out.nrows < n && replica_next(t->d->replica, EM_TOPIC_PEERS, &it, &o)) {
		if (strcmp(o->u.peer->name, t->d->cfg.node_name) == 0)
			continue;
		row = &out.rows[out.nrows++];
		snprintf(row->name, sizeof(row->name), "%s", o->u.peer->name);
		snprintf(row->addr, sizeof(row->addr), "%s",
			 o->u.peer->naddrs > 0 ? o->u.peer->addrs[0] : "-");
		snprintf(row->state, sizeof(row->state), "idle");
		if ((p = tun_peer_get(t, o->u.peer->name, 0)) == NULL)
			continue;
		snprintf(row->state, sizeof(row->state), "%s", tun_peer_state(p));
		row->tx_bytes = p->tx;
		row->rx_bytes = p->rx;
		if (p->sess != NULL) {
			snprintf(row->addr, sizeof(row->addr), "%s", p->sess->addr);
			row->rtt_us = p->sess->rtt_us;
			row->tx_bytes += p->sess->tx;
			row->rx_bytes += p->sess->rx;
			row->streams = (uint32_t)p->sess->nstreams;
			if (p->sess->relayed && !p->sess->punched)
				snprintf(row->path, sizeof(row->path), "relayed via %s",
					 p->sess->addr);
			else
				snprintf(row->path, sizeof(row->path), "%s",
					 tun_session_path(p->sess));
			if (p->sess->state == SS_UP)
				peer_cipher(p->sess, row->cipher, sizeof(row->cipher));
		}
	}
	IPC_SEND(h->c, IPC_PEERS, ipc_pack_peers, &out);
	free(out.rows);
}

static void
tunneld_dispatch_handoff(struct ipc_conn *c, struct ipc_msg *m, void *arg)
{
	struct hclient *h = arg;
	struct tunneld *t = tunneld_get();
	struct ipc_hello hello;
	char err[256], node[254];
	uint32_t fields;

	switch (m->type) {
	case IPC_HELLO:
		if (ipc_unpack_hello(m, &hello, err, sizeof(err)) == -1) {
			ipc_conn_drop(c, err);
			return;
		}
		if (hello.version != IPC_VERSION) {
			snprintf(err, sizeof(err), "IPC version %u, we speak %u", hello.version,
				 IPC_VERSION);
			ipc_conn_drop(c, err);
			return;
		}
		snprintf(h->name, sizeof(h->name), "%s", hello.name);
		handoff_rights(h);
		return;
	case IPC_TUN_OPEN:
		handoff_open(t, h, m);
		return;
	case IPC_PEERS_REQ:
		if (ipc_unpack_peers_req(m, &fields, err, sizeof(err)) == -1) {
			ipc_conn_drop(c, err);
			return;
		}
		handoff_peers(t, h, fields);
		return;
	case IPC_PING_REQ:
		if (ipc_unpack_ping_req(m, node, sizeof(node), err, sizeof(err)) == -1) {
			ipc_conn_drop(c, err);
			return;
		}
		tun_ping_start(t, c, node);
		return;
	default:
		snprintf(err, sizeof(err), "unexpected %s on tunnel.sock", ipc_type_name(m->type));
		ipc_conn_drop(c, err);
	}
}

static void
handoff_close(struct ipc_conn *c, const char *why, void *arg)
{
	struct hclient *h = arg;

	if (why != NULL && why[0] != '\0' && strcmp(why, "closed") != 0)
		log_debug("tunnel.sock client %s: %s", h->name, why);
	tun_ping_forget(h->c);
	LIST_REMOVE(h, link);
	nclients--;
	free(h);
}

static void
handoff_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunneld *t = w->data;
	struct hclient *h;
	int fd;

	if ((fd = accept4(t->hfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (!daemon_peer_allowed(t->d, fd) || nclients >= HANDOFF_CLIENTS_MAX) {
		if (nclients >= HANDOFF_CLIENTS_MAX)
			log_warnx("tunnel.sock: %d clients already: refusing one",
				  HANDOFF_CLIENTS_MAX);
		close(fd);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->serial = next_serial++;
	snprintf(h->name, sizeof(h->name), "?");
	h->c = ipc_conn_new(loop, fd, IPC_MAX_TUNNEL, tunneld_dispatch_handoff, handoff_close, h);
	ipc_conn_set_eager(h->c, 1); /* a TUN_RESULT goes at once */
	handoff_rights(h);	     /* by uid now; a HELLO may narrow an unnamed uid's */
	LIST_INSERT_HEAD(&clients, h, link);
	nclients++;
}

void
tun_handoff_start(struct tunneld *t)
{
	ev_io_init(&t->hw, handoff_accept_cb, t->hfd, EV_READ);
	t->hw.data = t;
	ev_io_start(t->d->loop, &t->hw);
}

/* Hand-over (tun_handover.c): every answer queued reaches its opener before
 * the streams move on; the number of clients that did not take theirs. */
size_t
tun_handoff_flush(double timeout)
{
	struct hclient *h, *next;
	char name[32];
	size_t n = 0;

	for (h = LIST_FIRST(&clients); h != NULL; h = next) {
		next = LIST_NEXT(h, link);
		snprintf(name, sizeof(name), "%s", h->name);
		if (ipc_conn_flush(h->c, timeout) > 0) { /* a write error frees h */
			log_warnx("hand-over: tunnel.sock client %s does not read its answers",
				  name);
			n++;
		}
	}
	return n;
}
