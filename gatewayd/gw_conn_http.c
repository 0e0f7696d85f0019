/*
 * HTTP/1.1 on a connection: each request head is parsed (gw_http.c) and
 * routed (gw_route.c) on its own, rewritten (X-Forwarded-For/-Proto) and
 * sent to an endpoint the destination's balancer picks; bodies are framed
 * both ways (Content-Length, chunked, until EOF) so the next request of a
 * keep-alive connection is found.  One request is in flight at a time (a
 * pipelined one waits in cin).  The upstream connection is reused when
 * the next request goes to the same service port, and, under a hash or
 * affinity policy, to the same endpoint.  A 101 response turns the
 * connection over to the relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd.h"
#include "log.h"

/* A complete request head in cin: route it, rewrite it, reach the endpoint. */
static void
http_request(struct gw_conn *c, const struct gw_head *h)
{
	const struct em_gw_route *r;
	char host[256], uri[GW_HEAD_MAX], key[EM_KEY_LEN], ukey[sizeof(c->ukey)], why[300];
	struct gw_pick next;
	size_t n;
	int status, reuse;

	gw_gateways_refresh(c->g);
	c->route[0] = '\0';
	c->t_req = ev_now(c->g->d->loop);
	gw_host_strip(h->host, h->host_len, host, sizeof(host));
	memcpy(uri, h->target, h->target_len);
	uri[h->target_len] = '\0';
	snprintf(c->what, sizeof(c->what), "%s %s%.200s", h->method, host, uri);
	if (strcmp(h->method, "CONNECT") == 0) {
		gw_conn_error(c, 405, "CONNECT is not supported by this gateway");
		return;
	}
	if (uri[0] != '/') {
		/* absolute-form: take its path, and its authority as the host */
		const char *p = strstr(uri, "://");

		if (p == NULL) {
			gw_conn_error(c, 400, "request target must be a path");
			return;
		}
		p += 3;
		n = strcspn(p, "/?");
		gw_host_strip(p, n, host, sizeof(host));
		memmove(uri, p[n] == '\0' ? "/" : p + n, strlen(p[n] == '\0' ? "/" : p + n) + 1);
	}
	r = gw_route_http(c->g->gws, c->g->ngws, c->port, host, uri);
	if (r == NULL) {
		gw_conn_error(c, 404, "no route for this host and path");
		return;
	}
	gw_dest_key(r, key, sizeof(key));
	snprintf(ukey, sizeof(ukey), "%s:%u", key, r->dest_port);
	snprintf(c->route, sizeof(c->route), "%s", ukey);

	free(c->phead);
	c->phead = xcalloc(1, h->len + 512);
	c->phead_len = gw_http_rewrite(c->cin.d + c->cin.off, h, c->client,
				       c->mode == GW_M_TLS_HTTP, c->phead, h->len + 512);
	if (c->phead_len == 0) {
		gw_conn_error(c, 431, "request head too large");
		return;
	}
	gw_buf_eat(&c->cin, h->len);
	gw_body_init(&c->reqb,
		     h->chunked	   ? GW_BODY_CHUNKED
		     : h->clen > 0 ? GW_BODY_LENGTH
				   : GW_BODY_NONE,
		     h->clen > 0 ? (uint64_t)h->clen : 0);
	gw_body_init(&c->respb, GW_BODY_NONE, 0);
	c->respb.done = 0;
	c->resp_head_done = 0;
	c->resp_started = 0;
	c->head_req = strcmp(h->method, "HEAD") == 0;
	c->upgrade = h->upgrade;
	if (h->conn_close || (h->minor == 0 && !h->conn_keepalive))
		c->close_after = 1;

	reuse = c->ufd != -1 && !c->u_eof && strcmp(c->ukey, ukey) == 0;
	snprintf(c->dest, sizeof(c->dest), "%s", key);
	c->dport = r->dest_port;
	memset(&next, 0, sizeof(next));
	if (!reuse || gw_upstream_sticky(c->g, c->dest, c->dport)) {
		if (gw_upstream_pick(c->g, c->dest, c->dport, c->client, c->phead, c->phead_len,
				     NULL, 0, &next, &status, why, sizeof(why)) == -1) {
			gw_conn_error(c, status, why);
			return;
		}
		/* under a hash or affinity policy only the same endpoint will do */
		if (reuse && strcmp(next.id, c->picks[c->tried - 1].id) != 0)
			reuse = 0;
	}
	if (reuse) {
		/* keep-alive to the same service port: reuse the upstream */
		gw_buf_put(&c->uout, c->phead, c->phead_len);
		free(c->phead);
		c->phead = NULL;
		gw_conn_set_phase(c, GW_P_HTTP);
		log_debug("%s %s -> reused upstream %s", c->client, c->what, ukey);
		return;
	}
	gw_conn_up_close(c);
	snprintf(c->ukey, sizeof(c->ukey), "%s", ukey);
	c->picks[0] = next;
	c->npicks = 1;
	c->tried = 0;
	gw_conn_upstream(c);
}

