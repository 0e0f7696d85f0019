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

static void
load_one(struct reg_file *rf, const char *path, int line, const json_t *doc, struct fset *nf,
	 size_t chunk)
{
	struct kobj_diag diag;
	struct kobj *k = NULL;
	const json_t *items, *kind, *it;
	size_t i;

	kind = json_object_get(doc, "kind");
	items = json_object_get(doc, "items");
	if (json_is_string(kind) && strcmp(json_string_value(kind), "List") == 0 &&
	    json_is_array(items)) {
		json_array_foreach(items, i, it) load_one(rf, path, line, it, nf, chunk);
		return;
	}
	memset(&diag, 0, sizeof(diag));
	if (kobj_parse(doc, &k, &diag) == -1) {
		log_warnx("%s:%d: skipped: %s", path, line, diag.err);
		return;
	}
	if (diag.warn[0] != '\0')
		log_warnx("%s:%d: %s", path, line, diag.warn);
	if (k == NULL)
		return;
	if (fset_has(nf, &(struct fobj){k->kind, k->ns, k->name, 0})) {
		log_warnx("%s:%d: %s %s/%s is defined twice in this file; the later one wins", path,
			  line, kobj_kind_name(k->kind), k->ns, k->name);
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

/* A line that starts a document ("---" then a blank or the end). */
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

struct chunk {
	const char *p;
	size_t len, line0; /* lines before it in the file */
	int reuse;	   /* its objects stay: the same bytes as old chunk `old` */
	size_t old;
	struct yaml_doc *docs;
	size_t ndocs;
};

static void
chunk_take(struct chunk *c, const struct yaml_doc *d, size_t n)
{
	if (n == 0)
		return;
	c->docs = xcalloc(n, sizeof(*d));
	memcpy(c->docs, d, n * sizeof(*d));
	c->ndocs = n;
}

/*
 * The documents of buf at its "---" lines: a "---" at the start of a line
 * always starts a document for libyaml (a scalar cannot hold one), so
 * each piece parses alone as it does in the file.  -1 (parse whole) when
 * the file has directives or "..." lines.
 */
static ssize_t
split_docs(const char *buf, size_t len, struct chunk **out)
{
	const char *p = buf, *end = buf + len, *nl;
	struct chunk *c = NULL;
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

/*
 * Which chunks of the new text are an old chunk's bytes whose objects are
 * all still this file's in the state: those are not parsed again.
 */
static size_t *
match_chunks(struct reg_file *rf, const char *path, const struct fset *old, struct chunk *c,
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

/* Parse all of buf at once; each document goes to the chunk holding its first line. */
static int
parse_whole(const char *path, const char *buf, size_t len, struct chunk *c, size_t n)
{
	struct yaml_doc *docs;
	size_t ndocs, i, k = 0, from = 0;
	char err[1024];

	if (yaml_json_load_buf(buf, len, path, &docs, &ndocs, err, sizeof(err)) == -1) {
		log_warnx("registry: %s; keeping its last good objects", err);
		return -1;
	}
	/* docs are in line order: hand each chunk its run of them (moved, not copied) */
	for (i = 0; i < ndocs; i++) {
		while (k + 1 < n && (size_t)docs[i].line > c[k + 1].line0) {
			chunk_take(&c[k], docs + from, i - from);
			from = i;
			k++;
		}
	}
	chunk_take(&c[k], docs + from, ndocs - from);
	free(docs);
	return 0;
}

struct stream {
	struct reg_file *rf;
	const char *path;
	struct chunk *c;
	size_t n, k;
	struct fset *nf;
};

static void
stream_doc(void *arg, json_t *root, int line)
{
	struct stream *st = arg;

	while (st->k + 1 < st->n && (size_t)line > st->c[st->k + 1].line0)
		st->k++;
	if (!json_is_object(root)) {
		log_warnx("%s:%d: skipped: a document must be a mapping", st->path, line);
		return;
	}
	load_one(st->rf, st->path, line, root, st->nf, st->k);
}

/*
 * A file not loaded before: each document is applied as soon as it is
 * parsed.  On an error the file had no good objects: those it put are
 * taken back (another file's definition of them is reloaded).
 */
static int
stream_file(struct reg_file *rf, const char *name, const char *path, const char *buf, size_t len,
	    struct chunk *c, size_t n, struct fset *nf)
{
	struct stream st = {rf, path, c, n, 0, nf};
	char err[1024];
	size_t i;

	if (yaml_json_each_buf(buf, len, path, stream_doc, &st, err, sizeof(err)) == 0)
		return 0;
	log_warnx("registry: %s; keeping its last good objects", err);
	for (i = 0; i < nf->n; i++)
		drop_obj(rf, name, path, &nf->v[i]);
	return -1;
}

/* (Re)load one file; a file that is gone drops everything it defined. */
static void
load_file(struct reg_file *rf, const char *name)
{
	struct fset *old, *nf;
	struct chunk *c = NULL, whole;
	unsigned char(*hash)[CHUNK_HASH] = NULL;
	struct stat st;
	char path[PATH_MAX * 2], err[1024], *buf;
	size_t len, i, j, d, nparsed = 0, *first = NULL;
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
	if ((n = split_docs(buf, len, &c)) == -1) {
		memset(&whole, 0, sizeof(whole));
		whole.p = buf;
		whole.len = len;
		c = xcalloc(1, sizeof(*c));
		c[0] = whole;
		n = 1;
	} else {
		nf->chunked = 1;
		hash = xcalloc((size_t)n + 1, sizeof(*hash));
		for (i = 0; i < (size_t)n; i++)
			crypto_generichash(hash[i], CHUNK_HASH, (const unsigned char *)c[i].p,
					   c[i].len, NULL, 0);
		first = match_chunks(rf, path, old, c, (size_t)n, hash);
	}
	if (old == NULL) {
		/* new: each document applied as it is parsed (small working set) */
		if (stream_file(rf, name, path, buf, len, c, (size_t)n, nf) == -1)
			goto bad;
		nparsed = (size_t)n;
		goto applied;
	}
	/* parse first: a file with an error keeps its last good objects */
	for (i = 0; i < (size_t)n && c[i].reuse == 0; i++)
		;
	if (i == (size_t)n && n > 1) {
		/* nothing to keep: one parser over the file, documents to chunks by line */
		if (parse_whole(path, buf, len, c, (size_t)n) == -1)
			goto bad;
		nparsed = (size_t)n;
	} else {
		for (i = 0; i < (size_t)n; i++) {
			if (c[i].reuse)
				continue;
			nparsed++;
			if (yaml_json_load_buf_at(c[i].p, c[i].len, path, c[i].line0, &c[i].docs,
						  &c[i].ndocs, err, sizeof(err)) == -1) {
				log_warnx("registry: %s; keeping its last good objects", err);
				goto bad;
			}
		}
	}
	for (i = 0; i < (size_t)n; i++) {
		if (c[i].reuse) {
			for (j = first[c[i].old]; j < first[c[i].old + 1]; j++) {
				if (fset_has(nf, &old->v[j])) {
					nf->dups = 1; /* and reload it whole, below */
					continue;
				}
				/* moved: old's entry (ns NULL) is known to stay */
				fset_add_own(nf, old->v[j].kind, old->v[j].ns, old->v[j].name, i);
				old->v[j].ns = old->v[j].name = NULL;
			}
			continue;
		}
		for (d = 0; d < c[i].ndocs; d++) {
			if (!json_is_object(c[i].docs[d].root)) {
				log_warnx("%s:%d: skipped: a document must be a mapping", path,
					  c[i].docs[d].line);
				continue;
			}
			load_one(rf, path, c[i].docs[d].line, c[i].docs[d].root, nf, i);
		}
		yaml_json_docs_free(c[i].docs, c[i].ndocs);
	}
applied:
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
	log_debug("registry: %s: %zu objects, %zu of %zd documents parsed", path, nf->n, nparsed,
		  n);
	return;
bad:
	for (i = 0; i < (size_t)n; i++)
		yaml_json_docs_free(c[i].docs, c[i].ndocs);
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
