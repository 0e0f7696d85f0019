/*
 * Streams multiplexed over a session.
 *
 * fd -> tunnel: a readable stream joins the session's ready queue; the
 * scheduler (tun_mux_pump, run before the loop blocks) takes streams
 * round-robin and reads each straight into the open record: at most
 * TUN_QUANTUM bytes a turn, or a whole record for a TCP stream alone on
 * the queue.  It stops while the session's output queue is above
 * TUN_OUT_HIGH.  A stream sends only what its window allows, so it needs
 * no buffer of its own on this side.  Its read watcher stays on while it
 * waits on the queue; it is off while the window is shut, after EOF, and
 * while the session's socket is full (s->blocked).
 *
 * tunnel -> fd: DATA is written to the fd at once (consecutive frames of a
 * stream with one writev); what the fd does not take waits in obuf (at
 * most the window: TUN_WINDOW, grown once to TUN_WINDOW_MAX while the fd
 * keeps up) and the peer gets WINDOW credit only for bytes the fd took.  A
 * slow reader thus holds up its own stream only.  UDP streams carry one
 * datagram per DATA frame and have no window: a datagram the socket does
 * not take is dropped.  They follow common/udpflow.h, as proxyd's flows
 * do: closed when idle (udpIdleTimeout, shorter to port 53), and at most
 * TUN_UDP_MAX per session, counted apart from the TCP streams' cap, the
 * least recently used evicted for a new one (UDP never starves TCP).
 *
 * Early data (peers whose hello offers TUN_CAP_EARLY): a local TCP stream
 * sends, right after its OPEN, what its client has already written (one
 * MSG_PEEK of at most TUN_EARLY_MAX bytes, or the first when the fd turns
 * readable while OPENING) as DATA; the bytes stay in the client's socket
 * until OPEN_OK, and are dropped from it (recv MSG_TRUNC) only then.  A
 * refused open thus leaves them for the opener's next endpoint.  The far
 * end keeps DATA that comes while it connects in obuf and writes it once
 * the connect completes (within the window, as any DATA).
 *
 * Half-close: EOF on the fd sends FIN; a FIN shuts down the fd's write side
 * once obuf is empty.  A stream is freed when both directions are done, on
 * RST either way, on any fd error, with its session, or idle (UDP).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "hmap.h"
#include "log.h"
#include "netaddr.h"
#include "tunneld.h"

static void st_read_cb(struct ev_loop *, ev_io *, int);
static void st_write_cb(struct ev_loop *, ev_io *, int);
static void st_tmo_cb(struct ev_loop *, ev_timer *, int);

static struct ev_loop *
st_loop(void)
{
	return tunneld_get()->d->loop;
}

static const char *
st_peer_name(const struct tun_stream *st)
{
	if (st->s != NULL)
		return st->s->name;
	if (st->peer != NULL)
		return st->peer->name;
	return "?";
}

struct tun_stream *
tun_stream_new(struct tun_session *s, struct tun_peer *p, int fd, uint8_t proto)
{
	struct tun_stream *st;

	st = xcalloc(1, sizeof(*st));
	*st = (struct tun_stream){.fd = fd,
				  .proto = proto,
				  .peer = p,
				  .send_win = TUN_WINDOW,
				  .recv_win = TUN_WINDOW,
				  .win = TUN_WINDOW};
	ev_io_init(&st->rw, st_read_cb, fd, EV_READ);
	ev_io_init(&st->ww, st_write_cb, fd, EV_WRITE);
	ev_timer_init(&st->tmo, st_tmo_cb, TUN_OPEN_TIMEOUT, 0.);
	st->rw.data = st->ww.data = st->tmo.data = st;
	st->last_active = ev_now(st_loop());
	tunneld_get()->nstreams++;
	(void)s;
	return st;
}

/* No room for another TCP or circuit stream: UDP streams have their own bound
 * (TUN_UDP_MAX, LRU eviction), so they never take this room. */
