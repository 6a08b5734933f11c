/* Codecs against the format: every decoder agrees bit for bit with the
 * independent per-value decoder of quant_spec.h, every encoder round-trips
 * within its type's error bound, and the activation encoders produce the
 * exact codes ggml's reference encoders produce. */
#include "test_util.h"

#include "quant_spec.h"
#include "tensor/types.h"

static const uint32_t k_all[] = {
    MB_TYPE_F32,  MB_TYPE_F16,  MB_TYPE_BF16, MB_TYPE_Q4_0, MB_TYPE_Q4_1,
    MB_TYPE_Q5_0, MB_TYPE_Q5_1, MB_TYPE_Q8_0, MB_TYPE_Q8_1, MB_TYPE_Q2_K,
    MB_TYPE_Q3_K, MB_TYPE_Q4_K, MB_TYPE_Q5_K, MB_TYPE_Q6_K, MB_TYPE_Q8_K,
};
#define N_ALL (sizeof k_all / sizeof k_all[0])

/* Byte offsets of the fp16 scale fields of one block (-1 ends the list). */
static const int *scale_fields(uint32_t type) {
    static const int none[] = {-1}, at0[] = {0, -1}, at0_2[] = {0, 2, -1};
    static const int q2k[] = {80, 82, -1}, q3k[] = {108, -1}, q6k[] = {208, -1};
    switch (type) {
    case MB_TYPE_Q4_0:
    case MB_TYPE_Q5_0:
    case MB_TYPE_Q8_0: return at0;
    case MB_TYPE_Q4_1:
    case MB_TYPE_Q5_1:
    case MB_TYPE_Q8_1:
    case MB_TYPE_Q4_K:
    case MB_TYPE_Q5_K: return at0_2;
    case MB_TYPE_Q2_K: return q2k;
    case MB_TYPE_Q3_K: return q3k;
    case MB_TYPE_Q6_K: return q6k;
    default: return none;
    }
}

/* Random bytes, with every scale (and every float element) replaced by a
 * finite random value, so that any bit pattern of the codes is exercised. */
static void random_blocks(uint32_t type, uint8_t *buf, int n_blocks, uint64_t *rng) {
    const mb_type_traits *t = mb_type_get(type);
    size_t bytes = (size_t)n_blocks * t->type_size;
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (uint8_t)mbt_rand_u64(rng);
    for (int b = 0; b < n_blocks; b++) {
        uint8_t *blk = buf + (size_t)b * t->type_size;
        for (const int *f = scale_fields(type); *f >= 0; f++) {
            uint16_t h = mb_fp32_to_fp16(mbt_rand_float(rng) * 0.1f);
            blk[*f] = (uint8_t)h;
            blk[*f + 1] = (uint8_t)(h >> 8);
        }
        if (type == MB_TYPE_Q8_K || type == MB_TYPE_F32) { /* a float at offset 0 */
            float d = mbt_rand_float(rng);
            memcpy(blk, &d, 4);
        }
        if (type == MB_TYPE_F16 || type == MB_TYPE_BF16) {
            uint16_t h = type == MB_TYPE_F16 ? mb_fp32_to_fp16(mbt_rand_float(rng) * 100)
                                             : mb_fp32_to_bf16(mbt_rand_float(rng) * 1e20f);
            blk[0] = (uint8_t)h;
            blk[1] = (uint8_t)(h >> 8);
        }
    }
}

static int count_spec_mismatches(uint32_t type, const uint8_t *buf, int n_blocks) {
    const mb_type_traits *t = mb_type_get(type);
    int64_t n = (int64_t)n_blocks * t->block_size;
    float *out = malloc((size_t)n * sizeof(float));
    t->to_float(buf, out, n);
    int bad = 0;
    for (int b = 0; b < n_blocks; b++) {
        for (uint32_t e = 0; e < t->block_size; e++) {
            float want = spec_value(type, buf + (size_t)b * t->type_size, (int)e);
            float got = out[(size_t)b * t->block_size + e];
            if (memcmp(&want, &got, 4) != 0 && bad++ < 3) {
                fprintf(stderr, "%s block %d value %u: %.9g, spec says %.9g\n", t->name, b, e, got,
                        want);
            }
        }
    }
    free(out);
    return bad;
}

