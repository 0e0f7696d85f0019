/*
 * A framed IPC connection on the libev loop.  Read interest stays on (the
 * frame limit bounds the read buffer); a read takes what the socket holds
 * and dispatches every complete frame in it (an open costs one recvmsg, a
 * burst of deltas few).  Write interest only while data is queued.  Passed
 * fds are queued with the stream offset of the frame they belong to, so
 * each rides on that frame's first byte; on reading, each is paired with
 * the first flagged frame that starts within the bytes it came with.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define FDQ_MAX		64
#define IPC_RBUF_MIN	4096  /* a read takes up to this much: many small frames at once */
#define IPC_RBUF_KEEP	65536 /* a bigger buffer (a snapshot's frame) is freed once emptied */
#define IPC_TURN_FRAMES 64    /* frames (or reads) one read callback takes before it yields */
#define WFDQ_MAX	4096  /* fds queued for sending; a burst of opens may queue many */

struct ipc_conn {
	struct ev_loop *loop;
	int fd;
	ev_io rw, ww;
	size_t max_frame;
	ipc_msg_cb on_msg;
	ipc_close_cb on_close;
	void *arg;
	uid_t uid;
	pid_t pid;

	uint8_t *rbuf; /* bytes read: [roff, rlen) not dispatched yet */
	size_t roff, rlen, rcap;
	uint64_t rbase; /* stream offset of rbuf[0] */
	struct rfd {	/* fds received, not yet claimed by a frame */
		int fd;
		uint64_t from, to; /* the stream bytes they came with */
	} rfds[FDQ_MAX];
	size_t nrfds;

	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	uint64_t wsent; /* stream offset of wbuf[woff] */
	struct wfd {
		uint64_t at;
		int fd;
	} * wfds;
	size_t nwfds, wfdcap;

	int dispatching, dead;
	int eager; /* ipc_conn_set_eager */
};

static void conn_read_cb(struct ev_loop *, ev_io *, int);
static void conn_write_cb(struct ev_loop *, ev_io *, int);
static int conn_write(struct ipc_conn *);

struct ipc_conn *
ipc_conn_new(struct ev_loop *loop, int fd, size_t max_frame, ipc_msg_cb on_msg,
	     ipc_close_cb on_close, void *arg)
{
	struct ipc_conn *c;
	gid_t gid;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("%s", __func__);
	c->loop = loop;
	c->fd = fd;
	c->max_frame = max_frame;
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->arg = arg;
	c->uid = (uid_t)-1;
	if (ipc_peercred(fd, &c->uid, &gid, &c->pid) == -1)
		c->pid = -1;
	ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->ww, conn_write_cb, fd, EV_WRITE);
	c->rw.data = c->ww.data = c;
	ev_io_start(loop, &c->rw);
	return c;
}

void
ipc_conn_set_eager(struct ipc_conn *c, int on)
{
	c->eager = on != 0;
}

void
ipc_conn_set_arg(struct ipc_conn *c, void *arg)
{
	c->arg = arg;
}

int
ipc_conn_fd(const struct ipc_conn *c)
{
	return c->fd;
}

uid_t
ipc_conn_uid(const struct ipc_conn *c)
{
	return c->uid;
}

pid_t
ipc_conn_pid(const struct ipc_conn *c)
{
	return c->pid;
}

size_t
ipc_conn_queued(const struct ipc_conn *c)
{
	return c->wlen - c->woff;
}

static void
conn_release(struct ipc_conn *c)
{
	size_t i;

	ev_io_stop(c->loop, &c->rw);
	ev_io_stop(c->loop, &c->ww);
	close(c->fd);
	for (i = 0; i < c->nrfds; i++)
		close(c->rfds[i].fd);
	for (i = 0; i < c->nwfds; i++)
		close(c->wfds[i].fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->wfds);
	free(c);
}

/* While a message is being dispatched the conn is only marked; the reader frees it after. */
void
ipc_conn_free(struct ipc_conn *c)
{
	if (c == NULL)
		return;
	c->on_close = NULL;
	if (c->dispatching) {
		c->dead = 1;
		ev_io_stop(c->loop, &c->rw);
		ev_io_stop(c->loop, &c->ww);
		return;
	}
	conn_release(c);
}

