/*
 * Sessions: one TCP connection to a peer node, the Noise_XXpsk3 handshake
 * over it, then records (u16 length || ChaChaPoly ciphertext) that carry
 * mux frames.
 *
 *   -> e                      payload: hello {fp, name, caps} (plaintext)
 *   <- e, ee, s, es           payload: hello {fp, name, caps} (encrypted)
 *   -> s, se, psk             payload: empty
 *
 * The fingerprints let both ends name a PSK mismatch at once; the PSK is
 * enforced by the crypto at msg3 all the same.  Records use the implicit
 * Noise nonce counter: over TCP a replayed, dropped or reordered record
 * fails authentication and kills the session.  Rekey (by bytes and by
 * time): the sender ends a record with a REKEY frame and calls
 * noise_cs_rekey() after sealing it; the receiver after opening it.
 *
 * Writes are batched: frames go into the open record, and one ev_prepare
 * watcher seals, schedules stream data and flushes every dirty session
 * before the loop blocks.
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
#include "hmap.h"
#include "log.h"
#include "netaddr.h"
#include "p2p.h"
#include "tunneld.h"

#define NO_REC SIZE_MAX

static void sess_read_cb(struct ev_loop *, ev_io *, int);
static void sess_write_cb(struct ev_loop *, ev_io *, int);
static void sess_tick_cb(struct ev_loop *, ev_timer *, int);
static void sess_flush(struct tun_session *);
static void sess_seal(struct tun_session *);
static int hs_create_msg1(struct tun_session *);

static void
set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The address without the port, for log lines. */
static const char *
sess_ip(const struct tun_session *s, char *buf, size_t len)
{
	char *c;

	if (s->relayed) {
		snprintf(buf, len, "relay %s", s->addr);
		return buf;
	}
	snprintf(buf, len, "%s", s->addr);
	if (buf[0] == '[') {
		memmove(buf, buf + 1, strlen(buf));
		if ((c = strchr(buf, ']')) != NULL)
			*c = '\0';
	} else if ((c = strrchr(buf, ':')) != NULL)
		*c = '\0';
	return buf;
}

int
tun_listen(struct tunneld *t, int port, char *err, size_t errlen)
{
	char e[200];

	if (net_listen_tcp(port, &t->lfd, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "modules.edgeTunnel.listenPort %d: %s", port, e);
		return -1;
	}
	return 0;
}

static struct tun_session *
sess_new(struct tunneld *t, int fd, int initiator)
{
	struct tun_session *s;

	s = xcalloc(1, sizeof(*s));
	s->t = t;
	s->fd = fd;
	s->initiator = initiator ? 1 : 0;
	s->rec = NO_REC;
	s->preauth_slot = -1;
	s->created = ev_now(t->d->loop);
	s->rcap = TUN_HS_MAX;
	s->rbuf = xcalloc(1, s->rcap);
	s->wcap = 2 * TUN_HS_MAX;
	s->wbuf = xcalloc(1, s->wcap);
	TAILQ_INIT(&s->ready);
	s->streams = hmap_new();
	ev_io_init(&s->rw, sess_read_cb, fd, EV_READ);
	ev_io_init(&s->ww, sess_write_cb, fd, EV_WRITE);
	ev_timer_init(&s->tick, sess_tick_cb, TUN_HS_TIMEOUT, 0.);
	s->rw.data = s->ww.data = s->tick.data = s;
	s->hs = noise_hs_new(NOISE_XXPSK3, initiator, (const uint8_t *)TUN_PROLOGUE,
			     strlen(TUN_PROLOGUE), t->spriv, NULL, t->psk);
	if (s->hs == NULL)
		fatal("%s: noise_hs_new", __func__);
	LIST_INSERT_HEAD(&t->sessions, s, link);
	ev_timer_start(t->d->loop, &s->tick);
	return s;
}

static void
sess_release(struct tun_session *s)
{
	free(s->rbuf);
	free(s->wbuf);
	hmap_free(s->streams, NULL);
	free(s);
}

void
tun_session_close(struct tun_session *s, const char *why)
{
	struct tunneld *t = s->t;
	struct tun_peer *p = s->peer;
	int refused = s->fp_mismatch;

	if (s->state == SS_DEAD)
		return;
	if (s->state == SS_UP) {
		log_info("session with %s at %s closed: %s", s->name, s->addr, why);
		daemon_health_soon(t->d);
	} else
		tun_metrics_hs_failed(t, s, why);
	if (s->state != SS_UP)
		log_debug("connection %s (%s) closed: %s", s->addr, s->name[0] ? s->name : "?",
			  why);
	s->state = SS_DEAD;
	ev_io_stop(t->d->loop, &s->rw);
	ev_io_stop(t->d->loop, &s->ww);
	ev_timer_stop(t->d->loop, &s->tick);
	if (s->dirty) {
		LIST_REMOVE(s, dlink);
		s->dirty = 0;
	}
	LIST_REMOVE(s, link);
	if (s->preauth_slot != -1)
		t->preauth[s->preauth_slot] = NULL;
	tun_migrate_gone(s);
	tun_punch_gone(s);
	tun_mux_session_gone(s, why);
	if (s->ws != NULL)
		tun_ws_session_gone(s);
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	if (s->hs != NULL)
		noise_hs_free(s->hs);
	s->hs = NULL;
	if (s->cs != NULL) {
		noise_cs_wipe(&s->cs[0]);
		noise_cs_wipe(&s->cs[1]);
		sodium_free(s->cs);
		s->cs = NULL;
	}
	if (p != NULL)
		tun_peer_lost(p, s, why, refused);
	if (!s->busy)
		sess_release(s);
}

