/*
 * IPC between the daemons over Unix stream sockets (DESIGN §3).
 *
 * A frame is an 8-byte header {type u16, flags u16, length u32, all
 * big-endian} and one msgpack value of `length` bytes.  A frame with
 * IPC_F_FD carries exactly one file descriptor (SCM_RIGHTS) sent with the
 * frame's first byte.  The reader checks the length against the channel's
 * limit before it buffers anything.  Sending an fd transfers ownership; a
 * receiver closes fds it did not expect.  A passed fd shares its file status
 * flags with the sender's copy: a receiver that keeps one sets O_NONBLOCK
 * itself and never relies on the sender's choice.
 */
#ifndef EM_IPC_H
#define EM_IPC_H

#include <ev.h>
#include <msgpack.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"
#include "model.h"

#define IPC_VERSION 1
#ifndef EM_BUILD_VERSION /* a test builds a second tunneld with another (test_handover) */
#define EM_BUILD_VERSION "0.1.0"
#endif
#define IPC_HDR_LEN	8
#define IPC_F_FD	0x0001
#define IPC_MAX_CONTROL (4u << 20)   /* controller.sock frame limit */
#define IPC_MAX_TUNNEL	(64u << 10)  /* tunnel.sock frame limit */
#define IPC_WBUF_MAX	(256u << 20) /* a peer this far behind is dropped */

#define IPC_CONTROLLER_SOCK "controller.sock"
#define IPC_TUNNEL_SOCK	    "tunnel.sock"

/* Append-only, never renumbered. */
enum ipc_type {
	/* any -> any */
	IPC_HELLO = 1, /* proto version, name, pid, build version */
	IPC_ERROR = 2, /* reason; the sender then closes */

	/* daemon, cli -> controller */
	IPC_SUBSCRIBE = 10,   /* topic bitmask */
	IPC_HEALTH = 11,      /* the sender's health */
	IPC_STATUS_REQ = 12,  /* no body */
	IPC_FD_STORE = 13,    /* key + fd: a socket to keep while we restart; a key
			       * "NAME~N" is closed if not fetched within N s */
	IPC_FD_FETCH = 14,    /* key: give back what we stored under it */
	IPC_METRICS = 15,     /* the sender's metric samples (metrics.h) */
	IPC_METRICS_REQ = 16, /* cli: every sample of the node, answered with METRICS */

	/* controller -> daemon, cli */
	IPC_SNAPSHOT_BEGIN = 20, /* topic, version */
	IPC_UPSERT = 21,	 /* topic, version, key, object */
	IPC_DELETE = 22,	 /* topic, version, key */
	IPC_SNAPSHOT_END = 23,	 /* topic, version */
	IPC_STATUS = 24,	 /* a row per daemon */
	IPC_FD_RETURN = 25,	 /* key, + the stored fd (no fd: nothing stored) */
	IPC_HEALTH_REQ = 26,	 /* no body: send HEALTH and METRICS now (a STATUS_REQ
				  * or METRICS_REQ waits for them); only to daemons of
				  * the controller's own build, which know it */

	/* proxyd, socksd, gatewayd -> tunneld */
	IPC_TUN_OPEN = 30, /* + fd: the client's connected socket */
	/* tunneld -> opener */
	IPC_TUN_RESULT = 31, /* outcome of one OPEN */
	/* cli -> tunneld */
	IPC_PEERS_REQ = 32,
	/* tunneld -> cli */
	IPC_PEERS = 33,
	/* cli -> tunneld */
	IPC_PING_REQ = 34, /* node: a PING over its session, in band */
	/* tunneld -> cli */
	IPC_PING_RESULT = 35, /* round trip and path, or why not */
};
const char *ipc_type_name(int type); /* "?" when unknown */
int ipc_type_known(int type);
int ipc_type_carries_fd(int type);  /* may carry an fd */
int ipc_type_requires_fd(int type); /* is invalid without one */

