#!/bin/sh
# Deletes the kops cluster of an environment: every cloud resource kops made
# for it (instances, disks, networks, load balancers) and its entry in the
# state store. Run by the manual pipeline jobs cluster:dev:delete and
# cluster:prod:delete, or by hand:
#
#   KOPS_DELETE_CONFIRM=<cluster name> sh .ci/kops_delete.sh dev|prod
#
# It refuses unless KOPS_DELETE_CONFIRM repeats the cluster's name, which an
# operator types when starting the manual job ("Run job" form, variable
# KOPS_DELETE_CONFIRM). What it does not delete: the database backups bucket
# (BACKUP_BUCKET in prod), the state-store bucket itself, DNS records made
# outside kops, and images in the registry.
#
# Environment:
#   K8S_CLUSTER_NAME     the cluster (scoped per environment in GitLab)
#   KOPS_STATE_STORE     gs://bucket holding the kops state
#   GCP_PROJECT          the Google Cloud project of the cluster
#   KOPS_DELETE_CONFIRM  must equal K8S_CLUSTER_NAME
#   DRY_RUN=1            print the kops commands (prefixed "+ ") on standard
#                        error instead of running them
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
    echo "usage: KOPS_DELETE_CONFIRM=<cluster name> $0 dev|prod" >&2
    exit 2
}
[ "$#" -eq 1 ] || usage
env=$1
case $env in
    dev | prod) ;;
    *) usage ;;
esac

log_prefix="kops_delete($env)"

missing=
for var in K8S_CLUSTER_NAME KOPS_STATE_STORE GCP_PROJECT; do
    eval "value=\${$var:-}"
    # shellcheck disable=SC2154 # value is set by the eval above
    [ -n "$value" ] || missing="$missing $var"
done
[ -z "$missing" ] || die "missing variables:$missing"
case $KOPS_STATE_STORE in
    gs://*) ;;
    *) die "KOPS_STATE_STORE must be a gs:// bucket, got '$KOPS_STATE_STORE'" ;;
esac

if [ "${KOPS_DELETE_CONFIRM:-}" != "$K8S_CLUSTER_NAME" ]; then
    die "refusing to delete $K8S_CLUSTER_NAME: set KOPS_DELETE_CONFIRM=$K8S_CLUSTER_NAME to confirm"
fi

export KOPS_STATE_STORE
say "deleting cluster $K8S_CLUSTER_NAME of project $GCP_PROJECT (state in $KOPS_STATE_STORE)"
if [ "${DRY_RUN:-0}" != 1 ]; then
    command -v kops >/dev/null 2>&1 || die "kops is not installed"
    if ! kops get cluster --name "$K8S_CLUSTER_NAME" >/dev/null 2>&1; then
        say "no cluster $K8S_CLUSTER_NAME in $KOPS_STATE_STORE: nothing to delete"
        exit 0
    fi
fi
# Without --yes kops only lists what it would delete: show that first, so the
# job log records it, then delete.
run kops delete cluster --name "$K8S_CLUSTER_NAME"
run kops delete cluster --name "$K8S_CLUSTER_NAME" --yes
if [ "${DRY_RUN:-0}" = 1 ]; then
    say "dry run: nothing deleted"
else
    say "deleted $K8S_CLUSTER_NAME"
fi
