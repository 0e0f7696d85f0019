/*
 * edgemeshctl: status, services, peers, gen-psk, health.  It reads the same config
 * as the daemons (-c FILE) to find the runtime dir, and talks to them with
 * the same framed msgpack as they do.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "log.h"

static void
usage(void)
{
	fprintf(stderr, "usage: edgemeshctl [-c file] [-o json] command\n"
			"commands:\n"
			"  status     each daemon: connected, version, uptime, state version\n"
			"  services   services, ports, endpoints with node names, LB policy\n"
			"  peers      tunnel peers: address, state, RTT, bytes, streams\n"
			"  ping NODE  round trip to NODE over the tunnel, and the path\n"
			"  trace SERVICE[:PORT] | IP:PORT | NAME[:PORT]\n"
			"             the way a request goes, hop by hop, each hop timed\n"
			"  doctor [--edgecore FILE]\n"
			"             every fault found on this node, with what to change\n"
			"             (exit 1 when any)\n"
			"  gen-psk    a new PSK (32 random bytes, base64)\n"
			"  health [DAEMON]\n"
			"             exit 0 when DAEMON (default: all) is connected and synced\n");
	exit(2);
}

static int
cmd_gen_psk(void)
{
	unsigned char key[32];
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	if (sodium_init() == -1)
		return 1;
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(key, sizeof(key));
	printf("%s\n", b64);
	return 0;
}

int
main(int argc, char **argv)
{
	struct em_config cfg;
	const char *path = NULL, *edgecore = NULL, *target = NULL;
	char err[1024];
	int ch, i, json = 0;

	log_init("edgemeshctl", 0);
	while ((ch = getopt(argc, argv, "+c:o:h")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0)
				usage();
			json = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	/* an argument, then options: -o json, doctor's --edgecore FILE */
	if (argc >= 2 &&
	    (strcmp(argv[0], "ping") == 0 || strcmp(argv[0], "trace") == 0 ||
	     strcmp(argv[0], "health") == 0) &&
	    argv[1][0] != '-') {
		target = argv[1];
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && strcmp(argv[i + 1], "json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--edgecore") == 0 && i + 1 < argc &&
			 strcmp(argv[0], "doctor") == 0)
			edgecore = argv[i + 1];
		else
			usage();
		i++;
	}
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "gen-psk") == 0)
		return cmd_gen_psk();
	if (path == NULL && access(EM_CONFIG_DEFAULT, F_OK) == 0)
		path = EM_CONFIG_DEFAULT;
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (strcmp(argv[0], "status") == 0)
		return ctl_status(&cfg, json);
	if (strcmp(argv[0], "services") == 0)
		return ctl_services(&cfg, json);
	if (strcmp(argv[0], "peers") == 0)
		return ctl_peers(&cfg, json);
	if (strcmp(argv[0], "trace") == 0 && target != NULL)
		return ctl_trace(&cfg, target, json);
	if (strcmp(argv[0], "ping") == 0 && target != NULL)
		return ctl_ping(&cfg, target, json);
	if (strcmp(argv[0], "doctor") == 0)
		return ctl_doctor(&cfg, edgecore, json);
	if (strcmp(argv[0], "health") == 0)
		return ctl_health(&cfg, target);
	usage();
}
