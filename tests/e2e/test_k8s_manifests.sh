#!/bin/bash
# k8s/ rendered and schema-checked with real tools, then the invariants the
# design fixes, then the ConfigMap generator step against a stand-in API:
#
#   kubectl kustomize k8s        the install as `kubectl apply -k k8s` sends it
#   kubernetes-models (npm)      each object against Kubernetes' OpenAPI schema
#   python3-kubernetes (Debian)  no field the API's models do not know
#   invariants                   no ConfigMap and no PSK in the install;
#                                RBAC; CRDs; one container per daemon with its
#                                uid and capabilities; probes running
#                                `edgemeshctl health <its daemon>`; tolerations,
#                                system-node-critical, RollingUpdate; PSK 0400
#   scripts/k8s-config.sh        creates the four ConfigMaps only when absent
#                                (a fresh random PSK, shared with the gateway),
#                                leaves EdgeMesh's / a user's ones untouched
# scripts/k8s-tools.sh installs the tools when missing.
set -u
command -v kubectl >/dev/null || { echo "SKIP test_k8s_manifests: kubectl missing"; exit 77; }
TOOLS=$(scripts/k8s-tools.sh) || { echo "SKIP test_k8s_manifests: scripts/k8s-tools.sh failed"; exit 77; }
PY=/usr/bin/python3
T=$(mktemp -d /tmp/edgemesh-k8s.XXXXXX)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok() {	# description cmd...
	local what=$1; shift
	if "$@"; then PASS=$((PASS + 1)); echo "ok - $what"; else FAIL=$((FAIL + 1)); echo "not ok - $what"; fi
}
K8S=${1:-k8s}

ok "kubectl kustomize renders $K8S (the agent)" sh -c "kubectl kustomize '$K8S' > '$T/agent.yaml'"
ok "... the agent alone: no gateway Deployment" sh -c "! grep -q '^kind: Deployment' '$T/agent.yaml'"
ok "kubectl kustomize renders $K8S/gateway (the agent and the gateway)" \
	sh -c "kubectl kustomize '$K8S/gateway' > '$T/render.yaml'"
