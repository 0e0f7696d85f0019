#!/bin/bash
# Kubernetes API source at scale (printed, never asserted): N services and
# N*10 endpoints (in slices of 100) through tests/fakeapi over plain http.
# Prints full-sync time (controller log), controller RSS, and the latency
# from one service change at the fake API to the upsert delta in the log.
set -u
B=${B:-build}; N=${N:-10000}
T=$(mktemp -d /tmp/edgemesh-kbench.XXXXXX)
trap 'kill $CTL $FAKE 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
python3 tests/fakeapi/fakeapi.py --port-file "$T/port" >"$T/fake.log" 2>&1 & FAKE=$!
while [ ! -s "$T/port" ]; do sleep 0.1; done; P=$(cat "$T/port")
python3 - "$N" "$T/bulk.json" <<'PY'
import json, sys
n = int(sys.argv[1]); objs = []
for i in range(n):
    objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "b", "name": "s%d" % i},
        "spec": {"clusterIP": "10.%d.%d.%d" % (96 + i // 65000, (i // 250) % 256, i % 250 + 1),
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
for j in range(n * 10 // 100):
    objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "b", "name": "s%d-x" % j, "labels": {"kubernetes.io/service-name": "s%d" % j}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.%d.%d.%d" % (150 + j // 600, (j * 100 + k) // 250 % 256, (j * 100 + k) % 250 + 1)],
                       "nodeName": "edge-1", "conditions": {"ready": True}} for k in range(100)]})
json.dump({"objects": objs}, open(sys.argv[2], "w"))
PY
curl -sf -X POST "http://127.0.0.1:$P/_fake/put" --data-binary @"$T/bulk.json" >/dev/null
# the fake alone: every page of the controller's full list, fetched in
# python (time in the HTTP exchange only, the client's JSON parse excluded)
FAKE_ALONE=$(python3 - "$P" <<'PY'
import json, sys, time, urllib.parse, urllib.request
port = sys.argv[1]; net = 0.0; pages = 0; size = 0
for path in ("/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"):
    cont = ""
    while True:
        url = "http://127.0.0.1:%s%s?limit=500" % (port, path)
        if cont:
            url += "&continue=" + urllib.parse.quote(cont, safe="")
        t = time.time(); body = urllib.request.urlopen(url).read(); net += time.time() - t
        pages += 1; size += len(body)
        cont = json.loads(body)["metadata"].get("continue", "")
        if not cont:
            break
print("%.3fs for %d pages, %.1f MB" % (net, pages, size / 1e6))
PY
)
mkdir -p "$T/run" "$T/state"
printf 'kubeAPIConfig:\n  master: http://127.0.0.1:%s\ncommonConfig:\n  nodeName: edge-1\n  runtimeDir: %s/run\n  stateDir: %s/state\n' "$P" "$T" "$T" > "$T/cfg.yaml"
: > "$T/ctl.log"
# as README starts it: as root, switching to its own user
[ "$(id -u)" -eq 0 ] && scripts/add-users.sh && chmod 755 "$T"
"$B/edgemesh-controller" -c "$T/cfg.yaml" -d >"$T/ctl.log" 2>&1 & CTL=$!
for _ in $(seq 600); do grep -q 'kube: synced' "$T/ctl.log" && break; sleep 0.1; done
echo "kube bench: $N services, $((N * 10)) endpoints in $((N / 10)) slices"
grep -o 'synced in [0-9.]*s.*' "$T/ctl.log" | sed 's/"$//;s/^/  /'
echo "  the fake alone serving the same list: $FAKE_ALONE"
. bench/lib.sh	# a row in the summary table
BENCH_NAME=kube
bench_row "full sync from the API, $N services" "$(grep -o 'synced in [0-9.]*s' "$T/ctl.log" | head -n1 | cut -d' ' -f3)" "fake alone $FAKE_ALONE" "-"
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2fs", ($14 + $15) / hz}' "/proc/$1/stat"; }
echo "  CPU so far: controller $(cpu $CTL), fake API $(cpu $FAKE) (incl. the bulk load and the python fetch)"
sleep 1
echo "  controller RSS after sync: $(awk '/VmRSS/ {print $2, $3}' /proc/$CTL/status) (peak $(awk '/VmHWM/ {print $2, $3}' /proc/$CTL/status))"
# the first cache write that holds everything (at most every 10 s)
for _ in $(seq 250); do
	[ "$(grep -Eo 'kube: cache /.*: [0-9]+ objects' "$T/ctl.log" | grep -Eo '[0-9]+ objects' | sort -n | tail -1 | cut -d' ' -f1)" -ge $((N + N / 10)) ] 2>/dev/null && break
	sleep 0.1
done
echo "  controller RSS after the disk cache write: $(awk '/VmRSS/ {print $2, $3}' /proc/$CTL/status) (peak $(awk '/VmHWM/ {print $2, $3}' /proc/$CTL/status)); cache $(stat -c %s "$T/state/registry-cache.json" 2>/dev/null) bytes"
for i in 1 2 3 4 5; do
	t0=$(date +%s.%N)
	curl -sf -X POST "http://127.0.0.1:$P/_fake/put" -d "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"namespace\":\"b\",\"name\":\"s1\"},\"spec\":{\"clusterIP\":\"10.96.0.2\",\"ports\":[{\"name\":\"http\",\"port\":$((1000 + i)),\"protocol\":\"TCP\"}]}}}" >/dev/null
	while [ "$(grep -c 'upsert services b/s1 ' "$T/ctl.log")" -lt $((i + 1)) ]; do sleep 0.001; done
	t1=$(date +%s.%N)
	echo "  change $i: API write -> delta in log: $(echo "($t1 - $t0) * 1000" | bc -l | cut -c1-6) ms (includes the fake's python and polling)"
done
