/*
 * The embedded file registry: a directory of Kubernetes YAML manifests
 * (multi-document, also `kind: List`), watched with inotify.  Each file's
 * objects are remembered, so an edit becomes puts for what it defines now
 * and deletes for what it no longer defines.  A malformed object is logged
 * with its file and name and skipped; a file that does not parse keeps its
 * last good objects.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "controller.h"
#include "log.h"

#define SETTLE_SECONDS 0.005 /* coalesce the events of one save */
#define CHUNK_HASH     16    /* bytes of a document's BLAKE2b */
#define PARSE_AHEAD    64    /* documents of a new file parsed before their turn */

struct fobj {
	enum kobj_kind kind;
	char *ns, *name;
	size_t chunk; /* the document (chunk) of the file that defines it */
};

/*
 * What one file defines, in file order, with an index by kind/ns/name.  A
 * file that splits into documents at its "---" lines (chunked) also keeps
 * a hash of each document: at a reload, a document whose bytes did not
 * change is not parsed again, its objects stay as they are in the state
 * (an edit of one object in a file of thousands parses one document).
 */
struct fset {
	size_t n;
	struct fobj *v;
	struct hmap *idx; /* kind/ns/name -> index + 1 in v */
	int chunked;
	int dups;	    /* an object is defined twice: reload whole (the later one wins) */
	uint64_t takeovers; /* state_takeovers() after the load: none since, all still ours */
	size_t nchunks;
	unsigned char (*hash)[CHUNK_HASH];
};

struct reg_file {
	struct ev_loop *loop;
	char dir[PATH_MAX];
	struct state *state;
	int ifd, wd;
	ev_io iw;
	ev_timer settle;
	struct hmap *files;   /* file name -> struct fset */
	struct hmap *pending; /* file names changed since the last settle */
};

static void
fset_free(void *p)
{
	struct fset *f = p;
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].ns);
		free(f->v[i].name);
	}
	free(f->v);
	hmap_free(f->idx, NULL);
	free(f->hash);
	free(f);
}

static struct fset *
fset_new(void)
{
	struct fset *f = xcalloc(1, sizeof(*f));

	f->idx = hmap_new();
	return f;
}

