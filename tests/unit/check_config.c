/*
 * config: golden files in tests/fixtures/config/ (NAME.yaml with NAME.out,
 * the expected config_dump(), or NAME.err, the expected error), then the
 * environment presets (NODE_NAME, KUBERNETES_PORT), warnings, and inputs
 * that must not crash.  Run from the repository root.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "yaml_scalar.h"

#define FIXDIR	    "tests/fixtures/config"
#define GOLDEN_MAX  256
#define NAME_LEN    128
#define TEXT_MAX    (64 * 1024)
#define GOLDEN_NODE "golden-node"

static char goldens[GOLDEN_MAX][NAME_LEN]; /* "NAME.out" or "NAME.err" */
static int ngoldens;
static char inputs[GOLDEN_MAX][NAME_LEN]; /* "NAME.yaml" */
static int ninputs;

static struct em_config cfg, cfg2;

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static void
scan_fixtures(void)
{
	struct dirent *de;
	size_t n;
	DIR *d;

	if ((d = opendir(FIXDIR)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n >= NAME_LEN)
			continue;
		if ((has_suffix(de->d_name, ".out") || has_suffix(de->d_name, ".err")) &&
		    ngoldens < GOLDEN_MAX)
			memcpy(goldens[ngoldens++], de->d_name, n + 1);
		else if (has_suffix(de->d_name, ".yaml") && ninputs < GOLDEN_MAX)
			memcpy(inputs[ninputs++], de->d_name, n + 1);
	}
	closedir(d);
	qsort(goldens, (size_t)ngoldens, NAME_LEN, name_cmp);
	qsort(inputs, (size_t)ninputs, NAME_LEN, name_cmp);
}

/* Whole file into a static-size buffer; -1 if unreadable. */
static int
slurp(const char *path, char *buf, size_t len)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

static void
fixture_path(char *buf, size_t len, const char *name, const char *suffix)
{
	int r;

	r = snprintf(buf, len, FIXDIR "/%s%s", name, suffix);
	ck_assert(r > 0 && (size_t)r < len);
}

static void
dump_to(const struct em_config *c, char *buf, size_t len)
{
	FILE *f;

	f = fmemopen(buf, len, "w");
	ck_assert_ptr_nonnull(f);
	config_dump(c, f);
	fclose(f);
}

