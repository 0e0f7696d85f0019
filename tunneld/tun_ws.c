/*
 * The tunnel inside a WebSocket (modules.edgeTunnel.transport: ws), for
 * sites whose firewall passes only HTTP(S) ports, possibly only through an
 * HTTP proxy that allows CONNECT.
 *
 *   dialer (transport ws)                          listener (wsPort, e.g. 443)
 *   session --socketpair-- tun_ws --TCP [proxy]--> tun_ws --socketpair-- session
 *           plain bytes    [CONNECT ip:443]         GET /edgemesh/tunnel, Upgrade
 *                          GET, Upgrade: websocket   101, Sec-WebSocket-Accept
 *                          binary frames (masked)   binary frames (unmasked)
 *
 * The session runs over one end of a socketpair exactly as over TCP (the
 * Noise handshake and records do not change; tun_session_over(), as relay
 * circuits do); this file moves bytes between the other end and the
 * network connection, framing them (RFC 6455: client frames masked, server
 * frames not; PING answered, CLOSE answered and closed).  A frame's payload
 * is passed on as it arrives, so no frame size limit applies and nothing
 * waits for a whole frame but control frames (<= 125 bytes).
 *
 * Costs: two extra copies per byte and 2 fds per session, the price of
 * leaving tun_session.c unaware; 4 KiB buffers each way until the session
 * is up, then 64 KiB.  Bounds: as for TCP, upgrades not yet done
 * take one of TUN_PREAUTH_MAX slots here (oldest evicted), 3 s each, a 4 KiB
 * header; then the session takes a pre-auth slot of its own until its
 * handshake is done.  Read interest is off while the other side has not
 * taken the last read.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "byteorder.h"
#include "log.h"
#include "netaddr.h"
#include "tun_handover.h"
#include "tunneld.h"

#define WS_CHUNK      (64u << 10)		/* bytes read at once, either direction */
#define WS_SMALL      TUN_WS_HDR_MAX		/* the same until the session is up (pre-auth) */
#define WS_HDR_ROOM   14			/* the largest frame header, mask included */
#define WS_OCAP(c)    (WS_HDR_ROOM + (c) + 512) /* + control frames */
#define WS_ICAP(c)    ((c) + TUN_WS_HDR_MAX)
#define WS_CLOSE_WAIT 5.0 /* seconds to flush a CLOSE before giving up */

enum ws_state { WS_CONNECTING, WS_PROXY, WS_UPGRADE, WS_OPEN, WS_CLOSING };

struct tun_ws {
	struct tunneld *t;
	struct tun_session *s; /* the session it carries; NULL once gone */
	int fd;		       /* TCP: to the peer or the proxy / from the peer */
	int sfd;	       /* our end of the session's socketpair, or -1 */
	uint8_t state;	       /* enum ws_state */
	unsigned client : 1;
	unsigned in_frame : 1; /* a data frame's payload is coming */
	int slot;	       /* pending upgrade (listener side), or -1 */
	char addr[64];	       /* the other end, ip:port */
	char via[80];	       /* client: " through proxy HOST:PORT" or "" */
	char key[TUN_WS_KEY_LEN];
	ev_io nr, nw, sr, sw;
	ev_timer tmo;
	ev_tstamp created;
	struct tun_ws_frame cur; /* the data frame being passed on */
	uint64_t left, off;	 /* its payload bytes still to come, done */
	size_t chunk;		 /* WS_SMALL until the session is up, then WS_CHUNK */
	uint8_t *ib;		 /* network input, WS_ICAP(chunk) */
	size_t ilen;
	uint8_t *sb; /* unmasked payload for the session */
	size_t soff, slen;
	uint8_t *ob; /* frames (or HTTP) for the network */
	size_t ooff, olen;
	LIST_ENTRY(tun_ws) link;
};

struct tun_wsd {
	int port; /* wsPort in effect, 0: no listener */
	int lfd;  /* the listener, or -1 */
	ev_io lw;
	int dial;		 /* transport ws */
	struct tun_proxy *proxy; /* tun_proxy.c: wsProxy, HTTPS_PROXY, or NULL */
	struct tun_ws *pending[TUN_PREAUTH_MAX];
	LIST_HEAD(, tun_ws) all;
};

