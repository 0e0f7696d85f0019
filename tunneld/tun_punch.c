/*
 * Hole punching: a pair of nodes whose session runs through a relay opens
 * a direct TCP connection by simultaneous open and moves the session onto
 * it (tun_migrate.c), streams and all.
 *
 *   relay R, on each session a node dialled to it: OBSERVED "ip:port" (the
 *   address the connection comes from, the node's NAT mapping).
 *   A (the relayed session's initiator), a second after it is up:
 *     PUNCH {OFFER, flags, A's address as R sees it}     (inside the session)
 *   B: PUNCH {ANSWER, flags, B's address as R sees it} and starts connecting
 *   A: on the answer, starts connecting.
 *   Both connect from the punch port: every dial to a relay (and, while
 *   we relay for nobody, to any address off our subnets: a relay found
 *   without configuration is dialled before it is known as one) leaves
 *   from it (SO_REUSEADDR/SO_REUSEPORT), so our session with R comes from
 *   it too, and an endpoint-independent NAT (iptables MASQUERADE) maps the
 *   punch to the address R saw, the address the other end connects to.
 *   One SYN each way crossing (or one dropped by the other NAT, the other
 *   then let in as the reply of ours) opens the connection.  A try ends at
 *   a refusal (the other NAT's RST while its own SYN is not out yet) or
 *   after PUNCH_CONNECT; PUNCH_TRIES tries, PUNCH_GAP apart.
 *
 * The listen port itself is not used: its socket is made before privdrop,
 * by root, and SO_REUSEPORT shares a port only between sockets of one user
 * (and a listener's port cannot be shared by SO_REUSEADDR alone).
 *
 * A symmetric NAT (MASQUERADE --random-fully) maps each connection to
 * another port: two relays report different ports for us (then we neither
 * offer nor answer, flag SYMMETRIC), or the tries fail.  A failed round is
 * retried after PUNCH_BACKOFF, doubling, PUNCH_ROUNDS rounds per relayed
 * session at most; the first failure with a peer is logged (warning), the
 * later ones only at debug.
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

#include "log.h"
#include "netaddr.h"
#include "tunneld.h"

#define PUNCH_FIRST   1.0  /* seconds after the relayed session is up */
#define PUNCH_TRIES   6	   /* connects per round */
#define PUNCH_GAP     0.3  /* between them */
#define PUNCH_CONNECT 0.7  /* one connect (one SYN) at most */
#define PUNCH_ANSWER  5.0  /* the offer's answer */
#define PUNCH_ROUNDS  4	   /* per relayed session */
#define PUNCH_BACKOFF 30.0 /* before the second round, then doubling */
#define PUNCH_OBS_MAX 8	   /* relays whose observation we keep */

enum { PK_OFFER = 1, PK_ANSWER = 2 };
enum { PF_NONE = 1 /* no address to punch from */, PF_SYMMETRIC = 2 };

struct tun_punch {
	struct tun_session *s;
	int rounds;
	int tries;
	int fd;		   /* the connect in progress, or -1 */
	unsigned busy : 1; /* a round is running (offered, connecting) */
	unsigned migrating : 1;
	int lport; /* our side: the port of our session with the relay */
	struct sockaddr_storage to;
	socklen_t tolen;
	char toaddr[64];
	double backoff;
	ev_io w;
	ev_timer timer; /* the next round, the answer's deadline, the next try */
	ev_timer gap;
};

/* What relays see of us: relay node -> ip:port. */
static struct {
	char relay[254];
	char addr[64];
	int lport; /* our side of that session */
} obs[PUNCH_OBS_MAX];

/* Relays a dial from the punch port failed to (its 4-tuple still taken):
 * dialled from any port from then on. */
static char unbound[PUNCH_OBS_MAX][254];

static void punch_round(struct tun_punch *);
static void punch_try(struct tun_punch *);

const char *
tun_session_path(const struct tun_session *s)
{
	if (s->ws != NULL) /* tun_ws.c: inside a WebSocket */
		return "ws";
	if (s->relayed)
		return "relay";
	return s->punched ? "punched" : "direct";
}

static void
share_port(int fd)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
}

static int
bind_port(int fd, int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	}
	return bind(fd, (struct sockaddr *)&ss, sl);
}