/* The first line where a and b differ, for failure messages. */
static void
first_diff(const char *a, const char *b, char *out, size_t len)
{
	const char *la = a, *lb = b;
	int line = 1;

	while (*a != '\0' && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	snprintf(out, len, "line %d:\n  got:  %.*s\n  want: %.*s", line, (int)strcspn(la, "\n"), la,
		 (int)strcspn(lb, "\n"), lb);
}

static void
golden_env(void)
{
	setenv("NODE_NAME", GOLDEN_NODE, 1);
	unsetenv("KUBERNETES_PORT");
}

/* Capture stderr into a temporary file; returns the saved fd. */
static int
stderr_capture(FILE **tmp)
{
	int saved;

	fflush(stderr);
	saved = dup(2);
	*tmp = tmpfile();
	ck_assert_ptr_nonnull(*tmp);
	dup2(fileno(*tmp), 2);
	return saved;
}

static void
stderr_restore(int saved, FILE *tmp, char *buf, size_t len)
{
	size_t n;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, len - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

static int
count_lines(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static char tmppath[64];

static void
write_tmp(const char *buf, size_t len)
{
	FILE *f;

	f = fopen(tmppath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void
tmp_setup(void)
{
	int fd;

	/* thousands of rewrites: prefer memory over disk */
	snprintf(tmppath, sizeof(tmppath), "%s/check_config.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	fd = mkstemp(tmppath);
	ck_assert_int_ne(fd, -1);
	close(fd);
}

/* Unknown-key warnings from garbage are expected; keep the output short. */
static void
quiet_setup(void)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
}

static void
tmp_teardown(void)
{
	unlink(tmppath);
}

/* ---- goldens ---- */

START_TEST(test_golden)
{
	static char want[TEXT_MAX], got[TEXT_MAX];
	char base[NAME_LEN], yaml[NAME_LEN + 64], exp[NAME_LEN + 64], err[1024], diff[512];
	const char *name = goldens[_i];
	size_t n;
	int rv, is_err;

	n = strlen(name) - 4;
	snprintf(base, sizeof(base), "%.*s", (int)n, name);
	is_err = has_suffix(name, ".err");
	fixture_path(yaml, sizeof(yaml), base, ".yaml");
	fixture_path(exp, sizeof(exp), name, "");
	ck_assert_msg(slurp(exp, want, sizeof(want)) == 0, "%s unreadable", exp);

	golden_env();
	err[0] = '\0';
	rv = config_load(&cfg, yaml, err, sizeof(err));
	if (is_err) {
		want[strcspn(want, "\n")] = '\0';
		ck_assert_msg(rv == -1, "%s: loaded, expected error: %s", yaml, want);
		ck_assert_msg(strcmp(err, want) == 0, "%s:\n  got:  %s\n  want: %s", yaml, err,
			      want);
		/* a failed load leaves the defaults, not half a file */
		config_defaults(&cfg2);
		ck_assert_mem_eq(&cfg, &cfg2, sizeof(cfg));
	} else {
		ck_assert_msg(rv == 0, "%s: %s", yaml, err);
		ck_assert_str_eq(cfg.path, yaml);
		dump_to(&cfg, got, sizeof(got));
		first_diff(got, want, diff, sizeof(diff));
		ck_assert_msg(strcmp(got, want) == 0, "%s: dump differs at %s", yaml, diff);
	}
}
END_TEST

START_TEST(test_golden_inventory)
{
	char base[NAME_LEN], o[NAME_LEN + 64], e[NAME_LEN + 64];
	struct stat st;
	int i, nout = 0, nerr = 0;

	ck_assert_int_ge(ninputs, 20);
	/* every input has exactly one expectation */
	for (i = 0; i < ninputs; i++) {
		snprintf(base, sizeof(base), "%.*s", (int)(strlen(inputs[i]) - 5), inputs[i]);
		fixture_path(o, sizeof(o), base, ".out");
		fixture_path(e, sizeof(e), base, ".err");
		ck_assert_msg((stat(o, &st) == 0) != (stat(e, &st) == 0),
			      "%s needs exactly one of .out and .err", inputs[i]);
	}
	for (i = 0; i < ngoldens; i++)
		has_suffix(goldens[i], ".err") ? nerr++ : nout++;
	ck_assert_int_ge(nout, 8);
	ck_assert_int_ge(nerr, 10);
}
END_TEST

/* ---- presets and environment ---- */

START_TEST(test_defaults_edge_mode)
{
	unsetenv("KUBERNETES_PORT");
	config_defaults(&cfg);
	ck_assert_str_eq(cfg.kube.content_type, "application/json");
	ck_assert(cfg.dns.enable);
	ck_assert_str_eq(cfg.bridge_device, "edgemesh0");
	ck_assert_str_eq(cfg.bridge_ip, "169.254.96.16");
	ck_assert_str_eq(cfg.dns.listen_interface, "edgemesh0");
	ck_assert_str_eq(cfg.proxy.listen_interface, "edgemesh0");
	ck_assert_int_eq(cfg.dns.listen_port, 53);
	ck_assert_int_eq(cfg.dns.ttl, 30);
	ck_assert_int_eq(cfg.dns.cache_size, 4096);
	ck_assert_uint_eq(cfg.dns.n_upstreams, 0);
	ck_assert_int_eq(cfg.proxy.socks5_port, 10800);
	ck_assert(!cfg.proxy.enable);
	ck_assert_int_eq(cfg.proxy.filter_mode, EM_FILTER_IF_LABEL_EXISTS);
	ck_assert_int_eq(cfg.proxy.hash_partitions, 100);
	ck_assert_int_eq(cfg.proxy.hash_replicas, 10);
	ck_assert(cfg.proxy.hash_load == 1.25);
	ck_assert_str_eq(cfg.proxy.rules_backend, "auto");
	ck_assert(!cfg.tunnel.enable);
	ck_assert_int_eq(cfg.tunnel.listen_port, 20006);
	ck_assert_str_eq(cfg.tunnel.transport, "tcp");
	ck_assert_str_eq(cfg.tunnel.rendezvous, "EDGEMESH_PLAYGOUND");
	ck_assert_str_eq(cfg.tunnel.psk_path, "/etc/edgemesh/psk");
	ck_assert_uint_eq(cfg.tunnel.n_allowed_ports, 1);
	ck_assert_int_eq(cfg.tunnel.allowed_ports[0], 22);
	ck_assert_str_eq(cfg.kube.metaserver, "http://127.0.0.1:10550");
	ck_assert_str_eq(cfg.kube.tls_ca_file, "/etc/edgemesh/metaserver/rootCA.crt");
	ck_assert_str_eq(cfg.kube.tls_cert_file, "/etc/edgemesh/metaserver/server.crt");
	ck_assert_str_eq(cfg.kube.tls_key_file, "/etc/edgemesh/metaserver/server.key");
	ck_assert_int_eq(cfg.kube.qps, 100);
	ck_assert_int_eq(cfg.kube.burst, 200);
	ck_assert_str_eq(cfg.runtime_dir, "/run/edgemesh");
	ck_assert_str_eq(cfg.state_dir, "/var/lib/edgemesh");
	ck_assert_str_eq(cfg.cluster_domain, "cluster.local");
	ck_assert_uint_eq(cfg.n_ipc_users, 0);
	ck_assert_str_eq(cfg.registry_path, "");
	ck_assert_str_eq(cfg.gateway.nic, "*");
	ck_assert_str_eq(cfg.gateway.include_ip, "*");
	ck_assert_str_eq(cfg.gateway.exclude_ip, "*");
	ck_assert_str_eq(cfg.path, "");
}
END_TEST

START_TEST(test_defaults_cloud_mode)
{
	setenv("KUBERNETES_PORT", "tcp://10.96.0.1:443", 1);
	config_defaults(&cfg);
	ck_assert_str_eq(cfg.kube.content_type, "application/vnd.kubernetes.protobuf");
	ck_assert(!cfg.dns.enable);
	/* set but empty still means kubelet injected it */
	setenv("KUBERNETES_PORT", "", 1);
	config_defaults(&cfg);
	ck_assert(!cfg.dns.enable);
}
END_TEST

/* The presets come before the file, so the file can still override them. */
START_TEST(test_cloud_mode_file_overrides)
{
	char err[512];

	setenv("KUBERNETES_PORT", "tcp://10.96.0.1:443", 1);
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/agent-configmap.yaml", err, sizeof(err)), 0);
	ck_assert(!cfg.dns.enable);
	ck_assert(cfg.proxy.enable);
	ck_assert_str_eq(cfg.kube.content_type, "application/vnd.kubernetes.protobuf");
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/mixed-case.yaml", err, sizeof(err)), 0);
	ck_assert(!cfg.dns.enable);
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/full-agent.yaml", err, sizeof(err)), 0);
	ck_assert(cfg.dns.enable);

	unsetenv("KUBERNETES_PORT");
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/agent-configmap.yaml", err, sizeof(err)), 0);
	ck_assert(cfg.dns.enable);
	ck_assert_str_eq(cfg.kube.content_type, "application/json");
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/full-agent.yaml", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.kube.content_type, "application/vnd.kubernetes.protobuf");
}
END_TEST

START_TEST(test_node_name_env)
{
	char err[512];

	setenv("NODE_NAME", "edge-from-env", 1);
	config_defaults(&cfg);
	ck_assert_str_eq(cfg.node_name, "edge-from-env");
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/agent-configmap.yaml", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.node_name, "edge-from-env");
	/* the file wins over the environment */
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/our-keys.yaml", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.node_name, "edge-node-2");
	/* EdgeMesh's injected nodeName keys do not set ours */
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/full-agent.yaml", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.node_name, "edge-from-env");
}
END_TEST

START_TEST(test_node_name_hostname)
{
	char host[EM_NAME_LEN];

	memset(host, 0, sizeof(host));
	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	unsetenv("NODE_NAME");
	config_defaults(&cfg);
	ck_assert_str_eq(cfg.node_name, host);
	setenv("NODE_NAME", "", 1);
	config_defaults(&cfg);
	ck_assert_str_eq(cfg.node_name, host);
}
END_TEST

/* ---- loading ---- */

START_TEST(test_null_path)
{
	char err[64] = "junk";

	golden_env();
	ck_assert_int_eq(config_load(&cfg, NULL, err, sizeof(err)), 0);
	config_defaults(&cfg2);
	ck_assert_mem_eq(&cfg, &cfg2, sizeof(cfg));
	ck_assert_str_eq(cfg.path, "");
}
END_TEST

START_TEST(test_unreadable)
{
	char err[512];

	ck_assert_int_eq(config_load(&cfg, FIXDIR, err, sizeof(err)), -1);
	ck_assert_str_eq(err, FIXDIR ": Is a directory");
	ck_assert_str_eq(cfg.path, "");
	ck_assert_int_eq(config_load(&cfg, "/nonexistent/edgemesh.yaml", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/edgemesh.yaml: No such file or directory");
}
END_TEST

START_TEST(test_path_too_long)
{
	char path[EM_PATH_MAX + 100], err[512];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(config_load(&cfg, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "File name too long"));
	ck_assert_str_eq(cfg.path, "");
}
END_TEST

/* A tiny or missing error buffer never overflows. */
START_TEST(test_small_err_buffer)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/e-int-type.yaml", err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/e-int-type.yaml", NULL, 0), -1);
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/e-syntax.yaml", err, 1), -1);
	ck_assert_int_eq(config_load(&cfg, "/nonexistent", NULL, 99), -1);
}
END_TEST

START_TEST(test_unknown_warned_once)
{
	static char log[TEXT_MAX];
	char err[512];
	FILE *tmp;
	int saved;

	/* a private copy: warnings are once per file and key, also without fork */
	ck_assert_int_eq(slurp(FIXDIR "/unknown-keys.yaml", log, sizeof(log)), 0);
	write_tmp(log, strlen(log));
	saved = stderr_capture(&tmp);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), 0);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), 0);
	stderr_restore(saved, tmp, log, sizeof(log));

	ck_assert_int_eq(count_lines(log, "unknown key"), 6);
	ck_assert_int_eq(count_lines(log, ":6:3: unknown key commonConfig.colour ignored"), 1);
	ck_assert_int_eq(count_lines(log, ":2:1: unknown key metadata "), 1);
	ck_assert_ptr_nonnull(strstr(log, tmppath));
	ck_assert_int_eq(count_lines(log, "unknown key modules.networking "), 1);
	ck_assert_int_eq(count_lines(log, "unknown key modules.edgeDNS.someFutureKey "), 1);
	ck_assert_int_eq(count_lines(log, "unknown key modules.edgeTunnel.relayNodes[0].region "),
			 1);
	ck_assert_int_eq(count_lines(log, "unknown key modules.\\\"edgeProxy.enable\\\" "), 1);
}
END_TEST

