#!/usr/bin/env bash
# The cost of each annotation feature on its own (issue 14, "Performance"), on loopback:
# one manifest with one host per feature, all to the same small nginx upstream
# (`return 200 "ok"`, one worker), served by three sluice-proxy processes (release build):
#
#   t1      --threads 1                  every case of the fast path (and of Pingora's, for
#                                        rules that are served there: affinity, canary)
#   t1-pg   --threads 1 --no-fast-path   the plain host through Pingora: the baseline of the
#                                        rules Pingora serves
#   t2      --threads 2                  plain, basic auth and the rate limit again, to show
#                                        that two threads do not contend on a shared lock
#
# Cases (docs/benchmarks.md, "Annotation features: cost per feature", explains them):
#   plain.bench         no annotation: the baseline
#   regex.bench         use-regex, 20 realistic expressions, the request matching the 12th
#   rewrite.bench       rewrite-target /$2 on /app(/|$)(.*)
#   basic.bench         auth-type basic, a bcrypt (cost 10) user: the right password (its
#                       verification remembered) and a wrong one (bcrypt on every request)
#   limited.bench       limit-rps 1000000 (never reached: the limiter's bookkeeping)
#   limited-low.bench   limit-rps 100 (wrk goes far over it: mostly 503s)
#   cors.bench          enable-cors with a list of origins, the request with an allowed Origin
#   sticky.bench        affinity cookie, the request carrying its cookie (Pingora's path)
#   canary.bench        a canary Ingress taking 50 % by weight (Pingora's path)
#
# Every case is checked with one request before it is measured (status, and the header the
# feature adds); the script fails if a case does not answer as it should. Rounds are
# interleaved (round 1: every case, round 2: every case, ...) so that a busy neighbour
# weighs on all cases alike; the table gives the median of the rounds per case, and each
# case's ratio to its baseline (plain on the same proxy, or plain through Pingora).
#
# Usage: bench/features.sh     (about 6 minutes with the defaults, once sluice-proxy is built)
#
# Environment (all optional):
#   BENCH_ROUNDS=3         interleaved rounds
#   BENCH_DURATION=5       seconds of each measured wrk run
#   BENCH_WARMUP=1         seconds of wrk warm-up before each measured run (not recorded)
#   BENCH_CONNECTIONS=64   wrk connections (the wrong-password case uses 8: see below)
#   SLUICE_PROXY_BIN=PATH  benchmark this binary instead of building target/release/sluice-proxy
#
# Installs nginx and wrk with apt-get if they are missing. Writes the results to stdout and
# to target/bench/features-results.md (medians, then every run); logs stay in a temp dir
# only if a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
HELP="$BENCH/helpers.py"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
OUT_DIR="$ROOT/target/bench"
RESULTS="$OUT_DIR/features-results.md"

# The basic-auth user. The hash is data, generated once (cost 10) with Python's bcrypt 5.0:
#   python3 -c 'import bcrypt; print(bcrypt.hashpw(b"bench-password", bcrypt.gensalt(10)).decode())'
# (`htpasswd -nbB -C 10 bench bench-password` makes an equivalent `$2y$` line.)
BASIC_USER=bench
BASIC_PASSWORD=bench-password
BASIC_HASH='$2b$10$f8/Cf7VdJM9slLEqrxyohewYE0KGn4YFKdB4JRXHopw75H6J0dqFK'

BENCH_NAME=features
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

# interruptible COMMAND...: as in bench/proxy.sh, so that Ctrl-C stops a long wrk at once.
interruptible() {
    local pid rc=0 keep=() p
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return "$rc"
}

start_upstream() { # PORT -> UP_PID
    local conf="$TMP/upstream.conf"
    mkdir -p "$TMP/upstream-tmp"
    sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$1|g" "$BENCH/nginx-upstream.conf.template" >"$conf"
    "$NGINX" -p "$TMP" -c "$conf" -e "$TMP/upstream-error.log" >"$TMP/upstream.log" 2>&1 &
    UP_PID=$!
    PIDS+=("$UP_PID")
    python3 "$HELP" wait-ready "http://127.0.0.1:$1/" --pid "$UP_PID" --timeout 30 >/dev/null ||
        die "the nginx upstream did not start: $(cat "$TMP/upstream.log" "$TMP/upstream-error.log" 2>/dev/null)"
}

