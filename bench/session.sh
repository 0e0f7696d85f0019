#!/bin/bash
# Tunnel session set-up (DESIGN §8: 1.5 round trips, <= 0.5 ms CPU),
# printed, never asserted: build/emhs runs tunneld's handshake in memory
# (Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b, tunneld's prologue, PSK and
# static keys, a hello-sized payload in each message, the split into the
# transport AEAD) with both sides in one process, so its CPU is what the
# two ends spend together.  Messages until both are done: 3 is 1.5 round
# trips (after TCP's own), against libp2p's ~5 (multistream-select twice,
# Noise XX, yamux: the reference's count, not measured here).
# BENCH_REPS repetitions of 1000 handshakes (each its median of 5 batches).
#
#   bash bench/session.sh [build-dir]
set -u
cd "$(dirname "$0")/.." || exit 1
B=${1:-${B:-build}}
[ -x "$B/emhs" ] || { echo "session bench: $B/emhs missing; run make"; exit 1; }
. bench/lib.sh
T=$(mktemp -d /tmp/edgemesh-sbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
bench_reps_init session "$T"
one() {	# ours -> key=value
	local r
	r=$("$B/emhs" 1000) || return
	echo "cpu=$(bench_field "$r" cpu_us) msgs=$(bench_field "$r" msgs)"
	echo "$r" >>"$T/emhs.out"
}
bench_run one ours
echo "session bench: $(head -n 1 "$T/emhs.out" | sed 's/.*transport=\([^ ]*\).*/transport AEAD \1/'), $(nproc) cores"
bench_fig "session handshake, CPU-µs both ends (lower better)" cpu "<= 500 us" ours
bench_fig "session handshake, messages (1.5 round trips = 3)" msgs "3 (libp2p ~5 round trips)" ours
bench_done
exit 0
