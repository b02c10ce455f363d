#!/usr/bin/python3
"""deploy/monitoring/ against the DaemonSet it watches: the Grafana dashboard is valid JSON whose
every panel queries Prometheus with PromQL naming only probesnat_ metrics of the README's table,
the Service and ServiceMonitor select the agent's pods and the port --metrics-listen serves, the
scrape annotations name that port, and the annotation scrape job relabels a pod's address to it.
The metric names are checked against the agent's real /metrics by
integration/tests/metrics_test.cc (DashboardQueries...). No cluster needed."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml
from kubernetes import client

here = os.path.dirname(os.path.abspath(__file__))
deploy = os.path.join(here, "..")
monitoring = os.path.join(deploy, "monitoring")
failures = []


def check(what, cond):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


class Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


# The DaemonSet: where the agent serves its metrics.
docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "daemonset.yaml"))) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
template = ds["spec"]["template"]
agent = next(c for c in template["spec"]["containers"] if c["name"] == "probesnatd")
args = agent["args"]
check("the agent gets --metrics-listen", "--metrics-listen" in args)
listen = args[args.index("--metrics-listen") + 1] if "--metrics-listen" in args else ""
env = {e["name"]: e for e in agent.get("env", [])}
check("--metrics-listen is the node's address from the downward API, not every interface",
      listen.startswith("$(HOST_IP):")
      and env.get("HOST_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.hostIP")
port = int(listen.rsplit(":", 1)[1]) if ":" in listen else 0
ports = {p["name"]: p for p in agent.get("ports", [])}
check("container port 'metrics' is the --metrics-listen port",
      ports.get("metrics", {}).get("containerPort") == port and port > 0)
annotations = template["metadata"]["annotations"]
check("scrape annotations: on, that port, /metrics",
      annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port") == str(port)
      and annotations.get("prometheus.io/path") == "/metrics")
check("hostNetwork (so the pod IP Prometheus scrapes is the node's)", template["spec"]["hostNetwork"] is True)

# The kustomization of monitoring/: its resources exist, the dashboard is generated from the file.
kustomization = yaml.safe_load(open(os.path.join(monitoring, "kustomization.yaml")))
objects = {}
for resource in kustomization["resources"]:
    path = os.path.join(monitoring, resource)
    check(f"monitoring resource {resource} exists", os.path.isfile(path))
    for d in yaml.safe_load_all(open(path)):
        if d:
            objects[d["kind"]] = d
generator = kustomization["configMapGenerator"][0]
check("dashboard ConfigMap carries Grafana's sidecar label",
      generator["options"]["labels"].get("grafana_dashboard") == "1"
      and generator["files"] == ["grafana-dashboard.json"])

service = objects["Service"]
api = client.ApiClient()
back = api.sanitize_for_serialization(api.deserialize(Response(service), "V1Service"))
check("Service matches the Kubernetes schema exactly", back == service)
check("Service is headless (endpoints are the nodes' IPs)", service["spec"]["clusterIP"] == "None")
check("Service selects the agent's pods",
      all(template["metadata"]["labels"].get(k) == v for k, v in service["spec"]["selector"].items()))
sport = service["spec"]["ports"][0]
check("Service port 'metrics' targets the container's metrics port",
      sport["name"] == "metrics" and sport["port"] == port and sport["targetPort"] == "metrics")
check("Service in the agent's namespace", service["metadata"]["namespace"] == ds["metadata"]["namespace"])

sm = objects["ServiceMonitor"]
check("ServiceMonitor is monitoring.coreos.com/v1", sm["apiVersion"] == "monitoring.coreos.com/v1")
check("ServiceMonitor selects the Service",
      all(service["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
      and sm["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]])
endpoint = sm["spec"]["endpoints"][0]
check("ServiceMonitor scrapes the Service's port /metrics",
      endpoint["port"] == sport["name"] and endpoint["path"] == "/metrics")
allowed_endpoint_keys = {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings",
                         "scheme", "honorLabels"}
check("ServiceMonitor endpoint uses known fields only", set(endpoint) <= allowed_endpoint_keys)

# The dashboard.
text = open(os.path.join(monitoring, "grafana-dashboard.json")).read()
try:
    dash = json.loads(text)
    check("grafana-dashboard.json is valid JSON", True)
except ValueError as e:
    check(f"grafana-dashboard.json is valid JSON: {e}", False)
    sys.exit(1)
check("dashboard has uid, title, schemaVersion", all(k in dash for k in ("uid", "title", "schemaVersion")))
variables = {v["name"] for v in dash["templating"]["list"]}
check("dashboard chooses its data source and nodes", {"datasource", "instance"} <= variables)
readme = open(os.path.join(deploy, "..", "README.md")).read()
documented = set(re.findall(r"`(probesnat_[a-z0-9_]+)`", readme))
ids, exprs = set(), []
for panel in dash["panels"]:
    check(f"panel {panel.get('title')}: unique id", panel["id"] not in ids)
    ids.add(panel["id"])
    check(f"panel {panel['title']}: Prometheus data source variable",
          panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"})
    check(f"panel {panel['title']}: has queries", len(panel.get("targets", [])) > 0)
    for t in panel.get("targets", []):
        exprs.append(t["expr"])
        names = set(re.findall(r"\bprobesnat_[a-z0-9_]+", t["expr"]))
        check(f"{t['expr']!r} names a probesnat metric", len(names) > 0)
        for n in names:
            base = re.sub(r"_(bucket|count|sum)$", "", n)
            check(f"{n} is in the README's metric table", n in documented or base in documented)
        check(f"{t['expr']!r} filters by the node variable", 'instance=~"$instance"' in t["expr"])
        check(f"{t['expr']!r}: balanced parentheses", t["expr"].count("(") == t["expr"].count(")"))
covered = " ".join(exprs)
for metric in ("probesnat_enroll_duration_seconds_bucket", "probesnat_pods", "probesnat_enroll_failures_total",
               "probesnat_drift_repairs_total", "probesnat_policy_findings"):
    check(f"dashboard shows {metric}", metric in covered)
check("dashboard shows enroll latency quantiles", "histogram_quantile(0.99" in covered
      and "histogram_quantile(0.5" in covered)

# The annotation scrape job: relabels a pod's address (IP, or IP:port of a declared port) to the
# annotated port, as Prometheus does (a fully anchored regex).
scrape = yaml.safe_load(open(os.path.join(monitoring, "prometheus-scrape.yml")))
job = scrape["scrape_configs"][0]
address_rule = next(r for r in job["relabel_configs"] if r.get("target_label") == "__address__")
for source in ("10.0.0.5", f"10.0.0.5:{port}", "10.0.0.5:15008"):
    value = f"{source};{annotations['prometheus.io/port']}"
    m = re.fullmatch(address_rule["regex"], value)
    got = address_rule["replacement"].replace("$1", m.group(1)).replace("$2", m.group(2)) if m else None
    check(f"pod address {source} is scraped at 10.0.0.5:{port}", got == f"10.0.0.5:{port}")
keep = job["relabel_configs"][0]
check("only pods annotated prometheus.io/scrape=true are kept",
      keep["action"] == "keep" and keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"])
promtool = shutil.which("promtool")
if promtool:
    out = subprocess.run([promtool, "check", "config", os.path.join(monitoring, "prometheus-scrape.yml")],
                         capture_output=True, text=True)
    if "kubernetes_sd_configs not found" in out.stdout + out.stderr:
        print("info: this promtool is built without Kubernetes discovery; the scrape job's other fields "
              "are checked with a static target instead")
        job_static = dict(job)
        job_static.pop("kubernetes_sd_configs")
        job_static["static_configs"] = [{"targets": [f"10.0.0.5:{port}"]}]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump({"global": scrape["global"], "scrape_configs": [job_static]}, f)
        out = subprocess.run([promtool, "check", "config", f.name], capture_output=True, text=True)
        os.unlink(f.name)
    check(f"promtool check config: {out.stdout.strip()} {out.stderr.strip()}", out.returncode == 0)

sys.exit(1 if failures else 0)
