/*
 * Drop privileges once, in a fixed order: the bounding set, the ids, the
 * capabilities (keeping only the listed ones), no_new_privs; then verify.
 * Any failure is fatal.  As root the daemon switches to its own user
 * (edgemesh-<daemon>, or -u USER|UID); -u root keeps uid 0 for development but
 * still drops every capability not listed.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sandbox.h"

static int
cap_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	return (int)syscall(SYS_capget, &hdr, data);
}

static int
cap_set(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	return (int)syscall(SYS_capset, &hdr, data);
}

static uint64_t
cap_mask(const struct __user_cap_data_struct data[2], int which)
{
	if (which == 0)
		return (uint64_t)data[1].effective << 32 | data[0].effective;
	return (uint64_t)data[1].permitted << 32 | data[0].permitted;
}

/*
 * The user a daemon started as root switches to: edgemesh-<daemon>, or -u
 * USER|UID.  0 with its ids; 1 when it stays as it is (not root, or -u root);
 * -1 when the user does not exist.
 */
int
privdrop_user(const struct em_daemon *d, uid_t *uid, gid_t *gid)
{
	char defuser[64], *end;
	const char *user;
	unsigned long id;
	struct passwd *pw;

	snprintf(defuser, sizeof(defuser), "edgemesh-%s", d->name);
	user = d->user != NULL ? d->user : defuser;
	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return 1;
	/* a numeric uid needs no passwd entry (containers often have none) */
	id = strtoul(user, &end, 10);
	if (user[0] >= '1' && user[0] <= '9' && *end == '\0' && id < 0x7fffffff) {
		*uid = (uid_t)id;
		*gid = (gid_t)id;
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void
privdrop(struct em_daemon *d, const int *caps, int ncaps)
{
	struct __user_cap_data_struct data[2];
	char defuser[64];
	const char *user;
	uint64_t keep = 0, have;
	uid_t uid = 0;
	gid_t gid = 0;
	int i, last = CAP_LAST_CAP, sw;

	for (i = 0; i < ncaps; i++)
		keep |= 1ULL << caps[i];
	if (cap_get(data) == -1)
		fatal("capget");
	have = cap_mask(data, 1);
	keep &= have;

	snprintf(defuser, sizeof(defuser), "edgemesh-%s", d->name);
	user = d->user != NULL ? d->user : defuser;
	if ((sw = privdrop_user(d, &uid, &gid)) == -1)
		fatalx("user %s does not exist: create it (scripts/add-users.sh), "
		       "or pass -u root for development",
		       user);

	/* the bounding set, while we still hold CAP_SETPCAP */
	if (have & (1ULL << CAP_SETPCAP)) {
		for (i = 0; i <= last; i++)
			if (!(keep & (1ULL << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) == -1 &&
			    errno != EINVAL)
				fatal("PR_CAPBSET_DROP %d", i);
	}

	if (sw == 0) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
			fatal("PR_SET_KEEPCAPS");
		if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			fatal("cannot switch to user %s", user);
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1)
			fatal("PR_SET_KEEPCAPS");
	} else if (geteuid() == 0) {
		log_warnx("running as root (-u root): for development only; capabilities are "
			  "still limited to what %s needs",
			  d->name);
	}

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	if (cap_set(data) == -1)
		fatal("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");

	/* verify */
	if (cap_get(data) == -1)
		fatal("capget");
	if (cap_mask(data, 0) != keep || cap_mask(data, 1) != keep)
		fatalx("privdrop: capabilities are %llx, expected %llx",
		       (unsigned long long)cap_mask(data, 1), (unsigned long long)keep);
	if (sw == 0 && (getuid() == 0 || geteuid() == 0 || setuid(0) != -1))
		fatalx("privdrop: still able to become root");
	log_debug("privileges dropped: user %s, capabilities %llx", sw == 0 ? user : "as started",
		  (unsigned long long)keep);
}

/*
 * What this process runs with, from /proc/self/status, as one sample
 * (edgemeshctl status shows it).  Landlock is what sandbox_apply() did:
 * the kernel has no query for it.
 */
void
privdrop_samples(struct em_samples *ss)
{
	static const char *const modes[] = {"disabled", "strict", "filter"};
	char line[256], uid[16] = "?", caps[24] = "?", nnp[8] = "?";
	unsigned seccomp = 3;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "Uid: %15s", uid);
		sscanf(line, "CapEff: %23s", caps);
		sscanf(line, "NoNewPrivs: %7s", nnp);
		sscanf(line, "Seccomp: %u", &seccomp);
	}
	fclose(f);
	metrics_add(ss, EM_M_DAEMON_PRIVS, 1, "uid", uid, "caps", caps, "seccomp",
		    seccomp < 3 ? modes[seccomp] : "?", "no_new_privs", nnp, "landlock",
		    sandbox_landlock_state(), NULL);
}
