/* AVX-512 SwiGLU, sixteen lanes (see avx2/swiglu_avx2.c). */
#include <immintrin.h>

#include "kernels/x86/avx512/exp_avx512.h"
#include "kernels/x86/x86_kernels.h"

void mb_avx512_swiglu(float *out, const float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 e = mbx_exp16(_mm512_sub_ps(zero, g));
        /* Below -87 the reference's exp(-g) overflows and silu is 0. */
        const __mmask16 live = _mm512_cmp_ps_mask(g, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
        const __m512 silu = _mm512_maskz_div_ps(live, g, _mm512_add_ps(one, e));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
    }
    if (i < n) mb_swiglu(out + i, gate + i, up + i, n - i);
}
