/*
 * UDP: one TPROXY socket on bridgeIP:port (IP_TRANSPARENT,
 * IP_RECVORIGDSTADDR) receives the first datagram of every flow with its
 * real ClusterIP:port.  A flow is {client ip:port, ClusterIP:port}; it
 * gets a transparent socket bound to the ClusterIP:port and connected to
 * the client, so the kernel's TPROXY lookup delivers the flow's later
 * datagrams straight to it and replies leave from the service address.
 * The other side is a UDP socket connected to the local endpoint, or, for
 * a remote endpoint, one of two loopback UDP sockets connected to each
 * other whose twin is handed to tunneld (a connected UDP socket per flow,
 * datagram boundaries kept, no datagram lost while the open is pending).
 * Flows end after PROXY_UDP_IDLE seconds without traffic.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

struct pd_flow {
	struct proxyd *p;
	char key[128];
	char vipkey[80];
	char epid[PD_EPID_LEN];
	char client_txt[64];
	int cfd, efd;
	int remote, pending;
	uint64_t tun_id;
	ev_io c_rd, e_rd;
	ev_timer idle;
	double last;
};

struct pd_udp {
	int lfd;
	ev_io w;
	struct hmap *flows;
};

/* one batch of datagrams, shared by every socket (the loop handles one at a time) */
static char dgram[PROXY_UDP_BATCH][65536];
static struct iovec iov[PROXY_UDP_BATCH];
static struct mmsghdr in[PROXY_UDP_BATCH], out[PROXY_UDP_BATCH];
static struct sockaddr_in names[PROXY_UDP_BATCH];
static char cmsgs[PROXY_UDP_BATCH][CMSG_SPACE(sizeof(struct sockaddr_in))];

/* Ready the receive batch; the listening socket also wants names and origins. */
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
			in[i].msg_hdr.msg_control = cmsgs[i];
			in[i].msg_hdr.msg_controllen = sizeof(cmsgs[i]);
		}
	}
}

/* Send out[0..n) on the connected socket fd; what it will not take is dropped. */
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

/* Add received datagram i to the send batch at slot j. */
static void
batch_add(int j, int i)
{
	iov[i].iov_len = in[i].msg_len;
	memset(&out[j].msg_hdr, 0, sizeof(out[j].msg_hdr));
	out[j].msg_hdr.msg_iov = &iov[i];
	out[j].msg_hdr.msg_iovlen = 1;
}

static void
flow_free(struct pd_flow *f, const char *why)
{
	struct proxyd *p = f->p;

	log_debug("udp flow %s closed: %s", f->key, why);
	ev_io_stop(p->loop, &f->c_rd);
	ev_io_stop(p->loop, &f->e_rd);
	ev_timer_stop(p->loop, &f->idle);
	if (f->pending)
		tun_cancel(p, f->tun_id);
	hmap_del(p->udp->flows, f->key);
	if (f->cfd != -1)
		close(f->cfd);
	if (f->efd != -1)
		close(f->efd);
	free(f);
}

static void
idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pd_flow *f = w->data;
	double left = f->last + PROXY_UDP_IDLE - ev_now(loop);

	if (left > 0.1) {
		ev_timer_set(w, left, 0.);
		ev_timer_start(loop, w);
		return;
	}
	flow_free(f, "idle");
}

static void
flow_copy(struct pd_flow *f, int from, int to)
{
	int i, n, r;

	for (r = 0; r < PROXY_UDP_ROUNDS; r++) {
		batch_prep(0);
		if ((n = recvmmsg(from, in, PROXY_UDP_BATCH, 0, NULL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNREFUSED && from == f->efd && !f->remote) {
				svc_ep_failed(f->p, f->vipkey, f->epid);
				flow_free(f, "endpoint refused");
				return;
			}
			flow_free(f, strerror(errno));
			return;
		}
		f->last = ev_now(f->p->loop);
		for (i = 0; i < n; i++)
			batch_add(i, i);
		batch_send(f->key, to, n);
		if (n < PROXY_UDP_BATCH)
			return; /* the socket is empty */
	}
}

static void
flow_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pd_flow *f = w->data;

	if (w == &f->c_rd)
		flow_copy(f, f->cfd, f->efd);
	else
		flow_copy(f, f->efd, f->cfd);
}

