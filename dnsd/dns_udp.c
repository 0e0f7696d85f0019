/*
 * UDP listeners: a bounded number of datagrams per wakeup, each handed to
 * dns_server_query; answers go back with sendto from the same socket.
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
	uint8_t buf[DNS_MSG_MAX];
};

static void
udp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_udp *u = w->data;
	struct dns_origin o;
	ssize_t n;
	int i;

	o.udp_fd = u->fd;
	o.conn = NULL;
	for (i = 0; i < DNS_UDP_READS_PER_EVENT; i++) {
		o.peerlen = sizeof(o.peer);
		n = recvfrom(u->fd, u->buf, sizeof(u->buf), 0, (struct sockaddr *)&o.peer,
			     &o.peerlen);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("dns udp: recvfrom");
			return;
		}
		dns_server_query(u->s, &o, u->buf, (size_t)n);
	}
}

int
dns_udp_add(struct dns_server *s, int fd)
{
	struct dns_udp *u;

	if (s->nudp == DNS_UDP_LISTEN_MAX)
		return -1;
	u = xcalloc(1, sizeof(*u));
	u->s = s;
	u->fd = fd;
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
	if (len == 0 || len > limit)
		return;
	if (sendto(o->udp_fd, msg, len, 0, (const struct sockaddr *)&o->peer, o->peerlen) == -1 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		log_debug("dns udp: sendto: %s", strerror(errno));
}
