/*
 * The node's static X25519 key (stateDir/tunnel.key, base64, created on
 * first start with O_EXCL and mode 0600) and the PSK file.  Both are read
 * before privdrop() into sodium_malloc memory; files readable by group or
 * others are refused, and so are files owned by anyone but us or the user
 * privdrop() switches to (README's recipe: chown edgemesh-tunneld, chmod 600).
 * A key made as root is handed to that user, so a later start as that user
 * (a container with runAsUser) can read it too.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "p2p.h"
#include "tunneld.h"

#define KEY_FILE     "tunnel.key"
#define PSK_FILE_MAX 4096

int
tun_file_private(int fd, const char *path, uid_t runas, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s is readable by group or others (mode %04o): "
			 "refusing it; fix with \"chmod 600 %s\"",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != runas) {
		snprintf(err, errlen,
			 "%s is owned by uid %u, neither by us (uid %u) nor by the user we run "
			 "as (uid %u): fix with \"chown %u %s\"",
			 path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)runas,
			 (unsigned)runas, path);
		return -1;
	}
	return 0;
}

/* Read at most cap bytes of a private file into buf; -1 with err. */
static int
read_private(const char *path, uid_t runas, uint8_t *buf, size_t cap, size_t *len, char *err,
	     size_t errlen)
{
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (tun_file_private(fd, path, runas, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	for (;;) {
		n = read(fd, buf + off, cap - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off == cap) {
			snprintf(err, errlen, "%s: longer than %zu bytes", path, cap - 1);
			close(fd);
			return -1;
		}
	}
	close(fd);
	*len = off;
	return 0;
}

static int
key_create(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uint8_t priv[NOISE_KEY_LEN], pub[NOISE_KEY_LEN];
	char b64[sodium_base64_ENCODED_LEN(NOISE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	size_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	noise_keypair(priv, pub);
	sodium_bin2base64(b64, sizeof(b64), priv, sizeof(priv), sodium_base64_VARIANT_ORIGINAL);
	n = strlen(b64);
	b64[n++] = '\n';
	if ((uid != geteuid() && fchown(fd, uid, gid) == -1) || write(fd, b64, n) != (ssize_t)n ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
	log_info("created the node's tunnel key in %s", path);
	rc = 0;
out:
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(b64, sizeof(b64));
	return rc;
}

int
tun_keys_load(struct tunneld *t, const char *state_dir, char *err, size_t errlen)
{
	char path[EM_PATH_MAX + 16];
	uint8_t *buf;
	size_t len, klen;
	int rc = -1;

	if (mkdir(state_dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "stateDir %s: %s", state_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, KEY_FILE);
	if (access(path, F_OK) == -1 && errno == ENOENT &&
	    key_create(path, t->run_uid, t->run_gid, err, errlen) == -1)
		return -1;
	if ((buf = sodium_malloc(256)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	if ((t->spriv = sodium_malloc(NOISE_KEY_LEN)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	if (read_private(path, t->run_uid, buf, 256, &len, err, errlen) == -1)
		goto out;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
		len--;
	if (sodium_base642bin(t->spriv, NOISE_KEY_LEN, (const char *)buf, len, NULL, &klen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == -1 ||
	    klen != NOISE_KEY_LEN) {
		snprintf(err, errlen,
			 "%s: not a base64 X25519 key; move it away to have a new one "
			 "made",
			 path);
		goto out;
	}
	if (noise_pubkey(t->spriv, t->spub) == -1) {
		snprintf(err, errlen, "%s: unusable key", path);
		goto out;
	}
	rc = 0;
out:
	sodium_free(buf);
	return rc;
}

/*
 * The PSK that EdgeMesh's manifests ship (build/agent/resources/04-configmap.yaml,
 * "Don't use this psk"): public, so it admits anyone.  Refused by value.
 */
static const char *const example_psks[] = {"JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ="};

#define PSK_HOWTO                                                                                  \
	"make one with \"edgemeshctl gen-psk > %s\" (or \"openssl rand -base64 32\"); in "         \
	"Kubernetes: \"kubectl -n kubeedge create configmap edgemesh-agent-psk "                   \
	"--from-literal=psk=$(openssl rand -base64 32)\""

static int
psk_is_example(const uint8_t *buf, size_t len)
{
	size_t i;

	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r' ||
			   buf[len - 1] == '\n'))
		len--;
	for (i = 0; i < sizeof(example_psks) / sizeof(example_psks[0]); i++)
		if (len == strlen(example_psks[i]) && memcmp(buf, example_psks[i], len) == 0)
			return 1;
	return 0;
}

int
tun_psk_load(struct tunneld *t, const char *path, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int rc = -1;

	if ((buf = sodium_malloc(PSK_FILE_MAX)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	if ((t->psk = sodium_malloc(NOISE_KEY_LEN)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		snprintf(err, errlen, "%s: no PSK file: " PSK_HOWTO, path, path);
		goto out;
	}
	if (read_private(path, t->run_uid, buf, PSK_FILE_MAX, &len, err, errlen) == -1)
		goto out;
	if (psk_is_example(buf, len)) {
		snprintf(err, errlen,
			 "%s holds the public example PSK from EdgeMesh's manifests, which "
			 "admits anyone: " PSK_HOWTO,
			 path, path);
		goto out;
	}
	if (noise_psk_from_string(buf, len, t->psk) == -1) {
		snprintf(err, errlen, "%s: the PSK file is empty: " PSK_HOWTO, path, path);
		goto out;
	}
	noise_psk_fingerprint(t->psk, t->fp);
	/* EdgeMesh agents' pnet key from the same file (p2p_conn.c) */
	if ((t->p2p_psk = sodium_malloc(P2P_PNET_KEY)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	p2p_pnet_psk_from_file(buf, len, t->p2p_psk, NULL);
	rc = 0;
out:
	sodium_memzero(buf, PSK_FILE_MAX);
	sodium_free(buf);
	return rc;
}
