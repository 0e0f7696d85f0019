/* edgemeshctl's commands, one file each. */
#ifndef EM_CTL_H
#define EM_CTL_H

#include "config.h"
#include "ipc.h"
#include "metrics.h"

struct json_t;

/* ctl_conn.c: a blocking conversation with a daemon */
int ctl_open(const struct em_config *, const char *sock);
int ctl_open_quiet(const struct em_config *, const char *sock, int quiet);
int ctl_send(int fd, uint16_t type, msgpack_sbuffer *);
int ctl_recv(int fd, size_t max, struct ipc_msg *);
void ctl_fmt_duration(uint64_t secs, char *buf, size_t len);
void ctl_fmt_bytes(uint64_t n, char *buf, size_t len);
/* -o json: o on stdout, indented, a newline after it; o is released. */
void ctl_json_print(struct json_t *o);
/*
 * One request (body NULL: an empty one) on sock, one answer in m; quiet: no
 * message when the daemon is not there.  ctl_decoded: print err when the
 * answer's decoding (rc) failed, clear m, return rc.
 */
int ctl_ask(const struct em_config *, const char *sock, uint16_t req, msgpack_sbuffer *body,
	    struct ipc_msg *m, int quiet);
int ctl_decoded(struct ipc_msg *m, int rc, const char *err);
/* The controller's answers (quiet: no message when it is not there). */
int ctl_fetch_status(const struct em_config *, struct ipc_status *, int quiet);
int ctl_fetch_metrics(const struct em_config *, struct em_samples *, int quiet);
struct replica *ctl_fetch_state(const struct em_config *, uint32_t topics, int quiet);
/* 1 when the config enables daemon (its module), or it is the controller. */
int ctl_daemon_wanted(const struct em_config *, const char *daemon);
/* Reading the node's samples: a label's value; a daemon's sample of a metric. */
const char *ctl_label(const struct em_sample *, const char *k, char *buf, size_t len);
const struct em_sample *ctl_sample(const struct em_samples *, enum em_metric, const char *daemon);

/* ctl_status.c */
int ctl_status(const struct em_config *, int json);
/* ctl_services.c */
int ctl_services(const struct em_config *, int json);
/* ctl_doctor.c: faults found, one line each (or JSON); exit 1 when any */
struct doctor {
	const struct em_config *cfg;
	struct json_t *faults; /* -o json */
	int json;
	int n;
};
int ctl_doctor(const struct em_config *, const char *edgecore, int json);
void doctor_fault(struct doctor *, const char *kind, const char *subject, const char *fix,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* ctl_edgecore.c: edgecore's clusterDNS must name our DNS address */
void ctl_check_edgecore(struct doctor *, const char *path);
/* ctl_trace.c */
int ctl_trace(const struct em_config *, const char *target, int json);
/* ctl_ping.c */
int ctl_ping(const struct em_config *, const char *node, int json);
/* ctl_peers.c */
int ctl_peers(const struct em_config *, int json);
/* ctl_health.c: a probe's exit code (live: connected and reporting; else ready) */
int ctl_health(const struct em_config *, const char *daemon, int live);

#endif