/* The close callback runs once and must not free the conn: drop does. */
void
ipc_conn_drop(struct ipc_conn *c, const char *why)
{
	ipc_close_cb cb = c->on_close;

	if (c->dead)
		return;
	c->dead = 1;
	c->on_close = NULL;
	ev_io_stop(c->loop, &c->rw);
	ev_io_stop(c->loop, &c->ww);
	if (cb != NULL)
		cb(c, why, c->arg);
	if (!c->dispatching)
		conn_release(c);
}

/* Append len bytes to the write queue; fd >= 0 (owned) rides on the first of them. */
static void
conn_queue(struct ipc_conn *c, const void *p, size_t len, int fd)
{
	size_t need;

	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	need = c->wlen + len;
	if (need > c->wcap) {
		if (c->woff > 0) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
			need = c->wlen + len;
		}
		if (need > c->wcap) {
			size_t cap = c->wcap ? c->wcap : 4096;
			while (cap < need)
				cap *= 2;
			if ((c->wbuf = realloc(c->wbuf, cap)) == NULL)
				fatal("%s", __func__);
			c->wcap = cap;
		}
	}
	if (fd >= 0 && c->nwfds == c->wfdcap) {
		c->wfdcap = c->wfdcap ? c->wfdcap * 2 : 8;
		if ((c->wfds = reallocarray(c->wfds, c->wfdcap, sizeof(*c->wfds))) == NULL)
			fatal("%s", __func__);
	}
	if (fd >= 0) {
		c->wfds[c->nwfds].at = c->wsent + (c->wlen - c->woff);
		c->wfds[c->nwfds].fd = fd;
		c->nwfds++;
	}
	memcpy(c->wbuf + c->wlen, p, len);
	c->wlen += len;
}

/* The conn cannot take len more bytes (and an fd): drop it. */
static int
conn_full(struct ipc_conn *c, size_t len, int fd)
{
	if (!c->dead && len <= UINT32_MAX && (fd < 0 || c->nwfds < WFDQ_MAX) &&
	    ipc_conn_queued(c) + len + IPC_HDR_LEN <= IPC_WBUF_MAX)
		return 0;
	ipc_conn_drop(c, "peer too far behind: write queue full");
	return 1;
}

int
ipc_conn_send(struct ipc_conn *c, uint16_t type, const void *payload, size_t len, int fd)
{
	struct ipc_hdr h = {type, fd >= 0 ? IPC_F_FD : 0, (uint32_t)len};
	uint8_t hb[IPC_HDR_LEN];

	if (conn_full(c, len, fd)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ipc_hdr_encode(&h, hb);
	conn_queue(c, hb, sizeof(hb), fd);
	conn_queue(c, payload, len, -1);
	if (ev_is_active(&c->ww))
		return 0;
	if (c->eager && conn_write(c) == 1)
		return 0; /* all written; an error is the write callback's to report */
	ev_io_start(c->loop, &c->ww);
	return 0;
}

/*
 * An eager conn with nothing queued sends the frame and the caller's fd in
 * one sendmsg, with no copy of the fd; only what stays queued gets one.
 */
int
ipc_conn_send_lent(struct ipc_conn *c, uint16_t type, const void *payload, size_t len, int fd)
{
	struct ipc_hdr h = {type, IPC_F_FD, (uint32_t)len};
	uint8_t hb[IPC_HDR_LEN];
	struct iovec iov[2];
	ssize_t n;
	size_t sent;
	int dfd;

	if (conn_full(c, len, fd))
		return -1; /* dropped */
	if (c->eager && ipc_conn_queued(c) == 0 && !ev_is_active(&c->ww)) {
		ipc_hdr_encode(&h, hb);
		iov[0].iov_base = hb;
		iov[0].iov_len = sizeof(hb);
		iov[1].iov_base = (void *)(uintptr_t)payload;
		iov[1].iov_len = len;
		n = ipc_sendmsg_fd(c->fd, iov, 2, fd, MSG_DONTWAIT);
		if (n > 0) {
			sent = (size_t)n;
			c->wsent += sent;
			if (sent < sizeof(hb)) {
				conn_queue(c, hb + sent, sizeof(hb) - sent, -1);
				sent = 0;
			} else {
				sent -= sizeof(hb);
			}
			if (sent < len)
				conn_queue(c, (const uint8_t *)payload + sent, len - sent, -1);
			if (ipc_conn_queued(c) > 0)
				ev_io_start(c->loop, &c->ww);
			return 0;
		}
		/* full, or an error: queued below, where the write callback meets it */
	}
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("ipc: dup of a passed fd");
		return -1;
	}
	return ipc_conn_send(c, type, payload, len, dfd);
}

