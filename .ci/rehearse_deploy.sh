#!/bin/sh
# Deployment rehearsal: runs what the rendered `dev` Deployment says, with the
# real image, against the local PostgreSQL, the way the kubelet would:
#
#   1. the init container's command (conduit migrate) with its environment
#   2. `conduit config` with the app's environment: every CONDUIT_* variable
#      of the manifests must show up in the effective settings with its value
#      (the app refuses names it does not know)
#   3. the main container's command (conduit serve) with its environment,
#      as the manifest's numeric user
#   4. the startup, liveness and readiness probes at the manifest's paths and
#      ports; /metrics on the metrics port; `conduit healthcheck`
#   5. the three-request check: register, create an article, list articles
#   6. the stop sequence: the preStop pause, then SIGTERM to the app's own
#      process (buildah run does not forward signals); the app must exit 0
#      within the grace period, having written nothing to its root
#      filesystem (the pod mounts it read-only)
#
# usage: .ci/rehearse_deploy.sh IMAGE     e.g. localhost/conduit:1a2b3c4
#
# The database: postgres://postgres@127.0.0.1:5432/conduit_rehearsal (created
# afresh with psql; .ci/ensure_postgres.sh starts the server if needed). The
# app runs on the host network, where the manifest's ports (8080, 9090) may be
# taken (a `conduit serve` of one's own): free ports stand in for them, in
# the listen addresses and the probes alike. Needs buildah (installed with apt
# if missing), curl, kubectl, python3 with PyYAML, psql.
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
    echo "usage: $0 IMAGE" >&2
    exit 2
}
[ $# -eq 1 ] && [ -n "$1" ] || usage
IMAGE=$1
cd "$(dirname "$0")/.."

export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
DB_NAME=conduit_rehearsal
DB_URI=postgres://postgres@127.0.0.1:5432/$DB_NAME

started=$(date +%s)
log_prefix=rehearse
step() { say "== $*"; }

work=$(mktemp -d)
ctr=
app_pid=
# app_process: the pid of the app started by our own `buildah run` (the
# process running as the manifest's user below it), never anyone else's.
app_process() {
    pids=$app_pid
    while [ -n "$pids" ]; do
        next=
        for p in $pids; do
            for child in $(pgrep -P "$p"); do
                if [ "$(ps -o uid= -p "$child" | tr -d ' ')" = "${RUN_AS_USER:-65532}" ] &&
                    [ "$(ps -o comm= -p "$child")" = conduit ]; then
                    echo "$child"
                    return 0
                fi
                next="$next $child"
            done
        done
        pids=$next
    done
    return 1
}
cleanup() {
    if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
        pid=$(app_process || true)
        [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
        kill "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    fi
    if [ -n "$ctr" ]; then
        buildah umount "$ctr" >/dev/null 2>&1 || true
        buildah rm "$ctr" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

step "tools"
if ! command -v buildah >/dev/null 2>&1; then
    say "installing buildah"
    apt_install buildah
fi
for tool in buildah curl kubectl psql pgrep python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml==6.0.3

step "render k8s/overlays/dev and read the Deployment"
kubectl kustomize k8s/overlays/dev >"$work/dev.yaml"
# The pod's own ports, and the free host ports standing in for them.
pod_ports=$(python3 -c 'import sys, yaml
d = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Deployment")
c = next(c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "conduit")
print(" ".join(str(p["containerPort"]) for p in c["ports"]))' "$work/dev.yaml")
port_map=
for port in $pod_ports; do
    port_map="$port_map $port=$(free_port)"
done
# shellcheck disable=SC2086 # one PORT=HOSTPORT argument per port
python3 k8s/checks/rehearsal.py extract "$work/dev.yaml" "$work" "$DB_URI" $port_map
# shellcheck disable=SC1091 # written just now by rehearsal.py
. "$work/facts.sh"
say "init: $(tr '\n' ' ' <"$work/init.args")"
say "app:  $(tr '\n' ' ' <"$work/app.args")as $RUN_AS_USER:$RUN_AS_GROUP, pod ports$port_map (pod=host)"
for port in "$HTTP_PORT" "$METRICS_PORT"; do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
        die "port $port is already in use on this machine"
    fi
done

step "database $DB_URI"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    sh .ci/ensure_postgres.sh >/dev/null
fi
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB_NAME" >/dev/null

step "container from $IMAGE"
ctr=$(buildah from "$IMAGE")
root=$(buildah mount "$ctr")
(cd "$root" && find . -xdev | sort) >"$work/files-before"

# run_in_container ARGSFILE ENVFILE: `buildah run` with the manifest's user,
# environment and command (one argument per line in the files).
run_in_container() {
    set -- "$1" "$2" --isolation chroot --user "$RUN_AS_USER:$RUN_AS_GROUP"
    while IFS= read -r line; do
        set -- "$@" --env "$line"
    done <"$2"
    set -- "$@" "$ctr" --
    while IFS= read -r line; do
        set -- "$@" "$line"
    done <"$1"
    shift 2
    buildah run "$@"
}

step "1. init container: $(tr '\n' ' ' <"$work/init.args")"
t0=$(date +%s)
if ! run_in_container "$work/init.args" "$work/init.env" >"$work/migrate.log" 2>&1; then
    cat "$work/migrate.log" >&2
    die "the init container failed"
fi
sed 's/^/    /' "$work/migrate.log" >&2
say "migrated in $(($(date +%s) - t0))s"

step "2. the app's environment against its effective settings (conduit config)"
printf '/conduit\nconfig\n' >"$work/config.args"
run_in_container "$work/config.args" "$work/app.env" >"$work/config.out" 2>"$work/config.err" ||
    { cat "$work/config.err" >&2; die "conduit config failed with the app's environment"; }
python3 k8s/checks/rehearsal.py config "$work/app.env" "$work/config.out" >&2 ||
    die "some CONDUIT_* variables of the manifests do not reach the app"

step "3. main container: $(tr '\n' ' ' <"$work/app.args")"
run_in_container "$work/app.args" "$work/app.env" >"$work/app.log" 2>&1 &
app_pid=$!
t0=$(date +%s)

# probe NAME PORT PATH: the HTTP status of one probe request (000 if none).
probe() {
    curl -s -o "$work/probe.body" -w '%{http_code}' --max-time 3 "http://127.0.0.1:$2$3" || true
}
say "startup probe GET :$STARTUP_PORT$STARTUP_PATH (up to ${STARTUP_BUDGET}s)"
until [ "$(probe startup "$STARTUP_PORT" "$STARTUP_PATH")" = 200 ]; do
    if ! kill -0 "$app_pid" 2>/dev/null; then
        cat "$work/app.log" >&2
        die "the app exited during startup"
    fi
    [ $(($(date +%s) - t0)) -lt "$STARTUP_BUDGET" ] || { cat "$work/app.log" >&2; die "startup probe never passed"; }
    sleep 0.5
done
say "started in $(($(date +%s) - t0))s"

step "4. probes, metrics and healthcheck"
code=$(probe liveness "$LIVENESS_PORT" "$LIVENESS_PATH")
[ "$code" = 200 ] || die "liveness probe GET :$LIVENESS_PORT$LIVENESS_PATH answered $code"
say "liveness GET :$LIVENESS_PORT$LIVENESS_PATH -> 200"
t1=$(date +%s)
until [ "$(probe readiness "$READINESS_PORT" "$READINESS_PATH")" = 200 ]; do
    [ $(($(date +%s) - t1)) -lt "$READINESS_BUDGET" ] ||
        { cat "$work/probe.body" >&2; die "readiness probe GET :$READINESS_PORT$READINESS_PATH never answered 200"; }
    sleep 0.5
done
say "readiness GET :$READINESS_PORT$READINESS_PATH -> 200"
printf '/conduit\nhealthcheck\n' >"$work/healthcheck.args"
run_in_container "$work/healthcheck.args" "$work/app.env" >"$work/healthcheck.log" 2>&1 ||
    { cat "$work/healthcheck.log" >&2; die "conduit healthcheck failed against the running app"; }
say "conduit healthcheck -> exit 0"

step "5. three requests: register, create an article, list"
api=http://127.0.0.1:$HTTP_PORT/api
user=rehearsal$(date +%s)$$
# request NAME EXPECTED-STATUS CURL-ARGS...: stores the body, checks the status.
request() {
    name=$1 expected=$2
    shift 2
    code=$(curl -s -o "$work/$name.json" -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' "$@") || code=000
    [ "$code" = "$expected" ] || { cat "$work/$name.json" >&2; die "$name: HTTP $code, expected $expected"; }
    say "$name -> $code"
}
request register 201 -X POST "$api/users" \
    -d "{\"user\":{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"rehearsal-password\"}}"
token=$(python3 k8s/checks/rehearsal.py json "$work/register.json" user.token)
request article 201 -X POST "$api/articles" -H "Authorization: Token $token" \
    -d "{\"article\":{\"title\":\"Rehearsal $user\",\"description\":\"d\",\"body\":\"b\",\"tagList\":[\"rehearsal\"]}}"
slug=$(python3 k8s/checks/rehearsal.py json "$work/article.json" article.slug)
request list 200 "$api/articles?author=$user"
[ "$(python3 k8s/checks/rehearsal.py json "$work/list.json" articles.0.slug)" = "$slug" ] ||
    die "the new article is not in the list"

code=$(curl -s -o "$work/metrics.txt" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics") || code=000
[ "$code" = 200 ] || die "GET :$METRICS_PORT/metrics answered $code"
for metric in conduit_http_requests_total conduit_http_request_duration_seconds_bucket conduit_build_info; do
    grep -q "^$metric" "$work/metrics.txt" || die "/metrics has no $metric"
done
missing=
for metric in conduit_http_requests_in_flight conduit_http_requests_shed_total conduit_db_pool_connections \
    conduit_db_pool_max_connections conduit_db_pool_wait_seconds_bucket conduit_db_unavailable_total \
    conduit_password_hash_queue_depth conduit_password_hash_wait_seconds_bucket \
    conduit_password_hash_rejected_total; do
    grep -q "^$metric" "$work/metrics.txt" || missing="$missing $metric"
done
if [ -n "$missing" ]; then
    say "note: not (yet) in /metrics:$missing (the dashboard and alerts use them)"
else
    say "GET :$METRICS_PORT/metrics -> all 12 metric families of the dashboard present"
fi

step "6. stop: preStop pause ${PRESTOP_SLEEP}s, then SIGTERM; grace ${GRACE_SECONDS}s"
sleep "$PRESTOP_SLEEP"
pid=$(app_process) ||
    { tail -n 20 "$work/app.log" >&2; die "no conduit process running as uid $RUN_AS_USER"; }
t0=$(date +%s)
kill -TERM "$pid"
budget=$((GRACE_SECONDS - PRESTOP_SLEEP))
while kill -0 "$app_pid" 2>/dev/null; do
    if [ $(($(date +%s) - t0)) -ge "$budget" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        die "still running ${budget}s after SIGTERM: the kubelet would have killed it"
    fi
    sleep 0.2
done
status=0
wait "$app_pid" || status=$?
app_pid=
elapsed=$(($(date +%s) - t0))
[ "$status" = 0 ] || { tail -n 20 "$work/app.log" >&2; die "exit status $status after SIGTERM, expected 0"; }
say "exited 0 ${elapsed}s after SIGTERM (limit ${budget}s)"
code=$(probe after-stop "$READINESS_PORT" "$READINESS_PATH")
[ "$code" != 200 ] || die "something still answers on port $READINESS_PORT after the stop"

# The pod's root filesystem is read-only: the app must not have written to it.
(cd "$root" && find . -xdev \( -type f -size +0 \) -newer "$work/files-before" | sort) >"$work/written"
if [ -s "$work/written" ]; then
    sed 's/^/    /' "$work/written" >&2
    die "the app wrote the files above; readOnlyRootFilesystem would break it"
fi
grep -q '"level"' "$work/app.log" || say "note: the app's log lines are not JSON objects"
say "passed in $(($(date +%s) - started))s"
