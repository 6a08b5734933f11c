/* Software prefetch of the next weight row in the decode dots. A dot over
 * a 1-2 KB row does enough arithmetic per cache line that out-of-order
 * execution keeps few of the row's loads in flight, and on some CPUs the
 * hardware prefetcher does not run far enough ahead to cover DRAM latency
 * at one row per dot: on a Sapphire Rapids-class VM a one-thread Q4_K
 * decode streamed 7.1 GB/s without it and 12.7 GB/s with it, against 17
 * for a bare read loop (docs/PERFORMANCE.md, "Decode prefetch"). One row
 * ahead was the best of the whole-row distances then measured (two: 11.8,
 * four: 7.6), and asking for it block by block beside the current row's
 * blocks beat asking for the whole row before each dot (Q8_0 decode 21
 * against 18 tok/s), so the dots interleave it (x86/dot_common.h, the
 * weight-rows dots).
 *
 * The distance is in bytes, not rows: MB_PREFETCH_AHEAD past the block
 * being read, across row ends (decode's matrices are row-contiguous). One
 * row ahead ran short for the small rows: a 2:4 sparse row of 2048 weights
 * is 768 bytes, a Q4_K one 1152. 2-2.5 KB ahead beat one row on the
 * Sapphire Rapids-class VM for every type, 1.1B shape at 2 threads, tok/s
 * (docs/PERFORMANCE.md, "Prefetch distance"): SQ4_24 47 -> 51, SQ4 39 ->
 * 41, Q4_K_M 34 -> 35.5; Q8_0 (2176-byte rows) and Q4_0 level. 4 KB and
 * more lost again.
 *
 * On where it was measured to help: Intel CPUs. On Zen 4 decode already
 * read 88% of the measured bandwidth without it, and a prefetch 512-1024
 * bytes ahead in the sparse dots lost speed there; ARM is unmeasured.
 * MATCHBOX_PREFETCH=0 or 1 overrides the choice (to measure it). */
#ifndef MB_KERNELS_PREFETCH_H
#define MB_KERNELS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Whether the decode dots prefetch the next row on this machine (chosen
 * once with the kernel table). */
int mb_decode_prefetch(void);

enum { MB_PREFETCH_AHEAD = 2304 };

/* Every 64-byte line of ROW's BYTES, for reading, kept in all cache levels.
 * A prefetch never faults, so past a matrix's last row it costs only a
 * useless line. */
static inline void mb_prefetch_row(const void *row, size_t bytes) {
    const uint8_t *p = row;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(p + off, 0, 3);
}

/* The BYTES MB_PREFETCH_AHEAD past AT: called beside each block a decode
 * dot reads, AT that block. */
static inline void mb_prefetch_ahead(const void *at, size_t bytes) {
    mb_prefetch_row((const uint8_t *)at + MB_PREFETCH_AHEAD, bytes);
}

#endif
