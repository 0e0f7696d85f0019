/*
 * edgemesh-tunneld private header: structs and every prototype, grouped
 * by file.  See ARCHITECTURE.md for the picture.
 */
#ifndef TUNNELD_H
#define TUNNELD_H

#include <sys/queue.h>
#include <sys/uio.h>

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "tun_noise.h"
#include "udpflow.h"

#define TUN_PROLOGUE	 "edgemesh-c tunnel v1"
#define TUN_HS_MAX	 1024 /* a handshake message, with its length */
#define TUN_HS_TIMEOUT	 3.0  /* seconds for a whole handshake */
#define TUN_PREAUTH_MAX	 64   /* inbound connections not yet authenticated */
#define TUN_REC_MAX	 (NOISE_MAX_MSG_LEN - NOISE_TAG_LEN) /* record plaintext */
#define TUN_FRAME_HDR	 7				     /* type u8, stream u32, length u16 */
#define TUN_RBUF	 (2 * (2 + NOISE_MAX_MSG_LEN))
#define TUN_OUT_HIGH	 (256u << 10)  /* stop taking stream data above this */
#define TUN_OUT_LOW	 (64u << 10)   /* resume below this */
#define TUN_OUT_HARD	 (16u << 20)   /* a peer this far behind is dropped */
#define TUN_PUMP_ROUNDS	 4	       /* pump+flush rounds per loop iteration */
#define TUN_WINDOW	 (256u << 10)  /* per-stream receive window at OPEN (wire) */
#define TUN_WINDOW_MAX	 (1024u << 10) /* grown to while the fd keeps up */
#define TUN_WIN_UPDATE	 (32u << 10)   /* send WINDOW once this much was consumed */
#define TUN_QUANTUM	 (16u << 10)   /* bytes per turn; a stream alone: a record */
#define TUN_RX_IOV	 16	       /* DATA frames merged into one writev() */
#define TUN_PING_PERIOD	 5.0
#define TUN_PING_MISSES	 3
#define TUN_REKEY_BYTES	 (256ull << 20)
#define TUN_REKEY_SECS	 600.0
#define TUN_OPEN_TIMEOUT 10.0 /* queued OPEN waiting for a session, or a dial */
#define TUN_PENDING_MAX	 1024 /* queued OPENs per peer */
#define TUN_STREAMS_MAX	 8192 /* TCP (and circuit) streams per session */
#define TUN_UDP_MAX	 4096 /* UDP streams per session, apart: then LRU eviction */
#define TUN_BACKOFF_MIN	 0.5
#define TUN_BACKOFF_MAX	 30.0
#define TUN_SIMUL_WINDOW 10.0 /* two sessions this close are a simultaneous open */
#define TUN_RELAY_CHECK	 2.0  /* seconds between checks of the relay sessions */
#define TUN_WHY_PROBE	 "closed before the handshake (a reachability probe)"
#define TUN_WHY_P2P	 "an EdgeMesh agent's connection, handed to p2p_conn.c"

/* relays without configuration (tun_relaysel.c) */
#define TUN_RELAYS_KEEP	    2	 /* an unreachable node keeps sessions with >= this many relays */
#define TUN_RELAYS_KEEP_MAX 3	 /* ... and with at most this many */
#define TUN_DISCOVER_RETRY  30.0 /* seconds before a relay candidate is dialled again */
#define TUN_LEARNED_MAX	    4	 /* addresses learned from what relays observe, per peer */
#define TUN_EYEBALL	    0.25 /* a direct dial this slow: the relayed path alongside */
#define TUN_PROBE_WAIT	    1.0	 /* ... and closed when its PONG is not back by then */
#define TUN_RELAY_BAD	    10.0 /* seconds a relay that failed a circuit to B is skipped for B */

/* OPEN payloads whose first byte (proto) is TUN_PROTO_CIRCUIT are relay
 * circuits: proto u8 || version u8 (1) || kind u8 || namelen u8 || node name.
 * Older peers reject the proto byte (> 1) as a malformed OPEN: OPEN_FAIL. */
#define TUN_PROTO_CIRCUIT 0x80
#define TUN_CIRCUIT_V1	  1
enum tun_circ_kind {
	TUN_CIRC_TO = 1,   /* to a relay: splice me to node NAME */
	TUN_CIRC_FROM = 2, /* from a relay: node NAME wants a session with you */
};

