/*
 * Relays (modules.edgeTunnel.relayNodes, or peers the controller marked
 * relay): every node keeps a session with each relay node, so a node behind
 * a NAT stays reachable through it.  When no direct session to B can be
 * had, A asks a relay R for a circuit to B:
 *
 *   A: stream on the A-R session, OPEN {CIRCUIT, TO, "B"}; the stream's fd
 *      is one end of a socketpair, a normal session (initiator) runs over
 *      the other end.
 *   R: only if it is a relay and has an up direct session with B: a
 *      socketpair, one end for the A-R stream, the other for a stream it
 *      opens on the R-B session with OPEN {CIRCUIT, FROM, "A"}.  The two
 *      streams are spliced by the socketpair (ordinary streams with their
 *      windows, FIN, RST).  OPEN_OK to A once B answered OPEN_OK.
 *   B: a stream on the R-B session with a socketpair end as its fd, a
 *      normal responder session over the other end; it must say it is A.
 *
 * A and B run Noise XXpsk3 end to end inside the circuit: the relay only
 * moves ciphertext.  The relayed session is B's session at A (path
 * "relay"); direct dials go on with backoff and a direct session, when one
 * comes up, replaces the relayed one (which drains).
 */
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tunneld.h"

int
tun_is_relay(struct tunneld *t, const char *name)
{
	const struct em_config *cfg = &t->d->cfg;
	const struct em_object *o;
	size_t i;

	for (i = 0; i < cfg->tunnel.n_relays; i++)
		if (strcmp(cfg->tunnel.relays[i].node_name, name) == 0)
			return 1;
	o = replica_get(t->d->replica, EM_TOPIC_PEERS, name);
	return o != NULL && o->u.peer->relay;
}

/* The advertiseAddress list of relay node name (config), dialed first. */
size_t
tun_relay_addrs(struct tunneld *t, const char *name, const char **out, size_t max)
{
	const struct em_config *cfg = &t->d->cfg;
	size_t i, j, n = 0;

	for (i = 0; i < cfg->tunnel.n_relays; i++) {
		if (strcmp(cfg->tunnel.relays[i].node_name, name) != 0)
			continue;
		for (j = 0; j < cfg->tunnel.relays[i].naddrs && n < max; j++)
			if (cfg->tunnel.relays[i].addrs[j][0] != '\0')
				out[n++] = cfg->tunnel.relays[i].addrs[j];
	}
	return n;
}

static void
relay_keep(struct tunneld *t, const char *name)
{
	struct tun_peer *p;

	if (strcmp(name, t->d->cfg.node_name) == 0)
		return;
	p = tun_peer_get(t, name, 1);
	p->want = 1;
	if (p->sess == NULL && p->dialing == NULL && !ev_is_active(&p->retry))
		tun_peer_dial(p);
}

/* Every relay node we know: a session, kept up (tun_peer_lost redials). */
void
tun_relays_check(struct tunneld *t)
{
	const struct em_config *cfg = &t->d->cfg;
	const struct em_object *o;
	struct replica_iter it;
	size_t i;

	for (i = 0; i < cfg->tunnel.n_relays; i++)
		if (cfg->tunnel.relays[i].node_name[0] != '\0')
			relay_keep(t, cfg->tunnel.relays[i].node_name);
	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_PEERS, &it, &o))
		if (o->u.peer->relay)
			relay_keep(t, o->u.peer->name);
	tun_relaysel_check(t);
}

static int
relay_named(const struct em_config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->tunnel.n_relays; i++)
		if (strcmp(c->tunnel.relays[i].node_name, name) == 0)
			return 1;
	return 0;
}

/* The config file changed (common/cfgwatch.c): relayNodes, a hint, is
 * taken at once; other keys wait for the next start. */
void
tun_relays_reload(void *arg, const struct em_config *nc)
{
	struct tunneld *t = arg;
	struct em_config *c = &t->d->cfg;
	struct tun_peer *p;
	char names[512];
	size_t i, len = 0;

	names[0] = '\0';
	for (i = 0; i < c->tunnel.n_relays; i++) {
		if (relay_named(nc, c->tunnel.relays[i].node_name))
			continue;
		/* dropped from the hint: stop redialing it unless it is in use */
		p = tun_peer_get(t, c->tunnel.relays[i].node_name, 0);
		if (p != NULL && p->sess == NULL && p->npending == 0) {
			p->want = 0;
			ev_timer_stop(t->d->loop, &p->retry);
		}
	}
	c->tunnel.n_relays = nc->tunnel.n_relays;
	memcpy(c->tunnel.relays, nc->tunnel.relays, sizeof(c->tunnel.relays));
	for (i = 0; i < c->tunnel.n_relays && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i > 0 ? ", " : "",
					c->tunnel.relays[i].node_name);
	log_info("relayNodes now: %s (other changed keys take effect at the next start)",
		 names[0] ? names : "none");
	tun_relays_check(t);
}

