/* Time of mb_attention_rows per kernel level and mode, one thread: 32 query
 * rows (a GQA group of 8 heads x 4 tokens, head dim 64: tinyllama-1.1b's
 * shape) against L cached positions, beside the per-head version it
 * replaced (full score vector). Minimum over repetitions. Built with
 * the project (target bench_attention_ops; use a Release build):
 *   build/bench/attention_ops 512 2048 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "tensor/types.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float rnd(void) {
    return (float)(rand() % 2000 - 1000) / 1000.0f;
}

/* The attention of one head before the tiling: every score through the
 * table's F16 dot, a softmax over the whole vector, one axpy per V row. */
static void old_head(const mb_kernel_table *kt, const float *q, const uint16_t *k,
                     const uint16_t *v, int64_t stride, int n, int hd, float *scores, float *out) {
    uint16_t q16[1024];
    kt->act_quant[MB_TYPE_F16](q, q16, hd);
    for (int j = 0; j < n; j++) {
        kt->dot[MB_TYPE_F16].vec_dot(hd, &scores[j], k + j * stride, q16);
        scores[j] *= 0.125f;
    }
    mb_softmax(scores, n);
    for (int i = 0; i < hd; i++)
        out[i] = 0.0f;
    for (int j = 0; j < n; j++)
        kt->axpy_f16(hd, out, mb_fp16_to_fp32(mb_fp32_to_fp16(scores[j])), v + j * stride);
}

static void run(int len_max) {
    enum { HD = 64, GROUP = 8, NKV = 4, ROWS = 32 };
    const int kvd = NKV * HD;
    uint16_t *k = malloc(2 * (size_t)len_max * kvd), *v = malloc(2 * (size_t)len_max * kvd);
    for (size_t i = 0; i < (size_t)len_max * kvd; i++)
        k[i] = mb_fp32_to_fp16(rnd()), v[i] = mb_fp32_to_fp16(rnd());
    static float q[ROWS * HD], o[ROWS * HD];
    for (int i = 0; i < ROWS * HD; i++)
        q[i] = rnd();
    const float *qr[ROWS];
    float *orow[ROWS];
    int len[ROWS];
    for (int r = 0; r < ROWS; r++) /* 4 causal tokens, 8 heads each */
        qr[r] = q + r * HD, orow[r] = o + r * HD, len[r] = len_max - 3 + r / GROUP;
    float *work = malloc(sizeof(float) * mb_attention_work_floats(HD, len_max));
    static const char *levels[] = {"ref", "avx2", "avx512"};
    for (int l = 0; l < 3; l++)
        for (int mode = 0; mode < 3; mode++) {
            const mb_kernel_table *kt = mb_kernels_level(levels[l]);
            if (!kt) continue;
            float *scores = malloc(sizeof(float) * len_max);
            double old = 1e9;
            for (int rep = 0; mode == 0 && rep < (l ? 20 : 3); rep++) {
                const double t0 = now();
                for (int r = 0; r < ROWS; r++)
                    old_head(kt, qr[r], k, v, kvd, len[r], HD, scores, orow[r]);
                const double dt = now() - t0;
                old = dt < old ? dt : old;
            }
            free(scores);
            const double flops = 2.0 * 2 * ROWS * HD * (double)len_max;
            if (mode == 0)
                printf("| %s | before (per head) | %d | %.1f | %.1f |\n", levels[l], len_max,
                       old * 1e6, flops / old * 1e-9);
            mb_attn_rows a = {.hd = HD,
                              .n_rows = ROWS,
                              .q = qr,
                              .out = orow,
                              .len = len,
                              .k = MB_ATTN_KV_F16(k, kvd, 0),
                              .v = MB_ATTN_KV_F16(v, kvd, 0),
                              .scale = 0.125f,
                              /* 2: exact without the score store */
                              .mode = mode == 1 ? MB_ATTN_ONLINE : MB_ATTN_EXACT,
                              .work_ctx = mode == 2 ? 0 : len_max,
                              .group = GROUP};
            /* q.K and p.V: 2 flops per multiply-add, once each. */
            double best = 1e9;
            for (int rep = 0; rep < (l ? 50 : 3); rep++) {
                const double t0 = now();
                mb_attention_rows(kt, &a, work);
                const double dt = now() - t0;
                best = dt < best ? dt : best;
            }
            static const char *const names[] = {"exact", "online", "exact (recompute)"};
            printf("| %s | %s | %d | %.1f | %.1f |\n", levels[l], names[mode], len_max, best * 1e6,
                   flops / best * 1e-9);
        }
    free(k), free(v), free(work);
}

int main(int argc, char **argv) {
    printf("| level | mode | positions | µs | GFLOP/s (q.K + p.V once) |\n|---|---|--:|--:|--:|\n");
    for (int i = 1; i < argc; i++)
        run(atoi(argv[i]) > 4 ? atoi(argv[i]) : 512);
    if (argc < 2) run(512);
    return 0;
}
