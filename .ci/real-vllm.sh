#!/usr/bin/env bash
# End-to-end suite against the REAL vLLM OpenAI server (CPU build, tiny random model):
# installs vLLM into a cache folder outside the checkout (once; ~4 min, 3.5 GB), builds the
# tiny model (once), then runs tests/real_vllm.rs, which drives the real binary with
# `provider: local` and `--server-url`. Called by .ci/run.
#
#   LLM_INF_BENCH_CACHE             cache folder (default ~/.cache/llm-inf-bench)
#   REAL_VLLM_SETUP_DIR             folder of setup.sh / make_tiny_model.py (default scripts/real-vllm)
#   LLM_INF_BENCH_SKIP_REAL_VLLM=1  skip the suite (says so; refused when CI=true)
#
# With CI=true every problem fails: an install failure, a model build failure, a failed test,
# zero tests run, a server left running. Outside CI an install failure skips the suite and
# says why. It always prints how many real-engine tests ran.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
start=$(date +%s)
TAG=real-vllm
say() { echo "[$TAG] $*"; }

if [ "${LLM_INF_BENCH_SKIP_REAL_VLLM:-}" = 1 ]; then
  ci_skip_or_fail "$TAG" "LLM_INF_BENCH_SKIP_REAL_VLLM=1"
fi
SETUP=${REAL_VLLM_SETUP_DIR:-scripts/real-vllm}
[ -f "$SETUP/setup.sh" ] || { say "FAILED: $SETUP/setup.sh not found"; exit 1; }
CACHE=${LLM_INF_BENCH_CACHE:-$HOME/.cache/llm-inf-bench}
VENV=$CACHE/vllm-cpu
MODEL=$CACHE/tiny-model
mkdir -p "$CACHE"

# 1. vLLM (returns at once when the venv already works).
say "installing vLLM into $VENV (reused when present)"
if ! bash "$SETUP/setup.sh" "$VENV"; then
  ci_skip_or_fail "$TAG" "installing vLLM with $SETUP/setup.sh failed (its output is above)"
fi

# 2. The tiny model (cached; built in a temporary folder so a failed build is not reused).
if [ ! -f "$MODEL/config.json" ]; then
  say "building the tiny model into $MODEL"
  rm -rf "$MODEL.tmp"
  if ! "$VENV/bin/python" "$SETUP/make_tiny_model.py" "$MODEL.tmp"; then
    ci_skip_or_fail "$TAG" "building the tiny model with $SETUP/make_tiny_model.py failed"
  fi
  rm -rf "$MODEL"
  mv "$MODEL.tmp" "$MODEL"
fi

# 3. The suite. Every server it starts carries REAL_VLLM_MARK in its environment, so any
#    survivor is found afterwards (and cannot be confused with another user's vLLM).
mark="ci-$$-$(date +%s)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
say "running tests/real_vllm.rs (one vLLM server at a time)"
status=0
REAL_VLLM_VENV=$VENV REAL_VLLM_MODEL=$MODEL REAL_VLLM_MARK=$mark \
  cargo test --locked --test real_vllm -- --ignored --test-threads=1 --nocapture \
  | tee "$out" || status=$?
ran=$(ci_count_tests <"$out")
ci_reap_leftovers "$TAG" REAL_VLLM_MARK "$mark" || status=1
say "$ran real-engine tests ran"
if [ "$ran" -eq 0 ]; then
  say "FAILED: no real-engine test ran"; status=1
fi
say "finished in $(( $(date +%s) - start )) s (status $status)"
exit "$status"
