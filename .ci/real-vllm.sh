#!/usr/bin/env bash
# End-to-end suite against the REAL vLLM OpenAI server (CPU build, tiny random model):
# installs vLLM into a cache folder outside the checkout (once; ~4 min, 3.5 GB), builds the
# tiny model (once), then runs tests/real_vllm.rs, which drives the real binary with
# `provider: local` and `--server-url`. Called by .ci/run.
#
#   LLM_INF_BENCH_CACHE          cache folder (default ~/.cache/llm-inf-bench)
#   REAL_VLLM_SETUP_DIR          folder of setup.sh / make_tiny_model.py (default ../shared/real-vllm)
#   LLM_INF_BENCH_SKIP_REAL_VLLM=1  skip the suite (says so)
#
# If the package registry cannot be reached, the suite is SKIPPED (exit 0) and says why;
# any other failure fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "[real-vllm] $*"; }

if [ "${LLM_INF_BENCH_SKIP_REAL_VLLM:-}" = 1 ]; then
  say "SKIPPED: LLM_INF_BENCH_SKIP_REAL_VLLM=1"; exit 0
fi
# Beside the checkout; a worktree deeper down finds the session's copy.
SHARED=${REAL_VLLM_SETUP_DIR:-../shared/real-vllm}
[ -f "$SHARED/setup.sh" ] || [ ! -f /work/shared/real-vllm/setup.sh ] || SHARED=/work/shared/real-vllm
if [ ! -f "$SHARED/setup.sh" ]; then
  say "FAILED: $SHARED/setup.sh not found (expected beside the checkout)"; exit 1
fi
CACHE=${LLM_INF_BENCH_CACHE:-$HOME/.cache/llm-inf-bench}
VENV=$CACHE/vllm-cpu
MODEL=$CACHE/tiny-model
mkdir -p "$CACHE"

# 1. vLLM (returns at once when the venv already works).
setup_log=$(mktemp)
trap 'rm -f "$setup_log"' EXIT
say "installing vLLM into $VENV (reused when present)"
if ! bash "$SHARED/setup.sh" "$VENV" 2>&1 | tee "$setup_log"; then
  index=${PIP_INDEX_URL:-https://pypi.org/simple/}
  network_error='NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|ReadTimeoutError|Connection refused|ProxyError|SSLError|Max retries exceeded'
  if grep -qE "$network_error" "$setup_log" ||
     ! python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=15)" "$index" 2>/dev/null; then
    say "SKIPPED: the package registry ($index) cannot be reached, so vLLM could not be installed."
    say "The end-to-end tests against the real vLLM did NOT run. Everything else in CI did."
    grep -E "$network_error" "$setup_log" | tail -n 3 | sed 's/^/[real-vllm]   /' || true
    exit 0
  fi
  say "FAILED: installing vLLM failed for a reason other than the network (see above)"; exit 1
fi

# 2. The tiny model (cached; built in a temporary folder so a failed build is not reused).
if [ ! -f "$MODEL/config.json" ]; then
  say "building the tiny model into $MODEL"
  rm -rf "$MODEL.tmp"
  "$VENV/bin/python" "$SHARED/make_tiny_model.py" "$MODEL.tmp"
  rm -rf "$MODEL"
  mv "$MODEL.tmp" "$MODEL"
fi

# 3. The suite. Every server it starts carries REAL_VLLM_MARK in its environment, so any
#    survivor is found afterwards (and cannot be confused with another user's vLLM).
mark="ci-$$-$(date +%s)"
leftovers() {
  local e pid state
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    grep -qaF "REAL_VLLM_MARK=$mark" "$e" 2>/dev/null || continue
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] &&
      echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  done
  return 0
}
say "running tests/real_vllm.rs (one vLLM server at a time)"
status=0
REAL_VLLM_VENV=$VENV REAL_VLLM_MODEL=$MODEL REAL_VLLM_MARK=$mark \
  cargo test --locked --test real_vllm -- --ignored --test-threads=1 --nocapture || status=$?

left=$(leftovers)
if [ -n "$left" ]; then
  say "FAILED: vLLM processes survived the suite:"; echo "$left"
  echo "$left" | cut -d' ' -f1 | xargs -r kill -9 2>/dev/null || true
  status=1
fi
[ "$status" -eq 0 ] && say "no vLLM process left running"
say "finished in $(( $(date +%s) - start )) s (status $status)"
exit "$status"
