BINS += edgemesh-dnsd
edgemesh-dnsd_SRCS := $(sort $(wildcard dnsd/*.c))
