UNIT_TESTS += alloc
check_alloc_SRCS := controller/ctl_state.c controller/ctl_alloc.c controller/ctl_file.c \
	$(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c
