#!/bin/bash
# dnsd end to end: real dig queries against edgemesh-dnsd on 169.254.96.16:53
# in a node namespace, fed by the real controller from a file registry.
# Cluster records (A, AAAA, SRV, PTR, CNAME, TXT, headless, negative
# answers with SOA), search paths, forwarding to a dnsmasq started here
# (UDP -> TCP on truncation, cache, negative cache), registry changes,
# malformed packets, TCP, EDNS and TC, bounded TCP clients, privileges,
# socket activation, cacheDNS mode with auto-detection.
. tests/e2e/lib.sh
. tests/e2e/clients_lib.sh
e2e_init dns
for t in dig dnsmasq python3 getent; do
	command -v $t >/dev/null || { echo "SKIP dns: $t missing"; exit 77; }
done

e2e_topology 1
e2e_registry tests/fixtures/registry
cp tests/fixtures/dns/*.yaml "$E2E_DIR/registry/"
D1=$E2E_DIR/n1
in_ns n1 ip addr add 169.254.96.16/32 dev lo	# proxyd would put it on edgemesh0
UP=127.0.0.2

# the upstream: dnsmasq on 127.0.0.2:5353 with a wildcard domain, a local
# (negative) domain and a name with 60 A records (more than 512 octets)
HR=""
for i in $(seq 1 60); do HR="$HR --host-record=big.many.test,192.0.2.$i"; done
in_ns n1 dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
	--listen-address=$UP --port=5353 --address=/example.test/192.0.2.7 \
	--server=/neg.test/127.0.0.5#5354 --server=/slow.test/127.0.0.6#5355 \
	--dns-forward-max=4096 --local-ttl=60 --log-queries \
	--log-facility="$D1/dnsmasq.log" $HR >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
# behind it, slow.test: a server that never answers
in_ns n1 python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.6", 5355))
while True: s.recv(512)' &
E2E_PIDS="$E2E_PIDS $!"
# behind it, neg.test: NXDOMAIN with an SOA (negative caching needs one)
in_ns n1 python3 - <<'PY' &
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.5", 5354))
while True:
    q, a = s.recvfrom(512)
    end = 12
    while q[end]: end += q[end] + 1
    end += 5
    hdr = q[:2] + struct.pack(">HHHHH", 0x8183, 1, 0, 1, 0)
    own = b"\x03neg\x04test\x00"
    rdata = b"\x02ns" + own + b"\x01h" + own + struct.pack(">5I", 1, 60, 60, 60, 30)
    rr = own + struct.pack(">HHIH", 6, 1, 60, len(rdata)) + rdata
    s.sendto(hdr + q[12:end] + rr, a)
PY
E2E_PIDS="$E2E_PIDS $!"

e2e_config 1 >/dev/null <<Y
  edgeDNS:
    enable: true
    ttl: 7
    upstreamServers: ["$UP:5353"]
Y
e2e_daemon 1 controller
e2e_daemon 1 dnsd

S=169.254.96.16
dq() { in_ns n1 dig @${AT:-$S} +time=2 +tries=1 "$@"; }
short() { dq +short "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
is() {	# description expected dig-args...
	local what=$1 want=$2 got; shift 2
	got=$(short "$@")
	if [ "$got" = "$want" ]; then ok "$what" true
	else fail "$what: want '$want', got '$got'"; fi
}
has() {	# description regex dig-args...
	local what=$1 re=$2 out; shift 2
	out=$(dq "$@" 2>&1)
	if grep -qE -- "$re" <<<"$out"; then ok "$what" true
	else fail "$what: no /$re/ in:"; sed 's/^/    /' <<<"$out" | head -30; fi
}
C=cluster.local
wait_for 15 sh -c "ip netns exec $(ns n1) dig @$S +time=1 +tries=1 +short hostname-svc.default.svc.$C | grep -q 10.96.0.10" ||
	fail "dnsd answers within 15 s"

# 1. cluster records
is "A for a ClusterIP service" 10.96.0.10 hostname-svc.default.svc.$C
is "names are case-insensitive" 10.96.0.10 HostName-SVC.Default.SVC.Cluster.Local
has "the case of the question is kept" "HostName-SVC.Default.SVC.Cluster.Local" HostName-SVC.Default.SVC.Cluster.Local
has "TTL is modules.edgeDNS.ttl (7)" "^hostname-svc.default.svc.$C.[[:space:]]+7[[:space:]]+IN[[:space:]]+A" +noall +answer hostname-svc.default.svc.$C
has "authoritative (aa)" "flags:.* aa" hostname-svc.default.svc.$C

# a dnsd restart drops no query: its sockets wait in the controller, and a
# query sent while no dnsd runs is answered by the next one
e2e_kill 1 dnsd
in_ns n1 dig @$S +time=10 +tries=1 +short hostname-svc.default.svc.$C > "$E2E_DIR/down.out" 2>&1 &
QPID=$!
sleep 1
e2e_daemon 1 dnsd
wait $QPID
ok "a query sent while dnsd was down is answered after the restart ($(cat "$E2E_DIR/down.out"))" \
	grep -qx 10.96.0.10 "$E2E_DIR/down.out"
ok "... by the same sockets, taken back from the controller" \
	grep -q "back from the controller" "$D1/dnsd.log"
is "A of a dual-stack service" 10.96.5.5 dual.data.svc.$C
is "AAAA of a dual-stack service" fd00:96::5 AAAA dual.data.svc.$C
has "AAAA of an IPv4 service: NODATA with SOA" "status: NOERROR.*|ANSWER: 0, AUTHORITY: 1" AAAA hostname-svc.default.svc.$C
has "NODATA carries the SOA" "^$C\..*IN[[:space:]]+SOA" AAAA hostname-svc.default.svc.$C
is "SRV for a named port" "0 100 80 dual.data.svc.$C." SRV _http._tcp.dual.data.svc.$C
has "no SRV for an unnamed port" "status: NXDOMAIN" SRV _9000._udp.unnamed.data.svc.$C
is "PTR for a ClusterIP" "hostname-svc.default.svc.$C." -x 10.96.0.10
is "PTR for an IPv6 ClusterIP" "dual.data.svc.$C." -x fd00:96::5
is "headless: ready endpoint addresses only" "10.201.1.10 10.201.1.11" db.data.svc.$C
is "headless: hostname record" 10.201.1.10 db-0.db.data.svc.$C
is "headless: unready hostname is not served" "" db-2.db.data.svc.$C
is "headless: SRV per endpoint" "0 50 3306 db-0.db.data.svc.$C. 0 50 3306 db-1.db.data.svc.$C." SRV _mysql._tcp.db.data.svc.$C
is "headless: PTR to the hostname" "db-1.db.data.svc.$C." -x 10.201.1.11
has "ExternalName: CNAME" "ext.default.svc.$C.[[:space:]]+7[[:space:]]+IN[[:space:]]+CNAME[[:space:]]+www.example.test." ext.default.svc.$C
has "ExternalName: the target's A appended" "^www.example.test.[[:space:]].*IN[[:space:]]+A[[:space:]]+192.0.2.7" ext.default.svc.$C
is "TXT dns-version" '"1.0.1"' TXT dns-version.$C
is "pod A record" 10.201.1.10 10-201-1-10.default.pod.$C
has "unknown service: NXDOMAIN" "status: NXDOMAIN" nosuch.default.svc.$C
has "NXDOMAIN carries the SOA" "^$C\..*IN[[:space:]]+SOA" nosuch.default.svc.$C
has "a service asked in another namespace: NXDOMAIN" "status: NXDOMAIN" hostname-svc.data.svc.$C
has "namespace as an empty non-terminal: NODATA" "status: NOERROR.*|ANSWER: 0," data.svc.$C
has "SOA of the zone" "IN[[:space:]]+SOA" SOA $C
has "NS of the zone" "IN[[:space:]]+NS" NS $C
has "zone transfer refused" "status: REFUSED|Transfer failed" +tcp AXFR $C

# 2. short names through a search path (the namespace's own resolv.conf)
e2e_resolver n1 "$(printf 'nameserver %s\nsearch data.svc.%s svc.%s %s\noptions ndots:5 timeout:2 attempts:1' \
	$S $C $C $C)"
ok "getent: short name via search (db)" sh -c "ip netns exec $(ns n1) getent ahostsv4 db | grep -q 10.201.1.1[01]"
ok "getent: svc.ns name via search" sh -c "ip netns exec $(ns n1) getent hosts hostname-svc.default | grep -q 10.96.0.10"
is "dig +search short name" 10.96.5.5 +search +ndots=5 dual
rm -rf "/etc/netns/$(ns n1)"

# 3. forwarding, cache, truncation
is "forwarded A from dnsmasq" 192.0.2.7 www.example.test
has "forwarded answer has ra" "flags: qr.* ra;" www.example.test
has "forwarded NXDOMAIN" "status: NXDOMAIN" nothing.neg.test
N=$(dq +noedns +tcp +short big.many.test | wc -l)
ok "UDP upstream truncated -> TCP retry: all 60 A records over TCP ($N)" test "$N" -eq 60
has "client without EDNS gets TC on a big forwarded answer" "flags: qr[^;]* tc" +noedns +ignore big.many.test
cnt() { grep -c "query\[$1\] $2 from" "$D1/dnsmasq.log"; }
short cached.example.test >/dev/null; short cached.example.test >/dev/null; short CACHED.example.test >/dev/null
ok "cache: 3 queries, 1 upstream query ($(cnt A cached.example.test))" test "$(cnt A cached.example.test)" -eq 1
dq nx.neg.test >/dev/null; dq nx.neg.test >/dev/null
ok "negative cache: 2 queries, 1 upstream query ($(cnt A nx.neg.test))" test "$(cnt A nx.neg.test)" -eq 1
has "cached TTL counts down from the upstream's" "^cached.example.test.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A" +noall +answer cached.example.test

# 4. TCP, EDNS, truncation of zone answers
is "TCP query" 10.96.0.10 +tcp hostname-svc.default.svc.$C
has "EDNS: OPT echoed" "EDNS: version: 0" +bufsize=1232 hostname-svc.default.svc.$C
has "EDNS version 1: BADVERS" "status: BADVERS" +edns=1 +noednsnegotiation hostname-svc.default.svc.$C
has "40 headless records over 512-octet UDP: TC" "flags: qr aa[^;]* tc|flags: qr[^;]* tc" +noedns +ignore big.data.svc.$C
N=$(short +bufsize=4096 big.data.svc.$C | wc -w)
ok "EDNS 4096: all 40 records over UDP ($N)" test "$N" -eq 40
N=$(short +tcp big.data.svc.$C | wc -w)
ok "TCP: all 40 records ($N)" test "$N" -eq 40
N=$(short +noedns big.data.svc.$C | wc -w)
ok "dig falls back to TCP after TC ($N)" test "$N" -eq 40

# 5. malformed input: FORMERR or nothing, and the daemon lives on
R=$(in_ns n1 python3 - $S <<'PY'
import socket, struct, sys, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
out = []
def ask(b):
    s.sendto(b, (sys.argv[1], 53))
    try:
        r = s.recv(4096)
        return "rcode%d" % (r[3] & 15)
    except socket.timeout:
        return "none"
out.append(ask(b"\x01\x02\x03"))                                   # runt: nothing
out.append(ask(struct.pack(">6H", 7, 0x0100, 1, 0, 0, 0)))          # question missing
out.append(ask(struct.pack(">6H", 8, 0x0100, 1, 0, 0, 0) + b"\x3fabc"))  # label past the end
out.append(ask(struct.pack(">6H", 9, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"))  # pointer loop
out.append(ask(struct.pack(">6H", 10, 0x0100, 2, 0, 0, 0) + b"\x00\x00\x01\x00\x01" * 2))  # 2 questions
for i in range(200):
    s.sendto(os.urandom(1 + i % 60), (sys.argv[1], 53))
t = socket.create_connection((sys.argv[1], 53), 2)
t.sendall(b"\xff\xff" + os.urandom(100))                            # oversized TCP query
t.settimeout(2)
try:
    out.append("tcpclosed" if t.recv(10) == b"" else "tcpdata")
except Exception as e:
    out.append("tcp:" + type(e).__name__)
print(" ".join(out))
PY
)
ok "malformed: runt dropped, FORMERR for broken questions, oversized TCP closed ($R)" \
	test "$R" = "none rcode1 rcode1 rcode1 rcode1 tcpclosed"
is "still answering after garbage" 10.96.0.10 hostname-svc.default.svc.$C

# 6. bounded TCP clients: 140 idle connections, a new client still gets in
R=$(in_ns n1 python3 - $S <<'PY'
import socket, struct, sys
conns = [socket.create_connection((sys.argv[1], 53), 2) for _ in range(140)]
q = struct.pack(">6H", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x0chostname-svc\x07default\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"
t = socket.create_connection((sys.argv[1], 53), 2); t.settimeout(3)
t.sendall(struct.pack(">H", len(q)) + q)
r = t.recv(4096)
print("answered" if len(r) > 14 and r[2:4] == b"\x42\x42" else "no")
PY
)
ok "141st TCP client is served (oldest idle connection closed)" test "$R" = answered
has "pipelined TCP queries" "10.96.5.5" +tcp +keepopen hostname-svc.default.svc.$C dual.data.svc.$C

# 6b. clients: this node and its pods only (commonConfig.clientSourceRanges
# unset); others dropped, over UDP (a forged source must get no answer) and
# TCP (closed at accept); 16 TCP connections per source
pq() { in_ns p1 dig @$S +time=2 +tries=1 +short "$@"; }
ok "a pod on edge-1 is answered over UDP" test "$(pq hostname-svc.default.svc.$C)" = 10.96.0.10
ok "... and over TCP" test "$(pq +tcp hostname-svc.default.svc.$C)" = 10.96.0.10
lan_host lanh 10.200.0.50 10.200.0.11
ok "the LAN host reaches edge-1's 169.254.96.16 at all (TCP connect)" \
	in_ns lanh timeout 5 python3 -c 'import socket; socket.create_connection(("169.254.96.16", 53), timeout=3)'
R=$(in_ns lanh dig @$S +time=2 +tries=1 hostname-svc.default.svc.$C 2>&1)
ok "a LAN host routing 169.254.96.16 through edge-1 gets no answer over UDP" \
	grep -q "no servers could be reached" <<<"$R"
R=$(in_ns lanh dig @$S +tcp +time=2 +tries=1 +short hostname-svc.default.svc.$C 2>&1)
ok "... nor over TCP ($(head -1 <<<"$R"))" test -n "$R" -a -z "$(grep 10.96.0.10 <<<"$R")"
ok "... logged with the reason" grep -q \
	"from 10.200.0.50 refused: not in commonConfig.clientSourceRanges" "$D1/dnsd.log"
R=$(in_ns p1 timeout 20 python3 - $S <<'PY'
import select, socket, sys, time
held = []
for _ in range(40):
    s = socket.socket(); s.bind(("10.201.1.10", 0)); s.settimeout(2)
    s.connect((sys.argv[1], 53)); held.append(s)
time.sleep(1)
def alive(s):
    try:
        return not (select.select([s], [], [], 0)[0] and s.recv(16) == b"")
    except OSError:
        return False
st = [alive(s) for s in held]
print("alive %d first %d last %d" % (sum(st), int(st[0]), int(st[-1])))
PY
)
ok "one source holding 40 idle TCP connections keeps its newest 16 ($R)" \
	test "$R" = "alive 16 first 0 last 1"
# one pod floods 600 names the upstream never answers (more than the 512
# queries dnsd keeps waiting upstream): past its 64 it gets SERVFAIL at
# once, and another pod's forwarded query is still answered
R=$(in_ns p1 timeout 20 python3 - $S <<'PY'
import random, socket, struct, sys, time
def q(name, qid):
    m = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        m += bytes([len(l)]) + l.encode()
    return m + b"\0" + struct.pack(">HH", 1, 1)
tag = random.randrange(1 << 30)
f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); f.bind(("10.201.1.10", 0))
servfail = 0
def drain(t):
    # the SERVFAILs come at once: read them before the socket's buffer fills
    global servfail
    f.settimeout(t)
    try:
        while True:
            servfail += f.recv(512)[3] & 0xF == 2
    except (socket.timeout, BlockingIOError):
        pass
for i in range(600):
    f.sendto(q("n%d-%d.slow.test" % (tag, i), i), (sys.argv[1], 53))
    if i % 20 == 19:
        drain(0.003)  # paced: none lost in dnsd's socket buffer either
# the 64 waiting ones end only after dnsd's 2 s upstream timeout
drain(0.3)
o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); o.bind(("10.201.1.11", 0))
o.settimeout(1.5)
o.sendto(q("fair%d.example.test" % tag, 7), (sys.argv[1], 53))
try:
    r = o.recv(512)
    other = "answered" if r[3] & 0xF == 0 and r[6:8] != b"\0\0" else "rcode %d" % (r[3] & 0xF)
except socket.timeout:
    other = "no answer"
print("other %s, flood servfail %d" % (other, servfail))
PY
)
ok "a pod flooding 600 unanswered names: another pod's query is answered ($R)" \
	grep -q "^other answered" <<<"$R"
ok "... the flood got SERVFAIL past its 64 waiting queries" \
	test "$(sed -n 's/.*flood servfail \([0-9]*\).*/\1/p' <<<"$R")" -ge 500
