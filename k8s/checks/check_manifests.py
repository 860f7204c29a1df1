#!/usr/bin/env python3
"""Policy checks on rendered Conduit manifests, run by .ci/check_k8s.sh.

usage: check_manifests.py --k8s-minor 1.36 --kops KOPS.yaml [--kops ...] RENDERED.yaml...

Schemas say whether each object is well-formed (kubernetes-validate for core
kinds, ../shared/tools/validate-crs.py for custom resources). This script
checks what schemas cannot: that every object is of a kind one of those
validators knows (so a typo in apiVersion cannot slip through as "unknown,
skipped"), that no removed API version is used, that every pod meets the
restricted Pod Security profile, and that the pieces agree with each other and
with the app's contract (selectors, ports, probe paths, config keys, metric
names, connection budget, shutdown timing, the trusted proxy range, the public
path prefix, probes kept off the public route, when the session cookie is
Secure).

Each problem is printed as "FAIL <file> <Kind/name>: <what>"; exit 1 if any.
"""
import argparse
import ipaddress
import json
import os
import re
import sys

import yaml

# --- The app's contract -----------------------------------------------------
# Every configuration key the server reads from the environment. The server
# refuses to start on an unknown CONDUIT_* variable, so a misspelt key would
# crash-loop the rollout: reject it here, before it ships. The list is derived
# from the server's own settings; a test of the server fails when it drifts.
SETTINGS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "settings.txt")
with open(SETTINGS_FILE, encoding="utf-8") as _f:
    CONFIG_KEYS = {line.strip() for line in _f if line.strip() and not line.startswith("#")}
# Metric families the server exports (histograms also as _bucket/_sum/_count).
METRICS = {
    "conduit_http_requests_total", "conduit_http_request_duration_seconds",
    "conduit_http_requests_in_flight", "conduit_http_requests_shed_total",
    "conduit_db_pool_connections", "conduit_db_pool_max_connections",
    "conduit_db_pool_wait_seconds", "conduit_db_unavailable_total",
    "conduit_password_hash_queue_depth", "conduit_password_hash_wait_seconds",
    "conduit_password_hash_rejected_total", "conduit_build_info",
}
API_PORT, METRICS_PORT = 8080, 9090
# Answered on the app's port for the kubelet only: no public route may reach
# them. The app ignores one trailing slash (/healthz/ is /healthz).
PROBE_PATHS = ("/healthz", "/readyz")
COOKIE_SECURE = ("auto", "always", "never")
IDLE_MIB, HASH_MIB = 20, 32          # measured: idle RSS, one scrypt hash at log_n 15
PRESTOP_SLEEP_MAX = 10
DEFAULT_PG_MAX_CONNECTIONS = 100     # the postgres image's default (dev)
PG_RESERVED = 10                     # superuser slots + operator/exporter connections

# Kinds kubernetes-validate checks (core API groups). Anything else must be a
# custom resource with a strict schema in ../shared/k8s-schemas, or one of
# the kinds checked by this script's own rules.
CORE_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io",
               "rbac.authorization.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io"}
OWN_RULES = {("cilium.io/v2", "CiliumNetworkPolicy"),
             # No schema set holds cert-manager's kinds: check_tls() checks
             # the fields these manifests rely on.
             ("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate")}
# API versions that no supported Kubernetes serves any more (or, for the
# Gateway API, that are superseded by v1 for the kinds used here).
REMOVED = {
    "extensions/v1beta1", "apps/v1beta1", "apps/v1beta2", "policy/v1beta1",
    "autoscaling/v2beta1", "autoscaling/v2beta2", "networking.k8s.io/v1beta1",
    "batch/v1beta1", "batch/v2alpha1", "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1", "storage.k8s.io/v1beta1",
    "scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1alpha1", "coordination.k8s.io/v1beta1",
    "discovery.k8s.io/v1beta1", "events.k8s.io/v1beta1", "node.k8s.io/v1beta1",
    "certificates.k8s.io/v1beta1", "admissionregistration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1", "apiregistration.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta1", "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3", "gateway.networking.k8s.io/v1alpha2",
    "gateway.networking.k8s.io/v1beta1", "monitoring.coreos.com/v1alpha1",
}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
CILIUM_ENTITIES = {"all", "cluster", "host", "remote-node", "kube-apiserver", "ingress",
                   "world", "health", "init", "unmanaged"}

