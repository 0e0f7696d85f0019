/*
 * Wire formats inside the tunnel, pure functions (tests/unit/check_tun.c).
 *
 *   record  = length u16 (big-endian) || AEAD ciphertext (<= 65535 bytes)
 *   plain   = frame*                   (a record carries one or more frames)
 *   frame   = type u8 || stream u32 || length u16 || payload
 *
 * Handshake messages use the same u16 length prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "tunneld.h"

static const char *ftype_names[TUN_F_MAX] = {
    [TUN_F_OPEN] = "OPEN",	 [TUN_F_OPEN_OK] = "OPEN_OK",	[TUN_F_OPEN_FAIL] = "OPEN_FAIL",
    [TUN_F_DATA] = "DATA",	 [TUN_F_WINDOW] = "WINDOW",	[TUN_F_FIN] = "FIN",
    [TUN_F_RST] = "RST",	 [TUN_F_PING] = "PING",		[TUN_F_PONG] = "PONG",
    [TUN_F_REKEY] = "REKEY",	 [TUN_F_GOAWAY] = "GOAWAY",	[TUN_F_REACH] = "REACH",
    [TUN_F_MIGRATE] = "MIGRATE", [TUN_F_OBSERVED] = "OBSERVED", [TUN_F_PUNCH] = "PUNCH",
    [TUN_F_RELAYS] = "RELAYS",
};

const char *
tun_ftype_name(int t)
{
	if (t <= 0 || t >= TUN_F_MAX || ftype_names[t] == NULL)
		return "?";
	return ftype_names[t];
}

/* Returns the bytes written, 0 if it does not fit. */
size_t
tun_frame_put(uint8_t *buf, size_t cap, uint8_t type, uint32_t sid, const void *payload, size_t len)
{
	if (len > 0xffff || cap < TUN_FRAME_HDR + len)
		return 0;
	buf[0] = type;
	be32_put(buf + 1, sid);
	be16_put(buf + 5, (uint16_t)len);
	if (len > 0)
		memcpy(buf + TUN_FRAME_HDR, payload, len);
	return TUN_FRAME_HDR + len;
}

int
tun_frame_get(const uint8_t *buf, size_t len, struct tun_frame *f, size_t *used)
{
	if (len < TUN_FRAME_HDR)
		return 0;
	f->type = buf[0];
	f->sid = be32_get(buf + 1);
	f->len = be16_get(buf + 5);
	if (len < TUN_FRAME_HDR + (size_t)f->len)
		return 0;
	f->payload = buf + TUN_FRAME_HDR;
	*used = TUN_FRAME_HDR + f->len;
	if (f->type == 0 || f->type >= TUN_F_MAX)
		return -1;
	switch (f->type) {
	case TUN_F_WINDOW:
		return f->len == 4 ? 1 : -1;
	case TUN_F_PING:
	case TUN_F_PONG:
		return f->len == 8 ? 1 : -1;
	case TUN_F_OPEN_OK:
	case TUN_F_FIN:
	case TUN_F_REKEY:
		return f->len == 0 ? 1 : -1;
	case TUN_F_OPEN:
	case TUN_F_DATA:
	case TUN_F_OPEN_FAIL:
	case TUN_F_RST:
		return f->sid != 0 ? 1 : -1;
	case TUN_F_REACH:
		return f->sid == 0 && f->len >= 1 && f->len <= 200 ? 1 : -1;
	case TUN_F_MIGRATE:
		return f->sid == 0 && f->len == 16 ? 1 : -1;
	case TUN_F_OBSERVED:
		return f->sid == 0 && f->len >= 1 && f->len < 64 ? 1 : -1;
	case TUN_F_PUNCH:
		return f->sid == 0 && f->len >= 2 && f->len < 2 + 64 ? 1 : -1;
	case TUN_F_RELAYS: /* the payload is checked by tun_relaysel_input() */
		return f->sid == 0 && f->len >= 1 ? 1 : -1;
	}
	return 1;
}

size_t
tun_open_encode(const struct tun_open_req *r, uint8_t *buf, size_t cap)
{
	size_t il = strnlen(r->ip, sizeof(r->ip) - 1),
	       cl = strnlen(r->client, sizeof(r->client) - 1);

	if (cap < 5 + il + cl)
		return 0;
	buf[0] = r->proto;
	be16_put(buf + 1, r->port);
	buf[3] = (uint8_t)il;
	memcpy(buf + 4, r->ip, il);
	buf[4 + il] = (uint8_t)cl;
	memcpy(buf + 5 + il, r->client, cl);
	return 5 + il + cl;
}

int
tun_text_ok(const uint8_t *p, size_t n, int space)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < (space ? 0x20 : 0x21) || p[i] > 0x7e)
			return 0;
	return 1;
}

