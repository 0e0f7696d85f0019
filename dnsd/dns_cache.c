/*
 * A bounded cache of upstream responses, keyed by (qname lowercased,
 * qtype, qclass, DO bit), evicting the least recently used entry.
 *
 * An entry lives for the smallest TTL of its records, capped by max_ttl;
 * a negative answer (NXDOMAIN or NODATA) for min(SOA TTL, SOA minimum)
 * (RFC 2308 5) and not at all without an SOA.  SERVFAIL, truncated
 * answers and anything that is not a plain answer to the question are
 * never cached.  The OPT record is stripped when storing and a fresh one
 * matching the client's query added on a hit, whose id, RD bit and qname
 * case are the client's, and whose TTLs have the elapsed time taken off.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "dns.h"
#include "model.h"

#define CACHE_KEY_MAX (DNS_NAME_MAX + 5)
#define CACHE_RR_MAX  (DNS_CACHE_RESP_MAX / 11 + 1) /* 11: smallest RR */

struct centry {
	TAILQ_ENTRY(centry) lru; /* first = most recent */
	uint64_t stored_ms, expire_ms;
	size_t keylen;
	uint8_t key[CACHE_KEY_MAX];
	size_t len;
	size_t nttl;
	uint16_t *ttl_off; /* into data, after the response */
	uint8_t data[];
};

struct dns_cache {
	struct dns_map *map;
	TAILQ_HEAD(centry_lru, centry) lru;
	size_t count, max;
	uint32_t max_ttl;
};

static size_t
cache_key(const struct dns_query *q, uint8_t *key)
{
	size_t n = q->name.len;

	memcpy(key, q->name.wire, n);
	be16_put(key + n, q->qtype);
	be16_put(key + n + 2, q->qclass);
	key[n + 4] = q->do_bit ? 1 : 0;
	return n + 5;
}

static void
cache_drop(struct dns_cache *c, struct centry *e)
{
	TAILQ_REMOVE(&c->lru, e, lru);
	dns_map_del(c->map, e->key, e->keylen);
	c->count--;
	free(e);
}

struct dns_cache *
dns_cache_new(size_t max_entries, uint32_t max_ttl)
{
	struct dns_cache *c;

	c = xcalloc(1, sizeof(*c));
	c->map = dns_map_new();
	TAILQ_INIT(&c->lru);
	c->max = max_entries;
	c->max_ttl = max_ttl;
	return c;
}

void
dns_cache_flush(struct dns_cache *c)
{
	while (!TAILQ_EMPTY(&c->lru))
		cache_drop(c, TAILQ_FIRST(&c->lru));
}

void
dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	dns_cache_flush(c);
	dns_map_free(c->map, NULL);
	free(c);
}

size_t
dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

/*
 * How long resp may be cached, 0 if not at all.  rrs are its records
 * (without OPT).
 */
static uint32_t
cache_lifetime(const struct dns_cache *c, const struct dns_hdr *h, const struct dns_rr *rrs,
	       size_t n, const uint8_t *msg)
{
	uint32_t ttl = UINT32_MAX, soa_min;
	bool negative, soa = false;
	int rcode = h->flags & DNS_F_RCODE;
	size_t i;

	negative = rcode == DNS_R_NXDOMAIN || h->ancount == 0;
	for (i = 0; i < n; i++) {
		if (rrs[i].ttl < ttl)
			ttl = rrs[i].ttl;
		if (negative && rrs[i].section == DNS_SEC_AUTHORITY && rrs[i].type == DNS_T_SOA &&
		    rrs[i].rdlen >= 22) {
			soa_min = be32_get(msg + rrs[i].rdata_off + rrs[i].rdlen - 4);
			if (soa_min < ttl)
				ttl = soa_min;
			soa = true;
		}
	}
	if (negative && !soa)
		return 0; /* RFC 2308 5: no SOA, no negative caching */
	if (n == 0)
		return 0;
	/* RFC 2181 8: a TTL with the top bit set is 0 */
	if (ttl > INT32_MAX)
		ttl = 0;
	if (c->max_ttl > 0 && ttl > c->max_ttl)
		ttl = c->max_ttl;
	return ttl;
}

