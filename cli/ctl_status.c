#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

static const char *const priv_labels[] = {"uid", "caps", "seccomp", "no_new_privs", "landlock"};
#define NPRIV (sizeof(priv_labels) / sizeof(priv_labels[0]))

/* What a daemon runs with (its privileges sample), or null. */
static json_t *
privs_json(const struct em_samples *ss, const char *daemon)
{
	const struct em_sample *s = ctl_sample(ss, EM_M_DAEMON_PRIVS, daemon);
	json_t *o;
	char v[64];
	size_t i;

	if (s == NULL)
		return json_null();
	o = json_object();
	for (i = 0; i < NPRIV; i++)
		json_object_set_new(o, priv_labels[i],
				    json_string(ctl_label(s, priv_labels[i], v, sizeof(v))));
	return o;
}

static void
status_json(const struct ipc_status *st, const struct em_samples *ss)
{
	const struct ipc_status_row *r;
	json_t *rows = json_array(), *o;
	size_t i;

	for (i = 0; i < st->nrows; i++) {
		r = &st->rows[i];
		json_array_append_new(
		    rows, json_pack("{s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:o}", "name",
				    r->name, "connected", r->connected, "version", r->build, "pid",
				    (json_int_t)r->pid, "uptime_s", (json_int_t)r->uptime,
				    "rss_bytes", (json_int_t)(r->rss_kb * 1024), "state_version",
				    (json_int_t)r->state_version, "state", r->state, "detail",
				    r->detail, "privileges", privs_json(ss, r->name)));
	}
	o = json_pack("{s:s, s:I, s:o}", "registry", st->registry, "state_version",
		      (json_int_t)st->version, "daemons", rows);
	ctl_json_print(o);
}

int
ctl_status(const struct em_config *cfg, int json)
{
	struct ipc_status st;
	struct em_samples ss = {0};
	const struct em_sample *p;
	char up[32], rss[32], v[NPRIV][64];
	size_t i, j;

	if (ctl_fetch_status(cfg, &st, 0) == -1)
		return 1;
	ctl_fetch_metrics(cfg, &ss, 1);
	if (json) {
		status_json(&st, &ss);
		metrics_free(&ss);
		return 0;
	}
	printf("registry: %s  state version: %llu\n\n", st.registry,
	       (unsigned long long)st.version);
	printf("%-11s %-10s %-8s %-7s %-9s %-8s %-22s %s\n", "DAEMON", "CONNECTED", "VERSION",
	       "PID", "UPTIME", "RSS", "STATE VERSION", "STATE");
	for (i = 0; i < st.nrows; i++) {
		if (st.rows[i].connected)
			ctl_fmt_duration(st.rows[i].uptime, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		ctl_fmt_bytes(st.rows[i].rss_kb * 1024, rss, sizeof(rss));
		printf("%-11s %-10s %-8s %-7u %-9s %-8s %-22llu %s%s%s\n", st.rows[i].name,
		       st.rows[i].connected ? "yes" : "no",
		       st.rows[i].connected ? st.rows[i].build : "-", st.rows[i].pid, up,
		       st.rows[i].connected ? rss : "-",
		       (unsigned long long)st.rows[i].state_version, st.rows[i].state,
		       st.rows[i].detail[0] ? "  " : "", st.rows[i].detail);
	}
	printf("\n%-11s %-7s %-18s %-9s %-13s %s\n", "DAEMON", "UID", "CAPABILITIES", "SECCOMP",
	       "NO_NEW_PRIVS", "LANDLOCK");
	for (i = 0; i < st.nrows; i++) {
		if ((p = ctl_sample(&ss, EM_M_DAEMON_PRIVS, st.rows[i].name)) == NULL)
			continue;
		for (j = 0; j < NPRIV; j++)
			ctl_label(p, priv_labels[j], v[j], sizeof(v[j]));
		printf("%-11s %-7s %-18s %-9s %-13s %s\n", st.rows[i].name, v[0], v[1], v[2], v[3],
		       v[4]);
	}
	metrics_free(&ss);
	return 0;
}
