#!/usr/bin/env python3
"""A steady request loop for restart tests, bounded in time and count.

    steady_load.py [--in-flight N] SECONDS KIND:TARGET ...

KIND is one of
  http:IP:PORT[/PATH]   a new connection per request, GET, status 200
  dns:SERVER:NAME       one UDP query (A), an answer with at least one record
  socks:SERVER:PORT:HOST:DPORT
                        SOCKS5 CONNECT to HOST:DPORT, reads the first line
                        (an ssh banner)
Each kind runs in its own thread, one request after another with a short
pause, until SECONDS have passed (at most 100000 requests each).  DNS
queries are resent after 2 s, three tries, as resolvers do.  Prints one
line per kind, "KIND ok=N fail=M refused=R", and each failure with its
reason; exits 1 when a connection was refused, a kind made no request, or
more than N requests of a kind failed otherwise (--in-flight N, default 0:
a kill -9 may take the requests a daemon held at that instant with it).
"""
import socket
import struct
import sys
import threading
import time

TIMEOUT = 15  # a request may wait in a backlog while its daemon restarts
PAUSE = 0.02
MAX_REQUESTS = 100000


def http(target):
    hostport, _, path = target.partition("/")
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    try:
        s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    if not data.startswith(b"HTTP/1.") or data.split(b" ", 2)[1] != b"200":
        raise RuntimeError("answer %r" % data[:60])


def dns(target):
    server, name = target.split(":", 1)
    qid = int(time.time() * 1000) & 0xFFFF
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    r = None
    try:
        for _ in range(3):
            s.sendto(q, (server, 53))
            try:
                while True:
                    r, _ = s.recvfrom(4096)
                    if len(r) >= 12 and struct.unpack("!H", r[:2])[0] == qid:
                        break
                break
            except socket.timeout:
                r = None
    finally:
        s.close()
    if r is None:
        raise RuntimeError("no answer to 3 tries")
    flags, ancount = struct.unpack("!H", r[2:4])[0], struct.unpack("!H", r[6:8])[0]
    if flags & 0xF != 0 or ancount == 0:
        raise RuntimeError("rcode %d, %d answers" % (flags & 0xF, ancount))


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise RuntimeError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def socks(target):
    server, port, host, dport = target.split(":")
    s = socket.create_connection((server, int(port)), timeout=TIMEOUT)
    try:
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            raise RuntimeError("greeting refused")
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack("!H", int(dport)))
        rep = recv_exact(s, 10)
        if rep[1] != 0:
            raise RuntimeError("reply code %d" % rep[1])
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(256)
            if not c:
                break
            line += c
        if not line.startswith(b"SSH-"):
            raise RuntimeError("no ssh banner: %r" % line[:40])
    finally:
        s.close()


KINDS = {"http": http, "dns": dns, "socks": socks}


def worker(kind, target, until, out):
    ok = fail = refused = 0
    errs = []
    while time.time() < until and ok + fail + refused < MAX_REQUESTS:
        t0 = time.time()
        try:
            KINDS[kind](target)
            ok += 1
        except ConnectionRefusedError as e:
            refused += 1
            errs.append("%s %s at +%.1fs: REFUSED %s" % (kind, target, t0 - START, e))
        except Exception as e:  # every failure is counted and named
            fail += 1
            errs.append("%s %s at +%.1fs: %s" % (kind, target, t0 - START, e))
        time.sleep(PAUSE)
    out.append((kind, target, ok, fail, refused, errs))


START = time.time()


def main():
    args = sys.argv[1:]
    in_flight = 0
    if args[0] == "--in-flight":
        in_flight = int(args[1])
        args = args[2:]
    secs = float(args[0])
    until = START + secs
    out, threads = [], []
    for spec in args[1:]:
        kind, target = spec.split(":", 1)
        t = threading.Thread(target=worker, args=(kind, target, until, out))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    bad = 0
    for kind, target, ok, fail, refused, errs in out:
        print("%s %s ok=%d fail=%d refused=%d" % (kind, target, ok, fail, refused))
        for e in errs[:20]:
            print("  " + e)
        if refused or fail > in_flight or not ok:
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
