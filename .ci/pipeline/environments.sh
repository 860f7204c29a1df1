#!/bin/sh
# Check "environments" of .ci/check_pipeline.sh: .ci/environments.sh for real
# against a local bare repository standing in for the project, with its
# branches environments/dev and environments/prod, and the smoke test
# against a real `conduit serve`. What cannot exist here, a cluster running
# Flux and the GitLab agent's context, is stood in for by a `kubectl` on PATH
# (below) that reports the Kustomizations as Flux would: applied and Ready at
# the branch's head, failed on it (also before anything was ever applied),
# or still working.
#
#   1. dev: the proposal lands in dev/ only (image by digest, Source-Commit
#      trailer), Flux "applies" it, the smoke test passes, the record says
#      verified.
#   2. dev, no APP_URL: the smoke test goes to the Gateway's address, fails
#      there, and the proposal is reverted: dev/ is back to 1.
#   3. dev: Flux fails on the proposal: reverted; on a fresh cluster too, at
#      once; without the agent's context nothing is proposed at all.
#   4. dev: the job is killed while Flux is still working: the after_script
#      step (`settle`) reverts it; killed again with its state lost, the
#      retried job takes its own proposal up and verifies it.
#   5. prod: a commit dev never ran is refused; the commit dev ran is
#      proposed with the image dev verified last, lands on prod's branch in
#      prod/ only, passes, and is recorded.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

need_script .ci/environments.sh
need_script .ci/render_environment.sh
remote=$work/environments.git
git init --quiet --bare "$remote"
start_conduit env

# The cluster, stood in for: stub-flux says how Flux is doing (ready, fail,
# fresh: failed before anything was ever applied, pending), stub-address is
# the Gateway's address, stub-context says whether the agent's context exists.
mkdir -p "$work/stub-bin"
real_kubectl=$(command -v kubectl)
cat >"$work/stub-bin/kubectl" <<STUB
#!/bin/sh
# Stands in for a cluster running Flux (check "environments"): only the
# reads .ci/environments.sh makes are answered, for the branch of the
# namespace asked about (flux-system: the environment in stub-env).
case "\$*" in
    kustomize*) exec "$real_kubectl" "\$@" ;;
    "config use-context"*) [ "\$(cat "$work/stub-context")" = yes ] && exit 0
        echo "error: no context exists with the name: \"\$3\"" >&2; exit 1 ;;
esac
head=\$(git --git-dir="$remote" rev-parse "environments/\$(cat "$work/stub-env")" 2>/dev/null)
ok="environments/x@sha1:\$head|environments/x@sha1:\$head|True|ReconciliationSucceeded|2|2|Applied revision"
case "\$*" in
    *"get kustomization conduit-app "*)
        case \$(cat "$work/stub-flux") in
            ready) echo "\$ok" ;;
            fail) echo "environments/x@sha1:\$head~1|environments/x@sha1:\$head|False|HealthCheckFailed|2|2|timeout waiting for: [Deployment/conduit status: 'InProgress']" ;;
            fresh) echo "|environments/x@sha1:\$head|False|HealthCheckFailed|1|1|timeout waiting for: [Deployment/conduit status: 'InProgress']" ;;
            *) echo "environments/x@sha1:\$head~1|environments/x@sha1:\$head|Unknown|Progressing|2|2|Reconciliation in progress" ;;
        esac ;;
    *"get kustomization "*) echo "\$ok" ;;
    *"get gateway conduit "*) cat "$work/stub-address" ;;
    *) echo "kubectl stand-in: not answered: \$*" >&2; exit 1 ;;
esac
STUB
chmod +x "$work/stub-bin/kubectl"
# The stand-in answers the fail and pending cases with "<head>~1" as the
# last applied revision, which git resolves: the commit before the proposal.
echo yes >"$work/stub-context"

head_sha=$(git -C "$snap" rev-parse HEAD)
digest1=sha256:$(printf one | sha256sum | cut -c1-64)
digest2=sha256:$(printf two | sha256sum | cut -c1-64)
repo=registry.example.com/conduit/conduit

