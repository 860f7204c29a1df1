#!/bin/sh
# Check "deploy" of .ci/check_pipeline.sh: .ci/k8s_deploy.sh dev|prod with
# DRY_RUN=1 in the snapshot, the one place its dry runs are asserted on
# (.ci/check_k8s.sh only validates what it renders). The image is pinned to
# the digest of pack (dev) or promote (prod), from IMAGE_REPO, else
# CI_REGISTRY_IMAGE, else the default repository; tags and malformed digests
# are refused. The Namespace, the Secrets (placeholders only), the apply as
# an ApplySet with pruning, the database, rollout and Gateway waits, the smoke
# test inside the deploy and the rollback are printed; each environment gets
# its overlay, prod its host name, address and backup bucket. The app is
# published at the root, or under PUBLIC_PATH_PREFIX: the route, the probes
# kept inside, CONDUIT_PUBLIC_BASE_PATH and the smoke test's URL follow it;
# malformed prefixes, and the old API-only meaning (ending in /api), are
# refused.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

need_script .ci/k8s_deploy.sh
repo=registry.example.com/conduit/conduit
# A default-branch pipeline (short SHA) and a release tag (tag name), with
# the repository the pack job pushed to.
dev_digest=sha256:$(printf dev | sha256sum | cut -d' ' -f1)
prod_digest=sha256:$(printf prod | sha256sum | cut -d' ' -f1)
# The digests the pack job (dev) and the promote job (prod) pass on.
dry deploy-dev IMAGE_REPO="$repo" IMAGE_DIGEST="$dev_digest" CI_COMMIT_SHORT_SHA=1a2b3c4d \
    K8S_CLUSTER_NAME=conduit-dev.example.com KOPS_STATE_STORE=gs://fake-kops-state \
    sh .ci/k8s_deploy.sh dev
expect_ok deploy-dev
dry deploy-prod IMAGE_REPO="$repo" IMAGE_DIGEST="$prod_digest" CI_COMMIT_TAG=v1.2.3 \
    K8S_CLUSTER_NAME=conduit-prod.example.com KOPS_STATE_STORE=gs://fake-kops-state \
    BACKUP_BUCKET=example-backups PUBLIC_HOSTNAME=conduit.example.org PUBLIC_ADDRESS=203.0.113.9 \
    sh .ci/k8s_deploy.sh prod
expect_ok deploy-prod
dry deploy-tag IMAGE_REPO="$repo" IMAGE_TAG=v1.2.3 CI_COMMIT_TAG=v1.2.3 sh .ci/k8s_deploy.sh prod
expect_fail deploy-tag
has "$work/deploy-tag.err" "tags are never deployed" "deploy-tag"

has_re "$work/deploy-dev.out" "image: $repo@$dev_digest\$" "deploy-dev (image pinned to pack's digest)"
has_re "$work/deploy-prod.out" "image: $repo@$prod_digest\$" "deploy-prod (image pinned to promote's digest)"
# Every conduit image of a render is the pinned one.
for f in deploy-dev:$dev_digest deploy-prod:$prod_digest; do
    if grep -E 'image: .*conduit' "$work/${f%%:*}.out" | grep -vF "image: $repo@${f#*:}" >&2; then
        fail "${f%%:*}: a conduit image that is not $repo@${f#*:} (above)"
    fi
