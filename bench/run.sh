#!/bin/sh
# Benchmarks the binary we ship (the static musl release build) on SQLite
# and/or PostgreSQL, and prints Markdown tables (see BENCHMARKS.md).
#
#   bench/run.sh [sqlite|postgres|both]        (default: both)
#
# Environment: BENCH_DURATION (10), BENCH_RUNS (3), BENCH_WARMUP (3),
# BENCH_CONNECTIONS (32), BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432),
# BENCH_ONLY (comma-separated workload name words; the ceiling always runs),
# BENCH_SIZES (1000: article counts, ascending, comma-separated, e.g. 1000,100000;
# every workload runs at the first, the list workloads again after the same
# database grows to each next one), BENCH_REPLICA (1: PostgreSQL runs as a
# throwaway primary and streaming replica, the server reads from the replica
# through CONDUIT_DATABASE_READ_URL; BENCH_POSTGRES_URL is then unused),
# CONDUIT_* server settings (passed through, to compare configurations),
# BENCH_BINARY (skip the build and use this binary).
set -eu
cd "$(dirname "$0")/.."

which=${1:-both}
case $which in sqlite | postgres | both) ;; *)
    echo "usage: $0 [sqlite|postgres|both]" >&2
    exit 2
    ;;
esac
command -v wrk >/dev/null 2>&1 || { echo "bench: install wrk first (apt-get install wrk)" >&2; exit 1; }

binary=${BENCH_BINARY:-}
if [ -z "$binary" ]; then
    cargo build --release --locked --target x86_64-unknown-linux-musl >&2
    binary=target/x86_64-unknown-linux-musl/release/conduit
fi

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr); binary: $("$binary" --version)"
status=0
for backend in sqlite postgres; do
    [ "$which" = both ] || [ "$which" = "$backend" ] || continue
    replica=
    [ "$backend" = postgres ] && [ "${BENCH_REPLICA:-0}" = 1 ] && replica=--replica
    python3 bench/bench.py "$binary" "$backend" \
        --duration "${BENCH_DURATION:-10}" --runs "${BENCH_RUNS:-3}" \
        --warmup "${BENCH_WARMUP:-3}" --connections "${BENCH_CONNECTIONS:-32}" \
        --sizes "${BENCH_SIZES:-1000}" $replica || status=1
done
exit "$status"