failures = []
current = {"file": "", "obj": ""}


def fail(msg, obj=None):
    failures.append(f"FAIL {current['file']} {obj or current['obj']}: {msg}")


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1000 / 1048576, "M": 1e6 / 1048576,
             "G": 1e9 / 1048576}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(quantity))
    if not m:
        return None
    return float(m.group(1)) * units.get(m.group(2), 1 / 1048576)


def pod_spec(doc):
    kind = doc["kind"]
    if kind == "Pod":
        return doc.get("spec") or {}
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc):
    if doc["kind"] == "Pod":
        return (doc.get("metadata") or {}).get("labels") or {}
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels") or {}
    return (doc["spec"]["template"].get("metadata") or {}).get("labels") or {}


def selects(selector, labels):
    """Does a LabelSelector (matchLabels only, as used here) select labels?"""
    if selector is None:
        return False
    match = selector.get("matchLabels") or {}
    if selector.get("matchExpressions"):
        return False  # not used in these manifests; treat as "cannot tell"
    return all(labels.get(k) == v for k, v in match.items())


# --- Checks -----------------------------------------------------------------
def check_api(doc, schemas_dir):
    av, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    if av in REMOVED:
        fail(f"apiVersion {av} is removed or superseded; use the current version")
        return
    group = av.rpartition("/")[0]
    if group in CORE_GROUPS or (av, kind) in OWN_RULES:
        return
    if schemas_dir is None:
        return  # no schema set to compare with; validate-crs.py is skipped too
    schema = os.path.join(schemas_dir, f"{kind}_{group}_{av.rpartition('/')[2]}".lower() + ".json")
    if not os.path.exists(schema):
        fail(f"{av} {kind} is neither a core kind nor a custom resource with a schema "
             f"in ../shared/k8s-schemas: nothing would validate it")