void
tun_session_dirty(struct tun_session *s)
{
	if (s->dirty || s->state == SS_DEAD)
		return;
	s->dirty = 1;
	LIST_INSERT_HEAD(&s->t->dirty, s, dlink);
}

/*
 * An idle session's write buffer goes back to its first size: a burst grew
 * it (up to TUN_OUT_HARD) and an idle tunneld would keep those pages.  Only
 * while nothing is queued or being sealed.
 */
static void
wbuf_shrink(struct tun_session *s)
{
	if (s->wlen != 0 || s->rec != NO_REC || s->mig != NULL || s->wcap <= 2 * TUN_HS_MAX)
		return;
	log_debug("session with %s: write buffer back from %zu to %u bytes", s->name, s->wcap,
		  2 * TUN_HS_MAX);
	free(s->wbuf);
	s->wcap = 2 * TUN_HS_MAX;
	s->wbuf = xcalloc(1, s->wcap);
}

/* Room for need more bytes at wbuf + wlen. */
static int
wbuf_reserve(struct tun_session *s, size_t need)
{
	size_t ncap;

	if (s->wlen + need <= s->wcap)
		return 0;
	if (s->woff > 0) {
		memmove(s->wbuf, s->wbuf + s->woff, s->wlen - s->woff);
		s->wlen -= s->woff;
		s->sealed -= s->woff;
		if (s->rec != NO_REC)
			s->rec -= s->woff;
		s->woff = 0;
	}
	if (s->wlen + need <= s->wcap)
		return 0;
	if (s->wlen + need > TUN_OUT_HARD + TUN_RBUF)
		return -1;
	ncap = s->wcap * 2;
	if (ncap < s->wlen + need)
		ncap = s->wlen + need;
	s->wbuf = xreallocarray(s->wbuf, 1, ncap);
	s->wcap = ncap;
	return 0;
}

size_t
tun_session_outq(const struct tun_session *s)
{
	return s->wlen - s->woff;
}

static int
rec_open(struct tun_session *s)
{
	if (s->rec != NO_REC)
		return 0;
	if (wbuf_reserve(s, 2 + TUN_REC_MAX + NOISE_TAG_LEN) == -1) {
		tun_session_close(s, "peer does not read: output queue over its limit");
		return -1;
	}
	s->rec = s->wlen;
	s->wlen += 2;
	return 0;
}

/* Plaintext room left in the open record, keeping a REKEY frame's worth. */
static size_t
rec_room(const struct tun_session *s)
{
	size_t used = s->wlen - s->rec - 2;

	return TUN_REC_MAX - TUN_FRAME_HDR - used;
}

static void
sess_seal(struct tun_session *s)
{
	size_t ptlen;
	int rekey = 0;

	if (s->rec == NO_REC)
		return;
	ptlen = s->wlen - s->rec - 2;
	if (ptlen == 0) {
		s->wlen = s->rec;
		s->rec = NO_REC;
		return;
	}
	if (s->rekey_due || s->since_rekey + ptlen >= TUN_REKEY_BYTES) {
		s->wlen += tun_frame_put(s->wbuf + s->wlen, TUN_FRAME_HDR, TUN_F_REKEY, 0, NULL, 0);
		ptlen += TUN_FRAME_HDR;
		rekey = 1;
	}
	if (noise_cs_encrypt(&s->cs[0], NULL, 0, s->wbuf + s->rec + 2, ptlen,
			     s->wbuf + s->rec + 2) == -1)
		fatalx("%s: noise_cs_encrypt", __func__); /* nonce space exhausted, EVP */
	be16_put(s->wbuf + s->rec, (uint16_t)(ptlen + NOISE_TAG_LEN));
	s->wlen += NOISE_TAG_LEN;
	if (s->relayed) /* kept to resend should the relay die */
		tun_migrate_sealed(s, s->wbuf + s->rec, s->wlen - s->rec);
	s->sealed = s->wlen;
	s->rec = NO_REC;
	s->since_rekey += ptlen;
	if (rekey) {
		if (noise_cs_rekey(&s->cs[0]) == -1)
			fatalx("%s: noise_cs_rekey", __func__);
		log_debug("session with %s: rekeyed the sending key after %llu bytes", s->name,
			  (unsigned long long)s->since_rekey);
		s->since_rekey = 0;
		s->rekey_due = 0;
		s->rekey_at = ev_now(s->t->d->loop);
	}
}

void
tun_session_seal(struct tun_session *s)
{
	if (s->state == SS_UP)
		sess_seal(s);
}

int
tun_session_frame(struct tun_session *s, uint8_t type, uint32_t sid, const void *payload,
		  size_t len)
{
	if (s->state != SS_UP)
		return -1;
	if (s->rec != NO_REC && rec_room(s) < TUN_FRAME_HDR + len)
		sess_seal(s);
	if (rec_open(s) == -1)
		return -1;
	s->wlen += tun_frame_put(s->wbuf + s->wlen, TUN_FRAME_HDR + len, type, sid, payload, len);
	tun_session_dirty(s);
	return 0;
}

