#include "kernels/matmul.h"
#include "kernels/matmul_lanes.h"
#include "kernels/matmul_r16.h"
#include "kernels/prefetch.h"
#include "tensor/blocks.h"

#include <stdlib.h>
#include <string.h>

static const mb_dot_traits *dot_traits(uint32_t weight_type) {
    return weight_type < MB_TYPE_COUNT ? &mb_kernels()->dot[weight_type] : NULL;
}

size_t mb_act_bytes(uint32_t weight_type, int64_t n_in, int64_t n_rows) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    uint64_t row = 0;
    if (!dt || !dt->vec_dot || !mb_type_row_bytes(dt->act_type, (uint64_t)n_in, &row)) return 0;
    return (size_t)row * (size_t)n_rows;
}

void mb_act_prepare(mb_act *act, uint32_t weight_type, const float *x, int64_t n_in,
                    int64_t n_rows) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    uint64_t row = 0;
    mb_type_row_bytes(dt->act_type, (uint64_t)n_in, &row);
    mb_act_quant_fn quant = mb_kernels()->act_quant[dt->act_type];
    act->act_type = dt->act_type;
    act->n_in = n_in;
    act->n_rows = n_rows;
    act->row_bytes = (size_t)row;
    for (int64_t r = 0; r < n_rows; r++)
        quant(x + r * n_in, act->data + r * row, n_in);
}

int mb_act_matches(const mb_act *act, uint32_t weight_type) {
    const mb_dot_traits *dt = dot_traits(weight_type);
    return dt && act->act_type == dt->act_type;
}

typedef struct {
    const mb_matrix *w;
    const mb_act *act;
    float *out;
    int64_t out_stride;
    int accumulate;
    /* The kernels: vec_dot; optional vec_dot_rows (NULL: vec_dot per
     * activation row), gemm_tile (register-blocked batches) and the packed
     * pair pack + gemm_packed. */
    const mb_dot_traits *dt;
    mb_threadpool *pool; /* per-task scratch for packed panels (NULL: malloc) */
} matmul_job;

/* out[r][o] = V, or += V with ADD. */
static void store_as(const matmul_job *j, int64_t r, long o, float v, int add) {
    float *dst = &j->out[r * j->out_stride + o];
    *dst = add ? *dst + v : v;
}

static void store(const matmul_job *j, int64_t r, long o, float v) {
    store_as(j, r, o, v, j->accumulate);
}

/* Activation rows per multi-row call: as many (up to eight) as fit in about
 * half of a 32 KB L1 next to the weight row, so every weight row of a tile
 * reads them from L1; at least four, the multi-row dots' group size. */
enum { ACT_TILE = 8 };
#define ACT_TILE_BYTES (20u * 1024u)

/* Bytes of weight rows kept hot in L2 while every activation tile passes. */
#define WEIGHT_TILE_BYTES (128u * 1024u)

/* Weight rows per register-blocked call (a multiple of the kernels' block). */
enum { GEMM_W = 24, GEMM_A = 12 };

/* One tile of activation rows against weight rows [OB, OE) through the
 * register-blocked kernel, GEMM_W weight rows per call. */
static void matmul_gemm_tile(const matmul_job *j, long ob, long oe, int64_t r0, int m,
                             const uint8_t *a) {
    const size_t rb = j->w->row_bytes;
    for (long o = ob; o < oe; o += GEMM_W) {
        const int nw = oe - o < GEMM_W ? (int)(oe - o) : GEMM_W;
        float v[GEMM_A][GEMM_W];
        j->dt->gemm_tile(j->w->n_in, &v[0][0], GEMM_W, j->w->data + (size_t)o * rb, rb, nw, a,
                         j->act->row_bytes, m);
        for (int r = 0; r < m; r++)
            for (int k = 0; k < nw; k++)
                store(j, r0 + r, o + k, v[r][k]);
    }
}

/* Batches: weight rows in tiles that stay in L2 while each tile of
 * activation rows (in L1) meets every weight row of the tile, so weights
 * come from memory once and activations from L1/L2. */
