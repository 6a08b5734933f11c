/* AVX-512 decoders of the quantized KV cache's blocks to F16 (attention's
 * tile staging): 16 codes per vector, times the block's scale (exact), one
 * rounding to F16 to nearest even, as the reference's. */
#include <immintrin.h>

#include "kernels/x86/x86_kernels.h"

/* 32 signed codes (two 16-byte halves) times D, as F16 to DST. */
static inline void codes_to_f16(__m128i lo, __m128i hi, __m512 d, uint16_t *dst) {
    const __m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d);
    const __m512 f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d);
#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) /* a constant, as clang requires */
    _mm256_storeu_si256((__m256i *)(void *)dst, _mm512_cvtps_ph(f0, RN));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 16), _mm512_cvtps_ph(f1, RN));
#undef RN
}

static inline __m512 block_scale(uint16_t d) {
    return _mm512_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(d))));
}

#define MBX_KV_Q8_0 mb_avx512_q8_0_to_f16
#define MBX_KV_Q4_0 mb_avx512_q4_0_to_f16
#include "kernels/x86/kv_body.h"
