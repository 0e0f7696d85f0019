/*
 * Peers: the nodes of the peers topic (Node status.addresses), one record
 * per node we talk to.  A peer has at most one session in use; OPENs wait
 * (bounded) in its pending queue while a session is dialed on demand.  A
 * peer that was used is redialed after a loss with exponential backoff and
 * jitter.  Two sessions to one node (both sides dialed at once) resolve to
 * the one dialed by the node with the smaller name; the other drains.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tunneld.h"

static void peer_retry_cb(struct ev_loop *, ev_timer *, int);
static void peer_eyeball_cb(struct ev_loop *, ev_timer *, int);

struct tun_peer *
tun_peer_get(struct tunneld *t, const char *name, int create)
{
	struct tun_peer *p;

	if ((p = hmap_get(t->peers, name)) != NULL || !create)
		return p;
	p = xcalloc(1, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	TAILQ_INIT(&p->pending);
	p->backoff = TUN_BACKOFF_MIN;
	p->t = t;
	ev_timer_init(&p->retry, peer_retry_cb, 0., 0.);
	p->retry.data = p;
	ev_timer_init(&p->eyeball, peer_eyeball_cb, TUN_EYEBALL, 0.);
	p->eyeball.data = p;
	tun_relaysel_peer_init(p);
	hmap_put(t->peers, p->name, p);
	return p;
}

int
tun_peer_known(struct tunneld *t, const char *name)
{
	return replica_get(t->d->replica, EM_TOPIC_PEERS, name) != NULL;
}

const char *
tun_peer_state(const struct tun_peer *p)
{
	if (p->sess != NULL)
		return "up";
	if (p->dialing != NULL || p->relaying != NULL)
		return "connecting";
	if (p->refused)
		return "refused";
	return "down";
}

static void
peer_fail_pending(struct tun_peer *p, const char *why)
{
	struct tun_stream *st;

	while ((st = TAILQ_FIRST(&p->pending)) != NULL) {
		log_warnx_repeat("stream to %s:%u via %s failed: %s", st->req.ip, st->req.port,
				 p->name, why);
		tun_stream_reset(st, why);
	}
}

/* No path to p now: its waiting streams fail with the direct dial's reason
 * and, if a relay was tried, the relay's */
static void
peer_unreachable(struct tun_peer *p, const char *why)
{
	char reason[512];

	snprintf(reason, sizeof(reason), "cannot reach %s: %s%s%s", p->name, why,
		 p->relay_err[0] ? "; " : "", p->relay_err);
	peer_fail_pending(p, reason);
}

/*
 * A round of dials tries each of the peer's n addresses in turn, back to
 * back, from where the last round stopped (after a session was up: the
 * address that worked); the backoff is between rounds.  (One address per
 * backoff period left a path that appeared behind the second address
 * waiting two periods.  A round is n failed dials, not a wrap of the index
 * past the first address: a dial outside the rounds, or n growing as
 * addresses are learned, shifted that wrap, and a round could try only the
 * last address, then wait a whole period before the first.)  Only a failed
 * dial goes on at once (failed_dial): a session lost after it was up waits,
 * or a peer that accepts and then drops us would be redialed in a loop.
 */
static void
peer_schedule(struct tun_peer *p, int failed_dial)
{
	const char *addrs[EM_CFG_LIST_MAX + EM_MAX_ADDRS + TUN_LEARNED_MAX];
	size_t n;
	double d = 0.;

	if (ev_is_active(&p->retry) || p->dialing != NULL || (p->sess != NULL && !p->sess->relayed))
		return;
	n = tun_peer_addrs(p->t, p, addrs, sizeof(addrs) / sizeof(addrs[0]));
	if (!failed_dial || ++p->round_fails >= n) { /* the round is over */
		p->round_fails = 0;
		d = p->backoff * (0.5 + 0.5 * randombytes_uniform(1000) / 1000.0);
		p->backoff *= 2;
		if (p->backoff > TUN_BACKOFF_MAX)
			p->backoff = TUN_BACKOFF_MAX;
	}
	ev_timer_set(&p->retry, d, 0.);
	ev_timer_start(p->t->d->loop, &p->retry);
	log_debug("redialing %s in %.1fs", p->name, d);
}

/*
 * Where to dial p: a relay node's advertiseAddress, its Node addresses, then
 * the addresses relays see it at; those on one of our own subnets first (a
 * node in our site is reached over the LAN, not through the NAT).
 */