static void ws_net_read_cb(struct ev_loop *, ev_io *, int);
static void ws_net_write_cb(struct ev_loop *, ev_io *, int);
static void ws_sess_read_cb(struct ev_loop *, ev_io *, int);
static void ws_sess_write_cb(struct ev_loop *, ev_io *, int);
static void ws_timeout_cb(struct ev_loop *, ev_timer *, int);
static void ws_update(struct tun_ws *);

static struct ev_loop *
ws_loop(const struct tun_ws *w)
{
	return w->t->d->loop;
}

static struct tun_ws *
ws_new(struct tunneld *t, int fd, int client)
{
	struct tun_ws *w;

	w = xcalloc(1, sizeof(*w));
	w->t = t;
	w->fd = fd;
	w->sfd = -1;
	w->slot = -1;
	w->client = client ? 1 : 0;
	w->created = ev_now(t->d->loop);
	w->chunk = WS_SMALL;
	w->ib = xcalloc(1, WS_ICAP(w->chunk));
	w->sb = xcalloc(1, w->chunk);
	w->ob = xcalloc(1, WS_OCAP(w->chunk));
	ev_io_init(&w->nr, ws_net_read_cb, fd, EV_READ);
	ev_io_init(&w->nw, ws_net_write_cb, fd, EV_WRITE);
	ev_timer_init(&w->tmo, ws_timeout_cb, TUN_HS_TIMEOUT, 0.);
	w->nr.data = w->nw.data = w->tmo.data = w;
	LIST_INSERT_HEAD(&t->wsd->all, w, link);
	return w;
}

static void
ws_free(struct tun_ws *w)
{
	struct ev_loop *loop = ws_loop(w);

	ev_io_stop(loop, &w->nr);
	ev_io_stop(loop, &w->nw);
	ev_timer_stop(loop, &w->tmo);
	if (w->sfd != -1) {
		ev_io_stop(loop, &w->sr);
		ev_io_stop(loop, &w->sw);
		close(w->sfd);
	}
	if (w->fd != -1)
		close(w->fd);
	if (w->slot != -1)
		w->t->wsd->pending[w->slot] = NULL;
	if (w->s != NULL)
		w->s->ws = NULL; /* it sees EOF on its socketpair end */
	LIST_REMOVE(w, link);
	free(w->ib);
	free(w->sb);
	free(w->ob);
	free(w);
}

/* The WebSocket failed: its session (if any) is closed with the reason, so
 * that `edgemeshctl peers` and the open's error name it. */
static void
ws_fail(struct tun_ws *w, const char *why)
{
	struct tun_session *s = w->s;

	log_debug("WebSocket %s%s: %s", w->addr, w->via, why);
	if (s != NULL) {
		w->s = NULL;
		s->ws = NULL;
		tun_session_close(s, why);
	}
	ws_free(w);
}

/* What the proxy or the peer sent is refused (why): logged, then ws_fail; -1. */
static int
ws_refused(struct tun_ws *w, const char *to, const char *why)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "ws: %s%s%s: %s", to, w->addr, w->via, why);
	log_warnx("%s", msg);
	ws_fail(w, msg);
	return -1;
}

/* Full-size buffers once the session is up: a connection that has not
 * authenticated holds about 13 KiB, not 200. */
static void
ws_grow(struct tun_ws *w)
{
	if (w->chunk == WS_CHUNK || w->s == NULL || w->s->state != SS_UP)
		return;
	w->chunk = WS_CHUNK;
	w->ib = xreallocarray(w->ib, 1, WS_ICAP(w->chunk));
	w->sb = xreallocarray(w->sb, 1, w->chunk);
	w->ob = xreallocarray(w->ob, 1, WS_OCAP(w->chunk));
}

/* Append bytes for the network (HTTP, or a control frame); -1 if no room. */
static int
ws_out(struct tun_ws *w, const void *p, size_t n)
{
	if (w->ooff == w->olen)
		w->ooff = w->olen = 0;
	if (w->olen + n > WS_OCAP(w->chunk))
		return -1;
	memcpy(w->ob + w->olen, p, n);
	w->olen += n;
	return 0;
}

