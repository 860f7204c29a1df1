#!/bin/sh
# Creates or updates the kops cluster of one environment on Google Cloud, waits
# until it is healthy, and installs the cluster add-ons the Conduit manifests
# rely on (Gateway API CRDs, CloudNativePG and its Barman Cloud plugin,
# kube-prometheus-stack; metrics-server and cert-manager come with kops).
#
# usage: .ci/kops_cluster.sh dev|prod
#
# Required environment:
#   K8S_CLUSTER_NAME   cluster name, a DNS-style name such as conduit-dev.example.com
#                      (no DNS zone is needed; gossip `.k8s.local` names are gone in kops 1.37)
#   KOPS_STATE_STORE   GCS bucket holding the kops state, gs://BUCKET (created if missing)
#   GCP_PROJECT        Google Cloud project id
#
# Optional environment (default in brackets; dev | prod where they differ):
#   GCP_REGION                  region [us-central1]
#   GCP_ZONE_1/_2/_3            zones [${GCP_REGION}-a, -b, -c]; dev uses only _1
#   K8S_VERSION                 Kubernetes version [1.36.4]; .ci/check_k8s.sh validates
#                               the manifests against this minor
#   NODE_IMAGE                  machine image [ubuntu-os-cloud/ubuntu-2404-noble-amd64-v20260918]
#   CONTROL_PLANE_MACHINE_TYPE  [e2-medium | e2-standard-2]
#   NODE_MACHINE_TYPE           [e2-standard-2 | e2-standard-4]
#   NODE_COUNT                  dev: fixed number of nodes [2]
#   NODE_MIN_PER_ZONE           prod: autoscaler lower bound per zone [1]
#   NODE_MAX_PER_ZONE           prod: autoscaler upper bound per zone [3]
#   ADMIN_CIDR                  who may reach the Kubernetes API [0.0.0.0/0]
#   SSH_CIDR                    who may SSH to machines [127.0.0.1/32, i.e. nobody]
#   SUBNET_CIDR                 machine subnet [10.0.16.0/20]
#   POD_CIDR                    pod addresses [100.96.0.0/11]; must match
#                               CONDUIT_TRUSTED_PROXIES in k8s/base/conduit.env
#   ETCD_BACKUP_RETENTION_DAYS  days of etcd backups kept in the state bucket [90]
#   SSH_PUBLIC_KEY_FILE         public key to install for SSH [none]
#   BACKUP_BUCKET               prod: GCS bucket for PostgreSQL backups, created
#                               if missing [${GCP_PROJECT}-conduit-backups]
#   KOPS_VALIDATE_TIMEOUT       how long to wait for a healthy cluster [20m | 30m]
#   ADDON_TIMEOUT               how long to wait for each add-on [10m]
#   GATEWAY_API_VERSION         [v1.6.2]
#   CNPG_VERSION                CloudNativePG operator [1.30.1]
#   BARMAN_CLOUD_PLUGIN_VERSION [0.16.0]
#   KUBE_PROMETHEUS_STACK_VERSION  helm chart version [88.6.0]
#   DRY_RUN                     1: print the rendered specs on standard output and
#                               each command on standard error ("+ ..."), run none
set -eu

usage() {
    echo "usage: $0 dev|prod" >&2
    exit 2
}
[ $# -eq 1 ] || usage
case $1 in
    dev | prod) ENVIRONMENT=$1 ;;
    *) usage ;;
esac
cd "$(dirname "$0")/.."

DRY_RUN=${DRY_RUN:-0}
say() { echo "kops_cluster($ENVIRONMENT): $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# show ARGS...: prints a command as "+ cmd args" on standard error, quoting
# arguments that need it, so the log can be pasted into a shell.
show() {
    line=+
    for arg in "$@"; do
        case $arg in
            '' | *[!A-Za-z0-9_./:=@%+,-]*)
                arg="'$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"
                ;;
        esac
        line="$line $arg"
    done
    printf '%s\n' "$line" >&2
}

# run ARGS...: shows the command, then runs it unless DRY_RUN=1.
run() {
    show "$@"
    if [ "$DRY_RUN" != 1 ]; then
        "$@"
    fi
}

: "${K8S_CLUSTER_NAME:?set K8S_CLUSTER_NAME, e.g. conduit-$ENVIRONMENT.example.com}"
: "${KOPS_STATE_STORE:?set KOPS_STATE_STORE to the kops state bucket, gs://BUCKET}"
: "${GCP_PROJECT:?set GCP_PROJECT to the Google Cloud project id}"
case $KOPS_STATE_STORE in
    gs://?*) ;;
    *) die "KOPS_STATE_STORE must be a GCS bucket URL (gs://BUCKET), got $KOPS_STATE_STORE" ;;
