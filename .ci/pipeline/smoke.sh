#!/bin/sh
# Check "smoke" of .ci/check_pipeline.sh: .ci/smoke_test.sh for real against
# a local `conduit serve` on SQLite (SMOKE_BINARY, else the musl release
# binary, else target/release/conduit): the front page and its stylesheet,
# then the API; it passes twice with throwaway users (given the app's root,
# then the API's) and twice as the environment's smoke user (registered
# once), and fails as it should on a wrong password, a 404 and a stopped
# server.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

start_conduit smoke
TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-1.log" 2>&1 \
    || { cat "$work/smoke-1.log" >&2; fail "smoke run against the local server"; }
sed 's/^/    | /' "$work/smoke-1.log"
has "$work/smoke-1.log" "smoke: passed against http://127.0.0.1:$port (API http://127.0.0.1:$port/api)" "first smoke run"
has "$work/smoke-1.log" "GET http://127.0.0.1:$port/ (expect 200, text/html)" "first smoke run (front page)"
has "$work/smoke-1.log" "-> 200, text/css" "first smoke run (stylesheet)"
# Twice, to show a second run needs no cleanup, given the API's root.
TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port/api/" >"$work/smoke-2.log" 2>&1 \
    || { cat "$work/smoke-2.log" >&2; fail "second smoke run"; }
has "$work/smoke-2.log" "smoke: passed against http://127.0.0.1:$port (API http://127.0.0.1:$port/api)" "second smoke run"
# The environment's smoke user: registered by the first run, signed in
# by every later one; a wrong password is named, not papered over.
for n in 3 4; do
    SMOKE_PASSWORD=smoke-user-password-1 TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" \
        >"$work/smoke-$n.log" 2>&1 || { cat "$work/smoke-$n.log" >&2; fail "smoke run $n as the smoke user"; }
done
has "$work/smoke-3.log" "registering it" "first run as the smoke user"
has "$work/smoke-3.log" "signed in as conduit-smoke (1-register.json)" "first run as the smoke user"
has "$work/smoke-4.log" "signed in as conduit-smoke (1-login.json)" "second run as the smoke user"
lacks "$work/smoke-4.log" "POST http://127.0.0.1:$port/api/users (expect" "second run as the smoke user (no new user)"
if SMOKE_PASSWORD=another-password-2 TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-5.log" 2>&1; then
    fail "smoke_test.sh passed with the wrong smoke user password"
fi
has "$work/smoke-5.log" "exists with another password" "smoke run with a wrong password"
# It must fail on a wrong answer and on no answer.
if SMOKE_RETRIES=0 TMPDIR="$work" sh .ci/smoke_test.sh "http://127.0.0.1:$port/elsewhere" >"$work/smoke-404.log" 2>&1; then
    fail "smoke_test.sh passed against a path that answers 404"
fi
has "$work/smoke-404.log" "answered 404, expected 200" "smoke against a wrong path"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
if SMOKE_RETRIES=0 SMOKE_TIMEOUT=5 TMPDIR="$work" sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-down.log" 2>&1; then
    fail "smoke_test.sh passed against a stopped server"
fi
has "$work/smoke-down.log" "answered 000" "smoke against a stopped server"
note "pages and API passed twice with throwaway users and twice as the smoke user (registered once); failed as it should on a wrong password, a 404 and a stopped server"
