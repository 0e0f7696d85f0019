# bench helpers: embench (load generators and servers for bench/*.sh)
BINS += embench
embench_SRCS := bench/tools/embench.c
