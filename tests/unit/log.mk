UNIT_TESTS += log
check_log_SRCS :=
