/*
 * The RELAYS frame's payload (tun_relaysel.c has what it means): pure
 * encoder and decoder, no daemon state.
 *
 *   version u8 (1) | flags u8 (bit 0: I relay) | seenlen u8 | seen
 *   | n u8 | n x { namelen u8 | name | rtt_ms u16 | iplen u8 | ip }
 *
 * Text fields are printable ASCII without spaces; names 1..253 bytes, seen
 * at most 63, ip at most 45.  Strict: a short, over-long or trailing field
 * is malformed.
 */
#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "tunneld.h"

/* The head; returns its length, 0 if it does not fit.  *count: where n goes. */
size_t
tun_adv_put_head(uint8_t *buf, size_t cap, int relay, const char *seen, size_t *count)
{
	size_t sl = strnlen(seen, 63);

	if (cap < 4 + sl)
		return 0;
	buf[0] = TUN_ADV_V1;
	buf[1] = relay ? TUN_ADV_F_RELAY : 0;
	buf[2] = (uint8_t)sl;
	memcpy(buf + 3, seen, sl);
	buf[3 + sl] = 0;
	*count = 3 + sl;
	return 4 + sl;
}

/* One entry at buf + off (the head's count byte is bumped); 0 if it does
 * not fit (or 255 are there), else the new length. */
size_t
tun_adv_put_entry(uint8_t *buf, size_t cap, size_t off, size_t count, const char *name,
		  unsigned rtt_ms, const char *ip)
{
	size_t nl = strnlen(name, 253), il = strnlen(ip, 45);

	if (nl == 0 || buf[count] == 255 || off + 1 + nl + 2 + 1 + il > cap)
		return 0;
	buf[off++] = (uint8_t)nl;
	memcpy(buf + off, name, nl);
	off += nl;
	be16_put(buf + off, (uint16_t)(rtt_ms > 0xffff ? 0xffff : rtt_ms));
	off += 2;
	buf[off++] = (uint8_t)il;
	memcpy(buf + off, ip, il);
	buf[count]++;
	return off + il;
}

/* The next entry of a decoded advert; 1 with *e set, 0 at the end. */
int
tun_adv_next(const struct tun_adv *a, size_t *off, struct tun_adv_entry *e)
{
	const uint8_t *p = a->entries;
	size_t nl, il;

	if (*off >= a->elen)
		return 0;
	nl = p[*off];
	memcpy(e->name, p + *off + 1, nl);
	e->name[nl] = '\0';
	*off += 1 + nl;
	e->rtt_ms = be16_get(p + *off);
	*off += 2;
	il = p[(*off)++];
	memcpy(e->ip, p + *off, il);
	e->ip[il] = '\0';
	*off += il;
	return 1;
}

/* 0 decoded (a->entries points into p), 1 another version (ignore it), -1 malformed. */
int
tun_adv_decode(const uint8_t *p, size_t len, struct tun_adv *a)
{
	size_t off, sl, nl, il;
	unsigned i;

	memset(a, 0, sizeof(*a));
	if (len < 1)
		return -1;
	if (p[0] != TUN_ADV_V1)
		return 1;
	if (len < 4 || (sl = p[2]) > 63 || 3 + sl + 1 > len || !tun_text_ok(p + 3, sl, 0))
		return -1;
	a->relay = (p[1] & TUN_ADV_F_RELAY) != 0;
	memcpy(a->seen, p + 3, sl);
	a->seen[sl] = '\0';
	off = 3 + sl;
	a->n = p[off++];
	a->entries = p + off;
	for (i = 0; i < a->n; i++) {
		if (off + 1 > len || (nl = p[off]) == 0 || off + 1 + nl + 3 > len ||
		    !tun_text_ok(p + off + 1, nl, 0))
			return -1;
		off += 1 + nl + 2;
		il = p[off++];
		if (il > 45 || off + il > len || !tun_text_ok(p + off, il, 0))
			return -1;
		off += il;
	}
	if (off != len)
		return -1;
	a->elen = (size_t)(p + len - a->entries);
	return 0;
}
