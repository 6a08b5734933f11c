/* The three matrix products of a linear layer, in the loop orders that keep
 * the inner loop contiguous and vectorized (GCC/Clang vector extensions,
 * which compile to whatever SIMD the baseline target has):
 *   forward  y[t][o]  = dot(x[t], W[o])            split by rows t
 *   backward dx[t][i] = sum_o dy[t][o] W[o][i]     split by rows t (axpy)
 *            dW[o][i] += sum_t dy[t][o] x[t][i]    split by rows o (axpy)
 * Each output element is summed by one thread in a fixed order, whatever the
 * split, so results are bitwise independent of the thread count. Blocks of
 * W (forward, dx) or x (dW) rows are reused across rows while they sit in
 * cache. */
#include <string.h>

#include "train/ops.h"

/* 16-byte vectors: SSE2 on x86-64 and NEON on arm64, the baseline of both,
 * so no per-ISA build is needed; two accumulators per sum hide the latency. */
typedef float v4 __attribute__((vector_size(16)));

static inline v4 load4(const float *p) {
    v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4 v) {
    memcpy(p, &v, sizeof v);
}

static inline float hsum(v4 x, v4 y) {
    v4 v = x + y;
    return (v[0] + v[2]) + (v[1] + v[3]);
}

/* dot of length K; the same operation order for every element. */
static inline float dot(const float *a, const float *b, int k) {
    v4 c0 = {0}, c1 = {0};
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        c0 += load4(a + i) * load4(b + i);
        c1 += load4(a + i + 4) * load4(b + i + 4);
    }
    float s = hsum(c0, c1);
    for (; i < k; i++)
        s += a[i] * b[i];
    return s;
}

/* Four dots of A against rows B0..B3 (LDB apart): A loaded once for four
 * rows. Each result equals dot(a, bj, k) bit for bit. */
static inline void dot4(const float *a, const float *b, int k, int ldb, float *out) {
    v4 c[8] = {{0}};
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        v4 x0 = load4(a + i), x1 = load4(a + i + 4);
        for (int j = 0; j < 4; j++) {
            c[2 * j] += x0 * load4(b + j * ldb + i);
            c[2 * j + 1] += x1 * load4(b + j * ldb + i + 4);
        }
    }
    float s[4];
    for (int j = 0; j < 4; j++)
        s[j] = hsum(c[2 * j], c[2 * j + 1]);
    for (; i < k; i++)
        for (int j = 0; j < 4; j++)
            s[j] += a[i] * b[j * ldb + i];
    memcpy(out, s, sizeof s);
}

static inline void axpy(float *y, float a, const float *x, int k) {
    v4 va = {a, a, a, a};
    int i = 0;
    for (; i + 4 <= k; i += 4)
        store4(y + i, load4(y + i) + va * load4(x + i));
    for (; i < k; i++)
        y[i] += a * x[i];
}

void mb_train_parallel(mb_threadpool *pool, mb_job_fn fn, void *ctx) {
    if (!pool) {
        fn(ctx, 0, 1);
        return;
    }
    mb_threadpool_run(pool, mb_threadpool_size(pool), fn, ctx);
}

typedef struct {
    float *y, *dx, *dw;
    const float *x, *w, *dy;
    int n, in, out, accumulate;
} linear_job;

enum { BLOCK = 32 };

static void forward_task(void *p, int ith, int nth) {
    const linear_job *j = p;
    long t0, t1;
    mb_split_range(j->n, ith, nth, &t0, &t1);
    for (int o0 = 0; o0 < j->out; o0 += BLOCK) {
        int o1 = o0 + BLOCK < j->out ? o0 + BLOCK : j->out;
        for (long t = t0; t < t1; t++) {
            const float *xt = j->x + (size_t)t * j->in;
            float *yt = j->y + (size_t)t * j->out;
            int o = o0;
            for (; o + 4 <= o1; o += 4)
                dot4(xt, j->w + (size_t)o * j->in, j->in, j->in, yt + o);
            for (; o < o1; o++)
                yt[o] = dot(xt, j->w + (size_t)o * j->in, j->in);
        }
    }
}

void mb_linear_forward(mb_threadpool *pool, float *y, const float *x, const float *w, int n, int in,
                       int out) {
    linear_job j = {.y = y, .x = x, .w = w, .n = n, .in = in, .out = out};
    mb_train_parallel(pool, forward_task, &j);
}

static void dx_task(void *p, int ith, int nth) {
    const linear_job *j = p;
    long t0, t1;
    mb_split_range(j->n, ith, nth, &t0, &t1);
    if (!j->accumulate)
        memset(j->dx + (size_t)t0 * j->in, 0, (size_t)(t1 - t0) * j->in * sizeof(float));
    for (int o0 = 0; o0 < j->out; o0 += BLOCK) {
        int o1 = o0 + BLOCK < j->out ? o0 + BLOCK : j->out;
        for (long t = t0; t < t1; t++) {
            float *dxt = j->dx + (size_t)t * j->in;
            const float *dyt = j->dy + (size_t)t * j->out;
            for (int o = o0; o < o1; o++)
                if (dyt[o] != 0.0f) axpy(dxt, dyt[o], j->w + (size_t)o * j->in, j->in);
        }
    }
}

static void dw_task(void *p, int ith, int nth) {
    const linear_job *j = p;
    long o0, o1;
    mb_split_range(j->out, ith, nth, &o0, &o1);
    for (int t0 = 0; t0 < j->n; t0 += BLOCK) {
        int t1 = t0 + BLOCK < j->n ? t0 + BLOCK : j->n;
        for (long o = o0; o < o1; o++) {
            float *dwo = j->dw + (size_t)o * j->in;
            for (int t = t0; t < t1; t++) {
                float g = j->dy[(size_t)t * j->out + o];
                if (g != 0.0f) axpy(dwo, g, j->x + (size_t)t * j->in, j->in);
            }
        }
    }
}

void mb_linear_backward(mb_threadpool *pool, float *dx, float *dw, const float *dy, const float *x,
                        const float *w, int n, int in, int out, int accumulate) {
    linear_job j = {.dx = dx,
                    .dw = dw,
                    .dy = dy,
                    .x = x,
                    .w = w,
                    .n = n,
                    .in = in,
                    .out = out,
                    .accumulate = accumulate};
    if (dx) mb_train_parallel(pool, dx_task, &j);
    mb_train_parallel(pool, dw_task, &j);
}
