#!/usr/bin/env bash
# The AVX-512 levels' instruction sets stay in their folders: in the kernel
# library built beside MATCHBOX, only the avx512vnni/ objects (*_vnni.c.o)
# and the BF16 tile (bf16_avx512.c.o) contain VNNI instructions (vpdpbusd,
# vpdpwssd), and only the BF16 tile contains vdpbf16ps; the objects of
# avx512vbmi2/ (the sparse dots and panels, SQ4 lanes; chosen only where
# the CPU reports VBMI2 and VNNI) use VNNI and are the only ones with
# VBMI/VBMI2's vpexpandb and vpermt2b/vpermi2b; so the avx512 level
# (Skylake-X) never executes an instruction its CPU lacks. Skipped (77) off
# x86-64, without objdump, or where the build tree's libmb_kernels.a is not
# beside the binary. Usage: test_kernels_isa.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

lib=$(dirname "$MB")/../libmb_kernels.a
if [ "$(uname -m)" != x86_64 ] || ! command -v objdump >/dev/null || [ ! -f "$lib" ]; then
  echo "SKIP: needs x86-64, objdump and $lib"
  exit 77
fi
# "member count-of-VNNI count-of-BF16 count-of-VBMI" per object of the archive.
counts=$(objdump -d "$lib" | awk '
  /file format/ { if (m != "") print m, v, b, x; m = $1; sub(/:$/, "", m); v = 0; b = 0; x = 0; next }
  /vpdpbusd|vpdpwssd/ { v++ }
  /vdpbf16ps/ { b++ }
  /vpexpandb|vpermt2b|vpermi2b/ { x++ }
  END { if (m != "") print m, v, b, x }')
n_objects=$(wc -l <<<"$counts")
check "[ $n_objects -gt 20 ]" "objdump listed $n_objects objects of $lib"
while read -r m v b x; do
  case $m in
  *_vnni.c.o) check "[ $b -eq 0 ] && [ $x -eq 0 ]" "$m has $b vdpbf16ps and $x VBMI" ;;
  bf16_avx512.c.o) check "[ $b -gt 0 ] && [ $x -eq 0 ]" "$m has no vdpbf16ps (the BF16 tile)" ;;
  sparse_vbmi2.c.o | spack_vbmi2.c.o | sq4_lanes_vbmi2.c.o) check "[ $x -gt 0 ] && [ $b -eq 0 ]" "$m has $x VBMI and $b BF16" ;;
  *) check "[ $v -eq 0 ] && [ $b -eq 0 ] && [ $x -eq 0 ]" "$m has $v VNNI, $b BF16 and $x VBMI instructions" ;;
  esac
done <<<"$counts"
# The VNNI builds do use VNNI (else they would be the plain level again).
check "awk '\$1 ~ /kpack_vnni/ && \$2 > 0' <<<\"\$counts\" | grep -q ." "kpack_vnni.c.o has no VNNI instructions"
finish
