/*
 * UDP: the nat rules DNAT every proxied ClusterIP:port/udp to one socket
 * on bridgeIP:port (as TCP; a DNAT reaches us from pods on a bridge with
 * br_netfilter on, where TPROXY does not).  A flow is one client address;
 * its first datagram asks conntrack for the ClusterIP:port it was sent to
 * (proxy_ct.c), picks an endpoint and opens the other side: a UDP socket
 * connected to the local endpoint, or one of two loopback UDP sockets
 * connected to each other whose twin is handed to tunneld (a connected UDP
 * socket per flow, datagram boundaries kept, no datagram lost while the
 * open is pending).  Replies leave from the listening socket to the
 * client's address; conntrack turns their source back into the
 * ClusterIP:port, so a connected client (nc -u, resolvers) takes them.
 *
 * Flows end when idle (common/udpflow.h: udpIdleTimeout, shorter for DNS);
 * at PROXY_UDP_MAX the least recently used flow is evicted for a new one.
 *
 * Datagrams move in batches: recvmmsg() takes up to PROXY_UDP_BATCH from
 * a socket, sendmmsg() passes them on (the listening socket's batch per
 * run of datagrams of one flow), at most PROXY_UDP_ROUNDS batches per
 * socket and event; a short batch means the socket is empty.  A datagram
 * the kernel will not take (full buffer, ICMP error) is dropped, as UDP
 * would.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"
#include "udpflow.h"

struct pd_flow {
	struct proxyd *p;
	struct udpflow lru;
	char key[32]; /* client ip:port */
	char vipkey[80];
	char epid[PD_EPID_LEN];
	struct sockaddr_in client;
	int efd;
	int tfd; /* the pair's other end, lent to tunneld until the open's result */
	int remote, pending;
	uint64_t tun_id;
	double idle; /* seconds, from the policy */
	ev_io e_rd;
	ev_timer tmo;
};

struct pd_udp {
	int lfd, ctfd;
	struct sockaddr_in local; /* bridgeIP:port, the DNAT target */
	ev_io w;
	struct hmap *flows; /* client ip:port -> pd_flow */
	struct udpflow_lru lru;
	uint64_t n_evicted;
};

/* one batch of datagrams, shared by every socket (the loop handles one at a time) */
static char dgram[PROXY_UDP_BATCH][65536];
static struct iovec iov[PROXY_UDP_BATCH];
static struct mmsghdr in[PROXY_UDP_BATCH], out[PROXY_UDP_BATCH];
static struct sockaddr_in names[PROXY_UDP_BATCH];

