/*
 * EdgeMesh's stream messages (pkg/tunnel/pb/proxy/proxy.proto and
 * discovery/discovery.proto, proto2), written by hand for exactly these
 * fields: a uvarint length (protoio delimited framing, at most 4096
 * bytes), then the fields in number order.
 *
 *   message Proxy { optional Type type = 1; optional string protocol = 2;
 *     optional string node_name = 3; optional string ip = 4;
 *     optional int32 port = 5; }   Type { CONNECT = 0; SUCCESS = 1; FAILED = 2; }
 *   message Discovery { optional Type type = 1; optional string protocol = 2;
 *     optional string node_name = 3; }
 *
 * Decoding skips unknown fields as protobuf does; a known field with the
 * wrong wire type, a string too long for its buffer or holding a NUL, an
 * unknown type value and anything cut short inside the length are errors.
 */
#include <stdio.h>
#include <string.h>

#include "p2p.h"

static size_t
put_str(uint8_t *p, unsigned field, const char *s)
{
	size_t n = 0, len = strlen(s);

	n += p2p_uvarint_put(p + n, (uint64_t)field << 3 | P2P_PB_WT_LEN);
	n += p2p_uvarint_put(p + n, len);
	memcpy(p + n, s, len);
	return n + len;
}

size_t
p2p_pb_encode(uint8_t *out, size_t cap, const struct p2p_pb_msg *m)
{
	/* the largest body: 2 varints of 11 bytes, 3 strings of their buffer size */
	uint8_t body[2 * 11 + 3 * 3 + sizeof(m->protocol) + sizeof(m->node_name) + sizeof(m->ip)];
	size_t n = 0, hdr;
	uint8_t v[P2P_UVARINT_MAX];

	if (m->has & P2P_PB_HAS_TYPE) {
		body[n++] = 1 << 3 | P2P_PB_WT_VARINT;
		/* an int32 (enum) is sign-extended to 64 bits */
		n += p2p_uvarint_put(body + n, (uint64_t)(int64_t)m->type);
	}
	if (m->has & P2P_PB_HAS_PROTOCOL)
		n += put_str(body + n, 2, m->protocol);
	if (m->has & P2P_PB_HAS_NODE)
		n += put_str(body + n, 3, m->node_name);
	if (m->has & P2P_PB_HAS_IP)
		n += put_str(body + n, 4, m->ip);
	if (m->has & P2P_PB_HAS_PORT) {
		body[n++] = 5 << 3 | P2P_PB_WT_VARINT;
		n += p2p_uvarint_put(body + n, (uint64_t)(int64_t)m->port);
	}
	hdr = p2p_uvarint_put(v, n);
	if (hdr + n > cap)
		return 0;
	memcpy(out, v, hdr);
	memcpy(out + hdr, body, n);
	return hdr + n;
}

static const char *const field_names[] = {"", "type", "protocol", "node_name", "ip", "port"};

static int
get_str(const uint8_t *p, size_t len, unsigned field, char *out, size_t cap, char *why,
	size_t whylen)
{
	if (len >= cap) {
		snprintf(why, whylen, "protobuf: %s of %zu bytes, at most %zu", field_names[field],
			 len, cap - 1);
		return -1;
	}
	if (memchr(p, '\0', len) != NULL) {
		snprintf(why, whylen, "protobuf: NUL byte inside %s", field_names[field]);
		return -1;
	}
	/* a repeated field replaces the earlier value entirely */
	memset(out, 0, cap);
	memcpy(out, p, len);
	return 0;
}

