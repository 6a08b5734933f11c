/* Per-op timing of the forward pass's fused row steps against the separate
 * steps they replaced (docs/PERFORMANCE.md, "Fusion"). Minimum over many
 * repetitions: these machines are shared and noisy, and the minimum is the
 * figure least disturbed by other load. Built with the project (target
 * bench_fusion_ops; use a Release build):
 *   build/bench/fusion_ops */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "model/fused.h"
#include "model/rope.h"
#include "tensor/types.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIME_MIN(reps, body)                                                                       \
    ({                                                                                             \
        double best_ = 1e30;                                                                       \
        for (int r_ = 0; r_ < (reps); r_++) {                                                      \
            double t0_ = now();                                                                    \
            body;                                                                                  \
            double dt_ = now() - t0_;                                                              \
            best_ = dt_ < best_ ? dt_ : best_;                                                     \
        }                                                                                          \
        best_ * 1e6;                                                                               \
    })

typedef struct {
    const char *name;
    int n_embd, n_head, n_head_kv, hd, n_ff;
} shape;

static void run(const shape *sh, uint32_t wtype, int n, mb_threadpool *pool, int nt) {
    const int E = sh->n_embd, F = sh->n_ff, qd = sh->n_head * sh->hd, kvd = sh->n_head_kv * sh->hd;
    float *x = malloc(sizeof(float) * n * E), *xn = malloc(sizeof(float) * n * E);
    float *w = malloc(sizeof(float) * E), *q = malloc(sizeof(float) * n * qd);
    float *k = malloc(sizeof(float) * n * kvd), *v = malloc(sizeof(float) * n * kvd);
    float *g = malloc(sizeof(float) * n * F), *u = malloc(sizeof(float) * n * F);
    float *g0 = malloc(sizeof(float) * n * F);
    uint16_t *kc = malloc(2 * (size_t)n * kvd), *vc = malloc(2 * (size_t)n * kvd);
    size_t ab = mb_act_bytes(wtype, F > E ? F : E, n);
    mb_act act = {.act_type = MB_TYPE_COUNT, .data = malloc(ab)};
    for (int i = 0; i < n * E; i++)
        x[i] = sinf(i * 0.37f);
    for (int i = 0; i < E; i++)
        w[i] = 1.0f + 0.1f * cosf(i);
    for (int i = 0; i < n * F; i++)
        g0[i] = sinf(i * 0.11f) * 3, u[i] = cosf(i * 0.07f);
    for (int i = 0; i < n * qd; i++)
        q[i] = sinf(i * 0.01f);
    for (int i = 0; i < n * kvd; i++)
        k[i] = cosf(i * 0.02f), v[i] = sinf(i * 0.03f);
    mb_hparams hp = {0};
    hp.n_rot = sh->hd, hp.rope_base = 10000.0f, hp.rope_freq_scale = 1.0f;
    mb_rope rope;
    mb_rope_init(&rope, &hp, NULL);
    const int reps = n == 1 ? 2000 : 30;

    double norm_sep = TIME_MIN(reps, {
        for (int t = 0; t < n; t++)
            mb_rmsnorm(xn + (size_t)t * E, x + (size_t)t * E, w, E, 1e-5f);
        mb_act_prepare(&act, wtype, xn, E, n);
    });
    double norm_fused =
        TIME_MIN(reps, mb_fused_norm_quant(pool, nt, x, xn, w, n, E, 1e-5f, &act, wtype));

    double rope_sep = TIME_MIN(reps, {
        for (int t = 0; t < n; t++) {
            mb_rope_apply(&rope, q + (size_t)t * qd, sh->n_head, sh->hd, t);
            mb_rope_apply(&rope, k + (size_t)t * kvd, sh->n_head_kv, sh->hd, t);
            for (int d = 0; d < kvd; d++) {
                kc[(size_t)t * kvd + d] = mb_fp32_to_fp16(k[(size_t)t * kvd + d]);
                vc[(size_t)t * kvd + d] = mb_fp32_to_fp16(v[(size_t)t * kvd + d]);
            }
        }
    });
    /* A linear F16 cache of the batch's rows. */
    uint8_t *kp = (uint8_t *)kc, *vp = (uint8_t *)vc;
    mb_kv_layer layer = {.pages = {&kp, &vp}, .n_pages = 1, .page_slots = n};
    mb_kv_cache cache = {.n_layer = 1,
                         .type = {MB_TYPE_F16, MB_TYPE_F16},
                         .row_bytes = {(size_t)kvd * 2, (size_t)kvd * 2},
                         .head_bytes = {(size_t)sh->hd * 2, (size_t)sh->hd * 2},
                         .layers = &layer};
    mb_fused_rope_store rs = {.rope = &rope,
                              .q = q,
                              .k = k,
                              .v = v,
                              .kv = &cache,
                              .layer = 0,
                              .q_scale = 1.0f,
                              .n = n,
                              .pos = 0,
                              .n_head = sh->n_head,
                              .n_head_kv = sh->n_head_kv,
                              .hd = sh->hd};
    double rope_fused = TIME_MIN(reps, mb_fused_rope_kv(pool, nt, &rs));

    double glu_sep = TIME_MIN(reps, {
        memcpy(g, g0, sizeof(float) * n * F);
        mb_swiglu(g, g, u, (int64_t)n * F);
        mb_act_prepare(&act, wtype, g, F, n);
    });
    double glu_fused = TIME_MIN(reps, {
        memcpy(g, g0, sizeof(float) * n * F);
        mb_fused_glu_quant(pool, nt, g, u, n, F, MB_FFN_SILU, &act, wtype);
    });
    double copy = TIME_MIN(reps, memcpy(g, g0, sizeof(float) * n * F));
    /* What folding the residual into wo / w_down saves: one add pass. */
    double resid = TIME_MIN(reps, {
        for (int i = 0; i < n * E; i++)
            x[i] += xn[i] * 1e-9f;
    });
    printf("| %s | %s | %d | %d | %.1f → %.1f | %.1f → %.1f | %.1f → %.1f | %.1f |\n", sh->name,
           mb_type_name(wtype), n, nt, norm_sep, norm_fused, rope_sep, rope_fused, glu_sep - copy,
           glu_fused - copy, 2 * resid);
    free(x), free(xn), free(w), free(q), free(k), free(v), free(g), free(u), free(g0), free(kc);
    free(vc), free(act.data);
}

int main(void) {
    static const shape shapes[] = {{"llama-tiny", 256, 8, 4, 32, 704},
                                   {"llama-125m", 768, 12, 12, 64, 3072},
                                   {"tinyllama-1.1b", 2048, 32, 4, 64, 5632}};
    printf("kernels: %s; times in µs per layer, separate → fused (min of reps)\n\n",
           mb_kernels()->name);
    printf("| shape | weights | rows | threads | norm+quant | rope+F16 store | swiglu+quant | "
           "residual pass saved |\n|---|---|--:|:-:|--:|--:|--:|--:|\n");
    for (int nt = 1; nt <= 2; nt++) {
        mb_threadpool *pool;
        if (mb_threadpool_new(nt, &pool)) return 1;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int n = 1; n <= 512; n += 511) {
                if (n == 1 && nt == 2) continue; /* one row never leaves the caller */
                run(&shapes[s], MB_TYPE_F16, n, pool, nt);
                run(&shapes[s], MB_TYPE_Q4_0, n, pool, nt);
            }
        mb_threadpool_free(pool);
    }
    return 0;
}
