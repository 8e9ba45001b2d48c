#!/usr/bin/env bash
# Benchmarks sluice-proxy on loopback, all in one run (docs/benchmarks.md explains the cases):
#
#   1. throughput and latency with wrk (1 thread, 64 keep-alive connections), the same small
#      nginx upstream (`return 200 "ok"`, one worker) behind every case:
#        upstream direct | nginx (Debian's, one worker) as reverse proxy | sluice-proxy --threads 1
#      and sluice-proxy again with 10,000 Ingresses loaded;
#   2. sluice-proxy's RSS with one Ingress and with 10,000 generated ones, the route table
#      compile time at 10,000 (from /metrics), the start-up time, and the time from an atomic
#      rewrite of the manifest file to a new host being routed.
#
# HTTPS over HTTP/1.1 and HTTP/2, and gRPC, beside nginx configured the same way, in
# interleaved rounds: bench/https.sh.
#
# The machine is small and may be shared, so each wrk row also gives the proxy's CPU time per
# request (less sensitive to contention than requests/s) and a lower bound of the CPU that
# processes outside the benchmark used meanwhile (a busy neighbour makes the row suspect).
#
# Usage: bench/proxy.sh            (from anywhere; about 65 s once sluice-proxy is built)
#
# Environment (all optional):
#   BENCH_DURATION=10      seconds of each measured wrk run
#   BENCH_WARMUP=2         seconds of wrk warm-up before each measured run (not recorded)
#   BENCH_CONNECTIONS=64   wrk connections
#   BENCH_INGRESSES=10000  Ingresses in the scale case
#   BENCH_SERVICES=300     Services (each with an EndpointSlice) in the scale case
#   BENCH_RELOAD_TRIALS=5  rewrites timed per reload measurement
#   SLUICE_PROXY_BIN=PATH  benchmark this binary instead of building target/release/sluice-proxy
#
# Installs nginx and wrk with apt-get if they are missing. Writes the results table to
# stdout and to target/bench/proxy-results.md; logs stay in a temp dir only if a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
HELP="$BENCH/helpers.py"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
INGRESSES=${BENCH_INGRESSES:-10000}
SERVICES=${BENCH_SERVICES:-300}
RELOAD_TRIALS=${BENCH_RELOAD_TRIALS:-5}
OUT_DIR="$ROOT/target/bench"
RESULTS="$OUT_DIR/proxy-results.md"
HOST_HEADER=app-0.bench.example   # the one-route manifest's host; sent in every wrk case

BENCH_NAME=proxy
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

wait_ready() { # NAME PID URL [TIMEOUT]
    python3 "$HELP" wait-ready "$3" --pid "$2" --timeout "${4:-30}" >/dev/null ||
        die "$1 did not become ready; its log: $(tail -n 20 "$TMP/$1.log" 2>/dev/null)"
}

start_nginx() { # NAME TEMPLATE PORT UPSTREAM_PORT -> sets LAST_PID
    local name=$1 conf="$TMP/$1.conf"
    mkdir -p "$TMP/$name-tmp"
    sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM_PORT@|$4|g" "$2" >"$conf"
    "$NGINX" -t -q -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" >"$TMP/$name.log" 2>&1 ||
        die "nginx rejected $conf: $(cat "$TMP/$name.log")"
    "$NGINX" -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_ready "$name" "$LAST_PID" "http://127.0.0.1:$3/"
}

start_sluice() { # NAME MANIFEST HTTP_PORT ADMIN_PORT [EXTRA_ARGS...] -> sets LAST_PID, READY_S
    local since name=$1 manifest=$2 http=$3 admin=$4
    shift 4
    since=$(python3 -c 'import time; print(time.time())')
    "$PROXY" --manifests "$manifest" --http-addr "127.0.0.1:$http" --https-addr off \
        --admin-addr "127.0.0.1:$admin" --threads 1 --grace-period 1s "$@" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    READY_S=$(python3 "$HELP" wait-ready "http://127.0.0.1:$admin/readyz" --pid "$LAST_PID" \
        --timeout 120 --since "$since") ||
        die "$name did not become ready; its log: $(tail -n 20 "$TMP/$name.log")"
}

