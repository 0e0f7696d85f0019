/*
 * Relays without configuration: who relays, who needs relays, and which
 * relay a circuit to a peer goes through.
 *
 * Reachable: a peer from outside our site has proven that it can dial us:
 * it dialled us directly (an up session it initiated, not relayed), or its
 * REACH probe of our tunnel port connected (tun_reach.c).  From outside our
 * site: its session comes from off our subnets, or through a NAT (from an
 * address its Node object does not list), or through a relay.  A neighbour
 * on our LAN dialling us says nothing of the NAT in front of us.  Once
 * proven, for the life of the process.  A reachable node, and a node
 * relayNodes names, offers relaying.
 *
 * Each node tells its direct peers in a RELAYS frame (stream 0), sent when
 * a session comes up and whenever its content changes (else every 30 s):
 *
 *   version u8 (1) | flags u8 (bit 0: I relay) | seenlen u8 | seen
 *   | n u8 | n x { namelen u8 | name | rtt_ms u16 | iplen u8 | ip }
 *
 * seen: ip:port the receiver's session comes from, as we see it (its
 * address outside its NAT).  Entries: the nodes we hold an up direct
 * session with (whom we can splice a circuit to), our RTT to each and the
 * address we see it at.  The receiver keeps the offer and the entries (to
 * pick a relay that reaches B) and learns the addresses as extra dial
 * candidates for those nodes (after their Node addresses).
 *
 * A node that is not reachable keeps sessions with TUN_RELAYS_KEEP to
 * TUN_RELAYS_KEEP_MAX relays, nearest by RTT, relays off our subnets first
 * (one behind our own NAT does not make us reachable).  While it has fewer
 * off our subnets, it dials peers whose Node addresses are all off our
 * subnets, two per check, each at most every TUN_DISCOVER_RETRY: one that
 * answers has just been proven reachable, so it relays.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "tunneld.h"

#define ADV_REFRESH 30.0 /* resend the same content (fresh RTTs) this often */

/* "1.2.3.4:5" or "[fd00::1]:5" -> the address alone */
static const char *
addr_ip(const char *addr, char *out, size_t len)
{
	char *c;

	snprintf(out, len, "%s", addr);
	if (out[0] == '[') {
		memmove(out, out + 1, strlen(out));
		if ((c = strchr(out, ']')) != NULL)
			*c = '\0';
	} else if ((c = strrchr(out, ':')) != NULL && strchr(out, ':') == c)
		*c = '\0';
	return out;
}

