UNIT_TESTS += p2p
# the pure codecs (p2p_conn.c, p2p_stream.c, p2p_setup.c, p2p_mdns.c: tunneld's wiring)
check_p2p_SRCS := $(filter-out tunneld/p2p_conn.c tunneld/p2p_stream.c tunneld/p2p_setup.c \
	tunneld/p2p_mdns.c, \
	$(sort $(wildcard tunneld/p2p_*.c)))
