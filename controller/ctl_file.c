/*
 * Replace a file atomically: write a temporary file beside it, flush it to
 * disk, rename it over the old one.  A reader (or the next start after a
 * crash) sees the old file or the new one, never half of one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"

/* The temporary file given up (fd closed when not -1); errno kept, -1. */
static int
cf_fail(struct ctl_file *cf, int fd)
{
	int saved = errno;

	if (fd != -1)
		close(fd);
	unlink(cf->tmp);
	errno = saved;
	return -1;
}

int
ctl_file_open(struct ctl_file *cf, const char *path)
{
	int fd;

	cf->f = NULL;
	cf->path = path;
	if ((size_t)snprintf(cf->tmp, sizeof(cf->tmp), "%s.XXXXXX", path) >= sizeof(cf->tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(cf->tmp)) == -1)
		return -1;
	if ((cf->f = fdopen(fd, "w")) == NULL)
		return cf_fail(cf, fd);
	return 0;
}

int
ctl_file_commit(struct ctl_file *cf)
{
	int saved;

	if (fflush(cf->f) == EOF || ferror(cf->f) || fsync(fileno(cf->f)) == -1) {
		saved = errno;
		ctl_file_abort(cf);
		errno = saved;
		return -1;
	}
	if (fclose(cf->f) == EOF) {
		cf->f = NULL;
		return cf_fail(cf, -1);
	}
	cf->f = NULL;
	if (rename(cf->tmp, cf->path) == -1)
		return cf_fail(cf, -1);
	return 0;
}

void
ctl_file_abort(struct ctl_file *cf)
{
	if (cf->f == NULL)
		return;
	fclose(cf->f);
	cf->f = NULL;
	unlink(cf->tmp);
}