# deploy NAME FLUX ADDRESS VAR=VALUE... -- ARGS: one run of environments.sh in
# the snapshot; output in $work/NAME.log, status in deploy_status.
deploy() {
    d_name=$1 d_flux=$2 d_address=$3
    shift 3
    echo "$d_flux" >"$work/stub-flux"
    echo "$d_address" >"$work/stub-address"
    case " $* " in *" prod"*) echo prod ;; *) echo dev ;; esac >"$work/stub-env"
    deploy_status=0
    (cd "$snap" && env -i PATH="$work/stub-bin:$PATH" HOME="$HOME" TMPDIR="$work" \
        ENVIRONMENTS_REMOTE="$remote" STATE_FILE="$work/$d_name.state" DOTENV_FILE="$work/$d_name.env" \
        IMAGE_REPO="$repo" KUBE_CONTEXT=example/conduit:conduit-agent \
        CI_COMMIT_SHA="$head_sha" CI_PIPELINE_URL="https://gitlab.example.com/p/1" CI_JOB_ID=7 \
        SMOKE_PASSWORD=environments-smoke-password SMOKE_RETRIES=0 SMOKE_TIMEOUT=5 \
        FLUX_TIMEOUT=60 REVERT_WAIT=30 GATEWAY_WAIT=20 "$@") >"$work/$d_name.log" 2>&1 || deploy_status=$?
}
branch_file() { git --git-dir="$remote" show "environments/${2:-dev}:$1"; }
changed_by() { git --git-dir="$remote" show --name-only --format= "$1"; }
last_proposal() { git --git-dir="$remote" log --format=%H --grep '^Source-Commit:' -n 1 "environments/$1"; }

# 1. dev, passing.
deploy dev-ok ready 127.0.0.1 IMAGE_DIGEST="$digest1" APP_URL="http://127.0.0.1:$port" \
    sh .ci/environments.sh deploy dev
[ "$deploy_status" = 0 ] || { cat "$work/dev-ok.log" >&2; fail "dev deploy"; }
has "$work/dev-ok.log" "proposed $repo@$digest1 for dev" "dev deploy"
has "$work/dev-ok.log" "Flux applied" "dev deploy"
has "$work/dev-ok.log" "smoke: passed against http://127.0.0.1:$port" "dev deploy (smoke test)"
has "$work/dev-ok.log" "verified: recorded in dev/release" "dev deploy"
proposal=$(last_proposal dev)
changed_by "$proposal" >"$work/dev-ok.files"
has "$work/dev-ok.files" "dev/app/manifests.yaml" "dev proposal"
lacks "$work/dev-ok.files" "prod/" "dev proposal (only dev's folder)"
git --git-dir="$remote" log -1 --format=%B "$proposal" >"$work/dev-ok.msg"
has "$work/dev-ok.msg" "Source-Commit: $head_sha" "dev proposal message"
has "$work/dev-ok.msg" "Image: $repo@$digest1" "dev proposal message"
branch_file dev/app/manifests.yaml >"$work/dev-ok.app"
has "$work/dev-ok.app" "image: $repo@$digest1" "dev/app (pinned by digest)"
branch_file dev/release >"$work/dev-ok.release"
has "$work/dev-ok.release" "source_commit=$head_sha" "dev/release"
has_re "$work/dev-ok.release" "^verified=" "dev/release"
note "1. dev: proposal in dev/ only, pinned to $digest1, applied, smoke test passed, recorded"

