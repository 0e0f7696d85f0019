/*
 * udp_soak: many UDP flows against an echo service, for
 * tests/e2e/test_udp_soak.sh.
 *
 *   udp_soak -t IP:PORT -n DATAGRAMS -p PORTS [-b BASEPORT] [-w WINDOW] [-T TIMEOUT_MS]
 *
 * Sends DATAGRAMS datagrams from PORTS source ports (BASEPORT, BASEPORT+1,
 * ...; DATAGRAMS/PORTS from each), each from a connected socket, as a DNS
 * client would.  At most WINDOW sockets are open at a time, each with one
 * datagram in flight: the next one leaves when the answer came (it must
 * end with the datagram's payload) or after TIMEOUT_MS (then it is counted
 * lost).  Prints "sent N answered A lost L ports P" and exits 0 when
 * every datagram was sent; the caller judges the ratio.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct slot {
	int fd;
	int port;	/* source port */
	int left;	/* datagrams still to send from this port */
	unsigned seq;	/* of the datagram in flight */
	double sent_at; /* 0: none in flight */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: udp_soak -t IP:PORT -n DATAGRAMS -p PORTS [-b BASEPORT] "
			"[-w WINDOW] [-T TIMEOUT_MS]\n");
	exit(2);
}

static unsigned seqno;
static long sent, answered, lost;

static int
slot_send(struct slot *s)
{
	char buf[64];
	int n;

	s->seq = ++seqno;
	n = snprintf(buf, sizeof(buf), "soak %d %u", s->port, s->seq);
	if (send(s->fd, buf, (size_t)n, 0) == -1 && errno != ECONNREFUSED)
		return -1;
	s->sent_at = now_ms();
	s->left--;
	sent++;
	return 0;
}

/* Open the next source port's socket into s; -1 when none is left. */
static int
slot_open(struct slot *s, int ep, const struct sockaddr_in *to, int *next_port, int *ports_left,
	  int per_port)
{
	struct sockaddr_in a;
	struct epoll_event ev;

	if (*ports_left == 0)
		return -1;
	(*ports_left)--;
	s->port = (*next_port)++;
	s->left = per_port;
	if ((s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		perror("socket");
		exit(1);
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)s->port);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    connect(s->fd, (const struct sockaddr *)to, sizeof(*to)) == -1) {
		fprintf(stderr, "port %d: %s\n", s->port, strerror(errno));
		exit(1);
	}
	ev.events = EPOLLIN;
	ev.data.ptr = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
	return slot_send(s);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in to;
	struct epoll_event evs[256];
	struct slot *slots;
	char *colon, buf[512], want[64];
	long n = 0;
	int c, i, k, ep, nports = 0, base = 20000, window = 128, tmo = 1000, per_port, active = 0;
	int next_port, ports_left;
	ssize_t r;
	double t;

	memset(&to, 0, sizeof(to));
	while ((c = getopt(argc, argv, "t:n:p:b:w:T:")) != -1) {
		switch (c) {
		case 't':
			if ((colon = strrchr(optarg, ':')) == NULL)
				usage();
			*colon = '\0';
			to.sin_family = AF_INET;
			to.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, optarg, &to.sin_addr) != 1)
				usage();
			break;
		case 'n':
			n = atol(optarg);
			break;
		case 'p':
			nports = atoi(optarg);
			break;
		case 'b':
			base = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 'T':
			tmo = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (to.sin_family == 0 || n <= 0 || nports <= 0 || n % nports != 0 || window <= 0 ||
	    base <= 0 || base + nports > 65536)
		usage();
	per_port = (int)(n / nports);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("epoll_create1");
		return 1;
	}
	slots = calloc((size_t)window, sizeof(*slots));
	next_port = base;
	ports_left = nports;
	for (i = 0; i < window; i++) {
		slots[i].fd = -1;
		if (slot_open(&slots[i], ep, &to, &next_port, &ports_left, per_port) == 0)
			active++;
	}
	while (active > 0) {
		k = epoll_wait(ep, evs, 256, 20);
		for (i = 0; i < k; i++) {
			struct slot *s = evs[i].data.ptr;

			while ((r = recv(s->fd, buf, sizeof(buf) - 1, 0)) >= 0) {
				buf[r] = '\0';
				snprintf(want, sizeof(want), "soak %d %u", s->port, s->seq);
				if (s->sent_at > 0 && r >= (ssize_t)strlen(want) &&
				    strcmp(buf + r - strlen(want), want) == 0) {
					answered++;
					s->sent_at = 0;
				}
			}
		}
		t = now_ms();
		for (i = 0; i < window; i++) {
			struct slot *s = &slots[i];

			if (s->fd == -1)
				continue;
			if (s->sent_at > 0 && t - s->sent_at > tmo) {
				lost++;
				s->sent_at = 0;
			}
			if (s->sent_at > 0)
				continue;
			if (s->left > 0) {
				slot_send(s);
				continue;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
			close(s->fd);
			s->fd = -1;
			active--;
			if (slot_open(s, ep, &to, &next_port, &ports_left, per_port) == 0)
				active++;
		}
	}
	printf("sent %ld answered %ld lost %ld ports %d\n", sent, answered, lost, nports);
	fflush(stdout);
	free(slots);
	close(ep);
	return sent == n ? 0 : 1;
}
