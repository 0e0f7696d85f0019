/*
 * The TCP relay (common/relay.c) over socketpairs, in one libev loop:
 * bulk both ways through splice (SHA-256 compared), half-close each way,
 * a slow reader bounding what the relay holds, preloaded bytes, and an
 * end read and written through relay_io (as gatewayd's TLS ends are).
 */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "relay.h"

/* One test program's end: sends out (then SHUT_WR if asked), reads into in. */
struct peer {
	int fd;
	const unsigned char *out;
	size_t outlen, outoff;
	int shut_after, reading;
	unsigned char *in;
	size_t inlen, incap;
	int eof;
	ev_io rw, ww;
};

struct world {
	struct ev_loop *loop;
	struct relay_pool pool;
	struct relay r;
	int ra, rb; /* the relay's fds */
	struct peer pa, pb;
	int done, error, timed_out;
	ev_timer guard;
};

static void
peer_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	ssize_t n;

	n = send(p->fd, p->out + p->outoff, p->outlen - p->outoff, MSG_NOSIGNAL);
	if (n > 0)
		p->outoff += (size_t)n;
	else
		ck_assert_msg(errno == EAGAIN, "peer send: %s", strerror(errno));
	if (p->outoff == p->outlen) {
		ev_io_stop(loop, w);
		if (p->shut_after)
			shutdown(p->fd, SHUT_WR);
	}
}

static void
peer_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	ssize_t n;

	/* one byte more than expected: an overrun shows as a length mismatch */
	n = recv(p->fd, p->in + p->inlen, p->incap + 1 - p->inlen, 0);
	if (n > 0)
		p->inlen += (size_t)n;
	else if (n == 0) {
		p->eof = 1;
		ev_io_stop(loop, w);
	} else
		ck_assert_msg(errno == EAGAIN, "peer recv: %s", strerror(errno));
}

static void
peer_init(struct world *wd, struct peer *p, int fd, const unsigned char *out, size_t outlen,
	  int shut_after, size_t incap)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->out = out;
	p->outlen = outlen;
	p->shut_after = shut_after;
	p->incap = incap;
	p->in = calloc(1, incap + 1);
	ev_io_init(&p->rw, peer_rd_cb, fd, EV_READ);
	ev_io_init(&p->ww, peer_wr_cb, fd, EV_WRITE);
	p->rw.data = p->ww.data = p;
	if (incap > 0)
		ev_io_start(wd->loop, &p->rw);
	if (outlen > 0)
		ev_io_start(wd->loop, &p->ww);
	else if (shut_after)
		shutdown(fd, SHUT_WR);
}

static void
done_cb(void *arg, int error)
{
	struct world *wd = arg;

	wd->done = 1;
	wd->error = error;
	relay_stop(&wd->r);
	close(wd->ra);
	close(wd->rb);
}

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct world *wd = w->data;

	wd->timed_out = 1;
	ev_break(loop, EVBREAK_ALL);
}

/* Two socketpairs: peer a <-> relay end a, relay end b <-> peer b. */
static void
world_init(struct world *wd, double guard)
{
	int s1[2], s2[2], i;

	memset(wd, 0, sizeof(*wd));
	wd->loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s1), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s2), 0);
	wd->pa.fd = s1[0];
	wd->ra = s1[1];
	wd->rb = s2[0];
	wd->pb.fd = s2[1];
	for (i = 0; i < 2; i++) /* small buffers: back pressure comes early */
		setsockopt(i ? s1[1] : s2[0], SOL_SOCKET, SO_SNDBUF, &(int){65536}, sizeof(int));
	ev_timer_init(&wd->guard, guard_cb, guard, 0.);
	wd->guard.data = wd;
	ev_timer_start(wd->loop, &wd->guard);
	ev_unref(wd->loop); /* the loop ends when the peers and the relay are done */
}

/* Everything a test made: pipes, the loop, the peers' buffers. */
static void
world_free(struct world *wd)
{
	relay_pool_drain(&wd->pool);
	ev_loop_destroy(wd->loop);
	free(wd->pa.in);
	free(wd->pb.in);
}

static void
world_relay(struct world *wd, const struct relay_io *aio, void *aarg)
{
	relay_init(&wd->r, wd->loop, &wd->pool, wd->ra, aio, aarg, wd->rb, NULL, NULL, done_cb, wd);
}

static unsigned char *
pattern(size_t n, uint32_t seed)
{
	unsigned char *p = malloc(n);
	uint32_t x = seed | 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

static void
sha256(const unsigned char *p, size_t n, unsigned char md[32])
{
	unsigned int len = 32;

	ck_assert_int_eq(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL), 1);
}

static void
assert_same(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	unsigned char ma[32], mb[32];

	ck_assert_uint_eq(alen, blen);
	sha256(a, alen, ma);
	sha256(b, blen, mb);
	ck_assert_msg(memcmp(ma, mb, 32) == 0, "SHA-256 of what came out differs");
}

