#!/usr/bin/env python3
"""Writes a manifest file of many HTTPRoutes (Gateway API) for benchmarking sluice-proxy.

The objects, as block-style multi-document YAML (what people keep in files):

  * a GatewayClass `sluice` (controllerName `sluice.dev/gateway-controller`) and, in
    namespace `bench-gw`, the Gateway `bench` of that class: one listener `web`, HTTP, port
    80, no hostname, `allowedRoutes.namespaces.from: All`. sluice-proxy in --manifests mode
    serves the Gateway named by --gateway and does not read GatewayClasses (it ignores the
    object); the class is there so that the file also applies to a cluster as it is;
  * NAMESPACES namespaces, bench-0 .. bench-N;
  * SERVICES Services spread evenly over them, each with one port `http` (80) and one
    EndpointSlice publishing the upstream (UPSTREAM_IP:UPSTREAM_PORT) as its ready endpoint
    (as gen-ingresses.py writes them);
  * ROUTES HTTPRoutes attached to the Gateway, spread round-robin over the namespaces.
    Route i, `app-<i>`, has hostname `app-<i>.bench.example` and two rules, to Services of
    its namespace:
      - PathPrefix `/` and header `x-tenant: t<i>`                   -> svc-s
      - PathPrefix `/api`, header `x-tenant: t<i>` and query `v=<i>` -> svc-(s+1)
    Its creationTimestamp is a fixed instant plus i seconds, so route i is older than
    route i+1: among matches of equal specificity the older route goes first (Gateway API
    precedence), and route ROUTES-1 is tried last.

`--shared-host` puts every route on ONE hostname, `shared.bench.example`, with the same
rules: the routes then differ only by the header value (and query value), and the matches
of a path are all candidates of that one host and path, tried in precedence order. A
request carrying `x-tenant: t<ROUTES-1>` is the worst case for per-request matching.

So `--routes 1 --services 1 --namespaces 1` is the one-route manifest: host
`app-0.bench.example`, header `x-tenant: t0`, namespace `bench-0`, Service `svc-0`.

`--probe HOST` adds one more HTTPRoute, `probe` in `bench-0`, routing HOST (every path, no
header needed) to `svc-0`: the reload measurement writes the base file plus a probe and
waits until HOST is routed.

Writes atomically (a temporary file beside the target, then a rename), as a
config-management tool would.
"""

import argparse
import datetime
import os
import sys

GATEWAY_NAMESPACE = "bench-gw"
GATEWAY_NAME = "bench"
SHARED_HOST = "shared.bench.example"
HEADER = "x-tenant"
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def gateway() -> str:
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: sluice
spec:
  controllerName: sluice.dev/gateway-controller
---
apiVersion: v1
kind: Namespace
metadata:
  name: {GATEWAY_NAMESPACE}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: {GATEWAY_NAME}
  namespace: {GATEWAY_NAMESPACE}
spec:
  gatewayClassName: sluice
  listeners:
  - name: web
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
"""


def namespace(name: str) -> str:
    return f"""---
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
"""


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


def rule(prefix: str, service_name: str, header: str = None, query: tuple = None) -> str:
    text = f"""  - matches:
    - path:
        type: PathPrefix
        value: {prefix}
"""
    if header is not None:
        text += f"""      headers:
      - name: {HEADER}
        value: {header}
"""
    if query is not None:
        text += f"""      queryParams:
      - name: {query[0]}
        value: "{query[1]}"
"""
    return (
        text
        + f"""    backendRefs:
    - name: {service_name}
      port: 80
"""
    )


def http_route(namespace: str, name: str, host: str, created: int, rules: list) -> str:
    stamp = (EPOCH + datetime.timedelta(seconds=created)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {namespace}
  creationTimestamp: "{stamp}"
spec:
  parentRefs:
  - name: {GATEWAY_NAME}
    namespace: {GATEWAY_NAMESPACE}
  hostnames:
  - {host}
  rules:
"""
        + "".join(rules)
    )


def probe(host: str) -> str:
    """The extra HTTPRoute of the reload measurement (also imported by bench/routes.sh)."""
    return http_route("bench-0", "probe", host, 0, [rule("/", "svc-0")])


def generate(routes: int, services: int, namespaces: int, ip: str, port: int, shared_host: bool) -> str:
    if namespaces < 1 or services < namespaces or routes < 1:
        raise ValueError("need routes >= 1 and services >= namespaces >= 1")
    per_namespace = services // namespaces  # Services in each namespace
    parts = [gateway()]
    for n in range(namespaces):
        parts.append(namespace(f"bench-{n}"))
        for s in range(per_namespace):
            parts.append(service(f"bench-{n}", f"svc-{s}", ip, port))
    for i in range(routes):
        n = i % namespaces
        s = (i // namespaces) % per_namespace
        host = SHARED_HOST if shared_host else f"app-{i}.bench.example"
        rules = [
            rule("/", f"svc-{s}", header=f"t{i}"),
            rule("/api", f"svc-{(s + 1) % per_namespace}", header=f"t{i}", query=("v", str(i))),
        ]
        parts.append(http_route(f"bench-{n}", f"app-{i}", host, i, rules))
    return "".join(parts)


def write_atomically(out: str, text: str) -> None:
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--services", type=int, default=300)
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--upstream-ip", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument(
        "--shared-host",
        action="store_true",
        help=f"every route on {SHARED_HOST}, differing only by the {HEADER} value",
    )
    ap.add_argument("--probe", metavar="HOST", help="add an HTTPRoute routing HOST to bench-0/svc-0")
    ap.add_argument("--out", required=True, help="the manifest file to write")
    args = ap.parse_args()
    try:
        text = generate(
            args.routes, args.services, args.namespaces, args.upstream_ip, args.upstream_port, args.shared_host
        )
    except ValueError as e:
        print(f"gen-httproutes: {e}", file=sys.stderr)
        return 2
    if args.probe:
        text += probe(args.probe)
    write_atomically(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
