#!/bin/sh
# Scans the image the pack job pushed, by digest, with grype (pinned: the
# scan job's GRYPE_VERSION, installed by .ci/install_tools.sh), and applies
# the policy of .ci/scan_report.py: a High or Critical finding that has a
# fixed version fails the job.
#
#   sh .ci/image_scan.sh REGISTRY/REPO@sha256:DIGEST
#
# The image is FROM scratch: its one program is the musl binary, built with
# cargo-auditable, so grype finds the crates it was built from in its
# .dep-v0 section and matches them against the GitHub advisories (RustSec's
# included). Grype pulls the image itself (no daemon), with the job's
# registry credentials (CI_REGISTRY, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD),
# which never appear on a command line.
#
# Writes grype.json (all findings, grype's own format) and
# gl-container-scanning-report.json (GitLab's container scanning report).
# GRYPE_DB_CACHE_DIR may point into a GitLab cache; the database is updated
# first and grype refuses one built more than 5 days ago.
# DRY_RUN=1 prints the grype commands instead of running them.
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$#" -eq 1 ] && [ -n "$1" ] || die "usage: $0 REGISTRY/REPO@sha256:DIGEST"
image=$1
case $image in
    *@sha256:*) ;;
    *) die "$image: scan the pushed digest (REPO@sha256:...), not a tag that can move" ;;
esac
findings=${GRYPE_JSON:-grype.json}
report=${SCAN_REPORT:-gl-container-scanning-report.json}

if [ -n "${CI_REGISTRY:-}" ] && [ -n "${CI_REGISTRY_USER:-}" ] && [ -n "${CI_REGISTRY_PASSWORD:-}" ]; then
    GRYPE_REGISTRY_AUTH_AUTHORITY=$CI_REGISTRY
    GRYPE_REGISTRY_AUTH_USERNAME=$CI_REGISTRY_USER
    GRYPE_REGISTRY_AUTH_PASSWORD=$CI_REGISTRY_PASSWORD
    export GRYPE_REGISTRY_AUTH_AUTHORITY GRYPE_REGISTRY_AUTH_USERNAME GRYPE_REGISTRY_AUTH_PASSWORD
    say "registry credentials for $CI_REGISTRY from the job"
fi
GRYPE_CHECK_FOR_APP_UPDATE=false
GRYPE_DB_VALIDATE_AGE=true
GRYPE_DB_MAX_ALLOWED_BUILT_AGE=120h
export GRYPE_CHECK_FOR_APP_UPDATE GRYPE_DB_VALIDATE_AGE GRYPE_DB_MAX_ALLOWED_BUILT_AGE

run grype version
run grype db update
run grype db status
# Every finding in the JSON and the log; the policy is decided below, from
# the JSON, so that findings without a fix are reported but do not fail.
run grype "registry:$image" --output table --output "json=$findings"
if [ "${DRY_RUN:-0}" = 1 ]; then
    show python3 .ci/scan_report.py "$findings" "$report" "$image"
    exit 0
fi
python3 "$(dirname "$0")/scan_report.py" "$findings" "$report" "$image"