static int
is_manifest(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static size_t
fobj_key(char *key, size_t len, enum kobj_kind kind, const char *ns, const char *name)
{
	size_t a = strlen(ns), b = strlen(name);

	/* Kubernetes names are far shorter; a longer one is cut (len >= 3) */
	if (a > len - 3)
		a = len - 3;
	if (b > len - 3 - a)
		b = len - 3 - a;
	key[0] = (char)('A' + (int)kind);
	memcpy(key + 1, ns, a);
	key[1 + a] = '/';
	memcpy(key + 2 + a, name, b);
	key[2 + a + b] = '\0';
	return 2 + a + b;
}

static int
fset_has(const struct fset *f, const struct fobj *o)
{
	char key[EM_KEY_LEN + 2];

	fobj_key(key, sizeof(key), o->kind, o->ns, o->name);
	return hmap_get(f->idx, key) != NULL;
}

/* Append an object; ns and name are copied, or taken when own (then old's are NULL). */
static void
fset_add_own(struct fset *f, enum kobj_kind kind, char *ns, char *name, size_t chunk)
{
	char key[EM_KEY_LEN + 2];

	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	f->v[f->n].kind = kind;
	f->v[f->n].ns = ns;
	f->v[f->n].name = name;
	f->v[f->n].chunk = chunk;
	f->n++;
	fobj_key(key, sizeof(key), kind, ns, name);
	hmap_put(f->idx, key, (void *)(uintptr_t)f->n);
}

static void
fset_add(struct fset *f, enum kobj_kind kind, const char *ns, const char *name, size_t chunk)
{
	fset_add_own(f, kind, xstrdup(ns), xstrdup(name), chunk);
}

/* One object of chunk `chunk`, to the state (taken from o). */
static void
apply_obj(struct reg_file *rf, const char *path, struct doc_obj *o, struct fset *nf, size_t chunk)
{
	struct kobj *k = o->k;

	if (o->err != NULL)
		log_warnx("%s:%d: skipped: %s", path, o->line, o->err);
	if (o->warn != NULL)
		log_warnx("%s:%d: %s", path, o->line, o->warn);
	if (k == NULL)
		return;
	o->k = NULL;
	if (fset_has(nf, &(struct fobj){k->kind, k->ns, k->name, 0})) {
		log_warnx("%s:%d: %s %s/%s is defined twice in this file; the later one wins", path,
			  o->line, kobj_kind_name(k->kind), k->ns, k->name);
		nf->dups = 1;
	} else {
		fset_add(nf, k->kind, k->ns, k->name, chunk);
	}
	state_put(rf->state, k, path);
}

static void
settle_arm(struct reg_file *rf)
{
	if (hmap_count(rf->pending) > 0 && !ev_is_active(&rf->settle)) {
		ev_timer_set(&rf->settle, SETTLE_SECONDS, 0.);
		ev_timer_start(rf->loop, &rf->settle);
	}
}

/*
 * name no longer defines o: if another file defines it too, reload that
 * one, so its definition takes over instead of the object vanishing.
 */
static void
drop_obj(struct reg_file *rf, const char *name, const char *path, const struct fobj *o)
{
	struct hmap_iter it;
	const char *other;
	void *v;

	state_del(rf->state, o->kind, o->ns, o->name, path);
	hmap_iter_init(&it);
	while (hmap_next(rf->files, &it, &other, &v))
		if (strcmp(other, name) != 0 && fset_has(v, o))
			hmap_put(rf->pending, other, (void *)1);
	settle_arm(rf);
}

/*
 * Which chunks of the new text are an old chunk's bytes whose objects are
 * all still this file's in the state: those are not parsed again.
 */
static size_t *
match_chunks(struct reg_file *rf, const char *path, const struct fset *old, struct doc_chunk *c,
	     size_t n, unsigned char (*hash)[CHUNK_HASH])
{
	struct hmap *byhash;
	size_t i, j, *first;
	const char *src;
	void *v;

	if (old == NULL || !old->chunked || old->dups)
		return NULL;
	/* old chunk -> its first object (objects are in chunk order) */
	first = xcalloc(old->nchunks + 1, sizeof(*first));
	for (i = 0, j = 0; i <= old->nchunks; i++) {
		while (j < old->n && old->v[j].chunk < i)
			j++;
		first[i] = j;
	}
	byhash = hmap_new();
	for (i = 0; i < old->nchunks; i++)
		hmap_putb(byhash, old->hash[i], CHUNK_HASH, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < n; i++) {
		if ((v = hmap_delb(byhash, hash[i], CHUNK_HASH)) == NULL)
			continue;
		c[i].old = (size_t)(uintptr_t)v - 1;
		c[i].reuse = 1;
		if (state_takeovers(rf->state) == old->takeovers)
			continue;
		for (j = first[c[i].old]; j < first[c[i].old + 1]; j++) {
			src = state_raw_source(rf->state, old->v[j].kind, old->v[j].ns,
					       old->v[j].name);
			if (src == NULL || strcmp(src, path) != 0)
				c[i].reuse = 0;
		}
	}
	hmap_free(byhash, NULL);
	return first; /* the caller frees it */
}

/* Chunk i's objects, applied in file order, then released. */
static void
apply_chunk(struct reg_file *rf, const char *path, struct doc_chunk *c, struct fset *nf, size_t i)
{
	size_t j;

	for (j = 0; j < c[i].nobjs; j++)
		apply_obj(rf, path, &c[i].objs[j], nf, i);
	doc_chunk_clear(&c[i]);
}

/* (Re)load one file; a file that is gone drops everything it defined. */
static void
load_file(struct reg_file *rf, const char *name)
{
	struct fset *old, *nf;
	struct doc_chunk *c = NULL;
	struct parse_pool *pp = NULL;
	unsigned char(*hash)[CHUNK_HASH] = NULL;
	struct stat st;
	char path[PATH_MAX * 2], err[1024], *buf;
	size_t len, i, j, nparsed = 0, threads, *first = NULL;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", rf->dir, name);
	old = hmap_get(rf->files, name);
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (old == NULL)
			return;
		hmap_del(rf->files, name);
		for (i = 0; i < old->n; i++)
			drop_obj(rf, name, path, &old->v[i]);
		fset_free(old);
		log_info("registry: %s removed", path);
		return;
	}
	if (yaml_json_read_file(path, &buf, &len, err, sizeof(err)) == -1) {
		log_warnx("registry: %s; keeping its last good objects", err);
		return;
	}
	nf = fset_new();
	if ((n = reg_split(buf, len, &c)) == -1) {
		c = xcalloc(1, sizeof(*c)); /* the file whole */
		c[0].p = buf;
		c[0].len = len;
		n = 1;
	} else {
		nf->chunked = 1;
		hash = xcalloc((size_t)n + 1, sizeof(*hash));
		for (i = 0; i < (size_t)n; i++)
			crypto_generichash(hash[i], CHUNK_HASH, (const unsigned char *)c[i].p,
					   c[i].len, NULL, 0);
		first = match_chunks(rf, path, old, c, (size_t)n, hash);
	}
	pp = parse_pool_start(path, c, (size_t)n, old == NULL ? PARSE_AHEAD : (size_t)n);
	threads = parse_pool_threads(pp);
	if (old == NULL) {
		/*
		 * new: each document applied as soon as it is parsed (small
		 * working set); on an error the file had no good objects: those
		 * it put are taken back (another file's definition is reloaded)
		 */
		for (i = 0; i < (size_t)n; i++) {
			if (parse_pool_wait(pp, i) == -1) {
				log_warnx("registry: %s; keeping its last good objects", c[i].err);
				for (j = 0; j < nf->n; j++)
					drop_obj(rf, name, path, &nf->v[j]);
				goto bad;
			}
			apply_chunk(rf, path, c, nf, i);
		}
		nparsed = (size_t)n;
		goto applied;
	}
	/* parse first: a file with an error keeps its last good objects */
	for (i = 0; i < (size_t)n; i++) {
		nparsed += !c[i].reuse;
		if (parse_pool_wait(pp, i) == -1) {
			log_warnx("registry: %s; keeping its last good objects", c[i].err);
			goto bad;
		}
	}
	parse_pool_end(pp);
	pp = NULL;
	for (i = 0; i < (size_t)n; i++) {
		if (!c[i].reuse) {
			apply_chunk(rf, path, c, nf, i);
			continue;
		}
		for (j = first[c[i].old]; j < first[c[i].old + 1]; j++) {
			if (fset_has(nf, &old->v[j])) {
				nf->dups = 1; /* and reload it whole, below */
				continue;
			}
			/* moved: old's entry (ns NULL) is known to stay */
			fset_add_own(nf, old->v[j].kind, old->v[j].ns, old->v[j].name, i);
			old->v[j].ns = old->v[j].name = NULL;
		}
	}
applied:
	parse_pool_end(pp);
	nf->nchunks = nf->chunked ? (size_t)n : 0;
	nf->hash = hash;
	if (nf->dups && nparsed < (size_t)n)
		hmap_put(rf->pending, name, (void *)1); /* the later definition must win */
	free(c);
	free(first);
	free(buf);
	if (old != NULL) {
		for (i = 0; i < old->n; i++)
			if (old->v[i].ns != NULL && !fset_has(nf, &old->v[i]))
				drop_obj(rf, name, path, &old->v[i]);
		fset_free(old);
	}
	nf->takeovers = state_takeovers(rf->state);
	hmap_put(rf->files, name, nf);
	settle_arm(rf);
	log_debug("registry: %s: %zu objects, %zu of %zd documents parsed (%zu parser threads)",
		  path, nf->n, nparsed, n, threads);
	return;
bad:
	parse_pool_end(pp);
	for (i = 0; i < (size_t)n; i++)
		doc_chunk_clear(&c[i]);
	free(c);
	free(hash);
	free(first);
	free(buf);
	fset_free(nf);
}

