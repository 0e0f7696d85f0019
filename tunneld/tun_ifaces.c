/*
 * modules.edgeTunnel.listenInterfaces and extraFilteredInterfaces, with
 * EdgeMesh's meaning: the tunnel is served on the addresses of the selected
 * NICs (a comma list, "*" or empty for all), except NICs whose name starts
 * with docker, edgemesh, tunl, flannel, cni, br or kube-ipvs, or with one of
 * the extraFilteredInterfaces prefixes; lo is not filtered.
 *
 * EdgeMesh binds each such IPv4 address.  We keep one wildcard listener
 * per port (TCP and WebSocket) and check the local address of each
 * accepted connection against the NICs as they are at that moment, so an
 * address that comes later is served without a restart.  A connection to
 * any other address is closed before a byte is read (logged once per
 * address).  IPv6 addresses follow the same NIC rule.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "tunneld.h"

static const char *const builtin_filter[] = {"docker", "edgemesh", "tunl",	"flannel",
					     "cni",    "br",	   "kube-ipvs", NULL};

size_t
tun_list_next(const char **pp, const char **item)
{
	const char *p = *pp;
	size_t n;

	while (*p == ' ' || *p == ',')
		p++;
	*item = p;
	*pp = p + strcspn(p, ",");
	n = (size_t)(*pp - p);
	while (n > 0 && p[n - 1] == ' ')
		n--;
	return n;
}

/* Whether the comma list has an item equal to (prefix 0) or a prefix of
 * (prefix 1) name. */
static int
list_match(const char *list, const char *name, int prefix)
{
	const char *p = list, *it;
	size_t n;

	while (*p != '\0') {
		n = tun_list_next(&p, &it);
		if (n > 0 && strncmp(it, name, n) == 0 && (prefix || name[n] == '\0'))
			return 1;
	}
	return 0;
}

int
tun_iface_selected(const char *listen, const char *extra, const char *ifname)
{
	size_t i;

	while (*listen == ' ')
		listen++;
	if (*listen != '\0' && strcmp(listen, "*") != 0 && !list_match(listen, ifname, 0))
		return 0;
	for (i = 0; builtin_filter[i] != NULL; i++)
		if (strncmp(ifname, builtin_filter[i], strlen(builtin_filter[i])) == 0)
			return 0;
	return !list_match(extra, ifname, 1);
}

/* The NIC that holds address ss (v4-mapped counts as IPv4) into ifname;
 * 1 if the address is on a selected NIC, 0 if not, -1 if no NIC holds it. */
static int
addr_selected(struct tunneld *t, const struct sockaddr_storage *ss, char *ifname, size_t len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	struct ifaddrs *ifa, *i;
	struct in_addr a4;
	int v4 = 0, found = -1;

	if (ss->ss_family == AF_INET) {
		a4 = ((const struct sockaddr_in *)ss)->sin_addr;
		v4 = 1;
	} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(&a4, s6->sin6_addr.s6_addr + 12, 4);
		v4 = 1;
	}
	if (getifaddrs(&ifa) == -1) {
		log_warnx_once("getifaddrs", "%s: getifaddrs: %s: listenInterfaces not applied",
			       __func__, strerror(errno));
		return 1; /* cannot tell: serve */
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (v4 && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a4.s_addr)
			;
		else if (!v4 && i->ifa_addr->sa_family == AF_INET6 &&
			 memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, &s6->sin6_addr,
				16) == 0)
			;
		else
			continue;
		snprintf(ifname, len, "%s", i->ifa_name);
		found = tun_iface_selected(t->d->cfg.tunnel.listen_interfaces,
					   t->d->cfg.tunnel.extra_filtered_interfaces, i->ifa_name);
		if (found == 1)
			break;
	}
	freeifaddrs(ifa);
	return found;
}

int
tun_ifaces_allowed(struct tunneld *t, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ifname[IF_NAMESIZE + 1] = "?", addr[64], *c, once[96];
	int r;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 1;
	if ((r = addr_selected(t, &ss, ifname, sizeof(ifname))) == 1)
		return 1;
	net_addr_text(&ss, addr, sizeof(addr));
	if ((c = strrchr(addr, ':')) != NULL)
		*c = '\0'; /* no port */
	snprintf(once, sizeof(once), "iface refuse %s", addr);
	if (r == 0)
		log_warnx_once(
		    once,
		    "connection to %s refused: %s is not in listenInterfaces '%s' or is "
		    "filtered (built-in prefixes docker, edgemesh, tunl, flannel, cni, br, "
		    "kube-ipvs; extraFilteredInterfaces '%s')",
		    addr, ifname, t->d->cfg.tunnel.listen_interfaces,
		    t->d->cfg.tunnel.extra_filtered_interfaces);
	else
		log_warnx_once(once, "connection to %s refused: no interface holds that address",
			       addr);
	return 0;
}

/* At start: which NICs the tunnel is served on (as EdgeMesh logs its listen
 * addresses); a selection that matches nothing is a warning. */
void
tun_ifaces_log(struct tunneld *t)
{
	const char *listen = t->d->cfg.tunnel.listen_interfaces;
	const char *extra = t->d->cfg.tunnel.extra_filtered_interfaces;
	struct ifaddrs *ifa, *i;
	char names[512] = "", one[IF_NAMESIZE + 2];

	if (getifaddrs(&ifa) == -1) {
		log_warn("%s: getifaddrs", __func__);
		return;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (!tun_iface_selected(listen, extra, i->ifa_name))
			continue;
		snprintf(one, sizeof(one), "%s,", i->ifa_name);
		if (strstr(names, one) == NULL && strlen(names) + strlen(one) < sizeof(names))
			strcat(names, one);
	}
	freeifaddrs(ifa);
	if (names[0] == '\0') {
		log_warnx(
		    "no interface matches listenInterfaces '%s' (less extraFilteredInterfaces "
		    "'%s' and the built-in filter): every tunnel connection will be refused",
		    listen, extra);
		return;
	}
	names[strlen(names) - 1] = '\0';
	log_info("serving the tunnel on the addresses of %s (listenInterfaces '%s', "
		 "extraFilteredInterfaces '%s')",
		 names, listen, extra);
}
