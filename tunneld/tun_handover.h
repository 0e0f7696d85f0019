/*
 * The hand-over's wire (tun_handover_wire.c): a growing buffer of typed,
 * length-prefixed records, its reader, the sealed blob, and the carrier
 * socket that moves the blob and the fds to the next process.
 *
 * Blob: a header in the clear, authenticated as associated data, then the
 * records sealed with XChaCha20-Poly1305 under a key derived from the
 * node's static private key (stateDir tunnel.key, readable by tunneld's
 * user only), so whoever parks it (the controller) sees ciphertext only.
 *
 *   magic "EMTUNHO\0" | version u16 | build[32] | pid u32 | created_us u64 |
 *   nfds u32 | nonce[24] | ciphertext (records || tag)
 *
 * A record: type u8 | len u32 | fields.  A reader takes the fields it knows
 * and skips the rest of the record, and skips record types it does not
 * know: a newer build appends fields and records within one version; a
 * change older builds cannot skip bumps the version, which they refuse.
 *
 * Carrier: one end of a SOCK_SEQPACKET socketpair; messages of at most
 * HO_FDS_PER_MSG fds (SCM_RIGHTS), the first fd the blob's memfd.  The fds
 * in its queue stay open while anyone holds the socket: the next process
 * (an exec) or the controller (FD_STORE, fetched back by the next process).
 */
#ifndef TUN_HANDOVER_H
#define TUN_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#define HO_MAGIC       "EMTUNHO" /* with its NUL: 8 bytes */
#define HO_VERSION     1
#define HO_HDR_LEN     (8 + 2 + 32 + 4 + 8 + 4 + 24)
#define HO_FDS_PER_MSG 250
#define HO_NOFD	       0xffffffffu
/* Parked in the controller under this key: "~N" asks it to close what nobody
 * fetched within N seconds (a stop with no start: then peers see the
 * sessions end).  The next process refuses one older than that. */
#define HO_PARK_SECS 10
#define HO_CTL_KEY   "handover~10"
#define HO_ENV	     "EDGEMESH_TUNNELD_HANDOVER_FD"

enum ho_rec {
	HR_GLOBAL = 1,	/* psk, listener, tunnel.sock (a reload's) */
	HR_SESSION = 2, /* an up session, the ids of our opens to reset */
	HR_STREAM = 3,	/* a stream of the last session */
	HR_WS = 4,	/* the WebSocket carrying the last session (tun_ws.c) */
	HR_END = 255,
};

/* Writer: contents wiped when freed (keys pass through it). */
struct ho_buf {
	uint8_t *p;
	size_t len, cap;
	size_t rec; /* start of the open record */
	int *fds;
	size_t nfds, fdcap;
};
void ho_put_u8(struct ho_buf *, uint8_t);
void ho_put_u16(struct ho_buf *, uint16_t);
void ho_put_u32(struct ho_buf *, uint32_t);
void ho_put_u64(struct ho_buf *, uint64_t);
void ho_put_bytes(struct ho_buf *, const void *, size_t); /* u32 length first */
void ho_put_str(struct ho_buf *, const char *);		  /* u16 length first */
void ho_put_fd(struct ho_buf *, int fd);		  /* an index into the carried fds */
void ho_rec_begin(struct ho_buf *, uint8_t type);
void ho_rec_end(struct ho_buf *);
void ho_buf_free(struct ho_buf *);

/* Reader: err set (and every later get a no-op) once something does not fit. */
struct ho_rd {
	const uint8_t *p;
	size_t len, off;
	const char *err;
};
uint8_t ho_get_u8(struct ho_rd *);
uint16_t ho_get_u16(struct ho_rd *);
uint32_t ho_get_u32(struct ho_rd *);
uint64_t ho_get_u64(struct ho_rd *);
const uint8_t *ho_get_bytes(struct ho_rd *, size_t *len);
void ho_get_str(struct ho_rd *, char *out, size_t cap);
/* The next record: its type and a reader over its fields; 0 at the end, -1 if malformed. */
int ho_next_rec(struct ho_rd *, uint8_t *type, struct ho_rd *fields);

/* Seal the records (and the fds they name) into a carrier socket; -1 with err. */
int ho_send(const struct ho_buf *, const uint8_t *spriv, int *carrier, char *err, size_t errlen);

/* What came through a carrier, opened. */
struct ho_in {
	int *fds; /* fds[0]: the blob */
	uint8_t *used;
	size_t nfds;
	uint8_t *plain; /* sodium_malloc */
	size_t plen;
	char build[33];
	uint32_t pid;
	double age; /* seconds since it was sealed */
};
/* Read every message of the carrier (closed here); -1 with err. */
int ho_recv(int carrier, struct ho_in *, char *err, size_t errlen);
/* Check and open the blob; -1 with err (refused: the caller starts clean). */
int ho_open(struct ho_in *, const uint8_t *spriv, char *err, size_t errlen);
/* An fd named by index, taken once; -1 if out of range or taken. */
int ho_take_fd(struct ho_in *, uint32_t idx);
/* Closes what nobody took; returns how many; wipes and frees. */
size_t ho_in_free(struct ho_in *);

#endif
