#!/bin/sh
# Renders what one environment runs, as the folders Flux applies from the
# environment branch: plain manifests, the image pinned by digest,
# nothing secret.
#
# usage: .ci/render_environment.sh dev|prod OUT
#
# Writes OUT/ENV/ (replacing it):
#   flux/            k8s/clusters/ENV: the three Kustomizations, the commit
#                    status report, the pipeline's read-only role
#   infrastructure/  k8s/overlays/ENV/infrastructure, rendered
#   database/        k8s/overlays/ENV/database, rendered (bucket set in prod)
#   app/             k8s/overlays/ENV/app, rendered with the image digest,
#                    the public path and (prod) the host name and ACME account
#   release          what this is: source commit, image, when, by which pipeline
# Each folder holds manifests.yaml and a kustomization.yaml that lists only
# it, so `kubectl kustomize OUT/ENV/<part>` is exactly what Flux applies.
#
# Environment:
#   IMAGE_DIGEST        sha256:<64 hex> (required; tags are never deployed)
#   IMAGE_REPO          image repository [CI_REGISTRY_IMAGE, else
#                       registry.gitlab.com/example/conduit]
#   SOURCE_COMMIT       the commit of this project rendered [CI_COMMIT_SHA,
#                       else git rev-parse HEAD]
#   PUBLIC_PATH_PREFIX  public path of the whole app, e.g. /conduit: pages at
#                       <prefix>/, the API at <prefix>/api; also the app's
#                       CONDUIT_PUBLIC_BASE_PATH [empty: the root; / is the same]
#   PUBLIC_ORIGIN       dev: the scheme and host readers reach the app at
#                       (http://conduit.dev.example.com), for the absolute
#                       links of feeds and the sitemap; CONDUIT_PUBLIC_ORIGIN
#                       [unset: the app's own address]. prod: always
#                       https://PUBLIC_HOSTNAME
#   GITLAB_PROJECT_URL  where Flux posts commit statuses
#                       [CI_PROJECT_URL, else https://gitlab.com/example/conduit]
#   prod only:
#   PUBLIC_HOSTNAME     the public host name (certificate, listeners)
#   ACME_EMAIL          the Let's Encrypt account's contact address
#   DNS01_PROJECT       the project of the Cloud DNS zone [GCP_PROJECT]
#   BACKUP_BUCKET       GCS bucket of the PostgreSQL backups
#                       [${GCP_PROJECT}-conduit-backups]
#   RENDER_EXAMPLES=1   placeholders for the prod values above (checks only)
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: $0 dev|prod OUT"
case $1 in
    dev | prod) ENVIRONMENT=$1 ;;
    *) die "usage: $0 dev|prod OUT" ;;
esac
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
cd "$(dirname "$0")/.."
log_prefix="render_environment($ENVIRONMENT)"
command -v kubectl >/dev/null || die "kubectl is required (kubectl kustomize)"

