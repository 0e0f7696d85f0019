/*
 * edgemesh-socksd: SOCKS5 server for ssh to nodes by name; hands each connection to tunneld.
 * This file holds main(): options, config, privileges, the event loop.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

struct socksd_state {
	struct em_daemon *d;
};

static void
socksd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
    const struct em_object *cur)
{
	log_debug("%s %s %s", cur == NULL ? "delete" : old == NULL ? "add" : "change",
	    em_topic_name(t), key);
}

static void
socksd_health(void *arg, struct ipc_health *h)
{
	struct socksd_state *s = arg;

	snprintf(h->detail, sizeof(h->detail), "peers=%zu", replica_count(s->d->replica, EM_TOPIC_PEERS));
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	struct socksd_state s;

	daemon_init(&d, "socksd", argc, argv, NULL);
	memset(&s, 0, sizeof(s));
	s.d = &d;
	privdrop(&d, NULL, 0);

	d.topics = EM_TOPIC_BIT(EM_TOPIC_PEERS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.on_change = socksd_change;
	d.fill_health = socksd_health;
	d.arg = &s;
	daemon_start(&d);
	daemon_run(&d);
	return 0;
}
