#!/usr/bin/python3
"""A stand-in for the Kubernetes API server in uninstall tests: HTTPS on 127.0.0.1 (port chosen by
the kernel, written to --port-file), one resource, GET of /apis/apps/v1/namespaces/NS/daemonsets/NAME.
What it answers is read from --state-file on every request: "present UID", "deleting UID" (with a
deletionTimestamp) or "gone" (404). A request without "Authorization: Bearer <--token>" gets 401.
Each request is appended to --log as "METHOD PATH STATUS"."""
import argparse
import http.server
import json
import os
import ssl

p = argparse.ArgumentParser()
for name in ("cert", "key", "token", "state-file", "port-file", "log", "namespace", "name"):
    p.add_argument("--" + name, required=True)
args = p.parse_args()
path = f"/apis/apps/v1/namespaces/{args.namespace}/daemonsets/{args.name}"


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(args.log, "a") as log:
            log.write(f"GET {self.path} {status}\n")

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + args.token:
            return self.answer(401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
        if self.path != path:
            return self.answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        state = open(args.state_file).read().split()
        if not state or state[0] == "gone":
            return self.answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        meta = {"name": args.name, "namespace": args.namespace, "uid": state[1]}
        if state[0] == "deleting":
            meta["deletionTimestamp"] = "2026-12-03T14:00:00Z"
        self.answer(200, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta})

    def log_message(self, *_):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
