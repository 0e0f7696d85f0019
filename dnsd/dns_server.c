/*
 * The query path, the same for UDP and TCP clients:
 *
 *   parse --error--> FORMERR/NOTIMP/BADVERS (or nothing for a response)
 *     |
 *   zone --ANSWERED--> finish(limit) --> client
 *     |  \--CHASE--> cache or upstream for the CNAME target, appended
 *   FORWARD
 *     |
 *   cache --hit--> truncate(limit) --> client
 *     | miss
 *   dns_fwd_query --> done: cache put, truncate(limit) --> client
 *                     (NULL, or not accepted: SERVFAIL)
 *
 * Answers made on the spot are built in the server's one output buffer;
 * a query that waits for an upstream becomes a dns_req on the server's
 * list, so a TCP client that goes away can cancel its own.
 */
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "byteorder.h"
#include "dns.h"
#include "log.h"
#include "model.h"
#include "netaddr.h"
#include "srcgate.h"

struct dns_req {
	LIST_ENTRY(dns_req) entry;
	struct dns_server *s;
	struct dns_origin o;
	struct dns_query q;
	bool chasing;		  /* waiting for the CNAME target */
	struct dns_query cq;	  /* the query for the target */
	struct dns_msg_builder b; /* the answer so far (chasing) */
	uint8_t *buf;		  /* b's buffer, DNS_MSG_MAX octets */
	double t0;		  /* when it was sent upstream */
};

static uint64_t
now_ms(const struct dns_server *s)
{
	return (uint64_t)(ev_now(s->loop) * 1000.0);
}

static size_t
reply_limit(const struct dns_origin *o, const struct dns_query *q)
{
	return o->conn != NULL ? DNS_MSG_MAX : dns_msg_udp_limit(q);
}

/* Send a complete answer (msg is writable: a UDP answer may be cut). */
static void
deliver(struct dns_server *s, const struct dns_origin *o, uint8_t *msg, size_t len, size_t limit)
{
	if (len >= DNS_HDR_LEN && (msg[3] & DNS_F_RCODE) == DNS_R_SERVFAIL)
		s->st.servfail++;
	dns_stats_answer(&s->st, msg, len);
	if (o->conn != NULL) {
		dns_tcp_reply(s, o->conn, msg, len);
		return;
	}
	if (len > limit) {
		s->st.truncated++;
		if ((len = dns_msg_truncate(msg, len, limit)) == 0) {
			s->st.dropped++;
			return;
		}
	}
	dns_udp_send(s, o, msg, len, limit);
}

/* No answer at all (a response sent to us, or a runt). */
static void
deliver_none(struct dns_server *s, const struct dns_origin *o)
{
	s->st.dropped++;
	if (o->conn != NULL)
		dns_tcp_reply(s, o->conn, NULL, 0);
}

static void
reply_rcode(struct dns_server *s, const struct dns_origin *o, const struct dns_query *q, int rcode)
{
	struct dns_msg_builder b;
	size_t limit = reply_limit(o, q), len;

	dns_msg_init(&b, s->out, sizeof(s->out), q);
	dns_msg_set_rcode(&b, rcode);
	len = dns_msg_finish(&b, limit);
	deliver(s, o, s->out, len, limit);
}

static struct dns_req *
req_new(struct dns_server *s, const struct dns_origin *o, const struct dns_query *q)
{
	struct dns_req *r;

	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->o = *o;
	r->q = *q;
	r->t0 = ev_now(s->loop);
	LIST_INSERT_HEAD(&s->reqs, r, entry);
	s->nreqs++;
	return r;
}

static void
req_free(struct dns_req *r)
{
	LIST_REMOVE(r, entry);
	r->s->nreqs--;
	free(r->buf);
	free(r);
}

/* Finish a chased answer with the target's answer (resp NULL: failed). */
static void
chase_finish(struct dns_req *r, const uint8_t *resp, size_t len)
{
	struct dns_server *s = r->s;
	size_t limit = reply_limit(&r->o, &r->q), n;

	if (resp == NULL || dns_msg_append_answers(&r->b, resp, len) == -1)
		dns_msg_set_rcode(&r->b, DNS_R_SERVFAIL);
	n = dns_msg_finish(&r->b, limit);
	deliver(s, &r->o, r->buf, n, limit);
	req_free(r);
}

