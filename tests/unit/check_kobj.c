/*
 * YAML -> JSON typing, and Kubernetes objects -> model structs, on the
 * EdgeMesh example manifests (tests/fixtures/manifests) and the example
 * registry (tests/fixtures/registry).  Run from the top of the tree.
 */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "../../controller/kobj.h"

#define MANIFESTS "tests/fixtures/manifests/"
#define REGISTRY  "tests/fixtures/registry/"

/* Load a YAML text; the test fails if it does not load. */
static struct yaml_doc *
load_buf(const char *text, size_t *n)
{
	struct yaml_doc *docs;
	char err[512];

	if (yaml_json_load_buf(text, strlen(text), "test.yaml", &docs, n, err, sizeof(err)) == -1)
		ck_abort_msg("load failed: %s", err);
	return docs;
}

/* Load a YAML text that must fail; the error is returned. */
static const char *
load_fail(const char *text)
{
	static char err[512];
	struct yaml_doc *docs;
	size_t n;

	ck_assert_int_eq(
	    yaml_json_load_buf(text, strlen(text), "test.yaml", &docs, &n, err, sizeof(err)), -1);
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_ne(err, "");
	return err;
}

static struct yaml_doc *
load_file(const char *path, size_t *n)
{
	struct yaml_doc *docs;
	char err[512];

	if (yaml_json_load_file(path, &docs, n, err, sizeof(err)) == -1)
		ck_abort_msg("load failed: %s", err);
	return docs;
}

/* The object of this kind and name in a fixture file, parsed. */
static struct kobj *
fixture(const char *path, enum kobj_kind kind, const char *name, struct kobj_diag *diag)
{
	struct yaml_doc *docs;
	struct kobj_diag d;
	struct kobj *k, *found = NULL;
	size_t i, n;

	docs = load_file(path, &n);
	for (i = 0; i < n && found == NULL; i++) {
		if (kobj_parse(docs[i].root, &k, &d) == -1)
			continue;
		if (k == NULL)
			continue;
		if ((int)k->kind == (int)kind && strcmp(k->name, name) == 0) {
			found = k;
			if (diag != NULL)
				*diag = d;
		} else
			kobj_free(k);
	}
	yaml_json_docs_free(docs, n);
	if (found == NULL)
		ck_abort_msg("%s: no %s %s", path, kobj_kind_name(kind), name);
	return found;
}

static const json_t *
field(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (v == NULL)
		ck_abort_msg("no key %s", k);
	return v;
}

/* ---- YAML ---- */

START_TEST(t_yaml_scalars)
{
	static const char text[] = "int: 80\n"
				   "quoted: \"80\"\n"
				   "single: '80'\n"
				   "yes_: yes\n"
				   "No_: No\n"
				   "on_: on\n"
				   "OFF_: OFF\n"
				   "y_: y\n"
				   "True_: True\n"
				   "tRUE_: tRUE\n"
				   "TRUE_: TRUE\n"
				   "nO_: nO\n"
				   "qtrue: \"true\"\n"
				   "tilde: ~\n"
				   "empty:\n"
				   "null_: null\n"
				   "NULL_: NULL\n"
				   "float: 1.5\n"
				   "intfloat: 1.0\n"
				   "exp: 1e3\n"
				   "dot: .5\n"
				   "hex: 0x1F\n"
				   "oct: 0o17\n"
				   "oct11: 0755\n"
				   "not_oct: 08\n"
				   "under: 1_000\n"
				   "plus: +12\n"
				   "negbin: -0b101\n"
				   "huge: 9223372036854775808\n"
				   "date: 2001-12-14\n"
				   "time: 12:30\n"
				   "str_tag: !!str 80\n"
				   "int_tag: !!int \"42\"\n"
				   "float_tag: !!float 3\n"
				   "literal: |\n  a\n  b\n"
				   "folded: >-\n  a\n  b\n"
				   "http: http\n"
				   "ver: 1.2.3\n"
				   "neg: -7\n";
	struct yaml_doc *d;
	const json_t *o;
	size_t n;

	d = load_buf(text, &n);
	ck_assert_uint_eq(n, 1);
	o = d[0].root;
	ck_assert_int_eq(json_integer_value(field(o, "int")), 80);
	ck_assert(json_is_integer(field(o, "int")));
	ck_assert_str_eq(json_string_value(field(o, "quoted")), "80");
	ck_assert_str_eq(json_string_value(field(o, "single")), "80");
	ck_assert(json_is_true(field(o, "yes_")));
	ck_assert(json_is_false(field(o, "No_")));
	ck_assert(json_is_true(field(o, "on_")));
	ck_assert(json_is_false(field(o, "OFF_")));
	ck_assert(json_is_true(field(o, "y_")));
	ck_assert(json_is_true(field(o, "True_")));
	ck_assert_str_eq(json_string_value(field(o, "tRUE_")), "tRUE");
	ck_assert(json_is_true(field(o, "TRUE_")));
	ck_assert_str_eq(json_string_value(field(o, "nO_")), "nO");
	ck_assert_str_eq(json_string_value(field(o, "qtrue")), "true");
	ck_assert(json_is_null(field(o, "tilde")));
	ck_assert(json_is_null(field(o, "empty")));
	ck_assert(json_is_null(field(o, "null_")));
	ck_assert(json_is_null(field(o, "NULL_")));
	ck_assert(json_is_real(field(o, "float")));
	ck_assert_double_eq(json_real_value(field(o, "float")), 1.5);
	ck_assert(json_is_integer(field(o, "intfloat"))); /* encoding/json prints 1 */
	ck_assert_int_eq(json_integer_value(field(o, "intfloat")), 1);
	ck_assert_int_eq(json_integer_value(field(o, "exp")), 1000);
	ck_assert_double_eq(json_real_value(field(o, "dot")), 0.5);
	ck_assert_int_eq(json_integer_value(field(o, "hex")), 31);
	ck_assert_int_eq(json_integer_value(field(o, "oct")), 15);
	ck_assert_int_eq(json_integer_value(field(o, "oct11")), 493);
	ck_assert_int_eq(json_integer_value(field(o, "not_oct")), 8);
	ck_assert_int_eq(json_integer_value(field(o, "under")), 1000);
	ck_assert_int_eq(json_integer_value(field(o, "plus")), 12);
	ck_assert_int_eq(json_integer_value(field(o, "negbin")), -5);
	ck_assert(json_is_real(field(o, "huge")));
	ck_assert_str_eq(json_string_value(field(o, "date")), "2001-12-14");
	ck_assert_str_eq(json_string_value(field(o, "time")), "12:30");
	ck_assert_str_eq(json_string_value(field(o, "str_tag")), "80");
	ck_assert_int_eq(json_integer_value(field(o, "int_tag")), 42);
	ck_assert_int_eq(json_integer_value(field(o, "float_tag")), 3);
	ck_assert_str_eq(json_string_value(field(o, "literal")), "a\nb\n");
	ck_assert_str_eq(json_string_value(field(o, "folded")), "a b");
	ck_assert_str_eq(json_string_value(field(o, "http")), "http");
	ck_assert_str_eq(json_string_value(field(o, "ver")), "1.2.3");
	ck_assert_int_eq(json_integer_value(field(o, "neg")), -7);
	yaml_json_docs_free(d, n);
}
END_TEST

START_TEST(t_yaml_keys)
{
	struct yaml_doc *d;
	size_t n;

	d = load_buf("yes: a\n80: b\n0x10: c\n1.5: d\n\"yes\": e\nfalse: f\n", &n);
	ck_assert_str_eq(json_string_value(field(d[0].root, "true")), "a");
	ck_assert_str_eq(json_string_value(field(d[0].root, "80")), "b");
	ck_assert_str_eq(json_string_value(field(d[0].root, "16")), "c");
	ck_assert_str_eq(json_string_value(field(d[0].root, "1.5")), "d");
	ck_assert_str_eq(json_string_value(field(d[0].root, "yes")), "e");
	ck_assert_str_eq(json_string_value(field(d[0].root, "false")), "f");
	yaml_json_docs_free(d, n);
	ck_assert_ptr_nonnull(strstr(load_fail("a: 1\n~: 2\n"), "null mapping keys"));
	ck_assert_ptr_nonnull(strstr(load_fail("? [a, b]\n: 1\n"), "complex mapping keys"));
	ck_assert_ptr_nonnull(strstr(load_fail("{a: 1}: 2\n"), "complex mapping keys"));
}
END_TEST

