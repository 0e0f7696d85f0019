/*
 * edgemesh-tunneld: node-to-node Noise tunnels, stream multiplexing, fd
 * hand-off.  This file holds main(): options, keys and sockets acquired
 * before privdrop(), the event loop.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tunneld.h"

static struct tunneld tunneld;

struct tunneld *
tunneld_get(void)
{
	return &tunneld;
}

static void
tunneld_health(void *arg, struct ipc_health *h)
{
	struct tunneld *t = arg;
	struct tun_session *s;
	size_t up = 0;

	LIST_FOREACH(s, &t->sessions, link)
	if (s->state == SS_UP)
		up++;
	snprintf(h->detail, sizeof(h->detail), "peers=%zu sessions=%zu streams=%llu psk=%s",
		 replica_count(t->d->replica, EM_TOPIC_PEERS), up, (unsigned long long)t->nstreams,
		 t->fp);
	if (t->d->cfg.tunnel.edgemesh_agents) { /* issue 15: libp2p connections of agents */
		size_t n = strlen(h->detail);

		snprintf(h->detail + n, sizeof(h->detail) - n, " edgemesh_agents=%zu",
			 p2p_conn_count());
	}
}

static void
tunneld_serve(void *arg, const char *why)
{
	tun_handover_serve(arg);
}

static void
tunneld_shutdown(void *arg)
{
	struct tunneld *t = arg;
	struct tun_session *s;

	p2p_conns_close("shutting down"); /* agents redial: libp2p is not handed over */
	if (tun_handover_park(t) == 0)
		return; /* the next tunneld has it all */
	while ((s = LIST_FIRST(&t->sessions)) != NULL)
		tun_session_close(s, "shutting down");
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	struct tunneld *t = &tunneld;
	const char *psk_file = NULL;
	char err[1024], kerr[1024];
	int psk_ok;
	struct em_opt opts[] = {
	    {"psk-file", 1, NULL, &psk_file, "the PSK file (overrides psk.path)"},
	    {NULL, 0, NULL, NULL, NULL},
	};

	daemon_init(&d, "tunneld", argc, argv, opts);
	memset(t, 0, sizeof(*t));
	t->d = &d;
	t->lfd = t->hfd = -1;
	LIST_INIT(&t->sessions);
	LIST_INIT(&t->dirty);
	t->peers = hmap_new();
	if (noise_init() == -1)
		fatalx("libsodium initialisation failed");
	if (!d.cfg.tunnel.psk_enable)
		fatalx("modules.edgeTunnel.psk.enable is false in %s: tunneld admits peers by "
		       "PSK only; set it to true and point psk.path at the PSK file",
		       d.cfg.path[0] ? d.cfg.path : "the config");

	/* privileged acquisitions: keys, sockets */
	t->run_uid = geteuid();
	t->run_gid = getegid();
	if (privdrop_user(&d, &t->run_uid, &t->run_gid) == -1)
		fatalx("user %s does not exist: create it (scripts/add-users.sh)",
		       d.user != NULL ? d.user : "edgemesh-tunneld");
	tun_handover_fetch(t); /* what a predecessor left, if any (tun_handover.c) */
	psk_ok = tun_psk_load(t, psk_file != NULL ? psk_file : d.cfg.tunnel.psk_path, err,
			      sizeof(err)) == 0;
	if (!psk_ok && t->ho == NULL)
		fatalx("PSK: %s", err);
	if (tun_keys_load(t, d.cfg.state_dir, kerr, sizeof(kerr)) == -1)
		fatalx("static key: %s", kerr);
	tun_handover_open(t, psk_ok);
	if (!psk_ok && tun_handover_psk(t) == -1)
		fatalx("PSK: %s", err);
	if (!psk_ok)
		log_info("PSK: %s; using the one the hand-over carried", err);
	if (tun_listen_reuse(t, d.cfg.tunnel.listen_port) == -1 &&
	    tun_listen(t, d.cfg.tunnel.listen_port, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (tun_ws_setup(t, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (t->hfd == -1 && tun_handoff_listen(t, err, sizeof(err)) == -1)
		fatalx("%s", err);
	p2p_setup(t);
	p2p_mdns_setup(t);
	privdrop(&d, NULL, 0);
	daemon_fd_keep(&d, "tunnel", t->lfd); /* kill -9: peers' dials wait for the next one */

	log_info("PSK fingerprint %s, listening on port %d", t->fp, d.cfg.tunnel.listen_port);
	tun_listen_start(t);
	tun_ws_start(t);
	tun_ifaces_log(t);
	ev_prepare_init(&t->prep, tun_sessions_prepare);
	t->prep.data = t;
	ev_prepare_start(d.loop, &t->prep);
	tun_handover_restore(t);
	tun_handover_signals(t, argv);
	tun_relays_start(t);

	/* gateways: what gatewayd may open (tun_gwrights.c) */
	d.topics = EM_TOPIC_BIT(EM_TOPIC_PEERS) | EM_TOPIC_BIT(EM_TOPIC_SERVICES) |
		   EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS) | EM_TOPIC_BIT(EM_TOPIC_SELF) |
		   EM_TOPIC_BIT(EM_TOPIC_GATEWAYS);
	d.fill_health = tunneld_health;
	d.fill_metrics = tun_metrics_fill;
	d.on_shutdown = tunneld_shutdown;
	d.on_serve = tunneld_serve;
	d.hold_secs = 2.0; /* handed-over sessions and openers wait for the replica */
	d.on_config = tun_relays_reload;
	d.arg = t;
	if (!tun_handover_sandboxed())
		tunneld_sandbox(&d);
	else
		log_info("sandbox: the one applied before the reload holds across the exec");
	daemon_start(&d);
	daemon_run(&d);
	return 0;
}
