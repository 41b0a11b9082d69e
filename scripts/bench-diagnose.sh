#!/usr/bin/env bash
# Wall time and peak RSS of `guardian diagnose -A --snapshot DIR -o json` on
# generated snapshots of 1k / 5k / 20k pods (see docs/benchmarks.md).
# Usage: scripts/bench-diagnose.sh [bench-diagnose options]
#   e.g. scripts/bench-diagnose.sh --runs 10 --sizes 5000 --keep /tmp/guardian-bench
# Builds the release guardian and the generator/bench binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p guardian-cli
cargo build --release -q -p guardian-tests --example gen-snapshot --example bench-diagnose
exec target/release/examples/bench-diagnose --guardian target/release/guardian "$@"
