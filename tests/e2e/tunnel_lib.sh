# Helpers of the tunnel tests (sourced after lib.sh): tunopen plays proxyd's
# part, handing connections to tunneld over tunnel.sock.
bg() {	# ns cmd... : a background helper, cleaned up by lib.sh
	local n=$1; shift
	in_ns "$n" "$@" >>"$E2E_DIR/bg.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
}
tunopen() {	# node peer ip port lport [-u] : a forwarder on 127.0.0.1:lport
	local i=$1 peer=$2 ip=$3 port=$4 lport=$5; shift 5
	in_ns n$i "$B/tunopen" -r "$E2E_DIR/n$i/run" -n "$peer" -t "$ip" -p "$port" \
		-l "127.0.0.1:$lport" "$@" >>"$E2E_DIR/tunopen-$i-$lport.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 20 grep -q listening "$E2E_DIR/tunopen-$i-$lport.log"
}
sock_up() { [ -S "$E2E_DIR/n$1/run/tunnel.sock" ]; }
start_tunneld() {	# i [args]
	local i=$1; shift
	rm -f "$E2E_DIR/n$i/run/tunnel.sock"
	e2e_daemon "$i" tunneld "$@"
	wait_for 10 sock_up "$i"
}
fds() { ls "/proc/$(cat "$E2E_DIR/n$1/tunneld.pid")/fd" | wc -l; }
echo_once() {	# i lport msg
	[ "$(printf '%s\n' "$3" | in_ns n$1 timeout 10 socat -t 5 - "TCP:127.0.0.1:$2" 2>/dev/null)" = "$3" ]
}
# size bytes from SOURCE (a command; random bytes if none) into edge-1's
# forwarder on 127.0.0.1:lport, whose far end is a sha256sum listener
# writing to bg.log: 0 when the two sums match.
bulk_sha() {	# size lport [source]
	local src=${3:-"head -c $1 /dev/urandom"}
	: > "$E2E_DIR/bg.log"
	in_ns n1 timeout 120 bash -c "$src | head -c $1 | tee >(sha256sum > $E2E_DIR/local.sum) | socat -u - TCP:127.0.0.1:$2"
	sleep 1
	wait_for 20 grep -q ' -' "$E2E_DIR/bg.log"
	test "$(cut -d' ' -f1 "$E2E_DIR/local.sum")" = "$(grep ' -' "$E2E_DIR/bg.log" | tail -1 | cut -d' ' -f1)"
}
log_has() { grep -q -- "$2" "$E2E_DIR/n$1/tunneld.log"; }
listening() { in_ns "$1" ss -lntu | grep -q ":$2 "; }
