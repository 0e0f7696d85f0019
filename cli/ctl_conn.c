#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "replica.h"

int
ctl_send(int fd, uint16_t type, msgpack_sbuffer *sb)
{
	int rc = ipc_write_frame(fd, type, sb->data, sb->size, -1);

	msgpack_sbuffer_clear(sb);
	return rc;
}

/* Connect and say hello; prints what is wrong (unless quiet) and returns -1. */
int
ctl_open_quiet(const struct em_config *cfg, const char *sock, int quiet)
{
	struct ipc_hello h;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	if ((fd = ipc_connect(cfg->runtime_dir, sock)) == -1) {
		if (!quiet)
			fprintf(stderr,
				"edgemeshctl: cannot reach %s/%s: %s (is the daemon running? "
				"is commonConfig.runtimeDir right?)\n",
				cfg->runtime_dir, sock, strerror(errno));
		return -1;
	}
	ipc_hello_init(&h, "edgemeshctl");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_hello(&pk, &h);
	if (ctl_send(fd, IPC_HELLO, &sb) == -1) {
		fprintf(stderr, "edgemeshctl: %s: %s\n", sock, strerror(errno));
		close(fd);
		fd = -1;
	}
	msgpack_sbuffer_destroy(&sb);
	return fd;
}

int
ctl_open(const struct em_config *cfg, const char *sock)
{
	return ctl_open_quiet(cfg, sock, 0);
}

/* Read one message; an ERROR from the daemon is printed and fails. */
int
ctl_recv(int fd, size_t max, struct ipc_msg *m)
{
	struct ipc_hdr h;
	uint8_t *payload;
	char err[512], reason[256];
	int rfd;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (ipc_read_frame(fd, max, &h, &payload, &rfd, err, sizeof(err)) == -1) {
		fprintf(stderr, "edgemeshctl: %s\n", err);
		return -1;
	}
	if (rfd != -1)
		close(rfd);
	if (ipc_msg_parse(m, h.type, payload, h.len, err, sizeof(err)) == -1) {
		free(payload);
		fprintf(stderr, "edgemeshctl: %s\n", err);
		return -1;
	}
	m->owned = payload;
	if (m->type == IPC_ERROR) {
		if (ipc_unpack_error(m, reason, sizeof(reason), err, sizeof(err)) == 0)
			fprintf(stderr, "edgemeshctl: refused: %s\n", reason);
		ipc_msg_clear(m);
		return -1;
	}
	return 0;
}

void
ctl_fmt_duration(uint64_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%llum%llus", (unsigned long long)s / 60,
			 (unsigned long long)s % 60);
	else if (s < 172800)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)s / 3600,
			 (unsigned long long)(s % 3600) / 60);
	else
		snprintf(buf, len, "%llud%lluh", (unsigned long long)s / 86400,
			 (unsigned long long)(s % 86400) / 3600);
}

void
ctl_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f%s", v, u[i]);
}

void
ctl_json_print(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

int
ctl_ask(const struct em_config *cfg, const char *sock, uint16_t req, msgpack_sbuffer *body,
	struct ipc_msg *m, int quiet)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd, rc = -1;

	if ((fd = ctl_open_quiet(cfg, sock, quiet)) == -1)
		return -1;
	msgpack_sbuffer_init(&sb);
	if (body == NULL) {
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		ipc_pack_empty(&pk);
		body = &sb;
	}
	if (ctl_send(fd, req, body) == 0 && ctl_recv(fd, IPC_MAX_CONTROL, m) == 0)
		rc = 0;
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	return rc;
}

int
ctl_decoded(struct ipc_msg *m, int rc, const char *err)
{
	if (rc == -1)
		fprintf(stderr, "edgemeshctl: %s\n", err);
	ipc_msg_clear(m);
	return rc;
}

int
ctl_fetch_status(const struct em_config *cfg, struct ipc_status *st, int quiet)
{
	struct ipc_msg m;
	char err[512];

	if (ctl_ask(cfg, IPC_CONTROLLER_SOCK, IPC_STATUS_REQ, NULL, &m, quiet) == -1)
		return -1;
	return ctl_decoded(&m, ipc_unpack_status(&m, st, err, sizeof(err)), err);
}

int
ctl_fetch_metrics(const struct em_config *cfg, struct em_samples *ss, int quiet)
{
	struct ipc_msg m;
	char err[512];

	if (ctl_ask(cfg, IPC_CONTROLLER_SOCK, IPC_METRICS_REQ, NULL, &m, quiet) == -1)
		return -1;
	return ctl_decoded(&m, ipc_unpack_metrics(&m, ss, err, sizeof(err)), err);
}

/* Subscribe like a daemon and take the snapshot of these topics. */
struct replica *
ctl_fetch_state(const struct em_config *cfg, uint32_t topics, int quiet)
{
	struct replica *r = replica_new(NULL, NULL);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct ipc_msg m;
	char err[512];
	int fd;

	if ((fd = ctl_open_quiet(cfg, IPC_CONTROLLER_SOCK, quiet)) == -1) {
		replica_free(r);
		return NULL;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_subscribe(&pk, topics);
	if (ctl_send(fd, IPC_SUBSCRIBE, &sb) == -1)
		goto fail;
	while (!replica_synced(r, topics)) {
		if (ctl_recv(fd, IPC_MAX_CONTROL, &m) == -1)
			goto fail;
		if (replica_apply(r, &m, err, sizeof(err)) == -1) {
			fprintf(stderr, "edgemeshctl: %s\n", err);
			ipc_msg_clear(&m);
			goto fail;
		}
		ipc_msg_clear(&m);
	}
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	return r;
fail:
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	replica_free(r);
	return NULL;
}

/* The value of label k in a sample's rendered labels (k="v",...); "" if absent. */
const char *
ctl_label(const struct em_sample *s, const char *k, char *buf, size_t len)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "%s=\"", k);
	for (p = s->labels; (p = strstr(p, pat)) != NULL; p++)
		if (p == s->labels || p[-1] == ',')
			break;
	if (p == NULL) {
		snprintf(buf, len, "%s", "");
		return buf;
	}
	p += strlen(pat);
	for (e = p; *e != '\0' && *e != '"'; e++)
		if (*e == '\\' && e[1] != '\0')
			e++;
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

/* A daemon's sample of this metric in a node's samples, or NULL. */
const struct em_sample *
ctl_sample(const struct em_samples *ss, enum em_metric id, const char *daemon)
{
	char d[64];
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (ss->s[i].id == id &&
		    strcmp(ctl_label(&ss->s[i], "daemon", d, sizeof(d)), daemon) == 0)
			return &ss->s[i];
	return NULL;
}

int
ctl_daemon_wanted(const struct em_config *c, const char *daemon)
{
	return strcmp(daemon, "controller") == 0 ||
	       (strcmp(daemon, "dnsd") == 0 && c->dns.enable) ||
	       (strcmp(daemon, "proxyd") == 0 && c->proxy.enable) ||
	       (strcmp(daemon, "tunneld") == 0 && c->tunnel.enable) ||
	       (strcmp(daemon, "socksd") == 0 && c->proxy.socks5_enable) ||
	       (strcmp(daemon, "gatewayd") == 0 && c->gateway.enable);
}
