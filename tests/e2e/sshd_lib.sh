# An sshd for the tests that ssh to a node by name (sourced after lib.sh):
#   e2e_sshd NODE ADDR [extra sshd_config lines]
# starts it in node NODE's namespace on ADDR:22 with throwaway keys, and
# sets SSH (the client command with the key; add -o ProxyCommand=...).
e2e_sshd() {	# node addr [config lines]
	K="$E2E_DIR/ssh"
	mkdir -p "$K" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$K/host" && ssh-keygen -q -t ed25519 -N '' -f "$K/client"
	cp "$K/client.pub" "$K/authorized_keys"
	cat > "$K/sshd_config" <<CFG
Port 22
ListenAddress $2
HostKey $K/host
PidFile $K/sshd.pid
AuthorizedKeysFile $K/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
${3:-}
CFG
	in_ns "$1" /usr/sbin/sshd -D -e -f "$K/sshd_config" 2>"$E2E_DIR/sshd.log" &
	E2E_PIDS="$E2E_PIDS $!"
	SSH="ssh -F /dev/null -i $K/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes -o ConnectTimeout=10"
}
