/*
 * The controller's state.  Raw objects (struct kobj) come from a registry
 * source, keyed by kind and ns/name; the published topic objects are
 * derived from them (a Service with its DestinationRule, the Endpoints or
 * the EndpointSlices of a service, a Node, a Gateway with its
 * VirtualServices and Secrets).  A change marks the derived keys it
 * touches dirty; state_commit() recomputes them, packs each, and emits a
 * delta only when the packed bytes differ, with the next version.
 *
 * With an allocator (the file registry), Services that have no clusterIP
 * get one from ctl_alloc.c: explicit clusterIPs are claimed as they are
 * put, the Services waiting for an address are served at the commit in
 * key order, so the outcome does not depend on the order of the puts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "log.h"

struct raw {
	struct kobj *k;
	const char *source; /* interned in state.sources */
};

/* The slices of one service, for joining. */
struct slice_set {
	size_t n;
	struct kobj **v;
};

struct state {
	const struct em_config *cfg;
	struct hmap *raw[KOBJ_NKINDS];	    /* "ns/name" -> struct raw */
	struct hmap *slices_by_svc;	    /* "ns/service" -> struct slice_set */
	struct hmap *sources;		    /* source -> its one copy (a few files) */
	struct hmap *pub[EM_TOPIC_COUNT];   /* key -> struct pub */
	struct hmap *dirty[EM_TOPIC_COUNT]; /* key -> (void *)1 */
	int gateways_dirty;
	struct alloc *alloc;	    /* NULL: every Service brings its clusterIP */
	struct hmap *alloc_waiting; /* "ns/name" of Services to give an address */
	struct hmap *alloc_full;    /* ... that found the range full */
	int alloc_freed;	    /* an address came free: retry alloc_full */
	int alloc_pruned;	    /* the table loaded from disk was checked */
	uint64_t version;
	uint64_t takeovers; /* puts that replaced another source's object */
	state_emit_cb emit;
	void *arg;
};

static void
raw_free(void *p)
{
	struct raw *r = p;

	kobj_free(r->k);
	free(r);
}

static void
pub_free(void *p)
{
	struct pub *pb = p;

	em_object_free(&pb->obj);
	free(pb->packed);
	free(pb);
}

static void
slice_set_free(void *p)
{
	struct slice_set *s = p;

	free(s->v);
	free(s);
}

struct state *
state_new(const struct em_config *cfg, state_emit_cb emit, void *arg)
{
	struct state *s = xcalloc(1, sizeof(*s));
	int i;

	s->cfg = cfg;
	for (i = 0; i < KOBJ_NKINDS; i++)
		s->raw[i] = hmap_new();
	for (i = 0; i < EM_TOPIC_COUNT; i++) {
		s->pub[i] = hmap_new();
		s->dirty[i] = hmap_new();
	}
	s->slices_by_svc = hmap_new();
	s->sources = hmap_new();
	/* versions keep growing across controller restarts */
	s->version = (uint64_t)time(NULL) << 16;
	s->emit = emit;
	s->arg = arg;
	/* self: what every daemon needs to know about this node */
	hmap_put(s->dirty[EM_TOPIC_SELF], "self", (void *)1);
	return s;
}

void
state_free(struct state *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < KOBJ_NKINDS; i++)
		hmap_free(s->raw[i], raw_free);
	for (i = 0; i < EM_TOPIC_COUNT; i++) {
		hmap_free(s->pub[i], pub_free);
		hmap_free(s->dirty[i], NULL);
	}
	hmap_free(s->slices_by_svc, slice_set_free);
	hmap_free(s->sources, free);
	hmap_free(s->alloc_waiting, NULL);
	hmap_free(s->alloc_full, NULL);
	alloc_free(s->alloc);
	free(s);
}

void
state_set_alloc(struct state *s, struct alloc *a)
{
	alloc_free(s->alloc);
	s->alloc = a;
	s->alloc_waiting = s->alloc_waiting != NULL ? s->alloc_waiting : hmap_new();
	s->alloc_full = s->alloc_full != NULL ? s->alloc_full : hmap_new();
	s->alloc_pruned = 0;
}

uint64_t
state_version(const struct state *s)
{
	return s->version;
}