def check_restricted(doc):
    """The restricted Pod Security Standard, container by container."""
    spec = pod_spec(doc)
    psc = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if spec.get(key) is True and key != "hostUsers":
            fail(f"{key} is not allowed")
    if psc.get("sysctls"):
        fail("sysctls are not allowed")
    for vol in spec.get("volumes") or []:
        types = set(vol) - {"name"}
        if not types <= RESTRICTED_VOLUMES:
            fail(f"volume {vol['name']} of type {sorted(types)} is not allowed")
    containers = [("initContainer", c) for c in spec.get("initContainers") or []]
    containers += [("container", c) for c in spec.get("containers") or []]
    for what, c in containers:
        sc = c.get("securityContext") or {}
        where = f"{what} {c['name']}"

        def eff(key):
            return sc[key] if key in sc else psc.get(key)
        if eff("runAsNonRoot") is not True:
            fail(f"{where}: runAsNonRoot must be true")
        uid = eff("runAsUser")
        if not isinstance(uid, int) or uid == 0:
            fail(f"{where}: runAsUser must be a numeric non-root user, got {uid!r}")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            fail(f"{where}: privileged is not allowed")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(f"{where}: readOnlyRootFilesystem must be true")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            fail(f"{where}: capabilities.drop must contain ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            fail(f"{where}: only NET_BIND_SERVICE may be added")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            fail(f"{where}: seccompProfile must be RuntimeDefault, got {seccomp!r}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                fail(f"{where}: hostPort is not allowed")
        res = c.get("resources") or {}
        for need in ("requests.cpu", "requests.memory", "limits.memory"):
            section, key = need.split(".")
            if key not in (res.get(section) or {}):
                fail(f"{where}: resources.{need} must be set")
        image = c.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        if not tag or tag == "latest":
            fail(f"{where}: image {image!r} must carry a fixed tag, not latest")


def probe_target(probe):
    get = (probe or {}).get("httpGet") or {}
    return get.get("path"), get.get("port")


def check_app(docs, by_kind, env_cm):
    """The Conduit Deployment against the app's contract."""
    dep = next((d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == "conduit"), None)
    if dep is None:
        fail("no Deployment conduit", "Deployment/conduit")
        return None
    current["obj"] = name_of(dep)
    spec, pod = dep["spec"], pod_spec(dep)
    if "replicas" in spec:
        fail("replicas must not be set: the HorizontalPodAutoscaler owns the count")
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    if ru.get("maxUnavailable") not in (0, "0%"):
        fail("rollingUpdate.maxUnavailable must be 0")
    if pod.get("automountServiceAccountToken") is not False:
        fail("automountServiceAccountToken must be false on the app's pods")
    if pod.get("enableServiceLinks") is not False:
        fail("enableServiceLinks must be false: for a Service named conduit* the kubelet injects "
             "CONDUIT_SERVICE_HOST and the like, which the server refuses as unknown settings")
    inits = {c["name"]: c for c in pod.get("initContainers") or []}
    mains = {c["name"]: c for c in pod.get("containers") or []}
    mig, app = inits.get("migrate"), mains.get("conduit")
    if mig is None or (mig.get("command") or []) + (mig.get("args") or []) != ["/conduit", "migrate"]:
        fail("init container `migrate` must run /conduit migrate")
    if app is None or (app.get("command") or []) + (app.get("args") or []) != ["/conduit", "serve"]:
        fail("container `conduit` must run /conduit serve")
        return dep
    ports = {p.get("name"): p.get("containerPort") for p in app.get("ports") or []}
    if ports != {"http": API_PORT, "metrics": METRICS_PORT}:
        fail(f"ports must be http={API_PORT} and metrics={METRICS_PORT}, got {ports}")
    expect = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expect.items():
        got = probe_target(app.get(probe))
        if got[0] != path or got[1] not in ("http", API_PORT):
            fail(f"{probe} must GET {path} on port http, got {got}")
    sleep = (((app.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds")
    if not isinstance(sleep, int) or not 0 < sleep <= PRESTOP_SLEEP_MAX:
        fail("preStop must be a `sleep` action of a few seconds (the image has no sleep binary)")
        sleep = 0
    # Environment: names the app knows, values from where they must come.
    for c in (mig, app):
        env = {e["name"]: e for e in c.get("env") or []}
        for name in env:
            if name.startswith("CONDUIT_") and name not in CONFIG_KEYS:
                fail(f"{c['name']}: {name} is not a configuration key of the app")
        url = env.get("CONDUIT_DATABASE_URL", {})
        refs = re.findall(r"\$\((\w+)\)", url.get("value", ""))
        names = list(env)
        for ref in refs:
            if ref in env and names.index(ref) > names.index("CONDUIT_DATABASE_URL"):
                fail(f"{c['name']}: $({ref}) is defined after CONDUIT_DATABASE_URL, so it is not expanded")
            if ref not in env and ref not in env_cm:
                fail(f"{c['name']}: $({ref}) in CONDUIT_DATABASE_URL is defined nowhere")
        uri = (env.get("DATABASE_URI", {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if uri.get("key") != "uri":
            fail(f"{c['name']}: the database URI must come from a Secret key named `uri`")
        if c is app:
            sec = (env.get("CONDUIT_SECRET", {}).get("valueFrom") or {}).get("secretKeyRef")
            if not sec:
                fail("CONDUIT_SECRET must come from a Secret")
        if "CONDUIT_SECRET" in env_cm or "CONDUIT_DATABASE_URL" in env_cm:
            fail("secrets must not be in the ConfigMap")
    for key in env_cm:
        if key.startswith("CONDUIT_") and key not in CONFIG_KEYS:
            fail(f"ConfigMap key {key} is not a configuration key of the app")
    # Shutdown timing: preStop pause + drain must fit in the grace period.
    drain = int(env_cm.get("CONDUIT_DRAIN_SECS", 20))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if sleep + drain >= grace:
        fail(f"preStop {sleep}s + drain {drain}s must be less than terminationGracePeriodSeconds {grace}s")
    timeout = int(env_cm.get("CONDUIT_REQUEST_TIMEOUT_SECS", 15))
    if timeout >= drain:
        fail(f"CONDUIT_REQUEST_TIMEOUT_SECS {timeout} must be below CONDUIT_DRAIN_SECS {drain}")
    # Memory sized from the hashing concurrency.
    hashes = int(env_cm.get("CONDUIT_HASH_CONCURRENCY", 2))
    req = mebibytes(((app.get("resources") or {}).get("requests") or {}).get("memory"))
    lim = mebibytes(((app.get("resources") or {}).get("limits") or {}).get("memory"))
    need = IDLE_MIB + hashes * HASH_MIB
    if req is None or req < need:
        fail(f"memory request must cover idle {IDLE_MIB} MiB + {hashes} x {HASH_MIB} MiB = {need} MiB")
    if lim is None or req is None or lim < req:
        fail("memory limit must be at least the request")
    if env_cm.get("CONDUIT_LISTEN", "").rpartition(":")[2] != str(API_PORT):
        fail(f"CONDUIT_LISTEN must use port {API_PORT}")
    if env_cm.get("CONDUIT_METRICS_LISTEN", "").rpartition(":")[2] != str(METRICS_PORT):
        fail(f"CONDUIT_METRICS_LISTEN must use port {METRICS_PORT}")
    return dep


def check_wiring(docs, by_kind, dep, env_cm, kops_pod_cidrs, k8s_minor):
    """Objects that refer to each other must agree."""
    labels = pod_labels(dep) if dep else {}
    app_ports = {"http": API_PORT, "metrics": METRICS_PORT}
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    svc = services.get("conduit")
    current["obj"] = "Service/conduit"
    if svc is None:
        fail("no Service conduit")
    else:
        if not selects({"matchLabels": svc["spec"].get("selector") or {}}, labels):
            fail("selector does not select the Deployment's pods")
        for p in svc["spec"]["ports"]:
            if app_ports.get(p.get("targetPort")) is None and p.get("targetPort") not in app_ports.values():
                fail(f"targetPort {p.get('targetPort')} is not a port of the app")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        current["obj"] = name_of(hpa)
        if hpa["spec"]["scaleTargetRef"] != {"apiVersion": "apps/v1", "kind": "Deployment", "name": "conduit"}:
            fail("must scale Deployment conduit")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        current["obj"] = name_of(pdb)
        if "minAvailable" in pdb["spec"] or pdb["spec"].get("maxUnavailable") in (None, 0, "0%"):
            fail("use maxUnavailable >= 1 so a node drain is never blocked")
        if pdb["spec"].get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
            fail("unhealthyPodEvictionPolicy must be AlwaysAllow (unready pods never block a drain)")
        if not selects(pdb["spec"].get("selector"), labels):
            fail("selector does not select the Deployment's pods")
    for sm in by_kind.get("ServiceMonitor", []):
        current["obj"] = name_of(sm)
        if (sm["metadata"].get("labels") or {}).get("release") != "kube-prometheus-stack":
            fail("needs the label release: kube-prometheus-stack")
        if svc is not None:
            if not selects(sm["spec"].get("selector"), svc["metadata"].get("labels") or {}):
                fail("selector does not select Service conduit")
            names = {p["name"] for p in svc["spec"]["ports"]}
            for ep in sm["spec"]["endpoints"]:
                if ep.get("port") not in names or ep.get("port") != "metrics":
                    fail(f"endpoint port {ep.get('port')} must be the Service's `metrics` port")
                if ep.get("path", "/metrics") != "/metrics":
                    fail("endpoint path must be /metrics")
    for kind in ("PrometheusRule", "PodMonitor"):
        for d in by_kind.get(kind, []):
            current["obj"] = name_of(d)
            if (d["metadata"].get("labels") or {}).get("release") != "kube-prometheus-stack":
                fail("needs the label release: kube-prometheus-stack")
    gateways = {g["metadata"]["name"]: g for g in by_kind.get("Gateway", [])}
    for route in by_kind.get("HTTPRoute", []):
        current["obj"] = name_of(route)
        for ref in route["spec"]["parentRefs"]:
            gw = gateways.get(ref["name"])
            if gw is None:
                fail(f"parent Gateway {ref['name']} is not in the render")
            elif ref.get("sectionName") and ref["sectionName"] not in {
                    lst["name"] for lst in gw["spec"]["listeners"]}:
                fail(f"listener {ref['sectionName']} does not exist on Gateway {ref['name']}")
        check_route(route, env_cm)
    for ing in by_kind.get("Ingress", []):
        current["obj"] = name_of(ing)
        # No rewrite in the Ingress API: the app sees the public path.
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                if ((path.get("backend") or {}).get("service") or {}).get("name") != "conduit":
                    continue
                base = path.get("path", "/").rstrip("/")
                if env_cm.get("CONDUIT_PUBLIC_BASE_PATH", "") != base:
                    fail(f"forwards {path.get('path')} as it is, so CONDUIT_PUBLIC_BASE_PATH must be {base!r}, "
                         f"got {env_cm.get('CONDUIT_PUBLIC_BASE_PATH', '')!r}")
    for gw in by_kind.get("Gateway", []):
        current["obj"] = name_of(gw)
        if gw["spec"]["gatewayClassName"] != "cilium":
            fail("gatewayClassName must be cilium (enabled in the kops Cluster spec)")
    # The dashboard ConfigMap must be loadable by Grafana's sidecar.
    dash = [d for d in by_kind.get("ConfigMap", [])
            if (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]
    current["obj"] = "ConfigMap/conduit-dashboard"
    if len(dash) != 1:
        fail("exactly one ConfigMap labelled grafana_dashboard: \"1\" expected")
    texts = []
    for d in dash:
        for key, text in (d.get("data") or {}).items():
            try:
                board = json.loads(text)
            except ValueError as e:
                fail(f"{key} is not JSON: {e}")
                continue
            if not board.get("panels"):
                fail(f"{key} has no panels")
            texts.append(text)
    for rule in by_kind.get("PrometheusRule", []):
        texts.append(json.dumps(rule["spec"]))
    used = set()
    for text in texts:
        for metric in re.findall(r"\bconduit_[a-z_]+", text):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            used.add(metric)
            if base not in METRICS:
                fail(f"metric {metric} is not exported by the server", "dashboard/alerts")
    # Network policies: default deny, and the app's peers.
    current["obj"] = "NetworkPolicy"
    nps = by_kind.get("NetworkPolicy", [])
    if not any(np["spec"].get("podSelector") == {} and not np["spec"].get("ingress")
               and not np["spec"].get("egress")
               and set(np["spec"].get("policyTypes", [])) == {"Ingress", "Egress"} for np in nps):
        fail("a default-deny policy (podSelector {}, Ingress and Egress, no rules) is required")
    for np in nps:
        current["obj"] = name_of(np)
        for rule in (np["spec"].get("ingress") or []) + (np["spec"].get("egress") or []):
            for port in rule.get("ports") or []:
                if isinstance(port.get("port"), str) and selects(np["spec"]["podSelector"], labels) \
                        and port["port"] not in app_ports:
                    fail(f"named port {port['port']} is not a port of the app")
    # Cilium policies: the shape of the subset used here.
    for cnp in by_kind.get("CiliumNetworkPolicy", []):
        current["obj"] = name_of(cnp)
        spec = cnp.get("spec") or {}
        if set(spec) - {"endpointSelector", "ingress", "egress", "description"}:
            fail(f"unexpected spec keys {sorted(set(spec) - {'endpointSelector', 'ingress', 'egress'})}")
        sel = spec.get("endpointSelector") or {}
        if not (sel.get("matchLabels") and set(sel) <= {"matchLabels"}):
            fail("endpointSelector must be a non-empty matchLabels")
        for direction, entity_key in (("ingress", "fromEntities"), ("egress", "toEntities")):
            for rule in spec.get(direction) or []:
                if set(rule) - {entity_key, "toPorts"}:
                    fail(f"{direction} rule keys must be {entity_key} and toPorts, got {sorted(rule)}")
                for entity in rule.get(entity_key) or []:
                    if entity not in CILIUM_ENTITIES:
                        fail(f"unknown Cilium entity {entity!r}")
                for tp in rule.get("toPorts") or []:
                    for p in tp.get("ports") or []:
                        if not str(p.get("port", "")).isdigit() or p.get("protocol") not in ("TCP", "UDP", "ANY"):
                            fail(f"bad port {p}")
        if cnp["metadata"]["name"] == "conduit-from-gateway":
            ok = selects(sel, labels) and any(
                "ingress" in (r.get("fromEntities") or []) and any(
                    str(p.get("port")) == str(API_PORT) for tp in r.get("toPorts") or [] for p in tp["ports"])
                for r in spec.get("ingress") or [])
            if not ok:
                fail(f"must admit the `ingress` entity (Cilium's gateway) to the app's port {API_PORT}")
    # The trusted proxy range is the pod range of the kops cluster.
    current["obj"] = "ConfigMap/conduit-config"
    try:
        proxies = json.loads(env_cm.get("CONDUIT_TRUSTED_PROXIES", "[]"))
        nets = [ipaddress.ip_network(p) for p in proxies]
    except ValueError as e:
        fail(f"CONDUIT_TRUSTED_PROXIES is not a list of CIDRs: {e}")
        nets = []
    for cidr in kops_pod_cidrs:
        if ipaddress.ip_network(cidr) not in nets:
            fail(f"CONDUIT_TRUSTED_PROXIES {proxies} must list the kops podCIDR {cidr}, "
                 "where Cilium's gateway connects from")
    # Namespaces enforce the restricted profile at the cluster's minor.
    for ns in by_kind.get("Namespace", []):
        current["obj"] = name_of(ns)
        lab = ns["metadata"].get("labels") or {}
        if lab.get("pod-security.kubernetes.io/enforce") != "restricted":
            fail("must enforce the restricted Pod Security Standard")
        if lab.get("pod-security.kubernetes.io/enforce-version") != f"v{k8s_minor}":
            fail(f"enforce-version must be v{k8s_minor}, the cluster's minor")
    return used


def path_matches(rule):
    """A rule's path matches; none is PathPrefix /."""
    return [m.get("path") or {"type": "PathPrefix", "value": "/"}
            for m in rule.get("matches") or [{}]]


def check_route_cel(rule):
    """The CRD's CEL validations these routes rely on. The API server applies
    them at admission; validate-crs.py checks only the JSON schema."""
    filters = rule.get("filters") or []
    types = [f["type"] for f in filters]
    if rule.get("backendRefs") and "RequestRedirect" in types:
        fail("RequestRedirect filter must not be used together with backendRefs")
    if "RequestRedirect" in types and "URLRewrite" in types:
        fail("may specify either RequestRedirect or URLRewrite, but not both")
    for kind in ("RequestRedirect", "URLRewrite"):
        if types.count(kind) > 1:
            fail(f"{kind} filter cannot be repeated")
    for f in filters:
        modifier = (f.get("requestRedirect") or f.get("urlRewrite") or {}).get("path") or {}
        if modifier.get("type") == "ReplacePrefixMatch":
            matches = path_matches(rule)
            if len(matches) != 1 or matches[0].get("type") != "PathPrefix":
                fail(f"{f['type']} with path.replacePrefixMatch needs exactly one PathPrefix match")
    for path in path_matches(rule):
        value = path.get("value", "")
        if path.get("type") not in ("Exact", "PathPrefix"):
            continue
        bad = (not value.startswith("/") or any(x in value for x in ("//", "/./", "/../", "%2f", "%2F", "#"))
               or value.endswith(("/.", "/..")) or not re.fullmatch(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+", value))
        if bad:
            fail(f"path {value!r} is not a valid {path.get('type')} match")


def check_route(route, env_cm):
    """Routes to the app: the public prefix replaced by /, the same prefix in
    CONDUIT_PUBLIC_BASE_PATH, and the probes answered without forwarding."""
    bases, kept_inside = set(), set()
    for rule in route["spec"]["rules"]:
        check_route_cel(rule)
        if is_https_redirect(rule):
            continue
        filters = rule.get("filters") or []
        if not rule.get("backendRefs"):
            if [f["type"] for f in filters] != ["RequestRedirect"]:
                fail("a rule without backends must answer with a RequestRedirect (and nothing else)")
            kept_inside |= {p["value"] for p in path_matches(rule) if p.get("type") == "PathPrefix"}
            continue
        for b in rule["backendRefs"]:
            if b["name"] != "conduit" or b["port"] != API_PORT:
                fail(f"backend must be Service conduit port {API_PORT}")
        matches = path_matches(rule)
        if len(matches) != 1 or matches[0].get("type") != "PathPrefix":
            fail("a forwarding rule must have exactly one PathPrefix match, the public prefix")
            continue
        prefix = matches[0]["value"]
        rewrites = [f["urlRewrite"].get("path") for f in filters if f["type"] == "URLRewrite"]
        if prefix == "/":
            if rewrites:
                fail("the root must be forwarded without a rewrite: Cilium turns a replacement by / into "
                     "a regex that also drops a second leading slash (//healthz would reach /healthz)")
        elif prefix.endswith("/"):
            fail(f"the public prefix {prefix} must not end with /")
        elif rewrites != [{"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}]:
            fail(f"{prefix} must be replaced by / (URLRewrite ReplacePrefixMatch): the app serves its "
                 "pages at / and its API at /api")
        bases.add("" if prefix == "/" else prefix)
    for base in sorted(bases):
        if env_cm.get("CONDUIT_PUBLIC_BASE_PATH", "") != base:
            fail(f"publishes the app under {base or '/'}, so CONDUIT_PUBLIC_BASE_PATH must be {base!r}, "
                 f"got {env_cm.get('CONDUIT_PUBLIC_BASE_PATH', '')!r}")
        for probe in PROBE_PATHS:
            if base + probe not in kept_inside:
                fail(f"{base}{probe} reaches the app from outside: a RequestRedirect rule must match it "
                     "(PathPrefix, so that its trailing-slash form is caught too)")


def check_cookies(by_kind, env_cm):
    """The session cookie is Secure exactly where browsers can keep it: over
    HTTPS always; on a plain HTTP gateway never (a browser drops a Secure
    cookie set over HTTP, and requests through the gateway do not come from
    loopback, so `auto` would mark it Secure)."""
    current["obj"] = "ConfigMap/conduit-config"
    value = env_cm.get("CONDUIT_COOKIE_SECURE", "auto")
    if value not in COOKIE_SECURE:
        fail(f"CONDUIT_COOKIE_SECURE must be one of {', '.join(COOKIE_SECURE)}, got {value!r}")
        return
    gateways = by_kind.get("Gateway", [])
    if not gateways:
        return  # an Ingress: TLS is the controller's, see k8s/components/ingress
    https = any(lst["protocol"] == "HTTPS" for gw in gateways for lst in gw["spec"]["listeners"])
    if https and value != "always":
        fail(f"the Gateway serves HTTPS: CONDUIT_COOKIE_SECURE must be always (k8s/components/tls), got {value}")
    if not https and value != "never":
        fail(f"the Gateway serves plain HTTP only: CONDUIT_COOKIE_SECURE must be never, got {value} "
             "(browsers drop a Secure cookie set over HTTP)")


def is_https_redirect(rule):
    filters = rule.get("filters", [])
    return (not rule.get("backendRefs") and len(filters) == 1
            and filters[0]["type"] == "RequestRedirect"
            and filters[0]["requestRedirect"].get("scheme") == "https")


def check_tls(by_kind):
    """Production is HTTPS only: an HTTPS listener with a cert-manager
    certificate for its host name, no address asked for, and nothing but a
    redirect on plain HTTP."""
    namespaces = {d["metadata"]["name"] for d in by_kind.get("Namespace", [])}
    certificates = {d["metadata"]["name"]: d for d in by_kind.get("Certificate", [])}
    issuers = {d["metadata"]["name"]: d for d in by_kind.get("Issuer", [])}
    routes = by_kind.get("HTTPRoute", [])
    for gw in by_kind.get("Gateway", []):
        current["obj"] = name_of(gw)
        # Google Cloud's load balancer hands out its own address; a Gateway
        # that asks for one is never Programmed (AddressNotUsable).
        if gw["spec"].get("addresses"):
            fail("a Gateway must ask for no address (spec.addresses): DNS points at the one it reports")
        https = [lst for lst in gw["spec"]["listeners"] if lst["protocol"] == "HTTPS"]
        if not https:
            if "conduit-prod" in namespaces:
                fail("prod must serve HTTPS: include k8s/components/tls")
            continue
        for listener in https:
            host = listener.get("hostname")
            if not host:
                fail(f"listener {listener['name']}: no hostname")
            for ref in listener["tls"]["certificateRefs"]:
                cert = next((c for c in certificates.values() if c["spec"]["secretName"] == ref["name"]), None)
                if cert is None:
                    fail(f"listener {listener['name']}: no cert-manager Certificate writes Secret {ref['name']}")
                    continue
                current["obj"] = name_of(cert)
                if host not in cert["spec"].get("dnsNames", []):
                    fail(f"does not cover the listener's host name {host}")
                issuer = issuers.get(cert["spec"]["issuerRef"]["name"])
                if cert["spec"]["issuerRef"].get("kind") != "Issuer" or issuer is None:
                    fail("its issuerRef must name an Issuer of the render")
                    continue
                current["obj"] = name_of(issuer)
                acme = issuer["spec"].get("acme") or {}
                for key in ("server", "email", "privateKeySecretRef", "solvers"):
                    if not acme.get(key):
                        fail(f"acme.{key} is missing")
                for solver in acme.get("solvers", []):
                    cloud_dns = (solver.get("dns01") or {}).get("cloudDNS") or {}
                    ref = cloud_dns.get("serviceAccountSecretRef") or {}
                    if not cloud_dns.get("project") or not ref.get("name") or not ref.get("key"):
                        fail("each solver must be dns01.cloudDNS with a project and a key Secret")
                current["obj"] = name_of(gw)
        plain = {lst["name"] for lst in gw["spec"]["listeners"] if lst["protocol"] == "HTTP"}
        for route in routes:
            attached = {ref.get("sectionName") for ref in route["spec"]["parentRefs"]
                        if ref["name"] == gw["metadata"]["name"]}
            if None in attached or attached & plain:
                current["obj"] = name_of(route)
                if not all(is_https_redirect(rule) for rule in route["spec"]["rules"]):
                    fail("serves plain HTTP next to HTTPS: on port 80 only a redirect to https may answer")


def check_connection_budget(by_kind, env_cm, dep):
    """(maxReplicas + surge) x pool + one migration connection per pod < max_connections."""
    current["obj"] = "HorizontalPodAutoscaler/conduit"
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    if not hpas or dep is None:
        fail("an autoscaler for the Deployment is required")
        return
    max_pods = hpas[0]["spec"]["maxReplicas"]
    surge = dep["spec"]["strategy"]["rollingUpdate"].get("maxSurge", 1)
    if not isinstance(surge, int):
        fail("maxSurge must be a number so the connection budget can be checked")
        return
    pool = int(env_cm.get("CONDUIT_POOL_SIZE", 8))
    max_conn = DEFAULT_PG_MAX_CONNECTIONS
    for cluster in by_kind.get("Cluster", []):
        params = ((cluster["spec"].get("postgresql") or {}).get("parameters") or {})
        max_conn = int(params.get("max_connections", DEFAULT_PG_MAX_CONNECTIONS))
    pods = max_pods + surge
    need = pods * pool + pods
    if need >= max_conn - PG_RESERVED:
        fail(f"({max_pods} + {surge}) x {pool} + {pods} = {need} connections do not fit in "
             f"max_connections {max_conn} - {PG_RESERVED} reserved")
    return f"{need} < {max_conn - PG_RESERVED}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-minor", required=True)
    ap.add_argument("--kops", action="append", default=[])
    ap.add_argument("--schemas")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    schemas = args.schemas if args.schemas and os.path.isdir(args.schemas) else None

    pod_cidrs = []
    for path in args.kops:
        for doc in yaml.safe_load_all(open(path)):
            if doc and doc.get("kind") == "Cluster":
                pod_cidrs.append(doc["spec"]["podCIDR"])
                version = str(doc["spec"]["kubernetesVersion"]).lstrip("v")
                if ".".join(version.split(".")[:2]) != args.k8s_minor:
                    failures.append(f"FAIL {path} Cluster: kubernetesVersion {version} is not {args.k8s_minor}")

    for path in args.files:
        current["file"] = path
        docs = [d for d in yaml.safe_load_all(open(path)) if isinstance(d, dict)]
        by_kind = {}
        for doc in docs:
            by_kind.setdefault(doc.get("kind"), []).append(doc)
            current["obj"] = name_of(doc)
            check_api(doc, schemas)
            if doc.get("kind") in POD_KINDS:
                check_restricted(doc)
        cms = [d for d in by_kind.get("ConfigMap", []) if d["metadata"]["name"].startswith("conduit-config")]
        env_cm = (cms[0].get("data") or {}) if cms else {}
        if not cms:
            fail("no ConfigMap conduit-config", "ConfigMap/conduit-config")
        dep = check_app(docs, by_kind, env_cm)
        used = check_wiring(docs, by_kind, dep, env_cm, pod_cidrs, args.k8s_minor)
        budget = check_connection_budget(by_kind, env_cm, dep)
        check_tls(by_kind)
        check_cookies(by_kind, env_cm)
        kinds = sorted({d["kind"] for d in docs})
        print(f"checked {path}: {len(docs)} objects ({', '.join(kinds)}); "
              f"{len(used or [])} metric names; connection budget {budget}")
    for line in failures:
        print(line)
    if failures:
        print(f"{len(failures)} problem(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