uint8_t *
tun_session_data_reserve(struct tun_session *s, size_t min, size_t *room)
{
	if (s->rec != NO_REC && rec_room(s) < TUN_FRAME_HDR + min)
		sess_seal(s);
	if (rec_open(s) == -1)
		return NULL;
	*room = rec_room(s) - TUN_FRAME_HDR;
	return s->wbuf + s->wlen + TUN_FRAME_HDR;
}

void
tun_session_data_commit(struct tun_session *s, uint32_t sid, size_t n)
{
	uint8_t *p = s->wbuf + s->wlen;

	p[0] = TUN_F_DATA;
	be32_put(p + 1, sid);
	be16_put(p + 5, (uint16_t)n);
	s->wlen += TUN_FRAME_HDR + n;
	s->tx += n;
	tun_session_dirty(s);
}

static void
sess_flush(struct tun_session *s)
{
	struct ev_loop *loop = s->t->d->loop;
	ssize_t n;
	size_t len;

	while (s->woff < s->sealed) {
		len = s->sealed - s->woff;
		/* migrating: the old path takes nothing after its MIGRATE */
		if (s->mig != NULL && tun_migrate_flush_limit(s, &len)) {
			ev_io_stop(loop, &s->ww);
			return;
		}
		n = write(s->fd, s->wbuf + s->woff, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			char why[128];

			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			if (s->relayed && tun_migrate_path_lost(s, why))
				return;
			tun_session_close(s, why);
			return;
		}
		s->woff += (size_t)n;
		if (s->mig != NULL)
			tun_migrate_wrote(s, (size_t)n);
	}
	if (s->woff == s->sealed) {
		s->blocked = 0;
		/* streams still waiting: one more turn when the socket takes more */
		if (s->state == SS_UP && !TAILQ_EMPTY(&s->ready)) {
			if (!ev_is_active(&s->ww))
				ev_io_start(loop, &s->ww);
		} else
			ev_io_stop(loop, &s->ww);
		if (s->rec == NO_REC && s->woff == s->wlen)
			s->woff = s->wlen = s->sealed = 0;
		if (s->fp_mismatch) {
			tun_session_close(s, "PSK mismatch");
			return;
		}
	} else {
		if (!ev_is_active(&s->ww))
			ev_io_start(loop, &s->ww);
		if (!s->blocked && s->state == SS_UP) {
			s->blocked = 1;
			tun_mux_blocked(s);
		}
	}
}

/*
 * Before the loop blocks: schedule stream data, seal, flush.  While the
 * socket takes everything and streams still wait, go round again (at most
 * TUN_PUMP_ROUNDS, about 1 MiB) instead of a write watcher turn.
 */
void
tun_sessions_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct tunneld *t = w->data;
	struct tun_session *s;
	int round;

	while ((s = LIST_FIRST(&t->dirty)) != NULL) {
		LIST_REMOVE(s, dlink);
		s->dirty = 0;
		s->busy = 1; /* a close in here leaves the release to us */
		for (round = 0; round < TUN_PUMP_ROUNDS; round++) {
			if (s->state == SS_UP)
				tun_mux_pump(s);
			if (s->state == SS_UP)
				sess_seal(s);
			if (s->state != SS_DEAD)
				sess_flush(s);
			if (s->state != SS_UP || s->woff < s->sealed || TAILQ_EMPTY(&s->ready))
				break;
		}
		s->busy = 0;
		if (s->state == SS_DEAD) {
			sess_release(s);
			continue;
		}
		/* what pump could not send waits for the write watcher */
		if (s->dirty) {
			LIST_REMOVE(s, dlink);
			s->dirty = 0;
		}
	}
}

static void
sess_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_session *s = w->data;
	int err = 0;

	if (s->state == SS_CONNECTING) {
		err = net_sock_error(s->fd);
		if (err != 0) {
			char why[160];

			ev_io_stop(loop, &s->ww);
			snprintf(why, sizeof(why), "connect to %s: %s", s->addr, strerror(err));
			tun_session_close(s, why);
			return;
		}
		ev_io_stop(loop, &s->ww);
		set_nodelay(s->fd);
		s->state = SS_HANDSHAKE;
		ev_io_start(loop, &s->rw);
		if (hs_create_msg1(s) == 0)
			sess_flush(s);
		return;
	}
	s->busy = 1;
	sess_flush(s);
	s->busy = 0;
	if (s->state == SS_DEAD) {
		sess_release(s);
		return;
	}
	if (s->state == SS_UP && tun_session_outq(s) < TUN_OUT_LOW && !TAILQ_EMPTY(&s->ready))
		tun_session_dirty(s);
}

