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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "log.h"

#define SETTLE_SECONDS 0.005 /* coalesce the events of one save */

struct fobj {
	enum kobj_kind kind;
	char *ns, *name;
};

struct fset {
	size_t n;
	struct fobj *v;
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
	free(f);
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

static void
fset_add(struct fset *f, const struct kobj *k)
{
	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	f->v[f->n].kind = k->kind;
	f->v[f->n].ns = xstrdup(k->ns);
	f->v[f->n].name = xstrdup(k->name);
	f->n++;
}

static int
fset_has(const struct fset *f, const struct fobj *o)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->v[i].kind == o->kind && strcmp(f->v[i].ns, o->ns) == 0 &&
		    strcmp(f->v[i].name, o->name) == 0)
			return 1;
	return 0;
}

static void
load_one(struct reg_file *rf, const char *path, int line, const json_t *doc, struct fset *nf)
{
	struct kobj_diag diag;
	struct kobj *k = NULL;
	const json_t *items, *kind, *it;
	size_t i;

	kind = json_object_get(doc, "kind");
	items = json_object_get(doc, "items");
	if (json_is_string(kind) && strcmp(json_string_value(kind), "List") == 0 &&
	    json_is_array(items)) {
		json_array_foreach(items, i, it) load_one(rf, path, line, it, nf);
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
	if (fset_has(nf, &(struct fobj){k->kind, k->ns, k->name}))
		log_warnx("%s:%d: %s %s/%s is defined twice in this file; the later one wins", path,
			  line, kobj_kind_name(k->kind), k->ns, k->name);
	else
		fset_add(nf, k);
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

/* (Re)load one file; a file that is gone drops everything it defined. */
static void
load_file(struct reg_file *rf, const char *name)
{
	struct yaml_doc *docs = NULL;
	struct fset *old, *nf;
	struct stat st;
	char path[PATH_MAX * 2], err[1024];
	size_t ndocs = 0, i;

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
	if (yaml_json_load_file(path, &docs, &ndocs, err, sizeof(err)) == -1) {
		log_warnx("registry: %s; keeping its last good objects", err);
		return;
	}
	nf = xcalloc(1, sizeof(*nf));
	for (i = 0; i < ndocs; i++) {
		if (!json_is_object(docs[i].root)) {
			log_warnx("%s:%d: skipped: a document must be a mapping", path,
				  docs[i].line);
			continue;
		}
		load_one(rf, path, docs[i].line, docs[i].root, nf);
	}
	yaml_json_docs_free(docs, ndocs);
	if (old != NULL) {
		for (i = 0; i < old->n; i++)
			if (!fset_has(nf, &old->v[i]))
				drop_obj(rf, name, path, &old->v[i]);
		fset_free(old);
	}
	hmap_put(rf->files, name, nf);
	log_debug("registry: %s: %zu objects", path, nf->n);
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

struct reg_file *
reg_file_new(struct ev_loop *loop, const char *dir, struct state *st)
{
	struct reg_file *rf = xcalloc(1, sizeof(*rf));
	struct dirent **names = NULL;
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
	if ((n = scandir(dir, &names, NULL, alphasort)) == -1)
		fatal("registry.path %s", dir);
	for (i = 0; i < n; i++) {
		if (is_manifest(names[i]->d_name))
			load_file(rf, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	state_commit(st);
	log_info("registry: loaded %s: %zu services, %zu endpoints objects, %zu slices, %zu nodes",
		 dir, state_raw_count(st, KOBJ_SERVICE), state_raw_count(st, KOBJ_ENDPOINTS),
		 state_raw_count(st, KOBJ_ENDPOINTSLICE), state_raw_count(st, KOBJ_NODE));
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
