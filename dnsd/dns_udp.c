/*
 * UDP listeners.  Datagrams come in batches (recvmmsg), each goes to
 * dns_server_query; answers made on the spot are gathered and leave in one
 * sendmmsg at the end of the batch, answers that waited for an upstream
 * leave at once with sendto.  Work per wakeup is bounded.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "dns.h"
#include "log.h"
#include "model.h"

struct dns_udp {
	struct dns_server *s;
	int fd;
	ev_io io;
	bool batching;
	size_t nout;
	struct mmsghdr in[DNS_UDP_BATCH], out[DNS_UDP_BATCH];
	struct iovec iin[DNS_UDP_BATCH], iout[DNS_UDP_BATCH];
	struct sockaddr_storage peer[DNS_UDP_BATCH], opeer[DNS_UDP_BATCH];
	uint8_t ibuf[DNS_UDP_BATCH][DNS_UDP_QUERY_MAX];
	uint8_t obuf[DNS_UDP_BATCH][DNS_EDNS_UDP_MAX];
};

static void
udp_flush(struct dns_udp *u)
{
	size_t done = 0;
	int n;

	while (done < u->nout) {
		n = sendmmsg(u->fd, u->out + done, (unsigned)(u->nout - done), 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("dns udp: sendmmsg: %s", strerror(errno));
			done++; /* drop the one that failed, try the rest */
			continue;
		}
		done += (size_t)n;
	}
	u->nout = 0;
}

static void
udp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_udp *u = w->data;
	struct dns_origin o;
	int b, i, n;

	o.udp_fd = u->fd;
	o.udp = u;
	o.conn = NULL;
	for (b = 0; b < DNS_UDP_BATCHES_PER_EVENT; b++) {
		for (i = 0; i < DNS_UDP_BATCH; i++) {
			u->in[i].msg_hdr.msg_namelen = sizeof(u->peer[i]);
			u->in[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(u->fd, u->in, DNS_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("dns udp: recvmmsg");
			return;
		}
		u->batching = true;
		for (i = 0; i < n; i++) {
			/* dropped, not REFUSED: a datagram's source can be forged, and an
			 * answer to it would make us a reflector */
			if (!dns_server_client_ok(u->s, &u->peer[i], "DNS query over UDP"))
				continue;
			memcpy(&o.peer, &u->peer[i], sizeof(o.peer));
			o.peerlen = u->in[i].msg_hdr.msg_namelen;
			dns_server_query(u->s, &o, u->ibuf[i], u->in[i].msg_len);
		}
		u->batching = false;
		udp_flush(u);
		if (n < DNS_UDP_BATCH)
			return;
	}
}

int
dns_udp_add(struct dns_server *s, int fd)
{
	struct dns_udp *u;
	int i;

	if (s->nudp == DNS_UDP_LISTEN_MAX)
		return -1;
	u = xcalloc(1, sizeof(*u));
	u->s = s;
	u->fd = fd;
	for (i = 0; i < DNS_UDP_BATCH; i++) {
		u->iin[i].iov_base = u->ibuf[i];
		u->iin[i].iov_len = sizeof(u->ibuf[i]);
		u->in[i].msg_hdr.msg_iov = &u->iin[i];
		u->in[i].msg_hdr.msg_iovlen = 1;
		u->in[i].msg_hdr.msg_name = &u->peer[i];
		u->iout[i].iov_base = u->obuf[i];
		u->out[i].msg_hdr.msg_iov = &u->iout[i];
		u->out[i].msg_hdr.msg_iovlen = 1;
		u->out[i].msg_hdr.msg_name = &u->opeer[i];
	}
	ev_io_init(&u->io, udp_read_cb, fd, EV_READ);
	u->io.data = u;
	ev_io_start(s->loop, &u->io);
	s->udp[s->nudp++] = u;
	return 0;
}

void
dns_udp_free(struct dns_server *s, struct dns_udp *u)
{
	ev_io_stop(s->loop, &u->io);
	close(u->fd);
	free(u);
}

/* len already fits limit (dns_server.c cuts it); a full socket buffer drops it. */
void
dns_udp_send(struct dns_server *s, const struct dns_origin *o, uint8_t *msg, size_t len,
	     size_t limit)
{
	struct dns_udp *u = o->udp;
	size_t k;

	if (len == 0 || len > limit)
		return;
	if (u != NULL && u->batching && u->nout < DNS_UDP_BATCH && len <= sizeof(u->obuf[0])) {
		k = u->nout++;
		memcpy(u->obuf[k], msg, len);
		u->iout[k].iov_len = len;
		memcpy(&u->opeer[k], &o->peer, sizeof(o->peer));
		u->out[k].msg_hdr.msg_namelen = o->peerlen;
		return;
	}
	if (sendto(o->udp_fd, msg, len, 0, (const struct sockaddr *)&o->peer, o->peerlen) == -1 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		log_debug("dns udp: sendto: %s", strerror(errno));
}

void
dns_udp_listen(struct dns_server *s, bool on)
{
	size_t i;

	for (i = 0; i < s->nudp; i++) {
		if (on)
			ev_io_start(s->loop, &s->udp[i]->io);
		else
			ev_io_stop(s->loop, &s->udp[i]->io);
	}
}
