/*
 * The TCP relay (relay.h).  Per direction: recv() into a shared scratch
 * buffer and send() it on at once; only what the peer would not take is
 * kept, in that direction's buffer (at most RELAY_BUF_SIZE, more only for
 * preloaded bytes), and reading stops until it is written.  Between two
 * plain sockets a read that fills the whole scratch buffer means bulk
 * data: the direction switches to splice(2) through a pipe (at most
 * RELAY_PIPE_SIZE in it) taken from a bounded pool, and gives the drained
 * pipe back after a short read.  A short read also ends the round (the
 * socket is empty, so no read is spent on EAGAIN) unless a TLS end still
 * holds decrypted bytes.  At most RELAY_ROUNDS reads per direction and
 * event.  EOF is propagated with shutdown(SHUT_WR) (close_notify first on
 * a TLS end), or by the caller's close() when the other direction is done
 * too.  Watchers stay armed while their interest holds; libev then issues
 * no epoll_ctl between events.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "relay.h"

/* every direction reads into this and writes from it at once */
static char scratch[RELAY_BUF_SIZE];

void
relay_pool_drain(struct relay_pool *pool)
{
	while (pool->n > 0) {
		pool->n--;
		close(pool->fds[pool->n][0]);
		close(pool->fds[pool->n][1]);
	}
}