START_TEST(test_bulk_splice)
{
	struct world wd;
	size_t nup = 8u << 20, ndown = 1u << 20;
	unsigned char *up = pattern(nup, 1), *down = pattern(ndown, 2);

	world_init(&wd, 20.0);
	peer_init(&wd, &wd.pa, wd.pa.fd, up, nup, 1, ndown);
	peer_init(&wd, &wd.pb, wd.pb.fd, down, ndown, 1, nup);
	world_relay(&wd, NULL, NULL);
	ck_assert_int_eq(relay_start(&wd.r), 0);
	ev_run(wd.loop, 0);
	ck_assert(!wd.timed_out);
	ck_assert(wd.done);
	ck_assert_int_eq(wd.error, 0);
	assert_same(up, nup, wd.pb.in, wd.pb.inlen);
	assert_same(down, ndown, wd.pa.in, wd.pa.inlen);
	ck_assert(wd.pa.eof && wd.pb.eof);
	ck_assert_uint_eq(wd.r.up.bytes, nup);
	ck_assert_uint_eq(wd.r.down.bytes, ndown);
	/* bulk went through the pipe, not through user space */
	ck_assert_uint_gt(wd.r.up.spliced, nup / 2);
	ck_assert_uint_gt(wd.pool.n, 0); /* drained pipes came back */
	world_free(&wd);
	free(up);
	free(down);
}
END_TEST

