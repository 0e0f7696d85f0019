/*
 * tunopen: a tiny forwarder that plays proxyd's part for tunneld tests.
 * It listens on a local TCP (or UDP) port and hands every accepted
 * connection (or every new UDP flow, as a connected UDP socket) to
 * tunneld over tunnel.sock with IPC_TUN_OPEN for a fixed peer/ip/port.
 *
 *   tunopen -r RUNDIR -n PEER -t IP -p PORT -l [ADDR:]LPORT [-u] [-v]
 *
 * Results are printed: "open N ok" (with -v) or "open N failed: reason".
 * UDP: the datagram that starts a flow is not forwarded (it arrived on
 * the listening socket); clients retry, as UDP clients do.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

#define FLOWS_MAX 1024

static void
usage(void)
{
	fprintf(stderr, "usage: tunopen -r rundir -n peer -t ip -p port -l [addr:]lport "
			"[-u] [-v]\n");
	exit(2);
}

static int
send_open(int tfd, uint64_t id, const char *peer, const char *ip, int port, int proto,
	  const char *client, int fd)
{
	struct ipc_tun_open o;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	memset(&o, 0, sizeof(o));
	o.id = id;
	snprintf(o.peer, sizeof(o.peer), "%s", peer);
	snprintf(o.ip, sizeof(o.ip), "%s", ip);
	o.port = (uint16_t)port;
	o.proto = (uint8_t)proto;
	snprintf(o.client, sizeof(o.client), "%s", client);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_tun_open(&pk, &o);
	rc = ipc_write_frame(tfd, IPC_TUN_OPEN, sb.data, sb.size, fd);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
read_result(int tfd, int verbose)
{
	struct ipc_tun_result r;
	struct ipc_msg m;
	struct ipc_hdr h;
	uint8_t *payload;
	char err[256];
	int rfd;

	if (ipc_read_frame(tfd, IPC_MAX_TUNNEL, &h, &payload, &rfd, err, sizeof(err)) == -1) {
		fprintf(stderr, "tunopen: tunnel.sock: %s\n", err);
		return -1;
	}
	if (rfd != -1)
		close(rfd);
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (ipc_msg_parse(&m, h.type, payload, h.len, err, sizeof(err)) == -1 ||
	    ipc_unpack_tun_result(&m, &r, err, sizeof(err)) == -1) {
		fprintf(stderr, "tunopen: bad answer: %s\n", err);
		free(payload);
		return -1;
	}
	m.owned = payload;
	if (!r.ok)
		printf("open %llu failed: %s\n", (unsigned long long)r.id, r.reason);
	else if (verbose)
		printf("open %llu ok\n", (unsigned long long)r.id);
	fflush(stdout);
	ipc_msg_clear(&m);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *rundir = NULL, *peer = NULL, *ip = NULL, *laddr = "127.0.0.1";
	struct sockaddr_in sin, from, flows[FLOWS_MAX];
	struct pollfd pfd[2];
	socklen_t fl;
	char lbuf[64], client[64], *c, dgram[65536];
	size_t nflows = 0, i;
	uint64_t id = 0;
	int ch, port = 0, lport = 0, udp = 0, verbose = 0, lfd, tfd, fd, one = 1;

	while ((ch = getopt(argc, argv, "r:n:t:p:l:uv")) != -1) {
		switch (ch) {
		case 'r':
			rundir = optarg;
			break;
		case 'n':
			peer = optarg;
			break;
		case 't':
			ip = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'l':
			snprintf(lbuf, sizeof(lbuf), "%s", optarg);
			if ((c = strrchr(lbuf, ':')) != NULL) {
				*c = '\0';
				laddr = lbuf;
				lport = atoi(c + 1);
			} else
				lport = atoi(lbuf);
			break;
		case 'u':
			udp = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (rundir == NULL || peer == NULL || ip == NULL || port <= 0 || lport <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if ((tfd = ipc_connect(rundir, IPC_TUNNEL_SOCK)) == -1) {
		fprintf(stderr, "tunopen: %s/%s: %s\n", rundir, IPC_TUNNEL_SOCK, strerror(errno));
		return 1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)lport);
	if (inet_pton(AF_INET, laddr, &sin.sin_addr) != 1)
		usage();
	if ((lfd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0)) == -1)
		return 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (!udp && listen(lfd, 4096) == -1)) {
		fprintf(stderr, "tunopen: %s:%d: %s\n", laddr, lport, strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = tfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (read_result(tfd, verbose) == -1)
				return 1;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		fl = sizeof(from);
		if (!udp) {
			if ((fd = accept(lfd, (struct sockaddr *)&from, &fl)) == -1)
				continue;
		} else {
			if (recvfrom(lfd, dgram, sizeof(dgram), 0, (struct sockaddr *)&from, &fl) ==
			    -1)
				continue;
			for (i = 0; i < nflows; i++)
				if (flows[i].sin_port == from.sin_port &&
				    flows[i].sin_addr.s_addr == from.sin_addr.s_addr)
					break;
			if (i < nflows)
				continue; /* raced the connected socket */
			if (nflows == FLOWS_MAX)
				nflows = 0;
			flows[nflows++] = from;
			if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
				continue;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
			    connect(fd, (struct sockaddr *)&from, sizeof(from)) == -1) {
				fprintf(stderr, "tunopen: flow socket: %s\n", strerror(errno));
				close(fd);
				continue;
			}
		}
		inet_ntop(AF_INET, &from.sin_addr, lbuf, sizeof(lbuf));
		snprintf(client, sizeof(client), "%s:%u", lbuf, ntohs(from.sin_port));
		if (send_open(tfd, ++id, peer, ip, port, udp ? EM_PROTO_UDP : EM_PROTO_TCP, client,
			      fd) == -1) {
			fprintf(stderr, "tunopen: tunnel.sock: %s\n", strerror(errno));
			return 1;
		}
		close(fd);
	}
}