START_TEST(t_yaml_errors)
{
	const char *e;

	e = load_fail("a: 1\nb: 2\na: 3\n");
	ck_assert_str_eq(e, "test.yaml:3:1: duplicate mapping key \"a\"");
	e = load_fail("a: .nan\n");
	ck_assert_str_eq(e, "test.yaml:1:4: NaN cannot be represented in JSON");
	ck_assert_ptr_nonnull(strstr(load_fail("a: -.inf\n"), "infinity"));
	ck_assert_ptr_nonnull(strstr(load_fail("a: !!binary aGk=\n"), "unsupported tag"));
	ck_assert_ptr_nonnull(strstr(load_fail("a: !foo x\n"), "unsupported tag"));
	ck_assert_ptr_nonnull(strstr(load_fail("a: !!int abc\n"), "cannot decode"));
	e = load_fail("a:\n  b: [1, 2\n");
	ck_assert_ptr_nonnull(strstr(e, "test.yaml:"));
	e = load_fail("a: *nope\n");
	ck_assert_str_eq(e, "test.yaml:1:4: unknown anchor \"nope\"");
	/* a recursive alias cannot be built: the anchor is not defined yet */
	ck_assert_ptr_nonnull(strstr(load_fail("a: &x [1, *x]\n"), "unknown anchor"));
	ck_assert_ptr_nonnull(strstr(load_fail("a: 1\n<<: 5\n"), "merge key"));
	ck_assert_ptr_nonnull(strstr(load_fail("a: \"\\xff\\u0000\"\n\xff: 1\n"), "test.yaml"));
}
END_TEST

