/*
 * One client connection, as a state machine (enum gw_phase) driven by
 * gw_conn_run() after every event.  This file: accepting, the TLS
 * handshake and SNI phases, error responses, timers and freeing; the
 * buffers and I/O are in gw_conn_io.c, HTTP in gw_conn_http.c, reaching
 * endpoints in gw_conn_up.c, the raw relay in gw_conn_raw.c.  Read
 * interest is kept only while a buffer has room, write interest only
 * while one has data; reads are attempted whenever there is room, so TLS
 * bytes already decrypted inside OpenSSL are never stranded.
 *
 *   TLS_HS -> HEAD -> CONNECT -> HTTP -> HEAD ...   (HTTP, HTTPS)
 *                                 HTTP -> RAW       (101 Switching Protocols)
 *   SNI -> CONNECT -> RAW                           (TLS passthrough)
 *   TLS_HS -> CONNECT -> RAW                        (terminated TLS to TCP)
 *   CONNECT -> RAW                                  (TCP)
 *   any error -> FLUSH (a real HTTP error response) -> LINGER -> closed
 */
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd.h"
#include "log.h"
#include "tunclient.h"

void
gw_conn_free(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;

	if (c->phase == GW_P_RAW)
		relay_stop(&c->rl);
	ev_io_stop(loop, &c->crw);
	ev_io_stop(loop, &c->cww);
	ev_timer_stop(loop, &c->tick);
	if (c->ufd != -1) {
		ev_io_stop(loop, &c->urw);
		ev_io_stop(loop, &c->uww);
		close(c->ufd);
	}
	if (c->tun_pending)
		tunclient_cancel(c->g->tc, c->tun_id);
	if (c->tun_other != -1)
		close(c->tun_other);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->cfd);
	free(c->phead);
	c->g->nconns--;
	free(c);
}

void
gw_conn_set_phase(struct gw_conn *c, enum gw_phase p)
{
	c->phase = p;
	c->t_phase = ev_now(c->g->d->loop);
	c->t_first = 0;
}

void
gw_conn_error(struct gw_conn *c, int status, const char *msg)
{
	char resp[1024];
	int n;

	c->g->errors++;
	if (c->t_req != 0)
		gw_stats_request(c->g, c->route, status, ev_now(c->g->d->loop) - c->t_req);
	c->t_req = 0;
	log_info("%s %s: %d %s (%s)", c->client, c->what[0] != '\0' ? c->what : "-", status,
		 gw_http_reason(status), msg);
	gw_conn_up_close(c);
	c->cout.len = 0;
	if ((n = gw_http_error(resp, sizeof(resp), status, msg)) > 0)
		gw_buf_put(&c->cout, resp, (size_t)n);
	gw_conn_set_phase(c, GW_P_FLUSH);
}

static int
step_tls_hs(struct gw_conn *c)
{
	const char *sni;
	int r;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->t_io = ev_now(c->g->d->loop);
		if (c->mode == GW_M_TLS_HTTP) {
			gw_conn_set_phase(c, GW_P_HEAD);
			return 1;
		}
		sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
		gw_conn_route_tcp(c, sni != NULL ? sni : "");
		return 1;
	}
	switch (gw_tls_status(c->ssl, r, 0)) {
	case RELAY_WANT_READ:
		c->want_cr = 1;
		return 0;
	case RELAY_WANT_WRITE:
		c->want_cw = 1;
		return 0;
	default:
		log_info("%s port %u: TLS handshake failed: %s", c->client, c->port,
			 ERR_reason_error_string(ERR_peek_error()) != NULL
			     ? ERR_reason_error_string(ERR_peek_error())
			     : "connection closed");
		ERR_clear_error();
		c->dead = 1;
		return 0;
	}
}

