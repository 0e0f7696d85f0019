/*
 * The yamux streams of an EdgeMesh agent's connection (p2p_conn.c): each
 * stream is multistream-selected; /libp2p/tunnel-proxy/1.0.0 carries one
 * Proxy CONNECT, checked against the same far-end allowlist as our own
 * OPENs (tun_target_kind), dialled, answered SUCCESS (the request echoed,
 * as EdgeMesh does) or FAILED, then spliced; /libp2p/tunnel-discovery/1.0.0
 * is answered with our node name; anything else (identify, DHT, relay)
 * gets "na".  Flow control: yamux windows (256 KiB), the target's socket
 * read only while the agent's window is open and less than 1 MiB waits
 * towards the agent; a window update only for bytes the target took.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "model.h"
#include "netaddr.h"
#include "p2p_conn.h"

#define P2P_DIAL_TIMEOUT 10.0
#define P2P_UDP_IDLE	 60.0
#define P2P_READ_CHUNK	 16384
#define P2P_OQ_PAUSE	 (1u << 20) /* stop reading targets while this much waits */

static void stream_rw_cb(struct ev_loop *, ev_io *, int);
static void stream_reset_why(struct p2p_stream *, const char *why);
static void stream_data_spliced(struct p2p_stream *, const uint8_t *, size_t);
static void stream_ww_cb(struct ev_loop *, ev_io *, int);
static void stream_tmo_cb(struct ev_loop *, ev_timer *, int);

static struct p2p_stream *
stream_find(struct p2p_conn *c, uint32_t id)
{
	struct p2p_stream *st;

	LIST_FOREACH(st, &c->streams, link)
	if (st->id == id)
		return st;
	return NULL;
}

static struct p2p_stream *
stream_new(struct p2p_conn *c, uint32_t id)
{
	struct p2p_stream *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->c = c;
	st->id = id;
	st->fd = -1;
	st->stage = P2P_S_MSS;
	ev_init(&st->rw, stream_rw_cb);
	ev_init(&st->ww, stream_ww_cb);
	ev_timer_init(&st->tmo, stream_tmo_cb, P2P_DIAL_TIMEOUT, 0);
	st->rw.data = st->ww.data = st->tmo.data = st;
	LIST_INSERT_HEAD(&c->streams, st, link);
	return st;
}

/* our open's answer to its tunnel.sock client, once */
static void
open_result(struct p2p_stream *st, int ok, const char *why)
{
	if (!st->ours || st->serial == 0)
		return;
	if (!ok)
		log_warnx("open for %s %s:%d on %s through its EdgeMesh agent failed: %s",
			  st->udp ? "udp" : "tcp", st->req.ip, (int)st->req.port, st->c->node, why);
	tun_handoff_result(st->c->t, st->serial, st->open_id, ok, why);
	st->serial = 0;
}

void
p2p_stream_free(struct p2p_stream *st)
{
	struct ev_loop *loop = st->c->t->d->loop;
	struct p2p_yamux_stream *ys = p2p_yamux_find(&st->c->ym, st->id);

	open_result(st, 0,
		    st->c->dead ? "the EdgeMesh agent's connection closed"
				: "stream reset by the EdgeMesh agent");
	if (ys != NULL)
		ys->state = P2P_YS_FREE; /* late frames for it are dropped */
	ev_io_stop(loop, &st->rw);
	ev_io_stop(loop, &st->ww);
	ev_timer_stop(loop, &st->tmo);
	if (st->fd != -1)
		close(st->fd);
	free(st->ob);
	LIST_REMOVE(st, link);
	free(st);
}

static void
stream_reset(struct p2p_stream *st)
{
	struct p2p_yamux_hdr h;
	struct p2p_conn *c = st->c;

	p2p_yamux_reset(&c->ym, st->id, &h);
	p2p_conn_yamux(c, &h, NULL, 0);
	p2p_stream_free(st);
}

static void
stream_reset_why(struct p2p_stream *st, const char *why)
{
	open_result(st, 0, why);
	stream_reset(st);
}

