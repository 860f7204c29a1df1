#!/bin/sh
# Property-based fuzzing of the running binary against the OpenAPI document
# it serves itself (/api/openapi.json, from api/openapi.json) with
# schemathesis: no 5xx, no response that breaks the schema, 405 for methods
# the document does not declare. Runs the server on a free port with a
# fresh SQLite database, signed in as a test user. SPEC=FILE fuzzes against
# another document instead.
#
#   .ci/schemathesis.sh [BINARY] [SECONDS]
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

binary=${1:-target/x86_64-unknown-linux-musl/release/conduit}
seconds=${2:-60}
[ -x "$binary" ] || die "no binary at $binary"
if ! command -v st >/dev/null 2>&1; then
    say "installing schemathesis"
    pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
if ! command -v openapi-spec-validator >/dev/null 2>&1; then
    say "installing openapi-spec-validator"
    pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0
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
# Limits high enough that generated registrations and logins reach the
# handlers instead of 429s.
CONDUIT_LISTEN="127.0.0.1:$port" CONDUIT_DATABASE_URL="sqlite://$work/conduit.db" \
    CONDUIT_SCRYPT__LOG_N=4 CONDUIT_LOG_LEVEL=warn \
    CONDUIT_LIMITS__REGISTRATIONS_PER_ADDRESS=1000000 \
    CONDUIT_LIMITS__LOGIN_FAILURES_PER_ADDRESS=1000000 "$binary" serve &
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

# The binary serves the repository's document, and the document is valid
# OpenAPI 3.1.
curl -sf "$base/api/openapi.json" -o "$work/served.json" || die "no document at /api/openapi.json"
cmp -s "$work/served.json" api/openapi.json || die "the binary serves another document than api/openapi.json"
openapi-spec-validator "$work/served.json"
spec=${SPEC:-$base/api/openapi.json}
say "fuzzing $base/api for ${seconds}s against $spec"
fuzz() {
    log=$1
    shift
    st run "$spec" --url "$base/api" --header "Authorization: Token $token" \
        --checks not_a_server_error,response_schema_conformance,unsupported_method \
        --no-color "$@" >"$log" 2>&1 || status=$?
    # The summary is what matters in CI logs; the full output is long.
    sed -n '/= SUMMARY =/,$p' "$log"
    if [ "${status:-0}" != 0 ]; then
        say "failures found (exit ${status}); full output follows"
        cat "$log"
        exit 1
    fi
}
# A new password revokes every earlier token, the fuzzer's own included:
# changing the account comes last, in a short run of its own, so the other
# operations are fuzzed signed in.
fuzz "$work/st.log" --exclude-operation-id UpdateCurrentUser --max-time "$seconds"
say "fuzzing PUT /api/user"
fuzz "$work/st-user.log" --include-operation-id UpdateCurrentUser --max-time 10