int
tun_session_full(const struct tun_session *s)
{
	return s->nstreams - s->udp.n >= TUN_STREAMS_MAX;
}

/* A UDP stream joins its session's list; at TUN_UDP_MAX the least recently used goes. */
static void
st_udp_attach(struct tun_stream *st, struct tun_session *s)
{
	struct tun_stream *old;
	struct udpflow *u;

	if (s->udp.max == 0)
		udpflow_lru_init(&s->udp, TUN_UDP_MAX);
	if ((u = udpflow_victim(&s->udp)) != NULL) {
		old = (struct tun_stream *)((char *)u - offsetof(struct tun_stream, uf));
		log_warnx_once("tunudpevict",
			       "%d UDP streams with %s: the least recently used ones are "
			       "evicted for new ones",
			       TUN_UDP_MAX, s->name);
		tun_stream_reset(old, "UDP stream evicted (least recently used)");
	}
	st->idle = udpflow_idle(tunneld_get()->d->cfg.proxy.udp_idle, st->req.port);
	udpflow_add(&s->udp, &st->uf, ev_now(st_loop()));
	st->in_udp = 1;
}

void
tun_stream_attach(struct tun_stream *st, struct tun_session *s, uint32_t sid)
{
	if (sid == 0) {
		sid = s->next_sid;
		s->next_sid += 2;
	}
	st->id = sid;
	st->s = s;
	if (st->proto == EM_PROTO_UDP)
		st_udp_attach(st, s);
	hmap_putb(s->streams, &st->id, sizeof(st->id), st);
	s->nstreams++;
}

struct tun_stream *
tun_stream_find(struct tun_session *s, uint32_t sid)
{
	return hmap_getb(s->streams, &sid, sizeof(sid));
}

static void
ht_remove(struct tun_stream *st)
{
	if (hmap_getb(st->s->streams, &st->id, sizeof(st->id)) == st) {
		hmap_delb(st->s->streams, &st->id, sizeof(st->id));
		st->s->nstreams--;
	}
}

/* The ids of a session's streams: freeing one may free another (a circuit's twin). */
static uint32_t *
ht_ids(struct tun_session *s, size_t *n)
{
	uint32_t *ids = xreallocarray(NULL, s->nstreams + 1, sizeof(*ids));
	struct hmap_iter it;
	const void *k;
	void *v;

	*n = 0;
	hmap_iter_init(&it);
	while (*n < s->nstreams && hmap_nextb(s->streams, &it, &k, NULL, &v))
		ids[(*n)++] = ((struct tun_stream *)v)->id;
	return ids;
}

void
tun_stream_free(struct tun_stream *st)
{
	struct ev_loop *loop = st_loop();
	struct tun_session *s = st->s;

	if (st->twin != NULL)
		tun_circuit_unlink(st, "the other half of the circuit is gone");
	if (st->circuit && st->state == ST_OPEN)
		log_debug("circuit stream %u with %s (far end %s) closed", st->id, st_peer_name(st),
			  st->circ_name);
	ev_io_stop(loop, &st->rw);
	ev_io_stop(loop, &st->ww);
	ev_timer_stop(loop, &st->tmo);
	if (s != NULL) {
		if (st->in_ready)
			TAILQ_REMOVE(&s->ready, st, rq);
		if (st->in_udp)
			udpflow_del(&s->udp, &st->uf);
		ht_remove(st);
	} else if (st->state == ST_PENDING && st->peer != NULL) {
		TAILQ_REMOVE(&st->peer->pending, st, pq);
		st->peer->npending--;
	}
	if (st->fd != -1)
		close(st->fd);
	free(st->obuf);
	tunneld_get()->nstreams--;
	free(st);
}