static void matmul_batch(const matmul_job *j, long begin, long end) {
    const size_t rb = j->w->row_bytes;
    /* (Empty rows, n_in = 0, make one tile of the whole band.) */
    const long w_tile = rb == 0                   ? end - begin + 1
                        : rb >= WEIGHT_TILE_BYTES ? 1
                                                  : (long)(WEIGHT_TILE_BYTES / rb);
    const int64_t n_rows = j->act->n_rows;
    /* The register-blocked kernel reads activations block by block from L2,
     * so its tile is set by its block shapes (12 = 3 x 4 = 2 x 6), not L1. */
    const int act_tile = j->dt->gemm_tile                                 ? GEMM_A
                         : j->act->row_bytes * ACT_TILE <= ACT_TILE_BYTES ? ACT_TILE
                                                                          : ACT_TILE / 2;
    for (long ob = begin; ob < end; ob += w_tile) {
        const long oe = end - ob < w_tile ? end : ob + w_tile;
        for (int64_t r0 = 0; r0 < n_rows; r0 += act_tile) {
            const int m = n_rows - r0 < act_tile ? (int)(n_rows - r0) : act_tile;
            const uint8_t *a = j->act->data + (size_t)r0 * j->act->row_bytes;
            if (j->dt->gemm_tile) {
                matmul_gemm_tile(j, ob, oe, r0, m, a);
                continue;
            }
            for (long o = ob; o < oe; o++) {
                const uint8_t *wrow = j->w->data + (size_t)o * rb;
                float v[ACT_TILE];
                if (j->dt->vec_dot_rows) {
                    j->dt->vec_dot_rows(j->w->n_in, v, wrow, a, j->act->row_bytes, m);
                } else {
                    for (int r = 0; r < m; r++)
                        j->dt->vec_dot(j->w->n_in, &v[r], wrow, a + (size_t)r * j->act->row_bytes);
                }
                for (int r = 0; r < m; r++)
                    store(j, r0 + r, o, v[r]);
            }
        }
    }
}

/* Packed batches (levels with a gemm_packed for the type): batches of at least
 * PACK_MIN_ROWS rows rearrange each group of pack_rows weight rows into a
 * panel once, in tiles of about PACK_TILE_BYTES that stay in L2 while every
 * activation tile (PACK_ACT rows, in L1) meets each panel of the tile. */
enum { PACK_MIN_ROWS = 8, PACK_ACT = 8, PACK_MAX_ROWS = 48 };
#define PACK_TILE_BYTES (384u * 1024u)
/* Panels past PACK_SLICE_MIN_BYTES are applied in slices of about
 * PACK_SLICE_BYTES: F16 at 14336 values (48 rows, 2.75 MB a panel) ran
 * 72 GMAC/s sliced against 47 whole on one Sapphire Rapids-class core (2
 * MB of L2), 4096 and 5632 values unchanged (74-76, 69-73). */
#define PACK_SLICE_MIN_BYTES (512u * 1024u)
#define PACK_SLICE_BYTES (384u * 1024u)

/* Weight rows in panel G: pack_rows, fewer in the last one. */
static long panel_rows(const matmul_job *j, long g) {
    const long pr = j->dt->pack_rows, o = g * pr;
    return j->w->n_out - o < pr ? j->w->n_out - o : pr;
}

/* Groups [GB, GE) of pack_rows weight rows against every activation row.
 * Returns 0 (nothing done) when no scratch can be had. */
