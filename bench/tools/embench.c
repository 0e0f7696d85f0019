/*
 * embench: tiny load generators and servers for bench/tunnel.sh and
 * bench/proxy.sh.  Every client mode is bounded in time and prints one
 * line of key=value results on stdout; servers run until killed.
 *
 *   embench sink PORT                       TCP: read and discard, close on EOF
 *   embench echo PORT                       TCP: echo back (any number of conns)
 *   embench udpecho PORT                    UDP: echo back
 *   embench bulk HOST:PORT STREAMS BYTES SECS
 *       STREAMS connections each send BYTES then FIN, and wait for the
 *       server's FIN (so every byte has reached the sink)
 *       -> bytes= secs= mbps= (MB/s, 10^6 bytes) done=1|0
 *   embench pingpong HOST:PORT COUNT SECS
 *       1-byte echo round trips, one at a time (after 200 warm-up ones)
 *       -> n= p50_us= p99_us= mean_us= min_us=
 *   embench idle HOST:PORT N SECS
 *       opens N connections, one 1-byte echo on each, prints "ready n=N",
 *       then holds them until SIGTERM/SIGINT or SECS
 *   embench connrate HOST:PORT CONC SECS
 *       CONC parallel loops of connect, 1-byte echo, close -> n= rate=
 *   embench udprate HOST:PORT WINDOW SECS
 *       WINDOW 64-byte datagrams in flight to a UDP echo -> n= rate= lost=
 *
 * EMBENCH_SOCKS5=ADDR:PORT: TCP clients connect through that SOCKS5 proxy
 * (no auth, CONNECT; HOST may then be a name, sent as a domain), blocking
 * until the proxy's reply, then go on as without it.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (256 * 1024)

static char buf[BUFSZ];
static volatile sig_atomic_t stop;

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "embench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct sockaddr_in socks_sin; /* the proxy, when EMBENCH_SOCKS5 is set */
static int socks_on;
static char socks_host[256]; /* the target as given */
static uint16_t socks_port;

static void
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char h[256], *c;

	snprintf(h, sizeof(h), "%s", s);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if ((c = strrchr(h, ':')) == NULL) {
		fprintf(stderr, "embench: want HOST:PORT, got %s\n", s);
		exit(2);
	}
	*c = '\0';
	sin->sin_port = htons((uint16_t)atoi(c + 1));
	if (socks_on && sin != &socks_sin) {
		snprintf(socks_host, sizeof(socks_host), "%s", h);
		socks_port = (uint16_t)atoi(c + 1);
		return; /* the proxy resolves it */
	}
	if (inet_pton(AF_INET, h, &sin->sin_addr) != 1) {
		fprintf(stderr, "embench: bad address %s\n", h);
		exit(2);
	}
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
readn(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* RFC 1928 no-auth CONNECT to socks_host:socks_port on a connected fd. */
static int
socks_handshake(int fd)
{
	uint8_t req[262 + 7], rep[4];
	struct in_addr a;
	size_t n = 0, hl = strlen(socks_host);

	if (write(fd, "\x05\x01\x00", 3) != 3 || readn(fd, rep, 2) == -1 || rep[0] != 5 ||
	    rep[1] != 0)
		return -1;
	req[n++] = 5;
	req[n++] = 1;
	req[n++] = 0;
	if (inet_pton(AF_INET, socks_host, &a) == 1) {
		req[n++] = 1;
		memcpy(req + n, &a, 4);
		n += 4;
	} else {
		req[n++] = 3;
		req[n++] = (uint8_t)hl;
		memcpy(req + n, socks_host, hl);
		n += hl;
	}
	req[n++] = (uint8_t)(socks_port >> 8);
	req[n++] = (uint8_t)socks_port;
	/* the reply: VER REP RSV ATYP, then the bound address by its type, and a port */
	if (write(fd, req, n) != (ssize_t)n || readn(fd, rep, 4) == -1 || rep[1] != 0) {
		fprintf(stderr, "embench: SOCKS5 CONNECT %s:%u refused\n", socks_host, socks_port);
		return -1;
	}
	if (rep[3] == 1)
		n = 4;
	else if (rep[3] == 4)
		n = 16;
	else if (rep[3] == 3 && readn(fd, rep, 1) == 0)
		n = rep[0];
	else
		return -1;
	return readn(fd, req, n + 2);
}

static int
tcp_connect(const struct sockaddr_in *sin, int nb)
{
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	nodelay(fd);
	if (socks_on) {
		if (connect(fd, (const struct sockaddr *)&socks_sin, sizeof(socks_sin)) == -1 ||
		    socks_handshake(fd) == -1) {
			close(fd);
			return -1;
		}
		if (nb)
			nonblock(fd);
		return fd;
	}
	if (nb)
		nonblock(fd);
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- servers ---- */

static int
listener(int port, int type)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, type, 0)) == -1)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 4096) == -1)
		die("listen");
	return fd;
}

