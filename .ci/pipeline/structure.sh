#!/bin/sh
# Check "structure" of .ci/check_pipeline.sh: the expanded configuration
# (structure.py: rules on every job and no only/except, environments and
# resource groups on the jobs that change one, the production gate, the
# reports, never `latest`); every script the jobs call exists; the cloud
# identities are for protected refs only; the test job's nextest profile.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

# As JSON (js-yaml reads it, anchors resolved) for structure.py.
"$jsyaml" .gitlab-ci.yml >"$work/raw.json"
# --preview expands extends and anchors as GitLab would; it needs a git
# work tree, so run it in the snapshot.
(cd "$snap" && "$gcl" --preview >"$work/preview.yml" 2>"$work/preview.err") \
    || { cat "$work/preview.err" >&2; fail "gitlab-ci-local --preview"; }
"$jsyaml" "$work/preview.yml" >"$work/preview.json"
python3 "$(dirname "$0")/structure.py" "$work/raw.json" "$work/preview.json"
# Every script the jobs call is there.
grep -o '\.ci/[A-Za-z0-9_]*\.sh' .gitlab-ci.yml | sort -u >"$work/called"
while read -r script; do
    [ -f "$script" ] || fail "$script is called by .gitlab-ci.yml but does not exist"
done <"$work/called"
# Every cloud identity is for protected refs only: the Workload Identity
# provider's condition in docs/pipeline.md (what operators paste) must
# require ref_protected for all of them, with no way around it.
condition=$(sed -n "s/.*--attribute-condition=\"\(.*\)\".*/\1/p" docs/pipeline.md)
[ -n "$condition" ] || fail "docs/pipeline.md: no --attribute-condition for the identity pool"
case $condition in
    *"||"*) fail "docs/pipeline.md: the attribute condition has an alternative ('||'): $condition" ;;
    *"assertion.ref_protected == 'true'"*) ;;
    *) fail "docs/pipeline.md: the attribute condition does not require a protected ref: $condition" ;;
esac
note "identity pool condition: $condition"
# prod's service account: only for a job of the prod environment on a tag
# (protected, by the condition above), never for a branch that declares prod.
grep -q "attribute.environment_ref=assertion.environment + \"\.\" + assertion.ref_type" docs/pipeline.md ||
    fail "docs/pipeline.md: the identity pool must map attribute.environment_ref (environment.ref_type)"
grep -q "workloadIdentityPools/gitlab/attribute.environment_ref/prod.tag'" docs/pipeline.md ||
    fail "docs/pipeline.md: prod's service account must be bound to attribute.environment_ref/prod.tag"
note "prod's identity: environment prod on a protected tag only"
# `--profile ci` of the test and coverage jobs, with its JUnit file.
if [ ! -f .config/nextest.toml ]; then
    note "WARNING: no .config/nextest.toml: the test job's --profile ci (JUnit) needs one"
elif ! grep -q '^\[profile\.ci\.junit\]' .config/nextest.toml; then
    fail ".config/nextest.toml has no [profile.ci.junit] (the test job's JUnit report)"
fi
