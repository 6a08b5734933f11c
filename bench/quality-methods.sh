#!/usr/bin/env bash
# Calibrated quantization against plain rounding: for each TYPE and METHOD,
# file size, bits per weight, perplexity, KL divergence and top-1 agreement
# against the high-precision BASE on a held-out TEXT, as a TSV for
# docs/QUALITY.md and scripts/kld_plot.py (one file per method).
#
#   bench/quality-methods.sh MATCHBOX BASE.gguf CALIB.txt HELDOUT.txt CTX OUTDIR [TYPE...]
#
# Methods: plain (round to nearest, the reference's encoders), imatrix
# (quantize --imatrix from matchbox calibrate on CALIB), gptq and awq
# (quantize --method ... --calib CALIB). CALIB and HELDOUT must not overlap.
set -eu
MB=$1 BASE=$2 CALIB=$3 TEXT=$4 CTX=$5 OUT=$6
shift 6
TYPES=${*:-Q3_K_M Q4_0 Q4_K_M Q5_K_M}
METHODS=${METHODS:-plain imatrix gptq awq}
THREADS=${THREADS:-2}
CHUNKS=${CALIB_CHUNKS:-64}
mkdir -p "$OUT"
T=$OUT/work
mkdir -p "$T"

"$MB" perplexity "$BASE" "$TEXT" -c "$CTX" --chunks 100000 -t "$THREADS" \
  --kl-divergence-base "$T/base.kld" 2>/dev/null >"$T/base.txt"
base_ppl=$(sed -n 's/.*PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1\t\2/p' "$T/base.txt")
"$MB" calibrate "$BASE" "$CALIB" -o "$T/imatrix.gguf" --ctx "$CTX" --chunks "$CHUNKS" \
  -t "$THREADS" >/dev/null 2>&1

for m in $METHODS; do
  tsv=$OUT/$m.tsv
  printf 'type\tfile_bytes\tbpw\tppl\tppl_err\tkld\tkld_err\ttop1\n' >"$tsv"
  for t in $TYPES; do
    q=$T/$t-$m.gguf
    case $m in
    plain) args=() ;;
    imatrix) args=(--imatrix "$T/imatrix.gguf") ;;
    gptq | awq) args=(--method "$m" --calib "$CALIB" --calib-chunks "$CHUNKS" --calib-ctx "$CTX") ;;
    *) echo "unknown method $m" >&2; exit 2 ;;
    esac
    if ! "$MB" quantize "$BASE" "$q" "$t" "${args[@]}" -t "$THREADS" -q 2>"$T/qerr" >&2; then
      echo "quantize $t $m failed: $(tail -1 "$T/qerr")" >&2
      continue
    fi
    bpw=$(sed -n 's/.*bpw -> \([0-9.]*\) bpw.*/\1/p' "$T/qerr" | head -1)
    bytes=$(stat -c %s "$q")
    "$MB" perplexity "$q" "$TEXT" -c "$CTX" -t "$THREADS" --kl-divergence-base "$T/base.kld" \
      --kl-divergence 2>/dev/null >"$T/r.txt"
    ppl=$(sed -n 's/Mean PPL(Q) *: *\([0-9.]*\) +\/- \([0-9.]*\)/\1\t\2/p' "$T/r.txt")
    kld=$(sed -n 's/Mean KLD *: *\([0-9.]*\) +\/- \([0-9.]*\)/\1\t\2/p' "$T/r.txt")
    top=$(sed -n 's/Same top p *: *\([0-9.]*\)%.*/\1/p' "$T/r.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$bytes" "$bpw" "$ppl" "$kld" "$top" | tee -a "$tsv"
    rm -f "$q"
  done
  printf 'base\t%s\t-\t%s\t0\t0\t100\n' "$(stat -c %s "$BASE")" "$base_ppl" >>"$tsv"
done
