#!/bin/sh
# Packs the already-built static binary into the FROM scratch image with
# buildah (no Docker daemon, no privileged docker-in-docker), and prints the
# full image reference as its last line.
#
#   .ci/docker_pack.sh IMAGE_REPO        e.g. registry.gitlab.com/group/conduit
#
# Tag: the short commit SHA (CI_COMMIT_SHORT_SHA, or git outside the
# pipeline). It refuses to run for a tag (CI_COMMIT_TAG): releases are
# promoted by digest (.ci/promote.sh), never rebuilt.
#
# Pushes only inside the GitLab pipeline with registry credentials (GITLAB_CI
# and CI_REGISTRY, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD); also to Docker Hub
# when DOCKERHUB_REPO, DOCKERHUB_USERNAME and DOCKERHUB_TOKEN are set.
# DIGEST_FILE: where the pushed image's manifest digest is written
# (buildah push --digestfile) [pack.digest].
# DRY_RUN=1 prints the buildah commands instead of running them.
# PACK_BINARY overrides the binary's path.
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
    echo "usage: $0 IMAGE_REPO" >&2
    exit 2
}
[ "$#" -eq 1 ] && [ -n "$1" ] || usage
repo=$1

export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

binary=${PACK_BINARY:-target/x86_64-unknown-linux-musl/release/conduit}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
revision=${CI_COMMIT_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
short=${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
source_url=${CI_PROJECT_URL:-https://gitlab.com/example/conduit}
tag_name=${CI_COMMIT_TAG:-}

push=0
if [ -n "${GITLAB_CI:-}" ] && [ -n "${CI_REGISTRY:-}" ] && [ -n "${CI_REGISTRY_USER:-}" ] \
    && [ -n "${CI_REGISTRY_PASSWORD:-}" ]; then
    push=1
fi

login() {
    say "logging in to $1"
    # The secret goes through standard input, never onto a command line.
    if [ "${DRY_RUN:-0}" = 1 ]; then
        show buildah login --username "$2" --password-stdin "$1"
    else
        printf '%s' "$3" | buildah login --username "$2" --password-stdin "$1" >&2
    fi
}

publish() {
    [ "$push" = 1 ] || return 0
    run buildah push --digestfile "${DIGEST_FILE:-pack.digest}" "$1"
    if [ -n "${DOCKERHUB_REPO:-}" ] && [ -n "${DOCKERHUB_USERNAME:-}" ] && [ -n "${DOCKERHUB_TOKEN:-}" ]; then
        login docker.io "$DOCKERHUB_USERNAME" "$DOCKERHUB_TOKEN"
        run buildah tag "$1" "docker.io/$DOCKERHUB_REPO:$2"
        run buildah push "docker.io/$DOCKERHUB_REPO:$2"
    fi
}

if [ "$push" = 1 ]; then
    login "$CI_REGISTRY" "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD"
fi

# Releases are promoted, never packed: .ci/promote.sh copies the digest the
# default branch built, tested and ran in dev.
if [ -n "$tag_name" ]; then
    die "tag $tag_name: a release is not rebuilt; the promote job copies the tested image by digest (.ci/promote.sh release)"
fi
tag=$short

[ -x "$binary" ] || [ "${DRY_RUN:-0}" = 1 ] \
    || die "no binary at $binary: build it first (cargo build --release --target x86_64-unknown-linux-musl)"

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
if [ "${DRY_RUN:-0}" != 1 ]; then
    cp "$binary" "$context/conduit"
fi
mkdir "$context/data"

say "building $repo:$tag from $binary"
run buildah bud --format docker --layers=false \
    -f "$(pwd)/Dockerfile.scratch" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "SOURCE=$source_url" \
    -t "$repo:$tag" \
    "$context" >&2
publish "$repo:$tag" "$tag"
echo "$repo:$tag"
