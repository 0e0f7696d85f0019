/*
 * Forwarding to upstream resolvers on the daemon's libev loop.
 *
 * Each query gets its own connected socket (a fresh random source port;
 * the kernel drops datagrams from anyone but the upstream) and a random
 * id.  A response counts only if id, QR and question match what was sent.
 * UDP first (TCP only when tcp_only is set, EdgeMesh's force_tcp); a TC
 * answer is asked again over TCP of the same upstream; a timeout, an
 * error, SERVFAIL or REFUSED moves on to the next upstream until each was
 * tried once.  done is called exactly once per accepted query, never from
 * inside dns_fwd_query, with the response carrying the client's id, or
 * with NULL when every upstream failed.
 *
 *   client query -> dns_fwd_query -> [UDP upstream i] -TC-> [TCP upstream i]
 *                                      | timeout/error/SERVFAIL
 *                                      v
 *                                    [upstream i+1] ... -> done(NULL)
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "byteorder.h"
#include "dns.h"
#include "log.h"
#include "netaddr.h"
#include "model.h"

#define FWD_READS_PER_EVENT 16 /* stray datagrams drained per wakeup */

struct fwd_q {
	LIST_ENTRY(fwd_q) entry;
	struct dns_fwd *f;
	dns_fwd_done_cb done;
	void *arg;
	uint8_t *wire; /* 2-octet TCP length, then the query */
	size_t len;    /* query length (without the prefix) */
	uint16_t client_id, id;
	struct dns_name qname;
	uint16_t qtype, qclass;
	size_t up;    /* upstream being asked */
	size_t tried; /* upstreams given up on */
	bool tcp;
	int fd;
	ev_io io;
	ev_timer timer;
	size_t woff; /* TCP: octets of wire written */
	uint8_t rlenbuf[2];
	size_t rhave, rlen; /* TCP: octets read, message length */
	uint8_t *rbuf;
};

struct dns_fwd {
	struct ev_loop *loop;
	struct sockaddr_storage up[DNS_UPSTREAMS_MAX];
	size_t nup;
	size_t pref;			    /* the upstream that answered last */
	int8_t answered[DNS_UPSTREAMS_MAX]; /* its last query: 1 answered, 0 not, -1 none yet */
	double timeout;
	size_t max;
	bool tcp_only;
	LIST_HEAD(, fwd_q) queries;
	size_t n;
	uint8_t buf[DNS_MSG_MAX]; /* UDP receive buffer */
};

static void q_try(struct fwd_q *);

static socklen_t
ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

struct dns_fwd *
dns_fwd_new(struct ev_loop *loop, const struct sockaddr_storage *upstreams, size_t n)
{
	struct dns_fwd *f;
	size_t i;

	f = xcalloc(1, sizeof(*f));
	f->loop = loop;
	LIST_INIT(&f->queries);
	f->timeout = DNS_FWD_TIMEOUT;
	f->max = DNS_FWD_MAX_OUTSTANDING;
	for (i = 0; i < n && f->nup < DNS_UPSTREAMS_MAX; i++) {
		if (upstreams[i].ss_family != AF_INET && upstreams[i].ss_family != AF_INET6)
			continue;
		f->up[f->nup++] = upstreams[i];
	}
	memset(f->answered, -1, sizeof(f->answered));
	return f;
}

/*
 * Replace the upstream list (cacheDNS auto-detection finds the cluster DNS
 * service after start).  Queries in flight go on with the new list.
 */
void
dns_fwd_set_upstreams(struct dns_fwd *f, const struct sockaddr_storage *upstreams, size_t n)
{
	size_t i;

	f->nup = 0;
	f->pref = 0;
	memset(f->answered, -1, sizeof(f->answered));
	for (i = 0; i < n && f->nup < DNS_UPSTREAMS_MAX; i++) {
		if (upstreams[i].ss_family != AF_INET && upstreams[i].ss_family != AF_INET6)
			continue;
		f->up[f->nup++] = upstreams[i];
	}
}

size_t
dns_fwd_upstreams(const struct dns_fwd *f)
{
	return f->nup;
}

int
dns_fwd_upstream(const struct dns_fwd *f, size_t i, struct sockaddr_storage *addr)
{
	if (i >= f->nup)
		return -1;
	*addr = f->up[i];
	return f->answered[i];
}