struct tun_session *
tun_session_dial(struct tunneld *t, struct tun_peer *p, const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct tun_session *s;
	socklen_t sl;
	int fd;

	if (tun_ws_dialing(t)) /* transport ws: tun_ws.c */
		return tun_ws_dial(t, p, ip);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		snprintf(p->last_err, sizeof(p->last_err), "bad address %s", ip);
		return NULL;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(p->last_err, sizeof(p->last_err), "socket: %s", strerror(errno));
		return NULL;
	}
	tun_punch_dial_socket(t, fd, p->name, ip, ss.ss_family);
	s = sess_new(t, fd, 1);
	net_addr_text(&ss, s->addr, sizeof(s->addr));
	snprintf(s->name, sizeof(s->name), "%s", p->name);
	s->peer = p;
	s->state = SS_CONNECTING;
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 && errno != EINPROGRESS) {
		int err = errno, again = tun_punch_dial_failed(t, p->name, ip, err);

		snprintf(p->last_err, sizeof(p->last_err), "connect to %s: %s", s->addr,
			 strerror(err));
		s->peer = NULL;
		tun_session_close(s, p->last_err);
		/* the punch port's 4-tuple was taken: once more, from any port */
		return again ? tun_session_dial(t, p, ip, port) : NULL;
	}
	ev_io_start(t->d->loop, &s->ww);
	log_debug("dialing %s at %s", p->name, s->addr);
	return s;
}

/* A pre-auth slot: a free one, else the oldest connection's (evicted). */
static int
preauth_slot(struct tunneld *t)
{
	struct tun_session *old = NULL;
	int i, slot = -1;

	for (i = 0; i < TUN_PREAUTH_MAX; i++) {
		if (t->preauth[i] == NULL)
			return i;
		if (old == NULL || t->preauth[i]->created < old->created) {
			old = t->preauth[i];
			slot = i;
		}
	}
	log_debug("pre-auth table full: dropping %s", old->addr);
	tun_session_close(old, "evicted: pre-auth table full");
	return slot;
}

static void
sess_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunneld *t = w->data;
	struct sockaddr_storage ss;
	struct tun_session *s;
	socklen_t sl;
	int fd, n, slot;

	for (n = 0; n < 16; n++) {
		sl = sizeof(ss);
		fd = accept4(t->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (!tun_ifaces_allowed(t, fd)) { /* listenInterfaces */
			close(fd);
			continue;
		}
		set_nodelay(fd);
		slot = preauth_slot(t);
		s = sess_new(t, fd, 0);
		net_addr_text(&ss, s->addr, sizeof(s->addr));
		s->state = SS_HANDSHAKE;
		s->preauth_slot = slot;
		t->preauth[slot] = s;
		ev_io_start(loop, &s->rw);
	}
}

/*
 * A session over one end of a relay circuit's socketpair, as if it were a
 * TCP connection: the initiator (name: the node we want) or the responder
 * (name: the node the relay says is calling).  via: the relay node.
 */
struct tun_session *
tun_session_over(struct tunneld *t, int fd, int initiator, const char *name, const char *via)
{
	struct tun_session *s;
	int slot;

	slot = initiator ? -1 : preauth_slot(t);
	s = sess_new(t, fd, initiator);
	s->relayed = 1;
	snprintf(s->addr, sizeof(s->addr), "%s", via);
	if (initiator) {
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->state = SS_CONNECTING;
		ev_io_start(t->d->loop, &s->ww);
	} else {
		snprintf(s->expect, sizeof(s->expect), "%s", name);
		s->state = SS_HANDSHAKE;
		s->preauth_slot = slot;
		t->preauth[slot] = s;
		ev_io_start(t->d->loop, &s->rw);
	}
	return s;
}

void
tun_listen_start(struct tunneld *t)
{
	ev_io_init(&t->lw, sess_accept_cb, t->lfd, EV_READ);
	t->lw.data = t;
	ev_io_start(t->d->loop, &t->lw);
}

static void
psk_mismatch_log(struct tun_session *s, const char *theirs)
{
	char key[400], ip[64], a[16], b[16];
	struct tun_peer *p;

	tun_fp_short(s->t->fp, a);
	tun_fp_short(theirs, b);
	if ((p = tun_peer_get(s->t, s->name, 0)) != NULL)
		snprintf(p->their_fp, sizeof(p->their_fp), "%s", b);
	snprintf(key, sizeof(key), "psk:%s:%s", s->name, theirs);
	log_warnx_once(key, "PSK mismatch with %s at %s: ours %s, theirs %s", s->name,
		       sess_ip(s, ip, sizeof(ip)), a, b);
}

static void
sess_established(struct tun_session *s)
{
	struct tunneld *t = s->t;
	struct tun_peer *p;
	char why[400];

	if ((s->cs = sodium_malloc(2 * sizeof(struct noise_cs))) == NULL)
		fatal("%s: sodium_malloc", __func__);
	memset(s->cs, 0, 2 * sizeof(struct noise_cs)); /* wipeable even if split fails */
	if (noise_hs_split_cipher(s->hs, tun_cipher_pick(tun_caps_ours(), s->peer_caps), &s->cs[0],
				  &s->cs[1]) == -1) {
		tun_session_close(s, "handshake: split failed");
		return;
	}
	if (tun_pin_check(s, noise_hs_remote_static(s->hs), why, sizeof(why)) == -1) {
		tun_session_close(s, why);
		return;
	}
	tun_migrate_keys(s);
	noise_hs_free(s->hs);
	s->hs = NULL;
	if (s->preauth_slot != -1) {
		t->preauth[s->preauth_slot] = NULL;
		s->preauth_slot = -1;
	}
	s->rbuf = xreallocarray(s->rbuf, 1, TUN_RBUF);
	s->rcap = TUN_RBUF;
	s->state = SS_UP;
	s->t->hs_ok++;
	daemon_health_soon(t->d);
	s->up_at = s->rekey_at = ev_now(t->d->loop);
	s->next_sid = s->initiator ? 1 : 2;
	ev_timer_stop(t->d->loop, &s->tick);
	ev_timer_set(&s->tick, TUN_PING_PERIOD, TUN_PING_PERIOD);
	ev_timer_start(t->d->loop, &s->tick);
	p = s->peer != NULL ? s->peer : tun_peer_get(t, s->name, 1);
	s->peer = p;
	log_info("session up with %s at %s (%s%s), transport %s", s->name, s->addr,
		 s->initiator ? "we dialed" : "they dialed",
		 s->relayed ? ", through the relay" : "", noise_cipher_name(s->cs[0].cipher));
	tun_peer_up(p, s);
	if (s->state == SS_UP)
		tun_reach_tick(s, ev_now(t->d->loop));
	if (s->state == SS_UP)
		tun_punch_session_up(s);
}