size_t
tun_peer_addrs(struct tunneld *t, struct tun_peer *p, const char **out, size_t max)
{
	const char *all[EM_CFG_LIST_MAX + EM_MAX_ADDRS + TUN_LEARNED_MAX];
	const struct em_object *o;
	size_t n, i, j, k = 0;
	int pass;

	n = tun_relay_addrs(t, p->name, all, EM_CFG_LIST_MAX);
	if ((o = replica_get(t->d->replica, EM_TOPIC_PEERS, p->name)) != NULL)
		for (i = 0; i < o->u.peer->naddrs && n < EM_CFG_LIST_MAX + EM_MAX_ADDRS; i++)
			all[n++] = o->u.peer->addrs[i];
	for (i = 0; i < TUN_LEARNED_MAX && p->learned[i][0] != '\0'; i++)
		all[n++] = p->learned[i];
	for (pass = 1; pass >= 0; pass--)
		for (i = 0; i < n && k < max; i++) {
			if (tun_ip_onlink(all[i]) != pass)
				continue;
			for (j = 0; j < k && strcmp(out[j], all[i]) != 0; j++)
				;
			if (j == k)
				out[k++] = all[i];
		}
	return k;
}

void
tun_peer_dial(struct tun_peer *p)
{
	struct tunneld *t = p->t;
	const char *addrs[EM_CFG_LIST_MAX + EM_MAX_ADDRS + TUN_LEARNED_MAX], *ip;
	size_t n;

	/* direct dials to it failed before: the relayed path alongside, at once */
	if (p->sess == NULL && p->direct_fails > 0)
		tun_relay_via(p);
	/* a relayed session: the direct path is still tried (backoff) */
	if (p->dialing != NULL || (p->sess != NULL && !p->sess->relayed))
		return;
	ev_timer_stop(t->d->loop, &p->retry);
	n = tun_peer_addrs(t, p, addrs, sizeof(addrs) / sizeof(addrs[0]));
	if (n == 0) {
		snprintf(p->last_err, sizeof(p->last_err),
			 "node %s has no known address "
			 "(no Node object with status.addresses)",
			 p->name);
		p->direct_fails++;
		if (p->sess == NULL && tun_relay_via(p))
			return;
		if (p->relaying == NULL)
			peer_unreachable(p, p->last_err);
		return;
	}
	ip = addrs[p->addr_idx % n];
	snprintf(p->addr, sizeof(p->addr), "%s", ip);
	p->dialing = tun_session_dial(t, p, ip, t->d->cfg.tunnel.listen_port);
	if (p->dialing != NULL && p->sess == NULL && !tun_ip_onlink(ip)) {
		ev_timer_stop(t->d->loop, &p->eyeball); /* happy eyeballs */
		ev_timer_set(&p->eyeball, TUN_EYEBALL, 0.);
		ev_timer_start(t->d->loop, &p->eyeball);
	}
	if (p->dialing == NULL) {
		p->addr_idx++;
		p->direct_fails++;
		if (p->sess == NULL && !tun_relay_via(p) && p->relaying == NULL)
			peer_unreachable(p, p->last_err);
		if (p->want)
			peer_schedule(p, 1);
	}
}

static void
peer_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	tun_peer_dial(w->data);
}

/* The direct dial (off our subnets) is slow: try a relay alongside it. */
static void
peer_eyeball_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_peer *p = w->data;

	if (p->sess == NULL && p->dialing != NULL)
		tun_relay_via(p);
}

void
tun_peer_open(struct tun_peer *p, struct tun_stream *st)
{
	struct tun_session *s = p->sess;

	p->want = 1;
	if (s != NULL && s->state == SS_UP && !s->draining) {
		st->peer = NULL;
		tun_stream_attach(st, s, 0);
		tun_stream_send_open(st);
		ev_timer_start(p->t->d->loop, &st->tmo);
		if (s->relayed) /* is the relay still there? */
			tun_relaysel_probe(p);
		return;
	}
	st->state = ST_PENDING;
	st->peer = p;
	TAILQ_INSERT_TAIL(&p->pending, st, pq);
	p->npending++;
	ev_timer_start(p->t->d->loop, &st->tmo);
	if (p->npending > TUN_PENDING_MAX) {
		tun_stream_reset(st, "too many streams waiting for a session");
		return;
	}
	tun_peer_dial(p);
}

static int
sess_initiator_smaller(struct tunneld *t, const struct tun_session *s)
{
	const char *ini = s->initiator ? t->d->cfg.node_name : s->name;
	const char *other = s->initiator ? s->name : t->d->cfg.node_name;

	return strcmp(ini, other) < 0;
}

