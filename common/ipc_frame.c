/* Frame headers and strict message unpacking. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "ipc.h"

void
ipc_hdr_encode(const struct ipc_hdr *h, uint8_t out[IPC_HDR_LEN])
{
	be16_put(out, h->type);
	be16_put(out + 2, h->flags);
	be32_put(out + 4, h->len);
}

int
ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], size_t max, struct ipc_hdr *h, char *err,
	       size_t errlen)
{
	h->type = be16_get(in);
	h->flags = be16_get(in + 2);
	h->len = be32_get(in + 4);
	if (!ipc_type_known(h->type)) {
		snprintf(err, errlen, "unknown message type %u", h->type);
		return -1;
	}
	if (h->flags & ~IPC_F_FD) {
		snprintf(err, errlen, "%s: unknown flags 0x%x", ipc_type_name(h->type), h->flags);
		return -1;
	}
	if (h->len > max) {
		snprintf(err, errlen, "%s: frame of %u bytes exceeds the limit of %zu",
			 ipc_type_name(h->type), h->len, max);
		return -1;
	}
	if (h->len == 0) {
		snprintf(err, errlen, "%s: empty frame", ipc_type_name(h->type));
		return -1;
	}
	return 0;
}

static uint64_t
be(const uint8_t *p, size_t n)
{
	return n == 1 ? *p : n == 2 ? be16_get(p) : be32_get(p);
}

/*
 * Walk the value's headers before msgpack-c sees it: msgpack-c allocates a
 * container's claimed size up front, so every claimed element must fit in
 * the bytes that remain (each takes at least one).  This bounds what a
 * frame can make us allocate by its own length.
 */
static int
msgpack_prescan(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	size_t off = 0, hdr, body;
	uint64_t pending = 1, k;
	uint8_t b;

	while (pending > 0) {
		if (off >= len)
			goto truncated;
		b = p[off];
		hdr = 1, body = 0, k = 0;
		if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1)) {
			;
		} else if (b >= 0x80 && b <= 0x8f) {
			k = 2 * (uint64_t)(b & 0x0f);
		} else if (b >= 0x90 && b <= 0x9f) {
			k = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			body = b & 0x1f;
		} else {
			static const uint8_t fixed[] = {/* 0xc4..0xdf: header bytes */
							2, 3, 5, 3, 4, 6,  5,  9, 2, 3, 5, 9, 2, 3,
							5, 9, 3, 4, 6, 10, 18, 2, 3, 5, 3, 5, 3, 5};
			if (b == 0xc1)
				goto invalid;
			hdr = fixed[b - 0xc4];
			if (off + hdr > len)
				goto truncated;
			switch (b) {
			case 0xc4:
			case 0xc5:
			case 0xc6: /* bin */
			case 0xd9:
			case 0xda:
			case 0xdb: /* str */
				body = be(p + off + 1, b == 0xc4 || b == 0xd9	? 1
						       : b == 0xc5 || b == 0xda ? 2
										: 4);
				break;
			case 0xc7:
			case 0xc8:
			case 0xc9: /* ext: len, type */
				/* the type byte is in hdr */
				body = be(p + off + 1, b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4);
				break;
			case 0xdc:
			case 0xdd: /* array */
				k = be(p + off + 1, b == 0xdc ? 2 : 4);
				break;
			case 0xde:
			case 0xdf: /* map */
				k = 2 * be(p + off + 1, b == 0xde ? 2 : 4);
				break;
			default: /* numbers, fixext */
				break;
			}
		}
		if (off + hdr > len || body > len - off - hdr)
			goto truncated;
		off += hdr + body;
		pending--;
		if (k > len - off) {
			snprintf(err, errlen, "a container claims %llu elements in %zu bytes",
				 (unsigned long long)k, len - off);
			return -1;
		}
		pending += k;
	}
	return 0;
truncated:
	snprintf(err, errlen, "truncated");
	return -1;
invalid:
	snprintf(err, errlen, "invalid byte 0x%02x at %zu", b, off);
	return -1;
}

int
ipc_msg_parse(struct ipc_msg *m, uint16_t type, const uint8_t *payload, size_t len, char *err,
	      size_t errlen)
{
	size_t off = 0;
	msgpack_unpack_return rc;
	char err2[128];

	m->type = type;
	m->obj = NULL;
	if (msgpack_prescan(payload, len, err2, sizeof(err2)) == -1) {
		snprintf(err, errlen, "%s: malformed msgpack (%s)", ipc_type_name(type), err2);
		return -1;
	}
	msgpack_unpacked_init(&m->up);
	rc = msgpack_unpack_next(&m->up, (const char *)payload, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS) {
		snprintf(err, errlen, "%s: malformed msgpack (%s)", ipc_type_name(type),
			 rc == MSGPACK_UNPACK_CONTINUE ? "truncated" : "invalid");
		msgpack_unpacked_destroy(&m->up);
		return -1;
	}
	if (off != len) {
		snprintf(err, errlen, "%s: %zu trailing bytes after the value", ipc_type_name(type),
			 len - off);
		msgpack_unpacked_destroy(&m->up);
		return -1;
	}
	m->obj = &m->up.data;
	return 0;
}

void
ipc_msg_clear(struct ipc_msg *m)
{
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->obj != NULL) {
		msgpack_unpacked_destroy(&m->up);
		m->obj = NULL;
	}
	free(m->owned);
	m->owned = NULL;
}

int
ipc_msg_take_fd(struct ipc_msg *m)
{
	int fd = m->fd;

	m->fd = -1;
	return fd;
}