int
p2p_pb_next(const uint8_t **pp, const uint8_t *end, struct p2p_pb_field *f, char *why,
	    size_t whylen)
{
	const uint8_t *p = *pp;
	char sub[64];
	uint64_t tag;
	size_t n;
	int r;

	if (p >= end)
		return 0;
	if ((r = p2p_uvarint_get(p, (size_t)(end - p), &tag, &n, 0, sub, sizeof(sub))) != 1) {
		snprintf(why, whylen, "protobuf: field tag: %s",
			 r == 0 ? "cut short by the message end" : sub);
		return -1;
	}
	p += n;
	if (tag >> 3 == 0 || tag >> 3 > 536870911) {
		snprintf(why, whylen, "protobuf: field number %llu is invalid",
			 (unsigned long long)(tag >> 3));
		return -1;
	}
	f->num = (unsigned)(tag >> 3);
	f->wt = (unsigned)(tag & 7);
	f->v = 0;
	f->data = NULL;
	f->len = 0;
	switch (f->wt) {
	case P2P_PB_WT_VARINT:
		if (p2p_uvarint_get(p, (size_t)(end - p), &f->v, &n, 0, sub, sizeof(sub)) != 1) {
			snprintf(why, whylen, "protobuf: field %u: varint cut short or too long",
				 f->num);
			return -1;
		}
		p += n;
		break;
	case P2P_PB_WT_I64:
	case P2P_PB_WT_I32:
		n = f->wt == P2P_PB_WT_I64 ? 8 : 4;
		if ((size_t)(end - p) < n) {
			snprintf(why, whylen, "protobuf: field %u cut short", f->num);
			return -1;
		}
		f->data = p;
		f->len = n;
		p += n;
		break;
	case P2P_PB_WT_LEN:
		if (p2p_uvarint_get(p, (size_t)(end - p), &f->v, &n, 0, sub, sizeof(sub)) != 1) {
			snprintf(why, whylen, "protobuf: field %u: bad length", f->num);
			return -1;
		}
		p += n;
		if (f->v > (uint64_t)(end - p)) {
			snprintf(why, whylen,
				 "protobuf: field %u of %llu bytes, only %zu left in the message",
				 f->num, (unsigned long long)f->v, (size_t)(end - p));
			return -1;
		}
		f->data = p;
		f->len = (size_t)f->v;
		p += f->len;
		break;
	default:
		snprintf(why, whylen,
			 "protobuf: field %u has wire type %u (groups and %u are not supported)",
			 f->num, f->wt, f->wt);
		return -1;
	}
	*pp = p;
	return 1;
}

/* the fields of the body [p, end) into m */
static int
parse_body(const uint8_t *p, const uint8_t *end, struct p2p_pb_msg *m, char *why, size_t whylen)
{
	/* the string fields: 2 protocol, 3 node_name, 4 ip */
	const struct {
		char *out;
		size_t cap;
		unsigned has;
	} str[5] = {[2] = {m->protocol, sizeof(m->protocol), P2P_PB_HAS_PROTOCOL},
		    [3] = {m->node_name, sizeof(m->node_name), P2P_PB_HAS_NODE},
		    [4] = {m->ip, sizeof(m->ip), P2P_PB_HAS_IP}};
	struct p2p_pb_field f;
	int r;

	while ((r = p2p_pb_next(&p, end, &f, why, whylen)) == 1) {
		if (f.num < 1 || f.num > 5)
			continue; /* unknown: skipped */
		if (f.wt != ((f.num == 1 || f.num == 5) ? P2P_PB_WT_VARINT : P2P_PB_WT_LEN)) {
			snprintf(why, whylen, "protobuf: field %s has wire type %u",
				 field_names[f.num], f.wt);
			return -1;
		}
		switch (f.num) {
		case 1:
			if (f.v > P2P_PB_FAILED) {
				snprintf(why, whylen, "protobuf: unknown type %lld",
					 (long long)(int64_t)f.v);
				return -1;
			}
			m->type = (int32_t)f.v;
			m->has |= P2P_PB_HAS_TYPE;
			break;
		case 2:
		case 3:
		case 4:
			if (get_str(f.data, f.len, f.num, str[f.num].out, str[f.num].cap, why,
				    whylen) == -1)
				return -1;
			m->has |= str[f.num].has;
			break;
		case 5:
			m->port = (int32_t)(uint32_t)f.v; /* int32: the low 32 bits */
			m->has |= P2P_PB_HAS_PORT;
			break;
		}
	}
	return r;
}

int
p2p_pb_parse(const uint8_t *buf, size_t len, struct p2p_pb_msg *m, size_t *used, char *why,
	     size_t whylen)
{
	uint64_t n;
	size_t hdr;
	int r;

	if ((r = p2p_uvarint_prefix(buf, len, 0, "protobuf: message length", &n, &hdr, why,
				    whylen)) != 1)
		return r;
	if (n > P2P_PB_MAX) {
		snprintf(why, whylen, "protobuf: message of %llu bytes, at most %d",
			 (unsigned long long)n, P2P_PB_MAX);
		return -1;
	}
	if (len - hdr < n)
		return 0;
	memset(m, 0, sizeof(*m));
	if (parse_body(buf + hdr, buf + hdr + n, m, why, whylen) == -1)
		return -1;
	*used = hdr + n;
	return 1;
}
