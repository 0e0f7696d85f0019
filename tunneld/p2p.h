/*
 * EdgeMesh (libp2p) wire codecs: the pieces a tunneld needs to talk to
 * EdgeMesh v1.17 agents (issue 15).  Pure code: no I/O, no event loop, no
 * allocation; nothing in the daemons calls it yet (ARCHITECTURE.md, "EdgeMesh
 * interop (in progress)", says how it will plug in).
 *
 * Parsers answer complete (1), incomplete (0: wait for more bytes) or
 * malformed (-1, with what was wrong in why, a NUL-terminated line of at
 * most whylen bytes), so hostile bytes are an error line, never a crash
 * (tests/unit/check_p2p.c, tests/fuzz/fuzz_p2p_*.c).
 */
#ifndef P2P_H
#define P2P_H

#include <stddef.h>
#include <stdint.h>

/* p2p_gorand_tab.c, p2p_peerid.c: Go's math/rand and peer IDs from node
 * names (edgemesh-features.md section 5.2) */
#define P2P_GORAND_LEN 607
#define P2P_GORAND_TAP 273
extern const int64_t p2p_gorand_cooked[P2P_GORAND_LEN];

/* Go's rand.New(rand.NewSource(seed)): the additive lagged Fibonacci
 * generator and its Read (7 bytes per Int63, low byte first). */
struct p2p_gorand {
	int tap, feed;
	uint64_t vec[P2P_GORAND_LEN];
	uint64_t readval;
	int readpos;
};

void p2p_gorand_seed(struct p2p_gorand *, int64_t seed);
int64_t p2p_gorand_int63(struct p2p_gorand *);
void p2p_gorand_read(struct p2p_gorand *, uint8_t *out, size_t n);

/* a base58btc Ed25519 peer ID is 52 characters ("12D3KooW..."); 64 with NUL */
#define P2P_PEERID_MAX 64
#define P2P_PEERID_BIN 38 /* 00 24 08 01 12 20 || pub32 */

/* base58btc (Bitcoin alphabet): encode n bytes (at most 128) into out
 * (NUL-terminated); the length written, or 0 if n or cap does not fit. */
size_t p2p_base58_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* decode the NUL-terminated s into out; the length, or -1 (why) on a
 * character outside the alphabet or a result over cap bytes. */
long p2p_base58_decode(const char *s, uint8_t *out, size_t cap, char *why, size_t whylen);

/* The Ed25519 key EdgeMesh derives from a node name (GenerateKeyPairWithString):
 * MD5(name) seeds Go's math/rand, whose first 32 bytes are the Ed25519
 * seed.  sk is libsodium's 64-byte secret key (may be NULL).  -1 (why) for
 * the empty name, which EdgeMesh refuses too. */
int p2p_key_from_name(const char *name, size_t len, uint8_t pk[32], uint8_t sk[64], char *why,
		      size_t whylen);
/* The peer ID of an Ed25519 public key: base58btc of the identity multihash
 * (00 24) of the protobuf PublicKey {Type: Ed25519, Data: pk}. */
void p2p_peerid_from_pk(const uint8_t pk[32], char out[P2P_PEERID_MAX]);
int p2p_peerid_from_name(const char *name, size_t len, char out[P2P_PEERID_MAX], char *why,
			 size_t whylen);
/* The Ed25519 public key inside a base58 peer ID (identity multihash of an
 * Ed25519 PublicKey); -1 (why) for anything else. */
int p2p_peerid_to_pk(const char *peerid, uint8_t pk[32], char *why, size_t whylen);

/* p2p_pnet.c: libp2p private networks (pnet, XSalsa20 over the whole
 * connection, a random 24-byte nonce sent first by each side) */
#define P2P_PNET_KEY	32
#define P2P_PNET_NONCE	24
#define P2P_PNET_HEADER "/key/swarm/psk/1.0.0/"

/* EdgeMesh's PSK from the bytes of the PSK file (GeneratePSKReader): the
 * key file "/key/swarm/psk/1.0.0/\n/base64/\n" || hex(sha256(file)), i.e.
 * the first 32 bytes of the base64 decoding of that 64-character hex text.
 * keyfile (may be NULL) receives that key file text, NUL-terminated. */
#define P2P_PNET_KEYFILE_MAX 128
void p2p_pnet_psk_from_file(const uint8_t *file, size_t len, uint8_t psk[P2P_PNET_KEY],
			    char keyfile[P2P_PNET_KEYFILE_MAX]);
/* A libp2p V1 PSK key file (header line, then /base16/, /base64/ or /bin/,
 * then the key); -1 (why) when malformed or short. */