ok "... logged" grep -q "DNS query from 10.201.1.10:[0-9]*: SERVFAIL, 64 of its queries already wait" "$D1/dnsd.log"

# 7. registry changes show in the next answer
cat > "$E2E_DIR/registry/zz-new.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: newsvc, namespace: data}
spec:
  clusterIP: 10.96.7.7
  ports: [{name: http, port: 80, protocol: TCP}]
Y
ok "added service answers within 10 s" wait_for 10 sh -c "ip netns exec $(ns n1) dig @$S +short newsvc.data.svc.$C | grep -qx 10.96.7.7"
sed -i 's/10.96.7.7/10.96.7.8/' "$E2E_DIR/registry/zz-new.yaml"
ok "changed ClusterIP answers within 10 s" wait_for 10 sh -c "ip netns exec $(ns n1) dig @$S +short newsvc.data.svc.$C | grep -qx 10.96.7.8"
rm -f "$E2E_DIR/registry/zz-new.yaml"
ok "deleted service is NXDOMAIN within 10 s" wait_for 10 sh -c "ip netns exec $(ns n1) dig @$S newsvc.data.svc.$C | grep -q NXDOMAIN"

# 8. privileges: no capabilities left
P=$(cat "$D1/dnsd.pid")
ok "dnsd runs with no effective/permitted capabilities" \
	sh -c "grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$P/status && grep -q '^CapPrm:[[:space:]]*0000000000000000' /proc/$P/status"