/* One side's EOF reaches the other while the other way still flows. */
START_TEST(test_half_close)
{
	struct world wd;
	char buf[64];
	ssize_t n;
	int i;

	world_init(&wd, 5.0);
	world_relay(&wd, NULL, NULL);
	ck_assert_int_eq(send(wd.pa.fd, "hello", 5, 0), 5);
	shutdown(wd.pa.fd, SHUT_WR);
	ck_assert_int_eq(relay_start(&wd.r), 0);
	for (i = 0; i < 10; i++)
		ev_run(wd.loop, EVRUN_NOWAIT);
	ck_assert_int_eq(recv(wd.pb.fd, buf, sizeof(buf), 0), 5);
	ck_assert_int_eq(recv(wd.pb.fd, buf, sizeof(buf), 0), 0); /* the FIN travelled on */
	ck_assert(!wd.done);
	/* b still talks to a */
	ck_assert_int_eq(send(wd.pb.fd, "world", 5, 0), 5);
	for (i = 0; i < 10; i++)
		ev_run(wd.loop, EVRUN_NOWAIT);
	n = recv(wd.pa.fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(n, 5);
	ck_assert(memcmp(buf, "world", 5) == 0);
	ck_assert(!wd.done);
	/* and b's EOF ends the relay; a sees it once the caller closes */
	shutdown(wd.pb.fd, SHUT_WR);
	for (i = 0; i < 10 && !wd.done; i++)
		ev_run(wd.loop, EVRUN_NOWAIT);
	ck_assert(wd.done);
	ck_assert_int_eq(wd.error, 0);
	ck_assert_int_eq(recv(wd.pa.fd, buf, sizeof(buf), 0), 0);
	world_free(&wd);
}
END_TEST

/* A reader that does not read: the relay stops reading, holding one bounded buffer. */
START_TEST(test_slow_reader)
{
	struct world wd;
	size_t n = 16u << 20;
	unsigned char *up = pattern(n, 3);
	int i;

	world_init(&wd, 20.0);
	peer_init(&wd, &wd.pa, wd.pa.fd, up, n, 1, 0);
	world_relay(&wd, NULL, NULL);
	ck_assert_int_eq(relay_start(&wd.r), 0);
	for (i = 0; i < 2000; i++)
		ev_run(wd.loop, EVRUN_NOWAIT);
	/* everything the sockets hold is far less than 16 MiB: the writer is blocked */
	ck_assert_uint_lt(wd.pa.outoff, n / 4);
	ck_assert(ev_is_active(&wd.pa.ww));
	ck_assert_uint_le(relay_held(&wd.r.up), RELAY_PIPE_SIZE);
	ck_assert_uint_gt(relay_held(&wd.r.up), 0);
	ck_assert_msg(!ev_is_active(&wd.r.a.rd), "the relay reads on while it holds data");
	ck_assert(ev_is_active(&wd.r.b.wr));
	/* the reader wakes up: everything arrives, in order */
	peer_init(&wd, &wd.pb, wd.pb.fd, NULL, 0, 1, n);
	ev_run(wd.loop, 0);
	ck_assert(!wd.timed_out);
	assert_same(up, n, wd.pb.in, wd.pb.inlen);
	world_free(&wd);
	free(up);
}
END_TEST

/*
 * A fake TLS end: recv/send behind relay_io.  Like OpenSSL it reads a
 * whole "record" (up to 16 KiB) from the socket and hands it out in small
 * pieces, so bytes wait inside it while the socket shows nothing to read.
 */
struct fake_io {
	int fd, reads, writes, shut;
	char rec[16384];
	size_t off, len;
};

static ssize_t
fake_read(void *arg, char *buf, size_t n)
{
	struct fake_io *f = arg;
	ssize_t r;

	f->reads++;
	if (f->len == 0) {
		if ((r = recv(f->fd, f->rec, sizeof(f->rec), 0)) <= 0)
			return r == 0 ? 0 : errno == EAGAIN ? RELAY_WANT_READ : -1;
		f->off = 0;
		f->len = (size_t)r;
	}
	n = n > 1000 ? 1000 : n;
	n = n > f->len ? f->len : n;
	memcpy(buf, f->rec + f->off, n);
	f->off += n;
	f->len -= n;
	return (ssize_t)n;
}

static ssize_t
fake_write(void *arg, const char *buf, size_t n)
{
	struct fake_io *f = arg;
	ssize_t r;

	f->writes++;
	if ((r = send(f->fd, buf, n, MSG_NOSIGNAL)) >= 0)
		return r;
	return errno == EAGAIN ? RELAY_WANT_WRITE : -1;
}

static void
fake_shutdown(void *arg)
{
	struct fake_io *f = arg;

	f->shut++;
	shutdown(f->fd, SHUT_WR);
}

static size_t
fake_pending(void *arg)
{
	return ((struct fake_io *)arg)->len;
}

static const struct relay_io fake = {fake_read, fake_write, fake_shutdown, fake_pending};

/*
 * Preloaded bytes go first; an io end is never spliced, is read on while
 * it holds bytes (the socket silent), and gets its EOF by io.
 */
START_TEST(test_preload_and_io)
{
	struct world wd;
	struct fake_io f;
	size_t nup = 1u << 20, ndown = 2u << 20;
	unsigned char *up = pattern(nup, 4), *down = pattern(ndown, 5), *expup, *expdown;

	world_init(&wd, 20.0);
	memset(&f, 0, sizeof(f));
	f.fd = wd.ra;
	peer_init(&wd, &wd.pa, wd.pa.fd, up, nup, 1, ndown + 3);
	peer_init(&wd, &wd.pb, wd.pb.fd, down, ndown, 1, nup + 40000);
	world_relay(&wd, &fake, &f);
	/* more than a buffer's worth, as a gateway's HTTP leftovers can be */
	expup = pattern(nup + 40000, 6);
	relay_preload(&wd.r, 1, (const char *)expup, 40000);
	memcpy(expup + 40000, up, nup);
	relay_preload(&wd.r, 0, "pre", 3);
	expdown = malloc(ndown + 3);
	memcpy(expdown, "pre", 3);
	memcpy(expdown + 3, down, ndown);
	ck_assert_int_eq(relay_start(&wd.r), 0);
	ev_run(wd.loop, 0);
	ck_assert(!wd.timed_out);
	ck_assert(wd.done);
	assert_same(expup, nup + 40000, wd.pb.in, wd.pb.inlen);
	assert_same(expdown, ndown + 3, wd.pa.in, wd.pa.inlen);
	ck_assert_uint_eq(wd.r.up.spliced, 0);
	ck_assert_uint_eq(wd.r.down.spliced, 0);
	ck_assert_int_gt(f.reads, (int)(nup / 1000));
	ck_assert_int_gt(f.writes, 0);
	ck_assert_int_eq(f.shut, 1);
	world_free(&wd);
	free(up);
	free(down);
	free(expup);
	free(expdown);
}
END_TEST

/* Bytes held inside an io end are read on though its socket stays silent. */
START_TEST(test_io_pending)
{
	struct world wd;
	struct fake_io f;
	unsigned char *msg = pattern(sizeof(f.rec), 7), got[sizeof(f.rec) + 1];
	size_t n = 0;
	ssize_t r;
	int i;

	world_init(&wd, 5.0);
	memset(&f, 0, sizeof(f));
	f.fd = wd.ra;
	world_relay(&wd, &fake, &f);
	/* one record: the fake takes it in one recv, then hands out 1000 bytes a read */
	ck_assert_int_eq(send(wd.pa.fd, msg, sizeof(f.rec), 0), (ssize_t)sizeof(f.rec));
	ck_assert_int_eq(relay_start(&wd.r), 0);
	for (i = 0; i < 50; i++) {
		ev_run(wd.loop, EVRUN_NOWAIT);
		while ((r = recv(wd.pb.fd, got + n, sizeof(got) - n, MSG_DONTWAIT)) > 0)
			n += (size_t)r;
	}
	assert_same(msg, sizeof(f.rec), got, n);
	relay_stop(&wd.r);
	world_free(&wd);
	free(msg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bulk_splice);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_slow_reader);
	tcase_add_test(tc, test_preload_and_io);
	tcase_add_test(tc, test_io_pending);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