/* Mux frame types (one byte on the wire; append-only). */
enum tun_ftype {
	TUN_F_OPEN = 1, /* proto u8, port u16, iplen u8, ip, clen u8, client */
	TUN_F_OPEN_OK = 2,
	TUN_F_OPEN_FAIL = 3, /* reason text */
	TUN_F_DATA = 4,
	TUN_F_WINDOW = 5, /* u32 increment */
	TUN_F_FIN = 6,
	TUN_F_RST = 7,	   /* reason text, may be empty */
	TUN_F_PING = 8,	   /* u64 opaque */
	TUN_F_PONG = 9,	   /* the PING's u64 */
	TUN_F_REKEY = 10,  /* the sender rekeys after this record */
	TUN_F_GOAWAY = 11, /* no new streams on this session (duplicate) */
	TUN_F_REACH = 12,  /* ok u8, text: can the sender dial our tunnel port (tun_reach.c) */
	TUN_F_MIGRATE =
	    13, /* path nonce[16]: the sender's last record on this path (tun_migrate.c) */
	TUN_F_OBSERVED =
	    14, /* text ip:port: the address this session comes from, as the relay sees it */
	TUN_F_PUNCH = 15,  /* kind u8, flags u8, text ip:port: hole punching (tun_punch.c) */
	TUN_F_RELAYS = 16, /* relay offer, observed addresses (tun_relaysel.c) */
	TUN_F_MAX
};

struct tun_frame {
	uint8_t type;
	uint32_t sid;
	uint16_t len;
	const uint8_t *payload;
};

/* Consecutive DATA frames of one stream, opened in place in the session's
 * read buffer, written to the stream's fd with one writev(). */
struct tun_rxrun {
	uint32_t sid;
	int n;
	size_t len;
	struct iovec iov[TUN_RX_IOV];
};

struct tun_open_req {
	uint8_t proto;
	uint16_t port;
	char ip[46];
	char client[64];
};

/* Handshake payload: version, PSK fingerprint, node name, and what the
 * sender takes (TUN_CAP_* bits: transport AEADs, DATA right after OPEN;
 * 0: an older peer that sent no list). */
struct tun_hello {
	uint8_t version;
	char fp[9];
	char name[254];
	uint8_t caps;
};

#define TUN_CAP_CHACHAPOLY 0x01	 /* 1 << NOISE_CHACHAPOLY: always */
#define TUN_CAP_AESGCM	   0x02	 /* 1 << NOISE_AESGCM: AES instructions here */
#define TUN_CAP_EARLY	   0x04	 /* takes DATA before its OPEN_OK (buffered) */
#define TUN_EARLY_MAX	   16384 /* bytes an opener sends before OPEN_OK */

enum tun_sstate { SS_CONNECTING, SS_HANDSHAKE, SS_UP, SS_DEAD };
enum tun_ststate { ST_PENDING, ST_OPENING, ST_CONNECTING, ST_OPEN };

struct tun_session;
struct tun_ws;
struct tun_wsd;
struct tun_peer;
struct tunneld;

struct tun_stream {
	uint32_t id;
	uint8_t proto;
	uint8_t state;		 /* enum tun_ststate */
	unsigned local : 1;	 /* opened through tunnel.sock here */
	unsigned in_ready : 1;	 /* on the session's ready queue */
	unsigned rd_eof : 1;	 /* fd gave EOF, FIN sent */
	unsigned remote_fin : 1; /* peer sent FIN */
	unsigned wr_shut : 1;	 /* shutdown(SHUT_WR) done */
	unsigned circuit : 1;	 /* a relay circuit's stream (fd: a socketpair end) */
	unsigned circ_out : 1;	 /* a circuit stream we sent the OPEN for */
	unsigned in_udp : 1;	 /* on its session's UDP list (s->udp) */
	int fd;
	struct tun_stream *twin; /* relay: the other half of a circuit, while opening */
	char circ_name[254];	 /* circuit: the far node (A: B; relay: the other end) */
	struct tun_session *s;
	struct tun_peer *peer;	    /* while pending */
	TAILQ_ENTRY(tun_stream) rq; /* ready queue */
	TAILQ_ENTRY(tun_stream) pq; /* peer's pending queue */
	ev_io rw, ww;
	ev_timer tmo;	   /* open/connect timeout */
	uint32_t send_win; /* what we may still send */
	uint32_t recv_win; /* what the peer may still send */
	uint32_t win;	   /* receive window granted: TUN_WINDOW..MAX */
	uint32_t consumed; /* written to the fd, not yet granted back */
	uint8_t *obuf;	   /* tunnel -> fd bytes the fd did not take */
	size_t ooff, olen, ocap;
	uint64_t client_serial; /* hand-off client to answer */
	uint64_t open_id;
	uint8_t reply_len; /* written to the fd at OPEN_OK, before data */
	uint8_t reply[64];
	ev_tstamp last_active;
	struct udpflow uf; /* UDP: last use, place on s->udp */
	double idle;	   /* UDP: seconds, common/udpflow.h policy */
	struct tun_open_req req;
	uint32_t early;		 /* opener: bytes peeked and sent before OPEN_OK */
	unsigned early_wait : 1; /* opener: may still peek early data (OPENING) */
};
TAILQ_HEAD(tun_streamq, tun_stream);

