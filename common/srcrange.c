/*
 * IP addresses, CIDR ranges and the client source check of socksd and
 * dnsd.  See srcrange.h.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "srcrange.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void
ip_set6(struct ip_addr *a, const uint8_t b[16])
{
	memset(a, 0, sizeof(*a));
	if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
		a->family = AF_INET;
		memcpy(a->b, b + 12, 4);
	} else {
		a->family = AF_INET6;
		memcpy(a->b, b, 16);
	}
}

int
ip_addr_parse(const char *s, struct ip_addr *a)
{
	uint8_t b[16];

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		ip_set6(a, b);
		return 0;
	}
	return -1;
}

int
ip_addr_from_sockaddr(const struct sockaddr *sa, struct ip_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		a->family = AF_INET;
		memcpy(a->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		ip_set6(a, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
		return 0;
	}
	return -1;
}

const char *
ip_addr_text(const struct ip_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family, a->b, buf, (socklen_t)len) == NULL && len > 0)
		snprintf(buf, len, "?");
	return buf;
}

static size_t
ip_len(const struct ip_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

bool
ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && memcmp(a->b, b->b, ip_len(a)) == 0;
}

const char *
ip_addr_special(const struct ip_addr *a)
{
	static const uint8_t zero[16];
	const uint8_t *b = a->b;

	if (a->family == AF_INET) {
		if (b[0] == 127)
			return "loopback";
		if (b[0] == 0)
			return "unspecified"; /* 0.0.0.0/8: "this host" */
		if (b[0] == 169 && b[1] == 254)
			return "link-local";
		if (b[0] >= 224 && b[0] < 240)
			return "multicast";
		if (memcmp(b, "\xff\xff\xff\xff", 4) == 0)
			return "broadcast";
		return NULL;
	}
	if (memcmp(b, zero, 15) == 0 && b[15] <= 1)
		return b[15] == 1 ? "loopback" : "unspecified";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xff)
		return "multicast";
	if (memcmp(b, zero, 12) == 0)
		return "unspecified"; /* ::a.b.c.d, deprecated IPv4-compatible */
	return NULL;
}

/* Zero the bits after the prefix; true if some were set. */
static bool
ip_mask(struct ip_addr *a, unsigned bits)
{
	size_t i, n = ip_len(a);
	bool had = false;
	uint8_t m;

	for (i = 0; i < n; i++) {
		if (bits >= 8 * (i + 1))
			continue;
		m = bits > 8 * i ? (uint8_t)(0xff << (8 - (bits - 8 * i))) : 0;
		if (a->b[i] & ~m)
			had = true;
		a->b[i] &= m;
	}
	return had;
}

int
ip_range_parse(const char *s, struct ip_range *r, char *why, size_t len)
{
	char host[64], fixed[64];
	const char *slash = strchr(s, '/');
	unsigned max, bits;
	char *end;
	long v;

	if (slash == NULL) {
		if (strlen(s) >= sizeof(host) || ip_addr_parse(s, &r->a) == -1) {
			snprintf(why, len,
				 "%s is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)", s);
			return -1;
		}
		r->bits = (uint8_t)(8 * ip_len(&r->a));
		return 0;
	}
	if ((size_t)(slash - s) >= sizeof(host)) {
		snprintf(why, len, "%s is not a CIDR range", s);
		return -1;
	}
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	if (ip_addr_parse(host, &r->a) == -1) {
		snprintf(why, len, "%s: %s is not an IP address", s, host);
		return -1;
	}
	/* a mapped address keeps its IPv6 prefix length */
	max = strchr(host, ':') != NULL ? 128 : 32;
	errno = 0;
	v = strtol(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || v < 0 ||
	    (unsigned long)v > max) {
		snprintf(why, len, "%s: the prefix length must be a number from 0 to %u", s, max);
		return -1;
	}
	bits = (unsigned)v;
	if (max == 128 && r->a.family == AF_INET) {
		if (bits < 96) {
			snprintf(why, len, "%s: an IPv4-mapped range needs a prefix of at least 96",
				 s);
			return -1;
		}
		bits -= 96;
	}
	r->bits = (uint8_t)bits;
	if (ip_mask(&r->a, bits)) {
		snprintf(why, len, "%s has bits set after the /%u prefix: did you mean %s?", s,
			 bits, ip_range_text(r, fixed, sizeof(fixed)));
		return -1;
	}
	return 0;
}

