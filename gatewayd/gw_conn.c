/*
 * One client connection, as a state machine driven by conn_run() after
 * every event.  Four bounded buffers: cin (client bytes, parsed for heads),
 * uout (to the upstream: rewritten heads and request bodies), uin
 * (upstream bytes, parsed for response heads), cout (to the client).
 * Read interest is kept only while a buffer has room, write interest only
 * while one has data; reads are attempted whenever there is room, so TLS
 * bytes already decrypted inside OpenSSL are never stranded.
 *
 *   TLS_HS -> HEAD -> CONNECT -> HTTP -> HEAD ...   (HTTP, HTTPS)
 *   SNI -> CONNECT -> RAW                           (TLS passthrough)
 *   CONNECT -> RAW                                  (TCP)
 *   any error -> FLUSH (a real HTTP error response) -> LINGER -> closed
 *
 * Each request of a keep-alive connection is routed on its own; one
 * request is in flight at a time (a pipelined one waits in cin), and the
 * upstream connection is reused when the next request goes to the same
 * service port.
 */
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gatewayd.h"
#include "log.h"
#include "tunclient.h"

#define CBUF_SIZE (GW_HEAD_MAX + 4096)

struct buf {
	size_t off, len;
	char d[CBUF_SIZE];
};

enum { P_TLS_HS, P_SNI, P_HEAD, P_CONNECT, P_HTTP, P_RAW, P_FLUSH, P_LINGER };

struct gw_conn {
	struct gw *g;
	int mode; /* enum gw_mode */
	uint16_t port;
	int cfd, ufd, tun_other;
	SSL *ssl;
	ev_io crw, cww, urw, uww;
	ev_timer tick;
	int phase;
	ev_tstamp t_phase, t_first, t_io;
	int c_eof, u_eof, c_shut, u_shut, want_cr, want_cw, want_ur, want_uw;
	int dead;
	/* http */
	struct gw_body reqb, respb;
	int resp_head_done, head_req, close_after, upgrade, resp_started;
	char *phead;
	size_t phead_len;
	char ukey[EM_KEY_LEN + 8]; /* service port the upstream serves */
	char what[300];		   /* for logs: "GET host/path" */
	/* upstream candidates */
	struct gw_pick picks[GW_MAX_TRIES];
	size_t npicks, tried;
	uint64_t tun_id;
	int tun_pending;
	char client[64];
	struct buf cin, cout, uin, uout;
};

static void conn_run(struct gw_conn *);
static void conn_io_cb(struct ev_loop *, ev_io *, int);
static void conn_start_upstream(struct gw_conn *);

static size_t
buf_room(struct buf *b)
{
	if (b->len == 0)
		b->off = 0;
	else if (b->off > 0 && b->off + b->len > CBUF_SIZE / 2) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	return CBUF_SIZE - b->off - b->len;
}

