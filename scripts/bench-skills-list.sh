#!/usr/bin/env bash
# Wall time of `guardian skills list`: cold compile cache vs warm.
# Usage: scripts/bench-skills-list.sh [RUNS]   (builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release -q -p guardian-cli
bin=target/release/guardian
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }

cold=()
for _ in $(seq "$runs"); do
    rm -rf "$cache"/*
    cold+=("$(ms "$bin" --cache-dir "$cache" --config /dev/null skills list)")
done
"$bin" --cache-dir "$cache" --config /dev/null skills list >/dev/null
warm=()
for _ in $(seq "$runs"); do
    warm+=("$(ms "$bin" --cache-dir "$cache" --config /dev/null skills list)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "skills list, cold cache: median $(median "${cold[@]}") ms over $runs runs (${cold[*]})"
echo "skills list, warm cache: median $(median "${warm[@]}") ms over $runs runs (${warm[*]})"