/* A control frame (masked from the client side). */
static int
ws_control(struct tun_ws *w, uint8_t op, const uint8_t *pay, size_t n)
{
	uint8_t fr[WS_HDR_ROOM + 125], mask[4];
	size_t h;

	if (n > 125)
		n = 125;
	if (w->client)
		randombytes_buf(mask, sizeof(mask));
	h = tun_ws_frame_header(fr, op, n, w->client ? mask : NULL);
	memcpy(fr + h, pay, n);
	if (w->client)
		tun_ws_mask(fr + h, n, mask, 0);
	return ws_out(w, fr, h + n);
}

/* Flush ob to the network; -1 once w is freed. */
static int
ws_net_flush(struct tun_ws *w)
{
	ssize_t n;
	char why[160];

	while (w->ooff < w->olen) {
		n = write(w->fd, w->ob + w->ooff, w->olen - w->ooff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1) {
			snprintf(why, sizeof(why), "ws: write to %s%s: %s", w->addr, w->via,
				 strerror(errno));
			ws_fail(w, why);
			return -1;
		}
		w->ooff += (size_t)n;
	}
	w->ooff = w->olen = 0;
	if (w->state == WS_CLOSING) {
		ws_free(w);
		return -1;
	}
	return 0;
}

/* Flush sb to the session; -1 once w is freed. */
static int
ws_sess_flush(struct tun_ws *w)
{
	ssize_t n;

	while (w->soff < w->slen) {
		n = write(w->sfd, w->sb + w->soff, w->slen - w->soff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1) {
			ws_fail(w, "ws: the session's end is gone");
			return -1;
		}
		w->soff += (size_t)n;
	}
	w->soff = w->slen = 0;
	return 0;
}

/* Start closing: a CLOSE frame, flushed, then free (bounded by a timer). */
static void
ws_close(struct tun_ws *w, uint16_t code)
{
	uint8_t c[2];

	if (w->state == WS_CLOSING)
		return;
	if (w->s != NULL) {
		w->s->ws = NULL;
		w->s = NULL;
	}
	w->state = WS_CLOSING;
	be16_put(c, code);
	ws_control(w, TUN_WS_CLOSE, c, 2);
	ev_timer_stop(ws_loop(w), &w->tmo);
	ev_timer_set(&w->tmo, WS_CLOSE_WAIT, 0.);
	ev_timer_start(ws_loop(w), &w->tmo);
	if (ws_net_flush(w) == 0)
		ws_update(w);
}

/* Watchers from the buffers: read the network only while everything read
 * before went to the session, and the session only while the network took
 * everything; write interest while there is something to write. */
static void
ws_update(struct tun_ws *w)
{
	struct ev_loop *loop = ws_loop(w);
	int open = w->state == WS_OPEN;

	if (w->state == WS_CONNECTING) {
		ev_io_start(loop, &w->nw);
		return;
	}
	if (w->state != WS_CLOSING && w->soff == w->slen && w->ilen < WS_ICAP(w->chunk))
		ev_io_start(loop, &w->nr);
	else
		ev_io_stop(loop, &w->nr);
	if (w->ooff < w->olen)
		ev_io_start(loop, &w->nw);
	else
		ev_io_stop(loop, &w->nw);
	if (w->sfd == -1)
		return;
	if (open && w->ooff == w->olen)
		ev_io_start(loop, &w->sr);
	else
		ev_io_stop(loop, &w->sr);
	if (w->soff < w->slen)
		ev_io_start(loop, &w->sw);
	else
		ev_io_stop(loop, &w->sw);
}

/* Our end of the session's socketpair. */
static void
ws_bind(struct tun_ws *w, int sfd)
{
	w->sfd = sfd;
	ev_io_init(&w->sr, ws_sess_read_cb, sfd, EV_READ);
	ev_io_init(&w->sw, ws_sess_write_cb, sfd, EV_WRITE);
	w->sr.data = w->sw.data = w;
}

/* The session's socketpair: a session over its other end. */
static int
ws_attach(struct tun_ws *w, int initiator, struct tun_peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	ws_bind(w, sv[0]);
	w->s = tun_session_over(w->t, sv[1], initiator, p != NULL ? p->name : "", "ws");
	w->s->relayed = 0; /* a direct path, over WebSocket */
	w->s->ws = w;
	w->s->peer = p;
	snprintf(w->s->addr, sizeof(w->s->addr), "%s", w->addr);
	return 0;
}

