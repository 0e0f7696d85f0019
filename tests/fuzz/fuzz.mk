# Sources and libraries of each libFuzzer target (make fuzz).
fuzz_dns_SRCS := common/dns_msg.c dnsd/dns_map.c dnsd/dns_zone.c dnsd/dns_cache.c \
	common/hmap.c common/model.c common/log.c
fuzz_dns_LIBS := -lev -lsodium
fuzz_ipc_SRCS := common/ipc_frame.c common/ipc_msg.c common/ipc_model.c common/mp.c common/metrics.c \
	common/model.c common/log.c
fuzz_ipc_LIBS := -lmsgpackc -lm
fuzz_socks_SRCS := socksd/socks_proto.c
fuzz_http_SRCS := gatewayd/gw_http.c gatewayd/gw_sni.c common/log.c
fuzz_tun_SRCS := tunneld/tun_frame.c tunneld/tun_noise.c common/log.c
fuzz_tun_LIBS := -lsodium -lcrypto
fuzz_yaml_SRCS := $(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c \
	common/yaml_scalar.c common/model.c common/log.c
fuzz_yaml_LIBS := -lyaml -ljansson -lsodium
fuzz_config_SRCS := common/config.c common/config_check.c common/yaml_scalar.c common/log.c common/model.c \
	common/srcrange.c
fuzz_config_LIBS := -lyaml
fuzz_route_SRCS := gatewayd/gw_route.c common/hmap.c common/log.c common/model.c
fuzz_route_LIBS := -lsodium
fuzz_tls_SRCS := gatewayd/gw_tls.c gatewayd/gw_route.c common/hmap.c common/log.c common/model.c
fuzz_tls_LIBS := -lssl -lcrypto -lsodium
fuzz_noise_SRCS := tunneld/tun_noise.c
fuzz_noise_LIBS := -lsodium -lcrypto
fuzz_kube_SRCS := controller/kube_util.c controller/kube_client.c controller/kube_watch.c \
	controller/ctl_state.c controller/ctl_alloc.c controller/ctl_file.c \
	$(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c \
	common/config.c common/config_check.c common/yaml_scalar.c common/hmap.c common/model.c common/log.c \
	common/ipc_model.c common/mp.c common/srcrange.c
fuzz_kube_LIBS := -lev -lyaml -ljansson -lsodium -lcurl -lmsgpackc
fuzz_ws_SRCS := tunneld/tun_wsproto.c common/log.c
fuzz_ws_LIBS := -lsodium -lcrypto
fuzz_p2p_mss_SRCS := tunneld/p2p_mss.c tunneld/p2p_varint.c
fuzz_p2p_yamux_SRCS := tunneld/p2p_yamux.c tunneld/p2p_yamux_sm.c
fuzz_p2p_pb_SRCS := tunneld/p2p_pb.c tunneld/p2p_varint.c
fuzz_p2p_pnet_SRCS := tunneld/p2p_pnet.c tunneld/p2p_peerid.c tunneld/p2p_gorand_tab.c \
	tunneld/p2p_sniff.c
fuzz_p2p_pnet_LIBS := -lsodium -lcrypto
fuzz_p2p_noisepl_SRCS := tunneld/p2p_noisepl.c tunneld/p2p_pb.c tunneld/p2p_varint.c
fuzz_p2p_noisepl_LIBS := -lsodium
fuzz_p2p_noise_SRCS := tunneld/p2p_noise.c
fuzz_p2p_noise_LIBS := -lsodium
fuzz_ipcconn_SRCS := common/ipc_conn.c common/ipc_frame.c common/ipc_msg.c common/ipc_model.c common/mp.c common/metrics.c common/model.c common/ipc_sock.c common/log.c
fuzz_ipcconn_LIBS := -lev -lmsgpackc
