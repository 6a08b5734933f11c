#!/usr/bin/env bash
# Quality of every quantization type: file size, bits per weight, perplexity,
# KL divergence and top-1 agreement against a high-precision base, as a TSV
# for docs/QUALITY.md and scripts/kld_plot.py.
#
#   bench/quality.sh MATCHBOX BASE.gguf TEXT CHUNKS OUT.tsv [TYPE...]
#
# BASE is the reference model (F32 or F16); each TYPE is quantized from it
# (legacy types with --allow-fallback, as stories260K's 172-wide rows need),
# then evaluated with -c 512 --chunks CHUNKS against BASE's log-probabilities.
set -eu
MB=$1 BASE=$2 TEXT=$3 CHUNKS=$4 OUT=$5
shift 5
TYPES=${*:-F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 Q3_K_L Q3_K_M Q3_K_S Q2_K}
T=${TMPDIR:-/tmp}/mb-quality.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
THREADS=${THREADS:-2}

"$MB" perplexity "$BASE" "$TEXT" -c 512 --chunks "$CHUNKS" -t "$THREADS" \
  --kl-divergence-base "$T/base.kld" 2>/dev/null >"$T/base.txt"
base_ppl=$(sed -n 's/.*PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1\t\2/p' "$T/base.txt")
# Weights' bpw of the base: bytes of tensor data x 8 / weights (quantize to
# its own type reports it).
printf 'type\tfile_bytes\tbpw\tppl\tppl_err\tkld\tkld_err\ttop1\n' >"$OUT"
for t in $TYPES; do
  q=$T/q.gguf
  if ! "$MB" quantize "$BASE" "$q" "$t" --allow-fallback -t "$THREADS" -q 2>"$T/qerr"; then
    echo "quantize $t failed: $(tail -1 "$T/qerr")" >&2
    continue
  fi
  bpw=$(sed -n 's/.*bpw -> \([0-9.]*\) bpw.*/\1/p' "$T/qerr")
  bytes=$(stat -c %s "$q")
  "$MB" perplexity "$q" "$TEXT" -c 512 -t "$THREADS" --kl-divergence-base "$T/base.kld" \
    --kl-divergence 2>/dev/null >"$T/r.txt"
  ppl=$(sed -n 's/Mean PPL(Q) *: *\([0-9.]*\) +\/- \([0-9.]*\)/\1\t\2/p' "$T/r.txt")
  kld=$(sed -n 's/Mean KLD *: *\([0-9.]*\) +\/- \([0-9.]*\)/\1\t\2/p' "$T/r.txt")
  top=$(sed -n 's/Same top p *: *\([0-9.]*\)%.*/\1/p' "$T/r.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$bytes" "$bpw" "$ppl" "$kld" "$top" | tee -a "$OUT"
done
bytes=$(stat -c %s "$BASE")
printf 'base\t%s\t-\t%s\t0\t0\t100\n' "$bytes" "$base_ppl" | tee -a "$OUT"
