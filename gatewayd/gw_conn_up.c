/*
 * Reaching an endpoint for a connection: the TCP routes (by port, or by
 * the SNI of a passthrough ClientHello), then up to GW_MAX_TRIES endpoints
 * picked one after the other by the destination's balancer
 * (gw_upstream.c): a local one by a nonblocking connect (GW_CONNECT_TIMEOUT,
 * gw_conn.c's tick), a remote one by handing one end of a socketpair to
 * tunneld.  On success the request head goes out (HTTP) or both sockets go
 * to the relay (TCP, TLS).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd.h"
#include "log.h"
#include "netaddr.h"
#include "tunclient.h"

void
gw_conn_up_close(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;

	if (c->ufd != -1) {
		ev_io_stop(loop, &c->urw);
		ev_io_stop(loop, &c->uww);
		close(c->ufd);
		c->ufd = -1;
	}
	if (c->tun_pending) {
		tunclient_cancel(c->g->tc, c->tun_id);
		c->tun_pending = 0;
	}
	if (c->tun_other != -1) {
		close(c->tun_other);
		c->tun_other = -1;
	}
	c->u_eof = c->u_shut = 0;
	c->uin.len = c->uout.len = 0;
	c->ukey[0] = '\0';
}

static int
is_http(const struct gw_conn *c)
{
	return c->mode == GW_M_HTTP || c->mode == GW_M_TLS_HTTP;
}

static void
up_ready(struct gw_conn *c)
{
	const struct gw_pick *pk = &c->picks[c->tried - 1];

	log_debug("%s %s -> %s:%u%s", c->client, c->what, pk->ip, pk->port,
		  pk->remote ? " (tunnel)" : "");
	if (!is_http(c)) {
		gw_conn_raw_start(c);
		return;
	}
	ev_io_init(&c->urw, gw_conn_io_cb, c->ufd, EV_READ);
	ev_io_init(&c->uww, gw_conn_io_cb, c->ufd, EV_WRITE);
	c->urw.data = c->uww.data = c;
	gw_buf_put(&c->uout, c->phead, c->phead_len);
	free(c->phead);
	c->phead = NULL;
	gw_conn_set_phase(c, GW_P_HTTP);
}

static void
tun_done(void *arg, int ok, const char *reason)
{
	struct gw_conn *c = arg;
	const struct gw_pick *pk = &c->picks[c->tried - 1];

	c->tun_pending = 0;
	close(c->tun_other);
	c->tun_other = -1;
	if (ok)
		up_ready(c);
	else {
		log_client_repeat(true, "", c->client, "%s: tunnel to %s (%s:%u) failed: %s",
				  c->what, pk->node, pk->ip, pk->port, reason);
		close(c->ufd);
		c->ufd = -1;
		gw_conn_upstream(c);
	}
	gw_conn_run(c);
}

/* Hand the endpoint to tunneld: 0, or -1 (logged) to try the next. */
static int
up_tunnel(struct gw_conn *c, const struct gw_pick *p)
{
	struct ipc_tun_open o;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	snprintf(o.peer, sizeof(o.peer), "%s", p->node);
	snprintf(o.ip, sizeof(o.ip), "%s", p->ip);
	o.port = p->port;
	o.proto = EM_PROTO_TCP;
	snprintf(o.client, sizeof(o.client), "%s", c->client);
	tunclient_open(c->g->tc, sp[1], &o, tun_done, c, &c->tun_id);
	c->ufd = sp[0];
	c->tun_other = sp[1];
	c->tun_pending = 1;
	return 0;
}

void
gw_conn_upstream(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;
	struct gw_pick *p;
	char why[300];
	int status;

	gw_conn_set_phase(c, GW_P_CONNECT);
	while (c->tried < GW_MAX_TRIES) {
		if (c->tried == c->npicks) {
			if (gw_upstream_pick(c->g, c->dest, c->dport, c->client, c->phead,
					     c->phead_len, c->picks, c->npicks,
					     &c->picks[c->npicks], &status, why, sizeof(why)) == -1)
				break;
			c->npicks++;
		}
		p = &c->picks[c->tried++];
		if (p->remote) {
			if (up_tunnel(c, p) == 0)
				return;
			continue;
		}
		if ((c->ufd = gw_upstream_connect(p)) == -1) {
			log_client_repeat(true, "", c->client, "%s: connect %s:%u: %s", c->what,
					  p->ip, p->port,
					  net_connect_failed(errno, p->ip, p->port));
			continue;
		}
		/* the write watcher tells when the connect is done */
		ev_io_init(&c->uww, gw_conn_io_cb, c->ufd, EV_WRITE);
		c->uww.data = c;
		ev_io_start(loop, &c->uww);
		return;
	}
	if (is_http(c))
		gw_conn_error(c, 502, "no endpoint of the service could be reached");
	else {
		log_info("%s %s: no endpoint could be reached", c->client, c->what);
		c->dead = 1;
	}
}

/* Connect-phase readiness of a local TCP upstream. */
void
gw_conn_up_connected(struct gw_conn *c)
{
	const struct gw_pick *pk = &c->picks[c->tried - 1];
	int err;

	ev_io_stop(c->g->d->loop, &c->uww);
	if ((err = net_sock_error(c->ufd)) == 0) {
		up_ready(c);
		return;
	}
	log_client_repeat(true, "", c->client, "%s: connect %s:%u: %s", c->what, pk->ip, pk->port,
			  net_connect_failed(err, pk->ip, pk->port));
	close(c->ufd);
	c->ufd = -1;
	gw_conn_upstream(c);
}

void
gw_conn_route_tcp(struct gw_conn *c, const char *sni)
{
	const struct em_gw_route *r;
	char why[300];
	int status;

	gw_gateways_refresh(c->g);
	snprintf(c->what, sizeof(c->what), "%s port %u%s%s", c->mode == GW_M_TCP ? "tcp" : "tls",
		 c->port, sni != NULL ? " sni " : "", sni != NULL ? sni : "");
	r = gw_route_tcp(c->g->gws, c->g->ngws, c->port, sni);
	if (r == NULL) {
		log_info("%s %s: no tcp route", c->client, c->what);
		c->dead = 1;
		return;
	}
	gw_dest_key(r, c->dest, sizeof(c->dest));
	c->dport = r->dest_port;
	c->npicks = c->tried = 0;
	if (gw_upstream_pick(c->g, c->dest, c->dport, c->client, NULL, 0, NULL, 0, &c->picks[0],
			     &status, why, sizeof(why)) == -1) {
		log_info("%s %s: %s", c->client, c->what, why);
		c->dead = 1;
		return;
	}
	c->npicks = 1;
	gw_conn_upstream(c);
}
