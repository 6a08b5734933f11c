/* Kernel-level speed of a quantized weight type at the level in use
 * (MATCHBOX_CPU): the single dot over a weight block that sits in L2 (and
 * each decode form the level has: the weight-rows dot, the 16-row groups
 * of Q4_0 and the K-quants, SQ4's lanes, over the same rows reordered), and
 * mb_matmul of a batch of activation rows (128, or the second argument;
 * prefill's path: packed panels or gemm_tile where the level has them,
 * multi-row dots otherwise), on one thread. Where the level packs the type,
 * also the multi-row dots alone over the same batch, the packing of the
 * whole matrix, and the packed product with one panel reused (no packing).
 * Timed in thread CPU time, minimum over repetitions: on a shared, loaded
 * machine that is the figure least disturbed by other processes
 * (docs/PERFORMANCE.md, "Q4_0 kernels"). Built with the project (target
 * bench_quant_kernels; use a Release build):
 *   build/bench/quant_kernels Q4_0 [ROWS]   (or Q8_0, Q4_K, ...: mb_type_name's spelling) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "tensor/types.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t g_rng = 1;
static float rand_unit(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 33) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* The decode forms' inputs: L2_ROWS rows of N values of type WT (ROW_BYTES
 * each) at W, the same rows reordered at GRP where a form reads them so,
 * one activation row (ACT, and PREP where the form prepares it). */
enum { N = 2048, L2_ROWS = 256, OUT = 2048 };
typedef struct {
    const mb_kernel_table *k;
    uint32_t wt;
    const uint8_t *w;
    size_t rb;
    const mb_act *act;
    uint8_t *grp;
    void *prep;
} decode_bench;

/* One pass of a decode form over the L2_ROWS rows; returns a result to
 * keep the work alive. */
typedef float (*decode_form)(const decode_bench *b);

static float form_dot(const decode_bench *b) {
    float sum = 0;
    for (int r = 0; r < L2_ROWS; r++) {
        float v;
        b->k->dot[b->wt].vec_dot(N, &v, b->w + b->rb * (size_t)r, b->act->data);
        sum += v;
    }
    return sum;
}

static float form_wrows(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->dot[b->wt].vec_dot_wrows(N, v, b->w, b->rb, L2_ROWS, b->act->data);
    return v[0];
}

static float form_q4_0_r16(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->q4_0_r16(N, v, 0, b->grp, MB_Q4_0_R16_ROWS * b->rb, L2_ROWS / MB_Q4_0_R16_ROWS, b->prep,
                   1, 0);
    return v[0];
}

static float form_q4_k_r16(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->q4_k_r16(N, v, 0, b->grp, MB_Q4_K_R16_ROWS * b->rb, L2_ROWS / MB_Q4_K_R16_ROWS, b->prep,
                   1, 0);
    return v[0];
}

static float form_q5_k_r16(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->q5_k_r16(N, v, 0, b->grp, MB_Q5_K_R16_ROWS * b->rb, L2_ROWS / MB_Q5_K_R16_ROWS, b->prep,
                   1, 0);
    return v[0];
}

static float form_q6_k_r16(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->q6_k_r16(N, v, 0, b->grp, MB_Q6_K_R16_ROWS * b->rb, L2_ROWS / MB_Q6_K_R16_ROWS, b->prep,
                   1, 0);
    return v[0];
}

static float form_sq4_lanes(const decode_bench *b) {
    float v[L2_ROWS];
    b->k->sq4_lanes(N, v, 0, b->grp, b->rb, L2_ROWS, b->act->data, b->act->row_bytes, 1, 0);
    return v[0];
}

