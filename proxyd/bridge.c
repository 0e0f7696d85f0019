/*
 * The edgemesh0 device with the bridge address (commonConfig.bridgeDeviceName
 * and bridgeDeviceIP), and the removal of the policy routing (fwmark -> a
 * table with a local default route on lo) that proxyd set up while UDP
 * used TPROXY.  Plain rtnetlink, no ip(8).  Where the kernel has no
 * `dummy` link type we fall back to a bridge link (what EdgeMesh creates),
 * and where that fails too, to the address on lo.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

struct nlreq {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
		struct fib_rule_hdr frh;
	} u;
	char buf[512];
};

static void
nl_init(struct nlreq *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdrlen);
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nh.nlmsg_seq = 1;
}

/* Send one request; 0 or -errno from the kernel's answer. */
static int
nl_talk(struct nlreq *r)
{
	struct sockaddr_nl sa;
	char buf[4096];
	struct nlmsghdr *h;
	ssize_t n;
	int fd, err = -EIO;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) == -1)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = -errno;
		goto out;
	}
	for (;;) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				err = 0;
				goto out;
			}
		}
	}
out:
	close(fd);
	return err;
}

static int
link_add(const char *dev, const char *kind)
{
	struct nlreq r;
	struct nlattr *li;

	nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
	r.u.ifi.ifi_family = AF_UNSPEC;
	nl_put(&r.nh, sizeof(r), IFLA_IFNAME, dev, strlen(dev) + 1);
	li = nl_put(&r.nh, sizeof(r), IFLA_LINKINFO, NULL, 0);
	nl_put(&r.nh, sizeof(r), IFLA_INFO_KIND, kind, strlen(kind));
	nl_nest_end(&r.nh, li);
	return nl_talk(&r);
}

/* RTM_NEWLINK setting flags (IFF_UP) on a link, or RTM_DELLINK (flags 0). */
static int
link_op(uint16_t op, int ifindex, unsigned flags)
{
	struct nlreq r;

	nl_init(&r, op, 0, sizeof(struct ifinfomsg));
	r.u.ifi.ifi_family = AF_UNSPEC;
	r.u.ifi.ifi_index = ifindex;
	r.u.ifi.ifi_flags = r.u.ifi.ifi_change = flags;
	return nl_talk(&r);
}

static int
addr_op(uint16_t op, int ifindex, struct in_addr a)
{
	struct nlreq r;

	nl_init(&r, op, op == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0,
		sizeof(struct ifaddrmsg));
	r.u.ifa.ifa_family = AF_INET;
	r.u.ifa.ifa_prefixlen = 32;
	r.u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	r.u.ifa.ifa_index = (unsigned)ifindex;
	nl_put(&r.nh, sizeof(r), IFA_LOCAL, &a, sizeof(a));
	nl_put(&r.nh, sizeof(r), IFA_ADDRESS, &a, sizeof(a));
	return nl_talk(&r);
}

int
bridge_parse_kind(const char *s)
{
	if (s == NULL || strcmp(s, "auto") == 0)
		return BRIDGE_AUTO;
	if (strcmp(s, "dummy") == 0)
		return BRIDGE_DUMMY;
	if (strcmp(s, "bridge") == 0)
		return BRIDGE_BRIDGE;
	if (strcmp(s, "lo") == 0)
		return BRIDGE_LO;
	return -1;
}

static const char *kind_names[] = {"auto", "dummy", "bridge", "lo"};