# every document: the install, the ConfigMaps the generator creates, EdgeMesh's own
cat "$T/render.yaml" > "$T/all.yaml"
for f in tests/fixtures/edgemesh/*.yaml; do
	printf -- '---\n' >> "$T/all.yaml"
	cat "$f" >> "$T/all.yaml"
done
$PY -c 'import json, sys, yaml
json.dump([o for o in yaml.safe_load_all(open(sys.argv[1])) if o], open(sys.argv[2], "w"))' \
	"$T/all.yaml" "$T/all.json"

# ---- schema: kubernetes-models validates against the OpenAPI schemas ----
cat > "$T/validate.js" <<'JS'
const objs = require(process.argv[2]);
let bad = 0;
for (const o of objs) {
	const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
	const path = "kubernetes-models/" + (group ? group + "/" : "") + version + "/" + o.kind;
	const what = o.kind + "/" + o.metadata.name;
	try {
		const Model = require(path)[o.kind];
		new Model(o).validate();
		console.log("ok - schema: " + what);
	} catch (e) {
		bad++;
		console.log("not ok - schema: " + what + ": " + e.message);
	}
}
process.exit(bad ? 1 : 0);
JS
ok "every object valid against Kubernetes' OpenAPI schema (kubernetes-models)" \
	env NODE_PATH="$TOOLS/node_modules" node "$T/validate.js" "$T/all.json"

# ---- unknown fields: python3-kubernetes' models know every field ----
cat > "$T/fields.py" <<'PY'
import json, re, sys
import kubernetes.client as k
bad = 0
def walk(v, typ, where):
    global bad
    if v is None:
        return
    m = re.match(r"list\[(.*)\]$", typ)
    if m:
        for i, x in enumerate(v):
            walk(x, m.group(1), "%s[%d]" % (where, i))
        return
    m = re.match(r"dict\(str, (.*)\)$", typ)
    if m:
        for key, x in v.items():
            walk(x, m.group(1), "%s.%s" % (where, key))
        return
    cls = getattr(k, typ, None)
    if cls is None or not hasattr(cls, "attribute_map"):
        return  # str, int, object, IntOrString...
    fields = {js: py for py, js in cls.attribute_map.items()}
    if not isinstance(v, dict):
        print("not ok - %s: %s expected, got %r" % (where, typ, v)); bad += 1; return
    for key, x in v.items():
        if key not in fields:
            print("not ok - %s: unknown field %r in %s" % (where, key, typ)); bad += 1
        elif typ == "V1JSONSchemaProps":
            continue  # CRD schemas are free-form
        else:
            walk(x, cls.openapi_types[fields[key]], where + "." + key)
for o in json.load(open(sys.argv[1])):
    walk(o, "V1" + o["kind"], "%s/%s" % (o["kind"], o["metadata"]["name"]))
sys.exit(1 if bad else 0)
PY
ok "no field unknown to the Kubernetes API (python3-kubernetes models)" $PY "$T/fields.py" "$T/all.json"

# ---- the invariants ----
cat > "$T/inv.py" <<'PY'
import glob, sys, yaml
objs = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
k8s = sys.argv[2]
npass = nfail = 0
def ok(what, cond):
    global npass, nfail
    if cond: npass += 1; print("ok - " + what)
    else: nfail += 1; print("not ok - " + what)
def find(kind, name=None):
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]

ok("namespace kubeedge", len(find("Namespace", "kubeedge")) == 1)
ok("namespaced objects live in kubeedge",
   all(o["metadata"].get("namespace") == "kubeedge" for o in objs
       if o["kind"] in ("ServiceAccount", "DaemonSet", "Deployment")))
for sa in ("edgemesh-agent", "edgemesh-gateway"):
    ok("ServiceAccount " + sa, len(find("ServiceAccount", sa)) == 1)
# applied over an EdgeMesh install: no ConfigMap, no PSK value anywhere in k8s/
ok("the install carries no ConfigMap (it never overwrites edgemesh-agent-cfg/-psk)",
   find("ConfigMap") == [])
src = "".join(open(f).read() for f in glob.glob(k8s + "/**/*.yaml", recursive=True))
ok("no PSK value anywhere in k8s/ (no psk: data key, not EdgeMesh's example)",
   "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ=" not in src and
   not any(l.strip().startswith("psk:") for l in src.splitlines()))
# what `kubectl apply -R -f k8s` would send: every document of every file
docs = [o for f in glob.glob(k8s + "/**/*.yaml", recursive=True) for o in yaml.safe_load_all(open(f))]
ok("no file under k8s/ holds a ConfigMap (not even for `kubectl apply -R -f k8s`)",
   not any(isinstance(o, dict) and o.get("kind") == "ConfigMap" for o in docs))
def keys(v):
    return set(v) | set().union(*map(keys, v.values())) if isinstance(v, dict) else set()
for name in ("edgemesh-agent", "edgemesh-gateway"):
    f = "%s/config/%s.yaml" % (k8s, name)
    o = yaml.safe_load(open(f))
    ok("%s: a config body (commonConfig, modules), not an object, no psk key" % f,
       isinstance(o, dict) and {"commonConfig", "modules"} <= set(o) and "kind" not in o
       and "psk" not in keys(o))

# RBAC: read-only, only what is watched; the one write is "patch" on nodes
# (the controller publishes its node's tunnel key, controller/kube_nodekey.c)
watched = {("", "services"), ("", "endpoints"), ("", "nodes"),
           ("discovery.k8s.io", "endpointslices"), ("networking.istio.io", "destinationrules"),
           ("networking.istio.io", "gateways"), ("networking.istio.io", "virtualservices")}