# interruptible COMMAND...: runs a long command in the background and waits for it, so that
# Ctrl-C or SIGTERM stop the run at once (bash runs traps only between foreground commands,
# but interrupts `wait`); the cleanup stops the command too.
interruptible() {
    local pid rc=0
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    unlist "$pid" # reaped: its number may belong to someone else from now on
    return "$rc"
}

unlist() { # drop PID from PIDS
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

forget() { # stop PID (a child not yet reaped) and drop it from PIDS
    stop "$1"
    unlist "$1"
}

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; } # PID VmRSS|VmHWM
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

expect_routed() { # HOST:PORT HOSTHEADER
    local code
    code=$(python3 "$HELP" status "$1" "$2") || die "GET / Host: $2 on $1 failed"
    [[ $code == 200 ]] || die "GET / Host: $2 on $1 answered $code, not 200"
}

# ---------------------------------------------------------------------------- wrk

TICK=$(getconf CLK_TCK)
ROWS=()
pct() { awk -v d="$1" -v hz="$TICK" -v t="$2" 'BEGIN { printf "%.0f %%", 100 * d / hz / t }'; } # TICKS SECONDS

# bench_case LABEL PORT [PROXY_PID]: warm-up, then the measured run; appends a table row.
bench_case() {
    local label=$1 port=$2 pid=${3:-} url="http://127.0.0.1:$2/" out t0 t1 w0 w1 o0 o1 window others_window others s cpu_pct cpu_req other
    log "wrk: $label"
    interruptible wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -H "Host: $HOST_HEADER" "$url" >/dev/null ||
        die "wrk warm-up against $label failed"
    out="$TMP/wrk-$port.txt"
    python3 "$HELP" other-snapshot $$ "$TMP/others-case"
    o0=$EPOCHREALTIME
    [[ -z $pid ]] || read -r -a t0 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    w0=$EPOCHREALTIME
    interruptible wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Host: $HOST_HEADER" "$url" >"$out" ||
        die "wrk against $label failed: $(cat "$out")"
    w1=$EPOCHREALTIME
    [[ -z $pid ]] || read -r -a t1 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    others=$(python3 "$HELP" other-since $$ "$TMP/others-case")
    o1=$EPOCHREALTIME
    secs() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
    window=$(secs "$w0" "$w1")       # about when the proxy's ticks were read
    others_window=$(secs "$o0" "$o1") # about when the other processes' ticks were read
    read -r -a s < <(python3 "$HELP" wrk-summary "$out") || die "cannot read $out"
    # s: requests/s, p50 ms, p99 ms, requests, non-2xx, socket errors
    if [[ -n $pid ]]; then
        cpu_pct=$(pct $((t1[0] + t1[1] - t0[0] - t0[1])) "$window")
        cpu_req=$(awk -v u=$((t1[0] - t0[0])) -v k=$((t1[1] - t0[1])) -v hz="$TICK" -v n="${s[3]}" \
            'BEGIN { f = 1e6 / hz / n; printf "%.0f = %.0f + %.0f", (u + k) * f, u * f, k * f }')
    else
        cpu_pct="—" cpu_req="—"
    fi
    other=$(pct "$others" "$others_window")
    ROWS+=("| $label | ${s[0]} | ${s[1]} | ${s[2]} | $cpu_pct | $cpu_req | $other | ${s[4]} / ${s[5]} |")
    ((s[4] == 0 && s[5] == 0)) || log "warning: $label had ${s[4]} non-2xx responses and ${s[5]} socket errors"
}

# ---------------------------------------------------------------------------- run

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$HELP" other-snapshot $$ "$TMP/others-run"
RUN_START=$SECONDS
log "temp dir $TMP; proxy $PROXY_ORIGIN; load average $LOAD_START"
read -r UP NGX S1_HTTP S1_ADMIN S2_HTTP S2_ADMIN T_HTTP T_ADMIN SINK Q_HTTP Q_ADMIN <<<"$(python3 "$HELP" free-ports 11 | tr '\n' ' ')"

start_nginx upstream "$BENCH/nginx-upstream.conf.template" "$UP" 0
UP_PID=$LAST_PID
start_nginx nginx "$BENCH/nginx-proxy.conf.template" "$NGX" "$UP"
NGX_PID=$LAST_PID

# One route.
python3 "$BENCH/gen-ingresses.py" --ingresses 1 --services 1 --namespaces 1 \
    --upstream-port "$UP" --out "$TMP/one.yaml"
