/*
 * edgemesh-proxyd private header: the device, the redirect rules, the
 * service table, TCP and UDP proxying, the tunnel hand-off, load balancing.
 * See ARCHITECTURE.md for the data path.
 */
#ifndef PROXYD_H
#define PROXYD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "daemon.h"
#include "tunclient.h"
#include "hmap.h"
#include "lb.h"
#include "log.h"
#include "model.h"

#define PROXY_PORT_DEFAULT 10801 /* the DNAT target of TCP and UDP service ports */
/* policy routing of proxyd versions that used UDP TPROXY: --cleanup and start-up remove it */
#define PROXY_FWMARK	0x1e0000
#define PROXY_FWMASK	0xff0000
#define PROXY_RT_TABLE	216
#define PROXY_RULE_PRIO 9216

#define PROXY_CONNECT_TIMEOUT 1.0  /* per endpoint attempt */
#define PROXY_CONNECT_TRIES   4	   /* endpoints tried per connection */
#define PROXY_DOWN_TIME	      10.0 /* a failed endpoint is skipped this long */
#define PROXY_PEEK_MAX	      4096 /* bytes peeked for an HTTP header */
#define PROXY_PEEK_TIMEOUT    2.0
#define PROXY_UDP_BATCH	      64   /* datagrams per recvmmsg/sendmmsg */
#define PROXY_UDP_ROUNDS      2	   /* batches per socket per event */
#define PROXY_UDP_MAX	      4096 /* flows; then the least recently used is evicted */
#define PROXY_PARK_MAX	      1024 /* connections waiting for the first sync */
#define PROXY_RULES_CHECK     10.0 /* seconds between rule checks */

/* the service table: one entry per ClusterIP:port/proto */
#define PD_EPID_LEN 320
struct pd_ep {
	char id[PD_EPID_LEN]; /* node:pod:ip:port */
	char ip[46];
	char node[EM_NAME_LEN];
	uint16_t port;
	int local;
	struct sockaddr_in sa;
	double down_until; /* passive health */
};

struct pd_vip {
	char key[80];	      /* "10.96.0.10:80/tcp" */
	char svc[EM_KEY_LEN]; /* ns/name */
	char portname[64];
	uint8_t proto;
	struct sockaddr_in sa;
	size_t neps;
	struct pd_ep *eps;
	struct lb lb;
	int mark;			      /* rebuild bookkeeping */
	uint64_t n_conns, n_fail, n_picks[2]; /* metrics; picks: [remote, local] */
	size_t n_flows;			      /* metrics: its UDP flows, counted at report */
};

/*
 * A UDP service port the kernel forwards itself (rules.c): every ready
 * endpoint on this node, round robin or random, no session affinity.  One
 * allocation (free() it); n == 0 stands for "not forwarded by the kernel".
 */
struct rules_kernel {
	char comment[EM_KEY_LEN + 80];
	int random;	/* numgen random / statistic random; else round robin over flows */
	uint64_t flows; /* started, from the rule counters at the last rules check */
	size_t n;
	struct sockaddr_in eps[];
};

struct rules_backend;
struct pd_tcp;
struct pd_udp;

struct proxyd {
	struct em_daemon *d;
	struct ev_loop *loop;
	struct in_addr bind_ip;
	uint16_t port;
	int synced;
	struct hmap *vips; /* key -> struct pd_vip */
	struct hmap *svcs; /* ns/name -> struct pd_svcrec (its vip keys) */

	const struct rules_backend *rb;
	struct hmap *rules;	  /* vip key -> comment (desired rules) */
	struct hmap *radd, *rdel; /* pending element changes */
	struct hmap *kern;	  /* vip key -> struct rules_kernel (UDP the kernel forwards) */
	struct hmap *kchg;	  /* vip key -> its installed rules_kernel, for pending changes */
	ev_timer rules_flush, rules_check;
	int rules_dirty_full;

	struct pd_tcp *tcp;
	struct pd_udp *udp;
	struct tunclient *tun;
	uint64_t n_conns, n_fail, n_tunneled;
	uint64_t n_resyncs, n_displaced; /* rules installed whole; found displaced */
};

/* proxy_metrics.c */
void proxy_metrics_fill(void *arg, struct em_samples *);

/* bridge.c: the edgemesh0 device and policy routing (rtnetlink) */
enum bridge_kind { BRIDGE_AUTO, BRIDGE_DUMMY, BRIDGE_BRIDGE, BRIDGE_LO };
int bridge_parse_kind(const char *);
/* Create the device (dummy, else bridge, else the address on lo); returns the kind used. */
int bridge_setup(const char *dev, const char *ip, int kind);
int bridge_cleanup(const char *dev, const char *ip);
int bridge_route_cleanup(void); /* the fwmark rule and table of older versions (UDP TPROXY) */

