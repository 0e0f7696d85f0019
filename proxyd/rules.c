/*
 * The redirect rules as a set of "clusterIP:port/proto" keys: what the
 * service table wants (p->rules), the element changes not yet applied
 * (p->radd, p->rdel, batched over one loop turn), a full atomic install
 * after the first controller sync, and a periodic check that puts our
 * rules back when another program has displaced them.  Rules outlive
 * proxyd (a restart does not break traffic); --cleanup removes them.
 *
 * UDP service ports whose endpoints are all on this node, balanced round
 * robin or at random without session affinity, are forwarded by the kernel
 * itself (p->kern: a DNAT straight to the pods, matched before the DNAT to
 * proxyd, masqueraded on the way out); p->kchg holds their installed state
 * while changes are pending.  After a change is applied, the conntrack
 * entries of those ports that point at a pod no longer behind them are
 * deleted (proxy_ct.c), as kube-proxy does.
 *
 * The backends (rules_nft.c, rules_ipt.c) run nft(8) or
 * iptables-restore(8) as a child that inherits CAP_NET_ADMIN as an
 * ambient capability; input and output go through memfds, so a large
 * transaction cannot deadlock on a pipe.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

void
rules_caps_for_children(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) == -1) {
		log_warn("capget");
		return;
	}
	data[0].inheritable |= data[0].permitted & (1u << CAP_NET_ADMIN);
	if (syscall(SYS_capset, &hdr, data) == -1)
		log_warn("capset: inheritable CAP_NET_ADMIN for nft/iptables");
}

int
rules_run(const char *const argv[], const char *input, size_t inlen, char *out, size_t outlen)
{
	int in, o, st;
	pid_t pid;
	ssize_t n;
	size_t off = 0;

	if (outlen)
		out[0] = '\0';
	if ((in = memfd_create("proxyd-in", MFD_CLOEXEC)) == -1)
		return -1;
	if ((o = memfd_create("proxyd-out", MFD_CLOEXEC)) == -1) {
		close(in);
		return -1;
	}
	while (off < inlen) {
		if ((n = write(in, input + off, inlen - off)) <= 0) {
			close(in);
			close(o);
			return -1;
		}
		off += (size_t)n;
	}
	lseek(in, 0, SEEK_SET);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(in);
		close(o);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0);
		dup2(in, 0);
		dup2(o, 1);
		dup2(o, 2);
		{
			char *av[32];
			size_t i;

			for (i = 0; i < 31 && argv[i] != NULL; i++)
				av[i] = strdup(argv[i]);
			av[i] = NULL;
			execvp(av[0], av);
		}
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (outlen) {
		n = pread(o, out, outlen - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		if (n > 0 && out[n - 1] == '\n')
			out[n - 1] = '\0';
	}
	close(o);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int
rules_key_parse(const char *key, char *ip, size_t iplen, uint16_t *port, int *proto)
{
	const char *c = strchr(key, ':'), *s = strchr(key, '/');

	if (c == NULL || s == NULL || (size_t)(c - key) >= iplen)
		return -1;
	memcpy(ip, key, (size_t)(c - key));
	ip[c - key] = '\0';
	*port = (uint16_t)atoi(c + 1);
	*proto = strcmp(s + 1, "udp") == 0 ? EM_PROTO_UDP : EM_PROTO_TCP;
	return 0;
}

static void
hmap_clear(struct hmap *m)
{
	struct hmap_iter it;
	const char *k;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v))
		free(hmap_del(m, k));
}

/* After the rules changed: flows to the ports in keys (NULL: all) that point
 * at a pod no longer behind them are forgotten by conntrack. */
static void
rules_ct_clear(struct proxyd *p, struct hmap *keys)
{
	int n;

	if (keys != NULL && hmap_count(keys) == 0)
		return;
	if ((n = proxy_ct_clear_stale(p, keys)) == -1)
		log_warn("conntrack: clearing the UDP flows of changed service ports");
	else if (n > 0)
		log_info(
		    "conntrack: %d UDP flows to endpoints that left their service port cleared", n);
}

