/*
 * The metrics and health endpoints (modules.edgeTunnel.metricConfig):
 *
 *	GET /metrics		the node's metrics, Prometheus text format
 *	GET /healthz		the controller is live
 *	GET /readyz		the controller has synced its registry
 *	GET /healthz/DAEMON	DAEMON is connected and reporting
 *	GET /readyz/DAEMON	... and has its state and listeners
 *
 * 200 or 503 with a one-line reason.  Bound to metricConfig.address, else
 * to this node's own address from its Node object (never every interface;
 * 127.0.0.1 when the registry has no address for this node).  One request
 * per connection, a bounded head, a deadline, a bounded number of clients.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "log.h"

#define HTTP_HEAD_MAX 2048
#define HTTP_CLIENTS  32
#define HTTP_DEADLINE 5.0

struct http_conn {
	struct ctl_http *h;
	int fd;
	ev_io io;
	ev_timer deadline;
	char head[HTTP_HEAD_MAX];
	size_t hlen;
	struct em_textbuf out;
	size_t off;
};

struct ctl_http {
	struct em_daemon *d;
	struct server *srv;
	struct state *st;
	int fd;
	ev_io accept_w;
	ev_timer bind_retry;
	int nconns;
	int warned, bind_warned;
};

static void
conn_close(struct http_conn *c)
{
	ev_io_stop(c->h->d->loop, &c->io);
	ev_timer_stop(c->h->d->loop, &c->deadline);
	close(c->fd);
	free(c->out.p);
	c->h->nconns--;
	free(c);
}

static void
respond(struct http_conn *c, int code, const char *ctype, const char *body, size_t blen)
{
	const char *reason = code == 200   ? "OK"
			     : code == 404 ? "Not Found"
			     : code == 405 ? "Method Not Allowed"
			     : code == 431 ? "Request Header Fields Too Large"
			     : code == 400 ? "Bad Request"
					   : "Service Unavailable";

	textbuf_printf(&c->out,
		       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n",
		       code, reason, ctype, blen);
	textbuf_printf(&c->out, "%.*s", (int)blen, body);
}

static void
respond_line(struct http_conn *c, int ok, const char *line)
{
	char body[320];
	int n = snprintf(body, sizeof(body), "%s\n", line);

	respond(c, ok ? 200 : 503, "text/plain; charset=utf-8", body,
		n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

static void
route(struct http_conn *c, const char *method, const char *path)
{
	struct ctl_http *h = c->h;
	struct em_textbuf tb = {0};
	char why[300];
	int ready;

	if (strcmp(method, "GET") != 0) {
		respond(c, 405, "text/plain", "GET only\n", 9);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		server_metrics(h->srv, &tb);
		respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", tb.p ? tb.p : "",
			tb.len);
		free(tb.p);
	} else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0 ||
		   strcmp(path, "/readyz") == 0) {
		/* the controller's own */
		ready = path[1] == 'r';
		respond_line(
		    c, server_daemon_health(h->srv, "controller", ready, why, sizeof(why)) == 0,
		    why);
	} else if (strncmp(path, "/healthz/", 9) == 0 || strncmp(path, "/readyz/", 8) == 0) {
		ready = path[1] == 'r';
		path += ready ? 8 : 9;
		respond_line(c, server_daemon_health(h->srv, path, ready, why, sizeof(why)) == 0,
			     why);
	} else {
		respond(c, 404, "text/plain", "not found\n", 10);
	}
}

