#!/bin/sh
# Smoke test of a running Conduit: its front page and stylesheet, then the
# README's three-request check of the API, as the environment's smoke user,
# so it can run any number of times against the same database (dev, prod, or
# a local server).
#
#   sh .ci/smoke_test.sh URL
#
# URL is the root of the app, where its front page is: for example
# http://127.0.0.1:8080, or on a cluster the public address followed by the
# gateway's path prefix (https://conduit.example.com,
# https://example.com/conduit). The API is at URL/api. A URL ending in /api
# is taken as the API's root, and the app's root is what precedes it. The
# check:
#   0. GET URL/ -> 200, text/html, with a <link rel="stylesheet" href="...">;
#      GET that stylesheet (an absolute path such as
#      /conduit/assets/style-<hash>.css, on URL's scheme and host) -> 200,
#      text/css; GET URL/atom.xml -> 200, an Atom feed (a warning when it
#      names itself by another origin: CONDUIT_PUBLIC_ORIGIN)
#   1. POST API/users/login -> 200 with a token, as the smoke user; the first
#      run in an environment registers it instead (POST API/users -> 201)
#   2. POST API/articles   -> 201, an article with a slug (token from 1)
#   3. GET  API/articles?author=USER -> 200, our slug, articlesCount >= 1
#   4. DELETE API/articles/SLUG -> 204, so production keeps no test
#      articles (SMOKE_KEEP=1 skips it).
# Every response is written to a file before it is parsed; any other status
# or a missing field fails the script with the response shown.
#
# Needs only a POSIX shell, curl, sed and grep (it runs in alpine's busybox).
# Environment:
#   SMOKE_OUT_DIR    keep the responses here (default: a temporary folder,
#                    removed on success, kept and named on failure)
#   SMOKE_TIMEOUT    seconds per request (default 20)
#   SMOKE_RETRIES    curl retries on connection errors and 5xx from a
#                    gateway (default 3)
#   SMOKE_KEEP=1     leave the test article in place
#   SMOKE_PASSWORD   the smoke user's password (a masked variable per
#                    environment); the deploy job requires it. Unset: a new
#                    throwaway user for this run (local servers only)
#   SMOKE_USERNAME   the smoke user [conduit-smoke]; its email is
#                    SMOKE_USERNAME@example.com
set -eu

usage() {
    echo "usage: $0 APP_URL   (for example https://conduit.example.com or https://example.com/conduit)" >&2
    exit 2
}
[ "$#" -eq 1 ] || usage
[ -n "$1" ] || usage
case $1 in
    http://* | https://*) ;;
    *) echo "smoke: URL must start with http:// or https://, got '$1'" >&2; exit 2 ;;
esac
command -v curl >/dev/null 2>&1 || { echo "smoke: curl is required" >&2; exit 1; }

app=${1%/}
case ${app#*://} in
    */api) app=${app%/api} ;;
