/* Reading 16-row groups back into rows (the K-quants' groups: q4_k_r16.h,
 * q6_k_r16.h): eight 64-byte chunks, each holding four bytes of each of 16
 * rows, give each row 32 consecutive bytes. The packed panels read every
 * group back before packing, so prefill pays for it; as 4-byte moves it
 * took 5% of a 1.1B Q4_K_M prefill. */
#ifndef MB_KERNELS_R16_GATHER_H
#define MB_KERNELS_R16_GATHER_H

#include <stddef.h>
#include <stdint.h>

/* For each row r of R0..R0 + NR - 1 (R0 0 or 8, NR 8 or 16, R0 + NR <= 16)
 * and i (0..7): bytes 4i..4i+3 at DST + (r - R0) * ROW_BYTES = bytes
 * 4r..4r+3 of chunk i, which starts at CHUNKS + i * CHUNK_STRIDE. */
typedef void (*mb_r16_gather_fn)(const uint8_t *chunks, size_t chunk_stride, uint8_t *dst,
                                 size_t row_bytes, int r0, int nr);

void mb_ref_r16_gather(const uint8_t *chunks, size_t chunk_stride, uint8_t *dst, size_t row_bytes,
                       int r0, int nr);

#endif
