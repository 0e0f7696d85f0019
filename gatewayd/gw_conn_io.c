/*
 * A connection's four bounded buffers and its I/O: cin (client bytes,
 * parsed for heads), uout (to the upstream: rewritten heads and request
 * bodies), uin (upstream bytes, parsed for response heads), cout (to the
 * client).  The client is read and written through TLS when terminated.
 * Each call records in want_* which readiness would let it go on.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "gatewayd.h"

size_t
gw_buf_room(struct gw_buf *b)
{
	if (b->len == 0)
		b->off = 0;
	else if (b->off > 0 && b->off + b->len > GW_CBUF_SIZE / 2) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	return GW_CBUF_SIZE - b->off - b->len;
}

void
gw_buf_eat(struct gw_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

int
gw_buf_put(struct gw_buf *b, const char *p, size_t n)
{
	if (gw_buf_room(b) < n)
		return -1;
	memcpy(b->d + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

/* client I/O, through TLS when terminated: >0 bytes, 0 nothing now, -1 error */
static ssize_t
c_read(struct gw_conn *c, char *p, size_t n)
{
	ssize_t r;

	if (c->ssl != NULL)
		r = gw_tls_read(c->ssl, p, n);
	else if ((r = recv(c->cfd, p, n, 0)) == -1 &&
		 (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		r = RELAY_WANT_READ;
	if (r > 0)
		c->want_cr = 0;
	else if (r == 0)
		c->c_eof = 1;
	else if (r == RELAY_WANT_READ)
		c->want_cr = 1;
	else if (r == RELAY_WANT_WRITE)
		c->want_cw = 1;
	return r < -1 ? 0 : r;
}

static ssize_t
c_write(struct gw_conn *c, const char *p, size_t n)
{
	ssize_t r;

	if (c->ssl != NULL)
		r = gw_tls_write(c->ssl, p, n);
	else if ((r = send(c->cfd, p, n, MSG_NOSIGNAL)) == -1 &&
		 (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		r = RELAY_WANT_WRITE;
	if (r >= 0)
		c->want_cw = (size_t)r < n;
	else if (r == RELAY_WANT_WRITE)
		c->want_cw = 1;
	else if (r == RELAY_WANT_READ)
		c->want_cr = 1;
	return r < -1 ? 0 : r;
}

/* Read the client into b: 1 progress (bytes or EOF), 0 none, -1 error. */
int
gw_conn_rd_client(struct gw_conn *c, struct gw_buf *b)
{
	size_t room;
	ssize_t r;

	if (c->c_eof || (room = gw_buf_room(b)) == 0)
		return 0;
	r = c_read(c, b->d + b->off + b->len, room);
	if (r < 0)
		return -1;
	if (r == 0)
		return c->c_eof;
	b->len += (size_t)r;
	c->t_io = ev_now(c->g->d->loop);
	return 1;
}

int
gw_conn_wr_client(struct gw_conn *c, struct gw_buf *b)
{
	ssize_t r;
	int progress = 0;

	while (b->len > 0) {
		r = c_write(c, b->d + b->off, b->len);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		gw_buf_eat(b, (size_t)r);
		progress = 1;
		c->t_io = ev_now(c->g->d->loop);
	}
	return progress;
}

int
gw_conn_rd_up(struct gw_conn *c, struct gw_buf *b)
{
	size_t room;
	ssize_t r;

	if (c->u_eof || c->ufd == -1 || (room = gw_buf_room(b)) == 0)
		return 0;
	r = recv(c->ufd, b->d + b->off + b->len, room, 0);
	if (r > 0) {
		b->len += (size_t)r;
		c->want_ur = 0;
		c->t_io = ev_now(c->g->d->loop);
		return 1;
	}
	if (r == 0) {
		c->u_eof = 1;
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->want_ur = 1;
		return 0;
	}
	return -1;
}

int
gw_conn_wr_up(struct gw_conn *c, struct gw_buf *b)
{
	ssize_t r;
	int progress = 0;

	while (b->len > 0 && c->ufd != -1) {
		r = send(c->ufd, b->d + b->off, b->len, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				c->want_uw = 1;
				break;
			}
			return -1;
		}
		c->want_uw = 0;
		gw_buf_eat(b, (size_t)r);
		progress = 1;
		c->t_io = ev_now(c->g->d->loop);
	}
	return progress;
}

void
gw_conn_shutdown_client(struct gw_conn *c)
{
	if (c->c_shut)
		return;
	c->c_shut = 1;
	if (c->ssl != NULL)
		gw_tls_io.shutdown(c->ssl); /* close_notify, best effort, then FIN */
	else
		shutdown(c->cfd, SHUT_WR);
}