/*
 * The handshake, one function per message and side, in the order they run
 * (as WireGuard's create/consume pairs):
 *
 *   hs_create_msg1   initiator   -> e               payload: our hello (plaintext)
 *   hs_consume_msg1  responder
 *   hs_create_msg2   responder   <- e, ee, s, es    payload: our hello (encrypted)
 *   hs_consume_msg2  initiator
 *   hs_create_msg3   initiator   -> s, se, psk      payload: empty
 *   hs_consume_msg3  responder
 *
 * A created message is appended to wbuf (u16 length || Noise message); the
 * caller flushes it.  Each returns 0, or -1 once the session is closed.
 */

/* Our hello: version, PSK fingerprint, node name, the AEADs we take (the
 * responder only when the initiator listed its own: an older initiator
 * wants the short hello); returns its length. */
static size_t
hs_hello(const struct tun_session *s, uint8_t *pay, size_t cap)
{
	struct tun_peer *p = s->peer != NULL ? s->peer : tun_peer_get(s->t, s->name, 0);
	struct tun_hello h;

	memset(&h, 0, sizeof(h));
	h.version = 1;
	if ((s->initiator && (p == NULL || ev_now(s->t->d->loop) >= p->caps_off_until)) ||
	    s->peer_caps != 0)
		h.caps = tun_caps_ours();
	memcpy(h.fp, s->t->fp, 9);
	snprintf(h.name, sizeof(h.name), "%s", s->t->d->cfg.node_name);
	return tun_hello_encode(&h, pay, cap);
}

static int
hs_write(struct tun_session *s, const uint8_t *pay, size_t plen, const char *fail)
{
	size_t olen;

	if (wbuf_reserve(s, TUN_HS_MAX) == -1 ||
	    noise_hs_write(s->hs, pay, plen, s->wbuf + s->wlen + 2, TUN_HS_MAX - 2, &olen) == -1) {
		tun_session_close(s, fail);
		return -1;
	}
	be16_put(s->wbuf + s->wlen, (uint16_t)olen);
	s->wlen += 2 + olen;
	s->sealed = s->wlen;
	return 0;
}

/* Read message msg (1, 2 or 3) into pay; a failure is named and closes. */
static int
hs_read(struct tun_session *s, int msg, const uint8_t *m, size_t mlen, uint8_t *pay, size_t cap,
	size_t *plen)
{
	char why[200], ip[64];

	if (noise_hs_read(s->hs, m, mlen, pay, cap, plen) == 0)
		return 0;
	if (msg == 2)
		snprintf(why, sizeof(why),
			 "handshake with %s at %s failed at msg2 "
			 "(not an edgemesh-c tunnel, or a bad key)",
			 s->name, sess_ip(s, ip, sizeof(ip)));
	else
		snprintf(why, sizeof(why),
			 "handshake with %s at %s failed: msg%d did "
			 "not authenticate (PSK or key mismatch)",
			 s->name[0] ? s->name : "?", sess_ip(s, ip, sizeof(ip)), msg);
	if (s->name[0])
		log_warnx("%s", why);
	tun_session_close(s, why);
	return -1;
}

static int
hs_create_msg1(struct tun_session *s)
{
	uint8_t pay[TUN_HS_MAX];

	/* -> e; our hello in plaintext */
	return hs_write(s, pay, hs_hello(s, pay, sizeof(pay)), "handshake: cannot write msg1");
}