/* ipc_frame.c: pure framing */
struct ipc_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
};
void ipc_hdr_encode(const struct ipc_hdr *, uint8_t out[IPC_HDR_LEN]);
/* -1 with err set when the header is bad for a channel with this limit. */
int ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], size_t max, struct ipc_hdr *, char *err,
		   size_t errlen);

/* A received message: the decoded msgpack value and its fd (or -1). */
struct ipc_msg {
	uint16_t type;
	int fd;
	msgpack_unpacked up;
	const msgpack_object *obj; /* points into the payload: keep it alive */
	uint8_t *owned;		   /* a payload freed by ipc_msg_clear, or NULL */
};
/* Unpack exactly one msgpack value filling the payload (no trailing bytes). */
int ipc_msg_parse(struct ipc_msg *, uint16_t type, const uint8_t *payload, size_t len, char *err,
		  size_t errlen);
void ipc_msg_clear(struct ipc_msg *); /* closes an fd not taken */
int ipc_msg_take_fd(struct ipc_msg *);

/* ipc_conn.c: a framed connection on a libev loop */
struct ipc_conn;
typedef void (*ipc_msg_cb)(struct ipc_conn *, struct ipc_msg *, void *arg);
typedef void (*ipc_close_cb)(struct ipc_conn *, const char *why, void *arg);

struct ipc_conn *ipc_conn_new(struct ev_loop *, int fd, size_t max_frame, ipc_msg_cb, ipc_close_cb,
			      void *arg);
/*
 * Queue a frame; fd >= 0 is sent along and then closed here: ownership
 * passes on every path, the failing ones too (-1: the conn was dropped).
 */
int ipc_conn_send(struct ipc_conn *, uint16_t type, const void *payload, size_t len, int fd);
int ipc_conn_send_sbuf(struct ipc_conn *, uint16_t type, msgpack_sbuffer *, int fd);
/* The same with an fd the caller keeps: a copy is made only if the frame
 * must wait in the queue (-1: the conn is gone, or no copy could be made). */
int ipc_conn_send_lent(struct ipc_conn *, uint16_t type, const void *payload, size_t len, int fd);
/* Pack one message with its typed packer, pack(&packer, arg), and queue it. */
#define IPC_SEND(conn, type, pack, arg)                                                            \
	do {                                                                                       \
		msgpack_sbuffer sb_;                                                               \
		msgpack_packer pk_;                                                                \
		msgpack_sbuffer_init(&sb_);                                                        \
		msgpack_packer_init(&pk_, &sb_, msgpack_sbuffer_write);                            \
		pack(&pk_, arg);                                                                   \
		ipc_conn_send_sbuf(conn, type, &sb_, -1);                                          \
		msgpack_sbuffer_destroy(&sb_);                                                     \
	} while (0)
/* Drop the peer: the close callback runs once with why, then it is freed. */
void ipc_conn_drop(struct ipc_conn *, const char *why);
/* Free without the callback. */
void ipc_conn_free(struct ipc_conn *);
size_t ipc_conn_queued(const struct ipc_conn *);
int ipc_conn_fd(const struct ipc_conn *);
uid_t ipc_conn_uid(const struct ipc_conn *);
pid_t ipc_conn_pid(const struct ipc_conn *);
void ipc_conn_set_arg(struct ipc_conn *, void *arg);
/* Write what is queued now, waiting up to timeout seconds in all (a
 * process about to hand its work over); returns the bytes still queued. */
size_t ipc_conn_flush(struct ipc_conn *, double timeout);
/* Eager: a frame queued on an empty queue is written at once (one sendmsg
 * in ipc_conn_send; no callback runs there, an error waits for the loop),
 * not on the next EPOLLOUT: for request/answer conns on a latency path
 * (tunnel.sock).  Off by default: a burst of frames then goes in one write. */
void ipc_conn_set_eager(struct ipc_conn *, int on);

/* One sendmsg of the iovecs (MSG_NOSIGNAL | flags); fd >= 0 rides on the first byte. */
struct iovec;
ssize_t ipc_sendmsg_fd(int sock, struct iovec *, size_t niov, int fd, int flags);

