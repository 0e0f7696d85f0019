UNIT_TESTS += ws
check_ws_SRCS := tunneld/tun_wsproto.c tunneld/tun_ifaces.c tunneld/tun_proxy.c
