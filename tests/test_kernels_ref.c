/* The reference kernels: each weight type's dot against the double-precision
 * dot of the decoded rows, the activation conversions, and the float ops. */
#include "test_util.h"

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

static const uint32_t k_weights[] = {
    MB_TYPE_F32,  MB_TYPE_F16,  MB_TYPE_BF16, MB_TYPE_Q4_0, MB_TYPE_Q4_1,
    MB_TYPE_Q5_0, MB_TYPE_Q5_1, MB_TYPE_Q8_0, MB_TYPE_Q2_K, MB_TYPE_Q3_K,
    MB_TYPE_Q4_K, MB_TYPE_Q5_K, MB_TYPE_Q6_K,
};
#define N_WEIGHTS (sizeof k_weights / sizeof k_weights[0])

static void test_traits(void) {
    const struct {
        uint32_t w, a;
    } pairs[] = {
        {MB_TYPE_F32, MB_TYPE_F32},   {MB_TYPE_F16, MB_TYPE_F16},   {MB_TYPE_BF16, MB_TYPE_BF16},
        {MB_TYPE_Q4_0, MB_TYPE_Q8_0}, {MB_TYPE_Q5_0, MB_TYPE_Q8_0}, {MB_TYPE_Q8_0, MB_TYPE_Q8_0},
        {MB_TYPE_Q4_1, MB_TYPE_Q8_1}, {MB_TYPE_Q5_1, MB_TYPE_Q8_1}, {MB_TYPE_Q2_K, MB_TYPE_Q8_K},
        {MB_TYPE_Q3_K, MB_TYPE_Q8_K}, {MB_TYPE_Q4_K, MB_TYPE_Q8_K}, {MB_TYPE_Q5_K, MB_TYPE_Q8_K},
        {MB_TYPE_Q6_K, MB_TYPE_Q8_K},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const mb_dot_traits *d = mb_ref_dot_traits(pairs[i].w);
        CHECK_MSG(d && d->vec_dot && d->act_type == pairs[i].a, "%s", mb_type_name(pairs[i].w));
        CHECK(mb_ref_act_quant(pairs[i].a) != NULL);
    }
    /* Activation-only formats have no dot; unknown types have no row. */
    CHECK(mb_ref_dot_traits(MB_TYPE_Q8_K) && !mb_ref_dot_traits(MB_TYPE_Q8_K)->vec_dot);
    CHECK(mb_ref_dot_traits(MB_TYPE_Q8_1) && !mb_ref_dot_traits(MB_TYPE_Q8_1)->vec_dot);
    CHECK(mb_ref_dot_traits(4) == NULL && mb_ref_dot_traits(MB_TYPE_COUNT) == NULL);
    CHECK(mb_ref_act_quant(MB_TYPE_Q4_0) == NULL && mb_ref_act_quant(MB_TYPE_Q6_K) == NULL);
    CHECK(mb_ref_act_quant(99) == NULL);
}

/* Q8_1 stores s = fp16(d * sum(q)) from the unrounded d, while the decoded
 * row sums fp16(d) * q: the dot uses s (as ggml does), so its distance from
 * the decoded rows' dot includes m * (that difference) per block. */
static double q8_1_offset_slack(uint32_t wtype, const void *w, const void *a, int64_t n) {
    if (wtype != MB_TYPE_Q4_1 && wtype != MB_TYPE_Q5_1) return 0.0;
    const mb_block_q8_1 *y = a;
    double slack = 0.0;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint16_t m16 = wtype == MB_TYPE_Q4_1 ? ((const mb_block_q4_1 *)w)[b].m
                                                   : ((const mb_block_q5_1 *)w)[b].m;
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += y[b].qs[j];
        double exact = (double)mb_fp16_to_fp32(y[b].d) * sum;
        slack += fabs(mb_fp16_to_fp32(m16)) * fabs(mb_fp16_to_fp32(y[b].s) - exact);
    }
    return slack;
}

