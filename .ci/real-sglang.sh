#!/usr/bin/env bash
# End-to-end suite against the REAL SGLang 0.5.23 server on the CPU (tiny random model):
# installs SGLang into a cache folder outside the checkout (once; ~1–4 min, 6.5 GB), builds the
# tiny model (once), then runs tests/real_sglang.rs, which drives the real binary with
# `provider: local` and `--server-url`. Called by .ci/run after the real-vLLM suite.
#
#   LLM_INF_BENCH_CACHE              cache folder (default ~/.cache/llm-inf-bench)
#   PYTHON                           CPython 3.11/3.12 for the venv (default python3.11, python3.12)
#   LLM_INF_BENCH_SKIP_REAL_SGLANG=1 skip the suite (says so; refused when CI=true)
#
# With CI=true the suite is required: any install or run failure fails, and so does a run of
# zero tests. Outside CI, a missing Python or an unreachable package registry skips it (exit 0)
# with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "[real-sglang] $*"; }
in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
# Outside CI: skip with a reason. In CI: fail with it.
skip_or_fail() {
  if in_ci; then say "FAILED (CI=true, the suite is required): $*"; exit 1; fi
  say "SKIPPED: $*"; say "The end-to-end tests against the real SGLang did NOT run."; exit 0
}

if [ "${LLM_INF_BENCH_SKIP_REAL_SGLANG:-}" = 1 ]; then
  skip_or_fail "LLM_INF_BENCH_SKIP_REAL_SGLANG=1"
fi
SCRIPTS=scripts/real-sglang
MAKE_MODEL=scripts/real-vllm/make_tiny_model.py
CACHE=${LLM_INF_BENCH_CACHE:-$HOME/.cache/llm-inf-bench}
VENV=$CACHE/sglang-cpu
MODEL=$CACHE/tiny-model
mkdir -p "$CACHE"

# 0. A CPython SGLang supports.
if [ -z "${PYTHON:-}" ]; then
  for p in python3.11 python3.12; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import venv' 2>/dev/null; then PYTHON=$p; break; fi
  done
fi
[ -n "${PYTHON:-}" ] || skip_or_fail "no python3.11 or python3.12 on PATH (set PYTHON=...)"
export PYTHON

# 1. SGLang (returns at once when the venv already works).
setup_log=$(mktemp)
trap 'rm -f "$setup_log"' EXIT
say "installing SGLang into $VENV with $PYTHON (reused when present)"
t0=$(date +%s)
if ! bash "$SCRIPTS/setup.sh" "$VENV" 2>&1 | tee "$setup_log"; then
  index=${PIP_INDEX_URL:-https://pypi.org/simple/}
  network_error='NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|ReadTimeoutError|Connection refused|ProxyError|SSLError|Max retries exceeded|error sending request|dns error'
  if grep -qE "$network_error" "$setup_log" ||
     ! "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=15)" "$index" 2>/dev/null; then
    grep -E "$network_error" "$setup_log" | tail -n 3 | sed 's/^/[real-sglang]   /' || true
    skip_or_fail "the package registry ($index) cannot be reached, so SGLang could not be installed"
  fi
  say "FAILED: installing SGLang failed for a reason other than the network (see above)"; exit 1
fi
say "install step took $(( $(date +%s) - t0 )) s"

# 2. The tiny model (cached, shared with the real-vLLM suite; built in a private temporary
#    folder so a failed or concurrent build is never reused half-written).
if [ ! -f "$MODEL/config.json" ]; then
  say "building the tiny model into $MODEL"
  tmp=$(mktemp -d "$MODEL.tmp.XXXXXX")
  "$VENV/bin/python" "$MAKE_MODEL" "$tmp"
  if [ ! -f "$MODEL/config.json" ]; then rm -rf "$MODEL"; mv "$tmp" "$MODEL"; else rm -rf "$tmp"; fi
fi

# 3. The suite. Every server it starts carries REAL_SGLANG_MARK in its environment and writes its
#    sockets into a private TMPDIR, so survivors are found afterwards (and cannot be confused
#    with another user's SGLang); the test cleans what SGLang itself leaves behind.
mark="ci-$$-$(date +%s)"
leftovers() {
  local e pid state
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    grep -qaF "REAL_SGLANG_MARK=$mark" "$e" 2>/dev/null || continue
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] &&
      echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  done
  return 0
}
shm_before=$(ls /dev/shm 2>/dev/null | grep '^sglang_' | sort || true)
say "running tests/real_sglang.rs (one SGLang server at a time)"
status=0
test_log=$(mktemp)
trap 'rm -f "$setup_log" "$test_log"' EXIT
REAL_SGLANG_VENV=$VENV REAL_SGLANG_MODEL=$MODEL REAL_SGLANG_MARK=$mark \
  cargo test --locked --test real_sglang -- --ignored --test-threads=1 --nocapture 2>&1 |
  tee "$test_log" || status=1

# The number of tests that ran: zero is a failure (a filter or cfg that silently runs nothing).
ran=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1 \2/p' "$test_log" |
  awk '{p+=$1; f+=$2} END {print p+f}')
say "tests run: ${ran:-0}"
if [ "${ran:-0}" -eq 0 ]; then say "FAILED: no test ran"; status=1; fi

left=$(leftovers)
if [ -n "$left" ]; then
  say "FAILED: SGLang processes survived the suite:"; echo "$left"
  echo "$left" | cut -d' ' -f1 | xargs -r kill -9 2>/dev/null || true
  status=1
fi
shm_after=$(ls /dev/shm 2>/dev/null | grep '^sglang_' | sort || true)
new_shm=$(comm -13 <(echo "$shm_before") <(echo "$shm_after") | sed '/^$/d')
if [ -n "$new_shm" ]; then
  say "FAILED: the suite left SGLang shared-memory files:"; echo "$new_shm" | sed 's|^|  /dev/shm/|'
  status=1
fi
[ "$status" -eq 0 ] && say "no SGLang process, shared-memory file or socket left"
say "finished in $(( $(date +%s) - start )) s (status $status)"
exit "$status"