/* 1 if ip is on one of our own subnets (an interface's address and mask). */
int
tun_ip_onlink(const char *ip)
{
	struct ifaddrs *ifs, *i;
	struct in6_addr a6;
	struct in_addr a4;
	const uint8_t *x, *y, *m;
	size_t n, k;
	int fam, on = 0;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, ip, &a6) == 1)
		fam = AF_INET6;
	else
		return 0;
	if (getifaddrs(&ifs) == -1)
		return 0;
	for (i = ifs; i != NULL && !on; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL ||
		    i->ifa_addr->sa_family != fam || (i->ifa_flags & IFF_LOOPBACK) ||
		    !(i->ifa_flags & IFF_UP))
			continue;
		if (fam == AF_INET) {
			x = (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			m = (const uint8_t *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
			y = (const uint8_t *)&a4;
			n = 4;
		} else {
			x = (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			m = (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
			y = (const uint8_t *)&a6;
			n = 16;
		}
		for (k = 0; k < n && (x[k] & m[k]) == (y[k] & m[k]); k++)
			;
		on = k == n;
	}
	freeifaddrs(ifs);
	return on;
}

static int
sess_onlink(const struct tun_session *s)
{
	char ip[64];

	return !s->relayed && tun_ip_onlink(addr_ip(s->addr, ip, sizeof(ip)));
}

/* Does s come from outside our site (see the top)? */
static int
sess_outside(struct tunneld *t, const struct tun_session *s)
{
	const struct em_object *o;
	char ip[64];
	size_t i;

	if (s->relayed || !tun_ip_onlink(addr_ip(s->addr, ip, sizeof(ip))))
		return 1;
	if ((o = replica_get(t->d->replica, EM_TOPIC_PEERS, s->name)) == NULL)
		return 0;
	for (i = 0; i < o->u.peer->naddrs; i++)
		if (strcmp(o->u.peer->addrs[i], ip) == 0)
			return 0; /* a neighbour, from its own address */
	return 1;		  /* on our subnet, but from a NAT's address */
}

static int
sess_direct_up(const struct tun_session *s)
{
	return s != NULL && s->state == SS_UP && !s->relayed && !s->draining;
}

/* RTT of a session: the keepalive's, before the first PONG the handshake's. */
static uint64_t
sess_rtt(const struct tun_session *s)
{
	if (s->rtt_us > 0)
		return s->rtt_us;
	return (uint64_t)((s->up_at - s->created) * 1e6);
}

int
tun_relay_offered(struct tunneld *t)
{
	return t->reachable || tun_is_relay(t, t->d->cfg.node_name);
}

/* Named in relayNodes (or marked by the controller), or it told us it relays. */
int
tun_relay_candidate(struct tunneld *t, const char *name)
{
	struct tun_peer *p;

	if (tun_is_relay(t, name))
		return 1;
	return (p = tun_peer_get(t, name, 0)) != NULL && p->relay_offer;
}

static void
reach_proven(struct tunneld *t, const char *proof)
{
	t->reachable = 1;
	snprintf(t->reach_proof, sizeof(t->reach_proof), "%s", proof);
	log_info("reachable: %s: offering relaying", proof);
}

/* Has a peer from outside our site proven we are reachable? */
static void
reach_update(struct tunneld *t)
{
	struct tun_session *s;
	struct hmap_iter it;
	struct tun_peer *p;
	const char *key;
	void *v;
	char ip[64], proof[320];

	if (t->reachable)
		return;
	LIST_FOREACH(s, &t->sessions, link)
	{
		/* a punched path was opened by both ends: it proves nothing */
		if (s->state != SS_UP || s->relayed || s->punched || s->initiator ||
		    !sess_outside(t, s))
			continue;
		snprintf(proof, sizeof(proof), "%s dialled us from %s", s->name,
			 addr_ip(s->addr, ip, sizeof(ip)));
		reach_proven(t, proof);
		return;
	}
	hmap_iter_init(&it);
	while (hmap_next(t->peers, &it, &key, &v)) {
		p = v;
		if (!p->reach_known || !p->reach_ok || p->sess == NULL || !sess_outside(t, p->sess))
			continue;
		snprintf(proof, sizeof(proof), "%s connected to our tunnel port (%s)", p->name,
			 p->reach_why);
		reach_proven(t, proof);
		return;
	}
}

static uint32_t
fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n-- > 0)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/* The RELAYS frame for session to; *sum: its content but the RTTs. */
static size_t
adv_build(struct tunneld *t, const struct tun_session *to, uint8_t *buf, size_t cap, uint32_t *sum)
{
	struct tun_session *s;
	char ip[64];
	size_t off, next, count;

	off = tun_adv_put_head(buf, cap, tun_relay_offered(t), to->addr, &count);
	*sum = fnv(2166136261u, buf, off);
	LIST_FOREACH(s, &t->sessions, link)
	{
		if (s == to || !sess_direct_up(s) || s->name[0] == '\0')
			continue;
		addr_ip(s->addr, ip, sizeof(ip));
		next = tun_adv_put_entry(buf, cap, off, count, s->name,
					 (unsigned)((sess_rtt(s) + 999) / 1000), ip);
		if (next == 0)
			break;
		*sum = fnv(*sum, s->name, strlen(s->name));
		*sum = fnv(*sum, ip, strlen(ip));
		off = next;
	}
	*sum = fnv(*sum, buf + count, 1);
	return off;
}

static void
adv_send(struct tun_session *s, int force)
{
	struct tunneld *t = s->t;
	uint8_t buf[TUN_ADV_MAX];
	uint32_t sum;
	size_t n;
	ev_tstamp now = ev_now(t->d->loop);

	if (!sess_direct_up(s))
		return;
	n = adv_build(t, s, buf, sizeof(buf), &sum);
	if (!force && sum == s->adv_sum && now - s->adv_at < ADV_REFRESH)
		return;
	s->adv_sum = sum;
	s->adv_at = now;
	tun_session_frame(s, TUN_F_RELAYS, 0, buf, n);
}

static void
adv_send_all(struct tunneld *t, int force)
{
	struct tun_session *s, *next;

	for (s = LIST_FIRST(&t->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link); /* a send may close s (output over its limit) */
		adv_send(s, force);
	}
}

/* A session came up (tun_peer_up): proof of reachability, tell the peer. */
void
tun_relaysel_session_up(struct tun_session *s)
{
	struct tunneld *t = s->t;
	int was = t->reachable;

	reach_update(t);
	if (t->reachable != was)
		adv_send_all(t, 1); /* we relay now: everyone should know */
	else
		adv_send(s, 1);
}

/* An address of node name as a relay sees it: one more dial candidate. */
static void
learn(struct tunneld *t, const char *name, const char *ip)
{
	const struct em_object *o;
	struct tun_peer *p;
	struct in6_addr a;
	size_t i;

	if (strcmp(name, t->d->cfg.node_name) == 0 || ip[0] == '\0' ||
	    (inet_pton(AF_INET, ip, &a) != 1 && inet_pton(AF_INET6, ip, &a) != 1))
		return;
	if ((o = replica_get(t->d->replica, EM_TOPIC_PEERS, name)) == NULL)
		return;
	for (i = 0; i < o->u.peer->naddrs; i++)
		if (strcmp(o->u.peer->addrs[i], ip) == 0)
			return;
	p = tun_peer_get(t, name, 1);
	for (i = 0; i < TUN_LEARNED_MAX && p->learned[i][0] != '\0'; i++)
		if (strcmp(p->learned[i], ip) == 0)
			return;
	if (i == TUN_LEARNED_MAX) { /* full: the oldest goes */
		memmove(p->learned[0], p->learned[1],
			sizeof(p->learned[0]) * (TUN_LEARNED_MAX - 1));
		i = TUN_LEARNED_MAX - 1;
	}
	snprintf(p->learned[i], sizeof(p->learned[i]), "%s", ip);
	log_debug("learned address %s of %s (as a peer sees it)", ip, name);
}

void
tun_relaysel_input(struct tun_session *s, const uint8_t *p, size_t len)
{
	struct tunneld *t = s->t;
	struct tun_peer *peer = s->peer;
	struct tun_adv a;
	struct tun_adv_entry e;
	size_t off = 0;
	char key[300];
	int r;

	if (peer == NULL || s->relayed)
		return;
	if ((r = tun_adv_decode(p, len, &a)) == 1) {
		log_debug("RELAYS frame version %u from %s: ignored", p[0], s->name);
		return; /* a newer peer: what we understand is in the next version */
	}
	if (r == -1) {
		snprintf(key, sizeof(key), "relays-bad:%s", s->name);
		log_warnx_once(key, "malformed RELAYS frame from %s at %s: ignored", s->name,
			       s->addr);
		return;
	}
	if (a.relay != peer->relay_offer)
		log_info("%s %s relaying", s->name, a.relay ? "offers" : "no longer offers");
	peer->relay_offer = a.relay;
	if (a.seen[0] != '\0' && strcmp(peer->seen_me, a.seen) != 0) {
		snprintf(peer->seen_me, sizeof(peer->seen_me), "%s", a.seen);
		log_info("%s sees us at %s", s->name, peer->seen_me);
	}
	free(peer->adv);
	peer->adv = xcalloc(1, a.elen + 1);
	memcpy(peer->adv, a.entries, a.elen);
	peer->advlen = a.elen;
	peer->adv_n = a.n;
	while (tun_adv_next(&a, &off, &e))
		learn(t, e.name, e.ip);
	if (a.relay && !tun_relay_offered(t))
		tun_relaysel_check(t); /* a relay: keep it, and it may serve pending streams */
}

/* Does relay r hold a direct session with name?  Its RTT to it in *rtt_ms. */
static int
adv_lists(const struct tun_peer *r, const char *name, unsigned *rtt_ms)
{
	struct tun_adv a;
	struct tun_adv_entry e;
	size_t off = 0;

	memset(&a, 0, sizeof(a));
	a.entries = r->adv;
	a.elen = r->advlen;
	a.n = r->adv_n;
	while (tun_adv_next(&a, &off, &e))
		if (strcmp(e.name, name) == 0) {
			*rtt_ms = e.rtt_ms;
			return 1;
		}
	return 0;
}

static int
relay_bad(struct tunneld *t, const struct tun_peer *p, const char *relay)
{
	ev_tstamp now = ev_now(t->d->loop);
	int i;

	for (i = 0; i < TUN_RELAYS_KEEP_MAX; i++)
		if (strcmp(p->relay_bad[i], relay) == 0 && now - p->relay_bad_at[i] < TUN_RELAY_BAD)
			return 1;
	return 0;
}

/* A circuit to p through relay failed: try the others first for a while. */
void
tun_relaysel_failed(struct tun_peer *p, const char *relay)
{
	int i, old = 0;

	for (i = 0; i < TUN_RELAYS_KEEP_MAX; i++) {
		if (strcmp(p->relay_bad[i], relay) == 0) {
			old = i;
			break;
		}
		if (p->relay_bad_at[i] < p->relay_bad_at[old])
			old = i;
	}
	snprintf(p->relay_bad[old], sizeof(p->relay_bad[old]), "%s", relay);
	p->relay_bad_at[old] = ev_now(p->t->d->loop);
}

/*
 * The relay for a circuit to p: among relays we hold a direct session with,
 * those that say they hold one with p, by RTT (ours to the relay plus the
 * relay's to p); else any (an older relay sends no RELAYS frame).  Relays
 * whose circuit to p just failed come last.
 */
struct tun_peer *
tun_relaysel_pick(struct tunneld *t, struct tun_peer *p, const char *except)
{
	struct tun_peer *r, *best = NULL;
	struct hmap_iter it;
	const char *key;
	void *v;
	uint64_t cost, best_cost = UINT64_MAX;
	unsigned rtt2;
	int tier, best_tier = 3;

	hmap_iter_init(&it);
	while (hmap_next(t->peers, &it, &key, &v)) {
		r = v;
		if (r == p || strcmp(r->name, t->d->cfg.node_name) == 0 ||
		    (except != NULL && strcmp(r->name, except) == 0) || !sess_direct_up(r->sess) ||
		    !tun_relay_candidate(t, r->name))
			continue;
		rtt2 = 0;
		tier = adv_lists(r, p->name, &rtt2) ? 0 : 1;
		if (relay_bad(t, p, r->name))
			tier = 2;
		cost = sess_rtt(r->sess) + (uint64_t)rtt2 * 1000;
		if (tier < best_tier || (tier == best_tier && cost < best_cost)) {
			best = r;
			best_tier = tier;
			best_cost = cost;
		}
	}
	return best_tier < 2 ? best : NULL;
}

/*
 * A relay that dies without closing its sockets (its host gone, the path to
 * it cut) leaves the relayed session silent until the keepalive gives up
 * (15 s).  So a relayed session that gets a new stream is probed (a PING,
 * unless one is out already); its PONG ends the probe; none within
 * TUN_PROBE_WAIT: the session is closed, the relay skipped for that peer,
 * and the next stream goes another way.
 */
static void
probe_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_peer *p = w->data;
	struct tun_session *s = p->sess;
	char why[200];

	if (s == NULL || s != p->probed || s->state != SS_UP)
		return; /* gone already */
	snprintf(why, sizeof(why), "no answer through relay %s within %.0fs", s->addr,
		 TUN_PROBE_WAIT);
	tun_relaysel_failed(p, s->addr);
	if (tun_migrate_path_lost(s, why))
		return; /* moving to another relay, streams kept (tun_migrate.c) */
	log_warnx("session with %s: %s: closing it (the relay is gone?)", p->name, why);
	tun_session_close(s, why);
}