void
rules_sync_full(struct proxyd *p)
{
	hmap_clear(p->radd);
	hmap_clear(p->rdel);
	hmap_clear(p->kchg);
	p->n_resyncs++;
	if (p->rb->full(p) == -1)
		log_warnx("%s: installing the rules failed; retrying in %.0fs", p->rb->name,
			  PROXY_RULES_CHECK);
	else {
		log_info("%s: rules installed for %zu service ports (%zu UDP forwarded by the "
			 "kernel)",
			 p->rb->name, hmap_count(p->rules), hmap_count(p->kern));
		rules_ct_clear(p, NULL);
	}
	p->rules_dirty_full = 0;
}

/* Someone else changed or removed our rules (the periodic check of all of
 * them; after an element update failed, of their frame: the pending
 * changes are not in the kernel then): counted, for edgemeshctl doctor; the
 * caller puts them back. */
static int
rules_displaced(struct proxyd *p, int elements)
{
	if (p->rb->check(p, elements) == 0)
		return 0;
	log_warnx("%s: our rules were changed or removed by someone else: putting them back",
		  p->rb->name);
	p->n_displaced++;
	return 1;
}

static void
rules_flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxyd *p = w->data;

	if (!p->synced)
		return;
	if (p->rules_dirty_full) {
		rules_sync_full(p);
		return;
	}
	if (hmap_count(p->radd) == 0 && hmap_count(p->rdel) == 0 && hmap_count(p->kchg) == 0)
		return;
	if (p->rb->apply(p) == -1) {
		if (!rules_displaced(p, 0))
			log_warnx("%s: element update failed: reinstalling the rules", p->rb->name);
		rules_sync_full(p);
		return;
	}
	hmap_clear(p->radd);
	hmap_clear(p->rdel);
	rules_ct_clear(p, p->kchg);
	hmap_clear(p->kchg);
}

static void
rules_check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxyd *p = w->data;

	if (p->synced && rules_displaced(p, 1))
		rules_sync_full(p);
}

static void
rules_schedule(struct proxyd *p)
{
	if (!ev_is_active(&p->rules_flush)) {
		ev_timer_set(&p->rules_flush, 0.005, 0.);
		ev_timer_start(p->loop, &p->rules_flush);
	}
}

void
rules_add(struct proxyd *p, const struct pd_vip *v)
{
	char comment[EM_KEY_LEN + 80];

	if (v->portname[0])
		snprintf(comment, sizeof(comment), "%s:%s", v->svc, v->portname);
	else
		snprintf(comment, sizeof(comment), "%s", v->svc);
	free(hmap_put(p->rules, v->key, xstrdup(comment)));
	free(hmap_del(p->rdel, v->key));
	free(hmap_put(p->radd, v->key, xstrdup(comment)));
	rules_schedule(p);
}

void
rules_del(struct proxyd *p, const char *key)
{
	char *c;

	if ((c = hmap_del(p->rules, key)) == NULL)
		return;
	free(hmap_del(p->radd, key));
	free(hmap_put(p->rdel, key, c));
	rules_schedule(p);
}

static int
kernel_same(const struct rules_kernel *a, const struct rules_kernel *b)
{
	size_t i;

	if (a->n != b->n || a->random != b->random || strcmp(a->comment, b->comment) != 0)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->eps[i].sin_addr.s_addr != b->eps[i].sin_addr.s_addr ||
		    a->eps[i].sin_port != b->eps[i].sin_port)
			return 0;
	return 1;
}

