/*
 * edgemeshctl: status, services, peers, gen-psk.  It reads the same config
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

static int cmd_gen_psk(const struct em_config *);

/* One line each in the usage, the long text for "edgemeshctl help CMD" and "CMD --help". */
static const struct ctl_cmd {
	const char *name, *summary, *help;
	int (*run)(const struct em_config *);
	int needs_cfg; /* 0: run(NULL) without reading the config */
} cmds[] = {
    {"status", "each daemon: connected, version, uptime, state version",
     "Asks the controller (controller.sock in commonConfig.runtimeDir) for each\n"
     "daemon's health: connected, build version, pid, uptime, RSS, state version.\n"
     "Exit 1 when the controller cannot be reached.\n",
     ctl_status, 1},
    {"services", "services, ports, endpoints with node names, LB policy",
     "Lists the services the controller serves: cluster IPs, ports, the\n"
     "load-balancing policy and every endpoint with its node name.\n",
     ctl_services, 1},
    {"peers", "tunnel peers: address, state, RTT, bytes, streams",
     "Asks tunneld (tunnel.sock in commonConfig.runtimeDir) for its peers: node,\n"
     "address, path (direct or relayed), state, RTT, bytes and open streams.\n",
     ctl_peers, 1},
    {"gen-psk", "a new PSK (32 random bytes, base64)",
     "Prints a new PSK on stdout; reads no config.  Install it for tunneld:\n"
     "  edgemeshctl gen-psk > /etc/edgemesh/psk\n"
     "  chown edgemesh-tunneld /etc/edgemesh/psk && chmod 600 /etc/edgemesh/psk\n",
     cmd_gen_psk, 0},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* --help: stdout, exit 0; a usage error: stderr, exit 2. */
static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;
	size_t i;

	fprintf(f,
		"usage: edgemeshctl [-c file] command\n"
		"       edgemeshctl help command | --help | --version\n"
		"  -c file  config (default %s)\ncommands:\n",
		EM_CONFIG_DEFAULT);
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	exit(status);
}

static const struct ctl_cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	fprintf(stderr, "edgemeshctl: unknown command \"%s\"\n", name);
	usage(2);
	return NULL;
}

static int
cmd_help(const struct ctl_cmd *c)
{
	printf("usage: edgemeshctl [-c file] %s\n%s: %s\n\n%s", c->name, c->name, c->summary,
	       c->help);
	return 0;
}

static int
cmd_gen_psk(const struct em_config *cfg)
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
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const struct ctl_cmd *c;
	struct em_config cfg;
	const char *path = NULL;
	char err[1024];
	int ch;

	log_init("edgemeshctl", 0);
	/* "+": options stop at the command, so "CMD --help" reaches the command */
	while ((ch = getopt_long(argc, argv, "+c:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(0);
			break;
		case 'V':
			printf("edgemeshctl %s\n", EM_BUILD_VERSION);
			return 0;
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 2 && strcmp(argv[0], "help") == 0)
		return cmd_help(cmd_find(argv[1]));
	if (argc == 1 && strcmp(argv[0], "help") == 0)
		usage(0);
	if (argc == 0)
		usage(2);
	c = cmd_find(argv[0]);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cmd_help(c);
	if (argc != 1) {
		fprintf(stderr, "edgemeshctl %s: takes no arguments\n", c->name);
		usage(2);
	}
	if (!c->needs_cfg)
		return c->run(NULL);
	if (path == NULL && access(EM_CONFIG_DEFAULT, F_OK) == 0)
		path = EM_CONFIG_DEFAULT;
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return c->run(&cfg);
}
