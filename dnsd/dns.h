/*
 * edgemesh-dnsd private header: the DNS engine (wire format, cluster zone,
 * cache, upstream forwarder) and every prototype, grouped by file.
 */
#ifndef DNSD_DNS_H
#define DNSD_DNS_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct em_service;
struct em_endpoints;
struct ev_loop;

/* Wire-format limits (RFC 1035 2.3.4, RFC 6891). */
#define DNS_HDR_LEN	    12
#define DNS_NAME_MAX	    255 /* wire octets, root label included */
#define DNS_LABEL_MAX	    63
#define DNS_LABELS_MAX	    127	  /* non-root labels in a 255-octet name */
#define DNS_NAME_TEXT_MAX   1024  /* presentation form, \DDD escapes, NUL */
#define DNS_UDP_MIN	    512	  /* limit without EDNS */
#define DNS_EDNS_UDP_MAX    4096  /* the most we answer over UDP and advertise */
#define DNS_MSG_MAX	    65535 /* TCP message limit */
#define DNS_OPT_LEN	    11	  /* an OPT RR without options */
#define DNS_COMP_MAX	    128	  /* names remembered for compression */
#define DNS_CNAME_CHAIN_MAX 8	  /* in-zone CNAMEs followed per answer */

/* Types, classes, rcodes (IANA DNS parameters). */
#define DNS_T_A	    1
#define DNS_T_NS    2
#define DNS_T_CNAME 5
#define DNS_T_SOA   6
#define DNS_T_PTR   12
#define DNS_T_MX    15
#define DNS_T_TXT   16
#define DNS_T_AAAA  28
#define DNS_T_SRV   33
#define DNS_T_DNAME 39
#define DNS_T_OPT   41
#define DNS_T_IXFR  251
#define DNS_T_AXFR  252
#define DNS_T_MAILB 253
#define DNS_T_MAILA 254
#define DNS_T_ANY   255

#define DNS_C_IN   1
#define DNS_C_CH   3
#define DNS_C_NONE 254
#define DNS_C_ANY  255

#define DNS_R_NOERROR  0
#define DNS_R_FORMERR  1
#define DNS_R_SERVFAIL 2
#define DNS_R_NXDOMAIN 3
#define DNS_R_NOTIMP   4
#define DNS_R_REFUSED  5
#define DNS_R_BADVERS  16 /* extended: upper bits travel in the OPT TTL */

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR	 0x8000
#define DNS_F_OPCODE	 0x7800
#define DNS_F_AA	 0x0400
#define DNS_F_TC	 0x0200
#define DNS_F_RD	 0x0100
#define DNS_F_RA	 0x0080
#define DNS_F_AD	 0x0020
#define DNS_F_CD	 0x0010
#define DNS_F_RCODE	 0x000f
#define DNS_OPCODE_QUERY 0

#define DNS_EDNS_DO 0x8000 /* in the low 16 bits of the OPT TTL */

enum dns_section {
	DNS_SEC_QUESTION = 0,
	DNS_SEC_ANSWER = 1,
	DNS_SEC_AUTHORITY = 2,
	DNS_SEC_ADDITIONAL = 3,
};

/*
 * A domain name, uncompressed wire form, always lowercased (DNS compares
 * names case-insensitively, RFC 4343).  lab[i] is the offset in wire of the
 * length octet of label i, left to right; the root label is not counted.
 */
struct dns_name {
	uint8_t wire[DNS_NAME_MAX];
	size_t len; /* wire octets incl. the root label */
	size_t nlabels;
	uint8_t lab[DNS_LABELS_MAX];
};

/* A parsed query (dns_msg_parse_query). */
struct dns_query {
	uint16_t id;
	uint16_t flags; /* as received */
	uint8_t opcode;
	bool has_question;		 /* question parsed, echo it in replies */
	struct dns_name name;		 /* qname, lowercased */
	uint8_t qname_raw[DNS_NAME_MAX]; /* qname as received (case kept, 0x20) */
	uint16_t qtype, qclass;
	bool edns; /* an OPT RR came with the query */
	uint8_t edns_version;
	uint16_t edns_size; /* client's UDP payload size, >= 512 */
	bool do_bit;
};

