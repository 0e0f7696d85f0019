/*
 * edgemesh.yaml loader.
 *
 * EdgeMesh reads its file with sigs.k8s.io/yaml, i.e. Go encoding/json
 * semantics over the defaults: keys match case-insensitively, absent keys
 * keep their defaults, lists replace the default list, null leaves a scalar
 * alone and empties a list, unknown keys are ignored.  We do the same (and
 * warn once about unknown keys), but check types, ranges and enums here and
 * report errors as "FILE:LINE:COL: key a.b.c: what is wrong".
 *
 * Everything is driven by one table: a key is one line in cfg_keys[]; the
 * checks a string key names are config_check.c's.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "config_int.h"
#include "log.h"
#include "yaml_scalar.h"

#define CFG_FILE_MAX  (1024 * 1024) /* bigger files are refused */
#define CFG_KEY_LEN   256	    /* longest dotted key we build */
#define CFG_MSG_LEN   512
#define CFG_DEPTH_MAX 64	   /* flow nesting ([ and {) we accept */
#define CFG_VISIT_MAX 10000	   /* keys and list items, aliases expanded */
#define NOFIELD	      ((size_t)-1) /* EdgeMesh key we accept but do not use */

enum cfg_type {
	CT_SECTION, /* mapping of further keys */
	CT_ANY,	    /* anything, not looked at */
	CT_STRING,  /* char[size] */
	CT_INT,	    /* int in [min, max] */
	CT_BOOL,    /* bool */
	CT_FLOAT,   /* double in [fmin, fmax] */
	CT_ENUM,    /* int index into names[] */
	CT_STRENUM, /* char[size] holding one of names[] */
	CT_STRLIST, /* char[nmax][size], count at noff */
	CT_INTLIST, /* int[nmax] in [min, max], count at noff */
	CT_RELAYS,  /* struct em_relay_node[nmax] described by sub[], count at noff */
};

#define CF_NODUMP 0x01 /* alias of another key's field */
#define CF_EMPTY  0x02 /* "" is allowed as well as what the check takes */

typedef int (*cfg_check_fn)(const char *, char *, size_t);

struct cfg_key {
	const char *path; /* canonical dotted key */
	enum cfg_type type;
	size_t off;  /* field, or NOFIELD */
	size_t size; /* string buffer / list element size */
	size_t nmax; /* list capacity, 0 for unbounded (NOFIELD) */
	size_t noff; /* list count (size_t) */
	long long min, max;
	double fmin, fmax;
	const char *const *names;  /* enums, NULL-terminated */
	cfg_check_fn check;	   /* strings and string lists */
	const struct cfg_key *sub; /* CT_RELAYS */
	int flags;
};

struct cfg_parse {
	const char *file;
	const char *buf;
	size_t len;
	yaml_document_t *doc; /* &ydoc while it is loaded */
	yaml_document_t ydoc;
	char *err;
	size_t errlen;
	size_t visits; /* against alias bombs */
};

static const char *const filter_modes[] = {"FilterIfLabelExists", "FilterIfLabelDoesNotExists",
					   NULL};
static const char *const transports[] = {"tcp", "ws", "quic", NULL};
static const char *const rules_backends[] = {"auto", "nftables", "iptables", NULL};

/* Field helpers; CFG_T names the struct the table at hand describes. */
/* clang-format off */
#define F_OFF(f)	offsetof(CFG_T, f)
#define F_SZ(f)		sizeof(((CFG_T *)0)->f)
#define F_ESZ(a)	sizeof(((CFG_T *)0)->a[0])
#define F_N(a)		(sizeof(((CFG_T *)0)->a) / sizeof(((CFG_T *)0)->a[0]))

#define K_SECTION(p)	{ .path = (p), .type = CT_SECTION, .off = NOFIELD }
#define K_ANY(p)	{ .path = (p), .type = CT_ANY, .off = NOFIELD }
#define K_STR(p, f, c)	{ .path = (p), .type = CT_STRING, .off = F_OFF(f), .size = F_SZ(f), \
			  .check = (c) }
#define K_STRE(p, f, c)	{ .path = (p), .type = CT_STRING, .off = F_OFF(f), .size = F_SZ(f), \
			  .check = (c), .flags = CF_EMPTY }
#define K_INT(p, f, lo, hi) { .path = (p), .type = CT_INT, .off = F_OFF(f), .min = (lo), \
			  .max = (hi) }
#define K_INTA(p, f, lo, hi) { .path = (p), .type = CT_INT, .off = F_OFF(f), .min = (lo), \
			  .max = (hi), .flags = CF_NODUMP }
#define K_PORT(p, f)	K_INT(p, f, 1, 65535)
#define K_BOOL(p, f)	{ .path = (p), .type = CT_BOOL, .off = F_OFF(f) }
#define K_FLOAT(p, f, lo, hi) { .path = (p), .type = CT_FLOAT, .off = F_OFF(f), .fmin = (lo), \
			  .fmax = (hi) }
#define K_FLOATA(p, f, lo, hi) { .path = (p), .type = CT_FLOAT, .off = F_OFF(f), .fmin = (lo), \
			  .fmax = (hi), .flags = CF_NODUMP }
#define K_ENUM(p, f, n)	{ .path = (p), .type = CT_ENUM, .off = F_OFF(f), .names = (n) }
#define K_SENUM(p, f, n) { .path = (p), .type = CT_STRENUM, .off = F_OFF(f), .size = F_SZ(f), \
			  .names = (n) }
#define K_SLIST(p, n, a, c) { .path = (p), .type = CT_STRLIST, .off = F_OFF(a), .size = F_ESZ(a), \
			  .nmax = F_N(a), .noff = F_OFF(n), .check = (c) }
#define K_ILIST(p, n, a, lo, hi) { .path = (p), .type = CT_INTLIST, .off = F_OFF(a), \
			  .nmax = F_N(a), .noff = F_OFF(n), .min = (lo), .max = (hi) }
#define K_RELAYS(p, n, a, s) { .path = (p), .type = CT_RELAYS, .off = F_OFF(a), \
			  .size = F_ESZ(a), .nmax = F_N(a), .noff = F_OFF(n), .sub = (s) }
