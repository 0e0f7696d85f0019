UNIT_TESTS += regparse
check_regparse_SRCS := controller/reg_parse.c controller/json_arena.c controller/yaml_json.c \
	$(sort $(wildcard controller/kobj*.c))
