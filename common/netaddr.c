#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
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
net_accept(int lfd, struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);
	int fd;

	if ((fd = accept4(lfd, (struct sockaddr *)ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1 &&
	    (errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED))
		errno = EAGAIN;
	return fd;
}

int
net_listen_tcp(int port, int *out, char *err, size_t errlen)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	int fd, one = 1, zero = 0;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	sin6.sin6_addr = in6addr_any;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd != -1) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1) {
			close(fd);
			fd = -1;
		}
	}
	if (fd == -1) { /* no IPv6 here */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			return -1;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			snprintf(err, errlen, "bind: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (listen(fd, 128) == -1) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

int
net_sock_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	return err;
}

static struct {
	double at; /* monotonic seconds; 0: never */
	char target[64];
} noport;

const char *
net_connect_failed(int err, const char *ip, unsigned port)
{
	if (err != EADDRNOTAVAIL)
		return strerror(err);
	noport.at = log_clock();
	snprintf(noport.target, sizeof(noport.target), "%s:%u", ip, port);
	return "no local port free (TIME_WAIT from recent connections: widen "
	       "net.ipv4.ip_local_port_range or set net.ipv4.tcp_tw_reuse=1)";
}

const char *
net_noport_recent(double secs)
{
	if (noport.at == 0 || log_clock() - noport.at > secs)
		return NULL;
	return noport.target;
}
