#!/bin/sh
# Deploys Conduit to one environment: exports a short-lived kubeconfig from
# the kops state, creates or updates the Secrets from pipeline variables,
# pins the image by digest, applies the kustomize overlay as an ApplySet (an
# object removed from the manifests is pruned), waits for the database, the
# rollout and the Gateway (Programmed, with an address), runs the smoke test
# as the environment's smoke user, and undoes the rollout if any of that
# fails.
#
# usage: .ci/k8s_deploy.sh dev|prod
#
# Environment (nothing is needed with DRY_RUN=1):
#   IMAGE_DIGEST          the image to deploy, sha256:<64 hex> (required): the
#                         pack job's digest in dev, the promote job's in prod.
#                         Tags are never deployed.
#   IMAGE_REPO            image repository [CI_REGISTRY_IMAGE, else
#                         registry.gitlab.com/example/conduit]
#   K8S_CLUSTER_NAME, KOPS_STATE_STORE  the cluster; when both are set, a
#                         one-hour admin kubeconfig is exported with kops
#   APP_URL               the environment's public address, without path
#                         (with PUBLIC_PATH_PREFIX, the smoke test's target;
#                         required outside dry runs)
#   SMOKE_PASSWORD        the environment's smoke user's password (masked;
#                         required outside dry runs). SMOKE_USERNAME names it
#                         [conduit-smoke]; .ci/smoke_test.sh registers it on
#                         the first deploy
#   PUBLIC_HOSTNAME       prod: the public host name (HTTPS certificate, HTTPS
#                         listener, redirect)
#   PUBLIC_ADDRESS        prod: the static IP reserved for the Gateway
#                         (.ci/kops_cluster.sh prod prints it)
#   ACME_EMAIL            prod: the Let's Encrypt account's contact address
#   DNS01_GCP_KEY_FILE    prod: key (JSON, a File variable) of a service account
#                         with roles/dns.admin on the Cloud DNS zone of
#                         PUBLIC_HOSTNAME, for cert-manager's DNS-01 challenge
#   DNS01_PROJECT         prod: the project of that zone [GCP_PROJECT]
#   CONDUIT_SECRET        token signing key, at least 32 bytes (all envs; masked)
#   CONDUIT_PREVIOUS_SECRET  the key before a rotation, still accepted [none]
#   POSTGRES_PASSWORD     dev: password of the dev database's `conduit` user,
#                         16+ characters from [A-Za-z0-9._~-] (masked). Only
#                         used when the database is first created.
#   BACKUP_BUCKET         prod: GCS bucket for PostgreSQL backups
#                         [${GCP_PROJECT}-conduit-backups]
#   BACKUP_GCS_KEY_FILE   prod: path of a Google service account key (JSON)
#                         allowed to write that bucket (a GitLab File variable)
#   REGISTRY_USER, REGISTRY_PASSWORD  credentials the cluster pulls the image
#                         with, stored as Secret conduit-registry [CI_DEPLOY_USER
#                         and CI_DEPLOY_PASSWORD: a GitLab deploy token named
#                         gitlab-deploy-token with read_registry]; unset: the
#                         registry must allow anonymous pulls
#   PUBLIC_PATH_PREFIX    public path of the whole app on the gateway, e.g.
#                         /conduit: pages at <prefix>/, the API at
#                         <prefix>/api; also the app's CONDUIT_PUBLIC_BASE_PATH
#                         [empty: the root; / means the same]
#   ROLLOUT_TIMEOUT       wait for the app's rollout [5m]
#   DATABASE_TIMEOUT      wait for the database to be ready [15m]
#   GATEWAY_TIMEOUT       wait for the Gateway to be Programmed with an address [10m]
#   DRY_RUN               1: render everything (Secrets with placeholder
#                         values) to standard output, print each command on
#                         standard error ("+ ..."), touch no cluster
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
NAMESPACE=conduit-$ENVIRONMENT
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-5m}
DATABASE_TIMEOUT=${DATABASE_TIMEOUT:-15m}
GATEWAY_TIMEOUT=${GATEWAY_TIMEOUT:-10m}
PUBLIC_PATH_PREFIX=${PUBLIC_PATH_PREFIX:-}
IMAGE_REPO=${IMAGE_REPO:-${CI_REGISTRY_IMAGE:-registry.gitlab.com/example/conduit}}