struct tun_session {
	struct tunneld *t;
	int fd;
	uint8_t state; /* enum tun_sstate */
	unsigned initiator : 1;
	unsigned draining : 1;
	unsigned dirty : 1;
	unsigned busy : 1;
	unsigned dead : 1;
	unsigned rekey_due : 1;
	unsigned rekey_rx : 1;
	unsigned fp_mismatch : 1; /* logged; close once msg2 is out */
	unsigned blocked : 1;	  /* the socket did not take all: streams parked */
	unsigned relayed : 1;	  /* runs inside a relay circuit (fd: socketpair end) */
	unsigned any_rx : 1;	  /* read a byte yet: else a close is a REACH probe */
	unsigned sniffed : 1;	  /* inbound: first bytes seen ours, not libp2p (p2p_setup.c) */
	char expect[254];	  /* relayed responder: the node the relay named */
	char addr[64];		  /* peer ip:port */
	char name[254];		  /* peer node, once known */
	struct tun_peer *peer;
	ev_io rw, ww;
	ev_timer tick; /* handshake timeout, then keepalive */
	ev_tstamp created, up_at, rekey_at;
	ev_tstamp reach_next; /* when to tell the peer whether it can be dialled */
	struct noise_hs *hs;
	struct noise_cs *cs; /* [0] send, [1] recv; sodium_malloc */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	size_t sealed; /* wbuf[woff..sealed) is ready to write */
	size_t rec;    /* start of the open record, or SIZE_MAX */
	uint64_t since_rekey;
	uint64_t tx, rx; /* payload bytes */
	uint32_t next_sid;
	struct hmap *streams; /* id -> tun_stream */
	size_t nstreams;
	struct udpflow_lru udp; /* its UDP streams (counted in nstreams too) */
	struct tun_streamq ready;
	unsigned pings_out;
	uint64_t rtt_us;
	int preauth_slot;	       /* index in the pre-auth table or -1 */
	uint8_t peer_caps;	       /* their hello's TUN_CAP_* (0: none); AEAD: cs[].cipher */
	struct tun_ws *ws;	       /* tun_ws.c: the WebSocket carrying it, or NULL */
	LIST_ENTRY(tun_session) link;  /* all sessions */
	LIST_ENTRY(tun_session) dlink; /* dirty sessions */
	/* path migration (tun_migrate.c) and hole punching (tun_punch.c) */
	uint8_t mig_key[32]; /* proves a new path belongs to this session */
	uint8_t mig_id[16];  /* names the session on a new path (public) */
	struct tun_mig *mig; /* a migration under way */
	struct tun_punch *punch;
	struct tun_txring *txring; /* relayed: the last records sealed (tun_migrate.c) */
	uint8_t punched;	   /* moved from a relay circuit to a direct path */
	uint32_t adv_sum;	   /* tun_relaysel.c: the RELAYS frame last sent */
	ev_tstamp adv_at;
};
LIST_HEAD(tun_sessionl, tun_session);

struct tun_peer {
	char name[254];
	struct tun_session *sess; /* the session streams use */
	struct tun_session *dialing;
	struct tun_session *relaying; /* a session being set up through a relay */
	struct tun_streamq pending;
	size_t npending;
	unsigned want : 1;    /* used: keep a session up */
	unsigned refused : 1; /* PSK mismatch seen */
	size_t addr_idx;
	size_t round_fails; /* failed dials in this round of addresses (tun_peers.c) */
	char addr[64];	    /* last address tried or seen */
	double backoff;
	ev_timer retry;
	uint64_t tx, rx; /* of sessions gone */
	char last_err[160];
	char their_fp[16];	   /* the PSK fingerprint it presented, when refused */
	int reach_known, reach_ok; /* its last REACH report about us */
	char reach_why[160];
	struct tunneld *t;
	/* tun_relaysel.c: what its RELAYS frame says */
	int relay_offer; /* it relays */
	uint8_t *adv;	 /* its entries: the nodes it can splice to */
	size_t advlen;
	unsigned adv_n;
	char seen_me[64];			  /* our address as it sees us */
	char learned[TUN_LEARNED_MAX][46];	  /* its addresses as relays see it */
	unsigned direct_fails;			  /* direct dials failed since a direct session */
	ev_tstamp disc_at;			  /* last dialled as a relay candidate */
	char relay_bad[TUN_RELAYS_KEEP_MAX][254]; /* relays whose circuit to it failed */
	ev_tstamp relay_bad_at[TUN_RELAYS_KEEP_MAX];
	char relay_err[160]; /* why the last relayed attempt failed */
	ev_timer eyeball;    /* a direct dial off our subnets unanswered: relay too */
	ev_timer probe;	     /* tun_relaysel.c: a quiet relayed session probed before use */
	struct tun_session *probed;
	unsigned probe_pings;
	ev_tstamp caps_off_until; /* dial with a short hello until then (an older peer) */
};