void
tun_relaysel_peer_init(struct tun_peer *p)
{
	ev_timer_init(&p->probe, probe_cb, TUN_PROBE_WAIT, 0.);
	p->probe.data = p;
}

void
tun_relaysel_probe(struct tun_peer *p)
{
	struct tun_session *s = p->sess;

	if (s == NULL || !s->relayed || s->state != SS_UP || ev_is_active(&p->probe))
		return;
	p->probed = s;
	tun_session_ping(s);
	ev_timer_set(&p->probe, TUN_PROBE_WAIT, 0.); /* a fired timer keeps no delay */
	ev_timer_start(p->t->d->loop, &p->probe);
}

/* A PONG on s (any: it answers, so whatever carries it is alive).  On a
 * direct session with a relay: the relay is back, whoever skipped it may
 * try it again (at most once a keepalive period). */
void
tun_relaysel_pong(struct tun_session *s)
{
	struct tun_peer *p = s->peer, *q;
	struct hmap_iter it;
	const char *key;
	void *v;
	int i;

	if (p != NULL && p->probed == s && ev_is_active(&p->probe))
		ev_timer_stop(s->t->d->loop, &p->probe);
	if (s->relayed || p == NULL || !tun_relay_candidate(s->t, p->name))
		return;
	hmap_iter_init(&it);
	while (hmap_next(s->t->peers, &it, &key, &v)) {
		q = v;
		for (i = 0; i < TUN_RELAYS_KEEP_MAX; i++)
			if (strcmp(q->relay_bad[i], p->name) == 0)
				q->relay_bad[i][0] = '\0';
	}
}

