#!/usr/bin/env bash
# Installs what building and testing Guardian needs beyond a Rust toolchain:
# the wasm32-wasip2 target (skills are WebAssembly components), protoc
# (the gRPC API), Prometheus (the right-sizing tests), Debian's
# docker-registry and openssl (the GitOps tests), and the image tools
# (scripts/build-image.sh: musl, umoci, skopeo, docker-registry). Safe to run again;
# does nothing that is already done.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 target" >&2
    rustup target add wasm32-wasip2
fi

if ! command -v protoc >/dev/null 2>&1; then
    echo "setup: installing protoc (protobuf-compiler)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq protobuf-compiler >/dev/null
    elif command -v brew >/dev/null 2>&1; then
        brew install protobuf
    else
        echo "setup: please install protoc (protobuf-compiler) with your package manager" >&2
        exit 1
    fi
fi

# A real Alertmanager for the investigation tests: `prometheus-alertmanager`
# sends webhooks to `guardian serve`. Without it those tests say they were
# skipped.
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
    echo "setup: installing prometheus-alertmanager" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
        # The tests start their own on loopback ports; the package's system
        # service (all interfaces, port 9093) is not wanted.
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
        fi
    elif command -v brew >/dev/null 2>&1; then
        brew install alertmanager
    else
        echo "setup: please install Alertmanager with your package manager" >&2
        exit 1
    fi
fi

# A real Prometheus for the right-sizing tests: `prometheus` serves usage
# history that `promtool tsdb create-blocks-from openmetrics` writes. Without
# it those tests say they were skipped.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "setup: installing prometheus (prometheus, promtool)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
        # The tests start their own servers on loopback ports; the package's
        # system service (all interfaces, port 9090) is not wanted.
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
        fi
    elif command -v brew >/dev/null 2>&1; then
        brew install prometheus
    else
        echo "setup: please install prometheus (with promtool) with your package manager" >&2
        exit 1
    fi
fi

# A real browser for the web console's tests: Debian's headless Chromium,
# driven through WebDriver by chromedriver (package chromium-driver). Without
# them those tests say they were skipped (CI requires them).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "setup: installing the browser for the console tests (chromium, chromium-driver)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "setup: please install chromium and its chromedriver with your package manager" >&2
        exit 1
    fi
fi

# A real OCI registry for the GitOps tests (image tags from the registry):
# Debian's docker-registry (CNCF distribution), started on loopback ports by
# the tests with token auth; openssl makes the token signer's certificate.
# Without them those tests say they were skipped (CI requires them).
# The GitOps tests also serve repositories with git's own http-backend.
registry_tools=""
if [ ! -x /usr/lib/git-core/git-http-backend ]; then registry_tools=" git"; fi
for pair in docker-registry:docker-registry openssl:openssl; do
    if ! command -v "${pair%%:*}" >/dev/null 2>&1; then registry_tools="$registry_tools ${pair#*:}"; fi
done
if [ -n "$registry_tools" ]; then
    echo "setup: installing the registry for the tests:$registry_tools" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $registry_tools >/dev/null
        # The tests start their own registries on loopback ports; the
        # package's system service (all interfaces, port 5000) is not wanted.
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
        fi
    else
        echo "setup: please install$registry_tools with your package manager" >&2
        exit 1
    fi
fi

# An SSH server for the GitOps tests of SSH keys (a fetch and a push over
# ssh://, host keys checked): Debian's OpenSSH server, started by the tests
# on a loopback port with their own configuration. The package's system
# service (port 22, all interfaces) is not wanted.
if [ ! -x /usr/sbin/sshd ]; then
    echo "setup: installing openssh-server (the GitOps SSH tests)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable --now ssh >/dev/null 2>&1 || true
        fi
    else
        echo "setup: please install an OpenSSH server (sshd) with your package manager" >&2
        exit 1
    fi
fi

# The container image without a container engine (scripts/build-image.sh,
# scripts/check-image.sh; run by hand, not by the tests): the musl target and
# musl-gcc for a static binary, umoci to assemble the OCI image, skopeo and
# Debian's docker-registry to push it to a loopback registry and inspect it
# there, jq and file for the checks.
if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
    echo "setup: adding the x86_64-unknown-linux-musl target" >&2
    # Not needed by the tests: a failure here is said, not fatal.
    rustup target add x86_64-unknown-linux-musl ||
        echo "setup: could not add the musl target; scripts/build-image.sh needs it" >&2
fi
image_tools=""
for pair in musl-gcc:musl-tools umoci:umoci skopeo:skopeo jq:jq file:file; do
    if ! command -v "${pair%%:*}" >/dev/null 2>&1; then image_tools="$image_tools ${pair#*:}"; fi
done
if [ -n "$image_tools" ]; then
    echo "setup: installing the image tools:$image_tools" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        # Not needed by the tests: a failure here is said, not fatal.
        # shellcheck disable=SC2086 # one word per package
        if ! { $sudo apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $image_tools >/dev/null; }; then
            echo "setup: could not install$image_tools; scripts/build-image.sh and check-image.sh need them" >&2
        fi
        # check-image.sh starts its own registry on a loopback port; the
        # package's system service (all interfaces, port 5000) is not wanted.
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
        fi
    else
        echo "setup: please install$image_tools (for scripts/build-image.sh and check-image.sh) with your package manager" >&2
    fi
fi

# A real kube-apiserver and etcd for the live-path tests (the envtest
# convention: the tests read KUBEBUILDER_ASSETS, else target/kubebuilder-assets).
# Unpacked from ../shared/k8s when that folder exists beside the checkout;
# without it those tests say they were skipped.
root="$(cd "$(dirname "$0")/.." && pwd)"
k8s="$root/../shared/k8s"
assets="$root/target/kubebuilder-assets"
if [ -f "$k8s/kube-apiserver.xz" ] && [ -f "$k8s/etcd.xz" ]; then
    for bin in kube-apiserver etcd; do
        if [ ! -x "$assets/$bin" ] || [ "$k8s/$bin.xz" -nt "$assets/$bin" ]; then
            echo "setup: unpacking $bin into target/kubebuilder-assets" >&2
            mkdir -p "$assets"
            xz -dc "$k8s/$bin.xz" > "$assets/$bin.tmp"
            chmod 0755 "$assets/$bin.tmp"
            mv "$assets/$bin.tmp" "$assets/$bin"
        fi
    done
fi

# The official MCP Python SDK (PyPI `mcp`), in a venv under target/: the
# serve tests talk to `guardian mcp` and `guardian serve` with a client that
# is not Guardian's own code. Skipped (the tests say so) without python3.
if command -v python3 >/dev/null 2>&1; then
    venv="$(cd "$(dirname "$0")/.." && pwd)/target/py"
    if ! "$venv/bin/python" -c 'import mcp' >/dev/null 2>&1; then
        echo "setup: installing the MCP Python SDK into target/py" >&2
        mkdir -p "$(dirname "$venv")"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            # Debian and Ubuntu ship venv separately.
            echo "setup: installing python3-venv" >&2
            rm -rf "$venv"
            sudo=""
            if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
            if command -v apt-get >/dev/null 2>&1; then
                $sudo apt-get update -qq
                DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
            fi
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install -q 'mcp>=1.9,<2'
    fi
fi
