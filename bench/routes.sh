#!/usr/bin/env bash
# Compiling and matching many routes, Ingresses against Gateway API HTTPRoutes (issue 13,
# item 5), on loopback, with sluice-proxy --threads 1 (release build) in front of the small
# nginx upstream of the other benchmarks (`return 200 "ok"`, one worker):
#
#   compile   10,000 Ingresses (bench/gen-ingresses.py) and 10,000 HTTPRoutes with header
#             and query matches (bench/gen-httproutes.py), interleaved, a fresh proxy per
#             round: the initial route table compile and the compile after each of
#             BENCH_RELOAD_TRIALS rewrites of the file (from the proxy's
#             sluice_proxy_route_reload_duration_seconds histogram: the time of
#             State::publish, which both modes go through), the time from the rewrite (a
#             rename) to the new host being routed, start to /readyz, and RSS;
#   matching  wrk -t1 -c64 -d5s against
#               (a) 1 route:                       1 Ingress | 1 HTTPRoute
#               (b) the last of 10,000 routes:     Ingress app-9999 | HTTPRoute app-9999
#                   (distinct hosts)
#               (c) --shared-host: 10, 100, 1,000 HTTPRoutes on one host and one path,
#                   differing only by the x-tenant value; the request matches the last in
#                   precedence order (and, for 1,000, also the first)
#             HTTPRoute requests carry `x-tenant: t<i>` (the route's header match); each
#             row also gives the proxy's CPU time per request, the figure least sensitive to
#             a busy neighbour.
#
# Rounds are interleaved (round 1: every case, round 2: every case, ...); the tables give
# the median of the rounds. Every case is checked first (the HTTPRoute requests answer 200
# with the header and 404 without it), so a misrouted case fails the run. Traffic stays on
# 127.0.0.1. The proxies run with --no-access-log (the same for every case: the access
# log's cost is measured in bench/proxy.sh).
#
# Usage: bench/routes.sh     (about 3 minutes with the defaults, once sluice-proxy is built)
#
# Environment (all optional):
#   BENCH_ROUNDS=3          interleaved rounds
#   BENCH_DURATION=5        seconds of each measured wrk run
#   BENCH_WARMUP=1          seconds of wrk warm-up before each measured run (not recorded)
#   BENCH_CONNECTIONS=64    wrk connections
#   BENCH_ROUTES=10000      Ingresses and HTTPRoutes in the scale cases
#   BENCH_SERVICES=300      Services (each with an EndpointSlice) in the scale cases
#   BENCH_SHARED="10 100 1000"  HTTPRoutes on the shared host, one proxy each
#   BENCH_RELOAD_TRIALS=3   rewrites timed per scale case and round
#   SLUICE_PROXY_BIN=PATH   benchmark this binary instead of building target/release/sluice-proxy
#
# Installs nginx and wrk with apt-get if they are missing. Writes the results to stdout and
# to target/bench/routes-results.md (medians, then every run); logs stay in a temp dir only
# if a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
HELP="$BENCH/helpers.py"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
ROUTES=${BENCH_ROUTES:-10000}
SERVICES=${BENCH_SERVICES:-300}
read -r -a SHARED <<<"${BENCH_SHARED:-10 100 1000}"
RELOAD_TRIALS=${BENCH_RELOAD_TRIALS:-3}
OUT_DIR="$ROOT/target/bench"
RESULTS="$OUT_DIR/routes-results.md"
GATEWAY=bench-gw/bench # what gen-httproutes.py writes
LAST=$((ROUTES - 1))

BENCH_NAME=routes
# shellcheck source=bench/common.sh
source "$BENCH/common.sh"