for role, extra in (("edgemesh-agent", set()), ("edgemesh-gateway", {("", "secrets")})):
    r = find("ClusterRole", role)
    got = set()
    verbs_ok = True
    patch = []
    for rule in (r[0]["rules"] if r else []):
        if rule["verbs"] == ["patch"]:
            patch.append((rule["apiGroups"], rule["resources"]))
            continue
        verbs_ok &= sorted(rule["verbs"]) == ["get", "list", "watch"]
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                got.add((g, res))
    ok("ClusterRole %s: exactly the watched resources" % role, got == watched | extra)
    ok("ClusterRole %s: get/list/watch only, and patch on nodes alone" % role,
       bool(r) and verbs_ok and patch == [([""], ["nodes"])])
    b = find("ClusterRoleBinding", role)
    ok("ClusterRoleBinding %s binds its ServiceAccount" % role, bool(b) and
       b[0]["roleRef"]["name"] == role and
       b[0]["subjects"] == [{"kind": "ServiceAccount", "name": role, "namespace": "kubeedge"}])

for kind, plural, short in (("DestinationRule", "destinationrules", "dr"),
                            ("Gateway", "gateways", "gw"), ("VirtualService", "virtualservices", "vs")):
    c = find("CustomResourceDefinition", plural + ".networking.istio.io")
    ok("CRD %s exists" % kind, len(c) == 1)
    if not c: continue
    s = c[0]["spec"]
    vers = {v["name"]: v for v in s["versions"]}
    ok("CRD %s: group, kind, short name %s, v1alpha3 stored, v1beta1 served" % (kind, short),
       s["group"] == "networking.istio.io" and s["names"]["kind"] == kind and
       s["names"]["plural"] == plural and short in s["names"]["shortNames"] and
       s["scope"] == "Namespaced" and set(vers) == {"v1alpha3", "v1beta1"} and
       vers["v1alpha3"]["storage"] and vers["v1beta1"]["served"] and not vers["v1beta1"]["storage"])

TAINTS = {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master",
          "node-role.kubernetes.io/edge"}
