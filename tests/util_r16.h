/* The shared check of the 16-row groups (kernels/q4_0_r16.h, q4_k_r16.h,
 * q6_k_r16.h), run by test_kernels_q4_0_r16, _q4_k_r16 and _q6_k_r16:
 * packing is lossless (unpack gives the rows back byte for byte); the
 * reference product equals the type's ordinary dot within 1e-5 of the sum
 * of |terms|; the level's product gives the reference's bits for every
 * group count, row length and number of activation rows, and for each row
 * alone (a row's result does not depend on its batch), in two passes, and
 * added onto a residual; with the type's extremes in the first block of
 * every row (two-group cases) and activation codes -128 and 127 (cases of
 * two activation rows or more). */
#ifndef MB_TESTS_UTIL_R16_H
#define MB_TESTS_UTIL_R16_H

#include <stddef.h>
#include <stdint.h>

/* A product of the groups with its prepared activation untyped (the
 * kernel table's, or the reference). */
typedef void (*mbt_r16_product)(int64_t n, float *out, size_t out_stride, const void *w,
                                size_t group_stride, int n_groups, const void *a, int n_act,
                                int add);

typedef struct {
    uint32_t type, act_type;  /* the weight type and its activation type (Q8_0, Q8_K) */
    size_t group_block_bytes; /* a block of the 16 rows */
    size_t prep_bytes;        /* one prepared activation block */
    /* COUNT random blocks of the type at W (codes and scales over their
     * whole range). */
    void (*rand_blocks)(void *w, int64_t count, uint64_t *rng);
    /* The block at B made extreme, by row R (alternating extremes). */
    void (*extreme_block)(void *b, int r);
    /* The sum of |each term| of NB weight blocks' dot with NB activation
     * blocks (the scale of its rounding). */
    double (*magnitude)(const void *w, const void *a, int64_t nb);
    void (*pack)(int64_t n, void *dst, const void *src, size_t row_bytes);
    void (*unpack)(int64_t n, void *dst, size_t row_bytes, const void *src);
    void (*prep)(int64_t n, const void *act, void *out);
    mbt_r16_product ref;
} mbt_r16_kind;

/* One case: N values, N_GROUPS groups, N_ACT activation rows, the level's
 * PRODUCT (named LEVEL in messages) against K's reference. */
void mbt_r16_check(const mbt_r16_kind *k, mbt_r16_product product, const char *level, int64_t n,
                   int n_groups, int n_act, uint64_t *rng);

/* Every case of N_NS row lengths NS, 1-3 groups and 1..MAX_ACT activation
 * rows, from the generator's state SEED. */
void mbt_r16_check_all(const mbt_r16_kind *k, mbt_r16_product product, const char *level,
                       const int64_t *ns, int n_ns, int max_act, uint64_t seed);

/* The tests' generator: 32 bits from the state at S. */
uint32_t mbt_r16_next(uint64_t *s);

#endif
