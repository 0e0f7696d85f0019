#!/usr/bin/env python3
"""Generate a large embedded-registry directory for bench/registry.sh.

    gen_registry.py DIR [--services N] [--eps K] [--files F]
        DIR/registry-NN.yaml: N Services over F files, each with K endpoints;
        even-numbered services get an Endpoints object, odd ones an
        EndpointSlice (both paths of the controller are exercised);
        DIR/probe.yaml: one small Service + Endpoints (bench/probe) for the
        one-change measurement.
    gen_registry.py DIR ... --file I --bump-port P
        writes only file I, with its first service's port set to P, to
        DIR/.registry-II.yaml.tmp (the caller renames it into place)
    gen_registry.py DIR --probe-port P
        writes only the probe, with port P, to DIR/.probe.yaml.tmp
    --rename (with --file or --probe-port)
        then renames the .tmp file into place itself and prints the
        CLOCK_REALTIME nanoseconds taken just before rename(2), so that a
        timing does not include starting an `mv` process

Plain string formatting, no YAML library: the output is block-style YAML
as kubectl would print it.
"""
import argparse
import os
import time


def ip(base, n):
    return "10.%d.%d.%d" % (base + n // 65536, (n // 256) % 256, n % 256)


def service(i, ns, name, port):
    return (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        "  name: %s\n"
        "  namespace: %s\n"
        "  labels:\n"
        "    app: %s\n"
        "spec:\n"
        "  type: ClusterIP\n"
        "  clusterIP: %s\n"
        "  clusterIPs:\n"
        "  - %s\n"
        "  selector:\n"
        "    app: %s\n"
        "  ports:\n"
        "  - name: http\n"
        "    port: %d\n"
        "    protocol: TCP\n"
        "    targetPort: 8080\n"
        "---\n" % (name, ns, name, ip(96, i), ip(96, i), name, port)
    )


def pod_ref(pad, name, j, ns):
    """An endpoint's targetRef (pod NAME-J), each line indented by pad."""
    return "".join(pad + line + "\n" for line in
                   ("targetRef:", "  kind: Pod", "  name: %s-%d" % (name, j), "  namespace: %s" % ns))


def endpoints(i, ns, name, k):
    out = [
        "apiVersion: v1\n"
        "kind: Endpoints\n"
        "metadata:\n"
        "  name: %s\n"
        "  namespace: %s\n"
        "subsets:\n"
        "- addresses:\n" % (name, ns)
    ]
    for j in range(k):
        n = i * k + j
        out.append("  - ip: %s\n    nodeName: node-%d\n" % (ip(128, n), n % 50))
        out.append(pod_ref("    ", name, j, ns))
    out.append("  ports:\n  - name: http\n    port: 8080\n    protocol: TCP\n---\n")
    return "".join(out)


def slice_(i, ns, name, k):
    out = [
        "apiVersion: discovery.k8s.io/v1\n"
        "kind: EndpointSlice\n"
        "metadata:\n"
        "  name: %s-x7k2p\n"
        "  namespace: %s\n"
        "  labels:\n"
        "    kubernetes.io/service-name: %s\n"
        "addressType: IPv4\n"
        "ports:\n"
        "- name: http\n"
        "  port: 8080\n"
        "  protocol: TCP\n"
        "endpoints:\n" % (name, ns, name)
    ]
    for j in range(k):
        n = i * k + j
        out.append(
            "- addresses:\n"
            "  - %s\n"
            "  conditions:\n"
            "    ready: true\n"
            "  nodeName: node-%d\n" % (ip(128, n), n % 50)
        )
        out.append(pod_ref("  ", name, j, ns))
    out.append("---\n")
    return "".join(out)


def names(i):
    return "bench-%02d" % (i % 20), "svc-%05d" % i


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def gen_file(args, fi, bump):
    per = (args.services + args.files - 1) // args.files
    parts = []
    for i in range(fi * per, min(args.services, (fi + 1) * per)):
        ns, name = names(i)
        port = bump if (bump and i == fi * per) else 80
        parts.append(service(i, ns, name, port))
        parts.append(endpoints(i, ns, name, args.eps) if i % 2 == 0 else slice_(i, ns, name, args.eps))
    return "".join(parts)


def gen_probe(port):
    return service(65000, "bench", "probe", port) + endpoints(65000, "bench", "probe", 10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--eps", type=int, default=10)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--file", type=int)
    ap.add_argument("--bump-port", type=int, default=0)
    ap.add_argument("--probe-port", type=int)
    ap.add_argument("--rename", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if args.probe_port is not None or args.file is not None:
        if args.probe_port is not None:
            name, text = "probe.yaml", gen_probe(args.probe_port)
        else:
            name = "registry-%02d.yaml" % args.file
            text = gen_file(args, args.file, args.bump_port)
        tmp = os.path.join(args.dir, "." + name + ".tmp")
        write_file(tmp, text)
        if args.rename:
            t = time.time_ns()
            os.rename(tmp, os.path.join(args.dir, name))
            print(t)
        return
    for fi in range(args.files):
        write_file(os.path.join(args.dir, "registry-%02d.yaml" % fi), gen_file(args, fi, 0))
    write_file(os.path.join(args.dir, "probe.yaml"), gen_probe(80))


if __name__ == "__main__":
    main()
