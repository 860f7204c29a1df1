#!/bin/sh
# Check "promote" of .ci/check_pipeline.sh: .ci/promote.sh for real against
# a registry (Debian's docker-registry on loopback) with skopeo, as the
# deploy:dev and promote jobs run it, after an image was pushed as the pack
# job pushes it. A release of a commit without a tested image, or never run
# in dev (DEV_IMAGE, from the environments branch), or whose image is not
# the digest dev ran, or whose tag is not Cargo.toml's version, fails and
# says why; otherwise the tested digest is copied to the tag, not rebuilt.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

need_script .ci/promote.sh
command -v skopeo >/dev/null 2>&1 || apt_install skopeo
command -v docker-registry >/dev/null 2>&1 || apt_install docker-registry
command -v buildah >/dev/null 2>&1 || apt_install buildah
port=$(free_port)
mkdir -p "$work/registry"
printf '%s\n' "version: 0.1" "storage:" "  filesystem:" "    rootdirectory: $work/registry" \
    "http:" "  addr: 127.0.0.1:$port" "log:" "  level: error" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
background="$background $registry_pid"
i=0
until curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; do
    kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; fail "the registry exited"; }
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "no registry on 127.0.0.1:$port after 20s"
    sleep 0.2
done
repo=127.0.0.1:$port/conduit/conduit
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
# What the pack job pushes for commit 1a2b3c4d (a small image stands in
# for the FROM scratch one: only its digest matters here).
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
ctr=$(buildah from scratch)
buildah copy -q "$ctr" Cargo.toml /Cargo.toml >/dev/null
buildah commit -q "$ctr" "$repo:1a2b3c4d" >/dev/null
buildah rm "$ctr" >/dev/null
buildah push -q --tls-verify=false --digestfile "$work/pushed.digest" "$repo:1a2b3c4d"
buildah rmi "$repo:1a2b3c4d" >/dev/null
pushed=$(cat "$work/pushed.digest")
set -- IMAGE_REPO="$repo" REGISTRY_TLS_VERIFY=false
# dry() runs with DRY_RUN=1; these runs are real, against the registry.
real() {
    r_name=$1
    shift
    dry "$r_name" DRY_RUN=0 "$@"
}
# A release of a commit the default branch never built: refused.
real promote-untested "$@" CI_COMMIT_SHORT_SHA=5e6f7a8b CI_COMMIT_TAG="v$version" DEV_IMAGE="$repo@$pushed" \
    sh .ci/promote.sh release
expect_fail promote-untested
has "$work/promote-untested.err" "no tested image $repo:5e6f7a8b" "promote-untested"
has "$work/promote-untested.err" "never rebuilt" "promote-untested"
# Built and tested, but never run in dev (no record on the environments
# branch): refused.
real promote-not-in-dev "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" sh .ci/promote.sh release
expect_fail promote-not-in-dev
has "$work/promote-not-in-dev.err" "never ran in dev" "promote-not-in-dev"
# dev ran another digest for this commit: refused.
other=sha256:$(printf other | sha256sum | cut -c1-64)
real promote-other "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" DEV_IMAGE="$repo@$other" \
    sh .ci/promote.sh release
expect_fail promote-other
has "$work/promote-other.err" "refusing to promote" "promote-other"
real promote-wrong-tag "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG=v99.0.0 DEV_IMAGE="$repo@$pushed" \
    sh .ci/promote.sh release
expect_fail promote-wrong-tag
real promote "$@" CI_COMMIT_SHORT_SHA=1a2b3c4d CI_COMMIT_TAG="v$version" DEV_IMAGE="$repo@$pushed" \
    sh .ci/promote.sh release
expect_ok promote
released=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$repo:v$version")
[ "$released" = "$pushed" ] || fail "promote: v$version is $released, but the tested image is $pushed"
has "$snap/promote.env" "IMAGE_DIGEST=$pushed" "promote.env (the scan's digest)"
rm -f "$snap/promote.env"
lacks "$work/promote.err" "buildah" "promote (no build)"
note "untested commit, commit never run in dev and another digest refused; v$version = $pushed, the digest dev ran"
