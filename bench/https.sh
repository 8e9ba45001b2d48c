#!/usr/bin/env bash
# HTTPS and HTTP/2 through sluice-proxy beside nginx configured the same way, on loopback, in
# interleaved rounds (issue 19). Behind both: the small nginx upstream of the other benchmarks
# (`return 200 "ok"`, one worker), over kept-alive HTTP/1.1. The cases:
#
#   h2 c64 m10   HTTP/2 over TLS: h2load -c 64 -m 10 -t 1 (640 requests in flight)
#   h2 c1 m100   HTTP/2 over TLS: h2load -c 1 -m 100 -t 1 (one connection, 100 streams)
#   h1 TLS       HTTP/1.1 over TLS: wrk -t1 -c64
#   h1 plain     HTTP/1.1: wrk -t1 -c64
#   grpc         gRPC unary calls over TLS: h2load -c 64 -m 10 -t 1 POSTing an empty
#                grpc.health.v1.Health/Check to grpc.bench.example, proxied to a gRPC
#                backend (tonic, one thread: the sluice-bench-grpc binary) by nginx's
#                grpc_pass and by an Ingress with backend-protocol GRPC
#   h1 plain, 2  HTTP/1.1: wrk -t1 -c64 against nginx with 2 workers and sluice-proxy
#                --threads 2 (BENCH_TWO=1 only: on a 2-core machine the load generator and
#                the upstream share the proxy's cores, so the figure says little)
#
# against each of: nginx 1 worker with `keepalive 128` to the upstream (bench/proxy.sh's
# setting), nginx with `keepalive 1024` (enough idle connections for 640 requests in
# flight: with 128, nginx opens and closes upstream connections under HTTP/2 load), and
# sluice-proxy --threads 1. TLS: one self-signed P-256 certificate for app-0.bench.example
# and grpc.bench.example,
# TLS 1.2 and 1.3 offered (both clients settle on TLS 1.3, AES-128-GCM). h2load sends SNI
# (the URL's host, connecting to 127.0.0.1); wrk connects to 127.0.0.1 with a Host header,
# and sluice-proxy answers it with --default-cert, the same certificate.
#
# Each row gives requests/s, p50 and p99 latency (h2load's from its per-request log), the
# mean, and the proxy's CPU time per request. Rounds are interleaved (round 1: every case
# against every proxy, round 2: ...); the tables give the median of the rounds, and the
# ratio sluice / nginx of the medians.
#
# Usage: bench/https.sh      (about 8 minutes with the defaults, once sluice-proxy is built)
#
# Environment (all optional):
#   BENCH_ROUNDS=3         interleaved rounds
#   BENCH_DURATION=5       seconds of each measured run
#   BENCH_WARMUP=1         seconds of warm-up before each measured run (not recorded)
#   BENCH_TWO=0            1: add the 2-worker / 2-thread plain HTTP/1.1 case
#   BENCH_CASES="h2 c64 m10,h2 c1 m100,h1 TLS,h1 plain,grpc"   the cases to run (comma-separated)
#   SLUICE_PROXY_BIN=PATH  benchmark this binary instead of building target/release/sluice-proxy
#   BENCH_BEFORE_BIN=PATH  also benchmark this sluice-proxy binary ("sluice-before"), in the
#                          same rounds: a before/after comparison
#
# Installs nginx, wrk and h2load (nghttp2-client) with apt-get if they are missing. Writes the
# results to stdout and to target/bench/https-results.md; logs stay in a temp dir only if a
# step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
HELP="$BENCH/helpers.py"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
TWO=${BENCH_TWO:-0}
OUT_DIR="$ROOT/target/bench"
RESULTS="$OUT_DIR/https-results.md"
HOST=app-0.bench.example
GRPC_HOST=grpc.bench.example
GRPC_PATH=/grpc.health.v1.Health/Check

BENCH_NAME=https
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

if ! command -v h2load >/dev/null; then
    log "installing nghttp2-client (h2load) with apt-get"
    apt-get install -y -qq nghttp2-client >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; } ||
        die "apt-get install nghttp2-client failed"
fi
command -v openssl >/dev/null || die "openssl is required (the test certificate)"
log "building the gRPC backend (sluice-bench-grpc)"
(cd "$ROOT" && cargo build -q --release --bin sluice-bench-grpc) || die "cannot build sluice-bench-grpc"
GRPC_SERVER="$ROOT/target/release/sluice-bench-grpc"

