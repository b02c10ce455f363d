#!/usr/bin/python3
"""`probesnatctl check -o fixes | kubectl apply -f -`, without a cluster: the stream printed for a
realistic cluster dump (testdata/helm_cluster.yaml, as YAML and as the JSON List `kubectl get -o
json` prints) is validated against the Kubernetes API models of Debian's python3-kubernetes (as
kubectl apply --dry-run=client would: each document decodes into V1NetworkPolicy, which checks
required fields and types, and encodes again; an unknown key or a wrong type does not survive the
round trip, so it must give back the document exactly). Each corrected policy must keep the
original's metadata (labels, annotations; no server-set fields) and rules (endPort ranges intact),
only add the tunnel port or a probe rule, and the cluster with the fixes applied must check clean.

usage: fixes_schema_test.py PROBESNATCTL TESTDATA_DIR"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import yaml
from kubernetes import client

PROBESNATCTL, DATA = sys.argv[1], sys.argv[2]
SELECT = ["-l", "app.kubernetes.io/name"]  # every workload of the dump (not coredns)
TUNNEL = {"port": 15008, "protocol": "TCP"}
PROBE_CIDRS = {"169.254.7.127/32", "fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128"}
SERVER_SET = {"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation",
              "selfLink", "generateName", "ownerReferences", "finalizers", "deletionTimestamp"}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
failures = []


def check(what, cond, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print(detail)


class Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def round_trip(doc):
    api = client.ApiClient()
    model = api.deserialize(Response(doc), "V1NetworkPolicy")
    return api.sanitize_for_serialization(model)


def run(*args):
    p = subprocess.run([PROBESNATCTL, "check", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def key(obj):
    return obj["metadata"].get("namespace", "default") + "/" + obj["metadata"]["name"]


dump_path = os.path.join(DATA, "helm_cluster.yaml")
dump = yaml.safe_load(open(dump_path))
originals = {key(o): o for o in dump["items"] if o["kind"] == "NetworkPolicy"}
tmp = tempfile.mkdtemp(prefix="fixes_schema_test.")
json_path = os.path.join(tmp, "cluster.json")
with open(json_path, "w") as f:
    json.dump(dump, f, indent=4)

# 1. Both input forms give the same stream, exit 1 (findings), a summary on stderr only.
code, stream, err = run("--cluster", dump_path, *SELECT, "-o", "fixes")
check("findings exit 1", code == 1, err)
check("stream starts with a document separator", stream.startswith("---\n"), stream[:200])
check("summary on stderr", "corrected NetworkPolicies on stdout" in err, err)
jcode, jstream, jerr = run("--cluster", json_path, *SELECT, "-o", "fixes")
check("JSON List input: same exit code and stream", jcode == code and jstream == stream, jerr)

docs = list(yaml.safe_load_all(stream))
check("every document is an object", all(isinstance(d, dict) for d in docs), stream)
docs = [d for d in docs if isinstance(d, dict)]
fixed = {key(d): d for d in docs}
check("one document per policy", len(fixed) == len(docs))
check("the policies that need fixing, and only those",
      set(fixed) == {"shop/frontend", "shop/backend", "payments/api"}, sorted(fixed))

# 2. Each document: the API schema, the original metadata, the original rules plus the fix.
for name, doc in sorted(fixed.items()):
    try:
        back = round_trip(doc)
        check(f"{name}: decodes as V1NetworkPolicy and round-trips exactly", back == doc,
              json.dumps(doc, sort_keys=True) + "\n!=\n" + json.dumps(back, sort_keys=True))
    except (ValueError, TypeError) as e:
        check(f"{name}: decodes as V1NetworkPolicy ({e})", False)
    check(f"{name}: networking.k8s.io/v1 NetworkPolicy",
          doc.get("apiVersion") == "networking.k8s.io/v1" and doc.get("kind") == "NetworkPolicy")
    orig = originals[name]
    md, omd = doc["metadata"], orig["metadata"]
    check(f"{name}: only name, namespace, labels, annotations in metadata",
          set(md) <= {"name", "namespace", "labels", "annotations"} and not SERVER_SET & set(md),
          sorted(md))
    check(f"{name}: name and namespace", md["name"] == omd["name"]
          and md["namespace"] == omd["namespace"])
    check(f"{name}: labels kept", md.get("labels") == omd.get("labels"), md.get("labels"))
    want = {k: v for k, v in omd.get("annotations", {}).items() if k != LAST_APPLIED}
    check(f"{name}: annotations kept, last-applied-configuration dropped",
          md.get("annotations", {}) == want, md.get("annotations"))
    spec, ospec = doc["spec"], orig["spec"]
    check(f"{name}: podSelector and policyTypes kept",
          spec["podSelector"] == ospec["podSelector"]
          and spec.get("policyTypes") == ospec.get("policyTypes"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        rules, orules = spec.get(direction, []), ospec.get(direction, [])
        check(f"{name}: {direction} rules kept in order", len(rules) >= len(orules))
        for i, (r, o) in enumerate(zip(rules, orules)):
            check(f"{name}: {direction}[{i}] peers kept", r.get(peers) == o.get(peers))
            ports, oports = r.get("ports", []), o.get("ports", [])
            check(f"{name}: {direction}[{i}] ports kept (endPort ranges intact), only the tunnel "
                  "port added", ports[:len(oports)] == oports
                  and all(p == TUNNEL for p in ports[len(oports):]), json.dumps(ports))
        for r in rules[len(orules):]:
            check(f"{name}: an added {direction} rule is the probe rule", direction == "ingress"
                  and {p["ipBlock"]["cidr"] for p in r["from"]} <= PROBE_CIDRS, json.dumps(r))

backend = fixed["shop/backend"]["spec"]
check("shop/backend: the 9000-9004 range gets the tunnel port and keeps endPort",
      backend["ingress"][0]["ports"] == [{"port": 9000, "endPort": 9004, "protocol": "TCP"},
                                         TUNNEL])
check("shop/backend: the multi-line annotation survives",
      fixed["shop/backend"]["metadata"]["annotations"]["shop.example/notes"]
      == originals["shop/backend"]["metadata"]["annotations"]["shop.example/notes"])

# 3. The findings describe ranges as ranges and word HBONE for peers outside the mesh.
code, out, err = run("--cluster", dump_path, *SELECT, "-o", "json")
messages = [f["message"] for f in json.loads(out)["findings"]]
check("a finding names the range 9000-9004/TCP",
      any("ports 9000-9004/TCP but not on port 15008/TCP" in m for m in messages), messages)
check("coredns (not in the mesh) would be blocked once it joins",
      any("kube-system/coredns-5d78c9869d-8xk2p is not in the mesh (yet)" in m
          and "once it joins the mesh, its HBONE traffic to port 15008/TCP would be blocked" in m
          for m in messages), messages)

# 4. The cluster with the fixes applied (as kubectl apply leaves the objects) checks clean.
applied = copy.deepcopy(dump)
for obj in applied["items"]:
    if obj["kind"] == "NetworkPolicy" and key(obj) in fixed:
        fix = fixed[key(obj)]
        obj["spec"] = fix["spec"]
        for field in ("labels", "annotations"):
            obj["metadata"][field] = fix["metadata"].get(field, {})
applied_path = os.path.join(tmp, "applied.yaml")
with open(applied_path, "w") as f:
    yaml.safe_dump(applied, f)
code, stream, err = run("--cluster", applied_path, *SELECT, "-o", "fixes")
check("after the fixes: exit 0 and an empty stream", code == 0 and stream == "", stream + err)
code, out, err = run("--cluster", applied_path, *SELECT, "-o", "json")
report = json.loads(out) if out else {}
check("after the fixes: compatible, no blocking finding", code == 0
      and report.get("compatible") is True
      and not [f for f in report.get("findings", []) if f["severity"] in ("WARNING", "ERROR")],
      out + err)
# The same through the loader's "a later object replaces an earlier one" (two --cluster files).
fixes_path = os.path.join(tmp, "fixes.yaml")
with open(fixes_path, "w") as f:
    f.write(run("--cluster", dump_path, *SELECT, "-o", "fixes")[1])
code, stream, err = run("--cluster", dump_path, "--cluster", fixes_path, *SELECT, "-o", "fixes")
check("fixes given as a later --cluster: exit 0, empty stream", code == 0 and stream == "", err)

# 5. Errors keep stdout empty (nothing half-written into a pipe to kubectl).
code, stream, err = run("--cluster", os.path.join(tmp, "missing.yaml"), *SELECT, "-o", "fixes")
check("an error exits 2 with nothing on stdout", code == 2 and stream == "" and err, err)

sys.exit(1 if failures else 0)
