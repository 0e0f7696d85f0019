/*
 * edgemesh-dnsd: node-local DNS for cluster names, forwarding and a cache.
 * This file holds main(): options, config, privileges, the event loop.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

struct dnsd_state {
	struct em_daemon *d;
};

static void
dnsd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
    const struct em_object *cur)
{
	log_debug("%s %s %s", cur == NULL ? "delete" : old == NULL ? "add" : "change",
	    em_topic_name(t), key);
}

static void
dnsd_health(void *arg, struct ipc_health *h)
{
	struct dnsd_state *s = arg;

	snprintf(h->detail, sizeof(h->detail), "services=%zu", replica_count(s->d->replica, EM_TOPIC_SERVICES));
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	struct dnsd_state s;

	daemon_init(&d, "dnsd", argc, argv, NULL);
	memset(&s, 0, sizeof(s));
	s.d = &d;
	privdrop(&d, NULL, 0);

	d.topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.on_change = dnsd_change;
	d.fill_health = dnsd_health;
	d.arg = &s;
	daemon_start(&d);
	daemon_run(&d);
	return 0;
}
