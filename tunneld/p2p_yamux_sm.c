/*
 * A yamux session's state, pure (hashicorp/yamux spec.md as go-yamux
 * applies it): streams opened by SYN, accepted by ACK, half-closed by FIN
 * each way, reset by RST; per-stream windows (256 KiB at the start, a
 * window update adds to it); pings answered; go away.  The caller feeds
 * each received header (p2p_yamux_rx) and asks before sending; every
 * answer is a header to send, if any, and an event.  No I/O, no
 * allocation: the caller gives the stream table.
 */
#include <stdio.h>
#include <string.h>

#include "p2p.h"

void
p2p_yamux_init(struct p2p_yamux *y, int client, struct p2p_yamux_stream *tab, size_t cap)
{
	memset(y, 0, sizeof(*y));
	y->client = client;
	y->next_id = client ? 1 : 2;
	y->tab = tab;
	y->cap = cap;
	memset(tab, 0, cap * sizeof(*tab));
}

struct p2p_yamux_stream *
p2p_yamux_find(struct p2p_yamux *y, uint32_t id)
{
	for (size_t i = 0; i < y->cap; i++)
		if (y->tab[i].id == id && y->tab[i].state != P2P_YS_FREE)
			return &y->tab[i];
	return NULL;
}

static struct p2p_yamux_stream *
slot(struct p2p_yamux *y, uint32_t id)
{
	for (size_t i = 0; i < y->cap; i++)
		if (y->tab[i].state == P2P_YS_FREE) {
			memset(&y->tab[i], 0, sizeof(y->tab[i]));
			y->tab[i].id = id;
			y->tab[i].send_win = P2P_YAMUX_WINDOW;
			y->tab[i].recv_win = P2P_YAMUX_WINDOW;
			return &y->tab[i];
		}
	return NULL;
}

static void
hdr(struct p2p_yamux_hdr *h, uint8_t type, uint16_t flags, uint32_t stream, uint32_t length)
{
	h->version = 0;
	h->type = type;
	h->flags = flags;
	h->stream = stream;
	h->length = length;
}

/* both directions closed: the slot is free again */
static void
maybe_free(struct p2p_yamux_stream *s)
{
	if (s->local_fin && s->remote_fin)
		s->state = P2P_YS_FREE;
}

int
p2p_yamux_open(struct p2p_yamux *y, struct p2p_yamux_hdr *out, uint32_t *id)
{
	struct p2p_yamux_stream *s;

	if (y->goaway_rx || y->next_id > 0xfffffffdu || (s = slot(y, y->next_id)) == NULL)
		return -1;
	s->state = P2P_YS_SYN_SENT;
	*id = y->next_id;
	y->next_id += 2;
	hdr(out, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_SYN, *id, 0);
	return 0;
}

/* A protocol violation (why already says what): the go away to send. */
static int
violation(struct p2p_yamux_ev *ev)
{
	ev->kind = P2P_YEV_ERROR;
	ev->send = 1;
	hdr(&ev->out, P2P_YAMUX_GO_AWAY, 0, 0, P2P_YAMUX_GOAWAY_PROTO);
	return -1;
}

