# A tiny HTTP proxy for the tests (test_ws.sh) that allows only CONNECT, and
# only to the ports given (443 by default), as the strict corporate proxies
# the WebSocket transport is for.  Each request is logged as one line:
#   CONNECT 10.200.0.12:443 200     CONNECT 10.200.0.12:20006 403     GET ... 405
# usage: connect_proxy.py LISTEN_IP PORT [ALLOWED_PORT...]
import asyncio, sys

ip, port = sys.argv[1], int(sys.argv[2])
allowed = {int(p) for p in sys.argv[3:]} or {443}


def log(line):
    print(line, flush=True)


async def pipe(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    except Exception:
        pass
    try:
        w.close()
    except Exception:
        pass


async def handle(cr, cw):
    try:
        head = await asyncio.wait_for(cr.readuntil(b"\r\n\r\n"), 10)
    except Exception:
        cw.close()
        return
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(parts) != 3 or parts[0] != "CONNECT":
        log("%s %s 405" % (parts[0] if parts else "?", parts[1] if len(parts) > 1 else "?"))
        cw.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        cw.close()
        return
    host, _, p = parts[1].rpartition(":")
    if not p.isdigit() or int(p) not in allowed:
        log("CONNECT %s 403" % parts[1])
        cw.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        cw.close()
        return
    try:
        ur, uw = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(p)), 5)
    except Exception as e:
        log("CONNECT %s 502 %s" % (parts[1], e))
        cw.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        cw.close()
        return
    log("CONNECT %s 200" % parts[1])
    cw.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))


async def main():
    srv = await asyncio.start_server(handle, ip, port)
    log("listening on %s:%d, CONNECT to ports %s" % (ip, port, sorted(allowed)))
    await srv.serve_forever()


asyncio.run(main())