start_sluice sluice-one "$TMP/one.yaml" "$S1_HTTP" "$S1_ADMIN"
S1_PID=$LAST_PID
expect_routed "127.0.0.1:$S1_HTTP" "$HOST_HEADER"
RSS_ONE_IDLE=$(kib "$S1_PID" VmRSS)

bench_case "upstream direct (nginx \`return 200\`)" "$UP"
bench_case "nginx reverse proxy, 1 worker" "$NGX" "$NGX_PID"
bench_case "sluice-proxy --threads 1, 1 Ingress" "$S1_HTTP" "$S1_PID"
RSS_ONE_LOADED=$(kib "$S1_PID" VmRSS)

# The access log's cost: the same proxy with it off, in rounds interleaved with it on (the
# default, each line written to the proxy's log file, as a container runtime would).
start_sluice sluice-quiet "$TMP/one.yaml" "$Q_HTTP" "$Q_ADMIN" --no-access-log
Q_PID=$LAST_PID
expect_routed "127.0.0.1:$Q_HTTP" "$HOST_HEADER"
for round in 1 2; do
    bench_case "sluice-proxy --threads 1, 1 Ingress, access log off (round $round)" "$Q_HTTP" "$Q_PID"
    bench_case "sluice-proxy --threads 1, 1 Ingress, access log on (round $round)" "$S1_HTTP" "$S1_PID"
done
forget "$Q_PID"

log "reload: $RELOAD_TRIALS rewrites of the one-route manifest"
interruptible python3 "$HELP" reload-probe --manifest "$TMP/one.yaml" \
    --proxy "127.0.0.1:$S1_HTTP" --trials "$RELOAD_TRIALS" >"$TMP/reload-one.txt" ||
    die "reload probe (one route) failed"
RELOAD_ONE=$(<"$TMP/reload-one.txt")
forget "$S1_PID"
forget "$NGX_PID"

# Tracing: the same route with spans exported over OTLP/HTTP to a sink that accepts them.
python3 "$BENCH/otlp-sink.py" "$SINK" >"$TMP/sink.out" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
for ratio in 0.01 1; do
    start_sluice "sluice-traced-$ratio" "$TMP/one.yaml" "$T_HTTP" "$T_ADMIN" \
        --otlp-endpoint "http://127.0.0.1:$SINK" --otlp-protocol http-protobuf --trace-sampling-ratio "$ratio"
    T_PID=$LAST_PID
    expect_routed "127.0.0.1:$T_HTTP" "$HOST_HEADER"
    bench_case "sluice-proxy --threads 1, 1 Ingress, tracing, $(awk -v r="$ratio" 'BEGIN { print r * 100 }') % sampled" "$T_HTTP" "$T_PID"
    forget "$T_PID"
done
forget "$SINK_PID"

# Many Ingresses.
log "generating $INGRESSES Ingresses over $SERVICES Services"
interruptible python3 "$BENCH/gen-ingresses.py" --ingresses "$INGRESSES" --services "$SERVICES" \
    --upstream-port "$UP" --out "$TMP/many.yaml"
MANY_BYTES=$(stat -c %s "$TMP/many.yaml")
start_sluice sluice-many "$TMP/many.yaml" "$S2_HTTP" "$S2_ADMIN"
S2_PID=$LAST_PID
READY_MANY=$READY_S
RSS_MANY=$(kib "$S2_PID" VmRSS)
METRICS="http://127.0.0.1:$S2_ADMIN/metrics"
m() { python3 "$HELP" metric "$METRICS" "$1" || die "cannot read $1 from $METRICS"; }
LOADED_INGRESSES=$(m sluice_proxy_ingresses)
LOADED_ROUTES=$(m sluice_proxy_routes)
RELOAD_SUM=$(m sluice_proxy_route_reload_duration_seconds_sum)
RELOAD_COUNT=$(m sluice_proxy_route_reload_duration_seconds_count)
[[ ${LOADED_INGRESSES%.*} == "$INGRESSES" ]] ||
    die "sluice-proxy reports $LOADED_INGRESSES Ingresses, not $INGRESSES; see $TMP/sluice-many.log"
last=$((INGRESSES - 1))
expect_routed "127.0.0.1:$S2_HTTP" "app-$last.bench.example"

