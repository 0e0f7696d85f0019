/*
 * Pure codecs of the WebSocket transport (tun_ws.c): the HTTP/1.1 upgrade
 * (RFC 6455 section 4), an HTTP proxy's answer to CONNECT, and frame
 * headers (section 5.2).  No I/O, no allocation: each parser takes what
 * has arrived and answers complete (1), incomplete (0) or malformed (-1,
 * with what was wrong in why), so bad input from the network is an error
 * line, never a crash (tests/unit/check_ws.c feeds it garbage).
 */
#include <ctype.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "byteorder.h"
#include "tunneld.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The end of the header block ("\r\n\r\n"): its length, 0 if not there yet,
 * -1 if the block is over TUN_WS_HDR_MAX. */
static long
hdr_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len && i < TUN_WS_HDR_MAX; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return (long)i + 1;
	return len >= TUN_WS_HDR_MAX ? -1 : 0;
}

/* Header name's value in the block [buf, buf + len): copied (trimmed, at
 * most cap - 1 bytes) into out; 0 if found, -1 if absent or too long. */
static int
hdr_get(const char *buf, size_t len, const char *name, char *out, size_t cap)
{
	const char *p = buf, *end = buf + len, *eol, *v;
	size_t nlen = strlen(name), vlen;

	/* skip the start line */
	if ((p = memchr(p, '\n', len)) == NULL)
		return -1;
	for (p++; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return -1;
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' || strncasecmp(p, name, nlen) != 0)
			continue;
		for (v = p + nlen + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		vlen = (size_t)(eol - v);
		while (vlen > 0 &&
		       (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= cap)
			return -1;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		return 0;
	}
	return -1;
}

/* Whether the comma list v holds token tok (case-insensitive). */
static int
has_token(const char *v, const char *tok)
{
	size_t tlen = strlen(tok);
	const char *p = v;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, tok, tlen) == 0 &&
		    (p[tlen] == '\0' || p[tlen] == ',' || p[tlen] == ' ' || p[tlen] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/* A printable, short copy of the start line for messages. */
static void
first_line(const char *buf, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 1 < cap && n < 60; i++) {
		if (buf[i] == '\r' || buf[i] == '\n')
			break;
		out[n++] = isprint((unsigned char)buf[i]) ? buf[i] : '?';
	}
	out[n] = '\0';
}

int
tun_ws_accept_key(const char *key, char out[TUN_WS_ACCEPT_LEN])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char cat[128];
	int n;

	n = snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);
	if (n < 0 || (size_t)n >= sizeof(cat))
		return -1;
	SHA1((const unsigned char *)cat, (size_t)n, md);
	sodium_bin2base64(out, TUN_WS_ACCEPT_LEN, md, sizeof(md), sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

void
tun_ws_new_key(char out[TUN_WS_KEY_LEN])
{
	unsigned char nonce[16];

	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2base64(out, TUN_WS_KEY_LEN, nonce, sizeof(nonce),
			  sodium_base64_VARIANT_ORIGINAL);
}

size_t
tun_ws_request(char *buf, size_t cap, const char *host, const char *key)
{
	int n;

	n = snprintf(buf, cap,
		     "GET " TUN_WS_PATH " HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "\r\n",
		     host, key);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/*
 * A head as hdr_end() finds it, with the refusals both sides make: one over
 * TUN_WS_HDR_MAX ("<what> over N bytes") or one that does not start with
 * k->start ("<refusal><its first line>')"): -1 with why.  Else 0 while it is
 * incomplete, or its length with line its first line.
 */
struct ws_head_kind {
	const char *start, *what, *refusal;
};
static const struct ws_head_kind ws_request = {"GET ", "upgrade request",
					       "not a WebSocket upgrade (starts '"};
static const struct ws_head_kind ws_answer = {"HTTP/", "upgrade answer",
					      "not an HTTP answer to the upgrade ('"};

static long
ws_head(const char *buf, size_t len, const struct ws_head_kind *k, char *line, size_t linecap,
	char *why, size_t whylen)
{
	size_t n = strlen(k->start);
	long end;

	if ((end = hdr_end(buf, len)) == -1) {
		snprintf(why, whylen, "%s over %d bytes", k->what, TUN_WS_HDR_MAX);
		return -1;
	}
	if (len >= n && memcmp(buf, k->start, n) != 0) {
		first_line(buf, len, line, linecap);
		snprintf(why, whylen, "%s%s')", k->refusal, line);
		return -1;
	}
	if (end > 0)
		first_line(buf, (size_t)end, line, linecap);
	return end;
}

int
tun_ws_parse_request(const char *buf, size_t len, size_t *used, char *key, size_t keycap, char *why,
		     size_t whylen)
{
	char v[256], line[64];
	unsigned char raw[32];
	size_t rawlen;
	long end;

	/* early refusal: it is not even a GET */
	if ((end = ws_head(buf, len, &ws_request, line, sizeof(line), why, whylen)) <= 0)
		return (int)end;
	if (len < 14 || strstr(line, " HTTP/1.1") == NULL) {
		snprintf(why, whylen, "not an HTTP/1.1 GET ('%s')", line);
		return -1;
	}
	if (hdr_get(buf, (size_t)end, "Upgrade", v, sizeof(v)) == -1 ||
	    !has_token(v, "websocket")) {
		snprintf(why, whylen, "no 'Upgrade: websocket' header");
		return -1;
	}
	if (hdr_get(buf, (size_t)end, "Connection", v, sizeof(v)) == -1 ||
	    !has_token(v, "upgrade")) {
		snprintf(why, whylen, "no 'Connection: Upgrade' header");
		return -1;
	}
	if (hdr_get(buf, (size_t)end, "Sec-WebSocket-Version", v, sizeof(v)) == -1 ||
	    strcmp(v, "13") != 0) {
		snprintf(why, whylen, "Sec-WebSocket-Version is not 13");
		return -1;
	}
	/* a base64 16-byte nonce: 24 characters */
	if (hdr_get(buf, (size_t)end, "Sec-WebSocket-Key", v, sizeof(v)) == -1 ||
	    sodium_base642bin(raw, sizeof(raw), v, strlen(v), NULL, &rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    rawlen != 16 || strlen(v) >= keycap) {
		snprintf(why, whylen, "missing or bad Sec-WebSocket-Key");
		return -1;
	}
	snprintf(key, keycap, "%s", v);
	*used = (size_t)end;
	return 1;
}

size_t
tun_ws_response(char *buf, size_t cap, const char *key)
{
	char acc[TUN_WS_ACCEPT_LEN];
	int n;

	if (tun_ws_accept_key(key, acc) == -1)
		return 0;
	n = snprintf(buf, cap,
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n"
		     "\r\n",
		     acc);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* "HTTP/1.x NNN ...": the status, or -1. */
static int
http_status(const char *buf, size_t len)
{
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
	    buf[8] != ' ' || !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]))
		return -1;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

int
tun_ws_parse_response(const char *buf, size_t len, const char *key, size_t *used, char *why,
		      size_t whylen)
{
	char v[256], acc[TUN_WS_ACCEPT_LEN], line[64];
	long end;
	int st;

	if ((end = ws_head(buf, len, &ws_answer, line, sizeof(line), why, whylen)) <= 0)
		return (int)end;
	if ((st = http_status(buf, (size_t)end)) != 101) {
		snprintf(why, whylen, "upgrade refused: '%s' (is the port the peer's wsPort?)",
			 line);
		return -1;
	}
	if (hdr_get(buf, (size_t)end, "Upgrade", v, sizeof(v)) == -1 ||
	    !has_token(v, "websocket")) {
		snprintf(why, whylen, "101 without 'Upgrade: websocket'");
		return -1;
	}
	if (tun_ws_accept_key(key, acc) == -1 ||
	    hdr_get(buf, (size_t)end, "Sec-WebSocket-Accept", v, sizeof(v)) == -1 ||
	    strcmp(v, acc) != 0) {
		snprintf(why, whylen, "bad Sec-WebSocket-Accept in the 101 answer");
		return -1;
	}
	*used = (size_t)end;
	return 1;
}

size_t
tun_http_connect_request(char *buf, size_t cap, const char *hostport, const char *auth)
{
	int n;

	n = snprintf(buf, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", hostport, hostport,
		     auth[0] ? "Proxy-Authorization: Basic " : "", auth, auth[0] ? "\r\n" : "");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int
tun_http_connect_response(const char *buf, size_t len, size_t *used, char *why, size_t whylen)
{
	char line[64];
	long end;
	int st;

	if ((end = hdr_end(buf, len)) == -1) {
		snprintf(why, whylen, "proxy answer over %d bytes", TUN_WS_HDR_MAX);
		return -1;
	}
	if (len >= 5 && strncmp(buf, "HTTP/", 5) != 0) {
		first_line(buf, len, line, sizeof(line));
		snprintf(why, whylen, "not an HTTP proxy ('%s')", line);
		return -1;
	}
	if (end == 0)
		return 0;
	first_line(buf, (size_t)end, line, sizeof(line));
	if ((st = http_status(buf, (size_t)end)) < 200 || st > 299) {
		snprintf(why, whylen, "proxy refused CONNECT: '%s'", line);
		return -1;
	}
	*used = (size_t)end;
	return 1;
}

int
tun_ws_frame_parse(const uint8_t *b, size_t len, int masked, struct tun_ws_frame *f, char *why,
		   size_t whylen)
{
	size_t need = 2;
	uint64_t plen;

	if (len < 2)
		return 0;
	memset(f, 0, sizeof(*f));
	f->fin = b[0] >> 7;
	f->opcode = b[0] & 0x0f;
	f->masked = b[1] >> 7;
	plen = b[1] & 0x7f;
	if (b[0] & 0x70) {
		snprintf(why, whylen, "frame with reserved bits set (0x%02x)", b[0]);
		return -1;
	}
	switch (f->opcode) {
	case TUN_WS_CONT:
	case TUN_WS_BINARY:
		break;
	case TUN_WS_CLOSE:
	case TUN_WS_PING:
	case TUN_WS_PONG:
		if (!f->fin || plen > 125) {
			snprintf(why, whylen, "control frame fragmented or over 125 bytes");
			return -1;
		}
		break;
	default:
		snprintf(why, whylen, "frame opcode %u (only binary and control frames are used)",
			 f->opcode);
		return -1;
	}
	if (f->masked != (masked ? 1 : 0)) {
		snprintf(why, whylen, masked ? "client frame not masked" : "server frame masked");
		return -1;
	}
	if (plen == 126)
		need += 2;
	else if (plen == 127)
		need += 8;
	if (f->masked)
		need += 4;
	if (len < need)
		return 0;
	if (plen == 126) {
		plen = be16_get(b + 2);
	} else if (plen == 127) {
		plen = be64_get(b + 2);
		if (plen >> 63) {
			snprintf(why, whylen, "frame length with the top bit set");
			return -1;
		}
	}
	if (f->masked)
		memcpy(f->mask, b + need - 4, 4);
	f->len = plen;
	f->hlen = need;
	return 1;
}

size_t
tun_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, const uint8_t *mask)
{
	size_t n = 2;

	out[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		be16_put(out + 2, (uint16_t)len);
		n = 4;
	} else {
		out[1] = 127;
		be64_put(out + 2, len);
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* Eight bytes at a time (the mask repeats every 4), then the tail. */
void
tun_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
	uint8_t pat[8];
	uint64_t m, w;
	size_t i;

	for (i = 0; i < 8; i++)
		pat[i] = mask[(off + i) & 3];
	memcpy(&m, pat, 8);
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= m;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= mask[(off + i) & 3];
}