done
for env in dev prod; do
    out=$work/deploy-$env.out err=$work/deploy-$env.err
    lacks "$out" ":latest" "deploy-$env"
    if grep -n 'image:' "$out" | grep -e 'latest' -e ':unpinned' >&2; then
        fail "deploy-$env renders an unpinned image (above)"
    fi
    has "$out" "kind: Namespace" "deploy-$env"
    has "$out" "kind: Deployment" "deploy-$env"
    has "$out" "kind: Secret" "deploy-$env"
    has "$out" "name: conduit-secret" "deploy-$env (JWT Secret)"
    has "$err" "+ kops export kubeconfig --state gs://fake-kops-state --name conduit-$env.example.com --admin=1h" "deploy-$env"
    has "$err" "+ kubectl apply --server-side --field-manager=conduit-deploy --force-conflicts -f -" "deploy-$env"
    # Pruning: the manifests go in as an ApplySet, so what left them is deleted.
    has "$err" "+ env KUBECTL_APPLYSET=true kubectl -n conduit-$env apply --server-side" "deploy-$env (ApplySet)"
    has "$err" "--prune --applyset=conduit-applyset -f -" "deploy-$env (pruning)"
    has_re "$err" "^\\+ kubectl -n conduit-$env rollout status deployment/conduit .*--timeout=" "deploy-$env"
    has "$err" "wait --for=condition=Programmed=True gateway/conduit" "deploy-$env (Gateway Programmed)"
    has "$err" "wait '--for=jsonpath={.status.addresses[0].value}' gateway/conduit" "deploy-$env (Gateway address)"
    has "$err" "+ sh .ci/smoke_test.sh" "deploy-$env (smoke test inside the deploy)"
    has_re "$err" "^\\+ kubectl -n conduit-$env rollout undo deployment/conduit" "deploy-$env (rollback path)"
    lacks "$err" "dry-run-placeholder" "deploy-$env (secret values in the log)"
done
# The right overlay: dev runs its own PostgreSQL StatefulSet, prod a
# CloudNativePG cluster.
has "$work/deploy-dev.out" "kind: StatefulSet" "deploy-dev (overlay dev: PostgreSQL StatefulSet)"
lacks "$work/deploy-dev.out" "postgresql.cnpg.io" "deploy-dev (overlay dev)"
has "$work/deploy-dev.out" "name: conduit-db-app" "deploy-dev (database Secret)"
has "$work/deploy-dev.out" "  uri: " "deploy-dev (database Secret key uri)"
has "$work/deploy-dev.err" "rollout status statefulset/conduit-db" "deploy-dev"
has "$work/deploy-prod.out" "postgresql.cnpg.io" "deploy-prod (overlay prod: CloudNativePG)"
lacks "$work/deploy-prod.out" "kind: StatefulSet" "deploy-prod (overlay prod)"
has "$work/deploy-prod.err" "wait --for=condition=Ready cluster.postgresql.cnpg.io/conduit-db" "deploy-prod"
has "$work/deploy-prod.out" "hostname: conduit.example.org" "deploy-prod (PUBLIC_HOSTNAME on the listeners)"
has "$work/deploy-prod.out" "- conduit.example.org" "deploy-prod (PUBLIC_HOSTNAME in the certificate)"
has "$work/deploy-prod.out" "value: 203.0.113.9" "deploy-prod (PUBLIC_ADDRESS on the Gateway)"
has "$work/deploy-prod.out" "name: conduit-dns01-gcp" "deploy-prod (DNS-01 key Secret)"
has "$work/deploy-prod.err" "wait --for=condition=Ready=True certificate/conduit-tls" "deploy-prod (certificate)"
has "$work/deploy-prod.out" "destinationPath: gs://example-backups/conduit-prod" "deploy-prod (backup bucket)"
has "$work/deploy-prod.out" "name: conduit-backup-gcs" "deploy-prod (backup credentials Secret)"

# Without IMAGE_REPO: the pipeline's CI_REGISTRY_IMAGE, else the default.
dry deploy-registry IMAGE_DIGEST="$dev_digest" CI_REGISTRY_IMAGE=registry.example.com:5000/team/conduit \
    sh .ci/k8s_deploy.sh dev
expect_ok deploy-registry
has "$work/deploy-registry.out" "image: registry.example.com:5000/team/conduit@$dev_digest" \
    "deploy-registry (CI_REGISTRY_IMAGE)"
# The public path: the root by default, the same with /; under a prefix the
# route replaces it by / and the app is told it.
for f in deploy-dev deploy-prod; do
    has "$work/$f.out" 'CONDUIT_PUBLIC_BASE_PATH: ""' "$f (the app at the root)"
    has "$work/$f.out" "value: /healthz" "$f (probes kept inside)"
    lacks "$work/$f.out" "URLRewrite" "$f (no rewrite at the root)"
    has "$work/$f.err" "+ sh .ci/smoke_test.sh '<APP_URL>'" "$f (smoke test at the app's root)"