# interruptible COMMAND...: as in bench/proxy.sh, so that Ctrl-C stops a long wrk at once.
interruptible() {
    local pid rc=0
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    unlist "$pid"
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

# start_sluice NAME KIND(ing|hr) MANIFEST -> sets PORT[NAME], ADMIN[NAME], PID[NAME], READY_S
declare -A PORT ADMIN PID
start_sluice() {
    local name=$1 kind=$2 manifest=$3 http admin since args
    read -r http admin <<<"$(python3 "$HELP" free-ports 2 | tr '\n' ' ')"
    args=(--manifests "$manifest" --http-addr "127.0.0.1:$http" --https-addr off
        --admin-addr "127.0.0.1:$admin" --threads 1 --grace-period 1s --no-access-log)
    [[ $kind == ing ]] || args+=(--gateway "$GATEWAY" --gateway-port "80=$http/http")
    since=$(python3 -c 'import time; print(time.time())')
    "$PROXY" "${args[@]}" >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("${PID[$name]}")
    PORT[$name]=$http ADMIN[$name]=$admin
    READY_S=$(python3 "$HELP" wait-ready "http://127.0.0.1:$admin/readyz" --pid "${PID[$name]}" \
        --timeout 120 --since "$since") ||
        die "$name did not become ready; its log: $(tail -n 20 "$TMP/$name.log")"
}

m() { # NAME METRIC
    python3 "$HELP" metric "http://127.0.0.1:${ADMIN[$1]}/metrics" "$2" ||
        die "cannot read $2 from $1's /metrics"
}

# expect NAME HOST STATUS [HEADER]: one GET / on a fresh connection must answer STATUS.
expect() {
    local args=()
    [[ -z ${4:-} ]] || args+=(--header "$4")
    python3 "$HELP" probe "127.0.0.1:${PORT[$1]}" --host "$2" --expect "$3" "${args[@]}" >/dev/null ||
        die "$1: GET / Host: $2 ${4:-} does not answer $3; nothing measured would mean anything"
}

# reload_probe NAME GENERATOR: BENCH_RELOAD_TRIALS times, rewrite the manifest atomically as
# its text plus the generator's probe object for a new host, and poll until that host is
# routed; prints each time in ms (as helpers.py reload-probe, for either generator).
reload_probe() {
    python3 - "$TMP/$1.yaml" "127.0.0.1:${PORT[$1]}" "$RELOAD_TRIALS" "$BENCH/$2" "$HELP" <<'PY'
import importlib.util, os, sys, time
sys.dont_write_bytecode = True
manifest, proxy, trials, generator, helpers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
gen, help = load("gen", generator), load("helpers", helpers)
base = open(manifest).read()
times = []
for k in range(trials):
    host = f"probe-{os.getpid()}-{k}.bench.example"
    if help.status(proxy, host) == 200:
        raise SystemExit(f"{host} is routed before its object was written")
    with open(manifest + ".tmp", "w") as f:
        f.write(base + gen.probe(host))
    started = time.perf_counter()
    os.replace(manifest + ".tmp", manifest)
    while True:
        try:
            if help.status(proxy, host) == 200:
                break
        except OSError:
            pass
        if time.perf_counter() - started > 60:
            raise SystemExit(f"{host} not routed 60 s after the rewrite")
        time.sleep(0.001)
    times.append((time.perf_counter() - started) * 1000)
    time.sleep(0.3)
# Leave the file as it was, for the next round.
with open(manifest + ".tmp", "w") as f:
    f.write(base)
os.replace(manifest + ".tmp", manifest)
print(" ".join(f"{t:.1f}" for t in times))
PY
}

TICK=$(getconf CLK_TCK)
RAW="$TMP/runs.tsv"       # round, case, label, rps, p50, p99, cpu µs/req, requests, non2xx, errors, others %
SCALE="$TMP/scale.tsv"    # round, kind, key, value
: >"$RAW"
: >"$SCALE"

# measure CASE LABEL NAME HOST [HEADER]: warm-up, then the measured wrk run; one line of RAW.
measure() {
    local key=$1 label=$2 name=$3 host=$4 header=${5:-} args out t0 t1 s o0 o1 others pid=${PID[$3]}
    args=(-t1 -c"$CONNECTIONS" -H "Host: $host")
    [[ -z $header ]] || args+=(-H "$header")
    log "round $round: $label"
    interruptible wrk "${args[@]}" -d"${WARMUP}s" "http://127.0.0.1:${PORT[$name]}/" >/dev/null ||
        die "wrk warm-up of $label failed"
    out="$TMP/wrk-$key-$round.txt"
    python3 "$HELP" other-snapshot $$ "$TMP/others-case"
    o0=$EPOCHREALTIME
    read -r -a t0 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    interruptible wrk "${args[@]}" -d"${DURATION}s" --latency "http://127.0.0.1:${PORT[$name]}/" >"$out" ||
        die "wrk of $label failed: $(cat "$out")"
    read -r -a t1 <<<"$(python3 "$HELP" cpu-ticks "$pid")"
    others=$(python3 "$HELP" other-since $$ "$TMP/others-case")
    o1=$EPOCHREALTIME
    read -r -a s < <(python3 "$HELP" wrk-summary "$out") || die "cannot read $out"
    awk -v OFS='\t' -v round="$round" -v key="$key" -v label="$label" -v rps="${s[0]}" -v p50="${s[1]}" \
        -v p99="${s[2]}" -v n="${s[3]}" -v non2xx="${s[4]}" -v errs="${s[5]}" \
        -v u=$((t1[0] - t0[0])) -v k=$((t1[1] - t0[1])) -v hz="$TICK" -v others="$others" \
        -v w="$(awk -v a="$o0" -v b="$o1" 'BEGIN { print b - a }')" \
        'BEGIN { print round, key, label, rps, p50, p99, sprintf("%.1f", (u + k) * 1e6 / hz / n), n, non2xx, errs,
                 sprintf("%.0f", 100 * others / hz / w) }' >>"$RAW"
    ((s[4] == 0 && s[5] == 0)) || log "warning: $label had ${s[4]} non-2xx responses and ${s[5]} socket errors"
}

