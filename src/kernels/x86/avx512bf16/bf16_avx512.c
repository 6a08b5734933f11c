/* The BF16 batch product of the "avx512-bf16" level (the only code that
 * needs AVX512-BF16, so the only file built with -mavx512bf16): VDPBF16PS
 * multiplies bf16 pairs and accumulates in float in one instruction, 32
 * values at a time, in the register-blocked tile (x86/gemm_body.h, 6 weight
 * rows x 4 activation rows as gemm_avx512.c's): 117-128 GMAC/s against 84-91
 * widening bf16 to floats (bench/quant_kernels BF16, Zen 4). (VDPBF16PS
 * treats subnormal inputs as zero: a difference from the reference only for
 * values below 1e-38, far under any weight's or activation's scale.) The
 * single and multi-row dots widen to floats at every AVX-512 level
 * (dot_avx512_f.c): with weights in L2 they ran at 57-65 GB/s, VDPBF16PS's
 * at 39-42; the lower levels' tile widens too (gemm_avx512.c). */
#include <immintrin.h>

#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/vec_avx512.h"

#define MBX_GEMM_MR 6
#define MBX_GEMM_MC 4
#include "kernels/x86/gemm_body.h"

/* The batch product's pieces (gemm_body.h). */
static inline __m512bh ld_bf16(const uint8_t *p, int64_t i) {
    return (__m512bh)_mm512_loadu_si512((const void *)(p + 2 * i));
}
static inline float fin_bf16(__m512 acc, const uint8_t *w, const uint8_t *a, int64_t i, int64_t n) {
    if (i < n) {
        const __mmask32 m = mbx_tail_mask32(i, n);
        acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_maskz_loadu_epi16(m, w + 2 * i),
                               (__m512bh)_mm512_maskz_loadu_epi16(m, a + 2 * i));
    }
    return mbx_hsum512(acc);
}

#define DP_BF16(acc, x, y) _mm512_dpbf16_ps(acc, x, y)

MBX_GEMM_BLOCK(bf16_block, __m512bh, 32, ld_bf16, ld_bf16, DP_BF16, fin_bf16, __m512,
               _mm512_setzero_ps)
MBX_GEMM_DRIVER(mb_avx512_gemm_bf16, bf16_block)