/* One dot of N values: weights scaled by WSCALE, activations by ASCALE. */
static void check_dot(uint32_t wtype, int64_t n, float wscale, float ascale, uint64_t *rng) {
    const mb_type_traits *wt = mb_type_get(wtype);
    const mb_dot_traits *dt = mb_ref_dot_traits(wtype);
    const mb_type_traits *at = mb_type_get(dt->act_type);
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    float *xd = malloc((size_t)n * sizeof(float)), *yd = malloc((size_t)n * sizeof(float));
    void *w = malloc((size_t)n * 8 + 64), *a = malloc((size_t)n * 8 + 64);
    for (int64_t i = 0; i < n; i++) {
        x[i] = wscale * mbt_rand_float(rng);
        y[i] = ascale * mbt_rand_float(rng);
    }
    wt->from_float(x, w, n);
    mb_ref_act_quant(dt->act_type)(y, a, n);
    wt->to_float(w, xd, n);
    at->to_float(a, yd, n);
    double ref = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)xd[i] * yd[i];
        mag += fabs((double)xd[i] * yd[i]);
    }
    float got = NAN;
    dt->vec_dot(n, &got, w, a);
    /* Float types sum N products in float; quantized ones sum a few float
     * terms per block (the within-block sums are exact integers), and the
     * decoded values carry a few roundings of their own. */
    const double terms = wt->block_size == 1 ? (double)n : 4.0 * (double)n / wt->block_size;
    const double tol = (terms + 8) * 0x1p-24 * mag + q8_1_offset_slack(wtype, w, a, n);
    CHECK_MSG(fabs(got - ref) <= tol, "%s n=%lld: dot %.9g, decoded rows give %.9g (tol %g)",
              wt->name, (long long)n, got, ref, tol);
    free(x), free(y), free(xd), free(yd), free(w), free(a);
}

static void test_dots(void) {
    uint64_t rng = 1234;
    for (size_t i = 0; i < N_WEIGHTS; i++) {
        const int64_t bs = mb_type_get(k_weights[i])->block_size;
        const int64_t unit = bs == 1 ? 32 : bs;
        const int64_t blocks[] = {1, 2, 3, 8, 17};
        for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
            check_dot(k_weights[i], unit * blocks[k], 1.0f, 1.0f, &rng);
            check_dot(k_weights[i], unit * blocks[k], 0.02f, 30.0f, &rng); /* weight-like scales */
        }
        check_dot(k_weights[i], bs == 1 ? 7 : bs, 1.0f, 1.0f, &rng); /* odd length, float types */
        check_dot(k_weights[i], 4096, 0.05f, 3.0f, &rng);
        /* No blocks at all: the sum is zero. */
        float out = 1.0f;
        mb_ref_dot_traits(k_weights[i])->vec_dot(0, &out, NULL, NULL);
        CHECK(out == 0.0f);
    }
}

/* The dot of a Q4_0 block with known codes, worked by hand: weight codes
 * q-8 = -8..7 (twice), activation codes all 1 with d = 1: the integer sum
 * is 2 * (-8 + ... + 7) = -16, times d_w = 0.5. */
static void test_dot_q4_0_by_hand(void) {
    mb_block_q4_0 w;
    mb_block_q8_0 a;
    w.d = mb_fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; j++)
        w.qs[j] = (uint8_t)(j | (j << 4));
    a.d = mb_fp32_to_fp16(1.0f);
    for (int j = 0; j < 32; j++)
        a.qs[j] = 1;
    float out;
    mb_ref_dot_traits(MB_TYPE_Q4_0)->vec_dot(32, &out, &w, &a);
    CHECK(out == -8.0f);
}

/* ---- activation conversions ------------------------------------------ */

static void test_act_round_trips(void) {
    const struct {
        uint32_t type;
        double bound; /* of the error, as a fraction of the block's max |x| */
    } acts[] = {
        {MB_TYPE_F32, 0.0},
        {MB_TYPE_F16, 0x1p-11},
        {MB_TYPE_BF16, 0x1p-8},
        {MB_TYPE_Q8_0, 0.5 / 127 + 0x1p-11},
        {MB_TYPE_Q8_1, 0.5 / 127 + 0x1p-11},
        {MB_TYPE_Q8_K, 0.5 / 127 + 1e-7},
    };
    enum { N = 1024 };
    float x[N], y[N];
    uint8_t buf[N * 4 + 64];
    uint64_t rng = 5;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        const mb_type_traits *t = mb_type_get(acts[i].type);
        for (int e = 0; e < N; e++)
            x[e] = 4.0f * mbt_rand_float(&rng) * (e % 97 == 3 ? 20 : 1);
        mb_ref_act_quant(acts[i].type)(x, buf, N);
        t->to_float(buf, y, N);
        int bad = 0;
        for (int b = 0; b < N; b += 32) {
            double amax = 0, err = 0;
            for (int e = b; e < b + 32; e++)
                amax = fmax(amax, fabs(x[e]));
            if (t->block_size == 256) {
                for (int e = b / 256 * 256; e < b / 256 * 256 + 256; e++)
                    amax = fmax(amax, fabs(x[e]));
            }
            for (int e = b; e < b + 32; e++)
                err = fmax(err, fabs((double)x[e] - y[e]));
            bad += err > acts[i].bound * amax;
        }
        CHECK_MSG(bad == 0, "%s: %d blocks out of bounds", t->name, bad);
    }
}

