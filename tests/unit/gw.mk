UNIT_TESTS += gw
check_gw_SRCS := gatewayd/gw_route.c gatewayd/gw_http.c gatewayd/gw_sni.c
