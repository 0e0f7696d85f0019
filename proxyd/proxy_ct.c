/*
 * Where a redirected UDP datagram was going.  The nat rules DNAT UDP to a
 * ClusterIP:port to bridgeIP:port like TCP (a DNAT is delivered from pods
 * on a bridge with br_netfilter on, where TPROXY is not), so the socket
 * sees bridgeIP:port; conntrack still holds the original destination.  One
 * ctnetlink GET by the reply tuple {bridgeIP:port -> client} per new flow
 * (a flow's later datagrams are matched by the client's address).  Needs
 * CAP_NET_ADMIN, which proxyd keeps.
 *
 * And, for the UDP kernel path (rules.c), after a rules change: one dump of
 * the conntrack table, then a DELETE by original tuple of each UDP entry to
 * a changed service port that is NATed neither to proxyd nor to a current
 * endpoint of that port's kernel path (as kube-proxy clears the entries of
 * a UDP endpoint that left).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
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

/* a conntrack entry: its original tuple and the reply's source */
struct ct_flow {
	struct in_addr osrc, odst, rsrc;
	uint16_t osport, odport, rsport; /* network order */
};

/*
 * A ctnetlink request (type, flags, seq) in buf; with src, one UDP tuple
 * (which: CTA_TUPLE_ORIG or CTA_TUPLE_REPLY) src:sport -> dst:dport, ports
 * in network order.  Its length.
 */
static size_t
ct_build(char *buf, size_t cap, uint16_t type, uint16_t flags, uint32_t seq, uint16_t which,
	 const struct in_addr *src, uint16_t sport, const struct in_addr *dst, uint16_t dport)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nfgenmsg *nf;
	struct nlattr *tup, *ip, *pr;
	uint8_t proto = IPPROTO_UDP;

	memset(buf, 0, NLMSG_LENGTH(sizeof(*nf)));
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(*nf));
	nh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | type);
	nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nh->nlmsg_seq = seq;
	nf = NLMSG_DATA(nh);
	nf->nfgen_family = AF_INET;
	nf->version = NFNETLINK_V0;
	if (src == NULL)
		return nh->nlmsg_len;
	tup = nl_put(nh, cap, which | NLA_F_NESTED, NULL, 0);
	ip = nl_put(nh, cap, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
	nl_put(nh, cap, CTA_IP_V4_SRC, src, 4);
	nl_put(nh, cap, CTA_IP_V4_DST, dst, 4);
	nl_nest_end(nh, ip);
	pr = nl_put(nh, cap, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	nl_put(nh, cap, CTA_PROTO_NUM, &proto, 1);
	nl_put(nh, cap, CTA_PROTO_SRC_PORT, &sport, 2);
	nl_put(nh, cap, CTA_PROTO_DST_PORT, &dport, 2);
	nl_nest_end(nh, pr);
	nl_nest_end(nh, tup);
	return nh->nlmsg_len;
}

/* The UDP flow in a ctnetlink message (a GET's answer, a dump's entry); 0 if
 * it is one, else -1. */
static int
ct_parse(const struct nlmsghdr *nh, struct ct_flow *f)
{
	const char *attrs = (const char *)nh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	size_t len;
	const struct nlattr *t[2], *ip, *pr, *a;
	int i;

	if (nh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)))
		return -1;
	len = nh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(struct nfgenmsg));
	t[0] = nl_get(attrs, len, CTA_TUPLE_ORIG);
	t[1] = nl_get(attrs, len, CTA_TUPLE_REPLY);
	for (i = 0; i < 2; i++) {
		if (t[i] == NULL ||
		    (ip = nl_get(NLA_DATA(t[i]), NLA_LEN(t[i]), CTA_TUPLE_IP)) == NULL ||
		    (pr = nl_get(NLA_DATA(t[i]), NLA_LEN(t[i]), CTA_TUPLE_PROTO)) == NULL)
			return -1;
		if ((a = nl_get(NLA_DATA(pr), NLA_LEN(pr), CTA_PROTO_NUM)) == NULL ||
		    NLA_LEN(a) != 1 || *(const uint8_t *)NLA_DATA(a) != IPPROTO_UDP)
			return -1;
#define CT_GET(nest, type, dst, sz)                                                                \
	do {                                                                                       \
		if ((a = nl_get(NLA_DATA(nest), NLA_LEN(nest), type)) == NULL || NLA_LEN(a) != sz) \
			return -1;                                                                 \
		memcpy(dst, NLA_DATA(a), sz);                                                      \
	} while (0)
		if (i == 0) {
			CT_GET(ip, CTA_IP_V4_SRC, &f->osrc, 4);
			CT_GET(ip, CTA_IP_V4_DST, &f->odst, 4);
			CT_GET(pr, CTA_PROTO_SRC_PORT, &f->osport, 2);
			CT_GET(pr, CTA_PROTO_DST_PORT, &f->odport, 2);
		} else {
			CT_GET(ip, CTA_IP_V4_SRC, &f->rsrc, 4);
			CT_GET(pr, CTA_PROTO_SRC_PORT, &f->rsport, 2);
		}
#undef CT_GET
	}
	return 0;
}

