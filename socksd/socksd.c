/*
 * edgemesh-socksd: a SOCKS5 server (default 169.254.96.16:10800) for
 * `ssh -o ProxyCommand='nc -X 5 -x 169.254.96.16:10800 %h %p' root@<node>`:
 * the host is a node name from the registry; the connection is handed to
 * tunneld, which checks the port against allowedNodePorts on the far node.
 * This file holds main(): options, config, the listening socket, privileges.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "socksd.h"

/* Connections wait in the backlog until the first snapshot of the peers
 * (names are resolved from it), at most HOLD_SECONDS (daemon.h on_serve). */
#define HOLD_SECONDS 3.0

static struct socksd *the_socksd;

static void
socksd_serve(void *arg, const char *why)
{
	socks_start(the_socksd);
	log_info("serving SOCKS5: %s", why);
}

static void
socksd_health(void *arg, struct ipc_health *h)
{
	socks_health(the_socksd, h->detail, sizeof(h->detail));
}

static void
socksd_shutdown(void *arg)
{
	socks_quiesce(the_socksd);
}

static size_t
socksd_busy(void *arg)
{
	return socks_busy(the_socksd);
}

/* Bind before privileges go; IP_FREEBIND: edgemesh0 may not have its address yet. */
static int
socksd_listen(struct em_daemon *d, const char *spec)
{
	struct sockaddr_in sa;
	char host[64], *colon;
	int fd, one = 1, port;

	if ((fd = daemon_fd_fetch(d, "socks")) != -1) {
		log_info("took the listening socket back from the controller");
		return fd;
	}
	if (spec != NULL) {
		snprintf(host, sizeof(host), "%s", spec);
		if ((colon = strrchr(host, ':')) == NULL)
			fatalx("--listen %s: use ADDR:PORT", spec);
		*colon = '\0';
		port = atoi(colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", d->cfg.bridge_ip);
		port = d->cfg.proxy.socks5_port;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		fatalx("listen address %s:%d: not an IPv4 address and port", host, port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 128) == -1)
		fatal("cannot listen on %s:%d (is another program using it? "
		      "modules.edgeProxy.socks5Proxy.listenPort picks another)",
		      host, port);
	log_info("SOCKS5 on %s:%d", host, port);
	return fd;
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	const char *listen_spec = NULL;
	const struct em_opt opts[] = {
	    {"listen", 1, NULL, &listen_spec, "ADDR:PORT instead of bridgeDeviceIP:socks5 port"},
	    {NULL, 0, NULL, NULL, NULL},
	};
	int lfd;

	daemon_init(&d, "socksd", argc, argv, opts);
	if (!d.cfg.proxy.socks5_enable)
		log_warnx("modules.edgeProxy.socks5Proxy.enable is false: serving anyway, as "
			  "socksd was started");
	lfd = socksd_listen(&d, listen_spec);
	daemon_fd_keep(&d, "socks", lfd);
	privdrop(&d, NULL, 0);

	the_socksd = socks_new(&d, lfd);
	d.topics = EM_TOPIC_BIT(EM_TOPIC_PEERS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.fill_health = socksd_health;
	d.on_shutdown = socksd_shutdown;
	d.busy = socksd_busy;
	d.on_serve = socksd_serve;
	d.hold_secs = HOLD_SECONDS;
	d.arg = &d;
	socksd_sandbox(&d);
	daemon_start(&d);
	daemon_run(&d);
	socks_stop(the_socksd);
	free(the_socksd);
	close(lfd);
	return 0;
}
