#!/usr/bin/env bash
# Checks the image scripts/build-image.sh wrote, in a registry: starts
# Debian's `docker-registry` (the Docker distribution registry) on loopback
# with a temporary storage directory, pushes the OCI layout there with skopeo,
# and checks what the registry serves:
#
#   - the config: user 65532:65532, entrypoint, cmd, environment and labels,
#     each equal to deploy/Dockerfile's USER, ENTRYPOINT, CMD, ENV and LABEL
#     (and the labels' version, source and licence to Cargo.toml's),
#     linux/amd64;
#   - the root filesystem, pulled back from the registry and unpacked: exactly
#     the files scripts/image-rootfs.sh lays out (no /bin/sh, no package
#     manager, no libc), owned by root, /etc/passwd naming 65532;
#   - the binary: statically linked, and it runs inside that root filesystem
#     alone (chroot, as uid 65532): `guardian version`; `guardian skills
#     list` compiles and lists the built-in skills; `guardian diagnose` on
#     examples/staging (copied in) reports findings;
#
# then prints the image's compressed size and the binary's size. Any failed
# check stops it with a message and exit status 1. The registry is stopped
# and its storage removed on exit.
#
#   scripts/check-image.sh [--oci DIR] [--tag TAG]
#
# Defaults: --oci target/image/oci, --tag the workspace version (what
# scripts/build-image.sh writes). Needs docker-registry, skopeo, umoci, jq,
# curl, file (scripts/setup.sh installs them); the chroot checks need root
# (without it the binary runs from the unpacked tree, not confined to it).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

oci="$root/target/image/oci"
tag=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --oci) oci="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "check-image: FAILED: $*" >&2; exit 1; }
ok() { echo "check-image: ok: $*"; }
for tool in docker-registry skopeo umoci jq curl file; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found; run scripts/setup.sh"
done

workspace_field() {
    sed -n '/^\[workspace\.package\]/,/^\[/ s/^'"$1"' = "\(.*\)"$/\1/p' Cargo.toml
}
version="$(workspace_field version)"
source_url="$(workspace_field repository)"
licenses="$(workspace_field license)"
tag="${tag:-$version}"
[ -f "$oci/index.json" ] || fail "$oci is not an OCI image layout; run scripts/build-image.sh first"

