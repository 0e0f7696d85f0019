/* Frame headers and strict message unpacking. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

void
ipc_hdr_encode(const struct ipc_hdr *h, uint8_t out[IPC_HDR_LEN])
{
	out[0] = h->type >> 8;
	out[1] = h->type & 0xff;
	out[2] = h->flags >> 8;
	out[3] = h->flags & 0xff;
	out[4] = h->len >> 24;
	out[5] = (h->len >> 16) & 0xff;
	out[6] = (h->len >> 8) & 0xff;
	out[7] = h->len & 0xff;
}

int
ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], size_t max, struct ipc_hdr *h, char *err,
    size_t errlen)
{
	h->type = (uint16_t)(in[0] << 8 | in[1]);
	h->flags = (uint16_t)(in[2] << 8 | in[3]);
	h->len = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
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

int
ipc_msg_parse(struct ipc_msg *m, uint16_t type, const uint8_t *payload, size_t len, char *err,
    size_t errlen)
{
	size_t off = 0;
	msgpack_unpack_return rc;

	m->type = type;
	m->obj = NULL;
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