bool
ip_range_contains(const struct ip_range *r, const struct ip_addr *a)
{
	struct ip_addr m = *a;

	if (a->family != r->a.family)
		return false;
	ip_mask(&m, r->bits);
	return memcmp(m.b, r->a.b, ip_len(a)) == 0;
}

const char *
ip_range_text(const struct ip_range *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", ip_addr_text(&r->a, a, sizeof(a)), r->bits);
	return buf;
}

int
srcrange_add(struct srcrange_set *s, const struct ip_range *r)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].bits == r->bits && ip_addr_equal(&s->r[i].a, &r->a))
			return 0;
	if (s->n == SRCRANGE_MAX)
		return -1;
	s->r[s->n++] = *r;
	return 0;
}

bool
srcrange_match(const struct srcrange_set *s, const struct ip_addr *a)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (ip_range_contains(&s->r[i], a))
			return true;
	return false;
}

void
srcrange_text(const struct srcrange_set *s, char *buf, size_t len)
{
	char one[64];
	size_t i, used = 0;
	int r;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < s->n && used < len; i++) {
		r = snprintf(buf + used, len - used, "%s%s", i ? " " : "",
			     ip_range_text(&s->r[i], one, sizeof(one)));
		if (r < 0)
			break;
		used += (size_t)r;
	}
}

/* A range we wrote ourselves: it parses. */
static int
add_text(struct srcrange_set *s, const char *text)
{
	struct ip_range r;
	char why[128];

	if (ip_range_parse(text, &r, why, sizeof(why)) == -1)
		return -1;
	return srcrange_add(s, &r);
}

/* The interface's subnet; false for loopback, IPv6 link-local and /0. */
static bool
if_subnet(const struct ifaddrs *ifa, const struct ip_addr *a, struct ip_range *r)
{
	struct ip_addr m;
	unsigned bits = 0;
	size_t i;

	if ((ifa->ifa_flags & IFF_LOOPBACK) || ifa->ifa_netmask == NULL ||
	    ip_addr_from_sockaddr(ifa->ifa_netmask, &m) == -1)
		return false;
	if (a->family == AF_INET6 && ip_addr_special(a) != NULL)
		return false;
	for (i = 0; i < ip_len(a); i++)
		bits += (unsigned)__builtin_popcount(m.b[i]);
	if (bits == 0 || bits == 8 * ip_len(a))
		return false;
	r->a = *a;
	r->bits = (uint8_t)bits;
	ip_mask(&r->a, bits);
	return true;
}

/* Does interface name hold one of the node's addresses? */
static bool
if_has_node_addr(const struct ifaddrs *all, const char *name, const struct ip_addr *node, size_t n)
{
	const struct ifaddrs *ifa;
	struct ip_addr a;
	size_t i;

	for (ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
		if (strcmp(ifa->ifa_name, name) != 0 || ifa->ifa_addr == NULL ||
		    ip_addr_from_sockaddr(ifa->ifa_addr, &a) == -1)
			continue;
		for (i = 0; i < n; i++)
			if (ip_addr_equal(&a, &node[i]))
				return true;
	}
	return false;
}

int
srcrange_local(struct srcrange_set *s, const struct ip_addr *node, size_t n, char *why, size_t len)
{
	struct ifaddrs *all, *ifa;
	struct ip_range r;
	struct ip_addr a;
	int full = 0;

	memset(s, 0, sizeof(*s));
	add_text(s, "127.0.0.0/8");
	add_text(s, "::1");
	if (getifaddrs(&all) == -1) {
		snprintf(why, len, "getifaddrs: %s", strerror(errno));
		return -1;
	}
	for (ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr == NULL || ip_addr_from_sockaddr(ifa->ifa_addr, &a) == -1 ||
		    (a.family == AF_INET6 && ip_addr_special(&a) != NULL))
			continue;
		r.a = a;
		r.bits = (uint8_t)(8 * ip_len(&a));
		if (!srcrange_match(s, &a)) /* 127.0.0.1 is in 127.0.0.0/8 already */
			full |= srcrange_add(s, &r);
		if (n > 0 && if_subnet(ifa, &a, &r) &&
		    !if_has_node_addr(all, ifa->ifa_name, node, n))
			full |= srcrange_add(s, &r);
	}
	freeifaddrs(all);
	if (full)
		log_warnx_once("srcrange-full",
			       "more than %d local addresses and subnets: only the first %d "
			       "are allowed as clients (commonConfig.clientSourceRanges sets them)",
			       SRCRANGE_MAX, SRCRANGE_MAX);
	return 0;
}