/* a few bytes of our own on the stream (multistream, a Proxy message) */
static void
stream_send(struct p2p_stream *st, const uint8_t *p, size_t n, int fin)
{
	struct p2p_yamux_hdr h;
	uint32_t k = (uint32_t)n;

	if (p2p_yamux_send(&st->c->ym, st->id, &k, fin, &h) == 1)
		p2p_conn_yamux(st->c, &h, p, k);
	if (fin)
		st->lfin = 1;
}

static void
stream_mss(struct p2p_stream *st, const char *line)
{
	uint8_t b[P2P_MSS_MAX + 16];

	stream_send(st, b, p2p_mss_encode(b, sizeof(b), line), 0);
}

static void
stream_maybe_done(struct p2p_stream *st)
{
	if (st->lfin && st->rfin && st->oblen == 0)
		p2p_stream_free(st);
}

static void
proxy_reply(struct p2p_stream *st, int type)
{
	struct p2p_pb_msg m = st->req;
	uint8_t b[P2P_PB_MAX + 16];

	if (type == P2P_PB_FAILED) {
		memset(&m, 0, sizeof(m)); /* EdgeMesh sends the type alone */
		m.has = P2P_PB_HAS_TYPE;
	}
	m.type = type;
	stream_send(st, b, p2p_pb_encode(b, sizeof(b), &m), type == P2P_PB_FAILED);
}

static void
proxy_fail(struct p2p_stream *st, const char *why)
{
	log_warnx("EdgeMesh agent %s: CONNECT %s %s:%d refused: %s", p2p_conn_who(st->c),
		  st->req.protocol, st->req.ip, (int)st->req.port, why);
	proxy_reply(st, P2P_PB_FAILED);
	st->stage = P2P_S_DONE;
	stream_maybe_done(st);
}

/* the target took n bytes of ob or of a DATA frame: window credit for those
 * that came from the agent (not our SOCKS reply) */
static void
credit(struct p2p_stream *st, uint32_t n)
{
	struct p2p_yamux_hdr h;
	uint32_t k = n < st->nocredit ? n : st->nocredit;

	st->nocredit -= k;
	if (n - k > 0 && p2p_yamux_consumed(&st->c->ym, st->id, n - k, &h) == 1)
		p2p_conn_yamux(st->c, &h, NULL, 0);
}

/* agent -> target bytes; a window update for what the target took */
static void
to_target(struct p2p_stream *st, const uint8_t *p, size_t n)
{
	struct p2p_yamux_hdr h;
	ssize_t w = 0;
	size_t cap;
	uint8_t *nb;

	if (st->udp) {
		if (send(st->fd, p, n, 0) == -1)
			log_debug("EdgeMesh agent %s: udp to %s:%d: %s", p2p_conn_who(st->c),
				  st->req.ip, (int)st->req.port, strerror(errno));
		if (p2p_yamux_consumed(&st->c->ym, st->id, (uint32_t)n, &h) == 1)
			p2p_conn_yamux(st->c, &h, NULL, 0);
		ev_timer_again(st->c->t->d->loop, &st->tmo);
		return;
	}
	if (st->oblen == 0 && st->stage == P2P_S_SPLICE) {
		w = write(st->fd, p, n);
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("EdgeMesh agent %s: write to %s:%d: %s", p2p_conn_who(st->c),
				  st->req.ip, (int)st->req.port, strerror(errno));
			stream_reset(st);
			return;
		}
		if (w < 0)
			w = 0;
		if (w > 0)
			credit(st, (uint32_t)w);
	}
	if ((size_t)w == n)
		return;
	if (st->oblen + n - (size_t)w > st->obcap) {
		for (cap = st->obcap ? st->obcap : 16384; cap < st->oblen + n - (size_t)w; cap *= 2)
			;
		if ((nb = realloc(st->ob, cap)) == NULL) {
			stream_reset(st);
			return;
		}
		st->ob = nb;
		st->obcap = cap;
	}
	memcpy(st->ob + st->oblen, p + w, n - (size_t)w);
	st->oblen += n - (size_t)w;
	if (st->stage == P2P_S_SPLICE)
		ev_io_start(st->c->t->d->loop, &st->ww);
}

