/*
 * A registry file's documents, split at its "---" lines and parsed on
 * worker threads, handed back in file order.  A file of thousands of
 * documents (a cold start on 10k Services) parses on every CPU the
 * controller may run on, while the main thread applies each document as
 * its turn comes; a small file, or one CPU, parses inline.
 *
 * A worker turns a chunk into validated objects (yaml_json, kobj_parse:
 * libyaml and jansson on values of their own, no state shared between
 * parsers or trees) and releases the JSON itself; it never touches the
 * controller's state or the event loop, and logs only at debug level.  They take chunks in file
 * order and stay at most `ahead` chunks past the one the consumer waits for, so the
 * parsed-but-unapplied working set stays small.  The consumer also parses
 * the chunk it waits for itself when no worker has taken it yet.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

#define PARSE_MIN_CHUNKS  32 /* fewer: inline, threads would not pay */
#define PARSE_MAX_THREADS 4

struct parse_pool {
	const char *name;
	struct doc_chunk *c;
	size_t n;
	size_t next;	     /* the next chunk a worker takes */
	size_t want;	     /* the chunk the consumer waits for */
	size_t ahead;	     /* workers take chunks below want + ahead */
	unsigned char *done; /* parsed (docs or err set) */
	int stop;
	size_t nthreads;
	pthread_t th[PARSE_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t work;  /* for workers: want moved, or stop */
	pthread_cond_t ready; /* for the consumer: a chunk is done */
};

/* A "---" line starts a document ("---" then a blank or the end). */
static int
is_doc_start(const char *p, const char *end)
{
	return end - p >= 3 && memcmp(p, "---", 3) == 0 &&
	       (end - p == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\n' || p[3] == '\r');
}

/* A directive (%YAML, %TAG) or a document end ("..."): not split, parsed whole. */
static int
is_unsplittable(const char *p, const char *end)
{
	return p < end && (p[0] == '%' || (end - p >= 3 && memcmp(p, "...", 3) == 0 &&
					   (end - p == 3 || p[3] == ' ' || p[3] == '\t' ||
					    p[3] == '\n' || p[3] == '\r')));
}

/*
 * The documents of buf at its "---" lines: a "---" at the start of a line
 * always starts a document for libyaml (a scalar cannot hold one), so
 * each piece parses alone as it does in the file.  -1 (parse whole) when
 * the file has directives or "..." lines.
 */
ssize_t
reg_split(const char *buf, size_t len, struct doc_chunk **out)
{
	const char *p = buf, *end = buf + len, *nl;
	struct doc_chunk *c = NULL;
	size_t n = 0, line = 0;

	while (p < end) {
		if (is_unsplittable(p, end)) {
			free(c);
			return -1;
		}
		if (n == 0 || is_doc_start(p, end)) {
			if (n > 0)
				c[n - 1].len = (size_t)(p - c[n - 1].p);
			c = xreallocarray(c, n + 1, sizeof(*c));
			memset(&c[n], 0, sizeof(c[n]));
			c[n].p = p;
			c[n].line0 = line;
			n++;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		p = nl == NULL ? end : nl + 1;
		line++;
	}
	if (n > 0)
		c[n - 1].len = (size_t)(end - c[n - 1].p);
	*out = c;
	return (ssize_t)n;
}

/* A new, zeroed object of c at line. */
static struct doc_obj *
obj_new(struct doc_chunk *c, int line)
{
	struct doc_obj *o;

	c->objs = xreallocarray(c->objs, c->nobjs + 1, sizeof(*c->objs));
	o = &c->objs[c->nobjs++];
	memset(o, 0, sizeof(*o));
	o->line = line;
	return o;
}

static void
objs_add(struct doc_chunk *c, int line, const json_t *doc)
{
	struct kobj_diag diag;
	struct doc_obj *o;
	const json_t *kind, *items, *it;
	size_t i;

	kind = json_object_get(doc, "kind");
	items = json_object_get(doc, "items");
	if (json_is_string(kind) && strcmp(json_string_value(kind), "List") == 0 &&
	    json_is_array(items)) {
		json_array_foreach(items, i, it) objs_add(c, line, it);
		return;
	}
	o = obj_new(c, line);
	memset(&diag, 0, sizeof(diag));
	if (kobj_parse(doc, &o->k, &diag) == -1) {
		o->err = xstrdup(diag.err);
		return;
	}
	if (diag.warn[0] != '\0')
		o->warn = xstrdup(diag.warn);
}

/* Chunk c to objects: parsed, validated, its JSON released (on the thread that made it). */
static void
chunk_parse(const char *name, struct doc_chunk *c)
{
	struct json_arena arena;
	struct yaml_doc *docs;
	size_t ndocs, i;
	char err[1024];

	json_arena_begin(&arena);
	if (yaml_json_load_buf_at(c->p, c->len, name, c->line0, &docs, &ndocs, err, sizeof(err)) ==
	    -1) {
		json_arena_end(&arena);
		c->err = xstrdup(err);
		return;
	}
	for (i = 0; i < ndocs; i++) {
		if (json_is_object(docs[i].root)) {
			objs_add(c, docs[i].line, docs[i].root);
			continue;
		}
		obj_new(c, docs[i].line)->err = xstrdup("a document must be a mapping");
	}
	yaml_json_docs_free(docs, ndocs);
	json_arena_end(&arena);
}

void
doc_chunk_clear(struct doc_chunk *c)
{
	size_t i;

	for (i = 0; i < c->nobjs; i++) {
		kobj_free(c->objs[i].k);
		free(c->objs[i].err);
		free(c->objs[i].warn);
	}
	free(c->objs);
	free(c->err);
	c->objs = NULL;
	c->nobjs = 0;
	c->err = NULL;
}

/* Under mu: the next chunk to parse, or n when there is none (yet). */
static size_t
take(struct parse_pool *pp)
{
	while (pp->next < pp->n && pp->c[pp->next].reuse)
		pp->done[pp->next++] = 1;
	if (pp->stop || pp->next >= pp->n || pp->next >= pp->want + pp->ahead)
		return pp->n;
	return pp->next++;
}

/* Under mu: parse chunk i unlocked, then mark it done. */
static void
run(struct parse_pool *pp, size_t i)
{
	pthread_mutex_unlock(&pp->mu);
	chunk_parse(pp->name, &pp->c[i]);
	pthread_mutex_lock(&pp->mu);
	pp->done[i] = 1;
}

static void *
worker(void *arg)
{
	struct parse_pool *pp = arg;
	size_t i;

	pthread_mutex_lock(&pp->mu);
	for (;;) {
		if ((i = take(pp)) < pp->n) {
			run(pp, i);
			if (i == pp->want)
				pthread_cond_signal(&pp->ready);
			continue;
		}
		if (pp->stop || pp->next >= pp->n)
			break;
		pthread_cond_wait(&pp->work, &pp->mu);
	}
	pthread_mutex_unlock(&pp->mu);
	return NULL;
}

static size_t
cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	return (size_t)CPU_COUNT(&set);
}

struct parse_pool *
parse_pool_start(const char *name, struct doc_chunk *c, size_t n, size_t ahead)
{
	struct parse_pool *pp = xcalloc(1, sizeof(*pp));
	sigset_t all, old;
	size_t i, nparse = 0, want;
	int rc;

	pp->name = name;
	pp->c = c;
	pp->n = n;
	pp->ahead = ahead > 0 ? ahead : 1;
	for (i = 0; i < n; i++)
		nparse += !c[i].reuse;
	want = cpus();
	if (nparse < PARSE_MIN_CHUNKS || want < 2)
		return pp; /* inline */
	if (want > PARSE_MAX_THREADS)
		want = PARSE_MAX_THREADS;
	json_arena_init(); /* the hooks are set before a worker uses jansson */
	pp->done = xcalloc(n, 1);
	pthread_mutex_init(&pp->mu, NULL);
	pthread_cond_init(&pp->work, NULL);
	pthread_cond_init(&pp->ready, NULL);
	/* signals stay the main thread's (libev's) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < want; i++) {
		if ((rc = pthread_create(&pp->th[i], NULL, worker, pp)) != 0) {
			log_warnx("registry: %s: parser thread: %s; %zu running", name,
				  strerror(rc), pp->nthreads);
			break;
		}
		pp->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pp;
}

int
parse_pool_wait(struct parse_pool *pp, size_t i)
{
	struct doc_chunk *c = &pp->c[i];

	if (c->reuse)
		return 0;
	if (pp->nthreads == 0) {
		chunk_parse(pp->name, c);
	} else {
		pthread_mutex_lock(&pp->mu);
		pp->want = i;
		pthread_cond_broadcast(&pp->work);
		while (!pp->done[i]) {
			if (pp->next == i) {
				pp->next++; /* no worker has it: parse it here */
				run(pp, i);
			} else
				pthread_cond_wait(&pp->ready, &pp->mu);
		}
		pthread_mutex_unlock(&pp->mu);
	}
	return c->err == NULL ? 0 : -1;
}

size_t
parse_pool_threads(const struct parse_pool *pp)
{
	return pp->nthreads;
}

void
parse_pool_end(struct parse_pool *pp)
{
	size_t i;

	if (pp == NULL)
		return;
	if (pp->nthreads > 0) {
		pthread_mutex_lock(&pp->mu);
		pp->stop = 1;
		pthread_cond_broadcast(&pp->work);
		pthread_mutex_unlock(&pp->mu);
		for (i = 0; i < pp->nthreads; i++)
			pthread_join(pp->th[i], NULL);
		pthread_cond_destroy(&pp->ready);
		pthread_cond_destroy(&pp->work);
		pthread_mutex_destroy(&pp->mu);
	}
	free(pp->done);
	free(pp);
}