static void
buf_eat(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

static int
buf_put(struct buf *b, const char *p, size_t n)
{
	if (buf_room(b) < n)
		return -1;
	memcpy(b->d + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

static void
conn_free(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;

	ev_io_stop(loop, &c->crw);
	ev_io_stop(loop, &c->cww);
	ev_timer_stop(loop, &c->tick);
	if (c->ufd != -1) {
		ev_io_stop(loop, &c->urw);
		ev_io_stop(loop, &c->uww);
		close(c->ufd);
	}
	if (c->tun_pending)
		tunclient_cancel(c->g->tc, c->tun_id);
	if (c->tun_other != -1)
		close(c->tun_other);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->cfd);
	free(c->phead);
	c->g->nconns--;
	free(c);
}

static void
up_close(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;

	if (c->ufd != -1) {
		ev_io_stop(loop, &c->urw);
		ev_io_stop(loop, &c->uww);
		close(c->ufd);
		c->ufd = -1;
	}
	if (c->tun_pending) {
		tunclient_cancel(c->g->tc, c->tun_id);
		c->tun_pending = 0;
	}
	if (c->tun_other != -1) {
		close(c->tun_other);
		c->tun_other = -1;
	}
	c->u_eof = c->u_shut = 0;
	c->uin.len = c->uout.len = 0;
	c->ukey[0] = '\0';
}

static void
set_phase(struct gw_conn *c, int p)
{
	c->phase = p;
	c->t_phase = ev_now(c->g->d->loop);
	c->t_first = 0;
}

/* Answer with an HTTP error and close after it is written. */
static void
conn_error(struct gw_conn *c, int status, const char *msg)
{
	char resp[1024];
	int n;

	c->g->errors++;
	log_info("%s %s: %d %s (%s)", c->client, c->what[0] != '\0' ? c->what : "-", status,
		 gw_http_reason(status), msg);
	up_close(c);
	c->cout.len = 0;
	if ((n = gw_http_error(resp, sizeof(resp), status, msg)) > 0)
		buf_put(&c->cout, resp, (size_t)n);
	set_phase(c, P_FLUSH);
}

/* client I/O, through TLS when terminated: >0 bytes, 0 nothing now, -1 error */
static ssize_t
c_read(struct gw_conn *c, char *p, size_t n)
{
	ssize_t r;
	int e;

	if (c->ssl == NULL) {
		r = recv(c->cfd, p, n, 0);
		if (r > 0) {
			c->want_cr = 0;
			return r;
		}
		if (r == 0) {
			c->c_eof = 1;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			c->want_cr = 1;
			return 0;
		}
		return -1;
	}
	ERR_clear_error();
	r = SSL_read(c->ssl, p, (int)(n > 65536 ? 65536 : n));
	if (r > 0) {
		c->want_cr = 0;
		return r;
	}
	switch ((e = SSL_get_error(c->ssl, (int)r))) {
	case SSL_ERROR_WANT_READ:
		c->want_cr = 1;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_cw = 1;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		c->c_eof = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
			c->c_eof = 1; /* a close without close_notify */
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

static ssize_t
c_write(struct gw_conn *c, const char *p, size_t n)
{
	ssize_t r;

	if (c->ssl == NULL) {
		r = send(c->cfd, p, n, MSG_NOSIGNAL);
		if (r >= 0) {
			c->want_cw = (size_t)r < n;
			return r;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			c->want_cw = 1;
			return 0;
		}
		return -1;
	}
	ERR_clear_error();
	r = SSL_write(c->ssl, p, (int)(n > 65536 ? 65536 : n));
	if (r > 0) {
		c->want_cw = 0;
		return r;
	}
	switch (SSL_get_error(c->ssl, (int)r)) {
	case SSL_ERROR_WANT_WRITE:
		c->want_cw = 1;
		return 0;
	case SSL_ERROR_WANT_READ:
		c->want_cr = 1;
		return 0;
	default:
		return -1;
	}
}

/* Read the client into cin: 1 progress (bytes or EOF), 0 none, -1 error. */
static int
rd_client(struct gw_conn *c, struct buf *b)
{
	size_t room;
	ssize_t r;

	if (c->c_eof || (room = buf_room(b)) == 0)
		return 0;
	r = c_read(c, b->d + b->off + b->len, room);
	if (r < 0)
		return -1;
	if (r == 0)
		return c->c_eof;
	b->len += (size_t)r;
	c->t_io = ev_now(c->g->d->loop);
	return 1;
}

static int
wr_client(struct gw_conn *c, struct buf *b)
{
	ssize_t r;
	int progress = 0;

	while (b->len > 0) {
		r = c_write(c, b->d + b->off, b->len);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		buf_eat(b, (size_t)r);
		progress = 1;
		c->t_io = ev_now(c->g->d->loop);
	}
	return progress;
}

static int
rd_up(struct gw_conn *c, struct buf *b)
{
	size_t room;
	ssize_t r;

	if (c->u_eof || c->ufd == -1 || (room = buf_room(b)) == 0)
		return 0;
	r = recv(c->ufd, b->d + b->off + b->len, room, 0);
	if (r > 0) {
		b->len += (size_t)r;
		c->want_ur = 0;
		c->t_io = ev_now(c->g->d->loop);
		return 1;
	}
	if (r == 0) {
		c->u_eof = 1;
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->want_ur = 1;
		return 0;
	}
	return -1;
}

static int
wr_up(struct gw_conn *c, struct buf *b)
{
	ssize_t r;
	int progress = 0;

	while (b->len > 0 && c->ufd != -1) {
		r = send(c->ufd, b->d + b->off, b->len, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				c->want_uw = 1;
				break;
			}
			return -1;
		}
		c->want_uw = 0;
		buf_eat(b, (size_t)r);
		progress = 1;
		c->t_io = ev_now(c->g->d->loop);
	}
	return progress;
}

static void
c_shutdown(struct gw_conn *c)
{
	if (c->c_shut)
		return;
	c->c_shut = 1;
	if (c->ssl != NULL) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* close_notify, best effort */
	}
	shutdown(c->cfd, SHUT_WR);
}

/* ---- upstreams ---- */

static void
up_ready(struct gw_conn *c)
{
	ev_io_init(&c->urw, conn_io_cb, c->ufd, EV_READ);
	ev_io_init(&c->uww, conn_io_cb, c->ufd, EV_WRITE);
	c->urw.data = c->uww.data = c;
	if (c->mode == GW_M_HTTP || c->mode == GW_M_TLS_HTTP) {
		buf_put(&c->uout, c->phead, c->phead_len);
		free(c->phead);
		c->phead = NULL;
		set_phase(c, P_HTTP);
	} else
		set_phase(c, P_RAW);
	log_debug("%s %s -> %s:%u%s", c->client, c->what, c->picks[c->tried - 1].ip,
		  c->picks[c->tried - 1].port, c->picks[c->tried - 1].remote ? " (tunnel)" : "");
}

static void
tun_done(void *arg, int ok, const char *reason)
{
	struct gw_conn *c = arg;

	c->tun_pending = 0;
	close(c->tun_other);
	c->tun_other = -1;
	if (ok)
		up_ready(c);
	else {
		log_warnx("%s %s: tunnel to %s (%s:%u) failed: %s", c->client, c->what,
			  c->picks[c->tried - 1].node, c->picks[c->tried - 1].ip,
			  c->picks[c->tried - 1].port, reason);
		close(c->ufd);
		c->ufd = -1;
		conn_start_upstream(c);
	}
	conn_run(c);
}

static void
conn_start_upstream(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;
	struct ipc_tun_open o;
	struct gw_pick *p;
	int sp[2];

	set_phase(c, P_CONNECT);
	while (c->tried < c->npicks) {
		p = &c->picks[c->tried++];
		if (!p->remote) {
			if ((c->ufd = gw_upstream_connect(p)) == -1) {
				log_warn("%s %s: connect %s:%u", c->client, c->what, p->ip,
					 p->port);
				continue;
			}
			/* the write watcher tells when the connect is done */
			ev_io_init(&c->uww, conn_io_cb, c->ufd, EV_WRITE);
			c->uww.data = c;
			ev_io_start(loop, &c->uww);
			return;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == -1) {
			log_warn("socketpair");
			continue;
		}
		memset(&o, 0, sizeof(o));
		snprintf(o.peer, sizeof(o.peer), "%s", p->node);
		snprintf(o.ip, sizeof(o.ip), "%s", p->ip);
		o.port = p->port;
		o.proto = EM_PROTO_TCP;
		snprintf(o.client, sizeof(o.client), "%s", c->client);
		if (tunclient_open(c->g->tc, sp[1], &o, tun_done, c, &c->tun_id) == -1) {
			log_warnx("%s %s: tunneld is not reachable for %s:%u on %s", c->client,
				  c->what, p->ip, p->port, p->node);
			close(sp[0]);
			close(sp[1]);
			continue;
		}
		c->ufd = sp[0];
		c->tun_other = sp[1];
		c->tun_pending = 1;
		return;
	}
	if (c->mode == GW_M_HTTP || c->mode == GW_M_TLS_HTTP)
		conn_error(c, 502, "no endpoint of the service could be reached");
	else {
		log_info("%s %s: no endpoint could be reached", c->client, c->what);
		c->dead = 1;
	}
}

/* Connect-phase readiness of a local TCP upstream. */
static void
up_connected(struct gw_conn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);

	ev_io_stop(c->g->d->loop, &c->uww);
	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &l) == -1)
		err = errno;
	if (err == 0) {
		up_ready(c);
		return;
	}
	log_warnx("%s %s: connect %s:%u: %s", c->client, c->what, c->picks[c->tried - 1].ip,
		  c->picks[c->tried - 1].port, strerror(err));
	close(c->ufd);
	c->ufd = -1;
	conn_start_upstream(c);
}

