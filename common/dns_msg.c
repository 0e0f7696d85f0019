/*
 * DNS wire format (RFC 1035, EDNS0 RFC 6891): query parser, message scanner
 * and response builder with name compression and truncation.
 *
 * Every read is bounds-checked against the message length; compression
 * pointers must point strictly backwards (each jump lands before the
 * previous one), so decompression always terminates.
 */
#include <ctype.h>
#include <string.h>

#include "byteorder.h"
#include "dns_msg.h"

#define PTR_MASK 0xc0
#define PTR_MAX	 0x3fff

static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * Names
 */

static void
name_root(struct dns_name *n)
{
	n->wire[0] = 0;
	n->len = 1;
	n->nlabels = 0;
}

/* Append one label; the name must still end with its root label after. */
static int
name_push(struct dns_name *n, const uint8_t *label, size_t llen)
{
	size_t i, at;

	if (llen == 0 || llen > DNS_LABEL_MAX)
		return -1;
	if (n->len + 1 + llen > DNS_NAME_MAX || n->nlabels >= DNS_LABELS_MAX)
		return -1;
	at = n->len - 1; /* overwrite the root label */
	n->lab[n->nlabels++] = (uint8_t)at;
	n->wire[at] = (uint8_t)llen;
	for (i = 0; i < llen; i++)
		n->wire[at + 1 + i] = lower(label[i]);
	n->len += 1 + llen;
	n->wire[n->len - 1] = 0;
	return 0;
}

static int
name_append(struct dns_name *n, const struct dns_name *suffix)
{
	size_t i;
	const uint8_t *p;

	for (i = 0; i < suffix->nlabels; i++) {
		p = suffix->wire + suffix->lab[i];
		if (name_push(n, p + 1, p[0]) == -1)
			return -1;
	}
	return 0;
}

/* Presentation form to wire: "a.b.c", "a.b.c.", "." (root); \X and \DDD. */
int
dns_name_from_text(struct dns_name *n, const char *text)
{
	uint8_t label[DNS_LABEL_MAX + 1];
	size_t llen = 0;
	const char *p = text;
	int v;

	name_root(n);
	if (strcmp(text, ".") == 0)
		return 0;
	while (*p != '\0') {
		if (*p == '.') {
			if (name_push(n, label, llen) == -1)
				return -1;
			llen = 0;
			p++;
			continue;
		}
		if (llen >= DNS_LABEL_MAX)
			return -1;
		if (*p == '\\') {
			p++;
			if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
			    isdigit((unsigned char)p[2])) {
				v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
				if (v > 255)
					return -1;
				label[llen++] = (uint8_t)v;
				p += 3;
				continue;
			}
			if (*p == '\0')
				return -1;
		}
		label[llen++] = (uint8_t)*p++;
	}
	if (llen > 0 && name_push(n, label, llen) == -1)
		return -1;
	return 0;
}

int
dns_name_to_text(const struct dns_name *n, char *buf, size_t size)
{
	size_t i, j, o = 0, llen;
	const uint8_t *p;
	uint8_t c;

	if (size < 2)
		return -1;
	if (n->nlabels == 0) {
		buf[0] = '.';
		buf[1] = '\0';
		return 0;
	}
	for (i = 0; i < n->nlabels; i++) {
		p = n->wire + n->lab[i];
		llen = p[0];
		if (i > 0) {
			if (o + 1 >= size)
				return -1;
			buf[o++] = '.';
		}
		for (j = 0; j < llen; j++) {
			c = p[1 + j];
			if (c == '.' || c == '\\') {
				if (o + 2 >= size)
					return -1;
				buf[o++] = '\\';
				buf[o++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				if (o + 4 >= size)
					return -1;
				buf[o++] = '\\';
				buf[o++] = (char)('0' + c / 100);
				buf[o++] = (char)('0' + (c / 10) % 10);
				buf[o++] = (char)('0' + c % 10);
			} else {
				if (o + 1 >= size)
					return -1;
				buf[o++] = (char)c;
			}
		}
	}
	buf[o] = '\0';
	return 0;
}

/* Labels given as raw strings (no escapes), then the labels of suffix. */
int
dns_name_from_labels(struct dns_name *n, const char *const *labels, size_t nl,
		     const struct dns_name *suffix)
{
	size_t i;

	name_root(n);
	for (i = 0; i < nl; i++)
		if (name_push(n, (const uint8_t *)labels[i], strlen(labels[i])) == -1)
			return -1;
	if (suffix != NULL && name_append(n, suffix) == -1)
		return -1;
	return 0;
}

bool
dns_name_is_subdomain(const struct dns_name *n, const struct dns_name *parent)
{
	size_t at;

	if (n->nlabels < parent->nlabels || n->len < parent->len)
		return false;
	at = n->len - parent->len;
	if (parent->nlabels > 0 && n->lab[n->nlabels - parent->nlabels] != at)
		return false;
	return memcmp(n->wire + at, parent->wire, parent->len) == 0;
}

bool
dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	return a->len == b->len && memcmp(a->wire, b->wire, a->len) == 0;
}