/* Tell the opener (local streams not yet open), the peer (RST), and free. */
void
tun_stream_reset(struct tun_stream *st, const char *why)
{
	struct tunneld *t = tunneld_get();

	if (st->local && st->state != ST_OPEN)
		tun_handoff_result(t, st->client_serial, st->open_id, 0, why);
	else if (st->s != NULL && st->s->state == SS_UP && st->id != 0)
		tun_session_frame(st->s, TUN_F_RST, st->id, why,
				  strlen(why) > 200 ? 200 : strlen(why));
	log_debug("stream %u with %s (%s:%u) reset: %s", st->id, st_peer_name(st), st->req.ip,
		  st->req.port, why);
	tun_stream_free(st);
}

static void
st_ready(struct tun_stream *st)
{
	if (st->in_ready || st->s == NULL)
		return;
	st->in_ready = 1;
	TAILQ_INSERT_TAIL(&st->s->ready, st, rq);
	tun_session_dirty(st->s);
}

/*
 * Read interest while the stream may send: open, no EOF yet, window left.
 * It stays on while the stream waits on the ready queue (no stop/start per
 * turn, each an epoll_ctl), except while its session's socket is full
 * (s->blocked): a readable fd nobody serves would only spin the loop.
 */
static void
st_watch(struct tun_stream *st)
{
	int want;

	want = (st->state == ST_OPEN && !st->rd_eof &&
		(st->proto != EM_PROTO_TCP || st->send_win > 0) &&
		!(st->in_ready && st->s != NULL && st->s->blocked)) ||
	       (st->state == ST_OPENING && st->early_wait);
	if (want && !ev_is_active(&st->rw))
		ev_io_start(st_loop(), &st->rw);
	else if (!want && ev_is_active(&st->rw))
		ev_io_stop(st_loop(), &st->rw);
}

/* The session's socket is full: park the read watchers of waiting streams. */
void
tun_mux_blocked(struct tun_session *s)
{
	struct tun_stream *st;

	TAILQ_FOREACH(st, &s->ready, rq)
	st_watch(st);
}

void
tun_stream_start(struct tun_stream *st)
{
	ev_timer_stop(st_loop(), &st->tmo);
	st->state = ST_OPEN;
	st->last_active = ev_now(st_loop());
	if (st->in_udp) {
		/* the open timer becomes the idle timer */
		udpflow_touch(&st->s->udp, &st->uf, st->last_active);
		ev_timer_set(&st->tmo, st->idle, 0.);
		ev_timer_start(st_loop(), &st->tmo);
	}
	st_watch(st);
}

/* A datagram went through a UDP stream. */
static void
st_udp_touch(struct tun_stream *st)
{
	if (st->in_udp)
		udpflow_touch(&st->s->udp, &st->uf, ev_now(st_loop()));
}

/* Opener: peek what the client wrote and send it as DATA before OPEN_OK.
 * Once: when nothing is there yet, the read watcher waits for it. */
static void
st_early_peek(struct tun_stream *st)
{
	struct tun_session *s = st->s;
	uint8_t *dst;
	size_t room, want = TUN_EARLY_MAX;
	ssize_t n;

	if (want > st->send_win)
		want = st->send_win;
	if ((dst = tun_session_data_reserve(s, 1024, &room)) == NULL)
		return; /* the session closed: streams freed */
	if (want > room)
		want = room;
	n = recv(st->fd, dst, want, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		st->early_wait = 1;
		st_watch(st);
		return;
	}
	st->early_wait = 0;
	st_watch(st);
	if (n <= 0)
		return; /* EOF or an error: the open goes on, the stream sees it then */
	tun_session_data_commit(s, st->id, (size_t)n);
	st->early = (uint32_t)n;
	st->send_win -= (uint32_t)n;
}

void
tun_stream_send_open(struct tun_stream *st)
{
	uint8_t buf[128];
	size_t n;

	st->state = ST_OPENING;
	n = tun_open_encode(&st->req, buf, sizeof(buf));
	if (tun_session_frame(st->s, TUN_F_OPEN, st->id, buf, n) == -1)
		return;
	if (st->local && st->proto == EM_PROTO_TCP && !st->circuit &&
	    (st->s->peer_caps & TUN_CAP_EARLY))
		st_early_peek(st);
}

