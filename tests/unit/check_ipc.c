/*
 * IPC: message type names, frame headers, every typed codec (round trip,
 * every truncation, every field of every message with a wrong type, a
 * negative or float number, an over-long string, a NUL inside a string,
 * one field too many or too few, trailing bytes), and fd passing over real
 * Unix socketpairs: the blocking ipc_write_frame/ipc_read_frame pair and
 * the libev ipc_conn (a thousand frames, some with fds; garbage, oversize,
 * truncated and fd-confused input from a peer).
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "ipc.h"
#include "mp.h"

#define ERRLEN	 512
#define LONG_STR 70000 /* longer than any string limit (PEM: 64 KiB) */

#ifdef __SANITIZE_ADDRESS__
/*
 * msgpack-c allocates an array's claimed size before its elements arrive; a
 * test claims 2^32 of them in a 6-byte payload, which must fail cleanly
 * (malloc returns NULL) rather than abort under ASan.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

/* ---------------------------------------------------------------------- */
/* helpers */

struct pbuf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
pb_init(struct pbuf *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void
pb_free(struct pbuf *b)
{
	msgpack_sbuffer_destroy(&b->sb);
}

/* Parse a payload into m; returns ipc_msg_parse's result. */
static int
msg_parse(struct ipc_msg *m, uint16_t type, const void *p, size_t len, char *err)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	err[0] = '\0';
	return ipc_msg_parse(m, type, p, len, err, ERRLEN);
}

static void
msg_parse_ok(struct ipc_msg *m, uint16_t type, const void *p, size_t len)
{
	char err[ERRLEN];

	if (msg_parse(m, type, p, len, err) == -1)
		ck_abort_msg("ipc_msg_parse(%s): %s", ipc_type_name(type), err);
}

static int
count_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static size_t
mkframe(uint8_t *out, uint16_t type, uint16_t flags, const void *payload, size_t len)
{
	struct ipc_hdr h = {type, flags, (uint32_t)len};

	ipc_hdr_encode(&h, out);
	if (len > 0)
		memcpy(out + IPC_HDR_LEN, payload, len);
	return IPC_HDR_LEN + len;
}

/* One sendmsg with nfds fds as SCM_RIGHTS (what a misbehaving peer may send). */
static void
raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct cmsghdr *cmh;
	struct msghdr mh;
	struct iovec iov;

	ck_assert_int_le(nfds, 4);
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmh = CMSG_FIRSTHDR(&mh);
		cmh->cmsg_level = SOL_SOCKET;
		cmh->cmsg_type = SCM_RIGHTS;
		cmh->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmh), fds, sizeof(int) * (size_t)nfds);
	}
	ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void
mkpair(int sv[2], int nonblock)
{
	ck_assert_int_eq(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0, sv),
	    0);
}

/* A pipe with a non-blocking read end: a writer leaked somewhere shows as EAGAIN, not a hang. */
static void
mkpipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
}

/* A pipe whose write end says what it is; returns the read end, the other end is closed. */
static int
labelled_pipe(const char *label)
{
	int p[2];

	mkpipe(p);
	ck_assert_int_eq(write(p[1], label, strlen(label)), (ssize_t)strlen(label));
	close(p[1]);
	return p[0];
}

static void
read_label(int fd, char *buf, size_t len)
{
	ssize_t n;
	size_t off = 0;

	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
}

/* ---------------------------------------------------------------------- */
/* fixtures: one of every message, with non-default values in every field */

static const struct ipc_hello fx_hello = {IPC_VERSION, "proxyd", 4242, "0.1.0-test"};
static const char fx_reason[] = "protocol version 9, we speak 1";
static const uint32_t fx_topics =
    EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_PEERS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
static const struct ipc_health fx_health = {"degraded", "nft: 3 rules missing", 123456789012ULL,
					    (1ULL << 40) | 7, 2048};
static const struct ipc_tun_open fx_open = {
    UINT64_MAX - 1, "edge-2.example", "fd00::1234", 65535,
    EM_PROTO_UDP,   "10.0.0.1:5555",  10,	    {0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0}};
static const struct ipc_tun_result fx_result = {77, 0, "no route to edge-2"};

static void
fx_status(struct ipc_status *s)
{
	memset(s, 0, sizeof(*s));
	s->version = 0x123456789aULL;
	snprintf(s->registry, sizeof(s->registry), "file:/etc/edgemesh/registry");
	s->nrows = 2;
	snprintf(s->rows[0].name, sizeof(s->rows[0].name), "controller");
	s->rows[0].connected = 1;
	snprintf(s->rows[0].build, sizeof(s->rows[0].build), "0.1.0");
	s->rows[0].pid = 100;
	s->rows[0].uptime = 3600;
	s->rows[0].state_version = 0x123456789aULL;
	snprintf(s->rows[0].state, sizeof(s->rows[0].state), "ok");
	s->rows[0].rss_kb = 1500;
	snprintf(s->rows[1].name, sizeof(s->rows[1].name), "socksd");
	s->rows[1].connected = 0;
	s->rows[1].pid = 7;
	snprintf(s->rows[1].state, sizeof(s->rows[1].state), "down");
	snprintf(s->rows[1].detail, sizeof(s->rows[1].detail), "last seen: pid 7, bye");
}

static struct ipc_peer_row fx_peer_rows[3] = {
    {"edge-1", "10.200.0.11:20006", "up", 250, 1ULL << 33, 12345, 3, "direct", "aesgcm"},
    {"edge-2", "cloud-1", "up", 900, 0, 0, 0, "relayed via cloud-1", "chachapoly"},
    {"cloud-1", "", "refused", 0, 1, 2, 0, "", ""},
};

static void
fx_peers(struct ipc_peers *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->self, sizeof(p->self), "edge-3");
	snprintf(p->fingerprint, sizeof(p->fingerprint), "ab12cd34ef56");
	p->nrows = 3;
	p->rows = fx_peer_rows;
}

static void
port_set(struct em_port *p, const char *name, uint16_t port, uint16_t target, const char *tname,
	 uint16_t node_port, uint8_t proto)
{
	p->name = xstrdup(name);
	p->port = port;
	p->target_port = target;
	p->target_port_name = xstrdup(tname);
	p->node_port = node_port;
	p->proto = proto;
}

static struct em_service *
fx_service(void)
{
	struct em_service *s = xcalloc(1, sizeof(*s));

	s->ns = xstrdup("shop");
	s->name = xstrdup("web");
	s->type = EM_SVC_NODE_PORT;
	s->cluster_ip = xstrdup("10.96.0.10");
	s->n_cluster_ips = 2;
	s->cluster_ips[0] = xstrdup("10.96.0.10");
	s->cluster_ips[1] = xstrdup("fd00:10:96::a");
	s->external_name = xstrdup("");
	s->headless = false;
	s->proxy_label = true;
	s->publish_not_ready = true;
	s->affinity_client_ip = true;
	s->affinity_timeout = 600;
	s->lb = EM_LB_CONSISTENT_HASH;
	s->hash = EM_HASH_COOKIE;
	s->hash_arg = xstrdup("session");
	s->hash_cookie_ttl = 3600;
	s->nports = 3;
	s->ports = xcalloc(3, sizeof(*s->ports));
	port_set(&s->ports[0], "http", 80, 8080, "", 30080, EM_PROTO_TCP);
	port_set(&s->ports[1], "dns", 53, 0, "dns-udp", 0, EM_PROTO_UDP);
	port_set(&s->ports[2], "sig", 9999, 9999, "", 0, EM_PROTO_SCTP);
	return s;
}

static void
ep_set(struct em_endpoint *e, const char *ip, const char *node, const char *host, const char *zone,
       const char *pod, bool ready)
{
	e->ip = xstrdup(ip);
	e->node = xstrdup(node);
	e->hostname = xstrdup(host);
	e->zone = xstrdup(zone);
	e->pod = xstrdup(pod);
	e->ready = ready;
}

static struct em_endpoints *
fx_endpoints(void)
{
	struct em_endpoints *e = xcalloc(1, sizeof(*e));

	e->ns = xstrdup("shop");
	e->name = xstrdup("web");
	e->nports = 2;
	e->ports = xcalloc(2, sizeof(*e->ports));
	port_set(&e->ports[0], "http", 8080, 0, "", 0, EM_PROTO_TCP);
	port_set(&e->ports[1], "dns", 5353, 0, "", 0, EM_PROTO_UDP);
	e->neps = 3;
	e->eps = xcalloc(3, sizeof(*e->eps));
	ep_set(&e->eps[0], "10.244.1.5", "edge-1", "web-0", "zone-a", "web-0", true);
	ep_set(&e->eps[1], "fd00::5", "edge-2", "", "", "", false);
	ep_set(&e->eps[2], "10.244.2.9", "", "", "zone-b", "web-2", true);
	return e;
}

static struct em_peer *
fx_peer(void)
{
	struct em_peer *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup("edge-1");
	p->naddrs = 3;
	p->addrs[0] = xstrdup("10.200.0.11");
	p->addrs[1] = xstrdup("203.0.113.7");
	p->addrs[2] = xstrdup("fd00::11");
	p->relay = true;
	p->pubkey = xstrdup("bWFkZSB1cCBrZXkgZm9yIHRlc3RzIDMyIGJ5dGVzISE=");
	return p;
}

static void
route_set(struct em_gw_route *r, const char *prefix, const char *exact, const char *regex,
	  const char *host, const char *ns, uint16_t port)
{
	r->prefix = xstrdup(prefix);
	r->exact = xstrdup(exact);
	r->regex = xstrdup(regex);
	r->dest_host = xstrdup(host);
	r->dest_ns = xstrdup(ns);
	r->dest_port = port;
}