/* Label i (0 = leftmost): its length, *p set to its first octet. */
size_t
dns_name_label(const struct dns_name *n, size_t i, const uint8_t **p)
{
	if (i >= n->nlabels) {
		*p = NULL;
		return 0;
	}
	*p = n->wire + n->lab[i] + 1;
	return n->wire[n->lab[i]];
}

#define LABEL_PTR 256 /* msg_label(): a compression pointer */

/* The label at pos: its length (0: the root), LABEL_PTR for a pointer (both
 * its bytes there), -1 past the end or for the obsolete types 0x40, 0x80. */
static int
msg_label(const uint8_t *msg, size_t len, size_t pos)
{
	if (pos >= len)
		return -1;
	if ((msg[pos] & PTR_MASK) == PTR_MASK)
		return pos + 1 < len ? LABEL_PTR : -1;
	if (msg[pos] & PTR_MASK)
		return -1;
	return msg[pos];
}

/*
 * Read a possibly compressed name at *off; *off is left after the name as
 * it appears in place.  raw, when not NULL, receives the uncompressed name
 * with its case kept (DNS_NAME_MAX octets).
 */
int
dns_msg_read_name(const uint8_t *msg, size_t len, size_t *off, struct dns_name *n, uint8_t *raw)
{
	size_t pos = *off, seg = *off, end = 0, ptr, i;
	bool jumped = false;
	uint8_t c;
	int k;

	n->len = 0;
	n->nlabels = 0;
	for (;;) {
		if ((k = msg_label(msg, len, pos)) == -1)
			return -1;
		if (k == LABEL_PTR) {
			ptr = be16_get(msg + pos) & 0x3fff;
			/* strictly backwards, and never into the header */
			if (ptr >= seg || ptr < DNS_HDR_LEN)
				return -1;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			seg = pos = ptr;
			continue;
		}
		if (k == 0)
			break;
		c = (uint8_t)k;
		if (pos + 1 + c > len || n->len + 1 + c + 1 > DNS_NAME_MAX ||
		    n->nlabels >= DNS_LABELS_MAX)
			return -1;
		n->lab[n->nlabels++] = (uint8_t)n->len;
		n->wire[n->len] = c;
		if (raw != NULL)
			raw[n->len] = c;
		for (i = 0; i < c; i++) {
			n->wire[n->len + 1 + i] = lower(msg[pos + 1 + i]);
			if (raw != NULL)
				raw[n->len + 1 + i] = msg[pos + 1 + i];
		}
		n->len += 1 + c;
		pos += 1 + c;
	}
	n->wire[n->len] = 0;
	if (raw != NULL)
		raw[n->len] = 0;
	n->len++;
	*off = jumped ? end : pos + 1;
	return 0;
}

/* Skip a name without following pointers (it is validated elsewhere). */
static int
msg_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	size_t pos = *off, total = 0;
	int k;

	for (;;) {
		if ((k = msg_label(msg, len, pos)) == -1)
			return -1;
		if (k == LABEL_PTR || k == 0) {
			*off = pos + (k == 0 ? 1 : 2);
			return 0;
		}
		total += 1 + (size_t)k;
		if (total + 1 > DNS_NAME_MAX || pos + 1 + (size_t)k > len)
			return -1;
		pos += 1 + (size_t)k;
	}
}

/*
 * Walk every resource record after the question section and call fn for
 * each.  Names are fully validated (decompressed).  Returns 0 or -1 when
 * the message is malformed or fn returns -1.
 */
typedef int (*msg_rr_fn)(const struct dns_rr *, void *);

