# bench helpers: embench (load generators and servers for bench/*.sh)
BINS += embench
embench_SRCS := bench/tools/embench.c
# emhs: the tunnel session's handshake in memory (bench/session.sh)
BINS += emhs
emhs_SRCS := bench/tools/emhs.c tunneld/tun_noise.c