static void test_decoders_match_spec(void) {
    uint64_t rng = 42;
    for (size_t i = 0; i < N_ALL; i++) {
        const mb_type_traits *t = mb_type_get(k_all[i]);
        int n_blocks = t->block_size == 1 ? 4096 : 64;
        uint8_t *buf = malloc((size_t)n_blocks * t->type_size);
        random_blocks(k_all[i], buf, n_blocks, &rng);
        int bad = count_spec_mismatches(k_all[i], buf, n_blocks);
        CHECK_MSG(bad == 0, "%s: %d values differ from the format description", t->name, bad);
        free(buf);
    }
}

/* ---- encode -> decode ------------------------------------------------ */

enum { N_DATA = 2048 };

/* Rows that stress different parts of the encoders: uniform, bell-shaped,
 * small values with rare outliers, one-signed, constant, and zero. */
static void make_data(int kind, float *x, uint64_t *rng) {
    for (int i = 0; i < N_DATA; i++) {
        float u = mbt_rand_float(rng);
        switch (kind) {
        case 0: x[i] = u; break;
        case 1:
            x[i] = 0.02f * (u + mbt_rand_float(rng) + mbt_rand_float(rng) + mbt_rand_float(rng));
            break;
        case 2: x[i] = i % 50 == 7 ? (u < 0 ? -1.0f : 1.0f) : 0.01f * u; break;
        case 3: x[i] = 0.5f + fabsf(u); break;
        case 4: x[i] = -0.5f - fabsf(u); break;
        case 5: x[i] = 0.3f; break;
        default: x[i] = 0.0f; break;
        }
    }
}
#define N_KINDS 7

/* Worst error of one block allowed for TYPE, as a fraction of the block's
 * largest magnitude. The legacy bounds are a full step where the top code
 * can clip (the value of largest magnitude maps to the extra negative
 * level, so its mirror image clips to the largest positive code); offset
 * types are half a step plus the rounding of the min. */
static double error_bound(uint32_t type) {
    switch (type) {
    case MB_TYPE_F32: return 0.0;
    case MB_TYPE_F16: return 0x1p-11;
    case MB_TYPE_BF16: return 0x1p-8;
    case MB_TYPE_Q8_0:
    case MB_TYPE_Q8_1: return 0.5 / 127 + 0x1p-11 + 1e-6;
    case MB_TYPE_Q8_K: return 0.5 / 127 + 1e-6;
    case MB_TYPE_Q4_0: return 1.0 / 8 + 0x1p-10;
    case MB_TYPE_Q5_0: return 1.0 / 16 + 0x1p-10;
    case MB_TYPE_Q4_1: return 1.0 / 15 + 0x1p-10;
    case MB_TYPE_Q5_1: return 1.0 / 31 + 0x1p-10;
    /* A step over twice the range (the searched fit minimizes weighted
     * squared error, so it may clip an extreme value by up to another half
     * step), plus half a step of the coded scale and half a min step. */
    case MB_TYPE_Q2_K: return 2.0 / 3 + 1.0 / 45 + 1.0 / 30 + 0.01;
    case MB_TYPE_Q4_K: return 2.0 / 15 + 1.0 / 945 + 1.0 / 126 + 0.002;
    case MB_TYPE_Q5_K: return 2.0 / 31 + 1.0 / 1953 + 1.0 / 126 + 0.002;
    /* Symmetric K: a full step (mirror-image clip) of the sub-block. */
    case MB_TYPE_Q3_K: return 1.0 / 4 + 1.0 / 32 + 0.005;
    case MB_TYPE_Q6_K: return 1.0 / 32 + 1.0 / 128 + 0.002;
    default: return 0.0;
    }
}

