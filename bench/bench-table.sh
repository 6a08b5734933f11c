#!/usr/bin/env bash
# `matchbox bench` over threads and weight placements, as Markdown table rows
# for docs/PERFORMANCE.md. One header line, then one row per run.
#   bench/bench-table.sh MODEL [BENCH FLAGS...]
# Environment: MATCHBOX (binary; default build/bin/matchbox), THREADS (default
# "1 2"), PLACEMENTS (default "default"; e.g. "--mmap --no-mmap"),
# MATCHBOX_CPU (ref|avx2|avx512|avx512-vnni|avx512-bf16: forces the kernel
# level, as in matchbox).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${MATCHBOX:-$root/build/bin/matchbox}
model=$1
shift
echo "| model | kernels | weights | threads | load s | pp tok/s median (min-max) | tg tok/s median (min-max) | TTFT ms | peak RSS MiB | read GB/s | tg GB/s | tg share |"
echo "|---|---|---|:-:|--:|--:|--:|--:|--:|--:|--:|--:|"
for place in ${PLACEMENTS:-default}; do
  for t in ${THREADS:-1 2}; do
    flags=("$@")
    [ "$place" = default ] || flags+=("$place")
    "$mb" bench "$model" -t "$t" --json "${flags[@]}" | python3 -c '
import json, sys
r = json.load(sys.stdin)
def s(k, scale=1.0, f="%.1f"):
    v = r[k]
    if v["median"] == 0: return "-"
    return (f + " (" + f + "-" + f + ")") % (v["median"] * scale, v["min"] * scale, v["max"] * scale)
name = r["model"].rsplit("/", 1)[-1].removesuffix(".gguf")
print("| %s | %s | %s | %d | %.2f | %s | %s | %.0f | %.0f | %.1f | %.1f | %.0f%% |" % (
    name, r["kernels"], r["weights"], r["threads"], r["load_s"],
    s("prefill_tok_s") + " pp%d" % r["n_prompt"], s("decode_tok_s") + " tg%d" % r["n_gen"],
    r["ttft_s"]["median"] * 1e3, r["peak_rss_bytes"] / 2**20, r["read_gb_s"],
    r["decode_gb_s"], r["decode_share"] * 100))
'
  done
done
