UNIT_TESTS += kube
check_kube_SRCS := controller/kube_util.c controller/kube_client.c controller/kube_watch.c \
	controller/ctl_state.c controller/ctl_alloc.c controller/ctl_file.c \
	$(sort $(wildcard controller/kobj*.c)) controller/yaml_json.c
