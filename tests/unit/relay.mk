UNIT_TESTS += relay
check_relay_SRCS :=
