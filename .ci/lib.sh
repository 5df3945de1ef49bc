# Shared pieces of the CI scripts (sourced, not run): strict-or-skip, leftover processes,
# counting the tests that really ran. Used by .ci/run and the real-engine suites.

# True when running under CI (CI=true or CI=1, as CI systems set it).
ci_is_strict() {
  case "${CI:-}" in true | TRUE | True | 1 | yes) return 0 ;; *) return 1 ;; esac
}

# Cannot go on: under CI this is a failure (exit 1); outside CI the suite is skipped (exit 0).
# Either way the reason is printed. $1 = log prefix, rest = the reason.
ci_skip_or_fail() {
  local tag=$1; shift
  if ci_is_strict; then
    echo "[$tag] FAILED: $* (CI=$CI: a real-engine suite may not be skipped)"
    exit 1
  fi
  echo "[$tag] SKIPPED: $* (outside CI only; with CI=true this fails)"
  echo "[$tag] The end-to-end tests against the real engine did NOT run."
  exit 0
}

# Processes (not zombies) whose environment holds VAR=VALUE: "pid cmdline" per line.
# $1 = VAR, $2 = VALUE. Every server a suite starts carries a unique mark this way.
ci_leftovers() {
  local var=$1 value=$2 e pid state
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    grep -qaF "$var=$value" "$e" 2>/dev/null || continue
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] &&
      echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  done
  return 0
}

# Kills (SIGKILL) and reports the processes ci_leftovers finds; returns 1 when there were any.
# $1 = log prefix, $2 = VAR, $3 = VALUE.
ci_reap_leftovers() {
  local tag=$1 left
  left=$(ci_leftovers "$2" "$3")
  [ -z "$left" ] && { echo "[$tag] no server process left running"; return 0; }
  echo "[$tag] FAILED: server processes survived the suite:"
  echo "$left"
  echo "$left" | cut -d' ' -f1 | xargs -r kill -9 2>/dev/null || true
  return 1
}

# How many tests ran (passed + failed) according to libtest's summary lines
# ("test result: ok. 5 passed; 0 failed; 0 ignored; ...") in the cargo test output on stdin.
ci_count_tests() {
  awk '/^test result: /{
         for (i = 1; i <= NF; i++) {
           if ($(i+1) ~ /^passed;?$/ || $(i+1) ~ /^failed;?$/) n += $i
         }
       } END { print n + 0 }'
}