# 9. socket activation (sd_listen_fds: fds 3 and 4, LISTEN_PID = our pid)
in_ns n1 python3 - "$B/edgemesh-dnsd" "$D1/edgemesh.yaml" >>"$D1/dnsd-sa.log" 2>&1 <<'PY' &
import os, socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.3", 53))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.3", 53)); t.listen(16)
a, b = os.dup(u.fileno()), os.dup(t.fileno())
u.close(); t.close()
os.dup2(a, 3); os.dup2(b, 4)
os.set_inheritable(3, True); os.set_inheritable(4, True)
os.environ["LISTEN_FDS"] = "2"; os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], [sys.argv[1], "-c", sys.argv[2], "-d", "-u", "root"])
PY
E2E_PIDS="$E2E_PIDS $!"
ok "socket-activated dnsd answers over UDP" wait_for 10 sh -c "ip netns exec $(ns n1) dig @127.0.0.3 +time=1 +tries=1 +short hostname-svc.default.svc.$C | grep -q 10.96.0.10"
ok "socket-activated dnsd answers over TCP" sh -c "ip netns exec $(ns n1) dig @127.0.0.3 +tcp +time=1 +tries=1 +short hostname-svc.default.svc.$C | grep -q 10.96.0.10"
ok "socket activation logged" grep -q "socket activation: 1 UDP and 1 TCP" "$D1/dnsd-sa.log"

