/* The tiled attention driver: rounds the query rows to F16, walks the K/V
 * tiles up to the longest row, and normalizes once at the end. The tile
 * step itself is the kernel table's (scalar reference in ref/attn_ref.c). */
#include "kernels/attention.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tensor/types.h"

static float fp16_table[65536];
static pthread_once_t fp16_once = PTHREAD_ONCE_INIT;

static void build_fp16_table(void) {
    for (uint32_t i = 0; i < 65536; i++)
        fp16_table[i] = mb_fp16_to_fp32((uint16_t)i);
}

const float *mb_fp16_table(void) {
    pthread_once(&fp16_once, build_fp16_table);
    return fp16_table;
}

static mb_attn_mode attn_mode = MB_ATTN_EXACT;
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;

static void read_mode(void) {
    const char *e = getenv("MATCHBOX_ATTN");
    if (!e || !*e || strcmp(e, "exact") == 0) return;
    if (strcmp(e, "online") == 0)
        attn_mode = MB_ATTN_ONLINE;
    else
        mb_log(MB_LOG_WARN, "warning: MATCHBOX_ATTN=%s is not exact or online; using exact\n", e);
}

mb_attn_mode mb_attention_mode(void) {
    pthread_once(&mode_once, read_mode);
    return attn_mode;
}

/* acc and the F16-rounded query rows (rows x hd floats each), then m and l
 * (rows each), then F16 staging for one row (rounded up to 16 floats, so
 * the score store after it starts 64-byte aligned when WORK does). */
static int64_t work_floats(int n_rows, int hd) {
    return 2 * (int64_t)n_rows * hd + 2 * n_rows + ((hd + 1) / 2 + 15) / 16 * 16;
}

/* Exact mode's score store: rows x n_ctx, only up to the cap. */
static int64_t score_floats(int n_ctx) {
    return n_ctx > 0 && n_ctx <= MB_ATTN_SCORE_CAP ? (int64_t)MB_ATTN_MAX_ROWS * n_ctx : 0;
}

int64_t mb_attention_work_floats(int hd, int n_ctx) {
    return work_floats(MB_ATTN_MAX_ROWS, hd) + score_floats(n_ctx);
}

void mb_attention_rows(const mb_kernel_table *kt, const mb_attn_rows *a, float *work) {
    if (!kt) kt = mb_kernels();
    const mb_attn_tile_fn step = kt->attn_tile ? kt->attn_tile : mb_ref_attn_tile;
    const int hd = a->hd, nr = a->n_rows;
    float *acc = work, *qr = acc + (size_t)nr * hd, *m = qr + (size_t)nr * hd, *l = m + nr;
    uint16_t *q16 = (uint16_t *)(l + nr);
    const float *f16 = mb_fp16_table();
    int max_len = 0, min_start = INT32_MAX;
    for (int r = 0; r < nr; r++) {
        /* Q rounded to F16 as the reference does with an F16 cache: it keeps
         * our logits within 1e-5 of the reference's instead of 1e-4. */
        kt->act_quant[MB_TYPE_F16](a->q[r], q16, hd);
        for (int i = 0; i < hd; i++)
            qr[(size_t)r * hd + i] = f16[q16[i]];
        m[r] = -INFINITY;
        l[r] = 0.0f;
        if (a->len[r] > max_len) max_len = a->len[r];
        const int st = a->start ? a->start[r] : 0;
        if (a->len[r] > st && st < min_start) min_start = st;
    }
    /* The walk over positions starts at the first tile any row sees. */
    const int walk0 = min_start >= max_len ? max_len : min_start / MB_ATTN_TILE * MB_ATTN_TILE;
    memset(acc, 0, (size_t)nr * hd * sizeof *acc);
    int tlen[MB_ATTN_MAX_ROWS], tfirst[MB_ATTN_MAX_ROWS];
    struct mb_attn_tile t = {.hd = hd,
                             .n_rows = nr,
                             .q = qr,
                             .len = tlen,
                             .first = a->start ? tfirst : NULL,
                             .softcap = a->softcap,
                             .stride = a->stride,
                             .scale = a->scale,
                             .m = m,
                             .l = l,
                             .acc = acc,
                             .group = a->group};
    const int exact = a->mode == MB_ATTN_EXACT;
    /* The scores of the first pass serve the second when they fit the store
     * (the caller sized it for work_ctx positions); else they are computed
     * again, to the same values. */
    if (exact && score_floats(a->work_ctx) > 0 && max_len - walk0 <= a->work_ctx) {
        t.scores = work + work_floats(MB_ATTN_MAX_ROWS, hd);
        t.score_ld = a->work_ctx;
    }
    float *const scores0 = t.scores;
    for (int pass = 0; pass < 1 + exact; pass++) {
        t.step = !exact ? MB_ATTN_STEP_ONLINE : pass == 0 ? MB_ATTN_STEP_STATS : MB_ATTN_STEP_APPLY;
        for (int j0 = walk0; j0 < max_len; j0 += t.n_kv) {
            t.n_kv = max_len - j0 < MB_ATTN_TILE ? max_len - j0 : MB_ATTN_TILE;
            /* A ring's slots are contiguous up to its end: a tile that
             * crosses it is cut there (the rest is the next tile). */
            const int slot = a->ring > 0 ? j0 % a->ring : j0;
            if (a->ring > 0 && slot + t.n_kv > a->ring) t.n_kv = a->ring - slot;
            for (int r = 0; r < nr; r++) {
                int n = a->len[r] - j0;
                tlen[r] = n < 0 ? 0 : n > t.n_kv ? t.n_kv : n;
                if (!a->start) continue;
                int f = a->start[r] - j0;
                tfirst[r] = f < 0 ? 0 : f;
                if (tfirst[r] >= tlen[r]) tlen[r] = 0, tfirst[r] = 0;
            }
            t.k = a->k + (int64_t)slot * a->stride;
            t.v = a->v + (int64_t)slot * a->stride;
            if (scores0) t.scores = scores0 + (j0 - walk0);
            step(&t);
        }
    }
    if (exact) {
        /* The weights were normalized before rounding; only empty rows
         * (l = 0) need clearing. */
        for (int r = 0; r < nr; r++)
            if (!(l[r] > 0.0f))
                memset(a->out[r], 0, (size_t)hd * sizeof(float));
            else
                memcpy(a->out[r], acc + (size_t)r * hd, (size_t)hd * sizeof(float));
        return;
    }
    for (int r = 0; r < nr; r++) {
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        const float *ar = acc + (size_t)r * hd;
        float *o = a->out[r];
        for (int i = 0; i < hd; i++)
            o[i] = ar[i] * inv;
    }
}

void mb_attention_head(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                       int n_kv, int hd, float scale, float *scores, float *out) {
    (void)scores;
    /* One row's scratch: hd accumulators, its F16 query, m and l. */
    float work[MB_ATTN_MAX_HD * 5 / 2 + 4];
    if (hd > MB_ATTN_MAX_HD || work_floats(1, hd) > (int64_t)(sizeof work / sizeof *work)) return;
    mb_attn_rows a = {.mode = mb_attention_mode(),
                      .hd = hd,
                      .n_rows = 1,
                      .q = &q,
                      .out = &out,
                      .len = &n_kv,
                      .k = k,
                      .v = v,
                      .stride = stride,
                      .scale = scale};
    mb_attention_rows(NULL, &a, work);
}