static _Noreturn void
tcp_server(int port, int echo)
{
	struct epoll_event ev, evs[256];
	int lfd, ep, n, i, fd;
	ssize_t r, w;

	lfd = listener(port, SOCK_STREAM);
	nonblock(lfd);
	if ((ep = epoll_create1(0)) == -1)
		die("epoll");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 256, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
					nodelay(fd);
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close(fd);
				continue;
			}
			if (!echo)
				continue;
			/* echo: small payloads here; block briefly if the peer lags */
			for (w = 0; w < r;) {
				ssize_t k = write(fd, buf + w, (size_t)(r - w));

				if (k > 0) {
					w += k;
				} else if (k == -1 && errno == EAGAIN) {
					struct pollfd p = {.fd = fd, .events = POLLOUT};

					if (poll(&p, 1, 1000) <= 0)
						break;
				} else {
					break;
				}
			}
		}
	}
}

static _Noreturn void
udp_echo(int port)
{
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t r;
	int fd;

	fd = listener(port, SOCK_DGRAM);
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		fl = sizeof(from);
		if ((r = recvfrom(fd, buf, 65536, 0, (struct sockaddr *)&from, &fl)) < 0)
			continue;
		sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
	}
}

/* ---- clients ---- */

struct bstream {
	int fd;
	long long left; /* bytes still to send */
	int done;
};