# 10. resolv.conf upstreams, our own address skipped (loop)
printf 'nameserver 127.0.0.4\nnameserver %s\n' $UP > "$D1/resolv.conf"
cat > "$D1/plain.yaml" <<Y
commonConfig: {nodeName: edge-1, runtimeDir: $D1/run, stateDir: $D1/state}
registry: {path: $E2E_DIR/registry}
modules:
  edgeDNS: {enable: true}
Y
in_ns n1 "$B/edgemesh-dnsd" -c "$D1/plain.yaml" -d --listen 127.0.0.4:53 \
	--resolv-conf "$D1/resolv.conf" >>"$D1/dnsd-rc.log" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
ok "resolv.conf: own address skipped" wait_for 5 grep -q "zone mode; upstreams 127.0.0.2:53\"" "$D1/dnsd-rc.log"
ok "resolv.conf: cluster names answered on --listen" wait_for 10 sh -c "ip netns exec $(ns n1) dig @127.0.0.4 +time=1 +tries=1 +short hostname-svc.default.svc.$C | grep -q 10.96.0.10"
# resolv.conf has 127.0.0.2 on port 53, where nothing listens: SERVFAIL, fast
AT=127.0.0.4 has "resolv.conf: upstream down gives SERVFAIL" "status: SERVFAIL" www.example.test