static int
msg_walk(const uint8_t *msg, size_t len, struct dns_hdr *h, size_t *qend, msg_rr_fn fn, void *arg)
{
	struct dns_name scratch;
	struct dns_rr rr;
	size_t off = DNS_HDR_LEN, i, total;

	if (len < DNS_HDR_LEN)
		return -1;
	h->id = be16_get(msg);
	h->flags = be16_get(msg + 2);
	h->qdcount = be16_get(msg + 4);
	h->ancount = be16_get(msg + 6);
	h->nscount = be16_get(msg + 8);
	h->arcount = be16_get(msg + 10);
	for (i = 0; i < h->qdcount; i++) {
		if (dns_msg_read_name(msg, len, &off, &scratch, NULL) == -1)
			return -1;
		if (off + 4 > len)
			return -1;
		off += 4;
	}
	if (qend != NULL)
		*qend = off;
	total = (size_t)h->ancount + h->nscount + h->arcount;
	for (i = 0; i < total; i++) {
		if (i < h->ancount)
			rr.section = DNS_SEC_ANSWER;
		else if (i < (size_t)h->ancount + h->nscount)
			rr.section = DNS_SEC_AUTHORITY;
		else
			rr.section = DNS_SEC_ADDITIONAL;
		rr.name_off = off;
		if (dns_msg_read_name(msg, len, &off, &scratch, NULL) == -1)
			return -1;
		if (off + 10 > len)
			return -1;
		rr.type = be16_get(msg + off);
		rr.class = be16_get(msg + off + 2);
		rr.ttl_off = off + 4;
		rr.ttl = be32_get(msg + off + 4);
		rr.rdlen = be16_get(msg + off + 8);
		rr.rdata_off = off + 10;
		off += 10;
		if (off + rr.rdlen > len)
			return -1;
		off += rr.rdlen;
		if (fn != NULL && fn(&rr, arg) == -1)
			return -1;
	}
	return 0;
}

struct scan_arg {
	struct dns_rr *rrs;
	size_t max, n;
};

static int
scan_one(const struct dns_rr *rr, void *arg)
{
	struct scan_arg *a = arg;

	if (a->rrs != NULL) {
		if (a->n >= a->max)
			return -1;
		a->rrs[a->n] = *rr;
	}
	a->n++;
	return 0;
}

/*
 * Validate a whole message and list its records (rrs may be NULL to count
 * only).  Returns -1 if malformed or if there are more than maxrrs records.
 */
int
dns_msg_scan(const uint8_t *msg, size_t len, struct dns_hdr *h, struct dns_rr *rrs, size_t maxrrs,
	     size_t *nrrs, size_t *qend)
{
	struct scan_arg a = {rrs, maxrrs, 0};

	if (msg_walk(msg, len, h, qend, scan_one, &a) == -1)
		return -1;
	if (nrrs != NULL)
		*nrrs = a.n;
	return 0;
}

/* Past a record's owner name (*off then at its fixed part): its type and
 * where its data ends; -1 when it runs past len. */
static int
msg_skip_rr(const uint8_t *msg, size_t len, size_t *off, uint16_t *type, size_t *rdend)
{
	if (msg_skip_name(msg, len, off) == -1 || *off + 10 > len)
		return -1;
	*type = be16_get(msg + *off);
	*rdend = *off + 10 + be16_get(msg + *off + 8);
	return *rdend > len ? -1 : 0;
}

/*
 * Parse a query.  Returns DNS_R_NOERROR (0) when it can be answered, an
 * rcode to answer with (FORMERR, NOTIMP, BADVERS; q has what could be
 * parsed, has_question says whether to echo the question), or -1 when no
 * reply must be sent at all (shorter than a header, or a response).
 */
