/*
 * edgemesh-gatewayd: ingress gateway for Istio Gateway + VirtualService.
 * This file holds main(): options, config, privileges, the event loop.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

struct gatewayd_state {
	struct em_daemon *d;
};

static void
gatewayd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
    const struct em_object *cur)
{
	log_debug("%s %s %s", cur == NULL ? "delete" : old == NULL ? "add" : "change",
	    em_topic_name(t), key);
}

static void
gatewayd_health(void *arg, struct ipc_health *h)
{
	struct gatewayd_state *s = arg;

	snprintf(h->detail, sizeof(h->detail), "gateways=%zu", replica_count(s->d->replica, EM_TOPIC_GATEWAYS));
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	struct gatewayd_state s;

	daemon_init(&d, "gatewayd", argc, argv, NULL);
	memset(&s, 0, sizeof(s));
	s.d = &d;
	privdrop(&d, NULL, 0);

	d.topics = EM_TOPIC_BIT(EM_TOPIC_GATEWAYS) | EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.on_change = gatewayd_change;
	d.fill_health = gatewayd_health;
	d.arg = &s;
	daemon_start(&d);
	daemon_run(&d);
	return 0;
}
