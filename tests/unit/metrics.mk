UNIT_TESTS += metrics
check_metrics_SRCS :=
