/* Matrix products against weight matrices stored in any type of the table.
 * Activations are converted once per row to the weight type's activation
 * type (mb_act_prepare), then every matrix that reads the same rows reuses
 * them (Q, K and V share one conversion; so do gate and up). */
#ifndef MB_KERNELS_MATMUL_H
#define MB_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"

/* How a matrix's rows lie in memory. */
enum {
    MB_LAYOUT_ROWS = 0,      /* one row after the other (the file's) */
    MB_LAYOUT_Q4_0_R16 = 1,  /* Q4_0 in groups of 16 rows (kernels/q4_0_r16.h) */
    MB_LAYOUT_SQ4_LANES = 2, /* SQ4 blocks in lanes order (kernels/sq4_lanes.h) */
    MB_LAYOUT_Q4_K_R16 = 3,  /* Q4_K in groups of 16 rows (kernels/q4_k_r16.h) */
    MB_LAYOUT_Q6_K_R16 = 4,  /* Q6_K in groups of 16 rows (kernels/q6_k_r16.h) */
    MB_LAYOUT_Q5_K_R16 = 5,  /* Q5_K in groups of 16 rows (kernels/q5_k_r16.h) */
    MB_LAYOUT_COUNT
};

/* A matrix of n_out rows, each n_in values of TYPE (row_bytes each), laid
 * out as LAYOUT says (row-major when 0). */
typedef struct {
    const uint8_t *data;
    uint32_t type;
    int64_t n_in, n_out;
    size_t row_bytes;
    uint32_t layout;
} mb_matrix;

/* Whether W can be reordered into a layout this CPU's kernels gain from:
 * Q4_0, Q4_K, Q5_K and Q6_K into 16-row groups (MB_LAYOUT_Q4_0_R16,
 * _Q4_K_R16, _Q5_K_R16, _Q6_K_R16: a SIMD level with the type's 16-row
 * product), SQ4
 * into MB_LAYOUT_SQ4_LANES (a level with the lanes product). */
int mb_matrix_can_repack(const mb_matrix *w);
/* Reorder W in place into that layout (DATA must be writable;
 * mb_matrix_can_repack true). Returns 0 when a buffer it needs cannot be
 * had (W is then unchanged). */
int mb_matrix_repack(mb_matrix *w);

/* Activations converted for one activation type: n_rows rows of n_in values. */
typedef struct {
    uint32_t act_type; /* mb_type; MB_TYPE_COUNT when empty */
    int64_t n_in, n_rows;
    size_t row_bytes;
    uint8_t *data; /* caller-provided buffer of mb_act_bytes() */
} mb_act;

/* Bytes needed to hold N_ROWS rows of N_IN values converted for weight type W. */
size_t mb_act_bytes(uint32_t weight_type, int64_t n_in, int64_t n_rows);
/* Convert N_ROWS rows of X (stride n_in floats) for weights of type WEIGHT_TYPE
 * into ACT (whose data buffer the caller sized with mb_act_bytes). */
void mb_act_prepare(mb_act *act, uint32_t weight_type, const float *x, int64_t n_in,
                    int64_t n_rows);
/* True if ACT already holds activations usable by weights of WEIGHT_TYPE. */
int mb_act_matches(const mb_act *act, uint32_t weight_type);

/* out[r * out_stride + o] = dot(W row o, act row r), rows split over threads.
 * If ACCUMULATE, adds to out instead (residual connections). */
void mb_matmul(mb_threadpool *pool, int n_threads, const mb_matrix *w, const mb_act *act,
               float *out, int64_t out_stride, int accumulate);

/* Matrices that read the same activation rows (Q, K and V; gate and up),
 * each writing its own output (n_out floats per activation row, no
 * accumulate). All of W's n_in equal ACT's, their types ACT's act_type. */
typedef struct {
    const mb_matrix *w;
    float *out;
} mb_matmul_part;

/* As mb_matmul for each part. For one activation row (decode) the threads
 * split the parts' rows taken together in one pool job: one handshake
 * instead of one per matrix, and the small matrices (K and V of grouped-
 * query attention) no longer cost a handshake each. Batches go matrix by
 * matrix (their bands are panels of one matrix). Results equal mb_matmul's
 * bit for bit. */
void mb_matmul_parts(mb_threadpool *pool, int n_threads, const mb_matmul_part *parts, int n_parts,
                     const mb_act *act);

/* Rows ROW_IDS of an embedding matrix, converted to float (n_in each). */
void mb_get_rows(const mb_matrix *w, const int32_t *row_ids, int64_t n, float *out);

#endif
