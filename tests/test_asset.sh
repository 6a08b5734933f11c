#!/usr/bin/env bash
# The project-trained model (assets/mbx-5m-f16.gguf) as a test asset: it
# loads and runs, its perplexity on held-out text it never saw is far below
# its vocabulary, and on this real trained model GPTQ quantization is closer
# to the F16 model (KL divergence) than plain rounding at the same type; a
# q8_0 KV cache keeps greedy text and a KLD under 0.001, q4_0's is higher.
# The held-out text is rebuilt from ../shared/data by make-train-corpus.py.
# Usage: test_asset.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A=$ROOT/assets/mbx-5m-f16.gguf
if [ ! -d "$SHARED/data" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: $SHARED/data or python3 is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 "$ROOT/scripts/make-train-corpus.py" "$SHARED/data" "$T" >/dev/null
check '[ -s "$T/heldout.txt" ] && [ -s "$T/train.txt" ]' "corpus split"

"$MB" perplexity "$A" "$T/heldout.txt" -c 256 --chunks 40 -t 2 \
  --kl-divergence-base "$T/base.kld" >"$T/base.txt" 2>/dev/null
ppl=$(sed -n 's/.*PPL = \([0-9.]*\).*/\1/p' "$T/base.txt")
check '[ -n "$ppl" ] && awk "BEGIN { exit !($ppl > 1 && $ppl < 100) }"' \
  "held-out perplexity '$ppl' should be in (1, 100), far below the 4096 tokens"

out=$("$MB" run "$A" "The" -n 8 --temp 0 2>/dev/null)
check '[ ${#out} -gt 3 ]' "run generates text (got '$out')"

kld() { # quantized file [flags] -> mean KLD against the F16 model
  "$MB" perplexity "$@" "$T/heldout.txt" -c 256 --chunks 40 -t 2 \
    --kl-divergence-base "$T/base.kld" --kl-divergence 2>/dev/null |
    sed -n 's/Mean KLD *: *\([0-9.]*\).*/\1/p'
}

# A quantized KV cache (docs/QUALITY.md, "Quantized KV cache"): q8_0 keeps
# greedy text and stays under the 0.001 KLD bar; q4_0 loses more.
o16=$("$MB" run "$A" "The king" -n 48 --temp 0 2>/dev/null)
o8=$("$MB" run "$A" "The king" -n 48 --temp 0 --kv-type q8_0 2>/dev/null)
check '[ -n "$o8" ] && [ "$o8" = "$o16" ]' "greedy text with a q8_0 KV cache differs from F16's"
k8=$(kld "$A" --kv-type q8_0)
k4=$(kld "$A" -ctk q4_0 -ctv q4_0)
echo "KV cache mean KLD on 40 held-out chunks: q8_0 $k8, q4_0 $k4"
check '[ -n "$k8" ] && [ -n "$k4" ] && awk "BEGIN { exit !($k8 < 0.001 && $k4 > $k8) }"' \
  "q8_0 KV KLD $k8 should be below 0.001 and q4_0's $k4 above it"
"$MB" quantize "$A" "$T/plain.gguf" Q4_K_M -q -t 2 >/dev/null 2>&1
"$MB" quantize "$A" "$T/gptq.gguf" Q4_K_M --method gptq --calib "$T/train.txt" \
  --calib-chunks 8 -q -t 2 >/dev/null 2>&1
kp=$(kld "$T/plain.gguf")
kg=$(kld "$T/gptq.gguf")
echo "Q4_K_M mean KLD on 40 held-out chunks: plain $kp, gptq $kg"
check '[ -n "$kp" ] && [ -n "$kg" ] && awk "BEGIN { exit !($kg > 0 && $kg < 0.9 * $kp) }"' \
  "GPTQ KLD $kg should be below 0.9 x plain's $kp"
finish
