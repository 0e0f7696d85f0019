/*
 * edgemeshctl: status, services, peers, ping, trace, doctor, gen-psk, health;
 * help.  It reads the same config as the daemons (-c FILE) to find the
 * runtime dir, and talks to them with the same framed msgpack as they do.
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

/* The usage lists them; "edgemeshctl help CMD" and "CMD --help" print the long text. */
static const struct ctl_cmd {
	const char *name, *args, *summary, *help;
} cmds[] = {
    {"status", " [-o json]", "each daemon: connected, version, uptime, state version",
     "Asks the controller (controller.sock in commonConfig.runtimeDir) for each\n"
     "daemon's health: connected, build version, pid, uptime, RSS, state version.\n"
     "Exit 1 when the controller cannot be reached.\n"},
    {"services", " [-o json]", "services, ports, endpoints with node names, LB policy",
     "Lists the services the controller serves: cluster IPs, ports, the\n"
     "load-balancing policy and every endpoint with its node name.\n"},
    {"peers", " [-o json]", "tunnel peers: address, state, path, RTT, bytes, streams, cipher",
     "Asks tunneld (tunnel.sock in commonConfig.runtimeDir) for its peers: node,\n"
     "address, path (direct, punched, ws, or relayed via NODE), state, RTT, bytes,\n"
     "open streams and the session's transport cipher (chachapoly, aesgcm).\n"},
    {"ping", " NODE [-o json]", "round trip to NODE over the tunnel, and the path",
     "Times a round trip to NODE inside its tunnel session (in band) and names\n"
     "the path (direct, punched, ws, or relayed through a node).\n"},
    {"trace", " SERVICE[:PORT] | IP:PORT | NAME[:PORT] [-o json]",
     "the way a request goes, hop by hop, each hop timed",
     "Follows a request to a Service hop by hop, each timed: the name through\n"
     "dnsd, the ClusterIP and its policy, each ready endpoint (a connect here, or\n"
     "the tunnel path and the far node's dial), then a real connection through\n"
     "the redirect rules and proxyd.  Exit 1 when a hop failed (named).\n"},
    {"doctor", " [--edgecore FILE] [-o json]",
     "every fault found on this node, with what to change (exit 1 when any)",
     "Checks this node: daemons down or not ready, a peer with another PSK, relays\n"
     "unreachable, DNS upstreams that do not answer, the registry or API\n"
     "unreachable, Istio CRDs missing, proxyd's rules displaced, Services without\n"
     "a ready endpoint, edgecore's clusterDNS (its config, or --edgecore FILE).\n"
     "One line per fault saying what to change (-o json: a JSON document).\n"
     "Exit 1 when any fault is found.\n"},
    {"gen-psk", "", "a new PSK (32 random bytes, base64)",
     "Prints a new PSK on stdout; reads no config.  Install it for tunneld:\n"
     "  edgemeshctl gen-psk > /etc/edgemesh/psk\n"
     "  chown edgemesh-tunneld /etc/edgemesh/psk && chmod 600 /etc/edgemesh/psk\n"},
    {"health", " [--live] [DAEMON]", "exit 0 when DAEMON (default: this node's) is ready (or live)",
     "Exit 0 when the controller answers and DAEMON (without one: every daemon\n"
     "the config enables or the controller has seen) is ready: connected to it,\n"
     "reporting, with its state and listeners (tunneld: its peers; gatewayd:\n"
     "every Gateway port; the controller: its registry synced).  --live: only\n"
     "connected and reporting (a health report in the last 10 s), so a hung\n"
     "daemon fails it but one waiting for its state does not.  1 otherwise, with\n"
     "one line saying which and why.  The Kubernetes probes run it (k8s/):\n"
     "readiness without --live, startup and liveness with it.\n"},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* --help: stdout, exit 0; a usage error: stderr, exit 2. */
static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;
	size_t i;

	fprintf(f,
		"usage: edgemeshctl [-c file] [-o json] command [args]\n"
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
	printf("usage: edgemeshctl [-c file] %s%s\n%s: %s\n\n%s", c->name, c->args, c->name,
	       c->summary, c->help);
	return 0;
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
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const struct ctl_cmd *c;
	struct em_config cfg;
	const char *path = NULL, *edgecore = NULL, *target = NULL;
	char err[1024];
	int ch, i, json = 0, live = 0;

	log_init("edgemeshctl", 0);
	/* "+": options stop at the command, so "CMD --help" reaches the command */
	while ((ch = getopt_long(argc, argv, "+c:o:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0)
				usage(2);
			json = 1;
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
	if (argc < 1)
		usage(2);
	if (strcmp(argv[0], "help") == 0) {
		if (argc == 1)
			usage(0);
		return cmd_help(cmd_find(argv[1]));
	}
	c = cmd_find(argv[0]);
	if (argc >= 2 && strcmp(argv[0], "health") == 0 && strcmp(argv[1], "--live") == 0) {
		live = 1;
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	/* an argument, then options: -o json, doctor's --edgecore FILE, health's --live */
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
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cmd_help(c);
		if (strcmp(argv[i], "--live") == 0 && strcmp(argv[0], "health") == 0) {
			live = 1;
			continue;
		}
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && strcmp(argv[i + 1], "json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--edgecore") == 0 && i + 1 < argc &&
			 strcmp(argv[0], "doctor") == 0)
			edgecore = argv[i + 1];
		else
			usage(2);
		i++;
	}
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
		return ctl_health(&cfg, target, live);
	fprintf(stderr, "edgemeshctl %s: what to %s is missing\n", c->name, c->name);
	usage(2);
}
