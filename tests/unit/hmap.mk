UNIT_TESTS += hmap
check_hmap_SRCS :=