/* Frames from the network: payload to sb, control frames answered. */
static int
ws_frames(struct tun_ws *w)
{
	struct tun_ws_frame f;
	size_t pos = 0, n;
	char why[160], msg[200];
	int r;

	while (pos < w->ilen && w->state == WS_OPEN) {
		if (w->in_frame) {
			n = w->ilen - pos;
			if (n > w->left)
				n = (size_t)w->left;
			if (n > w->chunk - w->slen)
				n = w->chunk - w->slen;
			if (n == 0)
				break;
			memcpy(w->sb + w->slen, w->ib + pos, n);
			if (w->cur.masked)
				tun_ws_mask(w->sb + w->slen, n, w->cur.mask, w->off);
			w->slen += n;
			pos += n;
			w->left -= n;
			w->off += n;
			if (w->left == 0)
				w->in_frame = 0;
			continue;
		}
		r = tun_ws_frame_parse(w->ib + pos, w->ilen - pos, !w->client, &f, why,
				       sizeof(why));
		if (r == -1)
			return ws_refused(w, "", why);
		if (r == 0)
			break;
		if (f.opcode == TUN_WS_BINARY || f.opcode == TUN_WS_CONT) {
			pos += f.hlen;
			w->cur = f;
			w->left = f.len;
			w->off = 0;
			w->in_frame = f.len > 0;
			continue;
		}
		if (w->ilen - pos < f.hlen + f.len)
			break; /* a whole control frame first */
		if (f.masked)
			tun_ws_mask(w->ib + pos + f.hlen, (size_t)f.len, f.mask, 0);
		if (f.opcode == TUN_WS_PING)
			ws_control(w, TUN_WS_PONG, w->ib + pos + f.hlen, (size_t)f.len);
		pos += f.hlen + (size_t)f.len;
		if (f.opcode == TUN_WS_CLOSE) {
			struct tun_session *s = w->s;

			/* the peer ends it: the session goes first, with a reason */
			if (s != NULL) {
				w->s = NULL;
				s->ws = NULL;
				snprintf(msg, sizeof(msg), "ws: %s%s closed the WebSocket", w->addr,
					 w->via);
				tun_session_close(s, msg);
			}
			w->ilen = 0;
			ws_close(w, 1000);
			return -1;
		}
	}
	buf_consume(w->ib, &w->ilen, pos);
	return 0;
}

/* Frames in ib to the session while it takes them; -1 once w is freed. */
static int
ws_pump_in(struct tun_ws *w)
{
	size_t before;

	do {
		before = w->ilen;
		if (ws_frames(w) == -1)
			return -1;
		if (w->soff < w->slen && ws_sess_flush(w) == -1)
			return -1;
	} while (w->state == WS_OPEN && w->soff == w->slen && w->ilen > 0 && w->ilen < before);
	return 0;
}

/* The handshake phases on the network side: proxy answer, upgrade. */
static int
ws_http(struct tun_ws *w)
{
	char why[200], key[64], out[256];
	size_t used = 0, n;
	int r;

	if (w->state == WS_PROXY) {
		r = tun_http_connect_response((const char *)w->ib, w->ilen, &used, why,
					      sizeof(why));
		if (r == 0)
			return 0;
		if (r == -1)
			return ws_refused(w, "to ", why);
		w->state = WS_UPGRADE;
		n = tun_ws_request(out, sizeof(out), w->addr, w->key);
		ws_out(w, out, n);
	} else if (w->client) {
		r = tun_ws_parse_response((const char *)w->ib, w->ilen, w->key, &used, why,
					  sizeof(why));
		if (r == 0)
			return 0;
		if (r == -1)
			return ws_refused(w, "", why);
		w->state = WS_OPEN;
		log_debug("WebSocket to %s%s open", w->addr, w->via);
		/* the handshake gets its own TUN_HS_TIMEOUT from here */
		ev_timer_stop(ws_loop(w), &w->tmo);
		if (w->s != NULL) {
			ev_timer_set(&w->s->tick, TUN_HS_TIMEOUT, 0.);
			ev_timer_start(ws_loop(w), &w->s->tick);
		}
	} else {
		r = tun_ws_parse_request((const char *)w->ib, w->ilen, &used, key, sizeof(key), why,
					 sizeof(why));
		if (r == 0)
			return 0;
		if (r == -1) {
			static const char bad[] =
			    "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
			    "Content-Length: 0\r\n\r\n";

			log_debug("WebSocket from %s refused: %s", w->addr, why);
			if (write(w->fd, bad, sizeof(bad) - 1) == -1) {
				/* best effort */
			}
			ws_free(w);
			return -1;
		}
		n = tun_ws_response(out, sizeof(out), key);
		ws_out(w, out, n);
		if (ws_attach(w, 0, NULL) == -1) {
			log_warn("WebSocket from %s: socketpair", w->addr);
			ws_free(w);
			return -1;
		}
		if (w->slot != -1)
			w->t->wsd->pending[w->slot] = NULL;
		w->slot = -1;
		ev_timer_stop(ws_loop(w), &w->tmo);
		w->state = WS_OPEN;
		log_debug("WebSocket from %s open", w->addr);
	}
	buf_consume(w->ib, &w->ilen, used);
	return 0;
}

