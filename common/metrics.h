/*
 * Metrics: every daemon fills a sample set from its own state each time it
 * reports its health (pull at report time, nothing counted twice), sends it
 * to the controller (IPC_METRICS), and the controller renders the node's
 * samples in the Prometheus text format.  Names, types and help texts live
 * in one table here, so a daemon names a metric by its enum and label sets
 * stay bounded by what the daemons pass.
 */
#ifndef EM_METRICS_H
#define EM_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Append-only: the numbers travel over IPC (a receiver skips numbers it does not know). */
enum em_metric {
	/* every daemon (the controller adds daemon="...") */
	EM_M_DAEMON_UP,
	EM_M_DAEMON_READY,
	EM_M_DAEMON_RESTARTS,
	EM_M_DAEMON_RSS,
	EM_M_DAEMON_FDS,
	EM_M_DAEMON_UPTIME,
	/* controller */
	EM_M_STATE_VERSION,
	EM_M_REGISTRY_OBJECTS,
	/* tunneld */
	EM_M_PEER_UP,
	EM_M_PEER_RTT,
	EM_M_PEER_TX,
	EM_M_PEER_RX,
	EM_M_PEER_STREAMS,
	EM_M_HANDSHAKES,
	EM_M_HANDSHAKE_FAILURES,
	/* proxyd */
	EM_M_SVC_CONNS,
	EM_M_SVC_FAILURES,
	EM_M_SVC_PICKS,
	EM_M_SVC_UDP_FLOWS,
	EM_M_RULE_RESYNCS,
	EM_M_RULES_DISPLACED,
	/* dnsd */
	EM_M_DNS_QUERIES,
	EM_M_DNS_CACHE_HITS,
	EM_M_DNS_UPSTREAM_LATENCY,
	/* gatewayd */
	EM_M_GW_REQUESTS,
	EM_M_GW_DURATION,
	/* facts for edgemeshctl doctor */
	EM_M_REGISTRY_UP,
	EM_M_ISTIO_CRDS,
	EM_M_PEER_PSK_MISMATCH,
	EM_M_DNS_UPSTREAM_UP,
	EM_M_PEER_UNREACHABLE,
	EM_M_DAEMON_PRIVS,
	EM_M_TUNNEL_KEY,
	EM_M_SVC_KERNEL_UDP_FLOWS, /* proxyd: flows its UDP kernel path started */
	EM_M_OUT_OF_PORTS,	   /* every daemon: a connect found no local port free */
	EM_M__COUNT
};

enum em_metric_type { EM_MT_COUNTER, EM_MT_GAUGE, EM_MT_HISTOGRAM };

struct em_metric_desc {
	const char *name; /* edgemesh_..., without a histogram's suffixes */
	enum em_metric_type type;
	const char *help;
};
extern const struct em_metric_desc em_metric_descs[EM_M__COUNT];

/* The parts of a histogram; plain metrics use EM_MP_VALUE. */
enum em_metric_part { EM_MP_VALUE, EM_MP_BUCKET, EM_MP_SUM, EM_MP_COUNT };

#define EM_LABELS_MAX  160   /* rendered labels: k="v",k2="v2" */
#define EM_SAMPLES_MAX 16384 /* a daemon's report, an IPC message (~3 MB) */

struct em_sample {
	uint16_t id;  /* enum em_metric */
	uint8_t part; /* enum em_metric_part */
	char labels[EM_LABELS_MAX];
	double value;
};

struct em_samples {
	size_t max; /* 0: EM_SAMPLES_MAX; a set merged from every daemon sets its own */
	size_t n, cap;
	struct em_sample *s;
};

/*
 * Add a sample; the labels are name/value pairs ending with NULL, escaped
 * here.  Returns -1 (and adds nothing) past EM_SAMPLES_MAX or when the
 * labels do not fit.
 */
#define metrics_add(ss, id, value, ...) metrics_add_part(ss, id, EM_MP_VALUE, value, __VA_ARGS__)
int metrics_add_part(struct em_samples *, enum em_metric, enum em_metric_part, double value, ...)
    __attribute__((sentinel));
/* A histogram of a latency distribution: cumulative buckets, sum, count. */
struct em_histogram {
	uint64_t counts[12]; /* per bucket of em_histogram_bounds, not cumulative */
	uint64_t count;
	double sum;
};
extern const double em_histogram_bounds[12]; /* seconds */
void metrics_observe(struct em_histogram *, double seconds);
/* Adds the histogram's samples with one label pair (name, value), or none. */
int metrics_add_histogram(struct em_samples *, enum em_metric, const struct em_histogram *,
			  const char *label, const char *value);
/* Copy a sample with daemon="NAME" put before its labels. */
int metrics_add_from(struct em_samples *, const struct em_sample *, const char *daemon);
void metrics_clear(struct em_samples *);
void metrics_free(struct em_samples *);

/*
 * Render one daemon's samples, each with daemon="NAME" prepended, into a
 * malloc'd text buffer grown as needed (*buf, *len, *cap).  HELP and TYPE
 * lines are written by metrics_render_head for each metric once.
 */
struct em_textbuf {
	char *p;
	size_t len, cap;
};
void textbuf_printf(struct em_textbuf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void metrics_render_head(struct em_textbuf *, enum em_metric);
void metrics_render(struct em_textbuf *, const char *daemon, const struct em_samples *,
		    enum em_metric only);

#endif