static void
route_tcp(struct gw_conn *c, const char *sni)
{
	const struct em_gw_route *r;
	char why[300];
	int status;

	gw_gateways_refresh(c->g);
	snprintf(c->what, sizeof(c->what), "%s port %u%s%s", c->mode == GW_M_TCP ? "tcp" : "tls",
		 c->port, sni != NULL ? " sni " : "", sni != NULL ? sni : "");
	r = gw_route_tcp(c->g->gws, c->g->ngws, c->port, sni);
	if (r == NULL) {
		log_info("%s %s: no tcp route", c->client, c->what);
		c->dead = 1;
		return;
	}
	if (gw_upstream_pick(c->g, r, c->picks, GW_MAX_TRIES, &c->npicks, &status, why,
			     sizeof(why)) == -1) {
		log_info("%s %s: %s", c->client, c->what, why);
		c->dead = 1;
		return;
	}
	c->tried = 0;
	conn_start_upstream(c);
}

/* ---- HTTP ---- */

static void
http_request(struct gw_conn *c, const struct gw_head *h)
{
	const struct em_gw_route *r;
	char host[256], uri[GW_HEAD_MAX], key[EM_KEY_LEN], ukey[sizeof(c->ukey)], why[300];
	size_t n;
	int status;

	gw_gateways_refresh(c->g);
	gw_host_strip(h->host, h->host_len, host, sizeof(host));
	memcpy(uri, h->target, h->target_len);
	uri[h->target_len] = '\0';
	snprintf(c->what, sizeof(c->what), "%s %s%.200s", h->method, host, uri);
	if (strcmp(h->method, "CONNECT") == 0) {
		conn_error(c, 405, "CONNECT is not supported by this gateway");
		return;
	}
	if (uri[0] != '/') {
		/* absolute-form: take its path, and its authority as the host */
		const char *p = strstr(uri, "://");

		if (p == NULL) {
			conn_error(c, 400, "request target must be a path");
			return;
		}
		p += 3;
		n = strcspn(p, "/?");
		gw_host_strip(p, n, host, sizeof(host));
		memmove(uri, p[n] == '\0' ? "/" : p + n, strlen(p[n] == '\0' ? "/" : p + n) + 1);
	}
	r = gw_route_http(c->g->gws, c->g->ngws, c->port, host, uri);
	if (r == NULL) {
		conn_error(c, 404, "no route for this host and path");
		return;
	}
	gw_dest_key(r, key, sizeof(key));
	snprintf(ukey, sizeof(ukey), "%s:%u", key, r->dest_port);

	free(c->phead);
	c->phead = xcalloc(1, h->len + 512);
	c->phead_len = gw_http_rewrite(c->cin.d + c->cin.off, h, c->client,
				       c->mode == GW_M_TLS_HTTP, c->phead, h->len + 512);
	if (c->phead_len == 0) {
		conn_error(c, 431, "request head too large");
		return;
	}
	buf_eat(&c->cin, h->len);
	gw_body_init(&c->reqb,
		     h->chunked	   ? GW_BODY_CHUNKED
		     : h->clen > 0 ? GW_BODY_LENGTH
				   : GW_BODY_NONE,
		     h->clen > 0 ? (uint64_t)h->clen : 0);
	gw_body_init(&c->respb, GW_BODY_NONE, 0);
	c->respb.done = 0;
	c->resp_head_done = 0;
	c->resp_started = 0;
	c->head_req = strcmp(h->method, "HEAD") == 0;
	c->upgrade = h->upgrade;
	if (h->conn_close || (h->minor == 0 && !h->conn_keepalive))
		c->close_after = 1;

	if (c->ufd != -1 && !c->u_eof && strcmp(c->ukey, ukey) == 0) {
		/* keep-alive to the same service port: reuse the upstream */
		buf_put(&c->uout, c->phead, c->phead_len);
		free(c->phead);
		c->phead = NULL;
		set_phase(c, P_HTTP);
		log_debug("%s %s -> reused upstream %s", c->client, c->what, ukey);
		return;
	}
	up_close(c);
	if (gw_upstream_pick(c->g, r, c->picks, GW_MAX_TRIES, &c->npicks, &status, why,
			     sizeof(why)) == -1) {
		conn_error(c, status, why);
		return;
	}
	snprintf(c->ukey, sizeof(c->ukey), "%s", ukey);
	c->tried = 0;
	conn_start_upstream(c);
}

