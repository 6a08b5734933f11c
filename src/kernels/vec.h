/* Small vector helpers for the portable float kernels and the trainer's ops: 16-byte vectors (SSE2
 * on x86-64, NEON on arm64, the baseline of both) with one fixed operation order, so a result does
 * not depend on which thread or code path computed it. */
#ifndef MB_KERNELS_VEC_H
#define MB_KERNELS_VEC_H

#include <string.h>

typedef float mb_v4 __attribute__((vector_size(16)));

static inline mb_v4 mb_v4_load(const float *p) {
    mb_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void mb_v4_store(float *p, mb_v4 v) {
    memcpy(p, &v, sizeof v);
}

static inline float mb_v4_hsum(mb_v4 v) {
    return (v[0] + v[2]) + (v[1] + v[3]);
}

static inline float mb_vdot(const float *a, const float *b, int n) {
    mb_v4 acc = {0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        acc += mb_v4_load(a + i) * mb_v4_load(b + i);
    float s = mb_v4_hsum(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y += a x */
static inline void mb_vaxpy(float *y, float a, const float *x, int n) {
    mb_v4 va = {a, a, a, a};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        mb_v4_store(y + i, mb_v4_load(y + i) + va * mb_v4_load(x + i));
    for (; i < n; i++)
        y[i] += a * x[i];
}

#endif
