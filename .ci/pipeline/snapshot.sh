#!/bin/sh
# Check "snapshot of the work tree" of .ci/check_pipeline.sh, run before any
# other: the work tree as it is (tracked and new files, uncommitted changes
# included, ignored files left out), committed in a repository of its own at
# $CHECK_PIPELINE_SNAPSHOT whose `origin/main` is that same commit, as
# gitlab-ci-local needs for rules:changes. The dry runs run there too, so
# nothing they write can touch the real tree.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "not a git work tree: $(pwd)"
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
