/*
 * TCP listeners and connections (RFC 7766): 2-octet length-prefixed
 * queries, pipelined, answered in whatever order they complete.
 *
 *   read --> rbuf (one query at most DNS_TCP_QUERY_MAX) --> dns_server_query
 *                                                            |
 *   write <-- wbuf queue <-- dns_tcp_reply <-----------------+
 *
 * Reading stops while DNS_TCP_PENDING_MAX queries are in flight or
 * DNS_TCP_WBUF_MAX octets wait to be written, and resumes from the loop
 * (the kick timer) once both are below.  A connection closes after
 * DNS_TCP_IDLE seconds with nothing in flight, on a write error, or after
 * the client's EOF once every answer is out.  With DNS_TCP_CLIENTS_MAX
 * connections open a new one pushes out the least recently active idle
 * connection, or is closed itself when none is idle; the same within the
 * DNS_TCP_PER_SOURCE connections one client address may hold.  Sources
 * outside commonConfig.clientSourceRanges are closed at accept, unread.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "byteorder.h"
#include "dns.h"
#include "log.h"
#include "model.h"
#include "srcrange.h"

#define TCP_ACCEPTS_PER_EVENT 16

struct dns_tcp {
	struct dns_server *s;
	int fd;
	ev_io io;
};

struct wbuf {
	struct wbuf *next;
	size_t len, off;
	uint8_t data[];
};

struct dns_tcp_conn {
	TAILQ_ENTRY(dns_tcp_conn) entry; /* s->conns, most recently active first */
	struct dns_server *s;
	int fd;
	ev_io rio, wio;
	ev_timer idle, kick;
	ev_tstamp last;
	bool reading, eof, broken;
	size_t pending; /* queries handed to the server, not yet answered */
	size_t rlen;
	struct wbuf *whead, *wtail;
	size_t wbytes;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t rbuf[2 + DNS_TCP_QUERY_MAX];
};

static void conn_close(struct dns_tcp_conn *);

static void
conn_touch(struct dns_tcp_conn *c)
{
	c->last = ev_now(c->s->loop);
	if (TAILQ_FIRST(&c->s->conns) != c) {
		TAILQ_REMOVE(&c->s->conns, c, entry);
		TAILQ_INSERT_HEAD(&c->s->conns, c, entry);
	}
}

/* Run kick_cb from the loop, never from inside the server. */
static void
conn_kick(struct dns_tcp_conn *c)
{
	if (!ev_is_active(&c->kick)) {
		ev_timer_set(&c->kick, 0., 0.);
		ev_timer_start(c->s->loop, &c->kick);
	}
}

static bool
conn_busy(const struct dns_tcp_conn *c)
{
	return c->pending >= DNS_TCP_PENDING_MAX || c->wbytes >= DNS_TCP_WBUF_MAX;
}

static void
conn_read_on(struct dns_tcp_conn *c, bool on)
{
	if (on && !c->reading && !c->eof && !c->broken) {
		ev_io_start(c->s->loop, &c->rio);
		c->reading = true;
	} else if (!on && c->reading) {
		ev_io_stop(c->s->loop, &c->rio);
		c->reading = false;
	}
}

/* Hand every complete query in rbuf to the server, as long as we may. */
static void
conn_process(struct dns_tcp_conn *c)
{
	struct dns_origin o;
	size_t mlen, used = 0;

	o.udp_fd = -1;
	o.udp = NULL;
	o.conn = c;
	o.peer = c->peer;
	o.peerlen = c->peerlen;
	while (!c->broken && !conn_busy(c) && c->rlen - used >= 2) {
		mlen = be16_get(c->rbuf + used);
		if (mlen > DNS_TCP_QUERY_MAX) {
			log_debug("dns tcp: a %zu-octet query, closing", mlen);
			c->broken = true;
			break;
		}
		if (c->rlen - used < 2 + mlen)
			break;
		c->pending++;
		conn_touch(c);
		dns_server_query(c->s, &o, c->rbuf + used + 2, mlen);
		used += 2 + mlen;
	}
	if (used > 0) {
		buf_consume(c->rbuf, &c->rlen, used);
	}
	if (c->broken || (c->eof && c->pending == 0 && c->wbytes == 0))
		conn_kick(c);
	else
		conn_read_on(c, !conn_busy(c));
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_tcp_conn *c = w->data;
	ssize_t n;

	n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* half-close: answer what was asked, then close */
		conn_read_on(c, false);
		c->eof = true;
	} else
		c->rlen += (size_t)n;
	conn_process(c);
}

