/*
 * libp2p private networks (pnet) as EdgeMesh uses them
 * (edgemesh-features.md section 5.1): the PSK EdgeMesh derives from its PSK
 * file, the V1 key file format, and the XSalsa20 stream each direction of
 * a connection runs under (its 24-byte nonce is the first thing each side
 * sends, in the clear).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "p2p.h"

void
p2p_pnet_psk_from_file(const uint8_t *file, size_t len, uint8_t psk[P2P_PNET_KEY],
		       char keyfile[P2P_PNET_KEYFILE_MAX])
{
	uint8_t h[crypto_hash_sha256_BYTES], raw[48];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	size_t n;

	crypto_hash_sha256(h, file, len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	/* EdgeMesh labels the hex text /base64/, so the key is its base64
	 * decoding (64 hex characters are valid base64: 48 bytes, 32 used) */
	sodium_base642bin(raw, sizeof(raw), hex, strlen(hex), NULL, &n, NULL,
			  sodium_base64_VARIANT_ORIGINAL);
	memcpy(psk, raw, P2P_PNET_KEY);
	if (keyfile != NULL)
		snprintf(keyfile, P2P_PNET_KEYFILE_MAX, "%s\n/base64/\n%s", P2P_PNET_HEADER, hex);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(h, sizeof(h));
}

/* the next line of [*p, end) (without "\n" and a "\r" before it) */
static int
next_line(const char **p, const char *end, const char **line, size_t *llen)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return -1;
	*line = *p;
	*llen = (size_t)(nl - *p);
	if (*llen > 0 && nl[-1] == '\r')
		(*llen)--;
	*p = nl + 1;
	return 0;
}

int
p2p_pnet_parse_keyfile(const uint8_t *buf, size_t len, uint8_t psk[P2P_PNET_KEY], char *why,
		       size_t whylen)
{
	const char *p = (const char *)buf, *end = p + len, *line, *enc;
	uint8_t raw[P2P_PNET_KEY * 3];
	size_t llen, elen, rest, n;

	if (next_line(&p, end, &line, &llen) == -1 || llen != strlen(P2P_PNET_HEADER) ||
	    memcmp(line, P2P_PNET_HEADER, llen) != 0) {
		snprintf(why, whylen, "pnet key file: first line is not %s", P2P_PNET_HEADER);
		return -1;
	}
	if (next_line(&p, end, &enc, &elen) == -1) {
		snprintf(why, whylen, "pnet key file: no encoding line after the header");
		return -1;
	}
	rest = (size_t)(end - p);
	if (elen == 5 && memcmp(enc, "/bin/", 5) == 0) {
		if (rest < P2P_PNET_KEY)
			goto shortkey;
		memcpy(psk, p, P2P_PNET_KEY);
		return 0;
	}
	if (elen == 8 && memcmp(enc, "/base16/", 8) == 0) {
		/* Go reads exactly 32 bytes; what follows is ignored */
		if (rest < 2 * P2P_PNET_KEY)
			goto shortkey;
		if (sodium_hex2bin(psk, P2P_PNET_KEY, p, 2 * P2P_PNET_KEY, NULL, &n, NULL) != 0 ||
		    n != P2P_PNET_KEY) {
			snprintf(why, whylen, "pnet key file: /base16/ key is not 64 hex digits");
			return -1;
		}
		return 0;
	}
	if (elen == 8 && memcmp(enc, "/base64/", 8) == 0) {
		/* the first 44 characters carry 32 bytes (plus one spare) */
		if (rest < 44)
			goto shortkey;
		if (sodium_base642bin(raw, sizeof(raw), p, 44, NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    n < P2P_PNET_KEY) {
			snprintf(why, whylen, "pnet key file: /base64/ key is not base64");
			return -1;
		}
		memcpy(psk, raw, P2P_PNET_KEY);
		sodium_memzero(raw, sizeof(raw));
		return 0;
	}
	snprintf(why, whylen,
		 "pnet key file: unknown encoding line \"%.*s\" (want /base16/, "
		 "/base64/ or /bin/)",
		 (int)(elen > 32 ? 32 : elen), enc);
	return -1;
shortkey:
	snprintf(why, whylen, "pnet key file: key too short (%zu bytes after the encoding line)",
		 rest);
	return -1;
}

void
p2p_pnet_dir_init(struct p2p_pnet_dir *d, const uint8_t psk[P2P_PNET_KEY],
		  const uint8_t nonce[P2P_PNET_NONCE])
{
	memcpy(d->key, psk, P2P_PNET_KEY);
	memcpy(d->nonce, nonce, P2P_PNET_NONCE);
	d->off = 0;
}

void
p2p_pnet_xor(struct p2p_pnet_dir *d, uint8_t *out, const uint8_t *in, size_t n)
{
	size_t in_block = (size_t)(d->off % 64), take;
	uint8_t block[64];

	if (n == 0)
		return;
	if (in_block != 0) {
		/* finish the 64-byte block a previous call began */
		memset(block, 0, sizeof(block));
		crypto_stream_xsalsa20_xor_ic(block, block, sizeof(block), d->nonce, d->off / 64,
					      d->key);
		take = 64 - in_block < n ? 64 - in_block : n;
		for (size_t i = 0; i < take; i++)
			out[i] = in[i] ^ block[in_block + i];
		sodium_memzero(block, sizeof(block));
		d->off += take;
		out += take;
		in += take;
		n -= take;
	}
	if (n > 0) {
		crypto_stream_xsalsa20_xor_ic(out, in, n, d->nonce, d->off / 64, d->key);
		d->off += n;
	}
}

void
p2p_pnet_dir_wipe(struct p2p_pnet_dir *d)
{
	sodium_memzero(d, sizeof(*d));
}