static void
splice_start(struct p2p_stream *st)
{
	struct ev_loop *loop = st->c->t->d->loop;

	ev_timer_stop(loop, &st->tmo);
	if (!st->ours)
		proxy_reply(st, P2P_PB_SUCCESS);
	st->stage = P2P_S_SPLICE;
	log_debug("EdgeMesh agent %s: stream %u to %s %s:%d", p2p_conn_who(st->c), st->id,
		  st->req.protocol, st->req.ip, (int)st->req.port);
	ev_io_set(&st->rw, st->fd, EV_READ);
	ev_io_set(&st->ww, st->fd, EV_WRITE);
	ev_io_start(loop, &st->rw);
	if (st->udp) {
		st->tmo.repeat = P2P_UDP_IDLE;
		ev_timer_again(loop, &st->tmo);
	}
	if (st->oblen > 0)
		ev_io_start(loop, &st->ww);
}

static void
proxy_dial(struct p2p_stream *st)
{
	struct tunneld *t = st->c->t;
	struct tun_open_req r;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	char why[240];
	int one = 1;

	if (!(st->req.has & P2P_PB_HAS_TYPE) || st->req.type != P2P_PB_CONNECT) {
		proxy_fail(st, "the first Proxy message is not a CONNECT");
		return;
	}
	if (strcmp(st->req.protocol, "tcp") == 0)
		r.proto = EM_PROTO_TCP;
	else if (strcmp(st->req.protocol, "udp") == 0)
		r.proto = EM_PROTO_UDP;
	else {
		snprintf(why, sizeof(why), "protocol \"%.15s\" (tcp or udp)", st->req.protocol);
		proxy_fail(st, why);
		return;
	}
	st->udp = r.proto == EM_PROTO_UDP;
	if (st->req.port < 1 || st->req.port > 65535) {
		proxy_fail(st, "port out of range");
		return;
	}
	r.port = (uint16_t)st->req.port;
	snprintf(r.ip, sizeof(r.ip), "%s", st->req.ip);
	r.client[0] = '\0';
	if (tun_target_kind(t, t->d->cfg.node_name, &r, why, sizeof(why)) == TUN_TGT_NONE) {
		proxy_fail(st, why);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, r.ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(r.port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, r.ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(r.port);
		sl = sizeof(*sin6);
	} else {
		proxy_fail(st, "not an IP address");
		return;
	}
	st->fd = socket(ss.ss_family,
			(st->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (st->fd == -1) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		proxy_fail(st, why);
		return;
	}
	if (!st->udp)
		setsockopt(st->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(st->fd, (struct sockaddr *)&ss, sl) == -1 && errno != EINPROGRESS) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		proxy_fail(st, why);
		return;
	}
	if (st->udp) {
		splice_start(st);
		return;
	}
	st->stage = P2P_S_DIAL;
	ev_io_set(&st->ww, st->fd, EV_WRITE);
	ev_io_start(t->d->loop, &st->ww);
	ev_timer_start(t->d->loop, &st->tmo);
}

static void
discovery_answer(struct p2p_stream *st, const struct p2p_pb_msg *m)
{
	struct p2p_pb_msg a = *m;
	uint8_t b[P2P_PB_MAX + 16];

	log_info("EdgeMesh agent %s says it is node %s (discovery, %s)", p2p_conn_who(st->c),
		 m->node_name, m->protocol);
	a.type = P2P_PB_SUCCESS;
	a.has |= P2P_PB_HAS_TYPE | P2P_PB_HAS_NODE;
	snprintf(a.node_name, sizeof(a.node_name), "%s", st->c->t->d->cfg.node_name);
	stream_send(st, b, p2p_pb_encode(b, sizeof(b), &a), 1);
	st->stage = P2P_S_DONE;
}

/* our stream's bytes before the splice: multistream's two answers, then
 * SUCCESS (the client hears ok, its bytes flow) or FAILED */
static void
open_negotiate(struct p2p_stream *st)
{
	char line[P2P_MSS_MAX + 1], why[200];
	uint8_t b[P2P_PB_MAX + 16];
	struct p2p_pb_msg m;
	size_t off = 0, used;
	int r = 0;

	while (st->stage == P2P_S_OPEN_MSS &&
	       (r = p2p_mss_next(st->neg, st->neglen, &off, line, sizeof(line), why,
				 sizeof(why))) == 1) {
		if (!st->mss_hdr) {
			if (strcmp(line, P2P_MSS_PROTO) != 0) {
				snprintf(why, sizeof(why), "multistream: got \"%.60s\" for %s",
					 line, P2P_MSS_PROTO);
				stream_reset_why(st, why);
				return;
			}
			st->mss_hdr = 1;
			continue;
		}
		if (strcmp(line, P2P_PROXY_PROTO) != 0) {
			snprintf(why, sizeof(why),
				 "the agent does not speak %s (answered \"%.60s\")",
				 P2P_PROXY_PROTO, line);
			stream_reset_why(st, why);
			return;
		}
		/* the request: node_name is the agent's own, as EdgeMesh sends it */
		memset(&m, 0, sizeof(m));
		m.has = P2P_PB_HAS_TYPE | P2P_PB_HAS_PROTOCOL | P2P_PB_HAS_NODE | P2P_PB_HAS_IP |
			P2P_PB_HAS_PORT;
		m.type = P2P_PB_CONNECT;
		snprintf(m.protocol, sizeof(m.protocol), "%s", st->udp ? "udp" : "tcp");
		snprintf(m.node_name, sizeof(m.node_name), "%s", st->c->node);
		snprintf(m.ip, sizeof(m.ip), "%s", st->req.ip);
		m.port = st->req.port;
		stream_send(st, b, p2p_pb_encode(b, sizeof(b), &m), 0);
		st->stage = P2P_S_OPEN_PROXY;
	}
	if (r == -1) {
		stream_reset_why(st, why);
		return;
	}
	if (st->stage == P2P_S_OPEN_PROXY) {
		r = p2p_pb_parse(st->neg + off, st->neglen - off, &m, &used, why, sizeof(why));
		if (r == -1) {
			stream_reset_why(st, why);
			return;
		}
		if (r == 1) {
			off += used;
			if (!(m.has & P2P_PB_HAS_TYPE) || m.type != P2P_PB_SUCCESS) {
				stream_reset_why(st, "the agent answered FAILED (it could not "
						     "connect to the endpoint)");
				return;
			}
			open_result(st, 1, "");
			splice_start(st);
			if (st->neglen > off) /* the target's first bytes came with SUCCESS */
				stream_data_spliced(st, st->neg + off, st->neglen - off);
			st->neglen = 0;
			return;
		}
	}
	buf_consume(st->neg, &st->neglen, off);
}

/* a stream's bytes before the splice: multistream, then one message */
static void
stream_negotiate(struct p2p_stream *st)
{
	char line[P2P_MSS_MAX + 1], why[160];
	struct p2p_pb_msg m;
	size_t off = 0, used;
	int r = 0;

	while (st->stage == P2P_S_MSS && (r = p2p_mss_next(st->neg, st->neglen, &off, line,
							   sizeof(line), why, sizeof(why))) == 1) {
		if (!st->mss_hdr) {
			if (strcmp(line, P2P_MSS_PROTO) != 0) {
				log_warnx("EdgeMesh agent %s: stream %u: expected %s, got "
					  "\"%.60s\"",
					  p2p_conn_who(st->c), st->id, P2P_MSS_PROTO, line);
				stream_reset(st);
				return;
			}
			st->mss_hdr = 1;
			stream_mss(st, P2P_MSS_PROTO);
		} else if (strcmp(line, P2P_PROXY_PROTO) == 0) {
			stream_mss(st, line);
			st->stage = P2P_S_PROXY;
		} else if (strcmp(line, P2P_DISCOVERY_PROTO) == 0) {
			stream_mss(st, line);
			st->stage = P2P_S_DISC;
		} else {
			log_debug("EdgeMesh agent %s: stream %u proposes %s: na",
				  p2p_conn_who(st->c), st->id, line);
			stream_mss(st, P2P_MSS_NA);
		}
	}
	if (r == -1) {
		log_warnx("EdgeMesh agent %s: stream %u: %s", p2p_conn_who(st->c), st->id, why);
		stream_reset(st);
		return;
	}
	if (st->stage == P2P_S_PROXY || st->stage == P2P_S_DISC) {
		r = p2p_pb_parse(st->neg + off, st->neglen - off, &m, &used, why, sizeof(why));
		if (r == -1) {
			log_warnx("EdgeMesh agent %s: stream %u: %s message: %s",
				  p2p_conn_who(st->c), st->id,
				  st->stage == P2P_S_PROXY ? "Proxy" : "Discovery", why);
			stream_reset(st);
			return;
		}
		if (r == 1) {
			off += used;
			if (st->stage == P2P_S_DISC) {
				discovery_answer(st, &m);
				off = st->neglen; /* nothing more is read there */
			} else {
				st->req = m;
				/* bytes behind the CONNECT (EdgeMesh sends none): for the target */
				if (st->neglen > off)
					to_target(st, st->neg + off, st->neglen - off);
				off = st->neglen;
				proxy_dial(st);
				return;
			}
		}
	}
	buf_consume(st->neg, &st->neglen, off);
}

static void
stream_data(struct p2p_stream *st, const uint8_t *p, size_t n)
{
	struct p2p_yamux_hdr h;

	switch (st->stage) {
	case P2P_S_SPLICE:
	case P2P_S_DIAL:
		to_target(st, p, n);
		return;
	case P2P_S_DONE:
		if (p2p_yamux_consumed(&st->c->ym, st->id, (uint32_t)n, &h) == 1)
			p2p_conn_yamux(st->c, &h, NULL, 0);
		return;
	default:
		if (st->neglen + n > sizeof(st->neg)) {
			log_warnx("EdgeMesh agent %s: stream %u: over %zu bytes before the "
				  "proxy starts: reset",
				  p2p_conn_who(st->c), st->id, sizeof(st->neg));
			stream_reset(st);
			return;
		}
		memcpy(st->neg + st->neglen, p, n);
		st->neglen += n;
		if (p2p_yamux_consumed(&st->c->ym, st->id, (uint32_t)n, &h) == 1)
			p2p_conn_yamux(st->c, &h, NULL, 0);
		if (st->ours)
			open_negotiate(st);
		else
			stream_negotiate(st);
	}
}

/* bytes the agent's SUCCESS carried behind it (counted in the window as
 * part of the negotiation already) */
static void
stream_data_spliced(struct p2p_stream *st, const uint8_t *p, size_t n)
{
	st->nocredit += (uint32_t)n;
	to_target(st, p, n);
}

/* the agent will send no more on st */
static void
stream_fin(struct p2p_stream *st)
{
	st->rfin = 1;
	if (st->stage != P2P_S_SPLICE || st->udp) {
		if (!st->lfin)
			stream_send(st, NULL, 0, 1);
		p2p_stream_free(st);
		return;
	}
	if (st->oblen == 0 && !st->shut) {
		shutdown(st->fd, SHUT_WR);
		st->shut = 1;
	}
	stream_maybe_done(st);
}

static void
stream_resume(struct p2p_stream *st)
{
	if (st->stage == P2P_S_SPLICE && !st->lfin)
		ev_io_start(st->c->t->d->loop, &st->rw);
}

void
p2p_streams_resume(struct p2p_conn *c)
{
	struct p2p_stream *st;

	LIST_FOREACH(st, &c->streams, link)
	stream_resume(st);
}

int
p2p_yamux_input(struct p2p_conn *c, const uint8_t *buf, size_t len, size_t *off)
{
	struct p2p_yamux_hdr h;
	struct p2p_yamux_ev ev;
	struct p2p_stream *st;
	size_t o = 0, k;
	char why[200], msg[240];
	int r;

	while (!c->dead) {
		if (c->data_left > 0) {
			k = len - o < c->data_left ? len - o : c->data_left;
			if (k == 0)
				break;
			if ((st = stream_find(c, c->data_sid)) != NULL)
				stream_data(st, buf + o, k);
			o += k;
			c->data_left -= (uint32_t)k;
			if (c->data_left == 0 && c->data_fin &&
			    (st = stream_find(c, c->data_sid)) != NULL)
				stream_fin(st);
			continue;
		}
		if (len - o < P2P_YAMUX_HDR)
			break;
		if (p2p_yamux_parse(buf + o, len - o, &h, why, sizeof(why)) == -1) {
			p2p_conn_close(c, why);
			break;
		}
		o += P2P_YAMUX_HDR;
		r = p2p_yamux_rx(&c->ym, &h, &ev, why, sizeof(why));
		if (ev.send)
			p2p_conn_yamux(c, &ev.out, NULL, 0);
		if (r == -1) {
			p2p_conn_close(c, why);
			break;
		}
		if (h.type == P2P_YAMUX_DATA && h.length > 0) {
			c->data_left = h.length;
			c->data_sid = h.stream;
			c->data_fin = (h.flags & P2P_YAMUX_FIN) != 0;
		}
		st = stream_find(c, h.stream);
		switch (ev.kind) {
		case P2P_YEV_ACCEPT:
			if (st == NULL && stream_new(c, h.stream) == NULL) {
				p2p_conn_close(c, "out of memory");
				break;
			}
			if ((h.flags & P2P_YAMUX_FIN) && h.length == 0 &&
			    (st = stream_find(c, h.stream)) != NULL)
				stream_fin(st);
			break;
		case P2P_YEV_FIN:
			if (st != NULL)
				stream_fin(st);
			break;
		case P2P_YEV_RESET:
			if (st != NULL)
				p2p_stream_free(st);
			break;
		case P2P_YEV_GOAWAY:
			snprintf(msg, sizeof(msg), "the agent went away (yamux go away, code %u)",
				 ev.value);
			p2p_conn_close(c, msg);
			break;
		default:
			if (h.type == P2P_YAMUX_WINDOW_UPDATE && st != NULL)
				stream_resume(st);
			break;
		}
	}
	*off += o;
	return c->dead ? -1 : 0;
}

/* target -> agent, within the stream's window */
static void
stream_rw_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct p2p_stream *st = w->data;
	struct p2p_conn *c = st->c;
	struct p2p_yamux_stream *ys;
	struct p2p_yamux_hdr h;
	uint8_t buf[P2P_READ_CHUNK];
	uint32_t want, n32;
	ssize_t n;

	(void)revents;
	ys = p2p_yamux_find(&c->ym, st->id);
	if (ys == NULL || p2p_conn_queued(c) > P2P_OQ_PAUSE || ys->send_win == 0) {
		ev_io_stop(loop, &st->rw); /* resumed by a window update or a drained queue */
		if (ys == NULL)
			p2p_stream_free(st);
		return;
	}
	want = ys->send_win < sizeof(buf) ? ys->send_win : (uint32_t)sizeof(buf);
	n = st->udp ? recv(st->fd, buf, want, 0) : read(st->fd, buf, want);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0 && st->udp)
		return; /* ICMP errors: EdgeMesh's datagrams go on too */
	if (n < 0) {
		log_debug("EdgeMesh agent %s: read from %s:%d: %s", p2p_conn_who(c), st->req.ip,
			  (int)st->req.port, strerror(errno));
		stream_reset(st);
	} else if (n == 0 && !st->udp) {
		ev_io_stop(loop, &st->rw);
		stream_send(st, NULL, 0, 1);
		stream_maybe_done(st);
	} else {
		n32 = (uint32_t)n;
		if (p2p_yamux_send(&c->ym, st->id, &n32, 0, &h) == 1)
			p2p_conn_yamux(c, &h, buf, n32);
		if (st->udp)
			ev_timer_again(loop, &st->tmo);
	}
	p2p_conn_kick(c);
}

