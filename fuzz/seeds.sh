#!/usr/bin/env bash
# Writes the committed seed corpus, fuzz/corpus/<target>/: a handful of small, meaningful
# inputs per target. Run it again after changing a seed here; what the fuzzer grows goes to
# fuzz/target/corpus/ instead (see run.sh) and is not committed.
set -euo pipefail
cd "$(dirname "$0")"

corpus=corpus
rm -rf "$corpus"
mkdir -p "$corpus"/{h1_request_head,h1_response_head,chunked_body,admission_review,manifests}

# seed TARGET NAME FORMAT [ARGS...]: printf FORMAT into corpus/TARGET/NAME.
seed() {
    local target=$1 name=$2
    shift 2
    # shellcheck disable=SC2059
    printf "$@" >"$corpus/$target/$name"
}

# --- h1_request_head: what clients send ---------------------------------------------------
r=h1_request_head
seed $r get-plain 'GET /a/b?q=1 HTTP/1.1\r\nHost: app.example.com:8080\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n'
seed $r post-length 'POST /api/items HTTP/1.1\r\nHost: app.example.com\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"name":"x"}\n'
seed $r pipelined 'GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
seed $r forwarding 'GET /p HTTP/1.1\r\nhost: a.example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX_Forwarded_For: 7.7.7.7\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nAccept: text/plain\r\n\r\n'
seed $r trace-and-id 'GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\nX-Request-Id: second\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\ntracestate: k=v\r\nReferer: https://a/\r\n\r\n'
seed $r chunked 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed $r length-and-chunked 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed $r upgrade 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
seed $r expect 'PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
seed $r connection-option 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n'
seed $r http10 'GET / HTTP/1.0\r\n\r\n'
seed $r absolute-form 'GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n'
seed $r ipv6-host 'HEAD /x HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n'
seed $r two-hosts 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
seed $r bad-target 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'
seed $r lf-only 'DELETE /x HTTP/1.1\nHost: a\nContent-Length: 0\n\n'
seed $r partial 'GET /slow HTTP/1.1\r\nHost: a\r\nAcc'

# --- h1_response_head: what upstreams answer ----------------------------------------------
r=h1_response_head
seed $r length 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'
seed $r chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed $r gzip-chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n'
seed $r chunked-not-last 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'
seed $r until-close 'HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody'
seed $r no-content 'HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n'
seed $r not-modified 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'
seed $r interim 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'
seed $r switching 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
seed $r hop-by-hop 'HTTP/1.1 200 Fine Thanks\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nContent-Length: 2\r\nX-App: yes\r\n\r\nok'
seed $r close 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
seed $r two-lengths 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'
seed $r no-reason 'HTTP/1.1 502\r\nContent-Length: 0\r\n\r\n'
seed $r partial 'HTTP/1.1 200 OK\r\nContent-'
# A Connection naming the framing headers (the first crash; see response.rs's tests).
seed $r connection-names-length 'HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello'
seed $r connection-names-encoding 'HTTP/1.1 200 OK\r\nConnection: keep-alive, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n'

# --- chunked_body: two bytes choosing a split point, then the body --------------------------
r=chunked_body
seed $r simple '\003\0005\r\nhello\r\n0\r\n\r\n'
seed $r extensions '\011\0005\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n'
seed $r size-spaces '\002\000A \t;ext\r\n0123456789\r\n0 \r\n\r\n'
seed $r pipelined '\005\0002\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n'
seed $r trailers '\000\0000\r\nx: 1\r\ny: 2\r\n\r\n'
seed $r unfinished '\001\0005\r\nhel'
seed $r huge-size '\004\000fffffffffffffff\r\n'
seed $r bare-lf '\001\0005\nhello\r\n0\r\n\r\n'

