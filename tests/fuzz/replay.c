/*
 * A libFuzzer target without libFuzzer: `make check` links each
 * tests/fuzz/fuzz_X.c with this driver, built by the system compiler under
 * ASan + UBSan, and runs it over the target's seeds (tests/fuzz/seeds/X),
 * then over blind mutations of them (bit flips, interesting bytes, cuts,
 * inserts, splices; an empty input and random bytes for a target without
 * seeds).  It is no fuzzer: nothing guides the mutations.  It keeps every
 * target building and running clean under the sanitizers in CI, where clang
 * (and so `make fuzz`) is not installed.  Bounded in inputs and in time; the
 * PRNG is seeded from the arguments, so a run is reproducible; the input a
 * run dies on (a sanitizer report, a trap, an abort) is written to the -o
 * file as it dies.
 *
 *   fuzz_X-replay [-n inputs] [-t seconds] [-s seed] [-o crash-file] [seed-dir]
 */
#include <dirent.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LEN	  8192
#define MAX_SEEDS 64

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct seed {
	uint8_t *buf;
	size_t len;
};

static struct seed seeds[MAX_SEEDS];
static size_t nseeds;
static uint64_t rng;

static uint64_t
next(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static size_t
below(size_t n)
{
	return n == 0 ? 0 : (size_t)(next() % n);
}

static void
load_seeds(const char *dir)
{
	char path[4096];
	struct dirent **ents;
	FILE *f;
	int n, i;

	if ((n = scandir(dir, &ents, NULL, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: cannot read the seeds: %m\n", dir);
		exit(2);
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && nseeds < MAX_SEEDS &&
		    snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name) <
			(int)sizeof(path) &&
		    (f = fopen(path, "rb")) != NULL) {
			seeds[nseeds].buf = malloc(MAX_LEN);
			if (seeds[nseeds].buf == NULL)
				exit(2);
			seeds[nseeds].len = fread(seeds[nseeds].buf, 1, MAX_LEN, f);
			fclose(f);
			nseeds++;
		}
		free(ents[i]);
	}
	free(ents);
}

static size_t
mutate(uint8_t *b, size_t len)
{
	static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, '\n', ':', '"', '{', 0x3f};
	size_t k, i, n, at;
	const struct seed *o;

	for (k = 1 + below(4); k > 0; k--) {
		switch (below(6)) {
		case 0: /* flip a bit */
			if (len > 0)
				b[below(len)] ^= (uint8_t)(1u << below(8));
			break;
		case 1: /* an interesting byte */
			if (len > 0)
				b[below(len)] = interesting[below(sizeof(interesting))];
			break;
		case 2: /* cut the tail */
			len = below(len + 1);
			break;
		case 3: /* insert random bytes */
			n = 1 + below(16);
			if (len + n > MAX_LEN)
				break;
			at = below(len + 1);
			memmove(b + at + n, b + at, len - at);
			for (i = 0; i < n; i++)
				b[at + i] = (uint8_t)next();
			len += n;
			break;
		case 4: /* delete a range */
			if (len == 0)
				break;
			at = below(len);
			n = 1 + below(len - at);
			memmove(b + at, b + at + n, len - at - n);
			len -= n;
			break;
		default: /* splice another seed's tail in */
			if (nseeds == 0)
				break;
			o = &seeds[below(nseeds)];
			at = below(len + 1);
			i = below(o->len + 1);
			n = o->len - i;
			if (at + n > MAX_LEN)
				n = MAX_LEN - at;
			memcpy(b + at, o->buf + i, n);
			len = at + n;
		}
	}
	return len;
}

static const char *crash_file;
static const uint8_t *cur; /* the input the target is on */
static size_t curlen;

/* Dying (the sanitizers' death callback, or SIGILL / SIGABRT, which they
 * leave alone): the input goes to the -o file; async-signal-safe calls only. */
static void
save_input(void)
{
	int fd;

	if (crash_file == NULL || cur == NULL)
		return;
	if ((fd = open(crash_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) != -1) {
		if (write(fd, cur, curlen) != (ssize_t)curlen)
			(void)unlink(crash_file);
		close(fd);
	}
}

static void
on_fatal(int sig)
{
	save_input();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The target gets a copy of exactly len bytes on the heap, as libFuzzer
 * gives it: ASan then sees a read one byte past the input. */
static void
run(const uint8_t *b, size_t len)
{
	uint8_t *copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		exit(2);
	memcpy(copy, b, len);
	cur = copy;
	curlen = len;
	(void)LLVMFuzzerTestOneInput(copy, len);
	cur = NULL;
	free(copy);
}

int
main(int argc, char **argv)
{
	static uint8_t b[MAX_LEN];
	unsigned long inputs = 20000, done = 0;
	double secs = 5.;
	struct timespec t0, t;
	const struct seed *s;
	size_t len, i;
	int c;

	rng = 0x9e3779b97f4a7c15ULL;
	while ((c = getopt(argc, argv, "n:t:s:o:")) != -1)
		switch (c) {
		case 'n':
			inputs = strtoul(optarg, NULL, 10);
			break;
		case 't':
			secs = strtod(optarg, NULL);
			break;
		case 's':
			rng ^= strtoull(optarg, NULL, 0) | 1;
			break;
		case 'o':
			crash_file = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n inputs] [-t seconds] [-s seed] "
				"[-o crash-file] [seed-dir]\n",
				argv[0]);
			return 2;
		}
	if (crash_file != NULL)
		(void)unlink(crash_file); /* a stale one would name the wrong input */
	__sanitizer_set_death_callback(save_input);
	signal(SIGILL, on_fatal); /* __builtin_trap */
	signal(SIGABRT, on_fatal);
	if (optind < argc)
		load_seeds(argv[optind]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nseeds; i++, done++)
		run(seeds[i].buf, seeds[i].len);
	run(b, 0);
	for (; done < inputs; done++) {
		if (done % 256 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
				break;
		}
		if (nseeds > 0) {
			s = &seeds[below(nseeds)];
			memcpy(b, s->buf, s->len);
			len = s->len;
		} else {
			len = below(512);
			for (i = 0; i < len; i++)
				b[i] = (uint8_t)next();
		}
		run(b, mutate(b, len));
	}
	printf("%zu seeds, %lu inputs, no crash\n", nseeds, done);
	return 0;
}
