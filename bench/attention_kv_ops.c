/* Time of mb_attention_rows per kernel level and KV cache type, one thread,
 * exact mode: tinyllama-1.1b's shape (head dim 64, a GQA group of 8) against
 * L cached positions in pages of 64 slots, for a decode step (8 rows: one
 * token's group) and a prefill block (32 rows: 4 tokens' groups). A
 * quantized cache's tiles are converted to F16 before the F16 tile step;
 * the difference from f16 is that conversion. Minimum over repetitions.
 *   build/bench/attention_kv_ops 512 2048 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "tensor/types.h"

enum { HD = 64, GROUP = 8, NKV = 4, PAGE = 64 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float rnd(void) {
    return (float)(rand() % 2000 - 1000) / 1000.0f;
}

/* LEN positions of NKV heads as TYPE rows, in pages of PAGE slots. */
static mb_attn_kv cache(uint32_t type, int len, const uint8_t **pages) {
    uint64_t rb = 0;
    mb_type_row_bytes(type, NKV * HD, &rb);
    const int np = (len + PAGE - 1) / PAGE;
    float row[NKV * HD];
    for (int p = 0; p < np; p++) {
        uint8_t *page = malloc((size_t)rb * PAGE);
        for (int s = 0; s < PAGE; s++) {
            for (int i = 0; i < NKV * HD; i++)
                row[i] = rnd();
            mb_type_get(type)->from_float(row, page + (size_t)s * rb, NKV * HD);
        }
        pages[p] = page;
    }
    return (mb_attn_kv){.pages = pages,
                        .n_pages = np,
                        .page_slots = PAGE,
                        .row_bytes = (int64_t)rb,
                        .head_off = (int64_t)rb / NKV,
                        .type = type};
}

static void run(int len_max) {
    static const uint32_t types[] = {MB_TYPE_F16, MB_TYPE_Q8_0, MB_TYPE_Q4_0};
    static const char *levels[] = {"ref", "avx2", "avx512"};
    const int np = (len_max + PAGE - 1) / PAGE;
    static float q[32 * HD], o[32 * HD];
    for (int i = 0; i < 32 * HD; i++)
        q[i] = rnd();
    float *work = malloc(sizeof(float) * mb_attention_work_floats(HD, len_max));
    for (int ti = 0; ti < 3; ti++) {
        const uint8_t **kp = malloc(sizeof *kp * np), **vp = malloc(sizeof *vp * np);
        const mb_attn_kv k = cache(types[ti], len_max, kp), v = cache(types[ti], len_max, vp);
        for (int l = 0; l < 3; l++) {
            const mb_kernel_table *kt = mb_kernels_level(levels[l]);
            if (!kt) continue;
            for (int rows = 8; rows <= 32; rows += 24) {
                const float *qr[32];
                float *orow[32];
                int len[32];
                for (int r = 0; r < rows; r++)
                    qr[r] = q + r * HD, orow[r] = o + r * HD, len[r] = len_max - 3 + r / GROUP;
                mb_attn_rows a = {.hd = HD,
                                  .n_rows = rows,
                                  .q = qr,
                                  .out = orow,
                                  .len = len,
                                  .k = k,
                                  .v = v,
                                  .scale = 0.125f,
                                  .mode = MB_ATTN_EXACT,
                                  .work_ctx = len_max,
                                  .group = GROUP};
                double best = 1e9;
                for (int rep = 0; rep < (l ? 50 : 3); rep++) {
                    const double t0 = now();
                    mb_attention_rows(kt, &a, work);
                    const double dt = now() - t0;
                    best = dt < best ? dt : best;
                }
                printf("| %s | %s | %d | %d | %.1f |\n", levels[l], mb_type_name(types[ti]), rows,
                       len_max, best * 1e6);
            }
        }
        for (int p = 0; p < np; p++)
            free((void *)kp[p]), free((void *)vp[p]);
        free(kp), free(vp);
    }
    free(work);
}

int main(int argc, char **argv) {
    printf("| level | KV type | rows | positions | µs |\n|---|---|--:|--:|--:|\n");
    for (int i = 1; i < argc; i++)
        run(atoi(argv[i]) > 4 ? atoi(argv[i]) : 512);
    if (argc < 2) run(512);
    return 0;
}
