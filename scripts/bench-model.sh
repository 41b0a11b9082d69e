#!/usr/bin/env bash
# Model mode with a real small model on this machine: starts llama.cpp's
# server with Qwen2.5-Coder-1.5B-Instruct (shared/llm/start-local-llm.sh; the
# first start compiles llama.cpp, 7-15 min), builds guardian, and runs
# `guardian eval --mode llm` on a few questions twice: without and with
# Guardian's brief (--assist). Prints both tables with each question's
# tokens (prompt + completion) and wall time, and keeps the JSON reports.
# Not part of .ci/run. See docs/agent.md ("A real small model").
#
# usage: scripts/bench-model.sh [CORPUS]      CORPUS defaults to tests/questions
#                                             (else tests/scenarios)
# env:   SAMPLE    of a question corpus: how many questions [12]
# env:   ONLY      space-separated folder-name parts of the questions to run
#                  (default: five scenarios of different kinds)
#        LIMIT     with a corpus `guardian eval` can limit (--limit N): N
#        PORT      the model server's port [8088]; a server already up there is used
#        LLM_SCRIPT what starts the model [scripts/local-llm.sh]
#        MAX_TOKENS per completion [512]   MAX_TOOL_CALLS per question [6]
#        TOOL_KIB  KiB of one tool result in the context [8]
#        TIMEOUT   seconds per question [420]
#        OUT       where the reports go [target/bench-model]
#        PROFILE   cargo profile for guardian [dev]
#        RUNS      which runs: "plain assist" [both]
# A run of the default five questions takes ~15-30 min on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

CORPUS=${1:-}
if [ -z "$CORPUS" ]; then
  if [ -d tests/questions ]; then CORPUS=tests/questions; else CORPUS=tests/scenarios; fi
fi
[ -d "$CORPUS" ] || { echo "bench-model: no corpus at $CORPUS" >&2; exit 2; }
PORT=${PORT:-8088}
LLM_SCRIPT=${LLM_SCRIPT:-$REPO/scripts/local-llm.sh}
MAX_TOKENS=${MAX_TOKENS:-512}
MAX_TOOL_CALLS=${MAX_TOOL_CALLS:-6}
TOOL_KIB=${TOOL_KIB:-8}
TIMEOUT=${TIMEOUT:-420}
OUT=${OUT:-$REPO/target/bench-model}
PROFILE=${PROFILE:-dev}
if [ "$CORPUS" = tests/scenarios ] && [ -z "${ONLY+x}" ]; then
  ONLY="05-missing-secret-key 10-oomkilled 13-readiness-wrong-port 18-service-selector 34-healthy-web-app"
fi
mkdir -p "$OUT"

log() { echo "[bench-model] $*" >&2; }

# 1. The model.
if curl -sf --max-time 2 "http://127.0.0.1:$PORT/health" | grep -q '"ok"'; then
  log "a model server is already up on port $PORT"
  LLM_BASE_URL=http://127.0.0.1:$PORT/v1
  LLM_MODEL=$(curl -sf --max-time 5 "$LLM_BASE_URL/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
else
  [ -x "$LLM_SCRIPT" ] || { echo "bench-model: $LLM_SCRIPT not found: set LLM_SCRIPT to start-local-llm.sh" >&2; exit 2; }
  log "starting the model ($LLM_SCRIPT $PORT; the first start compiles llama.cpp)"
  eval "$("$LLM_SCRIPT" "$PORT")"
fi
log "model $LLM_MODEL at $LLM_BASE_URL"

# 2. Guardian.
log "building guardian ($PROFILE)"
CARGO_INCREMENTAL=0 cargo build -q --profile "$PROFILE" -p guardian-cli
case "$PROFILE" in dev) BIN=target/debug/guardian ;; *) BIN=target/$PROFILE/guardian ;; esac

# 3. The questions: a corpus of links to the chosen folders; of a question
# corpus (clusters with questions.yaml), a sample of SAMPLE questions spread
# over the clusters, the first cluster's first five always in.
SELECTED=$CORPUS
if ls "$CORPUS"/*/questions.yaml >/dev/null 2>&1; then
  SELECTED=$(mktemp -d "${TMPDIR:-/tmp}/bench-model-corpus.XXXXXX")
  trap 'rm -rf "$SELECTED"' EXIT
  python3 - "$REPO/$CORPUS" "$SELECTED" "${SAMPLE:-12}" <<'PY'
import os, sys, yaml
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
clusters = sorted(d for d in os.listdir(src) if os.path.isfile(os.path.join(src, d, "questions.yaml")))
qs = {c: yaml.safe_load(open(os.path.join(src, c, "questions.yaml"))) for c in clusters}
picked = {c: [] for c in clusters}
first = clusters[0]
picked[first] = qs[first][:5]
rest = [(c, q) for c in clusters for q in qs[c] if q not in picked[c]]
step = max(1, len(rest) // max(1, n - 5))
for c, q in rest[::step][: max(0, n - 5)]:
    picked[c].append(q)
for c in clusters:
    if not picked[c]:
        continue
    os.makedirs(os.path.join(dst, c))
    os.symlink(os.path.join(src, c, "snapshot"), os.path.join(dst, c, "snapshot"))
    with open(os.path.join(dst, c, "questions.yaml"), "w") as f:
        yaml.safe_dump(picked[c], f, sort_keys=False)
PY
elif [ -n "${ONLY:-}" ]; then
  SELECTED=$(mktemp -d "${TMPDIR:-/tmp}/bench-model-corpus.XXXXXX")
  trap 'rm -rf "$SELECTED"' EXIT
  for part in $ONLY; do
    found=0
    for dir in "$REPO/$CORPUS"/*"$part"*/; do
      [ -d "$dir" ] || continue
      ln -s "${dir%/}" "$SELECTED/$(basename "$dir")"
      found=1
    done
    [ "$found" = 1 ] || { echo "bench-model: no folder in $CORPUS matches $part" >&2; exit 2; }
  done
