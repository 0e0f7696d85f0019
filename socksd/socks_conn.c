/*
 * SOCKS5 connections: negotiate (bounded buffer, 10 s), resolve the node
 * by name (or by one of its addresses) from the peers topic, then hand the
 * client's socket to tunneld with the success reply attached: tunneld
 * writes it once the far end has connected, before any data, and owns the
 * connection from then on.  On failure we answer with the RFC 1928 code.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "socksd.h"
#include "srcgate.h"

#define MAX_CONNS      256 /* in socksd's hands: the oldest negotiating one goes */
#define MAX_PER_SOURCE 16  /* negotiating from one client address */
#define NEGOTIATE_SECS 10.0
#define OPEN_SECS      30.0 /* tunneld answers every open within its own timeout */

enum { S_GREET, S_REQUEST, S_OPENING };

struct sconn {
	TAILQ_ENTRY(sconn) entry;
	struct socksd *s;
	int fd;
	int state;
	ev_io rw;
	ev_timer tmo;
	uint8_t buf[SOCKS_REQ_MAX];
	size_t len;
	uint64_t open_id;
	struct ip_addr src;
	char client[64];
	char target[300];
};

struct socksd {
	struct em_daemon *d;
	struct ev_loop *loop;
	int lfd;
	ev_io aw;
	struct tunclient *tc;
	TAILQ_HEAD(, sconn) conns;
	size_t nconns;
	struct srcgate gate; /* commonConfig.clientSourceRanges */
	uint64_t accepted, opened, refused, evicted, over_source;
	ev_tstamp limit_logged;
};

static void
conn_free(struct sconn *c)
{
	struct socksd *s = c->s;

	ev_io_stop(s->loop, &c->rw);
	ev_timer_stop(s->loop, &c->tmo);
	if (c->state == S_OPENING)
		tunclient_cancel(s->tc, c->open_id);
	close(c->fd);
	TAILQ_REMOVE(&s->conns, c, entry);
	s->nconns--;
	free(c);
}

/* Answer and close: small writes to a fresh socket always fit. */
static void
conn_refuse(struct sconn *c, uint8_t rep, const char *why)
{
	uint8_t r[10];

	c->s->refused++;
	log_info("socks %s -> %s refused (reply %u): %s", c->client, c->target[0] ? c->target : "?",
		 rep, why);
	(void)send(c->fd, r, socks_reply(rep, r), MSG_DONTWAIT | MSG_NOSIGNAL);
	conn_free(c);
}

static const struct em_peer *
find_node(struct socksd *s, const struct socks_req *r)
{
	const struct em_object *o;
	struct replica_iter it;
	size_t i;

	if (r->atyp == 3)
		return (o = replica_get(s->d->replica, EM_TOPIC_PEERS, r->host)) ? o->u.peer : NULL;
	replica_iter_init(&it);
	while (replica_next(s->d->replica, EM_TOPIC_PEERS, &it, &o))
		for (i = 0; i < o->u.peer->naddrs; i++)
			if (strcmp(o->u.peer->addrs[i], r->host) == 0)
				return o->u.peer;
	return NULL;
}

static void
open_done(void *arg, int ok, const char *reason)
{
	struct sconn *c = arg;

	c->state = S_REQUEST; /* the open is settled: nothing to cancel */
	if (!ok) {
		conn_refuse(c, socks_rep_for(reason), reason);
		return;
	}
	c->s->opened++;
	log_info("socks %s -> %s: connected through the tunnel", c->client, c->target);
	conn_free(c); /* tunneld owns the connection now */
}