int
ipc_conn_send_sbuf(struct ipc_conn *c, uint16_t type, msgpack_sbuffer *sb, int fd)
{
	return ipc_conn_send(c, type, sb->data, sb->size, fd);
}

ssize_t
ipc_sendmsg_fd(int sock, struct iovec *iov, size_t niov, int fd, int flags)
{
	struct msghdr mh;
	struct cmsghdr *cmh;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = niov;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cmh = CMSG_FIRSTHDR(&mh);
		cmh->cmsg_level = SOL_SOCKET;
		cmh->cmsg_type = SCM_RIGHTS;
		cmh->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmh), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
}

static ssize_t
send_with_fd(int sock, const uint8_t *p, size_t len, int fd, int flags)
{
	struct iovec iov = {(void *)(uintptr_t)p, len};

	return ipc_sendmsg_fd(sock, &iov, 1, fd, flags);
}

/* Write what is queued: 1 when all of it went, 0 when the socket is full,
 * -1 on an error (errno). */
static int
conn_write(struct ipc_conn *c)
{
	size_t avail, len;
	ssize_t n;
	int withfd;

	while ((avail = c->wlen - c->woff) > 0) {
		len = avail;
		withfd = 0;
		if (c->nwfds > 0) {
			if (c->wfds[0].at == c->wsent)
				withfd = 1;
			else if (c->wfds[0].at - c->wsent < len)
				len = c->wfds[0].at - c->wsent;
		}
		/* one fd per sendmsg: stop before the next frame that carries one */
		if (withfd && c->nwfds > 1 && c->wfds[1].at - c->wsent < len)
			len = c->wfds[1].at - c->wsent;
		n = send_with_fd(c->fd, c->wbuf + c->woff, len, withfd ? c->wfds[0].fd : -1,
				 MSG_DONTWAIT);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (withfd) {
			close(c->wfds[0].fd);
			memmove(&c->wfds[0], &c->wfds[1], (c->nwfds - 1) * sizeof(c->wfds[0]));
			c->nwfds--;
		}
		c->woff += (size_t)n;
		c->wsent += (uint64_t)n;
	}
	c->woff = c->wlen = 0;
	if (c->wcap > 65536) { /* a snapshot's worth: not kept for the small deltas after it */
		free(c->wbuf);
		c->wbuf = NULL;
		c->wcap = 0;
	}
	return 1;
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;
	int r = conn_write(c);

	if (r == -1)
		ipc_conn_drop(c, strerror(errno));
	else if (r == 1)
		ev_io_stop(loop, &c->ww);
}

/*
 * Take the fds that arrived with this read, each tagged with the stream
 * bytes [from, to) it came with.  The kernel hands an SCM_RIGHTS fd over
 * with the bytes of the sendmsg that carried it and ends the read there;
 * our sender sends each fd on its frame's first byte, so the frame that
 * claims it starts inside that range.
 */
static void
conn_collect_fds(struct ipc_conn *c, struct msghdr *mh, uint64_t from, uint64_t to)
{
	struct cmsghdr *cmh;
	size_t i, n;
	int fd;

	for (cmh = CMSG_FIRSTHDR(mh); cmh != NULL; cmh = CMSG_NXTHDR(mh, cmh)) {
		if (cmh->cmsg_level != SOL_SOCKET || cmh->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmh->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmh) + i * sizeof(int), sizeof(int));
			if (c->nrfds < FDQ_MAX) {
				c->rfds[c->nrfds].fd = fd;
				c->rfds[c->nrfds].from = from;
				c->rfds[c->nrfds].to = to;
				c->nrfds++;
			} else {
				close(fd);
			}
		}
	}
}

