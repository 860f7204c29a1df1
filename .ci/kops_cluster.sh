#!/bin/sh
# Creates or updates the kops cluster of one environment on Google Cloud, waits
# until it is healthy, and installs the cluster add-ons the Conduit manifests
# rely on (Gateway API CRDs, CloudNativePG and its Barman Cloud plugin,
# kube-prometheus-stack with its Alertmanager configuration; metrics-server
# and cert-manager come with kops). Also stores the etcd encryption key once,
# and in prod reserves the Gateway's static address.
#
# usage: .ci/kops_cluster.sh dev|prod
#
# Required environment:
#   K8S_CLUSTER_NAME   cluster name, a DNS-style name such as conduit-dev.example.com
#                      (no DNS zone is needed; gossip `.k8s.local` names are gone in kops 1.37)
#   KOPS_STATE_STORE   GCS bucket holding the kops state, gs://BUCKET (created if missing)
#   GCP_PROJECT        Google Cloud project id
#   ADMIN_CIDR         who may reach the Kubernetes API: one or more ranges,
#                      comma-separated (the operators' and the CI runners'
#                      egress). 0.0.0.0/0 is refused unless
#                      ADMIN_CIDR_ALLOW_ANY=true
#   ALERT_WEBHOOK_URL  where Alertmanager posts alerts (a masked variable; a
#                      webhook of Slack, Google Chat, PagerDuty, ...). Not
#                      needed with DRY_RUN=1
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
#   ADMIN_CIDR_ALLOW_ANY        true: accept 0.0.0.0/0 as ADMIN_CIDR [false]
#   PUBLIC_ADDRESS_NAME         prod: name of the reserved regional address of
#                               the Gateway [conduit-prod-gateway]
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
#   GATEWAY_API_VERSION         [v1.3.0]: the release Cilium 1.18 (kops 1.36's)
#                               is conformant with; its experimental channel,
#                               as Cilium needs TLSRoute (docs/operations.md)
#   CNPG_VERSION                CloudNativePG operator [1.30.1]
#   BARMAN_CLOUD_PLUGIN_VERSION [0.16.0]
#   KUBE_PROMETHEUS_STACK_VERSION  helm chart version [88.6.0]
#   DRY_RUN                     1: print the rendered specs on standard output and
#                               each command on standard error ("+ ..."), run none
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

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
log_prefix="kops_cluster($ENVIRONMENT)"

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
ADMIN_CIDR=${ADMIN_CIDR:-}
SSH_CIDR=${SSH_CIDR:-127.0.0.1/32}
SUBNET_CIDR=${SUBNET_CIDR:-10.0.16.0/20}
POD_CIDR=${POD_CIDR:-100.96.0.0/11}
ETCD_BACKUP_RETENTION_DAYS=${ETCD_BACKUP_RETENTION_DAYS:-90}
NODE_COUNT=${NODE_COUNT:-2}
NODE_MIN_PER_ZONE=${NODE_MIN_PER_ZONE:-1}
NODE_MAX_PER_ZONE=${NODE_MAX_PER_ZONE:-3}
BACKUP_BUCKET=${BACKUP_BUCKET:-$GCP_PROJECT-conduit-backups}
ADDON_TIMEOUT=${ADDON_TIMEOUT:-10m}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.3.0}
PUBLIC_ADDRESS_NAME=${PUBLIC_ADDRESS_NAME:-conduit-prod-gateway}
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
# The Kubernetes API is reachable from ADMIN_CIDR only.
[ -n "$ADMIN_CIDR" ] || die "set ADMIN_CIDR to the ranges that may reach the Kubernetes API (operators and CI runners), e.g. 203.0.113.0/24,198.51.100.7/32"
for cidr in $(printf '%s' "$ADMIN_CIDR" | tr -d ' ' | tr ',' ' '); do
    printf '%s\n' "$cidr" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$' \
        || die "ADMIN_CIDR: '$cidr' is not an IPv4 range like 203.0.113.0/24"
    case $cidr in
        0.0.0.0/0) [ "${ADMIN_CIDR_ALLOW_ANY:-false}" = true ] \
            || die "ADMIN_CIDR 0.0.0.0/0 opens the Kubernetes API to everyone: name your ranges (or set ADMIN_CIDR_ALLOW_ANY=true)" ;;
    esac
