# shellcheck shell=bash
# Helpers of test_handover.sh and bench/handover.sh (sourced after lib.sh).
ho_starts() {	# i: how many tunneld processes took over a hand-over on node i
	grep -c 'took over [0-9]* sessions' "$E2E_DIR/n$1/tunneld.log"
}
ho_start_bin() {	# i binary [args]: tunneld from another build (an upgrade)
	local i=$1 bin=$2 d="$E2E_DIR/n$1"; shift 2
	ip netns exec "$(ns n$i)" "$bin" -c "$d/edgemesh.yaml" -d "$@" >>"$d/tunneld.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	echo $! > "$d/tunneld.pid"
}
ho_restart() {	# i [binary]: SIGTERM, then the next process (systemctl restart)
	local i=$1 n
	n=$(ho_starts "$i")
	e2e_kill "$i" tunneld TERM
	if [ -n "${2:-}" ]; then ho_start_bin "$i" "$2"; else e2e_daemon "$i" tunneld; fi
	wait_for 10 sh -c "[ \$(grep -c 'took over [0-9]* sessions' '$E2E_DIR/n$i/tunneld.log') -gt $n ]"
}
ho_lost() {	# i: session losses in node i's tunneld log
	grep -c 'session with .* closed' "$E2E_DIR/n$1/tunneld.log"
}
# A carrier socket holding a blob that is not a valid hand-over (MODE: forged
# = right magic and version, wrong key/contents; version = a version this
# build does not read), inherited by CMD as a new exec would pass it.
ho_forge() {	# mode cmd...
	local mode=$1; shift
	exec python3 - "$mode" "$@" <<'PY'
import array, os, socket, struct, sys, time
mode, cmd = sys.argv[1], sys.argv[2:]
hdr = b"EMTUNHO\0" + struct.pack(">H", 99 if mode == "version" else 1) + b"0.0.forged".ljust(32, b"\0")
hdr += struct.pack(">IQI", 1, int(time.time() * 1e6), 1) + os.urandom(24)
blob = hdr + os.urandom(4096)
m = os.memfd_create("forged", 0)
os.write(m, blob)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
a.sendmsg([b"HO\0\0\0\0\0\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [m]))])
a.close(); os.close(m)
os.set_inheritable(b.fileno(), True)
os.environ["EDGEMESH_TUNNELD_HANDOVER_FD"] = str(b.fileno())
os.execvp(cmd[0], cmd)
PY
}