#define TUN_CAPS_OFF 600. /* seconds: then a dial tries the caps byte again */

/* Why a session died before it was up (metrics). */
enum tun_hs_fail { TUN_HSF_PSK, TUN_HSF_TIMEOUT, TUN_HSF_REFUSED, TUN_HSF_PROTOCOL, TUN_HSF_N };

struct tunneld {
	struct em_daemon *d;
	uint8_t *spriv; /* static key, sodium_malloc */
	uint8_t spub[NOISE_KEY_LEN];
	uint8_t *psk; /* sodium_malloc */
	char fp[9];
	uid_t run_uid; /* the user privdrop() switches to: may own the key files */
	gid_t run_gid;
	int lfd; /* TCP listener */
	ev_io lw;
	int hfd; /* tunnel.sock */
	ev_io hw;
	ev_prepare prep;
	ev_timer relay_timer; /* keeps sessions with the relay nodes up */
	struct tun_sessionl sessions, dirty;
	struct tun_session *preauth[TUN_PREAUTH_MAX];
	struct hmap *peers; /* name -> tun_peer */
	uint64_t nstreams;
	uint64_t hs_ok, hs_fail[TUN_HSF_N]; /* handshakes, for metrics */
	struct tun_handover *ho;	    /* what the predecessor handed us, until restored */
	struct tun_wsd *wsd;		    /* tun_ws.c: WebSocket listener and dialing */
	int reachable;			    /* tun_relaysel.c: proven from outside our site */
	/* EdgeMesh agents (p2p_*.c, modules.edgeTunnel.edgemeshAgents) */
	uint8_t *p2p_psk;   /* pnet key from our PSK file, sodium_malloc; NULL: none */
	uint8_t *p2p_sk;    /* Ed25519 from our node name (EdgeMesh's), sodium_malloc */
	uint8_t *p2p_npriv; /* X25519 static key of our libp2p Noise handshakes */
	char p2p_id[64];    /* our EdgeMesh peer ID */
	char reach_proof[320];
};

/* tunneld.c */
struct tunneld *tunneld_get(void);

/* p2p_setup.c, p2p_conn.c: EdgeMesh v1.17 agents on our port (issue 15) */
void p2p_setup(struct tunneld *);
void p2p_mdns_setup(struct tunneld *); /* p2p_mdns.c: before privdrop */
/* an accepted connection p2p_sniff() called libp2p with our PSK; buf: its
 * first len (>= P2P_SNIFF_LEN) bytes; fd is ours from now on */
void p2p_accept(struct tunneld *, int fd, const char *addr, const uint8_t *buf, size_t len);
/* 1: the accept path read the first bytes of a connection and decided
 * (handed over, refused or ours); 0: keep reading; a refusal closes s */
int p2p_sniff_session(struct tun_session *);
size_t p2p_conn_count(void);
/* p2p_setup.c: node speaks libp2p (learnt when our dial drew a pnet nonce,
 * remembered 10 min): opens for it dial its agent; our session's pending
 * opens move there */
void p2p_learn(struct tun_session *);
int p2p_learned(const char *node);
void p2p_forget(const char *node);
/* p2p_stream.c: a tunnel.sock open for node, when an EdgeMesh agent of that
 * node is connected (while edgemeshAgents is on): 1 taken (fd is ours, the
 * client gets its TUN_RESULT), 0 not an agent's node */
int p2p_open(struct tunneld *, const char *node, int fd, const struct tun_open_req *,
	     const uint8_t *reply, size_t reply_len, uint64_t serial, uint64_t id);
void p2p_conns_close(const char *why);

/* tun_ping.c: edgemeshctl ping */
void tun_ping_start(struct tunneld *, struct ipc_conn *, const char *node);
void tun_ping_pong(struct tun_session *, uint64_t rtt_us);
void tun_ping_forget(struct ipc_conn *);
void tun_session_ping(struct tun_session *);

/* tun_reach.c: peers tell each other whether they can dial the tunnel port */
void tun_reach_tick(struct tun_session *, ev_tstamp now);
void tun_reach_input(struct tun_session *, const uint8_t *payload, size_t len);

/* tun_metrics.c */
void tun_metrics_fill(void *arg, struct em_samples *);
void tun_metrics_hs_failed(struct tunneld *, const struct tun_session *, const char *why);

/* tun_keys.c */
int tun_keys_load(struct tunneld *, const char *state_dir, char *err, size_t errlen);
int tun_psk_load(struct tunneld *, const char *path, char *err, size_t errlen);
int tun_file_private(int fd, const char *path, uid_t runas, char *err, size_t errlen);