static void
relay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	tun_relays_check(w->data);
}

void
tun_relays_start(struct tunneld *t)
{
	ev_timer_init(&t->relay_timer, relay_timer_cb, 0.2, TUN_RELAY_CHECK);
	t->relay_timer.data = t;
	ev_timer_start(t->d->loop, &t->relay_timer);
}

static int
circ_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static struct tun_stream *
circ_stream(int fd, const char *far)
{
	struct tun_stream *st;

	st = tun_stream_new(NULL, NULL, fd, EM_PROTO_TCP);
	st->circuit = 1;
	snprintf(st->circ_name, sizeof(st->circ_name), "%s", far);
	snprintf(st->req.ip, sizeof(st->req.ip), "circuit");
	return st;
}

/*
 * A circuit to node `to` through relay r: a stream on our session with r
 * (OPEN {CIRCUIT, TO, to}); the fd of the other end of its socketpair, for
 * a session to run over, or -1.
 */
static int
relay_circuit(struct tun_peer *r, const char *to)
{
	struct tunneld *t = r->t;
	struct tun_stream *st;
	uint8_t buf[300];
	size_t n;
	int sv[2];

	if (r->sess->nstreams >= TUN_STREAMS_MAX)
		return -1;
	if ((n = tun_circuit_encode(TUN_CIRC_TO, to, buf, sizeof(buf))) == 0)
		return -1;
	if (circ_pair(sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	st = circ_stream(sv[0], to);
	st->circ_out = 1;
	tun_stream_attach(st, r->sess, 0);
	st->state = ST_OPENING;
	tun_session_frame(r->sess, TUN_F_OPEN, st->id, buf, n);
	ev_timer_start(t->d->loop, &st->tmo);
	return sv[1];
}

/* A: no direct session with p; a circuit through a relay.  1 if started. */
int
tun_relay_via(struct tun_peer *p)
{
	struct tunneld *t = p->t;
	struct tun_peer *r;
	int fd;

	if (p->relaying != NULL || (p->sess != NULL && p->sess->state == SS_UP))
		return 0;
	/* only for a peer in use (not one dialled to find relays), never to a relay */
	if ((!p->want && p->npending == 0) || tun_relay_candidate(t, p->name))
		return 0;
	if ((r = tun_relaysel_pick(t, p, NULL)) == NULL)
		return 0;
	if ((fd = relay_circuit(r, p->name)) == -1)
		return 0;
	p->relaying = tun_session_over(t, fd, 1, p->name, r->name);
	p->relaying->peer = p;
	p->relay_err[0] = '\0';
	log_info("no direct path to %s (%s): trying through relay %s", p->name,
		 p->last_err[0]	      ? p->last_err
		 : p->dialing != NULL ? "the direct dial is slow"
				      : "no address",
		 r->name);
	return 1;
}

/* Path migration (tun_migrate.c): a relay other than except that could
 * carry a circuit to p; with fd set, the circuit is opened (*fd: its
 * session end, -1 if it could not be).  The relay, or NULL. */
struct tun_peer *
tun_relay_other(struct tun_peer *p, const char *except, int *fd)
{
	struct tun_peer *r;

	if (tun_relay_candidate(p->t, p->name) || (r = tun_relaysel_pick(p->t, p, except)) == NULL)
		return NULL;
	if (fd != NULL && (*fd = relay_circuit(r, p->name)) == -1)
		return NULL;
	return r;
}

static void
circ_refuse(struct tun_session *s, uint32_t sid, const char *why)
{
	log_warnx("circuit request from %s refused: %s", s->name, why);
	tun_session_frame(s, TUN_F_OPEN_FAIL, sid, why, strlen(why));
}

/* An OPEN whose proto byte is TUN_PROTO_CIRCUIT, on session s. */
void
tun_circuit_open(struct tun_session *s, const struct tun_frame *f)
{
	struct tunneld *t = s->t;
	struct tun_peer *pb;
	struct tun_session *sb;
	struct tun_stream *x, *y, *z;
	char name[254], why[400];
	uint8_t buf[300];
	size_t n;
	int kind, sv[2];

	if ((kind = tun_circuit_decode(f->payload, f->len, name)) == -1) {
		circ_refuse(s, f->sid, "malformed circuit OPEN (unknown version?)");
		return;
	}
	if (s->relayed) {
		circ_refuse(s, f->sid, "no circuits inside a relayed session");
		return;
	}
	if (s->nstreams >= TUN_STREAMS_MAX) {
		circ_refuse(s, f->sid, "too many streams on this session");
		return;
	}
	if (kind == TUN_CIRC_FROM) {
		/* B: the relay s says name wants a session with us */
		if (!tun_relay_candidate(t, s->name)) {
			snprintf(why, sizeof(why),
				 "%s is not a relay (not in relayNodes, never offered relaying)",
				 s->name);
			circ_refuse(s, f->sid, why);
			return;
		}
		if (strcmp(name, t->d->cfg.node_name) == 0 || circ_pair(sv) == -1) {
			circ_refuse(s, f->sid, "cannot take the circuit");
			return;
		}
		z = circ_stream(sv[0], name);
		tun_stream_attach(z, s, f->sid);
		tun_session_frame(s, TUN_F_OPEN_OK, z->id, NULL, 0);
		tun_stream_start(z);
		tun_session_over(t, sv[1], 0, name, s->name);
		log_info("circuit from %s through relay %s: handshake", name, s->name);
		return;
	}
	/* R: splice s (A) to our session with name (B) */
	if (!tun_relay_offered(t)) {
		snprintf(why, sizeof(why),
			 "%s is not a relay (not in relayNodes, and no peer off its subnets "
			 "has dialled it)",
			 t->d->cfg.node_name);
		circ_refuse(s, f->sid, why);
		return;
	}
	if (strcmp(name, s->name) == 0 || strcmp(name, t->d->cfg.node_name) == 0) {
		circ_refuse(s, f->sid, "a circuit to itself");
		return;
	}
	pb = tun_peer_get(t, name, 0);
	sb = pb != NULL ? pb->sess : NULL;
	if (sb == NULL || sb->state != SS_UP || sb->draining || sb->relayed) {
		snprintf(why, sizeof(why), "no session with %s", name);
		circ_refuse(s, f->sid, why);
		return;
	}
	if (sb->nstreams >= TUN_STREAMS_MAX) {
		snprintf(why, sizeof(why), "too many streams on the session with %s", name);
		circ_refuse(s, f->sid, why);
		return;
	}
	if ((n = tun_circuit_encode(TUN_CIRC_FROM, s->name, buf, sizeof(buf))) == 0 ||
	    circ_pair(sv) == -1) {
		circ_refuse(s, f->sid, "cannot make the circuit");
		return;
	}
	x = circ_stream(sv[0], name);
	tun_stream_attach(x, s, f->sid);
	x->state = ST_OPENING;
	y = circ_stream(sv[1], s->name);
	y->circ_out = 1;
	tun_stream_attach(y, sb, 0);
	y->state = ST_OPENING;
	x->twin = y;
	y->twin = x;
	tun_session_frame(sb, TUN_F_OPEN, y->id, buf, n);
	ev_timer_start(t->d->loop, &y->tmo);
	log_info("circuit %s -> %s: relaying (streams %u and %u)", s->name, name, x->id, y->id);
}

/* OPEN_OK for a circuit stream we opened. */
void
tun_circuit_open_ok(struct tun_stream *st)
{
	struct tun_stream *x = st->twin;

	if (x != NULL) { /* R: B took it, so A may start */
		x->twin = st->twin = NULL;
		tun_session_frame(x->s, TUN_F_OPEN_OK, x->id, NULL, 0);
		tun_stream_start(x);
		log_info("circuit %s -> %s: up", x->s->name, st->s->name);
	}
	tun_stream_start(st);
}

/* OPEN_FAIL for a circuit stream we opened; st is freed. */
void
tun_circuit_open_fail(struct tun_stream *st, const char *why)
{
	struct tunneld *t = tunneld_get();
	struct tun_stream *x = st->twin;
	struct tun_peer *p;
	char reason[400];

	if (x != NULL) { /* R: tell A */
		x->twin = st->twin = NULL;
		log_warnx("circuit %s -> %s failed: %s", x->s->name, st->s->name, why);
		tun_session_frame(x->s, TUN_F_OPEN_FAIL, x->id, why,
				  strlen(why) > 300 ? 300 : strlen(why));
		tun_stream_free(x);
	} else if (st->circ_out) { /* A: the relayed session cannot come up */
		snprintf(reason, sizeof(reason), "relay %s: %s", st->s->name, why);
		log_warnx("circuit to %s through relay %s failed: %s", st->circ_name, st->s->name,
			  why);
		if ((p = tun_peer_get(t, st->circ_name, 0)) != NULL && p->relaying != NULL)
			tun_session_close(p->relaying, reason);
	}
	tun_stream_free(st);
}

/* st (one half of a circuit being opened at the relay) is going: so is
 * the other half. */
void
tun_circuit_unlink(struct tun_stream *st, const char *why)
{
	struct tun_stream *tw = st->twin;

	st->twin = NULL;
	if (tw == NULL)
		return;
	tw->twin = NULL;
	if (tw->state == ST_OPEN)
		return;
	tun_circuit_drop(tw, why);
}

/* Half of a circuit being opened at the relay, alone: its opener (A: OPEN_FAIL)
 * or the node it opened to (B: RST) is told; st is freed. */
void
tun_circuit_drop(struct tun_stream *st, const char *why)
{
	if (st->s != NULL && st->s->state == SS_UP)
		tun_session_frame(st->s, st->circ_out ? TUN_F_RST : TUN_F_OPEN_FAIL, st->id, why,
				  strlen(why));
	tun_stream_free(st);
}