int
p2p_yamux_rx(struct p2p_yamux *y, const struct p2p_yamux_hdr *h, struct p2p_yamux_ev *ev, char *why,
	     size_t whylen)
{
	struct p2p_yamux_stream *s;

	memset(ev, 0, sizeof(*ev));
	ev->stream = h->stream;
	if (h->type == P2P_YAMUX_PING) {
		if (h->flags & P2P_YAMUX_SYN) {
			ev->kind = P2P_YEV_NONE;
			ev->send = 1;
			hdr(&ev->out, P2P_YAMUX_PING, P2P_YAMUX_ACK, 0, h->length);
		} else {
			ev->kind = P2P_YEV_PONG;
			ev->value = h->length;
		}
		return 0;
	}
	if (h->type == P2P_YAMUX_GO_AWAY) {
		y->goaway_rx = 1;
		ev->kind = P2P_YEV_GOAWAY;
		ev->value = h->length;
		return 0;
	}
	if (h->stream == 0) {
		snprintf(why, whylen, "yamux: %s on stream 0", p2p_yamux_type_name(h->type));
		return violation(ev);
	}
	s = p2p_yamux_find(y, h->stream);
	if (h->flags & P2P_YAMUX_SYN) {
		if (s != NULL) {
			snprintf(why, whylen, "yamux: SYN for stream %u, already open", h->stream);
			return violation(ev);
		}
		if ((h->stream & 1) == (uint32_t)(y->client ? 1 : 0)) {
			snprintf(why, whylen, "yamux: peer opened stream %u, one of our ids",
				 h->stream);
			return violation(ev);
		}
		if (y->goaway_tx || (s = slot(y, h->stream)) == NULL) {
			/* no room: refuse the stream, not the session */
			ev->kind = P2P_YEV_NONE;
			ev->send = 1;
			hdr(&ev->out, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_RST, h->stream, 0);
			return 0;
		}
		s->state = P2P_YS_OPEN;
		ev->kind = P2P_YEV_ACCEPT;
		ev->send = 1;
		hdr(&ev->out, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_ACK, h->stream, 0);
	} else if (s == NULL) {
		/* a stream we already freed: late frames are dropped, as go-yamux does */
		ev->kind = P2P_YEV_NONE;
		ev->value = h->type == P2P_YAMUX_DATA ? h->length : 0; /* bytes to discard */
		return 0;
	}
	if (h->flags & P2P_YAMUX_ACK) {
		if (s->state == P2P_YS_SYN_SENT) {
			s->state = P2P_YS_OPEN;
			ev->kind = P2P_YEV_OPENED;
		}
	}
	if (h->type == P2P_YAMUX_WINDOW_UPDATE) {
		if ((uint64_t)s->send_win + h->length > 0xffffffffu) {
			snprintf(why, whylen, "yamux: window of stream %u over 4 GiB", h->stream);
			return violation(ev);
		}
		s->send_win += h->length;
	} else if (h->type == P2P_YAMUX_DATA && h->length > 0) {
		if (s->remote_fin) {
			snprintf(why, whylen, "yamux: %u bytes on stream %u after its FIN",
				 h->length, h->stream);
			return violation(ev);
		}
		if (h->length > s->recv_win) {
			snprintf(why, whylen,
				 "yamux: %u bytes on stream %u, over its receive window (%u)",
				 h->length, h->stream, s->recv_win);
			return violation(ev);
		}
		s->recv_win -= h->length;
		if (ev->kind == P2P_YEV_NONE)
			ev->kind = P2P_YEV_DATA;
		ev->value = h->length;
	}
	if (h->flags & P2P_YAMUX_RST) {
		s->state = P2P_YS_FREE;
		ev->kind = P2P_YEV_RESET;
		return 0;
	}
	if (h->flags & P2P_YAMUX_FIN) {
		s->remote_fin = 1;
		maybe_free(s);
		if (ev->kind == P2P_YEV_NONE || ev->kind == P2P_YEV_OPENED)
			ev->kind = P2P_YEV_FIN;
		else
			ev->fin = 1;
	}
	return 0;
}

int
p2p_yamux_send(struct p2p_yamux *y, uint32_t id, uint32_t *n, int fin, struct p2p_yamux_hdr *out)
{
	struct p2p_yamux_stream *s = p2p_yamux_find(y, id);

	if (s == NULL || s->local_fin || s->state == P2P_YS_FREE)
		return -1;
	if (*n > s->send_win)
		*n = s->send_win;
	if (*n == 0 && !fin)
		return 0;
	s->send_win -= *n;
	hdr(out, P2P_YAMUX_DATA, fin ? P2P_YAMUX_FIN : 0, id, *n);
	if (fin) {
		s->local_fin = 1;
		maybe_free(s);
	}
	return 1;
}

int
p2p_yamux_consumed(struct p2p_yamux *y, uint32_t id, uint32_t n, struct p2p_yamux_hdr *out)
{
	struct p2p_yamux_stream *s = p2p_yamux_find(y, id);
	uint32_t delta;

	if (s == NULL)
		return 0;
	s->consumed += n;
	/* go-yamux's rule: update once half the window has been read */
	if (s->consumed < P2P_YAMUX_WINDOW / 2)
		return 0;
	delta = s->consumed;
	s->consumed = 0;
	s->recv_win += delta;
	hdr(out, P2P_YAMUX_WINDOW_UPDATE, 0, id, delta);
	return 1;
}

void
p2p_yamux_reset(struct p2p_yamux *y, uint32_t id, struct p2p_yamux_hdr *out)
{
	struct p2p_yamux_stream *s = p2p_yamux_find(y, id);

	if (s != NULL)
		s->state = P2P_YS_FREE;
	hdr(out, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_RST, id, 0);
}
