#!/bin/bash
# Prefill and decode speed of each kernel level (MATCHBOX_CPU), back to back
# per model and thread count, so the ratios come from the same minutes of a
# noisy machine.
#
#   bench/kernel-levels.sh [-b BINARY] [-l "ref avx2 avx512 ..."] [-n TOKENS] MODEL.gguf...
#
# Levels (default: all of x86-64's): ref, avx2, avx512 (F/BW/VL/DQ, no
# VNNI), avx512-vnni, avx512-bf16; a level this CPU lacks is left out (it
# would fall back to the best one), with a note on stderr.
# Each model runs twice per level and thread count (1 and 2): a 4-token prompt
# with TOKENS greedy tokens (decode), and a ~180-token prompt with 16 tokens
# (prefill). Prints one markdown table row per run.
set -euo pipefail
bin=build/bin/matchbox
levels="ref avx2 avx512 avx512-vnni avx512-bf16"
n=128
while getopts "b:l:n:" o; do
    case $o in
    b) bin=$OPTARG ;;
    l) levels=$OPTARG ;;
    n) n=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-b BINARY] [-l LEVELS] [-n TOKENS] MODEL.gguf..." >&2; exit 2; }

words="Once upon a time there was a little fox who lived in the deep green forest near the river and every morning she would walk to the water to drink and watch the fish swim by while the sun rose over the hills"
long=""
for _ in 1 2 3 4; do long="$long $words"; done

# Prints "prefill tok/s | decode tok/s" of one run.
speeds() {
    MATCHBOX_CPU=$1 "$bin" run "$2" "$3" -n "$4" -t "$5" --temp 0 --no-mmap 2>&1 >/dev/null |
        sed -n 's/^prefill: \([0-9]*\) tokens in .*(\([0-9.]*\) tok\/s) | decode: .*(\([0-9.]*\) tok\/s).*/\1 | \2 | \3/p'
}

# The levels this CPU has: matchbox --version names the one it ran.
have=""
for l in $levels; do
    if MATCHBOX_CPU=$l "$bin" --version 2>/dev/null | grep -q "(kernels: $l,"; then
        have="$have $l"
    else
        echo "kernel-levels: $l is not available on this CPU, left out" >&2
    fi
done
levels=$have

echo "| model | level | threads | prompt tokens | pp tok/s | tg tok/s | long prompt tokens | pp tok/s | tg tok/s |"
echo "|---|---|:-:|--:|--:|--:|--:|--:|--:|"
for m in "$@"; do
    for t in 1 2; do
        for l in $levels; do
            echo "| $(basename "$m") | $l | $t | $(speeds "$l" "$m" "Once upon a time" "$n" "$t") | $(speeds "$l" "$m" "$long" 16 "$t") |"
        done
    done
done