esac
api=$app/api
# Where an absolute path in a page points: URL's scheme and host (and port).
scheme=${app%%://*}
host=${app#*://}
host=${host%%/*}
[ -n "$host" ] || usage
origin=$scheme://$host
base_path=${app#"$origin"}
timeout=${SMOKE_TIMEOUT:-20}
retries=${SMOKE_RETRIES:-3}

say() { echo "smoke: $*"; }
fail() {
    echo "smoke: FAILED: $*" >&2
    exit 1
}

if [ -n "${SMOKE_OUT_DIR:-}" ]; then
    out=$SMOKE_OUT_DIR
    mkdir -p "$out"
    keep_out=1
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/conduit-smoke.XXXXXX")
    keep_out=0
fi
finish() {
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "smoke: responses kept in $out" >&2
    elif [ "$keep_out" -eq 0 ]; then
        rm -rf "$out"
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# A name no earlier run used: seconds since the epoch, this shell's pid and
# random bytes, all within the username rules (letters, digits, - _ .).
random=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
run_id=$(date +%s)-$$-$random
if [ -n "${SMOKE_PASSWORD:-}" ]; then
    username=${SMOKE_USERNAME:-conduit-smoke}
    password=$SMOKE_PASSWORD
else
    username=smoke-$run_id
    password=smoke-$random-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
fi
email=$username@example.com
title="Smoke test $run_id"

# request NAME EXPECTED_STATUS METHOD URL [BODY] [TOKEN]
# Writes the response body to $out/NAME.json and its status to $out/NAME.status,
# then fails unless the status is EXPECTED_STATUS (ANY accepts every answer
# from the server, leaving the status in $r_status).
request() {
    # POSIX sh has no local variables: r_ names keep clear of the callers'.
    r_name=$1 r_expected=$2 r_method=$3 r_url=$4 r_body=${5:-} r_token=${6:-}
    r_file=$out/$r_name.json
    say "$r_method $r_url (expect $r_expected)"
    set -- -sS -o "$r_file" -w '%{http_code}' -X "$r_method" \
        --connect-timeout 10 --max-time "$timeout" \
        --retry "$retries" --retry-connrefused --retry-delay 2 \
        -H 'Accept: application/json'
    if [ -n "$r_body" ]; then
        set -- "$@" -H 'Content-Type: application/json' --data-binary "$r_body"
    fi
    if [ -n "$r_token" ]; then
        set -- "$@" -H "Authorization: Token $r_token"
    fi
    # A curl error (DNS, refused, timeout) prints 000 and fails: keep going so
    # the message below names the request.
    r_status=$(curl "$@" "$r_url") || true
    echo "$r_status" >"$out/$r_name.status"
    [ -f "$r_file" ] || : >"$r_file"
    if [ "$r_status" != "$r_expected" ] && { [ "$r_expected" != ANY ] || [ "$r_status" = 000 ]; }; then
        echo "smoke: response body of $r_method $r_url:" >&2
        body "$r_file" >&2 || true
        echo >&2
        fail "$r_method $r_url answered ${r_status:-nothing}, expected $r_expected"
    fi
    say "  -> $r_status, $(wc -c <"$r_file" | tr -d ' ') bytes in $r_file"
}

# fetch NAME URL ACCEPT TYPE: GET URL, which must answer 200 with a body of
# media type TYPE. The body goes to $out/NAME, the status and the content
# type to $out/NAME.meta (one a line), read back from there.
fetch() {
    f_name=$1 f_url=$2 f_accept=$3 f_type=$4
    f_file=$out/$f_name
    say "GET $f_url (expect 200, $f_type)"
    curl -sS -o "$f_file" -w '%{http_code}\n%{content_type}\n' \
        --connect-timeout 10 --max-time "$timeout" \
        --retry "$retries" --retry-connrefused --retry-delay 2 \
        -H "Accept: $f_accept" "$f_url" >"$f_file.meta" || true
    [ -f "$f_file" ] || : >"$f_file"
    f_status=$(sed -n 1p "$f_file.meta")
    # The media type alone: parameters (charset) and case left out.
    f_got=$(sed -n 2p "$f_file.meta" | sed 's/;.*//' | tr -d ' \t\r' | tr '[:upper:]' '[:lower:]')
    if [ "$f_status" != 200 ]; then
        echo "smoke: response body of GET $f_url:" >&2
        body "$f_file" >&2 || true
        echo >&2
        fail "GET $f_url answered ${f_status:-nothing}, expected 200"
    fi
    [ "$f_got" = "$f_type" ] || fail "GET $f_url: content type '$(sed -n 2p "$f_file.meta")', expected $f_type"
    [ -s "$f_file" ] || fail "GET $f_url: empty body"
    say "  -> $f_status, $f_got, $(wc -c <"$f_file" | tr -d ' ') bytes in $f_file"
}

# body FILE: the start of a response for a message, tokens blanked out.
body() {
    head -c 1000 "$1" | sed 's/"token":"[^"]*"/"token":"(hidden)"/g'
}

# json_string FILE KEY: the first "KEY":"value" string in FILE (the API
# answers compact JSON; values we look for hold no escaped quotes).
json_string() {
    sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1
}

# json_number FILE KEY: the first "KEY":123 number in FILE.
json_number() {
    sed -n "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p" "$1" | head -n 1
}

# require FILE PATTERN WHAT: fails unless FILE contains the fixed string PATTERN.
require() {
    grep -qF -- "$2" "$1" || fail "$3 (no '$2' in $1: $(body "$1"))"
}

say "target $app (API $api), user $username"

# 0. The web app: the front page, and the stylesheet it links.
fetch 0-page.html "$app/" 'text/html' text/html
link='<link rel="stylesheet" href="'
require "$out/0-page.html" "$link" "front page: no stylesheet link"
href=$(sed -n "s|.*$link\([^\"]*\)\".*|\1|p" "$out/0-page.html" | head -n 1)
case $href in
    http://* | https://*) stylesheet=$href ;;
    //*) stylesheet=$scheme:$href ;;
    /*)
        # The app builds its links with CONDUIT_PUBLIC_BASE_PATH: it must be
        # the prefix this URL has.
        case $href in
            "$base_path"/*) ;;
            *) fail "front page: the stylesheet $href is outside $base_path/ (is CONDUIT_PUBLIC_BASE_PATH the gateway's prefix?)" ;;
        esac
        stylesheet=$origin$href
        ;;
    '') fail "front page: an empty stylesheet href" ;;
    *) stylesheet=$app/$href ;;
esac
fetch 0-style.css "$stylesheet" 'text/css,*/*;q=0.1' text/css

# The blog's Atom feed, whose links are absolute: built from
# CONDUIT_PUBLIC_ORIGIN, which should be this address's origin.
fetch 0-feed.xml "$app/atom.xml" 'application/atom+xml' application/atom+xml
require "$out/0-feed.xml" '<feed xmlns="http://www.w3.org/2005/Atom"' "atom.xml: not an Atom feed"
feed_self=$(sed -n 's|.*<link rel="self" type="application/atom+xml" href="\([^"]*\)".*|\1|p' "$out/0-feed.xml" | head -n 1)
case $feed_self in
    "$app/atom.xml") ;;
    *) say "  warning: the feed calls itself $feed_self, not $app/atom.xml: is CONDUIT_PUBLIC_ORIGIN this address's origin?" ;;
