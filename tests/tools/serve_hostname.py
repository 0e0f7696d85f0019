#!/usr/bin/env python3
"""A stand-in for k8s serve_hostname: answers every HTTP GET with its pod
name, every UDP datagram with its pod name, and (with --echo PORT) runs a
line-echo TCP server with go-echo's banner.  Test fixture only.

  serve_hostname.py --name POD [--bind IP] [--http 9376] [--udp 9376] [--echo 2701]
"""
import argparse
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--http", type=int, default=0)
    ap.add_argument("--udp", type=int, default=0)
    ap.add_argument("--echo", type=int, default=0)
    a = ap.parse_args()
    name = a.name.encode()
    threads = []

    if a.http:
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(name) + 1))
                self.end_headers()
                self.wfile.write(name + b"\n")

            def log_message(self, *args):
                pass

        class S(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def server_bind(self):
                # HTTPServer would ask DNS for our name (getfqdn), which
                # blocks while the resolver it points at is not up yet
                socketserver.TCPServer.server_bind(self)
                self.server_name = a.name
                self.server_port = self.server_address[1]

        srv = S((a.bind, a.http), H)
        threads.append(threading.Thread(target=srv.serve_forever, daemon=True))

    if a.udp:
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        us.bind((a.bind, a.udp))

        def udp_loop():
            while True:
                data, peer = us.recvfrom(65535)
                us.sendto(name + b"\n", peer)
        threads.append(threading.Thread(target=udp_loop, daemon=True))

    if a.echo:
        class E(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"Welcome, you are connected to node " + name + b".\n")
                for line in self.rfile:
                    self.wfile.write(line)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        es = socketserver.ThreadingTCPServer((a.bind, a.echo), E)
        es.daemon_threads = True
        threads.append(threading.Thread(target=es.serve_forever, daemon=True))

    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
