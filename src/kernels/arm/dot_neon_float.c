/* NEON dots of the float weight types (F32; F16 and BF16 against
 * activations of their own type, widened exactly to F32) and the F16 axpy.
 * Baseline ARMv8-A: FCVTL converts halves without the FP16 arithmetic
 * extension. */
#include <arm_neon.h>

#include "kernels/arm/arm_kernels.h"
#include "tensor/fp16.h"

static inline float32x4_t ld_f32(const void *p, int64_t i) {
    return vld1q_f32((const float *)p + i);
}
static inline float32x4_t ld_f16(const void *p, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p + i)));
}
/* A bf16 is the top half of a float. */
static inline float32x4_t ld_bf16(const void *p, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p + i), 16));
}
static inline float sc_f32(const void *p, int64_t i) {
    return ((const float *)p)[i];
}
static inline float sc_f16(const void *p, int64_t i) {
    return mb_half_to_float(((const uint16_t *)p)[i]);
}
static inline float sc_bf16(const void *p, int64_t i) {
    return mb_bfloat_to_float(((const uint16_t *)p)[i]);
}

/* One row's dot: four accumulators over 16 values at a time, then 4 at a
 * time, then the scalar tail. The rows form runs the same steps per row, so
 * its results equal the single dot's. */
#define MBN_FLOAT_DOT_ROW(LD, SC, w, y, n, out)                                                    \
    do {                                                                                           \
        float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;                             \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= (n); i += 16) {                                                           \
            c0 = vfmaq_f32(c0, LD(w, i), LD(y, i));                                                \
            c1 = vfmaq_f32(c1, LD(w, i + 4), LD(y, i + 4));                                        \
            c2 = vfmaq_f32(c2, LD(w, i + 8), LD(y, i + 8));                                        \
            c3 = vfmaq_f32(c3, LD(w, i + 12), LD(y, i + 12));                                      \
        }                                                                                          \
        for (; i + 4 <= (n); i += 4)                                                               \
            c0 = vfmaq_f32(c0, LD(w, i), LD(y, i));                                                \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)));                     \
        for (; i < (n); i++)                                                                       \
            s += SC(w, i) * SC(y, i);                                                              \
        *(out) = s;                                                                                \
    } while (0)

#define MBN_DEFINE_FLOAT_DOTS(name, LD, SC)                                                        \
    void mb_neon_dot_##name(int64_t n, float *out, const void *w, const void *a) {                 \
        MBN_FLOAT_DOT_ROW(LD, SC, w, a, n, out);                                                   \
    }                                                                                              \
    void mb_neon_dot_rows_##name(int64_t n, float *out, const void *w, const void *a,              \
                                 size_t stride, int n_rows) {                                      \
        for (int r = 0; r < n_rows; r++)                                                           \
            MBN_FLOAT_DOT_ROW(LD, SC, w, (const uint8_t *)a + (size_t)r * stride, n, &out[r]);     \
    }

MBN_DEFINE_FLOAT_DOTS(f32, ld_f32, sc_f32)
MBN_DEFINE_FLOAT_DOTS(f16, ld_f16, sc_f16)
MBN_DEFINE_FLOAT_DOTS(bf16, ld_bf16, sc_bf16)

void mb_neon_axpy_f16(int64_t n, float *y, float a, const uint16_t *x) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), ld_f16(x, i), a));
    for (; i < n; i++)
        y[i] += a * mb_half_to_float(x[i]);
}