static int
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The port every dial to a relay leaves from: picked by the first. */
static int punch_port;

/* Dials that leave from the punch port: to relays (hinted, or that offered
 * relaying) and, while we offer no relaying, to every address off our
 * subnets: the first dial to a relay found without configuration
 * (tun_relaysel.c) is made before it is known as one, and the session it
 * opens is the one the relay reports (OBSERVED) and we punch from. */
static int
punch_dial(struct tunneld *t, const char *peer, const char *ip)
{
	return tun_relay_candidate(t, peer) || (!tun_relay_offered(t) && !tun_ip_onlink(ip));
}

void
tun_punch_dial_socket(struct tunneld *t, int fd, const char *peer, const char *ip, int family)
{
	int i;

	if (!punch_dial(t, peer, ip))
		return;
	for (i = 0; i < PUNCH_OBS_MAX; i++)
		if (strcmp(unbound[i], peer) == 0)
			return;
	share_port(fd);
	if (bind_port(fd, family, punch_port) == -1) {
		log_debug("cannot bind a dial to %s to port %d: %s", peer, punch_port,
			  strerror(errno));
		return; /* an ordinary dial */
	}
	if (punch_port == 0 && (punch_port = local_port(fd)) != 0)
		log_debug("dials to relays leave from port %d", punch_port);
}

/* A connect from the punch port failed at once (its 4-tuple still in
 * TIME_WAIT: EADDRNOTAVAIL): 1 when the peer is dialled from any port from
 * now on (the caller dials again at once), 0 when it already was. */
int
tun_punch_dial_failed(struct tunneld *t, const char *peer, const char *ip, int err)
{
	int i;

	if ((err != EADDRNOTAVAIL && err != EADDRINUSE) || !punch_dial(t, peer, ip))
		return 0;
	for (i = 0; i < PUNCH_OBS_MAX; i++)
		if (unbound[i][0] == '\0' || strcmp(unbound[i], peer) == 0)
			break;
	if (i < PUNCH_OBS_MAX && unbound[i][0] != '\0')
		return 0;
	log_info("cannot dial %s from port %d (%s): dialling it from any port", peer, punch_port,
		 strerror(err));
	snprintf(unbound[i % PUNCH_OBS_MAX], sizeof(unbound[0]), "%s", peer);
	return 1;
}

