/* Compute kernels. Each weight type has a dot product against activations
 * that were converted once per row to the type's activation type (as the
 * reference implementation does: 8-bit blocks for quantized weights, F16 for
 * F16, BF16 for BF16, F32 for F32). */
#ifndef MB_KERNELS_H
#define MB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"
#include "kernels/q4_0_r16.h"
#include "kernels/q4_k_r16.h"
#include "kernels/q5_k_r16.h"
#include "kernels/q6_k_r16.h"
#include "kernels/r16_gather.h"
#include "kernels/sq4_lanes.h"

/* *out = dot(weight row W of N values, activation row A of N values already
 * converted to act_type). N is a multiple of the weight's block size. */
typedef void (*mb_vec_dot_fn)(int64_t n, float *out, const void *w, const void *a);
/* Convert N floats to the activation type (N a multiple of its block size). */
typedef void (*mb_act_quant_fn)(const float *src, void *dst, int64_t n);
/* out[r] = dot(W, activation row r) for r < N_ROWS, rows A_STRIDE bytes
 * apart: one weight row against several activation rows while it sits in
 * registers and L1, so a batch (prefill) reads each weight row from memory
 * once. Each out[r] equals what vec_dot gives for that row, bit for bit. */
typedef void (*mb_vec_dot_rows_fn)(int64_t n, float *out, const void *w, const void *a,
                                   size_t a_stride, int n_rows);
/* out[o] = dot(weight row o, A) for o < N_W weight rows W_STRIDE bytes apart
 * and one activation row: decode's product, where the weight rows share
 * one preparation of the activation (a level lays it out for its products
 * once per call). Each out[o] equals what
 * vec_dot gives for that row, bit for bit. */
typedef void (*mb_vec_dot_wrows_fn)(int64_t n, float *out, const void *w, size_t w_stride, int n_w,
                                    const void *a);
/* Register-blocked batch product of float-type weights (prefill):
 * out[r * out_stride + o] = dot(weight row o, activation row r) for o < N_W
 * weight rows W_STRIDE bytes apart and r < N_A activation rows (act_type)
 * A_STRIDE bytes apart. Each loaded weight vector meets several activation
 * rows and each activation vector several weight rows while in registers,
 * so nothing is converted once per pair. Results equal vec_dot's within
 * float rounding (another summation order), and each pair's result is the
 * same whatever N_W, N_A or its place in the tile. */
typedef void (*mb_gemm_tile_fn)(int64_t n, float *out, size_t out_stride, const void *w,
                                size_t w_stride, int n_w, const void *a, size_t a_stride, int n_a);
/* Packed batch products (prefill of the K-quants). PACK rearranges N_W <=
 * pack_rows weight rows (W_STRIDE bytes apart, N values each) into a panel
 * of pack_block_bytes per weight block, laid out for GEMM_PACKED, which
 * sets out[r * out_stride + o] = dot(weight row o, activation row r) for
 * all pack_rows rows o of the panel (rows past N_W give 0) and r < N_A
 * activation rows A_STRIDE bytes apart (ADD: adds to what is there). A panel is packed once per
 * batch and meets every activation row, so the rearrangement is paid once per weight row. Results
 * equal vec_dot's within float rounding, and a pair's result does not depend on N_A or its row's
 * place in the panel. */
typedef void (*mb_pack_fn)(int64_t n, void *panel, const void *w, size_t w_stride, int n_w);
typedef void (*mb_gemm_packed_fn)(int64_t n, float *out, size_t out_stride, const void *panel,
                                  const void *a, size_t a_stride, int n_a, int add);
/* y[i] += a * x[i] for F16 X (attention's weighted sum of V rows). */
typedef void (*mb_axpy_f16_fn)(int64_t n, float *y, float a, const uint16_t *x);
/* One online-softmax step of attention over a K/V tile (kernels/attention.h). */
struct mb_attn_tile;
typedef void (*mb_attn_tile_fn)(const struct mb_attn_tile *t);
/* N values (a multiple of 32) of a quantized KV cache row (Q8_0 or Q4_0
 * blocks) to F16: fp16(d * q), the same bits at every level. Attention
 * converts a tile of a quantized cache with it. */
typedef void (*mb_kv_to_f16_fn)(const void *src, uint16_t *dst, int64_t n);
/* out[i] = silu(gate[i]) * up[i] (OUT may alias GATE). */
typedef void (*mb_swiglu_fn)(float *out, const float *gate, const float *up, int64_t n);
/* The trainer's matrix kernel ("NT"): rows [M0, M1) of C (LDC floats apart)
 * = (ACC: +=) A B^T, A being M x K and B N x K, row-major floats. Each
 * output element is one dot with the same operation order in every code
 * path of a level, so a result does not depend on the row split (threads).
 * Levels with FMA round once where the portable kernel rounds twice. */
typedef void (*mb_gemm_nt_rows_fn)(float *c, int ldc, const float *a, const float *b, long m0,
                                   long m1, int n, int k, int acc);