/* Close the queued fds that came wholly before stream offset at: no frame claimed them. */
static void
conn_close_stray_fds(struct ipc_conn *c, uint64_t at)
{
	size_t i, k = 0;

	for (i = 0; i < c->nrfds; i++)
		if (c->rfds[i].to <= at)
			close(c->rfds[i].fd);
		else
			c->rfds[k++] = c->rfds[i];
	c->nrfds = k;
}

/* Dispatch the complete frame at rbuf + roff; returns -1 when the conn went away. */
static int
conn_dispatch(struct ipc_conn *c, const struct ipc_hdr *h)
{
	struct ipc_msg m;
	uint64_t at = c->rbase + c->roff;
	char err[256];

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (h->flags & IPC_F_FD) {
		if (c->nrfds == 0 || c->rfds[0].from > at) {
			ipc_conn_drop(c, "frame flagged with an fd arrived without one");
			return -1;
		}
		m.fd = c->rfds[0].fd;
		memmove(&c->rfds[0], &c->rfds[1], (c->nrfds - 1) * sizeof(c->rfds[0]));
		c->nrfds--;
		if (!ipc_type_carries_fd(h->type)) {
			/* not expected: close it, the message itself is still read */
			close(m.fd);
			m.fd = -1;
		}
	} else if (ipc_type_requires_fd(h->type)) {
		snprintf(err, sizeof(err), "%s without its fd", ipc_type_name(h->type));
		ipc_conn_drop(c, err);
		return -1;
	}
	/* any other fd that came with this frame's bytes is not expected: close it */
	conn_close_stray_fds(c, at + IPC_HDR_LEN + h->len);
	if (ipc_msg_parse(&m, h->type, c->rbuf + c->roff + IPC_HDR_LEN, h->len, err, sizeof(err)) ==
	    -1) {
		if (m.fd != -1)
			close(m.fd);
		ipc_conn_drop(c, err);
		return -1;
	}
	c->roff += IPC_HDR_LEN + h->len;
	c->dispatching++;
	c->on_msg(c, &m, c->arg);
	c->dispatching--;
	ipc_msg_clear(&m);
	if (c->dead) {
		conn_release(c);
		return -1;
	}
	return 0;
}

/*
 * Room for the next read: the undispatched tail moves to the front, and the
 * buffer grows to hold the frame it starts (its header tells the length).
 * Returns the bytes the read may take, or 0 after dropping the conn.
 */
static size_t
conn_read_room(struct ipc_conn *c)
{
	struct ipc_hdr h;
	char err[256];
	size_t need = IPC_HDR_LEN, have;

	if (c->roff > 0) {
		have = c->rlen - c->roff;
		memmove(c->rbuf, c->rbuf + c->roff, have);
		c->rbase += c->roff;
		c->rlen = have;
		c->roff = 0;
	}
	if (c->rlen >= IPC_HDR_LEN) {
		if (ipc_hdr_decode(c->rbuf, c->max_frame, &h, err, sizeof(err)) == -1) {
			ipc_conn_drop(c, err);
			return 0;
		}
		need = IPC_HDR_LEN + h.len;
	}
	if (c->rlen == 0 && c->rcap > IPC_RBUF_KEEP) { /* a snapshot's worth: not kept */
		free(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
	if (need < IPC_RBUF_MIN)
		need = IPC_RBUF_MIN;
	if (need > c->rcap) {
		if ((c->rbuf = realloc(c->rbuf, need)) == NULL)
			fatal("%s", __func__);
		c->rcap = need;
	}
	return c->rcap - c->rlen;
}

/*
 * Read what the socket holds, up to the buffer's room, and dispatch every
 * complete frame in it.  One request costs one recvmsg: a read that did not
 * fill the room (or that ended at a passed fd) leaves the rest, if any, to
 * the next loop turn, which the level-triggered watcher brings at once.
 */
static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;
	struct ipc_hdr h;
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	char err[256];
	size_t room, reads = 0, frames = 0;
	ssize_t n;

	/* a turn ends after IPC_TURN_FRAMES frames (or reads): other conns and
	 * watchers get theirs; no complete frame is left behind in the buffer */
	while (reads++ < IPC_TURN_FRAMES && frames < IPC_TURN_FRAMES) {
		if ((room = conn_read_room(c)) == 0)
			return;
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = c->rbuf + c->rlen;
		iov.iov_len = room;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			ipc_conn_drop(c, strerror(errno));
			return;
		}
		if (mh.msg_controllen > 0)
			conn_collect_fds(c, &mh, c->rbase + c->rlen,
					 c->rbase + c->rlen + (size_t)n);
		if (n == 0) {
			ipc_conn_drop(c, c->rlen ? "connection closed mid-frame"
						 : "connection closed");
			return;
		}
		c->rlen += (size_t)n;
		while (c->rlen - c->roff >= IPC_HDR_LEN) {
			if (ipc_hdr_decode(c->rbuf + c->roff, c->max_frame, &h, err, sizeof(err)) ==
			    -1) {
				ipc_conn_drop(c, err);
				return;
			}
			if (c->rlen - c->roff < IPC_HDR_LEN + h.len)
				break;
			if (conn_dispatch(c, &h) == -1)
				return;
			frames++;
		}
		if ((size_t)n < room)
			return;
	}
}

