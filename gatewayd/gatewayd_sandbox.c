/*
 * gatewayd's sandbox (common/sandbox.h): its certificates come from the
 * controller (Secrets), so files are only OpenSSL's configuration and the
 * system CAs; its listeners are made while it runs (CAP_NET_BIND_SERVICE).
 */
#include "daemon.h"
#include "gatewayd.h"
#include "log.h"
#include "sandbox.h"

static const char *const gatewayd_syscalls[] = {NULL};

void
gatewayd_sandbox(struct em_daemon *d)
{
	struct sandbox sb = {.name = "gatewayd", .syscalls = gatewayd_syscalls};
	char err[256];

	sandbox_add_daemon(&sb, d);
	sandbox_add(&sb, "/etc/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/lib/ssl", SANDBOX_RO);
	sandbox_add(&sb, "/usr/share/ca-certificates", SANDBOX_RO);
	if (sandbox_apply(&sb, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
}
