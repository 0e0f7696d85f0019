UNIT_TESTS += state
check_state_SRCS := controller/ctl_state.c $(sort $(wildcard controller/kobj*.c)) \
	controller/yaml_json.c
