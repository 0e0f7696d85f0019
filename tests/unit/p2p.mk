UNIT_TESTS += p2p
check_p2p_SRCS := $(sort $(wildcard tunneld/p2p_*.c))