static void
flow_tun_cb(void *arg, int ok, const char *reason)
{
	struct pd_flow *f = arg;

	f->pending = 0;
	if (ok) {
		f->p->n_tunneled++;
		return;
	}
	log_info("udp %s: endpoint %s failed: %s", f->key, f->epid, reason);
	svc_ep_failed(f->p, f->vipkey, f->epid);
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

static struct pd_flow *
flow_new(struct proxyd *p, const char *key, const struct sockaddr_in *client,
	 const struct sockaddr_in *orig)
{
	struct pd_flow *f;
	struct pd_vip *v;
	struct pd_ep *ep;
	char cip[INET_ADDRSTRLEN];
	int one = 1, idx, pair[2];

	if ((v = svc_lookup(p, orig, EM_PROTO_UDP)) == NULL)
		return NULL;
	if (hmap_count(p->udp->flows) >= PROXY_UDP_MAX) {
		log_warnx_once("udpmax", "too many UDP flows (%d): new ones are dropped",
			       PROXY_UDP_MAX);
		return NULL;
	}
	inet_ntop(AF_INET, &client->sin_addr, cip, sizeof(cip));
	if ((idx = svc_pick(p, v, cip, NULL, 0, NULL, 0)) == -1) {
		log_info("udp %s: no usable endpoint", key);
		return NULL;
	}
	ep = &v->eps[idx];
	f = xcalloc(1, sizeof(*f));
	f->p = p;
	f->cfd = f->efd = -1;
	snprintf(f->key, sizeof(f->key), "%s", key);
	snprintf(f->vipkey, sizeof(f->vipkey), "%s", v->key);
	snprintf(f->epid, sizeof(f->epid), "%s", ep->id);
	snprintf(f->client_txt, sizeof(f->client_txt), "%s:%u", cip, ntohs(client->sin_port));
	if ((f->cfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(f->cfd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ||
	    setsockopt(f->cfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(f->cfd, (const struct sockaddr *)orig, sizeof(*orig)) == -1 ||
	    connect(f->cfd, (const struct sockaddr *)client, sizeof(*client)) == -1) {
		log_warn("udp flow %s: client socket", key);
		goto fail;
	}
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
		f->remote = 1;
		if (tun_open(p, pair[1], ep->node, ep->ip, ep->port, EM_PROTO_UDP, f->client_txt,
			     flow_tun_cb, f, &f->tun_id) == -1) {
			close(pair[1]);
			svc_ep_failed(p, v->key, ep->id);
			goto fail;
		}
		close(pair[1]); /* tunneld has its copy */
		f->pending = 1;
	}
	log_debug("udp flow %s -> %s (%s)", key, ep->id, f->remote ? "tunnel" : "local");
	p->n_conns++;
	v->n_conns++;
	ev_io_init(&f->c_rd, flow_cb, f->cfd, EV_READ);
	ev_io_init(&f->e_rd, flow_cb, f->efd, EV_READ);
	f->c_rd.data = f->e_rd.data = f;
	ev_io_start(p->loop, &f->c_rd);
	ev_io_start(p->loop, &f->e_rd);
	f->last = ev_now(p->loop);
	ev_timer_init(&f->idle, idle_cb, PROXY_UDP_IDLE, 0.);
	f->idle.data = f;
	ev_timer_start(p->loop, &f->idle);
	hmap_put(p->udp->flows, f->key, f);
	return f;
fail:
	if (f->cfd != -1)
		close(f->cfd);
	if (f->efd != -1)
		close(f->efd);
	free(f);
	return NULL;
}

static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxyd *p = w->data;
	struct sockaddr_in orig;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], key[128];
	struct cmsghdr *cm;
	struct msghdr *mh;
	struct pd_flow *f, *cur;
	int i, j, n, r, have;

	for (r = 0; r < PROXY_UDP_ROUNDS; r++) {
		batch_prep(1);
		if ((n = recvmmsg(p->udp->lfd, in, PROXY_UDP_BATCH, 0, NULL)) == -1)
			return;
		/* runs of datagrams of one flow leave in one sendmmsg */
		cur = NULL;
		j = 0;
		for (i = 0; i < n && p->synced; i++) {
			mh = &in[i].msg_hdr;
			have = 0;
			for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm))
				if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_ORIGDSTADDR) {
					memcpy(&orig, CMSG_DATA(cm), sizeof(orig));
					have = 1;
				}
			if (!have || mh->msg_namelen < sizeof(names[i]))
				continue;
			inet_ntop(AF_INET, &names[i].sin_addr, a, sizeof(a));
			inet_ntop(AF_INET, &orig.sin_addr, b, sizeof(b));
			snprintf(key, sizeof(key), "%s:%u>%s:%u", a, ntohs(names[i].sin_port), b,
				 ntohs(orig.sin_port));
			if ((f = hmap_get(p->udp->flows, key)) == NULL &&
			    (f = flow_new(p, key, &names[i], &orig)) == NULL)
				continue;
			f->last = ev_now(loop);
			if (f != cur && j > 0) {
				batch_send(cur->key, cur->efd, j);
				j = 0;
			}
			cur = f;
			batch_add(j++, i);
		}
		if (j > 0)
			batch_send(cur->key, cur->efd, j);
		if (n < PROXY_UDP_BATCH)
			return;
	}
}

int
udp_listen(struct proxyd *p)
{
	struct sockaddr_in sa;
	int one = 1;

	p->udp = xcalloc(1, sizeof(*p->udp));
	p->udp->flows = hmap_new();
	if ((p->udp->lfd = listen_reuse(p, "udp", SOCK_DGRAM)) != -1)
		goto keep;
	if ((p->udp->lfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(p->udp->lfd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ||
	    setsockopt(p->udp->lfd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one)) == -1) {
		log_warn("udp: IP_TRANSPARENT/IP_RECVORIGDSTADDR (needs CAP_NET_ADMIN)");
		return -1;
	}
	setsockopt(p->udp->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr = p->bind_ip;
	sa.sin_port = htons(p->port);
	if (bind(p->udp->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
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
udp_start(struct proxyd *p)
{
	ev_io_init(&p->udp->w, listen_cb, p->udp->lfd, EV_READ);
	p->udp->w.data = p;
	ev_io_start(p->loop, &p->udp->w);
}

size_t
udp_count(const struct proxyd *p)
{
	return p->udp ? hmap_count(p->udp->flows) : 0;
}