/* tun_frame.c: pure encoders and decoders */
/* 1 when p[0..n) is printable ASCII (space too when space is set), else 0. */
int tun_text_ok(const uint8_t *p, size_t n, int space);
size_t tun_frame_put(uint8_t *buf, size_t cap, uint8_t type, uint32_t sid, const void *payload,
		     size_t len);
/* 1 with *f set and *used bytes, 0 if incomplete, -1 if malformed */
int tun_frame_get(const uint8_t *buf, size_t len, struct tun_frame *f, size_t *used);
size_t tun_open_encode(const struct tun_open_req *, uint8_t *buf, size_t cap);
int tun_open_decode(const uint8_t *buf, size_t len, struct tun_open_req *);
size_t tun_hello_encode(const struct tun_hello *, uint8_t *buf, size_t cap);
int tun_hello_decode(const uint8_t *buf, size_t len, struct tun_hello *);
/* The TUN_CAP_* bits this node offers; for tests, EDGEMESH_TUN_CIPHERS=
 * chachapoly offers ChaChaPoly only, =v0 nothing (a tunneld from before the
 * caps byte: short hellos, and one with caps refused).  The transport AEAD
 * (enum noise_cipher) for our offer and theirs: AESGCM when both offer it. */
uint8_t tun_caps_ours(void);
int tun_cipher_pick(uint8_t ours, uint8_t theirs);
size_t tun_circuit_encode(uint8_t kind, const char *name, uint8_t *buf, size_t cap);
/* the kind, or -1 if malformed; name[254] */
int tun_circuit_decode(const uint8_t *buf, size_t len, char *name);
const char *tun_ftype_name(int);
/* "3f2a…" */
void tun_fp_short(const char *fp, char out[16]);

/* tun_session.c */
int tun_listen(struct tunneld *, int port, char *err, size_t errlen);
void tun_listen_start(struct tunneld *);
struct tun_session *tun_session_dial(struct tunneld *, struct tun_peer *, const char *ip, int port);
void tun_session_close(struct tun_session *, const char *why);
void tun_session_dirty(struct tun_session *);
int tun_session_frame(struct tun_session *, uint8_t type, uint32_t sid, const void *payload,
		      size_t len);
uint8_t *tun_session_data_reserve(struct tun_session *, size_t min, size_t *room);
void tun_session_pong(struct tun_session *, const uint8_t *);
void tun_session_data_commit(struct tun_session *, uint32_t sid, size_t n);
size_t tun_session_outq(const struct tun_session *);
void tun_sessions_prepare(struct ev_loop *, ev_prepare *, int);
struct tun_session *tun_session_over(struct tunneld *, int fd, int initiator, const char *name,
				     const char *via);
void tun_session_seal(struct tun_session *); /* end the open record now */

/* tun_session.c: for the hand-over (tun_handover.c) */
struct tun_session *tun_session_adopt(struct tunneld *, int fd, int initiator);
void tun_session_forget(struct tun_session *);

/* tun_mux.c */
struct tun_stream *tun_stream_new(struct tun_session *, struct tun_peer *, int fd, uint8_t proto);
void tun_stream_attach(struct tun_stream *, struct tun_session *, uint32_t sid);
int tun_session_full(const struct tun_session *); /* TCP/circuit streams at TUN_STREAMS_MAX */
struct tun_stream *tun_stream_find(struct tun_session *, uint32_t sid);
void tun_stream_free(struct tun_stream *);
void tun_stream_reset(struct tun_stream *, const char *why);
void tun_stream_start(struct tun_stream *);
void tun_stream_send_open(struct tun_stream *);
void tun_mux_input(struct tun_session *, const struct tun_frame *);
void tun_mux_data(struct tun_session *, struct tun_rxrun *);
void tun_mux_pump(struct tun_session *);
void tun_mux_blocked(struct tun_session *);
void tun_mux_session_gone(struct tun_session *, const char *why);

/* tun_dial.c: the remote end */
enum tun_target { TUN_TGT_NONE, TUN_TGT_ENDPOINT, TUN_TGT_NODE_PORT };
enum tun_target tun_target_kind(struct tunneld *, const char *node, const struct tun_open_req *,
				char *why, size_t len);
void tun_dial_target(struct tun_stream *);
/* Far end: the stream's connect finished (or failed): OPEN_OK and start, or
 * OPEN_FAIL and free.  established: known so (poll said POLLOUT alone), no
 * SO_ERROR to read. */
void tun_stream_connected(struct tun_stream *, int established);

/* tun_handoff.c: tunnel.sock */
int tun_handoff_listen(struct tunneld *, char *err, size_t errlen);
void tun_handoff_start(struct tunneld *);
void tun_handoff_result(struct tunneld *, uint64_t serial, uint64_t id, int ok, const char *reason);

