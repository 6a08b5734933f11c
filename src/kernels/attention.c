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

/* F16 staging of one tile of K and of V (quantized caches), in floats. */
static int64_t stage_floats(int hd) {
    return (int64_t)MB_ATTN_TILE * hd;
}

int64_t mb_attention_work_floats(int hd, int n_ctx) {
    return work_floats(MB_ATTN_MAX_ROWS, hd) + score_floats(n_ctx) + stage_floats(hd);
}

/* Where one side (K or V) of a tile comes from: F16 slots read in place,
 * or quantized rows converted into STAGE (hd values per position). */
typedef struct {
    const mb_attn_kv *kv;
    mb_kv_to_f16_fn to_f16; /* NULL: F16 */
    uint16_t *stage;
} kv_side;

/* The tile of N positions from J0 (inside one page) of side S as F16:
 * sets *P and *STRIDE for the tile step. */
static void tile_rows(const kv_side *s, int hd, int j0, int n, const uint16_t **p,
                      int64_t *stride) {
    const mb_attn_kv *kv = s->kv;
    const int page = kv->n_pages > 1 ? (j0 / kv->page_slots) % kv->n_pages : 0;
    const uint8_t *base = kv->pages ? kv->pages[page] : kv->page;
    const uint8_t *row = base + (int64_t)(j0 % kv->page_slots) * kv->row_bytes + kv->head_off;
    if (!s->to_f16) {
        *p = (const uint16_t *)(const void *)row;
        *stride = kv->row_bytes / 2;
        return;
    }
    for (int j = 0; j < n; j++)
        s->to_f16(row + (int64_t)j * kv->row_bytes, s->stage + (size_t)j * hd, hd);
    *p = s->stage;
    *stride = hd;
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
                             .scale = a->scale,
                             .m = m,
                             .l = l,
                             .acc = acc,
                             .group = a->group};
    const int exact = a->mode == MB_ATTN_EXACT;
    /* The scores of the first pass serve the second when they fit the store
     * (the caller sized it for work_ctx positions); else they are computed
     * again, to the same values. */
    const int quantized = a->k.type != MB_TYPE_F16 || a->v.type != MB_TYPE_F16;
    float *const stage =
        quantized ? work + work_floats(MB_ATTN_MAX_ROWS, hd) + score_floats(a->work_ctx) : NULL;
    if (exact && score_floats(a->work_ctx) > 0 && max_len - walk0 <= a->work_ctx) {
        t.scores = work + work_floats(MB_ATTN_MAX_ROWS, hd);
        t.score_ld = a->work_ctx;
    }
    float *const scores0 = t.scores;
    uint16_t *const stage16 = (uint16_t *)(void *)stage;
    const kv_side ks = {&a->k, a->k.type == MB_TYPE_F16 ? NULL : kt->kv_to_f16[a->k.type], stage16};
    const kv_side vs = {&a->v, a->v.type == MB_TYPE_F16 ? NULL : kt->kv_to_f16[a->v.type],
                        stage16 ? stage16 + (size_t)MB_ATTN_TILE * hd : NULL};
    /* The page size that cuts tiles: the smaller of K's and V's. */
    const int page = a->k.page_slots < a->v.page_slots ? a->k.page_slots : a->v.page_slots;
    for (int pass = 0; pass < 1 + exact; pass++) {
        t.step = !exact ? MB_ATTN_STEP_ONLINE : pass == 0 ? MB_ATTN_STEP_STATS : MB_ATTN_STEP_APPLY;
        /* A pass reads K for its scores (unless APPLY has them stored) and
         * V for its weighted sum (all but STATS): a quantized side is
         * converted only when read. */
        const int need_k = t.step != MB_ATTN_STEP_APPLY || !scores0;
        const int need_v = t.step != MB_ATTN_STEP_STATS;
        for (int j0 = walk0; j0 < max_len; j0 += t.n_kv) {
            t.n_kv = max_len - j0 < MB_ATTN_TILE ? max_len - j0 : MB_ATTN_TILE;
            /* A page's slots are contiguous up to its end: a tile that
             * crosses it is cut there (the rest is the next tile). */
            const int slot = j0 % page;
            if (slot + t.n_kv > page) t.n_kv = page - slot;
            for (int r = 0; r < nr; r++) {
                int n = a->len[r] - j0;
                tlen[r] = n < 0 ? 0 : n > t.n_kv ? t.n_kv : n;
                if (!a->start) continue;
                int f = a->start[r] - j0;
                tfirst[r] = f < 0 ? 0 : f;
                if (tfirst[r] >= tlen[r]) tlen[r] = 0, tfirst[r] = 0;
            }
            t.k = t.v = NULL;
            if (need_k) tile_rows(&ks, hd, j0, t.n_kv, &t.k, &t.k_stride);
            if (need_v) tile_rows(&vs, hd, j0, t.n_kv, &t.v, &t.v_stride);
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
                      .k = MB_ATTN_KV_F16(k, stride, 0),
                      .v = MB_ATTN_KV_F16(v, stride, 0),
                      .scale = scale};
    mb_attention_rows(NULL, &a, work);
}
