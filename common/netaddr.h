/* Socket addresses as text, for logs and status lines; accepting clients. */
#ifndef EM_NETADDR_H
#define EM_NETADDR_H

#include <sys/socket.h>
#include <stddef.h>

/*
 * "1.2.3.4:53", "[fd00::1]:53"; a v4-mapped IPv6 address prints as IPv4.
 * Returns buf.
 */
const char *net_addr_text(const struct sockaddr_storage *, char *buf, size_t len);

/*
 * accept4() a nonblocking, close-on-exec client into ss: the fd, or -1
 * with errno EAGAIN when there is none now (EINTR and ECONNABORTED count
 * as none), another errno on a real error (the caller logs it).
 */
int net_accept(int lfd, struct sockaddr_storage *ss);

/*
 * A nonblocking, close-on-exec TCP listener on port, all addresses (IPv6
 * with IPv4 mapped, else IPv4 only) into *fd; -1 with err ("bind: ...").
 */
int net_listen_tcp(int port, int *fd, char *err, size_t errlen);

/*
 * The outcome of a nonblocking connect() on fd once it is writable: 0
 * connected, else its errno (SO_ERROR, or getsockopt's own errno).
 */
int net_sock_error(int fd);

/*
 * A connect() to ip:port failed with err: what to say about it.  That is
 * strerror(err), except when the cause is this node and not the target:
 * EADDRNOTAVAIL means no local port is free for that destination (this
 * node's recent connections to it hold them in TIME_WAIT); the text then
 * says what the admin can set, and the failure is remembered for
 * net_noport_recent.
 */
const char *net_connect_failed(int err, const char *ip, unsigned port);
/* "ip:port" of the last connect that found no local port free, if it was
 * within the last secs seconds; else NULL. */
const char *net_noport_recent(double secs);

#endif
