UNIT_TESTS += socks
check_socks_SRCS := socksd/socks_proto.c
