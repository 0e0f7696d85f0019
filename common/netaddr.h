/* Socket addresses as text, for logs and status lines. */
#ifndef EM_NETADDR_H
#define EM_NETADDR_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

/*
 * "1.2.3.4:53", "[fd00::1]:53"; a v4-mapped IPv6 address prints as IPv4.
 * Returns buf.
 */
const char *net_addr_text(const struct sockaddr_storage *, char *buf, size_t len);

/*
 * "10.96.0.0/12" -> base address (host order) and prefix length; host bits
 * must be zero and the prefix at most /30 (a range with room for services).
 * -1 with why set to what is wrong.
 */
int net_cidr4_parse(const char *, uint32_t *base, unsigned *prefix, char *why, size_t len);

#endif
