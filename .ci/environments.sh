#!/bin/sh
# The deploy side of the pipeline: it proposes, Flux pulls. What runs in an
# environment is the folder ENV/ of its branch, `environments/ENV` (rendered
# by .ci/render_environment.sh); a deploy is a commit there, a rollback is a
# revert. Each environment has its own branch so that each deploy key can be
# allowed to push to its own only (docs/pipeline.md, "Where the desired state
# lives"). No step here applies anything to a cluster: it can only read it
# (the GitLab agent's read-only access, k8s/clusters/ENV/pipeline-reader.yaml).
#
#   sh .ci/environments.sh deploy dev|prod
#       propose, wait for Flux, smoke test, record: on any failure the
#       proposal is reverted (and the job fails, saying so)
#   sh .ci/environments.sh settle dev|prod
#       for after_script: a proposal the job did not see through (timeout,
#       cancel) is reverted
#   sh .ci/environments.sh ran-in-dev [COMMIT]
#       prints the image (repository@digest) that dev ran and verified for
#       COMMIT [CI_COMMIT_SHA]; fails when dev never did
#
# The steps of `deploy`:
#   1. propose: render ENV/ from this commit (prod: with the image dev ran for
#      it, never a rebuild; refused when dev never ran it), commit it with
#      Source-Commit, Image and Job trailers, push.
#   2. wait: until Flux reports the proposal (or a later commit) applied and
#      Ready, at the spec it was given, in the root Kustomization and the
#      three it applies; or one of them fails on it (at once for a failed
#      build or health check, after 150 s for anything else, which Flux
#      retries); or FLUX_TIMEOUT passes.
#   3. smoke: .ci/smoke_test.sh against APP_URL, else (dev) the address the
#      Gateway reports, else (prod) https://PUBLIC_HOSTNAME once its DNS
#      record points at that address.
#   4. record: ENV/release gains `verified=`, committed and pushed; what a
#      release of this commit looks for.
#
# Environment:
#   ENVIRONMENTS_REMOTE   the repository [with ENVIRONMENTS_DEPLOY_KEY: the
#                         project over SSH; else CI_REPOSITORY_URL, enough to read]
#   ENVIRONMENTS_BRANCH   [environments/ENV]
#   ENVIRONMENTS_DEPLOY_KEY  SSH private key (a File variable: its path) of the
#                         deploy key allowed to push to that branch (required
#                         in CI to deploy)
#   FLUX_KNOWN_HOSTS      the Git server's host keys (a File variable;
#                         required in CI with the key)
#   KUBE_CONTEXT          kubectl context of the environment's agent
#                         [CI_PROJECT_PATH:conduit-ENV when KUBECONFIG is set]
#   FLUX_TIMEOUT          seconds to wait for Flux [1200]
#   REVERT_WAIT           seconds to wait for Flux to apply a revert [300]
#   GATEWAY_WAIT          seconds to wait for the Gateway's address [300]
#   APP_URL, PUBLIC_PATH_PREFIX, PUBLIC_HOSTNAME, SMOKE_PASSWORD (required
#                         in CI): the smoke test
#   STATE_FILE            where the steps leave their state [ENV.deploy-state]
#   DOTENV_FILE           ENVIRONMENT_URL=<where the smoke test found the app>,
#                         for the environment's link in GitLab [deploy.env]
#   DRY_RUN=1             render for real, print the other steps, change
#                         nothing, read nothing remote
#   plus what .ci/render_environment.sh reads (IMAGE_DIGEST, IMAGE_REPO, ...)
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
    echo "usage: $0 deploy|settle dev|prod, or $0 ran-in-dev [COMMIT]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
ACTION=$1
case $ACTION in
    deploy | settle)
        [ $# -eq 2 ] || usage
        case $2 in dev | prod) ENVIRONMENT=$2 ;; *) usage ;; esac
        ;;
    ran-in-dev)
        [ $# -le 2 ] || usage
        ENVIRONMENT=dev
        ;;
    *) usage ;;
