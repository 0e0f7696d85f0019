#!/usr/bin/env python3
"""A fake Kubernetes API server for tests (a fixture, not product).

It implements what the controller relies on, with the real semantics:

  GET <collection>?limit=N&continue=T      paged list from one snapshot;
                                           items without apiVersion/kind;
                                           metadata.resourceVersion/continue;
                                           410 when the token's version was compacted
  GET <collection>?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=S
                                           chunked stream of JSON lines, split at
                                           awkward byte boundaries, BOOKMARK events,
                                           410 as HTTP status or in-stream ERROR,
                                           a clean end after timeoutSeconds
  Authorization: Bearer <token>            the token file is re-read per request
                                           (rotation); 401 otherwise
  TLS                                      --cert/--key
  fieldSelector=type=...,metadata.name=...,metadata.namespace=...,spec.nodeName=...
  labelSelector=k=v,k!=v,!k,k              (no set-based terms)
  /api/v1/namespaces/<ns>/<resource>       one namespace of a core resource
  --request-log FILE                       one line per API request (path?query)

Control (no auth), POST /_fake/<op> with a JSON body:
  put {"object": {...}} | {"objects": [...]}     ADDED or MODIFIED
  delete {"apiVersion","kind","namespace","name"}
  compact {"mode": "status"|"event"}             older versions give 410 in that form
  gone                                           in-stream 410 ERROR on open watches
  drop                                           cut open watch streams (no last chunk)
  garbage                                        a non-JSON line on open watches
  stall                                          open watches go silent, stay open
  down / up                                      refuse (close) every API request
  serve {"resource": "endpointslices", "on": false}   404 for a resource
  rbac {"patch_nodes": false}                    PATCH of nodes gets 403 (RBAC)
PATCH /api/v1/nodes/<name>  JSON merge patch (application/merge-patch+json), MODIFIED
GET /_fake/stats  counters (lists, watches, open watches, rv).
"""
import argparse
import base64
import bisect
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    # path: (name, apiVersion, kind, namespaced)
    "/api/v1/services": ("services", "v1", "Service"),
    "/api/v1/endpoints": ("endpoints", "v1", "Endpoints"),
    "/api/v1/nodes": ("nodes", "v1", "Node"),
    "/api/v1/secrets": ("secrets", "v1", "Secret"),
    "/api/v1/pods": ("pods", "v1", "Pod"),   # EdgeMesh's SOCKS5 finds agent pods (test_interop)
    "/apis/discovery.k8s.io/v1/endpointslices": ("endpointslices", "discovery.k8s.io/v1", "EndpointSlice"),
    "/apis/networking.istio.io/v1alpha3/destinationrules": ("destinationrules", "networking.istio.io/v1alpha3", "DestinationRule"),
    "/apis/networking.istio.io/v1alpha3/gateways": ("gateways", "networking.istio.io/v1alpha3", "Gateway"),
    "/apis/networking.istio.io/v1alpha3/virtualservices": ("virtualservices", "networking.istio.io/v1alpha3", "VirtualService"),
}
NAMESPACED = re.compile(r"^/api/v1/namespaces/([^/]+)/([a-z]+)$")
BY_KIND = {(v[1], v[2]): v[0] for v in RESOURCES.values()}
BY_NAME = {v[0]: (p, v[1], v[2]) for p, v in RESOURCES.items()}


