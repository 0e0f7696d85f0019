/*
 * TCP: one listening socket on bridgeIP:port that every redirected
 * ClusterIP connection reaches (nat DNAT); SO_ORIGINAL_DST names the
 * service.  A local endpoint is dialled here (nonblocking connect); a
 * remote one is handed to tunneld.  A failed connect or open moves to the
 * next endpoint, at most PROXY_CONNECT_TRIES of them, and the failed one
 * is skipped for PROXY_DOWN_TIME.  Consistent hashing on an HTTP header or
 * cookie peeks at the request (MSG_PEEK, so no byte is consumed or
 * reordered before the endpoint is connected).
 *
 * Once connected, common/relay.c moves the bytes both ways (splice for
 * bulk, half-close propagated).
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "proxyd.h"
#include "relay.h"

/* C_NEW: accepted (or let out of the park), nothing begun that close must undo;
 * C_ANSWERED: tunneld answered the hand-off; nothing of it is left to cancel */
enum conn_state { C_NEW, C_PARKED, C_PEEK, C_CONNECT, C_TUNNEL, C_ANSWERED, C_RELAY };

struct pd_conn {
	struct proxyd *p;
	TAILQ_ENTRY(pd_conn) entry;
	enum conn_state state;
	int cfd, sfd;
	struct sockaddr_in client, orig;
	char client_ip[INET_ADDRSTRLEN], client_txt[64];
	char vipkey[80];
	char tried[PROXY_CONNECT_TRIES][PD_EPID_LEN];
	int ntried;
	struct sockaddr_in ep_sa; /* the local endpoint being connected (C_CONNECT) */
	char key[256];
	int havekey;
	uint64_t tun_id;
	ev_io c_rd, s_wr; /* the peek, the connect */
	ev_timer timer;
	struct relay rl; /* C_RELAY */
};
TAILQ_HEAD(conn_list, pd_conn);

struct pd_tcp {
	int lfd;
	ev_io accept_w;
	struct conn_list conns;
	size_t nconns, nparked;
	struct relay_pool pool;
};

static void conn_next(struct pd_conn *);
static void conn_begin(struct pd_conn *);

static void
conn_close(struct pd_conn *c, const char *why)
{
	struct proxyd *p = c->p;

	if (why != NULL)
		log_debug("tcp %s -> %s: closed: %s", c->client_txt, c->vipkey, why);
	ev_io_stop(p->loop, &c->c_rd);
	ev_io_stop(p->loop, &c->s_wr);
	if (c->state == C_RELAY)
		relay_stop(&c->rl);
	ev_timer_stop(p->loop, &c->timer);
	if (c->state == C_TUNNEL)
		proxy_tun_cancel(p, c->tun_id);
	if (c->state == C_PARKED)
		p->tcp->nparked--;
	if (c->cfd != -1)
		close(c->cfd);
	if (c->sfd != -1)
		close(c->sfd);
	TAILQ_REMOVE(&p->tcp->conns, c, entry);
	p->tcp->nconns--;
	free(c);
}

static void
relay_done(void *arg, int error)
{
	conn_close(arg, error ? "relay error" : NULL);
}

/* Connected: relay both ways; the client has most likely spoken already. */
static void
relay_begin(struct pd_conn *c)
{
	int r;

	ev_timer_stop(c->p->loop, &c->timer);
	c->state = C_RELAY;
	relay_init(&c->rl, c->p->loop, &c->p->tcp->pool, c->cfd, NULL, NULL, c->sfd, NULL, NULL,
		   relay_done, c);
	if ((r = relay_start(&c->rl)) != 0)
		conn_close(c, r == -1 ? "relay error" : NULL);
}

static void
ep_failed(struct pd_conn *c, const char *why)
{
	log_client_repeat(false, "tcp", c->client_txt, "-> %s: endpoint %s failed: %s", c->vipkey,
			  c->tried[c->ntried - 1], why);
	proxy_svc_ep_failed(c->p, c->vipkey, c->tried[c->ntried - 1]);
	conn_next(c);
}

/* The connect to the local endpoint failed with err: why (and noted). */
static const char *
connect_why(const struct pd_conn *c, int err)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->ep_sa.sin_addr, ip, sizeof(ip));
	return net_connect_failed(err, ip, ntohs(c->ep_sa.sin_port));
}

/* The pending connect finished. */
static void
server_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_conn *c = w->data;
	int err;

	ev_io_stop(loop, &c->s_wr);
	ev_timer_stop(loop, &c->timer);
	if ((err = net_sock_error(c->sfd)) != 0) {
		close(c->sfd);
		c->sfd = -1;
		ep_failed(c, connect_why(c, err));
		return;
	}
	relay_begin(c);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pd_conn *c = w->data;

	switch (c->state) {
	case C_PARKED:
		conn_close(c, "no service state from the controller in time");
		break;
	case C_PEEK:
		ev_io_stop(loop, &c->c_rd);
		conn_begin(c);
		break;
	case C_CONNECT:
		ev_io_stop(loop, &c->s_wr);
		close(c->sfd);
		c->sfd = -1;
		ep_failed(c, "connect timeout");
		break;
	case C_TUNNEL:
		conn_close(c, "tunneld did not answer");
		break;
	default:
		break;
	}
}

