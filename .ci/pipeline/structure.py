#!/usr/bin/env python3
"""The structure of .gitlab-ci.yml, for .ci/pipeline/structure.sh:

    python3 .ci/pipeline/structure.py RAW.json PREVIEW.json

RAW is the file as written, PREVIEW as gitlab-ci-local expands it (extends
and anchors resolved), both as JSON. Checks rules on every job and no
only/except, environments and resource groups on the jobs that change an
environment, the production gate, the reports, never `latest`, no privileged
runner, deploys that only propose (no job but the cluster jobs holds a cloud
or cluster credential) with timeouts that always leave time to revert;
prints its lines, or FAIL and exits 1.
"""

import json
import re
import sys

TAG_RULE = r"$CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/"
DEFAULT_BRANCH_RULE = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
SCHEDULE_RULE = '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
NOT_SCHEDULED = '$CI_PIPELINE_SOURCE != "schedule"'
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
    expected = [SCHEDULE_RULE, '$CI_PIPELINE_SOURCE == "merge_request_event"', DEFAULT_BRANCH_RULE, TAG_RULE]
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
            if any(NOT_SCHEDULED not in c and '$CI_PIPELINE_SOURCE == "push"' not in c for c in conditions):
                fail(f"{name}: a dev job that the scheduled pipeline would run: {conditions}")
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
              "sbom": "cyclonedx", "pack": "dotenv", "promote": "dotenv",
              "scan": "container_scanning"}
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
    supply_chain(jobs)
    # Releases promote, never build: no job of a tag pipeline builds or packs.
    for name in ("build", "pack"):
        if any(TAG_RULE in r.get("if", "") for r in jobs[name]["rules"]):
            fail(f"{name}: runs on release tags; a release promotes the tested image instead")
    needs = {n.get("job") for n in jobs["deploy:prod"].get("needs", [])}
    if "promote" not in needs or "pack" in needs:
        fail(f"deploy:prod: must come after promote (the image dev ran), needs {sorted(needs)}")
    # The smoke test runs inside each deploy job, so a failure reverts.
    for name, job in jobs.items():
        if name.startswith("smoke"):
            fail(f"{name}: the smoke test belongs inside the deploy job (environments.sh), to revert on failure")
    pull_deploys(jobs)
    variables_scoped()
    print(f"    {len(jobs)} jobs; rules, environments, resource groups, gate, reports, pull deploys as expected")


def variables_scoped(path="docs/pipeline.md"):
    """Every variable of the table in docs/pipeline.md, "Variables", is
    scoped to an environment and protected, but for the few that jobs
    without an environment read (`*`) and the run forms' own."""
    with open(path) as f:
        text = f.read()
    table = text[text.index("## Variables"):]
    table = table[:table.index("\n#", 1)]
    rows = 0
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        rows += 1
        name, scope, protected = cells[0], cells[2], cells[4]
        if scope in ("pipeline form", "job form"):
            continue
        if scope.startswith("`*`"):
            if "no environment" not in scope or protected != "yes":
                fail(f"docs/pipeline.md: {name} is scoped to all environments: scope it, or say which job without "
                     "an environment reads it (and protect it)")
            continue
        if scope not in ("dev", "prod", "dev, prod"):
            fail(f"docs/pipeline.md: {name} has scope '{scope}', expected dev, prod, or dev, prod")
        if protected != "yes":
            fail(f"docs/pipeline.md: {name} is not protected: a merge-request job could read it")
    if rows < 20:
        fail(f"docs/pipeline.md: only {rows} rows in the Variables table")
    print(f"    variables: {rows} rows, each scoped to its environment and protected")


def minutes(value):
    """A GitLab duration (45m, 1h30m, 1h) or a count of seconds, in minutes."""
    value = str(value)
    if value.isdigit():
        return int(value) / 60
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([hms])", value):
        total += int(number) * {"h": 60, "m": 1, "s": 1 / 60}[unit]
    return total


def flux_timeouts(env):
    """The sum of the timeouts of the Flux Kustomizations that apply ENV,
    the root one included (k8s/flux-system/sync.yaml)."""
    total = 0
    for path in (f"k8s/clusters/{env}/sync.yaml", "k8s/flux-system/sync.yaml"):
        with open(path) as f:
            total += sum(minutes(t) for t in re.findall(r"^  timeout: (\S+)$", f.read(), re.M))
    return total


