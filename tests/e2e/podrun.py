#!/usr/bin/python3
"""Run a pod spec from k8s/ the way kubelet and runc would, without them
(containers cannot run on the test machine: see tests/e2e/test_image.sh).

  podrun.py prepare RENDER.yaml KIND NAME NODE PODDIR CONFIGMAP.yaml...
      Volumes into PODDIR/vol/<volume>: a configMap as kubelet's atomic
      writer lays it out (..data -> a timestamped dir, one symlink per key,
      mode defaultMode or 0644, owner root; with a pod fsGroup, group fsGroup
      and g+r as kubelet's SetVolumeOwnership does), an emptyDir 0777, a
      hostPath as it is.  PODDIR/pod.json: the containers as run below.
  podrun.py run PODDIR CONTAINER IMAGE_ROOT      (exec; call in the node's netns)
      A private mount namespace: the image root as the lower layer of an
      overlay (upper on tmpfs), /proc, /sys, a /dev tmpfs with the usual
      nodes, the volumeMounts (subPath resolved in the volume, readOnly
      remounted ro), the root remounted ro with readOnlyRootFilesystem; then
      capsh: chroot, bounding set = capabilities.add, runAsUser/runAsGroup,
      effective = permitted = add for uid 0 and nothing for any other uid,
      no inheritable, no ambient, no_new_privs without allowPrivilegeEscalation,
      the container's env (fieldRefs resolved) and nothing else.
  podrun.py exec PODDIR CONTAINER PID ARGV...    (a probe: the container's
      mount namespace, user and capabilities, as `runc exec` does)

Not emulated: seccomp RuntimeDefault, cgroup limits, the pod's pid and ipc
namespaces (hostNetwork: the node's network namespace is the caller's).
"""
import json, os, subprocess, sys, time
import yaml

CAPSH = "/usr/sbin/capsh"


def sh(*a):
    subprocess.run(a, check=True)


def all_caps():
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    out = subprocess.run([CAPSH, "--decode=%#x" % ((1 << (last + 1)) - 1)],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].split(",")