/*
 * EdgeMesh's own keys, injected ones included, load with no "unknown key";
 * the only words are for keys accepted but not acted on, each once.
 */
START_TEST(test_edgemesh_keys_silent)
{
	static const char *files[] = {
	    FIXDIR "/full-agent.yaml",	 FIXDIR "/gateway.yaml",
	    FIXDIR "/mixed-case.yaml",	 FIXDIR "/agent-configmap.yaml",
	    FIXDIR "/agent-relays.yaml", FIXDIR "/our-keys.yaml",
	    "etc/edgemesh.yaml",
	};
	static char log[TEXT_MAX];
	char err[512];
	FILE *tmp;
	size_t i;
	int saved;

	saved = stderr_capture(&tmp);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		err[0] = '\0';
		if (config_load(&cfg, files[i], err, sizeof(err)) == -1)
			break;
	}
	stderr_restore(saved, tmp, log, sizeof(log));
	ck_assert_msg(i == sizeof(files) / sizeof(files[0]), "%s", err);
	ck_assert_msg(strstr(log, "unknown key") == NULL, "unexpected output: %s", log);
	ck_assert_int_eq(count_lines(log, "msg="), count_lines(log, "but not acted on"));
	ck_assert_int_eq(count_lines(log, "full-agent.yaml:23:3: key commonConfig.pprofConfig is "
					  "accepted for EdgeMesh but not acted on"),
			 1);
}
END_TEST

