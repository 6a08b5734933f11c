/* The trainer's random numbers: splitmix64 (a 64-bit state, so a checkpoint
 * stores the whole generator in one key) and Box-Muller normals. */
#ifndef MB_TRAIN_RNG_H
#define MB_TRAIN_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t mb_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static inline double mb_rng_uniform(uint64_t *s) {
    return ((mb_rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static inline uint64_t mb_rng_below(uint64_t *s, uint64_t n) {
    return mb_rng_next(s) % n;
}

static inline float mb_rng_normal(uint64_t *s) {
    double u1 = mb_rng_uniform(s), u2 = mb_rng_uniform(s);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