int
dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *q)
{
	size_t off = DNS_HDR_LEN, rdend, i;
	uint16_t qd, an, ns, ar, type, olen;
	uint32_t ttl;

	memset(q, 0, sizeof(*q));
	q->edns_size = DNS_UDP_MIN;
	if (len < DNS_HDR_LEN)
		return -1;
	q->id = be16_get(msg);
	q->flags = be16_get(msg + 2);
	if (q->flags & DNS_F_QR)
		return -1;
	q->opcode = (uint8_t)((q->flags & DNS_F_OPCODE) >> 11);
	qd = be16_get(msg + 4);
	an = be16_get(msg + 6);
	ns = be16_get(msg + 8);
	ar = be16_get(msg + 10);
	if (q->opcode != DNS_OPCODE_QUERY)
		return DNS_R_NOTIMP;
	if (qd != 1)
		return DNS_R_FORMERR;
	if (dns_msg_read_name(msg, len, &off, &q->name, q->qname_raw) == -1)
		return DNS_R_FORMERR;
	if (off + 4 > len)
		return DNS_R_FORMERR;
	q->qtype = be16_get(msg + off);
	q->qclass = be16_get(msg + off + 2);
	off += 4;
	q->has_question = true;

	for (i = 0; i < (size_t)an + ns; i++) {
		if (msg_skip_rr(msg, len, &off, &type, &rdend) == -1)
			return DNS_R_FORMERR;
		off = rdend;
	}
	for (i = 0; i < ar; i++) {
		size_t start = off;

		if (msg_skip_rr(msg, len, &off, &type, &rdend) == -1)
			goto formerr;
		if (type == DNS_T_OPT) {
			/* one OPT, owned by the root (RFC 6891 6.1.1) */
			if (q->edns || off != start + 1 || msg[start] != 0)
				goto formerr;
			q->edns = true;
			q->edns_size = be16_get(msg + off + 2);
			if (q->edns_size < DNS_UDP_MIN)
				q->edns_size = DNS_UDP_MIN;
			ttl = be32_get(msg + off + 4);
			q->edns_version = (uint8_t)(ttl >> 16);
			q->do_bit = (ttl & DNS_EDNS_DO) != 0;
			off += 10;
			while (off < rdend) {
				if (off + 4 > rdend)
					goto formerr;
				olen = be16_get(msg + off + 2);
				off += 4;
				if (off + olen > rdend)
					goto formerr;
				off += olen;
			}
		}
		off = rdend;
	}
	if (q->qtype == DNS_T_OPT)
		goto formerr;
	if (q->edns && q->edns_version > 0)
		return DNS_R_BADVERS;
	return DNS_R_NOERROR;
formerr:
	q->edns = false;
	q->do_bit = false;
	q->edns_size = DNS_UDP_MIN;
	return DNS_R_FORMERR;
}

/* The most a UDP reply to q may carry. */
size_t
dns_msg_udp_limit(const struct dns_query *q)
{
	if (!q->edns)
		return DNS_UDP_MIN;
	if (q->edns_size > DNS_EDNS_UDP_MAX)
		return DNS_EDNS_UDP_MAX;
	return q->edns_size < DNS_UDP_MIN ? DNS_UDP_MIN : q->edns_size;
}

/*
 * Builder
 */

static size_t
b_room(const struct dns_msg_builder *b)
{
	size_t reserve = b->edns ? DNS_OPT_LEN : 0;

	if (b->len + reserve >= b->cap)
		return 0;
	return b->cap - reserve - b->len;
}

