#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

const char *
net_addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL)
			snprintf(buf, len, "%s:%u", ip + 7, ntohs(s6->sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

int
net_cidr4_parse(const char *s, uint32_t *base, unsigned *prefix, char *why, size_t len)
{
	char ip[INET_ADDRSTRLEN], fix[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	unsigned long p;
	uint32_t mask;
	char *end;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(ip) ||
	    !isdigit((unsigned char)slash[1])) {
		snprintf(why, len, "expected an IPv4 range like 10.96.0.0/12");
		return -1;
	}
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	p = strtoul(slash + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &a) != 1 || *end != '\0') {
		snprintf(why, len, "expected an IPv4 range like 10.96.0.0/12");
		return -1;
	}
	if (p > 30) {
		snprintf(why, len, "/%lu is too small a range: use a prefix of at most /30", p);
		return -1;
	}
	mask = p == 0 ? 0 : ~0u << (32 - p);
	if ((ntohl(a.s_addr) & ~mask) != 0) {
		a.s_addr = htonl(ntohl(a.s_addr) & mask);
		inet_ntop(AF_INET, &a, fix, sizeof(fix));
		snprintf(why, len, "host bits are set; did you mean %s/%lu?", fix, p);
		return -1;
	}
	*base = ntohl(a.s_addr);
	*prefix = (unsigned)p;
	return 0;
}