log_prefix="k8s_deploy($ENVIRONMENT)"

# apply FILE WHAT: server-side apply of a rendered file through standard input
# (printed as the command it is). Server-side apply keeps Secret values out
# of the last-applied annotation that client-side apply would add.
apply() {
    say "applying $2"
    show kubectl apply --server-side --field-manager=conduit-deploy --force-conflicts -f -
    if [ "$DRY_RUN" != 1 ]; then
        kubectl apply --server-side --field-manager=conduit-deploy --force-conflicts -f - <"$1"
    fi
}

command -v kubectl >/dev/null || die "kubectl is required"

# --- The image --------------------------------------------------------------
digest=${IMAGE_DIGEST:-}
printf '%s\n' "$digest" | grep -Eq '^sha256:[0-9a-f]{64}$' \
    || die "IMAGE_DIGEST must be the image's digest, sha256:<64 hex>, got '$digest' (tags are never deployed)"
case ${IMAGE_REPO##*/} in
    *@* | *:* | *[!a-z0-9._-]*) die "IMAGE_REPO must be a repository without tag or digest, got '$IMAGE_REPO'" ;;
esac
say "image $IMAGE_REPO@$digest into namespace $NAMESPACE"

# The app's public path: empty for the root, else /segment[/segment...]
# without a trailing slash (what the HTTPRoute's path matches accept).
[ "$PUBLIC_PATH_PREFIX" != / ] || PUBLIC_PATH_PREFIX=
case $PUBLIC_PATH_PREFIX in
    '') ;;
    # The API is under the prefix now: a prefix ending in /api is the old
    # meaning of this variable, and would put the API at /api/api.
    */api) die "PUBLIC_PATH_PREFIX is the path of the whole app, the API being at <prefix>/api: set '${PUBLIC_PATH_PREFIX%/api}' (empty: the root), not '$PUBLIC_PATH_PREFIX'" ;;
    */ | *[!A-Za-z0-9._~/-]* | *//* | */. | */.. | */./* | */../*)
        die "PUBLIC_PATH_PREFIX must be empty (the root) or look like /conduit or /blog/conduit, got '$PUBLIC_PATH_PREFIX'" ;;
    /?*) ;;
    *) die "PUBLIC_PATH_PREFIX must be empty (the root) or look like /conduit or /blog/conduit, got '$PUBLIC_PATH_PREFIX'" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secrets=$work/secrets
mkdir -m 700 "$secrets"

# --- Secrets ----------------------------------------------------------------
# Values go through files (not --from-literal), so they never appear in a
# process list. In a dry run every value is a placeholder, even when the
# variables are set, so real secrets never reach a log.
if [ "$DRY_RUN" = 1 ]; then
    say "dry run: Secrets are rendered with placeholder values"
    printf '%s' "dry-run-placeholder-not-a-real-signing-key" >"$secrets/secret"
    db_password=dry-run-placeholder-password
    backup_key=$work/placeholder-key.json
    printf '%s\n' '{"type": "service_account", "comment": "dry-run placeholder"}' >"$backup_key"
    dns01_key=$backup_key