scale() { printf '%s\t%s\t%s\t%s\n' "$round" "$1" "$2" "$3" >>"$SCALE"; } # KIND KEY VALUE

# scale_case KIND(ing|hr): a fresh proxy on the 10,000-route file: compile, reloads, RSS, and
# the wrk case of its last route.
scale_case() {
    local kind=$1 name="$1-many" loaded sum count sum2 count2 times header="" label gen
    if [[ $kind == ing ]]; then
        label="$ROUTES Ingresses" gen=gen-ingresses.py
    else
        label="$ROUTES HTTPRoutes" gen=gen-httproutes.py header="x-tenant: t$LAST"
    fi
    log "round $round: $label: start, compile, $RELOAD_TRIALS reloads"
    start_sluice "$name" "$kind" "$TMP/$name.yaml"
    scale "$kind" ready_s "$READY_S"
    scale "$kind" rss_kib "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/${PID[$name]}/status")"
    loaded=$(m "$name" sluice_proxy_ingresses)
    [[ ${loaded%.*} == "$ROUTES" ]] || die "$name reports $loaded Ingresses/HTTPRoutes loaded, not $ROUTES"
    scale "$kind" routes "$(m "$name" sluice_proxy_routes)"
    sum=$(m "$name" sluice_proxy_route_reload_duration_seconds_sum)
    count=$(m "$name" sluice_proxy_route_reload_duration_seconds_count)
    scale "$kind" compile_initial_ms "$(awk -v s="$sum" -v n="$count" 'BEGIN { printf "%.1f", 1000 * s / n }')"
    scale "$kind" compile_initial_count "$count"
    expect "$name" "app-$LAST.bench.example" 200 "$header"
    [[ -z $header ]] || expect "$name" "app-$LAST.bench.example" 404 "x-tenant: t0"
    times=$(interruptible reload_probe "$name" "$gen") || die "reload probe of $label failed"
    scale "$kind" rewrite_to_routed_ms "$times"
    sum2=$(m "$name" sluice_proxy_route_reload_duration_seconds_sum)
    count2=$(m "$name" sluice_proxy_route_reload_duration_seconds_count)
    scale "$kind" compile_reload_ms "$(awk -v a="$sum" -v b="$sum2" -v c="$count" -v d="$count2" \
        'BEGIN { printf "%.1f", 1000 * (b - a) / (d - c) }')"
    scale "$kind" compile_reload_count "$(awk -v c="$count" -v d="$count2" 'BEGIN { print d - c }')"
    measure "$kind-last" "$label, distinct hosts: the last (app-$LAST)" "$name" "app-$LAST.bench.example" "$header"
    scale "$kind" hwm_kib "$(awk '$1 == "VmHWM:" { print $2 }' "/proc/${PID[$name]}/status")"
    forget "${PID[$name]}"
}