/* "1.2.3.4:5", "[fd00::1]:5" */
static int
parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char ip[64];
	const char *c;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if ((c = strrchr(text, ':')) == NULL || (size_t)(c - text) >= sizeof(ip))
		return -1;
	port = strtol(c + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	if (text[0] == '[' && c > text + 1 && c[-1] == ']') {
		snprintf(ip, sizeof(ip), "%.*s", (int)(c - text - 2), text + 1);
		if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	snprintf(ip, sizeof(ip), "%.*s", (int)(c - text), text);
	if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len = sizeof(*sin);
	return 0;
}

static const char *
obs_get(const char *relay)
{
	int i;

	for (i = 0; i < PUNCH_OBS_MAX; i++)
		if (strcmp(obs[i].relay, relay) == 0)
			return obs[i].addr;
	return NULL;
}

/* Two relays saw us at one IP but different ports: our NAT picks a port
 * per destination (symmetric), a punched hole would not be where the peer
 * looks. */
static int
obs_symmetric(void)
{
	const char *a, *b;
	int i, j;

	for (i = 0; i < PUNCH_OBS_MAX; i++)
		for (j = i + 1; j < PUNCH_OBS_MAX; j++) {
			if (obs[i].relay[0] == '\0' || obs[j].relay[0] == '\0' ||
			    obs[i].lport != obs[j].lport) /* two ports of ours map apart */
				continue;
			a = strrchr(obs[i].addr, ':');
			b = strrchr(obs[j].addr, ':');
			if (a - obs[i].addr == b - obs[j].addr &&
			    strncmp(obs[i].addr, obs[j].addr, (size_t)(a - obs[i].addr)) == 0 &&
			    strcmp(a, b) != 0)
				return 1;
		}
	return 0;
}

/* A relay tells us where our session with it comes from. */
void
tun_punch_observed(struct tun_session *s, const uint8_t *p, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char addr[64];
	int i, free_slot = -1;

	if (s->relayed || !tun_relay_candidate(s->t, s->name))
		return;
	if (s->ws != NULL) { /* the relay sees our proxy's connection, no port of ours */
		log_debug("relay %s: our session with it is in WebSocket: not punching from it",
			  s->name);
		return;
	}
	snprintf(addr, sizeof(addr), "%.*s", (int)len, (const char *)p);
	if (parse_addr(addr, &ss, &sl) == -1) {
		log_warnx("relay %s: OBSERVED carries no address (%s): ignored", s->name, addr);
		return;
	}
	for (i = 0; i < PUNCH_OBS_MAX; i++) {
		if (strcmp(obs[i].relay, s->name) == 0)
			break;
		if (obs[i].relay[0] == '\0' && free_slot == -1)
			free_slot = i;
	}
	if (i == PUNCH_OBS_MAX)
		i = free_slot != -1 ? free_slot : 0;
	if (strcmp(obs[i].relay, s->name) == 0 && strcmp(obs[i].addr, addr) == 0)
		return;
	snprintf(obs[i].relay, sizeof(obs[i].relay), "%s", s->name);
	snprintf(obs[i].addr, sizeof(obs[i].addr), "%s", addr);
	obs[i].lport = local_port(s->fd);
	log_info("relay %s sees our session with it coming from %s", s->name, addr);
	if (obs_symmetric())
		log_warnx_once("punch:symmetric",
			       "relays see us at different ports (our NAT maps each "
			       "destination to its own port: symmetric): no hole punching");
}

static void
punch_stop_connect(struct tun_punch *pu)
{
	ev_io_stop(pu->s->t->d->loop, &pu->w);
	if (pu->fd != -1)
		close(pu->fd);
	pu->fd = -1;
}

static void
punch_free(struct tun_punch *pu)
{
	struct ev_loop *loop = pu->s->t->d->loop;

	punch_stop_connect(pu);
	ev_timer_stop(loop, &pu->timer);
	ev_timer_stop(loop, &pu->gap);
	pu->s->punch = NULL;
	free(pu);
}

/* A round failed: back off (bounded), say so once per peer. */
static void
punch_failed(struct tun_punch *pu, const char *why)
{
	struct tun_session *s = pu->s;
	char key[300];

	punch_stop_connect(pu);
	ev_timer_stop(s->t->d->loop, &pu->gap);
	ev_timer_stop(s->t->d->loop, &pu->timer);
	pu->busy = 0;
	pu->migrating = 0;
	snprintf(key, sizeof(key), "punchfail:%s", s->name);
	log_warnx_once(key,
		       "hole punching with %s failed (%s): staying relayed through %s; "
		       "%d more rounds at most, %.0fs apart and more",
		       s->name, why, s->addr, PUNCH_ROUNDS - pu->rounds, pu->backoff);
	log_debug("hole punching with %s: round %d failed: %s", s->name, pu->rounds, why);
	if (!s->initiator)
		return; /* the initiator offers again */
	if (pu->rounds >= PUNCH_ROUNDS) {
		log_debug("hole punching with %s: no more rounds", s->name);
		return;
	}
	ev_timer_set(&pu->timer, pu->backoff, 0.);
	ev_timer_start(s->t->d->loop, &pu->timer);
	pu->backoff *= 2;
}

/* Our side's port and address for punching through relay s->addr: 0, or
 * -1 with flags set. */
static int
punch_local(struct tun_punch *pu, const char **addr, int *flags)
{
	struct tunneld *t = pu->s->t;
	struct tun_peer *r = tun_peer_get(t, pu->s->addr, 0);

	*flags = 0;
	*addr = obs_get(pu->s->addr);
	if (obs_symmetric())
		*flags |= PF_SYMMETRIC;
	if (*addr == NULL || r == NULL || r->sess == NULL || r->sess->state != SS_UP ||
	    r->sess->relayed || !r->sess->initiator || (pu->lport = local_port(r->sess->fd)) == 0)
		*flags |= PF_NONE;
	return *flags != 0 ? -1 : 0;
}

static void
punch_send(struct tun_punch *pu, int kind, int flags, const char *addr)
{
	uint8_t buf[2 + 64];
	size_t n = addr != NULL ? strnlen(addr, 63) : 0;

	buf[0] = (uint8_t)kind;
	buf[1] = (uint8_t)flags;
	if (n > 0)
		memcpy(buf + 2, addr, n);
	tun_session_frame(pu->s, TUN_F_PUNCH, 0, buf, 2 + n);
	tun_session_dirty(pu->s);
}

static void
punch_gap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	punch_try(w->data);
}