START_TEST(t_yaml_multidoc)
{
	static const char text[] = "# leading comment\n"
				   "---\n"
				   "---\n"
				   "# only a comment\n"
				   "---\n"
				   "a: 1 # trailing comment\n"
				   "---\n"
				   "\n"
				   "...\n"
				   "---\n"
				   "\n"
				   "b: 2\n"
				   "---\n"
				   "~\n"
				   "--- [x]\n";
	struct yaml_doc *d;
	size_t n;

	d = load_buf(text, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(json_integer_value(field(d[0].root, "a")), 1);
	ck_assert_int_eq(d[0].line, 6);
	ck_assert_int_eq(json_integer_value(field(d[1].root, "b")), 2);
	ck_assert_int_eq(d[1].line, 12);
	ck_assert(json_is_array(d[2].root));
	ck_assert_int_eq(d[2].line, 15);
	yaml_json_docs_free(d, n);

	d = load_buf("", &n);
	ck_assert_uint_eq(n, 0);
	yaml_json_docs_free(d, n);
	d = load_buf("# nothing\n---\n", &n);
	ck_assert_uint_eq(n, 0);
	yaml_json_docs_free(d, n);
}
END_TEST

START_TEST(t_yaml_aliases)
{
	static const char text[] = "base: &base {port: 80, protocol: TCP}\n"
				   "named: &name hostname\n"
				   "ports:\n"
				   "- *base\n"
				   "- <<: *base\n"
				   "  port: 81\n"
				   "- <<: [{a: 1, b: 1}, {b: 2, c: 2}]\n"
				   "  name: *name\n"
				   "'<<': quoted\n";
	struct yaml_doc *d;
	const json_t *ports, *p;
	size_t n;

	d = load_buf(text, &n);
	ports = field(d[0].root, "ports");
	ck_assert_uint_eq(json_array_size(ports), 3);
	p = json_array_get(ports, 0);
	ck_assert_int_eq(json_integer_value(field(p, "port")), 80);
	p = json_array_get(ports, 1);
	ck_assert_int_eq(json_integer_value(field(p, "port")), 81);
	ck_assert_str_eq(json_string_value(field(p, "protocol")), "TCP");
	ck_assert_ptr_null(json_object_get(p, "<<"));
	p = json_array_get(ports, 2);
	ck_assert_int_eq(json_integer_value(field(p, "a")), 1);
	ck_assert_int_eq(json_integer_value(field(p, "b")), 1); /* earlier map wins */
	ck_assert_int_eq(json_integer_value(field(p, "c")), 2);
	ck_assert_str_eq(json_string_value(field(p, "name")), "hostname");
	ck_assert_str_eq(json_string_value(field(d[0].root, "<<")), "quoted");
	yaml_json_docs_free(d, n);

	/* anchors do not cross documents */
	ck_assert_ptr_nonnull(strstr(load_fail("a: &x 1\n---\nb: *x\n"), "unknown anchor"));
}
END_TEST

START_TEST(t_yaml_bounds)
{
	static const char laughs[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
				     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
				     "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
				     "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	struct yaml_doc *d;
	char buf[512], err[512], path[] = "/tmp/check_kobj_XXXXXX";
	size_t n;
	int i, fd;

	ck_assert_ptr_nonnull(strstr(load_fail(laughs), "nodes (aliases expanded)"));

	/* 64 nested collections load, 65 do not */
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < 64; i++)
		buf[i] = '[';
	for (i = 0; i < 64; i++)
		buf[64 + i] = ']';
	d = load_buf(buf, &n);
	ck_assert_uint_eq(n, 1);
	yaml_json_docs_free(d, n);
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < 65; i++)
		buf[i] = '[';
	for (i = 0; i < 65; i++)
		buf[65 + i] = ']';
	ck_assert_str_eq(load_fail(buf), "test.yaml:1:65: nesting deeper than 64 levels");

	/* files: too big, not regular, missing */
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(ftruncate(fd, YAML_JSON_MAX_FILE + 1), 0);
	close(fd);
	ck_assert_int_eq(yaml_json_load_file(path, &d, &n, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "larger than 16777216 bytes"));
	unlink(path);
	ck_assert_int_eq(yaml_json_load_file("tests", &d, &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "tests: not a regular file");
	ck_assert_int_eq(yaml_json_load_file("tests/nonexistent.yaml", &d, &n, err, sizeof(err)),
			 -1);
	ck_assert_str_eq(err, "tests/nonexistent.yaml: No such file or directory");
}
END_TEST

START_TEST(t_yaml_file_errors)
{
	struct yaml_doc *d;
	char err[512];
	size_t n;

	ck_assert_int_eq(yaml_json_load_file(MANIFESTS "bad-syntax.yaml", &d, &n, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, MANIFESTS "bad-syntax.yaml:"));
	ck_assert_ptr_nonnull(strstr(err, "quoted scalar"));
	ck_assert_int_eq(
	    yaml_json_load_file(MANIFESTS "bad-duplicate.yaml", &d, &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err, MANIFESTS "bad-duplicate.yaml:6:3: duplicate mapping key \"name\"");
}
END_TEST

START_TEST(t_yaml_lines)
{
	struct yaml_doc *d;
	size_t n;

	d = load_file(MANIFESTS "hostname.yaml", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(d[0].line, 2);
	ck_assert_int_eq(d[1].line, 34);
	ck_assert_int_eq(kobj_kind_of(d[0].root), -1); /* Deployment */
	ck_assert_int_eq(kobj_kind_of(d[1].root), KOBJ_SERVICE);
	yaml_json_docs_free(d, n);
}
END_TEST

/* ---- kinds ---- */

START_TEST(t_kind_of)
{
	static const struct {
		const char *api, *kind;
		int want;
	} t[] = {
	    {"v1", "Service", KOBJ_SERVICE},
	    {"v1", "Endpoints", KOBJ_ENDPOINTS},
	    {"v1", "Node", KOBJ_NODE},
	    {"v1", "Secret", KOBJ_SECRET},
	    {"discovery.k8s.io/v1", "EndpointSlice", KOBJ_ENDPOINTSLICE},
	    {"discovery.k8s.io/v1beta1", "EndpointSlice", KOBJ_ENDPOINTSLICE},
	    {"networking.istio.io/v1alpha3", "DestinationRule", KOBJ_DESTINATIONRULE},
	    {"networking.istio.io/v1beta1", "Gateway", KOBJ_GATEWAY},
	    {"networking.istio.io/v1alpha3", "VirtualService", KOBJ_VIRTUALSERVICE},
	    {"apps/v1", "Deployment", -1},
	    {"v1", "ConfigMap", -1},
	    {"v1", "Namespace", -1},
	    {"v1", "service", -1},
	    {"v2", "Service", -1},
	    {"networking.k8s.io/v1", "Gateway", -1},
	};
	struct kobj *k;
	struct kobj_diag diag;
	json_t *o;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		o = json_pack("{s:s, s:s}", "apiVersion", t[i].api, "kind", t[i].kind);
		ck_assert_int_eq(kobj_kind_of(o), t[i].want);
		if (t[i].want == -1) {
			ck_assert_int_eq(kobj_parse(o, &k, &diag), 0);
			ck_assert_ptr_null(k);
		}
		json_decref(o);
	}
	ck_assert_int_eq(kobj_kind_of(NULL), -1);
	o = json_pack("[s]", "v1");
	ck_assert_int_eq(kobj_kind_of(o), -1);
	json_decref(o);
	o = json_pack("{s:i, s:s}", "apiVersion", 1, "kind", "Service");
	ck_assert_int_eq(kobj_kind_of(o), -1);
	ck_assert_int_eq(kobj_parse(o, &k, &diag), -1);
	ck_assert_str_eq(diag.err, "object <unnamed>: not a Kubernetes object: apiVersion and "
				   "kind must be non-empty strings");
	json_decref(o);
	o = json_pack("{s:s, s:s, s:{s:i}}", "apiVersion", "v1", "kind", "Node", "metadata", "name",
		      1);
	ck_assert_int_eq(kobj_parse(o, &k, NULL), -1); /* diag may be NULL */
	ck_assert_ptr_null(k);
	json_decref(o);
	for (i = 0; i < KOBJ_NKINDS; i++)
		ck_assert_str_ne(kobj_kind_name((int)i), "?");
	ck_assert_str_eq(kobj_kind_name(-1), "?");
}
END_TEST

START_TEST(t_nul_strings)
{
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	size_t n;

	/* YAML can escape a NUL into a string; no name may carry one */
	d = load_buf("apiVersion: v1\nkind: Node\nmetadata: {name: \"a\\0b\"}\n", &n);
	ck_assert_uint_eq(json_string_length(field(field(d[0].root, "metadata"), "name")), 3);
	ck_assert_int_eq(kobj_parse(d[0].root, &k, &diag), -1);
	ck_assert_str_eq(diag.err, "Node <unnamed>: metadata.name: contains a NUL character");
	yaml_json_docs_free(d, n);
	ck_assert_ptr_nonnull(strstr(load_fail("\"a\\0b\": 1\n"), "NUL"));
}
END_TEST

/* ---- services ---- */

static void
check_port(const struct em_port *p, const char *name, unsigned port, unsigned target, int proto)
{
	ck_assert_str_eq(p->name, name);
	ck_assert_uint_eq(p->port, port);
	ck_assert_uint_eq(p->target_port, target);
	ck_assert_str_eq(p->target_port_name, "");
	ck_assert_int_eq(p->proto, proto);
}

START_TEST(t_svc_examples)
{
	struct kobj_diag diag;
	struct kobj *k;
	struct em_service *s;

	k = fixture(MANIFESTS "hostname.yaml", KOBJ_SERVICE, "hostname-svc", &diag);
	s = k->u.svc;
	ck_assert_str_eq(k->ns, "default");
	ck_assert_str_eq(s->ns, "default");
	ck_assert_str_eq(s->name, "hostname-svc");
	ck_assert_int_eq(s->type, EM_SVC_CLUSTER_IP);
	ck_assert_str_eq(s->cluster_ip, "");
	ck_assert_uint_eq(s->n_cluster_ips, 0);
	ck_assert(!s->headless);
	ck_assert(!s->proxy_label);
	ck_assert(!s->affinity_client_ip);
	ck_assert_uint_eq(s->affinity_timeout, 10800);
	ck_assert_int_eq(s->lb, EM_LB_ROUND_ROBIN);
	ck_assert_int_eq(s->hash, EM_HASH_NONE);
	ck_assert_str_eq(s->hash_arg, "");
	ck_assert_str_eq(s->external_name, "");
	ck_assert_uint_eq(s->nports, 1);
	check_port(&s->ports[0], "http-0", 12345, 9376, EM_PROTO_TCP);
	ck_assert_str_eq(diag.err, "");
	ck_assert_str_eq(diag.warn, ""); /* no clusterIP is fine: the registry gives one */
	kobj_free(k);

	k = fixture(MANIFESTS "hostname-udp.yaml", KOBJ_SERVICE, "hostname-udp-svc", NULL);
	ck_assert_uint_eq(k->u.svc->nports, 1);
	check_port(&k->u.svc->ports[0], "udp-0", 12345, 9376, EM_PROTO_UDP);
	kobj_free(k);

	k = fixture(MANIFESTS "tcp-echo-service.yaml", KOBJ_SERVICE, "tcp-echo-service", NULL);
	check_port(&k->u.svc->ports[0], "tcp-0", 2701, 2701, EM_PROTO_TCP);
	kobj_free(k);

	k = fixture(MANIFESTS "cloudzone.yaml", KOBJ_SERVICE, "tcp-echo-cloud-svc", NULL);
	ck_assert_str_eq(k->ns, "cloudzone");
	check_port(&k->u.svc->ports[0], "tcp-0", 2701, 2701, EM_PROTO_TCP);
	kobj_free(k);
	k = fixture(MANIFESTS "edgezone.yaml", KOBJ_SERVICE, "tcp-echo-edge-svc", NULL);
	ck_assert_str_eq(k->u.svc->ns, "edgezone");
	kobj_free(k);
}
END_TEST

START_TEST(t_svc_all_fields)
{
	static const char text[] =
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  namespace: shop\n"
	    "  labels: {service.edgemesh.kubeedge.io/service-proxy-name: \"\"}\n"
	    "spec:\n"
	    "  type: NodePort\n"
	    "  clusterIP: 10.96.1.1\n"
	    "  clusterIPs: [10.96.1.1, \"fd00::1\"]\n"
	    "  sessionAffinity: ClientIP\n"
	    "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"
	    "  publishNotReadyAddresses: true\n"
	    "  ports:\n"
	    "  - {name: http, port: 80, targetPort: http, nodePort: 30080}\n"
	    "  - {name: dns, port: 53, protocol: UDP}\n"
	    "  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 0}\n";
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	struct em_service *s;
	size_t n;

	d = load_buf(text, &n);
	ck_assert_int_eq(kobj_parse(d[0].root, &k, &diag), 0);
	ck_assert_str_eq(diag.warn, "");
	s = k->u.svc;
	ck_assert_str_eq(s->ns, "shop");
	ck_assert_int_eq(s->type, EM_SVC_NODE_PORT);
	ck_assert_str_eq(s->cluster_ip, "10.96.1.1");
	ck_assert_uint_eq(s->n_cluster_ips, 2);
	ck_assert_str_eq(s->cluster_ips[0], "10.96.1.1");
	ck_assert_str_eq(s->cluster_ips[1], "fd00::1");
	ck_assert(s->proxy_label);
	ck_assert(s->publish_not_ready);
	ck_assert(s->affinity_client_ip);
	ck_assert_uint_eq(s->affinity_timeout, 60);
	ck_assert_uint_eq(s->nports, 3);
	ck_assert_str_eq(s->ports[0].target_port_name, "http");
	ck_assert_uint_eq(s->ports[0].target_port, 0);
	ck_assert_uint_eq(s->ports[0].node_port, 30080);
	check_port(&s->ports[1], "dns", 53, 53, EM_PROTO_UDP); /* targetPort defaults to port */
	check_port(&s->ports[2], "dns-tcp", 53, 53, EM_PROTO_TCP);
	kobj_free(k);
	yaml_json_docs_free(d, n);

	d = load_buf("apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
		     "spec: {clusterIP: None, ports: [{port: 5432}]}\n"
		     "---\n"
		     "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
		     "spec: {type: ExternalName, externalName: db.example.com}\n",
		     &n);
	ck_assert_int_eq(kobj_parse(d[0].root, &k, &diag), 0);
	ck_assert(k->u.svc->headless);
	ck_assert_str_eq(k->u.svc->cluster_ip, "None");
	ck_assert_uint_eq(k->u.svc->n_cluster_ips, 0);
	ck_assert_str_eq(diag.warn, "");
	kobj_free(k);
	ck_assert_int_eq(kobj_parse(d[1].root, &k, &diag), 0);
	ck_assert_int_eq(k->u.svc->type, EM_SVC_EXTERNAL_NAME);
	ck_assert_str_eq(k->u.svc->external_name, "db.example.com");
	kobj_free(k);
	yaml_json_docs_free(d, n);
}
END_TEST

/* Each document of malformed.yaml, in order: the error it must give. */
static const char *malformed_want[] = {
    "Service default/quoted-port: spec.ports[0].port: expected an integer 1-65535, "
    "got the string \"80\"",
    "Service default/quoted-target: spec.ports[0].targetPort: \"80\" is not a valid port "
    "name (at most 15 lowercase letters, digits and '-', with at least one letter; "
    "write a number without quotes)",
    "Service default/foo: spec.ports[1].port: expected an integer 1-65535, got 70000",
    "Service edge/bad-proto: spec.ports[0].protocol: expected TCP, UDP or SCTP, got \"HTTP\"",
    "Service <unnamed>: metadata.name: missing",
    "Service default/bad-type: spec.type: expected ClusterIP, NodePort, LoadBalancer or "
    "ExternalName, got \"Headless\"",
    "Service default/bad-affinity: spec.sessionAffinityConfig.clientIP.timeoutSeconds: "
    "expected an integer 1-86400, got 0",
    "Service default/list-spec: spec: expected a mapping, got a list",
    "Service <unnamed>: metadata.name: \"Upper_Case\" is not a valid name (lowercase "
    "letters, digits, '-' and '.', at most 253)",
    "Service default/two-unnamed: spec.ports[0]: name is required when a Service has more "
    "than one port",
    "Endpoints default/bad-ip: subsets[0].addresses[0].ip: \"not-an-ip\" is not an IP "
    "address",
    "EndpointSlice default/orphan-1: metadata.labels[\"kubernetes.io/service-name\"]: "
    "missing: the slice belongs to no Service",
    "EndpointSlice default/wrong-family-1: endpoints[0].addresses[0]: \"fd00::1\" is not "
    "an IPv4 address",
    "Node bad-node: status.addresses[0].address: InternalIP \"bogus\" is not an IP address",
    "DestinationRule default/fastest: spec.trafficPolicy.loadBalancer.simple: expected "
    "ROUND_ROBIN, RANDOM, LEAST_CONN, LEAST_REQUEST or PASSTHROUGH, got \"FASTEST\"",
    "Gateway default/no-servers: spec.servers: must not be empty",
    "VirtualService default/no-host: spec.http[0].route[0].destination.host: missing",
    "Secret default/bad-b64: data.tls.crt: not valid base64",
    "object <unnamed>: not a Kubernetes object: expected a mapping with apiVersion and "
    "kind, got a string",
    "object <unnamed>: not a Kubernetes object: apiVersion and kind must be non-empty "
    "strings",
};

START_TEST(t_malformed)
{
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	size_t i, n;

	d = load_file(MANIFESTS "malformed.yaml", &n);
	ck_assert_uint_eq(n, sizeof(malformed_want) / sizeof(malformed_want[0]));
	for (i = 0; i < n; i++) {
		k = (struct kobj *)&diag; /* must be reset */
		ck_assert_msg(kobj_parse(d[i].root, &k, &diag) == -1, "doc %zu parsed", i);
		ck_assert_ptr_null(k);
		ck_assert_str_eq(diag.err, malformed_want[i]);
	}
	yaml_json_docs_free(d, n);
}
END_TEST

/* ---- destination rules ---- */

START_TEST(t_dr_examples)
{
	struct kobj_diag diag;
	struct kobj *svc, *dr;
	struct em_service *pub;

	svc = fixture(MANIFESTS "hostname-lb-default.yaml", KOBJ_SERVICE, "hostname-lb-svc", NULL);
	pub = kobj_service_publish(svc->u.svc, NULL);
	ck_assert_int_eq(pub->lb, EM_LB_ROUND_ROBIN);
	em_service_free(pub);
	kobj_free(svc);

	dr = fixture(MANIFESTS "hostname-lb-roundrobin.yaml", KOBJ_DESTINATIONRULE,
		     "hostname-lb-svc", &diag);
	ck_assert_int_eq(dr->u.dr->lb, EM_LB_ROUND_ROBIN);
	ck_assert_str_eq(diag.warn, "");
	kobj_free(dr);

	svc = fixture(MANIFESTS "hostname-lb-random.yaml", KOBJ_SERVICE, "hostname-lb-svc", NULL);
	dr = fixture(MANIFESTS "hostname-lb-random.yaml", KOBJ_DESTINATIONRULE, "hostname-lb-svc",
		     &diag);
	ck_assert_str_eq(diag.warn, "");
	ck_assert_str_eq(dr->u.dr->ns, "default");
	ck_assert_int_eq(dr->u.dr->lb, EM_LB_RANDOM);
	pub = kobj_service_publish(svc->u.svc, dr->u.dr); /* host: hostname-lb-edge */
	ck_assert_int_eq(pub->lb, EM_LB_RANDOM);
	ck_assert_int_eq(svc->u.svc->lb, EM_LB_ROUND_ROBIN); /* the raw form is untouched */
	ck_assert_uint_eq(pub->nports, 1);
	check_port(&pub->ports[0], "http-0", 12345, 9376, EM_PROTO_TCP);
	em_service_free(pub);
	kobj_free(dr);

	dr = fixture(MANIFESTS "hostname-lb-consistenthash.yaml", KOBJ_DESTINATIONRULE,
		     "hostname-lb-svc", &diag);
	ck_assert_int_eq(dr->u.dr->lb, EM_LB_CONSISTENT_HASH);
	ck_assert_int_eq(dr->u.dr->hash, EM_HASH_HEADER);
	ck_assert_str_eq(dr->u.dr->hash_arg, "User-Agent");
	pub = kobj_service_publish(svc->u.svc, dr->u.dr);
	ck_assert_int_eq(pub->lb, EM_LB_CONSISTENT_HASH);
	ck_assert_int_eq(pub->hash, EM_HASH_HEADER);
	ck_assert_str_eq(pub->hash_arg, "User-Agent");
	em_service_free(pub);

	/* a DR of another name does not apply */
	free(dr->u.dr->name);
	dr->u.dr->name = xstrdup("other");
	pub = kobj_service_publish(svc->u.svc, dr->u.dr);
	ck_assert_int_eq(pub->lb, EM_LB_ROUND_ROBIN);
	ck_assert_str_eq(pub->hash_arg, "");
	em_service_free(pub);
	kobj_free(dr);
	kobj_free(svc);
}
END_TEST

START_TEST(t_dr_mapping)
{
	static const struct {
		const char *name;
		int rc, lb, hash;
		const char *arg;
		uint32_t ttl;
		const char *msg; /* warning, or error when rc == -1 */
	} t[] = {
	    {"least-conn", 0, EM_LB_ROUND_ROBIN, EM_HASH_NONE, "", 0,
	     "DestinationRule default/least-conn: spec.trafficPolicy.loadBalancer.simple: "
	     "LEAST_CONN is not supported; using ROUND_ROBIN"},
	    {"passthrough", 0, EM_LB_ROUND_ROBIN, EM_HASH_NONE, "", 0,
	     "DestinationRule default/passthrough: spec.trafficPolicy.loadBalancer.simple: "
	     "PASSTHROUGH is not supported; using ROUND_ROBIN"},
	    {"no-lb", 0, EM_LB_ROUND_ROBIN, EM_HASH_NONE, "", 0,
	     "DestinationRule default/no-lb: spec.trafficPolicy.loadBalancer: not set; "
	     "using ROUND_ROBIN"},
	    {"no-spec", 0, EM_LB_ROUND_ROBIN, EM_HASH_NONE, "", 0,
	     "DestinationRule default/no-spec: spec.trafficPolicy.loadBalancer: not set; "
	     "using ROUND_ROBIN"},
	    {"source-ip", 0, EM_LB_CONSISTENT_HASH, EM_HASH_SOURCE_IP, "", 0, ""},
	    {"cookie", 0, EM_LB_CONSISTENT_HASH, EM_HASH_COOKIE, "user", 5400, ""},
	    {"query", 0, EM_LB_CONSISTENT_HASH, EM_HASH_NONE, "", 0,
	     "DestinationRule default/query: spec.trafficPolicy.loadBalancer.consistentHash: "
	     "httpQueryParameterName is not supported; every request hashes alike"},
	    {"both", -1, 0, 0, "", 0,
	     "DestinationRule default/both: spec.trafficPolicy.loadBalancer: simple and "
	     "consistentHash are exclusive"},
	    {"port-level", 0, EM_LB_RANDOM, EM_HASH_NONE, "", 0,
	     "DestinationRule default/port-level: spec.trafficPolicy.portLevelSettings: "
	     "ignored; the policy applies to every port"},
	};
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	size_t i, n;

	d = load_file(MANIFESTS "destinationrules.yaml", &n);
	ck_assert_uint_eq(n, sizeof(t) / sizeof(t[0]));
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(kobj_parse(d[i].root, &k, &diag), t[i].rc);
		if (t[i].rc == -1) {
			ck_assert_str_eq(diag.err, t[i].msg);
			continue;
		}
		ck_assert_str_eq(k->name, t[i].name);
		ck_assert_int_eq(k->u.dr->lb, t[i].lb);
		ck_assert_int_eq(k->u.dr->hash, t[i].hash);
		ck_assert_str_eq(k->u.dr->hash_arg, t[i].arg);
		ck_assert_uint_eq(k->u.dr->cookie_ttl, t[i].ttl);
		if (strcmp(t[i].name, "source-ip") == 0)
			ck_assert_str_eq(k->ns, "edge");
		ck_assert_str_eq(diag.warn, t[i].msg);
		kobj_free(k);
	}
	yaml_json_docs_free(d, n);
}
END_TEST

/* ---- endpoints ---- */

static void
check_ep(const struct em_endpoint *e, const char *ip, const char *node, const char *pod, bool ready)
{
	ck_assert_str_eq(e->ip, ip);
	ck_assert_str_eq(e->node, node);
	ck_assert_str_eq(e->pod, pod);
	ck_assert_int_eq(e->ready, ready);
}

START_TEST(t_endpoints)
{
	struct kobj *k;
	struct em_endpoints *e, *c;

	k = fixture(MANIFESTS "endpoints.yaml", KOBJ_ENDPOINTS, "hostname-svc", NULL);
	e = k->u.eps;
	ck_assert_str_eq(e->ns, "default");
	ck_assert_uint_eq(e->nports, 1);
	ck_assert_str_eq(e->ports[0].name, "http-0");
	ck_assert_uint_eq(e->ports[0].port, 9376);
	ck_assert_int_eq(e->ports[0].proto, EM_PROTO_TCP);
	ck_assert_uint_eq(e->neps, 4);
	check_ep(&e->eps[0], "10.244.1.10", "ke-edge1", "hostname-edge-5c75d56dc9-abcde", true);
	check_ep(&e->eps[1], "10.244.2.11", "ke-edge2", "hostname-edge-5c75d56dc9-fghij", true);
	ck_assert_str_eq(e->eps[1].hostname, "web-1");
	check_ep(&e->eps[2], "10.244.2.12", "ke-edge2", "hostname-edge-5c75d56dc9-klmno", false);
	check_ep(&e->eps[3], "10.244.3.13", "", "", true);
	ck_assert_str_eq(e->eps[3].zone, "");

	c = em_endpoints_dup(e);
	ck_assert_uint_eq(c->neps, 4);
	ck_assert_ptr_ne(c->eps[0].ip, e->eps[0].ip);
	check_ep(&c->eps[2], "10.244.2.12", "ke-edge2", "hostname-edge-5c75d56dc9-klmno", false);
	em_endpoints_free(c);
	kobj_free(k);

	k = fixture(MANIFESTS "endpoints.yaml", KOBJ_ENDPOINTS, "empty-svc", NULL);
	ck_assert_uint_eq(k->u.eps->neps, 0);
	ck_assert_uint_eq(k->u.eps->nports, 0);
	kobj_free(k);
}
END_TEST

START_TEST(t_slices)
{
	struct kobj *a, *b, *t, *f;
	struct kobj_slice *v[4];
	struct em_endpoints *j, *j2;
	size_t i;

	a = fixture(MANIFESTS "endpointslices.yaml", KOBJ_ENDPOINTSLICE, "hostname-lb-svc-abc12",
		    NULL);
	b = fixture(MANIFESTS "endpointslices.yaml", KOBJ_ENDPOINTSLICE, "hostname-lb-svc-xyz98",
		    NULL);
	t = fixture(MANIFESTS "endpointslices.yaml", KOBJ_ENDPOINTSLICE, "tcp-echo-service-q1w2e",
		    NULL);
	f = fixture(MANIFESTS "endpointslices.yaml", KOBJ_ENDPOINTSLICE, "external-fqdn-1", NULL);
	ck_assert_str_eq(a->u.slice->service, "hostname-lb-svc");
	ck_assert_int_eq(a->u.slice->addr_type, KOBJ_ADDR_IPV4);
	ck_assert_str_eq(a->u.slice->eps->name, "hostname-lb-svc");
	ck_assert_uint_eq(a->u.slice->eps->neps, 2);
	ck_assert_str_eq(a->u.slice->eps->eps[0].zone, "zone-a");
	ck_assert_int_eq(a->u.slice->eps->eps[1].ready, false);
	ck_assert_uint_eq(b->u.slice->eps->neps, 2);
	ck_assert_str_eq(b->u.slice->eps->eps[1].ip, "10.244.3.22"); /* the first address */
	ck_assert_str_eq(b->u.slice->eps->eps[1].hostname, "lb-3");
	ck_assert_int_eq(f->u.slice->addr_type, KOBJ_ADDR_FQDN);
	ck_assert_uint_eq(f->u.slice->eps->neps, 0);
	/* v1beta1: node and zone from topology */
	ck_assert_str_eq(t->u.slice->ns, "default");
	check_ep(&t->u.slice->eps->eps[0], "10.244.1.30", "ke-edge1", "", true);
	ck_assert_str_eq(t->u.slice->eps->eps[0].zone, "zone-a");

	v[0] = a->u.slice;
	v[1] = t->u.slice;
	v[2] = f->u.slice;
	v[3] = b->u.slice;
	j = kobj_slices_join("default", "hostname-lb-svc", v, 4);
	ck_assert_str_eq(j->ns, "default");
	ck_assert_str_eq(j->name, "hostname-lb-svc");
	ck_assert_uint_eq(j->nports, 1);
	ck_assert_str_eq(j->ports[0].name, "http-0");
	ck_assert_uint_eq(j->ports[0].port, 9376);
	ck_assert_uint_eq(j->neps, 3);
	check_ep(&j->eps[0], "10.244.1.20", "ke-edge1", "hostname-lb-edge-7d9f-aaaaa", true);
	/* in both slices, not ready in one: the ready copy wins */
	check_ep(&j->eps[1], "10.244.2.21", "ke-edge2", "hostname-lb-edge-7d9f-bbbbb", true);
	check_ep(&j->eps[2], "10.244.3.22", "ke-edge3", "hostname-lb-edge-7d9f-ccccc", true);

	/* the order of the slices does not matter */
	v[0] = b->u.slice;
	v[3] = a->u.slice;
	j2 = kobj_slices_join("default", "hostname-lb-svc", v, 4);
	ck_assert_uint_eq(j2->neps, j->neps);
	for (i = 0; i < j->neps; i++)
		ck_assert_str_eq(j2->eps[i].ip, j->eps[i].ip);
	em_endpoints_free(j2);
	em_endpoints_free(j);

	j = kobj_slices_join("default", "external", v, 4); /* FQDN only */
	ck_assert_uint_eq(j->neps, 0);
	em_endpoints_free(j);
	j = kobj_slices_join("other", "hostname-lb-svc", v, 4);
	ck_assert_uint_eq(j->neps, 0);
	em_endpoints_free(j);
	j = kobj_slices_join("default", "none", NULL, 0);
	ck_assert_uint_eq(j->neps, 0);
	em_endpoints_free(j);
	kobj_free(a);
	kobj_free(b);
	kobj_free(t);
	kobj_free(f);
}
END_TEST

/* ---- nodes, gateways, secrets ---- */

START_TEST(t_nodes)
{
	struct kobj *k;
	struct em_peer *c;

	k = fixture(MANIFESTS "nodes.yaml", KOBJ_NODE, "ke-edge1", NULL);
	ck_assert_str_eq(k->ns, "");
	ck_assert_uint_eq(k->u.peer->naddrs, 2);
	ck_assert_str_eq(k->u.peer->addrs[0], "192.168.1.21"); /* InternalIP first */
	ck_assert_str_eq(k->u.peer->addrs[1], "203.0.113.7");
	ck_assert(!k->u.peer->relay);
	ck_assert_str_eq(k->u.peer->pubkey, "");
	c = em_peer_dup(k->u.peer);
	ck_assert_str_eq(c->addrs[1], "203.0.113.7");
	em_peer_free(c);
	kobj_free(k);

	k = fixture(MANIFESTS "nodes.yaml", KOBJ_NODE, "ke-cloud", NULL);
	ck_assert_uint_eq(k->u.peer->naddrs, 2);
	ck_assert_str_eq(k->u.peer->addrs[0], "10.0.0.5");
	ck_assert_str_eq(k->u.peer->addrs[1], "fd00::5");
	kobj_free(k);

	k = fixture(MANIFESTS "nodes.yaml", KOBJ_NODE, "ke-bare", NULL);
	ck_assert_uint_eq(k->u.peer->naddrs, 0);
	kobj_free(k);
}
END_TEST

START_TEST(t_node_many_addrs)
{
	struct kobj_diag diag;
	struct kobj *k;
	json_t *o, *a;
	char ip[32];
	int i;

	a = json_array();
	for (i = 0; i < 12; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		json_array_append_new(a, json_pack("{s:s, s:s}", "type",
						   i % 2 ? "ExternalIP" : "InternalIP", "address",
						   ip));
	}
	o = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}}", "apiVersion", "v1", "kind", "Node",
		      "metadata", "name", "big", "status", "addresses", a);
	ck_assert_int_eq(kobj_parse(o, &k, &diag), 0);
	ck_assert_uint_eq(k->u.peer->naddrs, EM_MAX_ADDRS);
	ck_assert_str_eq(k->u.peer->addrs[0], "10.0.0.1");
	ck_assert_str_eq(k->u.peer->addrs[5], "10.0.0.11"); /* all 6 internal first */
	ck_assert_str_eq(k->u.peer->addrs[6], "10.0.0.2");
	ck_assert_str_eq(diag.warn, "Node big: status.addresses: more than 8 addresses; "
				    "ignoring the rest");
	kobj_free(k);
	json_decref(o);
}
END_TEST