done
# A YAML flow sequence, so that the template stays valid YAML.
ADMIN_CIDR_LIST="[$(printf '%s' "$ADMIN_CIDR" | tr -d ' ' | sed 's/,/, /g')]"
export K8S_CLUSTER_NAME KOPS_STATE_STORE GCP_PROJECT GCP_REGION GCP_ZONE_1 GCP_ZONE_2 \
    GCP_ZONE_3 K8S_VERSION NODE_IMAGE ADMIN_CIDR_LIST SSH_CIDR SUBNET_CIDR POD_CIDR \
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
${GCP_ZONE_1} ${GCP_ZONE_2} ${GCP_ZONE_3} ${K8S_VERSION} ${NODE_IMAGE} ${ADMIN_CIDR_LIST}
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
    # The Gateway's static address: reserved once, then PUBLIC_ADDRESS and
    # the DNS record of PUBLIC_HOSTNAME point at it (docs/operations.md).
    if [ "$DRY_RUN" = 1 ] || ! gcloud compute addresses describe "$PUBLIC_ADDRESS_NAME" --region "$GCP_REGION" --project "$GCP_PROJECT" >/dev/null 2>&1; then
        run gcloud compute addresses create "$PUBLIC_ADDRESS_NAME" --region "$GCP_REGION" --project "$GCP_PROJECT"
    fi
    if [ "$DRY_RUN" != 1 ]; then
        say "static address $PUBLIC_ADDRESS_NAME: $(gcloud compute addresses describe "$PUBLIC_ADDRESS_NAME" --region "$GCP_REGION" --project "$GCP_PROJECT" --format 'value(address)') (set PUBLIC_ADDRESS to it)"
    fi
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
# etcd encryption of Secrets (encryptionConfig: true in the spec): kops
# refuses to apply without a key in its state, and the key must never change
# once Secrets are written with it. `kops create secret encryptionconfig`
# without --force stores it the first time and refuses afterwards, which is
# the wanted outcome. The key goes from /dev/urandom to a private file, never
# to the log.
(
    umask 077
    key=$(head -c 32 /dev/urandom | base64)
    printf '%s\n' "apiVersion: apiserver.config.k8s.io/v1" "kind: EncryptionConfiguration" \
        "resources:" "  - resources: [secrets]" "    providers:" "      - aescbc:" \
        "          keys:" "            - name: key1" "              secret: $key" \
        "      - identity: {}" >"$work/encryptionconfig.yaml"
)
show kops create secret encryptionconfig --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" \
    -f "$work/encryptionconfig.yaml"
if [ "$DRY_RUN" != 1 ]; then
    if kops create secret encryptionconfig --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" \
        -f "$work/encryptionconfig.yaml" 2>"$work/encryptionconfig.err"; then
        say "etcd encryption key stored"
    elif grep -qi 'already exists' "$work/encryptionconfig.err"; then
        say "etcd encryption key already stored: kept"
    else
        cat "$work/encryptionconfig.err" >&2
        die "could not store the etcd encryption key"
    fi
fi
rm -f "$work/encryptionconfig.yaml"
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
# Gateway API CRDs of the release Cilium supports, experimental channel
# (Cilium 1.18 needs TLSRoute v1alpha2, which only that channel serves).
# Cilium's operator only starts its Gateway controller if the CRDs existed
# when it started, so restart it when the GatewayClass is not Accepted yet.
run kubectl apply --server-side --force-conflicts \
    -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/experimental-install.yaml"
if [ "$DRY_RUN" = 1 ] || ! kubectl wait --for=condition=Accepted=True gatewayclass/cilium --timeout=10s >/dev/null 2>&1; then
    run kubectl -n kube-system rollout restart deployment/cilium-operator
    run kubectl -n kube-system rollout status deployment/cilium-operator --timeout="$ADDON_TIMEOUT"
    run kubectl wait --for=condition=Accepted=True gatewayclass/cilium --timeout="$ADDON_TIMEOUT"
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
# Alertmanager's configuration, as a Secret (the chart's values point at
# it): every alert but the Watchdog heartbeat goes to ALERT_WEBHOOK_URL,
# grouped per alert and namespace, resolved ones too. The URL goes through a
# private file into the Secret (url_file), never to the log.
alert_url=${ALERT_WEBHOOK_URL:-}
if [ "$DRY_RUN" = 1 ]; then
    alert_url=https://hooks.example.com/dry-run-placeholder
fi
case $alert_url in
    https://?*) ;;
    *) die "set ALERT_WEBHOOK_URL to the https:// address Alertmanager posts alerts to" ;;
esac
cp k8s/addons/alertmanager.yaml "$work/alertmanager.yaml"
(umask 077 && printf '%s' "$alert_url" >"$work/webhook-url")
kubectl -n monitoring create secret generic alertmanager-conduit \
    --from-file=alertmanager.yaml="$work/alertmanager.yaml" --from-file=webhook-url="$work/webhook-url" \
    --dry-run=client -o yaml >"$work/alertmanager-secret.yaml"
rm -f "$work/webhook-url"
show kubectl create namespace monitoring --dry-run=client -o yaml '| kubectl apply --server-side -f -'
if [ "$DRY_RUN" != 1 ]; then
    kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply --server-side -f -
fi
show kubectl apply --server-side --force-conflicts -f - '(Secret monitoring/alertmanager-conduit)'
if [ "$DRY_RUN" != 1 ]; then
    kubectl apply --server-side --force-conflicts -f "$work/alertmanager-secret.yaml"
fi
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
