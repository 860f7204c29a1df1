#!/usr/bin/env python3
"""Reads grype's JSON findings for an image, writes them as a GitLab
container scanning report, and applies the pipeline's policy:

    python3 .ci/scan_report.py GRYPE.json REPORT.json IMAGE

The policy: a finding of severity High or Critical for which a fixed
version exists fails the scan (exit 1), and the findings that fail it are
listed. A finding without a fix does not fail it, since there is nothing to
upgrade to; it is still in the report and the job log, and the advisory
runbook in docs/operations.md says how such a finding is judged. Exit 2 for
input that is not grype's JSON.

The report follows GitLab's security report format 15.2.1
(container-scanning-report-format.json): the scan with its scanner and
times, and one entry per finding with its identifiers, the package and
version it was found in, the image, and the fixed versions as the solution.
"""

import datetime
import json
import re
import sys
import uuid

REPORT_VERSION = "15.2.1"
FAILING = {"High", "Critical"}
# GitLab's severities; grype's "Negligible" has no match and counts as Low.
SEVERITIES = {"Unknown", "Low", "Medium", "High", "Critical"}
# A scratch image has no operating system, but the report wants one.
NO_OS = "none (FROM scratch)"


def fail_input(message):
    print(f"scan_report: {message}", file=sys.stderr)
    sys.exit(2)


def gitlab_time(text=None):
    """GitLab's timestamp: UTC, seconds, no zone suffix."""
    moment = datetime.datetime.now(datetime.timezone.utc)
    if text:
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def identifier(vuln_id, urls):
    kind = vuln_id.split("-", 1)[0].lower() if "-" in vuln_id else "grype"
    entry = {"type": kind, "name": vuln_id, "value": vuln_id}
    link = next((u for u in urls if re.match(r"^https?://.+", u)), None)
    if link:
        entry["url"] = link
    return entry


def severity_of(vulnerability):
    severity = str(vulnerability.get("severity") or "Unknown").capitalize()
    if severity == "Negligible":
        return "Low"
    return severity if severity in SEVERITIES else "Unknown"


def finding(match, image, os_name):
    vulnerability, artifact = match["vulnerability"], match["artifact"]
    vuln_id = vulnerability["id"]
    fix = vulnerability.get("fix") or {}
    fixed_in = [v for v in fix.get("versions") or [] if v]
    urls = [u for u in vulnerability.get("urls") or [] if isinstance(u, str)]
    identifiers = [identifier(vuln_id, urls)]
    for related in match.get("relatedVulnerabilities") or []:
        if related.get("id") and related["id"] != vuln_id:
            identifiers.append(identifier(related["id"], related.get("urls") or []))
    package, version = artifact["name"], artifact.get("version") or "unknown"
    entry = {
        # Stable across runs, so GitLab can track one finding over time.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vuln_id}/{package}/{version}")),
        "name": f"{vuln_id} in {package} {version}"[:255],
        "description": (vulnerability.get("description") or vuln_id)[:1_048_576],
        "severity": severity_of(vulnerability),
        "identifiers": identifiers,
        "links": [{"url": u} for u in urls if re.match(r"^https?://.+", u)],
        "location": {
            "dependency": {"package": {"name": package}, "version": version},
            "operating_system": os_name,
            "image": image,
        },
    }
    if fix.get("state") == "fixed" and fixed_in:
        entry["solution"] = f"Upgrade {package} to {' or '.join(fixed_in)}."[:7000]
    return entry, fix.get("state") == "fixed" and bool(fixed_in)


def main(grype_path, report_path, image):
    try:
        with open(grype_path) as f:
            grype = json.load(f)
        matches = grype["matches"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail_input(f"{grype_path} is not grype's JSON output: {error}")
    descriptor = grype.get("descriptor") or {}
    distro = grype.get("distro") or {}
    os_name = " ".join(p for p in (distro.get("name"), distro.get("version")) if p) or NO_OS
    vulnerabilities, failing = [], []
    for match in matches:
        try:
            entry, has_fix = finding(match, image, os_name)
        except (KeyError, TypeError) as error:
            fail_input(f"a match without {error}: {json.dumps(match)[:200]}")
        vulnerabilities.append(entry)
        line = (f"{entry['severity']:<8} {entry['identifiers'][0]['value']:<22} "
                f"{entry['location']['dependency']['package']['name']} "
                f"{entry['location']['dependency']['version']}"
                f"  {entry.get('solution', 'no fixed version')}")
        print(f"    {line}")
        if has_fix and entry["severity"] in FAILING:
            failing.append(line)
    scanner = {"id": "grype", "name": "Grype", "version": str(descriptor.get("version") or "unknown"),
               "vendor": {"name": "Anchore"}, "url": "https://github.com/anchore/grype"}
    report = {
        "version": REPORT_VERSION,
        "scan": {
            "analyzer": dict(scanner),
            "scanner": scanner,
            "type": "container_scanning",
            "start_time": gitlab_time(descriptor.get("timestamp")),
            "end_time": gitlab_time(),
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
    }
    with open(report_path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"scan_report: {len(vulnerabilities)} findings in {image}, "
          f"{len(failing)} High or Critical with a fix; report: {report_path}")
    if failing:
        print("scan_report: FAILED: upgrade these (docs/operations.md, "
              "\"When an advisory names a dependency\"):", file=sys.stderr)
        for line in failing:
            print(f"    {line}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} GRYPE.json REPORT.json IMAGE")
    main(*sys.argv[1:])
