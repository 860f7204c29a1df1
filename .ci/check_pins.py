#!/usr/bin/env python3
"""Every pinned version is exact, and docs/operations.md lists each one.

    python3 .ci/check_pins.py        (from .ci/check_pipeline.sh)

The pins live where they are used: the job images and tool versions in the
variables of .gitlab-ci.yml, the cluster and add-on versions as defaults in
.ci/kops_cluster.sh, gitlab-ci-local's in .ci/pipeline/tools.sh, the
database images in the manifests, and the commits of the third-party
manifests kustomize fetches (k8s/addons, k8s/flux-system), which must be
commits, not branches or tags. This check collects them, refuses a
floating one (`latest`, `slim`, `stable`, a bare major or minor such as `0.9`
or `v1.41`), and compares them with the table under "Pinned versions" in
docs/operations.md, so that the table, which says where each was checked,
cannot drift from what runs.
"""

import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXACT = re.compile(r"^v?\d+\.\d+\.\d+([-.+][0-9A-Za-z.-]+)?$")


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def pins():
    found = {}
    variables = yaml.safe_load(read(".gitlab-ci.yml"))["variables"]
    for name, value in variables.items():
        value = value.get("value") if isinstance(value, dict) else value
        if name.endswith(("_IMAGE", "_VERSION")):
            found[name] = str(value)
    for match in re.finditer(r"^([A-Z0-9_]*(?:VERSION|IMAGE|COMMIT|SHA256))=\$\{\1:-([^}]+)\}$",
                             read(".ci/kops_cluster.sh"), re.M):
        found[match.group(1)] = match.group(2)
    # Third-party manifests that kustomize fetches: pinned by a commit.
    for folder, _, files in os.walk(os.path.join(ROOT, "k8s")):
        if "kustomization.yaml" not in files:
            continue
        path = os.path.relpath(folder, ROOT)
        for match in re.finditer(r"^\s*- (https?://\S+)$", read(os.path.join(path, "kustomization.yaml")), re.M):
            url = match.group(1)
            ref = re.search(r"\?ref=([^&]+)$", url)
            found[f"{path} {url.split('?')[0].split('://', 1)[1].replace('//', '/')}"] = f"commit {ref.group(1) if ref else url}"
    found["GCL_VERSION"] = re.search(r"^GCL_VERSION=(\S+)$", read(".ci/pipeline/tools.sh"), re.M).group(1)
    for path in ("k8s/overlays/prod/database/database.yaml", "k8s/overlays/dev/database/postgres.yaml",
                 "k8s/addons/tracing/collector.yaml", "k8s/addons/tracing/tempo.yaml"):
        for match in re.finditer(r"^\s*(?:image|imageName): (\S+)$", read(path), re.M):
            found[f"{path}"] = match.group(1)
    return found


def version_of(value):
    """The version part of a pin: an image's tag, or the value itself."""
    if "/" in value or ":" in value:
        if "@sha256:" in value:
            return None  # a digest is as exact as it gets
        tag = value.rsplit(":", 1)[1] if ":" in value.rsplit("/", 1)[-1] else ""
        return tag
    return value


def exact(name, value):
    if value.startswith("commit ") or name.endswith("_COMMIT"):
        return re.match(r"^(commit )?[0-9a-f]{40}$", value) is not None
    if name.endswith("_SHA256"):
        return re.match(r"^[0-9a-f]{64}$", value) is not None
    if name == "NODE_IMAGE":
        return re.search(r"-v\d{8}$", value) is not None  # a dated machine image
    if name.startswith("k8s/") and "/database/" in name:
        # PostgreSQL numbers its releases MAJOR.MINOR: 17.6 is exact.
        return re.match(r"^\d+\.\d+(-|$)", version_of(value) or "") is not None
    tag = version_of(value)
    if tag is None:
        return True
    head = re.match(r"^v?\d+(\.\d+)*", tag)
    if not head or tag in ("latest", "slim", "stable"):
        return False
    return EXACT.match(head.group(0)) is not None


def documented():
    text = read("docs/operations.md")
    start = text.index("## Pinned versions")
    rows = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[1].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1].strip("`"), cells[2])
    return rows


INSTALL = re.compile(r"(cargo install|pip install|pip_install|missing=\"\$missing)\s(.*)$")


def scripts():
    """The shell scripts under .ci/, as paths from the root; folders whose
    names start with a dot hold installed tools, not ours."""
    found = []
    for folder, subfolders, files in os.walk(os.path.join(ROOT, ".ci")):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [os.path.relpath(os.path.join(folder, n), ROOT) for n in files if n.endswith(".sh")]
    return sorted(found)


def installs():
    """Packages installed by name in the pipeline and the checks: each must
    name its exact version (crate@X.Y.Z, package==X.Y.Z)."""
    problems = []
    paths = [".gitlab-ci.yml", ".ci/run"] + scripts()
    for path in paths:
        for number, line in enumerate(read(path).splitlines(), 1):
            match = INSTALL.search(line)
            if not match or line.lstrip().startswith("#"):
                continue
            for word in match.group(2).replace('"', " ").replace("'", " ").split():
                if word.startswith((">", "|", "&", ";", "2>")) or word in ("then", "fail", "||", "&&"):
                    break  # the end of the command
                if word.startswith(("-", "$")):
                    continue
                if not re.match(r"^[A-Za-z0-9_.-]+(@|==)v?\d+(\.\d+)+$", word) and not word.endswith(("_VERSION", "_VERSION}")):
                    problems.append(f"{path}:{number}: '{word}' is installed without an exact version")
    return problems


def main():
    problems = installs()
    found, table = pins(), documented()
    for name, value in sorted(found.items()):
        if not exact(name, value):
            problems.append(f"{name} = {value}: not an exact version")
        row = table.get(name)
        if row is None:
            problems.append(f"{name} = {value}: missing from docs/operations.md, Pinned versions")
        elif row[0] != value:
            problems.append(f"{name}: docs/operations.md says {row[0]}, the pipeline uses {value}")
        elif not row[1]:
            problems.append(f"{name}: docs/operations.md does not say where it was checked")
    for name in sorted(set(table) - set(found)):
        problems.append(f"{name}: in docs/operations.md but pinned nowhere")
    for problem in problems:
        print(f"    FAIL: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"    {len(found)} pins, all exact and all in docs/operations.md")


if __name__ == "__main__":
    main()