fi
LIMIT_FLAG=()
if [ -n "${LIMIT:-}" ]; then
  "$BIN" eval --help | grep -q -- '--limit' || { echo "bench-model: this guardian eval has no --limit" >&2; exit 2; }
  LIMIT_FLAG=(--limit "$LIMIT")
fi

CONFIG=$OUT/config.yaml
cat >"$CONFIG" <<EOF
llm:
  temperature: 0
  max_tokens: $MAX_TOKENS
agent:
  max_tool_calls: $MAX_TOOL_CALLS
  tool_output_kib: $TOOL_KIB
  timeout_seconds: $TIMEOUT
  llm_timeout_seconds: 300
  max_retries: 1
EOF

run() { # NAME [FLAGS…]
  local name=$1; shift
  local started=$SECONDS
  log "eval $name: $(ls "$SELECTED" | wc -l) questions"
  "$BIN" --config "$CONFIG" eval "$SELECTED" --mode llm --model "$LLM_MODEL" \
    --base-url "$LLM_BASE_URL" "${LIMIT_FLAG[@]}" -o json "$@" >"$OUT/$name.json"
  log "eval $name took $((SECONDS - started)) s"
}
case " ${RUNS:-plain assist} " in *" plain "*) run plain ;; esac
case " ${RUNS:-plain assist} " in *" assist "*) run assist --assist ;; esac

table() { # FILE TITLE
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\n{sys.argv[2]} — model {r.get('model')}")
print(f"{'QUESTION':<40} {'CORRECT':>7} {'FIX':>4} {'SAFE':>4} {'LLM':>4} {'TOOLS':>5} {'PROMPT':>7} {'COMPL':>6} {'WALL S':>7}")
for s in r["scenarios"]:
    yn = lambda b: "-" if b is None else ("yes" if b else "NO")
    print(f"{s['scenario'][:40]:<40} {yn(s['correct']):>7} {yn(s['fix_accurate']):>4} {yn(s['safe']):>4} "
          f"{s.get('llm_calls', 0):>4} {s['tool_calls']:>5} {s.get('prompt_tokens', 0):>7} "
          f"{s.get('completion_tokens', 0):>6} {s['wall_ms'] / 1000:>7.1f}")
m = r["summary"]
wall = sum(s["wall_ms"] for s in r["scenarios"]) / 1000
print(f"correct {m['correct']}/{m['scenarios']}, fix accurate {m['fixes_accurate']}/{m['fixes_expected']}, "
      f"safe {m['safe']}/{m['scenarios']}; {m['tokens_total']} tokens, {wall:.0f} s in all")
for s in r["scenarios"]:
    for p in s["problems"]:
        print(f"  {s['scenario']}: {p[:160]}")
PY
}
qtable() { # FILE TITLE: a question corpus's report
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\n{sys.argv[2]} — model {r.get('model')}")
print(f"{'QUESTION':<58} {'VERDICT':<16} {'BY':<8} {'LLM':>4} {'TOOLS':>5} {'PROMPT':>7} {'COMPL':>6} {'WALL S':>7}")
# BY: who wrote the answer — the model, Guardian's own analysis when the
# model gave none (--assist), or nobody.
def by(s):
    a = s.get("answer", "")
    if a.startswith("The model gave no answer"):
        return "guardian"
    return "none" if a.startswith("No answer") else "model"
for s in r["questions"]:
    print(f"{s['question'][:58]:<58} {s['verdict']:<16} {by(s):<8} {s.get('llm_calls', 0):>4} {s['tool_calls']:>5} "
          f"{s.get('prompt_tokens', 0):>7} {s.get('completion_tokens', 0):>6} {s['wall_ms'] / 1000:>7.1f}")
m = r["summary"]
wall = sum(s["wall_ms"] for s in r["questions"]) / 1000
right = lambda s: s["verdict"] in ("correct", "honest-negative")
own = sum(1 for s in r["questions"] if by(s) == "model" and right(s))
print(f"{m['correct']} correct, {m['honest_negative']} honest negatives, {m['wrong']} wrong, "
      f"{m['false_all_clear']} false all-clears of {m['questions']}; {m['tokens_total']} tokens, {wall:.0f} s in all")
print(f"  answered right by the model itself: {own}; by Guardian's own analysis after the model gave none: "
      f"{sum(1 for s in r['questions'] if by(s) == 'guardian' and right(s))}")
for s in r["questions"]:
    for p in s["problems"]:
        print(f"  {s['question'][:50]}: {p[:160]}")
PY
}
for name in plain assist; do
  case " ${RUNS:-plain assist} " in *" $name "*) ;; *) continue ;; esac
  title="Without Guardian's help"
  [ "$name" = assist ] && title="With Guardian's brief (--assist)"
  if python3 -c 'import json,sys; sys.exit(0 if "questions" in json.load(open(sys.argv[1])) else 1)' "$OUT/$name.json"; then
    qtable "$OUT/$name.json" "$title"
  else
    table "$OUT/$name.json" "$title"
  fi
done
echo
echo "Reports: $OUT/"