static void
tun_cb(void *arg, int ok, const char *reason)
{
	struct pd_conn *c = arg;

	ev_timer_stop(c->p->loop, &c->timer);
	c->state = C_ANSWERED;
	if (ok) {
		c->p->n_tunneled++;
		conn_close(c, NULL); /* tunneld owns its copy of the client fd */
		return;
	}
	if (reason == tunclient_unavailable) {
		/* tunneld stayed away: the endpoint is not marked down */
		log_client_repeat(false, "tcp", c->client_txt, "-> %s: endpoint %s: %s", c->vipkey,
				  c->tried[c->ntried - 1], reason);
		conn_next(c);
		return;
	}
	ep_failed(c, reason);
}

static void
conn_next(struct pd_conn *c)
{
	struct proxyd *p = c->p;
	struct pd_vip *v;
	struct pd_ep *ep;
	struct sockaddr_in sa;
	socklen_t len;
	int idx, one = 1;

	if (c->ntried >= PROXY_CONNECT_TRIES) {
		p->n_fail++;
		if ((v = hmap_get(p->vips, c->vipkey)) != NULL)
			v->n_fail++;
		conn_close(c, "every endpoint tried failed");
		return;
	}
	if ((v = hmap_get(p->vips, c->vipkey)) == NULL) {
		conn_close(c, "service gone");
		return;
	}
	idx = proxy_svc_pick(p, v, c->client_ip, c->havekey ? c->key : NULL, strlen(c->key),
			     c->tried, c->ntried);
	if (idx == -1) {
		p->n_fail++;
		v->n_fail++;
		log_client_repeat(false, "tcp", c->client_txt,
				  "-> %s: no usable endpoint (%zu ready)", c->vipkey, v->neps);
		conn_close(c, NULL);
		return;
	}
	ep = &v->eps[idx];
	snprintf(c->tried[c->ntried++], PD_EPID_LEN, "%s", ep->id);
	if (!ep->local) {
		log_debug("tcp %s -> %s: endpoint %s via tunnel to %s", c->client_txt, c->vipkey,
			  ep->id, ep->node);
		proxy_tun_open(p, c->cfd, ep->node, ep->ip, ep->port, EM_PROTO_TCP, c->client_txt,
			       tun_cb, c, &c->tun_id);
		c->state = C_TUNNEL;
		ev_timer_set(&c->timer, 10.0, 0.);
		ev_timer_start(p->loop, &c->timer);
		return;
	}
	c->state = C_CONNECT;
	c->ep_sa = ep->sa;
	if ((c->sfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		conn_close(c, "socket");
		return;
	}
	setsockopt(c->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_set(&c->s_wr, c->sfd, EV_WRITE);
	if (connect(c->sfd, (struct sockaddr *)&ep->sa, sizeof(ep->sa)) == 0) {
		relay_begin(c);
		return;
	}
	if (errno != EINPROGRESS) {
		int e = errno;

		close(c->sfd);
		c->sfd = -1;
		ep_failed(c, connect_why(c, e));
		return;
	}
	/*
	 * To a pod behind a veth the handshake has usually completed within
	 * connect() itself: one getpeername() then spares a write watcher,
	 * its epoll_ctl calls and the SO_ERROR query.
	 */
	len = sizeof(sa);
	if (getpeername(c->sfd, (struct sockaddr *)&sa, &len) == 0) {
		relay_begin(c);
		return;
	}
	ev_io_start(p->loop, &c->s_wr);
	ev_timer_set(&c->timer, PROXY_CONNECT_TIMEOUT, 0.);
	ev_timer_start(p->loop, &c->timer);
}

/* Peek at the request for the hash key; returns 1 when done. */
static int
conn_peek(struct pd_conn *c)
{
	char buf[PROXY_PEEK_MAX];
	struct pd_vip *v;
	ssize_t n;
	int r, lowat;

	if ((v = hmap_get(c->p->vips, c->vipkey)) == NULL)
		return 1;
	n = recv(c->cfd, buf, sizeof(buf), MSG_PEEK);
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return 1;
	r = lb_http_key(&v->lb, buf, (size_t)n, c->key, sizeof(c->key));
	if (r == 1)
		c->havekey = 1;
	if (r != -1 || (size_t)n >= sizeof(buf))
		return 1;
	/* wake up only when more than what we have is there */
	lowat = (int)n + 1;
	setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	return 0;
}

/* The client is readable: more of the request to peek at. */
static void
client_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_conn *c = w->data;

	if (!conn_peek(c))
		return;
	ev_io_stop(loop, &c->c_rd);
	ev_timer_stop(loop, &c->timer);
	conn_begin(c);
}

/* Peek done (or not needed): choose and reach an endpoint. */
static void
conn_begin(struct pd_conn *c)
{
	int one = 1;

	if (c->state == C_PEEK)
		setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	c->state = C_CONNECT;
	conn_next(c);
}

static void
conn_start(struct pd_conn *c)
{
	struct proxyd *p = c->p;
	struct pd_vip *v;

	if ((v = proxy_svc_lookup(p, &c->orig, EM_PROTO_TCP)) == NULL) {
		conn_close(c, "not a proxied service");
		return;
	}
	snprintf(c->vipkey, sizeof(c->vipkey), "%s", v->key);
	p->n_conns++;
	v->n_conns++;
	if (lb_wants_peek(&v->lb)) {
		c->state = C_PEEK;
		if (conn_peek(c)) {
			conn_begin(c);
			return;
		}
		ev_io_start(p->loop, &c->c_rd);
		ev_timer_set(&c->timer, PROXY_PEEK_TIMEOUT, 0.);
		ev_timer_start(p->loop, &c->timer);
		return;
	}
	conn_begin(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxyd *p = w->data;
	struct pd_tcp *t = p->tcp;
	struct sockaddr_storage ss;
	struct pd_conn *c;
	socklen_t len;
	int fd, i;

	for (i = 0; i < 64; i++) {
		if ((fd = net_accept(t->lfd, &ss)) == -1) {
			if (errno != EAGAIN)
				log_warn("accept");
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->p = p;
		c->cfd = fd;
		c->sfd = -1;
		memcpy(&c->client, &ss, sizeof(c->client)); /* AF_INET: the listener's */
		inet_ntop(AF_INET, &c->client.sin_addr, c->client_ip, sizeof(c->client_ip));
		snprintf(c->client_txt, sizeof(c->client_txt), "%s:%u", c->client_ip,
			 ntohs(c->client.sin_port));
		ev_timer_init(&c->timer, timer_cb, 0., 0.);
		c->timer.data = c;
		/* the server watchers get their fd with the server socket */
		ev_io_init(&c->c_rd, client_rd_cb, fd, EV_READ);
		ev_io_init(&c->s_wr, server_wr_cb, -1, EV_WRITE);
		c->c_rd.data = c->s_wr.data = c;
		TAILQ_INSERT_TAIL(&t->conns, c, entry);
		t->nconns++;
		len = sizeof(c->orig);
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &c->orig, &len) == -1) {
			conn_close(c, "no original destination (not redirected)");
			continue;
		}
		if (!p->synced) {
			if (t->nparked >= PROXY_PARK_MAX) {
				conn_close(c, "too many connections waiting for the controller");
				continue;
			}
			c->state = C_PARKED;
			t->nparked++;
			ev_timer_set(&c->timer, 5.0, 0.);
			ev_timer_start(loop, &c->timer);
			continue;
		}
		conn_start(c);
	}
}

int
proxy_tcp_listen(struct proxyd *p)
{
	struct sockaddr_in sa;
	int one = 1;

	p->tcp = xcalloc(1, sizeof(*p->tcp));
	TAILQ_INIT(&p->tcp->conns);
	if ((p->tcp->lfd = listen_keep_reuse(p, "tcp", SOCK_STREAM)) != -1)
		goto keep;
	if ((p->tcp->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(p->tcp->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr = p->bind_ip;
	sa.sin_port = htons(p->port);
	if (bind(p->tcp->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(p->tcp->lfd, 1024) == -1) {
		log_warn("tcp listen on %s:%u (is another program using the port? pick another "
			 "with --port)",
			 inet_ntoa(p->bind_ip), p->port);
		return -1;
	}
keep:
	/* accepted sockets inherit it: relayed segments leave at once */
	setsockopt(p->tcp->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	daemon_fd_keep(p->d, "tcp", p->tcp->lfd);
	return 0;
}

void
proxy_tcp_start(struct proxyd *p)
{
	ev_io_init(&p->tcp->accept_w, accept_cb, p->tcp->lfd, EV_READ);
	p->tcp->accept_w.data = p;
	ev_io_start(p->loop, &p->tcp->accept_w);
}

void
proxy_tcp_synced(struct proxyd *p)
{
	struct pd_conn *c, *tmp;

	for (c = TAILQ_FIRST(&p->tcp->conns); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, entry);
		if (c->state != C_PARKED)
			continue;
		ev_timer_stop(p->loop, &c->timer);
		p->tcp->nparked--;
		c->state = C_NEW;
		conn_start(c);
	}
}

size_t
proxy_tcp_count(const struct proxyd *p)
{
	return p->tcp ? p->tcp->nconns : 0;
}

/* SIGTERM: take no new connection (they wait in the kept socket's backlog). */
void
proxy_tcp_quiesce(struct proxyd *p)
{
	if (p->tcp != NULL)
		ev_io_stop(p->loop, &p->tcp->accept_w);
}