class Store:
    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects = {name: {} for name in BY_NAME}   # name -> key -> obj
        self.hist_rv = []      # parallel lists: rv, (resource, type, obj)
        self.hist = []
        self.compacted = 0     # watches from an rv below this get 410
        self.gone_mode = "status"
        self.snapshots = {}    # continue id -> (rv, items)
        self.streams = set()
        self.down = False
        self.unserved = set()
        self.patch_nodes = True
        self.stats = {"lists": 0, "watches": 0, "gone": 0, "unauthorized": 0}

    def key(self, obj):
        md = obj.get("metadata", {})
        return "%s/%s" % (md.get("namespace", ""), md.get("name", ""))

    def put(self, obj):
        res = BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
        if res is None:
            raise ValueError("unknown kind %s %s" % (obj.get("apiVersion"), obj.get("kind")))
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        k = self.key(obj)
        typ = "MODIFIED" if k in self.objects[res] else "ADDED"
        self.objects[res][k] = obj
        self.hist_rv.append(self.rv)
        self.hist.append((res, typ, obj))

    def delete(self, api, kind, ns, name):
        res = BY_KIND[(api, kind)]
        obj = self.objects[res].pop("%s/%s" % (ns or "", name), None)
        if obj is None:
            return False
        self.rv += 1
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.hist_rv.append(self.rv)
        self.hist.append((res, "DELETED", obj))
        return True

    def save(self, path):
        with open(path + ".tmp", "w") as f:
            json.dump({"rv": self.rv, "objects": self.objects}, f)
        os.rename(path + ".tmp", path)

    def load(self, path):
        with open(path) as f:
            d = json.load(f)
        self.rv = d["rv"]
        self.compacted = self.rv   # a restarted apiserver: old watches expire
        for name, objs in d["objects"].items():
            self.objects[name] = objs


STORE = Store()
ARGS = None


def status_obj(code, reason, msg):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": msg, "reason": reason, "code": code}


