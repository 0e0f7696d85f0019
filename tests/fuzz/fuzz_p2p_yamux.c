/*
 * libFuzzer: yamux frame headers (tunneld/p2p_yamux.c) and a session's
 * state (p2p_yamux_sm.c), read as a stream of frames (data frames skip
 * their payload); the input's first byte picks the side and, between
 * frames, opens, sends and reads.  Beside "no crash": a header parsed is
 * re-encoded to the same 12 bytes; a refusal says why and sends go away;
 * a stream never holds more than its window (make fuzz).
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct p2p_yamux_stream tab[8];
	struct p2p_yamux y;
	struct p2p_yamux_hdr h, out;
	struct p2p_yamux_ev ev;
	uint8_t again[P2P_YAMUX_HDR];
	char why[160];
	size_t off = 1;
	uint32_t id, n;
	int r;

	if (len == 0)
		return 0;
	p2p_yamux_init(&y, data[0] & 1, tab, 8);
	while ((r = p2p_yamux_parse(data + off, len - off, &h, why, sizeof(why))) == 1) {
		p2p_yamux_encode(again, &h);
		if (memcmp(again, data + off, P2P_YAMUX_HDR) != 0)
			__builtin_trap();
		off += P2P_YAMUX_HDR;
		why[0] = '\0';
		if (p2p_yamux_rx(&y, &h, &ev, why, sizeof(why)) == -1) {
			if (why[0] == '\0' || ev.kind != P2P_YEV_ERROR ||
			    ev.out.type != P2P_YAMUX_GO_AWAY)
				__builtin_trap();
			return 0;
		}
		if (h.type == P2P_YAMUX_DATA) {
			if (h.length > len - off)
				break;
			off += h.length;
			if (ev.kind != P2P_YEV_NONE)
				(void)p2p_yamux_consumed(&y, h.stream, h.length, &out);
		}
		/* the application's turn, from the flags' spare bits */
		if (h.flags & 0x10)
			(void)p2p_yamux_open(&y, &out, &id);
		if (h.flags & 0x20) {
			n = h.length;
			(void)p2p_yamux_send(&y, h.stream, &n, h.flags & 0x40, &out);
		}
		if (h.flags & 0x80)
			p2p_yamux_reset(&y, h.stream, &out);
		for (size_t i = 0; i < 8; i++)
			if (tab[i].state != P2P_YS_FREE &&
			    tab[i].recv_win + tab[i].consumed > 2 * P2P_YAMUX_WINDOW)
				__builtin_trap();
	}
	if (r == -1 && why[0] == '\0')
		__builtin_trap();
	return 0;
}