# ---------------------------------------------------------------------------- servers

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj "/CN=$HOST" \
    -addext "subjectAltName=DNS:$HOST,DNS:$GRPC_HOST" 2>/dev/null ||
    die "openssl could not make a certificate"

read -r UP GRPC N1 N1T N2 N2T S1 S1T S1A W1 W1T S2 S2T S2A B1 B1T B1A <<<"$(python3 "$HELP" free-ports 17 | tr '\n' ' ')"

start_nginx() { # NAME TEMPLATE PORT TLS_PORT WORKERS KEEPALIVE -> sets LAST_PID
    local name=$1 conf="$TMP/$1.conf"
    mkdir -p "$TMP/$name-tmp"
    sed -e "s|@DIR@|$TMP|g" -e "s|@NAME@|$name|g" -e "s|@PORT@|$3|g" -e "s|@TLS_PORT@|$4|g" \
        -e "s|@WORKERS@|$5|g" -e "s|@KEEPALIVE@|$6|g" -e "s|@UPSTREAM_PORT@|$UP|g" -e "s|@GRPC_PORT@|$GRPC|g" \
        -e "s|@CERT@|$TMP/cert.pem|g" -e "s|@KEY@|$TMP/key.pem|g" "$2" >"$conf"
    "$NGINX" -t -q -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" >"$TMP/$name.log" 2>&1 ||
        die "nginx rejected $conf: $(cat "$TMP/$name.log")"
    "$NGINX" -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    python3 "$HELP" wait-ready "http://127.0.0.1:$3/" --pid "$LAST_PID" --timeout 30 >/dev/null ||
        die "$name did not become ready: $(tail -n 20 "$TMP/$name.log")"
}

start_sluice() { # NAME HTTP_PORT HTTPS_PORT ADMIN_PORT THREADS [BINARY] -> sets LAST_PID
    local name=$1
    "${6:-$PROXY}" --manifests "$TMP/one.yaml" --http-addr "127.0.0.1:$2" --https-addr "127.0.0.1:$3" \
        --admin-addr "127.0.0.1:$4" --threads "$5" --grace-period 1s --no-access-log \
        --default-cert "$TMP/cert.pem" --default-key "$TMP/key.pem" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    python3 "$HELP" wait-ready "http://127.0.0.1:$4/readyz" --pid "$LAST_PID" --timeout 60 >/dev/null ||
        die "$name did not become ready: $(tail -n 20 "$TMP/$name.log")"
}

# The upstream (bench/proxy.sh's), then the proxies.
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$UP|g" "$BENCH/nginx-upstream.conf.template" >"$TMP/upstream.conf"
mkdir -p "$TMP/upstream-tmp"
"$NGINX" -p "$TMP" -c "$TMP/upstream.conf" -e "$TMP/upstream-error.log" >"$TMP/upstream.log" 2>&1 &
PIDS+=("$!")
python3 "$HELP" wait-ready "http://127.0.0.1:$UP/" --pid "$!" --timeout 30 >/dev/null ||
    die "the upstream did not become ready"
"$GRPC_SERVER" "127.0.0.1:$GRPC" >"$TMP/grpc.log" 2>&1 &
PIDS+=("$!")
python3 "$BENCH/gen-ingresses.py" --ingresses 1 --services 1 --namespaces 1 --upstream-port "$UP" \
    --grpc-port "$GRPC" --tls "$TMP/cert.pem" "$TMP/key.pem" --out "$TMP/one.yaml"
# A unary call's body: no compression, a message of 0 bytes (an empty HealthCheckRequest).
printf '\0\0\0\0\0' >"$TMP/grpc-request.bin"

TEMPLATE="$BENCH/nginx-https-proxy.conf.template"
declare -A PID PLAIN TLS
start_nginx nginx-128 "$TEMPLATE" "$N1" "$N1T" 1 128
PID[nginx-128]=$LAST_PID PLAIN[nginx-128]=$N1 TLS[nginx-128]=$N1T
start_nginx nginx-1024 "$TEMPLATE" "$N2" "$N2T" 1 1024
PID[nginx-1024]=$LAST_PID PLAIN[nginx-1024]=$N2 TLS[nginx-1024]=$N2T
start_sluice sluice "$S1" "$S1T" "$S1A" 1
PID[sluice]=$LAST_PID PLAIN[sluice]=$S1 TLS[sluice]=$S1T
PROXIES=(nginx-128 nginx-1024 sluice)
if [[ -n ${BENCH_BEFORE_BIN:-} ]]; then
    [[ -x $BENCH_BEFORE_BIN ]] || die "BENCH_BEFORE_BIN=$BENCH_BEFORE_BIN is not an executable file"
    start_sluice sluice-before "$B1" "$B1T" "$B1A" 1 "$BENCH_BEFORE_BIN"
    PID[sluice-before]=$LAST_PID PLAIN[sluice-before]=$B1 TLS[sluice-before]=$B1T
    PROXIES+=(sluice-before)
