/*
 * tunneld's sandbox (common/sandbox.h).  The list is generous on purpose for
 * the socket families tunneld uses and is growing into (fd hand-over with
 * pidfds, memfds, splice, timers, threads for future crypto offload): a
 * missing call ends the process, so every tunneld change re-runs its tests
 * with the sandbox on.  Files: its state dir (static key); the PSK is read
 * before the sandbox, once.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sandbox.h"
#include "tunneld.h"

static const char *const tunneld_syscalls[] = {
    "clone", "clone3", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "sched_setaffinity",
    "sched_getparam", "sched_getscheduler", "getcpu", "vmsplice", "msync", "mincore", "fallocate",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "wait4", "waitid",
    /* a reload: a new exec of tunneld (tun_handover.c),
     * which starts under this very sandbox */
    "execve", "capset", NULL};

/* <sys/auxv.h> brings <elf.h>, whose EV_* clash with libev's */
#define TUN_AT_BASE 7
unsigned long getauxval(unsigned long);

/* The ELF interpreter (ld.so) mapped into us, as /proc/self/maps names it
 * (resolved): an exec opens it for execution too.  NULL if none. */
static const char *
interp_path(char *out, size_t len)
{
	unsigned long base = getauxval(TUN_AT_BASE), start;
	char line[4096 + 128], *path;
	FILE *f;

	out[0] = '\0';
	if (base == 0 || (f = fopen("/proc/self/maps", "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-", &start) != 1 || start != base ||
		    (path = strchr(line, '/')) == NULL)
			continue;
		path[strcspn(path, "\n")] = '\0';
		snprintf(out, len, "%s", path);
		break;
	}
	fclose(f);
	return out[0] ? out : NULL;
}

void
tunneld_sandbox(struct em_daemon *d)
{
	struct sandbox sb = {.name = "tunneld", .syscalls = tunneld_syscalls};
	char err[256], exe[4096], interp[PATH_MAX];
	ssize_t n;

	sandbox_add_daemon(&sb, d);
	sandbox_add(&sb, "/etc/resolv.conf", SANDBOX_RO);
	/* TLS transports (ws over https) read the system CAs */
	sandbox_add(&sb, "/etc/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/lib/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/share/ca-certificates", SANDBOX_RO);
	/* a reload execs the binary (an upgrade: a new file there), which reads the config */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		sandbox_add_dir_of(&sb, exe, SANDBOX_RX);
	}
	if (interp_path(interp, sizeof(interp)) != NULL)
		sandbox_add(&sb, interp, SANDBOX_RX);
	sandbox_add_dir_of(&sb, d->cfg_path != NULL ? d->cfg_path : d->cfg.path, SANDBOX_RO);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
