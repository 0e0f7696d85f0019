UNIT_TESTS += netaddr
check_netaddr_SRCS :=
