/*
 * Kubernetes objects -> model structs (common/model.h).
 *
 * Both registry sources share one parser: the file registry turns YAML
 * manifests into jansson values (yaml_json.c), the Kubernetes API hands
 * us JSON; kobj_parse() then validates one object strictly and produces
 * the raw form the controller keeps per object.  Merging the raw forms
 * into the published topic objects (Service + DestinationRule, joined
 * EndpointSlices, Gateway + VirtualServices + Secrets) happens here too,
 * so that the Kubernetes and EdgeMesh semantics live in one place.
 *
 * Every parser accepts any json_t shape: a malformed object yields -1 and
 * a message naming the object and the field, never a crash.
 */
#ifndef EM_KOBJ_H
#define EM_KOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model.h"

/* yaml_json.c */
#define YAML_JSON_MAX_FILE  (16u * 1024 * 1024) /* bytes */
#define YAML_JSON_MAX_DEPTH 64			/* nested collections */
#define YAML_JSON_MAX_NODES (4u * 1024 * 1024)	/* incl. alias expansion */

struct yaml_doc {
	json_t *root; /* never JSON null: empty documents are skipped */
	int line;     /* 1-based line of the document's first node */
};

/*
 * Parse a multi-document YAML stream into one json_t per non-empty
 * document, typing plain scalars as sigs.k8s.io/yaml (yaml.v2, YAML 1.1)
 * does.  On error: -1, nothing returned, err holds "name:line:col: ...".
 * Aliased nodes are shared (reference counted): treat the trees as
 * read-only, or json_deep_copy() them first.
 */
int yaml_json_load_file(const char *path, struct yaml_doc **docs, size_t *ndocs, char *err,
			size_t errlen);
int yaml_json_load_buf(const char *buf, size_t len, const char *name, struct yaml_doc **docs,
		       size_t *ndocs, char *err, size_t errlen);
void yaml_json_docs_free(struct yaml_doc *docs, size_t ndocs);
/* The same on a piece of a file that starts after line_base lines of it
 * (lines in docs and errors are the file's). */
int yaml_json_load_buf_at(const char *buf, size_t len, const char *name, size_t line_base,
			  struct yaml_doc **docs, size_t *ndocs, char *err, size_t errlen);
/* A file's bytes (bounded by YAML_JSON_MAX_FILE), NUL-terminated; free() them. */
int yaml_json_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/* kobj.c */
enum kobj_kind {
	KOBJ_SERVICE = 0,
	KOBJ_ENDPOINTS,
	KOBJ_ENDPOINTSLICE,
	KOBJ_NODE,
	KOBJ_DESTINATIONRULE,
	KOBJ_GATEWAY,
	KOBJ_VIRTUALSERVICE,
	KOBJ_SECRET,
	KOBJ_NKINDS
};

#define KOBJ_MSGLEN 512
/* Why an object was rejected, or what was ignored in an accepted one. */
struct kobj_diag {
	char err[KOBJ_MSGLEN];	/* "Service default/foo: spec.ports[1].port: ..." */
	char warn[KOBJ_MSGLEN]; /* "" or "; "-separated warnings */
};

/* EndpointSlice: its endpoints, tagged with the Service they belong to. */
enum kobj_addr_type { KOBJ_ADDR_IPV4 = 0, KOBJ_ADDR_IPV6 = 1, KOBJ_ADDR_FQDN = 2 };
struct kobj_slice {
	char *ns, *name;	  /* the slice's own name */
	char *service;		  /* label kubernetes.io/service-name */
	uint8_t addr_type;	  /* FQDN slices carry no endpoints */
	struct em_endpoints *eps; /* ns, name = ns, service */
};

/* DestinationRule, bound by metadata.name == Service name, same namespace. */
struct kobj_dr {
	char *ns, *name;
	uint8_t lb;	     /* enum em_lb_policy */
	uint8_t hash;	     /* enum em_hash_key */
	char *hash_arg;	     /* header or cookie name, "" */
	uint32_t cookie_ttl; /* seconds */
};

/* Gateway: servers as in the model, TLS material still empty. */
struct kobj_gateway {
	char *ns, *name;
	size_t nservers;
	struct em_gw_server *servers;
};

/* VirtualService. */
enum kobj_uri { KOBJ_URI_NONE = 0, KOBJ_URI_PREFIX, KOBJ_URI_EXACT, KOBJ_URI_REGEX };
struct kobj_vs_match {
	uint8_t uri_kind; /* enum kobj_uri; NONE: no uri condition */
	char *uri;	  /* "" when NONE */
	uint16_t port;	  /* match port, 0 = any */
	bool other;	  /* also conditions we do not evaluate */
};
struct kobj_vs_route {
	size_t nmatch; /* 0: matches everything */
	struct kobj_vs_match *match;
	char *dest_host;    /* route[0].destination.host */
	uint16_t dest_port; /* route[0].destination.port.number, 0 = unset */
};
struct kobj_vs {
	char *ns, *name;
	size_t ngateways;
	char **gateways; /* "name" or "ns/name" */
	size_t nhosts;
	char **hosts;
	size_t nhttp;
	struct kobj_vs_route *http;
	size_t ntcp;
	struct kobj_vs_route *tcp;
};

/* Secret: only the TLS keys, base64-decoded, NUL-terminated; "" if absent. */
struct kobj_secret {
	char *ns, *name;
	char *type; /* "kubernetes.io/tls", "Opaque", "" */
	char *tls_crt;
	char *tls_key; /* wiped on free */
	char *ca_crt;
};

