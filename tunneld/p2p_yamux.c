/*
 * yamux frame headers (hashicorp/yamux spec.md, as go-libp2p's yamux
 * speaks it): version (0), type, flags, stream id, length, all big-endian,
 * 12 bytes; data frames carry length payload bytes after the header.
 */
#include <stdio.h>

#include "byteorder.h"
#include "p2p.h"

static const char *const type_names[] = {"data", "window update", "ping", "go away"};

const char *
p2p_yamux_type_name(unsigned type)
{
	return type < 4 ? type_names[type] : "unknown";
}

void
p2p_yamux_encode(uint8_t out[P2P_YAMUX_HDR], const struct p2p_yamux_hdr *h)
{
	out[0] = h->version;
	out[1] = h->type;
	be16_put(out + 2, h->flags);
	be32_put(out + 4, h->stream);
	be32_put(out + 8, h->length);
}

int
p2p_yamux_parse(const uint8_t *buf, size_t len, struct p2p_yamux_hdr *h, char *why, size_t whylen)
{
	if (len < P2P_YAMUX_HDR)
		return 0;
	h->version = buf[0];
	h->type = buf[1];
	h->flags = be16_get(buf + 2);
	h->stream = be32_get(buf + 4);
	h->length = be32_get(buf + 8);
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
