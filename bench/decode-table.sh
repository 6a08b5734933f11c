#!/usr/bin/env bash
# Decode and prefill speed of `matchbox run` on the test models, as a
# Markdown table for docs/PERFORMANCE.md. Synthetic models are written with
# ../shared/tools/synth_gguf.py into build/test-models (as the tests do).
#   bench/decode-table.sh [MATCHBOX] [N_PREDICT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-$root/build/bin/matchbox}
n=${2:-64}
shared=${MATCHBOX_SHARED:-$root/../shared}
models=$root/build/test-models
mkdir -p "$models"
for preset in llama-tiny llama-125m; do
  [ -f "$models/$preset.gguf" ] || python3 "$shared/tools/synth_gguf.py" "$preset" "$models/$preset.gguf" 2>/dev/null
done
echo "| model | weights | threads | prefill tok/s | decode tok/s |"
echo "|---|---|:-:|--:|--:|"
for m in "$shared/models/stories260K.gguf" "$shared/models/llama-2-tiny-random.gguf" \
         "$models/llama-tiny.gguf" "$models/llama-125m.gguf" "$shared/models/llama-125m-Q4_K_M.gguf"; do
  bytes=$(stat -c %s "$m")
  for t in 1 2; do
    line=$("$mb" run "$m" "Once upon a time" -n "$n" --temp 0 --no-mmap -t "$t" 2>&1 >/dev/null | grep 'decode:')
    pp=$(sed -E 's/.*prefill: [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1/' <<<"$line")
    tg=$(sed -E 's/.*decode: [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1/' <<<"$line")
    printf '| %s | %.1f MB | %d | %s | %s |\n' "$(basename "$m" .gguf)" "$(echo "$bytes / 1000000" | bc -l)" "$t" "$pp" "$tg"
  done
done