/* The response head from uin to cout; sets the body framing. */
static int
http_response_head(struct gw_conn *c)
{
	struct gw_head h;
	int r;

	r = gw_http_parse_response(c->uin.d + c->uin.off, c->uin.len, &h);
	if (r == GW_HEAD_MORE) {
		if (c->u_eof) {
			if (c->uin.len == 0 && !c->resp_started)
				conn_error(c, 502, "the endpoint closed without a response");
			else
				c->dead = 1;
			return -1;
		}
		return 0;
	}
	if (r != GW_HEAD_OK) {
		conn_error(c, 502, "malformed response from the endpoint");
		return -1;
	}
	if (buf_room(&c->cout) < h.len)
		return 0; /* wait for the client to drain */
	buf_put(&c->cout, c->uin.d + c->uin.off, h.len);
	buf_eat(&c->uin, h.len);
	c->resp_started = 1;
	if (h.status == 101 && c->upgrade) {
		set_phase(c, P_RAW); /* websocket and friends: a raw pipe from here */
		return 1;
	}
	if (h.status >= 100 && h.status < 200)
		return 1; /* 100 Continue: the final head follows */
	c->resp_head_done = 1;
	if (c->head_req || h.status == 204 || h.status == 304)
		gw_body_init(&c->respb, GW_BODY_NONE, 0);
	else if (h.chunked)
		gw_body_init(&c->respb, GW_BODY_CHUNKED, 0);
	else if (h.clen >= 0)
		gw_body_init(&c->respb, GW_BODY_LENGTH, (uint64_t)h.clen);
	else {
		gw_body_init(&c->respb, GW_BODY_EOF, 0);
		c->close_after = 1;
	}
	if (h.conn_close || h.minor == 0)
		c->close_after = 1;
	return 1;
}