esac
KOPS_STATE_STORE=${KOPS_STATE_STORE%/}
case $K8S_CLUSTER_NAME in
    *.k8s.local) die "gossip names (*.k8s.local) are removed in kops 1.37; use a name like conduit-$ENVIRONMENT.example.com" ;;
    *[!a-z0-9.-]* | '') die "K8S_CLUSTER_NAME must be lowercase letters, digits, dots and dashes" ;;
esac

GCP_REGION=${GCP_REGION:-us-central1}
GCP_ZONE_1=${GCP_ZONE_1:-$GCP_REGION-a}
GCP_ZONE_2=${GCP_ZONE_2:-$GCP_REGION-b}
GCP_ZONE_3=${GCP_ZONE_3:-$GCP_REGION-c}
K8S_VERSION=${K8S_VERSION:-1.36.4}
NODE_IMAGE=${NODE_IMAGE:-ubuntu-os-cloud/ubuntu-2404-noble-amd64-v20260918}
ADMIN_CIDR=${ADMIN_CIDR:-0.0.0.0/0}
SSH_CIDR=${SSH_CIDR:-127.0.0.1/32}
SUBNET_CIDR=${SUBNET_CIDR:-10.0.16.0/20}
POD_CIDR=${POD_CIDR:-100.96.0.0/11}
ETCD_BACKUP_RETENTION_DAYS=${ETCD_BACKUP_RETENTION_DAYS:-90}
NODE_COUNT=${NODE_COUNT:-2}
NODE_MIN_PER_ZONE=${NODE_MIN_PER_ZONE:-1}
NODE_MAX_PER_ZONE=${NODE_MAX_PER_ZONE:-3}
BACKUP_BUCKET=${BACKUP_BUCKET:-$GCP_PROJECT-conduit-backups}
ADDON_TIMEOUT=${ADDON_TIMEOUT:-10m}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.6.2}
CNPG_VERSION=${CNPG_VERSION:-1.30.1}
BARMAN_CLOUD_PLUGIN_VERSION=${BARMAN_CLOUD_PLUGIN_VERSION:-0.16.0}
KUBE_PROMETHEUS_STACK_VERSION=${KUBE_PROMETHEUS_STACK_VERSION:-88.6.0}
if [ "$ENVIRONMENT" = dev ]; then
    CONTROL_PLANE_MACHINE_TYPE=${CONTROL_PLANE_MACHINE_TYPE:-e2-medium}
    NODE_MACHINE_TYPE=${NODE_MACHINE_TYPE:-e2-standard-2}
    KOPS_VALIDATE_TIMEOUT=${KOPS_VALIDATE_TIMEOUT:-20m}
else
    CONTROL_PLANE_MACHINE_TYPE=${CONTROL_PLANE_MACHINE_TYPE:-e2-standard-2}
    NODE_MACHINE_TYPE=${NODE_MACHINE_TYPE:-e2-standard-4}
    KOPS_VALIDATE_TIMEOUT=${KOPS_VALIDATE_TIMEOUT:-30m}
fi
export K8S_CLUSTER_NAME KOPS_STATE_STORE GCP_PROJECT GCP_REGION GCP_ZONE_1 GCP_ZONE_2 \
    GCP_ZONE_3 K8S_VERSION NODE_IMAGE ADMIN_CIDR SSH_CIDR SUBNET_CIDR POD_CIDR \
    ETCD_BACKUP_RETENTION_DAYS NODE_COUNT NODE_MIN_PER_ZONE NODE_MAX_PER_ZONE \
    CONTROL_PLANE_MACHINE_TYPE NODE_MACHINE_TYPE

command -v envsubst >/dev/null || die "envsubst is required (Debian: gettext-base)"
if [ "$DRY_RUN" != 1 ]; then
    for tool in kops kubectl helm gcloud; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
fi

# Render: only the listed variables are substituted, so any other `$` in the
# templates stays as written.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
spec=$work/kops-$ENVIRONMENT.yaml
say "rendering k8s/kops/$ENVIRONMENT.yaml for cluster $K8S_CLUSTER_NAME"
# shellcheck disable=SC2016 # the single-quoted list names the variables for envsubst
envsubst '${K8S_CLUSTER_NAME} ${KOPS_STATE_STORE} ${GCP_PROJECT} ${GCP_REGION}
${GCP_ZONE_1} ${GCP_ZONE_2} ${GCP_ZONE_3} ${K8S_VERSION} ${NODE_IMAGE} ${ADMIN_CIDR}
${SSH_CIDR} ${SUBNET_CIDR} ${POD_CIDR} ${ETCD_BACKUP_RETENTION_DAYS} ${NODE_COUNT}
${NODE_MIN_PER_ZONE} ${NODE_MAX_PER_ZONE} ${CONTROL_PLANE_MACHINE_TYPE}
${NODE_MACHINE_TYPE}' <"k8s/kops/$ENVIRONMENT.yaml" >"$spec"
if grep -n '^[^#]*[$]{' "$spec" >&2; then
    die "unsubstituted variables left in the rendered spec (lines above)"