static void
ws_net_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tun_ws *w = io->data;
	ssize_t n;
	char why[200];

	ws_grow(w);
	n = read(w->fd, w->ib + w->ilen, WS_ICAP(w->chunk) - w->ilen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (w->state == WS_OPEN && w->s == NULL && w->ooff == w->olen) {
			ws_free(w);
			return;
		}
		if (n == 0)
			snprintf(why, sizeof(why), "ws: %s%s closed the connection%s", w->addr,
				 w->via, w->state == WS_PROXY ? " (the proxy)" : "");
		else
			snprintf(why, sizeof(why), "ws: read from %s%s: %s", w->addr, w->via,
				 strerror(errno));
		if (!w->client && w->state == WS_UPGRADE) {
			log_debug("WebSocket from %s: %s", w->addr, why);
			ws_free(w);
			return;
		}
		ws_fail(w, why);
		return;
	}
	w->ilen += (size_t)n;
	if (w->state != WS_OPEN && ws_http(w) == -1)
		return;
	if (w->state == WS_OPEN && ws_pump_in(w) == -1)
		return;
	if (w->ooff < w->olen && ws_net_flush(w) == -1)
		return;
	ws_update(w);
}

static void
ws_net_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tun_ws *w = io->data;
	int err = 0;
	char why[200], out[TUN_WS_HDR_MAX], *host = w->addr;
	size_t n;

	if (w->state == WS_CONNECTING) {
		err = net_sock_error(w->fd);
		if (err != 0) {
			if (w->via[0])
				snprintf(why, sizeof(why), "ws: connect to proxy %s: %s",
					 tun_proxy_name(w->t->wsd->proxy), strerror(err));
			else
				snprintf(why, sizeof(why), "ws: connect to %s: %s", w->addr,
					 strerror(err));
			ws_fail(w, why);
			return;
		}
		ev_io_stop(loop, &w->nw);
		if (w->via[0]) {
			n = tun_http_connect_request(out, sizeof(out), host,
						     tun_proxy_auth(w->t->wsd->proxy));
			w->state = WS_PROXY;
		} else {
			n = tun_ws_request(out, sizeof(out), host, w->key);
			w->state = WS_UPGRADE;
		}
		ws_out(w, out, n);
	}
	if (ws_net_flush(w) == -1)
		return;
	ws_update(w);
}

/* Session bytes: one binary frame per read. */
static void
ws_sess_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tun_ws *w = io->data;
	uint8_t mask[4], hdr[WS_HDR_ROOM];
	size_t h;
	ssize_t n;

	if (w->ooff != w->olen)
		return;
	w->ooff = w->olen = 0;
	ws_grow(w);
	n = read(w->sfd, w->ob + WS_HDR_ROOM, w->chunk);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) { /* the session closed its end */
		ws_close(w, 1000);
		return;
	}
	if (w->client) {
		randombytes_buf(mask, sizeof(mask));
		tun_ws_mask(w->ob + WS_HDR_ROOM, (size_t)n, mask, 0);
	}
	h = tun_ws_frame_header(hdr, TUN_WS_BINARY, (uint64_t)n, w->client ? mask : NULL);
	memcpy(w->ob + WS_HDR_ROOM - h, hdr, h);
	w->ooff = WS_HDR_ROOM - h;
	w->olen = WS_HDR_ROOM + (size_t)n;
	if (ws_net_flush(w) == -1)
		return;
	ws_update(w);
}

