/*
 * mDNS answers for EdgeMesh agents on the LAN (issue 15, while
 * modules.edgeTunnel.edgemeshAgents is true): agents browse for the service
 * named by modules.edgeTunnel.rendezvous (EDGEMESH_PLAYGOUND) in local.
 * (go-libp2p's mdns over zeroconf); we answer a PTR (or ANY) question for
 * it with our instance (our peer ID), its SRV (our listenPort), its TXT
 * "dnsaddr=/ip4/ADDR/tcp/PORT/p2p/ID" and the A record of ADDR, the first
 * address of our Node.  An agent that finds us connects and runs its
 * discovery handshake (p2p_stream.c answers it).  We only answer: we never
 * browse (our peers come from Node objects).  Multicast group joined on the
 * interface of the default route; the DNS codec is common/dns_msg.c, dnsd's.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dns_msg.h"
#include "log.h"
#include "p2p.h"
#include "replica.h"
#include "tunneld.h"

#define MDNS_PORT  5353
#define MDNS_GROUP "224.0.0.251"
#define MDNS_TTL   120

static int mfd = -1;
static ev_io mw;

/* dns_msg.c lowercases names; zeroconf matches the service name as sent
 * (case-sensitive): put text's case back into n (text: n's labels, dots
 * between, no escapes) */
static void
keep_case(struct dns_name *n, const char *text)
{
	size_t i, l, at;

	for (i = 0; i < n->nlabels; i++) {
		at = n->lab[i];
		l = n->wire[at];
		memcpy(n->wire + at + 1, text, l);
		text += l;
		if (*text == '.')
			text++;
	}
}

/* our answer for a question about name (PTR or ANY); 0 if not ours */
static size_t
answer(struct tunneld *t, const struct dns_query *q, uint8_t *buf, size_t cap)
{
	const struct em_object *o;
	struct dns_msg_builder b;
	struct dns_query rq = *q;
	struct dns_name svc, inst, host, local;
	char text[300], addr[64], full[400];
	uint8_t a4[4];
	const char *lbl;

	snprintf(text, sizeof(text), "%s.local", t->d->cfg.tunnel.rendezvous);
	if (dns_name_from_text(&svc, text) == -1 || !dns_name_equal(&q->name, &svc) ||
	    (q->qtype != 12 && q->qtype != 255))
		return 0;
	o = replica_get(t->d->replica, EM_TOPIC_PEERS, t->d->cfg.node_name);
	if (o == NULL || o->u.peer->naddrs == 0 || inet_pton(AF_INET, o->u.peer->addrs[0], a4) != 1)
		return 0; /* no address of ours to give yet */
	snprintf(addr, sizeof(addr), "%s", o->u.peer->addrs[0]);
	lbl = t->p2p_id;
	if (dns_name_from_labels(&inst, &lbl, 1, &svc) == -1 ||
	    dns_name_from_text(&local, "local") == -1)
		return 0;
	lbl = t->d->cfg.node_name;
	if (dns_name_from_labels(&host, &lbl, 1, &local) == -1)
		return 0;
	keep_case(&svc, text);
	snprintf(full, sizeof(full), "%s.%s", t->p2p_id, text);
	keep_case(&inst, full);
	snprintf(full, sizeof(full), "%s.local", t->d->cfg.node_name);
	keep_case(&host, full);
	rq.id = 0;
	rq.has_question = false; /* mDNS answers carry no question */
	rq.edns = false;
	dns_msg_init(&b, buf, cap, &rq);
	dns_msg_set_flags(&b, 0x8400); /* response, authoritative */
	dns_msg_add_ptr(&b, &svc, MDNS_TTL, &inst);
	dns_msg_section(&b, DNS_SEC_ADDITIONAL);
	dns_msg_add_srv(&b, &inst, MDNS_TTL, 0, 0, (uint16_t)t->d->cfg.tunnel.listen_port, &host);
	snprintf(text, sizeof(text), "dnsaddr=/ip4/%s/tcp/%d/p2p/%s", addr,
		 t->d->cfg.tunnel.listen_port, t->p2p_id);
	dns_msg_add_txt(&b, &inst, MDNS_TTL, text);
	dns_msg_add_a(&b, &host, MDNS_TTL, a4);
	return dns_msg_finish(&b, cap);
}

static void
mdns_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunneld *t = w->data;
	struct sockaddr_in from, grp;
	socklen_t fl = sizeof(from);
	struct dns_query q;
	uint8_t in[1500], out[1500];
	ssize_t n;
	size_t ol;

	(void)loop;
	(void)revents;
	n = recvfrom(mfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	if (n <= 0 || !t->d->cfg.tunnel.edgemesh_agents)
		return;
	if (dns_msg_parse_query(in, (size_t)n, &q) != 0 || !q.has_question ||
	    (q.flags & 0x8000) != 0) /* not a query, or a response */
		return;
	if ((ol = answer(t, &q, out, sizeof(out))) == 0)
		return;
	memset(&grp, 0, sizeof(grp));
	grp.sin_family = AF_INET;
	grp.sin_port = htons(MDNS_PORT);
	inet_pton(AF_INET, MDNS_GROUP, &grp.sin_addr);
	if (sendto(mfd, out, ol, 0, (struct sockaddr *)&grp, sizeof(grp)) == -1)
		log_debug("mDNS answer: %s", strerror(errno));
	if (ntohs(from.sin_port) != MDNS_PORT) /* a one-shot querier: unicast too */
		sendto(mfd, out, ol, 0, (struct sockaddr *)&from, fl);
	log_debug("mDNS: answered %s's question for %s.local", inet_ntoa(from.sin_addr),
		  t->d->cfg.tunnel.rendezvous);
}

/* before privdrop: the socket and the group; a failure is logged, not fatal
 * (relayNodes still lets agents find us) */
void
p2p_mdns_setup(struct tunneld *t)
{
	struct sockaddr_in sin;
	struct ip_mreq mr;
	int one = 1;

	if (!t->d->cfg.tunnel.edgemesh_agents)
		return;
	if ((mfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	setsockopt(mfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(mfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(MDNS_PORT);
	if (bind(mfd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	memset(&mr, 0, sizeof(mr));
	inet_pton(AF_INET, MDNS_GROUP, &mr.imr_multiaddr);
	mr.imr_interface.s_addr = htonl(INADDR_ANY);
	if (setsockopt(mfd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
		goto fail;
	ev_io_init(&mw, mdns_cb, mfd, EV_READ);
	mw.data = t;
	ev_io_start(t->d->loop, &mw);
	log_info("mDNS: answering EdgeMesh agents that browse for %s.local",
		 t->d->cfg.tunnel.rendezvous);
	return;
fail:
	log_warn("mDNS for EdgeMesh agents: udp 5353 (agents find us only through their "
		 "relayNodes)");
	if (mfd != -1)
		close(mfd);
	mfd = -1;
}
