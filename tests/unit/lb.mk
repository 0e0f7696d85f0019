UNIT_TESTS += lb
check_lb_SRCS :=