/* EdgeMesh keys we accept (type-checked) but do not use. */
#define X_STR(p)	{ .path = (p), .type = CT_STRING, .off = NOFIELD }
#define X_INT(p)	{ .path = (p), .type = CT_INT, .off = NOFIELD, .min = INT32_MIN, \
			  .max = INT32_MAX }
#define X_BOOL(p)	{ .path = (p), .type = CT_BOOL, .off = NOFIELD }
#define X_SLIST(p)	{ .path = (p), .type = CT_STRLIST, .off = NOFIELD }
#define K_END		{ .path = NULL }

#define CFG_T struct em_relay_node
static const struct cfg_key relay_keys[] = {
	K_STR("nodeName", node_name, cfg_check_nonempty),
	K_SLIST("advertiseAddress", naddrs, addrs, cfg_check_nonempty),
	K_END
};
#undef CFG_T

#define CFG_T struct em_config
static const struct cfg_key cfg_keys[] = {
	X_STR("apiVersion"),
	X_STR("kind"),

	K_SECTION("kubeAPIConfig"),
	K_STR("kubeAPIConfig.master", kube.master, NULL),
	K_STR("kubeAPIConfig.contentType", kube.content_type, cfg_check_nonempty),
	K_INT("kubeAPIConfig.qps", kube.qps, 1, INT32_MAX),
	K_INT("kubeAPIConfig.burst", kube.burst, 1, INT32_MAX),
	K_STRE("kubeAPIConfig.kubeConfig", kube.kubeconfig, cfg_check_abspath),
	K_BOOL("kubeAPIConfig.deleteKubeConfig", kube.delete_kubeconfig),
	X_STR("kubeAPIConfig.mode"),
	K_SECTION("kubeAPIConfig.metaServer"),
	K_STR("kubeAPIConfig.metaServer.server", kube.metaserver, NULL),
	K_SECTION("kubeAPIConfig.metaServer.security"),
	K_BOOL("kubeAPIConfig.metaServer.security.requireAuthorization",
	    kube.require_authorization),
	K_BOOL("kubeAPIConfig.metaServer.security.insecureSkipTLSVerify",
	    kube.insecure_skip_tls_verify),
	K_STR("kubeAPIConfig.metaServer.security.tlsCaFile", kube.tls_ca_file, NULL),
	K_STR("kubeAPIConfig.metaServer.security.tlsCertFile", kube.tls_cert_file, NULL),
	K_STR("kubeAPIConfig.metaServer.security.tlsPrivateKeyFile", kube.tls_key_file, NULL),

	K_SECTION("commonConfig"),
	K_STR("commonConfig.bridgeDeviceName", bridge_device, cfg_check_ifname),
	K_STR("commonConfig.bridgeDeviceIP", bridge_ip, cfg_check_ipv4),
	K_STR("commonConfig.nodeName", node_name, cfg_check_nonempty),
	K_STR("commonConfig.runtimeDir", runtime_dir, cfg_check_abspath),
	K_STR("commonConfig.stateDir", state_dir, cfg_check_abspath),
	K_STR("commonConfig.clusterDomain", cluster_domain, cfg_check_domain),
	K_SLIST("commonConfig.ipcUsers", n_ipc_users, ipc_users, cfg_check_nonempty),
	K_SLIST("commonConfig.clientSourceRanges", n_client_ranges, client_ranges, cfg_check_cidr),
	K_SECTION("commonConfig.pprofConfig"),
	X_BOOL("commonConfig.pprofConfig.enableProfiling"),
	X_STR("commonConfig.pprofConfig.profilingAddress"),
	X_INT("commonConfig.pprofConfig.profilingPort"),
	/* the gateway file has pprofConfig at the top level */
	K_SECTION("pprofConfig"),
	X_BOOL("pprofConfig.enableProfiling"),
	X_STR("pprofConfig.profilingAddress"),
	X_INT("pprofConfig.profilingPort"),

	K_SECTION("registry"),
	K_STR("registry.path", registry_path, NULL),
	K_STR("registry.serviceCIDR", service_cidr, cfg_check_cidr4),

	K_SECTION("modules"),

	K_SECTION("modules.edgeDNS"),
	K_BOOL("modules.edgeDNS.enable", dns.enable),
	K_STRE("modules.edgeDNS.listenInterface", dns.listen_interface, cfg_check_ifname),
	K_PORT("modules.edgeDNS.listenPort", dns.listen_port),
	K_INT("modules.edgeDNS.ttl", dns.ttl, 0, 604800),
	K_SLIST("modules.edgeDNS.upstreamServers", dns.n_upstreams, dns.upstreams,
	    cfg_check_hostport),
	K_INT("modules.edgeDNS.cacheSize", dns.cache_size, 0, 1 << 24),
	K_ANY("modules.edgeDNS.kubeAPIConfig"),
	K_SECTION("modules.edgeDNS.cacheDNS"),
	K_BOOL("modules.edgeDNS.cacheDNS.enable", dns.cache_dns),
	K_BOOL("modules.edgeDNS.cacheDNS.autoDetect", dns.cache_autodetect),
	K_SLIST("modules.edgeDNS.cacheDNS.upstreamServers", dns.n_cache_upstreams,
	    dns.cache_upstreams, cfg_check_hostport),
	K_INT("modules.edgeDNS.cacheDNS.cacheTTL", dns.cache_ttl, 0, 604800),

	K_SECTION("modules.edgeProxy"),
	K_BOOL("modules.edgeProxy.enable", proxy.enable),
	K_STRE("modules.edgeProxy.listenInterface", proxy.listen_interface, cfg_check_ifname),
	K_ENUM("modules.edgeProxy.serviceFilterMode", proxy.filter_mode, filter_modes),
	K_SECTION("modules.edgeProxy.socks5Proxy"),
	K_BOOL("modules.edgeProxy.socks5Proxy.enable", proxy.socks5_enable),
	K_PORT("modules.edgeProxy.socks5Proxy.listenPort", proxy.socks5_port),
	X_STR("modules.edgeProxy.socks5Proxy.nodeName"),
	X_STR("modules.edgeProxy.socks5Proxy.namespace"),
	K_SECTION("modules.edgeProxy.loadBalancer"),
	X_STR("modules.edgeProxy.loadBalancer.caller"),
	X_STR("modules.edgeProxy.loadBalancer.nodeName"),
	K_SECTION("modules.edgeProxy.loadBalancer.consistentHash"),
	K_INT("modules.edgeProxy.loadBalancer.consistentHash.partitionCount",
	    proxy.hash_partitions, 1, 1 << 20),
	K_INT("modules.edgeProxy.loadBalancer.consistentHash.replicationFactor",
	    proxy.hash_replicas, 1, 1000),
	K_FLOAT("modules.edgeProxy.loadBalancer.consistentHash.load", proxy.hash_load, 1.0, 100.0),
	K_SENUM("modules.edgeProxy.rulesBackend", proxy.rules_backend, rules_backends),
	K_INT("modules.edgeProxy.udpIdleTimeout", proxy.udp_idle, 1, 3600),

	K_SECTION("modules.edgeTunnel"),
	K_BOOL("modules.edgeTunnel.enable", tunnel.enable),
	X_STR("modules.edgeTunnel.mode"),
	X_STR("modules.edgeTunnel.nodeName"),
	X_STR("modules.edgeTunnel.configPath"),
	K_PORT("modules.edgeTunnel.listenPort", tunnel.listen_port),
	K_SENUM("modules.edgeTunnel.transport", tunnel.transport, transports),
	K_STR("modules.edgeTunnel.rendezvous", tunnel.rendezvous, cfg_check_nonempty),
	K_RELAYS("modules.edgeTunnel.relayNodes", tunnel.n_relays, tunnel.relays, relay_keys),
	X_BOOL("modules.edgeTunnel.enableIpfsLog"),
	K_INT("modules.edgeTunnel.maxCandidates", tunnel.max_candidates, 0, 1000),
	K_INT("modules.edgeTunnel.heartbeatPeriod", tunnel.heartbeat_period, 1, 86400),
	K_INT("modules.edgeTunnel.finderPeriod", tunnel.finder_period, 1, 86400),
	K_SECTION("modules.edgeTunnel.psk"),
	K_BOOL("modules.edgeTunnel.psk.enable", tunnel.psk_enable),
	K_STR("modules.edgeTunnel.psk.path", tunnel.psk_path, cfg_check_nonempty),
	K_SECTION("modules.edgeTunnel.tunnelLimitConfig"),
	X_BOOL("modules.edgeTunnel.tunnelLimitConfig.enable"),
	X_INT("modules.edgeTunnel.tunnelLimitConfig.tunnelBaseStreamIn"),
	X_INT("modules.edgeTunnel.tunnelLimitConfig.tunnelBaseStreamOut"),
	X_INT("modules.edgeTunnel.tunnelLimitConfig.tunnelPeerBaseStreamIn"),
	X_INT("modules.edgeTunnel.tunnelLimitConfig.tunnelPeerBaseStreamOut"),
	K_STR("modules.edgeTunnel.listenInterfaces", tunnel.listen_interfaces, NULL),
	K_STR("modules.edgeTunnel.extraFilteredInterfaces", tunnel.extra_filtered_interfaces,
	    NULL),
	K_INT("modules.edgeTunnel.wsPort", tunnel.ws_port, 0, 65535),
	K_STR("modules.edgeTunnel.wsProxy", tunnel.ws_proxy, cfg_check_proxy_opt),
	K_SECTION("modules.edgeTunnel.metricConfig"),
	K_BOOL("modules.edgeTunnel.metricConfig.enable", tunnel.metrics.enable),
	K_PORT("modules.edgeTunnel.metricConfig.port", tunnel.metrics.port),
	K_STRE("modules.edgeTunnel.metricConfig.address", tunnel.metrics.address, cfg_check_ipv4),
	K_ILIST("modules.edgeTunnel.allowedNodePorts", tunnel.n_allowed_ports,
	    tunnel.allowed_ports, 1, 65535),
	K_BOOL("modules.edgeTunnel.edgemeshAgents", tunnel.edgemesh_agents),

	K_SECTION("modules.edgeCNI"),
	X_BOOL("modules.edgeCNI.enable"),
	X_STR("modules.edgeCNI.encapsulationIP"),
	X_INT("modules.edgeCNI.tunMode"),
	K_SECTION("modules.edgeCNI.meshCIDRConfig"),
	X_SLIST("modules.edgeCNI.meshCIDRConfig.cloudCIDR"),
	X_SLIST("modules.edgeCNI.meshCIDRConfig.edgeCIDR"),

	K_SECTION("modules.edgeGateway"),
	K_BOOL("modules.edgeGateway.enable", gateway.enable),
	K_STR("modules.edgeGateway.nic", gateway.nic, cfg_check_nonempty),
	K_STR("modules.edgeGateway.includeIP", gateway.include_ip, cfg_check_nonempty),
	K_STR("modules.edgeGateway.excludeIP", gateway.exclude_ip, cfg_check_nonempty),
	K_SECTION("modules.edgeGateway.loadBalancer"),
	X_STR("modules.edgeGateway.loadBalancer.caller"),
	X_STR("modules.edgeGateway.loadBalancer.nodeName"),
	/* one process reads one file: the gateway's ring settings are the proxy's fields */
	K_SECTION("modules.edgeGateway.loadBalancer.consistentHash"),
	K_INTA("modules.edgeGateway.loadBalancer.consistentHash.partitionCount",
	    proxy.hash_partitions, 1, 1 << 20),
	K_INTA("modules.edgeGateway.loadBalancer.consistentHash.replicationFactor",
	    proxy.hash_replicas, 1, 1000),
	K_FLOATA("modules.edgeGateway.loadBalancer.consistentHash.load", proxy.hash_load,
	    1.0, 100.0),
	K_END
};
#undef CFG_T
/* clang-format on */

