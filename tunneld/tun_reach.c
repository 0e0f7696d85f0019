/*
 * Can our peers reach us?  A node cannot see that from inside: a firewall
 * that drops inbound TCP to the tunnel port leaves its own outbound sessions
 * working.  So each end tells the other.  When a session with a peer is up
 * and we did not dial the peer directly (it dialled us, or the session runs
 * through a relay), we try a plain TCP connect to the peer's tunnel port
 * (no handshake: the peer ignores a connection that closes before its first
 * byte) and report the outcome in a REACH frame; a session we dialled
 * directly reports success at once.  Repeated every TUN_REACH_PERIOD while
 * the session is up.  The peer keeps the last report (doctor, metrics).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "tunneld.h"

#define TUN_REACH_PERIOD  120.0
#define TUN_REACH_TIMEOUT 3.0

struct tun_reach {
	struct tunneld *t;
	char peer[254];
	char addr[64];
	int fd;
	ev_io w;
	ev_timer tmo;
};

static void
reach_send(struct tunneld *t, const char *peer, int ok, const char *why)
{
	struct tun_peer *p = tun_peer_get(t, peer, 0);
	uint8_t buf[200];
	size_t n = strnlen(why, sizeof(buf) - 1);

	if (p == NULL || p->sess == NULL || p->sess->state != SS_UP)
		return;
	buf[0] = (uint8_t)(ok != 0);
	memcpy(buf + 1, why, n);
	tun_session_frame(p->sess, TUN_F_REACH, 0, buf, 1 + n);
	tun_session_dirty(p->sess);
}

static void
reach_done(struct tun_reach *r, int err)
{
	char why[160];

	if (err == 0)
		snprintf(why, sizeof(why), "connected to %s", r->addr);
	else
		snprintf(why, sizeof(why), "connect to %s: %s", r->addr, strerror(err));
	reach_send(r->t, r->peer, err == 0, why);
	ev_io_stop(r->t->d->loop, &r->w);
	ev_timer_stop(r->t->d->loop, &r->tmo);
	close(r->fd);
	free(r);
}

static void
reach_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_reach *r = w->data;

	reach_done(r, net_sock_error(r->fd));
}

static void
reach_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	reach_done(w->data, ETIMEDOUT);
}

/* A plain connect to the peer's tunnel port (its first address as a dial
 * would take them: our own subnets first); reported when it ends. */
static void
reach_probe(struct tunneld *t, const char *peer)
{
	const char *addrs[EM_CFG_LIST_MAX + EM_MAX_ADDRS + TUN_LEARNED_MAX];
	struct sockaddr_in sa;
	struct tun_reach *r;
	size_t i, n;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)t->d->cfg.tunnel.listen_port);
	n = tun_peer_addrs(t, tun_peer_get(t, peer, 1), addrs, sizeof(addrs) / sizeof(addrs[0]));
	for (i = 0; i < n; i++)
		if (inet_pton(AF_INET, addrs[i], &sa.sin_addr) == 1)
			break;
	if (i == n)
		return; /* no address to try: nothing to say */
	r = xcalloc(1, sizeof(*r));
	r->t = t;
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	snprintf(r->addr, sizeof(r->addr), "%s:%d", addrs[i], t->d->cfg.tunnel.listen_port);
	if ((r->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		free(r);
		return;
	}
	if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS) {
		r->w.data = r;
		ev_io_init(&r->w, reach_io, r->fd, EV_WRITE);
		ev_timer_init(&r->tmo, reach_timeout, TUN_REACH_TIMEOUT, 0.);
		reach_done(r, errno);
		return;
	}
	ev_io_init(&r->w, reach_io, r->fd, EV_WRITE);
	r->w.data = r;
	ev_io_start(t->d->loop, &r->w);
	ev_timer_init(&r->tmo, reach_timeout, TUN_REACH_TIMEOUT, 0.);
	r->tmo.data = r;
	ev_timer_start(t->d->loop, &r->tmo);
}

/* From the session's tick and when it comes up: time to tell the peer? */
void
tun_reach_tick(struct tun_session *s, ev_tstamp now)
{
	if (s->state != SS_UP || s->draining || now < s->reach_next)
		return;
	s->reach_next = now + TUN_REACH_PERIOD;
	if (s->initiator && !s->relayed && !s->punched) /* a punch is no dial */
		reach_send(s->t, s->name, 1,
			   s->ws != NULL ? "dialled its WebSocket port" : "dialled directly");
	else
		reach_probe(s->t, s->name);
}

/* The peer's report about reaching us. */
void
tun_reach_input(struct tun_session *s, const uint8_t *p, size_t len)
{
	struct tun_peer *peer = s->peer != NULL ? s->peer : tun_peer_get(s->t, s->name, 0);
	int ok = p[0] != 0;

	if (peer == NULL)
		return;
	if (!ok && (!peer->reach_known || peer->reach_ok))
		log_warnx("%s reports it cannot reach our tunnel port: %.*s", s->name,
			  (int)(len - 1), (const char *)p + 1);
	peer->reach_known = 1;
	peer->reach_ok = ok;
	snprintf(peer->reach_why, sizeof(peer->reach_why), "%.*s", (int)(len - 1),
		 (const char *)p + 1);
}