/* Write queued answers; false on a fatal error. */
static bool
conn_flush(struct dns_tcp_conn *c)
{
	struct wbuf *b;
	ssize_t n;

	while ((b = c->whead) != NULL) {
		n = send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return false;
		}
		b->off += (size_t)n;
		c->wbytes -= (size_t)n;
		if (b->off < b->len)
			break;
		c->whead = b->next;
		if (c->whead == NULL)
			c->wtail = NULL;
		free(b);
	}
	if (c->whead == NULL)
		ev_io_stop(c->s->loop, &c->wio);
	else
		ev_io_start(c->s->loop, &c->wio);
	return true;
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_tcp_conn *c = w->data;

	if (!conn_flush(c)) {
		conn_close(c);
		return;
	}
	conn_touch(c);
	if (c->eof && c->pending == 0 && c->wbytes == 0)
		conn_close(c);
	else if (!conn_busy(c))
		conn_kick(c);
}

static void
conn_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_tcp_conn *c = w->data;

	if (c->broken || (c->eof && c->pending == 0 && c->wbytes == 0)) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void
conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_tcp_conn *c = w->data;
	ev_tstamp left = c->last + DNS_TCP_IDLE - ev_now(loop);

	if (left <= 0 && c->pending == 0 && c->wbytes == 0) {
		c->s->st.tcp_timeouts++;
		conn_close(c);
		return;
	}
	w->repeat = left > 0 ? left : DNS_TCP_IDLE;
	ev_timer_again(loop, w);
}

void
dns_tcp_reply(struct dns_server *s, struct dns_tcp_conn *c, const uint8_t *msg, size_t len)
{
	struct iovec iov[2];
	struct wbuf *b;
	uint8_t pre[2];
	ssize_t n = 0;
	size_t skip;

	if (c->pending > 0)
		c->pending--;
	if (msg != NULL && len > 0 && len <= DNS_MSG_MAX && !c->broken) {
		be16_put(pre, (uint16_t)len);
		if (c->whead == NULL) {
			iov[0].iov_base = pre;
			iov[0].iov_len = 2;
			iov[1].iov_base = (void *)(uintptr_t)msg;
			iov[1].iov_len = len;
			n = writev(c->fd, iov, 2);
			if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				c->broken = true;
			if (n == -1)
				n = 0;
		}
		skip = (size_t)n;
		if (!c->broken && skip < len + 2) {
			b = xcalloc(1, sizeof(*b) + len + 2);
			memcpy(b->data, pre, 2);
			memcpy(b->data + 2, msg, len);
			b->len = len + 2;
			b->off = skip;
			c->wbytes += b->len - skip;
			if (c->wtail != NULL)
				c->wtail->next = b;
			else
				c->whead = b;
			c->wtail = b;
			ev_io_start(s->loop, &c->wio);
		}
	}
	c->last = ev_now(s->loop);
	if (c->broken || (c->eof && c->pending == 0 && c->wbytes == 0) ||
	    (!c->reading && !c->eof && !conn_busy(c)))
		conn_kick(c);
}

static void
conn_close(struct dns_tcp_conn *c)
{
	struct dns_server *s = c->s;
	struct wbuf *b;

	dns_server_cancel(s, c);
	ev_io_stop(s->loop, &c->rio);
	ev_io_stop(s->loop, &c->wio);
	ev_timer_stop(s->loop, &c->idle);
	ev_timer_stop(s->loop, &c->kick);
	close(c->fd);
	while ((b = c->whead) != NULL) {
		c->whead = b->next;
		free(b);
	}
	TAILQ_REMOVE(&c->s->conns, c, entry);
	s->nconns--;
	free(c);
}

