/*
 * edgemesh.yaml: EdgeMesh's edgemesh-agent.yaml / edgemesh-gateway.yaml keys
 * (matched case-insensitively, unknown keys warned once) plus ours.
 * config_load() fills defaults first, then overlays the file.
 */
#ifndef EM_CONFIG_H
#define EM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EM_CONFIG_DEFAULT "/etc/edgemesh/edgemesh.yaml"
#define EM_PATH_MAX	  512
#define EM_NAME_LEN	  254 /* DNS-1123 subdomain + NUL */
#define EM_CFG_LIST_MAX	  16

enum em_filter_mode {
	EM_FILTER_IF_LABEL_EXISTS = 0,	       /* FilterIfLabelExists (default) */
	EM_FILTER_IF_LABEL_DOES_NOT_EXIST = 1, /* FilterIfLabelDoesNotExists */
};

struct em_relay_node {
	char node_name[EM_NAME_LEN];
	size_t naddrs;
	char addrs[EM_CFG_LIST_MAX][64]; /* advertiseAddress */
};

struct em_config {
	char path[EM_PATH_MAX]; /* file it came from, "" for defaults */

	/* kubeAPIConfig */
	struct {
		char master[EM_PATH_MAX];
		char content_type[64];
		int qps, burst;
		char kubeconfig[EM_PATH_MAX];
		bool delete_kubeconfig;
		char metaserver[EM_PATH_MAX]; /* metaServer.server */
		bool require_authorization;
		bool insecure_skip_tls_verify;
		char tls_ca_file[EM_PATH_MAX];
		char tls_cert_file[EM_PATH_MAX];
		char tls_key_file[EM_PATH_MAX];
	} kube;

	/* commonConfig (EdgeMesh's and ours) */
	char bridge_device[16];		  /* bridgeDeviceName, IFNAMSIZ */
	char bridge_ip[46];		  /* bridgeDeviceIP */
	char node_name[EM_NAME_LEN];	  /* ours: nodeName, default $NODE_NAME, then hostname */
	char runtime_dir[EM_PATH_MAX];	  /* ours: runtimeDir, default /run/edgemesh */
	char state_dir[EM_PATH_MAX];	  /* ours: stateDir, default /var/lib/edgemesh */
	char cluster_domain[EM_NAME_LEN]; /* ours: clusterDomain, default cluster.local */
	size_t n_ipc_users; /* ours: ipcUsers, names or numeric uids allowed on our sockets */
	char ipc_users[EM_CFG_LIST_MAX][64];
	size_t n_client_ranges; /* ours: clientSourceRanges (CIDRs) for socksd and dnsd; */
	char client_ranges[EM_CFG_LIST_MAX][50]; /* none: loopback, local addrs, pod subnets */

	/* registry (ours) */
	char registry_path[EM_PATH_MAX]; /* registry.path: manifest directory */
	char service_cidr[32];		 /* registry.serviceCIDR: ClusterIPs it allocates */

	/* modules.edgeDNS */
	struct {
		bool enable;
		char listen_interface[16];
		int listen_port;    /* 53 */
		int ttl;	    /* ours: ttl, default 30 */
		size_t n_upstreams; /* ours: upstreamServers for normal mode */
		char upstreams[EM_CFG_LIST_MAX][64];
		int cache_size;		  /* ours: cacheSize (entries), default 4096 */
		bool cache_dns;		  /* cacheDNS.enable */
		bool cache_autodetect;	  /* cacheDNS.autoDetect */
		size_t n_cache_upstreams; /* cacheDNS.upstreamServers */
		char cache_upstreams[EM_CFG_LIST_MAX][64];
		int cache_ttl; /* cacheDNS.cacheTTL, 30 */
	} dns;

	/* modules.edgeProxy */
	struct {
		bool enable;
		char listen_interface[16];
		enum em_filter_mode filter_mode;
		bool socks5_enable;	/* socks5Proxy.enable */
		int socks5_port;	/* socks5Proxy.listenPort, 10800 */
		int hash_partitions;	/* loadBalancer.consistentHash.partitionCount 100 */
		int hash_replicas;	/* ...replicationFactor 10 */
		double hash_load;	/* ...load 1.25 */
		char rules_backend[16]; /* ours: rulesBackend: auto|nftables|iptables */
		int udp_idle;		/* ours: udpIdleTimeout (s), 30; see udpflow.h */
	} proxy;

	/* modules.edgeTunnel */
	struct {
		bool enable;
		int listen_port;   /* 20006 */
		char transport[8]; /* tcp, ws (dial peers over WebSocket); quic: as tcp */
		char rendezvous[64];
		size_t n_relays;
		struct em_relay_node relays[EM_CFG_LIST_MAX];
		int max_candidates, heartbeat_period, finder_period;
		bool psk_enable;
		char psk_path[EM_PATH_MAX]; /* psk.path, /etc/edgemesh/psk */
		char listen_interfaces[256];
		char extra_filtered_interfaces[256];
		int ws_port; /* ours: wsPort, WebSocket listener; 0: 443 if transport ws, else none
			      */
		char ws_proxy[256]; /* ours: wsProxy, http://[user:pass@]host:port; "": $HTTPS_PROXY
				     */
		size_t n_allowed_ports; /* ours: allowedNodePorts, default [22] */
		int allowed_ports[EM_CFG_LIST_MAX];
		bool edgemesh_agents; /* ours: edgemeshAgents, serve EdgeMesh v1.17 agents on
				       * listenPort (issue 15; a migration aid, off) */
		struct {
			bool enable;	  /* metricConfig.enable: /metrics, /healthz, /readyz */
			int port;	  /* metricConfig.port, 9999 */
			char address[46]; /* ours: metricConfig.address, "" = the node's own */
		} metrics;
	} tunnel;

	/* modules.edgeGateway */
	struct {
		bool enable;
		char nic[256];
		char include_ip[256];
		char exclude_ip[256];
	} gateway;
};

/*
 * Fill defaults (NODE_NAME and the host name for nodeName, the EdgeMode /
 * CloudMode presets) and overlay the YAML file.  path NULL means defaults only.
 * On error returns -1 with a message "FILE:LINE:COL: key a.b.c: what is wrong"
 * in err.  Never exits.
 */
int config_load(struct em_config *, const char *path, char *err, size_t errlen);
void config_defaults(struct em_config *);
/* registry.serviceCIDR: an IPv4 range of at most /30 -> base (host order), prefix. */
int config_service_cidr(const char *, uint32_t *base, unsigned *prefix, char *why, size_t len);
/*
 * An HTTP proxy URL ("[http://][user:password@]host:port[/]", as HTTPS_PROXY
 * holds it) -> host, port and "user:password" ("" if none).  -1 with why.
 */
int config_http_proxy(const char *url, char *host, size_t hostlen, int *port, char *userinfo,
		      size_t ulen, char *why, size_t whylen);
/* Print the effective config as normalized "key: value" lines (golden tests). */
void config_dump(const struct em_config *, FILE *);

#endif