else
    : "${APP_URL:?set APP_URL, the public address of the environment, the target of the smoke test}"
    : "${SMOKE_PASSWORD:?set SMOKE_PASSWORD, the password of the smoke user of this environment (masked)}"
    : "${CONDUIT_SECRET:?set CONDUIT_SECRET (at least 32 bytes, e.g. openssl rand -hex 32)}"
    [ "${#CONDUIT_SECRET}" -ge 32 ] || die "CONDUIT_SECRET must be at least 32 bytes"
    printf '%s' "$CONDUIT_SECRET" >"$secrets/secret"
    if [ -n "${CONDUIT_PREVIOUS_SECRET:-}" ]; then
        [ "${#CONDUIT_PREVIOUS_SECRET}" -ge 32 ] || die "CONDUIT_PREVIOUS_SECRET must be at least 32 bytes"
        printf '%s' "$CONDUIT_PREVIOUS_SECRET" >"$secrets/previous-secret"
    fi
    if [ "$ENVIRONMENT" = dev ]; then
        db_password=${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD for the dev database}
        case $db_password in
            *[!A-Za-z0-9._~-]*) die "POSTGRES_PASSWORD may only use A-Z a-z 0-9 . _ ~ - (it goes into a URL); e.g. openssl rand -hex 24" ;;
        esac
        [ "${#db_password}" -ge 16 ] || die "POSTGRES_PASSWORD must be at least 16 characters"
    else
        backup_key=${BACKUP_GCS_KEY_FILE:?set BACKUP_GCS_KEY_FILE to the backup service account key (JSON file)}
        [ -s "$backup_key" ] || die "BACKUP_GCS_KEY_FILE ($backup_key) is missing or empty"
        dns01_key=${DNS01_GCP_KEY_FILE:?set DNS01_GCP_KEY_FILE to the key of the service account cert-manager answers DNS-01 challenges with (JSON file)}
        [ -s "$dns01_key" ] || die "DNS01_GCP_KEY_FILE ($dns01_key) is missing or empty"
    fi
fi

rendered_secrets=$work/secrets.yaml
: >"$rendered_secrets"
# secret NAME ARGS...: renders one Secret (kubectl create --dry-run=client,
# offline) labelled as part of Conduit, appended to secrets.yaml.
secret() {
    name=$1
    shift
    kubectl create secret generic "$name" --namespace "$NAMESPACE" "$@" \
        --dry-run=client -o yaml >"$work/one-secret.yaml"
    kubectl label --local -f "$work/one-secret.yaml" -o yaml \
        app.kubernetes.io/part-of=conduit app.kubernetes.io/managed-by=k8s_deploy.sh \
        >>"$rendered_secrets"
    echo --- >>"$rendered_secrets"
}
if [ -f "$secrets/previous-secret" ]; then
    secret conduit-secret --from-file=secret="$secrets/secret" \
        --from-file=previous-secret="$secrets/previous-secret"
else
    secret conduit-secret --from-file=secret="$secrets/secret"
fi
if [ "$ENVIRONMENT" = dev ]; then
    # Same shape as CloudNativePG's <cluster>-app Secret in prod.
    printf '%s' conduit >"$secrets/username"
    printf '%s' "$db_password" >"$secrets/password"
    printf '%s' conduit >"$secrets/dbname"
    printf '%s' conduit-db >"$secrets/host"
    printf '%s' 5432 >"$secrets/port"
    printf '%s' "postgres://conduit:$db_password@conduit-db:5432/conduit" >"$secrets/uri"
    secret conduit-db-app --type=kubernetes.io/basic-auth \
        --from-file=username="$secrets/username" --from-file=password="$secrets/password" \
        --from-file=dbname="$secrets/dbname" --from-file=host="$secrets/host" \
        --from-file=port="$secrets/port" --from-file=uri="$secrets/uri"
else
    secret conduit-backup-gcs --from-file=credentials.json="$backup_key"
    # cert-manager's Issuer (k8s/components/tls) reads it in this namespace.
    secret conduit-dns01-gcp --from-file=key.json="$dns01_key"
fi
# Image pull credentials for the registry host of IMAGE_REPO (the app's
# ServiceAccount lists this Secret; without it, pulls are anonymous).
registry_user=${REGISTRY_USER:-${CI_DEPLOY_USER:-}}
registry_password=${REGISTRY_PASSWORD:-${CI_DEPLOY_PASSWORD:-}}
if [ "$DRY_RUN" = 1 ]; then
    registry_user=dry-run-placeholder registry_password=dry-run-placeholder
fi
if [ -n "$registry_user" ] && [ -n "$registry_password" ]; then
    auth=$(printf '%s:%s' "$registry_user" "$registry_password" | base64 | tr -d '\n')
    printf '{"auths":{"%s":{"auth":"%s"}}}' "${IMAGE_REPO%%/*}" "$auth" >"$secrets/dockerconfig"
    secret conduit-registry --type=kubernetes.io/dockerconfigjson \
        --from-file=.dockerconfigjson="$secrets/dockerconfig"
