/*
 * edgemesh-controller: reads the config, watches the service registry,
 * computes the state every other daemon needs and pushes it to them over
 * controller.sock; aggregates their health for `edgemeshctl status`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

#define ALLOC_FILE "clusterips" /* in stateDir */

/* The file registry loads before the loop runs; the API source once listed. */
static int
registry_ready(void *arg)
{
	return arg == NULL || reg_kube_synced(arg);
}

static int
registry_health(void *arg, char *err, size_t len, int *istio_missing)
{
	if (arg != NULL)
		return reg_kube_health(arg, err, len, istio_missing);
	err[0] = '\0';
	*istio_missing = -1; /* the file registry: nothing to install */
	return 1;
}

struct reload {
	struct em_daemon *d;
	struct state *st;
};

/* The config file changed (common/cfgwatch.c): relayNodes is taken at once
 * (the peers' relay flags); other keys wait for the next start. */
static void
controller_config(void *arg, const struct em_config *nc)
{
	struct reload *r = arg;
	struct em_config *c = &r->d->cfg;

	c->tunnel.n_relays = nc->tunnel.n_relays;
	memcpy(c->tunnel.relays, nc->tunnel.relays, sizeof(c->tunnel.relays));
	state_relays_changed(r->st);
	log_info("relayNodes: %zu node(s) (other changed keys take effect at the next start)",
		 c->tunnel.n_relays);
}

int
main(int argc, char **argv)
{
	struct reload reload;
	struct em_daemon d;
	struct server *srv;
	struct state *st;
	struct reg_file *rf = NULL;
	struct reg_kube *rk = NULL;
	struct ctl_http *http;
	struct kube_nodekey *nk;
	struct alloc *al;
	char desc[64], err[EM_PATH_MAX + 256], path[EM_PATH_MAX + 32];

	daemon_init(&d, "controller", argc, argv, NULL);
	/* registry.path: the file registry; else the Kubernetes API (kubeAPIConfig) */
	if (d.cfg.registry_path[0] != '\0')
		snprintf(desc, sizeof(desc), "file:%.58s", d.cfg.registry_path);
	else
		snprintf(desc, sizeof(desc), "kubernetes-api");

	/* acquire: the socket (runtime dir), our part of stateDir; then drop everything */
	srv = server_new(&d, desc);
	if (daemon_state_dir(&d, path, sizeof(path)) == -1)
		log_warn("stateDir %s: the clusterIP table and the API cache are not kept", path);
	/* what the controller keeps lives in stateDir/controller */
	snprintf(d.cfg.state_dir, sizeof(d.cfg.state_dir), "%s", path);
	privdrop(&d, NULL, 0);

	st = state_new(&d.cfg, server_emit, srv);
	server_set_state(srv, st);
	if (d.cfg.registry_path[0] != '\0') {
		/* Services without a clusterIP get one (the API server's job otherwise) */
		if ((al = alloc_new(d.cfg.service_cidr, err, sizeof(err))) == NULL)
			fatalx("%s: %s", d.cfg.path[0] ? d.cfg.path : "defaults", err);
		snprintf(path, sizeof(path), "%s/%s", d.cfg.state_dir, ALLOC_FILE);
		if (alloc_load(al, path, err, sizeof(err)) == -1)
			log_warnx("registry: %s; recomputing the given clusterIPs", err);
		state_set_alloc(st, al);
		rf = reg_file_new(d.loop, d.cfg.registry_path, st);
	} else
		rk = reg_kube_new(d.loop, &d.cfg, st);
	server_set_registry(srv, registry_health, registry_ready, rk);
	http = ctl_http_new(&d, srv, st);
	nk = kube_nodekey_new(rk, srv, d.cfg.node_name);

	reload.d = &d;
	reload.st = st;
	d.on_config = controller_config;
	d.arg = &reload;
	{
		const char *files[4];

		controller_sandbox(&d, files, rk != NULL ? reg_kube_files(rk, files) : 0);
	}
	daemon_start(&d);
	daemon_run(&d);

	kube_nodekey_free(nk);
	ctl_http_free(http);
	reg_file_free(rf);
	reg_kube_free(rk);
	server_free(srv);
	state_free(st);
	return 0;
}