static void
conn_request(struct sconn *c, const struct socks_req *r)
{
	struct socksd *s = c->s;
	const struct em_peer *p;
	struct ipc_tun_open o;

	snprintf(c->target, sizeof(c->target), "%s:%u", r->host, r->port);
	if ((p = find_node(s, r)) == NULL) {
		conn_refuse(c, r->atyp == 3 ? SOCKS_HOST_UNREACH : SOCKS_NOT_ALLOWED,
			    r->atyp == 3 ? "no node of that name (no Node object)"
					 : "only node addresses are reachable");
		return;
	}
	if (strcmp(p->name, s->d->cfg.node_name) == 0) {
		conn_refuse(c, SOCKS_NOT_ALLOWED, "that is this node: connect to it directly");
		return;
	}
	if (p->naddrs == 0) {
		conn_refuse(c, SOCKS_HOST_UNREACH, "the node has no address");
		return;
	}
	memset(&o, 0, sizeof(o));
	snprintf(o.peer, sizeof(o.peer), "%s", p->name);
	snprintf(o.ip, sizeof(o.ip), "%s", r->atyp == 3 ? p->addrs[0] : r->host);
	o.port = r->port;
	o.proto = EM_PROTO_TCP;
	snprintf(o.client, sizeof(o.client), "%s", c->client);
	o.reply_len = (uint8_t)socks_reply(SOCKS_OK, o.reply);
	ev_io_stop(s->loop, &c->rw);
	tunclient_open(s->tc, c->fd, &o, open_done, c, &c->open_id);
	c->state = S_OPENING;
	ev_timer_stop(s->loop, &c->tmo);
	ev_timer_set(&c->tmo, OPEN_SECS, 0.);
	ev_timer_start(s->loop, &c->tmo);
}

static void
conn_parse(struct sconn *c)
{
	static const uint8_t ok[2] = {5, 0}, none[2] = {5, 0xff};
	struct socks_req r;
	size_t used = 0;
	int rc;

	if (c->state == S_GREET) {
		if ((rc = socks_parse_greeting(c->buf, c->len, &used)) == SOCKS_MORE)
			return;
		if (rc == SOCKS_BAD) {
			log_info("socks %s: not a SOCKS5 greeting; closed", c->client);
			conn_free(c);
			return;
		}
		if (rc == SOCKS_NO_METHOD) {
			(void)send(c->fd, none, 2, MSG_DONTWAIT | MSG_NOSIGNAL);
			log_info("socks %s: no acceptable method (only no-auth is served)",
				 c->client);
			conn_free(c);
			return;
		}
		(void)send(c->fd, ok, 2, MSG_DONTWAIT | MSG_NOSIGNAL);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->state = S_REQUEST;
	}
	if ((rc = socks_parse_request(c->buf, c->len, &r, &used)) == SOCKS_MORE)
		return;
	if (rc == SOCKS_BAD) {
		log_info("socks %s: malformed request; closed", c->client);
		conn_free(c);
		return;
	}
	snprintf(c->target, sizeof(c->target), "%s:%u", r.host, r.port);
	if (rc > 0) {
		conn_refuse(c, (uint8_t)rc,
			    rc == SOCKS_CMD_UNSUPP ? "only CONNECT is served" : "bad address");
		return;
	}
	if (used != c->len) {
		conn_refuse(c, SOCKS_FAILURE, "data sent before the reply");
		return;
	}
	conn_request(c, &r);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sconn *c = w->data;
	ssize_t n;

	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->len + (size_t)n > sizeof(c->buf) - 1) {
		if (n > 0)
			log_info("socks %s: request too long; closed", c->client);
		conn_free(c);
		return;
	}
	c->len += (size_t)n;
	conn_parse(c);
}

static void
conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sconn *c = w->data;

	if (c->state == S_OPENING) {
		conn_refuse(c, SOCKS_HOST_UNREACH, "tunneld did not answer in time");
		return;
	}
	log_info("socks %s: negotiation timed out", c->client);
	conn_free(c);
}

/* One line a second at most about clients over a limit. */
static bool
limit_log_now(struct socksd *s)
{
	return log_due(&s->limit_logged, ev_now(s->loop));
}

/*
 * Room for a connection from src: at most MAX_PER_SOURCE negotiating from
 * one address (its new ones are closed; those waiting for tunneld do not
 * count, so a burst of ssh sessions from this node is not cut), at most
 * MAX_CONNS in all (the oldest still negotiating is closed for the new one,
 * so that clients holding half-open connections cannot lock out the
 * others).  False: close it.
 */