esac
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
log_prefix="environments($ENVIRONMENT)"
DRY_RUN=${DRY_RUN:-0}
BRANCH=${ENVIRONMENTS_BRANCH:-environments/$ENVIRONMENT}
REMOTE=${ENVIRONMENTS_REMOTE:-}
if [ -z "$REMOTE" ] && [ -n "${ENVIRONMENTS_DEPLOY_KEY:-}" ] && [ -n "${CI_SERVER_HOST:-}" ]; then
    # Pushing: over SSH with the deploy key that may push to the branch.
    ssh_host=${CI_SERVER_SHELL_SSH_HOST:-$CI_SERVER_HOST}
    REMOTE=ssh://git@$ssh_host:${CI_SERVER_SHELL_SSH_PORT:-22}/${CI_PROJECT_PATH:?}.git
fi
# Reading only (ran-in-dev): the job's own clone URL, with its job token.
REMOTE=${REMOTE:-${CI_REPOSITORY_URL:-}}
DOTENV_FILE=${DOTENV_FILE:-$PROJECT/deploy.env}
FLUX_TIMEOUT=${FLUX_TIMEOUT:-1200}
REVERT_WAIT=${REVERT_WAIT:-300}
GATEWAY_WAIT=${GATEWAY_WAIT:-300}
STATE_FILE=${STATE_FILE:-$PROJECT/$ENVIRONMENT.deploy-state}
NAMESPACE=conduit-$ENVIRONMENT
# The root Kustomization (it applies ENV/flux), then the three it applies.
KUSTOMIZATIONS="conduit-flux conduit-infrastructure conduit-database conduit-app"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checkout=$work/environments

if [ -n "${ENVIRONMENTS_DEPLOY_KEY:-}" ]; then
    [ -s "$ENVIRONMENTS_DEPLOY_KEY" ] || die "ENVIRONMENTS_DEPLOY_KEY ($ENVIRONMENTS_DEPLOY_KEY) is missing or empty"
    # The key stays in its file; SSH reads it from there, never a log.
    cp "$ENVIRONMENTS_DEPLOY_KEY" "$work/deploy-key"
    chmod 600 "$work/deploy-key"
    # The server is checked against its published host keys (the same
    # known_hosts Flux uses); outside CI, the first key seen is accepted.
    if [ -n "${FLUX_KNOWN_HOSTS:-}" ] && [ -s "$FLUX_KNOWN_HOSTS" ]; then
        hosts="-o UserKnownHostsFile=$FLUX_KNOWN_HOSTS -o StrictHostKeyChecking=yes"
    elif [ "${CI:-}" = true ]; then
        die "set FLUX_KNOWN_HOSTS (a File variable): the Git server's host keys, to push over SSH"
    else
        hosts="-o StrictHostKeyChecking=accept-new"
    fi
    GIT_SSH_COMMAND="ssh -i $work/deploy-key -o IdentitiesOnly=yes $hosts"
    export GIT_SSH_COMMAND
fi

git_env() {
    git -C "$checkout" -c user.name="Conduit pipeline" -c user.email="conduit-pipeline@noreply.invalid" \
        -c commit.gpgsign=false "$@"
}

# state KEY: a value from the state file; state_set KEY VALUE.
state() { sed -n "s/^$1=//p" "$STATE_FILE" 2>/dev/null | tail -n 1; }
state_set() { echo "$1=$2" >>"$STATE_FILE"; }

# fetch: the branch into $checkout (created, empty, when it does not exist).
fetch() {
    [ -n "$REMOTE" ] || die "set ENVIRONMENTS_REMOTE (or run in GitLab CI: CI_SERVER_HOST, CI_PROJECT_PATH)"
    rm -rf "$checkout"
    if git ls-remote --exit-code "$REMOTE" "refs/heads/$BRANCH" >/dev/null 2>&1; then
        git clone --quiet --branch "$BRANCH" --single-branch "$REMOTE" "$checkout"
    else
        git ls-remote "$REMOTE" >/dev/null || die "cannot read $REMOTE"
        say "no branch $BRANCH in $REMOTE yet: starting it"
        git init --quiet -b "$BRANCH" "$checkout"
        git -C "$checkout" remote add origin "$REMOTE"
        printf '%s\n' "# What runs in $ENVIRONMENT" "" \
            "Written by the pipeline (.ci/environments.sh on the default branch); read by Flux" \
            "in the $ENVIRONMENT cluster. Roll back with \`git revert\`." >"$checkout/README.md"
        git_env add README.md
        git_env commit --quiet -m "$ENVIRONMENT: what runs there, pulled by Flux"
    fi
}

