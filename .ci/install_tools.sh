#!/bin/sh
# Installs the pinned command-line tools a pipeline job needs, each at the
# exact version named in .gitlab-ci.yml's variables, checked against the
# SHA-256 checksum its publisher serves beside the download.
#
#   sh .ci/install_tools.sh kubectl kops helm nextest
#
# Versions (set by the job's variables; docs/operations.md lists them all):
#   KUBECTL_VERSION  kubectl, from dl.k8s.io
#   KOPS_VERSION     kops, from the kops GitHub releases
#   HELM_VERSION     helm, from get.helm.sh
#   NEXTEST_VERSION  cargo-nextest, from get.nexte.st (into $CARGO_HOME/bin)
#   GRYPE_VERSION    grype, from the grype GitHub releases, checked against
#                    GRYPE_SHA256 (the archive's digest, pinned beside the
#                    version: a release replaced after the fact is refused)
#
# TOOLS_CACHE (optional): a folder kept between jobs (a GitLab cache). A tool
# found there as NAME-VERSION with its NAME-VERSION.sha256 is installed from
# it after the checksum matches; a downloaded one is stored there. The job
# rehearsal of .ci/run seeds this folder, since the download hosts are out of
# its reach (.ci/rehearse_jobs.py says with what).
# TOOLS_BIN: where the tools go [/usr/local/bin].
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || die "usage: $0 kubectl|kops|helm|nextest|grype..."
command -v sha256sum >/dev/null || die "sha256sum is required (coreutils)"

TOOLS_BIN=${TOOLS_BIN:-/usr/local/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch URL FILE: downloads URL to FILE, failing on any HTTP error.
fetch() {
    command -v curl >/dev/null || die "curl is required to download $1"
    curl -fsSL --retry 3 -o "$2" "$1" || die "download failed: $1"
}

# install_one NAME VERSION URL CHECKSUM [MEMBER]: installs one file as
# $TOOLS_BIN/NAME. CHECKSUM is a URL that serves the hex digest as its first
# word, or sha256:HEX, a digest pinned here (empty: the publisher serves
# none). With MEMBER, the download is a .tar.gz and MEMBER the file inside it.
install_one() {
    name=$1 version=$2 url=$3 sum_url=$4 member=${5:-}
    [ -n "$version" ] || die "no version pinned for $name"
    cached=${TOOLS_CACHE:+$TOOLS_CACHE/$name-$version}
    if [ -n "$cached" ] && [ -f "$cached" ] && [ -f "$cached.sha256" ]; then
        (cd "$(dirname "$cached")" && sha256sum -c --quiet "$name-$version.sha256") \
            || die "cached $cached does not match its checksum"
        cp "$cached" "$work/$name"
        say "$name $version from the cache"
    else
        fetch "$url" "$work/download"
        if [ -n "$sum_url" ]; then
            case $sum_url in
                sha256:*) echo "${sum_url#sha256:}" >"$work/sum" ;;
                *) fetch "$sum_url" "$work/sum" ;;
            esac
            digest=$(cut -d' ' -f1 <"$work/sum" | head -n 1)
            case $digest in
                *[!0-9a-f]* | '') die "no SHA-256 digest at $sum_url" ;;
            esac
            echo "$digest  $work/download" | sha256sum -c --quiet - || die "checksum mismatch for $url"
        fi
        if [ -n "$member" ]; then
            tar -xzf "$work/download" -C "$work" "$member"
            mv "$work/$member" "$work/$name"
        else
            mv "$work/download" "$work/$name"
        fi
        if [ -n "$cached" ]; then
            mkdir -p "$TOOLS_CACHE"
            cp "$work/$name" "$cached"
            (cd "$TOOLS_CACHE" && sha256sum "$name-$version" >"$name-$version.sha256")
        fi
        say "$name $version downloaded and verified"
    fi
    mkdir -p "$TOOLS_BIN"
    install -m 0755 "$work/$name" "$TOOLS_BIN/$name"
}

for tool in "$@"; do
    case $tool in
        kubectl)
            base=https://dl.k8s.io/release/v${KUBECTL_VERSION:-}/bin/linux/amd64
            install_one kubectl "${KUBECTL_VERSION:-}" "$base/kubectl" "$base/kubectl.sha256"
            ;;
        kops)
            base=https://github.com/kubernetes/kops/releases/download/v${KOPS_VERSION:-}
            install_one kops "${KOPS_VERSION:-}" "$base/kops-linux-amd64" "$base/kops-linux-amd64.sha256"
            ;;
        helm)
            tgz=https://get.helm.sh/helm-v${HELM_VERSION:-}-linux-amd64.tar.gz
            install_one helm "${HELM_VERSION:-}" "$tgz" "$tgz.sha256sum" linux-amd64/helm
            ;;
        nextest)
            # Into cargo's bin folder, where cargo finds its subcommands. The
            # nextest project serves no checksum file beside this archive:
            # the exact version is the pin.
            TOOLS_BIN=${CARGO_HOME:-$HOME/.cargo}/bin install_one cargo-nextest "${NEXTEST_VERSION:-}" \
                "https://get.nexte.st/${NEXTEST_VERSION:-}/linux" "" cargo-nextest
            ;;
        grype)
            [ -n "${GRYPE_SHA256:-}" ] || die "no GRYPE_SHA256 pinned for grype ${GRYPE_VERSION:-}"
            tgz=https://github.com/anchore/grype/releases/download/v${GRYPE_VERSION:-}/grype_${GRYPE_VERSION:-}_linux_amd64.tar.gz
            install_one grype "${GRYPE_VERSION:-}" "$tgz" "sha256:$GRYPE_SHA256" grype
            ;;
        *) die "unknown tool: $tool" ;;
    esac
done
