/* What the x86 K-quant block kernels share (dot_k_body.h for Q4_K..Q6_K,
 * dot_k23_body.h for Q2_K/Q3_K): a super-block prepared as unsigned codes
 * and int16 sub-block multipliers, and its dot with a Q8_K block. */
#ifndef MB_KERNELS_X86_KBLOCK_H
#define MB_KERNELS_X86_KBLOCK_H

#include "kernels/x86/dot_common.h"
#include "tensor/blocks.h"

/* Full unrolling turns the sub-block indices into constants (the scale
 * shuffles become immediates) and lets the compiler keep a prepared block in
 * registers (AVX-512 has 32 of them) instead of on the stack. */
#if defined(__clang__)
#define MBX_UNROLL _Pragma("unroll")
#else
#define MBX_UNROLL _Pragma("GCC unroll 8")
#endif

static inline __m256i mbx_load32(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

typedef struct {
    __m256i q[8], sc[8];
    __m256i bsum_mul; /* what multiplies the bsums: mins (Q2_K, Q4_K, Q5_K) or the offset */
    float d, dmin;
} mbx_kblock;

/* acc + this block . activation block Y. HAS_MIN (Q2_K/Q4_K/Q5_K): the bsum term
 * is the mins' sum, applied with dmin; otherwise (Q3_K, Q6_K) it is the
 * offset (-4, -32), taken out of the integer sum. */
static inline __m256 mbx_apply_k(const mbx_kblock *b, const mb_block_q8_k *y, __m256 acc,
                                 int has_min) {
    /* Two chains: VPDPWSSD's latency would otherwise bound the loop. */
    __m256i even = _mm256_setzero_si256(), odd = even;
    MBX_UNROLL
    for (int k = 0; k < 8; k += 2) {
        even = mbx_dot_us8_scaled(even, b->q[k], mbx_load32(y->qs + 32 * k), b->sc[k]);
        odd = mbx_dot_us8_scaled(odd, b->q[k + 1], mbx_load32(y->qs + 32 * k + 32), b->sc[k + 1]);
    }
    __m256i isum = _mm256_add_epi32(even, odd);
    const __m256i bsum = _mm256_madd_epi16(mbx_load32(y->bsums), b->bsum_mul);
    if (!has_min) isum = _mm256_sub_epi32(isum, bsum);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b->d * y->d), _mm256_cvtepi32_ps(isum), acc);
    if (has_min)
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(b->dmin * y->d), _mm256_cvtepi32_ps(bsum), acc);
    return acc;
}

#endif
