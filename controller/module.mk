BINS += edgemesh-controller
edgemesh-controller_SRCS := $(sort $(wildcard controller/*.c))