void
rules_kernel_set(struct proxyd *p, const char *key, struct rules_kernel *k)
{
	struct rules_kernel *cur = hmap_get(p->kern, key), *was;
	size_t sz;

	if (k == NULL && cur == NULL)
		return;
	if (k != NULL && cur != NULL && kernel_same(k, cur)) {
		free(k);
		return;
	}
	if (hmap_get(p->kchg, key) == NULL) {
		/* the state installed now: what the backend changes from */
		if (cur != NULL) {
			sz = sizeof(*cur) + cur->n * sizeof(cur->eps[0]);
			was = xcalloc(1, sz);
			memcpy(was, cur, sz);
		} else
			was = xcalloc(1, sizeof(*was));
		hmap_put(p->kchg, key, was);
	}
	if (k != NULL) {
		free(hmap_put(p->kern, key, k));
		log_info("%s (%s): forwarded by the kernel to %zu local endpoints, %s", key,
			 k->comment, k->n, k->random ? "random" : "round robin");
	} else {
		free(hmap_del(p->kern, key));
		log_info("%s: no longer forwarded by the kernel", key);
	}
	rules_schedule(p);
}

void
rules_kernel_chain(char *out, size_t outlen, const char *key, int ipt)
{
	char ip[46];
	uint16_t port;
	int proto;
	struct in_addr a = {0};
	char *c;

	if (rules_key_parse(key, ip, sizeof(ip), &port, &proto) == -1)
		ip[0] = '\0';
	if (ipt) {
		inet_pton(AF_INET, ip, &a);
		snprintf(out, outlen, "KUBE-PORTALS-U%08X%04X", (unsigned)ntohl(a.s_addr), port);
		return;
	}
	for (c = ip; *c; c++)
		if (*c == '.')
			*c = '_';
	snprintf(out, outlen, "udp_%s_%u", ip, port);
}

struct hmap *
rules_kernel_by_chain(struct proxyd *p, int ipt)
{
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	const char *k;
	void *v;
	char ch[64];

	hmap_iter_init(&it);
	while (hmap_next(p->kern, &it, &k, &v)) {
		rules_kernel_chain(ch, sizeof(ch), k, ipt);
		hmap_put(m, ch, v);
	}
	return m;
}

size_t
rules_kernel_endpoints(const struct proxyd *p)
{
	struct hmap_iter it;
	const char *k;
	void *v;
	size_t n = 0;

	hmap_iter_init(&it);
	while (hmap_next(p->kern, &it, &k, &v))
		n += ((const struct rules_kernel *)v)->n;
	return n;
}

static int
have_cmd(const char *const argv[])
{
	char out[256];

	return rules_run(argv, "", 0, out, sizeof(out)) == 0;
}

int
rules_init(struct proxyd *p, const char *backend)
{
	static const char *const nftv[] = {"nft", "--version", NULL};
	static const char *const iptv[] = {"iptables-restore", "--version", NULL};

	p->rules = hmap_new();
	p->radd = hmap_new();
	p->rdel = hmap_new();
	p->kern = hmap_new();
	p->kchg = hmap_new();
	ev_timer_init(&p->rules_flush, rules_flush_cb, 0., 0.);
	p->rules_flush.data = p;
	ev_timer_init(&p->rules_check, rules_check_cb, PROXY_RULES_CHECK, PROXY_RULES_CHECK);
	p->rules_check.data = p;
	if (backend == NULL || backend[0] == '\0' || strcmp(backend, "auto") == 0) {
		if (have_cmd(nftv))
			p->rb = &rules_nft;
		else if (have_cmd(iptv))
			p->rb = &rules_ipt;
		else {
			log_warnx("neither nft nor iptables-restore can be run: install nftables "
				  "(or iptables); no service traffic will reach proxyd");
			return -1;
		}
	} else if (strcmp(backend, "nftables") == 0)
		p->rb = &rules_nft;
	else if (strcmp(backend, "iptables") == 0)
		p->rb = &rules_ipt;
	else {
		log_warnx("modules.edgeProxy.rulesBackend: %s is not auto, nftables or iptables",
			  backend);
		return -1;
	}
	log_info("redirect rules backend: %s", p->rb->name);
	return 0;
}

int
rules_cleanup_all(void)
{
	int a = rules_nft.cleanup(), b = rules_ipt.cleanup();

	return a == -1 && b == -1 ? -1 : 0;
}