/* metadata.annotations["edgemesh-c.io/tunnel-key"]: the pinned tunnel key */
START_TEST(t_node_tunnel_key)
{
	static const char key[] = "nJUY4gjUFcfcyY1UUPh3yxkQZ/bpzkUX2oAf6PlIokg=";
	static const char *const bad[] = {"not-a-key", "bkpVWTRn", "", key + 1};
	struct kobj_diag diag;
	struct kobj *k;
	json_t *o;
	char want[300];
	size_t i;

	o = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Node",
		      "metadata", "name", "n1", "annotations", KOBJ_TUNNEL_KEY, key);
	ck_assert_int_eq(kobj_parse(o, &k, &diag), 0);
	ck_assert_str_eq(k->u.peer->pubkey, key);
	kobj_free(k);
	json_decref(o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Node",
			      "metadata", "name", "n1", "annotations", KOBJ_TUNNEL_KEY, bad[i]);
		ck_assert_int_eq(kobj_parse(o, &k, &diag), -1);
		snprintf(want, sizeof(want),
			 "Node n1: metadata.annotations[\"%s\"]: \"%s\" is not a tunnel key "
			 "(base64 of 32 bytes)",
			 KOBJ_TUNNEL_KEY, bad[i]);
		ck_assert_str_eq(diag.err, want);
		json_decref(o);
	}
}
END_TEST

