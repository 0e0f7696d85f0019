/*
 * The state the controller pushes (DESIGN §3): one struct per topic object.
 * Strings are heap-allocated and owned by the object; *_free releases them.
 * Keys are "namespace/name" for services, endpoints, gateways; the node
 * name for peers; "self" for self.
 */
#ifndef EM_MODEL_H
#define EM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum em_topic {
	EM_TOPIC_SERVICES = 0,
	EM_TOPIC_ENDPOINTS = 1,
	EM_TOPIC_PEERS = 2,
	EM_TOPIC_GATEWAYS = 3,
	EM_TOPIC_SELF = 4,
	EM_TOPIC_COUNT
};
#define EM_TOPIC_BIT(t) (1u << (t))
const char *em_topic_name(enum em_topic);

enum em_proto { EM_PROTO_TCP = 0, EM_PROTO_UDP = 1, EM_PROTO_SCTP = 2 };
const char *em_proto_name(int);
int em_proto_parse(const char *); /* "TCP"/"tcp" ... ; -1 if unknown */

enum em_svc_type {
	EM_SVC_CLUSTER_IP = 0,
	EM_SVC_NODE_PORT = 1,
	EM_SVC_LOAD_BALANCER = 2,
	EM_SVC_EXTERNAL_NAME = 3,
};

enum em_lb_policy {
	EM_LB_ROUND_ROBIN = 0, /* default, also when a DR has none or an unsupported one */
	EM_LB_RANDOM = 1,
	EM_LB_CONSISTENT_HASH = 2,
};
const char *em_lb_name(int);

enum em_hash_key {
	EM_HASH_NONE = 0,
	EM_HASH_HEADER = 1,    /* consistentHash.httpHeaderName */
	EM_HASH_SOURCE_IP = 2, /* consistentHash.useSourceIp */
	EM_HASH_COOKIE = 3,    /* consistentHash.httpCookie */
};

#define EM_MAX_PORTS 100
#define EM_MAX_IPS   2

struct em_port {
	char *name;		/* "" when unnamed */
	uint16_t port;		/* service port (or endpoint port in em_endpoints) */
	uint16_t target_port;	/* numeric targetPort, 0 if named or unset */
	char *target_port_name; /* named targetPort, "" if numeric */
	uint16_t node_port;
	uint8_t proto; /* enum em_proto */
};

struct em_service {
	char *ns, *name;
	uint8_t type;	  /* enum em_svc_type */
	char *cluster_ip; /* "" when none, "None" for headless */
	size_t n_cluster_ips;
	char *cluster_ips[EM_MAX_IPS]; /* spec.clusterIPs (v4 and/or v6) */
	char *external_name;	       /* ExternalName target, "" */
	bool headless;
	bool proxy_label; /* has service.edgemesh.kubeedge.io/service-proxy-name */
	bool publish_not_ready;
	bool affinity_client_ip;   /* sessionAffinity: ClientIP */
	uint32_t affinity_timeout; /* seconds, 10800 default */
	uint8_t lb;		   /* enum em_lb_policy, from the DestinationRule */
	uint8_t hash;		   /* enum em_hash_key */
	char *hash_arg;		   /* header or cookie name, "" */
	uint32_t hash_cookie_ttl;  /* seconds */
	size_t nports;
	struct em_port *ports;
	bool flat; /* em_service_flat: one block, read-only */
};

struct em_endpoint {
	char *ip;	/* IPv4 or IPv6 text */
	char *node;	/* nodeName, "" when unknown */
	char *hostname; /* "" */
	char *zone;	/* "" */
	char *pod;	/* targetRef.name, "" */
	bool ready;
};

/* All endpoints of one service (Endpoints, or its EndpointSlices joined). */
struct em_endpoints {
	char *ns, *name; /* the service's */
	size_t nports;
	struct em_port *ports; /* name, port (endpoint port), proto */
	size_t neps;
	struct em_endpoint *eps;
	bool flat; /* em_endpoints_flat: one block, read-only */
};

#define EM_MAX_ADDRS 8
struct em_peer {
	char *name; /* node name */
	size_t naddrs;
	char *addrs[EM_MAX_ADDRS]; /* InternalIP first, then ExternalIP, then others */
	bool relay;		   /* named in relayNodes */
	char *pubkey;		   /* base64 X25519 key when pinned, "" */
};

/* Gateway + its VirtualServices + TLS material, keyed by gateway ns/name. */
enum em_gw_kind { EM_GW_HTTP = 0, EM_GW_TCP = 1 };
struct em_gw_route {
	uint8_t kind; /* enum em_gw_kind: an http or a tcp route */
	size_t nhosts;
	char **hosts;	 /* the VirtualService's hosts ("*": any) */
	uint16_t port;	 /* match port, 0 = any */
	char *prefix;	 /* uri prefix, "" = any */
	char *exact;	 /* uri exact, "" */
	char *regex;	 /* uri regex, "" */
	char *dest_host; /* destination service (short or FQDN) */
	char *dest_ns;	 /* namespace of the VirtualService */
	uint16_t dest_port;
};

struct em_gw_server {
	uint16_t port;
	char *protocol; /* HTTP, HTTPS, TCP, TLS */
	size_t nhosts;
	char **hosts;
	char *tls_mode;	  /* "", SIMPLE, MUTUAL, PASSTHROUGH */
	char *credential; /* credentialName */
	char *cert_pem;	  /* from the Secret, "" */
	char *key_pem;
	char *ca_pem;
};

struct em_gateway {
	char *ns, *name;
	size_t nservers;
	struct em_gw_server *servers;
	size_t nroutes;
	struct em_gw_route *routes;
};

struct em_self {
	char *node;
	char *domain;
	uint64_t registry_version;
};

void em_service_free(struct em_service *);
void em_endpoints_free(struct em_endpoints *);
void em_peer_free(struct em_peer *);
void em_gateway_free(struct em_gateway *);
void em_self_free(struct em_self *);
/* The Service a gateway route sends to, "ns/name" (model.c). */
void em_gw_dest_key(const struct em_gw_route *, char *out, size_t outlen);

/* A tagged topic object, as carried by deltas. */
struct em_object {
	enum em_topic topic;
	union {
		struct em_service *svc;
		struct em_endpoints *eps;
		struct em_peer *peer;
		struct em_gateway *gw;
		struct em_self *self;
		void *any;
	} u;
};
void em_object_free(struct em_object *);

/* Deep copies (out of memory is fatal). */
struct em_port *em_ports_dup(const struct em_port *, size_t n);
struct em_service *em_service_dup(const struct em_service *);
/* The same as em_endpoints_flat for a service. */
struct em_service *em_service_flat(const struct em_service *);
void em_endpoint_copy(struct em_endpoint *dst, const struct em_endpoint *src);
struct em_endpoints *em_endpoints_dup(const struct em_endpoints *);
/* A read-only copy in one allocation (strings after the arrays, "" shared),
 * for objects kept long and many (the controller's raw Endpoints and
 * slices); em_endpoints_free() frees it; em_endpoints_dup() of it is a
 * normal object. */
struct em_endpoints *em_endpoints_flat(const struct em_endpoints *);
struct em_peer *em_peer_dup(const struct em_peer *);
/* "ns/name" or the node name; buf of EM_KEY_LEN */
#define EM_KEY_LEN 512
const char *em_object_key(const struct em_object *, char *buf, size_t len);

/* String helpers: xstrdup aborts on ENOMEM (out of memory is fatal). */
char *xstrdup(const char *);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);

#endif
