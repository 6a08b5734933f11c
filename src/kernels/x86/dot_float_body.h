/* Float-type dots (F32, F16, BF16 weights with activations of the same
 * type), shared by the x86 levels. The includer defines MBX_VEC (its float
 * vector), MBX_W (lanes), MBX_ZERO(), MBX_FMA(a, b, acc), MBX_ADD(a, b),
 * MBX_HSUM(v) and, per type, MBX_LD_<T>(p, i) loading MBX_W values at
 * element i as floats. Four accumulators hide the FMA latency; the rows form
 * runs two activation rows against each loaded weight vector, with the same
 * per-row operations, so it equals two single dots bit for bit. */
#include <stddef.h>
#include <stdint.h>

#include "tensor/fp16.h"

static inline float mbx_sc_f32(const void *p, int64_t i) {
    return ((const float *)p)[i];
}
static inline float mbx_sc_f16(const void *p, int64_t i) {
    return mb_half_to_float(((const uint16_t *)p)[i]);
}
static inline float mbx_sc_bf16(const void *p, int64_t i) {
    return mb_bfloat_to_float(((const uint16_t *)p)[i]);
}

#define MBX_DEFINE_FLOAT_DOTS(name, LD, SC)                                                        \
    static inline __attribute__((always_inline)) void mbx_float_##name(                            \
        int64_t n, float *out, const void *w, const void *a0, const void *a1, int two) {           \
        MBX_VEC s0 = MBX_ZERO(), s1 = s0, s2 = s0, s3 = s0;                                        \
        MBX_VEC t0 = s0, t1 = s0, t2 = s0, t3 = s0;                                                \
        int64_t i = 0;                                                                             \
        for (; i + 4 * MBX_W <= n; i += 4 * MBX_W) {                                               \
            const MBX_VEC w0 = LD(w, i), w1 = LD(w, i + MBX_W);                                    \
            const MBX_VEC w2 = LD(w, i + 2 * MBX_W), w3 = LD(w, i + 3 * MBX_W);                    \
            s0 = MBX_FMA(w0, LD(a0, i), s0);                                                       \
            s1 = MBX_FMA(w1, LD(a0, i + MBX_W), s1);                                               \
            s2 = MBX_FMA(w2, LD(a0, i + 2 * MBX_W), s2);                                           \
            s3 = MBX_FMA(w3, LD(a0, i + 3 * MBX_W), s3);                                           \
            if (two) {                                                                             \
                t0 = MBX_FMA(w0, LD(a1, i), t0);                                                   \
                t1 = MBX_FMA(w1, LD(a1, i + MBX_W), t1);                                           \
                t2 = MBX_FMA(w2, LD(a1, i + 2 * MBX_W), t2);                                       \
                t3 = MBX_FMA(w3, LD(a1, i + 3 * MBX_W), t3);                                       \
            }                                                                                      \
        }                                                                                          \
        float v0 = MBX_HSUM(MBX_ADD(MBX_ADD(s0, s1), MBX_ADD(s2, s3)));                            \
        float v1 = two ? MBX_HSUM(MBX_ADD(MBX_ADD(t0, t1), MBX_ADD(t2, t3))) : 0.0f;               \
        for (; i < n; i++) {                                                                       \
            v0 += SC(w, i) * SC(a0, i);                                                            \
            if (two) v1 += SC(w, i) * SC(a1, i);                                                   \
        }                                                                                          \
        out[0] = v0;                                                                               \
        if (two) out[1] = v1;                                                                      \
    }                                                                                              \
    void MBX_NAME(dot_##name)(int64_t n, float *out, const void *w, const void *a) {               \
        mbx_float_##name(n, out, w, a, a, 0);                                                      \
    }                                                                                              \
    void MBX_NAME(dot_rows_##name)(int64_t n, float *out, const void *w, const void *a,            \
                                   size_t stride, int n_rows) {                                    \
        const uint8_t *ab = a;                                                                     \
        int r = 0;                                                                                 \
        for (; r + 2 <= n_rows; r += 2)                                                            \
            mbx_float_##name(n, out + r, w, ab + (size_t)r * stride,                               \
                             ab + (size_t)(r + 1) * stride, 1);                                    \
        if (r < n_rows) mbx_float_##name(n, out + r, w, ab + (size_t)r * stride, NULL, 0);         \
    }
