/*
 * sandbox_probe: applies one daemon's real sandbox (its <daemon>_sandbox.c,
 * linked in) to itself, then does one thing the daemon must not be able to
 * do, for tests/e2e/test_sandbox.sh.  A test binary: nothing in a daemon can
 * trigger this.
 *
 *   sandbox_probe DAEMON CONFIG call        mount(2) (of nothing, harmless if let
 *                                           through): killed, the call named
 *   sandbox_probe DAEMON CONFIG open FILE   open FILE: EACCES, then an allowed
 *                                           open (stateDir) still works; exit 0
 *                                           only when FILE was refused
 *   sandbox_probe DAEMON CONFIG state       prints "landlock STATE" (on,
 *                                           unsupported, off) and runs on
 */
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../controller/controller.h"
#include "../../dnsd/dns.h"
#include "../../gatewayd/gatewayd.h"
#include "../../proxyd/proxyd.h"
#include "../../socksd/socksd.h"
#include "../../tunneld/tunneld.h"
#include "daemon.h"
#include "log.h"
#include "sandbox.h"

int
main(int argc, char **argv)
{
	struct em_daemon d;
	char err[512];
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: sandbox_probe DAEMON CONFIG call|open FILE\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.name = argv[1];
	log_init(argv[1], 0);
	if (config_load(&d.cfg, argv[2], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (strcmp(d.name, "controller") == 0)
		controller_sandbox(&d, NULL, 0);
	else if (strcmp(d.name, "dnsd") == 0)
		dnsd_sandbox(&d, NULL);
	else if (strcmp(d.name, "proxyd") == 0)
		proxyd_sandbox(&d);
	else if (strcmp(d.name, "tunneld") == 0)
		tunneld_sandbox(&d);
	else if (strcmp(d.name, "socksd") == 0)
		socksd_sandbox(&d);
	else if (strcmp(d.name, "gatewayd") == 0)
		gatewayd_sandbox(&d);
	else {
		fprintf(stderr, "no daemon %s\n", d.name);
		return 2;
	}
	if (strcmp(argv[3], "state") == 0) {
		printf("landlock %s\n", sandbox_landlock_state());
		return 0;
	}
	if (strcmp(argv[3], "call") == 0) {
		long r =
		    syscall(SYS_mount, "none", "/nonexistent-sandbox-probe", "none", 0UL, NULL);

		printf("mount returned %ld (%s): not stopped\n", r,
		       r == -1 ? strerror(errno) : "ok");
		return 1;
	}
	if (strcmp(argv[3], "open") == 0 && argc == 5) {
		if ((fd = open(argv[4], O_RDONLY | O_CLOEXEC)) != -1) {
			printf("open %s: allowed\n", argv[4]);
			return 1;
		}
		printf("open %s: %s\n", argv[4], strerror(errno));
		if (errno != EACCES)
			return 1;
		/* still working: what the daemon needs is there */
		if ((fd = open(d.cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			printf("open %s: %s\n", d.cfg.state_dir, strerror(errno));
			return 1;
		}
		close(fd);
		printf("open %s: allowed, landlock %s\n", d.cfg.state_dir,
		       sandbox_landlock_state());
		return 0;
	}
	return 2;
}