/* tun_peers.c */
struct tun_peer *tun_peer_get(struct tunneld *, const char *name, int create);
int tun_peer_known(struct tunneld *, const char *name);
void tun_peer_open(struct tun_peer *, struct tun_stream *);
void tun_peer_up(struct tun_peer *, struct tun_session *);
void tun_peer_lost(struct tun_peer *, struct tun_session *, const char *why, int refused);
void tun_peer_dial(struct tun_peer *);
const char *tun_peer_state(const struct tun_peer *);

/* tun_relay.c */
int tun_is_relay(struct tunneld *, const char *name);
void tun_relays_start(struct tunneld *);
void tun_relays_check(struct tunneld *);
void tun_relays_reload(void *arg, const struct em_config *);
size_t tun_relay_addrs(struct tunneld *, const char *name, const char **out, size_t max);
int tun_relay_via(struct tun_peer *);
struct tun_peer *tun_relay_other(struct tun_peer *, const char *except, int *fd);
void tun_circuit_open(struct tun_session *, const struct tun_frame *);
void tun_circuit_open_ok(struct tun_stream *);
void tun_circuit_open_fail(struct tun_stream *, const char *why);
void tun_circuit_unlink(struct tun_stream *, const char *why);
void tun_circuit_drop(struct tun_stream *, const char *why);

/* tun_handover.c: restart and upgrade without dropping a session or a stream */
struct tun_handover;
/* At start, before privdrop(): what the predecessor left (inherited fd or
 * parked in the controller); then opened with our static key (refused if
 * the PSK file now holds another PSK).  After these t->lfd may be set (the
 * predecessor's listener). */
void tun_handover_fetch(struct tunneld *);
void tun_handover_open(struct tunneld *, int psk_from_file);
/* The PSK the hand-over carried (its file unreadable after an exec as our
 * user): 0 when t->psk is set from it. */
int tun_handover_psk(struct tunneld *);
/* After the loop is set up: sessions and streams rebuilt.  Handed-over
 * sessions read, and tunnel.sock accepts, once the replica is synced (what
 * may be opened is known) or 2 s have passed: tun_handover_serve(), the
 * daemon's on_serve. */
void tun_handover_restore(struct tunneld *);
void tun_handover_serve(struct tunneld *);
/* SIGTERM: hand everything to the controller for the next process; 0 when
 * done (all is let go), -1 when not (nothing changed: shut down as usual). */
int tun_handover_park(struct tunneld *);
/* SIGHUP / SIGUSR2: hand everything to a new exec of the binary. */
void tun_handover_signals(struct tunneld *, char **argv);
/* A reload's exec: the wsPort listener that came with the hand-over (if for
 * port), taken once; else -1. */
int tun_handover_ws_fd(struct tunneld *, int port);
/* Whether we are a reload's exec (the sandbox applied before it holds). */
int tun_handover_sandboxed(void);
/* The listening socket kept in the controller (kill -9: no refused dial). */
int tun_listen_reuse(struct tunneld *, int port);

/* tun_handoff.c: for the hand-over, what is queued for the openers written out */
size_t tun_handoff_flush(double timeout);
/* tun_wsproto.c: WebSocket upgrade, proxy CONNECT and frames (pure codecs) */
#define TUN_WS_HDR_MAX	  4096 /* an upgrade request or answer, a proxy answer */
#define TUN_WS_KEY_LEN	  25   /* Sec-WebSocket-Key: base64 of 16 bytes, NUL */
#define TUN_WS_ACCEPT_LEN 29   /* Sec-WebSocket-Accept: base64 of 20 bytes, NUL */
#define TUN_WS_PATH	  "/edgemesh/tunnel"
enum tun_ws_op {
	TUN_WS_CONT = 0,
	TUN_WS_BINARY = 2,
	TUN_WS_CLOSE = 8,
	TUN_WS_PING = 9,
	TUN_WS_PONG = 10
};
struct tun_ws_frame {
	uint8_t fin, opcode, masked;
	uint8_t mask[4];
	uint64_t len; /* payload */
	size_t hlen;  /* header, mask included */
};
int tun_ws_accept_key(const char *key, char out[TUN_WS_ACCEPT_LEN]);
void tun_ws_new_key(char out[TUN_WS_KEY_LEN]);
/* the client's GET; its length, 0 if it does not fit */
size_t tun_ws_request(char *buf, size_t cap, const char *host, const char *key);
/* 1 (key set, *used: the header block), 0 incomplete, -1 malformed (why) */
int tun_ws_parse_request(const char *buf, size_t len, size_t *used, char *key, size_t keycap,
			 char *why, size_t whylen);
