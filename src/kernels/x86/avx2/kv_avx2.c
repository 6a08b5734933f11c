/* AVX2 decoders of the quantized KV cache's blocks to F16 (attention's tile
 * staging; the block loops in x86/kv_body.h): codes widened to int32, to float, times the block's
 * scale (exact), then one rounding to F16 to nearest even, as the reference's. */
#include <immintrin.h>

#include "kernels/x86/x86_kernels.h"

/* 32 signed codes (two 16-byte halves) times D, as F16 to DST. */
static inline void codes_to_f16(__m128i lo, __m128i hi, __m256 d, uint16_t *dst) {
    const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[k])), d);
        _mm_storeu_si128((__m128i *)(void *)(dst + 8 * k),
                         _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

static inline __m256 block_scale(uint16_t d) {
    return _mm256_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(d))));
}

#define MBX_KV_Q8_0 mb_avx2_q8_0_to_f16
#define MBX_KV_Q4_0 mb_avx2_q4_0_to_f16
#include "kernels/x86/kv_body.h"
