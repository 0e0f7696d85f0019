UNIT_TESTS += kobj
check_kobj_SRCS := controller/yaml_json.c controller/kobj.c controller/kobj_service.c \
	controller/kobj_endpoints.c controller/kobj_node.c controller/kobj_istio.c
