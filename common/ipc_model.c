/* Codecs of the topic objects (services, endpoints, peers, gateways, self). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "mp.h"

#define NAME_MAX_LEN 253
#define IP_MAX_LEN   45
#define TEXT_MAX_LEN 1024
#define PEM_MAX_LEN  (64u << 10)
#define MAX_EPS	     100000
#define MAX_ROUTES   1024
#define MAX_SERVERS  64
#define MAX_HOSTS    64

/* A string element of a list: as strict as mp_strdup (length, no NUL inside). */
static int
list_str_ok(const msgpack_object *o, size_t maxlen)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= maxlen &&
	       (o->via.str.size == 0 || memchr(o->via.str.ptr, '\0', o->via.str.size) == NULL);
}

static char *
list_strdup(const msgpack_object *o)
{
	char *s = xcalloc(1, o->via.str.size + 1);

	if (o->via.str.size > 0)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	return s;
}

static void
pack_ports(msgpack_packer *pk, const struct em_port *ports, size_t n)
{
	size_t i;

	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_array(pk, 6);
		mp_pack_str(pk, ports[i].name);
		msgpack_pack_uint16(pk, ports[i].port);
		msgpack_pack_uint16(pk, ports[i].target_port);
		mp_pack_str(pk, ports[i].target_port_name);
		msgpack_pack_uint16(pk, ports[i].node_port);
		msgpack_pack_uint8(pk, ports[i].proto);
	}
}

static struct em_port *
unpack_ports(struct mp_rd *r, size_t *n)
{
	const msgpack_object *a;
	struct em_port *ports;
	struct mp_rd pr;
	uint32_t i;

	*n = 0;
	if ((a = mp_array(r, EM_MAX_PORTS)) == NULL)
		return NULL;
	ports = xcalloc(a->via.array.size, sizeof(*ports));
	for (i = 0; i < a->via.array.size; i++) {
		if (mp_nested(r, &pr, &a->via.array.ptr[i], 6, "port") == -1)
			break;
		ports[i].name = mp_strdup(&pr, NAME_MAX_LEN);
		ports[i].port = (uint16_t)mp_uint(&pr, UINT16_MAX);
		ports[i].target_port = (uint16_t)mp_uint(&pr, UINT16_MAX);
		ports[i].target_port_name = mp_strdup(&pr, NAME_MAX_LEN);
		ports[i].node_port = (uint16_t)mp_uint(&pr, UINT16_MAX);
		ports[i].proto = (uint8_t)mp_uint(&pr, EM_PROTO_SCTP);
		*n = i + 1;
		if (mp_end(&pr) == -1) {
			r->failed = 1;
			break;
		}
	}
	return ports;
}

static void
pack_service(msgpack_packer *pk, const struct em_service *s)
{
	size_t i;

	msgpack_pack_array(pk, 17);
	mp_pack_str(pk, s->ns);
	mp_pack_str(pk, s->name);
	msgpack_pack_uint8(pk, s->type);
	mp_pack_str(pk, s->cluster_ip);
	msgpack_pack_array(pk, s->n_cluster_ips);
	for (i = 0; i < s->n_cluster_ips; i++)
		mp_pack_str(pk, s->cluster_ips[i]);
	mp_pack_str(pk, s->external_name);
	msgpack_pack_uint8(pk, s->headless);
	msgpack_pack_uint8(pk, s->proxy_label);
	msgpack_pack_uint8(pk, s->publish_not_ready);
	msgpack_pack_uint8(pk, s->affinity_client_ip);
	msgpack_pack_uint32(pk, s->affinity_timeout);
	msgpack_pack_uint8(pk, s->lb);
	msgpack_pack_uint8(pk, s->hash);
	mp_pack_str(pk, s->hash_arg);
	msgpack_pack_uint32(pk, s->hash_cookie_ttl);
	pack_ports(pk, s->ports, s->nports);
	msgpack_pack_nil(pk); /* reserved */
}

