#!/bin/sh
# Property-based fuzzing of the running binary against the RealWorld OpenAPI
# document with schemathesis: no 5xx, no response that breaks the schema,
# 405 for methods the document does not declare. Runs the server on a free
# port with a fresh SQLite database, signed in as a test user.
#
#   .ci/schemathesis.sh [BINARY] [SECONDS]
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

binary=${1:-target/x86_64-unknown-linux-musl/release/conduit}
seconds=${2:-60}
spec=${SPEC:-../shared/openapi.yml}
[ -x "$binary" ] || die "no binary at $binary"
[ -f "$spec" ] || die "no OpenAPI document at $spec"
if ! command -v st >/dev/null 2>&1; then
    say "installing schemathesis"
    pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

work=$(mktemp -d)
server_pid=
status=0
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
# Cheap hashing keeps the many generated registrations fast; everything
# else is the production configuration.
CONDUIT_LISTEN="127.0.0.1:$port" CONDUIT_DATABASE_URL="sqlite://$work/conduit.db" \
    CONDUIT_SCRYPT__LOG_N=4 CONDUIT_LOG_LEVEL=warn "$binary" serve &
server_pid=$!
i=0
until curl -sf "$base/healthz" >/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || die "server did not start"
    sleep 0.05
done

curl -sf -X POST "$base/api/users" -H 'Content-Type: application/json' \
    -d '{"user":{"username":"fuzzer","email":"fuzzer@example.com","password":"fuzzer-password"}}' \
    >"$work/user.json"
token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$work/user.json")
[ -n "$token" ] || die "could not register the test user"
# Something to find: an article with a comment, so reads return data.
curl -sf -X POST "$base/api/articles" -H 'Content-Type: application/json' -H "Authorization: Token $token" \
    -d '{"article":{"title":"Fuzzing target","description":"d","body":"b","tagList":["fuzz"]}}' >/dev/null

say "fuzzing $base/api for ${seconds}s"
st run "$spec" --url "$base/api" --header "Authorization: Token $token" \
    --checks not_a_server_error,response_schema_conformance,unsupported_method \
    --max-time "$seconds" --no-color >"$work/st.log" 2>&1 || status=$?
# The summary is what matters in CI logs; the full output is long.
sed -n '/= SUMMARY =/,$p' "$work/st.log"
if [ "${status:-0}" != 0 ]; then
    say "failures found (exit ${status}); full output follows"
    cat "$work/st.log"
    exit 1
fi