/* ---- float ops ------------------------------------------------------- */

static void test_rmsnorm(void) {
    /* x = (3, 4): mean square 12.5; with weight (1, 2) and eps 0. */
    float x[2] = {3, 4}, w[2] = {1, 2}, out[2];
    mb_rmsnorm(out, x, w, 2, 0.0f);
    CHECK_NEAR(out[0], 3 / sqrt(12.5), 1e-6);
    CHECK_NEAR(out[1], 8 / sqrt(12.5), 1e-6);
    /* eps dominates a zero row instead of dividing by zero. */
    float z[4] = {0}, ones[4] = {1, 1, 1, 1};
    mb_rmsnorm(z, z, ones, 4, 1e-5f);
    CHECK(z[0] == 0.0f && z[3] == 0.0f);
    /* Against double, in place, on a longer row. */
    enum { N = 1000 };
    float v[N], g[N], ref[N];
    uint64_t rng = 3;
    double ss = 0;
    for (int i = 0; i < N; i++) {
        v[i] = 10 * mbt_rand_float(&rng);
        g[i] = mbt_rand_float(&rng);
        ss += (double)v[i] * v[i];
    }
    for (int i = 0; i < N; i++)
        ref[i] = (float)(v[i] / sqrt(ss / N + 1e-6) * g[i]);
    mb_rmsnorm(v, v, g, N, 1e-6f);
    double worst = 0;
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(v[i] - ref[i]));
    CHECK_MSG(worst < 1e-5, "rmsnorm off by %g", worst);
}

static void test_softmax(void) {
    float x[4] = {1, 2, 3, 4};
    mb_softmax(x, 4);
    double e = exp(1) + exp(2) + exp(3) + exp(4);
    CHECK_NEAR(x[0], exp(1) / e, 1e-7);
    CHECK_NEAR(x[3], exp(4) / e, 1e-7);
    /* Huge logits do not overflow; -inf (masked) entries get exactly 0. */
    float y[3] = {1000.0f, 1000.0f, -INFINITY};
    mb_softmax(y, 3);
    CHECK(y[0] == 0.5f && y[1] == 0.5f && y[2] == 0.0f);
    float m[3] = {-INFINITY, -INFINITY, -INFINITY};
    mb_softmax(m, 3);
    CHECK(fabsf(m[0] - 1.0f / 3) < 1e-7f && !isnan(m[2]));
    float one = -5.0f;
    mb_softmax(&one, 1);
    CHECK(one == 1.0f);
    mb_softmax(NULL, 0);
}

static void test_swiglu(void) {
    const float g[5] = {0.0f, 1.0f, -1.0f, 100.0f, -200.0f}, u[5] = {5.0f, 2.0f, 3.0f, 0.5f, 7.0f};
    float out[5];
    mb_swiglu(out, g, u, 5);
    CHECK(out[0] == 0.0f);
    CHECK_NEAR(out[1], 1.0 / (1.0 + exp(-1.0)) * 2, 1e-6);
    CHECK_NEAR(out[2], -1.0 / (1.0 + exp(1.0)) * 3, 1e-6);
    CHECK_NEAR(out[3], 50.0, 1e-4); /* silu(x) -> x for large x */
    CHECK(out[4] == 0.0f && !isnan(out[4]));
}

int main(void) {
    test_traits();
    test_dots();
    test_dot_q4_0_by_hand();
    test_act_round_trips();
    test_rmsnorm();
    test_softmax();
    test_swiglu();
    return mbt_finish();
}
