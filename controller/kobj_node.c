/*
 * Node -> struct em_peer (where the tunnel finds peers, in both registry
 * sources) and Secret -> struct kobj_secret (TLS material for gatewayd).
 *
 * Peer addresses: every InternalIP, then every ExternalIP, then addresses
 * of the other types (Hostname, InternalDNS, ExternalDNS) that are IP
 * literals; duplicates dropped, at most EM_MAX_ADDRS.
 *
 * The node's tunnel key: metadata.annotations["edgemesh-c.io/tunnel-key"],
 * base64 of 32 bytes (what `edgemeshctl peers` and the controller print);
 * tunneld refuses a session from the node with another key.  A malformed key
 * drops the Node (an error naming it), never pins nothing in silence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kobj.h"

#define NODE_MAX_ADDR_ENTRIES 64
#define SECRET_MAX_VALUE      (1024 * 1024) /* the API's limit for a whole Secret */

enum { NODE_PASS_INTERNAL, NODE_PASS_EXTERNAL, NODE_PASS_OTHER };

static void
peer_add(struct kobj_ctx *c, struct em_peer *p, const char *ip, bool *full)
{
	size_t i;

	for (i = 0; i < p->naddrs; i++)
		if (strcmp(p->addrs[i], ip) == 0)
			return;
	if (p->naddrs >= EM_MAX_ADDRS) {
		if (!*full)
			kobj_warn(c, "status.addresses",
				  "more than %d addresses; ignoring the "
				  "rest",
				  EM_MAX_ADDRS);
		*full = true;
		return;
	}
	p->addrs[p->naddrs++] = xstrdup(ip);
}

/* metadata.annotations[KOBJ_TUNNEL_KEY]: "" when absent. */
static int
node_tunnel_key(struct kobj_ctx *c, const json_t *obj, char **out)
{
	const json_t *ann;
	const char *s, *end;
	unsigned char bin[32];
	size_t len;
	char path[96], q[96];

	*out = NULL;
	if (kobj_obj(c, kobj_get(obj, "metadata"), "metadata", "annotations", 0, &ann) == -1)
		return -1;
	snprintf(path, sizeof(path), "metadata.annotations");
	if (ann == NULL || kobj_get(ann, KOBJ_TUNNEL_KEY) == NULL) {
		*out = xstrdup("");
		return 0;
	}
	if (kobj_str(c, ann, path, KOBJ_TUNNEL_KEY, 0, 128, &s) == -1)
		return -1;
	if (sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL, &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + strlen(s) || len != sizeof(bin)) {
		snprintf(path, sizeof(path), "metadata.annotations[\"%s\"]", KOBJ_TUNNEL_KEY);
		kobj_err(c, path, "\"%s\" is not a tunnel key (base64 of 32 bytes)",
			 kobj_quote(s, q, sizeof(q)));
		return -1;
	}
	*out = xstrdup(s);
	return 0;
}

int
kobj_node_parse(const json_t *obj, struct em_peer **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct em_peer *p;
	const json_t *status, *addrs, *a;
	const char *type, *addr;
	char path[64], apath[80], q[96];
	char *ns = NULL;
	bool full = false, internal, external;
	size_t i;
	int pass;

	*out = NULL;
	kobj_ctx_init(&c, "Node", diag);
	p = xcalloc(1, sizeof(*p));
	if (kobj_meta(&c, obj, false, &ns, &p->name) == -1 ||
	    node_tunnel_key(&c, obj, &p->pubkey) == -1)
		goto fail;
	free(ns);
	ns = NULL;
	if (kobj_obj(&c, obj, "", "status", 0, &status) == -1)
		goto fail;
	if (kobj_arr(&c, status, "status", "addresses", 0, NODE_MAX_ADDR_ENTRIES, &addrs) == -1)
		goto fail;
	/* Check every entry first, so that the passes below cannot fail. */
	for (i = 0; addrs != NULL && i < json_array_size(addrs); i++) {
		a = json_array_get(addrs, i);
		kobj_path_idx(path, sizeof(path), "status.addresses", i);
		if (!json_is_object(a)) {
			kobj_err(&c, path, "expected a mapping");
			goto fail;
		}
		if (kobj_str(&c, a, path, "type", KOBJ_REQ | KOBJ_NONEMPTY, 32, &type) == -1 ||
		    kobj_str(&c, a, path, "address", KOBJ_REQ | KOBJ_NONEMPTY, 253, &addr) == -1)
			goto fail;
		if ((strcmp(type, "InternalIP") == 0 || strcmp(type, "ExternalIP") == 0) &&
		    !kobj_is_ip(addr, NULL)) {
			kobj_path(apath, sizeof(apath), path, "address");
			kobj_err(&c, apath, "%s \"%s\" is not an IP address", type,
				 kobj_quote(addr, q, sizeof(q)));
			goto fail;
		}
	}
	for (pass = NODE_PASS_INTERNAL; pass <= NODE_PASS_OTHER; pass++) {
		for (i = 0; addrs != NULL && i < json_array_size(addrs); i++) {
			a = json_array_get(addrs, i);
			type = json_string_value(json_object_get(a, "type"));
			addr = json_string_value(json_object_get(a, "address"));
			internal = strcmp(type, "InternalIP") == 0;
			external = strcmp(type, "ExternalIP") == 0;
			if ((pass == NODE_PASS_INTERNAL && internal) ||
			    (pass == NODE_PASS_EXTERNAL && external) ||
			    (pass == NODE_PASS_OTHER && !internal && !external &&
			     kobj_is_ip(addr, NULL)))
				peer_add(&c, p, addr, &full);
		}
	}
	*out = p;
	return 0;
fail:
	free(ns);
	em_peer_free(p);
	return -1;
}