def pull_deploys(jobs):
    """Build and deploy are apart: the deploy jobs push a commit and read
    Flux's report; no job but the cluster jobs holds a cloud or cluster
    credential; timeouts nest so that a failed deploy is always reverted."""
    for name, job in jobs.items():
        script = "\n".join(job.get("before_script", []) + job.get("script", []) + job.get("after_script", []))
        if "k8s_deploy.sh" in script or re.search(r"kubectl (apply|create|patch|delete|replace|rollout)", script):
            fail(f"{name}: changes a cluster from CI; deploys are commits that Flux pulls")
        if not name.startswith("cluster:") and ("kops_cluster.sh" in script or "gcp_auth.sh" in script
                                                or job.get("id_tokens")):
            fail(f"{name}: only the cluster jobs hold cloud credentials")
    for path in (".ci/environments.sh", ".ci/render_environment.sh"):
        with open(path) as f:
            if re.search(r"kubectl (-n \S+ )?(apply|create|patch|delete|replace|rollout|scale|annotate|edit)", f.read()):
                fail(f"{path}: changes a cluster; the deploy side only proposes and reads")
    for env in ("dev", "prod"):
        name = f"deploy:{env}"
        job = jobs[name]
        needs = {n.get("job") for n in job.get("needs", [])}
        for gate in ("scan", "cargo-deny", "manifests"):
            if gate not in needs:
                fail(f"{name}: does not wait for {gate}: a new advisory or a failed check must stop a deploy")
        if job.get("script") != [f"sh .ci/environments.sh deploy {env}"]:
            fail(f"{name}: script must be `sh .ci/environments.sh deploy {env}`, is {job.get('script')}")
        if job.get("after_script") != [f"sh .ci/environments.sh settle {env}"]:
            fail(f"{name}: after_script must revert an unfinished proposal (environments.sh settle {env})")
        v = job.get("variables", {})
        flux, revert = minutes(v.get("FLUX_TIMEOUT", 0)), minutes(v.get("REVERT_WAIT", 0))
        script_t, after_t = minutes(v.get("RUNNER_SCRIPT_TIMEOUT", 0)), minutes(v.get("RUNNER_AFTER_SCRIPT_TIMEOUT", 0))
        job_t = minutes(job.get("timeout", "1h"))
        if flux < flux_timeouts(env):
            fail(f"{name}: FLUX_TIMEOUT {flux:g}m is shorter than Flux's own timeouts ({flux_timeouts(env):g}m)")
        # Proposing, the smoke test and recording take minutes; 10 for them.
        if script_t < flux + revert + 10:
            fail(f"{name}: RUNNER_SCRIPT_TIMEOUT {script_t:g}m < FLUX_TIMEOUT {flux:g}m + REVERT_WAIT {revert:g}m + 10m")
        if after_t < revert + 2:
            fail(f"{name}: RUNNER_AFTER_SCRIPT_TIMEOUT {after_t:g}m leaves the revert no time (REVERT_WAIT {revert:g}m)")
        # Pulling the image, cloning and restoring the cache come out of the
        # job's timeout too: 5 minutes for them.
        if job_t < script_t + after_t + 5:
            fail(f"{name}: timeout {job_t:g}m < script {script_t:g}m + after_script {after_t:g}m + 5m to start: "
                 "a job killed by its timeout skips the revert")
    print("    deploys: commits only, gated on scan, cargo-deny and manifests; timeouts nest "
          f"(dev {flux_timeouts('dev'):g}m of Flux, prod {flux_timeouts('prod'):g}m)")


def supply_chain(jobs):
    """The advisory check, the auditable build and the image scan."""
    deny = jobs.get("cargo-deny") or fail("no job cargo-deny (the advisory check)")
    if deny.get("stage") != "test":
        fail(f"cargo-deny: in stage {deny.get('stage')}, expected test")
    script = "\n".join(deny.get("script", []))
    if "cargo-deny@$CARGO_DENY_VERSION" not in script or "sh .ci/advisories.sh" not in script:
        fail("cargo-deny: must install the pinned cargo-deny and run .ci/advisories.sh (the full check)")
    if deny.get("allow_failure"):
        fail("cargo-deny: a new advisory must fail the pipeline (allow_failure)")
    if SCHEDULE_RULE not in [r.get("if") for r in deny["rules"]]:
        fail("cargo-deny: does not run in the scheduled pipeline")
    for name, job in jobs.items():
        if name != "cargo-deny" and any("schedule" in r.get("if", "") and NOT_SCHEDULED not in r.get("if", "")
                                        for r in job["rules"]):
            fail(f"{name}: only cargo-deny runs in the scheduled pipeline")
    build = "\n".join(jobs["build"].get("script", []))
    if "cargo auditable build --release" not in build or "cargo-auditable@$CARGO_AUDITABLE_VERSION" not in build:
        fail("build: the release binary must be built with the pinned cargo-auditable")
    scan = jobs.get("scan") or fail("no job scan (the image scan)")
    if scan.get("stage") != "pack" or not {"pack", "promote"} <= {n.get("job") for n in scan.get("needs", [])}:
        fail("scan: must be in the pack stage and take the image from pack (main) or promote (tags)")
    if "sh .ci/install_tools.sh grype" not in "\n".join(scan.get("before_script", [])):
        fail("scan: grype must come from .ci/install_tools.sh (pinned version and digest)")
    if 'sh .ci/image_scan.sh "$IMAGE_REPO@$IMAGE_DIGEST"' not in scan.get("script", []):
        fail("scan: must scan the pushed digest with .ci/image_scan.sh")
    if scan.get("artifacts", {}).get("when") != "always":
        fail("scan: the report must be kept when the scan fails (artifacts:when: always)")
    if scan.get("allow_failure"):
        fail("scan: a fixable High or Critical finding must fail the pipeline (allow_failure)")
    if not any(TAG_RULE in r.get("if", "") for r in scan["rules"]):
        fail("scan: a release's image must be scanned again before prod")


if __name__ == "__main__":
    structure(*sys.argv[1:])