static struct em_gateway *
fx_gateway(void)
{
	struct em_gateway *g = xcalloc(1, sizeof(*g));
	struct em_gw_server *sv;

	g->ns = xstrdup("istio-system");
	g->name = xstrdup("edge-gw");
	g->nservers = 2;
	g->servers = xcalloc(2, sizeof(*g->servers));
	sv = &g->servers[0];
	sv->port = 80;
	sv->protocol = xstrdup("HTTP");
	sv->nhosts = 2;
	sv->hosts = xcalloc(2, sizeof(char *));
	sv->hosts[0] = xstrdup("*.example.com");
	sv->hosts[1] = xstrdup("shop.example.com");
	sv->tls_mode = xstrdup("");
	sv->credential = xstrdup("");
	sv->cert_pem = xstrdup("");
	sv->key_pem = xstrdup("");
	sv->ca_pem = xstrdup("");
	sv = &g->servers[1];
	sv->port = 443;
	sv->protocol = xstrdup("HTTPS");
	sv->nhosts = 1;
	sv->hosts = xcalloc(1, sizeof(char *));
	sv->hosts[0] = xstrdup("secure.example.com");
	sv->tls_mode = xstrdup("SIMPLE");
	sv->credential = xstrdup("shop-cert");
	sv->cert_pem = xstrdup("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	sv->key_pem = xstrdup("-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----\n");
	sv->ca_pem = xstrdup("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
	g->nroutes = 3;
	g->routes = xcalloc(3, sizeof(*g->routes));
	route_set(&g->routes[0], "/api", "", "", "api", "shop", 8080);
	route_set(&g->routes[1], "", "/healthz", "", "health.shop.svc.cluster.local", "shop", 80);
	route_set(&g->routes[2], "", "", "^/v[0-9]+/", "web", "shop", 0);
	/* the last route is a tcp route for two hosts, matching port 9000 */
	g->routes[2].kind = EM_GW_TCP;
	g->routes[2].port = 9000;
	g->routes[2].nhosts = 2;
	g->routes[2].hosts = xcalloc(2, sizeof(char *));
	g->routes[2].hosts[0] = xstrdup("shop.example.com");
	g->routes[2].hosts[1] = xstrdup("*");
	return g;
}

static struct em_self *
fx_self(void)
{
	struct em_self *s = xcalloc(1, sizeof(*s));

	s->node = xstrdup("edge-1");
	s->domain = xstrdup("cluster.local");
	s->registry_version = 99;
	return s;
}

static void
fx_object(struct em_object *o, enum em_topic t)
{
	o->topic = t;
	switch (t) {
	case EM_TOPIC_SERVICES:
		o->u.svc = fx_service();
		break;
	case EM_TOPIC_ENDPOINTS:
		o->u.eps = fx_endpoints();
		break;
	case EM_TOPIC_PEERS:
		o->u.peer = fx_peer();
		break;
	case EM_TOPIC_GATEWAYS:
		o->u.gw = fx_gateway();
		break;
	default:
		o->u.self = fx_self();
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* equality of decoded objects */

static void
eq_ports(const struct em_port *a, size_t na, const struct em_port *b, size_t nb)
{
	size_t i;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++) {
		ck_assert_str_eq(a[i].name, b[i].name);
		ck_assert_uint_eq(a[i].port, b[i].port);
		ck_assert_uint_eq(a[i].target_port, b[i].target_port);
		ck_assert_str_eq(a[i].target_port_name, b[i].target_port_name);
		ck_assert_uint_eq(a[i].node_port, b[i].node_port);
		ck_assert_uint_eq(a[i].proto, b[i].proto);
	}
}

static void
eq_service(const struct em_service *a, const struct em_service *b)
{
	size_t i;

	ck_assert_str_eq(a->ns, b->ns);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_str_eq(a->cluster_ip, b->cluster_ip);
	ck_assert_uint_eq(a->n_cluster_ips, b->n_cluster_ips);
	for (i = 0; i < a->n_cluster_ips; i++)
		ck_assert_str_eq(a->cluster_ips[i], b->cluster_ips[i]);
	ck_assert_str_eq(a->external_name, b->external_name);
	ck_assert_int_eq(a->headless, b->headless);
	ck_assert_int_eq(a->proxy_label, b->proxy_label);
	ck_assert_int_eq(a->publish_not_ready, b->publish_not_ready);
	ck_assert_int_eq(a->affinity_client_ip, b->affinity_client_ip);
	ck_assert_uint_eq(a->affinity_timeout, b->affinity_timeout);
	ck_assert_uint_eq(a->lb, b->lb);
	ck_assert_uint_eq(a->hash, b->hash);
	ck_assert_str_eq(a->hash_arg, b->hash_arg);
	ck_assert_uint_eq(a->hash_cookie_ttl, b->hash_cookie_ttl);
	eq_ports(a->ports, a->nports, b->ports, b->nports);
}

static void
eq_endpoints(const struct em_endpoints *a, const struct em_endpoints *b)
{
	size_t i;

	ck_assert_str_eq(a->ns, b->ns);
	ck_assert_str_eq(a->name, b->name);
	eq_ports(a->ports, a->nports, b->ports, b->nports);
	ck_assert_uint_eq(a->neps, b->neps);
	for (i = 0; i < a->neps; i++) {
		ck_assert_str_eq(a->eps[i].ip, b->eps[i].ip);
		ck_assert_str_eq(a->eps[i].node, b->eps[i].node);
		ck_assert_str_eq(a->eps[i].hostname, b->eps[i].hostname);
		ck_assert_str_eq(a->eps[i].zone, b->eps[i].zone);
		ck_assert_str_eq(a->eps[i].pod, b->eps[i].pod);
		ck_assert_int_eq(a->eps[i].ready, b->eps[i].ready);
	}
}

static void
eq_peer(const struct em_peer *a, const struct em_peer *b)
{
	size_t i;

	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->naddrs, b->naddrs);
	for (i = 0; i < a->naddrs; i++)
		ck_assert_str_eq(a->addrs[i], b->addrs[i]);
	ck_assert_int_eq(a->relay, b->relay);
	ck_assert_str_eq(a->pubkey, b->pubkey);
}

static void
eq_gateway(const struct em_gateway *a, const struct em_gateway *b)
{
	const struct em_gw_server *x, *y;
	size_t i, j;

	ck_assert_str_eq(a->ns, b->ns);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->nservers, b->nservers);
	for (i = 0; i < a->nservers; i++) {
		x = &a->servers[i];
		y = &b->servers[i];
		ck_assert_uint_eq(x->port, y->port);
		ck_assert_str_eq(x->protocol, y->protocol);
		ck_assert_uint_eq(x->nhosts, y->nhosts);
		for (j = 0; j < x->nhosts; j++)
			ck_assert_str_eq(x->hosts[j], y->hosts[j]);
		ck_assert_str_eq(x->tls_mode, y->tls_mode);
		ck_assert_str_eq(x->credential, y->credential);
		ck_assert_str_eq(x->cert_pem, y->cert_pem);
		ck_assert_str_eq(x->key_pem, y->key_pem);
		ck_assert_str_eq(x->ca_pem, y->ca_pem);
	}
	ck_assert_uint_eq(a->nroutes, b->nroutes);
	for (i = 0; i < a->nroutes; i++) {
		ck_assert_uint_eq(a->routes[i].kind, b->routes[i].kind);
		ck_assert_uint_eq(a->routes[i].port, b->routes[i].port);
		ck_assert_uint_eq(a->routes[i].nhosts, b->routes[i].nhosts);
		for (size_t h = 0; h < a->routes[i].nhosts; h++)
			ck_assert_str_eq(a->routes[i].hosts[h], b->routes[i].hosts[h]);
		ck_assert_str_eq(a->routes[i].prefix, b->routes[i].prefix);
		ck_assert_str_eq(a->routes[i].exact, b->routes[i].exact);
		ck_assert_str_eq(a->routes[i].regex, b->routes[i].regex);
		ck_assert_str_eq(a->routes[i].dest_host, b->routes[i].dest_host);
		ck_assert_str_eq(a->routes[i].dest_ns, b->routes[i].dest_ns);
		ck_assert_uint_eq(a->routes[i].dest_port, b->routes[i].dest_port);
	}
}

static void
eq_object(const struct em_object *a, const struct em_object *b)
{
	ck_assert_int_eq(a->topic, b->topic);
	switch (a->topic) {
	case EM_TOPIC_SERVICES:
		eq_service(a->u.svc, b->u.svc);
		break;
	case EM_TOPIC_ENDPOINTS:
		eq_endpoints(a->u.eps, b->u.eps);
		break;
	case EM_TOPIC_PEERS:
		eq_peer(a->u.peer, b->u.peer);
		break;
	case EM_TOPIC_GATEWAYS:
		eq_gateway(a->u.gw, b->u.gw);
		break;
	default:
		ck_assert_str_eq(a->u.self->node, b->u.self->node);
		ck_assert_str_eq(a->u.self->domain, b->u.self->domain);
		ck_assert_uint_eq(a->u.self->registry_version, b->u.self->registry_version);
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* the codec table: pack a fixture; decode (and with verify, compare) */

#define UPSERT_VERSION 0xfedcba9876ULL

static void
pack_upsert(msgpack_packer *pk, enum em_topic t)
{
	struct em_object o;
	char key[EM_KEY_LEN];

	fx_object(&o, t);
	ipc_pack_upsert_head(pk, t, UPSERT_VERSION, em_object_key(&o, key, sizeof(key)));
	ipc_pack_object(pk, &o);
	em_object_free(&o);
}

static int
unpack_upsert(const struct ipc_msg *m, enum em_topic t, int verify, char *err)
{
	struct em_object o, want;
	uint64_t v = 0;

	if (ipc_unpack_upsert(m, &v, &o, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_uint_eq(v, UPSERT_VERSION);
		fx_object(&want, t);
		eq_object(&o, &want);
		em_object_free(&want);
	}
	em_object_free(&o);
	return 0;
}

static void
pk_hello(msgpack_packer *pk)
{
	ipc_pack_hello(pk, &fx_hello);
}
static void
pk_error(msgpack_packer *pk)
{
	ipc_pack_error(pk, fx_reason);
}
static void
pk_subscribe(msgpack_packer *pk)
{
	ipc_pack_subscribe(pk, fx_topics);
}
static const struct ipc_ping_result fx_ping = {1,	  1234,	     "relayed",
					       "cloud-1", "cloud-1", "a reason"};

static void
pk_ping_req(msgpack_packer *pk)
{
	ipc_pack_ping_req(pk, "edge-2");
}

static int
up_ping_req(const struct ipc_msg *m, int verify, char *err)
{
	char node[254];

	if (ipc_unpack_ping_req(m, node, sizeof(node), err, ERRLEN) == -1)
		return -1;
	if (verify)
		ck_assert_str_eq(node, "edge-2");
	return 0;
}

static void
pk_ping_result(msgpack_packer *pk)
{
	ipc_pack_ping_result(pk, &fx_ping);
}

static int
up_ping_result(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_ping_result r;

	if (ipc_unpack_ping_result(m, &r, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_int_eq(r.ok, fx_ping.ok);
		ck_assert_uint_eq(r.rtt_us, fx_ping.rtt_us);
		ck_assert_str_eq(r.path, fx_ping.path);
		ck_assert_str_eq(r.via, fx_ping.via);
		ck_assert_str_eq(r.addr, fx_ping.addr);
		ck_assert_str_eq(r.reason, fx_ping.reason);
	}
	return 0;
}

/* METRICS: two samples, one with escaped labels */
static void
fx_metrics(struct em_samples *ss)
{
	memset(ss, 0, sizeof(*ss));
	metrics_add(ss, EM_M_PEER_RTT, 0.000125, "peer", "edge-2", NULL);
	metrics_add_part(ss, EM_M_GW_DURATION, EM_MP_BUCKET, 7, "route", "a\"b\\c\nd", "le", "0.5",
			 NULL);
}

static void
pk_metrics(msgpack_packer *pk)
{
	struct em_samples ss;

	fx_metrics(&ss);
	ipc_pack_metrics(pk, &ss);
	metrics_free(&ss);
}

static int
up_metrics(const struct ipc_msg *m, int verify, char *err)
{
	struct em_samples got = {0}, want;
	size_t i;
	int rc;

	if ((rc = ipc_unpack_metrics(m, &got, err, ERRLEN)) == 0 && verify) {
		fx_metrics(&want);
		ck_assert_uint_eq(got.n, want.n);
		for (i = 0; i < want.n; i++) {
			ck_assert_uint_eq(got.s[i].id, want.s[i].id);
			ck_assert_uint_eq(got.s[i].part, want.s[i].part);
			ck_assert_str_eq(got.s[i].labels, want.s[i].labels);
			ck_assert(got.s[i].value == want.s[i].value);
		}
		ck_assert_str_eq(got.s[1].labels, "route=\"a\\\"b\\\\c\\nd\",le=\"0.5\"");
		metrics_free(&want);
	}
	metrics_free(&got);
	return rc;
}

static void
pk_health(msgpack_packer *pk)
{
	ipc_pack_health(pk, &fx_health);
}
static void
pk_snapmark(msgpack_packer *pk)
{
	ipc_pack_snapmark(pk, EM_TOPIC_ENDPOINTS, 1ULL << 50);
}
static void
pk_delete(msgpack_packer *pk)
{
	ipc_pack_delete(pk, EM_TOPIC_PEERS, 12345, "edge-2");
}
static void
pk_open(msgpack_packer *pk)
{
	ipc_pack_tun_open(pk, &fx_open);
}
static void
pk_result(msgpack_packer *pk)
{
	ipc_pack_tun_result(pk, &fx_result);
}
static void
pk_empty(msgpack_packer *pk)
{
	ipc_pack_empty(pk);
}
static void
pk_up_svc(msgpack_packer *pk)
{
	pack_upsert(pk, EM_TOPIC_SERVICES);
}
static void
pk_up_eps(msgpack_packer *pk)
{
	pack_upsert(pk, EM_TOPIC_ENDPOINTS);
}
static void
pk_up_peer(msgpack_packer *pk)
{
	pack_upsert(pk, EM_TOPIC_PEERS);
}
static void
pk_up_gw(msgpack_packer *pk)
{
	pack_upsert(pk, EM_TOPIC_GATEWAYS);
}
static void
pk_up_self(msgpack_packer *pk)
{
	pack_upsert(pk, EM_TOPIC_SELF);
}

static void
pk_status(msgpack_packer *pk)
{
	struct ipc_status s;

	fx_status(&s);
	ipc_pack_status(pk, &s);
}

static void
pk_peers(msgpack_packer *pk)
{
	struct ipc_peers p;

	fx_peers(&p);
	ipc_pack_peers(pk, &p);
}

static int
up_hello(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_hello h;

	if (ipc_unpack_hello(m, &h, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_uint_eq(h.version, fx_hello.version);
		ck_assert_str_eq(h.name, fx_hello.name);
		ck_assert_uint_eq(h.pid, fx_hello.pid);
		ck_assert_str_eq(h.build, fx_hello.build);
	}
	return 0;
}

static int
up_error(const struct ipc_msg *m, int verify, char *err)
{
	char reason[256];

	if (ipc_unpack_error(m, reason, sizeof(reason), err, ERRLEN) == -1)
		return -1;
	if (verify)
		ck_assert_str_eq(reason, fx_reason);
	return 0;
}

static int
up_subscribe(const struct ipc_msg *m, int verify, char *err)
{
	uint32_t t;

	if (ipc_unpack_subscribe(m, &t, err, ERRLEN) == -1)
		return -1;
	if (verify)
		ck_assert_uint_eq(t, fx_topics);
	return 0;
}

static int
up_health(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_health h;

	if (ipc_unpack_health(m, &h, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_str_eq(h.state, fx_health.state);
		ck_assert_str_eq(h.detail, fx_health.detail);
		ck_assert_uint_eq(h.uptime, fx_health.uptime);
		ck_assert_uint_eq(h.state_version, fx_health.state_version);
		ck_assert_uint_eq(h.rss_kb, fx_health.rss_kb);
	}
	return 0;
}

static int
up_status(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_status s, w;
	size_t i;

	if (ipc_unpack_status(m, &s, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		fx_status(&w);
		ck_assert_uint_eq(s.version, w.version);
		ck_assert_str_eq(s.registry, w.registry);
		ck_assert_uint_eq(s.nrows, w.nrows);
		for (i = 0; i < w.nrows; i++) {
			ck_assert_str_eq(s.rows[i].name, w.rows[i].name);
			ck_assert_int_eq(s.rows[i].connected, w.rows[i].connected);
			ck_assert_str_eq(s.rows[i].build, w.rows[i].build);
			ck_assert_uint_eq(s.rows[i].pid, w.rows[i].pid);
			ck_assert_uint_eq(s.rows[i].uptime, w.rows[i].uptime);
			ck_assert_uint_eq(s.rows[i].state_version, w.rows[i].state_version);
			ck_assert_str_eq(s.rows[i].state, w.rows[i].state);
			ck_assert_str_eq(s.rows[i].detail, w.rows[i].detail);
			ck_assert_uint_eq(s.rows[i].rss_kb, w.rows[i].rss_kb);
		}
	}
	return 0;
}

static int
up_snapmark(const struct ipc_msg *m, int verify, char *err)
{
	enum em_topic t;
	uint64_t v;

	if (ipc_unpack_snapmark(m, &t, &v, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_int_eq(t, EM_TOPIC_ENDPOINTS);
		ck_assert_uint_eq(v, 1ULL << 50);
	}
	return 0;
}

static int
up_delete(const struct ipc_msg *m, int verify, char *err)
{
	enum em_topic t;
	uint64_t v;
	char key[EM_KEY_LEN];

	if (ipc_unpack_delete(m, &t, &v, key, sizeof(key), err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_int_eq(t, EM_TOPIC_PEERS);
		ck_assert_uint_eq(v, 12345);
		ck_assert_str_eq(key, "edge-2");
	}
	return 0;
}

static int
up_open(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_tun_open o;

	if (ipc_unpack_tun_open(m, &o, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_uint_eq(o.id, fx_open.id);
		ck_assert_str_eq(o.peer, fx_open.peer);
		ck_assert_str_eq(o.ip, fx_open.ip);
		ck_assert_uint_eq(o.port, fx_open.port);
		ck_assert_uint_eq(o.proto, fx_open.proto);
		ck_assert_str_eq(o.client, fx_open.client);
		ck_assert_uint_eq(o.reply_len, fx_open.reply_len);
		ck_assert_mem_eq(o.reply, fx_open.reply, fx_open.reply_len);
	}
	return 0;
}

static int
up_result(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_tun_result r;

	if (ipc_unpack_tun_result(m, &r, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		ck_assert_uint_eq(r.id, fx_result.id);
		ck_assert_int_eq(r.ok, fx_result.ok);
		ck_assert_str_eq(r.reason, fx_result.reason);
	}
	return 0;
}

static int
up_peers(const struct ipc_msg *m, int verify, char *err)
{
	struct ipc_peers p, w;
	size_t i;

	if (ipc_unpack_peers(m, &p, err, ERRLEN) == -1)
		return -1;
	if (verify) {
		fx_peers(&w);
		ck_assert_str_eq(p.self, w.self);
		ck_assert_str_eq(p.fingerprint, w.fingerprint);
		ck_assert_uint_eq(p.nrows, w.nrows);
		for (i = 0; i < w.nrows; i++) {
			ck_assert_str_eq(p.rows[i].name, w.rows[i].name);
			ck_assert_str_eq(p.rows[i].addr, w.rows[i].addr);
			ck_assert_str_eq(p.rows[i].state, w.rows[i].state);
			ck_assert_uint_eq(p.rows[i].rtt_us, w.rows[i].rtt_us);
			ck_assert_uint_eq(p.rows[i].tx_bytes, w.rows[i].tx_bytes);
			ck_assert_uint_eq(p.rows[i].rx_bytes, w.rows[i].rx_bytes);
			ck_assert_uint_eq(p.rows[i].streams, w.rows[i].streams);
			ck_assert_str_eq(p.rows[i].path, w.rows[i].path);
		}
	}
	ipc_peers_clear(&p);
	return 0;
}

static int
up_empty(const struct ipc_msg *m, int verify, char *err)
{
	return ipc_unpack_empty(m, err, ERRLEN);
}

static int
up_svc(const struct ipc_msg *m, int v, char *e)
{
	return unpack_upsert(m, EM_TOPIC_SERVICES, v, e);
}
static int
up_eps(const struct ipc_msg *m, int v, char *e)
{
	return unpack_upsert(m, EM_TOPIC_ENDPOINTS, v, e);
}
static int
up_peer(const struct ipc_msg *m, int v, char *e)
{
	return unpack_upsert(m, EM_TOPIC_PEERS, v, e);
}
static int
up_gw(const struct ipc_msg *m, int v, char *e)
{
	return unpack_upsert(m, EM_TOPIC_GATEWAYS, v, e);
}
static int
up_self(const struct ipc_msg *m, int v, char *e)
{
	return unpack_upsert(m, EM_TOPIC_SELF, v, e);
}

static const struct codec {
	const char *label;
	uint16_t type;
	const char *what; /* every decoding error names this */
	void (*pack)(msgpack_packer *);
	int (*unpack)(const struct ipc_msg *, int verify, char *err);
} codecs[] = {
    {"hello", IPC_HELLO, "HELLO", pk_hello, up_hello},
    {"error", IPC_ERROR, "ERROR", pk_error, up_error},
    {"subscribe", IPC_SUBSCRIBE, "SUBSCRIBE", pk_subscribe, up_subscribe},
    {"health", IPC_HEALTH, "HEALTH", pk_health, up_health},
    {"status", IPC_STATUS, "STATUS", pk_status, up_status},
    {"snapshot begin", IPC_SNAPSHOT_BEGIN, "SNAPSHOT_BEGIN", pk_snapmark, up_snapmark},
    {"snapshot end", IPC_SNAPSHOT_END, "SNAPSHOT_END", pk_snapmark, up_snapmark},
    {"upsert service", IPC_UPSERT, "UPSERT", pk_up_svc, up_svc},
    {"upsert endpoints", IPC_UPSERT, "UPSERT", pk_up_eps, up_eps},
    {"upsert peer", IPC_UPSERT, "UPSERT", pk_up_peer, up_peer},
    {"upsert gateway", IPC_UPSERT, "UPSERT", pk_up_gw, up_gw},
    {"upsert self", IPC_UPSERT, "UPSERT", pk_up_self, up_self},
    {"delete", IPC_DELETE, "DELETE", pk_delete, up_delete},
    {"tun_open", IPC_TUN_OPEN, "TUN_OPEN", pk_open, up_open},
    {"tun_result", IPC_TUN_RESULT, "TUN_RESULT", pk_result, up_result},
    {"peers", IPC_PEERS, "PEERS", pk_peers, up_peers},
    {"status_req (empty)", IPC_STATUS_REQ, "STATUS_REQ", pk_empty, up_empty},
    {"peers_req (empty)", IPC_PEERS_REQ, "PEERS_REQ", pk_empty, up_empty},
    /* appended: the tests above index this table by position */
    {"metrics", IPC_METRICS, "METRICS", pk_metrics, up_metrics},
    {"metrics_req (empty)", IPC_METRICS_REQ, "METRICS_REQ", pk_empty, up_empty},
    {"ping_req", IPC_PING_REQ, "PING_REQ", pk_ping_req, up_ping_req},
    {"ping_result", IPC_PING_RESULT, "PING_RESULT", pk_ping_result, up_ping_result},
    {"health_req (empty)", IPC_HEALTH_REQ, "HEALTH_REQ", pk_empty, up_empty},
};
#define NCODECS ((int)(sizeof(codecs) / sizeof(codecs[0])))

/* Decode a payload with codec c: 0 if accepted; otherwise err says why. */
static int
codec_try(const struct codec *c, const void *p, size_t len, int verify, char *err)
{
	struct ipc_msg m;
	int rc;

	if (msg_parse(&m, c->type, p, len, err) == -1)
		return -1;
	rc = c->unpack(&m, verify, err);
	ipc_msg_clear(&m);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* message types */

static const int all_types[] = {
    IPC_HELLO,		IPC_ERROR,	IPC_SUBSCRIBE, IPC_HEALTH,	 IPC_STATUS_REQ,
    IPC_SNAPSHOT_BEGIN, IPC_UPSERT,	IPC_DELETE,    IPC_SNAPSHOT_END, IPC_STATUS,
    IPC_TUN_OPEN,	IPC_TUN_RESULT, IPC_PEERS_REQ, IPC_PEERS,	 IPC_FD_STORE,
    IPC_FD_FETCH,	IPC_FD_RETURN,	IPC_METRICS,   IPC_METRICS_REQ,	 IPC_PING_REQ,
    IPC_PING_RESULT,	IPC_HEALTH_REQ,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

START_TEST(test_type_names)
{
	size_t i, j, known = 0;
	int t, listed;

	/* every enumerator is known, named, and named once */
	for (i = 0; i < NTYPES; i++) {
		ck_assert_msg(ipc_type_known(all_types[i]), "type %d unknown", all_types[i]);
		ck_assert_str_ne(ipc_type_name(all_types[i]), "?");
		ck_assert_str_ne(ipc_type_name(all_types[i]), "");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(ipc_type_name(all_types[i]), ipc_type_name(all_types[j]));
	}
	/* every known value is one of them and has a name; nothing else is known */
	for (t = 0; t < 64; t++) {
		listed = 0;
		for (i = 0; i < NTYPES; i++)
			listed |= all_types[i] == t;
		if (ipc_type_known(t)) {
			known++;
			ck_assert_msg(listed, "type %d is known but not in the test's list", t);
			ck_assert_str_ne(ipc_type_name(t), "?");
		} else {
			ck_assert_msg(!listed, "enumerator %d is not known", t);
			ck_assert_str_eq(ipc_type_name(t), "?");
		}
	}
	ck_assert_uint_eq(known, NTYPES);
	for (t = 64; t <= 0xffff; t++)
		ck_assert_msg(!ipc_type_known(t), "type %d", t);
	ck_assert(!ipc_type_known(-1));
	ck_assert_str_eq(ipc_type_name(-1), "?");
	/* TUN_OPEN and FD_STORE need an fd, FD_RETURN may carry one, nothing else does */
	for (i = 0; i < NTYPES; i++) {
		t = all_types[i];
		ck_assert_int_eq(ipc_type_carries_fd(t),
				 t == IPC_TUN_OPEN || t == IPC_FD_STORE || t == IPC_FD_RETURN);
		ck_assert_int_eq(ipc_type_requires_fd(t), t == IPC_TUN_OPEN || t == IPC_FD_STORE);
	}
	ck_assert_int_eq(ipc_type_carries_fd(999), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* headers */

START_TEST(test_hdr_roundtrip)
{
	struct ipc_hdr h = {IPC_TUN_OPEN, IPC_F_FD, 0x01020304}, d;
	uint8_t b[IPC_HDR_LEN];
	const uint8_t want[IPC_HDR_LEN] = {0, 30, 0, 1, 1, 2, 3, 4};
	char err[ERRLEN] = "";

	ipc_hdr_encode(&h, b);
	ck_assert_mem_eq(b, want, IPC_HDR_LEN); /* big-endian type, flags, length */
	ck_assert_int_eq(ipc_hdr_decode(b, 0x01020304, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.type, IPC_TUN_OPEN);
	ck_assert_uint_eq(d.flags, IPC_F_FD);
	ck_assert_uint_eq(d.len, 0x01020304);
	/* the limit itself is allowed, one more is not */
	ck_assert_int_eq(ipc_hdr_decode(b, 0x01020303, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "TUN_OPEN"));
	ck_assert_ptr_nonnull(strstr(err, "exceeds"));

	h.type = IPC_PEERS;
	h.flags = 0;
	h.len = 1;
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_TUNNEL, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.type, IPC_PEERS);
	ck_assert_uint_eq(d.flags, 0);
	ck_assert_uint_eq(d.len, 1);
}
END_TEST

START_TEST(test_hdr_rejects)
{
	struct ipc_hdr h, d;
	uint8_t b[IPC_HDR_LEN];
	char err[ERRLEN];
	unsigned f;

	/* unknown types */
	h = (struct ipc_hdr){0, 0, 4};
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown message type 0"));
	h.type = 0xffff;
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "65535"));
	/* every unknown flag bit */
	for (f = 1; f < 0x10000; f <<= 1) {
		if (f == IPC_F_FD)
			continue;
		h = (struct ipc_hdr){IPC_HELLO, (uint16_t)(f | IPC_F_FD), 4};
		ipc_hdr_encode(&h, b);
		ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "flags"));
		ck_assert_ptr_nonnull(strstr(err, "HELLO"));
	}
	/* oversize, for both channels' limits, and the largest length there is */
	h = (struct ipc_hdr){IPC_UPSERT, 0, IPC_MAX_CONTROL + 1};
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "exceeds"));
	h.len = IPC_MAX_TUNNEL + 1;
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_TUNNEL, &d, err, sizeof(err)), -1);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), 0);
	h.len = UINT32_MAX;
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
	/* an empty frame cannot hold a msgpack value */
	h.len = 0;
	ipc_hdr_encode(&h, b);
	ck_assert_int_eq(ipc_hdr_decode(b, IPC_MAX_CONTROL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* codecs */

START_TEST(test_codec_roundtrip)
{
	const struct codec *c = &codecs[_i];
	struct pbuf b, b2;
	struct ipc_msg m;
	char err[ERRLEN];

	pb_init(&b);
	c->pack(&b.pk);
	if (codec_try(c, b.sb.data, b.sb.size, 1, err) == -1)
		ck_abort_msg("%s: %s", c->label, err);
	/* packing is deterministic */
	pb_init(&b2);
	c->pack(&b2.pk);
	ck_assert_uint_eq(b.sb.size, b2.sb.size);
	ck_assert_mem_eq(b.sb.data, b2.sb.data, b.sb.size);
	/* the decoder refuses the message under another type */
	msg_parse_ok(&m, c->type == IPC_HELLO ? IPC_ERROR : IPC_HELLO, b.sb.data, b.sb.size);
	if (c->unpack != up_empty)
		ck_assert_int_eq(c->unpack(&m, 0, err), -1);
	ipc_msg_clear(&m);
	pb_free(&b);
	pb_free(&b2);
}
END_TEST

/* An UPSERT decoded and packed again gives the same bytes. */
START_TEST(test_codec_repack)
{
	enum em_topic t = (enum em_topic)_i;
	struct em_object o;
	struct ipc_msg m;
	struct pbuf b, b2;
	uint64_t v;
	char err[ERRLEN], key[EM_KEY_LEN];

	pb_init(&b);
	pack_upsert(&b.pk, t);
	msg_parse_ok(&m, IPC_UPSERT, b.sb.data, b.sb.size);
	ck_assert_int_eq(ipc_unpack_upsert(&m, &v, &o, err, sizeof(err)), 0);
	pb_init(&b2);
	ipc_pack_upsert_head(&b2.pk, t, v, em_object_key(&o, key, sizeof(key)));
	ipc_pack_object(&b2.pk, &o);
	ck_assert_uint_eq(b.sb.size, b2.sb.size);
	ck_assert_mem_eq(b.sb.data, b2.sb.data, b.sb.size);
	em_object_free(&o);
	ipc_msg_clear(&m);
	pb_free(&b);
	pb_free(&b2);
}
END_TEST

START_TEST(test_codec_truncated)
{
	const struct codec *c = &codecs[_i];
	struct pbuf b;
	char err[ERRLEN];
	uint8_t *p;
	size_t n;

	pb_init(&b);
	c->pack(&b.pk);
	for (n = 0; n < b.sb.size; n++) {
		p = malloc(n ? n : 1); /* exactly n bytes, so overreads show */
		memcpy(p, b.sb.data, n);
		ck_assert_msg(codec_try(c, p, n, 0, err) == -1, "%s accepted %zu of %zu bytes",
			      c->label, n, b.sb.size);
		ck_assert_msg(err[0] != '\0', "%s: no error message at %zu bytes", c->label, n);
		free(p);
	}
	pb_free(&b);
}
END_TEST

START_TEST(test_codec_trailing)
{
	const struct codec *c = &codecs[_i];
	const uint8_t extra[][3] = {{0xc0}, {0x00}, {0x91, 0x01}, {0xa1, 'x'}};
	const size_t extralen[] = {1, 1, 2, 2};
	struct pbuf b;
	char err[ERRLEN];
	size_t i;

	for (i = 0; i < sizeof(extralen) / sizeof(extralen[0]); i++) {
		pb_init(&b);
		c->pack(&b.pk);
		msgpack_sbuffer_write(&b.sb, (const char *)extra[i], extralen[i]);
		ck_assert_int_eq(codec_try(c, b.sb.data, b.sb.size, 0, err), -1);
		ck_assert_msg(strstr(err, "trailing") != NULL, "%s: %s", c->label, err);
		ck_assert_msg(strstr(err, c->what) != NULL, "%s: %s", c->label, err);
		pb_free(&b);
	}
}
END_TEST

/*
 * Mutations: the packed fixture is unpacked and packed again with one node
 * (preorder number `target`) changed.  A record is the message itself or an
 * array whose fields do not all have one type; lists (ports, endpoints,
 * addresses, rows) may legitimately be shorter, so only records lose fields.
 */
enum mut {
	MUT_TYPE,
	MUT_NEGATIVE,
	MUT_FLOAT,
	MUT_LONGSTR,
	MUT_NULSTR,
	MUT_EXTRA,
	MUT_FEWER,
	MUT_COUNT
};
static const char *mut_names[MUT_COUNT] = {
    "wrong type",	  "negative",	      "float", "long string", "NUL in string",
    "one field too many", "one field too few"};

static int
is_record(const msgpack_object *o, int top)
{
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	if (top)
		return 1;
	for (i = 1; i < o->via.array.size; i++)
		if (o->via.array.ptr[i].type != o->via.array.ptr[0].type)
			return 1;
	return 0;
}

/* Pack the mutated node; 0 when the mutation does not apply to it. */
static int
pack_mutant(msgpack_packer *pk, const msgpack_object *o, enum mut m, int top)
{
	static char longstr[LONG_STR];
	uint32_t i;

	switch (m) {
	case MUT_TYPE:
		switch (o->type) {
		case MSGPACK_OBJECT_STR:
		case MSGPACK_OBJECT_BOOLEAN:
		case MSGPACK_OBJECT_NIL:
			msgpack_pack_uint8(pk, 1);
			return 1;
		case MSGPACK_OBJECT_POSITIVE_INTEGER:
		case MSGPACK_OBJECT_ARRAY:
			mp_pack_str(pk, "1");
			return 1;
		default:
			return 0;
		}
	case MUT_NEGATIVE:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return 0;
		msgpack_pack_int8(pk, -1);
		return 1;
	case MUT_FLOAT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return 0;
		msgpack_pack_double(pk, 1.0);
		return 1;
	case MUT_LONGSTR:
		if (o->type != MSGPACK_OBJECT_STR)
			return 0;
		memset(longstr, 'a', sizeof(longstr));
		msgpack_pack_str(pk, sizeof(longstr));
		msgpack_pack_str_body(pk, longstr, sizeof(longstr));
		return 1;
	case MUT_NULSTR:
		if (o->type != MSGPACK_OBJECT_STR)
			return 0;
		msgpack_pack_str(pk, 3);
		msgpack_pack_str_body(pk, "a\0b", 3);
		return 1;
	case MUT_EXTRA:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return 0;
		msgpack_pack_array(pk, o->via.array.size + 1);
		for (i = 0; i < o->via.array.size; i++)
			msgpack_pack_object(pk, o->via.array.ptr[i]);
		msgpack_pack_nil(pk);
		return 1;
	case MUT_FEWER:
		if (!is_record(o, top) || o->via.array.size == 0)
			return 0;
		msgpack_pack_array(pk, o->via.array.size - 1);
		for (i = 0; i + 1 < o->via.array.size; i++)
			msgpack_pack_object(pk, o->via.array.ptr[i]);
		return 1;
	default:
		return 0;
	}
}

static void
pack_mut(msgpack_packer *pk, const msgpack_object *o, int top, long target, long *n, enum mut m,
	 int *applied)
{
	long me = (*n)++;
	uint32_t i;

	if (me == target && pack_mutant(pk, o, m, top)) {
		*applied = 1;
		return;
	}
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		msgpack_pack_object(pk, *o);
		return;
	}
	msgpack_pack_array(pk, o->via.array.size);
	for (i = 0; i < o->via.array.size; i++)
		pack_mut(pk, &o->via.array.ptr[i], 0, target, n, m, applied);
}

START_TEST(test_codec_mutations)
{
	const struct codec *c = &codecs[_i];
	struct ipc_msg m;
	struct pbuf b, mb;
	char err[ERRLEN];
	long nodes = 0, target, n;
	int applied, tried = 0;
	enum mut k;

	pb_init(&b);
	c->pack(&b.pk);
	msg_parse_ok(&m, c->type, b.sb.data, b.sb.size);
	pb_init(&mb);
	applied = 0;
	pack_mut(&mb.pk, m.obj, 1, -1, &nodes, MUT_TYPE, &applied);
	/* the unmutated copy is the original */
	ck_assert_uint_eq(mb.sb.size, b.sb.size);
	ck_assert_mem_eq(mb.sb.data, b.sb.data, b.sb.size);
	pb_free(&mb);
	for (target = 0; target < nodes; target++) {
		for (k = 0; k < MUT_COUNT; k++) {
			pb_init(&mb);
			n = 0;
			applied = 0;
			pack_mut(&mb.pk, m.obj, 1, target, &n, k, &applied);
			if (applied) {
				tried++;
				if (codec_try(c, mb.sb.data, mb.sb.size, 0, err) == 0)
					ck_abort_msg("%s: node %ld: %s accepted", c->label, target,
						     mut_names[k]);
				ck_assert_msg(strstr(err, c->what) != NULL,
					      "%s: node %ld: %s: error does not name %s: %s",
					      c->label, target, mut_names[k], c->what, err);
			}
			pb_free(&mb);
		}
	}
	ck_assert_int_gt(tried, 1);
	ipc_msg_clear(&m);
	pb_free(&b);
}
END_TEST

/* Hand-made wrong values the generic mutations do not reach. */
START_TEST(test_codec_ranges)
{
	struct pbuf b;
	struct ipc_msg m;
	char err[ERRLEN], key[EM_KEY_LEN];
	uint64_t v;
	uint32_t t;
	enum em_topic topic;

	/* SUBSCRIBE: a topic bit we do not have */
	pb_init(&b);
	ipc_pack_subscribe(&b.pk, 1u << EM_TOPIC_COUNT);
	msg_parse_ok(&m, IPC_SUBSCRIBE, b.sb.data, b.sb.size);
	ck_assert_int_eq(ipc_unpack_subscribe(&m, &t, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "SUBSCRIBE"));
	ipc_msg_clear(&m);
	pb_free(&b);
	/* snapshot mark, delete, upsert: a topic beyond the last */
	pb_init(&b);
	ipc_pack_snapmark(&b.pk, EM_TOPIC_COUNT, 1);
	msg_parse_ok(&m, IPC_SNAPSHOT_BEGIN, b.sb.data, b.sb.size);
	ck_assert_int_eq(ipc_unpack_snapmark(&m, &topic, &v, err, sizeof(err)), -1);
	ipc_msg_clear(&m);
	pb_free(&b);
	pb_init(&b);
	ipc_pack_delete(&b.pk, EM_TOPIC_COUNT, 1, "x");
	msg_parse_ok(&m, IPC_DELETE, b.sb.data, b.sb.size);
	ck_assert_int_eq(ipc_unpack_delete(&m, &topic, &v, key, sizeof(key), err, sizeof(err)), -1);
	ipc_msg_clear(&m);
	pb_free(&b);
	/* METRICS: a metric id beyond ours (a newer daemon's) is left out, the
	 * rest kept; an id beyond 16 bits is an error */
	pb_init(&b);
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_array(&b.pk, 2);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint16(&b.pk, EM_M__COUNT);
	msgpack_pack_uint8(&b.pk, EM_MP_VALUE);
	mp_pack_str(&b.pk, "");
	msgpack_pack_double(&b.pk, 1);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint16(&b.pk, EM_M_DAEMON_FDS);
	msgpack_pack_uint8(&b.pk, EM_MP_VALUE);
	mp_pack_str(&b.pk, "");
	msgpack_pack_double(&b.pk, 7);
	msg_parse_ok(&m, IPC_METRICS, b.sb.data, b.sb.size);
	{
		struct em_samples ss = {0};

		ck_assert_int_eq(ipc_unpack_metrics(&m, &ss, err, sizeof(err)), 0);
		ck_assert_uint_eq(ss.n, 1);
		ck_assert_uint_eq(ss.s[0].id, EM_M_DAEMON_FDS);
		ck_assert(ss.s[0].value == 7);
		metrics_free(&ss);
	}
	ipc_msg_clear(&m);
	pb_free(&b);
	pb_init(&b);
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint32(&b.pk, 65536);
	msgpack_pack_uint8(&b.pk, EM_MP_VALUE);
	mp_pack_str(&b.pk, "");
	msgpack_pack_double(&b.pk, 1);
	msg_parse_ok(&m, IPC_METRICS, b.sb.data, b.sb.size);
	{
		struct em_samples ss = {0};

		ck_assert_int_eq(ipc_unpack_metrics(&m, &ss, err, sizeof(err)), -1);
		metrics_free(&ss);
	}
	ipc_msg_clear(&m);
	pb_free(&b);
	/* TUN_OPEN: port 65536, protocol 3 */
	pb_init(&b);
	msgpack_pack_array(&b.pk, 7);
	msgpack_pack_uint64(&b.pk, 1);
	mp_pack_str(&b.pk, "edge-2");
	mp_pack_str(&b.pk, "10.0.0.1");
	msgpack_pack_uint32(&b.pk, 65536);
	msgpack_pack_uint8(&b.pk, EM_PROTO_TCP);
	mp_pack_str(&b.pk, "");
	msgpack_pack_bin(&b.pk, 0);
	ck_assert_int_eq(codec_try(&codecs[13], b.sb.data, b.sb.size, 0, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "TUN_OPEN field 3"));
	pb_free(&b);
	pb_init(&b);
	msgpack_pack_array(&b.pk, 7);
	msgpack_pack_uint64(&b.pk, 1);
	mp_pack_str(&b.pk, "edge-2");
	mp_pack_str(&b.pk, "10.0.0.1");
	msgpack_pack_uint16(&b.pk, 22);
	msgpack_pack_uint8(&b.pk, EM_PROTO_SCTP + 1);
	mp_pack_str(&b.pk, "");
	msgpack_pack_bin(&b.pk, 0);
	ck_assert_int_eq(codec_try(&codecs[13], b.sb.data, b.sb.size, 0, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "TUN_OPEN field 4"));
	pb_free(&b);
	/* TUN_OPEN: a reply of 65 bytes (64 fit) */
	{
		static const uint8_t big[65];

		pb_init(&b);
		msgpack_pack_array(&b.pk, 7);
		msgpack_pack_uint64(&b.pk, 1);
		mp_pack_str(&b.pk, "edge-2");
		mp_pack_str(&b.pk, "10.0.0.1");
		msgpack_pack_uint16(&b.pk, 22);
		msgpack_pack_uint8(&b.pk, EM_PROTO_TCP);
		mp_pack_str(&b.pk, "");
		msgpack_pack_bin(&b.pk, sizeof(big));
		msgpack_pack_bin_body(&b.pk, big, sizeof(big));
		ck_assert_int_eq(codec_try(&codecs[13], b.sb.data, b.sb.size, 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "TUN_OPEN field 6"));
		pb_free(&b);
	}
	/* a string exactly as long as its buffer allows, and one byte more */
	pb_init(&b);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint32(&b.pk, 1);
	mp_pack_str(&b.pk, "0123456789012345678901234567890"); /* 31: fits name[32] */
	msgpack_pack_uint32(&b.pk, 1);
	mp_pack_str(&b.pk, "");
	ck_assert_int_eq(codec_try(&codecs[0], b.sb.data, b.sb.size, 0, err), 0);
	pb_free(&b);
	pb_init(&b);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint32(&b.pk, 1);
	mp_pack_str(&b.pk, "01234567890123456789012345678901"); /* 32 */
	msgpack_pack_uint32(&b.pk, 1);
	mp_pack_str(&b.pk, "");
	ck_assert_int_eq(codec_try(&codecs[0], b.sb.data, b.sb.size, 0, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "HELLO field 1"));
	pb_free(&b);
	/* HELLO: pid beyond 32 bits */
	pb_init(&b);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint32(&b.pk, 1);
	mp_pack_str(&b.pk, "x");
	msgpack_pack_uint64(&b.pk, 1ULL << 32);
	mp_pack_str(&b.pk, "");
	ck_assert_int_eq(codec_try(&codecs[0], b.sb.data, b.sb.size, 0, err), -1);
	pb_free(&b);
	/* STATUS: more rows than IPC_STATUS_MAX */
	{
		size_t i;

		pb_init(&b);
		msgpack_pack_array(&b.pk, 3);
		msgpack_pack_uint64(&b.pk, 1);
		mp_pack_str(&b.pk, "file:/x");
		msgpack_pack_array(&b.pk, IPC_STATUS_MAX + 1);
		for (i = 0; i < IPC_STATUS_MAX + 1; i++) {
			msgpack_pack_array(&b.pk, 9);
			mp_pack_str(&b.pk, "d");
			msgpack_pack_uint8(&b.pk, 1);
			mp_pack_str(&b.pk, "");
			msgpack_pack_uint32(&b.pk, 1);
			msgpack_pack_uint64(&b.pk, 1);
			msgpack_pack_uint64(&b.pk, 1);
			mp_pack_str(&b.pk, "ok");
			mp_pack_str(&b.pk, "");
			msgpack_pack_uint64(&b.pk, 1);
		}
		ck_assert_int_eq(codec_try(&codecs[4], b.sb.data, b.sb.size, 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "STATUS"));
		pb_free(&b);
	}
	/* a msgpack array header claiming four billion elements in a tiny payload */
	{
		const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
		/* the same inside a map, and a string longer than the payload */
		const uint8_t huge_map[] = {0x81, 0xa1, 'k', 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0};
		const uint8_t long_str[] = {0x91, 0xdb, 0x00, 0x10, 0x00, 0x00, 'x'};

		/* refused by the pre-scan, before msgpack-c allocates anything */
		ck_assert_int_eq(codec_try(&codecs[0], huge, sizeof(huge), 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "claims 4294967295 elements"));
		ck_assert_int_eq(codec_try(&codecs[0], huge_map, sizeof(huge_map), 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "claims"));
		ck_assert_int_eq(codec_try(&codecs[0], long_str, sizeof(long_str), 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "truncated"));
		/* found by fuzz_ipc: the pre-scan must step over an ext exactly as
		 * msgpack-c does, or a huge map right after it goes unchecked */
		{
			const uint8_t ext_map[] = {0x92, 0xc7, 0x01, 0x00, 0x9a, 0xdf,
						   0xff, 0xff, 0xe7, 0xff, 0xc0};

			ck_assert_int_eq(codec_try(&codecs[0], ext_map, sizeof(ext_map), 0, err),
					 -1);
			ck_assert_ptr_nonnull(strstr(err, "claims"));
		}
	}
	/* a non-msgpack byte */
	{
		const uint8_t bad[] = {0xc1};

		ck_assert_int_eq(codec_try(&codecs[0], bad, sizeof(bad), 0, err), -1);
		ck_assert_ptr_nonnull(strstr(err, "HELLO"));
	}
}
END_TEST

/*
 * Values of the right type but out of range, and lists at and beyond their
 * limit, placed inside an UPSERT's object by path (field numbers from the
 * UPSERT array down).
 */
enum rkind { R_UINT, R_STRS, R_STRLEN, R_PORTS };
static const struct range_case {
	const char *label;
	enum em_topic topic;
	int path[4];
	int depth;
	enum rkind kind;
	uint64_t val;
	int ok; /* 1: the boundary value, accepted */
} range_cases[] = {
    {"service type", EM_TOPIC_SERVICES, {3, 2}, 2, R_UINT, EM_SVC_EXTERNAL_NAME, 1},
    {"service type", EM_TOPIC_SERVICES, {3, 2}, 2, R_UINT, EM_SVC_EXTERNAL_NAME + 1, 0},
    {"service cluster IPs", EM_TOPIC_SERVICES, {3, 4}, 2, R_STRS, EM_MAX_IPS, 1},
    {"service cluster IPs", EM_TOPIC_SERVICES, {3, 4}, 2, R_STRS, EM_MAX_IPS + 1, 0},
    {"service cluster IP length", EM_TOPIC_SERVICES, {3, 4, 0}, 3, R_STRLEN, 45, 1},
    {"service cluster IP length", EM_TOPIC_SERVICES, {3, 4, 0}, 3, R_STRLEN, 46, 0},
    {"service clusterIP length", EM_TOPIC_SERVICES, {3, 3}, 2, R_STRLEN, 46, 0},
    {"service headless", EM_TOPIC_SERVICES, {3, 6}, 2, R_UINT, 2, 0},
    {"service affinity timeout", EM_TOPIC_SERVICES, {3, 10}, 2, R_UINT, 86400, 1},
    {"service affinity timeout", EM_TOPIC_SERVICES, {3, 10}, 2, R_UINT, 86401, 0},
    {"service lb", EM_TOPIC_SERVICES, {3, 11}, 2, R_UINT, EM_LB_CONSISTENT_HASH + 1, 0},
    {"service hash", EM_TOPIC_SERVICES, {3, 12}, 2, R_UINT, EM_HASH_COOKIE + 1, 0},
    {"service cookie ttl", EM_TOPIC_SERVICES, {3, 14}, 2, R_UINT, 1ULL << 32, 0},
    {"service ports", EM_TOPIC_SERVICES, {3, 15}, 2, R_PORTS, EM_MAX_PORTS, 1},
    {"service ports", EM_TOPIC_SERVICES, {3, 15}, 2, R_PORTS, EM_MAX_PORTS + 1, 0},
    {"service port", EM_TOPIC_SERVICES, {3, 15, 0, 1}, 4, R_UINT, 65535, 1},
    {"service port", EM_TOPIC_SERVICES, {3, 15, 0, 1}, 4, R_UINT, 65536, 0},
    {"service targetPort", EM_TOPIC_SERVICES, {3, 15, 0, 2}, 4, R_UINT, 65536, 0},
    {"service nodePort", EM_TOPIC_SERVICES, {3, 15, 0, 4}, 4, R_UINT, 65536, 0},
    {"service port proto", EM_TOPIC_SERVICES, {3, 15, 0, 5}, 4, R_UINT, EM_PROTO_SCTP + 1, 0},
    {"service port name", EM_TOPIC_SERVICES, {3, 15, 0, 0}, 4, R_STRLEN, 253, 1},
    {"service port name", EM_TOPIC_SERVICES, {3, 15, 0, 0}, 4, R_STRLEN, 254, 0},
    {"endpoint ready", EM_TOPIC_ENDPOINTS, {3, 3, 0, 5}, 4, R_UINT, 2, 0},
    {"endpoint ip", EM_TOPIC_ENDPOINTS, {3, 3, 0, 0}, 4, R_STRLEN, 46, 0},
    {"endpoints port", EM_TOPIC_ENDPOINTS, {3, 2, 1, 1}, 4, R_UINT, 65536, 0},
    {"peer addresses", EM_TOPIC_PEERS, {3, 1}, 2, R_STRS, EM_MAX_ADDRS, 1},
    {"peer addresses", EM_TOPIC_PEERS, {3, 1}, 2, R_STRS, EM_MAX_ADDRS + 1, 0},
    {"peer address length", EM_TOPIC_PEERS, {3, 1, 2}, 3, R_STRLEN, 46, 0},
    {"peer relay", EM_TOPIC_PEERS, {3, 2}, 2, R_UINT, 2, 0},
    {"peer pubkey", EM_TOPIC_PEERS, {3, 3}, 2, R_STRLEN, 64, 1},
    {"peer pubkey", EM_TOPIC_PEERS, {3, 3}, 2, R_STRLEN, 65, 0},
    {"gateway server port", EM_TOPIC_GATEWAYS, {3, 2, 0, 0}, 4, R_UINT, 65536, 0},
    {"gateway protocol", EM_TOPIC_GATEWAYS, {3, 2, 1, 1}, 4, R_STRLEN, 17, 0},
    {"gateway hosts", EM_TOPIC_GATEWAYS, {3, 2, 0, 2}, 4, R_STRS, 64, 1},
    {"gateway hosts", EM_TOPIC_GATEWAYS, {3, 2, 0, 2}, 4, R_STRS, 65, 0},
    {"gateway route port", EM_TOPIC_GATEWAYS, {3, 3, 2, 5}, 4, R_UINT, 65536, 0},
    {"self version", EM_TOPIC_SELF, {3, 2}, 2, R_UINT, UINT64_MAX, 1},
};
#define NRANGE ((int)(sizeof(range_cases) / sizeof(range_cases[0])))

static void
pack_repl(msgpack_packer *pk, const struct range_case *rc)
{
	static char s[512];
	uint64_t i;

	switch (rc->kind) {
	case R_UINT:
		msgpack_pack_uint64(pk, rc->val);
		break;
	case R_STRS:
		msgpack_pack_array(pk, (size_t)rc->val);
		for (i = 0; i < rc->val; i++)
			mp_pack_str(pk, "10.0.0.1");
		break;
	case R_STRLEN:
		memset(s, 'a', (size_t)rc->val);
		msgpack_pack_str(pk, (size_t)rc->val);
		msgpack_pack_str_body(pk, s, (size_t)rc->val);
		break;
	case R_PORTS:
		msgpack_pack_array(pk, (size_t)rc->val);
		for (i = 0; i < rc->val; i++) {
			msgpack_pack_array(pk, 6);
			mp_pack_str(pk, "p");
			msgpack_pack_uint16(pk, (uint16_t)(i + 1));
			msgpack_pack_uint16(pk, 80);
			mp_pack_str(pk, "");
			msgpack_pack_uint16(pk, 0);
			msgpack_pack_uint8(pk, EM_PROTO_TCP);
		}
		break;
	}
}

static void
pack_at(msgpack_packer *pk, const msgpack_object *o, const int *path, int depth,
	const struct range_case *rc)
{
	uint32_t i;

	if (depth == 0) {
		pack_repl(pk, rc);
		return;
	}
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_lt(path[0], (int)o->via.array.size);
	msgpack_pack_array(pk, o->via.array.size);
	for (i = 0; i < o->via.array.size; i++) {
		if ((int)i == path[0])
			pack_at(pk, &o->via.array.ptr[i], path + 1, depth - 1, rc);
		else
			msgpack_pack_object(pk, o->via.array.ptr[i]);
	}
}

START_TEST(test_object_ranges)
{
	const struct range_case *rc = &range_cases[_i];
	const struct codec *c = NULL;
	struct ipc_msg m;
	struct pbuf b, mb;
	char err[ERRLEN];
	int i, rv;

	for (i = 0; i < NCODECS; i++)
		if (codecs[i].type == IPC_UPSERT && (int)rc->topic == i - 7)
			c = &codecs[i];
	ck_assert_ptr_nonnull(c);
	pb_init(&b);
	c->pack(&b.pk);
	msg_parse_ok(&m, IPC_UPSERT, b.sb.data, b.sb.size);
	pb_init(&mb);
	pack_at(&mb.pk, m.obj, rc->path, rc->depth, rc);
	rv = codec_try(c, mb.sb.data, mb.sb.size, 0, err);
	if (rc->ok)
		ck_assert_msg(rv == 0, "%s = %llu refused: %s", rc->label,
			      (unsigned long long)rc->val, err);
	else {
		ck_assert_msg(rv == -1, "%s = %llu accepted", rc->label,
			      (unsigned long long)rc->val);
		ck_assert_msg(strstr(err, "UPSERT") != NULL, "%s: %s", rc->label, err);
	}
	ipc_msg_clear(&m);
	pb_free(&b);
	pb_free(&mb);
}
END_TEST

/* An UPSERT whose key is not the object's key is refused. */
START_TEST(test_upsert_key_mismatch)
{
	static const char *bad_keys[] = {"shop/web2", "web", "other/web", "", "shop/web/"};
	struct em_object o, got;
	struct pbuf b;
	struct ipc_msg m;
	uint64_t v;
	char err[ERRLEN];
	size_t i;

	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		fx_object(&o, EM_TOPIC_SERVICES);
		pb_init(&b);
		ipc_pack_upsert_head(&b.pk, EM_TOPIC_SERVICES, 5, bad_keys[i]);
		ipc_pack_object(&b.pk, &o);
		msg_parse_ok(&m, IPC_UPSERT, b.sb.data, b.sb.size);
		ck_assert_int_eq(ipc_unpack_upsert(&m, &v, &got, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "UPSERT"));
		ck_assert_ptr_nonnull(strstr(err, "does not match"));
		ck_assert_ptr_null(got.u.any);
		ipc_msg_clear(&m);
		em_object_free(&o);
		pb_free(&b);
	}
	/* the object of one topic under another topic's number */
	fx_object(&o, EM_TOPIC_PEERS);
	pb_init(&b);
	ipc_pack_upsert_head(&b.pk, EM_TOPIC_SERVICES, 5, "edge-1");
	ipc_pack_object(&b.pk, &o);
	msg_parse_ok(&m, IPC_UPSERT, b.sb.data, b.sb.size);
	ck_assert_int_eq(ipc_unpack_upsert(&m, &v, &got, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "UPSERT"));
	ipc_msg_clear(&m);
	em_object_free(&o);
	pb_free(&b);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* blocking frames over a socketpair */

START_TEST(test_frame_nofd)
{
	struct ipc_hdr h;
	struct ipc_msg m;
	struct pbuf b;
	uint8_t *p;
	char err[ERRLEN];
	int sv[2], rfd, before;

	before = count_fds();
	mkpair(sv, 0);
	pb_init(&b);
	pk_hello(&b.pk);
	ck_assert_int_eq(ipc_write_frame(sv[0], IPC_HELLO, b.sb.data, b.sb.size, -1), 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_CONTROL, &h, &p, &rfd, err, sizeof(err)), 0);
	ck_assert_int_eq(rfd, -1);
	ck_assert_uint_eq(h.type, IPC_HELLO);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.len, b.sb.size);
	ck_assert_mem_eq(p, b.sb.data, b.sb.size);
	msg_parse_ok(&m, h.type, p, h.len);
	m.owned = p;
	ck_assert_int_eq(up_hello(&m, 1, err), 0);
	ipc_msg_clear(&m);
	pb_free(&b);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

START_TEST(test_frame_onefd)
{
	struct ipc_hdr h;
	struct ipc_msg m;
	struct pbuf b;
	uint8_t *p;
	char err[ERRLEN], buf[16];
	int sv[2], pp[2], rfd, before;

	before = count_fds();
	mkpair(sv, 0);
	mkpipe(pp);
	pb_init(&b);
	pk_open(&b.pk);
	/* the blocking writer leaves the fd to its caller */
	ck_assert_int_eq(ipc_write_frame(sv[0], IPC_TUN_OPEN, b.sb.data, b.sb.size, pp[1]), 0);
	ck_assert_int_eq(fcntl(pp[1], F_GETFD), FD_CLOEXEC);
	close(pp[1]);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.type, IPC_TUN_OPEN);
	ck_assert_uint_eq(h.flags, IPC_F_FD);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(fcntl(rfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	msg_parse_ok(&m, h.type, p, h.len);
	m.owned = p;
	m.fd = rfd;
	ck_assert_int_eq(up_open(&m, 1, err), 0);
	/* it is the pipe's write end, and it works */
	rfd = ipc_msg_take_fd(&m);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(write(rfd, "through", 7), 7);
	ck_assert_int_eq(read(pp[0], buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "through", 7);
	close(rfd);
	/* it was the last writer: no copy stayed anywhere */
	ck_assert_int_eq(read(pp[0], buf, sizeof(buf)), 0);
	ipc_msg_clear(&m);
	close(pp[0]);
	pb_free(&b);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* A peer sends two fds with one frame: the reader keeps the first, closes the second. */
START_TEST(test_frame_twofds)
{
	struct ipc_hdr h;
	struct pbuf b;
	uint8_t frame[512], *p;
	char err[ERRLEN], buf[16];
	int sv[2], p1[2], p2[2], fds[2], rfd, before;
	size_t len;

	before = count_fds();
	mkpair(sv, 0);
	mkpipe(p1);
	mkpipe(p2);
	pb_init(&b);
	pk_open(&b.pk);
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
	fds[0] = p1[1];
	fds[1] = p2[1];
	raw_send(sv[0], frame, len, fds, 2);
	close(p1[1]);
	close(p2[1]);
	ck_assert_int_eq(count_fds(), before + 4); /* sv, p1[0], p2[0] */
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), 0);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(count_fds(), before + 5); /* + the one kept */
	/* the kept one is the first; nobody holds the second any more */
	ck_assert_int_eq(write(rfd, "one", 3), 3);
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 3);
	ck_assert_int_eq(read(p2[0], buf, sizeof(buf)), 0);
	close(rfd);
	free(p);
	close(p1[0]);
	close(p2[0]);

	/* two fds on a frame that announces none: both closed */
	mkpipe(p1);
	mkpipe(p2);
	len = mkframe(frame, IPC_TUN_OPEN, 0, b.sb.data, b.sb.size);
	fds[0] = p1[1];
	fds[1] = p2[1];
	raw_send(sv[0], frame, len, fds, 2);
	close(p1[1]);
	close(p2[1]);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), 0);
	ck_assert_int_eq(rfd, -1);
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 0);
	ck_assert_int_eq(read(p2[0], buf, sizeof(buf)), 0);
	free(p);
	close(p1[0]);
	close(p2[0]);

	/* an fd riding on the payload rather than the header still counts once */
	mkpipe(p1);
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
	raw_send(sv[0], frame, IPC_HDR_LEN, NULL, 0);
	fds[0] = p1[1];
	raw_send(sv[0], frame + IPC_HDR_LEN, len - IPC_HDR_LEN, fds, 1);
	close(p1[1]);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), 0);
	ck_assert_int_ge(rfd, 0);
	close(rfd);
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 0);
	close(p1[0]);
	free(p);

	pb_free(&b);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

START_TEST(test_frame_errors)
{
	struct ipc_hdr h;
	struct pbuf b;
	uint8_t frame[512], *p, rest[64];
	char err[ERRLEN];
	int sv[2], rfd, before;
	size_t len;

	before = count_fds();
	pb_init(&b);
	pk_open(&b.pk);

	/* flagged with an fd that never comes */
	mkpair(sv, 0);
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
	raw_send(sv[0], frame, len, NULL, 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(rfd, -1);
	ck_assert_ptr_nonnull(strstr(err, "TUN_OPEN"));
	close(sv[0]);
	close(sv[1]);

	/* oversize: refused on the header, the payload is not read */
	mkpair(sv, 0);
	h = (struct ipc_hdr){IPC_HELLO, 0, IPC_MAX_TUNNEL + 1};
	ipc_hdr_encode(&h, frame);
	memcpy(frame + IPC_HDR_LEN, "payload!", 8);
	raw_send(sv[0], frame, IPC_HDR_LEN + 8, NULL, 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "exceeds"));
	ck_assert_int_eq(recv(sv[1], rest, sizeof(rest), MSG_DONTWAIT), 8);
	ck_assert_mem_eq(rest, "payload!", 8);
	close(sv[0]);
	close(sv[1]);

	/* unknown type, unknown flags */
	mkpair(sv, 0);
	len = mkframe(frame, 99, 0, b.sb.data, b.sb.size);
	raw_send(sv[0], frame, len, NULL, 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown message type 99"));
	close(sv[0]);
	close(sv[1]);
	mkpair(sv, 0);
	len = mkframe(frame, IPC_TUN_OPEN, 0x8000, b.sb.data, b.sb.size);
	raw_send(sv[0], frame, len, NULL, 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "flags"));
	close(sv[0]);
	close(sv[1]);

	/* the peer closes mid-header and mid-payload (with an fd in flight) */
	mkpair(sv, 0);
	raw_send(sv[0], frame, 5, NULL, 0);
	close(sv[0]);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
	ck_assert_ptr_null(p);
	close(sv[1]);
	mkpair(sv, 0);
	{
		int pp[2];

		mkpipe(pp);
		len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
		raw_send(sv[0], frame, len - 3, &pp[1], 1);
		close(pp[1]);
		close(sv[0]);
		ck_assert_int_eq(
		    ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &p, &rfd, err, sizeof(err)), -1);
		ck_assert_int_eq(rfd, -1);
		ck_assert_ptr_null(p);
		/* the fd that came with the broken frame was closed */
		ck_assert_int_eq(read(pp[0], rest, sizeof(rest)), 0);
		close(pp[0]);
	}
	close(sv[1]);

	pb_free(&b);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* ipc_conn on a libev loop */

struct side {
	struct ev_loop *loop;
	struct ipc_conn *c;
	int nmsg, nclosed;
	char why[256];
	int stop_after; /* ev_break after this many messages */
	int drop_at;	/* drop the conn from inside the callback at this message */
	int free_at;	/* ipc_conn_free from inside the callback */
	uint16_t types[16];
	int fds[16]; /* taken fds, in order */
};

static void
side_msg(struct ipc_conn *c, struct ipc_msg *m, void *arg)
{
	struct side *s = arg;

	if (s->nmsg < 16) {
		s->types[s->nmsg] = m->type;
		s->fds[s->nmsg] = ipc_msg_take_fd(m);
	}
	s->nmsg++;
	if (s->drop_at == s->nmsg) {
		ipc_conn_drop(c, "dropped by the test");
		s->c = NULL;
	} else if (s->free_at == s->nmsg) {
		ipc_conn_free(c);
		s->c = NULL;
	}
	if (s->stop_after == s->nmsg)
		ev_break(s->loop, EVBREAK_ALL);
}

static void
side_closed(struct ipc_conn *c, const char *why, void *arg)
{
	struct side *s = arg;

	s->nclosed++;
	snprintf(s->why, sizeof(s->why), "%s", why);
	s->c = NULL;
	ev_break(s->loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(int *)w->data = 1;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until something breaks it; fails the test after `secs`. */
static void
run_loop(struct ev_loop *loop, double secs)
{
	ev_timer t;
	int fired = 0;

	ev_timer_init(&t, timeout_cb, secs, 0.);
	t.data = &fired;
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
	ck_assert_msg(!fired, "the loop timed out");
}

/* Run the loop for a short while (lets pending I/O happen). */
static void
spin_loop(struct ev_loop *loop, double secs)
{
	ev_timer t;
	int fired = 0;

	ev_timer_init(&t, timeout_cb, secs, 0.);
	t.data = &fired;
	ev_timer_start(loop, &t);
	while (!fired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

static void
side_init(struct side *s, struct ev_loop *loop, int fd, size_t max)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	for (i = 0; i < 16; i++)
		s->fds[i] = -1;
	s->c = ipc_conn_new(loop, fd, max, side_msg, side_closed, s);
}

static void
side_fini(struct side *s)
{
	int i;

	for (i = 0; i < 16; i++)
		if (s->fds[i] != -1)
			close(s->fds[i]);
	if (s->c != NULL)
		ipc_conn_free(s->c);
	s->c = NULL;
}

/* A thousand frames, every fifth with an fd, sent in one burst; the reader
 * takes many per read and must pair each fd with its frame.  Run twice: fds
 * given to the conn, and lent to an eager one. */
#define FLOOD_N	       1000
#define FLOOD_FD_EVERY 5
#define REASON_MAX     20000

struct flood {
	struct ev_loop *loop;
	int next;
	int nfd;
	int closed;
	char why[256];
};

static size_t
flood_len(int seq)
{
	return (size_t)(seq * 7919) % REASON_MAX;
}

static void
flood_reason(int seq, char *buf)
{
	size_t n = flood_len(seq), i;

	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + (seq + (int)i) % 26);
	buf[n] = '\0';
	if (n >= 6) {
		snprintf(buf, 6, "%05d", seq);
		buf[5] = ':';
	}
}

static void
flood_msg(struct ipc_conn *c, struct ipc_msg *m, void *arg)
{
	static char want[REASON_MAX + 1], got[REASON_MAX + 1];
	struct flood *f = arg;
	struct ipc_tun_open o;
	char err[ERRLEN], label[32], wlabel[32];
	int seq = f->next++, fd;

	if (seq % FLOOD_FD_EVERY == 0) {
		ck_assert_uint_eq(m->type, IPC_TUN_OPEN);
		ck_assert_int_ge(m->fd, 0);
		if (ipc_unpack_tun_open(m, &o, err, sizeof(err)) == -1)
			ck_abort_msg("frame %d: %s", seq, err);
		ck_assert_uint_eq(o.id, (uint64_t)seq);
		fd = ipc_msg_take_fd(m);
		read_label(fd, label, sizeof(label));
		close(fd);
		snprintf(wlabel, sizeof(wlabel), "frame %d", seq);
		ck_assert_str_eq(label, wlabel);
		f->nfd++;
	} else {
		ck_assert_uint_eq(m->type, IPC_ERROR);
		ck_assert_int_eq(m->fd, -1);
		if (ipc_unpack_error(m, got, sizeof(got), err, sizeof(err)) == -1)
			ck_abort_msg("frame %d: %s", seq, err);
		flood_reason(seq, want);
		ck_assert_uint_eq(strlen(got), flood_len(seq));
		ck_assert_msg(strcmp(got, want) == 0, "frame %d: wrong payload", seq);
	}
	if (f->next == FLOOD_N)
		ev_break(f->loop, EVBREAK_ALL);
}

static void
flood_closed(struct ipc_conn *c, const char *why, void *arg)
{
	struct flood *f = arg;

	f->closed++;
	snprintf(f->why, sizeof(f->why), "%s", why);
	ev_break(f->loop, EVBREAK_ALL);
}

START_TEST(test_conn_flood)
{
	static char reason[REASON_MAX + 1];
	struct ev_loop *loop;
	struct ipc_conn *a, *b;
	struct flood fa, fb;
	struct ipc_tun_open o;
	struct pbuf pb;
	char label[32];
	int sv[2], before, i, fd;

	before = count_fds();
	loop = ev_loop_new(EVFLAG_AUTO);
	mkpair(sv, 1);
	memset(&fa, 0, sizeof(fa));
	memset(&fb, 0, sizeof(fb));
	fa.loop = fb.loop = loop;
	a = ipc_conn_new(loop, sv[0], IPC_MAX_TUNNEL, flood_msg, flood_closed, &fa);
	b = ipc_conn_new(loop, sv[1], IPC_MAX_TUNNEL, flood_msg, flood_closed, &fb);
	ipc_conn_set_eager(a, _i); /* 1: the lent fds go direct until the socket fills */
	for (i = 0; i < FLOOD_N; i++) {
		pb_init(&pb);
		if (i % FLOOD_FD_EVERY == 0) {
			memset(&o, 0, sizeof(o));
			o.id = (uint64_t)i;
			snprintf(o.peer, sizeof(o.peer), "edge-%d", i);
			snprintf(o.ip, sizeof(o.ip), "10.0.%d.%d", i / 256, i % 256);
			o.port = (uint16_t)i;
			ipc_pack_tun_open(&pb.pk, &o);
			snprintf(label, sizeof(label), "frame %d", i);
			fd = labelled_pipe(label);
			if (_i == 0) {
				ck_assert_int_eq(ipc_conn_send_sbuf(a, IPC_TUN_OPEN, &pb.sb, fd),
						 0);
			} else { /* lent: ours to close, sent at once or queued as a copy */
				ck_assert_int_eq(
				    ipc_conn_send_lent(a, IPC_TUN_OPEN, pb.sb.data, pb.sb.size, fd),
				    0);
				close(fd);
			}
		} else {
			flood_reason(i, reason);
			ipc_pack_error(&pb.pk, reason);
			ck_assert_int_eq(ipc_conn_send_sbuf(a, IPC_ERROR, &pb.sb, -1), 0);
		}
		pb_free(&pb);
	}
	ck_assert_uint_gt(ipc_conn_queued(a), 0);
	run_loop(loop, 20.);
	ck_assert_msg(fb.closed == 0 && fa.closed == 0, "closed: %s%s", fa.why, fb.why);
	ck_assert_int_eq(fb.next, FLOOD_N);
	ck_assert_int_eq(fb.nfd, FLOOD_N / FLOOD_FD_EVERY);
	ck_assert_int_eq(fa.next, 0);
	ck_assert_uint_eq(ipc_conn_queued(a), 0);
	ck_assert_int_eq(ipc_conn_pid(a), getpid());
	ck_assert_uint_eq(ipc_conn_uid(a), geteuid());
	ck_assert_int_eq(ipc_conn_fd(a), sv[0]);
	ipc_conn_free(a);
	ipc_conn_free(b);
	ev_loop_destroy(loop);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Send raw bytes (and fds) to a conn and see what it makes of them. */
struct rawcase {
	struct ev_loop *loop;
	struct side s;
	int peer;
	int before;
};

static void
raw_open(struct rawcase *r, size_t max)
{
	int sv[2];

	r->before = count_fds();
	r->loop = ev_loop_new(EVFLAG_AUTO);
	mkpair(sv, 1);
	r->peer = sv[0];
	side_init(&r->s, r->loop, sv[1], max);
}

static void
raw_close(struct rawcase *r)
{
	side_fini(&r->s);
	if (r->peer != -1)
		close(r->peer);
	ev_loop_destroy(r->loop);
	ck_assert_int_eq(count_fds(), r->before);
}

/* After the conn dropped its peer, its end of the socket is closed. */
static void
assert_peer_gone(int peer)
{
	ssize_t n;
	char c;

	/* EOF, or ECONNRESET when the conn closed with bytes unread */
	n = recv(peer, &c, 1, MSG_DONTWAIT);
	ck_assert_msg(n == 0 || (n == -1 && errno == ECONNRESET), "recv: %zd (%s)", n,
		      n == -1 ? strerror(errno) : "data");
}

START_TEST(test_conn_garbage_header)
{
	const uint8_t garbage[IPC_HDR_LEN] = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 4};
	struct rawcase r;

	raw_open(&r, IPC_MAX_CONTROL);
	raw_send(r.peer, garbage, sizeof(garbage), NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_int_eq(r.s.nmsg, 0);
	ck_assert_ptr_nonnull(strstr(r.s.why, "unknown message type"));
	assert_peer_gone(r.peer);
	raw_close(&r);
}
END_TEST

START_TEST(test_conn_oversize)
{
	struct ipc_hdr h = {IPC_UPSERT, 0, IPC_MAX_CONTROL + 1};
	uint8_t b[IPC_HDR_LEN];
	struct rawcase r;

	raw_open(&r, IPC_MAX_CONTROL);
	ipc_hdr_encode(&h, b);
	raw_send(r.peer, b, sizeof(b), NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_ptr_nonnull(strstr(r.s.why, "exceeds"));
	raw_close(&r);
}
END_TEST

START_TEST(test_conn_bad_payload)
{
	const uint8_t bad[] = {0xc1};
	uint8_t frame[64];
	struct rawcase r;
	struct pbuf b;
	size_t len;

	/* not msgpack */
	raw_open(&r, IPC_MAX_CONTROL);
	len = mkframe(frame, IPC_HELLO, 0, bad, sizeof(bad));
	raw_send(r.peer, frame, len, NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_ptr_nonnull(strstr(r.s.why, "HELLO"));
	ck_assert_ptr_nonnull(strstr(r.s.why, "malformed"));
	raw_close(&r);

	/* trailing bytes */
	raw_open(&r, IPC_MAX_CONTROL);
	pb_init(&b);
	pk_hello(&b.pk);
	msgpack_pack_nil(&b.pk);
	len = mkframe(frame, IPC_HELLO, 0, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, len, NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_ptr_nonnull(strstr(r.s.why, "trailing"));
	pb_free(&b);
	raw_close(&r);
}
END_TEST

START_TEST(test_conn_midframe)
{
	uint8_t frame[256];
	struct rawcase r;
	struct pbuf b;
	size_t len;

	raw_open(&r, IPC_MAX_CONTROL);
	pb_init(&b);
	pk_health(&b.pk);
	len = mkframe(frame, IPC_HEALTH, 0, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, len - 5, NULL, 0);
	close(r.peer);
	r.peer = -1;
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_int_eq(r.s.nmsg, 0);
	ck_assert_str_eq(r.s.why, "connection closed mid-frame");
	pb_free(&b);
	raw_close(&r);

	/* mid-header */
	raw_open(&r, IPC_MAX_CONTROL);
	raw_send(r.peer, frame, 3, NULL, 0);
	close(r.peer);
	r.peer = -1;
	run_loop(r.loop, 5.);
	ck_assert_str_eq(r.s.why, "connection closed mid-frame");
	raw_close(&r);

	/* between frames: a plain close */
	raw_open(&r, IPC_MAX_CONTROL);
	pb_init(&b);
	pk_health(&b.pk);
	len = mkframe(frame, IPC_HEALTH, 0, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, len, NULL, 0);
	close(r.peer);
	r.peer = -1;
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nmsg, 1);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_str_eq(r.s.why, "connection closed");
	pb_free(&b);
	raw_close(&r);
}
END_TEST

/* fds the frame does not announce, or more than one: closed, never handed to a later frame. */
START_TEST(test_conn_unexpected_fds)
{
	uint8_t frame[512];
	char buf[16];
	struct rawcase r;
	struct pbuf hb, ob;
	int p1[2], p2[2], p3[2], fds[2];
	size_t len;

	raw_open(&r, IPC_MAX_TUNNEL);
	pb_init(&hb);
	pk_hello(&hb.pk);
	pb_init(&ob);
	pk_open(&ob.pk);
	mkpipe(p1);
	mkpipe(p2);
	mkpipe(p3);

	/* 1: HELLO without the flag, with an fd */
	len = mkframe(frame, IPC_HELLO, 0, hb.sb.data, hb.sb.size);
	raw_send(r.peer, frame, len, &p1[1], 1);
	/* 2: HELLO flagged with an fd: a type that carries none */
	len = mkframe(frame, IPC_HELLO, IPC_F_FD, hb.sb.data, hb.sb.size);
	raw_send(r.peer, frame, len, &p2[1], 1);
	/* 3: TUN_OPEN with two fds */
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, ob.sb.data, ob.sb.size);
	fds[0] = p3[1];
	fds[1] = p1[1];
	raw_send(r.peer, frame, len, fds, 2);
	close(p1[1]);
	close(p2[1]);
	close(p3[1]);
	r.s.stop_after = 3;
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 0);
	ck_assert_int_eq(r.s.nmsg, 3);
	ck_assert_uint_eq(r.s.types[0], IPC_HELLO);
	ck_assert_int_eq(r.s.fds[0], -1);
	ck_assert_uint_eq(r.s.types[1], IPC_HELLO);
	ck_assert_int_eq(r.s.fds[1], -1);
	ck_assert_uint_eq(r.s.types[2], IPC_TUN_OPEN);
	ck_assert_int_ge(r.s.fds[2], 0);
	/* the TUN_OPEN got its own fd, p3's write end */
	ck_assert_int_eq(write(r.s.fds[2], "3", 1), 1);
	ck_assert_int_eq(read(p3[0], buf, sizeof(buf)), 1);
	close(r.s.fds[2]);
	r.s.fds[2] = -1;
	ck_assert_int_eq(read(p3[0], buf, sizeof(buf)), 0);
	/* while the conn is still open, nothing else is held: no writer is left */
	ck_assert_ptr_nonnull(r.s.c);
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 0);
	ck_assert_int_eq(read(p2[0], buf, sizeof(buf)), 0);
	close(p1[0]);
	close(p2[0]);
	close(p3[0]);
	pb_free(&hb);
	pb_free(&ob);
	raw_close(&r);
}
END_TEST

START_TEST(test_conn_missing_fd)
{
	uint8_t frame[512];
	struct rawcase r;
	struct pbuf b;
	size_t len;
	int p[2];

	/* flagged, no fd */
	raw_open(&r, IPC_MAX_TUNNEL);
	pb_init(&b);
	pk_open(&b.pk);
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, len, NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_int_eq(r.s.nmsg, 0);
	ck_assert_ptr_nonnull(strstr(r.s.why, "without"));
	raw_close(&r);

	/* TUN_OPEN not flagged: its fd is what it is about */
	raw_open(&r, IPC_MAX_TUNNEL);
	len = mkframe(frame, IPC_TUN_OPEN, 0, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, len, NULL, 0);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_ptr_nonnull(strstr(r.s.why, "TUN_OPEN"));
	raw_close(&r);

	/* the fd comes later than the frame's first byte (it rides on that byte) */
	raw_open(&r, IPC_MAX_TUNNEL);
	len = mkframe(frame, IPC_TUN_OPEN, IPC_F_FD, b.sb.data, b.sb.size);
	raw_send(r.peer, frame, IPC_HDR_LEN, NULL, 0);
	ev_run(r.loop, EVRUN_NOWAIT);
	ck_assert_int_eq(r.s.nclosed, 0);
	mkpipe(p);
	raw_send(r.peer, frame + IPC_HDR_LEN, len - IPC_HDR_LEN, &p[1], 1);
	close(p[1]);
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_int_eq(r.s.nmsg, 0);
	ck_assert_ptr_nonnull(strstr(r.s.why, "without"));
	ck_assert_int_eq(read(p[0], frame, 1), 0); /* the stray fd was closed */
	close(p[0]);
	pb_free(&b);
	raw_close(&r);
}
END_TEST

/* The message callback drops or frees its own conn with more frames pending. */
START_TEST(test_conn_drop_in_callback)
{
	uint8_t frame[256];
	struct rawcase r;
	struct pbuf b;
	size_t len;
	int i;

	pb_init(&b);
	pk_hello(&b.pk);
	len = mkframe(frame, IPC_HELLO, 0, b.sb.data, b.sb.size);

	raw_open(&r, IPC_MAX_CONTROL);
	for (i = 0; i < 5; i++)
		raw_send(r.peer, frame, len, NULL, 0);
	r.s.drop_at = 2;
	run_loop(r.loop, 5.);
	ck_assert_int_eq(r.s.nmsg, 2);
	ck_assert_int_eq(r.s.nclosed, 1);
	ck_assert_str_eq(r.s.why, "dropped by the test");
	spin_loop(r.loop, 0.05);
	ck_assert_int_eq(r.s.nmsg, 2);
	assert_peer_gone(r.peer);
	raw_close(&r);

	raw_open(&r, IPC_MAX_CONTROL);
	for (i = 0; i < 5; i++)
		raw_send(r.peer, frame, len, NULL, 0);
	r.s.free_at = 3;
	r.s.stop_after = 3;
	run_loop(r.loop, 5.);
	spin_loop(r.loop, 0.05);
	ck_assert_int_eq(r.s.nmsg, 3);
	ck_assert_int_eq(r.s.nclosed, 0); /* free: no callback */
	assert_peer_gone(r.peer);
	raw_close(&r);
	pb_free(&b);
}
END_TEST

/* A conn that is dropped with frames (and fds) still queued closes them all. */
START_TEST(test_conn_drop_with_queue)
{
	struct ev_loop *loop;
	struct side s;
	struct pbuf b;
	char buf[8];
	int sv[2], before, p[2], i;

	before = count_fds();
	loop = ev_loop_new(EVFLAG_AUTO);
	mkpair(sv, 1);
	side_init(&s, loop, sv[0], IPC_MAX_TUNNEL);
	mkpipe(p);
	pb_init(&b);
	pk_open(&b.pk);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    ipc_conn_send_sbuf(s.c, IPC_TUN_OPEN, &b.sb, i == 0 ? p[1] : dup(p[1])), 0);
	ck_assert_uint_gt(ipc_conn_queued(s.c), 0);
	ipc_conn_drop(s.c, "test");
	ck_assert_int_eq(s.nclosed, 1);
	s.c = NULL;
	/* the queued fds were closed: no writer left */
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	close(sv[1]);
	pb_free(&b);
	side_fini(&s);
	ev_loop_destroy(loop);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Eager (tunnel.sock): a frame on an empty queue is on the socket when
 * ipc_conn_send returns, its fd passed along and closed here; without it,
 * nothing is written until the loop runs. */
START_TEST(test_conn_eager)
{
	struct ev_loop *loop;
	struct side s;
	struct pbuf b;
	struct ipc_hdr h;
	uint8_t *pl;
	char err[ERRLEN], buf[8];
	int sv[2], before, p[2], q[2], rfd;

	before = count_fds();
	loop = ev_loop_new(EVFLAG_AUTO);
	mkpair(sv, 1);
	side_init(&s, loop, sv[0], IPC_MAX_TUNNEL);
	pb_init(&b);
	pk_open(&b.pk);
	mkpipe(p);
	ck_assert_int_eq(ipc_conn_send_sbuf(s.c, IPC_TUN_OPEN, &b.sb, p[1]), 0);
	ck_assert_uint_gt(ipc_conn_queued(s.c), 0);
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), -1);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_uint_eq(ipc_conn_queued(s.c), 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &pl, &rfd, err, sizeof(err)), 0);
	ck_assert_int_ne(rfd, -1);
	close(rfd);
	free(pl);
	close(p[0]);

	ipc_conn_set_eager(s.c, 1);
	mkpipe(q);
	ck_assert_int_eq(ipc_conn_send_sbuf(s.c, IPC_TUN_OPEN, &b.sb, q[1]), 0);
	ck_assert_uint_eq(ipc_conn_queued(s.c), 0); /* no loop turn */
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &pl, &rfd, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.type, IPC_TUN_OPEN);
	ck_assert_int_ne(rfd, -1);
	close(rfd);
	free(pl);
	/* the sender's copy went with the frame: no writer left on the pipe */
	ck_assert_int_eq(read(q[0], buf, sizeof(buf)), 0);
	close(q[0]);

	/* lent: sent at once, with no copy made; the fd stays the caller's */
	mkpipe(q);
	ck_assert_int_eq(ipc_conn_send_lent(s.c, IPC_TUN_OPEN, b.sb.data, b.sb.size, q[1]), 0);
	ck_assert_uint_eq(ipc_conn_queued(s.c), 0);
	ck_assert_int_eq(ipc_read_frame(sv[1], IPC_MAX_TUNNEL, &h, &pl, &rfd, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.type, IPC_TUN_OPEN);
	ck_assert_uint_eq(h.flags & IPC_F_FD, IPC_F_FD);
	ck_assert_int_ne(rfd, -1);
	ck_assert_int_eq(write(rfd, "r", 1), 1);
	close(rfd);
	free(pl);
	ck_assert_int_eq(write(q[1], "c", 1), 1);
	close(q[1]);
	ck_assert_int_eq(read(q[0], buf, sizeof(buf)), 2);
	ck_assert_int_eq(read(q[0], buf, sizeof(buf)), 0); /* no copy left behind */
	close(q[0]);
	pb_free(&b);
	side_fini(&s);
	close(sv[1]);
	ev_loop_destroy(loop);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Two conns talk both ways at once. */
START_TEST(test_conn_both_ways)
{
	struct ev_loop *loop;
	struct side a, b;
	struct pbuf pb;
	int sv[2], before, i;

	before = count_fds();
	loop = ev_loop_new(EVFLAG_AUTO);
	mkpair(sv, 1);
	side_init(&a, loop, sv[0], IPC_MAX_CONTROL);
	side_init(&b, loop, sv[1], IPC_MAX_CONTROL);
	pb_init(&pb);
	pk_status(&pb.pk);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ipc_conn_send_sbuf(a.c, IPC_STATUS, &pb.sb, -1), 0);
		ck_assert_int_eq(ipc_conn_send_sbuf(b.c, IPC_STATUS, &pb.sb, -1), 0);
	}
	b.stop_after = 10;
	run_loop(loop, 5.);
	if (a.nmsg < 10) {
		a.stop_after = 10;
		run_loop(loop, 5.);
	}
	ck_assert_int_eq(a.nmsg, 10);
	ck_assert_int_eq(b.nmsg, 10);
	ck_assert_int_eq(a.nclosed + b.nclosed, 0);
	/* one side goes: the other hears about it */
	ipc_conn_free(a.c);
	a.c = NULL;
	run_loop(loop, 5.);
	ck_assert_int_eq(b.nclosed, 1);
	ck_assert_str_eq(b.why, "connection closed");
	pb_free(&pb);
	side_fini(&a);
	side_fini(&b);
	ev_loop_destroy(loop);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Flat copies (one block) read the same as the object, pack to the same
 * bytes, and dup back into a normal object; each frees on its own. */
/*
 * PEERS rows across versions: an older edgemeshctl reads exactly 8 fields
 * and asks with PEERS_REQ []; a newer one asks [9] and reads 8 or 9.
 */
static void
peers_encode(msgpack_sbuffer *sb, uint32_t row_fields)
{
	struct ipc_peers p;
	msgpack_packer pk;

	fx_peers(&p);
	p.row_fields = row_fields;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	ipc_pack_peers(&pk, &p);
}

/* Every row of the encoded PEERS has n fields. */
static void
peers_rows_are(const msgpack_sbuffer *sb, uint32_t n)
{
	msgpack_unpacked u;
	const msgpack_object *rows;
	uint32_t i;

	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, sb->data, sb->size, NULL), MSGPACK_UNPACK_SUCCESS);
	rows = &u.data.via.array.ptr[2];
	ck_assert_uint_eq(rows->via.array.size, 3);
	for (i = 0; i < rows->via.array.size; i++)
		ck_assert_uint_eq(rows->via.array.ptr[i].via.array.size, n);
	msgpack_unpacked_destroy(&u);
}