static int
b_put(struct dns_msg_builder *b, const void *p, size_t n)
{
	if (n > b_room(b))
		return -1;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

static int
b_put16(struct dns_msg_builder *b, uint16_t v)
{
	uint8_t x[2];

	be16_put(x, v);
	return b_put(b, x, 2);
}

static int
b_put32(struct dns_msg_builder *b, uint32_t v)
{
	uint8_t x[4];

	be32_put(x, v);
	return b_put(b, x, 4);
}

static void
b_comp_add(struct dns_msg_builder *b, size_t off)
{
	if (off <= PTR_MAX && b->ncomp < DNS_COMP_MAX)
		b->comp[b->ncomp++] = (uint16_t)off;
}

/* Forget compression targets at or after off (rolled back). */
static void
b_comp_prune(struct dns_msg_builder *b, size_t off)
{
	while (b->ncomp > 0 && b->comp[b->ncomp - 1] >= off)
		b->ncomp--;
}

/* Does the name written at off equal n from label i on? */
static bool
b_name_match(const struct dns_msg_builder *b, size_t off, const struct dns_name *n, size_t i)
{
	size_t hops = 0, l;
	const uint8_t *p;
	uint8_t c;

	for (;;) {
		if (off >= b->len || hops++ > DNS_NAME_MAX)
			return false;
		c = b->buf[off];
		if ((c & PTR_MASK) == PTR_MASK) {
			if (off + 1 >= b->len)
				return false;
			off = ((size_t)(c & 0x3f) << 8) | b->buf[off + 1];
			continue;
		}
		if (i == n->nlabels)
			return c == 0;
		p = n->wire + n->lab[i];
		if (c != p[0] || off + 1 + c > b->len)
			return false;
		for (l = 0; l < c; l++)
			if (lower(b->buf[off + 1 + l]) != p[1 + l])
				return false;
		off += 1 + c;
		i++;
	}
}

static int
b_put_name(struct dns_msg_builder *b, const struct dns_name *n, bool compress)
{
	size_t i, j, start = b->len, upto = n->nlabels, target = 0;
	bool found = false;
	uint8_t ptr[2];

	if (compress) {
		for (i = 0; i < n->nlabels && !found; i++) {
			for (j = 0; j < b->ncomp; j++) {
				if (b_name_match(b, b->comp[j], n, i)) {
					upto = i;
					target = b->comp[j];
					found = true;
					break;
				}
			}
		}
	}
	if (!found) {
		if (b_put(b, n->wire, n->len) == -1)
			return -1;
	} else {
		if (upto > 0 && b_put(b, n->wire, n->lab[upto]) == -1)
			return -1;
		be16_put(ptr, (uint16_t)(0xc000 | target));
		if (b_put(b, ptr, 2) == -1)
			return -1;
	}
	if (compress)
		for (i = 0; i < upto; i++)
			b_comp_add(b, start + n->lab[i]);
	return 0;
}

/*
 * Start a response to q in buf (cap octets, at least DNS_UDP_MIN): the
 * header with q's id, opcode, RD and CD, QR and RA set, and q's question
 * echoed as received.
 */
void
dns_msg_init(struct dns_msg_builder *b, uint8_t *buf, size_t cap, const struct dns_query *q)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap > DNS_MSG_MAX ? DNS_MSG_MAX : cap;
	b->flags = DNS_F_QR | DNS_F_RA | (q->flags & (DNS_F_OPCODE | DNS_F_RD | DNS_F_CD));
	b->edns = q->edns;
	b->do_bit = q->do_bit;
	b->section = DNS_SEC_ANSWER;
	if (b->cap < DNS_HDR_LEN) {
		b->cap = 0;
		b->overflow = true;
		return;
	}
	memset(buf, 0, DNS_HDR_LEN);
	be16_put(buf, q->id);
	b->len = DNS_HDR_LEN;
	if (q->has_question && b_room(b) >= q->name.len + 4) {
		b_put(b, q->qname_raw, q->name.len);
		b_put16(b, q->qtype);
		b_put16(b, q->qclass);
		for (i = 0; i < q->name.nlabels; i++)
			b_comp_add(b, DNS_HDR_LEN + q->name.lab[i]);
		b->count[DNS_SEC_QUESTION] = 1;
	}
	b->qend = b->len;
}

void
dns_msg_set_rcode(struct dns_msg_builder *b, int rcode)
{
	b->rcode = rcode;
}

void
dns_msg_set_flags(struct dns_msg_builder *b, uint16_t flags)
{
	b->flags |= flags & (DNS_F_AA | DNS_F_TC | DNS_F_RA | DNS_F_AD);
}

/* Move on to a later section; sections only go forward. */
int
dns_msg_section(struct dns_msg_builder *b, enum dns_section sec)
{
	if (sec < b->section || sec == DNS_SEC_QUESTION)
		return -1;
	if (sec == DNS_SEC_ADDITIONAL && b->section != DNS_SEC_ADDITIONAL)
		b->arstart = b->len;
	b->section = sec;
	return 0;
}

/*
 * Records are written in three steps: rr_begin (owner, type, class, TTL,
 * a zero RDLENGTH), the rdata, rr_end (fills RDLENGTH).  Any failure goes
 * through rr_abort, which rolls the record back whole.
 */
struct rr_mark {
	size_t start, rdlen_off;
};

