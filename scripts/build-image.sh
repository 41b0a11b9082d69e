#!/usr/bin/env bash
# Builds the `guardian` container image without a container engine: a
# statically linked binary (the x86_64-unknown-linux-musl target) in a
# minimal OCI image, assembled with umoci and written as an OCI image layout.
#
#   scripts/build-image.sh [--out DIR] [--tag TAG] [--binary PATH]
#
# Defaults: --out target/image/oci, --tag the workspace version; --binary
# packs an already built static guardian instead of running cargo. The result is
# DIR:TAG for skopeo (`oci:DIR:TAG`); scripts/check-image.sh pushes it to a
# loopback registry and checks it there. Push it to yours with
#
#   skopeo copy oci:target/image/oci:0.1.0 docker://REGISTRY/guardian:0.1.0
#
# The root filesystem is what scripts/image-rootfs.sh lays out (the same
# script deploy/Dockerfile runs), and the config here is the Dockerfile's:
# user 65532:65532, entrypoint /usr/local/bin/guardian, cmd `serve --help`,
# the OCI labels. scripts/check-image.sh fails if the two drift apart.
#
# Needs: a Rust toolchain with the x86_64-unknown-linux-musl and wasm32-wasip2
# targets, musl-gcc (musl-tools), umoci, file; scripts/setup.sh installs them.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

out="$root/target/image/oci"
tag=""
binary=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "build-image: $*" >&2; exit 1; }
for tool in cargo rustup musl-gcc umoci file; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run scripts/setup.sh"
done
rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
    || die "the x86_64-unknown-linux-musl target is not installed; run scripts/setup.sh"

# [workspace.package] in Cargo.toml: the image's version, source and licence.
workspace_field() {
    sed -n '/^\[workspace\.package\]/,/^\[/ s/^'"$1"' = "\(.*\)"$/\1/p' Cargo.toml
}
version="$(workspace_field version)"
source_url="$(workspace_field repository)"
licenses="$(workspace_field license)"
[ -n "$version" ] && [ -n "$source_url" ] && [ -n "$licenses" ] \
    || die "could not read version, repository and license from Cargo.toml [workspace.package]"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi
tag="${tag:-$version}"

# 1. The static binary. musl-gcc compiles the C in the dependencies (the
#    bundled SQLite, ring, mimalloc) against musl; Rust links it statically.
target=x86_64-unknown-linux-musl
build_seconds=-
if [ -z "$binary" ]; then
    export CC_x86_64_unknown_linux_musl=musl-gcc
    export CARGO_INCREMENTAL=0
    echo "build-image: cargo build --release --locked --target $target -p guardian-cli --bin guardian" >&2
    start=$(date +%s)
    cargo build --release --locked --target "$target" -p guardian-cli --bin guardian
    build_seconds=$(( $(date +%s) - start ))
    binary="$root/target/$target/release/guardian"
fi
[ -x "$binary" ] || die "$binary is not an executable file"
kind="$(file -b "$binary")"
case "$kind" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$binary is not statically linked: $kind" ;;
esac

# 2. The root filesystem, in an umoci bundle of a new, empty image.
ca=/etc/ssl/certs/ca-certificates.crt
work="$(mktemp -d "${TMPDIR:-/tmp}/guardian-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$(dirname "$out")"
umoci init --layout "$out"
umoci new --image "$out:$tag"
rootless=()
if [ "$(id -u)" -ne 0 ]; then rootless=(--rootless); fi
umoci unpack "${rootless[@]}" --image "$out:$tag" "$work/bundle"
rmdir "$work/bundle/rootfs"
sh "$root/scripts/image-rootfs.sh" "$binary" "$ca" "$work/bundle/rootfs"
# Owned by root in the image, whoever builds it (as in the Dockerfile's COPY).
umoci repack "${rootless[@]}" --image "$out:$tag" --history.created_by "scripts/image-rootfs.sh" "$work/bundle"

# 3. The config: the same as deploy/Dockerfile's USER, ENTRYPOINT, CMD, ENV, LABEL.
umoci config --image "$out:$tag" \
    --os linux --architecture amd64 \
    --config.user 65532:65532 \
    --config.entrypoint /usr/local/bin/guardian \
    --config.cmd serve --config.cmd --help \
    --config.env PATH=/usr/local/bin \
    --config.label org.opencontainers.image.title=guardian \
    --config.label "org.opencontainers.image.source=$source_url" \
    --config.label "org.opencontainers.image.licenses=$licenses" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.revision=$revision" \
    --history.created_by "scripts/build-image.sh (umoci config)"
umoci gc --layout "$out"

binary_bytes=$(stat -c %s "$binary")
echo "build-image: wrote oci:$out:$tag"
echo "build-image: binary $binary_bytes bytes ($kind)"
echo "build-image: cargo build took ${build_seconds}s (0 when it was up to date, - with --binary)"
