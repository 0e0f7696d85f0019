BINS += edgemesh-tunneld
edgemesh-tunneld_SRCS := $(sort $(wildcard tunneld/*.c))

# tunopen: plays proxyd's part in the tunnel tests (hands fds to tunnel.sock)
BINS += tunopen
tunopen_SRCS := tests/tools/tunopen.c
