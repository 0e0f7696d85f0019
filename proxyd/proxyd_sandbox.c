/*
 * proxyd's sandbox (common/sandbox.h).  proxyd runs nft or iptables for its
 * rules (rules.c): the children inherit the filter and the rule set, so the
 * lists hold what they need too: fork, execve and wait, capset (ambient
 * CAP_NET_ADMIN for the child), the binaries (read and execute on the
 * system's bin directories) and /etc read-only (nft and iptables read their
 * tables there; ld.so reads ld.so.cache).
 */
#include "daemon.h"
#include "log.h"
#include "proxyd.h"
#include "sandbox.h"

static const char *const proxyd_syscalls[] = {"fork",
					      "vfork",
					      "clone",
					      "clone3",
					      "execve",
					      "execveat",
					      "wait4",
					      "waitid",
					      "capset",
					      "setpgid",
					      "sched_getparam",
					      "sched_getscheduler",
					      "sched_setaffinity",
					      "getcpu",
					      NULL};

void
proxyd_sandbox(struct em_daemon *d)
{
	static const char *const rx[] = {"/usr/sbin", "/usr/bin", "/sbin",	"/bin", "/usr/lib",
					 "/lib",      "/lib64",	  "/usr/lib64", NULL};
	struct sandbox sb = {.name = "proxyd", .syscalls = proxyd_syscalls};
	char err[256];
	size_t i;

	sandbox_add_daemon(&sb, d);
	for (i = 0; rx[i] != NULL; i++)
		sandbox_add(&sb, rx[i], SANDBOX_RX);
	sandbox_add(&sb, "/etc", SANDBOX_RO);
	sandbox_add(&sb, "/proc/net", SANDBOX_RO);
	sandbox_add(&sb, "/run/xtables.lock", SANDBOX_RW);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