else
    say "no REGISTRY_USER/REGISTRY_PASSWORD (or CI_DEPLOY_*): the cluster pulls ${IMAGE_REPO%%/*} anonymously"
fi
checksum=$(sha256sum "$rendered_secrets" | cut -c1-16)

# --- Render -----------------------------------------------------------------
# A generated kustomization on top of the overlay, in a copy of k8s/
# (kustomize only loads directories below its own root): it pins the image,
# the public path prefix (HTTPRoute and CONDUIT_PUBLIC_BASE_PATH), the backup
# bucket, and stamps the Secrets' checksum on the pod template so that a
# changed secret rolls the pods.
cp -R k8s "$work/k8s"
mkdir "$work/k8s/deploy"
{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../overlays/$ENVIRONMENT"
    echo "images:"
    echo "  - name: registry.gitlab.com/example/conduit"
    echo "    newName: $IMAGE_REPO"
    echo "    digest: \"$digest\""
    echo "configMapGenerator:"
    echo "  - name: conduit-config"
    echo "    behavior: merge"
    echo "    literals:"
    echo "      - \"CONDUIT_PUBLIC_BASE_PATH=$PUBLIC_PATH_PREFIX\""
    echo "patches:"
    if [ -n "$PUBLIC_PATH_PREFIX" ]; then
        # k8s/base/gateway.yaml: rule 0 forwards the root, rule 1 keeps the
        # probes inside (the `test` operations stop the render if that
        # layout changed). Under a prefix, the app gets the path with the
        # prefix replaced by /.
        echo "  - target: {kind: HTTPRoute, name: conduit}"
        echo "    patch: |-"
        echo "      - {op: test, path: /spec/rules/0/matches/0/path/value, value: /}"
        echo "      - {op: test, path: /spec/rules/1/matches/0/path/value, value: /healthz}"
        echo "      - {op: test, path: /spec/rules/1/matches/1/path/value, value: /readyz}"
        echo "      - {op: replace, path: /spec/rules/0/matches/0/path/value, value: \"$PUBLIC_PATH_PREFIX\"}"
        echo "      - op: add"
        echo "        path: /spec/rules/0/filters"
        echo "        value:"
        echo "          - type: URLRewrite"
        echo "            urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}"
        echo "      - {op: replace, path: /spec/rules/1/matches/0/path/value, value: \"$PUBLIC_PATH_PREFIX/healthz\"}"
        echo "      - {op: replace, path: /spec/rules/1/matches/1/path/value, value: \"$PUBLIC_PATH_PREFIX/readyz\"}"
        echo "      - op: replace"
        echo "        path: /spec/rules/1/filters/0/requestRedirect/path/replaceFullPath"
        echo "        value: \"$PUBLIC_PATH_PREFIX/\""
    fi
    echo "  - target: {kind: Deployment, name: conduit}"
    echo "    patch: |-"
    echo "      - op: add"
    echo "        path: /spec/template/metadata/annotations"
    echo "        value: {conduit.example/secrets-checksum: \"$checksum\"}"
    if [ "$ENVIRONMENT" = prod ]; then
        bucket=${BACKUP_BUCKET:-}
        if [ -z "$bucket" ] && [ -n "${GCP_PROJECT:-}" ]; then
            bucket=$GCP_PROJECT-conduit-backups
        fi
        if [ -z "$bucket" ]; then
            [ "$DRY_RUN" = 1 ] || die "set BACKUP_BUCKET (or GCP_PROJECT) for prod backups"
            bucket=conduit-backups-placeholder
        fi
        case $bucket in
            *[!a-z0-9._-]*) die "BACKUP_BUCKET must be a bucket name, got '$bucket'" ;;
        esac
        echo "  - target: {kind: ObjectStore, name: conduit-backups}"
        echo "    patch: |-"
        echo "      - op: replace"
        echo "        path: /spec/configuration/destinationPath"
        echo "        value: gs://$bucket/conduit-prod"
        # HTTPS (k8s/components/tls): the host name, the static address and
        # the ACME account; placeholders in a dry run.
        hostname=${PUBLIC_HOSTNAME:-} address=${PUBLIC_ADDRESS:-} email=${ACME_EMAIL:-}
        dns_project=${DNS01_PROJECT:-${GCP_PROJECT:-}}
        if [ "$DRY_RUN" = 1 ]; then
            hostname=${hostname:-conduit.example.com} address=${address:-192.0.2.10}
            email=${email:-ops@example.com} dns_project=${dns_project:-example-project}
        fi
        printf '%s\n' "$hostname" | grep -Eq '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]{2,}$' \
            || die "set PUBLIC_HOSTNAME to the public host name, got '$hostname'"
        printf '%s\n' "$address" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' \
            || die "set PUBLIC_ADDRESS to the Gateway's static IPv4 address, got '$address'"
        case $email in *@*.*) ;; *) die "set ACME_EMAIL to a contact address, got '$email'" ;; esac
        [ -n "$dns_project" ] || die "set DNS01_PROJECT (or GCP_PROJECT): the project of the DNS zone"
        for listener in 0 1; do
            echo "  - target: {kind: Gateway, name: conduit}"
            echo "    patch: |-"
            echo "      - op: replace"
            echo "        path: /spec/listeners/$listener/hostname"
            echo "        value: $hostname"
        done
        echo "  - target: {kind: Gateway, name: conduit}"
        echo "    patch: |-"
        echo "      - op: replace"
        echo "        path: /spec/addresses/0/value"
        echo "        value: \"$address\""
        echo "  - target: {kind: Certificate, name: conduit-tls}"
        echo "    patch: |-"
        echo "      - op: replace"
        echo "        path: /spec/dnsNames/0"
        echo "        value: $hostname"
        echo "  - target: {kind: Issuer, name: letsencrypt}"
        echo "    patch: |-"
        echo "      - op: replace"
        echo "        path: /spec/acme/email"
        echo "        value: $email"
        echo "      - op: replace"
        echo "        path: /spec/acme/solvers/0/dns01/cloudDNS/project"
        echo "        value: $dns_project"
    fi
} >"$work/k8s/deploy/kustomization.yaml"
manifests=$work/manifests.yaml
say "rendering k8s/overlays/$ENVIRONMENT with image $IMAGE_REPO@$digest, public path ${PUBLIC_PATH_PREFIX:-/}"
show kubectl kustomize "$work/k8s/deploy"
kubectl kustomize "$work/k8s/deploy" >"$manifests"
if grep -nE 'image: (.*:unpinned|[^:]*|.*:latest)$' "$manifests" >&2; then
    die "an image is not pinned (lines above)"