/* A complete head: parse the request line and route it. */
static void
handle(struct http_conn *c)
{
	char method[16], path[256];

	c->head[c->hlen] = '\0';
	if (sscanf(c->head, "%15s %255s HTTP/1.%*d", method, path) != 2)
		respond(c, 400, "text/plain", "bad request line\n", 17);
	else
		route(c, method, path);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	ssize_t n;

	if (c->out.p == NULL) {
		n = recv(c->fd, c->head + c->hlen, sizeof(c->head) - 1 - c->hlen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->hlen += (size_t)n;
		c->head[c->hlen] = '\0';
		if (strstr(c->head, "\r\n\r\n") != NULL || strstr(c->head, "\n\n") != NULL)
			handle(c);
		else if (c->hlen == sizeof(c->head) - 1)
			respond(c, 431, "text/plain", "request head too long\n", 22);
		else
			return;
		ev_io_stop(loop, &c->io);
		ev_io_set(&c->io, c->fd, EV_WRITE);
		ev_io_start(loop, &c->io);
		return;
	}
	n = send(c->fd, c->out.p + c->off, c->out.len - c->off, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1 || (c->off += (size_t)n) == c->out.len)
		conn_close(c);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_close(w->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_http *h = w->data;
	struct http_conn *c;
	int fd;

	if ((fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("metrics: accept");
		return;
	}
	if (h->nconns == HTTP_CLIENTS) {
		close(fd); /* a scraper retries; nobody holds us up */
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->fd = fd;
	h->nconns++;
	ev_io_init(&c->io, io_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->deadline, deadline_cb, HTTP_DEADLINE, 0.);
	c->deadline.data = c;
	ev_timer_start(loop, &c->deadline);
}

/* metricConfig.address, else our Node's first address; "" while unknown. */
static void
bind_address(struct ctl_http *h, char *addr, size_t len)
{
	const struct pub *p;
	const struct em_peer *peer;
	struct in_addr a;
	char why[128];
	size_t i;

	addr[0] = '\0';
	if (h->d->cfg.tunnel.metrics.address[0] != '\0') {
		snprintf(addr, len, "%s", h->d->cfg.tunnel.metrics.address);
		return;
	}
	p = hmap_get(state_topic(h->st, EM_TOPIC_PEERS), h->d->cfg.node_name);
	if (p != NULL && (peer = p->obj.u.peer) != NULL)
		for (i = 0; i < peer->naddrs; i++)
			if (inet_pton(AF_INET, peer->addrs[i], &a) == 1) {
				snprintf(addr, len, "%s", peer->addrs[i]);
				return;
			}
	if (server_daemon_health(h->srv, "controller", 1, why, sizeof(why)) == 0) {
		if (!h->warned++)
			log_warnx("metrics: node %s has no IPv4 address in the registry; serving "
				  "on 127.0.0.1 (set modules.edgeTunnel.metricConfig.address)",
				  h->d->cfg.node_name);
		snprintf(addr, len, "127.0.0.1");
	}
}

static int
try_bind(struct ctl_http *h)
{
	struct sockaddr_in sa;
	char addr[46];
	int one = 1;

	bind_address(h, addr, sizeof(addr));
	if (addr[0] == '\0')
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)h->d->cfg.tunnel.metrics.port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	if ((h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("metrics: socket");
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* IP_FREEBIND: the address may come up after us */
	setsockopt(h->fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(h->fd, 64) == -1) {
		if (!h->bind_warned++) /* once, not at every retry */
			log_warn(
			    "metrics: cannot listen on %s:%d (modules.edgeTunnel.metricConfig); "
			    "trying again every second",
			    addr, h->d->cfg.tunnel.metrics.port);
		close(h->fd);
		h->fd = -1;
		return -1;
	}
	ev_io_init(&h->accept_w, accept_cb, h->fd, EV_READ);
	h->accept_w.data = h;
	ev_io_start(h->d->loop, &h->accept_w);
	log_info("metrics and health on http://%s:%d/metrics (/healthz, /readyz)", addr,
		 h->d->cfg.tunnel.metrics.port);
	return 0;
}

static void
bind_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_http *h = w->data;

	if (try_bind(h) == 0)
		ev_timer_stop(loop, w);
}

struct ctl_http *
ctl_http_new(struct em_daemon *d, struct server *srv, struct state *st)
{
	struct ctl_http *h;

	if (!d->cfg.tunnel.metrics.enable)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	h->srv = srv;
	h->st = st;
	h->fd = -1;
	/* the first try at the loop's first turn, then every second */
	ev_timer_init(&h->bind_retry, bind_retry_cb, 0., 1.);
	h->bind_retry.data = h;
	ev_timer_start(d->loop, &h->bind_retry);
	return h;
}

void
ctl_http_free(struct ctl_http *h)
{
	if (h == NULL)
		return;
	ev_timer_stop(h->d->loop, &h->bind_retry);
	if (h->fd != -1) {
		ev_io_stop(h->d->loop, &h->accept_w);
		close(h->fd);
	}
	free(h);
}