struct cand {
	struct tun_peer *p;
	int onlink;
	uint64_t rtt;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->onlink != y->onlink)
		return x->onlink - y->onlink;
	return x->rtt < y->rtt ? -1 : x->rtt > y->rtt;
}

/* Dial up to n peers off our subnets that might relay for us. */
static void
relays_discover(struct tunneld *t, int n)
{
	const struct em_object *o;
	struct replica_iter it;
	struct tun_peer *p;
	ev_tstamp now = ev_now(t->d->loop);
	size_t i;

	replica_iter_init(&it);
	while (n > 0 && replica_next(t->d->replica, EM_TOPIC_PEERS, &it, &o)) {
		if (strcmp(o->u.peer->name, t->d->cfg.node_name) == 0 || o->u.peer->naddrs == 0)
			continue;
		p = tun_peer_get(t, o->u.peer->name, 0);
		if (p != NULL && (p->sess != NULL || p->dialing != NULL || p->relaying != NULL ||
				  now - p->disc_at < TUN_DISCOVER_RETRY))
			continue;
		for (i = 0; i < o->u.peer->naddrs; i++)
			if (tun_ip_onlink(o->u.peer->addrs[i]))
				break;
		if (i < o->u.peer->naddrs)
			continue; /* in our site: not a relay for us */
		p = tun_peer_get(t, o->u.peer->name, 1);
		p->disc_at = now;
		log_debug("dialling %s: might relay for us", p->name);
		tun_peer_dial(p);
		n--;
	}
}

