# shellcheck shell=sh
# Shared by the checks in .ci/pipeline/, each sourcing it first thing:
#
#   # shellcheck source=SCRIPTDIR/common.sh
#   . "$(dirname "$0")/common.sh"
#
# The checks are run by .ci/check_pipeline.sh, from the repository root, with
# CHECK_PIPELINE_WORK (a scratch folder shared by the checks of one run) and
# CHECK_PIPELINE_SNAPSHOT (the snapshot of the work tree, snapshot.sh) set.
# It also sources .ci/lib.sh (say, die, free_port, apt_install).

# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
log_prefix=check_pipeline

if [ -z "${CHECK_PIPELINE_WORK:-}" ] || [ -z "${CHECK_PIPELINE_SNAPSHOT:-}" ]; then
    echo "$0 is one of the checks of .ci/check_pipeline.sh: run it as sh .ci/check_pipeline.sh NAME" >&2
    exit 2
fi
work=$CHECK_PIPELINE_WORK
snap=$CHECK_PIPELINE_SNAPSHOT
tools=${CI_TOOLS_DIR:-$(pwd)/.ci/.tools}
# shellcheck disable=SC2034 # used by the checks
gcl=$tools/node_modules/.bin/gitlab-ci-local
# shellcheck disable=SC2034
jsyaml=$tools/node_modules/.bin/js-yaml

# Console scripts of pip installs: the running python's scripts folder (a
# pyenv shim may not exist yet right after an install) and our venv.
py_scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
PATH=$tools/venv/bin:${py_scripts:+$py_scripts:}$PATH
export PATH

fail() {
    echo "    FAIL: $*" >&2
    exit 1
}
note() { echo "    $*"; }

# has FILE TEXT WHAT / has_re FILE REGEX WHAT / lacks FILE TEXT WHAT:
# assertions on a captured output (fixed strings, or an extended regex).
has() {
    grep -qF -- "$2" "$1" || {
        echo "    --- $1:" >&2
        sed 's/^/    | /' "$1" | tail -n 40 >&2
        fail "$3: expected '$2'"
    }
}
has_re() {
    grep -Eq -- "$2" "$1" || {
        echo "    --- $1:" >&2
        sed 's/^/    | /' "$1" | tail -n 40 >&2
        fail "$3: expected a line matching /$2/"
    }
}
lacks() {
    if grep -nF -- "$2" "$1" >&2; then
        fail "$3: did not expect '$2' (lines above, from $1)"
    fi
}

pip_install() {
    if python3 -m pip install --quiet --disable-pip-version-check "$@" >"$work/pip.log" 2>&1; then
        return 0
    fi
    # A Debian python refuses system-wide installs (PEP 668): use a venv of ours.
    if grep -q externally-managed "$work/pip.log"; then
        [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv" >>"$work/pip.log" 2>&1 \
            || { cat "$work/pip.log" >&2; fail "python3 -m venv"; }
        "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$@" >>"$work/pip.log" 2>&1 \
            && return 0
    fi
    cat "$work/pip.log" >&2
    fail "pip install $*"
}

# dry NAME VAR=VALUE... COMMAND...: runs COMMAND in the snapshot with
# DRY_RUN=1 and only the given variables (nothing leaks in from this shell or
# from a real pipeline), keeping stdout in $work/NAME.out and stderr in
# $work/NAME.err; sets dry_status. A DRY_RUN=0 among the variables makes the
# run real.
dry() {
    d_name=$1
    shift
    mkdir -p "$work/tmp"
    set +e
    (
        cd "$snap"
        env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="$work/tmp" LANG=C.UTF-8 DRY_RUN=1 "$@"
    ) >"$work/$d_name.out" 2>"$work/$d_name.err"
    dry_status=$?
    set -e
}

# expect_ok NAME / expect_fail NAME: the exit status of the last dry run.
expect_ok() {
    [ "$dry_status" -eq 0 ] || {
        sed 's/^/    | /' "$work/$1.err" | tail -n 30 >&2
        fail "$1: exited $dry_status"
    }
}
expect_fail() {
    [ "$dry_status" -ne 0 ] || fail "$1: succeeded but should have failed"
}

need_script() {
    [ -f "$1" ] || fail "$1 is missing (it is called by .gitlab-ci.yml)"
}

# Processes a check starts in the background (a server, a registry): add
# their pids to $background, they are stopped however the check ends.
background=
stop_background() {
    for pid in $background; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_background EXIT
trap 'exit 130' INT TERM

# start_conduit NAME: `conduit serve` on SQLite in $work/NAME-db, on a free
# port of loopback, stopped when the check ends; waits until it answers.
# The binary: SMOKE_BINARY, else the musl release binary, else
# target/release/conduit. Sets port, server_pid and server_log.
start_conduit() {
    bin=${SMOKE_BINARY:-}
    if [ -z "$bin" ]; then
        for candidate in target/x86_64-unknown-linux-musl/release/conduit target/release/conduit; do
            if [ -x "$candidate" ]; then
                bin=$candidate
                break
            fi
        done
    fi
    [ -n "$bin" ] && [ -x "$bin" ] || fail "no conduit binary to run: build one (cargo build --release) or set SMOKE_BINARY"
    case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
    port=$(free_port)
    server_log=$work/$1-server.log
    mkdir -p "$work/$1-db"
    note "server: $bin on 127.0.0.1:$port, SQLite in $work/$1-db"
    CONDUIT_LISTEN=127.0.0.1:$port CONDUIT_DATABASE_URL=sqlite://$work/$1-db/c.db \
        "$bin" serve >"$server_log" 2>&1 &
    server_pid=$!
    background="$background $server_pid"
    s_tries=0
    # /api/tags answers 200 in every version of the app (/healthz came later).
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/api/tags" 2>/dev/null; do
        kill -0 "$server_pid" 2>/dev/null || { cat "$server_log" >&2; fail "the server exited"; }
        s_tries=$((s_tries + 1))
        [ "$s_tries" -lt 100 ] || { cat "$server_log" >&2; fail "no answer from /api/tags in 20s"; }
        sleep 0.2
    done
}