int
bridge_setup(const char *dev, const char *ip, int kind)
{
	struct in_addr a;
	unsigned idx;
	int e, used = kind;

	if (inet_pton(AF_INET, ip, &a) != 1) {
		log_warnx("commonConfig.bridgeDeviceIP %s is not an IPv4 address", ip);
		return -1;
	}
	if (kind != BRIDGE_LO && (idx = if_nametoindex(dev)) != 0) {
		used = kind == BRIDGE_AUTO ? BRIDGE_BRIDGE : kind;
		log_info("device %s exists already: using it", dev);
		goto addr;
	}
	if (kind == BRIDGE_AUTO || kind == BRIDGE_DUMMY) {
		if ((e = link_add(dev, "dummy")) == 0 || e == -EEXIST) {
			used = BRIDGE_DUMMY;
			goto up;
		}
		log_info("cannot create %s as a dummy link (%s)%s", dev, strerror(-e),
			 kind == BRIDGE_AUTO ? ": trying a bridge link" : "");
		if (kind == BRIDGE_DUMMY)
			return -1;
	}
	if (kind == BRIDGE_AUTO || kind == BRIDGE_BRIDGE) {
		if ((e = link_add(dev, "bridge")) == 0 || e == -EEXIST) {
			used = BRIDGE_BRIDGE;
			goto up;
		}
		log_info("cannot create %s as a bridge link (%s)%s", dev, strerror(-e),
			 kind == BRIDGE_AUTO ? ": putting the address on lo" : "");
		if (kind == BRIDGE_BRIDGE)
			return -1;
	}
	used = BRIDGE_LO;
	dev = "lo";
up:
	if ((idx = if_nametoindex(dev)) == 0) {
		log_warn("device %s", dev);
		return -1;
	}
	if ((e = link_op(RTM_NEWLINK, (int)idx, IFF_UP)) != 0) {
		log_warnx("cannot set %s up: %s", dev, strerror(-e));
		return -1;
	}
addr:
	if ((e = addr_op(RTM_NEWADDR, (int)idx, a)) != 0 && e != -EEXIST) {
		log_warnx("cannot add %s/32 to %s: %s", ip, dev, strerror(-e));
		return -1;
	}
	log_info("bridge address %s on %s (%s)", ip, dev, kind_names[used]);
	return used;
}

int
bridge_cleanup(const char *dev, const char *ip)
{
	struct in_addr a;
	unsigned idx;
	int e, rc = 0;

	if (inet_pton(AF_INET, ip, &a) == 1 && (idx = if_nametoindex("lo")) != 0 &&
	    (e = addr_op(RTM_DELADDR, (int)idx, a)) == 0)
		log_info("removed %s from lo", ip);
	if ((idx = if_nametoindex(dev)) != 0) {
		if ((e = link_op(RTM_DELLINK, (int)idx, 0)) != 0) {
			log_warnx("cannot delete %s: %s", dev, strerror(-e));
			rc = -1;
		} else
			log_info("deleted device %s", dev);
	}
	return rc;
}

static int
rule_del(void)
{
	struct nlreq r;
	uint32_t v;

	nl_init(&r, RTM_DELRULE, 0, sizeof(struct fib_rule_hdr));
	r.u.frh.family = AF_INET;
	r.u.frh.action = FR_ACT_TO_TBL;
	r.u.frh.table = RT_TABLE_UNSPEC;
	v = PROXY_FWMARK;
	nl_put(&r.nh, sizeof(r), FRA_FWMARK, &v, sizeof(v));
	v = PROXY_FWMASK;
	nl_put(&r.nh, sizeof(r), FRA_FWMASK, &v, sizeof(v));
	v = PROXY_RT_TABLE;
	nl_put(&r.nh, sizeof(r), FRA_TABLE, &v, sizeof(v));
	v = PROXY_RULE_PRIO;
	nl_put(&r.nh, sizeof(r), FRA_PRIORITY, &v, sizeof(v));
	return nl_talk(&r);
}

static int
route_del(void)
{
	struct nlreq r;
	uint32_t v;

	nl_init(&r, RTM_DELROUTE, 0, sizeof(struct rtmsg));
	r.u.rtm.rtm_family = AF_INET;
	r.u.rtm.rtm_dst_len = 0;
	r.u.rtm.rtm_table = RT_TABLE_UNSPEC;
	r.u.rtm.rtm_protocol = RTPROT_STATIC;
	r.u.rtm.rtm_scope = RT_SCOPE_HOST;
	r.u.rtm.rtm_type = RTN_LOCAL;
	v = PROXY_RT_TABLE;
	nl_put(&r.nh, sizeof(r), RTA_TABLE, &v, sizeof(v));
	v = if_nametoindex("lo");
	nl_put(&r.nh, sizeof(r), RTA_OIF, &v, sizeof(v));
	return nl_talk(&r);
}

int
bridge_route_cleanup(void)
{
	while (rule_del() == 0)
		;
	route_del();
	return 0;
}
