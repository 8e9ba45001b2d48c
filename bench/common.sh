# Shared by the benchmark scripts: logging, the tools they need (nginx and wrk, installed
# with apt-get when missing), the sluice-proxy binary under test (SLUICE_PROXY_BIN, else a
# release build of the working tree), a temp dir, and stopping every process started on exit.
# Source it with ROOT set to the repository and BENCH_NAME to the script's name.

log() { printf '[%s %3ds] %s\n' "$BENCH_NAME" "$SECONDS" "$*" >&2; }
die() {
    printf 'bench/$BENCH_NAME.sh: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------- tools

command -v python3 >/dev/null || die "python3 is required (the helpers are Python)"
need=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
    log "installing ${need[*]} with apt-get"
    command -v apt-get >/dev/null || die "${need[*]} missing and no apt-get to install them"
    if ! apt-get install -y -qq "${need[@]}" >/dev/null; then
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx not found after installing it"
command -v wrk >/dev/null || die "wrk not found after installing it"

if [[ -n ${SLUICE_PROXY_BIN:-} ]]; then
    PROXY=$SLUICE_PROXY_BIN
    [[ -x $PROXY ]] || die "SLUICE_PROXY_BIN=$PROXY is not an executable file"
    PROXY_ORIGIN="$PROXY (SLUICE_PROXY_BIN)"
else
    PROXY="$ROOT/target/release/sluice-proxy"
    stale=""
    if [[ ! -x $PROXY ]]; then
        stale="it is missing"
    else
        newer=$(find "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" "$ROOT/proxy" "$ROOT/crds" \
            -newer "$PROXY" \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' \) \
            -print -quit)
        [[ -z $newer ]] || stale="${newer#"$ROOT"/} is newer"
    fi
    if [[ -n $stale ]]; then
        log "building sluice-proxy in release mode ($stale)"
        (cd "$ROOT" && cargo build --release -p sluice-proxy) ||
            die "cargo build --release -p sluice-proxy failed; fix the build, or set SLUICE_PROXY_BIN to a binary built elsewhere"
    fi
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD -- proxy crds Cargo.toml Cargo.lock 2>/dev/null || rev="$rev + uncommitted changes"
    PROXY_ORIGIN="target/release/sluice-proxy, built from $rev"
fi

# ---------------------------------------------------------------------------- processes

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$BENCH_NAME.XXXXXX")
PIDS=()

stop() { # stop PID: SIGTERM, then SIGKILL after 5 s
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    if ((rc == 0)); then
        rm -rf "$TMP"
    else
        printf 'bench/$BENCH_NAME.sh: failed (exit %d); logs and manifests kept in %s\n' "$rc" "$TMP" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