static void
ws_sess_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tun_ws *w = io->data;

	if (ws_sess_flush(w) == -1)
		return;
	/* bytes that waited in ib for room */
	if (w->state == WS_OPEN && w->ilen > 0 && ws_pump_in(w) == -1)
		return;
	if (w->ooff < w->olen && ws_net_flush(w) == -1)
		return;
	ws_update(w);
}

static void
ws_timeout_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct tun_ws *w = tm->data;

	char why[200];

	if (w->state == WS_CLOSING || (w->state == WS_OPEN && w->s == NULL)) {
		ws_free(w); /* the far end does not take our last bytes */
		return;
	}
	if (w->client) {
		snprintf(why, sizeof(why), "ws: %s%s: no WebSocket within %.0fs (%s)", w->addr,
			 w->via, TUN_HS_TIMEOUT,
			 w->state == WS_CONNECTING ? "connecting"
			 : w->state == WS_PROXY	   ? "no answer from the proxy"
						   : "no answer to the upgrade");
		log_warnx("%s", why);
		ws_fail(w, why);
		return;
	}
	log_debug("WebSocket from %s: no upgrade within %.0fs", w->addr, TUN_HS_TIMEOUT);
	ws_free(w);
}

/* A pending-upgrade slot: a free one, else the oldest's (evicted). */
static int
ws_slot(struct tunneld *t)
{
	struct tun_wsd *wd = t->wsd;
	int i, slot = 0;

	for (i = 0; i < TUN_PREAUTH_MAX; i++) {
		if (wd->pending[i] == NULL)
			return i;
		if (wd->pending[i]->created < wd->pending[slot]->created)
			slot = i;
	}
	log_debug("WebSocket upgrades: table full, dropping %s", wd->pending[slot]->addr);
	ws_free(wd->pending[slot]);
	return slot;
}

static void
ws_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tunneld *t = io->data;
	struct sockaddr_storage ss;
	struct tun_ws *w;
	int fd, n, one = 1;

	for (n = 0; n < 16; n++) {
		if ((fd = net_accept(t->wsd->lfd, &ss)) == -1) {
			if (errno != EAGAIN)
				log_warn("WebSocket listener: accept");
			return;
		}
		if (!tun_ifaces_allowed(t, fd)) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		w = ws_new(t, fd, 0);
		net_addr_text(&ss, w->addr, sizeof(w->addr));
		w->slot = ws_slot(t);
		t->wsd->pending[w->slot] = w;
		w->state = WS_UPGRADE;
		ev_timer_start(loop, &w->tmo);
		ev_io_start(loop, &w->nr);
	}
}

int
tun_ws_dialing(const struct tunneld *t)
{
	return t->wsd != NULL && t->wsd->dial;
}

