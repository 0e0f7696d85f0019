/* UDP flow idle policy and LRU bound; see udpflow.h. */
#include "udpflow.h"

double
udpflow_idle(int idle_timeout, uint16_t port)
{
	double idle = idle_timeout > 0 ? (double)idle_timeout : 30.0;

	if (port == UDPFLOW_DNS_PORT && idle > UDPFLOW_DNS_IDLE)
		return UDPFLOW_DNS_IDLE;
	return idle;
}

void
udpflow_lru_init(struct udpflow_lru *l, size_t max)
{
	TAILQ_INIT(&l->q);
	l->n = 0;
	l->max = max;
}

void
udpflow_add(struct udpflow_lru *l, struct udpflow *f, double now)
{
	f->last = now;
	TAILQ_INSERT_TAIL(&l->q, f, lru);
	l->n++;
}

void
udpflow_touch(struct udpflow_lru *l, struct udpflow *f, double now)
{
	f->last = now;
	if (TAILQ_NEXT(f, lru) == NULL)
		return; /* already the most recent */
	TAILQ_REMOVE(&l->q, f, lru);
	TAILQ_INSERT_TAIL(&l->q, f, lru);
}

void
udpflow_del(struct udpflow_lru *l, struct udpflow *f)
{
	TAILQ_REMOVE(&l->q, f, lru);
	l->n--;
}

struct udpflow *
udpflow_victim(const struct udpflow_lru *l)
{
	if (l->max == 0 || l->n < l->max)
		return NULL;
	return TAILQ_FIRST(&l->q);
}

double
udpflow_left(const struct udpflow *f, double idle, double now)
{
	return f->last + idle - now;
}