static int
hs_consume_msg1(struct tun_session *s, const uint8_t *m, size_t mlen)
{
	struct tun_peer *p;
	struct tun_hello h;
	uint8_t pay[TUN_HS_MAX];
	char why[200];
	size_t plen;

	/* -> e; their hello */
	if (hs_read(s, 1, m, mlen, pay, sizeof(pay), &plen) == -1)
		return -1;
	if (tun_hello_decode(pay, plen, &h) == -1) {
		tun_session_close(s, "handshake: bad msg1 payload");
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", h.name);
	s->peer_caps = h.caps;
	if (h.caps != 0 && (p = tun_peer_get(s->t, h.name, 0)) != NULL)
		p->caps_off_until = 0; /* it speaks caps now */
	if (s->expect[0] != '\0' && strcmp(h.name, s->expect) != 0) {
		snprintf(why, sizeof(why), "relay %s announced %s but the caller says it is %s",
			 s->addr, s->expect, h.name);
		log_warnx("%s", why);
		tun_session_close(s, why);
		return -1;
	}
	if (strcmp(h.name, s->t->d->cfg.node_name) == 0) {
		tun_session_close(s, "a connection from ourselves");
		return -1;
	}
	if (strcmp(h.fp, s->t->fp) != 0) {
		psk_mismatch_log(s, h.fp);
		s->fp_mismatch = 1; /* answer so they can log it too, then close */
	}
	return 0;
}

static int
hs_create_msg2(struct tun_session *s)
{
	uint8_t pay[TUN_HS_MAX];

	/* <- e, ee, s, es; our hello, encrypted */
	return hs_write(s, pay, hs_hello(s, pay, sizeof(pay)), "handshake: cannot write msg2");
}

static int
hs_consume_msg2(struct tun_session *s, const uint8_t *m, size_t mlen)
{
	struct tun_hello h;
	uint8_t pay[TUN_HS_MAX];
	char why[200];
	size_t plen;

	/* <- e, ee, s, es; their hello */
	if (hs_read(s, 2, m, mlen, pay, sizeof(pay), &plen) == -1)
		return -1;
	if (tun_hello_decode(pay, plen, &h) == -1) {
		tun_session_close(s, "handshake: bad msg2 payload");
		return -1;
	}
	s->peer_caps = h.caps;
	if (strcmp(h.fp, s->t->fp) != 0) {
		psk_mismatch_log(s, h.fp);
		s->fp_mismatch = 1;
		tun_session_close(s, "PSK mismatch");
		return -1;
	}
	if (strcmp(h.name, s->name) != 0) {
		snprintf(why, sizeof(why),
			 "dialed %s at %s but it says it is %s (check "
			 "the Node addresses)",
			 s->name, s->addr, h.name);
		log_warnx("%s", why);
		tun_session_close(s, why);
		return -1;
	}
	return 0;
}

static int
hs_create_msg3(struct tun_session *s)
{
	/* -> s, se, psk */
	return hs_write(s, NULL, 0, "handshake: cannot write msg3");
}

static int
hs_consume_msg3(struct tun_session *s, const uint8_t *m, size_t mlen)
{
	uint8_t pay[TUN_HS_MAX];
	size_t plen;

	/* -> s, se, psk: it authenticates, so the PSK matched */
	return hs_read(s, 3, m, mlen, pay, sizeof(pay), &plen);
}

/* A handshake message from the peer: consume it, answer it, and bring the
 * session up after msg3.  The responder knows the caller's name once msg1
 * is in (a hello never has an empty one). */
static int
sess_hs_input(struct tun_session *s, const uint8_t *msg, size_t mlen)
{
	if (noise_hs_our_turn(s->hs)) {
		tun_session_close(s, "handshake: unexpected message");
		return -1;
	}
	if (s->initiator) {
		if (hs_consume_msg2(s, msg, mlen) == -1 || hs_create_msg3(s) == -1)
			return -1;
		sess_established(s);
		if (s->state == SS_DEAD)
			return -1;
		tun_session_dirty(s); /* msg3, then what the streams have */
		return 0;
	}
	if (s->name[0] == '\0') {
		if (hs_consume_msg1(s, msg, mlen) == -1 || hs_create_msg2(s) == -1)
			return -1;
		tun_session_dirty(s);
		return 0;
	}
	if (hs_consume_msg3(s, msg, mlen) == -1)
		return -1;
	sess_established(s);
	return s->state == SS_DEAD ? -1 : 0;
}

/* One record; 0 to go on, -1 when the session is closed.  DATA frames
 * gather in run (it may span records: the plaintext stays in rbuf until
 * sess_read_cb is done); any other frame writes the run out first, so a
 * stream's frames keep their order. */
static int
sess_rec_input(struct tun_session *s, uint8_t *rec, size_t len, struct tun_rxrun *run)
{
	struct tun_frame f;
	size_t off = 0, used, ptlen;
	int r;

	if (len < NOISE_TAG_LEN || noise_cs_decrypt(&s->cs[1], NULL, 0, rec, len, rec) == -1) {
		log_warnx("session with %s at %s: a record failed authentication (tampered, "
			  "replayed or reordered): closing",
			  s->name, s->addr);
		tun_session_close(s, "record authentication failed");
		return -1;
	}
	ptlen = len - NOISE_TAG_LEN;
	s->rekey_rx = 0;
	while (off < ptlen) {
		r = tun_frame_get(rec + off, ptlen - off, &f, &used);
		if (r != 1) {
			log_warnx("session with %s: malformed frame (type %u): closing", s->name,
				  rec[off]);
			tun_session_close(s, "malformed frame");
			return -1;
		}
		off += used;
		if (f.type == TUN_F_REKEY) {
			s->rekey_rx = 1;
			continue;
		}
		if (f.type == TUN_F_GOAWAY) {
			s->draining = 1;
			continue;
		}
		if (f.type == TUN_F_DATA) {
			s->rx += f.len;
			if (run->n > 0 && (run->sid != f.sid || run->n == TUN_RX_IOV)) {
				tun_mux_data(s, run);
				if (s->state == SS_DEAD)
					return -1;
			}
			run->sid = f.sid;
			run->iov[run->n].iov_base = rec + (f.payload - rec); /* not const */
			run->iov[run->n].iov_len = f.len;
			run->n++;
			run->len += f.len;
			continue;
		}
		if (run->n > 0) {
			tun_mux_data(s, run);
			if (s->state == SS_DEAD)
				return -1;
		}
		tun_mux_input(s, &f);
		if (s->state == SS_DEAD)
			return -1;
	}
	if (s->rekey_rx && noise_cs_rekey(&s->cs[1]) == -1)
		fatalx("%s: noise_cs_rekey", __func__);
	return 0;
}

/* Our msg1 carried the caps byte and drew a close with no msg2: an older
 * tunneld refuses such a hello.  Dial that peer with the short one (no caps:
 * ChaChaPoly, no early data) for TUN_CAPS_OFF seconds.  1 if so. */
static int
sess_caps_refused(struct tun_session *s)
{
	struct tun_peer *p = s->peer != NULL ? s->peer : tun_peer_get(s->t, s->name, 0);
	ev_tstamp now = ev_now(s->t->d->loop);

	if (p == NULL || now < p->caps_off_until || tun_caps_ours() == 0)
		return 0; /* our msg1 had no caps */
	p->caps_off_until = now + TUN_CAPS_OFF;
	return 1;
}

static void
sess_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_session *s = w->data;
	struct tun_rxrun run;
	size_t off = 0, len;
	ssize_t n;
	char why[128];

	n = read(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0)
			snprintf(why, sizeof(why), "connection closed by the peer");
		else
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
		if (s->state == SS_HANDSHAKE && s->initiator && n == 0 && !s->relayed &&
		    s->rlen >= P2P_PNET_NONCE && s->rlen <= P2P_SNIFF_LEN) {
			p2p_learn(s); /* its pnet nonce (and multistream), then a close */
			snprintf(why, sizeof(why),
				 "answered with a libp2p nonce and closed: an "
				 "EdgeMesh agent?");
		} else if (s->state == SS_HANDSHAKE && s->initiator && n == 0 && s->name[0] &&
			   !s->any_rx && sess_caps_refused(s))
			snprintf(why, sizeof(why),
				 "%s closed the connection at msg1 (an older tunneld refuses the "
				 "caps byte? the next dials send the short hello)",
				 s->name);
		else if (s->state == SS_HANDSHAKE && s->initiator && n == 0 && s->name[0])
			snprintf(why, sizeof(why),
				 "%s closed the connection during the handshake "
				 "(PSK mismatch? see its log)",
				 s->name);
		else if (s->state == SS_HANDSHAKE && !s->initiator && n == 0 && s->rlen == 0 &&
			 !s->any_rx)
			snprintf(why, sizeof(why), TUN_WHY_PROBE); /* a REACH probe */
		if (s->relayed && tun_migrate_path_lost(s, why))
			return; /* waits for a path through another relay */
		tun_session_close(s, why);
		return;
	}
	s->rlen += (size_t)n;
	s->any_rx = 1;
	/* the shared port: an EdgeMesh agent's libp2p, or ours (p2p_setup.c) */
	if (s->state == SS_HANDSHAKE && !s->initiator && !s->relayed && s->ws == NULL &&
	    !s->sniffed) {
		int k = p2p_sniff_session(s);

		if (k <= 0)
			return; /* more bytes to come, or no longer ours */
	}
	run.n = 0;
	run.len = 0;
	s->busy = 1;
	while (s->state != SS_DEAD && s->rlen - off >= 2 && !tun_migrate_rx_hold(s)) {
		len = be16_get(s->rbuf + off);
		if (s->state == SS_HANDSHAKE) {
			/* 00 00 is no handshake message: a new path for a session */
			if (len == 0 && off == 0 && !s->initiator && s->name[0] == '\0') {
				if (s->rlen >= TUN_MIG_HELLO)
					tun_migrate_accept(s);
				break;
			}
			if ((len == 0 || 2 + len > TUN_HS_MAX) && off == 0 && s->initiator &&
			    !s->relayed && s->rlen >= P2P_PNET_NONCE) {
				/* random bytes where msg2 should be: a pnet nonce */
				p2p_learn(s);
				tun_session_close(s, "answered with no msg2 but random bytes (a "
						     "libp2p nonce: an EdgeMesh agent?)");
				break;
			}
			if ((len == 0 || 2 + len > TUN_HS_MAX) && off == 0 && !s->initiator &&
			    s->name[0] == '\0' && !s->relayed) {
				/* EdgeMesh sends no fingerprint: say what was seen */
				log_warnx(
				    "connection from %s: not our handshake (length %zu), not "
				    "libp2p with our PSK: an EdgeMesh agent with another PSK?",
				    s->addr, len);
				tun_session_close(s, "not our handshake, not libp2p with our PSK");
				break;
			}
			if (len == 0 || 2 + len > TUN_HS_MAX) {
				tun_session_close(s, "handshake: message length out of range");
				break;
			}
			if (s->rlen - off < 2 + len)
				break;
			off += 2 + len;
			if (sess_hs_input(s, s->rbuf + off - len, len) == -1)
				break;
			continue;
		}
		if (s->state != SS_UP)
			break;
		if (s->rlen - off < 2 + len)
			break;
		off += 2 + len;
		if (sess_rec_input(s, s->rbuf + off - len, len, &run) == -1)
			break;
	}
	if (s->state == SS_UP && run.n > 0)
		tun_mux_data(s, &run); /* before rbuf moves */
	s->busy = 0;
	if (s->state == SS_DEAD) {
		sess_release(s);
		return;
	}
	if (off > 0) {
		buf_consume(s->rbuf, &s->rlen, off);
	}
	if (s->rlen == s->rcap) { /* cannot happen with rcap >= one message */
		tun_session_close(s, "read buffer full");
		return;
	}
}

