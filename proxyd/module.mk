BINS += edgemesh-proxyd
edgemesh-proxyd_SRCS := $(sort $(wildcard proxyd/*.c))