/* Store resp, the answer to q.  Returns 0 if cached, -1 if not cacheable. */
int
dns_cache_put(struct dns_cache *c, const struct dns_query *q, const uint8_t *resp, size_t len,
	      uint64_t now_ms)
{
	uint8_t msg[DNS_CACHE_RESP_MAX], key[CACHE_KEY_MAX];
	struct dns_rr rrs[CACHE_RR_MAX];
	struct dns_name qname;
	struct centry *e, *old;
	struct dns_hdr h;
	size_t n, i, keylen, off = DNS_HDR_LEN;
	uint32_t ttl;
	int rcode;

	if (c->max == 0 || !q->has_question || len > sizeof(msg) || len < DNS_HDR_LEN)
		return -1;
	memcpy(msg, resp, len);
	h.flags = be16_get(msg + 2);
	rcode = h.flags & DNS_F_RCODE;
	if (!(h.flags & DNS_F_QR) || (h.flags & DNS_F_TC) || (h.flags & DNS_F_OPCODE) != 0 ||
	    (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN))
		return -1;
	/* the answer to exactly this question */
	if (be16_get(msg + 4) != 1 || dns_msg_read_name(msg, len, &off, &qname, NULL) == -1 ||
	    off + 4 > len || !dns_name_equal(&qname, &q->name) || be16_get(msg + off) != q->qtype ||
	    be16_get(msg + off + 2) != q->qclass || off != DNS_HDR_LEN + q->name.len)
		return -1;
	if ((len = dns_msg_strip_opt(msg, len)) == 0)
		return -1;
	if (dns_msg_scan(msg, len, &h, rrs, CACHE_RR_MAX, &n, NULL) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (rrs[i].type == DNS_T_OPT)
			return -1;
	if ((ttl = cache_lifetime(c, &h, rrs, n, msg)) == 0)
		return -1;

	keylen = cache_key(q, key);
	if ((old = dns_map_get(c->map, key, keylen)) != NULL)
		cache_drop(c, old);
	while (c->count >= c->max && !TAILQ_EMPTY(&c->lru))
		cache_drop(c, TAILQ_LAST(&c->lru, centry_lru));

	e = xcalloc(1, sizeof(*e) + len + n * sizeof(uint16_t) + 1);
	e->stored_ms = now_ms;
	e->expire_ms = now_ms + (uint64_t)ttl * 1000;
	e->keylen = keylen;
	memcpy(e->key, key, keylen);
	e->len = len;
	memcpy(e->data, msg, len);
	/* uint16_t array after the message, aligned */
	e->ttl_off = (uint16_t *)(void *)(e->data + len + (len & 1));
	e->nttl = n;
	for (i = 0; i < n; i++)
		e->ttl_off[i] = (uint16_t)rrs[i].ttl_off;
	dns_map_put(c->map, e->key, keylen, e);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->count++;
	return 0;
}

/*
 * Look q up; on a hit write the response for this client into out and
 * return 0.  The caller still applies its size limit (dns_msg_truncate).
 */
int
dns_cache_get(struct dns_cache *c, const struct dns_query *q, uint64_t now_ms, uint8_t *out,
	      size_t cap, size_t *outlen)
{
	uint8_t key[CACHE_KEY_MAX], *p;
	struct centry *e;
	uint64_t elapsed, remain;
	uint32_t ttl;
	uint16_t flags;
	size_t keylen, len, i;

	if (!q->has_question)
		return -1;
	keylen = cache_key(q, key);
	if ((e = dns_map_get(c->map, key, keylen)) == NULL)
		return -1;
	if (now_ms >= e->expire_ms) {
		cache_drop(c, e);
		return -1;
	}
	len = e->len + (q->edns ? DNS_OPT_LEN : 0);
	if (len > cap)
		return -1;
	memcpy(out, e->data, e->len);
	be16_put(out, q->id);
	flags = (uint16_t)((be16_get(out + 2) & ~DNS_F_RD) | (q->flags & DNS_F_RD));
	be16_put(out + 2, flags);
	memcpy(out + DNS_HDR_LEN, q->qname_raw, q->name.len);
	elapsed = now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;
	remain = (e->expire_ms - now_ms + 999) / 1000;
	for (i = 0; i < e->nttl; i++) {
		p = out + e->ttl_off[i];
		ttl = be32_get(p);
		ttl = ttl > elapsed ? (uint32_t)(ttl - elapsed) : 0;
		if (ttl > remain)
			ttl = (uint32_t)remain;
		be32_put(p, ttl);
	}
	if (q->edns) {
		p = out + e->len;
		p[0] = 0;
		be16_put(p + 1, DNS_T_OPT);
		be16_put(p + 3, DNS_EDNS_UDP_MAX);
		be32_put(p + 5, q->do_bit ? DNS_EDNS_DO : 0);
		be16_put(p + 9, 0);
		be16_put(out + 10, (uint16_t)(be16_get(out + 10) + 1));
	}
	*outlen = len;
	TAILQ_REMOVE(&c->lru, e, lru); /* most recent now */
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	return 0;
}
