#!/usr/bin/env bash
# `guardian argocd apps -A` on 500 Argo CD Applications in a real
# kube-apiserver: wall time, peak RSS, and the API requests it made (counted
# by the API server), next to `kubectl get applications -A -o json`.
# Usage: scripts/bench-argocd.sh [bench-argocd options]   (--apps N, --runs R, …)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q -p guardian-cli
cargo build --release -q -p guardian-tests --example bench-argocd
exec target/release/examples/bench-argocd "$@"
