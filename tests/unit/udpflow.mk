UNIT_TESTS += udpflow
check_udpflow_SRCS :=