/* Opener, at OPEN_OK: drop the early bytes from the client's socket (they
 * went with the OPEN; the fd is a TCP socket, or a socketpair end from
 * gatewayd).  -1 (stream reset) if they are not all there. */
static int
st_early_drop(struct tun_stream *st)
{
	static uint8_t junk[TUN_EARLY_MAX]; /* TCP discards (MSG_TRUNC), AF_UNIX copies */
	ssize_t n;
	char why[128];

	st->early_wait = 0;
	while (st->early > 0) {
		n = recv(st->fd, junk, st->early < sizeof(junk) ? st->early : sizeof(junk),
			 MSG_TRUNC | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, sizeof(why), "early data gone from the client socket: %s",
				 n == 0 ? "EOF" : strerror(errno));
			/* the far end opened it: close it there; reset answers the opener */
			tun_session_frame(st->s, TUN_F_RST, st->id, "client gone", 11);
			tun_stream_reset(st, why);
			return -1;
		}
		st->early -= (uint32_t)n;
	}
	return 0;
}

/* Both directions done: free. */
static int
st_maybe_done(struct tun_stream *st)
{
	if (st->rd_eof && st->wr_shut) {
		log_debug("stream %u with %s closed", st->id, st_peer_name(st));
		tun_stream_free(st);
		return 1;
	}
	return 0;
}

static void
st_window_update(struct tun_stream *st)
{
	uint32_t grant;
	uint8_t b[4];

	if (st->consumed < TUN_WIN_UPDATE || st->remote_fin || st->s == NULL)
		return;
	grant = st->consumed;
	/* a TCP stream whose fd takes everything: a bigger window, so one
	 * bulk stream is not held to a window per round trip.  The OPEN
	 * window stays TUN_WINDOW on the wire; this is ordinary credit. */
	if (st->win < TUN_WINDOW_MAX && st->proto == EM_PROTO_TCP && st->olen == 0) {
		grant += TUN_WINDOW_MAX - st->win;
		st->win = TUN_WINDOW_MAX;
	}
	be32_put(b, grant);
	st->recv_win += grant;
	st->consumed = 0;
	tun_session_frame(st->s, TUN_F_WINDOW, st->id, b, 4);
}

/* obuf drained: release it, finish a half-close. */
static int
st_drained(struct tun_stream *st)
{
	free(st->obuf);
	st->obuf = NULL;
	st->ooff = st->olen = st->ocap = 0;
	ev_io_stop(st_loop(), &st->ww);
	if (st->remote_fin && !st->wr_shut) {
		shutdown(st->fd, SHUT_WR);
		st->wr_shut = 1;
		return st_maybe_done(st);
	}
	return 0;
}

static void
st_append(struct tun_stream *st, const uint8_t *p, size_t len)
{
	size_t ncap;

	if (st->ooff + st->olen + len > st->ocap && st->ooff > 0) {
		memmove(st->obuf, st->obuf + st->ooff, st->olen);
		st->ooff = 0;
	}
	if (st->olen + len > st->ocap) {
		ncap = st->ocap ? st->ocap * 2 : 16384;
		while (ncap < st->olen + len)
			ncap *= 2;
		st->obuf = xreallocarray(st->obuf, 1, ncap);
		st->ocap = ncap;
	}
	memcpy(st->obuf + st->ooff + st->olen, p, len);
	st->olen += len;
	if (!ev_is_active(&st->ww))
		ev_io_start(st_loop(), &st->ww);
}

/* DATA for st: iov[0..n), len bytes in all.  TCP: one writev(), the rest
 * to obuf; UDP: a datagram per frame. */
