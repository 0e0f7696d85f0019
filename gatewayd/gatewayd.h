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
#include "model.h"

#define GW_HEAD_MAX	   16384 /* request or response head */
#define GW_BUF_SIZE	   32768 /* each of the 4 buffers of a connection */
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
	struct hmap *rr;	 /* "ns/svc:port" -> round robin counter */
	struct em_gateway **gws; /* replica's gateways, in key order */
	size_t ngws;
	int gws_dirty;
	int try_kept; /* first reconcile: listeners parked by the last run */
	ev_timer reconcile;
	struct tunclient *tc;
	size_t nconns;
	uint64_t accepted, served, errors;
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

/* gw_conn.c: one client connection */
void gw_conn_accept(struct gw *, struct gw_listener *, int fd, const char *client_ip);

/* gw_tls.c */
struct ssl_ctx_st *gw_tls_ctx(const struct em_gateway *, const struct em_gw_server *);
struct ssl_st *gw_tls_new(struct gw *, const struct em_gateway *, const struct em_gw_server *,
			  uint16_t port, int fd);
void gw_tls_flush_cache(void);

/* gw_upstream.c: endpoints and connections to them */
struct gw_pick {
	char ip[46];
	uint16_t port;
	char node[254];
	int remote;
};
/* 0 with n picks (round robin order), -1 with *status = 404/503 and a reason */
int gw_upstream_pick(struct gw *, const struct em_gw_route *, struct gw_pick *, size_t max,
		     size_t *n, int *status, char *why, size_t whylen);
/* Start a TCP connect; the fd (non-blocking) or -1. */
int gw_upstream_connect(const struct gw_pick *);

#endif
