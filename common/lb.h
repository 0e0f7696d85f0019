/*
 * Load balancing for one service port, shared by proxyd and gatewayd:
 * ROUND_ROBIN, RANDOM, CONSISTENT_HASH (HTTP header, cookie, source IP) on
 * EdgeMesh's bounded-load ring, and sessionAffinity ClientIP.  Pure: no
 * event loop; callers pass the time and the endpoints to skip.
 */
#ifndef EM_LB_H
#define EM_LB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hmap.h"
#include "model.h"

/* lb.c: the policies */
struct lb_ring;
struct lb {
	int policy; /* enum em_lb_policy */
	int hash;   /* enum em_hash_key */
	char hash_arg[128];
	int affinity; /* sessionAffinity ClientIP */
	double affinity_ttl;
	unsigned partitions, replicas;
	double load;
	size_t n;
	char **ids; /* endpoint ids "node:pod:ip:port" */
	size_t rr;
	struct lb_ring *ring;
	struct hmap *aff; /* client ip -> struct lb_aff */
};
struct lb_conf {
	int policy, hash;
	const char *hash_arg;
	int affinity;
	double affinity_ttl;
	unsigned partitions, replicas;
	double load;
};
/*
 * The configuration for a service: its DestinationRule policy and
 * sessionAffinity, the ring's shape from modules.edgeProxy.loadBalancer.
 * Returns 1 when both a policy and ClientIP affinity are set (affinity
 * wins, as in EdgeMesh: the caller logs it), else 0.
 */
int lb_conf_service(struct lb_conf *, const struct em_service *, const struct em_config *);
/* The endpoint id the ring hashes: "node:pod:ip:port", EdgeMesh's shape. */
void lb_endpoint_id(char *out, size_t outlen, const struct em_endpoint *, uint16_t port);
void lb_init(struct lb *, const struct lb_conf *);
void lb_reconf(struct lb *, const struct lb_conf *);
void lb_free(struct lb *);
/* Replace the endpoints; affinity to endpoints still present is kept. */
void lb_set_endpoints(struct lb *, char *const *ids, size_t n);
/* Does this policy want the request's first bytes (HTTP header or cookie)? */
int lb_wants_peek(const struct lb *);
/* Does the endpoint depend on the request (hash, affinity) rather than on turns? */
int lb_is_sticky(const struct lb *);
/*
 * Pick an endpoint index, skipping those with skip[i] != 0 (NULL: none).
 * client: client IP text; key/keylen: the hash key (header or cookie
 * value) or NULL.  -1 when none is usable.
 */
int lb_pick(struct lb *, const char *client, const char *key, size_t keylen,
	    const unsigned char *skip, double now);
void lb_expire(struct lb *, double now);
/* HTTP helpers: 1 found (value copied), 0 headers complete without it, -1 incomplete. */
int lb_http_header(const char *buf, size_t len, const char *name, char *out, size_t outlen);
int lb_http_cookie(const char *buf, size_t len, const char *name, char *out, size_t outlen);
/* The hash key of an HTTP request head for lb's policy: as lb_http_header. */
int lb_http_key(const struct lb *, const char *buf, size_t len, char *out, size_t outlen);

/* lb_ring.c: bounded-load consistent hashing (EdgeMesh / buraksezer/consistent) */
uint64_t lb_xxh64(const void *, size_t, uint64_t seed);
struct lb_ring *lb_ring_new(char *const *members, size_t n, unsigned partitions, unsigned replicas,
			    double load);
void lb_ring_free(struct lb_ring *);
/* Index into the members given to lb_ring_new, -1 if empty. */
int lb_ring_locate(const struct lb_ring *, const void *key, size_t len);

#endif
