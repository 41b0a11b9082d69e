#!/usr/bin/env bash
# Installs what building and testing Guardian needs beyond a Rust toolchain:
# the wasm32-wasip2 target (skills are WebAssembly components) and protoc
# (the gRPC API). Safe to run again; does nothing that is already done.
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