/* One resource record found by dns_msg_scan (offsets into the message). */
struct dns_rr {
	enum dns_section section;
	size_t name_off; /* owner name (may be compressed) */
	uint16_t type, class;
	uint32_t ttl;
	size_t ttl_off; /* offset of the 32-bit TTL */
	size_t rdata_off;
	uint16_t rdlen;
};

/* The header counts of a scanned message. */
struct dns_hdr {
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
};

/*
 * Response builder.  Records go to buf in section order; names are
 * compressed against every name already written.  A record that does not
 * fit is rolled back whole and sets overflow.  dns_msg_finish applies the
 * client's size limit (dropping Additional first, then setting TC) and adds
 * the OPT record when the query carried one.
 */
struct dns_msg_builder {
	uint8_t *buf;
	size_t cap; /* <= DNS_MSG_MAX */
	size_t len;
	size_t qend;	/* end of header and question */
	size_t arstart; /* start of Additional, 0 before it */
	enum dns_section section;
	uint16_t count[4];
	uint16_t flags; /* QR, opcode, AA, TC, RD, RA, CD; rcode apart */
	int rcode;	/* may be extended (> 15) */
	bool edns;
	bool do_bit;
	bool overflow; /* a record did not fit in cap */
	enum dns_section overflow_sec;
	size_t ncomp;
	uint16_t comp[DNS_COMP_MAX]; /* offsets of names written */
};

struct dns_soa {
	const struct dns_name *mname, *rname;
	uint32_t serial, refresh, retry, expire, minimum;
};

/* dns_msg.c */
int dns_name_from_text(struct dns_name *, const char *);
int dns_name_to_text(const struct dns_name *, char *, size_t);
int dns_name_from_labels(struct dns_name *, const char *const *labels, size_t n,
			 const struct dns_name *suffix);
bool dns_name_is_subdomain(const struct dns_name *, const struct dns_name *parent);
bool dns_name_equal(const struct dns_name *, const struct dns_name *);
size_t dns_name_label(const struct dns_name *, size_t i, const uint8_t **);
int dns_msg_read_name(const uint8_t *msg, size_t len, size_t *off, struct dns_name *, uint8_t *raw);
int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *);
int dns_msg_scan(const uint8_t *msg, size_t len, struct dns_hdr *, struct dns_rr *rrs,
		 size_t maxrrs, size_t *nrrs, size_t *qend);
size_t dns_msg_udp_limit(const struct dns_query *);
void dns_msg_init(struct dns_msg_builder *, uint8_t *buf, size_t cap, const struct dns_query *);
void dns_msg_set_rcode(struct dns_msg_builder *, int rcode);
void dns_msg_set_flags(struct dns_msg_builder *, uint16_t flags);
int dns_msg_section(struct dns_msg_builder *, enum dns_section);
int dns_msg_add_rr(struct dns_msg_builder *, const struct dns_name *, uint16_t type, uint16_t class,
		   uint32_t ttl, const uint8_t *rdata, size_t rdlen);
int dns_msg_add_a(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		  const uint8_t addr[4]);
int dns_msg_add_aaaa(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		     const uint8_t addr[16]);
int dns_msg_add_cname(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		      const struct dns_name *target);
int dns_msg_add_ptr(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const struct dns_name *target);
int dns_msg_add_ns(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		   const struct dns_name *target);
int dns_msg_add_srv(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl, uint16_t prio,
		    uint16_t weight, uint16_t port, const struct dns_name *target);
int dns_msg_add_txt(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const char *text);
int dns_msg_add_soa(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const struct dns_soa *);
int dns_msg_append_answers(struct dns_msg_builder *, const uint8_t *msg, size_t len);
size_t dns_msg_finish(struct dns_msg_builder *, size_t limit);
size_t dns_msg_truncate(uint8_t *msg, size_t len, size_t limit);
size_t dns_msg_strip_opt(uint8_t *msg, size_t len);

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