void
dns_fwd_set_timeout(struct dns_fwd *f, double seconds)
{
	f->timeout = seconds > 0 ? seconds : DNS_FWD_TIMEOUT;
}

void
dns_fwd_set_max_outstanding(struct dns_fwd *f, size_t max)
{
	f->max = max;
}

void
dns_fwd_set_tcp_only(struct dns_fwd *f, bool tcp_only)
{
	f->tcp_only = tcp_only;
}

size_t
dns_fwd_outstanding(const struct dns_fwd *f)
{
	return f->n;
}

/* Stop watchers and close the socket of the current attempt. */
static void
q_close(struct fwd_q *q)
{
	ev_io_stop(q->f->loop, &q->io);
	ev_timer_stop(q->f->loop, &q->timer);
	if (q->fd != -1) {
		close(q->fd);
		q->fd = -1;
	}
	free(q->rbuf);
	q->rbuf = NULL;
	q->rhave = q->rlen = q->woff = 0;
}

static void
q_unlink(struct fwd_q *q)
{
	LIST_REMOVE(q, entry);
	q->f->n--;
}

static void
q_free(struct fwd_q *q)
{
	q_close(q);
	free(q->wire);
	free(q);
}

/* The end of a query: done exactly once, then the query is gone. */
static void
q_finish(struct fwd_q *q, uint8_t *resp, size_t len)
{
	dns_fwd_done_cb done = q->done;
	void *arg = q->arg;

	q_unlink(q);
	if (resp != NULL)
		be16_put(resp, q->client_id);
	ev_io_stop(q->f->loop, &q->io);
	ev_timer_stop(q->f->loop, &q->timer);
	done(arg, resp, len);
	q_free(q);
}

/* Give up on this upstream, try the next one (or fail). */
static void
q_next(struct fwd_q *q)
{
	q_close(q);
	if (q->up < q->f->nup)
		q->f->answered[q->up] = 0;
	q->tried++;
	if (q->f->nup == 0 || q->tried >= q->f->nup) {
		q_finish(q, NULL, 0);
		return;
	}
	q->up = (q->up + 1) % q->f->nup;
	q->tcp = q->f->tcp_only;
	q_try(q);
}

/* Does resp answer what q sent? */
static bool
q_match(const struct fwd_q *q, const uint8_t *resp, size_t len)
{
	struct dns_name n;
	size_t off = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN || be16_get(resp) != q->id || !(be16_get(resp + 2) & DNS_F_QR) ||
	    be16_get(resp + 4) != 1)
		return false;
	if (dns_msg_read_name(resp, len, &off, &n, NULL) == -1 || off + 4 > len)
		return false;
	return dns_name_equal(&n, &q->qname) && be16_get(resp + off) == q->qtype &&
	       be16_get(resp + off + 2) == q->qclass;
}

/* A matching response came: deliver it, or move on. */
static void
q_response(struct fwd_q *q, uint8_t *resp, size_t len)
{
	struct dns_fwd *f = q->f;
	int rcode = be16_get(resp + 2) & DNS_F_RCODE;

	if ((be16_get(resp + 2) & DNS_F_TC) && !q->tcp) {
		q_close(q);
		q->tcp = true;
		q_try(q);
		return;
	}
	if ((rcode == DNS_R_SERVFAIL || rcode == DNS_R_REFUSED) && q->tried + 1 < f->nup) {
		q_next(q);
		return;
	}
	f->pref = q->up;
	f->answered[q->up] = 1;
	q_finish(q, resp, len);
}

static void
q_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fwd_q *q = w->data;

	q_next(q);
}

static void
q_udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fwd_q *q = w->data;
	struct dns_fwd *f = q->f;
	char addr[INET6_ADDRSTRLEN + 8];
	ssize_t n;
	int i;

	for (i = 0; i < FWD_READS_PER_EVENT; i++) {
		n = recv(q->fd, f->buf, sizeof(f->buf), 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			/* ECONNREFUSED and friends: this upstream is not there */
			log_debug("dns forward: upstream %s udp: %s",
				  net_addr_text(&f->up[q->up], addr, sizeof(addr)),
				  strerror(errno));
			q_next(q);
			return;
		}
		if (q_match(q, f->buf, (size_t)n)) {
			q_response(q, f->buf, (size_t)n);
			return;
		}
	}
}

