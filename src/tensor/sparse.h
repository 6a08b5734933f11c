/* The sparse types' consistency check: the GGUF reader's only way to tell
 * a hostile block (a mask with more set bits than a block has room for, a
 * 2:4 code that names no choice) from a good one. */
#ifndef MB_TENSOR_SPARSE_H
#define MB_TENSOR_SPARSE_H

#include <stdint.h>

#include "tensor/blocks.h"

/* Set bits of a block's mask. */
int mb_sparse_count(const uint8_t mask[MB_QK_SPARSE / 8]);
/* The first of N_BLOCKS blocks of sparse TYPE that is inconsistent, or -1
 * when all are consistent: SQ4/SQ8, a mask with more than MB_SPARSE_CAP
 * bits set; SQ4_24, a pair code past the 36 choices of two groups. */
int64_t mb_sparse_check(uint32_t type, const void *data, uint64_t n_blocks);

/* The SQ4 mask byte of each SQ4_24 pair code (0..63; codes past 35, which
 * the reader refuses, as mb_sq4_24_choice reads them). */
extern const uint8_t mb_sq4_24_pair_mask[64];

/* N_BLOCKS SQ4_24 blocks at SRC as the SQ4 blocks with the same non-zeros
 * (a mask byte per pair code; codes and scales as they are, the same
 * order), so a level without a 2:4 kernel runs them through its SQ4 dot. */
void mb_sq4_24_to_sq4(const void *src, void *dst, int64_t n_blocks);

#endif
