UNIT_TESTS += replica
check_replica_SRCS :=