static struct em_service *
unpack_service(const msgpack_object *o, char *err, size_t errlen)
{
	struct em_service *s = xcalloc(1, sizeof(*s));
	const msgpack_object *ips;
	struct mp_rd r;
	uint32_t i;

	if (mp_begin(&r, o, 17, "service", err, errlen) == -1)
		goto fail;
	s->ns = mp_strdup(&r, NAME_MAX_LEN);
	s->name = mp_strdup(&r, NAME_MAX_LEN);
	s->type = (uint8_t)mp_uint(&r, EM_SVC_EXTERNAL_NAME);
	s->cluster_ip = mp_strdup(&r, IP_MAX_LEN);
	if ((ips = mp_array(&r, EM_MAX_IPS)) != NULL) {
		for (i = 0; i < ips->via.array.size; i++) {
			if (!list_str_ok(&ips->via.array.ptr[i], IP_MAX_LEN)) {
				mp_fail(&r, "clusterIPs[%u]: expected an address", i);
				break;
			}
			s->cluster_ips[i] = list_strdup(&ips->via.array.ptr[i]);
			s->n_cluster_ips = i + 1;
		}
	}
	s->external_name = mp_strdup(&r, NAME_MAX_LEN);
	s->headless = mp_uint(&r, 1);
	s->proxy_label = mp_uint(&r, 1);
	s->publish_not_ready = mp_uint(&r, 1);
	s->affinity_client_ip = mp_uint(&r, 1);
	s->affinity_timeout = (uint32_t)mp_uint(&r, 86400);
	s->lb = (uint8_t)mp_uint(&r, EM_LB_CONSISTENT_HASH);
	s->hash = (uint8_t)mp_uint(&r, EM_HASH_COOKIE);
	s->hash_arg = mp_strdup(&r, NAME_MAX_LEN);
	s->hash_cookie_ttl = (uint32_t)mp_uint(&r, UINT32_MAX);
	s->ports = unpack_ports(&r, &s->nports);
	if (!r.failed) {
		if (r.arr->via.array.ptr[r.i].type != MSGPACK_OBJECT_NIL)
			mp_fail(&r, "reserved field must be nil");
		r.i++;
	}
	if (mp_end(&r) == -1)
		goto fail;
	return s;
fail:
	em_service_free(s);
	return NULL;
}

static void
pack_endpoints(msgpack_packer *pk, const struct em_endpoints *e)
{
	const struct em_endpoint *ep;
	size_t i;

	msgpack_pack_array(pk, 4);
	mp_pack_str(pk, e->ns);
	mp_pack_str(pk, e->name);
	pack_ports(pk, e->ports, e->nports);
	msgpack_pack_array(pk, e->neps);
	for (i = 0; i < e->neps; i++) {
		ep = &e->eps[i];
		msgpack_pack_array(pk, 6);
		mp_pack_str(pk, ep->ip);
		mp_pack_str(pk, ep->node);
		mp_pack_str(pk, ep->hostname);
		mp_pack_str(pk, ep->zone);
		mp_pack_str(pk, ep->pod);
		msgpack_pack_uint8(pk, ep->ready);
	}
}

static struct em_endpoints *
unpack_endpoints(const msgpack_object *o, char *err, size_t errlen)
{
	struct em_endpoints *e = xcalloc(1, sizeof(*e));
	const msgpack_object *a;
	struct em_endpoint *ep;
	struct mp_rd r, er;
	uint32_t i;

	if (mp_begin(&r, o, 4, "endpoints", err, errlen) == -1)
		goto fail;
	e->ns = mp_strdup(&r, NAME_MAX_LEN);
	e->name = mp_strdup(&r, NAME_MAX_LEN);
	e->ports = unpack_ports(&r, &e->nports);
	if ((a = mp_array(&r, MAX_EPS)) != NULL) {
		e->eps = xcalloc(a->via.array.size, sizeof(*e->eps));
		for (i = 0; i < a->via.array.size; i++) {
			if (mp_nested(&r, &er, &a->via.array.ptr[i], 6, "endpoint") == -1)
				break;
			ep = &e->eps[i];
			e->neps = i + 1;
			ep->ip = mp_strdup(&er, IP_MAX_LEN);
			ep->node = mp_strdup(&er, NAME_MAX_LEN);
			ep->hostname = mp_strdup(&er, NAME_MAX_LEN);
			ep->zone = mp_strdup(&er, NAME_MAX_LEN);
			ep->pod = mp_strdup(&er, NAME_MAX_LEN);
			ep->ready = mp_uint(&er, 1);
			if (mp_end(&er) == -1) {
				r.failed = 1;
				break;
			}
		}
	}
	if (mp_end(&r) == -1)
		goto fail;
	return e;
fail:
	em_endpoints_free(e);
	return NULL;
}

static void
pack_peer(msgpack_packer *pk, const struct em_peer *p)
{
	size_t i;

	msgpack_pack_array(pk, 4);
	mp_pack_str(pk, p->name);
	msgpack_pack_array(pk, p->naddrs);
	for (i = 0; i < p->naddrs; i++)
		mp_pack_str(pk, p->addrs[i]);
	msgpack_pack_uint8(pk, p->relay);
	mp_pack_str(pk, p->pubkey);
}