/* Blocking frame I/O for the CLI and tests. */
int ipc_write_frame(int fd, uint16_t type, const void *payload, size_t len, int sendfd);
/* Reads one frame into a malloc'd buffer; *rfd gets a passed fd or -1. */
int ipc_read_frame(int fd, size_t max, struct ipc_hdr *, uint8_t **payload, int *rfd, char *err,
		   size_t errlen);

/* ipc_sock.c: sockets and peer checks */
int ipc_listen(const char *dir, const char *name, char *err, size_t errlen);
int ipc_connect(const char *dir, const char *name);
/* SO_PEERCRED of a connected Unix socket. */
int ipc_peercred(int fd, uid_t *, gid_t *, pid_t *);
/* Parse names or numeric uids; unknown names are warned about and skipped. */
struct ipc_acl {
	size_t n;
	uid_t uids[20];
};
void ipc_acl_init(struct ipc_acl *, char users[][64], size_t n);
/* root, our own uid, and the listed users are allowed. */
int ipc_acl_allows(const struct ipc_acl *, uid_t);

/* ipc_msg.c: typed codecs, one pack/unpack pair per message. */
struct ipc_hello {
	uint32_t version;
	char name[32];
	uint32_t pid;
	char build[32];
};
struct ipc_health {
	char state[16]; /* "ok", "degraded", "starting" */
	char detail[256];
	uint64_t uptime;	/* seconds */
	uint64_t state_version; /* last state version applied */
	uint64_t rss_kb;
};
struct ipc_status_row {
	char name[32];
	int connected;
	char build[32];
	uint32_t pid;
	uint64_t uptime;
	uint64_t state_version;
	char state[16];
	char detail[256];
	uint64_t rss_kb;
};
#define IPC_STATUS_MAX 16
struct ipc_status {
	uint64_t version;  /* the controller's state version */
	char registry[64]; /* "file:/path" or "kube:..." */
	size_t nrows;
	struct ipc_status_row rows[IPC_STATUS_MAX];
};
struct ipc_tun_open {
	uint64_t id;	/* opener's id for the result */
	char peer[254]; /* node name */
	char ip[46];	/* target ip */
	uint16_t port;
	uint8_t proto;	   /* enum em_proto */
	char client[64];   /* client address, for logs */
	uint8_t reply_len; /* bytes tunneld writes to the client once the */
	uint8_t reply[64]; /* stream is open, before any data (a SOCKS reply) */
};
struct ipc_tun_result {
	uint64_t id;
	int ok;
	char reason[200];
};
struct ipc_peer_row {
	char name[254];
	char addr[64];
	char state[16]; /* up, connecting, down, refused */
	uint64_t rtt_us;
	uint64_t tx_bytes, rx_bytes;
	uint32_t streams;
	char path[272];	 /* direct, relayed via NODE (punched, ws: other paths) */
	char cipher[16]; /* chachapoly, aesgcm; "": down, or an older tunneld */
};
#define IPC_PEERS_MAX 256
/*
 * A PEERS row is 8 fields, or 9 with the cipher.  An older edgemeshctl
 * reads exactly 8: tunneld sends the 9th only to a client whose PEERS_REQ
 * asks for it ([9]; an older client sends []), and a reader takes 8 or 9
 * (an older tunneld ignores the request's body and sends 8).
 */
#define IPC_PEERS_ROW_V1   8
#define IPC_PEERS_ROW_LAST 9
struct ipc_peers {
	char self[254];
	char fingerprint[16];
	size_t nrows;
	struct ipc_peer_row *rows; /* malloc'd */
	uint32_t row_fields;	   /* how many fields a row carries (IPC_PEERS_ROW_*) */
};

struct ipc_ping_result {
	int ok;
	uint64_t rtt_us;
	char path[16]; /* direct, relayed */
	char via[254]; /* the relay node, "" */
	char addr[64]; /* the session's far address */
	char reason[200];
};

