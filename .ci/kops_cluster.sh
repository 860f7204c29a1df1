#!/bin/sh
# Creates or updates the kops cluster of one environment on Google Cloud, waits
# until it is healthy, and installs what only a cluster admin can: the
# add-ons the Conduit manifests rely on (Gateway API CRDs, CloudNativePG and
# its Barman Cloud plugin, kube-prometheus-stack with its Alertmanager
# configuration; metrics-server and cert-manager come with kops), Flux
# pointed at the environment's folder of the environment's branch, the
# GitLab agent the deploy job reads the cluster through, and the
# environment's Secrets (never in git). Also stores the etcd encryption key
# once. Every third-party manifest is pinned by content: a commit of its
# repository (k8s/addons/*, k8s/flux-system) or a SHA-256 checked before it
# is applied.
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
#                      webhook of Slack, Google Chat, PagerDuty, ...)
#   FLUX_DEPLOY_KEY    private SSH key (a File variable) of the project's
#                      read-only deploy key Flux pulls with
#   FLUX_KNOWN_HOSTS   the Git server's SSH host keys (known_hosts lines; a
#                      File variable), checked against the server's
#                      published fingerprints
#   FLUX_GITLAB_TOKEN  project access token (api scope, role Maintainer: a
#                      status on a protected branch needs the right to merge
#                      into it) Flux posts commit statuses with (masked)
#   GITLAB_AGENT_TOKEN the environment's GitLab agent token (masked)
#   CONDUIT_SECRET     token signing key, 32+ bytes (masked);
#                      CONDUIT_PREVIOUS_SECRET: the key before a rotation
#   POSTGRES_PASSWORD  dev: the dev database's `conduit` password, 16+ of
#                      [A-Za-z0-9._~-] (masked)
#   BACKUP_GCS_KEY_FILE, DNS01_GCP_KEY_FILE  prod: service account keys
#                      (File variables) for backups and cert-manager's DNS-01
#   REGISTRY_USER, REGISTRY_PASSWORD  pull credentials [CI_DEPLOY_USER,
#                      CI_DEPLOY_PASSWORD: a deploy token with read_registry];
#                      unset: anonymous pulls
# None of these is needed with DRY_RUN=1: placeholders stand in, and never
# reach the log.
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
#   CNPG_VERSION                CloudNativePG operator [1.30.0]; with
#                               CNPG_COMMIT and CNPG_SHA256, the release's
#                               manifest at that commit and its digest
#   GITLAB_AGENT_CHART_VERSION  the GitLab agent's Helm chart [2.20.1]
#   GITLAB_KAS_ADDRESS          the GitLab agent server [wss://kas.gitlab.com]
#   ENVIRONMENTS_REPOSITORY     what Flux pulls [ssh://git@CI_SERVER_SHELL_SSH_HOST/CI_PROJECT_PATH.git]
# The Gateway API CRDs (v1.3.0, experimental channel), the Barman Cloud plugin
# (v0.14.0) and Flux (v2.9.4) are pinned by commit in k8s/addons/gateway-api,
# k8s/addons/barman-cloud and k8s/flux-system.
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
CNPG_VERSION=${CNPG_VERSION:-1.30.0}
CNPG_COMMIT=${CNPG_COMMIT:-4b5e244a7d031f67e025c83c1555e7726ecbbfa1}
CNPG_SHA256=${CNPG_SHA256:-f8bede43fe4ee0d478c2355b204a36876b2ae4faac60f2a9452280b293da3b88}
GITLAB_AGENT_CHART_VERSION=${GITLAB_AGENT_CHART_VERSION:-2.20.1}
GITLAB_KAS_ADDRESS=${GITLAB_KAS_ADDRESS:-wss://kas.gitlab.com}
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
    # No address is reserved for the Gateway: the load balancer hands out
    # its own, which the deploy job prints; PUBLIC_HOSTNAME's DNS record
    # points at it (docs/operations.md, HTTPS).
    # PostgreSQL base backups and WAL (see k8s/overlays/prod/database/backup.yaml).
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
# apply_kustomization DIR WHAT: renders DIR (its remote parts are pinned by
# commit), prints the digest of what it applies, applies it server-side.
apply_kustomization() {
    show kubectl kustomize "$1" '|' kubectl apply --server-side --force-conflicts -f -
    if [ "$DRY_RUN" != 1 ]; then
        kubectl kustomize "$1" >"$work/rendered.yaml"
        say "$2: $(grep -c '^kind:' "$work/rendered.yaml") objects, sha256 $(sha256sum "$work/rendered.yaml" | cut -c1-64)"
        kubectl apply --server-side --force-conflicts -f "$work/rendered.yaml"
    fi
}
# apply_verified URL SHA256 WHAT: downloads URL, applies it only if its
# SHA-256 is the pinned one.
apply_verified() {
    show curl -fsSL -o "<$3>" "$1" '&&' sha256sum -c "<$2>"
    show kubectl apply --server-side --force-conflicts -f "<$3>"
    if [ "$DRY_RUN" != 1 ]; then
        curl -fsSL --retry 3 -o "$work/download.yaml" "$1"
        echo "$2  $work/download.yaml" | sha256sum -c --quiet - || die "$3: $1 is not the pinned content (sha256 $2)"
        kubectl apply --server-side --force-conflicts -f "$work/download.yaml"
    fi
}
# Gateway API CRDs (k8s/addons/gateway-api). Cilium's operator only starts
# its Gateway controller if the CRDs existed when it started, so restart it
# when the GatewayClass is not Accepted yet. kops' add-on manager creates
# the GatewayClass itself, perhaps not yet on a new cluster: wait for it to
# exist before waiting for its condition (a wait on a missing object fails
# at once).
apply_kustomization k8s/addons/gateway-api "Gateway API CRDs"
run kubectl wait --for=create gatewayclass/cilium --timeout="$ADDON_TIMEOUT"
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
# CloudNativePG operator (namespace cnpg-system): the release's manifest as
# committed in its repository, checked against its digest; then its Barman
# Cloud plugin in the same namespace (k8s/addons/barman-cloud).
apply_verified "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/$CNPG_COMMIT/releases/cnpg-$CNPG_VERSION.yaml" \
    "$CNPG_SHA256" "CloudNativePG $CNPG_VERSION"
run kubectl -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout="$ADDON_TIMEOUT"
apply_kustomization k8s/addons/barman-cloud "Barman Cloud plugin"
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

# --- The environment's Secrets ------------------------------------------------
# Created here, from masked and File variables, never in git: Flux's
# manifests only name them. Values go through private files, never through a
# process list or the log; in a dry run every value is a placeholder.
NAMESPACE=conduit-$ENVIRONMENT
secrets=$work/secrets
mkdir -m 700 "$secrets"
# value NAME: a variable's value, or a placeholder in a dry run.
value() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "dry-run-placeholder-$1-0123456789abcdef0123456789"
    else
        eval "printf '%s' \"\${$1:-}\""
    fi
}
# file_of NAME: the path a File variable holds, or a placeholder file.
file_of() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '%s\n' "{\"comment\": \"dry-run placeholder for $1\"}" >"$secrets/$1"
        echo "$secrets/$1"
    else
        f=$(eval "printf '%s' \"\${$1:-}\"")
        [ -n "$f" ] && [ -s "$f" ] || die "set $1 (a File variable)"
        echo "$f"
    fi
}
: >"$work/secrets.yaml"
# secret NAMESPACE NAME ARGS...: one Secret, rendered offline, appended.
secret() {
    ns=$1 name=$2
    shift 2
    kubectl create secret generic "$name" --namespace "$ns" "$@" --dry-run=client -o yaml >"$work/one-secret.yaml"
    kubectl label --local -f "$work/one-secret.yaml" -o yaml \
        app.kubernetes.io/part-of=conduit app.kubernetes.io/managed-by=kops_cluster.sh >>"$work/secrets.yaml"
    echo --- >>"$work/secrets.yaml"
}
(umask 077 && value CONDUIT_SECRET >"$secrets/secret")
[ "$(wc -c <"$secrets/secret")" -ge 32 ] || die "set CONDUIT_SECRET, at least 32 bytes (e.g. openssl rand -hex 32)"
if [ -n "${CONDUIT_PREVIOUS_SECRET:-}" ]; then
    (umask 077 && value CONDUIT_PREVIOUS_SECRET >"$secrets/previous-secret")
    [ "$(wc -c <"$secrets/previous-secret")" -ge 32 ] || die "CONDUIT_PREVIOUS_SECRET must be at least 32 bytes"
    secret "$NAMESPACE" conduit-secret --from-file=secret="$secrets/secret" \
        --from-file=previous-secret="$secrets/previous-secret"
