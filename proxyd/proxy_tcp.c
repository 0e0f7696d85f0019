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
 * Relaying, per direction: recv() into a shared scratch buffer and send()
 * it on at once; only what the peer would not take is kept, in that
 * direction's buffer (at most PROXY_BUF_SIZE), and reading stops until it
 * is written.  A read that fills the whole scratch buffer means bulk
 * data: the direction switches to splice(2) through a pipe (at most
 * PROXY_PIPE_SIZE in it) taken from a bounded pool, and gives the drained
 * pipe back after a short read.  A short read also ends the round: the
 * socket is empty, so no read is spent on EAGAIN.  EOF is propagated with
 * shutdown(SHUT_WR), or by close() when the other direction is done too.
 * Watchers stay armed while their interest holds; libev then issues no
 * epoll_ctl between events.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

enum conn_state { C_PARKED, C_PEEK, C_CONNECT, C_TUNNEL, C_RELAY };

struct pd_dir {
	int *src, *dst;
	ev_io *rd, *wr;
	int pipe[2]; /* while splicing, else -1 */
	size_t inpipe;
	char *buf; /* read, not yet written (allocated on first use) */
	size_t off, len;
	int eof, shut;
};

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
	char key[256];
	int havekey;
	uint64_t tun_id;
	ev_io c_rd, c_wr, s_rd, s_wr;
	ev_timer timer;
	struct pd_dir up, down;
};
TAILQ_HEAD(conn_list, pd_conn);

struct pd_tcp {
	int lfd;
	ev_io accept_w;
	struct conn_list conns;
	size_t nconns, nparked;
	int pool[PROXY_PIPE_POOL][2]; /* empty pipes kept for reuse */
	size_t npool;
};

/* every direction reads into this and writes from it at once */
static char scratch[PROXY_BUF_SIZE];

static void conn_next(struct pd_conn *);
static void conn_begin(struct pd_conn *);

