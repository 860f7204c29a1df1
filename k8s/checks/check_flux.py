#!/usr/bin/env python3
"""What Flux applies, checked offline (needs PyYAML):

    python3 k8s/checks/check_flux.py paths TREE/ENV/flux/manifests.yaml
        prints "name path" for each Flux Kustomization, for the caller to
        render each path with `kubectl kustomize TREE/path` into
        TREE/ENV.<name>.yaml
    python3 k8s/checks/check_flux.py check TREE ENV
        the rules below, on the Kustomizations of TREE/ENV/flux and on
        those renders

TREE is a checkout of the environment's branch as .ci/render_environment.sh
writes it. The flux CLI is not available offline, so the Kustomizations are
kept plain enough that `kubectl kustomize` of each path is exactly what Flux
applies, and this check keeps them so:

  - plain: path, prune, dependsOn, wait, healthChecks, timeouts and the
    source only; no post-build substitution, patches, images, components,
    name changes or target namespace, which only Flux would apply; each
    path's kustomization.yaml lists local files and nothing else;
  - ordered: the database's Kustomization depends on the one that holds the
    Namespace, the app's on the database's;
  - the database can never be pruned: a Kustomization that holds a
    Namespace, a database Cluster, a StatefulSet or a volume claim has
    prune: false; the app's is pruned, waited on, and has a timeout;
  - the app's image is pinned by digest;
  - no Gateway asks for an address (Google Cloud's load balancer hands out
    its own; a Gateway that asks for another is never Programmed).

Each failure prints FAIL and the reason; the exit status is the count.
"""

import os
import re
import sys

import yaml

PLAIN = {"interval", "retryInterval", "timeout", "sourceRef", "path", "prune", "dependsOn", "wait",
         "healthChecks"}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomizations(flux_manifests):
    return [d for d in load(flux_manifests)
            if d.get("kind") == "Kustomization" and d.get("apiVersion", "").startswith("kustomize.toolkit.fluxcd.io/")]


def path_of(k):
    return os.path.normpath(k["spec"].get("path", ".").lstrip("./") or ".")


def paths(flux_manifests):
    for k in kustomizations(flux_manifests):
        print(k["metadata"]["name"], path_of(k))


def holds_data(doc):
    kind, api = doc.get("kind"), doc.get("apiVersion", "")
    return (kind in ("Namespace", "PersistentVolumeClaim", "StatefulSet")
            or (kind == "Cluster" and api.startswith("postgresql.cnpg.io/")))


def check(tree, env):
    flux = kustomizations(os.path.join(tree, env, "flux", "manifests.yaml"))
    if len(flux) < 3:
        fail(f"{env}: {len(flux)} Flux Kustomizations, expected infrastructure, database and app")
    by_name = {k["metadata"]["name"]: k for k in flux}
    renders = {}
    for name, k in by_name.items():
        spec = k["spec"]
        extra = sorted(set(spec) - PLAIN)
        if extra:
            fail(f"{env}/{name}: not plain, Flux would apply more than its path renders: {extra}")
        if not spec.get("timeout"):
            fail(f"{env}/{name}: no timeout")
        if not path_of(k).startswith(f"{env}/"):
            fail(f"{env}/{name}: path {spec.get('path')} outside the environment's folder")
        folder = os.path.join(tree, path_of(k))
        kfile = os.path.join(folder, "kustomization.yaml")
        if not os.path.exists(kfile):
            fail(f"{env}/{name}: {path_of(k)} has no kustomization.yaml")
            continue
        with open(kfile) as f:
            kdoc = yaml.safe_load(f)
        if set(kdoc) - KUSTOMIZATION_KEYS:
            fail(f"{env}/{name}: {path_of(k)}/kustomization.yaml has {sorted(set(kdoc) - KUSTOMIZATION_KEYS)}")
        for resource in kdoc.get("resources", []):
            if "/" in resource or "://" in resource or not os.path.isfile(os.path.join(folder, resource)):
                fail(f"{env}/{name}: resource {resource} is not a file of its own folder")
        render = os.path.join(tree, f"{env}.{name}.yaml")
        renders[name] = load(render) if os.path.exists(render) else fail(f"{env}/{name}: no render {render}") or []

    def depends(name, on, seen=()):
        if name in seen:
            fail(f"{env}: dependsOn loop at {name}")
            return False
        direct = [d["name"] for d in by_name.get(name, {}).get("spec", {}).get("dependsOn", [])]
        return on in direct or any(depends(d, on, seen + (name,)) for d in direct)

    def holder(predicate, what):
        names = [n for n, docs in renders.items() if any(predicate(d) for d in docs)]
        if len(names) != 1:
            fail(f"{env}: {what} in {names or 'no Kustomization'}, expected exactly one")
            return None
        return names[0]

    namespace = holder(lambda d: d.get("kind") == "Namespace", "the Namespace")
    # The app's database: other data (the trace store of the monitoring
    # stack) may live elsewhere, under the same never-prune rule below.
    database = holder(lambda d: holds_data(d) and d.get("kind") != "Namespace"
                      and d["metadata"].get("namespace") != "monitoring", "the database")
    app = holder(lambda d: d.get("kind") == "Deployment" and d["metadata"]["name"] == "conduit", "the app")
    if database and namespace and database != namespace and not depends(database, namespace):
        fail(f"{env}: {database} (the database) does not depend on {namespace} (its Namespace)")
    if app and database and not depends(app, database):
        fail(f"{env}: {app} (the app) does not depend on {database} (the database)")

    for name, docs in renders.items():
        held = sorted({f"{d['kind']}/{d['metadata']['name']}" for d in docs if holds_data(d)})
        if held and by_name[name]["spec"].get("prune") is not False:
            fail(f"{env}/{name}: may be pruned, but holds {held}: a render mistake would delete data")
        for d in docs:
            if d.get("kind") == "Gateway" and d.get("spec", {}).get("addresses"):
                fail(f"{env}/{name}: Gateway {d['metadata']['name']} asks for addresses "
                     f"{d['spec']['addresses']}; ask for none and point DNS at the one it reports")
    if app:
        spec = by_name[app]["spec"]
        if spec.get("prune") is not True or spec.get("wait") is not True:
            fail(f"{env}/{app}: the app must be pruned and waited on (prune: true, wait: true)")
        for d in renders[app]:
            if d.get("kind") == "Deployment" and d["metadata"]["name"] == "conduit":
                pod = d["spec"]["template"]["spec"]
                for c in pod.get("initContainers", []) + pod.get("containers", []):
                    if not DIGEST.search(c.get("image", "")):
                        fail(f"{env}/{app}: container {c['name']} image {c.get('image')} is not pinned by digest")
    if not failures:
        print(f"{env}: {len(flux)} Flux Kustomizations plain and ordered "
              f"({' -> '.join(n for n in (namespace, database, app) if n)}), data never pruned, "
              f"the app by digest, no Gateway address")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "paths":
        paths(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    sys.exit(len(failures))
