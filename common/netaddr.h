/* Socket addresses as text, for logs and status lines. */
#ifndef EM_NETADDR_H
#define EM_NETADDR_H

#include <sys/socket.h>
#include <stddef.h>

/*
 * "1.2.3.4:53", "[fd00::1]:53"; a v4-mapped IPv6 address prints as IPv4.
 * Returns buf.
 */
const char *net_addr_text(const struct sockaddr_storage *, char *buf, size_t len);

#endif