static void
sess_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_session *s = w->data;
	uint8_t ts[8];
	ev_tstamp now = ev_now(loop);
	char why[200], ip[64];

	if (s->state != SS_UP) {
		snprintf(why, sizeof(why), "handshake timeout (%.0fs)", TUN_HS_TIMEOUT);
		if (s->initiator && s->state == SS_HANDSHAKE)
			log_warnx("handshake with %s at %s timed out", s->name,
				  sess_ip(s, ip, sizeof(ip)));
		else if (s->initiator)
			snprintf(why, sizeof(why), "connect to %s timed out", s->addr);
		tun_session_close(s, why);
		return;
	}
	if (s->draining && s->nstreams == 0) {
		tun_session_close(s, "duplicate session drained");
		return;
	}
	if (s->pings_out >= TUN_PING_MISSES) {
		snprintf(why, sizeof(why), "no answer to %d keepalives", TUN_PING_MISSES);
		log_warnx("session with %s at %s is dead: %s", s->name, s->addr, why);
		if (s->relayed && tun_migrate_path_lost(s, why))
			return; /* the relay, or its link to the peer, is gone */
		tun_session_close(s, why);
		return;
	}
	if (now - s->rekey_at >= TUN_REKEY_SECS)
		s->rekey_due = 1;
	tun_reach_tick(s, now);
	wbuf_shrink(s);
	be64_put(ts, (uint64_t)(ev_time() * 1e6));
	s->pings_out++;
	tun_session_frame(s, TUN_F_PING, 0, ts, sizeof(ts));
	s->busy = 1;
	s->busy = 0;
	if (s->state == SS_DEAD)
		sess_release(s);
}