/* A key we accept but do not act on is named, with why: transport quic; tcp and ws are
 * served, listenInterfaces is honoured (tun_ifaces.c). */
START_TEST(test_unhonoured_keys)
{
	static const char quic[] = "modules:\n  edgeTunnel:\n    transport: quic\n"
				   "    listenInterfaces: eth0\n";
	static const char *const served[] = {
	    "modules:\n  edgeTunnel:\n    transport: tcp\n",
	    "modules:\n  edgeTunnel:\n    transport: ws\n    wsPort: 8443\n"
	    "    wsProxy: http://u:p@proxy.example:3128/\n    listenInterfaces: eth0,lo\n"
	    "    extraFilteredInterfaces: veth\n",
	};
	static char log[TEXT_MAX];
	char err[512];
	FILE *tmp;
	size_t i;
	int saved;

	write_tmp(quic, strlen(quic));
	saved = stderr_capture(&tmp);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), 0);
	stderr_restore(saved, tmp, log, sizeof(log));
	ck_assert_int_eq(count_lines(log, ":3:5: key modules.edgeTunnel.transport is accepted for "
					  "EdgeMesh but not acted on: quic is not served"),
			 1);
	ck_assert_int_eq(count_lines(log, "listenInterfaces"), 0);
	for (i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
		write_tmp(served[i], strlen(served[i]));
		saved = stderr_capture(&tmp);
		ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), 0);
		stderr_restore(saved, tmp, log, sizeof(log));
		ck_assert_msg(log[0] == '\0', "unexpected output: %s", log);
	}
	ck_assert_int_eq(cfg.tunnel.ws_port, 8443);
	ck_assert_str_eq(cfg.tunnel.ws_proxy, "http://u:p@proxy.example:3128/");
}
END_TEST

