/*
 * Listening sockets: from systemd socket activation (sd_listen_fds(3)
 * semantics, without libsystemd), or bound here before privileges go,
 * with IP_FREEBIND so the bridge address need not exist yet.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"

#define SD_LISTEN_FDS_START 3
#define TCP_BACKLOG	    128

static int
env_long(const char *name, long *v)
{
	const char *s = getenv(name);
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || *v < 0)
		return -1;
	return 0;
}

/*
 * The sockets systemd passed us (LISTEN_PID must be ours), sorted into
 * UDP and TCP, made non-blocking and close-on-exec.  Returns how many
 * were passed (0: not socket-activated), -1 on a socket we cannot use.
 */
int
dns_listen_activated(int *udp, size_t *nudp, int *tcp, size_t *ntcp, size_t max)
{
	long pid, n, i;
	int fd, type, flags, ret = 0;
	socklen_t sl;

	*nudp = *ntcp = 0;
	if (env_long("LISTEN_PID", &pid) == -1 || pid != (long)getpid() ||
	    env_long("LISTEN_FDS", &n) == -1 || n == 0)
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > INT_MAX - SD_LISTEN_FDS_START)
		return -1;
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + (int)i;
		sl = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == -1) {
			log_warn("socket activation: fd %d", fd);
			ret = -1;
			continue;
		}
		if ((flags = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("socket activation: fd %d", fd);
			ret = -1;
			continue;
		}
		if (type == SOCK_DGRAM && *nudp < max)
			udp[(*nudp)++] = fd;
		else if (type == SOCK_STREAM && *ntcp < max)
			tcp[(*ntcp)++] = fd;
		else {
			log_warnx("socket activation: fd %d: not a datagram or stream socket, "
				  "or more than %zu of a kind; ignored",
				  fd, max);
			close(fd);
		}
	}
	return ret == -1 ? -1 : (int)n;
}

/* A non-blocking UDP or TCP socket bound to ss (listening, for TCP); -1 with errno. */
int
dns_listen_bind(const struct sockaddr_storage *ss, int type)
{
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, on = 1, saved;

	if ((fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof(on)) == -1)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, len) == -1)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Is ss an address of this host (in this network namespace)? */
bool
dns_addr_is_local(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage a = *ss;
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd;
	bool local;

	if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	else
		((struct sockaddr_in *)&a)->sin_port = 0;
	if ((fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	local = bind(fd, (struct sockaddr *)&a, len) == 0;
	close(fd);
	return local;
}