fi
if [ "$DRY_RUN" = 1 ]; then
    cat "$spec"
fi

# The state bucket must exist before kops can write to it; versioning keeps
# earlier specs and keys recoverable.
bucket=${KOPS_STATE_STORE#gs://}
bucket=gs://${bucket%%/*}
if [ "$DRY_RUN" = 1 ] || ! gcloud storage buckets describe "$bucket" --project "$GCP_PROJECT" >/dev/null 2>&1; then
    run gcloud storage buckets create "$bucket" --project "$GCP_PROJECT" \
        --location "$GCP_REGION" --uniform-bucket-level-access --public-access-prevention
    run gcloud storage buckets update "$bucket" --versioning
fi
if [ "$ENVIRONMENT" = prod ]; then
    # PostgreSQL base backups and WAL (see k8s/overlays/prod/backup.yaml).
    if [ "$DRY_RUN" = 1 ] || ! gcloud storage buckets describe "gs://$BACKUP_BUCKET" --project "$GCP_PROJECT" >/dev/null 2>&1; then
        run gcloud storage buckets create "gs://$BACKUP_BUCKET" --project "$GCP_PROJECT" \
            --location "$GCP_REGION" --uniform-bucket-level-access --public-access-prevention
    fi
fi

say "applying the cluster spec and creating or updating the cloud resources"
# `replace --force` creates the Cluster and InstanceGroups when they do not
# exist yet and replaces them otherwise, so one command serves both cases.
show kops replace --state "$KOPS_STATE_STORE" --force -f -
if [ "$DRY_RUN" != 1 ]; then
    kops replace --state "$KOPS_STATE_STORE" --force -f - <"$spec"
fi
if [ -n "${SSH_PUBLIC_KEY_FILE:-}" ]; then
    run kops create sshpublickey --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" -i "$SSH_PUBLIC_KEY_FILE"
fi
run kops update cluster --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" --yes
# A short-lived admin credential for the steps below (and the deploy job that
# follows in the same pipeline); it expires by itself.
run kops export kubeconfig --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" --admin=2h
say "waiting up to $KOPS_VALIDATE_TIMEOUT for the cluster to become healthy"
run kops validate cluster --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" --wait "$KOPS_VALIDATE_TIMEOUT"
# Machines whose configuration changed are replaced one by one (a no-op on a
# fresh cluster or when nothing changed); kops validates between each.
run kops rolling-update cluster --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" --yes

say "installing add-ons"
# Gateway API CRDs (standard channel). Cilium's operator only sets up its
# GatewayClass `cilium` if the CRDs existed when it started, so restart it the
# first time.
run kubectl apply --server-side --force-conflicts \
    -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml"
if [ "$DRY_RUN" = 1 ] || ! kubectl get gatewayclass cilium >/dev/null 2>&1; then
    run kubectl -n kube-system rollout restart deployment/cilium-operator
    run kubectl -n kube-system rollout status deployment/cilium-operator --timeout="$ADDON_TIMEOUT"
    run kubectl wait --for=create gatewayclass/cilium --timeout="$ADDON_TIMEOUT"
fi
# cert-manager and metrics-server are kops add-ons (see the Cluster spec):
# wait for them, the Barman Cloud plugin needs the first, the autoscaler the second.
run kubectl wait --all-namespaces --for=condition=Available deployment \
    -l app.kubernetes.io/instance=cert-manager --timeout="$ADDON_TIMEOUT"
run kubectl -n kube-system rollout status deployment/metrics-server --timeout="$ADDON_TIMEOUT"
# CloudNativePG operator (namespace cnpg-system), then its Barman Cloud plugin
# in the same namespace.
cnpg_minor=${CNPG_VERSION%.*}
run kubectl apply --server-side --force-conflicts \
    -f "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-$cnpg_minor/releases/cnpg-$CNPG_VERSION.yaml"
run kubectl -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout="$ADDON_TIMEOUT"
run kubectl apply \
    -f "https://github.com/cloudnative-pg/plugin-barman-cloud/releases/download/v$BARMAN_CLOUD_PLUGIN_VERSION/manifest.yaml"
run kubectl -n cnpg-system rollout status deployment/barman-cloud --timeout="$ADDON_TIMEOUT"
# Prometheus, Alertmanager, Grafana and kube-state-metrics. The release name
# is what the ServiceMonitor/PrometheusRule label `release:` refers to.
run helm upgrade --install kube-prometheus-stack \
    oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack \
    --version "$KUBE_PROMETHEUS_STACK_VERSION" \
    --namespace monitoring --create-namespace \
    --values k8s/addons/kube-prometheus-stack.yaml \
    --wait --timeout "$ADDON_TIMEOUT"
if [ "$DRY_RUN" = 1 ]; then
    say "dry run: nothing was changed"
else
    say "cluster $K8S_CLUSTER_NAME is ready"
fi
