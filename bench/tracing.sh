#!/usr/bin/env bash
# What tracing costs sluice-proxy per request, counted in CPU instructions rather than timed:
# the proxy runs under Valgrind's callgrind, which counts every instruction the process
# executes (all its threads, the span exporter's included), so the figure does not move with
# whatever else the machine is doing. Three cases on the same route and upstream:
#   tracing off (no --otlp-endpoint) | OTLP endpoint, 1 % sampled | OTLP endpoint, 100 % sampled
# Spans go over OTLP/HTTP to bench/otlp-sink.py, which accepts and discards them.
#
# Usage: bench/tracing.sh            (about 2 minutes once sluice-proxy is built)
# Environment (optional):
#   BENCH_REQUESTS=3000    measured requests per case (after 300 warm-up requests)
#   SLUICE_PROXY_BIN=PATH  measure this binary instead of target/release/sluice-proxy
#   BENCH_KEEP=1           keep the temp dir with the callgrind profiles (off.cg.1, one.cg.1,
#                          all.cg.1) to read with callgrind_annotate
#
# Installs valgrind and nginx with apt-get if missing. Prints a Markdown table and writes it
# to target/bench/tracing-results.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
HELP="$BENCH/helpers.py"
REQUESTS=${BENCH_REQUESTS:-3000}
WARMUP=300
HOST_HEADER=app-0.bench.example
OUT="$ROOT/target/bench/tracing-results.md"

log() { printf '[tracing %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf 'bench/tracing.sh: error: %s\n' "$*" >&2
    exit 1
}

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
if ((${#need[@]})); then
    log "installing ${need[*]} with apt-get"
    apt-get install -y -qq "${need[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; } ||
        die "could not install ${need[*]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

PROXY=${SLUICE_PROXY_BIN:-$ROOT/target/release/sluice-proxy}
if [[ -z ${SLUICE_PROXY_BIN:-} ]]; then
    log "building sluice-proxy in release mode (if out of date)"
    (cd "$ROOT" && cargo build -q --release -p sluice-proxy) || die "cargo build failed"
fi
[[ -x $PROXY ]] || die "$PROXY is not an executable file"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tracing.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((rc == 0)) && [[ -z ${BENCH_KEEP:-} ]]; then
        rm -rf "$TMP"
    else
        printf 'bench/tracing.sh: logs and profiles kept in %s\n' "$TMP" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r UP HTTP ADMIN SINK <<<"$(python3 "$HELP" free-ports 4 | tr '\n' ' ')"
mkdir -p "$TMP/upstream-tmp"
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$UP|g" "$BENCH/nginx-upstream.conf.template" >"$TMP/upstream.conf"
"$NGINX" -p "$TMP" -c "$TMP/upstream.conf" -e "$TMP/upstream-error.log" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
python3 "$HELP" wait-ready "http://127.0.0.1:$UP/" --pid "${PIDS[-1]}" >/dev/null || die "the upstream did not start"
python3 "$BENCH/otlp-sink.py" "$SINK" >"$TMP/sink.out" 2>&1 &
PIDS+=($!)
python3 "$BENCH/gen-ingresses.py" --ingresses 1 --services 1 --namespaces 1 \
    --upstream-port "$UP" --out "$TMP/one.yaml"

# measure NAME [PROXY ARGS...]: prints the instructions per request of the measured requests.
measure() {
    local name=$1 pid dump
    shift
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.cg" \
        "$PROXY" --manifests "$TMP/one.yaml" --http-addr "127.0.0.1:$HTTP" --https-addr off \
        --admin-addr "127.0.0.1:$ADMIN" --threads 1 --grace-period 1s "$@" >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    python3 "$HELP" wait-ready "http://127.0.0.1:$ADMIN/readyz" --pid "$pid" --timeout 120 >/dev/null ||
        die "$name did not become ready: $(tail -n 5 "$TMP/$name.log")"
    python3 "$HELP" requests "127.0.0.1:$HTTP" "$HOST_HEADER" "$WARMUP" || die "$name: warm-up failed"
    callgrind_control --zero "$pid" >/dev/null # count from here
    python3 "$HELP" requests "127.0.0.1:$HTTP" "$HOST_HEADER" "$REQUESTS" || die "$name: requests failed"
    # Let the batch exporter (every 500 ms) send what these requests produced: its work counts.
    sleep 2
    callgrind_control --dump "$pid" >/dev/null
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    dump="$TMP/$name.cg.1"
    [[ -s $dump ]] || dump=""
    [[ -n $dump ]] || die "$name: callgrind wrote no dump"
    awk -v n="$REQUESTS" '/^(summary|totals):/ { printf "%.0f\n", $2 / n; exit }' "$dump"
}

log "tracing off"
OFF=$(measure off)
log "1 % sampled"
ONE=$(measure one --otlp-endpoint "http://127.0.0.1:$SINK" --otlp-protocol http-protobuf --trace-sampling-ratio 0.01)
log "100 % sampled"
ALL=$(measure all --otlp-endpoint "http://127.0.0.1:$SINK" --otlp-protocol http-protobuf --trace-sampling-ratio 1)

row() { awk -v l="$1" -v v="$2" -v b="$OFF" 'BEGIN { printf "| %s | %d | %+.1f %% |\n", l, v, 100 * (v - b) / b }'; }
mkdir -p "$(dirname "$OUT")"
{
    echo "### sluice-proxy tracing cost, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$REQUESTS keep-alive HTTP/1.1 requests per case after $WARMUP warm-up, one Ingress, --threads 1; instructions counted by $(valgrind --version) over the whole process."
    echo
    echo "| case | instructions per request | against tracing off |"
    echo "| --- | ---: | ---: |"
    row "tracing off" "$OFF"
    row "OTLP endpoint, 1 % sampled" "$ONE"
    row "OTLP endpoint, 100 % sampled" "$ALL"
} | tee "$OUT"
