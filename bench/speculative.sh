#!/usr/bin/env bash
# Plain against speculative generation, greedy, alternated R times on one
# prompt: decode tok/s of each (all runs and the best, the least disturbed
# on a shared machine), whether the texts agree, and the speculative line
# (drafted, accepted, tokens per forward pass). docs/PERFORMANCE.md,
# "Speculative decoding".
#   bench/speculative.sh MODEL PROMPT_FILE N R [speculative flags...]
#   bench/speculative.sh model.gguf prompt.txt 128 5 --lookup 3
#   bench/speculative.sh model.gguf prompt.txt 128 5 -md draft.gguf
set -u
MB=${MATCHBOX:-$(dirname "$0")/../build/bin/matchbox}
[ $# -ge 5 ] || {
  sed -n '2,9p' "$0"
  exit 2
}
M=$1 P=$2 N=$3 R=$4
shift 4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for r in $(seq "$R"); do
  for mode in plain spec; do
    extra=()
    [ $mode = spec ] && extra=("$@")
    "$MB" run "$M" -f "$P" -n "$N" --temp 0 -t "${THREADS:-2}" --no-display-prompt "${extra[@]}" \
      >"$T/$mode.$r.out" 2>"$T/$mode.err" || {
      cat "$T/$mode.err" >&2
      exit 1
    }
    sed -n 's/.*decode: .* (\([0-9.]*\) tok\/s).*/\1/p' "$T/$mode.err" >>"$T/$mode.tps"
    [ $mode = spec ] && grep '^speculative:' "$T/spec.err" >"$T/spec.line"
  done
done
same=yes
for r in $(seq "$R"); do cmp -s "$T/plain.1.out" "$T/spec.$r.out" || same=no; done
for mode in plain spec; do
  printf '%-5s tok/s: %s| best %s\n' $mode "$(tr '\n' ' ' <"$T/$mode.tps")" \
    "$(sort -g "$T/$mode.tps" | tail -1)"
done
awk 'NR == FNR { if ($1 > p) p = $1; next } { if ($1 > s) s = $1 } END {
  printf "speedup (best / best): %.2f\n", s / p }' "$T/plain.tps" "$T/spec.tps"
echo "same text as plain: $same"
cat "$T/spec.line"