/* This try is over (refused, timed out): the next, or the round failed. */
static void
punch_next(struct tun_punch *pu, const char *why)
{
	punch_stop_connect(pu);
	ev_timer_stop(pu->s->t->d->loop, &pu->timer);
	if (pu->tries >= PUNCH_TRIES) {
		char reason[160];

		snprintf(reason, sizeof(reason), "%d connects to %s: last %s", pu->tries,
			 pu->toaddr, why);
		punch_failed(pu, reason);
		return;
	}
	ev_timer_set(&pu->gap, PUNCH_GAP, 0.);
	ev_timer_start(pu->s->t->d->loop, &pu->gap);
}

static void
punch_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_punch *pu = w->data;
	struct tun_session *s = pu->s;
	int err, fd, one = 1;

	err = net_sock_error(pu->fd);
	if (err != 0) {
		punch_next(pu, strerror(err));
		return;
	}
	ev_io_stop(loop, &pu->w);
	ev_timer_stop(loop, &pu->timer);
	fd = pu->fd;
	pu->fd = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->mig != NULL) { /* the other end's connect made it first: same path */
		close(fd);
		return;
	}
	log_debug("hole punching with %s: connected to %s (try %d)", s->name, pu->toaddr,
		  pu->tries);
	pu->migrating = 1;
	if (tun_session_migrate(s, fd, pu->toaddr, 0) == -1) {
		close(fd);
		punch_failed(pu, "cannot start the migration");
	}
}

static void
punch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_punch *pu = w->data;

	if (pu->fd != -1) {
		punch_next(pu, "timed out");
		return;
	}
	if (pu->busy) {
		punch_failed(pu, "no answer to the offer");
		return;
	}
	punch_round(pu);
}

/* One connect from our relay session's port to the peer's observed address. */
static void
punch_try(struct tun_punch *pu)
{
	struct tun_session *s = pu->s;
	struct ev_loop *loop = s->t->d->loop;
	char why[128];

	if (s->mig != NULL)
		return; /* a path is being taken */
	pu->tries++;
	pu->fd = socket(pu->to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pu->fd == -1) {
		punch_next(pu, strerror(errno));
		return;
	}
	share_port(pu->fd);
	if (bind_port(pu->fd, pu->to.ss_family, pu->lport) == -1) {
		snprintf(why, sizeof(why), "bind to port %d: %s", pu->lport, strerror(errno));
		punch_next(pu, why);
		return;
	}
	if (connect(pu->fd, (struct sockaddr *)&pu->to, pu->tolen) == -1 && errno != EINPROGRESS) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		punch_next(pu, why);
		return;
	}
	ev_io_init(&pu->w, punch_io_cb, pu->fd, EV_WRITE);
	pu->w.data = pu;
	ev_io_start(loop, &pu->w);
	ev_timer_stop(loop, &pu->timer);
	ev_timer_set(&pu->timer, PUNCH_CONNECT, 0.);
	ev_timer_start(loop, &pu->timer);
}

static void
punch_start(struct tun_punch *pu, const char *peer_addr)
{
	pu->busy = 1;
	pu->tries = 0;
	snprintf(pu->toaddr, sizeof(pu->toaddr), "%s", peer_addr);
	if (parse_addr(peer_addr, &pu->to, &pu->tolen) == -1) {
		punch_failed(pu, "the peer sent a bad address");
		return;
	}
	log_info("hole punching with %s: connecting from port %d to %s", pu->s->name, pu->lport,
		 peer_addr);
	punch_try(pu);
}