/* The best of 200 passes of FORM, as GB/s of weights. */
static void report(const decode_bench *b, const char *type, const char *what, decode_form form) {
    double best = 1e30;
    volatile float sink = 0;
    for (int rep = 0; rep < 200; rep++) {
        const double t0 = cpu_now();
        sink += form(b);
        const double t = cpu_now() - t0;
        best = t < best ? t : best;
    }
    printf("%s %s: %s, %d rows in L2: %.1f GB/s of weights\n", b->k->name, type, what, L2_ROWS,
           (double)b->rb * L2_ROWS / best / 1e9);
    (void)sink;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "Q4_0";
    uint32_t wt = MB_TYPE_COUNT;
    for (uint32_t t = 0; t < MB_TYPE_COUNT; t++)
        if (mb_type_get(t) && mb_type_name(t) && strcmp(mb_type_name(t), name) == 0) wt = t;
    const mb_kernel_table *k = mb_kernels();
    if (wt == MB_TYPE_COUNT || !mb_type_get(wt)->from_float || !k->dot[wt].vec_dot) {
        fprintf(stderr, "quant_kernels: no encoder or kernel for type '%s'\n", name);
        return 1;
    }
    const int BATCH = argc > 2 && atoi(argv[2]) > 0 ? atoi(argv[2]) : 128;
    uint64_t rb = 0;
    mb_type_row_bytes(wt, N, &rb);
    uint8_t *w = malloc((size_t)rb * OUT);
    float *x = malloc(sizeof(float) * N * BATCH), *out = malloc(sizeof(float) * OUT * BATCH);
    for (int i = 0; i < N * BATCH; i++)
        x[i] = rand_unit();
    for (int r = 0; r < OUT; r++) {
        float row[N];
        for (int i = 0; i < N; i++)
            row[i] = 0.02f * rand_unit();
        mb_type_get(wt)->from_float(row, w + (size_t)rb * r, N);
    }
    mb_act act = {0};
    act.data = malloc(mb_act_bytes(wt, N, BATCH));
    mb_act_prepare(&act, wt, x, N, BATCH);

    /* The decode forms: L2_ROWS weight rows against one activation row,
     * in the file's layout and in each reordered one the level has. */
    decode_bench db = {.k = k, .wt = wt, .w = w, .rb = rb, .act = &act};
    report(&db, name, "dot", form_dot);
    if (k->dot[wt].vec_dot_wrows) report(&db, name, "weight-rows dot (decode)", form_wrows);
    if (wt == MB_TYPE_Q4_0) {
        /* kernels/q4_0_r16.h */
        db.grp = malloc((size_t)rb * L2_ROWS);
        db.prep = malloc(sizeof(mb_q4_0_r16_act) * (N / 32));
        for (int g = 0; g < L2_ROWS / MB_Q4_0_R16_ROWS; g++)
            mb_q4_0_r16_pack(N, db.grp + (size_t)g * MB_Q4_0_R16_ROWS * rb,
                             w + (size_t)g * MB_Q4_0_R16_ROWS * rb, rb);
        mb_q4_0_r16_prep(N, act.data, db.prep);
        report(&db, name, "16-row groups (decode)", form_q4_0_r16);
    }
    if (wt == MB_TYPE_Q4_K && k->q4_k_r16 != mb_ref_q4_k_r16) {
        /* kernels/q4_k_r16.h */
        db.grp = malloc((size_t)rb * L2_ROWS);
        db.prep = malloc(sizeof(mb_q4_k_r16_act) * (N / 256));
        for (int g = 0; g < L2_ROWS / MB_Q4_K_R16_ROWS; g++)
            mb_q4_k_r16_pack(N, db.grp + (size_t)g * MB_Q4_K_R16_ROWS * rb,
                             w + (size_t)g * MB_Q4_K_R16_ROWS * rb, rb);
        mb_q4_k_r16_prep(N, act.data, db.prep);
        report(&db, name, "16-row groups (decode)", form_q4_k_r16);
    }
    if (wt == MB_TYPE_Q5_K && k->q5_k_r16 != mb_ref_q5_k_r16) {
        /* kernels/q5_k_r16.h */
        db.grp = malloc((size_t)rb * L2_ROWS);
        db.prep = malloc(sizeof(mb_q4_k_r16_act) * (N / 256));
        for (int g = 0; g < L2_ROWS / MB_Q5_K_R16_ROWS; g++)
            mb_q5_k_r16_pack(N, db.grp + (size_t)g * MB_Q5_K_R16_ROWS * rb,
                             w + (size_t)g * MB_Q5_K_R16_ROWS * rb, rb);
        mb_q4_k_r16_prep(N, act.data, db.prep);
        report(&db, name, "16-row groups (decode)", form_q5_k_r16);
    }
    if (wt == MB_TYPE_Q6_K && k->q6_k_r16 != mb_ref_q6_k_r16) {
        /* kernels/q6_k_r16.h */
        db.grp = malloc((size_t)rb * L2_ROWS);
        db.prep = malloc(sizeof(mb_q6_k_r16_act) * (N / 256));
        for (int g = 0; g < L2_ROWS / MB_Q6_K_R16_ROWS; g++)
            mb_q6_k_r16_pack(N, db.grp + (size_t)g * MB_Q6_K_R16_ROWS * rb,
                             w + (size_t)g * MB_Q6_K_R16_ROWS * rb, rb);
        mb_q6_k_r16_prep(N, act.data, db.prep);
        report(&db, name, "16-row groups (decode)", form_q6_k_r16);
    }
    if (wt == MB_TYPE_SQ4 && k->sq4_lanes) {
        /* kernels/sq4_lanes.h */
        db.grp = malloc((size_t)rb * L2_ROWS);
        k->sq4_convert((int64_t)N / 256 * L2_ROWS, db.grp, w, 1);
        report(&db, name, "lanes (decode)", form_sq4_lanes);
    }
    free(db.grp);
    free(db.prep);
    double best = 1e30;
    volatile float sink = 0;
    mb_matrix m = {w, wt, N, OUT, (size_t)rb, MB_LAYOUT_ROWS};
    best = 1e30;
    for (int rep = 0; rep < 40; rep++) {
        const double t0 = cpu_now();
        mb_matmul(NULL, 1, &m, &act, out, OUT, 0);
        const double t = cpu_now() - t0;
        best = t < best ? t : best;
    }
    printf("%s %s: matmul %dx%d x %d rows: %.2f ms = %.1f GMAC/s\n", k->name, name, OUT, N, BATCH,
           best * 1e3, (double)N * OUT * BATCH / best / 1e9);
    const mb_dot_traits *dt = &k->dot[wt];
    if (dt->pack && dt->vec_dot_rows) {
        best = 1e30;
        for (int rep = 0; rep < 10; rep++) {
            const double t0 = cpu_now();
            for (int o = 0; o < OUT; o++)
                for (int r0 = 0; r0 < BATCH; r0 += 8) {
                    const int n_rows = BATCH - r0 < 8 ? BATCH - r0 : 8;
                    dt->vec_dot_rows(N, out + r0, w + (size_t)rb * o,
                                     act.data + (size_t)r0 * act.row_bytes, act.row_bytes, n_rows);
                }
            const double t = cpu_now() - t0;
            best = t < best ? t : best;
        }
        printf("%s %s: multi-row dots alone: %.2f ms = %.1f GMAC/s\n", k->name, name, best * 1e3,
               (double)N * OUT * BATCH / best / 1e9);
        const size_t pb = (size_t)dt->pack_block_bytes * (N / mb_type_get(wt)->block_size);
        uint8_t *panel = aligned_alloc(64, (pb + 63) / 64 * 64);
        best = 1e30;
        for (int rep = 0; rep < 20; rep++) {
            const double t0 = cpu_now();
            for (int o = 0; o < OUT; o += (int)dt->pack_rows)
                dt->pack(N, panel, w + (size_t)rb * o, rb, (int)dt->pack_rows);
            const double t = cpu_now() - t0;
            best = t < best ? t : best;
        }
        printf("%s %s: packing all %d rows: %.2f ms\n", k->name, name, OUT, best * 1e3);
        best = 1e30;
        for (int rep = 0; rep < 10; rep++) {
            const double t0 = cpu_now();
            for (int o = 0; o < OUT; o += (int)dt->pack_rows)
                for (int r0 = 0; r0 < BATCH; r0 += 8) {
                    float v[8 * 64];
                    const int n_rows = BATCH - r0 < 8 ? BATCH - r0 : 8;
                    dt->gemm_packed(N, v, dt->pack_rows, panel,
                                    act.data + (size_t)r0 * act.row_bytes, act.row_bytes, n_rows,
                                    0);
                    sink += v[0];
                }
            const double t = cpu_now() - t0;
            best = t < best ? t : best;
        }
        printf("%s %s: packed products alone: %.2f ms = %.1f GMAC/s\n", k->name, name, best * 1e3,
               (double)N * OUT * BATCH / best / 1e9);
        free(panel);
    }
    free(w), free(x), free(out), free(act.data);
    return sink == 12345.0f;
}