int
tun_open_decode(const uint8_t *buf, size_t len, struct tun_open_req *r)
{
	size_t il, cl;

	memset(r, 0, sizeof(*r));
	if (len < 5)
		return -1;
	r->proto = buf[0];
	r->port = be16_get(buf + 1);
	il = buf[3];
	if (il == 0 || il >= sizeof(r->ip) || len < 5 + il)
		return -1;
	cl = buf[4 + il];
	if (cl >= sizeof(r->client) || len != 5 + il + cl)
		return -1;
	if (!tun_text_ok(buf + 4, il, 1) || !tun_text_ok(buf + 5 + il, cl, 1))
		return -1;
	memcpy(r->ip, buf + 4, il);
	memcpy(r->client, buf + 5 + il, cl);
	if (r->proto > 1 || r->port == 0)
		return -1;
	return 0;
}

/* TUN_PROTO_CIRCUIT || version || kind || namelen u8 || name */
size_t
tun_circuit_encode(uint8_t kind, const char *name, uint8_t *buf, size_t cap)
{
	size_t nl = strnlen(name, 253);

	if (nl == 0 || cap < 4 + nl)
		return 0;
	buf[0] = TUN_PROTO_CIRCUIT;
	buf[1] = TUN_CIRCUIT_V1;
	buf[2] = kind;
	buf[3] = (uint8_t)nl;
	memcpy(buf + 4, name, nl);
	return 4 + nl;
}

int
tun_circuit_decode(const uint8_t *buf, size_t len, char *name)
{
	size_t nl;

	if (len < 5 || buf[0] != TUN_PROTO_CIRCUIT || buf[1] != TUN_CIRCUIT_V1)
		return -1;
	if (buf[2] != TUN_CIRC_TO && buf[2] != TUN_CIRC_FROM)
		return -1;
	nl = buf[3];
	if (nl == 0 || nl > 253 || len != 4 + nl || !tun_text_ok(buf + 4, nl, 1))
		return -1;
	memcpy(name, buf + 4, nl);
	name[nl] = '\0';
	return buf[2];
}

/* version u8 || fp 8 hex || namelen u8 || name [|| caps u8]: the caps
 * byte only when h->caps is not 0 (a hello from before it has none: such a
 * peer gets ChaChaPoly and no early DATA). */
size_t
tun_hello_encode(const struct tun_hello *h, uint8_t *buf, size_t cap)
{
	size_t nl = strnlen(h->name, sizeof(h->name) - 1), len = 10 + nl + (h->caps != 0);

	if (cap < len || strlen(h->fp) != 8)
		return 0;
	buf[0] = h->version;
	memcpy(buf + 1, h->fp, 8);
	buf[9] = (uint8_t)nl;
	memcpy(buf + 10, h->name, nl);
	if (h->caps != 0)
		buf[10 + nl] = h->caps;
	return len;
}

uint8_t
tun_caps_ours(void)
{
	static int ours = -1;
	const char *e;

	if (ours == -1) {
		ours = TUN_CAP_CHACHAPOLY | TUN_CAP_EARLY;
		e = getenv("EDGEMESH_TUN_CIPHERS");
		if (noise_aes_fast() && (e == NULL || strcmp(e, "chachapoly") != 0))
			ours |= TUN_CAP_AESGCM;
		if (e != NULL && strcmp(e, "v0") == 0)
			ours = 0;
	}
	return (uint8_t)ours;
}

int
tun_cipher_pick(uint8_t ours, uint8_t theirs)
{
	return (ours & theirs & TUN_CAP_AESGCM) != 0 ? NOISE_AESGCM : NOISE_CHACHAPOLY;
}

int
tun_hello_decode(const uint8_t *buf, size_t len, struct tun_hello *h)
{
	size_t nl, i;

	memset(h, 0, sizeof(*h));
	if (len < 10 || buf[0] != 1)
		return -1;
	h->version = buf[0];
	for (i = 0; i < 8; i++)
		if (!((buf[1 + i] >= '0' && buf[1 + i] <= '9') ||
		      (buf[1 + i] >= 'a' && buf[1 + i] <= 'f')))
			return -1;
	memcpy(h->fp, buf + 1, 8);
	nl = buf[9];
	if (nl == 0 || nl >= sizeof(h->name) || len < 10 + nl || len > 11 + nl ||
	    !tun_text_ok(buf + 10, nl, 1))
		return -1;
	memcpy(h->name, buf + 10, nl);
	if (len == 11 + nl) { /* a list must offer ChaChaPoly */
		if (tun_caps_ours() == 0)
			return -1; /* EDGEMESH_TUN_CIPHERS=v0: as before the caps byte */
		h->caps = buf[10 + nl];
		if ((h->caps & TUN_CAP_CHACHAPOLY) == 0)
			return -1;
	}
	return 0;
}

void
tun_fp_short(const char *fp, char out[16])
{
	snprintf(out, 16, "%.4s\xe2\x80\xa6", fp);
}