/* The changed files in name order, as at start: of two files that define
 * one object the later name wins (the table's order is random). */
static void
settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_file *rf = w->data;
	char **names;
	size_t n, i;

	names = hmap_keys(rf->pending, &n);
	for (i = 0; i < n; i++) {
		hmap_del(rf->pending, names[i]);
		load_file(rf, names[i]);
	}
	hmap_keys_free(names);
	state_commit(rf->state);
	malloc_trim(0); /* the parsed documents are gone: give their pages back */
}

static void
inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct reg_file *rf = w->data;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	for (;;) {
		n = read(rf->ifd, buf, sizeof(buf));
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("registry: inotify read");
			break;
		}
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("registry: inotify overflow; rescanning %s", rf->dir);
				/* a rescan: every known and present file */
				DIR *dp = opendir(rf->dir);
				struct dirent *de;
				struct hmap_iter it;
				const char *name;
				void *v;

				while (dp != NULL && (de = readdir(dp)) != NULL)
					if (is_manifest(de->d_name))
						hmap_put(rf->pending, de->d_name, (void *)1);
				if (dp != NULL)
					closedir(dp);
				hmap_iter_init(&it);
				while (hmap_next(rf->files, &it, &name, &v))
					hmap_put(rf->pending, name, (void *)1);
				continue;
			}
			if (ev->len == 0 || !is_manifest(ev->name))
				continue;
			hmap_put(rf->pending, ev->name, (void *)1);
		}
	}
	settle_arm(rf);
}

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct reg_file *
reg_file_new(struct ev_loop *loop, const char *dir, struct state *st)
{
	struct reg_file *rf = xcalloc(1, sizeof(*rf));
	struct dirent **names = NULL;
	double t0, t1;
	int n, i;

	rf->loop = loop;
	rf->state = st;
	rf->files = hmap_new();
	rf->pending = hmap_new();
	snprintf(rf->dir, sizeof(rf->dir), "%s", dir);
	if ((rf->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal("inotify_init1");
	rf->wd = inotify_add_watch(
	    rf->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE);
	if (rf->wd == -1)
		fatal("registry.path %s: cannot watch", dir);
	ev_io_init(&rf->iw, inotify_cb, rf->ifd, EV_READ);
	rf->iw.data = rf;
	ev_io_start(loop, &rf->iw);
	ev_timer_init(&rf->settle, settle_cb, SETTLE_SECONDS, 0.);
	rf->settle.data = rf;

	/* the initial load, in name order so "later file wins" is predictable */
	t0 = mono_ms();
	if ((n = scandir(dir, &names, NULL, alphasort)) == -1)
		fatal("registry.path %s", dir);
	for (i = 0; i < n; i++) {
		if (is_manifest(names[i]->d_name))
			load_file(rf, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	t1 = mono_ms();
	state_commit(st);
	malloc_trim(0);
	log_info("registry: loaded %s: %zu services, %zu endpoints objects, %zu slices, %zu nodes "
		 "(read and parsed in %.0f ms, published in %.0f ms)",
		 dir, state_raw_count(st, KOBJ_SERVICE), state_raw_count(st, KOBJ_ENDPOINTS),
		 state_raw_count(st, KOBJ_ENDPOINTSLICE), state_raw_count(st, KOBJ_NODE), t1 - t0,
		 mono_ms() - t1);
	return rf;
}

void
reg_file_free(struct reg_file *rf)
{
	if (rf == NULL)
		return;
	ev_io_stop(rf->loop, &rf->iw);
	ev_timer_stop(rf->loop, &rf->settle);
	close(rf->ifd);
	hmap_free(rf->files, fset_free);
	hmap_free(rf->pending, NULL);
	free(rf);
}