struct hmap *
state_topic(struct state *s, enum em_topic t)
{
	return s->pub[t];
}

size_t
state_raw_count(const struct state *s, enum kobj_kind k)
{
	return hmap_count(s->raw[k]);
}

static void
mark(struct state *s, enum em_topic t, const char *ns, const char *name)
{
	char key[EM_KEY_LEN];

	if (t == EM_TOPIC_PEERS)
		snprintf(key, sizeof(key), "%s", name);
	else
		snprintf(key, sizeof(key), "%s/%s", ns, name);
	hmap_put(s->dirty[t], key, (void *)1);
}

static void
slice_index(struct state *s, struct kobj *k, int add)
{
	struct slice_set *set;
	char key[EM_KEY_LEN];
	size_t i;

	snprintf(key, sizeof(key), "%s/%s", k->ns, k->u.slice->service);
	set = hmap_get(s->slices_by_svc, key);
	if (add) {
		if (set == NULL) {
			set = xcalloc(1, sizeof(*set));
			hmap_put(s->slices_by_svc, key, set);
		}
		set->v = xreallocarray(set->v, set->n + 1, sizeof(*set->v));
		set->v[set->n++] = k;
		return;
	}
	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		if (set->v[i] == k) {
			set->v[i] = set->v[--set->n];
			break;
		}
	}
	if (set->n == 0)
		slice_set_free(hmap_del(s->slices_by_svc, key));
}

/* Which published keys depend on this raw object. */
static void
mark_dependents(struct state *s, const struct kobj *k)
{
	switch (k->kind) {
	case KOBJ_SERVICE:
	case KOBJ_DESTINATIONRULE:
		mark(s, EM_TOPIC_SERVICES, k->ns, k->name);
		break;
	case KOBJ_ENDPOINTS:
		mark(s, EM_TOPIC_ENDPOINTS, k->ns, k->name);
		break;
	case KOBJ_ENDPOINTSLICE:
		mark(s, EM_TOPIC_ENDPOINTS, k->ns, k->u.slice->service);
		break;
	case KOBJ_NODE:
		mark(s, EM_TOPIC_PEERS, "", k->name);
		break;
	case KOBJ_GATEWAY:
	case KOBJ_VIRTUALSERVICE:
	case KOBJ_SECRET:
		s->gateways_dirty = 1;
		break;
	default:
		break;
	}
}

static void
raw_key(char *key, size_t len, const char *ns, const char *name)
{
	snprintf(key, len, "%s/%s", ns, name);
}

/* A Service that the allocator serves: not headless, not ExternalName, no clusterIP. */
static bool
svc_wants_ip(const struct em_service *svc)
{
	return svc->type != EM_SVC_EXTERNAL_NAME && !svc->headless && svc->n_cluster_ips == 0 &&
	       svc->cluster_ip[0] == '\0';
}

static void
alloc_unclaim_svc(struct state *s, const struct em_service *svc)
{
	size_t i;

	for (i = 0; i < svc->n_cluster_ips; i++)
		alloc_unclaim(s->alloc, svc->cluster_ips[i]);
	if (svc->n_cluster_ips > 0)
		s->alloc_freed = 1;
}

/* Service k replaces old (NULL if new): claims, and what waits for an address. */
static void
alloc_put(struct state *s, const char *key, const struct kobj *old, const struct kobj *k)
{
	const struct em_service *svc = k->u.svc;
	char displaced[EM_KEY_LEN];
	size_t i;

	if (old != NULL)
		alloc_unclaim_svc(s, old->u.svc);
	for (i = 0; i < svc->n_cluster_ips; i++) {
		if (!alloc_claim(s->alloc, svc->cluster_ips[i], displaced, sizeof(displaced)) ||
		    strcmp(displaced, key) == 0)
			continue;
		log_info("registry: Service %s takes clusterIP %s, which Service %s had been "
			 "given; %s gets another",
			 key, svc->cluster_ips[i], displaced, displaced);
		hmap_put(s->alloc_waiting, displaced, (void *)1);
		hmap_put(s->dirty[EM_TOPIC_SERVICES], displaced, (void *)1);
	}
	if (svc_wants_ip(svc)) {
		hmap_put(s->alloc_waiting, key, (void *)1);
		return;
	}
	hmap_del(s->alloc_waiting, key);
	hmap_del(s->alloc_full, key);
	if (alloc_release(s->alloc, key))
		s->alloc_freed = 1;
}