IMAGE_REPO=${IMAGE_REPO:-${CI_REGISTRY_IMAGE:-registry.gitlab.com/example/conduit}}
SOURCE_COMMIT=${SOURCE_COMMIT:-${CI_COMMIT_SHA:-$(git rev-parse HEAD)}}
PUBLIC_PATH_PREFIX=${PUBLIC_PATH_PREFIX:-}
PUBLIC_ORIGIN=${PUBLIC_ORIGIN:-}
GITLAB_PROJECT_URL=${GITLAB_PROJECT_URL:-${CI_PROJECT_URL:-https://gitlab.com/example/conduit}}

# --- What is rendered ---------------------------------------------------------
digest=${IMAGE_DIGEST:-}
printf '%s\n' "$digest" | grep -Eq '^sha256:[0-9a-f]{64}$' \
    || die "IMAGE_DIGEST must be the image's digest, sha256:<64 hex>, got '$digest' (tags are never deployed)"
case ${IMAGE_REPO##*/} in
    *@* | *:* | *[!a-z0-9._-]*) die "IMAGE_REPO must be a repository without tag or digest, got '$IMAGE_REPO'" ;;
esac
printf '%s\n' "$SOURCE_COMMIT" | grep -Eq '^[0-9a-f]{40}$' || die "SOURCE_COMMIT must be a full commit id, got '$SOURCE_COMMIT'"
case $GITLAB_PROJECT_URL in
    https://?*/?* | http://?*/?*) ;;
    *) die "GITLAB_PROJECT_URL must be the project's https:// address, got '$GITLAB_PROJECT_URL'" ;;
esac

# The app's public path: empty for the root, else /segment[/segment...]
# without a trailing slash (what the HTTPRoute's path matches accept).
[ "$PUBLIC_PATH_PREFIX" != / ] || PUBLIC_PATH_PREFIX=
case $PUBLIC_PATH_PREFIX in
    '') ;;
    # The API is under the prefix: a prefix ending in /api would put it at /api/api.
    */api) die "PUBLIC_PATH_PREFIX is the path of the whole app, the API being at <prefix>/api: set '${PUBLIC_PATH_PREFIX%/api}' (empty: the root), not '$PUBLIC_PATH_PREFIX'" ;;
    */ | *[!A-Za-z0-9._~/-]* | *//* | */. | */.. | */./* | */../*)
        die "PUBLIC_PATH_PREFIX must be empty (the root) or look like /conduit or /blog/conduit, got '$PUBLIC_PATH_PREFIX'" ;;
    /?*) ;;
    *) die "PUBLIC_PATH_PREFIX must be empty (the root) or look like /conduit or /blog/conduit, got '$PUBLIC_PATH_PREFIX'" ;;
esac

if [ "$ENVIRONMENT" = prod ]; then
    hostname=${PUBLIC_HOSTNAME:-} email=${ACME_EMAIL:-}
    dns_project=${DNS01_PROJECT:-${GCP_PROJECT:-}}
    bucket=${BACKUP_BUCKET:-}
    if [ -z "$bucket" ] && [ -n "${GCP_PROJECT:-}" ]; then
        bucket=$GCP_PROJECT-conduit-backups
    fi
    if [ "${RENDER_EXAMPLES:-0}" = 1 ]; then
        hostname=${hostname:-conduit.example.com} email=${email:-ops@example.com}
        dns_project=${dns_project:-example-project} bucket=${bucket:-conduit-backups-example}
    fi
    printf '%s\n' "$hostname" | grep -Eq '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]{2,}$' \
        || die "set PUBLIC_HOSTNAME to the public host name, got '$hostname'"
    case $email in *@*.*) ;; *) die "set ACME_EMAIL to a contact address, got '$email'" ;; esac
    [ -n "$dns_project" ] || die "set DNS01_PROJECT (or GCP_PROJECT): the project of the DNS zone"
    [ -n "$bucket" ] || die "set BACKUP_BUCKET (or GCP_PROJECT) for prod backups"
    case $bucket in
        *[!a-z0-9._-]*) die "BACKUP_BUCKET must be a bucket name, got '$bucket'" ;;
    esac
fi
if [ "$ENVIRONMENT" = prod ]; then
    PUBLIC_ORIGIN=https://$hostname
fi
case $PUBLIC_ORIGIN in
    '' | http://[a-z0-9]*[a-z0-9] | https://[a-z0-9]*[a-z0-9]) ;;
    *) die "PUBLIC_ORIGIN must look like https://conduit.example.com (no path, no slash), got '$PUBLIC_ORIGIN'" ;;
esac
case ${PUBLIC_ORIGIN#*://} in
    *[!a-z0-9.:-]*) die "PUBLIC_ORIGIN must look like https://conduit.example.com (no path, no slash), got '$PUBLIC_ORIGIN'" ;;
esac

# --- The generated layers -----------------------------------------------------
# Kustomizations on top of the overlay's parts, in a copy of k8s/ (kustomize
# only loads directories below its own root).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R k8s "$work/k8s"
mkdir -p "$work/k8s/render/app" "$work/k8s/render/database" "$work/k8s/render/flux"

