#!/usr/bin/env bash
# End-to-end: matchbox calibrate on a synthetic llama-tiny, the imatrix in
# both formats, quantize --imatrix and --smooth, and the errors a user sees.
# Usage: test_calibrate_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

SYN=$SHARED/tools/synth_gguf.py
if [ ! -f "$SYN" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: $SYN or python3 is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=$T/tiny.gguf
python3 "$SYN" llama-tiny "$M" >/dev/null 2>&1 || { echo "SKIP: synth_gguf.py failed"; exit 77; }
for i in $(seq 1 60); do echo "the quick brown fox $i jumps over the lazy dog."; done >"$T/text.txt"

check "'$MB' calibrate --help | grep -q usage" "calibrate --help"
"$MB" calibrate "$M" "$T/text.txt" -o "$T/im.gguf" --ctx 32 --chunks 4 -t 2 2>"$T/err"
rc=$?
check "[ $rc -eq 0 ] && [ -s '$T/im.gguf' ]" "calibrate failed: $(tail -2 "$T/err")"
check "grep -q 'wrote .*im.gguf: .* matrices, 4 chunks of 32 tokens' '$T/err'" "calibrate summary"
"$MB" inspect "$T/im.gguf" >"$T/insp"
rc=$?
check "grep -q 'general.type .*imatrix' '$T/insp' && grep -q 'blk.0.attn_q.weight.in_sum2' '$T/insp' && grep -q 'blk.0.attn_q.weight.counts' '$T/insp'" "imatrix GGUF layout"

"$MB" calibrate --convert "$T/im.gguf" "$T/im.dat" 2>/dev/null
rc=$?
check "[ $rc -eq 0 ] && [ -s '$T/im.dat' ]" "convert to .dat"
"$MB" calibrate --convert "$T/im.dat" "$T/back.gguf" 2>/dev/null
rc=$?
check "[ $rc -eq 0 ] && [ -s '$T/back.gguf' ]" "convert back to GGUF"

for f in im.gguf im.dat; do
  "$MB" quantize "$M" "$T/q.gguf" Q4_K_M -q --imatrix "$T/$f" 2>"$T/err"
  rc=$?
  check "[ $rc -eq 0 ] && grep -q 'tensors fitted with it' '$T/err'" "quantize --imatrix $f: $(tail -1 "$T/err")"
done
"$MB" quantize "$M" "$T/s.gguf" Q8_0 -q --imatrix "$T/im.gguf" --smooth 0.5 2>"$T/err"
rc=$?
check "[ $rc -eq 0 ] && grep -q 'SmoothQuant alpha 0.50 on' '$T/err'" "quantize --smooth: $(tail -1 "$T/err")"
"$MB" quantize "$M" "$T/s2.gguf" Q8_0 -q --smooth 0.5 --calib "$T/text.txt" --calib-ctx 32 --calib-chunks 2 2>"$T/err"
rc=$?
check "[ $rc -eq 0 ] && grep -q 'SmoothQuant alpha 0.50 on' '$T/err'" "quantize --smooth --calib: $(tail -1 "$T/err")"
"$MB" run "$T/s.gguf" -p "the quick" -n 4 >/dev/null 2>&1
rc=$?
check "[ $rc -eq 0 ]" "the smoothed file does not run"

# Errors: --smooth without an imatrix, or with one that has no maxima; a
# damaged imatrix names the problem; nothing is left behind.
"$MB" quantize "$M" "$T/x.gguf" Q8_0 --smooth 0.5 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'needs --imatrix' '$T/err'" "--smooth without --imatrix"
"$MB" quantize "$M" "$T/x.gguf" Q8_0 --imatrix "$T/im.dat" --smooth 0.5 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'maxima' '$T/err' && [ ! -e '$T/x.gguf' ]" "--smooth with a .dat"
head -c 100 "$T/im.dat" >"$T/cut.dat"
"$MB" quantize "$M" "$T/x.gguf" Q4_0 --imatrix "$T/cut.dat" 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'cut.dat' '$T/err'" "truncated imatrix: $(cat "$T/err")"
check "! ls '$T' | grep -q tmp" "a temp file was left behind"

finish
