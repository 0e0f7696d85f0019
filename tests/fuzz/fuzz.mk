# Sources and libraries of each libFuzzer target (make fuzz).
fuzz_dns_SRCS := dnsd/dns_msg.c dnsd/dns_map.c dnsd/dns_zone.c dnsd/dns_cache.c \
	common/model.c common/log.c
fuzz_dns_LIBS := -lev
fuzz_ipc_SRCS := common/ipc_frame.c common/ipc_msg.c common/ipc_model.c common/mp.c common/metrics.c \
	common/model.c common/log.c
fuzz_ipc_LIBS := -lmsgpackc -lm
fuzz_socks_SRCS := socksd/socks_proto.c
fuzz_http_SRCS := gatewayd/gw_http.c gatewayd/gw_sni.c common/log.c
fuzz_tun_SRCS := tunneld/tun_frame.c common/log.c
fuzz_yaml_SRCS := $(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c \
	common/model.c common/log.c
fuzz_yaml_LIBS := -lyaml -ljansson -lsodium
fuzz_config_SRCS := common/config.c common/log.c common/model.c common/srcrange.c
fuzz_config_LIBS := -lyaml