else
    secret "$NAMESPACE" conduit-secret --from-file=secret="$secrets/secret"
fi
if [ "$ENVIRONMENT" = dev ]; then
    db_password=$(value POSTGRES_PASSWORD)
    case $db_password in
        *[!A-Za-z0-9._~-]*) die "POSTGRES_PASSWORD may only use A-Z a-z 0-9 . _ ~ - (it goes into a URL); e.g. openssl rand -hex 24" ;;
    esac
    [ "${#db_password}" -ge 16 ] || die "set POSTGRES_PASSWORD, at least 16 characters"
    # Same shape as CloudNativePG's <cluster>-app Secret in prod.
    printf '%s' conduit >"$secrets/username"
    printf '%s' "$db_password" >"$secrets/password"
    printf '%s' conduit >"$secrets/dbname"
    printf '%s' conduit-db >"$secrets/host"
    printf '%s' 5432 >"$secrets/port"
    printf '%s' "postgres://conduit:$db_password@conduit-db:5432/conduit" >"$secrets/uri"
    secret "$NAMESPACE" conduit-db-app --type=kubernetes.io/basic-auth \
        --from-file=username="$secrets/username" --from-file=password="$secrets/password" \
        --from-file=dbname="$secrets/dbname" --from-file=host="$secrets/host" \
        --from-file=port="$secrets/port" --from-file=uri="$secrets/uri"