static int
bulk(const char *addr, int nstreams, long long bytes, double secs)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[64];
	struct bstream *s;
	double t0, t1, end;
	int ep, i, n, open_streams;
	long long sent = 0;
	ssize_t w;

	parse_addr(addr, &sin);
	memset(buf, 'x', sizeof(buf));
	if ((s = calloc((size_t)nstreams, sizeof(*s))) == NULL)
		die("calloc");
	if ((ep = epoll_create1(0)) == -1)
		die("epoll");
	t0 = now();
	end = t0 + secs;
	for (i = 0; i < nstreams; i++) {
		if ((s[i].fd = tcp_connect(&sin, 1)) == -1)
			die("connect");
		s[i].left = bytes;
		ev.events = EPOLLOUT | EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, s[i].fd, &ev);
	}
	open_streams = nstreams;
	while (open_streams > 0 && now() < end) {
		if ((n = epoll_wait(ep, evs, 64, 200)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct bstream *b = &s[evs[i].data.u32];

			if (b->done)
				continue;
			if (b->left > 0 && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				size_t k = b->left < BUFSZ ? (size_t)b->left : BUFSZ;

				w = write(b->fd, buf, k);
				if (w > 0) {
					b->left -= w;
					sent += w;
					if (b->left == 0) {
						shutdown(b->fd, SHUT_WR);
						ev.events = EPOLLIN;
						ev.data.u32 = evs[i].data.u32;
						epoll_ctl(ep, EPOLL_CTL_MOD, b->fd, &ev);
					}
				} else if (w == -1 && errno != EAGAIN && errno != EINTR) {
					fprintf(stderr, "embench: write: %s\n", strerror(errno));
					b->done = 1;
					open_streams--;
					continue;
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				ssize_t r = read(b->fd, buf, 4096);

				if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
					if (b->left > 0)
						fprintf(stderr, "embench: stream closed early\n");
					b->done = 1;
					open_streams--;
					close(b->fd);
				}
			}
		}
	}
	t1 = now();
	printf("bytes=%lld secs=%.3f mbps=%.1f done=%d\n", sent, t1 - t0,
	       (double)sent / (t1 - t0) / 1e6, open_streams == 0 && sent == bytes * nstreams);
	return open_streams == 0 ? 0 : 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
echo_once(int fd)
{
	char c = 'p';
	ssize_t r;

	if (write(fd, &c, 1) != 1)
		return -1;
	do
		r = read(fd, &c, 1);
	while (r == -1 && errno == EINTR);
	return r == 1 ? 0 : -1;
}

static int
pingpong(const char *addr, int count, double secs)
{
	struct sockaddr_in sin;
	double *lat, t, end, sum = 0;
	int fd, i, n = 0;
	struct timeval tv = {.tv_sec = 5};

	parse_addr(addr, &sin);
	if ((lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		die("calloc");
	if ((fd = tcp_connect(&sin, 0)) == -1)
		die("connect");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	end = now() + secs;
	for (i = 0; i < 200; i++)
		if (echo_once(fd) == -1)
			die("warm-up echo");
	while (n < count && (t = now()) < end) {
		if (echo_once(fd) == -1)
			die("echo");
		lat[n] = (now() - t) * 1e6;
		sum += lat[n++];
	}
	close(fd);
	if (n == 0)
		return 1;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("n=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f\n", n, lat[n / 2],
	       lat[(size_t)((double)n * 0.99)], sum / n, lat[0]);
	return 0;
}

static int
idle(const char *addr, int count, double secs)
{
	struct sockaddr_in sin;
	struct timeval tv = {.tv_sec = 10};
	int i, *fds, ok = 0;
	double end;

	parse_addr(addr, &sin);
	if ((fds = calloc((size_t)count, sizeof(*fds))) == NULL)
		die("calloc");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	end = now() + secs;
	for (i = 0; i < count && now() < end; i++) {
		if ((fds[i] = tcp_connect(&sin, 0)) == -1)
			die("connect");
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (echo_once(fds[i]) == 0)
			ok++;
	}
	printf("ready n=%d\n", ok);
	fflush(stdout);
	while (!stop && now() < end)
		usleep(50000);
	for (i = 0; i < count; i++)
		if (fds[i] > 0)
			close(fds[i]);
	return ok == count ? 0 : 1;
}

static int
connrate(const char *addr, int conc, double secs)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[256];
	double t0, end;
	long long done = 0, failed = 0;
	int ep, i, n, fd;
	char c;

	parse_addr(addr, &sin);
	if ((ep = epoll_create1(0)) == -1)
		die("epoll");
	t0 = now();
	end = t0 + secs;
	/* data.u64: fd | (state << 32), state 0 = connecting, 1 = waiting echo */
	for (i = 0; i < conc; i++) {
		if ((fd = tcp_connect(&sin, 1)) == -1)
			die("connect");
		ev.events = EPOLLOUT;
		ev.data.u64 = (uint64_t)fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	while (now() < end) {
		if ((n = epoll_wait(ep, evs, 256, 100)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int st = (int)(evs[i].data.u64 >> 32), again = 0;

			fd = (int)(evs[i].data.u64 & 0xffffffffu);
			if (st == 0) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
				c = 'c';
				if (err != 0 || write(fd, &c, 1) != 1) {
					failed++;
					again = 1;
				} else {
					ev.events = EPOLLIN;
					ev.data.u64 = (uint64_t)fd | (1ULL << 32);
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				}
			} else {
				if (read(fd, &c, 1) == 1)
					done++;
				else
					failed++;
				again = 1;
			}
			if (again) {
				close(fd);
				if ((fd = tcp_connect(&sin, 1)) == -1) {
					failed++;
					continue;
				}
				ev.events = EPOLLOUT;
				ev.data.u64 = (uint64_t)fd;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
	printf("n=%lld rate=%.0f failed=%lld\n", done, (double)done / (now() - t0), failed);
	return done > 0 ? 0 : 1;
}

static int
udprate(const char *addr, int window, double secs)
{
	struct sockaddr_in sin;
	struct pollfd p;
	double t0, end;
	long long got = 0, sent = 0, lost = 0;
	int fd, inflight = 0, r;

	parse_addr(addr, &sin);
	memset(buf, 'u', 64);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	nonblock(fd);
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		while (inflight < window) {
			if (send(fd, buf, 64, 0) != 64)
				break;
			inflight++;
			sent++;
		}
		p.fd = fd;
		p.events = POLLIN;
		if ((r = poll(&p, 1, 20)) == 0) { /* a window's worth vanished */
			lost += inflight;
			inflight = 0;
			continue;
		}
		while (recv(fd, buf + 64, 65536, 0) > 0) {
			got++;
			if (inflight > 0)
				inflight--;
		}
	}
	printf("n=%lld rate=%.0f sent=%lld lost=%lld\n", got, (double)got / (now() - t0), sent,
	       lost);
	return got > 0 ? 0 : 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: embench sink|echo|udpecho PORT\n"
			"       embench bulk HOST:PORT STREAMS BYTES SECS\n"
			"       embench pingpong HOST:PORT COUNT SECS\n"
			"       embench idle HOST:PORT N SECS\n"
			"       embench connrate HOST:PORT CONC SECS\n"
			"       embench udprate HOST:PORT WINDOW SECS\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *m;

	if (argc < 3)
		usage();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);
	m = argv[1];
	if (getenv("EMBENCH_SOCKS5") != NULL) {
		socks_on = 1;
		parse_addr(getenv("EMBENCH_SOCKS5"), &socks_sin);
	}
	if (strcmp(m, "sink") == 0)
		tcp_server(atoi(argv[2]), 0);
	if (strcmp(m, "echo") == 0)
		tcp_server(atoi(argv[2]), 1);
	if (strcmp(m, "udpecho") == 0)
		udp_echo(atoi(argv[2]));
	if (argc < 5 || (strcmp(m, "bulk") == 0 && argc < 6))
		usage();
	if (strcmp(m, "bulk") == 0)
		return bulk(argv[2], atoi(argv[3]), atoll(argv[4]), atof(argv[5]));
	if (strcmp(m, "pingpong") == 0)
		return pingpong(argv[2], atoi(argv[3]), atof(argv[4]));
	if (strcmp(m, "idle") == 0)
		return idle(argv[2], atoi(argv[3]), atof(argv[4]));
	if (strcmp(m, "connrate") == 0)
		return connrate(argv[2], atoi(argv[3]), atof(argv[4]));
	if (strcmp(m, "udprate") == 0)
		return udprate(argv[2], atoi(argv[3]), atof(argv[4]));
	usage();
	return 2;
}
