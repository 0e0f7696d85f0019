/*
 * UDP flow policy: one definition for proxyd (its flows) and tunneld (its
 * UDP streams, on both ends of the tunnel), so every hop of a flow agrees
 * on when it ends.
 *
 * - Idle: a flow ends after modules.edgeProxy.udpIdleTimeout seconds (30)
 *   without a datagram either way; a flow to endpoint port 53 (DNS: one
 *   query, one answer) after UDPFLOW_DNS_IDLE, or the timeout if shorter.
 *   The port is the endpoint's, the one that proxyd and both tunnelds see.
 * - Bound: at the maximum, the least recently used flow is evicted to make
 *   room; a new flow is never refused.
 *
 * A flow embeds a struct udpflow; the list is ordered by last use.
 */
#ifndef EM_UDPFLOW_H
#define EM_UDPFLOW_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#define UDPFLOW_DNS_PORT 53
#define UDPFLOW_DNS_IDLE 5.0

struct udpflow {
	TAILQ_ENTRY(udpflow) lru;
	double last; /* last datagram either way */
};

struct udpflow_lru {
	TAILQ_HEAD(udpflow_q, udpflow) q; /* least recently used first */
	size_t n, max;
};

/* Idle seconds for a flow to endpoint port `port` under the configured timeout. */
double udpflow_idle(int idle_timeout, uint16_t port);
void udpflow_lru_init(struct udpflow_lru *, size_t max);
void udpflow_add(struct udpflow_lru *, struct udpflow *, double now);
/* A datagram went through f: it becomes the most recently used. */
void udpflow_touch(struct udpflow_lru *, struct udpflow *, double now);
void udpflow_del(struct udpflow_lru *, struct udpflow *);
/* Before adding a flow: the one to evict (least recently used) if the list is full, else NULL. */
struct udpflow *udpflow_victim(const struct udpflow_lru *);
/* Seconds left before f has been idle `idle` seconds (<= 0: it has). */
double udpflow_left(const struct udpflow *, double idle, double now);

#endif
