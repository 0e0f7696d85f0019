COMMON_SRCS += common/log.c common/model.c common/config.c common/config_check.c common/mp.c common/hmap.c \
	common/ipc_frame.c common/ipc_conn.c common/ipc_sock.c common/ipc_msg.c \
	common/ipc_model.c common/replica.c common/daemon.c common/sdnotify.c \
	common/privdrop.c common/tunclient.c common/netaddr.c common/srcrange.c common/srcgate.c \
	common/metrics.c common/lb.c common/lb_ring.c common/relay.c common/yaml_scalar.c \
	common/udpflow.c common/sandbox.c common/cfgwatch.c common/dns_msg.c