size_t tun_ws_response(char *buf, size_t cap, const char *key);
int tun_ws_parse_response(const char *buf, size_t len, const char *key, size_t *used, char *why,
			  size_t whylen);
/* auth: base64 user:password or "" */
size_t tun_http_connect_request(char *buf, size_t cap, const char *hostport, const char *auth);
int tun_http_connect_response(const char *buf, size_t len, size_t *used, char *why, size_t whylen);
/* a frame header: 1 (*f), 0 incomplete, -1 malformed (why); masked: what the sender must do */
int tun_ws_frame_parse(const uint8_t *buf, size_t len, int masked, struct tun_ws_frame *f,
		       char *why, size_t whylen);
/* a final frame's header into out (>= 14 bytes); mask NULL for none */
size_t tun_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, const uint8_t *mask);
void tun_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/* tun_proxy.c: the HTTP proxy of WebSocket dials (wsProxy, HTTPS_PROXY, NO_PROXY) */
struct tun_proxy;
struct srcrange_set;
/* *out NULL when there is no proxy; -1 with err (a bad URL, a name that does not resolve) */
int tun_proxy_setup(struct tun_proxy **out, const char *cfg_url, char *err, size_t errlen);
/* the proxy's address for a dial to ip, or NULL: direct (no proxy, or NO_PROXY) */
const struct sockaddr_storage *tun_proxy_route(const struct tun_proxy *, const char *ip,
					       socklen_t *len);
const char *tun_proxy_name(const struct tun_proxy *); /* host:port */
const char *tun_proxy_auth(const struct tun_proxy *); /* base64 user:password or "" */
/* NO_PROXY: "*" (*all), addresses and CIDRs into set; names are skipped (peers
 * are dialed by address).  Returns the entries used. */
int tun_noproxy_parse(const char *list, struct srcrange_set *set, int *all);

/* tun_ws.c: the tunnel inside a WebSocket (transport: ws, wsPort, wsProxy) */
int tun_ws_setup(struct tunneld *, char *err, size_t errlen); /* before privdrop */
int tun_ws_listen_fd(const struct tunneld *);		      /* wsPort's listener or -1 */
void tun_ws_start(struct tunneld *);
int tun_ws_dialing(const struct tunneld *); /* transport ws: dial peers that way */
struct tun_session *tun_ws_dial(struct tunneld *, struct tun_peer *, const char *ip);
void tun_ws_session_gone(struct tun_session *);
/* hand-over (tun_handover.c): an up session's WebSocket saved and taken
 * over with it (records of tun_handover.h), and all let go */
struct ho_buf;
struct ho_rd;
struct ho_in;
int tun_ws_carried(const struct tun_session *);
void tun_ws_save(const struct tun_session *, struct ho_buf *);
int tun_ws_adopt(struct tunneld *, struct tun_session *, struct ho_rd *, struct ho_in *);
void tun_ws_let_go(struct tunneld *);

/* tun_ifaces.c: listenInterfaces, extraFilteredInterfaces (EdgeMesh's meaning) */
int tun_iface_selected(const char *listen, const char *extra, const char *ifname);
/* The next item of a comma list at *p (blanks around it trimmed): its
 * length (0: an empty item) and *item; *p moves to the comma or the end. */
size_t tun_list_next(const char **p, const char **item);
/* 1 if the accepted connection's local address is one we listen on; else logs, 0 */
int tun_ifaces_allowed(struct tunneld *, int fd);
void tun_ifaces_log(struct tunneld *);
/* tun_advert.c: the RELAYS frame payload, pure */
#define TUN_ADV_V1	1
#define TUN_ADV_F_RELAY 0x01
#define TUN_ADV_MAX	4096 /* bytes of a RELAYS frame we send: entries beyond are left out */
struct tun_adv {
	int relay;		/* the sender relays */
	char seen[64];		/* the receiver's address as the sender sees it */
	unsigned n;		/* entries */
	const uint8_t *entries; /* into the payload */
	size_t elen;
};
struct tun_adv_entry {
	char name[254];
	unsigned rtt_ms;
	char ip[46];
};
size_t tun_adv_put_head(uint8_t *buf, size_t cap, int relay, const char *seen, size_t *count);
size_t tun_adv_put_entry(uint8_t *buf, size_t cap, size_t off, size_t count, const char *name,
			 unsigned rtt_ms, const char *ip);
int tun_adv_decode(const uint8_t *p, size_t len, struct tun_adv *);
int tun_adv_next(const struct tun_adv *, size_t *off, struct tun_adv_entry *);