fi
if ((TWO)); then
    start_nginx nginx-2w "$TEMPLATE" "$W1" "$W1T" 2 128
    PID[nginx-2w]=$LAST_PID PLAIN[nginx-2w]=$W1 TLS[nginx-2w]=$W1T
    start_sluice sluice-2t "$S2" "$S2T" "$S2A" 2
    PID[sluice-2t]=$LAST_PID PLAIN[sluice-2t]=$S2 TLS[sluice-2t]=$S2T
fi

# Every proxy answers 200 over each protocol before anything is measured.
for p in "${!PID[@]}"; do
    code=$(curl -s -H "Host: $HOST" -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PLAIN[$p]}/") ||
        die "curl to $p in the clear failed"
    [[ $code == 200 ]] || die "$p answered $code in the clear"
    for proto in --http1.1 --http2; do
        code=$(curl -sk "$proto" --resolve "$HOST:${TLS[$p]}:127.0.0.1" -o /dev/null -w '%{http_code}' \
            "https://$HOST:${TLS[$p]}/") || die "curl $proto to $p failed"
        [[ $code == 200 ]] || die "$p answered $code over $proto"
    done
    status=$(curl -sk --http2 --resolve "$GRPC_HOST:${TLS[$p]}:127.0.0.1" -o /dev/null \
        -H 'content-type: application/grpc' -H 'te: trailers' --data-binary "@$TMP/grpc-request.bin" \
        -w '%{http_code} %{size_download}' "https://$GRPC_HOST:${TLS[$p]}$GRPC_PATH") ||
        die "the gRPC call through $p failed"
    # 7 bytes: the 5-byte prefix and a HealthCheckResponse saying SERVING (grpc-status comes
    # as a trailer, which curl does not show).
    [[ $status == "200 7" ]] || die "the gRPC call through $p answered $status (status, bytes)"
done

# ---------------------------------------------------------------------------- runs

TICK=$(getconf CLK_TCK)
RUNS="$TMP/runs.tsv" # case, proxy, round, requests/s, p50, p99, mean, requests, non-2xx, errors, CPU µs/request

# run CASE PROXY ROUND: warm-up, then the measured run; appends to $RUNS.
run() {
    local case=$1 proxy=$2 round=$3 pid=${PID[$2]} out="$TMP/out" h2log="$TMP/h2.log" t0 t1 s
    local tls_url="https://$HOST:${TLS[$2]}/" ip_tls="https://127.0.0.1:${TLS[$2]}/" plain="http://127.0.0.1:${PLAIN[$2]}/"
    local h2=(h2load -t 1 --connect-to "127.0.0.1:${TLS[$2]}")
    local wrk=(wrk -t1 -c64 -H "Host: $HOST" --latency)
    case $case in
    "h2 c64 m10") h2+=(-c 64 -m 10) ;;
    "h2 c1 m100") h2+=(-c 1 -m 100) ;;
    grpc)
        h2+=(-c 64 -m 10 -d "$TMP/grpc-request.bin" -H "content-type: application/grpc" -H "te: trailers")
        tls_url="https://$GRPC_HOST:${TLS[$2]}$GRPC_PATH"
        ;;
    esac
    case $case in
    h2* | grpc)
        "${h2[@]}" -D "$WARMUP" "$tls_url" >/dev/null 2>&1 || die "h2load warm-up against $proxy failed"
        read -r -a t0 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
        "${h2[@]}" -D "$DURATION" --log-file "$h2log" "$tls_url" >"$out" 2>&1 ||
            die "h2load against $proxy failed: $(tail -n 5 "$out")"
        read -r -a t1 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
        read -r -a s <<<"$(python3 "$HELP" h2load-summary "$out" "$h2log")" || die "cannot read $out"
        ;;
    *)
        local url=$plain
        [[ $case == "h1 TLS" ]] && url=$ip_tls
        "${wrk[@]}" -d"${WARMUP}s" "$url" >/dev/null || die "wrk warm-up against $proxy failed"
        read -r -a t0 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
        "${wrk[@]}" -d"${DURATION}s" "$url" >"$out" || die "wrk against $proxy failed: $(cat "$out")"
        read -r -a t1 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
        read -r -a s <<<"$(python3 "$HELP" wrk-summary "$out")" || die "cannot read $out"
        s+=("—") # h2load-summary's 7th figure, the mean: wrk gives none worth having
        ;;
    esac
    local cpu
    cpu=$(awk -v a=$((t1[0] + t1[1] - t0[0] - t0[1])) -v hz="$TICK" -v n="${s[3]}" \
        'BEGIN { printf "%.1f", a * 1e6 / hz / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$proxy" "$round" \
        "${s[0]}" "${s[1]}" "${s[2]}" "${s[6]}" "${s[3]}" "${s[4]}" "${s[5]}" "$cpu" >>"$RUNS"
    ((s[4] == 0 && s[5] == 0)) || log "warning: $case against $proxy: ${s[4]} non-2xx, ${s[5]} errors"
    log "$case, $proxy, round $round: ${s[0]} requests/s, p99 ${s[2]} ms, $cpu µs CPU/request"
}

