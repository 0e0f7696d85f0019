/*
 * IP addresses and ranges (CIDR), pure but for srcrange_local: the
 * ranges of commonConfig.clientSourceRanges (config.c checks them, srcgate.c
 * applies them) and the address classes tunneld never dials (loopback,
 * link-local, ...).
 */
#ifndef EM_SRCRANGE_H
#define EM_SRCRANGE_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is held as IPv4. */
struct ip_addr {
	int family; /* AF_INET (b[0..3]) or AF_INET6 */
	uint8_t b[16];
};

struct ip_range {
	struct ip_addr a; /* host bits zero */
	uint8_t bits;	  /* prefix length */
};

#define SRCRANGE_MAX 128

struct srcrange_set {
	size_t n;
	struct ip_range r[SRCRANGE_MAX];
};

int ip_addr_parse(const char *, struct ip_addr *);
int ip_addr_from_sockaddr(const struct sockaddr *, struct ip_addr *);
/* "1.2.3.4", "fd00::1" */
const char *ip_addr_text(const struct ip_addr *, char *buf, size_t len);
bool ip_addr_equal(const struct ip_addr *, const struct ip_addr *);
/* "loopback", "link-local", "unspecified", "multicast", "broadcast", or NULL
 * for an address a daemon may dial on a peer's behalf. */
const char *ip_addr_special(const struct ip_addr *);

/* "10.0.0.0/8", "fd00::/8", or an address alone (a /32 or /128).  Host bits
 * set, a bad prefix or address: -1 with the reason in why. */
int ip_range_parse(const char *, struct ip_range *, char *why, size_t len);
bool ip_range_contains(const struct ip_range *, const struct ip_addr *);
/* "10.0.0.0/8" */
const char *ip_range_text(const struct ip_range *, char *buf, size_t len);

/* Adds r unless already there; -1 when the set is full. */
int srcrange_add(struct srcrange_set *, const struct ip_range *);
bool srcrange_match(const struct srcrange_set *, const struct ip_addr *);
/* "127.0.0.0/8 ::1/128 ..." cut to len */
void srcrange_text(const struct srcrange_set *, char *buf, size_t len);

/*
 * The default client ranges: loopback, every address of this host's
 * interfaces, and the subnets of the interfaces that carry none of the
 * node's advertised addresses (pod and container bridges such as cni0 or
 * docker0).  Without node addresses (no Node object yet) no subnet is
 * added: the LAN could not be told apart from a pod network.
 * -1 with why if the interfaces cannot be listed.
 */
int srcrange_local(struct srcrange_set *, const struct ip_addr *node_addrs, size_t n, char *why,
		   size_t len);

#endif