static int matmul_packed(const matmul_job *j, int ith, long gb, long ge) {
    const mb_dot_traits *dt = j->dt;
    const long pr = dt->pack_rows;
    const size_t rb = j->w->row_bytes;
    const size_t group_bytes =
        (size_t)dt->pack_block_bytes * (size_t)(j->w->n_in / mb_type_get(j->w->type)->block_size);
    /* A matrix in 16-row groups gives each panel's rows back in the file's
     * layout first, behind the panels in the scratch; one in lanes has its
     * own packing, which reads them back itself. */
    const int grouped = mb_layout_is_r16(j->w->layout);
    const size_t rows_bytes = grouped ? (size_t)pr * rb : 0;
    const mb_pack_fn pack =
        j->w->layout == MB_LAYOUT_SQ4_LANES ? mb_kernels()->sq4_lanes_pack : dt->pack;
    /* A panel too large to stay in L2 while the activation tiles pass is
     * applied a slice of its values at a time (F16's 48 rows of floats
     * take 2.75 MB at 14336 values); slices cover whole blocks of both the
     * weight and the activation type. */
    const mb_type_traits *wt = mb_type_get(j->w->type), *at = mb_type_get(dt->act_type);
    const int64_t n_in = j->w->n_in;
    int64_t slice = n_in;
    if (group_bytes > PACK_SLICE_MIN_BYTES) {
        const int64_t unit = wt->block_size > at->block_size ? wt->block_size : at->block_size;
        slice = (int64_t)(PACK_SLICE_BYTES / dt->pack_block_bytes) * wt->block_size / unit * unit;
        if (slice < unit) slice = unit;
        if (slice % wt->block_size || slice % at->block_size) slice = n_in;
    }
    long tile = group_bytes ? (long)(PACK_TILE_BYTES / group_bytes) : 1;
    if (tile < 1) tile = 1;
    if (tile > ge - gb) tile = ge - gb;
    uint8_t *panel = NULL, *owned = NULL;
    const size_t panels_bytes = (group_bytes * (size_t)tile + 63) / 64 * 64;
    if (j->pool)
        panel = mb_threadpool_scratch(j->pool, ith, panels_bytes + rows_bytes);
    else
        panel = owned = aligned_alloc(64, (panels_bytes + rows_bytes + 63) / 64 * 64);
    if (!panel) return 0;
    uint8_t *rows = panel + panels_bytes;
    const int64_t n_rows = j->act->n_rows;
    for (long t0 = gb; t0 < ge; t0 += tile) {
        const long t1 = ge - t0 < tile ? ge : t0 + tile;
        for (long g = t0; g < t1; g++) {
            const uint8_t *src = j->w->data + (size_t)(g * pr) * rb;
            if (grouped) {
                mb_matrix_r16_copy_rows(j->w, g * pr, (int)panel_rows(j, g), rows);
                src = rows;
            }
            pack(j->w->n_in, panel + (size_t)(g - t0) * group_bytes, src, rb,
                 (int)panel_rows(j, g));
        }
        for (int64_t k0 = 0; k0 < n_in; k0 += slice) {
            const int64_t kn = n_in - k0 < slice ? n_in - k0 : slice;
            const size_t p_off = (size_t)(k0 / wt->block_size) * dt->pack_block_bytes;
            const size_t a_off = (size_t)(k0 / at->block_size) * at->type_size;
            /* Slices after the first add onto the first's sums. */
            const int add = j->accumulate || k0 > 0;
            for (int64_t r0 = 0; r0 < n_rows; r0 += PACK_ACT) {
                const int m = n_rows - r0 < PACK_ACT ? (int)(n_rows - r0) : PACK_ACT;
                const uint8_t *a = j->act->data + (size_t)r0 * j->act->row_bytes + a_off;
                for (long g = t0; g < t1; g++) {
                    const long o = g * pr, nw = panel_rows(j, g);
                    const uint8_t *pg = panel + (size_t)(g - t0) * group_bytes + p_off;
                    if (nw == pr) {
                        /* A whole panel writes (or adds) straight into out. */
                        dt->gemm_packed(kn, &j->out[r0 * j->out_stride + o], (size_t)j->out_stride,
                                        pg, a, j->act->row_bytes, m, add);
                        continue;
                    }
                    float v[PACK_ACT][PACK_MAX_ROWS];
                    dt->gemm_packed(kn, &v[0][0], PACK_MAX_ROWS, pg, a, j->act->row_bytes, m, 0);
                    for (int r = 0; r < m; r++)
                        for (long k = 0; k < nw; k++)
                            store_as(j, r0 + r, o + k, v[r][k], add);
                }
            }
        }
    }
    free(owned);
    return 1;
}

static int use_packed(const matmul_job *j) {
    const int64_t min_rows = j->dt->pack_min_rows ? j->dt->pack_min_rows : PACK_MIN_ROWS;
    return j->dt->gemm_packed && j->act->n_rows >= min_rows && j->dt->pack_rows <= PACK_MAX_ROWS &&
           j->w->n_in > 0;
}

/* Rows [BEGIN, END) of a matrix in lanes against every activation row,
 * through the lanes product (decode, and batches below the panels). */
static void matmul_lanes(const matmul_job *j, long begin, long end) {
    if (mb_decode_prefetch() && begin < end)
        mb_prefetch_row(j->w->data + (size_t)begin * j->w->row_bytes, MB_PREFETCH_AHEAD);
    mb_matrix_lanes_rows(j->w, j->act, j->out, j->out_stride, j->accumulate, begin, end);
}