int p2p_pnet_parse_keyfile(const uint8_t *buf, size_t len, uint8_t psk[P2P_PNET_KEY], char *why,
			   size_t whylen);

/* One direction of a pnet connection: XSalsa20(psk, nonce) keystream xor,
 * continuing across calls at any byte offset. */
struct p2p_pnet_dir {
	uint8_t key[P2P_PNET_KEY];
	uint8_t nonce[P2P_PNET_NONCE];
	uint64_t off;
};

void p2p_pnet_dir_init(struct p2p_pnet_dir *, const uint8_t psk[P2P_PNET_KEY],
		       const uint8_t nonce[P2P_PNET_NONCE]);
void p2p_pnet_xor(struct p2p_pnet_dir *, uint8_t *out, const uint8_t *in, size_t n);
void p2p_pnet_dir_wipe(struct p2p_pnet_dir *);

/* p2p_sniff.c: what an accepted connection speaks, from its first bytes
 * (psk: the pnet key from our PSK file, NULL for none).  MORE: wait (a
 * connection that stops short of P2P_SNIFF_LEN bytes is ours: libp2p
 * dialers send more at once). */
#define P2P_SNIFF_LEN 44 /* nonce + the 20-byte multistream header */

enum p2p_sniff_kind {
	P2P_SNIFF_MORE = 0,
	P2P_SNIFF_OURS = 1,
	P2P_SNIFF_PNET = 2,  /* libp2p, pnet with our PSK */
	P2P_SNIFF_PLAIN = 3, /* libp2p without pnet */
};

int p2p_sniff(const uint8_t *buf, size_t len, const uint8_t psk[P2P_PNET_KEY]);

/* p2p_varint.c: unsigned LEB128 (multiformats uvarint, protobuf varint) */
#define P2P_UVARINT_MAX 10
size_t p2p_uvarint_put(uint8_t *out, uint64_t v);
/* 1 (value, *used bytes), 0 incomplete, -1 (why) over 10 bytes / 64 bits
 * or not minimal where minimal is asked (multiformats requires it). */
int p2p_uvarint_get(const uint8_t *buf, size_t len, uint64_t *v, size_t *used, int minimal,
		    char *why, size_t whylen);
/* A message's uvarint length prefix: the same, why then "what: <the varint's fault>". */
int p2p_uvarint_prefix(const uint8_t *buf, size_t len, int minimal, const char *what, uint64_t *n,
		       size_t *hdr, char *why, size_t whylen);

/* p2p_mss.c: multistream-select 1.0 messages: uvarint length, then the
 * protocol id (or "na", "ls") and "\n" */
#define P2P_MSS_PROTO "/multistream/1.0.0"
#define P2P_MSS_NA    "na"
#define P2P_MSS_MAX   1024 /* our cap on one message (go-multistream's is 64 KiB) */

/* the message for line (without its "\n"); bytes written, 0 if cap is too
 * small or line is empty, over P2P_MSS_MAX or holds a "\n" */
size_t p2p_mss_encode(uint8_t *out, size_t cap, const char *line);
/* one message: the line (without "\n") into line[cap], *used bytes */
int p2p_mss_parse(const uint8_t *buf, size_t len, char *line, size_t cap, size_t *used, char *why,
		  size_t whylen);
/* the next message of buf[*off, len): 1 with its line (*off moved past it),
 * 0 for more bytes (or none left), -1 with why */
int p2p_mss_next(const uint8_t *buf, size_t len, size_t *off, char *line, size_t cap, char *why,
		 size_t whylen);

/* p2p_yamux.c: yamux frame headers (hashicorp/yamux spec.md) */
#define P2P_YAMUX_HDR	 12
#define P2P_YAMUX_WINDOW (256 * 1024) /* initial stream window */

enum p2p_yamux_type {
	P2P_YAMUX_DATA = 0,
	P2P_YAMUX_WINDOW_UPDATE = 1,
	P2P_YAMUX_PING = 2,
	P2P_YAMUX_GO_AWAY = 3,
};

enum p2p_yamux_flag {
	P2P_YAMUX_SYN = 1,
	P2P_YAMUX_ACK = 2,
	P2P_YAMUX_FIN = 4,
	P2P_YAMUX_RST = 8,
};

enum p2p_yamux_goaway {
	P2P_YAMUX_GOAWAY_NORMAL = 0,
	P2P_YAMUX_GOAWAY_PROTO = 1,
	P2P_YAMUX_GOAWAY_INTERNAL = 2,
};

struct p2p_yamux_hdr {
	uint8_t version, type;
	uint16_t flags;
	uint32_t stream;
	uint32_t length; /* data: payload bytes; window: delta; ping: opaque; go away: code */
};