else
    secret "$NAMESPACE" conduit-backup-gcs --from-file=credentials.json="$(file_of BACKUP_GCS_KEY_FILE)"
    # cert-manager's Issuer (k8s/components/tls) reads it in this namespace.
    secret "$NAMESPACE" conduit-dns01-gcp --from-file=key.json="$(file_of DNS01_GCP_KEY_FILE)"
fi
registry_user=${REGISTRY_USER:-${CI_DEPLOY_USER:-}}
registry_password=${REGISTRY_PASSWORD:-${CI_DEPLOY_PASSWORD:-}}
[ "$DRY_RUN" != 1 ] || registry_user=dry-run-placeholder registry_password=dry-run-placeholder
if [ -n "$registry_user" ] && [ -n "$registry_password" ]; then
    registry_host=${CI_REGISTRY:-registry.gitlab.com}
    auth=$(printf '%s:%s' "$registry_user" "$registry_password" | base64 | tr -d '\n')
    (umask 077 && printf '{"auths":{"%s":{"auth":"%s"}}}' "$registry_host" "$auth" >"$secrets/dockerconfig")
    secret "$NAMESPACE" conduit-registry --type=kubernetes.io/dockerconfigjson \
        --from-file=.dockerconfigjson="$secrets/dockerconfig"
else
    say "no REGISTRY_USER/REGISTRY_PASSWORD (or CI_DEPLOY_*): the cluster pulls the image anonymously"
fi
# Flux's: the read-only deploy key it pulls with, and the token it reports with.
(umask 077 && value FLUX_GITLAB_TOKEN >"$secrets/token")
[ -s "$secrets/token" ] || die "set FLUX_GITLAB_TOKEN (a project access token, api scope, role Maintainer)"
secret flux-system flux-gitlab-token --from-file=token="$secrets/token"
secret flux-system flux-deploy-key --from-file=identity="$(file_of FLUX_DEPLOY_KEY)" \
    --from-file=known_hosts="$(file_of FLUX_KNOWN_HOSTS)"
if grep -n 'dry-run-placeholder' "$work/secrets.yaml" >/dev/null && [ "$DRY_RUN" != 1 ]; then
    die "a placeholder reached a real Secret"
fi
for ns in "$NAMESPACE" flux-system; do
    show kubectl create namespace "$ns" --dry-run=client -o yaml '| kubectl apply --server-side -f -'
    if [ "$DRY_RUN" != 1 ]; then
        kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply --server-side -f -
    fi