static void round_trip(uint32_t type, const float *x, float *y, void *enc) {
    const mb_type_traits *t = mb_type_get(type);
    t->from_float(x, enc, N_DATA);
    t->to_float(enc, y, N_DATA);
}

static void test_round_trip(void) {
    uint64_t rng = 7;
    float *x = malloc(N_DATA * sizeof(float)), *y = malloc(N_DATA * sizeof(float));
    void *enc = malloc(N_DATA * 8);
    for (size_t i = 0; i < N_ALL; i++) {
        const mb_type_traits *t = mb_type_get(k_all[i]);
        const double bound = error_bound(k_all[i]);
        const int bs = (int)t->block_size == 1 ? 32 : (int)t->block_size; /* float types: per 32 */
        double worst = 0.0, rel_rmse = 0.0;
        for (int kind = 0; kind < N_KINDS; kind++) {
            make_data(kind, x, &rng);
            round_trip(k_all[i], x, y, enc);
            double se = 0.0, sx = 0.0;
            for (int b = 0; b < N_DATA; b += bs) {
                double amax = 0.0, err = 0.0;
                for (int e = b; e < b + bs; e++) {
                    amax = fmax(amax, fabs(x[e]));
                    err = fmax(err, fabs((double)x[e] - y[e]));
                    se += ((double)x[e] - y[e]) * ((double)x[e] - y[e]);
                    sx += (double)x[e] * x[e];
                }
                /* Float types are relative per value; a block bound is looser. */
                CHECK_MSG(err <= bound * amax || (amax == 0 && err == 0),
                          "%s data %d block %d: error %g > %g * %g", t->name, kind, b / bs, err,
                          bound, amax);
                if (amax > 0) worst = fmax(worst, err / amax);
            }
            if (kind == 0) rel_rmse = sx > 0 ? sqrt(se / sx) : 0;
        }
        printf("%-5s worst block error %.4f of max (bound %.4f), uniform rmse/rms %.4f\n", t->name,
               worst, bound, rel_rmse);
    }
    free(x);
    free(y);
    free(enc);
}

/* ---- exact activation codes (ggml's reference encoders) -------------- */