# Each proxy writes its access log (on, as by default) to a file opened for appending, which
# the run empties after every case: millions of lines would otherwise fill the disk (about
# 300 bytes a request, 3 GB over five rounds).
start_sluice() { # NAME HTTP_PORT ADMIN_PORT [EXTRA_ARGS...] -> LAST_PID
    local name=$1 http=$2 admin=$3
    shift 3
    "$PROXY" --manifests "$TMP/features.yaml" --http-addr "127.0.0.1:$http" --https-addr off \
        --admin-addr "127.0.0.1:$admin" --grace-period 1s "$@" >>"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    python3 "$HELP" wait-ready "http://127.0.0.1:$admin/readyz" --pid "$LAST_PID" --timeout 60 >/dev/null ||
        die "$name did not become ready; its log: $(tail -n 20 "$TMP/$name.log")"
}

# ---------------------------------------------------------------------------- the manifest

# write_manifest UPSTREAM_PORT: one Service (and a second for the canary) publishing the
# upstream, the basic-auth Secret, and one Ingress per case.
write_manifest() {
    local up=$1
    {
        for svc in svc-0 svc-1; do
            cat <<EOF
---
apiVersion: v1
kind: Service
metadata: { name: $svc, namespace: bench }
spec:
  ports: [{ name: http, port: 80, targetPort: $up }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-1
  namespace: bench
  labels: { kubernetes.io/service-name: $svc }
addressType: IPv4
ports: [{ name: http, port: $up, protocol: TCP }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
EOF
        done
        cat <<EOF
---
apiVersion: v1
kind: Secret
metadata: { name: basic-auth, namespace: bench }
type: Opaque
stringData:
  auth: '$BASIC_USER:$BASIC_HASH'
EOF
        # ingress NAME HOST ANNOTATIONS(yaml lines, indented 4) PATHS(one per line: path type service)
        ingress() {
            printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: bench\n' "$1"
            [[ -z $3 ]] || printf '  annotations:\n%s\n' "$3"
            printf 'spec:\n  ingressClassName: sluice\n  rules:\n  - host: %s\n    http:\n      paths:\n' "$2"
            local p t s
            while read -r p t s; do
                [[ -n $p ]] || continue
                printf "      - path: '%s'\n        pathType: %s\n        backend: { service: { name: %s, port: { number: 80 } } }\n" "$p" "$t" "$s"
            done <<<"$4"
        }
        ingress plain plain.bench "" "/ Prefix svc-0"
        # Twenty expressions of the kind an API gateway host carries; the request
        # (/api/v2/items/widgets) matches `/api/v[0-9]+/items/[a-z]+`, which comes 12th of the
        # 20 in the order they are tried (longest text first). One pass of a RegexSet tries
        # them all, so where the matching one comes makes no difference to the cost.
        ingress regex regex.bench "    nginx.ingress.kubernetes.io/use-regex: \"true\"" "$(
            for p in \
                '/api/v[0-9]+/orders/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' \
                '/api/v[0-9]+/users/[0-9]+/orders/[0-9]+$' \
                '/api/v[0-9]+/users/[0-9]+/orders$' \
                '/api/v[0-9]+/products/[a-z0-9-]+/reviews' \
                '/images/[0-9]+x[0-9]+/.+\.(png|jpe?g|webp)$' \
                '/api/v[0-9]+/cart/(add|remove|checkout)' \
                '/api/v[0-9]+/items/[a-z]+/[0-9]+$' \
                '/api/v[0-9]+/products/[a-z0-9-]+$' \
                '/api/v[0-9]+/users/[0-9]+$' \
                '/(de|en|fr|it)/shop/[a-z-]+' \
                '/api/v[0-9]+/search$' \
                '/api/v[0-9]+/items/[a-z]+' \
                '/auth/(login|logout|callback)' \
                '/static/.+\.(css|js|map)$' \
                '/api/v[0-9]+/users$' \
                '/docs/[a-z0-9-]+/?$' \
                '/healthz?$' \
                '/metrics$' \
                '/admin/.*' \
                '/feed\.xml$'; do
                echo "$p ImplementationSpecific svc-0"
            done
        )"
        ingress rewrite rewrite.bench "    nginx.ingress.kubernetes.io/rewrite-target: /\$2" \
            "/app(/|\$)(.*) ImplementationSpecific svc-0"
        ingress basic basic.bench "    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: basic-auth
    nginx.ingress.kubernetes.io/auth-realm: \"bench\"" "/ Prefix svc-0"
        ingress limited limited.bench "    nginx.ingress.kubernetes.io/limit-rps: \"1000000\"" "/ Prefix svc-0"
        ingress limited-low limited-low.bench "    nginx.ingress.kubernetes.io/limit-rps: \"100\"" "/ Prefix svc-0"
        ingress cors cors.bench "    nginx.ingress.kubernetes.io/enable-cors: \"true\"
    nginx.ingress.kubernetes.io/cors-allow-origin: \"https://app.example.com, https://*.example.org\"" \
            "/ Prefix svc-0"
        ingress sticky sticky.bench "    nginx.ingress.kubernetes.io/affinity: cookie" "/ Prefix svc-0"
        ingress canary-primary canary.bench "" "/ Prefix svc-0"
        ingress canary canary.bench "    nginx.ingress.kubernetes.io/canary: \"true\"
    nginx.ingress.kubernetes.io/canary-weight: \"50\"" "/ Prefix svc-1"
    } >"$TMP/features.yaml"
}

# ---------------------------------------------------------------------------- the cases

# One case: KEY; its label, proxy (t1, t1-pg, t2), baseline case, host, path, expected
# status, headers (newline-separated), headers the answer must carry, wrk connections and
# timeout, and warm-up seconds.
CASES=()
declare -A LABEL PROXY_OF BASE HOST_OF PATH_OF EXPECT HEADERS WANT CONNS WTIMEOUT WARM
add_case() { # KEY LABEL PROXY BASE HOST PATH EXPECT HEADERS WANT
    CASES+=("$1")
    LABEL[$1]=$2 PROXY_OF[$1]=$3 BASE[$1]=$4 HOST_OF[$1]=$5 PATH_OF[$1]=$6 EXPECT[$1]=$7
    HEADERS[$1]=$8 WANT[$1]=$9 CONNS[$1]=$CONNECTIONS WTIMEOUT[$1]=2s WARM[$1]=$WARMUP
}
BASIC_RIGHT="Authorization: Basic $(printf '%s:%s' "$BASIC_USER" "$BASIC_PASSWORD" | base64)"
BASIC_WRONG="Authorization: Basic $(printf '%s:%s' "$BASIC_USER" "not-the-password" | base64)"
ORIGIN="Origin: https://app.example.com"

add_case plain "plain (no annotation)" t1 plain plain.bench / 200 "" ""
add_case regex "use-regex, 20 expressions" t1 plain regex.bench /api/v2/items/widgets 200 "" ""
add_case rewrite "rewrite-target /\$2" t1 plain rewrite.bench /app/catalog/item-42 200 "" ""
add_case basic "basic auth, bcrypt, right password (remembered)" t1 plain basic.bench / 200 "$BASIC_RIGHT" ""
add_case basic-wrong "basic auth, bcrypt, wrong password (8 connections)" t1 plain basic.bench / 401 "$BASIC_WRONG" "www-authenticate"
CONNS[basic-wrong]=8 WTIMEOUT[basic-wrong]=10s WARM[basic-wrong]=0
add_case limited "limit-rps 1000000 (never reached)" t1 plain limited.bench / 200 "" ""
add_case limited-low "limit-rps 100 (exceeded: 503s)" t1 plain limited-low.bench / 200 "" ""
add_case cors "enable-cors, list of origins, allowed Origin" t1 plain cors.bench / 200 "$ORIGIN" "access-control-allow-origin"
add_case plain-pg "plain, through Pingora (--no-fast-path)" t1-pg plain-pg plain.bench / 200 "" ""
add_case sticky "affinity cookie, cookie sent (Pingora's path)" t1 plain-pg sticky.bench / 200 "" ""
add_case canary "canary-weight 50 (Pingora's path)" t1 plain-pg canary.bench / 200 "" ""
add_case plain-t2 "plain, --threads 2" t2 plain-t2 plain.bench / 200 "" ""
add_case basic-t2 "basic auth, right password, --threads 2" t2 plain-t2 basic.bench / 200 "$BASIC_RIGHT" ""
add_case limited-t2 "limit-rps 1000000, --threads 2" t2 plain-t2 limited.bench / 200 "" ""

# ---------------------------------------------------------------------------- run

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$HELP" other-snapshot $$ "$TMP/others-run"
RUN_START=$SECONDS
log "temp dir $TMP; proxy $PROXY_ORIGIN; load average $LOAD_START"
read -r UP T1_HTTP T1_ADMIN PG_HTTP PG_ADMIN T2_HTTP T2_ADMIN <<<"$(python3 "$HELP" free-ports 7 | tr '\n' ' ')"
start_upstream "$UP"
write_manifest "$UP"
declare -A PORT PID
start_sluice t1 "$T1_HTTP" "$T1_ADMIN" --threads 1
PORT[t1]=$T1_HTTP PID[t1]=$LAST_PID
start_sluice t1-pg "$PG_HTTP" "$PG_ADMIN" --threads 1 --no-fast-path
PORT[t1-pg]=$PG_HTTP PID[t1-pg]=$LAST_PID
start_sluice t2 "$T2_HTTP" "$T2_ADMIN" --threads 2
PORT[t2]=$T2_HTTP PID[t2]=$LAST_PID

# No route may be missing or refused: a problem reported for the manifest fails the run.
routes=$(curl -sf "http://127.0.0.1:$T1_ADMIN/routes") || die "cannot read /routes"
python3 - "$routes" <<'PY' || die "the manifest did not compile as intended (routes above)"
import json, sys
doc = json.loads(sys.argv[1])
text = json.dumps(doc)
problems = doc.get("problems") if isinstance(doc, dict) else None
if problems:
    print(json.dumps(problems, indent=1), file=sys.stderr)
    sys.exit(1)
for host in ("plain", "regex", "rewrite", "basic", "limited", "limited-low", "cors", "sticky", "canary"):
    if f"{host}.bench" not in text:
        print(f"{host}.bench is not in /routes", file=sys.stderr)
        sys.exit(1)
PY

# The sticky case sends the cookie a first request gets, as a browser would; a request with
# it must get no new cookie (its endpoint is the one it names).
cookie=$(python3 "$HELP" probe "127.0.0.1:$T1_HTTP" --host sticky.bench --print-header set-cookie) ||
    die "sticky.bench set no affinity cookie"
HEADERS[sticky]="Cookie: ${cookie%%;*}"
WANT_ABSENT_sticky=set-cookie

# check KEY: one request as wrk will send it; fails loudly unless it answers as intended.
check() {
    local key=$1 args=() h
    while IFS= read -r h; do [[ -z $h ]] || args+=(--header "$h"); done <<<"${HEADERS[$key]}"
    [[ -z ${WANT[$key]} ]] || args+=(--want-header "${WANT[$key]}")
    [[ $key != sticky ]] || args+=(--no-header "$WANT_ABSENT_sticky")
    python3 "$HELP" probe "127.0.0.1:${PORT[${PROXY_OF[$key]}]}" --host "${HOST_OF[$key]}" \
        --path "${PATH_OF[$key]}" --expect "${EXPECT[$key]}" "${args[@]}" >/dev/null ||
        die "case ${LABEL[$key]} does not answer as intended; nothing measured would mean anything"
}
for key in "${CASES[@]}"; do check "$key"; done
# Over its limit, limited-low answers 503, cheaply: check that it does.
python3 - "127.0.0.1:$T1_HTTP" <<'PY' || die "limited-low.bench never answered 503"
import http.client, sys
h, p = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(h, int(p), timeout=10)
for _ in range(700):
    c.request("GET", "/", headers={"Host": "limited-low.bench"})
    r = c.getresponse(); r.read()
    if r.status == 503:
        sys.exit(0)
sys.exit(1)
PY
log "every case answers as intended"

TICK=$(getconf CLK_TCK)
RAW="$TMP/runs.tsv"
: >"$RAW"

# settle PID: wait (at most 15 s) until the proxy is idle, e.g. done with the bcrypt checks
# of requests wrk gave up on, so the next case does not pay for them.
settle() {
    local a b i
    for ((i = 0; i < 75; i++)); do
        read -r -a a <<<"$(python3 "$HELP" cpu-ticks "$1")"
        sleep 0.2
        read -r -a b <<<"$(python3 "$HELP" cpu-ticks "$1")"
        ((b[0] + b[1] - a[0] - a[1] > 2)) || return 0
    done
}

measure() { # KEY ROUND
    local key=$1 round=$2 proxy pid url args=() h out t0 t1 s o0 o1 others
    proxy=${PROXY_OF[$key]}
    pid=${PID[$proxy]}
    url="http://127.0.0.1:${PORT[$proxy]}${PATH_OF[$key]}"
    args=(-t1 -c"${CONNS[$key]}" --timeout "${WTIMEOUT[$key]}" -H "Host: ${HOST_OF[$key]}")
    while IFS= read -r h; do [[ -z $h ]] || args+=(-H "$h"); done <<<"${HEADERS[$key]}"
    log "round $round: ${LABEL[$key]}"
    if [[ ${WARM[$key]} != 0 ]]; then
        interruptible wrk "${args[@]}" -d"${WARM[$key]}s" "$url" >/dev/null || die "wrk warm-up of $key failed"
    fi
    out="$TMP/wrk-$key-$round.txt"
    python3 "$HELP" other-snapshot $$ "$TMP/others-case"
    o0=$EPOCHREALTIME
    read -r -a t0 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    interruptible wrk "${args[@]}" -d"${DURATION}s" --latency "$url" >"$out" || die "wrk of $key failed: $(cat "$out")"
    read -r -a t1 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    others=$(python3 "$HELP" other-since $$ "$TMP/others-case")
    o1=$EPOCHREALTIME
    read -r -a s < <(python3 "$HELP" wrk-summary "$out") || die "cannot read $out"
    # s: requests/s, p50 ms, p99 ms, requests, non-2xx, socket errors
    awk -v OFS='\t' -v key="$key" -v label="${LABEL[$key]}" -v by="$proxy" -v base="${BASE[$key]}" \
        -v round="$round" -v rps="${s[0]}" -v p50="${s[1]}" -v p99="${s[2]}" -v n="${s[3]}" \
        -v non2xx="${s[4]}" -v errs="${s[5]}" -v u=$((t1[0] - t0[0])) -v k=$((t1[1] - t0[1])) \
        -v hz="$TICK" -v others="$others" -v w="$(awk -v a="$o0" -v b="$o1" 'BEGIN { print b - a }')" \
        'BEGIN { f = 1e6 / hz / n; print key, label, by, base, round, rps, p50, p99,
                 (u + k) * f, u * f, k * f, n, non2xx, errs, sprintf("%.0f", 100 * others / hz / w) }' >>"$RAW"
    if [[ $key == basic-wrong ]]; then settle "$pid"; fi
    : >"$TMP/$proxy.log" # the access log of this case: see start_sluice
}