static struct em_peer *
unpack_peer(const msgpack_object *o, char *err, size_t errlen)
{
	struct em_peer *p = xcalloc(1, sizeof(*p));
	const msgpack_object *a, *s;
	struct mp_rd r;
	uint32_t i;

	if (mp_begin(&r, o, 4, "peer", err, errlen) == -1)
		goto fail;
	p->name = mp_strdup(&r, NAME_MAX_LEN);
	if ((a = mp_array(&r, EM_MAX_ADDRS)) != NULL) {
		for (i = 0; i < a->via.array.size; i++) {
			s = &a->via.array.ptr[i];
			if (!list_str_ok(s, IP_MAX_LEN)) {
				mp_fail(&r, "addresses[%u]: expected an address", i);
				break;
			}
			p->addrs[i] = list_strdup(s);
			p->naddrs = i + 1;
		}
	}
	p->relay = mp_uint(&r, 1);
	p->pubkey = mp_strdup(&r, 64);
	if (mp_end(&r) == -1)
		goto fail;
	return p;
fail:
	em_peer_free(p);
	return NULL;
}

static void
pack_gateway(msgpack_packer *pk, const struct em_gateway *g)
{
	const struct em_gw_server *sv;
	const struct em_gw_route *rt;
	size_t i, j;

	msgpack_pack_array(pk, 4);
	mp_pack_str(pk, g->ns);
	mp_pack_str(pk, g->name);
	msgpack_pack_array(pk, g->nservers);
	for (i = 0; i < g->nservers; i++) {
		sv = &g->servers[i];
		msgpack_pack_array(pk, 8);
		msgpack_pack_uint16(pk, sv->port);
		mp_pack_str(pk, sv->protocol);
		msgpack_pack_array(pk, sv->nhosts);
		for (j = 0; j < sv->nhosts; j++)
			mp_pack_str(pk, sv->hosts[j]);
		mp_pack_str(pk, sv->tls_mode);
		mp_pack_str(pk, sv->credential);
		mp_pack_str(pk, sv->cert_pem);
		mp_pack_str(pk, sv->key_pem);
		mp_pack_str(pk, sv->ca_pem);
	}
	msgpack_pack_array(pk, g->nroutes);
	for (i = 0; i < g->nroutes; i++) {
		rt = &g->routes[i];
		msgpack_pack_array(pk, 9);
		msgpack_pack_uint8(pk, rt->kind);
		msgpack_pack_array(pk, rt->nhosts);
		for (j = 0; j < rt->nhosts; j++)
			mp_pack_str(pk, rt->hosts[j]);
		msgpack_pack_uint16(pk, rt->port);
		mp_pack_str(pk, rt->prefix);
		mp_pack_str(pk, rt->exact);
		mp_pack_str(pk, rt->regex);
		mp_pack_str(pk, rt->dest_host);
		mp_pack_str(pk, rt->dest_ns);
		msgpack_pack_uint16(pk, rt->dest_port);
	}
}