static int
write_full(int fd, const uint8_t *p, size_t len, int sendfd)
{
	ssize_t n;

	while (len > 0) {
		n = send_with_fd(fd, p, len, sendfd, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sendfd = -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ipc_write_frame(int fd, uint16_t type, const void *payload, size_t len, int sendfd)
{
	struct ipc_hdr h = {type, sendfd >= 0 ? IPC_F_FD : 0, (uint32_t)len};
	uint8_t *buf;
	int rc;

	if ((buf = malloc(IPC_HDR_LEN + len)) == NULL)
		return -1;
	ipc_hdr_encode(&h, buf);
	memcpy(buf + IPC_HDR_LEN, payload, len);
	rc = write_full(fd, buf, IPC_HDR_LEN + len, sendfd);
	free(buf);
	return rc;
}

static int
read_full(int fd, uint8_t *p, size_t len, int *rfd)
{
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cmh;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	ssize_t n;
	size_t i, k;
	int fd2;

	while (len > 0) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = p;
		iov.iov_len = len;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (cmh = CMSG_FIRSTHDR(&mh); cmh != NULL; cmh = CMSG_NXTHDR(&mh, cmh)) {
			if (cmh->cmsg_level != SOL_SOCKET || cmh->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cmh->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				memcpy(&fd2, CMSG_DATA(cmh) + i * sizeof(int), sizeof(int));
				if (*rfd == -1)
					*rfd = fd2;
				else
					close(fd2); /* more than one fd: not ours */
			}
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ipc_read_frame(int fd, size_t max, struct ipc_hdr *h, uint8_t **payload, int *rfd, char *err,
	       size_t errlen)
{
	uint8_t hb[IPC_HDR_LEN];

	*payload = NULL;
	*rfd = -1;
	if (read_full(fd, hb, sizeof(hb), rfd) == -1) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		goto fail;
	}
	if (ipc_hdr_decode(hb, max, h, err, errlen) == -1)
		goto fail;
	if ((*payload = malloc(h->len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (read_full(fd, *payload, h->len, rfd) == -1) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		goto fail;
	}
	if ((h->flags & IPC_F_FD) && *rfd == -1) {
		snprintf(err, errlen, "%s: flagged with an fd but none came",
			 ipc_type_name(h->type));
		goto fail;
	}
	if (!(h->flags & IPC_F_FD) && *rfd != -1) {
		close(*rfd);
		*rfd = -1;
	}
	return 0;
fail:
	free(*payload);
	*payload = NULL;
	if (*rfd != -1) {
		close(*rfd);
		*rfd = -1;
	}
	return -1;
}

size_t
ipc_conn_flush(struct ipc_conn *c, double timeout)
{
	struct pollfd pfd = {c->fd, POLLOUT, 0};
	struct timespec t0, t1;
	double left = timeout;

	size_t left_bytes;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->dispatching++; /* a write error drops it: freed below, not in there */
	while (!c->dead && ipc_conn_queued(c) > 0) {
		conn_write_cb(c->loop, &c->ww, EV_WRITE);
		if (c->dead || ipc_conn_queued(c) == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout - (double)(t1.tv_sec - t0.tv_sec) -
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
	}
	c->dispatching--;
	if (c->dead) {
		if (c->dispatching == 0)
			conn_release(c);
		return 0;
	}
	left_bytes = ipc_conn_queued(c);
	return left_bytes;
}