static bool
same_source(const struct sockaddr_storage *a, const struct ip_addr *b)
{
	struct ip_addr x;

	return ip_addr_from_sockaddr((const struct sockaddr *)a, &x) == 0 && ip_addr_equal(&x, b);
}

/*
 * Make room for one more connection from peer: within its source's
 * DNS_TCP_PER_SOURCE, then within DNS_TCP_CLIENTS_MAX, by closing the least
 * recently active idle connection (of that source, then of anyone); false
 * if every one is busy.
 */
static bool
conn_make_room(struct dns_server *s, const struct sockaddr_storage *peer)
{
	struct dns_tcp_conn *c, *victim = NULL, *own = NULL;
	struct ip_addr src;
	size_t same = 0;
	bool known = ip_addr_from_sockaddr((const struct sockaddr *)peer, &src) == 0;

	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = TAILQ_NEXT(c, entry)) {
		if (known && same_source(&c->peer, &src)) {
			same++;
			if (c->pending == 0 && c->wbytes == 0)
				own = c; /* the last one found is the least active */
		}
		if (c->pending == 0 && c->wbytes == 0)
			victim = c;
	}
	if (same >= DNS_TCP_PER_SOURCE) {
		s->st.tcp_over_source++;
		if (own == NULL)
			return false;
		conn_close(own);
		return true;
	}
	if (s->nconns < DNS_TCP_CLIENTS_MAX)
		return true;
	if (victim == NULL)
		return false;
	conn_close(victim);
	return true;
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_tcp *l = w->data;
	struct dns_server *s = l->s;
	struct dns_tcp_conn *c;
	struct sockaddr_storage peer;
	socklen_t plen;
	int fd, i;

	for (i = 0; i < TCP_ACCEPTS_PER_EVENT; i++) {
		plen = sizeof(peer);
		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("dns tcp: accept");
			return;
		}
		if (!dns_server_client_ok(s, &peer, "DNS connection over TCP")) {
			close(fd);
			continue;
		}
		if (!conn_make_room(s, &peer)) {
			s->st.tcp_refused++;
			close(fd);
			continue;
		}
		s->st.tcp_accepted++;
		c = xcalloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		c->peer = peer;
		c->peerlen = plen;
		c->last = ev_now(loop);
		ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
		ev_init(&c->idle, conn_idle_cb);
		c->idle.repeat = DNS_TCP_IDLE;
		ev_init(&c->kick, conn_kick_cb);
		c->rio.data = c->wio.data = c->idle.data = c->kick.data = c;
		ev_timer_again(loop, &c->idle);
		TAILQ_INSERT_HEAD(&s->conns, c, entry);
		s->nconns++;
		conn_read_on(c, true);
	}
}

int
dns_tcp_add(struct dns_server *s, int fd)
{
	struct dns_tcp *l;

	if (s->ntcp == DNS_TCP_LISTEN_MAX)
		return -1;
	l = xcalloc(1, sizeof(*l));
	l->s = s;
	l->fd = fd;
	ev_io_init(&l->io, tcp_accept_cb, fd, EV_READ);
	l->io.data = l;
	ev_io_start(s->loop, &l->io);
	s->tcp[s->ntcp++] = l;
	return 0;
}

void
dns_tcp_free(struct dns_server *s, struct dns_tcp *l)
{
	ev_io_stop(s->loop, &l->io);
	close(l->fd);
	free(l);
}

void
dns_tcp_close_all(struct dns_server *s)
{
	while (!TAILQ_EMPTY(&s->conns))
		conn_close(TAILQ_FIRST(&s->conns));
}

void
dns_tcp_listen(struct dns_server *s, bool on)
{
	size_t i;

	for (i = 0; i < s->ntcp; i++) {
		if (on)
			ev_io_start(s->loop, &s->tcp[i]->io);
		else
			ev_io_stop(s->loop, &s->tcp[i]->io);
	}
}