/* A PONG came back. */
void
tun_session_pong(struct tun_session *s, const uint8_t *p)
{
	uint64_t then = be64_get(p), now = (uint64_t)(ev_time() * 1e6);

	s->pings_out = 0;
	tun_relaysel_pong(s);
	if (now >= then) {
		s->rtt_us = now - then;
		tun_ping_pong(s, s->rtt_us);
	}
}

/* A PING out of turn (edgemeshctl ping); its PONG updates the RTT as any other. */
void
tun_session_ping(struct tun_session *s)
{
	uint8_t ts[8];

	be64_put(ts, (uint64_t)(ev_time() * 1e6));
	tun_session_frame(s, TUN_F_PING, 0, ts, sizeof(ts));
	tun_session_dirty(s);
}

/*
 * Hand-over: a session that is up already, on fd, for the successor to
 * fill in (name, cipher states, buffers, streams).  Its keepalive runs,
 * its read watcher is on.
 */
struct tun_session *
tun_session_adopt(struct tunneld *t, int fd, int initiator)
{
	struct tun_session *s = sess_new(t, fd, initiator);

	noise_hs_free(s->hs);
	s->hs = NULL;
	if ((s->cs = sodium_malloc(2 * sizeof(struct noise_cs))) == NULL)
		fatal("%s: sodium_malloc", __func__);
	memset(s->cs, 0, 2 * sizeof(struct noise_cs));
	s->rbuf = xreallocarray(s->rbuf, 1, TUN_RBUF);
	s->rcap = TUN_RBUF;
	s->state = SS_UP;
	s->any_rx = 1;
	ev_timer_stop(t->d->loop, &s->tick);
	ev_timer_set(&s->tick, TUN_PING_PERIOD, TUN_PING_PERIOD);
	ev_timer_start(t->d->loop, &s->tick);
	ev_io_start(t->d->loop, &s->rw);
	return s;
}

/*
 * Hand-over done: let go of a session without a word to the peer or the
 * openers (the successor has its socket and its streams): watchers off,
 * our copies of the fds closed, keys wiped.
 */
void
tun_session_forget(struct tun_session *s)
{
	struct tunneld *t = s->t;
	struct hmap_iter it;
	const void *k;
	void *v;

	ev_io_stop(t->d->loop, &s->rw);
	ev_io_stop(t->d->loop, &s->ww);
	ev_timer_stop(t->d->loop, &s->tick);
	if (s->dirty)
		LIST_REMOVE(s, dlink);
	s->dirty = 0;
	LIST_REMOVE(s, link);
	if (s->preauth_slot != -1)
		t->preauth[s->preauth_slot] = NULL;
	for (;;) {
		hmap_iter_init(&it);
		if (!hmap_nextb(s->streams, &it, &k, NULL, &v))
			break;
		tun_stream_free(v);
	}
	if (s->peer != NULL && s->peer->sess == s)
		s->peer->sess = NULL;
	s->state = SS_DEAD;
	tun_migrate_gone(s);
	tun_punch_gone(s);
	if (s->ws != NULL)
		tun_ws_session_gone(s);
	if (s->fd != -1)
		close(s->fd);
	if (s->hs != NULL)
		noise_hs_free(s->hs);
	if (s->cs != NULL) {
		noise_cs_wipe(&s->cs[0]);
		noise_cs_wipe(&s->cs[1]);
		sodium_free(s->cs);
	}
	sodium_memzero(s->rbuf, s->rcap);
	sess_release(s);
}