for ((round = 1; round <= ROUNDS; round++)); do
    for key in "${CASES[@]}"; do measure "$key" "$round"; done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_RUN=$(awk -v d="$(python3 "$HELP" other-since $$ "$TMP/others-run")" -v hz="$TICK" -v t=$((SECONDS - RUN_START)) \
    'BEGIN { printf "%.0f %%", 100 * d / hz / t }')
served_by() {
    case $1 in
    t1) echo "sluice-proxy --threads 1" ;;
    t1-pg) echo "sluice-proxy --threads 1 --no-fast-path" ;;
    t2) echo "sluice-proxy --threads 2" ;;
    esac
}

# ---------------------------------------------------------------------------- report

mkdir -p "$OUT_DIR"
{
    echo "### sluice-proxy, cost per annotation feature, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), shared by wrk, the proxies and the upstream; load average (1/5/15 min) $LOAD_START at the start, $LOAD_END at the end; processes outside the benchmark used at least $OTHER_RUN of one core over the run"
    echo "- sluice-proxy: $PROXY_ORIGIN; $($NGINX -v 2>&1 | sed 's/^nginx version: //') upstream (1 worker, \`return 200 \"ok\"\`); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- wrk: 1 thread, $CONNECTIONS keep-alive connections (8 for the wrong password, with a 10 s timeout), ${DURATION} s measured after ${WARMUP} s warm-up; $ROUNDS interleaved rounds; medians of the rounds"
    echo
    python3 "$HELP" feature-table "$RAW" |
        sed -e "s/| t1-pg |/| $(served_by t1-pg) |/" -e "s/| t1 |/| $(served_by t1) |/" -e "s/| t2 |/| $(served_by t2) |/"
    echo
    echo "Every run:"
    echo
    echo "| round | case | requests/s | p50 (ms) | p99 (ms) | proxy CPU per request, µs | non-2xx | socket errors | other processes' CPU, at least (of one core) |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %.1f | %s | %s | %s %% |\n", $5, $2, $6, $7, $8, $9, $13, $14, $15 }' "$RAW"
    echo
    echo "Total run time of bench/features.sh: ${SECONDS} s."
} >"$RESULTS"

echo
cat "$RESULTS"
log "results written to ${RESULTS#"$ROOT"/}"
