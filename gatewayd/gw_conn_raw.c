/*
 * The raw phase: TCP routes, TLS passthrough and terminated TLS to a TCP
 * route, and HTTP connections upgraded by a 101 response.  The gateway's
 * own watchers stop and both sockets go to common/relay.c (splice between
 * plain sockets, the client through gw_tls_io when terminated); what the
 * earlier phases read and did not send yet goes first.
 */
#include "gatewayd.h"
#include "log.h"

static void
raw_done(void *arg, int error)
{
	struct gw_conn *c = arg;

	if (error)
		log_debug("%s %s: relay error", c->client, c->what);
	gw_conn_free(c);
}

void
gw_conn_raw_start(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;
	int r;

	ev_io_stop(loop, &c->crw);
	ev_io_stop(loop, &c->cww);
	ev_io_stop(loop, &c->urw);
	ev_io_stop(loop, &c->uww);
	gw_conn_set_phase(c, GW_P_RAW);
	relay_init(&c->rl, loop, &c->g->pool, c->cfd, c->ssl != NULL ? &gw_tls_io : NULL, c->ssl,
		   c->ufd, NULL, NULL, raw_done, c);
	/* a rewritten head or body not sent yet, then what followed it (or a ClientHello) */
	relay_preload(&c->rl, 1, c->uout.d + c->uout.off, c->uout.len);
	relay_preload(&c->rl, 1, c->cin.d + c->cin.off, c->cin.len);
	/* the 101 head not written yet, then the first bytes after it */
	relay_preload(&c->rl, 0, c->cout.d + c->cout.off, c->cout.len);
	relay_preload(&c->rl, 0, c->uin.d + c->uin.off, c->uin.len);
	c->uout.len = c->cin.len = c->cout.len = c->uin.len = 0;
	if ((r = relay_start(&c->rl)) != 0) {
		if (r == -1)
			log_debug("%s %s: relay error", c->client, c->what);
		c->dead = 1;
	}
}
