/*
 * dnsd's sandbox (common/sandbox.h): its sockets are open before this, so it
 * needs the base calls only; it reads resolv.conf (the upstreams) again when
 * it changes.
 */
#include "daemon.h"
#include "dns.h"
#include "log.h"
#include "sandbox.h"

static const char *const dnsd_syscalls[] = {NULL};

void
dnsd_sandbox(struct em_daemon *d, const char *resolv_conf)
{
	struct sandbox sb = {.name = "dnsd", .syscalls = dnsd_syscalls};
	char err[256];

	sandbox_add_daemon(&sb, d);
	sandbox_add(&sb, "/etc/resolv.conf", SANDBOX_RO);
	sandbox_add(&sb, resolv_conf, SANDBOX_RO);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
