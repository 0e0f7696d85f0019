/*
 * EdgeMesh agents' libp2p connections inside tunneld (issue 15): the
 * connection (p2p_conn.c) and its yamux streams (p2p_stream.c).
 */
#ifndef P2P_CONN_H
#define P2P_CONN_H

#include <sys/queue.h>

#include <ev.h>

#include "p2p.h"
#include "tun_noise.h"
#include "tunneld.h"

#define P2P_RBUF	(2 + 65535 + 16384)	    /* raw bytes: one whole record, and more */
#define P2P_PBUF	(P2P_YAMUX_HDR + 2 * 65535) /* yamux input not yet consumed */
#define P2P_STREAMS_MAX 256
#define P2P_NEG_MAX	(P2P_PB_MAX + 2 * P2P_MSS_MAX) /* a stream's bytes before the splice */

enum p2p_cstage { P2P_C_MSS_SEC, P2P_C_NOISE, P2P_C_MSS_MUX, P2P_C_YAMUX };
enum p2p_sstage {
	P2P_S_MSS,	  /* agent's stream: multistream */
	P2P_S_PROXY,	  /* waits for its Proxy CONNECT */
	P2P_S_DISC,	  /* waits for its Discovery */
	P2P_S_DIAL,	  /* connecting to the target */
	P2P_S_QUEUED,	  /* our stream: waits for the connection we dial */
	P2P_S_OPEN_MSS,	  /* our stream: waits for multistream's answers */
	P2P_S_OPEN_PROXY, /* our stream: waits for SUCCESS or FAILED */
	P2P_S_SPLICE,
	P2P_S_DONE,
};

struct p2p_conn;

struct p2p_stream {
	LIST_ENTRY(p2p_stream) link;
	struct p2p_conn *c;
	uint32_t id;
	int stage; /* enum p2p_sstage */
	int fd;
	ev_io rw, ww;
	ev_timer tmo;
	unsigned mss_hdr : 1, rfin : 1, lfin : 1, shut : 1, udp : 1;
	unsigned ours : 1;	  /* opened by us for a tunnel.sock client (proxyd, socksd) */
	uint64_t serial, open_id; /* that client, its open: answered once */
	uint32_t nocredit;	  /* bytes in ob that did not come from the agent */
	uint8_t neg[P2P_NEG_MAX];
	size_t neglen;
	uint8_t *ob; /* agent -> target bytes the target did not take yet */
	size_t oblen, obcap;
	struct p2p_pb_msg req;
};
LIST_HEAD(p2p_streaml, p2p_stream);

struct p2p_conn {
	LIST_ENTRY(p2p_conn) link;
	struct tunneld *t;
	int fd;
	ev_io rw, ww;
	ev_timer tmo;
	char addr[64];
	char peerid[P2P_PEERID_MAX];
	char who[400];	/* node (peer ID at address), for logs */
	char node[256]; /* the agent's node name, "?" when no Node maps to its ID */
	int stage;	/* enum p2p_cstage */
	unsigned dead : 1, up : 1, mss_hdr : 1;
	unsigned initiator : 1, connecting : 1, got_nonce : 1; /* we dialled it (p2p_dial) */
	uint8_t rnonce[P2P_PNET_NONCE];			       /* dialler: the agent's nonce */
	size_t rnlen;
	int mss_na;
	struct p2p_pnet_dir prx, ptx;
	struct p2p_noise hs;
	struct noise_cs tx, rx;
	uint8_t *rbuf; /* pnet-decrypted, not yet used */
	size_t rlen;
	uint8_t *pbuf; /* record plaintext, not yet used */
	size_t plen;
	uint8_t *ob; /* to the agent: ob[oboff..oblen) */
	size_t oblen, oboff, obcap;
	struct p2p_yamux ym;
	struct p2p_yamux_stream ytab[P2P_STREAMS_MAX];
	struct p2p_streaml streams;
	/* a yamux DATA frame whose payload is still arriving */
	uint32_t data_left, data_sid;
	unsigned data_fin : 1;
};
LIST_HEAD(p2p_connl, p2p_conn);

/* p2p_conn.c */
void p2p_conn_close(struct p2p_conn *, const char *why);
void p2p_conn_kick(struct p2p_conn *);
void p2p_conn_send(struct p2p_conn *, const uint8_t *, size_t);
void p2p_conn_yamux(struct p2p_conn *, const struct p2p_yamux_hdr *, const uint8_t *, size_t);
size_t p2p_conn_queued(const struct p2p_conn *);
const char *p2p_conn_who(const struct p2p_conn *);
/* the up connection of the agent of node, or NULL; _any: up or being dialled */
struct p2p_conn *p2p_conn_find(const char *node);
struct p2p_conn *p2p_conn_find_any(const char *node);
/* dial node's agent (its first address, our listenPort); NULL (logged) if
 * it has no address or no socket */
struct p2p_conn *p2p_dial(struct tunneld *, const char *node);

/* p2p_stream.c: yamux input of an up connection (consumes *off bytes of
 * buf; -1 once the connection is closed); streams */
int p2p_yamux_input(struct p2p_conn *, const uint8_t *buf, size_t len, size_t *off);
void p2p_stream_free(struct p2p_stream *);
void p2p_streams_resume(struct p2p_conn *);
void p2p_streams_up(struct p2p_conn *); /* start the opens queued while dialling */

#endif
