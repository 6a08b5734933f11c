/* The shared check of the 16-row groups (util_r16.h). */
#include "util_r16.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"
#include "test_util.h"

enum { ROWS = 16, MAX_GROUPS = 3 };

uint32_t mbt_r16_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* COUNT activation blocks of TYPE (Q8_0 or Q8_K) at A: codes over the
 * whole -128..127, and Q8_K's sums of 16 as its quantizer writes them. */
static void rand_acts(uint32_t type, void *a, int64_t count, uint64_t *rng) {
    for (int64_t i = 0; i < count; i++) {
        const float d = ((float)(mbt_r16_next(rng) % 1000) + 1.0f) * 1e-4f;
        if (type == MB_TYPE_Q8_0) {
            mb_block_q8_0 *b = (mb_block_q8_0 *)a + i;
            b->d = mb_fp32_to_fp16(d);
            for (int j = 0; j < MB_QK8_0; j++)
                b->qs[j] = (int8_t)(mbt_r16_next(rng) & 0xFF);
        } else {
            mb_block_q8_k *b = (mb_block_q8_k *)a + i;
            b->d = d;
            for (int j = 0; j < MB_QK_K; j++)
                b->qs[j] = (int8_t)(mbt_r16_next(rng) & 0xFF);
        }
    }
}

/* Activation block I at A: every code C. */
static void fill_act(uint32_t type, void *a, int64_t i, int c) {
    if (type == MB_TYPE_Q8_0)
        memset(((mb_block_q8_0 *)a)[i].qs, c, MB_QK8_0);
    else
        memset(((mb_block_q8_k *)a)[i].qs, c, MB_QK_K);
}

static void fill_bsums(uint32_t type, void *a, int64_t count) {
    if (type != MB_TYPE_Q8_K) return;
    for (int64_t i = 0; i < count; i++) {
        mb_block_q8_k *b = (mb_block_q8_k *)a + i;
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += b->qs[16 * g + j];
            b->bsums[g] = (int16_t)s;
        }
    }
}

static int differ(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) != 0;
}