static void
fwd_done(void *arg, const uint8_t *resp, size_t len)
{
	struct dns_req *r = arg;
	struct dns_server *s = r->s;
	const struct dns_query *q = r->chasing ? &r->cq : &r->q;

	if (resp != NULL && s->cache != NULL)
		dns_cache_put(s->cache, q, resp, len, now_ms(s));
	if (resp != NULL && !r->chasing)
		metrics_observe(&s->st.upstream, ev_time() - r->t0);
	if (r->chasing) {
		chase_finish(r, resp, len);
		return;
	}
	if (resp == NULL || len > sizeof(s->out)) {
		reply_rcode(s, &r->o, &r->q, DNS_R_SERVFAIL);
	} else {
		memcpy(s->out, resp, len);
		deliver(s, &r->o, s->out, len, reply_limit(&r->o, &r->q));
	}
	req_free(r);
}

/*
 * May o's query wait for an upstream?  One client address has at most
 * DNS_FWD_PER_SOURCE queries waiting, so a client that floods names an
 * upstream is slow to answer cannot take every one of the forwarder's
 * DNS_FWD_MAX_OUTSTANDING slots: past its share it gets SERVFAIL (counted,
 * logged once a second), others are served.
 */
static bool
source_may_wait(struct dns_server *s, const struct dns_origin *o)
{
	const struct dns_req *r;
	struct ip_addr a, b;
	char text[INET6_ADDRSTRLEN + 8];
	size_t n = 0;

	if (ip_addr_from_sockaddr((const struct sockaddr *)&o->peer, &a) == -1)
		return true;
	LIST_FOREACH(r, &s->reqs, entry)
	{
		if (n == DNS_FWD_PER_SOURCE)
			break;
		if (ip_addr_from_sockaddr((const struct sockaddr *)&r->o.peer, &b) == 0 &&
		    ip_addr_equal(&a, &b))
			n++;
	}
	if (n < DNS_FWD_PER_SOURCE)
		return true;
	s->st.fwd_over_source++;
	if (log_due(&s->over_logged, ev_now(s->loop)))
		log_info("DNS query from %s: SERVFAIL, %d of its queries already wait for an "
			 "upstream (the most one client may have; %llu such so far)",
			 net_addr_text(&o->peer, text, sizeof(text)), DNS_FWD_PER_SOURCE,
			 (unsigned long long)s->st.fwd_over_source);
	return false;
}

/*
 * The zone answered with a CNAME to an outside name (target): ask for the
 * target (cache, else upstream) and append its answers to what the zone
 * built in s->out.
 */
static void
chase(struct dns_server *s, const struct dns_origin *o, const struct dns_query *q,
      const struct dns_msg_builder *b, const struct dns_name *target)
{
	uint8_t wire[DNS_HDR_LEN + DNS_NAME_MAX + 4 + DNS_OPT_LEN], *p;
	struct dns_req *r;
	size_t n, wlen;

	if (!source_may_wait(s, o)) {
		reply_rcode(s, o, q, DNS_R_SERVFAIL);
		return;
	}
	s->st.chased++;
	r = req_new(s, o, q);
	r->chasing = true;
	r->buf = xcalloc(1, DNS_MSG_MAX);
	r->b = *b;
	r->b.buf = r->buf;
	memcpy(r->buf, s->out, b->len);

	/* the target's query: RD, one question, OPT 4096 (no DO) */
	memset(wire, 0, DNS_HDR_LEN);
	be16_put(wire + 2, DNS_F_RD);
	be16_put(wire + 4, 1);	/* qdcount */
	be16_put(wire + 10, 1); /* arcount */
	p = wire + DNS_HDR_LEN;
	memcpy(p, target->wire, target->len);
	p += target->len;
	be16_put(p, q->qtype);
	be16_put(p + 2, DNS_C_IN);
	p += 4;
	p[0] = 0; /* OPT: root owner, type, payload size, ttl, rdlen */
	be16_put(p + 1, DNS_T_OPT);
	be16_put(p + 3, DNS_EDNS_UDP_MAX);
	memset(p + 5, 0, 6);
	p += 11;
	wlen = (size_t)(p - wire);
	if (dns_msg_parse_query(wire, wlen, &r->cq) != DNS_R_NOERROR) {
		chase_finish(r, NULL, 0);
		return;
	}
	if (s->cache != NULL &&
	    dns_cache_get(s->cache, &r->cq, now_ms(s), s->out, sizeof(s->out), &n) == 0) {
		s->st.cache_hits++;
		chase_finish(r, s->out, n);
		return;
	}
	if (dns_fwd_query(s->fwd, wire, wlen, fwd_done, r) == -1)
		chase_finish(r, NULL, 0);
}

