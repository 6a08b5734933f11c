/* Software prefetch of the next weight row in the decode dots. A dot over
 * a 1-2 KB row does enough arithmetic per cache line that out-of-order
 * execution keeps few of the row's loads in flight, and on some CPUs the
 * hardware prefetcher does not run far enough ahead to cover DRAM latency
 * at one row per dot: on a Sapphire Rapids-class VM a one-thread Q4_K
 * decode streamed 7.1 GB/s without it and 12.7 GB/s with it, against 17
 * for a bare read loop (docs/PERFORMANCE.md, "Decode prefetch"). One row
 * ahead was the best distance measured (two: 11.8, four: 7.6). */
#ifndef MB_KERNELS_PREFETCH_H
#define MB_KERNELS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Every 64-byte line of ROW's BYTES, for reading, kept in all cache levels.
 * A prefetch never faults, but callers still stay inside the matrix. */
static inline void mb_prefetch_row(const void *row, size_t bytes) {
    const uint8_t *p = row;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(p + off, 0, 3);
}

#endif