/* One activation row (decode) against weight rows [BEGIN, END). */
static void matmul_decode(const matmul_job *j, long begin, long end) {
    if (j->w->layout == MB_LAYOUT_SQ4_LANES) {
        matmul_lanes(j, begin, end);
        return;
    }
    if (j->dt->vec_dot_wrows) {
        /* The kernels prefetch a fixed distance ahead of what they read
         * (kernels/prefetch.h): the band's first bytes are ours. */
        if (mb_decode_prefetch() && begin < end)
            mb_prefetch_row(j->w->data + (size_t)begin * j->w->row_bytes, MB_PREFETCH_AHEAD);
        /* The rows of a chunk share one preparation of the activation. */
        enum { WROWS_CHUNK = 64 };
        for (long o = begin; o < end; o += WROWS_CHUNK) {
            const int nw = end - o < WROWS_CHUNK ? (int)(end - o) : WROWS_CHUNK;
            float v[WROWS_CHUNK];
            j->dt->vec_dot_wrows(j->w->n_in, v, j->w->data + (size_t)o * j->w->row_bytes,
                                 j->w->row_bytes, nw, j->act->data);
            for (int k = 0; k < nw; k++)
                store(j, 0, o + k, v[k]);
        }
        return;
    }
    /* The x86 quantized dots prefetch ahead themselves, block by block
     * beside their own (x86/dot_common.h): spread that way it ran faster
     * than a whole row asked for before each dot. The float dots
     * do not: light enough for the hardware prefetcher, F16 decode lost
     * 10% with a prefetch (docs/PERFORMANCE.md, "Decode prefetch"). */
    const mb_vec_dot_fn dot = j->dt->vec_dot;
    for (long o = begin; o < end; o++) {
        float v;
        dot(j->w->n_in, &v, j->w->data + (size_t)o * j->w->row_bytes, j->act->data);
        store(j, 0, o, v);
    }
}

/* Rows [BEGIN, END) of a matrix in 16-row groups, copied back a piece of
 * a row at a time, against every activation row: where no scratch could
 * be had for the panels (slow, but no allocation). */
static void matmul_r16_rows(const matmul_job *j, long begin, long end) {
    _Alignas(64) uint8_t piece[MB_R16_PIECE_BYTES];
    const int64_t per = mb_matrix_r16_piece_blocks(j->w), bv = mb_matrix_r16_block_values(j->w);
    const int64_t nb = j->w->n_in / bv;
    const size_t act_block = mb_type_get(j->dt->act_type)->type_size;
    const int64_t act_values = mb_type_get(j->dt->act_type)->block_size;
    for (long o = begin; o < end; o++)
        for (int64_t r = 0; r < j->act->n_rows; r++) {
            float v = 0;
            for (int64_t b0 = 0; b0 < nb; b0 += per) {
                const int64_t k = nb - b0 < per ? nb - b0 : per;
                float part;
                mb_matrix_r16_row_blocks(j->w, o, b0, k, piece);
                j->dt->vec_dot(k * bv, &part, piece,
                               j->act->data + (size_t)r * j->act->row_bytes +
                                   (size_t)(b0 * bv / act_values) * act_block);
                v += part;
            }
            store(j, r, o, v);
        }
}

/* Each thread takes a contiguous band of weight rows and runs every
 * activation row against it, so a weight row is read from memory once per
 * call however many tokens the batch holds. */
static void matmul_worker(void *ctx, int ith, int nth) {
    const matmul_job *j = ctx;
    long begin, end;
    if (mb_layout_is_r16(j->w->layout) &&
        !(use_packed(j) && j->act->n_rows >= MB_R16_PANEL_MIN_ROWS)) {
        /* Bands of whole groups, through the 16-row product. */
        mb_split_range((long)(j->w->n_out / MB_R16_ROWS), ith, nth, &begin, &end);
        if (begin < end)
            mb_matmul_r16_groups(j->w, j->act, j->out, j->out_stride, j->accumulate, begin, end);
        return;
    }
    if (use_packed(j)) {
        /* Bands of whole panels. */
        const long pr = j->dt->pack_rows, groups = ((long)j->w->n_out + pr - 1) / pr;
        mb_split_range(groups, ith, nth, &begin, &end);
        if (begin >= end || matmul_packed(j, ith, begin, end)) return;
        begin *= pr;
        end = end * pr < (long)j->w->n_out ? end * pr : (long)j->w->n_out;
        if (mb_layout_is_r16(j->w->layout))
            matmul_r16_rows(j, begin, end);
        else if (j->w->layout == MB_LAYOUT_SQ4_LANES)
            matmul_lanes(j, begin, end);
        else
            matmul_batch(j, begin, end);
        return;
    }
    mb_split_range((long)j->w->n_out, ith, nth, &begin, &end);
    if (j->w->layout == MB_LAYOUT_SQ4_LANES) {
        matmul_lanes(j, begin, end);
        return;
    }
    if (j->act->n_rows > 1) {
        matmul_batch(j, begin, end);
        return;
    }
    matmul_decode(j, begin, end);
}

