/*
 * proxyd's hand-off of remote flows to tunneld: common/tunclient.c does
 * the talking; proxyd keeps its own fd until the result, so a failed open
 * moves on to the next endpoint with no byte lost.
 */
#include <stdio.h>
#include <string.h>

#include "proxyd.h"

void
proxy_tun_init(struct proxyd *p)
{
	p->tun = tunclient_new(p->loop, p->d->cfg.runtime_dir, "proxyd");
}

void
proxy_tun_open(struct proxyd *p, int fd, const char *peer, const char *ip, uint16_t port, int proto,
	       const char *client, tun_result_cb cb, void *arg, uint64_t *id)
{
	struct ipc_tun_open o;

	memset(&o, 0, sizeof(o));
	snprintf(o.peer, sizeof(o.peer), "%s", peer);
	snprintf(o.ip, sizeof(o.ip), "%s", ip);
	o.port = port;
	o.proto = (uint8_t)proto;
	snprintf(o.client, sizeof(o.client), "%s", client);
	tunclient_open(p->tun, fd, &o, cb, arg, id);
}

void
proxy_tun_cancel(struct proxyd *p, uint64_t id)
{
	tunclient_cancel(p->tun, id);
}