void mbt_r16_check(const mbt_r16_kind *k, mbt_r16_product product, const char *level, int64_t n,
                   int n_groups, int n_act, uint64_t *rng) {
    const mb_type_traits *wt = mb_type_get(k->type), *at = mb_type_get(k->act_type);
    const int64_t nb = n / wt->block_size;
    const int rows = n_groups * ROWS;
    const size_t rb = (size_t)nb * wt->type_size, ab = (size_t)nb * at->type_size;
    const size_t gs = ROWS * rb; /* bytes from one group to the next */
    uint8_t *w = malloc(rb * (size_t)rows), *a = malloc(ab * (size_t)n_act);
    k->rand_blocks(w, nb * rows, rng);
    if (n_groups == 2)
        for (int r = 0; r < rows; r++)
            k->extreme_block(w + (size_t)r * rb, r);
    rand_acts(k->act_type, a, nb * n_act, rng);
    if (n_act > 1) {
        fill_act(k->act_type, a, 0, -128);
        fill_act(k->act_type, a, nb, 127);
    }
    fill_bsums(k->act_type, a, nb * n_act);

    uint8_t *packed = malloc(rb * (size_t)rows), *back = malloc(rb * (size_t)rows);
    for (int g = 0; g < n_groups; g++)
        k->pack(n, packed + (size_t)g * gs, w + (size_t)g * gs, rb);
    for (int g = 0; g < n_groups; g++)
        k->unpack(n, back + (size_t)g * gs, rb, packed + (size_t)g * gs);
    CHECK_MSG(!memcmp(back, w, rb * (size_t)rows), "n %lld: unpack(pack(rows)) differs",
              (long long)n);

    uint8_t *prep = malloc(k->prep_bytes * (size_t)(nb * n_act));
    for (int c = 0; c < n_act; c++)
        k->prep(n, a + (size_t)c * ab, prep + (size_t)c * (size_t)nb * k->prep_bytes);
    const size_t os = (size_t)rows + 3; /* an output stride other than the row count */
    float *ref = malloc(sizeof(float) * os * (size_t)n_act);
    float *got = malloc(sizeof(float) * os * (size_t)n_act);
    k->ref(n, ref, os, packed, gs, n_groups, prep, n_act, 0);
    product(n, got, os, packed, gs, n_groups, prep, n_act, 0);

    /* The reference against the ordinary dot; the level against the
     * reference, bit for bit; each activation row alone gives its bits in
     * the batch. */
    const mb_dot_traits *dt = mb_ref_dot_traits(k->type);
    double worst = 0;
    int bad = 0, alone_bad = 0;
    for (int c = 0; c < n_act; c++) {
        float solo[MAX_GROUPS * ROWS];
        const uint8_t *ac = a + (size_t)c * ab;
        product(n, solo, 0, packed, gs, n_groups, prep + (size_t)c * (size_t)nb * k->prep_bytes, 1,
                0);
        for (int r = 0; r < rows; r++) {
            float want;
            dt->vec_dot(n, &want, w + (size_t)r * rb, ac);
            const float rv = ref[(size_t)c * os + (size_t)r];
            const double err =
                fabs((double)rv - want) / (k->magnitude(w + (size_t)r * rb, ac, nb) + 1e-30);
            if (err > worst) worst = err;
            bad += memcmp(&rv, &got[(size_t)c * os + (size_t)r], sizeof rv) != 0;
            alone_bad += memcmp(&rv, &solo[r], sizeof rv) != 0;
        }
    }
    /* Two passes (the first half of the blocks, then the rest added on)
     * give the bits of one. */
    if (nb > 1) {
        const int64_t h = nb / 2;
        uint8_t *p1 = malloc(k->prep_bytes * (size_t)(h * n_act));
        uint8_t *p2 = malloc(k->prep_bytes * (size_t)((nb - h) * n_act));
        for (int c = 0; c < n_act; c++) {
            const uint8_t *pc = prep + (size_t)c * (size_t)nb * k->prep_bytes;
            memcpy(p1 + (size_t)c * (size_t)h * k->prep_bytes, pc, k->prep_bytes * (size_t)h);
            memcpy(p2 + (size_t)c * (size_t)(nb - h) * k->prep_bytes,
                   pc + (size_t)h * k->prep_bytes, k->prep_bytes * (size_t)(nb - h));
        }
        float *two = malloc(sizeof(float) * os * (size_t)n_act);
        product(h * wt->block_size, two, os, packed, gs, n_groups, p1, n_act, 0);
        product((nb - h) * wt->block_size, two, os, packed + (size_t)h * k->group_block_bytes, gs,
                n_groups, p2, n_act, 1);
        int d = 0;
        for (int c = 0; c < n_act; c++)
            d += differ(two + (size_t)c * os, ref + (size_t)c * os, (size_t)rows);
        CHECK_MSG(!d, "%s n %lld groups %d acts %d: two passes differ from one", level,
                  (long long)n, n_groups, n_act);
        free(p1), free(p2), free(two);
    }
    /* ADD onto a residual gives fmaf's chain from it. */
    float res[MAX_GROUPS * ROWS], want_res[MAX_GROUPS * ROWS];
    for (int r = 0; r < rows; r++)
        res[r] = want_res[r] = (float)r - 7.5f;
    product(n, res, 0, packed, gs, n_groups, prep, 1, 1);
    k->ref(n, want_res, 0, packed, gs, n_groups, prep, 1, 1);
    CHECK_MSG(!differ(res, want_res, (size_t)rows), "%s n %lld: ADD onto a residual", level,
              (long long)n);
    CHECK_MSG(worst < 1e-5,
              "n %lld groups %d acts %d: reference vs ordinary dot, relative error %g",
              (long long)n, n_groups, n_act, worst);
    CHECK_MSG(bad == 0, "%s n %lld groups %d acts %d: %d results differ from the reference", level,
              (long long)n, n_groups, n_act, bad);
    CHECK_MSG(alone_bad == 0, "%s n %lld groups %d acts %d: %d results differ alone", level,
              (long long)n, n_groups, n_act, alone_bad);
    free(w), free(a), free(packed), free(back), free(prep), free(ref), free(got);
}

void mbt_r16_check_all(const mbt_r16_kind *k, mbt_r16_product product, const char *level,
                       const int64_t *ns, int n_ns, int max_act, uint64_t seed) {
    for (int i = 0; i < n_ns; i++)
        for (int g = 1; g <= MAX_GROUPS; g++)
            for (int c = 1; c <= max_act; c++)
                mbt_r16_check(k, product, level, ns[i], g, c, &seed);
}
