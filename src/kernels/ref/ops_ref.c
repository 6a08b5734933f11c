/* Reference float ops of the transformer block. Reductions accumulate in
 * double: these rows are a few thousand values long and the reference is
 * the yardstick the SIMD versions are measured against. */
#include <math.h>
#include <pthread.h>

#include "kernels/kernels.h"
#include "tensor/fp16.h"

void mb_ref_axpy_f16(int64_t n, float *y, float a, const uint16_t *x) {
    for (int64_t i = 0; i < n; i++)
        y[i] += a * mb_half_to_float(x[i]);
}

/* out = x / sqrt(mean(x^2) + eps) * weight (RMSNorm, Zhang & Sennrich 2019).
 * OUT may alias X. */
void mb_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    const float scale = n > 0 ? (float)(1.0 / sqrt(ss / (double)n + eps)) : 0.0f;
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * scale * weight[i];
}

/* In place. Subtracting the maximum first keeps expf from overflowing; a row
 * that is entirely -inf (everything masked) has no maximum to subtract and
 * becomes uniform rather than NaN. */
void mb_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float max = x[0];
    for (int64_t i = 1; i < n; i++)
        max = fmaxf(max, x[i]);
    if (max == -INFINITY) {
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f / (float)n;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

/* SwiGLU (Shazeer 2020): silu(g) * u with silu(g) = g * sigmoid(g). For very
 * negative g, expf(-g) is inf and g / inf gives the correct limit -0. */
void mb_swiglu(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* GELU, tanh form (Hendrycks & Gimpel 2016): 0.5 x (1 + tanh(sqrt(2/pi)
 * (x + 0.044715 x^3))). */
static float gelu_tanh(float x) {
    const double c = 0.79788456080286535588; /* sqrt(2 / pi) */
    return (float)(0.5 * x * (1.0 + tanh(c * (x + 0.044715 * (double)x * x * x))));
}

/* GELU of every F16 value, rounded to F16: the reference computes GeGLU's
 * GELU this way (the input rounded to F16, the result read from such a
 * table), so matching logits means matching it; past |x| >= 10 GELU is 0
 * or x, exactly. */
static uint16_t gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void build_gelu_table(void) {
    for (uint32_t i = 0; i < 65536; i++)
        gelu_table[i] = mb_fp32_to_fp16(gelu_tanh(mb_half_to_float((uint16_t)i)));
}

void mb_geglu(float *out, const float *gate, const float *up, int64_t n) {
    pthread_once(&gelu_once, build_gelu_table);
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        const float a = g <= -10.0f  ? 0.0f
                        : g >= 10.0f ? g
                                     : mb_half_to_float(gelu_table[mb_fp32_to_fp16(g)]);
        out[i] = a * up[i];
    }
}