static void
st_data(struct tun_stream *st, struct iovec *iov, int n, size_t len)
{
	ssize_t w;
	size_t k;
	int i;
	char why[128];

	st->last_active = ev_now(st_loop());
	if (st->proto == EM_PROTO_UDP) {
		st_udp_touch(st);
		for (i = 0; i < n; i++)
			if (send(st->fd, iov[i].iov_base, iov[i].iov_len, MSG_DONTWAIT) == -1)
				log_debug("stream %u: datagram of %zu bytes dropped: %s", st->id,
					  iov[i].iov_len, strerror(errno));
		return;
	}
	if (len > st->recv_win) {
		tun_stream_reset(st, "peer sent beyond the window");
		return;
	}
	if (st->remote_fin || st->wr_shut) {
		tun_stream_reset(st, "DATA after FIN");
		return;
	}
	st->recv_win -= (uint32_t)len;
	if (st->olen == 0 && len > 0) {
		w = n == 1 ? write(st->fd, iov[0].iov_base, iov[0].iov_len)
			   : writev(st->fd, iov, n);
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			w = 0;
		if (w == -1) {
			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			tun_stream_reset(st, why);
			return;
		}
		st->consumed += (uint32_t)w;
		len -= (size_t)w;
		/* skip what the fd took */
		for (k = (size_t)w, i = 0; i < n && k >= iov[i].iov_len; i++)
			k -= iov[i].iov_len;
		if (i < n) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
		}
		iov += i;
		n -= i;
	}
	if (len > 0)
		for (i = 0; i < n; i++)
			st_append(st, iov[i].iov_base, iov[i].iov_len);
	st_window_update(st);
}

/* Far end: DATA that came with the OPEN, kept until the connect completes. */
static void
st_early_keep(struct tun_stream *st, struct iovec *iov, int n, size_t len)
{
	int i;

	if (len > st->recv_win) {
		tun_stream_reset(st, "peer sent beyond the window");
		return;
	}
	st->recv_win -= (uint32_t)len;
	for (i = 0; i < n; i++)
		st_append(st, iov[i].iov_base, iov[i].iov_len); /* ww: the connect's watcher */
}

/* A run of DATA frames of one stream (see sess_rec_input). */
void
tun_mux_data(struct tun_session *s, struct tun_rxrun *run)
{
	struct tun_stream *st;
	size_t len = run->len;
	int n = run->n;

	run->n = 0;
	run->len = 0;
	if ((st = tun_stream_find(s, run->sid)) == NULL)
		return; /* late frames of a stream gone: ignored */
	if (st->state == ST_CONNECTING && st->proto == EM_PROTO_TCP && !st->circuit) {
		st_early_keep(st, run->iov, n, len); /* early data: written at connect */
		return;
	}
	if (st->state != ST_OPEN) {
		tun_stream_reset(st, "DATA before the stream was open");
		return;
	}
	st_data(st, run->iov, n, len);
}

static void st_flush(struct tun_stream *);

/* Far end: the connect to the target failed (why); the opener hears it. */
static void
st_open_refused(struct tun_stream *st, const char *why)
{
	log_warnx_repeat("stream from %s to %s:%u refused: %s", st_peer_name(st), st->req.ip,
			 st->req.port, why);
	tun_session_frame(st->s, TUN_F_OPEN_FAIL, st->id, why, strlen(why));
	tun_stream_free(st);
}

void
tun_stream_connected(struct tun_stream *st, int established)
{
	int err = 0;
	char why[200];

	ev_io_stop(st_loop(), &st->ww);
	if (!established)
		err = net_sock_error(st->fd);
	if (err != 0) {
		snprintf(why, sizeof(why), "connect %s:%u: %s", st->req.ip, st->req.port,
			 net_connect_failed(err, st->req.ip, st->req.port));
		st_open_refused(st, why);
		return;
	}
	tun_session_frame(st->s, TUN_F_OPEN_OK, st->id, NULL, 0);
	log_debug("stream %u from %s to %s:%u open", st->id, st_peer_name(st), st->req.ip,
		  st->req.port);
	tun_stream_start(st);
	if (st->olen > 0 || st->remote_fin)
		st_flush(st); /* early data (or FIN) came with the OPEN: write it now */
}

static void
st_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_stream *st = w->data;

	if (st->state == ST_CONNECTING)
		tun_stream_connected(st, 0);
	else
		st_flush(st);
}

