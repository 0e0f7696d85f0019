/*
 * The service table: one pd_vip per proxied ClusterIP:port/proto, with
 * the ready endpoints of that port and its load balancer, rebuilt from the
 * replica whenever the service or its endpoints change.  Which services
 * are proxied follows EdgeMesh (edgemesh-features §3.1): the filter label
 * and serviceFilterMode, no headless, no ExternalName, no service without
 * a ClusterIP; IPv4, TCP and UDP only.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxyd.h"

struct pd_svcrec {
	size_t n;
	char **keys;
};

void
proxy_svc_init(struct proxyd *p)
{
	p->vips = hmap_new();
	p->svcs = hmap_new();
}

static int
svc_proxied(const struct proxyd *p, const struct em_service *s)
{
	struct in_addr a;

	if (s->type == EM_SVC_EXTERNAL_NAME || s->headless || s->cluster_ip == NULL ||
	    s->cluster_ip[0] == '\0' || strcmp(s->cluster_ip, "None") == 0)
		return 0;
	if (p->d->cfg.proxy.filter_mode == EM_FILTER_IF_LABEL_EXISTS && s->proxy_label)
		return 0;
	if (p->d->cfg.proxy.filter_mode == EM_FILTER_IF_LABEL_DOES_NOT_EXIST && !s->proxy_label)
		return 0;
	if (inet_pton(AF_INET, s->cluster_ip, &a) != 1) {
		log_warnx_once(s->cluster_ip,
			       "service %s/%s: ClusterIP %s is not IPv4: not proxied", s->ns,
			       s->name, s->cluster_ip);
		return 0;
	}
	return 1;
}

/* The endpoint port that serves service port sp, 0 if none. */
static uint16_t
svc_ep_port(const struct em_port *sp, const struct em_endpoints *e)
{
	size_t i;

	for (i = 0; i < e->nports; i++)
		if (e->ports[i].proto == sp->proto && strcmp(e->ports[i].name, sp->name) == 0)
			return e->ports[i].port;
	if (e->nports == 1 && e->ports[0].proto == sp->proto)
		return e->ports[0].port;
	return sp->target_port;
}

static void
vip_conf(struct proxyd *p, const struct em_service *s, struct lb_conf *c)
{
	if (lb_conf_service(c, s, &p->d->cfg))
		log_warnx_once(s->name,
			       "service %s/%s: LoadBalancer policy conflicted with "
			       "sessionAffinity: ClientIP; using round robin with affinity",
			       s->ns, s->name);
}

static void
vip_set_eps(struct proxyd *p, struct pd_vip *v, const struct em_service *s,
	    const struct em_port *sp, const struct em_endpoints *e)
{
	struct pd_ep *eps = NULL, *o;
	char **ids = NULL;
	size_t i, j, n = 0;
	uint16_t port;
	const char *self = p->d->cfg.node_name;

	if (e != NULL && (port = svc_ep_port(sp, e)) != 0) {
		eps = xcalloc(e->neps ? e->neps : 1, sizeof(*eps));
		ids = xcalloc(e->neps ? e->neps : 1, sizeof(char *));
		for (i = 0; i < e->neps; i++) {
			const struct em_endpoint *ep = &e->eps[i];
			struct pd_ep *x = &eps[n];

			if (!ep->ready && !s->publish_not_ready)
				continue;
			if (inet_pton(AF_INET, ep->ip, &x->sa.sin_addr) != 1)
				continue;
			x->sa.sin_family = AF_INET;
			x->sa.sin_port = htons(port);
			x->port = port;
			snprintf(x->ip, sizeof(x->ip), "%s", ep->ip);
			snprintf(x->node, sizeof(x->node), "%s", ep->node);
			x->local = ep->node[0] == '\0' || strcmp(ep->node, self) == 0;
			lb_endpoint_id(x->id, sizeof(x->id), ep, port);
			for (j = 0; j < v->neps; j++) {
				o = &v->eps[j];
				if (strcmp(o->id, x->id) == 0)
					x->down_until = o->down_until;
			}
			ids[n++] = x->id;
		}
	}
	free(v->eps);
	v->eps = eps;
	v->neps = n;
	lb_set_endpoints(&v->lb, ids, n);
	free(ids);
}

