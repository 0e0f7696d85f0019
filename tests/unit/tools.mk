# Test tools built with everything else (`make`): em-sub, a long-lived
# controller subscriber for tests/e2e/test_registry.sh and bench/registry.sh.
BINS += em-sub
em-sub_SRCS := tests/tools/em_sub.c
# udp_soak: many UDP flows against an echo service (tests/e2e/test_udp_soak.sh).
BINS += udp_soak
udp_soak_SRCS := tests/tools/udp_soak.c
# udp_streams: many UDP streams through tunnel.sock at once (test_udp_soak.sh).
BINS += udp_streams
udp_streams_SRCS := tests/tools/udp_streams.c
# sandbox_probe: one daemon's real sandbox lists applied to a probe that tries
# a forbidden call or path (tests/e2e/test_sandbox.sh).
BINS += sandbox_probe
sandbox_probe_SRCS := tests/tools/sandbox_probe.c controller/controller_sandbox.c \
	dnsd/dnsd_sandbox.c proxyd/proxyd_sandbox.c tunneld/tunneld_sandbox.c \
	socksd/socksd_sandbox.c gatewayd/gatewayd_sandbox.c
