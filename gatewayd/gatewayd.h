/*
 * edgemesh-gatewayd private header: the listeners, the per-connection
 * state machine, HTTP/1.1 parsing, routing, TLS and upstreams.
 */
#ifndef GATEWAYD_H
#define GATEWAYD_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "hmap.h"
#include "lb.h"
#include "model.h"
#include "relay.h"

#define GW_HEAD_MAX	   16384		/* request or response head */
#define GW_CBUF_SIZE	   (GW_HEAD_MAX + 4096) /* each of the 4 HTTP buffers of a connection */
#define GW_MAX_CONNS	   4096
#define GW_HEAD_TIMEOUT	   10.0 /* first byte .. end of head: else 408 */
#define GW_IDLE_KA	   60.0 /* idle keep-alive connection */
#define GW_CONNECT_TIMEOUT 5.0
#define GW_IDLE_TIMEOUT	   600.0 /* no byte either way in a relay */
#define GW_LINGER	   2.0
#define GW_MAX_TRIES	   3 /* endpoints tried per request */
#define GW_MAX_HDRS	   100

struct ssl_st;
struct ssl_ctx_st;

/* gw_http.c: HTTP/1.1 heads and message bodies */
struct gw_head {
	size_t len; /* bytes of the head, CRLFCRLF included */
	/* request */
	char method[24];
	const char *target;
	size_t target_len;
	const char *host; /* Host value, NULL if none */
	size_t host_len;
	const char *xff; /* X-Forwarded-For value, NULL if none */
	size_t xff_len;
	/* response */
	int status;
	/* both */
	int minor; /* HTTP/1.<minor> */
	int chunked;
	int64_t clen; /* -1: no Content-Length */
	int conn_close, conn_keepalive, upgrade;
};
enum {
	GW_HEAD_OK = 0,
	GW_HEAD_MORE = 1,
	GW_HEAD_BAD = -1,
	GW_HEAD_TOOBIG = -2,
	GW_HEAD_UNSUPP = -3
};
int gw_http_parse_request(const char *, size_t, struct gw_head *);
int gw_http_parse_response(const char *, size_t, struct gw_head *);

enum gw_body_mode { GW_BODY_NONE, GW_BODY_LENGTH, GW_BODY_CHUNKED, GW_BODY_EOF };
struct gw_body {
	int mode;
	uint64_t left;
	int st;
	uint64_t csize;
	int done;
};
void gw_body_init(struct gw_body *, int mode, uint64_t len);
/* How many of n bytes belong to the body (forward them); -1 on a bad chunk. */
ssize_t gw_body_feed(struct gw_body *, const char *, size_t);
/* A complete response with status code and a one-line text body. */
int gw_http_error(char *buf, size_t len, int status, const char *msg);
const char *gw_http_reason(int status);
/* Rewrite a request head for the upstream: X-Forwarded-For/-Proto added. */
size_t gw_http_rewrite(const char *head, const struct gw_head *, const char *client_ip, int tls,
		       char *out, size_t outlen);

/* gw_sni.c: the server name of a TLS ClientHello, without terminating */
enum { GW_SNI_MORE = 0, GW_SNI_OK = 1, GW_SNI_BAD = -1 };
int gw_sni_parse(const unsigned char *, size_t, char *name, size_t namelen);

/* gw_route.c: which gateway server and route a request takes */
enum gw_mode { GW_M_NONE, GW_M_HTTP, GW_M_TCP, GW_M_TLS_PASS, GW_M_TLS_HTTP, GW_M_TLS_TCP };
int gw_host_match(const char *pattern, const char *host);
void gw_host_strip(const char *in, size_t len, char *out, size_t outlen);
int gw_uri_match(const struct em_gw_route *, const char *uri);
/* A route regex within RE2's (Istio's) bounds and ours: 0, else -1 and why. */
int gw_regex_check(const char *re, char *why, size_t len);
int gw_server_mode(const struct em_gw_server *);
/* The first server on port (gateways in key order): its mode (gwp, svp set). */
int gw_port_mode(struct em_gateway *const *, size_t, uint16_t port, const struct em_gateway **gwp,
		 const struct em_gw_server **svp);