static void
alloc_del(struct state *s, const char *key, const struct kobj *old)
{
	alloc_unclaim_svc(s, old->u.svc);
	hmap_del(s->alloc_waiting, key);
	hmap_del(s->alloc_full, key);
	if (alloc_release(s->alloc, key))
		s->alloc_freed = 1;
}

void
state_put(struct state *s, struct kobj *k, const char *source)
{
	struct raw *r = xcalloc(1, sizeof(*r)), *old;
	char key[EM_KEY_LEN];

	r->k = k;
	if ((r->source = hmap_get(s->sources, source)) == NULL) {
		char *copy = xstrdup(source);

		hmap_put(s->sources, source, copy);
		r->source = copy;
	}
	raw_key(key, sizeof(key), k->ns, k->name);
	old = hmap_put(s->raw[k->kind], key, r);
	if (s->alloc != NULL && k->kind == KOBJ_SERVICE)
		alloc_put(s, key, old != NULL ? old->k : NULL, k);
	if (old != NULL) {
		if (strcmp(old->source, source) != 0) {
			log_warnx("%s %s is defined in %s and in %s; using the one in %s",
				  kobj_kind_name(k->kind), key, old->source, source, source);
			s->takeovers++;
		}
		if (old->k->kind == KOBJ_ENDPOINTSLICE)
			slice_index(s, old->k, 0);
		mark_dependents(s, old->k);
		raw_free(old);
	}
	if (k->kind == KOBJ_ENDPOINTSLICE)
		slice_index(s, k, 1);
	mark_dependents(s, k);
}

void
state_del(struct state *s, enum kobj_kind kind, const char *ns, const char *name,
	  const char *source)
{
	struct raw *r;
	char key[EM_KEY_LEN];

	raw_key(key, sizeof(key), ns, name);
	if ((r = hmap_get(s->raw[kind], key)) == NULL)
		return;
	/* another source redefined it since: that one stays */
	if (source != NULL && strcmp(r->source, source) != 0)
		return;
	hmap_del(s->raw[kind], key);
	if (s->alloc != NULL && kind == KOBJ_SERVICE)
		alloc_del(s, key, r->k);
	if (kind == KOBJ_ENDPOINTSLICE)
		slice_index(s, r->k, 0);
	mark_dependents(s, r->k);
	raw_free(r);
}

uint64_t
state_takeovers(const struct state *s)
{
	return s->takeovers;
}

const char *
state_raw_source(struct state *s, enum kobj_kind kind, const char *ns, const char *name)
{
	struct raw *r;
	char key[EM_KEY_LEN];

	raw_key(key, sizeof(key), ns, name);
	r = hmap_get(s->raw[kind], key);
	return r == NULL ? NULL : r->source;
}

static struct kobj *
raw_get(struct state *s, enum kobj_kind kind, const char *key)
{
	struct raw *r = hmap_get(s->raw[kind], key);

	return r == NULL ? NULL : r->k;
}