void p2p_yamux_encode(uint8_t out[P2P_YAMUX_HDR], const struct p2p_yamux_hdr *);
int p2p_yamux_parse(const uint8_t *buf, size_t len, struct p2p_yamux_hdr *, char *why,
		    size_t whylen);
const char *p2p_yamux_type_name(unsigned type);

/* p2p_yamux_sm.c: a yamux session's state (streams, windows, pings, go
 * away); the caller owns the stream table (a slot is free again once both
 * sides sent FIN, or on RST) */
enum p2p_yamux_state { P2P_YS_FREE = 0, P2P_YS_SYN_SENT, P2P_YS_OPEN };

struct p2p_yamux_stream {
	uint32_t id;
	uint8_t state, local_fin, remote_fin;
	uint32_t send_win; /* bytes we may still send */
	uint32_t recv_win; /* bytes the peer may still send */
	uint32_t consumed; /* read by the application since our last update */
};

struct p2p_yamux {
	int client; /* odd stream ids: the side that dialled the connection */
	uint32_t next_id;
	int goaway_rx, goaway_tx;
	struct p2p_yamux_stream *tab;
	size_t cap;
};

enum p2p_yamux_evkind {
	P2P_YEV_NONE = 0,
	P2P_YEV_ACCEPT, /* the peer opened stream (our ACK in out) */
	P2P_YEV_OPENED, /* our SYN was acknowledged */
	P2P_YEV_DATA,	/* value payload bytes follow the header */
	P2P_YEV_FIN,	/* the peer will send no more on stream */
	P2P_YEV_RESET,	/* stream reset by the peer */
	P2P_YEV_PONG,	/* answer to our ping (value: its opaque) */
	P2P_YEV_GOAWAY, /* value: the code; open no more streams */
	P2P_YEV_ERROR,	/* protocol violation: send out (go away), close */
};

struct p2p_yamux_ev {
	int kind;
	uint32_t stream, value;
	int fin;  /* DATA that also carried FIN */
	int send; /* out is a header to send */
	struct p2p_yamux_hdr out;
};

void p2p_yamux_init(struct p2p_yamux *, int client, struct p2p_yamux_stream *tab, size_t cap);
struct p2p_yamux_stream *p2p_yamux_find(struct p2p_yamux *, uint32_t id);
/* a new stream: its id and the SYN to send; -1 when the table is full or
 * the peer went away */
int p2p_yamux_open(struct p2p_yamux *, struct p2p_yamux_hdr *out, uint32_t *id);
/* one received header (ev->out to send when ev->send); a data frame's
 * h->length payload bytes follow it: the caller hands them to the stream,
 * or drops them when ev->kind is NONE (a stream already freed).  -1 (why)
 * on a violation: ev->out is the go away to send before closing. */
int p2p_yamux_rx(struct p2p_yamux *, const struct p2p_yamux_hdr *, struct p2p_yamux_ev *, char *why,
		 size_t whylen);
/* before sending *n bytes (and FIN if fin): *n cut to the window; 1 with
 * the header in out, 0 when the window is closed, -1 for a stream not
 * open for sending */
int p2p_yamux_send(struct p2p_yamux *, uint32_t id, uint32_t *n, int fin,
		   struct p2p_yamux_hdr *out);
/* the application read n bytes of stream: 1 with a window update in out
 * once half the window was read (go-yamux's rule), else 0 */
int p2p_yamux_consumed(struct p2p_yamux *, uint32_t id, uint32_t n, struct p2p_yamux_hdr *out);
void p2p_yamux_reset(struct p2p_yamux *, uint32_t id, struct p2p_yamux_hdr *out);

/* p2p_pb.c: EdgeMesh's stream messages (proto2), varint-delimited, at most
 * 4096 bytes (protoio MaxReadSize): Proxy on /libp2p/tunnel-proxy/1.0.0,
 * Discovery on /libp2p/tunnel-discovery/1.0.0 */
#define P2P_PROXY_PROTO	    "/libp2p/tunnel-proxy/1.0.0"
#define P2P_DISCOVERY_PROTO "/libp2p/tunnel-discovery/1.0.0"
#define P2P_PB_MAX	    4096

enum p2p_pb_type { P2P_PB_CONNECT = 0, P2P_PB_SUCCESS = 1, P2P_PB_FAILED = 2 };

/* Proxy {type=1, protocol=2, node_name=3, ip=4, port=5}; Discovery uses
 * fields 1-3 only.  has bits say which fields were present. */
