UNIT_TESTS += tun
check_tun_SRCS := tunneld/tun_frame.c tunneld/tun_advert.c tunneld/tun_keys.c tunneld/tun_noise.c tunneld/tun_migkey.c \
	tunneld/p2p_pnet.c