/* Ready the receive batch; the listening socket also wants the senders. */
static void
batch_prep(int listening)
{
	int i;

	for (i = 0; i < PROXY_UDP_BATCH; i++) {
		iov[i].iov_base = dgram[i];
		iov[i].iov_len = sizeof(dgram[i]);
		memset(&in[i].msg_hdr, 0, sizeof(in[i].msg_hdr));
		in[i].msg_hdr.msg_iov = &iov[i];
		in[i].msg_hdr.msg_iovlen = 1;
		if (listening) {
			in[i].msg_hdr.msg_name = &names[i];
			in[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
	}
}

/* Send out[0..n) on fd; what it will not take is dropped. */
static void
batch_send(const char *key, int fd, int n)
{
	int off = 0, r;

	while (off < n) {
		if ((r = sendmmsg(fd, out + off, (unsigned)(n - off), 0)) > 0) {
			off += r;
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS)
			return; /* full: the rest goes the way of a lost datagram */
		if (errno != ECONNREFUSED && errno != EINTR)
			log_debug("udp flow %s: send: %s", key, strerror(errno));
		if (errno != EINTR)
			off++; /* that one failed; try the rest */
	}
}

/* Add received datagram i to the send batch at slot j (to: the client, or NULL). */
static void
batch_add(int j, int i, struct sockaddr_in *to)
{
	iov[i].iov_len = in[i].msg_len;
	memset(&out[j].msg_hdr, 0, sizeof(out[j].msg_hdr));
	out[j].msg_hdr.msg_iov = &iov[i];
	out[j].msg_hdr.msg_iovlen = 1;
	if (to != NULL) {
		out[j].msg_hdr.msg_name = to;
		out[j].msg_hdr.msg_namelen = sizeof(*to);
	}
}

static void
flow_free(struct pd_flow *f, const char *why)
{
	struct proxyd *p = f->p;

	log_debug("udp flow %s closed: %s", f->key, why);
	ev_io_stop(p->loop, &f->e_rd);
	ev_timer_stop(p->loop, &f->tmo);
	if (f->pending)
		proxy_tun_cancel(p, f->tun_id);
	hmap_del(p->udp->flows, f->key);
	udpflow_del(&p->udp->lru, &f->lru);
	if (f->efd != -1)
		close(f->efd);
	if (f->tfd != -1)
		close(f->tfd);
	free(f);
}

static void
idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pd_flow *f = w->data;
	double left = udpflow_left(&f->lru, f->idle, ev_now(loop));

	if (left > 0.01) {
		ev_timer_set(w, left, 0.);
		ev_timer_start(loop, w);
		return;
	}
	flow_free(f, "idle");
}

static void
flow_touch(struct pd_flow *f)
{
	udpflow_touch(&f->p->udp->lru, &f->lru, ev_now(f->p->loop));
}

/* Replies: from the endpoint side to the client, through the listening socket. */
static void
flow_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_flow *f = w->data;
	int i, n, r;

	for (r = 0; r < PROXY_UDP_ROUNDS; r++) {
		batch_prep(0);
		if ((n = recvmmsg(f->efd, in, PROXY_UDP_BATCH, 0, NULL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNREFUSED && !f->remote) {
				proxy_svc_ep_failed(f->p, f->vipkey, f->epid);
				flow_free(f, "endpoint refused");
				return;
			}
			flow_free(f, strerror(errno));
			return;
		}
		flow_touch(f);
		for (i = 0; i < n; i++)
			batch_add(i, i, &f->client);
		batch_send(f->key, f->p->udp->lfd, n);
		if (n < PROXY_UDP_BATCH)
			return; /* the socket is empty */
	}
}

static void
flow_tun_cb(void *arg, int ok, const char *reason)
{
	struct pd_flow *f = arg;

	f->pending = 0;
	close(f->tfd); /* tunneld has its own now, or none */
	f->tfd = -1;
	if (ok) {
		f->p->n_tunneled++;
		return;
	}
	log_client_repeat(false, "udp", f->key, "-> %s: endpoint %s failed: %s", f->vipkey, f->epid,
			  reason);
	if (reason != tunclient_unavailable) /* else tunneld stayed away, not the endpoint */
		proxy_svc_ep_failed(f->p, f->vipkey, f->epid);
	flow_free(f, "tunnel open failed");
}

/* a connected pair of loopback UDP sockets */
static int
udp_pair(int fds[2])
{
	struct sockaddr_in a[2];
	socklen_t len;
	int i;

	fds[0] = fds[1] = -1;
	for (i = 0; i < 2; i++) {
		if ((fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
			goto fail;
		memset(&a[i], 0, sizeof(a[i]));
		a[i].sin_family = AF_INET;
		a[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(a[i]);
		if (bind(fds[i], (struct sockaddr *)&a[i], sizeof(a[i])) == -1 ||
		    getsockname(fds[i], (struct sockaddr *)&a[i], &len) == -1)
			goto fail;
	}
	if (connect(fds[0], (struct sockaddr *)&a[1], sizeof(a[1])) == -1 ||
	    connect(fds[1], (struct sockaddr *)&a[0], sizeof(a[0])) == -1)
		goto fail;
	return 0;
fail:
	for (i = 0; i < 2; i++)
		if (fds[i] != -1)
			close(fds[i]);
	return -1;
}

/* At the bound: the least recently used flow makes room. */
static void
flow_evict(struct proxyd *p)
{
	struct udpflow *u;
	struct pd_flow *f;

	if ((u = udpflow_victim(&p->udp->lru)) == NULL)
		return;
	f = (struct pd_flow *)((char *)u - offsetof(struct pd_flow, lru));
	p->udp->n_evicted++;
	log_warnx_once("udpevict",
		       "%d UDP flows: the least recently used ones are evicted for new ones",
		       PROXY_UDP_MAX);
	flow_free(f, "evicted (least recently used)");
}

static struct pd_flow *
flow_new(struct proxyd *p, const char *key, const struct sockaddr_in *client)
{
	struct sockaddr_in orig;
	struct pd_flow *f;
	struct pd_vip *v;
	struct pd_ep *ep;
	char cip[INET_ADDRSTRLEN], vip[INET_ADDRSTRLEN];
	int idx, pair[2];

	if (proxy_ct_orig_dst(p->udp->ctfd, &p->udp->local, client, &orig) == -1) {
		if (errno == ENOENT)
			log_debug("udp from %s: conntrack has no entry for it: dropped", key);
		else
			log_warnx_once("udpct",
				       "udp from %s: conntrack lookup failed (%s): dropped; UDP "
				       "services need nf_conntrack_netlink",
				       key, strerror(errno));
		return NULL;
	}
	if ((v = proxy_svc_lookup(p, &orig, EM_PROTO_UDP)) == NULL) {
		inet_ntop(AF_INET, &orig.sin_addr, vip, sizeof(vip));
		log_debug("udp from %s to %s:%u: not a proxied service port", key, vip,
			  ntohs(orig.sin_port));
		return NULL;
	}
	inet_ntop(AF_INET, &client->sin_addr, cip, sizeof(cip));
	if ((idx = proxy_svc_pick(p, v, cip, NULL, 0, NULL, 0)) == -1) {
		log_client_repeat(false, "udp", key, "-> %s: no usable endpoint", v->key);
		return NULL;
	}
	flow_evict(p);
	ep = &v->eps[idx];
	f = xcalloc(1, sizeof(*f));
	f->p = p;
	f->efd = f->tfd = -1;
	f->client = *client;
	snprintf(f->key, sizeof(f->key), "%s", key);
	snprintf(f->vipkey, sizeof(f->vipkey), "%s", v->key);
	snprintf(f->epid, sizeof(f->epid), "%s", ep->id);
	f->idle = udpflow_idle(p->d->cfg.proxy.udp_idle, ep->port);
	if (ep->local) {
		if ((f->efd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) ==
			-1 ||
		    connect(f->efd, (struct sockaddr *)&ep->sa, sizeof(ep->sa)) == -1) {
			log_warn("udp flow %s: endpoint socket", key);
			goto fail;
		}
	} else {
		if (udp_pair(pair) == -1) {
			log_warn("udp flow %s: socket pair", key);
			goto fail;
		}
		f->efd = pair[0];
		f->tfd = pair[1];
		f->remote = 1;
		proxy_tun_open(p, pair[1], ep->node, ep->ip, ep->port, EM_PROTO_UDP, key,
			       flow_tun_cb, f, &f->tun_id);
		f->pending = 1;
	}
	log_debug("udp flow %s -> %s -> %s (%s)", key, v->key, ep->id,
		  f->remote ? "tunnel" : "local");
	p->n_conns++;
	v->n_conns++;
	ev_io_init(&f->e_rd, flow_cb, f->efd, EV_READ);
	f->e_rd.data = f;
	ev_io_start(p->loop, &f->e_rd);
	ev_timer_init(&f->tmo, idle_cb, f->idle, 0.);
	f->tmo.data = f;
	ev_timer_start(p->loop, &f->tmo);
	udpflow_add(&p->udp->lru, &f->lru, ev_now(p->loop));
	hmap_put(p->udp->flows, f->key, f);
	return f;
fail:
	if (f->efd != -1)
		close(f->efd);
	free(f);
	return NULL;
}

/* Requests: from clients (DNATed to us) to their flows' endpoint sides. */
static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxyd *p = w->data;
	char a[INET_ADDRSTRLEN], key[32];
	struct pd_flow *f, *cur;
	int i, j, n, r;

	for (r = 0; r < PROXY_UDP_ROUNDS; r++) {
		batch_prep(1);
		if ((n = recvmmsg(p->udp->lfd, in, PROXY_UDP_BATCH, 0, NULL)) == -1)
			return;
		/* runs of datagrams of one flow leave in one sendmmsg */
		cur = NULL;
		j = 0;
		for (i = 0; i < n && p->synced; i++) {
			if (in[i].msg_hdr.msg_namelen < sizeof(names[i]))
				continue;
			if (cur != NULL &&
			    names[i].sin_addr.s_addr == cur->client.sin_addr.s_addr &&
			    names[i].sin_port == cur->client.sin_port) {
				batch_add(j++, i, NULL); /* the run goes on: no lookup */
				continue;
			}
			inet_ntop(AF_INET, &names[i].sin_addr, a, sizeof(a));
			snprintf(key, sizeof(key), "%s:%u", a, ntohs(names[i].sin_port));
			if ((f = hmap_get(p->udp->flows, key)) == NULL) {
				/* a new flow may evict another: the run so far leaves first */
				if (j > 0)
					batch_send(cur->key, cur->efd, j);
				j = 0;
				cur = NULL;
				if ((f = flow_new(p, key, &names[i])) == NULL)
					continue;
			}
			if (f != cur && j > 0) {
				batch_send(cur->key, cur->efd, j);
				j = 0;
			}
			if (f != cur)
				flow_touch(f);
			cur = f;
			batch_add(j++, i, NULL);
		}
		if (j > 0)
			batch_send(cur->key, cur->efd, j);
		if (n < PROXY_UDP_BATCH)
			return;
	}
}

int
proxy_udp_listen(struct proxyd *p)
{
	struct sockaddr_in *sa;
	int one = 1;

	p->udp = xcalloc(1, sizeof(*p->udp));
	p->udp->flows = hmap_new();
	udpflow_lru_init(&p->udp->lru, PROXY_UDP_MAX);
	sa = &p->udp->local;
	sa->sin_family = AF_INET;
	sa->sin_addr = p->bind_ip;
	sa->sin_port = htons(p->port);
	if ((p->udp->ctfd = proxy_ct_open()) == -1) {
		log_warn("udp: netlink conntrack socket");
		return -1;
	}
	if ((p->udp->lfd = listen_keep_reuse(p, "udp", SOCK_DGRAM)) != -1)
		goto keep;
	if ((p->udp->lfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(p->udp->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->udp->lfd, (struct sockaddr *)sa, sizeof(*sa)) == -1) {
		log_warn("udp bind %s:%u (is another program using the port? pick another with "
			 "--port)",
			 inet_ntoa(p->bind_ip), p->port);
		return -1;
	}
keep:
	daemon_fd_keep(p->d, "udp", p->udp->lfd);
	return 0;
}

void
proxy_udp_start(struct proxyd *p)
{
	ev_io_init(&p->udp->w, listen_cb, p->udp->lfd, EV_READ);
	p->udp->w.data = p;
	ev_io_start(p->loop, &p->udp->w);
}

void
proxy_udp_count_flows(struct proxyd *p)
{
	struct hmap_iter it;
	struct pd_vip *v;
	const char *k;
	void *val;

	hmap_iter_init(&it);
	while (hmap_next(p->vips, &it, &k, &val))
		((struct pd_vip *)val)->n_flows = 0;
	if (p->udp == NULL)
		return;
	hmap_iter_init(&it);
	while (hmap_next(p->udp->flows, &it, &k, &val))
		if ((v = hmap_get(p->vips, ((struct pd_flow *)val)->vipkey)) != NULL)
			v->n_flows++;
}

size_t
proxy_udp_count(const struct proxyd *p)
{
	return p->udp ? hmap_count(p->udp->flows) : 0;
}

uint64_t
proxy_udp_evicted(const struct proxyd *p)
{
	return p->udp ? p->udp->n_evicted : 0;
}