IFS=, read -r -a CASES <<<"${BENCH_CASES:-h2 c64 m10,h2 c1 m100,h1 TLS,h1 plain,grpc}"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= ROUNDS; round++)); do
    for c in "${CASES[@]}"; do
        for p in "${PROXIES[@]}"; do run "$c" "$p" "$round"; done
    done
    if ((TWO)); then
        for p in nginx-2w sluice-2t; do run "h1 plain" "$p" "$round"; done
    fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------- report

mkdir -p "$OUT_DIR"
{
    echo "### HTTPS and HTTP/2 benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), shared by the load generator, the proxy and the upstream; load average $LOAD_START at the start, $LOAD_END at the end"
    [[ -z ${BENCH_BEFORE_BIN:-} ]] || echo "- sluice-before: $BENCH_BEFORE_BIN"
    echo "- sluice-proxy: $PROXY_ORIGIN; $($NGINX -v 2>&1 | sed 's/^nginx version: //'); $(h2load --version 2>&1 | head -n1); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- $ROUNDS interleaved rounds of ${DURATION} s (after ${WARMUP} s of warm-up); medians of the rounds"
    echo
    python3 - "$RUNS" <<'PY'
import statistics
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
cases, proxies = [], []
for r in rows:
    if r[0] not in cases:
        cases.append(r[0])
    if r[1] not in proxies:
        proxies.append(r[1])

def med(case, proxy, i):
    vals = [float(r[i]) for r in rows if r[0] == case and r[1] == proxy and r[i] != "—"]
    return statistics.median(vals) if vals else None

def fmt(v, spec):
    return "—" if v is None else format(v, spec)

print("| case | proxy | requests/s | p50 (ms) | p99 (ms) | mean (ms) | proxy CPU per request (µs) | requests/s vs nginx-128 | vs nginx-1024 | non-2xx / errors |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for case in cases:
    for proxy in proxies:
        rps = med(case, proxy, 3)
        if rps is None:
            continue
        # A sluice-proxy against nginx with as many workers as it has threads.
        two = proxy == "sluice-2t"
        ratios = ["—", "—"]
        if proxy.startswith("sluice"):
            for j, nginx in enumerate(["nginx-2w", None] if two else ["nginx-128", "nginx-1024"]):
                base = med(case, nginx, 3) if nginx else None
                ratios[j] = fmt(rps / base if base else None, ".2f")
        bad = sum(int(r[8]) for r in rows if r[0] == case and r[1] == proxy)
        err = sum(int(r[9]) for r in rows if r[0] == case and r[1] == proxy)
        print(f"| {case} | {proxy} | {rps:,.0f} | {fmt(med(case, proxy, 4), '.2f')} | "
              f"{fmt(med(case, proxy, 5), '.2f')} | {fmt(med(case, proxy, 6), '.2f')} | "
              f"{fmt(med(case, proxy, 10), '.1f')} | {ratios[0]} | {ratios[1]} | {bad} / {err} |")
print()
print("Every run (requests/s, p99 ms, mean ms, CPU µs per request):")
print()
for case in cases:
    for proxy in proxies:
        runs = [r for r in rows if r[0] == case and r[1] == proxy]
        if runs:
            print(f"- {case}, {proxy}: " + "; ".join(f"{float(r[3]):,.0f}, {r[5]}, {r[6]}, {r[10]}" for r in runs))
PY
    echo
    echo "Total run time of bench/https.sh: ${SECONDS} s."
} >"$RESULTS"

echo
cat "$RESULTS"
log "results written to ${RESULTS#"$ROOT"/}"
