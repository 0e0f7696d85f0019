UNIT_TESTS += config
check_config_SRCS :=
