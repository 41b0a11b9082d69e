#!/usr/bin/env bash
# Right-sizing against a real Prometheus holding N workloads × 14 days of
# 5-minute cAdvisor/kube-state-metrics history: data size, promtool time,
# and per run wall time, peak RSS, Prometheus queries and bytes read.
# Usage: scripts/bench-rightsize.sh [--with-5000] [bench-rightsize options]
#   e.g. scripts/bench-rightsize.sh --command "target/release/guardian rightsize -A --snapshot {snapshot} --prometheus {url} -o json"
# Sizes 100 and 1000 by default; --with-5000 adds 5000 (about 5 GB of
# OpenMetrics text a day, written and loaded a day at a time under
# target/bench-rightsize, deleted after).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="100,1000"
args=()
for a in "$@"; do
    if [ "$a" = "--with-5000" ]; then sizes="100,1000,5000"; else args+=("$a"); fi
done
bash scripts/setup.sh
cargo build --release -q -p guardian-tests --example bench-rightsize
exec target/release/examples/bench-rightsize --sizes "$sizes" ${args[@]+"${args[@]}"}
