BINS += edgemesh-socksd
edgemesh-socksd_SRCS := $(sort $(wildcard socksd/*.c))
