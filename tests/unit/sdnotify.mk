UNIT_TESTS += sdnotify
check_sdnotify_SRCS :=
