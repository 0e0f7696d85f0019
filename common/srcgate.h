/*
 * The client check of socksd and dnsd: commonConfig.clientSourceRanges, or
 * the default derived from this host's interfaces and its Node addresses.
 */
#ifndef EM_SRCGATE_H
#define EM_SRCGATE_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "srcrange.h"

struct replica;

/*
 * A source check for a daemon's clients: the configured ranges, else the
 * default of srcrange_local() for node, whose Node addresses come from the
 * peers topic of the daemon's replica.  The default is derived again at most once a second when a
 * source does not match (an interface or Node address may be new) and
 * every 30 s; changes are logged.
 */
struct srcgate {
	struct srcrange_set fixed; /* commonConfig.clientSourceRanges; n 0: derive */
	struct srcrange_set derived;
	double derived_at;		/* < 0: never */
	struct replica *const *replica; /* the daemon's, made later */
	const char *node;
	uint64_t refused;
};

/* ranges from the config (strings checked by config_load); -1 with why. */
int srcgate_init(struct srcgate *, const char (*ranges)[50], size_t n,
		 struct replica *const *replica, const char *node, char *why, size_t len);
bool srcgate_allows(struct srcgate *, const struct sockaddr *, double now);
/* Count and log a refusal: the same what one line a second at most
 * (log_repeat), with the count held back.  now: log_clock()'s seconds, the
 * clock of the whole repeat table.  True when logged. */
bool srcgate_log_refused(struct srcgate *, const char *what, const struct sockaddr *, double now);

#endif
