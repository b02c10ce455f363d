#!/usr/bin/python3
"""Validates the manifests deploy/kustomization.yaml lists (deploy/daemonset.yaml, ...) against the Kubernetes API models of Debian's python3-kubernetes
(generated from the Kubernetes OpenAPI schema): each object is decoded into its model class, which
checks required fields and types, and encoded again; a key the schema does not know (a typo) is
dropped by that round trip, so the round trip must give back the manifest exactly. Then the
properties the deployment relies on are asserted. No cluster needed."""
import json
import os
import sys

import yaml
from kubernetes import client

MODELS = {("v1", "Namespace"): "V1Namespace", ("v1", "ConfigMap"): "V1ConfigMap",
          ("apps/v1", "DaemonSet"): "V1DaemonSet", ("v1", "ResourceQuota"): "V1ResourceQuota",
          ("v1", "ServiceAccount"): "V1ServiceAccount",
          ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
          ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding"}
failures = []


def check(what, cond):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


class Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def round_trip(doc):
    api = client.ApiClient()
    model = api.deserialize(Response(doc), MODELS[(doc["apiVersion"], doc["kind"])])
    return api.sanitize_for_serialization(model)


deploy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
kustomization = yaml.safe_load(open(os.path.join(deploy, "kustomization.yaml")))
docs = []
for resource in kustomization["resources"]:
    check(f"kustomization resource {resource} exists", os.path.isfile(os.path.join(deploy, resource)))
    docs += [d for d in yaml.safe_load_all(open(os.path.join(deploy, resource))) if d]
by_kind = {}
for doc in docs:
    key = (doc.get("apiVersion"), doc.get("kind"))
    check(f"{key} is a known kind", key in MODELS)
    if key not in MODELS:
        continue
    try:
        back = round_trip(doc)
        check(f"{doc['kind']} {doc['metadata']['name']} matches the schema exactly", back == doc)
        if back != doc:
            print(json.dumps(doc, sort_keys=True)[:2000], "\n!=\n", json.dumps(back, sort_keys=True)[:2000])
    except (ValueError, TypeError) as e:
        check(f"{doc['kind']} decodes: {e}", False)
    by_kind[doc["kind"]] = doc

ds = by_kind["DaemonSet"]
spec = ds["spec"]["template"]["spec"]
check("selector matches the template labels",
      all(ds["spec"]["template"]["metadata"]["labels"].get(k) == v
          for k, v in ds["spec"]["selector"]["matchLabels"].items()))
check("rolling update", ds["spec"]["updateStrategy"]["type"] == "RollingUpdate")
check("system-node-critical", spec["priorityClassName"] == "system-node-critical")
check("runs on Linux nodes only", spec["nodeSelector"] == {"kubernetes.io/os": "linux"})
for effect in ("NoSchedule", "NoExecute"):
    check(f"tolerates every {effect} taint", {"operator": "Exists", "effect": effect} in spec["tolerations"])
check("no wildcard toleration", all(t.get("key") or t.get("effect") for t in spec["tolerations"]))
check("no service account token mounted in every container", spec["automountServiceAccountToken"] is False)
check("SELinux: spc_t", spec["securityContext"]["seLinuxOptions"]["type"] == "spc_t")
annotations = ds["spec"]["template"]["metadata"]["annotations"]
check("AppArmor unconfined for the agent",
      annotations["container.apparmor.security.beta.kubernetes.io/probesnatd"] == "unconfined")
ns_labels = by_kind["Namespace"]["metadata"]["labels"]
check("namespace admits privileged pods (Pod Security)",
      all(ns_labels[f"pod-security.kubernetes.io/{m}"] == "privileged" for m in ("enforce", "audit", "warn")))
quota = by_kind["ResourceQuota"]
check("quota covers system-node-critical in the agent's namespace",
      quota["metadata"]["namespace"] == ds["metadata"]["namespace"]
      and quota["spec"]["scopeSelector"]["matchExpressions"][0]["values"] == [spec["priorityClassName"]])
images = {c["image"].split(":")[0] for c in spec["containers"]}
check("the kustomization's image entry names the image of every container",
      images == {i["name"] for i in kustomization["images"]})
overlay = yaml.safe_load(open(os.path.join(deploy, "overlays", "example", "kustomization.yaml")))
check("the example overlay builds on deploy/ and sets image name and tag",
      os.path.samefile(os.path.join(deploy, "overlays", "example", overlay["resources"][0]), deploy)
      and all("newName" in i and "newTag" in i for i in overlay["images"]))
check("host network and host PID", spec["hostNetwork"] and spec["hostPID"])
containers = {c["name"]: c for c in spec["containers"]}
agent, install = containers["probesnatd"], containers["install-cni"]
for c in (agent, install):
    sc = c["securityContext"]
    check(f"{c['name']}: not privileged, drops ALL", not sc["privileged"] and sc["capabilities"]["drop"] == ["ALL"])
    check(f"{c['name']}: requests and memory limit", "requests" in c["resources"] and "memory" in c["resources"]["limits"])
# Exactly the set integration/tests/capabilities_test.cc runs probesnatd under: without SYS_PTRACE
# every /proc/<pid>/ns/net path of a non-root pod process is refused; NET_RAW is not used.
check("agent adds exactly NET_ADMIN, SYS_ADMIN, SYS_PTRACE",
      sorted(agent["securityContext"]["capabilities"]["add"]) == ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"])
def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


# README "Sizing": 32 MiB + 50 KiB per cluster pod (snapshot_memory_bench measured 43-44 KiB).
limit = mebibytes(agent["resources"]["limits"]["memory"])
check("agent memory limit covers a 5,000-pod cluster's policy snapshot", limit >= 32 + 5000 * 50 / 1024)
check("agent memory request at least what it uses idle (21 MiB) plus a small snapshot",
      mebibytes(agent["resources"]["requests"]["memory"]) >= 64)
for probe in ("readinessProbe", "livenessProbe"):
    cmd = " ".join(agent[probe]["exec"]["command"])
    check(f"{probe} asks the agent (probesnat-cni STATUS)", "CNI_COMMAND=STATUS" in cmd and "status.json" in cmd)
check("install container watches", install["command"][:3] == ["/usr/local/bin/install-cni.sh", "install", "--watch"])
check("install container's stop decides (uninstall only when requested)",
      install["lifecycle"]["preStop"]["exec"]["command"][-1] == "stop")
agent_mounts = {m["name"]: m for m in agent["volumeMounts"]}
install_mounts = {m["name"]: m for m in install["volumeMounts"]}
check("install container sees the agent's run directory (uninstall request), read-only",
      install_mounts["run-probesnat"]["mountPath"] == agent_mounts["run-probesnat"]["mountPath"]
      and install_mounts["run-probesnat"].get("readOnly") is True)
volumes = {v["name"]: v for v in spec["volumes"]}
for c in spec["containers"]:
    for m in c["volumeMounts"]:
        check(f"{c['name']} mount {m['name']} has a volume", m["name"] in volumes)
check("CNI dirs are the node's", volumes["cni-bin"]["hostPath"]["path"] == "/opt/cni/bin"
      and volumes["cni-conf"]["hostPath"]["path"] == "/etc/cni/net.d")
token_mounts = {c["name"] for c in spec["containers"] for m in c["volumeMounts"]
                if m["name"] == "api-credentials"}
check("the API token is projected into the agent alone", token_mounts == {"probesnatd"})
projected = [s for s in volumes["api-credentials"]["projected"]["sources"]]
check("the projection holds token and ca.crt (what kubernetes-credentials-dir reads)",
      any("serviceAccountToken" in s and s["serviceAccountToken"]["path"] == "token" for s in projected)
      and any("configMap" in s and s["configMap"]["items"][0]["path"] == "ca.crt" for s in projected))
cgroup_root = yaml.safe_load(by_kind["ConfigMap"]["data"]["probesnat.yaml"]).get("cgroup-root")
check("the agent sees the node's cgroup v2 hierarchy, read-only, where cgroup-root points (probe origin)",
      volumes["host-cgroup"]["hostPath"]["path"] == "/sys/fs/cgroup"
      and agent_mounts["host-cgroup"]["mountPath"] == cgroup_root
      and agent_mounts["host-cgroup"].get("readOnly") is True)
check("only the agent mounts the node's cgroups",
      "host-cgroup" not in install_mounts)
data = by_kind["ConfigMap"]["data"]
entry = json.loads(data["cni-plugin.json"])
check("plugin entry is probesnat-cni with the agent's socket",
      entry["type"] == "probesnat-cni" and entry["socket"] == yaml.safe_load(data["probesnat.yaml"])["socket"])
status = json.loads(data["status.json"])
check("STATUS config is CNI 1.1.0", status["cniVersion"] == "1.1.0" and status["type"] == "probesnat-cni")
env = {e["name"]: e for e in install["env"]}
check("install container gets the plugin entry from the ConfigMap",
      env["PLUGIN_CONFIG"]["valueFrom"]["configMapKeyRef"]["key"] == "cni-plugin.json")
check("install container looks for the request in the run directory it mounts",
      env["PROBESNAT_RUN_DIR"]["value"] == install_mounts["run-probesnat"]["mountPath"])

# uninstall-with-daemonset: the agent names its own DaemonSet and may get that one object only.
agent_config = yaml.safe_load(data["probesnat.yaml"])
own = f"{ds['metadata']['namespace']}/{ds['metadata']['name']}"
check("agent config names its own DaemonSet", agent_config.get("uninstall-with-daemonset") == own)
sa, role, binding = by_kind["ServiceAccount"], by_kind["Role"], by_kind["RoleBinding"]
check("pods run as the probesnat ServiceAccount", spec.get("serviceAccountName") == sa["metadata"]["name"])
check("Role: get on this one DaemonSet only",
      role["rules"] == [{"apiGroups": ["apps"], "resources": ["daemonsets"],
                         "resourceNames": [ds["metadata"]["name"]], "verbs": ["get"]}]
      and role["metadata"]["namespace"] == ds["metadata"]["namespace"])
check("RoleBinding binds the Role to the ServiceAccount",
      binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": role["metadata"]["name"]}
      and binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                   "namespace": sa["metadata"]["namespace"]}])

sys.exit(1 if failures else 0)
