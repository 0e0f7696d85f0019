/*
 * The controller's sandbox (common/sandbox.h).  Files: the registry
 * directory (read, watched with inotify), its state dir (clusterIP table, API
 * cache), and for the Kubernetes API the kubeconfig's directory, the
 * credentials it names and the system CAs.  Calls: clone for libcurl's
 * threaded resolver.
 */
#include "controller.h"
#include "daemon.h"
#include "log.h"
#include "sandbox.h"

static const char *const controller_syscalls[] = {
    "clone",   "clone3", "sched_setaffinity", "sched_getparam", "sched_getscheduler", "getcpu",
    "mincore", NULL};

void
controller_sandbox(struct em_daemon *d, const char *const *files, size_t nfiles)
{
	struct sandbox sb = {.name = "controller", .syscalls = controller_syscalls};
	char err[256];
	size_t i;

	sandbox_add_daemon(&sb, d);
	sandbox_add(&sb, d->cfg.registry_path, SANDBOX_RO);
	sandbox_add_dir_of(&sb, d->cfg.kube.kubeconfig, SANDBOX_RO);
	sandbox_add(&sb, "/var/run/secrets/kubernetes.io/serviceaccount", SANDBOX_RO);
	for (i = 0; i < nfiles; i++)
		sandbox_add_dir_of(&sb, files[i], SANDBOX_RO);
	sandbox_add(&sb, "/etc/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/lib/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/share/ca-certificates", SANDBOX_RO);
	sandbox_add(&sb, "/etc/resolv.conf", SANDBOX_RO);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
