#!/bin/bash
# Parse every manifest in k8s/ and check the invariants the design fixes:
# RBAC limited to what the controller watches, EdgeMesh's CRDs and
# ConfigMap keys, one DaemonSet container per daemon with its own non-root
# user and only its own capability, the PSK only in tunneld.
# Needs python3-yaml (Debian package).
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP test_k8s_manifests: python3-yaml missing"; exit 77; }
exec python3 - "${1:-k8s}" <<'PY'
import glob, sys, yaml
d = sys.argv[1]
objs = []
for f in sorted(glob.glob(d + "/*.yaml")):
    for o in yaml.safe_load_all(open(f)):
        if o is not None:
            objs.append((f, o))
npass = nfail = 0
def ok(what, cond):
    global npass, nfail
    if cond: npass += 1; print("ok - " + what)
    else: nfail += 1; print("not ok - " + what)
def find(kind, name=None):
    return [o for f, o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]

ok("every manifest parses and has apiVersion, kind, metadata.name",
   len(objs) > 0 and all(o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name") for f, o in objs))
ok("namespace kubeedge", len(find("Namespace", "kubeedge")) == 1)
ok("namespaced objects live in kubeedge",
   all(o["metadata"].get("namespace") == "kubeedge" for f, o in objs
       if o["kind"] in ("ServiceAccount", "ConfigMap", "DaemonSet", "Deployment")))
for sa in ("edgemesh-agent", "edgemesh-gateway"):
    ok("ServiceAccount " + sa, len(find("ServiceAccount", sa)) == 1)

# RBAC: read-only, only what is watched
watched = {("", "services"), ("", "endpoints"), ("", "nodes"),
           ("discovery.k8s.io", "endpointslices"), ("networking.istio.io", "destinationrules"),
           ("networking.istio.io", "gateways"), ("networking.istio.io", "virtualservices")}
for role, extra in (("edgemesh-agent", set()), ("edgemesh-gateway", {("", "secrets")})):
    r = find("ClusterRole", role)
    got = set()
    verbs_ok = True
    for rule in (r[0]["rules"] if r else []):
        verbs_ok &= sorted(rule["verbs"]) == ["get", "list", "watch"]
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                got.add((g, res))
    ok("ClusterRole %s: exactly the watched resources" % role, got == watched | extra)
    ok("ClusterRole %s: get/list/watch only" % role, bool(r) and verbs_ok)
    b = find("ClusterRoleBinding", role)
    ok("ClusterRoleBinding %s binds its ServiceAccount" % role, bool(b) and
       b[0]["roleRef"]["name"] == role and
       b[0]["subjects"] == [{"kind": "ServiceAccount", "name": role, "namespace": "kubeedge"}])

# CRDs
for kind, plural, short in (("DestinationRule", "destinationrules", "dr"),
                            ("Gateway", "gateways", "gw"), ("VirtualService", "virtualservices", "vs")):
    c = find("CustomResourceDefinition", plural + ".networking.istio.io")
    ok("CRD %s exists" % kind, len(c) == 1)
    if not c: continue
    s = c[0]["spec"]
    vers = {v["name"]: v for v in s["versions"]}
    ok("CRD %s: group, kind, short name %s" % (kind, short),
       s["group"] == "networking.istio.io" and s["names"]["kind"] == kind and
       s["names"]["plural"] == plural and short in s["names"]["shortNames"] and s["scope"] == "Namespaced")
    ok("CRD %s: v1alpha3 storage, v1beta1 served" % kind,
       set(vers) == {"v1alpha3", "v1beta1"} and vers["v1alpha3"]["storage"] and vers["v1alpha3"]["served"]
       and vers["v1beta1"]["served"] and not vers["v1beta1"]["storage"])
    ok("CRD %s: schemas preserve unknown fields" % kind,
       all(v["schema"]["openAPIV3Schema"].get("x-kubernetes-preserve-unknown-fields") for v in vers.values()))

# ConfigMaps: EdgeMesh's names and keys; the agent config parses as YAML
cm = find("ConfigMap", "edgemesh-agent-cfg")
ok("ConfigMap edgemesh-agent-cfg with key edgemesh-agent.yaml",
   len(cm) == 1 and isinstance(yaml.safe_load(cm[0]["data"]["edgemesh-agent.yaml"]), dict))
psk = find("ConfigMap", "edgemesh-agent-psk")
ok("ConfigMap edgemesh-agent-psk with key psk", len(psk) == 1 and psk[0]["data"].get("psk"))
ok("gateway ConfigMaps edgemesh-gateway-cfg / -psk",
   len(find("ConfigMap", "edgemesh-gateway-cfg")) == 1 and len(find("ConfigMap", "edgemesh-gateway-psk")) == 1)

def check_pod(label, pod, want, caps, psk_only):
    spec = pod["spec"]
    cs = {c["name"]: c for c in spec["containers"]}
    ok("%s: one container per daemon %s" % (label, sorted(want)), sorted(cs) == sorted(want))
    ok("%s: hostNetwork" % label, spec.get("hostNetwork") is True)
    uids = []
    for n, c in cs.items():
        sc = c.get("securityContext", {})
        add = sorted(sc.get("capabilities", {}).get("add", []))
        if n == psk_only:
            # reads the root-only PSK as root, then drops to the uid given with -u
            cmd = c.get("command", [])
            uid = int(cmd[cmd.index("-u") + 1]) if "-u" in cmd else 0
            uids.append(uid)
            ok("%s/%s: starts as root only to read the PSK, then -u <non-root uid>, "
               "no escalation, drops ALL" % (label, n),
               sc.get("runAsUser") == 0 and uid > 0 and
               sc.get("allowPrivilegeEscalation") is False and
               sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("privileged"))
        else:
            uids.append(sc.get("runAsUser"))
            ok("%s/%s: runAsNonRoot, no privilege escalation, drops ALL" % (label, n),
               sc.get("runAsNonRoot") is True and sc.get("allowPrivilegeEscalation") is False and
               sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("privileged") and
               isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] > 0)
        ok("%s/%s: adds only %s" % (label, n, caps.get(n, [])), add == sorted(caps.get(n, [])))
        ok("%s/%s: image edgemesh-c:0.1.0" % (label, n), c["image"] == "edgemesh-c:0.1.0")
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        ok("%s/%s: runtime dir shared at /run/edgemesh" % (label, n),
           mounts.get("run", {}).get("mountPath") == "/run/edgemesh")
        ok("%s/%s: PSK %s" % (label, n, "mounted" if n == psk_only else "not mounted"),
           ("psk" in mounts) == (n == psk_only))
    ok("%s: distinct runAsUser per container" % label, len(set(uids)) == len(uids))
    vols = {v["name"]: v for v in spec["volumes"]}
    ok("%s: runtime dir is an emptyDir" % label, "emptyDir" in vols.get("run", {}))
    ok("%s: PSK volume is the PSK ConfigMap, readable by its owner only" % label,
       "configMap" in vols.get("psk", {}) and vols["psk"]["configMap"].get("defaultMode") == 0o400)

ds = find("DaemonSet", "edgemesh-agent")
ok("DaemonSet edgemesh-agent", len(ds) == 1)
if ds:
    check_pod("DaemonSet", ds[0]["spec"]["template"],
              ["controller", "dnsd", "proxyd", "tunneld", "socksd"],
              {"proxyd": ["NET_ADMIN"], "dnsd": ["NET_BIND_SERVICE"],
               "tunneld": ["SETGID", "SETUID"]}, "tunneld")
    ok("DaemonSet: serviceAccountName edgemesh-agent",
       ds[0]["spec"]["template"]["spec"]["serviceAccountName"] == "edgemesh-agent")
gw = find("Deployment", "edgemesh-gateway")
ok("gateway Deployment edgemesh-gateway", len(gw) == 1)
if gw:
    check_pod("gateway", gw[0]["spec"]["template"], ["controller", "gatewayd", "tunneld"],
              {"gatewayd": ["NET_BIND_SERVICE"], "tunneld": ["SETGID", "SETUID"]}, "tunneld")
print("test_k8s_manifests: %d passed, %d failed" % (npass, nfail))
sys.exit(1 if nfail else 0)
PY
