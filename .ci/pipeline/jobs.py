#!/usr/bin/env python3
"""Job lists of gitlab-ci-local, for .ci/pipeline/jobs.sh:

    python3 .ci/pipeline/jobs.py list LIST.json
        the jobs of a `gitlab-ci-local --list-json` output that run, as
        "name when allow_failure" lines
    python3 .ci/pipeline/jobs.py probe RAW.json OUT.yml
        writes a one-job pipeline whose rules are the workflow:rules of
        .gitlab-ci.yml (RAW, as JSON): gitlab-ci-local applies workflow
        rules only to variables, so they are evaluated as a job's rules
"""

import json
import re
import sys


def fail(message):
    print("    FAIL: " + message, file=sys.stderr)
    sys.exit(1)


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
    with open(raw_path) as f:
        rules = json.load(f).get("workflow", {}).get("rules")
    if not rules:
        fail("no workflow:rules")
    # A job's rules and workflow rules mean the same: the first match decides,
    # and no match means no job (no pipeline).
    probe_rules = [{**r, "when": "never"} if r.get("when") == "never"
                   else {k: v for k, v in r.items() if k not in ("when", "variables", "auto_cancel")}
                   for r in rules]
    with open(out_path, "w") as f:
        json.dump({"workflow-probe": {"script": ["true"], "rules": probe_rules}}, f, indent=1)


COMMANDS = {"list": jobs, "probe": probe}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} FILE...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