HOST_HEADER="app-$((INGRESSES / 2)).bench.example"
bench_case "sluice-proxy --threads 1, $INGRESSES Ingresses" "$S2_HTTP" "$S2_PID"

log "reload: $RELOAD_TRIALS rewrites of the $INGRESSES-Ingress manifest"
interruptible python3 "$HELP" reload-probe --manifest "$TMP/many.yaml" \
    --proxy "127.0.0.1:$S2_HTTP" --trials "$RELOAD_TRIALS" --timeout 60 >"$TMP/reload-many.txt" ||
    die "reload probe ($INGRESSES Ingresses) failed"
RELOAD_MANY=$(<"$TMP/reload-many.txt")
RELOAD_SUM2=$(m sluice_proxy_route_reload_duration_seconds_sum)
RELOAD_COUNT2=$(m sluice_proxy_route_reload_duration_seconds_count)
HWM_MANY=$(kib "$S2_PID" VmHWM)
RSS_MANY_AFTER=$(kib "$S2_PID" VmRSS)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_RUN=$(pct "$(python3 "$HELP" other-since $$ "$TMP/others-run")" $((SECONDS - RUN_START)))

# ---------------------------------------------------------------------------- report

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f ms", 1000 * s / n }'; }

mkdir -p "$OUT_DIR"
{
    echo "### sluice-proxy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}"), kernel $(uname -r), shared by wrk, the proxy and the upstream; load average (1/5/15 min) $LOAD_START at the start, $LOAD_END at the end; processes outside the benchmark used at least $OTHER_RUN of one core over the run"
    echo "- sluice-proxy: $PROXY_ORIGIN; $($NGINX -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- wrk: 1 thread, $CONNECTIONS keep-alive connections, ${DURATION} s measured after ${WARMUP} s warm-up, header \`Host: app-N.bench.example\`; upstream: nginx, 1 worker, \`return 200 \"ok\"\`"
    echo
    echo "| case | requests/s | p50 (ms) | p99 (ms) | proxy CPU (of one core) | proxy CPU per request, µs (user + system) | other processes' CPU, at least (of one core) | non-2xx / socket errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| sluice-proxy, memory and reload | value |"
    echo "| --- | ---: |"
    echo "| RSS, 1 Ingress, idle after ready | $(mib "$RSS_ONE_IDLE") |"
    echo "| RSS, 1 Ingress, after the wrk run | $(mib "$RSS_ONE_LOADED") |"
    echo "| RSS, $INGRESSES Ingresses ($LOADED_ROUTES routes, $SERVICES Services, $((MANY_BYTES / 1024)) KiB of YAML), after ready | $(mib "$RSS_MANY") |"
    echo "| RSS, $INGRESSES Ingresses, after wrk and $RELOAD_TRIALS reloads (peak VmHWM) | $(mib "$RSS_MANY_AFTER") ($(mib "$HWM_MANY")) |"
    echo "| start to /readyz 200, $INGRESSES Ingresses | $(awk -v s="$READY_MANY" 'BEGIN { printf "%.2f s", s }') |"
    echo "| route table compile, $INGRESSES Ingresses, initial load (histogram sum/count, $RELOAD_COUNT reload) | $(ms "$RELOAD_SUM" "$RELOAD_COUNT") |"
    echo "| route table compile, $INGRESSES Ingresses, mean of the $(awk -v a="$RELOAD_COUNT2" -v b="$RELOAD_COUNT" 'BEGIN { print a - b }') reloads after rewrites | $(ms "$(awk -v a="$RELOAD_SUM2" -v b="$RELOAD_SUM" 'BEGIN { print a - b }')" "$(awk -v a="$RELOAD_COUNT2" -v b="$RELOAD_COUNT" 'BEGIN { print a - b }')") |"
    echo "| file rewrite (rename) → new host routed, 1 Ingress: median (all, ms) | $(median <<<"$RELOAD_ONE") ms ($RELOAD_ONE) |"
    echo "| file rewrite (rename) → new host routed, $INGRESSES Ingresses: median (all, ms) | $(median <<<"$RELOAD_MANY") ms ($RELOAD_MANY) |"
    echo
    echo "Total run time of bench/proxy.sh: ${SECONDS} s."
} >"$RESULTS"

echo
cat "$RESULTS"
log "results written to ${RESULTS#"$ROOT"/}"