static struct em_gateway *
unpack_gateway(const msgpack_object *o, char *err, size_t errlen)
{
	struct em_gateway *g = xcalloc(1, sizeof(*g));
	const msgpack_object *a, *h;
	struct em_gw_server *sv;
	struct em_gw_route *rt;
	struct mp_rd r, sr;
	uint32_t i, j;

	if (mp_begin(&r, o, 4, "gateway", err, errlen) == -1)
		goto fail;
	g->ns = mp_strdup(&r, NAME_MAX_LEN);
	g->name = mp_strdup(&r, NAME_MAX_LEN);
	if ((a = mp_array(&r, MAX_SERVERS)) != NULL) {
		g->servers = xcalloc(a->via.array.size, sizeof(*g->servers));
		for (i = 0; i < a->via.array.size && !r.failed; i++) {
			if (mp_nested(&r, &sr, &a->via.array.ptr[i], 8, "gateway server") == -1)
				break;
			sv = &g->servers[i];
			g->nservers = i + 1;
			sv->port = (uint16_t)mp_uint(&sr, UINT16_MAX);
			sv->protocol = mp_strdup(&sr, 16);
			if ((h = mp_array(&sr, MAX_HOSTS)) != NULL) {
				sv->hosts = xcalloc(h->via.array.size, sizeof(char *));
				for (j = 0; j < h->via.array.size; j++) {
					if (!list_str_ok(&h->via.array.ptr[j], NAME_MAX_LEN)) {
						mp_fail(&sr, "hosts[%u]: expected a host", j);
						break;
					}
					sv->hosts[j] = list_strdup(&h->via.array.ptr[j]);
					sv->nhosts = j + 1;
				}
			}
			sv->tls_mode = mp_strdup(&sr, 16);
			sv->credential = mp_strdup(&sr, NAME_MAX_LEN);
			sv->cert_pem = mp_strdup(&sr, PEM_MAX_LEN);
			sv->key_pem = mp_strdup(&sr, PEM_MAX_LEN);
			sv->ca_pem = mp_strdup(&sr, PEM_MAX_LEN);
			if (mp_end(&sr) == -1)
				r.failed = 1;
		}
	}
	if ((a = mp_array(&r, MAX_ROUTES)) != NULL) {
		g->routes = xcalloc(a->via.array.size, sizeof(*g->routes));
		for (i = 0; i < a->via.array.size && !r.failed; i++) {
			if (mp_nested(&r, &sr, &a->via.array.ptr[i], 9, "gateway route") == -1)
				break;
			rt = &g->routes[i];
			g->nroutes = i + 1;
			rt->kind = (uint8_t)mp_uint(&sr, EM_GW_TCP);
			if ((h = mp_array(&sr, MAX_HOSTS)) != NULL) {
				rt->hosts = xcalloc(h->via.array.size, sizeof(char *));
				for (j = 0; j < h->via.array.size; j++) {
					if (!list_str_ok(&h->via.array.ptr[j], NAME_MAX_LEN)) {
						mp_fail(&sr, "hosts[%u]: expected a host", j);
						break;
					}
					rt->hosts[j] = list_strdup(&h->via.array.ptr[j]);
					rt->nhosts = j + 1;
				}
			}
			rt->port = (uint16_t)mp_uint(&sr, UINT16_MAX);
			rt->prefix = mp_strdup(&sr, TEXT_MAX_LEN);
			rt->exact = mp_strdup(&sr, TEXT_MAX_LEN);
			rt->regex = mp_strdup(&sr, TEXT_MAX_LEN);
			rt->dest_host = mp_strdup(&sr, NAME_MAX_LEN);
			rt->dest_ns = mp_strdup(&sr, NAME_MAX_LEN);
			rt->dest_port = (uint16_t)mp_uint(&sr, UINT16_MAX);
			if (mp_end(&sr) == -1)
				r.failed = 1;
		}
	}
	if (mp_end(&r) == -1)
		goto fail;
	return g;
fail:
	em_gateway_free(g);
	return NULL;
}

static void
pack_self(msgpack_packer *pk, const struct em_self *s)
{
	msgpack_pack_array(pk, 3);
	mp_pack_str(pk, s->node);
	mp_pack_str(pk, s->domain);
	msgpack_pack_uint64(pk, s->registry_version);
}

static struct em_self *
unpack_self(const msgpack_object *o, char *err, size_t errlen)
{
	struct em_self *s = xcalloc(1, sizeof(*s));
	struct mp_rd r;

	if (mp_begin(&r, o, 3, "self", err, errlen) == -1)
		goto fail;
	s->node = mp_strdup(&r, NAME_MAX_LEN);
	s->domain = mp_strdup(&r, NAME_MAX_LEN);
	s->registry_version = mp_uint(&r, UINT64_MAX);
	if (mp_end(&r) == -1)
		goto fail;
	return s;
fail:
	em_self_free(s);
	return NULL;
}

void
ipc_pack_object(msgpack_packer *pk, const struct em_object *o)
{
	switch (o->topic) {
	case EM_TOPIC_SERVICES:
		pack_service(pk, o->u.svc);
		break;
	case EM_TOPIC_ENDPOINTS:
		pack_endpoints(pk, o->u.eps);
		break;
	case EM_TOPIC_PEERS:
		pack_peer(pk, o->u.peer);
		break;
	case EM_TOPIC_GATEWAYS:
		pack_gateway(pk, o->u.gw);
		break;
	case EM_TOPIC_SELF:
		pack_self(pk, o->u.self);
		break;
	default:
		msgpack_pack_nil(pk);
		break;
	}
}

int
ipc_unpack_object(const msgpack_object *obj, enum em_topic t, struct em_object *o, char *err,
		  size_t errlen)
{
	o->topic = t;
	switch (t) {
	case EM_TOPIC_SERVICES:
		o->u.svc = unpack_service(obj, err, errlen);
		break;
	case EM_TOPIC_ENDPOINTS:
		o->u.eps = unpack_endpoints(obj, err, errlen);
		break;
	case EM_TOPIC_PEERS:
		o->u.peer = unpack_peer(obj, err, errlen);
		break;
	case EM_TOPIC_GATEWAYS:
		o->u.gw = unpack_gateway(obj, err, errlen);
		break;
	case EM_TOPIC_SELF:
		o->u.self = unpack_self(obj, err, errlen);
		break;
	default:
		snprintf(err, errlen, "unknown topic %d", t);
		o->u.any = NULL;
		break;
	}
	return o->u.any == NULL ? -1 : 0;
}
