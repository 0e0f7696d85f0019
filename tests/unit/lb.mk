UNIT_TESTS += lb
check_lb_SRCS := proxyd/lb.c proxyd/lb_ring.c