def check_pod(label, top, want, caps, conf):
    pod = top["spec"]["template"]
    spec = pod["spec"]
    cs = {c["name"]: c for c in spec["containers"]}
    ok("%s: one container per daemon %s" % (label, sorted(want)), sorted(cs) == sorted(want))
    ok("%s: hostNetwork, priorityClassName system-node-critical" % label,
       spec.get("hostNetwork") is True and spec.get("priorityClassName") == "system-node-critical")
    tol = {t.get("key") for t in spec.get("tolerations", [])
           if t.get("operator") == "Exists" and t.get("effect") in ("NoSchedule", None)}
    ok("%s: tolerates the control-plane, master and edge NoSchedule taints" % label, TAINTS <= tol)
    ok("%s: no pod fsGroup (kubelet would make the 0400 PSK 0440, which tunneld refuses)" % label,
       "fsGroup" not in spec.get("securityContext", {}))
    uids = []
    for n, c in cs.items():
        sc = c.get("securityContext", {})
        add = sorted(sc.get("capabilities", {}).get("add", []))
        cmd = c.get("command", [])
        common = (sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
                  and sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("privileged"))
        if n in caps:
            # starts as root with only its capabilities + SETUID/SETGID, then -u <uid>
            uid = int(cmd[cmd.index("-u") + 1]) if "-u" in cmd else 0
            uids.append(uid)
            ok("%s/%s: root with only %s + SETUID/SETGID, then -u %d; no escalation, read-only root"
               % (label, n, caps[n], uid),
               common and sc.get("runAsUser") == 0 and uid >= 10000 and
               add == sorted(caps[n] + ["SETUID", "SETGID"]))
        else:
            uids.append(sc.get("runAsUser"))
            ok("%s/%s: runAsNonRoot uid, no capability, no escalation, read-only root" % (label, n),
               common and sc.get("runAsNonRoot") is True and add == [] and "-u" not in cmd and
               isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] >= 10000)
        ok("%s/%s: runs edgemesh-%s -c %s" % (label, n, n, conf), cmd[:3] == ["edgemesh-" + n, "-c", conf])
        want_probe = ["edgemeshctl", "-c", conf, "health", n]
        want_live = ["edgemeshctl", "-c", conf, "health", "--live", n]
        ok("%s/%s: readiness runs %s; startup and liveness add --live" % (label, n, " ".join(want_probe)),
           c.get("readinessProbe", {}).get("exec", {}).get("command") == want_probe and
           all(c.get(p, {}).get("exec", {}).get("command") == want_live
               for p in ("startupProbe", "livenessProbe")))
        ok("%s/%s: liveness gives up later than readiness" % (label, n),
           c["livenessProbe"].get("periodSeconds", 10) * c["livenessProbe"].get("failureThreshold", 3) >
           c["readinessProbe"].get("periodSeconds", 10) * c["readinessProbe"].get("failureThreshold", 3))
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        ok("%s/%s: image edgemesh-c:0.1.0, runtime dir /run/edgemesh, config read-only" % (label, n),
           c["image"] == "edgemesh-c:0.1.0" and mounts.get("run", {}).get("mountPath") == "/run/edgemesh"
           and mounts.get("conf", {}).get("readOnly") is True)
        ok("%s/%s: PSK %s" % (label, n, "mounted read-only at /etc/edgemesh/psk" if n == "tunneld" else "not mounted"),
           ("psk" in mounts) == (n == "tunneld") and
           (n != "tunneld" or (mounts["psk"]["mountPath"] == "/etc/edgemesh/psk" and
                               mounts["psk"].get("subPath") == "psk" and mounts["psk"].get("readOnly") is True)))
    ok("%s: distinct uid per container" % label, len(set(uids)) == len(uids))
    vols = {v["name"]: v for v in spec["volumes"]}
    ok("%s: runtime dir is an emptyDir" % label, "emptyDir" in vols.get("run", {}))
    ok("%s: PSK volume is the PSK ConfigMap, mode 0400" % label,
       "configMap" in vols.get("psk", {}) and vols["psk"]["configMap"].get("defaultMode") == 0o400)

ds = find("DaemonSet", "edgemesh-agent")
ok("DaemonSet edgemesh-agent", len(ds) == 1)
if ds:
    check_pod("DaemonSet", ds[0], ["controller", "dnsd", "proxyd", "tunneld", "socksd"],
              {"proxyd": ["NET_ADMIN"], "dnsd": ["NET_BIND_SERVICE"],
               "tunneld": ["CHOWN", "DAC_READ_SEARCH"]},
              "/etc/edgemesh/config/edgemesh-agent.yaml")
    us = ds[0]["spec"].get("updateStrategy", {})
    ok("DaemonSet: explicit RollingUpdate, one node at a time",
       us.get("type") == "RollingUpdate" and us.get("rollingUpdate", {}).get("maxUnavailable") == 1)
    v = {x["name"]: x for x in ds[0]["spec"]["template"]["spec"]["volumes"]}
    ok("DaemonSet: config and PSK from EdgeMesh's ConfigMaps edgemesh-agent-cfg / edgemesh-agent-psk",
       v["conf"]["configMap"]["name"] == "edgemesh-agent-cfg" and v["psk"]["configMap"]["name"] == "edgemesh-agent-psk")
gw = find("Deployment", "edgemesh-gateway")
ok("gateway Deployment edgemesh-gateway", len(gw) == 1)
if gw:
    check_pod("gateway", gw[0], ["controller", "gatewayd", "tunneld"],
              {"gatewayd": ["NET_BIND_SERVICE"], "tunneld": ["CHOWN", "DAC_READ_SEARCH"]},
              "/etc/edgemesh/config/edgemesh-gateway.yaml")
    st = gw[0]["spec"].get("strategy", {})
    ok("gateway: explicit RollingUpdate, old pod gone before the new one (host ports)",
       st.get("type") == "RollingUpdate" and st.get("rollingUpdate", {}).get("maxSurge") == 0)