/* wsProxy and HTTPS_PROXY: what a proxy URL may be; a bad one names the problem. */
START_TEST(test_http_proxy)
{
	static const struct {
		const char *url, *host, *user, *err;
		int port;
	} t[] = {
	    {"http://10.0.0.1:3128", "10.0.0.1", "", NULL, 3128},
	    {"10.0.0.1:3128/", "10.0.0.1", "", NULL, 3128},
	    {"http://bob:s3cret@proxy.corp:8080", "proxy.corp", "bob:s3cret", NULL, 8080},
	    {"http://[fd00::1]:3128", "fd00::1", "", NULL, 3128},
	    {"https://proxy:3128", NULL, NULL, "only http://", 0},
	    {"http://proxy", NULL, NULL, "without a port", 0},
	    {"http://proxy:0", NULL, NULL, "1-65535", 0},
	    {"http://proxy:99999", NULL, NULL, "1-65535", 0},
	    {"http://proxy:80x", NULL, NULL, "1-65535", 0},
	    {"http://:80", NULL, NULL, "host missing", 0},
	    {"http://pro xy:80", NULL, NULL, "bad character", 0},
	    {"http://proxy:80/path", NULL, NULL, "no path", 0},
	    {"http://[fd00::1:80", NULL, NULL, "unclosed", 0},
	};
	char host[64], user[64], why[160];
	size_t i;
	int port, r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why[0] = '\0';
		r = config_http_proxy(t[i].url, host, sizeof(host), &port, user, sizeof(user), why,
				      sizeof(why));
		if (t[i].err == NULL) {
			ck_assert_msg(r == 0, "%s: %s", t[i].url, why);
			ck_assert_str_eq(host, t[i].host);
			ck_assert_str_eq(user, t[i].user);
			ck_assert_int_eq(port, t[i].port);
		} else {
			ck_assert_msg(r == -1, "%s accepted", t[i].url);
			ck_assert_msg(strstr(why, t[i].err) != NULL, "%s: %s", t[i].url, why);
		}
	}
	/* the config key takes the same check, "none" too */
	write_tmp("modules:\n  edgeTunnel:\n    wsProxy: none\n", 41);
	ck_assert_int_eq(config_load(&cfg, tmppath, why, sizeof(why)), 0);
	write_tmp("modules:\n  edgeTunnel:\n    wsProxy: ftp://x:1\n", 46);
	ck_assert_int_eq(config_load(&cfg, tmppath, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "wsProxy") != NULL && strstr(why, "only http://") != NULL, "%s",
		      why);
}
END_TEST