/*
 * The kernel path of a UDP port (rules.c), NULL when proxyd relays it:
 * every ready endpoint on this node, round robin or random, no session
 * affinity.  A remote endpoint needs tunneld, consistent hashing and
 * affinity need proxyd's balancer; those stay on proxyd.
 */
static struct rules_kernel *
vip_kernel(const struct pd_vip *v)
{
	struct rules_kernel *k;
	size_t i;

	if (v->proto != EM_PROTO_UDP || v->neps == 0 || v->lb.affinity ||
	    (v->lb.policy != EM_LB_ROUND_ROBIN && v->lb.policy != EM_LB_RANDOM))
		return NULL;
	for (i = 0; i < v->neps; i++)
		if (!v->eps[i].local)
			return NULL;
	k = xcalloc(1, sizeof(*k) + v->neps * sizeof(k->eps[0]));
	if (v->portname[0])
		snprintf(k->comment, sizeof(k->comment), "%s:%s", v->svc, v->portname);
	else
		snprintf(k->comment, sizeof(k->comment), "%s", v->svc);
	k->random = v->lb.policy == EM_LB_RANDOM;
	k->n = v->neps;
	for (i = 0; i < v->neps; i++)
		k->eps[i] = v->eps[i].sa;
	return k;
}

static void
vip_free(void *arg)
{
	struct pd_vip *v = arg;

	lb_free(&v->lb);
	free(v->eps);
	free(v);
}

static void
svcrec_free(void *arg)
{
	struct pd_svcrec *r = arg;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->keys[i]);
	free(r->keys);
	free(r);
}

void
proxy_svc_update(struct proxyd *p, const char *svckey)
{
	const struct em_object *so, *eo;
	const struct em_service *s = NULL;
	const struct em_endpoints *e = NULL;
	struct pd_svcrec *old, *rec;
	struct pd_vip *v;
	struct lb_conf c;
	char key[80];
	size_t i, j;

	so = replica_get(p->d->replica, EM_TOPIC_SERVICES, svckey);
	eo = replica_get(p->d->replica, EM_TOPIC_ENDPOINTS, svckey);
	if (so != NULL)
		s = so->u.svc;
	if (eo != NULL)
		e = eo->u.eps;
	old = hmap_del(p->svcs, svckey);
	rec = xcalloc(1, sizeof(*rec));
	if (s != NULL && svc_proxied(p, s)) {
		rec->keys = xcalloc(s->nports ? s->nports : 1, sizeof(char *));
		vip_conf(p, s, &c);
		for (i = 0; i < s->nports; i++) {
			const struct em_port *sp = &s->ports[i];

			if (sp->proto != EM_PROTO_TCP && sp->proto != EM_PROTO_UDP)
				continue;
			snprintf(key, sizeof(key), "%s:%u/%s", s->cluster_ip, sp->port,
				 sp->proto == EM_PROTO_TCP ? "tcp" : "udp");
			if ((v = hmap_get(p->vips, key)) == NULL) {
				v = xcalloc(1, sizeof(*v));
				snprintf(v->key, sizeof(v->key), "%s", key);
				v->sa.sin_family = AF_INET;
				inet_pton(AF_INET, s->cluster_ip, &v->sa.sin_addr);
				v->sa.sin_port = htons(sp->port);
				lb_init(&v->lb, &c);
				hmap_put(p->vips, key, v);
				snprintf(v->svc, sizeof(v->svc), "%s", svckey);
				snprintf(v->portname, sizeof(v->portname), "%s", sp->name);
				v->proto = sp->proto;
				rules_add(p, v);
			} else
				lb_reconf(&v->lb, &c);
			snprintf(v->svc, sizeof(v->svc), "%s", svckey);
			snprintf(v->portname, sizeof(v->portname), "%s", sp->name);
			vip_set_eps(p, v, s, sp, e);
			rules_kernel_set(p, key, vip_kernel(v));
			log_debug("service port %s (%s) %s: %zu ready endpoints, lb %s", key,
				  svckey, sp->name, v->neps, em_lb_name(v->lb.policy));
			rec->keys[rec->n++] = xstrdup(key);
		}
	}
	if (old != NULL) {
		for (i = 0; i < old->n; i++) {
			for (j = 0; j < rec->n; j++)
				if (strcmp(old->keys[i], rec->keys[j]) == 0)
					break;
			if (j < rec->n)
				continue;
			if ((v = hmap_del(p->vips, old->keys[i])) != NULL) {
				rules_kernel_set(p, old->keys[i], NULL);
				rules_del(p, old->keys[i]);
				vip_free(v);
			}
		}
		svcrec_free(old);
	}
	if (rec->n == 0)
		svcrec_free(rec);
	else
		hmap_put(p->svcs, svckey, rec);
}