const struct em_gw_server *gw_server_for_host(struct em_gateway *const *, size_t, uint16_t port,
					      const char *host, int tls,
					      const struct em_gateway **gwp);
const struct em_gw_route *gw_route_http(struct em_gateway *const *, size_t, uint16_t port,
					const char *host, const char *uri);
const struct em_gw_route *gw_route_tcp(struct em_gateway *const *, size_t, uint16_t port,
				       const char *sni);
/* "svc", "svc.ns", "svc.ns.svc[.domain]" -> "ns/svc" */
void gw_dest_key(const struct em_gw_route *, char *out, size_t outlen);
void gw_route_cache_clear(void);

/* gatewayd.c / gw_listen.c: the daemon */
struct gw {
	struct em_daemon *d;
	struct hmap *listeners;	 /* "ip:port" -> struct gw_listener */
	struct hmap *lbs;	 /* "ns/svc:port" -> its balancer (gw_upstream.c) */
	struct relay_pool pool;	 /* pipes for the raw relays */
	struct em_gateway **gws; /* replica's gateways, in key order */
	size_t ngws;
	int gws_dirty;
	int try_kept; /* first reconcile: listeners parked by the last run */
	ev_timer reconcile;
	size_t nunbound;  /* listeners the last reconcile could not bind: not ready */
	char unbound[64]; /* the first of them, "ip:port" */
	struct tunclient *tc;
	size_t nconns;
	uint64_t accepted, served, errors;
	struct hmap *rstats; /* route -> struct gw_rstat (gw_stats.c) */
};
struct gw_listener {
	struct gw *g;
	char key[64];
	uint16_t port;
	int fd;
	int seen;
	ev_io w;
};
void gw_listen_reconcile(struct gw *);
void gw_listen_schedule(struct gw *);
void gw_listen_closeall(struct gw *);
void gw_gateways_refresh(struct gw *);

/* gw_stats.c: requests by route and status code, a latency histogram per route */
void gw_stats_request(struct gw *, const char *route, int status, double seconds);
void gw_stats_fill(void *arg, struct em_samples *);
void gw_stats_free(struct gw *);

/* gw_tls.c */
struct ssl_ctx_st *gw_tls_ctx(const struct em_gateway *, const struct em_gw_server *);
struct ssl_st *gw_tls_new(struct gw *, const struct em_gateway *, const struct em_gw_server *,
			  uint16_t port, int fd);
void gw_tls_flush_cache(void);
/* After an SSL call returned r <= 0: RELAY_WANT_READ/_WRITE, 0 EOF (reading), else -1. */
int gw_tls_status(struct ssl_st *, int r, int reading);
/* A terminated session's I/O (arg: the SSL): >0 bytes, 0 EOF, -1 error, RELAY_WANT_*. */
ssize_t gw_tls_read(void *ssl, char *, size_t);
ssize_t gw_tls_write(void *ssl, const char *, size_t);
extern const struct relay_io gw_tls_io;

/* gw_upstream.c: endpoints and connections to them */
#define GW_EPID_LEN 320
struct gw_pick {
	char id[GW_EPID_LEN]; /* node:pod:ip:port, as the balancer knows it */
	char ip[46];
	uint16_t port;
	char node[254];
	int remote;
};
/*
 * The next endpoint of service svckey ("ns/name") port by the service's
 * DestinationRule, not one of the ntried in tried.  head: the request head
 * (for a header or cookie hash), NULL for TCP.  0, or -1 with *status
 * (503) and why.
 */
int gw_upstream_pick(struct gw *, const char *svckey, uint16_t port, const char *client,
		     const char *head, size_t headlen, const struct gw_pick *tried, size_t ntried,
		     struct gw_pick *, int *status, char *why, size_t whylen);
/* Does the endpoint depend on the request (hash, affinity), not on turns? */
int gw_upstream_sticky(struct gw *, const char *svckey, uint16_t port);
void gw_upstream_free(struct gw *);
/* Start a TCP connect; the fd (non-blocking) or -1. */
int gw_upstream_connect(const struct gw_pick *);

