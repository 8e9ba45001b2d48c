#!/usr/bin/env bash
# Builds the fuzz targets (cargo-fuzz, libFuzzer) and runs each in turn for a bounded time,
# then prints how many inputs each ran. Exits non-zero if any target found a crash (the
# input is saved under fuzz/artifacts/<target>/).
#
#   fuzz/run.sh [TARGET...]            every target, or the ones named
#   FUZZ_SECONDS=600 fuzz/run.sh       seconds per target (default 60)
#   FUZZ_SANITIZER=address fuzz/run.sh build with a sanitizer (default none: the fuzzed
#                                      crates have no unsafe code, and it halves the speed)
#   FUZZ_ARGS="-max_len=65536" ...     more libFuzzer flags
#
# The committed seeds (fuzz/corpus/<target>/) are read, never written: what the fuzzer finds
# goes to fuzz/target/corpus/<target>/, kept between runs. fuzz/dict/ holds the tokens each
# target's input is made of.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir"

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
all_targets=(h1_request_head h1_response_head chunked_body admission_review manifests)
targets=("${@:-${all_targets[@]}}")

# cargo-fuzz needs nightly flags: nightly when installed, else stable with RUSTC_BOOTSTRAP.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    cargo=(cargo +nightly)
else
    echo "run.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Its own target dir, whatever the caller's CARGO_TARGET_DIR says.
export CARGO_TARGET_DIR="$fuzz_dir/target"
triple=$(rustc -vV | awk '/^host:/ {print $2}')
"${cargo[@]}" fuzz build --release --debug-assertions --sanitizer "$sanitizer" \
    --target "$triple"

bin_dir="$CARGO_TARGET_DIR/$triple/release"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$logs"
# A TLS Secret the compiler can load, for the manifests target: its key is made here, on the
# spot, so that no private key is committed (skipped without openssl).
tls_seed="$CARGO_TARGET_DIR/corpus/manifests/tls-secret.yaml"
if [[ " ${targets[*]} " == *" manifests "* && ! -e $tls_seed ]] && command -v openssl >/dev/null; then
    tmp=$(mktemp -d)
    if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj /CN=app.example.com -addext subjectAltName=DNS:app.example.com \
        -keyout "$tmp/key.pem" -out "$tmp/crt.pem" 2>/dev/null; then
        mkdir -p "$(dirname "$tls_seed")"
        {
            cat "$fuzz_dir/corpus/manifests/ingress-service-slice.yaml"
            printf 'apiVersion: v1\nkind: Secret\nmetadata: { name: app-tls }\n'
            printf 'type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n'
            sed 's/^/    /' "$tmp/crt.pem"
            printf '  tls.key: |\n'
            sed 's/^/    /' "$tmp/key.pem"
        } >"$tls_seed"
    fi
    rm -rf "$tmp"
fi

declare -A runs rates status
# The tokens each target's input is made of (libFuzzer splices them in).
declare -A dicts=(
    [h1_request_head]=http [h1_response_head]=http [chunked_body]=chunked
    [admission_review]=k8s [manifests]=k8s
)
failed=0
for target in "${targets[@]}"; do
    work="$CARGO_TARGET_DIR/corpus/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    log="$logs/$target.log"
    echo "== $target: ${seconds}s" >&2
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if "$bin_dir/$target" "$work" "corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="dict/${dicts[$target]}.dict" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
        >"$log" 2>&1; then
        status[$target]=ok
    else
        status[$target]="CRASH (see $log and $artifacts/)"
        failed=1
        tail -n 40 "$log" >&2
    fi
    # libFuzzer's final stats; after a crash, its last progress line (`#N ...`).
    runs[$target]=$(awk '/^stat::number_of_executed_units:/ {n = $2}
        /^#[0-9]+\t/ && n == "" {p = substr($1, 2)} END {print (n != "" ? n : p)}' "$log")
    rates[$target]=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log")
done

printf '\n%-18s %14s %10s  %s\n' target executions exec/s result
for target in "${targets[@]}"; do
    printf '%-18s %14s %10s  %s\n' "$target" "${runs[$target]:-?}" "${rates[$target]:-?}" \
        "${status[$target]}"
done
exit "$failed"