def prepare(render, kind, name, node, poddir, cmfiles):
    objs = [o for o in yaml.safe_load_all(open(render)) if o]
    cms = {}
    for f in cmfiles:
        for o in yaml.safe_load_all(open(f)):
            if o and o["kind"] == "ConfigMap":
                cms[o["metadata"]["name"]] = o
    top = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name][0]
    pod = top["spec"]["template"]
    spec = pod["spec"]
    fsgroup = spec.get("securityContext", {}).get("fsGroup")
    vols = {}
    for v in spec["volumes"]:
        d = os.path.join(poddir, "vol", v["name"])
        if "configMap" in v:
            c = v["configMap"]
            cm = cms.get(c["name"])
            if cm is None:
                sys.exit("podrun: ConfigMap %s not given (kubelet would wait)" % c["name"])
            items = c.get("items") or [{"key": k, "path": k} for k in cm["data"]]
            ts = os.path.join(d, "..2026_01_01_00_00_00.000000001")
            os.makedirs(ts)
            for it in items:
                p = os.path.join(ts, it["path"])
                with open(p, "w") as f:
                    f.write(cm["data"][it["key"]])
                mode = it.get("mode", c.get("defaultMode", 0o644))
                if fsgroup is not None:
                    os.chown(p, 0, fsgroup)
                    mode |= 0o440
                os.chmod(p, mode)
                os.symlink(os.path.join("..data", it["path"]), os.path.join(d, it["path"]))
            os.symlink(os.path.basename(ts), os.path.join(d, "..data"))
            os.chmod(d, 0o777 if fsgroup is None else 0o2777)
            vols[v["name"]] = d
        elif "emptyDir" in v:
            os.makedirs(d)
            os.chmod(d, 0o777)
            if fsgroup is not None:
                os.chown(d, 0, fsgroup)
                os.chmod(d, 0o2777)
            vols[v["name"]] = d
        elif "hostPath" in v:
            vols[v["name"]] = v["hostPath"]["path"]
        else:
            sys.exit("podrun: volume %s: unsupported type" % v["name"])
    fields = {"spec.nodeName": node, "metadata.namespace": top["metadata"]["namespace"]}
    out = []
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        psc = spec.get("securityContext", {})
        uid = sc.get("runAsUser", psc.get("runAsUser", 0))
        gid = sc.get("runAsGroup", psc.get("runAsGroup", 0))
        if sc.get("runAsNonRoot") and uid == 0:
            sys.exit("podrun: %s: runAsNonRoot with uid 0: kubelet refuses it" % c["name"])
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOSTNAME": node}
        for e in c.get("env", []):
            env[e["name"]] = e["value"] if "value" in e else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        mounts = []
        for m in c.get("volumeMounts", []):
            src = vols[m["name"]]
            if m.get("subPath"):
                src = os.path.realpath(os.path.join(src, m["subPath"]))
            mounts.append({"src": src, "dst": m["mountPath"], "ro": bool(m.get("readOnly"))})
        caps = sc.get("capabilities", {})
        add = [x.lower() for x in caps.get("add", [])]
        if "ALL" not in caps.get("drop", []):
            sys.exit("podrun: %s: only drop [ALL] is emulated" % c["name"])
        probes = {p: c[p]["exec"]["command"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
                  if p in c and "exec" in c[p]}
        out.append({"name": c["name"], "command": c["command"] + c.get("args", []), "env": env,
                    "uid": uid, "gid": gid, "groups": [gid] + ([fsgroup] if fsgroup is not None else []),
                    "caps": ["cap_" + x for x in add], "nnp": sc.get("allowPrivilegeEscalation", True) is False,
                    "ro_root": bool(sc.get("readOnlyRootFilesystem")), "mounts": mounts, "probes": probes})
    json.dump({"containers": out}, open(os.path.join(poddir, "pod.json"), "w"), indent=1)


def container(poddir, name):
    return [c for c in json.load(open(os.path.join(poddir, "pod.json")))["containers"] if c["name"] == name][0]


def capsh_argv(c, rootfs, argv, lookup=None):
    # the program: argv[0] looked up in the image's PATH, as runc does
    prog = argv[0]
    if "/" not in prog:
        for d in c["env"]["PATH"].split(":"):
            if os.path.exists((lookup or rootfs) + d + "/" + prog):
                prog = d + "/" + prog
                break
    a = [CAPSH, "--chroot=" + rootfs,
         "--drop=" + ",".join(x for x in all_caps() if x not in c["caps"]),
         "--gid=%d" % c["gid"], "--groups=" + ",".join(str(g) for g in c["groups"]),
         "--uid=%d" % c["uid"],
         "--caps=" + (",".join(c["caps"]) + "+ep" if c["uid"] == 0 and c["caps"] else "=")]
    if c["nnp"]:
        a.append("--no-new-privs")
    return a + ["--shell=" + prog, "--"] + argv[1:]


def run(poddir, name, image_root):
    c = container(poddir, name)
    cdir = os.path.join(poddir, "ctr", name)
    os.makedirs(cdir, exist_ok=True)
    # a private mount namespace of our own, then the container's mounts
    if os.environ.get("PODRUN_INNER") != "1":
        os.environ["PODRUN_INNER"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, __file__, "run", poddir, name, image_root])
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", cdir)
    for d in ("upper", "work", "rootfs"):
        os.mkdir(os.path.join(cdir, d))
    root = os.path.join(cdir, "rootfs")
    sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s/upper,workdir=%s/work"
       % (image_root, cdir, cdir), root)
    for d in ("proc", "sys", "dev"):
        os.makedirs(root + "/" + d, exist_ok=True)
    sh("mount", "-t", "proc", "proc", root + "/proc")
    sh("mount", "-t", "sysfs", "-o", "ro", "sysfs", root + "/sys")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs", root + "/dev")
    for n in ("null", "zero", "full", "random", "urandom", "tty"):
        open(root + "/dev/" + n, "w").close()
        sh("mount", "--bind", "/dev/" + n, root + "/dev/" + n)
    for m in c["mounts"]:
        dst = root + m["dst"]
        if os.path.isdir(m["src"]):
            os.makedirs(dst, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.exists(dst):
                open(dst, "w").close()
        sh("mount", "--bind", m["src"], dst)
        if m["ro"]:
            sh("mount", "-o", "remount,bind,ro", dst)
    if c["ro_root"]:
        sh("mount", "-o", "remount,ro", root)
    with open(os.path.join(poddir, name + ".root"), "w") as f:
        f.write(root)
    os.execve(CAPSH, capsh_argv(c, root, c["command"]), c["env"])


def exec_probe(poddir, name, pid, argv):
    c = container(poddir, name)
    root = open(os.path.join(poddir, name + ".root")).read()
    # the container's root as seen from here, for the PATH lookup
    a = capsh_argv(c, root, argv, lookup="/proc/%s/root" % pid)
    os.execve("/usr/bin/nsenter", ["nsenter", "-t", pid, "-m", "-n", "--"] + a, c["env"])


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(*sys.argv[2:7], sys.argv[7:])
    elif cmd == "run":
        run(*sys.argv[2:5])
    elif cmd == "exec":
        exec_probe(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit("usage: see the docstring")