/* A pipe for splicing, from the pool if one is there; -1 if none can be had. */
static int
pipe_get(struct pd_tcp *t, int fds[2])
{
	if (t->npool > 0) {
		t->npool--;
		fds[0] = t->pool[t->npool][0];
		fds[1] = t->pool[t->npool][1];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

/* Give d's pipe back: an empty one to the pool while it has room, else close it. */
static void
pipe_put(struct pd_tcp *t, struct pd_dir *d)
{
	if (d->pipe[0] == -1)
		return;
	if (d->inpipe == 0 && t->npool < PROXY_PIPE_POOL) {
		t->pool[t->npool][0] = d->pipe[0];
		t->pool[t->npool][1] = d->pipe[1];
		t->npool++;
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
}

static void
dir_reset(struct pd_dir *d, int *src, int *dst, ev_io *rd, ev_io *wr)
{
	d->src = src;
	d->dst = dst;
	d->rd = rd;
	d->wr = wr;
	d->off = d->len = 0;
	d->eof = d->shut = 0;
}

static void
conn_close(struct pd_conn *c, const char *why)
{
	struct proxyd *p = c->p;

	if (why != NULL)
		log_debug("tcp %s -> %s: closed: %s", c->client_txt, c->vipkey, why);
	ev_io_stop(p->loop, &c->c_rd);
	ev_io_stop(p->loop, &c->c_wr);
	ev_io_stop(p->loop, &c->s_rd);
	ev_io_stop(p->loop, &c->s_wr);
	ev_timer_stop(p->loop, &c->timer);
	if (c->state == C_TUNNEL)
		tun_cancel(p, c->tun_id);
	if (c->state == C_PARKED)
		p->tcp->nparked--;
	if (c->cfd != -1)
		close(c->cfd);
	if (c->sfd != -1)
		close(c->sfd);
	pipe_put(p->tcp, &c->up);
	pipe_put(p->tcp, &c->down);
	free(c->up.buf);
	free(c->down.buf);
	TAILQ_REMOVE(&p->tcp->conns, c, entry);
	p->tcp->nconns--;
	free(c);
}

/* Keep the n bytes at from that the peer did not take; bounded by PROXY_BUF_SIZE. */
static void
dir_keep(struct pd_dir *d, const char *from, size_t n)
{
	if (d->buf == NULL)
		d->buf = xcalloc(1, PROXY_BUF_SIZE);
	memcpy(d->buf, from, n);
	d->off = 0;
	d->len = n;
}

/* Write what d holds: 1 all written, 0 the peer is full, -1 error. */
static int
dir_flush(struct pd_dir *d)
{
	ssize_t n;

	if (d->len > 0) {
		n = send(*d->dst, d->buf + d->off, d->len, MSG_NOSIGNAL);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		d->off += (size_t)n;
		d->len -= (size_t)n;
		if (d->len > 0)
			return 0; /* a short write: the socket buffer is full */
	}
	if (d->inpipe > 0) {
		n = splice(d->pipe[0], NULL, *d->dst, NULL, d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		d->inpipe -= (size_t)n;
		if (d->inpipe > 0)
			return 0;
	}
	return 1;
}

/*
 * Move what we can in one direction, at most PROXY_PUMP_ROUNDS reads;
 * -1 on a fatal error.  Reads only when nothing is held, so bytes keep
 * their order and each direction holds at most one buffer or one pipe.
 */
static int
dir_pump(struct pd_conn *c, struct pd_dir *d)
{
	struct ev_loop *loop = c->p->loop;
	ssize_t n, w;
	int i, r;

	for (i = 0; i < PROXY_PUMP_ROUNDS; i++) {
		if ((r = dir_flush(d)) == -1)
			return -1;
		if (r == 0 || d->eof)
			break;
		if (d->pipe[0] != -1) {
			n = splice(*d->src, NULL, d->pipe[1], NULL, PROXY_PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe = (size_t)n;
				if (n >= PROXY_BUF_SIZE)
					continue;
				/* a short read: back to the buffer once the pipe is empty */
				if ((r = dir_flush(d)) == -1)
					return -1;
				if (r == 1)
					pipe_put(c->p->tcp, d);
				break;
			}
			if (n == -1 && errno == EAGAIN) {
				pipe_put(c->p->tcp, d); /* empty: an idle direction holds none */
				break;
			}
		} else {
			n = recv(*d->src, scratch, sizeof(scratch), 0);
			if (n > 0) {
				w = send(*d->dst, scratch, (size_t)n, MSG_NOSIGNAL);
				if (w == -1 && errno != EAGAIN)
					return -1;
				if (w < n) {
					dir_keep(d, scratch + (w > 0 ? w : 0),
						 (size_t)(n - (w > 0 ? w : 0)));
					break;
				}
				if (n < (ssize_t)sizeof(scratch))
					break; /* the socket is empty: wait for more */
				/* bulk: splice from now on, if a pipe can be had */
				pipe_get(c->p->tcp, d->pipe);
				continue;
			}
		}
		if (n == 0) {
			d->eof = 1;
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		return -1;
	}
	if (d->eof && d->len == 0 && d->inpipe == 0 && !d->shut) {
		/* the other way done too: close() sends our FIN, spare the call */
		if (!(d == &c->up ? c->down.shut : c->up.shut))
			shutdown(*d->dst, SHUT_WR);
		d->shut = 1;
		pipe_put(c->p->tcp, d);
	}
	if (!d->eof && d->len == 0 && d->inpipe == 0)
		ev_io_start(loop, d->rd);
	else
		ev_io_stop(loop, d->rd);
	if (d->len > 0 || d->inpipe > 0)
		ev_io_start(loop, d->wr);
	else
		ev_io_stop(loop, d->wr);
	return 0;
}

static void
relay_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_conn *c = w->data;
	struct pd_dir *d = (w == &c->c_rd || w == &c->s_wr) ? &c->up : &c->down;

	if (dir_pump(c, d) == -1) {
		conn_close(c, "relay error");
		return;
	}
	if (c->up.shut && c->down.shut)
		conn_close(c, NULL);
}

/* Connected: relay both ways; the client has most likely spoken already. */
static void
relay_start(struct pd_conn *c)
{
	ev_timer_stop(c->p->loop, &c->timer);
	c->state = C_RELAY;
	dir_reset(&c->up, &c->cfd, &c->sfd, &c->c_rd, &c->s_wr);
	dir_reset(&c->down, &c->sfd, &c->cfd, &c->s_rd, &c->c_wr);
	ev_io_start(c->p->loop, &c->s_rd);
	if (dir_pump(c, &c->up) == -1)
		conn_close(c, "relay error");
}

static void
ep_failed(struct pd_conn *c, const char *why)
{
	log_info("tcp %s -> %s: endpoint %s failed: %s", c->client_txt, c->vipkey,
		 c->tried[c->ntried - 1], why);
	svc_ep_failed(c->p, c->vipkey, c->tried[c->ntried - 1]);
	conn_next(c);
}

/* The pending connect finished, or the relay wants to write to the server. */
static void
server_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_conn *c = w->data;
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_RELAY) {
		relay_cb(loop, w, revents);
		return;
	}
	ev_io_stop(loop, &c->s_wr);
	ev_timer_stop(loop, &c->timer);
	if (getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		close(c->sfd);
		c->sfd = -1;
		ep_failed(c, strerror(err));
		return;
	}
	relay_start(c);
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
	c->state = C_CONNECT; /* no tun_cancel in close */
	if (ok) {
		c->p->n_tunneled++;
		conn_close(c, NULL); /* tunneld owns its copy of the client fd */
		return;
	}
	if (reason == tunclient_unavailable) {
		/* tunneld stayed away: the endpoint is not marked down */
		log_info("tcp %s -> %s: endpoint %s: %s", c->client_txt, c->vipkey,
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
		conn_close(c, "every endpoint tried failed");
		return;
	}
	if ((v = hmap_get(p->vips, c->vipkey)) == NULL) {
		conn_close(c, "service gone");
		return;
	}
	idx = svc_pick(p, v, c->client_ip, c->havekey ? c->key : NULL, strlen(c->key), c->tried,
		       c->ntried);
	if (idx == -1) {
		p->n_fail++;
		log_info("tcp %s -> %s: no usable endpoint (%zu ready)", c->client_txt, c->vipkey,
			 v->neps);
		conn_close(c, NULL);
		return;
	}
	ep = &v->eps[idx];
	snprintf(c->tried[c->ntried++], PD_EPID_LEN, "%s", ep->id);
	if (!ep->local) {
		log_debug("tcp %s -> %s: endpoint %s via tunnel to %s", c->client_txt, c->vipkey,
			  ep->id, ep->node);
		if (tun_open(p, c->cfd, ep->node, ep->ip, ep->port, EM_PROTO_TCP, c->client_txt,
			     tun_cb, c, &c->tun_id) == -1) {
			conn_next(c); /* no fd to hand over: not the endpoint's fault */
			return;
		}
		c->state = C_TUNNEL;
		ev_timer_set(&c->timer, 10.0, 0.);
		ev_timer_start(p->loop, &c->timer);
		return;
	}
	c->state = C_CONNECT;
	if ((c->sfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		conn_close(c, "socket");
		return;
	}
	setsockopt(c->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_set(&c->s_rd, c->sfd, EV_READ);
	ev_io_set(&c->s_wr, c->sfd, EV_WRITE);
	if (connect(c->sfd, (struct sockaddr *)&ep->sa, sizeof(ep->sa)) == 0) {
		relay_start(c);
		return;
	}
	if (errno != EINPROGRESS) {
		int e = errno;

		close(c->sfd);
		c->sfd = -1;
		ep_failed(c, strerror(e));
		return;
	}
	/*
	 * To a pod behind a veth the handshake has usually completed within
	 * connect() itself: one getpeername() then spares a write watcher,
	 * its epoll_ctl calls and the SO_ERROR query.
	 */
	len = sizeof(sa);
	if (getpeername(c->sfd, (struct sockaddr *)&sa, &len) == 0) {
		relay_start(c);
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
	if (v->lb.hash == EM_HASH_COOKIE)
		r = lb_http_cookie(buf, (size_t)n, v->lb.hash_arg, c->key, sizeof(c->key));
	else
		r = lb_http_header(buf, (size_t)n, v->lb.hash_arg, c->key, sizeof(c->key));
	if (r == 1)
		c->havekey = 1;
	if (r != -1 || (size_t)n >= sizeof(buf))
		return 1;
	/* wake up only when more than what we have is there */
	lowat = (int)n + 1;
	setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	return 0;
}

/* The client is readable: more of the request to peek at, or relay. */
static void
client_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_conn *c = w->data;

	if (c->state == C_RELAY) {
		relay_cb(loop, w, revents);
		return;
	}
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

	if ((v = svc_lookup(p, &c->orig, EM_PROTO_TCP)) == NULL) {
		conn_close(c, "not a proxied service");
		return;
	}
	snprintf(c->vipkey, sizeof(c->vipkey), "%s", v->key);
	p->n_conns++;
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
	struct sockaddr_in sa;
	socklen_t len;
	struct pd_conn *c;
	int fd, i;

	for (i = 0; i < 64; i++) {
		len = sizeof(sa);
		fd = accept4(t->lfd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->p = p;
		c->cfd = fd;
		c->sfd = -1;
		c->up.pipe[0] = c->down.pipe[0] = -1;
		c->client = sa;
		inet_ntop(AF_INET, &sa.sin_addr, c->client_ip, sizeof(c->client_ip));
		snprintf(c->client_txt, sizeof(c->client_txt), "%s:%u", c->client_ip,
			 ntohs(sa.sin_port));
		ev_timer_init(&c->timer, timer_cb, 0., 0.);
		c->timer.data = c;
		c->up.pipe[1] = c->down.pipe[1] = -1;
		/* the server watchers get their fd with the server socket */
		ev_io_init(&c->c_rd, client_rd_cb, fd, EV_READ);
		ev_io_init(&c->c_wr, relay_cb, fd, EV_WRITE);
		ev_io_init(&c->s_rd, relay_cb, -1, EV_READ);
		ev_io_init(&c->s_wr, server_wr_cb, -1, EV_WRITE);
		c->c_rd.data = c->c_wr.data = c->s_rd.data = c->s_wr.data = c;
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
tcp_listen(struct proxyd *p)
{
	struct sockaddr_in sa;
	int one = 1;

	p->tcp = xcalloc(1, sizeof(*p->tcp));
	TAILQ_INIT(&p->tcp->conns);
	if ((p->tcp->lfd = listen_reuse(p, "tcp", SOCK_STREAM)) != -1)
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
tcp_start(struct proxyd *p)
{
	ev_io_init(&p->tcp->accept_w, accept_cb, p->tcp->lfd, EV_READ);
	p->tcp->accept_w.data = p;
	ev_io_start(p->loop, &p->tcp->accept_w);
}

void
tcp_synced(struct proxyd *p)
{
	struct pd_conn *c, *tmp;

	for (c = TAILQ_FIRST(&p->tcp->conns); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, entry);
		if (c->state != C_PARKED)
			continue;
		ev_timer_stop(p->loop, &c->timer);
		p->tcp->nparked--;
		c->state = C_CONNECT;
		conn_start(c);
	}
}

size_t
tcp_count(const struct proxyd *p)
{
	return p->tcp ? p->tcp->nconns : 0;
}
