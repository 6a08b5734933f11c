/* The "avx512-vnni" level's build of ../avx512/q6_k_r16_avx512.c: the same source with
 * VPDPBUSD for the 8-bit dot steps (MBX_VNNI, int_avx512.h), its functions named
 * mb_avx512vnni_*. This folder alone gets -mavx512vnni. */
#define MBX_VNNI 1
#include "kernels/x86/avx512/q6_k_r16_avx512.c"