# 11. cacheDNS mode: no zone, everything to the cluster DNS service
#     (kube-system/kube-dns auto-detected), over TCP
e2e_kill 1 dnsd
in_ns n1 ip addr add 10.96.0.100/32 dev lo
in_ns n1 dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
	--listen-address=10.96.0.100 --port=53 \
	--address=/hostname-svc.default.svc.$C/10.96.0.99 --local-ttl=60 --log-queries \
	--log-facility="$D1/kubedns.log" >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
cat > "$E2E_DIR/registry/zz-kube-dns.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.100
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
Y
e2e_config 1 >/dev/null <<Y
  edgeDNS:
    enable: true
    cacheDNS:
      enable: true
      autoDetect: true
      cacheTTL: 20
Y
e2e_daemon 1 dnsd
ok "cacheDNS: cluster name answered by the cluster DNS (10.96.0.99)" wait_for 10 sh -c "ip netns exec $(ns n1) dig @$S +time=1 +tries=1 +short hostname-svc.default.svc.$C | grep -qx 10.96.0.99"
ok "cacheDNS: upstream auto-detected from kube-system/kube-dns" grep -q "cacheDNS: upstreams 10.96.0.100:53" "$D1/dnsd.log"
short hostname-svc.default.svc.$C >/dev/null
ok "cacheDNS: answers cached ($(grep -c 'query\[A\] hostname-svc' "$D1/kubedns.log") upstream queries)" \
	test "$(grep -c 'query\[A\] hostname-svc' "$D1/kubedns.log")" -eq 1