void
dns_server_query(struct dns_server *s, const struct dns_origin *o, const uint8_t *msg, size_t len)
{
	struct dns_msg_builder b;
	struct dns_query q;
	struct dns_name target;
	struct dns_req *r;
	size_t limit, n;
	int rc;

	s->st.queries++;
	if ((rc = dns_msg_parse_query(msg, len, &q)) == -1) {
		deliver_none(s, o);
		return;
	}
	if (rc != DNS_R_NOERROR) {
		if (rc == DNS_R_FORMERR)
			s->st.formerr++;
		reply_rcode(s, o, &q, rc);
		return;
	}
	limit = reply_limit(o, &q);
	if (s->zone != NULL) {
		dns_msg_init(&b, s->out, sizeof(s->out), &q);
		switch (dns_zone_answer(s->zone, &q, &b, &target)) {
		case DNS_ZONE_ANSWERED:
			s->st.zone++;
			n = dns_msg_finish(&b, limit);
			deliver(s, o, s->out, n, limit);
			return;
		case DNS_ZONE_CHASE:
			s->st.zone++;
			chase(s, o, &q, &b, &target);
			return;
		case DNS_ZONE_FORWARD:
			break;
		}
	}
	if (s->cache != NULL &&
	    dns_cache_get(s->cache, &q, now_ms(s), s->out, sizeof(s->out), &n) == 0) {
		s->st.cache_hits++;
		deliver(s, o, s->out, n, limit);
		return;
	}
	if (!source_may_wait(s, o)) {
		reply_rcode(s, o, &q, DNS_R_SERVFAIL);
		return;
	}
	s->st.forwarded++;
	r = req_new(s, o, &q);
	if (s->fwd == NULL || dns_fwd_query(s->fwd, msg, len, fwd_done, r) == -1) {
		req_free(r);
		reply_rcode(s, o, &q, DNS_R_SERVFAIL);
	}
}

/* A TCP client went away: forget its queries, done is not called. */
void
dns_server_cancel(struct dns_server *s, const struct dns_tcp_conn *conn)
{
	struct dns_req *r, *next;

	for (r = LIST_FIRST(&s->reqs); r != NULL; r = next) {
		next = LIST_NEXT(r, entry);
		if (r->o.conn != conn)
			continue;
		if (s->fwd != NULL)
			dns_fwd_cancel(s->fwd, r);
		req_free(r);
	}
}

struct dns_server *
dns_server_new(struct ev_loop *loop, struct dns_zone *zone, struct dns_cache *cache,
	       struct dns_fwd *fwd)
{
	struct dns_server *s;

	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	LIST_INIT(&s->reqs);
	TAILQ_INIT(&s->conns);
	s->zone = zone;
	s->cache = cache;
	s->fwd = fwd;
	return s;
}

bool
dns_server_client_ok(struct dns_server *s, const struct sockaddr_storage *peer, const char *what)
{
	const struct sockaddr *sa = (const struct sockaddr *)peer;

	if (s->gate == NULL || srcgate_allows(s->gate, sa, ev_now(s->loop)))
		return true;
	srcgate_log_refused(s->gate, what, sa, log_clock());
	return false;
}

/* Stop serving: connections, listeners, then queries still in flight. */
void
dns_server_free(struct dns_server *s)
{
	struct dns_req *r;
	size_t i;

	if (s == NULL)
		return;
	dns_tcp_close_all(s);
	for (i = 0; i < s->ntcp; i++)
		dns_tcp_free(s, s->tcp[i]);
	for (i = 0; i < s->nudp; i++)
		dns_udp_free(s, s->udp[i]);
	while ((r = LIST_FIRST(&s->reqs)) != NULL) {
		if (s->fwd != NULL)
			dns_fwd_cancel(s->fwd, r);
		req_free(r);
	}
	free(s);
}
