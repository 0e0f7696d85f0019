#!/usr/bin/env python3
"""One keep-alive HTTP connection: N GETs of / with a pause between, each
answer's body printed on its own line (the tests count them).

    keepalive.py HOST PORT N PAUSE
"""
import http.client
import sys
import time

host, port, n, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
c = http.client.HTTPConnection(host, port, timeout=10)
for i in range(n):
    if i:
        time.sleep(pause)
    c.request("GET", "/")
    print(c.getresponse().read().decode(), flush=True)
