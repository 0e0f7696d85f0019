/* libFuzzer: edgemesh.yaml through config_load (make fuzz). */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct em_config cfg;
	char path[64], err[1024];
	int fd;

	log_init("fuzz", 0);
	if ((fd = memfd_create("fuzz.yaml", MFD_CLOEXEC)) == -1)
		return 0;
	if (write(fd, data, len) == (ssize_t)len) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		(void)config_load(&cfg, path, err, sizeof(err));
	}
	close(fd);
	return 0;
}