work="$(mktemp -d "${TMPDIR:-/tmp}/guardian-check-image.XXXXXX")"
registry_pid=""
cleanup() {
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. A registry on loopback -------------------------------------------
start_registry() {
    local port=$1
    cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$registry_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
    return 1
}
port=""
for _ in 1 2 3 4 5; do
    candidate=$(( 20000 + RANDOM % 20000 ))
    if start_registry "$candidate"; then port=$candidate; break; fi
done
[ -n "$port" ] || fail "docker-registry did not start on 127.0.0.1; its log: $(cat "$work/registry.log")"
ref="127.0.0.1:$port/guardian:$tag"
ok "docker-registry serving on 127.0.0.1:$port"

skopeo copy -q --dest-tls-verify=false "oci:$oci:$tag" "docker://$ref" \
    || fail "skopeo copy oci:$oci:$tag docker://$ref"
ok "pushed oci:$oci:$tag to docker://$ref"

# --- 2. What the registry serves -----------------------------------------
skopeo inspect --tls-verify=false "docker://$ref" > "$work/inspect.json"
skopeo inspect --tls-verify=false --raw "docker://$ref" > "$work/manifest.json"
skopeo inspect --tls-verify=false --config "docker://$ref" > "$work/config.json"
cfg() { jq -c "$1" "$work/config.json"; }

# The Dockerfile's final stage, instruction by instruction (continuation
# lines joined).
dockerfile="$root/deploy/Dockerfile"
instructions="$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | grep -v '^[[:space:]]*#')"
final="$(printf '%s\n' "$instructions" | awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}')"
instr() { printf '%s\n' "$final" | sed -n "s/^$1[[:space:]]\{1,\}//p" | tail -n 1; }

[ "$(printf '%s\n' "$final" | sed -n 's/^FROM[[:space:]]\{1,\}//p')" = scratch ] \
    || fail "deploy/Dockerfile's final stage is not FROM scratch"
printf '%s\n' "$instructions" | grep -q 'scripts/image-rootfs\.sh' \
    || fail "deploy/Dockerfile does not lay out its root filesystem with scripts/image-rootfs.sh"

[ "$(cfg .config.User)" = '"65532:65532"' ] || fail "user is $(cfg .config.User), not 65532:65532"
[ "\"$(instr USER)\"" = "$(cfg .config.User)" ] \
    || fail "deploy/Dockerfile says USER $(instr USER), the image $(cfg .config.User)"
ok "user $(cfg .config.User) (deploy/Dockerfile: USER $(instr USER))"

[ "$(cfg .config.Entrypoint)" = '["/usr/local/bin/guardian"]' ] \
    || fail "entrypoint is $(cfg .config.Entrypoint)"
[ "$(instr ENTRYPOINT | jq -c .)" = "$(cfg .config.Entrypoint)" ] \
    || fail "deploy/Dockerfile says ENTRYPOINT $(instr ENTRYPOINT), the image $(cfg .config.Entrypoint)"
[ "$(instr CMD | jq -c .)" = "$(cfg .config.Cmd)" ] \
    || fail "deploy/Dockerfile says CMD $(instr CMD), the image $(cfg .config.Cmd)"
ok "entrypoint $(cfg .config.Entrypoint), cmd $(cfg .config.Cmd) (as deploy/Dockerfile)"

[ "$(cfg .os)/$(cfg .architecture)" = '"linux"/"amd64"' ] \
    || fail "platform is $(cfg .os)/$(cfg .architecture), not linux/amd64"
[ "$(cfg '.config.WorkingDir // ""' | jq -r .)" = "$(instr WORKDIR)" ] \
    || fail "deploy/Dockerfile's final stage says WORKDIR '$(instr WORKDIR)', the image '$(cfg .config.WorkingDir)'"
# ENV KEY=VALUE lines (one variable each) in the Dockerfile's final stage.
dockerfile_env="$(printf '%s\n' "$final" | sed -n 's/^ENV[[:space:]]\{1,\}//p' | jq -R . | jq -sc .)"
[ "$(cfg '.config.Env // []')" = "$dockerfile_env" ] \
    || fail "deploy/Dockerfile's final stage sets ENV $dockerfile_env, the image $(cfg .config.Env)"
ok "environment $(cfg .config.Env), no working directory (as deploy/Dockerfile)"

# Labels: the image's against Cargo.toml, and their names and literal values
# against the Dockerfile's LABEL (its ${VERSION} and ${REVISION} are build
# arguments).
label() { jq -r --arg k "org.opencontainers.image.$1" '.config.Labels[$k] // ""' "$work/config.json"; }
[ "$(label title)" = guardian ] || fail "label title is '$(label title)', not guardian"
[ "$(label version)" = "$version" ] || fail "label version is '$(label version)', Cargo.toml says $version"
[ "$(label source)" = "$source_url" ] || fail "label source is '$(label source)', Cargo.toml says $source_url"
[ "$(label licenses)" = "$licenses" ] || fail "label licenses is '$(label licenses)', Cargo.toml says $licenses"
[ -n "$(label revision)" ] && [ "$(label revision)" != unknown ] \
    || fail "label revision is '$(label revision)': build from a Git checkout"
dockerfile_labels="$(printf '%s\n' "$final" | sed -n 's/^LABEL[[:space:]]\{1,\}//p' \
    | grep -o '[A-Za-z0-9_.-]\{1,\}="[^"]*"' | sort)"
image_labels="$(jq -r '.config.Labels | to_entries[] | "\(.key)=\"\(.value)\""' "$work/config.json" | sort)"
[ -n "$dockerfile_labels" ] || fail "deploy/Dockerfile's final stage has no LABEL"
[ "$(printf '%s\n' "$dockerfile_labels" | cut -d= -f1)" = "$(printf '%s\n' "$image_labels" | cut -d= -f1)" ] \
    || fail "label names differ: deploy/Dockerfile has $(printf '%s\n' "$dockerfile_labels" | cut -d= -f1 | xargs), the image $(printf '%s\n' "$image_labels" | cut -d= -f1 | xargs)"
while IFS= read -r line; do
    case "$line" in
        *'${'*) continue ;;
    esac
    printf '%s\n' "$image_labels" | grep -qxF "$line" \
        || fail "deploy/Dockerfile sets LABEL $line, the image does not"
done <<< "$dockerfile_labels"
dockerfile_version="$(printf '%s\n' "$instructions" | sed -n 's/^ARG VERSION=//p' | tail -n 1)"
[ "$dockerfile_version" = "$version" ] \
    || fail "deploy/Dockerfile's ARG VERSION default is '$dockerfile_version', Cargo.toml says $version"
ok "labels $(jq -c .config.Labels "$work/config.json")"

# --- 3. The root filesystem, pulled back from the registry ---------------
skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/pulled:$tag" \
    || fail "skopeo copy docker://$ref back to an OCI layout"
rootless=()
if [ "$(id -u)" -ne 0 ]; then rootless=(--rootless); fi
umoci unpack "${rootless[@]}" --image "$work/pulled:$tag" "$work/bundle" >/dev/null \
    || fail "umoci unpack of the pulled image"
rootfs="$work/bundle/rootfs"
[ "$(jq '.layers | length' "$work/manifest.json")" = 1 ] \
    || fail "expected one layer, the manifest has $(jq '.layers | length' "$work/manifest.json")"
layer_digest="$(jq -r '.layers[0].digest' "$work/manifest.json")"
layer="$work/pulled/blobs/${layer_digest%%:*}/${layer_digest#*:}"
# Every entry of the layer: type, mode, owner, path.
tar -tvzf "$layer" \
    | awk '{ p = $NF; sub(/^\.\//, "", p); sub(/\/$/, "", p); if (p == "") p = "."
             print substr($1, 1, 1), $1, $2, p }' \
    | LC_ALL=C sort -k4,4 > "$work/entries"
