#!/bin/sh
# Check "jobs" of .ci/check_pipeline.sh: the job list of each pipeline case
# (docs/pipeline.md, "What runs when"), evaluated by gitlab-ci-local from the
# file itself in the snapshot, and the workflow rules evaluated the same way
# (gitlab-ci-local applies them only to variables, so they are checked as
# the rules of a probe job, jobs.py probe).
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

jobs_py=$(dirname "$0")/jobs.py
# The predefined variables the cases set (gitlab-ci-local warns otherwise).
predefined=CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_COMMIT_REF_NAME,CI_COMMIT_TAG,CI_DEFAULT_BRANCH

# jobs_for NAME VAR=VALUE...: the jobs gitlab-ci-local would run for these
# predefined variables, as "name when allow_failure" lines in $work/NAME.jobs.
jobs_for() {
    j_name=$1
    shift
    set -- --ignore-predefined-vars "$predefined" "$@"
    (cd "$snap" && "$gcl" --list-json "$@") >"$work/$j_name.list" 2>"$work/$j_name.list.err" \
        || { cat "$work/$j_name.list.err" >&2; fail "gitlab-ci-local --list-json for $j_name"; }
    python3 "$jobs_py" list "$work/$j_name.list" >"$work/$j_name.jobs"
}

# expect_jobs NAME "job[=when,allow_failure] ...": the job set must be
# exactly this.
expect_jobs() {
    e_want=$(for j in $2; do echo "$j"; done | sed 's/=.*//' | sort | tr '\n' ' ')
    e_got=$(cut -d' ' -f1 "$work/$1.jobs" | sort | tr '\n' ' ')
    [ "$e_got" = "$e_want" ] || fail "$1: jobs are [$e_got], expected [$e_want]"
    for j in $2; do
        case $j in
            *=*)
                e_job=${j%%=*} e_how=${j#*=}
                e_line=$(grep "^$e_job " "$work/$1.jobs")
                [ "${e_line#* }" = "$(echo "$e_how" | tr ',' ' ')" ] \
                    || fail "$1: $e_job is '${e_line#* }', expected '$(echo "$e_how" | tr ',' ' ')'"
                ;;
        esac
    done
    e_list=$(cut -d' ' -f1,2 "$work/$1.jobs" | sed 's/ on_success$//; s/ manual$/ (manual)/' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
    note "$(printf '%-22s' "$1:") ${e_list:-(no job)}"
}

# workflow_for NAME VAR=VALUE...: "yes" when workflow:rules create a pipeline.
workflow_for() {
    w_name=$1
    shift
    set -- --ignore-predefined-vars "$predefined" --file .workflow-probe.yml "$@"
    (cd "$snap" && "$gcl" --list-json "$@") >"$work/$w_name.wf" 2>"$work/$w_name.wf.err" \
        || { cat "$work/$w_name.wf.err" >&2; fail "gitlab-ci-local (workflow probe) for $w_name"; }
    if [ -n "$(python3 "$jobs_py" list "$work/$w_name.wf")" ]; then
        echo yes
    else
        echo no
    fi
}

"$jsyaml" .gitlab-ci.yml >"$work/raw.json"
python3 "$jobs_py" probe "$work/raw.json" "$snap/.workflow-probe.yml"

# The four cases of the issue, and the variants that change them.
branch="--variable CI_COMMIT_BRANCH=main --variable CI_COMMIT_REF_NAME=main --variable CI_PIPELINE_SOURCE=push"
mr="--unset-variable CI_COMMIT_BRANCH --variable CI_COMMIT_REF_NAME=feature/x \
    --variable CI_PIPELINE_SOURCE=merge_request_event --variable CI_MERGE_REQUEST_IID=7 \
    --variable CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main --variable CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=feature/x"
tag="--unset-variable CI_COMMIT_BRANCH --variable CI_PIPELINE_SOURCE=push --variable CI_COMMIT_TAG=v1.2.3 \
    --variable CI_COMMIT_REF_NAME=v1.2.3"
rc="--unset-variable CI_COMMIT_BRANCH --variable CI_PIPELINE_SOURCE=push --variable CI_COMMIT_TAG=v1.2.3-rc1 \
    --variable CI_COMMIT_REF_NAME=v1.2.3-rc1"
feature="--variable CI_COMMIT_BRANCH=feature/x --variable CI_COMMIT_REF_NAME=feature/x --variable CI_PIPELINE_SOURCE=push"
schedule="--variable CI_COMMIT_BRANCH=main --variable CI_COMMIT_REF_NAME=main --variable CI_PIPELINE_SOURCE=schedule"
schedule_feature="--variable CI_COMMIT_BRANCH=feature/x --variable CI_COMMIT_REF_NAME=feature/x \
    --variable CI_PIPELINE_SOURCE=schedule"

tests="test lint=on_success,true manifests coverage cargo-deny=on_success,false"
dev="build pack scan=on_success,false sbom cluster:dev:delete=manual,true deploy:dev=on_success,false"
prod="promote scan=on_success,false sbom cluster:prod:delete=manual,true deploy:prod=manual,false"

# shellcheck disable=SC2086 # the case variables are lists of arguments
{
    [ "$(workflow_for wf-default $branch)" = yes ] || fail "workflow: no pipeline for a default-branch commit"
    [ "$(workflow_for wf-mr $mr)" = yes ] || fail "workflow: no pipeline for a merge request"
    [ "$(workflow_for wf-tag $tag)" = yes ] || fail "workflow: no pipeline for v1.2.3"
    [ "$(workflow_for wf-rc $rc)" = no ] || fail "workflow: a pipeline for v1.2.3-rc1"
    [ "$(workflow_for wf-feature $feature)" = no ] || fail "workflow: a pipeline for a branch without merge request"
    # The deploys' own commits start nothing: Flux pulls them.
    for b in environments/dev environments/prod; do
        [ "$(workflow_for "wf-environments-${b#environments/}" --variable CI_COMMIT_BRANCH=$b \
            --variable CI_COMMIT_REF_NAME=$b --variable CI_PIPELINE_SOURCE=push)" = no ] \
            || fail "workflow: a pipeline for the branch $b"
    done
    [ "$(workflow_for wf-schedule $schedule)" = yes ] || fail "workflow: no pipeline for the daily schedule"
    [ "$(workflow_for wf-schedule-feature $schedule_feature)" = no ] \
        || fail "workflow: a pipeline for a schedule on another branch"
    for t in v1.2 1.2.3 v1.2.3.4 xv1.2.3 v1.2.3-rc1 v01.2.3x; do
        [ "$(workflow_for "wf-$t" --unset-variable CI_COMMIT_BRANCH --variable "CI_COMMIT_TAG=$t")" = no ] \
            || fail "workflow: a pipeline for tag $t"
    done
    [ "$(workflow_for wf-v10 --unset-variable CI_COMMIT_BRANCH --variable CI_COMMIT_TAG=v10.20.30)" = yes ] \
        || fail "workflow: no pipeline for v10.20.30"
    note "workflow: pipelines for the default branch, merge requests, v1.2.3, v10.20.30;" \
        "a schedule on the default branch; none for v1.2.3-rc1, v1.2, 1.2.3, v1.2.3.4, xv1.2.3," \
        "a branch without merge request (environments/dev and environments/prod too), a schedule on another branch"

    jobs_for default-branch $branch
    expect_jobs default-branch "$tests $dev"
    jobs_for merge-request $mr
    expect_jobs merge-request "$tests build"
    jobs_for tag-v1.2.3 $tag
    expect_jobs tag-v1.2.3 "$tests $prod"
    jobs_for tag-v1.2.3-rc1 $rc
    expect_jobs tag-v1.2.3-rc1 ""
    # The daily advisory check: nothing else, even when asked for a cluster.
    jobs_for schedule $schedule
    expect_jobs schedule "cargo-deny=on_success,false"
    jobs_for schedule-KOPS_APPLY $schedule --variable KOPS_APPLY=true
    expect_jobs schedule-KOPS_APPLY "cargo-deny"

    # Variants: the cluster jobs.
    jobs_for default-KOPS_APPLY $branch --variable KOPS_APPLY=true
    expect_jobs default-KOPS_APPLY "$tests $dev cluster:dev=on_success,false"
    jobs_for tag-KOPS_APPLY $tag --variable KOPS_APPLY=true
    expect_jobs tag-KOPS_APPLY "$tests $prod cluster:prod=manual,false"
    jobs_for mr-KOPS_APPLY $mr --variable KOPS_APPLY=true
    expect_jobs mr-KOPS_APPLY "$tests build"
    # A change under k8s/kops/ (uncommitted in the snapshot: gitlab-ci-local
    # compares the work tree with origin/main).
    kops_spec=k8s/kops/changed.yaml
    for f in "$snap"/k8s/kops/*.yaml; do
        [ -f "$f" ] && kops_spec=k8s/kops/${f##*/} && break
    done
    echo "# changed" >>"$snap/$kops_spec"
    jobs_for default-kops-changed $branch
    expect_jobs default-kops-changed "$tests $dev cluster:dev=on_success,false"
    jobs_for mr-kops-changed $mr
    expect_jobs mr-kops-changed "$tests build"
    jobs_for web-kops-changed $branch --variable CI_PIPELINE_SOURCE=web
    expect_jobs web-kops-changed "$tests $dev"
    jobs_for schedule-kops-changed $schedule
    expect_jobs schedule-kops-changed "cargo-deny"
    (cd "$snap" && git checkout -q -- "$kops_spec" 2>/dev/null) || rm -f "$snap/$kops_spec"
}
