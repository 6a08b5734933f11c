/* The block loops of the quantized KV cache's decoders to F16, one body for
 * each x86 level (kv_avx2.c, kv_avx512.c). The including file defines, at
 * its vector width:
 *   block_scale(d): the block's F16 scale D broadcast as floats;
 *   codes_to_f16(lo, hi, scale, dst): 32 signed codes (two 16-byte halves)
 *     times SCALE, rounded to F16 into DST;
 * and names the two functions MBX_KV_Q8_0 and MBX_KV_Q4_0. */
#ifndef MB_KERNELS_X86_KV_BODY_H
#define MB_KERNELS_X86_KV_BODY_H

#include <immintrin.h>
#include <stdint.h>

#include "tensor/blocks.h"

void MBX_KV_Q8_0(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, dst += MB_QK8_0) {
        const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)b[i].qs);
        const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(b[i].qs + 16));
        codes_to_f16(lo, hi, block_scale(b[i].d), dst);
    }
}

void MBX_KV_Q4_0(const void *src, uint16_t *dst, int64_t n) {
    const mb_block_q4_0 *b = src;
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n / MB_QK4_0; i++, dst += MB_QK4_0) {
        const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)b[i].qs);
        /* Values 0..15 in the low nibbles, 16..31 in the high ones. */
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, mask), eight);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight);
        codes_to_f16(lo, hi, block_scale(b[i].d), dst);
    }
}

#endif