START_TEST(t_gateway_route)
{
	static const char *f = MANIFESTS "hostname-lb-random-gateway-route.yaml";
	struct kobj *gw, *vs;
	struct kobj_vs *vv[1];
	struct em_gateway *g;

	gw = fixture(f, KOBJ_GATEWAY, "edgemesh-gateway", NULL);
	ck_assert_str_eq(gw->ns, "default");
	ck_assert_uint_eq(gw->u.gw->nservers, 1);
	ck_assert_uint_eq(gw->u.gw->servers[0].port, 23333);
	ck_assert_str_eq(gw->u.gw->servers[0].protocol, "HTTP");
	ck_assert_uint_eq(gw->u.gw->servers[0].nhosts, 1);
	ck_assert_str_eq(gw->u.gw->servers[0].hosts[0], "hostname.org");
	ck_assert_str_eq(gw->u.gw->servers[0].tls_mode, "");
	ck_assert_str_eq(gw->u.gw->servers[0].credential, "");

	vs = fixture(f, KOBJ_VIRTUALSERVICE, "edgemesh-gateway-svc", NULL);
	ck_assert_uint_eq(vs->u.vs->ngateways, 1);
	ck_assert_str_eq(vs->u.vs->gateways[0], "edgemesh-gateway");
	ck_assert_uint_eq(vs->u.vs->nhosts, 1);
	ck_assert_str_eq(vs->u.vs->hosts[0], "hostname.org");
	ck_assert_uint_eq(vs->u.vs->nhttp, 1);
	ck_assert_uint_eq(vs->u.vs->ntcp, 0);
	ck_assert_uint_eq(vs->u.vs->http[0].nmatch, 1);
	ck_assert_int_eq(vs->u.vs->http[0].match[0].uri_kind, KOBJ_URI_PREFIX);
	ck_assert_str_eq(vs->u.vs->http[0].match[0].uri, "/who");
	ck_assert_str_eq(vs->u.vs->http[0].dest_host, "hostname-lb-svc");
	ck_assert_uint_eq(vs->u.vs->http[0].dest_port, 12345);
	ck_assert(kobj_vs_binds(vs->u.vs, gw->u.gw));

	vv[0] = vs->u.vs;
	g = kobj_gateway_publish(gw->u.gw, vv, 1, NULL, 0);
	ck_assert_str_eq(g->name, "edgemesh-gateway");
	ck_assert_uint_eq(g->nservers, 1);
	ck_assert_str_eq(g->servers[0].hosts[0], "hostname.org");
	ck_assert_uint_eq(g->nroutes, 1);
	ck_assert_str_eq(g->routes[0].prefix, "/who");
	ck_assert_str_eq(g->routes[0].exact, "");
	ck_assert_str_eq(g->routes[0].regex, "");
	ck_assert_str_eq(g->routes[0].dest_host, "hostname-lb-svc");
	ck_assert_str_eq(g->routes[0].dest_ns, "default");
	ck_assert_uint_eq(g->routes[0].dest_port, 12345);
	em_gateway_free(g);

	/* a VirtualService of another gateway or other hosts is not bound */
	free(vs->u.vs->hosts[0]);
	vs->u.vs->hosts[0] = xstrdup("other.org");
	g = kobj_gateway_publish(gw->u.gw, vv, 1, NULL, 0);
	ck_assert_uint_eq(g->nroutes, 0);
	em_gateway_free(g);
	free(vs->u.vs->gateways[0]);
	vs->u.vs->gateways[0] = xstrdup("kubeedge/edgemesh-gateway");
	ck_assert(!kobj_vs_binds(vs->u.vs, gw->u.gw));
	free(vs->u.vs->gateways[0]);
	vs->u.vs->gateways[0] = xstrdup("default/edgemesh-gateway");
	ck_assert(kobj_vs_binds(vs->u.vs, gw->u.gw));
	kobj_free(vs);
	kobj_free(gw);
}
END_TEST

