/*
 * edgemesh-dnsd private header: the DNS engine (cluster zone, cache,
 * upstream forwarder) and every prototype, grouped by file; the wire format
 * is common/dns_msg.h.
 */
#ifndef DNSD_DNS_H
#define DNSD_DNS_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_msg.h"
#include "metrics.h"

struct em_service;
struct em_endpoints;
struct ev_loop;

#define DNS_CNAME_CHAIN_MAX 8 /* in-zone CNAMEs followed per answer */

/* dns_map.c: a hash table keyed by byte strings, private to dnsd. */
struct dns_map;
struct dns_map *dns_map_new(void);
void dns_map_free(struct dns_map *, void (*)(void *));
void *dns_map_get(const struct dns_map *, const void *key, size_t klen);
int dns_map_put(struct dns_map *, const void *key, size_t klen, void *val);
void *dns_map_del(struct dns_map *, const void *key, size_t klen);
size_t dns_map_count(const struct dns_map *);
int dns_map_foreach(struct dns_map *, int (*)(const void *key, size_t klen, void *val, void *arg),
		    void *arg);

/* dns_zone.c */
enum dns_zone_result {
	DNS_ZONE_ANSWERED = 0, /* the builder holds the whole answer */
	DNS_ZONE_FORWARD = 1,  /* not ours: forward the query upstream */
	DNS_ZONE_CHASE = 2,    /* answered with a CNAME whose target (in chase)
				  is not ours: resolve it and append its answers */
};

struct dns_zone;
struct dns_zone *dns_zone_new(const char *domain, uint32_t ttl, const char *ns_addr);
void dns_zone_free(struct dns_zone *);
void dns_zone_clear(struct dns_zone *);
void dns_zone_set_synced(struct dns_zone *, bool);
void dns_zone_upsert_service(struct dns_zone *, struct em_service *);
void dns_zone_delete_service(struct dns_zone *, const char *ns, const char *name);
void dns_zone_upsert_endpoints(struct dns_zone *, struct em_endpoints *);
void dns_zone_delete_endpoints(struct dns_zone *, const char *ns, const char *name);
void dns_zone_stats(const struct dns_zone *, size_t *nsvc, size_t *neps, size_t *nrev);
enum dns_zone_result dns_zone_answer(struct dns_zone *, const struct dns_query *,
				     struct dns_msg_builder *, struct dns_name *chase);

/* dns_cache.c */
#define DNS_CACHE_RESP_MAX 4096 /* larger responses are not cached */

struct dns_cache;
struct dns_cache *dns_cache_new(size_t max_entries, uint32_t max_ttl);
void dns_cache_free(struct dns_cache *);
void dns_cache_flush(struct dns_cache *);
size_t dns_cache_count(const struct dns_cache *);
int dns_cache_put(struct dns_cache *, const struct dns_query *, const uint8_t *resp, size_t len,
		  uint64_t now_ms);
int dns_cache_get(struct dns_cache *, const struct dns_query *, uint64_t now_ms, uint8_t *out,
		  size_t cap, size_t *outlen);

/* dns_forward.c */
#define DNS_FWD_TIMEOUT		2.0 /* seconds per attempt */
#define DNS_FWD_MAX_OUTSTANDING 512
#define DNS_FWD_PER_SOURCE	64 /* of them from one client address: others keep the rest */
#define DNS_UPSTREAMS_MAX	16

typedef void (*dns_fwd_done_cb)(void *arg, const uint8_t *resp, size_t len);

struct dns_fwd;
struct dns_fwd *dns_fwd_new(struct ev_loop *, const struct sockaddr_storage *upstreams, size_t n);
void dns_fwd_free(struct dns_fwd *);
void dns_fwd_set_upstreams(struct dns_fwd *, const struct sockaddr_storage *, size_t n);
size_t dns_fwd_upstreams(const struct dns_fwd *);
/* Upstream i's address; 1 if it answered its last query, 0 if not, -1 none asked yet. */
int dns_fwd_upstream(const struct dns_fwd *, size_t i, struct sockaddr_storage *);
void dns_fwd_set_timeout(struct dns_fwd *, double seconds);
void dns_fwd_set_max_outstanding(struct dns_fwd *, size_t);
void dns_fwd_set_tcp_only(struct dns_fwd *, bool);
size_t dns_fwd_outstanding(const struct dns_fwd *);
int dns_fwd_query(struct dns_fwd *, const uint8_t *query, size_t len, dns_fwd_done_cb, void *arg);
void dns_fwd_cancel(struct dns_fwd *, void *arg);
/* Same family, address and port. */
bool dns_sockaddr_equal(const struct sockaddr_storage *, const struct sockaddr_storage *);
int dns_upstream_parse(const char *, struct sockaddr_storage *);
int dns_upstreams_from_resolv_conf(const char *path, const struct sockaddr_storage *skip,
				   size_t nskip, struct sockaddr_storage *out, size_t max,
				   size_t *n);

/* dns_server.c: the query path shared by UDP and TCP clients. */
#define DNS_UDP_LISTEN_MAX 4
#define DNS_TCP_LISTEN_MAX 4

struct dns_tcp_conn;
struct srcgate;

/* Where a query came from, hence where its answer goes. */
struct dns_origin {
	int udp_fd;		   /* UDP: the listening socket; -1 for TCP */
	struct dns_udp *udp;	   /* UDP: its listener, NULL for TCP */
	struct dns_tcp_conn *conn; /* TCP: the connection */
	struct sockaddr_storage peer;
	socklen_t peerlen;
};

