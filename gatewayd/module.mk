BINS += edgemesh-gatewayd
edgemesh-gatewayd_SRCS := $(sort $(wildcard gatewayd/*.c))