{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../../overlays/$ENVIRONMENT/app"
    echo "images:"
    echo "  - name: registry.gitlab.com/example/conduit"
    echo "    newName: $IMAGE_REPO"
    echo "    digest: \"$digest\""
    echo "configMapGenerator:"
    echo "  - name: conduit-config"
    echo "    behavior: merge"
    echo "    literals:"
    echo "      - \"CONDUIT_PUBLIC_BASE_PATH=$PUBLIC_PATH_PREFIX\""
    if [ -n "$PUBLIC_ORIGIN" ]; then
        echo "      - \"CONDUIT_PUBLIC_ORIGIN=$PUBLIC_ORIGIN\""
    fi
    if [ -n "$PUBLIC_PATH_PREFIX" ] || [ "$ENVIRONMENT" = prod ]; then
        echo "patches:"
    fi
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
    if [ "$ENVIRONMENT" = prod ]; then
        # HTTPS (k8s/components/tls): the host name and the ACME account.
        for listener in 0 1; do
            echo "  - target: {kind: Gateway, name: conduit}"
            echo "    patch: |-"
            echo "      - op: replace"
            echo "        path: /spec/listeners/$listener/hostname"
            echo "        value: $hostname"
        done
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
} >"$work/k8s/render/app/kustomization.yaml"

{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../../overlays/$ENVIRONMENT/database"
    if [ "$ENVIRONMENT" = prod ]; then
        echo "patches:"
        echo "  - target: {kind: ObjectStore, name: conduit-backups}"
        echo "    patch: |-"
        echo "      - op: replace"
        echo "        path: /spec/configuration/destinationPath"
        echo "        value: gs://$bucket/conduit-prod"
    fi
} >"$work/k8s/render/database/kustomization.yaml"

{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../../clusters/$ENVIRONMENT"
    echo "patches:"
    echo "  - target: {kind: Provider, name: gitlab}"
    echo "    patch: |-"
    echo "      - op: replace"
    echo "        path: /spec/address"
    echo "        value: ${GITLAB_PROJECT_URL%/}"
} >"$work/k8s/render/flux/kustomization.yaml"

# --- Render -------------------------------------------------------------------
target=$OUT/$ENVIRONMENT
rm -rf "$target"
# part NAME KUSTOMIZE-DIR: OUT/ENV/NAME/{manifests.yaml,kustomization.yaml}.
part() {
    mkdir -p "$target/$1"
    kubectl kustomize "$2" >"$target/$1/manifests.yaml"
    printf '%s\n' "# Rendered by .ci/render_environment.sh from $SOURCE_COMMIT; do not edit:" \
        "# change k8s/ on the default branch, or revert a commit of this branch." \
        "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" "resources:" \
        "  - manifests.yaml" >"$target/$1/kustomization.yaml"
    say "$1: $(grep -c '^kind:' "$target/$1/manifests.yaml") objects"
}
part flux "$work/k8s/render/flux"
part infrastructure "$work/k8s/overlays/$ENVIRONMENT/infrastructure"
part database "$work/k8s/render/database"
part app "$work/k8s/render/app"

app=$target/app/manifests.yaml
if grep -nE '^ +image: ' "$app" | grep -vE 'image: [^ ]+@sha256:[0-9a-f]{64}$' >&2; then
    die "an image of the app is not pinned by digest (lines above)"
fi
grep -qF "image: $IMAGE_REPO@$digest" "$app" || die "the render does not pin $IMAGE_REPO@$digest"

{
    echo "# What runs in $ENVIRONMENT: written by .ci/render_environment.sh with every"
    echo "# proposal; .ci/environments.sh reads it (a release takes the image dev ran)."
    echo "environment=$ENVIRONMENT"
    echo "source_commit=$SOURCE_COMMIT"
    echo "image=$IMAGE_REPO@$digest"
    echo "public_path=$PUBLIC_PATH_PREFIX"
    echo "pipeline=${CI_PIPELINE_URL:-none}"
} >"$target/release"
say "rendered $ENVIRONMENT from $SOURCE_COMMIT with $IMAGE_REPO@$digest into $target"
