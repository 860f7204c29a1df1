#!/bin/sh
# Checks the GitLab pipeline offline, without GitLab and without a cluster:
#
#   sh .ci/check_pipeline.sh              (from .ci/run, or by hand from anywhere)
#   sh .ci/check_pipeline.sh smoke jobs   (only the checks named)
#
# Each check is a script in .ci/pipeline/ (its header says what it checks),
# run in this order; tools and snapshot always run first:
#
#   tools       installs what is missing (tools.sh)
#   snapshot    the work tree committed in a repository of its own, where the
#               dry runs and gitlab-ci-local run (snapshot.sh)
#   schema      .gitlab-ci.yml against GitLab's JSON schema (schema.sh)
#   lint        shellcheck of every .ci shell script as POSIX sh, pyflakes of
#               every .ci Python file (lint.sh; `shellcheck` names it too)
#   pins        .ci/check_pins.py: every image and tool at an exact version,
#               each listed in docs/operations.md
#   structure   the expanded configuration (structure.sh, structure.py)
#   pack, kops, delete
#               each pipeline script with DRY_RUN=1 and fake variables,
#               asserting on what it prints (dry_run_*.sh)
#   environments  .ci/environments.sh for real against a local bare
#               repository: propose, Flux's report (stood in for), smoke
#               test, revert, release only what dev ran (environments.sh)
#   scan        .ci/image_scan.sh with DRY_RUN=1, and the scan policy and
#               report of .ci/scan_report.py on grype-format findings (scan.sh)
#   promote     .ci/promote.sh for real against a local registry
#               (promote_registry.sh)
#   smoke       .ci/smoke_test.sh for real against a local server (smoke.sh)
#   jobs        the job list of each pipeline case and the workflow rules,
#               evaluated by gitlab-ci-local (jobs.sh, jobs.py)
#
# Prints each check's name and duration, stops at the first failure.
# Environment: SMOKE_BINARY (server binary for the smoke check),
# CI_TOOLS_DIR (where npm tools go; default .ci/.tools),
# KEEP_WORK=1 (keep the temporary folder for a look).
set -eu
cd "$(dirname "$0")/.."
checks=.ci/pipeline
names="schema lint pins structure pack scan kops environments delete promote smoke jobs"

selected=
for name in "$@"; do
    # The lint check's name from before it also ran pyflakes.
    if [ "$name" = shellcheck ]; then
        name=lint
    fi
    case " $names " in
        *" $name "*) selected="$selected $name" ;;
        *)
            echo "usage: $0 [$(echo "$names" | tr ' ' '|')]..." >&2
            exit 2
            ;;
    esac
done

CHECK_PIPELINE_WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-pipeline.XXXXXX")
CHECK_PIPELINE_SNAPSHOT=$CHECK_PIPELINE_WORK/snapshot
export CHECK_PIPELINE_WORK CHECK_PIPELINE_SNAPSHOT
cleanup() {
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "check_pipeline: work folder kept: $CHECK_PIPELINE_WORK"
    else
        rm -rf "$CHECK_PIPELINE_WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Milliseconds since the epoch (seconds * 1000 where date has no %N).
now_ms() {
    t=$(date +%s%N)
    case $t in
        *N) echo $(($(date +%s) * 1000)) ;;
        *) echo $((t / 1000000)) ;;
    esac
}
fmt_ms() { echo "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))s"; }

# check NAME TITLE COMMAND...: runs COMMAND when NAME is "always", was
# named on the command line, or no name was; prints its duration, and stops
# everything if it failed.
check() {
    c_name=$1 c_title=$2
    shift 2
    case " always ${selected:-$names} " in
        *" $c_name "*) ;;
        *) return 0 ;;
    esac
    c_start=$(now_ms)
    echo "==> pipeline: $c_title"
    c_status=0
    "$@" || c_status=$?
    c_time=$(fmt_ms $(($(now_ms) - c_start)))
    if [ "$c_status" -ne 0 ]; then
        echo "<== pipeline: $c_title FAILED after $c_time" >&2
        exit 1
    fi
    echo "<== pipeline: $c_title ok in $c_time"
}

total_start=$(now_ms)
check always "tools" sh "$checks/tools.sh"
check always "snapshot of the work tree" sh "$checks/snapshot.sh"
check schema "schema (check-jsonschema vendor.gitlab-ci)" sh "$checks/schema.sh"
check lint "lint (shellcheck .ci/**/*.sh, pyflakes .ci/**/*.py)" sh "$checks/lint.sh"
check pins "pins (exact, and listed in docs/operations.md)" python3 .ci/check_pins.py
check structure "structure of the expanded configuration" sh "$checks/structure.sh"
check pack "dry run: docker_pack.sh" sh "$checks/dry_run_pack.sh"
check scan "image scan: image_scan.sh dry run, scan_report.py policy" sh "$checks/scan.sh"
check kops "dry run: kops_cluster.sh dev|prod" sh "$checks/dry_run_kops.sh"
check environments "environments: propose, revert, release (local bare repository)" sh "$checks/environments.sh"
check delete "dry run: kops_delete.sh, gcp_auth.sh" sh "$checks/dry_run_delete.sh"
check promote "promote.sh against a local registry" sh "$checks/promote_registry.sh"
check smoke "smoke_test.sh against a local server" sh "$checks/smoke.sh"
check jobs "job lists per pipeline case (gitlab-ci-local)" sh "$checks/jobs.sh"
echo "pipeline checks passed in $(fmt_ms $(($(now_ms) - total_start)))"