static void
stream_ww_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct p2p_stream *st = w->data;
	struct p2p_conn *c = st->c;
	int err = 0;
	ssize_t n;
	char why[120];

	(void)revents;
	if (st->stage == P2P_S_DIAL) {
		ev_io_stop(loop, &st->ww);
		err = net_sock_error(st->fd);
		if (err != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			proxy_fail(st, why);
		} else {
			splice_start(st);
		}
		p2p_conn_kick(c);
		return;
	}
	while (st->oblen > 0) {
		n = write(st->fd, st->ob, st->oblen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			stream_reset(st);
			p2p_conn_kick(c);
			return;
		}
		memmove(st->ob, st->ob + n, st->oblen - (size_t)n);
		st->oblen -= (size_t)n;
		credit(st, (uint32_t)n);
	}
	if (st->oblen == 0) {
		ev_io_stop(loop, &st->ww);
		if (st->rfin && !st->shut) {
			shutdown(st->fd, SHUT_WR);
			st->shut = 1;
		}
		stream_maybe_done(st);
	}
	p2p_conn_kick(c);
}

static void
stream_tmo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct p2p_stream *st = w->data;
	struct p2p_conn *c = st->c;

	(void)loop;
	(void)revents;
	if (st->stage == P2P_S_DIAL)
		proxy_fail(st, "connect timed out (10s)");
	else if (st->stage == P2P_S_QUEUED || st->stage == P2P_S_OPEN_MSS ||
		 st->stage == P2P_S_OPEN_PROXY)
		stream_reset_why(st, "no answer from the EdgeMesh agent in 10s");
	else /* an idle UDP flow */
		stream_reset(st);
	p2p_conn_kick(c);
}

