/*
 * The remote end of a stream: which targets a peer may open here, and the
 * non-blocking dial.  Allowed: a ready endpoint on this node of a known
 * service (ip, port and protocol as in the endpoints topic), or one of the
 * addresses this node advertises (its Node object's status.addresses, from
 * the peers topic) with a port in modules.edgeTunnel.allowedNodePorts.
 * Never loopback, link-local (169.254.96.16 is ours), unspecified,
 * multicast or broadcast, whatever a Node or Endpoints object says: those
 * reach what is bound to this node alone.  Everything else is refused with
 * the reason, which travels back to the opener and is logged here.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "srcrange.h"
#include "tunneld.h"

/* a and b are the same address; text that is no address matches nothing */
static int
same_ip(const char *a, const struct ip_addr *b)
{
	struct ip_addr x;

	return ip_addr_parse(a, &x) == 0 && ip_addr_equal(&x, b);
}

/*
 * What r's target is on node: a service endpoint there, an address the node
 * advertises on an allowed port, or neither (why says what it is not).
 * The far end asks it of itself; tunnel.sock asks it of the peer an opener
 * names, to check the opener's rights (tun_handoff.c).
 */
enum tun_target
tun_target_kind(struct tunneld *t, const char *node, const struct tun_open_req *r, char *why,
		size_t len)
{
	const struct em_config *cfg = &t->d->cfg;
	const struct em_object *o;
	const struct em_endpoints *eps;
	const struct em_peer *me;
	struct replica_iter it;
	struct ip_addr ip;
	char key[EM_KEY_LEN];
	const char *special;
	size_t i, j;
	int ep_ip = 0, own = 0;

	if (ip_addr_parse(r->ip, &ip) == -1) {
		snprintf(why, len, "%s is not an IP address", r->ip);
		return TUN_TGT_NONE;
	}
	if ((special = ip_addr_special(&ip)) != NULL) {
		snprintf(why, len, "%s %s:%u is %s %s address: never dialled for a peer",
			 em_proto_name(r->proto), r->ip, r->port,
			 strchr("aeiou", special[0]) != NULL ? "an" : "a", special);
		return TUN_TGT_NONE;
	}
	/* a ready endpoint of a known service on this node */
	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_ENDPOINTS, &it, &o)) {
		eps = o->u.eps;
		for (i = 0; i < eps->neps; i++) {
			if (strcmp(eps->eps[i].node, node) != 0 || !same_ip(eps->eps[i].ip, &ip))
				continue;
			ep_ip = 1;
			if (!eps->eps[i].ready)
				continue;
			snprintf(key, sizeof(key), "%s/%s", eps->ns, eps->name);
			if (replica_get(t->d->replica, EM_TOPIC_SERVICES, key) == NULL)
				continue; /* endpoints of no known service */
			for (j = 0; j < eps->nports; j++)
				if (eps->ports[j].port == r->port &&
				    eps->ports[j].proto == r->proto)
					return TUN_TGT_ENDPOINT;
		}
	}
	/* an address this node advertises, allowed ports only */
	if ((o = replica_get(t->d->replica, EM_TOPIC_PEERS, node)) != NULL) {
		me = o->u.peer;
		for (i = 0; i < me->naddrs; i++)
			if (same_ip(me->addrs[i], &ip))
				own = 1;
	}
	if (own) {
		if (r->proto != EM_PROTO_TCP) {
			snprintf(why, len,
				 "%s %s:%u is a node address: only TCP to "
				 "modules.edgeTunnel.allowedNodePorts is allowed",
				 em_proto_name(r->proto), r->ip, r->port);
			return TUN_TGT_NONE;
		}
		for (i = 0; i < cfg->tunnel.n_allowed_ports; i++)
			if (cfg->tunnel.allowed_ports[i] == r->port)
				return TUN_TGT_NODE_PORT;
		snprintf(why, len,
			 "port %u of node %s is not in "
			 "modules.edgeTunnel.allowedNodePorts",
			 r->port, node);
		return TUN_TGT_NONE;
	}
	if (ep_ip)
		snprintf(why, len, "%s %s:%u is not a ready endpoint port of a service on %s",
			 em_proto_name(r->proto), r->ip, r->port, node);
	else
		snprintf(why, len,
			 "%s %s:%u is neither a service endpoint on %s nor an address "
			 "it advertises (status.addresses of its Node)",
			 em_proto_name(r->proto), r->ip, r->port, node);
	return TUN_TGT_NONE;
}

static void
dial_fail(struct tun_stream *st, const char *why)
{
	log_warnx_repeat("stream from %s to %s %s:%u refused: %s", st->s->name,
			 em_proto_name(st->proto), st->req.ip, st->req.port, why);
	tun_session_frame(st->s, TUN_F_OPEN_FAIL, st->id, why, strlen(why));
	tun_stream_free(st);
}

void
tun_dial_target(struct tun_stream *st)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct ev_loop *loop = tunneld_get()->d->loop;
	struct pollfd p;
	socklen_t sl;
	char why[200];
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, st->req.ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(st->req.port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, st->req.ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(st->req.port);
		sl = sizeof(*sin6);
	} else {
		dial_fail(st, "not an IP address");
		return;
	}
	fd = socket(ss.ss_family,
		    (st->proto == EM_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
			SOCK_CLOEXEC,
		    0);
	if (fd == -1) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		dial_fail(st, why);
		return;
	}
	st->fd = fd;
	ev_io_set(&st->rw, fd, EV_READ);
	ev_io_set(&st->ww, fd, EV_WRITE);
	if (st->proto == EM_PROTO_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 && errno != EINPROGRESS) {
		snprintf(why, sizeof(why), "connect %s:%u: %s", st->req.ip, st->req.port,
			 net_connect_failed(errno, st->req.ip, st->req.port));
		dial_fail(st, why);
		return;
	}
	if (st->proto == EM_PROTO_UDP) {
		tun_session_frame(st->s, TUN_F_OPEN_OK, st->id, NULL, 0);
		tun_stream_start(st);
		return;
	}
	/* to a pod on this node the handshake often completes inside connect()
	 * (veth, softirq): then answer now, with no loop turn in between, and
	 * DATA that came with the OPEN goes straight to the target */
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 0) == 1) {
		/* writable with no error or hang-up: established, SO_ERROR has nothing */
		tun_stream_connected(st, p.revents == POLLOUT);
		return;
	}
	ev_io_start(loop, &st->ww);
	ev_timer_start(loop, &st->tmo);
}