/* Bounded copy; returns -1 if src did not fit (dst then holds a prefix). */
static int
cfg_strlcpy(char *dst, const char *src, size_t len)
{
	int r;

	if (len == 0)
		return -1;
	r = snprintf(dst, len, "%s", src);
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

static void
cfg_describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		cfg_show((const char *)n->data.scalar.value, n->data.scalar.length, buf, len);
		break;
	case YAML_SEQUENCE_NODE:
		cfg_strlcpy(buf, "a list", len);
		break;
	case YAML_MAPPING_NODE:
		cfg_strlcpy(buf, "a mapping", len);
		break;
	default:
		cfg_strlcpy(buf, "nothing", len);
		break;
	}
}

static int cfg_error(struct cfg_parse *, const yaml_mark_t *, const char *, const char *, ...)
    EM_PRINTF(4, 5);

/* "FILE:LINE:COL: key KEY: MSG"; returns -1. */
static int
cfg_error(struct cfg_parse *p, const yaml_mark_t *m, const char *key, const char *fmt, ...)
{
	char msg[CFG_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err == NULL || p->errlen == 0)
		return -1;
	if (key != NULL && *key != '\0')
		snprintf(p->err, p->errlen, "%s:%zu:%zu: key %s: %s", p->file, m->line + 1,
			 m->column + 1, key, msg);
	else
		snprintf(p->err, p->errlen, "%s:%zu:%zu: %s", p->file, m->line + 1, m->column + 1,
			 msg);
	return -1;
}