/*
 * gw_conn*.c: one client connection, a state machine driven by
 * gw_conn_run() after every event (see gw_conn.c for the phases).
 */
enum gw_phase {
	GW_P_TLS_HS,  /* terminating TLS: the handshake */
	GW_P_SNI,     /* passthrough: reading the ClientHello's server name */
	GW_P_HEAD,    /* reading a request head */
	GW_P_CONNECT, /* reaching an endpoint (connect or tunnel hand-off) */
	GW_P_HTTP,    /* one request and its response in flight */
	GW_P_RAW,     /* bytes both ways (common/relay.c) */
	GW_P_FLUSH,   /* writing an error response */
	GW_P_LINGER,  /* draining the client before close */
};
struct gw_buf {
	size_t off, len;
	char d[GW_CBUF_SIZE];
};
struct gw_conn {
	struct gw *g;
	enum gw_mode mode;
	uint16_t port;
	int cfd, ufd, tun_other;
	struct ssl_st *ssl;
	ev_io crw, cww, urw, uww;
	ev_timer tick;
	enum gw_phase phase;
	ev_tstamp t_phase, t_first, t_io;
	int c_eof, u_eof, c_shut, u_shut, want_cr, want_cw, want_ur, want_uw;
	int dead;
	/* http */
	struct gw_body reqb, respb;
	int resp_head_done, head_req, close_after, upgrade, resp_started;
	char *phead;
	size_t phead_len;
	char ukey[EM_KEY_LEN + 8]; /* service port the upstream serves */
	char what[300];		   /* for logs: "GET host/path" */
	char route[EM_KEY_LEN];	   /* metrics: the routed destination, "" before/without */
	ev_tstamp t_req;	   /* metrics: when the request head was complete */
	/* the destination and the endpoints picked for it, tried in order */
	char dest[EM_KEY_LEN];
	uint16_t dport;
	struct gw_pick picks[GW_MAX_TRIES];
	size_t npicks, tried;
	uint64_t tun_id;
	int tun_pending;
	char client[64];
	struct relay rl; /* GW_P_RAW */
	struct gw_buf cin, cout, uin, uout;
};

/* gw_conn.c: accept, the phases, timers, errors */
void gw_conn_accept(struct gw *, struct gw_listener *, int fd, const char *client_ip);
void gw_conn_run(struct gw_conn *);
void gw_conn_free(struct gw_conn *);
void gw_conn_set_phase(struct gw_conn *, enum gw_phase);
/* Answer with an HTTP error and close after it is written. */
void gw_conn_error(struct gw_conn *, int status, const char *msg);
void gw_conn_io_cb(struct ev_loop *, ev_io *, int);

/* gw_conn_io.c: the four buffers, client (plain or TLS) and upstream I/O */
size_t gw_buf_room(struct gw_buf *);
void gw_buf_eat(struct gw_buf *, size_t);
int gw_buf_put(struct gw_buf *, const char *, size_t);
/* 1 progress (bytes or EOF), 0 none, -1 error */
int gw_conn_rd_client(struct gw_conn *, struct gw_buf *);
int gw_conn_wr_client(struct gw_conn *, struct gw_buf *);
int gw_conn_rd_up(struct gw_conn *, struct gw_buf *);
int gw_conn_wr_up(struct gw_conn *, struct gw_buf *);
void gw_conn_shutdown_client(struct gw_conn *);

/* gw_conn_http.c: request and response framing, keep-alive */
int gw_conn_step_head(struct gw_conn *);
int gw_conn_step_http(struct gw_conn *);

/* gw_conn_up.c: routing TCP, picking, connecting, retry, tunnel hand-off */
void gw_conn_route_tcp(struct gw_conn *, const char *sni);
/* Try c->picks from c->tried on, picking more as needed (GW_P_CONNECT). */
void gw_conn_upstream(struct gw_conn *);
void gw_conn_up_connected(struct gw_conn *);
void gw_conn_up_close(struct gw_conn *);

/* gw_conn_raw.c: hand both sockets to the relay */
void gw_conn_raw_start(struct gw_conn *);

/* gatewayd_sandbox.c */
void gatewayd_sandbox(struct em_daemon *);

#endif