print("invariants: %d passed, %d failed" % (npass, nfail))
sys.exit(1 if nfail else 0)
PY
ok "invariants of the rendered install (k8s/gateway)" $PY "$T/inv.py" "$T/render.yaml" "$K8S"

# ---- the optional component for a wsPort below 1024: NET_BIND_SERVICE for
# the agent's tunneld, nothing else changed ----
mkdir -p "$T/lowport"
R=$(realpath --relative-to="$T/lowport" "$K8S")
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s/gateway\ncomponents:\n- %s/components/tunneld-low-wsport\n' \
	"$R" "$R" > "$T/lowport/kustomization.yaml"
ok "an overlay with components/tunneld-low-wsport renders" sh -c "kubectl kustomize '$T/lowport' > '$T/lowport.yaml'"
ok "... the agent's tunneld gets NET_BIND_SERVICE, every other container is as in the base" $PY -c '
import sys, yaml
def pods(f):
    out = {}
    for o in yaml.safe_load_all(open(f)):
        if o and o["kind"] in ("DaemonSet", "Deployment"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                out[(o["metadata"]["name"], c["name"])] = c
    return out
base, low = pods(sys.argv[1]), pods(sys.argv[2])
t = ("edgemesh-agent", "tunneld")
assert set(base) == set(low), (set(base), set(low))
add = low[t]["securityContext"]["capabilities"]["add"]
assert sorted(add) == sorted(base[t]["securityContext"]["capabilities"]["add"] + ["NET_BIND_SERVICE"]), add
assert low[t]["securityContext"]["capabilities"]["drop"] == ["ALL"]
for k in base:
    if k != t:
        assert base[k] == low[k], k
low[t]["securityContext"]["capabilities"]["add"] = base[t]["securityContext"]["capabilities"]["add"]
assert base[t] == low[t]' "$T/render.yaml" "$T/lowport.yaml"

# ---- scripts/k8s-config.sh against a stand-in API (a directory of objects) ----
# The stand-in answers the calls the script makes (get -o name / -o jsonpath,
# create -f, create namespace); offline ones (--dry-run=client, --local)
# go to the real kubectl.  It logs every call.
mkdir -p "$T/bin" "$T/api"
cat > "$T/bin/kubectl" <<SH
#!/bin/sh
echo "\$*" >> "$T/calls"
case " \$* " in
*" --dry-run=client "*|*" --local "*) exec $(command -v kubectl) "\$@" ;;
esac
exec $PY "$T/fakekube.py" "$T/api" "\$@"
SH
chmod +x "$T/bin/kubectl"
cat > "$T/fakekube.py" <<'PY'
import os, sys, yaml
api, args = sys.argv[1], sys.argv[2:]
ns = "default"
if args[:1] == ["-n"]:
    ns, args = args[1], args[2:]
def path(kind, name, n=ns):
    return os.path.join(api, "%s.%s.%s.yaml" % (kind.lower(), n if kind != "namespace" else "", name))
if args[0] == "get":
    p = path(args[1], args[2])
    if not os.path.exists(p):
        sys.stderr.write('Error from server (NotFound): %s "%s" not found\n' % (args[1], args[2])); sys.exit(1)
    o = yaml.safe_load(open(p))
    if "jsonpath={.data.psk}" in args or ("-o" in args and args[args.index("-o") + 1] == "jsonpath={.data.psk}"):
        sys.stdout.write(o["data"]["psk"])
    else:
        print("%s/%s" % (args[1], args[2]))
elif args[:2] == ["create", "namespace"]:
    open(path("namespace", args[2]), "w").write(yaml.safe_dump({"kind": "Namespace", "metadata": {"name": args[2]}}))