done
dry deploy-root IMAGE_DIGEST="$dev_digest" PUBLIC_PATH_PREFIX=/ sh .ci/k8s_deploy.sh dev
expect_ok deploy-root
has "$work/deploy-root.out" 'CONDUIT_PUBLIC_BASE_PATH: ""' "deploy-root (/ is the root)"
dry deploy-prefix IMAGE_DIGEST="$dev_digest" PUBLIC_PATH_PREFIX=/blog/conduit sh .ci/k8s_deploy.sh dev
expect_ok deploy-prefix
has "$work/deploy-prefix.out" "image: registry.gitlab.com/example/conduit@$dev_digest" \
    "deploy-prefix (default repository, pinned by digest)"
has_re "$work/deploy-prefix.out" "value: /blog/conduit\$" "deploy-prefix (the route's prefix)"
has "$work/deploy-prefix.out" "replacePrefixMatch: /" "deploy-prefix (the prefix replaced by /)"
has "$work/deploy-prefix.out" "value: /blog/conduit/healthz" "deploy-prefix (probes kept inside)"
has "$work/deploy-prefix.out" "value: /blog/conduit/readyz" "deploy-prefix (probes kept inside)"
has "$work/deploy-prefix.out" "replaceFullPath: /blog/conduit/" "deploy-prefix (probes sent to the front page)"
has "$work/deploy-prefix.out" "CONDUIT_PUBLIC_BASE_PATH: /blog/conduit" "deploy-prefix (the app's base path)"
has "$work/deploy-prefix.err" "+ sh .ci/smoke_test.sh '<APP_URL>/blog/conduit'" "deploy-prefix (smoke test at the app's root)"
for bad in /api /conduit/api /conduit/ conduit /a//b /a/../b '/a b'; do
    dry deploy-bad-prefix IMAGE_DIGEST="$dev_digest" PUBLIC_PATH_PREFIX="$bad" sh .ci/k8s_deploy.sh dev
    [ "$dry_status" -ne 0 ] || fail "k8s_deploy.sh must refuse PUBLIC_PATH_PREFIX '$bad'"
done
has "$work/deploy-bad-prefix.err" "PUBLIC_PATH_PREFIX must be empty (the root) or look like /conduit" "deploy-bad-prefix"

# Only digests are deployed, from a repository without a tag.
for bad in "" latest v1.2.3 sha256:abc "$dev_digest:x"; do
    dry deploy-bad-digest IMAGE_DIGEST="$bad" sh .ci/k8s_deploy.sh dev
    [ "$dry_status" -ne 0 ] || fail "k8s_deploy.sh must refuse IMAGE_DIGEST '$bad'"
done
dry deploy-repo-tag IMAGE_DIGEST="$dev_digest" IMAGE_REPO=registry.example.com/conduit:v1 sh .ci/k8s_deploy.sh dev
expect_fail deploy-repo-tag
# A real run stops before touching anything without its signing key.
dry deploy-no-secret DRY_RUN=0 IMAGE_DIGEST="$dev_digest" APP_URL=http://198.51.100.10 \
    SMOKE_PASSWORD=smoke-password sh .ci/k8s_deploy.sh dev
expect_fail deploy-no-secret
has "$work/deploy-no-secret.err" "set CONDUIT_SECRET" "deploy-no-secret (outside a dry run)"
dry deploy-badenv sh .ci/k8s_deploy.sh staging
expect_fail deploy-badenv
note "dev and prod pin the digests of pack and promote, else CI_REGISTRY_IMAGE's or the default repository;" \
    "tags, bad digests and tagged repositories refused; apply with prune, rollout, Gateway, smoke and undo printed;" \
    "overlays differ, prod gets its host name, address and bucket; the app at the root or under a prefix, bad prefixes refused"
