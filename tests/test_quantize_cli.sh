#!/usr/bin/env bash
# End-to-end tests of matchbox quantize and perplexity on stories260K:
# the reference's Q4_K_M fallbacks, the summary, errors the user sees, and
# perplexity on the quantized file. Usage: test_quantize_cli.sh MATCHBOX SHARED
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

for c in quantize perplexity; do
  check "'$MB' $c --help | grep -q usage" "$c --help"
done

# Q4_K_M: stories260K's rows (64, 172) fit no 256-block, so every matrix
# falls back as the reference's does, and each fallback is reported.
"$MB" quantize "$M" "$T/q.gguf" Q4_K_M -t 2 2>"$T/err"
check "[ \$? -eq 0 ] && [ -s '$T/q.gguf' ]" "quantize Q4_K_M failed: $(tail -2 "$T/err")"
check "grep -q 'blk.0.ffn_down.weight .* -> F16 (fallback' '$T/err'" "ffn_down fallback not reported"
check "grep -q 'blk.0.attn_q.weight .* -> Q5_0 (fallback' '$T/err'" "attn_q fallback not reported"
check "grep -q 'bpw' '$T/err' && grep -q '36 fallback' '$T/err'" "summary missing"

# Errors: unknown type (with the list), Q8_0 refused on width 172, bad input.
"$MB" quantize "$M" "$T/x.gguf" Q9_K 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'valid types: .*Q4_K_M' '$T/err'" "unknown type message"
"$MB" quantize "$M" "$T/x.gguf" Q8_0 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q '172' '$T/err' && [ ! -e '$T/x.gguf' ]" "Q8_0 not refused cleanly"
check "! ls '$T' | grep -q tmp" "a temp file was left behind"
"$MB" quantize "$T/nonexistent.gguf" "$T/x.gguf" Q4_K_M 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'nonexistent' '$T/err'" "unreadable input message"

# A write that fails midway (a file-size limit standing in for a full disk)
# is reported and leaves neither the output nor a temp file.
(ulimit -f 200; trap '' XFSZ; "$MB" quantize -q "$M" "$T/full.gguf" F16) 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'write failed' '$T/err' && ! ls '$T' | grep -q full" \
  "failed write not reported cleanly: $(cat "$T/err")"

# Perplexity of the quantized file, 2 chunks: finite and near the F32 one.
out=$("$MB" perplexity "$T/q.gguf" "$W" -c 512 --chunks 2 2>/dev/null)
ppl=$(echo "$out" | sed -n 's/.*PPL = \([0-9.]*\).*/\1/p')
check "awk 'BEGIN{exit !($ppl > 100 && $ppl < 140)}'" "Q4_K_M 2-chunk PPL $ppl out of range"
: >"$T/empty.txt"
"$MB" perplexity "$M" "$T/empty.txt" 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'empty' '$T/err'" "empty text message"

finish