static int
peers_req_try(const char *hex_body, uint32_t *fields, char *err)
{
	uint8_t b[16];
	size_t i, n = strlen(hex_body) / 2;
	struct ipc_msg m;
	int rc;

	for (i = 0; i < n; i++)
		sscanf(hex_body + 2 * i, "%2hhx", &b[i]);
	if (msg_parse(&m, IPC_PEERS_REQ, b, n, err) == -1)
		return -1;
	rc = ipc_unpack_peers_req(&m, fields, err, ERRLEN);
	ipc_msg_clear(&m);
	return rc;
}

START_TEST(test_peers_versions)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct ipc_peers got;
	struct ipc_msg m;
	char err[ERRLEN];
	uint32_t fields = 0;

	/* for an older client (row_fields 0 or 8): exactly 8 fields a row */
	peers_encode(&sb, 0);
	peers_rows_are(&sb, IPC_PEERS_ROW_V1);
	msg_parse_ok(&m, IPC_PEERS, sb.data, sb.size);
	ck_assert_int_eq(ipc_unpack_peers(&m, &got, err, ERRLEN), 0);
	ck_assert_uint_eq(got.nrows, 3);
	ck_assert_uint_eq(got.row_fields, IPC_PEERS_ROW_V1);
	ck_assert_str_eq(got.rows[0].cipher, ""); /* an older tunneld: no cipher */
	ck_assert_str_eq(got.rows[1].path, "relayed via cloud-1");
	ipc_peers_clear(&got);
	ipc_msg_clear(&m);
	msgpack_sbuffer_destroy(&sb);
	peers_encode(&sb, IPC_PEERS_ROW_V1);
	peers_rows_are(&sb, IPC_PEERS_ROW_V1);
	msgpack_sbuffer_destroy(&sb);

	/* for a newer client: 9, the cipher last */
	peers_encode(&sb, IPC_PEERS_ROW_LAST);
	peers_rows_are(&sb, IPC_PEERS_ROW_LAST);
	msg_parse_ok(&m, IPC_PEERS, sb.data, sb.size);
	ck_assert_int_eq(ipc_unpack_peers(&m, &got, err, ERRLEN), 0);
	ck_assert_uint_eq(got.row_fields, IPC_PEERS_ROW_LAST);
	ck_assert_str_eq(got.rows[0].cipher, "aesgcm");
	ck_assert_str_eq(got.rows[1].cipher, "chachapoly");
	ck_assert_str_eq(got.rows[2].cipher, "");
	ck_assert_str_eq(got.rows[1].path, "relayed via cloud-1");
	ck_assert_uint_eq(got.rows[0].streams, 3);
	ipc_peers_clear(&got);
	ipc_msg_clear(&m);
	msgpack_sbuffer_destroy(&sb);

	/* rows of 7 or 10 fields are refused, with what */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	mp_pack_str(&pk, "edge-3");
	mp_pack_str(&pk, "ab12");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 10);
	for (int i = 0; i < 10; i++)
		mp_pack_str(&pk, "x");
	msg_parse_ok(&m, IPC_PEERS, sb.data, sb.size);
	ck_assert_int_eq(ipc_unpack_peers(&m, &got, err, ERRLEN), -1);
	ck_assert_msg(strstr(err, "PEERS row") != NULL, "%s", err);
	ck_assert_ptr_null(got.rows);
	ipc_msg_clear(&m);
	msgpack_sbuffer_destroy(&sb);

	/* PEERS_REQ: [] (an older client) is 8; [9]; anything else refused */
	ck_assert_int_eq(peers_req_try("90", &fields, err), 0);
	ck_assert_uint_eq(fields, IPC_PEERS_ROW_V1);
	ck_assert_int_eq(peers_req_try("9109", &fields, err), 0);
	ck_assert_uint_eq(fields, IPC_PEERS_ROW_LAST);
	ck_assert_int_eq(peers_req_try("91a178", &fields, err), -1); /* ["x"] */
	ck_assert_msg(strstr(err, "PEERS_REQ") != NULL, "%s", err);
	ck_assert_int_eq(peers_req_try("920901", &fields, err), -1); /* [9, 1] */
	ck_assert_int_eq(peers_req_try("c0", &fields, err), -1);     /* nil */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_peers_req(&pk, IPC_PEERS_ROW_LAST);
	msg_parse_ok(&m, IPC_PEERS_REQ, sb.data, sb.size);
	ck_assert_int_eq(ipc_unpack_peers_req(&m, &fields, err, ERRLEN), 0);
	ck_assert_uint_eq(fields, IPC_PEERS_ROW_LAST);
	ipc_msg_clear(&m);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_model_flat)
{
	struct em_service *s = fx_service(), *fs, *ds;
	struct em_endpoints *e = fx_endpoints(), *fe, *de;
	struct em_object a, b;
	msgpack_sbuffer sa, sb;
	msgpack_packer pa, pb;

	fs = em_service_flat(s);
	fe = em_endpoints_flat(e);
	ck_assert(fs->flat && fe->flat);
	eq_service(s, fs);
	eq_endpoints(e, fe);
	/* the strings are inside the block, not the originals' */
	ck_assert_ptr_ne(fs->ns, s->ns);
	ck_assert((uintptr_t)fs->ns > (uintptr_t)fs);
	ck_assert((uintptr_t)fe->eps[2].pod > (uintptr_t)fe);
	msgpack_sbuffer_init(&sa);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
	msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
	a.topic = b.topic = EM_TOPIC_ENDPOINTS;
	a.u.eps = e;
	b.u.eps = fe;
	ipc_pack_object(&pa, &a);
	ipc_pack_object(&pb, &b);
	ck_assert_uint_eq(sa.size, sb.size);
	ck_assert_mem_eq(sa.data, sb.data, sa.size);
	msgpack_sbuffer_destroy(&sa);
	msgpack_sbuffer_destroy(&sb);
	ds = em_service_dup(fs);
	de = em_endpoints_dup(fe);
	ck_assert(!ds->flat && !de->flat);
	eq_service(s, ds);
	eq_endpoints(e, de);
	em_service_free(fs);
	em_endpoints_free(fe);
	eq_service(s, ds); /* the dups own their strings */
	em_service_free(ds);
	em_endpoints_free(de);
	em_service_free(s);
	em_endpoints_free(e);
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc;

	tc = tcase_create("types");
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_hdr_roundtrip);
	tcase_add_test(tc, test_hdr_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("codecs");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_codec_roundtrip, 0, NCODECS);
	tcase_add_loop_test(tc, test_codec_repack, 0, EM_TOPIC_COUNT);
	tcase_add_loop_test(tc, test_codec_truncated, 0, NCODECS);
	tcase_add_loop_test(tc, test_codec_trailing, 0, NCODECS);
	tcase_add_loop_test(tc, test_codec_mutations, 0, NCODECS);
	tcase_add_test(tc, test_codec_ranges);
	tcase_add_loop_test(tc, test_object_ranges, 0, NRANGE);
	tcase_add_test(tc, test_upsert_key_mismatch);
	tcase_add_test(tc, test_model_flat);
	tcase_add_test(tc, test_peers_versions);
	suite_add_tcase(s, tc);

	tc = tcase_create("frames");
	tcase_add_test(tc, test_frame_nofd);
	tcase_add_test(tc, test_frame_onefd);
	tcase_add_test(tc, test_frame_twofds);
	tcase_add_test(tc, test_frame_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("conn");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_conn_flood, 0, 2);
	tcase_add_test(tc, test_conn_garbage_header);
	tcase_add_test(tc, test_conn_oversize);
	tcase_add_test(tc, test_conn_bad_payload);
	tcase_add_test(tc, test_conn_midframe);
	tcase_add_test(tc, test_conn_unexpected_fds);
	tcase_add_test(tc, test_conn_missing_fd);
	tcase_add_test(tc, test_conn_drop_in_callback);
	tcase_add_test(tc, test_conn_drop_with_queue);
	tcase_add_test(tc, test_conn_eager);
	tcase_add_test(tc, test_conn_both_ways);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
