/*
 * udp_streams: opens many UDP streams through tunneld at once, as proxyd
 * does for UDP flows to a remote endpoint (a connected loopback UDP pair
 * per flow, one end handed over on tunnel.sock), sends one datagram on
 * each, and holds them; for tests/e2e/test_udp_soak.sh (UDP streams must
 * not starve TCP on the session).
 *
 *   udp_streams -r RUNDIR -n PEER -t IP -p PORT -c COUNT [-s SECONDS]
 *
 * Prints "opened OK of COUNT" once every result came, then holds the
 * streams SECONDS (default 10) and exits.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

static void
usage(void)
{
	fprintf(stderr, "usage: udp_streams -r rundir -n peer -t ip -p port -c count [-s secs]\n");
	exit(2);
}

static int
udp_pair(int fds[2])
{
	struct sockaddr_in a[2];
	socklen_t len;
	int i;

	for (i = 0; i < 2; i++) {
		if ((fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		memset(&a[i], 0, sizeof(a[i]));
		a[i].sin_family = AF_INET;
		a[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(a[i]);
		if (bind(fds[i], (struct sockaddr *)&a[i], sizeof(a[i])) == -1 ||
		    getsockname(fds[i], (struct sockaddr *)&a[i], &len) == -1)
			return -1;
	}
	if (connect(fds[0], (struct sockaddr *)&a[1], sizeof(a[1])) == -1 ||
	    connect(fds[1], (struct sockaddr *)&a[0], sizeof(a[0])) == -1)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *rundir = NULL, *peer = NULL, *ip = NULL;
	struct ipc_tun_open o;
	struct ipc_tun_result r;
	struct ipc_hello h;
	struct ipc_hdr hdr;
	struct ipc_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t *payload;
	char err[256];
	int ch, port = 0, count = 0, secs = 10, tfd, i, rfd, got = 0, okn = 0, *mine, pair[2];

	while ((ch = getopt(argc, argv, "r:n:t:p:c:s:")) != -1) {
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
		case 'c':
			count = atoi(optarg);
			break;
		case 's':
			secs = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (rundir == NULL || peer == NULL || ip == NULL || port <= 0 || count <= 0)
		usage();
	if ((tfd = ipc_connect(rundir, IPC_TUNNEL_SOCK)) == -1) {
		perror("udp_streams: tunnel.sock");
		return 1;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_hello_init(&h, "udp_streams");
	ipc_pack_hello(&pk, &h);
	ipc_write_frame(tfd, IPC_HELLO, sb.data, sb.size, -1);
	mine = calloc((size_t)count, sizeof(*mine));
	for (i = 0; i < count; i++) {
		if (udp_pair(pair) == -1) {
			perror("udp_streams: socket pair");
			return 1;
		}
		mine[i] = pair[0];
		/* the flow's first datagram waits in the handed-over socket */
		send(pair[0], "x", 1, 0);
		memset(&o, 0, sizeof(o));
		o.id = (uint64_t)i + 1;
		snprintf(o.peer, sizeof(o.peer), "%s", peer);
		snprintf(o.ip, sizeof(o.ip), "%s", ip);
		o.port = (uint16_t)port;
		o.proto = EM_PROTO_UDP;
		snprintf(o.client, sizeof(o.client), "udp_streams:%d", i);
		msgpack_sbuffer_clear(&sb);
		ipc_pack_tun_open(&pk, &o);
		if (ipc_write_frame(tfd, IPC_TUN_OPEN, sb.data, sb.size, pair[1]) == -1) {
			perror("udp_streams: TUN_OPEN");
			return 1;
		}
		close(pair[1]);
	}
	msgpack_sbuffer_destroy(&sb);
	while (got < count) {
		if (ipc_read_frame(tfd, IPC_MAX_TUNNEL, &hdr, &payload, &rfd, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "udp_streams: tunnel.sock: %s\n", err);
			return 1;
		}
		if (rfd != -1)
			close(rfd);
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		if (hdr.type == IPC_TUN_RESULT &&
		    ipc_msg_parse(&m, hdr.type, payload, hdr.len, err, sizeof(err)) == 0 &&
		    ipc_unpack_tun_result(&m, &r, err, sizeof(err)) == 0) {
			got++;
			okn += r.ok != 0;
		}
		m.owned = payload;
		ipc_msg_clear(&m);
	}
	printf("opened %d of %d\n", okn, count);
	fflush(stdout);
	sleep((unsigned)secs);
	for (i = 0; i < count; i++)
		close(mine[i]);
	free(mine);
	close(tfd);
	return 0;
}
