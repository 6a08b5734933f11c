/* Causal attention over a KV cache stored as F16, tiled with an online
 * softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for
 * softmax"; the tiling of FlashAttention, Dao et al. 2022): keys and values
 * are visited one tile of MB_ATTN_TILE positions at a time, each query row
 * keeps a running maximum, a running sum of exponentials and an unnormalized
 * output that is rescaled when the maximum grows. Memory is O(rows x head
 * dim), plus in exact mode a per-thread store of the scores, O(rows x
 * context) (capped, MB_ATTN_SCORE_CAP); never O(n^2) for a prompt.
 *
 * Several query rows that share one KV head (the heads of a GQA group, and
 * in prefill several tokens) go through each tile together, so a K/V tile is
 * read from memory once per group while it sits in L1. */
#ifndef MB_KERNELS_ATTENTION_H
#define MB_KERNELS_ATTENTION_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "tensor/types.h"

enum {
    MB_ATTN_TILE = 64,     /* key/value positions per tile */
    MB_ATTN_MAX_ROWS = 32, /* query rows processed together */
    MB_ATTN_MAX_HD = 1024, /* head dimension limit */
    /* Longest context whose scores exact mode keeps between its passes:
     * MB_ATTN_MAX_ROWS x 65536 floats is 8 MiB per thread. Past it the
     * second pass computes q . K again (same scores, twice the work). */
    MB_ATTN_SCORE_CAP = 65536,
};

/* How mb_attention_rows meets the tiles (mb_attn_rows.mode). */
typedef enum {
    /* Two passes over the tiles, bit-faithful to the reference's rounding:
     * the first finds each row's maximum m and sum l, the second rounds
     * the normalized weights fp16(exp(s - m) / l), as the reference rounds
     * its softmax before the F16 product with V. q . K is computed twice. */
    MB_ATTN_EXACT = 0,
    /* One pass: the unnormalized weights fp16(exp(s - m_running)) are
     * rounded, the accumulator rescaled when the maximum grows, and the
     * division by l happens at the end. Each weight's rounding error is the
     * same size (2^-11 relative) but falls elsewhere, which moves logits by
     * ~1e-4 of their range against the reference (docs/PERFORMANCE.md). */
    MB_ATTN_ONLINE = 1,
} mb_attn_mode;

/* Phases of the tile step. */
enum { MB_ATTN_STEP_ONLINE, MB_ATTN_STEP_STATS, MB_ATTN_STEP_APPLY };

/* One tile step, the kernel table's attn_tile. Row r (query q + r * hd,
 * F32 values already rounded to F16, so the kernels need no conversion) sees
 * the first len[r] (0..n_kv) positions of the tile; K[j] = k + j *
 * k_stride, V[j] = v + j * v_stride (F16 values). With s_j = scale * q . K[j], for each row with
 * len[r] > 0: STATS:  m' = max(m[r], max_j s_j);  l[r] = exp(m[r] - m') l[r] + sum_j exp(s_j - m');
 * m[r] = m'. APPLY:  acc[r] += sum_j fp16(exp(s_j - m[r]) * (1 / l[r])) * V[j] (m and l final, from
 * the STATS pass). ONLINE: STATS, then acc[r] = exp(m_old - m') acc[r] + sum_j fp16(exp(s_j - m'))
 * * V[j] (normalized at the end). With SOFTCAP > 0 a score is softcap tanh(s_j / softcap) (Gemma
 * 2's attention-logit cap). With FIRST set, row r sees only positions [first[r], len[r]) of the
 * tile (a sliding window's start): the scores before it are -inf, weight 0. With SCORES set (exact
 * mode), STATS stores s_j of row r at scores[r * score_ld + j] and APPLY reads them there instead
 * of computing q . K again; APPLY's results are the same either way. */
struct mb_attn_tile {
    int step, hd, n_rows, n_kv;
    const float *q;
    const int *len;
    const int *first; /* NULL: every row from 0 */
    float softcap;    /* 0: none */
    const uint16_t *k, *v;
    int64_t k_stride, v_stride;
    float scale;
    float *m, *l, *acc;
    float *scores; /* NULL: APPLY recomputes the scores */
    int64_t score_ld;
    int group; /* mb_attn_rows's */
};

/* The scalar reference of the tile step (tables without a SIMD one use it). */
void mb_ref_attn_tile(const struct mb_attn_tile *t);