/* The response head from uin to cout; sets the body framing. */
static int
http_response_head(struct gw_conn *c)
{
	struct gw_head h;
	int r;

	r = gw_http_parse_response(c->uin.d + c->uin.off, c->uin.len, &h);
	if (r == GW_HEAD_MORE) {
		if (c->u_eof) {
			if (c->uin.len == 0 && !c->resp_started)
				gw_conn_error(c, 502, "the endpoint closed without a response");
			else
				c->dead = 1;
			return -1;
		}
		return 0;
	}
	if (r != GW_HEAD_OK) {
		gw_conn_error(c, 502, "malformed response from the endpoint");
		return -1;
	}
	if (gw_buf_room(&c->cout) < h.len)
		return 0; /* wait for the client to drain */
	gw_buf_put(&c->cout, c->uin.d + c->uin.off, h.len);
	gw_buf_eat(&c->uin, h.len);
	c->resp_started = 1;
	if ((h.status >= 200 || h.status == 101) && c->t_req != 0) {
		gw_stats_request(c->g, c->route, h.status, ev_now(c->g->d->loop) - c->t_req);
		c->t_req = 0; /* counted once */
	}
	if (h.status == 101 && c->upgrade) {
		gw_conn_raw_start(c); /* websocket and friends: a raw pipe from here */
		return 1;
	}
	if (h.status >= 100 && h.status < 200)
		return 1; /* 100 Continue: the final head follows */
	c->resp_head_done = 1;
	if (c->head_req || h.status == 204 || h.status == 304)
		gw_body_init(&c->respb, GW_BODY_NONE, 0);
	else if (h.chunked)
		gw_body_init(&c->respb, GW_BODY_CHUNKED, 0);
	else if (h.clen >= 0)
		gw_body_init(&c->respb, GW_BODY_LENGTH, (uint64_t)h.clen);
	else {
		gw_body_init(&c->respb, GW_BODY_EOF, 0);
		c->close_after = 1;
	}
	if (h.conn_close || h.minor == 0)
		c->close_after = 1;
	return 1;
}

/* Move body bytes from src to dst as far as the framing allows. */
static int
move_body(struct gw_body *b, struct gw_buf *src, struct gw_buf *dst)
{
	size_t room = gw_buf_room(dst), n = src->len < room ? src->len : room;
	ssize_t k;

	if (n == 0 || b->done)
		return 0;
	if ((k = gw_body_feed(b, src->d + src->off, n)) < 0)
		return -1;
	if (k == 0)
		return 0;
	memcpy(dst->d + dst->off + dst->len, src->d + src->off, (size_t)k);
	dst->len += (size_t)k;
	gw_buf_eat(src, (size_t)k);
	return 1;
}

