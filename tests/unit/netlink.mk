UNIT_TESTS += netlink
check_netlink_SRCS := proxyd/netlink.c