# ---------------------------------------------------------------------------- run

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$HELP" other-snapshot $$ "$TMP/others-run"
RUN_START=$SECONDS
log "temp dir $TMP; proxy $PROXY_ORIGIN; load average $LOAD_START"
UP=$(python3 "$HELP" free-ports 1)
start_upstream "$UP"

log "generating the manifests"
python3 "$BENCH/gen-ingresses.py" --ingresses 1 --services 1 --namespaces 1 --upstream-port "$UP" --out "$TMP/ing.yaml"
python3 "$BENCH/gen-httproutes.py" --routes 1 --services 1 --namespaces 1 --upstream-port "$UP" --out "$TMP/hr.yaml"
python3 "$BENCH/gen-ingresses.py" --ingresses "$ROUTES" --services "$SERVICES" --upstream-port "$UP" --out "$TMP/ing-many.yaml"
python3 "$BENCH/gen-httproutes.py" --routes "$ROUTES" --services "$SERVICES" --upstream-port "$UP" --out "$TMP/hr-many.yaml"
for n in "${SHARED[@]}"; do
    python3 "$BENCH/gen-httproutes.py" --routes "$n" --services "$SERVICES" --shared-host \
        --upstream-port "$UP" --out "$TMP/shared$n.yaml"
done
BYTES_ING=$(stat -c %s "$TMP/ing-many.yaml")
BYTES_HR=$(stat -c %s "$TMP/hr-many.yaml")

# The small proxies live for the whole run; the scale ones are started afresh every round.
start_sluice ing ing "$TMP/ing.yaml"
expect ing app-0.bench.example 200
start_sluice hr hr "$TMP/hr.yaml"
expect hr app-0.bench.example 200 "x-tenant: t0"
expect hr app-0.bench.example 404
for n in "${SHARED[@]}"; do
    start_sluice "shared$n" hr "$TMP/shared$n.yaml"
    expect "shared$n" shared.bench.example 200 "x-tenant: t$((n - 1))"
    expect "shared$n" shared.bench.example 200 "x-tenant: t0"
    expect "shared$n" shared.bench.example 404 "x-tenant: t$n"
    routes=$(m "shared$n" sluice_proxy_ingresses)
    [[ ${routes%.*} == "$n" ]] || die "shared$n reports $routes HTTPRoutes, not $n"
done
log "every case answers as intended"

for ((round = 1; round <= ROUNDS; round++)); do
    measure ing-one "1 Ingress" ing app-0.bench.example
    measure hr-one "1 HTTPRoute (header match)" hr app-0.bench.example "x-tenant: t0"
    scale_case ing
    scale_case hr
    for n in "${SHARED[@]}"; do
        measure "shared$n-last" "$n HTTPRoutes, one host and path: the last (t$((n - 1)))" \
            "shared$n" shared.bench.example "x-tenant: t$((n - 1))"
    done
    n=${SHARED[-1]}
    measure "shared$n-first" "$n HTTPRoutes, one host and path: the first (t0)" \
        "shared$n" shared.bench.example "x-tenant: t0"
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_RUN=$(awk -v d="$(python3 "$HELP" other-since $$ "$TMP/others-run")" -v hz="$TICK" -v t=$((SECONDS - RUN_START)) \
    'BEGIN { printf "%.0f %%", 100 * d / hz / t }')

# ---------------------------------------------------------------------------- report

