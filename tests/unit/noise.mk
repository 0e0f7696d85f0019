UNIT_TESTS += noise
check_noise_SRCS := tunneld/tun_noise.c
