#!/usr/bin/env python3
"""The parts of .ci/check_k8s.sh that read YAML (needs PyYAML):

    python3 .ci/check_k8s.py restore PROD.yaml PROD_RESTORE.yaml
        the restore components (k8s/components/restore/{database,app}) on
        top of prod: a second database cluster bootstrapped by recovery,
        the app switched to it, each cluster backed up daily and
        scraped, the original left exactly as it was
    python3 .ci/check_k8s.py monitoring k8s/addons/kube-prometheus-stack.yaml
        the chart's values fit the kops specs (no kube-proxy) and take
        Alertmanager's configuration from the Secret
    python3 .ci/check_k8s.py rules PROD.yaml RULES.yaml
        writes the groups of the rendered PrometheusRules as a rule file
        for promtool

A failed check is an AssertionError: its message and a non-zero exit.
"""

import sys

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def restore(before_path, after_path):
    before, after = load(before_path), load(after_path)
    clusters = {d["metadata"]["name"]: d for d in after if d["kind"] == "Cluster"}
    assert set(clusters) == {"conduit-db", "conduit-db-r1"}, sorted(clusters)
    original = next(d for d in before if d["kind"] == "Cluster")
    assert clusters["conduit-db"] == original, "the restore must leave conduit-db exactly as it was"
    # CloudNativePG refuses a Cluster with two bootstrap methods.
    for name, cluster in clusters.items():
        methods = list(cluster["spec"]["bootstrap"])
        assert len(methods) == 1, f"{name}: bootstrap methods {methods}"
    restored = clusters["conduit-db-r1"]["spec"]

    # database-r1.yaml copies database.yaml's Cluster: apart from how it
    # starts and where it archives, the two must not drift apart.
    def comparable(spec):
        spec = {k: v for k, v in spec.items() if k not in ("bootstrap", "externalClusters", "description")}
        spec["plugins"] = [{**p, "parameters": {k: v for k, v in p.get("parameters", {}).items() if k != "serverName"}}
                           for p in spec.get("plugins", [])]
        return spec

    assert comparable(restored) == comparable(original["spec"]), \
        "k8s/components/restore/database/database-r1.yaml drifted from k8s/overlays/prod/database/database.yaml"
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
    # Each cluster has its daily base backup; the PodMonitor scrapes both
    # clusters' instances (the labels both give their pods).
    backups = sorted(d["spec"]["cluster"]["name"] for d in after if d["kind"] == "ScheduledBackup")
    assert backups == sorted(clusters), f"ScheduledBackups name {backups}, the clusters are {sorted(clusters)}"
    monitor = next(d for d in after if d["kind"] == "PodMonitor")["spec"]["selector"]["matchLabels"]
    for name, cluster in clusters.items():
        labels = {**cluster["spec"]["inheritedMetadata"]["labels"], "cnpg.io/cluster": name, "cnpg.io/podRole": "instance"}
        assert all(labels.get(k) == v for k, v in monitor.items()), f"the PodMonitor {monitor} misses {name}"
    print("restore: conduit-db-r1 by recovery from conduit-db's archive, archiving as conduit-db-r1; "
          "conduit-db unchanged; the app on conduit-db-r1-app and conduit-db-r1-ca")


def monitoring(values_path):
    with open(values_path) as f:
        v = yaml.safe_load(f)
    assert v["kubeProxy"]["enabled"] is False, "kubeProxy.enabled must be false (kube-proxy is disabled in the kops specs)"
    assert v["defaultRules"]["rules"]["kubeProxy"] is False, "defaultRules.rules.kubeProxy must be false"
    spec = v["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == "alertmanager-conduit", spec
    assert "alertmanager-conduit" in spec["secrets"], "the Secret must be mounted for url_file"
    print("kube-prometheus-stack: no kube-proxy scrape or rules; Alertmanager configured from Secret alertmanager-conduit")


def rules(rendered_path, out_path):
    docs = [d for d in load(rendered_path) if d["kind"] == "PrometheusRule"]
    with open(out_path, "w") as f:
        yaml.safe_dump({"groups": [g for d in docs for g in d["spec"]["groups"]]}, f)


COMMANDS = {"restore": restore, "monitoring": monitoring, "rules": rules}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} FILE...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
