#!/bin/sh
# Packs the already-built static binary into the FROM scratch image with
# buildah (no Docker daemon, no privileged docker-in-docker), and prints the
# full image reference as its last line.
#
#   .ci/docker_pack.sh IMAGE_REPO        e.g. registry.gitlab.com/group/conduit
#
# Tag: the tag name on a vX.Y.Z tag pipeline, else the short commit SHA
# (CI_COMMIT_SHORT_SHA, or git outside the pipeline). On a version tag whose
# commit already has an image, that image gets the tag name instead of a
# rebuild, so production runs the bytes that were tested; the tag must match
# the version in Cargo.toml.
#
# Pushes only inside the GitLab pipeline with registry credentials (GITLAB_CI
# and CI_REGISTRY, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD); also to Docker Hub
# when DOCKERHUB_REPO, DOCKERHUB_USERNAME and DOCKERHUB_TOKEN are set.
# DRY_RUN=1 prints the buildah commands instead of running them.
# CONDUIT_BINARY overrides the binary's path.
set -eu

usage() {
    echo "usage: $0 IMAGE_REPO" >&2
    exit 2
}
[ "$#" -eq 1 ] && [ -n "$1" ] || usage
repo=$1

say() { echo "docker_pack: $*" >&2; }
fail() {
    say "$*"
    exit 1
}
# Prints a command, then runs it unless this is a dry run.
run() {
    echo "+ $*" >&2
    if [ "${DRY_RUN:-0}" != 1 ]; then
        "$@"
    fi
}

export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

binary=${CONDUIT_BINARY:-target/x86_64-unknown-linux-musl/release/conduit}
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
        echo "+ buildah login --username $2 --password-stdin $1" >&2
    else
        printf '%s' "$3" | buildah login --username "$2" --password-stdin "$1" >&2
    fi
}

publish() {
    [ "$push" = 1 ] || return 0
    run buildah push "$1"
    if [ -n "${DOCKERHUB_REPO:-}" ] && [ -n "${DOCKERHUB_USERNAME:-}" ] && [ -n "${DOCKERHUB_TOKEN:-}" ]; then
        login docker.io "$DOCKERHUB_USERNAME" "$DOCKERHUB_TOKEN"
        run buildah tag "$1" "docker.io/$DOCKERHUB_REPO:$2"
        run buildah push "docker.io/$DOCKERHUB_REPO:$2"
    fi
}

if [ "$push" = 1 ]; then
    login "$CI_REGISTRY" "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD"
fi

if [ -n "$tag_name" ]; then
    echo "$tag_name" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+$' \
        || fail "tag $tag_name is not a release tag (vX.Y.Z)"
    [ "$tag_name" = "v$version" ] || fail "tag $tag_name does not match version $version in Cargo.toml"
    tested="$repo:$short"
    found=0
    if [ "$push" = 1 ]; then
        if run buildah pull "$tested" >/dev/null; then found=1; fi
    elif [ "${DRY_RUN:-0}" != 1 ] && buildah inspect "$tested" >/dev/null 2>&1; then
        found=1
    fi
    if [ "$found" = 1 ]; then
        say "promoting the tested image $tested as $tag_name"
        run buildah tag "$tested" "$repo:$tag_name"
        publish "$repo:$tag_name" "$tag_name"
        echo "$repo:$tag_name"
        exit 0
    fi
    say "no image for commit $short yet: building one for $tag_name"
    tag=$tag_name
else
    tag=$short
fi

[ -x "$binary" ] || [ "${DRY_RUN:-0}" = 1 ] \
    || fail "no binary at $binary: build it first (cargo build --release --target x86_64-unknown-linux-musl)"

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
