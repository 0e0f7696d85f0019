BINS += edgemesh-tunneld
# dns_msg.c: dnsd's DNS codec, for the mDNS answers to EdgeMesh agents (p2p_mdns.c)
edgemesh-tunneld_SRCS := $(sort $(wildcard tunneld/*.c)) dnsd/dns_msg.c

# tunopen: plays proxyd's part in the tunnel tests (hands fds to tunnel.sock)
BINS += tunopen
tunopen_SRCS := tests/tools/tunopen.c