int
proxy_ct_orig_dst(int fd, const struct sockaddr_in *local, const struct sockaddr_in *client,
		  struct sockaddr_in *orig)
{
	static uint32_t seq;
	char buf[CT_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct ct_flow f;
	size_t len;
	ssize_t n;

	/* the reply direction: from bridgeIP:port to the client */
	len = ct_build(buf, sizeof(buf), IPCTNL_MSG_CT_GET, 0, ++seq, CTA_TUPLE_REPLY,
		       &local->sin_addr, local->sin_port, &client->sin_addr, client->sin_port);
	if (send(fd, buf, len, 0) == -1)
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
	if (ct_parse(nh, &f) == -1)
		return -1;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	orig->sin_addr = f.odst;
	orig->sin_port = f.odport;
	return 0;
}

/* Is f stale: to one of keys' service ports, NATed neither to proxyd nor to
 * a current endpoint of the port's kernel path? */
static int
ct_stale(struct proxyd *p, struct hmap *keys, const struct ct_flow *f)
{
	char ip[INET_ADDRSTRLEN], key[80];
	const struct rules_kernel *k;
	size_t i;

	inet_ntop(AF_INET, &f->odst, ip, sizeof(ip));
	snprintf(key, sizeof(key), "%s:%u/udp", ip, ntohs(f->odport));
	if (hmap_get(keys != NULL ? keys : p->rules, key) == NULL)
		return 0;
	if (f->rsrc.s_addr == p->bind_ip.s_addr && ntohs(f->rsport) == p->port)
		return 0;
	if ((k = hmap_get(p->kern, key)) != NULL)
		for (i = 0; i < k->n; i++)
			if (k->eps[i].sin_addr.s_addr == f->rsrc.s_addr &&
			    k->eps[i].sin_port == f->rsport)
				return 0;
	return 1;
}

/* Send a ctnetlink request (type, flags) for the original tuple of f (NULL: none). */
static int
ct_request(int fd, uint16_t type, uint16_t flags, const struct ct_flow *f, uint32_t seq)
{
	char buf[512] __attribute__((aligned(4)));
	size_t len;

	len = f == NULL ? ct_build(buf, sizeof(buf), type, flags, seq, 0, NULL, 0, NULL, 0)
			: ct_build(buf, sizeof(buf), type, flags, seq, CTA_TUPLE_ORIG, &f->osrc,
				   f->osport, &f->odst, f->odport);
	return send(fd, buf, len, 0) == -1 ? -1 : 0;
}

int
proxy_ct_clear_stale(struct proxyd *p, struct hmap *keys)
{
	static char buf[32768] __attribute__((aligned(4)));
	struct ct_flow *del = NULL, f;
	size_t ndel = 0, cap = 0, i;
	const struct nlmsghdr *nh;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
	ssize_t n;
	int fd, done = 0, rc = -1, ndone = 0;
	size_t left;

	if ((fd = proxy_ct_open()) == -1)
		return -1;
	if (ct_request(fd, IPCTNL_MSG_CT_GET, NLM_F_DUMP, NULL, 1) == -1)
		goto out;
	while (!done) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) <= 0)
			goto out;
		for (nh = (const struct nlmsghdr *)buf, left = (size_t)n; NLMSG_OK(nh, left);
		     nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				errno = EPROTO;
				goto out;
			}
			if (ct_parse(nh, &f) == -1 || !ct_stale(p, keys, &f))
				continue;
			if (ndel == cap) {
				cap = cap ? cap * 2 : 16;
				del = xreallocarray(del, cap, sizeof(*del));
			}
			del[ndel++] = f;
		}
	}
	for (i = 0; i < ndel; i++) {
		if (ct_request(fd, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, &del[i], (uint32_t)(2 + i)) ==
			-1 ||
		    recv(fd, buf, sizeof(buf), 0) == -1)
			goto out;
		nh = (const struct nlmsghdr *)buf;
		if (nh->nlmsg_type == NLMSG_ERROR &&
		    ((const struct nlmsgerr *)NLMSG_DATA(nh))->error != 0)
			continue; /* gone meanwhile */
		ndone++;
		if (ndone <= 8) {
			inet_ntop(AF_INET, &del[i].osrc, a, sizeof(a));
			inet_ntop(AF_INET, &del[i].odst, b, sizeof(b));
			inet_ntop(AF_INET, &del[i].rsrc, c, sizeof(c));
			log_info("conntrack: UDP flow %s:%u -> %s:%u to %s:%u cleared", a,
				 ntohs(del[i].osport), b, ntohs(del[i].odport), c,
				 ntohs(del[i].rsport));
		}
	}
	rc = ndone;
out:
	free(del);
	close(fd);
	return rc;
}
