/*
 * EdgeMesh agents on our port (issue 15): the identity EdgeMesh derives
 * from our node name, and the accept path's decision on the first bytes
 * (p2p_sniff): ours, an agent with our PSK (served by p2p_conn.c while
 * modules.edgeTunnel.edgemeshAgents is true), or an agent without pnet
 * (refused: EdgeMesh's psk.enable false admits anyone).
 *
 * Why the key is off by default: the EdgeMesh identity is derivable by
 * anyone from the node name (MD5 seeding math/rand), so towards agents
 * only the PSK (pnet) keeps strangers out, and anyone holding the PSK can
 * claim any node name.  Our own sessions keep their per-node keys.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "p2p.h"
#include "replica.h"
#include "tunneld.h"

void
p2p_setup(struct tunneld *t)
{
	const char *name = t->d->cfg.node_name;
	uint8_t pk[32], pub[32];
	char why[120];

	if ((t->p2p_sk = sodium_malloc(64)) == NULL || (t->p2p_npriv = sodium_malloc(32)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	if (p2p_key_from_name(name, strlen(name), pk, t->p2p_sk, why, sizeof(why)) == -1)
		fatalx("node name \"%s\": no EdgeMesh identity: %s", name, why);
	p2p_peerid_from_pk(pk, t->p2p_id);
	noise_keypair(t->p2p_npriv, pub);
	if (t->d->cfg.tunnel.edgemesh_agents)
		log_info("EdgeMesh agents served on this port as peer %s "
			 "(modules.edgeTunnel.edgemeshAgents: a migration aid; that identity "
			 "is derivable from the node name, only the PSK guards it)",
			 t->p2p_id);
}

int
p2p_sniff_session(struct tun_session *s)
{
	struct tunneld *t = s->t;
	int kind, fd;

	kind = p2p_sniff(s->rbuf, s->rlen, t->p2p_psk);
	if (kind == P2P_SNIFF_MORE)
		return 0;
	s->sniffed = 1;
	if (kind == P2P_SNIFF_OURS)
		return 1;
	if (kind == P2P_SNIFF_PLAIN) {
		log_warnx("connection from %s is libp2p without a private network (an EdgeMesh "
			  "agent with psk.enable: false?): refused, only agents with our PSK are "
			  "served",
			  s->addr);
		tun_session_close(s, "libp2p without pnet: refused");
		return -1;
	}
	if (!t->d->cfg.tunnel.edgemesh_agents) {
		log_warnx("connection from %s is an EdgeMesh agent with our PSK: refused, "
			  "modules.edgeTunnel.edgemeshAgents is false",
			  s->addr);
		tun_session_close(s, "an EdgeMesh agent: refused");
		return -1;
	}
	fd = s->fd;
	s->fd = -1; /* p2p_conn.c owns it now */
	p2p_accept(t, fd, s->addr, s->rbuf, s->rlen);
	tun_session_close(s, TUN_WHY_P2P);
	return -1;
}

/* nodes whose tunnel port answered our dial with a pnet nonce */
#define P2P_LEARN_MAX 256
#define P2P_LEARN_TTL 600.
static struct {
	char name[256];
	ev_tstamp until;
} learned[P2P_LEARN_MAX];

int
p2p_learned(const char *node)
{
	struct tunneld *t = tunneld_get();
	ev_tstamp now = ev_now(t->d->loop);
	const struct em_object *o;
	int i;

	/* a node that publishes a tunnel key (edgemesh-c.io/tunnel-key) runs ours */
	o = replica_get(t->d->replica, EM_TOPIC_PEERS, node);
	if (o != NULL && o->u.peer->pubkey != NULL && o->u.peer->pubkey[0] != '\0')
		return 0;
	for (i = 0; i < P2P_LEARN_MAX; i++)
		if (learned[i].until > now && strcmp(learned[i].name, node) == 0)
			return 1;
	return 0;
}

/* a libp2p dial to node failed before it was up: back to our handshake
 * (the node may run our daemons by now) */
void
p2p_forget(const char *node)
{
	int i;

	for (i = 0; i < P2P_LEARN_MAX; i++)
		if (strcmp(learned[i].name, node) == 0)
			learned[i].until = 0;
}

void
p2p_learn(struct tun_session *s)
{
	struct tunneld *t = s->t;
	struct tun_peer *p = s->peer != NULL ? s->peer : tun_peer_get(t, s->name, 0);
	ev_tstamp now = ev_now(t->d->loop);
	struct tun_stream *st;
	struct tun_open_req r;
	uint8_t reply[64];
	size_t rl;
	uint64_t serial, id;
	int i, slot = 0, fd;

	if (!t->d->cfg.tunnel.edgemesh_agents || t->p2p_psk == NULL || s->name[0] == '\0')
		return;
	log_info("%s at %s answered our handshake with a libp2p private-network nonce: an "
		 "EdgeMesh agent; dialling it the libp2p way for %.0f min",
		 s->name, s->addr, P2P_LEARN_TTL / 60);
	for (i = 0; i < P2P_LEARN_MAX; i++) {
		if (strcmp(learned[i].name, s->name) == 0) {
			slot = i;
			break;
		}
		if (learned[i].until < learned[slot].until)
			slot = i;
	}
	snprintf(learned[slot].name, sizeof(learned[slot].name), "%s", s->name);
	learned[slot].until = now + P2P_LEARN_TTL;
	/* the opens waiting for our session go to the agent instead */
	while (p != NULL && (st = TAILQ_FIRST(&p->pending)) != NULL) {
		fd = st->fd;
		st->fd = -1;
		r = st->req;
		rl = st->reply_len;
		memcpy(reply, st->reply, rl);
		serial = st->client_serial;
		id = st->open_id;
		tun_stream_free(st);
		if (!p2p_open(t, s->name, fd, &r, reply, rl, serial, id)) {
			close(fd);
			tun_handoff_result(t, serial, id, 0, "cannot dial the EdgeMesh agent");
		}
	}
}