/* Initiator: offer a round. */
static void
punch_round(struct tun_punch *pu)
{
	struct tun_session *s = pu->s;
	const char *addr;
	int flags;

	if (s->state != SS_UP || !s->relayed || s->draining || pu->busy)
		return;
	if (pu->rounds >= PUNCH_ROUNDS)
		return;
	pu->rounds++;
	if (punch_local(pu, &addr, &flags) == -1) {
		punch_failed(pu, flags & PF_SYMMETRIC ? "our NAT is symmetric"
						      : "relay gave us no address to punch from");
		return;
	}
	log_info("hole punching with %s: round %d of %d, we are at %s (as relay %s sees us)",
		 s->name, pu->rounds, PUNCH_ROUNDS, addr, s->addr);
	pu->busy = 1;
	punch_send(pu, PK_OFFER, 0, addr);
	ev_timer_stop(s->t->d->loop, &pu->timer);
	ev_timer_set(&pu->timer, PUNCH_ANSWER, 0.);
	ev_timer_start(s->t->d->loop, &pu->timer);
}

void
tun_punch_input(struct tun_session *s, const uint8_t *p, size_t len)
{
	struct tun_punch *pu = s->punch;
	char addr[64];
	const char *mine;
	int flags;

	snprintf(addr, sizeof(addr), "%.*s", (int)(len - 2), (const char *)p + 2);
	if (pu == NULL || !s->relayed || s->mig != NULL) {
		if (p[0] == PK_OFFER) { /* not (or no more) relayed here */
			uint8_t no[2] = {PK_ANSWER, PF_NONE};

			tun_session_frame(s, TUN_F_PUNCH, 0, no, sizeof(no));
		}
		return;
	}
	if (p[0] == PK_OFFER && !s->initiator) {
		punch_stop_connect(pu);
		ev_timer_stop(s->t->d->loop, &pu->gap);
		if (++pu->rounds > PUNCH_ROUNDS) { /* the initiator keeps count too */
			punch_send(pu, PK_ANSWER, PF_NONE, NULL);
			return;
		}
		if (punch_local(pu, &mine, &flags) == -1 || (p[1] & (PF_NONE | PF_SYMMETRIC))) {
			punch_send(pu, PK_ANSWER, flags | PF_NONE, NULL);
			punch_failed(pu, flags & PF_SYMMETRIC ? "our NAT is symmetric"
							      : "no address to punch with");
			return;
		}
		punch_send(pu, PK_ANSWER, 0, mine);
		punch_start(pu, addr);
		return;
	}
	if (p[0] == PK_ANSWER && s->initiator && pu->busy && pu->fd == -1 && pu->tries == 0) {
		ev_timer_stop(s->t->d->loop, &pu->timer);
		if ((p[1] & (PF_NONE | PF_SYMMETRIC)) || len <= 2) {
			punch_failed(pu, p[1] & PF_SYMMETRIC ? "its NAT is symmetric"
							     : "it has no address to punch with");
			return;
		}
		punch_start(pu, addr);
		return;
	}
	log_debug("hole punching with %s: PUNCH %u out of turn, ignored", s->name, p[0]);
}

void
tun_punch_migrated(struct tun_session *s, int ok)
{
	struct tun_punch *pu = s->punch;

	if (pu == NULL || !pu->migrating)
		return;
	if (!ok) {
		punch_failed(pu, "the direct path did not take the session");
		return;
	}
	s->punched = 1;
	log_info("hole punched: session with %s is direct now, at %s (round %d, try %d)", s->name,
		 s->addr, pu->rounds, pu->tries);
	punch_free(pu);
}

void
tun_punch_session_up(struct tun_session *s)
{
	struct tunneld *t = s->t;
	struct tun_punch *pu;

	/* a relay: tell a node that dialled us where it comes from */
	if (!s->relayed && !s->initiator && tun_relay_offered(t))
		tun_session_frame(s, TUN_F_OBSERVED, 0, s->addr, strnlen(s->addr, 63));
	if (!s->relayed || s->punch != NULL)
		return;
	pu = xcalloc(1, sizeof(*pu));
	pu->s = s;
	pu->fd = -1;
	pu->backoff = PUNCH_BACKOFF;
	ev_timer_init(&pu->timer, punch_timer_cb, PUNCH_FIRST, 0.);
	ev_timer_init(&pu->gap, punch_gap_cb, PUNCH_GAP, 0.);
	pu->timer.data = pu->gap.data = pu;
	s->punch = pu;
	if (s->initiator)
		ev_timer_start(t->d->loop, &pu->timer);
}

void
tun_punch_gone(struct tun_session *s)
{
	if (s->punch != NULL)
		punch_free(s->punch);
}
