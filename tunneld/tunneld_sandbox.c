/*
 * tunneld's sandbox (common/sandbox.h).  The list is generous on purpose for
 * the socket families tunneld uses and is growing into (fd hand-over with
 * pidfds, memfds, splice, timers, threads for future crypto offload): a
 * missing call ends the process, so every tunneld change re-runs its tests
 * with the sandbox on.  Files: its state dir (static key); the PSK is read
 * before the sandbox, once.
 */
#include "daemon.h"
#include "log.h"
#include "sandbox.h"
#include "tunneld.h"

static const char *const tunneld_syscalls[] = {"clone",
					       "clone3",
					       "pidfd_open",
					       "pidfd_getfd",
					       "pidfd_send_signal",
					       "sched_setaffinity",
					       "sched_getparam",
					       "sched_getscheduler",
					       "getcpu",
					       "vmsplice",
					       "msync",
					       "mincore",
					       "fallocate",
					       "io_uring_setup",
					       "io_uring_enter",
					       "io_uring_register",
					       "wait4",
					       "waitid",
					       NULL};

void
tunneld_sandbox(struct em_daemon *d)
{
	struct sandbox sb = {.name = "tunneld", .syscalls = tunneld_syscalls};
	char err[256];

	sandbox_add_daemon(&sb, d);
	sandbox_add(&sb, "/etc/resolv.conf", SANDBOX_RO);
	/* TLS transports (ws over https) read the system CAs */
	sandbox_add(&sb, "/etc/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/lib/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/share/ca-certificates", SANDBOX_RO);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
