#!/bin/sh
# Check "schema" of .ci/check_pipeline.sh: .gitlab-ci.yml against GitLab's
# JSON schema (check-jsonschema's vendored copy).
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

check-jsonschema --builtin-schema vendor.gitlab-ci --data-transform gitlab-ci .gitlab-ci.yml
