UNIT_TESTS += dns
check_dns_SRCS := dnsd/dns_map.c dnsd/dns_zone.c dnsd/dns_cache.c \
	dnsd/dns_forward.c