/* ---- scalars ---- */

static int
cfg_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	const char *v;
	int i;

	if (n->type != YAML_SCALAR_NODE)
		return 0;
	if (n->tag != NULL && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
		return 1;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	for (i = 0; nulls[i] != NULL; i++)
		if (strcmp(v, nulls[i]) == 0)
			return 1;
	return 0;
}

/* Scalar text, or NULL (error set) for a non-scalar or a NUL inside. */
static const char *
cfg_scalar(struct cfg_parse *p, const yaml_node_t *n, const char *key, const char *what)
{
	char got[CFG_SHOW_LEN + 8];
	const char *v;

	if (n->type != YAML_SCALAR_NODE) {
		cfg_describe(n, got, sizeof(got));
		cfg_error(p, &n->start_mark, key, "expected %s, got %s", what, got);
		return NULL;
	}
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length) {
		cfg_error(p, &n->start_mark, key, "value contains a NUL byte");
		return NULL;
	}
	return v;
}

/* 0 ok, -1 not an integer, -2 does not fit in a long long */
static int
cfg_parse_ll(const char *v, long long *ll)
{
	const char *c = v;
	char *end;

	if (*c == '+' || *c == '-')
		c++;
	if (!isdigit((unsigned char)*c))
		return -1;
	errno = 0;
	*ll = strtoll(v, &end, 10);
	if (*end != '\0')
		return -1;
	return errno == ERANGE ? -2 : 0;
}

static int
cfg_get_int(struct cfg_parse *p, const struct cfg_key *e, const char *key, const yaml_node_t *n,
	    int *out)
{
	char got[CFG_SHOW_LEN + 8];
	const char *v;
	long long ll;
	int r;

	if ((v = cfg_scalar(p, n, key, "an integer")) == NULL)
		return -1;
	cfg_show(v, strlen(v), got, sizeof(got));
	if ((r = cfg_parse_ll(v, &ll)) == -1)
		return cfg_error(p, &n->start_mark, key, "expected an integer, got %s", got);
	if (r == -2 || ll < e->min || ll > e->max)
		return cfg_error(p, &n->start_mark, key, "%s is out of range (%lld-%lld)", got,
				 e->min, e->max);
	*out = (int)ll;
	return 0;
}

static int
cfg_get_str(struct cfg_parse *p, const struct cfg_key *e, const char *key, const yaml_node_t *n,
	    char *dst, size_t dstlen)
{
	char why[CFG_MSG_LEN];
	const char *v;
	size_t len;

	if ((v = cfg_scalar(p, n, key, "a string")) == NULL)
		return -1;
	len = strlen(v);
	if (dst != NULL && len >= dstlen)
		return cfg_error(p, &n->start_mark, key,
				 "value is too long (%zu bytes, at most %zu)", len, dstlen - 1);
	if (e->check != NULL && !(*v == '\0' && (e->flags & CF_EMPTY)) &&
	    e->check(v, why, sizeof(why)) == -1)
		return cfg_error(p, &n->start_mark, key, "%s", why);
	if (dst != NULL)
		cfg_strlcpy(dst, v, dstlen);
	return 0;
}

static int
cfg_enum_index(const struct cfg_key *e, const char *v)
{
	int i;

	for (i = 0; e->names[i] != NULL; i++)
		if (strcmp(e->names[i], v) == 0)
			return i;
	return -1;
}

static int
cfg_enum_error(struct cfg_parse *p, const struct cfg_key *e, const char *key, const yaml_node_t *n,
	       const char *v)
{
	char names[CFG_MSG_LEN], got[CFG_SHOW_LEN + 8];
	size_t off = 0;
	int i, r;

	names[0] = '\0';
	for (i = 0; e->names[i] != NULL && off < sizeof(names); i++) {
		r = snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "", e->names[i]);
		if (r < 0)
			break;
		off += (size_t)r;
	}
	cfg_show(v, strlen(v), got, sizeof(got));
	return cfg_error(p, &n->start_mark, key, "expected one of %s, got %s", names, got);
}

/* ---- the walk ---- */

static char *
cfg_field(void *base, size_t off)
{
	return (char *)base + off;
}

static int cfg_walk(struct cfg_parse *, const struct cfg_key *, void *, const char *, const char *,
		    const yaml_node_t *);

/*
 * Aliases share nodes, so a small file can name the same mapping a billion
 * times (duplicate keys give the width).  Bound the work, not the file.
 */
static int
cfg_visit(struct cfg_parse *p, const yaml_node_t *n)
{
	if (++p->visits <= CFG_VISIT_MAX)
		return 0;
	return cfg_error(p, &n->start_mark, NULL,
			 "more than %d keys and list items once aliases are expanded",
			 CFG_VISIT_MAX);
}

/* display name of an entry: DISP.path, or path */
static void
cfg_keyname(char *buf, size_t len, const char *disp, const char *path)
{
	int r;

	if (*disp == '\0' || *path == '\0')
		r = snprintf(buf, len, "%s", *disp == '\0' ? path : disp);
	else
		r = snprintf(buf, len, "%s.%s", disp, path);
	if (r < 0 && len > 0)
		buf[0] = '\0';
}

