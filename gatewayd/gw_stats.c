/*
 * gatewayd's metrics: requests by route (the destination service port a
 * VirtualService sent them to; "" when none matched) and status code, and
 * the time from a request's head to its response's head per route.  Label
 * sets stay bounded: at most GW_RSTATS_MAX routes, GW_RCODES_MAX codes each.
 */
#include <stdlib.h>
#include <string.h>

#include "gatewayd.h"

#define GW_RSTATS_MAX 512
#define GW_RCODES_MAX 16

struct gw_rstat {
	struct {
		int code;
		uint64_t n;
	} codes[GW_RCODES_MAX];
	size_t ncodes;
	struct em_histogram h;
};

void
gw_stats_request(struct gw *g, const char *route, int status, double seconds)
{
	struct gw_rstat *r;
	size_t i;

	if ((r = hmap_get(g->rstats, route)) == NULL) {
		if (hmap_count(g->rstats) >= GW_RSTATS_MAX)
			return;
		r = xcalloc(1, sizeof(*r));
		hmap_put(g->rstats, route, r);
	}
	for (i = 0; i < r->ncodes && r->codes[i].code != status; i++)
		;
	if (i == r->ncodes && r->ncodes < GW_RCODES_MAX)
		r->codes[r->ncodes++].code = status;
	if (i < r->ncodes)
		r->codes[i].n++;
	metrics_observe(&r->h, seconds);
}

void
gw_stats_fill(void *arg, struct em_samples *ss)
{
	struct gw *g = arg;
	struct hmap_iter it;
	const struct gw_rstat *r;
	const char *route;
	char code[8];
	void *v;
	size_t i;

	hmap_iter_init(&it);
	while (hmap_next(g->rstats, &it, &route, &v)) {
		r = v;
		for (i = 0; i < r->ncodes; i++) {
			snprintf(code, sizeof(code), "%d", r->codes[i].code);
			metrics_add(ss, EM_M_GW_REQUESTS, (double)r->codes[i].n, "route", route,
				    "code", code, NULL);
		}
		metrics_add_histogram(ss, EM_M_GW_DURATION, &r->h, "route", route);
	}
}

void
gw_stats_free(struct gw *g)
{
	hmap_free(g->rstats, free);
	g->rstats = NULL;
}
