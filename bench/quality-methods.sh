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
# (quantize --method ... --calib CALIB; awq fits with the weighted encoders),
# awqp (awq --plain-fit, AWQ's original plain encodes) and awqi (awq with
# --imatrix: weighted fits for the matrices AWQ leaves alone too). Any
# METHOD+bpw is METHOD on per-tensor types planned by quantize --target-bpw
# (on CALIB) for the size plain TYPE came to, so it compares with plain at
# equal size; a TYPE written TYPE@BPW plans for BPW instead (plain still
# the preset TYPE).
# CALIB and HELDOUT must not overlap. Each quantize's progress (AWQ's alpha
# per group) is kept in OUTDIR/work/TYPE-METHOD.log.
# METHODS (default: all four) and THREADS (default 2) from the environment;
# plain first, so the others are compared with it token by token.
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

# Columns: lnr = Mean ln(PPL(Q)/PPL(F16)) over the same tokens (paired),
# and vp_lnr = Mean ln(PPL(Q)/PPL(plain)), the method against plain
# rounding of the same type, paired token by token (plain's
# log-probabilities are the base of a second comparison): the PPL test of
# "beats plain", whose error is far below either PPL's.
for m in $METHODS; do
  printf 'type\tfile_bytes\tbpw\tppl\tppl_err\tkld\tkld_err\ttop1\tlnr\tlnr_err\tvp_lnr\tvp_lnr_err\n' \
    >"$OUT/$m.tsv"
done
field() { sed -n "s/^$1 *: *\([-0-9.]*\) +\/- \([0-9.]*\).*/\1\t\2/p" "$2"; }
for tt in $TYPES; do
  t=${tt%@*} target=""
  [ "$tt" != "$t" ] && target=${tt#*@}
  rm -f "$T/plain.kld"
  for m in $METHODS; do
    tsv=$OUT/$m.tsv
    q=$T/$tt-$m.gguf
    # METHOD+bpw: the method on types planned by quantize --target-bpw, for
    # TYPE@BPW's BPW or else the size plain TYPE came to (plain runs first).
    plan=()
    if [ "${m%+bpw}" != "$m" ]; then
      plan=(--target-bpw "${target:-$plain_bpw}" --calib "$CALIB" --calib-chunks "$CHUNKS"
        --calib-ctx "$CTX")
    fi
    case ${m%+bpw} in
    plain) args=() ;;
    imatrix) args=(--imatrix "$T/imatrix.gguf") ;;
    gptq | awq) args=(--method "${m%+bpw}" --calib "$CALIB" --calib-chunks "$CHUNKS" --calib-ctx "$CTX") ;;
    awqp)
      args=(--method awq --plain-fit --calib "$CALIB" --calib-chunks "$CHUNKS" --calib-ctx "$CTX")
      ;;
    awqi)
      args=(--method awq --imatrix "$T/imatrix.gguf" --calib "$CALIB" --calib-chunks "$CHUNKS"
        --calib-ctx "$CTX")
      ;;
    *) echo "unknown method $m" >&2; exit 2 ;;
    esac
    if ! "$MB" quantize "$BASE" "$q" "$t" "${args[@]}" "${plan[@]}" -t "$THREADS" 2>"$T/qerr" >&2; then
      echo "quantize $tt $m failed: $(tail -1 "$T/qerr")" >&2
      continue
    fi
    cp "$T/qerr" "$T/$tt-$m.log"
    bpw=$(sed -n 's/.*bpw -> \([0-9.]*\) bpw.*/\1/p' "$T/qerr" | head -1)
    [ "$m" = plain ] && plain_bpw=$bpw
    bytes=$(stat -c %s "$q")
    "$MB" perplexity "$q" "$TEXT" -c "$CTX" -t "$THREADS" --kl-divergence-base "$T/base.kld" \
      --kl-divergence 2>/dev/null >"$T/r.txt"
    ppl=$(field 'Mean PPL(Q)' "$T/r.txt")
    kld=$(field 'Mean KLD' "$T/r.txt")
    top=$(sed -n 's/Same top p *: *\([0-9.]*\)%.*/\1/p' "$T/r.txt")
    lnr=$(field 'Mean ln(PPL(Q)\/PPL(base))' "$T/r.txt")
    vp=$(printf '0\t0')
    if [ "$m" = plain ]; then
      "$MB" perplexity "$q" "$TEXT" -c "$CTX" -t "$THREADS" --kl-divergence-base "$T/plain.kld" \
        >/dev/null 2>&1
    elif [ -f "$T/plain.kld" ]; then
      "$MB" perplexity "$q" "$TEXT" -c "$CTX" -t "$THREADS" --kl-divergence-base "$T/plain.kld" \
        --kl-divergence 2>/dev/null >"$T/rp.txt"
      vp=$(field 'Mean ln(PPL(Q)\/PPL(base))' "$T/rp.txt")
    else
      vp=$(printf -- '-\t-')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tt" "$bytes" "$bpw" "$ppl" "$kld" "$top" "$lnr" \
      "$vp" | tee -a "$tsv"
    rm -f "$q"
  done
done
for m in $METHODS; do
  printf 'base\t%s\t-\t%s\t0\t0\t100\t0\t0\t-\t-\n' "$(stat -c %s "$BASE")" "$base_ppl" \
    >>"$OUT/$m.tsv"
done
rm -f "$T/plain.kld"