void mb_matmul(mb_threadpool *pool, int n_threads, const mb_matrix *w, const mb_act *act,
               float *out, int64_t out_stride, int accumulate) {
    const mb_dot_traits *dt = dot_traits(w->type);
    matmul_job j = {w, act, out, out_stride, accumulate, dt, pool};
    /* Tiny products cost less than waking a thread. */
    int64_t work = w->n_in * w->n_out * act->n_rows;
    int n = work < 32768 ? 1 : n_threads;
    if (pool && n > 1)
        mb_threadpool_run(pool, n, matmul_worker, &j);
    else
        matmul_worker(&j, 0, 1);
}

int mb_matrix_can_repack(const mb_matrix *w) {
    return w->type == MB_TYPE_SQ4 ? mb_matrix_lanes_can(w) : mb_matrix_r16_can(w);
}

int mb_matrix_repack(mb_matrix *w) {
    if (w->type != MB_TYPE_SQ4) return mb_matrix_r16_repack(w);
    mb_matrix_lanes_repack(w);
    return 1;
}

void mb_get_rows(const mb_matrix *w, const int32_t *row_ids, int64_t n, float *out) {
    const mb_type_traits *tt = mb_type_get(w->type);
    for (int64_t i = 0; i < n; i++) {
        if (mb_layout_is_r16(w->layout)) {
            mb_matrix_r16_row(w, row_ids[i], out + i * w->n_in);
        } else if (w->layout == MB_LAYOUT_SQ4_LANES) {
            mb_matrix_lanes_row(w, row_ids[i], out + i * w->n_in);
        } else {
            tt->to_float(w->data + (size_t)row_ids[i] * w->row_bytes, out + i * w->n_in, w->n_in);
        }
    }
}

typedef struct {
    const mb_matmul_part *parts;
    int n_parts;
    const mb_act *act;
    int64_t n_out; /* all parts' rows */
    int unit;      /* rows the bands are made of: 16 where a part is in 16-row groups */
} parts_job;

/* A band of the parts' rows taken together: each part's share of it. */
static void parts_worker(void *ctx, int ith, int nth) {
    const parts_job *pj = ctx;
    long begin, end;
    mb_split_range((long)pj->n_out / pj->unit, ith, nth, &begin, &end);
    begin *= pj->unit;
    end *= pj->unit;
    long off = 0;
    for (int p = 0; p < pj->n_parts && off < end; p++) {
        const mb_matrix *w = pj->parts[p].w;
        const long b = begin > off ? begin - off : 0;
        const long e = end - off < (long)w->n_out ? end - off : (long)w->n_out;
        if (b < e && mb_layout_is_r16(w->layout)) {
            mb_matmul_r16_groups(w, pj->act, pj->parts[p].out, w->n_out, 0, b / MB_R16_ROWS,
                                 e / MB_R16_ROWS);
        } else if (b < e) {
            const matmul_job j = {w,   pj->act, pj->parts[p].out, w->n_out, 0, dot_traits(w->type),
                                  NULL};
            matmul_decode(&j, b, e);
        }
        off += (long)w->n_out;
    }
}

void mb_matmul_parts(mb_threadpool *pool, int n_threads, const mb_matmul_part *parts, int n_parts,
                     const mb_act *act) {
    if (act->n_rows != 1) {
        for (int p = 0; p < n_parts; p++)
            mb_matmul(pool, n_threads, parts[p].w, act, parts[p].out, parts[p].w->n_out, 0);
        return;
    }
    parts_job pj = {parts, n_parts, act, 0, 1};
    int grouped = 0, whole_groups = 1;
    for (int p = 0; p < n_parts; p++) {
        pj.n_out += parts[p].w->n_out;
        grouped |= mb_layout_is_r16(parts[p].w->layout);
        whole_groups &= parts[p].w->n_out % MB_R16_ROWS == 0;
    }
    /* Bands of whole groups; a part of another row count beside a grouped
     * one (none in the architectures read) goes matrix by matrix. */
    if (grouped && !whole_groups) {
        for (int p = 0; p < n_parts; p++)
            mb_matmul(pool, n_threads, parts[p].w, act, parts[p].out, parts[p].w->n_out, 0);
        return;
    }
    if (grouped) pj.unit = MB_R16_ROWS;
    const int64_t work = act->n_in * pj.n_out;
    if (pool && n_threads > 1 && work >= 32768)
        mb_threadpool_run(pool, n_threads, parts_worker, &pj);
    else
        parts_worker(&pj, 0, 1);
}
