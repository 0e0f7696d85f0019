/*
 * Listening sockets that outlive a proxyd restart: the controller keeps a
 * dup of each, so while proxyd is down new connections wait in the
 * kernel's accept backlog (and datagrams in the receive queue) instead of
 * being refused; the next proxyd takes the same sockets back.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

/* A socket the controller kept for us, if it is still the one we want. */
int
listen_keep_reuse(struct proxyd *p, const char *key, int type)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, t;
	socklen_t tl = sizeof(t);

	if ((fd = daemon_fd_fetch(p->d, key)) == -1)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) == -1 || t != type ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1 || sa.sin_family != AF_INET ||
	    sa.sin_addr.s_addr != p->bind_ip.s_addr || ntohs(sa.sin_port) != p->port) {
		log_info("the kept %s socket is for another address; opening a new one", key);
		close(fd);
		return -1;
	}
	log_info("took the %s socket back from the controller: no connection was refused "
		 "while proxyd was away",
		 key);
	return fd;
}