/* our stream on an up connection: SYN, multistream header and the proxy
 * protocol at once; the CONNECT once they are answered */
static void
open_start(struct p2p_stream *st)
{
	struct p2p_conn *c = st->c;
	struct p2p_yamux_hdr h;
	uint8_t b[2 * P2P_MSS_MAX + 16];
	size_t n;
	uint32_t sid;

	if (p2p_yamux_open(&c->ym, &h, &sid) == -1) {
		open_result(st, 0, "no stream free on the EdgeMesh agent's connection");
		p2p_stream_free(st);
		return;
	}
	st->id = sid;
	st->stage = P2P_S_OPEN_MSS;
	p2p_conn_yamux(c, &h, NULL, 0); /* SYN */
	n = p2p_mss_encode(b, sizeof(b), P2P_MSS_PROTO);
	n += p2p_mss_encode(b + n, sizeof(b) - n, P2P_PROXY_PROTO);
	stream_send(st, b, n, 0);
	log_debug("open for %s %s:%d on %s through its EdgeMesh agent (stream %u)",
		  st->req.protocol, st->req.ip, (int)st->req.port, c->node, sid);
}

void
p2p_streams_up(struct p2p_conn *c)
{
	struct p2p_stream *st, *nx;

	for (st = LIST_FIRST(&c->streams); st != NULL; st = nx) {
		nx = LIST_NEXT(st, link);
		if (st->stage == P2P_S_QUEUED)
			open_start(st);
	}
}