/* Derive the published object for a key into o; o->u.any stays NULL when it is gone. */
static void
derive(struct state *s, enum em_topic t, const char *key, struct em_object *o)
{
	struct kobj *k, *dr;
	struct slice_set *set;
	const char *ip;
	size_t i;

	o->topic = t;
	o->u.any = NULL;
	switch (t) {
	case EM_TOPIC_SERVICES:
		if ((k = raw_get(s, KOBJ_SERVICE, key)) == NULL)
			return;
		dr = raw_get(s, KOBJ_DESTINATIONRULE, key);
		o->u.svc = kobj_service_publish(k->u.svc, dr ? dr->u.dr : NULL);
		if (s->alloc != NULL && svc_wants_ip(k->u.svc) &&
		    (ip = alloc_get(s->alloc, key)) != NULL) {
			free(o->u.svc->cluster_ip);
			o->u.svc->cluster_ip = xstrdup(ip);
			o->u.svc->cluster_ips[0] = xstrdup(ip);
			o->u.svc->n_cluster_ips = 1;
		}
		return;
	case EM_TOPIC_ENDPOINTS:
		if ((set = hmap_get(s->slices_by_svc, key)) != NULL) {
			const char *slash = strchr(key, '/');
			char ns[EM_KEY_LEN];
			struct kobj_slice **sl = xcalloc(set->n, sizeof(*sl));

			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
			for (i = 0; i < set->n; i++)
				sl[i] = set->v[i]->u.slice;
			o->u.eps = kobj_slices_join(ns, slash + 1, sl, set->n);
			free(sl);
			return;
		}
		if ((k = raw_get(s, KOBJ_ENDPOINTS, key)) != NULL)
			o->u.eps = em_endpoints_dup(k->u.eps);
		return;
	case EM_TOPIC_PEERS: {
		char rk[EM_KEY_LEN];

		raw_key(rk, sizeof(rk), "", key);
		if ((k = raw_get(s, KOBJ_NODE, rk)) == NULL)
			return;
		o->u.peer = em_peer_dup(k->u.peer);
		for (i = 0; i < s->cfg->tunnel.n_relays; i++)
			if (strcmp(s->cfg->tunnel.relays[i].node_name, key) == 0)
				o->u.peer->relay = true;
		return;
	}
	case EM_TOPIC_GATEWAYS: {
		struct kobj_vs **vs;
		struct kobj_secret **sec;
		struct hmap_iter it;
		const char *rk;
		void *v;
		size_t nvs = 0, nsec = 0;

		if ((k = raw_get(s, KOBJ_GATEWAY, key)) == NULL)
			return;
		vs = xcalloc(hmap_count(s->raw[KOBJ_VIRTUALSERVICE]), sizeof(*vs));
		sec = xcalloc(hmap_count(s->raw[KOBJ_SECRET]), sizeof(*sec));
		hmap_iter_init(&it);
		while (hmap_next(s->raw[KOBJ_VIRTUALSERVICE], &it, &rk, &v))
			vs[nvs++] = ((struct raw *)v)->k->u.vs;
		hmap_iter_init(&it);
		while (hmap_next(s->raw[KOBJ_SECRET], &it, &rk, &v))
			sec[nsec++] = ((struct raw *)v)->k->u.secret;
		o->u.gw = kobj_gateway_publish(k->u.gw, vs, nvs, sec, nsec);
		free(vs);
		free(sec);
		return;
	}
	case EM_TOPIC_SELF:
		o->u.self = xcalloc(1, sizeof(*o->u.self));
		o->u.self->node = xstrdup(s->cfg->node_name);
		o->u.self->domain = xstrdup(s->cfg->cluster_domain);
		return;
	default:
		return;
	}
}

