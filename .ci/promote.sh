#!/bin/sh
# The registry side of a release, with skopeo: an image is built once, on the
# default branch, and promoted by digest; a release never rebuilds.
#
#   sh .ci/promote.sh release    on a vX.Y.Z pipeline: DEV_IMAGE is what dev
#                                ran and verified for this commit (from the
#                                environment branch: .ci/environments.sh
#                                ran-in-dev); the image the default branch
#                                built for this commit (:<short SHA>) must be
#                                that digest; it is copied by digest to
#                                :vX.Y.Z. Writes promote.env (IMAGE_REPO,
#                                IMAGE_DIGEST, IMAGE_TAG) for the scan.
#
# Environment:
#   DEV_IMAGE            repository@sha256:<digest> that dev ran (required)
#   IMAGE_REPO           repository [CI_REGISTRY_IMAGE]
#   CI_COMMIT_SHORT_SHA  the commit [git rev-parse --short HEAD]
#   CI_COMMIT_TAG        the tag, vX.Y.Z, equal to v + Cargo.toml's version
#   CI_REGISTRY, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD
#                        registry login (GitLab's own); unset: no login
#   REGISTRY_TLS_VERIFY  false for a plain-HTTP registry (the local check) [true]
#   DRY_RUN=1            print the skopeo commands instead of running them
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 release"
cd "$(dirname "$0")/.."

repo=${IMAGE_REPO:-${CI_REGISTRY_IMAGE:-}}
[ -n "$repo" ] || die "set IMAGE_REPO (or CI_REGISTRY_IMAGE)"
short=${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)}
tls=${REGISTRY_TLS_VERIFY:-true}
command -v skopeo >/dev/null || [ "${DRY_RUN:-0}" = 1 ] || die "skopeo is required (Debian: apt-get install skopeo)"

if [ -n "${CI_REGISTRY_PASSWORD:-}" ] && [ -n "${CI_REGISTRY_USER:-}" ] && [ -n "${CI_REGISTRY:-}" ]; then
    show skopeo login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"
    if [ "${DRY_RUN:-0}" != 1 ]; then
        printf '%s' "$CI_REGISTRY_PASSWORD" | skopeo login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY" >&2
    fi
fi

# digest_of REF: the manifest digest of docker://REF, empty when there is none.
digest_of() {
    if [ "${DRY_RUN:-0}" = 1 ]; then
        show skopeo inspect --tls-verify="$tls" --format '{{.Digest}}' "docker://$1"
        echo "sha256:$(printf '%064d' 0)"
        return 0
    fi
    skopeo inspect --tls-verify="$tls" --format '{{.Digest}}' "docker://$1" 2>"${TMPDIR:-/tmp}/promote-inspect.err" || {
        sed 's/^/promote:   /' "${TMPDIR:-/tmp}/promote-inspect.err" >&2
        return 0
    }
}

case $1 in
    release)
        tag=${CI_COMMIT_TAG:-}
        printf '%s\n' "$tag" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+$' || die "not a release tag (vX.Y.Z): '$tag'"
        version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
        [ "$tag" = "v$version" ] || die "tag $tag does not match version $version in Cargo.toml"
        ran=${DEV_IMAGE:-}
        printf '%s\n' "$ran" | grep -Eq '@sha256:[0-9a-f]{64}$' ||
            die "commit $short never ran in dev (DEV_IMAGE is '$ran'): let the default branch's pipeline deploy it to dev first"
        [ "${ran%@*}" = "$repo" ] || die "dev ran ${ran%@*}, not this project's $repo"
        ran=${ran#*@}
        tested=$(digest_of "$repo:$short")
        [ -n "$tested" ] || die "no tested image $repo:$short for commit $short. A release is never rebuilt: merge the commit to the default branch, let its pipeline build, test and deploy it to dev, then tag it"
        [ "$ran" = "$tested" ] || die "dev ran $ran for $short, but $repo:$short is $tested: refusing to promote"
        run skopeo copy --all --src-tls-verify="$tls" --dest-tls-verify="$tls" \
            "docker://$repo@$tested" "docker://$repo:$tag"
        printf 'IMAGE_REPO=%s\nIMAGE_DIGEST=%s\nIMAGE_TAG=%s\n' "$repo" "$tested" "$tag" >promote.env
        say "promoted $repo@$tested (built for $short, ran in dev) as $tag"
        cat promote.env
        ;;
    *) die "usage: $0 release" ;;
esac
