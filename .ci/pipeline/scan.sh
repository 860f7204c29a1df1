#!/bin/sh
# Check "scan" of .ci/check_pipeline.sh: the image scan of the pack stage
# without grype or a registry (neither is reachable here).
#
#   - .ci/image_scan.sh with DRY_RUN=1: the pushed digest is scanned straight
#     from the registry with a fresh database, the registry password never
#     printed; a tag instead of a digest is refused.
#   - .ci/scan_report.py on findings in grype's JSON format (the fields grype
#     writes; written here, since grype cannot run here): a High or Critical
#     finding with a fixed version fails the scan and is named; findings
#     without a fix, or below High, are reported and pass; the report has the
#     fields GitLab's container scanning format 15.2.1 requires.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

need_script .ci/image_scan.sh
need_script .ci/scan_report.py
image=registry.example.com/conduit/conduit@sha256:$(printf '0123456789abcdef%.0s' 1 2 3 4)
password=registry-password-must-not-show

dry scan-digest CI_REGISTRY=registry.example.com CI_REGISTRY_USER=gitlab-ci-token \
    CI_REGISTRY_PASSWORD="$password" sh .ci/image_scan.sh "$image"
expect_ok scan-digest
has "$work/scan-digest.err" "+ grype db update" "scan-digest (a fresh database)"
has "$work/scan-digest.err" "+ grype registry:$image --output table --output json=grype.json" "scan-digest"
has "$work/scan-digest.err" "scan_report.py grype.json gl-container-scanning-report.json $image" "scan-digest"
lacks "$work/scan-digest.err" "$password" "scan-digest (secret)"
lacks "$work/scan-digest.out" "$password" "scan-digest (secret)"
dry scan-tag sh .ci/image_scan.sh registry.example.com/conduit/conduit:1a2b3c4d
expect_fail scan-tag
lacks "$work/scan-tag.err" "+ grype registry:" "scan-tag (a tag can move: refused)"

# Findings as grype writes them: one match per vulnerable package.
findings() {
    python3 - "$@" <<'EOF'
import json, sys

def match(vuln_id, severity, state, versions, package, version, related=()):
    return {
        "vulnerability": {
            "id": vuln_id, "dataSource": f"https://github.com/advisories/{vuln_id}",
            "namespace": "github:language:rust", "severity": severity,
            "urls": [f"https://github.com/advisories/{vuln_id}"],
            "description": f"{vuln_id} in {package}", "cvss": [],
            "fix": {"versions": list(versions), "state": state}, "advisories": [],
        },
        "relatedVulnerabilities": [{"id": r, "urls": [f"https://rustsec.org/advisories/{r}.html"]}
                                   for r in related],
        "matchDetails": [{"type": "exact-direct-match", "matcher": "rust-matcher"}],
        "artifact": {
            "id": f"{package}-{version}", "name": package, "version": version, "type": "rust-crate",
            "locations": [{"path": "/conduit", "layerID": "sha256:" + "ab" * 32}],
            "language": "rust", "purl": f"pkg:cargo/{package}@{version}",
        },
    }

matches = [
    match("GHSA-4grx-2x9w-596c", "Medium", "not-fixed", [], "rsa", "0.9.10", ["RUSTSEC-2023-0071"]),
    match("GHSA-aaaa-bbbb-cccc", "Critical", "not-fixed", [], "example-unfixed", "1.0.0"),
    match("GHSA-dddd-eeee-ffff", "Low", "fixed", ["2.0.1"], "example-low", "2.0.0"),
    match("GHSA-gggg-hhhh-iiii", "Negligible", "unknown", [], "example-negligible", "0.1.0"),
]
if sys.argv[2] == "with-fixable-high":
    matches.append(match("GHSA-jjjj-kkkk-llll", "High", "fixed", ["0.38.1", "0.39.0"], "rusqlite", "0.37.0",
                         ["RUSTSEC-2099-0001"]))
grype = {"matches": matches, "source": {"type": "image", "target": {"userInput": "x"}},
         "distro": {"name": "", "version": "", "idLike": None},
         "descriptor": {"name": "grype", "version": "0.111.0", "timestamp": "2026-12-05T10:20:30.123456789Z"}}
with open(sys.argv[1], "w") as f:
    json.dump(grype, f)
EOF
}

