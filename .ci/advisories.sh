#!/bin/sh
# Checks Conduit's dependencies against deny.toml with cargo-deny (pinned:
# CARGO_DENY_VERSION in .gitlab-ci.yml, the same version in .ci/run).
#
#   sh .ci/advisories.sh offline   licences, bans and sources: no network
#                                  needed (.ci/run, on every change)
#   sh .ci/advisories.sh           all of that and the advisories, from the
#                                  RustSec database fetched from GitHub (the
#                                  GitLab job cargo-deny, in every pipeline)
#   sh .ci/advisories.sh scheduled the same, then once more for the Cargo.lock
#                                  of the newest release tag vX.Y.Z, the one
#                                  prod runs (the daily scheduled pipeline;
#                                  the default there, where CI_PIPELINE_SOURCE
#                                  is "schedule")
#
# First, the exceptions: every advisory deny.toml ignores must say when it
# was last reviewed and by when it must be reviewed again ("reviewed
# YYYY-MM-DD; review by YYYY-MM-DD" in its reason). Once a "review by" date
# has passed, the check fails in GitLab and warns in `offline` mode (a date
# alone must not turn the default branch red between two commits).
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

mode=${1:-full}
if [ "$#" -eq 0 ] && [ "${CI_PIPELINE_SOURCE:-}" = schedule ]; then
    mode=scheduled
fi
case $mode in
    offline | full | scheduled) ;;
    *) die "usage: $0 [offline|scheduled]" ;;
esac
command -v cargo-deny >/dev/null || die "cargo-deny is not installed (its version: CARGO_DENY_VERSION in .gitlab-ci.yml)"
cargo deny --version >&2

# The exceptions' review dates, compared as YYYYMMDD numbers.
today=$(date -u +%Y%m%d)
ids=$(grep -cE '^[[:space:]]*\{ ?id = "[A-Z]+-[0-9]{4}-[0-9]+"' deny.toml || true)
reviewed=$(grep -oE 'reviewed [0-9]{4}-[0-9]{2}-[0-9]{2}' deny.toml | wc -l)
due_dates=$(grep -oE 'review by [0-9]{4}-[0-9]{2}-[0-9]{2}' deny.toml | sed 's/review by //')
[ "$ids" -eq "$reviewed" ] && [ "$ids" -eq "$(echo "$due_dates" | grep -c . || true)" ] \
    || die "deny.toml: $ids advisory exceptions, but $reviewed 'reviewed DATE' and" \
        "$(echo "$due_dates" | grep -c . || true) 'review by DATE': each needs both"
overdue=0
for due in $due_dates; do
    if [ "$(echo "$due" | tr -d -)" -lt "$today" ]; then
        say "the review of an advisory exception was due on $due (deny.toml): review it (docs/operations.md)"
        overdue=1
    else
        say "advisory exception: next review by $due"
    fi
done
if [ "$overdue" = 1 ] && [ "$mode" != offline ]; then
    die "an advisory exception is past its review date"
fi

if [ "$mode" = offline ]; then
    # The advisory database is out of reach here: the rest of the policy.
    cargo deny --locked check --hide-inclusion-graph licenses bans sources
    exit 0
fi
cargo deny --locked check --hide-inclusion-graph

[ "$mode" = scheduled ] || exit 0
# The newest release, which is what prod runs: an advisory published since
# it was built shows up here even when the default branch has moved on.
git fetch --quiet --force --tags origin 2>/dev/null || say "could not fetch tags; using the tags this clone has"
release=$(git tag --list 'v*' --sort=-v:refname | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1 || true)
if [ -z "$release" ]; then
    say "no release tag vX.Y.Z yet: nothing released to check"
    exit 0
fi
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --quiet --detach "$tree" "$release"
say "checking $release's Cargo.lock against today's advisories (and today's deny.toml)"
cargo deny --locked --manifest-path "$tree/Cargo.toml" check --config "$(pwd)/deny.toml" \
    --hide-inclusion-graph advisories
