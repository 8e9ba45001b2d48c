#!/usr/bin/env bash
# Route convergence at scale, in cluster mode, release build (docs/benchmarks.md explains
# the cases): a real control plane, the operator and a proxy as processes, Ingresses created
# and deleted through the API server, each timed until the proxy routes it (or answers 404).
# Also the API writes Sluice causes during a bulk apply and at idle, the operator's and the
# proxy's CPU and RSS, and endpoint churn.
#
# The churn backends live in a network namespace this script creates (addresses
# 10.213.77.2-5, port 8080), so no test traffic leaves loopback or that namespace; it needs
# root and iproute2, and is skipped without them. Everything is removed on exit.
#
# Usage: bench/convergence.sh   (about 10 minutes at 10,000 Ingresses on two cores)
# Environment: BENCH_INGRESSES=10000 (the large size; the small one is a tenth),
#              BENCH_TRIALS=20 (probes per case, and churn steps),
#              BENCH_PROFILE=release (or debug: the build `make demo` runs)
set -euo pipefail
cd "$(dirname "$0")/.."

make -s tools
profile=${BENCH_PROFILE:-release}
case "$profile" in
    release) cargo build -q --release --bin sluice-bench-convergence --bin sluice-operator --bin sluice-proxy ;;
    debug) cargo build -q --bin sluice-bench-convergence --bin sluice-operator --bin sluice-proxy ;;
    *) echo "BENCH_PROFILE must be release or debug" >&2; exit 2 ;;
esac
mkdir -p target/bench

backends=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    ns="sluice-bench-$$"
    host_if="sbh$$"
    ns_if="sbn$$"
    cleanup() {
        [ -n "${backend_pid:-}" ] && kill "$backend_pid" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
        ip link del "$host_if" 2>/dev/null || true
    }
    trap cleanup EXIT
    ip netns add "$ns"
    ip link add "$host_if" type veth peer name "$ns_if"
    ip link set "$ns_if" netns "$ns"
    ip addr add 10.213.77.1/24 dev "$host_if"
    ip link set "$host_if" up
    ip netns exec "$ns" ip link set lo up
    for i in 2 3 4 5; do
        ip netns exec "$ns" ip addr add "10.213.77.$i/24" dev "$ns_if"
        backends="${backends:+$backends,}10.213.77.$i:8080"
    done
    ip netns exec "$ns" ip link set "$ns_if" up
    ip netns exec "$ns" python3 bench/echo-addr.py 8080 &
    backend_pid=$!
    sleep 1
else
    echo "not root or no iproute2: skipping endpoint churn" >&2
fi

BENCH_BACKENDS="$backends" "target/$profile/sluice-bench-convergence" | tee "target/bench/convergence-$profile.md"
