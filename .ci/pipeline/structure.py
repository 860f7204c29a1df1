#!/usr/bin/env python3
"""The structure of .gitlab-ci.yml, for .ci/pipeline/structure.sh:

    python3 .ci/pipeline/structure.py RAW.json PREVIEW.json

RAW is the file as written, PREVIEW as gitlab-ci-local expands it (extends
and anchors resolved), both as JSON. Checks rules on every job and no
only/except, environments and resource groups on the jobs that change an
environment, the production gate, the reports, never `latest`, no privileged
runner; prints one line, or FAIL and exits 1.
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
        fail(f"deploy:prod: must take its digest from promote, needs {sorted(needs)}")
    # The smoke test runs inside each deploy job, so a failure rolls back.
    for name, job in jobs.items():
        if name.startswith("smoke"):
            fail(f"{name}: the smoke test belongs inside the deploy job (k8s_deploy.sh), to roll back on failure")
    print(f"    {len(jobs)} jobs; rules, environments, resource groups, gate and reports as expected")


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
    if scan.get("stage") != "pack" or "pack" not in [n.get("job") for n in scan.get("needs", [])]:
        fail("scan: must be in the pack stage and take the image from pack")
    if "sh .ci/install_tools.sh grype" not in "\n".join(scan.get("before_script", [])):
        fail("scan: grype must come from .ci/install_tools.sh (pinned version and digest)")
    if 'sh .ci/image_scan.sh "$IMAGE_REPO@$IMAGE_DIGEST"' not in scan.get("script", []):
        fail("scan: must scan the pushed digest with .ci/image_scan.sh")
    if scan.get("artifacts", {}).get("when") != "always":
        fail("scan: the report must be kept when the scan fails (artifacts:when: always)")
    if scan.get("allow_failure"):
        fail("scan: a fixable High or Critical finding must fail the pipeline (allow_failure)")
    if "scan" not in [n.get("job") for n in jobs["deploy:dev"].get("needs", [])]:
        fail("deploy:dev: does not wait for the image scan")


if __name__ == "__main__":
    structure(*sys.argv[1:])
