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

struct ct_req {
	char *buf;
	size_t len, cap;
};

static struct nlattr *
ct_attr(struct ct_req *r, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(r->buf + r->len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (data != NULL)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	r->len += NLA_ALIGN(a->nla_len);
	return a;
}

static void
ct_nest_end(struct ct_req *r, struct nlattr *a)
{
	a->nla_len = (uint16_t)(r->buf + r->len - (char *)a);
}

/* The nested attribute `type` inside [p, p+len), NULL if absent. */
static const struct nlattr *
ct_find(const char *p, size_t len, uint16_t type)
{
	const struct nlattr *a;

	while (len >= NLA_HDRLEN) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		if ((size_t)NLA_ALIGN(a->nla_len) >= len)
			return NULL;
		len -= (size_t)NLA_ALIGN(a->nla_len);
		p += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

#define NLA_DATA(a) ((const char *)(a) + NLA_HDRLEN)
#define NLA_LEN(a)  ((size_t)(a)->nla_len - NLA_HDRLEN)

int
ct_open(void)
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
ct_orig_dst(int fd, const struct sockaddr_in *local, const struct sockaddr_in *client,
	    struct sockaddr_in *orig)
{
	static uint32_t seq;
	char buf[CT_BUF] __attribute__((aligned(4)));
	struct ct_req r = {buf, 0, sizeof(buf)};
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nfgenmsg *nf;
	struct nlattr *tup, *ip, *pr;
	const struct nlattr *o, *oip, *opr, *dst, *dport;
	uint8_t proto = IPPROTO_UDP;
	ssize_t n;

	memset(buf, 0, 256);
	r.len = NLMSG_HDRLEN;
	nh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nh->nlmsg_flags = NLM_F_REQUEST;
	nh->nlmsg_seq = ++seq;
	nf = (struct nfgenmsg *)(buf + r.len);
	nf->nfgen_family = AF_INET;
	nf->version = NFNETLINK_V0;
	r.len += NLMSG_ALIGN(sizeof(*nf));
	/* the reply direction: from bridgeIP:port to the client */
	tup = ct_attr(&r, CTA_TUPLE_REPLY | NLA_F_NESTED, NULL, 0);
	ip = ct_attr(&r, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
	ct_attr(&r, CTA_IP_V4_SRC, &local->sin_addr, 4);
	ct_attr(&r, CTA_IP_V4_DST, &client->sin_addr, 4);
	ct_nest_end(&r, ip);
	pr = ct_attr(&r, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	ct_attr(&r, CTA_PROTO_NUM, &proto, 1);
	ct_attr(&r, CTA_PROTO_SRC_PORT, &local->sin_port, 2);
	ct_attr(&r, CTA_PROTO_DST_PORT, &client->sin_port, 2);
	ct_nest_end(&r, pr);
	ct_nest_end(&r, tup);
	nh->nlmsg_len = (uint32_t)r.len;
	if (send(fd, buf, r.len, 0) == -1)
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
	o = ct_find(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*nf)),
		    nh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(*nf)), CTA_TUPLE_ORIG);
	if (o == NULL || (oip = ct_find(NLA_DATA(o), NLA_LEN(o), CTA_TUPLE_IP)) == NULL ||
	    (opr = ct_find(NLA_DATA(o), NLA_LEN(o), CTA_TUPLE_PROTO)) == NULL ||
	    (dst = ct_find(NLA_DATA(oip), NLA_LEN(oip), CTA_IP_V4_DST)) == NULL ||
	    NLA_LEN(dst) != 4 ||
	    (dport = ct_find(NLA_DATA(opr), NLA_LEN(opr), CTA_PROTO_DST_PORT)) == NULL ||
	    NLA_LEN(dport) != 2)
		return -1;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	memcpy(&orig->sin_addr, NLA_DATA(dst), 4);
	memcpy(&orig->sin_port, NLA_DATA(dport), 2);
	return 0;
}
