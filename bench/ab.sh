#!/usr/bin/env bash
# A/B of two sluice-proxy binaries on loopback, in interleaved rounds (A, B, A, B, ...), so
# that a busy neighbour or a warming machine weighs on both alike. One route, the same
# nginx upstream (`return 200 "ok"`, one worker), wrk with 1 thread and 64 keep-alive
# connections, each proxy --threads 1.
#
# Usage: bench/ab.sh A_BINARY B_BINARY [EXTRA PROXY ARGS...]
#   e.g. bench/ab.sh /tmp/sluice-proxy-before target/release/sluice-proxy
#        bench/ab.sh target/release/sluice-proxy target/release/sluice-proxy --no-access-log
#          (the extra args go to B only)
# Environment: BENCH_ROUNDS=3, BENCH_DURATION=8 (seconds per run), BENCH_WARMUP=2.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELP="$ROOT/bench/helpers.py"
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
A=${1:?usage: bench/ab.sh A_BINARY B_BINARY [B ARGS...]}
B=${2:?usage: bench/ab.sh A_BINARY B_BINARY [B ARGS...]}
shift 2
B_ARGS=("$@")
[[ -x $A && -x $B ]] || { echo "bench/ab.sh: both binaries must be executable" >&2; exit 1; }
command -v wrk >/dev/null && { command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; } || {
    apt-get install -y -qq wrk nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx >/dev/null; }
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-ab.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

read -r UP A_HTTP A_ADMIN B_HTTP B_ADMIN <<<"$(python3 "$HELP" free-ports 5 | tr '\n' ' ')"
mkdir -p "$TMP/upstream-tmp"
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$UP|g" "$ROOT/bench/nginx-upstream.conf.template" >"$TMP/up.conf"
"$NGINX" -p "$TMP" -c "$TMP/up.conf" -e "$TMP/up-error.log" >"$TMP/up.log" 2>&1 &
PIDS+=($!)
python3 "$HELP" wait-ready "http://127.0.0.1:$UP/" --pid "${PIDS[0]}" --timeout 30 >/dev/null
python3 "$ROOT/bench/gen-ingresses.py" --ingresses 1 --services 1 --namespaces 1 \
    --upstream-port "$UP" --out "$TMP/one.yaml"

start() { # BINARY HTTP ADMIN LOG [ARGS...]
    local bin=$1 http=$2 admin=$3 log=$4
    shift 4
    "$bin" --manifests "$TMP/one.yaml" --http-addr "127.0.0.1:$http" --https-addr off \
        --admin-addr "127.0.0.1:$admin" --threads 1 "$@" >"$log" 2>&1 &
    PIDS+=($!)
    python3 "$HELP" wait-ready "http://127.0.0.1:$admin/readyz" --pid "$!" --timeout 60 >/dev/null
}
start "$A" "$A_HTTP" "$A_ADMIN" "$TMP/a.log"
start "$B" "$B_HTTP" "$B_ADMIN" "$TMP/b.log" "${B_ARGS[@]}"

run() { # LABEL PORT
    wrk -t1 -c64 -d"${WARMUP}s" -H "Host: app-0.bench.example" "http://127.0.0.1:$2/" >/dev/null
    wrk -t1 -c64 -d"${DURATION}s" --latency -H "Host: app-0.bench.example" \
        "http://127.0.0.1:$2/" >"$TMP/wrk.txt"
    read -r -a s < <(python3 "$HELP" wrk-summary "$TMP/wrk.txt")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "${s[0]}" "${s[1]}" "${s[2]}" "$3"
}

echo "| run | requests/s | p50 (ms) | p99 (ms) | round |"
echo "| --- | ---: | ---: | ---: | ---: |"
for ((round = 1; round <= ROUNDS; round++)); do
    run "A" "$A_HTTP" "$round"
    run "B" "$B_HTTP" "$round"
done
