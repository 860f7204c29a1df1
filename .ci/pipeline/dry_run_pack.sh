#!/bin/sh
# Check "pack" of .ci/check_pipeline.sh: .ci/docker_pack.sh with DRY_RUN=1
# in the snapshot. A default-branch commit is built and tagged with its short
# SHA, pushed (with its digest written for the deploy) only inside the
# pipeline, never as `latest`, secrets never printed; a release tag, a tag
# that is not Cargo.toml's version and a pre-release tag are refused.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

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