# check_report FILE COUNT: the fields GitLab's format requires, and COUNT
# findings.
check_report() {
    python3 - "$1" "$2" "$image" <<'EOF'
import json, re, sys
report = json.load(open(sys.argv[1]))
def need(cond, what):
    if not cond:
        sys.exit(f"    FAIL: report {sys.argv[1]}: {what}")
need(re.match(r"^\d+\.\d+\.\d+$", report.get("version", "")), "version")
scan = report.get("scan", {})
for key in ("analyzer", "scanner"):
    need(all(scan.get(key, {}).get(k) for k in ("id", "name", "version")) and scan[key].get("vendor", {}).get("name"),
         f"scan.{key} needs id, name, version, vendor.name")
need(scan.get("type") == "container_scanning" and scan.get("status") in ("success", "failure"), "scan type/status")
for key in ("start_time", "end_time"):
    need(re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", scan.get(key, "")), f"scan.{key} {scan.get(key)}")
vulns = report.get("vulnerabilities")
need(isinstance(vulns, list) and len(vulns) == int(sys.argv[2]), f"{sys.argv[2]} vulnerabilities")
for v in vulns:
    need(v.get("id") and v.get("identifiers"), "id and identifiers")
    need(all(i.get("type") and i.get("name") and i.get("value") for i in v["identifiers"]), "identifier fields")
    need(v.get("severity") in ("Info", "Unknown", "Low", "Medium", "High", "Critical"), f"severity {v.get('severity')}")
    loc = v.get("location", {})
    need(loc.get("dependency", {}).get("package", {}).get("name") and loc["dependency"].get("version"),
         "location.dependency")
    need(loc.get("operating_system") and loc.get("image") == sys.argv[3], "location.operating_system and image")
ids = [v["id"] for v in vulns]
need(len(set(ids)) == len(ids), "finding ids are unique")
EOF
}

# report NAME EXPECTED_STATUS: scan_report.py on $work/grype-NAME.json, which
# must exit EXPECTED_STATUS; its output in $work/report-NAME.out.
report() {
    set +e
    python3 .ci/scan_report.py "$work/grype-$1.json" "$work/report-$1.json" "$image" \
        >"$work/report-$1.out" 2>&1
    r_status=$?
    set -e
    [ "$r_status" -eq "$2" ] || {
        sed 's/^/    | /' "$work/report-$1.out" >&2
        fail "scan_report ($1): exited $r_status, expected $2"
    }
}

# No fixable High: passes, and still lists the unfixed Critical.
findings "$work/grype-pass.json" without
report pass 0
check_report "$work/report-pass.json" 4
has "$work/report-pass.out" "Critical GHSA-aaaa-bbbb-cccc" "scan_report (unfixed findings are listed)"

# A fixable High: fails, naming only that finding and its fix.
findings "$work/grype-fail.json" with-fixable-high
report fail 1
check_report "$work/report-fail.json" 5
has "$work/report-fail.out" "FAILED" "scan_report (fixable High)"
has "$work/report-fail.out" "Upgrade rusqlite to 0.38.1 or 0.39.0." "scan_report (names the fix)"
failing=$(sed -n '/FAILED/,$p' "$work/report-fail.out" | grep -c "GHSA-" || true)
[ "$failing" -eq 1 ] || fail "scan_report: $failing findings listed as failing, expected only the fixable High"

# Not grype's JSON: exit 2, not a pass.
echo "not json" >"$work/grype-bad.json"
report bad 2
note "image_scan.sh scans the digest with a fresh database (a tag refused, the password hidden);" \
    "scan_report.py fails on a fixable High only, passes unfixed Critical and fixable Low, reports 15.2.1"
