# Sourced by the shell tests (tests/*.sh, run by ctest as
# `bash test_x.sh MATCHBOX SHARED`): the arguments and the pass/fail
# counters. End a test with `finish`.
MB=$1
SHARED=${2:-}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# check 'COMMAND' 'what failed': COMMAND is eval'd; true counts as a pass.
check() { if eval "$1"; then ok; else bad "$2"; fi; }
# Print the tally; the exit status is the test's.
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