typedef struct {
    uint32_t act_type;                 /* mb_type of the activation row */
    mb_vec_dot_fn vec_dot;             /* NULL: this weight type cannot be multiplied */
    mb_vec_dot_rows_fn vec_dot_rows;   /* optional (NULL: call vec_dot per row) */
    mb_vec_dot_wrows_fn vec_dot_wrows; /* optional (NULL: vec_dot per weight row) */
    mb_gemm_tile_fn gemm_tile;         /* optional: batches of float-type weights */
    mb_pack_fn pack;                   /* optional, with gemm_packed: packed batches */
    mb_gemm_packed_fn gemm_packed;
    uint32_t pack_rows;        /* weight rows per panel */
    uint32_t pack_block_bytes; /* panel bytes per weight block */
    uint32_t pack_min_rows;    /* batches packed from this many rows (0: matmul's default) */
} mb_dot_traits;

/* A kernel table: one per instruction-set level. */
typedef struct {
    const char *name; /* a level: "ref", "avx2", "avx512", "avx512-vnni", ... */
    mb_dot_traits dot[MB_TYPE_COUNT];
    mb_act_quant_fn act_quant[MB_TYPE_COUNT];
    mb_axpy_f16_fn axpy_f16;
    mb_attn_tile_fn attn_tile;                /* NULL: the reference (mb_ref_attn_tile) */
    mb_kv_to_f16_fn kv_to_f16[MB_TYPE_COUNT]; /* Q8_0, Q4_0; never NULL for those */
    mb_swiglu_fn swiglu;                      /* NULL: the reference (mb_swiglu) */
    mb_gemm_nt_rows_fn gemm_nt_rows;          /* never NULL (the reference: mb_ref_gemm_nt_rows) */
    mb_q4_0_r16_fn q4_0_r16; /* Q4_0 in 16-row groups (q4_0_r16.h); never NULL (mb_ref_q4_0_r16) */
    mb_q4_k_r16_fn q4_k_r16; /* Q4_K in 16-row groups (q4_k_r16.h); never NULL (mb_ref_q4_k_r16) */
    mb_q5_k_r16_fn q5_k_r16; /* Q5_K in 16-row groups (q5_k_r16.h); never NULL (mb_ref_q5_k_r16) */
    mb_q6_k_r16_fn q6_k_r16; /* Q6_K in 16-row groups (q6_k_r16.h); never NULL (mb_ref_q6_k_r16) */
    mb_r16_gather_fn r16_gather; /* groups back to rows (r16_gather.h); never NULL */
    /* SQ4 in lanes (sq4_lanes.h): the product, the conversion and the
     * panels (the SQ4 panels' format) from lanes rows; NULL where the level
     * has no product, and then no matrix is reordered. */
    mb_sq4_lanes_fn sq4_lanes;
    mb_sq4_convert_fn sq4_convert;
    mb_pack_fn sq4_lanes_pack;
} mb_kernel_table;

/* The table for this CPU, chosen once on first use: the best level the CPU
 * supports, or the one MATCHBOX_CPU names (ref, avx2, avx512, avx512-vnni,
 * avx512-bf16, neon, neon-dotprod; a level the CPU lacks is refused with a
 * warning and the best supported one is used). */
const mb_kernel_table *mb_kernels(void);
/* The reference table (scalar C, always built), for tests and MATCHBOX_CPU=ref. */
const mb_kernel_table *mb_kernels_ref(void);
/* The table of level NAME (as MATCHBOX_CPU names them), or NULL when this
 * CPU or build cannot run it (tests compare every supported level with the
 * reference). */
const mb_kernel_table *mb_kernels_level(const char *name);

/* The reference (scalar) kernels, always built. */
const mb_dot_traits *mb_ref_dot_traits(uint32_t weight_type);
/* Activation conversion for an act_type (F32 is a copy). NULL if none. */
mb_act_quant_fn mb_ref_act_quant(uint32_t act_type);

/* ---- float ops (reference) ------------------------------------------ */

void mb_ref_axpy_f16(int64_t n, float *y, float a, const uint16_t *x);
/* The KV cache's block decoders to F16 (ref/kv_ref.c). */
void mb_ref_q8_0_to_f16(const void *src, uint16_t *dst, int64_t n);
void mb_ref_q4_0_to_f16(const void *src, uint16_t *dst, int64_t n);
/* The portable trainer matrix kernel (16-byte vectors, ref/gemm_nt_ref.c). */
void mb_ref_gemm_nt_rows(float *c, int ldc, const float *a, const float *b, long m0, long m1, int n,
                         int k, int acc);

void mb_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps);
void mb_softmax(float *x, int64_t n);
/* out[i] = silu(gate[i]) * up[i] */
void mb_swiglu(float *out, const float *gate, const float *up, int64_t n);
/* GeGLU (Gemma): gelu_tanh(g) * u, the GELU rounded as the reference's
 * F16 table gives it (ops_ref.c). OUT may alias GATE. */
void mb_geglu(float *out, const float *gate, const float *up, int64_t n);

#endif
