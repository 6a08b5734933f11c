/* The reference of r16_gather.h: one 4-byte move per row and chunk. */
#include <string.h>

#include "kernels/r16_gather.h"

void mb_ref_r16_gather(const uint8_t *chunks, size_t chunk_stride, uint8_t *dst, size_t row_bytes,
                       int r0, int nr) {
    for (int i = 0; i < 8; i++)
        for (int r = r0; r < r0 + nr; r++)
            memcpy(dst + (size_t)(r - r0) * row_bytes + 4 * i,
                   chunks + (size_t)i * chunk_stride + 4 * r, 4);
}