/* The endpoint failed: a 502 if the client has no response yet, else just close. */
static int
up_failed(struct gw_conn *c, const char *why)
{
	if (!c->resp_started)
		gw_conn_error(c, 502, why);
	else
		c->dead = 1;
	return 1;
}

int
gw_conn_step_http(struct gw_conn *c)
{
	int p = 0, r;

	/* client -> upstream: the request body */
	if ((r = gw_conn_rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if ((r = move_body(&c->reqb, &c->cin, &c->uout)) == -1) {
		gw_conn_error(c, 400, "malformed chunked request body");
		return 1;
	}
	p |= r;
	if (c->c_eof && !c->reqb.done) {
		c->dead = 1; /* the client gave up mid-body */
		return 0;
	}
	if ((r = gw_conn_wr_up(c, &c->uout)) == -1)
		return up_failed(c, "the endpoint closed the connection");
	p |= r;
	/* upstream -> client: the response */
	if ((r = gw_conn_rd_up(c, &c->uin)) == -1)
		return up_failed(c, "the endpoint reset the connection");
	p |= r;
	if (!c->resp_head_done) {
		if ((r = http_response_head(c)) == -1)
			return 1;
		p |= r;
		if (c->phase != GW_P_HTTP)
			return 1;
	}
	if (c->resp_head_done) {
		if ((r = move_body(&c->respb, &c->uin, &c->cout)) == -1) {
			c->dead = 1;
			return 0;
		}
		p |= r;
		if (c->respb.mode == GW_BODY_EOF && c->u_eof && c->uin.len == 0)
			c->respb.done = 1;
		if (!c->respb.done && c->u_eof && c->uin.len == 0) {
			c->close_after = 1; /* truncated by the endpoint */
			c->respb.done = c->reqb.done = 1;
		}
	}
	if ((r = gw_conn_wr_client(c, &c->cout)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if (c->resp_head_done && c->respb.done && c->reqb.done) {
		c->g->served++;
		if (c->u_eof || c->uin.len > 0)
			gw_conn_up_close(c); /* closed, or sent more than it should */
		if (c->close_after) {
			gw_conn_up_close(c);
			gw_conn_set_phase(c, GW_P_FLUSH);
		} else
			gw_conn_set_phase(c, GW_P_HEAD);
		c->what[0] = '\0';
		return 1;
	}
	return p;
}

int
gw_conn_step_head(struct gw_conn *c)
{
	struct gw_head h;
	int r, p = 0;
	char tmp[512];

	if ((r = gw_conn_rd_client(c, &c->cin)) == -1)
		return c->dead = 1, 0;
	p |= r;
	if (c->ufd != -1) {
		/* an idle upstream that talks or closes is dropped */
		r = gw_conn_rd_up(c, &c->uin);
		if (r == -1 || c->u_eof || c->uin.len > 0)
			gw_conn_up_close(c);
	}
	if (c->cin.len > 0 && c->t_first == 0)
		c->t_first = ev_now(c->g->d->loop);
	if (c->cout.len > 0)
		return p | gw_conn_wr_client(c, &c->cout);
	r = gw_http_parse_request(c->cin.d + c->cin.off, c->cin.len, &h);
	switch (r) {
	case GW_HEAD_OK:
		http_request(c, &h);
		return 1;
	case GW_HEAD_MORE:
		if (c->c_eof) {
			if (c->cin.len > 0)
				gw_conn_error(c, 400, "incomplete request head");
			else
				c->dead = 1;
			return 1;
		}
		return p;
	case GW_HEAD_TOOBIG:
		gw_conn_error(c, 431, "request head larger than 16 KiB or 100 fields");
		return 1;
	case GW_HEAD_UNSUPP:
		gw_conn_error(c, 501, "only chunked transfer coding is supported");
		return 1;
	default:
		snprintf(tmp, sizeof(tmp), "malformed request head");
		gw_conn_error(c, 400, tmp);
		return 1;
	}
}