fi
grep -qF "image: $IMAGE_REPO@$digest" "$manifests" || die "the render does not pin $IMAGE_REPO@$digest"
# The Namespace goes first, so that the Secrets have somewhere to live.
awk '
    function flush() { if (ns) printf "%s---\n", doc; doc = ""; ns = 0 }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n"; if ($0 == "kind: Namespace") ns = 1 }
    END { flush() }
' "$manifests" >"$work/namespace.yaml"
[ -s "$work/namespace.yaml" ] || die "the overlay renders no Namespace"

if [ "$DRY_RUN" = 1 ]; then
    cat "$rendered_secrets"
    cat "$manifests"
fi

# --- Apply and watch --------------------------------------------------------
if [ -n "${K8S_CLUSTER_NAME:-}" ] && [ -n "${KOPS_STATE_STORE:-}" ]; then
    run kops export kubeconfig --state "$KOPS_STATE_STORE" --name "$K8S_CLUSTER_NAME" --admin=1h
elif [ "$DRY_RUN" != 1 ]; then
    say "no K8S_CLUSTER_NAME/KOPS_STATE_STORE: using the current kubectl context"
fi
apply "$work/namespace.yaml" "the Namespace $NAMESPACE"
apply "$rendered_secrets" "the Secrets"
# The manifests as an ApplySet whose parent is the Secret conduit-applyset in
# the namespace: what an earlier deploy applied and this render no longer
# holds is deleted (the Secrets above are applied apart and never pruned).
say "applying the manifests (ApplySet conduit-applyset: objects removed from them are pruned)"
show env KUBECTL_APPLYSET=true kubectl -n "$NAMESPACE" apply --server-side --field-manager=conduit-deploy \
    --force-conflicts --prune --applyset=conduit-applyset -f -