/* Move body bytes from src to dst as far as the framing allows. */
static int
move_body(struct gw_body *b, struct buf *src, struct buf *dst)
{
	size_t room = buf_room(dst), n = src->len < room ? src->len : room;
	ssize_t k;

	if (n == 0 || b->done)
		return 0;
	if ((k = gw_body_feed(b, src->d + src->off, n)) < 0)
		return -1;
	if (k == 0)
		return 0;
	memcpy(dst->d + dst->off + dst->len, src->d + src->off, (size_t)k);
	dst->len += (size_t)k;
	buf_eat(src, (size_t)k);
	return 1;
}

static int
step_http(struct gw_conn *c)
{
	int p = 0, r;

	/* client -> upstream: the request body */
	if ((r = rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if ((r = move_body(&c->reqb, &c->cin, &c->uout)) == -1) {
		conn_error(c, 400, "malformed chunked request body");
		return 1;
	}
	p |= r;
	if (c->c_eof && !c->reqb.done) {
		c->dead = 1; /* the client gave up mid-body */
		return 0;
	}
	if ((r = wr_up(c, &c->uout)) == -1) {
		if (!c->resp_started)
			conn_error(c, 502, "the endpoint closed the connection");
		else
			c->dead = 1;
		return 1;
	}
	p |= r;
	/* upstream -> client: the response */
	if ((r = rd_up(c, &c->uin)) == -1) {
		if (!c->resp_started)
			conn_error(c, 502, "the endpoint reset the connection");
		else
			c->dead = 1;
		return 1;
	}
	p |= r;
	if (!c->resp_head_done) {
		if ((r = http_response_head(c)) == -1)
			return 1;
		p |= r;
		if (c->phase != P_HTTP)
			return 1;
	}
	if (c->resp_head_done) {
		if ((r = move_body(&c->respb, &c->uin, &c->cout)) == -1) {
			c->dead = 1;
			return 0;
		}
		p |= r;
		if (c->respb.mode == GW_BODY_EOF && c->u_eof && c->uin.len == 0)
			c->respb.done = 1;
		if (!c->respb.done && c->u_eof && c->uin.len == 0) {
			c->close_after = 1; /* truncated by the endpoint */
			c->respb.done = c->reqb.done = 1;
		}
	}
	if ((r = wr_client(c, &c->cout)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if (c->resp_head_done && c->respb.done && c->reqb.done) {
		c->g->served++;
		if (c->u_eof || c->uin.len > 0)
			up_close(c); /* closed, or sent more than it should */
		if (c->close_after) {
			up_close(c);
			set_phase(c, P_FLUSH);
		} else
			set_phase(c, P_HEAD);
		c->what[0] = '\0';
		return 1;
	}
	return p;
}

static int
step_head(struct gw_conn *c)
{
	struct gw_head h;
	int r, p = 0;
	char tmp[512];

	if ((r = rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if (c->ufd != -1) {
		/* an idle upstream that talks or closes is dropped */
		r = rd_up(c, &c->uin);
		if (r == -1 || c->u_eof || c->uin.len > 0)
			up_close(c);
	}
	if (c->cin.len > 0 && c->t_first == 0)
		c->t_first = ev_now(c->g->d->loop);
	if (c->cout.len > 0)
		return p | wr_client(c, &c->cout);
	r = gw_http_parse_request(c->cin.d + c->cin.off, c->cin.len, &h);
	switch (r) {
	case GW_HEAD_OK:
		http_request(c, &h);
		return 1;
	case GW_HEAD_MORE:
		if (c->c_eof) {
			if (c->cin.len > 0)
				conn_error(c, 400, "incomplete request head");
			else
				c->dead = 1;
			return 1;
		}
		return p;
	case GW_HEAD_TOOBIG:
		conn_error(c, 431, "request head larger than 16 KiB or 100 fields");
		return 1;
	case GW_HEAD_UNSUPP:
		conn_error(c, 501, "only chunked transfer coding is supported");
		return 1;
	default:
		snprintf(tmp, sizeof(tmp), "malformed request head");
		conn_error(c, 400, tmp);
		return 1;
	}
}

static int
step_raw(struct gw_conn *c)
{
	int p = 0, r;

	if ((r = rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if ((r = rd_up(c, &c->uin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	/* what HTTP left in the out buffers goes first */
	if ((r = wr_up(c, &c->uout)) == -1 || (c->uout.len == 0 && (r = wr_up(c, &c->cin)) == -1))
		return c->dead = 1, 0;
	p |= r;
	if ((r = wr_client(c, &c->cout)) == -1 ||
	    (c->cout.len == 0 && (r = wr_client(c, &c->uin)) == -1))
		return c->dead = 1, 0;
	p |= r;
	/* half-close travels on */
	if (c->c_eof && c->cin.len == 0 && c->uout.len == 0 && !c->u_shut) {
		shutdown(c->ufd, SHUT_WR);
		c->u_shut = 1;
		p = 1;
	}
	if (c->u_eof && c->uin.len == 0 && c->cout.len == 0 && !c->c_shut) {
		c_shutdown(c);
		p = 1;
	}
	if (c->u_shut && c->c_shut)
		c->dead = 1;
	return p;
}

static int
step_tls_hs(struct gw_conn *c)
{
	const char *sni;
	int r;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->t_io = ev_now(c->g->d->loop);
		if (c->mode == GW_M_TLS_HTTP) {
			set_phase(c, P_HEAD);
			return 1;
		}
		sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
		route_tcp(c, sni != NULL ? sni : "");
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->want_cr = 1;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_cw = 1;
		return 0;
	default:
		log_info("%s port %u: TLS handshake failed: %s", c->client, c->port,
			 ERR_reason_error_string(ERR_peek_error()) != NULL
			     ? ERR_reason_error_string(ERR_peek_error())
			     : "connection closed");
		ERR_clear_error();
		c->dead = 1;
		return 0;
	}
}

static int
step_sni(struct gw_conn *c)
{
	char name[256];
	int r;

	if ((r = rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	r = gw_sni_parse((const unsigned char *)c->cin.d + c->cin.off, c->cin.len, name,
			 sizeof(name));
	if (r == GW_SNI_OK) {
		route_tcp(c, name);
		return 1;
	}
	if (r == GW_SNI_BAD || c->c_eof || buf_room(&c->cin) == 0) {
		log_info("%s port %u: not a TLS ClientHello", c->client, c->port);
		c->dead = 1;
	}
	return 0;
}

static void
conn_run(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;
	int i, p = 1, r;

	c->want_cr = c->want_cw = c->want_ur = c->want_uw = 0;
	for (i = 0; i < 32 && p && !c->dead; i++) {
		switch (c->phase) {
		case P_TLS_HS:
			p = step_tls_hs(c);
			break;
		case P_SNI:
			p = step_sni(c);
			break;
		case P_HEAD:
			p = step_head(c);
			break;
		case P_CONNECT:
			p = 0;
			break;
		case P_HTTP:
			p = step_http(c);
			break;
		case P_RAW:
			p = step_raw(c);
			break;
		case P_FLUSH:
			if ((r = wr_client(c, &c->cout)) == -1) {
				c->dead = 1;
				break;
			}
			p = r;
			if (c->cout.len == 0) {
				c_shutdown(c);
				set_phase(c, P_LINGER);
				p = 1;
			}
			break;
		case P_LINGER:
			/* drain what the client still sends, so close() does not reset */
			c->cin.len = 0;
			if (rd_client(c, &c->cin) == -1 || c->c_eof)
				c->dead = 1;
			p = c->cin.len > 0;
			c->cin.len = 0;
			break;
		}
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	if (c->want_cr)
		ev_io_start(loop, &c->crw);
	else
		ev_io_stop(loop, &c->crw);
	if (c->want_cw)
		ev_io_start(loop, &c->cww);
	else
		ev_io_stop(loop, &c->cww);
	if (c->ufd != -1 && c->phase != P_CONNECT) {
		if (c->want_ur)
			ev_io_start(loop, &c->urw);
		else
			ev_io_stop(loop, &c->urw);
		if (c->want_uw)
			ev_io_start(loop, &c->uww);
		else
			ev_io_stop(loop, &c->uww);
	}
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_conn *c = w->data;

	if (c->phase == P_CONNECT && w == &c->uww) {
		up_connected(c);
		if (c->dead) {
			conn_free(c);
			return;
		}
	}
	conn_run(c);
}

static void
conn_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gw_conn *c = w->data;
	ev_tstamp now = ev_now(loop);

	switch (c->phase) {
	case P_TLS_HS:
	case P_SNI:
		if (now - c->t_phase > GW_HEAD_TIMEOUT)
			c->dead = 1;
		break;
	case P_HEAD:
		if (c->t_first != 0 && now - c->t_first > GW_HEAD_TIMEOUT)
			conn_error(c, 408, "request head not received in time");
		else if (c->t_first == 0 && now - c->t_phase > GW_IDLE_KA)
			c->dead = 1;
		break;
	case P_CONNECT:
		if (now - c->t_phase > GW_CONNECT_TIMEOUT) {
			log_warnx("%s %s: connect to %s:%u timed out", c->client, c->what,
				  c->picks[c->tried - 1].ip, c->picks[c->tried - 1].port);
			up_close(c);
			conn_start_upstream(c);
		}
		break;
	case P_HTTP:
	case P_RAW:
		if (now - c->t_io > GW_IDLE_TIMEOUT)
			c->dead = 1;
		break;
	case P_FLUSH:
		if (now - c->t_phase > 30)
			c->dead = 1;
		break;
	case P_LINGER:
		if (now - c->t_phase > GW_LINGER)
			c->dead = 1;
		break;
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	conn_run(c);
}

void
gw_conn_accept(struct gw *g, struct gw_listener *l, int fd, const char *client_ip)
{
	const struct em_gateway *gw = NULL;
	const struct em_gw_server *sv = NULL;
	struct gw_conn *c;

	gw_gateways_refresh(g);
	c = xcalloc(1, sizeof(*c));
	c->g = g;
	c->cfd = fd;
	c->ufd = c->tun_other = -1;
	c->port = l->port;
	snprintf(c->client, sizeof(c->client), "%s", client_ip);
	c->mode = gw_port_mode(g->gws, g->ngws, l->port, &gw, &sv);
	g->nconns++;
	ev_io_init(&c->crw, conn_io_cb, fd, EV_READ);
	ev_io_init(&c->cww, conn_io_cb, fd, EV_WRITE);
	c->crw.data = c->cww.data = c;
	ev_init(&c->urw, conn_io_cb);
	ev_init(&c->uww, conn_io_cb);
	ev_timer_init(&c->tick, conn_tick, 1.0, 1.0);
	c->tick.data = c;
	ev_timer_start(g->d->loop, &c->tick);
	c->t_io = ev_now(g->d->loop);
	switch (c->mode) {
	case GW_M_HTTP:
		set_phase(c, P_HEAD);
		break;
	case GW_M_TCP:
		route_tcp(c, NULL);
		break;
	case GW_M_TLS_PASS:
		set_phase(c, P_SNI);
		break;
	case GW_M_TLS_HTTP:
	case GW_M_TLS_TCP:
		if ((c->ssl = gw_tls_new(g, gw, sv, l->port, fd)) == NULL) {
			c->dead = 1;
			break;
		}
		set_phase(c, P_TLS_HS);
		break;
	default:
		log_info("%s port %u: no server of a known protocol on this port", client_ip,
			 l->port);
		c->dead = 1;
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	conn_run(c);
}