static void test_q8_0_codes(void) {
    /* x = j - 16: amax 16, d = 16/127, codes roundf(x * 127/16) with halves
     * away from zero. */
    float x[32];
    uint8_t blk[34];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    mb_type_get(MB_TYPE_Q8_0)->from_float(x, blk, 32);
    CHECK_EQ_INT(blk[0] | (blk[1] << 8), mb_fp32_to_fp16(16.0f / 127));
    int bad = 0; /* x * (1 / d), in float as the encoder computes it */
    for (int j = 0; j < 32; j++)
        bad += (int8_t)blk[2 + j] != (int)roundf(x[j] * (1.0f / (16.0f / 127)));
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT((int8_t)blk[2], -127);
    CHECK_EQ_INT((int8_t)blk[2 + 31], 119); /* 15 * 7.9375 = 119.06 */
    CHECK_EQ_INT((int8_t)blk[2 + 18], 16);  /* 2 * 7.9375 = 15.875 */
    /* Q8_1: the same codes, and s = d * sum(q) with the unrounded d. */
    uint8_t b1[36];
    mb_type_get(MB_TYPE_Q8_1)->from_float(x, b1, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += (int8_t)b1[4 + j];
    CHECK(memcmp(b1 + 4, blk + 2, 32) == 0);
    CHECK_EQ_INT(b1[2] | (b1[3] << 8), mb_fp32_to_fp16((float)sum * (16.0f / 127)));
}

static void test_q4_0_codes(void) {
    /* x = j - 16: the value of largest magnitude is -16 (j = 0), so d = -16 /
     * -8 = 2 and codes are trunc(x / 2 + 8.5) capped at 15. */
    float x[32];
    uint8_t blk[18];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    mb_type_get(MB_TYPE_Q4_0)->from_float(x, blk, 32);
    CHECK_EQ_INT(blk[0] | (blk[1] << 8), 0x4000); /* 2.0 */
    CHECK_EQ_INT(blk[2] & 0xF, 0);                /* -16 -> 0.5 -> 0 */
    CHECK_EQ_INT(blk[2 + 1] & 0xF, 1);            /* -15 -> 1.0 -> 1 */
    CHECK_EQ_INT(blk[2 + 15] >> 4, 15);           /* 15 -> 16.0 -> capped */
    CHECK_EQ_INT(blk[2 + 1] >> 4, 9);             /* 1 -> 9.0 -> 9 */
}

static void test_q8_k_codes(void) {
    /* Largest magnitude 127 (positive): iscale = -1, so the codes are -x
     * rounded half to even: -0.5 -> 0, -1.5 -> -2, -2.5 -> -2. */
    float x[256] = {0};
    x[0] = 127.0f, x[1] = 0.5f, x[2] = 1.5f, x[3] = 2.5f, x[4] = -3.5f, x[17] = -127.0f;
    uint8_t blk[292];
    mb_type_get(MB_TYPE_Q8_K)->from_float(x, blk, 256);
    float d;
    memcpy(&d, blk, 4);
    CHECK(d == -1.0f);
    const int8_t *q = (const int8_t *)(blk + 4);
    CHECK(q[0] == -127 && q[1] == 0 && q[2] == -2 && q[3] == -2 && q[4] == 4 && q[17] == 127);
    int16_t bsums[16];
    memcpy(bsums, blk + 260, sizeof bsums);
    CHECK_EQ_INT(bsums[0], -127 + 0 - 2 - 2 + 4);
    CHECK_EQ_INT(bsums[1], 127);
    CHECK_EQ_INT(bsums[2], 0);

    /* Negative extreme: iscale = -127 / -0.5 = 254, d = 1/254 in float. */
    for (int e = 0; e < 256; e++)
        x[e] = (e % 7) * -0.05f;
    x[9] = -0.5f;
    mb_type_get(MB_TYPE_Q8_K)->from_float(x, blk, 256);
    memcpy(&d, blk, 4);
    CHECK(d == 1 / (-127.0f / -0.5f));
    CHECK_EQ_INT((int8_t)blk[4 + 9], -127);
    int bad = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int e = 16 * g; e < 16 * g + 16; e++)
            s += (int8_t)blk[4 + e];
        memcpy(&bsums[g], blk + 260 + 2 * g, 2);
        bad += s != bsums[g];
    }
    CHECK_EQ_INT(bad, 0);

    /* All zero: d = 0, codes and sums zero. */
    memset(x, 0, sizeof x);
    memset(blk, 0xAB, sizeof blk);
    mb_type_get(MB_TYPE_Q8_K)->from_float(x, blk, 256);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof blk; i++)
        nonzero += blk[i] != 0;
    CHECK_EQ_INT(nonzero, 0);
}

/* Blocks made by the encoders decode the same through both paths too (the
 * random blocks above may miss patterns that only encoders produce). */
static void test_encoded_blocks_match_spec(void) {
    uint64_t rng = 99;
    float *x = malloc(N_DATA * sizeof(float));
    uint8_t *enc = malloc(N_DATA * 8);
    for (size_t i = 0; i < N_ALL; i++) {
        const mb_type_traits *t = mb_type_get(k_all[i]);
        make_data(1, x, &rng);
        t->from_float(x, enc, N_DATA);
        int bad = count_spec_mismatches(k_all[i], enc, N_DATA / (int)t->block_size);
        CHECK_MSG(bad == 0, "%s: %d encoded values decode differently", t->name, bad);
    }
    free(x);
    free(enc);
}

int main(void) {
    test_decoders_match_spec();
    test_encoded_blocks_match_spec();
    test_round_trip();
    test_q8_0_codes();
    test_q4_0_codes();
    test_q8_k_codes();
    return mbt_finish();
}