/* The shipped example is the defaults plus what it says it changes. */
START_TEST(test_example_config)
{
	char err[512];

	golden_env();
	ck_assert_msg(config_load(&cfg, "etc/edgemesh.yaml", err, sizeof(err)) == 0, "%s", err);
	ck_assert(cfg.proxy.enable);
	ck_assert(cfg.tunnel.enable);
	ck_assert_str_eq(cfg.bridge_device, "edgemesh0");
	ck_assert_int_eq(cfg.tunnel.listen_port, 20006);
}
END_TEST

START_TEST(test_dump_stable)
{
	static char a[TEXT_MAX], b[TEXT_MAX];
	char err[512];

	golden_env();
	ck_assert_int_eq(config_load(&cfg, FIXDIR "/gateway.yaml", err, sizeof(err)), 0);
	dump_to(&cfg, a, sizeof(a));
	memcpy(&cfg2, &cfg, sizeof(cfg));
	dump_to(&cfg2, b, sizeof(b));
	ck_assert_str_eq(a, b);
	/* one line per stored key, none for sections or aliases */
	ck_assert_int_eq(count_lines(a, "\n"), 65);
	ck_assert_int_eq(count_lines(a, "consistentHash.load:"), 1);
	ck_assert_ptr_null(strstr(a, "edgeGateway.loadBalancer"));
	ck_assert_ptr_null(strstr(a, "tunnelLimitConfig"));
}
END_TEST

/* ---- hostile input ---- */

/* Load buf; the result must be 0, or -1 with an error naming the file. */
static void
load_any(const char *buf, size_t len)
{
	char err[1024];
	int rv;

	write_tmp(buf, len);
	err[0] = '\0';
	rv = config_load(&cfg, tmppath, err, sizeof(err));
	ck_assert(rv == 0 || rv == -1);
	if (rv == -1)
		ck_assert_msg(strncmp(err, tmppath, strlen(tmppath)) == 0, "bad error: %s", err);
}

