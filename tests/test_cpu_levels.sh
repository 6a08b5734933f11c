#!/usr/bin/env bash
# The CLI names the kernel level and thread count it chose: MATCHBOX_CPU
# forces each x86 level this CPU has (expected from /proc/cpuinfo's flags,
# independently of the CPUID code) and `--version` and `bench --json` name
# it; a level the CPU lacks is refused with a warning and the best one is
# used; pinned with taskset to one CPU the default is one thread.
# Usage: test_cpu_levels.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
if ! has avx2; then
  echo "SKIP: not an x86 CPU with AVX2 (levels checked by test_kernels_simd)"
  exit 77
fi
# The levels in order, each needing the ones before it.
supported="ref avx2"
best=avx2
has fma f16c bmi2 || { supported="ref"; best=ref; }
if [ "$best" = avx2 ] && has avx512f avx512bw avx512vl avx512dq; then
  supported="$supported avx512"; best=avx512
  if has avx512_vnni; then
    supported="$supported avx512-vnni"; best=avx512-vnni
    if has avx512_bf16; then supported="$supported avx512-bf16"; best=avx512-bf16; fi
  fi
fi
echo "expected from /proc/cpuinfo: $supported (best $best)"
version() { "$MB" --version 2>"$T/err" | sed -n 's/.*(kernels: \([a-z0-9-]*\), threads: \([0-9]*\)).*/\1 \2/p'; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

read -r got threads <<<"$(MATCHBOX_CPU= version)"
check "[ '$got' = '$best' ]" "unforced level $got, want $best"
check "[ '${threads:-0}' -ge 1 ]" "--version names the default thread count"
for l in ref avx2 avx512 avx512-vnni avx512-bf16; do
  read -r got _ <<<"$(MATCHBOX_CPU=$l version)"
  if [[ " $supported " == *" $l "* ]]; then
    check "[ '$got' = '$l' ] && ! grep -q 'not available' '$T/err'" "MATCHBOX_CPU=$l gave $got"
  else
    check "[ '$got' = '$best' ] && grep -q 'MATCHBOX_CPU=$l is not available' '$T/err'" \
      "MATCHBOX_CPU=$l (not on this CPU) gave $got without the warning"
  fi
done

# bench reports the forced level too (JSON field kernels).
M=$SHARED/models/stories260K.gguf
if [ -f "$M" ]; then
  for l in avx2 $best; do
    MATCHBOX_CPU=$l "$MB" bench "$M" -t 1 -p 8 -n 4 -r 1 --bw-mib 1 --json >"$T/b.json" 2>/dev/null
    check "grep -q '\"kernels\": *\"$l\"' '$T/b.json'" "bench under MATCHBOX_CPU=$l: $(cat "$T/b.json")"
  done
fi

# taskset -c to one CPU: one thread by default.
if command -v taskset >/dev/null; then
  cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')
  read -r _ threads1 <<<"$(taskset -c "$cpu" "$MB" --version | sed -n 's/.*(kernels: \([a-z0-9-]*\), threads: \([0-9]*\)).*/\1 \2/p')"
  check "[ '${threads1:-0}' = 1 ]" "taskset -c $cpu: threads $threads1, want 1"
fi
finish