# refresh: the checkout at the branch's head.
refresh() {
    [ -d "$checkout/.git" ] || fetch
    git -C "$checkout" fetch --quiet origin "$BRANCH"
    git_env reset --quiet --hard "origin/$BRANCH"
}

# push: the checkout's branch; when someone pushed meanwhile, rebase on it.
push() {
    tries=0
    until git -C "$checkout" push --quiet origin "HEAD:refs/heads/$BRANCH"; do
        tries=$((tries + 1))
        [ "$tries" -lt 3 ] || die "could not push to $BRANCH"
        git_env pull --quiet --rebase origin "$BRANCH"
    done
}

# ran_in_dev COMMIT: the image dev ran and verified for COMMIT, from the
# history of dev/release on dev's branch (fetched already).
ran_in_dev() {
    for c in $(git -C "$checkout" log --format=%H -- dev/release); do
        record=$(git -C "$checkout" show "$c:dev/release" 2>/dev/null) || continue
        if printf '%s\n' "$record" | grep -qx "source_commit=$1" && printf '%s\n' "$record" | grep -q '^verified='; then
            printf '%s\n' "$record" | sed -n 's/^image=//p'
            return 0
        fi
    done
    return 1
}

propose() {
    : >"$STATE_FILE"
    fetch
    source_commit=${CI_COMMIT_SHA:-$(git rev-parse HEAD)}
    if [ "$ENVIRONMENT" = prod ]; then
        # dev's record is on dev's branch.
        own_checkout=$checkout own_branch=$BRANCH
        checkout=$work/dev BRANCH=${ENVIRONMENTS_DEV_BRANCH:-environments/dev}
        fetch
        image=$(ran_in_dev "$source_commit") ||
            die "commit $source_commit never ran in dev (no verified dev/release for it on $BRANCH): a release promotes what dev ran, never a rebuild. Let the default branch's pipeline deploy it to dev first"
        checkout=$own_checkout BRANCH=$own_branch
        IMAGE_REPO=${image%@*} IMAGE_DIGEST=${image#*@}
        export IMAGE_REPO IMAGE_DIGEST
        say "dev ran $image for $source_commit: proposing it for prod"
    fi
    SOURCE_COMMIT=$source_commit sh .ci/render_environment.sh "$ENVIRONMENT" "$checkout"
    image=$(sed -n 's/^image=//p' "$checkout/$ENVIRONMENT/release")
    git_env add -A "$ENVIRONMENT"
    if git_env diff --cached --quiet; then
        # Nothing differs, not even the record: this pipeline's own proposal
        # is there already (a retried job). Verify it, or revert it, now.
        proposed=$(git -C "$checkout" log -1 --format=%H -- "$ENVIRONMENT")
        state_set proposed "$proposed"
        if git -C "$checkout" show "HEAD:$ENVIRONMENT/release" | grep -q '^verified='; then
            say "$ENVIRONMENT already holds this render, verified (commit $proposed)"
            state_set status unchanged
        else
            say "$ENVIRONMENT already holds this render, not yet verified (commit $proposed): taking it up"
            state_set status proposed
        fi
        return 0
    fi
    short=$(printf '%s' "$source_commit" | cut -c1-12)
    digest=${image#*@}
    git_env commit --quiet -F - <<EOF
$ENVIRONMENT: conduit $short ($(printf '%s' "$digest" | cut -c1-19))

Source-Commit: $source_commit
Image: $image
Pipeline: ${CI_PIPELINE_URL:-none}
Job: ${CI_JOB_ID:-none}
EOF
    proposed=$(git -C "$checkout" rev-parse HEAD)
    # Before the push: a job cut short during it still leaves a trace that
    # `settle` can follow.
    state_set proposed "$proposed"
    state_set status pushing
    push
    proposed=$(git -C "$checkout" rev-parse HEAD)
    state_set proposed "$proposed"
    state_set status proposed
    say "proposed $image for $ENVIRONMENT: commit $proposed on $BRANCH"
}

# use_context: the environment's agent, when a kubeconfig is given.
use_context() {
    context=${KUBE_CONTEXT:-}
    if [ -z "$context" ] && [ -n "${KUBECONFIG:-}" ] && [ -n "${CI_PROJECT_PATH:-}" ]; then
        context=$CI_PROJECT_PATH:conduit-$ENVIRONMENT
    fi
    if [ -n "$context" ] && ! kubectl config use-context "$context" >/dev/null; then
        say "no kubectl context $context (the GitLab agent conduit-$ENVIRONMENT, .gitlab/agents/conduit-$ENVIRONMENT)"
        return 1
    fi
}

# applied KUSTOMIZATION: "applied|attempted|Ready|reason|generation|observed|message"
# of one Flux Kustomization, revisions as bare commit ids; fails when
# kubectl does (its error in $work/kubectl.err).
applied() {
    a_out=$(kubectl -n flux-system get kustomization "$1" -o \
        jsonpath='{.status.lastAppliedRevision}{"|"}{.status.lastAttemptedRevision}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"|"}{.status.conditions[?(@.type=="Ready")].reason}{"|"}{.metadata.generation}{"|"}{.status.observedGeneration}{"|"}{.status.conditions[?(@.type=="Ready")].message}' \
        2>"$work/kubectl.err") || return 1
    printf '%s\n' "$a_out" | sed 's/[^|]*@sha1://g'
}

# covers COMMIT: whether COMMIT is the proposal or comes after it.
covers() {
    [ -n "$1" ] || return 1
    git -C "$checkout" cat-file -e "$1^{commit}" 2>/dev/null ||
        git -C "$checkout" fetch --quiet origin "$BRANCH" 2>/dev/null || true
    git -C "$checkout" merge-base --is-ancestor "$proposed" "$1" 2>/dev/null
}

# wait_for COMMIT SECONDS: until Flux applied COMMIT (or later) everywhere.
wait_for() {
    proposed=$1
    deadline=$(($(date +%s) + $2))
    say "waiting up to $2s for Flux to apply $proposed ($KUSTOMIZATIONS)"
    : >"$work/failing"
    while :; do
        ready=0 total=0
        for k in $KUSTOMIZATIONS; do
            total=$((total + 1))
            line=$(applied "$k") || { say "$k: $(cat "$work/kubectl.err")"; continue; }
            old_ifs=$IFS
            IFS='|'
            # shellcheck disable=SC2086 # split on |
            set -- $line
            IFS=$old_ifs
            last=${1:-} attempted=${2:-} status=${3:-} reason=${4:-} generation=${5:-} observed=${6:-}
            if covers "$last" && [ "$status" = True ] && [ "$generation" = "$observed" ]; then
                ready=$((ready + 1))
                sed -i "/^$k /d" "$work/failing"
            elif covers "$attempted" && [ "$status" = False ]; then
                case $reason in
                    Progressing | DependencyNotReady | HealthCheckCanceled) continue ;;
                    # Final: Flux cannot build it, or it did not become healthy in its timeout.
                    BuildFailed | HealthCheckFailed)
                        say "Flux could not apply $k: $line"
                        return 1
                        ;;
                esac
                # Anything else Flux retries every minute: final if it persists.
                since=$(sed -n "s/^$k //p" "$work/failing")
                [ -n "$since" ] || { since=$(date +%s) && echo "$k $since" >>"$work/failing"; }
                if [ $(($(date +%s) - since)) -ge 150 ]; then
                    say "Flux could not apply $k for 150s: $line"
                    return 1
                fi
            fi
        done
        [ "$ready" -lt "$total" ] || break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            for k in $KUSTOMIZATIONS; do say "$k: $(applied "$k" || cat "$work/kubectl.err")"; done
            say "Flux did not report $proposed applied and ready in time"
            return 1
        fi
        sleep 10
    done
    say "Flux applied $proposed: all $total Kustomizations Ready"
}