mkdir -p "$OUT_DIR"
{
    echo "### sluice-proxy, compiling and matching Ingresses and HTTPRoutes, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), shared by wrk, the proxies and the upstream; load average (1/5/15 min) $LOAD_START at the start, $LOAD_END at the end; processes outside the benchmark used at least $OTHER_RUN of one core over the run"
    echo "- sluice-proxy --threads 1 --no-access-log: $PROXY_ORIGIN; $($NGINX -v 2>&1 | sed 's/^nginx version: //') upstream (1 worker, \`return 200 \"ok\"\`); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- $ROUNDS interleaved rounds, medians of the rounds; $ROUTES Ingresses: $((BYTES_ING / 1024)) KiB of YAML, $ROUTES HTTPRoutes: $((BYTES_HR / 1024)) KiB, each over $SERVICES Services in 10 namespaces"
    echo "- wrk: 1 thread, $CONNECTIONS keep-alive connections, ${DURATION} s measured after ${WARMUP} s warm-up, GET /"
    echo
    python3 - "$SCALE" "$RAW" "$ROUTES" <<'PY'
import statistics, sys
from collections import defaultdict
scale_path, raw_path, n = sys.argv[1], sys.argv[2], sys.argv[3]
def med(xs):
    return statistics.median(xs)
scale = defaultdict(list)
for line in open(scale_path):
    rnd, kind, key, value = line.rstrip("\n").split("\t")
    scale[(kind, key)].append(value)
def f(kind, key):
    return [float(v) for v in scale[(kind, key)]]
def all_of(kind, key):
    return [float(t) for v in scale[(kind, key)] for t in v.split()]
print(f"| {n} routes, fresh proxy per round | Ingresses | HTTPRoutes (header + query matches) |")
print("| --- | ---: | ---: |")
rows = [
    ("routes in the table (sluice_proxy_routes)", lambda k: f"{med(f(k, 'routes')):.0f}"),
    ("route table compile, initial load, ms (each round)",
     lambda k: f"**{med(f(k, 'compile_initial_ms')):.1f}** ({', '.join(scale[(k, 'compile_initial_ms')])})"),
    ("route table compile after a rewrite, ms (mean per round, each round)",
     lambda k: f"**{med(f(k, 'compile_reload_ms')):.1f}** ({', '.join(scale[(k, 'compile_reload_ms')])})"),
    ("file rewrite (rename) → new host routed, ms: median (min–max of all)",
     lambda k: f"{med(all_of(k, 'rewrite_to_routed_ms')):.0f} ({min(all_of(k, 'rewrite_to_routed_ms')):.0f}–{max(all_of(k, 'rewrite_to_routed_ms')):.0f})"),
    ("start to /readyz 200, s", lambda k: f"{med(f(k, 'ready_s')):.2f}"),
    ("RSS after ready, MiB", lambda k: f"{med(f(k, 'rss_kib')) / 1024:.1f}"),
    ("peak RSS (VmHWM) after reloads and wrk, MiB", lambda k: f"{med(f(k, 'hwm_kib')) / 1024:.1f}"),
]
for label, fn in rows:
    print(f"| {label} | {fn('ing')} | {fn('hr')} |")
print()
runs = defaultdict(list)
order = []
for line in open(raw_path):
    rnd, key, label, rps, p50, p99, cpu, reqs, non2xx, errs, others = line.rstrip("\n").split("\t")
    if key not in runs:
        order.append((key, label))
    runs[key].append(dict(rps=float(rps), p50=float(p50), p99=float(p99), cpu=float(cpu),
                          non2xx=int(non2xx), errs=int(errs), others=float(others)))
print("| request matches | requests/s | p50 (ms) | p99 (ms) | proxy CPU per request, µs (each round) | non-2xx / socket errors (all rounds) | other processes' CPU, at least (of one core), max |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for key, label in order:
    r = runs[key]
    cpus = ", ".join(f"{x['cpu']:.1f}" for x in r)
    print(f"| {label} | {med([x['rps'] for x in r]):.0f} | {med([x['p50'] for x in r]):.3f} | "
          f"{med([x['p99'] for x in r]):.3f} | **{med([x['cpu'] for x in r]):.1f}** ({cpus}) | "
          f"{sum(x['non2xx'] for x in r)} / {sum(x['errs'] for x in r)} | {max(x['others'] for x in r):.0f} % |")
PY
    echo
    echo "Every run:"
    echo
    echo "| round | case | requests/s | p50 (ms) | p99 (ms) | proxy CPU per request, µs | requests | non-2xx | socket errors | other processes' CPU (of one core) |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s %% |\n", $1, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$RAW"
    echo
    echo "Total run time of bench/routes.sh: ${SECONDS} s."
} >"$RESULTS"

echo
cat "$RESULTS"
log "results written to ${RESULTS#"$ROOT"/}"