/* Which of two sessions with one node to keep: a direct one over a
 * relayed one; else, for a simultaneous open, the one dialed by the node
 * with the smaller name; else the newer. */
static struct tun_session *
sess_keep(struct tunneld *t, struct tun_session *old, struct tun_session *s)
{
	if (old->relayed != s->relayed)
		return s->relayed ? old : s;
	if (old->initiator != s->initiator && s->up_at - old->up_at < TUN_SIMUL_WINDOW)
		return sess_initiator_smaller(t, s) ? s : old;
	return s;
}

void
tun_peer_up(struct tun_peer *p, struct tun_session *s)
{
	struct tunneld *t = p->t;
	struct tun_session *old = p->sess, *keep = s, *lose = NULL;
	struct tun_stream *st;

	if (p->dialing == s)
		p->dialing = NULL;
	if (p->relaying == s)
		p->relaying = NULL;
	if (old != NULL && old != s) {
		keep = sess_keep(t, old, s);
		lose = keep == s ? old : s;
	}
	p->sess = keep;
	p->refused = 0;
	p->last_err[0] = '\0';
	p->relay_err[0] = '\0';
	if (!keep->relayed) {
		p->direct_fails = 0;
		p->round_fails = 0;
		p->backoff = TUN_BACKOFF_MIN;
		ev_timer_stop(t->d->loop, &p->retry);
	}
	if (lose == old && lose != NULL && !old->initiator && !s->initiator && !old->relayed &&
	    !s->relayed) {
		/* it dialed us again while we hold a session it dialed: it lost that
		 * one (a restart, a crash without a FIN reaching us): gone at once */
		log_info("%s dialed a new session: the old one is dead on its side, closed",
			 p->name);
		tun_session_close(old, "replaced: the peer dialed anew (it restarted)");
		lose = NULL;
	}
	if (lose != NULL) {
		log_info("two sessions with %s: keeping the one %s dialed%s", p->name,
			 keep->initiator ? "we" : "they",
			 lose->relayed && !keep->relayed ? " (direct, over the relayed one)" : "");
		/* the peer may have opened streams on it already: drain, the
		 * keepalive tick closes it once it is empty */
		lose->draining = 1;
		tun_session_frame(lose, TUN_F_GOAWAY, 0, NULL, 0);
	}
	while ((st = TAILQ_FIRST(&p->pending)) != NULL && p->sess != NULL) {
		TAILQ_REMOVE(&p->pending, st, pq);
		p->npending--;
		st->peer = NULL;
		tun_stream_attach(st, p->sess, 0);
		tun_stream_send_open(st);
	}
	/* relayed: keep trying the direct path */
	if (keep->relayed && p->want)
		peer_schedule(p, 0);
	if (s->state == SS_UP)
		tun_relaysel_session_up(s);
}

void
tun_peer_lost(struct tun_peer *p, struct tun_session *s, const char *why, int refused)
{
	char reason[512];
	int failed_dial = p->dialing == s;

	if (s->state != SS_CONNECTING && s->up_at > 0) {
		p->tx += s->tx;
		p->rx += s->rx;
	}
	if (refused)
		p->refused = 1;
	if (p->dialing == s) {
		p->dialing = NULL;
		p->addr_idx++;
		p->direct_fails++;
		snprintf(p->last_err, sizeof(p->last_err), "%s", why);
		/* no direct path: through a relay, if there is one */
		if (p->sess == NULL && (refused || (!tun_relay_via(p) && p->relaying == NULL)))
			peer_unreachable(p, why);
	}
	if (p->relaying == s) {
		p->relaying = NULL;
		snprintf(p->relay_err, sizeof(p->relay_err), "through relay %s: %s", s->addr, why);
		snprintf(p->last_err, sizeof(p->last_err), "%s", p->relay_err);
		/* another relay may have a session with it; a direct dial may yet answer */
		tun_relaysel_failed(p, s->addr);
		if (p->sess == NULL && p->dialing == NULL && (refused || !tun_relay_via(p))) {
			snprintf(reason, sizeof(reason), "cannot reach %s %s", p->name,
				 p->relay_err);
			peer_fail_pending(p, reason);
		}
	}
	if (p->sess == s) {
		p->sess = NULL;
		snprintf(p->last_err, sizeof(p->last_err), "%s", why);
		if (!s->relayed) { /* what it told us over it is stale now */
			p->relay_offer = 0;
			p->adv_n = 0;
			p->advlen = 0;
		}
	}
	if (p->want && (p->sess == NULL || p->sess->relayed))
		peer_schedule(p, failed_dial);
}