/* A pipe for splicing, from the pool if one is there; -1 if none can be had. */
static int
pipe_get(struct relay_pool *pool, int fds[2])
{
	if (pool->n > 0) {
		pool->n--;
		fds[0] = pool->fds[pool->n][0];
		fds[1] = pool->fds[pool->n][1];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

/* Give d's pipe back: an empty one to the pool while it has room, else close it. */
static void
pipe_put(struct relay_pool *pool, struct relay_dir *d)
{
	if (d->pipe[0] == -1)
		return;
	if (d->inpipe == 0 && pool->n < RELAY_PIPE_POOL) {
		pool->fds[pool->n][0] = d->pipe[0];
		pool->fds[pool->n][1] = d->pipe[1];
		pool->n++;
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
}

/* >0 bytes, 0 EOF, -1 error, RELAY_WANT_READ / RELAY_WANT_WRITE nothing now */
static ssize_t
end_read(struct relay_end *e, char *buf, size_t n)
{
	ssize_t r;

	if (e->io != NULL)
		return e->io->read(e->arg, buf, n);
	if ((r = recv(e->fd, buf, n, 0)) >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? RELAY_WANT_READ : -1;
}

static ssize_t
end_write(struct relay_end *e, const char *buf, size_t n)
{
	ssize_t r;

	if (e->io != NULL)
		return e->io->write(e->arg, buf, n);
	if ((r = send(e->fd, buf, n, MSG_NOSIGNAL)) >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? RELAY_WANT_WRITE : -1;
}

/* Room for n more bytes in d's buffer (preloads may exceed RELAY_BUF_SIZE). */
static void
dir_room(struct relay_dir *d, size_t n)
{
	size_t cap = d->len + n > RELAY_BUF_SIZE ? d->len + n : RELAY_BUF_SIZE;
	char *b;

	if (d->buf != NULL && d->off + d->len + n <= d->cap)
		return;
	b = xcalloc(1, cap);
	if (d->len > 0)
		memcpy(b, d->buf + d->off, d->len);
	free(d->buf);
	d->buf = b;
	d->cap = cap;
	d->off = 0;
}

/* Keep the n bytes at from that the peer did not take (d holds nothing). */
static void
dir_keep(struct relay_dir *d, const char *from, size_t n)
{
	d->off = d->len = 0;
	dir_room(d, n);
	memcpy(d->buf, from, n);
	d->len = n;
}

/* Write what d holds: 1 all written, 0 the peer is full, -1 error. */
static int
dir_flush(struct relay_dir *d)
{
	ssize_t n;

	if (d->len > 0) {
		n = end_write(d->dst, d->buf + d->off, d->len);
		if (n == -1)
			return -1;
		if (n < 0) {
			d->dst->xrd |= n == RELAY_WANT_READ;
			return 0;
		}
		d->off += (size_t)n;
		d->len -= (size_t)n;
		if (d->len > 0)
			return 0; /* a short write: the socket buffer is full */
		d->off = 0;
	}
	if (d->inpipe > 0) {
		n = splice(d->pipe[0], NULL, d->dst->fd, NULL, d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		d->inpipe -= (size_t)n;
		if (d->inpipe > 0)
			return 0;
	}
	return 1;
}

static size_t
end_pending(const struct relay_end *e)
{
	return e->io != NULL && e->io->pending != NULL ? e->io->pending(e->arg) : 0;
}

/* Splice into a pipe (1 more round), or 0 to end the round; -1 on a fatal error. */
static int
dir_splice_in(struct relay *r, struct relay_dir *d)
{
	ssize_t n;
	int f;

	n = splice(d->src->fd, NULL, d->pipe[1], NULL, RELAY_PIPE_SIZE,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		d->inpipe = (size_t)n;
		d->bytes += (size_t)n;
		d->spliced += (size_t)n;
		r->t_io = ev_now(r->loop);
		if (n >= RELAY_BUF_SIZE)
			return 1;
		/* a short read: back to the buffer once the pipe is empty */
		if ((f = dir_flush(d)) == -1)
			return -1;
		if (f == 1)
			pipe_put(r->pool, d);
		return 0;
	}
	if (n == 0)
		d->eof = 1;
	else if (errno == EAGAIN)
		pipe_put(r->pool, d); /* empty: an idle direction holds none */
	else if (errno != EINTR)
		return -1;
	return 0;
}

/* Read and pass on through scratch: 1 more round, 0 end the round, -1 fatal. */
static int
dir_copy(struct relay *r, struct relay_dir *d)
{
	ssize_t n, w;

	n = end_read(d->src, scratch, sizeof(scratch));
	if (n == 0)
		d->eof = 1;
	if (n == -1)
		return -1;
	if (n <= 0) {
		d->src->xwr |= n == RELAY_WANT_WRITE;
		return 0;
	}
	d->bytes += (size_t)n;
	r->t_io = ev_now(r->loop);
	w = end_write(d->dst, scratch, (size_t)n);
	if (w == -1)
		return -1;
	if (w < 0) {
		d->dst->xrd |= w == RELAY_WANT_READ;
		w = 0;
	}
	if (w < n) {
		dir_keep(d, scratch + w, (size_t)(n - w));
		return 0;
	}
	if (n < (ssize_t)sizeof(scratch))
		return end_pending(d->src) > 0; /* the socket is empty: wait for more */
	/* bulk: splice from now on between plain sockets, if a pipe can be had */
	if (d->src->io == NULL && d->dst->io == NULL)
		pipe_get(r->pool, d->pipe);
	return 1;
}

/*
 * Move what we can in one direction, at most RELAY_ROUNDS reads; -1 on a
 * fatal error.  Reads only when nothing is held, so bytes keep their
 * order and each direction holds at most one buffer or one pipe.
 */
static int
dir_pump(struct relay *r, struct relay_dir *d)
{
	struct relay_dir *other = d == &r->up ? &r->down : &r->up;
	int i, f;

	for (i = 0; i < RELAY_ROUNDS; i++) {
		if ((f = dir_flush(d)) == -1)
			return -1;
		if (f == 0 || d->eof)
			break;
		f = d->pipe[0] != -1 ? dir_splice_in(r, d) : dir_copy(r, d);
		if (f == -1)
			return -1;
		if (f == 0)
			break;
	}
	if (d->eof && d->len == 0 && d->inpipe == 0 && !d->shut) {
		if (d->dst->io != NULL)
			d->dst->io->shutdown(d->dst->arg);
		else if (!other->shut) /* else the caller's close() sends our FIN */
			shutdown(d->dst->fd, SHUT_WR);
		d->shut = 1;
		pipe_put(r->pool, d);
	}
	/* decrypted bytes left after the last round: no readability will tell */
	if (!d->eof && d->len == 0 && end_pending(d->src) > 0)
		ev_feed_event(r->loop, &d->src->rd, EV_READ);
	return 0;
}

void
relay_want(struct ev_loop *loop, ev_io *w, int on)
{
	if (on)
		ev_io_start(loop, w);
	else
		ev_io_stop(loop, w);
}

/* Read interest only while nothing is held, write interest only while something is. */
static void
relay_arm(struct relay *r)
{
	struct relay_dir *d;
	int i;

	for (i = 0; i < 2; i++) {
		d = i == 0 ? &r->up : &r->down;
		relay_want(r->loop, &d->src->rd,
			   (!d->eof && d->len == 0 && d->inpipe == 0) || d->src->xrd);
		relay_want(r->loop, &d->dst->wr, d->len > 0 || d->inpipe > 0 || d->dst->xwr);
	}
}

static void
relay_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct relay_end *e = w->data;
	struct relay *r = e->r;
	int rc;

	if (e->io != NULL) {
		/* a TLS end may need either event for either direction */
		e->xrd = e->xwr = 0;
		rc = dir_pump(r, &r->up) == -1 || dir_pump(r, &r->down) == -1 ? -1 : 0;
	} else /* a's read and b's write serve a -> b */
		rc = dir_pump(r, (w == &e->rd) == (e == &r->a) ? &r->up : &r->down);
	if (rc == -1) {
		r->done(r->arg, -1);
		return;
	}
	if (r->up.shut && r->down.shut) {
		r->done(r->arg, 0);
		return;
	}
	relay_arm(r);
}

static void
end_init(struct relay *r, struct relay_end *e, int fd, const struct relay_io *io, void *arg)
{
	e->r = r;
	e->fd = fd;
	e->io = io;
	e->arg = arg;
	ev_io_init(&e->rd, relay_cb, fd, EV_READ);
	ev_io_init(&e->wr, relay_cb, fd, EV_WRITE);
	e->rd.data = e->wr.data = e;
}

void
relay_init(struct relay *r, struct ev_loop *loop, struct relay_pool *pool, int a,
	   const struct relay_io *aio, void *aarg, int b, const struct relay_io *bio, void *barg,
	   relay_done_cb *done, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->pool = pool;
	r->done = done;
	r->arg = arg;
	end_init(r, &r->a, a, aio, aarg);
	end_init(r, &r->b, b, bio, barg);
	r->up.src = r->down.dst = &r->a;
	r->up.dst = r->down.src = &r->b;
	r->up.pipe[0] = r->up.pipe[1] = r->down.pipe[0] = r->down.pipe[1] = -1;
}

void
relay_preload(struct relay *r, int to_b, const char *p, size_t n)
{
	struct relay_dir *d = to_b ? &r->up : &r->down;

	if (n == 0)
		return;
	dir_room(d, n);
	memcpy(d->buf + d->off + d->len, p, n);
	d->len += n;
}

int
relay_start(struct relay *r)
{
	r->started = 1;
	r->t_io = ev_now(r->loop);
	/* a has most likely spoken already; b only when preloaded or TLS */
	if (dir_pump(r, &r->up) == -1)
		return -1;
	if ((r->down.len > 0 || r->b.io != NULL) && dir_pump(r, &r->down) == -1)
		return -1;
	if (r->up.shut && r->down.shut)
		return 1;
	relay_arm(r);
	return 0;
}

void
relay_stop(struct relay *r)
{
	struct relay_dir *d;
	int i;

	ev_io_stop(r->loop, &r->a.rd);
	ev_io_stop(r->loop, &r->a.wr);
	ev_io_stop(r->loop, &r->b.rd);
	ev_io_stop(r->loop, &r->b.wr);
	for (i = 0; i < 2; i++) {
		d = i == 0 ? &r->up : &r->down;
		pipe_put(r->pool, d);
		free(d->buf);
		d->buf = NULL;
		d->off = d->len = d->cap = 0;
	}
	r->started = 0;
}

size_t
relay_held(const struct relay_dir *d)
{
	return d->len + d->inpipe;
}
