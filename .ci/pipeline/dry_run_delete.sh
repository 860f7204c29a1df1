#!/bin/sh
# Check "delete" of .ci/check_pipeline.sh, with DRY_RUN=1 in the snapshot:
# .ci/kops_delete.sh deletes a cluster only when KOPS_DELETE_CONFIRM is its
# name; .ci/gcp_auth.sh writes an external_account credential file for
# Workload Identity Federation without printing the token, takes a key file,
# and fails with no credentials at all outside a dry run.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

for env in dev prod; do
    name=conduit-$env.example.com
    set -- K8S_CLUSTER_NAME="$name" KOPS_STATE_STORE=gs://fake-kops-state GCP_PROJECT=fake-project
    dry "delete-$env-unconfirmed" "$@" sh .ci/kops_delete.sh "$env"
    expect_fail "delete-$env-unconfirmed"
    lacks "$work/delete-$env-unconfirmed.err" "+ kops" "delete-$env-unconfirmed"
    dry "delete-$env-wrong" "$@" KOPS_DELETE_CONFIRM=conduit-other.example.com sh .ci/kops_delete.sh "$env"
    expect_fail "delete-$env-wrong"
    dry "delete-$env" "$@" KOPS_DELETE_CONFIRM="$name" sh .ci/kops_delete.sh "$env"
    expect_ok "delete-$env"
    has "$work/delete-$env.err" "+ kops delete cluster --name $name --yes" "delete-$env"
done
# Workload Identity Federation: an external_account credential file.
# (Single quotes: the sourced script's variables expand in the child.)
# shellcheck disable=SC2016
dry auth-wif GCP_ID_TOKEN=fake.jwt.token GCP_SERVICE_ACCOUNT=deployer@fake-project.iam.gserviceaccount.com \
    GCP_WORKLOAD_IDENTITY_PROVIDER=projects/123/locations/global/workloadIdentityPools/gitlab/providers/gitlab \
    GCP_AUTH_DIR="$work/auth-wif" \
    sh -c '. .ci/gcp_auth.sh && echo "$GOOGLE_APPLICATION_CREDENTIALS"'
expect_ok auth-wif
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["type"]=="external_account" and c["audience"].startswith("//iam.googleapis.com/projects/123/"), c' \
    "$work/auth-wif/credentials.json" || fail "auth-wif: bad credential file"
lacks "$work/auth-wif.out" "fake.jwt.token" "auth-wif (token printed)"
# The key-file fallback, and nothing at all.
printf '{"type": "service_account", "project_id": "fake-project"}\n' >"$work/key.json"
# shellcheck disable=SC2016
dry auth-key GCP_SERVICE_ACCOUNT_KEY="$work/key.json" sh -c '. .ci/gcp_auth.sh && echo "$GOOGLE_APPLICATION_CREDENTIALS"'
expect_ok auth-key
has "$work/auth-key.out" "$work/key.json" "auth-key"
dry auth-none sh -c 'DRY_RUN=0; . .ci/gcp_auth.sh'
expect_fail auth-none
note "deletes only with KOPS_DELETE_CONFIRM = cluster name; WIF, key file and no-credential cases"