int
p2p_open(struct tunneld *t, const char *node, int fd, const struct tun_open_req *r,
	 const uint8_t *reply, size_t reply_len, uint64_t serial, uint64_t id)
{
	struct p2p_conn *c;
	struct p2p_stream *st;

	if (!t->d->cfg.tunnel.edgemesh_agents)
		return 0;
	if ((c = p2p_conn_find_any(node)) == NULL &&
	    (!p2p_learned(node) || (c = p2p_dial(t, node)) == NULL))
		return 0;
	if ((st = stream_new(c, 0)) == NULL) {
		close(fd);
		tun_handoff_result(t, serial, id, 0, "out of memory");
		return 1;
	}
	st->ours = 1;
	st->serial = serial;
	st->open_id = id;
	st->fd = fd;
	st->udp = r->proto == EM_PROTO_UDP;
	st->stage = P2P_S_QUEUED;
	snprintf(st->req.ip, sizeof(st->req.ip), "%s", r->ip);
	st->req.port = r->port;
	snprintf(st->req.protocol, sizeof(st->req.protocol), "%s", st->udp ? "udp" : "tcp");
	if (reply_len > 0) { /* a SOCKS reply: to the client first, at the splice */
		to_target(st, reply, reply_len);
		st->nocredit += (uint32_t)reply_len;
	}
	ev_timer_start(t->d->loop, &st->tmo);
	if (c->up)
		open_start(st);
	p2p_conn_kick(c);
	return 1;
}