/* Answers by question type and rcode, for metrics (bounded label sets). */
enum {
	DNS_QT_A,
	DNS_QT_AAAA,
	DNS_QT_SRV,
	DNS_QT_PTR,
	DNS_QT_CNAME,
	DNS_QT_TXT,
	DNS_QT_OTHER,
	DNS_QT_N
};
enum {
	DNS_RC_NOERROR,
	DNS_RC_FORMERR,
	DNS_RC_SERVFAIL,
	DNS_RC_NXDOMAIN,
	DNS_RC_NOTIMP,
	DNS_RC_REFUSED,
	DNS_RC_OTHER,
	DNS_RC_N
};
extern const char *const dns_qt_names[DNS_QT_N], *const dns_rc_names[DNS_RC_N];

struct dns_stats {
	uint64_t queries, zone, cache_hits, forwarded, chased;
	uint64_t servfail, formerr, dropped, truncated;
	uint64_t tcp_accepted, tcp_refused, tcp_timeouts;
	uint64_t tcp_over_source; /* closed: DNS_TCP_PER_SOURCE from one address */
	uint64_t fwd_over_source; /* SERVFAIL: DNS_FWD_PER_SOURCE of its address waiting */
	uint64_t answers[DNS_QT_N][DNS_RC_N];
	struct em_histogram upstream; /* seconds until an upstream answered */
};
/* Count one answer by its question's type and its rcode. */
void dns_stats_answer(struct dns_stats *, const uint8_t *msg, size_t len);
void dns_stats_fill(const struct dns_stats *, const struct dns_fwd *, struct em_samples *);

struct dns_server {
	struct ev_loop *loop;
	struct dns_zone *zone;	 /* NULL in cacheDNS mode: forward everything */
	struct dns_cache *cache; /* NULL: no cache */
	struct dns_fwd *fwd;
	LIST_HEAD(, dns_req) reqs; /* queries waiting for an upstream */
	size_t nreqs;
	struct dns_stats st;
	struct srcgate *gate; /* who may ask (commonConfig.clientSourceRanges); NULL: all */
	double over_logged;   /* a source over DNS_FWD_PER_SOURCE, last logged */
	struct dns_udp *udp[DNS_UDP_LISTEN_MAX];
	size_t nudp;
	struct dns_tcp *tcp[DNS_TCP_LISTEN_MAX];
	size_t ntcp;
	TAILQ_HEAD(, dns_tcp_conn) conns; /* most recently active first */
	size_t nconns;
	uint8_t out[DNS_MSG_MAX]; /* answers made on the spot */
};

struct dns_server *dns_server_new(struct ev_loop *, struct dns_zone *, struct dns_cache *,
				  struct dns_fwd *);
void dns_server_free(struct dns_server *);
void dns_server_query(struct dns_server *, const struct dns_origin *, const uint8_t *msg,
		      size_t len);
void dns_server_cancel(struct dns_server *, const struct dns_tcp_conn *);
/* May this source ask?  If not, it is counted and logged (what: "UDP query"). */
bool dns_server_client_ok(struct dns_server *, const struct sockaddr_storage *, const char *what);

/* dns_udp.c */
#define DNS_UDP_BATCH		  16   /* datagrams per recvmmsg/sendmmsg */
#define DNS_UDP_BATCHES_PER_EVENT 4    /* batches handled per wakeup */
#define DNS_UDP_QUERY_MAX	  4096 /* longer datagrams are cut (and get FORMERR) */

struct dns_udp;
int dns_udp_add(struct dns_server *, int fd);
/* Read the listening sockets, or leave queries queued in them. */
void dns_udp_listen(struct dns_server *, bool on);
void dns_udp_free(struct dns_server *, struct dns_udp *);
void dns_udp_send(struct dns_server *, const struct dns_origin *, uint8_t *msg, size_t len,
		  size_t limit);

/* dns_tcp.c (RFC 7766: pipelined queries, answers in any order) */
#define DNS_TCP_CLIENTS_MAX 128	  /* connections; the least active idle one goes */
#define DNS_TCP_PER_SOURCE  16	  /* of them from one address; its own idle one goes */
#define DNS_TCP_QUERY_MAX   4096  /* longer queries close the connection */
#define DNS_TCP_PENDING_MAX 16	  /* queries in flight before reading stops */
#define DNS_TCP_WBUF_MAX    65536 /* queued answer octets before reading stops */
#define DNS_TCP_IDLE	    10.0  /* seconds without a query or answer */

struct dns_tcp;
int dns_tcp_add(struct dns_server *, int fd);
/* Accept, or leave connections in the backlog. */
void dns_tcp_listen(struct dns_server *, bool on);
void dns_tcp_free(struct dns_server *, struct dns_tcp *);
void dns_tcp_close_all(struct dns_server *);
/* The answer to one query of conn (msg NULL: none is sent). */
void dns_tcp_reply(struct dns_server *, struct dns_tcp_conn *, const uint8_t *msg, size_t len);

/* dns_listen.c */
int dns_listen_activated(int *udp, size_t *nudp, int *tcp, size_t *ntcp, size_t max);
int dns_listen_bind(const struct sockaddr_storage *, int type);
bool dns_addr_is_local(const struct sockaddr_storage *);

/* dnsd_sandbox.c */
struct em_daemon;
void dnsd_sandbox(struct em_daemon *, const char *resolv_conf);

#endif
