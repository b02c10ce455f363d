#!/usr/bin/python3
"""Validates deploy/daemonset.yaml against the Kubernetes API models of Debian's python3-kubernetes
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
          ("apps/v1", "DaemonSet"): "V1DaemonSet", ("v1", "ServiceAccount"): "V1ServiceAccount",
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


path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemonset.yaml")
docs = [d for d in yaml.safe_load_all(open(path)) if d]
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
check("tolerates every taint", {"operator": "Exists"} in spec["tolerations"])
check("host network and host PID", spec["hostNetwork"] and spec["hostPID"])
containers = {c["name"]: c for c in spec["containers"]}
agent, install = containers["probesnatd"], containers["install-cni"]
for c in (agent, install):
    sc = c["securityContext"]
    check(f"{c['name']}: not privileged, drops ALL", not sc["privileged"] and sc["capabilities"]["drop"] == ["ALL"])
    check(f"{c['name']}: requests and memory limit", "requests" in c["resources"] and "memory" in c["resources"]["limits"])
check("agent adds only NET_ADMIN, SYS_ADMIN, NET_RAW",
      set(agent["securityContext"]["capabilities"]["add"]) <= {"NET_ADMIN", "SYS_ADMIN", "NET_RAW"})
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