static int
cfg_set_list(struct cfg_parse *p, const struct cfg_key *e, void *base, const char *key,
	     const yaml_node_t *n)
{
	const yaml_node_item_t *it;
	const yaml_node_t *item;
	char got[CFG_SHOW_LEN + 8], ikey[CFG_KEY_LEN];
	size_t count = 0;
	char *field = e->off == NOFIELD ? NULL : cfg_field(base, e->off);
	int r;

	if (n->type != YAML_SEQUENCE_NODE && !cfg_is_null(n)) {
		cfg_describe(n, got, sizeof(got));
		return cfg_error(p, &n->start_mark, key, "expected a list, got %s", got);
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			if ((item = yaml_document_get_node(p->doc, *it)) == NULL)
				continue;
			if (cfg_visit(p, item) == -1)
				return -1;
			r = snprintf(ikey, sizeof(ikey), "%s[%zu]", key, count);
			if (r < 0)
				ikey[0] = '\0';
			if (field != NULL && count == e->nmax)
				return cfg_error(p, &item->start_mark, key,
						 "too many entries (at most %zu)", e->nmax);
			switch (e->type) {
			case CT_STRLIST:
				r = cfg_get_str(p, e, ikey, item,
						field == NULL ? NULL : field + count * e->size,
						e->size);
				break;
			case CT_INTLIST: {
				int v;

				r = cfg_get_int(p, e, ikey, item, &v);
				if (r == 0 && field != NULL)
					((int *)(void *)field)[count] = v;
				break;
			}
			case CT_RELAYS: {
				const struct cfg_key *s;
				char *elem;

				if (field == NULL)
					return -1; /* not in the table */
				elem = field + count * e->size;
				memset(elem, 0, e->size);
				if (item->type != YAML_MAPPING_NODE) {
					cfg_describe(item, got, sizeof(got));
					return cfg_error(p, &item->start_mark, ikey,
							 "expected a mapping, got %s", got);
				}
				if ((r = cfg_walk(p, e->sub, elem, "", ikey, item)) == -1)
					break;
				/* its strings (nodeName) are required */
				for (s = e->sub; s->path != NULL; s++)
					if (s->type == CT_STRING && s->off != NOFIELD &&
					    elem[s->off] == '\0')
						return cfg_error(p, &item->start_mark, ikey,
								 "missing %s", s->path);
				break;
			}
			default:
				r = -1;
				break;
			}
			if (r == -1)
				return -1;
			count++;
		}
	}
	if (field != NULL)
		*(size_t *)(void *)cfg_field(base, e->noff) = count;
	return 0;
}

static int
cfg_set(struct cfg_parse *p, const struct cfg_key *tab, const struct cfg_key *e, void *base,
	const char *disp, const yaml_node_t *n)
{
	char key[CFG_KEY_LEN], got[CFG_SHOW_LEN + 8];
	char *field = e->off == NOFIELD ? NULL : cfg_field(base, e->off);
	const char *v;
	char *end;
	double d;
	bool b;
	int i;

	cfg_keyname(key, sizeof(key), disp, e->path);
	switch (e->type) {
	case CT_ANY:
		return 0;
	case CT_STRLIST:
	case CT_INTLIST:
	case CT_RELAYS:
		return cfg_set_list(p, e, base, key, n);
	default:
		break;
	}
	if (cfg_is_null(n))
		return 0; /* json null leaves a value alone */
	switch (e->type) {
	case CT_SECTION:
		if (n->type != YAML_MAPPING_NODE) {
			cfg_describe(n, got, sizeof(got));
			return cfg_error(p, &n->start_mark, key, "expected a mapping, got %s", got);
		}
		return cfg_walk(p, tab, base, e->path, disp, n);
	case CT_STRING:
		return cfg_get_str(p, e, key, n, field, e->size);
	case CT_INT:
		if (cfg_get_int(p, e, key, n, &i) == -1)
			return -1;
		if (field != NULL)
			*(int *)(void *)field = i;
		return 0;
	case CT_BOOL:
		if ((v = cfg_scalar(p, n, key, "true or false")) == NULL)
			return -1;
		if (yaml_scalar_bool(v, &b) == -1) {
			cfg_show(v, strlen(v), got, sizeof(got));
			return cfg_error(p, &n->start_mark, key, "expected true or false, got %s",
					 got);
		}
		if (field != NULL)
			*(bool *)(void *)field = b;
		return 0;
	case CT_FLOAT:
		if ((v = cfg_scalar(p, n, key, "a number")) == NULL)
			return -1;
		cfg_show(v, strlen(v), got, sizeof(got));
		errno = 0;
		d = strtod(v, &end);
		if (*v == '\0' || isspace((unsigned char)*v) || *end != '\0' || !isfinite(d))
			return cfg_error(p, &n->start_mark, key, "expected a number, got %s", got);
		if (d < e->fmin || d > e->fmax)
			return cfg_error(p, &n->start_mark, key, "%s is out of range (%g-%g)", got,
					 e->fmin, e->fmax);
		if (field != NULL)
			*(double *)(void *)field = d;
		return 0;
	case CT_ENUM:
	case CT_STRENUM:
		if ((v = cfg_scalar(p, n, key, "a string")) == NULL)
			return -1;
		if ((i = cfg_enum_index(e, v)) == -1)
			return cfg_enum_error(p, e, key, n, v);
		if (field == NULL)
			return 0;
		if (e->type == CT_ENUM)
			*(int *)(void *)field = i;
		else
			cfg_strlcpy(field, v, e->size);
		return 0;
	default:
		return 0;
	}
}

static const struct cfg_key *
cfg_find(const struct cfg_key *tab, const char *path)
{
	const struct cfg_key *e;

	for (e = tab; e->path != NULL; e++)
		if (strcasecmp(e->path, path) == 0)
			return e;
	return NULL;
}

/*
 * Overlay the mapping n on base.  prefix is the canonical dotted path of n
 * inside tab ("" at the top), disp what goes before it in messages.
 */
/*
 * EdgeMesh's keys we accept (a config moves over unchanged) but do not act
 * on: said once at start and by -n, never silence.  transport: tcp and ws
 * are honoured, quic is not.
 */