/* Every prefix of every fixture, then every byte of a few replaced. */
START_TEST(test_prefixes_and_mutations)
{
	static const char repl[] = {'\0', ':', '-', '[', '{', '\t', '\n', '&', '*', '"', '\xff'};
	static const char *mutate[] = {"full-agent.yaml", "agent-relays.yaml", "gateway.yaml"};
	static char buf[TEXT_MAX], mut[TEXT_MAX];
	char path[NAME_LEN + 64];
	size_t len, n, j, r;
	int i;

	for (i = 0; i < ninputs; i++) {
		fixture_path(path, sizeof(path), inputs[i], "");
		ck_assert_int_eq(slurp(path, buf, sizeof(buf)), 0);
		len = strlen(buf);
		for (n = 0; n <= len; n++)
			load_any(buf, n);
	}
	for (j = 0; j < sizeof(mutate) / sizeof(mutate[0]); j++) {
		fixture_path(path, sizeof(path), mutate[j], "");
		ck_assert_int_eq(slurp(path, buf, sizeof(buf)), 0);
		len = strlen(buf);
		for (n = 0; n < len; n += 3)
			for (r = 0; r < sizeof(repl); r++) {
				memcpy(mut, buf, len);
				mut[n] = repl[r];
				load_any(mut, len);
			}
	}
}
END_TEST

START_TEST(test_huge_and_deep)
{
	static char buf[600 * 1024];
	size_t n = 0, i;
	char err[1024];

	/* a key and a value far longer than any field */
	n = (size_t)snprintf(buf, sizeof(buf), "commonConfig:\n  ");
	for (i = 0; i < 1000; i++) /* YAML's limit for a simple key is 1024 */
		buf[n++] = 'k';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, ": 1\n  nodeName: ");
	for (i = 0; i < 100000; i++)
		buf[n++] = 'v';
	buf[n++] = '\n';
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "key commonConfig.nodeName: value is too long") != NULL, "%s",
		      err);
	ck_assert_uint_lt(strlen(err), sizeof(err) - 1);

	/* deep nesting, under a known list and under an unknown key */
	n = (size_t)snprintf(buf, sizeof(buf), "modules:\n  edgeDNS:\n    upstreamServers: ");
	for (i = 0; i < 100000; i++)
		buf[n++] = '[';
	for (i = 0; i < 100000; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":3:86: nesting deeper than 64 levels") != NULL, "%s", err);

	n = (size_t)snprintf(buf, sizeof(buf), "unknownDeep: ");
	for (i = 0; i < 100000; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{a: ");
	for (i = 0; i < 100000; i++)
		buf[n++] = '}';
	buf[n++] = '\n';
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ":1:270: nesting deeper than 64 levels"));

	/* brackets in quotes and comments do not count */
	n = (size_t)snprintf(buf, sizeof(buf), "# ");
	for (i = 0; i < 1000; i++)
		buf[n++] = '[';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\nregistry: {path: \"");
	for (i = 0; i < 300; i++)
		buf[n++] = '{';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\\"\"}\nkind: '");
	for (i = 0; i < 1000; i++)
		buf[n++] = '[';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "''[[['\n");
	write_tmp(buf, n);
	ck_assert_msg(config_load(&cfg, tmppath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(cfg.registry_path), 301);

	/* a file over the limit */
	memset(buf, '#', sizeof(buf));
	for (i = 0; i < 2; i++) {
		FILE *f = fopen(tmppath, i == 0 ? "w" : "a");

		ck_assert_ptr_nonnull(f);
		fwrite(buf, 1, sizeof(buf), f);
		fclose(f);
	}
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ": file is too large"));
}
END_TEST

