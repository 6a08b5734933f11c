#!/usr/bin/env bash
# matchbox prune end to end on stories260K (rows of 64: dense types): each
# method prunes 2:4 and the file loads in perplexity and records its
# method; SparseGPT reports its calibration pass; the user's mistakes are
# refused with a message before any output exists.
# Usage: test_prune_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
W=$SHARED/data/wiki.test.raw
if [ ! -f "$M" ] || [ ! -f "$W" ]; then
  echo "SKIP: $M or $W is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 100000 "$W" >"$T/calib.txt"

for m in magnitude wanda sparsegpt; do
  "$MB" prune "$M" "$T/$m.gguf" --method $m --pattern 2:4 --type dense --preset F16 -t 2 \
    --calib "$T/calib.txt" --calib-chunks 2 --calib-ctx 64 2>"$T/err"
  rc=$? # before the message's $(...) resets $?
  check "[ $rc -eq 0 ] && [ -s '$T/$m.gguf' ]" "$m failed: $(tail -2 "$T/err")"
  check "grep -q 'zero' '$T/err'" "$m: no pruning summary"
  check "grep -aq '$m' '$T/$m.gguf'" "$m: not recorded in the metadata"
  "$MB" perplexity "$T/$m.gguf" "$W" -c 64 --chunks 2 -t 2 >"$T/ppl" 2>&1
  check "grep -q 'PPL = ' '$T/ppl'" "$m: perplexity of the output failed"
done
check "grep -q '^sparsegpt: calibration pass' '$T/err'" "sparsegpt: no calibration notice"

refused() { # WHAT NEEDLE ARGS...: refused, with NEEDLE in the message, no file
  local what=$1 needle=$2
  shift 2
  "$MB" prune "$M" "$T/bad.gguf" "$@" 2>"$T/err"
  local rc=$?
  check "[ $rc -ne 0 ] && grep -q '$needle' '$T/err' && [ ! -e '$T/bad.gguf' ]" \
    "$what: not refused as expected: $(tail -1 "$T/err")"
}
refused "sparsegpt without --calib" "sparsegpt needs a calibration text" --method sparsegpt --type dense
refused "unknown method" "expected magnitude, wanda or sparsegpt" --method obs
refused "sparsity 2" "sparsity 2 is not in" --sparsity 2 --type dense
refused "pattern 4:2" "expected unstructured or N:M" --pattern 4:2
refused "SQ4 at rows of 64" "not a multiple of 256" --type SQ4
finish