START_TEST(t_gateway_tls)
{
	static const char *f = MANIFESTS "hostname-lb-random-gateway-tls.yaml";
	struct kobj *gw, *vs, *sec, *dr;
	struct kobj_vs *vv[2];
	struct kobj_secret *ss[1];
	struct em_gateway *g;

	gw = fixture(f, KOBJ_GATEWAY, "edgemesh-gateway", NULL);
	ck_assert_str_eq(gw->u.gw->servers[0].tls_mode, "MUTUAL");
	ck_assert_str_eq(gw->u.gw->servers[0].credential, "gw-secret");
	ck_assert_str_eq(gw->u.gw->servers[0].cert_pem, "");
	sec = fixture(f, KOBJ_SECRET, "gw-secret", NULL);
	ck_assert_str_eq(sec->u.secret->type, "kubernetes.io/tls");
	ck_assert_str_eq(sec->u.secret->tls_crt,
			 "-----BEGIN CERTIFICATE-----\n"
			 "MIIBfixturecertificate\n-----END CERTIFICATE-----\n");
	ck_assert_str_eq(sec->u.secret->tls_key, "-----BEGIN PRIVATE KEY-----\n"
						 "MIIBfixturekey\n-----END PRIVATE KEY-----\n");
	ck_assert_str_eq(sec->u.secret->ca_crt, "-----BEGIN CERTIFICATE-----\n"
						"MIIBfixtureca\n-----END CERTIFICATE-----\n");
	dr = fixture(f, KOBJ_DESTINATIONRULE, "hostname-lb-svc", NULL);
	ck_assert_int_eq(dr->u.dr->lb, EM_LB_RANDOM);
	vs = fixture(f, KOBJ_VIRTUALSERVICE, "edgemesh-gateway-svc", NULL);
	ck_assert_str_eq(vs->u.vs->http[0].match[0].uri, "/");

	vv[0] = NULL;
	vv[1] = vs->u.vs;
	ss[0] = sec->u.secret;
	g = kobj_gateway_publish(gw->u.gw, vv, 2, ss, 1);
	ck_assert_str_eq(g->servers[0].cert_pem, sec->u.secret->tls_crt);
	ck_assert_str_eq(g->servers[0].key_pem, sec->u.secret->tls_key);
	ck_assert_str_eq(g->servers[0].ca_pem, sec->u.secret->ca_crt);
	ck_assert_uint_eq(g->nroutes, 1);
	ck_assert_str_eq(g->routes[0].prefix, "/");
	em_gateway_free(g);

	/* the Secret must be in the Gateway's namespace */
	free(sec->u.secret->ns);
	sec->u.secret->ns = xstrdup("kubeedge");
	g = kobj_gateway_publish(gw->u.gw, vv, 2, ss, 1);
	ck_assert_str_eq(g->servers[0].cert_pem, "");
	ck_assert_str_eq(g->servers[0].key_pem, "");
	em_gateway_free(g);
	kobj_free(gw);
	kobj_free(vs);
	kobj_free(sec);
	kobj_free(dr);
}
END_TEST