/* tun_relaysel.c: who relays, who needs relays, which relay for a peer */
int tun_relay_offered(struct tunneld *);
int tun_relay_candidate(struct tunneld *, const char *name);
void tun_relaysel_check(struct tunneld *);
void tun_relaysel_session_up(struct tun_session *);
void tun_relaysel_input(struct tun_session *, const uint8_t *payload, size_t len);
struct tun_peer *tun_relaysel_pick(struct tunneld *, struct tun_peer *p, const char *except);
void tun_relaysel_failed(struct tun_peer *p, const char *relay);
void tun_relaysel_peer_init(struct tun_peer *);
void tun_relaysel_probe(struct tun_peer *);
void tun_relaysel_pong(struct tun_session *);
int tun_ip_onlink(const char *ip);
size_t tun_peer_addrs(struct tunneld *, struct tun_peer *, const char **out, size_t max);

/* tunneld_sandbox.c */
void tunneld_sandbox(struct em_daemon *);

/* tun_pin.c: 0 when the key rs (NOISE_KEY_LEN) is the one published for s->name, or none
 * is (first use, logged); -1 with why (logged) when another key is published. */
int tun_pin_check(struct tun_session *, const uint8_t *rs, char *why, size_t len);
/* Our public key as the sample edgemesh_tunnel_key_info{key=...} (the controller publishes it). */
void tun_pin_samples(const struct tunneld *, struct em_samples *);
/* tun_gwrights.c: 1 when r on node is an endpoint of a Service a gateway route sends to. */
int tun_gw_route_target(struct tunneld *, const char *node, const struct tun_open_req *r, char *why,
			size_t len);

/* tun_migrate.c: a session carries on over another byte path */
/* hello: 00 00 || "EMGR" || version || flags || id[16] || nonce[16] || rxn u64 */
#define TUN_MIG_HELLO	48
#define TUN_MIGH_DEAD	1 /* hello flag: the sender's old path is gone */
#define TUN_MIG_PROOF	32
#define TUN_MIG_TIMEOUT 5.0 /* seconds for a whole migration */
#define TUN_WHY_MIGRATE "a migration path (tun_migrate.c)"
void tun_migrate_keys(struct tun_session *); /* at split: mig_key, mig_id */
#define TUN_MIG_OLD_DEAD 1		     /* the old path is gone: no MIGRATE on it */
#define TUN_MIG_RELAYED	 2		     /* the new path is a relay circuit (addr: the relay) */
int tun_session_migrate(struct tun_session *, int fd, const char *addr, int flags);
void tun_migrate_accept(struct tun_session *pre); /* a pre-auth connection that says 00 00 */
int tun_migrate_flush_limit(struct tun_session *, size_t *len); /* 1: hold */
void tun_migrate_wrote(struct tun_session *, size_t n);
int tun_migrate_rx_hold(const struct tun_session *);
void tun_migrate_marker(struct tun_session *, const uint8_t *payload, size_t len);
void tun_migrate_gone(struct tun_session *);
int tun_migrate_path_lost(struct tun_session *, const char *why);
#define TUN_TXRING_MAX (4u << 20) /* relayed: sealed records kept to resend */
void tun_migrate_sealed(struct tun_session *, const uint8_t *rec, size_t len);

/* tun_migkey.c: migration's pure parts */
void tun_mig_derive(const uint8_t k_i2r[32], const uint8_t k_r2i[32], uint8_t key[32],
		    uint8_t id[16]);
/* over the sender's role, both nonces, and the sender's rxn and flags */
void tun_mig_proof(const uint8_t key[32], uint8_t role, const uint8_t nonce_self[16],
		   const uint8_t nonce_peer[16], uint64_t rxn, uint8_t flags,
		   uint8_t out[TUN_MIG_PROOF]);
void tun_mig_hello_encode(const uint8_t id[16], const uint8_t nonce[16], uint64_t rxn,
			  uint8_t flags, uint8_t out[TUN_MIG_HELLO]);
/* 0, or -1 when it is no migration hello (magic, version, length) */
int tun_mig_hello_decode(const uint8_t *in, size_t len, uint8_t id[16], uint8_t nonce[16],
			 uint64_t *rxn, uint8_t *flags);

/* tun_punch.c: relayed pairs open a direct path through their NATs */
void tun_punch_session_up(struct tun_session *);
void tun_punch_observed(struct tun_session *, const uint8_t *payload, size_t len);
void tun_punch_input(struct tun_session *, const uint8_t *payload, size_t len);
void tun_punch_migrated(struct tun_session *, int ok);
void tun_punch_gone(struct tun_session *);
/* dials to relays all leave from one port (the punch port), so relays see
 * one NAT mapping (two relays seeing two ports: a symmetric NAT) and a
 * punch leaves from it too */
void tun_punch_dial_socket(struct tunneld *, int fd, const char *peer, const char *ip, int family);
int tun_punch_dial_failed(struct tunneld *, const char *peer, const char *ip, int err);
const char *tun_session_path(const struct tun_session *); /* direct, punched, relay, ws */
#endif
