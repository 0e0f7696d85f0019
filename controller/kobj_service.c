/*
 * Service (core/v1) -> struct em_service, and the published form with the
 * DestinationRule of the same namespace and name applied (EdgeMesh binds
 * a DR to a Service by name; spec.host is ignored).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "kobj.h"

#define SVC_LABEL_PROXY_NAME "service.edgemesh.kubeedge.io/service-proxy-name"
#define SVC_AFFINITY_DEFAULT 10800

/* IANA_SVC_NAME: the form of a named targetPort. */
static bool
svc_port_name_ok(const char *s)
{
	size_t i, len = strlen(s);
	bool letter = false;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (s[i] == '-' && s[i + 1] == '-')
			return false;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static int
svc_parse_port(struct kobj_ctx *c, const json_t *p, const char *path, struct em_port *port)
{
	char tpath[300], got[96], q[96];
	const json_t *tp;
	const char *s;
	json_int_t v;

	if (!json_is_object(p)) {
		kobj_err(c, path, "expected a mapping, got %s",
			 json_is_array(p) ? "a list" : "a scalar");
		return -1;
	}
	if (kobj_str(c, p, path, "name", 0, 63, &s) == -1)
		return -1;
	if (*s != '\0' && !kobj_is_dns_label(s, 63)) {
		kobj_path(tpath, sizeof(tpath), path, "name");
		kobj_err(c, tpath,
			 "\"%s\" is not a valid port name (lowercase letters, digits "
			 "and '-')",
			 kobj_quote(s, q, sizeof(q)));
		return -1;
	}
	port->name = xstrdup(s);
	if (kobj_port(c, p, path, "port", KOBJ_REQ, &port->port) == -1)
		return -1;
	if (kobj_proto(c, p, path, &port->proto) == -1)
		return -1;
	v = 0;
	if (kobj_int(c, p, path, "nodePort", 0, 0, 65535, &v) == -1)
		return -1;
	port->node_port = (uint16_t)v;

	/* targetPort: int or IANA_SVC_NAME; unset, 0 and "" default to port. */
	kobj_path(tpath, sizeof(tpath), path, "targetPort");
	tp = kobj_get(p, "targetPort");
	if (tp == NULL || (json_is_integer(tp) && json_integer_value(tp) == 0) ||
	    (json_is_string(tp) && json_string_length(tp) == 0)) {
		port->target_port = port->port;
		port->target_port_name = xstrdup("");
	} else if (json_is_integer(tp)) {
		if (json_integer_value(tp) < 1 || json_integer_value(tp) > 65535) {
			kobj_err(
			    c, tpath,
			    "expected an integer 1-65535 or a port name, got %" JSON_INTEGER_FORMAT,
			    json_integer_value(tp));
			return -1;
		}
		port->target_port = (uint16_t)json_integer_value(tp);
		port->target_port_name = xstrdup("");
	} else if (json_is_string(tp)) {
		s = json_string_value(tp);
		if (strlen(s) != json_string_length(tp) || !svc_port_name_ok(s)) {
			kobj_err(c, tpath,
				 "\"%s\" is not a valid port name (at most 15 lowercase "
				 "letters, digits and '-', with at least one letter; write a "
				 "number without quotes)",
				 kobj_quote(s, q, sizeof(q)));
			return -1;
		}
		port->target_port = 0;
		port->target_port_name = xstrdup(s);
	} else {
		snprintf(got, sizeof(got), "%s",
			 json_is_boolean(tp) ? "a boolean"
			 : json_is_real(tp)  ? "a number"
			 : json_is_array(tp) ? "a list"
					     : "a mapping");
		kobj_err(c, tpath, "expected an integer 1-65535 or a port name, got %s", got);
		return -1;
	}
	return 0;
}

static int
svc_parse_ports(struct kobj_ctx *c, const json_t *spec, struct em_service *s)
{
	char path[64], q[96];
	const json_t *ports;
	size_t i, j, n;

	if (kobj_arr(c, spec, "spec", "ports", 0, EM_MAX_PORTS, &ports) == -1)
		return -1;
	if (ports == NULL)
		return 0;
	n = json_array_size(ports);
	s->ports = xcalloc(n, sizeof(*s->ports));
	for (i = 0; i < n; i++) {
		kobj_path_idx(path, sizeof(path), "spec.ports", i);
		s->nports = i + 1;
		if (svc_parse_port(c, json_array_get(ports, i), path, &s->ports[i]) == -1)
			return -1;
		if (n > 1 && s->ports[i].name[0] == '\0') {
			kobj_err(c, path, "name is required when a Service has more than one port");
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (s->ports[j].port == s->ports[i].port &&
			    s->ports[j].proto == s->ports[i].proto) {
				kobj_err(c, path, "duplicate port %u/%s", s->ports[i].port,
					 em_proto_name(s->ports[i].proto));
				return -1;
			}
			if (s->ports[i].name[0] != '\0' &&
			    strcmp(s->ports[j].name, s->ports[i].name) == 0) {
				kobj_err(c, path, "duplicate port name \"%s\"",
					 kobj_quote(s->ports[i].name, q, sizeof(q)));
				return -1;
			}
		}
	}
	return 0;
}

static int
svc_parse_ips(struct kobj_ctx *c, const json_t *spec, struct em_service *s)
{
	char path[64], q[96];
	const char *ip;
	char **ips;
	size_t i, n;

	if (kobj_str(c, spec, "spec", "clusterIP", 0, 64, &ip) == -1)
		return -1;
	if (*ip != '\0' && strcmp(ip, "None") != 0 && !kobj_is_ip(ip, NULL)) {
		kobj_err(c, "spec.clusterIP", "\"%s\" is not an IP address or \"None\"",
			 kobj_quote(ip, q, sizeof(q)));
		return -1;
	}
	s->cluster_ip = xstrdup(ip);
	if (kobj_str_list(c, spec, "spec", "clusterIPs", 0, EM_MAX_IPS, &ips, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		kobj_path_idx(path, sizeof(path), "spec.clusterIPs", i);
		if (strcmp(ips[i], "None") == 0 && n == 1)
			continue;
		if (!kobj_is_ip(ips[i], NULL)) {
			kobj_err(c, path, "\"%s\" is not an IP address",
				 kobj_quote(ips[i], q, sizeof(q)));
			kobj_strv_free(ips, n);
			return -1;
		}
	}
	if (n > 0 && *ip != '\0' && strcmp(ips[0], ip) != 0) {
		kobj_err(c, "spec.clusterIPs[0]", "must equal spec.clusterIP (\"%s\")",
			 kobj_quote(ip, q, sizeof(q)));
		kobj_strv_free(ips, n);
		return -1;
	}
	if (n > 0 && *ip == '\0') {
		free(s->cluster_ip);
		s->cluster_ip = xstrdup(ips[0]);
	}
	/* cluster_ips holds addresses only: "None" stays out. */
	if (n > 0) {
		for (i = 0; i < n; i++)
			if (strcmp(ips[i], "None") != 0)
				s->cluster_ips[s->n_cluster_ips++] = xstrdup(ips[i]);
	} else if (*ip != '\0' && strcmp(ip, "None") != 0) {
		s->cluster_ips[s->n_cluster_ips++] = xstrdup(ip);
	}
	kobj_strv_free(ips, n);
	s->headless = strcmp(s->cluster_ip, "None") == 0;
	return 0;
}

int
kobj_service_parse(const json_t *obj, struct em_service **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct em_service *s;
	const json_t *spec, *cfg, *cip;
	const char *str, *label;
	char q[96];
	json_int_t v;

	*out = NULL;
	kobj_ctx_init(&c, "Service", diag);
	s = xcalloc(1, sizeof(*s));
	s->affinity_timeout = SVC_AFFINITY_DEFAULT;
	s->lb = EM_LB_ROUND_ROBIN;
	s->hash = EM_HASH_NONE;
	s->hash_arg = xstrdup("");
	s->external_name = xstrdup("");
	if (kobj_meta(&c, obj, true, &s->ns, &s->name) == -1)
		goto fail;
	if (kobj_obj(&c, obj, "", "spec", KOBJ_REQ, &spec) == -1)
		goto fail;

	if (kobj_str(&c, spec, "spec", "type", 0, 32, &str) == -1)
		goto fail;
	if (*str == '\0' || strcmp(str, "ClusterIP") == 0)
		s->type = EM_SVC_CLUSTER_IP;
	else if (strcmp(str, "NodePort") == 0)
		s->type = EM_SVC_NODE_PORT;
	else if (strcmp(str, "LoadBalancer") == 0)
		s->type = EM_SVC_LOAD_BALANCER;
	else if (strcmp(str, "ExternalName") == 0)
		s->type = EM_SVC_EXTERNAL_NAME;
	else {
		kobj_err(&c, "spec.type",
			 "expected ClusterIP, NodePort, LoadBalancer or "
			 "ExternalName, got \"%s\"",
			 kobj_quote(str, q, sizeof(q)));
		goto fail;
	}

	if (svc_parse_ips(&c, spec, s) == -1)
		goto fail;
	if (kobj_str(&c, spec, "spec", "externalName", 0, 253, &str) == -1)
		goto fail;
	if (s->type == EM_SVC_EXTERNAL_NAME) {
		if (*str == '\0') {
			kobj_err(&c, "spec.externalName", "required for type ExternalName");
			goto fail;
		}
		free(s->external_name);
		s->external_name = xstrdup(str);
	}
	/* no clusterIP: the file registry gives one (ctl_alloc.c), the API server always does */
	if (svc_parse_ports(&c, spec, s) == -1)
		goto fail;

	if (kobj_str(&c, spec, "spec", "sessionAffinity", 0, 32, &str) == -1)
		goto fail;
	if (strcmp(str, "ClientIP") == 0)
		s->affinity_client_ip = true;
	else if (*str != '\0' && strcmp(str, "None") != 0) {
		kobj_err(&c, "spec.sessionAffinity", "expected None or ClientIP, got \"%s\"",
			 kobj_quote(str, q, sizeof(q)));
		goto fail;
	}
	if (kobj_obj(&c, spec, "spec", "sessionAffinityConfig", 0, &cfg) == -1)
		goto fail;
	if (kobj_obj(&c, cfg, "spec.sessionAffinityConfig", "clientIP", 0, &cip) == -1)
		goto fail;
	v = SVC_AFFINITY_DEFAULT;
	if (kobj_int(&c, cip, "spec.sessionAffinityConfig.clientIP", "timeoutSeconds", 0, 1, 86400,
		     &v) == -1)
		goto fail;
	s->affinity_timeout = (uint32_t)v;

	if (kobj_bool(&c, spec, "spec", "publishNotReadyAddresses", 0, &s->publish_not_ready) == -1)
		goto fail;
	if (kobj_label(&c, obj, SVC_LABEL_PROXY_NAME, &label) == -1)
		goto fail;
	s->proxy_label = label != NULL;

	*out = s;
	return 0;
fail:
	em_service_free(s);
	return -1;
}

struct em_service *
kobj_service_publish(const struct em_service *s, const struct kobj_dr *dr)
{
	struct em_service *c;

	c = em_service_dup(s);
	c->lb = EM_LB_ROUND_ROBIN;
	c->hash = EM_HASH_NONE;
	c->hash_cookie_ttl = 0;
	free(c->hash_arg);
	c->hash_arg = xstrdup("");
	if (dr == NULL)
		return c;
	if (strcmp(dr->ns, s->ns) != 0 || strcmp(dr->name, s->name) != 0) {
		log_debug("%s: DestinationRule %s/%s does not belong to Service %s/%s", __func__,
			  dr->ns, dr->name, s->ns, s->name);
		return c;
	}
	c->lb = dr->lb;
	c->hash = dr->hash;
	c->hash_cookie_ttl = dr->cookie_ttl;
	free(c->hash_arg);
	c->hash_arg = xstrdup(dr->hash_arg);
	return c;
}