static void
commit_key(struct state *s, enum em_topic t, const char *key)
{
	struct em_object o;
	struct pub *old, *p;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	derive(s, t, key, &o);
	old = hmap_get(s->pub[t], key);
	if (o.u.any == NULL) {
		if (old == NULL)
			return;
		hmap_del(s->pub[t], key);
		s->version++;
		s->emit(s->arg, t, s->version, key, NULL);
		pub_free(old);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_object(&pk, &o);
	if (old != NULL && old->packed_len == sb.size &&
	    memcmp(old->packed, sb.data, sb.size) == 0) {
		msgpack_sbuffer_destroy(&sb);
		em_object_free(&o);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->obj = o;
	if (t == EM_TOPIC_SERVICES || t == EM_TOPIC_ENDPOINTS)
		em_object_free(&p->obj); /* the many: only their packed bytes are kept */
	p->packed_len = sb.size;
	/* the sbuffer holds at least 8 KiB: keep a copy of only the packed bytes */
	p->packed = xcalloc(1, sb.size);
	memcpy(p->packed, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	p->version = ++s->version;
	hmap_put(s->pub[t], key, p);
	s->emit(s->arg, t, p->version, key, p);
	if (old != NULL)
		pub_free(old);
}

static int
alloc_keep(void *arg, const char *key)
{
	struct kobj *k = raw_get(arg, KOBJ_SERVICE, key);

	return k != NULL && svc_wants_ip(k->u.svc);
}

/* Give the waiting Services their addresses, in key order; keep the table. */
static void
alloc_commit(struct state *s)
{
	struct hmap_iter it;
	const char *key, *ip;
	char **keys, err[EM_PATH_MAX + 256], once[EM_KEY_LEN + 16];
	const char *last = NULL;
	struct kobj *k;
	size_t n, i, given = 0;
	void *v;

	if (!s->alloc_pruned) {
		/* entries of Services gone (or given a clusterIP) while we were down */
		alloc_prune(s->alloc, alloc_keep, s);
		s->alloc_pruned = 1;
	}
	if (s->alloc_freed) {
		hmap_iter_init(&it);
		while (hmap_next(s->alloc_full, &it, &key, &v))
			hmap_put(s->alloc_waiting, key, (void *)1);
		s->alloc_freed = 0;
	}
	keys = hmap_keys(s->alloc_waiting, &n);
	for (i = 0; i < n; i++) {
		hmap_del(s->alloc_waiting, keys[i]);
		hmap_del(s->alloc_full, keys[i]);
		if ((k = raw_get(s, KOBJ_SERVICE, keys[i])) == NULL || !svc_wants_ip(k->u.svc))
			continue;
		if (alloc_get(s->alloc, keys[i]) != NULL)
			continue; /* kept from the table */
		if ((ip = alloc_assign(s->alloc, keys[i])) == NULL) {
			hmap_put(s->alloc_full, keys[i], (void *)1);
			snprintf(once, sizeof(once), "alloc-full %s", keys[i]);
			log_warnx_once(
			    once,
			    "registry: Service %s gets no clusterIP: registry.serviceCIDR "
			    "%s is full; widen it, or give the Service a clusterIP",
			    keys[i], alloc_cidr(s->alloc));
			continue;
		}
		log_debug("registry: Service %s: clusterIP %s from registry.serviceCIDR %s",
			  keys[i], ip, alloc_cidr(s->alloc));
		hmap_put(s->dirty[EM_TOPIC_SERVICES], keys[i], (void *)1);
		last = keys[i];
		given++;
	}
	if (given == 1)
		log_info("registry: Service %s has no clusterIP: given %s from "
			 "registry.serviceCIDR %s",
			 last, alloc_get(s->alloc, last), alloc_cidr(s->alloc));
	else if (given > 1)
		log_info("registry: %zu Services without a clusterIP were given one from "
			 "registry.serviceCIDR %s",
			 given, alloc_cidr(s->alloc));
	hmap_keys_free(keys);
	if (alloc_save(s->alloc, err, sizeof(err)) == -1)
		log_warnx_once("alloc-save",
			       "registry: cannot keep the given clusterIPs: %s; they are "
			       "recomputed at the next start (stateDir must be writable)",
			       err);
}

void
state_commit(struct state *s)
{
	struct hmap_iter it;
	const char *key;
	void *v;
	char k[EM_KEY_LEN];
	int t;

	if (s->alloc != NULL)
		alloc_commit(s);
	if (s->gateways_dirty) {
		/* few gateways: recompute them all, and drop those gone */
		hmap_iter_init(&it);
		while (hmap_next(s->raw[KOBJ_GATEWAY], &it, &key, &v))
			hmap_put(s->dirty[EM_TOPIC_GATEWAYS], key, (void *)1);
		hmap_iter_init(&it);
		while (hmap_next(s->pub[EM_TOPIC_GATEWAYS], &it, &key, &v))
			hmap_put(s->dirty[EM_TOPIC_GATEWAYS], key, (void *)1);
		s->gateways_dirty = 0;
	}
	for (t = 0; t < EM_TOPIC_COUNT; t++) {
		hmap_iter_init(&it);
		while (hmap_next(s->dirty[t], &it, &key, &v)) {
			snprintf(k, sizeof(k), "%s", key);
			hmap_del(s->dirty[t], k);
			commit_key(s, (enum em_topic)t, k);
		}
	}
}

/* relayNodes changed (config reload): every peer's relay flag is derived again. */
void
state_relays_changed(struct state *s)
{
	struct hmap_iter it;
	const char *key;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(s->raw[KOBJ_NODE], &it, &key, &v))
		hmap_put(s->dirty[EM_TOPIC_PEERS], key[0] == '/' ? key + 1 : key, (void *)1);
	state_commit(s);
}