esac

# 1. Sign in as the smoke user; register it on the first run.
signed_in=
if [ -n "${SMOKE_PASSWORD:-}" ]; then
    request 1-login ANY POST "$api/users/login" \
        "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}"
    case $r_status in
        200) signed_in=$out/1-login.json ;;
        401) say "  no smoke user $username yet (or another password): registering it" ;;
        *) fail "POST $api/users/login answered $r_status: $(body "$out/1-login.json")" ;;
    esac
fi
if [ -z "$signed_in" ]; then
    request 1-register ANY POST "$api/users" \
        "{\"user\":{\"username\":\"$username\",\"email\":\"$email\",\"password\":\"$password\"}}"
    case $r_status in
        201) ;;
        422) fail "the smoke user $username exists with another password: set SMOKE_PASSWORD to its password, or SMOKE_USERNAME to a new name ($(body "$out/1-register.json"))" ;;
        *) fail "POST $api/users answered $r_status, expected 201: $(body "$out/1-register.json")" ;;
    esac
    signed_in=$out/1-register.json
fi
require "$signed_in" '{"user":{' "sign in: no user object"
require "$signed_in" "\"username\":\"$username\"" "sign in: not the smoke user"
token=$(json_string "$signed_in" token)
[ -n "$token" ] || fail "sign in: no token in $(body "$signed_in")"
say "  signed in as $username (${signed_in##*/}), token of ${#token} characters"

# 2. Create an article as that user.
request 2-create-article 201 POST "$api/articles" \
    "{\"article\":{\"title\":\"$title\",\"description\":\"Pipeline smoke test\",\"body\":\"Written by .ci/smoke_test.sh run $run_id.\",\"tagList\":[\"smoke\"]}}" \
    "$token"
require "$out/2-create-article.json" '{"article":{' "create article: no article object"
require "$out/2-create-article.json" "\"title\":\"$title\"" "create article: not the title we sent"
slug=$(json_string "$out/2-create-article.json" slug)
[ -n "$slug" ] || fail "create article: no slug in $(body "$out/2-create-article.json")"
say "  created article $slug"

# 3. List the articles of that user: ours must be there, with the count.
request 3-list-articles 200 GET "$api/articles?author=$username"
require "$out/3-list-articles.json" '"articles":[' "list articles: no articles array"
require "$out/3-list-articles.json" "\"slug\":\"$slug\"" "list articles: our article is missing"
count=$(json_number "$out/3-list-articles.json" articlesCount)
[ -n "$count" ] || fail "list articles: no articlesCount"
[ "$count" -ge 1 ] || fail "list articles: articlesCount is $count"
say "  listed $count article(s) by $username, ours among them"

# 4. Clean up the article.
if [ "${SMOKE_KEEP:-0}" = 1 ]; then
    say "SMOKE_KEEP=1: leaving article $slug in place"
else
    request 4-delete-article 204 DELETE "$api/articles/$slug" "" "$token"
fi

say "passed against $app (API $api)"