elif args[:2] == ["create", "-f"]:
    for o in yaml.safe_load_all(sys.stdin if args[2] == "-" else open(args[2])):
        p = path(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", ns))
        if os.path.exists(p):
            sys.stderr.write("Error from server (AlreadyExists)\n"); sys.exit(1)
        open(p, "w").write(yaml.safe_dump(o))
        print("%s/%s created" % (o["kind"].lower(), o["metadata"]["name"]))
else:
    sys.stderr.write("fake kubectl: unexpected %r\n" % args); sys.exit(2)
PY
cm() { $PY -c 'import sys, yaml; o = yaml.safe_load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	"$T/api/configmap.kubeedge.$1.yaml" "$2"; }

ok "generator on an empty cluster: runs" sh -c "KUBECTL='$T/bin/kubectl' scripts/k8s-config.sh > '$T/out1' 2>&1"
ok "generator: the four ConfigMaps created" test "$(ls "$T/api" | grep -c '^configmap\.kubeedge\.edgemesh-')" -eq 4
ok "generator: agent and gateway config from k8s/config, with labels" \
	test "$(cm edgemesh-agent-cfg 'o["data"]["edgemesh-agent.yaml"] == open("k8s/config/edgemesh-agent.yaml").read() and o["metadata"]["labels"]["kubeedge"] == "edgemesh-agent"')" = True
PSK=$(cm edgemesh-agent-psk 'o["data"]["psk"]')
ok "generator: a fresh PSK, 32 random bytes in base64, not EdgeMesh's example" \
	sh -c "[ \"\$(printf '%s' '$PSK' | base64 -d | wc -c)\" -eq 32 ] && [ '$PSK' != JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ= ]"
ok "generator: the gateway shares the agent's PSK; both labelled" \
	test "$(cm edgemesh-gateway-psk 'o["data"]["psk"] + " " + o["metadata"]["labels"]["kubeedge"]')" = "$PSK edgemesh-gateway"
ok "generator: never prints or passes the PSK on a command line" \
	sh -c "! grep -qF -- '$PSK' '$T/out1' '$T/calls'"
KUBECTL="$T/bin/kubectl" scripts/k8s-config.sh >/dev/null 2>&1
ok "generator run twice: the PSK stays" test "$(cm edgemesh-agent-psk 'o["data"]["psk"]')" = "$PSK"

# a cluster with EdgeMesh's own ConfigMaps (a user-regenerated PSK): untouched
rm -rf "$T/api" "$T/calls" && mkdir "$T/api"
USERPSK=$(openssl rand -base64 32)
sed "s|JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ=|$USERPSK|" tests/fixtures/edgemesh/agent-04-configmap.yaml |
	KUBECTL="$T/bin/kubectl" "$T/bin/kubectl" -n kubeedge create -f - >/dev/null
cp "$T/api/configmap.kubeedge.edgemesh-agent-cfg.yaml" "$T/before-cfg"
cp "$T/api/configmap.kubeedge.edgemesh-agent-psk.yaml" "$T/before-psk"
: > "$T/calls"
KUBECTL="$T/bin/kubectl" scripts/k8s-config.sh > "$T/out2" 2>&1
ok "over EdgeMesh's ConfigMaps: edgemesh-agent-cfg and edgemesh-agent-psk untouched, said so" \
	sh -c "cmp -s '$T/before-cfg' '$T/api/configmap.kubeedge.edgemesh-agent-cfg.yaml' &&
		cmp -s '$T/before-psk' '$T/api/configmap.kubeedge.edgemesh-agent-psk.yaml' &&
		grep -q 'configmap/edgemesh-agent-psk exists: kept' '$T/out2' &&
		! grep -q 'create configmap edgemesh-agent-cfg' '$T/calls'"
ok "over EdgeMesh's ConfigMaps: the missing gateway PSK gets the user's PSK" \
	test "$(cm edgemesh-gateway-psk 'o["data"]["psk"]')" = "$USERPSK"

echo "test_k8s_manifests: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
