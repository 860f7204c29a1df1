#!/bin/sh
# Check "kops" of .ci/check_pipeline.sh: .ci/kops_cluster.sh dev|prod with
# DRY_RUN=1 in the snapshot renders the Cluster and InstanceGroups with every
# variable substituted (one zone in dev, three in prod) and prints the kops
# update and validate commands; without its variables, or for an unknown
# environment, it stops.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

need_script .ci/kops_cluster.sh
for env in dev prod; do
    name=conduit-$env.example.com
    dry "kops-$env" K8S_CLUSTER_NAME="$name" KOPS_STATE_STORE=gs://fake-kops-state \
        GCP_PROJECT=fake-project ADMIN_CIDR=203.0.113.0/24 sh .ci/kops_cluster.sh "$env"
    expect_ok "kops-$env"
    out=$work/kops-$env.out err=$work/kops-$env.err
    has "$out" "kind: Cluster" "kops-$env"
    has "$out" "kind: InstanceGroup" "kops-$env"
    has "$out" "name: $name" "kops-$env"
    has "$out" "fake-project" "kops-$env"
    if grep -n '^[^#]*[$]{' "$out" >&2; then
        fail "kops-$env: unsubstituted variables (lines above)"
    fi
    has "$err" "kops update cluster" "kops-$env"
    has "$err" "--name $name --yes" "kops-$env"
    has "$err" "kops validate cluster" "kops-$env"
    has "$err" "--wait" "kops-$env"
    grep -q '^+ ' "$err" || fail "kops-$env: no '+ ' command lines"
done
# dev is one zone, prod three.
lacks "$work/kops-dev.out" "us-central1-c" "kops-dev (one zone)"
has "$work/kops-prod.out" "us-central1-c" "kops-prod (three zones)"
# Without its variables it stops before doing anything.
dry kops-novars sh .ci/kops_cluster.sh dev
expect_fail kops-novars
dry kops-badenv K8S_CLUSTER_NAME=x.example.com KOPS_STATE_STORE=gs://x GCP_PROJECT=x \
    ADMIN_CIDR=203.0.113.0/24 sh .ci/kops_cluster.sh staging
expect_fail kops-badenv
note "dev and prod render Cluster + InstanceGroups; update --yes and validate --wait printed"
