/*
 * Where a redirected UDP datagram was going.  The nat rules DNAT UDP to a
 * ClusterIP:port to bridgeIP:port like TCP (a DNAT is delivered from pods
 * on a bridge with br_netfilter on, where TPROXY is not), so the socket
 * sees bridgeIP:port; conntrack still holds the original destination.  One
 * ctnetlink GET by the reply tuple {bridgeIP:port -> client} per new flow
 * (a flow's later datagrams are matched by the client's address).  Needs
 * CAP_NET_ADMIN, which proxyd keeps.
 *
 * And, for the UDP kernel path (rules.c), after a rules change: a dump of
 * the conntrack table, then a DELETE by original tuple of each UDP entry to
 * a changed service port that is NATed neither to proxyd nor to a current
 * endpoint of that port's kernel path (as kube-proxy clears the entries of
 * a UDP endpoint that left).  The kernel filters the dump (CTA_FILTER): one
 * per changed port for a few ports, else one of the UDP entries; proxyd
 * still checks every entry it gets (a kernel without the filter sends all).
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

/* the answers of a dump and of the deletes after it */
static char ct_dumpbuf[32768] __attribute__((aligned(4)));

/* The dump filter (CTA_FILTER, Linux 5.8): which attributes of the request's
 * CTA_TUPLE_ORIG an entry must match; nf_conntrack_netlink.c's
 * CTA_FILTER_F_* bits, which the uapi headers do not carry. */
#define CT_FILTER_IP_DST	 (1u << 1)
#define CT_FILTER_PROTO_NUM	 (1u << 3)
#define CT_FILTER_PROTO_DST_PORT (1u << 5)
#define CT_FILTER_KEYS_MAX	 3 /* changed ports filtered one by one; more: one UDP dump */

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

/* A dump request of the UDP entries; with dst, of those to dst:dport only. */
static size_t
ct_build_dump(char *buf, size_t cap, uint32_t seq, const struct in_addr *dst, uint16_t dport)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nlattr *tup, *ip, *pr, *fl;
	uint32_t want = CT_FILTER_PROTO_NUM, none = 0;
	uint8_t proto = IPPROTO_UDP;

	ct_build(buf, cap, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, 0, NULL, 0, NULL, 0);
	tup = nl_put(nh, cap, CTA_TUPLE_ORIG | NLA_F_NESTED, NULL, 0);
	if (dst != NULL) {
		ip = nl_put(nh, cap, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
		nl_put(nh, cap, CTA_IP_V4_DST, dst, 4);
		nl_nest_end(nh, ip);
		want |= CT_FILTER_IP_DST | CT_FILTER_PROTO_DST_PORT;
	}
	pr = nl_put(nh, cap, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	nl_put(nh, cap, CTA_PROTO_NUM, &proto, 1);
	if (dst != NULL)
		nl_put(nh, cap, CTA_PROTO_DST_PORT, &dport, 2);
	nl_nest_end(nh, pr);
	nl_nest_end(nh, tup);
	fl = nl_put(nh, cap, CTA_FILTER | NLA_F_NESTED, NULL, 0);
	nl_put(nh, cap, CTA_FILTER_ORIG_FLAGS, &want, 4);
	nl_put(nh, cap, CTA_FILTER_REPLY_FLAGS, &none, 4);
	nl_nest_end(nh, fl);
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

/* Ask conntrack to delete f (by its original tuple), with an answer. */
static int
ct_delete(int fd, const struct ct_flow *f, uint32_t seq)
{
	char buf[512] __attribute__((aligned(4)));
	size_t len;

	len = ct_build(buf, sizeof(buf), IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq, CTA_TUPLE_ORIG,
		       &f->osrc, f->osport, &f->odst, f->odport);
	return send(fd, buf, len, 0) == -1 ? -1 : 0;
}

/* A service key "IP:PORT/udp" (rules_key_parse) to its address and port
 * (network order); -1 if not UDP. */
static int
ct_key(const char *key, struct in_addr *ip, uint16_t *port)
{
	char s[INET_ADDRSTRLEN];
	int proto;

	if (rules_key_parse(key, s, sizeof(s), port, &proto) == -1 || proto != EM_PROTO_UDP ||
	    inet_pton(AF_INET, s, ip) != 1)
		return -1;
	*port = htons(*port);
	return 0;
}

/* One dump (the request in req): append its stale entries to *del. */
static int
ct_dump_stale(int fd, const char *req, size_t reqlen, struct proxyd *p, struct hmap *keys,
	      struct ct_flow **del, size_t *ndel, size_t *cap)
{
	const struct nlmsghdr *nh;
	struct ct_flow f;
	size_t left;
	ssize_t n;

	if (send(fd, req, reqlen, 0) == -1)
		return -1;
	for (;;) {
		if ((n = recv(fd, ct_dumpbuf, sizeof(ct_dumpbuf), 0)) <= 0)
			return -1;
		for (nh = (const struct nlmsghdr *)ct_dumpbuf, left = (size_t)n; NLMSG_OK(nh, left);
		     nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				errno = nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0
					    ? -e->error
					    : EPROTO;
				return -1;
			}
			if (ct_parse(nh, &f) == -1 || !ct_stale(p, keys, &f))
				continue;
			if (*ndel == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				*del = xreallocarray(*del, *cap, sizeof(**del));
			}
			(*del)[(*ndel)++] = f;
		}
	}
}

int
proxy_ct_clear_stale(struct proxyd *p, struct hmap *keys)
{
	char req[512] __attribute__((aligned(4)));
	struct ct_flow *del = NULL;
	size_t ndel = 0, cap = 0, i, len;
	const struct nlmsghdr *nh;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
	struct hmap_iter it;
	const char *k;
	void *v;
	struct in_addr ip;
	uint16_t port;
	int fd, rc = -1, ndone = 0, failed = 0;
	uint32_t seq = 1;

	if ((fd = proxy_ct_open()) == -1)
		return -1;
	if (keys != NULL && hmap_count(keys) <= CT_FILTER_KEYS_MAX) {
		/* the kernel sends only each changed port's entries */
		hmap_iter_init(&it);
		while (!failed && hmap_next(keys, &it, &k, &v)) {
			if (ct_key(k, &ip, &port) == -1)
				continue;
			len = ct_build_dump(req, sizeof(req), seq++, &ip, port);
			failed = ct_dump_stale(fd, req, len, p, keys, &del, &ndel, &cap) == -1;
		}
	} else {
		len = ct_build_dump(req, sizeof(req), seq++, NULL, 0);
		failed = ct_dump_stale(fd, req, len, p, keys, &del, &ndel, &cap) == -1;
	}
	if (failed) {
		if (errno != EINVAL && errno != EOPNOTSUPP)
			goto out;
		/* a kernel that takes no such filter: every entry, checked here */
		ndel = 0;
		len = ct_build(req, sizeof(req), IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq++, 0, NULL, 0,
			       NULL, 0);
		if (ct_dump_stale(fd, req, len, p, keys, &del, &ndel, &cap) == -1)
			goto out;
	}
	for (i = 0; i < ndel; i++) {
		if (ct_delete(fd, &del[i], seq + (uint32_t)i) == -1 ||
		    recv(fd, ct_dumpbuf, sizeof(ct_dumpbuf), 0) == -1)
			goto out;
		nh = (const struct nlmsghdr *)ct_dumpbuf;
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