# 2. dev without APP_URL: the Gateway's address, where nothing answers.
deploy dev-smoke-fails ready 127.0.0.9 IMAGE_DIGEST="$digest2" sh .ci/environments.sh deploy dev
[ "$deploy_status" != 0 ] || fail "a failed smoke test must fail the deploy"
has "$work/dev-smoke-fails.log" "smoke test at http://127.0.0.9" "no APP_URL: the Gateway's address"
has "$work/dev-smoke-fails.env" "ENVIRONMENT_URL=http://127.0.0.9/" "the environment's URL for GitLab"
has "$work/dev-smoke-fails.log" "the smoke test failed: reverting" "failed smoke test"
git --git-dir="$remote" log -1 --format=%B environments/dev >"$work/dev-smoke-fails.msg"
has "$work/dev-smoke-fails.msg" "Revert" "failed smoke test (a revert commit)"
has "$work/dev-smoke-fails.msg" "Reverted by the pipeline: the smoke test failed" "failed smoke test"
branch_file dev/app/manifests.yaml >"$work/dev-after-revert.app"
cmp -s "$work/dev-ok.app" "$work/dev-after-revert.app" || fail "after the revert dev/app is not what ran before"
note "2. dev without APP_URL: smoke test at the Gateway's address failed, reverted to 1"

# 3. Flux fails on the proposal.
deploy dev-flux-fails fail 127.0.0.1 IMAGE_DIGEST="$digest2" APP_URL="http://127.0.0.1:$port" \
    sh .ci/environments.sh deploy dev
[ "$deploy_status" != 0 ] || fail "a proposal Flux could not apply must fail the deploy"
has "$work/dev-flux-fails.log" "Flux could not apply conduit-app" "Flux failure"
has "$work/dev-flux-fails.log" "Flux did not apply it: reverting" "Flux failure"
branch_file dev/app/manifests.yaml >"$work/dev-after-revert.app"
cmp -s "$work/dev-ok.app" "$work/dev-after-revert.app" || fail "after the revert dev/app is not what ran before"
note "3. dev: Flux reported a failed health check, reverted to 1"

# 3b. Flux failed before anything was ever applied (a fresh cluster: the
# last applied revision is empty): still seen at once, not after the timeout.
deploy dev-flux-fresh fresh 127.0.0.1 IMAGE_DIGEST="$digest2" FLUX_TIMEOUT=600 APP_URL="http://127.0.0.1:$port" \
    sh .ci/environments.sh deploy dev
[ "$deploy_status" != 0 ] || fail "a proposal Flux could not apply on a fresh cluster must fail the deploy"
has "$work/dev-flux-fresh.log" "Flux could not apply conduit-app" "Flux failure on a fresh cluster"
lacks "$work/dev-flux-fresh.log" "did not report" "Flux failure on a fresh cluster (seen at once)"
note "3b. dev: Flux failed with nothing applied yet: seen at once, reverted"

# 3c. The agent's context is missing: nothing is proposed.
echo no >"$work/stub-context"
before=$(git --git-dir="$remote" rev-parse environments/dev)
deploy dev-no-context ready 127.0.0.1 IMAGE_DIGEST="$digest2" sh .ci/environments.sh deploy dev
echo yes >"$work/stub-context"
[ "$deploy_status" != 0 ] || fail "a deploy that cannot read the cluster must fail"
has "$work/dev-no-context.log" "nothing was proposed" "no kubectl context"
[ "$(git --git-dir="$remote" rev-parse environments/dev)" = "$before" ] || fail "no kubectl context: a commit was pushed"
note "3c. dev: no context for the cluster: refused before proposing"

# 4. The job is killed while Flux works on it; after_script settles it.
deploy dev-killed pending 127.0.0.1 IMAGE_DIGEST="$digest2" FLUX_TIMEOUT=600 \
    timeout 15 sh .ci/environments.sh deploy dev
[ "$deploy_status" = 124 ] || { cat "$work/dev-killed.log" >&2; fail "the stand-in job was not killed ($deploy_status)"; }
has "$work/dev-killed.state" "status=proposed" "killed job (a proposal left behind)"
deploy dev-settle ready 127.0.0.1 STATE_FILE="$work/dev-killed.state" CI_JOB_STATUS=failed \
    sh .ci/environments.sh settle dev