static const struct {
	const char *path, *why;
} unhonoured[] = {
    {"modules.edgeTunnel.transport", "quic is not served: tunneld dials tcp"},
    {"modules.edgeTunnel.rendezvous",
     "peers come from Node objects, not from a DHT (only edgemeshAgents' mDNS answers use it)"},
    {"modules.edgeTunnel.maxCandidates", "peers come from Node objects, not from a DHT"},
    {"modules.edgeTunnel.finderPeriod", "peers come from Node objects, not from a DHT or mDNS"},
    {"modules.edgeTunnel.heartbeatPeriod", "sessions send keepalives every 5 s"},
    {"modules.edgeTunnel.enableIpfsLog", "there is no libp2p log"},
    {"modules.edgeTunnel.tunnelLimitConfig", "streams are bounded per session instead"},
    {"modules.edgeDNS.listenInterface", "dnsd listens on commonConfig.bridgeDeviceIP"},
    {"modules.edgeProxy.listenInterface", "proxyd listens on commonConfig.bridgeDeviceIP"},
    {"modules.edgeCNI", "EdgeMesh's CNI is not part of this product"},
    {"pprofConfig", "there is no profiling endpoint"},
    {"commonConfig.pprofConfig", "there is no profiling endpoint"},
};

static void
cfg_unhonoured(struct cfg_parse *p, const char *path, const yaml_node_t *k, const yaml_node_t *v)
{
	char once[CFG_KEY_LEN + 64];
	size_t i;

	for (i = 0; i < sizeof(unhonoured) / sizeof(unhonoured[0]); i++) {
		if (strcasecmp(unhonoured[i].path, path) != 0)
			continue;
		if (strcasecmp(path, "modules.edgeTunnel.transport") == 0 &&
		    v->type == YAML_SCALAR_NODE &&
		    (strcasecmp((const char *)v->data.scalar.value, "tcp") == 0 ||
		     strcasecmp((const char *)v->data.scalar.value, "ws") == 0))
			return;
		snprintf(once, sizeof(once), "unhonoured %s %s", p->file, path);
		log_warnx_once(once,
			       "%s:%zu:%zu: key %s is accepted for EdgeMesh but not acted on: %s",
			       p->file, k->start_mark.line + 1, k->start_mark.column + 1, path,
			       unhonoured[i].why);
		return;
	}
}

static int
cfg_walk(struct cfg_parse *p, const struct cfg_key *tab, void *base, const char *prefix,
	 const char *disp, const yaml_node_t *n)
{
	const yaml_node_pair_t *pair;
	const yaml_node_t *k, *v;
	const struct cfg_key *e;
	char path[CFG_KEY_LEN], where[CFG_KEY_LEN], full[CFG_KEY_LEN], once[CFG_KEY_LEN * 2];
	char kname[CFG_KEY_LEN], got[CFG_SHOW_LEN + 8];
	const char *ks;
	size_t klen;
	int r;

	cfg_keyname(where, sizeof(where), disp, prefix);
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(p->doc, pair->key);
		v = yaml_document_get_node(p->doc, pair->value);
		if (k == NULL || v == NULL)
			continue;
		if (cfg_visit(p, k) == -1)
			return -1;
		if (k->type != YAML_SCALAR_NODE) {
			cfg_describe(k, got, sizeof(got));
			return cfg_error(p, &k->start_mark, where, "expected a key name, got %s",
					 got);
		}
		ks = (const char *)k->data.scalar.value;
		klen = k->data.scalar.length;
		e = NULL;
		if (strlen(ks) == klen && memchr(ks, '.', klen) == NULL) {
			if (*prefix == '\0')
				r = snprintf(path, sizeof(path), "%s", ks);
			else
				r = snprintf(path, sizeof(path), "%s.%s", prefix, ks);
			if (r >= 0 && (size_t)r < sizeof(path))
				e = cfg_find(tab, path);
		}
		if (e != NULL) {
			if (cfg_set(p, tab, e, base, disp, v) == -1)
				return -1;
			cfg_unhonoured(p, e->path, k, v);
			continue;
		}
		/* unknown: EdgeMesh ignores it, we say so once */
		cfg_clean(ks, klen, got, sizeof(got));
		if (strchr(got, '.') != NULL) /* one key with a dot in it, not a path */
			r = snprintf(kname, sizeof(kname), "\"%s\"", got);
		else
			r = snprintf(kname, sizeof(kname), "%s", got);
		if (r < 0)
			kname[0] = '\0';
		cfg_keyname(full, sizeof(full), where, kname);
		r = snprintf(once, sizeof(once), "config %s %s", p->file, full);
		if (r < 0)
			once[0] = '\0';
		log_warnx_once(once, "%s:%zu:%zu: unknown key %s ignored", p->file,
			       k->start_mark.line + 1, k->start_mark.column + 1, full);
	}
	return 0;
}

/* ---- loading ---- */