/* Write obuf out; grant what the fd took. */
static void
st_flush(struct tun_stream *st)
{
	ssize_t n;
	char why[128];

	while (st->olen > 0) {
		n = write(st->fd, st->obuf + st->ooff, st->olen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			tun_stream_reset(st, why);
			return;
		}
		st->ooff += (size_t)n;
		st->olen -= (size_t)n;
		st->consumed += (uint32_t)n;
	}
	st_window_update(st);
	if (st->olen == 0)
		st_drained(st);
	else if (!ev_is_active(&st->ww))
		ev_io_start(st_loop(), &st->ww); /* right after the connect */
}

static void
st_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_stream *st = w->data;

	if (st->state == ST_OPENING) {
		st_early_peek(st);
		return;
	}
	st_ready(st); /* already queued: nothing to do, the pump comes */
}

static void
st_tmo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_stream *st = w->data;
	char why[200];
	double left;

	if (st->state == ST_OPEN && st->in_udp) {
		if ((left = udpflow_left(&st->uf, st->idle, ev_now(loop))) > 0.01) {
			ev_timer_set(w, left, 0.);
			ev_timer_start(loop, w);
			return;
		}
		log_debug("UDP stream %u to %s:%u idle %.0fs: closed", st->id, st->req.ip,
			  st->req.port, st->idle);
		tun_stream_reset(st, "idle");
		return;
	}
	if (st->state == ST_CONNECTING) {
		snprintf(why, sizeof(why), "connect %s:%u: timed out", st->req.ip, st->req.port);
		st_open_refused(st, why);
		return;
	}
	if (st->state == ST_PENDING && st->peer != NULL)
		snprintf(why, sizeof(why), "no session to %s within %.0fs%s%s", st->peer->name,
			 TUN_OPEN_TIMEOUT, st->peer->last_err[0] ? ": " : "", st->peer->last_err);
	else
		snprintf(why, sizeof(why), "%s did not answer the OPEN within %.0fs",
			 st_peer_name(st), TUN_OPEN_TIMEOUT);
	log_warnx_repeat("stream to %s:%u via %s failed: %s", st->req.ip, st->req.port,
			 st_peer_name(st), why);
	tun_stream_reset(st, why);
}

/*
 * One scheduling turn of a stream: at most TUN_QUANTUM bytes, or, for a TCP
 * stream alone on the ready queue, until the open record is full (one
 * read() of up to a whole record).  Reads go straight into the record.
 * -1 when the stream is gone (reset, done, or its session closed).
 */