START_TEST(t_vs_routes)
{
	static const char text[] = "apiVersion: networking.istio.io/v1beta1\n"
				   "kind: VirtualService\n"
				   "metadata: {name: shop, namespace: web}\n"
				   "spec:\n"
				   "  hosts: [shop.example.com]\n"
				   "  gateways: [kubeedge/edge-gw, mesh]\n"
				   "  http:\n"
				   "  - match:\n"
				   "    - uri: {exact: /login}\n"
				   "    - uri: {regex: '^/api/v[0-9]+'}\n"
				   "    - headers: {x-canary: {exact: 'yes'}}\n"
				   "    route:\n"
				   "    - destination: {host: api, port: {number: 8080}}\n"
				   "      weight: 90\n"
				   "    - destination: {host: api-canary, port: {number: 8080}}\n"
				   "      weight: 10\n"
				   "  - redirect: {uri: /new}\n"
				   "  - route:\n"
				   "    - destination: {host: frontend}\n"
				   "  tcp:\n"
				   "  - match: [{port: 5432}]\n"
				   "    route: [{destination: {host: db, port: {number: 5432}}}]\n"
				   "---\n"
				   "apiVersion: networking.istio.io/v1beta1\n"
				   "kind: Gateway\n"
				   "metadata: {name: edge-gw, namespace: kubeedge}\n"
				   "spec:\n"
				   "  servers:\n"
				   "  - port: {number: 443, name: https, protocol: https}\n"
				   "    hosts: ['web/shop.example.com']\n"
				   "    tls: {mode: simple, credentialName: shop-cert}\n"
				   "  - port: {number: 5432, name: pg, protocol: TCP}\n"
				   "    hosts: ['*']\n";
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *vs, *gw;
	struct kobj_vs *vv[1];
	struct em_gateway *g;
	size_t n;

	d = load_buf(text, &n);
	ck_assert_int_eq(kobj_parse(d[0].root, &vs, &diag), 0);
	ck_assert_str_eq(
	    diag.warn,
	    "VirtualService web/shop: spec.http[0].match[2]: only uri "
	    "and port conditions are evaluated; spec.http[0]: only route[0] is used; weights "
	    "are ignored; spec.http[1]: no route; skipped (redirect and directResponse are not "
	    "supported)");
	ck_assert_uint_eq(vs->u.vs->nhttp, 2);
	ck_assert_uint_eq(vs->u.vs->http[0].nmatch, 3);
	ck_assert_int_eq(vs->u.vs->http[0].match[0].uri_kind, KOBJ_URI_EXACT);
	ck_assert_int_eq(vs->u.vs->http[0].match[1].uri_kind, KOBJ_URI_REGEX);
	ck_assert_int_eq(vs->u.vs->http[0].match[2].uri_kind, KOBJ_URI_NONE);
	ck_assert(vs->u.vs->http[0].match[2].other);
	ck_assert_str_eq(vs->u.vs->http[0].dest_host, "api");
	ck_assert_uint_eq(vs->u.vs->http[1].nmatch, 0);
	ck_assert_str_eq(vs->u.vs->http[1].dest_host, "frontend");
	ck_assert_uint_eq(vs->u.vs->http[1].dest_port, 0);
	ck_assert_uint_eq(vs->u.vs->ntcp, 1);
	ck_assert_uint_eq(vs->u.vs->tcp[0].match[0].port, 5432);
	ck_assert_int_eq(kobj_parse(d[1].root, &gw, &diag), 0);
	ck_assert_str_eq(gw->u.gw->servers[0].protocol, "HTTPS");
	ck_assert_str_eq(gw->u.gw->servers[0].tls_mode, "SIMPLE");
	ck_assert(kobj_vs_binds(vs->u.vs, gw->u.gw));

	vv[0] = vs->u.vs;
	g = kobj_gateway_publish(gw->u.gw, vv, 1, NULL, 0);
	/* exact, regex, (headers-only match dropped), catch-all, then tcp */
	ck_assert_uint_eq(g->nroutes, 4);
	ck_assert_str_eq(g->routes[0].exact, "/login");
	ck_assert_str_eq(g->routes[1].regex, "^/api/v[0-9]+");
	ck_assert_str_eq(g->routes[2].prefix, "");
	ck_assert_str_eq(g->routes[2].dest_host, "frontend");
	ck_assert_str_eq(g->routes[3].dest_host, "db");
	ck_assert_str_eq(g->routes[3].dest_ns, "web");
	ck_assert_uint_eq(g->routes[3].dest_port, 5432);
	em_gateway_free(g);
	kobj_free(vs);
	kobj_free(gw);
	yaml_json_docs_free(d, n);
}
END_TEST

START_TEST(t_secret)
{
	static const char text[] = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
				   "stringData: {tls.crt: plain-cert}\n"
				   "data: {tls.crt: eA==, tls.key: a2V5, other: '!!!'}\n"
				   "---\n"
				   "apiVersion: v1\nkind: Secret\nmetadata: {name: nul}\n"
				   "data: {tls.key: AAE=}\n"
				   "---\n"
				   "apiVersion: v1\nkind: Secret\nmetadata: {name: empty}\n";
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	size_t n;

	d = load_buf(text, &n);
	ck_assert_int_eq(kobj_parse(d[0].root, &k, &diag), 0);
	ck_assert_str_eq(k->u.secret->tls_crt, "plain-cert"); /* stringData wins */
	ck_assert_str_eq(k->u.secret->tls_key, "key");
	ck_assert_str_eq(k->u.secret->ca_crt, "");
	ck_assert_str_eq(k->u.secret->type, "");
	kobj_free(k);
	ck_assert_int_eq(kobj_parse(d[1].root, &k, &diag), -1);
	ck_assert_str_eq(diag.err, "Secret default/nul: data.tls.key: contains a NUL byte; "
				   "expected PEM text");
	ck_assert_int_eq(kobj_parse(d[2].root, &k, &diag), 0);
	ck_assert_str_eq(k->u.secret->tls_key, "");
	kobj_free(k);
	yaml_json_docs_free(d, n);
}
END_TEST

START_TEST(t_copies)
{
	struct kobj *k;
	struct em_service *c;

	k = fixture(REGISTRY "hostname.yaml", KOBJ_SERVICE, "hostname-svc", NULL);
	c = em_service_dup(k->u.svc);
	ck_assert_ptr_ne(c->name, k->u.svc->name);
	ck_assert_str_eq(c->cluster_ips[0], "10.96.0.10");
	ck_assert_ptr_ne(c->cluster_ips[0], k->u.svc->cluster_ips[0]);
	ck_assert_ptr_null(c->cluster_ips[1]);
	ck_assert_ptr_ne(c->ports, k->u.svc->ports);
	ck_assert_str_eq(c->ports[0].name, "http-0");
	em_service_free(c);
	kobj_free(k);
}
END_TEST

/* ---- the example registry ---- */

START_TEST(t_registry)
{
	static const char *files[] = {"nodes.yaml", "hostname.yaml", "tcp-echo.yaml",
				      "hostname-lb.yaml"};
	struct kobj *all[64], *k;
	struct kobj_slice *slices[8];
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct em_endpoints *j;
	struct em_service *pub;
	char path[256];
	size_t f, i, n, nall = 0, nsl = 0, kinds[KOBJ_NKINDS] = {0};
	const struct kobj *dr = NULL, *lb = NULL;

	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		snprintf(path, sizeof(path), REGISTRY "%s", files[f]);
		d = load_file(path, &n);
		for (i = 0; i < n; i++) {
			ck_assert_msg(kobj_parse(d[i].root, &k, &diag) == 0, "%s:%d: %s", path,
				      d[i].line, diag.err);
			ck_assert_msg(diag.warn[0] == '\0', "%s:%d: %s", path, d[i].line,
				      diag.warn);
			if (k == NULL)
				continue;
			ck_assert_uint_lt(nall, 64);
			all[nall++] = k;
			kinds[k->kind]++;
		}
		yaml_json_docs_free(d, n);
	}
	ck_assert_uint_eq(kinds[KOBJ_NODE], 3);
	ck_assert_uint_eq(kinds[KOBJ_SERVICE], 4);
	ck_assert_uint_eq(kinds[KOBJ_ENDPOINTS], 3);
	ck_assert_uint_eq(kinds[KOBJ_ENDPOINTSLICE], 2);
	ck_assert_uint_eq(kinds[KOBJ_DESTINATIONRULE], 1);

	for (i = 0; i < nall; i++) {
		k = all[i];
		switch (k->kind) {
		case KOBJ_NODE:
			ck_assert_uint_eq(k->u.peer->naddrs, 1);
			if (strcmp(k->name, "edge-1") == 0)
				ck_assert_str_eq(k->u.peer->addrs[0], "10.200.0.11");
			else if (strcmp(k->name, "edge-2") == 0)
				ck_assert_str_eq(k->u.peer->addrs[0], "10.200.0.12");
			else
				ck_assert_str_eq(k->u.peer->addrs[0], "10.200.0.13");
			break;
		case KOBJ_SERVICE:
			ck_assert_str_eq(k->ns, "default");
			ck_assert_str_eq(k->u.svc->cluster_ips[0], k->u.svc->cluster_ip);
			ck_assert(strncmp(k->u.svc->cluster_ip, "10.96.", 6) == 0);
			if (strcmp(k->name, "hostname-lb-svc") == 0)
				lb = k;
			break;
		case KOBJ_ENDPOINTS:
			if (strcmp(k->name, "hostname-svc") == 0) {
				ck_assert_uint_eq(k->u.eps->neps, 2);
				check_ep(&k->u.eps->eps[0], "10.201.2.10", "edge-2",
					 "hostname-edge-7b9c5d-e2a1x", true);
				check_ep(&k->u.eps->eps[1], "10.201.3.10", "cloud-1",
					 "hostname-edge-7b9c5d-c1b2y", true);
			}
			break;
		case KOBJ_ENDPOINTSLICE:
			slices[nsl++] = k->u.slice;
			break;
		case KOBJ_DESTINATIONRULE:
			dr = k;
			break;
		default:
			break;
		}
	}
	ck_assert_ptr_nonnull(lb);
	ck_assert_ptr_nonnull(dr);
	pub = kobj_service_publish(lb->u.svc, dr->u.dr);
	ck_assert_int_eq(pub->lb, EM_LB_RANDOM);
	em_service_free(pub);
	j = kobj_slices_join("default", "hostname-lb-svc", slices, nsl);
	ck_assert_uint_eq(j->neps, 3);
	/* slices sorted by name: -cloud before -edge */
	check_ep(&j->eps[0], "10.201.3.30", "cloud-1", "hostname-lb-edge-59d8f7-c1c9s", true);
	check_ep(&j->eps[1], "10.201.1.30", "edge-1", "hostname-lb-edge-59d8f7-e1a7q", true);
	check_ep(&j->eps[2], "10.201.2.30", "edge-2", "hostname-lb-edge-59d8f7-e2b8r", true);
	em_endpoints_free(j);
	for (i = 0; i < nall; i++)
		kobj_free(all[i]);
}
END_TEST