smoke() {
    # Flux's health check of the app cannot read a Gateway's conditions; the
    # address comes with Programmed, within a few minutes of a new Gateway.
    deadline=$(($(date +%s) + GATEWAY_WAIT))
    while :; do
        if address=$(kubectl -n "$NAMESPACE" get gateway conduit -o jsonpath='{.status.addresses[0].value}' \
            2>"$work/kubectl.err"); then
            [ -z "$address" ] || break
        else
            say "reading the Gateway: $(cat "$work/kubectl.err")"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || { say "the Gateway reports no address after ${GATEWAY_WAIT}s"; return 1; }
        sleep 10
    done
    say "the Gateway's address: $address"
    url=${APP_URL:-}
    if [ -z "$url" ] && [ "$ENVIRONMENT" = prod ]; then
        [ -n "${PUBLIC_HOSTNAME:-}" ] || { say "set PUBLIC_HOSTNAME (or APP_URL) for prod"; return 1; }
        url=https://$PUBLIC_HOSTNAME
    fi
    url=${url:-http://$address}
    # A host name must lead to the Gateway: its DNS record is set by hand
    # to the address the Gateway reports (docs/operations.md, HTTPS).
    host=${url#*://}
    host=${host%%/*}
    host=${host%:*}
    if ! printf '%s\n' "$host" | grep -Eq '^[0-9]+(\.[0-9]+){3}$'; then
        resolved=$(getent ahostsv4 "$host" 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' ')
        case " $resolved " in
            *" $address "*) ;;
            *)
                say "$host resolves to '${resolved% }', not the Gateway's address $address: set its DNS A record to $address (docs/operations.md, HTTPS)"
                return 1
                ;;
        esac
    fi
    say "smoke test at ${url%/}${PUBLIC_PATH_PREFIX:-}"
    echo "ENVIRONMENT_URL=${url%/}${PUBLIC_PATH_PREFIX:-}/" >"$DOTENV_FILE"
    sh .ci/smoke_test.sh "${url%/}${PUBLIC_PATH_PREFIX:-}"
}

# record: the proposal verified; a release of this commit may take its image.
record() {
    refresh
    echo "verified=$(date -u +%Y-%m-%dT%H:%M:%SZ) by ${CI_JOB_URL:-a local run}" >>"$checkout/$ENVIRONMENT/release"
    git_env add "$ENVIRONMENT/release"
    git_env commit --quiet -m "$ENVIRONMENT: $(sed -n 's/^source_commit=//p' "$checkout/$ENVIRONMENT/release" | cut -c1-12) verified (applied, smoke test passed)"
    push
    state_set status verified
    say "verified: recorded in $ENVIRONMENT/release on $BRANCH"
}

# revert WHY [WAIT]: the proposal reverted and pushed; with WAIT, waited for.
revert() {
    case $(state status) in proposed | pushing) ;; *) return 0 ;; esac
    proposed=$(state proposed)
    refresh
    if ! git -C "$checkout" merge-base --is-ancestor "$proposed" HEAD 2>/dev/null; then
        say "$1; $proposed never reached $BRANCH: nothing to revert"
        state_set status reverted
        return 0
    fi
    if git -C "$checkout" diff --quiet "$proposed^" HEAD -- "$ENVIRONMENT"; then
        say "$1; $ENVIRONMENT is already back to what ran before $proposed"
        state_set status reverted
        return 0
    fi
    say "$1: reverting $proposed on $BRANCH"
    if ! git_env revert --no-edit "$proposed" >/dev/null; then
        git_env revert --abort || true
        die "could not revert $proposed by itself (later commits changed the same files): revert it by hand (docs/operations.md, Roll back)"
    fi
    git_env commit --quiet --amend -m "$(git -C "$checkout" log -1 --format=%B)

Reverted by the pipeline: $1" >/dev/null
    push
    reverted=$(git -C "$checkout" rev-parse HEAD)
    state_set status reverted
    say "reverted: $ENVIRONMENT is back to what ran before ($reverted); Flux applies it"
    if [ "${2:-wait}" = wait ]; then
        wait_for "$reverted" "$REVERT_WAIT" || say "Flux has not applied the revert yet; see its Kustomizations in $ENVIRONMENT"
    fi
}

case $ACTION in
    ran-in-dev)
        commit=${2:-${CI_COMMIT_SHA:-$(git rev-parse HEAD)}}
        if [ "$DRY_RUN" = 1 ]; then
            show git log -- dev/release "(on $BRANCH: the verified record of $commit)"
            # The placeholder promote.sh's dry run reads for every tag.
            echo "${IMAGE_REPO:-${CI_REGISTRY_IMAGE:-registry.gitlab.com/example/conduit}}@sha256:$(printf '%064d' 0)"
            exit 0
        fi
        fetch
        ran_in_dev "$commit" || die "commit $commit never ran in dev (no verified dev/release for it on $BRANCH)"
        ;;
    settle)
        case $(state status) in
            proposed | pushing)
                follow="wait"
                use_context || follow="no-wait"
                revert "the job ended (${CI_JOB_STATUS:-unknown}) before the deploy was verified" "$follow"
                ;;
            *) say "nothing to settle ($(state status || true))" ;;
        esac
        ;;
    deploy)
        if [ "$DRY_RUN" = 1 ]; then
            # The render is real (it is offline): what would be committed.
            show sh .ci/render_environment.sh "$ENVIRONMENT" "<$BRANCH checkout>"
            SOURCE_COMMIT=${CI_COMMIT_SHA:-$(git rev-parse HEAD)} sh .ci/render_environment.sh "$ENVIRONMENT" "$work/dry-run"
            show git commit "<$ENVIRONMENT/: Source-Commit, Image, Job>" '&&' git push origin "HEAD:$BRANCH"
            show kubectl -n flux-system get kustomization "$KUSTOMIZATIONS" "(until applied and Ready)"
            show kubectl -n "$NAMESPACE" get gateway conduit "(its address)"
            show sh .ci/smoke_test.sh "${APP_URL:-http://<the address the Gateway reports>}${PUBLIC_PATH_PREFIX:-}"
            say "on failure: git revert of the proposal, pushed to $BRANCH"
            say "dry run: nothing was changed"
            exit 0
        fi
        command -v kubectl >/dev/null || die "kubectl is required"
        if [ "${CI:-}" = true ]; then
            [ -n "${SMOKE_PASSWORD:-}" ] || die "set SMOKE_PASSWORD (masked, scoped to $ENVIRONMENT): the smoke user's password"
            [ -n "${ENVIRONMENTS_DEPLOY_KEY:-}${ENVIRONMENTS_REMOTE:-}" ] ||
                die "set ENVIRONMENTS_DEPLOY_KEY (a File variable, scoped to $ENVIRONMENT): the deploy key that may push to $BRANCH"
        fi
        # Before anything is proposed: a job that cannot read the cluster
        # must not leave a commit it cannot follow.
        use_context || die "cannot read the $ENVIRONMENT cluster: nothing was proposed"
        propose
        wait_for "$(state proposed)" "$FLUX_TIMEOUT" || { revert "Flux did not apply it"; exit 1; }
        smoke || { revert "the smoke test failed"; exit 1; }
        if [ "$(state status)" = proposed ]; then
            record
        else
            say "the running proposal passed the smoke test again"
        fi
        say "deployed: $(sed -n 's/^image=//p' "$checkout/$ENVIRONMENT/release") runs in $ENVIRONMENT"
        ;;
esac