static int
cfg_read(const char *path, char **bufp, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	char *buf;
	size_t len = 0, n;
	int saved;

	*bufp = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		snprintf(err, errlen, "%s: %s", path, strerror(EISDIR));
		return -1;
	}
	if ((buf = malloc(CFG_FILE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -1;
	}
	while ((n = fread(buf + len, 1, CFG_FILE_MAX + 1 - len, f)) > 0) {
		len += n;
		if (len > CFG_FILE_MAX)
			break;
	}
	saved = errno;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	if (len > CFG_FILE_MAX) {
		snprintf(err, errlen, "%s: file is too large (more than %d bytes)", path,
			 CFG_FILE_MAX);
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

/* Line and column (0-based) of a byte offset, for reader errors. */
static void
cfg_offset_mark(const char *buf, size_t len, size_t off, yaml_mark_t *m)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m->line++;
			m->column = 0;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			m->column++;
	}
}

static int
cfg_yaml_error(struct cfg_parse *p, yaml_parser_t *y)
{
	yaml_mark_t m;

	if (y->error == YAML_MEMORY_ERROR) {
		snprintf(p->err, p->errlen, "%s: %s", p->file, strerror(ENOMEM));
		return -1;
	}
	if (y->error == YAML_READER_ERROR)
		cfg_offset_mark(p->buf, p->len, y->problem_offset, &m);
	else
		m = y->problem_mark;
	return cfg_error(p, &m, NULL, "%s", y->problem != NULL ? y->problem : "YAML error");
}

/*
 * libyaml's scanner is quadratic in the flow nesting depth (100k '[' take a
 * minute), so refuse deep nesting before it runs.  A rough scan is enough,
 * no configuration comes near the limit: quoted scalars and comments are
 * skipped, a bracket or quote inside a plain word is taken as it comes.
 */
static int
cfg_depth_check(struct cfg_parse *p)
{
	yaml_mark_t m;
	size_t i, depth = 0;
	char c, q = 0, prev = '\n';

	memset(&m, 0, sizeof(m));
	for (i = 0; i < p->len; prev = c, i++) {
		c = p->buf[i];
		if (q != 0) {
			if (q == '"' && c == '\\' && i + 1 < p->len && p->buf[i + 1] != '\n')
				c = p->buf[++i];
			else if (c == q)
				q = 0;
		} else if (c == '#' && strchr(" \t\n", prev) != NULL) {
			while (i + 1 < p->len && p->buf[i + 1] != '\n')
				i++;
		} else if ((c == '"' || c == '\'') && strchr(" \t\n[{,:", prev) != NULL)
			q = c;
		else if (c == '[' || c == '{') {
			if (++depth > CFG_DEPTH_MAX) {
				cfg_offset_mark(p->buf, p->len, i, &m);
				return cfg_error(p, &m, NULL, "nesting deeper than %d levels",
						 CFG_DEPTH_MAX);
			}
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return 0;
}

/* The first document, overlaid on cfg; later documents must be empty. */
static int
cfg_overlay(struct cfg_parse *p, struct em_config *cfg)
{
	yaml_parser_t y;
	yaml_document_t more;
	yaml_node_t *root;
	char got[CFG_SHOW_LEN + 8];
	int rv = -1;

	if (cfg_depth_check(p) == -1)
		return -1;
	if (!yaml_parser_initialize(&y)) {
		snprintf(p->err, p->errlen, "%s: %s", p->file, strerror(ENOMEM));
		return -1;
	}
	yaml_parser_set_input_string(&y, (const unsigned char *)p->buf, p->len);
	if (!yaml_parser_load(&y, &p->ydoc)) {
		cfg_yaml_error(p, &y);
		yaml_parser_delete(&y);
		return -1;
	}
	p->doc = &p->ydoc;
	root = yaml_document_get_root_node(p->doc);
	if (root != NULL && !cfg_is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			cfg_describe(root, got, sizeof(got));
			cfg_error(p, &root->start_mark, NULL, "expected a mapping, got %s", got);
			goto out;
		}
		if (cfg_walk(p, cfg_keys, cfg, "", "", root) == -1)
			goto out;
	}
	for (;;) {
		if (!yaml_parser_load(&y, &more)) {
			cfg_yaml_error(p, &y);
			goto out;
		}
		root = yaml_document_get_root_node(&more);
		if (root == NULL) {
			yaml_document_delete(&more);
			break;
		}
		if (!cfg_is_null(root)) {
			cfg_error(p, &more.start_mark, NULL,
				  "more than one YAML document; put the configuration in one");
			yaml_document_delete(&more);
			goto out;
		}
		yaml_document_delete(&more);
	}
	rv = 0;
out:
	yaml_document_delete(p->doc);
	p->doc = NULL;
	yaml_parser_delete(&y);
	return rv;
}

void
config_defaults(struct em_config *cfg)
{
	const char *env;

	memset(cfg, 0, sizeof(*cfg));

	/* kubeAPIConfig */
	cfg_strlcpy(cfg->kube.content_type, "application/vnd.kubernetes.protobuf",
		    sizeof(cfg->kube.content_type));
	cfg->kube.qps = 100;
	cfg->kube.burst = 200;
	cfg_strlcpy(cfg->kube.metaserver, "http://127.0.0.1:10550", sizeof(cfg->kube.metaserver));
	cfg_strlcpy(cfg->kube.tls_ca_file, "/etc/edgemesh/metaserver/rootCA.crt",
		    sizeof(cfg->kube.tls_ca_file));
	cfg_strlcpy(cfg->kube.tls_cert_file, "/etc/edgemesh/metaserver/server.crt",
		    sizeof(cfg->kube.tls_cert_file));
	cfg_strlcpy(cfg->kube.tls_key_file, "/etc/edgemesh/metaserver/server.key",
		    sizeof(cfg->kube.tls_key_file));

	/* commonConfig */
	cfg_strlcpy(cfg->bridge_device, "edgemesh0", sizeof(cfg->bridge_device));
	cfg_strlcpy(cfg->bridge_ip, "169.254.96.16", sizeof(cfg->bridge_ip));
	if ((env = getenv("NODE_NAME")) != NULL && *env != '\0')
		cfg_strlcpy(cfg->node_name, env, sizeof(cfg->node_name));
	else if (gethostname(cfg->node_name, sizeof(cfg->node_name)) == -1 ||
		 cfg->node_name[0] == '\0')
		cfg_strlcpy(cfg->node_name, "localhost", sizeof(cfg->node_name));
	cfg->node_name[sizeof(cfg->node_name) - 1] = '\0';
	cfg_strlcpy(cfg->runtime_dir, "/run/edgemesh", sizeof(cfg->runtime_dir));
	cfg_strlcpy(cfg->state_dir, "/var/lib/edgemesh", sizeof(cfg->state_dir));
	cfg_strlcpy(cfg->cluster_domain, "cluster.local", sizeof(cfg->cluster_domain));
	cfg_strlcpy(cfg->service_cidr, "10.96.0.0/12", sizeof(cfg->service_cidr)); /* kubeadm's */

	/* modules.edgeDNS */
	cfg_strlcpy(cfg->dns.listen_interface, cfg->bridge_device,
		    sizeof(cfg->dns.listen_interface));
	cfg->dns.listen_port = 53;
	cfg->dns.ttl = 30;
	cfg->dns.cache_size = 4096;
	cfg->dns.cache_autodetect = true;
	cfg->dns.cache_ttl = 30;

	/* modules.edgeProxy */
	cfg_strlcpy(cfg->proxy.listen_interface, cfg->bridge_device,
		    sizeof(cfg->proxy.listen_interface));
	cfg->proxy.filter_mode = EM_FILTER_IF_LABEL_EXISTS;
	cfg->proxy.socks5_port = 10800;
	cfg->proxy.hash_partitions = 100;
	cfg->proxy.hash_replicas = 10;
	cfg->proxy.hash_load = 1.25;
	cfg_strlcpy(cfg->proxy.rules_backend, "auto", sizeof(cfg->proxy.rules_backend));
	cfg->proxy.udp_idle = 30;

	/* modules.edgeTunnel */
	cfg->tunnel.listen_port = 20006;
	cfg->tunnel.metrics.port = 9999;
	cfg_strlcpy(cfg->tunnel.transport, "tcp", sizeof(cfg->tunnel.transport));
	cfg_strlcpy(cfg->tunnel.rendezvous, "EDGEMESH_PLAYGOUND", sizeof(cfg->tunnel.rendezvous));
	cfg->tunnel.max_candidates = 15;
	cfg->tunnel.heartbeat_period = 120;
	cfg->tunnel.finder_period = 60;
	cfg->tunnel.psk_enable = true;
	cfg_strlcpy(cfg->tunnel.psk_path, "/etc/edgemesh/psk", sizeof(cfg->tunnel.psk_path));
	cfg_strlcpy(cfg->tunnel.listen_interfaces, "*", sizeof(cfg->tunnel.listen_interfaces));
	cfg->tunnel.n_allowed_ports = 1;
	cfg->tunnel.allowed_ports[0] = 22;

	/* modules.edgeGateway */
	cfg_strlcpy(cfg->gateway.nic, "*", sizeof(cfg->gateway.nic));
	cfg_strlcpy(cfg->gateway.include_ip, "*", sizeof(cfg->gateway.include_ip));
	cfg_strlcpy(cfg->gateway.exclude_ip, "*", sizeof(cfg->gateway.exclude_ip));

	/* EdgeMesh's preConfigAgent: CloudMode when kubelet injected KUBERNETES_PORT */
	if (getenv("KUBERNETES_PORT") == NULL) {
		cfg_strlcpy(cfg->kube.content_type, "application/json",
			    sizeof(cfg->kube.content_type));
		cfg->dns.enable = true;
	} else
		cfg->dns.enable = false;
}

int
config_load(struct em_config *cfg, const char *path, char *err, size_t errlen)
{
	struct cfg_parse p;
	char dummy[1];
	char *buf;
	size_t len;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	config_defaults(cfg);
	if (path == NULL)
		return 0;
	if (strnlen(path, sizeof(cfg->path)) == sizeof(cfg->path)) {
		snprintf(err, errlen, "%.64s...: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	if (cfg_read(path, &buf, &len, err, errlen) == -1)
		return -1;
	memset(&p, 0, sizeof(p));
	p.file = path;
	p.buf = buf;
	p.len = len;
	p.err = err;
	p.errlen = errlen;

	/* listenInterface left empty follows bridgeDeviceName */
	cfg->dns.listen_interface[0] = '\0';
	cfg->proxy.listen_interface[0] = '\0';
	if (cfg_overlay(&p, cfg) == -1) {
		free(buf);
		config_defaults(cfg);
		return -1;
	}
	free(buf);
	cfg_strlcpy(cfg->path, path, sizeof(cfg->path));
	if (cfg->dns.listen_interface[0] == '\0')
		cfg_strlcpy(cfg->dns.listen_interface, cfg->bridge_device,
			    sizeof(cfg->dns.listen_interface));
	if (cfg->proxy.listen_interface[0] == '\0')
		cfg_strlcpy(cfg->proxy.listen_interface, cfg->bridge_device,
			    sizeof(cfg->proxy.listen_interface));
	return 0;
}

/* ---- dump ---- */

/* Plain if unambiguous, else double-quoted with escapes. */
static void
cfg_dump_str(FILE *f, const char *s)
{
	const char *c;

	for (c = s; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && strchr("._/:@*+=%~-", *c) == NULL)
			break;
	if (*s != '\0' && *c == '\0') {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (c = s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (*c == '\t')
			fputs("\\t", f);
		else if (!isprint((unsigned char)*c))
			fprintf(f, "\\x%02x", (unsigned char)*c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void
cfg_dump_value(FILE *f, const struct cfg_key *e, const void *base)
{
	const char *field = (const char *)base + e->off;
	const struct cfg_key *s;
	size_t i, n = 0;
	int v;

	if (e->type == CT_STRLIST || e->type == CT_INTLIST || e->type == CT_RELAYS) {
		n = *(const size_t *)(const void *)((const char *)base + e->noff);
		if (n > e->nmax)
			n = e->nmax;
	}
	switch (e->type) {
	case CT_STRING:
	case CT_STRENUM:
		cfg_dump_str(f, field);
		break;
	case CT_INT:
		fprintf(f, "%d", *(const int *)(const void *)field);
		break;
	case CT_BOOL:
		fputs(*(const bool *)(const void *)field ? "true" : "false", f);
		break;
	case CT_FLOAT:
		fprintf(f, "%g", *(const double *)(const void *)field);
		break;
	case CT_ENUM:
		v = *(const int *)(const void *)field;
		for (i = 0; e->names[i] != NULL; i++)
			;
		if (v >= 0 && (size_t)v < i)
			fputs(e->names[v], f);
		else
			fprintf(f, "%d", v);
		break;
	case CT_STRLIST:
		fputc('[', f);
		for (i = 0; i < n; i++) {
			fputs(i ? ", " : "", f);
			cfg_dump_str(f, field + i * e->size);
		}
		fputc(']', f);
		break;
	case CT_INTLIST:
		fputc('[', f);
		for (i = 0; i < n; i++)
			fprintf(f, "%s%d", i ? ", " : "", ((const int *)(const void *)field)[i]);
		fputc(']', f);
		break;
	case CT_RELAYS:
		fputc('[', f);
		for (i = 0; i < n; i++) {
			fputs(i ? ", {" : "{", f);
			for (s = e->sub; s->path != NULL; s++) {
				if (s->off == NOFIELD || s->type == CT_SECTION)
					continue;
				fprintf(f, "%s%s: ", s == e->sub ? "" : ", ", s->path);
				cfg_dump_value(f, s, field + i * e->size);
			}
			fputc('}', f);
		}
		fputc(']', f);
		break;
	default:
		break;
	}
}

void
config_dump(const struct em_config *cfg, FILE *f)
{
	const struct cfg_key *e;

	for (e = cfg_keys; e->path != NULL; e++) {
		if (e->off == NOFIELD || (e->flags & CF_NODUMP))
			continue;
		fprintf(f, "%s: ", e->path);
		cfg_dump_value(f, e, cfg);
		fputc('\n', f);
	}
}