START_TEST(t_all_examples_parse)
{
	static const char *files[] = {"hostname.yaml",
				      "hostname-udp.yaml",
				      "tcp-echo-service.yaml",
				      "hostname-lb-default.yaml",
				      "hostname-lb-roundrobin.yaml",
				      "hostname-lb-random.yaml",
				      "hostname-lb-consistenthash.yaml",
				      "hostname-lb-random-gateway.yaml",
				      "hostname-lb-random-gateway-route.yaml",
				      "hostname-lb-random-gateway-tls.yaml",
				      "cloudzone.yaml",
				      "edgezone.yaml",
				      "nodes.yaml",
				      "endpoints.yaml",
				      "endpointslices.yaml",
				      "destinationrules.yaml"};
	struct kobj_diag diag;
	struct yaml_doc *d;
	struct kobj *k;
	char path[256];
	size_t f, i, n, skipped = 0, parsed = 0;

	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		snprintf(path, sizeof(path), MANIFESTS "%s", files[f]);
		d = load_file(path, &n);
		for (i = 0; i < n; i++) {
			if (kobj_parse(d[i].root, &k, &diag) == -1) {
				/* only the deliberate one in destinationrules.yaml */
				ck_assert_str_eq(files[f], "destinationrules.yaml");
				continue;
			}
			if (k == NULL)
				skipped++;
			else
				parsed++;
			kobj_free(k);
		}
		yaml_json_docs_free(d, n);
	}
	/* Deployments and Namespaces are skipped, silently */
	ck_assert_uint_eq(skipped, 16);
	ck_assert_uint_eq(parsed, 42);
}
END_TEST

/* ---- robustness: every field of every fixture replaced by every shape ---- */

static size_t fuzz_runs;

static void
fuzz_parse(json_t *root)
{
	struct kobj_diag diag;
	struct kobj *k;
	int r;

	r = kobj_parse(root, &k, &diag);
	ck_assert(r == 0 || r == -1);
	if (r == -1) {
		ck_assert_ptr_null(k);
		ck_assert_str_ne(diag.err, "");
	}
	kobj_free(k);
	fuzz_runs++;
}

static json_t *
fuzz_value(int i)
{
	switch (i) {
	case 0:
		return json_null();
	case 1:
		return json_integer(0);
	case 2:
		return json_integer(-1);
	case 3:
		return json_integer(70000);
	case 4:
		return json_string("x");
	case 5:
		return json_string("");
	case 6:
		return json_true();
	case 7:
		return json_array();
	case 8:
		return json_object();
	case 9:
		return json_real(1.5);
	case 10:
		return json_pack("[{}]");
	case 11:
		return json_stringn("a\0b", 3);
	default:
		return json_pack("[n, i, s]", 1, "s");
	}
}

#define FUZZ_NVALUES 13

/* Replace each value under node, in turn, by each shape, and parse root. */
static void
fuzz_walk(json_t *root, json_t *node, int depth)
{
	const char *key;
	json_t *v, *save;
	size_t i;
	int s;

	if (depth > 12)
		return;
	if (json_is_object(node)) {
		char **keys;
		size_t nkeys = 0;

		/* the walk deletes and re-adds keys: iterate over a copy */
		keys = calloc(json_object_size(node) + 1, sizeof(*keys));
		json_object_foreach(node, key, v) keys[nkeys++] = strdup(key);
		for (i = 0; i < nkeys; i++) {
			save = json_incref(json_object_get(node, keys[i]));
			for (s = 0; s < FUZZ_NVALUES; s++) {
				json_object_set_new(node, keys[i], fuzz_value(s));
				fuzz_parse(root);
			}
			json_object_del(node, keys[i]);
			fuzz_parse(root);
			json_object_set_new(node, keys[i], save);
			fuzz_walk(root, save, depth + 1);
			free(keys[i]);
		}
		free(keys);
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v)
		{
			save = json_incref(v);
			for (s = 0; s < FUZZ_NVALUES; s++) {
				json_array_set_new(node, i, fuzz_value(s));
				fuzz_parse(root);
			}
			json_array_set_new(node, i, save);
			fuzz_walk(root, save, depth + 1);
		}
	}
}

START_TEST(t_fuzz_fields)
{
	static const char *files[] = {MANIFESTS "hostname-lb-random-gateway-tls.yaml",
				      MANIFESTS "hostname-lb-consistenthash.yaml",
				      MANIFESTS "hostname-udp.yaml",
				      MANIFESTS "nodes.yaml",
				      MANIFESTS "endpoints.yaml",
				      MANIFESTS "endpointslices.yaml",
				      MANIFESTS "destinationrules.yaml",
				      MANIFESTS "malformed.yaml",
				      REGISTRY "hostname.yaml",
				      REGISTRY "hostname-lb.yaml"};
	static const char vs[] =
	    "apiVersion: networking.istio.io/v1beta1\n"
	    "kind: VirtualService\n"
	    "metadata: {name: shop}\n"
	    "spec:\n"
	    "  hosts: [a]\n"
	    "  gateways: [g]\n"
	    "  http:\n"
	    "  - match: [{uri: {prefix: /}, port: 80}]\n"
	    "    route: [{destination: {host: api, port: {number: 8080}}}]\n"
	    "  tcp:\n"
	    "  - match: [{port: 5432}]\n"
	    "    route: [{destination: {host: db, port: {number: 5432}}}]\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: s, labels: {a: b}}\n"
	    "spec: {type: NodePort, clusterIP: 10.0.0.1, clusterIPs: [10.0.0.1],\n"
	    "  sessionAffinity: ClientIP, externalName: x,\n"
	    "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}},\n"
	    "  ports: [{name: a, port: 1, targetPort: b, nodePort: 3, protocol: UDP}]}\n";
	struct yaml_doc *d;
	size_t f, i, n;

	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		d = load_file(files[f], &n);
		for (i = 0; i < n; i++)
			fuzz_walk(d[i].root, d[i].root, 0);
		yaml_json_docs_free(d, n);
	}
	d = load_buf(vs, &n);
	for (i = 0; i < n; i++)
		fuzz_walk(d[i].root, d[i].root, 0);
	yaml_json_docs_free(d, n);
	ck_assert_uint_gt(fuzz_runs, 10000);
}
END_TEST

/* Random byte soup must never crash the YAML loader. */
START_TEST(t_fuzz_yaml)
{
	static const char alphabet[] = "ab:- \n[]{},&*!|>'\"#?%@`0x.~<";
	struct yaml_doc *d;
	char buf[256], err[256];
	size_t i, n, len;
	unsigned int seed = 12345;
	int round;

	for (round = 0; round < 20000; round++) {
		len = (size_t)(rand_r(&seed) % (sizeof(buf) - 1));
		for (i = 0; i < len; i++)
			buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		buf[len] = '\0';
		if (yaml_json_load_buf(buf, len, "fuzz", &d, &n, err, sizeof(err)) == 0) {
			for (i = 0; i < n; i++)
				fuzz_parse(d[i].root);
			yaml_json_docs_free(d, n);
		} else {
			ck_assert_ptr_null(d);
			ck_assert_str_ne(err, "");
		}
	}
}
END_TEST

static Suite *
kobj_suite(void)
{
	Suite *s = suite_create("kobj");
	TCase *tc;

	tc = tcase_create("yaml");
	tcase_add_test(tc, t_yaml_scalars);
	tcase_add_test(tc, t_yaml_keys);
	tcase_add_test(tc, t_yaml_errors);
	tcase_add_test(tc, t_yaml_multidoc);
	tcase_add_test(tc, t_yaml_aliases);
	tcase_add_test(tc, t_yaml_bounds);
	tcase_add_test(tc, t_yaml_file_errors);
	tcase_add_test(tc, t_yaml_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("objects");
	tcase_add_test(tc, t_kind_of);
	tcase_add_test(tc, t_nul_strings);
	tcase_add_test(tc, t_svc_examples);
	tcase_add_test(tc, t_svc_all_fields);
	tcase_add_test(tc, t_malformed);
	tcase_add_test(tc, t_dr_examples);
	tcase_add_test(tc, t_dr_mapping);
	tcase_add_test(tc, t_endpoints);
	tcase_add_test(tc, t_slices);
	tcase_add_test(tc, t_nodes);
	tcase_add_test(tc, t_node_many_addrs);
	tcase_add_test(tc, t_node_tunnel_key);
	tcase_add_test(tc, t_gateway_route);
	tcase_add_test(tc, t_gateway_tls);
	tcase_add_test(tc, t_vs_routes);
	tcase_add_test(tc, t_secret);
	tcase_add_test(tc, t_copies);
	tcase_add_test(tc, t_all_examples_parse);
	tcase_add_test(tc, t_registry);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_fuzz_fields);
	tcase_add_test(tc, t_fuzz_yaml);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_kobj", 0);
	sr = srunner_create(kobj_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