expected="$(cat <<'EOF'
d drwxr-xr-x 0/0 .
d drwxr-xr-x 0/0 etc
- -rw-r--r-- 0/0 etc/group
- -rw-r--r-- 0/0 etc/passwd
d drwxr-xr-x 0/0 etc/ssl
d drwxr-xr-x 0/0 etc/ssl/certs
- -rw-r--r-- 0/0 etc/ssl/certs/ca-certificates.crt
d drwxrwxrwt 0/0 tmp
d drwxr-xr-x 0/0 usr
d drwxr-xr-x 0/0 usr/local
d drwxr-xr-x 0/0 usr/local/bin
- -rwxr-xr-x 0/0 usr/local/bin/guardian
EOF
)"
if [ "$(cat "$work/entries")" != "$expected" ]; then
    echo "check-image: the layer holds:" >&2
    cat "$work/entries" >&2
    fail "the layer is not exactly the files scripts/image-rootfs.sh lays out"
fi
for path in bin/sh bin/bash bin/busybox usr/bin/apt usr/bin/dpkg sbin/apk lib/ld-musl-x86_64.so.1 lib64/ld-linux-x86-64.so.2; do
    [ ! -e "$rootfs/$path" ] && [ ! -L "$rootfs/$path" ] || fail "/$path is in the image"
done
ok "root filesystem: $(wc -l < "$work/entries") entries, exactly the expected ones; no /bin/sh, no package manager, no dynamic loader"
grep -qx 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' "$rootfs/etc/passwd" \
    || fail "/etc/passwd does not name uid 65532: $(cat "$rootfs/etc/passwd")"
