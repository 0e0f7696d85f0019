# Node key helpers for the pinning tests (sourced after lib.sh).
# pubkey STATEDIR -> the base64 X25519 public key of STATEDIR/tunnel.key
# (the private key wrapped as PKCS#8 DER for openssl).
pubkey() {
	{ printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x6e\x04\x22\x04\x20'; base64 -d < "$1/tunnel.key"; } |
		openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64
}