static void
q_tcp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fwd_q *q = w->data;
	char addr[INET6_ADDRSTRLEN + 8];
	socklen_t sl = sizeof(int);
	ssize_t n;
	int err = 0;

	if (revents & EV_WRITE) {
		if (q->woff == 0 &&
		    (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err != 0)) {
			log_debug("dns forward: upstream %s tcp connect: %s",
				  net_addr_text(&q->f->up[q->up], addr, sizeof(addr)),
				  strerror(err != 0 ? err : errno));
			q_next(q);
			return;
		}
		n = send(q->fd, q->wire + q->woff, q->len + 2 - q->woff, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			q_next(q);
			return;
		}
		q->woff += (size_t)n;
		if (q->woff < q->len + 2)
			return;
		ev_io_stop(loop, &q->io);
		ev_io_set(&q->io, q->fd, EV_READ);
		ev_io_start(loop, &q->io);
		return;
	}
	/* reading: the 2-octet length, then the message */
	if (q->rhave < 2)
		n = recv(q->fd, q->rlenbuf + q->rhave, 2 - q->rhave, 0);
	else
		n = recv(q->fd, q->rbuf + q->rhave - 2, q->rlen + 2 - q->rhave, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* an error, or the end before the whole answer */
		q_next(q);
		return;
	}
	q->rhave += (size_t)n;
	if (q->rbuf == NULL) {
		if (q->rhave < 2)
			return;
		q->rlen = be16_get(q->rlenbuf);
		if (q->rlen < DNS_HDR_LEN) {
			q_next(q);
			return;
		}
		q->rbuf = xcalloc(1, q->rlen);
		return;
	}
	if (q->rhave < q->rlen + 2)
		return;
	/* on our own connection, a wrong answer means a broken upstream */
	if (!q_match(q, q->rbuf, q->rlen)) {
		q_next(q);
		return;
	}
	q_response(q, q->rbuf, q->rlen);
}

/* Send q to its current upstream over UDP or TCP. */
static void
q_try(struct fwd_q *q)
{
	struct dns_fwd *f = q->f;
	const struct sockaddr_storage *ss = &f->up[q->up];
	char addr[INET6_ADDRSTRLEN + 8];
	int type = q->tcp ? SOCK_STREAM : SOCK_DGRAM;

	if (f->nup == 0) {
		/* the upstreams were replaced by none while q was in flight */
		errno = ENETUNREACH;
		goto fail;
	}
	if (q->up >= f->nup) {
		q->up = 0;
		ss = &f->up[0];
	}
	q->id = (uint16_t)arc4random_uniform(65536);
	be16_put(q->wire + 2, q->id);
	q->fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd == -1)
		goto fail;
	if (connect(q->fd, (const struct sockaddr *)ss, ss_len(ss)) == -1 &&
	    !(q->tcp && errno == EINPROGRESS))
		goto fail;
	if (!q->tcp) {
		if (send(q->fd, q->wire + 2, q->len, 0) == -1)
			goto fail;
		ev_set_cb(&q->io, q_udp_cb);
		ev_io_set(&q->io, q->fd, EV_READ);
	} else {
		ev_set_cb(&q->io, q_tcp_cb);
		ev_io_set(&q->io, q->fd, EV_WRITE);
	}
	ev_io_start(f->loop, &q->io);
	ev_timer_set(&q->timer, f->timeout, 0.);
	ev_timer_start(f->loop, &q->timer);
	return;
fail:
	log_debug("dns forward: upstream %s %s: %s",
		  net_addr_text(&f->up[q->up], addr, sizeof(addr)), q->tcp ? "tcp" : "udp",
		  strerror(errno));
	if (q->fd != -1) {
		close(q->fd);
		q->fd = -1;
	}
	/* move on from the loop, never from inside dns_fwd_query */
	ev_timer_set(&q->timer, 0., 0.);
	ev_timer_start(f->loop, &q->timer);
}

/*
 * Forward query (len octets, as the client sent it).  Returns 0 when
 * accepted: done(arg, resp, len) follows exactly once, from the loop.
 * Returns -1 (done is never called) when the query has no question, there
 * is no upstream, or max_outstanding queries are in flight.
 */
