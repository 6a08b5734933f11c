#!/usr/bin/env bash
# matchbox quantize --method gptq / awq end to end on stories260K: the
# calibration pass runs, the file loads in perplexity, and the user's
# mistakes are refused before any output exists.
# Usage: test_quantize_methods.sh MATCHBOX SHARED
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
head -c 200000 "$W" >"$T/calib.txt"

for m in gptq awq; do
  "$MB" quantize "$M" "$T/$m.gguf" Q4_0 --allow-fallback -t 2 --method $m --calib "$T/calib.txt" \
    --calib-chunks 2 --calib-ctx 64 2>"$T/err"
  check "[ \$? -eq 0 ] && [ -s '$T/$m.gguf' ]" "$m failed: $(tail -2 "$T/err")"
  check "grep -q '^$m: ' '$T/err'" "$m: no calibration notice"
  "$MB" perplexity "$T/$m.gguf" "$W" -c 64 --chunks 2 -t 2 >"$T/ppl" 2>&1
  check "grep -q 'PPL = ' '$T/ppl'" "$m: perplexity of the output failed"
done
check "grep -q 'alpha' '$T/err'" "awq: no alpha reported"

"$MB" quantize "$M" "$T/x.gguf" Q4_0 --allow-fallback --method gptq 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'needs --calib' '$T/err'" "gptq without --calib accepted"
"$MB" quantize "$M" "$T/x.gguf" Q4_0 --method zip --calib "$T/calib.txt" 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'unknown --method' '$T/err'" "unknown method accepted"
"$MB" quantize "$M" "$T/x.gguf" Q4_0 --allow-fallback --method gptq --calib "$T/none.txt" 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'none.txt' '$T/err' && [ ! -e '$T/x.gguf' ]" \
  "missing calibration text not refused cleanly"
check "! ls '$T' | grep -q tmp" "a temp file was left behind"

finish
