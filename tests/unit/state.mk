UNIT_TESTS += state
check_state_SRCS := controller/ctl_state.c controller/ctl_alloc.c controller/ctl_file.c \
	$(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c
