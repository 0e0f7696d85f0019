# Tiny test servers for test_proxy*.sh: HTTP answering its name, UDP echo
# prefixed with its name.  usage: servers.py http|udp IP PORT NAME
import socket, sys, http.server
kind, ip, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(name.encode() + b":" + d, a)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer((ip, port), H).serve_forever()