/* data[key] (base64) or stringData[key] (text); "" when neither has it. */
static int
secret_value(struct kobj_ctx *c, const json_t *data, const json_t *sdata, const char *key,
	     char **out)
{
	char path[64];
	const char *s, *end;
	unsigned char *bin;
	size_t len, maxlen, binlen;

	*out = NULL;
	if (kobj_get(sdata, key) != NULL) {
		if (kobj_str(c, sdata, "stringData", key, 0, SECRET_MAX_VALUE, &s) == -1)
			return -1;
		*out = xstrdup(s);
		return 0;
	}
	if (kobj_str(c, data, "data", key, 0, SECRET_MAX_VALUE, &s) == -1)
		return -1;
	len = strlen(s);
	maxlen = len / 4 * 3 + 3;
	bin = xcalloc(1, maxlen + 1);
	snprintf(path, sizeof(path), "data.%s", key);
	if (sodium_base642bin(bin, maxlen, s, len, "\r\n", &binlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + len) {
		kobj_err(c, path, "not valid base64");
		goto fail;
	}
	if (memchr(bin, '\0', binlen) != NULL) {
		kobj_err(c, path, "contains a NUL byte; expected PEM text");
		goto fail;
	}
	bin[binlen] = '\0';
	*out = (char *)bin;
	return 0;
fail:
	sodium_memzero(bin, maxlen + 1);
	free(bin);
	return -1;
}

int
kobj_secret_parse(const json_t *obj, struct kobj_secret **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct kobj_secret *s;
	const json_t *data, *sdata;
	const char *type;

	*out = NULL;
	kobj_ctx_init(&c, "Secret", diag);
	s = xcalloc(1, sizeof(*s));
	if (kobj_meta(&c, obj, true, &s->ns, &s->name) == -1)
		goto fail;
	if (kobj_str(&c, obj, "", "type", 0, 253, &type) == -1)
		goto fail;
	s->type = xstrdup(type);
	if (kobj_obj(&c, obj, "", "data", 0, &data) == -1 ||
	    kobj_obj(&c, obj, "", "stringData", 0, &sdata) == -1)
		goto fail;
	if (secret_value(&c, data, sdata, "tls.crt", &s->tls_crt) == -1 ||
	    secret_value(&c, data, sdata, "tls.key", &s->tls_key) == -1 ||
	    secret_value(&c, data, sdata, "ca.crt", &s->ca_crt) == -1)
		goto fail;
	*out = s;
	return 0;
fail:
	kobj_secret_free(s);
	return -1;
}

void
kobj_secret_free(struct kobj_secret *s)
{
	if (s == NULL)
		return;
	free(s->ns);
	free(s->name);
	free(s->type);
	free(s->tls_crt);
	if (s->tls_key != NULL) {
		sodium_memzero(s->tls_key, strlen(s->tls_key));
		free(s->tls_key);
	}
	free(s->ca_crt);
	free(s);
}