/* After a snapshot: rebuild everything, drop services that went away. */
void
proxy_svc_resync(struct proxyd *p)
{
	struct replica_iter ri;
	const struct em_object *o;
	struct hmap_iter it;
	const char *k;
	void *val;
	char key[EM_KEY_LEN];

	replica_iter_init(&ri);
	while (replica_next(p->d->replica, EM_TOPIC_SERVICES, &ri, &o))
		proxy_svc_update(p, em_object_key(o, key, sizeof(key)));
	hmap_iter_init(&it);
	while (hmap_next(p->svcs, &it, &k, &val))
		if (replica_get(p->d->replica, EM_TOPIC_SERVICES, k) == NULL) {
			snprintf(key, sizeof(key), "%s", k);
			proxy_svc_update(p, key);
		}
}

struct pd_vip *
proxy_svc_lookup(struct proxyd *p, const struct sockaddr_in *sa, int proto)
{
	char ip[INET_ADDRSTRLEN], key[80];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(key, sizeof(key), "%s:%u/%s", ip, ntohs(sa->sin_port),
		 proto == EM_PROTO_TCP ? "tcp" : "udp");
	return hmap_get(p->vips, key);
}

int
proxy_svc_pick(struct proxyd *p, struct pd_vip *v, const char *client, const char *key,
	       size_t keylen, char (*tried)[PD_EPID_LEN], int ntried)
{
	unsigned char *skip;
	double now = ev_now(p->loop);
	size_t i, nskip = 0;
	int k, idx, pass;

	if (v->neps == 0)
		return -1;
	skip = xcalloc(v->neps, 1);
	for (pass = 0; pass < 2; pass++) {
		nskip = 0;
		for (i = 0; i < v->neps; i++) {
			skip[i] = pass == 0 && v->eps[i].down_until > now;
			for (k = 0; k < ntried; k++)
				if (strcmp(tried[k], v->eps[i].id) == 0)
					skip[i] = 1;
			nskip += skip[i];
		}
		if (nskip < v->neps)
			break;
	}
	idx = lb_pick(&v->lb, client, key, keylen, skip, now);
	if (idx != -1)
		v->n_picks[v->eps[idx].local != 0]++;
	free(skip);
	return idx;
}

void
proxy_svc_ep_failed(struct proxyd *p, const char *vipkey, const char *epid)
{
	struct pd_vip *v;
	size_t i;

	if ((v = hmap_get(p->vips, vipkey)) == NULL)
		return;
	for (i = 0; i < v->neps; i++)
		if (strcmp(v->eps[i].id, epid) == 0) {
			/* said once when it goes down, not at each retry while down */
			if (v->eps[i].down_until <= ev_now(p->loop))
				log_info("endpoint %s of %s failed: skipped for %.0fs", epid,
					 vipkey, PROXY_DOWN_TIME);
			v->eps[i].down_until = ev_now(p->loop) + PROXY_DOWN_TIME;
		}
}
