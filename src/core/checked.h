/* Overflow-checked size arithmetic for everything read from a file. */
#ifndef MB_CORE_CHECKED_H
#define MB_CORE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* Each returns false (and leaves *out unspecified) when the result overflows. */
static inline bool mb_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool mb_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* Round up to a multiple of ALIGN (a power of two or any positive value). */
static inline bool mb_align_u64(uint64_t v, uint64_t align, uint64_t *out) {
    uint64_t r = v % align;
    if (r == 0) {
        *out = v;
        return true;
    }
    return mb_add_u64(v, align - r, out);
}

#endif