static int
step_sni(struct gw_conn *c)
{
	char name[256];
	int r;

	if ((r = gw_conn_rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	r = gw_sni_parse((const unsigned char *)c->cin.d + c->cin.off, c->cin.len, name,
			 sizeof(name));
	if (r == GW_SNI_OK) {
		gw_conn_route_tcp(c, name);
		return 1;
	}
	if (r == GW_SNI_BAD || c->c_eof || gw_buf_room(&c->cin) == 0) {
		log_info("%s port %u: not a TLS ClientHello", c->client, c->port);
		c->dead = 1;
	}
	return 0;
}

/* The error response: write it, then send our EOF and linger. */
static int
step_flush(struct gw_conn *c)
{
	int r;

	if ((r = gw_conn_wr_client(c, &c->cout)) == -1)
		return c->dead = 1, 0;
	if (c->cout.len > 0)
		return r;
	gw_conn_shutdown_client(c);
	gw_conn_set_phase(c, GW_P_LINGER);
	return 1;
}

/* Drain what the client still sends, so close() does not reset. */
static int
step_linger(struct gw_conn *c)
{
	int p;

	c->cin.len = 0;
	if (gw_conn_rd_client(c, &c->cin) == -1 || c->c_eof)
		c->dead = 1;
	p = c->cin.len > 0;
	c->cin.len = 0;
	return p;
}

/* One step of a phase: 1 progress (run again), 0 wait for an event. */
static int (*const conn_step[])(struct gw_conn *) = {
    [GW_P_TLS_HS] = step_tls_hs,     [GW_P_SNI] = step_sni,	  [GW_P_HEAD] = gw_conn_step_head,
    [GW_P_CONNECT] = NULL, /* the upstream's watcher or tunneld's answer moves on */
    [GW_P_HTTP] = gw_conn_step_http, [GW_P_RAW] = NULL, /* the relay's own watchers */
    [GW_P_FLUSH] = step_flush,	     [GW_P_LINGER] = step_linger,
};

void
gw_conn_run(struct gw_conn *c)
{
	struct ev_loop *loop = c->g->d->loop;
	int i, p = 1;

	c->want_cr = c->want_cw = c->want_ur = c->want_uw = 0;
	for (i = 0; i < 32 && p && !c->dead; i++)
		p = conn_step[c->phase] != NULL ? conn_step[c->phase](c) : 0;
	if (c->dead) {
		gw_conn_free(c);
		return;
	}
	if (c->phase == GW_P_RAW)
		return;
	relay_want(loop, &c->crw, c->want_cr);
	relay_want(loop, &c->cww, c->want_cw);
	if (c->ufd != -1 && c->phase != GW_P_CONNECT) {
		relay_want(loop, &c->urw, c->want_ur);
		relay_want(loop, &c->uww, c->want_uw);
	}
}

void
gw_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_conn *c = w->data;

	if (c->phase == GW_P_CONNECT && w == &c->uww)
		gw_conn_up_connected(c);
	gw_conn_run(c); /* frees c if it died */
}

static void
conn_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gw_conn *c = w->data;
	ev_tstamp now = ev_now(loop);

	switch (c->phase) {
	case GW_P_TLS_HS:
	case GW_P_SNI:
		if (now - c->t_phase > GW_HEAD_TIMEOUT)
			c->dead = 1;
		break;
	case GW_P_HEAD:
		if (c->t_first != 0 && now - c->t_first > GW_HEAD_TIMEOUT)
			gw_conn_error(c, 408, "request head not received in time");
		else if (c->t_first == 0 && now - c->t_phase > GW_IDLE_KA)
			c->dead = 1;
		break;
	case GW_P_CONNECT:
		if (now - c->t_phase > GW_CONNECT_TIMEOUT) {
			log_client_repeat(true, "", c->client, "%s: connect to %s:%u timed out",
					  c->what, c->picks[c->tried - 1].ip,
					  c->picks[c->tried - 1].port);
			gw_conn_up_close(c);
			gw_conn_upstream(c);
		}
		break;
	case GW_P_HTTP:
		if (now - c->t_io > GW_IDLE_TIMEOUT)
			c->dead = 1;
		break;
	case GW_P_RAW:
		if (now - c->rl.t_io > GW_IDLE_TIMEOUT)
			c->dead = 1;
		break;
	case GW_P_FLUSH:
		if (now - c->t_phase > 30)
			c->dead = 1;
		break;
	case GW_P_LINGER:
		if (now - c->t_phase > GW_LINGER)
			c->dead = 1;
		break;
	}
	gw_conn_run(c); /* frees c if it died */
}

void
gw_conn_accept(struct gw *g, struct gw_listener *l, int fd, const char *client_ip)
{
	const struct em_gateway *gw = NULL;
	const struct em_gw_server *sv = NULL;
	struct gw_conn *c;

	gw_gateways_refresh(g);
	c = xcalloc(1, sizeof(*c));
	c->g = g;
	c->cfd = fd;
	c->ufd = c->tun_other = -1;
	c->port = l->port;
	snprintf(c->client, sizeof(c->client), "%s", client_ip);
	c->mode = gw_port_mode(g->gws, g->ngws, l->port, &gw, &sv);
	g->nconns++;
	ev_io_init(&c->crw, gw_conn_io_cb, fd, EV_READ);
	ev_io_init(&c->cww, gw_conn_io_cb, fd, EV_WRITE);
	c->crw.data = c->cww.data = c;
	ev_init(&c->urw, gw_conn_io_cb);
	ev_init(&c->uww, gw_conn_io_cb);
	ev_timer_init(&c->tick, conn_tick, 1.0, 1.0);
	c->tick.data = c;
	ev_timer_start(g->d->loop, &c->tick);
	c->t_io = ev_now(g->d->loop);
	switch (c->mode) {
	case GW_M_HTTP:
		gw_conn_set_phase(c, GW_P_HEAD);
		break;
	case GW_M_TCP:
		gw_conn_route_tcp(c, NULL);
		break;
	case GW_M_TLS_PASS:
		gw_conn_set_phase(c, GW_P_SNI);
		break;
	case GW_M_TLS_HTTP:
	case GW_M_TLS_TCP:
		if ((c->ssl = gw_tls_new(g, gw, sv, l->port, fd)) == NULL) {
			c->dead = 1;
			break;
		}
		gw_conn_set_phase(c, GW_P_TLS_HS);
		break;
	default:
		log_info("%s port %u: no server of a known protocol on this port", client_ip,
			 l->port);
		c->dead = 1;
	}
	gw_conn_run(c); /* frees c if it died */
}