struct tun_session *
tun_ws_dial(struct tunneld *t, struct tun_peer *p, const char *ip)
{
	struct tun_wsd *wd = t->wsd;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const struct sockaddr_storage *to = &ss, *px;
	struct tun_ws *w;
	socklen_t sl, pl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)wd->port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)wd->port);
		sl = sizeof(*sin6);
	} else {
		snprintf(p->last_err, sizeof(p->last_err), "bad address %s", ip);
		return NULL;
	}
	if ((px = tun_proxy_route(wd->proxy, ip, &pl)) != NULL) {
		to = px;
		sl = pl;
	}
	if ((fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(p->last_err, sizeof(p->last_err), "socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)to, sl) == -1 && errno != EINPROGRESS) {
		snprintf(p->last_err, sizeof(p->last_err), "ws: connect to %s%s: %s",
			 to != &ss ? "proxy " : "", to != &ss ? tun_proxy_name(wd->proxy) : ip,
			 strerror(errno));
		close(fd);
		return NULL;
	}
	w = ws_new(t, fd, 1);
	net_addr_text(&ss, w->addr, sizeof(w->addr));
	if (to != &ss)
		snprintf(w->via, sizeof(w->via), " through proxy %s", tun_proxy_name(wd->proxy));
	tun_ws_new_key(w->key);
	w->state = WS_CONNECTING;
	if (ws_attach(w, 1, p) == -1) {
		snprintf(p->last_err, sizeof(p->last_err), "socketpair: %s", strerror(errno));
		ws_free(w);
		return NULL;
	}
	/* our own timer until the WebSocket is open, then the session's */
	ev_timer_stop(t->d->loop, &w->s->tick);
	ev_timer_start(t->d->loop, &w->tmo);
	ws_update(w);
	log_debug("dialing %s at %s over WebSocket%s", p->name, w->addr, w->via);
	return w->s;
}

/* The session closes: a WebSocket still setting up goes at once; an open
 * one sends CLOSE once it reads the EOF on its socketpair end. */
void
tun_ws_session_gone(struct tun_session *s)
{
	struct tun_ws *w = s->ws;

	s->ws = NULL;
	if (w == NULL)
		return;
	w->s = NULL;
	if (w->state != WS_OPEN && w->state != WS_CLOSING) {
		ws_free(w);
		return;
	}
	/* the EOF on our end sends CLOSE; bounded in case the far end reads nothing */
	if (w->state == WS_OPEN) {
		ev_timer_stop(ws_loop(w), &w->tmo);
		ev_timer_set(&w->tmo, WS_CLOSE_WAIT, 0.);
		ev_timer_start(ws_loop(w), &w->tmo);
	}
}

int
tun_ws_setup(struct tunneld *t, char *err, size_t errlen)
{
	struct tun_wsd *wd;
	const struct em_config *c = &t->d->cfg;
	int r;

	wd = t->wsd = xcalloc(1, sizeof(*wd));
	wd->lfd = -1;
	LIST_INIT(&wd->all);
	wd->dial = strcmp(c->tunnel.transport, "ws") == 0;
	wd->port = c->tunnel.ws_port != 0 ? c->tunnel.ws_port : wd->dial ? 443 : 0;
	if (wd->port != 0 && wd->port == c->tunnel.listen_port) {
		snprintf(err, errlen,
			 "modules.edgeTunnel.wsPort %d is listenPort too: give the WebSocket "
			 "listener its own port (443 by default with transport ws)",
			 wd->port);
		return -1;
	}
	if (wd->dial && tun_proxy_setup(&wd->proxy, c->tunnel.ws_proxy, err, errlen) == -1)
		return -1;
	if (wd->port == 0)
		return 0;
	/* a reload's exec: the listener comes with the hand-over (wsPort may be < 1024) */
	if ((wd->lfd = tun_handover_ws_fd(t, wd->port)) != -1)
		return 0;
	r = net_listen_tcp(wd->port, &wd->lfd, err, errlen);
	if (r == -1) {
		char e[200];

		snprintf(e, sizeof(e), "%s", err);
		snprintf(err, errlen, "modules.edgeTunnel.wsPort %d: %s", wd->port, e);
	}
	return r;
}

int
tun_ws_listen_fd(const struct tunneld *t)
{
	return t->wsd != NULL ? t->wsd->lfd : -1;
}

void
tun_ws_start(struct tunneld *t)
{
	struct tun_wsd *wd = t->wsd;

	if (wd->dial)
		log_info("transport ws: peers are dialed over WebSocket on port %d%s%s", wd->port,
			 wd->proxy != NULL ? " through the HTTP proxy " : "",
			 wd->proxy != NULL ? tun_proxy_name(wd->proxy) : "");
	if (wd->lfd == -1)
		return;
	log_info("WebSocket tunnel listener on port %d", wd->port);
	ev_io_init(&wd->lw, ws_accept_cb, wd->lfd, EV_READ);
	wd->lw.data = t;
	ev_io_start(t->d->loop, &wd->lw);
}

/*
 * Hand-over (tun_handover.c): an up session's WebSocket goes with it.  The
 * socketpair between the two is carried whole (both ends, the bytes in it
 * stay in the kernel), so the successor only needs this side's state: the
 * TCP socket, the frame being passed on (its mask and offset: a payload
 * can span the hand-over), and the three buffers (network bytes not yet
 * parsed, payload the session has not taken, frames not yet written).
 */
int
tun_ws_carried(const struct tun_session *s)
{
	return s->ws != NULL && s->ws->state == WS_OPEN && s->ws->s == s && s->ws->sfd != -1;
}

void
tun_ws_save(const struct tun_session *s, struct ho_buf *b)
{
	const struct tun_ws *w = s->ws;

	ho_put_u8(b, (uint8_t)((w->client ? 1 : 0) | (w->in_frame ? 2 : 0)));
	ho_put_fd(b, w->fd);
	ho_put_fd(b, w->sfd);
	ho_put_str(b, w->addr);
	ho_put_str(b, w->via);
	ho_put_u8(b, w->cur.fin);
	ho_put_u8(b, w->cur.opcode);
	ho_put_u8(b, w->cur.masked);
	ho_put_bytes(b, w->cur.mask, sizeof(w->cur.mask));
	ho_put_u64(b, w->cur.len);
	ho_put_u64(b, w->left);
	ho_put_u64(b, w->off);
	ho_put_bytes(b, w->ib, w->ilen);
	ho_put_bytes(b, w->sb + w->soff, w->slen - w->soff);
	ho_put_bytes(b, w->ob + w->ooff, w->olen - w->ooff);
}

/* a buffer's n carried bytes (none: src may be NULL) into dst, *len = n */
static void
ws_restore_buf(uint8_t *dst, size_t *len, const uint8_t *src, size_t n)
{
	if (n > 0)
		memcpy(dst, src, n);
	*len = n;
}

int
tun_ws_adopt(struct tunneld *t, struct tun_session *s, struct ho_rd *f, struct ho_in *in)
{
	const uint8_t *mask, *ib, *sb, *ob;
	size_t ml, il, sl, ol;
	struct tun_ws *w;
	uint8_t fl;
	int fd, sfd;

	fl = ho_get_u8(f);
	fd = ho_take_fd(in, ho_get_u32(f));
	sfd = ho_take_fd(in, ho_get_u32(f));
	if (fd == -1 || sfd == -1) {
		if (fd != -1)
			close(fd);
		if (sfd != -1)
			close(sfd);
		if (f->err == NULL)
			f->err = "a WebSocket without its sockets";
		return -1;
	}
	w = ws_new(t, fd, fl & 1);
	ws_bind(w, sfd);
	w->in_frame = (fl & 2) != 0;
	ho_get_str(f, w->addr, sizeof(w->addr));
	ho_get_str(f, w->via, sizeof(w->via));
	w->cur.fin = ho_get_u8(f);
	w->cur.opcode = ho_get_u8(f);
	w->cur.masked = ho_get_u8(f);
	mask = ho_get_bytes(f, &ml);
	w->cur.len = ho_get_u64(f);
	w->left = ho_get_u64(f);
	w->off = ho_get_u64(f);
	ib = ho_get_bytes(f, &il);
	sb = ho_get_bytes(f, &sl);
	ob = ho_get_bytes(f, &ol);
	w->chunk = WS_CHUNK;
	w->ib = xreallocarray(w->ib, 1, WS_ICAP(w->chunk));
	w->sb = xreallocarray(w->sb, 1, w->chunk);
	w->ob = xreallocarray(w->ob, 1, WS_OCAP(w->chunk));
	if (f->err == NULL && (ml != sizeof(w->cur.mask) || il > WS_ICAP(w->chunk) ||
			       sl > w->chunk || ol > WS_OCAP(w->chunk)))
		f->err = "a WebSocket's buffers are over this build's bounds";
	if (f->err != NULL) {
		ws_free(w);
		return -1;
	}
	memcpy(w->cur.mask, mask, ml);
	ws_restore_buf(w->ib, &w->ilen, ib, il);
	ws_restore_buf(w->sb, &w->slen, sb, sl);
	ws_restore_buf(w->ob, &w->olen, ob, ol);
	w->state = WS_OPEN;
	w->s = s;
	s->ws = w;
	s->relayed = 0;
	ws_update(w);
	/* frames already in ib: passed on at the first loop turn (the
	 * session's buffers are being restored right now) */
	if (w->ilen > 0 || w->slen > 0)
		ev_feed_event(ws_loop(w), &w->sw, EV_WRITE);
	return 0;
}

/* The hand-over is done: every WebSocket let go without a CLOSE (the
 * successor holds the carried ones' sockets; the others end with us). */
void
tun_ws_let_go(struct tunneld *t)
{
	struct tun_ws *w;

	if (t->wsd == NULL)
		return;
	if (t->wsd->lfd != -1)
		ev_io_stop(t->d->loop, &t->wsd->lw);
	while ((w = LIST_FIRST(&t->wsd->all)) != NULL) {
		if (w->s != NULL)
			w->s->ws = NULL;
		w->s = NULL;
		ws_free(w);
	}
}
