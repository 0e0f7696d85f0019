BINS += edgemeshctl
edgemeshctl_SRCS := cli/edgemeshctl.c cli/ctl_conn.c cli/ctl_status.c cli/ctl_services.c \
	cli/ctl_peers.c cli/ctl_doctor.c cli/ctl_edgecore.c \
	cli/ctl_ping.c cli/ctl_trace.c cli/ctl_health.c