/* Our own hello: this protocol version, name, pid, build. */
void ipc_hello_init(struct ipc_hello *, const char *name);
void ipc_pack_hello(msgpack_packer *, const struct ipc_hello *);
int ipc_unpack_hello(const struct ipc_msg *, struct ipc_hello *, char *err, size_t errlen);
void ipc_pack_error(msgpack_packer *, const char *reason);
int ipc_unpack_error(const struct ipc_msg *, char *reason, size_t len, char *err, size_t errlen);
void ipc_pack_subscribe(msgpack_packer *, uint32_t topics);
int ipc_unpack_subscribe(const struct ipc_msg *, uint32_t *topics, char *err, size_t errlen);
void ipc_pack_health(msgpack_packer *, const struct ipc_health *);
int ipc_unpack_health(const struct ipc_msg *, struct ipc_health *, char *err, size_t errlen);
void ipc_pack_status(msgpack_packer *, const struct ipc_status *);
int ipc_unpack_status(const struct ipc_msg *, struct ipc_status *, char *err, size_t errlen);
void ipc_pack_snapmark(msgpack_packer *, enum em_topic, uint64_t version);
int ipc_unpack_snapmark(const struct ipc_msg *, enum em_topic *, uint64_t *version, char *err,
			size_t errlen);
/* UPSERT carries the object packed by ipc_pack_object. */
void ipc_pack_upsert_head(msgpack_packer *, enum em_topic, uint64_t version, const char *key);
int ipc_unpack_upsert(const struct ipc_msg *, uint64_t *version, struct em_object *, char *err,
		      size_t errlen);
void ipc_pack_delete(msgpack_packer *, enum em_topic, uint64_t version, const char *key);
int ipc_unpack_delete(const struct ipc_msg *, enum em_topic *, uint64_t *version, char *key,
		      size_t keylen, char *err, size_t errlen);
void ipc_pack_tun_open(msgpack_packer *, const struct ipc_tun_open *);
int ipc_unpack_tun_open(const struct ipc_msg *, struct ipc_tun_open *, char *err, size_t errlen);
void ipc_pack_tun_result(msgpack_packer *, const struct ipc_tun_result *);
int ipc_unpack_tun_result(const struct ipc_msg *, struct ipc_tun_result *, char *err,
			  size_t errlen);
/* PEERS_REQ: [] or [row fields wanted]; *fields gets IPC_PEERS_ROW_V1 for []. */
void ipc_pack_peers_req(msgpack_packer *, uint32_t fields);
int ipc_unpack_peers_req(const struct ipc_msg *, uint32_t *fields, char *err, size_t errlen);
void ipc_pack_peers(msgpack_packer *, const struct ipc_peers *);
int ipc_unpack_peers(const struct ipc_msg *, struct ipc_peers *, char *err, size_t errlen);
void ipc_peers_clear(struct ipc_peers *);
/* FD_STORE, FD_FETCH and FD_RETURN carry one key (the fd rides along). */
void ipc_pack_fd_key(msgpack_packer *, const char *key);
int ipc_unpack_fd_key(const struct ipc_msg *, char *key, size_t keylen, char *err, size_t errlen);
/* METRICS: the samples replace what the controller held for the sender. */
void ipc_pack_metrics(msgpack_packer *, const struct em_samples *);
int ipc_unpack_metrics(const struct ipc_msg *, struct em_samples *, char *err, size_t errlen);
void ipc_pack_ping_req(msgpack_packer *, const char *node);
int ipc_unpack_ping_req(const struct ipc_msg *, char *node, size_t len, char *err, size_t errlen);
void ipc_pack_ping_result(msgpack_packer *, const struct ipc_ping_result *);
int ipc_unpack_ping_result(const struct ipc_msg *, struct ipc_ping_result *, char *err,
			   size_t errlen);
void ipc_pack_empty(msgpack_packer *);
int ipc_unpack_empty(const struct ipc_msg *, char *err, size_t errlen);

/* ipc_model.c: model objects */
void ipc_pack_object(msgpack_packer *, const struct em_object *);
int ipc_unpack_object(const msgpack_object *, enum em_topic, struct em_object *, char *err,
		      size_t errlen);

#endif