static int
st_pull(struct tun_stream *st)
{
	struct tun_session *s = st->s;
	uint8_t *dst;
	size_t room, want, total = 0;
	ssize_t n;
	int alone, full;
	char why[128];

	alone = st->proto == EM_PROTO_TCP && TAILQ_EMPTY(&s->ready);
	for (;;) {
		if (st->proto == EM_PROTO_UDP) {
			n = recv(st->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
			if (n >= 0 && (size_t)n > TUN_REC_MAX - 2 * TUN_FRAME_HDR) {
				uint8_t junk[1];

				(void)recv(st->fd, junk, sizeof(junk), MSG_DONTWAIT);
				continue;
			}
			want = n > 0 ? (size_t)n : 1;
		} else {
			want = alone ? SIZE_MAX : TUN_QUANTUM - total;
			if (want > st->send_win)
				want = st->send_win;
			if (want == 0)
				return 0; /* WINDOW restarts it */
		}
		if ((dst = tun_session_data_reserve(s, st->proto == EM_PROTO_UDP ? want : 1024,
						    &room)) == NULL)
			return -1; /* the session closed: streams freed */
		if (want > room)
			want = room;
		full = want == room;
		n = st->proto == EM_PROTO_UDP ? recv(st->fd, dst, want, MSG_DONTWAIT)
					      : read(st->fd, dst, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1 && st->proto == EM_PROTO_UDP && errno == ECONNREFUSED)
			continue;
		if (n == -1) {
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
			tun_stream_reset(st, why);
			return -1;
		}
		if (n == 0 && st->proto == EM_PROTO_TCP) {
			if (tun_session_frame(s, TUN_F_FIN, st->id, NULL, 0) == -1)
				return -1; /* the session closed: streams freed */
			st->rd_eof = 1;
			return st_maybe_done(st) ? -1 : 0;
		}
		tun_session_data_commit(s, st->id, (size_t)n);
		st->last_active = ev_now(st_loop());
		if (st->proto == EM_PROTO_UDP)
			st_udp_touch(st);
		total += (size_t)n;
		if (st->proto == EM_PROTO_TCP) {
			st->send_win -= (uint32_t)n;
			if ((size_t)n < want) /* drained the socket for now */
				return 0;
		}
		if (alone ? full : total >= TUN_QUANTUM) {
			if (st->proto == EM_PROTO_UDP || st->send_win > 0)
				st_ready(st); /* back of the queue */
			return 0;
		}
	}
}

void
tun_mux_pump(struct tun_session *s)
{
	struct tun_stream *st;
	int turns = 0;

	while (s->state == SS_UP && tun_session_outq(s) < TUN_OUT_HIGH && turns++ < 4096 &&
	       (st = TAILQ_FIRST(&s->ready)) != NULL) {
		TAILQ_REMOVE(&s->ready, st, rq);
		st->in_ready = 0;
		if (st_pull(st) == 0)
			st_watch(st);
	}
}

/* A peer asks us to open a stream to a target here. */
static void
mux_remote_open(struct tun_session *s, const struct tun_frame *f)
{
	struct tunneld *t = s->t;
	struct tun_open_req req;
	struct tun_stream *st;
	char why[200];

	if (tun_stream_find(s, f->sid) != NULL) {
		tun_session_close(s, "OPEN for a stream id in use");
		return;
	}
	if (f->len >= 1 && f->payload[0] == TUN_PROTO_CIRCUIT) {
		tun_circuit_open(s, f);
		return;
	}
	if (tun_open_decode(f->payload, f->len, &req) == -1) {
		snprintf(why, sizeof(why), "malformed OPEN");
		goto fail;
	}
	if (req.proto != EM_PROTO_UDP && tun_session_full(s)) {
		snprintf(why, sizeof(why), "too many streams on this session (%d)",
			 TUN_STREAMS_MAX);
		goto fail;
	}
	if (tun_target_kind(t, t->d->cfg.node_name, &req, why, sizeof(why)) == TUN_TGT_NONE) {
		log_warnx("stream from %s (client %s) to %s %s:%u refused: %s", s->name,
			  req.client[0] ? req.client : "?", em_proto_name(req.proto), req.ip,
			  req.port, why);
		goto fail;
	}
	st = tun_stream_new(s, NULL, -1, req.proto);
	st->req = req;
	tun_stream_attach(st, s, f->sid);
	st->state = ST_CONNECTING;
	tun_dial_target(st);
	return;
fail:
	tun_session_frame(s, TUN_F_OPEN_FAIL, f->sid, why, strlen(why));
}

/* Every frame but DATA (tun_mux_data), REKEY and GOAWAY (the session's). */
void
tun_mux_input(struct tun_session *s, const struct tun_frame *f)
{
	struct tunneld *t = s->t;
	struct tun_stream *st;
	char why[256];
	uint32_t inc;

	switch (f->type) {
	case TUN_F_PING:
		tun_session_frame(s, TUN_F_PONG, 0, f->payload, f->len);
		return;
	case TUN_F_PONG:
		tun_session_pong(s, f->payload);
		return;
	case TUN_F_REACH:
		tun_reach_input(s, f->payload, f->len);
		return;
	case TUN_F_MIGRATE:
		tun_migrate_marker(s, f->payload, f->len);
		return;
	case TUN_F_OBSERVED:
		tun_punch_observed(s, f->payload, f->len);
		return;
	case TUN_F_PUNCH:
		tun_punch_input(s, f->payload, f->len);
		return;
	case TUN_F_RELAYS:
		tun_relaysel_input(s, f->payload, f->len);
		return;
	case TUN_F_OPEN:
		mux_remote_open(s, f);
		return;
	}
	if ((st = tun_stream_find(s, f->sid)) == NULL)
		return; /* late frames of a stream gone: ignored */
	switch (f->type) {
	case TUN_F_OPEN_OK:
		if (st->circuit && st->circ_out && st->state == ST_OPENING) {
			tun_circuit_open_ok(st);
			return;
		}
		if (!st->local || st->state != ST_OPENING)
			return;
		/* the opener's reply (a SOCKS success) goes first: the fd is fresh, it fits */
		if (st->reply_len > 0 &&
		    send(st->fd, st->reply, st->reply_len, MSG_DONTWAIT | MSG_NOSIGNAL) !=
			(ssize_t)st->reply_len) {
			/* the far end opened it: close it there; reset answers the opener */
			tun_session_frame(s, TUN_F_RST, st->id, "client gone", 11);
			tun_stream_reset(st, "the client did not take the reply");
			return;
		}
		if (st_early_drop(st) == -1)
			return;
		tun_handoff_result(t, st->client_serial, st->open_id, 1, "");
		log_debug("stream %u to %s:%u via %s open%s", st->id, st->req.ip, st->req.port,
			  s->name, st->send_win < TUN_WINDOW ? " (early data sent)" : "");
		tun_stream_start(st);
		return;
	case TUN_F_OPEN_FAIL:
		if (st->circuit && st->circ_out && st->state == ST_OPENING) {
			snprintf(why, sizeof(why), "%.*s", (int)f->len, (const char *)f->payload);
			tun_circuit_open_fail(st, why);
			return;
		}
		snprintf(why, sizeof(why), "%s refused: %.*s", s->name, (int)f->len,
			 (const char *)f->payload);
		log_warnx_repeat("stream to %s %s:%u via %s failed: %s",
				 em_proto_name(st->req.proto), st->req.ip, st->req.port, s->name,
				 why);
		if (st->early > 0)
			log_debug("stream %u: its %u early bytes stay in the client socket", st->id,
				  st->early);
		if (st->local && st->state == ST_OPENING)
			tun_handoff_result(t, st->client_serial, st->open_id, 0, why);
		tun_stream_free(st);
		return;
	case TUN_F_WINDOW:
		inc = be32_get(f->payload);
		if ((uint64_t)st->send_win + inc > 0x7fffffffu) {
			tun_stream_reset(st, "window overflow");
			return;
		}
		st->send_win += inc;
		st_watch(st);
		return;
	case TUN_F_FIN:
		if (st->proto != EM_PROTO_TCP || st->remote_fin)
			return;
		st->remote_fin = 1;
		if (st->olen == 0 && st->state != ST_CONNECTING) /* else at the connect */
			st_drained(st);
		return;
	case TUN_F_RST:
		snprintf(why, sizeof(why), "reset by %s%s%.*s", s->name, f->len ? ": " : "",
			 (int)f->len, (const char *)f->payload);
		if (st->local && st->state != ST_OPEN)
			tun_handoff_result(t, st->client_serial, st->open_id, 0, why);
		log_debug("stream %u: %s", st->id, why);
		tun_stream_free(st);
		return;
	}
}

/* The session went away: every stream on it ends now. */
void
tun_mux_session_gone(struct tun_session *s, const char *why)
{
	struct tun_stream *st;
	char reason[256];
	uint32_t *ids;
	size_t i, n;

	snprintf(reason, sizeof(reason), "session with %s lost: %s", s->name, why);
	ids = ht_ids(s, &n);
	for (i = 0; i < n; i++)
		if ((st = tun_stream_find(s, ids[i])) != NULL) {
			if (st->local && st->state != ST_OPEN)
				tun_handoff_result(s->t, st->client_serial, st->open_id, 0, reason);
			tun_stream_free(st);
		}
	free(ids);
}
