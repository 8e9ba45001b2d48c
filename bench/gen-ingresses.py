#!/usr/bin/env python3
"""Writes a manifest file of many Ingresses for benchmarking sluice-proxy.

The objects, as block-style multi-document YAML (what people keep in files):

  * NAMESPACES namespaces, bench-0 .. bench-N;
  * SERVICES Services spread evenly over them, each with one port `http` (80) and one
    EndpointSlice publishing the upstream (UPSTREAM_IP:UPSTREAM_PORT) as its ready endpoint;
  * INGRESSES Ingresses of class `sluice`, spread round-robin over the namespaces. Ingress i
    has its own host `app-<i>.bench.example`; every one routes `/` (Prefix) to a Service of
    its namespace, and every other one also routes `/api` (Prefix) to the next Service.

So `--ingresses 1 --services 1 --namespaces 1` is the one-route manifest: host
`app-0.bench.example`, namespace `bench-0`, Service `svc-0`.

`--tls CERT KEY` (PEM files) adds a Secret `tls` of type kubernetes.io/tls to each namespace,
and each Ingress serves its host over TLS with it, and still in the clear (`ssl-redirect:
"false"`: no redirect to HTTPS).

`--grpc-port PORT` adds a Service `grpc` in bench-0 publishing UPSTREAM_IP:PORT, and an
Ingress `grpc` routing `grpc.bench.example` to it with `backend-protocol: GRPC` (HTTP/2 in
the clear to the backend), over TLS with `--tls`.

`--probe HOST` adds one more Ingress, `probe`, routing HOST to `svc-0` of `bench-0`: the
reload measurement writes the base file plus a probe and waits until HOST is routed.

Writes atomically (a temporary file beside the target, then a rename), as a
config-management tool would.
"""

import argparse
import base64
import os
import sys


def service(namespace: str, name: str, ip: str, port: int) -> str:
    return f"""---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  ports:
  - name: http
    port: 80
    targetPort: {port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: {namespace}
  labels:
    kubernetes.io/service-name: {name}
addressType: IPv4
ports:
- name: http
  port: {port}
  protocol: TCP
endpoints:
- addresses:
  - {ip}
  conditions:
    ready: true
"""


def path(p: str, service_name: str) -> str:
    return f"""      - path: {p}
        pathType: Prefix
        backend:
          service:
            name: {service_name}
            port:
              number: 80
"""


def tls_secret(namespace: str, cert: bytes, key: bytes) -> str:
    return f"""---
apiVersion: v1
kind: Secret
metadata:
  name: tls
  namespace: {namespace}
type: kubernetes.io/tls
data:
  tls.crt: {base64.b64encode(cert).decode()}
  tls.key: {base64.b64encode(key).decode()}
"""


def ingress(namespace: str, name: str, host: str, paths: list, tls: bool = False,
            protocol: str = "") -> str:
    tls_section = f"""  tls:
  - hosts: [{host}]
    secretName: tls
""" if tls else ""
    annotations = """  annotations:
    nginx.ingress.kubernetes.io/ssl-redirect: "false"
""" if tls else ""
    if protocol:
        annotations = (annotations or "  annotations:\n") + \
            f"    nginx.ingress.kubernetes.io/backend-protocol: {protocol}\n"
    return (
        f"""---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: {namespace}
{annotations}spec:
  ingressClassName: sluice
{tls_section}  rules:
  - host: {host}
    http:
      paths:
"""
        + "".join(path(p, s) for p, s in paths)
    )


def probe(host: str) -> str:
    """The extra Ingress of the reload measurement (also imported by the script)."""
    return ingress("bench-0", "probe", host, [("/", "svc-0")])


def generate(ingresses: int, services: int, namespaces: int, ip: str, port: int,
             tls: tuple = None, grpc_port: int = 0) -> str:
    if namespaces < 1 or services < namespaces or ingresses < 1:
        raise ValueError("need ingresses >= 1 and services >= namespaces >= 1")
    per_namespace = services // namespaces  # Services in each namespace
    parts = []
    for n in range(namespaces):
        if tls:
            parts.append(tls_secret(f"bench-{n}", *tls))
        for s in range(per_namespace):
            parts.append(service(f"bench-{n}", f"svc-{s}", ip, port))
    for i in range(ingresses):
        n = i % namespaces
        s = (i // namespaces) % per_namespace
        paths = [("/", f"svc-{s}")]
        if i % 2 == 1:
            paths.append(("/api", f"svc-{(s + 1) % per_namespace}"))
        parts.append(ingress(f"bench-{n}", f"app-{i}", f"app-{i}.bench.example", paths, bool(tls)))
    if grpc_port:
        parts.append(service("bench-0", "grpc", ip, grpc_port))
        parts.append(ingress("bench-0", "grpc", "grpc.bench.example", [("/", "grpc")], bool(tls),
                             "GRPC"))
    return "".join(parts)


def write_atomically(out: str, text: str) -> None:
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ingresses", type=int, default=10_000)
    ap.add_argument("--services", type=int, default=300)
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--upstream-ip", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve every host over TLS")
    ap.add_argument("--grpc-port", type=int, default=0, help="add a gRPC backend and its Ingress")
    ap.add_argument("--probe", metavar="HOST", help="add an Ingress routing HOST to bench-0/svc-0")
    ap.add_argument("--out", required=True, help="the manifest file to write")
    args = ap.parse_args()
    tls = None
    if args.tls:
        with open(args.tls[0], "rb") as c, open(args.tls[1], "rb") as k:
            tls = (c.read(), k.read())
    try:
        text = generate(args.ingresses, args.services, args.namespaces, args.upstream_ip,
                        args.upstream_port, tls, args.grpc_port)
    except ValueError as e:
        print(f"gen-ingresses: {e}", file=sys.stderr)
        return 2
    if args.probe:
        text += probe(args.probe)
    write_atomically(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