class Stream:
    def __init__(self):
        self.drop = self.garbage = self.gone = self.stall = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write("fakeapi: " + (fmt % args) + "\n")

    def send_json(self, code, obj, extra=None):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def chunks(self, data):
        """Write data as HTTP chunks split at awkward places."""
        i = 0
        while i < len(data):
            n = random.choice([1, 2, 3, 5, 7, 13, 64, 333, 4096, 65536])
            self.chunk(data[i:i + n])
            i += n
        self.wfile.flush()

    # ---- control ----
    def do_POST(self):
        u = urllib.parse.urlparse(self.path)
        if not u.path.startswith("/_fake/"):
            return self.send_json(405, status_obj(405, "MethodNotAllowed", "read only"))
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        op = u.path[len("/_fake/"):]
        s = STORE
        with s.cond:
            if op == "put":
                for o in body.get("objects", []) + ([body["object"]] if "object" in body else []):
                    s.put(o)
            elif op == "delete":
                s.delete(body["apiVersion"], body["kind"], body.get("namespace", ""), body["name"])
            elif op == "compact":
                s.compacted = s.rv
                s.gone_mode = body.get("mode", "status")
                s.snapshots.clear()
            elif op in ("gone", "drop", "garbage", "stall"):
                for st in s.streams:
                    setattr(st, op, True)
                if op == "gone":
                    s.compacted = s.rv
            elif op == "down":
                s.down = True
                for st in s.streams:
                    st.drop = True
            elif op == "up":
                s.down = False
            elif op == "serve":
                if body.get("on", True):
                    s.unserved.discard(body["resource"])
                else:
                    s.unserved.add(body["resource"])
            elif op == "rbac":
                s.patch_nodes = body.get("patch_nodes", True)
            elif op == "save":
                s.save(ARGS.state)
            else:
                return self.send_json(404, {"error": "no such op " + op})
            s.cond.notify_all()
            rv = s.rv
        self.send_json(200, {"ok": True, "rv": rv})

    # ---- API ----
    def do_PATCH(self):
        u = urllib.parse.urlparse(self.path)
        s = STORE
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if ARGS.token_file:
            with open(ARGS.token_file) as f:
                tok = f.read().strip()
            if self.headers.get("Authorization") != "Bearer %s" % tok:
                return self.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
        if ARGS.request_log:
            with s.cond, open(ARGS.request_log, "a") as f:
                f.write("PATCH %s %s\n" % (self.path, raw.decode()))
        m = re.match(r"^/api/v1/nodes/([^/]+)$", u.path)
        if m is None:
            return self.send_json(405, status_obj(405, "MethodNotAllowed", "only nodes are patched here"))
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            return self.send_json(415, status_obj(415, "UnsupportedMediaType", "merge patch only"))

        def merge(dst, patch):
            for k, v in patch.items():
                if v is None:
                    dst.pop(k, None)
                elif isinstance(v, dict) and isinstance(dst.get(k), dict):
                    merge(dst[k], v)
                else:
                    dst[k] = v
        with s.cond:
            if not s.patch_nodes:
                return self.send_json(403, status_obj(403, "Forbidden", 'nodes "%s" is forbidden: cannot patch resource "nodes"' % m.group(1)))
            obj = s.objects["nodes"].get("/" + m.group(1))
            if obj is None:
                return self.send_json(404, status_obj(404, "NotFound", 'nodes "%s" not found' % m.group(1)))
            obj = json.loads(json.dumps(obj))
            merge(obj, json.loads(raw))
            obj["apiVersion"], obj["kind"] = "v1", "Node"
            s.put(obj)
            s.cond.notify_all()
        self.send_json(200, obj)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        s = STORE
        if u.path == "/_fake/stats":
            with s.cond:
                d = dict(s.stats, open_watches=len(s.streams), rv=s.rv,
                         objects={k: len(v) for k, v in s.objects.items()})
            return self.send_json(200, d)
        if s.down:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if ARGS.token_file:
            try:
                with open(ARGS.token_file) as f:
                    tok = f.read().strip()
            except OSError:
                tok = None
            if self.headers.get("Authorization") != "Bearer %s" % tok:
                with s.cond:
                    s.stats["unauthorized"] += 1
                return self.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
        if ARGS.request_log:
            with s.cond, open(ARGS.request_log, "a") as f:
                f.write("GET %s\n" % self.path)
        info = RESOURCES.get(u.path)
        m = NAMESPACED.match(u.path)
        if info is None and m and "/api/v1/" + m.group(2) in RESOURCES:
            info = RESOURCES["/api/v1/" + m.group(2)]
            q["_ns"] = urllib.parse.unquote(m.group(1))
        if info is None or info[0] in s.unserved:
            return self.send_json(404, status_obj(404, "NotFound", "the server could not find the requested resource"))
        if q.get("watch") in ("1", "true"):
            return self.watch(info, q)
        return self.list(info, q)

    def matches(self, obj, q):
        md = obj.get("metadata", {})
        if "_ns" in q and md.get("namespace", "") != q["_ns"]:
            return False
        fs = q.get("fieldSelector")
        if fs:
            for term in fs.split(","):
                k, _, v = term.partition("=")
                v = v.lstrip("=")
                if k == "type" and obj.get("type") != v:
                    return False
                if k == "metadata.name" and md.get("name") != v:
                    return False
                if k == "metadata.namespace" and md.get("namespace", "") != v:
                    return False
                if k == "spec.nodeName" and obj.get("spec", {}).get("nodeName") != v:
                    return False
        ls = q.get("labelSelector")
        labels = md.get("labels", {})
        for term in (ls.split(",") if ls else []):
            term = term.strip()
            if term.startswith("!"):                 # !k: no such label
                if term[1:] in labels:
                    return False
            elif "!=" in term:
                k, _, v = term.partition("!=")
                if labels.get(k) == v:
                    return False
            elif "=" in term:
                k, _, v = term.partition("=")
                if labels.get(k) != v.lstrip("="):
                    return False
            elif term and term not in labels:        # k: the label exists
                return False
        return True

    def list(self, info, q):
        name, api, kind = info
        s = STORE
        limit = int(q.get("limit") or 0)
        with s.cond:
            s.stats["lists"] += 1
            if q.get("continue"):
                try:
                    cid, off = base64.b64decode(q["continue"]).decode().split(":")
                    rv, items = s.snapshots[cid]
                    off = int(off)
                except (KeyError, ValueError):
                    return self.send_json(410, status_obj(410, "Expired",
                        "The provided continue parameter is too old to display a consistent list result."))
            else:
                rv = s.rv
                items = []
                for k in sorted(s.objects[name]):
                    o = dict(s.objects[name][k])
                    o.pop("apiVersion", None)
                    o.pop("kind", None)
                    if self.matches(o, q):
                        items.append(o)
                cid = "%d-%d" % (rv, random.randrange(1 << 30))
                off = 0
                if limit:
                    s.snapshots[cid] = (rv, items)
        page = items[off:off + limit] if limit else items
        md = {"resourceVersion": str(rv)}
        if limit and off + limit < len(items):
            md["continue"] = base64.b64encode(("%s:%d" % (cid, off + limit)).encode()).decode()
            md["remainingItemCount"] = len(items) - off - limit
        self.send_json(200, {"kind": kind + "List", "apiVersion": api, "metadata": md, "items": page})

    def watch(self, info, q):
        name, api, kind = info
        s = STORE
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        try:
            pos = int(q.get("resourceVersion") or 0)
        except ValueError:
            return self.send_json(400, status_obj(400, "BadRequest", "bad resourceVersion"))
        st = Stream()
        with s.cond:
            s.stats["watches"] += 1
            expired = pos < s.compacted
            if expired:
                s.stats["gone"] += 1
            mode = s.gone_mode
            s.streams.add(st)
        try:
            if expired and mode == "status":
                return self.send_json(410, status_obj(410, "Expired",
                    "too old resource version: %d (%d)" % (pos, s.compacted)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if expired:
                ev = {"type": "ERROR", "object": status_obj(410, "Expired",
                      "too old resource version: %d (%d)" % (pos, s.compacted))}
                self.chunks(json.dumps(ev).encode() + b"\n")
                self.chunk(b"")
                return
            deadline = time.time() + timeout
            last_bm = time.time()
            with s.cond:
                idx = bisect.bisect_right(s.hist_rv, pos)
            while True:
                out = []
                with s.cond:
                    if not (idx < len(s.hist) or st.drop or st.garbage or st.gone):
                        s.cond.wait(max(0.01, min(ARGS.bookmark_interval, deadline - time.time())))
                    if st.stall:
                        pass
                    elif st.drop:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    elif st.gone:
                        out.append({"type": "ERROR", "object": status_obj(410, "Expired",
                                    "The resourceVersion for the provided watch is too old.")})
                    else:
                        while idx < len(s.hist):
                            res, typ, obj = s.hist[idx]
                            idx += 1
                            if res == name and self.matches(obj, q):
                                out.append({"type": typ, "object": obj})
                        if bookmarks and time.time() - last_bm >= ARGS.bookmark_interval:
                            last_bm = time.time()
                            out.append({"type": "BOOKMARK", "object": {"kind": kind,
                                        "apiVersion": api, "metadata": {"resourceVersion": str(s.rv)}}})
                    garbage, st.garbage = st.garbage, False
                if st.stall:
                    time.sleep(0.2)
                    continue
                data = b"".join(json.dumps(e).encode() + b"\n" for e in out)
                if garbage:
                    data += b"{this is not json\n"
                if data:
                    self.chunks(data)
                if st.gone or time.time() >= deadline:
                    self.chunk(b"")
                    self.wfile.flush()
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with s.cond:
                s.streams.discard(st)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--token-file")
    ap.add_argument("--state", help="load at start, save on SIGTERM and /_fake/save")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--unserved", default="", help="comma-separated resources answering 404")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--request-log", help="append one line per API request")
    ap.add_argument("-v", "--verbose", action="store_true")
    ARGS = ap.parse_args()
    random.seed(ARGS.seed)
    STORE.unserved = set(x for x in ARGS.unserved.split(",") if x)
    if ARGS.state and os.path.exists(ARGS.state):
        STORE.load(ARGS.state)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    if ARGS.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def term(*_):
        if ARGS.state:
            with STORE.cond:
                STORE.save(ARGS.state)
        os._exit(0)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, term)
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