/* One parsed object, as the controller keeps it per (kind, ns, name). */
struct kobj {
	enum kobj_kind kind;
	char *ns; /* "" for Nodes */
	char *name;
	union {
		struct em_service *svc;
		struct em_endpoints *eps;
		struct kobj_slice *slice;
		struct em_peer *peer;
		struct kobj_dr *dr;
		struct kobj_gateway *gw;
		struct kobj_vs *vs;
		struct kobj_secret *secret;
		void *any;
	} u;
};

/* -1 for anything that is not one of the kinds above (never an error). */
int kobj_kind_of(const json_t *obj);
const char *kobj_kind_name(int kind);
/*
 * 0 and *out set: parsed.  0 and *out NULL: a well-formed object of a kind
 * we do not use (Deployment, ConfigMap...), skip it.  -1: malformed, see
 * diag->err.  diag->warn may be set in every case; diag may be NULL.
 */
int kobj_parse(const json_t *obj, struct kobj **out, struct kobj_diag *diag);
void kobj_free(struct kobj *);

/* Helpers shared by the kobj_*.c parsers. */
struct kobj_ctx {
	const char *kind; /* "Service" */
	char id[320];	  /* "default/foo", "<unnamed>" */
	struct kobj_diag *diag;
};
#define KOBJ_REQ      0x01 /* the field must be present (and not null) */
#define KOBJ_NONEMPTY 0x02 /* string: not "" */

void kobj_ctx_init(struct kobj_ctx *, const char *kind, struct kobj_diag *);
void kobj_err(struct kobj_ctx *, const char *path, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void kobj_warn(struct kobj_ctx *, const char *path, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void kobj_path(char *buf, size_t len, const char *base, const char *key);
void kobj_path_idx(char *buf, size_t len, const char *base, size_t idx);
const char *kobj_quote(const char *s, char *buf, size_t len);
const json_t *kobj_get(const json_t *obj, const char *key);
int kobj_obj(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	     const json_t **out);
int kobj_arr(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	     size_t max, const json_t **out);
int kobj_str(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	     size_t maxlen, const char **out);
int kobj_int(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	     json_int_t min, json_int_t max, json_int_t *out);
int kobj_port(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	      uint16_t *out);
int kobj_bool(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
	      bool *out);
int kobj_str_list(struct kobj_ctx *, const json_t *o, const char *base, const char *key, int flags,
		  size_t max, char ***out, size_t *n);
int kobj_meta(struct kobj_ctx *, const json_t *obj, bool namespaced, char **ns, char **name);
int kobj_label(struct kobj_ctx *, const json_t *obj, const char *key, const char **val);
int kobj_proto(struct kobj_ctx *, const json_t *o, const char *base, uint8_t *out);
bool kobj_is_ip(const char *s, int *family);
bool kobj_is_dns_label(const char *s, size_t max);
bool kobj_is_dns_subdomain(const char *s);
void kobj_strv_free(char **v, size_t n);
char **kobj_strv_copy(char *const *v, size_t n);

/* kobj_service.c */
int kobj_service_parse(const json_t *, struct em_service **, struct kobj_diag *);
/* A copy with the DestinationRule's policy applied (dr may be NULL). */
struct em_service *kobj_service_publish(const struct em_service *, const struct kobj_dr *);

/* kobj_endpoints.c */
int kobj_endpoints_parse(const json_t *, struct em_endpoints **, struct kobj_diag *);
int kobj_slice_parse(const json_t *, struct kobj_slice **, struct kobj_diag *);
void kobj_slice_free(struct kobj_slice *);
/*
 * All slices of Service ns/name joined into one object: endpoints
 * de-duplicated by address (a ready copy wins), ports united by
 * (name, protocol).  Slices of other services and FQDN slices are ignored.
 */
struct em_endpoints *kobj_slices_join(const char *ns, const char *name,
				      struct kobj_slice *const *slices, size_t nslices);

/* kobj_node.c */
int kobj_node_parse(const json_t *, struct em_peer **, struct kobj_diag *);
int kobj_secret_parse(const json_t *, struct kobj_secret **, struct kobj_diag *);
void kobj_secret_free(struct kobj_secret *);

/* kobj_istio.c */
int kobj_dr_parse(const json_t *, struct kobj_dr **, struct kobj_diag *);
void kobj_dr_free(struct kobj_dr *);
int kobj_gateway_parse(const json_t *, struct kobj_gateway **, struct kobj_diag *);
void kobj_gateway_free(struct kobj_gateway *);
int kobj_vs_parse(const json_t *, struct kobj_vs **, struct kobj_diag *);
void kobj_vs_free(struct kobj_vs *);
/* Does the VirtualService name this Gateway in spec.gateways? */
bool kobj_vs_binds(const struct kobj_vs *, const struct kobj_gateway *);
/*
 * The published gateway: servers with the TLS material of the Secret
 * <gateway ns>/<credentialName>, and the routes of every VirtualService
 * that names the Gateway and shares a host with one of its servers ("*"
 * fits all), sorted by ns/name: HTTP routes first (one per uri match; no
 * match = prefix "", matches on headers only are dropped), then TCP
 * routes.  vs and secrets may hold unrelated objects and NULLs.
 */
struct em_gateway *kobj_gateway_publish(const struct kobj_gateway *, struct kobj_vs *const *vs,
					size_t nvs, struct kobj_secret *const *secrets,
					size_t nsecrets);

/* The Node annotation holding its tunnel public key (kobj_node.c, kube_nodekey.c). */
#define KOBJ_TUNNEL_KEY "edgemesh-c.io/tunnel-key"

#endif