int
dns_fwd_query(struct dns_fwd *f, const uint8_t *query, size_t len, dns_fwd_done_cb done, void *arg)
{
	struct dns_name n;
	struct fwd_q *q;
	size_t off = DNS_HDR_LEN;

	if (f->nup == 0 || f->n >= f->max || done == NULL || len < DNS_HDR_LEN || len > DNS_MSG_MAX)
		return -1;
	if (be16_get(query + 4) != 1 || dns_msg_read_name(query, len, &off, &n, NULL) == -1 ||
	    off + 4 > len)
		return -1;
	q = xcalloc(1, sizeof(*q));
	q->f = f;
	q->done = done;
	q->arg = arg;
	q->len = len;
	q->wire = xcalloc(1, len + 2);
	be16_put(q->wire, (uint16_t)len);
	memcpy(q->wire + 2, query, len);
	q->client_id = be16_get(query);
	q->qname = n;
	q->qtype = be16_get(query + off);
	q->qclass = be16_get(query + off + 2);
	q->fd = -1;
	q->up = f->pref;
	q->tcp = f->tcp_only;
	ev_init(&q->io, q_udp_cb);
	q->io.data = q;
	ev_init(&q->timer, q_timeout_cb);
	q->timer.data = q;
	LIST_INSERT_HEAD(&f->queries, q, entry);
	f->n++;
	q_try(q);
	return 0;
}

/* Drop every query for arg without calling done (the client went away). */
void
dns_fwd_cancel(struct dns_fwd *f, void *arg)
{
	struct fwd_q *q, *next;

	for (q = LIST_FIRST(&f->queries); q != NULL; q = next) {
		next = LIST_NEXT(q, entry);
		if (q->arg == arg) {
			q_unlink(q);
			q_free(q);
		}
	}
}

/* Fail every outstanding query (done with NULL), then free. */
void
dns_fwd_free(struct dns_fwd *f)
{
	if (f == NULL)
		return;
	while (!LIST_EMPTY(&f->queries))
		q_finish(LIST_FIRST(&f->queries), NULL, 0);
	free(f);
}

/*
 * Upstream addresses: "1.2.3.4", "1.2.3.4:5353", "fd00::1", "[fd00::1]:53",
 * "fe80::1%eth0".  Port 53 unless given.
 */
int
dns_upstream_parse(const char *s, struct sockaddr_storage *ss)
{
	struct addrinfo hints, *res;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], port[8] = "53";
	const char *p, *colon;
	size_t hlen;
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL)
			return -1;
		hlen = (size_t)(p - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (p[1] == ':')
			colon = p + 1;
		else if (p[1] == '\0')
			colon = NULL;
		else
			return -1;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	if (colon != NULL) {
		errno = 0;
		v = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
			return -1;
		snprintf(port, sizeof(port), "%ld", v);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

bool
dns_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	return false;
}

/*
 * The nameserver lines of a resolv.conf (path NULL: /etc/resolv.conf), in
 * order, without our own addresses (skip: address and port) and without
 * duplicates.  Returns -1 if the file cannot be read; *n may be 0.
 */
int
dns_upstreams_from_resolv_conf(const char *path, const struct sockaddr_storage *skip, size_t nskip,
			       struct sockaddr_storage *out, size_t max, size_t *n)
{
	struct sockaddr_storage ss;
	char line[512], *p, *addr, *save;
	size_t i, lineno = 0;
	bool dup;
	FILE *fp;

	*n = 0;
	if (path == NULL)
		path = "/etc/resolv.conf";
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (strncmp(p, "nameserver", 10) != 0 || !isspace((unsigned char)p[10]))
			continue;
		if ((addr = strtok_r(p + 10, " \t\r\n;#", &save)) == NULL)
			continue;
		if (dns_upstream_parse(addr, &ss) == -1) {
			log_warnx("%s:%zu: nameserver %s: not an IP address, skipped", path, lineno,
				  addr);
			continue;
		}
		dup = false;
		for (i = 0; i < nskip && !dup; i++)
			dup = dns_sockaddr_equal(&ss, &skip[i]);
		for (i = 0; i < *n && !dup; i++)
			dup = dns_sockaddr_equal(&ss, &out[i]);
		if (dup)
			continue;
		if (*n >= max)
			break;
		out[(*n)++] = ss;
	}
	fclose(fp);
	return 0;
}