done
show kubectl apply --server-side --field-manager=kops_cluster --force-conflicts -f - "($(grep -c '^kind: Secret' "$work/secrets.yaml") Secrets)"
if [ "$DRY_RUN" != 1 ]; then
    before=$(kubectl -n "$NAMESPACE" get secret conduit-secret -o jsonpath='{.metadata.resourceVersion}' 2>/dev/null || true)
    kubectl apply --server-side --field-manager=kops_cluster --force-conflicts -f "$work/secrets.yaml" >/dev/null
    after=$(kubectl -n "$NAMESPACE" get secret conduit-secret -o jsonpath='{.metadata.resourceVersion}')
    # A rotated signing key reaches the app's pods by a restart.
    if [ -n "$before" ] && [ "$before" != "$after" ] && kubectl -n "$NAMESPACE" get deployment conduit >/dev/null 2>&1; then
        run kubectl -n "$NAMESPACE" rollout restart deployment/conduit
    fi
fi
rm -rf "$secrets"

# --- Flux -----------------------------------------------------------------------
# Its controllers (k8s/flux-system, pinned by commit), then where it pulls
# from: the environment's branch over SSH, the folder of this environment.
apply_kustomization k8s/flux-system "Flux v2.9.4"
for controller in source-controller kustomize-controller notification-controller; do
    run kubectl -n flux-system rollout status "deployment/$controller" --timeout="$ADDON_TIMEOUT"
done
ssh_host=${CI_SERVER_SHELL_SSH_HOST:-${CI_SERVER_HOST:-gitlab.com}}
repository=${ENVIRONMENTS_REPOSITORY:-ssh://git@$ssh_host/${CI_PROJECT_PATH:-example/conduit}.git}
case $repository in
    ssh://?*) ;;
    *) die "ENVIRONMENTS_REPOSITORY must be an ssh:// URL (Flux reads it with a deploy key), got '$repository'" ;;
esac
mkdir -p "$work/flux-sync"
cp k8s/flux-system/sync.yaml "$work/flux-sync/sync.yaml"
printf '%s\n' "resources: [sync.yaml]" "patches:" \
    "  - target: {kind: GitRepository, name: conduit-environments}" \
    "    patch: |-" "      - {op: replace, path: /spec/url, value: \"$repository\"}" \
    "      - {op: replace, path: /spec/ref/branch, value: environments/$ENVIRONMENT}" \
    "  - target: {kind: Kustomization, name: conduit-flux}" \
    "    patch: |-" "      - {op: replace, path: /spec/path, value: ./$ENVIRONMENT/flux}" \
    >"$work/flux-sync/kustomization.yaml"
kubectl kustomize "$work/flux-sync" >"$work/flux-sync.yaml"
if [ "$DRY_RUN" = 1 ]; then
    cat "$work/flux-sync.yaml"
fi
show kubectl apply --server-side --force-conflicts -f - "(GitRepository conduit-environments: $repository, branch environments/$ENVIRONMENT; Kustomization conduit-flux: ./$ENVIRONMENT/flux)"
if [ "$DRY_RUN" != 1 ]; then
    kubectl apply --server-side --force-conflicts -f "$work/flux-sync.yaml"
fi

# --- The GitLab agent -------------------------------------------------------------
# What the deploy job reads the cluster through (.gitlab/agents/conduit-ENV:
# only this project's jobs of this environment; the role it gets is
# read-only, k8s/clusters/ENV/pipeline-reader.yaml). The token goes in
# through a private values file.
agent_token=$(value GITLAB_AGENT_TOKEN)
[ -n "$agent_token" ] || die "set GITLAB_AGENT_TOKEN (the token of the agent conduit-$ENVIRONMENT)"
(umask 077 && printf 'config:\n  token: "%s"\n  kasAddress: "%s"\n' "$agent_token" "$GITLAB_KAS_ADDRESS" >"$work/agent-values.yaml")
run helm upgrade --install "conduit-$ENVIRONMENT" gitlab-agent \
    --repo https://charts.gitlab.io --version "$GITLAB_AGENT_CHART_VERSION" \
    --namespace gitlab-agent --create-namespace --values "$work/agent-values.yaml" \
    --wait --timeout "$ADDON_TIMEOUT"
rm -f "$work/agent-values.yaml"

if [ "$DRY_RUN" = 1 ]; then
    say "dry run: nothing was changed"
else
    say "cluster $K8S_CLUSTER_NAME is ready; Flux pulls $ENVIRONMENT/ from $repository"
fi