if [ "$DRY_RUN" != 1 ]; then
    KUBECTL_APPLYSET=true kubectl -n "$NAMESPACE" apply --server-side --field-manager=conduit-deploy \
        --force-conflicts --prune --applyset=conduit-applyset -f - <"$manifests"
fi

# rollback WHY: undoes the app's rollout and fails the job.
rollback() {
    say "$1: rolling back to the previous version"
    run kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/name=conduit -o wide || true
    if run kubectl -n "$NAMESPACE" rollout undo deployment/conduit; then
        run kubectl -n "$NAMESPACE" rollout status deployment/conduit --timeout="$ROLLOUT_TIMEOUT" ||
            say "the previous version did not become ready either"
    else
        say "nothing to roll back to (first deploy?)"
    fi
    exit 1
}

failed=0
if [ "$ENVIRONMENT" = dev ]; then
    run kubectl -n "$NAMESPACE" rollout status statefulset/conduit-db --timeout="$DATABASE_TIMEOUT" || failed=1
else
    run kubectl -n "$NAMESPACE" wait --for=condition=Ready cluster.postgresql.cnpg.io/conduit-db \
        --timeout="$DATABASE_TIMEOUT" || failed=1
fi
[ "$failed" = 0 ] || say "the database is not ready; checking the app anyway"
run kubectl -n "$NAMESPACE" rollout status deployment/conduit --timeout="$ROLLOUT_TIMEOUT" ||
    rollback "rollout failed"
[ "$failed" = 0 ] || rollback "the database is not ready"
if [ "$ENVIRONMENT" = prod ]; then
    # The first certificate takes a DNS-01 round (a minute or two); later
    # deploys find it Ready at once.
    run kubectl -n "$NAMESPACE" wait --for=condition=Ready=True certificate/conduit-tls \
        --timeout="$GATEWAY_TIMEOUT" || rollback "the HTTPS certificate is not Ready"
fi
# The entry point: the Gateway must be accepted and programmed by Cilium and
# have an address before the smoke test can mean anything.
run kubectl -n "$NAMESPACE" wait --for=condition=Programmed=True gateway/conduit --timeout="$GATEWAY_TIMEOUT" ||
    rollback "the Gateway is not Programmed"
run kubectl -n "$NAMESPACE" wait --for=jsonpath='{.status.addresses[0].value}' gateway/conduit \
    --timeout="$GATEWAY_TIMEOUT" || rollback "the Gateway has no address"
if [ "$DRY_RUN" = 1 ]; then
    show sh .ci/smoke_test.sh "<APP_URL>$PUBLIC_PATH_PREFIX"
    say "on a failed rollout, Gateway or smoke test this runs:"
    show kubectl -n "$NAMESPACE" rollout undo deployment/conduit
    say "dry run: nothing was changed"
    exit 0
fi
address=$(kubectl -n "$NAMESPACE" get gateway conduit -o jsonpath='{.status.addresses[0].value}')
say "Gateway address: $address"
if [ "$ENVIRONMENT" = prod ] && [ "$address" != "$PUBLIC_ADDRESS" ]; then
    say "warning: the Gateway's address $address is not PUBLIC_ADDRESS $PUBLIC_ADDRESS: point $PUBLIC_HOSTNAME at $address (docs/operations.md, HTTPS)"
fi
show sh .ci/smoke_test.sh "${APP_URL%/}$PUBLIC_PATH_PREFIX"
sh .ci/smoke_test.sh "${APP_URL%/}$PUBLIC_PATH_PREFIX" || rollback "the smoke test failed"
say "deployed $IMAGE_REPO@$digest; the app at ${APP_URL%/}$PUBLIC_PATH_PREFIX/, the API at ${APP_URL%/}$PUBLIC_PATH_PREFIX/api"