/* One KV head's keys (or values) in a paged cache: position p lives in page
 * (p / page_slots) % n_pages at slot p % page_slots, slots row_bytes apart,
 * this head's values head_off bytes into a slot. A linear cache is one page
 * of n_ctx slots, a windowed layer's ring one page of its ring's slots (the
 * modulo makes the ring), a paged cache many pages of a multiple of
 * MB_ATTN_TILE slots (a tile then never crosses a page). TYPE is
 * MB_TYPE_F16, or MB_TYPE_Q8_0 / MB_TYPE_Q4_0 (GGUF's 32-value blocks; the
 * head dimension a multiple of 32). PAGES NULL: the one page PAGE. */
typedef struct {
    const uint8_t *const *pages;
    const uint8_t *page;
    int n_pages, page_slots;
    int64_t row_bytes, head_off;
    uint32_t type;
} mb_attn_kv;

/* One F16 page at BASE, slots STRIDE values apart, position p in slot p %
 * RING (RING 0: slot p). */
#define MB_ATTN_KV_F16(base, stride, ring)                                                         \
    ((mb_attn_kv){.page = (const uint8_t *)(base),                                                 \
                  .n_pages = 1,                                                                    \
                  .page_slots = (ring) > 0 ? (ring) : INT32_MAX,                                   \
                  .row_bytes = (int64_t)(stride)*2,                                                \
                  .type = MB_TYPE_F16})

/* N_ROWS (<= MB_ATTN_MAX_ROWS) query rows against one KV head. */
typedef struct {
    int hd, n_rows;
    const float *const *q; /* q[r]: hd floats */
    float *const *out;     /* out[r]: hd floats */
    const int *len;        /* len[r]: the row sees positions [0, len[r]) */
    const int *start;      /* NULL, or start[r]: positions before it are hidden (a window) */
    /* The head's keys and values. A tile is cut at a page's end. With
     * fewer pages than the context (a windowed layer's ring) the caller
     * guarantees that every visible position of every row is still held,
     * i.e. max len - min start <= n_pages x page_slots. Quantized rows are
     * converted to F16 per tile into WORK, then go through the F16 tile. */
    mb_attn_kv k, v;
    float scale;
    float softcap; /* > 0: scores become softcap tanh(s / softcap) */
    mb_attn_mode mode;
    /* Positions WORK was sized for (mb_attention_work_floats(hd, work_ctx));
     * 0, or rows longer than it, and exact mode computes q . K twice. */
    int work_ctx;
    /* Query heads per KV head (the model's GQA group; 0 counts as 1). A
     * SIMD tile picks the order in which it sums q . K from it, never from
     * n_rows, so that a row's result is the same bits whatever rows share
     * its call: a batched pass and token-by-token decode must agree. */
    int group;
} mb_attn_rows;

/* The mode the forward pass uses: MB_ATTN_EXACT, or what MATCHBOX_ATTN
 * names ("exact" or "online"), read once. */
mb_attn_mode mb_attention_mode(void);

/* Floats of scratch mb_attention_rows needs for head dimension HD and rows
 * of up to N_CTX positions: O(rows x head dim) and a tile of F16 K and V
 * (quantized caches), plus, for N_CTX in 1.. MB_ATTN_SCORE_CAP, exact
 * mode's score store of MB_ATTN_MAX_ROWS x N_CTX (O(rows x context), never
 * O(n^2)). N_CTX 0: no store. */
int64_t mb_attention_work_floats(int hd, int n_ctx);
/* out[r] = softmax(scale * q[r] . K[j]) . V[j] over start[r] <= j < len[r], with the
 * tile kernel of table KT (NULL: mb_kernels()). A row with len 0 gets zeros.
 * WORK holds mb_attention_work_floats(hd, a->work_ctx) floats, 64-byte
 * aligned is best. */
void mb_attention_rows(const mb_kernel_table *kt, const mb_attn_rows *a, float *work);

/* The F16 -> F32 table (65536 entries), built on first use. */
const float *mb_fp16_table(void);

/* One query head: out[0..hd) over positions [0, n_kv) (K[j] = k + j *
 * stride). SCORES is unused (kept for callers that still pass an n_kv
 * buffer); hd <= MB_ATTN_MAX_HD. */
void mb_attention_head(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                       int n_kv, int hd, float scale, float *scores, float *out);

#endif
