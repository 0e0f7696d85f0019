UNIT_TESTS += handover
check_handover_SRCS := tunneld/tun_handover_wire.c tunneld/tun_noise.c