grep -qx 'nonroot:x:65532:' "$rootfs/etc/group" || fail "/etc/group does not name gid 65532"
[ "$(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt")" -gt 0 ] \
    || fail "/etc/ssl/certs/ca-certificates.crt holds no certificate"
ok "/etc/passwd and /etc/group name nonroot 65532; $(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt") CA certificates"

# --- 4. The binary ---------------------------------------------------------
binary="$rootfs/usr/local/bin/guardian"
kind="$(file -b "$binary")"
case "$kind" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) fail "/usr/local/bin/guardian is not statically linked: $kind" ;;
esac
if command -v readelf >/dev/null 2>&1 && readelf -d "$binary" 2>/dev/null | grep -q NEEDED; then
    fail "/usr/local/bin/guardian needs shared libraries: $(readelf -d "$binary" | grep NEEDED)"
fi
ok "/usr/local/bin/guardian: $kind"

# Inside the image's root filesystem only, as the image's user, with an empty
# environment (as a container without the Deployment's variables), and /tmp
# for the compile cache.
if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null 2>&1; then
    chroot="$(command -v chroot)"
    run() { env -i "$chroot" --userspec=65532:65532 "$rootfs" /usr/local/bin/guardian "$@"; }
    where="chroot $rootfs, uid 65532"
else
    run() { (cd "$rootfs" && env -i "$binary" "$@"); }
    where="unpacked tree, not confined (not root)"
fi
out="$(run version 2>&1)" || fail "guardian version ($where): $out"
[ "$out" = "guardian $version" ] || fail "guardian version printed '$out', expected 'guardian $version'"
ok "guardian version ($where): $out"
out="$(run --cache-dir /tmp/compiled skills list 2>&1)" \
    || fail "guardian skills list ($where): $out"
for skill in cluster diagnostics; do
    printf '%s\n' "$out" | grep -qw "$skill" \
        || fail "guardian skills list ($where) does not list the built-in skill $skill: $out"
done
ok "guardian skills list ($where): $(printf '%s\n' "$out" | wc -l) lines, lists the built-in skills"

# The whole path, skills run by the static binary: diagnose the example
# snapshot, copied into the unpacked tree's /tmp.
cp -R "$root/examples/staging" "$rootfs/tmp/staging"
chmod -R a+rX "$rootfs/tmp/staging"
mkdir -m 0700 "$rootfs/tmp/state"
chown 65532:65532 "$rootfs/tmp/state" 2>/dev/null || true
set +e
run --cache-dir /tmp/compiled --state-dir /tmp/state --audit /tmp/state/audit.jsonl \
    diagnose -A --snapshot /tmp/staging -o json > "$work/diagnose.json" 2> "$work/diagnose.err"
status=$?
set -e
# 0: no finding at or above --fail-on; 3: some (docs/diagnostics.md).
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] \
    || fail "guardian diagnose --snapshot examples/staging ($where) exited $status: $(cat "$work/diagnose.err")"
findings=$(jq '.findings | length' "$work/diagnose.json") \
    || fail "guardian diagnose printed no JSON report: $(head -c 500 "$work/diagnose.json")"
[ "$findings" -gt 0 ] || fail "guardian diagnose found nothing in examples/staging ($where)"
ok "guardian diagnose -A --snapshot examples/staging ($where): $findings findings"

# --- 5. Sizes --------------------------------------------------------------
compressed=$(jq '([.layers[].size] | add) + .config.size' "$work/manifest.json") # layers + config
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
binary_bytes=$(stat -c %s "$binary")
layer_uncompressed=$(gzip -dc "$layer" | wc -c)
echo "check-image: image $ref: compressed $compressed bytes ($(mib "$compressed")), layer uncompressed $layer_uncompressed bytes ($(mib "$layer_uncompressed"))"
echo "check-image: binary /usr/local/bin/guardian: $binary_bytes bytes ($(mib "$binary_bytes"))"
echo "check-image: digest $(jq -r .Digest "$work/inspect.json")"
echo "check-image: all checks passed"
