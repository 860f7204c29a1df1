#!/usr/bin/env python3
"""Job rehearsal: each job of .gitlab-ci.yml run in a root file system that
stands in for its image, the way a GitLab runner would run it.

    python3 .ci/rehearse_jobs.py            (from .ci/run, as root)
    python3 .ci/rehearse_jobs.py deploy:dev manifests

For every job it builds (once, under target/rehearsal/) a Debian root with
`debootstrap --variant=minbase` of the image's release plus what the image
itself carries (STAND_INS below says what, and what differs), copies the
project into it as a fresh checkout, installs nothing else, and runs the
job's `before_script` and `script` there with `chroot`, under the job's
variables. Jobs that would need cloud credentials run with DRY_RUN=1 and
example values (CASES below). A command a job needs that its image does not
have fails the rehearsal, as it would fail the job.

What the network here cannot reach is stood in for, and said so:
  - downloads from dl.k8s.io, GitHub and get.helm.sh / get.nexte.st: the
    tools cache (.ci/install_tools.sh, TOOLS_CACHE) is seeded the way a
    GitLab cache would be, with this machine's kubectl and cargo-nextest,
    and with stand-ins for kops, helm and grype that answer `version` and
    refuse everything else (the jobs that would run them are dry runs);
  - the machine's egress certificate authority is added to each root, and
    pip is pointed at it.

Jobs whose image cannot be stood in for are listed in NOT_REHEARSED with
the reason; a job in neither list fails the rehearsal, so a new job is
rehearsed or explained.

Test lines are checked, not run; but the tests a line selects must be ones
its job can run: the rehearsal lists them with this machine's
cargo-nextest (same filters) and fails a job that selects tests needing
something (TEST_NEEDS: Chromium, PostgreSQL) that the job does not set up
before that line. A self-test shows it catches the coverage job without its
filter.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORK = os.path.join(ROOT, "target", "rehearsal")
PROJECT_DIR = "/builds/conduit/conduit"
KEYWORDS = {"default", "include", "stages", "variables", "workflow", "spec"}

# Debian packages of each stand-in, over a minbase bookworm root.
BUILDPACK_DEPS = [  # what rust:*-bookworm inherits from buildpack-deps:bookworm (a subset)
    "ca-certificates", "curl", "wget", "gnupg", "dirmngr", "git", "openssh-client",
    "procps", "file", "gcc", "g++", "make", "libc6-dev", "pkg-config", "libssl-dev",
    "xz-utils", "bzip2", "unzip",
]

STAND_INS = {
    # image prefix: (root name, packages, what differs from the real image)
    "rust:1.95": ("rust-bookworm", BUILDPACK_DEPS,
                  "Debian bookworm with buildpack-deps' packages (a subset); the Rust "
                  "toolchain is this machine's rustup home, mounted read-only"),
    "python:3.13": ("python-bookworm", ["python3", "python3-pip", "python3-venv"],
                    "Debian bookworm's Python 3.11 (pip installs allowed, as in the "
                    "python image) instead of 3.13 built from source"),
    "gcr.io/google.com/cloudsdktool/google-cloud-cli": (
        "cloud-cli-bookworm",
        ["ca-certificates", "curl", "git", "gnupg", "openssh-client", "lsb-release", "python3"],
        "Debian bookworm with the slim image's packages; the Google Cloud CLI is this "
        "machine's /usr/lib/google-cloud-sdk, mounted read-only"),
}

NOT_REHEARSED = {
    # image prefix: why
    "quay.io/buildah/stable": "a Fedora image: no Fedora root can be built here. The pack "
                              "job's commands run on this machine instead (.ci/check_image.sh "
                              "builds the same image with Debian's buildah; "
                              ".ci/check_pipeline.sh dry-runs .ci/docker_pack.sh)",
}

# Lines of the Rust jobs that are checked, not run: each needs its command to
# exist at that point of the job, but compiling the project again, or
# rustup's downloads (static.rust-lang.org is out of reach), would add
# nothing that .ci/run's own steps with the same toolchain do not show.
CHECK_ONLY = [
    (re.compile(r"^\s*cargo (build|auditable build|nextest run|clippy|llvm-cov|cyclonedx|install)\b"),
     "compiles the project or a tool; .ci/run builds and tests the same code"),
    (re.compile(r"advisories\.sh"),
     "fetches the RustSec database from GitHub, out of reach; .ci/run runs the same script's "
     "offline checks (licences, bans, sources)"),
    (re.compile(r"^\s*rustup\b"), "rustup downloads from static.rust-lang.org"),
    (re.compile(r"ensure_postgres\.sh"),
     "starts PostgreSQL on port 5432, which this machine's own server holds"),
    (re.compile(r"install_browser\.sh"),
     "installs Chromium for the browser tests, which only the nextest line above "
     "uses; .ci/run installs the same packages with the same script"),
    (re.compile(r"^\s*(jq|awk|rate=|echo \"code quality|file |ls -l|readelf |\"\$MUSL_BINARY\")"),
     "reads what a compiling line above would have written"),
]

# What some tests need from their job, by test name (the second field of
# `cargo nextest list --message-format oneline`), and the line of the job
# that provides it.
TEST_NEEDS = [
    (re.compile(r"^web::flows::"), ".ci/install_browser.sh", "Chromium and chromedriver (the browser tests)"),
    (re.compile(r"::postgres(_store)?::|^pg_only::"), ".ci/ensure_postgres.sh", "a PostgreSQL server"),
]
NEXTEST_LINE = re.compile(r"\bcargo (llvm-cov )?nextest run\b|\bcargo llvm-cov nextest\b")


def selected_tests(line):
    """The tests a job's nextest line runs, listed here with the same
    filters (cargo-nextest's own selection, not a guess)."""
    words = shlex.split(line)
    keep = ["--locked"]
    valued = {"--run-ignored", "-E", "--filterset", "--filter-expr", "--partition"}
    for i, word in enumerate(words):
        if word in valued and i + 1 < len(words):
            keep += [word, words[i + 1]]
        elif word.split("=", 1)[0] in valued and "=" in word:
            keep.append(word)
    listed = subprocess.run(["cargo", "nextest", "list", "--message-format", "oneline", *keep], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        fail(f"cargo nextest list {' '.join(keep)}:\n{listed.stderr[-2000:]}")
    return [ln.split(" ", 1)[1] for ln in listed.stdout.splitlines() if " " in ln]


def test_needs(name, job):
    """Problems with what NAME's test lines select (see TEST_NEEDS)."""
    problems, before = [], []
    for line in lines_of(job.get("before_script")) + lines_of(job.get("script")):
        if NEXTEST_LINE.search(line):
            tests = selected_tests(line)
            for pattern, setup, what in TEST_NEEDS:
                needing = [t for t in tests if pattern.search(t)]
                if needing and not any(setup in earlier for earlier in before):
                    problems.append(f"{name}: `{line.strip()}` runs {len(needing)} tests that need {what} "
                                    f"(e.g. {needing[0]}), but the job never runs {setup} before it")
        before.append(line)
    return problems


def check_test_needs(jobs):
    """Every job's test lines against TEST_NEEDS, then the self-test."""
    checked = 0
    for name, job in jobs.items():
        problems = test_needs(name, job)
        if problems:
            fail("; ".join(problems))
        checked += any(NEXTEST_LINE.search(line) for line in lines_of(job.get("script")))
    coverage = jobs.get("coverage")
    if coverage:
        unfiltered = dict(coverage, script=[re.sub(r" -E '[^']*'", "", line) for line in lines_of(coverage["script"])])
        if unfiltered["script"] == coverage["script"] or not test_needs("coverage", unfiltered):
            fail("self-test: the coverage job without its filter must be caught running the browser tests")
    log(f"tests each job selects: {checked} jobs run only what their image can (and coverage without "
        "its filter is caught)")


# Example values for the variables a real pipeline gets from project
# settings and from earlier jobs' dotenv reports. Nothing here is secret.
DIGEST = "sha256:" + "0123456789abcdef" * 4
COMMON = {
    "CI": "true", "GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com",
    "CI_PROJECT_DIR": PROJECT_DIR, "CI_PROJECT_URL": "https://gitlab.com/conduit/conduit",
    "CI_PROJECT_PATH": "conduit/conduit", "CI_DEFAULT_BRANCH": "main",
    "CI_REGISTRY": "registry.gitlab.com", "CI_REGISTRY_IMAGE": "registry.gitlab.com/conduit/conduit",
    "CI_JOB_ID": "1000", "DRY_RUN": "1", "CI_JOB_STATUS": "success",
    "IMAGE_REPO": "registry.gitlab.com/conduit/conduit", "IMAGE_DIGEST": DIGEST,
}
CASES = {
    "dev": {
        "CI_COMMIT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main", "CI_PIPELINE_SOURCE": "push",
        "K8S_CLUSTER_NAME": "conduit-dev.example.com", "KOPS_STATE_STORE": "gs://example-dev-kops-state",
        "GCP_PROJECT": "example-dev", "ADMIN_CIDR": "203.0.113.0/24",
        "APP_URL": "http://198.51.100.10", "KOPS_DELETE_CONFIRM": "conduit-dev.example.com",
    },
    "prod": {
        "CI_PIPELINE_SOURCE": "push",
        "K8S_CLUSTER_NAME": "conduit-prod.example.com", "KOPS_STATE_STORE": "gs://example-prod-kops-state",
        "GCP_PROJECT": "example-prod", "ADMIN_CIDR": "203.0.113.0/24",
        "APP_URL": "https://conduit.example.com", "PUBLIC_HOSTNAME": "conduit.example.com",
        "ACME_EMAIL": "ops@example.com", "DNS01_PROJECT": "example-dns",
        "KOPS_DELETE_CONFIRM": "conduit-prod.example.com",
    },
}

# What this machine puts where a download host is out of reach.
STAND_IN_SCRIPT = """#!/bin/sh
# Rehearsal stand-in for {name} {version}: the real binary is downloaded from
# a host this machine cannot reach. It answers `version`; anything else fails.
case "$1" in
    version) echo "{name} {version} (rehearsal stand-in)"; exit 0 ;;
esac
echo "{name} stand-in: '$*' cannot run in the rehearsal (no real {name} here)" >&2
exit 1
"""


def log(message):
    print(f"rehearse: {message}", flush=True)


def fail(message):
    print(f"rehearse: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


# --- the configuration ------------------------------------------------------

def merge(base, over):
    """GitLab's `extends`: hashes merge deeply, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def expanded_jobs(config):
    def resolve(name, seen=()):
        job = config[name]
        parents = job.get("extends", [])
        parents = [parents] if isinstance(parents, str) else parents
        result = {}
        for parent in parents:
            if parent in seen:
                fail(f"extends loop at {parent}")
            result = merge(result, resolve(parent, seen + (name,)))
        return merge(result, {k: v for k, v in job.items() if k != "extends"})

    return {name: resolve(name) for name, job in config.items()
            if name not in KEYWORDS and not name.startswith(".") and isinstance(job, dict)}


def variable_values(variables):
    return {k: (v.get("value", "") if isinstance(v, dict) else str(v))
            for k, v in (variables or {}).items()}


def expand(text, values):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def lines_of(section):
    if section is None:
        return []
    return [section] if isinstance(section, str) else [str(line) for line in section]


# --- roots ------------------------------------------------------------------

def base_root():
    path = os.path.join(WORK, "roots", "bookworm")
    if os.path.exists(os.path.join(path, ".complete")):
        return path
    if shutil.which("debootstrap") is None:
        installed = subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if installed.returncode != 0:  # stale package lists on a fresh machine
            sh("apt-get", "update", "-qq")
            sh("apt-get", "install", "-y", "-qq", "debootstrap", stdout=subprocess.DEVNULL)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    started = time.time()
    with open(os.path.join(WORK, "debootstrap.log"), "w") as out:
        sh("debootstrap", "--variant=minbase", "bookworm", path, stdout=out, stderr=subprocess.STDOUT)
    # This machine's network: its resolver and its egress certificate
    # authority (picked up by the ca-certificates package when a job
    # installs it). A runner on gitlab.com needs neither.
    shutil.copy("/etc/resolv.conf", os.path.join(path, "etc/resolv.conf"))
    cas = os.path.join(path, "usr/local/share/ca-certificates")
    os.makedirs(cas, exist_ok=True)
    for name in os.listdir("/usr/local/share/ca-certificates"):
        shutil.copy(os.path.join("/usr/local/share/ca-certificates", name), cas)
    for conf in ("/etc/apt/apt.conf.d/99artifact-registry",):
        if os.path.exists(conf):
            shutil.copy(conf, os.path.join(path, "etc/apt/apt.conf.d"))
    open(os.path.join(path, ".complete"), "w").close()
    log(f"debootstrap bookworm (minbase) in {time.time() - started:.0f}s")
    return path


def image_root(image):
    for prefix, (name, packages, _) in STAND_INS.items():
        if image.startswith(prefix):
            break
    else:
        fail(f"no stand-in for image {image}")
    path = os.path.join(WORK, "roots", name)
    if os.path.exists(os.path.join(path, ".complete")):
        return path
    shutil.rmtree(path, ignore_errors=True)
    sh("cp", "-a", base_root(), path)
    os.remove(os.path.join(path, ".complete"))
    started = time.time()
    in_root(path, "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
            + " ".join(packages) + " >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*")
    if name == "python-bookworm":
        # The python image installs into its own prefix, where pip may write.
        in_root(path, "rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf python3 /usr/bin/python")
    if name == "cloud-cli-bookworm":
        os.makedirs(os.path.join(path, "usr/lib/google-cloud-sdk"), exist_ok=True)
        for tool in ("gcloud", "gsutil"):
            os.symlink(f"/usr/lib/google-cloud-sdk/bin/{tool}", os.path.join(path, "usr/bin", tool))
    if name == "rust-bookworm":
        os.makedirs(os.path.join(path, "usr/local/rustup"), exist_ok=True)
        os.makedirs(os.path.join(path, "usr/local/cargo/bin"), exist_ok=True)
    open(os.path.join(path, ".complete"), "w").close()
    log(f"root {name}: {', '.join(packages)} in {time.time() - started:.0f}s")
    return path


def in_root(root, command, env=None):
    return subprocess.run(["chroot", root, "/usr/bin/env", "-i",
                           "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "HOME=/root", "DEBIAN_FRONTEND=noninteractive",
                           *[f"{k}={v}" for k, v in (env or {}).items()],
                           "/bin/sh", "-c", command], check=True)


class Mounts:
    """Bind mounts for one job's root, undone however the job ends."""

    def __init__(self, root):
        self.root, self.done = root, []

    def bind(self, source, target, read_only=False):
        where = os.path.join(self.root, target.lstrip("/"))
        os.makedirs(where, exist_ok=True)
        sh("mount", "--bind", source, where)
        self.done.append(where)
        if read_only:
            sh("mount", "-o", "remount,bind,ro", where)

    def proc(self):
        where = os.path.join(self.root, "proc")
        sh("mount", "-t", "proc", "proc", where)
        self.done.append(where)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for where in reversed(self.done):
            subprocess.run(["umount", "-l", where], check=False)


# --- one job ----------------------------------------------------------------

def checkout(root):
    """The project as the runner's clone would have it: tracked and new files
    of the work tree, committed in a repository of its own."""
    target = os.path.join(root, PROJECT_DIR.lstrip("/"))
    os.makedirs(target)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout
    tar = subprocess.Popen(["tar", "--null", "--ignore-failed-read", "-T", "-", "-cf", "-"],
                           cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    untar = subprocess.Popen(["tar", "-xf", "-", "-C", target], stdin=tar.stdout)
    tar.stdin.write(files)
    tar.stdin.close()
    untar.wait()
    tar.wait()
    git = ["git", "-C", target, "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@example.com"]
    sh(*git, "init", "-q", "-b", "main")
    sh(*git, "add", "-A")
    sh(*git, "commit", "-q", "--no-verify", "-m", "rehearsal checkout")
    return target


def seed_tools_cache(root, values):
    """What a restored GitLab cache would hold (see the module docstring)."""
    cache = os.path.join(root, expand(values.get("TOOLS_CACHE", ""), values).lstrip("/"))
    os.makedirs(cache, exist_ok=True)
    seeds = {"kubectl": "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
             "cargo-nextest": shutil.which("cargo-nextest")}
    versions = {"kubectl": values.get("KUBECTL_VERSION"), "kops": values.get("KOPS_VERSION"),
                "helm": values.get("HELM_VERSION"), "cargo-nextest": values.get("NEXTEST_VERSION"),
                "grype": values.get("GRYPE_VERSION")}
    for name, version in versions.items():
        if not version:
            continue
        target = os.path.join(cache, f"{name}-{version}")
        if seeds.get(name) and os.path.exists(seeds[name]):
            shutil.copy(seeds[name], target)
        else:
            with open(target, "w") as f:
                f.write(STAND_IN_SCRIPT.format(name=name, version=version))
        digest = subprocess.run(["sha256sum", f"{name}-{version}"], cwd=cache, check=True,
                                capture_output=True, text=True).stdout
        with open(target + ".sha256", "w") as f:
            f.write(digest)


def first_command(line):
    try:
        words = shlex.split(line.strip().splitlines()[0], posix=True)
    except ValueError:
        return None
    for word in words:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            continue
        return word
    return None


def job_script(name, job, rust_job):
    """The runner's script: bash when the image has it, `set -eo pipefail`,
    each line echoed before it runs (before_script, script, then
    after_script, which a runner runs in a shell of its own)."""
    out = ["set -eo pipefail", f'cd "{PROJECT_DIR}"']
    checked = []
    after = lines_of(job.get("after_script"))
    for line in lines_of(job.get("before_script")) + lines_of(job.get("script")) + after:
        shown = line.strip().splitlines()[0]
        out.append("printf '%s\\n' " + shlex.quote("$ " + shown))
        reason = next((why for pattern, why in CHECK_ONLY if rust_job and pattern.search(line)), None)
        if reason is None:
            out.append(line)
            continue
        command = first_command(line)
        checked.append((shown, reason))
        if command and re.match(r"^[A-Za-z0-9_./][A-Za-z0-9_./-]*$", command):
            out.append(f"command -v {shlex.quote(command)} >/dev/null || "
                       f"{{ echo 'rehearse: {name}: {command} is not in the image' >&2; exit 1; }}")
        out.append("echo '  (checked, not run: " + reason.replace("'", "") + ")'")
    return "\n".join(out) + "\n", checked


def rehearse(name, job, global_values):
    image = expand(job.get("image", ""), global_values)
    # A job that runs on release tags rehearses the tag case; the rest, a
    # commit on the default branch. Its environment, when it has one, decides.
    rules = [str(rule.get("if", "")) for rule in job.get("rules", []) if isinstance(rule, dict)]
    case = "prod" if rules and all("CI_COMMIT_TAG" in rule for rule in rules) else "dev"
    env_name = job.get("environment", {})
    env_name = env_name.get("name") if isinstance(env_name, dict) else env_name
    if env_name in CASES:
        case = env_name
    values = {**COMMON, **CASES[case], **global_values, **variable_values(job.get("variables"))}
    if case == "prod":
        # The release tag of the version in Cargo.toml, as a real tag must be.
        with open(os.path.join(ROOT, "Cargo.toml")) as f:
            version = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
        values["CI_COMMIT_TAG"] = values["CI_COMMIT_REF_NAME"] = f"v{version}"
    values.update({"CI_JOB_NAME": name, "CI_JOB_NAME_SLUG": re.sub(r"[^a-z0-9]+", "-", name.lower()),
                   "CI_ENVIRONMENT_NAME": env_name or ""})
    for key in list(values):
        values[key] = expand(values[key], values)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    values.setdefault("CI_COMMIT_SHA", sha or "0" * 40)
    values.setdefault("CI_COMMIT_SHORT_SHA", values["CI_COMMIT_SHA"][:8])

    source = image_root(image)
    root = os.path.join(WORK, "jobs", values["CI_JOB_NAME_SLUG"])
    if os.path.exists(root):
        subprocess.run(["umount", "-R", "-l", root], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(root)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    sh("cp", "-a", source, root)
    checkout(root)
    seed_tools_cache(root, values)
    rust_job = image.startswith("rust:")
    script, checked = job_script(name, job, rust_job)
    with open(os.path.join(root, "job.sh"), "w") as f:
        f.write(script)
    shell = "/bin/bash" if os.path.exists(os.path.join(root, "bin/bash")) else "/bin/sh"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           # This machine's egress CA for pip (see base_root).
           "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt", "PIP_DEFAULT_TIMEOUT": "180"}
    if rust_job:
        env.update({"RUSTUP_HOME": "/usr/local/rustup", "CARGO_HOME": "/usr/local/cargo",
                    "PATH": "/usr/local/cargo/bin:" + env["PATH"]})
    env.update(values)
    started = time.time()
    log(f"{name}: image {image}, case {case}, {shell}")
    with Mounts(root) as mounts:
        mounts.proc()
        if rust_job:
            rustup_home = os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup"))
            cargo_bin = os.path.dirname(shutil.which("rustup") or os.path.expanduser("~/.cargo/bin/rustup"))
            mounts.bind(rustup_home, "/usr/local/rustup", read_only=True)
            mounts.bind(cargo_bin, "/usr/local/cargo/bin", read_only=True)
        if "google-cloud-cli" in image:
            mounts.bind("/usr/lib/google-cloud-sdk", "/usr/lib/google-cloud-sdk", read_only=True)
        result = subprocess.run(["chroot", root, "/usr/bin/env", "-i",
                                 *[f"{k}={v}" for k, v in env.items()], shell, "/job.sh"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = result.stdout
    with open(os.path.join(WORK, f"{values['CI_JOB_NAME_SLUG']}.log"), "w") as f:
        f.write(output)
    if result.returncode != 0:
        print("\n".join("    | " + line for line in output.splitlines()[-60:]), file=sys.stderr)
        fail(f"{name}: exited {result.returncode} in its image's stand-in (log: "
             f"target/rehearsal/{values['CI_JOB_NAME_SLUG']}.log, root kept at {root})")
    shutil.rmtree(root)
    ran = sum(1 for line in output.splitlines() if line.startswith("$ "))
    log(f"{name}: passed in {time.time() - started:.0f}s ({ran} lines, {len(checked)} checked only)")


def main(selected):
    if os.geteuid() != 0:
        fail("needs root (debootstrap, chroot, mount)")
    with open(os.path.join(ROOT, ".gitlab-ci.yml")) as f:
        config = yaml.safe_load(f)
    global_values = variable_values(config.get("variables"))
    jobs = expanded_jobs(config)
    plan, skipped = [], []
    for name, job in jobs.items():
        image = expand(job.get("image", ""), global_values)
        why = next((why for prefix, why in NOT_REHEARSED.items() if image.startswith(prefix)), None)
        if why:
            skipped.append((name, image, why))
        elif any(image.startswith(prefix) for prefix in STAND_INS):
            plan.append(name)
        else:
            fail(f"{name}: image '{image}' has no stand-in and no reason in NOT_REHEARSED")
    for name in selected:
        if name not in jobs:
            fail(f"no job {name}")
    for name, image, why in skipped:
        log(f"{name}: not rehearsed ({image}): {why}")
    check_test_needs(jobs)
    for prefix, (root_name, _, differs) in STAND_INS.items():
        log(f"stand-in for {prefix}*: {differs}")
    started = time.time()
    for name in plan:
        if not selected or name in selected:
            rehearse(name, jobs[name], global_values)
    log(f"{len(selected or plan)} jobs rehearsed in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
