/*
 * libFuzzer: the Kubernetes API source's parsers (controller/kube_*.c)
 * (make fuzz).  The first input byte picks:
 *  - even: the rest is a kubeconfig, loaded by kube_client_init();
 *  - odd: a list/watch exchange of one resource (the next byte picks it,
 *    the one after the HTTP status and the size of the pieces): the rest,
 *    up to a NUL, is the list response, the part after it the watch
 *    stream, fed through the real kube_watch.c state machine into the real
 *    ctl_state.c.  kube_http_get() and kube_source.c are replaced by the
 *    stubs below, as tests/unit/check_kube.c does.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../controller/kube_source.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct kube_req {
	int dummy;
};

static struct {
	struct ev_loop *loop;
	struct state *st;
	struct kube_client client;
	struct kube_req req;
	kube_data_cb data;
	kube_done_cb done;
	void *arg;
	int nreq;
} S;

struct ev_loop *
kube_loop(struct reg_kube *rk)
{
	return S.loop;
}

struct kube_http *
kube_http(struct reg_kube *rk)
{
	return NULL;
}

struct kube_client *
kube_client(struct reg_kube *rk)
{
	return &S.client;
}

struct state *
kube_state(struct reg_kube *rk)
{
	return S.st;
}

long
kube_watch_timeout(struct reg_kube *rk)
{
	return 300;
}

void
kube_dirty(struct reg_kube *rk)
{
}

void
kube_synced(struct reg_kube *rk, struct kube_watch *kw)
{
}

void
kube_cache_put(struct reg_kube *rk, const json_t *obj)
{
}

void
kube_gateway_refs(struct reg_kube *rk, const char *ns, const char *name,
		  const struct kobj_gateway *gw)
{
}

struct kube_req *
kube_http_get(struct kube_http *h, struct kube_client *c, const char *path, long stall, long total,
	      kube_data_cb data_cb, kube_done_cb done_cb, void *arg)
{
	S.data = data_cb;
	S.done = done_cb;
	S.arg = arg;
	S.nreq++;
	return &S.req;
}

void
kube_http_cancel(struct kube_http *h, struct kube_req *r)
{
}

static void
emit(void *arg, enum em_topic t, uint64_t version, const char *key, const struct pub *p)
{
}

static const struct kube_res res[] = {
    {"services", "/api/v1/services", "v1", "Service", KOBJ_SERVICE, NULL, 0, 1, NULL},
    {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", "discovery.k8s.io/v1",
     "EndpointSlice", KOBJ_ENDPOINTSLICE, NULL, 0, 1, NULL},
    {"endpoints", "/api/v1/endpoints", "v1", "Endpoints", KOBJ_ENDPOINTS, NULL, 0, 1, NULL},
    {"nodes", "/api/v1/nodes", "v1", "Node", KOBJ_NODE, NULL, 0, 1, NULL},
    {"gateways", "/apis/networking.istio.io/v1alpha3/gateways", "networking.istio.io/v1alpha3",
     "Gateway", KOBJ_GATEWAY, NULL, 1, 1, NULL},
    {"virtualservices", "/apis/networking.istio.io/v1alpha3/virtualservices",
     "networking.istio.io/v1alpha3", "VirtualService", KOBJ_VIRTUALSERVICE, NULL, 1, 1, NULL},
    {"destinationrules", "/apis/networking.istio.io/v1alpha3/destinationrules",
     "networking.istio.io/v1alpha3", "DestinationRule", KOBJ_DESTINATIONRULE, NULL, 1, 1, NULL},
};

static void
exchange(const uint8_t *data, size_t len)
{
	static const long statuses[] = {200, 200, 200, 410, 404, 500};
	static struct em_config cfg;
	const struct kube_res *r = &res[data[0] % (sizeof(res) / sizeof(res[0]))];
	long status = statuses[data[1] % (sizeof(statuses) / sizeof(statuses[0]))];
	size_t step = (data[1] >> 3) + 1, i, n, part[2];
	const char *body = (const char *)data + 2, *p[2];
	struct kube_watch *kw;
	kube_data_cb cb;
	void *arg;
	int k, rc, nreq;

	len -= 2;
	p[0] = body;
	part[0] = strnlen(body, len);
	p[1] = body + part[0] + (part[0] < len);
	part[1] = len - (size_t)(p[1] - body);
	config_defaults(&cfg);
	memset(&S, 0, sizeof(S));
	S.loop = ev_default_loop(0);
	S.st = state_new(&cfg, emit, NULL);
	kw = kube_watch_new(NULL, r);
	kube_watch_start(kw);
	/* the list, then the watch it starts (a second page repeats the list) */
	for (k = 0; k < 2; k++) {
		cb = S.data;
		arg = S.arg;
		nreq = S.nreq;
		rc = 0;
		for (i = 0; i < part[k] && rc == 0 && S.nreq == nreq; i += n) {
			n = part[k] - i < step ? part[k] - i : step;
			rc = cb(arg, k == 0 ? status : 200, p[k] + i, n);
		}
		if (S.nreq == nreq)
			S.done(arg, rc == -1 ? CURLE_WRITE_ERROR : CURLE_OK, k == 0 ? status : 200,
			       "");
		state_commit(S.st);
		if (S.nreq == nreq)
			break; /* waiting on a timer: no new request */
	}
	kube_watch_free(kw);
	state_free(S.st);
}

static void
kubeconfig(const uint8_t *data, size_t len)
{
	static char dir[] = "/tmp/fuzz_kube.XXXXXX";
	static struct em_config cfg;
	struct kube_client c;
	char err[1024];
	FILE *f;
	int fd;

	if (dir[sizeof(dir) - 2] == 'X') {
		if (mkdtemp(dir) == NULL)
			return;
		/* a tokenFile of /dev/stdin must not wait for a terminal */
		if ((fd = open("/dev/null", O_RDONLY)) != -1 && dup2(fd, 0) != -1 && fd != 0)
			close(fd);
	}
	config_defaults(&cfg);
	snprintf(cfg.kube.kubeconfig, sizeof(cfg.kube.kubeconfig), "%s/kubeconfig", dir);
	if ((f = fopen(cfg.kube.kubeconfig, "w")) == NULL)
		return;
	fwrite(data, 1, len, f);
	fclose(f);
	(void)kube_client_init(&c, &cfg, err, sizeof(err));
	kube_client_free(&c); /* after a failure too (what the kubeconfig gave) */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	log_init("fuzz", 0);
	if (len < 3 || len > 65536)
		return 0;
	if (data[0] % 2 == 0)
		kubeconfig(data + 1, len - 1);
	else
		exchange(data + 1, len - 1);
	return 0;
}
