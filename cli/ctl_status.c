#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

static void
status_json(const struct ipc_status *st)
{
	const struct ipc_status_row *r;
	json_t *rows = json_array(), *o;
	size_t i;

	for (i = 0; i < st->nrows; i++) {
		r = &st->rows[i];
		json_array_append_new(
		    rows, json_pack("{s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "name",
				    r->name, "connected", r->connected, "version", r->build, "pid",
				    (json_int_t)r->pid, "uptime_s", (json_int_t)r->uptime,
				    "rss_bytes", (json_int_t)(r->rss_kb * 1024), "state_version",
				    (json_int_t)r->state_version, "state", r->state, "detail",
				    r->detail));
	}
	o = json_pack("{s:s, s:I, s:o}", "registry", st->registry, "state_version",
		      (json_int_t)st->version, "daemons", rows);
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

int
ctl_status(const struct em_config *cfg, int json)
{
	struct ipc_status st;
	char up[32], rss[32];
	size_t i;

	if (ctl_fetch_status(cfg, &st, 0) == -1)
		return 1;
	if (json) {
		status_json(&st);
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
	return 0;
}
