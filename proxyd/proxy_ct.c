/*
 * Where a redirected UDP datagram was going.  The nat rules DNAT UDP to a
 * ClusterIP:port to bridgeIP:port like TCP (a DNAT is delivered from pods
 * on a bridge with br_netfilter on, where TPROXY is not), so the socket
 * sees bridgeIP:port; conntrack still holds the original destination.  One
 * ctnetlink GET by the reply tuple {bridgeIP:port -> client} per new flow
 * (a flow's later datagrams are matched by the client's address).  Needs
 * CAP_NET_ADMIN, which proxyd keeps.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

#define CT_BUF 4096

#define NLA_DATA(a) ((const char *)(a) + NLA_HDRLEN)
#define NLA_LEN(a)  ((size_t)(a)->nla_len - NLA_HDRLEN)

int
proxy_ct_open(void)
{
	struct sockaddr_nl sa;
	struct timeval tv = {0, 200000};
	int fd;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	/* the kernel answers a GET at once; a bound on the wait all the same */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int
proxy_ct_orig_dst(int fd, const struct sockaddr_in *local, const struct sockaddr_in *client,
		  struct sockaddr_in *orig)
{
	static uint32_t seq;
	char buf[CT_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nfgenmsg *nf;
	struct nlattr *tup, *ip, *pr;
	const struct nlattr *o, *oip, *opr, *dst, *dport;
	uint8_t proto = IPPROTO_UDP;
	ssize_t n;

	memset(buf, 0, NLMSG_LENGTH(sizeof(*nf)));
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(*nf));
	nh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nh->nlmsg_flags = NLM_F_REQUEST;
	nh->nlmsg_seq = ++seq;
	nf = NLMSG_DATA(nh);
	nf->nfgen_family = AF_INET;
	nf->version = NFNETLINK_V0;
	/* the reply direction: from bridgeIP:port to the client */
	tup = nl_put(nh, sizeof(buf), CTA_TUPLE_REPLY | NLA_F_NESTED, NULL, 0);
	ip = nl_put(nh, sizeof(buf), CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
	nl_put(nh, sizeof(buf), CTA_IP_V4_SRC, &local->sin_addr, 4);
	nl_put(nh, sizeof(buf), CTA_IP_V4_DST, &client->sin_addr, 4);
	nl_nest_end(nh, ip);
	pr = nl_put(nh, sizeof(buf), CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	nl_put(nh, sizeof(buf), CTA_PROTO_NUM, &proto, 1);
	nl_put(nh, sizeof(buf), CTA_PROTO_SRC_PORT, &local->sin_port, 2);
	nl_put(nh, sizeof(buf), CTA_PROTO_DST_PORT, &client->sin_port, 2);
	nl_nest_end(nh, pr);
	nl_nest_end(nh, tup);
	if (send(fd, buf, nh->nlmsg_len, 0) == -1)
		return -1;
	for (;;) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) == -1)
			return -1;
		if ((size_t)n < NLMSG_HDRLEN || nh->nlmsg_len > (size_t)n)
			return -1;
		if (nh->nlmsg_seq == seq)
			break; /* else a late answer to an earlier, timed-out request */
	}
	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		errno =
		    nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 ? -e->error : EPROTO;
		return -1;
	}
	errno = EPROTO;
	if (nh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*nf)))
		return -1;
	o = nl_get(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*nf)),
		   nh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(*nf)), CTA_TUPLE_ORIG);
	if (o == NULL || (oip = nl_get(NLA_DATA(o), NLA_LEN(o), CTA_TUPLE_IP)) == NULL ||
	    (opr = nl_get(NLA_DATA(o), NLA_LEN(o), CTA_TUPLE_PROTO)) == NULL ||
	    (dst = nl_get(NLA_DATA(oip), NLA_LEN(oip), CTA_IP_V4_DST)) == NULL ||
	    NLA_LEN(dst) != 4 ||
	    (dport = nl_get(NLA_DATA(opr), NLA_LEN(opr), CTA_PROTO_DST_PORT)) == NULL ||
	    NLA_LEN(dport) != 2)
		return -1;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	memcpy(&orig->sin_addr, NLA_DATA(dst), 4);
	memcpy(&orig->sin_port, NLA_DATA(dport), 2);
	return 0;
}
