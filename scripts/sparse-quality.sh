#!/usr/bin/env bash
# PPL and KLD of pruned mbx-5m files against the F16 model (docs/QUALITY.md,
# "Pruning: quality on the project model"): every method x pattern x storage
# and the dense presets, one TSV row per file (with its bits per weight).
# usage: scripts/sparse-quality.sh MATCHBOX MODEL HELDOUT CALIB OUTDIR [CASES...]
# A case is METHOD,PATTERN,SPARSITY,TYPE,PRESET (TYPE dense: the preset's
# types), or dense:PRESET for a plain quantized file.
set -euo pipefail
B=$1 M=$2 T=$3 C=$4 O=$5
shift 5
mkdir -p "$O"
PPL=(-c 256 --chunks 40 -t 2)
[ -f "$O/base.kld" ] || "$B" perplexity "$M" "$T" "${PPL[@]}" --kl-divergence-base "$O/base.kld" \
    >"$O/base.log" 2>&1
weights() { # bits per weight of the tensors (the prune/quantize summary line)
    sed -n 's/.*[ (]\([0-9.]*\) bpw).*/\1/p' "$1" | tail -1
}
for c in "$@"; do
    IFS=, read -r method pattern sp type preset <<<"$c"
    f="$O/$(echo "$c" | tr ,: _-).gguf"
    if [ "$method" = dense ]; then
        "$B" quantize "$M" "$f" "$pattern" >"$f.log" 2>&1
    else
        "$B" prune "$M" "$f" --method "$method" --pattern "$pattern" --sparsity "$sp" \
            --type "$type" --preset "$preset" --calib "$C" -q >"$f.log" 2>&1
    fi
    "$B" perplexity "$f" "$T" "${PPL[@]}" --kl-divergence-base "$O/base.kld" --kl-divergence \
        >"$f.ppl" 2>&1
    ppl=$(sed -n 's/.*PPL(Q) *: *\([0-9.]*\).*/\1/p' "$f.ppl" | head -1)
    kld=$(sed -n 's/^Mean *KLD *: *\([0-9.]*\).*/\1/p' "$f.ppl" | head -1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$(weights "$f.log")" "$ppl" "$kld" "$(stat -c %s "$f")" \
        | tee -a "$O/results.tsv"
done
