/*
 * Bounded-load consistent hashing, the ring EdgeMesh uses
 * (buraksezer/consistent v0.9.0 with XXH64, see edgemesh-features §4.2):
 * each member has `replicas` points on a ring at xxh64(member + "i");
 * partition p (0..partitions-1) goes to the first member clockwise from
 * xxh64(le64(p)) whose load stays within ceil((partitions / n) * load);
 * a key lives in partition xxh64(key) % partitions.  Removing one member
 * moves only the partitions it held plus the few that the load bound
 * pushes on, so most keys keep their endpoint under churn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "byteorder.h"
#include "lb.h"

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

struct ring_point {
	uint64_t h;
	int member;
};

struct lb_ring {
	unsigned partitions;
	size_t npoints;
	struct ring_point *points;
	int *owner; /* partition -> member */
};

static uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t
xround(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static uint64_t
xmerge(uint64_t acc, uint64_t v)
{
	acc ^= xround(0, v);
	return acc * P1 + P4;
}

uint64_t
lb_xxh64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t h, v1, v2, v3, v4;

	if (len >= 32) {
		v1 = seed + P1 + P2;
		v2 = seed + P2;
		v3 = seed;
		v4 = seed - P1;
		do {
			v1 = xround(v1, le64_get(p));
			v2 = xround(v2, le64_get(p + 8));
			v3 = xround(v3, le64_get(p + 16));
			v4 = xround(v4, le64_get(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xmerge(h, v1);
		h = xmerge(h, v2);
		h = xmerge(h, v3);
		h = xmerge(h, v4);
	} else
		h = seed + P5;
	h += (uint64_t)len;
	while (p + 8 <= end) {
		h ^= xround(0, le64_get(p));
		h = rotl64(h, 27) * P1 + P4;
		p += 8;
	}
	if (p + 4 <= end) {
		h ^= (uint64_t)le32_get(p) * P1;
		h = rotl64(h, 23) * P2 + P3;
		p += 4;
	}
	while (p < end) {
		h ^= (uint64_t)*p * P5;
		h = rotl64(h, 11) * P1;
		p++;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

static int
point_cmp(const void *a, const void *b)
{
	const struct ring_point *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->member - y->member;
}

struct lb_ring *
lb_ring_new(char *const *members, size_t n, unsigned partitions, unsigned replicas, double load)
{
	struct lb_ring *r;
	unsigned *loads;
	char buf[400];
	size_t i, j, idx, lo, hi, count;
	uint64_t key;
	uint8_t le[8];
	double avg;
	unsigned p;
	int k, len;

	if (partitions == 0)
		partitions = 100;
	if (replicas == 0)
		replicas = 10;
	if (load < 1.0)
		load = 1.25;
	r = xcalloc(1, sizeof(*r));
	r->partitions = partitions;
	r->owner = xcalloc(partitions, sizeof(int));
	if (n == 0) {
		for (p = 0; p < partitions; p++)
			r->owner[p] = -1;
		return r;
	}
	r->points = xreallocarray(NULL, n * replicas, sizeof(*r->points));
	for (i = 0; i < n; i++)
		for (j = 0; j < replicas; j++) {
			len = snprintf(buf, sizeof(buf), "%s%zu", members[i], j);
			if (len < 0 || (size_t)len >= sizeof(buf))
				len = (int)sizeof(buf) - 1;
			r->points[r->npoints].h = lb_xxh64(buf, (size_t)len, 0);
			r->points[r->npoints].member = (int)i;
			r->npoints++;
		}
	qsort(r->points, r->npoints, sizeof(*r->points), point_cmp);

	loads = xcalloc(n, sizeof(*loads));
	avg = ceil((double)(partitions / n) * load);
	for (p = 0; p < partitions; p++) {
		for (k = 0; k < 8; k++)
			le[k] = (uint8_t)((uint64_t)p >> (8 * k));
		key = lb_xxh64(le, sizeof(le), 0);
		lo = 0;
		hi = r->npoints;
		while (lo < hi) { /* first point >= key */
			size_t mid = (lo + hi) / 2;
			if (r->points[mid].h >= key)
				hi = mid;
			else
				lo = mid + 1;
		}
		idx = lo >= r->npoints ? 0 : lo;
		r->owner[p] = r->points[idx].member; /* if no room anywhere */
		for (count = 0; count < r->npoints; count++) {
			int m = r->points[idx].member;

			if ((double)loads[m] + 1 <= avg) {
				r->owner[p] = m;
				break;
			}
			if (++idx >= r->npoints)
				idx = 0;
		}
		loads[r->owner[p]]++;
	}
	free(loads);
	return r;
}

void
lb_ring_free(struct lb_ring *r)
{
	if (r == NULL)
		return;
	free(r->points);
	free(r->owner);
	free(r);
}

int
lb_ring_locate(const struct lb_ring *r, const void *key, size_t len)
{
	if (r == NULL || r->npoints == 0)
		return -1;
	return r->owner[lb_xxh64(key, len, 0) % r->partitions];
}
