/* AVX2 activation encoders. They must produce the reference encoders'
 * bytes exactly (tensor/quant_ref.c): the same scale arithmetic in the same
 * float operations, the same rounding (Q8_0: half away from zero; Q8_K:
 * half to even), the same clamping of NaN and infinities, the same fp16/bf16
 * rounding. Only the order of the max search differs, and max is exact. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/x86_kernels.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

static inline __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* max |x| over N (a multiple of 8) values. VMAXPS returns its second
 * operand when either is NaN, so NaN inputs are skipped, as fmaxf and the
 * reference's strict comparisons skip them. */
static float abs_max(const float *x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Four vectors of integral floats (already clamped to -128..127) to 32
 * int8 in order. */
static inline __m256i pack_codes(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256i ab = _mm256_packs_epi32(_mm256_cvttps_epi32(a), _mm256_cvttps_epi32(b));
    const __m256i cd = _mm256_packs_epi32(_mm256_cvttps_epi32(c), _mm256_cvttps_epi32(d));
    const __m256i q = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* roundf: truncate, then step away from zero when the dropped fraction is
 * at least one half (x - trunc(x) is exact). NaN stays NaN. */
static inline __m256 round_away(__m256 x) {
    const __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(x, t));
    const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
    const __m256 ge = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(ge, step));
}

/* Clamp to [LO, HI]; NaN becomes LO (VMAXPS returns the second operand). */
static inline __m256 clamp_ps(__m256 v, float lo, float hi) {
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
}

void mb_avx2_quant_q8_0(const float *src, void *dst, int64_t n) {
    mb_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MB_QK8_0; i++, src += MB_QK8_0) {
        const float d = abs_max(src, MB_QK8_0) / 127;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        __m256 r[4];
        for (int k = 0; k < 4; k++)
            r[k] = clamp_ps(round_away(_mm256_mul_ps(_mm256_loadu_ps(src + 8 * k), id)), -127, 127);
        _mm256_storeu_si256((__m256i *)(void *)b[i].qs, pack_codes(r[0], r[1], r[2], r[3]));
        b[i].d = mb_fp32_to_fp16(d);
    }
}

void mb_avx2_quant_q8_k(const float *src, void *dst, int64_t n) {
    mb_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / MB_QK_K; i++, src += MB_QK_K) {
        const float amax = abs_max(src, MB_QK_K);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* The reference keeps the sign of the first value of largest
         * magnitude; equal magnitudes of opposite sign make a difference. */
        int first = 0;
        while (!(__builtin_fabsf(src[first]) == amax))
            first++;
        const float iscale = -127.0f / src[first];
        const __m256 is = _mm256_set1_ps(iscale);
        for (int g = 0; g < MB_QK_K / 32; g++) {
            __m256 r[4];
            for (int k = 0; k < 4; k++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(src + 32 * g + 8 * k), is);
                r[k] = clamp_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                -128, 127);
            }
            _mm256_storeu_si256((__m256i *)(void *)(b[i].qs + 32 * g),
                                pack_codes(r[0], r[1], r[2], r[3]));
        }
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/* F16C rounds to nearest even and quiets NaNs keeping the top payload bits,
 * as mb_fp32_to_fp16 does. */
void mb_avx2_quant_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(h + i), v);
    }
    for (; i < n; i++)
        h[i] = mb_fp32_to_fp16(src[i]);
}

/* Round to nearest even on the low 16 bits in integer arithmetic, as the
 * reference does (VCVTNEPS2BF16 would flush subnormals to zero). */
static inline __m256i bf16_round(__m256 x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), odd)), 16);
    const __m256i mag = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
    const __m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7F800000));
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, quiet, nan);
}

void mb_avx2_quant_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i lo = bf16_round(_mm256_loadu_ps(src + i));
        const __m256i hi = bf16_round(_mm256_loadu_ps(src + i + 8));
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
        _mm256_storeu_si256((__m256i *)(void *)(h + i), p);
    }
    for (; i < n; i++)
        h[i] = mb_fp32_to_bf16(src[i]);
}
