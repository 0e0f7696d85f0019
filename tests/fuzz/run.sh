#!/bin/sh
# Build and run the dnsd fuzz target without make: tests/fuzz/run.sh [seconds]
# (default 60).  Needs clang with libFuzzer; skips (exit 77) without it.
set -eu
SECS=${1:-60}
B=${B:-build}
command -v clang >/dev/null || { echo "SKIP fuzz_dns: clang missing"; exit 77; }
mkdir -p "$B/fuzz_dns_corpus"
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
	-Icommon -Idnsd tests/fuzz/fuzz_dns.c dnsd/dns_msg.c dnsd/dns_map.c \
	dnsd/dns_zone.c dnsd/dns_cache.c common/hmap.c common/model.c common/log.c \
	$(pkg-config --cflags --libs libev libsodium 2>/dev/null || echo -lev -lsodium) \
	-o "$B/fuzz_dns"
"$B/fuzz_dns" -max_total_time="$SECS" -max_len=4096 "$B/fuzz_dns_corpus"