has "cacheDNS: TTL capped by cacheTTL (20)" "^hostname-svc.default.svc.$C.[[:space:]]+(1[0-9]|20|[0-9])[[:space:]]" +noall +answer hostname-svc.default.svc.$C

# 12. commonConfig.clientSourceRanges set: exactly those sources are clients
# (a LAN the admin lists is answered; the pods, no longer listed, are not)
e2e_kill 1 dnsd
sed -i '/^commonConfig:/a\  clientSourceRanges: [10.200.0.0/24]' "$D1/edgemesh.yaml"
e2e_daemon 1 dnsd
R=$(in_ns lanh dig @$S +time=2 +tries=3 +short hostname-svc.default.svc.$C 2>&1)
ok "clientSourceRanges [10.200.0.0/24]: the LAN host is answered ($R)" test "$R" = 10.96.0.99
R=$(pq hostname-svc.default.svc.$C 2>&1)
ok "... and a pod on edge-1 is not (${R:0:40})" grep -q "no servers could be reached" <<<"$R"

# dnsd up before its controller (a slow controller): after 3 s it answers
# with what it has, and from the cluster once the controller comes
e2e_kill 1 dnsd
e2e_kill 1 controller
e2e_daemon 1 dnsd
ok "dnsd without its controller serves after 3 s" \
	wait_for 10 grep -q "serving queries (the controller has not answered yet)" "$D1/dnsd.log"
e2e_daemon 1 controller
lan_answered() { [ "$(in_ns lanh dig @$S +time=1 +tries=1 +short hostname-svc.default.svc.$C 2>&1)" = 10.96.0.99 ]; }
ok "... and, the controller back, the LAN host is answered" wait_for 20 lan_answered
e2e_done