# --- admission_review: what the API server posts --------------------------------------------
r=admission_review
review() {
    local name=$1 operation=$2 object=$3 old=${4:-null}
    seed $r "$name" '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":{"group":"networking.k8s.io","version":"v1","kind":"Ingress"},"resource":{"group":"networking.k8s.io","version":"v1","resource":"ingresses"},"namespace":"shop","name":"api-v2","operation":"%s","userInfo":{"username":"alice","groups":["system:authenticated"]},"object":%s,"oldObject":%s,"dryRun":false}}' \
        "$operation" "$object" "$old"
}
ingress() { # ingress CLASS HOST PATH PATHTYPE [EXTRA-SPEC]
    printf '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"api-v2","annotations":{"nginx.ingress.kubernetes.io/rewrite-target":"/","sluice.dev/connect-timeout":"5s"}},"spec":{"ingressClassName":%s,"rules":[{"host":%s,"http":{"paths":[{"path":"%s","pathType":"%s","backend":{"service":{"name":"api","port":{"number":80}}}}]}}]%s}}' \
        "$1" "$2" "$3" "$4" "${5:-}"
}
review create-conflict CREATE "$(ingress '"sluice"' '"app.example.com"' /api Prefix)"
review create-default-class CREATE "$(ingress null '"new.example.com"' / Prefix ',"tls":[{"hosts":["new.example.com","nowhere.example.com"]}]')"
review create-wildcard CREATE "$(ingress '"sluice"' '"*.example.com"' '/(.*)' ImplementationSpecific)"
review create-any-host CREATE "$(ingress '"internal"' null / Exact ',"defaultBackend":{"resource":{"apiGroup":"k8s.example","kind":"Bucket","name":"b"}}')"
review create-other-class CREATE "$(ingress '"nginx"' '"app.example.com"' /api Prefix)"
review update-holder UPDATE \
    '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"api-v1","namespace":"shop","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"ingressClassName":"sluice","rules":[{"host":"app.example.com","http":{"paths":[{"path":"/api","pathType":"Prefix","backend":{"service":{"name":"svc","port":{"name":"http"}}}},{"path":"/api","pathType":"Prefix","backend":{"service":{"name":"svc","port":{"number":81,"name":"x"}}}}]}}]}}' \
    '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"api-v1","namespace":"shop"},"spec":{"ingressClassName":"sluice"}}'
review delete DELETE null '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"api-v1","namespace":"shop"}}'
seed $r no-request '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}'

# --- manifests: files the proxy reads without a cluster -------------------------------------
r=manifests
cat >"$corpus/$r/ingress-service-slice.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: sluice }
spec: { controller: sluice.dev/ingress-controller }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  annotations: { sluice.dev/ssl-redirect: "false", sluice.dev/read-timeout: "30s" }
spec:
  ingressClassName: sluice
  tls: [{ hosts: [app.example.com], secretName: app-tls }]
  defaultBackend: { service: { name: web, port: { number: 80 } } }
  rules:
  - host: app.example.com
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
      - { path: /api, pathType: Exact, backend: { service: { name: api, port: { name: http } } } }
  - host: "*.example.com"
    http:
      paths:
      - { path: /, pathType: ImplementationSpecific, backend: { service: { name: web, port: { number: 80 } } } }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
- { addresses: [10.0.0.1], conditions: { ready: true } }
- { addresses: [10.0.0.2], conditions: { ready: false } }
---
EOF
cat >"$corpus/$r/list.json" <<'EOF'
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"shop"},"spec":{"ports":[{"name":"http","port":80,"targetPort":"web"}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"api","namespace":"shop","creationTimestamp":"2025-01-01T00:00:00Z"},
  "spec":{"rules":[{"host":"api.example.com","http":{"paths":[{"path":"/v1/","pathType":"Prefix","backend":{"service":{"name":"api","port":{"name":"http"}}}}]}}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"late","namespace":"shop","creationTimestamp":"2025-02-01T00:00:00Z"},
  "spec":{"ingressClassName":"sluice","rules":[{"host":"api.example.com","http":{"paths":[{"path":"/v1","pathType":"Prefix","backend":{"service":{"name":"api","port":{"number":80}}}}]}}]}}
]}
EOF
cat >"$corpus/$r/secret-and-others.yaml" <<'EOF'
apiVersion: v1
kind: Secret
metadata: { name: app-tls, namespace: default }
type: kubernetes.io/tls
data: { tls.crt: bm90IGEgY2VydA==, tls.key: bm90IGEga2V5 }
stringData: { extra: "x" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ignored }
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: { name: old }
EOF
cat >"$corpus/$r/anchors.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: anchored, namespace: a }
spec:
  ingressClassName: sluice
  rules:
  - &rule
    host: a.example.com
    http: { paths: [ &p { path: /x, pathType: Prefix, backend: { service: { name: s, port: { number: 1 } } } } ] }
  - *rule
  - host: b.example.com
    http: { paths: [ *p ] }
EOF
printf 'kind: Service\n' >"$corpus/$r/no-api-version.yaml"

du -sh "$corpus"
