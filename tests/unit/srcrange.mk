UNIT_TESTS += srcrange
check_srcrange_SRCS :=