[ "$deploy_status" = 0 ] || { cat "$work/dev-settle.log" >&2; fail "settle"; }
has "$work/dev-settle.log" "the job ended (failed) before the deploy was verified: reverting" "settle"
branch_file dev/app/manifests.yaml >"$work/dev-after-revert.app"
cmp -s "$work/dev-ok.app" "$work/dev-after-revert.app" || fail "after settle dev/app is not what ran before"
note "4. dev: a job killed mid-wait left its proposal; settle (after_script) reverted it"

# 4b. Killed, and its state lost with its runner: the retried job finds its
# own proposal unverified, takes it up, and verifies it.
deploy dev-killed-2 pending 127.0.0.1 IMAGE_DIGEST="$digest2" FLUX_TIMEOUT=600 CI_PIPELINE_URL=https://gitlab.example.com/p/2 \
    timeout 15 sh .ci/environments.sh deploy dev
[ "$deploy_status" = 124 ] || fail "the second stand-in job was not killed ($deploy_status)"
deploy dev-retried ready 127.0.0.1 IMAGE_DIGEST="$digest2" CI_PIPELINE_URL=https://gitlab.example.com/p/2 \
    APP_URL="http://127.0.0.1:$port" sh .ci/environments.sh deploy dev
[ "$deploy_status" = 0 ] || { cat "$work/dev-retried.log" >&2; fail "the retried dev deploy"; }
has "$work/dev-retried.log" "not yet verified" "retried job"
has "$work/dev-retried.log" "verified: recorded in dev/release" "retried job"
branch_file dev/app/manifests.yaml >"$work/dev-retried.app"
has "$work/dev-retried.app" "image: $repo@$digest2" "retried job (its image runs)"
note "4b. dev: a retried job whose state was lost took up its own unverified proposal and verified it"

# 5. prod: only what dev ran.
prod_vars="PUBLIC_HOSTNAME=conduit.example.org ACME_EMAIL=ops@example.org DNS01_PROJECT=example BACKUP_BUCKET=example-backups"
# shellcheck disable=SC2086 # one word per variable
deploy prod-never-ran ready 127.0.0.1 $prod_vars CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567 \
    sh .ci/environments.sh deploy prod
[ "$deploy_status" != 0 ] || fail "a release of a commit dev never ran must be refused"
has "$work/prod-never-ran.log" "never ran in dev" "release never run in dev"
git --git-dir="$remote" branch --list >"$work/branches"
lacks "$work/branches" "environments/prod" "release never run in dev (nothing proposed)"
# shellcheck disable=SC2086
deploy prod-ok ready 127.0.0.1 $prod_vars APP_URL="http://127.0.0.1:$port" sh .ci/environments.sh deploy prod
[ "$deploy_status" = 0 ] || { cat "$work/prod-ok.log" >&2; fail "prod deploy"; }
has "$work/prod-ok.log" "dev ran $repo@$digest2 for $head_sha" "prod deploy (the image dev ran last)"
proposal=$(last_proposal prod)
changed_by "$proposal" >"$work/prod-ok.files"
has "$work/prod-ok.files" "prod/app/manifests.yaml" "prod proposal"
lacks "$work/prod-ok.files" "dev/" "prod proposal (only prod's folder)"
branch_file prod/app/manifests.yaml prod >"$work/prod-ok.app"
has "$work/prod-ok.app" "image: $repo@$digest2" "prod/app (dev's image)"
branch_file prod/release prod >"$work/prod-ok.release"
has_re "$work/prod-ok.release" "^verified=" "prod/release"
deploy ran-in-dev ready 127.0.0.1 sh .ci/environments.sh ran-in-dev
[ "$deploy_status" = 0 ] || { cat "$work/ran-in-dev.log" >&2; fail "ran-in-dev"; }
has "$work/ran-in-dev.log" "$repo@$digest2" "ran-in-dev"
note "5. prod: a commit dev never ran refused; the release takes the image dev verified last ($digest2), lands in prod/ only"
