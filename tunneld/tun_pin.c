/*
 * Node identity pinning: the static key a peer proves in the handshake must
 * be the one published for the node it names (em_peer.pubkey, from the Node
 * annotation edgemesh-c.io/tunnel-key, in the file registry or the API).
 * Holding the PSK is not enough to pose as another node.  Before a node's key
 * is published, its first use is allowed and logged once with the key, so an
 * operator can publish it (README: node keys).
 */
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "metrics.h"
#include "tun_noise.h"
#include "tunneld.h"

static void
pin_b64(const uint8_t *key, char *out, size_t len)
{
	sodium_bin2base64(out, len, key, NOISE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

int
tun_pin_check(struct tun_session *s, const uint8_t *rs, char *why, size_t len)
{
	const struct em_object *o;
	const char *published = "";
	uint8_t want[NOISE_KEY_LEN];
	char got[64], once[400], ip[64];
	size_t klen;

	pin_b64(rs, got, sizeof(got));
	if ((o = replica_get(s->t->d->replica, EM_TOPIC_PEERS, s->name)) != NULL &&
	    o->u.peer->pubkey != NULL)
		published = o->u.peer->pubkey;
	snprintf(ip, sizeof(ip), "%s", s->addr);
	if (published[0] == '\0') {
		snprintf(once, sizeof(once), "pin:%s:%s", s->name, got);
		log_warnx_once(once,
			       "node %s at %s: no tunnel key published; first use of key %s "
			       "allowed (pin it: annotate Node %s with %s=%s)",
			       s->name, ip, got, s->name, "edgemesh-c.io/tunnel-key", got);
		return 0;
	}
	if (sodium_base642bin(want, sizeof(want), published, strlen(published), NULL, &klen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    klen != sizeof(want) || sodium_memcmp(want, rs, sizeof(want)) != 0) {
		snprintf(why, len,
			 "node %s at %s presented tunnel key %s but its published key is %s: "
			 "refused",
			 s->name, ip, got, published);
		log_warnx("%s", why);
		return -1;
	}
	return 0;
}

/* Our public key as a sample: the controller publishes it (kube_nodekey.c). */
void
tun_pin_samples(const struct tunneld *t, struct em_samples *ss)
{
	char key[64];

	pin_b64(t->spub, key, sizeof(key));
	metrics_add(ss, EM_M_TUNNEL_KEY, 1, "key", key, NULL);
}