static bool
conn_make_room(struct socksd *s, const struct ip_addr *src, const char *client)
{
	struct sconn *c, *oldest = NULL;
	size_t same = 0;

	TAILQ_FOREACH(c, &s->conns, entry)
	{
		if (c->state == S_OPENING)
			continue;
		if (ip_addr_equal(&c->src, src))
			same++;
		if (oldest == NULL)
			oldest = c;
	}
	if (same >= MAX_PER_SOURCE) {
		s->over_source++;
		if (limit_log_now(s))
			log_warnx("socks %s: %d connections from it in negotiation already; "
				  "closing its new ones (%llu so far)",
				  client, MAX_PER_SOURCE, (unsigned long long)s->over_source);
		return false;
	}
	if (s->nconns < MAX_CONNS)
		return true;
	if (oldest == NULL)
		return false; /* every one waits for tunneld, which answers within 10 s */
	s->evicted++;
	if (limit_log_now(s))
		log_warnx("socks: %d connections in negotiation: closing the oldest (%s) for "
			  "a new one (%llu so far)",
			  MAX_CONNS, oldest->client, (unsigned long long)s->evicted);
	conn_free(oldest);
	return true;
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct socksd *s = w->data;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sconn *c;
	struct ip_addr src;
	char client[64];
	int fd;

	if ((fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("socks accept");
		return;
	}
	if (!srcgate_allows(&s->gate, (struct sockaddr *)&ss, ev_now(loop))) {
		srcgate_log_refused(&s->gate, "socks connection", (struct sockaddr *)&ss,
				    log_clock());
		close(fd);
		return;
	}
	net_addr_text(&ss, client, sizeof(client));
	if (ip_addr_from_sockaddr((struct sockaddr *)&ss, &src) == -1 ||
	    !conn_make_room(s, &src, client)) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->fd = fd;
	c->state = S_GREET;
	c->src = src;
	memcpy(c->client, client, sizeof(c->client));
	ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
	ev_timer_init(&c->tmo, conn_timeout_cb, NEGOTIATE_SECS, 0.);
	c->rw.data = c->tmo.data = c;
	ev_io_start(loop, &c->rw);
	ev_timer_start(loop, &c->tmo);
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	s->nconns++;
	s->accepted++;
}

struct socksd *
socks_new(struct em_daemon *d, int lfd)
{
	struct socksd *s = xcalloc(1, sizeof(*s));
	char why[160];

	s->d = d;
	s->loop = d->loop;
	s->lfd = lfd;
	s->tc = tunclient_new(d->loop, d->cfg.runtime_dir, "socksd");
	if (srcgate_init(&s->gate, d->cfg.client_ranges, d->cfg.n_client_ranges, &d->replica,
			 d->cfg.node_name, why, sizeof(why)) == -1)
		fatalx("commonConfig.clientSourceRanges: %s", why);
	TAILQ_INIT(&s->conns);
	ev_io_init(&s->aw, accept_cb, lfd, EV_READ);
	s->aw.data = s;
	return s;
}

void
socks_start(struct socksd *s)
{
	ev_io_start(s->loop, &s->aw);
}

void
socks_quiesce(struct socksd *s)
{
	ev_io_stop(s->loop, &s->aw);
}

size_t
socks_busy(const struct socksd *s)
{
	return s->nconns;
}

void
socks_stop(struct socksd *s)
{
	struct sconn *c;

	ev_io_stop(s->loop, &s->aw);
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_free(c);
	tunclient_free(s->tc);
	s->tc = NULL;
}

void
socks_health(struct socksd *s, char *buf, size_t len)
{
	snprintf(buf, len,
		 "peers=%zu negotiating=%zu accepted=%llu opened=%llu refused=%llu "
		 "not_client=%llu over_source=%llu evicted=%llu",
		 replica_count(s->d->replica, EM_TOPIC_PEERS), s->nconns,
		 (unsigned long long)s->accepted, (unsigned long long)s->opened,
		 (unsigned long long)s->refused, (unsigned long long)s->gate.refused,
		 (unsigned long long)s->over_source, (unsigned long long)s->evicted);
}