/* rules.c: desired redirect rules, batching, periodic check */
struct rules_backend {
	const char *name;
	int (*full)(struct proxyd *);  /* install everything atomically */
	int (*apply)(struct proxyd *); /* p->radd / p->rdel element changes, p->kchg */
	/* 0 when our rules are in place; with elements 0 only their frame (table
	 * or chains, the redirects), as after a failed element update */
	int (*check)(struct proxyd *, int elements);
	int (*cleanup)(void);
};
extern const struct rules_backend rules_nft, rules_ipt;
int rules_init(struct proxyd *, const char *backend);
void rules_add(struct proxyd *, const struct pd_vip *);
void rules_del(struct proxyd *, const char *key);
/* The kernel path of vip key: k (taken over), or NULL when proxyd relays it. */
void rules_kernel_set(struct proxyd *, const char *key, struct rules_kernel *k);
/* The name of k's own chain: "udp_10_96_0_10_53" (nft), "KUBE-PORTALS-U0A60000A0035" (iptables) */
void rules_kernel_chain(char *out, size_t outlen, const char *key, int ipt);
/* Chain name -> its struct rules_kernel (p->kern's); hmap_free(m, NULL) it. */
struct hmap *rules_kernel_by_chain(struct proxyd *, int ipt);
/* The endpoints of every kernel-forwarded port, summed. */
size_t rules_kernel_endpoints(const struct proxyd *);
void rules_sync_full(struct proxyd *);
int rules_cleanup_all(void);
int rules_run(const char *const argv[], const char *input, size_t inlen, char *out, size_t outlen);
void rules_caps_for_children(void);
/* split "ip:port/proto" */
int rules_key_parse(const char *key, char *ip, size_t iplen, uint16_t *port, int *proto);

/* proxy_svc.c: the service table */
void proxy_svc_init(struct proxyd *);
void proxy_svc_update(struct proxyd *, const char *svckey);
void proxy_svc_resync(struct proxyd *);
struct pd_vip *proxy_svc_lookup(struct proxyd *, const struct sockaddr_in *, int proto);
/* Choose an endpoint of vip, not one of the ntried ids tried already; -1 if none. */
int proxy_svc_pick(struct proxyd *, struct pd_vip *, const char *client, const char *key,
		   size_t keylen, char (*tried)[PD_EPID_LEN], int ntried);
void proxy_svc_ep_failed(struct proxyd *, const char *vipkey, const char *epid);

/* listen_keep.c */
int listen_keep_reuse(struct proxyd *, const char *key, int type);

/* proxy_tcp.c */
int proxy_tcp_listen(struct proxyd *);
void proxy_tcp_start(struct proxyd *);
void proxy_tcp_synced(struct proxyd *);
size_t proxy_tcp_count(const struct proxyd *);
void proxy_tcp_quiesce(struct proxyd *);

/* proxy_udp.c */
int proxy_udp_listen(struct proxyd *);
void proxy_udp_start(struct proxyd *);
size_t proxy_udp_count(const struct proxyd *);
/* Count each service port's UDP flows into its n_flows. */
void proxy_udp_count_flows(struct proxyd *);
uint64_t proxy_udp_evicted(const struct proxyd *);

/* netlink.c: attributes of a netlink request (nlmsghdr at the start of cap bytes) */
struct nlmsghdr;
struct nlattr;
/* Append an attribute (data NULL, len 0: a nest to close with nl_nest_end). */
struct nlattr *nl_put(struct nlmsghdr *, size_t cap, uint16_t type, const void *data, size_t len);
void nl_nest_end(struct nlmsghdr *, struct nlattr *nest);
/* The attribute `type` among attrs[0..len), NULL if absent or malformed. */
const struct nlattr *nl_get(const void *attrs, size_t len, uint16_t type);

/* proxy_ct.c: the original destination of a DNATed UDP flow (ctnetlink) */
int proxy_ct_open(void);
/* local: our bridgeIP:port; client: the sender; 0 with *orig = ClusterIP:port, or -1 */
int proxy_ct_orig_dst(int fd, const struct sockaddr_in *local, const struct sockaddr_in *client,
		      struct sockaddr_in *orig);
/*
 * Delete the UDP conntrack entries to the service ports in keys (NULL: all
 * of p->rules) that are NATed neither to proxyd nor to a current endpoint
 * of the port's kernel path (p->kern): a client's flow then does not stick
 * to a pod that left.  Returns the number deleted, -1 on a netlink error.
 */
int proxy_ct_clear_stale(struct proxyd *, struct hmap *keys);

/* proxy_tun.c: hand-off to tunneld */
typedef tunclient_cb tun_result_cb;
void proxy_tun_init(struct proxyd *);
/* Lends fd to tunneld: the caller keeps it open until cb ran (or cancel), then closes it. */
void proxy_tun_open(struct proxyd *, int fd, const char *peer, const char *ip, uint16_t port,
		    int proto, const char *client, tun_result_cb, void *arg, uint64_t *id);
void proxy_tun_cancel(struct proxyd *, uint64_t id);

/* proxyd_sandbox.c */
void proxyd_sandbox(struct em_daemon *);

#endif
