/*
 * yamux frame headers (hashicorp/yamux spec.md, as go-libp2p's yamux
 * speaks it): version (0), type, flags, stream id, length, all big-endian,
 * 12 bytes; data frames carry length payload bytes after the header.
 */
#include <stdio.h>

#include "p2p.h"

static const char *const type_names[] = {"data", "window update", "ping", "go away"};

const char *
p2p_yamux_type_name(unsigned type)
{
	return type < 4 ? type_names[type] : "unknown";
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
p2p_yamux_encode(uint8_t out[P2P_YAMUX_HDR], const struct p2p_yamux_hdr *h)
{
	out[0] = h->version;
	out[1] = h->type;
	out[2] = (uint8_t)(h->flags >> 8);
	out[3] = (uint8_t)h->flags;
	put32(out + 4, h->stream);
	put32(out + 8, h->length);
}

int
p2p_yamux_parse(const uint8_t *buf, size_t len, struct p2p_yamux_hdr *h, char *why, size_t whylen)
{
	if (len < P2P_YAMUX_HDR)
		return 0;
	h->version = buf[0];
	h->type = buf[1];
	h->flags = (uint16_t)(buf[2] << 8 | buf[3]);
	h->stream = get32(buf + 4);
	h->length = get32(buf + 8);
	if (h->version != 0) {
		snprintf(why, whylen, "yamux: version %u (only 0 exists)", h->version);
		return -1;
	}
	if (h->type > P2P_YAMUX_GO_AWAY) {
		snprintf(why, whylen, "yamux: frame type %u (0-3 exist)", h->type);
		return -1;
	}
	if ((h->type == P2P_YAMUX_PING || h->type == P2P_YAMUX_GO_AWAY) && h->stream != 0) {
		snprintf(why, whylen, "yamux: %s on stream %u (must be stream 0)",
			 p2p_yamux_type_name(h->type), h->stream);
		return -1;
	}
	if (h->type == P2P_YAMUX_GO_AWAY && h->length > P2P_YAMUX_GOAWAY_INTERNAL) {
		snprintf(why, whylen, "yamux: go away with unknown code %u", h->length);
		return -1;
	}
	return 1;
}