/* Aliases share nodes: a "billion laughs" must stay cheap. */
START_TEST(test_alias_bomb)
{
	static const char *const leaf[] = {"tlsCaFile: /x", "security: *m0", "metaServer: *m1"};
	static char buf[16 * 1024];
	size_t n;
	char err[1024];
	int i, j;

	n = (size_t)snprintf(buf, sizeof(buf), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 30; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "a%d: &a%d [", i, i);
		for (j = 0; j < 10; j++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s*a%d", j ? ", " : "",
					      i - 1);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]\n");
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "modules:\n  edgeDNS:\n    upstreamServers: *a29\n  edgeTunnel:\n"
			      "    relayNodes: &r [{nodeName: n, advertiseAddress: *a29}]\n");
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "upstreamServers[0]: expected a string, got a list"));

	/*
	 * kubeAPIConfig.metaServer.security.tlsCaFile, each level a mapping with
	 * 100 duplicate keys aliasing the next: 100^4 visits unless bounded.
	 */
	n = 0;
	for (i = 0; i < 3; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "m%d: &m%d {", i, i);
		for (j = 0; j < 100; j++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", j ? ", " : "",
					      leaf[i]);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}\n");
	}
	for (j = 0; j < 100; j++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "kubeAPIConfig: *m2\n");
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "more than 10000 keys and list items") != NULL, "%s", err);

	/* a self-referencing sequence */
	n = (size_t)snprintf(buf, sizeof(buf),
			     "modules:\n  edgeTunnel:\n    allowedNodePorts: &s [22, *s]\n");
	write_tmp(buf, n);
	ck_assert_int_eq(config_load(&cfg, tmppath, err, sizeof(err)), -1);
}
END_TEST

/* ---- YAML booleans (common/yaml_scalar.c, shared with the manifest reader) ---- */

/* YAML 1.1's words in three spellings each (lower, Capitalised, UPPER);
 * any other mix of cases is no boolean, as yaml.v2 and kubectl read it. */
START_TEST(test_bool_spellings)
{
	static const char *const yes[] = {"y",	  "Y",	  "yes", "Yes", "YES", "true",
					  "True", "TRUE", "on",	 "On",	"ON"};
	static const char *const no[] = {"n",	  "N",	   "no",  "No",	 "NO", "false",
					 "False", "FALSE", "off", "Off", "OFF"};
	static const char *const neither[] = {"tRuE", "tRUE", "yEs", "oN",    "fALSE", "nO",
					      "1",    "0",    "",    "true ", "yes!",  "~",
					      "null", "t",    "f",   "enable"};
	size_t i;
	bool b;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_msg(yaml_scalar_bool(yes[i], &b) == 0 && b, "%s", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ck_assert_msg(yaml_scalar_bool(no[i], &b) == 0 && !b, "%s", no[i]);
	}
	for (i = 0; i < sizeof(neither) / sizeof(neither[0]); i++)
		ck_assert_msg(yaml_scalar_bool(neither[i], &b) == -1, "%s", neither[i]);
	ck_assert_int_eq(yaml_scalar_word("~", NULL, NULL), YAML_WORD_NULL);
	ck_assert_int_eq(yaml_scalar_word("NULL", NULL, NULL), YAML_WORD_NULL);
	ck_assert_int_eq(yaml_scalar_word("nULL", NULL, NULL), YAML_WORD_NONE);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_add_loop_test(tc, test_golden, 0, ngoldens);
	tcase_add_test(tc, test_golden_inventory);
	tcase_add_test(tc, test_bool_spellings);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_test(tc, test_defaults_edge_mode);
	tcase_add_test(tc, test_defaults_cloud_mode);
	tcase_add_test(tc, test_cloud_mode_file_overrides);
	tcase_add_test(tc, test_node_name_env);
	tcase_add_test(tc, test_node_name_hostname);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_null_path);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_path_too_long);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_unknown_warned_once);
	tcase_add_test(tc, test_edgemesh_keys_silent);
	tcase_add_test(tc, test_unhonoured_keys);
	tcase_add_test(tc, test_http_proxy);
	tcase_add_test(tc, test_example_config);
	tcase_add_test(tc, test_dump_stable);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_checked_fixture(tc, quiet_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_prefixes_and_mutations);
	tcase_add_test(tc, test_huge_and_deep);
	tcase_add_test(tc, test_alias_bomb);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	scan_fixtures();
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
