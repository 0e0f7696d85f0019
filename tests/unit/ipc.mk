UNIT_TESTS += ipc
check_ipc_SRCS :=
