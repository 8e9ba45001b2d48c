#!/usr/bin/env bash
# Admission review latency over HTTPS with 10 and with 10,000 Ingresses (50,000 rules) in
# the webhook's index: the real server and decision code, one keep-alive TLS connection,
# reviews sent one at a time (half allowed, half denied with a conflict message).
#   bench/webhook.sh [REVIEWS]     (default 20000 per case)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p sluice-tests --bin sluice-bench-webhook
mkdir -p target/bench
target/release/sluice-bench-webhook "${1:-20000}" | tee target/bench/webhook-results.md