enum {
	P2P_PB_HAS_TYPE = 1,
	P2P_PB_HAS_PROTOCOL = 2,
	P2P_PB_HAS_NODE = 4,
	P2P_PB_HAS_IP = 8,
	P2P_PB_HAS_PORT = 16,
};

struct p2p_pb_msg {
	unsigned has;
	int32_t type;
	char protocol[16];
	char node_name[256];
	char ip[64];
	int32_t port;
};

/* the delimited message (uvarint length, then fields in number order);
 * bytes written, 0 if cap is too small */
size_t p2p_pb_encode(uint8_t *out, size_t cap, const struct p2p_pb_msg *);
/* one delimited message; unknown fields are skipped, as protobuf does */
int p2p_pb_parse(const uint8_t *buf, size_t len, struct p2p_pb_msg *, size_t *used, char *why,
		 size_t whylen);

/* One field of a protobuf body [*p, end): its number, wire type, varint
 * value (or length) and bytes (length-delimited, fixed32/64); *p moves past
 * it.  1 a field, 0 at end, -1 (why) malformed or a group. */
enum { P2P_PB_WT_VARINT = 0, P2P_PB_WT_I64 = 1, P2P_PB_WT_LEN = 2, P2P_PB_WT_I32 = 5 };

struct p2p_pb_field {
	unsigned num, wt;
	uint64_t v;
	const uint8_t *data;
	size_t len;
};

int p2p_pb_next(const uint8_t **p, const uint8_t *end, struct p2p_pb_field *, char *why,
		size_t whylen);

/* p2p_noisepl.c: the libp2p Noise handshake payload
 *   NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2;
 *     NoiseExtensions extensions = 4; }  NoiseExtensions { repeated string
 *     stream_muxers = 2; }
 * identity_key is the protobuf PublicKey {Type: Ed25519, Data: pub32};
 * identity_sig signs "noise-libp2p-static-key:" || the X25519 static key. */
#define P2P_NOISE_SIG_PREFIX "noise-libp2p-static-key:"
#define P2P_NOISEPL_MAX	     512

/* our payload, signed with the Ed25519 secret key sk (libsodium's 64
 * bytes); muxer (may be NULL) is offered in extensions.stream_muxers;
 * bytes written, 0 if cap is too small */
size_t p2p_noisepl_encode(uint8_t *out, size_t cap, const uint8_t sk[64],
			  const uint8_t static_pk[32], const char *muxer);
/* the peer's payload: its Ed25519 key (pk) once the signature over its
 * static key verifies; *yamux says whether it offered /yamux/1.0.0.
 * -1 (why) for anything else (no key, not Ed25519, bad signature, ...). */
int p2p_noisepl_verify(const uint8_t *buf, size_t len, const uint8_t static_pk[32], uint8_t pk[32],
		       int *yamux, char *why, size_t whylen);

/* p2p_noise.c: libp2p's handshake, Noise_XX_25519_ChaChaPoly_SHA256 (empty
 * prologue, no PSK); messages travel as u16 length + message.  After the
 * third message, split gives this side's send and receive keys for
 * noise_cs_init() (ChaChaPoly records, nonce 4 zero bytes || LE64(n)). */
struct p2p_noise {
	uint8_t ck[32], h[32], k[32];
	uint64_t n;
	int haskey, initiator, step;
	uint8_t s_priv[32], s_pub[32], e_priv[32], e_pub[32], re[32], rs[32];
};

void p2p_noise_init(struct p2p_noise *, int initiator, const uint8_t s_priv[32]);
/* for the test vectors: a given ephemeral key (NULL: fresh) and prologue */
void p2p_noise_init_with(struct p2p_noise *, int initiator, const uint8_t s_priv[32],
			 const uint8_t *e_priv, const uint8_t *prologue, size_t plen);
void p2p_noise_wipe(struct p2p_noise *);
int p2p_noise_our_turn(const struct p2p_noise *);
/* the next message with payload (at most P2P_NOISEPL_MAX bytes) into out
 * (cap >= 96 + plen); -1 out of turn, a short buffer or a low-order key */
int p2p_noise_write(struct p2p_noise *, const uint8_t *pl, size_t plen, uint8_t *out, size_t cap,
		    size_t *olen);
/* the peer's next message: its payload into pl[cap]; -1 (why) short,
 * out of turn, not authentic, a low-order key.  n->rs is the peer's static
 * key once message 2 (initiator) or 3 (responder) is read. */
int p2p_noise_read(struct p2p_noise *, const uint8_t *msg, size_t mlen, uint8_t *pl, size_t cap,
		   size_t *plen, char *why, size_t whylen);
int p2p_noise_split(struct p2p_noise *, uint8_t ksend[32], uint8_t krecv[32]);

#endif