static int
rr_begin(struct dns_msg_builder *b, const struct dns_name *name, uint16_t type, uint16_t class,
	 uint32_t ttl, struct rr_mark *m)
{
	m->start = b->len;
	m->rdlen_off = 0;
	if (b->overflow || b->cap == 0 || b->count[b->section] == UINT16_MAX)
		return -1;
	if (b_put_name(b, name, true) == -1 || b_put16(b, type) == -1 || b_put16(b, class) == -1 ||
	    b_put32(b, ttl) == -1)
		return -1;
	m->rdlen_off = b->len;
	return b_put16(b, 0);
}

static int
rr_end(struct dns_msg_builder *b, const struct rr_mark *m)
{
	size_t rdlen = b->len - m->rdlen_off - 2;

	if (rdlen > UINT16_MAX)
		return -1;
	be16_put(b->buf + m->rdlen_off, (uint16_t)rdlen);
	b->count[b->section]++;
	return 0;
}

static int
rr_abort(struct dns_msg_builder *b, const struct rr_mark *m)
{
	if (b->len > m->start)
		b->len = m->start;
	b_comp_prune(b, m->start);
	if (!b->overflow) {
		b->overflow = true;
		b->overflow_sec = b->section;
	}
	return -1;
}

int
dns_msg_add_rr(struct dns_msg_builder *b, const struct dns_name *name, uint16_t type,
	       uint16_t class, uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	struct rr_mark m;

	if (rr_begin(b, name, type, class, ttl, &m) == -1 || b_put(b, rdata, rdlen) == -1 ||
	    rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

int
dns_msg_add_a(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
	      const uint8_t addr[4])
{
	return dns_msg_add_rr(b, name, DNS_T_A, DNS_C_IN, ttl, addr, 4);
}

int
dns_msg_add_aaaa(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
		 const uint8_t addr[16])
{
	return dns_msg_add_rr(b, name, DNS_T_AAAA, DNS_C_IN, ttl, addr, 16);
}

static int
add_name_rr(struct dns_msg_builder *b, const struct dns_name *name, uint16_t type, uint32_t ttl,
	    const struct dns_name *target, bool compress)
{
	struct rr_mark m;

	if (rr_begin(b, name, type, DNS_C_IN, ttl, &m) == -1 ||
	    b_put_name(b, target, compress) == -1 || rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

int
dns_msg_add_cname(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
		  const struct dns_name *target)
{
	return add_name_rr(b, name, DNS_T_CNAME, ttl, target, true);
}

int
dns_msg_add_ptr(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
		const struct dns_name *target)
{
	return add_name_rr(b, name, DNS_T_PTR, ttl, target, true);
}

int
dns_msg_add_ns(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
	       const struct dns_name *target)
{
	return add_name_rr(b, name, DNS_T_NS, ttl, target, true);
}

/* The SRV target is never compressed (RFC 2782). */
int
dns_msg_add_srv(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl, uint16_t prio,
		uint16_t weight, uint16_t port, const struct dns_name *target)
{
	struct rr_mark m;

	if (rr_begin(b, name, DNS_T_SRV, DNS_C_IN, ttl, &m) == -1 || b_put16(b, prio) == -1 ||
	    b_put16(b, weight) == -1 || b_put16(b, port) == -1 ||
	    b_put_name(b, target, false) == -1 || rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

/* One character-string per 255 octets of text. */
int
dns_msg_add_txt(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
		const char *text)
{
	struct rr_mark m;
	size_t len = strlen(text), off = 0, n;
	uint8_t l;

	if (rr_begin(b, name, DNS_T_TXT, DNS_C_IN, ttl, &m) == -1)
		return rr_abort(b, &m);
	do {
		n = len - off > 255 ? 255 : len - off;
		l = (uint8_t)n;
		if (b_put(b, &l, 1) == -1 || b_put(b, text + off, n) == -1)
			return rr_abort(b, &m);
		off += n;
	} while (off < len);
	if (rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

int
dns_msg_add_soa(struct dns_msg_builder *b, const struct dns_name *name, uint32_t ttl,
		const struct dns_soa *soa)
{
	struct rr_mark m;

	if (rr_begin(b, name, DNS_T_SOA, DNS_C_IN, ttl, &m) == -1 ||
	    b_put_name(b, soa->mname, true) == -1 || b_put_name(b, soa->rname, true) == -1 ||
	    b_put32(b, soa->serial) == -1 || b_put32(b, soa->refresh) == -1 ||
	    b_put32(b, soa->retry) == -1 || b_put32(b, soa->expire) == -1 ||
	    b_put32(b, soa->minimum) == -1 || rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

/* Copy one record of another message, decompressing the names in it. */
struct append_arg {
	struct dns_msg_builder *b;
	const uint8_t *msg;
	size_t len;
};

static int
append_name(struct append_arg *a, size_t *off, size_t end, bool compress)
{
	struct dns_name n;

	if (dns_msg_read_name(a->msg, end, off, &n, NULL) == -1)
		return -1;
	return b_put_name(a->b, &n, compress);
}

static int
append_one(const struct dns_rr *rr, void *arg)
{
	struct append_arg *a = arg;
	struct dns_msg_builder *b = a->b;
	struct dns_name owner;
	struct rr_mark m;
	size_t off = rr->name_off, end = rr->rdata_off + rr->rdlen, fixed = 0, tail = 0;
	bool compress = true;

	if (rr->section != DNS_SEC_ANSWER)
		return 0;
	if (dns_msg_read_name(a->msg, a->len, &off, &owner, NULL) == -1)
		return -1;
	if (rr_begin(b, &owner, rr->type, rr->class, rr->ttl, &m) == -1)
		return rr_abort(b, &m);
	off = rr->rdata_off;
	switch (rr->type) {
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_NS:
		break;
	case DNS_T_DNAME:
		compress = false;
		break;
	case DNS_T_MX:
		fixed = 2;
		break;
	case DNS_T_SRV:
		fixed = 6;
		compress = false;
		break;
	case DNS_T_SOA:
		tail = 20;
		break;
	default:
		if (b_put(b, a->msg + off, rr->rdlen) == -1 || rr_end(b, &m) == -1)
			return rr_abort(b, &m);
		return 0;
	}
	if (off + fixed > end || b_put(b, a->msg + off, fixed) == -1)
		return rr_abort(b, &m);
	off += fixed;
	/* names inside rdata may point anywhere before them in the message */
	if (append_name(a, &off, end, compress) == -1)
		return rr_abort(b, &m);
	if (rr->type == DNS_T_SOA && append_name(a, &off, end, compress) == -1)
		return rr_abort(b, &m);
	if (off + tail != end || b_put(b, a->msg + off, tail) == -1 || rr_end(b, &m) == -1)
		return rr_abort(b, &m);
	return 0;
}

/*
 * Append the Answer records of msg (a response from elsewhere, e.g. to a
 * chased CNAME target) to b's current section, and take over its rcode.
 */
int
dns_msg_append_answers(struct dns_msg_builder *b, const uint8_t *msg, size_t len)
{
	struct append_arg a = {b, msg, len};
	struct dns_hdr h;

	if (msg_walk(msg, len, &h, NULL, NULL, NULL) == -1)
		return -1;
	if (msg_walk(msg, len, &h, NULL, append_one, &a) == -1)
		return -1;
	if ((h.flags & DNS_F_RCODE) != DNS_R_NOERROR)
		b->rcode = h.flags & DNS_F_RCODE;
	return 0;
}

/*
 * Close the message for a client that takes at most limit octets: fill in
 * the header and add the OPT record.  If it does not fit, the Additional
 * section goes first (no TC, RFC 2181 9); if it still does not fit, every
 * record goes and TC is set.  Returns the message length.
 */
size_t
dns_msg_finish(struct dns_msg_builder *b, size_t limit)
{
	size_t optlen = b->edns ? DNS_OPT_LEN : 0;
	uint16_t flags;
	uint8_t *p;

	if (b->cap == 0)
		return 0;
	if (limit > b->cap)
		limit = b->cap;
	if (b->overflow && b->overflow_sec != DNS_SEC_ADDITIONAL)
		b->flags |= DNS_F_TC;
	if (b->len + optlen > limit) {
		if (b->arstart != 0 && b->arstart + optlen <= limit) {
			b->len = b->arstart;
			b->count[DNS_SEC_ADDITIONAL] = 0;
		} else {
			b->len = b->qend;
			b->count[DNS_SEC_ANSWER] = 0;
			b->count[DNS_SEC_AUTHORITY] = 0;
			b->count[DNS_SEC_ADDITIONAL] = 0;
			b->flags |= DNS_F_TC;
			if (b->len + optlen > limit) {
				b->len = DNS_HDR_LEN;
				b->count[DNS_SEC_QUESTION] = 0;
			}
		}
		b_comp_prune(b, b->len);
	}
	flags = (uint16_t)((b->flags & ~DNS_F_RCODE) | (b->rcode & DNS_F_RCODE));
	be16_put(b->buf + 2, flags);
	be16_put(b->buf + 4, b->count[DNS_SEC_QUESTION]);
	be16_put(b->buf + 6, b->count[DNS_SEC_ANSWER]);
	be16_put(b->buf + 8, b->count[DNS_SEC_AUTHORITY]);
	if (b->edns && b->len + DNS_OPT_LEN <= b->cap) {
		p = b->buf + b->len;
		p[0] = 0; /* root owner */
		be16_put(p + 1, DNS_T_OPT);
		be16_put(p + 3, DNS_EDNS_UDP_MAX); /* our payload size */
		p[5] = (uint8_t)(b->rcode >> 4);   /* extended rcode */
		p[6] = 0;			   /* version */
		be16_put(p + 7, b->do_bit ? DNS_EDNS_DO : 0);
		be16_put(p + 9, 0);
		b->len += DNS_OPT_LEN;
		b->count[DNS_SEC_ADDITIONAL]++;
	}
	be16_put(b->buf + 10, b->count[DNS_SEC_ADDITIONAL]);
	return b->len;
}

struct opt_arg {
	const uint8_t *msg;
	size_t start, end;
	bool found, last, bad;
};

/* The OPT record: one, in Additional, owned by the root, else bad. */
static int
find_opt(const struct dns_rr *rr, void *arg)
{
	struct opt_arg *a = arg;

	a->last = false;
	if (rr->type != DNS_T_OPT)
		return 0;
	if (rr->section != DNS_SEC_ADDITIONAL || a->found || a->msg[rr->name_off] != 0 ||
	    rr->rdata_off != rr->name_off + 11) {
		a->bad = true;
		return 0;
	}
	a->found = true;
	a->start = rr->name_off;
	a->end = rr->rdata_off + rr->rdlen;
	a->last = true;
	return 0;
}

/*
 * Cut a complete response down for a client that takes at most limit
 * octets: keep the header, question and OPT record, drop every other
 * record, set TC.  Returns the new length (len if it already fits), or 0
 * if the message is malformed.  A bad OPT (not the root's, not in
 * Additional, a second one) is dropped with the rest.
 */
size_t
dns_msg_truncate(uint8_t *msg, size_t len, size_t limit)
{
	struct opt_arg a;
	struct dns_hdr h;
	uint8_t opt[DNS_OPT_LEN];
	size_t qend, n;

	memset(&a, 0, sizeof(a));
	a.msg = msg;
	if (msg_walk(msg, len, &h, &qend, find_opt, &a) == -1)
		return 0;
	if (len <= limit)
		return len;
	if (limit < DNS_HDR_LEN)
		return 0;
	n = qend;
	be16_put(msg + 2, (uint16_t)(h.flags | DNS_F_TC));
	be16_put(msg + 6, 0);
	be16_put(msg + 8, 0);
	be16_put(msg + 10, 0);
	if (n > limit) {
		be16_put(msg + 4, 0);
		n = DNS_HDR_LEN;
	}
	if (a.found && n + DNS_OPT_LEN <= limit) {
		/* the OPT without its options: they may not fit */
		memcpy(opt, msg + a.start, DNS_OPT_LEN);
		be16_put(opt + 9, 0);
		memcpy(msg + n, opt, DNS_OPT_LEN);
		n += DNS_OPT_LEN;
		be16_put(msg + 10, 1);
	}
	return n;
}

/*
 * Remove the OPT record when it is the last record of the message (so no
 * compression pointer can refer to it).  Returns the new length, len if
 * there is no OPT, 0 if malformed (a bad OPT included) or the OPT is not
 * last.
 */
size_t
dns_msg_strip_opt(uint8_t *msg, size_t len)
{
	struct opt_arg a;
	struct dns_hdr h;

	memset(&a, 0, sizeof(a));
	a.msg = msg;
	if (msg_walk(msg, len, &h, NULL, find_opt, &a) == -1 || a.bad)
		return 0;
	if (!a.found)
		return len;
	if (!a.last || a.end != len)
		return 0;
	be16_put(msg + 10, (uint16_t)(h.arcount - 1));
	return a.start;
}
