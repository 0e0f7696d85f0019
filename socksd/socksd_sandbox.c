/*
 * socksd's sandbox (common/sandbox.h): a listening socket, tunnel.sock and
 * controller.sock; the base calls and base paths are all it needs.
 */
#include "daemon.h"
#include "log.h"
#include "sandbox.h"
#include "socksd.h"

static const char *const socksd_syscalls[] = {NULL};

void
socksd_sandbox(struct em_daemon *d)
{
	struct sandbox sb = {.name = "socksd", .syscalls = socksd_syscalls};
	char err[256];

	sandbox_add_daemon(&sb, d);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