/* Not reachable: keep sessions with the nearest relays, find more if short. */
static void
relays_keep(struct tunneld *t)
{
	static char last[512];
	struct cand c[64];
	struct hmap_iter it;
	struct tun_peer *p;
	const char *key;
	void *v;
	char now[512];
	size_t n = 0, i, len = 0;
	int off = 0;

	hmap_iter_init(&it);
	while (n < sizeof(c) / sizeof(c[0]) && hmap_next(t->peers, &it, &key, &v)) {
		p = v;
		if (!sess_direct_up(p->sess) || !tun_relay_candidate(t, p->name))
			continue;
		c[n].p = p;
		c[n].onlink = sess_onlink(p->sess);
		c[n].rtt = sess_rtt(p->sess);
		n++;
	}
	qsort(c, n, sizeof(c[0]), cand_cmp);
	now[0] = '\0';
	for (i = 0; i < n && i < TUN_RELAYS_KEEP_MAX; i++) {
		c[i].p->want = 1; /* tun_peer_lost redials it */
		off += !c[i].onlink;
		if (len < sizeof(now))
			len += (size_t)snprintf(now + len, sizeof(now) - len, "%s%s (%.1fms)",
						i > 0 ? ", " : "", c[i].p->name, c[i].rtt / 1000.0);
	}
	if (strcmp(now, last) != 0 && (now[0] != '\0' || last[0] != '\0')) {
		log_info("not reachable from outside our subnets: relays %s",
			 now[0] ? now : "none yet");
		snprintf(last, sizeof(last), "%s", now);
	}
	if (off < TUN_RELAYS_KEEP)
		relays_discover(t, TUN_RELAYS_KEEP - off);
}

/* Every TUN_RELAY_CHECK (tun_relays_check), and when a relay appears. */
void
tun_relaysel_check(struct tunneld *t)
{
	struct hmap_iter it;
	struct tun_peer *p;
	const char *key;
	void *v;
	int was = t->reachable;

	reach_update(t);
	adv_send_all(t, t->reachable != was);
	if (!tun_relay_offered(t))
		relays_keep(t);
	/* streams waiting for a peer no direct dial reaches: a relay may now */
	hmap_iter_init(&it);
	while (hmap_next(t->peers, &it, &key, &v)) {
		p = v;
		if (p->npending > 0 && p->sess == NULL && p->relaying == NULL &&
		    p->direct_fails > 0)
			tun_relay_via(p);
	}
}
